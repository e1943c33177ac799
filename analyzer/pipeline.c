/*
 * pipeline.c: a ring of batches between the reader and one flows worker.
 *
 * Invariant: batches go full in the order `filled` counts them and come
 * back empty in the same order (`done`); slot i % NBATCH is the reader's
 * while filled - done < NBATCH, else it waits. One mutex and two condition
 * variables; the reader locks once per 256 segments.
 */
#include "pipeline.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#define NBATCH 4

struct pipeline {
    flows_table *flows;
    report *rep;
    seg_batch batch[NBATCH];
    uint64_t filled; /* batches handed to the worker */
    uint64_t done;   /* batches the worker has replayed */
    int closing;     /* no more batches will come */
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
    size_t failed = flows_packets(p->flows, b->seg, b->ts, b->n);
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
        while (p->done == p->filled && !p->closing)
            pthread_cond_wait(&p->has_work, &p->lock);
        if (p->done == p->filled)
            break; /* closing, and everything replayed */
        seg_batch *b = &p->batch[p->done % NBATCH];
        pthread_mutex_unlock(&p->lock);
        replay(p, b);
        pthread_mutex_lock(&p->lock);
        p->done++;
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
    if (!p->threaded) {
        replay(p, b);
        return;
    }
    pthread_mutex_lock(&p->lock);
    p->filled++;
    pthread_cond_signal(&p->has_work);
    while (p->filled - p->done >= NBATCH) /* the next slot is still in use */
        pthread_cond_wait(&p->has_room, &p->lock);
    pthread_mutex_unlock(&p->lock);
}

void pipeline_sync(pipeline *p)
{
    pipeline_submit(p);
    if (!p->threaded)
        return;
    pthread_mutex_lock(&p->lock);
    while (p->done != p->filled)
        pthread_cond_wait(&p->has_room, &p->lock);
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
