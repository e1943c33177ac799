/*
 * state.c: the table's state for incremental runs (flows_save, flows_load;
 * README "Processing an archive").
 *
 * What a run over day 1 and then day 2 must carry for its rows to be those
 * of one run over both: the pool of instances as it is (hot and cold
 * records, free ones too: where new instances go decides the order of the
 * capture-end rows) and the lists' ends (the order rows are written in and
 * instances evicted by); the clocks (the timers' clock, its offset, the
 * rows' next conn_id); the duplicate filter's recent fingerprints; the
 * known servers (roles of midstream rows); the census's marks. What only
 * speeds a lookup (the servers' fingerprint cache, the census's listener
 * cache, the wheel, which is rebuilt from the instances) is not saved. The
 * per-run counters (flows_stats) start again from zero.
 *
 * Records are saved as their bytes: a state is for the build that wrote it
 * (the record sizes are checked; the caller's framing has a version).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flows_int.h"

#define FLOWS_STATE_TAG UINT64_C(0x31574f4c464e5953) /* "SYNFLOW1" */

void flows_buf_put(flows_buf *b, const void *p, size_t n)
{
    if (b->failed || n == 0)
        return;
    if (b->cap - b->len < n) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap - b->len < n)
            cap *= 2;
        unsigned char *d = realloc(b->data, cap);
        if (!d) {
            b->failed = 1;
            return;
        }
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

int flows_buf_get(flows_buf *b, void *p, size_t n)
{
    if (b->len - b->pos < n)
        return -1;
    memcpy(p, b->data + b->pos, n);
    b->pos += n;
    return 0;
}

void flows_buf_free(flows_buf *b)
{
    free(b->data);
    memset(b, 0, sizeof(*b));
}

/* ---- the configuration: the same, or the replay would not go on as one - */

/* The options a state depends on, in a fixed layout. */
typedef struct config_image {
    int64_t msl, idle_timeout, syn_timeout, fin_timeout, synack_timeout;
    uint64_t max_flows, n_servers;
} config_image;

static config_image image_of(const flows_config *c)
{
    config_image m;
    memset(&m, 0, sizeof(m));
    m.msl = c->msl;
    m.idle_timeout = c->idle_timeout;
    m.syn_timeout = c->syn_timeout;
    m.fin_timeout = c->fin_timeout;
    m.synack_timeout = c->synack_timeout;
    m.max_flows = c->max_flows;
    m.n_servers = c->n_servers;
    return m;
}

static void put_config(const flows_config *c, flows_buf *b)
{
    config_image m = image_of(c);
    flows_buf_put(b, &m, sizeof(m));
    for (size_t i = 0; i < c->n_servers; i++)
        flows_buf_put(b, &c->servers[i], sizeof(c->servers[i]));
}

/* 1: the same; 0: not; -1: b is short. */
static int same_config(const flows_config *c, flows_buf *b)
{
    config_image m, want = image_of(c);
    if (flows_buf_get(b, &m, sizeof(m)) < 0)
        return -1;
    if (memcmp(&m, &want, sizeof(m)) != 0)
        return 0;
    for (size_t i = 0; i < c->n_servers; i++) {
        flows_server s;
        if (flows_buf_get(b, &s, sizeof(s)) < 0)
            return -1;
        const flows_server *w = &c->servers[i];
        if (memcmp(s.addr, w->addr, sizeof(s.addr)) != 0 || s.ip_version != w->ip_version ||
            s.port != w->port)
            return 0;
    }
    return 1;
}

/* ---- saving ------------------------------------------------------------- */

/* The pool as it is, free elements too (their order decides where new
 * instances go, and so the order of the capture-end rows), then the lists'
 * ends: the links inside the records stay valid. */
static void put_pool(flows_table *t, flows_buf *b)
{
    uint32_t hw = conntab_high_water(t->tab), head = conntab_free_head(t->tab);
    flows_buf_put(b, &hw, sizeof(hw));
    flows_buf_put(b, &head, sizeof(head));
    for (uint32_t i = 0; i < hw; i++) {
        flows_buf_put(b, conn_at(t, i), sizeof(conn));
        flows_buf_put(b, cold_at(t, i), sizeof(conn_cold));
    }
    const conn_list *lists[3] = {&t->active, &t->closing, &t->embryonic};
    for (int l = 0; l < 3; l++)
        flows_buf_put(b, lists[l], sizeof(*lists[l]));
}

