/*
 * report: what is written of the connections: the CSV rows (SPEC §4,
 * row.c), the --summary statistics (summary.c) and the findings drawn from
 * the rows (findings.c: --findings, and their short form in --summary). The module's only
 * public header (prefix report_); depends on flows/ for conn_record.
 */
#ifndef SYNFIN_REPORT_H
#define SYNFIN_REPORT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "flows.h"

typedef struct report report;

/* Writes CSV rows to `out` (not owned; NULL: none until
 * report_set_output). precision: 6 or 9 decimals. */
report *report_new(FILE *out, int precision);
void report_free(report *r);

/* The rows go to `out` (not owned) from now on. Returns 0, or -1 when out
 * of memory. */
int report_set_output(report *r, FILE *out);

/* Keeps the --summary statistics from now on (off by default: the exact
 * TIME_WAIT durations, expired and reused apart, take 8 bytes per row, up
 * to 16 MB, and the per-host census up to about 35 MB). */
void report_enable_summary(report *r);
void report_set_precision(report *r, int precision);

/* The findings (README "Findings"): what the rows say about TIME_WAIT,
 * ports and SYN backlogs, each with a verdict. */
typedef struct report_findings_config {
    uint32_t port_lo, port_hi; /* --port-range: the client's ephemeral ports */
    int64_t max_tw_buckets;    /* --max-tw-buckets; < 0: not given */
    int64_t keepalive_time;    /* --keepalive-time, ns: idle longer needs a probe */
    int64_t close_wait;        /* --close-wait, ns: a CLOSE_WAIT longer is a finding */
    int64_t fin_timeout;       /* the replay's --fin-timeout, ns (0: never) */
} report_findings_config;

/* Linux's defaults: ip_local_port_range 32768-60999, no bucket limit given,
 * tcp_keepalive_time 7200 s, tcp_fin_timeout 60 s; CLOSE_WAIT 60 s. */
void report_findings_config_default(report_findings_config *cfg);

/* Keeps what the findings need from now on (off by default: it stores up
 * to 1,000,000 intervals per sweep, 16 MB each, and per-pair, per-host and
 * per-service tables of at most 65,536 entries). Returns 0, or -1 when out
 * of memory. */
int report_enable_findings(report *r, const report_findings_config *cfg);

/* The NAT / TCP timestamps finding is told the client SYNs by the replay:
 * flows_set_syn_hook(t, report_findings_syn, report_findings_syn_ctx(r))
 * when that context is not NULL (it is NULL when the findings are off).
 * The hook runs on one thread at a time (the replay's, or the reading one
 * when analyzer/pipeline.c carries the SYNs across) and touches nothing the
 * rows' side does, not even a cache line of it; the findings are written
 * after the replay has ended. */
void *report_findings_syn_ctx(report *r);
void report_findings_syn(void *syn_ctx, const flows_syn *syn);

/* The findings as Markdown (once every row is in). Returns 0, or -1 when
 * the findings are not enabled or f could not be written. */
int report_findings(report *r, FILE *f);

/* One line per finding (verdict and key number), for --summary; nothing
 * when the findings are not enabled. */
void report_findings_short(report *r, FILE *f);

/*
 * The census over time (SPEC §6; README "Census"): what the replay tells of
 * its endpoints (flows_set_census) counted per host and state, at every
 * interval after the first packet (--census FILE), at chosen moments (--at)
 * and for the plot (--plot).
 */
typedef struct report_census report_census;

typedef struct report_census_config {
    int64_t interval;   /* ns between census moments (> 0) */
    uint32_t max_hosts; /* hosts with rows of their own (--census-hosts) */
    int64_t *at;        /* --at moments, ns (not changed: the census sorts a copy) */
    uint8_t *at_rel;    /* per moment: 1 when it counts from the first packet */
    size_t n_at;
    int precision;           /* of the timestamps: 6 or 9 */
    const char *plot;        /* --plot FILE, or NULL */
    const char *plot_host;   /* --plot-host ADDR, or NULL: the busiest */
    const char *census_name; /* the census file's name, for messages */
} report_census_config;

