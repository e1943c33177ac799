/*
 * test_flows_instances: when a segment on a known 4-tuple starts a new
 * connection instance (reuse of TIME_WAIT, a new SYN after a reset or a
 * refusal) and when it does not (retransmitted SYNs), conn_id order, SPAN
 * copies (exact duplicates) against retransmissions, and out-of-order
 * timestamps.
 *
 * Written from ../shared/SPEC.md (not from flows.c); the simulated table,
 * the conversations and the soft checks are in flowsim.h. Every test gets
 * a fresh table from the fixture (sim_setup / sim_teardown) in *state.
 */
#include "flowsim.h"

static void test_time_wait_ended_by_reuse_starts_second_instance(void **state)
{
    sim *s = *state;
    conv c;
    conv_init(&c, s);
    script_client_close(&c);
    /* The same client port again, other ISNs, 5 s later. */
    c.isn[C] = c.nxt[C] = 777777777;
    c.isn[S] = c.nxt[S] = 888888888;
    int64_t t_syn = tx(&c, C, F_SYN, 0, 5 * SEC);
    assert_int_equal(s->nrec, 1); /* the old instance ends at the SYN */
    const conn_record *r = &s->rec[0];
    EXPECT_INT(r->conn_id, 1);
    EXPECT_TW_SIDE(r, "client");
    EXPECT_TS(r->time_wait_start, tm[3]);
    EXPECT_TS(r->time_wait_end, t_syn);
    EXPECT_TW_REASON(r, "reused");
    EXPECT_DUR(r->time_wait_end - r->time_wait_start, t_syn - tm[3]);
    EXPECT_CSTATE(r, "CLOSED");
    EXPECT_SSTATE(r, "CLOSED");
    EXPECT_INT(r->packets_c2s, 6);
    EXPECT_INT(r->packets_s2c, 4);
    EXPECT_TS(r->last_ts, tm[4]);

    tx(&c, S, F_SA, 0, 10 * MS);
    int64_t t_ack = tx(&c, C, F_A, 0, 10 * MS);
    finish_at(s, t_ack);
    assert_int_equal(s->nrec, 2);
    r = row_by_id(s, 2);
    EXPECT_HS(r, "complete");
    EXPECT_ROLE(r, "syn");
    EXPECT_TS(r->first_ts, t_syn);
    EXPECT_DUR(r->handshake_rtt, t_ack - t_syn);
    EXPECT_INT(r->packets_c2s, 2);
    EXPECT_INT(r->packets_s2c, 1);
    EXPECT_INITIATOR(r, "none");
    EXPECT_TW_SIDE(r, "none");
    EXPECT_CSTATE(r, "ESTABLISHED");
    EXPECT_SSTATE(r, "ESTABLISHED");
    const flows_stats *st = flows_get_stats(s->t);
    EXPECT_INT(st->instances, 2);
    EXPECT_INT(st->reused, 1);
    done();
}

static void test_new_syn_on_server_time_wait_is_reuse(void **state)
{
    sim *s = *state;
    conv c;
    conv_init(&c, s);
    open_conn(&c, 0);
    tx(&c, S, F_FA, 0, 1 * SEC);
    tx(&c, C, F_FA, 0, 5 * MS);
    int64_t t3 = tx(&c, S, F_A, 0, 5 * MS);
    (void)t3;
    c.isn[C] = c.nxt[C] = 424242;
    int64_t t_syn = tx(&c, C, F_SYN, 0, 2 * SEC);
    assert_int_equal(s->nrec, 1);
    const conn_record *r = &s->rec[0];
    EXPECT_TW_SIDE(r, "server");
    EXPECT_TW_REASON(r, "reused");
    EXPECT_TS(r->time_wait_end, t_syn);
    EXPECT_SSTATE(r, "CLOSED");
    finish_at(s, s->now);
    assert_int_equal(s->nrec, 2);
    EXPECT_HS(row_by_id(s, 2), "syn_only");
    done();
}

