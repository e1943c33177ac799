/*
 * pipeline: the flows replay on its own thread. Private to analyzer/.
 *
 * The reader (the caller's thread) reads and dissects packets into a batch
 * and prepares them for the replay (flows_prepare: keys, hashes, the
 * duplicate filter); one worker replays the prepared batches, in order,
 * through flows_replay. With a single consumer and batches in order the
 * output is byte for byte that of a run on one thread; reading and the
 * replay just overlap on two cores. When no thread can be started the
 * batches are replayed inline, with the same results.
 *
 * Until pipeline_finish returns (and between a pipeline_submit and the next
 * pipeline_sync) only the worker touches the flows table, but for the
 * duplicate filter, which flows_prepare keeps on the reader. The report is
 * the reader's throughout: the worker sends the records of the instances
 * that end back through a ring, and the reader counts, formats and writes
 * them, in order, at every pipeline_submit, pipeline_sync and at
 * pipeline_finish.
 */
#ifndef SYNFIN_PIPELINE_H
#define SYNFIN_PIPELINE_H

#include <stddef.h>
#include <stdint.h>

#include "flows.h"
#include "report.h"

#define PIPELINE_BATCH 256 /* segments per batch (flows prefetches across them) */

/* The reader's batch: segments as dissected, prepared at pipeline_submit. */
typedef struct seg_batch {
    dissect_segment seg[PIPELINE_BATCH];
    int64_t ts[PIPELINE_BATCH];
    dissect_tunnel tun[PIPELINE_BATCH]; /* seg[i].tunnel points here when set */
    size_t n;
    const char *path; /* the input, for messages; must outlive the run */
} seg_batch;

typedef struct pipeline pipeline;

/* Starts the worker. `rep` may be NULL: then, as when no thread can be
 * started, batches are replayed inline at pipeline_submit. Returns NULL
 * when out of memory. */
pipeline *pipeline_start(flows_table *flows, report *rep);

/* The census (NULL: none), already told by `flows` (flows_set_census):
 * with a worker, the changes
 * cross to the reader, who counts them at every hand-over (the worker only
 * copies them). Before the first submit. Returns 0, or -1 when out of
 * memory (the worker then tells the census itself). */
int pipeline_census(pipeline *p, report_census *rc);

/* Finding 9's hook of the client SYNs (flows_set_syn_hook): with a worker,
 * they cross to the reader, who tells them to fn at every hand-over, in
 * order (the worker only copies them); without one, or out of memory, the
 * worker tells fn itself. Before the first submit. */
void pipeline_syn_hook(pipeline *p, flows_syn_fn fn, void *ctx);

/* The batch the reader fills now (n segments in it so far). */
seg_batch *pipeline_batch(pipeline *p);

/* Hands the current batch to the worker (waits while every batch is in
 * use); an empty batch is not handed over. */
void pipeline_submit(pipeline *p);

/* Hands over the current batch and waits until every batch is replayed and
 * every row written: the flows table is then the caller's until the next
 * pipeline_submit. */
void pipeline_sync(pipeline *p);

/* 1 once a CSV write failed: the reader should stop. */
int pipeline_stopped(const pipeline *p);

/* Instances alive after the last batch replayed (for the progress line). */
uint64_t pipeline_alive(const pipeline *p);

/* How many times the reader waited for a free batch and the worker for a
 * batch (waits that did not find the ring ready at once: they spun or
 * slept). For tests and profiling; 0 without a worker thread. */
void pipeline_waits(const pipeline *p, uint64_t *reader, uint64_t *worker);

/* Hands over the current batch, waits for the worker to finish, writes the
 * last rows, frees the pipeline. Returns the number of segments that could
 * not be tracked. */
uint64_t pipeline_finish(pipeline *p);

/* finish.c: flows_finish(flows, capture_end) for a table whose rows go to
 * report_row on `rep`, with the capture-end rows (at archive scale, most
 * of them) formatted and counted on two threads: the rows are collected in
 * chunks, in the order flows_finish emits them, shared with a helper
 * thread (finish.c says how), and the text is written in chunk order. The
 * output is byte for byte that of flows_finish; without a helper thread it
 * is flows_finish. The table's rows go to report_row again afterwards. */
void pipeline_finish_flows(flows_table *flows, report *rep, int64_t capture_end);

#endif
