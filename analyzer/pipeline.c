/*
 * pipeline.c: a ring of batches between the reader and one flows worker,
 * and a ring of finished rows coming back.
 *
 * Batches: the reader dissects into one batch of its own (`stage`) and
 * prepares it (flows_prepare) into the ring of prepared batches, the only
 * memory that crosses to the worker's core. They go full in the order
 * `filled` counts them and come back empty in the same order (`done`);
 * slot i % NBATCH is the reader's while filled - done < NBATCH, else it
 * waits. The counters are atomics, each on its writer's cache line, read
 * by the other side under the lock or while it spins. One mutex and three
 * condition variables; each side locks twice per 256 segments.
 *
 * Rows: the worker does not format the rows of the instances that end while
 * it replays (a tenth of its time on the bench trace); it pushes their
 * records into a single-producer single-consumer ring (`rows`, lock-free:
 * `rows_head` is the reader's, `rows_tail` the worker's), and the reader,
 * who has time to spare, counts, formats and writes them, in the order
 * they were pushed, at every hand-over and at the end. So the output is
 * byte for byte that of one thread.
 *
 * A side that finds the ring full (the reader) or empty (the worker) first
 * spins, up to SPIN_NS, on the other side's counter: the waits are short,
 * and waking a sleeping thread costs the waker a system call and, in a
 * virtual machine, an interrupt to an idle virtual CPU (it was 2 % of the
 * worker's time). Only then does it sleep. A spin that ran out means the
 * other side is slow for a while (a compressed input: inflating, on a
 * third thread, is the bound), and the core is better left to the others:
 * that side then sleeps at once for its next SPIN_BACKOFF waits. No
 * spinning on one CPU. Wake-ups are rationed: a side that sleeps says how
 * far the other must get before waking it (`reader_wake`, `worker_wake`),
 * half the ring, and the other side signals only then. A worker that finds
 * the row ring full wakes the reader, who empties it even while it waits
 * for a batch (no deadlock: the reader never waits for the worker while
 * the worker waits for it).
 */
#include "pipeline.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define NBATCH       16
#define NROWS        512 /* rows in flight from the worker to the reader */
#define NO_WAITER    UINT64_MAX
#define SPIN_NS      200000 /* spin at most 0.2 ms before sleeping */
#define SPIN_BACKOFF 64     /* waits without spinning after a spin ran out */

/* A batch prepared for the worker. */
typedef struct prep_batch {
    flows_seg seg[PIPELINE_BATCH];
    size_t n;
    const char *path;
} prep_batch;

struct pipeline {
    flows_table *flows;
    report *rep;
    seg_batch stage;
    prep_batch batch[NBATCH];
    /* A waiting side and when to wake it (NO_WAITER: not waiting). */
    uint64_t reader_wake; /* the reader: when filled - done <= this */
    uint64_t worker_wake; /* the worker: when filled - done >= this */
    int rows_blocked;     /* the worker waits for room in `rows` */
    int threaded;
    pthread_t worker;
    pthread_mutex_t lock;
    pthread_cond_t has_work, has_room, has_row_room;
    int spin;                              /* more than one CPU: spin before sleeping */
    unsigned reader_nospin, worker_nospin; /* waits left without spinning */
    conn_record *rows;                     /* NROWS records */
    atomic_ullong alive;
    /* One cache line per writer: the reader's ... */
    _Alignas(64) atomic_ullong filled; /* batches handed to the worker */
    atomic_int closing;                /* no more batches will come */
    atomic_ullong rows_head;
    /* ... and the worker's. */
    _Alignas(64) atomic_ullong done; /* batches the worker has replayed */
    atomic_ullong rows_tail;
    uint64_t rows_head_seen; /* the worker's last look at rows_head */
    uint64_t untracked;      /* worker only, read after the join */
};

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* The reader: counts, formats and writes every row pushed so far. */
static void drain_rows(pipeline *p)
{
    uint64_t head = atomic_load_explicit(&p->rows_head, memory_order_relaxed);
    uint64_t tail = atomic_load_explicit(&p->rows_tail, memory_order_acquire);
    if (head == tail)
        return;
    for (; head != tail; head++)
        report_row(p->rep, &p->rows[head % NROWS]);
    atomic_store_explicit(&p->rows_head, head, memory_order_release);
    pthread_mutex_lock(&p->lock);
    if (p->rows_blocked)
        pthread_cond_signal(&p->has_row_room);
    pthread_mutex_unlock(&p->lock);
}

