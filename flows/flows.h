/*
 * flows: the flow table and the per-endpoint RFC 793 state machine.
 *
 * Segments go in (flows_packet) in capture order; finished connection
 * instances come out through a callback (flows_emit_fn) as soon as they end
 * and are freed right after, so memory follows the instances alive at a
 * moment. All time is capture time (integer nanoseconds since the epoch);
 * nothing here reads a clock or does I/O. ../shared/SPEC.md is the contract.
 */
#ifndef SYNFIN_FLOWS_H
#define SYNFIN_FLOWS_H

#include <stddef.h>
#include <stdint.h>

#include "dissect.h"

#define FLOWS_NS_PER_SEC INT64_C(1000000000)

/* Default bound on instances alive: about 2.5 GB (240 bytes each plus the
 * index), a few GB as archive machines have. */
#define FLOWS_DEFAULT_MAX_FLOWS 10000000u

typedef enum conn_state {
    CONN_CLOSED = 0,
    CONN_LISTEN,
    CONN_SYN_SENT,
    CONN_SYN_RCVD,
    CONN_ESTABLISHED,
    CONN_FIN_WAIT1,
    CONN_FIN_WAIT2,
    CONN_CLOSING,
    CONN_TIME_WAIT,
    CONN_CLOSE_WAIT,
    CONN_LAST_ACK,
    CONN_STATE_COUNT
} conn_state;

/* Which rule decided client and server: the first SYN, a SYN-ACK, a known
 * listening endpoint (--server, an earlier SYN-ACK, many peers), the port. */
typedef enum conn_role_by {
    ROLE_BY_SYN = 0,
    ROLE_BY_SYNACK,
    ROLE_BY_PORT,
    ROLE_BY_LISTENER,
    ROLE_BY_COUNT
} conn_role_by;

typedef enum conn_handshake {
    HS_COMPLETE = 0,
    HS_SYN_ONLY,
    HS_NO_ACK,
    HS_REFUSED,
    HS_SIMULTANEOUS_OPEN,
    HS_MIDSTREAM,
    HS_COUNT
} conn_handshake;

/* Who: close initiator and TIME_WAIT side share these values. */
typedef enum conn_side { SIDE_NONE = 0, SIDE_CLIENT, SIDE_SERVER, SIDE_BOTH, SIDE_COUNT } conn_side;

typedef enum conn_close_type {
    CLOSE_NONE = 0,
    CLOSE_FIN,
    CLOSE_RST,
    CLOSE_TYPE_COUNT
} conn_close_type;

typedef enum conn_tw_reason {
    TW_REASON_NONE = 0, /* no endpoint entered TIME_WAIT */
    TW_EXPIRED,         /* 2*MSL after the (last restart of the) timer, within the capture */
    TW_REUSED,          /* a new SYN on the same 4-tuple came first */
    TW_CAPTURE_END,     /* the capture ended first: the duration is censored */
    TW_RESET,           /* an acceptable RST ended TIME_WAIT (RFC 1337 "assassination") */
    TW_EVICTED,         /* synfin ended the instance early (--max-flows) */
    TW_REASON_COUNT
} conn_tw_reason;

/* Zeek's conn_state (conn.log), from Zeek's view of what each endpoint
 * sent, the client as Zeek's originator (history.c has the rules). */
typedef enum conn_zeek_state {
    ZEEK_S0 = 0,
    ZEEK_S1,
    ZEEK_SF,
    ZEEK_REJ,
    ZEEK_S2,
    ZEEK_S3,
    ZEEK_RSTO,
    ZEEK_RSTR,
    ZEEK_RSTOS0,
    ZEEK_RSTRH,
    ZEEK_SH,
    ZEEK_SHR,
    ZEEK_OTH,
    ZEEK_STATE_COUNT
} conn_zeek_state;

/* Zeek's history letters as conn_record.history keeps them (HL_*, 3 bits,
 * and HISTORY_RESP for the responder's), at most HISTORY_MAX. */
enum { HL_SYN = 0, HL_SYNACK, HL_ACK, HL_DATA, HL_FIN, HL_RST, HL_INCONSISTENT, HL_MULTI };
#define HISTORY_RESP 0x8
#define HISTORY_MAX  15
/* The text (at most HISTORY_TEXT_MAX bytes and a NUL): `^` when flipped,
 * then the letters, upper case for the originator's. Returns its length. */
