/*
 * test_flows_teardown: closes with FINs: which side initiates, who ends in
 * TIME_WAIT and from when, three-segment closes, crossed FINs (CLOSING on
 * both sides), the BSD FIN+ACK retransmission, a FIN lost after the capture
 * point, half-closes, FIN retransmissions and data after a FIN.
 *
 * Written from ../shared/SPEC.md (not from flows.c); the simulated table,
 * the conversations and the soft checks are in flowsim.h. Every test gets
 * a fresh table from the fixture (sim_setup / sim_teardown) in *state.
 */
#include "flowsim.h"

static void test_client_close_puts_client_in_time_wait(void **state)
{
    sim *s = *state;
    conv c;
    conv_init(&c, s);
    script_client_close(&c);
    assert_int_equal(s->nrec, 0); /* the client is in TIME_WAIT */
    finish_at(s, tm[3] + 100 * SEC);
    const conn_record *r = only(s);
    EXPECT_HS(r, "complete");
    EXPECT_INITIATOR(r, "client");
    EXPECT_CLOSE(r, "fin");
    EXPECT_INT(r->closing, 0);
    EXPECT_TW_SIDE(r, "client");
    EXPECT_TS(r->time_wait_start, tm[3]);
    EXPECT_TS(r->time_wait_end, tm[3] + 60 * SEC);
    EXPECT_TW_REASON(r, "expired");
    EXPECT_DUR(r->time_wait_end - r->time_wait_start, 60 * SEC);
    EXPECT_CSTATE(r, "CLOSED");
    EXPECT_SSTATE(r, "CLOSED");
    EXPECT_INT(r->fin_retransmits, 0);
    EXPECT_INT(r->packets_c2s, 6);
    EXPECT_INT(r->packets_s2c, 4);
    EXPECT_INT(r->bytes_c2s, 200);
    EXPECT_INT(r->bytes_s2c, 1000);
    EXPECT_ANOM(r, "");
    EXPECT_TS(r->last_ts, tm[4]);
    done();
}

static void test_server_close_puts_server_in_time_wait(void **state)
{
    sim *s = *state;
    conv c;
    conv_init(&c, s);
    open_conn(&c, 0);
    tx(&c, S, F_FA, 0, 1 * SEC);
    tx(&c, C, F_A, 0, 5 * MS);
    int64_t t3 = tx(&c, C, F_FA, 0, 10 * MS);
    tx(&c, S, F_A, 0, 5 * MS);
    finish_at(s, t3 + 100 * SEC);
    const conn_record *r = only(s);
    EXPECT_INITIATOR(r, "server");
    EXPECT_CLOSE(r, "fin");
    EXPECT_INT(r->closing, 0);
    EXPECT_TW_SIDE(r, "server");
    EXPECT_TS(r->time_wait_start, t3);
    EXPECT_TS(r->time_wait_end, t3 + 60 * SEC);
    EXPECT_TW_REASON(r, "expired");
    EXPECT_CSTATE(r, "CLOSED");
    EXPECT_SSTATE(r, "CLOSED");
    done();
}

static void test_three_segment_close_starts_time_wait_at_fin_acking_fin(void **state)
{
    sim *s = *state;
    conv c;
    conv_init(&c, s);
    open_conn(&c, 0);
    tx(&c, C, F_FA, 0, 1 * SEC);
    int64_t t2 = tx(&c, S, F_FA, 0, 5 * MS); /* acks the client's FIN */
    int64_t t3 = tx(&c, C, F_A, 0, 5 * MS);
    finish_at(s, t3 + 100 * SEC);
    const conn_record *r = only(s);
    EXPECT_INITIATOR(r, "client");
    EXPECT_CLOSE(r, "fin");
    EXPECT_INT(r->closing, 0);
    EXPECT_TW_SIDE(r, "client");
    EXPECT_TS(r->time_wait_start, t2); /* FIN_WAIT1 + FIN acking the FIN */
    EXPECT_TS(r->time_wait_end, t2 + 60 * SEC);
    EXPECT_TW_REASON(r, "expired");
    EXPECT_CSTATE(r, "CLOSED");
    EXPECT_SSTATE(r, "CLOSED");
    EXPECT_INT(r->fin_retransmits, 0);
    done();
}

/* At the capture end right after it: client TIME_WAIT, server still in
 * LAST_ACK (the client's last ACK is not in the capture). */
