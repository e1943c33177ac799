/*
 * gunzip.c: a byte source over a file descriptor that inflates gzip when the
 * data starts with gzip's magic bytes and passes anything else through.
 *
 * Why not zlib's gzread: on corrupt data it discards everything it inflated
 * in the failing call (up to its whole buffer), so the packets before the
 * damage were lost. Here inflate() writes straight into the caller's buffer:
 * whatever was inflated before the damage is delivered, and the error comes
 * with the next read. Concatenated gzip members (cat a.gz b.gz) are read as
 * one stream.
 */
#include "input.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#define IN_SIZE (256u * 1024u)

struct bytesrc {
    int fd;
    int gzip;       /* inflating; else passing through */
    int eof;        /* the descriptor is exhausted */
    int member_end; /* a gzip member ended: another may follow */
    int failed;     /* msg says why; reads return -1 */
    char msg[160];
    z_stream z;
    unsigned char *in;       /* compressed input (gzip) or the peeked prefix */
    size_t pre_len, pre_pos; /* pass-through: prefix bytes still to serve */
    uint64_t raw;            /* bytes read from the descriptor */
};

static long read_fd(bytesrc *s, void *buf, size_t len)
{
    for (;;) {
        ssize_t n = read(s->fd, buf, len);
        if (n >= 0) {
            s->raw += (uint64_t)n;
            return (long)n;
        }
        if (errno != EINTR)
            return -1;
    }
}

static void fail(bytesrc *s, const char *what, const char *detail)
{
    s->failed = 1;
    snprintf(s->msg, sizeof(s->msg), "%s%s%s", what, detail ? ": " : "", detail ? detail : "");
}

bytesrc *bytesrc_open(int fd)
{
    bytesrc *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->fd = fd;
    s->in = malloc(IN_SIZE);
    if (!s->in) {
        free(s);
        return NULL;
    }
    size_t got = 0;
    while (got < 2) {
        long n = read_fd(s, s->in + got, 2 - got);
        if (n <= 0) {
            if (n < 0)
                fail(s, "read error", strerror(errno));
            s->eof = n == 0;
            break;
        }
        got += (size_t)n;
    }
    if (got == 2 && s->in[0] == 0x1f && s->in[1] == 0x8b) {
        if (inflateInit2(&s->z, 15 + 16) != Z_OK) {
            free(s->in);
            free(s);
            return NULL;
        }
        s->gzip = 1;
        s->z.next_in = s->in;
        s->z.avail_in = (uInt)got;
    } else {
        s->pre_len = got;
    }
    return s;
}

static long read_plain(bytesrc *s, unsigned char *buf, size_t len)
{
    size_t done = 0;
    while (s->pre_pos < s->pre_len && done < len)
        buf[done++] = s->in[s->pre_pos++];
    if (done < len && !s->eof) {
        long n = read_fd(s, buf + done, len - done);
        if (n < 0) {
            fail(s, "read error", strerror(errno));
            return done ? (long)done : -1;
        }
        if (n == 0)
            s->eof = 1;
        done += (size_t)n;
    }
    return (long)done;
}

static long read_gzip(bytesrc *s, unsigned char *buf, size_t len)
{
    size_t done = 0;
    while (done < len && !s->failed) {
        if (s->z.avail_in == 0 && !s->eof) {
            long n = read_fd(s, s->in, IN_SIZE);
            if (n < 0) {
                fail(s, "read error", strerror(errno));
                break;
            }
            if (n == 0)
                s->eof = 1;
            s->z.next_in = s->in;
            s->z.avail_in = (uInt)n;
        }
        if (s->member_end) {
            if (s->z.avail_in == 0 && s->eof)
                break;           /* the end, cleanly */
            inflateReset(&s->z); /* another member follows */
            s->member_end = 0;
        }
        size_t room = len - done > UINT_MAX ? UINT_MAX : len - done;
        s->z.next_out = buf + done;
        s->z.avail_out = (uInt)room;
        int ret = inflate(&s->z, Z_NO_FLUSH);
        done += room - s->z.avail_out;
        if (ret == Z_STREAM_END)
            s->member_end = 1;
        else if (ret == Z_BUF_ERROR && s->z.avail_in == 0 && s->eof)
            fail(s, "gzip stream cut short (unexpected end of file)", NULL);
        else if (ret != Z_OK && ret != Z_BUF_ERROR)
            fail(s, "corrupt gzip data", s->z.msg ? s->z.msg : "inflate failed");
    }
    /* What was inflated before a failure is delivered; the failure is
     * reported by the next read. */
    if (done)
        return (long)done;
    return s->failed ? -1 : 0;
}

long bytesrc_read(bytesrc *s, void *buf, size_t len)
{
    if (s->failed)
        return -1;
    return s->gzip ? read_gzip(s, buf, len) : read_plain(s, buf, len);
}

const char *bytesrc_error(const bytesrc *s)
{
    return s->msg;
}

uint64_t bytesrc_offset(const bytesrc *s)
{
    uint64_t pending = s->gzip ? s->z.avail_in : s->pre_len - s->pre_pos;
    return s->raw - pending;
}

void bytesrc_close(bytesrc *s)
{
    if (!s)
        return;
    if (s->gzip)
        inflateEnd(&s->z);
    close(s->fd);
    free(s->in);
    free(s);
}