#define HISTORY_TEXT_MAX (HISTORY_MAX + 1)
size_t conn_history_text(uint64_t history, int flipped, char *out);

/* Anomaly bits, in the order the CSV lists them. */
enum {
    ANOM_RST_OUT_OF_WINDOW = 1u << 0,
    ANOM_RST_TTL_CHANGED = 1u << 1,
    ANOM_DATA_AFTER_FIN = 1u << 2,
    ANOM_SYN_WITH_DATA = 1u << 3,
    ANOM_IDLE_TIMEOUT = 1u << 4,
    ANOM_EVICTED = 1u << 5,
    ANOM_RST_CHALLENGED = 1u << 6,        /* an RST in the window but not at rcv_nxt (RFC 5961) */
    ANOM_ABORTED_ON_DATA = 1u << 7,       /* an endpoint that had closed answered data with RST */
    ANOM_ACCEPT_QUEUE_OVERFLOW = 1u << 8, /* the server sent its SYN-ACK again after the ACK */
    ANOM_COUNT = 9
};

/* Why an instance was handed over. */
typedef enum conn_end_reason {
    END_CLOSED = 0,  /* TIME_WAIT expired, or the linger after a close/reset passed */
    END_REUSED,      /* a new SYN started another instance on the 4-tuple */
    END_IDLE,        /* idle past the idle timeout */
    END_EVICTED,     /* the table was full (max_flows) */
    END_CAPTURE_END, /* still tracked at the end of the input */
} conn_end_reason;

/* One finished connection instance: a CSV row's worth of values. */
typedef struct conn_record {
    uint64_t conn_id; /* 1, 2, ... in order of the instances' first packets */
    int64_t first_ts, last_ts;
    uint8_t ip_version;
    uint8_t client_ip[16], server_ip[16];
    uint16_t client_port, server_port;
    conn_role_by role_by;
    conn_handshake handshake;
    uint32_t syn_retransmits, synack_retransmits;
    int64_t handshake_rtt; /* ns; < 0 when not applicable */
    conn_side close_initiator;
    conn_close_type close_type;
    uint8_t closing; /* 0, 1, 2 */
    conn_side time_wait_side;
    int64_t time_wait_start, time_wait_end; /* valid when time_wait_side != SIDE_NONE */
    conn_tw_reason time_wait_end_reason;
    conn_state client_state, server_state;
    uint64_t packets_c2s, packets_s2c, bytes_c2s, bytes_s2c;
    uint32_t fin_retransmits;
    uint32_t anomalies; /* ANOM_* bits */
    conn_end_reason end_reason;
    /* Appended columns (issue 13); times are -1 when not applicable. Kept
     * as 32-bit offsets from first_ts: exact to the us for 17.9 min, then
     * to the ms (README "The CSV"). */
    int64_t established_ts;               /* handshake complete: the client's ACK of the SYN-ACK */
    int64_t client_fin_ts, server_fin_ts; /* each side's first FIN */
    uint32_t keepalives;                  /* keepalive probes, both sides */
    int64_t max_idle; /* ns: the longest gap between two packets, when >= 1 s; else -1 */
    /* Zeek's vocabulary (issue 15): history (the number of letters in the
     * low 4 bits, then 4 bits a letter: HL_* | HISTORY_RESP), whether the
     * roles are flipped against the first packet's sender (`^`), and
     * conn_state. */
    uint64_t history;
    uint8_t history_flipped;
    conn_zeek_state zeek_state;
    /* The tunnel it ran in ("vxlan:42", "gre/mpls"; README "Tunnels"), or
     * NULL; valid while the table lives. */
    const char *tunnel;
    /* For the findings, not in the CSV. */
    conn_side fin_wait2_side; /* the endpoint that went through FIN_WAIT2 (at most one) */
    /* When synfin ended the row (END_CAPTURE_END, END_IDLE, END_EVICTED:
     * the capture end, the timeout, the eviction; END_REUSED: the new SYN);
     * for END_CLOSED, last_ts. */
    int64_t end_ts;
} conn_record;

/* A server endpoint given by the user (--server): port on one host, or on
 * any host when ip_version is 0. */
