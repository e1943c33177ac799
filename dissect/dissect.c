/*
 * dissect: one captured packet -> one TCP segment, or the reason why not.
 *
 * One function per layer, outermost first: a link-layer function
 * (dissect_ethernet, dissect_sll, ...) moves the cursor to the IP header and
 * says which IP version to expect; dissect_ipv4 / dissect_ipv6 move it to
 * the TCP header and work out how many bytes the IP header says follow;
 * dissect_tcp fills the segment. Each returns a dissect_result, so the first
 * layer that gives up names the reason.
 *
 * Two lengths travel side by side and are never confused:
 *  - the cursor's len, the bytes actually captured (caplen, often 96):
 *    running out of it is DISSECT_TRUNCATED;
 *  - the IP length, what the IP header claims follows it: payload_len is
 *    computed from it alone, and a header that claims more than its IP
 *    length allows is DISSECT_MALFORMED (DISSECT_FRAGMENT in a first
 *    fragment).
 * wirelen is consulted only when the IP header gives no length (IPv4 total
 * length 0 or IPv6 payload length 0 without a Jumbo option: TSO / BIG TCP).
 *
 * All packet bytes are read through cursor.h. No allocation, no globals.
 */
#include <stddef.h>
#include <string.h>

#include "dissect_int.h"

enum {
    IPV4_HDR_LEN = 20,
    IPV4_OFFMASK = 0x1fff,
    IPV4_MF = 0x2000,
    IPV6_HDR_LEN = 40,
    IPV6_FRAG_HDR_LEN = 8,
    IPV6_FRAG_OFFMASK = 0xfff8,
    IPV6_FRAG_MF = 0x0001,
    IPV6_OPT_PAD1 = 0x00,
    IPV6_OPT_JUMBO = 0xc2,
    IPV6_OPT_JUMBO_LEN = 4,

    PROTO_HOPOPTS = 0,
    PROTO_IPIP = 4,
    PROTO_TCP = 6,
    PROTO_UDP = 17,
    PROTO_IPV6 = 41,
    PROTO_GRE = 47,
    PROTO_ROUTING = 43,
    PROTO_FRAGMENT = 44,
    PROTO_AH = 51,
    PROTO_DSTOPTS = 60,

    TCP_HDR_LEN = 20,
    TCPOPT_EOL = 0,
    TCPOPT_NOP = 1,
    TCPOPT_MSS = 2,
    TCPOPT_MSS_LEN = 4,
    TCPOPT_WSCALE = 3,
    TCPOPT_WSCALE_LEN = 3,
    TCPOPT_SACK_PERM = 4,
    TCPOPT_SACK_PERM_LEN = 2,
    TCPOPT_TIMESTAMP = 8,
    TCPOPT_TIMESTAMP_LEN = 10,
};

/* ---- TCP ---------------------------------------------------------------- */

/*
 * Parses the options area. opt holds the captured part of it, declared_len
 * is the size the data offset claims. Damage stops the walk and sets
 * DISSECT_OPT_MALFORMED; what was parsed before it stays.
 */
