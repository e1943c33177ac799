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
    DISSECT_LINK_PPP = 9,        /* PPP, address and control optional */
    DISSECT_LINK_FDDI = 10,      /* FDDI with LLC/SNAP */
    DISSECT_LINK_RAW_DLT = 12,   /* DLT_RAW as libpcap reports it on Linux */
    DISSECT_LINK_RAW_DLT14 = 14, /* DLT_RAW on OpenBSD */
    DISSECT_LINK_PPP_HDLC = 50,  /* PPP in HDLC-like framing */
    DISSECT_LINK_RAW = 101,      /* LINKTYPE_RAW: IPv4 or IPv6 by version */
    DISSECT_LINK_C_HDLC = 104,   /* Cisco HDLC: address, control, EtherType */
    DISSECT_LINK_IEEE802_11 = 105,
    DISSECT_LINK_LOOP = 108, /* OpenBSD loopback, AF in network order */
    DISSECT_LINK_LINUX_SLL = 113,
    DISSECT_LINK_RADIOTAP = 127,      /* 802.11 behind a radiotap header */
    DISSECT_LINK_JUNIPER_ETHER = 178, /* Juniper's header (its length given), then Ethernet */
    DISSECT_LINK_IPV4 = 228,
    DISSECT_LINK_IPV6 = 229,
    DISSECT_LINK_NFLOG = 239, /* Linux NFLOG: TLVs, the payload one is IP */
    DISSECT_LINK_IPOIB = 242, /* IP over InfiniBand: addresses, EtherType, reserved */
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

/*
 * Encapsulations a packet can pass through on its way to TCP: headers
 * between the link layer and IP (not tunnels: the same connection with or
 * without them), and tunnels (the inner TCP connection is the row, and
 * the tunnel is part of its identity; see dissect_tunnel). Bits of
 * dissect_segment.encaps; names by dissect_encap_name().
 */
typedef enum dissect_encap {
    /* headers */
    DISSECT_ENC_VLAN = 0, /* 802.1Q, 802.1ad, QinQ tags */
    DISSECT_ENC_PPPOE,
    DISSECT_ENC_PBB,        /* 802.1ah I-tag (0x88e7) */
    DISSECT_ENC_VNTAG,      /* 0x8926 */
    DISSECT_ENC_ETAG,       /* 802.1BR (0x893f) */
    DISSECT_ENC_FABRICPATH, /* Cisco FabricPath (0x8903) */
    DISSECT_ENC_LLC,        /* 802.2 LLC/SNAP */
    DISSECT_ENC_PPP,        /* PPP inside a tunnel (PPTP) */
    DISSECT_ENC_WLAN,       /* an 802.11 data frame inside a tunnel (Aruba) */
    /* tunnels */
    DISSECT_ENC_MPLS, /* also a header when tunnels are not decoded */
    DISSECT_ENC_GRE,
    DISSECT_ENC_ERSPAN1,
    DISSECT_ENC_ERSPAN2,
    DISSECT_ENC_ERSPAN3,
    DISSECT_ENC_PPTP,  /* enhanced GRE (version 1) carrying PPP */
    DISSECT_ENC_ARUBA, /* Aruba's GRE carrying 802.11 frames */
    DISSECT_ENC_VXLAN,
    DISSECT_ENC_GENEVE,
    DISSECT_ENC_GTP, /* GTP-U */
    DISSECT_ENC_4IN4,
    DISSECT_ENC_6IN4,
    DISSECT_ENC_4IN6,
    DISSECT_ENC_6IN6,
    DISSECT_ENC_TEREDO,
    DISSECT_ENC_COUNT
} dissect_encap;

/* "vlan", "pppoe", ..., "gre", "vxlan", "gtp", "4in6", ... */
const char *dissect_encap_name(dissect_encap e);

/* Tunnels inside tunnels: at most this many (a deeper packet is counted
 * as not_tcp), so a crafted packet costs bounded work. */
#define DISSECT_MAX_TUNNELS 4

/* One tunnel a segment came through, outermost first. */
typedef struct dissect_tunnel_layer {
    uint8_t kind;          /* DISSECT_ENC_MPLS ... DISSECT_ENC_TEREDO */
    uint8_t has_id;        /* id is one both directions carry (VXLAN VNI, GRE key, session) */
    uint8_t outer_version; /* 4 or 6: the IP header that carried it; 0: a link layer */
    uint32_t id;
    uint8_t outer_src[16], outer_dst[16]; /* with outer_version; IPv4: first 4 bytes */
} dissect_tunnel_layer;

typedef struct dissect_tunnel {
    uint8_t depth; /* layers used */
    dissect_tunnel_layer layer[DISSECT_MAX_TUNNELS];
} dissect_tunnel;

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
    /* Bits (1u << DISSECT_ENC_*) of every encapsulation passed through.
     * Set whatever the result, for the accounting (--stats). */
    uint32_t encaps;
    /* The tunnels the segment came through (dissect_packet_ex's `tun`), or
     * NULL when none (or tunnels were not asked for). */
    const dissect_tunnel *tunnel;
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

/*
 * The same, and tunnels too when `tun` is not NULL: GRE (with its keys,
 * sequence numbers, Ethernet bridging, ERSPAN I-III, PPTP, Aruba),
 * VXLAN (UDP 4789, 8472), Geneve (6081), GTP-U (2152), IP in IP (4in4,
 * 6in4, 4in6, 6in6), Teredo (3544), MPLS (pseudowires with and without the
 * control word), nested up to DISSECT_MAX_TUNNELS. The segment is then the
 * innermost TCP segment, and on DISSECT_OK seg->tunnel points to *tun when
 * it came through any. dissect_packet is this with tun NULL: MPLS carrying
 * IP is still decoded (as a header), UDP and GRE are not_tcp.
 */
dissect_result dissect_packet_ex(uint32_t linktype, const uint8_t *data, uint32_t caplen,
                                 uint32_t wirelen, dissect_segment *seg, dissect_tunnel *tun);

/* 1 when the link type is one dissect_packet understands. */
int dissect_link_supported(uint32_t linktype);

#endif
