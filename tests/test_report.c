/*
 * test_report.c: the CSV row writer and the summary (report/row.c, summary.c):
 * timestamp formatting, a synthetic row with every optional field, the
 * TIME_WAIT duration quantiles past the exact-value limit (histogram) and
 * over the expired ones only, the endpoint census at capture end (no
 * CLOSED, LISTEN, per host busiest first, its limits), the address text
 * against inet_ntop, and rows beyond the output buffer.
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
    c.established_ts = c.client_fin_ts = -1; /* midstream, the client sent no FIN */
    c.server_fin_ts = INT64_C(1700000000500000000);
    c.keepalives = 2;
    c.max_idle = INT64_C(1500000000);
    c.zeek_state = ZEEK_OTH;
    /* three letters: the responder's d, the originator's A, the responder's r */
    c.history = 3 | (uint64_t)(HL_DATA | HISTORY_RESP) << 4 | (uint64_t)HL_ACK << 8 |
                (uint64_t)(HL_RST | HISTORY_RESP) << 12;
    c.history_flipped = 1;
    c.tunnel = "gre/vxlan:42";
    report_row(r, &c);
    report_flush(r);
    fclose(out);
    assert_string_equal(buf, "7,1700000000.000001,1700000001.000000,6,2001:db8::1,50000,::1,443,"
                             "port,midstream,0,0,,server,rst,0,none,,,,,CLOSED,CLOSED,3,0,0,"
                             "1000,0,rst_out_of_window;rst_ttl_changed;evicted,,,"
                             "1700000000.500000,2,1.500000,"
                             /* conn_uid: first_ts in ns, the 4-tuple's hash (computed
                              * apart, in Python, from README's definition) */
                             "17979cfe362a03e8e68fdbd83615cd45,"
                             /* Zeek's conn_state and history; community_id (computed
                              * apart, in Python, from the spec) */
                             "OTH,^dAr,1:1D9+835qlwHi3qCGJwqbZFKK04g=,gre/vxlan:42\n");
    report_free(r);
    free(buf);
}

/* Community ID v1: the spec's published TCP vectors, both directions, seed
 * 0 and 1; equal addresses order by port. */
