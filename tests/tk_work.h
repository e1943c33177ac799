/*
 * tk_work.h: the fixture of a test program that runs synfin many times in
 * one scratch directory (testkit's tk_work), for the programs that use it
 * whole; included after testkit.h, once, by a test program's one file.
 */
#ifndef SYNFIN_TK_WORK_H
#define SYNFIN_TK_WORK_H

#include "testkit.h"

/* The fixture of a test program that runs SYNFIN_BINARY many times in one
 * scratch directory /tmp/PREFIX-XXXXXX: `W`, the group's setup and
 * teardown, and the shorthands out_text, err_text, tmp(name), tmpdir and
 * RUN("arg", ...) (the exit code). */
#define TK_WORK_FIXTURE(prefix)                                                                    \
    static tk_work W;                                                                              \
    static int setup(void **state)                                                                 \
    {                                                                                              \
        (void)state;                                                                               \
        return tk_work_open(&W, prefix);                                                           \
    }                                                                                              \
    static int teardown(void **state)                                                              \
    {                                                                                              \
        (void)state;                                                                               \
        return tk_work_close(&W);                                                                  \
    }
#define out_text        (W.out)
#define err_text        (W.err)
#define tmp(name)       tk_work_path(&W, name)
#define tmpdir          (W.dir)
#define run_synfin(...) tk_work_run(&W, SYNFIN_BINARY, NULL, __VA_ARGS__)
#define RUN(...)        run_synfin((const char *const[]){__VA_ARGS__, NULL})

#endif
