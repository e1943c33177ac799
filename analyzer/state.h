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
#include "report.h"

#define STATE_VERSION 2

/* What the reader carries across runs (and the census's grid, to check a
 * state against a run's options before anything is opened). */
typedef struct state_reader {
    int64_t capture_end;
    int have_ts;
    int64_t census_interval;
    int census_over_time;
} state_reader;

/* What a run wants of a state: its options. */
typedef struct state_want {
    const flows_config *flows;
    int census;    /* --census, --at or --plot */
    int over_time; /* --census or --plot */
    int64_t interval;
} state_want;

/* Reads and checks FILE into *payload (freed by the caller) and *flags
 * (for state_apply). Returns 0, or
 * -1 with a message in err (cannot read; not a synfin state; another
 * version; damaged: cut short or a wrong checksum). */
int state_read(const char *path, flows_buf *payload, uint32_t *flags, char *err, size_t errlen);

/* Would a run with these options go on from it? 0, or -1 with a message
 * in err (a census on one side only, another --interval, other replay
 * options, another build). */
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

#endif
