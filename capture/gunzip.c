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
 *
 * Inflating is the bound on compressed archives, so it runs on a thread of
 * its own (started at the first read): it fills NBLOCK blocks in order
 * through a ring (ring/ring.h), each ended by its length, and the last by
 * the end or the failure; bytesrc_read hands them out in the same order.
 * What the reader sees is what inflating in place would give, bytes and
 * failure alike. Without a thread, it inflates in place.
 */
#include "capture_int.h"
#include "ring.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#define IN_SIZE ((size_t)256 * 1024)
#define BLOCK   ((size_t)256 * 1024)
#define NBLOCK  4

/* One block of the ring: inflated bytes, then how the stream went on. */
typedef struct gz_block {
    unsigned char *data;
    size_t len;
    int status;      /* 1: more follows; 0: the end after it; -1: failure after it */
    uint64_t offset; /* compressed bytes consumed once it was inflated */
} gz_block;

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
    /* The inflating thread (gzip only). `s->msg` is written by it before a
     * failure status is published and read after. */
    int threaded; /* 1 running, -1 could not start: inflate in place */
    pthread_t thread;
    ring *ring; /* the inflating thread -> the reader: slots of `blocks` */
    gz_block blocks[NBLOCK];
    size_t pos; /* read position in the block at the ring's tail */
    int done;   /* the reader met the final block's status */
    int final_status;
    uint64_t offset; /* progress: compressed bytes behind what was read */
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

static void *inflate_main(void *arg)
{
    bytesrc *s = arg;
    for (;;) {
        if (ring_wait_room(s->ring, NBLOCK - 1, NULL, NULL) < 0)
            return NULL; /* closed: bytesrc_close */
        gz_block *b = &s->blocks[ring_head(s->ring) % NBLOCK];
        b->len = 0;
        long n;
        while (b->len < BLOCK && (n = read_gzip(s, b->data + b->len, BLOCK - b->len)) > 0)
            b->len += (size_t)n;
        b->status = b->len == BLOCK ? 1 : s->failed ? -1 : 0;
        b->offset = s->raw - s->z.avail_in;
        int status = b->status; /* the block is the reader's once produced */
        ring_produce(s->ring, 1);
        if (status != 1)
            return NULL;
    }
}

static void start_thread(bytesrc *s)
{
    s->threaded = -1;
    for (int i = 0; i < NBLOCK; i++)
        if (!(s->blocks[i].data = malloc(BLOCK)))
            return;
    /* Woken at every block: the reader is the faster side and waits for
     * one block, not for half the ring. */
    if (!(s->ring = ring_new(NBLOCK, 1)))
        return;
    if (pthread_create(&s->thread, NULL, inflate_main, s) != 0) {
        ring_free(s->ring);
        s->ring = NULL;
        return;
    }
    s->threaded = 1;
}

/* bytesrc_read on the inflating thread's blocks. */
static long read_ring(bytesrc *s, unsigned char *buf, size_t len)
{
    size_t done = 0;
    while (done < len && !s->done) {
        if (!ring_wait_items(s->ring, NULL, NULL))
            break; /* not before bytesrc_close */
        gz_block *b = &s->blocks[ring_tail(s->ring) % NBLOCK];
        size_t k = b->len - s->pos < len - done ? b->len - s->pos : len - done;
        memcpy(buf + done, b->data + s->pos, k);
        done += k;
        s->pos += k;
        if (s->pos < b->len)
            break; /* buf is full */
        s->offset = b->offset;
        if (b->status != 1) {
            s->done = 1;
            s->final_status = b->status;
        }
        s->pos = 0;
        ring_consume(s->ring, 1);
    }
    if (done)
        return (long)done;
    return s->done && s->final_status < 0 ? -1 : 0;
}

long bytesrc_read(bytesrc *s, void *buf, size_t len)
{
    if (s->gzip && s->threaded == 0)
        start_thread(s);
    if (s->threaded == 1)
        return read_ring(s, buf, len);
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
    if (s->threaded == 1)
        return s->offset;
    uint64_t pending = s->gzip ? s->z.avail_in : s->pre_len - s->pre_pos;
    return s->raw - pending;
}

void bytesrc_close(bytesrc *s)
{
    if (!s)
        return;
    if (s->threaded == 1) {
        ring_close(s->ring); /* the thread ends at its next block */
        pthread_join(s->thread, NULL);
        ring_free(s->ring);
    }
    for (int i = 0; i < NBLOCK; i++)
        free(s->blocks[i].data);
    if (s->gzip)
        inflateEnd(&s->z);
    close(s->fd);
    free(s->in);
    free(s);
}
