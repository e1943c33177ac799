/*
 * test_pipeline.c: analyzer/pipeline.c, the two-thread parts of a run.
 *
 * - The batches replayed on the worker thread give the rows and counters of
 *   a replay on one thread (flows_prepare + flows_replay, then
 *   flows_finish), also when the rows that end during the replay come back
 *   to the reader faster than it takes them (an expiry storm: one late
 *   segment ends thousands of instances at once).
 * - The batch ring full and empty: the reader waits when every batch is in
 *   use and the output is still whole; a worker that waits on an empty ring
 *   wakes for a batch smaller than its wake-up batch when the reader syncs.
 * - pipeline_finish_flows (capture-end rows formatted on the helper thread
 *   in chunks of 1024, four in flight, a chunk formatted on the calling
 *   thread when the helper lags three behind; with counting, the two
 *   threads share it) writes byte for byte what flows_finish with report_row
 *   writes, and the same summary, for counts around the chunk boundaries
 *   and over more chunks than are in flight.
 * - Errors: a write failure shows in pipeline_stopped; segments that could
 *   not be tracked for want of memory are counted by pipeline_finish.
 * A watchdog ends the run if a hand-over never returns.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "pipeline.h"

/* n connections from distinct clients: a handshake each, every third one
 * closed by the client (TIME_WAIT, still alive at the end), every fifth
 * IPv6; `extra` more SYN-only attempts. Timestamps 1 ms apart. */
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

/* Replays on one thread, prepared and replayed in chunks of 100 as the
 * pipeline would (flows_prepare + flows_replay). */
static void replay_single(flows_table *t, const dissect_segment *segs, const int64_t *ts, size_t k)
{
    flows_seg prep[100];
    for (size_t i = 0; i < k; i += 100) {
        size_t m = k - i < 100 ? k - i : 100;
        flows_prepare(t, segs + i, ts + i, m, prep);
        assert_int_equal(flows_replay(t, prep, m), 0);
    }
}

/* Hands the segments to the pipeline in full batches. */
static void submit_all(pipeline *p, const dissect_segment *segs, const int64_t *ts, size_t k)
{
    for (size_t i = 0; i < k; i++) {
        seg_batch *b = pipeline_batch(p);
        b->seg[b->n] = segs[i];
        b->ts[b->n] = ts[i];
        if (++b->n == PIPELINE_BATCH)
            pipeline_submit(p);
    }
}

typedef struct run {
    char *csv, *summary, *census, *findings;
    size_t csv_len, summary_len, census_len, findings_len;
    flows_stats stats;
    uint64_t reader_waits, worker_waits;
} run;

/* Replays the traffic, then ends the capture; `threads` picks the pipeline
 * and pipeline_finish_flows, else replay_single and flows_finish.
 * `with_findings`: the findings on too (their capture end is counted on two
 * threads: the pairs' and hosts' tables on the helper, the rest on the main
 * one). */
static run replay(const dissect_segment *segs, const int64_t *ts, size_t k, int threads,
                  int with_findings)
{
    run out = {0};
    FILE *f = open_memstream(&out.csv, &out.csv_len);
    assert_non_null(f);
    report *rep = report_new(f, 9);
    assert_non_null(rep);
    report_enable_summary(rep);
    if (with_findings) {
        report_findings_config fc;
        report_findings_config_default(&fc);
        assert_int_equal(report_enable_findings(rep, &fc), 0);
    }
    flows_table *t = flows_new(NULL, report_row, rep);
    assert_non_null(t);
    void *syn_ctx = report_findings_syn_ctx(rep);
    /* The census over time, every 10 s, told on the worker's thread and
     * counted on the reader's with two threads. */
    FILE *cf = open_memstream(&out.census, &out.census_len);
    assert_non_null(cf);
    report_census_config cc = {.interval = INT64_C(10000000000), .max_hosts = 1000, .precision = 9};
    report_census *rc = report_census_new(&cc, cf, NULL);
    assert_non_null(rc);
    assert_int_equal(flows_set_census(t, report_census_change, rc), 0);
    if (threads) {
        pipeline *p = pipeline_start(t, rep);
        assert_non_null(p);
        assert_int_equal(pipeline_census(p, rc), 0);
        if (syn_ctx)
            pipeline_syn_hook(p, report_findings_syn, syn_ctx);
        submit_all(p, segs, ts, k);
        pipeline_submit(p);
        pipeline_waits(p, &out.reader_waits, &out.worker_waits);
        assert_int_equal(pipeline_finish(p), 0);
        pipeline_finish_flows(t, rep, k ? ts[k - 1] : 0);
    } else {
        if (syn_ctx)
            flows_set_syn_hook(t, report_findings_syn, syn_ctx);
        replay_single(t, segs, ts, k);
        flows_finish(t, k ? ts[k - 1] : 0);
    }
    assert_int_equal(report_flush(rep), 0);
    fclose(f);
    assert_int_equal(report_census_finish(rc, k ? ts[k - 1] : 0), 0);
    report_census_free(rc);
    fclose(cf);
    out.stats = *flows_get_stats(t);
    FILE *s = open_memstream(&out.summary, &out.summary_len);
    report_summary(rep, &out.stats, s);
    fclose(s);
    FILE *fd = open_memstream(&out.findings, &out.findings_len);
    assert_non_null(fd);
    if (with_findings)
        assert_int_equal(report_findings(rep, fd), 0);
    fclose(fd);
    flows_free(t);
    report_free(rep);
    return out;
}

