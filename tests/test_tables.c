/*
 * test_tables.c: report/'s lookup tables (white-box: report/internal/):
 * a host table and a TABLE_GET_AID table find every entry again, the same
 * one, before and after their aid is made at AID_MIN entries (the entries
 * added before it must be told to it), and a full host table gives NULL
 * for a new host and still finds the old ones.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "report_int.h"

/* IPv4 address i (10.x.y.z), in the first 4 bytes. */
static void addr_of(uint32_t i, uint8_t a[16])
{
    memset(a, 0, 16);
    a[0] = 10;
    a[1] = (uint8_t)(i >> 16);
    a[2] = (uint8_t)(i >> 8);
    a[3] = (uint8_t)i;
}

typedef struct counted_host {
    host_head head;
    uint32_t i;
} counted_host;

static void test_host_table_across_the_aid(void **state)
{
    (void)state;
    host_table t;
    memset(&t, 0, sizeof(t));
    enum { N = 3 * AID_MIN };
    counted_host **seen = calloc(N, sizeof(*seen));
    assert_non_null(seen);
    uint8_t a[16];
    for (uint32_t i = 0; i < N; i++) {
        int added;
        addr_of(i, a);
        counted_host *h = (counted_host *)host_table_get(&t, 4, a, sizeof(*h), &added);
        assert_non_null(h);
        assert_int_equal(added, 1);
        h->i = i;
        seen[i] = h;
        assert_int_equal(t.aid.tried, i + 1 >= AID_MIN); /* made at AID_MIN entries */
        /* Every host so far is found again, itself, not added twice. */
        if (i + 1 == AID_MIN - 1 || i + 1 == AID_MIN || i + 1 == AID_MIN + 1 || i + 1 == N) {
            for (uint32_t j = 0; j <= i; j++) {
                addr_of(j, a);
                counted_host *g = (counted_host *)host_table_get(&t, 4, a, sizeof(*g), &added);
                assert_int_equal(added, 0);
                assert_ptr_equal(g, seen[j]);
                assert_int_equal(g->i, j);
            }
        }
    }
    assert_int_equal(t.n, N);
    host_table_free(&t);
    free(seen);
}

static void test_full_host_table(void **state)
{
    (void)state;
    host_table t;
    memset(&t, 0, sizeof(t));
    uint8_t a[16];
    int added;
    for (uint32_t i = 0; i < HOSTS_MAX; i++) {
        addr_of(i, a);
        assert_non_null(host_table_get(&t, 4, a, sizeof(counted_host), &added));
    }
    addr_of(HOSTS_MAX, a);
    assert_null(host_table_get(&t, 4, a, sizeof(counted_host), &added));
    addr_of(7, a);
    assert_non_null(host_table_get(&t, 4, a, sizeof(counted_host), &added));
    assert_int_equal(added, 0);
    assert_int_equal(t.n, HOSTS_MAX);
    host_table_free(&t);
}

/* A table of the TABLE_GET_AID kind (the listeners'). */
typedef struct svc_entry_t {
    service_key key;
    uint32_t i;
    UT_hash_handle hh;
} svc_entry_t;

static void test_table_get_aid_across_the_aid(void **state)
{
    (void)state;
    svc_entry_t *head = NULL, **seen;
    uint32_t n = 0;
    table_aid aid;
    memset(&aid, 0, sizeof(aid));
    enum { N = 2 * AID_MIN + 5 };
    seen = calloc(N, sizeof(*seen));
    assert_non_null(seen);
    for (uint32_t round = 0; round < 2; round++) {
        for (uint32_t i = 0; i < N; i++) {
            service_key k;
            memset(&k, 0, sizeof(k));
            addr_of(i / 3, k.addr);
            k.port = (uint16_t)(80 + i % 3);
            k.ip_version = 4;
            svc_entry_t *e = NULL;
            TABLE_GET_AID(head, n, N, svc_entry_t, k, e, &aid);
            assert_non_null(e);
            if (round == 0) {
                e->i = i;
                seen[i] = e;
                assert_int_equal(n, i + 1);
            } else {
                assert_ptr_equal(e, seen[i]);
                assert_int_equal(e->i, i);
            }
        }
    }
    assert_int_equal(n, N);
    assert_true(aid.tried);
    svc_entry_t *e, *tmp;
    HASH_ITER(hh, head, e, tmp)
    {
        HASH_DEL(head, e);
        free(e);
    }
    aid_free(&aid);
    free(seen);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_host_table_across_the_aid),
        cmocka_unit_test(test_full_host_table),
        cmocka_unit_test(test_table_get_aid_across_the_aid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