/* flows_emit_fn of the worker: the record goes to the reader. */
static void push_row(void *ctx, const conn_record *rec)
{
    pipeline *p = ctx;
    uint64_t tail = atomic_load_explicit(&p->rows_tail, memory_order_relaxed);
    /* The reader's line is read only when the ring looks full. */
    if (tail - p->rows_head_seen == NROWS)
        p->rows_head_seen = atomic_load_explicit(&p->rows_head, memory_order_acquire);
    if (tail - p->rows_head_seen == NROWS) {
        pthread_mutex_lock(&p->lock);
        p->rows_blocked = 1;
        pthread_cond_signal(&p->has_room); /* the reader may be waiting for a batch */
        while (tail - atomic_load_explicit(&p->rows_head, memory_order_acquire) == NROWS)
            pthread_cond_wait(&p->has_row_room, &p->lock);
        p->rows_head_seen = atomic_load_explicit(&p->rows_head, memory_order_acquire);
        p->rows_blocked = 0;
        pthread_mutex_unlock(&p->lock);
    }
    p->rows[tail % NROWS] = *rec;
    atomic_store_explicit(&p->rows_tail, tail + 1, memory_order_release);
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

/* Without the lock: spins until ready(p, arg), or SPIN_NS pass; then the
 * caller sleeps. *nospin counts the waits left to sleep at once. */
static void spin_until(pipeline *p, unsigned *nospin, int (*ready)(pipeline *, uint64_t),
                       uint64_t arg)
{
    if (!p->spin)
        return;
    if (*nospin) {
        (*nospin)--;
        return;
    }
    int64_t start = now_ns();
    for (unsigned i = 1; !ready(p, arg); i++) {
        cpu_relax();
        if (i % 256 == 0 && now_ns() - start > SPIN_NS) {
            *nospin = SPIN_BACKOFF;
            return;
        }
    }
}

/* The worker's: a batch came after the `done` it has, or the end. */
static int work_came(pipeline *p, uint64_t done)
{
    return atomic_load_explicit(&p->filled, memory_order_acquire) != done ||
           atomic_load_explicit(&p->closing, memory_order_acquire);
}

static void *worker_main(void *arg)
{
    pipeline *p = arg;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        if (p->done == p->filled && !p->closing) {
            uint64_t done = p->done;
            pthread_mutex_unlock(&p->lock);
            spin_until(p, &p->worker_nospin, work_came, done);
            pthread_mutex_lock(&p->lock);
        }
        if (p->done == p->filled && !p->closing) {
            p->worker_wake = NBATCH / 2;
            while (p->done == p->filled && !p->closing)
                pthread_cond_wait(&p->has_work, &p->lock);
            p->worker_wake = NO_WAITER;
        }
        if (p->done == p->filled)
            break; /* closing, and everything replayed */
        prep_batch *b = &p->batch[p->done % NBATCH];
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
    atomic_init(&p->alive, 0);
    atomic_init(&p->rows_head, 0);
    atomic_init(&p->rows_tail, 0);
    atomic_init(&p->filled, 0);
    atomic_init(&p->done, 0);
    atomic_init(&p->closing, 0);
    p->spin = sysconf(_SC_NPROCESSORS_ONLN) > 1;
    if (!rep || !(p->rows = malloc(NROWS * sizeof(*p->rows))))
        return p; /* rows straight from the worker; batches replayed inline */
    if (pthread_mutex_init(&p->lock, NULL) == 0) {
        if (pthread_cond_init(&p->has_work, NULL) == 0) {
            if (pthread_cond_init(&p->has_room, NULL) == 0) {
                if (pthread_cond_init(&p->has_row_room, NULL) == 0) {
                    flows_set_emit(flows, push_row, p);
                    if (pthread_create(&p->worker, NULL, worker_main, p) == 0) {
                        p->threaded = 1;
                        return p;
                    }
                    flows_set_emit(flows, report_row, rep);
                    pthread_cond_destroy(&p->has_row_room);
                }
                pthread_cond_destroy(&p->has_room);
            }
            pthread_cond_destroy(&p->has_work);
        }
        pthread_mutex_destroy(&p->lock);
    }
    return p; /* no thread: batches are replayed inline */
}

/* With the lock held: waits until at most `in_flight` batches are with the
 * worker, emptying the row ring whenever the worker waits for room in it. */
static void wait_batches(pipeline *p, uint64_t in_flight)
{
    p->reader_wake = in_flight;
    while (p->filled - p->done > in_flight) {
        if (p->rows_blocked) {
            pthread_mutex_unlock(&p->lock);
            drain_rows(p);
            pthread_mutex_lock(&p->lock);
        } else {
            pthread_cond_wait(&p->has_room, &p->lock);
        }
    }
    p->reader_wake = NO_WAITER;
}

/* The reader's: fewer than NBATCH batches of the `filled` it handed over
 * are with the worker. Meanwhile it empties the row ring, where the worker
 * may be waiting for room. */
static int room_freed(pipeline *p, uint64_t filled)
{
    if (filled - atomic_load_explicit(&p->done, memory_order_acquire) < NBATCH)
        return 1;
    drain_rows(p);
    return 0;
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
    prep_batch *b = &p->batch[p->filled % NBATCH]; /* free: see wait_batches below */
    flows_prepare(p->flows, in->seg, in->ts, in->n, b->seg);
    b->n = in->n;
    b->path = in->path;
    in->n = 0;
    if (!p->threaded) {
        replay(p, b);
        return;
    }
    pthread_mutex_lock(&p->lock);
    p->filled++;
    if (p->worker_wake != NO_WAITER && p->filled - p->done >= p->worker_wake)
        pthread_cond_signal(&p->has_work);
    if (p->filled - p->done >= NBATCH) { /* the next slot is still in use */
        uint64_t filled = p->filled;
        pthread_mutex_unlock(&p->lock);
        spin_until(p, &p->reader_nospin, room_freed, filled);
        pthread_mutex_lock(&p->lock);
        if (p->filled - p->done >= NBATCH)
            wait_batches(p, NBATCH / 2);
    }
    pthread_mutex_unlock(&p->lock);
    drain_rows(p);
}

void pipeline_sync(pipeline *p)
{
    pipeline_submit(p);
    if (!p->threaded)
        return;
    pthread_mutex_lock(&p->lock);
    pthread_cond_signal(&p->has_work); /* however little is queued */
    wait_batches(p, 0);
    pthread_mutex_unlock(&p->lock);
    drain_rows(p);
}

int pipeline_stopped(const pipeline *p)
{
    return p->rep && report_failed(p->rep);
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
        wait_batches(p, 0);
        pthread_mutex_unlock(&p->lock);
        pthread_join(p->worker, NULL);
        drain_rows(p);
        flows_set_emit(p->flows, report_row, p->rep);
        pthread_cond_destroy(&p->has_row_room);
        pthread_cond_destroy(&p->has_room);
        pthread_cond_destroy(&p->has_work);
        pthread_mutex_destroy(&p->lock);
    }
    uint64_t untracked = p->untracked;
    free(p->rows);
    free(p);
    return untracked;
}