/* For each count: the traffic `make` builds gives the same CSV, summary and
 * counters on one thread and on two, with `extra` rows beyond one per
 * connection. */
static void check_threads_agree(const size_t *counts, size_t n_counts,
                                size_t (*make)(size_t, dissect_segment **, int64_t **),
                                size_t extra, int with_findings)
{
    for (size_t c = 0; c < n_counts; c++) {
        dissect_segment *segs;
        int64_t *ts;
        size_t k = make(counts[c], &segs, &ts);
        run one = replay(segs, ts, k, 0, with_findings),
            two = replay(segs, ts, k, 1, with_findings);
        size_t rows = 0;
        for (size_t i = 0; i < one.csv_len; i++)
            rows += one.csv[i] == '\n';
        if (rows != counts[c] + extra)
            fail_msg("%zu connections: %zu rows", counts[c], rows);
        if (one.csv_len != two.csv_len || memcmp(one.csv, two.csv, one.csv_len) != 0)
            fail_msg("%zu connections: the two-thread CSV differs", counts[c]);
        assert_string_equal(one.summary, two.summary);
        assert_memory_equal(&one.stats, &two.stats, sizeof(one.stats));
        if (one.census_len != two.census_len || memcmp(one.census, two.census, one.census_len))
            fail_msg("%zu connections: the two-thread census differs", counts[c]);
        assert_string_equal(one.findings, two.findings);
        if (with_findings && one.findings_len < 1000)
            fail_msg("%zu connections: findings of %zu bytes", counts[c], one.findings_len);
        if (k && ts[k - 1] - ts[0] >= INT64_C(20000000000) && one.census_len < 200)
            fail_msg("%zu connections: a census of %zu bytes", counts[c], one.census_len);
        free(one.csv), free(one.summary), free(two.csv), free(two.summary);
        free(one.census), free(two.census);
        free(one.findings), free(two.findings);
        free(segs);
        free(ts);
    }
}

static void test_threads_write_what_one_thread_writes(void **state)
{
    (void)state;
    const size_t counts[] = {0, 1, 1023, 1024, 1025, 2047, 2048, 2049, 3072, 9001};
    check_threads_agree(counts, sizeof(counts) / sizeof(counts[0]), make_traffic, 0, 0);
}

/* The same with the findings on: their capture end is counted in two parts
 * on two threads, and what they find is what one thread finds. */
static void test_threads_find_what_one_thread_finds(void **state)
{
    (void)state;
    const size_t counts[] = {0, 1, 1025, 2049, 9001};
    check_threads_agree(counts, sizeof(counts) / sizeof(counts[0]), make_traffic, 0, 1);
}

static void test_an_expiry_storm_comes_back_whole_and_in_order(void **state)
{
    (void)state;
    const size_t counts[] = {511, 512, 513, 20000}; /* around the 512-row ring */
    check_threads_agree(counts, sizeof(counts) / sizeof(counts[0]), make_storm, 1, 0);
}

/* ---- fixture: traffic of many connections ---- */

typedef struct traffic {
    dissect_segment *segs;
    int64_t *ts;
    size_t k;
} traffic;

