/*
 * pipeline.c: a ring of batches between the reader and one flows worker,
 * and a ring of finished rows coming back, both on ring/ring.h.
 *
 * Batches: the reader dissects into one batch of its own (`stage`) and
 * prepares it (flows_prepare) into a slot of the batch ring, the only
 * memory that crosses to the worker's core; the worker replays the slots
 * in order and gives them back. Wake-ups are rationed to half the ring.
 *
 * Rows: the worker does not format the rows of the instances that end while
 * it replays (formatting is a large share of a row's cost); it copies their
 * records into the row ring, publishing them after each batch, and the
 * reader, who has time to spare, counts, formats and writes them, in the
 * order they were pushed, at every hand-over and at the end. So the output
 * is byte for byte that of one thread. A batch's rows are published before
 * the batch is given back: a reader that finds every batch replayed finds
 * every row.
 *
 * Census changes (--census, --at, --plot) take the same way as rows: the
 * worker copies them into the change ring and publishes them after each
 * batch; the reader counts them at every hand-over, in order (the host
 * lookups are most of their cost). The census's next moment, which flows
 * asks for after every change, the worker works out itself from the
 * changes it passed on (report_census_moment_after): the same answer on
 * every run, however far the reader is behind.
 *
 * No deadlock: the reader never waits for the worker without emptying the
 * row and change rings. A worker that finds the row ring full kicks the reader's wait
 * for room in the batch ring, whose hook empties it; a reader that is not
 * waiting empties it at its next hand-over. The reader waits for the
 * worker (sync, finish) only through that same wait.
 */
#include "pipeline.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ring.h"

#define NBATCH        16
#define NROWS         512        /* rows in flight from the worker to the reader */
#define NCHANGE       (1u << 18) /* census changes in flight, likewise: a moment's flush (8 MiB) */
#define CHANGE_BUDGET 32         /* census changes counted at a hand-over, at least */
#define NSYN          4096       /* client SYNs (finding 9) in flight, likewise */

/* A census change in flight, its address copied: 32 bytes, two to a cache
 * line (each line crosses from one core to the other). */
typedef struct change_slot {
    int64_t ts;
    uint8_t addr[16];
    uint8_t kind, ip_version, from, to;
    uint16_t port;
    uint8_t pad[2];
} change_slot;
_Static_assert(sizeof(change_slot) == 32, "two census changes to a cache line");

static flows_change change_of(const change_slot *c)
{
    flows_change ch = {.kind = (flows_change_kind)c->kind,
                       .ts = c->ts,
                       .addr = c->addr,
                       .ip_version = c->ip_version,
                       .from = c->from,
                       .to = c->to,
                       .port = c->port};
    return ch;
}

/* A client SYN (or the end of its connection) in flight, its addresses
 * copied: one line, the worker's one write per SYN. */
typedef struct syn_slot {
    _Alignas(64) uint64_t conn_id;
    int64_t ts;
    uint32_t tsval;
    uint16_t client_port, server_port;
    uint8_t kind, ip_version, has_tsval, handshake;
    uint8_t client[16], server[16];
} syn_slot;

/* A batch prepared for the worker. */
typedef struct prep_batch {
    flows_seg seg[PIPELINE_BATCH];
    size_t n;
    const char *path;
} prep_batch;

struct pipeline {
    /* The reader's, read-only for the worker. */
    flows_table *flows;
    report *rep;
    ring *batches;    /* reader -> worker: slots of `batch` */
    ring *rows;       /* worker -> reader: slots of `row` */
    conn_record *row; /* NROWS records */
    report_census *census;
    ring *changes;       /* worker -> reader: slots of `change` */
    change_slot *change; /* NCHANGE slots */
    ring *syns;          /* worker -> reader: slots of `syn` */
    syn_slot *syn;       /* NSYN slots */
    flows_syn_fn syn_fn; /* the reader tells them to it */
    void *syn_ctx;
    int threaded;
    pthread_t worker;
    seg_batch stage;
    prep_batch batch[NBATCH];
    /* The worker's. */
    _Alignas(64) uint32_t rows_pending; /* rows pushed, not yet published */
    uint64_t untracked;                 /* read after the join */
    _Atomic uint64_t alive;             /* for the progress line only: relaxed */
    uint32_t changes_pending;           /* changes pushed, not yet published */
    uint32_t syns_pending;              /* SYNs pushed, not yet published */
    /* The census's moments as the worker knows them from its own changes
     * (the first packet, the last mark): the same on every run. */
    int64_t census_t0, census_mark, census_next; /* census_next INT64_MIN: no packet yet */
    int census_over_time;
    const report_census_config *census_cfg;
};

/* The reader: counts the census changes published so far, at most
 * `budget` of them. */
