/*
 * live: rows written within a second when the input is a pipe or a
 * terminal (live.c says how). Private to analyzer/.
 */
#ifndef SYNFIN_LIVE_H
#define SYNFIN_LIVE_H

#include "capture.h"
#include "pipeline.h"
#include "report.h"

typedef struct live live;

/* 1 when `path` ("-": standard input) is a pipe, a socket or a terminal. */
int live_input(const char *path);
/* 1 when one of the n inputs is. */
int live_inputs(const char *const *paths, size_t n);

/* Starts the flusher for the reader (the caller's thread), who holds the
 * pipeline and the report from now on, but inside live_next. Returns NULL
 * when no thread can be started: rows then go out as from a file. */
live *live_start(pipeline *pipe, report *rep);

/* input_set_next for the reader, letting the flusher flush while it
 * waits. */
input_status live_next(live *l, input_set *in, input_packet *pkt, size_t *which);

/* Ends the flusher (l may be NULL); the pipeline is the caller's alone. */
void live_stop(live *l);

#endif
