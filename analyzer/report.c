/*
 * report.c: CSV rows (SPEC §4) and the --summary counters.
 *
 * A row is assembled in a stack buffer with small appenders (no printf per
 * field) and written with one fwrite. Every write is checked; the first
 * failure is kept (errno) and later rows are only counted, so the caller
 * can stop reading and report it.
 */
#include "report.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define ROW_CAP 1024

/* Duration histogram: 2^SUB_BITS buckets per power of two (relative error
 * below 2^-SUB_BITS / 2, i.e. 0.4%), covering 0 ns to 2^63 ns. */
#define SUB_BITS     7
#define HIST_BUCKETS ((64 - SUB_BITS + 1) << SUB_BITS)
#define EXACT_MAX    (1u << 20) /* durations kept exactly: 8 MB at most */

static const char *const csv_columns =
    "conn_id,first_ts,last_ts,ip_version,client_ip,client_port,server_ip,server_port,role_by,"
    "handshake,syn_retransmits,synack_retransmits,handshake_rtt_s,close_initiator,close_type,"
    "closing,time_wait_side,time_wait_start,time_wait_end,time_wait_end_reason,time_wait_s,"
    "client_state,server_state,packets_c2s,packets_s2c,bytes_c2s,bytes_s2c,fin_retransmits,"
    "anomalies\n";

struct report {
    FILE *out;
    int precision;
    int failed; /* errno of the first failed write */
    /* summary */
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
};

report *report_new(FILE *out, int precision)
{
    report *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->out = out;
    r->precision = precision == 9 ? 9 : 6;
    return r;
}

void report_free(report *r)
{
    if (!r)
        return;
    free(r->tw_durations);
    free(r);
}

void report_set_precision(report *r, int precision)
{
    r->precision = precision == 9 ? 9 : 6;
}

int report_failed(const report *r)
{
    return r->failed;
}

static void write_out(report *r, const char *buf, size_t len)
{
    if (r->failed || !r->out)
        return;
    if (fwrite(buf, 1, len, r->out) != len)
        r->failed = errno ? errno : EIO;
}

int report_header(report *r)
{
    write_out(r, csv_columns, strlen(csv_columns));
    return r->failed ? -1 : 0;
}

int report_flush(report *r)
{
    if (!r->failed && r->out && (fflush(r->out) != 0 || ferror(r->out)))
        r->failed = errno ? errno : EIO;
    return r->failed;
}

/* ---- appenders -------------------------------------------------------- */

static size_t put_str(char *b, size_t n, const char *s)
{
    size_t l = strlen(s);
    if (n + l >= ROW_CAP)
        return n;
    memcpy(b + n, s, l);
    return n + l;
}

static size_t put_u64(char *b, size_t n, uint64_t v)
{
    char tmp[24];
    size_t i = sizeof(tmp);
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    size_t l = sizeof(tmp) - i;
    if (n + l >= ROW_CAP)
        return n;
    memcpy(b + n, tmp + i, l);
    return n + l;
}

static size_t put_c(char *b, size_t n, char c)
{
    if (n + 1 >= ROW_CAP)
        return n;
    b[n] = c;
    return n + 1;
}

size_t report_format_ts(char *buf, int64_t ts, int precision)
{
    size_t n = 0;
    uint64_t mag;
    if (ts < 0) {
        buf[n++] = '-';
        mag = (uint64_t)0 - (uint64_t)ts;
    } else {
        mag = (uint64_t)ts;
    }
    uint64_t sec = mag / 1000000000u, frac = mag % 1000000000u;
    if (precision != 9)
        frac /= 1000; /* µs captures: the extra digits are zeros anyway */
    char tmp[24];
    size_t i = sizeof(tmp);
    do {
        tmp[--i] = (char)('0' + sec % 10);
        sec /= 10;
    } while (sec);
    memcpy(buf + n, tmp + i, sizeof(tmp) - i);
    n += sizeof(tmp) - i;
    buf[n++] = '.';
    int digits = precision == 9 ? 9 : 6;
    for (int d = digits - 1; d >= 0; d--) {
        buf[n + (size_t)d] = (char)('0' + frac % 10);
        frac /= 10;
    }
    n += (size_t)digits;
    buf[n] = '\0';
    return n;
}

static size_t put_ts(const report *r, char *b, size_t n, int64_t ts)
{
    char tmp[32];
    report_format_ts(tmp, ts, r->precision);
    return put_str(b, n, tmp);
}

static size_t put_ip(char *b, size_t n, int version, const uint8_t *addr)
{
    if (version == 4) {
        /* inet_ntop formats through sprintf: a fifth of all instructions
         * on a trace of short connections. */
        for (int i = 0; i < 4; i++) {
            if (i)
                n = put_c(b, n, '.');
            n = put_u64(b, n, addr[i]);
        }
        return n;
    }
    char tmp[INET6_ADDRSTRLEN];
    if (!inet_ntop(version == 6 ? AF_INET6 : AF_INET, addr, tmp, sizeof(tmp)))
        tmp[0] = '\0';
    return put_str(b, n, tmp);
}

