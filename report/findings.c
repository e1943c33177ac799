/*
 * findings.c: what the rows say, with a verdict (README "Findings"):
 *
 *   1. who closes first and who holds TIME_WAIT (tcp_tw_reuse or not);
 *   2. port pressure per client IP -> server IP:port: the peak of local
 *      ports held at once, against --port-range;
 *   3. 4-tuples reused while in TIME_WAIT, by side, with their gaps;
 *   4. the peak of TIME_WAIT per host, against --max-tw-buckets;
 *   5. the SYN backlog per server IP:port (unanswered SYNs, accept-queue
 *      overflows);
 *   6.-8. keepalive probes and idle gaps, CLOSE_WAIT, FIN_WAIT2 (collected,
 *      judged and written by findings_wait.c);
 *   9. TCP timestamps going backwards from one client address (NAT) and
 *      tcp_tw_recycle: told by the replay, not the rows (findings_nat.c).
 *
 * This file collects: rows come in as they are written (findings_add); the
 * two peaks are sweeps over the stored intervals at the end. Memory is
 * bounded: at most IVALS_MAX intervals per sweep and TABLE_MAX entries per
 * table (uthash); what is left out past them is counted and said in the
 * report. findings_text.c judges and writes.
 */
#include "findings_int.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

void report_findings_config_default(report_findings_config *cfg)
{
    cfg->port_lo = 32768;
    cfg->port_hi = 60999;
    cfg->max_tw_buckets = -1;
    cfg->keepalive_time = 7200 * NS;
    cfg->close_wait = 60 * NS;
    cfg->fin_timeout = 60 * NS;
}

findings *findings_new(const report_findings_config *cfg)
{
    findings *f = calloc(1, sizeof(*f));
    if (!f)
        return NULL;
    f->cfg = *cfg;
    if (!(f->nat = nat_new())) {
        free(f);
        return NULL;
    }
    return f;
}

/* ---- collecting ---------------------------------------------------------- */

void example_add(examples *x, const conn_record *c)
{
    if (x->n >= EXAMPLES_MAX)
        return;
    example *e = &x->v[x->n++];
    memset(e, 0, sizeof(*e));
    e->conn_id = c->conn_id;
    memcpy(e->client, c->client_ip, addr_len(c->ip_version));
    memcpy(e->server, c->server_ip, addr_len(c->ip_version));
    e->cport = c->client_port;
    e->sport = c->server_port;
    e->ip_version = c->ip_version;
}

/* Adds [s, e) to iv within the budget. */
static void ivals_push(ivals *iv, budget *b, int64_t s, int64_t e)
{
    if (b->kept >= IVALS_MAX) {
        b->dropped++;
        return;
    }
    ival x = {s, e > s ? e : s + 1}; /* held 1 ns at least */
    if (iv->n == 0) {
        iv->one = x;
        iv->n = 1;
        b->kept++;
        return;
    }
    if (iv->n == iv->cap || !iv->cap) {
        uint32_t cap = iv->cap ? iv->cap * 2 : 8;
        ival *v = realloc(iv->v, cap * sizeof(*v));
        if (!v) {
            b->dropped++;
            return;
        }
        if (!iv->cap)
            v[0] = iv->one;
        iv->v = v;
        iv->cap = cap;
    }
    iv->v[iv->n++] = x;
    b->kept++;
}

/* 2: the client's local port is held from the first packet until its
 * TIME_WAIT ends, or until the last packet when it held none. */
static pair_key pair_key_of(const conn_record *c)
{
    pair_key k;
    memset(&k, 0, sizeof(k));
    memcpy(k.client, c->client_ip, addr_len(c->ip_version));
    memcpy(k.server, c->server_ip, addr_len(c->ip_version));
    k.port = c->server_port;
    k.ip_version = c->ip_version;
    return k;
}

/* 0 when the key of fingerprint fp is certainly not in the full table
 * (full: the table's filter, n its entries). */
static int full_maybe(uint64_t *full, uint32_t n, uint64_t fp)
{
    uint64_t m = full_mask(fp);
    return n < TABLE_MAX || !full || (*full_word(full, fp) & m) == m;
}

