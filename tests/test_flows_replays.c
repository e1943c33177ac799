/*
 * test_flows_replays: whole captures through libpcap + dissect + flows.
 *
 * - The behaviour samples (samples/NAME.pcap, listed in samples/README.md):
 *   every link type and file format gives the "standard" row, and each
 *   opening, closing and TIME_WAIT ending gives the row the README
 *   describes.
 * - Random traffic from the generator (samples/gen.h): the invariants every
 *   row must satisfy and the generator's truth for each instance, the same
 *   rows with every packet copied by a SPAN port, and the same rows when
 *   the segments are prepared and replayed in chunks.
 *
 * Each replay builds its own table (several per test), so the fixture only
 * resets the soft checks.
 */
#include "flowsim.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <pcap/pcap.h>

#include "gen.h"

/* ---- captures: libpcap -> dissect -> flows ---------------------------------- */

#define SAMPLES SYNFIN_SOURCE_DIR "/samples/"

typedef struct replay {
    sim s;
    int64_t first_ts, last_ts;
    uint64_t records;
    uint64_t result[DISSECT_RESULT_COUNT];
} replay;

/* Replays a capture file at nanosecond precision; the capture end is its
 * last packet. Returns 0, or -1 when libpcap cannot open it. */
static int replay_file(const char *path, replay *rp, const flows_config *cfg)
{
    char errbuf[PCAP_ERRBUF_SIZE];
    memset(rp, 0, sizeof *rp);
    pcap_t *p = pcap_open_offline_with_tstamp_precision(path, PCAP_TSTAMP_PRECISION_NANO, errbuf);
    if (!p) {
        print_error("%s: %s\n", path, errbuf);
        return -1;
    }
    sim_init(&rp->s, cfg);
    uint32_t linktype = (uint32_t)pcap_datalink(p);
    struct pcap_pkthdr *h;
    const u_char *data;
    int rc;
    while ((rc = pcap_next_ex(p, &h, &data)) == 1) {
        int64_t ts = (int64_t)h->ts.tv_sec * SEC + (int64_t)h->ts.tv_usec;
        if (rp->records == 0)
            rp->first_ts = ts;
        if (ts > rp->last_ts)
            rp->last_ts = ts;
        rp->records++;
        dissect_segment g;
        dissect_result dr = dissect_packet(linktype, data, h->caplen, h->len, &g);
        rp->result[dr]++;
        if (dr == DISSECT_OK)
            feed(&rp->s, &g, ts);
    }
    pcap_close(p);
    if (rp->records)
        finish_at(&rp->s, rp->last_ts);
    return 0;
}

/* Rows in conn_id order (instances in order of first packet). */
static int cmp_id(const void *a, const void *b)
{
    const conn_record *x = a, *y = b;
    return x->conn_id < y->conn_id ? -1 : x->conn_id > y->conn_id;
}

static void sort_rows(sim *s)
{
    if (s->nrec)
        qsort(s->rec, s->nrec, sizeof *s->rec, cmp_id);
}

/* Seconds + microseconds, as the README writes µs timestamps. */
#define TS_US(sec, usec) ((int64_t)(sec)*SEC + (int64_t)(usec)*1000)
#define NA               INT64_C(-1)

/* One expected row of a sample (strings as in the CSV; NULL or NA: not
 * checked). tw_s is time_wait_end - time_wait_start. */
typedef struct expect {
    const char *hs, *ci, *ct;
    int closing;
    const char *tws, *reason;
    int64_t tw_s, tw_start;
    const char *cst, *sst;
    int64_t pc, ps, bc, bs;
    const char *anoms;
} expect;

/* "standard" in samples/README.md: the client closes, the capture ends with
 * its last ACK. */
static expect standard(void)
{
    expect e = {"complete",  "client", "fin", 0, "client", "capture_end", 23417 * US, NA,
                "TIME_WAIT", "CLOSED", 6,     5, 329,      417,           ""};
    return e;
}