static void drain_changes(pipeline *p, uint32_t budget)
{
    uint32_t n;
    uint64_t key[32]; /* the hosts' keys, worked out 16 changes ahead */
    while (budget && p->changes && (n = ring_items(p->changes)) != 0) {
        /* Counts `take`; the prefetches look past them, into the changes
         * the next hand-over counts. */
        uint32_t take = n < budget ? n : budget;
        budget -= take;
        uint64_t tail = ring_tail(p->changes);
        flows_change ch;
        for (uint32_t i = 0; i < n && i < 16; i++) {
            ch = change_of(&p->change[(tail + i) % NCHANGE]);
            key[i % 32] = report_census_key(&ch);
        }
        for (uint32_t i = 0; i < take; i++) {
            /* The host lookups miss the caches: overlap them, in two
             * steps (the entry's address is in the slot of the first). */
            if (i + 16 < n) {
                ch = change_of(&p->change[(tail + i + 16) % NCHANGE]);
                key[(i + 16) % 32] = report_census_key(&ch);
                report_census_prefetch(p->census, key[(i + 16) % 32], 0);
            }
            if (i + 8 < n)
                report_census_prefetch(p->census, key[(i + 8) % 32], 1);
            /* The answer, the next moment, the worker knows already. */
            ch = change_of(&p->change[(tail + i) % NCHANGE]);
            (void)report_census_change_key(p->census, &ch, key[i % 32]);
        }
        ring_consume(p->changes, take);
    }
}

/* The reader: tells every client SYN published so far. */
static void drain_syns(pipeline *p)
{
    uint32_t n;
    while (p->syns && (n = ring_items(p->syns)) != 0) {
        uint64_t tail = ring_tail(p->syns);
        for (uint32_t i = 0; i < n; i++) {
            const syn_slot *y = &p->syn[(tail + i) % NSYN];
            flows_syn s = {.kind = (flows_syn_kind)y->kind,
                           .conn_id = y->conn_id,
                           .ts = y->ts,
                           .client_ip = y->client,
                           .server_ip = y->server,
                           .ip_version = y->ip_version,
                           .has_tsval = y->has_tsval,
                           .client_port = y->client_port,
                           .server_port = y->server_port,
                           .tsval = y->tsval,
                           .handshake = (conn_handshake)y->handshake};
            p->syn_fn(p->syn_ctx, &s);
        }
        ring_consume(p->syns, n);
    }
}

/* The reader: counts `budget` census changes, then counts, formats and
 * writes every row published so far. (Rows and changes go to different
 * outputs: neither waits for the other.) */
static void drain_some(pipeline *p, uint32_t budget)
{
    drain_syns(p);
    drain_changes(p, budget);
    uint32_t n;
    while ((n = ring_items(p->rows)) != 0) {
        uint64_t tail = ring_tail(p->rows);
        for (uint32_t i = 0; i < n; i++)
            report_row(p->rep, &p->row[(tail + i) % NROWS]);
        ring_consume(p->rows, n);
    }
}

/* Everything published so far. The hook of the reader's waits for the
 * worker to finish (sync, finish). */
static void drain_rows(void *ctx)
{
    drain_some(ctx, UINT32_MAX);
}

/* The census changes a hand-over counts. A census moment's flush pushes
 * tens of thousands at once (the bench trace: about 30 k a second, all at
 * the moment); a reader that counted them all at once left the worker
 * without batches for milliseconds at every moment, the two threads taking
 * turns. So a part at each hand-over: more while the worker has half the
 * batch ring or more to replay, few when it is about to run dry, and more
 * as they pile up. The ring holds a moment's. */
static uint32_t change_budget(pipeline *p)
{
    if (!p->changes)
        return 0;
    uint32_t busy = !ring_room(p->batches, NBATCH / 2 + 1); /* NBATCH / 2 in flight or more */
    return (busy ? 8 * CHANGE_BUDGET : CHANGE_BUDGET) + ring_items(p->changes) / 1024;
}

/* The hook of the reader's wait for a batch slot: the worker has every
 * batch to replay; changes are counted until a slot frees. */
static void drain_waiting(void *ctx)
{
    pipeline *p = ctx;
    do
        drain_some(p, CHANGE_BUDGET);
    while (!ring_room(p->batches, 1) && p->changes && ring_items(p->changes));
}

/* The worker: the rows pushed so far go to the reader. */
static void publish_rows(pipeline *p)
{
    if (p->changes_pending) {
        ring_produce(p->changes, p->changes_pending);
        p->changes_pending = 0;
    }
    if (p->syns_pending) {
        ring_produce(p->syns, p->syns_pending);
        p->syns_pending = 0;
    }
    if (p->rows_pending) {
        ring_produce(p->rows, p->rows_pending);
        p->rows_pending = 0;
    }
}