/* The table holds the key of fingerprint fp (the filter, from the table's
 * first entry). */
static void full_add(uint64_t **full, uint64_t fp)
{
    if (!*full && !(*full = zalloc_written(FULL_WORDS, sizeof(**full))))
        return;
    *full_word(*full, fp) |= full_mask(fp);
}

/* The first line a lookup of fp reads. */
static void full_prefetch(uint64_t *full, uint32_t n, const table_aid *a, uint64_t fp)
{
    if (n >= TABLE_MAX && full)
        __builtin_prefetch(full_word(full, fp));
    else
        aid_prefetch(a, fp, 0);
}

/* The per-pair and per-host tables (2 and 4) start with a bucket per entry
 * of a full table (1 MiB each), as host tables do (hosts.c says why); the
 * services' table keeps uthash's 32. */
#pragma push_macro("HASH_INITIAL_NUM_BUCKETS")
#pragma push_macro("HASH_INITIAL_NUM_BUCKETS_LOG2")
#undef HASH_INITIAL_NUM_BUCKETS
#undef HASH_INITIAL_NUM_BUCKETS_LOG2
#define HASH_INITIAL_NUM_BUCKETS      TABLE_MAX
#define HASH_INITIAL_NUM_BUCKETS_LOG2 16U
_Static_assert(TABLE_MAX == 1u << 16, "the log2 of TABLE_MAX");

static void add_port(findings *f, const conn_record *c, uint64_t fp)
{
    pair_key k = pair_key_of(c);
    pair_entry *p = NULL;
    if (full_maybe(f->pair_full, f->n_pairs, fp)) {
        TABLE_GET_FP(f->pairs, f->n_pairs, TABLE_MAX, pair_entry, k, p, &f->pair_aid, fp,
                     &f->pair_slab);
        if (p)
            full_add(&f->pair_full, fp);
    }
    if (!p) {
        f->pair_rows_left++;
        return;
    }
    int client_tw = c->time_wait_side == SIDE_CLIENT || c->time_wait_side == SIDE_BOTH;
    ivals_push(&p->iv, &f->port_budget, c->first_ts, client_tw ? c->time_wait_end : c->last_ts);
}

/* 4: one TIME_WAIT interval for the host at addr. */
static void add_tw_host(findings *f, const conn_record *c, const uint8_t addr[16], uint64_t fp)
{
    host_key k = host_key_of(c->ip_version, addr);
    twhost_entry *h = NULL;
    if (full_maybe(f->twhost_full, f->n_twhosts, fp)) {
        TABLE_GET_FP(f->twhosts, f->n_twhosts, TABLE_MAX, twhost_entry, k, h, &f->twhost_aid, fp,
                     &f->twhost_slab);
        if (h)
            full_add(&f->twhost_full, fp);
    }
    if (!h) {
        f->twhost_rows_left++;
        return;
    }
    ivals_push(&h->iv, &f->tw_budget, c->time_wait_start, c->time_wait_end);
}
#pragma pop_macro("HASH_INITIAL_NUM_BUCKETS_LOG2")
#pragma pop_macro("HASH_INITIAL_NUM_BUCKETS")

/* 3: the gap of a reused TIME_WAIT. */
static void add_reuse(findings *f, const conn_record *c)
{
    int64_t d = c->time_wait_end - c->time_wait_start;
    if (d < 0)
        d = 0;
    duration_add(&f->reuse[c->time_wait_side], d);
    if (c->time_wait_side == SIDE_CLIENT && d < NS)
        f->reuse_client_under_1s++;
    example_add(&f->ex_reuse[c->time_wait_side], c);
}

