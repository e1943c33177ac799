/*
 * dissect: one captured packet -> one TCP segment, or the reason why not.
 *
 * Every byte of the packet is read through the bounds-checked cursor in
 * cursor.h (tcpdump's GET_ macros are the model); nothing here dereferences
 * a raw packet pointer. The payload length comes from the IP header, never
 * from the captured length: header-only captures (snaplen 96) are the norm.
 *
 * Pure parsing: no allocation, no I/O, no global state; thread-safe.
 */
#ifndef SYNFIN_DISSECT_H
#define SYNFIN_DISSECT_H

#include <stdint.h>

/* Link types, by their LINKTYPE_ number (pcap file header / pcapng IDB).
 * libpcap hands DLT_ values to its callers; on Linux they equal these
 * except raw IP, which libpcap reports as DLT_RAW = 12 (and OpenBSD as 14):
 * all three raw numbers are accepted. */
enum {
    DISSECT_LINK_NULL = 0,       /* BSD loopback, AF in host byte order */
    DISSECT_LINK_ETHERNET = 1,   /* 802.3 / Ethernet II, 802.1Q, QinQ */
    DISSECT_LINK_RAW_DLT = 12,   /* DLT_RAW as libpcap reports it on Linux */
    DISSECT_LINK_RAW_DLT14 = 14, /* DLT_RAW on OpenBSD */
    DISSECT_LINK_RAW = 101,      /* LINKTYPE_RAW: IPv4 or IPv6 by version */
    DISSECT_LINK_LOOP = 108,     /* OpenBSD loopback, AF in network order */
    DISSECT_LINK_LINUX_SLL = 113,
    DISSECT_LINK_IPV4 = 228,
    DISSECT_LINK_IPV6 = 229,
    DISSECT_LINK_LINUX_SLL2 = 276,
};

/* Why a packet is not a usable TCP segment. The caller counts each. */
typedef enum dissect_result {
    DISSECT_OK = 0,
    DISSECT_UNSUPPORTED_LINK, /* link type synfin does not dissect */
    DISSECT_NOT_IP,           /* link payload is not IPv4/IPv6 (ARP, LLDP, ...) */
    DISSECT_NOT_TCP,          /* IP, but another transport (UDP, ICMP, ...) */
    DISSECT_FRAGMENT,         /* non-first fragment, or first without a whole TCP header */
    DISSECT_TRUNCATED,        /* captured bytes end before the end of the TCP header */
    DISSECT_MALFORMED,        /* impossible lengths, bad IP version, TCP offset < 5 */
    DISSECT_RESULT_COUNT
} dissect_result;

/* Short, stable names ("unsupported_link", "not_ip", "not_tcp",
 * "fragment", "truncated", "malformed"; "ok") for counters and messages. */
const char *dissect_result_name(dissect_result r);

/* TCP flags, as in the header (the AE/NS bit is bit 8). */
enum {
    DISSECT_FIN = 0x01,
    DISSECT_SYN = 0x02,
    DISSECT_RST = 0x04,
    DISSECT_PSH = 0x08,
    DISSECT_ACK = 0x10,
    DISSECT_URG = 0x20,
    DISSECT_ECE = 0x40,
    DISSECT_CWR = 0x80,
    DISSECT_AE = 0x100,
};

/* Which TCP options were found (bits of dissect_segment.opts). */
enum {
    DISSECT_OPT_MSS = 0x01,
    DISSECT_OPT_WSCALE = 0x02,
    DISSECT_OPT_SACK_PERM = 0x04,
    DISSECT_OPT_TIMESTAMP = 0x08,
    /* Options area damaged (bad length, cut by snaplen): the options parsed
     * before the damage are kept, the segment itself is still used. */
    DISSECT_OPT_MALFORMED = 0x80,
};

typedef struct dissect_segment {
    uint8_t src[16]; /* IPv4: first 4 bytes, the rest zero */
    uint8_t dst[16];
    uint8_t ip_version; /* 4 or 6 */
    uint8_t ttl;        /* TTL, or IPv6 hop limit */
    uint16_t ip_id;     /* IPv4 identification; 0 for IPv6 */
    uint16_t sport;
    uint16_t dport;
    uint32_t seq;
    uint32_t ack;
    uint16_t flags;       /* DISSECT_FIN ... DISSECT_AE */
    uint16_t window;      /* as sent, unscaled */
    uint32_t payload_len; /* TCP payload bytes, from the IP length */
    uint8_t opts;         /* DISSECT_OPT_* */
    uint8_t wscale;       /* valid with DISSECT_OPT_WSCALE */
    uint16_t mss;         /* valid with DISSECT_OPT_MSS */
    uint32_t ts_val;      /* valid with DISSECT_OPT_TIMESTAMP */
    uint32_t ts_ecr;
    /* A digest of the captured TCP options and payload bytes: segments with
     * equal headers but other SACK blocks or other data differ here. */
    uint32_t content;
} dissect_segment;

/*
 * Dissects one packet of link type `linktype`.
 * `caplen` bytes at `data` were captured of a packet `wirelen` bytes long
 * (wirelen >= caplen; it is used only where the IP header gives no length,
 * as with IPv4 TSO/BIG TCP packets whose total length field is 0).
 * On DISSECT_OK, *seg is filled; otherwise *seg is unspecified.
 */
dissect_result dissect_packet(uint32_t linktype, const uint8_t *data, uint32_t caplen,
                              uint32_t wirelen, dissect_segment *seg);

/* 1 when the link type is one dissect_packet understands. */
int dissect_link_supported(uint32_t linktype);

#endif