/* The hook of the worker's wait for room in the row ring: the reader may be
 * waiting for room in the batch ring; it empties the row ring then. */
static void kick_reader(void *ctx)
{
    pipeline *p = ctx;
    ring_kick(p->batches, RING_PRODUCER);
}

/* flows_emit_fn of the worker: the record goes to the reader. */
static void push_row(void *ctx, const conn_record *rec)
{
    pipeline *p = ctx;
    if (!ring_room(p->rows, p->rows_pending + 1)) {
        publish_rows(p);
        ring_wait_room(p->rows, NROWS - 1, kick_reader, p);
    }
    p->row[(ring_head(p->rows) + p->rows_pending++) % NROWS] = *rec;
}

/* flows_change_fn of the worker: the change goes to the reader. */
static int64_t push_change(void *ctx, const flows_change *ch)
{
    pipeline *p = ctx;
    if (!ring_room(p->changes, p->changes_pending + 1)) {
        publish_rows(p);
        ring_wait_room(p->changes, NCHANGE - 1, kick_reader, p);
    }
    change_slot *c = &p->change[(ring_head(p->changes) + p->changes_pending++) % NCHANGE];
    c->ts = ch->ts;
    c->kind = (uint8_t)ch->kind;
    c->ip_version = ch->ip_version;
    c->from = ch->from;
    c->to = ch->to;
    c->port = ch->port;
    if (ch->addr)
        memcpy(c->addr, ch->addr, sizeof(c->addr));
    /* What the census would answer: its next moment after the last mark
     * (it changes only with the first packet and a mark). */
    if ((ch->kind == FLOWS_CHANGE_START && p->census_next == INT64_MIN) ||
        (ch->kind == FLOWS_CHANGE_MARK && ch->ts > p->census_mark)) {
        if (ch->kind == FLOWS_CHANGE_START)
            p->census_t0 = ch->ts;
        p->census_mark = ch->ts;
        p->census_next = report_census_moment_after(p->census_cfg, p->census_over_time,
                                                    p->census_t0, p->census_mark);
    }
    return p->census_next;
}

/* flows_syn_fn of the worker: the SYN goes to the reader. */
static void push_syn(void *ctx, const flows_syn *s)
{
    pipeline *p = ctx;
    if (!ring_room(p->syns, p->syns_pending + 1)) {
        publish_rows(p);
        ring_wait_room(p->syns, NSYN - 1, kick_reader, p);
    }
    uint64_t at = ring_head(p->syns) + p->syns_pending++;
    syn_slot *y = &p->syn[at % NSYN];
    /* The slot a few SYNs on, last read on the reader's core: its line on
     * its way here before it is written. */
    __builtin_prefetch(&p->syn[(at + 8) % NSYN], 1);
    y->conn_id = s->conn_id;
    y->kind = (uint8_t)s->kind;
    y->handshake = (uint8_t)s->handshake;
    if (s->kind == FLOWS_SYN_SENT) {
        y->ts = s->ts;
        y->tsval = s->tsval;
        y->client_port = s->client_port;
        y->server_port = s->server_port;
        y->ip_version = s->ip_version;
        y->has_tsval = s->has_tsval;
        memcpy(y->client, s->client_ip, sizeof(y->client));
        memcpy(y->server, s->server_ip, sizeof(y->server));
    }
}

void pipeline_syn_hook(pipeline *p, flows_syn_fn fn, void *ctx)
{
    if (p->threaded) {
        p->syn = aligned_alloc(64, NSYN * sizeof(*p->syn));
        p->syns = ring_new(NSYN, NSYN / 2);
        if (p->syn && p->syns) {
            p->syn_fn = fn;
            p->syn_ctx = ctx;
            flows_set_syn_hook(p->flows, push_syn, p);
            return;
        }
        free(p->syn);
        ring_free(p->syns);
        p->syn = NULL;
        p->syns = NULL;
    }
    flows_set_syn_hook(p->flows, fn, ctx);
}

int pipeline_census(pipeline *p, report_census *rc)
{
    if (!rc || !p->threaded)
        return 0;
    p->change = aligned_alloc(64, NCHANGE * sizeof(*p->change)); /* lines not shared */
    p->changes = ring_new(NCHANGE, NCHANGE / 2);
    if (!p->change || !p->changes) {
        free(p->change);
        ring_free(p->changes);
        p->change = NULL;
        p->changes = NULL;
        return -1;
    }
    p->census = rc;
    p->census_cfg = report_census_get_config(rc);
    p->census_over_time = report_census_over_time(rc);
    p->census_next = INT64_MIN;
    if (report_census_resumed(rc, &p->census_t0, &p->census_mark)) { /* --state-in */
        /* Every moment up to the last mark was committed: the next after
         * the last committed (or after t0, none yet) is the one after it. */
        if (p->census_mark < p->census_t0)
            p->census_mark = p->census_t0;
        p->census_next = report_census_moment_after(p->census_cfg, p->census_over_time,
                                                    p->census_t0, p->census_mark);
    }
    return flows_set_census(p->flows, push_change, p);
}

