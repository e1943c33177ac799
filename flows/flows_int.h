/*
 * flows_int.h: the records behind flows.h, shared by the files of flows/
 * and by nothing else (not on any other module's include path).
 *
 * - flows.c: the table, instances, timers, emitting, prepare and replay;
 * - machine.c: the per-endpoint RFC 793 state machine (SPEC §2); quiet.c:
 *   its timers the wire does not show, idle gaps and keepalives;
 * - census.c: what the census is told of the replay (SPEC §6);
 * - record.c: an instance's row (SPEC §3) and the names of the values.
 *
 * An instance is two records at the same conntab index: `conn`, what an
 * ordinary segment reads and writes, 128 bytes on a 128-byte boundary (one
 * pair of cache lines, which the hardware fetches together), and
 * `conn_cold`, what only the handshake, a FIN or RST, the timers and the row
 * need. The segments of an established connection touch 2 lines instead of
 * 4 or 5.
 */
#ifndef SYNFIN_FLOWS_INT_H
#define SYNFIN_FLOWS_INT_H

#include <stdint.h>

#include "conntab.h"
#include "flows.h"

/* The canonical 4-tuple: w[0..1] the `a` end's address (the lower
 * (address, port) of the two), w[2..3] the `b` end's, w[4] the ports and
 * the IP version packed by key_tail(). Whole words, so a key built in
 * registers and compared or hashed at once never waits on store forwarding. */
typedef struct flow_key {
    uint64_t w[5];
} flow_key;

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

/* The tunnel the connection runs in (tunnels.c), in w[4]'s top bits; 0:
 * none, so a key outside tunnels is what it always was. */
#define KEY_TUNNEL_SHIFT 40

static inline uint32_t key_tunnel(const flow_key *k)
{
    return (uint32_t)(k->w[4] >> KEY_TUNNEL_SHIFT);
}

/* Sequence space comparisons, modulo 2^32 (RFC 793 §3.3). */
#define SEQ_LT(a, b)  ((int32_t)((uint32_t)(a) - (uint32_t)(b)) < 0)
#define SEQ_LEQ(a, b) ((int32_t)((uint32_t)(a) - (uint32_t)(b)) <= 0)
#define SEQ_GT(a, b)  SEQ_LT(b, a)
#define SEQ_GEQ(a, b) SEQ_LEQ(b, a)

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
    EP_CLOSING = 1u << 8,           /* passed through CLOSING */
    EP_TW = 1u << 9,                /* entered TIME_WAIT */
    EP_WS_OPT = 1u << 10,           /* its SYN carried a window scale option */
    EP_TW_LEFT = 1u << 11,          /* left TIME_WAIT: tw_deadline[] is when, tw_reason why */
    EP_DATA_AFTER_CLOSE = 1u << 12, /* received new data in FIN_WAIT1/2: an RST from it now is
                                       an abort on that data (RFC 1122 4.2.2.13) */
    EP_STALE_ACK = 1u << 13,        /* in SYN_SENT, received a plain ACK not acking its SYN: the
                                       peer holds an old connection; fin_at[] keeps its ACK field */
    EP_SYN_EVEN = 1u << 14,         /* its last two SYN gaps were alike (retries evenly spaced) */
    EP_FIRST = 1u << 15,            /* sent the instance's first packet (history.c: `^`) */
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
    uint8_t census; /* what the census counts it as (CENSUS_*; census.c) */
    uint8_t zeek;   /* Zeek's view of what it sent (ZK_*; history.c) */
} endpoint;

/* endpoint.census: the state the census last counted (low bits; CLOSED:
 * not counted), for a server whether its listener was told, and on ep[0]
 * whether the instance waits on the dirty list (census.c). */
enum { CENSUS_STATE = 0x0f, CENSUS_LISTENER = 0x10, CENSUS_DIRTY = 0x20 /* ep[0] only */ };

/* endpoint.zeek (history.c): Zeek's endpoint state (what the endpoint has
 * sent, as Zeek's TCP analyzer tracks it, for conn_state), and its 'a' and
 * 'd': the two letters an ordinary segment could add, tested on the hot
 * record before anything else is looked at, and queued there (conn's
 * hist_queue) until a SYN, FIN or RST, which touches the cold record
 * anyway, moves them into its history. */
enum {
    ZK_STATE = 0x07,       /* ZK_INACTIVE ... ZK_RESET */
    ZK_FROM_CLOSED = 0x08, /* went ZK_RESET from ZK_CLOSED (a FIN, then an RST) */
    ZK_ACK_SEEN = 0x10,    /* its 'a' happened ... */
    ZK_DATA_SEEN = 0x20,   /* its 'd' happened ... */
    ZK_ACK_KEPT = 0x40,    /* ... and is in the cold record's history (else queued) */
    ZK_DATA_KEPT = 0x80,
};
enum {
    ZK_INACTIVE = 0,
    ZK_SYN_SENT,
    ZK_SYN_ACK_SENT,
    ZK_PARTIAL,
    ZK_ESTABLISHED,
    ZK_CLOSED,
    ZK_RESET
};

