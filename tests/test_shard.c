/*
 * test_shard.c: --shard K/N end to end (issue 14). N runs split a capture
 * exactly: every row of the whole run is in exactly one shard, the same
 * but for conn_id (numbered per run), conn_uid names it alike everywhere
 * and tells its shard, the packet accounting adds up, and the census of
 * the shards, summed by scripts/merge-shards.sh, is the whole run's.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testkit.h"
#include "tk_work.h"

#define SAMPLES SYNFIN_SOURCE_DIR "/samples/"

/* The scratch directory and the last run's streams (testkit). */
TK_WORK_FIXTURE("synfin-shard")

/* The rows of out_text without their conn_id, sorted: one string. */
static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

typedef struct rowset {
    char **row;
    size_t n, cap;
} rowset;

static void add_rows(rowset *s, const char *text)
{
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        assert_non_null(nl);
        if (strncmp(p, "conn_id,", 8) != 0) {
            const char *comma = memchr(p, ',', (size_t)(nl - p));
            assert_non_null(comma);
            if (s->n == s->cap) {
                s->cap = s->cap ? 2 * s->cap : 256;
                s->row = realloc(s->row, s->cap * sizeof(*s->row));
            }
            s->row[s->n++] = strndup(comma + 1, (size_t)(nl - comma - 1));
        }
        p = nl + 1;
    }
}

static void rowset_free(rowset *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->row[i]);
    free(s->row);
    memset(s, 0, sizeof(*s));
}

static void assert_same_rows(rowset *a, rowset *b, const char *what)
{
    qsort(a->row, a->n, sizeof(char *), cmp_str);
    qsort(b->row, b->n, sizeof(char *), cmp_str);
    if (a->n != b->n)
        fail_msg("%s: %zu rows in the shards, %zu in the whole run", what, a->n, b->n);
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->row[i], b->row[i]) != 0)
            fail_msg("%s: a shard has\n%s\nwhere the whole run has\n%s", what, a->row[i],
                     b->row[i]);
}

/* conn_uid, the 35th field of a row (Zeek's columns and community_id
 * follow it), of a row without conn_id when `cut`; the text lives until the
 * next call. */
static const char *uid_at(const char *row, int cut)
{
    static char uid[33];
    const char *c = row;
    for (int i = cut; i < 34; i++) {
        c = strchr(c, ',');
        assert_non_null(c);
        c++;
    }
    size_t n = strcspn(c, ",\n");
    assert_int_equal(n, 32);
    memcpy(uid, c, 32);
    uid[32] = '\0';
    return uid;
}

static const char *uid_of(const char *row)
{
    return uid_at(row, 0);
}

static const char *const captures[] = {
    "busy_server.pcap",        "port_pressure.pcap",     "tw_reused.pcap",
    "midstream_listener.pcap", "simultaneous_open.pcap", "clock_step_back.pcap",
    "nat_timestamps.pcap",     "ipv6_close.pcap",
};

/* Every capture in 3 shards: the rows of the shards are the whole run's,
 * each in the shard its conn_uid's hash names. */
static void test_shards_split_the_rows_exactly(void **state)
{
    (void)state;
    for (size_t c = 0; c < sizeof(captures) / sizeof(captures[0]); c++) {
        char path[400];
        snprintf(path, sizeof(path), SAMPLES "%s", captures[c]);
        rowset whole = {0}, shards = {0};
        assert_int_equal(RUN(path), 0);
        add_rows(&whole, out_text);
        for (unsigned k = 0; k < 3; k++) {
            char spec[16];
            snprintf(spec, sizeof(spec), "%u/3", k);
            assert_int_equal(RUN("--shard", spec, path), 0);
            /* Nothing said, but the clock step's warning (time order). */
            if (err_text[0] && !strstr(err_text, "goes back in time"))
                fail_msg("%s --shard %s said: %s", captures[c], spec, err_text);
            size_t before = shards.n;
            add_rows(&shards, out_text);
            for (size_t i = before; i < shards.n; i++) {
                unsigned long long h = strtoull(uid_at(shards.row[i], 1) + 16, NULL, 16);
                assert_int_equal(h % 3, k);
            }
        }
        assert_same_rows(&shards, &whole, captures[c]);
        rowset_free(&whole);
        rowset_free(&shards);
    }
}

/* conn_uid: first_ts in ns, then the 4-tuple's hash; the same for both
 * directions (README "The CSV"). */