/* ---- rows ------------------------------------------------------------- */

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

static void add_duration(report *r, int64_t d)
{
    r->tw_hist[hist_index((uint64_t)d)]++;
    if (r->n_tw == 0 || d > r->tw_max)
        r->tw_max = d;
    if (r->n_tw < EXACT_MAX && r->n_tw == r->cap_tw) {
        size_t cap = r->cap_tw ? r->cap_tw * 2 : 1024;
        int64_t *n = realloc(r->tw_durations, cap * sizeof(*n));
        if (n) {
            r->tw_durations = n;
            r->cap_tw = cap;
        }
    }
    if (r->n_tw < r->cap_tw)
        r->tw_durations[r->n_tw] = d;
    r->n_tw++;
}

/* The duration at rank k (0-based) in ascending order. */
static int64_t duration_at(const report *r, const int64_t *sorted, size_t k)
{
    if (sorted)
        return sorted[k];
    uint64_t seen = 0;
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        seen += r->tw_hist[i];
        if (seen > k)
            return hist_value(i) < r->tw_max ? hist_value(i) : r->tw_max;
    }
    return r->tw_max;
}

static void add_to_summary(report *r, const conn_record *c)
{
    r->rows++;
    r->by_handshake[c->handshake]++;
    r->by_close[c->close_initiator][c->close_type]++;
    if (c->closing) {
        r->closing_conns++;
        r->closing_endpoints += c->closing;
    }
    r->tw_by_side[c->time_wait_side]++;
    if (c->time_wait_side != SIDE_NONE) {
        r->tw_by_reason[c->time_wait_end_reason]++;
        int64_t d = c->time_wait_end - c->time_wait_start;
        add_duration(r, d < 0 ? 0 : d);
    }
    r->by_end[c->end_reason]++;
    for (unsigned i = 0; i < ANOM_COUNT; i++)
        if (c->anomalies & (1u << i))
            r->anomalies[i]++;
    if (c->end_reason == END_CAPTURE_END) {
        r->end_states[c->client_state]++;
        r->end_states[c->server_state]++;
    }
}

void report_row(void *report_ctx, const conn_record *c)
{
    report *r = report_ctx;
    add_to_summary(r, c);
    if (r->failed || !r->out)
        return;
    char b[ROW_CAP];
    size_t n = 0;
    n = put_u64(b, n, c->conn_id);
    n = put_c(b, n, ',');
    n = put_ts(r, b, n, c->first_ts);
    n = put_c(b, n, ',');
    n = put_ts(r, b, n, c->last_ts);
    n = put_c(b, n, ',');
    n = put_u64(b, n, c->ip_version);
    n = put_c(b, n, ',');
    n = put_ip(b, n, c->ip_version, c->client_ip);
    n = put_c(b, n, ',');
    n = put_u64(b, n, c->client_port);
    n = put_c(b, n, ',');
    n = put_ip(b, n, c->ip_version, c->server_ip);
    n = put_c(b, n, ',');
    n = put_u64(b, n, c->server_port);
    n = put_c(b, n, ',');
    n = put_str(b, n, conn_role_by_name(c->role_by));
    n = put_c(b, n, ',');
    n = put_str(b, n, conn_handshake_name(c->handshake));
    n = put_c(b, n, ',');
    n = put_u64(b, n, c->syn_retransmits);
    n = put_c(b, n, ',');
    n = put_u64(b, n, c->synack_retransmits);
    n = put_c(b, n, ',');
    if (c->handshake_rtt >= 0)
        n = put_ts(r, b, n, c->handshake_rtt);
    n = put_c(b, n, ',');
    n = put_str(b, n, conn_side_name(c->close_initiator));
    n = put_c(b, n, ',');
    n = put_str(b, n, conn_close_type_name(c->close_type));
    n = put_c(b, n, ',');
    n = put_u64(b, n, c->closing);
    n = put_c(b, n, ',');
    n = put_str(b, n, conn_side_name(c->time_wait_side));
    n = put_c(b, n, ',');
    if (c->time_wait_side != SIDE_NONE) {
        n = put_ts(r, b, n, c->time_wait_start);
        n = put_c(b, n, ',');
        n = put_ts(r, b, n, c->time_wait_end);
        n = put_c(b, n, ',');
        n = put_str(b, n, conn_tw_reason_name(c->time_wait_end_reason));
        n = put_c(b, n, ',');
        n = put_ts(r, b, n, c->time_wait_end - c->time_wait_start);
    } else {
        n = put_str(b, n, ",,,");
    }
    n = put_c(b, n, ',');
    n = put_str(b, n, conn_state_name(c->client_state));
    n = put_c(b, n, ',');
    n = put_str(b, n, conn_state_name(c->server_state));
    n = put_c(b, n, ',');
    n = put_u64(b, n, c->packets_c2s);
    n = put_c(b, n, ',');
    n = put_u64(b, n, c->packets_s2c);
    n = put_c(b, n, ',');
    n = put_u64(b, n, c->bytes_c2s);
    n = put_c(b, n, ',');
    n = put_u64(b, n, c->bytes_s2c);
    n = put_c(b, n, ',');
    n = put_u64(b, n, c->fin_retransmits);
    n = put_c(b, n, ',');
    int first = 1;
    for (unsigned i = 0; i < ANOM_COUNT; i++) {
        if (!(c->anomalies & (1u << i)))
            continue;
        if (!first)
            n = put_c(b, n, ';');
        n = put_str(b, n, conn_anomaly_name(i));
        first = 0;
    }
    n = put_c(b, n, '\n');
    write_out(r, b, n);
}

