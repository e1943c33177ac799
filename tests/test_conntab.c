/*
 * test_conntab.c: the flow table's pool and open-addressing index
 * (flows/conntab.c) against a plain reference array, under random inserts
 * and removals with deliberately colliding tags, so that backward-shift
 * deletion and growth are exercised on long probe runs; each element has a
 * cold record and the pool a 128-byte alignment, both kept through growth.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "conntab.h"

typedef struct elem {
    uint64_t key[2];
    uint32_t payload;
} elem;

typedef struct cold_rec {
    uint64_t copy; /* the key number + 1, as in payload */
    uint8_t more[12];
} cold_rec;

static uint64_t rng = 0x9e3779b97f4a7c15u;
static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

#define N 20000

static void test_random_inserts_finds_and_removes_agree_with_reference(void **state)
{
    (void)state;
    conntab *t = conntab_new(sizeof(elem), sizeof(uint64_t) * 2, sizeof(cold_rec), 128);
    assert_non_null(t);
    static uint32_t idx_of[N]; /* reference: key number -> element index */
    static uint32_t tag_of[N];
    for (int i = 0; i < N; i++)
        idx_of[i] = CONNTAB_NONE;
    uint32_t live = 0, peak = 0;
    for (int step = 0; step < 400000; step++) {
        uint32_t k = (uint32_t)(next_rand() % N);
        elem probe = {{k, ~(uint64_t)k}, 0};
        /* few distinct tags: long runs of equal home positions */
        uint32_t tag = (uint32_t)(k % 97) * 0x01000193u;
        uint32_t found = conntab_find(t, probe.key, tag);
        if (idx_of[k] == CONNTAB_NONE) {
            assert_int_equal(found, CONNTAB_NONE);
            uint32_t i = conntab_alloc(t);
            assert_int_not_equal(i, CONNTAB_NONE);
            elem *e = conntab_at(t, i);
            cold_rec *c = conntab_cold(t, i);
            assert_int_equal(conntab_index(t, e), i);
            assert_int_equal(e->payload, 0); /* handed out zeroed */
            assert_int_equal(c->copy, 0);
            assert_int_equal((uintptr_t)conntab_at(t, 0) % 128, 0);
            memcpy(e->key, probe.key, sizeof(probe.key));
            e->payload = k + 1;
            c->copy = k + 1;
            assert_int_equal(conntab_insert(t, i, tag), 0);
            idx_of[k] = i;
            tag_of[k] = tag;
            if (++live > peak)
                peak = live;
        } else {
            assert_int_equal(found, idx_of[k]);
            assert_int_equal(((elem *)conntab_at(t, found))->payload, k + 1);
            assert_int_equal(((cold_rec *)conntab_cold(t, found))->copy, k + 1);
            if (next_rand() & 1) {
                conntab_remove(t, found, tag_of[k]);
                conntab_release(t, found);
                idx_of[k] = CONNTAB_NONE;
                live--;
            }
        }
        assert_int_equal(conntab_count(t), live);
    }
    /* every live key is still found, every removed one is not */
    for (uint32_t k = 0; k < N; k++) {
        elem probe = {{k, ~(uint64_t)k}, 0};
        assert_int_equal(conntab_find(t, probe.key, (k % 97) * 0x01000193u), idx_of[k]);
    }
    /* freed elements are reused: the pool never grew past the peak */
    assert_true(conntab_high_water(t) <= peak);
    assert_true((uint64_t)conntab_count(t) * 10 <= (uint64_t)conntab_slots(t) * 7);
    conntab_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_inserts_finds_and_removes_agree_with_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
