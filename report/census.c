/*
 * census.c: the census over time (SPEC §6), from the changes the replay
 * tells (flows_set_census). Counts per host and state are kept live; at
 * each census moment (t0 + k * interval, and the --at moments) the hosts
 * that changed are written to a temporary file, read back at the end by
 * census_out.c (census_int.h says why).
 *
 * Changes come nearly in time order (flows.h): one at or before the next
 * moment counts at once; a later one waits in `pending` until that moment
 * is committed, which happens when a mark says every change up to it has
 * been told.
 */
#include "census_int.h"

#include <errno.h>

report_census *report_census_new(const report_census_config *cfg, FILE *csv, FILE *at_out)
{
    report_census *rc = calloc(1, sizeof(*rc));
    if (!rc)
        return NULL;
    rc->cfg = *cfg;
    rc->csv = csv;
    rc->at_out = at_out;
    rc->next = INT64_MAX;
    rc->last = INT64_MIN;
    rc->overflow.idx = CENSUS_OVERFLOW;
    /* An array of pointers to hosts: sizeof of a pointer is meant. */
    rc->by_idx = calloc(HOSTS_MAX + 1, sizeof(*rc->by_idx)); // NOLINT(bugprone-sizeof-expression)
    rc->at = calloc(cfg->n_at + 1, sizeof(*rc->at));
    if (rc->by_idx)
        rc->by_idx[CENSUS_OVERFLOW] = &rc->overflow;
    if (rc->by_idx && report_census_over_time(rc))
        rc->tmp = tmpfile();
    if (!rc->by_idx || !rc->at || (report_census_over_time(rc) && !rc->tmp)) {
        report_census_free(rc);
        return NULL;
    }
    return rc;
}

void report_census_free(report_census *rc)
{
    if (!rc)
        return;
    host_table_free(&rc->hosts);
    struct census_listener *l, *ltmp;
    /* uthash's documented way to empty a table (see hosts.c). */
    // NOLINTBEGIN(clang-analyzer-unix.Malloc)
    HASH_ITER(hh, rc->listeners, l, ltmp)
    {
        HASH_DEL(rc->listeners, l);
        free(l);
    }
    // NOLINTEND(clang-analyzer-unix.Malloc)
    aid_free(&rc->listen_aid);
    if (rc->tmp)
        (void)fclose(rc->tmp); /* a temporary file, read and done with */
    free(rc->by_idx);
    free(rc->at);
    free(rc->dirty);
    free(rc->pending);
    free(rc);
}

uint64_t report_census_late(const report_census *rc)
{
    return rc->late;
}

const report_census_config *report_census_get_config(const report_census *rc)
{
    return &rc->cfg;
}

/* The k-th moment over time, t0 + k * interval (k >= 1); INT64_MAX past
 * CENSUS_MOMENTS_MAX or past the clock's range. */
static int64_t nth_moment(const report_census_config *cfg, int64_t t0, uint64_t k)
{
    if (k > CENSUS_MOMENTS_MAX || (uint64_t)(INT64_MAX - t0) / (uint64_t)cfg->interval < k)
        return INT64_MAX;
    return t0 + (int64_t)k * cfg->interval;
}

int64_t report_census_moment_after(const report_census_config *cfg, int moments_over_time,
                                   int64_t t0, int64_t ts)
{
    int64_t best = INT64_MAX;
    for (size_t i = 0; i < cfg->n_at; i++) {
        int64_t a = cfg->at[i] + (cfg->at_rel && cfg->at_rel[i] ? t0 : 0);
        if (a > ts && a < best)
            best = a;
    }
    if (moments_over_time && ts >= t0) {
        int64_t m = nth_moment(cfg, t0, (uint64_t)(ts - t0) / (uint64_t)cfg->interval + 1);
        best = m < best ? m : best;
    }
    return best;
}

/* ---- hosts ---------------------------------------------------------------- */

/* The host of this address (fp: host_fp of it); the overflow past
 * HOSTS_MAX hosts. */
static census_host *host_of_fp(report_census *rc, uint8_t ip_version, const uint8_t *addr,
                               uint64_t fp)
{
    int added;
    census_host *h = (census_host *)host_table_get_fp(&rc->hosts, ip_version, addr, fp,
                                                      sizeof(census_host), &added);
    if (!h)
        return &rc->overflow;
    if (added) {
        h->idx = rc->n_hosts++;
        rc->by_idx[h->idx] = h;
    }
    return h;
}