static void check_row(const conn_record *r, const expect *e)
{
    if (e->hs)
        EXPECT_HS(r, e->hs);
    if (e->ci)
        EXPECT_INITIATOR(r, e->ci);
    if (e->ct)
        EXPECT_CLOSE(r, e->ct);
    if (e->closing >= 0)
        EXPECT_INT(r->closing, e->closing);
    if (e->tws)
        EXPECT_TW_SIDE(r, e->tws);
    if (e->reason)
        EXPECT_TW_REASON(r, e->reason);
    if (e->tw_s != NA && r->time_wait_side != SIDE_NONE)
        EXPECT_DUR(r->time_wait_end - r->time_wait_start, e->tw_s);
    if (e->tw_start != NA)
        EXPECT_TS(r->time_wait_start, e->tw_start);
    if (e->cst)
        EXPECT_CSTATE(r, e->cst);
    if (e->sst)
        EXPECT_SSTATE(r, e->sst);
    if (e->pc != NA)
        EXPECT_INT(r->packets_c2s, e->pc);
    if (e->ps != NA)
        EXPECT_INT(r->packets_s2c, e->ps);
    if (e->bc != NA)
        EXPECT_INT(r->bytes_c2s, e->bc);
    if (e->bs != NA)
        EXPECT_INT(r->bytes_s2c, e->bs);
    if (e->anoms)
        EXPECT_ANOM(r, e->anoms);
}

/* Replays samples/<name>; its rows, sorted by conn_id, must number n. */
static void load_sample(const char *name, replay *rp, size_t n)
{
    char path[512];
    snprintf(path, sizeof path, "%s%s", SAMPLES, name);
    if (access(path, R_OK) != 0) {
        print_error("missing sample %s\n", path);
        fail();
    }
    assert_int_equal(replay_file(path, rp, NULL), 0);
    sort_rows(&rp->s);
    if (rp->s.nrec != n)
        print_error("%s: %zu rows, expected %zu\n", name, rp->s.nrec, n);
    assert_int_equal(rp->s.nrec, n);
    print_message("    %s\n", name);
}

/* A sample with one row that must match `e`. */
static void one_sample(const char *name, const expect *e)
{
    replay rp;
    load_sample(name, &rp, 1);
    check_row(&rp.s.rec[0], e);
    sim_free(&rp.s);
}

static void test_link_type_and_format_samples_give_the_standard_row(void **state)
{
    (void)state;
    expect e = standard();
    static const char *const plain[] = {"link_vlan.pcap",  "link_qinq.pcap",   "link_sll.pcap",
                                        "link_sll2.pcap",  "link_ipv4.pcap",   "link_loop.pcap",
                                        "vlan_close.pcap", "close_client.pcap"};
    for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++)
        one_sample(plain[i], &e);

    replay rp;
    e.tw_start = TS_US(1700000000, 174875);
    load_sample("link_ethernet.pcap", &rp, 1);
    check_row(&rp.s.rec[0], &e);
    EXPECT_INT(rp.s.rec[0].ip_version, 4);
    EXPECT_ROLE(&rp.s.rec[0], "syn");
    conn_record ref = rp.s.rec[0];
    sim_free(&rp.s);

    load_sample("pcap_bigendian.pcap", &rp, 1);
    expect_same_row(&rp.s.rec[0], &ref);
    EXPECT_TS(rp.s.rec[0].last_ts, ref.last_ts);
    sim_free(&rp.s);

    e = standard();
    load_sample("link_ipv6.pcap", &rp, 1);
    check_row(&rp.s.rec[0], &e);
    EXPECT_INT(rp.s.rec[0].ip_version, 6);
    sim_free(&rp.s);
    load_sample("ipv6_close.pcap", &rp, 1);
    check_row(&rp.s.rec[0], &e);
    EXPECT_INT(rp.s.rec[0].ip_version, 6);
    sim_free(&rp.s);

    /* Two connections, IPv4 then IPv6; the IPv4 TIME_WAIT is cut by the
     * IPv6 connection's last packet. */
    static const char *const two[] = {"link_raw.pcap", "link_null.pcap", "link_null_swapped.pcap"};
    for (size_t i = 0; i < sizeof two / sizeof two[0]; i++) {
        load_sample(two[i], &rp, 2);
        expect e4 = standard();
        e4.tw_s = 1100367 * US;
        check_row(&rp.s.rec[0], &e4);
        EXPECT_INT(rp.s.rec[0].ip_version, 4);
        EXPECT_TS(rp.s.rec[0].time_wait_end, TS_US(1700000001, 275242));
        e = standard();
        check_row(&rp.s.rec[1], &e);
        EXPECT_INT(rp.s.rec[1].ip_version, 6);
        sim_free(&rp.s);
    }

    /* Nanosecond file: 9 decimals survive. */
    load_sample("pcap_nsec.pcap", &rp, 1);
    e = standard();
    e.tw_s = 23417283;
    e.tw_start = INT64_C(1700000000174875555);
    check_row(&rp.s.rec[0], &e);
    EXPECT_TS(rp.s.rec[0].first_ts, INT64_C(1700000000123456789));
    EXPECT_TS(rp.s.rec[0].time_wait_end, INT64_C(1700000000198292838));
    sim_free(&rp.s);

    /* Non-TCP packets around one connection. */
    load_sample("mixed_nontcp.pcap", &rp, 1);
    e = standard();
    e.tw_s = 23418 * US;
    e.tw_start = TS_US(1700000000, 176926);
    check_row(&rp.s.rec[0], &e);
    EXPECT_INT(rp.records, 16);
    EXPECT_INT(rp.result[DISSECT_OK], 11);
    EXPECT_INT(rp.result[DISSECT_NOT_IP], 1);
    EXPECT_INT(rp.result[DISSECT_NOT_TCP], 2);
    EXPECT_INT(rp.result[DISSECT_FRAGMENT], 1);
    EXPECT_INT(rp.result[DISSECT_TRUNCATED], 1);
    sim_free(&rp.s);

    /* PPPoE and MPLS: standard when decoded, else no row at all. */
    static const char *const opt[] = {"link_pppoe.pcap", "link_mpls.pcap"};
    for (size_t i = 0; i < 2; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s%s", SAMPLES, opt[i]);
        assert_int_equal(replay_file(path, &rp, NULL), 0);
        print_message("    %s: %zu row(s)\n", opt[i], rp.s.nrec);
        EXPECT_TRUE(rp.s.nrec <= 1);
        if (rp.s.nrec == 1) {
            e = standard();
            check_row(&rp.s.rec[0], &e);
        } else {
            EXPECT_INT(rp.result[DISSECT_NOT_IP], rp.records);
        }
        sim_free(&rp.s);
    }
    done();
}

