/*
 * flows.c: the flow table, connection instances and their timers, and the
 * way in: segments prepared (flows_prepare) and replayed (flows_replay)
 * (../shared/SPEC.md §1, §3 and §4's "rows are written when").
 * The state machine itself is machine.c's; the row is record.c's.
 *
 * Invariants:
 * - one instance per 4-tuple in the index at a time; an instance leaves the
 *   index exactly when it is emitted (end_conn) and is freed right after;
 * - every tracked instance is on exactly one of three lists: `embryonic`
 *   (only the client's SYNs seen) and `active`, lazy LRUs by activity (idle
 *   timeout, eviction), or `closing` (some endpoint in TIME_WAIT, or reset)
 *   ordered by deadline. All are FIFO in capture time, so timer upkeep is
 *   O(1) amortised per segment.
 */
#include <stdlib.h>
#include <string.h>

#include "flows_int.h"

/* ---- lists ------------------------------------------------------------ */

static void list_remove(flows_table *t, conn_list *l, conn *c)
{
    conn_cold *k = cold(t, c);
    if (k->prev != CONNTAB_NONE) {
        cold_at(t, k->prev)->next = k->next;
    } else {
        l->head = k->next;
        t->due = INT64_MIN;
    }
    if (k->next != CONNTAB_NONE)
        cold_at(t, k->next)->prev = k->prev;
    else
        l->tail = k->prev;
    k->prev = k->next = CONNTAB_NONE;
}

static void list_append(flows_table *t, conn_list *l, conn *c)
{
    uint32_t i = conntab_index(t->tab, c);
    conn_cold *k = cold_at(t, i);
    k->next = CONNTAB_NONE;
    k->prev = l->tail;
    if (l->tail != CONNTAB_NONE) {
        cold_at(t, l->tail)->next = i;
    } else {
        l->head = i;
        t->due = INT64_MIN;
    }
    l->tail = i;
}

/* The first instance of a list, or NULL. */
static conn *list_head(const flows_table *t, const conn_list *l)
{
    return l->head == CONNTAB_NONE ? NULL : conn_at(t, l->head);
}

static conn_list *list_of(flows_table *t, const conn *c)
{
    return c->list == LIST_CLOSING     ? &t->closing
           : c->list == LIST_EMBRYONIC ? &t->embryonic
                                       : &t->active;
}

/* ---- configuration and life cycle ------------------------------------- */

/* Timer lengths are kept below 2^60 ns (see clamp_ts). */
int64_t clamp_duration(int64_t d)
{
    const int64_t max = INT64_C(1) << 59;
    return d < 0 ? 0 : d > max ? max : d;
}

void flows_config_default(flows_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->msl = FLOWS_NS_PER_SEC * 30;
    cfg->idle_timeout = FLOWS_NS_PER_SEC * 2 * 3600;
    cfg->max_flows = FLOWS_DEFAULT_MAX_FLOWS;
    cfg->syn_timeout = FLOWS_NS_PER_SEC * 127;
    cfg->fin_timeout = FLOWS_NS_PER_SEC * 60;
    cfg->synack_timeout = FLOWS_NS_PER_SEC * 63;
}

flows_table *flows_new(const flows_config *cfg, flows_emit_fn emit, void *ctx)
{
    flows_table *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    if (cfg)
        t->cfg = *cfg;
    else
        flows_config_default(&t->cfg);
    int64_t *const timers[] = {&t->cfg.msl, &t->cfg.idle_timeout, &t->cfg.syn_timeout,
                               &t->cfg.fin_timeout, &t->cfg.synack_timeout};
    for (size_t i = 0; i < sizeof timers / sizeof timers[0]; i++)
        *timers[i] = clamp_duration(*timers[i]);
    t->emit = emit;
    t->ctx = ctx;
    t->next_id = 1;
    t->due = INT64_MIN;
    t->active.head = t->active.tail = CONNTAB_NONE;
    t->closing.head = t->closing.tail = CONNTAB_NONE;
    t->embryonic.head = t->embryonic.tail = CONNTAB_NONE;
    t->dedup = calloc(DEDUP_SLOTS, sizeof(*t->dedup));
    t->tab = conntab_new(sizeof(conn), sizeof(flow_key), sizeof(conn_cold), CONN_ALIGN);
    t->listeners = listeners_new();
    t->tunnels = tunnels_new();
    if (!t->dedup || !t->tab || !t->listeners || !t->tunnels) {
        conntab_free(t->tab);
        listeners_free(t->listeners);
        tunnels_free(t->tunnels);
        free(t->dedup);
        free(t);
        return NULL;
    }
    return t;
}

