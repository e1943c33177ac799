/*
 * gen: deterministic pcap / pcapng writer, packet builder and TCP
 * conversation scripts for synfin's samples and tests. See gen.h.
 *
 * Two rules keep the output the same on every host:
 *  - every multi-byte field is stored through put_be* / put_le*, never by
 *    copying a host integer; libpcap writes the pcap headers in host order,
 *    so gen_close rewrites them into the byte order asked for;
 *  - the only randomness is splitmix64 seeded by the caller (or by a hash
 *    of the 4-tuple), never rand() or the clock.
 *
 * Records are kept in memory (at most the snaplen of each) until gen_close
 * and sorted there, so memory grows with the capture: fine for samples and
 * property tests, not meant for gigabytes.
 */
#include "gen.h"

#include <arpa/inet.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GEN_MAX_IFACES 8

/* TCP protocol numbers and the EtherTypes gen_build writes. */
enum {
    PROTO_ICMP = 1,
    PROTO_TCP = 6,
    PROTO_UDP = 17,
    PROTO_ICMPV6 = 58,
    ETH_IPV4 = 0x0800,
    ETH_ARP = 0x0806,
    ETH_IPV6 = 0x86dd,
    ETH_PPPOE_SESSION = 0x8864,
    ETH_MPLS = 0x8847,
};

typedef struct gen_record {
    uint64_t ts_ns;
    uint64_t order; /* call order: ties in time keep it */
    uint32_t iface;
    uint32_t caplen;
    uint32_t wirelen;
    size_t offset; /* of the captured bytes in gen_file.data */
} gen_record;

struct gen_file {
    char *path;
    int pcapng;
    unsigned flags;
    uint32_t snaplen;
    uint32_t nifaces;
    uint32_t linktype[GEN_MAX_IFACES];
    int tsresol[GEN_MAX_IFACES];
    char ifname[GEN_MAX_IFACES][32];
    gen_record *recs;
    size_t nrecs, caprecs;
    uint8_t *data;
    size_t datalen, datacap;
    uint8_t *scratch; /* GEN_MAX_FRAME bytes: gen_send builds here */
    int failed;
};

/* ------------------------------------------------------------ byte helpers */

