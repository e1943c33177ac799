/*
 * summary.c: the --summary statistics of the rows and their text.
 *
 * Counters per column value, and the TIME_WAIT durations for their median,
 * p99 and maximum: kept exactly while there are at most EXACT_MAX of them
 * (quantiles of the sorted values), and always in a log-linear histogram
 * too, so that memory stays bounded on any input (quantiles within 0.4%).
 */
#include "report.h"
#include "report_int.h"

#include <stdlib.h>
#include <string.h>

/* ---- counting ------------------------------------------------------------ */

static unsigned hist_index(uint64_t v)
{
    if (v < (1u << SUB_BITS))
        return (unsigned)v;
    unsigned e = 63u - (unsigned)__builtin_clzll(v); /* >= SUB_BITS */
    unsigned mant = (unsigned)(v >> (e - SUB_BITS)) & ((1u << SUB_BITS) - 1);
    return ((e - SUB_BITS + 1) << SUB_BITS) + mant;
}

/* The middle of a bucket's range. */
static int64_t hist_value(unsigned idx)
{
    if (idx < (1u << SUB_BITS))
        return idx;
    unsigned e = (idx >> SUB_BITS) + SUB_BITS - 1;
    uint64_t lo = ((uint64_t)(1u << SUB_BITS) + (idx & ((1u << SUB_BITS) - 1))) << (e - SUB_BITS);
    return (int64_t)(lo + ((UINT64_C(1) << (e - SUB_BITS)) >> 1));
}

static void add_duration(report_stats *s, int64_t d)
{
    s->tw_hist[hist_index((uint64_t)d)]++;
    if (s->n_tw == 0 || d > s->tw_max)
        s->tw_max = d;
    if (s->n_tw < EXACT_MAX && s->n_tw == s->cap_tw) {
        size_t cap = s->cap_tw ? s->cap_tw * 2 : 1024;
        int64_t *n = realloc(s->tw_durations, cap * sizeof(*n));
        if (n) {
            s->tw_durations = n;
            s->cap_tw = cap;
        }
    }
    if (s->n_tw < s->cap_tw)
        s->tw_durations[s->n_tw] = d;
    s->n_tw++;
}

void report_stats_add(report_stats *s, const conn_record *c)
{
    s->rows++;
    s->by_handshake[c->handshake]++;
    s->by_close[c->close_initiator][c->close_type]++;
    if (c->closing) {
        s->closing_conns++;
        s->closing_endpoints += c->closing;
    }
    s->tw_by_side[c->time_wait_side]++;
    if (c->time_wait_side != SIDE_NONE) {
        s->tw_by_reason[c->time_wait_end_reason]++;
        int64_t d = c->time_wait_end - c->time_wait_start;
        add_duration(s, d < 0 ? 0 : d);
    }
    s->by_end[c->end_reason]++;
    for (unsigned i = 0; i < ANOM_COUNT; i++)
        if (c->anomalies & (1u << i))
            s->anomalies[i]++;
    if (c->end_reason == END_CAPTURE_END) {
        s->end_states[c->client_state]++;
        s->end_states[c->server_state]++;
    }
}

void report_stats_free(report_stats *s)
{
    free(s->tw_durations);
    s->tw_durations = NULL;
    s->n_tw = s->cap_tw = 0;
}

/* ---- the text ------------------------------------------------------------ */

/* The duration at rank k (0-based) in ascending order. */
static int64_t duration_at(const report_stats *s, const int64_t *sorted, size_t k)
{
    if (sorted)
        return sorted[k];
    uint64_t seen = 0;
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        seen += s->tw_hist[i];
        if (seen > k)
            return hist_value(i) < s->tw_max ? hist_value(i) : s->tw_max;
    }
    return s->tw_max;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static void print_duration(int precision, FILE *f, const char *label, int64_t ns)
{
    char tmp[32];
    report_format_ts(tmp, ns, precision);
    fprintf(f, "  %-28s %s s\n", label, tmp);
}