static void test_opening_samples_give_their_readme_rows(void **state)
{
    (void)state;
    replay rp;
    expect e = {"complete",    "none",        "none", 0, "none", "",   NA, NA,
                "ESTABLISHED", "ESTABLISHED", 6,      5, 630,    1279, ""};
    one_sample("handshake_complete.pcap", &e);

    load_sample("handshake_syn_only.pcap", &rp, 1);
    expect so = {"syn_only", "none", "none", 0, "none", "", NA, NA,
                 "SYN_SENT", NULL,   3,      0, 0,      0,  ""};
    check_row(&rp.s.rec[0], &so);
    EXPECT_INT(rp.s.rec[0].syn_retransmits, 2);
    {
        const char *sst = state_name(rp.s.rec[0].server_state);
        EXPECT_TRUE(strcmp(sst, "LISTEN") == 0 || strcmp(sst, "CLOSED") == 0);
    }
    sim_free(&rp.s);

    load_sample("handshake_no_ack.pcap", &rp, 1);
    expect na = {"no_ack",      "none",     "none", 0, "none", "", NA, NA,
                 "ESTABLISHED", "SYN_RCVD", 1,      2, 0,      0,  ""};
    check_row(&rp.s.rec[0], &na);
    EXPECT_INT(rp.s.rec[0].synack_retransmits, 1);
    sim_free(&rp.s);

    expect rf = {"refused", "server", "rst", 0, "none", "", NA, NA,
                 "CLOSED",  "CLOSED", 1,     1, 0,      0,  ""};
    one_sample("handshake_refused.pcap", &rf);

    load_sample("simultaneous_open.pcap", &rp, 1);
    e = standard();
    e.hs = "simultaneous_open";
    e.pc = e.ps = 6;
    e.bc = e.bs = NA;
    check_row(&rp.s.rec[0], &e);
    EXPECT_ROLE(&rp.s.rec[0], "syn");
    EXPECT_INT(rp.s.rec[0].client_port, 40000);
    EXPECT_INT(rp.s.rec[0].server_port, 50000);
    sim_free(&rp.s);

    load_sample("midstream.pcap", &rp, 1);
    e = standard();
    e.hs = "midstream";
    e.pc = e.ps = 6;
    e.bc = 630;
    e.bs = 1279;
    check_row(&rp.s.rec[0], &e);
    EXPECT_ROLE(&rp.s.rec[0], "port");
    EXPECT_INT(rp.s.rec[0].client_port, 40000);
    sim_free(&rp.s);

    e = standard();
    e.pc = e.ps = 4;
    e.bc = 100;
    e.anoms = "syn_with_data";
    one_sample("syn_with_data.pcap", &e);
    done();
}

