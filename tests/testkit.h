/*
 * testkit: what the tests that run the synfin binary share: reading a file
 * whole, running a program with its standard streams redirected (and a time
 * bound), and a strict RFC 4180 reader for synfin's CSV.
 */
#ifndef SYNFIN_TESTKIT_H
#define SYNFIN_TESTKIT_H

#include <stddef.h>
#include <sys/types.h>

/* The whole file, NUL-terminated (an empty string when it cannot be read);
 * its length in *len when len is not NULL. Free with free(). */
char *tk_slurp(const char *path, size_t *len);

/* Starts `binary` with args (NULL-terminated, without argv[0]): standard
 * input from `in` (NULL: /dev/null), output and errors to the files `out`
 * and `err`. time_limit_s > 0 ends it with SIGALRM after that long.
 * Returns the child's pid, or -1. */
pid_t tk_spawn(const char *binary, const char *const *args, const char *in, const char *out,
               const char *err, unsigned time_limit_s);

/* waitpid() status -> the exit code, or 128 + the signal that ended it. */
int tk_exit_code(int status);

/* tk_spawn and wait: the exit code, 128 + signal, or -1 when it could not
 * be started. */
int tk_run(const char *binary, const char *const *args, const char *in, const char *out,
           const char *err, unsigned time_limit_s);

/* A scratch directory for a test program that runs synfin many times, and
 * the last run's standard output and errors (cmocka's group setup opens it,
 * its teardown closes it). */
typedef struct tk_work {
    char dir[64];
    char out_path[128], err_path[128];
    char *out, *err; /* the last tk_work_run's output and errors, NUL-terminated */
    char paths[16][300];
    unsigned next_path;
} tk_work;

/* Makes /tmp/PREFIX-XXXXXX. Returns 0, or -1. */
int tk_work_open(tk_work *w, const char *prefix);
/* Frees the texts and removes the directory. Returns 0, or -1. */
int tk_work_close(tk_work *w);
/* tk_run with stdin from `in` (NULL: /dev/null), output and errors read
 * back into w->out and w->err; the exit code (a run that cannot start
 * aborts the test program). */
int tk_work_run(tk_work *w, const char *binary, const char *in, const char *const *args);
/* DIR/name, in one of 16 buffers used in turn. */
const char *tk_work_path(tk_work *w, const char *name);

/* A parsed CSV: row 0 of `cell` is the header. */
typedef struct tk_table {
    int cols, rows; /* rows without the header */
    char **cell;    /* (rows + 1) * cols fields, unescaped */
} tk_table;

/* Strict RFC 4180 with \n line ends (SPEC §4): every field unquoted (no
 * quote, comma, CR or LF) or quoted with doubled inner quotes; every record
 * as wide as the header; the text ends with \n. Returns 0, or -1 with a
 * message in err (the table is then empty). */
int tk_csv_parse(const char *s, size_t len, tk_table *t, char *err, size_t errlen);

void tk_table_free(tk_table *t);

/* The field of column `col` in data row `row` (0-based), or NULL when there
 * is no such column. */
const char *tk_cell(const tk_table *t, int row, const char *col);

#endif
