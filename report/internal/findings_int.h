/*
 * findings_int.h: the seam between findings.c (collects the rows, sweeps
 * the intervals) and findings_text.c (judges and writes the findings).
 * Private to report/.
 */
#ifndef SYNFIN_FINDINGS_INT_H
#define SYNFIN_FINDINGS_INT_H

#include "report_int.h"

#define IVALS_MAX    1000000u   /* intervals kept per sweep: 16 MB */
#define TABLE_MAX    (1u << 16) /* pairs, hosts, services */
#define EXAMPLES_MAX 10
#define SHOWN_MAX    10 /* pairs, hosts, services listed */
#define NS           INT64_C(1000000000)

/* An example connection: its conn_id and 4-tuple. */
typedef struct example {
    uint64_t conn_id;
    uint8_t client[16], server[16];
    uint16_t cport, sport;
    uint8_t ip_version;
} example;

typedef struct examples {
    example v[EXAMPLES_MAX];
    unsigned n;
} examples;

/* Intervals [s, e) of one pair or host, and their peak once swept. */
typedef struct ival {
    int64_t s, e;
} ival;

typedef struct ivals {
    ival *v;  /* all n once there are two (cap > 0), else NULL */
    ival one; /* the first one, while it is the only one */
    uint32_t n, cap;
    uint64_t peak;
    int64_t peak_at;
} ivals;

/* A sweep's budget: intervals kept in all, and what was left out. */
typedef struct budget {
    uint64_t kept, dropped;
} budget;

/* Keys: zeroed, then filled (uthash compares the bytes). */
typedef struct pair_key {
    uint8_t client[16], server[16];
    uint16_t port;
    uint8_t ip_version, pad;
} pair_key;

typedef struct pair_entry {
    pair_key key;
    ivals iv;
    UT_hash_handle hh;
} pair_entry;

typedef struct twhost_entry {
    host_key key;
    ivals iv;
    UT_hash_handle hh;
} twhost_entry;

/* Services by the side that held CLOSE_WAIT (key.pad: 1 client, 2 server). */
typedef struct cw_entry {
    service_key key;
    uint64_t closes, over, still;
    int64_t longest;
    UT_hash_handle hh;
} cw_entry;

typedef struct svc_entry {
    service_key key;
    uint64_t attempts, unanswered, syn_retransmits, refused, overflows;
    ivals rcvd; /* the server's SYN_RCVD: SYN to handshake ACK (or last packet) */
    UT_hash_handle hh;
} svc_entry;

/* A row waiting in the queue while the table lines its keys need are
 * fetched (findings.c), with its keys' fingerprints (key_fp). */
#define ROWQ 16
typedef struct queued_row {
    conn_record c;
    uint64_t fp_pair, fp_client, fp_server, fp_svc, fp_cw;
    unsigned part; /* FINDINGS_* (report_int.h): what of the row is added */
} queued_row;

/* The entries of a findings table come from a slab (report_int.h), in the
 * order they were added: the passes over a table at the end read them in
 * that order. */
_Static_assert(TABLE_MAX <= SLAB_MAX, "a findings table fits its slab");

/* TABLE_ADD with the entry from `slab` (a slab *), whose count is n. */
#define SLAB_ADD(head, n, max, type, k, out, slab)                                                 \
    do {                                                                                           \
        if ((n) < (max) && ((out) = slab_new(slab, sizeof(type)))) {                               \
            (out)->key = (k);                                                                      \
            HASH_ADD(hh, head, key, sizeof((out)->key), out);                                      \
            if (!(out)->hh.tbl) { /* the last one handed out: back */                              \
                slab_unnew(slab, out, sizeof(type));                                               \
                (out) = NULL;                                                                      \
            } else {                                                                               \
                (n)++;                                                                             \
            }                                                                                      \
        }                                                                                          \
    } while (0)

