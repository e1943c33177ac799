/*
 * flows.c: connection instances and the RFC 793 state machine of both
 * endpoints, replayed from one capture point (../shared/SPEC.md §1-§3).
 *
 * Model: every segment seen is delivered to its destination right after it
 * is seen. So each segment makes two kinds of transition: the sender's ("X
 * sends SYN/FIN") and the receiver's ("Y receives SYN-ACK/ACK/FIN"). The one
 * exception the spec names is a FIN whose ACK field does not cover the
 * peer's earlier FIN: that peer FIN had not arrived when this one was sent
 * (crossed FINs), which may later turn out to be a FIN lost after the
 * capture point (see resolve_crossing()).
 *
 * Invariants:
 * - one instance per 4-tuple in the index at a time; an instance leaves the
 *   index exactly when it is emitted (end_conn) and is freed right after;
 * - every tracked instance is on exactly one of three lists: `embryonic`
 *   (only the client's SYNs seen) and `active`, lazy LRUs by activity (idle
 *   timeout, eviction), or `closing` (some endpoint in TIME_WAIT, or reset)
 *   ordered by deadline. All are FIFO in capture time, so timer upkeep is
 *   O(1) amortised per segment.
 */
#include "flows.h"

#include <stdlib.h>
#include <string.h>

#include "conntab.h"

/* The canonical 4-tuple: w[0..1] the `a` end's address (the lower
 * (address, port) of the two), w[2..3] the `b` end's, w[4] the ports and
 * the IP version packed by key_tail(). Whole words, so a key built in
 * registers and compared or hashed at once never waits on store forwarding. */
typedef struct flow_key {
    uint64_t w[5];
} flow_key;

/* A multiply-xorshift finaliser (MurmurHash3's fmix64). */
static inline uint64_t mix64(uint64_t h)
{
    h ^= h >> 33;
    h *= UINT64_C(0xff51afd7ed558ccd);
    h ^= h >> 33;
    h *= UINT64_C(0xc4ceb9fe1a85ec53);
    h ^= h >> 33;
    return h;
}

/* The key's hash: its five 8-byte words mixed. The words are the two
 * addresses as the machine loads them and the ports and IP version packed
 * arithmetically, so flows_prepare can hash the words it already holds in
 * registers (reading back a key just stored piecewise stalls on store
 * forwarding) and get what key_hash of the stored key gives. */
static inline uint32_t hash_words(uint64_t a0, uint64_t a1, uint64_t b0, uint64_t b1, uint64_t tail)
{
    const uint64_t m = UINT64_C(0xff51afd7ed558ccd);
    uint64_t h = UINT64_C(0x9e3779b97f4a7c15) ^ 40;
    h = (h ^ a0) * m;
    h ^= h >> 29;
    h = (h ^ a1) * m;
    h ^= h >> 29;
    h = (h ^ b0) * m;
    h ^= h >> 29;
    h = (h ^ b1) * m;
    h ^= h >> 29;
    h = (h ^ tail) * m;
    h ^= h >> 29;
    return (uint32_t)mix64(h);
}

static inline uint64_t key_tail(uint16_t port_a, uint16_t port_b, uint8_t ip_version)
{
    return (uint64_t)port_a | (uint64_t)port_b << 16 | (uint64_t)ip_version << 32;
}

static inline uint16_t key_port_a(const flow_key *k)
{
    return (uint16_t)k->w[4];
}

static inline uint16_t key_port_b(const flow_key *k)
{
    return (uint16_t)(k->w[4] >> 16);
}

static inline uint8_t key_ip_version(const flow_key *k)
{
    return (uint8_t)(k->w[4] >> 32);
}

static uint32_t key_hash(const flow_key *k)
{
    return hash_words(k->w[0], k->w[1], k->w[2], k->w[3], k->w[4]);
}

/* The key of segment s, whose sender is the `a` end when from_a. */
static inline void segment_key(const dissect_segment *s, int from_a, flow_key *k)
{
    uint64_t src[2], dst[2];
    memcpy(src, s->src, 16);
    memcpy(dst, s->dst, 16);
    /* Selected by a mask: the direction is a coin toss no predictor learns. */
    const uint64_t m = (uint64_t)0 - (uint64_t)(from_a != 0);
    k->w[0] = (src[0] & m) | (dst[0] & ~m);
    k->w[1] = (src[1] & m) | (dst[1] & ~m);
    k->w[2] = (dst[0] & m) | (src[0] & ~m);
    k->w[3] = (dst[1] & m) | (src[1] & ~m);
    uint64_t ab = key_tail(s->sport, s->dport, s->ip_version),
             ba = key_tail(s->dport, s->sport, s->ip_version);
    k->w[4] = (ab & m) | (ba & ~m);
}

/* Sequence space comparisons, modulo 2^32 (RFC 793 §3.3). */
#define SEQ_LT(a, b)  ((int32_t)((uint32_t)(a) - (uint32_t)(b)) < 0)
#define SEQ_LEQ(a, b) ((int32_t)((uint32_t)(a) - (uint32_t)(b)) <= 0)
#define SEQ_GT(a, b)  SEQ_LT(b, a)
#define SEQ_GEQ(a, b) SEQ_LEQ(b, a)

#define DUP_WINDOW_NS  INT64_C(1000000) /* SPAN copies arrive within 1 ms */
#define DEDUP_SLOTS    2048u            /* recent fingerprints kept; power of 2 */
#define WSCALE_UNKNOWN 0xff
#define MAX_WSCALE     14
#define DEFAULT_WINDOW 65535u

enum { CLIENT = 0, SERVER = 1 };

/* Endpoint flags. */
enum {
    EP_SEQ_KNOWN = 1u << 0,   /* snd_nxt is meaningful */
    EP_SENT_SYN = 1u << 1,    /* sent a SYN without ACK */
    EP_SENT_SYNACK = 1u << 2, /* sent a SYN-ACK */
    EP_ISN_KNOWN = 1u << 3,
    EP_FIN_SENT = 1u << 4,
    EP_ACKED_PEER_FIN = 1u << 5, /* sent an ACK covering the peer's FIN */
    EP_WIN_KNOWN = 1u << 6,
    EP_TTL_KNOWN = 1u << 7,
    EP_CLOSING = 1u << 8,  /* passed through CLOSING */
    EP_TW = 1u << 9,       /* entered TIME_WAIT */
    EP_WS_OPT = 1u << 10,  /* its SYN carried a window scale option */
    EP_TW_LEFT = 1u << 11, /* left TIME_WAIT: tw_deadline[] is when, tw_reason why */
};

typedef struct endpoint {
    uint32_t isn;
    uint32_t snd_nxt; /* sequence number after everything it sent */
    uint32_t fin_seq; /* sequence number of its FIN */
    uint32_t window;  /* last advertised receive window, scaled */
    uint16_t flags;   /* EP_* */
    uint8_t state;    /* conn_state */
    uint8_t ttl;      /* TTL / hop limit of its last non-RST segment */
    uint8_t wscale;   /* shift applied to its windows; WSCALE_UNKNOWN */
    uint8_t tw_reason;
    uint8_t pad[2];
} endpoint;

