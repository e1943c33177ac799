/*
 * test_flows_zeek: Zeek's vocabulary in a row (issue 15): conn.log's
 * conn_state, every one of its 13 values, and its history, every letter
 * synfin writes (s h a d f r i q, upper case for the originator, again on
 * another sequence number, `^` for flipped roles), with synfin's client as
 * Zeek's originator.
 *
 * Written from Zeek's documentation of conn.log and its conn_state()
 * (README "The CSV" has the rules); the simulated table, the conversations
 * (client 10.0.0.1:40000, server 10.0.0.2:80) and the soft checks are in
 * flowsim.h.
 */
#include "flowsim.h"

static const char *history_of(const conn_record *r)
{
    static char text[HISTORY_TEXT_MAX + 1];
    conn_history_text(r->history, r->history_flipped, text);
    return text;
}

#define EXPECT_ZEEK(r, state, hist)                                                                \
    do {                                                                                           \
        EXPECT_NAME(conn_zeek_state_name, (r)->zeek_state, state);                                 \
        const char *h_ = history_of(r);                                                            \
        if (strcmp(h_, (hist)) != 0)                                                               \
            soft_fail(__FILE__, __LINE__, "history = \"%s\", expected \"%s\"", h_, (hist));        \
    } while (0)

static const conn_record *end(sim *s)
{
    finish_at(s, s->now + 1 * SEC);
    return only(s);
}

/* ---- conn_state ------------------------------------------------------------ */

static void test_s0_attempt_without_reply(void **state)
{
    sim *s = *state;
    conv c;
    conv_init(&c, s);
    tx(&c, C, F_SYN, 0, 0);
    tx(&c, C, F_SYN, 0, 1 * SEC); /* the same ISN again: no letter */
    EXPECT_ZEEK(end(s), "S0", "S");
    done();
}

static void test_s1_established_not_closed(void **state)
{
    sim *s = *state;
    conv c;
    conv_init(&c, s);
    open_conn(&c, 0);
    tx(&c, S, F_A, 0, 1 * MS);
    EXPECT_ZEEK(end(s), "S1", "ShADda");
    done();
}

/* Zeek establishes both sides at the SYN-ACK: the handshake's last ACK
 * (synfin's no_ack) is not needed. */
static void test_s1_needs_no_final_ack(void **state)
{
    sim *s = *state;
    conv c;
    conv_init(&c, s);
    tx(&c, C, F_SYN, 0, 0);
    tx(&c, S, F_SA, 0, 1 * MS);
    const conn_record *r = end(s);
    EXPECT_HS(r, "no_ack");
    EXPECT_ZEEK(r, "S1", "Sh");
    done();
}

static void test_sf_normal_close(void **state)
{
    sim *s = *state;
    conv c;
    conv_init(&c, s);
    script_client_close(&c);
    EXPECT_ZEEK(end(s), "SF", "ShADdFaf");
    done();
}

/* Crossed FINs: synfin's closing and close_initiator say it; Zeek's SF. */
static void test_sf_crossed_close_stays_zeeks(void **state)
{
    sim *s = *state;
    conv c;
    conv_init(&c, s);
    script_crossed(&c);
    const conn_record *r = end(s);
    EXPECT_INITIATOR(r, "both");
    EXPECT_INT(r->closing, 2);
    EXPECT_ZEEK(r, "SF", "ShADdFfa");
    done();
}

static void test_rej_refused(void **state)
{
    sim *s = *state;
    conv c;
    conv_init(&c, s);
    tx(&c, C, F_SYN, 0, 0);
    tx(&c, S, F_RA, 0, 1 * MS);
    EXPECT_ZEEK(end(s), "REJ", "Sr");
    done();
}

static void test_s2_and_s3_one_sided_close(void **state)
{
    sim *s = *state;
    conv c;
    conv_init(&c, s);
    open_conn(&c, 0);
    tx(&c, C, F_FA, 0, 1 * MS);
    EXPECT_ZEEK(end(s), "S2", "ShADdF");
    sim_restart(s);
    conv_init(&c, s);
    open_conn(&c, 0);
    tx(&c, S, F_FA, 0, 1 * MS);
    EXPECT_ZEEK(end(s), "S3", "ShADdf");
    done();
}

static void test_rsto_and_rstr(void **state)
{
    sim *s = *state;
    conv c;
    conv_init(&c, s);
    open_conn(&c, 0);
    tx(&c, C, F_RA, 0, 1 * MS);
    EXPECT_ZEEK(end(s), "RSTO", "ShADdR");
    sim_restart(s);
    conv_init(&c, s);
    open_conn(&c, 0);
    tx(&c, S, F_RA, 0, 1 * MS);
    EXPECT_ZEEK(end(s), "RSTR", "ShADdr");
    done();
}

