/*
 * testkit.c: see testkit.h.
 */
#include "testkit.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

char *tk_slurp(const char *path, size_t *len)
{
    size_t n = 0, cap = 4096;
    char *s = malloc(cap);
    FILE *f = fopen(path, "rb");
    if (s && f) {
        size_t got;
        while ((got = fread(s + n, 1, cap - n - 1, f)) > 0) {
            n += got;
            if (cap - n - 1 == 0) {
                char *t = realloc(s, cap * 2);
                if (!t)
                    break;
                s = t;
                cap *= 2;
            }
        }
    }
    if (f)
        fclose(f);
    if (s)
        s[n] = '\0';
    if (len)
        *len = s ? n : 0;
    return s;
}

pid_t tk_spawn(const char *binary, const char *const *args, const char *in, const char *out,
               const char *err, unsigned time_limit_s)
{
    size_t n = 0;
    while (args[n])
        n++;
    /* execv takes char *const[]; the strings are not written to */
    char **argv = calloc(n + 2, sizeof(*argv));
    if (!argv)
        return -1;
    argv[0] = (char *)(uintptr_t)binary;
    for (size_t i = 0; i < n; i++)
        argv[i + 1] = (char *)(uintptr_t)args[i];
    pid_t pid = fork();
    if (pid == 0) {
        int i0 = open(in ? in : "/dev/null", O_RDONLY);
        int o = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int e = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (i0 < 0 || o < 0 || e < 0)
            _exit(126);
        dup2(i0, 0);
        dup2(o, 1);
        dup2(e, 2);
        if (time_limit_s)
            alarm(time_limit_s); /* survives exec: a hang ends as SIGALRM */
        execv(binary, argv);
        _exit(127);
    }
    free(argv);
    return pid;
}

int tk_exit_code(int status)
{
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int tk_run(const char *binary, const char *const *args, const char *in, const char *out,
           const char *err, unsigned time_limit_s)
{
    pid_t pid = tk_spawn(binary, args, in, out, err, time_limit_s);
    int status;
    if (pid < 0 || waitpid(pid, &status, 0) != pid)
        return -1;
    return tk_exit_code(status);
}

void tk_table_free(tk_table *t)
{
    for (int i = 0; t->cell && i < (t->rows + 1) * t->cols; i++)
        free(t->cell[i]);
    free(t->cell);
    memset(t, 0, sizeof(*t));
}

static int csv_error(tk_table *t, char **cells, size_t n, char *err, size_t errlen, const char *fmt,
                     ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    for (size_t i = 0; i < n; i++)
        free(cells[i]);
    free(cells);
    memset(t, 0, sizeof(*t));
    return -1;
}

int tk_csv_parse(const char *s, size_t len, tk_table *t, char *err, size_t errlen)
{
    char **cells = NULL;
    size_t n = 0, cap = 0, pos = 0;
    int cols = 0, nf = 0, record = 0;
    memset(t, 0, sizeof(*t));
    if (len == 0 || s[len - 1] != '\n')
        return csv_error(t, cells, n, err, errlen, "empty, or not ended by \\n");
    while (pos < len) {
        size_t start = pos, k = 0, end = pos;
        /* The field's raw extent first, to allocate it exactly (an upper
         * bound for a quoted one, whose doubled quotes shrink). */
        if (s[end] == '"') {
            for (end++; end < len && (s[end] != '"' || (end + 1 < len && s[end + 1] == '"'));)
                end += s[end] == '"' ? 2 : 1;
        } else {
            while (end < len && s[end] != ',' && s[end] != '\n')
                end++;
        }
        char *f = malloc(end - start + 1);
        if (!f)
            return csv_error(t, cells, n, err, errlen, "out of memory");
        if (s[pos] == '"') {
            for (pos++;; pos++) {
                if (pos >= len) {
                    free(f);
                    return csv_error(t, cells, n, err, errlen, "record %d: quoted field not closed",
                                     record);
                }
                if (s[pos] == '"') {
                    if (pos + 1 < len && s[pos + 1] == '"') {
                        f[k++] = '"';
                        pos++;
                        continue;
                    }
                    pos++;
                    break;
                }
                f[k++] = s[pos];
            }
        } else {
            for (; pos < len && s[pos] != ',' && s[pos] != '\n'; pos++) {
                if (s[pos] == '"' || s[pos] == '\r' || s[pos] == '\0') {
                    free(f);
                    return csv_error(t, cells, n, err, errlen,
                                     "record %d: byte %#x in an unquoted field", record,
                                     (unsigned char)s[pos]);
                }
            }
            k = pos - start;
            memcpy(f, s + start, k);
        }
        f[k] = '\0';
        if (n == cap) {
            cap = cap ? cap * 2 : 256;
            char **c = realloc(cells, cap * sizeof(*c));
            if (!c) {
                free(f);
                return csv_error(t, cells, n, err, errlen, "out of memory");
            }
            cells = c;
        }
        cells[n++] = f;
        nf++;
        if (pos >= len || (s[pos] != ',' && s[pos] != '\n'))
            return csv_error(t, cells, n, err, errlen,
                             "record %d: field %d not followed by a comma or a line end", record,
                             nf);
        if (s[pos++] == '\n') {
            if (record == 0)
                cols = nf;
            else if (nf != cols)
                return csv_error(t, cells, n, err, errlen,
                                 "record %d: %d fields, the header has %d", record, nf, cols);
            nf = 0;
            record++;
        }
    }
    t->cols = cols;
    t->rows = record - 1;
    t->cell = cells;
    return 0;
}

const char *tk_cell(const tk_table *t, int row, const char *col)
{
    for (int c = 0; c < t->cols; c++)
        if (strcmp(t->cell[c], col) == 0)
            return t->cell[(row + 1) * t->cols + c];
    return NULL;
}

/* ---- a scratch directory and the last run's streams ------------------- */

int tk_work_open(tk_work *w, const char *prefix)
{
    memset(w, 0, sizeof(*w));
    snprintf(w->dir, sizeof(w->dir), "/tmp/%s-XXXXXX", prefix);
    if (!mkdtemp(w->dir))
        return -1;
    snprintf(w->out_path, sizeof(w->out_path), "%s/stdout", w->dir);
    snprintf(w->err_path, sizeof(w->err_path), "%s/stderr", w->dir);
    return 0;
}

int tk_work_close(tk_work *w)
{
    free(w->out);
    free(w->err);
    w->out = w->err = NULL;
    char cmd[160];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", w->dir);
    return system(cmd) == 0 ? 0 : -1;
}

int tk_work_run(tk_work *w, const char *binary, const char *in, const char *const *args)
{
    int rc = tk_run(binary, args, in, w->out_path, w->err_path, 120);
    if (rc < 0) {
        fprintf(stderr, "testkit: %s could not be started\n", binary);
        abort();
    }
    free(w->out);
    free(w->err);
    w->out = tk_slurp(w->out_path, NULL);
    w->err = tk_slurp(w->err_path, NULL);
    return rc;
}

const char *tk_work_path(tk_work *w, const char *name)
{
    char *p = w->paths[w->next_path++ % 16];
    char buf[sizeof(w->paths[0])]; /* not straight into w: w->dir is a source */
    snprintf(buf, sizeof(buf), "%s/%s", w->dir, name);
    memcpy(p, buf, sizeof(buf));
    return p;
}