static void test_closing_samples_give_their_readme_rows(void **state)
{
    (void)state;
    replay rp;
    expect e = {"complete", "server",
                "fin",      0,
                "server",   "capture_end",
                42 * US,    TS_US(1700000000, 172014),
                "CLOSED",   "TIME_WAIT",
                5,          5,
                NA,         NA,
                ""};
    one_sample("close_server.pcap", &e);

    e = standard();
    e.tw_s = 23418 * US;
    e.tw_start = TS_US(1700000000, 174707);
    e.pc = 6;
    e.ps = 4;
    one_sample("close_three_way.pcap", &e);

    expect x = {"complete",  "both",
                "fin",       2,
                "both",      "capture_end",
                311 * US,    TS_US(1700000000, 186630),
                "TIME_WAIT", "TIME_WAIT",
                NA,          NA,
                NA,          NA,
                ""};
    one_sample("crossed_fins.pcap", &x);

    load_sample("crossed_fins_bsd.pcap", &rp, 1);
    x.tw_s = 10718 * US;
    x.pc = 7;
    x.ps = 5;
    check_row(&rp.s.rec[0], &x);
    EXPECT_INT(rp.s.rec[0].fin_retransmits, 1);
    sim_free(&rp.s);

    load_sample("fin_lost.pcap", &rp, 1);
    expect l = {"complete",  "both",
                "fin",       1,
                "both",      "capture_end",
                23418 * US,  TS_US(1700000000, 374611),
                "TIME_WAIT", "TIME_WAIT",
                7,           5,
                NA,          NA,
                ""};
    check_row(&rp.s.rec[0], &l);
    EXPECT_INT(rp.s.rec[0].fin_retransmits, 1);
    sim_free(&rp.s);

    e = standard();
    e.tw_s = 23418 * US;
    e.tw_start = TS_US(1700000000, 225120);
    e.pc = 8;
    e.ps = 6;
    e.bs = 4344;
    one_sample("half_close.pcap", &e);

    e = standard();
    e.tw_s = 23418 * US;
    e.pc = 7;
    e.ps = 6;
    e.bc = 429;
    e.anoms = "data_after_fin";
    one_sample("data_after_fin.pcap", &e);

    expect rc = {"complete", "client", "rst", 0, "none", "", NA, NA,
                 "CLOSED",   "CLOSED", 5,     3, NA,     NA, ""};
    one_sample("rst_client.pcap", &rc);
    expect rs = {"complete", "server", "rst", 0, "none", "", NA, NA,
                 "CLOSED",   "CLOSED", 4,     4, NA,     NA, ""};
    one_sample("rst_server.pcap", &rs);

    e = standard();
    e.tw_start = TS_US(1700000001, 12476);
    e.pc = e.ps = 8;
    e.bc = 630;
    e.bs = 1279;
    e.anoms = "rst_out_of_window";
    one_sample("rst_out_of_window.pcap", &e);

    rs.pc = rs.ps = NA;
    rs.anoms = "rst_ttl_changed";
    one_sample("rst_ttl_changed.pcap", &rs);
    done();
}

static void test_time_wait_ending_samples_give_their_readme_rows(void **state)
{
    (void)state;
    replay rp;
    load_sample("tw_expired.pcap", &rp, 2);
    expect e = standard();
    e.reason = "expired";
    e.tw_s = 60 * SEC;
    e.tw_start = TS_US(1700000000, 174875);
    e.cst = "CLOSED";
    check_row(&rp.s.rec[0], &e);
    EXPECT_TS(rp.s.rec[0].time_wait_end, TS_US(1700000060, 174875));
    e = standard();
    e.tw_start = TS_US(1700000070, 226294);
    check_row(&rp.s.rec[1], &e);
    EXPECT_INT(rp.s.rec[1].client_ip[2], 0);
    EXPECT_INT(rp.s.rec[1].client_ip[3], 3);
    EXPECT_INT(rp.s.rec[1].client_port, 40001);
    sim_free(&rp.s);

    load_sample("tw_reused.pcap", &rp, 2);
    e = standard();
    e.reason = "reused";
    e.tw_s = 5 * SEC;
    e.tw_start = TS_US(1700000000, 174875);
    e.cst = "CLOSED"; /* TIME_WAIT -> CLOSED: a new SYN reuses the 4-tuple */
    check_row(&rp.s.rec[0], &e);
    EXPECT_TS(rp.s.rec[0].time_wait_end, TS_US(1700000005, 174875));
    e = standard();
    e.tw_start = TS_US(1700000005, 226294);
    e.bc = 301;
    e.bs = 862;
    check_row(&rp.s.rec[1], &e);
    EXPECT_INT(rp.s.rec[1].client_port, rp.s.rec[0].client_port);
    EXPECT_TS(rp.s.rec[1].first_ts, rp.s.rec[0].time_wait_end);
    sim_free(&rp.s);

    load_sample("tw_restarted.pcap", &rp, 2);
    e = standard();
    e.reason = "expired";
    e.tw_s = 80 * SEC;
    e.tw_start = TS_US(1700000000, 174875);
    e.cst = "CLOSED";
    e.pc = 7;
    e.ps = 6;
    check_row(&rp.s.rec[0], &e);
    EXPECT_TS(rp.s.rec[0].time_wait_end, TS_US(1700000080, 174875));
    EXPECT_INT(rp.s.rec[0].fin_retransmits, 1);
    e = standard();
    check_row(&rp.s.rec[1], &e);
    sim_free(&rp.s);
    done();
}