void flows_set_emit(flows_table *t, flows_emit_fn emit, void *ctx)
{
    t->emit = emit;
    t->ctx = ctx;
}

void flows_set_syn_hook(flows_table *t, flows_syn_fn fn, void *ctx)
{
    t->syn_hook = fn;
    t->syn_ctx = ctx;
}

const flows_stats *flows_get_stats(const flows_table *t)
{
    return &t->stats;
}

/* ---- emitting --------------------------------------------------------- */

/* Ends TIME_WAIT of endpoint e at `when` for `reason` (no-op elsewhere).
 * Censored ends (capture end, eviction) keep the state as it is: the row
 * then says the endpoint was still in TIME_WAIT. */
void timer_leave_time_wait(flows_table *t, conn *c, int i, int64_t when, conn_tw_reason reason)
{
    endpoint *e = &c->ep[i];
    if (e->state != CONN_TIME_WAIT || (e->flags & EP_TW_LEFT))
        return;
    if (reason != TW_CAPTURE_END && reason != TW_EVICTED)
        e->state = CONN_CLOSED;
    cold(t, c)->tw_deadline[i] = when;
    e->tw_reason = (uint8_t)reason;
    e->flags |= EP_TW_LEFT;
}

/* Ends the instance's timers and counts it, then hands its row over. */
static void emit_conn(flows_table *t, conn *c, conn_end_reason why, int64_t when,
                      conn_tw_reason tw_reason)
{
    conn_record rec;
    machine_unseen_timers(t, c);
    for (int i = 0; i < 2; i++)
        timer_leave_time_wait(t, c, i, when, tw_reason);
    if (t->census && why != END_CAPTURE_END)
        census_leave(t, c, when);
    if (why == END_IDLE) {
        c->anomalies |= ANOM_IDLE_TIMEOUT;
        t->stats.idle_timeouts++;
    } else if (why == END_EVICTED) {
        c->anomalies |= ANOM_EVICTED;
        t->stats.evicted++;
    } else if (why == END_REUSED) {
        t->stats.reused++;
    }
    if (c->role_by == ROLE_BY_PORT)
        listeners_decide_roles(t, c);
    record_fill(t, c, &rec);
    rec.end_reason = why;
    if (why != END_CLOSED)
        rec.end_ts = when;
    if (t->syn_hook && rec.handshake != HS_MIDSTREAM) {
        flows_syn done = {
            .kind = FLOWS_SYN_DONE, .conn_id = rec.conn_id, .handshake = rec.handshake};
        t->syn_hook(t->syn_ctx, &done);
    }
    t->stats.alive--;
    if (t->emit)
        t->emit(t->ctx, &rec);
}

/* Hands the instance over and frees it. `when` is the moment it ends; an
 * endpoint still in TIME_WAIT leaves it then for `tw_reason`. */
static void end_conn(flows_table *t, conn *c, conn_end_reason why, int64_t when,
                     conn_tw_reason tw_reason)
{
    uint32_t i = conntab_index(t->tab, c);
    conntab_remove(t->tab, i, key_hash(&c->key));
    list_remove(t, list_of(t, c), c);
    emit_conn(t, c, why, when, tw_reason);
    c->list = LIST_FREE;
    conntab_release(t->tab, i); /* reuses c's first bytes: after the row */
}

/* The natural end of a closing instance at its deadline: TIME_WAIT expired
 * (each endpoint at its own deadline) or the linger after a reset passed. */