/* Instance-level handshake evidence. */
enum {
    HSF_SYN = 1u << 0,     /* the client's SYN */
    HSF_SYNACK = 1u << 1,  /* the server's SYN-ACK after it */
    HSF_ACK = 1u << 2,     /* the client's ACK of the SYN-ACK after that */
    HSF_REFUSED = 1u << 3, /* an acceptable RST reached the client in SYN_SENT */
    HSF_SIMUL = 1u << 4,   /* both sides sent a SYN without ACK */
};

/* Crossed-FIN bookkeeping: see resolve_crossing(). */
enum { CROSS_NONE = 0, CROSS_PENDING, CROSS_PURE_ACKED };

/*
 * An instance is two records at the same pool index (conntab): `conn`, what
 * an ordinary segment reads and writes, 128 bytes on a 128-byte boundary
 * (one pair of cache lines, which the hardware fetches together), and
 * `conn_cold`, what only the handshake, a FIN or RST, the timers and the
 * row need. Memory per instance is the same as one 216-byte record; the
 * segments of an established connection touch 2 lines instead of 4 or 5.
 */
typedef struct conn {
    flow_key key;        /* first: conntab compares it */
    uint8_t list;        /* LIST_* */
    uint8_t client_is_a; /* the client is the key's `a` side */
    uint8_t cross;       /* CROSS_* */
    uint8_t hs;
    uint8_t reset; /* closed by an acceptable RST */
    uint8_t role_by;
    uint16_t anomalies;
    uint32_t packets[2];
    uint64_t bytes[2];
    int64_t last_ts;
    endpoint ep[2]; /* CLIENT, SERVER */
} conn;

typedef struct conn_cold {
    int64_t deadline; /* closing list: when the instance ends; active list: when queued */
    int64_t first_ts;
    /* The client's last SYN until the handshake completes (HSF_ACK), then
     * the handshake RTT. */
    int64_t hs_time;
    uint64_t id;
    int64_t tw_start[2];
    int64_t tw_deadline[2]; /* when TIME_WAIT expires; once left, when it ended */
    uint32_t prev, next;    /* on one of t's lists (see `list`); CONNTAB_NONE ends */
    uint32_t fin_retransmits, syn_retransmits, synack_retransmits;
    uint8_t close_initiator; /* conn_side */
    uint8_t close_type;
    uint8_t cross_who; /* the endpoint whose FIN crossed the other's */
} conn_cold;

#define CONN_ALIGN 128
_Static_assert(sizeof(conn) == CONN_ALIGN, "conn is one pair of cache lines");

/* Every tracked instance is on exactly one list. */
enum {
    LIST_ACTIVE = 0, /* lazy LRU by activity (idle timeout, eviction) */
    LIST_CLOSING,    /* by deadline: TIME_WAIT or the linger after a reset */
    LIST_EMBRYONIC,  /* lazy LRU: only the client's SYNs seen so far */
    LIST_FREE = 0xff /* released to the pool */
};

typedef struct conn_list {
    uint32_t head, tail; /* CONNTAB_NONE when empty */
} conn_list;

struct flows_table {
    flows_config cfg;
    flows_emit_fn emit;
    void *ctx;
    conntab tab; /* the instances and the index of their 4-tuples */
    conn_list active, closing, embryonic;
    int64_t clock; /* newest capture time seen */
    /* Exact-duplicate filter: the fingerprints of recent segments in a
     * direct-mapped cache (see is_duplicate()). */
    struct dedup_slot {
        uint64_t fp;
        int64_t ts;
    } * dedup;
    int clock_set;
    /* expire_due() has nothing to do while clock < due: the earliest time a
     * list head can end. A lower bound, lowered (to INT64_MIN) whenever a
     * head or its deadline may change. */
    int64_t due;
    uint64_t next_id;
    flows_stats stats;
};

/* ---- names ------------------------------------------------------------ */

static const char *const state_names[CONN_STATE_COUNT] = {
    "CLOSED",    "LISTEN",  "SYN_SENT",  "SYN_RCVD",   "ESTABLISHED", "FIN_WAIT1",
    "FIN_WAIT2", "CLOSING", "TIME_WAIT", "CLOSE_WAIT", "LAST_ACK"};

const char *conn_state_name(conn_state s)
{
    return (unsigned)s < CONN_STATE_COUNT ? state_names[s] : "?";
}

const char *conn_role_by_name(conn_role_by r)
{
    static const char *const n[] = {"syn", "synack", "port"};
    return (unsigned)r < 3 ? n[r] : "?";
}

const char *conn_handshake_name(conn_handshake h)
{
    static const char *const n[HS_COUNT] = {"complete", "syn_only",          "no_ack",
                                            "refused",  "simultaneous_open", "midstream"};
    return (unsigned)h < HS_COUNT ? n[h] : "?";
}

const char *conn_side_name(conn_side s)
{
    static const char *const n[SIDE_COUNT] = {"none", "client", "server", "both"};
    return (unsigned)s < SIDE_COUNT ? n[s] : "?";
}

const char *conn_close_type_name(conn_close_type c)
{
    static const char *const n[CLOSE_TYPE_COUNT] = {"none", "fin", "rst"};
    return (unsigned)c < CLOSE_TYPE_COUNT ? n[c] : "?";
}

const char *conn_tw_reason_name(conn_tw_reason r)
{
    static const char *const n[TW_REASON_COUNT] = {"",      "expired", "reused", "capture_end",
                                                   "reset", "evicted"};
    return (unsigned)r < TW_REASON_COUNT ? n[r] : "?";
}

const char *conn_anomaly_name(unsigned bit_index)
{
    static const char *const n[ANOM_COUNT] = {"rst_out_of_window", "rst_ttl_changed",
                                              "data_after_fin",    "syn_with_data",
                                              "idle_timeout",      "evicted"};
    return bit_index < ANOM_COUNT ? n[bit_index] : "?";
}

/* ---- lists ------------------------------------------------------------ */

static conn *at(const flows_table *t, uint32_t i)
{
    return conntab_at(&t->tab, i);
}

static uint32_t index_of(const flows_table *t, const conn *c)
{
    return (uint32_t)(c - (const conn *)(const void *)t->tab.pool);
}

static conn_cold *cold_at(const flows_table *t, uint32_t i)
{
    return conntab_cold(&t->tab, i);
}

static conn_cold *cold(const flows_table *t, const conn *c)
{
    return cold_at(t, index_of(t, c));
}

static void list_remove(flows_table *t, conn_list *l, conn *c)
{
    conn_cold *k = cold(t, c);
    if (k->prev != CONNTAB_NONE) {
        cold_at(t, k->prev)->next = k->next;
    } else {
        l->head = k->next;
        t->due = INT64_MIN;
    }
    if (k->next != CONNTAB_NONE)
        cold_at(t, k->next)->prev = k->prev;
    else
        l->tail = k->prev;
    k->prev = k->next = CONNTAB_NONE;
}

