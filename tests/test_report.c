/*
 * test_report.c: the CSV row writer and the summary (analyzer/report.c):
 * timestamp formatting, a synthetic row with every optional field, and the
 * TIME_WAIT duration quantiles past the exact-value limit (histogram).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_timestamps_keep_the_capture_precision),
        cmocka_unit_test(test_row_with_ipv6_empty_fields_and_anomaly_order),
        cmocka_unit_test(test_duration_quantiles_stay_bounded_and_close),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