static void test_conn_uid_is_first_ts_and_the_tuple_hash(void **state)
{
    (void)state;
    assert_int_equal(RUN("--no-header", SAMPLES "close_client.pcap"), 0);
    /* first_ts 1700000000.123456 = 0x17979cfe3d85ca00 ns; FNV-1a + fmix64 of
     * 4, 10.0.0.1:40000, 10.0.0.2:80 (computed apart, in Python) */
    assert_non_null(strstr(out_text, ",17979cfe3d85ca006440087c8b5204bb,"));
    /* --server turns the roles round, not the identifier */
    assert_int_equal(RUN("--no-header", "--server", "10.0.0.1:40000", SAMPLES "midstream.pcap"), 0);
    assert_non_null(strstr(out_text, ",listener,"));
    out_text[strcspn(out_text, "\n")] = '\0';
    char *turned = strdup(uid_of(out_text));
    assert_int_equal(RUN("--no-header", SAMPLES "midstream.pcap"), 0);
    out_text[strcspn(out_text, "\n")] = '\0';
    assert_string_equal(uid_of(out_text), turned);
    free(turned);
}

/* --stats: a shard counts the other shards' segments as filtered; the TCP
 * segments of the shards add up to the whole run's. */
static void test_shard_stats_add_up(void **state)
{
    (void)state;
    unsigned long long whole_tcp, sum = 0;
    assert_int_equal(RUN("--stats", SAMPLES "busy_server.pcap"), 0);
    const char *t = strstr(out_text, "\ntotal");
    assert_non_null(t);
    unsigned long long read, tcp, skipped;
    assert_int_equal(sscanf(t + 6, "%llu %llu %llu", &read, &whole_tcp, &skipped), 3);
    for (int k = 0; k < 4; k++) {
        char spec[8];
        snprintf(spec, sizeof(spec), "%d/4", k);
        assert_int_equal(RUN("--stats", "--shard", spec, SAMPLES "busy_server.pcap"), 0);
        t = strstr(out_text, "\ntotal");
        unsigned long long r2, s2;
        assert_int_equal(sscanf(t + 6, "%llu %llu %llu", &r2, &tcp, &s2), 3);
        assert_int_equal(r2, read);
        assert_int_equal(r2, tcp + s2);
        assert_true(tcp < whole_tcp);
        sum += tcp;
    }
    assert_int_equal(sum, whole_tcp);
}

/* The census of 4 shards, summed by the merge script, is the whole run's,
 * row for row (in another order of hosts within a moment). */
static void test_census_of_the_shards_adds_up(void **state)
{
    (void)state;
    char whole[400], cmd[4096];
    snprintf(whole, sizeof(whole), "%s/whole-census.csv", tmpdir);
    const char *caps[] = {SAMPLES "busy_server.pcap", SAMPLES "port_pressure.pcap"};
    for (size_t c = 0; c < 2; c++) {
        assert_int_equal(
            RUN("-o", "/dev/null", "--census", whole, "--census-hosts", "65536", caps[c]), 0);
        int n =
            snprintf(cmd, sizeof(cmd), "sh %s/scripts/merge-shards.sh census", SYNFIN_SOURCE_DIR);
        for (int k = 0; k < 4; k++) {
            char spec[8], file[400];
            snprintf(spec, sizeof(spec), "%d/4", k);
            snprintf(file, sizeof(file), "%s/census.%d.csv", tmpdir, k);
            assert_int_equal(RUN("-o", "/dev/null", "--shard", spec, "--census", file,
                                 "--census-hosts", "65536", caps[c]),
                             0);
            n += snprintf(cmd + n, sizeof(cmd) - (size_t)n, " %s", file);
        }
        snprintf(cmd + n, sizeof(cmd) - (size_t)n,
                 " | sort > %s/merged && sort %s > %s/sorted && cmp %s/merged %s/sorted", tmpdir,
                 whole, tmpdir, tmpdir, tmpdir);
        if (system(cmd) != 0)
            fail_msg("the shards' census summed is not the whole run's: %s", caps[c]);
    }
}

static void test_shard_usage_errors(void **state)
{
    (void)state;
    static const char *const bad[] = {"4/4", "1/0", "x", "1/2x", "-1/4", "1", "/4", "3/2000000"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(RUN("--shard", bad[i], SAMPLES "close_client.pcap"), 2);
        assert_non_null(strstr(err_text, "--shard"));
    }
    assert_int_equal(RUN("--shard", "0/1", SAMPLES "close_client.pcap"), 0);
    assert_int_equal(RUN("--help"), 0);
    assert_non_null(strstr(out_text, "--shard K/N"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shards_split_the_rows_exactly),
        cmocka_unit_test(test_conn_uid_is_first_ts_and_the_tuple_hash),
        cmocka_unit_test(test_shard_stats_add_up),
        cmocka_unit_test(test_census_of_the_shards_adds_up),
        cmocka_unit_test(test_shard_usage_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
