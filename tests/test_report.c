/*
 * test_report.c: the CSV row writer and the summary (report/row.c, summary.c):
 * timestamp formatting, a synthetic row with every optional field, and the
 * TIME_WAIT duration quantiles past the exact-value limit (histogram), the
 * address text against inet_ntop, and rows beyond the output buffer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <cmocka.h>
#include <sys/socket.h>

#include "report.h"

static void test_timestamps_keep_the_capture_precision(void **state)
{
    (void)state;
    char b[32];
    report_format_ts(b, INT64_C(1700000000123456789), 9);
    assert_string_equal(b, "1700000000.123456789");
    report_format_ts(b, INT64_C(1700000000123456789), 6);
    assert_string_equal(b, "1700000000.123456");
    report_format_ts(b, 0, 6);
    assert_string_equal(b, "0.000000");
    report_format_ts(b, 5, 9);
    assert_string_equal(b, "0.000000005");
    report_format_ts(b, INT64_C(-1500000000), 6); /* before the epoch */
    assert_string_equal(b, "-1.500000");
}

static void test_row_with_ipv6_empty_fields_and_anomaly_order(void **state)
{
    (void)state;
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    report *r = report_new(out, 6);
    report_enable_summary(r);
    conn_record c;
    memset(&c, 0, sizeof(c));
    c.conn_id = 7;
    c.first_ts = INT64_C(1700000000000001000);
    c.last_ts = INT64_C(1700000001000000000);
    c.ip_version = 6;
    c.client_ip[0] = 0x20, c.client_ip[1] = 0x01, c.client_ip[2] = 0x0d, c.client_ip[3] = 0xb8;
    c.client_ip[15] = 1;
    c.server_ip[15] = 1; /* ::1 */
    c.client_port = 50000;
    c.server_port = 443;
    c.role_by = ROLE_BY_PORT;
    c.handshake = HS_MIDSTREAM;
    c.handshake_rtt = -1;
    c.close_initiator = SIDE_SERVER;
    c.close_type = CLOSE_RST;
    c.client_state = CONN_CLOSED;
    c.server_state = CONN_CLOSED;
    c.packets_c2s = 3;
    c.bytes_s2c = 1000;
    c.anomalies = ANOM_EVICTED | ANOM_RST_TTL_CHANGED | ANOM_RST_OUT_OF_WINDOW;
    report_row(r, &c);
    report_flush(r);
    fclose(out);
    assert_string_equal(buf, "7,1700000000.000001,1700000001.000000,6,2001:db8::1,50000,::1,443,"
                             "port,midstream,0,0,,server,rst,0,none,,,,,CLOSED,CLOSED,3,0,0,"
                             "1000,0,rst_out_of_window;rst_ttl_changed;evicted\n");
    report_free(r);
    free(buf);
}

