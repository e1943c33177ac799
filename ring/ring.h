/*
 * ring.h: the hand-off between two threads, written once. Header-only.
 *
 * A single-producer single-consumer ring of `size` slots that holds no
 * data, only two counters: `head`, the items the producer has published,
 * and `tail`, the items the consumer has given back. Item i lives in slot
 * i % size of an array the caller owns. Slot (head + k) % size is the
 * producer's to fill while head + k - tail < size (ring_room); slot
 * (tail + k) % size is the consumer's to read while tail + k < head
 * (ring_items). Each counter is written by its side only, after the slots
 * it covers were written (or read), and read by the other side with
 * acquire: what the producer wrote into a slot is visible to the consumer
 * that sees it published, and a slot given back is not reused before the
 * consumer is done with it. Each counter sits on its writer's cache line;
 * a side reads the other's line only when its last look says full (empty).
 *
 * Waiting. A side that finds the ring full (producer) or empty (consumer)
 * spins, for at most RING_SPIN_NS, on the other side's counter: the waits
 * are short, and waking a sleeping thread costs the waker a system call
 * and, in a virtual machine, an interrupt to an idle virtual CPU. Only then
 * does it sleep on a condition variable. A spin that ran out means the
 * other side is slow for a while (a third thread, inflating gzip, is the
 * bound), and the core is better left to the others: that side then sleeps
 * at once for its next RING_SPIN_BACKOFF waits. No spinning on one CPU.
 *
 * Wake-ups are rationed: a sleeping consumer is woken once `wake_batch`
 * items are in, a sleeping producer once `wake_batch` slots are free (or
 * what it waits for, if less). A side that waits itself wakes the other
 * first, whatever its threshold: it will publish (give back) nothing more
 * until its own wait ends, so nobody sleeps on a count that cannot come.
 *
 * Waiting for two things. A thread can be the producer of one ring and the
 * consumer of another (the pipeline's reader sends batches and takes rows
 * back). Its wait on one ring takes a hook, run when the wait begins and
 * whenever ring_kick interrupts it; the other thread kicks it when it needs
 * the hook to run (the worker, finding the row ring full, has the reader
 * empty it even while the reader waits for room for a batch).
 *
 * Memory orders: counters are published with a release (seq_cst) store and
 * read with acquire. The sleep protocol is the one place that needs more:
 * a side that goes to sleep stores when to be woken (`wake_at`), then
 * re-reads the other's counter; the other stores its counter, then reads
 * `wake_at`. Each is a store then a load of another variable, so with only
 * release/acquire both loads could miss both stores and the sleeper would
 * never be woken; these four accesses are seq_cst, which puts them in one
 * order where one load sees the other store. (A seq_cst fence would say
 * the same, but ThreadSanitizer does not model fences.) Everything else is
 * relaxed (a side's own counter, the kick flags, read again under the lock)
 * or acquire/release.
 */
#ifndef SYNFIN_RING_H
#define SYNFIN_RING_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define RING_SPIN_NS      200000 /* spin at most 0.2 ms before sleeping */
#define RING_SPIN_BACKOFF 64     /* waits without spinning after a spin ran out */
#define RING_NO_WAITER    UINT64_MAX

enum { RING_PRODUCER = 0, RING_CONSUMER = 1 };

/* Run by a waiting side when its wait begins and when it is kicked. */
typedef void (*ring_hook)(void *ctx);

/* One side's line: its counter, written by it only, and its private
 * state. */
typedef struct ring_side {
    _Alignas(64) _Atomic uint64_t count; /* head (producer) or tail (consumer) */
    uint64_t seen;                       /* the last look at the other side's count */
    unsigned nospin;                     /* waits left that sleep without spinning */
    _Atomic uint64_t waits;              /* waits that did not find the ring ready */
} ring_side;

typedef struct ring {
    ring_side side[2]; /* [RING_PRODUCER], [RING_CONSUMER] */
    /* Written only around a sleep, a kick and the close: read-mostly. */
    _Alignas(64) _Atomic uint64_t wake_at[2]; /* a sleeping side: the other's count that wakes it */
    _Atomic int kicked[2];
    _Atomic int closed;
    uint32_t size, wake_batch;
    int spin; /* more than one CPU: spin before sleeping */
    pthread_mutex_t lock;
    pthread_cond_t cv[2];
} ring;

/* A ring of `size` slots (size >= 1; 1 <= wake_batch <= size). Returns
 * NULL when out of memory or when no lock could be made. Free with
 * ring_free, once neither side uses it. */
