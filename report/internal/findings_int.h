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
    ival *v;
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
} queued_row;

/* TABLE_GET_AID with the key's fingerprint fp already worked out. */
#define TABLE_GET_FP(head, n, max, type, k, out, aid, fp)                                          \
    do {                                                                                           \
        if (!aid_maybe(aid, fp)) { /* new to the table */                                          \
            (out) = NULL;                                                                          \
            TABLE_ADD(head, n, max, type, k, out);                                                 \
            if (out)                                                                               \
                aid_add(aid, fp, out);                                                             \
            break;                                                                                 \
        }                                                                                          \
        struct aid_slot *s_ = aid_slot_of(aid, fp);                                                \
        if (s_ && s_->e && s_->fp == (fp) &&                                                       \
            memcmp(&((type *)s_->e)->key, &(k), sizeof(k)) == 0) {                                 \
            (out) = (type *)s_->e;                                                                 \
            break;                                                                                 \
        }                                                                                          \
        TABLE_GET(head, n, max, type, k, out);                                                     \
        if (out)                                                                                   \
            aid_add(aid, fp, out);                                                             \
    } while (0)

/* Starts loading the lines a lookup of fp reads first: its bit and its
 * slot in the cache of recent entries. */
static inline void aid_prefetch(const table_aid *a, uint64_t fp)
{
    uint32_t b = (uint32_t)fp & (MEMBER_BITS - 1);
    if (a->bits)
        __builtin_prefetch(&a->bits[b / 64]);
    if (a->recent)
        __builtin_prefetch(aid_slot_of(a, fp));
}

/* 9: TCP timestamps going backwards (findings_nat.c); told by the replay. */
typedef struct nat_state nat_state;

struct findings {
    report_findings_config cfg;
    nat_state *nat; /* the replay thread's until it has ended */
    uint64_t rows;
    int swept;
    queued_row q[ROWQ]; /* rows not yet added: q[(qhead + i) % ROWQ], i < nq */
    unsigned qhead, nq;
    /* 1 */
    uint64_t close_by[SIDE_COUNT], tw_by[SIDE_COUNT];
    examples ex_tw[SIDE_COUNT];
    /* 2 */
    pair_entry *pairs;
    uint32_t n_pairs;
    table_aid pair_aid;
    uint64_t pair_rows_left; /* rows of pairs past TABLE_MAX */
    budget port_budget;
    /* 3 */
    duration_series reuse[SIDE_COUNT]; /* the gaps, by TIME_WAIT side */
    uint64_t reuse_client_under_1s;
    examples ex_reuse[SIDE_COUNT];
    /* 4 */
    twhost_entry *twhosts;
    uint32_t n_twhosts;
    table_aid twhost_aid;
    uint64_t twhost_rows_left;
    budget tw_budget;
    /* 5 */
    svc_entry *svcs;
    uint32_t n_svcs;
    svc_entry other; /* services past TABLE_MAX, summed */
    table_aid svc_aid;
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
    examples ex_cw;
    /* 8: FIN_WAIT2, from the closer's FIN to the peer's */
    duration_series fw2;
    uint64_t fw2_over, fw2_open, fw2_open_over;
    int64_t fw2_open_longest;
    examples ex_fw2;
};

/* Sweeps every pair and host once: their peaks (findings.c). */
void findings_sweep(findings *f);

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
