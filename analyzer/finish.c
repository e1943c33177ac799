/*
 * finish.c: the capture-end rows on two threads (pipeline_finish_flows,
 * pipeline.h): the instances still alive when the capture ends are ended
 * here and their rows formatted, counted and written with a helper thread.
 */
#include "pipeline.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#include "ring.h"

#define END_CHUNK 1024 /* rows per chunk */
#define END_SLOTS 4    /* chunks in flight without counting: records and text each */

/*
 * Without counting (the plain run), the helper formats the chunks: chunk
 * k is collected into slot k % END_SLOTS, handed over through a ring of
 * END_SLOTS, formatted there into the slot's text, and written here, in
 * order, once formatted. This thread ends the instances, fills their
 * records and writes (the write's page-cache work is a large share of the
 * capture end); the formatting, most of the rest, overlaps with it. When
 * the helper lags three chunks behind, this thread formats the next one
 * itself instead of waiting (`mine`). A slot is collected into again once
 * its chunk is written.
 *
 * When rows are counted too (--findings, --summary), counting is most of
 * a row's cost (the findings' tables: a lookup in each per row), so the
 * work is split the other way (`counting`), on slots 0 and 1 and a ring of
 * one: this thread ends the instances and formats and writes every chunk,
 * and hands each chunk, written, to the helper, which counts them in order
 * while this thread fills the other. With the findings (`split`), whose
 * counting can be split in two, the helper formats each chunk and counts
 * its findings' per-pair and per-host tables while this thread counts the
 * rest of it, then writes it once the helper is done.
 */
typedef struct end_flush {
    report *rep;
    conn_record *recs[END_SLOTS];
    size_t n[END_SLOTS];
    int cur;                 /* the slot being collected into: recs[cur] */
    char *text[END_SLOTS];   /* END_CHUNK * REPORT_ROW_MAX bytes each (mostly untouched) */
    size_t len[END_SLOTS];   /* the text's length, written by the helper (or here: mine) */
    uint8_t mine[END_SLOTS]; /* plain: formatted here (the helper had three) */
    uint64_t made, written;  /* plain: chunks handed to the helper; written here */
    int pending;             /* the helper's formatted chunk is not written yet */
    int counting;            /* the helper counts every chunk (split: a part of each) */
    int split;               /* counting: the helper formats too, and counts REPORT_COUNT_HOSTS */
    int counted;             /* counting: the helper's chunk is recs[counted] */
    ring *todo;              /* this thread -> the helper */
    pthread_t helper;
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
    while (ring_wait_items(e->todo, NULL, NULL)) { /* 0: closed */
        if (e->split) {
            int c = e->counted;
            e->len[c] = format_rows(e->rep, e->recs[c], e->n[c], e->text[c]);
            for (size_t i = 0; i < e->n[c]; i++)
                report_count_part(e->rep, &e->recs[c][i], REPORT_COUNT_HOSTS);
        } else if (e->counting) {
            const conn_record *recs = e->recs[e->counted];
            for (size_t i = 0, n = e->n[e->counted]; i < n; i++)
                report_count(e->rep, &recs[i]);
        } else {
            size_t c = ring_tail(e->todo) % END_SLOTS;
            if (!e->mine[c])
                e->len[c] = format_rows(e->rep, e->recs[c], e->n[c], e->text[c]);
        }
        ring_consume(e->todo, 1);
    }
    return NULL;
}

/* counting: formats and writes chunk c here, then hands it to the helper
 * to count, once it has counted the one before (whose records the next
 * chunk is collected into). split: the helper has formatted the chunk
 * before, which is written once it is done; c goes to the helper to be
 * formatted and counted (REPORT_COUNT_HOSTS), and is counted here too
 * (REPORT_COUNT_REST). */
