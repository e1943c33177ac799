/*
 * test_pipeline.c: analyzer/pipeline.c, the two-thread parts of a run.
 *
 * - The batches replayed on the worker thread give the rows and counters of
 *   flows_packets on one thread, also when the rows that end during the
 *   replay come back to the reader faster than it takes them (an expiry
 *   storm: one late segment ends thousands of instances at once).
 * - pipeline_finish_flows (capture-end rows formatted on two threads, in
 *   chunks of 1024) writes byte for byte what flows_finish with report_row
 *   writes, and the same summary, for counts around the chunk boundaries.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pipeline.h"

/* n connections from distinct clients: a handshake each, every third one
 * closed by the client (TIME_WAIT, still alive at the end), every fifth
 * IPv6; `extra` more SYN-only attempts. Timestamps 1 ms apart. */

/* Replays n segments batched, as production does: flows_prepare, then
 * flows_replay (prefetching), in chunks. Returns how many failed. */
static size_t replay_batched(flows_table *t, const dissect_segment *segs, const int64_t *ts,
                             size_t n)
{
    flows_seg prep[256];
    size_t failed = 0;
    for (size_t base = 0; base < n; base += 256) {
        size_t m = n - base < 256 ? n - base : 256;
        flows_prepare(t, segs + base, ts + base, m, prep);
        failed += flows_replay(t, prep, m);
    }
    return failed;
}

static size_t make_traffic(size_t n, dissect_segment **segs_out, int64_t **ts_out)
{
    size_t cap = n * 7 + 2;
    dissect_segment *segs = calloc(cap, sizeof(*segs));
    int64_t *ts = calloc(cap, sizeof(*ts));
    assert_non_null(segs);
    assert_non_null(ts);
    size_t k = 0;
    int64_t now = INT64_C(1700000000000000000);
    for (size_t i = 0; i < n; i++) {
        dissect_segment c = {0}, s;
        c.ip_version = i % 5 == 0 ? 6 : 4;
        if (c.ip_version == 6) {
            c.src[0] = 0x20, c.src[1] = 0x01;
            c.dst[0] = 0x20, c.dst[1] = 0x01, c.dst[15] = 1;
        } else {
            c.dst[0] = 10, c.dst[3] = 1;
            c.src[0] = 192, c.src[1] = 168;
        }
        c.src[4] = (uint8_t)(i >> 16), c.src[5] = (uint8_t)(i >> 8), c.src[6] = (uint8_t)i;
        c.sport = (uint16_t)(1024 + i % 60000);
        c.dport = 443;
        c.ttl = 64;
        c.window = 65535;
        s = c;
        memcpy(s.src, c.dst, 16);
        memcpy(s.dst, c.src, 16);
        s.sport = c.dport;
        s.dport = c.sport;
        uint32_t cs = (uint32_t)(1000 + i), ss = (uint32_t)(900000 + i);
        dissect_segment x;
        x = c, x.flags = DISSECT_SYN, x.seq = cs;
        segs[k] = x, ts[k++] = now += 1000000;
        x = s, x.flags = DISSECT_SYN | DISSECT_ACK, x.seq = ss, x.ack = cs + 1;
        segs[k] = x, ts[k++] = now += 1000000;
        x = c, x.flags = DISSECT_ACK, x.seq = cs + 1, x.ack = ss + 1;
        segs[k] = x, ts[k++] = now += 1000000;
        if (i % 3 == 0) {
            x = c, x.flags = DISSECT_FIN | DISSECT_ACK, x.seq = cs + 1, x.ack = ss + 1;
            segs[k] = x, ts[k++] = now += 1000000;
            x = s, x.flags = DISSECT_FIN | DISSECT_ACK, x.seq = ss + 1, x.ack = cs + 2;
            segs[k] = x, ts[k++] = now += 1000000;
            x = c, x.flags = DISSECT_ACK, x.seq = cs + 2, x.ack = ss + 2;
            segs[k] = x, ts[k++] = now += 1000000;
        }
    }
    *segs_out = segs;
    *ts_out = ts;
    return k;
}

/* make_traffic, then one segment of another connection 3 hours later:
 * every earlier instance ends before it (TIME_WAIT expired or idle). */
