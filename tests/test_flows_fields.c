/*
 * test_flows_fields: the values of a row that do not depend on the close:
 * the names the CSV prints, per-direction packet and byte counters, IPv6
 * addresses, and sequence numbers wrapping past 2^32.
 *
 * Written from ../shared/SPEC.md (not from flows.c); the simulated table,
 * the conversations and the soft checks are in flowsim.h. Every test gets
 * a fresh table from the fixture (sim_setup / sim_teardown) in *state.
 */
#include "flowsim.h"

static void test_names_are_the_spec_strings(void **state)
{
    (void)state;
    static const char *const states[] = {"CLOSED",      "LISTEN",     "SYN_SENT",  "SYN_RCVD",
                                         "ESTABLISHED", "FIN_WAIT1",  "FIN_WAIT2", "CLOSING",
                                         "TIME_WAIT",   "CLOSE_WAIT", "LAST_ACK"};
    static const conn_state ids[] = {CONN_CLOSED,     CONN_LISTEN,      CONN_SYN_SENT,
                                     CONN_SYN_RCVD,   CONN_ESTABLISHED, CONN_FIN_WAIT1,
                                     CONN_FIN_WAIT2,  CONN_CLOSING,     CONN_TIME_WAIT,
                                     CONN_CLOSE_WAIT, CONN_LAST_ACK};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
        EXPECT_NAME(conn_state_name, ids[i], states[i]);

    EXPECT_NAME(conn_role_by_name, ROLE_BY_SYN, "syn");
    EXPECT_NAME(conn_role_by_name, ROLE_BY_SYNACK, "synack");
    EXPECT_NAME(conn_role_by_name, ROLE_BY_PORT, "port");

    EXPECT_NAME(conn_handshake_name, HS_COMPLETE, "complete");
    EXPECT_NAME(conn_handshake_name, HS_SYN_ONLY, "syn_only");
    EXPECT_NAME(conn_handshake_name, HS_NO_ACK, "no_ack");
    EXPECT_NAME(conn_handshake_name, HS_REFUSED, "refused");
    EXPECT_NAME(conn_handshake_name, HS_SIMULTANEOUS_OPEN, "simultaneous_open");
    EXPECT_NAME(conn_handshake_name, HS_MIDSTREAM, "midstream");

    EXPECT_NAME(conn_side_name, SIDE_CLIENT, "client");
    EXPECT_NAME(conn_side_name, SIDE_SERVER, "server");
    EXPECT_NAME(conn_side_name, SIDE_BOTH, "both");
    EXPECT_NAME(conn_side_name, SIDE_NONE, "none");

    EXPECT_NAME(conn_close_type_name, CLOSE_FIN, "fin");
    EXPECT_NAME(conn_close_type_name, CLOSE_RST, "rst");
    EXPECT_NAME(conn_close_type_name, CLOSE_NONE, "none");

    EXPECT_NAME(conn_tw_reason_name, TW_EXPIRED, "expired");
    EXPECT_NAME(conn_tw_reason_name, TW_REUSED, "reused");
    EXPECT_NAME(conn_tw_reason_name, TW_CAPTURE_END, "capture_end");
    EXPECT_NAME(conn_tw_reason_name, TW_REASON_NONE, ""); /* empty field: not applicable */

    /* In the fixed order of the ANOM_* bits. */
    static const char *const anoms[] = {
        "rst_out_of_window", "rst_ttl_changed", "data_after_fin",
        "syn_with_data",     "idle_timeout",    "evicted",
        "rst_challenged",    "aborted_on_data", "accept_queue_overflow"};
    static const uint32_t bits[] = {
        ANOM_RST_OUT_OF_WINDOW, ANOM_RST_TTL_CHANGED, ANOM_DATA_AFTER_FIN,
        ANOM_SYN_WITH_DATA,     ANOM_IDLE_TIMEOUT,    ANOM_EVICTED,
        ANOM_RST_CHALLENGED,    ANOM_ABORTED_ON_DATA, ANOM_ACCEPT_QUEUE_OVERFLOW};
    assert_int_equal(ANOM_COUNT, 9);
    for (unsigned i = 0; i < 9; i++) {
        EXPECT_NAME(conn_anomaly_name, i, anoms[i]);
        EXPECT_INT(bits[i], 1u << i);
    }
    done();
}

static void test_packet_and_byte_counters_per_direction(void **state)
{
    sim *s = *state;
    conv c;
    conv_init(&c, s);
    open_conn(&c, 0);              /* 4/200 c2s, 2/1000 s2c */
    tx(&c, C, F_PA, 1448, 1 * MS); /* header-only capture: the IP length counts */
    tx(&c, C, F_PA, 1448, 1 * MS);
    tx(&c, S, F_A, 0, 1 * MS);
    tx(&c, S, F_PA, 65000, 1 * MS);                       /* a TSO super-segment */
    tx_seq(&c, C, F_PA, 1448, 200 * MS, c.nxt[C] - 1448); /* retransmission */
    finish_at(s, s->now);
    const conn_record *r = only(s);
    EXPECT_INT(r->packets_c2s, 7);
    EXPECT_INT(r->packets_s2c, 4);
    EXPECT_INT(r->bytes_c2s, 200 + 3 * 1448);
    EXPECT_INT(r->bytes_s2c, 1000 + 65000);
    const flows_stats *st = flows_get_stats(s->t);
    EXPECT_INT(st->segments, 11);
    EXPECT_INT(st->duplicates, 0);
    EXPECT_INT(st->out_of_order, 0);
    EXPECT_INT(st->instances, 1);
    done();
}