static char *summary_of(report *r)
{
    FILE *f = tmpfile();
    assert_non_null(f);
    report_summary(r, NULL, f);
    long n = ftell(f);
    rewind(f);
    char *text = calloc(1, (size_t)n + 1);
    assert_int_equal(fread(text, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    return text;
}

static double summary_seconds(const char *text, const char *label)
{
    const char *p = strstr(text, label);
    assert_non_null(p);
    return strtod(p + strlen(label), NULL);
}

/* More TIME_WAIT rows than are kept exactly: quantiles come from the
 * histogram, within 0.4%, and the maximum stays exact. */
static void test_duration_quantiles_stay_bounded_and_close(void **state)
{
    (void)state;
    report *r = report_new(NULL, 9);
    report_enable_summary(r);
    conn_record c;
    memset(&c, 0, sizeof(c));
    c.time_wait_side = SIDE_CLIENT;
    c.time_wait_end_reason = TW_EXPIRED;
    const uint32_t n = (1u << 20) + 5000;
    for (uint32_t i = 1; i <= n; i++) {
        /* 1 ms .. ~1049 s, uniform */
        c.time_wait_start = 0;
        c.time_wait_end = (int64_t)i * 1000000;
        report_row(r, &c);
    }
    char *text = summary_of(r);
    assert_non_null(strstr(text, "within 0.4%"));
    double median = summary_seconds(text, "  median "), p99 = summary_seconds(text, "  p99 ");
    double true_median = (double)((n + 1) / 2) / 1000, true_p99 = (double)n * 0.99 / 1000;
    if (median < true_median * 0.996 || median > true_median * 1.004)
        fail_msg("median %f, expected %f", median, true_median);
    if (p99 < true_p99 * 0.996 || p99 > true_p99 * 1.004)
        fail_msg("p99 %f, expected %f", p99, true_p99);
    assert_true(summary_seconds(text, "  max ") == (double)n / 1000);
    free(text);
    report_free(r);

    /* Few rows: exact */
    r = report_new(NULL, 6);
    report_enable_summary(r);
    for (int i = 1; i <= 3; i++) {
        c.time_wait_end = (int64_t)i * 60000000000;
        report_row(r, &c);
    }
    text = summary_of(r);
    assert_null(strstr(text, "within"));
    assert_true(summary_seconds(text, "  median ") == 120.0);
    free(text);
    report_free(r);
}

/* The client_ip field of a one-row CSV. */
static void ip_field(const char *csv, char *out, size_t cap)
{
    const char *p = csv;
    for (int comma = 0; comma < 4; p++)
        comma += *p == ',';
    size_t k = 0;
    while (p[k] != ',' && k + 1 < cap) {
        out[k] = p[k];
        k++;
    }
    out[k] = '\0';
}

/* Our own IPv4 and IPv6 text must be inet_ntop's, byte for byte: the
 * zero-run rules (longest first, ties to the first, never a single word),
 * IPv4-mapped and -compatible forms, and random addresses with zero words
 * sprinkled in. */
static void test_addresses_are_written_as_inet_ntop_does(void **state)
{
    (void)state;
    static const char *const fixed[] = {
        "::",
        "::1",
        "1::",
        "1:0:0:2:0:0:0:3",
        "1:0:0:2:0:0:3:4",
        "::ffff:1.2.3.4",
        "::1.2.3.4",
        "::fffe:1.2.3.4",
        "0:0:0:0:0:1:0:0",
        "1:2:3:4:5:6:7:8",
        "fe80::1:0:0:1",
        "1:0:2:0:3:0:4:0",
        "::0.0.1.0",
        "2001:db8::",
        "abcd:ef01::9:0",
    };
    uint64_t x = 0x9e3779b97f4a7c15u;
    for (int t = 0; t < 20000; t++) {
        conn_record c;
        memset(&c, 0, sizeof(c));
        c.handshake_rtt = -1;
        int v6 = t % 4 != 0;
        c.ip_version = v6 ? 6 : 4;
        if (v6 && t < (int)(sizeof(fixed) / sizeof(fixed[0])) * 4) {
            assert_int_equal(inet_pton(AF_INET6, fixed[t / 4], c.client_ip), 1);
        } else {
            for (int i = 0; i < 16; i++) {
                x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                c.client_ip[i] = (uint8_t)(x % 3 == 0 ? 0 : x >> 24);
            }
            if (v6 && x % 5 == 0) /* IPv4-mapped */
                memcpy(c.client_ip, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12);
        }
        char want[64];
        assert_non_null(inet_ntop(v6 ? AF_INET6 : AF_INET, c.client_ip, want, sizeof(want)));
        char *buf = NULL;
        size_t len = 0;
        FILE *out = open_memstream(&buf, &len);
        report *r = report_new(out, 6);
        report_enable_summary(r);
        report_row(r, &c);
        report_flush(r);
        fclose(out);
        char got[64];
        ip_field(buf, got, sizeof(got));
        if (strcmp(got, want) != 0)
            fail_msg("address %d: wrote '%s', inet_ntop says '%s'", t, got, want);
        report_free(r);
        free(buf);
    }
}

/* Far more rows than the 64 KiB output buffer holds arrive whole and in
 * order, and a flush makes them all visible. */
static void test_rows_beyond_the_output_buffer_are_all_written(void **state)
{
    (void)state;
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    report *r = report_new(out, 9);
    report_enable_summary(r);
    enum { N = 5000 };
    for (int i = 1; i <= N; i++) {
        conn_record c;
        memset(&c, 0, sizeof(c));
        c.conn_id = (uint64_t)i;
        c.ip_version = 4;
        c.handshake_rtt = -1;
        c.first_ts = (int64_t)i * 1000000007;
        report_row(r, &c);
    }
    assert_int_equal(report_flush(r), 0);
    fclose(out);
    assert_true(len > 4 * 64 * 1024);
    const char *p = buf;
    for (int i = 1; i <= N; i++) {
        char want[64];
        char ts[32];
        report_format_ts(ts, (int64_t)i * 1000000007, 9);
        snprintf(want, sizeof(want), "%d,%s,", i, ts);
        if (strncmp(p, want, strlen(want)) != 0)
            fail_msg("row %d does not start with '%s'", i, want);
        p = strchr(p, '\n');
        assert_non_null(p);
        p++;
    }
    assert_int_equal(*p, '\0');
    report_free(r);
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_timestamps_keep_the_capture_precision),
        cmocka_unit_test(test_row_with_ipv6_empty_fields_and_anomaly_order),
        cmocka_unit_test(test_duration_quantiles_stay_bounded_and_close),
        cmocka_unit_test(test_addresses_are_written_as_inet_ntop_does),
        cmocka_unit_test(test_rows_beyond_the_output_buffer_are_all_written),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