/* TABLE_GET_AID with the key's fingerprint fp already worked out and the
 * entries from `slab`; the cache of recent entries first (the keys found
 * again and again, services, are found without their bit's line). */
#define TABLE_GET_FP(head, n, max, type, k, out, aid, fp, slab)                                    \
    do {                                                                                           \
        struct aid_slot *s_ = aid_slot_of(aid, fp);                                                \
        if (s_ && s_->e && s_->fp == (fp) &&                                                       \
            memcmp(&((type *)s_->e)->key, &(k), sizeof(k)) == 0) {                                 \
            (out) = (type *)s_->e;                                                                 \
            break;                                                                                 \
        }                                                                                          \
        (out) = NULL;                                                                              \
        if (aid_maybe(aid, fp)) /* else new to the table */                                        \
            HASH_FIND(hh, head, &(k), sizeof(k), out);                                             \
        if (!(out))                                                                                \
            SLAB_ADD(head, n, max, type, k, out, slab);                                            \
        if (out)                                                                                   \
            AID_NOTE(head, n, type, aid, fp, out);                                                 \
    } while (0)

/* Starts loading the lines a lookup of fp reads first: its slot in the
 * cache of recent entries, and its bit unless it is of a key found again
 * and again (`again`: the slot will do). */
static inline void aid_prefetch(const table_aid *a, uint64_t fp, int again)
{
    uint32_t b = (uint32_t)fp & (MEMBER_BITS - 1);
    if (a->bits && !again)
        __builtin_prefetch(&a->bits[b / 64]);
    if (a->recent)
        __builtin_prefetch(aid_slot_of(a, fp));
}

/*
 * Once the pairs' or the TIME_WAIT hosts' table is full, most rows are of
 * keys it does not hold (at archive scale, every row another client): two
 * bits per key in one word of 2^20 bits (128 KiB, small enough to stay in
 * a core's cache, where the table_aid's 512 KiB and 1 MiB do not) tell
 * most of them without a lookup. A bit is set for every key the table
 * holds; all NULL without memory (every key looks up the table).
 */
#define FULL_WORDS (1u << 14)
static inline uint64_t *full_word(uint64_t *w, uint64_t fp)
{
    return &w[(fp >> 34) & (FULL_WORDS - 1)];
}
static inline uint64_t full_mask(uint64_t fp)
{
    return UINT64_C(1) << ((fp >> 22) & 63) | UINT64_C(1) << ((fp >> 28) & 63);
}

/* 9: TCP timestamps going backwards (findings_nat.c); told by the replay. */
typedef struct nat_state nat_state;

