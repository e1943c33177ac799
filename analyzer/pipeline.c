/*
 * pipeline.c: a ring of batches between the reader and one flows worker.
 *
 * Invariant: batches go full in the order `filled` counts them and come
 * back empty in the same order (`done`); slot i % NBATCH is the reader's
 * while filled - done < NBATCH, else it waits. One mutex and two condition
 * variables; each side locks twice per 256 segments.
 *
 * Wake-ups are system calls, so they are rationed: a side that has to wait
 * says how far the other must get before waking it (`reader_wake`,
 * `worker_wake`), half the ring, and the other side signals only then.
 * Waiting is the exception once the ring is in steady state.
 */
#include "pipeline.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#define NBATCH    16
#define NO_WAITER UINT64_MAX

struct pipeline {
    flows_table *flows;
    report *rep;
    seg_batch batch[NBATCH];
    uint64_t filled; /* batches handed to the worker */
    uint64_t done;   /* batches the worker has replayed */
    int closing;     /* no more batches will come */
    /* A waiting side and when to wake it (NO_WAITER: not waiting). */
    uint64_t reader_wake; /* the reader: when filled - done <= this */
    uint64_t worker_wake; /* the worker: when filled - done >= this */
    int threaded;
    pthread_t worker;
    pthread_mutex_t lock;
    pthread_cond_t has_work, has_room;
    uint64_t untracked; /* worker only, read after the join */
    atomic_int stopped;
    atomic_ullong alive;
};

/* The worker's work on one batch. */
static void replay(pipeline *p, seg_batch *b)
{
    size_t failed = flows_packets_prepared(p->flows, b->seg, b->prep, b->ts, b->n);
    if (failed) {
        /* One message, then a count: memory does not come back for the
         * next segment either. */
        if (p->untracked == 0)
            fprintf(stderr,
                    "synfin: %s: out of memory, connections not tracked (see --max-flows)\n",
                    b->path ? b->path : "input");
        p->untracked += failed;
    }
    if (p->rep && report_failed(p->rep))
        atomic_store_explicit(&p->stopped, 1, memory_order_relaxed);
    atomic_store_explicit(&p->alive, flows_get_stats(p->flows)->alive, memory_order_relaxed);
    b->n = 0;
}

static void *worker_main(void *arg)
{
    pipeline *p = arg;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        if (p->done == p->filled && !p->closing) {
            p->worker_wake = NBATCH / 2;
            while (p->done == p->filled && !p->closing)
                pthread_cond_wait(&p->has_work, &p->lock);
            p->worker_wake = NO_WAITER;
        }
        if (p->done == p->filled)
            break; /* closing, and everything replayed */
        seg_batch *b = &p->batch[p->done % NBATCH];
        pthread_mutex_unlock(&p->lock);
        replay(p, b);
        pthread_mutex_lock(&p->lock);
        p->done++;
        if (p->reader_wake != NO_WAITER && p->filled - p->done <= p->reader_wake)
            pthread_cond_signal(&p->has_room);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

pipeline *pipeline_start(flows_table *flows, report *rep)
{
    pipeline *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->flows = flows;
    p->rep = rep;
    p->reader_wake = p->worker_wake = NO_WAITER;
    atomic_init(&p->stopped, 0);
    atomic_init(&p->alive, 0);
    if (pthread_mutex_init(&p->lock, NULL) == 0) {
        if (pthread_cond_init(&p->has_work, NULL) == 0) {
            if (pthread_cond_init(&p->has_room, NULL) == 0) {
                if (pthread_create(&p->worker, NULL, worker_main, p) == 0) {
                    p->threaded = 1;
                    return p;
                }
                pthread_cond_destroy(&p->has_room);
            }
            pthread_cond_destroy(&p->has_work);
        }
        pthread_mutex_destroy(&p->lock);
    }
    return p; /* no thread: batches are replayed inline */
}

seg_batch *pipeline_batch(pipeline *p)
{
    return &p->batch[p->filled % NBATCH];
}

void pipeline_submit(pipeline *p)
{
    seg_batch *b = pipeline_batch(p);
    if (b->n == 0)
        return;
    flows_prepare(b->seg, b->n, b->prep);
    if (!p->threaded) {
        replay(p, b);
        return;
    }
    pthread_mutex_lock(&p->lock);
    p->filled++;
    if (p->worker_wake != NO_WAITER && p->filled - p->done >= p->worker_wake)
        pthread_cond_signal(&p->has_work);
    if (p->filled - p->done >= NBATCH) { /* the next slot is still in use */
        p->reader_wake = NBATCH / 2;
        while (p->filled - p->done > NBATCH / 2)
            pthread_cond_wait(&p->has_room, &p->lock);
        p->reader_wake = NO_WAITER;
    }
    pthread_mutex_unlock(&p->lock);
}

void pipeline_sync(pipeline *p)
{
    pipeline_submit(p);
    if (!p->threaded)
        return;
    pthread_mutex_lock(&p->lock);
    if (p->done != p->filled) {
        pthread_cond_signal(&p->has_work); /* however little is queued */
        p->reader_wake = 0;
        while (p->done != p->filled)
            pthread_cond_wait(&p->has_room, &p->lock);
        p->reader_wake = NO_WAITER;
    }
    pthread_mutex_unlock(&p->lock);
}

int pipeline_stopped(const pipeline *p)
{
    return atomic_load_explicit(&p->stopped, memory_order_relaxed);
}

uint64_t pipeline_alive(const pipeline *p)
{
    return atomic_load_explicit(&p->alive, memory_order_relaxed);
}

uint64_t pipeline_finish(pipeline *p)
{
    pipeline_submit(p);
    if (p->threaded) {
        pthread_mutex_lock(&p->lock);
        p->closing = 1;
        pthread_cond_signal(&p->has_work);
        pthread_mutex_unlock(&p->lock);
        pthread_join(p->worker, NULL);
        pthread_cond_destroy(&p->has_room);
        pthread_cond_destroy(&p->has_work);
        pthread_mutex_destroy(&p->lock);
    }
    uint64_t untracked = p->untracked;
    free(p);
    return untracked;
}