/* The client is in TIME_WAIT, the server still in LAST_ACK (its last ACK
 * was not captured): a new SYN with another ISN is a new instance (SPEC §1:
 * the previous one is in TIME_WAIT). */
static void test_new_syn_while_peer_still_in_last_ack_reuses(void **state)
{
    sim *s = *state;
    conv c;
    conv_init(&c, s);
    open_conn(&c, 0);
    tx(&c, C, F_FA, 0, 1 * MS);
    tx(&c, S, F_A, 0, 1 * MS);
    int64_t tw = tx(&c, S, F_FA, 0, 1 * MS); /* client TIME_WAIT, server LAST_ACK */
    /* the client's last ACK is not in the capture */
    conv_init_ports(&c, s, 40000, 80, 77777, 88888);
    int64_t syn = tx(&c, C, F_SYN, 0, 5 * SEC);
    assert_int_equal(s->nrec, 1);
    EXPECT_TW_REASON(&s->rec[0], "reused");
    EXPECT_TS(s->rec[0].time_wait_start, tw);
    EXPECT_TS(s->rec[0].time_wait_end, syn);
    EXPECT_TRUE(s->rec[0].server_state == CONN_LAST_ACK);
    finish_at(s, s->now);
    assert_int_equal(s->nrec, 2);
    EXPECT_HS(&s->rec[1], "syn_only");
    done();
}

static void test_new_syn_after_reset_starts_new_instance(void **state)
{
    sim *s = *state;
    conv c;
    conv_init(&c, s);
    open_conn(&c, 0);
    tx(&c, S, F_RA, 0, 1 * SEC);
    c.isn[C] = c.nxt[C] = 31337;
    c.isn[S] = c.nxt[S] = 73313;
    open_conn(&c, 1 * SEC);
    finish_at(s, s->now);
    assert_int_equal(s->nrec, 2);
    const conn_record *r1 = row_by_id(s, 1), *r2 = row_by_id(s, 2);
    EXPECT_CLOSE(r1, "rst");
    EXPECT_TW_SIDE(r1, "none");
    EXPECT_INT(r1->packets_c2s, 4);
    EXPECT_INT(r1->packets_s2c, 3);
    EXPECT_HS(r2, "complete");
    EXPECT_INITIATOR(r2, "none");
    EXPECT_INT(r2->packets_c2s, 4);
    EXPECT_INT(r2->packets_s2c, 2);
    done();
}

/* A refused client tries again from the same port: the previous instance
 * was reset, so a SYN with another ISN starts a new one; a SYN with the
 * same ISN is a retransmission. */
static void test_refused_then_retried_is_a_new_instance(void **state)
{
    sim *s = *state;
    conv c;
    conv_init_ports(&c, s, 40000, 80, 1000000, 0);
    tx(&c, C, F_SYN, 0, 0);
    tx(&c, S, F_RA, 0, 1 * MS);
    tx(&c, C, F_SYN, 0, 300 * MS); /* same ISN: crossed the RST */
    c.isn[C] = c.nxt[C] = 2000000;
    int64_t t = tx(&c, C, F_SYN, 0, 3 * SEC);
    tx(&c, S, F_RA, 0, 1 * MS);
    finish_at(s, s->now);
    assert_int_equal(s->nrec, 2);
    const conn_record *r1 = row_by_id(s, 1), *r2 = row_by_id(s, 2);
    EXPECT_HS(r1, "refused");
    EXPECT_INT(r1->syn_retransmits, 1);
    EXPECT_INT(r1->packets_c2s, 2);
    EXPECT_TW_SIDE(r1, "none");
    EXPECT_HS(r2, "refused");
    EXPECT_TS(r2->first_ts, t);
    EXPECT_INT(r2->packets_c2s, 1);
    EXPECT_INT(r2->packets_s2c, 1);
    EXPECT_INITIATOR(r2, "server");
    EXPECT_CLOSE(r2, "rst");
    done();
}