static void test_seq_wrap_and_busy_server_samples_give_their_readme_rows(void **state)
{
    (void)state;
    expect e = standard();
    e.tw_start = TS_US(1700000000, 200036);
    e.pc = 8;
    e.ps = 7;
    e.bc = 630;
    e.bs = 1279;
    one_sample("seq_wrap.pcap", &e);

    /* busy_server: 60 rows of known kinds. */
    replay rp;
    load_sample("busy_server.pcap", &rp, 60);
    int server_closed = 0, server_expired = 0, server_cut = 0, client_closed = 0,
        client_expired = 0, client_cut = 0, crossed = 0, crossed_expired = 0, rst_server = 0,
        rst_client = 0, refused = 0;
    for (size_t i = 0; i < rp.s.nrec; i++) {
        const conn_record *r = &rp.s.rec[i];
        int64_t tw = r->time_wait_end - r->time_wait_start;
        if (r->handshake == HS_REFUSED) {
            refused++;
            EXPECT_INT(r->server_port, 8080);
        } else if (r->close_type == CLOSE_RST) {
            rst_server += r->close_initiator == SIDE_SERVER;
            rst_client += r->close_initiator == SIDE_CLIENT;
            EXPECT_INT(r->time_wait_side, SIDE_NONE);
        } else if (r->close_initiator == SIDE_BOTH) {
            crossed++;
            EXPECT_INT(r->closing, 2);
            EXPECT_INT(r->time_wait_side, SIDE_BOTH);
            crossed_expired += r->time_wait_end_reason == TW_EXPIRED;
        } else if (r->close_initiator == SIDE_SERVER) {
            server_closed++;
            EXPECT_INT(r->time_wait_side, SIDE_SERVER);
            EXPECT_INT(r->closing, 0);
            if (r->time_wait_end_reason == TW_EXPIRED) {
                server_expired++;
                EXPECT_DUR(tw, 60 * SEC);
            } else {
                server_cut += r->time_wait_end_reason == TW_CAPTURE_END;
            }
        } else if (r->close_initiator == SIDE_CLIENT) {
            client_closed++;
            EXPECT_INT(r->time_wait_side, SIDE_CLIENT);
            client_expired += r->time_wait_end_reason == TW_EXPIRED;
            client_cut += r->time_wait_end_reason == TW_CAPTURE_END;
        }
        if (r->time_wait_end_reason == TW_CAPTURE_END)
            EXPECT_TS(r->time_wait_end, rp.last_ts);
        EXPECT_INT(r->server_port == 80 || r->server_port == 8080, 1);
    }
    EXPECT_INT(server_closed, 46);
    EXPECT_INT(server_expired, 23);
    EXPECT_INT(server_cut, 23);
    EXPECT_INT(client_closed, 5);
    EXPECT_INT(client_expired, 2);
    EXPECT_INT(client_cut, 3);
    EXPECT_INT(crossed, 2);
    EXPECT_INT(crossed_expired, 1);
    EXPECT_INT(rst_server, 2);
    EXPECT_INT(rst_client, 2);
    EXPECT_INT(refused, 3);
    EXPECT_INT(rp.records, 1051);
    sim_free(&rp.s);
    done();
}

/* ---- random traffic: invariants ------------------------------------------------- */

/*
 * States the two ends of one connection can be in at the same time once
 * every seen segment has been delivered (RFC 793 diagram; SPEC §1-§2):
 * opening, established, one side closing first (FIN_WAIT1/2 against
 * CLOSE_WAIT, then TIME_WAIT against LAST_ACK/CLOSED), both closing
 * (CLOSING and TIME_WAIT in any mix), and after a TIME_WAIT ends (2*MSL
 * passes even when the peer is still waiting for an ACK).
 */
