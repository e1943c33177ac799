/*
 * test_flows_times: the columns appended for issue 13: when the handshake
 * completed, when each side sent its first FIN, the keepalive probes and
 * the longest idle gap; and the FIN_WAIT2 entry the findings read.
 *
 * Keepalives (README "How the replay works"): an ACK at the sender's
 * snd_nxt - 1 with no payload or one byte, from an ESTABLISHED or
 * half-closed endpoint, after at least 1 s in which the connection was
 * silent. They are neither data nor retransmissions and change no state.
 */
#include "flowsim.h"

static void test_handshake_and_fin_times(void **state)
{
    sim *s = *state;
    conv c;
    conv_init(&c, s);
    script_client_close(&c);
    finish_at(s, s->now);
    const conn_record *r = only(s);
    EXPECT_TS(r->established_ts, tm[0]); /* the client's ACK of the SYN-ACK */
    EXPECT_TS(r->client_fin_ts, tm[1]);
    EXPECT_TS(r->server_fin_ts, tm[3]);
    EXPECT_NAME(conn_side_name, r->fin_wait2_side, "client"); /* at tm[2] */
    EXPECT_INT(r->keepalives, 0);
    EXPECT_DUR(r->max_idle, 1 * SEC); /* the second before the client's FIN */
    done();
}

static void test_no_times_without_their_events(void **state)
{
    sim *s = *state;
    conv c;
    conv_init(&c, s);
    tx(&c, C, F_PA, 100, 0); /* midstream, 0.5 s apart: no gap of 1 s */
    tx(&c, S, F_A, 0, 500 * MS);
    tx(&c, C, F_PA, 100, 500 * MS);
    finish_at(s, s->now);
    const conn_record *r = only(s);
    EXPECT_HS(r, "midstream");
    EXPECT_INT(r->established_ts, -1);
    EXPECT_INT(r->client_fin_ts, -1);
    EXPECT_INT(r->server_fin_ts, -1);
    EXPECT_NAME(conn_side_name, r->fin_wait2_side, "none");
    EXPECT_INT(r->max_idle, -1);
    done();
}

/* Crossed FINs: both sides sent one, nobody went through FIN_WAIT2. */
static void test_crossed_fins_have_both_times_and_no_fin_wait2(void **state)
{
    sim *s = *state;
    conv c;
    conv_init(&c, s);
    script_crossed(&c);
    finish_at(s, s->now);
    const conn_record *r = only(s);
    EXPECT_TS(r->client_fin_ts, tm[1]);
    EXPECT_TS(r->server_fin_ts, tm[2]);
    EXPECT_NAME(conn_side_name, r->fin_wait2_side, "none");
    done();
}

/* Linux: no payload at snd_nxt - 1 after tcp_keepalive_time, a pure ACK
 * back. Twice, ten minutes apart. */
static void test_keepalive_probe_and_ack_on_idle_connection(void **state)
{
    sim *s = *state;
    conv c;
    conv_init(&c, s);
    open_conn(&c, 0);
    for (int i = 0; i < 2; i++) {
        tx_seq(&c, C, F_A, 0, 600 * SEC, c.nxt[C] - 1);
        tx(&c, S, F_A, 0, 1 * MS);
    }
    tx(&c, C, F_PA, 10, 2 * SEC); /* the application speaks again */
    tx(&c, S, F_A, 0, 1 * MS);
    finish_at(s, s->now);
    const conn_record *r = only(s);
    EXPECT_INT(r->keepalives, 2);
    EXPECT_DUR(r->max_idle, 600 * SEC);
    EXPECT_CSTATE(r, "ESTABLISHED");
    EXPECT_SSTATE(r, "ESTABLISHED");
    EXPECT_ANOM(r, "");
    EXPECT_INT(r->fin_retransmits, 0);
    EXPECT_INT(r->bytes_c2s, 210);
    done();
}

/* Windows sends one garbage byte at snd_nxt - 1 (a byte the peer acked). */
static void test_one_byte_probe_is_a_keepalive(void **state)
{
    sim *s = *state;
    conv c;
    conv_init(&c, s);
    open_conn(&c, 0);
    tx_seq(&c, C, F_A, 1, 30 * SEC, c.nxt[C] - 1);
    tx(&c, S, F_A, 0, 1 * MS);
    finish_at(s, s->now);
    const conn_record *r = only(s);
    EXPECT_INT(r->keepalives, 1);
    EXPECT_CSTATE(r, "ESTABLISHED");
    EXPECT_SSTATE(r, "ESTABLISHED");
    EXPECT_ANOM(r, "");
    done();
}

/* The same segment right after the byte was sent is its retransmission;
 * the line is the idle gap: 1 s in which neither side sent anything. */
static void test_last_byte_sent_again_soon_is_a_retransmission(void **state)
{
    sim *s = *state;
    conv c;
    conv_init(&c, s);
    open_conn(&c, 0);
    tx(&c, C, F_PA, 1, 5 * MS);
    tx_seq(&c, C, F_PA, 1, 300 * MS, c.nxt[C] - 1); /* RTO */
    tx_seq(&c, C, F_PA, 1, 600 * MS, c.nxt[C] - 1); /* backed off, still < 1 s */
    tx(&c, S, F_A, 0, 20 * MS);
    finish_at(s, s->now);
    const conn_record *r = only(s);
    EXPECT_INT(r->keepalives, 0);
    EXPECT_INT(r->max_idle, -1);
    done();
}

