/*
 * columns.c: the columns of a row, in order, with their types (README "The
 * CSV" says what each means). The one list every writer works from: the
 * CSV's header (row.c), the JSON Lines' member names and value types
 * (row_json.c), the SQLite table (row_sqlite.c). A new column is a line here
 * and its text in row.c's report_format; tests check that the two agree.
 */
#include "report.h"

static const report_column columns[] = {
    {"conn_id", REPORT_COL_INT},
    {"first_ts", REPORT_COL_REAL},
    {"last_ts", REPORT_COL_REAL},
    {"ip_version", REPORT_COL_INT},
    {"client_ip", REPORT_COL_TEXT},
    {"client_port", REPORT_COL_INT},
    {"server_ip", REPORT_COL_TEXT},
    {"server_port", REPORT_COL_INT},
    {"role_by", REPORT_COL_TEXT},
    {"handshake", REPORT_COL_TEXT},
    {"syn_retransmits", REPORT_COL_INT},
    {"synack_retransmits", REPORT_COL_INT},
    {"handshake_rtt_s", REPORT_COL_REAL},
    {"close_initiator", REPORT_COL_TEXT},
    {"close_type", REPORT_COL_TEXT},
    {"closing", REPORT_COL_INT},
    {"time_wait_side", REPORT_COL_TEXT},
    {"time_wait_start", REPORT_COL_REAL},
    {"time_wait_end", REPORT_COL_REAL},
    {"time_wait_end_reason", REPORT_COL_TEXT},
    {"time_wait_s", REPORT_COL_REAL},
    {"client_state", REPORT_COL_TEXT},
    {"server_state", REPORT_COL_TEXT},
    {"packets_c2s", REPORT_COL_INT},
    {"packets_s2c", REPORT_COL_INT},
    {"bytes_c2s", REPORT_COL_INT},
    {"bytes_s2c", REPORT_COL_INT},
    {"fin_retransmits", REPORT_COL_INT},
    {"anomalies", REPORT_COL_LIST},
    /* Issue 13's row times (SPEC §4 lets more columns follow). */
    {"established_ts", REPORT_COL_REAL},
    {"client_fin_ts", REPORT_COL_REAL},
    {"server_fin_ts", REPORT_COL_REAL},
    {"keepalives", REPORT_COL_INT},
    {"max_idle", REPORT_COL_REAL},
    /* Issue 14: 32 hex digits, text even when they are all decimal digits. */
    {"conn_uid", REPORT_COL_TEXT},
    {"conn_state", REPORT_COL_TEXT},
    {"history", REPORT_COL_TEXT},
    {"community_id", REPORT_COL_TEXT},
    /* Issue 16: the tunnel the connection ran in, empty outside tunnels. */
    {"tunnel", REPORT_COL_TEXT},
};

const report_column *report_columns(size_t *n)
{
    *n = sizeof(columns) / sizeof(columns[0]);
    return columns;
}