static void tcp_options(const cursor *opt, size_t declared_len, dissect_segment *seg)
{
    size_t i = 0;

    while (i < opt->len) {
        uint8_t kind = 0, len = 0;

        (void)cursor_get_u8(opt, i, &kind); /* i < len: cannot fail */
        if (kind == TCPOPT_EOL)
            return; /* the rest is padding, captured or not */
        if (kind == TCPOPT_NOP) {
            i++;
            continue;
        }
        /* A length byte that is missing, < 2, or reaches past what was
         * captured of the area (which never exceeds the declared area). */
        if (!cursor_get_u8(opt, i + 1, &len) || len < 2 || len > opt->len - i) {
            seg->opts |= DISSECT_OPT_MALFORMED;
            return;
        }
        switch (kind) {
        case TCPOPT_MSS:
            if (len == TCPOPT_MSS_LEN && cursor_get_be16(opt, i + 2, &seg->mss))
                seg->opts |= DISSECT_OPT_MSS;
            else
                seg->opts |= DISSECT_OPT_MALFORMED;
            break;
        case TCPOPT_WSCALE:
            if (len == TCPOPT_WSCALE_LEN && cursor_get_u8(opt, i + 2, &seg->wscale))
                seg->opts |= DISSECT_OPT_WSCALE;
            else
                seg->opts |= DISSECT_OPT_MALFORMED;
            break;
        case TCPOPT_SACK_PERM:
            if (len == TCPOPT_SACK_PERM_LEN)
                seg->opts |= DISSECT_OPT_SACK_PERM;
            else
                seg->opts |= DISSECT_OPT_MALFORMED;
            break;
        case TCPOPT_TIMESTAMP:
            if (len == TCPOPT_TIMESTAMP_LEN && cursor_get_be32(opt, i + 2, &seg->ts_val) &&
                cursor_get_be32(opt, i + 6, &seg->ts_ecr))
                seg->opts |= DISSECT_OPT_TIMESTAMP;
            else
                seg->opts |= DISSECT_OPT_MALFORMED;
            break;
        default:
            break; /* SACK blocks, MD5, TFO, MPTCP, ...: skipped by length */
        }
        i += len;
    }
    /* Ran off the captured bytes without an EOL: snaplen cut the area. */
    if (opt->len < declared_len)
        seg->opts |= DISSECT_OPT_MALFORMED;
}

/*
 * c starts at the TCP header; ip_len is what the IP layer says follows it
 * (TCP header plus payload). In a first fragment an IP length too short for
 * the TCP header means "the rest is in the next fragment", not malformed.
 */
static dissect_result dissect_tcp(cursor c, uint32_t ip_len, bool first_fragment,
                                  dissect_segment *seg)
{
    const dissect_result too_short = first_fragment ? DISSECT_FRAGMENT : DISSECT_MALFORMED;
    uint8_t off_x2 = 0, flags = 0;

    if (ip_len < TCP_HDR_LEN)
        return too_short;
    if (!cursor_get_be16(&c, 0, &seg->sport) || !cursor_get_be16(&c, 2, &seg->dport) ||
        !cursor_get_be32(&c, 4, &seg->seq) || !cursor_get_be32(&c, 8, &seg->ack) ||
        !cursor_get_u8(&c, 12, &off_x2) || !cursor_get_u8(&c, 13, &flags) ||
        !cursor_get_be16(&c, 14, &seg->window) || !cursor_has(&c, 16, 4))
        return DISSECT_TRUNCATED;

    uint32_t hdr_len = (uint32_t)(off_x2 >> 4) * 4;
    if (hdr_len < TCP_HDR_LEN)
        return DISSECT_MALFORMED;
    if (hdr_len > ip_len)
        return too_short;
    seg->flags = (uint16_t)(flags | (off_x2 & 0x01) << 8);
    seg->payload_len = ip_len - hdr_len;
    {
        /* Options and payload as captured, within the IP length. */
        cursor body = c;
        cursor_limit(&body, ip_len);
        seg->content = (uint32_t)cursor_digest(&body, TCP_HDR_LEN);
    }

    if (hdr_len > TCP_HDR_LEN) {
        (void)cursor_skip(&c, TCP_HDR_LEN); /* checked above */
        cursor_limit(&c, hdr_len - TCP_HDR_LEN);
        tcp_options(&c, hdr_len - TCP_HDR_LEN, seg);
    }
    return DISSECT_OK;
}

/* ---- IPv4 --------------------------------------------------------------- */

/* What may carry a tunnel (dissect_tunnel_payload). */
static bool may_tunnel(uint8_t proto)
{
    return proto == PROTO_UDP || proto == PROTO_GRE || proto == PROTO_IPIP || proto == PROTO_IPV6;
}

/* An IPv4 packet that is not TCP: a tunnel's, perhaps. Out of the TCP
 * path's way (no inlining: the segments outside tunnels do not pay for its
 * code). */