/* A zero-window probe has the keepalive's form, but its peer's window is 0. */
static void test_zero_window_probe_is_not_a_keepalive(void **state)
{
    sim *s = *state;
    conv c;
    conv_init(&c, s);
    open_conn(&c, 0);
    c.window[S] = 0;
    tx(&c, S, F_A, 0, 1 * MS); /* the server's window closes */
    tx_seq(&c, C, F_A, 0, 5 * SEC, c.nxt[C] - 1);
    tx(&c, S, F_A, 0, 1 * MS);
    finish_at(s, s->now);
    EXPECT_INT(only(s)->keepalives, 0);
    done();
}

/* Half-closed: the client shut down its sending side (FIN_WAIT2, no byte
 * then), the server is in CLOSE_WAIT; both probe, nothing changes. */
static void test_keepalives_on_a_half_closed_connection(void **state)
{
    sim *s = *state;
    conv c;
    conv_init(&c, s);
    open_conn(&c, 0);
    tx(&c, C, F_FA, 0, 1 * MS);
    tx(&c, S, F_A, 0, 1 * MS);
    tx_seq(&c, S, F_A, 0, 20 * SEC, c.nxt[S] - 1);
    tx(&c, C, F_A, 0, 1 * MS);
    tx_seq(&c, C, F_A, 0, 20 * SEC, c.nxt[C] - 1); /* at its FIN's number */
    tx(&c, S, F_A, 0, 1 * MS);
    finish_at(s, s->now);
    const conn_record *r = only(s);
    EXPECT_INT(r->keepalives, 2);
    EXPECT_CSTATE(r, "FIN_WAIT2");
    EXPECT_SSTATE(r, "CLOSE_WAIT");
    EXPECT_INT(r->fin_retransmits, 0);
    EXPECT_ANOM(r, "");
    done();
}

/* The README's limit: a capture that begins with a side's probe takes its
 * number for that side's snd_nxt, and its later probes go unrecognised. */
static void test_probes_of_a_capture_begun_with_one_are_missed(void **state)
{
    sim *s = *state;
    conv c;
    conv_init(&c, s);
    for (int i = 0; i < 3; i++) { /* the server acks c.nxt[C], one past each probe */
        tx_seq(&c, C, F_A, 0, 75 * SEC, c.nxt[C] - 1);
        tx(&c, S, F_A, 0, 1 * MS);
    }
    finish_at(s, s->now);
    const conn_record *r = only(s);
    EXPECT_HS(r, "midstream");
    EXPECT_INT(r->keepalives, 0);
    EXPECT_DUR(r->max_idle, 75 * SEC);
    EXPECT_CSTATE(r, "ESTABLISHED");
    done();
}

/* A packet older than the instance's first (multi-queue capture): first_ts
 * moves back, the times kept as offsets from it stay what they were. */
static void test_times_survive_an_earlier_first_packet(void **state)
{
    sim *s = *state;
    conv c;
    conv_init(&c, s);
    s->now = T0 + 10 * SEC;
    script_client_close(&c);
    tx(&c, C, F_A, 0, -(s->now - T0)); /* at T0, in the capture after the rest */
    finish_at(s, tm[4]);
    const conn_record *r = only(s);
    EXPECT_TS(r->first_ts, T0);
    EXPECT_TS(r->established_ts, tm[0]);
    EXPECT_TS(r->client_fin_ts, tm[1]);
    EXPECT_TS(r->server_fin_ts, tm[3]);
    done();
}

/* Past 17.9 minutes from the first packet the offsets count milliseconds. */
static void test_late_times_are_kept_to_the_millisecond(void **state)
{
    sim *s = *state;
    conv c;
    conv_init(&c, s);
    open_conn(&c, 0);
    for (int i = 0; i < 30; i++) /* an hour of traffic, every 2 min */
        tx(&c, C, F_PA, 10, 120 * SEC + 123 * US);
    int64_t fin = tx(&c, C, F_FA, 0, 1 * SEC);
    finish_at(s, s->now);
    const conn_record *r = only(s);
    int64_t off = fin - r->first_ts;
    EXPECT_TS(r->client_fin_ts, r->first_ts + off / MS * MS);
    EXPECT_DUR(r->max_idle, 120 * SEC + 123 * US);
    done();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_handshake_and_fin_times, sim_setup, sim_teardown),
        cmocka_unit_test_setup_teardown(test_no_times_without_their_events, sim_setup,
                                        sim_teardown),
        cmocka_unit_test_setup_teardown(test_crossed_fins_have_both_times_and_no_fin_wait2,
                                        sim_setup, sim_teardown),
        cmocka_unit_test_setup_teardown(test_keepalive_probe_and_ack_on_idle_connection, sim_setup,
                                        sim_teardown),
        cmocka_unit_test_setup_teardown(test_one_byte_probe_is_a_keepalive, sim_setup,
                                        sim_teardown),
        cmocka_unit_test_setup_teardown(test_last_byte_sent_again_soon_is_a_retransmission,
                                        sim_setup, sim_teardown),
        cmocka_unit_test_setup_teardown(test_zero_window_probe_is_not_a_keepalive, sim_setup,
                                        sim_teardown),
        cmocka_unit_test_setup_teardown(test_keepalives_on_a_half_closed_connection, sim_setup,
                                        sim_teardown),
        cmocka_unit_test_setup_teardown(test_probes_of_a_capture_begun_with_one_are_missed,
                                        sim_setup, sim_teardown),
        cmocka_unit_test_setup_teardown(test_times_survive_an_earlier_first_packet, sim_setup,
                                        sim_teardown),
        cmocka_unit_test_setup_teardown(test_late_times_are_kept_to_the_millisecond, sim_setup,
                                        sim_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