static void test_three_segment_close_cut_before_last_ack_leaves_server_in_last_ack(void **state)
{
    sim *s = *state;
    conv c;
    conv_init(&c, s);
    open_conn(&c, 0);
    tx(&c, C, F_FA, 0, 1 * SEC);
    tx(&c, S, F_FA, 0, 5 * MS);
    finish_at(s, s->now);
    const conn_record *r = only(s);
    EXPECT_CSTATE(r, "TIME_WAIT");
    EXPECT_SSTATE(r, "LAST_ACK");
    done();
}

static void test_crossed_fins_put_both_in_closing(void **state)
{
    sim *s = *state;
    conv c;
    conv_init(&c, s);
    script_crossed(&c);
    finish_at(s, tm[4] + 100 * SEC);
    const conn_record *r = only(s);
    EXPECT_INITIATOR(r, "both");
    EXPECT_CLOSE(r, "fin");
    EXPECT_INT(r->closing, 2);
    EXPECT_TW_SIDE(r, "both");
    EXPECT_TS(r->time_wait_start, tm[3]); /* server: CLOSING + ACK of its FIN */
    EXPECT_TS(r->time_wait_end, tm[4] + 60 * SEC);
    EXPECT_TW_REASON(r, "expired");
    EXPECT_CSTATE(r, "CLOSED");
    EXPECT_SSTATE(r, "CLOSED");
    EXPECT_INT(r->fin_retransmits, 0);
    EXPECT_ANOM(r, "");
    done();
}

/* Both still in TIME_WAIT when the capture ends a second later. */
static void test_crossed_fins_leave_both_in_time_wait_at_capture_end(void **state)
{
    sim *s = *state;
    conv c;
    conv_init(&c, s);
    script_crossed(&c);
    finish_at(s, tm[4] + 1 * SEC);
    const conn_record *r = only(s);
    EXPECT_INT(r->closing, 2);
    EXPECT_TW_SIDE(r, "both");
    EXPECT_TW_REASON(r, "capture_end");
    EXPECT_TS(r->time_wait_end, tm[4] + 1 * SEC);
    EXPECT_CSTATE(r, "TIME_WAIT");
    EXPECT_SSTATE(r, "TIME_WAIT");
    done();
}

/* Before any ACK: both in CLOSING. */
static void test_crossed_fins_before_any_ack_leave_both_in_closing(void **state)
{
    sim *s = *state;
    conv c;
    conv_init(&c, s);
    open_conn(&c, 0);
    tx(&c, C, F_FA, 0, 1 * SEC);
    tx_ack(&c, S, F_FA, 0, 100 * US, c.nxt[C] - 1);
    finish_at(s, s->now);
    const conn_record *r = only(s);
    EXPECT_INITIATOR(r, "both");
    EXPECT_CSTATE(r, "CLOSING");
    EXPECT_SSTATE(r, "CLOSING");
    done();
}

static void test_bsd_fin_ack_retransmission_is_crossed_not_lost(void **state)
{
    sim *s = *state;
    conv c;
    conv_init(&c, s);
    script_bsd(&c);
    finish_at(s, tm[5] + 100 * SEC);
    const conn_record *r = only(s);
    EXPECT_INITIATOR(r, "both");
    EXPECT_CLOSE(r, "fin");
    EXPECT_INT(r->closing, 2);
    EXPECT_TW_SIDE(r, "both");
    EXPECT_TS(r->time_wait_start, tm[3]); /* server: CLOSING + ACK of its FIN */
    EXPECT_TS(r->time_wait_end, tm[4] + 60 * SEC);
    EXPECT_TW_REASON(r, "expired");
    EXPECT_INT(r->fin_retransmits, 1);
    EXPECT_CSTATE(r, "CLOSED");
    EXPECT_SSTATE(r, "CLOSED");
    done();
}

static void test_lost_fin_puts_only_one_side_in_closing(void **state)
{
    sim *s = *state;
    conv c;
    conv_init(&c, s);
    script_lost_fin(&c);
    finish_at(s, tm[5] + 100 * SEC);
    const conn_record *r = only(s);
    EXPECT_INITIATOR(r, "both"); /* each sent its FIN before receiving the other's */
    EXPECT_CLOSE(r, "fin");
    EXPECT_INT(r->closing, 1);
    EXPECT_TW_SIDE(r, "both");
    EXPECT_TS(r->time_wait_start, tm[4]); /* the server, at the retransmission */
    EXPECT_TS(r->time_wait_end, tm[5] + 60 * SEC);
    EXPECT_TW_REASON(r, "expired");
    EXPECT_DUR(r->time_wait_end - r->time_wait_start, tm[5] + 60 * SEC - tm[4]);
    EXPECT_INT(r->fin_retransmits, 1);
    EXPECT_CSTATE(r, "CLOSED");
    EXPECT_SSTATE(r, "CLOSED");
    done();
}