/* Instance-level handshake evidence (what the `handshake` column says). */
enum {
    HSF_SYN = 1u << 0,     /* the client's SYN */
    HSF_SYNACK = 1u << 1,  /* the server's SYN-ACK after it */
    HSF_ACK = 1u << 2,     /* the client's ACK of the SYN-ACK after that */
    HSF_REFUSED = 1u << 3, /* an acceptable RST reached the client in SYN_SENT */
    HSF_SIMUL = 1u << 4,   /* both sides sent a SYN without ACK */
    HSF_RESET = 1u << 5,   /* closed by an acceptable RST (not handshake evidence: kept here
                              for room, issue 15) */
};

/* Crossed-FIN bookkeeping: see resolve_crossing() in machine.c. */
enum {
    CROSS_NONE = 0,
    CROSS_PENDING,      /* Y's FIN did not ack X's: crossed, or one FIN lost */
    CROSS_PURE_ACKED,   /* X acked Y's FIN without a FIN: X's FIN may have been lost */
    CROSS_Y_PURE_ACKED, /* Y acked X's FIN without a FIN: Y's FIN may have been lost */
};

typedef struct conn {
    flow_key key;        /* first: conntab compares it */
    uint8_t list;        /* LIST_* */
    uint8_t client_is_a; /* the client is the key's `a` side */
    uint8_t cross;       /* CROSS_* */
    uint8_t hs;          /* HSF_* */
    uint8_t hist_queue;  /* Zeek's a and d letters not yet in the cold record (history.c) */
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
    /* Bit-fields: room for the times of issue 13 without growing past
     * 104 bytes (README "Performance and memory"). */
    unsigned close_initiator : 2; /* conn_side */
    unsigned close_type : 2;
    unsigned cross_who : 1; /* the endpoint whose FIN crossed the other's */
    uint8_t fw2_who;        /* 1 + the endpoint that entered FIN_WAIT2 (the first); 0: none */
    uint16_t keepalives;    /* keepalive probes recognised (saturating) */
    /* The client's SYN spacing is needed only until the handshake completes
     * (HSF_ACK), its time only from then on: one field. */
    union {
        uint32_t syn_gap_us;  /* between the client's last two SYNs (saturating); 0: one SYN */
        uint32_t established; /* once HSF_ACK: span_pack(its time - first_ts) */
    };
    /* Endpoint i's first FIN (valid with EP_FIN_SENT), as a span_pack()
     * offset from first_ts (moved with it: record_first_ts()). Before it,
     * while i is in SYN_SENT with EP_STALE_ACK, the stale ACK field instead
     * (an endpoint that has sent its FIN is no longer in SYN_SENT). */
    uint32_t fin_at[2];
    uint32_t max_idle; /* span_pack() of the longest gap >= IDLE_NOTE; 0: none */
    /* Zeek's history (history.c): the number of letters (low 4 bits), then
     * up to HISTORY_MAX letters of 4 bits in order: HL_* in the low 3, the
     * key's `b` end as sender in the 4th (so that the roles can change up to
     * the row). */
    uint64_t history;
} conn_cold;

#define CONN_ALIGN 128
_Static_assert(sizeof(conn) == CONN_ALIGN, "conn is one pair of cache lines");
_Static_assert(sizeof(conn_cold) == 112, "the README's memory per instance: 128 + 112 bytes");

/*
 * Durations and offsets in 32 bits (the cold record's event times, issue
 * 13): the top two bits choose the unit, the rest count it, rounded down:
 * 1 us up to 2^30 us (17.9 min), 1 ms up to 12.4 days, 1 s up to 34 years,
 * 1000 s beyond (any time between 1970 and 2116 fits). Exact to the
 * microsecond for the first 17.9 minutes of a connection, to the
 * millisecond for the next 12 days; never capped. Monotonic: packed values
 * compare as the durations do.
 */
#define SPAN_MANT ((UINT32_C(1) << 30) - 1)

static inline uint32_t span_pack(int64_t ns)
{
    int64_t v = ns < 0 ? 0 : ns / 1000;
    uint32_t u = 0;
    for (; u < 3 && v > SPAN_MANT; u++)
        v /= 1000;
    return u << 30 | (uint32_t)(v > SPAN_MANT ? SPAN_MANT : v);
}

static inline int64_t span_unpack(uint32_t v)
{
    static const int64_t unit[4] = {1000, 1000000, 1000000000, INT64_C(1000000000000)};
    return (int64_t)(v & SPAN_MANT) * unit[v >> 30];
}