typedef struct flows_server {
    uint8_t addr[16]; /* IPv4: the first 4 bytes */
    uint8_t ip_version;
    uint16_t port;
} flows_server;

typedef struct flows_config {
    int64_t msl;          /* ns; TIME_WAIT lasts 2*msl. Default 30 s. */
    int64_t idle_timeout; /* ns; 0 = never. Default 2 h. */
    size_t max_flows;     /* instances alive at once; 0 = unbounded */
    /* Timers the wire does not show (SPEC §2), modelled on Linux; 0 = never.
     * syn_timeout: a client whose SYN is never answered is CLOSED at the
     * latest this long after its first SYN (127 s: tcp_syn_retries = 6),
     * sooner when a retransmission was due by the spacing seen and did not
     * come. fin_timeout: an endpoint in FIN_WAIT2 whose connection is silent
     * this long is CLOSED (tcp_fin_timeout, 60 s: an orphaned socket). */
    int64_t syn_timeout;
    int64_t fin_timeout;
    int64_t synack_timeout; /* a server in SYN_RCVD dropped the request (63 s) */
    /* Known servers, for instances no SYN or SYN-ACK opened; the array
     * must outlive the table. */
    const flows_server *servers;
    size_t n_servers;
    /* --shard K/N (shard_n 0: none): the census counts only the listeners
     * (LISTEN) of this shard, by flows_tuple_hash of the endpoint with
     * itself, so that the shards' census adds up; the others' come as
     * FLOWS_TICK_LISTEN ticks. */
    uint32_t shard_k, shard_n;
} flows_config;

typedef struct flows_stats {
    uint64_t segments;     /* segments given to flows_packet */
    uint64_t duplicates;   /* exact duplicates (SPAN copies) skipped */
    uint64_t out_of_order; /* segments older than the newest one seen */
    uint64_t clock_steps;  /* times the capture's clock stepped back by more than a second */
    uint64_t instances;    /* instances created */
    uint64_t alive;        /* instances tracked now */
    uint64_t peak_alive;
    uint64_t idle_timeouts;
    uint64_t evicted;
    uint64_t reused; /* instances ended by a new SYN on their 4-tuple */
} flows_stats;

typedef struct flows_table flows_table;

/* Receives each finished instance; the record is valid during the call only. */
typedef void (*flows_emit_fn)(void *ctx, const conn_record *rec);

void flows_config_default(flows_config *cfg);

/* Sends the rows emitted from now on to emit(ctx, ...) instead. */
void flows_set_emit(flows_table *t, flows_emit_fn emit, void *ctx);

/*
 * The census (SPEC §6) follows every change in what it counts, as it
 * happens in packet time: an endpoint entering a state it counts (CLOSED
 * and LISTEN are not counted: an endpoint in LISTEN is the listener's
 * socket, counted once per server address and port by FLOWS_CHANGE_LISTEN),
 * leaving one, a listener first seen accepting, and the table's watermark.
 */
typedef enum flows_change_kind {
    FLOWS_CHANGE_STATE = 0, /* addr: `from` -> `to` at ts (CLOSED: not counted) */
    FLOWS_CHANGE_LISTEN,    /* addr:port sent a SYN-ACK to a SYN at ts (again, maybe) */
    FLOWS_CHANGE_START,     /* the first packet's time: ts */
    FLOWS_CHANGE_MARK,      /* every change at or before ts has been told */
} flows_change_kind;

typedef struct flows_change {
    flows_change_kind kind;
    int64_t ts;
    const uint8_t *addr; /* 16 bytes, IPv4 in the first 4 (STATE, LISTEN) */
    uint8_t ip_version;
    uint8_t from, to; /* conn_state (STATE) */
    uint16_t port;    /* LISTEN */
} flows_change;

/* Receives each change; returns the watermark at which it wants the next
 * FLOWS_CHANGE_MARK (INT64_MAX: none). Changes come nearly in time order:
 * those at or before a MARK's ts all came before it, apart from a few the
 * table learns late (both endpoints in TIME_WAIT at once, segments out of
 * order), which come with their own time. */
typedef int64_t (*flows_change_fn)(void *ctx, const flows_change *ch);

/* Follows the census from now on (before the first segment); fn NULL: off,
 * at no cost per segment. Called again with another fn, the changes go
 * there from now on (what was told stays told). Returns 0, or -1 when out
 * of memory. */