__attribute__((noinline)) static dissect_result
ipv4_other(dctx *x, cursor c, uint8_t proto, uint16_t frag, uint32_t hdr_len, uint32_t ip_len)
{
    if (!x->tun || !may_tunnel(proto))
        return DISSECT_NOT_TCP;
    if ((frag & (IPV4_OFFMASK | IPV4_MF)) != 0)
        return DISSECT_FRAGMENT; /* a tunnel's packet in pieces: not reassembled */
    if (!cursor_skip(&c, hdr_len))
        return DISSECT_TRUNCATED;
    return dissect_tunnel_payload(x, c, proto, ip_len - hdr_len);
}

/* wire_left: bytes of the packet on the wire from the IP header on. */
__attribute__((always_inline)) static inline dissect_result dissect_ipv4(dctx *x, cursor c,
                                                                         uint32_t wire_left)
{
    dissect_segment *seg = x->seg;
    uint8_t vhl = 0, proto = 0;
    uint16_t total_len = 0, frag = 0;

    if (!cursor_get_u8(&c, 0, &vhl))
        return DISSECT_TRUNCATED;
    uint32_t hdr_len = (uint32_t)(vhl & 0x0f) * 4;
    if (vhl >> 4 != 4 || hdr_len < IPV4_HDR_LEN)
        return DISSECT_MALFORMED;
    if (!cursor_get_be16(&c, 2, &total_len) || !cursor_get_be16(&c, 4, &seg->ip_id) ||
        !cursor_get_be16(&c, 6, &frag) || !cursor_get_u8(&c, 8, &seg->ttl) ||
        !cursor_get_u8(&c, 9, &proto) || !cursor_get_bytes(&c, 12, seg->src, 4) ||
        !cursor_get_bytes(&c, 16, seg->dst, 4))
        return DISSECT_TRUNCATED;
    seg->ip_version = 4;

    /* Total length 0: a TSO / BIG TCP super-packet; the wire knows. */
    uint32_t ip_len = total_len != 0 ? total_len : wire_left;
    if (ip_len < hdr_len)
        return DISSECT_MALFORMED;
    if (proto != PROTO_TCP)
        return ipv4_other(x, c, proto, frag, hdr_len, ip_len);
    if ((frag & IPV4_OFFMASK) != 0)
        return DISSECT_FRAGMENT;
    if (!cursor_skip(&c, hdr_len))
        return DISSECT_TRUNCATED;
    return dissect_tcp(c, ip_len - hdr_len, (frag & IPV4_MF) != 0, seg);
}

/* ---- IPv6 --------------------------------------------------------------- */

/*
 * Payload length 0 (RFC 2675 jumbogram, or a TSO / BIG TCP packet): the
 * length is the Jumbo Payload option's when a hop-by-hop header right after
 * the fixed header carries one, else what the wire length leaves. c starts
 * after the fixed header; nh is the fixed header's next header.
 */
static uint32_t ipv6_unstated_len(const cursor *c, uint8_t nh, uint32_t wire_left)
{
    uint8_t units = 0;

    if (nh == PROTO_HOPOPTS && cursor_get_u8(c, 1, &units)) {
        size_t end = ((size_t)units + 1) * 8;
        size_t i = 2;

        while (i < end) {
            uint8_t type = 0, len = 0;
            uint32_t jumbo = 0;

            if (!cursor_get_u8(c, i, &type))
                break;
            if (type == IPV6_OPT_PAD1) {
                i++;
                continue;
            }
            if (!cursor_get_u8(c, i + 1, &len))
                break;
            if (type == IPV6_OPT_JUMBO && len == IPV6_OPT_JUMBO_LEN &&
                cursor_get_be32(c, i + 2, &jumbo))
                return jumbo;
            i += 2 + (size_t)len;
        }
    }
    return wire_left > IPV6_HDR_LEN ? wire_left - IPV6_HDR_LEN : 0;
}

