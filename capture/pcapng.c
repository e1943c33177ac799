/*
 * pcapng.c: a minimal pcapng block reader (draft-ietf-opsawg-pcapng).
 *
 * Why our own: libpcap 1.10 refuses a file whose interfaces have different
 * link types, and pcapng files from multi-interface captures (tshark -i a
 * -i b, Wireshark) often do. Each Interface Description Block keeps its own
 * link type, snap length, timestamp resolution (if_tsresol) and offset
 * (if_tsoffset); Enhanced, Simple and obsolete Packet Blocks are decoded,
 * every other block is skipped. Sections (SHB) may change byte order.
 *
 * Every length read from the file is checked before use: block lengths
 * (>= 12, multiple of 4, <= MAX_BLOCK, trailer equal to header), captured
 * lengths against the block, interface ids against the interfaces seen.
 */
#include "capture_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_BLOCK       (16u * 1024u * 1024u)
#define BT_SHB          0x0A0D0D0Au
#define BT_IDB          0x00000001u
#define BT_OPB          0x00000002u
#define BT_SPB          0x00000003u
#define BT_EPB          0x00000006u
#define BOM             0x1A2B3C4Du
#define OPT_ENDOFOPT    0
#define OPT_IF_TSRESOL  9
#define OPT_IF_TSOFFSET 14

typedef struct ng_iface {
    uint32_t linktype;
    uint32_t snaplen;
    uint8_t tsresol; /* as in the option: bit 7 set = power of 2 */
    int64_t tsoffset_s;
} ng_iface;

struct pcapng_reader {
    capture_read_fn read;
    void *src;
    int swapped; /* this section's byte order differs from ours */
    int seen_shb;
    ng_iface *ifaces;
    size_t n_ifaces, cap_ifaces;
    uint8_t *buf; /* the current block */
    size_t buf_cap;
    int64_t last_ts;
    int precision;
    uint64_t offset; /* of the current block in the file */
    char err[256];
};

static uint32_t rd32(const pcapng_reader *r, const uint8_t *p)
{
    return input_get32(p, r->swapped);
}

static uint16_t rd16(const pcapng_reader *r, const uint8_t *p)
{
    return input_get16(p, r->swapped);
}

pcapng_reader *pcapng_open(capture_read_fn read, void *src)
{
    pcapng_reader *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->read = read;
    r->src = src;
    r->precision = 6;
    return r;
}

void pcapng_close(pcapng_reader *r)
{
    if (!r)
        return;
    free(r->ifaces);
    free(r->buf);
    free(r);
}

const char *pcapng_error(const pcapng_reader *r)
{
    return r->err;
}

int pcapng_precision(const pcapng_reader *r)
{
    return r->precision;
}

/* Reads exactly len bytes. 1 = done, 0 = clean end before any byte, -1 =
 * error or end in the middle (message set). */
static int read_exact(pcapng_reader *r, void *buf, size_t len, const char *what)
{
    size_t done = 0;
    while (done < len) {
        long n = r->read(r->src, (uint8_t *)buf + done, len - done);
        if (n < 0) {
            snprintf(r->err, sizeof(r->err), "read error in %s at offset %llu", what,
                     (unsigned long long)r->offset);
            return -1;
        }
        if (n == 0)
            break;
        done += (size_t)n;
    }
    if (done == len)
        return 1;
    if (done == 0)
        return 0;
    snprintf(r->err, sizeof(r->err), "truncated %s at offset %llu (%zu of %zu bytes)", what,
             (unsigned long long)r->offset, done, len);
    return -1;
}

/* Timestamps saturate at 2^62 ns (year 2116) and at 0: flows clamps to the
 * same range, and nothing downstream can overflow. */
#define TS_NS_MAX (INT64_C(1) << 62)
#define NS_PER_S  1000000000u

static int64_t ts_to_ns(uint64_t units, uint8_t tsresol)
{
    const uint64_t max = (uint64_t)TS_NS_MAX;
    uint64_t v;
    if (tsresol & 0x80) {
        unsigned shift = tsresol & 0x7f;
        if (shift > 63)
            shift = 63;
        uint64_t sec = units >> shift;
        uint64_t frac = units & ((UINT64_C(1) << shift) - 1);
        if (shift > 30) {
            frac >>= (shift - 30);
            shift = 30;
        }
        if (sec > max / NS_PER_S)
            return TS_NS_MAX;
        v = sec * NS_PER_S + ((frac * NS_PER_S) >> shift);
    } else if (tsresol <= 9) {
        uint64_t mul = 1;
        for (unsigned i = tsresol; i < 9; i++)
            mul *= 10;
        if (units > max / mul)
            return TS_NS_MAX;
        v = units * mul;
    } else {
        uint64_t div = 1;
        for (unsigned i = 9; i < tsresol && i < 28; i++)
            div *= 10;
        v = units / div;
    }
    return v > max ? TS_NS_MAX : (int64_t)v;
}

