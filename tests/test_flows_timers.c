/*
 * test_flows_timers: the TIME_WAIT length (2*MSL, the --msl option) and its
 * end (expired within the capture, cut by the capture end, restarted by a
 * retransmitted FIN), the idle timeout, and eviction under --max-flows.
 *
 * Written from ../shared/SPEC.md (not from flows.c); the simulated table,
 * the conversations and the soft checks are in flowsim.h. Every test gets
 * a fresh table from the fixture (sim_setup / sim_teardown) in *state.
 */
#include "flowsim.h"

/* ---- fixtures with other configs ----------------------------------------- */

static int setup_msl_5s(void **state)
{
    flows_config cfg;
    flows_config_default(&cfg);
    cfg.msl = 5 * SEC;
    return sim_setup_with(state, &cfg);
}

static int setup_idle_timeout_10s(void **state)
{
    flows_config cfg;
    flows_config_default(&cfg);
    cfg.idle_timeout = 10 * SEC;
    return sim_setup_with(state, &cfg);
}

static int setup_max_flows_2(void **state)
{
    flows_config cfg;
    flows_config_default(&cfg);
    cfg.max_flows = 2;
    return sim_setup_with(state, &cfg);
}

static int setup_max_flows_100(void **state)
{
    flows_config cfg;
    flows_config_default(&cfg);
    cfg.max_flows = 100;
    return sim_setup_with(state, &cfg);
}

static void test_default_config_has_30_s_msl_and_default_max_flows(void **state)
{
    (void)state;
    flows_config cfg;
    flows_config_default(&cfg);
    EXPECT_DUR(cfg.msl, 30 * SEC);
    EXPECT_INT(cfg.max_flows, FLOWS_DEFAULT_MAX_FLOWS);
    EXPECT_DUR(cfg.syn_timeout, 127 * SEC);   /* Linux: tcp_syn_retries = 6 */
    EXPECT_DUR(cfg.fin_timeout, 60 * SEC);    /* Linux: tcp_fin_timeout */
    EXPECT_DUR(cfg.synack_timeout, 63 * SEC); /* Linux: tcp_synack_retries = 5 */
    done();
}

static void test_time_wait_expires_after_two_msl_within_capture(void **state)
{
    sim *s = *state;
    conv c, other;
    conv_init(&c, s);
    conv_init_ports(&other, s, 40001, 80, 1, 2);
    script_client_close(&c);
    tx(&other, C, F_PA, 1, 59 * SEC); /* tm[3] + 59.005 s */
    assert_int_equal(s->nrec, 0);
    tx(&other, C, F_PA, 1, 2 * SEC); /* past tm[3] + 60 s */
    /* The row is written when TIME_WAIT ends, not at the capture end. */
    assert_int_equal(s->nrec, 1);
    const conn_record *r = &s->rec[0];
    EXPECT_INT(r->client_port, 40000);
    EXPECT_TW_SIDE(r, "client");
    EXPECT_TS(r->time_wait_start, tm[3]);
    EXPECT_TS(r->time_wait_end, tm[3] + 60 * SEC);
    EXPECT_TW_REASON(r, "expired");
    EXPECT_DUR(r->time_wait_end - r->time_wait_start, 60 * SEC);
    EXPECT_CSTATE(r, "CLOSED");
    EXPECT_SSTATE(r, "CLOSED");
    finish_at(s, s->now);
    assert_int_equal(s->nrec, 2);
    done();
}

/* 2*MSL that ends exactly at the capture end happened within it. */
static void test_time_wait_expiry_boundary_at_capture_end(void **state)
{
    sim *s = *state;
    for (int late = 0; late < 2; late++) {
        conv c;
        sim_restart(s);
        conv_init(&c, s);
        script_client_close(&c);
        int64_t end = tm[3] + 60 * SEC - (late ? 0 : 1);
        finish_at(s, end);
        const conn_record *r = only(s);
        EXPECT_TS(r->time_wait_end, end);
        EXPECT_TW_REASON(r, late ? "expired" : "capture_end");
        EXPECT_CSTATE(r, late ? "CLOSED" : "TIME_WAIT");
    }
    done();
}