static int states_compatible(conn_state a, conn_state b)
{
    static const conn_state pairs[][2] = {
        {CONN_CLOSED, CONN_CLOSED},
        {CONN_SYN_SENT, CONN_LISTEN},
        {CONN_SYN_SENT, CONN_CLOSED},
        {CONN_SYN_RCVD, CONN_SYN_RCVD},
        {CONN_ESTABLISHED, CONN_SYN_RCVD},
        {CONN_ESTABLISHED, CONN_ESTABLISHED},
        {CONN_FIN_WAIT1, CONN_CLOSE_WAIT},
        {CONN_FIN_WAIT2, CONN_CLOSE_WAIT},
        {CONN_TIME_WAIT, CONN_LAST_ACK},
        {CONN_TIME_WAIT, CONN_CLOSED},
        {CONN_CLOSING, CONN_CLOSING},
        {CONN_TIME_WAIT, CONN_CLOSING},
        {CONN_TIME_WAIT, CONN_TIME_WAIT},
        {CONN_CLOSED, CONN_LAST_ACK},
        {CONN_CLOSED, CONN_CLOSING},
        /* Timers the wire does not show (SPEC §2): a client that gave up its
         * unanswered SYN; an orphan in FIN_WAIT2 dropped after fin_timeout. */
        {CONN_CLOSED, CONN_LISTEN},
        {CONN_CLOSED, CONN_CLOSE_WAIT},
    };
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++)
        if ((pairs[i][0] == a && pairs[i][1] == b) || (pairs[i][0] == b && pairs[i][1] == a))
            return 1;
    return 0;
}

static int same_endpoints(const conn_record *r, const gen_truth *t)
{
    return r->ip_version == t->ip_version && r->client_port == t->client_port &&
           r->server_port == t->server_port && memcmp(r->client_ip, t->client, 16) == 0 &&
           memcmp(r->server_ip, t->server, 16) == 0;
}

static void check_random_seed(uint64_t seed, int nconv)
{
    char path[] = "/tmp/synfin-test-flows-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    gen_file *f = gen_open_pcap(path, DISSECT_LINK_ETHERNET, 96, GEN_NSEC);
    assert_non_null(f);
    gen_truth *truth = calloc((size_t)nconv, sizeof *truth);
    assert_non_null(truth);
    assert_int_equal(gen_random_traffic(f, seed, nconv, truth), 0);
    assert_int_equal(gen_close(f), 0);

    replay rp;
    assert_int_equal(replay_file(path, &rp, NULL), 0);
    unlink(path);
    sort_rows(&rp.s);
    const flows_stats *st = flows_get_stats(rp.s.t);
    int before = g_fails;

    /* Every packet belongs to exactly one instance. */
    uint64_t packets = 0;
    for (size_t i = 0; i < rp.s.nrec; i++)
        packets += rp.s.rec[i].packets_c2s + rp.s.rec[i].packets_s2c;
    EXPECT_INT(rp.result[DISSECT_OK], rp.records);
    EXPECT_INT(st->segments, rp.s.fed);
    EXPECT_INT(packets, rp.s.fed - st->duplicates);
    EXPECT_INT(st->alive, 0);
    EXPECT_INT(st->instances, rp.s.nrec);
    EXPECT_INT(rp.s.nrec, nconv);

    for (size_t i = 0; i < rp.s.nrec && g_fails - before < 20; i++) {
        const conn_record *r = &rp.s.rec[i];
        if (i > 0 && r->conn_id == rp.s.rec[i - 1].conn_id)
            soft_fail(__FILE__, __LINE__, "seed %" PRIu64 ": conn_id %" PRIu64 " twice", seed,
                      r->conn_id);
        if (!states_compatible(r->client_state, r->server_state))
            soft_fail(__FILE__, __LINE__,
                      "seed %" PRIu64 " conn %" PRIu64 ": states %s / %s cannot coexist", seed,
                      r->conn_id, state_name(r->client_state), state_name(r->server_state));
        EXPECT_TRUE(r->first_ts <= r->last_ts);
        EXPECT_TRUE(r->closing <= 2);
        if (r->time_wait_side != SIDE_NONE) {
            EXPECT_TRUE(r->time_wait_end >= r->time_wait_start);
            EXPECT_TRUE(r->time_wait_start >= r->first_ts);
            EXPECT_TRUE(r->time_wait_start <= r->last_ts);
            EXPECT_TRUE(r->time_wait_end <= rp.last_ts);
            EXPECT_TRUE(r->time_wait_end - r->time_wait_start <= 2 * 30 * SEC ||
                        r->fin_retransmits > 0);
            EXPECT_TRUE(r->time_wait_end_reason == TW_EXPIRED ||
                        r->time_wait_end_reason == TW_REUSED ||
                        r->time_wait_end_reason == TW_CAPTURE_END);
            if (r->time_wait_end_reason == TW_CAPTURE_END)
                EXPECT_TS(r->time_wait_end, rp.last_ts);
        } else {
            EXPECT_TW_REASON(r, "");
        }
        /* A row's states agree with its classification. */
        if (r->close_type == CLOSE_RST && r->close_initiator != SIDE_BOTH) {
            EXPECT_CSTATE(r, "CLOSED");
            EXPECT_SSTATE(r, "CLOSED");
        }
        if (r->close_initiator == SIDE_NONE) {
            EXPECT_CLOSE(r, "none");
            EXPECT_TW_SIDE(r, "none");
        }

        /* The generator's truth for this instance. */
        const gen_truth *t = NULL;
        for (int k = 0; k < nconv; k++) {
            if (same_endpoints(r, &truth[k]) && (int64_t)truth[k].first_ns == r->first_ts) {
                t = &truth[k];
                break;
            }
        }
        if (!t) {
            soft_fail(__FILE__, __LINE__, "seed %" PRIu64 " conn %" PRIu64 ": no such instance",
                      seed, r->conn_id);
            continue;
        }
        int f0 = g_fails;
        EXPECT_HS(r, t->handshake);
        EXPECT_INITIATOR(r, t->close_initiator);
        EXPECT_CLOSE(r, t->close_type);
        EXPECT_INT(r->closing, t->closing);
        EXPECT_TW_SIDE(r, t->time_wait_side);
        EXPECT_INT(r->packets_c2s, t->packets_c2s);
        EXPECT_INT(r->packets_s2c, t->packets_s2c);
        EXPECT_INT(r->bytes_c2s, t->bytes_c2s);
        EXPECT_INT(r->bytes_s2c, t->bytes_s2c);
        EXPECT_INT(r->syn_retransmits, t->syn_retransmits);
        EXPECT_TS(r->last_ts, (int64_t)t->last_ns);
        EXPECT_ANOM(r, "");
        if (g_fails != f0)
            print_error("  ^ seed %" PRIu64 " conn %" PRIu64 " (client port %u)\n", seed,
                        r->conn_id, r->client_port);
        /* A reused TIME_WAIT ends at the next instance's SYN. */
        if (r->time_wait_end_reason == TW_REUSED) {
            int found = 0;
            for (size_t k = i + 1; k < rp.s.nrec; k++)
                if (same_endpoints(&rp.s.rec[k], t) && rp.s.rec[k].first_ts == r->time_wait_end)
                    found = 1;
            EXPECT_TRUE(found);
        }
    }
    free(truth);
    sim_free(&rp.s);
}