/* An RST synfin ignores (outside the window) is one to Zeek: conn_state
 * stays Zeek's, synfin's anomaly tells the difference. */
static void test_rstr_for_an_ignored_rst(void **state)
{
    sim *s = *state;
    conv c;
    conv_init(&c, s);
    open_conn(&c, 0);
    tx_seq(&c, S, F_R, 0, 1 * MS, c.nxt[S] + 0x40000000u);
    const conn_record *r = end(s);
    EXPECT_ANOM(r, "rst_out_of_window");
    EXPECT_CSTATE(r, "ESTABLISHED");
    EXPECT_ZEEK(r, "RSTR", "ShADdr");
    done();
}

static void test_rstos0_syn_then_rst(void **state)
{
    sim *s = *state;
    conv c;
    conv_init(&c, s);
    tx(&c, C, F_SYN, 0, 0);
    tx(&c, C, F_R, 0, 1 * MS);
    EXPECT_ZEEK(end(s), "RSTOS0", "SR");
    done();
}

/* The SYN-ACK's sender is the server: it sent the first packet, so the
 * roles are flipped against the first sender (`^`). */
static void test_rstrh_and_shr_synack_without_syn(void **state)
{
    sim *s = *state;
    conv c;
    conv_init(&c, s);
    tx(&c, S, F_SA, 0, 0);
    tx(&c, S, F_R, 0, 1 * MS);
    const conn_record *r = end(s);
    EXPECT_ROLE(r, "synack");
    EXPECT_ZEEK(r, "RSTRH", "^hr");
    sim_restart(s);
    conv_init(&c, s);
    tx(&c, S, F_SA, 0, 0);
    tx(&c, S, F_FA, 0, 1 * MS);
    EXPECT_ZEEK(end(s), "SHR", "^hf");
    done();
}

static void test_sh_syn_then_fin(void **state)
{
    sim *s = *state;
    conv c;
    conv_init(&c, s);
    tx(&c, C, F_SYN, 0, 0);
    tx(&c, C, DISSECT_FIN, 0, 1 * MS);
    EXPECT_ZEEK(end(s), "SH", "SF");
    done();
}

/* Midstream: both sides partial; the first sender is the server (the
 * lower port), so the roles are flipped. */
static void test_oth_midstream(void **state)
{
    sim *s = *state;
    conv c;
    conv_init(&c, s);
    tx(&c, S, F_PA, 100, 0);
    tx(&c, C, F_A, 0, 1 * MS);
    const conn_record *r = end(s);
    EXPECT_HS(r, "midstream");
    EXPECT_ZEEK(r, "OTH", "^dA");
    sim_restart(s);
    conv_init(&c, s);
    tx(&c, C, F_PA, 100, 0);
    tx(&c, S, F_A, 0, 1 * MS);
    EXPECT_ZEEK(end(s), "OTH", "Da");
    done();
}

/* Both FINs, then an RST: Zeek keeps SF. A FIN, an RST, then the peer's
 * FIN: the RST was part of a normal close, SF too. */
static void test_rst_after_the_fins_is_sf(void **state)
{
    sim *s = *state;
    conv c;
    conv_init(&c, s);
    open_conn(&c, 0);
    tx(&c, C, F_FA, 0, 1 * MS);
    tx(&c, S, F_FA, 0, 1 * MS);
    tx(&c, C, F_R, 0, 1 * MS);
    EXPECT_ZEEK(end(s), "SF", "ShADdFfR");
    sim_restart(s);
    conv_init(&c, s);
    open_conn(&c, 0);
    tx(&c, C, F_FA, 0, 1 * MS);
    tx(&c, C, F_R, 0, 1 * MS);
    tx(&c, S, F_FA, 0, 1 * MS);
    EXPECT_ZEEK(end(s), "SF", "ShADdFRf");
    done();
}

/* ---- letters ------------------------------------------------------------- */

static void test_i_and_q_multi_flag_segments(void **state)
{
    sim *s = *state;
    conv c;
    conv_init(&c, s);
    open_conn(&c, 0);
    tx(&c, C, DISSECT_FIN | DISSECT_RST | DISSECT_ACK, 0, 1 * MS);
    tx(&c, C, DISSECT_FIN | DISSECT_RST | DISSECT_ACK, 0, 1 * MS); /* once per direction */
    EXPECT_ZEEK(end(s), "RSTO", "ShADdI");
    sim_restart(s);
    conv_init(&c, s);
    tx(&c, C, DISSECT_SYN | DISSECT_FIN, 0, 0);
    /* the client's SYN and FIN: SYN sent, then closed; the server's SYN
     * establishes it, its RST resets it */
    tx(&c, S, DISSECT_SYN | DISSECT_RST | DISSECT_ACK, 0, 1 * MS);
    EXPECT_ZEEK(end(s), "RSTR", "Qq");
    done();
}