/* The worker's work on one batch. */
static void replay(pipeline *p, prep_batch *b)
{
    size_t failed = flows_replay(p->flows, b->seg, b->n);
    if (failed) {
        /* One message, then a count: memory does not come back for the
         * next segment either. */
        if (p->untracked == 0)
            fprintf(stderr,
                    "synfin: %s: out of memory, connections not tracked (see --max-flows)\n",
                    b->path ? b->path : "input");
        p->untracked += failed;
    }
    atomic_store_explicit(&p->alive, flows_get_stats(p->flows)->alive, memory_order_relaxed);
    b->n = 0;
}

static void *worker_main(void *arg)
{
    pipeline *p = arg;
    while (ring_wait_items(p->batches, NULL, NULL)) { /* 0: closed, every batch replayed */
        replay(p, &p->batch[ring_tail(p->batches) % NBATCH]);
        publish_rows(p);
        ring_consume(p->batches, 1);
    }
    return NULL;
}

pipeline *pipeline_start(flows_table *flows, report *rep)
{
    pipeline *p = aligned_alloc(_Alignof(pipeline), sizeof(pipeline));
    if (!p)
        return NULL;
    memset(p, 0, sizeof(*p));
    p->flows = flows;
    p->rep = rep;
    atomic_init(&p->alive, 0);
    if (!rep)
        return p; /* rows straight from the worker; batches replayed inline */
    p->row = malloc(NROWS * sizeof(*p->row));
    p->batches = ring_new(NBATCH, NBATCH / 2);
    p->rows = ring_new(NROWS, NROWS / 2);
    if (p->row && p->batches && p->rows) {
        flows_set_emit(flows, push_row, p);
        if (pthread_create(&p->worker, NULL, worker_main, p) == 0) {
            p->threaded = 1;
            return p;
        }
        flows_set_emit(flows, report_row, rep);
    }
    ring_free(p->rows);
    ring_free(p->batches);
    free(p->row);
    p->rows = p->batches = NULL;
    p->row = NULL;
    return p; /* no thread: batches are replayed inline */
}

seg_batch *pipeline_batch(pipeline *p)
{
    return &p->stage;
}

void pipeline_submit(pipeline *p)
{
    seg_batch *in = &p->stage;
    if (in->n == 0)
        return;
    if (p->threaded)
        ring_wait_room(p->batches, NBATCH - 1, drain_waiting, p); /* a slot for this batch */
    prep_batch *b = &p->batch[p->threaded ? ring_head(p->batches) % NBATCH : 0];
    flows_prepare(p->flows, in->seg, in->ts, in->n, b->seg);
    b->n = in->n;
    b->path = in->path;
    in->n = 0;
    if (!p->threaded) {
        replay(p, b);
        return;
    }
    ring_produce(p->batches, 1);
    drain_some(p, change_budget(p));
}

/* The reader: waits until every batch handed over is replayed and its rows
 * written. */
static void wait_replayed(pipeline *p)
{
    ring_wait_room(p->batches, 0, drain_rows, p);
    drain_rows(p);
}

void pipeline_sync(pipeline *p)
{
    pipeline_submit(p);
    if (p->threaded)
        wait_replayed(p);
}

int pipeline_stopped(const pipeline *p)
{
    return p->rep && report_failed(p->rep);
}

uint64_t pipeline_alive(const pipeline *p)
{
    return atomic_load_explicit(&p->alive, memory_order_relaxed);
}

void pipeline_waits(const pipeline *p, uint64_t *reader, uint64_t *worker)
{
    *reader = p->threaded ? ring_waits(p->batches, RING_PRODUCER) : 0;
    *worker = p->threaded ? ring_waits(p->batches, RING_CONSUMER) : 0;
}

uint64_t pipeline_finish(pipeline *p)
{
    pipeline_submit(p);
    if (p->threaded) {
        wait_replayed(p);
        ring_close(p->batches);
        pthread_join(p->worker, NULL);
        drain_rows(p); /* none left: the worker published its rows before the wait ended */
        flows_set_emit(p->flows, report_row, p->rep);
        if (p->syns)
            flows_set_syn_hook(p->flows, p->syn_fn, p->syn_ctx);
        if (p->census)
            flows_set_census(p->flows, report_census_change, p->census);
    }
    uint64_t untracked = p->untracked;
    ring_free(p->changes);
    free(p->change);
    ring_free(p->syns);
    free(p->syn);
    ring_free(p->rows);
    ring_free(p->batches);
    free(p->row);
    free(p);
    return untracked;
}
