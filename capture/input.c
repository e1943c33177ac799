/*
 * input.c: open a capture (file, "-", compressed or not) and hand out
 * packets.
 *
 * Compression is told by the magic bytes, never by the name. A seekable
 * file that is not compressed is read straight through stdio (the fast path
 * for archives); anything else (gzip, zstd, xz, bzip2, lz4, pipes, standard
 * input) goes through the byte source of bytesrc.c, behind a small
 * push-back buffer that replays the peeked capture magic. Classic pcap goes to pcapfile.c (a plain
 * file is then read with read(2) in 128 KiB blocks, no stdio); pcapng goes to pcapng.c (through
 * stdio for a plain file: it reads block by block).
 */
#include "capture.h"
#include "capture_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PEEK_LEN    4
#define STDIO_BUFSZ (1u << 20)

enum { KIND_PCAP, KIND_PCAPNG };

struct synfin_input {
    char *name;
    FILE *plain;  /* the fast path: a seekable uncompressed file */
    bytesrc *src; /* else: compressed, pipes */
    uint8_t peek[PEEK_LEN];
    size_t peek_len, peek_pos;
    int src_error; /* the byte stream failed (e.g. zstd cut short) */
    char src_msg[240];
    int kind;
    int precision;
    int direct; /* KIND_PCAP on a plain file: read(2) on its descriptor */
    pcapfile_reader *pf;
    pcapng_reader *ng;
    uint64_t packets;
    char err[512];
};

/* Reads from the push-back buffer, then the byte source. */
static long raw_read(void *src, void *buf, size_t len)
{
    synfin_input *in = src;
    if (in->direct) {
        ssize_t n;
        do
            n = read(fileno(in->plain), buf, len);
        while (n < 0 && errno == EINTR);
        if (n < 0) {
            in->src_error = 1;
            snprintf(in->src_msg, sizeof(in->src_msg), "read error: %s", strerror(errno));
            return -1;
        }
        return (long)n;
    }
    if (in->plain) {
        size_t n = fread(buf, 1, len, in->plain);
        if (n < len && ferror(in->plain)) {
            in->src_error = 1;
            snprintf(in->src_msg, sizeof(in->src_msg), "read error: %s", strerror(errno));
            return n ? (long)n : -1;
        }
        return (long)n;
    }
    size_t done = 0;
    while (in->peek_pos < in->peek_len && done < len)
        ((uint8_t *)buf)[done++] = in->peek[in->peek_pos++];
    if (done == len)
        return (long)done;
    long n = bytesrc_read(in->src, (uint8_t *)buf + done, len - done);
    if (n < 0) {
        in->src_error = 1;
        snprintf(in->src_msg, sizeof(in->src_msg), "%s", bytesrc_error(in->src));
        return done ? (long)done : -1;
    }
    return (long)(done + (size_t)n);
}

static int pcap_magic_precision(const uint8_t *m)
{
    uint32_t be = (uint32_t)m[0] << 24 | (uint32_t)m[1] << 16 | (uint32_t)m[2] << 8 | m[3];
    switch (be) {
    case 0xa1b2c3d4u:
    case 0xd4c3b2a1u:
    case 0xa1b2cd34u: /* Alexey Kuznetsov's modified pcap */
    case 0x34cdb2a1u:
        return 6;
    case 0xa1b23c4du:
    case 0x4d3cb2a1u:
        return 9;
    default:
        return 0;
    }
}

static int is_pcapng(const uint8_t *m)
{
    return m[0] == 0x0a && m[1] == 0x0d && m[2] == 0x0d && m[3] == 0x0a;
}

static int open_fd(const char *path, char *err, size_t errlen)
{
    int fd = strcmp(path, "-") == 0 ? dup(STDIN_FILENO) : open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
    return fd;
}

static synfin_input *open_reader(synfin_input *in, const char *path, char *err, size_t errlen);

/* input_open; `probe`: decode on this thread (only the first packet will
 * be read). */
static synfin_input *open_input(const char *path, int probe, char *err, size_t errlen)
{
    synfin_input *in = calloc(1, sizeof(*in));
    if (!in || !(in->name = strdup(path))) {
        free(in);
        snprintf(err, errlen, "%s: out of memory", path);
        return NULL;
    }
    int fd = open_fd(path, err, errlen);
    if (fd < 0) {
        input_close(in);
        return NULL;
    }
    uint8_t magic[CODEC_MAGIC_LEN];
    ssize_t m = pread(fd, magic, sizeof(magic), 0);
    if (m >= PEEK_LEN && codec_detect(magic, (size_t)m) == CODEC_NONE) {
        /* Seekable and not compressed: stdio, read from the start. */
        in->plain = fdopen(fd, "rb");
        if (!in->plain) {
            close(fd);
            snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
            input_close(in);
            return NULL;
        }
        setvbuf(in->plain, NULL, _IOFBF, STDIO_BUFSZ);
        memcpy(in->peek, magic, PEEK_LEN);
        return open_reader(in, path, err, errlen);
    }
    in->src = bytesrc_open(fd);
    if (!in->src) {
        close(fd);
        snprintf(err, errlen, "%s: out of memory", path);
        input_close(in);
        return NULL;
    }
    if (probe)
        bytesrc_inline(in->src);
    long n = raw_read(in, in->peek, PEEK_LEN);
    if (n != PEEK_LEN) {
        if (in->src_error)
            snprintf(err, errlen, "%s: %s", path, in->src_msg);
        else if (n <= 0)
            snprintf(err, errlen, "%s: empty file, not a capture", path);
        else
            snprintf(err, errlen, "%s: too short to be a capture (%ld bytes)", path, n);
        input_close(in);
        return NULL;
    }
    in->peek_len = PEEK_LEN;
    in->peek_pos = 0;
    return open_reader(in, path, err, errlen);
}