static void list_append(flows_table *t, conn_list *l, conn *c)
{
    uint32_t i = index_of(t, c);
    conn_cold *k = cold_at(t, i);
    k->next = CONNTAB_NONE;
    k->prev = l->tail;
    if (l->tail != CONNTAB_NONE) {
        cold_at(t, l->tail)->next = i;
    } else {
        l->head = i;
        t->due = INT64_MIN;
    }
    l->tail = i;
}

/* The first instance of a list, or NULL. */
static conn *list_head(const flows_table *t, const conn_list *l)
{
    return l->head == CONNTAB_NONE ? NULL : at(t, l->head);
}

static conn_list *list_of(flows_table *t, const conn *c)
{
    return c->list == LIST_CLOSING     ? &t->closing
           : c->list == LIST_EMBRYONIC ? &t->embryonic
                                       : &t->active;
}

/* ---- configuration and life cycle ------------------------------------- */

/* Every time is kept in [0, FLOWS_TS_MAX] and the timer lengths below 2^60
 * ns, so no deadline or difference can overflow int64. */
static int64_t clamp_ts(int64_t ts)
{
    return ts < 0 ? 0 : ts > FLOWS_TS_MAX ? FLOWS_TS_MAX : ts;
}

static int64_t clamp_duration(int64_t d)
{
    const int64_t max = INT64_C(1) << 59;
    return d < 0 ? 0 : d > max ? max : d;
}

void flows_config_default(flows_config *cfg)
{
    cfg->msl = 30 * FLOWS_NS_PER_SEC;
    cfg->idle_timeout = 2 * 3600 * FLOWS_NS_PER_SEC;
    cfg->max_flows = FLOWS_DEFAULT_MAX_FLOWS;
}

flows_table *flows_new(const flows_config *cfg, flows_emit_fn emit, void *ctx)
{
    flows_table *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    if (cfg)
        t->cfg = *cfg;
    else
        flows_config_default(&t->cfg);
    t->cfg.msl = clamp_duration(t->cfg.msl);
    t->cfg.idle_timeout = clamp_duration(t->cfg.idle_timeout);
    t->emit = emit;
    t->ctx = ctx;
    t->next_id = 1;
    t->due = INT64_MIN;
    t->active.head = t->active.tail = CONNTAB_NONE;
    t->closing.head = t->closing.tail = CONNTAB_NONE;
    t->embryonic.head = t->embryonic.tail = CONNTAB_NONE;
    t->dedup = calloc(DEDUP_SLOTS, sizeof(*t->dedup));
    if (!t->dedup ||
        conntab_init(&t->tab, sizeof(conn), sizeof(flow_key), sizeof(conn_cold), CONN_ALIGN) < 0) {
        free(t->dedup);
        free(t);
        return NULL;
    }
    return t;
}

void flows_set_emit(flows_table *t, flows_emit_fn emit, void *ctx)
{
    t->emit = emit;
    t->ctx = ctx;
}

const flows_stats *flows_get_stats(const flows_table *t)
{
    return &t->stats;
}

/* ---- emitting --------------------------------------------------------- */

static conn_handshake classify_handshake(const conn *c)
{
    if (c->hs & HSF_SIMUL)
        return HS_SIMULTANEOUS_OPEN;
    if (!(c->hs & HSF_SYN))
        return HS_MIDSTREAM;
    if (c->hs & HSF_ACK)
        return HS_COMPLETE;
    if (c->hs & HSF_REFUSED)
        return HS_REFUSED;
    if (c->hs & HSF_SYNACK)
        return HS_NO_ACK;
    return HS_SYN_ONLY;
}

/* Ends TIME_WAIT of endpoint e at `when` for `reason` (no-op elsewhere).
 * Censored ends (capture end, eviction) keep the state as it is: the row
 * then says the endpoint was still in TIME_WAIT. */
static void leave_time_wait(flows_table *t, conn *c, int i, int64_t when, conn_tw_reason reason)
{
    endpoint *e = &c->ep[i];
    if (e->state != CONN_TIME_WAIT || (e->flags & EP_TW_LEFT))
        return;
    if (reason != TW_CAPTURE_END && reason != TW_EVICTED)
        e->state = CONN_CLOSED;
    cold(t, c)->tw_deadline[i] = when;
    e->tw_reason = (uint8_t)reason;
    e->flags |= EP_TW_LEFT;
}

static void fill_record(const flows_table *t, const conn *c, conn_record *r)
{
    const flow_key *k = &c->key;
    const conn_cold *cc = cold(t, c);
    memset(r, 0, sizeof(*r));
    r->conn_id = cc->id;
    r->first_ts = cc->first_ts;
    r->last_ts = c->last_ts;
    r->ip_version = key_ip_version(k);
    memcpy(r->client_ip, c->client_is_a ? &k->w[0] : &k->w[2], 16);
    memcpy(r->server_ip, c->client_is_a ? &k->w[2] : &k->w[0], 16);
    r->client_port = c->client_is_a ? key_port_a(k) : key_port_b(k);
    r->server_port = c->client_is_a ? key_port_b(k) : key_port_a(k);
    r->role_by = (conn_role_by)c->role_by;
    r->handshake = classify_handshake(c);
    r->syn_retransmits = cc->syn_retransmits;
    r->synack_retransmits = cc->synack_retransmits;
    r->handshake_rtt = r->handshake == HS_COMPLETE ? cc->hs_time : -1;
    r->close_initiator = (conn_side)cc->close_initiator;
    r->close_type = (conn_close_type)cc->close_type;
    r->closing =
        (uint8_t)(!!(c->ep[CLIENT].flags & EP_CLOSING) + !!(c->ep[SERVER].flags & EP_CLOSING));
    int tw_c = !!(c->ep[CLIENT].flags & EP_TW), tw_s = !!(c->ep[SERVER].flags & EP_TW);
    r->time_wait_side = tw_c && tw_s ? SIDE_BOTH
                        : tw_c       ? SIDE_CLIENT
                        : tw_s       ? SIDE_SERVER
                                     : SIDE_NONE;
    if (r->time_wait_side != SIDE_NONE) {
        int first = 1;
        for (int i = 0; i < 2; i++) {
            const endpoint *e = &c->ep[i];
            if (!(e->flags & EP_TW))
                continue;
            if (first || cc->tw_start[i] < r->time_wait_start)
                r->time_wait_start = cc->tw_start[i];
            /* The last endpoint to leave decides end and reason. */
            if (first || cc->tw_deadline[i] >= r->time_wait_end) {
                r->time_wait_end = cc->tw_deadline[i];
                r->time_wait_end_reason = (conn_tw_reason)e->tw_reason;
            }
            first = 0;
        }
    }
    r->client_state = (conn_state)c->ep[CLIENT].state;
    r->server_state = (conn_state)c->ep[SERVER].state;
    r->packets_c2s = c->packets[CLIENT];
    r->packets_s2c = c->packets[SERVER];
    r->bytes_c2s = c->bytes[CLIENT];
    r->bytes_s2c = c->bytes[SERVER];
    r->fin_retransmits = cc->fin_retransmits;
    r->anomalies = c->anomalies;
}