/* csv: --census FILE (not owned; NULL: none); at_out: where the --at tables
 * go. NULL when out of memory (or no temporary file could be made). */
report_census *report_census_new(const report_census_config *cfg, FILE *csv, FILE *at_out);

/* flows_change_fn. */
int64_t report_census_change(void *census_ctx, const flows_change *ch);

/* For a thread that has many changes to count: the key of ch's host (0 for
 * a change that has none), worked out once; a hint that starts loading
 * what counting it will read (stage 0 some 16 changes ahead, stage 1 some
 * 8 ahead, once stage 0's loads are in); and report_census_change with
 * that key. */
uint64_t report_census_key(const flows_change *ch);
void report_census_prefetch(const report_census *rc, uint64_t key, int stage);
int64_t report_census_change_key(report_census *rc, const flows_change *ch, uint64_t key);

/* After the last change (flows_finish): the moments up to capture_end,
 * then the CSV and the plot. Returns 0, or -1 after a message on stderr
 * (a write error, the plot). */
int report_census_finish(report_census *rc, int64_t capture_end);

/* Incremental runs (--state-out, --state-in; census_state.c). Instead of
 * report_census_finish: the moments committed so far are written, and what
 * the next run needs to go on (the moments' grid, every host's counts, the
 * listeners seen, the changes held for a later moment) is appended to b.
 * Returns 0, or -1 after a message (as report_census_finish) or when out of
 * memory. */
int report_census_finish_save(report_census *rc, flows_buf *b);
/* Before the first change: goes on from a state report_census_finish_save
 * wrote. Returns 0, or -1 with a message in err (b short or not a census
 * state, another --interval, moments over time on one side only). */
int report_census_load(report_census *rc, flows_buf *b, char *err, size_t errlen);
/* After a load, for a thread that works out the moments itself: the first
 * packet's time (*t0) and the last moment committed (*last); 0 when the
 * census has not started (no state loaded, or no packet in it). */
int report_census_resumed(const report_census *rc, int64_t *t0, int64_t *last);

/* The configuration it was made with (never changed after). */
const report_census_config *report_census_get_config(const report_census *rc);

/* Has it moments over time (a --census FILE or --plot), or --at ones only? */
int report_census_over_time(const report_census *rc);

/* The first census moment after ts (INT64_MAX: none): the --at moments and,
 * when moments_over_time (report_census_over_time), t0 + k * interval;
 * t0 is the first packet's time. A pure function of its arguments, for a
 * thread that must know the moments without asking the census. */
int64_t report_census_moment_after(const report_census_config *cfg, int moments_over_time,
                                   int64_t t0, int64_t ts);

/* Changes told after their moment was written (segments out of order). */
uint64_t report_census_late(const report_census *rc);

void report_census_free(report_census *rc);

/*
 * The columns of a row (columns.c), in order: the CSV's header, the JSON
 * Lines' member names and the SQLite table's columns, each with its type.
 * Every writer works from this one list (README "Output formats"): a column
 * added to it and to the CSV text (row.c's report_format) shows in every
 * format.
 */
typedef enum report_col_type {
    REPORT_COL_INT,  /* JSON number, SQLite INTEGER */
    REPORT_COL_REAL, /* JSON number (the CSV's digits), SQLite REAL */
    REPORT_COL_TEXT, /* JSON string, SQLite TEXT */
    REPORT_COL_LIST  /* ';'-separated names: JSON array of strings, SQLite TEXT */
} report_col_type;

typedef struct report_column {
    const char *name;
    report_col_type type;
} report_column;

/* The list, and its length in *n. */
const report_column *report_columns(size_t *n);

/* The rows' format (--format). CSV by default. */
typedef enum report_fmt { REPORT_FMT_CSV, REPORT_FMT_JSONL, REPORT_FMT_SQLITE } report_fmt;

