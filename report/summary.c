/*
 * summary.c: the --summary statistics of the rows and their text.
 *
 * Counters per column value, and the TIME_WAIT durations for their median,
 * p99 and maximum, in two series: the TIME_WAIT that expired (ran its
 * 2*MSL) and those a new SYN reused; the other ends (reset, capture_end,
 * evicted) are counted apart, as their durations say nothing of how long
 * TIME_WAIT lasts. A series is kept exactly while it has at most EXACT_MAX
 * values (quantiles of the sorted values), and always in a log-linear
 * histogram too, so that memory stays bounded on any input (quantiles
 * within 0.4%).
 *
 * The endpoint census at capture end (SPEC §6): the states of the
 * endpoints of the rows still open then (end_reason capture_end), CLOSED
 * left out as netstat lists no closed socket, and LISTEN as the distinct
 * server endpoints (address, port) seen accepting a connection: a row whose
 * handshake reached the server (complete or no_ack), or whose server sent a
 * SYN-ACK (role_by synack, SYN-ACK retransmissions), simultaneous opens
 * excepted. In total and per host (the endpoint's own address), in uthash
 * tables bounded at HOSTS_MAX hosts and LISTEN_MAX listening endpoints.
 */
#include "report.h"
#include "report_int.h"

#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <sys/socket.h>

/* ---- durations ---------------------------------------------------------- */

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

void duration_add(duration_series *s, int64_t d)
{
    s->hist[hist_index((uint64_t)d)]++;
    if (s->n == 0 || d > s->max)
        s->max = d;
    if (s->n == 0 || d < s->min)
        s->min = d;
    if (s->n < EXACT_MAX && s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 1024;
        int64_t *n = realloc(s->exact, cap * sizeof(*n));
        if (n) {
            s->exact = n;
            s->cap = cap;
        }
    }
    if (s->n < s->cap)
        s->exact[s->n] = d;
    s->n++;
}

/* ---- the census ---------------------------------------------------------- */

/* A listening endpoint: a server's address and port. */
struct listen_entry {
    service_key key;
    UT_hash_handle hh;
};

/* The census of the host at addr: its own, or `other` past HOSTS_MAX (or
 * when memory runs out). */
static host_census *host_of(report_stats *s, uint8_t ip_version, const uint8_t addr[16])
{
    int added;
    host_head *h = host_table_get(&s->hosts, ip_version, addr, sizeof(host_census), &added);
    return h ? (host_census *)h : &s->other;
}

static void count_state(report_stats *s, uint8_t ip_version, const uint8_t addr[16], conn_state st)
{
    s->end_states[st]++;
    host_census *h = host_of(s, ip_version, addr);
    h->states[st]++;
    h->sockets++;
}

/* Did the row's server accept a connection (a listening socket)? */
static int accepting(const conn_record *c)
{
    if (c->handshake == HS_SIMULTANEOUS_OPEN)
        return 0;
    return c->handshake == HS_COMPLETE || c->handshake == HS_NO_ACK ||
           c->role_by == ROLE_BY_SYNACK || c->synack_retransmits > 0;
}

/* Counts the row's server endpoint as LISTEN the first time it is seen. */
static void count_listener(report_stats *s, const conn_record *c)
{
    service_key k = service_key_of(c);
    listen_entry *e;
    uint32_t known = s->n_listeners;
    TABLE_GET_AID(s->listeners, s->n_listeners, LISTEN_MAX, listen_entry, k, e, &s->listen_aid);
    if (!e)
        s->listen_untold++;
    else if (s->n_listeners != known) /* new: counted the first time only */
        count_state(s, c->ip_version, c->server_ip, CONN_LISTEN);
}

/* The endpoints of a row still open at capture end, CLOSED left out (no
 * socket) and LISTEN too (the listener is counted by count_listener). */
static void count_end_states(report_stats *s, const conn_record *c)
{
    if (c->client_state != CONN_CLOSED && c->client_state != CONN_LISTEN)
        count_state(s, c->ip_version, c->client_ip, c->client_state);
    if (c->server_state != CONN_CLOSED && c->server_state != CONN_LISTEN)
        count_state(s, c->ip_version, c->server_ip, c->server_state);
}