static size_t make_storm(size_t n, dissect_segment **segs_out, int64_t **ts_out)
{
    size_t k = make_traffic(n, segs_out, ts_out);
    dissect_segment late = (*segs_out)[0];
    late.src[0] = 172;
    late.ip_version = 4;
    late.flags = DISSECT_ACK;
    (*segs_out)[k] = late;
    (*ts_out)[k] = (*ts_out)[k - 1] + INT64_C(3) * 3600 * 1000000000;
    return k + 1;
}

typedef struct run {
    char *csv, *summary;
    size_t csv_len, summary_len;
    flows_stats stats;
} run;

/* Replays the traffic, then ends the capture; `threads` picks the pipeline
 * and pipeline_finish_flows, else flows_packets and flows_finish. */
static run replay(const dissect_segment *segs, const int64_t *ts, size_t k, int threads)
{
    run out = {0};
    FILE *f = open_memstream(&out.csv, &out.csv_len);
    assert_non_null(f);
    report *rep = report_new(f, 9);
    assert_non_null(rep);
    report_enable_summary(rep);
    flows_table *t = flows_new(NULL, report_row, rep);
    assert_non_null(rep);
    assert_non_null(t);
    if (threads) {
        pipeline *p = pipeline_start(t, rep);
        assert_non_null(p);
        for (size_t i = 0; i < k; i++) {
            seg_batch *b = pipeline_batch(p);
            b->seg[b->n] = segs[i];
            b->ts[b->n] = ts[i];
            if (++b->n == PIPELINE_BATCH)
                pipeline_submit(p);
        }
        assert_int_equal(pipeline_finish(p), 0);
        pipeline_finish_flows(t, rep, k ? ts[k - 1] : 0);
    } else {
        for (size_t i = 0; i < k; i += 100)
            assert_int_equal(replay_batched(t, segs + i, ts + i, k - i < 100 ? k - i : 100), 0);
        flows_finish(t, k ? ts[k - 1] : 0);
    }
    assert_int_equal(report_flush(rep), 0);
    fclose(f);
    out.stats = *flows_get_stats(t);
    FILE *s = open_memstream(&out.summary, &out.summary_len);
    report_summary(rep, &out.stats, s);
    fclose(s);
    flows_free(t);
    report_free(rep);
    return out;
}

/* For each count: the traffic `make` builds gives the same CSV, summary and
 * counters on one thread and on two, with `extra` rows beyond one per
 * connection. */
static void check_threads_agree(const size_t *counts, size_t n_counts,
                                size_t (*make)(size_t, dissect_segment **, int64_t **),
                                size_t extra)
{
    for (size_t c = 0; c < n_counts; c++) {
        dissect_segment *segs;
        int64_t *ts;
        size_t k = make(counts[c], &segs, &ts);
        run one = replay(segs, ts, k, 0), two = replay(segs, ts, k, 1);
        size_t rows = 0;
        for (size_t i = 0; i < one.csv_len; i++)
            rows += one.csv[i] == '\n';
        if (rows != counts[c] + extra)
            fail_msg("%zu connections: %zu rows", counts[c], rows);
        if (one.csv_len != two.csv_len || memcmp(one.csv, two.csv, one.csv_len) != 0)
            fail_msg("%zu connections: the two-thread CSV differs", counts[c]);
        assert_string_equal(one.summary, two.summary);
        assert_memory_equal(&one.stats, &two.stats, sizeof(one.stats));
        free(one.csv), free(one.summary), free(two.csv), free(two.summary);
        free(segs);
        free(ts);
    }
}

static void test_threads_write_what_one_thread_writes(void **state)
{
    (void)state;
    const size_t counts[] = {0, 1, 1023, 1024, 1025, 2047, 2048, 2049, 3072, 9001};
    check_threads_agree(counts, sizeof(counts) / sizeof(counts[0]), make_traffic, 0);
}

static void test_an_expiry_storm_comes_back_whole_and_in_order(void **state)
{
    (void)state;
    const size_t counts[] = {511, 512, 513, 20000}; /* around the 512-row ring */
    check_threads_agree(counts, sizeof(counts) / sizeof(counts[0]), make_storm, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_threads_write_what_one_thread_writes),
        cmocka_unit_test(test_an_expiry_storm_comes_back_whole_and_in_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