static void test_retransmitted_syn_is_not_a_new_instance(void **state)
{
    sim *s = *state;
    conv c;
    conv_init(&c, s);
    tx(&c, C, F_SYN, 0, 0);
    tx(&c, C, F_SYN, 0, 1 * SEC); /* same ISN */
    tx(&c, S, F_SA, 0, 10 * MS);
    tx(&c, C, F_SYN, 0, 1 * MS); /* crossed the SYN-ACK: same ISN again */
    tx(&c, C, F_A, 0, 10 * MS);
    tx(&c, C, F_PA, 10, 1 * MS);
    finish_at(s, s->now);
    const conn_record *r = only(s);
    EXPECT_HS(r, "complete");
    EXPECT_INT(r->syn_retransmits, 2);
    EXPECT_INT(r->packets_c2s, 5);
    EXPECT_CSTATE(r, "ESTABLISHED");
    EXPECT_SSTATE(r, "ESTABLISHED");
    EXPECT_INT(flows_get_stats(s->t)->instances, 1);
    done();
}

/* Even after the close: a SYN with the old ISN is a retransmission,
 * not a new instance. */
static void test_syn_with_old_isn_after_close_is_a_retransmission(void **state)
{
    sim *s = *state;
    conv c;
    conv_init(&c, s);
    script_client_close(&c);
    tx(&c, C, F_SYN, 0, 1 * SEC);
    finish_at(s, s->now);
    EXPECT_INT(flows_get_stats(s->t)->instances, 1);
    EXPECT_INT(s->nrec, 1);
    done();
}

static void test_conn_ids_increase_in_order_of_first_packet(void **state)
{
    sim *s = *state;
    conv c[3];
    for (int i = 0; i < 3; i++)
        conv_init_ports(&c[i], s, (uint16_t)(41000 + i), 80, 100u + (unsigned)i, 900);
    tx(&c[0], C, F_SYN, 0, 0);
    tx(&c[1], C, F_SYN, 0, 1 * MS);
    tx(&c[0], S, F_SA, 0, 1 * MS);
    tx(&c[2], C, F_SYN, 0, 1 * MS);
    tx(&c[2], S, F_RA, 0, 1 * MS); /* refused: ends first */
    tx(&c[1], S, F_SA, 0, 1 * MS);
    finish_at(s, s->now);
    assert_int_equal(s->nrec, 3);
    for (int i = 0; i < 3; i++) {
        const conn_record *r = row_by_cport(s, (uint16_t)(41000 + i));
        EXPECT_INT(r->conn_id, i + 1);
    }
    done();
}

/* Runs `script` on the test's table started afresh (every segment fed
 * twice `dup_ns` apart when dup_ns > 0; optionally IPv6), ends the capture
 * 1000 s after its last packet and returns the one row and the stats. */
static void run_script(sim *s, script_fn script, int64_t dup_ns, int ip6, conn_record *out,
                       flows_stats *st, uint64_t *fed)
{
    conv c;
    sim_restart(s);
    s->dup_ns = dup_ns;
    if (ip6)
        conv_init6(&c, s);
    else
        conv_init(&c, s);
    script(&c);
    finish_at(s, s->now + 1000 * SEC);
    *out = *only(s);
    *st = *flows_get_stats(s->t);
    *fed = s->fed;
}

static void check_span_copies(sim *s, script_fn script, int ip6)
{
    conn_record plain, dup;
    flows_stats st0, st1;
    uint64_t fed0, fed1;
    run_script(s, script, 0, ip6, &plain, &st0, &fed0);
    run_script(s, script, 2 * US, ip6, &dup, &st1, &fed1);
    EXPECT_INT(st0.duplicates, 0);
    EXPECT_INT(fed1, 2 * fed0);
    EXPECT_INT(st1.duplicates, fed0);
    EXPECT_INT(st1.segments, fed1);
    expect_same_row(&dup, &plain);
}

static void test_span_copies_do_not_change_client_close(void **state)
{
    sim *s = *state;
    check_span_copies(s, script_client_close, 0);
    check_span_copies(s, script_client_close, 1);
    done();
}

