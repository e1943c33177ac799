/*
 * test_flows_resets: RST closes (no TIME_WAIT), the RST acceptability check
 * against the receiver's window (RFC 793 / RFC 5961, scaled per RFC 7323),
 * blind and forged resets, and the rst_out_of_window / rst_ttl_changed
 * anomalies.
 *
 * Written from ../shared/SPEC.md (not from flows.c); the simulated table,
 * the conversations and the soft checks are in flowsim.h. Every test gets
 * a fresh table from the fixture (sim_setup / sim_teardown) in *state.
 */
#include "flowsim.h"

static void test_rst_from_client_closes_both_without_time_wait(void **state)
{
    sim *s = *state;
    conv c;
    conv_init(&c, s);
    open_conn(&c, 0);
    int64_t t = tx(&c, C, F_R, 0, 1 * SEC);
    finish_at(s, t);
    const conn_record *r = only(s);
    EXPECT_HS(r, "complete");
    EXPECT_INITIATOR(r, "client");
    EXPECT_CLOSE(r, "rst");
    EXPECT_INT(r->closing, 0);
    EXPECT_TW_SIDE(r, "none");
    EXPECT_TW_REASON(r, "");
    EXPECT_CSTATE(r, "CLOSED");
    EXPECT_SSTATE(r, "CLOSED");
    EXPECT_ANOM(r, "");
    EXPECT_INT(r->packets_c2s, 5);
    done();
}

static void test_rst_from_server_closes_both_without_time_wait(void **state)
{
    sim *s = *state;
    conv c;
    conv_init(&c, s);
    open_conn(&c, 0);
    int64_t t = tx(&c, S, F_RA, 0, 1 * SEC);
    finish_at(s, t + 200 * SEC);
    const conn_record *r = only(s);
    EXPECT_INITIATOR(r, "server");
    EXPECT_CLOSE(r, "rst");
    EXPECT_INT(r->closing, 0);
    EXPECT_TW_SIDE(r, "none");
    EXPECT_TW_REASON(r, "");
    EXPECT_CSTATE(r, "CLOSED");
    EXPECT_SSTATE(r, "CLOSED");
    EXPECT_ANOM(r, "");
    EXPECT_INT(r->packets_s2c, 3);
    done();
}

/* The initiator's *first* close segment decides close_type. */
static void test_rst_after_fin_keeps_close_type_fin(void **state)
{
    sim *s = *state;
    conv c;
    conv_init(&c, s);
    open_conn(&c, 0);
    tx(&c, C, F_FA, 0, 1 * SEC);
    tx(&c, S, F_RA, 0, 5 * MS);
    finish_at(s, s->now);
    const conn_record *r = only(s);
    EXPECT_INITIATOR(r, "client");
    EXPECT_CLOSE(r, "fin");
    EXPECT_TW_SIDE(r, "none");
    EXPECT_CSTATE(r, "CLOSED");
    EXPECT_SSTATE(r, "CLOSED");
    done();
}

/* In SYN_SENT an RST is acceptable only when it acks the SYN. */
static void test_rst_not_acking_syn_is_out_of_window(void **state)
{
    sim *s = *state;
    conv c;
    conv_init_ports(&c, s, 40000, 80, 1000000, 0);
    tx(&c, C, F_SYN, 0, 0);
    tx_ack(&c, S, F_RA, 0, 1 * MS, 1000000 + 5000); /* acks something else */
    finish_at(s, s->now);
    const conn_record *r = only(s);
    EXPECT_HS(r, "syn_only");
    EXPECT_ANOM(r, "rst_out_of_window");
    EXPECT_CSTATE(r, "SYN_SENT");
    EXPECT_INITIATOR(r, "none");
    EXPECT_CLOSE(r, "none");
    done();
}

static void test_blind_rst_out_of_window_changes_nothing(void **state)
{
    sim *s = *state;
    conv c;
    conv_init(&c, s);
    open_conn(&c, 0);
    /* Forged from the client's address, far from anything in window. */
    tx_seq(&c, C, F_R, 0, 1 * SEC, c.nxt[C] + 0x40000000u);
    finish_at(s, s->now);
    const conn_record *r = only(s);
    EXPECT_ANOM(r, "rst_out_of_window");
    EXPECT_CSTATE(r, "ESTABLISHED");
    EXPECT_SSTATE(r, "ESTABLISHED");
    EXPECT_TW_SIDE(r, "none");
    done();
}