census_host *census_host_of(report_census *rc, uint8_t ip_version, const uint8_t *addr)
{
    return host_of_fp(rc, ip_version, addr, host_fp(ip_version, addr));
}

void census_mark_dirty(report_census *rc, census_host *h)
{
    if (h->dirty == rc->moments + 1)
        return;
    if (rc->n_dirty == rc->cap_dirty) {
        uint32_t cap = rc->cap_dirty ? rc->cap_dirty * 2 : 256;
        census_host **d =
            realloc(rc->dirty, cap * sizeof(*d)); // NOLINT(bugprone-sizeof-expression)
        if (!d) {
            rc->failed = rc->failed ? rc->failed : ENOMEM;
            return;
        }
        rc->dirty = d;
        rc->cap_dirty = cap;
    }
    h->dirty = (uint32_t)(rc->moments + 1);
    rc->dirty[rc->n_dirty++] = h;
}

/* Counts a change now. */
static void apply(report_census *rc, census_host *h, uint8_t from, uint8_t to)
{
    if (from != CONN_CLOSED) {
        h->n[from]--;
        h->open--;
        rc->all[from]--;
    }
    if (to != CONN_CLOSED) {
        h->n[to]++;
        h->open++;
        rc->all[to]++;
    }
    census_mark_dirty(rc, h);
}

int census_new_listener(report_census *rc, const service_key *key)
{
    service_key k = *key;
    struct census_listener *l;
    uint32_t known = rc->n_listeners;
    /* A listener is told again when the worker's cache of those told has
     * let it go (and by each shard's ticks): the aid finds it in one load. */
    TABLE_GET_AID(rc->listeners, rc->n_listeners, LISTEN_MAX, struct census_listener, k, l,
                  &rc->listen_aid);
    if (!l) {
        rc->listen_untold++;
        return 0;
    }
    return rc->n_listeners != known; /* counted the first time only */
}

/* A listener first seen accepting: LISTEN +1 on its host, once ever. */
static int new_listener(report_census *rc, const flows_change *ch)
{
    service_key k;
    memset(&k, 0, sizeof(k));
    memcpy(k.addr, ch->addr, addr_len(ch->ip_version));
    k.port = ch->port;
    k.ip_version = ch->ip_version;
    return census_new_listener(rc, &k);
}

/* ---- moments ---------------------------------------------------------------- */

int report_census_over_time(const report_census *rc)
{
    return rc->csv || rc->cfg.plot;
}

/* The next moment over time: the one after the `moments` written. */
static int64_t moment_over_time(const report_census *rc)
{
    if (!report_census_over_time(rc))
        return INT64_MAX;
    return nth_moment(&rc->cfg, rc->t0, rc->moments + 1);
}

void census_set_next(report_census *rc)
{
    int64_t a = rc->at_i < rc->cfg.n_at ? rc->at[rc->at_i] : INT64_MAX;
    int64_t b = moment_over_time(rc);
    rc->next = a < b ? a : b;
}

/* The --at moments in time order, once t0 is known. */
void census_sort_at(report_census *rc)
{
    for (size_t i = 0; i < rc->cfg.n_at; i++)
        rc->at[i] = rc->cfg.at[i] + (rc->cfg.at_rel && rc->cfg.at_rel[i] ? rc->t0 : 0);
    if (rc->cfg.n_at)
        qsort(rc->at, rc->cfg.n_at, sizeof(*rc->at), cmp_i64);
}

/* The moment over time `next` is written: the hosts changed since. */
static void write_moment(report_census *rc)
{
    for (uint32_t i = 0; i < rc->n_dirty; i++) {
        census_host *h = rc->dirty[i];
        if (h->open > h->peak)
            h->peak = h->open;
        census_rec r = {.host = h->idx};
        memcpy(r.n, h->n, sizeof(r.n));
        if (fwrite(&r, sizeof(r), 1, rc->tmp) != 1 && !rc->failed)
            rc->failed = errno ? errno : EIO;
    }
    census_rec end = {.host = CENSUS_END};
    if (fwrite(&end, sizeof(end), 1, rc->tmp) != 1 && !rc->failed)
        rc->failed = errno ? errno : EIO;
}

/* Commits the moment rc->next: every change up to it is counted. */
static void commit(report_census *rc)
{
    int64_t m = rc->next;
    int over_time = m == moment_over_time(rc);
    while (rc->at_i < rc->cfg.n_at && rc->at[rc->at_i] == m) {
        census_print_at(rc, m, 0);
        rc->at_i++;
    }
    if (over_time) {
        write_moment(rc);
        rc->moments++;
        rc->n_dirty = 0;
    }
    rc->last = m;
    census_set_next(rc);
}