static void test_span_copies_do_not_change_crossed_fins(void **state)
{
    sim *s = *state;
    conn_record r;
    flows_stats st;
    uint64_t fed;
    run_script(s, script_crossed, 2 * US, 0, &r, &st, &fed);
    EXPECT_INT(r.closing, 2);
    EXPECT_INT(r.fin_retransmits, 0);
    check_span_copies(s, script_crossed, 0);
    check_span_copies(s, script_crossed, 1);
    done();
}

static void test_span_copies_do_not_change_bsd_close(void **state)
{
    sim *s = *state;
    check_span_copies(s, script_bsd, 0);
    check_span_copies(s, script_bsd, 1);
    done();
}

static void test_span_copies_do_not_change_lost_fin(void **state)
{
    sim *s = *state;
    conn_record r;
    flows_stats st;
    uint64_t fed;
    run_script(s, script_lost_fin, 2 * US, 0, &r, &st, &fed);
    EXPECT_INT(r.closing, 1);
    EXPECT_INT(r.fin_retransmits, 1);
    check_span_copies(s, script_lost_fin, 0);
    check_span_copies(s, script_lost_fin, 1);
    done();
}

/* Only the FIN is duplicated: still no FIN retransmission. */
static void test_duplicated_fin_is_not_a_fin_retransmission(void **state)
{
    sim *s = *state;
    conv c;
    conv_init(&c, s);
    open_conn(&c, 0);
    dissect_segment fin = seg_of(&c, C, F_FA, 0);
    int64_t t1 = send_seg(&c, C, fin, 1 * SEC);
    feed(s, &fin, t1 + 3 * US);
    tx(&c, S, F_A, 0, 5 * MS);
    int64_t t3 = tx(&c, S, F_FA, 0, 10 * MS);
    tx(&c, C, F_A, 0, 5 * MS);
    finish_at(s, t3 + 100 * SEC);
    const conn_record *r = only(s);
    EXPECT_INT(r->fin_retransmits, 0);
    EXPECT_INITIATOR(r, "client");
    EXPECT_INT(r->closing, 0);
    EXPECT_TW_SIDE(r, "client");
    EXPECT_TS(r->time_wait_start, t3);
    EXPECT_INT(r->packets_c2s, 6);
    EXPECT_INT(flows_get_stats(s->t)->duplicates, 1);
    done();
}

/* The server's FIN of a crossed close, duplicated: still crossed. */
static void test_duplicated_fin_of_crossed_close_is_still_crossed(void **state)
{
    sim *s = *state;
    conv c;
    conv_init(&c, s);
    open_conn(&c, 0);
    tx(&c, C, F_FA, 0, 1 * SEC);
    dissect_segment sfin = seg_of(&c, S, F_FA, 0);
    sfin.ack = c.nxt[C] - 1;
    int64_t t2 = send_seg(&c, S, sfin, 100 * US);
    feed(s, &sfin, t2 + 1 * US);
    int64_t t3b = tx(&c, C, F_A, 0, 5 * MS);
    tx(&c, S, F_A, 0, 1 * MS);
    finish_at(s, s->now + 100 * SEC);
    const conn_record *r = only(s);
    EXPECT_INT(r->closing, 2);
    EXPECT_INITIATOR(r, "both");
    EXPECT_TW_SIDE(r, "both");
    EXPECT_TS(r->time_wait_start, t3b);
    EXPECT_INT(r->fin_retransmits, 0);
    EXPECT_INT(flows_get_stats(s->t)->duplicates, 1);
    done();
}