/* A blind RST out of window, then the server closes normally: one row, a
 * server close, still flagged. */
static void test_blind_rst_out_of_window_then_server_close_keeps_the_anomaly(void **state)
{
    sim *s = *state;
    conv c;
    conv_init(&c, s);
    open_conn(&c, 0);
    tx_seq(&c, C, F_R, 0, 1 * SEC, c.nxt[C] + 0x40000000u);
    assert_int_equal(s->nrec, 0);
    tx(&c, S, F_PA, 300, 10 * MS);
    tx(&c, C, F_A, 0, 10 * MS);
    tx(&c, S, F_FA, 0, 1 * SEC);
    int64_t t = tx(&c, C, F_FA, 0, 5 * MS); /* acks the server's FIN */
    tx(&c, S, F_A, 0, 5 * MS);
    finish_at(s, t + 100 * SEC);
    const conn_record *r = only(s);
    EXPECT_ANOM(r, "rst_out_of_window");
    EXPECT_INITIATOR(r, "server");
    EXPECT_CLOSE(r, "fin");
    EXPECT_TW_SIDE(r, "server");
    EXPECT_TS(r->time_wait_start, t);
    EXPECT_TW_REASON(r, "expired");
    EXPECT_INT(r->closing, 0);
    EXPECT_INT(r->packets_c2s, 7);
    done();
}

static void test_in_window_rst_with_other_ttl_is_flagged(void **state)
{
    sim *s = *state;
    conv c;
    conv_init(&c, s);
    open_conn(&c, 0);
    dissect_segment g = seg_of(&c, S, F_RA, 0);
    g.ttl = 250; /* a middlebox's reset */
    send_seg(&c, S, g, 1 * SEC);
    finish_at(s, s->now);
    const conn_record *r = only(s);
    EXPECT_ANOM(r, "rst_ttl_changed");
    EXPECT_INITIATOR(r, "server");
    EXPECT_CLOSE(r, "rst");
    EXPECT_CSTATE(r, "CLOSED");
    EXPECT_SSTATE(r, "CLOSED");
    done();
}

static void test_forged_rst_out_of_window_with_other_ttl_has_both_anomalies(void **state)
{
    sim *s = *state;
    conv c;
    conv_init(&c, s);
    open_conn(&c, 0);
    dissect_segment g = seg_of(&c, S, F_R, 0);
    g.seq += 0x40000000u;
    g.ttl = 200;
    send_seg(&c, S, g, 1 * SEC);
    finish_at(s, s->now);
    const conn_record *r = only(s);
    EXPECT_ANOM(r, "rst_out_of_window;rst_ttl_changed");
    EXPECT_CSTATE(r, "ESTABLISHED");
    EXPECT_SSTATE(r, "ESTABLISHED");
    done();
}

/* What the receiver made of an RST (RFC 5961 §3.2, SPEC §2). */
enum { RST_RESET = 'R', RST_CHALLENGE = 'C', RST_FORGED = 'F' };

/* Established with the server advertising `swin` (scaled by 2^wscale when
 * both SYNs carry the option); then a client RST at c.nxt[C] + off, on the
 * test's table started afresh. Returns RST_RESET when the RST was
 * acceptable (the connection was reset), RST_CHALLENGE when it was in the
 * window but not at rcv_nxt (nothing changed, anomaly rst_challenged),
 * RST_FORGED when out of the window (nothing changed, rst_out_of_window). */
static int client_rst_at_offset(sim *s, int wscale, uint16_t swin, int64_t off, uint32_t isn)
{
    conv c;
    sim_restart(s);
    conv_init_ports(&c, s, 40000, 80, isn, 5000000);
    c.wscale = wscale;
    open_conn(&c, 0);
    c.window[S] = swin;
    tx(&c, S, F_A, 0, 10 * MS);
    tx_seq(&c, C, F_R, 0, 10 * MS, c.nxt[C] + (uint32_t)off);
    finish_at(s, s->now);
    const conn_record *r = only(s);
    int reset = r->close_type == CLOSE_RST;
    int challenged = !!(r->anomalies & ANOM_RST_CHALLENGED);
    int forged = !!(r->anomalies & ANOM_RST_OUT_OF_WINDOW);
    if (reset + challenged + forged != 1)
        soft_fail(__FILE__, __LINE__,
                  "RST at rcv_nxt%+" PRId64 ": close_type %s with anomalies \"%s\"", off,
                  conn_close_type_name(r->close_type), anomalies_text(r->anomalies));
    if (reset) {
        EXPECT_CSTATE(r, "CLOSED");
        EXPECT_SSTATE(r, "CLOSED");
        EXPECT_INITIATOR(r, "client");
    } else {
        EXPECT_CSTATE(r, "ESTABLISHED");
        EXPECT_SSTATE(r, "ESTABLISHED");
        EXPECT_INITIATOR(r, "none");
    }
    return reset ? RST_RESET : challenged ? RST_CHALLENGE : RST_FORGED;
}

