/*
 * census.c: what the census (SPEC §6) is told of the replay, as it happens.
 *
 * Each endpoint remembers the state the census last counted it in
 * (endpoint.census). After a segment, and when a timer runs out, the state
 * the replay says now is compared with it, and a difference is told
 * (flows_change_fn) with the moment it happened. The replay's own states
 * change only with segments; the timers the wire does not show (SYN
 * give-up, SYN_RCVD dropped, FIN_WAIT2 orphaned; machine_unseen_due) and
 * TIME_WAIT's 2*MSL run out between segments, so the census keeps them in a
 * timer wheel: WHEEL_SLOTS slots of 2^WHEEL_SHIFT ns on the timers' clock.
 * A slot is looked at once the clock has passed it, so a timer is told at
 * most one slot after its moment, with that moment; the mark (every change
 * up to then has been told) trails the clock by one slot.
 *
 * A slot holds instance indexes only: an index whose instance has changed
 * since (ended, or reused by another one) is simply looked at again, which
 * tells whatever is due for the instance now there and nothing else.
 *
 * The census wants the states at its moments only (fn returns the next
 * one). Until then a segment that may change a state only puts its instance
 * on the `dirty` list (once); when the clock passes the moment, before any
 * later segment is replayed, each instance on the list tells its change
 * since the moment before, at this moment: a connection opened and closed
 * between two moments tells one change per endpoint, not ten. A census
 * that wants every change (its moment already passed) hears it at once.
 */
#include <stdlib.h>
#include <string.h>

#include "flows_int.h"

#define WHEEL_SHIFT      24    /* 16.8 ms a slot */
#define WHEEL_SLOTS      8192u /* 137 s around; later timers wait in the last slot */
#define LISTEN_SETS_LOG2 11
#define LISTEN_SETS      (1u << LISTEN_SETS_LOG2)
#define LISTEN_WAYS      8 /* a set is one cache line */
#define FLUSH_AHEAD      8 /* instances prefetched ahead in a flush */

typedef struct wheel_slot {
    uint32_t *v;
    uint32_t n, cap;
} wheel_slot;

struct census_wheel {
    flows_change_fn fn;
    void *ctx;
    int64_t mark; /* the watermark fn wants next (packet time) */
    int64_t told; /* the last watermark told */
    int64_t next; /* the first slot not looked at yet (absolute number) */
    /* Fingerprints of listeners told lately (a cache of 8-way sets): a
     * busy server answers thousands of SYNs, and its listener is told once.
     * Direct-mapped, the bench trace's 2,540 listeners told 183 k times. */
    uint64_t listen_recent[LISTEN_SETS][LISTEN_WAYS];
    uint32_t *dirty; /* instances whose changes wait for the moment `mark` */
    uint32_t n_dirty, cap_dirty;
    wheel_slot slot[WHEEL_SLOTS];
};

int flows_set_census(flows_table *t, flows_change_fn fn, void *ctx)
{
    if (fn && t->census) { /* another receiver: the census goes on */
        t->census->fn = fn;
        t->census->ctx = ctx;
        return 0;
    }
    census_free(t);
    if (!fn)
        return 0;
    t->census = calloc(1, sizeof(*t->census));
    if (!t->census)
        return -1;
    t->census->fn = fn;
    t->census->ctx = ctx;
    t->census->mark = INT64_MIN;
    t->census->told = INT64_MIN;
    t->census->next = INT64_MIN;
    return 0;
}

void census_free(flows_table *t)
{
    if (!t->census)
        return;
    for (uint32_t i = 0; i < WHEEL_SLOTS; i++)
        free(t->census->slot[i].v);
    free(t->census->dirty);
    free(t->census);
    t->census = NULL;
}

static void tell(flows_table *t, flows_change *ch)
{
    struct census_wheel *w = t->census;
    w->mark = w->fn(w->ctx, ch);
}

/* The address of c's endpoint i (16 bytes) and its port. */
static const uint8_t *endpoint_addr(const conn *c, int i, uint16_t *port)
{
    int is_a = (i == CLIENT) == !!c->client_is_a;
    *port = is_a ? key_port_a(&c->key) : key_port_b(&c->key);
    return (const uint8_t *)(is_a ? &c->key.w[0] : &c->key.w[2]);
}

static void tell_state(flows_table *t, conn *c, int i, uint8_t to, int64_t ts)
{
    endpoint *e = &c->ep[i];
    flows_change ch = {.kind = FLOWS_CHANGE_STATE, .ts = ts};
    ch.addr = endpoint_addr(c, i, &ch.port);
    ch.ip_version = key_ip_version(&c->key);
    ch.from = (uint8_t)(e->census & CENSUS_STATE);
    ch.to = to;
    e->census = (uint8_t)((e->census & ~CENSUS_STATE) | to);
    tell(t, &ch);
}

