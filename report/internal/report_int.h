/*
 * report_int.h: the seam between the two halves of report/. Private to
 * report/: only its own sources have report/internal/ on their include path.
 *
 *   row.c      owns the report: the output, its buffer, the CSV text of the
 *              rows (the hot path: no indirection per field or per row);
 *   summary.c  keeps the --summary statistics of the rows it is shown and
 *              prints them; it knows nothing of the output or its format;
 *   findings.c keeps what the findings need (--findings, and the short
 *              form at the end of --summary) and writes them.
 *
 * The report embeds one report_stats and hands it every row while the
 * summary is on. Another row format (JSON Lines, SQLite, ...) would be a
 * writer beside row.c feeding the same report_stats.
 */
#ifndef SYNFIN_REPORT_INT_H
#define SYNFIN_REPORT_INT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A table that cannot grow keeps working; a host or endpoint that cannot be
 * added is counted as summary.c says (uthash sets its hh.tbl to NULL). */
#define HASH_NONFATAL_OOM 1
#include <uthash.h>

#include "flows.h"
#include "report.h"

/* Duration histogram: 2^SUB_BITS buckets per power of two (relative error
 * below 2^-SUB_BITS / 2, i.e. 0.4%), covering 0 ns to 2^63 ns. */
#define SUB_BITS     7
#define HIST_BUCKETS ((64 - SUB_BITS + 1) << SUB_BITS)
#define EXACT_MAX    (1u << 20) /* durations kept exactly per series: 8 MB at most */

/* The endpoint census per host: at most HOSTS_MAX hosts tracked (past it,
 * the rest are summed under `other`), HOSTS_SHOWN printed; at most
 * LISTEN_MAX distinct listening endpoints told apart. */
#define HOSTS_MAX   (1u << 16)
#define HOSTS_SHOWN 20
#define LISTEN_MAX  (1u << 18)

/* One series of durations: exact up to EXACT_MAX values, and always in a
 * log-linear histogram, so memory stays bounded on any input. */
typedef struct duration_series {
    int64_t *exact;
    size_t n, cap;
    uint64_t hist[HIST_BUCKETS];
    int64_t min, max;
} duration_series;

/* summary.c: adds d (>= 0); the median (exact while every value was kept,
 * else within 0.4 %; 0 when empty); frees the exact values. Shared by the
 * summary's TIME_WAIT durations and the findings' reuse gaps. */
void duration_add(duration_series *s, int64_t d);
int64_t duration_median(const duration_series *s);
void duration_free(duration_series *s);

/* n zeroed elements of size bytes, written now (as conntab's index is):
 * calloc's fresh pages are the shared zero page until written, and a
 * table read (looked up) before it is written (added to) then takes a
 * second fault per page, a copy that flushes the other threads' TLBs (an
 * interrupt to each CPU; in a virtual machine, an exit to the host).
 * aligned_alloc and memset, which the compiler does not turn into calloc
 * as it does malloc and memset (BENCHMARKS, "Ninth session"). */
static inline void *zalloc_written(size_t n, size_t size)
{
    if (size && n > (SIZE_MAX - 63) / size)
        return NULL;
    size_t bytes = (n * size + 63) & ~(size_t)63; /* a multiple of the alignment */
    void *p = aligned_alloc(64, bytes);
    if (p)
        memset(p, 0, bytes);
    return p;
}

/* qsort's order of int64_t values. */
static inline int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* A host (an endpoint's own address, as netstat -an on it lists its
 * sockets): its endpoints per state at capture end, LISTEN included. */
typedef struct host_key {
    uint8_t addr[16]; /* IPv4: the first 4 bytes, the rest zero */
    uint8_t ip_version;
} host_key;

/* A service: a server's address and port (a listening endpoint). */
typedef struct service_key {
    uint8_t addr[16]; /* IPv4: the first 4 bytes, the rest zero */
    uint16_t port;
    uint8_t ip_version, pad;
} service_key;

/* Bytes of an address of this IP version (uthash keys compare all 16: the
 * rest stays zero). */
static inline size_t addr_len(uint8_t ip_version)
{
    return ip_version == 4 ? 4 : 16;
}

static inline host_key host_key_of(uint8_t ip_version, const uint8_t addr[16])
{
    host_key k;
    memset(&k, 0, sizeof(k));
    memcpy(k.addr, addr, addr_len(ip_version));
    k.ip_version = ip_version;
    return k;
}