#define EXPECT_RST(s, wscale, swin, off, isn, verdict)                                             \
    do {                                                                                           \
        int got_ = client_rst_at_offset(s, wscale, swin, off, isn);                                \
        if (got_ != (verdict))                                                                     \
            soft_fail(__FILE__, __LINE__,                                                          \
                      "RST at rcv_nxt%+" PRId64 " (W=%u<<%d): %c, expected %c", (int64_t)(off),    \
                      (unsigned)(swin), (wscale) < 0 ? 0 : (wscale), got_, (verdict));             \
    } while (0)

static void test_rst_at_rcv_nxt_resets_in_window_is_challenged_else_forged(void **state)
{
    sim *s = *state;
    /* seq == rcv_nxt resets; rcv_nxt < seq < rcv_nxt + W is answered by a
     * challenge ACK; anything else, below rcv_nxt too, is ignored. W = 1000. */
    EXPECT_RST(s, -1, 1000, 0, 1000000, RST_RESET);
    EXPECT_RST(s, -1, 1000, 1, 1000000, RST_CHALLENGE);
    EXPECT_RST(s, -1, 1000, 999, 1000000, RST_CHALLENGE);
    EXPECT_RST(s, -1, 1000, 1000, 1000000, RST_FORGED);
    EXPECT_RST(s, -1, 1000, -1, 1000000, RST_FORGED);
    EXPECT_RST(s, -1, 1000, -1000, 1000000, RST_FORGED);
    /* Across the 2^32 wrap: rcv_nxt a little above 0. */
    EXPECT_RST(s, -1, 1000, 0, 0xFFFFFF00u, RST_RESET);
    EXPECT_RST(s, -1, 1000, 999, 0xFFFFFF00u, RST_CHALLENGE);
    EXPECT_RST(s, -1, 1000, -500, 0xFFFFFF00u, RST_FORGED);
    done();
}

static void test_rst_window_is_scaled(void **state)
{
    sim *s = *state;
    /* Both SYNs carry wscale 7: the window 1000 means 128000 bytes. */
    EXPECT_RST(s, 7, 1000, 100000, 1000000, RST_CHALLENGE);
    EXPECT_RST(s, 7, 1000, 127999, 1000000, RST_CHALLENGE);
    EXPECT_RST(s, 7, 1000, 128000, 1000000, RST_FORGED);
    done();
}

static void test_rst_window_is_65535_when_receiver_sent_nothing(void **state)
{
    sim *s = *state;
    for (int i = 0; i < 3; i++) {
        int64_t off = i == 0 ? 0 : i == 1 ? 65534 : 65535;
        conv c;
        sim_restart(s);
        conv_init(&c, s);
        tx(&c, C, F_PA, 100, 0); /* midstream, the server silent */
        tx(&c, C, F_PA, 100, 10 * MS);
        tx_seq(&c, C, F_R, 0, 10 * MS, c.nxt[C] + (uint32_t)off);
        finish_at(s, s->now);
        const conn_record *r = only(s);
        EXPECT_CLOSE(r, i == 0 ? "rst" : "none");
        EXPECT_ANOM(r, i == 0 ? "" : i == 1 ? "rst_challenged" : "rst_out_of_window");
    }
    done();
}

/* The sender answers the challenge ACK with an RST at exactly rcv_nxt: that
 * one resets. Meanwhile the connection goes on. */
