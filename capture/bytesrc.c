/*
 * bytesrc.c: a byte source over a file descriptor that decompresses when the
 * data starts with the magic bytes of gzip, zstd, xz, bzip2 or lz4
 * (codecs.c) and passes anything else through.
 *
 * Why not the libraries' own file readers (zlib's gzread and the like): on
 * corrupt data they discard what they decoded in the failing call (up to
 * their whole buffer), so the packets before the damage were lost. Here the
 * decoder writes straight into the caller's buffer: whatever was decoded
 * before the damage is delivered, and the error comes with the next read.
 * Concatenated streams (cat a.gz b.gz; zstd and lz4 frames; xz and bzip2
 * streams) are read as one.
 *
 * Decompressing is the bound on compressed archives, so it runs on a thread
 * of its own (started at the first read): it fills NBLOCK blocks in order
 * through a ring (ring/ring.h), each ended by its length, and the last by
 * the end or the failure; bytesrc_read hands them out in the same order.
 * What the reader sees is what decoding in place would give, bytes and
 * failure alike. Without a thread (or after bytesrc_inline), it decodes in
 * place.
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

#define IN_SIZE ((size_t)256 * 1024)
#define BLOCK   ((size_t)256 * 1024)
#define NBLOCK  4

/* One block of the ring: decoded bytes, then how the stream went on. */
typedef struct dec_block {
    unsigned char *data;
    size_t len;
    int status;      /* 1: more follows; 0: the end after it; -1: failure after it */
    uint64_t offset; /* compressed bytes consumed once it was decoded */
} dec_block;

struct bytesrc {
    int fd;
    codec_kind kind; /* CODEC_NONE: passing through */
    codec *dec;
    int eof;        /* the descriptor is exhausted */
    int member_end; /* a stream (member, frame) ended: another may follow */
    int failed;     /* msg says why; reads return -1 */
    char msg[200];
    unsigned char *in;     /* compressed input, or the peeked prefix */
    size_t in_len, in_pos; /* unused bytes are in[in_pos, in_len) */
    uint64_t raw;          /* bytes read from the descriptor */
    /* The decoding thread (compressed input only). `s->msg` is written by
     * it before a failure status is published and read after. */
    int threaded; /* 1 running, -1 not to be started: decode in place */
    pthread_t thread;
    ring *ring; /* the decoding thread -> the reader: slots of `blocks` */
    dec_block blocks[NBLOCK];
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
    while (s->in_len < CODEC_MAGIC_LEN) {
        long n = read_fd(s, s->in + s->in_len, CODEC_MAGIC_LEN - s->in_len);
        if (n <= 0) {
            if (n < 0)
                fail(s, "read error", strerror(errno));
            s->eof = n == 0;
            break;
        }
        s->in_len += (size_t)n;
    }
    s->kind = codec_detect(s->in, s->in_len);
    if (s->kind != CODEC_NONE && !(s->dec = codec_new(s->kind))) {
        free(s->in);
        free(s);
        return NULL;
    }
    return s;
}

void bytesrc_inline(bytesrc *s)
{
    if (s->threaded == 0)
        s->threaded = -1;
}

const char *bytesrc_format(const bytesrc *s)
{
    return s->kind == CODEC_NONE ? NULL : codec_name(s->kind);
}

static long read_plain(bytesrc *s, unsigned char *buf, size_t len)
{
    size_t done = 0;
    while (s->in_pos < s->in_len && done < len)
        buf[done++] = s->in[s->in_pos++];
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

/* Compressed bytes consumed so far (read, less what waits in `in`). */
static uint64_t consumed(const bytesrc *s)
{
    return s->raw - (s->in_len - s->in_pos);
}

/* One step of the decoder into buf[*done, len); 0 to go on, else the loop
 * is over (the end, or a failure said in s->msg). */
static int decode_step(bytesrc *s, unsigned char *buf, size_t len, size_t *done)
{
    if (s->in_pos == s->in_len && !s->eof) {
        long n = read_fd(s, s->in, IN_SIZE);
        if (n < 0) {
            fail(s, "read error", strerror(errno));
            return 1;
        }
        s->eof = n == 0;
        s->in_pos = 0;
        s->in_len = (size_t)n;
    }
    if (s->member_end) {
        if (s->in_pos == s->in_len && s->eof)
            return 1;                    /* the end, cleanly */
        if (codec_restart(s->dec) < 0) { /* another stream follows */
            fail(s, "out of memory", NULL);
            return 1;
        }
        s->member_end = 0;
    }
    size_t before = *done;
    codec_step st = codec_run(s->dec, s->in, s->in_len, &s->in_pos, buf, len, done);
    char what[64];
    if (st == CODEC_END) {
        s->member_end = 1;
    } else if (st == CODEC_ERROR) {
        snprintf(what, sizeof(what), "corrupt %s data near compressed offset %llu",
                 codec_name(s->kind), (unsigned long long)consumed(s));
        fail(s, what, codec_error(s->dec));
    } else if (*done == before && s->in_pos == s->in_len && s->eof) {
        /* No input left and nothing more comes out: the stream is cut. */
        snprintf(what, sizeof(what), "%s stream cut short (unexpected end of file)",
                 codec_name(s->kind));
        fail(s, what, NULL);
    }
    return s->failed;
}

static long read_decoded(bytesrc *s, unsigned char *buf, size_t len)
{
    size_t done = 0;
    while (done < len && !s->failed && decode_step(s, buf, len, &done) == 0)
        ;
    /* What was decoded before a failure is delivered; the failure is
     * reported by the next read. */
    if (done)
        return (long)done;
    return s->failed ? -1 : 0;
}

static void *decode_main(void *arg)
{
    bytesrc *s = arg;
    for (;;) {
        if (ring_wait_room(s->ring, NBLOCK - 1, NULL, NULL) < 0)
            return NULL; /* closed: bytesrc_close */
        dec_block *b = &s->blocks[ring_head(s->ring) % NBLOCK];
        b->len = 0;
        long n;
        while (b->len < BLOCK && (n = read_decoded(s, b->data + b->len, BLOCK - b->len)) > 0)
            b->len += (size_t)n;
        b->status = b->len == BLOCK ? 1 : s->failed ? -1 : 0;
        b->offset = consumed(s);
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
    if (pthread_create(&s->thread, NULL, decode_main, s) != 0) {
        ring_free(s->ring);
        s->ring = NULL;
        return;
    }
    s->threaded = 1;
}

/* bytesrc_read on the decoding thread's blocks. */
static long read_ring(bytesrc *s, unsigned char *buf, size_t len)
{
    size_t done = 0;
    while (done < len && !s->done) {
        if (!ring_wait_items(s->ring, NULL, NULL))
            break; /* not before bytesrc_close */
        dec_block *b = &s->blocks[ring_tail(s->ring) % NBLOCK];
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
    if (s->dec && s->threaded == 0)
        start_thread(s);
    if (s->threaded == 1)
        return read_ring(s, buf, len);
    if (s->failed)
        return -1;
    return s->dec ? read_decoded(s, buf, len) : read_plain(s, buf, len);
}

const char *bytesrc_error(const bytesrc *s)
{
    return s->msg;
}

uint64_t bytesrc_offset(const bytesrc *s)
{
    if (s->threaded == 1)
        return s->offset;
    return consumed(s);
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
    codec_free(s->dec);
    close(s->fd);
    free(s->in);
    free(s);
}