/* ns + off_s seconds (if_tsoffset, signed), kept in [0, TS_NS_MAX]. */
static int64_t add_offset(int64_t ns, int64_t off_s)
{
    if (off_s > TS_NS_MAX / NS_PER_S)
        return TS_NS_MAX;
    if (off_s < -(TS_NS_MAX / NS_PER_S))
        return 0;
    int64_t v = ns + off_s * (int64_t)NS_PER_S; /* both within 2^62: no overflow */
    return v < 0 ? 0 : v > TS_NS_MAX ? TS_NS_MAX : v;
}

static int resol_is_fine(uint8_t tsresol)
{
    if (tsresol & 0x80)
        return (tsresol & 0x7f) > 20; /* 2^-20 ~ 1 µs */
    return tsresol > 6;
}

/* Parses IDB options: body points after linktype/reserved/snaplen. */
static void idb_options(const pcapng_reader *r, const uint8_t *p, size_t len, ng_iface *ifc)
{
    while (len >= 4) {
        uint16_t code = rd16(r, p), olen = rd16(r, p + 2);
        size_t padded = ((size_t)olen + 3u) & ~(size_t)3u;
        if (code == OPT_ENDOFOPT || padded > len - 4)
            return;
        if (code == OPT_IF_TSRESOL && olen >= 1)
            ifc->tsresol = p[4];
        else if (code == OPT_IF_TSOFFSET && olen >= 8) {
            uint64_t v;
            memcpy(&v, p + 4, 8);
            ifc->tsoffset_s = (int64_t)(r->swapped ? __builtin_bswap64(v) : v);
        }
        p += 4 + padded;
        len -= 4 + padded;
    }
}

static int add_iface(pcapng_reader *r, const uint8_t *body, size_t len)
{
    if (len < 8) {
        snprintf(r->err, sizeof(r->err), "interface description block too short at offset %llu",
                 (unsigned long long)r->offset);
        return -1;
    }
    if (r->n_ifaces == r->cap_ifaces) {
        size_t cap = r->cap_ifaces ? r->cap_ifaces * 2 : 4;
        if (cap > 65536) {
            snprintf(r->err, sizeof(r->err), "too many interfaces at offset %llu",
                     (unsigned long long)r->offset);
            return -1;
        }
        ng_iface *n = realloc(r->ifaces, cap * sizeof(*n));
        if (!n) {
            snprintf(r->err, sizeof(r->err), "out of memory");
            return -1;
        }
        r->ifaces = n;
        r->cap_ifaces = cap;
    }
    ng_iface *ifc = &r->ifaces[r->n_ifaces++];
    ifc->linktype = rd16(r, body);
    ifc->snaplen = rd32(r, body + 4);
    ifc->tsresol = 6;
    ifc->tsoffset_s = 0;
    idb_options(r, body + 8, len - 8, ifc);
    if (resol_is_fine(ifc->tsresol))
        r->precision = 9;
    return 0;
}

/* At a section header block, its header read: the byte order is only
 * known from the SHB's own body (its byte-order magic, read here). A new
 * section starts with no interfaces. Returns 0 or -1. */
static int start_section(pcapng_reader *r)
{
    uint8_t bom[4];
    if (read_exact(r, bom, 4, "section header") != 1) {
        if (!r->err[0])
            snprintf(r->err, sizeof(r->err), "truncated section header at offset %llu",
                     (unsigned long long)r->offset);
        return -1;
    }
    uint32_t b;
    memcpy(&b, bom, 4);
    if (b == BOM)
        r->swapped = 0;
    else if (b == __builtin_bswap32(BOM))
        r->swapped = 1;
    else {
        snprintf(r->err, sizeof(r->err), "bad byte-order magic in section header at offset %llu",
                 (unsigned long long)r->offset);
        return -1;
    }
    r->seen_shb = 1;
    r->n_ifaces = 0; /* interfaces are per section */
    return 0;
}

/* Reads the next block into r->buf. Returns 1, 0 at a clean end, -1. */
static int next_block(pcapng_reader *r, uint32_t *type, size_t *body_len)
{
    uint8_t hdr[8];
    int rc = read_exact(r, hdr, 8, "block header");
    if (rc <= 0)
        return rc;
    uint32_t raw_type;
    memcpy(&raw_type, hdr, 4);
    if (raw_type == BT_SHB) {
        if (start_section(r) < 0)
            return -1;
        *type = BT_SHB;
    } else if (!r->seen_shb) {
        snprintf(r->err, sizeof(r->err), "no section header block at the start");
        return -1;
    } else {
        *type = rd32(r, hdr);
    }
    uint32_t total = rd32(r, hdr + 4);
    if (total < 12 || total % 4 != 0 || total > MAX_BLOCK || (*type == BT_SHB && total < 28)) {
        snprintf(r->err, sizeof(r->err), "bad block length %u at offset %llu", total,
                 (unsigned long long)r->offset);
        return -1;
    }
    size_t rest = total - 8; /* body + trailing length */
    if (rest > r->buf_cap) {
        uint8_t *nb = realloc(r->buf, rest);
        if (!nb) {
            snprintf(r->err, sizeof(r->err), "out of memory");
            return -1;
        }
        r->buf = nb;
        r->buf_cap = rest;
    }
    size_t have = 0;
    if (*type == BT_SHB) {
        memcpy(r->buf, &(uint32_t){BOM}, 4); /* normalised; never read again */
        have = 4;
    }
    rc = read_exact(r, r->buf + have, rest - have, "block");
    if (rc != 1) {
        if (rc == 0)
            snprintf(r->err, sizeof(r->err), "truncated block at offset %llu",
                     (unsigned long long)r->offset);
        return -1;
    }
    if (rd32(r, r->buf + rest - 4) != total) {
        snprintf(r->err, sizeof(r->err),
                 "block length %u at offset %llu does not match its trailer", total,
                 (unsigned long long)r->offset);
        return -1;
    }
    *body_len = rest - 4;
    r->offset += total;
    return 1;
}

