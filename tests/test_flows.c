/*
 * test_flows: unit tests of the flow table and the per-endpoint RFC 793
 * state machine, written from ../shared/SPEC.md §1-§3 (not from flows.c).
 *
 * A conversation helper builds dissect_segment values the way a capture
 * point between 10.0.0.1:40000 (client) and 10.0.0.2:80 (server) sees them:
 * each side remembers its next sequence number, ACKs cover everything the
 * peer sent unless a test says otherwise. Emitted rows are collected into
 * an array. Checks are "soft": every mismatching field of a row is printed
 * (expected vs actual) before the test fails, so one run shows the whole
 * difference between the spec and the implementation.
 *
 * The last part replays the behaviour samples (samples/NAME.pcap, listed in
 * samples/README.md) and random traffic from the generator through libpcap
 * + dissect + flows, and checks invariants every row must satisfy.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <pcap/pcap.h>

#include "dissect.h"
#include "flows.h"
#include "gen.h"

#define SEC FLOWS_NS_PER_SEC
#define MS  (SEC / 1000)
#define US  (SEC / 1000000)
/* 2023-11-14 22:13:20 UTC */
#define T0 (INT64_C(1700000000) * SEC)

enum { C = 0, S = 1 }; /* sending side: client, server */

enum {
    F_SYN = DISSECT_SYN,
    F_SA = DISSECT_SYN | DISSECT_ACK,
    F_A = DISSECT_ACK,
    F_PA = DISSECT_PSH | DISSECT_ACK,
    F_FA = DISSECT_FIN | DISSECT_ACK,
    F_R = DISSECT_RST,
    F_RA = DISSECT_RST | DISSECT_ACK,
};

/* ---- soft checks -------------------------------------------------------- */

/* Replays n segments batched, as production does: flows_prepare, then
 * flows_replay (prefetching), in chunks. Returns how many failed. */
static size_t replay_batched(flows_table *t, const dissect_segment *segs, const int64_t *ts,
                             size_t n)
{
    flows_seg prep[256];
    size_t failed = 0;
    for (size_t base = 0; base < n; base += 256) {
        size_t m = n - base < 256 ? n - base : 256;
        flows_prepare(t, segs + base, ts + base, m, prep);
        failed += flows_replay(t, prep, m);
    }
    return failed;
}

static int g_fails;

static void check_reset(void)
{
    g_fails = 0;
}

/* Fails the test when any soft check failed. Every test ends with it. */
static void done(void)
{
    int n = g_fails;
    g_fails = 0;
    if (n) {
        print_error("%d check(s) failed\n", n);
        fail();
    }
}

static void soft_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    char buf[512];
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    print_error("%s:%d: %s\n", file, line, buf);
    g_fails++;
}

