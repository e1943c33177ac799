/*
 * tracegen: writes a big, realistic pcap capture for synfin's benchmark.
 *
 * Ethernet pcap through libpcap (pcap_open_dead + pcap_dump), microsecond
 * timestamps, snaplen 96 by default so records are cut like header-only
 * archives (the IP length still counts the payload; the payload is zeros).
 *
 * Connections arrive as a Poisson process (--rate per second) over
 * --duration seconds. Each one draws a behaviour from the --mix (client
 * close, server close, crossed FINs, resets, refused or unanswered SYNs,
 * 4-tuple reuse, long-lived bulk transfers) and is turned into a short
 * script of segments (op). A binary heap of live connections keyed by the
 * time of their next segment interleaves them in time order, so memory
 * follows the connections alive, not the trace size. Packets at or after
 * the end of the duration are not written (the capture is cut there, as an
 * archive rotation would). --syn-flood N adds N spoofed SYNs from random
 * sources spread over the duration (with --rate 0: a flood-only trace).
 *
 * Output depends only on the options (own splitmix64 PRNG; client 4-tuples
 * come from a bijection of the connection number, so they never collide by
 * accident). Connections over IPv6 inside a VLAN tag do not use TCP
 * timestamps, so every header fits in 96 bytes.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <pcap/pcap.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { FIN = 0x01, SYN = 0x02, RST = 0x04, PSH = 0x08, ACK = 0x10 };
enum { C2S = 0, S2C = 1 };
/* op.mod bits */
enum {
    M_S2C = 1,      /* sent by the server */
    M_RETX = 2,     /* a retransmission: same sequence number as the last one */
    M_OLD_ACK = 4,  /* the ACK field does not cover the peer's FIN (crossed FINs) */
    M_NEW_LIFE = 8, /* a new SYN on the 4-tuple: fresh ISNs */
    M_SEQ0 = 16     /* RST answering a SYN: sequence number 0, no options */
};

#define T0_SEC   1700000000LL
#define MSS      1448
#define MAX_HDRS 128

/* One segment of a connection's script. */
typedef struct op {
    uint32_t dt_us; /* delay after the connection's previous segment */
    uint16_t len;   /* TCP payload bytes */
    uint8_t flags, mod;
} op;

enum kind {
    K_CLIENT,
    K_SERVER,
    K_CROSSED,
    K_RST_CLIENT,
    K_RST_SERVER,
    K_REFUSED,
    K_UNANSWERED,
    K_REUSE,
    K_LONG,
    K_COUNT
};
static const char *const kind_name[K_COUNT] = {"client",     "server",     "crossed",
                                               "rst-client", "rst-server", "refused",
                                               "unanswered", "reuse",      "long"};
static const double kind_weight_default[K_COUNT] = {40, 15, 3, 4, 3, 5, 5, 5, 5};

typedef struct conn {
    op *ops;
    uint32_t n_ops, next;
    uint32_t seq[2]; /* next sequence number of client, server */
    uint32_t ts_off[2];
    uint32_t last_tsval[2];
    uint16_t ip_id[2];
    uint32_t x; /* client id: address and port */
    uint16_t sport, vlan_id;
    uint8_t server, v6, vlan, use_ts, ttl[2];
} conn;

typedef struct hent {
    int64_t t;
    conn *c;
} hent;

typedef struct gen {
    uint64_t rng;
    double duration, rate, v6_share, vlan_share, weight[K_COUNT];
    uint64_t flood;
    int snaplen;
    pcap_dumper_t *dump;
    hent *heap;
    size_t n_heap, cap_heap;
    op *scratch;
    size_t n_scratch, cap_scratch;
    uint64_t n_conn, packets, bytes, by_kind[K_COUNT], lifetimes;
} gen;

/* ---- PRNG -------------------------------------------------------------- */

