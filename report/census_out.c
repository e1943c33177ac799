/*
 * census_out.c: what the census writes: the --at tables (live counts), and
 * at the end the CSV over time, read back from census.c's temporary file
 * with the busiest hosts known (census_int.h).
 */
#include "census_int.h"
#include "plot.h"

#include <errno.h>

#include <arpa/inet.h>
#include <sys/socket.h>

/* The states in the census's order (the CSV's columns): all but CLOSED. */
#define FIRST_STATE CONN_LISTEN

const char *census_host_text(const census_host *h, char *buf, size_t len)
{
    if (h->idx == CENSUS_OVERFLOW) {
        snprintf(buf, len, "other");
        return buf;
    }
    return addr_text(h->head.key.ip_version, h->head.key.addr, buf, len);
}

/* ---- --at ------------------------------------------------------------------- */

static void print_counts(FILE *f, const char *who, const int32_t *n)
{
    fprintf(f, "  %-40s", who);
    for (int s = FIRST_STATE; s < CONN_STATE_COUNT; s++)
        if (n[s] > 0)
            fprintf(f, " %s %d", conn_state_name((conn_state)s), n[s]);
    fputc('\n', f);
}

static int more_open(const void *a, const void *b)
{
    const census_host *x = *(census_host *const *)a, *y = *(census_host *const *)b;
    if (x->open != y->open)
        return x->open > y->open ? -1 : 1;
    return (x->idx > y->idx) - (x->idx < y->idx);
}

/* The census at ts, as netstat would count it on each host: all hosts,
 * then the HOSTS_SHOWN with the most open, then the rest summed. */
void census_print_at(report_census *rc, int64_t ts, int after_end)
{
    FILE *f = rc->at_out;
    if (!f)
        return;
    char when[96];
    fprintf(f, "census at %s%s:\n", when_text(ts, rc->cfg.precision, when, sizeof(when)),
            after_end ? ", after the capture's last packet: as it ended" : "");
    print_counts(f, "all hosts", rc->all);
    census_host **open =
        malloc((size_t)rc->n_hosts * sizeof(*open) + 1); // NOLINT(bugprone-sizeof-expression)
    uint32_t n = 0;
    for (uint32_t i = 0; open && i < rc->n_hosts; i++)
        if (rc->by_idx[i]->open)
            open[n++] = rc->by_idx[i];
    if (open)
        qsort(open, n, sizeof(*open), more_open); // NOLINT(bugprone-sizeof-expression)
    int32_t rest[CONN_STATE_COUNT] = {0};
    uint32_t n_rest = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (i < HOSTS_SHOWN) {
            char a[INET6_ADDRSTRLEN];
            print_counts(f, census_host_text(open[i], a, sizeof(a)), open[i]->n);
            continue;
        }
        n_rest++;
        for (int s = 0; s < CONN_STATE_COUNT; s++)
            rest[s] += open[i]->n[s];
    }
    if (rc->overflow.open) {
        n_rest++;
        for (int s = 0; s < CONN_STATE_COUNT; s++)
            rest[s] += rc->overflow.n[s];
    }
    if (n_rest) {
        char who[64];
        snprintf(who, sizeof(who), "other (%u hosts)", n_rest);
        print_counts(f, who, rest);
    }
    free(open);
}

/* ---- the CSV over time ---------------------------------------------------- */

static int busier(const void *a, const void *b)
{
    const census_host *x = *(census_host *const *)a, *y = *(census_host *const *)b;
    if (x->peak != y->peak)
        return x->peak > y->peak ? -1 : 1;
    return (x->idx > y->idx) - (x->idx < y->idx);
}

static int any(const int32_t *n)
{
    for (int s = FIRST_STATE; s < CONN_STATE_COUNT; s++)
        if (n[s] > 0)
            return 1;
    return 0;
}

/* Appends ",v" (v >= 0; a negative count, which a sound census never
 * has, as 0). */
static char *put_count(char *p, int32_t v)
{
    char d[12];
    int k = 0;
    uint32_t u = v > 0 ? (uint32_t)v : 0;
    do
        d[k++] = (char)('0' + u % 10);
    while ((u /= 10) != 0);
    *p++ = ',';
    while (k)
        *p++ = d[--k];
    return p;
}