static void test_duplicated_syn_is_not_a_syn_retransmission(void **state)
{
    sim *s = *state;
    conv c;
    conv_init(&c, s);
    dissect_segment syn = seg_of(&c, C, F_SYN, 0);
    int64_t t = send_seg(&c, C, syn, 0);
    feed(s, &syn, t + 1 * US);
    tx(&c, S, F_SA, 0, 10 * MS);
    tx(&c, C, F_A, 0, 10 * MS);
    finish_at(s, s->now);
    const conn_record *r = only(s);
    EXPECT_HS(r, "complete");
    EXPECT_INT(r->syn_retransmits, 0);
    EXPECT_INT(r->packets_c2s, 2);
    EXPECT_DUR(r->handshake_rtt, 20 * MS);
    EXPECT_INT(flows_get_stats(s->t)->duplicates, 1);
    EXPECT_INT(flows_get_stats(s->t)->instances, 1);
    done();
}

/* The same bytes again 200 ms later is a retransmission, not a copy. */
static void test_identical_segment_later_is_a_retransmission(void **state)
{
    sim *s = *state;
    conv c;
    conv_init6(&c, s); /* no IP ID to tell them apart */
    open_conn(&c, 0);
    dissect_segment fin = seg_of(&c, C, F_FA, 0);
    int64_t t1 = send_seg(&c, C, fin, 1 * SEC);
    feed(s, &fin, t1 + 200 * MS);
    s->now = t1 + 200 * MS;
    tx(&c, S, F_FA, 0, 5 * MS);
    tx(&c, C, F_A, 0, 5 * MS);
    finish_at(s, s->now);
    const conn_record *r = only(s);
    EXPECT_INT(r->fin_retransmits, 1);
    EXPECT_INT(r->packets_c2s, 7);
    EXPECT_INT(flows_get_stats(s->t)->duplicates, 0);
    done();
}

/* The implementation's rule: a copy is an identical segment of the same
 * direction within 1 ms. One 2^32 ns (4.29 s) later is a retransmission. */
static void test_identical_segment_2_pow_32_ns_later_is_a_retransmission(void **state)
{
    sim *s = *state;
    conv c;
    conv_init6(&c, s); /* no IP ID, no TCP timestamps: identical bytes */
    open_conn(&c, 0);
    dissect_segment fin = seg_of(&c, C, F_FA, 0);
    int64_t t1 = send_seg(&c, C, fin, 1 * SEC);
    int64_t t2 = t1 + (INT64_C(1) << 32); /* RTO backoff can land here */
    feed(s, &fin, t2);
    s->now = t2;
    tx(&c, S, F_FA, 0, 5 * MS);
    tx(&c, C, F_A, 0, 5 * MS);
    finish_at(s, s->now);
    const conn_record *r = only(s);
    EXPECT_INT(r->fin_retransmits, 1);
    EXPECT_INT(r->packets_c2s, 7);
    EXPECT_INT(flows_get_stats(s->t)->duplicates, 0);
    done();
}

/* A SPAN session mirroring two ports delivers the copy of a segment after
 * the next segment of the same direction (both within microseconds): it is
 * still an exact duplicate within 1 ms. */
static void test_interleaved_span_copies_are_duplicates(void **state)
{
    sim *s = *state;
    conv c;
    conv_init(&c, s);
    open_conn(&c, 0);
    dissect_segment data = seg_of(&c, C, F_PA, 100);
    int64_t t1 = send_seg(&c, C, data, 1 * SEC);
    dissect_segment fin = seg_of(&c, C, F_FA, 0);
    int64_t t2 = send_seg(&c, C, fin, 10 * US);
    feed(s, &data, t1 + 15 * US); /* copies, 15 us late */
    feed(s, &fin, t2 + 15 * US);
    s->now = t2 + 15 * US;
    int64_t t3 = tx(&c, S, F_FA, 0, 5 * MS);
    tx(&c, C, F_A, 0, 5 * MS);
    finish_at(s, t3 + 100 * SEC);
    const conn_record *r = only(s);
    EXPECT_INT(r->fin_retransmits, 0);
    EXPECT_INT(r->packets_c2s, 7);
    EXPECT_INT(r->bytes_c2s, 300);
    EXPECT_INITIATOR(r, "client");
    EXPECT_TW_SIDE(r, "client");
    EXPECT_ANOM(r, "");
    EXPECT_INT(flows_get_stats(s->t)->duplicates, 2);
    done();
}