static void expire_conn(flows_table *t, conn *c)
{
    conn_cold *k = cold(t, c);
    for (int i = 0; i < 2; i++)
        timer_leave_time_wait(t, c, i, k->tw_deadline[i], TW_EXPIRED);
    end_conn(t, c, END_CLOSED, k->deadline, TW_REASON_NONE);
}

/* Ends whatever is due at t->clock. */
/*
 * The active and embryonic lists are lazy LRUs: an instance is queued with
 * the time it was queued (kept in `deadline`, unused there) and is not
 * moved when it sees a packet, which would cost two cache misses on its
 * list neighbours per packet. A head that was active since it was queued is
 * queued again when it reaches the front: at most once per idle period,
 * O(1) amortised. Queue times are the table's clock, so they are in order,
 * and no instance can be idle while the head's queue time is recent.
 */
static void requeue(flows_table *t, conn_list *l, conn *c)
{
    list_remove(t, l, c);
    cold(t, c)->deadline = t->clock;
    list_append(t, l, c);
}

/* The least recently active instance of a lazy list, or NULL. */
static conn *least_recent(flows_table *t, conn_list *l)
{
    conn *c;
    while ((c = list_head(t, l)) && conn_active(t, c) > cold(t, c)->deadline)
        requeue(t, l, c);
    return c;
}

static void expire_idle(flows_table *t, conn_list *l)
{
    int64_t limit = t->clock - t->cfg.idle_timeout;
    conn *c;
    while ((c = list_head(t, l)) && cold(t, c)->deadline <= limit) {
        if (conn_active(t, c) <= limit)
            end_conn(t, c, END_IDLE, t->clock - t->offset, TW_REASON_NONE);
        else
            requeue(t, l, c);
    }
}

/* When a lazy list's head can end at the earliest (see expire_idle()). */
static int64_t idle_due(const flows_table *t, const conn_list *l)
{
    conn *c = list_head(t, l);
    return c ? cold(t, c)->deadline + t->cfg.idle_timeout : INT64_MAX;
}

static void expire_now(flows_table *t)
{
    conn *c;
    while ((c = list_head(t, &t->closing)) && cold(t, c)->deadline <= t->clock)
        expire_conn(t, c);
    if (t->cfg.idle_timeout > 0) {
        expire_idle(t, &t->active);
        expire_idle(t, &t->embryonic);
    }
    /* Nothing is due before the earliest head's deadline. */
    c = list_head(t, &t->closing);
    int64_t due = c ? cold(t, c)->deadline : INT64_MAX;
    if (t->cfg.idle_timeout > 0) {
        int64_t a = idle_due(t, &t->active), e = idle_due(t, &t->embryonic);
        due = a < due ? a : due;
        due = e < due ? e : due;
    }
    if (t->census) {
        int64_t w = census_advance(t);
        due = w < due ? w : due;
    }
    t->due = due;
}

/* Ends whatever is due at t->clock. Per segment: the test is inline, the
 * work (rare) is not. */
static inline void expire_due(flows_table *t)
{
    if (t->clock >= t->due)
        expire_now(t);
}

/* ---- timers per instance ---------------------------------------------- */

/* Puts the instance on the right list after a segment: `closing` with the
 * latest deadline of its endpoints when it is closing, else the tail of
 * `active`. */
static void reschedule(flows_table *t, conn *c)
{
    /* TIME_WAIT deadlines are kept in packet time (the row reports them);
     * they run out on the timers' clock. */
    int closing =
        (c->hs & HSF_RESET) || c->ep[0].state == CONN_TIME_WAIT || c->ep[1].state == CONN_TIME_WAIT;
    /* An active instance stays where it is (the active list is a lazy LRU,
     * see expire_due()); a closing one moves only when its deadline does. */
    if (!closing) {
        if (c->list == LIST_EMBRYONIC && c->packets[SERVER]) {
            /* The server answered: no longer a mere attempt. */
            list_remove(t, &t->embryonic, c);
            c->list = LIST_ACTIVE;
            cold(t, c)->deadline = t->clock;
            list_append(t, &t->active, c);
        }
        return;
    }
    /* The latest deadline of the endpoints in TIME_WAIT and of the linger
     * after a reset (at least one of them applies). */
    conn_cold *k = cold(t, c);
    int64_t deadline = INT64_MIN;
    for (int i = 0; i < 2; i++)
        if (c->ep[i].state == CONN_TIME_WAIT && k->tw_deadline[i] + t->offset > deadline)
            deadline = k->tw_deadline[i] + t->offset;
    if ((c->hs & HSF_RESET) && k->deadline > deadline)
        deadline = k->deadline; /* linger set by the reset */
    if (c->list == LIST_CLOSING && k->deadline == deadline)
        return;
    list_remove(t, list_of(t, c), c);
    c->list = LIST_CLOSING;
    k->deadline = deadline;
    list_append(t, &t->closing, c);
}

