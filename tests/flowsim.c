/*
 * flowsim.c: see flowsim.h.
 */
#include "flowsim.h"

#include <stdio.h>
#include <stdlib.h>

/* ---- soft checks -------------------------------------------------------- */

int g_fails;

void check_reset(void)
{
    g_fails = 0;
}

void done(void)
{
    int n = g_fails;
    g_fails = 0;
    if (n) {
        print_error("%d check(s) failed\n", n);
        fail();
    }
}

void soft_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    char buf[512];
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    print_error("%s:%d: %s\n", file, line, buf);
    g_fails++;
}

static char anom_buf[8][128];
static int anom_slot;

const char *anomalies_text(uint32_t bits)
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

const char *state_name(int s)
{
    return conn_state_name((conn_state)s);
}

#define EXPECT_SAME(a, b, field) EXPECT_INT((a)->field, (b)->field)

void expect_same_row(const conn_record *a, const conn_record *b)
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

/* ---- the table and its rows --------------------------------------------- */

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

void sim_init(sim *s, const flows_config *cfg)
{
    memset(s, 0, sizeof *s);
    if (cfg)
        s->cfg = *cfg;
    else
        flows_config_default(&s->cfg);
    s->t = flows_new(&s->cfg, collect, s);
    assert_non_null(s->t);
    s->now = T0;
}

void sim_free(sim *s)
{
    flows_free(s->t);
    free(s->rec);
    memset(s, 0, sizeof *s);
}

void sim_restart(sim *s)
{
    flows_config cfg = s->cfg;
    sim_free(s);
    sim_init(s, &cfg);
}

int sim_setup_with(void **state, const flows_config *cfg)
{
    check_reset();
    sim *s = malloc(sizeof *s);
    if (!s)
        return -1;
    sim_init(s, cfg);
    *state = s;
    return 0;
}

int sim_setup(void **state)
{
    return sim_setup_with(state, NULL);
}

int sim_teardown(void **state)
{
    sim *s = *state;
    if (s) {
        sim_free(s);
        free(s);
    }
    *state = NULL;
    return 0;
}

int checks_setup(void **state)
{
    (void)state;
    check_reset();
    return 0;
}

void feed(sim *s, const dissect_segment *g, int64_t ts)
{
    assert_int_equal(flows_packet(s->t, g, ts), 0);
    s->fed++;
}

void finish_at(sim *s, int64_t capture_end)
{
    flows_finish(s->t, capture_end);
}

size_t replay_chunks(sim *s, const dissect_segment *segs, const int64_t *ts, size_t n, size_t chunk)
{
    if (n == 0)
        return 0;
    size_t step = chunk ? chunk : n;
    flows_seg *prep = malloc(step * sizeof *prep);
    assert_non_null(prep);
    size_t failed = 0;
    for (size_t i = 0; i < n; i += step) {
        size_t k = n - i < step ? n - i : step;
        flows_prepare(s->t, segs + i, ts + i, k, prep);
        failed += flows_replay(s->t, prep, k);
    }
    free(prep);
    s->fed += n;
    return failed;
}

const conn_record *only(const sim *s)
{
    if (s->nrec != 1)
        print_error("expected exactly 1 row, got %zu\n", s->nrec);
    assert_int_equal(s->nrec, 1);
    return &s->rec[0];
}

const conn_record *row_by_id(const sim *s, uint64_t id)
{
    for (size_t i = 0; i < s->nrec; i++)
        if (s->rec[i].conn_id == id)
            return &s->rec[i];
    print_error("no row with conn_id %" PRIu64 "\n", id);
    fail();
    return NULL;
}

const conn_record *row_by_cport(const sim *s, uint16_t cport)
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

void conv_init_ports(conv *c, sim *s, uint16_t cport, uint16_t sport, uint32_t cisn, uint32_t sisn)
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

void conv_init(conv *c, sim *s)
{
    conv_init_ports(c, s, 40000, 80, 1000000, 5000000);
}

void conv_init6(conv *c, sim *s)
{
    conv_init(c, s);
    c->ip_version = 6;
    static const uint8_t a[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    memcpy(c->addr[C], a, 16);
    memcpy(c->addr[S], a, 16);
    c->addr[S][15] = 2;
    c->ttl[C] = c->ttl[S] = 57;
}

dissect_segment seg_of(conv *c, int d, uint16_t flags, uint32_t len)
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

int64_t send_seg(conv *c, int d, dissect_segment g, int64_t dt)
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

int64_t tx(conv *c, int d, uint16_t flags, uint32_t len, int64_t dt)
{
    return send_seg(c, d, seg_of(c, d, flags, len), dt);
}

int64_t tx_seq(conv *c, int d, uint16_t flags, uint32_t len, int64_t dt, uint32_t seq)
{
    dissect_segment g = seg_of(c, d, flags, len);
    g.seq = seq;
    return send_seg(c, d, g, dt);
}

int64_t tx_ack(conv *c, int d, uint16_t flags, uint32_t len, int64_t dt, uint32_t ack)
{
    dissect_segment g = seg_of(c, d, flags, len);
    g.ack = ack;
    return send_seg(c, d, g, dt);
}

int64_t open_conn(conv *c, int64_t dt)
{
    tx(c, C, F_SYN, 0, dt);
    tx(c, S, F_SA, 0, 10 * MS);
    int64_t t = tx(c, C, F_A, 0, 10 * MS);
    tx(c, C, F_PA, 200, 5 * MS);
    tx(c, S, F_PA, 1000, 20 * MS);
    tx(c, C, F_A, 0, 5 * MS);
    return t;
}

/* ---- scripted closes ------------------------------------------------------ */

int64_t tm[10];

void script_client_close(conv *c)
{
    tm[0] = open_conn(c, 0);
    tm[1] = tx(c, C, F_FA, 0, 1 * SEC); /* client FIN_WAIT1, server CLOSE_WAIT */
    tm[2] = tx(c, S, F_A, 0, 5 * MS);   /* client FIN_WAIT2 */
    tm[3] = tx(c, S, F_FA, 0, 10 * MS); /* client TIME_WAIT, server LAST_ACK */
    tm[4] = tx(c, C, F_A, 0, 5 * MS);   /* server CLOSED */
}

void script_crossed(conv *c)
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

void script_bsd(conv *c)
{
    tm[0] = open_conn(c, 0);
    tm[1] = tx(c, C, F_FA, 0, 1 * SEC);
    uint32_t cfin = c->nxt[C] - 1;
    tm[2] = tx_ack(c, S, F_FA, 0, 100 * US, cfin);
    tm[3] = tx_seq(c, C, F_FA, 0, 5 * MS, cfin); /* acks the server's FIN */
    tm[4] = tx(c, S, F_A, 0, 1 * MS);
    tm[5] = tx(c, C, F_A, 0, 1 * MS);
}

void script_lost_fin(conv *c)
{
    tm[0] = open_conn(c, 0);
    tm[1] = tx(c, C, F_FA, 0, 1 * SEC);
    uint32_t cfin = c->nxt[C] - 1;
    tm[2] = tx_ack(c, S, F_FA, 0, 10 * MS, cfin);  /* server FIN_WAIT1 */
    tm[3] = tx(c, C, F_A, 0, 1 * MS);              /* server FIN_WAIT2 */
    tm[4] = tx_seq(c, C, F_FA, 0, 200 * MS, cfin); /* server TIME_WAIT */
    tm[5] = tx(c, S, F_A, 0, 1 * MS);              /* client CLOSING -> TIME_WAIT */
}