/* Ends the instance's timers and counts it, then hands its row over. */
static void emit_conn(flows_table *t, conn *c, conn_end_reason why, int64_t when,
                      conn_tw_reason tw_reason)
{
    conn_record rec;
    for (int i = 0; i < 2; i++)
        leave_time_wait(t, c, i, when, tw_reason);
    if (why == END_IDLE) {
        c->anomalies |= ANOM_IDLE_TIMEOUT;
        t->stats.idle_timeouts++;
    } else if (why == END_EVICTED) {
        c->anomalies |= ANOM_EVICTED;
        t->stats.evicted++;
    } else if (why == END_REUSED) {
        t->stats.reused++;
    }
    fill_record(t, c, &rec);
    rec.end_reason = why;
    t->stats.alive--;
    if (t->emit)
        t->emit(t->ctx, &rec);
}

/* Hands the instance over and frees it. `when` is the moment it ends; an
 * endpoint still in TIME_WAIT leaves it then for `tw_reason`. */
static void end_conn(flows_table *t, conn *c, conn_end_reason why, int64_t when,
                     conn_tw_reason tw_reason)
{
    uint32_t i = index_of(t, c);
    conntab_remove(&t->tab, i, key_hash(&c->key));
    list_remove(t, list_of(t, c), c);
    emit_conn(t, c, why, when, tw_reason);
    c->list = LIST_FREE;
    conntab_release(&t->tab, i); /* reuses c's first bytes: after the row */
}

/* The natural end of a closing instance at its deadline: TIME_WAIT expired
 * (each endpoint at its own deadline) or the linger after a reset passed. */
static void expire_conn(flows_table *t, conn *c)
{
    conn_cold *k = cold(t, c);
    for (int i = 0; i < 2; i++)
        leave_time_wait(t, c, i, k->tw_deadline[i], TW_EXPIRED);
    end_conn(t, c, END_CLOSED, k->deadline, TW_REASON_NONE);
}

/* Ends whatever is due at t->clock. */
/*
 * The active and embryonic lists are lazy LRUs: an instance is queued with
 * the time it was queued (kept in `deadline`, unused there) and is not
 * moved when it sees a packet, which would cost two cache misses on its
 * list neighbours per packet. A head that was active since it was queued is
 * queued again when it reaches the front: at most once per idle period,
 * O(1) amortised. Queue times are the table's clock, so they are in order,
 * and no instance can be idle while the head's queue time is recent.
 */
static void requeue(flows_table *t, conn_list *l, conn *c)
{
    list_remove(t, l, c);
    cold(t, c)->deadline = t->clock;
    list_append(t, l, c);
}

/* The least recently active instance of a lazy list, or NULL. */
static conn *least_recent(flows_table *t, conn_list *l)
{
    conn *c;
    while ((c = list_head(t, l)) && c->last_ts > cold(t, c)->deadline)
        requeue(t, l, c);
    return c;
}

static void expire_idle(flows_table *t, conn_list *l)
{
    int64_t limit = t->clock - t->cfg.idle_timeout;
    conn *c;
    while ((c = list_head(t, l)) && cold(t, c)->deadline <= limit) {
        if (c->last_ts <= limit)
            end_conn(t, c, END_IDLE, t->clock, TW_REASON_NONE);
        else
            requeue(t, l, c);
    }
}

/* When a lazy list's head can end at the earliest (see expire_idle()). */
static int64_t idle_due(const flows_table *t, const conn_list *l)
{
    conn *c = list_head(t, l);
    return c ? cold(t, c)->deadline + t->cfg.idle_timeout : INT64_MAX;
}

static void expire_due(flows_table *t)
{
    conn *c;
    if (t->clock < t->due)
        return;
    while ((c = list_head(t, &t->closing)) && cold(t, c)->deadline <= t->clock)
        expire_conn(t, c);
    if (t->cfg.idle_timeout > 0) {
        expire_idle(t, &t->active);
        expire_idle(t, &t->embryonic);
    }
    /* Nothing is due before the earliest head's deadline. */
    c = list_head(t, &t->closing);
    int64_t due = c ? cold(t, c)->deadline : INT64_MAX;
    if (t->cfg.idle_timeout > 0) {
        int64_t a = idle_due(t, &t->active), e = idle_due(t, &t->embryonic);
        due = a < due ? a : due;
        due = e < due ? e : due;
    }
    t->due = due;
}

/* ---- timers per instance ---------------------------------------------- */

/* Puts the instance on the right list after a segment: `closing` with the
 * latest deadline of its endpoints when it is closing, else the tail of
 * `active`. */
static void reschedule(flows_table *t, conn *c)
{
    int closing = c->reset || c->ep[0].state == CONN_TIME_WAIT || c->ep[1].state == CONN_TIME_WAIT;
    /* An active instance stays where it is (the active list is a lazy LRU,
     * see expire_due()); a closing one moves only when its deadline does. */
    if (!closing) {
        if (c->list == LIST_EMBRYONIC && c->packets[SERVER]) {
            /* The server answered: no longer a mere attempt. */
            list_remove(t, &t->embryonic, c);
            c->list = LIST_ACTIVE;
            cold(t, c)->deadline = t->clock;
            list_append(t, &t->active, c);
        }
        return;
    }
    /* The latest deadline of the endpoints in TIME_WAIT and of the linger
     * after a reset (at least one of them applies). */
    conn_cold *k = cold(t, c);
    int64_t deadline = INT64_MIN;
    for (int i = 0; i < 2; i++)
        if (c->ep[i].state == CONN_TIME_WAIT && k->tw_deadline[i] > deadline)
            deadline = k->tw_deadline[i];
    if (c->reset && k->deadline > deadline)
        deadline = k->deadline; /* linger set by the reset */
    if (c->list == LIST_CLOSING && k->deadline == deadline)
        return;
    list_remove(t, list_of(t, c), c);
    c->list = LIST_CLOSING;
    k->deadline = deadline;
    list_append(t, &t->closing, c);
}

static void enter_time_wait(flows_table *t, conn *c, int i, int64_t ts)
{
    endpoint *e = &c->ep[i];
    conn_cold *k = cold(t, c);
    if (!(e->flags & EP_TW)) {
        e->flags |= EP_TW;
        k->tw_start[i] = ts;
    }
    e->state = CONN_TIME_WAIT;
    k->tw_deadline[i] = ts + 2 * t->cfg.msl;
}

/* ---- lookup and creation ---------------------------------------------- */