static void test_time_wait_cut_by_capture_end(void **state)
{
    sim *s = *state;
    conv c, other;
    conv_init(&c, s);
    conv_init_ports(&other, s, 40001, 80, 1, 2);
    script_client_close(&c);
    int64_t end = tx(&other, C, F_PA, 1, 10 * SEC); /* the capture's last packet */
    finish_at(s, end);
    assert_int_equal(s->nrec, 2);
    const conn_record *r = row_by_cport(s, 40000);
    EXPECT_TW_SIDE(r, "client");
    EXPECT_TS(r->time_wait_start, tm[3]);
    EXPECT_TS(r->time_wait_end, end);
    EXPECT_TW_REASON(r, "capture_end");
    EXPECT_DUR(r->time_wait_end - r->time_wait_start, end - tm[3]);
    /* "each endpoint's state when the row was written": still TIME_WAIT. */
    EXPECT_CSTATE(r, "TIME_WAIT");
    EXPECT_SSTATE(r, "CLOSED");
    done();
}

static void test_retransmitted_fin_in_time_wait_restarts_timer(void **state)
{
    sim *s = *state;
    conv c;
    conv_init(&c, s);
    script_client_close(&c); /* client TIME_WAIT at tm[3] */
    uint32_t sfin = c.nxt[S] - 1;
    /* The client's last ACK was lost after the capture point. */
    int64_t t5 = tx_seq(&c, S, F_FA, 0, 1 * SEC, sfin);
    tx(&c, C, F_A, 0, 1 * MS);
    finish_at(s, t5 + 100 * SEC);
    const conn_record *r = only(s);
    EXPECT_TW_SIDE(r, "client");
    EXPECT_TS(r->time_wait_start, tm[3]);
    EXPECT_TS(r->time_wait_end, t5 + 60 * SEC);
    EXPECT_TW_REASON(r, "expired");
    EXPECT_INT(r->fin_retransmits, 1);
    EXPECT_CSTATE(r, "CLOSED");
    done();
}

static void test_msl_option_sets_time_wait_length(void **state)
{
    sim *s = *state;
    conv c;
    conv_init(&c, s);
    script_client_close(&c);
    finish_at(s, tm[4] + 100 * SEC);
    const conn_record *r = only(s);
    EXPECT_TW_SIDE(r, "client");
    EXPECT_TS(r->time_wait_end, tm[3] + 10 * SEC);
    EXPECT_DUR(r->time_wait_end - r->time_wait_start, 10 * SEC);
    EXPECT_TW_REASON(r, "expired");
    done();
}

static void test_idle_timeout_ends_instance(void **state)
{
    sim *s = *state;
    conv c, other;
    conv_init(&c, s);
    conv_init_ports(&other, s, 40001, 80, 1, 2);
    open_conn(&c, 0);
    tx(&other, C, F_PA, 1, 5 * SEC);
    assert_int_equal(s->nrec, 0);
    tx(&other, C, F_PA, 1, 7 * SEC); /* 12 s after the connection's last packet */
    assert_int_equal(s->nrec, 1);
    const conn_record *r = &s->rec[0];
    EXPECT_INT(r->client_port, 40000);
    EXPECT_ANOM(r, "idle_timeout");
    EXPECT_HS(r, "complete");
    EXPECT_INITIATOR(r, "none");
    EXPECT_TW_SIDE(r, "none");
    EXPECT_CSTATE(r, "ESTABLISHED");
    EXPECT_SSTATE(r, "ESTABLISHED");
    EXPECT_INT(flows_get_stats(s->t)->idle_timeouts, 1);
    finish_at(s, s->now);
    EXPECT_ANOM(row_by_cport(s, 40001), "");
    done();
}

static void test_max_flows_evicts_an_instance(void **state)
{
    sim *s = *state;
    conv c[3];
    for (int i = 0; i < 3; i++) {
        conv_init_ports(&c[i], s, (uint16_t)(40001 + i), 80, 1000u * (unsigned)i + 1, 7);
        tx(&c[i], C, F_SYN, 0, 1 * MS);
    }
    assert_int_equal(s->nrec, 1); /* the third SYN made room */
    EXPECT_ANOM(&s->rec[0], "evicted");
    EXPECT_HS(&s->rec[0], "syn_only");
    const flows_stats *st = flows_get_stats(s->t);
    EXPECT_INT(st->evicted, 1);
    EXPECT_TRUE(st->peak_alive <= 2);
    finish_at(s, s->now);
    assert_int_equal(s->nrec, 3);
    int evicted = 0;
    for (size_t i = 0; i < s->nrec; i++)
        evicted += !!(s->rec[i].anomalies & ANOM_EVICTED);
    EXPECT_INT(evicted, 1);
    EXPECT_INT(st->evicted, 1);
    EXPECT_INT(st->instances, 3);
    EXPECT_INT(st->alive, 0);
    done();
}