/* Handshakes, then closes by initiator and type. */
static void print_handshakes_and_closes(const report_stats *s, FILE *f)
{
    fprintf(f, "connections: %llu\n", (unsigned long long)s->rows);
    fprintf(f, "handshake:\n");
    for (int h = 0; h < HS_COUNT; h++)
        fprintf(f, "  %-28s %llu\n", conn_handshake_name((conn_handshake)h),
                (unsigned long long)s->by_handshake[h]);
    fprintf(f, "close initiator / type:\n");
    for (int i = 0; i < SIDE_COUNT; i++)
        for (int t = 0; t < CLOSE_TYPE_COUNT; t++) {
            if (!s->by_close[i][t])
                continue;
            char label[48];
            snprintf(label, sizeof(label), "%s / %s", conn_side_name((conn_side)i),
                     conn_close_type_name((conn_close_type)t));
            fprintf(f, "  %-28s %llu\n", label, (unsigned long long)s->by_close[i][t]);
        }
    fprintf(f, "CLOSING: %llu connections, %llu endpoints\n", (unsigned long long)s->closing_conns,
            (unsigned long long)s->closing_endpoints);
}

/* TIME_WAIT by side, then (when there was any) its durations and ends. */
static void print_time_wait(const report_stats *s, int precision, FILE *f)
{
    fprintf(f, "TIME_WAIT by side:\n");
    for (int i = SIDE_CLIENT; i < SIDE_COUNT; i++)
        fprintf(f, "  %-28s %llu\n", conn_side_name((conn_side)i),
                (unsigned long long)s->tw_by_side[i]);
    if (!s->n_tw)
        return;
    /* Exact while every duration was kept, else from the histogram. */
    int64_t *d = NULL;
    if (s->n_tw <= s->cap_tw && (d = malloc(s->n_tw * sizeof(*d)))) {
        memcpy(d, s->tw_durations, s->n_tw * sizeof(*d));
        qsort(d, s->n_tw, sizeof(*d), cmp_i64);
    }
    fprintf(f, "TIME_WAIT duration (%zu%s):\n", s->n_tw, d ? "" : ", median and p99 within 0.4%");
    print_duration(precision, f, "median", duration_at(s, d, (s->n_tw - 1) / 2));
    print_duration(precision, f, "p99", duration_at(s, d, (s->n_tw * 99 + 99) / 100 - 1));
    print_duration(precision, f, "max", s->tw_max);
    free(d);
    fprintf(f, "TIME_WAIT end reason:\n");
    for (int t = TW_EXPIRED; t < TW_REASON_COUNT; t++)
        if (s->tw_by_reason[t])
            fprintf(f, "  %-28s %llu\n", conn_tw_reason_name((conn_tw_reason)t),
                    (unsigned long long)s->tw_by_reason[t]);
}

/* Anomalies (when there was any), then the states left at capture end. */
static void print_anomalies_and_end_states(const report_stats *s, FILE *f)
{
    int any = 0;
    for (unsigned i = 0; i < ANOM_COUNT; i++)
        any |= s->anomalies[i] != 0;
    if (any) {
        fprintf(f, "anomalies:\n");
        for (unsigned i = 0; i < ANOM_COUNT; i++)
            if (s->anomalies[i])
                fprintf(f, "  %-28s %llu\n", conn_anomaly_name(i),
                        (unsigned long long)s->anomalies[i]);
    }
    fprintf(f, "endpoint states at capture end (netstat -an style):\n");
    for (int i = 0; i < CONN_STATE_COUNT; i++)
        if (s->end_states[i])
            fprintf(f, "  %-28s %llu\n", conn_state_name((conn_state)i),
                    (unsigned long long)s->end_states[i]);
}

static void print_flows_stats(const flows_stats *fs, FILE *f)
{
    fprintf(f,
            "instances: %llu created, peak %llu alive, %llu reused 4-tuples, %llu idle "
            "timeouts, %llu evicted\n",
            (unsigned long long)fs->instances, (unsigned long long)fs->peak_alive,
            (unsigned long long)fs->reused, (unsigned long long)fs->idle_timeouts,
            (unsigned long long)fs->evicted);
    fprintf(f,
            "segments: %llu, exact duplicates skipped %llu, out of time order %llu, clock "
            "stepped back %llu times\n",
            (unsigned long long)fs->segments, (unsigned long long)fs->duplicates,
            (unsigned long long)fs->out_of_order, (unsigned long long)fs->clock_steps);
}

void report_stats_print(const report_stats *s, int precision, const flows_stats *fs, FILE *f)
{
    print_handshakes_and_closes(s, f);
    print_time_wait(s, precision, f);
    print_anomalies_and_end_states(s, f);
    if (fs)
        print_flows_stats(fs, f);
}