/* True for the headers dissect_ipv6 walks through on its way to TCP. */
static bool ipv6_is_extension(uint8_t nh)
{
    return nh == PROTO_HOPOPTS || nh == PROTO_ROUTING || nh == PROTO_FRAGMENT ||
           nh == PROTO_DSTOPTS || nh == PROTO_AH;
}

/* wire_left: bytes of the packet on the wire from the IP header on. */
__attribute__((always_inline)) static inline dissect_result dissect_ipv6(dctx *x, cursor c,
                                                                         uint32_t wire_left)
{
    dissect_segment *seg = x->seg;
    uint8_t vtc = 0, nh = 0;
    uint16_t payload_len = 0;
    bool first_fragment = false;

    if (!cursor_get_u8(&c, 0, &vtc))
        return DISSECT_TRUNCATED;
    if (vtc >> 4 != 6)
        return DISSECT_MALFORMED;
    if (!cursor_get_be16(&c, 4, &payload_len) || !cursor_get_u8(&c, 6, &nh) ||
        !cursor_get_u8(&c, 7, &seg->ttl) || !cursor_get_bytes(&c, 8, seg->src, 16) ||
        !cursor_get_bytes(&c, 24, seg->dst, 16))
        return DISSECT_TRUNCATED;
    (void)cursor_skip(&c, IPV6_HDR_LEN); /* checked above */
    seg->ip_version = 6;

    /* ip_len: bytes of IP payload left after the headers walked so far. */
    uint32_t ip_len = payload_len != 0 ? payload_len : ipv6_unstated_len(&c, nh, wire_left);
    for (;;) {
        uint8_t next = 0, units = 0;
        uint16_t frag = 0;
        size_t hdr_len;

        switch (nh) {
        case PROTO_TCP:
            return dissect_tcp(c, ip_len, first_fragment, seg);
        case PROTO_HOPOPTS:
        case PROTO_ROUTING:
        case PROTO_DSTOPTS:
            if (!cursor_get_u8(&c, 0, &next) || !cursor_get_u8(&c, 1, &units))
                return DISSECT_TRUNCATED;
            hdr_len = ((size_t)units + 1) * 8;
            break;
        case PROTO_AH: /* RFC 4302: length in 4-byte units, minus 2 */
            if (!cursor_get_u8(&c, 0, &next) || !cursor_get_u8(&c, 1, &units))
                return DISSECT_TRUNCATED;
            hdr_len = ((size_t)units + 2) * 4;
            break;
        case PROTO_FRAGMENT:
            if (!cursor_get_u8(&c, 0, &next) || !cursor_get_be16(&c, 2, &frag))
                return DISSECT_TRUNCATED;
            if ((frag & IPV6_FRAG_OFFMASK) != 0)
                /* What follows is the middle of some payload: say fragment
                 * unless the header names a transport other than TCP. */
                return next == PROTO_TCP || ipv6_is_extension(next) ? DISSECT_FRAGMENT
                                                                    : DISSECT_NOT_TCP;
            if ((frag & IPV6_FRAG_MF) != 0)
                first_fragment = true;
            hdr_len = IPV6_FRAG_HDR_LEN;
            break;
        default:
            if (!x->tun || !may_tunnel(nh))
                return DISSECT_NOT_TCP; /* no next header (59), ESP, UDP, ICMPv6, ... */
            if (first_fragment)
                return DISSECT_FRAGMENT;
            return dissect_tunnel_payload(x, c, nh, ip_len);
        }
        if (hdr_len > ip_len)
            return DISSECT_MALFORMED;
        if (!cursor_skip(&c, hdr_len))
            return DISSECT_TRUNCATED;
        ip_len -= (uint32_t)hdr_len;
        nh = next;
    }
}

/* ---- public API ---------------------------------------------------------- */

dissect_result dissect_ip(dctx *x, cursor c, uint8_t ipver, uint32_t wire_left)
{
    return ipver == 4 ? dissect_ipv4(x, c, wire_left) : dissect_ipv6(x, c, wire_left);
}