/* A SYN flood under --max-flows: the spoofed attempts are evicted, the
 * connections that got an answer stay tracked and are classified whole,
 * however long their packets are apart. */
static void test_syn_flood_evicts_attempts_before_answered_connections(void **state)
{
    sim *s = *state;
    enum { LEGIT = 20, FLOOD = 10000 };
    conv legit[LEGIT];
    for (int i = 0; i < LEGIT; i++) {
        conv_init_ports(&legit[i], s, (uint16_t)(30000 + i), 80, 7000u * (unsigned)i + 1, 9);
        open_conn(&legit[i], 1 * MS);
    }
    conv spoofed;
    for (int k = 0; k < FLOOD; k++) {
        conv_init_ports(&spoofed, s, (uint16_t)(40000 + k % 20000), 443, (uint32_t)k * 7919u, 1);
        spoofed.addr[C][1] = (uint8_t)(k >> 8), spoofed.addr[C][2] = (uint8_t)k;
        tx(&spoofed, C, F_SYN, 0, 10 * US);
        if (k % 2500 == 2499) /* the legitimate ones go on, far apart */
            for (int i = 0; i < LEGIT; i++)
                tx(&legit[i], C, F_PA, 100, 10 * US);
    }
    for (int i = 0; i < LEGIT; i++) {
        tx(&legit[i], C, F_FA, 0, 1 * MS);
        tx(&legit[i], S, F_A, 0, 1 * MS);
        tx(&legit[i], S, F_FA, 0, 1 * MS);
        tx(&legit[i], C, F_A, 0, 1 * MS);
    }
    finish_at(s, s->now);
    const flows_stats *st = flows_get_stats(s->t);
    EXPECT_TRUE(st->peak_alive <= 100);
    EXPECT_INT(st->evicted, FLOOD - (100 - LEGIT));
    for (int i = 0; i < LEGIT; i++) {
        const conn_record *r = row_by_cport(s, (uint16_t)(30000 + i));
        if (!r)
            continue;
        EXPECT_HS(r, "complete");
        EXPECT_TRUE(!(r->anomalies & ANOM_EVICTED));
        EXPECT_INT(r->packets_c2s, 4 + 4 + 2);
    }
    done();
}

/* Timers run on the newest timestamp seen: an older packet of another
 * connection does not bring back an expired TIME_WAIT. */
static void test_older_packet_does_not_bring_back_expired_time_wait(void **state)
{
    sim *s = *state;
    conv c, other;
    conv_init(&c, s);
    conv_init_ports(&other, s, 40001, 80, 1, 2);
    script_client_close(&c);
    tx(&other, C, F_PA, 1, 70 * SEC);
    assert_int_equal(s->nrec, 1);
    tx(&other, C, F_PA, 1, -40 * SEC); /* tm[3] + 30 s, out of order */
    finish_at(s, tm[3] + 70 * SEC + 5 * MS);
    assert_int_equal(s->nrec, 2);
    const conn_record *r = row_by_cport(s, 40000);
    EXPECT_TS(r->time_wait_end, tm[3] + 60 * SEC);
    EXPECT_TW_REASON(r, "expired");
    EXPECT_INT(flows_get_stats(s->t)->out_of_order, 1);
    done();
}

/* ---- main ---------------------------------------------------------------- */

/* ---- timers the wire does not show (SPEC §2) ------------------------------ */

/* SYNs at the given seconds after T0 (the first at 0), no answer; the row at
 * capture end `end_s`: the client's state. */