/* 5: the row's service, when the client sent a SYN. */
static void add_backlog(findings *f, const conn_record *c, uint64_t fp)
{
    if (c->handshake == HS_MIDSTREAM)
        return;
    service_key k = service_key_of(c);
    svc_entry *s;
    TABLE_GET_FP(f->svcs, f->n_svcs, TABLE_MAX, svc_entry, k, s, &f->svc_aid, fp, &f->svc_slab);
    if (!s)
        s = &f->other;
    int overflow = (c->anomalies & ANOM_ACCEPT_QUEUE_OVERFLOW) != 0;
    s->attempts++;
    s->unanswered += c->handshake == HS_SYN_ONLY;
    s->refused += c->handshake == HS_REFUSED;
    s->syn_retransmits += c->syn_retransmits;
    s->overflows += overflow;
    if (overflow || c->handshake == HS_SYN_ONLY)
        example_add(&f->ex_backlog, c);
    /* The server held a request in SYN_RCVD from the SYN until the ACK
     * that completed the handshake, or its last packet when none did (or
     * its accept queue dropped that ACK). */
    if (s != &f->other && (c->handshake == HS_COMPLETE || c->handshake == HS_NO_ACK)) {
        int done = c->handshake == HS_COMPLETE && !overflow && c->established_ts >= c->first_ts;
        ivals_push(&s->rcvd, &f->rcvd_budget, c->first_ts, done ? c->established_ts : c->last_ts);
    }
}

void *findings_syn_ctx(findings *f)
{
    return f->nat;
}

/* Adds the row q holds (the parts it was queued for). */
static void add_row(findings *f, const queued_row *q)
{
    const conn_record *c = &q->c;
    if (q->part & FINDINGS_HOSTS) {
        add_port(f, c, q->fp_pair);
        if (c->time_wait_side != SIDE_NONE && c->time_wait_side != SIDE_SERVER)
            add_tw_host(f, c, c->client_ip, q->fp_client);
        if (c->time_wait_side != SIDE_NONE && c->time_wait_side != SIDE_CLIENT)
            add_tw_host(f, c, c->server_ip, q->fp_server);
    }
    if (!(q->part & FINDINGS_REST))
        return;
    f->rows++;
    f->close_by[c->close_initiator]++;
    f->tw_by[c->time_wait_side]++;
    example_add(&f->ex_tw[c->time_wait_side], c);
    if (c->time_wait_side != SIDE_NONE && c->time_wait_end_reason == TW_REUSED)
        add_reuse(f, c);
    add_backlog(f, c, q->fp_svc);
    waits_add(f, c, q->fp_cw);
}

/* The pairs' and hosts' keys of row q (FINDINGS_HOSTS). */
static void fetch_hosts(findings *f, queued_row *q)
{
    const conn_record *c = &q->c;
    pair_key pk = pair_key_of(c);
    q->fp_pair = key_fp(&pk, sizeof(pk));
    full_prefetch(f->pair_full, f->n_pairs, &f->pair_aid, q->fp_pair);
    if (c->time_wait_side != SIDE_NONE) {
        q->fp_client = host_fp(c->ip_version, c->client_ip); /* key_fp of the host key */
        q->fp_server = host_fp(c->ip_version, c->server_ip);
        if (c->time_wait_side != SIDE_SERVER)
            full_prefetch(f->twhost_full, f->n_twhosts, &f->twhost_aid, q->fp_client);
        if (c->time_wait_side != SIDE_CLIENT)
            full_prefetch(f->twhost_full, f->n_twhosts, &f->twhost_aid, q->fp_server);
    }
}

/* The fingerprints of the keys row q will look up, and their first lines
 * fetched: the row is added ROWQ rows later, when they have come. */
static void fetch_row(findings *f, queued_row *q)
{
    const conn_record *c = &q->c;
    if (q->part & FINDINGS_HOSTS)
        fetch_hosts(f, q);
    if (!(q->part & FINDINGS_REST))
        return;
    service_key k = service_key_of(c);
    q->fp_svc = key_fp(&k, sizeof(k));
    aid_prefetch(&f->svc_aid, q->fp_svc, 1);
    if (c->close_type == CLOSE_FIN &&
        (c->close_initiator == SIDE_CLIENT || c->close_initiator == SIDE_SERVER)) {
        k = cw_key_of(c, c->close_initiator == SIDE_CLIENT);
        q->fp_cw = key_fp(&k, sizeof(k));
        aid_prefetch(&f->cw_aid, q->fp_cw, 1);
    }
}