int flows_save(flows_table *t, flows_buf *b)
{
    const uint64_t tag = FLOWS_STATE_TAG;
    const uint32_t sizes[3] = {sizeof(conn), sizeof(conn_cold), DEDUP_SLOTS};
    flows_buf_put(b, &tag, sizeof(tag));
    flows_buf_put(b, sizes, sizeof(sizes));
    put_config(&t->cfg, b);
    int64_t clocks[4] = {t->clock, t->offset, t->clock_set, (int64_t)t->next_id};
    flows_buf_put(b, clocks, sizeof(clocks));
    flows_buf_put(b, t->dedup, DEDUP_SLOTS * sizeof(*t->dedup));
    listeners_save(t->listeners, b);
    tunnels_save(t->tunnels, b);
    uint8_t census = t->census != NULL;
    flows_buf_put(b, &census, sizeof(census));
    if (t->census)
        census_save(t, b);
    put_pool(t, b);
    /* Handed over as state, not as rows. */
    t->active.head = t->active.tail = CONNTAB_NONE;
    t->closing.head = t->closing.tail = CONNTAB_NONE;
    t->embryonic.head = t->embryonic.tail = CONNTAB_NONE;
    t->due = INT64_MIN;
    t->stats.alive = 0;
    conntab_clear(t->tab);
    return b->failed ? -1 : 0;
}

/* ---- loading ------------------------------------------------------------ */

/* A record's values that index tables or arrays are in range (a state
 * whose checksum holds was written by synfin; this keeps a crafted one from
 * reaching past an array). */
static int sound(const conn *c)
{
    if (c->list != LIST_ACTIVE && c->list != LIST_CLOSING && c->list != LIST_EMBRYONIC)
        return 0;
    if (c->role_by >= ROLE_BY_COUNT)
        return 0;
    for (int i = 0; i < 2; i++) {
        const endpoint *e = &c->ep[i];
        if (e->state >= CONN_STATE_COUNT || (e->census & CENSUS_STATE) >= CONN_STATE_COUNT ||
            e->tw_reason >= TW_REASON_COUNT)
            return 0;
    }
    return 1;
}

/* List l's links: each instance on it once, of its kind, linked both ways,
 * its tail where the walk ends; *seen counts them. */
static int walk_list(flows_table *t, const conn_list *l, uint8_t kind, uint32_t hw, uint64_t *seen)
{
    uint32_t prev = CONNTAB_NONE;
    uint64_t n = 0;
    for (uint32_t i = l->head; i != CONNTAB_NONE; i = cold_at(t, i)->next) {
        if (i >= hw || conn_at(t, i)->list != kind || cold_at(t, i)->prev != prev || ++n > hw)
            return -1;
        prev = i;
    }
    if (prev != l->tail)
        return -1;
    *seen += n;
    return 0;
}

static int load_pool(flows_table *t, flows_buf *b, char *err, size_t errlen)
{
    uint32_t hw, head;
    if (flows_buf_get(b, &hw, sizeof(hw)) < 0 || flows_buf_get(b, &head, sizeof(head)) < 0 ||
        hw == CONNTAB_NONE || (head != CONNTAB_NONE && head >= hw) ||
        (uint64_t)hw * (sizeof(conn) + sizeof(conn_cold)) > b->len - b->pos)
        return snprintf(err, errlen, "the state ends early (its instances)"), -1;
    if (conntab_restore(t->tab, hw, head) < 0)
        return snprintf(err, errlen, "out of memory loading the state"), -1;
    for (uint32_t i = 0; i < hw; i++) {
        conn *c = conn_at(t, i);
        (void)flows_buf_get(b, c, sizeof(conn)); /* the length is checked above */
        (void)flows_buf_get(b, cold_at(t, i), sizeof(conn_cold));
        if (c->list == LIST_FREE)
            continue;
        if (!sound(c) || !tunnels_known(t->tunnels, key_tunnel(&c->key)))
            return snprintf(err, errlen, "damaged: instance %u is not one synfin writes", i), -1;
        if (conntab_insert(t->tab, i, key_hash(&c->key)) < 0)
            return snprintf(err, errlen, "out of memory loading the state"), -1;
        t->stats.alive++;
    }
    conn_list *lists[3] = {&t->active, &t->closing, &t->embryonic};
    static const uint8_t kinds[3] = {LIST_ACTIVE, LIST_CLOSING, LIST_EMBRYONIC};
    uint64_t on_lists = 0;
    for (int l = 0; l < 3; l++) {
        if (flows_buf_get(b, lists[l], sizeof(*lists[l])) < 0)
            return snprintf(err, errlen, "the state ends early (its lists)"), -1;
        if (walk_list(t, lists[l], kinds[l], hw, &on_lists) < 0)
            return snprintf(err, errlen, "damaged: its lists do not link its instances"), -1;
    }
    if (on_lists != t->stats.alive)
        return snprintf(err, errlen, "damaged: its lists do not link its instances"), -1;
    return 0;
}

