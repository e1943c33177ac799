/*
 * output.c: what is checked of -o FILE before anything is read, and its
 * opening (at the first packet, cli.c's output_ready, so that a run that
 * reads nothing leaves none behind): a file for CSV and JSON Lines, a
 * database for --format sqlite.
 */
#include "output.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Could `path` be written: a file that may be written, or a new one in a
 * directory that may be written? Returns 0, or -1 with errno set. */
int output_writable(const char *path)
{
    struct stat sb;
    if (stat(path, &sb) == 0) {
        if (S_ISDIR(sb.st_mode)) {
            errno = EISDIR;
            return -1;
        }
        return access(path, W_OK);
    }
    if (errno != ENOENT)
        return -1;
    const char *slash = strrchr(path, '/');
    char dir[PATH_MAX];
    if (!slash)
        snprintf(dir, sizeof(dir), ".");
    else
        snprintf(dir, sizeof(dir), "%.*s", slash == path ? 1 : (int)(slash - path), path);
    return access(dir, W_OK | X_OK);
}

/* Is -o FILE one of the inputs? It is created only at the first packet,
 * when it would cut short the input being read: a usage error. */
int output_is_input(const options *o)
{
    struct stat out, in;
    if (stat(o->output, &out) != 0 || !S_ISREG(out.st_mode))
        return 0;
    for (size_t i = 0; i < o->n_files; i++)
        if (stat(o->files[i], &in) == 0 && in.st_dev == out.st_dev && in.st_ino == out.st_ino)
            return 1;
    return 0;
}

int output_open(const options *o, report *rep, FILE **out, char *buf, size_t len)
{
    if (o->output && o->format == REPORT_FMT_SQLITE)
        return rep ? report_open_db(rep, o->output) : 0; /* says why it failed */
    if (o->output) {
        *out = fopen(o->output, "w");
        if (!*out) {
            fprintf(stderr, "synfin: %s: cannot write: %s\n", o->output, strerror(errno));
            return -1;
        }
        setvbuf(*out, buf, _IOFBF, len);
    }
    if (rep && report_set_output(rep, *out) < 0) {
        fprintf(stderr, "synfin: out of memory\n");
        return -1;
    }
    return 0;
}
