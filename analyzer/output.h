/*
 * output: -o FILE, checked before the run and opened (output.c). Private to
 * analyzer/.
 */
#ifndef SYNFIN_OUTPUT_H
#define SYNFIN_OUTPUT_H

#include "options.h"

/* Could `path` be written: a file that may be written, or a new one in a
 * directory that may be written? Returns 0, or -1 with errno set. */
int output_writable(const char *path);

/* 1 when o->output is one of o->files (the same file, by device and
 * inode): created at the first packet, it would cut that input short. */
int output_is_input(const options *o);

/* Opens the rows' output as o says: -o FILE created (CSV, JSONL: *out, with
 * the stdio buffer buf[0, len); SQLite: the report's database), or *out as
 * it is (standard output); rep (NULL with --stats) writes there from now
 * on. Returns 0, or -1 after a message. */
int output_open(const options *o, report *rep, FILE **out, char *buf, size_t len);

#endif
