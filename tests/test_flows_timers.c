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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
