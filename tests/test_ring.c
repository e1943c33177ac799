/*
 * test_ring.c: ring/ring.h, the single-producer single-consumer hand-off.
 *
 * - On one thread: slots in order and wrapping around, full and empty,
 *   several items published and given back at once, close.
 * - On two: a producer that finds the ring full waits until a slot is given
 *   back (and not before), a consumer that finds it empty waits for an
 *   item, a kick runs a waiting side's hook, a close ends both sides' waits,
 *   a producer that waits for everything to be taken wakes a consumer that
 *   sleeps on a larger batch, and N items pass in order (checksum and
 *   sequence checked) for several sizes and wake batches, spinning and not.
 * A watchdog ends the run if a wait never returns.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "ring.h"

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

/* ---- fixture: a ring of 4 slots and its data ---- */

#define SMALL 4

typedef struct small {
    ring *r;
    uint64_t slot[SMALL];
} small;

static int setup_small(void **state)
{
    small *s = calloc(1, sizeof(*s));
    if (!s || !(s->r = ring_new(SMALL, 1))) {
        free(s);
        return -1;
    }
    *state = s;
    return 0;
}

static int teardown_small(void **state)
{
    small *s = *state;
    ring_free(s->r);
    free(s);
    return 0;
}

static void put(small *s, uint64_t v)
{
    assert_true(ring_room(s->r, 1));
    s->slot[ring_head(s->r) % SMALL] = v;
    ring_produce(s->r, 1);
}

static uint64_t take(small *s)
{
    assert_true(ring_items(s->r) >= 1);
    uint64_t v = s->slot[ring_tail(s->r) % SMALL];
    ring_consume(s->r, 1);
    return v;
}

static void test_items_come_out_in_order_across_the_wrap(void **state)
{
    small *s = *state;
    uint64_t next_in = 0, next_out = 0;
    /* 3 at a time in a ring of 4: the slots wrap at every round. */
    for (int round = 0; round < 50; round++) {
        for (int i = 0; i < 3; i++)
            put(s, next_in++ * 7 + 1);
        assert_int_equal(ring_items(s->r), 3);
        for (int i = 0; i < 3; i++)
            assert_int_equal(take(s), next_out++ * 7 + 1);
    }
    assert_int_equal(ring_head(s->r), 150);
    assert_int_equal(ring_tail(s->r), 150);
}

static void test_a_full_ring_has_no_room_and_an_empty_one_no_items(void **state)
{
    small *s = *state;
    assert_int_equal(ring_items(s->r), 0);
    assert_true(ring_room(s->r, SMALL));
    assert_false(ring_room(s->r, SMALL + 1));
    for (uint64_t i = 0; i < SMALL; i++)
        put(s, i);
    assert_false(ring_room(s->r, 1));
    assert_int_equal(ring_items(s->r), SMALL);
    /* Waiting for room that is there returns at once. */
    assert_int_equal(ring_wait_room(s->r, SMALL, NULL, NULL), 0);
    assert_int_equal(take(s), 0);
    assert_true(ring_room(s->r, 1));
    assert_false(ring_room(s->r, 2));
    assert_int_equal(ring_wait_room(s->r, SMALL - 1, NULL, NULL), 0);
    for (uint64_t i = 1; i < SMALL; i++)
        assert_int_equal(take(s), i);
    assert_int_equal(ring_items(s->r), 0);
    assert_int_equal(ring_wait_room(s->r, 0, NULL, NULL), 0);
    assert_int_equal(ring_waits(s->r, RING_PRODUCER), 0);
}

static void test_several_items_move_at_once(void **state)
{
    small *s = *state;
    for (uint64_t i = 0; i < 3; i++)
        s->slot[(ring_head(s->r) + i) % SMALL] = 100 + i;
    assert_int_equal(ring_items(s->r), 0); /* written, not yet published */
    ring_produce(s->r, 3);
    assert_int_equal(ring_wait_items(s->r, NULL, NULL), 3);
    ring_consume(s->r, 2);
    assert_int_equal(ring_items(s->r), 1);
    assert_int_equal(take(s), 102);
}