/* ---- the capture-end rows on two threads ------------------------------ */

#define END_CHUNK 1024 /* rows per chunk: two chunks of records, two of text */

typedef struct end_flush {
    report *rep;
    conn_record *recs[2]; /* [0]: even chunks, this thread's; [1]: odd, the helper's */
    size_t n[2];
    int cur;       /* the chunk being collected: recs[cur] */
    char *text[2]; /* END_CHUNK * REPORT_ROW_MAX bytes each (mostly untouched) */
    size_t helper_len;
    int pending; /* an odd chunk is with the helper, not yet written */
    pthread_t helper;
    pthread_mutex_t lock;
    pthread_cond_t cv;
    int has_work, done, quit;
} end_flush;

static size_t format_rows(const report *rep, const conn_record *recs, size_t n, char *text)
{
    size_t len = 0;
    for (size_t i = 0; i < n; i++)
        len += report_format(rep, &recs[i], text + len);
    return len;
}

static void *helper_main(void *arg)
{
    end_flush *e = arg;
    pthread_mutex_lock(&e->lock);
    for (;;) {
        while (!e->has_work && !e->quit)
            pthread_cond_wait(&e->cv, &e->lock);
        if (!e->has_work)
            break;
        pthread_mutex_unlock(&e->lock);
        size_t len = format_rows(e->rep, e->recs[1], e->n[1], e->text[1]);
        pthread_mutex_lock(&e->lock);
        e->helper_len = len;
        e->has_work = 0;
        e->done = 1;
        pthread_cond_broadcast(&e->cv);
    }
    pthread_mutex_unlock(&e->lock);
    return NULL;
}

