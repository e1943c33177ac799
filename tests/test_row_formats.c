/*
 * test_row_formats.c: the rows' formats on records built here (report/
 * columns.c, row.c, row_json.c): the columns' list and the CSV agree (the
 * header is the list's names, every row has as many fields), a row as JSON
 * Lines, and the longest row fits REPORT_ROW_MAX in every format.
 * tests/formats.sh runs the formats end to end, SQLite included.
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

/* The rows r writes for records c[0, n), header included when asked. */
static char *rows_of(report_fmt fmt, int precision, const conn_record *c, size_t n, int header)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    assert_non_null(out);
    report *r = report_new(out, precision);
    report_set_format(r, fmt);
    if (header)
        assert_int_equal(report_header(r), 0);
    for (size_t i = 0; i < n; i++)
        report_row(r, &c[i]);
    assert_int_equal(report_flush(r), 0);
    report_free(r);
    fclose(out);
    return buf;
}

static conn_record sample_record(void)
{
    conn_record c;
    memset(&c, 0, sizeof(c));
    c.conn_id = 7;
    c.first_ts = INT64_C(1700000000000001000);
    c.last_ts = INT64_C(1700000001000000000);
    c.ip_version = 4;
    c.client_ip[0] = 10, c.client_ip[3] = 1;
    c.server_ip[0] = 10, c.server_ip[3] = 2;
    c.client_port = 50000;
    c.server_port = 443;
    c.role_by = ROLE_BY_SYN;
    c.handshake = HS_COMPLETE;
    c.handshake_rtt = 250000;
    c.close_initiator = SIDE_SERVER;
    c.close_type = CLOSE_RST;
    c.client_state = CONN_CLOSED;
    c.server_state = CONN_CLOSED;
    c.packets_c2s = 3;
    c.bytes_s2c = 1000;
    c.anomalies = ANOM_EVICTED | ANOM_RST_OUT_OF_WINDOW;
    c.established_ts = c.client_fin_ts = c.server_fin_ts = c.max_idle = -1;
    return c;
}

static void test_the_header_is_the_columns_list_and_rows_have_its_fields(void **state)
{
    (void)state;
    size_t n;
    const report_column *col = report_columns(&n);
    char want[2048] = "";
    for (size_t i = 0; i < n; i++) {
        strcat(want, col[i].name);
        strcat(want, i + 1 < n ? "," : "\n");
    }
    conn_record c = sample_record();
    char *csv = rows_of(REPORT_FMT_CSV, 6, &c, 1, 1);
    assert_memory_equal(csv, want, strlen(want));
    const char *row = csv + strlen(want);
    size_t commas = 0;
    for (const char *p = row; *p; p++)
        commas += *p == ',';
    assert_int_equal(commas + 1, n);
    free(csv);
    /* JSON Lines and SQLite have no header line. */
    char *json = rows_of(REPORT_FMT_JSONL, 6, &c, 1, 1);
    assert_int_equal(json[0], '{');
    free(json);
}

static void test_a_row_as_json_lines(void **state)
{
    (void)state;
    conn_record c = sample_record();
    char *json = rows_of(REPORT_FMT_JSONL, 6, &c, 1, 0);
    const char *want =
        "{\"conn_id\":7,\"first_ts\":1700000000.000001,\"last_ts\":1700000001.000000,"
        "\"ip_version\":4,\"client_ip\":\"10.0.0.1\",\"client_port\":50000,"
        "\"server_ip\":\"10.0.0.2\",\"server_port\":443,\"role_by\":\"syn\","
        "\"handshake\":\"complete\",\"syn_retransmits\":0,\"synack_retransmits\":0,"
        "\"handshake_rtt_s\":0.000250,\"close_initiator\":\"server\",\"close_type\":"
        "\"rst\",\"closing\":0,\"time_wait_side\":\"none\",\"client_state\":\"CLOSED\","
        "\"server_state\":\"CLOSED\",\"packets_c2s\":3,\"packets_s2c\":0,\"bytes_c2s\":0,"
        "\"bytes_s2c\":1000,\"fin_retransmits\":0,"
        "\"anomalies\":[\"rst_out_of_window\",\"evicted\"],\"keepalives\":0,"
        "\"conn_uid\":\"17979cfe362a03e8"; /* first_ts in ns, then the tuple's hash */
    assert_memory_equal(json, want, strlen(want));
    /* Then Zeek's state (no packet of a history here) and the community ID. */
    assert_string_equal(json + strlen(want) + 16, "\",\"conn_state\":\"S0\",\"community_id\":"
                                                  "\"1:B4H0bMN0Rih3qr9C82AA7esBYLM=\"}\n");
    free(json);
}

/* Every field at its longest: full IPv6 addresses, 9 decimals, every
 * anomaly, the largest counters. */
static void test_the_longest_row_fits_in_every_format(void **state)
{
    (void)state;
    conn_record c;
    memset(&c, 0, sizeof(c));
    c.conn_id = UINT64_MAX;
    /* Times: 19 digits, 9 of them decimals (a negative one would be "not
     * applicable", an empty field); TIME_WAIT from 0, so that its duration
     * has as many. */
    c.first_ts = c.last_ts = c.handshake_rtt = c.established_ts = INT64_MAX;
    c.client_fin_ts = c.server_fin_ts = c.max_idle = c.time_wait_end = INT64_MAX;
    c.time_wait_start = 0;
    c.ip_version = 6;
    memset(c.client_ip, 0xab, 16);
    memset(c.server_ip, 0xcd, 16);
    c.client_port = c.server_port = 65535;
    c.role_by = ROLE_BY_LISTENER;
    c.handshake = HS_SIMULTANEOUS_OPEN;
    c.syn_retransmits = c.synack_retransmits = c.fin_retransmits = UINT32_MAX;
    c.close_initiator = c.time_wait_side = SIDE_BOTH;
    c.time_wait_end_reason = TW_CAPTURE_END;
    c.client_state = c.server_state = CONN_SYN_RCVD;
    c.packets_c2s = c.packets_s2c = c.bytes_c2s = c.bytes_s2c = UINT64_MAX;
    c.keepalives = UINT32_MAX;
    c.anomalies = (1u << ANOM_COUNT) - 1;
    for (int fmt = REPORT_FMT_CSV; fmt <= REPORT_FMT_JSONL; fmt++) {
        char *text = rows_of((report_fmt)fmt, 9, &c, 1, 0);
        size_t len = strlen(text);
        assert_true(len > 600);
        if (len >= REPORT_ROW_MAX)
            fail_msg("a row of %zu bytes in format %d: REPORT_ROW_MAX is %d", len, fmt,
                     REPORT_ROW_MAX);
        free(text);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_the_header_is_the_columns_list_and_rows_have_its_fields),
        cmocka_unit_test(test_a_row_as_json_lines),
        cmocka_unit_test(test_the_longest_row_fits_in_every_format),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