/* ---- counting ------------------------------------------------------------ */

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
        if (c->time_wait_end_reason == TW_EXPIRED)
            duration_add(&s->tw_expired, d < 0 ? 0 : d);
        else if (c->time_wait_end_reason == TW_REUSED)
            duration_add(&s->tw_reused, d < 0 ? 0 : d);
    }
    s->by_end[c->end_reason]++;
    for (unsigned i = 0; i < ANOM_COUNT; i++)
        if (c->anomalies & (1u << i))
            s->anomalies[i]++;
    if (accepting(c))
        count_listener(s, c);
    if (c->end_reason == END_CAPTURE_END)
        count_end_states(s, c);
}

void report_stats_free(report_stats *s)
{
    duration_free(&s->tw_expired);
    duration_free(&s->tw_reused);
    host_table_free(&s->hosts);
    aid_free(&s->listen_aid);
    listen_entry *e, *etmp;
    /* uthash's documented way to empty a table; the analyzer cannot follow
     * HASH_DEL's bookkeeping through the saved next pointer. */
    // NOLINTBEGIN(clang-analyzer-unix.Malloc)
    HASH_ITER(hh, s->listeners, e, etmp)
    {
        HASH_DEL(s->listeners, e);
        free(e);
    }
    // NOLINTEND(clang-analyzer-unix.Malloc)
    s->n_listeners = 0;
}

/* ---- the text ------------------------------------------------------------ */

/* The duration at rank k (0-based) in ascending order. */
static int64_t duration_at(const duration_series *s, const int64_t *sorted, size_t k)
{
    if (sorted)
        return sorted[k];
    uint64_t seen = 0;
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        seen += s->hist[i];
        if (seen > k)
            return hist_value(i) < s->max ? hist_value(i) : s->max;
    }
    return s->max;
}

/* The series sorted (to free), while every duration was kept; else NULL:
 * the quantiles come from the histogram. */
static int64_t *sorted_copy(const duration_series *s)
{
    int64_t *d = NULL;
    if (s->n && s->n <= s->cap && (d = malloc(s->n * sizeof(*d)))) {
        memcpy(d, s->exact, s->n * sizeof(*d));
        qsort(d, s->n, sizeof(*d), cmp_i64);
    }
    return d;
}

static int64_t median_of(const duration_series *s, const int64_t *sorted)
{
    return duration_at(s, sorted, (s->n - 1) / 2);
}

int64_t duration_median(const duration_series *s)
{
    if (!s->n)
        return 0;
    int64_t *sorted = sorted_copy(s);
    int64_t m = median_of(s, sorted);
    free(sorted);
    return m;
}