/* ---- summary ---------------------------------------------------------- */

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static void print_duration(const report *r, FILE *f, const char *label, int64_t ns)
{
    char tmp[32];
    report_format_ts(tmp, ns, r->precision);
    fprintf(f, "  %-28s %s s\n", label, tmp);
}

void report_summary(const report *r, const flows_stats *fs, FILE *f)
{
    fprintf(f, "connections: %llu\n", (unsigned long long)r->rows);
    fprintf(f, "handshake:\n");
    for (int h = 0; h < HS_COUNT; h++)
        fprintf(f, "  %-28s %llu\n", conn_handshake_name((conn_handshake)h),
                (unsigned long long)r->by_handshake[h]);
    fprintf(f, "close initiator / type:\n");
    for (int s = 0; s < SIDE_COUNT; s++)
        for (int t = 0; t < CLOSE_TYPE_COUNT; t++) {
            if (!r->by_close[s][t])
                continue;
            char label[48];
            snprintf(label, sizeof(label), "%s / %s", conn_side_name((conn_side)s),
                     conn_close_type_name((conn_close_type)t));
            fprintf(f, "  %-28s %llu\n", label, (unsigned long long)r->by_close[s][t]);
        }
    fprintf(f, "CLOSING: %llu connections, %llu endpoints\n", (unsigned long long)r->closing_conns,
            (unsigned long long)r->closing_endpoints);
    fprintf(f, "TIME_WAIT by side:\n");
    for (int s = SIDE_CLIENT; s < SIDE_COUNT; s++)
        fprintf(f, "  %-28s %llu\n", conn_side_name((conn_side)s),
                (unsigned long long)r->tw_by_side[s]);
    if (r->n_tw) {
        /* Exact while every duration was kept, else from the histogram. */
        int64_t *d = NULL;
        if (r->n_tw <= r->cap_tw && (d = malloc(r->n_tw * sizeof(*d)))) {
            memcpy(d, r->tw_durations, r->n_tw * sizeof(*d));
            qsort(d, r->n_tw, sizeof(*d), cmp_i64);
        }
        fprintf(f, "TIME_WAIT duration (%zu%s):\n", r->n_tw,
                d ? "" : ", median and p99 within 0.4%");
        print_duration(r, f, "median", duration_at(r, d, (r->n_tw - 1) / 2));
        print_duration(r, f, "p99", duration_at(r, d, (r->n_tw * 99 + 99) / 100 - 1));
        print_duration(r, f, "max", r->tw_max);
        free(d);
        fprintf(f, "TIME_WAIT end reason:\n");
        for (int t = TW_EXPIRED; t < TW_REASON_COUNT; t++)
            if (r->tw_by_reason[t])
                fprintf(f, "  %-28s %llu\n", conn_tw_reason_name((conn_tw_reason)t),
                        (unsigned long long)r->tw_by_reason[t]);
    }
    int any = 0;
    for (unsigned i = 0; i < ANOM_COUNT; i++)
        any |= r->anomalies[i] != 0;
    if (any) {
        fprintf(f, "anomalies:\n");
        for (unsigned i = 0; i < ANOM_COUNT; i++)
            if (r->anomalies[i])
                fprintf(f, "  %-28s %llu\n", conn_anomaly_name(i),
                        (unsigned long long)r->anomalies[i]);
    }
    fprintf(f, "endpoint states at capture end (netstat -an style):\n");
    for (int s = 0; s < CONN_STATE_COUNT; s++)
        if (r->end_states[s])
            fprintf(f, "  %-28s %llu\n", conn_state_name((conn_state)s),
                    (unsigned long long)r->end_states[s]);
    if (fs) {
        fprintf(f,
                "instances: %llu created, peak %llu alive, %llu reused 4-tuples, %llu idle "
                "timeouts, %llu evicted\n",
                (unsigned long long)fs->instances, (unsigned long long)fs->peak_alive,
                (unsigned long long)fs->reused, (unsigned long long)fs->idle_timeouts,
                (unsigned long long)fs->evicted);
        fprintf(f, "segments: %llu, exact duplicates skipped %llu, out of time order %llu\n",
                (unsigned long long)fs->segments, (unsigned long long)fs->duplicates,
                (unsigned long long)fs->out_of_order);
    }
}
