/*
 * state.h: the --state-in / --state-out file of incremental runs (README
 * "Processing an archive"). Private to analyzer/.
 *
 * The file: a 40-byte header (magic, version, flags, the payload's length
 * and CRC-32), then the payload: the reader's section (the capture's end so
 * far, the census's grid), the replay's (flows_save), the census's
 * (report_census_finish_save) when there is one. A file is checked whole (magic, version, length,
 * checksum) before anything of it is used, and written to a temporary name
 * renamed over FILE, so that a run stopped half way leaves the old state.
 */
#ifndef SYNFIN_STATE_H
#define SYNFIN_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "flows.h"
#include "options.h"
#include "report.h"

/* 2: Zeek's history (112-byte cold record); 3: the tunnels' table; 4: the
 * duplicate filter's fingerprints computed anew. */
#define STATE_VERSION 4

/* What the reader carries across runs (and the census's grid, to check a
 * state against a run's options before anything is opened). */
typedef struct state_reader {
    int64_t capture_end;
    int have_ts;
    int64_t census_interval;
    int census_over_time;
    int64_t shard; /* --shard K/N as K << 32 | N; 0: none */
    int tunnels;   /* 1: tunnels looked into; 0: --no-tunnels */
} state_reader;

/* What a run wants of a state: its options. */
typedef struct state_want {
    const flows_config *flows;
    int census;    /* --census, --at or --plot */
    int over_time; /* --census or --plot */
    int64_t interval;
    int64_t shard; /* as state_reader's */
    int tunnels;   /* likewise */
} state_want;

/* Reads and checks FILE into *payload (freed by the caller) and *flags
 * (for state_apply). Returns 0, or
 * -1 with a message in err (cannot read; not a synfin state; another
 * version; damaged: cut short or a wrong checksum). */
int state_read(const char *path, flows_buf *payload, uint32_t *flags, char *err, size_t errlen);

/* Would a run with these options go on from it? 0, or -1 with a message
 * in err (a census on one side only, another --interval, another --shard,
 * other replay options, another build). */
int state_check(flows_buf *payload, uint32_t flags, const state_want *want, char *err,
                size_t errlen);

/* Goes on from a payload state_check passed: the reader's section into *r,
 * the replay's into f, the census's into rc (when there is one). Returns 0,
 * or -1 with a message in err (out of memory; damage a checksum missed). */
int state_apply(flows_buf *payload, state_reader *r, report_census *rc, flows_table *f, char *err,
                size_t errlen);

/* Writes FILE from the sections: census may be NULL. Returns 0, or -1
 * with a message in err. */
int state_write(const char *path, const state_reader *r, const flows_buf *census,
                const flows_buf *flows, char *err, size_t errlen);

/* Can FILE be written (its temporary name made, in its directory)? 0, or
 * -1 with a message in err: said before anything is read. */
int state_probe(const char *path, char *err, size_t errlen);

/* What a run carries for --state-in and --state-out (cli.c's). */
typedef struct state_carry {
    flows_buf in;     /* --state-in's payload, read and checked at the start */
    uint32_t flags;   /* its header's */
    flows_buf flows;  /* --state-out: the replay's section (flows_save) */
    flows_buf census; /* ... the census's (report_census_finish_save) */
    int saved;        /* flows_save ran and succeeded */
} state_carry;

/* Before any output is made: --state-out FILE known to be writable,
 * --state-in FILE read and checked whole against the options. Returns -1
 * to go on, else an exit code (after a message). */
int state_begin(const options *o, state_carry *c);
/* --state-in, once the table and the census are made (before the first
 * packet): they and the reader's *capture_end, *have_ts go on from it.
 * Returns 0 (also without --state-in), or -1 after a message. */
int state_resume(const options *o, state_carry *c, report_census *rc, flows_table *f,
                 int64_t *capture_end, int *have_ts);
/* --state-out FILE, once the census's section is saved too. Returns 0, or
 * 1 after a message. */
int state_end(const options *o, state_carry *c, int has_census, int64_t capture_end, int have_ts);
void state_carry_free(state_carry *c);

#endif