#define EXPECT_INT(actual, expected)                                                               \
    do {                                                                                           \
        int64_t a_ = (int64_t)(actual), e_ = (int64_t)(expected);                                  \
        if (a_ != e_)                                                                              \
            soft_fail(__FILE__, __LINE__, "%s = %" PRId64 ", expected %s = %" PRId64, #actual, a_, \
                      #expected, e_);                                                              \
    } while (0)

/* Timestamps: printed as seconds after T0. */
#define EXPECT_TS(actual, expected)                                                                \
    do {                                                                                           \
        int64_t a_ = (int64_t)(actual), e_ = (int64_t)(expected);                                  \
        if (a_ != e_)                                                                              \
            soft_fail(__FILE__, __LINE__, "%s = T0+%.9f s, expected %s = T0+%.9f s", #actual,      \
                      (double)(a_ - T0) / 1e9, #expected, (double)(e_ - T0) / 1e9);                \
    } while (0)

#define EXPECT_DUR(actual, expected)                                                               \
    do {                                                                                           \
        int64_t a_ = (int64_t)(actual), e_ = (int64_t)(expected);                                  \
        if (a_ != e_)                                                                              \
            soft_fail(__FILE__, __LINE__, "%s = %.9f s, expected %.9f s", #actual,                 \
                      (double)a_ / 1e9, (double)e_ / 1e9);                                         \
    } while (0)

#define EXPECT_NAME(fn, actual, expected)                                                          \
    do {                                                                                           \
        const char *a_ = fn(actual);                                                               \
        if (strcmp(a_, (expected)) != 0)                                                           \
            soft_fail(__FILE__, __LINE__, "%s = \"%s\", expected \"%s\"", #actual, a_,             \
                      (expected));                                                                 \
    } while (0)

#define EXPECT_TRUE(cond)                                                                          \
    do {                                                                                           \
        if (!(cond))                                                                               \
            soft_fail(__FILE__, __LINE__, "expected %s", #cond);                                   \
    } while (0)

static char anom_buf[8][128];
static int anom_slot;

/* "rst_out_of_window;data_after_fin" for a bit set ("" for none). */
static const char *anomalies_text(uint32_t bits)
{
    char *b = anom_buf[anom_slot++ % 8];
    b[0] = '\0';
    for (unsigned i = 0; i < 32; i++) {
        if (!(bits & (1u << i)))
            continue;
        if (b[0])
            strncat(b, ";", 127 - strlen(b));
        strncat(b, i < ANOM_COUNT ? conn_anomaly_name(i) : "?", 127 - strlen(b));
    }
    return b;
}

static const char *state_name(int s)
{
    return conn_state_name((conn_state)s);
}

#define EXPECT_HS(r, e)        EXPECT_NAME(conn_handshake_name, (r)->handshake, e)
#define EXPECT_ROLE(r, e)      EXPECT_NAME(conn_role_by_name, (r)->role_by, e)
#define EXPECT_INITIATOR(r, e) EXPECT_NAME(conn_side_name, (r)->close_initiator, e)
#define EXPECT_CLOSE(r, e)     EXPECT_NAME(conn_close_type_name, (r)->close_type, e)
#define EXPECT_TW_SIDE(r, e)   EXPECT_NAME(conn_side_name, (r)->time_wait_side, e)
#define EXPECT_TW_REASON(r, e) EXPECT_NAME(conn_tw_reason_name, (r)->time_wait_end_reason, e)
#define EXPECT_CSTATE(r, e)    EXPECT_NAME(state_name, (r)->client_state, e)
#define EXPECT_SSTATE(r, e)    EXPECT_NAME(state_name, (r)->server_state, e)
#define EXPECT_ANOM(r, e)      EXPECT_NAME(anomalies_text, (r)->anomalies, e)

/* ---- the table and its rows --------------------------------------------- */

typedef struct sim {
    flows_table *t;
    conn_record *rec;
    size_t nrec, cap;
    int64_t now;    /* capture time of the last segment sent */
    int64_t dup_ns; /* > 0: every segment is fed twice, the copy dup_ns later */
    uint64_t fed;   /* segments given to flows_packet */
} sim;

static void collect(void *ctx, const conn_record *r)
{
    sim *s = ctx;
    if (s->nrec == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 16;
        s->rec = realloc(s->rec, s->cap * sizeof *s->rec);
        assert_non_null(s->rec);
    }
    s->rec[s->nrec++] = *r;
}

static void sim_init(sim *s, const flows_config *cfg)
{
    memset(s, 0, sizeof *s);
    flows_config def;
    if (!cfg) {
        flows_config_default(&def);
        cfg = &def;
    }
    s->t = flows_new(cfg, collect, s);
    assert_non_null(s->t);
    s->now = T0;
}

static void sim_free(sim *s)
{
    flows_free(s->t);
    free(s->rec);
    memset(s, 0, sizeof *s);
}

static void feed(sim *s, const dissect_segment *g, int64_t ts)
{
    assert_int_equal(flows_packet(s->t, g, ts), 0);
    s->fed++;
}

static void finish_at(sim *s, int64_t capture_end)
{
    flows_finish(s->t, capture_end);
}

/* The one row the table wrote. */
static const conn_record *only(const sim *s)
{
    if (s->nrec != 1)
        print_error("expected exactly 1 row, got %zu\n", s->nrec);
    assert_int_equal(s->nrec, 1);
    return &s->rec[0];
}

static const conn_record *row_by_id(const sim *s, uint64_t id)
{
    for (size_t i = 0; i < s->nrec; i++)
        if (s->rec[i].conn_id == id)
            return &s->rec[i];
    print_error("no row with conn_id %" PRIu64 "\n", id);
    fail();
    return NULL;
}

/* The row of the instance whose client uses port `cport` (unique). */
static const conn_record *row_by_cport(const sim *s, uint16_t cport)
{
    const conn_record *found = NULL;
    for (size_t i = 0; i < s->nrec; i++) {
        if (s->rec[i].client_port == cport) {
            if (found) {
                print_error("several rows with client port %u\n", cport);
                fail();
            }
            found = &s->rec[i];
        }
    }
    if (!found) {
        print_error("no row with client port %u\n", cport);
        fail();
    }
    return found;
}

/* ---- conversations -------------------------------------------------------- */

typedef struct conv {
    sim *s;
    uint8_t ip_version;
    uint8_t addr[2][16];
    uint16_t port[2];
    uint32_t isn[2];
    uint32_t nxt[2]; /* next sequence number of each side */
    uint16_t ip_id[2];
    uint8_t ttl[2];
    uint16_t window[2];
    int wscale;       /* < 0: SYNs carry no window scale option */
    int wscale_sides; /* which sides' SYNs carry it: bit C, bit S */
} conv;

static void conv_init_ports(conv *c, sim *s, uint16_t cport, uint16_t sport, uint32_t cisn,
                            uint32_t sisn)
{
    memset(c, 0, sizeof *c);
    c->s = s;
    c->ip_version = 4;
    c->addr[C][0] = 10, c->addr[C][3] = 1;
    c->addr[S][0] = 10, c->addr[S][3] = 2;
    c->port[C] = cport;
    c->port[S] = sport;
    c->isn[C] = c->nxt[C] = cisn;
    c->isn[S] = c->nxt[S] = sisn;
    c->ip_id[C] = 0x1000;
    c->ip_id[S] = 0x8000;
    c->ttl[C] = 64;
    c->ttl[S] = 64;
    c->window[C] = 64240;
    c->window[S] = 65160;
    c->wscale = -1;
    c->wscale_sides = 3;
}

/* 10.0.0.1:40000 -> 10.0.0.2:80 */
static void conv_init(conv *c, sim *s)
{
    conv_init_ports(c, s, 40000, 80, 1000000, 5000000);
}

/* [2001:db8::1]:40000 -> [2001:db8::2]:80 */
static void conv_init6(conv *c, sim *s)
{
    conv_init(c, s);
    c->ip_version = 6;
    static const uint8_t a[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    memcpy(c->addr[C], a, 16);
    memcpy(c->addr[S], a, 16);
    c->addr[S][15] = 2;
    c->ttl[C] = c->ttl[S] = 57;
}

/* Side d's next segment: a SYN carries the ISN, anything else the next
 * sequence number; the ACK field covers everything the peer sent. */
static dissect_segment seg_of(conv *c, int d, uint16_t flags, uint32_t len)
{
    dissect_segment g;
    memset(&g, 0, sizeof g);
    memcpy(g.src, c->addr[d], 16);
    memcpy(g.dst, c->addr[!d], 16);
    g.ip_version = c->ip_version;
    g.ttl = c->ttl[d];
    g.ip_id = c->ip_version == 4 ? ++c->ip_id[d] : 0;
    g.sport = c->port[d];
    g.dport = c->port[!d];
    g.seq = (flags & DISSECT_SYN) ? c->isn[d] : c->nxt[d];
    g.ack = (flags & DISSECT_ACK) ? c->nxt[!d] : 0;
    g.flags = flags;
    g.window = c->window[d];
    g.payload_len = len;
    if ((flags & DISSECT_SYN) && c->wscale >= 0 && (c->wscale_sides & (1 << d))) {
        g.opts |= DISSECT_OPT_WSCALE;
        g.wscale = (uint8_t)c->wscale;
    }
    return g;
}

/* Sends g from side d, dt after the previous segment of the table. */
static int64_t send_seg(conv *c, int d, dissect_segment g, int64_t dt)
{
    sim *s = c->s;
    s->now += dt;
    feed(s, &g, s->now);
    if (s->dup_ns > 0)
        feed(s, &g, s->now + s->dup_ns);
    if (!(g.flags & DISSECT_RST)) {
        uint32_t end =
            g.seq + g.payload_len + !!(g.flags & DISSECT_SYN) + !!(g.flags & DISSECT_FIN);
        if ((int32_t)(end - c->nxt[d]) > 0)
            c->nxt[d] = end;
    }
    return s->now;
}

static int64_t tx(conv *c, int d, uint16_t flags, uint32_t len, int64_t dt)
{
    return send_seg(c, d, seg_of(c, d, flags, len), dt);
}

/* With an explicit sequence number (a retransmission, a blind RST). */
static int64_t tx_seq(conv *c, int d, uint16_t flags, uint32_t len, int64_t dt, uint32_t seq)
{
    dissect_segment g = seg_of(c, d, flags, len);
    g.seq = seq;
    return send_seg(c, d, g, dt);
}

/* With an explicit ACK field (a FIN that does not ack the peer's FIN). */
static int64_t tx_ack(conv *c, int d, uint16_t flags, uint32_t len, int64_t dt, uint32_t ack)
{
    dissect_segment g = seg_of(c, d, flags, len);
    g.ack = ack;
    return send_seg(c, d, g, dt);
}

/* Handshake and one exchange of data: 4 packets / 200 bytes client to
 * server, 2 packets / 1000 bytes back. Returns the time of the ACK. */
static int64_t open_conn(conv *c, int64_t dt)
{
    tx(c, C, F_SYN, 0, dt);
    tx(c, S, F_SA, 0, 10 * MS);
    int64_t t = tx(c, C, F_A, 0, 10 * MS);
    tx(c, C, F_PA, 200, 5 * MS);
    tx(c, S, F_PA, 1000, 20 * MS);
    tx(c, C, F_A, 0, 5 * MS);
    return t;
}

/* Named times of the last script run. */
static int64_t tm[10];

/* ---- names ------------------------------------------------------------------ */

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
    static const char *const anoms[] = {"rst_out_of_window", "rst_ttl_changed", "data_after_fin",
                                        "syn_with_data",     "idle_timeout",    "evicted"};
    static const uint32_t bits[] = {ANOM_RST_OUT_OF_WINDOW, ANOM_RST_TTL_CHANGED,
                                    ANOM_DATA_AFTER_FIN,    ANOM_SYN_WITH_DATA,
                                    ANOM_IDLE_TIMEOUT,      ANOM_EVICTED};
    assert_int_equal(ANOM_COUNT, 6);
    for (unsigned i = 0; i < 6; i++) {
        EXPECT_NAME(conn_anomaly_name, i, anoms[i]);
        EXPECT_INT(bits[i], 1u << i);
    }
    done();
}

static void test_default_msl_is_30_seconds(void **state)
{
    (void)state;
    flows_config cfg;
    flows_config_default(&cfg);
    EXPECT_DUR(cfg.msl, 30 * SEC);
    EXPECT_INT(cfg.max_flows, FLOWS_DEFAULT_MAX_FLOWS);
    done();
}

/* ---- handshake classes ---------------------------------------------------- */

static void test_complete_handshake_measures_rtt_from_syn_to_ack(void **state)
{
    (void)state;
    sim s;
    conv c;
    sim_init(&s, NULL);
    conv_init(&c, &s);
    int64_t t_syn = tx(&c, C, F_SYN, 0, 0);
    tx(&c, S, F_SA, 0, 10 * MS);
    int64_t t_ack = tx(&c, C, F_A, 0, 15 * MS);
    tx(&c, C, F_PA, 100, 1 * MS);
    tx(&c, S, F_PA, 2000, 20 * MS);
    int64_t t_last = tx(&c, C, F_A, 0, 1 * MS);
    assert_int_equal(s.nrec, 0); /* still open */
    finish_at(&s, t_last);

    const conn_record *r = only(&s);
    EXPECT_INT(r->conn_id, 1);
    EXPECT_INT(r->ip_version, 4);
    EXPECT_INT(memcmp(r->client_ip, c.addr[C], 16), 0);
    EXPECT_INT(memcmp(r->server_ip, c.addr[S], 16), 0);
    EXPECT_INT(r->client_port, 40000);
    EXPECT_INT(r->server_port, 80);
    EXPECT_ROLE(r, "syn");
    EXPECT_HS(r, "complete");
    EXPECT_DUR(r->handshake_rtt, t_ack - t_syn);
    EXPECT_DUR(r->handshake_rtt, 25 * MS);
    EXPECT_INT(r->syn_retransmits, 0);
    EXPECT_INT(r->synack_retransmits, 0);
    EXPECT_INITIATOR(r, "none");
    EXPECT_CLOSE(r, "none");
    EXPECT_INT(r->closing, 0);
    EXPECT_TW_SIDE(r, "none");
    EXPECT_TW_REASON(r, "");
    EXPECT_CSTATE(r, "ESTABLISHED");
    EXPECT_SSTATE(r, "ESTABLISHED");
    EXPECT_INT(r->packets_c2s, 4);
    EXPECT_INT(r->packets_s2c, 2);
    EXPECT_INT(r->bytes_c2s, 100);
    EXPECT_INT(r->bytes_s2c, 2000);
    EXPECT_INT(r->fin_retransmits, 0);
    EXPECT_ANOM(r, "");
    EXPECT_TS(r->first_ts, t_syn);
    EXPECT_TS(r->last_ts, t_last);
    sim_free(&s);
    done();
}

static void test_syn_only_counts_two_syn_retransmissions(void **state)
{
    (void)state;
    sim s;
    conv c;
    sim_init(&s, NULL);
    conv_init(&c, &s);
    tx(&c, C, F_SYN, 0, 0);
    tx(&c, C, F_SYN, 0, 1 * SEC); /* same ISN */
    tx(&c, C, F_SYN, 0, 2 * SEC);
    finish_at(&s, s.now);
    const conn_record *r = only(&s);
    EXPECT_HS(r, "syn_only");
    EXPECT_ROLE(r, "syn");
    EXPECT_INT(r->syn_retransmits, 2);
    EXPECT_INT(r->synack_retransmits, 0);
    EXPECT_TRUE(r->handshake_rtt < 0);
    EXPECT_CSTATE(r, "SYN_SENT");
    EXPECT_INITIATOR(r, "none");
    EXPECT_CLOSE(r, "none");
    EXPECT_TW_SIDE(r, "none");
    EXPECT_INT(r->packets_c2s, 3);
    EXPECT_INT(r->packets_s2c, 0);
    EXPECT_INT(r->client_port, 40000);
    sim_free(&s);
    done();
}

static void test_no_ack_counts_synack_retransmission(void **state)
{
    (void)state;
    sim s;
    conv c;
    sim_init(&s, NULL);
    conv_init(&c, &s);
    tx(&c, C, F_SYN, 0, 0);
    tx(&c, S, F_SA, 0, 10 * MS);
    tx(&c, S, F_SA, 0, 1 * SEC); /* same ISN */
    finish_at(&s, s.now);
    const conn_record *r = only(&s);
    EXPECT_HS(r, "no_ack");
    EXPECT_INT(r->syn_retransmits, 0);
    EXPECT_INT(r->synack_retransmits, 1);
    EXPECT_TRUE(r->handshake_rtt < 0);
    /* SYN_SENT + SYN-ACK acking the SYN -> ESTABLISHED; the server waits. */
    EXPECT_CSTATE(r, "ESTABLISHED");
    EXPECT_SSTATE(r, "SYN_RCVD");
    EXPECT_INT(r->packets_c2s, 1);
    EXPECT_INT(r->packets_s2c, 2);
    EXPECT_TW_SIDE(r, "none");
    sim_free(&s);
    done();
}

static void test_refused_syn_answered_by_rst_ack(void **state)
{
    (void)state;
    sim s;
    conv c;
    sim_init(&s, NULL);
    conv_init_ports(&c, &s, 40000, 80, 1000000, 0);
    tx(&c, C, F_SYN, 0, 0);
    tx(&c, S, F_RA, 0, 1 * MS); /* seq 0, ack = ISN + 1 */
    finish_at(&s, s.now);
    const conn_record *r = only(&s);
    EXPECT_HS(r, "refused");
    EXPECT_ROLE(r, "syn");
    EXPECT_INITIATOR(r, "server");
    EXPECT_CLOSE(r, "rst");
    EXPECT_INT(r->closing, 0);
    EXPECT_TW_SIDE(r, "none");
    EXPECT_CSTATE(r, "CLOSED");
    EXPECT_SSTATE(r, "CLOSED");
    EXPECT_ANOM(r, "");
    EXPECT_INT(r->packets_c2s, 1);
    EXPECT_INT(r->packets_s2c, 1);
    sim_free(&s);
    done();
}

/* A refused client tries again from the same port: the previous instance
 * was reset, so a SYN with another ISN starts a new one; a SYN with the
 * same ISN is a retransmission. */
static void test_refused_then_retried_is_a_new_instance(void **state)
{
    (void)state;
    sim s;
    conv c;
    sim_init(&s, NULL);
    conv_init_ports(&c, &s, 40000, 80, 1000000, 0);
    tx(&c, C, F_SYN, 0, 0);
    tx(&c, S, F_RA, 0, 1 * MS);
    tx(&c, C, F_SYN, 0, 300 * MS); /* same ISN: crossed the RST */
    c.isn[C] = c.nxt[C] = 2000000;
    int64_t t = tx(&c, C, F_SYN, 0, 3 * SEC);
    tx(&c, S, F_RA, 0, 1 * MS);
    finish_at(&s, s.now);
    assert_int_equal(s.nrec, 2);
    const conn_record *r1 = row_by_id(&s, 1), *r2 = row_by_id(&s, 2);
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
    sim_free(&s);
    done();
}

/* In SYN_SENT an RST is acceptable only when it acks the SYN. */
static void test_rst_not_acking_syn_is_out_of_window(void **state)
{
    (void)state;
    sim s;
    conv c;
    sim_init(&s, NULL);
    conv_init_ports(&c, &s, 40000, 80, 1000000, 0);
    tx(&c, C, F_SYN, 0, 0);
    tx_ack(&c, S, F_RA, 0, 1 * MS, 1000000 + 5000); /* acks something else */
    finish_at(&s, s.now);
    const conn_record *r = only(&s);
    EXPECT_HS(r, "syn_only");
    EXPECT_ANOM(r, "rst_out_of_window");
    EXPECT_CSTATE(r, "SYN_SENT");
    EXPECT_INITIATOR(r, "none");
    EXPECT_CLOSE(r, "none");
    sim_free(&s);
    done();
}

static void test_simultaneous_open(void **state)
{
    (void)state;
    sim s;
    conv c;
    sim_init(&s, NULL);
    conv_init(&c, &s);
    tx(&c, C, F_SYN, 0, 0);
    tx(&c, S, F_SYN, 0, 1 * MS); /* crossed the client's SYN */
    /* Each answers the other's SYN with a SYN-ACK (its own ISN again). */
    tx(&c, C, F_SA, 0, 10 * MS);
    tx(&c, S, F_SA, 0, 1 * MS);
    tx(&c, C, F_PA, 10, 10 * MS);
    tx(&c, S, F_A, 0, 10 * MS);
    finish_at(&s, s.now);
    const conn_record *r = only(&s);
    EXPECT_HS(r, "simultaneous_open");
    EXPECT_ROLE(r, "syn");
    EXPECT_INT(r->client_port, 40000); /* the sender of the first SYN */
    EXPECT_CSTATE(r, "ESTABLISHED");
    EXPECT_SSTATE(r, "ESTABLISHED");
    EXPECT_INT(r->packets_c2s, 3);
    EXPECT_INT(r->packets_s2c, 3);
    sim_free(&s);
    done();
}

static void test_midstream_lower_port_is_the_server(void **state)
{
    (void)state;
    sim s;
    conv c;
    sim_init(&s, NULL);
    conv_init(&c, &s);
    /* The server speaks first: the role comes from the ports. */
    tx(&c, S, F_PA, 500, 0);
    tx(&c, C, F_A, 0, 10 * MS);
    tx(&c, C, F_PA, 100, 10 * MS);
    finish_at(&s, s.now);
    const conn_record *r = only(&s);
    EXPECT_ROLE(r, "port");
    EXPECT_HS(r, "midstream");
    EXPECT_INT(r->client_port, 40000);
    EXPECT_INT(r->server_port, 80);
    EXPECT_INT(memcmp(r->client_ip, c.addr[C], 16), 0);
    EXPECT_INT(memcmp(r->server_ip, c.addr[S], 16), 0);
    EXPECT_INT(r->packets_c2s, 2);
    EXPECT_INT(r->packets_s2c, 1);
    EXPECT_INT(r->bytes_c2s, 100);
    EXPECT_INT(r->bytes_s2c, 500);
    EXPECT_TRUE(r->handshake_rtt < 0);
    EXPECT_CSTATE(r, "ESTABLISHED");
    EXPECT_SSTATE(r, "ESTABLISHED");
    sim_free(&s);

    /* Neither port well known: the lower one (8080) is the server's, even
     * when the other side speaks first. */
    sim_init(&s, NULL);
    conv_init_ports(&c, &s, 50000, 8080, 1, 2);
    tx(&c, C, F_PA, 10, 0);
    tx(&c, S, F_A, 0, 10 * MS);
    finish_at(&s, s.now);
    r = only(&s);
    EXPECT_ROLE(r, "port");
    EXPECT_INT(r->client_port, 50000);
    EXPECT_INT(r->server_port, 8080);
    sim_free(&s);
    done();
}

static void test_role_by_synack_when_first_packet_is_synack(void **state)
{
    (void)state;
    sim s;
    conv c;
    sim_init(&s, NULL);
    /* The SYN-ACK's sender uses the higher port: synack beats port. */
    conv_init_ports(&c, &s, 443, 50000, 1000000, 5000000);
    c.nxt[C] = c.isn[C] + 1; /* the unseen SYN */
    tx(&c, S, F_SA, 0, 0);
    tx(&c, C, F_A, 0, 10 * MS);
    tx(&c, C, F_PA, 10, 1 * MS);
    finish_at(&s, s.now);
    const conn_record *r = only(&s);
    EXPECT_ROLE(r, "synack");
    EXPECT_HS(r, "midstream"); /* no SYN from the client seen */
    EXPECT_INT(r->server_port, 50000);
    EXPECT_INT(r->client_port, 443);
    EXPECT_INT(memcmp(r->server_ip, c.addr[S], 16), 0);
    EXPECT_INT(r->packets_c2s, 2);
    EXPECT_INT(r->packets_s2c, 1);
    EXPECT_CSTATE(r, "ESTABLISHED");
    EXPECT_SSTATE(r, "ESTABLISHED");
    sim_free(&s);
    done();
}

static void test_syn_sender_is_client_even_with_lower_port(void **state)
{
    (void)state;
    sim s;
    conv c;
    sim_init(&s, NULL);
    conv_init_ports(&c, &s, 22, 50000, 7, 9);
    open_conn(&c, 0);
    finish_at(&s, s.now);
    const conn_record *r = only(&s);
    EXPECT_ROLE(r, "syn");
    EXPECT_HS(r, "complete");
    EXPECT_INT(r->client_port, 22);
    EXPECT_INT(r->server_port, 50000);
    sim_free(&s);
    done();
}

/* ---- closes ----------------------------------------------------------------- */

static void script_client_close(conv *c)
{
    tm[0] = open_conn(c, 0);
    tm[1] = tx(c, C, F_FA, 0, 1 * SEC); /* client FIN_WAIT1, server CLOSE_WAIT */
    tm[2] = tx(c, S, F_A, 0, 5 * MS);   /* client FIN_WAIT2 */
    tm[3] = tx(c, S, F_FA, 0, 10 * MS); /* client TIME_WAIT, server LAST_ACK */
    tm[4] = tx(c, C, F_A, 0, 5 * MS);   /* server CLOSED */
}

static void test_client_close_puts_client_in_time_wait(void **state)
{
    (void)state;
    sim s;
    conv c;
    sim_init(&s, NULL);
    conv_init(&c, &s);
    script_client_close(&c);
    assert_int_equal(s.nrec, 0); /* the client is in TIME_WAIT */
    finish_at(&s, tm[3] + 100 * SEC);
    const conn_record *r = only(&s);
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
    sim_free(&s);
    done();
}

static void test_server_close_puts_server_in_time_wait(void **state)
{
    (void)state;
    sim s;
    conv c;
    sim_init(&s, NULL);
    conv_init(&c, &s);
    open_conn(&c, 0);
    tx(&c, S, F_FA, 0, 1 * SEC);
    tx(&c, C, F_A, 0, 5 * MS);
    int64_t t3 = tx(&c, C, F_FA, 0, 10 * MS);
    tx(&c, S, F_A, 0, 5 * MS);
    finish_at(&s, t3 + 100 * SEC);
    const conn_record *r = only(&s);
    EXPECT_INITIATOR(r, "server");
    EXPECT_CLOSE(r, "fin");
    EXPECT_INT(r->closing, 0);
    EXPECT_TW_SIDE(r, "server");
    EXPECT_TS(r->time_wait_start, t3);
    EXPECT_TS(r->time_wait_end, t3 + 60 * SEC);
    EXPECT_TW_REASON(r, "expired");
    EXPECT_CSTATE(r, "CLOSED");
    EXPECT_SSTATE(r, "CLOSED");
    sim_free(&s);
    done();
}

static void test_three_segment_close(void **state)
{
    (void)state;
    sim s;
    conv c;
    sim_init(&s, NULL);
    conv_init(&c, &s);
    open_conn(&c, 0);
    tx(&c, C, F_FA, 0, 1 * SEC);
    int64_t t2 = tx(&c, S, F_FA, 0, 5 * MS); /* acks the client's FIN */
    int64_t t3 = tx(&c, C, F_A, 0, 5 * MS);
    finish_at(&s, t3 + 100 * SEC);
    const conn_record *r = only(&s);
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
    sim_free(&s);

    /* At the capture end right after it: client TIME_WAIT, server CLOSED. */
    sim_init(&s, NULL);
    conv_init(&c, &s);
    open_conn(&c, 0);
    tx(&c, C, F_FA, 0, 1 * SEC);
    tx(&c, S, F_FA, 0, 5 * MS);
    finish_at(&s, s.now);
    r = only(&s);
    EXPECT_CSTATE(r, "TIME_WAIT");
    EXPECT_SSTATE(r, "LAST_ACK");
    sim_free(&s);
    done();
}

static void script_crossed(conv *c)
{
    tm[0] = open_conn(c, 0);
    tm[1] = tx(c, C, F_FA, 0, 1 * SEC);
    uint32_t cfin = c->nxt[C] - 1;
    /* The server's FIN does not ack the client's: it was sent before the
     * client's FIN arrived. */
    tm[2] = tx_ack(c, S, F_FA, 0, 100 * US, cfin);
    tm[3] = tx(c, C, F_A, 0, 5 * MS); /* pure ACK of the server's FIN */
    tm[4] = tx(c, S, F_A, 0, 1 * MS); /* pure ACK of the client's FIN */
}

static void test_crossed_fins_put_both_in_closing(void **state)
{
    (void)state;
    sim s;
    conv c;
    sim_init(&s, NULL);
    conv_init(&c, &s);
    script_crossed(&c);
    finish_at(&s, tm[4] + 100 * SEC);
    const conn_record *r = only(&s);
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
    sim_free(&s);

    /* Both still in TIME_WAIT when the capture ends a second later. */
    sim_init(&s, NULL);
    conv_init(&c, &s);
    script_crossed(&c);
    finish_at(&s, tm[4] + 1 * SEC);
    r = only(&s);
    EXPECT_INT(r->closing, 2);
    EXPECT_TW_SIDE(r, "both");
    EXPECT_TW_REASON(r, "capture_end");
    EXPECT_TS(r->time_wait_end, tm[4] + 1 * SEC);
    EXPECT_CSTATE(r, "TIME_WAIT");
    EXPECT_SSTATE(r, "TIME_WAIT");
    sim_free(&s);

    /* Before any ACK: both in CLOSING. */
    sim_init(&s, NULL);
    conv_init(&c, &s);
    open_conn(&c, 0);
    tx(&c, C, F_FA, 0, 1 * SEC);
    tx_ack(&c, S, F_FA, 0, 100 * US, c.nxt[C] - 1);
    finish_at(&s, s.now);
    r = only(&s);
    EXPECT_INITIATOR(r, "both");
    EXPECT_CSTATE(r, "CLOSING");
    EXPECT_SSTATE(r, "CLOSING");
    sim_free(&s);
    done();
}

/* BSD/macOS: FIN, FIN, FIN+ACK (retransmission acking the other FIN), ACK, ACK. */
static void script_bsd(conv *c)
{
    tm[0] = open_conn(c, 0);
    tm[1] = tx(c, C, F_FA, 0, 1 * SEC);
    uint32_t cfin = c->nxt[C] - 1;
    tm[2] = tx_ack(c, S, F_FA, 0, 100 * US, cfin);
    tm[3] = tx_seq(c, C, F_FA, 0, 5 * MS, cfin); /* acks the server's FIN */
    tm[4] = tx(c, S, F_A, 0, 1 * MS);
    tm[5] = tx(c, C, F_A, 0, 1 * MS);
}

static void test_bsd_fin_ack_retransmission_is_crossed_not_lost(void **state)
{
    (void)state;
    sim s;
    conv c;
    sim_init(&s, NULL);
    conv_init(&c, &s);
    script_bsd(&c);
    finish_at(&s, tm[5] + 100 * SEC);
    const conn_record *r = only(&s);
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
    sim_free(&s);
    done();
}

/* X FIN; Y FIN not acking it; X pure ACK of Y's FIN; X retransmits its FIN;
 * Y acks it. X's first FIN was lost after the capture point. */
static void script_lost_fin(conv *c)
{
    tm[0] = open_conn(c, 0);
    tm[1] = tx(c, C, F_FA, 0, 1 * SEC);
    uint32_t cfin = c->nxt[C] - 1;
    tm[2] = tx_ack(c, S, F_FA, 0, 10 * MS, cfin);  /* server FIN_WAIT1 */
    tm[3] = tx(c, C, F_A, 0, 1 * MS);              /* server FIN_WAIT2 */
    tm[4] = tx_seq(c, C, F_FA, 0, 200 * MS, cfin); /* server TIME_WAIT */
    tm[5] = tx(c, S, F_A, 0, 1 * MS);              /* client CLOSING -> TIME_WAIT */
}

static void test_lost_fin_puts_only_one_side_in_closing(void **state)
{
    (void)state;
    sim s;
    conv c;
    sim_init(&s, NULL);
    conv_init(&c, &s);
    script_lost_fin(&c);
    finish_at(&s, tm[5] + 100 * SEC);
    const conn_record *r = only(&s);
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
    sim_free(&s);

    /* At a capture end right after the retransmission: the server is in
     * TIME_WAIT (since the retransmission), the client still in CLOSING. */
    sim_init(&s, NULL);
    conv_init(&c, &s);
    open_conn(&c, 0);
    tx(&c, C, F_FA, 0, 1 * SEC);
    uint32_t cfin = c.nxt[C] - 1;
    tx_ack(&c, S, F_FA, 0, 10 * MS, cfin);
    tx(&c, C, F_A, 0, 1 * MS);
    int64_t t4 = tx_seq(&c, C, F_FA, 0, 200 * MS, cfin);
    finish_at(&s, t4 + 1 * SEC);
    r = only(&s);
    EXPECT_INT(r->closing, 1);
    EXPECT_TW_SIDE(r, "server");
    EXPECT_TS(r->time_wait_start, t4);
    EXPECT_TS(r->time_wait_end, t4 + 1 * SEC);
    EXPECT_TW_REASON(r, "capture_end");
    EXPECT_CSTATE(r, "CLOSING");
    EXPECT_SSTATE(r, "TIME_WAIT");
    sim_free(&s);
    done();
}

/* The same closes with the roles swapped: the server's FIN comes first. */
static void test_crossed_and_lost_fins_mirrored(void **state)
{
    (void)state;
    sim s;
    conv c;
    /* crossed, server first */
    sim_init(&s, NULL);
    conv_init(&c, &s);
    open_conn(&c, 0);
    tx(&c, S, F_FA, 0, 1 * SEC);
    tx_ack(&c, C, F_FA, 0, 100 * US, c.nxt[S] - 1);
    int64_t t3 = tx(&c, S, F_A, 0, 1 * MS);
    int64_t t4 = tx(&c, C, F_A, 0, 5 * MS);
    finish_at(&s, t4 + 100 * SEC);
    const conn_record *r = only(&s);
    EXPECT_INITIATOR(r, "both");
    EXPECT_INT(r->closing, 2);
    EXPECT_TW_SIDE(r, "both");
    EXPECT_TS(r->time_wait_start, t3);
    EXPECT_TS(r->time_wait_end, t4 + 60 * SEC);
    EXPECT_INT(r->fin_retransmits, 0);
    sim_free(&s);

    /* lost, server first */
    sim_init(&s, NULL);
    conv_init(&c, &s);
    open_conn(&c, 0);
    tx(&c, S, F_FA, 0, 1 * SEC);
    uint32_t sfin = c.nxt[S] - 1;
    tx_ack(&c, C, F_FA, 0, 10 * MS, sfin);
    tx(&c, S, F_A, 0, 1 * MS);
    int64_t tr = tx_seq(&c, S, F_FA, 0, 200 * MS, sfin);
    int64_t t5 = tx(&c, C, F_A, 0, 20 * MS);
    finish_at(&s, t5 + 100 * SEC);
    r = only(&s);
    EXPECT_INITIATOR(r, "both");
    EXPECT_INT(r->closing, 1);
    EXPECT_TW_SIDE(r, "both");
    EXPECT_TS(r->time_wait_start, tr);
    EXPECT_TS(r->time_wait_end, t5 + 60 * SEC);
    EXPECT_INT(r->fin_retransmits, 1);
    sim_free(&s);
    done();
}

static void test_half_close_with_data_after_first_fin(void **state)
{
    (void)state;
    sim s;
    conv c;
    sim_init(&s, NULL);
    conv_init(&c, &s);
    open_conn(&c, 0);
    tx(&c, C, F_FA, 0, 1 * SEC);
    tx(&c, S, F_A, 0, 5 * MS);
    tx(&c, S, F_PA, 1000, 10 * MS); /* the server keeps sending */
    tx(&c, C, F_A, 0, 5 * MS);
    tx(&c, S, F_PA, 500, 10 * MS);
    tx(&c, C, F_A, 0, 5 * MS);
    int64_t t7 = tx(&c, S, F_FA, 0, 2 * SEC);
    tx(&c, C, F_A, 0, 5 * MS);
    finish_at(&s, t7 + 100 * SEC);
    const conn_record *r = only(&s);
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
    sim_free(&s);

    /* Cut in the middle: client FIN_WAIT2, server CLOSE_WAIT. */
    sim_init(&s, NULL);
    conv_init(&c, &s);
    open_conn(&c, 0);
    tx(&c, C, F_FA, 0, 1 * SEC);
    tx(&c, S, F_A, 0, 5 * MS);
    tx(&c, S, F_PA, 1000, 10 * MS);
    tx(&c, C, F_A, 0, 5 * MS);
    finish_at(&s, s.now);
    r = only(&s);
    EXPECT_INITIATOR(r, "client");
    EXPECT_CSTATE(r, "FIN_WAIT2");
    EXPECT_SSTATE(r, "CLOSE_WAIT");
    EXPECT_TW_SIDE(r, "none");
    sim_free(&s);
    done();
}

static void test_one_direction_capture_still_has_close_initiator(void **state)
{
    (void)state;
    sim s;
    conv c;
    sim_init(&s, NULL);
    conv_init(&c, &s);
    tx(&c, C, F_PA, 100, 0);
    tx(&c, C, F_PA, 100, 10 * MS);
    tx(&c, C, F_FA, 0, 10 * MS);
    finish_at(&s, s.now);
    const conn_record *r = only(&s);
    EXPECT_HS(r, "midstream");
    EXPECT_INITIATOR(r, "client");
    EXPECT_CLOSE(r, "fin");
    EXPECT_CSTATE(r, "FIN_WAIT1");
    EXPECT_SSTATE(r, "CLOSE_WAIT");
    sim_free(&s);
    done();
}

/* ---- resets ------------------------------------------------------------------ */

static void test_rst_from_client_closes_both_without_time_wait(void **state)
{
    (void)state;
    sim s;
    conv c;
    sim_init(&s, NULL);
    conv_init(&c, &s);
    open_conn(&c, 0);
    int64_t t = tx(&c, C, F_R, 0, 1 * SEC);
    finish_at(&s, t);
    const conn_record *r = only(&s);
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
    sim_free(&s);
    done();
}

static void test_rst_from_server_closes_both_without_time_wait(void **state)
{
    (void)state;
    sim s;
    conv c;
    sim_init(&s, NULL);
    conv_init(&c, &s);
    open_conn(&c, 0);
    int64_t t = tx(&c, S, F_RA, 0, 1 * SEC);
    finish_at(&s, t + 200 * SEC);
    const conn_record *r = only(&s);
    EXPECT_INITIATOR(r, "server");
    EXPECT_CLOSE(r, "rst");
    EXPECT_INT(r->closing, 0);
    EXPECT_TW_SIDE(r, "none");
    EXPECT_TW_REASON(r, "");
    EXPECT_CSTATE(r, "CLOSED");
    EXPECT_SSTATE(r, "CLOSED");
    EXPECT_ANOM(r, "");
    EXPECT_INT(r->packets_s2c, 3);
    sim_free(&s);
    done();
}

/* The initiator's *first* close segment decides close_type. */
static void test_rst_after_fin_keeps_close_type_fin(void **state)
{
    (void)state;
    sim s;
    conv c;
    sim_init(&s, NULL);
    conv_init(&c, &s);
    open_conn(&c, 0);
    tx(&c, C, F_FA, 0, 1 * SEC);
    tx(&c, S, F_RA, 0, 5 * MS);
    finish_at(&s, s.now);
    const conn_record *r = only(&s);
    EXPECT_INITIATOR(r, "client");
    EXPECT_CLOSE(r, "fin");
    EXPECT_TW_SIDE(r, "none");
    EXPECT_CSTATE(r, "CLOSED");
    EXPECT_SSTATE(r, "CLOSED");
    sim_free(&s);
    done();
}

static void test_blind_rst_out_of_window_changes_nothing(void **state)
{
    (void)state;
    sim s;
    conv c;
    sim_init(&s, NULL);
    conv_init(&c, &s);
    open_conn(&c, 0);
    /* Forged from the client's address, far from anything in window. */
    tx_seq(&c, C, F_R, 0, 1 * SEC, c.nxt[C] + 0x40000000u);
    finish_at(&s, s.now);
    const conn_record *r = only(&s);
    EXPECT_ANOM(r, "rst_out_of_window");
    EXPECT_CSTATE(r, "ESTABLISHED");
    EXPECT_SSTATE(r, "ESTABLISHED");
    EXPECT_TW_SIDE(r, "none");
    sim_free(&s);

    /* The same, then the server closes normally: one row, server close. */
    sim_init(&s, NULL);
    conv_init(&c, &s);
    open_conn(&c, 0);
    tx_seq(&c, C, F_R, 0, 1 * SEC, c.nxt[C] + 0x40000000u);
    assert_int_equal(s.nrec, 0);
    tx(&c, S, F_PA, 300, 10 * MS);
    tx(&c, C, F_A, 0, 10 * MS);
    tx(&c, S, F_FA, 0, 1 * SEC);
    int64_t t = tx(&c, C, F_FA, 0, 5 * MS); /* acks the server's FIN */
    tx(&c, S, F_A, 0, 5 * MS);
    finish_at(&s, t + 100 * SEC);
    r = only(&s);
    EXPECT_ANOM(r, "rst_out_of_window");
    EXPECT_INITIATOR(r, "server");
    EXPECT_CLOSE(r, "fin");
    EXPECT_TW_SIDE(r, "server");
    EXPECT_TS(r->time_wait_start, t);
    EXPECT_TW_REASON(r, "expired");
    EXPECT_INT(r->closing, 0);
    EXPECT_INT(r->packets_c2s, 7);
    sim_free(&s);
    done();
}

static void test_in_window_rst_with_other_ttl_is_flagged(void **state)
{
    (void)state;
    sim s;
    conv c;
    sim_init(&s, NULL);
    conv_init(&c, &s);
    open_conn(&c, 0);
    dissect_segment g = seg_of(&c, S, F_RA, 0);
    g.ttl = 250; /* a middlebox's reset */
    send_seg(&c, S, g, 1 * SEC);
    finish_at(&s, s.now);
    const conn_record *r = only(&s);
    EXPECT_ANOM(r, "rst_ttl_changed");
    EXPECT_INITIATOR(r, "server");
    EXPECT_CLOSE(r, "rst");
    EXPECT_CSTATE(r, "CLOSED");
    EXPECT_SSTATE(r, "CLOSED");
    sim_free(&s);
    done();
}

/* Established with the server advertising `swin` (scaled by 2^wscale when
 * both SYNs carry the option); then a client RST at c.nxt[C] + off.
 * Returns 1 when the RST was acceptable (the connection was reset). */
static int client_rst_at_offset(int wscale, uint16_t swin, int64_t off, uint32_t isn)
{
    sim s;
    conv c;
    sim_init(&s, NULL);
    conv_init_ports(&c, &s, 40000, 80, isn, 5000000);
    c.wscale = wscale;
    open_conn(&c, 0);
    c.window[S] = swin;
    tx(&c, S, F_A, 0, 10 * MS);
    tx_seq(&c, C, F_R, 0, 10 * MS, c.nxt[C] + (uint32_t)off);
    finish_at(&s, s.now);
    const conn_record *r = only(&s);
    int reset = r->close_type == CLOSE_RST;
    int anomaly = !!(r->anomalies & ANOM_RST_OUT_OF_WINDOW);
    if (reset == anomaly)
        soft_fail(__FILE__, __LINE__,
                  "RST at rcv_nxt%+" PRId64 ": close_type %s with anomalies \"%s\"", off,
                  conn_close_type_name(r->close_type), anomalies_text(r->anomalies));
    if (reset) {
        EXPECT_CSTATE(r, "CLOSED");
        EXPECT_SSTATE(r, "CLOSED");
    } else {
        EXPECT_CSTATE(r, "ESTABLISHED");
        EXPECT_SSTATE(r, "ESTABLISHED");
    }
    sim_free(&s);
    return reset;
}

#define EXPECT_RST(wscale, swin, off, isn, acceptable)                                             \
    do {                                                                                           \
        int got_ = client_rst_at_offset(wscale, swin, off, isn);                                   \
        if (got_ != (acceptable))                                                                  \
            soft_fail(__FILE__, __LINE__,                                                          \
                      "RST at rcv_nxt%+" PRId64 " (W=%u<<%d): %s, expected %s", (int64_t)(off),    \
                      (unsigned)(swin), (wscale) < 0 ? 0 : (wscale),                               \
                      got_ ? "acceptable" : "rejected", (acceptable) ? "acceptable" : "rejected"); \
    } while (0)

static void test_rst_acceptable_within_one_window_of_rcv_nxt(void **state)
{
    (void)state;
    /* rcv_nxt - W <= seq < rcv_nxt + W, W = 1000 unscaled. */
    EXPECT_RST(-1, 1000, 0, 1000000, 1);
    EXPECT_RST(-1, 1000, 999, 1000000, 1);
    EXPECT_RST(-1, 1000, 1000, 1000000, 0);
    EXPECT_RST(-1, 1000, -1000, 1000000, 1);
    EXPECT_RST(-1, 1000, -1001, 1000000, 0);
    /* Across the 2^32 wrap: rcv_nxt a little above 0. */
    EXPECT_RST(-1, 1000, -500, 0xFFFFFF00u, 1);
    EXPECT_RST(-1, 1000, 999, 0xFFFFFF00u, 1);
    EXPECT_RST(-1, 1000, -1001, 0xFFFFFF00u, 0);
    done();
}

static void test_rst_window_is_scaled(void **state)
{
    (void)state;
    /* Both SYNs carry wscale 7: the window 1000 means 128000 bytes. */
    EXPECT_RST(7, 1000, 100000, 1000000, 1);
    EXPECT_RST(7, 1000, 127999, 1000000, 1);
    EXPECT_RST(7, 1000, 128000, 1000000, 0);
    EXPECT_RST(7, 1000, -128000, 1000000, 1);
    EXPECT_RST(7, 1000, -128001, 1000000, 0);
    done();
}

static void test_rst_window_is_65535_when_receiver_sent_nothing(void **state)
{
    (void)state;
    for (int i = 0; i < 2; i++) {
        int64_t off = i == 0 ? 65534 : 65535;
        sim s;
        conv c;
        sim_init(&s, NULL);
        conv_init(&c, &s);
        tx(&c, C, F_PA, 100, 0); /* midstream, the server silent */
        tx(&c, C, F_PA, 100, 10 * MS);
        tx_seq(&c, C, F_R, 0, 10 * MS, c.nxt[C] + (uint32_t)off);
        finish_at(&s, s.now);
        const conn_record *r = only(&s);
        if (i == 0) {
            EXPECT_CLOSE(r, "rst");
            EXPECT_ANOM(r, "");
        } else {
            EXPECT_CLOSE(r, "none");
            EXPECT_ANOM(r, "rst_out_of_window");
        }
        sim_free(&s);
    }
    done();
}

/* Scaling holds only when both SYNs carried the option (RFC 7323), and the
 * window field of a SYN is never scaled. */
static void test_rst_window_scaling_needs_both_syns(void **state)
{
    (void)state;
    for (int sides = 1; sides <= 2; sides++) {
        sim s;
        conv c;
        sim_init(&s, NULL);
        conv_init(&c, &s);
        c.wscale = 7;
        c.wscale_sides = sides; /* only one SYN carries wscale 7 */
        open_conn(&c, 0);
        c.window[S] = 1000;
        tx(&c, S, F_A, 0, 10 * MS);
        tx_seq(&c, C, F_R, 0, 10 * MS, c.nxt[C] + 100000);
        finish_at(&s, s.now);
        const conn_record *r = only(&s);
        EXPECT_ANOM(r, "rst_out_of_window");
        EXPECT_CLOSE(r, "none");
        sim_free(&s);
    }
    /* The server has sent only its SYN-ACK (window 1000, wscale 7). */
    sim s;
    conv c;
    sim_init(&s, NULL);
    conv_init(&c, &s);
    c.wscale = 7;
    c.window[S] = 1000;
    tx(&c, C, F_SYN, 0, 0);
    tx(&c, S, F_SA, 0, 10 * MS);
    tx(&c, C, F_A, 0, 10 * MS);
    tx_seq(&c, C, F_R, 0, 10 * MS, c.nxt[C] + 5000);
    finish_at(&s, s.now);
    const conn_record *r = only(&s);
    EXPECT_ANOM(r, "rst_out_of_window");
    EXPECT_CLOSE(r, "none");
    sim_free(&s);
    done();
}

static void test_forged_rst_out_of_window_with_other_ttl_has_both_anomalies(void **state)
{
    (void)state;
    sim s;
    conv c;
    sim_init(&s, NULL);
    conv_init(&c, &s);
    open_conn(&c, 0);
    dissect_segment g = seg_of(&c, S, F_R, 0);
    g.seq += 0x40000000u;
    g.ttl = 200;
    send_seg(&c, S, g, 1 * SEC);
    finish_at(&s, s.now);
    const conn_record *r = only(&s);
    EXPECT_ANOM(r, "rst_out_of_window;rst_ttl_changed");
    EXPECT_CSTATE(r, "ESTABLISHED");
    EXPECT_SSTATE(r, "ESTABLISHED");
    sim_free(&s);
    done();
}

/* ---- TIME_WAIT ------------------------------------------------------------------ */

static void test_time_wait_expires_after_two_msl_within_capture(void **state)
{
    (void)state;
    sim s;
    conv c, other;
    sim_init(&s, NULL);
    conv_init(&c, &s);
    conv_init_ports(&other, &s, 40001, 80, 1, 2);
    script_client_close(&c);
    tx(&other, C, F_PA, 1, 59 * SEC); /* tm[3] + 59.005 s */
    assert_int_equal(s.nrec, 0);
    tx(&other, C, F_PA, 1, 2 * SEC); /* past tm[3] + 60 s */
    /* The row is written when TIME_WAIT ends, not at the capture end. */
    assert_int_equal(s.nrec, 1);
    const conn_record *r = &s.rec[0];
    EXPECT_INT(r->client_port, 40000);
    EXPECT_TW_SIDE(r, "client");
    EXPECT_TS(r->time_wait_start, tm[3]);
    EXPECT_TS(r->time_wait_end, tm[3] + 60 * SEC);
    EXPECT_TW_REASON(r, "expired");
    EXPECT_DUR(r->time_wait_end - r->time_wait_start, 60 * SEC);
    EXPECT_CSTATE(r, "CLOSED");
    EXPECT_SSTATE(r, "CLOSED");
    finish_at(&s, s.now);
    assert_int_equal(s.nrec, 2);
    sim_free(&s);
    done();
}

/* 2*MSL that ends exactly at the capture end happened within it. */
static void test_time_wait_expiry_boundary_at_capture_end(void **state)
{
    (void)state;
    for (int late = 0; late < 2; late++) {
        sim s;
        conv c;
        sim_init(&s, NULL);
        conv_init(&c, &s);
        script_client_close(&c);
        int64_t end = tm[3] + 60 * SEC - (late ? 0 : 1);
        finish_at(&s, end);
        const conn_record *r = only(&s);
        EXPECT_TS(r->time_wait_end, end);
        EXPECT_TW_REASON(r, late ? "expired" : "capture_end");
        EXPECT_CSTATE(r, late ? "CLOSED" : "TIME_WAIT");
        sim_free(&s);
    }
    done();
}

static void test_time_wait_cut_by_capture_end(void **state)
{
    (void)state;
    sim s;
    conv c, other;
    sim_init(&s, NULL);
    conv_init(&c, &s);
    conv_init_ports(&other, &s, 40001, 80, 1, 2);
    script_client_close(&c);
    int64_t end = tx(&other, C, F_PA, 1, 10 * SEC); /* the capture's last packet */
    finish_at(&s, end);
    assert_int_equal(s.nrec, 2);
    const conn_record *r = row_by_cport(&s, 40000);
    EXPECT_TW_SIDE(r, "client");
    EXPECT_TS(r->time_wait_start, tm[3]);
    EXPECT_TS(r->time_wait_end, end);
    EXPECT_TW_REASON(r, "capture_end");
    EXPECT_DUR(r->time_wait_end - r->time_wait_start, end - tm[3]);
    /* "each endpoint's state when the row was written": still TIME_WAIT. */
    EXPECT_CSTATE(r, "TIME_WAIT");
    EXPECT_SSTATE(r, "CLOSED");
    sim_free(&s);
    done();
}

static void test_time_wait_ended_by_reuse_starts_second_instance(void **state)
{
    (void)state;
    sim s;
    conv c;
    sim_init(&s, NULL);
    conv_init(&c, &s);
    script_client_close(&c);
    /* The same client port again, other ISNs, 5 s later. */
    c.isn[C] = c.nxt[C] = 777777777;
    c.isn[S] = c.nxt[S] = 888888888;
    int64_t t_syn = tx(&c, C, F_SYN, 0, 5 * SEC);
    assert_int_equal(s.nrec, 1); /* the old instance ends at the SYN */
    const conn_record *r = &s.rec[0];
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
    finish_at(&s, t_ack);
    assert_int_equal(s.nrec, 2);
    r = row_by_id(&s, 2);
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
    const flows_stats *st = flows_get_stats(s.t);
    EXPECT_INT(st->instances, 2);
    EXPECT_INT(st->reused, 1);
    sim_free(&s);
    done();
}

static void test_new_syn_on_server_time_wait_is_reuse(void **state)
{
    (void)state;
    sim s;
    conv c;
    sim_init(&s, NULL);
    conv_init(&c, &s);
    open_conn(&c, 0);
    tx(&c, S, F_FA, 0, 1 * SEC);
    tx(&c, C, F_FA, 0, 5 * MS);
    int64_t t3 = tx(&c, S, F_A, 0, 5 * MS);
    (void)t3;
    c.isn[C] = c.nxt[C] = 424242;
    int64_t t_syn = tx(&c, C, F_SYN, 0, 2 * SEC);
    assert_int_equal(s.nrec, 1);
    const conn_record *r = &s.rec[0];
    EXPECT_TW_SIDE(r, "server");
    EXPECT_TW_REASON(r, "reused");
    EXPECT_TS(r->time_wait_end, t_syn);
    EXPECT_SSTATE(r, "CLOSED");
    finish_at(&s, s.now);
    assert_int_equal(s.nrec, 2);
    EXPECT_HS(row_by_id(&s, 2), "syn_only");
    sim_free(&s);
    done();
}

static void test_new_syn_after_reset_starts_new_instance(void **state)
{
    (void)state;
    sim s;
    conv c;
    sim_init(&s, NULL);
    conv_init(&c, &s);
    open_conn(&c, 0);
    tx(&c, S, F_RA, 0, 1 * SEC);
    c.isn[C] = c.nxt[C] = 31337;
    c.isn[S] = c.nxt[S] = 73313;
    open_conn(&c, 1 * SEC);
    finish_at(&s, s.now);
    assert_int_equal(s.nrec, 2);
    const conn_record *r1 = row_by_id(&s, 1), *r2 = row_by_id(&s, 2);
    EXPECT_CLOSE(r1, "rst");
    EXPECT_TW_SIDE(r1, "none");
    EXPECT_INT(r1->packets_c2s, 4);
    EXPECT_INT(r1->packets_s2c, 3);
    EXPECT_HS(r2, "complete");
    EXPECT_INITIATOR(r2, "none");
    EXPECT_INT(r2->packets_c2s, 4);
    EXPECT_INT(r2->packets_s2c, 2);
    sim_free(&s);
    done();
}

static void test_retransmitted_fin_in_time_wait_restarts_timer(void **state)
{
    (void)state;
    sim s;
    conv c;
    sim_init(&s, NULL);
    conv_init(&c, &s);
    script_client_close(&c); /* client TIME_WAIT at tm[3] */
    uint32_t sfin = c.nxt[S] - 1;
    /* The client's last ACK was lost after the capture point. */
    int64_t t5 = tx_seq(&c, S, F_FA, 0, 1 * SEC, sfin);
    tx(&c, C, F_A, 0, 1 * MS);
    finish_at(&s, t5 + 100 * SEC);
    const conn_record *r = only(&s);
    EXPECT_TW_SIDE(r, "client");
    EXPECT_TS(r->time_wait_start, tm[3]);
    EXPECT_TS(r->time_wait_end, t5 + 60 * SEC);
    EXPECT_TW_REASON(r, "expired");
    EXPECT_INT(r->fin_retransmits, 1);
    EXPECT_CSTATE(r, "CLOSED");
    sim_free(&s);
    done();
}

static void test_msl_option_sets_time_wait_length(void **state)
{
    (void)state;
    sim s;
    conv c;
    flows_config cfg;
    flows_config_default(&cfg);
    cfg.msl = 5 * SEC;
    sim_init(&s, &cfg);
    conv_init(&c, &s);
    script_client_close(&c);
    finish_at(&s, tm[4] + 100 * SEC);
    const conn_record *r = only(&s);
    EXPECT_TW_SIDE(r, "client");
    EXPECT_TS(r->time_wait_end, tm[3] + 10 * SEC);
    EXPECT_DUR(r->time_wait_end - r->time_wait_start, 10 * SEC);
    EXPECT_TW_REASON(r, "expired");
    sim_free(&s);
    done();
}

/* ---- sequence space ------------------------------------------------------------ */

static void test_sequence_numbers_wrap_past_2_32(void **state)
{
    (void)state;
    sim s;
    conv c;
    sim_init(&s, NULL);
    /* The client's data crosses 2^32; the server's SYN-ACK is the last
     * sequence number before the wrap. */
    conv_init_ports(&c, &s, 40000, 80, 0xFFFFFF00u, 0xFFFFFFFFu);
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
    finish_at(&s, t + 100 * SEC);
    const conn_record *r = only(&s);
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
    sim_free(&s);

    /* A FIN at sequence number 0xFFFFFFFF, acked by ACK 0. */
    sim_init(&s, NULL);
    conv_init_ports(&c, &s, 40000, 80, 12345, 0xFFFFFFFEu);
    tx(&c, C, F_SYN, 0, 0);
    tx(&c, S, F_SA, 0, 10 * MS);
    tx(&c, C, F_A, 0, 10 * MS);
    tx(&c, S, F_FA, 0, 1 * SEC); /* seq 0xFFFFFFFF */
    tx(&c, C, F_A, 0, 5 * MS);   /* ack 0 */
    t = tx(&c, C, F_FA, 0, 5 * MS);
    tx(&c, S, F_A, 0, 5 * MS);
    finish_at(&s, t + 100 * SEC);
    r = only(&s);
    EXPECT_INITIATOR(r, "server");
    EXPECT_INT(r->closing, 0);
    EXPECT_TW_SIDE(r, "server");
    EXPECT_TS(r->time_wait_start, t);
    EXPECT_CSTATE(r, "CLOSED");
    EXPECT_SSTATE(r, "CLOSED");
    sim_free(&s);
    done();
}

/* ---- IPv6 --------------------------------------------------------------------- */

static void test_ipv6_connection(void **state)
{
    (void)state;
    sim s;
    conv c;
    sim_init(&s, NULL);
    conv_init6(&c, &s);
    script_client_close(&c);
    finish_at(&s, tm[4] + 100 * SEC);
    const conn_record *r = only(&s);
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
    EXPECT_INT(flows_get_stats(s.t)->duplicates, 0);
    sim_free(&s);

    /* IPv4 and IPv6 with the same ports are different connections. */
    conv c4;
    sim_init(&s, NULL);
    conv_init6(&c, &s);
    conv_init(&c4, &s);
    open_conn(&c, 0);
    open_conn(&c4, 1 * MS);
    finish_at(&s, s.now);
    assert_int_equal(s.nrec, 2);
    EXPECT_TRUE(s.rec[0].ip_version != s.rec[1].ip_version);
    sim_free(&s);
    done();
}

/* ---- anomalies ----------------------------------------------------------------- */

static void test_data_after_fin_is_an_anomaly(void **state)
{
    (void)state;
    sim s;
    conv c;
    sim_init(&s, NULL);
    conv_init(&c, &s);
    open_conn(&c, 0);
    tx(&c, C, F_FA, 0, 1 * SEC);
    tx(&c, C, F_PA, 100, 5 * MS); /* new data beyond its own FIN */
    tx(&c, S, F_RA, 0, 5 * MS);
    finish_at(&s, s.now);
    const conn_record *r = only(&s);
    EXPECT_TRUE(r->anomalies & ANOM_DATA_AFTER_FIN);
    EXPECT_INITIATOR(r, "client");
    EXPECT_CLOSE(r, "fin");
    sim_free(&s);
    done();
}

static void test_retransmitted_data_before_fin_is_not_data_after_fin(void **state)
{
    (void)state;
    sim s;
    conv c;
    sim_init(&s, NULL);
    conv_init(&c, &s);
    open_conn(&c, 0);
    uint32_t seq = c.nxt[C];
    tx(&c, C, F_PA, 100, 1 * SEC);
    tx(&c, C, F_FA, 0, 1 * MS);
    tx_seq(&c, C, F_PA, 100, 200 * MS, seq); /* old data again */
    tx(&c, S, F_FA, 0, 5 * MS);
    tx(&c, C, F_A, 0, 5 * MS);
    finish_at(&s, s.now);
    const conn_record *r = only(&s);
    EXPECT_ANOM(r, "");
    EXPECT_INT(r->bytes_c2s, 400); /* retransmissions are counted */
    EXPECT_TW_SIDE(r, "client");
    sim_free(&s);
    done();
}

/* Data carried by the FIN itself, or retransmitted with it, is not beyond it. */
static void test_fin_with_data_is_not_data_after_fin(void **state)
{
    (void)state;
    sim s;
    conv c;
    sim_init(&s, NULL);
    conv_init(&c, &s);
    open_conn(&c, 0);
    uint32_t seq = c.nxt[C];
    tx(&c, C, F_FA | DISSECT_PSH, 100, 1 * SEC);
    tx_seq(&c, C, F_FA | DISSECT_PSH, 100, 200 * MS, seq);
    int64_t t = tx(&c, S, F_FA, 0, 5 * MS);
    tx(&c, C, F_A, 0, 5 * MS);
    finish_at(&s, t + 100 * SEC);
    const conn_record *r = only(&s);
    EXPECT_ANOM(r, "");
    EXPECT_INT(r->fin_retransmits, 1);
    EXPECT_INT(r->bytes_c2s, 400);
    EXPECT_INITIATOR(r, "client");
    EXPECT_TW_SIDE(r, "client");
    EXPECT_TS(r->time_wait_start, t);
    EXPECT_INT(r->closing, 0);
    sim_free(&s);
    done();
}

static void test_syn_with_data_is_an_anomaly(void **state)
{
    (void)state;
    sim s;
    conv c;
    sim_init(&s, NULL);
    conv_init(&c, &s);
    tx(&c, C, F_SYN, 50, 0); /* TCP Fast Open */
    tx(&c, S, F_SA, 0, 10 * MS);
    tx(&c, C, F_A, 0, 10 * MS);
    finish_at(&s, s.now);
    const conn_record *r = only(&s);
    EXPECT_ANOM(r, "syn_with_data");
    EXPECT_HS(r, "complete");
    EXPECT_INT(r->bytes_c2s, 50);
    EXPECT_CSTATE(r, "ESTABLISHED");
    EXPECT_SSTATE(r, "ESTABLISHED");
    sim_free(&s);
    done();
}

static void test_idle_timeout_ends_instance(void **state)
{
    (void)state;
    sim s;
    conv c, other;
    flows_config cfg;
    flows_config_default(&cfg);
    cfg.idle_timeout = 10 * SEC;
    sim_init(&s, &cfg);
    conv_init(&c, &s);
    conv_init_ports(&other, &s, 40001, 80, 1, 2);
    open_conn(&c, 0);
    tx(&other, C, F_PA, 1, 5 * SEC);
    assert_int_equal(s.nrec, 0);
    tx(&other, C, F_PA, 1, 7 * SEC); /* 12 s after the connection's last packet */
    assert_int_equal(s.nrec, 1);
    const conn_record *r = &s.rec[0];
    EXPECT_INT(r->client_port, 40000);
    EXPECT_ANOM(r, "idle_timeout");
    EXPECT_HS(r, "complete");
    EXPECT_INITIATOR(r, "none");
    EXPECT_TW_SIDE(r, "none");
    EXPECT_CSTATE(r, "ESTABLISHED");
    EXPECT_SSTATE(r, "ESTABLISHED");
    EXPECT_INT(flows_get_stats(s.t)->idle_timeouts, 1);
    finish_at(&s, s.now);
    EXPECT_ANOM(row_by_cport(&s, 40001), "");
    sim_free(&s);
    done();
}

static void test_max_flows_evicts_an_instance(void **state)
{
    (void)state;
    sim s;
    conv c[3];
    flows_config cfg;
    flows_config_default(&cfg);
    cfg.max_flows = 2;
    sim_init(&s, &cfg);
    for (int i = 0; i < 3; i++) {
        conv_init_ports(&c[i], &s, (uint16_t)(40001 + i), 80, 1000u * (unsigned)i + 1, 7);
        tx(&c[i], C, F_SYN, 0, 1 * MS);
    }
    assert_int_equal(s.nrec, 1); /* the third SYN made room */
    EXPECT_ANOM(&s.rec[0], "evicted");
    EXPECT_HS(&s.rec[0], "syn_only");
    const flows_stats *st = flows_get_stats(s.t);
    EXPECT_INT(st->evicted, 1);
    EXPECT_TRUE(st->peak_alive <= 2);
    finish_at(&s, s.now);
    assert_int_equal(s.nrec, 3);
    int evicted = 0;
    for (size_t i = 0; i < s.nrec; i++)
        evicted += !!(s.rec[i].anomalies & ANOM_EVICTED);
    EXPECT_INT(evicted, 1);
    EXPECT_INT(st->evicted, 1);
    EXPECT_INT(st->instances, 3);
    EXPECT_INT(st->alive, 0);
    sim_free(&s);
    done();
}

/* A SYN flood under --max-flows: the spoofed attempts are evicted, the
 * connections that got an answer stay tracked and are classified whole,
 * however long their packets are apart. */
static void test_syn_flood_evicts_attempts_before_answered_connections(void **state)
{
    (void)state;
    sim s;
    flows_config cfg;
    flows_config_default(&cfg);
    cfg.max_flows = 100;
    sim_init(&s, &cfg);
    enum { LEGIT = 20, FLOOD = 10000 };
    conv legit[LEGIT];
    for (int i = 0; i < LEGIT; i++) {
        conv_init_ports(&legit[i], &s, (uint16_t)(30000 + i), 80, 7000u * (unsigned)i + 1, 9);
        open_conn(&legit[i], 1 * MS);
    }
    conv spoofed;
    for (int k = 0; k < FLOOD; k++) {
        conv_init_ports(&spoofed, &s, (uint16_t)(40000 + k % 20000), 443, (uint32_t)k * 7919u, 1);
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
    finish_at(&s, s.now);
    const flows_stats *st = flows_get_stats(s.t);
    EXPECT_TRUE(st->peak_alive <= 100);
    EXPECT_INT(st->evicted, FLOOD - (100 - LEGIT));
    for (int i = 0; i < LEGIT; i++) {
        const conn_record *r = row_by_cport(&s, (uint16_t)(30000 + i));
        if (!r)
            continue;
        EXPECT_HS(r, "complete");
        EXPECT_TRUE(!(r->anomalies & ANOM_EVICTED));
        EXPECT_INT(r->packets_c2s, 4 + 4 + 2);
    }
    sim_free(&s);
    done();
}

/* The client is in TIME_WAIT, the server still in LAST_ACK (its last ACK
 * was not captured): a new SYN with another ISN is a new instance (SPEC §1:
 * the previous one is in TIME_WAIT). */
static void test_new_syn_while_peer_still_in_last_ack_reuses(void **state)
{
    (void)state;
    sim s;
    conv c;
    sim_init(&s, NULL);
    conv_init(&c, &s);
    open_conn(&c, 0);
    tx(&c, C, F_FA, 0, 1 * MS);
    tx(&c, S, F_A, 0, 1 * MS);
    int64_t tw = tx(&c, S, F_FA, 0, 1 * MS); /* client TIME_WAIT, server LAST_ACK */
    /* the client's last ACK is not in the capture */
    conv_init_ports(&c, &s, 40000, 80, 77777, 88888);
    int64_t syn = tx(&c, C, F_SYN, 0, 5 * SEC);
    assert_int_equal(s.nrec, 1);
    EXPECT_TW_REASON(&s.rec[0], "reused");
    EXPECT_TS(s.rec[0].time_wait_start, tw);
    EXPECT_TS(s.rec[0].time_wait_end, syn);
    EXPECT_TRUE(s.rec[0].server_state == CONN_LAST_ACK);
    finish_at(&s, s.now);
    assert_int_equal(s.nrec, 2);
    EXPECT_HS(&s.rec[1], "syn_only");
    sim_free(&s);
    done();
}

/* ---- counters ------------------------------------------------------------------ */

static void test_packet_and_byte_counters_per_direction(void **state)
{
    (void)state;
    sim s;
    conv c;
    sim_init(&s, NULL);
    conv_init(&c, &s);
    open_conn(&c, 0);              /* 4/200 c2s, 2/1000 s2c */
    tx(&c, C, F_PA, 1448, 1 * MS); /* header-only capture: the IP length counts */
    tx(&c, C, F_PA, 1448, 1 * MS);
    tx(&c, S, F_A, 0, 1 * MS);
    tx(&c, S, F_PA, 65000, 1 * MS);                       /* a TSO super-segment */
    tx_seq(&c, C, F_PA, 1448, 200 * MS, c.nxt[C] - 1448); /* retransmission */
    finish_at(&s, s.now);
    const conn_record *r = only(&s);
    EXPECT_INT(r->packets_c2s, 7);
    EXPECT_INT(r->packets_s2c, 4);
    EXPECT_INT(r->bytes_c2s, 200 + 3 * 1448);
    EXPECT_INT(r->bytes_s2c, 1000 + 65000);
    const flows_stats *st = flows_get_stats(s.t);
    EXPECT_INT(st->segments, 11);
    EXPECT_INT(st->duplicates, 0);
    EXPECT_INT(st->out_of_order, 0);
    EXPECT_INT(st->instances, 1);
    sim_free(&s);
    done();
}

static void test_fin_retransmissions_are_counted(void **state)
{
    (void)state;
    sim s;
    conv c;
    sim_init(&s, NULL);
    conv_init(&c, &s);
    open_conn(&c, 0);
    int64_t t1 = tx(&c, C, F_FA, 0, 1 * SEC);
    uint32_t cfin = c.nxt[C] - 1;
    tx_seq(&c, C, F_FA, 0, 200 * MS, cfin);
    tx_seq(&c, C, F_FA, 0, 400 * MS, cfin);
    int64_t t4 = tx(&c, S, F_FA, 0, 5 * MS); /* acks the FIN */
    tx(&c, C, F_A, 0, 5 * MS);
    finish_at(&s, t4 + 100 * SEC);
    const conn_record *r = only(&s);
    EXPECT_INT(r->fin_retransmits, 2);
    EXPECT_INITIATOR(r, "client");
    EXPECT_CLOSE(r, "fin");
    EXPECT_INT(r->closing, 0);
    EXPECT_TW_SIDE(r, "client");
    EXPECT_TS(r->time_wait_start, t4);
    EXPECT_INT(r->packets_c2s, 8);
    (void)t1;
    sim_free(&s);
    done();
}

static void test_conn_ids_increase_in_order_of_first_packet(void **state)
{
    (void)state;
    sim s;
    conv c[3];
    sim_init(&s, NULL);
    for (int i = 0; i < 3; i++)
        conv_init_ports(&c[i], &s, (uint16_t)(41000 + i), 80, 100u + (unsigned)i, 900);
    tx(&c[0], C, F_SYN, 0, 0);
    tx(&c[1], C, F_SYN, 0, 1 * MS);
    tx(&c[0], S, F_SA, 0, 1 * MS);
    tx(&c[2], C, F_SYN, 0, 1 * MS);
    tx(&c[2], S, F_RA, 0, 1 * MS); /* refused: ends first */
    tx(&c[1], S, F_SA, 0, 1 * MS);
    finish_at(&s, s.now);
    assert_int_equal(s.nrec, 3);
    for (int i = 0; i < 3; i++) {
        const conn_record *r = row_by_cport(&s, (uint16_t)(41000 + i));
        EXPECT_INT(r->conn_id, i + 1);
    }
    sim_free(&s);
    done();
}

static void test_retransmitted_syn_is_not_a_new_instance(void **state)
{
    (void)state;
    sim s;
    conv c;
    sim_init(&s, NULL);
    conv_init(&c, &s);
    tx(&c, C, F_SYN, 0, 0);
    tx(&c, C, F_SYN, 0, 1 * SEC); /* same ISN */
    tx(&c, S, F_SA, 0, 10 * MS);
    tx(&c, C, F_SYN, 0, 1 * MS); /* crossed the SYN-ACK: same ISN again */
    tx(&c, C, F_A, 0, 10 * MS);
    tx(&c, C, F_PA, 10, 1 * MS);
    finish_at(&s, s.now);
    const conn_record *r = only(&s);
    EXPECT_HS(r, "complete");
    EXPECT_INT(r->syn_retransmits, 2);
    EXPECT_INT(r->packets_c2s, 5);
    EXPECT_CSTATE(r, "ESTABLISHED");
    EXPECT_SSTATE(r, "ESTABLISHED");
    EXPECT_INT(flows_get_stats(s.t)->instances, 1);
    sim_free(&s);

    /* Even after the close: a SYN with the old ISN is a retransmission,
     * not a new instance. */
    sim_init(&s, NULL);
    conv_init(&c, &s);
    script_client_close(&c);
    tx(&c, C, F_SYN, 0, 1 * SEC);
    finish_at(&s, s.now);
    EXPECT_INT(flows_get_stats(s.t)->instances, 1);
    EXPECT_INT(s.nrec, 1);
    sim_free(&s);
    done();
}

/* ---- duplicates and order --------------------------------------------------------- */

typedef void (*script_fn)(conv *c);

/* Runs `script` on a fresh table (every segment fed twice `dup_ns` apart
 * when dup_ns > 0; optionally IPv6), ends the capture 1000 s after its last
 * packet and returns the one row and the stats. */
static void run_script(script_fn script, int64_t dup_ns, int ip6, conn_record *out, flows_stats *st,
                       uint64_t *fed)
{
    sim s;
    conv c;
    sim_init(&s, NULL);
    s.dup_ns = dup_ns;
    if (ip6)
        conv_init6(&c, &s);
    else
        conv_init(&c, &s);
    script(&c);
    finish_at(&s, s.now + 1000 * SEC);
    *out = *only(&s);
    *st = *flows_get_stats(s.t);
    *fed = s.fed;
    sim_free(&s);
}

#define EXPECT_SAME(a, b, field) EXPECT_INT((a)->field, (b)->field)

static void expect_same_row(const conn_record *a, const conn_record *b)
{
    EXPECT_SAME(a, b, handshake);
    EXPECT_SAME(a, b, role_by);
    EXPECT_SAME(a, b, syn_retransmits);
    EXPECT_SAME(a, b, synack_retransmits);
    EXPECT_SAME(a, b, handshake_rtt);
    EXPECT_SAME(a, b, close_initiator);
    EXPECT_SAME(a, b, close_type);
    EXPECT_SAME(a, b, closing);
    EXPECT_SAME(a, b, time_wait_side);
    EXPECT_SAME(a, b, time_wait_start);
    EXPECT_SAME(a, b, time_wait_end);
    EXPECT_SAME(a, b, time_wait_end_reason);
    EXPECT_SAME(a, b, client_state);
    EXPECT_SAME(a, b, server_state);
    EXPECT_SAME(a, b, packets_c2s);
    EXPECT_SAME(a, b, packets_s2c);
    EXPECT_SAME(a, b, bytes_c2s);
    EXPECT_SAME(a, b, bytes_s2c);
    EXPECT_SAME(a, b, fin_retransmits);
    EXPECT_SAME(a, b, anomalies);
    EXPECT_SAME(a, b, first_ts);
}

static void check_span_copies(script_fn script, int ip6)
{
    conn_record plain, dup;
    flows_stats st0, st1;
    uint64_t fed0, fed1;
    run_script(script, 0, ip6, &plain, &st0, &fed0);
    run_script(script, 2 * US, ip6, &dup, &st1, &fed1);
    EXPECT_INT(st0.duplicates, 0);
    EXPECT_INT(fed1, 2 * fed0);
    EXPECT_INT(st1.duplicates, fed0);
    EXPECT_INT(st1.segments, fed1);
    expect_same_row(&dup, &plain);
}

static void test_span_copies_do_not_change_client_close(void **state)
{
    (void)state;
    check_span_copies(script_client_close, 0);
    check_span_copies(script_client_close, 1);
    done();
}

static void test_span_copies_do_not_change_crossed_fins(void **state)
{
    (void)state;
    conn_record r;
    flows_stats st;
    uint64_t fed;
    run_script(script_crossed, 2 * US, 0, &r, &st, &fed);
    EXPECT_INT(r.closing, 2);
    EXPECT_INT(r.fin_retransmits, 0);
    check_span_copies(script_crossed, 0);
    check_span_copies(script_crossed, 1);
    done();
}

static void test_span_copies_do_not_change_bsd_close(void **state)
{
    (void)state;
    check_span_copies(script_bsd, 0);
    check_span_copies(script_bsd, 1);
    done();
}

static void test_span_copies_do_not_change_lost_fin(void **state)
{
    (void)state;
    conn_record r;
    flows_stats st;
    uint64_t fed;
    run_script(script_lost_fin, 2 * US, 0, &r, &st, &fed);
    EXPECT_INT(r.closing, 1);
    EXPECT_INT(r.fin_retransmits, 1);
    check_span_copies(script_lost_fin, 0);
    check_span_copies(script_lost_fin, 1);
    done();
}

/* Only the FIN is duplicated: still no FIN retransmission. */
static void test_duplicated_fin_is_not_a_fin_retransmission(void **state)
{
    (void)state;
    sim s;
    conv c;
    sim_init(&s, NULL);
    conv_init(&c, &s);
    open_conn(&c, 0);
    dissect_segment fin = seg_of(&c, C, F_FA, 0);
    int64_t t1 = send_seg(&c, C, fin, 1 * SEC);
    feed(&s, &fin, t1 + 3 * US);
    tx(&c, S, F_A, 0, 5 * MS);
    int64_t t3 = tx(&c, S, F_FA, 0, 10 * MS);
    tx(&c, C, F_A, 0, 5 * MS);
    finish_at(&s, t3 + 100 * SEC);
    const conn_record *r = only(&s);
    EXPECT_INT(r->fin_retransmits, 0);
    EXPECT_INITIATOR(r, "client");
    EXPECT_INT(r->closing, 0);
    EXPECT_TW_SIDE(r, "client");
    EXPECT_TS(r->time_wait_start, t3);
    EXPECT_INT(r->packets_c2s, 6);
    EXPECT_INT(flows_get_stats(s.t)->duplicates, 1);
    sim_free(&s);

    /* The server's FIN of a crossed close, duplicated: still crossed. */
    sim_init(&s, NULL);
    conv_init(&c, &s);
    open_conn(&c, 0);
    tx(&c, C, F_FA, 0, 1 * SEC);
    dissect_segment sfin = seg_of(&c, S, F_FA, 0);
    sfin.ack = c.nxt[C] - 1;
    int64_t t2 = send_seg(&c, S, sfin, 100 * US);
    feed(&s, &sfin, t2 + 1 * US);
    int64_t t3b = tx(&c, C, F_A, 0, 5 * MS);
    tx(&c, S, F_A, 0, 1 * MS);
    finish_at(&s, s.now + 100 * SEC);
    r = only(&s);
    EXPECT_INT(r->closing, 2);
    EXPECT_INITIATOR(r, "both");
    EXPECT_TW_SIDE(r, "both");
    EXPECT_TS(r->time_wait_start, t3b);
    EXPECT_INT(r->fin_retransmits, 0);
    EXPECT_INT(flows_get_stats(s.t)->duplicates, 1);
    sim_free(&s);
    done();
}

static void test_duplicated_syn_is_not_a_syn_retransmission(void **state)
{
    (void)state;
    sim s;
    conv c;
    sim_init(&s, NULL);
    conv_init(&c, &s);
    dissect_segment syn = seg_of(&c, C, F_SYN, 0);
    int64_t t = send_seg(&c, C, syn, 0);
    feed(&s, &syn, t + 1 * US);
    tx(&c, S, F_SA, 0, 10 * MS);
    tx(&c, C, F_A, 0, 10 * MS);
    finish_at(&s, s.now);
    const conn_record *r = only(&s);
    EXPECT_HS(r, "complete");
    EXPECT_INT(r->syn_retransmits, 0);
    EXPECT_INT(r->packets_c2s, 2);
    EXPECT_DUR(r->handshake_rtt, 20 * MS);
    EXPECT_INT(flows_get_stats(s.t)->duplicates, 1);
    EXPECT_INT(flows_get_stats(s.t)->instances, 1);
    sim_free(&s);
    done();
}

/* The same bytes again 200 ms later is a retransmission, not a copy. */
static void test_identical_segment_later_is_a_retransmission(void **state)
{
    (void)state;
    sim s;
    conv c;
    sim_init(&s, NULL);
    conv_init6(&c, &s); /* no IP ID to tell them apart */
    open_conn(&c, 0);
    dissect_segment fin = seg_of(&c, C, F_FA, 0);
    int64_t t1 = send_seg(&c, C, fin, 1 * SEC);
    feed(&s, &fin, t1 + 200 * MS);
    s.now = t1 + 200 * MS;
    tx(&c, S, F_FA, 0, 5 * MS);
    tx(&c, C, F_A, 0, 5 * MS);
    finish_at(&s, s.now);
    const conn_record *r = only(&s);
    EXPECT_INT(r->fin_retransmits, 1);
    EXPECT_INT(r->packets_c2s, 7);
    EXPECT_INT(flows_get_stats(s.t)->duplicates, 0);
    sim_free(&s);
    done();
}

/* The implementation's rule: a copy is an identical segment of the same
 * direction within 1 ms. One 2^32 ns (4.29 s) later is a retransmission. */
static void test_identical_segment_2_pow_32_ns_later_is_a_retransmission(void **state)
{
    (void)state;
    sim s;
    conv c;
    sim_init(&s, NULL);
    conv_init6(&c, &s); /* no IP ID, no TCP timestamps: identical bytes */
    open_conn(&c, 0);
    dissect_segment fin = seg_of(&c, C, F_FA, 0);
    int64_t t1 = send_seg(&c, C, fin, 1 * SEC);
    int64_t t2 = t1 + (INT64_C(1) << 32); /* RTO backoff can land here */
    feed(&s, &fin, t2);
    s.now = t2;
    tx(&c, S, F_FA, 0, 5 * MS);
    tx(&c, C, F_A, 0, 5 * MS);
    finish_at(&s, s.now);
    const conn_record *r = only(&s);
    EXPECT_INT(r->fin_retransmits, 1);
    EXPECT_INT(r->packets_c2s, 7);
    EXPECT_INT(flows_get_stats(s.t)->duplicates, 0);
    sim_free(&s);
    done();
}

/* A SPAN session mirroring two ports delivers the copy of a segment after
 * the next segment of the same direction (both within microseconds): it is
 * still an exact duplicate within 1 ms. */
static void test_interleaved_span_copies_are_duplicates(void **state)
{
    (void)state;
    sim s;
    conv c;
    sim_init(&s, NULL);
    conv_init(&c, &s);
    open_conn(&c, 0);
    dissect_segment data = seg_of(&c, C, F_PA, 100);
    int64_t t1 = send_seg(&c, C, data, 1 * SEC);
    dissect_segment fin = seg_of(&c, C, F_FA, 0);
    int64_t t2 = send_seg(&c, C, fin, 10 * US);
    feed(&s, &data, t1 + 15 * US); /* copies, 15 us late */
    feed(&s, &fin, t2 + 15 * US);
    s.now = t2 + 15 * US;
    int64_t t3 = tx(&c, S, F_FA, 0, 5 * MS);
    tx(&c, C, F_A, 0, 5 * MS);
    finish_at(&s, t3 + 100 * SEC);
    const conn_record *r = only(&s);
    EXPECT_INT(r->fin_retransmits, 0);
    EXPECT_INT(r->packets_c2s, 7);
    EXPECT_INT(r->bytes_c2s, 300);
    EXPECT_INITIATOR(r, "client");
    EXPECT_TW_SIDE(r, "client");
    EXPECT_ANOM(r, "");
    EXPECT_INT(flows_get_stats(s.t)->duplicates, 2);
    sim_free(&s);
    done();
}

static void test_out_of_order_timestamps_do_not_corrupt_instance(void **state)
{
    (void)state;
    sim s;
    conv c;
    sim_init(&s, NULL);
    conv_init(&c, &s);
    open_conn(&c, 0);
    int64_t t1 = tx(&c, C, F_FA, 0, 1 * SEC);
    tx(&c, S, F_A, 0, -1 * MS); /* stamped before the FIN it acks */
    int64_t t3 = tx(&c, S, F_FA, 0, 11 * MS);
    tx(&c, C, F_A, 0, 5 * MS);
    finish_at(&s, t3 + 100 * SEC);
    const conn_record *r = only(&s);
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
    const flows_stats *st = flows_get_stats(s.t);
    EXPECT_INT(st->out_of_order, 1);
    EXPECT_INT(st->duplicates, 0);
    (void)t1;
    sim_free(&s);

    /* Timers run on the newest timestamp seen: an older packet of another
     * connection does not bring back an expired TIME_WAIT. */
    conv other;
    sim_init(&s, NULL);
    conv_init(&c, &s);
    conv_init_ports(&other, &s, 40001, 80, 1, 2);
    script_client_close(&c);
    tx(&other, C, F_PA, 1, 70 * SEC);
    assert_int_equal(s.nrec, 1);
    tx(&other, C, F_PA, 1, -40 * SEC); /* tm[3] + 30 s, out of order */
    finish_at(&s, tm[3] + 70 * SEC + 5 * MS);
    assert_int_equal(s.nrec, 2);
    r = row_by_cport(&s, 40000);
    EXPECT_TS(r->time_wait_end, tm[3] + 60 * SEC);
    EXPECT_TW_REASON(r, "expired");
    EXPECT_INT(flows_get_stats(s.t)->out_of_order, 1);
    sim_free(&s);
    done();
}

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

static void test_samples_link_types_and_formats(void **state)
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

static void test_samples_opening(void **state)
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

static void test_samples_closing(void **state)
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

static void test_samples_time_wait_endings(void **state)
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

static void test_samples_other_details(void **state)
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
        {CONN_CLOSED, CONN_CLOSED},        {CONN_SYN_SENT, CONN_LISTEN},
        {CONN_SYN_SENT, CONN_CLOSED},      {CONN_SYN_RCVD, CONN_SYN_RCVD},
        {CONN_ESTABLISHED, CONN_SYN_RCVD}, {CONN_ESTABLISHED, CONN_ESTABLISHED},
        {CONN_FIN_WAIT1, CONN_CLOSE_WAIT}, {CONN_FIN_WAIT2, CONN_CLOSE_WAIT},
        {CONN_TIME_WAIT, CONN_LAST_ACK},   {CONN_TIME_WAIT, CONN_CLOSED},
        {CONN_CLOSING, CONN_CLOSING},      {CONN_TIME_WAIT, CONN_CLOSING},
        {CONN_TIME_WAIT, CONN_TIME_WAIT},  {CONN_CLOSED, CONN_LAST_ACK},
        {CONN_CLOSED, CONN_CLOSING},
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

static void test_random_traffic_invariants(void **state)
{
    (void)state;
    static const uint64_t seeds[] = {1, 2, 3, 42, 1234, 99991, 0xdeadbeef, 7777777};
    for (size_t i = 0; i < sizeof seeds / sizeof seeds[0]; i++)
        check_random_seed(seeds[i], 300);
    done();
}

/* The same random traffic with every packet copied by a SPAN port. */
/* flows_packets (batched, prefetching) must give exactly the rows, in the
 * same order, that one flows_packet call per segment gives. */
static void test_batched_replay_equals_one_by_one(void **state)
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
        for (size_t i = 0; i < n; i += step)
            assert_int_equal(replay_batched(many.t, segs + i, ts + i, n - i < step ? n - i : step),
                             0);
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

static void test_random_traffic_span_copies(void **state)
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

static int reset_checks(void **state)
{
    (void)state;
    check_reset();
    return 0;
}

#define T(f) cmocka_unit_test_setup(f, reset_checks)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_names_are_the_spec_strings),
        T(test_default_msl_is_30_seconds),
        T(test_complete_handshake_measures_rtt_from_syn_to_ack),
        T(test_syn_only_counts_two_syn_retransmissions),
        T(test_no_ack_counts_synack_retransmission),
        T(test_refused_syn_answered_by_rst_ack),
        T(test_refused_then_retried_is_a_new_instance),
        T(test_rst_not_acking_syn_is_out_of_window),
        T(test_simultaneous_open),
        T(test_midstream_lower_port_is_the_server),
        T(test_role_by_synack_when_first_packet_is_synack),
        T(test_syn_sender_is_client_even_with_lower_port),
        T(test_client_close_puts_client_in_time_wait),
        T(test_server_close_puts_server_in_time_wait),
        T(test_three_segment_close),
        T(test_crossed_fins_put_both_in_closing),
        T(test_bsd_fin_ack_retransmission_is_crossed_not_lost),
        T(test_lost_fin_puts_only_one_side_in_closing),
        T(test_crossed_and_lost_fins_mirrored),
        T(test_half_close_with_data_after_first_fin),
        T(test_one_direction_capture_still_has_close_initiator),
        T(test_rst_from_client_closes_both_without_time_wait),
        T(test_rst_from_server_closes_both_without_time_wait),
        T(test_rst_after_fin_keeps_close_type_fin),
        T(test_blind_rst_out_of_window_changes_nothing),
        T(test_in_window_rst_with_other_ttl_is_flagged),
        T(test_rst_acceptable_within_one_window_of_rcv_nxt),
        T(test_rst_window_is_scaled),
        T(test_rst_window_is_65535_when_receiver_sent_nothing),
        T(test_rst_window_scaling_needs_both_syns),
        T(test_forged_rst_out_of_window_with_other_ttl_has_both_anomalies),
        T(test_time_wait_expiry_boundary_at_capture_end),
        T(test_time_wait_expires_after_two_msl_within_capture),
        T(test_time_wait_cut_by_capture_end),
        T(test_time_wait_ended_by_reuse_starts_second_instance),
        T(test_new_syn_on_server_time_wait_is_reuse),
        T(test_new_syn_after_reset_starts_new_instance),
        T(test_retransmitted_fin_in_time_wait_restarts_timer),
        T(test_msl_option_sets_time_wait_length),
        T(test_sequence_numbers_wrap_past_2_32),
        T(test_ipv6_connection),
        T(test_data_after_fin_is_an_anomaly),
        T(test_retransmitted_data_before_fin_is_not_data_after_fin),
        T(test_fin_with_data_is_not_data_after_fin),
        T(test_syn_with_data_is_an_anomaly),
        T(test_idle_timeout_ends_instance),
        T(test_max_flows_evicts_an_instance),
        T(test_new_syn_while_peer_still_in_last_ack_reuses),
        T(test_syn_flood_evicts_attempts_before_answered_connections),
        T(test_packet_and_byte_counters_per_direction),
        T(test_fin_retransmissions_are_counted),
        T(test_conn_ids_increase_in_order_of_first_packet),
        T(test_retransmitted_syn_is_not_a_new_instance),
        T(test_span_copies_do_not_change_client_close),
        T(test_span_copies_do_not_change_crossed_fins),
        T(test_span_copies_do_not_change_bsd_close),
        T(test_span_copies_do_not_change_lost_fin),
        T(test_duplicated_fin_is_not_a_fin_retransmission),
        T(test_duplicated_syn_is_not_a_syn_retransmission),
        T(test_identical_segment_later_is_a_retransmission),
        T(test_identical_segment_2_pow_32_ns_later_is_a_retransmission),
        T(test_interleaved_span_copies_are_duplicates),
        T(test_out_of_order_timestamps_do_not_corrupt_instance),
        T(test_samples_link_types_and_formats),
        T(test_samples_opening),
        T(test_samples_closing),
        T(test_samples_time_wait_endings),
        T(test_samples_other_details),
        T(test_random_traffic_invariants),
        T(test_random_traffic_span_copies),
        T(test_batched_replay_equals_one_by_one),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