/* Rows wait in a queue of ROWQ while their lines are fetched (the tables
 * are far larger than the caches, and every row is another client); what
 * reads the findings adds the rest first (findings_sweep). */
void findings_add_part(findings *f, const conn_record *c, unsigned part)
{
    unsigned k = part == FINDINGS_HOSTS;
    if (f->nq[k] == ROWQ) {
        add_row(f, &f->q[k][f->qhead[k]]);
        f->qhead[k] = (f->qhead[k] + 1) % ROWQ;
        f->nq[k]--;
    }
    queued_row *q = &f->q[k][(f->qhead[k] + f->nq[k]++) % ROWQ];
    q->c = *c;
    q->part = part;
    fetch_row(f, q);
}

void findings_add(findings *f, const conn_record *c)
{
    findings_add_part(f, c, FINDINGS_ALL);
}

/* Adds every row still queued. */
static void add_queued(findings *f)
{
    for (int k = 0; k < 2; k++)
        for (; f->nq[k]; f->nq[k]--) {
            add_row(f, &f->q[k][f->qhead[k]]);
            f->qhead[k] = (f->qhead[k] + 1) % ROWQ;
        }
}

void findings_settle(findings *f)
{
    add_queued(f);
}

void findings_free(findings *f)
{
    if (!f)
        return;
    aid_free(&f->pair_aid);
    free(f->pair_full);
    free(f->twhost_full);
    aid_free(&f->twhost_aid);
    aid_free(&f->svc_aid);
    HASH_CLEAR(hh, f->pairs);
    HASH_CLEAR(hh, f->twhosts);
    HASH_CLEAR(hh, f->svcs);
    for (uint32_t i = 0; i < f->pair_slab.n; i++)
        free(((pair_entry *)slab_at(&f->pair_slab, i, sizeof(pair_entry)))->iv.v);
    for (uint32_t i = 0; i < f->twhost_slab.n; i++)
        free(((twhost_entry *)slab_at(&f->twhost_slab, i, sizeof(twhost_entry)))->iv.v);
    for (uint32_t i = 0; i < f->svc_slab.n; i++)
        free(((svc_entry *)slab_at(&f->svc_slab, i, sizeof(svc_entry)))->rcvd.v);
    slab_free(&f->pair_slab);
    slab_free(&f->twhost_slab);
    slab_free(&f->svc_slab);
    for (int i = 0; i < SIDE_COUNT; i++)
        duration_free(&f->reuse[i]);
    waits_free(f);
    nat_free(f->nat);
    free(f);
}

/* ---- the sweeps ------------------------------------------------------------ */

/* Sorts a[0..n) ascending; tmp has room for n values. Insertion sort when
 * short, else a radix sort on the bytes that differ (the intervals of a
 * sweep are timestamps: most of their high bytes are the same). */
static void sort_i64(int64_t *a, size_t n, int64_t *tmp)
{
    if (n <= 32) {
        for (size_t i = 1; i < n; i++) {
            int64_t x = a[i];
            size_t j = i;
            for (; j > 0 && a[j - 1] > x; j--)
                a[j] = a[j - 1];
            a[j] = x;
        }
        return;
    }
    uint32_t count[8][256] = {{0}};
    const uint64_t flip = UINT64_C(1) << 63; /* signed order as unsigned */
    for (size_t i = 0; i < n; i++) {
        uint64_t x = (uint64_t)a[i] ^ flip;
        for (int d = 0; d < 8; d++)
            count[d][(x >> (8 * d)) & 255]++;
    }
    int64_t *src = a, *dst = tmp;
    for (int d = 0; d < 8; d++) {
        uint32_t *c = count[d];
        if (c[(((uint64_t)a[0] ^ flip) >> (8 * d)) & 255] == n)
            continue; /* every value has this byte */
        uint32_t sum = 0;
        for (int b = 0; b < 256; b++) {
            uint32_t k = c[b];
            c[b] = sum;
            sum += k;
        }
        for (size_t i = 0; i < n; i++)
            dst[c[(((uint64_t)src[i] ^ flip) >> (8 * d)) & 255]++] = src[i];
        int64_t *t = src;
        src = dst;
        dst = t;
    }
    if (src != a)
        memcpy(a, src, n * sizeof(*a));
}

