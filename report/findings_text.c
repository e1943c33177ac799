/*
 * findings_text.c: the findings judged and written (findings.c collects):
 * the Markdown report (--findings FILE) and its short form, one line per
 * finding, at the end of --summary. README "Findings" states the rules.
 * Findings 6 to 8 are findings_wait.c's, 9 findings_nat.c's, with the
 * helpers declared in findings_int.h.
 */
#include "findings_int.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <arpa/inet.h>
#include <sys/socket.h>

static const char *const verdict_name[] = {"no evidence", "applies", "would not help"};

/* ---- text helpers ---------------------------------------------------------- */

const char *addr_text(uint8_t ip_version, const uint8_t *addr, char *buf, size_t len)
{
    if (!inet_ntop(ip_version == 4 ? AF_INET : AF_INET6, addr, buf, (socklen_t)len))
        snprintf(buf, len, "?");
    return buf;
}

/* "ADDR:PORT", IPv6 in brackets. */
const char *endpoint_text(uint8_t ip_version, const uint8_t *addr, uint16_t port, char *buf,
                          size_t len)
{
    char a[INET6_ADDRSTRLEN];
    addr_text(ip_version, addr, a, sizeof(a));
    snprintf(buf, len, ip_version == 4 ? "%s:%u" : "[%s]:%u", a, port);
    return buf;
}