/* At a capture end right after the retransmission: the server is in
 * TIME_WAIT (since the retransmission), the client still in CLOSING. */
static void test_lost_fin_cut_after_retransmission_leaves_client_in_closing(void **state)
{
    sim *s = *state;
    conv c;
    conv_init(&c, s);
    open_conn(&c, 0);
    tx(&c, C, F_FA, 0, 1 * SEC);
    uint32_t cfin = c.nxt[C] - 1;
    tx_ack(&c, S, F_FA, 0, 10 * MS, cfin);
    tx(&c, C, F_A, 0, 1 * MS);
    int64_t t4 = tx_seq(&c, C, F_FA, 0, 200 * MS, cfin);
    finish_at(s, t4 + 1 * SEC);
    const conn_record *r = only(s);
    EXPECT_INT(r->closing, 1);
    EXPECT_TW_SIDE(r, "server");
    EXPECT_TS(r->time_wait_start, t4);
    EXPECT_TS(r->time_wait_end, t4 + 1 * SEC);
    EXPECT_TW_REASON(r, "capture_end");
    EXPECT_CSTATE(r, "CLOSING");
    EXPECT_SSTATE(r, "TIME_WAIT");
    done();
}

/* The crossed close with the roles swapped: the server's FIN comes first. */
static void test_crossed_fins_mirrored_server_first(void **state)
{
    sim *s = *state;
    conv c;
    conv_init(&c, s);
    open_conn(&c, 0);
    tx(&c, S, F_FA, 0, 1 * SEC);
    tx_ack(&c, C, F_FA, 0, 100 * US, c.nxt[S] - 1);
    int64_t t3 = tx(&c, S, F_A, 0, 1 * MS);
    int64_t t4 = tx(&c, C, F_A, 0, 5 * MS);
    finish_at(s, t4 + 100 * SEC);
    const conn_record *r = only(s);
    EXPECT_INITIATOR(r, "both");
    EXPECT_INT(r->closing, 2);
    EXPECT_TW_SIDE(r, "both");
    EXPECT_TS(r->time_wait_start, t3);
    EXPECT_TS(r->time_wait_end, t4 + 60 * SEC);
    EXPECT_INT(r->fin_retransmits, 0);
    done();
}

/* The lost FIN with the roles swapped: the server's FIN comes first. */
static void test_lost_fin_mirrored_server_first(void **state)
{
    sim *s = *state;
    conv c;
    conv_init(&c, s);
    open_conn(&c, 0);
    tx(&c, S, F_FA, 0, 1 * SEC);
    uint32_t sfin = c.nxt[S] - 1;
    tx_ack(&c, C, F_FA, 0, 10 * MS, sfin);
    tx(&c, S, F_A, 0, 1 * MS);
    int64_t tr = tx_seq(&c, S, F_FA, 0, 200 * MS, sfin);
    int64_t t5 = tx(&c, C, F_A, 0, 20 * MS);
    finish_at(s, t5 + 100 * SEC);
    const conn_record *r = only(s);
    EXPECT_INITIATOR(r, "both");
    EXPECT_INT(r->closing, 1);
    EXPECT_TW_SIDE(r, "both");
    EXPECT_TS(r->time_wait_start, tr);
    EXPECT_TS(r->time_wait_end, t5 + 60 * SEC);
    EXPECT_INT(r->fin_retransmits, 1);
    done();
}