/* The row's server endpoint. */
static inline service_key service_key_of(const conn_record *c)
{
    service_key k;
    memset(&k, 0, sizeof(k));
    memcpy(k.addr, c->server_ip, addr_len(c->ip_version));
    k.port = c->server_port;
    k.ip_version = c->ip_version;
    return k;
}

/* The entry of key k in the uthash `head` (its field `key`), added zeroed
 * when new; NULL when the table already holds `max` entries (n counts them)
 * or memory runs out. */
#define TABLE_GET(head, n, max, type, k, out)                                                      \
    do {                                                                                           \
        HASH_FIND(hh, head, &(k), sizeof(k), out);                                                 \
        if (!(out))                                                                                \
            TABLE_ADD(head, n, max, type, k, out);                                                 \
    } while (0)

/* Adds key k (not in the table) as TABLE_GET does. */
#define TABLE_ADD(head, n, max, type, k, out)                                                      \
    do {                                                                                           \
        if ((n) < (max) && ((out) = calloc(1, sizeof(type)))) {                                    \
            (out)->key = (k);                                                                      \
            HASH_ADD(hh, head, key, sizeof((out)->key), out);                                      \
            if (!(out)->hh.tbl) {                                                                  \
                free(out);                                                                         \
                (out) = NULL;                                                                      \
            } else {                                                                               \
                (n)++;                                                                             \
            }                                                                                      \
        }                                                                                          \
    } while (0)

/*
 * What spares a table (uthash, up to 10 entries a bucket) most lookups: a
 * direct-mapped cache of the entries found lately (a busy server's service
 * is found again row after row) and a bit per fingerprint of the keys it
 * holds (2^22 bits, 512 KiB): at archive scale most rows are distinct
 * clients, new to the table (added without walking a bucket of up to 10)
 * or left out of a full one. All zero is empty; both are allocated when
 * the table reaches AID_MIN entries (AID_NOTE), or never (without memory,
 * every key looks up the table): from then on a bit is set for every key
 * the table holds. A smaller table does without: its buckets stay in the
 * cache, and a run on a small capture need not write 1.5 to 4.5 MiB of aid
 * per table (with --findings, some 17 MiB: half of such a run's time).
 * Entries are never freed before the table.
 */
#define MEMBER_BITS  (1u << 22)
#define RECENT_SLOTS 65536u
#define AID_MIN      1024u
typedef struct table_aid {
    uint64_t *bits;
    struct aid_slot {
        uint64_t fp;
        void *e;
    } * recent;
    int tried;          /* the arrays were allocated (or could not be): aid_start */
    uint8_t slots_log2; /* recent slots: 2^slots_log2; 0: RECENT_SLOTS */
} table_aid;