int flows_set_census(flows_table *t, flows_change_fn fn, void *ctx);

/*
 * The client's SYNs, for the NAT / TCP timestamps finding (README
 * "Findings"): FLOWS_SYN_SENT for every SYN without ACK that an instance's
 * client sends (the one that opens it, and its retransmissions; exact
 * duplicates are not told), FLOWS_SYN_DONE when an instance whose client
 * sent a SYN is handed over (its row comes right after), with the row's
 * handshake. Both come in the order the replay makes them.
 */
typedef enum flows_syn_kind { FLOWS_SYN_SENT = 0, FLOWS_SYN_DONE } flows_syn_kind;

typedef struct flows_syn {
    flows_syn_kind kind;
    uint64_t conn_id; /* the instance: its row's conn_id */
    /* FLOWS_SYN_SENT: */
    int64_t ts;                           /* the SYN's capture time */
    const uint8_t *client_ip, *server_ip; /* 16 bytes each, IPv4 in the first 4 */
    uint8_t ip_version;
    uint8_t has_tsval; /* the SYN carried the timestamps option (kind 8) */
    uint16_t client_port, server_port;
    uint32_t tsval;
    /* FLOWS_SYN_DONE: */
    conn_handshake handshake;
} flows_syn;

typedef void (*flows_syn_fn)(void *ctx, const flows_syn *syn);

/* Tells the client's SYNs to fn(ctx, ...) from now on (before the first
 * segment); fn NULL: off, at one never-taken branch per segment. */
void flows_set_syn_hook(flows_table *t, flows_syn_fn fn, void *ctx);

/* Creates a table. Returns NULL when out of memory. Free with flows_free. */
flows_table *flows_new(const flows_config *cfg, flows_emit_fn emit, void *ctx);

/* Timestamps are clamped to [0, FLOWS_TS_MAX] (1970 to 2116), and msl and
 * idle_timeout to [0, 2^59 ns]: no timer arithmetic can overflow. */
#define FLOWS_TS_MAX (INT64_C(1) << 62)

/* Replays one segment captured at ts (ns): flows_prepare and flows_replay
 * of that one segment. Returns 0, or -1 when out of memory (the segment is
 * then counted but not tracked). The production path (pipeline.c) prepares
 * on one thread and replays on another; this way in stays for callers that
 * have one segment at a time (tests, fuzz_flows, the tools in samples/), and
 * fuzz_flows compares it against batched flows_replay, whose prefetching is
 * the only code the two paths do not share. */
int flows_packet(flows_table *t, const dissect_segment *seg, int64_t ts);

/*
 * A segment prepared for the replay (flows_prepare): the fields the state
 * machine reads, with everything that needs no instance already done: the
 * canonical 4-tuple key and its hash, the direction, the capture time
 * clamped, and the duplicate filter's verdict. A reading thread prepares
 * while another replays earlier segments (flows_replay); the prepared
 * segment is all that crosses from one core to the other.
 */
enum {
    FLOWS_SEG_FROM_A = 1u << 0,    /* the sender is the key's `a` end (the lower address, port) */
    FLOWS_SEG_DUPLICATE = 1u << 1, /* an exact copy of a recent segment (SPAN): counted, skipped */
    FLOWS_SEG_TICK = 1u << 2,      /* a clock tick (FLOWS_TICK_VERSION): only the time counts */
};

/*
 * A dissect_segment whose ip_version is FLOWS_TICK_VERSION is a clock tick:
 * only its time counts. It moves the timers' clock as a segment would (and
 * starts the census at the first one) but belongs to no connection and is
 * counted nowhere. A shard (--shard) sends ticks for the segments of other
 * shards, so that its timers and census moments run on the clock of the
 * whole capture.
 */
#define FLOWS_TICK_VERSION 0
/* ... and FLOWS_TICK_LISTEN | 4 or 6, a listener's tick: a SYN-ACK of a
 * connection of another shard, whose sender (src, sport) this shard counts
 * in the census (flows_config.shard_k). */
#define FLOWS_TICK_LISTEN 0x80