static void put_be16(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void put_le16(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static int host_is_big_endian(void)
{
    const uint16_t one = 1;
    uint8_t first;
    memcpy(&first, &one, 1);
    return first == 0;
}

/* ------------------------------------------------------------------ files */

static gen_file *file_new(const char *path, uint32_t snaplen)
{
    if (path == NULL || snaplen == 0) {
        return NULL;
    }
    gen_file *f = calloc(1, sizeof *f);
    if (f == NULL) {
        return NULL;
    }
    size_t path_size = strlen(path) + 1;
    f->path = malloc(path_size);
    f->scratch = malloc(GEN_MAX_FRAME);
    if (f->path == NULL || f->scratch == NULL) {
        free(f->path);
        free(f->scratch);
        free(f);
        return NULL;
    }
    memcpy(f->path, path, path_size);
    f->snaplen = snaplen;
    return f;
}

gen_file *gen_open_pcap(const char *path, uint32_t linktype, uint32_t snaplen, unsigned flags)
{
    if (snaplen > GEN_MAX_FRAME) {
        return NULL;
    }
    gen_file *f = file_new(path, snaplen);
    if (f == NULL) {
        return NULL;
    }
    f->flags = flags;
    f->nifaces = 1;
    f->linktype[0] = linktype;
    f->tsresol[0] = (flags & GEN_NSEC) ? 9 : 6;
    return f;
}

gen_file *gen_open_pcapng(const char *path, uint32_t snaplen)
{
    gen_file *f = file_new(path, snaplen);
    if (f != NULL) {
        f->pcapng = 1;
    }
    return f;
}

int gen_add_interface(gen_file *f, uint32_t linktype, int tsresol, const char *name)
{
    if (f == NULL || !f->pcapng || f->nifaces >= GEN_MAX_IFACES || tsresol < 0 || tsresol > 9 ||
        linktype > 0xffff) {
        if (f != NULL) {
            f->failed = 1;
        }
        return -1;
    }
    uint32_t i = f->nifaces++;
    f->linktype[i] = linktype;
    f->tsresol[i] = tsresol;
    if (name != NULL) {
        snprintf(f->ifname[i], sizeof f->ifname[i], "%s", name);
    }
    return (int)i;
}

uint32_t gen_linktype(const gen_file *f, uint32_t iface)
{
    return iface < f->nifaces ? f->linktype[iface] : 0;
}

int gen_write(gen_file *f, uint32_t iface, uint64_t ts_ns, const uint8_t *data, uint32_t caplen,
              uint32_t wirelen)
{
    if (iface >= f->nifaces || caplen > wirelen) {
        f->failed = 1;
        return -1;
    }
    if (caplen > f->snaplen) {
        caplen = f->snaplen;
    }
    if (f->nrecs == f->caprecs) {
        size_t n = f->caprecs ? f->caprecs * 2 : 256;
        gen_record *r = realloc(f->recs, n * sizeof *r);
        if (r == NULL) {
            f->failed = 1;
            return -1;
        }
        f->recs = r;
        f->caprecs = n;
    }
    if (f->datacap - f->datalen < caplen) {
        size_t n = f->datacap ? f->datacap : 65536;
        while (n - f->datalen < caplen) {
            n *= 2;
        }
        uint8_t *d = realloc(f->data, n);
        if (d == NULL) {
            f->failed = 1;
            return -1;
        }
        f->data = d;
        f->datacap = n;
    }
    memcpy(f->data + f->datalen, data, caplen);
    gen_record *r = &f->recs[f->nrecs];
    r->ts_ns = ts_ns;
    r->order = f->nrecs;
    r->iface = iface;
    r->caplen = caplen;
    r->wirelen = wirelen;
    r->offset = f->datalen;
    f->nrecs++;
    f->datalen += caplen;
    return 0;
}

static int record_cmp(const void *a, const void *b)
{
    const gen_record *x = a;
    const gen_record *y = b;
    if (x->ts_ns != y->ts_ns) {
        return x->ts_ns < y->ts_ns ? -1 : 1;
    }
    return x->order < y->order ? -1 : x->order > y->order;
}

/* Libpcap knows LINKTYPE_RAW by the platform's DLT_RAW; the other link types
 * gen writes have DLT values equal to their LINKTYPE values. */
static int linktype_to_dlt(uint32_t linktype)
{
    return linktype == DISSECT_LINK_RAW ? DLT_RAW : (int)linktype;
}

static void swap4(uint8_t *p)
{
    uint8_t t = p[0];
    p[0] = p[3];
    p[3] = t;
    t = p[1];
    p[1] = p[2];
    p[2] = t;
}

/* libpcap wrote `path` in host order: rewrite the file header and every
 * record header the other way round (packet bytes are left alone). */
static int swap_pcap_file(const char *path)
{
    FILE *fp = fopen(path, "rb");
    if (fp == NULL) {
        return -1;
    }
    uint8_t *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (cap - len < 65536) {
            cap = cap ? cap * 2 : 1 << 20;
            uint8_t *b = realloc(buf, cap);
            if (b == NULL) {
                free(buf);
                (void)fclose(fp); /* read only */
                return -1;
            }
            buf = b;
        }
        size_t n = fread(buf + len, 1, cap - len, fp);
        len += n;
        if (n == 0) {
            break;
        }
    }
    int bad = ferror(fp);
    (void)fclose(fp); /* read only: ferror above saw any error */
    if (bad || len < 24) {
        free(buf);
        return -1;
    }
    swap4(buf); /* magic */
    uint8_t t = buf[4];
    buf[4] = buf[5];
    buf[5] = t;
    t = buf[6];
    buf[6] = buf[7];
    buf[7] = t;
    for (size_t i = 8; i < 24; i += 4) {
        swap4(buf + i);
    }
    size_t off = 24;
    while (off + 16 <= len) {
        uint32_t caplen;
        memcpy(&caplen, buf + off + 8, 4); /* still in host order */
        for (size_t i = 0; i < 16; i += 4) {
            swap4(buf + off + i);
        }
        off += 16 + (size_t)caplen;
    }
    if (off != len) {
        free(buf);
        return -1;
    }
    fp = fopen(path, "wb");
    if (fp == NULL) {
        free(buf);
        return -1;
    }
    size_t n = fwrite(buf, 1, len, fp);
    free(buf);
    if (fclose(fp) != 0 || n != len) {
        return -1;
    }
    return 0;
}

static int close_pcap(gen_file *f)
{
    int prec = (f->flags & GEN_NSEC) ? PCAP_TSTAMP_PRECISION_NANO : PCAP_TSTAMP_PRECISION_MICRO;
    pcap_t *p = pcap_open_dead_with_tstamp_precision(linktype_to_dlt(f->linktype[0]),
                                                     (int)f->snaplen, (u_int)prec);
    if (p == NULL) {
        return -1;
    }
    pcap_dumper_t *d = pcap_dump_open(p, f->path);
    if (d == NULL) {
        fprintf(stderr, "gen: %s: %s\n", f->path, pcap_geterr(p));
        pcap_close(p);
        return -1;
    }
    uint64_t unit = (f->flags & GEN_NSEC) ? 1 : GEN_NS_PER_US;
    for (size_t i = 0; i < f->nrecs; i++) {
        const gen_record *r = &f->recs[i];
        struct pcap_pkthdr h;
        memset(&h, 0, sizeof h);
        h.ts.tv_sec = (time_t)(r->ts_ns / GEN_NS_PER_SEC);
        h.ts.tv_usec = (suseconds_t)(r->ts_ns % GEN_NS_PER_SEC / unit);
        h.caplen = r->caplen;
        h.len = r->wirelen;
        pcap_dump((u_char *)d, &h, f->data + r->offset);
    }
    int rc = pcap_dump_flush(d) == 0 && !ferror(pcap_dump_file(d)) ? 0 : -1;
    pcap_dump_close(d);
    pcap_close(p);
    int want_big = (f->flags & GEN_BIG_ENDIAN) != 0;
    if (rc == 0 && want_big != host_is_big_endian()) {
        rc = swap_pcap_file(f->path);
    }
    return rc;
}

/* A growable little-endian byte buffer for pcapng blocks. */
typedef struct outbuf {
    uint8_t *p;
    size_t len, cap;
    int failed;
} outbuf;

static uint8_t *ob_grow(outbuf *o, size_t n)
{
    if (o->cap - o->len < n) {
        size_t c = o->cap ? o->cap : 4096;
        while (c - o->len < n) {
            c *= 2;
        }
        uint8_t *p = realloc(o->p, c);
        if (p == NULL) {
            o->failed = 1;
            return NULL;
        }
        o->p = p;
        o->cap = c;
    }
    uint8_t *at = o->p + o->len;
    memset(at, 0, n);
    o->len += n;
    return at;
}

static void ob_u16(outbuf *o, uint32_t v)
{
    uint8_t *p = ob_grow(o, 2);
    if (p != NULL) {
        put_le16(p, v);
    }
}

static void ob_u32(outbuf *o, uint32_t v)
{
    uint8_t *p = ob_grow(o, 4);
    if (p != NULL) {
        put_le32(p, v);
    }
}

/* Bytes padded with zeros to a multiple of 4. */
static void ob_bytes(outbuf *o, const void *data, size_t n)
{
    uint8_t *p = ob_grow(o, (n + 3) & ~(size_t)3);
    if (p != NULL && n > 0) {
        memcpy(p, data, n);
    }
}

static void ob_option(outbuf *o, uint32_t code, const void *data, size_t n)
{
    ob_u16(o, code);
    ob_u16(o, (uint32_t)n);
    ob_bytes(o, data, n);
}

/* Starts a block; returns its offset for block_end. */
static size_t block_begin(outbuf *o, uint32_t type)
{
    size_t start = o->len;
    ob_u32(o, type);
    ob_u32(o, 0); /* total length, patched by block_end */
    return start;
}

static void block_end(outbuf *o, size_t start)
{
    if (o->failed) {
        return;
    }
    uint32_t total = (uint32_t)(o->len - start + 4);
    ob_u32(o, total);
    if (!o->failed) {
        put_le32(o->p + start + 4, total);
    }
}

static int close_pcapng(gen_file *f)
{
    outbuf o = {0};
    static const char appl[] = "synfin samplegen";

    size_t b = block_begin(&o, 0x0A0D0D0A); /* Section Header Block */
    ob_u32(&o, 0x1A2B3C4D);
    ob_u16(&o, 1);
    ob_u16(&o, 0);
    ob_u32(&o, 0xffffffff); /* section length: unknown */
    ob_u32(&o, 0xffffffff);
    ob_option(&o, 4, appl, sizeof appl - 1); /* shb_userappl */
    ob_u32(&o, 0);                           /* opt_endofopt */
    block_end(&o, b);

    for (uint32_t i = 0; i < f->nifaces; i++) {
        b = block_begin(&o, 1); /* Interface Description Block */
        ob_u16(&o, f->linktype[i]);
        ob_u16(&o, 0);
        ob_u32(&o, f->snaplen);
        if (f->ifname[i][0] != '\0') {
            ob_option(&o, 2, f->ifname[i], strlen(f->ifname[i])); /* if_name */
        }
        uint8_t res = (uint8_t)f->tsresol[i];
        ob_option(&o, 9, &res, 1); /* if_tsresol: a power of ten */
        ob_u32(&o, 0);
        block_end(&o, b);
    }

    for (size_t i = 0; i < f->nrecs; i++) {
        const gen_record *r = &f->recs[i];
        uint64_t div = 1;
        for (int k = f->tsresol[r->iface]; k < 9; k++) {
            div *= 10;
        }
        uint64_t ts = r->ts_ns / div;
        b = block_begin(&o, 6); /* Enhanced Packet Block */
        ob_u32(&o, r->iface);
        ob_u32(&o, (uint32_t)(ts >> 32));
        ob_u32(&o, (uint32_t)ts);
        ob_u32(&o, r->caplen);
        ob_u32(&o, r->wirelen);
        ob_bytes(&o, f->data + r->offset, r->caplen);
        block_end(&o, b);
    }

    int rc = -1;
    FILE *fp = o.failed ? NULL : fopen(f->path, "wb");
    if (fp != NULL) {
        size_t n = fwrite(o.p, 1, o.len, fp);
        rc = (fclose(fp) == 0 && n == o.len) ? 0 : -1;
    }
    free(o.p);
    return rc;
}

int gen_close(gen_file *f)
{
    if (f == NULL) {
        return -1;
    }
    int rc = f->failed ? -1 : 0;
    if (rc == 0) {
        if (!(f->flags & GEN_KEEP_ORDER)) {
            qsort(f->recs, f->nrecs, sizeof *f->recs, record_cmp);
        }
        if (f->pcapng ? close_pcapng(f) : close_pcap(f)) {
            fprintf(stderr, "gen: cannot write %s\n", f->path);
            rc = -1;
        }
    }
    free(f->recs);
    free(f->data);
    free(f->scratch);
    free(f->path);
    free(f);
    return rc;
}

/* ---------------------------------------------------------------- packets */

gen_link gen_link_of(uint32_t linktype)
{
    gen_link l;
    memset(&l, 0, sizeof l);
    l.linktype = linktype;
    l.af_inet6 = 24;
    return l;
}

gen_pkt gen_pkt_default(void)
{
    gen_pkt p;
    memset(&p, 0, sizeof p);
    p.ip_version = 4;
    p.ttl = 64;
    p.proto = PROTO_TCP;
    p.wscale = -1;
    return p;
}

int gen_parse_ip(const char *text, uint8_t out[16])
{
    memset(out, 0, 16);
    if (inet_pton(AF_INET, text, out) == 1) {
        return 4;
    }
    if (inet_pton(AF_INET6, text, out) == 1) {
        return 6;
    }
    return 0;
}

/* A locally administered MAC made of the last 4 bytes of an IP address. */
static void mac_of(uint8_t *mac, int ip_version, const uint8_t ip[16])
{
    mac[0] = 0x02;
    mac[1] = 0x00;
    memcpy(mac + 2, ip_version == 4 ? ip : ip + 12, 4);
}

static uint32_t csum_add(uint32_t sum, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i + 1 < n; i += 2) {
        sum += (uint32_t)p[i] << 8 | p[i + 1];
    }
    if (n & 1) {
        sum += (uint32_t)p[n - 1] << 8;
    }
    return sum;
}