/* Writes the helper's chunk once it is formatted. */
static void write_helper_chunk(end_flush *e)
{
    if (!e->pending)
        return;
    pthread_mutex_lock(&e->lock);
    while (!e->done)
        pthread_cond_wait(&e->cv, &e->lock);
    e->done = 0;
    pthread_mutex_unlock(&e->lock);
    report_write(e->rep, e->text[1], e->helper_len);
    e->pending = 0;
}

/* The chunk being collected is complete (or the last one). */
static void chunk_complete(end_flush *e)
{
    int c = e->cur;
    if (e->n[c] == 0)
        return;
    for (size_t i = 0; i < e->n[c]; i++)
        report_count(e->rep, &e->recs[c][i]);
    if (c == 1) {
        /* Odd: to the helper (idle: its last chunk was written before
         * the even chunk that came after it). */
        pthread_mutex_lock(&e->lock);
        e->has_work = 1;
        pthread_cond_broadcast(&e->cv);
        pthread_mutex_unlock(&e->lock);
        e->pending = 1;
    } else {
        /* Even: formatted here while the helper formats the odd chunk
         * before it, which goes out first. */
        size_t len = format_rows(e->rep, e->recs[0], e->n[0], e->text[0]);
        write_helper_chunk(e);
        report_write(e->rep, e->text[0], len);
    }
    e->cur = !c;
    e->n[e->cur] = 0;
}

static void collect(void *ctx, const conn_record *rec)
{
    end_flush *e = ctx;
    e->recs[e->cur][e->n[e->cur]++] = *rec;
    if (e->n[e->cur] == END_CHUNK)
        chunk_complete(e);
}

void pipeline_finish_flows(flows_table *flows, report *rep, int64_t capture_end)
{
    end_flush e = {.rep = rep};
    int ok = 0;
    if (rep) {
        for (int i = 0; i < 2; i++) {
            e.recs[i] = malloc(END_CHUNK * sizeof(conn_record));
            e.text[i] = malloc((size_t)END_CHUNK * REPORT_ROW_MAX);
        }
        ok = e.recs[0] && e.recs[1] && e.text[0] && e.text[1];
    }
    if (ok && pthread_mutex_init(&e.lock, NULL) != 0)
        ok = 0;
    if (ok && pthread_cond_init(&e.cv, NULL) != 0) {
        pthread_mutex_destroy(&e.lock);
        ok = 0;
    }
    if (ok && pthread_create(&e.helper, NULL, helper_main, &e) != 0) {
        pthread_cond_destroy(&e.cv);
        pthread_mutex_destroy(&e.lock);
        ok = 0;
    }
    if (ok) {
        flows_set_emit(flows, collect, &e);
        flows_finish(flows, capture_end);
        chunk_complete(&e);
        write_helper_chunk(&e);
        pthread_mutex_lock(&e.lock);
        e.quit = 1;
        pthread_cond_broadcast(&e.cv);
        pthread_mutex_unlock(&e.lock);
        pthread_join(e.helper, NULL);
        pthread_cond_destroy(&e.cv);
        pthread_mutex_destroy(&e.lock);
        flows_set_emit(flows, report_row, rep);
    } else {
        flows_finish(flows, capture_end); /* rows straight through report_row */
    }
    for (int i = 0; i < 2; i++) {
        free(e.recs[i]);
        free(e.text[i]);
    }
}