/* Before the first row: CSV or JSONL text to the FILE of report_new /
 * report_set_output. For SQLite, report_open_db instead. */
void report_set_format(report *r, report_fmt fmt);

/* --format sqlite: creates the database `path` (an existing file is
 * replaced) with its `connections` table; the rows go there, in one
 * transaction per batch of rows, instead of to a FILE. Returns 0, or -1
 * after a message on stderr. */
int report_open_db(report *r, const char *path);

/* Into the database of report_open_db, once every row is in: the census
 * (the CSV report_census_finish wrote to csv, read from its start) as the
 * table `census`, and the findings as the table `findings`. Return 0, or -1
 * after a message. */
int report_db_census(report *r, FILE *csv);
int report_db_findings(report *r);

/* Ends the database of report_open_db (if any): the last batch committed,
 * the indexes made, the file closed. Also done by report_free. Returns 0
 * or the errno of a failure (said on stderr). */
int report_close_db(report *r);

/* Writes the header row (CSV only: nothing for the other formats). Returns
 * 0, or -1 on a write error. */
int report_header(report *r);

/* flows_emit_fn: writes one row and adds it to the summary. After a write
 * error rows are only counted; report_failed() tells. */
void report_row(void *report_ctx, const conn_record *rec);

/* report_row in two halves, so rows can be formatted on another thread:
 * report_count adds the row to the summary; report_format writes its text
 * (REPORT_ROW_MAX bytes at most, no NUL) into buf and returns the length,
 * touching nothing in r; report_write appends formatted rows to the output
 * after those already written. The text is a CSV line for CSV and SQLite
 * (whose rows are inserted as report_write is given them, on its caller's
 * thread), a JSON object for JSONL. */
#define REPORT_ROW_MAX 2048
void report_count(report *r, const conn_record *rec);
size_t report_format(const report *r, const conn_record *rec, char *buf);
void report_write(report *r, const char *text, size_t len);
/* 0 when report_count does nothing; 1 when it adds to the summary; 2 when
 * it adds to the findings (and perhaps the summary), which can be split in
 * two: report_count_part with REPORT_COUNT_HOSTS (the findings' per-pair and
 * per-host tables) and with REPORT_COUNT_REST (the rest) count the same
 * rows as report_count, and two threads may each do one, each in row
 * order, once report_count_settle has finished the rows counted before (on
 * the thread that counted them). report_count and report_write touch
 * different parts of r: one thread may count while another writes. */
int report_counts(const report *r);
enum { REPORT_COUNT_HOSTS = 1, REPORT_COUNT_REST = 2 };
void report_count_part(report *r, const conn_record *rec, int part);
void report_count_settle(report *r);

/* 0 while every write succeeded, else the errno of the first failure. */
int report_failed(const report *r);

/* Flushes the output; returns 0 or the errno of the failure. */
int report_flush(report *r);

/* The --summary text (everything but the packet accounting). */
void report_summary(const report *r, const flows_stats *fs, FILE *f);

/* The community_id column's seed (--community-id-seed; default 0). */
void report_set_community_seed(report *r, uint16_t seed);

/* The Community ID (v1) of a TCP connection, "1:" and 28 base64 characters
 * (REPORT_COMMUNITY_ID_LEN, no NUL) into out; returns the length. Either
 * endpoint may come first. Addresses: 4 bytes (IPv4) or 16. */
#define REPORT_COMMUNITY_ID_LEN 30
size_t report_community_id(char *out, uint16_t seed, uint8_t ip_version, const uint8_t *saddr,
                           uint16_t sport, const uint8_t *daddr, uint16_t dport);

/* Formats ts (ns) with `precision` decimals into buf; returns its length.
 * buf must hold 32 bytes. Exposed for tests. */
size_t report_format_ts(char *buf, int64_t ts, int precision);

#endif