/* ---- public API ---------------------------------------------------------- */

dissect_result dissect_packet_ex(uint32_t linktype, const uint8_t *data, uint32_t caplen,
                                 uint32_t wirelen, dissect_segment *seg, dissect_tunnel *tun)
{
    cursor c = {data, caplen};
    dctx x = {seg, tun};
    uint8_t ipver = 0;

    /* Zeroed in two parts: the whole 88 bytes at once is a `rep stos`,
     * which costs the TCP path more than the rest of the dissection. */
    memset(seg, 0, offsetof(dissect_segment, encaps));
    seg->encaps = 0;
    seg->tunnel = NULL;
    if (tun)
        tun->depth = 0;
    dissect_result r = dissect_link(&x, linktype, &c, &ipver);
    if (r != DISSECT_OK)
        return r;

    /* Bytes on the wire from the IP header on; only for IP headers that
     * state no length. A wirelen below caplen is the caller's slip. */
    uint32_t link_len = (uint32_t)(c.p - data);
    uint32_t wire = wirelen > caplen ? wirelen : caplen;
    /* Not through dissect_ip: the tunnels' way in, which the TCP path would
     * otherwise share as a call. */
    r = ipver == 4 ? dissect_ipv4(&x, c, wire - link_len) : dissect_ipv6(&x, c, wire - link_len);
    if (r == DISSECT_OK && tun && tun->depth)
        seg->tunnel = tun;
    return r;
}

dissect_result dissect_packet(uint32_t linktype, const uint8_t *data, uint32_t caplen,
                              uint32_t wirelen, dissect_segment *seg)
{
    return dissect_packet_ex(linktype, data, caplen, wirelen, seg, NULL);
}

int dissect_link_supported(uint32_t linktype)
{
    switch (linktype) {
    case DISSECT_LINK_NULL:
    case DISSECT_LINK_ETHERNET:
    case DISSECT_LINK_RAW_DLT:
    case DISSECT_LINK_RAW_DLT14:
    case DISSECT_LINK_RAW:
    case DISSECT_LINK_LOOP:
    case DISSECT_LINK_LINUX_SLL:
    case DISSECT_LINK_IPV4:
    case DISSECT_LINK_IPV6:
    case DISSECT_LINK_LINUX_SLL2:
    case DISSECT_LINK_PPP:
    case DISSECT_LINK_FDDI:
    case DISSECT_LINK_PPP_HDLC:
    case DISSECT_LINK_C_HDLC:
    case DISSECT_LINK_IEEE802_11:
    case DISSECT_LINK_RADIOTAP:
    case DISSECT_LINK_JUNIPER_ETHER:
    case DISSECT_LINK_NFLOG:
    case DISSECT_LINK_IPOIB:
        return 1;
    default:
        return 0;
    }
}

const char *dissect_result_name(dissect_result r)
{
    switch (r) {
    case DISSECT_OK:
        return "ok";
    case DISSECT_UNSUPPORTED_LINK:
        return "unsupported_link";
    case DISSECT_NOT_IP:
        return "not_ip";
    case DISSECT_NOT_TCP:
        return "not_tcp";
    case DISSECT_FRAGMENT:
        return "fragment";
    case DISSECT_TRUNCATED:
        return "truncated";
    case DISSECT_MALFORMED:
        return "malformed";
    case DISSECT_RESULT_COUNT:
        break;
    }
    return "unknown";
}

const char *dissect_encap_name(dissect_encap e)
{
    static const char *const n[DISSECT_ENC_COUNT] = {
        "vlan",  "pppoe",  "pbb", "vntag",   "etag",    "fabricpath", "llc",  "ppp",
        "wlan",  "mpls",   "gre", "erspan1", "erspan2", "erspan3",    "pptp", "aruba",
        "vxlan", "geneve", "gtp", "4in4",    "6in4",    "4in6",       "6in6", "teredo"};
    return (unsigned)e < DISSECT_ENC_COUNT ? n[e] : "?";
}