static void test_half_close_with_data_after_first_fin(void **state)
{
    sim *s = *state;
    conv c;
    conv_init(&c, s);
    open_conn(&c, 0);
    tx(&c, C, F_FA, 0, 1 * SEC);
    tx(&c, S, F_A, 0, 5 * MS);
    tx(&c, S, F_PA, 1000, 10 * MS); /* the server keeps sending */
    tx(&c, C, F_A, 0, 5 * MS);
    tx(&c, S, F_PA, 500, 10 * MS);
    tx(&c, C, F_A, 0, 5 * MS);
    int64_t t7 = tx(&c, S, F_FA, 0, 2 * SEC);
    tx(&c, C, F_A, 0, 5 * MS);
    finish_at(s, t7 + 100 * SEC);
    const conn_record *r = only(s);
    EXPECT_INITIATOR(r, "client");
    EXPECT_CLOSE(r, "fin");
    EXPECT_INT(r->closing, 0);
    EXPECT_TW_SIDE(r, "client");
    EXPECT_TS(r->time_wait_start, t7);
    EXPECT_TW_REASON(r, "expired");
    EXPECT_INT(r->bytes_s2c, 2500);
    EXPECT_INT(r->bytes_c2s, 200);
    EXPECT_INT(r->packets_c2s, 8);
    EXPECT_INT(r->packets_s2c, 6);
    EXPECT_ANOM(r, ""); /* data after the *peer's* FIN is legitimate */
    done();
}

/* Cut in the middle: client FIN_WAIT2, server CLOSE_WAIT. */
static void test_half_close_cut_leaves_fin_wait2_and_close_wait(void **state)
{
    sim *s = *state;
    conv c;
    conv_init(&c, s);
    open_conn(&c, 0);
    tx(&c, C, F_FA, 0, 1 * SEC);
    tx(&c, S, F_A, 0, 5 * MS);
    tx(&c, S, F_PA, 1000, 10 * MS);
    tx(&c, C, F_A, 0, 5 * MS);
    finish_at(s, s->now);
    const conn_record *r = only(s);
    EXPECT_INITIATOR(r, "client");
    EXPECT_CSTATE(r, "FIN_WAIT2");
    EXPECT_SSTATE(r, "CLOSE_WAIT");
    EXPECT_TW_SIDE(r, "none");
    done();
}

static void test_one_direction_capture_still_has_close_initiator(void **state)
{
    sim *s = *state;
    conv c;
    conv_init(&c, s);
    tx(&c, C, F_PA, 100, 0);
    tx(&c, C, F_PA, 100, 10 * MS);
    tx(&c, C, F_FA, 0, 10 * MS);
    finish_at(s, s->now);
    const conn_record *r = only(s);
    EXPECT_HS(r, "midstream");
    EXPECT_INITIATOR(r, "client");
    EXPECT_CLOSE(r, "fin");
    EXPECT_CSTATE(r, "FIN_WAIT1");
    EXPECT_SSTATE(r, "CLOSE_WAIT");
    done();
}

static void test_fin_retransmissions_are_counted(void **state)
{
    sim *s = *state;
    conv c;
    conv_init(&c, s);
    open_conn(&c, 0);
    int64_t t1 = tx(&c, C, F_FA, 0, 1 * SEC);
    uint32_t cfin = c.nxt[C] - 1;
    tx_seq(&c, C, F_FA, 0, 200 * MS, cfin);
    tx_seq(&c, C, F_FA, 0, 400 * MS, cfin);
    int64_t t4 = tx(&c, S, F_FA, 0, 5 * MS); /* acks the FIN */
    tx(&c, C, F_A, 0, 5 * MS);
    finish_at(s, t4 + 100 * SEC);
    const conn_record *r = only(s);
    EXPECT_INT(r->fin_retransmits, 2);
    EXPECT_INITIATOR(r, "client");
    EXPECT_CLOSE(r, "fin");
    EXPECT_INT(r->closing, 0);
    EXPECT_TW_SIDE(r, "client");
    EXPECT_TS(r->time_wait_start, t4);
    EXPECT_INT(r->packets_c2s, 8);
    (void)t1;
    done();
}

static void test_data_after_fin_is_an_anomaly(void **state)
{
    sim *s = *state;
    conv c;
    conv_init(&c, s);
    open_conn(&c, 0);
    tx(&c, C, F_FA, 0, 1 * SEC);
    tx(&c, C, F_PA, 100, 5 * MS); /* new data beyond its own FIN */
    tx(&c, S, F_RA, 0, 5 * MS);
    finish_at(s, s->now);
    const conn_record *r = only(s);
    EXPECT_TRUE(r->anomalies & ANOM_DATA_AFTER_FIN);
    EXPECT_INITIATOR(r, "client");
    EXPECT_CLOSE(r, "fin");
    done();
}