static const char *client_state_after_syns(sim *s, const double *at, int n, double end_s)
{
    conv c;
    sim_restart(s);
    conv_init(&c, s);
    for (int i = 0; i < n; i++)
        tx(&c, C, F_SYN, 0, i == 0 ? 0 : (int64_t)((at[i] - at[i - 1]) * 1e9));
    finish_at(s, T0 + (int64_t)(end_s * 1e9));
    const conn_record *r = only(s);
    EXPECT_HS(r, "syn_only");
    EXPECT_SSTATE(r, "LISTEN");
    return state_name(r->client_state);
}

#define EXPECT_CLIENT_AFTER_SYNS(s, at, end_s, want)                                               \
    do {                                                                                           \
        const char *got_ =                                                                         \
            client_state_after_syns(s, at, (int)(sizeof(at) / sizeof(at[0])), end_s);              \
        if (strcmp(got_, want) != 0)                                                               \
            soft_fail(__FILE__, __LINE__, "client at T0+%.1f s: %s, expected %s", (double)(end_s), \
                      got_, want);                                                                 \
    } while (0)

/* A client gave up when a SYN retransmission was due and did not come: one
 * gap and an eighth after its last SYN while the gaps are even and fewer
 * than four retries were sent (Linux 6.18), else two gaps and a quarter (the
 * gap doubles; 1 s for a lone SYN). */
static void test_unanswered_syn_client_gives_up_when_no_retransmission_comes(void **state)
{
    sim *s = *state;
    static const double lone[] = {0};
    EXPECT_CLIENT_AFTER_SYNS(s, lone, 2.2, "SYN_SENT");
    EXPECT_CLIENT_AFTER_SYNS(s, lone, 2.25, "CLOSED");
    static const double doubling[] = {0, 1, 3, 7}; /* next at 15: due by 7 + 2.25 * 4 */
    EXPECT_CLIENT_AFTER_SYNS(s, doubling, 15.9, "SYN_SENT");
    EXPECT_CLIENT_AFTER_SYNS(s, doubling, 16.0, "CLOSED");
    static const double linux618[] = {0, 1, 2, 3}; /* 1 s apart at first: next at 4 */
    EXPECT_CLIENT_AFTER_SYNS(s, linux618, 4.1, "SYN_SENT");
    EXPECT_CLIENT_AFTER_SYNS(s, linux618, 4.125, "CLOSED");
    static const double four_even[] = {0, 1, 2, 3, 4}; /* four retries: next at 6 */
    EXPECT_CLIENT_AFTER_SYNS(s, four_even, 6.2, "SYN_SENT");
    EXPECT_CLIENT_AFTER_SYNS(s, four_even, 6.25, "CLOSED");
    static const double uneven[] = {0, 1, 1.5}; /* gaps 1 and 0.5: doubling assumed */
    EXPECT_CLIENT_AFTER_SYNS(s, uneven, 2.6, "SYN_SENT");
    EXPECT_CLIENT_AFTER_SYNS(s, uneven, 2.625, "CLOSED");
    done();
}

/* Linux gives up 127 s after the first SYN (tcp_syn_retries = 6): its last
 * retransmission at 63 s would leave the client open until 189 s. */
static void test_unanswered_syn_client_gives_up_at_syn_timeout(void **state)
{
    sim *s = *state;
    static const double linux6[] = {0, 1, 3, 7, 15, 31, 63};
    EXPECT_CLIENT_AFTER_SYNS(s, linux6, 126.9, "SYN_SENT");
    EXPECT_CLIENT_AFTER_SYNS(s, linux6, 127.0, "CLOSED");
    done();
}

static int setup_no_unseen_timers(void **state)
{
    flows_config cfg;
    flows_config_default(&cfg);
    cfg.syn_timeout = 0;
    cfg.fin_timeout = 0;
    return sim_setup_with(state, &cfg);
}

static void test_unseen_timers_off_keep_syn_sent_and_fin_wait2(void **state)
{
    sim *s = *state;
    static const double lone[] = {0};
    EXPECT_CLIENT_AFTER_SYNS(s, lone, 1000, "SYN_SENT");
    conv c;
    sim_restart(s);
    conv_init(&c, s);
    open_conn(&c, 0);
    tx(&c, C, F_FA, 0, 1 * SEC);
    tx(&c, S, F_A, 0, 5 * MS);
    finish_at(s, s->now + 1000 * SEC);
    EXPECT_CSTATE(only(s), "FIN_WAIT2");
    done();
}

