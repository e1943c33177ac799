/*
 * pcapfile.c: a classic pcap reader (pcap-savefile(5)) that hands out
 * records in place from a large buffer.
 *
 * Why our own: libpcap's reader makes two fread() calls and one copy per
 * record; at archive scale that alone was most of the reading thread's time
 * (bench/BENCHMARKS.md), and it is the same work for every caller. Here the
 * file is read in 128 KiB blocks and a record is handed out where it lies.
 * The block is small on purpose: it stays in the cache while the flows
 * thread works on the other core (larger blocks measured slower:
 * bench/BENCHMARKS.md, bd1b5bf and "tried and dropped").
 *
 * What libpcap accepts is accepted the same way, so results do not depend on
 * the reader: both byte orders, µs and ns magic, Alexey Kuznetsov's 24-byte
 * record headers, versions 2.0-2.4 (caplen and len swapped before 2.3, and
 * perhaps in 2.3) and DG/UX's 543.0; a record longer than the snapshot
 * length keeps the snapshot length's bytes; a record longer than any
 * snapshot length (256 KiB) is damage. Timestamps are signed 32-bit
 * seconds plus a signed fraction, as libpcap reads them.
 */
#include "capture_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FILE_HDR_LEN 24
#define REC_HDR_LEN  16
#define KUZ_HDR_LEN  24 /* the modified format adds ifindex, protocol, pkt_type */
#define MAX_SNAPLEN  262144u
#define BLOCK        (1u << 17)

struct pcapfile_reader {
    capture_read_fn read;
    void *src;
    uint8_t *buf;
    size_t cap;
    size_t pos, len;  /* unread bytes are buf[pos, len) */
    uint64_t base;    /* file offset of buf[0] */
    int eof;          /* the source said end (or failed) */
    int read_failed;  /* ... by failing */
    int swapped;      /* the file's byte order differs from ours */
    int nano;         /* ns fractions, else µs */
    int lengths_swap; /* 0 never, 1 always, 2 when caplen > len */
    size_t rec_hdr;
    uint32_t linktype;
    uint32_t snaplen;
    char err[256];
};

static uint32_t get32(const pcapfile_reader *r, const uint8_t *p)
{
    return input_get32(p, r->swapped);
}

static uint16_t get16(const pcapfile_reader *r, const uint8_t *p)
{
    return input_get16(p, r->swapped);
}

/* Makes at least `want` unread bytes available unless the source ends
 * first; returns how many are available. */
static size_t fill(pcapfile_reader *r, size_t want)
{
    size_t have = r->len - r->pos;
    if (have >= want || r->eof)
        return have;
    if (r->pos) {
        memmove(r->buf, r->buf + r->pos, have);
        r->base += r->pos;
        r->pos = 0;
        r->len = have;
    }
    if (want > r->cap) {
        uint8_t *b = realloc(r->buf, want);
        if (!b)
            return have;
        r->buf = b;
        r->cap = want;
    }
    while (r->len < want && !r->eof) {
        long n = r->read(r->src, r->buf + r->len, r->cap - r->len);
        if (n <= 0) {
            r->eof = 1;
            r->read_failed = n < 0;
            break;
        }
        r->len += (size_t)n;
    }
    return r->len - r->pos;
}

static uint64_t offset_now(const pcapfile_reader *r)
{
    return r->base + r->pos;
}

