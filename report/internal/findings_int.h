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

typedef struct svc_entry {
    service_key key;
    uint64_t attempts, unanswered, syn_retransmits, refused, overflows;
    UT_hash_handle hh;
} svc_entry;

struct findings {
    report_findings_config cfg;
    uint64_t rows;
    int swept;
    /* 1 */
    uint64_t close_by[SIDE_COUNT], tw_by[SIDE_COUNT];
    examples ex_tw[SIDE_COUNT];
    /* 2 */
    pair_entry *pairs;
    uint32_t n_pairs;
    uint64_t pair_rows_left; /* rows of pairs past TABLE_MAX */
    budget port_budget;
    /* 3 */
    duration_series reuse[SIDE_COUNT]; /* the gaps, by TIME_WAIT side */
    uint64_t reuse_client_under_1s;
    examples ex_reuse[SIDE_COUNT];
    /* 4 */
    twhost_entry *twhosts;
    uint32_t n_twhosts;
    uint64_t twhost_rows_left;
    budget tw_budget;
    /* 5 */
    svc_entry *svcs;
    uint32_t n_svcs;
    svc_entry other; /* services past TABLE_MAX, summed */
    examples ex_backlog;
};

/* Sweeps every pair and host once: their peaks (findings.c). */
void findings_sweep(findings *f);

#endif
