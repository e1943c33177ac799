/*
 * live.c: rows out within a second when the input is a pipe or a terminal
 * (`tcpdump -U -w - | synfin -`).
 *
 * Reading a file, rows wait in the batch being filled, the row ring and
 * two 64 KiB buffers: the fastest way through an archive. Reading a pipe,
 * the reader may sit in read(2) for minutes while the rows of connections
 * already closed wait. So, for such an input, a flusher thread asks every
 * LIVE_PERIOD for a flush: the pending batch handed to the replay, every
 * row it ends written, the output flushed (pipeline_sync, report_flush).
 * The reader does it at its next packet; when it has not come to it by the
 * next period, it is waiting for input, and the flusher does it itself.
 *
 * The pipeline and the report are the reader's but while it waits in
 * input_next, when the flusher may take them: `owner` says whose they
 * are, READER, READING (in input_next: free to take) or FLUSHER. Per
 * packet the reader pays a store and a compare-and-swap, no lock (a mutex
 * around input_next cost a tenth more CPU on a pipe at full speed); it
 * takes `mu` only to wait for a flush in progress. A flush is then at most
 * two periods after a row ended.
 */
#include "live.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define LIVE_PERIOD_NS 250000000L /* a flush at most two periods after a row ends */

enum { READER = 0, READING, FLUSHER };

struct live {
    pipeline *pipe;
    report *rep;
    atomic_int owner;   /* of the pipeline and the report: READER, READING, FLUSHER */
    pthread_mutex_t mu; /* held by the flusher while it owns them */
    atomic_int want;    /* the flusher asks for a flush */
    /* The flusher's sleep, and its end. */
    pthread_mutex_t sleep_mu;
    pthread_cond_t wake;
    int stop;
    pthread_t flusher;
};

int live_input(const char *path)
{
    struct stat sb;
    int ok = strcmp(path, "-") == 0 ? fstat(STDIN_FILENO, &sb) : stat(path, &sb);
    return ok == 0 && (S_ISFIFO(sb.st_mode) || S_ISSOCK(sb.st_mode) || S_ISCHR(sb.st_mode));
}

/* By their owner: what the replay ended goes out now. */
static void flush(live *l)
{
    pipeline_sync(l->pipe);
    (void)report_flush(l->rep); /* a failure stays in the report: the reader stops */
    atomic_store_explicit(&l->want, 0, memory_order_relaxed);
}

static void *flusher_main(void *arg)
{
    live *l = arg;
    pthread_mutex_lock(&l->sleep_mu);
    while (!l->stop) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += LIVE_PERIOD_NS;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        while (!l->stop && pthread_cond_timedwait(&l->wake, &l->sleep_mu, &until) != ETIMEDOUT)
            ;
        if (l->stop)
            break;
        pthread_mutex_unlock(&l->sleep_mu);
        if (!atomic_load_explicit(&l->want, memory_order_relaxed)) {
            atomic_store_explicit(&l->want, 1, memory_order_relaxed);
        } else {
            /* The request not taken for a period: the reader waits for
             * input, or is about to. */
            int reading = READING;
            pthread_mutex_lock(&l->mu);
            if (atomic_compare_exchange_strong_explicit(
                    &l->owner, &reading, FLUSHER, memory_order_acq_rel, memory_order_relaxed)) {
                if (atomic_load_explicit(&l->want, memory_order_relaxed))
                    flush(l);
                atomic_store_explicit(&l->owner, READING, memory_order_release);
            }
            pthread_mutex_unlock(&l->mu);
        }
        pthread_mutex_lock(&l->sleep_mu);
    }
    pthread_mutex_unlock(&l->sleep_mu);
    return NULL;
}

int live_inputs(const char *const *paths, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (live_input(paths[i]))
            return 1;
    return 0;
}

live *live_start(pipeline *pipe, report *rep)
{
    live *l = calloc(1, sizeof(*l));
    if (!l)
        return NULL;
    l->pipe = pipe;
    l->rep = rep;
    atomic_init(&l->want, 0);
    atomic_init(&l->owner, READER);
    if (pthread_mutex_init(&l->mu, NULL) != 0)
        goto fail_mu;
    if (pthread_mutex_init(&l->sleep_mu, NULL) != 0)
        goto fail_sleep;
    if (pthread_cond_init(&l->wake, NULL) != 0)
        goto fail_cond;
    if (pthread_create(&l->flusher, NULL, flusher_main, l) == 0)
        return l;
    pthread_cond_destroy(&l->wake);
fail_cond:
    pthread_mutex_destroy(&l->sleep_mu);
fail_sleep:
    pthread_mutex_destroy(&l->mu);
fail_mu:
    free(l);
    return NULL; /* rows go out as from a file */
}

input_status live_next(live *l, input_set *in, input_packet *pkt, size_t *which)
{
    atomic_store_explicit(&l->owner, READING, memory_order_release);
    input_status st = input_set_next(in, pkt, which);
    int reading = READING;
    while (!atomic_compare_exchange_weak_explicit(&l->owner, &reading, READER, memory_order_acq_rel,
                                                  memory_order_relaxed)) {
        if (reading == FLUSHER) { /* a flush in progress: wait for its end */
            pthread_mutex_lock(&l->mu);
            pthread_mutex_unlock(&l->mu);
        }
        reading = READING;
    }
    if (atomic_load_explicit(&l->want, memory_order_relaxed))
        flush(l);
    return st;
}

void live_stop(live *l)
{
    if (!l)
        return;
    pthread_mutex_lock(&l->sleep_mu);
    l->stop = 1;
    pthread_cond_signal(&l->wake);
    pthread_mutex_unlock(&l->sleep_mu);
    pthread_join(l->flusher, NULL); /* the reader owns them: the flusher takes nothing */
    pthread_cond_destroy(&l->wake);
    pthread_mutex_destroy(&l->sleep_mu);
    pthread_mutex_destroy(&l->mu);
    free(l);
}