static int setup_traffic(size_t n, void **state)
{
    traffic *tr = calloc(1, sizeof(*tr));
    if (!tr)
        return -1;
    tr->k = make_traffic(n, &tr->segs, &tr->ts);
    *state = tr;
    return 0;
}

/* 40,000 connections: some 150,000 segments, 600 batches. */
static int setup_40k(void **state)
{
    return setup_traffic(40000, state);
}

/* 5 chunks and a bit of capture-end rows. */
static int setup_chunks(void **state)
{
    return setup_traffic(5 * 1024 + 17, state);
}

static int teardown_traffic(void **state)
{
    traffic *tr = *state;
    free(tr->segs);
    free(tr->ts);
    free(tr);
    return 0;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

static size_t count_rows(const char *csv, size_t len)
{
    size_t rows = 0;
    for (size_t i = 0; i < len; i++)
        rows += csv[i] == '\n';
    return rows;
}

static void test_the_reader_waits_while_every_batch_is_in_use(void **state)
{
    traffic *tr = *state;
    /* The reader only copies and prepares; the worker replays 600 batches
     * of new connections: the ring fills, and the reader waits. */
    run one = replay(tr->segs, tr->ts, tr->k, 0, 0), two = replay(tr->segs, tr->ts, tr->k, 1, 0);
    if (two.reader_waits == 0)
        fail_msg("the reader never found the batch ring full (worker waits: %llu)",
                 (unsigned long long)two.worker_waits);
    assert_int_equal(count_rows(two.csv, two.csv_len), 40000);
    assert_int_equal(one.csv_len, two.csv_len);
    assert_memory_equal(one.csv, two.csv, one.csv_len);
    assert_string_equal(one.summary, two.summary);
    assert_int_equal(one.census_len, two.census_len);
    assert_memory_equal(one.census, two.census, one.census_len);
    free(one.csv), free(one.summary), free(two.csv), free(two.summary);
    free(one.census), free(two.census);
    free(one.findings), free(two.findings);
}

static void test_a_worker_waiting_on_an_empty_ring_wakes_for_one_small_batch(void **state)
{
    traffic *tr = *state;
    FILE *f = fopen("/dev/null", "w");
    assert_non_null(f);
    report *rep = report_new(f, 9);
    assert_non_null(rep);
    flows_table *t = flows_new(NULL, report_row, rep);
    assert_non_null(t);
    pipeline *p = pipeline_start(t, rep);
    assert_non_null(p);
    uint64_t reader, worker = 0;
    size_t i = 0;
    for (int round = 1; round <= 10; round++) {
        /* The worker finds the ring empty (once per round), spins, sleeps. */
        for (int w = 0; w < 10000 && worker < (uint64_t)round; w++) {
            sleep_ms(1);
            pipeline_waits(p, &reader, &worker);
        }
        assert_int_equal(worker, round);
        sleep_ms(2);
        /* One connection's handshake: 3 segments, far from a full batch
         * and from the 8 batches that wake a sleeping worker. */
        seg_batch *b = pipeline_batch(p);
        for (int j = 0; j < 3; j++, i++) {
            b->seg[b->n] = tr->segs[i];
            b->ts[b->n++] = tr->ts[i];
        }
        pipeline_sync(p);
        assert_int_equal(pipeline_alive(p), round);
        i += tr->segs[i].flags & DISSECT_FIN ? 3 : 0; /* skip a closing */
    }
    assert_int_equal(pipeline_finish(p), 0);
    flows_free(t);
    report_free(rep);
    fclose(f);
}

static void test_capture_end_chunks_are_written_in_order_as_one_thread_writes_them(void **state)
{
    traffic *tr = *state;
    char *out[2];
    size_t len[2];
    for (int threads = 0; threads < 2; threads++) {
        FILE *f = open_memstream(&out[threads], &len[threads]);
        assert_non_null(f);
        report *rep = report_new(f, 6);
        assert_non_null(rep);
        flows_table *t = flows_new(NULL, report_row, rep);
        assert_non_null(t);
        replay_single(t, tr->segs, tr->ts, tr->k);
        if (threads)
            pipeline_finish_flows(t, rep, tr->ts[tr->k - 1]);
        else
            flows_finish(t, tr->ts[tr->k - 1]);
        assert_int_equal(report_flush(rep), 0);
        fclose(f);
        flows_free(t);
        report_free(rep);
    }
    /* Every connection is alive at the end: 6 chunks, all at the end. */
    assert_int_equal(count_rows(out[0], len[0]), 5 * 1024 + 17);
    assert_int_equal(len[0], len[1]);
    assert_memory_equal(out[0], out[1], len[0]);
    free(out[0]);
    free(out[1]);
}

static void test_a_write_failure_stops_the_reader(void **state)
{
    (void)state;
    FILE *f = fopen("/dev/full", "w");
    if (!f)
        skip();
    dissect_segment *segs;
    int64_t *ts;
    size_t k = make_storm(20000, &segs, &ts);
    report *rep = report_new(f, 6);
    assert_non_null(rep);
    flows_table *t = flows_new(NULL, report_row, rep);
    assert_non_null(t);
    pipeline *p = pipeline_start(t, rep);
    assert_non_null(p);
    assert_false(pipeline_stopped(p));
    /* The storm's 20,000 rows (some 3 MB) come back during the replay; the
     * reader writes them, and the writes fail. */
    submit_all(p, segs, ts, k);
    pipeline_sync(p);
    assert_true(pipeline_stopped(p));
    assert_int_equal(pipeline_finish(p), 0);
    assert_int_not_equal(report_failed(rep), 0);
    flows_free(t);
    report_free(rep);
    fclose(f);
    free(segs);
    free(ts);
}

/* In a child: the address space limited to what is used now plus 48 MB,
 * then 400,000 connections through the pipeline; exits with 0 when
 * pipeline_finish counted untracked segments, 1 when it counted none. */
static void untracked_child(const dissect_segment *segs, const int64_t *ts, size_t k)
{
    FILE *f = fopen("/dev/null", "w");
    report *rep = f ? report_new(f, 6) : NULL;
    flows_table *t = rep ? flows_new(NULL, report_row, rep) : NULL;
    pipeline *p = t ? pipeline_start(t, rep) : NULL;
    long pages = 0, page = sysconf(_SC_PAGESIZE);
    FILE *statm = fopen("/proc/self/statm", "r");
    if (!p || !statm || fscanf(statm, "%ld", &pages) != 1)
        _exit(2);
    fclose(statm);
    struct rlimit lim = {.rlim_cur = (rlim_t)pages * (rlim_t)page + (48u << 20)};
    lim.rlim_max = lim.rlim_cur;
    if (setrlimit(RLIMIT_AS, &lim) != 0)
        _exit(2);
    submit_all(p, segs, ts, k);
    _exit(pipeline_finish(p) > 0 ? 0 : 1);
}

static void test_segments_not_tracked_for_want_of_memory_are_counted(void **state)
{
    (void)state;
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    skip(); /* the sanitizers need more address space than any limit */
#endif
    dissect_segment *segs;
    int64_t *ts;
    size_t k = make_traffic(400000, &segs, &ts); /* 88 MB of instances */
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (!freopen("/dev/null", "w", stderr)) /* the out-of-memory message */
            _exit(2);
        untracked_child(segs, ts, k);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    free(segs);
    free(ts);
    assert_true(WIFEXITED(status));
    if (WEXITSTATUS(status) == 2)
        skip(); /* the limit could not be set up */
    assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void)
{
    alarm(600); /* a hand-over that never returns ends the run (SIGALRM) */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_threads_write_what_one_thread_writes),
        cmocka_unit_test(test_threads_find_what_one_thread_finds),
        cmocka_unit_test(test_an_expiry_storm_comes_back_whole_and_in_order),
        cmocka_unit_test_setup_teardown(test_the_reader_waits_while_every_batch_is_in_use,
                                        setup_40k, teardown_traffic),
        cmocka_unit_test_setup_teardown(
            test_a_worker_waiting_on_an_empty_ring_wakes_for_one_small_batch, setup_40k,
            teardown_traffic),
        cmocka_unit_test_setup_teardown(
            test_capture_end_chunks_are_written_in_order_as_one_thread_writes_them, setup_chunks,
            teardown_traffic),
        cmocka_unit_test(test_a_write_failure_stops_the_reader),
        cmocka_unit_test(test_segments_not_tracked_for_want_of_memory_are_counted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