static void test_close_keeps_the_items_left_and_stops_the_producer(void **state)
{
    small *s = *state;
    put(s, 5);
    put(s, 6);
    ring_close(s->r);
    assert_int_equal(ring_wait_room(s->r, SMALL - 1, NULL, NULL), -1);
    assert_int_equal(ring_wait_items(s->r, NULL, NULL), 2);
    assert_int_equal(take(s), 5);
    assert_int_equal(take(s), 6);
    assert_int_equal(ring_wait_items(s->r, NULL, NULL), 0);
}

/* ---- two threads ---- */

typedef struct waiter {
    small *s;
    int spin;
    _Atomic int phase; /* how far the thread got */
    _Atomic int hooks; /* hook runs */
    int rc;
    uint32_t got;
} waiter;

static void count_hook(void *ctx)
{
    waiter *w = ctx;
    atomic_fetch_add_explicit(&w->hooks, 1, memory_order_relaxed);
}

static int hooks(waiter *w)
{
    return atomic_load_explicit(&w->hooks, memory_order_relaxed);
}

static int phase(waiter *w)
{
    return atomic_load_explicit(&w->phase, memory_order_acquire);
}

/* Polls until cond(w) or 10 s; fails on time-out. */
static void await(waiter *w, int (*cond)(waiter *), const char *what)
{
    for (int i = 0; i < 10000 && !cond(w); i++)
        sleep_ms(1);
    if (!cond(w))
        fail_msg("timed out waiting for %s", what);
}

static int started(waiter *w)
{
    return phase(w) >= 1 && ring_waits(w->s->r, RING_PRODUCER) + ring_waits(w->s->r, RING_CONSUMER);
}

static void *produce_into_full(void *arg)
{
    waiter *w = arg;
    atomic_store_explicit(&w->phase, 1, memory_order_release);
    /* No cmocka assertions off the main thread: results are checked there. */
    w->rc = ring_wait_room(w->s->r, SMALL - 1, count_hook, w);
    if (w->rc == 0) {
        w->s->slot[ring_head(w->s->r) % SMALL] = 99;
        ring_produce(w->s->r, 1);
    }
    atomic_store_explicit(&w->phase, 2, memory_order_release);
    return NULL;
}

static void *consume_from_empty(void *arg)
{
    waiter *w = arg;
    atomic_store_explicit(&w->phase, 1, memory_order_release);
    w->got = ring_wait_items(w->s->r, count_hook, w);
    atomic_store_explicit(&w->phase, 2, memory_order_release);
    return NULL;
}

static void fill(small *s)
{
    for (uint64_t i = 0; i < SMALL; i++)
        put(s, i);
}

static void check_producer_waits_for_a_slot(small *s, int spin)
{
    s->r->spin = spin;
    fill(s);
    waiter w = {.s = s};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, produce_into_full, &w), 0);
    await(&w, started, "the producer's wait");
    sleep_ms(20);                   /* past the spin: it sleeps */
    assert_int_equal(phase(&w), 1); /* no slot, no progress */
    assert_int_equal(ring_head(s->r), SMALL);
    assert_int_equal(take(s), 0);
    pthread_join(t, NULL);
    assert_int_equal(w.rc, 0);
    assert_int_equal(ring_head(s->r), SMALL + 1);
    assert_true(hooks(&w) >= 1); /* run when the wait began */
    for (uint64_t i = 1; i < SMALL; i++)
        assert_int_equal(take(s), i);
    assert_int_equal(take(s), 99);
}

static void test_a_producer_waits_while_the_ring_is_full(void **state)
{
    check_producer_waits_for_a_slot(*state, 1);
}

static void test_a_producer_waits_while_the_ring_is_full_without_spinning(void **state)
{
    check_producer_waits_for_a_slot(*state, 0);
}