static void test_retransmitted_data_before_fin_is_not_data_after_fin(void **state)
{
    sim *s = *state;
    conv c;
    conv_init(&c, s);
    open_conn(&c, 0);
    uint32_t seq = c.nxt[C];
    tx(&c, C, F_PA, 100, 1 * SEC);
    tx(&c, C, F_FA, 0, 1 * MS);
    tx_seq(&c, C, F_PA, 100, 200 * MS, seq); /* old data again */
    tx(&c, S, F_FA, 0, 5 * MS);
    tx(&c, C, F_A, 0, 5 * MS);
    finish_at(s, s->now);
    const conn_record *r = only(s);
    EXPECT_ANOM(r, "");
    EXPECT_INT(r->bytes_c2s, 400); /* retransmissions are counted */
    EXPECT_TW_SIDE(r, "client");
    done();
}

/* Data carried by the FIN itself, or retransmitted with it, is not beyond it. */
static void test_fin_with_data_is_not_data_after_fin(void **state)
{
    sim *s = *state;
    conv c;
    conv_init(&c, s);
    open_conn(&c, 0);
    uint32_t seq = c.nxt[C];
    tx(&c, C, F_FA | DISSECT_PSH, 100, 1 * SEC);
    tx_seq(&c, C, F_FA | DISSECT_PSH, 100, 200 * MS, seq);
    int64_t t = tx(&c, S, F_FA, 0, 5 * MS);
    tx(&c, C, F_A, 0, 5 * MS);
    finish_at(s, t + 100 * SEC);
    const conn_record *r = only(s);
    EXPECT_ANOM(r, "");
    EXPECT_INT(r->fin_retransmits, 1);
    EXPECT_INT(r->bytes_c2s, 400);
    EXPECT_INITIATOR(r, "client");
    EXPECT_TW_SIDE(r, "client");
    EXPECT_TS(r->time_wait_start, t);
    EXPECT_INT(r->closing, 0);
    done();
}

/* SPEC §2, abort on data after close (RFC 1122 4.2.2.13), as in a real IMAP
 * capture: the server sends data and FIN; the client acks, sends 31 bytes,
 * then its FIN; the server, which had closed, answers with an RST at its
 * snd_nxt. The server went CLOSED at the data and never held TIME_WAIT. */
static void test_abort_on_data_after_close_leaves_no_time_wait(void **state)
{
    sim *s = *state;
    conv c;
    conv_init(&c, s);
    open_conn(&c, 0);
    tx(&c, S, F_FA, 40, 1 * SEC);
    tx(&c, C, F_A, 0, 5 * MS);
    tx(&c, C, F_PA, 31, 10 * MS);
    tx(&c, C, F_FA, 0, 1 * MS);
    tx(&c, S, F_R, 0, 5 * MS);
    finish_at(s, s->now + 200 * SEC);
    const conn_record *r = only(s);
    EXPECT_INITIATOR(r, "server");
    EXPECT_CLOSE(r, "fin");
    EXPECT_TW_SIDE(r, "none");
    EXPECT_TW_REASON(r, "");
    EXPECT_ANOM(r, "aborted_on_data");
    EXPECT_CSTATE(r, "CLOSED");
    EXPECT_SSTATE(r, "CLOSED");
    done();
}

/* The same without the RST: the server only shut down its sending side and
 * read the data (FIN_WAIT2 keeps receiving): TIME_WAIT as usual. */
static void test_data_into_fin_wait2_without_rst_is_a_half_close(void **state)
{
    sim *s = *state;
    conv c;
    conv_init(&c, s);
    open_conn(&c, 0);
    tx(&c, S, F_FA, 40, 1 * SEC);
    tx(&c, C, F_A, 0, 5 * MS);
    tx(&c, C, F_PA, 31, 10 * MS);
    tx(&c, S, F_A, 0, 5 * MS);
    int64_t t = tx(&c, C, F_FA, 0, 1 * MS);
    tx(&c, S, F_A, 0, 5 * MS);
    finish_at(s, s->now + 200 * SEC);
    const conn_record *r = only(s);
    EXPECT_TW_SIDE(r, "server");
    EXPECT_TS(r->time_wait_start, t);
    EXPECT_TW_REASON(r, "expired");
    EXPECT_ANOM(r, "");
    done();
}

/* An RST from the peer of an endpoint in TIME_WAIT is RFC 1337's
 * assassination, not an abort: the TIME_WAIT stays, ended by the reset. */
