/*
 * census_state.c: the census across incremental runs (--state-out,
 * --state-in; README "Processing an archive").
 *
 * The next run goes on with the same moments (t0 and --interval), every
 * host's counts as the last run left them (each written again at the next
 * run's first moment, so that its CSV starts from them), the listeners seen
 * (LISTEN counts each once), and the changes held for a moment not yet
 * committed. Which hosts are the busiest, and so which have rows of their
 * own, is decided per run, as the plot is drawn per run.
 */
#include "census_int.h"

#define CENSUS_STATE_TAG UINT64_C(0x3153555343534e59) /* "YNSCSUS1" */

typedef struct census_image {
    int64_t interval, t0, last;
    uint32_t over_time, started;
    uint64_t moments, late, listen_untold;
    uint64_t n_hosts, n_listeners, n_pending;
    int32_t overflow[CONN_STATE_COUNT];
} census_image;

typedef struct host_image {
    host_key key;
    int32_t n[CONN_STATE_COUNT];
} host_image;

typedef struct pending_image {
    int64_t ts;
    host_key key;
    uint8_t from, to, overflow, pad[5];
} pending_image;

static int any_count(const int32_t *n)
{
    for (int s = 0; s < CONN_STATE_COUNT; s++)
        if (n[s])
            return 1;
    return 0;
}

/* ---- saving ------------------------------------------------------------- */

static void save(const report_census *rc, flows_buf *b)
{
    census_image m;
    memset(&m, 0, sizeof(m));
    m.interval = rc->cfg.interval;
    m.t0 = rc->t0;
    m.last = rc->last;
    m.over_time = (uint32_t)report_census_over_time(rc);
    m.started = (uint32_t)rc->started;
    m.moments = rc->moments;
    m.late = rc->late;
    m.listen_untold = rc->listen_untold;
    for (uint32_t i = 0; i < rc->n_hosts; i++)
        m.n_hosts += any_count(rc->by_idx[i]->n);
    m.n_listeners = rc->n_listeners;
    m.n_pending = rc->n_pending;
    memcpy(m.overflow, rc->overflow.n, sizeof(m.overflow));
    const uint64_t tag = CENSUS_STATE_TAG;
    flows_buf_put(b, &tag, sizeof(tag));
    flows_buf_put(b, &m, sizeof(m));
    for (uint32_t i = 0; i < rc->n_hosts; i++) {
        const census_host *h = rc->by_idx[i];
        if (!any_count(h->n))
            continue;
        host_image hi;
        memset(&hi, 0, sizeof(hi));
        hi.key = h->head.key;
        memcpy(hi.n, h->n, sizeof(hi.n));
        flows_buf_put(b, &hi, sizeof(hi));
    }
    for (const struct census_listener *l = rc->listeners; l; l = l->hh.next)
        flows_buf_put(b, &l->key, sizeof(l->key));
    for (size_t i = 0; i < rc->n_pending; i++) {
        const census_pending *p = &rc->pending[i];
        pending_image pi;
        memset(&pi, 0, sizeof(pi));
        pi.ts = p->ts;
        pi.from = p->from;
        pi.to = p->to;
        pi.overflow = p->h->idx == CENSUS_OVERFLOW;
        if (!pi.overflow)
            pi.key = p->h->head.key;
        flows_buf_put(b, &pi, sizeof(pi));
    }
}

int report_census_finish_save(report_census *rc, flows_buf *b)
{
    save(rc, b);
    for (; rc->at_i < rc->cfg.n_at; rc->at_i++) {
        char when[96];
        fprintf(stderr,
                "synfin: census: --at %s is after the last moment this run could count: "
                "give it to the run that reads its --state-out\n",
                when_text(rc->started ? rc->at[rc->at_i] : rc->cfg.at[rc->at_i], rc->cfg.precision,
                          when, sizeof(when)));
    }
    int r = census_write_all(rc);
    return b->failed ? -1 : r;
}

/* ---- loading ------------------------------------------------------------ */

/* An address synfin would have written (IPv4 or IPv6). */
static int sound_key(const host_key *k)
{
    return k->ip_version == 4 || k->ip_version == 6;
}