pcapfile_reader *pcapfile_open(capture_read_fn read, void *src, char *err, size_t errlen)
{
    pcapfile_reader *r = calloc(1, sizeof(*r));
    if (r)
        r->buf = malloc(BLOCK);
    if (!r || !r->buf) {
        free(r);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    r->read = read;
    r->src = src;
    r->cap = BLOCK;
    size_t have = fill(r, FILE_HDR_LEN);
    if (have < FILE_HDR_LEN) {
        if (r->read_failed)
            snprintf(err, errlen, "read error in the file header");
        else
            snprintf(err, errlen, "truncated (%zu of %d bytes)", have, FILE_HDR_LEN);
        pcapfile_close(r);
        return NULL;
    }
    const uint8_t *h = r->buf;
    uint32_t magic;
    memcpy(&magic, h, 4);
    if (magic == 0xa1b2c3d4u || magic == 0xa1b23c4du || magic == 0xa1b2cd34u) {
        r->swapped = 0;
    } else {
        r->swapped = 1;
        magic = __builtin_bswap32(magic);
    }
    r->nano = magic == 0xa1b23c4du;
    r->rec_hdr = magic == 0xa1b2cd34u ? KUZ_HDR_LEN : REC_HDR_LEN;
    unsigned major = get16(r, h + 4), minor = get16(r, h + 6);
    if (major < 2) {
        snprintf(err, errlen, "archaic pcap savefile format %u.%u", major, minor);
        pcapfile_close(r);
        return NULL;
    }
    if (!((major == 2 && minor <= 4) || (major == 543 && minor == 0))) {
        snprintf(err, errlen, "unsupported pcap savefile version %u.%u", major, minor);
        pcapfile_close(r);
        return NULL;
    }
    r->lengths_swap = major == 543 || minor < 3 ? 1 : minor == 3 ? 2 : 0;
    r->snaplen = get32(r, h + 16);
    r->linktype = get32(r, h + 20) & 0x03FFFFFFu; /* the upper bits tell the FCS length */
    if (r->snaplen == 0 || r->snaplen > MAX_SNAPLEN)
        r->snaplen = MAX_SNAPLEN;
    if (r->rec_hdr == KUZ_HDR_LEN && r->linktype == 1)
        r->snaplen += 14; /* as libpcap: maybe a cooked capture with a made-up header */
    r->pos = FILE_HDR_LEN;
    return r;
}

input_status pcapfile_next(pcapfile_reader *r, input_packet *pkt)
{
    size_t have = r->len - r->pos;
    if (have < r->rec_hdr)
        have = fill(r, r->rec_hdr);
    if (have < r->rec_hdr) {
        if (r->read_failed) {
            snprintf(r->err, sizeof(r->err), "read error at offset %llu",
                     (unsigned long long)offset_now(r) + have);
            return INPUT_DAMAGED;
        }
        if (have == 0)
            return INPUT_END;
        snprintf(r->err, sizeof(r->err),
                 "truncated record header at offset %llu (%zu of %zu bytes)",
                 (unsigned long long)offset_now(r), have, r->rec_hdr);
        return INPUT_DAMAGED;
    }
    const uint8_t *h = r->buf + r->pos;
    int32_t sec = (int32_t)get32(r, h), frac = (int32_t)get32(r, h + 4);
    uint32_t caplen = get32(r, h + 8), len = get32(r, h + 12);
    if (r->lengths_swap == 1 || (r->lengths_swap == 2 && caplen > len)) {
        uint32_t t = caplen;
        caplen = len;
        len = t;
    }
    if (caplen > MAX_SNAPLEN) {
        snprintf(r->err, sizeof(r->err),
                 "captured length %u larger than any snapshot length (%u) at offset %llu", caplen,
                 MAX_SNAPLEN, (unsigned long long)offset_now(r));
        return INPUT_DAMAGED;
    }
    size_t total = r->rec_hdr + caplen;
    if (have < total) {
        have = fill(r, total);
        h = r->buf + r->pos;
        if (have < total) {
            if (r->read_failed)
                snprintf(r->err, sizeof(r->err), "read error at offset %llu",
                         (unsigned long long)offset_now(r) + have);
            else
                snprintf(r->err, sizeof(r->err),
                         "truncated packet data at offset %llu (%zu of %u bytes)",
                         (unsigned long long)offset_now(r) + r->rec_hdr, have - r->rec_hdr, caplen);
            return INPUT_DAMAGED;
        }
    }
    pkt->ts = (int64_t)sec * 1000000000 + (int64_t)frac * (r->nano ? 1 : 1000);
    pkt->linktype = r->linktype;
    pkt->data = h + r->rec_hdr;
    pkt->caplen = caplen > r->snaplen ? r->snaplen : caplen; /* libpcap keeps snaplen bytes */
    pkt->wirelen = len < pkt->caplen ? pkt->caplen : len;
    r->pos += total;
    return INPUT_PACKET;
}

const char *pcapfile_error(const pcapfile_reader *r)
{
    return r->err;
}

int pcapfile_precision(const pcapfile_reader *r)
{
    return r->nano ? 9 : 6;
}

uint64_t pcapfile_offset(const pcapfile_reader *r)
{
    return offset_now(r);
}

void pcapfile_close(pcapfile_reader *r)
{
    if (!r)
        return;
    free(r->buf);
    free(r);
}