static inline ring *ring_new(uint32_t size, uint32_t wake_batch)
{
    ring *r = aligned_alloc(_Alignof(ring), sizeof(ring));
    if (!r)
        return NULL;
    memset(r, 0, sizeof(*r));
    for (int s = 0; s < 2; s++) {
        atomic_init(&r->side[s].count, 0);
        atomic_init(&r->side[s].waits, 0);
        atomic_init(&r->wake_at[s], RING_NO_WAITER);
        atomic_init(&r->kicked[s], 0);
    }
    atomic_init(&r->closed, 0);
    r->size = size;
    r->wake_batch = wake_batch < 1 ? 1 : wake_batch > size ? size : wake_batch;
    r->spin = sysconf(_SC_NPROCESSORS_ONLN) > 1;
    if (pthread_mutex_init(&r->lock, NULL) != 0)
        goto fail_lock;
    if (pthread_cond_init(&r->cv[0], NULL) != 0)
        goto fail_cv0;
    if (pthread_cond_init(&r->cv[1], NULL) != 0)
        goto fail_cv1;
    return r;
fail_cv1:
    pthread_cond_destroy(&r->cv[0]);
fail_cv0:
    pthread_mutex_destroy(&r->lock);
fail_lock:
    free(r);
    return NULL;
}

static inline void ring_free(ring *r)
{
    if (!r)
        return;
    pthread_cond_destroy(&r->cv[1]);
    pthread_cond_destroy(&r->cv[0]);
    pthread_mutex_destroy(&r->lock);
    free(r);
}

static inline int64_t ring__now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline void ring__relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* Wakes side s if it sleeps. */
static inline void ring__wake(ring *r, int s)
{
    pthread_mutex_lock(&r->lock);
    pthread_cond_signal(&r->cv[s]);
    pthread_mutex_unlock(&r->lock);
}

/* Side s moves its counter on by n, then wakes the other side if that one
 * sleeps until this count (seq_cst: see the top of the file). */
static inline void ring__advance(ring *r, int s, uint32_t n)
{
    uint64_t c = atomic_load_explicit(&r->side[s].count, memory_order_relaxed) + n;
    atomic_store_explicit(&r->side[s].count, c, memory_order_seq_cst);
    if (c >= atomic_load_explicit(&r->wake_at[!s], memory_order_seq_cst))
        ring__wake(r, !s);
}

/* Runs the hook of side s if it was kicked. */
static inline void ring__take_kick(ring *r, int s, ring_hook hook, void *ctx)
{
    if (atomic_load_explicit(&r->kicked[s], memory_order_relaxed) &&
        atomic_exchange_explicit(&r->kicked[s], 0, memory_order_acquire) && hook)
        hook(ctx);
}

/* Side s waits until the other side's count reaches `target`, asking to be
 * woken when it reaches `wake` (>= target), or until the ring is closed.
 * Returns 0 when the count was reached, -1 when closed first. */
static inline int ring__wait(ring *r, int s, uint64_t target, uint64_t wake, ring_hook hook,
                             void *ctx)
{
    ring_side *me = &r->side[s];
    _Atomic uint64_t *other = &r->side[!s].count;
    atomic_store_explicit(&me->waits, atomic_load_explicit(&me->waits, memory_order_relaxed) + 1,
                          memory_order_relaxed);
    /* The other side may sleep on a threshold this side will not reach
     * before its wait ends: wake it now rather than after a spin. */
    if (atomic_load_explicit(&r->wake_at[!s], memory_order_relaxed) != RING_NO_WAITER)
        ring__wake(r, !s);
    if (hook)
        hook(ctx);
    if (r->spin && me->nospin == 0) {
        int64_t start = ring__now_ns();
        for (unsigned i = 1;; i++) {
            if (atomic_load_explicit(other, memory_order_acquire) >= target)
                return 0;
            if (atomic_load_explicit(&r->closed, memory_order_acquire))
                return -1;
            ring__take_kick(r, s, hook, ctx);
            ring__relax();
            if (i % 256 == 0 && ring__now_ns() - start > RING_SPIN_NS) {
                me->nospin = RING_SPIN_BACKOFF;
                break;
            }
        }
    } else if (me->nospin) {
        me->nospin--;
    }
    int rc = 0;
    pthread_mutex_lock(&r->lock);
    for (;;) {
        atomic_store_explicit(&r->wake_at[s], wake, memory_order_seq_cst);
        if (atomic_load_explicit(other, memory_order_seq_cst) >= target)
            break;
        if (atomic_load_explicit(&r->closed, memory_order_acquire)) {
            rc = -1;
            break;
        }
        if (atomic_load_explicit(&r->wake_at[!s], memory_order_relaxed) != RING_NO_WAITER)
            pthread_cond_signal(&r->cv[!s]); /* as above: the other must not sleep on us */
        if (atomic_exchange_explicit(&r->kicked[s], 0, memory_order_acquire)) {
            if (hook) {
                pthread_mutex_unlock(&r->lock);
                hook(ctx);
                pthread_mutex_lock(&r->lock);
            }
            continue;
        }
        pthread_cond_wait(&r->cv[s], &r->lock);
    }
    atomic_store_explicit(&r->wake_at[s], RING_NO_WAITER, memory_order_relaxed);
    pthread_mutex_unlock(&r->lock);
    return rc;
}