static uint16_t csum_fold(uint32_t sum)
{
    while (sum >> 16) {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    return (uint16_t)~sum;
}

/* Pseudo-header sum for TCP, UDP and ICMPv6 checksums. */
static uint32_t pseudo_sum(const gen_pkt *p, uint32_t l4len)
{
    uint8_t tail[8];
    size_t alen = p->ip_version == 4 ? 4 : 16;
    uint32_t sum = csum_add(0, p->src, alen);
    sum = csum_add(sum, p->dst, alen);
    put_be32(tail, l4len);
    put_be32(tail + 4, p->proto);
    return csum_add(sum, tail, sizeof tail);
}

/* TCP options in Linux's order; returns their length (a multiple of 4). */
static size_t tcp_options(const gen_pkt *p, uint8_t *o)
{
    size_t n = 0;
    if (p->mss) {
        o[n++] = 2;
        o[n++] = 4;
        put_be16(o + n, p->mss);
        n += 2;
    }
    if (p->sack_perm && p->timestamps) {
        o[n++] = 4;
        o[n++] = 2;
    } else if (p->sack_perm) {
        o[n++] = 1;
        o[n++] = 1;
        o[n++] = 4;
        o[n++] = 2;
    } else if (p->timestamps) {
        o[n++] = 1;
        o[n++] = 1;
    }
    if (p->timestamps) {
        o[n++] = 8;
        o[n++] = 10;
        put_be32(o + n, p->ts_val);
        put_be32(o + n + 4, p->ts_ecr);
        n += 8;
    }
    if (p->sack_blocks > 0) {
        size_t blocks = p->sack_blocks < 4 ? p->sack_blocks : 4;
        while (blocks > 0 && n + 4 + 8 * blocks > 40) {
            blocks--; /* what fits, as a stack leaves out the oldest blocks */
        }
        if (blocks > 0) {
            o[n++] = 1;
            o[n++] = 1;
            o[n++] = 5;
            o[n++] = (uint8_t)(2 + 8 * blocks);
            for (size_t i = 0; i < blocks; i++) {
                put_be32(o + n, p->sack[i][0]);
                put_be32(o + n + 4, p->sack[i][1]);
                n += 8;
            }
        }
    }
    if (p->wscale >= 0) {
        o[n++] = 1;
        o[n++] = 3;
        o[n++] = 3;
        o[n++] = (uint8_t)p->wscale;
    }
    while (n % 4) {
        o[n++] = 0; /* end of option list */
    }
    return n;
}

/* Transport header length of `p` (0 for a non-first fragment). */
static size_t l4_header_len(const gen_pkt *p, size_t optlen)
{
    if (p->ip_version == 4 && p->frag_offset != 0) {
        return 0;
    }
    switch (p->proto) {
    case PROTO_UDP:
    case PROTO_ICMP:
    case PROTO_ICMPV6:
        return 8;
    default:
        return 20 + optlen;
    }
}

/* An LLC/SNAP header carrying `ethertype`; 8 bytes. */
static size_t snap(uint8_t *h, uint32_t ethertype)
{
    h[0] = 0xaa;
    h[1] = 0xaa;
    h[2] = 0x03;
    h[3] = h[4] = h[5] = 0;
    put_be16(h + 6, ethertype);
    return 8;
}

/* An 802.11 data frame header from a station to its AP (ToDS), then
 * LLC/SNAP; 32 bytes. */
static size_t wlan_header(uint8_t *h, const gen_pkt *p, uint32_t ethertype)
{
    h[0] = 0x08;                           /* data */
    h[1] = 0x01;                           /* ToDS */
    mac_of(h + 4, p->ip_version, p->dst);  /* BSSID */
    mac_of(h + 10, p->ip_version, p->src); /* source */
    mac_of(h + 16, p->ip_version, p->dst); /* destination */
    return 24 + snap(h + 24, ethertype);
}

/* The Ethernet headers after the MAC addresses (at hdr + n) for the L2
 * encapsulations; returns the new length. */
static size_t l2_headers(const gen_link *l, const gen_pkt *p, uint32_t iplen, uint8_t *hdr,
                         size_t n)
{
    uint32_t ethertype = p->ip_version == 6 ? ETH_IPV6 : ETH_IPV4;
    switch (l->encap) {
    case GEN_ENCAP_PBB:
        put_be16(hdr + n, 0x88e7);
        put_be32(hdr + n + 2, 0x00012345); /* I-SID */
        mac_of(hdr + n + 6, p->ip_version, p->dst);
        mac_of(hdr + n + 12, p->ip_version, p->src);
        n += 18;
        break;
    case GEN_ENCAP_VNTAG:
        put_be16(hdr + n, 0x8926);
        put_be32(hdr + n + 2, 0x00050000);
        n += 6;
        break;
    case GEN_ENCAP_ETAG:
        put_be16(hdr + n, 0x893f);
        put_be32(hdr + n + 2, 0x00000123);
        n += 8;
        break;
    case GEN_ENCAP_FABRICPATH: /* the MACs so far were the outer ones */
        put_be16(hdr + n, 0x8903);
        put_be16(hdr + n + 2, 0x0420); /* FTag, TTL */
        mac_of(hdr + n + 4, p->ip_version, p->dst);
        mac_of(hdr + n + 10, p->ip_version, p->src);
        n += 16;
        break;
    case GEN_ENCAP_LLC:
        put_be16(hdr + n, iplen + 8); /* an 802.3 length */
        return n + 2 + snap(hdr + n + 2, ethertype);
    default:
        break;
    }
    put_be16(hdr + n, ethertype);
    return n + 2;
}

/* The link types beyond Ethernet, cooked, raw and loopback. */
static size_t other_link_header(const gen_link *l, const gen_pkt *p, uint32_t iplen, uint8_t *hdr)
{
    int v6 = p->ip_version == 6;
    uint32_t ethertype = v6 ? ETH_IPV6 : ETH_IPV4;
    switch (l->linktype) {
    case DISSECT_LINK_PPP: /* address and control compressed away: the protocol */
        put_be16(hdr, v6 ? 0x0057 : 0x0021);
        return 2;
    case DISSECT_LINK_PPP_HDLC:
        hdr[0] = 0xff;
        hdr[1] = 0x03;
        put_be16(hdr + 2, v6 ? 0x0057 : 0x0021);
        return 4;
    case DISSECT_LINK_C_HDLC:
        hdr[0] = 0x0f;
        put_be16(hdr + 2, ethertype);
        return 4;
    case DISSECT_LINK_FDDI:
        hdr[0] = 0x50; /* LLC frame */
        mac_of(hdr + 1, p->ip_version, p->dst);
        mac_of(hdr + 7, p->ip_version, p->src);
        return 13 + snap(hdr + 13, ethertype);
    case DISSECT_LINK_IEEE802_11:
        return wlan_header(hdr, p, ethertype);
    case DISSECT_LINK_RADIOTAP: /* version, pad, length 8 (LE), no fields */
        hdr[2] = 8;
        return 8 + wlan_header(hdr + 8, p, ethertype);
    case DISSECT_LINK_NFLOG: /* family, version, group; a prefix TLV; the payload TLV */
        hdr[0] = v6 ? 10 : 2;
        put_le16(hdr + 4, 8);
        put_le16(hdr + 6, 10); /* NFULA_PREFIX */
        memcpy(hdr + 8, "tun", 4);
        put_le16(hdr + 12, iplen + 4);
        put_le16(hdr + 14, 9); /* NFULA_PAYLOAD */
        return 16;
    case DISSECT_LINK_IPOIB: /* 40 bytes of addresses, type, reserved */
        hdr[16] = 0x2f;
        put_be16(hdr + 40, ethertype);
        return 44;
    case DISSECT_LINK_JUNIPER_ETHER: /* "MGC", flags: extensions of 4 bytes given */
        hdr[0] = 'M';
        hdr[1] = 'G';
        hdr[2] = 'C';
        hdr[3] = 0x80 | 0x01;
        put_be16(hdr + 4, 4);
        hdr[6] = 1; /* an interface index TLV */
        hdr[7] = 2;
        mac_of(hdr + 10, p->ip_version, p->dst);
        mac_of(hdr + 16, p->ip_version, p->src);
        put_be16(hdr + 22, ethertype);
        return 24;
    default:
        return 0;
    }
}

/* Link-layer header for an IP packet of `iplen` bytes; returns its length
 * (0 for raw IP). link_carries has vetted the pair. `hdr` has room for 64. */
static size_t link_header(const gen_link *l, const gen_pkt *p, uint32_t iplen, uint8_t *hdr)
{
    int v6 = p->ip_version == 6;
    uint32_t ethertype = v6 ? ETH_IPV6 : ETH_IPV4;
    uint32_t af = v6 ? (l->af_inet6 ? l->af_inet6 : 24) : 2;
    size_t n = 0;
    switch (l->linktype) {
    case DISSECT_LINK_ETHERNET: {
        mac_of(hdr, p->ip_version, p->dst);
        mac_of(hdr + 6, p->ip_version, p->src);
        n = 12;
        if (l->vlan_count > 3) {
            return 0;
        }
        for (int i = 0; i < l->vlan_count; i++) {
            put_be16(hdr + n, l->vlan_tpid[i] ? l->vlan_tpid[i] : 0x8100);
            put_be16(hdr + n + 2, l->vlan_id[i] & 0x0fff);
            n += 4;
        }
        if (l->encap == GEN_ENCAP_PPPOE || l->encap == GEN_ENCAP_PPPOE_PFC) {
            int pfc = l->encap == GEN_ENCAP_PPPOE_PFC;
            put_be16(hdr + n, ETH_PPPOE_SESSION);
            hdr[n + 2] = 0x11; /* version 1, type 1 */
            hdr[n + 3] = 0x00; /* code: session data */
            put_be16(hdr + n + 4, 0x2a17);
            put_be16(hdr + n + 6, iplen + (pfc ? 1 : 2));
            if (pfc) {
                hdr[n + 8] = v6 ? 0x57 : 0x21;
                n += 9;
            } else {
                put_be16(hdr + n + 8, v6 ? 0x0057 : 0x0021);
                n += 10;
            }
        } else if (l->encap == GEN_ENCAP_MPLS) {
            int labels = l->mpls_labels ? l->mpls_labels : 1;
            if (labels > 3) {
                return 0;
            }
            put_be16(hdr + n, ETH_MPLS);
            n += 2;
            for (int i = 0; i < labels; i++) {
                uint32_t label = 16000u + 100u * (uint32_t)i;
                uint32_t bottom = i == labels - 1;
                put_be32(hdr + n, label << 12 | bottom << 8 | 64);
                n += 4;
            }
        } else {
            n = l2_headers(l, p, iplen, hdr, n);
        }
        return n;
    }
    case DISSECT_LINK_LINUX_SLL:
        put_be16(hdr, p->outgoing ? 4 : 0); /* PACKET_OUTGOING / PACKET_HOST */
        put_be16(hdr + 2, 1);               /* ARPHRD_ETHER */
        put_be16(hdr + 4, 6);
        mac_of(hdr + 6, p->ip_version, p->src);
        put_be16(hdr + 14, ethertype);
        return 16;
    case DISSECT_LINK_LINUX_SLL2:
        put_be16(hdr, ethertype);
        put_be32(hdr + 4, 2); /* interface index */
        put_be16(hdr + 8, 1); /* ARPHRD_ETHER */
        hdr[10] = p->outgoing ? 4 : 0;
        hdr[11] = 6;
        mac_of(hdr + 12, p->ip_version, p->src);
        return 20;
    case DISSECT_LINK_RAW:
    case DISSECT_LINK_RAW_DLT:
    case DISSECT_LINK_RAW_DLT14:
    case DISSECT_LINK_IPV4:
    case DISSECT_LINK_IPV6:
        return 0;
    case DISSECT_LINK_NULL:
        if (l->af_big_endian) {
            put_be32(hdr, af);
        } else {
            put_le32(hdr, af);
        }
        return 4;
    case DISSECT_LINK_LOOP:
        put_be32(hdr, af);
        return 4;
    default:
        return other_link_header(l, p, iplen, hdr);
    }
}

static int link_carries(const gen_link *l, int ip_version)
{
    switch (l->linktype) {
    case DISSECT_LINK_ETHERNET:
    case DISSECT_LINK_LINUX_SLL:
    case DISSECT_LINK_LINUX_SLL2:
    case DISSECT_LINK_RAW:
    case DISSECT_LINK_RAW_DLT:
    case DISSECT_LINK_RAW_DLT14:
    case DISSECT_LINK_NULL:
    case DISSECT_LINK_LOOP:
        return 1;
    case DISSECT_LINK_IPV4:
        return ip_version == 4;
    case DISSECT_LINK_IPV6:
        return ip_version == 6;
    case DISSECT_LINK_PPP:
    case DISSECT_LINK_PPP_HDLC:
    case DISSECT_LINK_C_HDLC:
    case DISSECT_LINK_FDDI:
    case DISSECT_LINK_IEEE802_11:
    case DISSECT_LINK_RADIOTAP:
    case DISSECT_LINK_NFLOG:
    case DISSECT_LINK_IPOIB:
    case DISSECT_LINK_JUNIPER_ETHER:
        return 1;
    default:
        return 0;
    }
}

static size_t build_plain(const gen_link *link, const gen_pkt *p, uint8_t *buf, size_t cap)
{
    if ((p->ip_version != 4 && p->ip_version != 6) || !link_carries(link, p->ip_version)) {
        return 0;
    }
    uint8_t proto = p->proto ? p->proto : PROTO_TCP;
    gen_pkt q = *p;
    q.proto = proto;

    uint8_t opts[40];
    size_t optlen = proto == PROTO_TCP ? tcp_options(&q, opts) : 0;
    if (optlen > 40) {
        return 0;
    }
    size_t l4hdr = l4_header_len(&q, optlen);
    size_t iphdr = q.ip_version == 4 ? 20 : 40;
    uint64_t l4len = (uint64_t)l4hdr + q.payload_len;
    uint64_t iplen = iphdr + l4len;
    if (iplen > 65535 || (q.ip_version == 6 && l4len > 65535)) {
        return 0;
    }

    uint8_t lh[64];
    memset(lh, 0, sizeof lh);
    size_t linklen = link_header(link, &q, (uint32_t)iplen, lh);
    size_t total = linklen + (size_t)iplen;
    if (total > cap) {
        return 0;
    }
    memset(buf, 0, total);
    memcpy(buf, lh, linklen);

    uint8_t *ip = buf + linklen;
    if (q.ip_version == 4) {
        ip[0] = 0x45;
        put_be16(ip + 2, (uint32_t)iplen);
        put_be16(ip + 4, q.ip_id);
        uint32_t frag = q.frag_offset & 0x1fff;
        if (q.more_fragments) {
            frag |= 0x2000;
        }
        if (frag == 0) {
            frag = 0x4000; /* DF, as Linux sets on TCP */
        }
        put_be16(ip + 6, frag);
        ip[8] = q.ttl;
        ip[9] = proto;
        memcpy(ip + 12, q.src, 4);
        memcpy(ip + 16, q.dst, 4);
        put_be16(ip + 10, csum_fold(csum_add(0, ip, 20)));
    } else {
        put_be32(ip, 0x60000000u | (q.flow_label & 0xfffff));
        put_be16(ip + 4, (uint32_t)l4len);
        ip[6] = proto;
        ip[7] = q.ttl;
        memcpy(ip + 8, q.src, 16);
        memcpy(ip + 24, q.dst, 16);
    }

    uint8_t *l4 = ip + iphdr;
    if (l4hdr == 0) {
        return total; /* a non-first fragment: payload only */
    }
    /* The payload is zeros: it adds nothing to a checksum. */
    if (proto == PROTO_TCP) {
        put_be16(l4, q.sport);
        put_be16(l4 + 2, q.dport);
        put_be32(l4 + 4, q.seq);
        put_be32(l4 + 8, q.ack);
        l4[12] = (uint8_t)((l4hdr / 4) << 4 | ((q.flags >> 8) & 1));
        l4[13] = (uint8_t)q.flags;
        put_be16(l4 + 14, q.window);
        memcpy(l4 + 20, opts, optlen);
        put_be16(l4 + 16, csum_fold(csum_add(pseudo_sum(&q, (uint32_t)l4len), l4, l4hdr)));
    } else if (proto == PROTO_UDP) {
        put_be16(l4, q.sport);
        put_be16(l4 + 2, q.dport);
        put_be16(l4 + 4, (uint32_t)l4len);
        uint16_t sum = csum_fold(csum_add(pseudo_sum(&q, (uint32_t)l4len), l4, 8));
        put_be16(l4 + 6, sum ? sum : 0xffff);
    } else {
        l4[0] = proto == PROTO_ICMPV6 ? 128 : 8; /* echo request */
        put_be16(l4 + 4, q.sport);
        put_be16(l4 + 6, q.dport);
        uint32_t sum = proto == PROTO_ICMPV6 ? pseudo_sum(&q, (uint32_t)l4len) : 0;
        put_be16(l4 + 2, csum_fold(csum_add(sum, l4, 8)));
    }
    return total;
}

/* ---- tunnels ---------------------------------------------------------- */

/* An outer IP header (version v) carrying `len` bytes of protocol `proto`
 * at out; returns its length (20 or 40). */
static size_t outer_ip(uint8_t *out, int v, const uint8_t *src, const uint8_t *dst, uint8_t proto,
                       size_t len)
{
    if (v == 4) {
        memset(out, 0, 20);
        out[0] = 0x45;
        put_be16(out + 2, (uint32_t)(20 + len));
        put_be16(out + 6, 0x4000);
        out[8] = 64;
        out[9] = proto;
        memcpy(out + 12, src, 4);
        memcpy(out + 16, dst, 4);
        put_be16(out + 10, csum_fold(csum_add(0, out, 20)));
        return 20;
    }
    memset(out, 0, 40);
    put_be32(out, 0x60000000u);
    put_be16(out + 4, (uint32_t)len);
    out[6] = proto;
    out[7] = 64;
    memcpy(out + 8, src, 16);
    memcpy(out + 24, dst, 16);
    return 40;
}

/* An Ethernet header for a packet of IP version v; 14 bytes. */
static size_t eth_header(uint8_t *h, int v)
{
    static const uint8_t macs[12] = {2, 0, 0, 0, 0, 0xaa, 2, 0, 0, 0, 0, 0xbb};
    memcpy(h, macs, 12);
    put_be16(h + 12, v == 6 ? ETH_IPV6 : ETH_IPV4);
    return 14;
}

/* The GRE header of t carrying protocol `proto`; returns its length. */
static size_t gre_header(uint8_t *h, const gen_tunnel *t, uint32_t proto, size_t payload)
{
    size_t n = 4;
    unsigned fl = 0;
    if (t->kind == GEN_TUN_PPTP) {
        fl = 0x2000 | 0x1000 | 1; /* key, sequence, version 1 */
        put_be16(h + 4, (uint32_t)payload);
        put_be16(h + 6, t->id & 0xffff); /* the peer's call ID */
        put_be32(h + 8, 7);
        n = 12;
    } else {
        int seq =
            (t->flags & GEN_TUN_SEQ) || t->kind == GEN_TUN_ERSPAN2 || t->kind == GEN_TUN_ERSPAN3;
        if (t->flags & GEN_TUN_CSUM) {
            fl |= 0x8000;
            n += 4; /* checksum left 0: nothing checks it */
        }
        if (t->flags & GEN_TUN_KEY) {
            fl |= 0x2000;
            put_be32(h + n, t->id);
            n += 4;
        }
        if (seq) {
            fl |= 0x1000;
            put_be32(h + n, 1);
            n += 4;
        }
    }
    put_be16(h, fl);
    put_be16(h + 2, proto);
    return n;
}

/* Wraps the packet `in` (len bytes, an IP packet of version v) in t, one
 * layer (t->inner is applied by the caller first); the result, at out, is
 * an IP packet of t->outer_version. Returns its length, 0 on failure. */
static size_t tun_wrap(const gen_tunnel *t, int reverse, const uint8_t *in, size_t len, int v,
                       uint8_t *out, size_t cap)
{
    uint8_t h[96];
    size_t n = 0;
    uint8_t proto = 47;
    uint16_t sport = 0, dport = 0;
    uint32_t id = t->id;
    memset(h, 0, sizeof h);
    switch (t->kind) {
    case GEN_TUN_GRE:
        n = gre_header(h, t, v == 6 ? ETH_IPV6 : ETH_IPV4, len);
        break;
    case GEN_TUN_GRE_TEB:
        n = gre_header(h, t, 0x6558, len);
        n += eth_header(h + n, v);
        break;
    case GEN_TUN_ERSPAN1:
    case GEN_TUN_ERSPAN2:
        n = gre_header(h, t, 0x88be, len);
        if (t->kind == GEN_TUN_ERSPAN2) {
            put_be16(h + n, 0x1000); /* version 1, VLAN 0 */
            put_be16(h + n + 2, id & 0x3ff);
            n += 8;
        }
        n += eth_header(h + n, v);
        break;
    case GEN_TUN_ERSPAN3:
        n = gre_header(h, t, 0x22eb, len);
        put_be16(h + n, 0x2000); /* version 2 */
        put_be16(h + n + 2, id & 0x3ff);
        put_be16(h + n + 10, (t->flags & GEN_TUN_OPTIONS) ? 1 : 0); /* FT 0, O */
        n += (t->flags & GEN_TUN_OPTIONS) ? 20 : 12;
        n += eth_header(h + n, v);
        break;
    case GEN_TUN_PPTP: {
        size_t ppp = (t->flags & GEN_TUN_PFC) ? 3 : 4;
        n = gre_header(h, t, 0x880b, len + ppp);
        h[n] = 0xff;
        h[n + 1] = 0x03;
        if (ppp == 3)
            h[n + 2] = v == 6 ? 0x57 : 0x21;
        else
            put_be16(h + n + 2, v == 6 ? 0x0057 : 0x0021);
        n += ppp;
        break;
    }
    case GEN_TUN_ARUBA: {
        gen_pkt w = gen_pkt_default();
        w.ip_version = 4;
        n = gre_header(h, t, 0x8210, len);
        n += wlan_header(h + n, &w, v == 6 ? ETH_IPV6 : ETH_IPV4);
        break;
    }
    case GEN_TUN_VXLAN:
        proto = 17;
        dport = (t->flags & GEN_TUN_ALT_PORT) ? 8472 : 4789;
        sport = 50000;
        h[8] = 0x08;
        put_be32(h + 12, id << 8);
        n = 16 + eth_header(h + 16, v);
        break;
    case GEN_TUN_GENEVE: {
        int opt = (t->flags & GEN_TUN_OPTIONS) != 0;
        proto = 17;
        dport = 6081;
        sport = 50001;
        h[8] = opt ? 2 : 0; /* option length in 4-byte words */
        put_be16(h + 10, 0x6558);
        put_be32(h + 12, id << 8);
        n = 16;
        if (opt) {
            put_be16(h + n, 0x0102); /* option class */
            h[n + 2] = 0x80;         /* type */
            h[n + 3] = 1;            /* length: 4 bytes */
            n += 8;
        }
        n += eth_header(h + n, v);
        break;
    }
    case GEN_TUN_GTPU: {
        int ext = (t->flags & GEN_TUN_OPTIONS) != 0;
        proto = 17;
        sport = dport = 2152;
        h[8] = ext ? 0x34 : 0x30;
        h[9] = 0xff;
        put_be32(h + 12, reverse ? id + 1 : id);
        n = 16;
        if (ext) {
            h[n + 3] = 0x85; /* next: PDU session container */
            h[n + 4] = 1;    /* 4 bytes */
            h[n + 5] = 0x10;
            h[n + 6] = 0x09; /* QFI */
            h[n + 7] = 0;    /* no next */
            n += 8;
        }
        put_be16(h + 10, (uint32_t)(n - 16 + len));
        break;
    }
    case GEN_TUN_IPIP:
        proto = v == 6 ? 41 : 4;
        break;
    case GEN_TUN_TEREDO:
        proto = 17;
        sport = reverse ? 3544 : 40000;
        dport = reverse ? 40000 : 3544;
        n = 8;
        if (t->flags & GEN_TUN_OPTIONS) { /* origin indication */
            put_be16(h + 10, 0xc000);
            n += 8;
        }
        break;
    default:
        return 0;
    }
    if (proto == 17) {
        /* Both ways to the tunnel's port (Teredo's set by direction above). */
        put_be16(h, sport);
        put_be16(h + 2, dport);
        put_be16(h + 4, (uint32_t)(n + len));
    }
    const uint8_t *src = reverse ? t->outer_dst : t->outer_src;
    const uint8_t *dst = reverse ? t->outer_src : t->outer_dst;
    size_t ip = t->outer_version == 6 ? 40 : 20;
    if (ip + n + len > cap || ip + n + len > 65535)
        return 0;
    memmove(out + ip + n, in, len);
    memcpy(out + ip, h, n);
    outer_ip(out, t->outer_version, src, dst, proto, n + len);
    return ip + n + len;
}

/* p inside the tunnels of link (outermost first in the chain). */
static size_t build_tunneled(const gen_link *link, const gen_pkt *p, uint8_t *buf, size_t cap)
{
    const gen_tunnel *chain[8];
    int depth = 0;
    for (const gen_tunnel *t = link->tunnel; t && depth < 8; t = t->inner)
        chain[depth++] = t;
    uint8_t *pk = malloc(GEN_MAX_FRAME), *tmp = malloc(GEN_MAX_FRAME);
    size_t n = 0, total = 0;
    if (!pk || !tmp)
        goto out;
    gen_link raw = gen_link_of(DISSECT_LINK_RAW);
    n = build_plain(&raw, p, pk, GEN_MAX_FRAME);
    int v = p->ip_version;
    for (int i = depth - 1; i >= 0 && n; i--) {
        if (chain[i]->kind == GEN_TUN_MPLS_PW)
            break; /* outermost, below */
        n = tun_wrap(chain[i], link->tunnel_reverse, pk, n, v, tmp, GEN_MAX_FRAME);
        memcpy(pk, tmp, n);
        v = chain[i]->outer_version;
    }
    if (!n)
        goto out;
    uint8_t lh[64];
    size_t ln;
    memset(lh, 0, sizeof lh);
    if (chain[0]->kind == GEN_TUN_MPLS_PW) {
        if (link->linktype != DISSECT_LINK_ETHERNET)
            goto out;
        ln = 12;
        put_be16(lh + ln, ETH_MPLS);
        put_be32(lh + ln + 2, chain[0]->id << 12 | 1u << 8 | 64);
        ln += 6;
        if (chain[0]->flags & GEN_TUN_CW)
            ln += 4;
        ln += eth_header(lh + ln, v);
    } else {
        gen_pkt op = *p;
        op.ip_version = (uint8_t)v;
        gen_link outer = *link;
        outer.tunnel = NULL;
        ln = link_header(&outer, &op, (uint32_t)n, lh);
    }
    if (ln + n <= cap) {
        memcpy(buf, lh, ln);
        memcpy(buf + ln, pk, n);
        total = ln + n;
    }
out:
    free(pk);
    free(tmp);
    return total;
}

size_t gen_build(const gen_link *link, const gen_pkt *p, uint8_t *buf, size_t cap)
{
    if (link->tunnel)
        return build_tunneled(link, p, buf, cap);
    return build_plain(link, p, buf, cap);
}

size_t gen_build_arp(const uint8_t sender[4], const uint8_t target[4], uint8_t *buf)
{
    uint8_t ip[16] = {0};
    memset(buf, 0, 42);
    memset(buf, 0xff, 6); /* broadcast */
    memcpy(ip, sender, 4);
    mac_of(buf + 6, 4, ip);
    put_be16(buf + 12, ETH_ARP);
    put_be16(buf + 14, 1);        /* hardware: Ethernet */
    put_be16(buf + 16, ETH_IPV4); /* protocol */
    buf[18] = 6;
    buf[19] = 4;
    put_be16(buf + 20, 1); /* request */
    memcpy(buf + 22, buf + 6, 6);
    memcpy(buf + 28, sender, 4);
    memcpy(buf + 38, target, 4); /* target MAC stays zero */
    return 42;
}

/* ---------------------------------------------------------- conversations */

uint64_t gen_rand(uint64_t *state)
{
    uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

uint32_t gen_rand_range(uint64_t *state, uint32_t lo, uint32_t hi)
{
    uint64_t span = (uint64_t)hi - lo + 1;
    return lo + (uint32_t)(gen_rand(state) % span);
}

int gen_conv_init_bin(gen_conv *c, gen_file *f, int ip_version, const uint8_t client[16],
                      uint16_t client_port, const uint8_t server[16], uint16_t server_port,
                      uint64_t t0_ns)
{
    memset(c, 0, sizeof *c);
    if (f == NULL || (ip_version != 4 && ip_version != 6)) {
        return -1;
    }
    c->file = f;
    c->link[0] = c->link[1] = gen_link_of(gen_linktype(f, 0));
    c->ip_version = (uint8_t)ip_version;
    memcpy(c->addr[GEN_C2S], client, 16);
    memcpy(c->addr[GEN_S2C], server, 16);
    c->port[GEN_C2S] = client_port;
    c->port[GEN_S2C] = server_port;

    /* Everything "random" about a connection comes from its 4-tuple. */
    uint64_t h = (uint64_t)client_port << 16 | server_port;
    for (int i = 0; i < 16; i++) {
        h = h * 1099511628211u ^ client[i];
        h = h * 1099511628211u ^ server[i];
    }
    gen_conv_isn(c, (uint32_t)gen_rand(&h), (uint32_t)gen_rand(&h));
    for (int d = 0; d < 2; d++) {
        c->ttl[d] = 64;
        c->ip_id[d] = (uint16_t)gen_rand(&h);
        c->ts_base[d] = (uint32_t)gen_rand(&h);
    }
    c->options = 1;
    c->wscale = 7;
    c->mss = ip_version == 4 ? 1460 : 1440;
    c->syn_window[GEN_C2S] = ip_version == 4 ? 64240 : 64800;
    c->syn_window[GEN_S2C] = ip_version == 4 ? 65160 : 64800;
    c->window[GEN_C2S] = 502; /* x 128 */
    c->window[GEN_S2C] = 509;
    c->outgoing[GEN_S2C] = 1;
    c->now_ns = t0_ns;
    return 0;
}

int gen_conv_init(gen_conv *c, gen_file *f, const char *client, uint16_t client_port,
                  const char *server, uint16_t server_port, uint64_t t0_ns)
{
    uint8_t a[16], b[16];
    int va = gen_parse_ip(client, a);
    int vb = gen_parse_ip(server, b);
    if (va == 0 || va != vb) {
        memset(c, 0, sizeof *c);
        return -1;
    }
    return gen_conv_init_bin(c, f, va, a, client_port, b, server_port, t0_ns);
}

void gen_conv_isn(gen_conv *c, uint32_t client_isn, uint32_t server_isn)
{
    c->isn[GEN_C2S] = c->nxt[GEN_C2S] = client_isn;
    c->isn[GEN_S2C] = c->nxt[GEN_S2C] = server_isn;
}

int gen_send(gen_conv *c, gen_dir d, uint16_t flags, uint32_t payload_len, uint64_t dt_ns)
{
    return gen_send_ex(c, d, flags, payload_len, dt_ns, NULL);
}

int gen_send_ex(gen_conv *c, gen_dir d, uint16_t flags, uint32_t payload_len, uint64_t dt_ns,
                const gen_override *ov)
{
    static const gen_override none = {0};
    if (ov == NULL) {
        ov = &none;
    }
    if (c->file == NULL || (d != GEN_C2S && d != GEN_S2C)) {
        return -1;
    }
    gen_dir peer = d == GEN_C2S ? GEN_S2C : GEN_C2S;
    c->now_ns += dt_ns;

    gen_pkt p = gen_pkt_default();
    p.ip_version = c->ip_version;
    memcpy(p.src, c->addr[d], 16);
    memcpy(p.dst, c->addr[peer], 16);
    p.ttl = (ov->set & GEN_OV_TTL) ? ov->ttl : c->ttl[d];
    p.ip_id = c->ip_id[d]++;
    p.flow_label = ((uint32_t)c->port[d] * 2654435761u ^ c->port[peer]) & 0xfffff;
    p.outgoing = c->outgoing[d];
    p.sport = c->port[d];
    p.dport = c->port[peer];
    p.seq = (ov->set & GEN_OV_SEQ) ? ov->seq : c->nxt[d];
    if (ov->set & GEN_OV_ACK) {
        p.ack = ov->ack;
    } else {
        p.ack = (flags & DISSECT_ACK) ? c->nxt[peer] : 0;
    }
    p.flags = flags;
    if (ov->set & GEN_OV_WINDOW) {
        p.window = ov->window;
    } else {
        p.window = (flags & DISSECT_SYN) ? c->syn_window[d] : c->window[d];
    }
    if (flags & DISSECT_RST) {
        p.window = 0; /* as Linux sends them */
    }
    if (c->options && !(flags & DISSECT_RST)) {
        if (flags & DISSECT_SYN) {
            p.mss = c->mss;
            p.sack_perm = 1;
            p.wscale = c->wscale;
        }
        p.timestamps = 1;
        p.ts_val = c->ts_base[d] + (uint32_t)(c->now_ns / GEN_NS_PER_MS);
        p.ts_ecr = (flags & DISSECT_ACK) ? c->ts_recent[d] : 0;
        c->ts_recent[peer] = p.ts_val;
    }
    p.payload_len = payload_len;
    if ((ov->set & GEN_OV_SACK) && !(flags & DISSECT_RST)) {
        p.sack_blocks = ov->sack_blocks;
        memcpy(p.sack, ov->sack, sizeof p.sack);
    }

    if (!(flags & DISSECT_RST)) {
        uint32_t end = p.seq + payload_len + !!(flags & DISSECT_SYN) + !!(flags & DISSECT_FIN);
        if (!(ov->set & GEN_OV_SEQ) || (int32_t)(end - c->nxt[d]) > 0) {
            c->nxt[d] = end;
        }
    }

    size_t len = gen_build(&c->link[d], &p, c->file->scratch, GEN_MAX_FRAME);
    if (len == 0) {
        c->file->failed = 1;
        return -1;
    }
    if (c->packets[0] + c->packets[1] == 0) {
        c->first_ns = c->now_ns;
    }
    c->packets[d]++;
    c->bytes[d] += payload_len;
    return gen_write(c->file, c->iface[d], c->now_ns, c->file->scratch, (uint32_t)len,
                     (uint32_t)len);
}

/* ---------------------------------------------------------- random traffic */

enum {
    FIN_ = DISSECT_FIN,
    SYN_ = DISSECT_SYN,
    RST_ = DISSECT_RST,
    PSH_ = DISSECT_PSH,
    ACK_ = DISSECT_ACK
};

/* Per-run state of gen_random_traffic. */
typedef struct rnd {
    uint64_t s;
    gen_conv *c;
    uint64_t rtt;   /* round trip between the capture point (at the server) and the client */
    uint64_t think; /* server's reaction time */
} rnd;

static uint64_t r_ns(rnd *r, uint64_t lo, uint64_t hi)
{
    return lo + gen_rand(&r->s) % (hi - lo + 1);
}

static int r_pct(rnd *r, uint32_t pct)
{
    return gen_rand_range(&r->s, 0, 99) < pct;
}

/* Delay before side `d` reacts to the other's last packet. */
static uint64_t r_react(rnd *r, gen_dir d)
{
    return d == GEN_C2S ? r->rtt + r_ns(r, 0, r->rtt / 8) : r->think + r_ns(r, 0, r->think);
}

static void r_send(rnd *r, gen_dir d, uint16_t flags, uint32_t len, uint64_t dt)
{
    gen_send(r->c, d, flags, len, dt);
}

/* One data segment from `d`, maybe retransmitted, then acked by the peer. */
static void r_segment(rnd *r, gen_dir d, uint32_t len)
{
    gen_dir peer = d == GEN_C2S ? GEN_S2C : GEN_C2S;
    uint32_t seq = r->c->nxt[d];
    r_send(r, d, PSH_ | ACK_, len, r_ns(r, 20000, 400000));
    if (r_pct(r, 6)) {
        gen_override ov = {.set = GEN_OV_SEQ, .seq = seq};
        gen_send_ex(r->c, d, PSH_ | ACK_, len, r_ns(r, 200, 600) * GEN_NS_PER_MS, &ov);
    }
    r_send(r, peer, ACK_, 0, r_react(r, peer));
}

static void r_data(rnd *r, int rounds)
{
    for (int i = 0; i < rounds; i++) {
        r_segment(r, GEN_C2S, gen_rand_range(&r->s, 1, 1400));
        int n = (int)gen_rand_range(&r->s, 1, 3);
        for (int k = 0; k < n; k++) {
            r_segment(r, GEN_S2C, gen_rand_range(&r->s, 1, 1448));
        }
    }
}

/* Opening. Returns the SPEC handshake name; `*open` tells whether the
 * connection got established (data and a close may follow). */
static const char *r_open(rnd *r, int reuse, int *open, uint32_t *syn_rtx, int *reset)
{
    uint32_t pick = gen_rand_range(&r->s, 0, 99);
    *open = 0;
    *syn_rtx = 0;
    *reset = 0;
    if (!reuse && pick < 12) {
        gen_dir first = r_pct(r, 50) ? GEN_C2S : GEN_S2C;
        r_segment(r, first, gen_rand_range(&r->s, 1, 1400));
        *open = 1;
        return "midstream";
    }
    uint32_t isn = r->c->isn[GEN_C2S];
    r_send(r, GEN_C2S, SYN_, 0, 0);
    if (r_pct(r, 12)) {
        int n = (int)gen_rand_range(&r->s, 1, 2);
        for (int i = 0; i < n; i++) {
            gen_override ov = {.set = GEN_OV_SEQ, .seq = isn};
            gen_send_ex(r->c, GEN_C2S, SYN_, 0, (uint64_t)(1 + i) * GEN_NS_PER_SEC, &ov);
        }
        *syn_rtx = (uint32_t)n;
    }
    if (pick < 18) {
        return "syn_only";
    }
    if (pick < 25) {
        gen_override ov = {.set = GEN_OV_SEQ, .seq = 0};
        gen_send_ex(r->c, GEN_S2C, RST_ | ACK_, 0, r_ns(r, 20000, 200000), &ov);
        *reset = 1;
        return "refused";
    }
    r_send(r, GEN_S2C, SYN_ | ACK_, 0, r->think);
    if (pick < 30) {
        if (r_pct(r, 50)) {
            gen_override ov = {.set = GEN_OV_SEQ, .seq = r->c->isn[GEN_S2C]};
            gen_send_ex(r->c, GEN_S2C, SYN_ | ACK_, 0, GEN_NS_PER_SEC, &ov);
        }
        return "no_ack";
    }
    r_send(r, GEN_C2S, ACK_, 0, r->rtt);
    *open = 1;
    return "complete";
}

/* Close of an established connection; fills the truth's close columns and
 * returns 1 when the instance ended (the 4-tuple may be reused). */
static int r_close(rnd *r, gen_truth *t)
{
    static const char *const side[2] = {"client", "server"};
    uint32_t pick = gen_rand_range(&r->s, 0, 99);
    gen_dir x = r_pct(r, 50) ? GEN_C2S : GEN_S2C; /* the active closer */
    gen_dir y = x == GEN_C2S ? GEN_S2C : GEN_C2S;
    gen_conv *c = r->c;

    if (pick < 18) {
        return 0; /* still open at the end of the capture */
    }
    if (pick < 32) { /* RST from x */
        r_send(r, x, RST_ | ACK_, 0, r_ns(r, 1, 500) * GEN_NS_PER_MS);
        t->close_initiator = side[x];
        t->close_type = "rst";
        return 1;
    }
    t->close_type = "fin";
    if (pick < 40) { /* crossed FINs: each FIN leaves before the other arrives */
        uint32_t xfin = c->nxt[x];
        r_send(r, x, FIN_ | ACK_, 0, r_ns(r, 1, 500) * GEN_NS_PER_MS);
        gen_override ov = {.set = GEN_OV_ACK, .ack = xfin};
        gen_send_ex(c, y, FIN_ | ACK_, 0, r_ns(r, 10000, 900000), &ov);
        if (r_pct(r, 60)) { /* Linux: pure ACKs */
            r_send(r, x, ACK_, 0, r_react(r, x));
            r_send(r, y, ACK_, 0, r_ns(r, 10000, 900000));
        } else { /* BSD: FIN+ACK straight back, then ACKs */
            gen_override re = {.set = GEN_OV_SEQ, .seq = xfin};
            gen_send_ex(c, x, FIN_ | ACK_, 0, r_react(r, x), &re);
            r_send(r, y, ACK_, 0, r_react(r, y));
            r_send(r, x, ACK_, 0, r_react(r, x));
        }
        t->close_initiator = "both";
        t->closing = 2;
        t->time_wait_side = "both";
        return 1;
    }
    t->close_initiator = side[x];
    t->time_wait_side = side[x];
    uint32_t xfin = c->nxt[x];
    r_send(r, x, FIN_ | ACK_, 0, r_ns(r, 1, 500) * GEN_NS_PER_MS);
    if (r_pct(r, 5)) { /* x's FIN retransmitted before y acks it */
        gen_override ov = {.set = GEN_OV_SEQ, .seq = xfin};
        gen_send_ex(c, x, FIN_ | ACK_, 0, r_ns(r, 200, 400) * GEN_NS_PER_MS, &ov);
    }
    if (pick < 55) { /* three-way: FIN, FIN+ACK, ACK */
        r_send(r, y, FIN_ | ACK_, 0, r_react(r, y));
    } else {
        r_send(r, y, ACK_, 0, r_react(r, y));
        if (pick < 67) { /* half close: y keeps sending */
            int n = (int)gen_rand_range(&r->s, 1, 3);
            for (int i = 0; i < n; i++) {
                r_segment(r, y, gen_rand_range(&r->s, 1, 1400));
            }
        }
        r_send(r, y, FIN_ | ACK_, 0, r_ns(r, 50000, 5000000));
    }
    r_send(r, x, ACK_, 0, r_react(r, x));
    return 1;
}

typedef struct rinst {
    gen_truth t;
    size_t index;   /* creation order */
    int reusable;   /* closed or reset, its 4-tuple not reused yet */
    uint32_t isn_c; /* client ISN of the last SYN, which a reuse must differ from */
    uint8_t ttl_c;  /* the client's TTL, which a reuse keeps */
} rinst;

static int rinst_cmp(const void *a, const void *b)
{
    const rinst *x = a;
    const rinst *y = b;
    if (x->t.first_ns != y->t.first_ns) {
        return x->t.first_ns < y->t.first_ns ? -1 : 1;
    }
    return x->index < y->index ? -1 : x->index > y->index;
}

int gen_random_traffic(gen_file *f, uint64_t seed, int nconv, gen_truth *truth)
{
    static const uint16_t server_ports[] = {80, 443, 22, 25, 993, 8080};
    if (f == NULL || nconv < 0) {
        return -1;
    }
    rinst *all = calloc((size_t)nconv + 1, sizeof *all);
    if (all == NULL) {
        f->failed = 1;
        return -1;
    }
    rnd r = {.s = seed ^ UINT64_C(0x73796e66696e), .c = NULL, .rtt = 0, .think = 0};
    uint64_t start = GEN_T0_NS;
    uint32_t nclients = (uint32_t)nconv / 4 + 2;
    uint32_t fresh = 0; /* instances on a new 4-tuple: their client port */
    uint32_t lt = gen_linktype(f, 0);
    int only_version = lt == DISSECT_LINK_IPV4 ? 4 : lt == DISSECT_LINK_IPV6 ? 6 : 0;
    int rc = 0;

    for (int i = 0; i < nconv && rc == 0; i++) {
        rinst *in = &all[i];
        gen_conv c;
        start += r_ns(&r, 0, 40 * GEN_NS_PER_MS);

        /* A reuse picks a random earlier instance that ended; the new SYN
         * comes 0.5 to 8 s after its last packet. */
        rinst *prev = NULL;
        if (i > 0 && r_pct(&r, 10)) {
            uint32_t k = gen_rand_range(&r.s, 0, (uint32_t)i - 1);
            for (uint32_t tries = 0; tries < (uint32_t)i; tries++) {
                rinst *cand = &all[(k + tries) % (uint32_t)i];
                if (cand->reusable) {
                    prev = cand;
                    break;
                }
            }
        }
        uint64_t t0 = start;
        if (prev != NULL) {
            prev->reusable = 0;
            t0 = prev->t.last_ns + r_ns(&r, 500, 8000) * GEN_NS_PER_MS;
            rc = gen_conv_init_bin(&c, f, prev->t.ip_version, prev->t.client, prev->t.client_port,
                                   prev->t.server, prev->t.server_port, t0);
            uint32_t isn = (uint32_t)gen_rand(&r.s);
            if (isn == prev->isn_c) {
                isn++;
            }
            gen_conv_isn(&c, isn, (uint32_t)gen_rand(&r.s));
        } else {
            uint8_t cl[16] = {0}, sv[16] = {0};
            int v6 = r_pct(&r, 20);
            if (only_version != 0) {
                v6 = only_version == 6;
            }
            uint32_t host = gen_rand_range(&r.s, 0, nclients - 1);
            uint32_t epoch = fresh / 28232; /* port range used up: next /16 */
            uint16_t cport = (uint16_t)(32768 + (fresh * 7919u) % 28232);
            uint32_t srv = gen_rand_range(&r.s, 1, 4);
            fresh++;
            if (v6) {
                static const uint8_t pfx[6] = {0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00};
                memcpy(cl, pfx, 6);
                memcpy(sv, pfx, 6);
                cl[5] = (uint8_t)(1 + epoch);
                put_be32(cl + 12, 0x100 + host);
                sv[5] = 0xff;
                sv[15] = (uint8_t)srv;
            } else {
                cl[0] = 10;
                cl[1] = (uint8_t)(1 + epoch);
                put_be16(cl + 2, 1 + host % 65000);
                sv[0] = 10;
                sv[1] = 0;
                sv[2] = 0;
                sv[3] = (uint8_t)(100 + srv);
            }
            uint16_t sport = server_ports[gen_rand_range(&r.s, 0, 5)];
            rc = gen_conv_init_bin(&c, f, v6 ? 6 : 4, cl, cport, sv, sport, t0);
        }
        if (rc != 0) {
            break;
        }
        c.options = (uint8_t)r_pct(&r, 80);
        if (!c.options) {
            c.window[GEN_C2S] = 64240;
            c.window[GEN_S2C] = 65160;
        }
        uint8_t ttl = (uint8_t)(r_pct(&r, 70) ? 64 - gen_rand_range(&r.s, 1, 20)
                                              : 128 - gen_rand_range(&r.s, 1, 20));
        c.ttl[GEN_C2S] = prev != NULL ? prev->ttl_c : ttl; /* the same client host */
        c.ttl[GEN_S2C] = 64;
        r.c = &c;
        r.rtt = r_ns(&r, 2, 80) * GEN_NS_PER_MS + r_ns(&r, 0, 999999);
        r.think = r_ns(&r, 30000, 3000000);

        gen_truth *t = &in->t;
        t->ip_version = c.ip_version;
        memcpy(t->client, c.addr[GEN_C2S], 16);
        memcpy(t->server, c.addr[GEN_S2C], 16);
        t->client_port = c.port[GEN_C2S];
        t->server_port = c.port[GEN_S2C];
        t->close_initiator = "none";
        t->close_type = "none";
        t->time_wait_side = "none";
        t->reuses_previous = prev != NULL;
        in->index = (size_t)i;
        in->isn_c = c.isn[GEN_C2S];
        in->ttl_c = c.ttl[GEN_C2S];

        int open, reset;
        t->handshake = r_open(&r, prev != NULL, &open, &t->syn_retransmits, &reset);
        if (reset) {
            t->close_initiator = "server";
            t->close_type = "rst";
            in->reusable = 1;
        }
        if (open) {
            r_data(&r, (int)gen_rand_range(&r.s, 0, 3));
            in->reusable = r_close(&r, t);
        }
        t->first_ns = c.first_ns;
        t->last_ns = c.now_ns;
        t->packets_c2s = c.packets[GEN_C2S];
        t->packets_s2c = c.packets[GEN_S2C];
        t->bytes_c2s = c.bytes[GEN_C2S];
        t->bytes_s2c = c.bytes[GEN_S2C];
        if (f->failed) {
            rc = -1;
        }
    }
    if (rc == 0 && truth != NULL) {
        qsort(all, (size_t)nconv, sizeof *all, rinst_cmp);
        for (int i = 0; i < nconv; i++) {
            truth[i] = all[i].t;
        }
    }
    free(all);
    if (rc != 0) {
        f->failed = 1;
    }
    return rc;
}