void timer_enter_time_wait(flows_table *t, conn *c, int i, int64_t ts)
{
    endpoint *e = &c->ep[i];
    conn_cold *k = cold(t, c);
    if (!(e->flags & EP_TW)) {
        e->flags |= EP_TW;
        k->tw_start[i] = ts;
    }
    e->state = CONN_TIME_WAIT;
    k->tw_deadline[i] = ts + 2 * t->cfg.msl;
}

/* Linger for 2*MSL after a reset, so that segments still in flight are
 * counted with this instance instead of opening a midstream one. */
void timer_linger(flows_table *t, conn *c, int64_t ts)
{
    cold(t, c)->deadline = ts + t->offset + 2 * t->cfg.msl;
    t->due = INT64_MIN; /* it may be a list's head */
}

/* ---- lookup and creation ---------------------------------------------- */

static conn *new_conn(flows_table *t, const flow_key *k, uint32_t hashv, int sender_is_a,
                      const flows_seg *s, int64_t ts)
{
    if (t->cfg.max_flows && t->stats.alive >= t->cfg.max_flows) {
        /* Unanswered attempts go first (a SYN flood must not push out the
         * connections that got an answer), then the least recently active
         * instance of the other lists. */
        conn *victim = least_recent(t, &t->embryonic);
        if (!victim) {
            conn *a = least_recent(t, &t->active), *z = list_head(t, &t->closing);
            victim = (!a || (z && z->last_ts < a->last_ts)) ? z : a;
        }
        if (victim)
            end_conn(t, victim, END_EVICTED, t->clock - t->offset, TW_EVICTED);
    }
    uint32_t idx = conntab_alloc(t->tab);
    if (idx == CONNTAB_NONE)
        return NULL;
    conn *c = conn_at(t, idx);
    conn_cold *cc = cold_at(t, idx);
    c->key = *k;
    cc->prev = cc->next = CONNTAB_NONE;
    cc->id = t->next_id++;
    cc->first_ts = c->last_ts = ts;

    int sender_role; /* CLIENT or SERVER */
    uint16_t f = s->flags;
    if ((f & DISSECT_SYN) && !(f & (DISSECT_ACK | DISSECT_RST))) {
        c->role_by = ROLE_BY_SYN;
        sender_role = CLIENT;
    } else if ((f & DISSECT_SYN) && (f & DISSECT_ACK) && !(f & DISSECT_RST)) {
        c->role_by = ROLE_BY_SYNACK;
        sender_role = SERVER;
    } else {
        /* The well-known (lower) port is the server's; on a tie, the first
         * sender is taken for the client. */
        c->role_by = ROLE_BY_PORT;
        uint16_t pa = key_port_a(k), pb = key_port_b(k);
        sender_role = (sender_is_a ? pa < pb : pb < pa) ? SERVER : CLIENT;
    }
    c->client_is_a = (uint8_t)((sender_role == CLIENT) == !!sender_is_a);

    for (int i = 0; i < 2; i++)
        c->ep[i].wscale = WSCALE_UNKNOWN;
    c->ep[sender_role].flags = EP_FIRST; /* a store: the record was just cleared */
    switch ((conn_role_by)c->role_by) {
    case ROLE_BY_SYN:
        c->ep[CLIENT].state = CONN_CLOSED;
        c->ep[SERVER].state = CONN_CLOSED;
        break;
    case ROLE_BY_SYNACK:
        /* The client's SYN was not seen but must have been sent. */
        c->ep[CLIENT].state = CONN_SYN_SENT;
        c->ep[SERVER].state = CONN_LISTEN;
        break;
    case ROLE_BY_PORT:
        /* The capture began after the handshake. */
        c->ep[CLIENT].state = CONN_ESTABLISHED;
        c->ep[SERVER].state = CONN_ESTABLISHED;
        break;
    default: /* ROLE_BY_LISTENER is decided when the row is written */
        break;
    }

    if (conntab_insert(t->tab, idx, hashv) < 0) {
        conntab_release(t->tab, idx);
        t->next_id--;
        return NULL;
    }
    if (c->role_by == ROLE_BY_PORT)
        listeners_midstream(t->listeners, c);
    cc->deadline = t->clock; /* queue time on a lazy list */
    c->list = c->role_by == ROLE_BY_SYN ? LIST_EMBRYONIC : LIST_ACTIVE;
    list_append(t, list_of(t, c), c);
    t->stats.instances++;
    t->stats.alive++;
    if (t->stats.alive > t->stats.peak_alive)
        t->stats.peak_alive = t->stats.alive;
    return c;
}