/* ---- the wheel ---------------------------------------------------------- */

static int64_t slot_of(int64_t clock_time)
{
    return clock_time >> WHEEL_SHIFT;
}

/* Instance idx has a timer running out at `at` on the timers' clock. */
static void wheel_add(flows_table *t, uint32_t idx, int64_t at)
{
    struct census_wheel *w = t->census;
    int64_t s = slot_of(at);
    if (w->next == INT64_MIN)
        w->next = slot_of(t->clock);
    if (s < w->next)
        s = w->next;
    if (s > w->next + WHEEL_SLOTS - 1)
        s = w->next + WHEEL_SLOTS - 1; /* looked at again then */
    wheel_slot *sl = &w->slot[(uint64_t)s & (WHEEL_SLOTS - 1)];
    if (sl->n == sl->cap) {
        uint32_t cap = sl->cap ? sl->cap * 2 : 16;
        uint32_t *v = realloc(sl->v, cap * sizeof(*v));
        if (!v)
            return; /* the timer is told late, at the instance's end */
        sl->v = v;
        sl->cap = cap;
    }
    sl->v[sl->n++] = idx;
    int64_t due = (int64_t)((uint64_t)(s + 1) << WHEEL_SHIFT);
    if (due < t->due)
        t->due = due;
}

/* ---- what the census counts ------------------------------------------- */

/* Endpoint i's state for the census at `now` (packet time), with the
 * moment it took it if a timer put it there (*at), and when its timer runs
 * out next if it is still running (*due, INT64_MAX: none). */
static uint8_t counted_state(const flows_table *t, const conn *c, int i, int64_t now, int64_t *at,
                             int64_t *due)
{
    const endpoint *e = &c->ep[i];
    uint8_t st = e->state, to = CONN_CLOSED;
    *due = INT64_MAX;
    if (st == CONN_TIME_WAIT && !(e->flags & EP_TW_LEFT))
        *due = cold(t, c)->tw_deadline[i];
    else if (st == CONN_SYN_SENT || st == CONN_SYN_RCVD || st == CONN_FIN_WAIT2)
        *due = machine_unseen_due(t, c, i, &to);
    if (*due <= now) {
        *at = *due;
        *due = INT64_MAX;
        st = to;
    }
    return st == CONN_LISTEN ? CONN_CLOSED : st;
}

/* Does c end at `due` (packet time) anyway? A closing instance ends when
 * the clock passes its deadline (the closing list is in deadline order:
 * every deadline is a segment's time + 2*MSL), and census_leave then tells
 * its endpoints' changes at their TIME_WAIT deadlines, before the mark
 * passes them: the wheel need not look at it (most TIME_WAITs). */
static int ends_then(const flows_table *t, const conn *c, int64_t due)
{
    return c->list == LIST_CLOSING && cold(t, c)->deadline == due + t->offset;
}

/* c's next timer runs out at `next` (packet time; INT64_MAX: none): on the
 * wheel, unless c ends then anyway. */
static void wheel_rearm(flows_table *t, conn *c, int64_t next)
{
    if (next != INT64_MAX && !ends_then(t, c, next))
        wheel_add(t, conntab_index(t->tab, c), next + t->offset);
}

/* Tells what changed for c by `now`; `changed_at` is the time of a segment
 * that may have changed a state. Adds c to the wheel when a timer runs on
 * and `rearm` (the segment changed something, or the wheel looked at c). */
static void evaluate(flows_table *t, conn *c, int64_t now, int64_t changed_at, int rearm)
{
    int64_t next = INT64_MAX;
    c->ep[0].census &= (uint8_t)~CENSUS_DIRTY;
    for (int i = 0; i < 2; i++) {
        int64_t at = changed_at, due;
        uint8_t want = counted_state(t, c, i, now, &at, &due);
        if (want != (c->ep[i].census & CENSUS_STATE)) {
            tell_state(t, c, i, want, at);
            rearm = 1;
        }
        if (due < next)
            next = due;
    }
    if (rearm)
        wheel_rearm(t, c, next);
}

/* 1 if the listener of fingerprint fp (never 0) was told lately; else it
 * is remembered, in place of its set's oldest. */
static int told_lately(struct census_wheel *w, uint64_t fp)
{
    /* The set from the product's top bits: the fingerprint's own bits
     * are not spread enough (a quarter of the bench trace's listeners fell
     * into one set of 2048). */
    uint64_t *set =
        w->listen_recent[(fp * UINT64_C(0x9e3779b97f4a7c15)) >> (64 - LISTEN_SETS_LOG2)];
    for (int i = 0; i < LISTEN_WAYS; i++)
        if (set[i] == fp)
            return 1;
    memmove(set + 1, set, (LISTEN_WAYS - 1) * sizeof(*set));
    set[0] = fp;
    return 0;
}