static void test_out_of_order_timestamps_do_not_corrupt_instance(void **state)
{
    sim *s = *state;
    conv c;
    conv_init(&c, s);
    open_conn(&c, 0);
    int64_t t1 = tx(&c, C, F_FA, 0, 1 * SEC);
    tx(&c, S, F_A, 0, -1 * MS); /* stamped before the FIN it acks */
    int64_t t3 = tx(&c, S, F_FA, 0, 11 * MS);
    tx(&c, C, F_A, 0, 5 * MS);
    finish_at(s, t3 + 100 * SEC);
    const conn_record *r = only(s);
    EXPECT_INITIATOR(r, "client");
    EXPECT_CLOSE(r, "fin");
    EXPECT_INT(r->closing, 0);
    EXPECT_TW_SIDE(r, "client");
    EXPECT_TS(r->time_wait_start, t3);
    EXPECT_TS(r->time_wait_end, t3 + 60 * SEC);
    EXPECT_TW_REASON(r, "expired");
    EXPECT_INT(r->packets_c2s, 6);
    EXPECT_INT(r->packets_s2c, 4);
    EXPECT_INT(r->fin_retransmits, 0);
    EXPECT_CSTATE(r, "CLOSED");
    EXPECT_SSTATE(r, "CLOSED");
    const flows_stats *st = flows_get_stats(s->t);
    EXPECT_INT(st->out_of_order, 1);
    EXPECT_INT(st->duplicates, 0);
    (void)t1;
    done();
}

/* Not copies: a duplicate ACK with other SACK blocks, or the same header
 * with other data (the dissector's content digest differs). */
static void test_same_header_other_content_is_not_a_duplicate(void **state)
{
    sim *s = *state;
    conv c;
    conv_init(&c, s);
    open_conn(&c, 0);
    dissect_segment g = seg_of(&c, S, F_A, 0);
    g.content = 1;
    send_seg(&c, S, g, 10 * MS);
    g.content = 2; /* other SACK blocks */
    send_seg(&c, S, g, 100 * US);
    g.content = 2; /* a true copy of that one */
    send_seg(&c, S, g, 100 * US);
    finish_at(s, s->now);
    const conn_record *r = only(s);
    EXPECT_INT(r->packets_s2c, 2 + 2);
    EXPECT_INT(flows_get_stats(s->t)->duplicates, 1);
    done();
}

/* ---- main ---------------------------------------------------------------- */

#define T(f) cmocka_unit_test_setup_teardown(f, sim_setup, sim_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_time_wait_ended_by_reuse_starts_second_instance),
        T(test_new_syn_on_server_time_wait_is_reuse),
        T(test_new_syn_while_peer_still_in_last_ack_reuses),
        T(test_new_syn_after_reset_starts_new_instance),
        T(test_refused_then_retried_is_a_new_instance),
        T(test_retransmitted_syn_is_not_a_new_instance),
        T(test_syn_with_old_isn_after_close_is_a_retransmission),
        T(test_conn_ids_increase_in_order_of_first_packet),
        T(test_span_copies_do_not_change_client_close),
        T(test_span_copies_do_not_change_crossed_fins),
        T(test_span_copies_do_not_change_bsd_close),
        T(test_span_copies_do_not_change_lost_fin),
        T(test_duplicated_fin_is_not_a_fin_retransmission),
        T(test_duplicated_fin_of_crossed_close_is_still_crossed),
        T(test_duplicated_syn_is_not_a_syn_retransmission),
        T(test_same_header_other_content_is_not_a_duplicate),
        T(test_identical_segment_later_is_a_retransmission),
        T(test_identical_segment_2_pow_32_ns_later_is_a_retransmission),
        T(test_interleaved_span_copies_are_duplicates),
        T(test_out_of_order_timestamps_do_not_corrupt_instance),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