static void test_a_consumer_waits_while_the_ring_is_empty(void **state)
{
    small *s = *state;
    waiter w = {.s = s};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, consume_from_empty, &w), 0);
    await(&w, started, "the consumer's wait");
    sleep_ms(20);
    assert_int_equal(phase(&w), 1);
    put(s, 42);
    pthread_join(t, NULL);
    assert_int_equal(w.got, 1);
    assert_int_equal(take(s), 42);
}

static int hooked_twice(waiter *w)
{
    return hooks(w) >= 2;
}

static void test_a_kick_runs_the_hook_of_a_waiting_side(void **state)
{
    small *s = *state;
    fill(s);
    waiter w = {.s = s};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, produce_into_full, &w), 0);
    await(&w, started, "the producer's wait");
    sleep_ms(20);
    int before = hooks(&w);
    assert_int_equal(before, 1);
    ring_kick(s->r, RING_PRODUCER);
    await(&w, hooked_twice, "the hook after the kick");
    assert_int_equal(phase(&w), 1); /* the hook ran; the wait goes on */
    ring_kick(s->r, RING_CONSUMER); /* the other side's kick: not this hook */
    sleep_ms(20);
    assert_int_equal(hooks(&w), 2);
    assert_int_equal(take(s), 0);
    pthread_join(t, NULL);
    assert_int_equal(w.rc, 0);
}

static void test_close_ends_a_waiting_producer_and_consumer(void **state)
{
    small *s = *state;
    fill(s);
    waiter w = {.s = s};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, produce_into_full, &w), 0);
    await(&w, started, "the producer's wait");
    sleep_ms(20);
    ring_close(s->r);
    pthread_join(t, NULL);
    assert_int_equal(w.rc, -1);
    assert_int_equal(ring_head(s->r), SMALL);

    ring *r = ring_new(SMALL, 1);
    assert_non_null(r);
    small s2 = {.r = r};
    waiter c = {.s = &s2};
    assert_int_equal(pthread_create(&t, NULL, consume_from_empty, &c), 0);
    await(&c, started, "the consumer's wait");
    sleep_ms(20);
    ring_close(r);
    pthread_join(t, NULL);
    assert_int_equal(c.got, 0);
    ring_free(r);
}

/* The consumer sleeps until 8 items are in; the producer publishes 1 and
 * waits for it to be taken: the producer's wait must wake the consumer. */
static void *take_all(void *arg)
{
    waiter *w = arg;
    uint32_t n;
    atomic_store_explicit(&w->phase, 1, memory_order_release);
    while ((n = ring_wait_items(w->s->r, NULL, NULL)) != 0) {
        w->got += n;
        ring_consume(w->s->r, n);
    }
    atomic_store_explicit(&w->phase, 2, memory_order_release);
    return NULL;
}

static void test_a_producer_that_waits_wakes_a_consumer_below_its_batch(void **state)
{
    (void)state;
    ring *r = ring_new(16, 8);
    assert_non_null(r);
    small s = {.r = r};
    waiter w = {.s = &s};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, take_all, &w), 0);
    for (int round = 0; round < 20; round++) {
        /* The consumer found the ring empty once per item taken so far. */
        for (int i = 0; i < 10000 && ring_waits(r, RING_CONSUMER) < (uint64_t)round + 1; i++)
            sleep_ms(1);
        assert_int_equal(ring_waits(r, RING_CONSUMER), round + 1);
        sleep_ms(1); /* past the spin: asleep until 8 items are in */
        ring_produce(r, 1);
        assert_int_equal(ring_wait_room(r, 0, NULL, NULL), 0);
        assert_int_equal(ring_tail(r), round + 1);
    }
    ring_close(r);
    pthread_join(t, NULL);
    assert_int_equal(w.got, 20);
    ring_free(r);
}

/* N items from one thread to another. */
typedef struct stream {
    ring *r;
    uint64_t *data;
    uint32_t size;
    uint64_t n;
    uint64_t sum_in;
    int err; /* a wait for room failed (checked on the main thread) */
} stream;