static conn *new_conn(flows_table *t, const flow_key *k, uint32_t hashv, int sender_is_a,
                      const flows_seg *s, int64_t ts)
{
    if (t->cfg.max_flows && t->stats.alive >= t->cfg.max_flows) {
        /* Unanswered attempts go first (a SYN flood must not push out the
         * connections that got an answer), then the least recently active
         * instance of the other lists. */
        conn *victim = least_recent(t, &t->embryonic);
        if (!victim) {
            conn *a = least_recent(t, &t->active), *z = list_head(t, &t->closing);
            victim = (!a || (z && z->last_ts < a->last_ts)) ? z : a;
        }
        if (victim)
            end_conn(t, victim, END_EVICTED, t->clock, TW_EVICTED);
    }
    uint32_t idx = conntab_alloc(&t->tab);
    if (idx == CONNTAB_NONE)
        return NULL;
    conn *c = at(t, idx);
    conn_cold *cc = cold_at(t, idx);
    c->key = *k;
    cc->prev = cc->next = CONNTAB_NONE;
    cc->id = t->next_id++;
    cc->first_ts = c->last_ts = ts;

    int sender_role; /* CLIENT or SERVER */
    uint16_t f = s->flags;
    if ((f & DISSECT_SYN) && !(f & (DISSECT_ACK | DISSECT_RST))) {
        c->role_by = ROLE_BY_SYN;
        sender_role = CLIENT;
    } else if ((f & DISSECT_SYN) && (f & DISSECT_ACK) && !(f & DISSECT_RST)) {
        c->role_by = ROLE_BY_SYNACK;
        sender_role = SERVER;
    } else {
        /* The well-known (lower) port is the server's; on a tie, the first
         * sender is taken for the client. */
        c->role_by = ROLE_BY_PORT;
        uint16_t pa = key_port_a(k), pb = key_port_b(k);
        sender_role = (sender_is_a ? pa < pb : pb < pa) ? SERVER : CLIENT;
    }
    c->client_is_a = (uint8_t)((sender_role == CLIENT) == !!sender_is_a);

    for (int i = 0; i < 2; i++)
        c->ep[i].wscale = WSCALE_UNKNOWN;
    switch ((conn_role_by)c->role_by) {
    case ROLE_BY_SYN:
        c->ep[CLIENT].state = CONN_CLOSED;
        c->ep[SERVER].state = CONN_CLOSED;
        break;
    case ROLE_BY_SYNACK:
        /* The client's SYN was not seen but must have been sent. */
        c->ep[CLIENT].state = CONN_SYN_SENT;
        c->ep[SERVER].state = CONN_LISTEN;
        break;
    case ROLE_BY_PORT:
        /* The capture began after the handshake. */
        c->ep[CLIENT].state = CONN_ESTABLISHED;
        c->ep[SERVER].state = CONN_ESTABLISHED;
        break;
    }

    if (conntab_insert(&t->tab, idx, hashv) < 0) {
        conntab_release(&t->tab, idx);
        t->next_id--;
        return NULL;
    }
    cc->deadline = t->clock; /* queue time on a lazy list */
    c->list = c->role_by == ROLE_BY_SYN ? LIST_EMBRYONIC : LIST_ACTIVE;
    list_append(t, list_of(t, c), c);
    t->stats.instances++;
    t->stats.alive++;
    if (t->stats.alive > t->stats.peak_alive)
        t->stats.peak_alive = t->stats.alive;
    return c;
}

/* Does this SYN start a new instance on the 4-tuple of c (SPEC §1)? */
static int starts_new_instance(const conn *c, const endpoint *x, const flows_seg *s)
{
    if ((s->flags & (DISSECT_SYN | DISSECT_ACK | DISSECT_RST)) != DISSECT_SYN)
        return 0;
    if ((x->flags & EP_ISN_KNOWN) && x->isn == s->seq)
        return 0; /* a retransmission of the SYN already seen */
    const endpoint *a = &c->ep[CLIENT], *b = &c->ep[SERVER];
    /* In TIME_WAIT: either endpoint (its peer may still be in LAST_ACK when
     * the last ACK was not captured). */
    int closed = c->reset || a->state == CONN_TIME_WAIT || b->state == CONN_TIME_WAIT ||
                 (a->state == CONN_CLOSED && (b->state == CONN_CLOSED || b->state == CONN_LISTEN));
    /* The same endpoint sending a SYN with another ISN while its first one
     * was never answered abandoned that attempt (retrying clients,
     * scanners). The peer's SYN is a simultaneous open instead. */
    const endpoint *peer = x == a ? b : a;
    int abandoned =
        (x->flags & EP_SENT_SYN) && x->state == CONN_SYN_SENT && !(peer->flags & EP_SEQ_KNOWN);
    return closed || abandoned;
}

/* ---- the state machine ------------------------------------------------ */

static uint32_t seg_end(const flows_seg *s)
{
    return s->seq + s->payload_len + !!(s->flags & DISSECT_SYN) + !!(s->flags & DISSECT_FIN);
}

static void note_close(flows_table *t, conn *c, int d, conn_close_type type)
{
    conn_cold *k = cold(t, c);
    if (k->close_initiator == SIDE_NONE) {
        k->close_initiator = (uint8_t)(d == CLIENT ? SIDE_CLIENT : SIDE_SERVER);
        k->close_type = (uint8_t)type;
    }
}

/* Is an RST from x acceptable to y (SPEC §2)? */
static int rst_acceptable(const endpoint *x, const endpoint *y, const flows_seg *s)
{
    if (y->state == CONN_SYN_SENT) {
        /* Acceptable only when it acks the SYN. */
        return (s->flags & DISSECT_ACK) && (y->flags & EP_ISN_KNOWN) && SEQ_GT(s->ack, y->isn) &&
               SEQ_LEQ(s->ack, y->snd_nxt);
    }
    if (!(x->flags & EP_SEQ_KNOWN))
        return 1; /* nothing seen from the sender to check against */
    uint32_t rcv_nxt = x->snd_nxt;
    uint32_t w = (y->flags & EP_WIN_KNOWN) ? y->window : DEFAULT_WINDOW;
    if (w == 0)
        return s->seq == rcv_nxt;
    return SEQ_GEQ(s->seq, rcv_nxt - w) && SEQ_LT(s->seq, rcv_nxt + w);
}

static void on_rst(flows_table *t, conn *c, int d, const flows_seg *s, int64_t ts)
{
    endpoint *x = &c->ep[d], *y = &c->ep[!d];
    if ((x->flags & EP_TTL_KNOWN) && x->ttl != s->ttl)
        c->anomalies |= ANOM_RST_TTL_CHANGED;
    if (c->reset || (x->state == CONN_CLOSED && y->state == CONN_CLOSED))
        return; /* stray reset after the end: nothing left to close */
    if (!rst_acceptable(x, y, s)) {
        c->anomalies |= ANOM_RST_OUT_OF_WINDOW;
        return;
    }
    note_close(t, c, d, CLOSE_RST);
    if (d == SERVER && y->state == CONN_SYN_SENT)
        c->hs |= HSF_REFUSED;
    for (int i = 0; i < 2; i++) {
        leave_time_wait(t, c, i, ts, TW_RESET);
        c->ep[i].state = CONN_CLOSED;
    }
    c->reset = 1;
    c->cross = CROSS_NONE;
    /* Linger for 2*MSL so that segments still in flight are counted with
     * this instance instead of opening a midstream one. */
    cold(t, c)->deadline = ts + 2 * t->cfg.msl;
    t->due = INT64_MIN; /* it may be a list's head */
}

