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
 * The pipeline and the report are the reader's: the reader holds `mu`
 * except while it waits in input_next, and the flusher flushes only while
 * holding it. A flush is then at most two periods after a row ended.
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

struct live {
    pipeline *pipe;
    report *rep;
    pthread_mutex_t mu; /* the pipeline and the report: the reader's but in input_next */
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

/* With mu held: what the replay ended goes out now. */
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
            /* A period without a packet: the reader waits for input. */
            pthread_mutex_lock(&l->mu);
            if (atomic_load_explicit(&l->want, memory_order_relaxed))
                flush(l);
            pthread_mutex_unlock(&l->mu);
        }
        pthread_mutex_lock(&l->sleep_mu);
    }
    pthread_mutex_unlock(&l->sleep_mu);
    return NULL;
}

live *live_start(pipeline *pipe, report *rep)
{
    live *l = calloc(1, sizeof(*l));
    if (!l)
        return NULL;
    l->pipe = pipe;
    l->rep = rep;
    atomic_init(&l->want, 0);
    if (pthread_mutex_init(&l->mu, NULL) != 0)
        goto fail_mu;
    if (pthread_mutex_init(&l->sleep_mu, NULL) != 0)
        goto fail_sleep;
    if (pthread_cond_init(&l->wake, NULL) != 0)
        goto fail_cond;
    pthread_mutex_lock(&l->mu); /* the reader's from now on */
    if (pthread_create(&l->flusher, NULL, flusher_main, l) == 0)
        return l;
    pthread_mutex_unlock(&l->mu);
    pthread_cond_destroy(&l->wake);
fail_cond:
    pthread_mutex_destroy(&l->sleep_mu);
fail_sleep:
    pthread_mutex_destroy(&l->mu);
fail_mu:
    free(l);
    return NULL; /* rows go out as from a file */
}

input_status live_next(live *l, synfin_input *in, input_packet *pkt)
{
    pthread_mutex_unlock(&l->mu);
    input_status st = input_next(in, pkt);
    pthread_mutex_lock(&l->mu);
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
    pthread_mutex_unlock(&l->mu); /* the flusher may be waiting for it */
    pthread_join(l->flusher, NULL);
    pthread_cond_destroy(&l->wake);
    pthread_mutex_destroy(&l->sleep_mu);
    pthread_mutex_destroy(&l->mu);
    free(l);
}