static void chunk_written_then_counted(end_flush *e, int c)
{
    if (!e->split) {
        size_t len = format_rows(e->rep, e->recs[c], e->n[c], e->text[0]);
        report_write(e->rep, e->text[0], len);
    }
    ring_wait_room(e->todo, 0, NULL, NULL);
    if (e->split && e->pending)
        report_write(e->rep, e->text[e->counted], e->len[e->counted]);
    e->counted = c;
    e->pending = e->split;
    ring_produce(e->todo, 1);
    for (size_t i = 0; e->split && i < e->n[c]; i++) /* the helper reads them too */
        report_count_part(e->rep, &e->recs[c][i], REPORT_COUNT_REST);
}

/* plain: writes, in order, the chunks the helper has formatted (at most
 * `left` of them still in its hands: waits for the others). */
static void write_formatted(end_flush *e, uint32_t left)
{
    ring_wait_room(e->todo, left, NULL, NULL);
    /* Chunk `written` is formatted once at most made - written - 1 are in
     * flight. */
    while (e->written < e->made &&
           ring_room(e->todo, END_SLOTS - (uint32_t)(e->made - e->written - 1))) {
        size_t c = e->written % END_SLOTS;
        report_write(e->rep, e->text[c], e->len[c]);
        e->written++;
    }
}

/* The chunk being collected is complete (or the last one). */
static void chunk_complete(end_flush *e)
{
    int c = e->cur;
    if (e->n[c] == 0)
        return;
    if (e->counting) {
        chunk_written_then_counted(e, c);
        e->cur = !c;
        e->n[e->cur] = 0;
        return;
    }
    /* Not counting: report_count would do nothing. When the helper still
     * has three chunks (this thread would wait for it next), this one is
     * formatted here and the helper only passes it on: formatting is most
     * of the work, this thread's own (ending, filling, writing) less. */
    e->mine[c] = !ring_room(e->todo, END_SLOTS - 2);
    if (e->mine[c])
        e->len[c] = format_rows(e->rep, e->recs[c], e->n[c], e->text[c]);
    ring_produce(e->todo, 1);
    e->made++;
    /* The next slot's chunk (END_SLOTS back) formatted and written. */
    write_formatted(e, END_SLOTS - 1);
    e->cur = (int)(e->made % END_SLOTS);
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
    int counts = rep ? report_counts(rep) : 0;
    end_flush e = {.rep = rep, .counting = counts > 0, .split = counts == 2};
    int ok = 0;
    if (rep) {
        int slots = e.counting ? 2 : END_SLOTS;
        ok = 1;
        for (int i = 0; i < slots; i++) {
            e.recs[i] = malloc(END_CHUNK * sizeof(conn_record));
            e.text[i] = malloc((size_t)END_CHUNK * REPORT_ROW_MAX);
            ok = ok && e.recs[i] && e.text[i];
        }
    }
    if (ok && !(e.todo = ring_new(e.counting ? 1 : END_SLOTS, 1)))
        ok = 0;
    if (ok && pthread_create(&e.helper, NULL, helper_main, &e) != 0)
        ok = 0;
    if (ok) {
        if (e.split)
            report_count_settle(rep); /* the rows before: counted on this thread */
        flows_set_emit(flows, collect, &e);
        flows_finish(flows, capture_end);
        chunk_complete(&e);
        if (e.counting) {
            ring_wait_room(e.todo, 0, NULL, NULL); /* the last chunk counted */
            if (e.pending)                         /* split: and formatted */
                report_write(rep, e.text[e.counted], e.len[e.counted]);
            e.pending = 0;
        } else {
            write_formatted(&e, 0); /* every chunk */
        }
        ring_close(e.todo);
        pthread_join(e.helper, NULL);
        flows_set_emit(flows, report_row, rep);
    } else {
        flows_finish(flows, capture_end); /* rows straight through report_row */
    }
    ring_free(e.todo);
    for (int i = 0; i < END_SLOTS; i++) {
        free(e.recs[i]);
        free(e.text[i]);
    }
}