/* One row, formatted by hand and written at once: fprintf per field was
 * a third of the census's instructions on the bench trace. ts is at most 31
 * characters (report_format_ts into 32 bytes), who an address, `*` or
 * `other`. */
static void csv_row(FILE *f, const char *ts, const char *who, const int32_t *n)
{
    char line[32 + INET6_ADDRSTRLEN + 12 * CONN_STATE_COUNT + 2];
    size_t lt = strnlen(ts, 31), lw = strnlen(who, INET6_ADDRSTRLEN - 1);
    char *p = line;
    memcpy(p, ts, lt);
    p += lt;
    *p++ = ',';
    memcpy(p, who, lw);
    p += lw;
    for (int s = FIRST_STATE; s < CONN_STATE_COUNT; s++)
        p = put_count(p, n[s]);
    *p++ = '\n';
    (void)fwrite(line, 1, (size_t)(p - line), f); /* errors: ferror at the end */
}

/* What the read-back keeps: every host's counts as of the moment read, the
 * sums of all and of the hosts without rows of their own. */
typedef struct readback {
    int32_t (*cur)[CONN_STATE_COUNT]; /* by host index; HOSTS_MAX: overflow */
    int32_t all[CONN_STATE_COUNT], other[CONN_STATE_COUNT];
    int32_t *rank; /* by host index: its place among the busiest, or -1 */
    census_host **top;
    char (*top_text)[INET6_ADDRSTRLEN]; /* their addresses, written once */
    uint32_t n_top;
} readback;

static int readback_init(report_census *rc, readback *b)
{
    memset(b, 0, sizeof(*b));
    b->cur = calloc(HOSTS_MAX + 1, sizeof(*b->cur));
    b->rank = malloc((HOSTS_MAX + 1) * sizeof(*b->rank));
    b->top =
        malloc(((size_t)rc->n_hosts + 1) * sizeof(*b->top)); // NOLINT(bugprone-sizeof-expression)
    if (!b->cur || !b->rank || !b->top)
        return -1;
    for (uint32_t i = 0; i <= HOSTS_MAX; i++)
        b->rank[i] = -1;
    for (uint32_t i = 0; i < rc->n_hosts; i++)
        b->top[i] = rc->by_idx[i];
    qsort(b->top, rc->n_hosts, sizeof(*b->top), busier); // NOLINT(bugprone-sizeof-expression)
    b->n_top = rc->n_hosts < rc->cfg.max_hosts ? rc->n_hosts : rc->cfg.max_hosts;
    while (b->n_top && b->top[b->n_top - 1]->peak == 0)
        b->n_top--; /* never open at a moment: no rows of its own */
    /* An address as text costs as much as the rest of a row (inet_ntop):
     * once per host, not once per row. */
    b->top_text = malloc(((size_t)b->n_top + 1) * sizeof(*b->top_text));
    if (!b->top_text)
        return -1;
    for (uint32_t i = 0; i < b->n_top; i++) {
        b->rank[b->top[i]->idx] = (int32_t)i;
        census_host_text(b->top[i], b->top_text[i], sizeof(b->top_text[i]));
    }
    return 0;
}

static void readback_free(readback *b)
{
    free(b->cur);
    free(b->rank);
    free(b->top);
    free(b->top_text);
}

/* One host's counts as of the moment being read. */
static void readback_apply(readback *b, const census_rec *r)
{
    uint32_t h = r->host > HOSTS_MAX ? HOSTS_MAX : r->host;
    for (int s = 0; s < CONN_STATE_COUNT; s++) {
        int32_t d = r->n[s] - b->cur[h][s];
        b->all[s] += d;
        if (b->rank[h] < 0)
            b->other[s] += d;
        b->cur[h][s] = r->n[s];
    }
}

/* The rows of moment k: `*`, the busiest hosts open then, `other`. */
static void write_rows(report_census *rc, readback *b, uint64_t k)
{
    char ts[32];
    report_format_ts(ts, rc->t0 + (int64_t)k * rc->cfg.interval, rc->cfg.precision);
    csv_row(rc->csv, ts, "*", b->all);
    for (uint32_t i = 0; i < b->n_top; i++) {
        const int32_t *n = b->cur[b->top[i]->idx];
        if (any(n))
            csv_row(rc->csv, ts, b->top_text[i], n);
    }
    if (any(b->other))
        csv_row(rc->csv, ts, "other", b->other);
}