/* Gaps shorter than this between two packets of a connection are not
 * looked at (the per-segment path stays on the hot record); a keepalive
 * probe is recognised only after such a gap (machine_idle()). */
#define IDLE_NOTE FLOWS_NS_PER_SEC

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

/* ---- listeners.c: known server endpoints ------------------------------- */

typedef struct listeners listeners;

listeners *listeners_new(void); /* NULL when out of memory */
void listeners_free(listeners *l);
/* The key's `a` end (a_end) or `b` end of c sent a SYN-ACK. */
void listeners_answered(listeners *l, const conn *c, int a_end);
/* c is a midstream instance (roles by port): both ends counted. */
void listeners_midstream(listeners *l, const conn *c);
/* A fingerprint of an endpoint (its address as the key's two words, port,
 * IP version), and of c's `a` end (a_end) or `b` end; never 0 (an empty
 * slot of the caches that keep them). */
uint64_t addr_fingerprint(const uint64_t w[2], uint16_t port, uint8_t ip_version);
uint64_t end_fingerprint(const conn *c, int a_end);
/* For an instance whose roles the port decided, just before its row: the
 * roles by what is known of its endpoints (swapped as a whole if need be,
 * role_by ROLE_BY_LISTENER), or left as they are. */
void listeners_decide_roles(flows_table *t, conn *c);

/* listeners.c: the table as state (state.c); load returns -1 when b is
 * short or out of memory. */
void listeners_save(const listeners *l, flows_buf *b);
int listeners_load(listeners *l, flows_buf *b);

struct flows_table {
    flows_config cfg;
    flows_emit_fn emit;
    void *ctx;
    conntab *tab; /* the instances and the index of their 4-tuples */
    listeners *listeners;
    conn_list active, closing, embryonic;
    /* The timers' clock: the newest capture time seen, on the capture's
     * time line moved by `offset` (see replay_one()). Packet times stay
     * what rows report; a timer armed at a packet's time t runs out at
     * t + offset + its length on this clock. */
    int64_t clock;
    int64_t offset; /* the sum of the capture's clock steps back */
    /* Exact-duplicate filter: the fingerprints of recent segments in a
     * direct-mapped cache (see is_duplicate() in flows.c). */
    struct dedup_slot {
        uint64_t fp;
        int64_t ts;
    } * dedup;
    struct tunnels *tunnels; /* the reading thread's, as dedup is (tunnels.c) */
    int clock_set;
    /* expire_due() has nothing to do while clock < due: the earliest time a
     * list head can end. A lower bound, lowered (to INT64_MIN) whenever a
     * head or its deadline may change. */
    int64_t due;
    uint64_t next_id;
    flows_stats stats;
    struct census_wheel *census; /* NULL: the census is off (census.c) */
    flows_syn_fn syn_hook;       /* NULL: off (flows_set_syn_hook) */
    void *syn_ctx;
};

static inline conn *conn_at(const flows_table *t, uint32_t i)
{
    return conntab_at(t->tab, i);
}

static inline conn_cold *cold_at(const flows_table *t, uint32_t i)
{
    return conntab_cold(t->tab, i);
}

static inline conn_cold *cold(const flows_table *t, const conn *c)
{
    return cold_at(t, conntab_index(t->tab, c));
}

/* When the instance last saw a packet, on the timers' clock: never after
 * the clock (a packet of the time line before a step back counts as now). */
static inline int64_t conn_active(const flows_table *t, const conn *c)
{
    int64_t a = c->last_ts + t->offset;
    return a < t->clock ? a : t->clock;
}

#define DEDUP_SLOTS 2048u /* the duplicate filter's recent fingerprints; power of 2 */

/* Every time is kept in [0, FLOWS_TS_MAX] and the timer lengths below 2^60
 * ns, so no deadline or difference can overflow int64. */
static inline int64_t clamp_ts(int64_t ts)
{
    return ts < 0 ? 0 : ts > FLOWS_TS_MAX ? FLOWS_TS_MAX : ts;
}

/* A timer's length as the table keeps it (below 2^60 ns). */
int64_t clamp_duration(int64_t d);

/* ---- tunnels.c: the tunnels' numbers in the keys ---------------------- */

#define TUNNELS_MAX  (1u << 20)  /* tunnels told apart, 1 .. TUNNELS_MAX - 1 */
#define TUNNEL_OTHER TUNNELS_MAX /* every later one */

typedef struct tunnels tunnels;

tunnels *tunnels_new(void); /* NULL when out of memory */
void tunnels_free(tunnels *u);
/* The number of tun's tunnel (the reading thread only). */
uint32_t tunnels_intern(tunnels *u, const dissect_tunnel *tun);
/* Its text for the row ("vxlan:42"), valid until tunnels_free; NULL for 0. */
const char *tunnels_text(const tunnels *u, uint32_t id);
/* A number interned so far (or 0, TUNNEL_OTHER): a loaded key's check. */
int tunnels_known(const tunnels *u, uint32_t id);
/* Segments whose tunnel got TUNNEL_OTHER. */
uint64_t tunnels_others(const tunnels *u);
void tunnels_save(const tunnels *u, flows_buf *b);
int tunnels_load(tunnels *u, flows_buf *b); /* -1: short, damaged, out of memory */