static void test_random_traffic_rows_keep_invariants_and_match_truth(void **state)
{
    (void)state;
    static const uint64_t seeds[] = {1, 2, 3, 42, 1234, 99991, 0xdeadbeef, 7777777};
    for (size_t i = 0; i < sizeof seeds / sizeof seeds[0]; i++)
        check_random_seed(seeds[i], 300);
    done();
}

/* Replayed in chunks through flows_prepare + flows_replay (as the pipeline
 * does), the traffic must give exactly the rows, in the same order, and the
 * stats that one flows_packet call per segment gives. */
static void test_chunked_prepare_and_replay_equals_one_by_one(void **state)
{
    (void)state;
    char path[] = "/tmp/synfin-test-flows-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    gen_file *f = gen_open_pcap(path, DISSECT_LINK_ETHERNET, 96, GEN_NSEC);
    assert_non_null(f);
    assert_int_equal(gen_random_traffic(f, 11, 600, NULL), 0);
    assert_int_equal(gen_close(f), 0);
    char errbuf[PCAP_ERRBUF_SIZE];
    pcap_t *p = pcap_open_offline_with_tstamp_precision(path, PCAP_TSTAMP_PRECISION_NANO, errbuf);
    assert_non_null(p);
    size_t n = 0, cap = 1024;
    dissect_segment *segs = malloc(cap * sizeof *segs);
    int64_t *ts = malloc(cap * sizeof *ts);
    struct pcap_pkthdr *h;
    const u_char *data;
    while (pcap_next_ex(p, &h, &data) == 1) {
        if (n == cap) {
            cap *= 2;
            segs = realloc(segs, cap * sizeof *segs);
            ts = realloc(ts, cap * sizeof *ts);
        }
        if (dissect_packet((uint32_t)pcap_datalink(p), data, h->caplen, h->len, &segs[n]) ==
            DISSECT_OK)
            ts[n++] = (int64_t)h->ts.tv_sec * SEC + (int64_t)h->ts.tv_usec;
    }
    pcap_close(p);
    unlink(path);
    assert_true(n > 5000);

    flows_config cfg;
    flows_config_default(&cfg);
    cfg.max_flows = 150; /* evictions too, so the table changes under the prefetches */
    sim one;
    sim_init(&one, &cfg);
    for (size_t i = 0; i < n; i++)
        feed(&one, &segs[i], ts[i]);
    finish_at(&one, ts[n - 1]);
    assert_true(flows_get_stats(one.t)->evicted > 0);

    static const size_t batches[] = {1, 7, 64, 300, 0 /* all at once */};
    for (size_t b = 0; b < sizeof batches / sizeof batches[0]; b++) {
        sim many;
        sim_init(&many, &cfg);
        size_t step = batches[b] ? batches[b] : n;
        assert_int_equal(replay_chunks(&many, segs, ts, n, batches[b]), 0);
        finish_at(&many, ts[n - 1]);
        assert_int_equal(many.nrec, one.nrec);
        for (size_t i = 0; i < one.nrec; i++)
            if (memcmp(&many.rec[i], &one.rec[i], sizeof(conn_record)) != 0)
                fail_msg("batch %zu: row %zu (conn %llu) differs", step, i,
                         (unsigned long long)one.rec[i].conn_id);
        assert_memory_equal(flows_get_stats(many.t), flows_get_stats(one.t), sizeof(flows_stats));
        sim_free(&many);
    }
    sim_free(&one);
    free(segs);
    free(ts);
}