struct findings {
    report_findings_config cfg;
    nat_state *nat; /* told the client SYNs (findings_nat.c) */
    uint64_t rows;
    int swept;
    /* Rows not yet added: q[k][(qhead[k] + i) % ROWQ], i < nq[k]; queue 1
     * holds the rows of FINDINGS_HOSTS alone, queue 0 the others (two
     * threads, one a queue, at the capture's end: findings_add_part). */
    queued_row q[2][ROWQ];
    unsigned qhead[2], nq[2];
    /* 1 */
    uint64_t close_by[SIDE_COUNT], tw_by[SIDE_COUNT];
    examples ex_tw[SIDE_COUNT];
    /* 2 */
    pair_entry *pairs;
    uint32_t n_pairs;
    table_aid pair_aid;
    slab pair_slab;
    uint64_t pair_rows_left; /* rows of pairs past TABLE_MAX */
    uint64_t *pair_full;     /* FULL_WORDS: the filter of a full table */
    budget port_budget;
    /* 3 */
    duration_series reuse[SIDE_COUNT]; /* the gaps, by TIME_WAIT side */
    uint64_t reuse_client_under_1s;
    examples ex_reuse[SIDE_COUNT];
    /* 4 */
    twhost_entry *twhosts;
    uint32_t n_twhosts;
    table_aid twhost_aid;
    slab twhost_slab;
    uint64_t twhost_rows_left;
    uint64_t *twhost_full;
    budget tw_budget;
    /* 5 */
    svc_entry *svcs;
    uint32_t n_svcs;
    svc_entry other; /* services past TABLE_MAX, summed */
    table_aid svc_aid;
    slab svc_slab;
    budget rcvd_budget;
    examples ex_backlog;
    /* 6: keepalive probes and idle gaps */
    uint64_t ka_probes, ka_conns;
    duration_series idle;    /* max_idle of the rows with a gap of 1 s or more */
    uint64_t idle_long;      /* idle >= keepalive_time without a probe */
    uint64_t idle_long_ka;   /* ... with probes */
    uint64_t idle_long_open; /* of idle_long: idle at their end (censored) */
    examples ex_idle, ex_ka;
    /* 7: CLOSE_WAIT, from the peer's FIN to its own */
    duration_series cw; /* the ones that ended by a FIN */
    uint64_t cw_over, cw_still, cw_still_over, cw_reset;
    int64_t cw_still_longest;
    cw_entry *cws;
    uint32_t n_cws;
    cw_entry cw_other; /* services past TABLE_MAX, summed */
    table_aid cw_aid;
    slab cw_slab;
    examples ex_cw;
    /* 8: FIN_WAIT2, from the closer's FIN to the peer's */
    duration_series fw2;
    uint64_t fw2_over, fw2_open, fw2_open_over;
    int64_t fw2_open_longest;
    examples ex_fw2;
};

/* Sweeps every pair and host once: their peaks (findings.c). */
void findings_sweep(findings *f);

/* The median of s, as duration_median gives it, without sorting
 * (findings.c). */
int64_t series_median(const duration_series *s);

/* Adds the row's connection to x, up to EXAMPLES_MAX (findings.c). */
void example_add(examples *x, const conn_record *c);

/* ---- findings_text.c: what every finding's text uses ---------------------- */

typedef enum verdict { V_NO_EVIDENCE = 0, V_APPLIES, V_WOULD_NOT_HELP } verdict;

/* A finding's verdict, its key number (the short form) and why. */
typedef struct judgement {
    verdict v;
    char key[256], why[384];
} judgement;

/* "ADDR:PORT", IPv6 in brackets. */
const char *endpoint_text(uint8_t ip_version, const uint8_t *addr, uint16_t port, char *buf,
                          size_t len);
void write_examples(const examples *x, const char *what, FILE *out);
double percent(uint64_t part, uint64_t whole);
/* "## n. title", then the verdict, its key number and why. */
void write_heading(FILE *out, int n, const char *title, const judgement *j);
/* The short form's line of finding n. */
void short_line(FILE *out, int n, const char *name, const judgement *j);

/* ---- findings_wait.c: keepalive and idle gaps, CLOSE_WAIT, FIN_WAIT2 ----- */

/* fp_cw: the fingerprint of the row's CLOSE_WAIT key (cw_key_of). */
void waits_add(findings *f, const conn_record *c, uint64_t fp_cw);
/* The key of the row's (service, holder) in CLOSE_WAIT: key.pad 1 the
 * client, 2 the server. */
static inline service_key cw_key_of(const conn_record *c, int holder_is_server)
{
    service_key k = service_key_of(c);
    k.pad = (uint8_t)(holder_is_server ? 2 : 1);
    return k;
}
void waits_write(const findings *f, int precision, FILE *out);
void waits_write_short(const findings *f, FILE *out);
void waits_free(findings *f);

/* ---- findings_nat.c: 9. TCP timestamps going backwards, tcp_tw_recycle ---- */

nat_state *nat_new(void); /* NULL when out of memory */
/* Both work off what is still queued first. */
void nat_write(nat_state *n, int precision, FILE *out);
void nat_write_short(nat_state *n, FILE *out);
void nat_free(nat_state *n);

#endif