/* The window scale an endpoint announced in its SYN (RFC 7323 caps it). */
static void note_wscale(endpoint *x, const flows_seg *s)
{
    if (s->opts & DISSECT_OPT_WSCALE) {
        x->flags |= EP_WS_OPT;
        x->wscale = s->wscale > MAX_WSCALE ? MAX_WSCALE : s->wscale;
    }
}

/* X sends a SYN or SYN-ACK; Y receives it. */
static void on_syn(flows_table *t, conn *c, int d, const flows_seg *s, int64_t ts)
{
    endpoint *x = &c->ep[d], *y = &c->ep[!d];
    if (s->payload_len > 0)
        c->anomalies |= ANOM_SYN_WITH_DATA;

    if (!(s->flags & DISSECT_ACK)) {
        if (x->flags & EP_SENT_SYN) {
            if (x->isn == s->seq) {
                cold(t, c)->syn_retransmits++;
                if (d == CLIENT && !(c->hs & HSF_ACK))
                    cold(t, c)->hs_time = ts; /* Karn: time from the SYN answered */
            }
            return;
        }
        x->flags |= EP_SENT_SYN | EP_ISN_KNOWN;
        x->isn = s->seq;
        note_wscale(x, s);
        if (d == CLIENT && c->role_by == ROLE_BY_SYN) {
            c->hs |= HSF_SYN;
            cold(t, c)->hs_time = ts;
        }
        /* A SYN moves only an endpoint that is not synchronized yet; from
         * any later state (a late or forged SYN) it changes nothing. */
        int opening =
            x->state == CONN_CLOSED || x->state == CONN_LISTEN || x->state == CONN_SYN_SENT;
        if (opening && (y->flags & EP_SENT_SYN)) {
            /* Y's SYN had not arrived when X sent its own: simultaneous
             * open. X goes SYN_SENT, then receives Y's SYN. */
            c->hs |= HSF_SIMUL;
            x->state = CONN_SYN_RCVD;
        } else if (opening) {
            x->state = CONN_SYN_SENT;
        }
        /* Y receives the SYN. */
        if (y->state == CONN_CLOSED)
            y->state = CONN_LISTEN;
        else if (y->state == CONN_SYN_SENT) {
            y->state = CONN_SYN_RCVD;
            c->hs |= HSF_SIMUL;
        }
        return;
    }

    /* SYN-ACK */
    if (x->flags & EP_SENT_SYNACK) {
        if (x->isn == s->seq)
            cold(t, c)->synack_retransmits++;
        return;
    }
    x->flags |= EP_SENT_SYNACK;
    if (!(x->flags & EP_ISN_KNOWN)) {
        x->flags |= EP_ISN_KNOWN;
        x->isn = s->seq;
        note_wscale(x, s);
    }
    if (d == SERVER && (c->hs & HSF_SYN))
        c->hs |= HSF_SYNACK;
    if (x->state == CONN_CLOSED || x->state == CONN_LISTEN || x->state == CONN_SYN_SENT)
        x->state = CONN_SYN_RCVD;
    /* Y receives the SYN-ACK: it must ack Y's SYN. */
    int acks_syn = !(y->flags & EP_ISN_KNOWN) || SEQ_GT(s->ack, y->isn);
    if (acks_syn && (y->state == CONN_SYN_SENT || y->state == CONN_SYN_RCVD)) {
        y->state = CONN_ESTABLISHED;
        if (!(y->flags & EP_ISN_KNOWN)) {
            y->flags |= EP_ISN_KNOWN | EP_SEQ_KNOWN;
            y->isn = s->ack - 1;
            y->snd_nxt = s->ack;
        }
    }
}

/*
 * Crossed FINs or a FIN lost after the capture point (SPEC §2).
 * `cross_who` (Y) sent its FIN without acking the peer's (X's) earlier FIN.
 * Default reading: the FINs crossed, Y went FIN_WAIT1 -> CLOSING. It was a
 * loss instead when X first acks Y's FIN with a segment without FIN and then
 * sends its FIN again before Y acks it: Y never was in CLOSING; it went
 * FIN_WAIT2 at X's ACK and TIME_WAIT at the retransmission.
 * Called for a segment from `d`, before that segment's transitions.
 */
static void resolve_crossing(flows_table *t, conn *c, int d, const flows_seg *s, int64_t ts)
{
    int who = cold(t, c)->cross_who;
    endpoint *y = &c->ep[who], *x = &c->ep[!who];
    int has_ack = !!(s->flags & DISSECT_ACK);
    if (d == who) {
        if (has_ack && SEQ_GT(s->ack, x->fin_seq))
            c->cross = CROSS_NONE; /* Y acks X's FIN: it got it, crossed */
        return;
    }
    int acks_y_fin = has_ack && SEQ_GT(s->ack, y->fin_seq);
    int fin = !!(s->flags & DISSECT_FIN);
    if (c->cross == CROSS_PENDING) {
        if (acks_y_fin)
            c->cross = fin ? CROSS_NONE : CROSS_PURE_ACKED;
        return;
    }
    /* CROSS_PURE_ACKED: X retransmits its FIN before Y acked it. */
    if (fin && seg_end(s) == x->fin_seq + 1) {
        y->flags &= (uint16_t)~EP_CLOSING;
        if (y->state == CONN_TIME_WAIT)
            cold(t, c)->tw_start[who] = ts; /* FIN_WAIT2 -> TIME_WAIT happens now */
        c->cross = CROSS_NONE;
    }
}

/* X sends a FIN (sender-side transitions). */
static void send_fin(flows_table *t, conn *c, int d, const flows_seg *s)
{
    endpoint *x = &c->ep[d];
    uint32_t fin_seq = seg_end(s) - 1;
    if (x->flags & EP_FIN_SENT) {
        if (fin_seq == x->fin_seq)
            cold(t, c)->fin_retransmits++;
        return;
    }
    x->flags |= EP_FIN_SENT;
    x->fin_seq = fin_seq;
    note_close(t, c, d, CLOSE_FIN);
    switch ((conn_state)x->state) {
    case CONN_SYN_SENT:
    case CONN_SYN_RCVD:
    case CONN_ESTABLISHED:
        x->state = CONN_FIN_WAIT1;
        break;
    case CONN_CLOSE_WAIT:
        if (x->flags & EP_ACKED_PEER_FIN) {
            x->state = CONN_LAST_ACK;
        } else {
            /* Its FIN does not ack the peer's: the peer's FIN had not
             * arrived. ESTABLISHED -> FIN_WAIT1, then the peer's FIN
             * arrives -> CLOSING. Both closed actively. */
            x->state = CONN_CLOSING;
            x->flags |= EP_CLOSING;
            cold(t, c)->close_initiator = SIDE_BOTH;
            c->cross = CROSS_PENDING;
            cold(t, c)->cross_who = (uint8_t)d;
        }
        break;
    default:
        break;
    }
}