/* Does this SYN start a new instance on the 4-tuple of c (SPEC §1)? */
static int starts_new_instance(const conn *c, const endpoint *x, const flows_seg *s)
{
    if ((s->flags & (DISSECT_SYN | DISSECT_ACK | DISSECT_RST)) != DISSECT_SYN)
        return 0;
    if ((x->flags & EP_ISN_KNOWN) && x->isn == s->seq)
        return 0; /* a retransmission of the SYN already seen */
    const endpoint *a = &c->ep[CLIENT], *b = &c->ep[SERVER];
    /* In TIME_WAIT: either endpoint (its peer may still be in LAST_ACK when
     * the last ACK was not captured). */
    int closed = (c->hs & HSF_RESET) || a->state == CONN_TIME_WAIT || b->state == CONN_TIME_WAIT ||
                 (a->state == CONN_CLOSED && (b->state == CONN_CLOSED || b->state == CONN_LISTEN));
    /* The same endpoint sending a SYN with another ISN while its first one
     * was never answered abandoned that attempt (retrying clients,
     * scanners). The peer's SYN is a simultaneous open instead. */
    const endpoint *peer = x == a ? b : a;
    int abandoned =
        (x->flags & EP_SENT_SYN) && x->state == CONN_SYN_SENT && !(peer->flags & EP_SEQ_KNOWN);
    return closed || abandoned;
}

/*
 * The timers' clock follows the newest capture time and never goes back;
 * packets a little out of order (multi-queue capture) leave it. A capture
 * whose clock stepped back (2026, then 2023) would find every later timer
 * run out and every connection idle for years: a step back of more than
 * CLOCK_STEP moves the capture's time line by `offset`, so that arming
 * and checking stay on one clock.
 */
#define CLOCK_STEP FLOWS_NS_PER_SEC
#define OFFSET_MAX (INT64_C(1) << 61) /* ts + offset + a timer stays below 2^63 */

/* The capture's time line moves by a new offset. */
static void step_clock(flows_table *t, int64_t offset)
{
    t->offset = offset;
    t->stats.clock_steps++;
    t->due = INT64_MIN; /* every deadline may have moved */
}

static void advance_clock(flows_table *t, int64_t ts)
{
    int64_t now = ts + t->offset;
    if (t->offset && now > t->clock + CLOCK_STEP && ts >= t->clock - CLOCK_STEP &&
        ts <= t->clock + CLOCK_STEP) {
        /* Back on the time line of before the step (two clocks
         * interleaved): no offset, and no leap ahead either. */
        step_clock(t, 0);
        now = ts;
    }
    if (!t->clock_set) {
        t->clock = now;
        t->clock_set = 1;
        if (t->census)
            census_start(t, ts); /* the first packet */
        return;
    }
    if (now < t->clock) {
        t->stats.out_of_order++;
        if (t->clock - now > CLOCK_STEP && t->offset + (t->clock - now) <= OFFSET_MAX)
            step_clock(t, t->offset + (t->clock - now));
        return;
    }
    t->clock = now;
}