static void write_header(FILE *f)
{
    fputs("ts,host", f);
    for (int s = FIRST_STATE; s < CONN_STATE_COUNT; s++)
        fprintf(f, ",%s", conn_state_name((conn_state)s));
    fputc('\n', f);
}

/* The host --plot draws: --plot-host, or the busiest; NULL when none. */
static const census_host *plot_host(report_census *rc, const readback *b)
{
    const char *want = rc->cfg.plot_host;
    if (!want)
        return b->n_top ? b->top[0] : NULL;
    uint8_t addr[16] = {0};
    uint8_t v = strchr(want, ':') ? 6 : 4;
    if (inet_pton(v == 4 ? AF_INET : AF_INET6, want, addr) != 1)
        return NULL;
    host_key k = host_key_of(v, addr);
    for (uint32_t i = 0; i < rc->n_hosts; i++)
        if (memcmp(&rc->by_idx[i]->head.key, &k, sizeof(k)) == 0)
            return rc->by_idx[i];
    return NULL;
}

/* Draws the series gathered; returns 0, or -1 after a message. */
static int draw(report_census *rc, const census_host *h, const plot_point *pts, size_t n)
{
    char who[INET6_ADDRSTRLEN + 16], err[512];
    if (h)
        census_host_text(h, who, sizeof(who));
    else
        snprintf(who, sizeof(who), "%s", rc->cfg.plot_host ? rc->cfg.plot_host : "no host");
    if (!h)
        fprintf(stderr, "synfin: --plot: %s has no endpoint in the capture: its chart is empty\n",
                who);
    if (plot_census(rc->cfg.plot, who, pts, h ? n : 0, err, sizeof(err)) < 0) {
        fprintf(stderr, "synfin: %s\n", err);
        return -1;
    }
    return 0;
}

int census_write_all(report_census *rc)
{
    if (!rc->tmp)
        return 0;
    readback b;
    int ok = readback_init(rc, &b) == 0 && !rc->failed && fflush(rc->tmp) == 0 &&
             fseek(rc->tmp, 0, SEEK_SET) == 0;
    if (ok && rc->csv)
        write_header(rc->csv);
    const census_host *ph = ok && rc->cfg.plot ? plot_host(rc, &b) : NULL;
    plot_point *pts = ph ? calloc(rc->moments - rc->moments0 + 1, sizeof(*pts)) : NULL;
    if (ph && !pts)
        ok = 0;
    census_rec buf[1024]; /* read in blocks: fread per record was dear */
    size_t n_buf = 0, i_buf = 0;
    uint64_t k = rc->moments0 + 1; /* the moments before, an earlier run wrote */
    while (ok) {
        if (i_buf == n_buf) {
            n_buf = fread(buf, sizeof(*buf), sizeof(buf) / sizeof(*buf), rc->tmp);
            i_buf = 0;
            if (n_buf == 0)
                break;
        }
        const census_rec *r = &buf[i_buf++];
        if (r->host != CENSUS_END) {
            readback_apply(&b, r);
            continue;
        }
        if (rc->csv)
            write_rows(rc, &b, k);
        if (pts && k <= rc->moments) {
            plot_point *pt = &pts[k - rc->moments0 - 1];
            pt->ts = rc->t0 + (int64_t)k * rc->cfg.interval;
            for (int st = FIRST_STATE; st < CONN_STATE_COUNT; st++) {
                int32_t v = b.cur[ph->idx][st];
                pt->n[st] = v > 0 ? (uint32_t)v : 0;
            }
        }
        k++;
    }
    if (ok && ferror(rc->tmp))
        ok = 0;
    int err = rc->failed ? rc->failed : errno;
    readback_free(&b);
    int drawn = ok && rc->cfg.plot ? draw(rc, ph, pts, k - 1 - rc->moments0) : 0;
    free(pts);
    if (drawn < 0)
        return -1;
    if (!ok) {
        fprintf(stderr, "synfin: census: %s\n", strerror(err ? err : EIO));
        return -1;
    }
    if (rc->csv && (fflush(rc->csv) != 0 || ferror(rc->csv))) {
        fprintf(stderr, "synfin: %s: %s\n", rc->cfg.census_name ? rc->cfg.census_name : "census",
                strerror(errno ? errno : EIO));
        return -1;
    }
    return 0;
}