static census_host *host_at(report_census *rc, const host_key *k)
{
    return census_host_of(rc, k->ip_version, k->addr);
}

static int load_hosts(report_census *rc, const census_image *m, flows_buf *b)
{
    for (uint64_t i = 0; i < m->n_hosts; i++) {
        host_image hi;
        if (flows_buf_get(b, &hi, sizeof(hi)) < 0 || !sound_key(&hi.key))
            return -1;
        census_host *h = host_at(rc, &hi.key);
        for (int s = 0; s < CONN_STATE_COUNT; s++) {
            h->n[s] += hi.n[s];
            h->open += (uint32_t)hi.n[s];
        }
        census_mark_dirty(rc, h);
    }
    for (int s = 0; s < CONN_STATE_COUNT; s++) {
        rc->overflow.n[s] += m->overflow[s];
        rc->overflow.open += (uint32_t)m->overflow[s];
    }
    if (any_count(rc->overflow.n))
        census_mark_dirty(rc, &rc->overflow);
    return 0;
}

static int load_rest(report_census *rc, const census_image *m, flows_buf *b)
{
    for (uint64_t i = 0; i < m->n_listeners; i++) {
        service_key k;
        if (flows_buf_get(b, &k, sizeof(k)) < 0)
            return -1;
        (void)census_new_listener(rc, &k);
    }
    for (uint64_t i = 0; i < m->n_pending; i++) {
        pending_image pi;
        if (flows_buf_get(b, &pi, sizeof(pi)) < 0 || pi.from >= CONN_STATE_COUNT ||
            pi.to >= CONN_STATE_COUNT || (!pi.overflow && !sound_key(&pi.key)))
            return -1;
        census_host *h = pi.overflow ? &rc->overflow : host_at(rc, &pi.key);
        if (census_pend(rc, (census_pending){pi.ts, h, pi.from, pi.to}) < 0)
            return -1;
    }
    return 0;
}

/* The --at moments the run that wrote the state has passed: said, skipped. */
static void skip_at_passed(report_census *rc)
{
    for (; rc->at_i < rc->cfg.n_at && rc->at[rc->at_i] <= rc->last; rc->at_i++) {
        char when[96];
        fprintf(stderr,
                "synfin: census: --at %s is before the end of the --state-in run: the run "
                "that wrote it printed it\n",
                when_text(rc->at[rc->at_i], rc->cfg.precision, when, sizeof(when)));
    }
}

int report_census_load(report_census *rc, flows_buf *b, char *err, size_t errlen)
{
    uint64_t tag;
    census_image m;
    if (flows_buf_get(b, &tag, sizeof(tag)) < 0 || tag != CENSUS_STATE_TAG ||
        flows_buf_get(b, &m, sizeof(m)) < 0)
        return snprintf(err, errlen, "no census state where one should be"), -1;
    if (m.interval != rc->cfg.interval || m.over_time != (uint32_t)report_census_over_time(rc))
        return snprintf(err, errlen,
                        "written with another --interval, or %s --census or --plot: the "
                        "census needs the same ones in every run",
                        m.over_time ? "with" : "without"),
               -1;
    rc->started = m.started != 0;
    rc->t0 = m.t0;
    rc->last = m.last;
    rc->moments = rc->moments0 = m.moments;
    rc->late = m.late;
    rc->listen_untold = m.listen_untold;
    if (load_hosts(rc, &m, b) < 0 || load_rest(rc, &m, b) < 0 || rc->failed)
        return snprintf(err, errlen, "damaged census state (or out of memory)"), -1;
    for (int s = 0; s < CONN_STATE_COUNT; s++) {
        rc->all[s] = rc->overflow.n[s];
        for (uint32_t i = 0; i < rc->n_hosts; i++)
            rc->all[s] += rc->by_idx[i]->n[s];
    }
    if (rc->started) {
        census_sort_at(rc);
        skip_at_passed(rc);
        census_set_next(rc);
    }
    return 0;
}

int report_census_resumed(const report_census *rc, int64_t *t0, int64_t *last)
{
    if (!rc->started)
        return 0;
    *t0 = rc->t0;
    *last = rc->last;
    return 1;
}