/* Y receives a segment from X: ACK of Y's SYN or FIN, and X's FIN. */
static void receive(flows_table *t, conn *c, int d, const flows_seg *s, int64_t ts)
{
    endpoint *y = &c->ep[!d];
    uint16_t f = s->flags;
    int has_ack = !!(f & DISSECT_ACK);

    if (has_ack && (y->flags & EP_ISN_KNOWN) && SEQ_GT(s->ack, y->isn)) {
        if (y->state == CONN_SYN_RCVD) {
            y->state = CONN_ESTABLISHED;
            if (d == CLIENT && (c->hs & HSF_SYNACK) && !(c->hs & HSF_SIMUL)) {
                c->hs |= HSF_ACK;
                cold(t, c)->hs_time = ts - cold(t, c)->hs_time;
            }
        } else if (y->state == CONN_SYN_SENT) {
            y->state = CONN_ESTABLISHED; /* the SYN-ACK was not seen */
        }
    }

    int acks_fin = has_ack && (y->flags & EP_FIN_SENT) && SEQ_GT(s->ack, y->fin_seq);
    if (f & DISSECT_FIN) {
        switch ((conn_state)y->state) {
        case CONN_SYN_RCVD:
        case CONN_ESTABLISHED:
            y->state = CONN_CLOSE_WAIT;
            break;
        case CONN_FIN_WAIT1:
            if (acks_fin) {
                enter_time_wait(t, c, !d, ts);
            } else {
                y->state = CONN_CLOSING;
                y->flags |= EP_CLOSING;
            }
            break;
        case CONN_FIN_WAIT2:
            enter_time_wait(t, c, !d, ts);
            break;
        case CONN_CLOSING:
            if (acks_fin)
                enter_time_wait(t, c, !d, ts);
            break;
        case CONN_TIME_WAIT:
            enter_time_wait(t, c, !d, ts); /* a retransmitted FIN restarts 2*MSL */
            break;
        default:
            break;
        }
    } else if (acks_fin) {
        switch ((conn_state)y->state) {
        case CONN_FIN_WAIT1:
            y->state = CONN_FIN_WAIT2;
            break;
        case CONN_CLOSING:
            enter_time_wait(t, c, !d, ts);
            break;
        case CONN_LAST_ACK:
            y->state = CONN_CLOSED;
            break;
        default:
            break;
        }
    }
}

/* Sequence, window and TTL bookkeeping of the sender, before transitions. */
static void track_sender(conn *c, endpoint *x, const endpoint *y, const flows_seg *s)
{
    uint16_t f = s->flags;
    uint32_t end = seg_end(s);
    if ((x->flags & EP_FIN_SENT) && s->payload_len > 0 &&
        SEQ_GT(s->seq + s->payload_len, x->fin_seq))
        c->anomalies |= ANOM_DATA_AFTER_FIN;
    if (!(x->flags & EP_SEQ_KNOWN)) {
        x->flags |= EP_SEQ_KNOWN;
        x->snd_nxt = end;
    } else if (SEQ_GT(end, x->snd_nxt)) {
        x->snd_nxt = end;
    }
    if (f & DISSECT_SYN) {
        x->window = s->window; /* never scaled in a SYN */
    } else {
        /* Scaling holds when both SYNs carried the option; when the
         * handshake was not seen the scale is unknown and the largest is
         * assumed, so that no in-window reset is called forged. */
        unsigned shift;
        if ((x->flags & EP_WS_OPT) && (y->flags & EP_WS_OPT))
            shift = x->wscale;
        else if ((x->flags & EP_ISN_KNOWN) && (y->flags & EP_ISN_KNOWN))
            shift = 0;
        else
            shift = MAX_WSCALE;
        x->window = (uint32_t)s->window << shift;
    }
    x->flags |= EP_WIN_KNOWN;
    x->ttl = s->ttl;
    x->flags |= EP_TTL_KNOWN;
    if ((f & DISSECT_ACK) && (y->flags & EP_FIN_SENT) && SEQ_GT(s->ack, y->fin_seq))
        x->flags |= EP_ACKED_PEER_FIN;
}

/* A sender still in SYN_SENT/LISTEN that sends a plain ACK segment proves a
 * handshake step the capture missed: it is established. */
static void infer_established(endpoint *x, const flows_seg *s)
{
    if ((s->flags & (DISSECT_SYN | DISSECT_ACK)) == DISSECT_ACK &&
        (x->state == CONN_SYN_SENT || x->state == CONN_LISTEN))
        x->state = CONN_ESTABLISHED;
}

static void process(flows_table *t, conn *c, int d, const flows_seg *s, int64_t ts)
{
    endpoint *x = &c->ep[d], *y = &c->ep[!d];
    if (s->flags & DISSECT_RST) {
        on_rst(t, c, d, s, ts);
        return;
    }
    if (c->cross != CROSS_NONE)
        resolve_crossing(t, c, d, s, ts);
    if (s->flags & DISSECT_SYN)
        on_syn(t, c, d, s, ts);
    else
        infer_established(x, s);
    track_sender(c, x, y, s);
    if (s->flags & DISSECT_FIN)
        send_fin(t, c, d, s);
    receive(t, c, d, s, ts);
}

/*
 * Exact duplicates (SPAN copies): a segment whose fingerprint (direction,
 * 4-tuple, seq, ack, flags, window, payload length, IPv4 ID, TCP timestamp)
 * was seen less than 1 ms earlier. The cache is global and direct-mapped, so
 * a copy is found however many other segments came in between, in constant
 * memory; a slot taken over by another segment only means a duplicate may
 * be missed at extreme rates, never a false one.
 */
static uint64_t fingerprint(const dissect_segment *s, uint32_t hashv, int sender_is_a)
{
    return mix64(((uint64_t)s->seq << 32 | s->ack) ^
                 mix64(((uint64_t)s->flags << 48 | (uint64_t)s->window << 32 | s->payload_len) ^
                       mix64(((uint64_t)s->ip_id << 32 | s->ts_val) ^
                             ((uint64_t)hashv << 1 | (unsigned)sender_is_a))));
}

static int is_duplicate(struct dedup_slot *dedup, uint64_t fp, int64_t ts)
{
    struct dedup_slot *slot = &dedup[fp & (DEDUP_SLOTS - 1)];
    if (slot->fp == fp && ts >= slot->ts && ts - slot->ts <= DUP_WINDOW_NS)
        return 1;
    slot->fp = fp;
    slot->ts = ts;
    return 0;
}

