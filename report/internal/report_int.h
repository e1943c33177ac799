/*
 * report_int.h: the seam between the two halves of report/. Private to
 * report/: only its own sources have report/internal/ on their include path.
 *
 *   row.c      owns the report: the output, its buffer, the CSV text of the
 *              rows (the hot path: no indirection per field or per row);
 *   summary.c  keeps the --summary statistics of the rows it is shown and
 *              prints them; it knows nothing of the output or its format.
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

#include "flows.h"

/* Duration histogram: 2^SUB_BITS buckets per power of two (relative error
 * below 2^-SUB_BITS / 2, i.e. 0.4%), covering 0 ns to 2^63 ns. */
#define SUB_BITS     7
#define HIST_BUCKETS ((64 - SUB_BITS + 1) << SUB_BITS)
#define EXACT_MAX    (1u << 20) /* durations kept exactly: 8 MB at most */

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
    uint64_t end_states[CONN_STATE_COUNT]; /* endpoints alive at capture end */
    /* TIME_WAIT durations: exact up to EXACT_MAX values, and always in a
     * log-linear histogram, so memory stays bounded on any input. */
    int64_t *tw_durations;
    size_t n_tw, cap_tw;
    uint64_t tw_hist[HIST_BUCKETS];
    int64_t tw_max;
} report_stats;

/* Adds one row. */
void report_stats_add(report_stats *s, const conn_record *c);

/* The --summary text; durations with `precision` (6 or 9) decimals. */
void report_stats_print(const report_stats *s, int precision, const flows_stats *fs, FILE *f);

/* Frees what report_stats_add allocated (not s itself). */
void report_stats_free(report_stats *s);

#endif