static input_status packet_from(pcapng_reader *r, uint32_t iface, uint64_t units, int has_ts,
                                uint32_t caplen, uint32_t wirelen, const uint8_t *data, size_t room,
                                input_packet *pkt, uint64_t block_off)
{
    if (iface >= r->n_ifaces) {
        snprintf(r->err, sizeof(r->err), "packet block at offset %llu names interface %u of %zu",
                 (unsigned long long)block_off, iface, r->n_ifaces);
        return INPUT_DAMAGED;
    }
    if (caplen > room) {
        snprintf(r->err, sizeof(r->err), "captured length %u larger than its block at offset %llu",
                 caplen, (unsigned long long)block_off);
        return INPUT_DAMAGED;
    }
    const ng_iface *ifc = &r->ifaces[iface];
    if (has_ts) {
        r->last_ts = add_offset(ts_to_ns(units, ifc->tsresol), ifc->tsoffset_s);
    }
    pkt->ts = r->last_ts; /* a Simple Packet Block has no time: keep the last */
    pkt->linktype = ifc->linktype;
    pkt->caplen = caplen;
    pkt->wirelen = wirelen < caplen ? caplen : wirelen;
    pkt->data = data;
    return INPUT_PACKET;
}

input_status pcapng_next(pcapng_reader *r, input_packet *pkt)
{
    for (;;) {
        uint32_t type;
        size_t len;
        uint64_t off = r->offset;
        int rc = next_block(r, &type, &len);
        if (rc == 0)
            return INPUT_END;
        if (rc < 0)
            return INPUT_DAMAGED;
        const uint8_t *b = r->buf;
        switch (type) {
        case BT_SHB:
            break;
        case BT_IDB:
            if (add_iface(r, b, len) < 0)
                return INPUT_DAMAGED;
            break;
        case BT_EPB:
            if (len < 20)
                goto short_block;
            return packet_from(r, rd32(r, b), (uint64_t)rd32(r, b + 4) << 32 | rd32(r, b + 8), 1,
                               rd32(r, b + 12), rd32(r, b + 16), b + 20, len - 20, pkt, off);
        case BT_OPB:
            if (len < 20)
                goto short_block;
            return packet_from(r, rd16(r, b), (uint64_t)rd32(r, b + 4) << 32 | rd32(r, b + 8), 1,
                               rd32(r, b + 12), rd32(r, b + 16), b + 20, len - 20, pkt, off);
        case BT_SPB: {
            if (len < 4)
                goto short_block;
            if (r->n_ifaces == 0) {
                snprintf(r->err, sizeof(r->err),
                         "simple packet block at offset %llu before any interface",
                         (unsigned long long)off);
                return INPUT_DAMAGED;
            }
            uint32_t wire = rd32(r, b);
            uint32_t cap = wire;
            if (r->ifaces[0].snaplen && cap > r->ifaces[0].snaplen)
                cap = r->ifaces[0].snaplen;
            if (cap > len - 4)
                cap = (uint32_t)(len - 4);
            return packet_from(r, 0, 0, 0, cap, wire, b + 4, len - 4, pkt, off);
        }
        default:
            break; /* name resolution, statistics, custom... */
        }
        continue;
    short_block:
        snprintf(r->err, sizeof(r->err), "packet block too short at offset %llu",
                 (unsigned long long)off);
        return INPUT_DAMAGED;
    }
}

int pcapng_probe_precision(const uint8_t *buf, size_t len)
{
    pcapng_reader r;
    memset(&r, 0, sizeof(r));
    size_t off = 0;
    int fine = 0;
    while (off + 12 <= len) {
        uint32_t type, total;
        memcpy(&type, buf + off, 4);
        if (type == BT_SHB) {
            uint32_t b;
            memcpy(&b, buf + off + 8, 4);
            r.swapped = b != BOM;
        }
        type = rd32(&r, buf + off);
        total = rd32(&r, buf + off + 4);
        if (total < 12 || total % 4 || total > len - off)
            break;
        if (type == BT_IDB && total >= 20) {
            ng_iface ifc = {0, 0, 6, 0};
            idb_options(&r, buf + off + 16, total - 20, &ifc);
            fine |= resol_is_fine(ifc.tsresol);
        }
        off += total;
    }
    return fine ? 9 : 6;
}