/* The header: tag, record sizes, configuration. */
int flows_state_check(const flows_config *cfg, flows_buf *b, char *err, size_t errlen)
{
    uint64_t tag;
    uint32_t sizes[3];
    const uint32_t want[3] = {sizeof(conn), sizeof(conn_cold), DEDUP_SLOTS};
    if (flows_buf_get(b, &tag, sizeof(tag)) < 0 || tag != FLOWS_STATE_TAG)
        return snprintf(err, errlen, "no replay state where one should be"), -1;
    if (flows_buf_get(b, sizes, sizeof(sizes)) < 0 || memcmp(sizes, want, sizeof(want)) != 0)
        return snprintf(err, errlen, "written by another build of synfin (record sizes differ)"),
               -1;
    flows_config c = *cfg; /* as flows_new keeps it */
    c.msl = clamp_duration(c.msl);
    c.idle_timeout = clamp_duration(c.idle_timeout);
    c.syn_timeout = clamp_duration(c.syn_timeout);
    c.fin_timeout = clamp_duration(c.fin_timeout);
    c.synack_timeout = clamp_duration(c.synack_timeout);
    int same = same_config(&c, b);
    if (same < 0)
        return snprintf(err, errlen, "the state ends early (its options)"), -1;
    if (!same)
        return snprintf(err, errlen,
                        "written with other replay options (--msl, --idle-timeout, --max-flows, "
                        "--syn-timeout, --fin-timeout, --synack-timeout, --server): give the "
                        "same ones as the run that wrote it"),
               -1;
    return 0;
}

int flows_load(flows_table *t, flows_buf *b, char *err, size_t errlen)
{
    if (flows_state_check(&t->cfg, b, err, errlen) < 0)
        return -1;
    int64_t clocks[4];
    uint8_t census;
    if (flows_buf_get(b, clocks, sizeof(clocks)) < 0 ||
        flows_buf_get(b, t->dedup, DEDUP_SLOTS * sizeof(*t->dedup)) < 0)
        return snprintf(err, errlen, "the state ends early (its clocks)"), -1;
    t->clock = clocks[0];
    t->offset = clocks[1];
    t->clock_set = clocks[2] != 0;
    t->next_id = (uint64_t)clocks[3];
    if (listeners_load(t->listeners, b) < 0)
        return snprintf(err, errlen, "the state ends early (its servers), or out of memory"), -1;
    if (tunnels_load(t->tunnels, b) < 0)
        return snprintf(err, errlen, "the state's tunnels are damaged, or out of memory"), -1;
    if (flows_buf_get(b, &census, sizeof(census)) < 0)
        return snprintf(err, errlen, "the state ends early"), -1;
    if (census != (t->census != NULL))
        return snprintf(err, errlen, "%s", flows_state_census_mismatch(census)), -1;
    if (t->census && census_load(t, b) < 0)
        return snprintf(err, errlen, "the state ends early (its census)"), -1;
    if (load_pool(t, b, err, errlen) < 0)
        return -1;
    t->stats.peak_alive = t->stats.alive;
    t->due = INT64_MIN; /* the first segment looks at every timer */
    if (t->census)
        census_restore(t);
    return 0;
}

const char *flows_state_census_mismatch(int census)
{
    return census ? "written with a census (--census, --at, --plot): this run needs one too"
                  : "written without a census (--census, --at, --plot): a census needs one "
                    "from the first run on";
}