/* s, f, r again when the sequence number is another; a and d once. */
static void test_letters_again_on_another_sequence_number(void **state)
{
    sim *s = *state;
    conv c;
    conv_init(&c, s);
    open_conn(&c, 0);
    tx(&c, C, F_PA, 10, 1 * MS);
    tx(&c, S, F_A, 0, 1 * MS);
    tx(&c, S, F_A, 0, 1 * MS);
    tx_seq(&c, C, F_SYN, 0, 1 * MS, c.isn[C] + 0x10000u); /* a SYN with another ISN */
    uint32_t fin = c.nxt[C];
    tx(&c, C, F_FA, 0, 1 * MS);
    tx_seq(&c, C, F_FA, 0, 1 * MS, fin);     /* the same FIN again */
    tx_seq(&c, C, F_FA, 5, 1 * MS, fin + 1); /* data after it and another FIN */
    tx(&c, S, F_RA, 0, 1 * MS);
    tx(&c, S, F_RA, 0, 1 * MS);                     /* the same RST again */
    tx_seq(&c, S, F_R, 0, 1 * MS, c.nxt[S] + 1000); /* another one */
    EXPECT_ZEEK(end(s), "RSTR", "ShADdaSFFrr");
    done();
}

/* At most HISTORY_MAX letters: the later ones are dropped, conn_state
 * still follows every segment. */
static void test_history_keeps_fifteen_letters(void **state)
{
    sim *s = *state;
    conv c;
    conv_init(&c, s);
    open_conn(&c, 0);
    for (uint32_t i = 1; i <= 12; i++)
        tx_seq(&c, S, F_R, 0, 1 * MS, c.nxt[S] + 1000 * i);
    tx(&c, C, F_FA, 0, 1 * MS);
    const conn_record *r = end(s);
    EXPECT_INT(r->history & 0xf, 15);
    EXPECT_ZEEK(r, "RSTR", "ShADdrrrrrrrrrr");
    done();
}

/* The roles a row decides late (--server, shared endpoints) swap the
 * letters' case with them. */
static void test_roles_decided_at_the_row_keep_the_letters(void **state)
{
    (void)state;
    flows_server srv = {.addr = {10, 0, 0, 1}, .ip_version = 4, .port = 40000};
    flows_config cfg;
    flows_config_default(&cfg);
    cfg.servers = &srv;
    cfg.n_servers = 1;
    sim sm;
    sim_init(&sm, &cfg);
    conv c;
    conv_init(&c, &sm);
    tx(&c, C, F_PA, 100, 0); /* 10.0.0.1:40000 is the server after all */
    tx(&c, S, F_A, 0, 1 * MS);
    finish_at(&sm, sm.now + 1 * SEC);
    const conn_record *r = only(&sm);
    EXPECT_ROLE(r, "listener");
    EXPECT_ZEEK(r, "OTH", "^dA");
    sim_free(&sm);
    done();
}

static void test_zeek_state_names(void **state)
{
    (void)state;
    static const char *const names[] = {"S0",   "S1",     "SF",    "REJ", "S2",  "S3", "RSTO",
                                        "RSTR", "RSTOS0", "RSTRH", "SH",  "SHR", "OTH"};
    assert_int_equal(ZEEK_STATE_COUNT, 13);
    for (unsigned i = 0; i < ZEEK_STATE_COUNT; i++)
        EXPECT_NAME(conn_zeek_state_name, (conn_zeek_state)i, names[i]);
    done();
}

/* ---- main ---------------------------------------------------------------- */

#define T(f) cmocka_unit_test_setup_teardown(f, sim_setup, sim_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_zeek_state_names, checks_setup),
        T(test_s0_attempt_without_reply),
        T(test_s1_established_not_closed),
        T(test_s1_needs_no_final_ack),
        T(test_sf_normal_close),
        T(test_sf_crossed_close_stays_zeeks),
        T(test_rej_refused),
        T(test_s2_and_s3_one_sided_close),
        T(test_rsto_and_rstr),
        T(test_rstr_for_an_ignored_rst),
        T(test_rstos0_syn_then_rst),
        T(test_rstrh_and_shr_synack_without_syn),
        T(test_sh_syn_then_fin),
        T(test_oth_midstream),
        T(test_rst_after_the_fins_is_sf),
        T(test_i_and_q_multi_flag_segments),
        T(test_letters_again_on_another_sequence_number),
        T(test_history_keeps_fifteen_letters),
        cmocka_unit_test_setup(test_roles_decided_at_the_row_keep_the_letters, checks_setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