/* Is this listener another shard's to count (--shard)? */
static int others_listener(const flows_table *t, const flows_change *ch)
{
    return t->cfg.shard_n &&
           flows_tuple_hash(ch->ip_version, ch->addr, ch->port, ch->addr, ch->port) %
                   t->cfg.shard_n !=
               t->cfg.shard_k;
}

/* Did c's server answer a SYN (a listening socket)? Told once. */
static void listener(flows_table *t, conn *c, int64_t ts)
{
    endpoint *sv = &c->ep[SERVER];
    if ((sv->census & CENSUS_LISTENER) || !(sv->flags & EP_SENT_SYNACK) || (c->hs & HSF_SIMUL))
        return;
    sv->census |= CENSUS_LISTENER;
    flows_change ch = {.kind = FLOWS_CHANGE_LISTEN, .ts = ts};
    ch.addr = endpoint_addr(c, SERVER, &ch.port);
    ch.ip_version = key_ip_version(&c->key);
    if (others_listener(t, &ch))
        return;
    uint64_t fp = end_fingerprint(c, !c->client_is_a); /* the server's end */
    if (!told_lately(t->census, fp)) /* a fingerprint of 64 bits: a clash is not a concern */
        tell(t, &ch);
}

/* c waits on the dirty list for the census's next moment; -1: no room. */
static int census_segment_dirty(flows_table *t, conn *c)
{
    struct census_wheel *w = t->census;
    if (w->n_dirty == w->cap_dirty) {
        uint32_t cap = w->cap_dirty ? w->cap_dirty * 2 : 4096;
        uint32_t *v = realloc(w->dirty, cap * sizeof(*v));
        if (!v)
            return -1;
        w->dirty = v;
        w->cap_dirty = cap;
    }
    c->ep[0].census |= CENSUS_DIRTY;
    w->dirty[w->n_dirty++] = conntab_index(t->tab, c);
    return 0;
}

void census_segment(flows_table *t, conn *c, const flows_seg *s, int64_t ts)
{
    /* Most segments change nothing the census counts and start no timer:
     * both endpoints ESTABLISHED and counted so. */
    if (!(s->flags & (DISSECT_SYN | DISSECT_FIN | DISSECT_RST)) &&
        c->ep[0].state == CONN_ESTABLISHED && c->ep[1].state == CONN_ESTABLISHED &&
        (c->ep[0].census & CENSUS_STATE) == CONN_ESTABLISHED &&
        (c->ep[1].census & CENSUS_STATE) == CONN_ESTABLISHED)
        return;
    if (s->flags & DISSECT_SYN)
        listener(t, c, ts);
    struct census_wheel *w = t->census;
    if (ts > w->mark) {
        /* A SYN may move the client's give-up earlier: the wheel looks again. */
        evaluate(t, c, ts, ts, !!(s->flags & DISSECT_SYN));
        return;
    }
    if (!(c->ep[0].census & CENSUS_DIRTY) && census_segment_dirty(t, c) < 0)
        evaluate(t, c, ts, ts, 1); /* no room to wait: told at once */
}

/* The instances on the dirty list tell their changes, at `at`. */
static void flush_dirty(flows_table *t, int64_t at)
{
    struct census_wheel *w = t->census;
    for (uint32_t j = 0; j < w->n_dirty; j++) {
        if (j + FLUSH_AHEAD < w->n_dirty) {
            /* Most have left the caches since their segment: their loads
             * overlap (both lines the endpoints span, and the timers'). */
            const char *a = (const char *)conn_at(t, w->dirty[j + FLUSH_AHEAD]);
            __builtin_prefetch(a + 64);
            __builtin_prefetch(a);
            __builtin_prefetch(cold_at(t, w->dirty[j + FLUSH_AHEAD]));
        }
        conn *c = conn_at(t, w->dirty[j]);
        if (c->list != LIST_FREE && (c->ep[0].census & CENSUS_DIRTY))
            evaluate(t, c, at, at, 1);
    }
    w->n_dirty = 0;
}

void census_leave(flows_table *t, conn *c, int64_t when)
{
    for (int i = 0; i < 2; i++) {
        const endpoint *e = &c->ep[i];
        if (!(e->census & CENSUS_STATE))
            continue;
        int64_t at = when;
        if ((e->flags & EP_TW_LEFT) && e->tw_reason == TW_EXPIRED)
            at = cold(t, c)->tw_deadline[i];
        tell_state(t, c, i, CONN_CLOSED, at);
    }
}

/* A SYN-ACK of another shard's connection whose sender is this shard's
 * to count (prepare_tick): told as listener() tells the replay's (the
 * census keeps each listener once). What the replay would not count, the
 * SYN-ACKs of a simultaneous open, is counted here (README). */