/* The most intervals of iv open at once, and the first time it happens;
 * an interval ending when another starts does not overlap it. Every
 * interval ends after it starts (ivals_push), so the j-th end comes after
 * the j-th start and j never passes i. scratch holds 3 * iv->n values. */
static void sweep(ivals *iv, int64_t *scratch)
{
    if (iv->n <= 1) {
        iv->peak = iv->n;
        iv->peak_at = iv->n ? iv->one.s : 0;
        return;
    }
    int64_t *st = scratch, *en = scratch + iv->n, *tmp = scratch + 2 * (size_t)iv->n;
    for (uint32_t i = 0; i < iv->n; i++) {
        st[i] = iv->v[i].s;
        en[i] = iv->v[i].e;
    }
    sort_i64(st, iv->n, tmp);
    sort_i64(en, iv->n, tmp);
    uint64_t open = 0;
    iv->peak = 0;
    for (uint32_t i = 0, j = 0; i < iv->n;) {
        if (st[i] < en[j]) {
            if (++open > iv->peak) {
                iv->peak = open;
                iv->peak_at = st[i];
            }
            i++;
        } else {
            open--;
            j++;
        }
    }
}

/* Sweeps every pair and host once (the largest one's scratch for all). */
void findings_sweep(findings *f)
{
    add_queued(f); /* first: what reads the findings reads them all */
    if (f->swept)
        return;
    f->swept = 1;
    uint32_t most = 0;
    for (pair_entry *p = f->pairs; p; p = p->hh.next)
        most = p->iv.n > most ? p->iv.n : most;
    for (twhost_entry *h = f->twhosts; h; h = h->hh.next)
        most = h->iv.n > most ? h->iv.n : most;
    for (svc_entry *v = f->svcs; v; v = v->hh.next)
        most = v->rcvd.n > most ? v->rcvd.n : most;
    int64_t *scratch = malloc(((size_t)most * 3 + 1) * sizeof(*scratch));
    if (!scratch)
        return; /* the peaks stay 0: said as no evidence */
    for (pair_entry *p = f->pairs; p; p = p->hh.next)
        sweep(&p->iv, scratch);
    for (twhost_entry *h = f->twhosts; h; h = h->hh.next)
        sweep(&h->iv, scratch);
    for (svc_entry *v = f->svcs; v; v = v->hh.next)
        sweep(&v->rcvd, scratch);
    free(scratch);
}

/* The median of s as duration_median gives it (the value at rank
 * (n - 1) / 2), found without sorting while every value was kept. */
int64_t series_median(const duration_series *s)
{
    if (!s->n || s->n > s->cap)
        return duration_median(s); /* empty, or from the histogram */
    int64_t *a = malloc(s->n * sizeof(*a));
    if (!a)
        return duration_median(s);
    memcpy(a, s->exact, s->n * sizeof(*a));
    ptrdiff_t lo = 0, hi = (ptrdiff_t)s->n - 1, k = hi / 2;
    uint64_t r = UINT64_C(0x9e3779b97f4a7c15);
    while (lo < hi) { /* three-way selection around a pseudo-random pivot */
        r ^= r << 13;
        r ^= r >> 7;
        r ^= r << 17;
        int64_t p = a[lo + (ptrdiff_t)(r % (uint64_t)(hi - lo + 1))];
        ptrdiff_t lt = lo, i = lo, gt = hi; /* [lo, lt) < p, [lt, i) == p, (gt, hi] > p */
        while (i <= gt) {
            int64_t x = a[i];
            if (x < p) {
                a[i++] = a[lt];
                a[lt++] = x;
            } else if (x > p) {
                a[i] = a[gt];
                a[gt--] = x;
            } else {
                i++;
            }
        }
        if (k < lt)
            hi = lt - 1;
        else if (k > gt)
            lo = gt + 1;
        else
            break; /* a[k] == p */
    }
    int64_t m = a[k];
    free(a);
    return m;
}