/* An endpoint in FIN_WAIT2 on a connection silent for tcp_fin_timeout
 * (60 s) was an orphan: CLOSED; its peer stays in CLOSE_WAIT. */
static void test_orphan_in_fin_wait2_is_closed_after_fin_timeout(void **state)
{
    sim *s = *state;
    for (int late = 0; late < 2; late++) {
        conv c;
        sim_restart(s);
        conv_init(&c, s);
        open_conn(&c, 0);
        tx(&c, C, F_FA, 0, 1 * SEC);
        int64_t t = tx(&c, S, F_A, 0, 5 * MS);
        finish_at(s, t + (late ? 60 * SEC : 60 * SEC - 1));
        const conn_record *r = only(s);
        EXPECT_CSTATE(r, late ? "CLOSED" : "FIN_WAIT2");
        EXPECT_SSTATE(r, "CLOSE_WAIT");
        EXPECT_TW_SIDE(r, "none");
    }
    done();
}

/* The FIN sent again before the other side acked it: the first was lost
 * after the capture point, and TIME_WAIT starts at the one delivered. */
static void test_time_wait_starts_at_the_fin_that_was_delivered(void **state)
{
    sim *s = *state;
    conv c;
    conv_init(&c, s);
    open_conn(&c, 0);
    tx(&c, C, F_FA, 0, 1 * SEC);
    tx(&c, S, F_A, 0, 5 * MS);
    uint32_t sfin = c.nxt[S];
    tx(&c, S, F_FA, 0, 1 * SEC);                         /* lost after the capture point */
    int64_t t2 = tx_seq(&c, S, F_FA, 0, 200 * MS, sfin); /* delivered */
    tx(&c, C, F_A, 0, 1 * MS);
    finish_at(s, t2 + 100 * SEC);
    const conn_record *r = only(s);
    EXPECT_TW_SIDE(r, "client");
    EXPECT_TS(r->time_wait_start, t2);
    EXPECT_TS(r->time_wait_end, t2 + 60 * SEC);
    EXPECT_INT(r->fin_retransmits, 1);
    done();
}

/* SPEC §2 (d of the conformance issue): a capture whose own clock steps back
 * by years (frames dated 2026, then 2023). Timers are armed and checked on
 * one clock: the later connection is neither split into midstream rows nor
 * ended as idle, and its TIME_WAIT expires 2*MSL after it began. */
static void test_clock_stepping_back_keeps_timers_on_one_clock(void **state)
{
    sim *s = *state;
    const int64_t years = INT64_C(3) * 365 * 86400 * SEC;
    conv a, b;
    conv_init_ports(&a, s, 40001, 80, 1000, 2000);
    s->now = T0 + years;
    script_client_close(&a); /* in 2026 */
    int64_t a_tw = tm[3];
    conv_init_ports(&b, s, 40002, 80, 3000, 4000);
    s->now = T0; /* back to 2023 */
    script_client_close(&b);
    int64_t b_tw = tm[3];
    tx(&b, C, F_A, 0, 100 * SEC); /* a stray ACK after TIME_WAIT ended */
    finish_at(s, s->now);
    EXPECT_INT(s->nrec, 3);
    EXPECT_INT(flows_get_stats(s->t)->clock_steps, 1);
    const conn_record *ra = row_by_cport(s, 40001);
    EXPECT_TW_SIDE(ra, "client");
    EXPECT_TS(ra->time_wait_start, a_tw);
    EXPECT_TS(ra->time_wait_end, a_tw + 60 * SEC);
    EXPECT_TW_REASON(ra, "expired");
    const conn_record *rb = row_by_id(s, 2);
    EXPECT_HS(rb, "complete");
    EXPECT_INITIATOR(rb, "client");
    EXPECT_TW_SIDE(rb, "client");
    EXPECT_TS(rb->time_wait_start, b_tw);
    EXPECT_TS(rb->time_wait_end, b_tw + 60 * SEC);
    EXPECT_TW_REASON(rb, "expired");
    EXPECT_ANOM(rb, "");
    EXPECT_INT(rb->packets_c2s, 6);              /* the last ACK too: not split off */
    EXPECT_INT(row_by_id(s, 3)->packets_c2s, 1); /* only the stray ACK */
    EXPECT_TRUE(rb->first_ts < a_tw);
    done();
}