void census_listen_tick(flows_table *t, const flows_seg *s)
{
    flows_change ch = {.kind = FLOWS_CHANGE_LISTEN, .ts = s->ts};
    ch.addr = (const uint8_t *)s->key;
    ch.port = (uint16_t)s->key[2];
    ch.ip_version = (uint8_t)s->key[3];
    /* The fingerprint listener() takes of the same endpoint. */
    if (!told_lately(t->census, addr_fingerprint(s->key, ch.port, ch.ip_version)))
        tell(t, &ch);
}

void census_start(flows_table *t, int64_t ts)
{
    flows_change ch = {.kind = FLOWS_CHANGE_START, .ts = ts};
    tell(t, &ch);
}

/* Looks at the instances of one slot at packet time `now`; what is not
 * due yet goes back on the wheel when `rearm`. */
static void look(flows_table *t, wheel_slot *sl, int64_t now, int rearm)
{
    uint32_t n = sl->n;
    uint32_t *v = sl->v;
    sl->v = NULL;
    sl->n = sl->cap = 0;
    for (uint32_t j = 0; j < n; j++) {
        if (j + FLUSH_AHEAD < n)
            __builtin_prefetch(conn_at(t, v[j + FLUSH_AHEAD]));
        conn *c = conn_at(t, v[j]);
        if (c->list != LIST_FREE)
            evaluate(t, c, now, now, rearm);
    }
    free(v);
}

static void tell_mark(flows_table *t, int64_t ts)
{
    struct census_wheel *w = t->census;
    if (ts <= w->told || ts < w->mark)
        return;
    w->told = ts;
    flows_change ch = {.kind = FLOWS_CHANGE_MARK, .ts = ts};
    tell(t, &ch);
}

int64_t census_advance(flows_table *t)
{
    struct census_wheel *w = t->census;
    int64_t now_slot = slot_of(t->clock);
    if (w->next == INT64_MIN)
        w->next = now_slot;
    if (now_slot - w->next > (int64_t)WHEEL_SLOTS) {
        /* A silence longer than the wheel: every slot is looked at once,
         * in turn (what is not due goes back, at most one turn later). */
        w->next = now_slot - WHEEL_SLOTS;
    }
    const int64_t now = t->clock - t->offset;
    if (w->n_dirty && now > w->mark)
        flush_dirty(t, w->mark); /* before any segment after the moment */
    while (w->next < now_slot) {
        look(t, &w->slot[(uint64_t)w->next & (WHEEL_SLOTS - 1)], now, 1);
        w->next++;
    }
    /* Every slot before the clock's own has been looked at. */
    tell_mark(t, (now_slot << WHEEL_SHIFT) - t->offset - 1);
    int64_t due = (now_slot + 1) << WHEEL_SHIFT;
    if (w->n_dirty && w->mark < INT64_MAX - t->offset - 1 && w->mark + t->offset + 1 < due)
        due = w->mark + t->offset + 1; /* the first segment after the moment */
    return due;
}

void census_finish(flows_table *t)
{
    const int64_t now = t->clock - t->offset;
    flush_dirty(t, now); /* the moment is not passed: census_advance flushed then */
    for (uint32_t i = 0; i < WHEEL_SLOTS; i++)
        look(t, &t->census->slot[i], now, 0);
}

void census_end(flows_table *t, int64_t end)
{
    tell_mark(t, end);
}

/* ---- incremental runs (state.c) ------------------------------------------ */

void census_save(const flows_table *t, flows_buf *b)
{
    int64_t marks[2] = {t->census->mark, t->census->told};
    flows_buf_put(b, marks, sizeof(marks));
}

int census_load(flows_table *t, flows_buf *b)
{
    int64_t marks[2];
    if (flows_buf_get(b, marks, sizeof(marks)) < 0)
        return -1;
    t->census->mark = marks[0];
    t->census->told = marks[1];
    return 0;
}

/* The instances are loaded: those that waited for the census's next moment
 * wait again, and every timer still running is on the wheel (one looked at
 * with nothing due is harmless: it goes back). */
void census_restore(flows_table *t)
{
    struct census_wheel *w = t->census;
    w->next = slot_of(t->clock);
    for (uint32_t i = 0, n = conntab_high_water(t->tab); i < n; i++) {
        conn *c = conn_at(t, i);
        if (c->list == LIST_FREE)
            continue;
        if (c->ep[0].census & CENSUS_DIRTY) {
            c->ep[0].census &= (uint8_t)~CENSUS_DIRTY;
            /* Without room, its change is told at its next segment or end. */
            (void)census_segment_dirty(t, c);
        }
        int64_t next = INT64_MAX;
        for (int e = 0; e < 2; e++) {
            int64_t at, due;
            (void)counted_state(t, c, e, INT64_MIN, &at, &due);
            if (due < next)
                next = due;
        }
        wheel_rearm(t, c, next);
    }
}