/* Tells the syn hook of segment s, the client's SYN (without ACK) of c.
 * Out of line: the hook is rare. */
static __attribute__((noinline)) void tell_syn(flows_table *t, const conn *c, const flows_seg *s)
{
    const uint8_t *a = (const uint8_t *)&c->key.w[0], *b = (const uint8_t *)&c->key.w[2];
    uint16_t pa = key_port_a(&c->key), pb = key_port_b(&c->key);
    int has = (s->opts & DISSECT_OPT_TIMESTAMP) != 0;
    flows_syn syn = {.kind = FLOWS_SYN_SENT,
                     .conn_id = cold(t, c)->id,
                     .ts = s->ts,
                     .client_ip = c->client_is_a ? a : b,
                     .server_ip = c->client_is_a ? b : a,
                     .ip_version = key_ip_version(&c->key),
                     .has_tsval = (uint8_t)has,
                     .client_port = c->client_is_a ? pa : pb,
                     .server_port = c->client_is_a ? pb : pa,
                     .tsval = has ? s->tsval : 0};
    t->syn_hook(t->syn_ctx, &syn);
}

/* Replays one prepared segment. */
static int replay_one(flows_table *t, const flows_seg *s)
{
    const int64_t ts = s->ts;
    const int sender_is_a = s->bits & FLOWS_SEG_FROM_A;
    if (__builtin_expect(s->bits & FLOWS_SEG_TICK, 0)) {
        uint64_t out_of_order = t->stats.out_of_order; /* counts segments only */
        advance_clock(t, ts);
        t->stats.out_of_order = out_of_order;
        expire_due(t);
        if (t->census && (s->flags & DISSECT_SYN))
            census_listen_tick(t, s);
        return 0;
    }
    t->stats.segments++;
    advance_clock(t, ts);
    expire_due(t);

    if (s->bits & FLOWS_SEG_DUPLICATE) {
        t->stats.duplicates++;
        return 0;
    }
    flow_key k;
    memcpy(k.w, s->key, sizeof(k.w));
    uint32_t found = conntab_find(t->tab, &k, s->hash);
    conn *c = found == CONNTAB_NONE ? NULL : conn_at(t, found);
    if (c && c->list == LIST_CLOSING && cold(t, c)->deadline <= t->clock) {
        expire_conn(t, c); /* due, but behind a later deadline in the list */
        c = NULL;
    }
    if (c) {
        int d = (!!sender_is_a == !!c->client_is_a) ? CLIENT : SERVER;
        if (starts_new_instance(c, &c->ep[d], s)) {
            end_conn(t, c, END_REUSED, ts, TW_REUSED);
            c = NULL;
        }
    }
    if (!c) {
        c = new_conn(t, &k, s->hash, sender_is_a, s, ts);
        if (!c)
            return -1;
    }
    int d = (!!sender_is_a == !!c->client_is_a) ? CLIENT : SERVER;

    c->packets[d]++;
    c->bytes[d] += s->payload_len;
    if (ts - c->last_ts >= IDLE_NOTE)
        machine_idle(t, c, d, s, ts); /* rare: the longest gap, keepalives */
    if (ts > c->last_ts)
        c->last_ts = ts;
    if (ts < c->last_ts && ts < cold(t, c)->first_ts) /* out of order: first_ts <= last_ts */
        record_first_ts(t, c, ts);

    /* The client's SYNs only (off: never taken; on, the test here, not a
     * call per segment). */
    if (t->syn_hook && d == CLIENT &&
        (s->flags & (DISSECT_SYN | DISSECT_ACK | DISSECT_RST)) == DISSECT_SYN)
        tell_syn(t, c, s);
    if (history_due(&c->ep[d], s))
        history_note(t, c, d, s);
    machine_segment(t, c, d, s, ts);
    reschedule(t, c);
    if (t->census)
        census_segment(t, c, s, ts);
    return 0;
}