const char *when_text(int64_t ts, int precision, char *buf, size_t len)
{
    char t[32], utc[32] = "";
    report_format_ts(t, ts, precision);
    time_t sec = (time_t)(ts / NS);
    struct tm tm;
    if (!gmtime_r(&sec, &tm) || strftime(utc, sizeof(utc), "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
        utc[0] = '\0';
    snprintf(buf, len, "%s (%s)", t, utc);
    return buf;
}

void write_examples(const examples *x, const char *what, FILE *out)
{
    if (!x->n)
        return;
    fprintf(out, "\nExamples (%s):\n\n", what);
    for (unsigned i = 0; i < x->n; i++) {
        const example *e = &x->v[i];
        char c[64], s[64];
        fprintf(out, "- conn %llu: %s -> %s\n", (unsigned long long)e->conn_id,
                endpoint_text(e->ip_version, e->client, e->cport, c, sizeof(c)),
                endpoint_text(e->ip_version, e->server, e->sport, s, sizeof(s)));
    }
}

double percent(uint64_t part, uint64_t whole)
{
    return whole ? 100.0 * (double)part / (double)whole : 0.0;
}

void write_heading(FILE *out, int n, const char *title, const judgement *j)
{
    fprintf(out, "\n## %d. %s\n\n**Verdict: %s** — %s%s%s\n", n, title, verdict_name[j->v], j->key,
            j->why[0] ? ": " : "", j->why);
}

/* ---- 1. who closes first, who holds TIME_WAIT ------------------------------ */

static void judge_close(const findings *f, judgement *j)
{
    uint64_t client = f->tw_by[SIDE_CLIENT] + f->tw_by[SIDE_BOTH];
    uint64_t server = f->tw_by[SIDE_SERVER] + f->tw_by[SIDE_BOTH];
    uint64_t all = f->tw_by[SIDE_CLIENT] + f->tw_by[SIDE_SERVER] + f->tw_by[SIDE_BOTH];
    j->why[0] = '\0';
    if (!all) {
        j->v = V_NO_EVIDENCE;
        snprintf(j->key, sizeof(j->key), "no endpoint entered TIME_WAIT");
        return;
    }
    int srv = server > client;
    j->v = srv ? V_WOULD_NOT_HELP : V_APPLIES;
    snprintf(j->key, sizeof(j->key), "the %s holds TIME_WAIT in %llu of %llu connections (%.0f%%)",
             srv ? "server" : "client", (unsigned long long)(srv ? server : client),
             (unsigned long long)all, percent(srv ? server : client, all));
    snprintf(j->why, sizeof(j->why), "%s",
             srv ? "server closes first: tcp_tw_reuse (a client-side setting) has no effect "
                   "here; HTTP keep-alive or letting clients close would move TIME_WAIT"
                 : "clients close first and hold TIME_WAIT: tcp_tw_reuse (with TCP "
                   "timestamps) applies to the client host(s)");
}

static void write_close(const findings *f, FILE *out)
{
    judgement j;
    judge_close(f, &j);
    verdict v = j.v;
    write_heading(out, 1, "Who closes first and who holds TIME_WAIT", &j);
    fprintf(out, "\n| | client | server | both | none |\n|---|---|---|---|---|\n");
    fprintf(out, "| close initiator | %llu | %llu | %llu | %llu |\n",
            (unsigned long long)f->close_by[SIDE_CLIENT],
            (unsigned long long)f->close_by[SIDE_SERVER],
            (unsigned long long)f->close_by[SIDE_BOTH], (unsigned long long)f->close_by[SIDE_NONE]);
    fprintf(out, "| TIME_WAIT side | %llu | %llu | %llu | %llu |\n",
            (unsigned long long)f->tw_by[SIDE_CLIENT], (unsigned long long)f->tw_by[SIDE_SERVER],
            (unsigned long long)f->tw_by[SIDE_BOTH], (unsigned long long)f->tw_by[SIDE_NONE]);
    if (v == V_WOULD_NOT_HELP)
        write_examples(&f->ex_tw[SIDE_SERVER], "the server holds TIME_WAIT", out);
    else if (v == V_APPLIES)
        write_examples(f->ex_tw[SIDE_CLIENT].n ? &f->ex_tw[SIDE_CLIENT] : &f->ex_tw[SIDE_BOTH],
                       "the client holds TIME_WAIT", out);
}

/* ---- 2. port pressure -------------------------------------------------------- */

static uint64_t port_range(const findings *f)
{
    return (uint64_t)f->cfg.port_hi - f->cfg.port_lo + 1;
}

/* More ports held at once first, then the earlier peak. */
static int cmp_pair(const void *a, const void *b)
{
    const pair_entry *x = *(pair_entry *const *)a, *y = *(pair_entry *const *)b;
    if (x->iv.peak != y->iv.peak)
        return x->iv.peak < y->iv.peak ? 1 : -1;
    return (x->iv.peak_at > y->iv.peak_at) - (x->iv.peak_at < y->iv.peak_at);
}

/* Offers entry e (of the n offered before it) to the SHOWN_MAX first in
 * cmp's order, top[]: as a stable sort of all of them would list them
 * (of two that compare equal, the one offered first). */
static void offer_top(void **top, size_t n, void *e, int (*cmp)(const void *, const void *))
{
    size_t have = n < SHOWN_MAX ? n : SHOWN_MAX;
    if (have == SHOWN_MAX && cmp(&e, &top[SHOWN_MAX - 1]) >= 0)
        return;
    size_t i = have < SHOWN_MAX ? have : SHOWN_MAX - 1;
    for (; i > 0 && cmp(&top[i - 1], &e) > 0; i--)
        top[i] = top[i - 1];
    top[i] = e;
}

/* The pairs, busiest first: the first SHOWN_MAX (to free); NULL when
 * there are none. An array of pointers to the entries: sizeof(*v) is a
 * pointer's size. */
// NOLINTBEGIN(bugprone-sizeof-expression)
static pair_entry **pairs_sorted(const findings *f)
{
    pair_entry **v = f->n_pairs ? calloc(SHOWN_MAX, sizeof(*v)) : NULL;
    if (!v)
        return NULL;
    size_t n = 0;
    for (pair_entry *p = f->pairs; p; p = p->hh.next)
        offer_top((void **)v, n++, p, cmp_pair);
    return v;
}
// NOLINTEND(bugprone-sizeof-expression)

static const char *pair_text(const pair_entry *p, char *buf, size_t len)
{
    char c[INET6_ADDRSTRLEN], s[64];
    snprintf(buf, len, "%s -> %s", addr_text(p->key.ip_version, p->key.client, c, sizeof(c)),
             endpoint_text(p->key.ip_version, p->key.server, p->key.port, s, sizeof(s)));
    return buf;
}

static void judge_ports(const findings *f, const pair_entry *top, judgement *j)
{
    j->v = V_NO_EVIDENCE;
    j->why[0] = '\0';
    if (!top || !top->iv.peak) {
        snprintf(j->key, sizeof(j->key), "no client port held");
        return;
    }
    char pair[160];
    snprintf(j->key, sizeof(j->key), "peak %llu local ports held at once by %s (%.1f%% of %u-%u)",
             (unsigned long long)top->iv.peak, pair_text(top, pair, sizeof(pair)),
             percent(top->iv.peak, port_range(f)), f->cfg.port_lo, f->cfg.port_hi);
    if (top->iv.peak * 2 < port_range(f))
        return;
    j->v = V_APPLIES;
    snprintf(j->why, sizeof(j->why),
             "at least half of the client's ephemeral ports toward one service: connect() "
             "may fail with EADDRNOTAVAIL; reuse connections (keep-alive, pools), widen "
             "ip_local_port_range, or spread over more server addresses or ports");
}

static void write_ports(findings *f, int precision, FILE *out)
{
    pair_entry **v = pairs_sorted(f);
    judgement j;
    judge_ports(f, v ? v[0] : NULL, &j);
    write_heading(out, 2, "Port pressure per client IP -> server IP:port", &j);
    fprintf(out,
            "\nA client's local port is held from the connection's first packet until its "
            "TIME_WAIT ends (or its last packet when it held no TIME_WAIT); port range %u-%u "
            "(%llu ports). %u pairs, the %d busiest shown.\n",
            f->cfg.port_lo, f->cfg.port_hi, (unsigned long long)port_range(f), f->n_pairs,
            SHOWN_MAX);
    if (v) {
        fprintf(out, "\n| client -> server | peak ports | share | at |\n|---|---|---|---|\n");
        for (uint32_t i = 0; i < f->n_pairs && i < SHOWN_MAX; i++) {
            char pair[160], when[80];
            fprintf(out, "| %s | %llu | %.1f%% | %s |\n", pair_text(v[i], pair, sizeof(pair)),
                    (unsigned long long)v[i]->iv.peak, percent(v[i]->iv.peak, port_range(f)),
                    when_text(v[i]->iv.peak_at, precision, when, sizeof(when)));
        }
    }
    if (f->pair_rows_left)
        fprintf(out, "\nLeft out: %llu rows of pairs past the first %u pairs.\n",
                (unsigned long long)f->pair_rows_left, TABLE_MAX);
    if (f->port_budget.dropped)
        fprintf(out, "\nLeft out: %llu rows past the first %u intervals (the peaks may be low).\n",
                (unsigned long long)f->port_budget.dropped, IVALS_MAX);
    free(v);
}

/* ---- 3. 4-tuple reuse in TIME_WAIT ------------------------------------------ */

static void judge_reuse(const findings *f, judgement *j)
{
    const duration_series *c = &f->reuse[SIDE_CLIENT], *s = &f->reuse[SIDE_SERVER];
    uint64_t all = c->n + s->n + f->reuse[SIDE_BOTH].n;
    j->v = all ? V_APPLIES : V_NO_EVIDENCE;
    if (all)
        snprintf(j->key, sizeof(j->key),
                 "%llu 4-tuples reused while in TIME_WAIT: %zu by the client, %zu by the "
                 "server, %zu by both",
                 (unsigned long long)all, c->n, s->n, f->reuse[SIDE_BOTH].n);
    else
        snprintf(j->key, sizeof(j->key), "no 4-tuple reused while in TIME_WAIT");
    j->why[0] = '\0';
    if (all)
        snprintf(j->why, sizeof(j->why),
                 "the client reusing its own TIME_WAIT is tcp_tw_reuse (or a client ignoring "
                 "TIME_WAIT): Linux's needs 1 s since the last timestamp, and %llu came within "
                 "1 s; the server's are SYNs accepted into its TIME_WAIT (RFC 6191)",
                 (unsigned long long)f->reuse_client_under_1s);
}

static void write_reuse(const findings *f, int precision, FILE *out)
{
    judgement j;
    judge_reuse(f, &j);
    write_heading(out, 3, "4-tuple reuse while in TIME_WAIT", &j);
    fprintf(out, "\n| TIME_WAIT side | reused | shortest gap | median gap |\n|---|---|---|---|\n");
    static const conn_side sides[] = {SIDE_CLIENT, SIDE_SERVER, SIDE_BOTH};
    for (int i = 0; i < 3; i++) {
        const duration_series *g = &f->reuse[sides[i]];
        char lo[32] = "", med[32] = "";
        if (g->n) {
            report_format_ts(lo, g->min, precision);
            report_format_ts(med, series_median(g), precision);
        }
        fprintf(out, "| %s | %zu | %s%s | %s%s%s |\n", conn_side_name(sides[i]), g->n, lo,
                g->n ? " s" : "", med, g->n ? " s" : "",
                g->n > g->cap ? " (of the first kept)" : "");
    }
    write_examples(&f->ex_reuse[SIDE_CLIENT], "the client reused its TIME_WAIT", out);
    write_examples(&f->ex_reuse[SIDE_SERVER], "a SYN accepted into the server's TIME_WAIT", out);
    write_examples(&f->ex_reuse[SIDE_BOTH], "both in TIME_WAIT", out);
}

/* ---- 4. peak TIME_WAIT per host --------------------------------------------- */

static int cmp_twhost(const void *a, const void *b)
{
    const twhost_entry *x = *(twhost_entry *const *)a, *y = *(twhost_entry *const *)b;
    if (x->iv.peak != y->iv.peak)
        return x->iv.peak < y->iv.peak ? 1 : -1;
    if (x->key.ip_version != y->key.ip_version)
        return x->key.ip_version < y->key.ip_version ? -1 : 1;
    return memcmp(x->key.addr, y->key.addr, sizeof(x->key.addr));
}

/* The hosts, most TIME_WAIT first; as pairs_sorted. */
// NOLINTBEGIN(bugprone-sizeof-expression)
static twhost_entry **twhosts_sorted(const findings *f)
{
    twhost_entry **v = f->n_twhosts ? calloc(SHOWN_MAX, sizeof(*v)) : NULL;
    if (!v)
        return NULL;
    size_t n = 0;
    for (twhost_entry *h = f->twhosts; h; h = h->hh.next)
        offer_top((void **)v, n++, h, cmp_twhost);
    return v;
}
// NOLINTEND(bugprone-sizeof-expression)

static void judge_tw_hosts(const findings *f, const twhost_entry *top, judgement *j)
{
    j->v = V_NO_EVIDENCE;
    j->why[0] = '\0';
    if (!top || !top->iv.peak) {
        snprintf(j->key, sizeof(j->key), "no endpoint entered TIME_WAIT");
        return;
    }
    char a[INET6_ADDRSTRLEN];
    addr_text(top->key.ip_version, top->key.addr, a, sizeof(a));
    long long max = (long long)f->cfg.max_tw_buckets;
    if (max < 0) {
        snprintf(j->key, sizeof(j->key), "peak %llu TIME_WAIT on %s",
                 (unsigned long long)top->iv.peak, a);
        snprintf(j->why, sizeof(j->why),
                 "give --max-tw-buckets N (the host's "
                 "net.ipv4.tcp_max_tw_buckets) to compare");
        return;
    }
    int over = top->iv.peak > (unsigned long long)max;
    j->v = over ? V_APPLIES : V_WOULD_NOT_HELP;
    snprintf(j->key, sizeof(j->key), "peak %llu TIME_WAIT on %s, %s --max-tw-buckets %lld",
             (unsigned long long)top->iv.peak, a, over ? "above" : "within", max);
    snprintf(j->why, sizeof(j->why), "%s",
             over ? "the kernel would have dropped TIME_WAIT sockets: 'TCP: time wait bucket "
                    "table overflow'"
                  : "the table never fills: changing tcp_max_tw_buckets would not help");
}

static void write_tw_hosts(findings *f, int precision, FILE *out)
{
    twhost_entry **v = twhosts_sorted(f);
    judgement j;
    judge_tw_hosts(f, v ? v[0] : NULL, &j);
    write_heading(out, 4, "Peak TIME_WAIT per host", &j);
    if (v) {
        fprintf(out, "\n| host | peak TIME_WAIT | at |\n|---|---|---|\n");
        for (uint32_t i = 0; i < f->n_twhosts && i < SHOWN_MAX; i++) {
            char a[INET6_ADDRSTRLEN], when[80];
            fprintf(out, "| %s | %llu | %s |\n",
                    addr_text(v[i]->key.ip_version, v[i]->key.addr, a, sizeof(a)),
                    (unsigned long long)v[i]->iv.peak,
                    when_text(v[i]->iv.peak_at, precision, when, sizeof(when)));
        }
    }
    if (f->twhost_rows_left)
        fprintf(out, "\nLeft out: %llu TIME_WAIT intervals of hosts past the first %u hosts.\n",
                (unsigned long long)f->twhost_rows_left, TABLE_MAX);
    if (f->tw_budget.dropped)
        fprintf(out,
                "\nLeft out: %llu TIME_WAIT intervals past the first %u (the peaks may be "
                "low).\n",
                (unsigned long long)f->tw_budget.dropped, IVALS_MAX);
    free(v);
}

/* ---- 5. SYN backlog ------------------------------------------------------------ */

/* Does the service show a backlog: overflows, or unanswered SYNs more than
 * 1% of the attempts? */
static int backlogged(const svc_entry *s)
{
    return s->overflows > 0 || s->unanswered * 100 > s->attempts;
}

/* Backlogged first, then the most overflows and unanswered SYNs, then the
 * most attempts. */
static int cmp_svc(const void *a, const void *b)
{
    const svc_entry *x = *(svc_entry *const *)a, *y = *(svc_entry *const *)b;
    if (backlogged(x) != backlogged(y))
        return backlogged(y) - backlogged(x);
    uint64_t px = x->overflows + x->unanswered, py = y->overflows + y->unanswered;
    if (px != py)
        return px < py ? 1 : -1;
    if (x->attempts != y->attempts)
        return x->attempts < y->attempts ? 1 : -1;
    return memcmp(&x->key, &y->key, sizeof(x->key));
}

/* The services in cmp_svc's order (to free); as pairs_sorted. */
// NOLINTBEGIN(bugprone-sizeof-expression)
static svc_entry **svcs_sorted(const findings *f)
{
    svc_entry **v = f->n_svcs ? malloc(f->n_svcs * sizeof(*v)) : NULL;
    if (!v)
        return NULL;
    size_t n = 0;
    for (svc_entry *s = f->svcs; s; s = s->hh.next)
        v[n++] = s;
    qsort(v, n, sizeof(*v), cmp_svc);
    return v;
}
// NOLINTEND(bugprone-sizeof-expression)

static void judge_backlog(const findings *f, const svc_entry *top, judgement *j)
{
    uint64_t attempts = f->other.attempts, unanswered = f->other.unanswered;
    uint64_t overflows = f->other.overflows;
    for (const svc_entry *s = f->svcs; s; s = s->hh.next) {
        attempts += s->attempts;
        unanswered += s->unanswered;
        overflows += s->overflows;
    }
    snprintf(j->key, sizeof(j->key),
             "%llu accept-queue overflows, %llu of %llu connection attempts unanswered (%.1f%%)",
             (unsigned long long)overflows, (unsigned long long)unanswered,
             (unsigned long long)attempts, percent(unanswered, attempts));
    j->why[0] = '\0';
    j->v = top && backlogged(top) ? V_APPLIES : V_NO_EVIDENCE;
    if (j->v == V_NO_EVIDENCE)
        return;
    char s[64];
    snprintf(j->why, sizeof(j->why),
             "busiest %s (%llu overflows, %llu of %llu SYNs unanswered): tcp_max_syn_backlog "
             "/ somaxconn / syncookies worth a look",
             endpoint_text(top->key.ip_version, top->key.addr, top->key.port, s, sizeof(s)),
             (unsigned long long)top->overflows, (unsigned long long)top->unanswered,
             (unsigned long long)top->attempts);
}

static void write_svc_row(const svc_entry *s, const char *name, int precision, FILE *out)
{
    char at[96] = "";
    if (s->rcvd.peak)
        when_text(s->rcvd.peak_at, precision, at, sizeof(at));
    fprintf(out, "| %s | %llu | %llu (%.1f%%) | %llu | %llu | %llu | %llu%s%s |\n", name,
            (unsigned long long)s->attempts, (unsigned long long)s->unanswered,
            percent(s->unanswered, s->attempts), (unsigned long long)s->syn_retransmits,
            (unsigned long long)s->refused, (unsigned long long)s->overflows,
            (unsigned long long)s->rcvd.peak, at[0] ? " at " : "", at);
}

static void write_backlog(findings *f, int precision, FILE *out)
{
    svc_entry **v = svcs_sorted(f);
    judgement j;
    judge_backlog(f, v ? v[0] : NULL, &j);
    write_heading(out, 5, "SYN backlog per server IP:port", &j);
    fprintf(out, "\nAttempts are the rows whose client sent a SYN (all but midstream). Peak "
                 "SYN_RCVD: the most requests the server held at once, each from the SYN to "
                 "the ACK that completed the handshake (to its last packet when none did).\n");
    if (v || f->other.attempts)
        fprintf(out, "\n| server | attempts | unanswered SYNs | SYN retransmits | refused | "
                     "accept-queue overflows | peak SYN_RCVD |\n|---|---|---|---|---|---|---|\n");
    for (uint32_t i = 0; v && i < f->n_svcs && i < SHOWN_MAX; i++) {
        char s[64];
        write_svc_row(
            v[i], endpoint_text(v[i]->key.ip_version, v[i]->key.addr, v[i]->key.port, s, sizeof(s)),
            precision, out);
    }
    if (f->other.attempts) {
        char name[96];
        snprintf(name, sizeof(name), "other (past the first %u services, summed)", TABLE_MAX);
        write_svc_row(&f->other, name, precision, out);
    }
    if (f->n_svcs > SHOWN_MAX)
        fprintf(out, "\n%u more services not shown.\n", f->n_svcs - SHOWN_MAX);
    write_examples(&f->ex_backlog, "unanswered SYNs or accept-queue overflows", out);
    free(v);
}

/* ---- the report ----------------------------------------------------------------- */

int findings_write(findings *f, int precision, FILE *out)
{
    findings_sweep(f);
    fprintf(out,
            "# synfin findings\n\nFrom %llu connection rows. Verdicts: `applies`, "
            "`would not help`, `no evidence`.\n",
            (unsigned long long)f->rows);
    write_close(f, out);
    write_ports(f, precision, out);
    write_reuse(f, precision, out);
    write_tw_hosts(f, precision, out);
    write_backlog(f, precision, out);
    waits_write(f, precision, out);
    nat_write(f->nat, precision, out);
    return ferror(out) ? -1 : 0;
}

void short_line(FILE *out, int n, const char *name, const judgement *j)
{
    fprintf(out, "  %d %-22s %-15s %s\n", n, name, verdict_name[j->v], j->key);
}

void findings_write_short(findings *f, FILE *out)
{
    findings_sweep(f);
    judgement j;
    fprintf(out, "findings (--findings FILE for the numbers and examples):\n");
    judge_close(f, &j);
    short_line(out, 1, "close / TIME_WAIT", &j);
    pair_entry **p = pairs_sorted(f);
    judge_ports(f, p ? p[0] : NULL, &j);
    free(p);
    short_line(out, 2, "port pressure", &j);
    judge_reuse(f, &j);
    short_line(out, 3, "TIME_WAIT reuse", &j);
    twhost_entry **h = twhosts_sorted(f);
    judge_tw_hosts(f, h ? h[0] : NULL, &j);
    free(h);
    short_line(out, 4, "TIME_WAIT per host", &j);
    svc_entry **s = svcs_sorted(f);
    judge_backlog(f, s ? s[0] : NULL, &j);
    free(s);
    short_line(out, 5, "SYN backlog", &j);
    waits_write_short(f, out);
    nat_write_short(f->nat, out);
}