synfin_input *input_open(const char *path, char *err, size_t errlen)
{
    return open_input(path, 0, err, errlen);
}

/* Starts the pcap or pcapng reader on in->peek's magic. */
static synfin_input *open_reader(synfin_input *in, const char *path, char *err, size_t errlen)
{
    if (is_pcapng(in->peek)) {
        in->kind = KIND_PCAPNG;
        in->ng = pcapng_open(raw_read, in);
        if (!in->ng) {
            snprintf(err, errlen, "%s: out of memory", path);
            input_close(in);
            return NULL;
        }
        in->precision = 6;
        return in;
    }
    in->precision = pcap_magic_precision(in->peek);
    if (!in->precision) {
        snprintf(err, errlen, "%s: not a pcap or pcapng capture (magic %02x%02x%02x%02x)", path,
                 in->peek[0], in->peek[1], in->peek[2], in->peek[3]);
        input_close(in);
        return NULL;
    }
    in->kind = KIND_PCAP;
    in->direct = in->plain != NULL; /* nothing was read through stdio yet */
    char why[256];
    in->pf = pcapfile_open(raw_read, in, why, sizeof(why));
    if (!in->pf) {
        snprintf(err, errlen, "%s: bad pcap file header: %s", path,
                 in->src_error ? in->src_msg : why);
        input_close(in);
        return NULL;
    }
    return in;
}

input_status input_next(synfin_input *in, input_packet *pkt)
{
    if (in->kind == KIND_PCAPNG) {
        input_status st = pcapng_next(in->ng, pkt);
        if (st == INPUT_PACKET) {
            in->packets++;
        } else if (st == INPUT_DAMAGED || in->src_error) {
            snprintf(in->err, sizeof(in->err), "%s: packet %llu: %s", in->name,
                     (unsigned long long)in->packets + 1,
                     in->src_error ? in->src_msg : pcapng_error(in->ng));
            return INPUT_DAMAGED;
        }
        return st;
    }
    input_status st = pcapfile_next(in->pf, pkt);
    if (st == INPUT_PACKET) {
        in->packets++;
        return st;
    }
    if (st == INPUT_END && !in->src_error)
        return INPUT_END;
    snprintf(in->err, sizeof(in->err), "%s: packet %llu: %s", in->name,
             (unsigned long long)in->packets + 1,
             in->src_error ? in->src_msg : pcapfile_error(in->pf));
    return INPUT_DAMAGED;
}

const char *input_error(const synfin_input *in)
{
    return in->err;
}

uint64_t input_packets(const synfin_input *in)
{
    return in->packets;
}

uint64_t input_offset(const synfin_input *in)
{
    if (in->src)
        return bytesrc_offset(in->src);
    if (in->pf)
        return pcapfile_offset(in->pf);
    long off = in->plain ? ftell(in->plain) : -1;
    return off < 0 ? 0 : (uint64_t)off;
}

int input_precision(const synfin_input *in)
{
    if (in->kind == KIND_PCAPNG)
        return pcapng_precision(in->ng);
    return in->precision;
}

void input_close(synfin_input *in)
{
    if (!in)
        return;
    pcapfile_close(in->pf);
    if (in->ng)
        pcapng_close(in->ng);
    if (in->plain)
        (void)fclose(in->plain); /* only read: nothing to flush */
    bytesrc_close(in->src);
    free(in->name);
    free(in);
}

int input_probe_precision(const char *path)
{
    char err[256];
    int fd = open_fd(path, err, sizeof(err));
    if (fd < 0)
        return -1;
    bytesrc *src = bytesrc_open(fd);
    if (!src) {
        close(fd);
        return -1;
    }
    bytesrc_inline(src); /* 64 KiB only: no thread */
    uint8_t buf[64 * 1024];
    long n = 0, got;
    while (n < (long)sizeof(buf) && (got = bytesrc_read(src, buf + n, sizeof(buf) - (size_t)n)) > 0)
        n += got;
    bytesrc_close(src);
    if (n < 4)
        return -1;
    if (is_pcapng(buf))
        return pcapng_probe_precision(buf, (size_t)n);
    int p = pcap_magic_precision(buf);
    return p ? p : -1;
}

int input_probe(const char *path, int64_t *first_ts)
{
    char err[256];
    synfin_input *in = open_input(path, 1, err, sizeof(err));
    if (!in)
        return -1;
    input_packet pkt;
    input_status st = input_next(in, &pkt);
    if (st == INPUT_PACKET)
        *first_ts = pkt.ts;
    input_close(in);
    return st == INPUT_PACKET ? 1 : st == INPUT_END ? 0 : -1;
}