/* ---- prepare.c ---------------------------------------------------------- */

/* The hash of a key, as flows_prepare computed it for the key's segments. */
uint32_t key_hash(const flow_key *k);

/* ---- machine.c, quiet.c ------------------------------------------------- */

/* Replays segment s, sent by endpoint d (CLIENT or SERVER) at ts, through
 * both endpoints' state machines (SPEC §2). */
void machine_segment(flows_table *t, conn *c, int d, const flows_seg *s, int64_t ts);

/* A segment from d at ts after a gap of at least IDLE_NOTE since the
 * instance's last packet: the longest gap, and keepalive probes. Before
 * machine_segment() and before last_ts moves. */
void machine_idle(flows_table *t, conn *c, int d, const flows_seg *s, int64_t ts);

/* Timers the wire does not show (SYN give-up, FIN_WAIT2 timeout), applied to
 * the states of an instance whose row is written now (t->clock). */
void machine_unseen_timers(const flows_table *t, conn *c);

/* When endpoint i's unseen timer runs out, in packet time, as things stand
 * (INT64_MAX: none runs), and the state it then goes to (*to). */
int64_t machine_unseen_due(const flows_table *t, const conn *c, int i, uint8_t *to);

/* ---- flows.c: timers the machine starts --------------------------------- */

/* Endpoint i enters (or restarts) TIME_WAIT at ts: 2*MSL from now. */
void timer_enter_time_wait(flows_table *t, conn *c, int i, int64_t ts);

/* Endpoint i leaves TIME_WAIT at `when` for `reason` (no-op elsewhere). */
void timer_leave_time_wait(flows_table *t, conn *c, int i, int64_t when, conn_tw_reason reason);

/* After an acceptable RST at ts: the instance lingers for 2*MSL. */
void timer_linger(flows_table *t, conn *c, int64_t ts);

/* ---- census.c: what the census is told (SPEC §6) ------------------------ */

/* After segment s (at ts) of c. */
void census_segment(flows_table *t, conn *c, const flows_seg *s, int64_t ts);
/* c is handed over at `when` (not at capture end): its endpoints leave. */
void census_leave(flows_table *t, conn *c, int64_t when);
/* The first packet, at ts. */
void census_start(flows_table *t, int64_t ts);
void census_listen_tick(flows_table *t, const flows_seg *s);
/* The timers due by t->clock run out; returns when, on the timers' clock,
 * there may be something to do next. */
int64_t census_advance(flows_table *t);
/* End of input: every timer due by t->clock is told ... */
void census_finish(flows_table *t);
/* ... and, once the last instances are handed over, the last mark. */
void census_end(flows_table *t, int64_t end);
void census_free(flows_table *t);
/* Incremental runs (state.c): what the census needs beyond the instances
 * (its marks; load returns -1 when b is short), and, once the instances are
 * loaded, its wheel and dirty list rebuilt from them (census_restore). */
void census_save(const flows_table *t, flows_buf *b);
int census_load(flows_table *t, flows_buf *b);
void census_restore(flows_table *t);

/* ---- history.c: Zeek's history and conn_state ---------------------------- */

/* Does segment s from endpoint e need history_note()? Only a SYN, FIN or
 * RST, an endpoint's first pure ACK or first data, or anything from an
 * endpoint Zeek still has inactive: one test of a byte the segment's
 * replay reads anyway. */
static inline int history_due(const endpoint *e, const flows_seg *s)
{
    unsigned want = s->payload_len ? ZK_DATA_SEEN : ZK_ACK_SEEN;
    return (s->flags & (DISSECT_SYN | DISSECT_FIN | DISSECT_RST)) || !(e->zeek & want) ||
           !(e->zeek & ZK_STATE);
}

/* Segment s from d (CLIENT or SERVER): its letter, if any, and Zeek's
 * endpoint states. Before machine_segment(). */
void history_note(flows_table *t, conn *c, int d, const flows_seg *s);

/* The row's history (entries mapped to originator / responder), `^`, and
 * Zeek's conn_state. */
void history_fill(const flows_table *t, const conn *c, conn_record *r);

/* ---- record.c ----------------------------------------------------------- */

/* The row of instance c, as it stands. */
void record_fill(const flows_table *t, const conn *c, conn_record *r);

/* A packet older than the instance's first (out of order): first_ts moves
 * back to ts, and the event times kept from it with it. */
void record_first_ts(const flows_table *t, const conn *c, int64_t ts);

#endif