/* Counts the pending changes at or before rc->next; keeps the others. */
static void apply_pending(report_census *rc)
{
    size_t keep = 0;
    for (size_t i = 0; i < rc->n_pending; i++) {
        census_pending *p = &rc->pending[i];
        if (p->ts <= rc->next)
            apply(rc, p->h, p->from, p->to);
        else
            rc->pending[keep++] = *p;
    }
    rc->n_pending = keep;
}

/* Every change at or before ts has been told: commits the moments by then. */
static void advance_to(report_census *rc, int64_t ts)
{
    while (rc->started && rc->next <= ts) {
        apply_pending(rc);
        commit(rc);
    }
}

static void start(report_census *rc, int64_t ts)
{
    rc->started = 1;
    rc->t0 = ts;
    census_sort_at(rc);
    /* --at moments before the first packet: the census is empty then. */
    census_set_next(rc);
    advance_to(rc, ts - 1);
}

int census_pend(report_census *rc, census_pending p)
{
    if (rc->n_pending == rc->cap_pending) {
        size_t cap = rc->cap_pending ? rc->cap_pending * 2 : 1024;
        census_pending *v = realloc(rc->pending, cap * sizeof(*v));
        if (!v)
            return -1;
        rc->pending = v;
        rc->cap_pending = cap;
    }
    rc->pending[rc->n_pending++] = p;
    return 0;
}

static void hold(report_census *rc, const flows_change *ch, census_host *h, uint8_t from,
                 uint8_t to)
{
    if (!rc->started || ch->ts <= rc->next) {
        if (rc->started && ch->ts <= rc->last)
            rc->late++;
        apply(rc, h, from, to);
        return;
    }
    if (census_pend(rc, (census_pending){ch->ts, h, from, to}) < 0)
        apply(rc, h, from, to); /* counted early rather than not at all */
}

uint64_t report_census_key(const flows_change *ch)
{
    return ch->kind == FLOWS_CHANGE_STATE ? host_fp(ch->ip_version, ch->addr) : 0;
}

void report_census_prefetch(const report_census *rc, uint64_t key, int stage)
{
    if (!key)
        return;
    if (stage == 0)
        host_table_prefetch_slot(&rc->hosts, key);
    else
        host_table_prefetch(&rc->hosts, key);
}

int64_t report_census_change_key(report_census *rc, const flows_change *ch, uint64_t key)
{
    switch (ch->kind) {
    case FLOWS_CHANGE_START:
        if (!rc->started)
            start(rc, ch->ts);
        break;
    case FLOWS_CHANGE_MARK:
        advance_to(rc, ch->ts);
        break;
    case FLOWS_CHANGE_STATE:
        if (ch->from != ch->to)
            hold(rc, ch, host_of_fp(rc, ch->ip_version, ch->addr, key), ch->from, ch->to);
        break;
    case FLOWS_CHANGE_LISTEN:
        if (new_listener(rc, ch))
            hold(rc, ch, census_host_of(rc, ch->ip_version, ch->addr), CONN_CLOSED, CONN_LISTEN);
        break;
    }
    return rc->next;
}

int64_t report_census_change(void *ctx, const flows_change *ch)
{
    return report_census_change_key(ctx, ch, report_census_key(ch));
}

int report_census_finish(report_census *rc, int64_t capture_end)
{
    if (rc->started) {
        advance_to(rc, capture_end);
        if (rc->moments >= CENSUS_MOMENTS_MAX) /* rows left out: said even with -q */
            fprintf(stderr,
                    "synfin: census: the capture spans %.0f s: the census over time stops "
                    "after %u moments (%.0f s at --interval); a longer --interval covers more\n",
                    (double)(capture_end - rc->t0) / 1e9, CENSUS_MOMENTS_MAX,
                    (double)CENSUS_MOMENTS_MAX * (double)rc->cfg.interval / 1e9);
        /* --at moments after the capture: the census as it ended. */
        while (rc->at_i < rc->cfg.n_at) {
            rc->next = rc->at[rc->at_i];
            apply_pending(rc);
            census_print_at(rc, rc->next, 1);
            rc->at_i++;
        }
    } else if (rc->cfg.n_at && rc->at_out) {
        fprintf(rc->at_out, "census: no packet, no census at the --at moments\n");
    }
    return census_write_all(rc);
}