int flows_packet(flows_table *t, const dissect_segment *s, int64_t ts)
{
    flows_seg p;
    flows_prepare(t, s, &ts, 1, &p);
    return replay_one(t, &p);
}

/* How far ahead the index slot and the instance are prefetched. At archive
 * scale nearly every lookup misses the caches twice (slot, then instance);
 * issuing those loads for later segments while this one is replayed lets
 * the misses overlap instead of queueing one after the other. */
#define PREFETCH_SLOT 32
#define PREFETCH_CONN 16
/* The batch itself was written on the reader's core: its lines are fetched
 * from there, PREFETCH_SEG segments ahead of the slot's, whose hash they
 * hold (BENCHMARKS, "Ninth session"). */
#define PREFETCH_SEG 64

size_t flows_replay(flows_table *t, const flows_seg *sg, size_t m)
{
    size_t failed = 0;
    for (size_t i = 0; i < m && i < PREFETCH_SLOT; i++)
        conntab_prefetch_slot(t->tab, sg[i].hash);
    for (size_t i = 0; i < m; i++) {
        if (i + PREFETCH_SLOT < m)
            conntab_prefetch_slot(t->tab, sg[i + PREFETCH_SLOT].hash);
        if (i + PREFETCH_CONN < m)
            conntab_prefetch_elem(t->tab, sg[i + PREFETCH_CONN].hash);
        if (i + PREFETCH_SEG < m) { /* both lines a segment may span */
            __builtin_prefetch((const char *)&sg[i + PREFETCH_SEG]);
            __builtin_prefetch((const char *)&sg[i + PREFETCH_SEG] + 64);
        }
        if (replay_one(t, &sg[i]) < 0)
            failed++;
    }
    return failed;
}

void flows_finish(flows_table *t, int64_t capture_end)
{
    capture_end = clamp_ts(capture_end);
    /* The capture's end is its latest time; after a clock step that may
     * come before the step, so the timers' clock stays where it is then. */
    int64_t end_clock = t->offset ? t->clock : capture_end;
    if (!t->clock_set || end_clock > t->clock)
        t->clock = end_clock;
    /* ... and a censored TIME_WAIT ends then, in the time line of now. */
    if (t->offset)
        capture_end = t->clock - t->offset;
    expire_due(t);
    if (t->census)
        census_finish(t);
    /* Whatever is left was alive at the end of the capture. They are handed
     * over in pool order, a sequential walk the hardware prefetches (the
     * lists would chase a pointer, and miss the cache, per instance), and
     * the table is emptied at once. Closing instances whose deadline is due
     * but sat behind a later one expire normally. */
    for (uint32_t i = 0, n = conntab_high_water(t->tab); i < n; i++) {
        conn *c = conn_at(t, i);
        if (c->list == LIST_FREE)
            continue;
        conn_cold *k = cold_at(t, i);
        if (c->list == LIST_CLOSING && k->deadline <= end_clock) {
            for (int e = 0; e < 2; e++)
                timer_leave_time_wait(t, c, e, k->tw_deadline[e], TW_EXPIRED);
            emit_conn(t, c, END_CLOSED, k->deadline, TW_REASON_NONE);
        } else {
            /* Not before its own last packet (of a time line before a step). */
            emit_conn(t, c, END_CAPTURE_END, c->last_ts > capture_end ? c->last_ts : capture_end,
                      TW_CAPTURE_END);
        }
    }
    t->active.head = t->active.tail = CONNTAB_NONE;
    t->closing.head = t->closing.tail = CONNTAB_NONE;
    t->embryonic.head = t->embryonic.tail = CONNTAB_NONE;
    t->due = INT64_MIN;
    conntab_clear(t->tab);
    if (t->census)
        census_end(t, capture_end);
}

void flows_free(flows_table *t)
{
    if (!t)
        return;
    census_free(t);
    conntab_free(t->tab);
    listeners_free(t->listeners);
    tunnels_free(t->tunnels);
    free(t->dedup);
    free(t);
}