static void test_ipv6_client_close_keeps_addresses_and_time_wait(void **state)
{
    sim *s = *state;
    conv c;
    conv_init6(&c, s);
    script_client_close(&c);
    finish_at(s, tm[4] + 100 * SEC);
    const conn_record *r = only(s);
    EXPECT_INT(r->ip_version, 6);
    EXPECT_INT(memcmp(r->client_ip, c.addr[C], 16), 0);
    EXPECT_INT(memcmp(r->server_ip, c.addr[S], 16), 0);
    EXPECT_INT(r->client_port, 40000);
    EXPECT_INT(r->server_port, 80);
    EXPECT_HS(r, "complete");
    EXPECT_INITIATOR(r, "client");
    EXPECT_TW_SIDE(r, "client");
    EXPECT_TS(r->time_wait_start, tm[3]);
    EXPECT_TW_REASON(r, "expired");
    EXPECT_INT(r->packets_c2s, 6);
    EXPECT_INT(r->packets_s2c, 4);
    EXPECT_INT(r->bytes_c2s, 200);
    EXPECT_INT(r->bytes_s2c, 1000);
    EXPECT_ANOM(r, "");
    EXPECT_INT(flows_get_stats(s->t)->duplicates, 0);
    done();
}

/* IPv4 and IPv6 with the same ports are different connections. */
static void test_ipv4_and_ipv6_with_same_ports_are_different_connections(void **state)
{
    sim *s = *state;
    conv c, c4;
    conv_init6(&c, s);
    conv_init(&c4, s);
    open_conn(&c, 0);
    open_conn(&c4, 1 * MS);
    finish_at(s, s->now);
    assert_int_equal(s->nrec, 2);
    EXPECT_TRUE(s->rec[0].ip_version != s->rec[1].ip_version);
    done();
}

static void test_sequence_numbers_wrapping_past_2_32_close_normally(void **state)
{
    sim *s = *state;
    conv c;
    /* The client's data crosses 2^32; the server's SYN-ACK is the last
     * sequence number before the wrap. */
    conv_init_ports(&c, s, 40000, 80, 0xFFFFFF00u, 0xFFFFFFFFu);
    tx(&c, C, F_SYN, 0, 0);
    tx(&c, S, F_SA, 0, 10 * MS);
    tx(&c, C, F_A, 0, 10 * MS);
    tx(&c, C, F_PA, 1000, 5 * MS);
    tx(&c, S, F_A, 0, 5 * MS);
    tx(&c, C, F_PA, 1000, 5 * MS);
    tx(&c, S, F_PA, 300, 5 * MS);
    tx(&c, C, F_FA, 0, 1 * SEC);
    tx(&c, S, F_A, 0, 5 * MS);
    int64_t t = tx(&c, S, F_FA, 0, 5 * MS);
    tx(&c, C, F_A, 0, 5 * MS);
    finish_at(s, t + 100 * SEC);
    const conn_record *r = only(s);
    EXPECT_HS(r, "complete");
    EXPECT_INITIATOR(r, "client");
    EXPECT_CLOSE(r, "fin");
    EXPECT_INT(r->closing, 0);
    EXPECT_TW_SIDE(r, "client");
    EXPECT_TS(r->time_wait_start, t);
    EXPECT_TW_REASON(r, "expired");
    EXPECT_INT(r->fin_retransmits, 0);
    EXPECT_ANOM(r, "");
    EXPECT_INT(r->bytes_c2s, 2000);
    EXPECT_CSTATE(r, "CLOSED");
    EXPECT_SSTATE(r, "CLOSED");
    done();
}

/* A FIN at sequence number 0xFFFFFFFF, acked by ACK 0. */
static void test_fin_at_sequence_number_0xffffffff_is_acked_by_ack_0(void **state)
{
    sim *s = *state;
    conv c;
    conv_init_ports(&c, s, 40000, 80, 12345, 0xFFFFFFFEu);
    tx(&c, C, F_SYN, 0, 0);
    tx(&c, S, F_SA, 0, 10 * MS);
    tx(&c, C, F_A, 0, 10 * MS);
    tx(&c, S, F_FA, 0, 1 * SEC); /* seq 0xFFFFFFFF */
    tx(&c, C, F_A, 0, 5 * MS);   /* ack 0 */
    int64_t t = tx(&c, C, F_FA, 0, 5 * MS);
    tx(&c, S, F_A, 0, 5 * MS);
    finish_at(s, t + 100 * SEC);
    const conn_record *r = only(s);
    EXPECT_INITIATOR(r, "server");
    EXPECT_INT(r->closing, 0);
    EXPECT_TW_SIDE(r, "server");
    EXPECT_TS(r->time_wait_start, t);
    EXPECT_CSTATE(r, "CLOSED");
    EXPECT_SSTATE(r, "CLOSED");
    done();
}

/* ---- main ---------------------------------------------------------------- */

#define T(f) cmocka_unit_test_setup_teardown(f, sim_setup, sim_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_names_are_the_spec_strings, checks_setup),
        T(test_packet_and_byte_counters_per_direction),
        T(test_ipv6_client_close_keeps_addresses_and_time_wait),
        T(test_ipv4_and_ipv6_with_same_ports_are_different_connections),
        T(test_sequence_numbers_wrapping_past_2_32_close_normally),
        T(test_fin_at_sequence_number_0xffffffff_is_acked_by_ack_0),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