typedef struct flows_seg {
    uint64_t key[5]; /* a's address, b's address, then ports and IP version */
    int64_t ts;      /* capture time, clamped to [0, FLOWS_TS_MAX] */
    uint32_t hash;   /* of key */
    uint32_t seq, ack;
    uint32_t payload_len;
    uint16_t flags, window;
    uint8_t ttl, opts, wscale;
    uint8_t bits;   /* FLOWS_SEG_* */
    uint32_t tsval; /* the TCP timestamp's TSval, with DISSECT_OPT_TIMESTAMP in opts */
} flows_seg;

/* Prepares n segments captured at ts[] for flows_replay, in capture order:
 * every segment is prepared exactly once, as the duplicate filter keeps the
 * recent ones. Touches nothing of t but that filter, so it may run on one
 * thread while flows_replay runs on another. */
void flows_prepare(flows_table *t, const dissect_segment *segs, const int64_t *ts, size_t n,
                   flows_seg *out);

/* Replays n prepared segments in order, exactly as n calls of flows_packet
 * would, but overlaps their memory accesses (prefetching). Returns how many
 * could not be tracked (out of memory). */
size_t flows_replay(flows_table *t, const flows_seg *segs, size_t n);

/* End of input at capture_end (the last packet's timestamp): expires what
 * is due, then hands over every instance still tracked. */
void flows_finish(flows_table *t, int64_t capture_end);

/*
 * Incremental runs (--state-out, --state-in): instead of flows_finish, the
 * table's whole state goes into a byte buffer (every instance still
 * tracked, in its lists' order, the duplicate filter, the known servers,
 * the clocks, the census's marks), and the table is left empty; a new
 * table, made with the same configuration (and the census set, or not, as
 * before), loads it before its first segment and goes on as if the inputs
 * had been one. The buffer's framing (version, checksum) is the caller's.
 */
typedef struct flows_buf {
    unsigned char *data;
    size_t len, cap; /* bytes written, allocated */
    size_t pos;      /* the next byte flows_buf_get reads */
    int failed;      /* out of memory while writing */
} flows_buf;

void flows_buf_put(flows_buf *b, const void *p, size_t n);
/* Copies the next n bytes out; -1 (nothing copied) when fewer are left. */
int flows_buf_get(flows_buf *b, void *p, size_t n);
void flows_buf_free(flows_buf *b);

/* Appends the state; returns 0, or -1 when out of memory. */
int flows_save(flows_table *t, flows_buf *b);
/* Loads a state flows_save wrote, into a table that has seen no segment.
 * Returns 0, or -1 with a message in err (the buffer is short or not a
 * flows state, another build's record sizes, other replay options, a
 * census on one side only, out of memory): the table is then unusable and
 * is only freed. */
int flows_load(flows_table *t, flows_buf *b, char *err, size_t errlen);
/* What flows_load says of a state written with (census 1) or without a
 * census, loaded by a run that has the other (the analyzer says it too,
 * before opening any output). */
const char *flows_state_census_mismatch(int census);
/* Would a table of this configuration load it? Reads the state's header
 * only (from b->pos, which it moves): 0, or -1 with a message in err. */
int flows_state_check(const flows_config *cfg, flows_buf *b, char *err, size_t errlen);

void flows_free(flows_table *t);

/* The 4-tuple's hash for shards and row identifiers: the same for both
 * directions, on every machine and in every version (shard.c has the
 * definition, the README the recipe). Addresses: 4 bytes (IPv4) or 16. */
uint64_t flows_tuple_hash(uint8_t ip_version, const uint8_t *a, uint16_t pa, const uint8_t *b,
                          uint16_t pb);

/* Puts the lower endpoint first: the lower address, or on equal addresses
 * the lower port (flows_tuple_hash's order, and the Community ID's). */
void flows_order_ends(uint8_t ip_version, const uint8_t **a, uint16_t *pa, const uint8_t **b,
                      uint16_t *pb);

const flows_stats *flows_get_stats(const flows_table *t);

const char *conn_state_name(conn_state s);
const char *conn_role_by_name(conn_role_by r);
const char *conn_handshake_name(conn_handshake h);
const char *conn_side_name(conn_side s);
const char *conn_close_type_name(conn_close_type c);
const char *conn_tw_reason_name(conn_tw_reason r); /* "" for TW_REASON_NONE */
const char *conn_anomaly_name(unsigned bit_index);
const char *conn_zeek_state_name(conn_zeek_state z);

#endif