void flows_prepare(flows_table *t, const dissect_segment *segs, const int64_t *ts, size_t n,
                   flows_seg *out)
{
    /* Read once: the rest of t's cache line is the replaying thread's. */
    struct dedup_slot *const dedup = t->dedup;
    for (size_t i = 0; i < n; i++) {
        const dissect_segment *s = &segs[i];
        flows_seg *o = &out[i];
        /* The canonical key: the lower (address, port) end first. Any
         * consistent order will do, so addresses compare as the machine
         * holds their words. */
        uint64_t src[2], dst[2];
        memcpy(src, s->src, 16);
        memcpy(dst, s->dst, 16);
        int from_a = src[0] != dst[0]   ? src[0] < dst[0]
                     : src[1] != dst[1] ? src[1] < dst[1]
                                        : s->sport <= s->dport;
        flow_key k;
        segment_key(s, from_a, &k);
        memcpy(o->key, k.w, sizeof(o->key));
        o->hash = key_hash(&k);
        o->ts = clamp_ts(ts[i]);
        o->seq = s->seq;
        o->ack = s->ack;
        o->payload_len = s->payload_len;
        o->flags = s->flags;
        o->window = s->window;
        o->ttl = s->ttl;
        o->opts = s->opts;
        o->wscale = s->wscale;
        o->bits = (uint8_t)((from_a ? FLOWS_SEG_FROM_A : 0) |
                            (is_duplicate(dedup, fingerprint(s, o->hash, from_a), o->ts)
                                 ? FLOWS_SEG_DUPLICATE
                                 : 0));
    }
}

/* Replays one prepared segment. */
static int replay_one(flows_table *t, const flows_seg *s)
{
    const int64_t ts = s->ts;
    const int sender_is_a = s->bits & FLOWS_SEG_FROM_A;
    t->stats.segments++;
    if (!t->clock_set || ts > t->clock) {
        t->clock = ts;
        t->clock_set = 1;
    } else if (ts < t->clock) {
        t->stats.out_of_order++;
    }
    expire_due(t);

    if (s->bits & FLOWS_SEG_DUPLICATE) {
        t->stats.duplicates++;
        return 0;
    }
    flow_key k;
    memcpy(k.w, s->key, sizeof(k.w));
    uint32_t found = conntab_find(&t->tab, &k, s->hash);
    conn *c = found == CONNTAB_NONE ? NULL : at(t, found);
    if (c && c->list == LIST_CLOSING && cold(t, c)->deadline <= t->clock) {
        expire_conn(t, c); /* due, but behind a later deadline in the list */
        c = NULL;
    }
    if (c) {
        int d = (!!sender_is_a == !!c->client_is_a) ? CLIENT : SERVER;
        if (starts_new_instance(c, &c->ep[d], s)) {
            end_conn(t, c, END_REUSED, ts, TW_REUSED);
            c = NULL;
        }
    }
    if (!c) {
        c = new_conn(t, &k, s->hash, sender_is_a, s, ts);
        if (!c)
            return -1;
    }
    int d = (!!sender_is_a == !!c->client_is_a) ? CLIENT : SERVER;

    c->packets[d]++;
    c->bytes[d] += s->payload_len;
    if (ts > c->last_ts)
        c->last_ts = ts;
    if (ts < c->last_ts && ts < cold(t, c)->first_ts) /* out of order: first_ts <= last_ts */
        cold(t, c)->first_ts = ts;

    process(t, c, d, s, ts);
    reschedule(t, c);
    return 0;
}

int flows_packet(flows_table *t, const dissect_segment *s, int64_t ts)
{
    flows_seg p;
    flows_prepare(t, s, &ts, 1, &p);
    return replay_one(t, &p);
}

/* How far ahead the index slot and the instance are prefetched. At archive
 * scale nearly every lookup misses the caches twice (slot, then instance);
 * issuing those loads for later segments while this one is replayed lets
 * the misses overlap instead of queueing one after the other. */
#define PREFETCH_SLOT 32
#define PREFETCH_CONN 16
#define BATCH         256

size_t flows_replay(flows_table *t, const flows_seg *sg, size_t m)
{
    size_t failed = 0;
    for (size_t i = 0; i < m && i < PREFETCH_SLOT; i++)
        __builtin_prefetch(&t->tab.slots[sg[i].hash & t->tab.mask]);
    for (size_t i = 0; i < m; i++) {
        if (i + PREFETCH_SLOT < m)
            __builtin_prefetch(&t->tab.slots[sg[i + PREFETCH_SLOT].hash & t->tab.mask]);
        if (i + PREFETCH_CONN < m) {
            /* The home slot usually holds the instance; a hint only. Both
             * lines of its (aligned) hot record: the second one is not
             * fetched along reliably, and on long connections that
             * prefetch alone was 18% of the run time. */
            uint64_t slot = t->tab.slots[sg[i + PREFETCH_CONN].hash & t->tab.mask];
            if (slot && (uint32_t)(slot - 1) < t->tab.pool_used) {
                const char *e = conntab_at(&t->tab, (uint32_t)slot - 1);
                __builtin_prefetch(e);
                __builtin_prefetch(e + 64);
            }
        }
        if (replay_one(t, &sg[i]) < 0)
            failed++;
    }
    return failed;
}

size_t flows_packets(flows_table *t, const dissect_segment *segs, const int64_t *ts, size_t n)
{
    flows_seg prep[BATCH];
    size_t failed = 0;
    for (size_t base = 0; base < n; base += BATCH) {
        size_t m = n - base < BATCH ? n - base : BATCH;
        flows_prepare(t, segs + base, ts + base, m, prep);
        failed += flows_replay(t, prep, m);
    }
    return failed;
}

void flows_finish(flows_table *t, int64_t capture_end)
{
    capture_end = clamp_ts(capture_end);
    if (!t->clock_set || capture_end > t->clock)
        t->clock = capture_end;
    expire_due(t);
    /* Whatever is left was alive at the end of the capture. They are handed
     * over in pool order, a sequential walk the hardware prefetches (the
     * lists would chase a pointer, and miss the cache, per instance), and
     * the table is emptied at once. Closing instances whose deadline is due
     * but sat behind a later one expire normally. */
    for (uint32_t i = 0; i < t->tab.pool_used; i++) {
        conn *c = at(t, i);
        if (c->list == LIST_FREE)
            continue;
        conn_cold *k = cold_at(t, i);
        if (c->list == LIST_CLOSING && k->deadline <= capture_end) {
            for (int e = 0; e < 2; e++)
                leave_time_wait(t, c, e, k->tw_deadline[e], TW_EXPIRED);
            emit_conn(t, c, END_CLOSED, k->deadline, TW_REASON_NONE);
        } else {
            emit_conn(t, c, END_CAPTURE_END, capture_end, TW_CAPTURE_END);
        }
    }
    t->active.head = t->active.tail = CONNTAB_NONE;
    t->closing.head = t->closing.tail = CONNTAB_NONE;
    t->embryonic.head = t->embryonic.tail = CONNTAB_NONE;
    t->due = INT64_MIN;
    conntab_clear(&t->tab);
}

void flows_free(flows_table *t)
{
    if (!t)
        return;
    conntab_destroy(&t->tab);
    free(t->dedup);
    free(t);
}