static void test_rst_into_time_wait_is_an_assassination(void **state)
{
    sim *s = *state;
    conv c;
    conv_init(&c, s);
    script_client_close(&c);
    int64_t t = tx(&c, S, F_R, 0, 1 * SEC);
    finish_at(s, s->now + 200 * SEC);
    const conn_record *r = only(s);
    EXPECT_TW_SIDE(r, "client");
    EXPECT_TW_REASON(r, "reset");
    EXPECT_TS(r->time_wait_end, t);
    EXPECT_ANOM(r, "");
    done();
}

/* SPEC §2: closing > 0 implies close_initiator = both, also for crafted SYN+FIN
 * segments both ways. */
static void test_closing_implies_both_closed_actively(void **state)
{
    sim *s = *state;
    conv c;
    conv_init(&c, s);
    tx(&c, C, F_SYN | DISSECT_FIN, 0, 0);
    dissect_segment g = seg_of(&c, S, F_SA | DISSECT_FIN, 0);
    g.ack = c.isn[C] + 1; /* acks the SYN, not the FIN */
    send_seg(&c, S, g, 10 * MS);
    tx(&c, C, F_A, 0, 10 * MS);
    finish_at(s, s->now + 200 * SEC);
    const conn_record *r = only(s);
    EXPECT_TRUE(r->closing > 0);
    EXPECT_INITIATOR(r, "both");
    done();
}

/* The second FIN lost after the capture point (seen in the kernel suite):
 * the server closes; the client's FIN crosses it and is lost; the client
 * acks the server's FIN with a pure ACK and sends its FIN again, which the
 * server acks. Only the client passed through CLOSING; the server went
 * FIN_WAIT2 at the pure ACK and TIME_WAIT at the FIN delivered. */
static void test_second_fin_lost_after_capture_point_leaves_one_closing(void **state)
{
    sim *s = *state;
    conv c;
    conv_init(&c, s);
    open_conn(&c, 0);
    uint32_t sfin_ack = c.nxt[S];
    tx(&c, S, F_FA, 0, 1 * SEC);
    uint32_t cfin = c.nxt[C];
    tx_ack(&c, C, F_FA, 0, 9 * MS, sfin_ack); /* crosses, then lost */
    tx(&c, C, F_A, 0, 20 * MS);               /* pure ACK of the server's FIN */
    int64_t t_re = tx_seq(&c, C, F_FA, 0, 270 * MS, cfin);
    int64_t t_ack = tx(&c, S, F_A, 0, 30 * MS);
    finish_at(s, t_ack + 10 * SEC);
    const conn_record *r = only(s);
    EXPECT_INT(r->closing, 1);
    EXPECT_INITIATOR(r, "both");
    EXPECT_TW_SIDE(r, "both");
    EXPECT_TS(r->time_wait_start, t_re);
    EXPECT_INT(r->fin_retransmits, 1);
    done();
}

/* ---- main ---------------------------------------------------------------- */

#define T(f) cmocka_unit_test_setup_teardown(f, sim_setup, sim_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_client_close_puts_client_in_time_wait),
        T(test_server_close_puts_server_in_time_wait),
        T(test_three_segment_close_starts_time_wait_at_fin_acking_fin),
        T(test_three_segment_close_cut_before_last_ack_leaves_server_in_last_ack),
        T(test_crossed_fins_put_both_in_closing),
        T(test_crossed_fins_leave_both_in_time_wait_at_capture_end),
        T(test_crossed_fins_before_any_ack_leave_both_in_closing),
        T(test_bsd_fin_ack_retransmission_is_crossed_not_lost),
        T(test_lost_fin_puts_only_one_side_in_closing),
        T(test_lost_fin_cut_after_retransmission_leaves_client_in_closing),
        T(test_crossed_fins_mirrored_server_first),
        T(test_lost_fin_mirrored_server_first),
        T(test_half_close_with_data_after_first_fin),
        T(test_half_close_cut_leaves_fin_wait2_and_close_wait),
        T(test_one_direction_capture_still_has_close_initiator),
        T(test_fin_retransmissions_are_counted),
        T(test_data_after_fin_is_an_anomaly),
        T(test_retransmitted_data_before_fin_is_not_data_after_fin),
        T(test_fin_with_data_is_not_data_after_fin),
        T(test_abort_on_data_after_close_leaves_no_time_wait),
        T(test_data_into_fin_wait2_without_rst_is_a_half_close),
        T(test_rst_into_time_wait_is_an_assassination),
        T(test_closing_implies_both_closed_actively),
        T(test_second_fin_lost_after_capture_point_leaves_one_closing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