static uint64_t rnd(gen *g)
{
    uint64_t z = (g->rng += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static double unif(gen *g)
{
    return (double)(rnd(g) >> 11) * 0x1p-53;
}
static uint32_t between(gen *g, uint32_t lo, uint32_t hi) /* [lo, hi] */
{
    return lo + (uint32_t)(rnd(g) % ((uint64_t)hi - lo + 1));
}
static uint32_t expo_us(gen *g, double mean_us)
{
    double v = -log(1.0 - unif(g)) * mean_us;
    return v > 4e9 ? 4000000000u : (uint32_t)v;
}

/* ---- heap of live connections, keyed by their next segment's time ------- */

static int heap_push(gen *g, int64_t t, conn *c)
{
    if (g->n_heap == g->cap_heap) {
        size_t cap = g->cap_heap ? 2 * g->cap_heap : 1024;
        hent *n = realloc(g->heap, cap * sizeof(*n));
        if (!n)
            return -1;
        g->heap = n;
        g->cap_heap = cap;
    }
    size_t i = g->n_heap++;
    while (i > 0 && g->heap[(i - 1) / 2].t > t) {
        g->heap[i] = g->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    g->heap[i] = (hent){t, c};
    return 0;
}

/* Replaces the top by e (or removes it when e.c is NULL) and sifts down. */
static void heap_replace_top(gen *g, hent e)
{
    if (!e.c)
        e = g->heap[--g->n_heap];
    size_t n = g->n_heap, i = 0;
    if (n == 0)
        return;
    for (;;) {
        size_t l = 2 * i + 1;
        if (l >= n)
            break;
        size_t m = (l + 1 < n && g->heap[l + 1].t < g->heap[l].t) ? l + 1 : l;
        if (g->heap[m].t >= e.t)
            break;
        g->heap[i] = g->heap[m];
        i = m;
    }
    g->heap[i] = e;
}

/* ---- scripts ------------------------------------------------------------ */

static void put(gen *g, int dir, uint8_t flags, uint16_t len, uint32_t dt_us, uint8_t mod)
{
    if (g->n_scratch == g->cap_scratch) {
        g->cap_scratch = g->cap_scratch ? 2 * g->cap_scratch : 256;
        g->scratch = realloc(g->scratch, g->cap_scratch * sizeof(op));
        if (!g->scratch) {
            fprintf(stderr, "tracegen: out of memory\n");
            exit(1);
        }
    }
    g->scratch[g->n_scratch++] = (op){dt_us, len, flags, (uint8_t)(mod | (dir == S2C ? M_S2C : 0))};
}

/* Per-connection timing: capture point near the server. */
typedef struct timing {
    uint32_t rtt, srv; /* round trip seen from the capture point; server stack delay */
} timing;

static void handshake(gen *g, const timing *tm, uint8_t mod)
{
    put(g, C2S, SYN, 0, 0, mod);
    put(g, S2C, SYN | ACK, 0, tm->srv, 0);
    put(g, C2S, ACK, 0, tm->rtt, 0);
}

/* A request and its response of `segs` full segments, acked once. */
static void exchange(gen *g, const timing *tm, unsigned segs)
{
    put(g, C2S, PSH | ACK, (uint16_t)between(g, 100, 900), between(g, 20, 300), 0);
    for (unsigned i = 0; i < segs; i++)
        put(g, S2C, i + 1 == segs ? PSH | ACK : ACK,
            i + 1 == segs ? (uint16_t)between(g, 1, MSS) : MSS,
            i == 0 ? between(g, 200, 30000) : between(g, 5, 20), 0);
    put(g, C2S, ACK, 0, tm->rtt, 0);
}

static void close_by_client(gen *g, const timing *tm)
{
    put(g, C2S, FIN | ACK, 0, expo_us(g, 300000), 0);
    if (rnd(g) & 1) { /* ACK, then the server's FIN */
        put(g, S2C, ACK, 0, tm->srv, 0);
        put(g, S2C, FIN | ACK, 0, between(g, 20, 2000), 0);
    } else { /* the server answers FIN+ACK at once */
        put(g, S2C, FIN | ACK, 0, tm->srv, 0);
    }
    put(g, C2S, ACK, 0, tm->rtt, 0);
}

static void close_by_server(gen *g, const timing *tm)
{
    put(g, S2C, FIN | ACK, 0, expo_us(g, 300000), 0);
    if (rnd(g) & 1) {
        put(g, C2S, ACK, 0, tm->rtt, 0);
        put(g, C2S, FIN | ACK, 0, between(g, 20, 2000), 0);
    } else {
        put(g, C2S, FIN | ACK, 0, tm->rtt, 0);
    }
    put(g, S2C, ACK, 0, tm->srv, 0);
}

/* Both FINs sent before either arrived: FIN, FIN (not acking the first), ACK, ACK. */
static void close_crossed(gen *g, const timing *tm)
{
    put(g, C2S, FIN | ACK, 0, expo_us(g, 300000), 0);
    put(g, S2C, FIN | ACK, 0, between(g, 5, 200), M_OLD_ACK);
    put(g, S2C, ACK, 0, between(g, 10, 100), 0);
    put(g, C2S, ACK, 0, tm->rtt, 0);
}

/* A bulk transfer of `budget` packets in bursts, then a close. */
static void long_lived(gen *g, const timing *tm, unsigned budget)
{
    handshake(g, tm, 0);
    unsigned used = 3;
    while (used + 8 < budget) {
        unsigned segs = between(g, 1, 10);
        put(g, C2S, PSH | ACK, (uint16_t)between(g, 50, 600), expo_us(g, 1000000), 0);
        for (unsigned i = 0; i < segs; i++)
            put(g, S2C, ACK, MSS, i == 0 ? between(g, 100, 5000) : between(g, 5, 20), 0);
        put(g, C2S, ACK, 0, tm->rtt, 0);
        used += segs + 2;
    }
    if (rnd(g) % 3)
        close_by_client(g, tm);
    else
        close_by_server(g, tm);
}

static void build_script(gen *g, enum kind k, const timing *tm)
{
    g->n_scratch = 0;
    switch (k) {
    case K_CLIENT:
    case K_SERVER:
    case K_CROSSED:
        handshake(g, tm, 0);
        exchange(g, tm, between(g, 1, 3));
        if (k == K_CLIENT)
            close_by_client(g, tm);
        else if (k == K_SERVER)
            close_by_server(g, tm);
        else
            close_crossed(g, tm);
        break;
    case K_RST_CLIENT:
        handshake(g, tm, 0);
        exchange(g, tm, between(g, 1, 2));
        put(g, C2S, RST | ACK, 0, expo_us(g, 200000), 0);
        break;
    case K_RST_SERVER:
        handshake(g, tm, 0);
        if (rnd(g) & 1)
            exchange(g, tm, 1);
        put(g, S2C, RST | ACK, 0, between(g, 100, 50000), 0);
        break;
    case K_REFUSED:
        put(g, C2S, SYN, 0, 0, 0);
        put(g, S2C, RST | ACK, 0, tm->srv, M_SEQ0);
        break;
    case K_UNANSWERED: { /* Linux backoff: 1, 2, 4, ... s */
        put(g, C2S, SYN, 0, 0, 0);
        unsigned n = between(g, 1, 6);
        for (unsigned i = 0; i < n; i++)
            put(g, C2S, SYN, 0, 1000000u << i, M_RETX);
        break;
    }
    case K_REUSE: /* client close (client TIME_WAIT), then the port again */
        handshake(g, tm, 0);
        exchange(g, tm, 1);
        close_by_client(g, tm);
        put(g, C2S, SYN, 0, between(g, 100000, 5000000), M_NEW_LIFE);
        put(g, S2C, SYN | ACK, 0, tm->srv, 0);
        put(g, C2S, ACK, 0, tm->rtt, 0);
        exchange(g, tm, between(g, 1, 3));
        close_by_client(g, tm);
        break;
    case K_LONG:
        long_lived(g, tm, between(g, 20, 200));
        break;
    case K_COUNT:
        break;
    }
}

/* ---- packets ------------------------------------------------------------ */

static uint32_t sum16(const uint8_t *p, size_t n, uint32_t s)
{
    for (size_t i = 0; i + 1 < n; i += 2)
        s += (uint32_t)p[i] << 8 | p[i + 1];
    if (n & 1)
        s += (uint32_t)p[n - 1] << 8;
    return s;
}
static uint16_t fold(uint32_t s)
{
    while (s >> 16)
        s = (s & 0xffff) + (s >> 16);
    return (uint16_t)~s;
}
static void be16(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 8), p[1] = (uint8_t)v;
}
static void be32(uint8_t *p, uint32_t v)
{
    be16(p, v >> 16);
    be16(p + 2, v & 0xffff);
}

/* Addresses: clients 10.0.0.0/12 or 2001:db8:c::/96 (id x, port 32768 + x>>20),
 * servers 198.18.0.0/24 or 2001:db8:5::/120; the flood hits 198.18.1.1:80. */
typedef struct addrs {
    uint8_t v6, ttl, vlan;
    uint16_t vlan_id, ip_id, sport, dport;
    uint32_t flow; /* IPv6 flow label */
    uint8_t src[16], dst[16];
} addrs;

static void conn_addrs(const conn *c, int dir, addrs *a)
{
    uint8_t cl[16], sv[16];
    if (c->v6) {
        static const uint8_t pc[12] = {0x20, 0x01, 0x0d, 0xb8, 0, 0x0c};
        static const uint8_t ps[15] = {0x20, 0x01, 0x0d, 0xb8, 0, 0x05};
        memcpy(cl, pc, 12);
        be32(cl + 12, c->x & 0xfffff);
        memcpy(sv, ps, 15);
        sv[15] = c->server;
    } else {
        be32(cl, 0x0a000000u | (c->x & 0xfffff));
        be32(sv, 0xc6120000u | c->server);
    }
    uint16_t cport = (uint16_t)(32768 + (c->x >> 20));
    memcpy(a->src, dir == C2S ? cl : sv, 16);
    memcpy(a->dst, dir == C2S ? sv : cl, 16);
    a->sport = dir == C2S ? cport : c->sport;
    a->dport = dir == C2S ? c->sport : cport;
    a->v6 = c->v6, a->ttl = c->ttl[dir], a->vlan = c->vlan, a->vlan_id = c->vlan_id;
    a->ip_id = c->ip_id[dir];
    a->flow = c->x & 0xfffff;
}

/* Builds one frame's headers into b; returns the wire length, sets *hdr_len. */
static size_t build(uint8_t *b, const addrs *a, int dir, uint8_t flags, uint32_t seq, uint32_t ack,
                    uint16_t win, const uint8_t *opt, size_t optlen, uint16_t payload,
                    size_t *hdr_len)
{
    static const uint8_t mac[2][6] = {{0x02, 0, 0, 0, 0, 0x0c}, {0x02, 0, 0, 0, 0, 0x05}};
    memcpy(b, mac[!dir], 6);
    memcpy(b + 6, mac[dir], 6);
    size_t n = 12;
    if (a->vlan) {
        be16(b + n, 0x8100);
        be16(b + n + 2, a->vlan_id);
        n += 4;
    }
    be16(b + n, a->v6 ? 0x86dd : 0x0800);
    n += 2;
    size_t tcp_len = 20 + optlen, alen = a->v6 ? 16 : 4;
    uint8_t *ip = b + n;
    if (a->v6) {
        be32(ip, 0x60000000u | a->flow);
        be16(ip + 4, (uint32_t)(tcp_len + payload));
        ip[6] = 6;
        ip[7] = a->ttl;
        memcpy(ip + 8, a->src, 16);
        memcpy(ip + 24, a->dst, 16);
        n += 40;
    } else {
        ip[0] = 0x45, ip[1] = 0;
        be16(ip + 2, (uint32_t)(20 + tcp_len + payload));
        be16(ip + 4, a->ip_id);
        be16(ip + 6, 0x4000);
        ip[8] = a->ttl, ip[9] = 6;
        be16(ip + 10, 0);
        memcpy(ip + 12, a->src, 4);
        memcpy(ip + 16, a->dst, 4);
        be16(ip + 10, fold(sum16(ip, 20, 0)));
        n += 20;
    }
    uint8_t *t = b + n;
    be16(t, a->sport);
    be16(t + 2, a->dport);
    be32(t + 4, seq);
    be32(t + 8, ack);
    t[12] = (uint8_t)((tcp_len / 4) << 4);
    t[13] = flags;
    be16(t + 14, win);
    be32(t + 16, 0);
    if (optlen)
        memcpy(t + 20, opt, optlen);
    /* Checksum over the pseudo header and the header: the payload is zeros. */
    uint32_t s = sum16(a->src, alen, 0);
    s = sum16(a->dst, alen, s);
    s += 6 + (uint32_t)(tcp_len + payload);
    be16(t + 16, fold(sum16(t, tcp_len, s)));
    n += tcp_len;
    *hdr_len = n;
    return n + payload;
}

static void write_frame(gen *g, int64_t t_us, const uint8_t *b, size_t hdr_len, size_t wire)
{
    static const uint8_t zeros[MAX_HDRS];
    uint8_t rec[MAX_HDRS + 96];
    size_t cap = wire < (size_t)g->snaplen ? wire : (size_t)g->snaplen;
    memcpy(rec, b, hdr_len < cap ? hdr_len : cap);
    if (cap > hdr_len)
        memcpy(rec + hdr_len, zeros, cap - hdr_len);
    struct pcap_pkthdr h;
    h.ts.tv_sec = (time_t)(T0_SEC + t_us / 1000000);
    h.ts.tv_usec = (suseconds_t)(t_us % 1000000);
    h.caplen = (bpf_u_int32)cap;
    h.len = (bpf_u_int32)wire;
    pcap_dump((u_char *)g->dump, &h, rec);
    g->packets++;
    g->bytes += 16 + cap;
}

/* Emits the connection's next op at t_us. */
static void emit(gen *g, conn *c, int64_t t_us)
{
    const op *o = &c->ops[c->next];
    int d = (o->mod & M_S2C) ? S2C : C2S;
    if (o->mod & M_NEW_LIFE) { /* tcp_tw_reuse: a higher ISN, a newer timestamp */
        c->seq[C2S] += between(g, 1u << 20, 1u << 30);
        c->seq[S2C] = (uint32_t)rnd(g);
    }
    uint32_t use = o->len + !!(o->flags & SYN) + !!(o->flags & FIN);
    uint32_t seq = c->seq[d];
    if (o->mod & M_RETX)
        seq -= use;
    else
        c->seq[d] += use;
    uint32_t ack = (o->flags & ACK) ? c->seq[!d] - !!(o->mod & M_OLD_ACK) : 0;
    uint32_t tsval = (uint32_t)(t_us / 1000) + c->ts_off[d];
    uint8_t opt[20];
    size_t optlen = 0;
    uint16_t win = d == C2S ? 502 : 509;
    if (o->mod & M_SEQ0) {
        seq = 0;
        win = 0;
    } else if (o->flags & SYN) {
        static const uint8_t syn_ts[20] = {2, 4, MSS >> 8, MSS & 0xff, 4, 2, 8, 10, 0, 0,
                                           0, 0, 0,        0,          0, 0, 1, 3,  3, 7};
        static const uint8_t syn_no_ts[12] = {2, 4, MSS >> 8, MSS & 0xff, 1, 1, 4, 2, 1, 3, 3, 7};
        if (c->use_ts) { /* MSS, SACK_PERM, TS, NOP, WS 7 */
            memcpy(opt, syn_ts, 20);
            be32(opt + 8, tsval);
            be32(opt + 12, (o->flags & ACK) ? c->last_tsval[!d] : 0);
            optlen = 20;
        } else { /* MSS, NOP, NOP, SACK_PERM, NOP, WS 7 */
            memcpy(opt, syn_no_ts, 12);
            optlen = 12;
        }
        win = 64240;
    } else if (c->use_ts) {
        opt[0] = 1, opt[1] = 1, opt[2] = 8, opt[3] = 10;
        be32(opt + 4, tsval);
        be32(opt + 8, c->last_tsval[!d]);
        optlen = 12;
    }
    c->last_tsval[d] = tsval;
    addrs a;
    conn_addrs(c, d, &a);
    uint8_t b[MAX_HDRS];
    size_t hdr_len;
    size_t wire = build(b, &a, d, o->flags, seq, ack, win, opt, optlen, o->len, &hdr_len);
    c->ip_id[d]++;
    write_frame(g, t_us, b, hdr_len, wire);
}

static const uint16_t server_ports[] = {443, 443, 443, 443, 443, 443, 80, 80, 80, 22, 25, 8080};

static conn *new_conn(gen *g)
{
    double u = unif(g) * (g->weight[K_COUNT - 1]);
    enum kind k = K_CLIENT;
    while (k + 1 < K_COUNT && u >= g->weight[k])
        k++;
    timing tm = {between(g, 500, 150000), between(g, 20, 200)};
    build_script(g, k, &tm);
    conn *c = calloc(1, sizeof(*c));
    op *ops = malloc(g->n_scratch * sizeof(op));
    if (!c || !ops) {
        fprintf(stderr, "tracegen: out of memory\n");
        exit(1);
    }
    memcpy(ops, g->scratch, g->n_scratch * sizeof(op));
    c->ops = ops;
    c->n_ops = (uint32_t)g->n_scratch;
    c->x = (uint32_t)(g->n_conn * 0x9E3779B1u + (uint32_t)g->rng); /* bijective in n_conn */
    g->n_conn++;
    g->by_kind[k]++;
    g->lifetimes += k == K_REUSE ? 2 : 1;
    c->seq[C2S] = (uint32_t)rnd(g);
    c->seq[S2C] = (uint32_t)rnd(g);
    c->ts_off[C2S] = (uint32_t)rnd(g);
    c->ts_off[S2C] = (uint32_t)rnd(g);
    c->ip_id[C2S] = (uint16_t)rnd(g);
    c->ip_id[S2C] = (uint16_t)rnd(g);
    c->server = (uint8_t)between(g, 1, 254);
    c->sport = server_ports[rnd(g) % (sizeof(server_ports) / sizeof(server_ports[0]))];
    c->v6 = unif(g) < g->v6_share;
    c->vlan = unif(g) < g->vlan_share;
    c->vlan_id = (uint16_t)between(g, 1, 4094);
    c->use_ts = !(c->v6 && c->vlan); /* keeps every header within 96 bytes */
    c->ttl[C2S] = (uint8_t)((rnd(g) & 3 ? 64 : 128) - between(g, 1, 20));
    c->ttl[S2C] = 64;
    return c;
}

/* One spoofed SYN from a random source to 198.18.1.1:80. */
static void flood_syn(gen *g, int64_t t_us)
{
    addrs a;
    memset(&a, 0, sizeof(a));
    be32(a.src, (uint32_t)rnd(g));
    be32(a.dst, 0xc6120101u);
    a.sport = (uint16_t)between(g, 1024, 65535);
    a.dport = 80;
    a.ttl = (uint8_t)between(g, 32, 255);
    a.ip_id = (uint16_t)rnd(g);
    uint8_t b[MAX_HDRS];
    size_t hdr_len;
    size_t wire = build(b, &a, C2S, SYN, (uint32_t)rnd(g), 0, 1024, NULL, 0, 0, &hdr_len);
    write_frame(g, t_us, b, hdr_len, wire);
}

/* ---- main ---------------------------------------------------------------- */

static const char usage[] =
    "usage: tracegen -o FILE [options]\n"
    "  -o, --output FILE     pcap to write ('-' = standard output)\n"
    "  -d, --duration S      seconds of capture (default 45)\n"
    "  -r, --rate R          new connections per second, Poisson (default 12250)\n"
    "  -s, --seed N          PRNG seed (default 1)\n"
    "      --ipv6 F          share of IPv6 connections, 0..1 (default 0.2)\n"
    "      --vlan F          share of 802.1Q-tagged connections, 0..1 (default 0.1)\n"
    "      --mix LIST        NAME=WEIGHT,... (unnamed kinds keep theirs); the default is\n"
    "                        client=40,server=15,crossed=3,rst-client=4,rst-server=3,\n"
    "                        refused=5,unanswered=5,reuse=5,long=5\n"
    "      --syn-flood N     add N spoofed SYNs from random sources over the duration\n"
    "      --snaplen N       bytes kept per packet (default 96)\n";

static int parse_mix(gen *g, char *s)
{
    for (char *tok = strtok(s, ","); tok; tok = strtok(NULL, ",")) {
        char *eq = strchr(tok, '=');
        if (!eq)
            return -1;
        *eq = 0;
        int k = 0;
        while (k < K_COUNT && strcmp(kind_name[k], tok) != 0)
            k++;
        char *end;
        double w = strtod(eq + 1, &end);
        if (k == K_COUNT || *end || !(w >= 0))
            return -1;
        g->weight[k] = w;
    }
    return 0;
}

static double num(const char *s, const char *what)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !(v >= 0)) {
        fprintf(stderr, "tracegen: %s: '%s' is not a number >= 0\n", what, s);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv)
{
    static const struct option lo[] = {
        {"output", 1, NULL, 'o'}, {"duration", 1, NULL, 'd'}, {"rate", 1, NULL, 'r'},
        {"seed", 1, NULL, 's'},   {"ipv6", 1, NULL, 6},       {"vlan", 1, NULL, 7},
        {"mix", 1, NULL, 8},      {"syn-flood", 1, NULL, 9},  {"snaplen", 1, NULL, 10},
        {"help", 0, NULL, 'h'},   {NULL, 0, NULL, 0}};
    gen G, *g = &G;
    memset(g, 0, sizeof(*g));
    g->duration = 45, g->rate = 12250, g->v6_share = 0.2, g->vlan_share = 0.1, g->snaplen = 96;
    memcpy(g->weight, kind_weight_default, sizeof(g->weight));
    const char *out = NULL;
    uint64_t seed = 1;
    int c;
    while ((c = getopt_long(argc, argv, "o:d:r:s:h", lo, NULL)) != -1) {
        switch (c) {
        case 'o':
            out = optarg;
            break;
        case 'd':
            g->duration = num(optarg, "--duration");
            break;
        case 'r':
            g->rate = num(optarg, "--rate");
            break;
        case 's':
            seed = (uint64_t)num(optarg, "--seed");
            break;
        case 6:
            g->v6_share = num(optarg, "--ipv6");
            break;
        case 7:
            g->vlan_share = num(optarg, "--vlan");
            break;
        case 8:
            if (parse_mix(g, optarg) < 0) {
                fprintf(stderr, "tracegen: --mix: expected NAME=WEIGHT,... \n%s", usage);
                return 2;
            }
            break;
        case 9:
            g->flood = (uint64_t)num(optarg, "--syn-flood");
            break;
        case 10:
            g->snaplen = (int)num(optarg, "--snaplen");
            break;
        case 'h':
            fputs(usage, stdout);
            return 0;
        default:
            fputs(usage, stderr);
            return 2;
        }
    }
    if (!out || optind != argc || g->snaplen < 64 || g->snaplen > 65535) {
        fputs(usage, stderr);
        return 2;
    }
    for (int k = 1; k < K_COUNT; k++) /* cumulative weights */
        g->weight[k] += g->weight[k - 1];
    if (g->rate > 0 && !(g->weight[K_COUNT - 1] > 0)) {
        fprintf(stderr, "tracegen: --mix: all weights are zero\n");
        return 2;
    }
    g->rng = seed * 0x2545F4914F6CDD1Dull + 1;

    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pcap_t *p =
        pcap_open_dead_with_tstamp_precision(DLT_EN10MB, g->snaplen, PCAP_TSTAMP_PRECISION_MICRO);
    FILE *f = strcmp(out, "-") == 0 ? stdout : fopen(out, "wb");
    if (!p || !f) {
        fprintf(stderr, "tracegen: %s: %s\n", out, strerror(errno));
        return 1;
    }
    static char fbuf[1 << 22];
    setvbuf(f, fbuf, _IOFBF, sizeof(fbuf));
    g->dump = pcap_dump_fopen(p, f);
    if (!g->dump) {
        fprintf(stderr, "tracegen: %s: %s\n", out, pcap_geterr(p));
        return 1;
    }

    const int64_t end = (int64_t)(g->duration * 1e6);
    const double mean_gap = g->rate > 0 ? 1e6 / g->rate : 0;
    int64_t next_conn = g->rate > 0 ? expo_us(g, mean_gap) : INT64_MAX;
    uint64_t flood_i = 0;
    const double flood_slot = g->flood ? (double)end / (double)g->flood : 0;
    int64_t next_flood = g->flood ? (int64_t)(unif(g) * flood_slot) : INT64_MAX;
    size_t peak_alive = 0;
    for (;;) {
        int64_t t = g->n_heap ? g->heap[0].t : INT64_MAX;
        if (next_conn < end && next_conn <= t && next_conn <= next_flood) {
            if (heap_push(g, next_conn, new_conn(g)) < 0) {
                fprintf(stderr, "tracegen: out of memory\n");
                return 1;
            }
            if (g->n_heap > peak_alive)
                peak_alive = g->n_heap;
            next_conn += 1 + expo_us(g, mean_gap); /* +1: µs clock, no ties */
            continue;
        }
        if (next_flood < end && next_flood <= t) {
            flood_syn(g, next_flood);
            flood_i++;
            next_flood = flood_i < g->flood ? (int64_t)(((double)flood_i + unif(g)) * flood_slot)
                                            : INT64_MAX;
            continue;
        }
        if (t >= end)
            break;
        conn *cn = g->heap[0].c;
        emit(g, cn, t);
        if (++cn->next < cn->n_ops) {
            heap_replace_top(g, (hent){t + cn->ops[cn->next].dt_us, cn});
        } else {
            heap_replace_top(g, (hent){0, NULL});
            free(cn->ops);
            free(cn);
        }
    }
    size_t open_at_end = g->n_heap;
    for (size_t i = 0; i < g->n_heap; i++) {
        free(g->heap[i].c->ops);
        free(g->heap[i].c);
    }
    int bad = pcap_dump_flush(g->dump) != 0 || ferror(f);
    pcap_dump_close(g->dump);
    pcap_close(p);
    free(g->heap);
    free(g->scratch);
    if (bad) {
        fprintf(stderr, "tracegen: %s: write error\n", out);
        return 1;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    fprintf(stderr,
            "tracegen: %llu packets, %llu connections (%llu instances), %llu flood SYNs, "
            "%.1f MB, %.1f s; %zu scripts open at the end, peak %zu alive in the generator\n",
            (unsigned long long)g->packets, (unsigned long long)g->n_conn,
            (unsigned long long)g->lifetimes, (unsigned long long)flood_i,
            (double)(g->bytes + 24) / 1e6,
            (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9, open_at_end,
            peak_alive);
    fprintf(stderr, "tracegen: mix:");
    for (int k = 0; k < K_COUNT; k++)
        fprintf(stderr, " %s=%llu", kind_name[k], (unsigned long long)g->by_kind[k]);
    fputc('\n', stderr);
    return 0;
}