static uint64_t item(uint64_t i)
{
    return (i + 1) * UINT64_C(0x9e3779b97f4a7c15);
}

static void *stream_produce(void *arg)
{
    stream *st = arg;
    uint64_t i = 0;
    unsigned seed = 1;
    while (i < st->n) {
        /* 1 to size items per publication */
        uint32_t want = 1 + (uint32_t)(rand_r(&seed) % st->size);
        if (want > st->n - i)
            want = (uint32_t)(st->n - i);
        if (ring_wait_room(st->r, st->size - want, NULL, NULL) != 0) {
            st->err = 1;
            break;
        }
        for (uint32_t k = 0; k < want; k++) {
            st->data[(ring_head(st->r) + k) % st->size] = item(i + k);
            st->sum_in += item(i + k);
        }
        ring_produce(st->r, want);
        i += want;
    }
    ring_close(st->r);
    return NULL;
}

static void pass_items(uint32_t size, uint32_t wake_batch, int spin, uint64_t n)
{
    stream st = {.size = size, .n = n};
    st.r = ring_new(size, wake_batch);
    st.data = calloc(size, sizeof(*st.data));
    assert_non_null(st.r);
    assert_non_null(st.data);
    st.r->spin = spin;
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, stream_produce, &st), 0);
    uint64_t next = 0, sum = 0;
    uint32_t got;
    unsigned seed = 2;
    while ((got = ring_wait_items(st.r, NULL, NULL)) != 0) {
        uint32_t take_n = 1 + (uint32_t)(rand_r(&seed) % got);
        for (uint32_t k = 0; k < take_n; k++) {
            uint64_t v = st.data[(ring_tail(st.r) + k) % size];
            if (v != item(next))
                fail_msg("size %u: item %llu out of order", size, (unsigned long long)next);
            sum += v;
            next++;
        }
        ring_consume(st.r, take_n);
    }
    pthread_join(t, NULL);
    assert_int_equal(st.err, 0);
    assert_int_equal(next, n);
    assert_int_equal(sum, st.sum_in);
    free(st.data);
    ring_free(st.r);
}

static void test_two_threads_pass_every_item_in_order(void **state)
{
    (void)state;
    pass_items(1, 1, 1, 50000);
    pass_items(4, 1, 1, 200000);
    pass_items(16, 8, 1, 500000);
    pass_items(512, 256, 1, 1000000);
    pass_items(3, 2, 0, 50000);
    pass_items(16, 8, 0, 100000);
}

static void watchdog(void)
{
    alarm(300); /* a wait that never returns ends the run (SIGALRM) */
}

int main(void)
{
    watchdog();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_items_come_out_in_order_across_the_wrap, setup_small,
                                        teardown_small),
        cmocka_unit_test_setup_teardown(test_a_full_ring_has_no_room_and_an_empty_one_no_items,
                                        setup_small, teardown_small),
        cmocka_unit_test_setup_teardown(test_several_items_move_at_once, setup_small,
                                        teardown_small),
        cmocka_unit_test_setup_teardown(test_close_keeps_the_items_left_and_stops_the_producer,
                                        setup_small, teardown_small),
        cmocka_unit_test_setup_teardown(test_a_producer_waits_while_the_ring_is_full, setup_small,
                                        teardown_small),
        cmocka_unit_test_setup_teardown(
            test_a_producer_waits_while_the_ring_is_full_without_spinning, setup_small,
            teardown_small),
        cmocka_unit_test_setup_teardown(test_a_consumer_waits_while_the_ring_is_empty, setup_small,
                                        teardown_small),
        cmocka_unit_test_setup_teardown(test_a_kick_runs_the_hook_of_a_waiting_side, setup_small,
                                        teardown_small),
        cmocka_unit_test_setup_teardown(test_close_ends_a_waiting_producer_and_consumer,
                                        setup_small, teardown_small),
        cmocka_unit_test(test_a_producer_that_waits_wakes_a_consumer_below_its_batch),
        cmocka_unit_test(test_two_threads_pass_every_item_in_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