/* A key's fingerprint (splitmix64's finaliser over its 8-byte words). */
static inline uint64_t key_fp(const void *key, size_t len)
{
    const unsigned char *p = key;
    uint64_t h = len;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) { /* whole words: one load each, not a memcpy call */
        uint64_t w;
        memcpy(&w, p + i, 8);
        h = (h ^ w) * UINT64_C(0x9e3779b97f4a7c15);
        h ^= h >> 32;
    }
    if (i < len) { /* the last bytes, as memcpy puts them into a zeroed word */
        uint64_t w = 0;
        size_t r = len - i;
        if (r & 4) {
            uint32_t v;
            memcpy(&v, p + i, 4);
            memcpy(&w, &v, 4);
        }
        if (r & 2) {
            uint16_t v;
            memcpy(&v, p + i + (r & 4), 2);
            memcpy((unsigned char *)&w + (r & 4), &v, 2);
        }
        if (r & 1)
            memcpy((unsigned char *)&w + (r & 6), p + i + (r & 6), 1);
        h = (h ^ w) * UINT64_C(0x9e3779b97f4a7c15);
        h ^= h >> 32;
    }
    h = (h ^ (h >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    h = (h ^ (h >> 27)) * UINT64_C(0x94d049bb133111eb);
    return h ^ (h >> 31);
}

/* key_fp of host_key_of(ip_version, addr), without building the key: the
 * same three words, loaded whole (a lookup per census change). */
static inline uint64_t host_fp(uint8_t ip_version, const uint8_t addr[16])
{
    uint64_t w0 = 0, w1 = 0;
    if (ip_version == 4) { /* addr_len */
        uint32_t a4;
        memcpy(&a4, addr, 4);
        memcpy(&w0, &a4, 4);
    } else {
        memcpy(&w0, addr, 8);
        memcpy(&w1, addr + 8, 8);
    }
    uint64_t h = sizeof(host_key);
    h = (h ^ w0) * UINT64_C(0x9e3779b97f4a7c15);
    h ^= h >> 32;
    h = (h ^ w1) * UINT64_C(0x9e3779b97f4a7c15);
    h ^= h >> 32;
    h = (h ^ ip_version) * UINT64_C(0x9e3779b97f4a7c15);
    h ^= h >> 32;
    h = (h ^ (h >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    h = (h ^ (h >> 27)) * UINT64_C(0x94d049bb133111eb);
    return h ^ (h >> 31);
}
_Static_assert(sizeof(host_key) == 17, "host_fp hashes host_key's three words as key_fp does");

/* 0 when the key of fingerprint fp is certainly not in the table. */
static inline int aid_maybe(const table_aid *a, uint64_t fp)
{
    uint32_t b = (uint32_t)fp & (MEMBER_BITS - 1);
    return !a->bits || (a->bits[b / 64] >> (b % 64) & 1);
}

/* The slot of fp in the cache (NULL without one). */
static inline struct aid_slot *aid_slot_of(const table_aid *a, uint64_t fp)
{
    uint64_t mask = a->slots_log2 ? (UINT64_C(1) << a->slots_log2) - 1 : RECENT_SLOTS - 1;
    return a->recent ? &a->recent[(fp >> 40) & mask] : NULL;
}

/* Allocates the arrays (AID_NOTE tells it every entry next). */
static inline void aid_start(table_aid *a)
{
    a->tried = 1;
    a->bits = zalloc_written(MEMBER_BITS / 64, sizeof(uint64_t));
    a->recent = zalloc_written(a->slots_log2 ? (size_t)1 << a->slots_log2 : RECENT_SLOTS,
                               sizeof(*a->recent));
}

/* Entry e holds the key of fingerprint fp (nothing before aid_start). */
static inline void aid_add(table_aid *a, uint64_t fp, void *e)
{
    uint32_t b = (uint32_t)fp & (MEMBER_BITS - 1);
    if (a->bits)
        a->bits[b / 64] |= UINT64_C(1) << (b % 64);
    struct aid_slot *s = aid_slot_of(a, fp);
    if (s) {
        s->fp = fp;
        s->e = e;
    }
}

static inline void aid_free(table_aid *a)
{
    free(a->bits);
    free(a->recent);
    a->bits = NULL;
    a->recent = NULL;
    a->tried = 0;
    a->slots_log2 = 0;
}

/* Entry `out` (a `type` with its key in `key` and uthash's handle in
 * `hh`), of fingerprint fp, was found or added in the uthash `head` of n
 * entries: the aid is told, or made once n reaches AID_MIN and told every
 * entry (fingerprints are key_fp of their keys). */
#define AID_NOTE(head, n, type, aid, fp, out)                                                      \
    do {                                                                                           \
        if (!(aid)->tried && (n) >= AID_MIN) {                                                     \
            type *e_, *t_;                                                                         \
            aid_start(aid);                                                                        \
            HASH_ITER(hh, head, e_, t_)                                                            \
            {                                                                                      \
                aid_add(aid, key_fp(&e_->key, sizeof(e_->key)), e_);                               \
            }                                                                                      \
        } else {                                                                                   \
            aid_add(aid, fp, out);                                                                 \
        }                                                                                          \
    } while (0)

/* TABLE_GET with the aid of `aid` (a table_aid *). */
#define TABLE_GET_AID(head, n, max, type, k, out, aid)                                             \
    do {                                                                                           \
        uint64_t fp_ = key_fp(&(k), sizeof(k));                                                    \
        if (!aid_maybe(aid, fp_)) { /* new to the table */                                         \
            (out) = NULL;                                                                          \
            TABLE_ADD(head, n, max, type, k, out);                                                 \
            if (out)                                                                               \
                AID_NOTE(head, n, type, aid, fp_, out);                                            \
            break;                                                                                 \
        }                                                                                          \
        struct aid_slot *s_ = aid_slot_of(aid, fp_);                                               \
        if (s_ && s_->e && s_->fp == fp_ && memcmp(&((type *)s_->e)->key, &(k), sizeof(k)) == 0) { \
            (out) = (type *)s_->e;                                                                 \
            break;                                                                                 \
        }                                                                                          \
        TABLE_GET(head, n, max, type, k, out);                                                     \
        if (out)                                                                                   \
            AID_NOTE(head, n, type, aid, fp_, out);                                                \
    } while (0)

/*
 * The entries of a table (the findings', the hosts'), in the order they
 * were added, in chunks of SLAB_CHUNK (never freed one by one): a pass over
 * them reads memory in that order, and freeing is a call per chunk, not one
 * per entry. Entry i is chunk[i / SLAB_CHUNK] + (i % SLAB_CHUNK) *
 * size. All zero is empty.
 */
#define SLAB_CHUNK 1024u
#define SLAB_MAX   (1u << 16) /* entries at most: HOSTS_MAX, and the findings' tables */
typedef struct slab {
    char *chunk[SLAB_MAX / SLAB_CHUNK];
    uint32_t n; /* entries handed out */
} slab;

/* A zeroed entry of `size` bytes; NULL when memory runs out (or past
 * SLAB_MAX entries). */
static inline void *slab_new(slab *s, size_t size)
{
    if (s->n >= SLAB_MAX)
        return NULL;
    char **c = &s->chunk[s->n / SLAB_CHUNK];
    if (!*c && !(*c = calloc(SLAB_CHUNK, size)))
        return NULL;
    return *c + (size_t)(s->n++ % SLAB_CHUNK) * size;
}

/* Gives the last entry handed out back (zeroed). */
static inline void slab_unnew(slab *s, void *e, size_t size)
{
    memset(e, 0, size);
    s->n--;
}

/* Entry i (< s->n). */
static inline void *slab_at(const slab *s, uint32_t i, size_t size)
{
    return s->chunk[i / SLAB_CHUNK] + (size_t)(i % SLAB_CHUNK) * size;
}

static inline void slab_free(slab *s)
{
    for (uint32_t i = 0; i < SLAB_MAX / SLAB_CHUNK; i++)
        free(s->chunk[i]);
    memset(s, 0, sizeof(*s));
}

/*
 * The hosts of a table (hosts.c): at most HOSTS_MAX entries, each starting
 * with a host_head, in a uthash keyed by the host (hashed once, by its
 * fingerprint, key_fp), with the aid of a table_aid. All zero is an empty
 * table.
 */
typedef struct host_head {
    host_key key;
    UT_hash_handle hh;
} host_head;

typedef struct host_table {
    host_head *head; /* uthash */
    uint32_t n;
    table_aid aid;
    slab entries; /* the hosts' entries */
} host_table;
_Static_assert(HOSTS_MAX <= SLAB_MAX, "a host table fits its slab");

/* The entry of the host at addr; a new one is `size` bytes (a host_head
 * first), zeroed, and *added set. NULL past HOSTS_MAX hosts or when memory
 * runs out. */
host_head *host_table_get(host_table *t, uint8_t ip_version, const uint8_t addr[16], size_t size,
                          int *added);
/* host_table_get, the address's host_fp worked out already. */
host_head *host_table_get_fp(host_table *t, uint8_t ip_version, const uint8_t addr[16], uint64_t fp,
                             size_t size, int *added);
/* Starts loading what host_table_get will read for the address of host_fp
 * fp (a hint): host_table_prefetch_slot the cache's slot and the key's bit,
 * some lookups ahead; host_table_prefetch (fewer ahead, once they are in)
 * the entry. */
void host_table_prefetch_slot(const host_table *t, uint64_t fp);
void host_table_prefetch(const host_table *t, uint64_t fp);

/* Frees every entry and the table's memory (not t itself). */
void host_table_free(host_table *t);

/* A host's endpoints per state at capture end, LISTEN included. */
typedef struct host_census {
    host_head head;   /* first */
    uint64_t sockets; /* the sum of states[] */
    uint64_t states[CONN_STATE_COUNT];
} host_census;

typedef struct listen_entry listen_entry; /* summary.c */

/* The --summary statistics. All zero is the empty summary. */
typedef struct report_stats {
    uint64_t rows;
    uint64_t by_handshake[HS_COUNT];
    uint64_t by_close[SIDE_COUNT][CLOSE_TYPE_COUNT];
    uint64_t closing_conns, closing_endpoints;
    uint64_t tw_by_side[SIDE_COUNT];
    uint64_t tw_by_reason[TW_REASON_COUNT];
    uint64_t by_end[END_CAPTURE_END + 1];
    uint64_t anomalies[ANOM_COUNT];
    /* The census at capture end, over all hosts: the endpoints of the rows
     * still open then (CLOSED and the rows' LISTEN not counted), and LISTEN
     * as the distinct server endpoints seen accepting a connection. */
    uint64_t end_states[CONN_STATE_COUNT];
    host_table hosts;        /* of host_census */
    host_census other;       /* the hosts past HOSTS_MAX, summed */
    listen_entry *listeners; /* uthash of server endpoints, <= LISTEN_MAX */
    table_aid listen_aid;
    uint32_t n_listeners;
    uint64_t listen_untold; /* accepting rows past LISTEN_MAX, not told apart */
    /* TIME_WAIT durations of the rows whose TIME_WAIT expired, and of those
     * a new SYN reused; the other ends are only counted. */
    duration_series tw_expired, tw_reused;
} report_stats;

/* Adds one row. */
void report_stats_add(report_stats *s, const conn_record *c);

/* The --summary text; durations with `precision` (6 or 9) decimals. */
void report_stats_print(const report_stats *s, int precision, const flows_stats *fs, FILE *f);

/* Text helpers of the report's writers (findings_text.c): an address
 * ("?" when it cannot be written), and a timestamp as the CSV writes it
 * followed by its UTC date and time in parentheses. */
const char *addr_text(uint8_t ip_version, const uint8_t *addr, char *buf, size_t len);
const char *when_text(int64_t ts, int precision, char *buf, size_t len);

/* Frees what report_stats_add allocated (not s itself). */
void report_stats_free(report_stats *s);

/* The findings (findings.c). */
typedef struct findings findings;

/* NULL when out of memory. */
findings *findings_new(const report_findings_config *cfg);
void findings_add(findings *f, const conn_record *c);
/* What of a row findings_add_part adds: the per-pair and per-host tables
 * (findings 2 and 4), or the rest; findings_add does both. Two threads may
 * each add one part of the same rows at once (they touch different
 * fields), each in row order, once findings_settle has added every row
 * queued before (on the one thread that added them). */
enum { FINDINGS_HOSTS = 1, FINDINGS_REST = 2, FINDINGS_ALL = 3 };
void findings_add_part(findings *f, const conn_record *c, unsigned part);
void findings_settle(findings *f);
/* What report_findings_syn is given (finding 9's own state: the replay's
 * thread touches nothing else). */
void *findings_syn_ctx(findings *f);
/* Markdown; timestamps with `precision` decimals. Returns 0, or -1 on a
 * write error. */
int findings_write(findings *f, int precision, FILE *out);
void findings_write_short(findings *f, FILE *out);
void findings_free(findings *f);

/* ---- the other formats of the rows (--format) ----------------------- */

/* row_json.c: the CSV line csv[0, len) (its '\n' included) as a JSON object
 * and a '\n' into out (REPORT_ROW_MAX bytes); returns its length. Members
 * in the columns' order (report_columns), empty fields left out. */
size_t row_json(const char *csv, size_t len, char *out);

/* row_sqlite.c: the SQLite database of --format sqlite. Every function
 * says what failed on stderr (the file's name and SQLite's message) and
 * returns 0 or an errno; after a failure the others do nothing. */
typedef struct sqlout sqlout;

/* Creates the database (an existing file is replaced) and its connections
 * table. NULL after a message. */
sqlout *sqlout_open(const char *path);
/* Inserts the CSV lines text[0, len) (whole lines, columns as
 * report_columns), in the transaction of the current batch; a batch full
 * is committed. */
int sqlout_rows(sqlout *s, const char *text, size_t len);
/* Commits the current batch (the rows so far are in the file). */
int sqlout_commit(sqlout *s);
/* The census CSV (report_census_finish's, read from the start) as the
 * census table. */
int sqlout_census(sqlout *s, FILE *csv);
/* The findings' Markdown md[0, len) as the findings table, one row each. */
int sqlout_findings(sqlout *s, const char *md, size_t len);
/* Commits what is left (also after a failure: every committed row stays,
 * and the rows of the last batch when they can be), makes the indexes,
 * closes and frees s. Returns the first failure's errno, or 0. */
int sqlout_close(sqlout *s);

#endif