static void test_community_id_spec_vectors(void **state)
{
    (void)state;
    static const uint8_t a[4] = {1, 2, 3, 4}, b[4] = {5, 6, 7, 8}, h[4] = {10, 0, 0, 1};
    char out[REPORT_COMMUNITY_ID_LEN + 1];
    out[report_community_id(out, 0, 4, a, 1122, b, 3344)] = '\0';
    assert_string_equal(out, "1:wCb3OG7yAFWelaUydu0D+125CLM=");
    out[report_community_id(out, 0, 4, b, 3344, a, 1122)] = '\0';
    assert_string_equal(out, "1:wCb3OG7yAFWelaUydu0D+125CLM=");
    out[report_community_id(out, 1, 4, a, 1122, b, 3344)] = '\0';
    assert_string_equal(out, "1:HhA1B+6CoLbiKPEs5nhNYN4XWfk=");
    out[report_community_id(out, 1, 4, b, 3344, a, 1122)] = '\0';
    assert_string_equal(out, "1:HhA1B+6CoLbiKPEs5nhNYN4XWfk=");
    /* computed apart, in Python */
    out[report_community_id(out, 0, 4, h, 40000, h, 80)] = '\0';
    assert_string_equal(out, "1:VSepksiL0eg8U15xNTOfjO9fI8M=");
    out[report_community_id(out, 0, 4, h, 80, h, 40000)] = '\0';
    assert_string_equal(out, "1:VSepksiL0eg8U15xNTOfjO9fI8M=");
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

/* The count written after `label` (the first line that starts with it, past
 * `from` when given). */
static unsigned long long summary_count(const char *text, const char *label)
{
    const char *p = strstr(text, label);
    if (!p)
        fail_msg("no '%s' in:\n%s", label, text);
    return strtoull(p + strlen(label), NULL, 10);
}

/* A row of one connection from client 10.0.<c>.<d> to server 10.1.<s>.1
 * port `port`, by default still open at capture end and with no handshake
 * seen (midstream, roles by port: no LISTEN). */
static conn_record census_row(uint32_t client, uint32_t server, uint16_t port)
{
    conn_record c;
    memset(&c, 0, sizeof(c));
    c.ip_version = 4;
    c.client_ip[0] = 10, c.client_ip[2] = (uint8_t)(client >> 8), c.client_ip[3] = (uint8_t)client;
    c.server_ip[0] = 10, c.server_ip[1] = 1, c.server_ip[2] = (uint8_t)server, c.server_ip[3] = 1;
    c.client_port = (uint16_t)(40000 + client % 20000);
    c.server_port = port;
    c.role_by = ROLE_BY_PORT;
    c.handshake = HS_MIDSTREAM;
    c.handshake_rtt = -1;
    c.client_state = CONN_ESTABLISHED;
    c.server_state = CONN_ESTABLISHED;
    c.end_reason = END_CAPTURE_END;
    return c;
}

/* TIME_WAIT's median, p99 and max are over the ones that expired only: 3
 * of 60 s among 5 reused after 0.5 s (a median over all would say 0.5 s);
 * the other ends are counted apart, each. */
static void test_time_wait_durations_are_over_the_expired_only(void **state)
{
    (void)state;
    report *r = report_new(NULL, 6);
    report_enable_summary(r);
    static const struct {
        conn_tw_reason reason;
        int n;
        int64_t ns;
    } rows[] = {{TW_EXPIRED, 3, INT64_C(60000000000)},
                {TW_REUSED, 5, 500000000},
                {TW_RESET, 2, 100000000},
                {TW_CAPTURE_END, 4, 1000000000},
                {TW_EVICTED, 1, 2000000000}};
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
        for (int k = 0; k < rows[i].n; k++) {
            conn_record c = census_row(1, 1, 80);
            c.end_reason = END_CLOSED;
            c.time_wait_side = SIDE_SERVER;
            c.time_wait_start = INT64_C(1700000000000000000);
            c.time_wait_end = c.time_wait_start + rows[i].ns;
            c.time_wait_end_reason = rows[i].reason;
            report_row(r, &c);
        }
    char *text = summary_of(r);
    assert_non_null(strstr(text, "TIME_WAIT duration of the 3 that expired"));
    assert_true(summary_seconds(text, "  median ") == 60.0);
    assert_true(summary_seconds(text, "  p99 ") == 60.0);
    assert_true(summary_seconds(text, "  max ") == 60.0);
    assert_non_null(strstr(text, "  reused                       5 (after a median 0.500000 s)\n"));
    assert_int_equal(summary_count(text, "\n  reset "), 2);
    assert_int_equal(summary_count(text, "\n  capture_end "), 4);
    assert_non_null(strstr(text, "capture_end                  4 (censored"));
    assert_int_equal(summary_count(text, "\n  evicted "), 1);
    free(text);
    report_free(r);

    /* None expired: no median to mislead, the ends still counted. */
    r = report_new(NULL, 6);
    report_enable_summary(r);
    conn_record c = census_row(1, 1, 80);
    c.time_wait_side = SIDE_CLIENT;
    c.time_wait_end = 500000000;
    c.time_wait_end_reason = TW_REUSED;
    report_row(r, &c);
    text = summary_of(r);
    assert_null(strstr(text, "  median "));
    assert_non_null(strstr(text, "none expired"));
    assert_non_null(strstr(text, "  reused                       1 (after a median 0.500000 s)\n"));
    free(text);
    report_free(r);
}

/* The census at capture end: no CLOSED line; LISTEN counts the distinct
 * server endpoints that accepted a connection; one table per host, busiest
 * first, ties by address. */
static void test_census_per_host_busiest_first_without_closed(void **state)
{
    (void)state;
    report *r = report_new(NULL, 6);
    report_enable_summary(r);
    /* 10.1.2.1: 3 ESTABLISHED (clients 10.0.0.1-3); 10.1.1.1: 1 TIME_WAIT
     * and LISTEN on :80 (two accepted rows) and :443 (one): 3 sockets, the
     * same as 10.1.2.1, and the lower address. */
    for (uint32_t i = 1; i <= 3; i++) {
        conn_record c = census_row(i, 2, 5432);
        c.client_state = CONN_CLOSED;
        report_row(r, &c);
    }
    conn_record c = census_row(4, 1, 80);
    c.role_by = ROLE_BY_SYN;
    c.handshake = HS_COMPLETE;
    c.client_state = CONN_CLOSED;
    c.server_state = CONN_TIME_WAIT;
    report_row(r, &c);
    c = census_row(5, 1, 80);
    c.handshake = HS_NO_ACK;
    c.client_state = c.server_state = CONN_CLOSED;
    c.end_reason = END_CLOSED;
    report_row(r, &c);
    c = census_row(6, 1, 443);
    c.role_by = ROLE_BY_SYNACK;
    c.client_state = c.server_state = CONN_CLOSED;
    report_row(r, &c);
    /* Not accepting: an unanswered SYN (its server's LISTEN in the row is
     * not a socket of its own), a refused one, a simultaneous open. */
    c = census_row(7, 3, 22);
    c.handshake = HS_SYN_ONLY;
    c.client_state = CONN_SYN_SENT;
    c.server_state = CONN_LISTEN;
    report_row(r, &c);
    c = census_row(8, 3, 23);
    c.handshake = HS_REFUSED;
    c.client_state = c.server_state = CONN_CLOSED;
    report_row(r, &c);
    c = census_row(9, 3, 24);
    c.handshake = HS_SIMULTANEOUS_OPEN;
    c.synack_retransmits = 1;
    c.client_state = c.server_state = CONN_CLOSED;
    report_row(r, &c);
    /* Ended before the capture end: not in the census. */
    c = census_row(10, 4, 80);
    c.end_reason = END_IDLE;
    report_row(r, &c);
    char *text = summary_of(r);
    assert_null(strstr(text, "CLOSED"));
    const char *total = strstr(text, "all hosts:\n");
    assert_non_null(total);
    assert_int_equal(summary_count(total, "  LISTEN "), 2);
    assert_int_equal(summary_count(total, "  SYN_SENT "), 1);
    assert_int_equal(summary_count(total, "  ESTABLISHED "), 3);
    assert_int_equal(summary_count(total, "  TIME_WAIT "), 1);
    const char *h1 = strstr(text, "\n  10.1.1.1: 3 sockets\n    LISTEN                     2\n"
                                  "    TIME_WAIT                  1\n");
    const char *h2 = strstr(text, "\n  10.1.2.1: 3 sockets\n    ESTABLISHED                3\n");
    const char *h3 = strstr(text, "\n  10.0.0.7: 1 socket\n    SYN_SENT                   1\n");
    assert_non_null(h1);
    assert_non_null(h2);
    assert_non_null(h3);
    assert_true(total < h1 && h1 < h2 && h2 < h3);
    assert_null(strstr(text, "10.1.3.1")); /* no socket left there */
    assert_null(strstr(text, "10.1.4.1"));
    assert_null(strstr(text, "left out"));
    assert_null(strstr(text, "other ("));
    free(text);
    report_free(r);
}

/* Past HOSTS_SHOWN hosts a line says how many were left out; past the
 * 65536 hosts tracked the rest are summed under `other`. */
static void test_census_limits(void **state)
{
    (void)state;
    report *r = report_new(NULL, 6);
    report_enable_summary(r);
    /* 25 servers, server s with s + 1 connections, their clients closed. */
    for (uint32_t s = 0; s < 25; s++)
        for (uint32_t k = 0; k <= s; k++) {
            conn_record c = census_row(k, s, 80);
            c.client_state = CONN_CLOSED;
            report_row(r, &c);
        }
    char *text = summary_of(r);
    const char *busiest = strstr(text, "\n  10.1.24.1: 25 sockets\n");
    const char *fifth = strstr(text, "\n  10.1.5.1: 6 sockets\n");
    assert_non_null(busiest);
    assert_non_null(fifth);
    assert_true(busiest < fifth);
    assert_null(strstr(text, "\n  10.1.4.1:")); /* the 21st busiest */
    assert_non_null(strstr(text, "  ... 5 more hosts (15 sockets) left out: only the 20 busiest "
                                 "are shown\n"));
    assert_null(strstr(text, "other ("));
    free(text);
    report_free(r);

    /* 65536 + 10 clients, one connection each, to a closed server. */
    r = report_new(NULL, 6);
    report_enable_summary(r);
    for (uint32_t i = 0; i < 65536 + 10; i++) {
        conn_record c = census_row(i, 0, 80);
        c.client_ip[1] = (uint8_t)(i >> 16);
        c.server_state = CONN_CLOSED;
        report_row(r, &c);
    }
    text = summary_of(r);
    assert_int_equal(summary_count(text, "all hosts:\n  ESTABLISHED "), 65546);
    assert_non_null(strstr(text, "  ... 65516 more hosts (65516 sockets) left out"));
    assert_non_null(strstr(text, "  other (the hosts past the first 65536 tracked, summed): 10 "
                                 "sockets\n    ESTABLISHED                10\n"));
    free(text);
    report_free(r);
}

/* Past the 2^18 listening endpoints told apart, LISTEN says how many
 * accepting rows it could not tell apart. */
static void test_census_listen_limit(void **state)
{
    (void)state;
    report *r = report_new(NULL, 6);
    report_enable_summary(r);
    const uint32_t n = (1u << 18) + 3;
    for (uint32_t i = 0; i < n; i++) {
        conn_record c = census_row(1, i >> 16, (uint16_t)i);
        c.handshake = HS_COMPLETE;
        c.client_state = c.server_state = CONN_CLOSED;
        c.end_reason = END_CLOSED;
        report_row(r, &c);
        if (i < 10) /* seen again: told apart, not counted twice */
            report_row(r, &c);
    }
    char *text = summary_of(r);
    assert_int_equal(summary_count(text, "all hosts:\n  LISTEN "), 1u << 18);
    assert_non_null(strstr(text, "3 more accepting rows were not told apart"));
    assert_int_equal(summary_count(text, "\n  10.1.0.1: "), 65536);
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
        cmocka_unit_test(test_community_id_spec_vectors),
        cmocka_unit_test(test_duration_quantiles_stay_bounded_and_close),
        cmocka_unit_test(test_time_wait_durations_are_over_the_expired_only),
        cmocka_unit_test(test_census_per_host_busiest_first_without_closed),
        cmocka_unit_test(test_census_limits),
        cmocka_unit_test(test_census_listen_limit),
        cmocka_unit_test(test_addresses_are_written_as_inet_ntop_does),
        cmocka_unit_test(test_rows_beyond_the_output_buffer_are_all_written),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