/* ---- the producer ---- */

/* Items published so far: the next slot to fill is ring_head(r) % size. */
static inline uint64_t ring_head(const ring *r)
{
    return atomic_load_explicit(&r->side[RING_PRODUCER].count, memory_order_relaxed);
}

/* 1 when the n slots after the published ones are free (the consumer's
 * counter is read only when the last look says they are not). */
static inline int ring_room(ring *r, uint32_t n)
{
    ring_side *me = &r->side[RING_PRODUCER];
    uint64_t head = ring_head(r);
    if (head + n - me->seen <= r->size)
        return 1;
    me->seen = atomic_load_explicit(&r->side[RING_CONSUMER].count, memory_order_acquire);
    return head + n - me->seen <= r->size;
}

/* Waits until at most `in_flight` (< size) published items are still with
 * the consumer, running hook(ctx) when the wait begins and on every kick.
 * Returns 0, or -1 once the ring is closed (the consumer wants no more). */
static inline int ring_wait_room(ring *r, uint32_t in_flight, ring_hook hook, void *ctx)
{
    if (atomic_load_explicit(&r->closed, memory_order_acquire))
        return -1;
    ring_side *me = &r->side[RING_PRODUCER];
    uint64_t head = ring_head(r);
    uint64_t target = head > in_flight ? head - in_flight : 0;
    if (me->seen >= target)
        return 0;
    me->seen = atomic_load_explicit(&r->side[RING_CONSUMER].count, memory_order_acquire);
    if (me->seen >= target)
        return 0;
    uint32_t keep = r->size - r->wake_batch; /* woken once at most this many are in flight */
    uint64_t wake = head > keep ? head - keep : 0;
    int rc = ring__wait(r, RING_PRODUCER, target, wake > target ? wake : target, hook, ctx);
    me->seen = atomic_load_explicit(&r->side[RING_CONSUMER].count, memory_order_acquire);
    return rc;
}

/* Publishes the next n slots, filled. */
static inline void ring_produce(ring *r, uint32_t n)
{
    ring__advance(r, RING_PRODUCER, n);
}

/* ---- the consumer ---- */

/* Items given back so far: the next slot to read is ring_tail(r) % size. */
static inline uint64_t ring_tail(const ring *r)
{
    return atomic_load_explicit(&r->side[RING_CONSUMER].count, memory_order_relaxed);
}

/* Items published and not given back (the producer's counter is read only
 * when the last look found none left). */
static inline uint32_t ring_items(ring *r)
{
    ring_side *me = &r->side[RING_CONSUMER];
    uint64_t tail = ring_tail(r);
    if (me->seen == tail)
        me->seen = atomic_load_explicit(&r->side[RING_PRODUCER].count, memory_order_acquire);
    return (uint32_t)(me->seen - tail);
}

/* Waits for an item, running hook(ctx) when the wait begins and on every
 * kick. Returns the number of items there (>= 1), or 0 once the ring is
 * closed and every item taken. */
static inline uint32_t ring_wait_items(ring *r, ring_hook hook, void *ctx)
{
    uint32_t n = ring_items(r);
    if (n)
        return n;
    uint64_t tail = ring_tail(r);
    ring__wait(r, RING_CONSUMER, tail + 1, tail + r->wake_batch, hook, ctx);
    return ring_items(r);
}

/* Gives the next n slots back, read. */
static inline void ring_consume(ring *r, uint32_t n)
{
    ring__advance(r, RING_CONSUMER, n);
}

/* ---- either side ---- */

/* No more items (the producer), or no more wanted (the consumer): every
 * wait returns, a producer's with -1, a consumer's once the items left are
 * taken. */
static inline void ring_close(ring *r)
{
    pthread_mutex_lock(&r->lock);
    atomic_store_explicit(&r->closed, 1, memory_order_release);
    pthread_cond_broadcast(&r->cv[0]);
    pthread_cond_broadcast(&r->cv[1]);
    pthread_mutex_unlock(&r->lock);
}

/* Has side s run its hook: now if it waits, else when its next wait
 * begins. */
static inline void ring_kick(ring *r, int s)
{
    pthread_mutex_lock(&r->lock);
    atomic_store_explicit(&r->kicked[s], 1, memory_order_release);
    pthread_cond_signal(&r->cv[s]);
    pthread_mutex_unlock(&r->lock);
}

/* Waits of side s that did not find the ring ready (for tests and
 * profiling). */
static inline uint64_t ring_waits(const ring *r, int s)
{
    return atomic_load_explicit(&r->side[s].waits, memory_order_relaxed);
}

#endif