/* A connection whose last packet is of the time line before a clock step
 * back is active "now" on the timers' clock, not in the future: evicting
 * the least recently active instance ends (a fuzzer found it looping). */
static void test_eviction_after_a_clock_step_ends(void **state)
{
    sim *s = *state; /* max_flows 2 */
    const int64_t years = INT64_C(3) * 365 * 86400 * SEC;
    conv a, b, c;
    conv_init_ports(&a, s, 40001, 80, 1, 2);
    conv_init_ports(&b, s, 40002, 80, 3, 4);
    conv_init_ports(&c, s, 40003, 80, 5, 6);
    s->now = T0 + years; /* two connections dated 2026 */
    tx(&a, C, F_PA, 10, 0);
    tx(&b, C, F_PA, 10, 1 * MS);
    s->now = T0; /* then 2023: a third, and one of the first two is evicted */
    tx(&c, C, F_PA, 10, 0);
    finish_at(s, s->now);
    EXPECT_INT(s->nrec, 3);
    EXPECT_INT(flows_get_stats(s->t)->evicted, 1);
    EXPECT_INT(flows_get_stats(s->t)->clock_steps, 1);
    done();
}

/* After a step back, a TIME_WAIT cut by the end of the capture ends at the
 * last packet's time of the time line it is in, not at the latest
 * timestamp of the file (years later). */
static void test_time_wait_cut_after_a_clock_step_ends_in_its_time_line(void **state)
{
    sim *s = *state;
    const int64_t years = INT64_C(3) * 365 * 86400 * SEC;
    conv a, b;
    conv_init_ports(&a, s, 40001, 80, 1000, 2000);
    s->now = T0 + years;
    script_client_close(&a);
    conv_init_ports(&b, s, 40002, 80, 3000, 4000);
    s->now = T0;
    script_client_close(&b);
    int64_t b_tw = tm[3], b_last = tm[4];
    finish_at(s, T0 + years + 90 * SEC); /* the file's latest timestamp */
    const conn_record *r = row_by_cport(s, 40002);
    EXPECT_TW_SIDE(r, "client");
    EXPECT_TW_REASON(r, "capture_end");
    EXPECT_TS(r->time_wait_start, b_tw);
    EXPECT_TS(r->time_wait_end, b_last);
    const conn_record *ra = row_by_cport(s, 40001); /* of 2026: censored at its own end */
    EXPECT_TW_REASON(ra, "capture_end");
    EXPECT_TRUE(ra->time_wait_end >= ra->time_wait_start);
    EXPECT_TS(ra->time_wait_end, ra->last_ts);
    done();
}

#define T(f)         cmocka_unit_test_setup_teardown(f, sim_setup, sim_teardown)
#define TC(f, setup) cmocka_unit_test_setup_teardown(f, setup, sim_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_default_config_has_30_s_msl_and_default_max_flows,
                               checks_setup),
        T(test_time_wait_expires_after_two_msl_within_capture),
        T(test_time_wait_expiry_boundary_at_capture_end),
        T(test_time_wait_cut_by_capture_end),
        T(test_retransmitted_fin_in_time_wait_restarts_timer),
        T(test_older_packet_does_not_bring_back_expired_time_wait),
        TC(test_msl_option_sets_time_wait_length, setup_msl_5s),
        TC(test_idle_timeout_ends_instance, setup_idle_timeout_10s),
        TC(test_max_flows_evicts_an_instance, setup_max_flows_2),
        TC(test_syn_flood_evicts_attempts_before_answered_connections, setup_max_flows_100),
        T(test_unanswered_syn_client_gives_up_when_no_retransmission_comes),
        T(test_unanswered_syn_client_gives_up_at_syn_timeout),
        TC(test_unseen_timers_off_keep_syn_sent_and_fin_wait2, setup_no_unseen_timers),
        T(test_orphan_in_fin_wait2_is_closed_after_fin_timeout),
        T(test_time_wait_starts_at_the_fin_that_was_delivered),
        T(test_clock_stepping_back_keeps_timers_on_one_clock),
        TC(test_eviction_after_a_clock_step_ends, setup_max_flows_2),
        T(test_time_wait_cut_after_a_clock_step_ends_in_its_time_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