static void test_challenged_rst_then_exact_rst_resets(void **state)
{
    sim *s = *state;
    conv c;
    conv_init(&c, s);
    open_conn(&c, 0);
    tx_seq(&c, C, F_R, 0, 10 * MS, c.nxt[C] + 10);
    tx(&c, S, F_A, 0, 1 * MS); /* the challenge ACK */
    tx(&c, S, F_PA, 100, 1 * MS);
    tx(&c, C, F_A, 0, 1 * MS);
    int64_t t = tx(&c, C, F_R, 0, 10 * MS);
    finish_at(s, s->now + 200 * SEC);
    const conn_record *r = only(s);
    EXPECT_ANOM(r, "rst_challenged");
    EXPECT_CLOSE(r, "rst");
    EXPECT_INITIATOR(r, "client");
    EXPECT_CSTATE(r, "CLOSED");
    EXPECT_SSTATE(r, "CLOSED");
    EXPECT_INT(r->packets_s2c, 4);
    EXPECT_TRUE(r->last_ts >= t);
    done();
}

/* Linux also resets at rcv_nxt - 1 once the sender's FIN has arrived. */
static void test_rst_at_the_fin_sequence_number_resets_after_the_fin(void **state)
{
    sim *s = *state;
    conv c;
    conv_init(&c, s);
    open_conn(&c, 0);
    tx(&c, C, F_FA, 0, 10 * MS);
    tx(&c, S, F_A, 0, 10 * MS);
    tx_seq(&c, C, F_R, 0, 10 * MS, c.nxt[C] - 1);
    finish_at(s, s->now);
    const conn_record *r = only(s);
    EXPECT_ANOM(r, "");
    EXPECT_CSTATE(r, "CLOSED");
    EXPECT_SSTATE(r, "CLOSED");
    EXPECT_TW_SIDE(r, "none");
    done();
}

/* Scaling holds only when both SYNs carried the option (RFC 7323). */
static void test_rst_window_scaling_needs_both_syns(void **state)
{
    sim *s = *state;
    for (int sides = 1; sides <= 2; sides++) {
        conv c;
        sim_restart(s);
        conv_init(&c, s);
        c.wscale = 7;
        c.wscale_sides = sides; /* only one SYN carries wscale 7 */
        open_conn(&c, 0);
        c.window[S] = 1000;
        tx(&c, S, F_A, 0, 10 * MS);
        tx_seq(&c, C, F_R, 0, 10 * MS, c.nxt[C] + 100000);
        finish_at(s, s->now);
        const conn_record *r = only(s);
        EXPECT_ANOM(r, "rst_out_of_window");
        EXPECT_CLOSE(r, "none");
    }
    done();
}

/* The window field of a SYN is never scaled: the server has sent only its
 * SYN-ACK (window 1000, wscale 7). */
static void test_rst_window_of_synack_is_not_scaled(void **state)
{
    sim *s = *state;
    conv c;
    conv_init(&c, s);
    c.wscale = 7;
    c.window[S] = 1000;
    tx(&c, C, F_SYN, 0, 0);
    tx(&c, S, F_SA, 0, 10 * MS);
    tx(&c, C, F_A, 0, 10 * MS);
    tx_seq(&c, C, F_R, 0, 10 * MS, c.nxt[C] + 5000);
    finish_at(s, s->now);
    const conn_record *r = only(s);
    EXPECT_ANOM(r, "rst_out_of_window");
    EXPECT_CLOSE(r, "none");
    done();
}

/* ---- main ---------------------------------------------------------------- */

#define T(f) cmocka_unit_test_setup_teardown(f, sim_setup, sim_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_rst_from_client_closes_both_without_time_wait),
        T(test_rst_from_server_closes_both_without_time_wait),
        T(test_rst_after_fin_keeps_close_type_fin),
        T(test_rst_not_acking_syn_is_out_of_window),
        T(test_blind_rst_out_of_window_changes_nothing),
        T(test_blind_rst_out_of_window_then_server_close_keeps_the_anomaly),
        T(test_in_window_rst_with_other_ttl_is_flagged),
        T(test_forged_rst_out_of_window_with_other_ttl_has_both_anomalies),
        T(test_rst_at_rcv_nxt_resets_in_window_is_challenged_else_forged),
        T(test_challenged_rst_then_exact_rst_resets),
        T(test_rst_at_the_fin_sequence_number_resets_after_the_fin),
        T(test_rst_window_is_scaled),
        T(test_rst_window_is_65535_when_receiver_sent_nothing),
        T(test_rst_window_scaling_needs_both_syns),
        T(test_rst_window_of_synack_is_not_scaled),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