void duration_free(duration_series *s)
{
    free(s->exact);
    s->exact = NULL;
    s->n = s->cap = 0;
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

/* The durations of the TIME_WAIT that expired: the only ones that tell how
 * long TIME_WAIT lasts. */
static void print_expired(const report_stats *s, int precision, FILE *f)
{
    const duration_series *e = &s->tw_expired;
    if (!e->n) {
        fprintf(f, "TIME_WAIT duration: none expired (ran its 2*MSL) within the capture\n");
        return;
    }
    int64_t *d = sorted_copy(e);
    fprintf(f, "TIME_WAIT duration of the %zu that expired (ran its 2*MSL)%s:\n", e->n,
            d ? "" : ", median and p99 within 0.4%");
    print_duration(precision, f, "median", median_of(e, d));
    print_duration(precision, f, "p99", duration_at(e, d, (e->n * 99 + 99) / 100 - 1));
    print_duration(precision, f, "max", e->max);
    free(d);
}

/* TIME_WAIT by side, then (when there was any) the durations of those that
 * expired and the count of each other end. */
static void print_time_wait(const report_stats *s, int precision, FILE *f)
{
    fprintf(f, "TIME_WAIT by side:\n");
    for (int i = SIDE_CLIENT; i < SIDE_COUNT; i++)
        fprintf(f, "  %-28s %llu\n", conn_side_name((conn_side)i),
                (unsigned long long)s->tw_by_side[i]);
    if (s->tw_by_side[SIDE_CLIENT] + s->tw_by_side[SIDE_SERVER] + s->tw_by_side[SIDE_BOTH] == 0)
        return;
    print_expired(s, precision, f);
    fprintf(f, "TIME_WAIT ended otherwise (not in the durations above):\n");
    const duration_series *r = &s->tw_reused;
    fprintf(f, "  %-28s %llu", "reused", (unsigned long long)s->tw_by_reason[TW_REUSED]);
    if (r->n) {
        int64_t *d = sorted_copy(r);
        char tmp[32];
        report_format_ts(tmp, median_of(r, d), precision);
        fprintf(f, " (after a median %s s%s)", tmp, d ? "" : ", within 0.4%");
        free(d);
    }
    fprintf(f, "\n  %-28s %llu\n", "reset", (unsigned long long)s->tw_by_reason[TW_RESET]);
    fprintf(f, "  %-28s %llu (censored: still in TIME_WAIT then)\n", "capture_end",
            (unsigned long long)s->tw_by_reason[TW_CAPTURE_END]);
    fprintf(f, "  %-28s %llu\n", "evicted", (unsigned long long)s->tw_by_reason[TW_EVICTED]);
}

static void print_anomalies(const report_stats *s, FILE *f)
{
    int any = 0;
    for (unsigned i = 0; i < ANOM_COUNT; i++)
        any |= s->anomalies[i] != 0;
    if (!any)
        return;
    fprintf(f, "anomalies:\n");
    for (unsigned i = 0; i < ANOM_COUNT; i++)
        if (s->anomalies[i])
            fprintf(f, "  %-28s %llu\n", conn_anomaly_name(i), (unsigned long long)s->anomalies[i]);
}

/* The lines of a census, CLOSED never among them; `indent` spaces first. */
static void print_states(const uint64_t *states, int indent, FILE *f)
{
    for (int i = 0; i < CONN_STATE_COUNT; i++)
        if (i != CONN_CLOSED && states[i])
            fprintf(f, "%*s%-*s %llu\n", indent, "", 30 - indent, conn_state_name((conn_state)i),
                    (unsigned long long)states[i]);
}

/* Busier first (more sockets), then the lower address (IPv4 first). */
static int busier(const host_census *a, const host_census *b)
{
    if (a->sockets != b->sockets)
        return a->sockets > b->sockets;
    if (a->head.key.ip_version != b->head.key.ip_version)
        return a->head.key.ip_version < b->head.key.ip_version;
    return memcmp(a->head.key.addr, b->head.key.addr, sizeof(a->head.key.addr)) < 0;
}

static void print_host(const host_census *h, FILE *f)
{
    char addr[INET6_ADDRSTRLEN];
    fprintf(f, "  %s: %llu socket%s\n",
            addr_text(h->head.key.ip_version, h->head.key.addr, addr, sizeof(addr)),
            (unsigned long long)h->sockets, h->sockets == 1 ? "" : "s");
    print_states(h->states, 4, f);
}

/* The HOSTS_SHOWN busiest hosts, one table each, then what was left out. */
static void print_hosts(const report_stats *s, FILE *f)
{
    const host_census *top[HOSTS_SHOWN];
    size_t n_top = 0;
    uint64_t sockets = 0;
    for (const host_census *h = (const host_census *)s->hosts.head; h; h = h->head.hh.next) {
        sockets += h->sockets;
        if (n_top == HOSTS_SHOWN && !busier(h, top[n_top - 1]))
            continue;
        size_t i = n_top < HOSTS_SHOWN ? n_top++ : n_top - 1;
        for (; i > 0 && busier(h, top[i - 1]); i--)
            top[i] = top[i - 1];
        top[i] = h;
    }
    if (!n_top && !s->other.sockets)
        return;
    fprintf(f, "endpoint states at capture end per host (its own address; busiest first):\n");
    for (size_t i = 0; i < n_top; i++) {
        print_host(top[i], f);
        sockets -= top[i]->sockets;
    }
    if (s->hosts.n > n_top)
        fprintf(f, "  ... %llu more hosts (%llu sockets) left out: only the %d busiest are shown\n",
                (unsigned long long)(s->hosts.n - n_top), (unsigned long long)sockets, HOSTS_SHOWN);
    if (s->other.sockets) {
        fprintf(f, "  other (the hosts past the first %u tracked, summed): %llu sockets\n",
                HOSTS_MAX, (unsigned long long)s->other.sockets);
        print_states(s->other.states, 4, f);
    }
}

/* The netstat-style census at capture end: in total, then per host. */
static void print_end_states(const report_stats *s, FILE *f)
{
    fprintf(f, "endpoint states at capture end (netstat -an style), all hosts:\n");
    print_states(s->end_states, 2, f);
    if (s->listen_untold)
        fprintf(f,
                "  (LISTEN tells apart the first %u server endpoints; %llu more accepting "
                "rows were not told apart: LISTEN may be short by as many)\n",
                LISTEN_MAX, (unsigned long long)s->listen_untold);
    print_hosts(s, f);
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
    print_anomalies(s, f);
    print_end_states(s, f);
    if (fs)
        print_flows_stats(fs, f);
}