/* The same random traffic with every packet copied by a SPAN port. */
static void test_random_traffic_span_copies_change_no_row(void **state)
{
    (void)state;
    static const uint64_t seeds[] = {5, 6};
    for (size_t n = 0; n < 2; n++) {
        char path[] = "/tmp/synfin-test-flows-XXXXXX";
        int fd = mkstemp(path);
        assert_true(fd >= 0);
        close(fd);
        gen_file *f = gen_open_pcap(path, DISSECT_LINK_RAW, 96, GEN_NSEC);
        assert_non_null(f);
        assert_int_equal(gen_random_traffic(f, seeds[n], 200, NULL), 0);
        assert_int_equal(gen_close(f), 0);

        replay plain;
        assert_int_equal(replay_file(path, &plain, NULL), 0);
        sort_rows(&plain.s);

        /* Again, each segment twice, the copy 1 µs later. */
        sim dup;
        sim_init(&dup, NULL);
        char errbuf[PCAP_ERRBUF_SIZE];
        pcap_t *p =
            pcap_open_offline_with_tstamp_precision(path, PCAP_TSTAMP_PRECISION_NANO, errbuf);
        assert_non_null(p);
        struct pcap_pkthdr *h;
        const u_char *data;
        int64_t last = 0;
        while (pcap_next_ex(p, &h, &data) == 1) {
            int64_t ts = (int64_t)h->ts.tv_sec * SEC + (int64_t)h->ts.tv_usec;
            dissect_segment g;
            if (dissect_packet((uint32_t)pcap_datalink(p), data, h->caplen, h->len, &g) !=
                DISSECT_OK)
                continue;
            feed(&dup, &g, ts);
            feed(&dup, &g, ts + 1 * US);
            last = ts + 1 * US;
        }
        pcap_close(p);
        unlink(path);
        finish_at(&dup, last);
        sort_rows(&dup);
        EXPECT_INT(flows_get_stats(dup.t)->duplicates, plain.s.fed);
        EXPECT_INT(dup.nrec, plain.s.nrec);
        int before = g_fails;
        for (size_t i = 0; i < dup.nrec && i < plain.s.nrec && g_fails - before < 20; i++) {
            const conn_record *a = &dup.rec[i], *b = &plain.s.rec[i];
            /* TIME_WAIT cut by the capture end ends 1 µs later with the copy. */
            if (b->time_wait_end_reason == TW_CAPTURE_END && b->time_wait_end == plain.last_ts) {
                conn_record a2 = *a;
                a2.time_wait_end = b->time_wait_end;
                expect_same_row(&a2, b);
            } else {
                expect_same_row(a, b);
            }
        }
        sim_free(&dup);
        sim_free(&plain.s);
    }
    done();
}

/* ---- main ------------------------------------------------------------------------- */

#define T(f) cmocka_unit_test_setup(f, checks_setup)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_link_type_and_format_samples_give_the_standard_row),
        T(test_opening_samples_give_their_readme_rows),
        T(test_closing_samples_give_their_readme_rows),
        T(test_time_wait_ending_samples_give_their_readme_rows),
        T(test_seq_wrap_and_busy_server_samples_give_their_readme_rows),
        T(test_random_traffic_rows_keep_invariants_and_match_truth),
        T(test_random_traffic_span_copies_change_no_row),
        T(test_chunked_prepare_and_replay_equals_one_by_one),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
