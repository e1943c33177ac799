/*
 * test_dissect: unit tests for dissect_packet.
 *
 * Packets are assembled in the test from small builders (link header, IPv4
 * or IPv6, TCP), header-only the way snaplen-96 captures are: the payload
 * the IP length promises is counted in wirelen but not present. Every
 * packet handed to dissect_packet is first copied into a malloc'ed buffer
 * of exactly its captured length, so ASan reports any read past the end.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "dissect.h"

/* ---- packet builders ------------------------------------------------- */

typedef struct pkt {
    uint8_t b[512];
    size_t n;
} pkt;

static void put8(pkt *p, unsigned v)
{
    assert_true(p->n < sizeof p->b);
    p->b[p->n++] = (uint8_t)v;
}

static void put16(pkt *p, unsigned v)
{
    put8(p, v >> 8);
    put8(p, v & 0xff);
}

static void put32(pkt *p, uint32_t v)
{
    put16(p, v >> 16);
    put16(p, v & 0xffff);
}

static void put_le32(pkt *p, uint32_t v)
{
    put8(p, v & 0xff);
    put8(p, (v >> 8) & 0xff);
    put8(p, (v >> 16) & 0xff);
    put8(p, v >> 24);
}

static void put_mem(pkt *p, const uint8_t *m, size_t n)
{
    for (size_t i = 0; i < n; i++)
        put8(p, m[i]);
}

static void append(pkt *p, const pkt *q)
{
    put_mem(p, q->b, q->n);
}

static void set16(pkt *p, size_t off, unsigned v)
{
    assert_true(off + 2 <= p->n);
    p->b[off] = (uint8_t)(v >> 8);
    p->b[off + 1] = (uint8_t)(v & 0xff);
}

enum {
    SPORT = 40000,
    DPORT = 443,
    SEQ = 0x11223344,
    ACK = 0x55667788,
    WINDOW = 0xfffe,
    IP_ID = 0xbeef,
    TTL4 = 64,
    HLIM6 = 57,
    ETH_LEN = 14,
    IP4_LEN = 20,
    IP6_LEN = 40,
    TCP_LEN = 20,
};

static const uint8_t SRC4[4] = {192, 0, 2, 1};
static const uint8_t DST4[4] = {198, 51, 100, 2};
static const uint8_t SRC6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 1};
static const uint8_t DST6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 2};

/* The options of a Linux SYN: MSS, SACK-permitted, timestamps, NOP, wscale.
 * No EOL, so a cut anywhere inside shows. */
static const uint8_t LINUX_SYN_OPTS[20] = {2,    4,    0x05, 0xb4, 4,    2,    8, 10, 0x01, 0x02,
                                           0x03, 0x04, 0x0a, 0x0b, 0x0c, 0x0d, 1, 3,  3,    7};

/* TCP header with the fields above; optlen must be a multiple of 4. */
static pkt tcp_opts(unsigned flags, const uint8_t *opts, size_t optlen)
{
    pkt t = {.n = 0};

    assert_int_equal(optlen % 4, 0);
    put16(&t, SPORT);
    put16(&t, DPORT);
    put32(&t, SEQ);
    put32(&t, ACK);
    put8(&t, (unsigned)((TCP_LEN + optlen) / 4) << 4 | (flags >> 8 & 1));
    put8(&t, flags & 0xff);
    put16(&t, WINDOW);
    put16(&t, 0); /* checksum */
    put16(&t, 0); /* urgent pointer */
    put_mem(&t, opts, optlen);
    return t;
}

static pkt tcp(void)
{
    return tcp_opts(DISSECT_ACK, NULL, 0);
}

/* IPv4 header (with options) carrying l4 and `payload` more bytes that
 * are not captured. Returns the offset of the header in p. */
static size_t ipv4_opts(pkt *p, unsigned proto, const pkt *l4, uint32_t payload,
                        const uint8_t *opts, size_t optlen)
{
    size_t at = p->n;

    assert_int_equal(optlen % 4, 0);
    put8(p, 0x40 | (unsigned)(IP4_LEN + optlen) / 4);
    put8(p, 0);
    put16(p, (unsigned)(IP4_LEN + optlen + l4->n + payload));
    put16(p, IP_ID);
    put16(p, 0x4000); /* DF */
    put8(p, TTL4);
    put8(p, proto);
    put16(p, 0);
    put_mem(p, SRC4, 4);
    put_mem(p, DST4, 4);
    put_mem(p, opts, optlen);
    append(p, l4);
    return at;
}

static size_t ipv4(pkt *p, const pkt *l4, uint32_t payload)
{
    return ipv4_opts(p, 6, l4, payload, NULL, 0);
}

/* IPv6 header; `rest` holds the extension headers and the TCP header. */
static size_t ipv6_nh(pkt *p, unsigned nh, const pkt *rest, uint32_t payload)
{
    size_t at = p->n;

    put32(p, 0x60000000);
    put16(p, (unsigned)(rest->n + payload));
    put8(p, nh);
    put8(p, HLIM6);
    put_mem(p, SRC6, 16);
    put_mem(p, DST6, 16);
    append(p, rest);
    return at;
}

static size_t ipv6(pkt *p, const pkt *l4, uint32_t payload)
{
    return ipv6_nh(p, 6, l4, payload);
}

/* Hop-by-hop / routing / destination options header of (units + 1) * 8
 * bytes, the space after the first two bytes filled with one PadN. */
static void ext_hdr(pkt *p, unsigned next, unsigned units)
{
    size_t len = ((size_t)units + 1) * 8;

    put8(p, next);
    put8(p, units);
    put8(p, 1); /* PadN */
    put8(p, (unsigned)len - 4);
    for (size_t i = 4; i < len; i++)
        put8(p, 0);
}

static void frag_hdr(pkt *p, unsigned next, unsigned offset8, int more)
{
    put8(p, next);
    put8(p, 0);
    put16(p, offset8 << 3 | (more ? 1u : 0u));
    put32(p, 0xcafe);
}

static void eth(pkt *p, unsigned type)
{
    static const uint8_t macs[12] = {2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2};

    put_mem(p, macs, sizeof macs);
    put16(p, type);
}

static void vlan_tag(pkt *p, unsigned vid, unsigned inner_type)
{
    put16(p, vid);
    put16(p, inner_type);
}

static void sll(pkt *p, unsigned proto)
{
    put16(p, 0); /* packet type: to us */
    put16(p, 1); /* ARPHRD_ETHER */
    put16(p, 6); /* address length */
    put32(p, 0x02000000);
    put32(p, 0x00010000);
    put16(p, proto);
}

static void sll2(pkt *p, unsigned proto)
{
    put16(p, proto);
    put16(p, 0); /* reserved */
    put32(p, 3); /* interface index */
    put16(p, 1); /* ARPHRD_ETHER */
    put8(p, 4);  /* packet type: outgoing */
    put8(p, 6);  /* address length */
    put32(p, 0x02000000);
    put32(p, 0x00010000);
}

static void pppoe_hdr(pkt *p, unsigned ppp_proto)
{
    put8(p, 0x11); /* version 1, type 1 */
    put8(p, 0);    /* code: session data */
    put16(p, 0x1234);
    put16(p, 0); /* length: not used by the dissector */
    put16(p, ppp_proto);
}

static void pppoe(pkt *p, unsigned ppp_proto)
{
    eth(p, 0x8864);
    pppoe_hdr(p, ppp_proto);
}

static void mpls_label(pkt *p, uint32_t label, int bottom)
{
    put32(p, label << 12 | (bottom ? 1u << 8 : 0u) | 64);
}

/* ---- running and checking -------------------------------------------- */

/* Dissects the first caplen bytes of p from an exact-size heap copy. */
static dissect_result run_cap(uint32_t linktype, const pkt *p, size_t caplen, uint32_t wirelen,
                              dissect_segment *seg)
{
    uint8_t *copy = malloc(caplen); /* malloc(0) too: ASan flags any read */

    assert_true(caplen <= p->n);
    if (caplen > 0) {
        assert_non_null(copy);
        memcpy(copy, p->b, caplen);
    }
    memset(seg, 0xa5, sizeof *seg); /* dissect_packet must clear it */
    dissect_result r = dissect_packet(linktype, copy, (uint32_t)caplen, wirelen, seg);
    free(copy);
    return r;
}

/* The whole packet captured; `payload` bytes more on the wire. */
static dissect_result run(uint32_t linktype, const pkt *p, uint32_t payload, dissect_segment *seg)
{
    return run_cap(linktype, p, p->n, (uint32_t)(p->n + payload), seg);
}

static void assert_tcp_fields(const dissect_segment *s, int ipver, uint32_t payload)
{
    static const uint8_t zero[12] = {0};

    assert_int_equal(s->ip_version, ipver);
    if (ipver == 4) {
        assert_memory_equal(s->src, SRC4, 4);
        assert_memory_equal(s->dst, DST4, 4);
        assert_memory_equal(s->src + 4, zero, 12);
        assert_memory_equal(s->dst + 4, zero, 12);
        assert_int_equal(s->ttl, TTL4);
        assert_int_equal(s->ip_id, IP_ID);
    } else {
        assert_memory_equal(s->src, SRC6, 16);
        assert_memory_equal(s->dst, DST6, 16);
        assert_int_equal(s->ttl, HLIM6);
        assert_int_equal(s->ip_id, 0);
    }
    assert_int_equal(s->sport, SPORT);
    assert_int_equal(s->dport, DPORT);
    assert_int_equal(s->seq, SEQ);
    assert_int_equal(s->ack, ACK);
    assert_int_equal(s->window, WINDOW);
    assert_int_equal(s->payload_len, payload);
}

/* A plain ACK segment with 100 payload bytes, checked in full. */
static void assert_plain_ok(uint32_t linktype, const pkt *p, int ipver)
{
    dissect_segment s;

    assert_int_equal(run(linktype, p, 100, &s), DISSECT_OK);
    assert_tcp_fields(&s, ipver, 100);
    assert_int_equal(s.flags, DISSECT_ACK);
    assert_int_equal(s.opts, 0);
}

static dissect_result run_plain(uint32_t linktype, const pkt *p)
{
    dissect_segment s;

    return run(linktype, p, 100, &s);
}

/* ---- link layers --------------------------------------------------------- */

static void test_ethernet_ipv4_fills_every_field(void **state)
{
    (void)state;
    pkt t = tcp(), p = {.n = 0};
    eth(&p, 0x0800);
    ipv4(&p, &t, 100);
    assert_plain_ok(DISSECT_LINK_ETHERNET, &p, 4);
}

static void test_ethernet_ipv6_fills_every_field(void **state)
{
    (void)state;
    pkt t = tcp(), p = {.n = 0};
    eth(&p, 0x86dd);
    ipv6(&p, &t, 100);
    assert_plain_ok(DISSECT_LINK_ETHERNET, &p, 6);
}

static void test_vlan_single_tag_reaches_tcp(void **state)
{
    (void)state;
    pkt t = tcp(), p = {.n = 0};
    eth(&p, 0x8100);
    vlan_tag(&p, 100, 0x0800);
    ipv4(&p, &t, 100);
    assert_plain_ok(DISSECT_LINK_ETHERNET, &p, 4);
}

static void test_vlan_qinq_stack_reaches_tcp(void **state)
{
    (void)state;
    pkt t = tcp(), p = {.n = 0};
    eth(&p, 0x88a8);
    vlan_tag(&p, 100, 0x8100);
    vlan_tag(&p, 200, 0x86dd);
    ipv6(&p, &t, 100);
    assert_plain_ok(DISSECT_LINK_ETHERNET, &p, 6);
}

static void test_vlan_three_stacked_tags_reach_tcp(void **state)
{
    (void)state;
    pkt t = tcp(), p = {.n = 0};
    eth(&p, 0x9100);
    vlan_tag(&p, 10, 0x88a8);
    vlan_tag(&p, 20, 0x8100);
    vlan_tag(&p, 30, 0x0800);
    ipv4(&p, &t, 100);
    assert_plain_ok(DISSECT_LINK_ETHERNET, &p, 4);
}

static void test_linux_sll_v1_reaches_tcp(void **state)
{
    (void)state;
    pkt t = tcp(), p4 = {.n = 0}, p6 = {.n = 0};
    sll(&p4, 0x0800);
    ipv4(&p4, &t, 100);
    assert_plain_ok(DISSECT_LINK_LINUX_SLL, &p4, 4);
    sll(&p6, 0x86dd);
    ipv6(&p6, &t, 100);
    assert_plain_ok(DISSECT_LINK_LINUX_SLL, &p6, 6);
}

static void test_linux_sll_v2_reaches_tcp(void **state)
{
    (void)state;
    pkt t = tcp(), p4 = {.n = 0}, p6 = {.n = 0};
    sll2(&p4, 0x0800);
    ipv4(&p4, &t, 100);
    assert_plain_ok(DISSECT_LINK_LINUX_SLL2, &p4, 4);
    sll2(&p6, 0x86dd);
    ipv6(&p6, &t, 100);
    assert_plain_ok(DISSECT_LINK_LINUX_SLL2, &p6, 6);
}

static void test_linux_sll_non_ip_protocol_is_not_ip(void **state)
{
    (void)state;
    pkt p = {.n = 0}, q = {.n = 0};
    sll(&p, 0x0806); /* ARP */
    put32(&p, 0);
    assert_int_equal(run_plain(DISSECT_LINK_LINUX_SLL, &p), DISSECT_NOT_IP);
    sll2(&q, 0x0004); /* LINUX_SLL_P_802_2 */
    put32(&q, 0);
    assert_int_equal(run_plain(DISSECT_LINK_LINUX_SLL2, &q), DISSECT_NOT_IP);
}

static void test_raw_link_types_pick_ip_version_by_nibble(void **state)
{
    (void)state;
    static const uint32_t raw[] = {DISSECT_LINK_RAW, DISSECT_LINK_RAW_DLT, DISSECT_LINK_RAW_DLT14};
    pkt t = tcp(), p4 = {.n = 0}, p6 = {.n = 0};
    ipv4(&p4, &t, 100);
    ipv6(&p6, &t, 100);
    for (size_t i = 0; i < sizeof raw / sizeof raw[0]; i++) {
        assert_plain_ok(raw[i], &p4, 4);
        assert_plain_ok(raw[i], &p6, 6);
    }
}

static void test_raw_link_with_unknown_ip_version_is_malformed(void **state)
{
    (void)state;
    pkt t = tcp(), p = {.n = 0};
    ipv4(&p, &t, 100);
    p.b[0] = 0x55;
    assert_int_equal(run_plain(DISSECT_LINK_RAW, &p), DISSECT_MALFORMED);
}

static void test_ipv4_and_ipv6_link_types_reach_tcp(void **state)
{
    (void)state;
    pkt t = tcp(), p4 = {.n = 0}, p6 = {.n = 0};
    ipv4(&p4, &t, 100);
    ipv6(&p6, &t, 100);
    assert_plain_ok(DISSECT_LINK_IPV4, &p4, 4);
    assert_plain_ok(DISSECT_LINK_IPV6, &p6, 6);
}

static void test_ipv4_link_type_with_ipv6_packet_is_malformed(void **state)
{
    (void)state;
    pkt t = tcp(), p4 = {.n = 0}, p6 = {.n = 0};
    ipv4(&p4, &t, 100);
    ipv6(&p6, &t, 100);
    assert_int_equal(run_plain(DISSECT_LINK_IPV4, &p6), DISSECT_MALFORMED);
    assert_int_equal(run_plain(DISSECT_LINK_IPV6, &p4), DISSECT_MALFORMED);
}

static void test_null_loopback_accepts_both_byte_orders_and_every_af(void **state)
{
    (void)state;
    static const struct {
        uint32_t af;
        int ipver;
    } afs[] = {{2, 4}, {10, 6}, {24, 6}, {28, 6}, {30, 6}};
    pkt t = tcp();

    for (size_t i = 0; i < sizeof afs / sizeof afs[0]; i++) {
        for (int big_endian = 0; big_endian <= 1; big_endian++) {
            pkt p = {.n = 0};
            if (big_endian)
                put32(&p, afs[i].af);
            else
                put_le32(&p, afs[i].af);
            if (afs[i].ipver == 4)
                ipv4(&p, &t, 100);
            else
                ipv6(&p, &t, 100);
            assert_plain_ok(DISSECT_LINK_NULL, &p, afs[i].ipver);
        }
    }
}

static void test_null_loopback_unknown_af_is_not_ip(void **state)
{
    (void)state;
    pkt t = tcp(), p = {.n = 0}, q = {.n = 0};
    put_le32(&p, 7); /* AF_NS */
    ipv4(&p, &t, 100);
    assert_int_equal(run_plain(DISSECT_LINK_NULL, &p), DISSECT_NOT_IP);
    put32(&q, 17);
    ipv4(&q, &t, 100);
    assert_int_equal(run_plain(DISSECT_LINK_NULL, &q), DISSECT_NOT_IP);
}

static void test_loop_reads_af_in_network_byte_order(void **state)
{
    (void)state;
    pkt t = tcp(), p4 = {.n = 0}, p6 = {.n = 0}, le = {.n = 0};
    put32(&p4, 2);
    ipv4(&p4, &t, 100);
    assert_plain_ok(DISSECT_LINK_LOOP, &p4, 4);
    put32(&p6, 24);
    ipv6(&p6, &t, 100);
    assert_plain_ok(DISSECT_LINK_LOOP, &p6, 6);
    /* Unlike DLT_NULL, DLT_LOOP is never little-endian. */
    put_le32(&le, 2);
    ipv4(&le, &t, 100);
    assert_int_equal(run_plain(DISSECT_LINK_LOOP, &le), DISSECT_NOT_IP);
}

static void test_pppoe_session_reaches_tcp(void **state)
{
    (void)state;
    pkt t = tcp(), p4 = {.n = 0}, p6 = {.n = 0};
    pppoe(&p4, 0x0021);
    ipv4(&p4, &t, 100);
    assert_plain_ok(DISSECT_LINK_ETHERNET, &p4, 4);
    pppoe(&p6, 0x0057);
    ipv6(&p6, &t, 100);
    assert_plain_ok(DISSECT_LINK_ETHERNET, &p6, 6);
}

static void test_pppoe_control_protocol_is_not_ip(void **state)
{
    (void)state;
    pkt p = {.n = 0}, q = {.n = 0};
    pppoe(&p, 0xc021); /* LCP */
    put32(&p, 0x01010004);
    assert_int_equal(run_plain(DISSECT_LINK_ETHERNET, &p), DISSECT_NOT_IP);
    pppoe(&q, 0x0021);
    q.b[ETH_LEN] = 0x21; /* PPPoE version 2 */
    put32(&q, 0x45000000);
    assert_int_equal(run_plain(DISSECT_LINK_ETHERNET, &q), DISSECT_NOT_IP);
}

static void test_pppoe_inside_vlan_reaches_tcp(void **state)
{
    (void)state;
    pkt t = tcp(), p = {.n = 0};
    eth(&p, 0x8100);
    vlan_tag(&p, 7, 0x8864);
    pppoe_hdr(&p, 0x0021);
    ipv4(&p, &t, 100);
    assert_plain_ok(DISSECT_LINK_ETHERNET, &p, 4);
}

static void test_mpls_two_labels_reach_tcp(void **state)
{
    (void)state;
    pkt t = tcp(), p4 = {.n = 0}, p6 = {.n = 0};
    eth(&p4, 0x8847);
    mpls_label(&p4, 16, 0);
    mpls_label(&p4, 17, 1);
    ipv4(&p4, &t, 100);
    assert_plain_ok(DISSECT_LINK_ETHERNET, &p4, 4);
    eth(&p6, 0x8848);
    mpls_label(&p6, 1000, 0);
    mpls_label(&p6, 1001, 1);
    ipv6(&p6, &t, 100);
    assert_plain_ok(DISSECT_LINK_ETHERNET, &p6, 6);
}

static void test_mpls_non_ip_payload_is_not_ip(void **state)
{
    (void)state;
    pkt p = {.n = 0};
    eth(&p, 0x8847);
    mpls_label(&p, 16, 1);
    put32(&p, 0); /* pseudowire control word */
    put32(&p, 0);
    assert_int_equal(run_plain(DISSECT_LINK_ETHERNET, &p), DISSECT_NOT_IP);
}

static void test_arp_is_not_ip(void **state)
{
    (void)state;
    pkt p = {.n = 0}, q = {.n = 0};
    eth(&p, 0x0806);
    put32(&p, 0x00010800);
    put32(&p, 0x06040001);
    assert_int_equal(run_plain(DISSECT_LINK_ETHERNET, &p), DISSECT_NOT_IP);
    eth(&q, 0x8100);
    vlan_tag(&q, 5, 0x0806);
    put32(&q, 0x00010800);
    assert_int_equal(run_plain(DISSECT_LINK_ETHERNET, &q), DISSECT_NOT_IP);
}

static void test_ieee8023_length_frame_is_not_ip(void **state)
{
    (void)state;
    pkt p = {.n = 0};
    eth(&p, 0x0026); /* 802.3 length 38: LLC follows */
    put8(&p, 0x42);  /* STP DSAP */
    put8(&p, 0x42);
    put8(&p, 0x03);
    assert_int_equal(run_plain(DISSECT_LINK_ETHERNET, &p), DISSECT_NOT_IP);
}

static void test_unknown_link_type_is_unsupported(void **state)
{
    (void)state;
    static const uint32_t unknown[] = {6 /* token ring */, 107 /* frame relay */, 147, 0xffffffffu};
    pkt t = tcp(), p = {.n = 0};
    ipv4(&p, &t, 100);
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        assert_int_equal(run_plain(unknown[i], &p), DISSECT_UNSUPPORTED_LINK);
        assert_int_equal(dissect_link_supported(unknown[i]), 0);
    }
    /* Even with nothing captured, the link type is judged first. */
    dissect_segment s;
    assert_int_equal(run_cap(107, &p, 0, 0, &s), DISSECT_UNSUPPORTED_LINK);
}

static void test_link_supported_for_every_dissected_type(void **state)
{
    (void)state;
    static const uint32_t known[] = {
        DISSECT_LINK_NULL, DISSECT_LINK_ETHERNET,  DISSECT_LINK_RAW_DLT,   DISSECT_LINK_RAW_DLT14,
        DISSECT_LINK_RAW,  DISSECT_LINK_LOOP,      DISSECT_LINK_LINUX_SLL, DISSECT_LINK_IPV4,
        DISSECT_LINK_IPV6, DISSECT_LINK_LINUX_SLL2};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        assert_int_equal(dissect_link_supported(known[i]), 1);
}

/* ---- IPv4 ------------------------------------------------------------------ */

static void test_ipv4_options_are_skipped(void **state)
{
    (void)state;
    /* Record route (3 slots) + EOL padding: IHL 9. */
    static const uint8_t rr[16] = {7, 15, 4, [15] = 0};
    pkt t = tcp(), p = {.n = 0};
    eth(&p, 0x0800);
    ipv4_opts(&p, 6, &t, 100, rr, sizeof rr);
    assert_plain_ok(DISSECT_LINK_ETHERNET, &p, 4);
}

static void test_ipv4_non_first_fragment_is_fragment(void **state)
{
    (void)state;
    pkt t = tcp(), p = {.n = 0}, q = {.n = 0};
    size_t ip = ipv4(&p, &t, 100);
    set16(&p, ip + 6, 0x2000 | 185); /* MF, offset 1480 */
    assert_int_equal(run_plain(DISSECT_LINK_RAW, &p), DISSECT_FRAGMENT);
    ip = ipv4(&q, &t, 100);
    set16(&q, ip + 6, 185); /* last fragment */
    assert_int_equal(run_plain(DISSECT_LINK_RAW, &q), DISSECT_FRAGMENT);
}

static void test_ipv4_non_first_fragment_of_udp_is_not_tcp(void **state)
{
    (void)state;
    pkt u = {.n = 0}, p = {.n = 0};
    put32(&u, 0);
    size_t ip = ipv4_opts(&p, 17, &u, 100, NULL, 0);
    set16(&p, ip + 6, 185);
    assert_int_equal(run_plain(DISSECT_LINK_RAW, &p), DISSECT_NOT_TCP);
}

static void test_ipv4_first_fragment_with_whole_tcp_header_is_used(void **state)
{
    (void)state;
    pkt t = tcp(), p = {.n = 0};
    dissect_segment s;
    size_t ip = ipv4(&p, &t, 500);
    set16(&p, ip + 6, 0x2000); /* MF, offset 0 */
    assert_int_equal(run(DISSECT_LINK_RAW, &p, 500, &s), DISSECT_OK);
    assert_tcp_fields(&s, 4, 500); /* this fragment's share only */
}

static void test_ipv4_first_fragment_without_whole_tcp_header_is_fragment(void **state)
{
    (void)state;
    pkt t = tcp(), p = {.n = 0};
    size_t ip = ipv4(&p, &t, 0);
    set16(&p, ip + 6, 0x2000);
    set16(&p, ip + 2, IP4_LEN + 8); /* only the ports and sequence number */
    assert_int_equal(run_plain(DISSECT_LINK_RAW, &p), DISSECT_FRAGMENT);

    /* The fixed header is in, its options are in the next fragment. */
    pkt o = tcp_opts(DISSECT_SYN, LINUX_SYN_OPTS, sizeof LINUX_SYN_OPTS), q = {.n = 0};
    ip = ipv4(&q, &o, 0);
    set16(&q, ip + 6, 0x2000);
    set16(&q, ip + 2, IP4_LEN + TCP_LEN + 8);
    assert_int_equal(run_plain(DISSECT_LINK_RAW, &q), DISSECT_FRAGMENT);
}

static void test_udp_and_icmp_are_not_tcp(void **state)
{
    (void)state;
    pkt u = {.n = 0}, p4 = {.n = 0}, p6 = {.n = 0}, icmp = {.n = 0};
    put16(&u, 53);
    put16(&u, 5353);
    put16(&u, 8 + 100);
    put16(&u, 0);
    eth(&p4, 0x0800);
    ipv4_opts(&p4, 17, &u, 100, NULL, 0);
    assert_int_equal(run_plain(DISSECT_LINK_ETHERNET, &p4), DISSECT_NOT_TCP);
    eth(&p6, 0x86dd);
    ipv6_nh(&p6, 17, &u, 100);
    assert_int_equal(run_plain(DISSECT_LINK_ETHERNET, &p6), DISSECT_NOT_TCP);
    ipv4_opts(&icmp, 1, &u, 0, NULL, 0);
    assert_int_equal(run_plain(DISSECT_LINK_RAW, &icmp), DISSECT_NOT_TCP);
}

static void test_ipv4_ihl_below_5_is_malformed(void **state)
{
    (void)state;
    pkt t = tcp(), p = {.n = 0};
    size_t ip = ipv4(&p, &t, 100);
    p.b[ip] = 0x44;
    assert_int_equal(run_plain(DISSECT_LINK_RAW_DLT, &p), DISSECT_MALFORMED);
}

static void test_ipv4_wrong_version_is_malformed(void **state)
{
    (void)state;
    pkt t = tcp(), p = {.n = 0};
    eth(&p, 0x0800);
    size_t ip = ipv4(&p, &t, 100);
    p.b[ip] = 0x65;
    assert_int_equal(run_plain(DISSECT_LINK_ETHERNET, &p), DISSECT_MALFORMED);
}

static void test_ipv4_total_length_below_header_is_malformed(void **state)
{
    (void)state;
    static const uint8_t nops[4] = {1, 1, 1, 0};
    pkt t = tcp(), p = {.n = 0}, q = {.n = 0};
    size_t ip = ipv4(&p, &t, 100);
    set16(&p, ip + 2, 19);
    assert_int_equal(run_plain(DISSECT_LINK_RAW, &p), DISSECT_MALFORMED);
    ip = ipv4_opts(&q, 6, &t, 100, nops, sizeof nops); /* IHL 6: 24 bytes */
    set16(&q, ip + 2, 22);
    assert_int_equal(run_plain(DISSECT_LINK_RAW, &q), DISSECT_MALFORMED);
}

static void test_ipv4_length_smaller_than_tcp_header_is_malformed(void **state)
{
    (void)state;
    pkt t = tcp(), p = {.n = 0};
    size_t ip = ipv4(&p, &t, 0);
    set16(&p, ip + 2, IP4_LEN + 10);
    assert_int_equal(run_plain(DISSECT_LINK_RAW, &p), DISSECT_MALFORMED);

    pkt o = tcp_opts(DISSECT_SYN, LINUX_SYN_OPTS, sizeof LINUX_SYN_OPTS), q = {.n = 0};
    ip = ipv4(&q, &o, 0);
    set16(&q, ip + 2, IP4_LEN + TCP_LEN + 12); /* data offset says 40 */
    assert_int_equal(run_plain(DISSECT_LINK_RAW, &q), DISSECT_MALFORMED);
}

static void test_payload_len_comes_from_ip_length_with_54_byte_caplen(void **state)
{
    (void)state;
    pkt t = tcp(), p = {.n = 0};
    dissect_segment s;
    eth(&p, 0x0800);
    ipv4(&p, &t, 1460);
    assert_int_equal(p.n, 54);
    assert_int_equal(run_cap(DISSECT_LINK_ETHERNET, &p, 54, 1514, &s), DISSECT_OK);
    assert_tcp_fields(&s, 4, 1460);
    /* The IP length wins over wirelen, whatever the capture said. */
    assert_int_equal(run_cap(DISSECT_LINK_ETHERNET, &p, 54, 54, &s), DISSECT_OK);
    assert_int_equal(s.payload_len, 1460);
}

/* The content digest covers the captured options and payload, within the
 * IP length: duplicate ACKs with other SACK blocks, or segments with the
 * same header and other data, differ; Ethernet padding does not count. */
static uint32_t content_of(const uint8_t *opts, size_t optlen, const char *data, size_t pad)
{
    pkt t = tcp_opts(DISSECT_ACK, opts, optlen), p = {.n = 0};
    dissect_segment s;
    size_t n = data ? strlen(data) : 0;
    eth(&p, 0x0800);
    ipv4(&p, &t, (uint32_t)n);
    put_mem(&p, (const uint8_t *)data, n);
    for (size_t i = 0; i < pad; i++)
        put8(&p, 0xee);
    assert_int_equal(run(DISSECT_LINK_ETHERNET, &p, 0, &s), DISSECT_OK);
    assert_int_equal(s.payload_len, n);
    return s.content;
}

static void test_content_digest_tells_sack_blocks_and_payload_apart(void **state)
{
    (void)state;
    static const uint8_t sack_a[12] = {1, 1, 5, 10, 0, 0, 1, 0, 0, 0, 2, 0};
    static const uint8_t sack_b[12] = {1, 1, 5, 10, 0, 0, 1, 0, 0, 0, 3, 0};
    assert_int_equal(content_of(sack_a, 12, NULL, 0), content_of(sack_a, 12, NULL, 0));
    assert_int_not_equal(content_of(sack_a, 12, NULL, 0), content_of(sack_b, 12, NULL, 0));
    assert_int_not_equal(content_of(NULL, 0, "abcd", 0), content_of(NULL, 0, "abce", 0));
    assert_int_not_equal(content_of(NULL, 0, "abcdefghijk", 0),
                         content_of(NULL, 0, "abcdefghijz", 0));
    assert_int_not_equal(content_of(NULL, 0, NULL, 0), content_of(NULL, 0, "a", 0));
    /* Padding after the IP length is not content. */
    assert_int_equal(content_of(NULL, 0, "ab", 0), content_of(NULL, 0, "ab", 8));
}

static void test_ethernet_padding_is_not_payload_or_options(void **state)
{
    (void)state;
    pkt t = tcp(), p = {.n = 0};
    dissect_segment s;
    eth(&p, 0x0800);
    ipv4(&p, &t, 0);
    while (p.n < 60)
        put8(&p, 2); /* would read as an MSS option kind */
    assert_int_equal(run(DISSECT_LINK_ETHERNET, &p, 0, &s), DISSECT_OK);
    assert_int_equal(s.payload_len, 0);
    assert_int_equal(s.opts, 0);
}

static void test_ipv4_total_length_zero_uses_wirelen(void **state)
{
    (void)state;
    pkt t = tcp(), p = {.n = 0};
    dissect_segment s;
    eth(&p, 0x8100);
    vlan_tag(&p, 42, 0x0800);
    size_t ip = ipv4(&p, &t, 0);
    set16(&p, ip + 2, 0);
    /* A 64 KB+ GSO super-packet seen by tcpdump on the sending host. */
    uint32_t wirelen = (uint32_t)p.n + 120000;
    assert_int_equal(run_cap(DISSECT_LINK_ETHERNET, &p, p.n, wirelen, &s), DISSECT_OK);
    assert_tcp_fields(&s, 4, 120000);
}

/* ---- IPv6 ------------------------------------------------------------------ */

static void test_ipv6_extension_chain_reaches_tcp(void **state)
{
    (void)state;
    pkt rest = {.n = 0}, t = tcp(), p = {.n = 0};
    dissect_segment s;
    ext_hdr(&rest, 43, 0);    /* hop-by-hop, 8 bytes */
    ext_hdr(&rest, 60, 2);    /* routing, 24 bytes */
    ext_hdr(&rest, 44, 1);    /* destination options, 16 bytes */
    frag_hdr(&rest, 6, 0, 1); /* first fragment */
    append(&rest, &t);
    eth(&p, 0x86dd);
    ipv6_nh(&p, 0, &rest, 300);
    assert_int_equal(run(DISSECT_LINK_ETHERNET, &p, 300, &s), DISSECT_OK);
    assert_tcp_fields(&s, 6, 300);
}

static void test_ipv6_authentication_header_is_walked(void **state)
{
    (void)state;
    pkt rest = {.n = 0}, t = tcp(), p = {.n = 0};
    dissect_segment s;
    put8(&rest, 6);
    put8(&rest, 4); /* (4 + 2) * 4 = 24 bytes: 12-byte ICV */
    put16(&rest, 0);
    put32(&rest, 0x1000);
    put32(&rest, 1);
    for (int i = 0; i < 12; i++)
        put8(&rest, 0xee);
    append(&rest, &t);
    ipv6_nh(&p, 51, &rest, 100);
    assert_int_equal(run(DISSECT_LINK_RAW, &p, 100, &s), DISSECT_OK);
    assert_tcp_fields(&s, 6, 100);
}

static void test_ipv6_non_first_fragment_is_fragment(void **state)
{
    (void)state;
    pkt rest = {.n = 0}, p = {.n = 0}, udp_rest = {.n = 0}, q = {.n = 0};
    frag_hdr(&rest, 6, 181, 1);
    put32(&rest, 0xdeadbeef);
    ipv6_nh(&p, 44, &rest, 100);
    assert_int_equal(run_plain(DISSECT_LINK_RAW, &p), DISSECT_FRAGMENT);
    frag_hdr(&udp_rest, 17, 181, 0);
    put32(&udp_rest, 0xdeadbeef);
    ipv6_nh(&q, 44, &udp_rest, 100);
    assert_int_equal(run_plain(DISSECT_LINK_RAW, &q), DISSECT_NOT_TCP);
}

static void test_ipv6_first_fragment_without_whole_tcp_header_is_fragment(void **state)
{
    (void)state;
    pkt rest = {.n = 0}, t = tcp(), p = {.n = 0};
    frag_hdr(&rest, 6, 0, 1);
    append(&rest, &t);
    size_t ip = ipv6_nh(&p, 44, &rest, 0);
    set16(&p, ip + 4, 8 + 12);
    assert_int_equal(run_plain(DISSECT_LINK_RAW, &p), DISSECT_FRAGMENT);
}

static void test_ipv6_no_next_header_and_esp_are_not_tcp(void **state)
{
    (void)state;
    pkt none = {.n = 0}, p = {.n = 0}, esp = {.n = 0}, q = {.n = 0};
    ipv6_nh(&p, 59, &none, 0);
    assert_int_equal(run_plain(DISSECT_LINK_RAW, &p), DISSECT_NOT_TCP);
    put32(&esp, 0x1000);
    put32(&esp, 1);
    ipv6_nh(&q, 50, &esp, 100);
    assert_int_equal(run_plain(DISSECT_LINK_RAW, &q), DISSECT_NOT_TCP);
    pkt hbh = {.n = 0}, r = {.n = 0};
    ext_hdr(&hbh, 58, 0); /* hop-by-hop, then ICMPv6 (MLD) */
    put32(&hbh, 0x8f000000);
    ipv6_nh(&r, 0, &hbh, 0);
    assert_int_equal(run_plain(DISSECT_LINK_RAW, &r), DISSECT_NOT_TCP);
}

static void test_ipv6_wrong_version_is_malformed(void **state)
{
    (void)state;
    pkt t = tcp(), p = {.n = 0};
    eth(&p, 0x86dd);
    size_t ip = ipv6(&p, &t, 100);
    p.b[ip] = 0x40;
    assert_int_equal(run_plain(DISSECT_LINK_ETHERNET, &p), DISSECT_MALFORMED);
}

static void test_ipv6_extension_header_longer_than_payload_is_malformed(void **state)
{
    (void)state;
    pkt rest = {.n = 0}, t = tcp(), p = {.n = 0};
    ext_hdr(&rest, 6, 3); /* 32 bytes */
    append(&rest, &t);
    size_t ip = ipv6_nh(&p, 60, &rest, 0);
    set16(&p, ip + 4, 24);
    assert_int_equal(run_plain(DISSECT_LINK_RAW, &p), DISSECT_MALFORMED);
}

static void test_ipv6_length_smaller_than_tcp_header_is_malformed(void **state)
{
    (void)state;
    pkt t = tcp(), p = {.n = 0};
    size_t ip = ipv6(&p, &t, 0);
    set16(&p, ip + 4, 19);
    assert_int_equal(run_plain(DISSECT_LINK_RAW, &p), DISSECT_MALFORMED);
}

static void test_ipv6_jumbo_payload_length_is_used(void **state)
{
    (void)state;
    pkt rest = {.n = 0}, t = tcp(), p = {.n = 0};
    dissect_segment s;
    uint32_t jumbo = 8 + TCP_LEN + 100000;
    put8(&rest, 6);
    put8(&rest, 0);
    put8(&rest, 0xc2);
    put8(&rest, 4);
    put32(&rest, jumbo);
    append(&rest, &t);
    size_t ip = ipv6_nh(&p, 0, &rest, 0);
    set16(&p, ip + 4, 0);
    assert_int_equal(run_cap(DISSECT_LINK_RAW, &p, p.n, 64, &s), DISSECT_OK);
    assert_tcp_fields(&s, 6, 100000);
}

static void test_ipv6_payload_length_zero_without_jumbo_uses_wirelen(void **state)
{
    (void)state;
    pkt t = tcp(), p = {.n = 0}, rest = {.n = 0}, q = {.n = 0};
    dissect_segment s;
    sll(&p, 0x86dd);
    size_t ip = ipv6(&p, &t, 0);
    set16(&p, ip + 4, 0);
    assert_int_equal(run_cap(DISSECT_LINK_LINUX_SLL, &p, p.n, (uint32_t)p.n + 70000, &s),
                     DISSECT_OK);
    assert_tcp_fields(&s, 6, 70000);

    /* A hop-by-hop header without the option changes nothing. */
    ext_hdr(&rest, 6, 0);
    append(&rest, &t);
    ip = ipv6_nh(&q, 0, &rest, 0);
    set16(&q, ip + 4, 0);
    assert_int_equal(run_cap(DISSECT_LINK_RAW, &q, q.n, (uint32_t)q.n + 5000, &s), DISSECT_OK);
    assert_tcp_fields(&s, 6, 5000);
}

/* ---- TCP ------------------------------------------------------------------- */

static void test_every_flag_is_reported_including_ae(void **state)
{
    (void)state;
    for (unsigned bit = 0; bit < 9; bit++) {
        pkt t = tcp_opts(1u << bit, NULL, 0), p = {.n = 0};
        dissect_segment s;
        ipv4(&p, &t, 0);
        assert_int_equal(run(DISSECT_LINK_RAW, &p, 0, &s), DISSECT_OK);
        assert_int_equal(s.flags, 1u << bit);
    }
    pkt t = tcp_opts(0x1ff, NULL, 0), p = {.n = 0};
    dissect_segment s;
    ipv6(&p, &t, 0);
    assert_int_equal(run(DISSECT_LINK_RAW, &p, 0, &s), DISSECT_OK);
    assert_int_equal(s.flags, DISSECT_FIN | DISSECT_SYN | DISSECT_RST | DISSECT_PSH | DISSECT_ACK |
                                  DISSECT_URG | DISSECT_ECE | DISSECT_CWR | DISSECT_AE);
}

static void test_tcp_data_offset_below_5_is_malformed(void **state)
{
    (void)state;
    pkt t = tcp(), p = {.n = 0};
    t.b[12] = 0x40;
    ipv4(&p, &t, 100);
    assert_int_equal(run_plain(DISSECT_LINK_RAW, &p), DISSECT_MALFORMED);
}

static dissect_result run_opts(const uint8_t *opts, size_t optlen, dissect_segment *s)
{
    pkt t = tcp_opts(DISSECT_SYN, opts, optlen), p = {.n = 0};
    eth(&p, 0x0800);
    ipv4(&p, &t, 0);
    return run(DISSECT_LINK_ETHERNET, &p, 0, s);
}

static void test_each_option_is_parsed(void **state)
{
    (void)state;
    dissect_segment s;
    assert_int_equal(run_opts(LINUX_SYN_OPTS, sizeof LINUX_SYN_OPTS, &s), DISSECT_OK);
    assert_int_equal(s.opts, DISSECT_OPT_MSS | DISSECT_OPT_WSCALE | DISSECT_OPT_SACK_PERM |
                                 DISSECT_OPT_TIMESTAMP);
    assert_int_equal(s.mss, 1460);
    assert_int_equal(s.wscale, 7);
    assert_int_equal(s.ts_val, 0x01020304);
    assert_int_equal(s.ts_ecr, 0x0a0b0c0d);
    assert_int_equal(s.payload_len, 0);

    static const uint8_t one_each[4][4] = {
        {2, 4, 0x23, 0x28}, {1, 3, 3, 14}, {1, 1, 4, 2}, {0, 0, 0, 0}};
    static const uint8_t want[4] = {DISSECT_OPT_MSS, DISSECT_OPT_WSCALE, DISSECT_OPT_SACK_PERM, 0};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(run_opts(one_each[i], 4, &s), DISSECT_OK);
        assert_int_equal(s.opts, want[i]);
    }
    assert_int_equal(run_opts(one_each[0], 4, &s), DISSECT_OK);
    assert_int_equal(s.mss, 9000);
    assert_int_equal(run_opts(one_each[1], 4, &s), DISSECT_OK);
    assert_int_equal(s.wscale, 14);

    static const uint8_t ts_only[12] = {1, 1, 8, 10, 0, 0, 0, 9, 0xff, 0xff, 0xff, 0xff};
    assert_int_equal(run_opts(ts_only, sizeof ts_only, &s), DISSECT_OK);
    assert_int_equal(s.opts, DISSECT_OPT_TIMESTAMP);
    assert_int_equal(s.ts_val, 9);
    assert_int_equal(s.ts_ecr, 0xffffffffu);
}

static void test_unknown_option_is_skipped_by_length(void **state)
{
    (void)state;
    /* SACK block (kind 5, len 10), then MSS. */
    static const uint8_t opts[16] = {1, 1, 5, 10, 0, 0, 0, 1, 0, 0, 0, 2, 2, 4, 0x05, 0x78};
    dissect_segment s;
    assert_int_equal(run_opts(opts, sizeof opts, &s), DISSECT_OK);
    assert_int_equal(s.opts, DISSECT_OPT_MSS);
    assert_int_equal(s.mss, 1400);
}

static void test_eol_ends_option_parsing(void **state)
{
    (void)state;
    static const uint8_t opts[8] = {0, 2, 4, 0x05, 0xb4, 0xff, 0x00, 0x01};
    dissect_segment s;
    assert_int_equal(run_opts(opts, sizeof opts, &s), DISSECT_OK);
    assert_int_equal(s.opts, 0);
}

static void test_malformed_option_length_keeps_segment(void **state)
{
    (void)state;
    static const uint8_t len0[4] = {2, 0, 0, 0};
    static const uint8_t len1[4] = {3, 1, 7, 0};
    static const uint8_t past[8] = {2, 4, 0x05, 0xb4, 8, 10, 0, 0};
    static const uint8_t last_byte[4] = {1, 1, 1, 30}; /* kind, then no room for a length */
    static const uint8_t wrong_mss_len[8] = {2, 6, 0x05, 0xb4, 0, 0, 1, 1};
    dissect_segment s;

    assert_int_equal(run_opts(len0, 4, &s), DISSECT_OK);
    assert_int_equal(s.opts, DISSECT_OPT_MALFORMED);
    assert_int_equal(run_opts(len1, 4, &s), DISSECT_OK);
    assert_int_equal(s.opts, DISSECT_OPT_MALFORMED);
    assert_int_equal(run_opts(past, 8, &s), DISSECT_OK);
    assert_int_equal(s.opts, DISSECT_OPT_MSS | DISSECT_OPT_MALFORMED);
    assert_int_equal(s.mss, 1460);
    assert_int_equal(run_opts(last_byte, 4, &s), DISSECT_OK);
    assert_int_equal(s.opts, DISSECT_OPT_MALFORMED);
    assert_int_equal(run_opts(wrong_mss_len, 8, &s), DISSECT_OK);
    assert_int_equal(s.opts, DISSECT_OPT_MALFORMED);
    assert_tcp_fields(&s, 4, 0);
}

/*
 * The timestamps option (kind 8, length 10: TSval, TSecr) read only when it
 * is whole: a wrong length, one running past the area, or a capture cut
 * inside it leaves DISSECT_OPT_TIMESTAMP unset (and ts_val zero: never a
 * value read past the option), the segment still used.
 */
static void test_timestamp_option_only_when_whole(void **state)
{
    (void)state;
    static const uint8_t len8[12] = {8, 8, 0, 0, 0, 1, 0, 0, 1, 1, 1, 1};
    static const uint8_t len12[12] = {8, 12, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0};
    static const uint8_t len9[12] = {8, 9, 0, 0, 0, 1, 0, 0, 0, 1, 1, 1};
    static const uint8_t past[12] = {1, 1, 1, 1, 8, 10, 0, 0, 0, 1, 0, 0};
    static const uint8_t kind_last[4] = {1, 1, 1, 8};
    static const uint8_t *const bad[] = {len8, len12, len9, past};
    dissect_segment s;

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(run_opts(bad[i], 12, &s), DISSECT_OK);
        assert_int_equal(s.opts, DISSECT_OPT_MALFORMED);
        assert_int_equal(s.ts_val, 0);
        assert_int_equal(s.ts_ecr, 0);
        assert_tcp_fields(&s, 4, 0);
    }
    assert_int_equal(run_opts(kind_last, 4, &s), DISSECT_OK);
    assert_int_equal(s.opts, DISSECT_OPT_MALFORMED);

    /* Absent: no flag, zero values. */
    static const uint8_t mss_only[4] = {2, 4, 0x05, 0xb4};
    assert_int_equal(run_opts(mss_only, 4, &s), DISSECT_OK);
    assert_int_equal(s.opts, DISSECT_OPT_MSS);
    assert_int_equal(s.ts_val, 0);

    /* Cut by the snaplen anywhere inside the option: not read. */
    static const uint8_t ts_only[12] = {1, 1, 8, 10, 0x80, 0, 0, 1, 0, 0, 0, 2};
    pkt t = tcp_opts(DISSECT_SYN, ts_only, sizeof ts_only), p = {.n = 0};
    eth(&p, 0x0800);
    ipv4(&p, &t, 0);
    for (size_t n = ETH_LEN + IP4_LEN + TCP_LEN; n < p.n; n++) {
        assert_int_equal(run_cap(DISSECT_LINK_ETHERNET, &p, n, (uint32_t)p.n, &s), DISSECT_OK);
        assert_int_equal(s.opts, DISSECT_OPT_MALFORMED);
        assert_int_equal(s.ts_val, 0);
    }
    assert_int_equal(run_cap(DISSECT_LINK_ETHERNET, &p, p.n, (uint32_t)p.n, &s), DISSECT_OK);
    assert_int_equal(s.opts, DISSECT_OPT_TIMESTAMP);
    assert_int_equal(s.ts_val, 0x80000001u);
    assert_int_equal(s.ts_ecr, 2);
}

/* ---- truncation ------------------------------------------------------------ */

/*
 * Every prefix of p: before the end of the fixed TCP header (which starts
 * at tcp_at) the answer is TRUNCATED; inside the options area the segment
 * is kept with DISSECT_OPT_MALFORMED; the whole packet parses clean.
 */
static void assert_every_prefix(uint32_t linktype, const pkt *p, size_t tcp_at, int ipver,
                                uint32_t payload)
{
    uint32_t wirelen = (uint32_t)p->n + payload;

    for (size_t n = 0; n <= p->n; n++) {
        dissect_segment s;
        dissect_result r = run_cap(linktype, p, n, wirelen, &s);

        if (n < tcp_at + TCP_LEN) {
            if (r != DISSECT_TRUNCATED)
                fail_msg("prefix %zu: %s, want truncated", n, dissect_result_name(r));
            continue;
        }
        if (r != DISSECT_OK)
            fail_msg("prefix %zu: %s, want ok", n, dissect_result_name(r));
        assert_tcp_fields(&s, ipver, payload);
        if (n < p->n) {
            assert_true(s.opts & DISSECT_OPT_MALFORMED);
        } else {
            assert_int_equal(s.opts, DISSECT_OPT_MSS | DISSECT_OPT_WSCALE | DISSECT_OPT_SACK_PERM |
                                         DISSECT_OPT_TIMESTAMP);
            assert_int_equal(s.wscale, 7);
        }
    }
}

static void test_ipv4_stack_truncated_at_every_offset(void **state)
{
    (void)state;
    static const uint8_t ip_opts[8] = {0x94, 4, 0, 0, 1, 1, 1, 0}; /* router alert */
    pkt t = tcp_opts(DISSECT_SYN | DISSECT_ACK, LINUX_SYN_OPTS, sizeof LINUX_SYN_OPTS);
    pkt p = {.n = 0};
    eth(&p, 0x8100);
    vlan_tag(&p, 300, 0x0800);
    ipv4_opts(&p, 6, &t, 64, ip_opts, sizeof ip_opts);
    assert_every_prefix(DISSECT_LINK_ETHERNET, &p, ETH_LEN + 4 + IP4_LEN + 8, 4, 64);
}

static void test_ipv6_stack_truncated_at_every_offset(void **state)
{
    (void)state;
    pkt t = tcp_opts(DISSECT_SYN, LINUX_SYN_OPTS, sizeof LINUX_SYN_OPTS);
    pkt rest = {.n = 0}, p = {.n = 0};
    ext_hdr(&rest, 43, 0);
    ext_hdr(&rest, 60, 1);
    ext_hdr(&rest, 44, 0);
    frag_hdr(&rest, 6, 0, 0);
    append(&rest, &t);
    eth(&p, 0x88a8);
    vlan_tag(&p, 1, 0x8100);
    vlan_tag(&p, 2, 0x86dd);
    ipv6_nh(&p, 0, &rest, 64);
    assert_every_prefix(DISSECT_LINK_ETHERNET, &p, ETH_LEN + 8 + IP6_LEN + 8 + 16 + 8 + 8, 6, 64);
}

static void test_other_links_truncated_at_every_offset(void **state)
{
    (void)state;
    pkt t = tcp_opts(DISSECT_SYN, LINUX_SYN_OPTS, sizeof LINUX_SYN_OPTS);
    pkt s1 = {.n = 0}, s2 = {.n = 0}, nul = {.n = 0}, ppp = {.n = 0}, mpls = {.n = 0};
    sll(&s1, 0x0800);
    ipv4(&s1, &t, 10);
    assert_every_prefix(DISSECT_LINK_LINUX_SLL, &s1, 16 + IP4_LEN, 4, 10);
    sll2(&s2, 0x86dd);
    ipv6(&s2, &t, 10);
    assert_every_prefix(DISSECT_LINK_LINUX_SLL2, &s2, 20 + IP6_LEN, 6, 10);
    put_le32(&nul, 30);
    ipv6(&nul, &t, 10);
    assert_every_prefix(DISSECT_LINK_NULL, &nul, 4 + IP6_LEN, 6, 10);
    pppoe(&ppp, 0x0021);
    ipv4(&ppp, &t, 10);
    assert_every_prefix(DISSECT_LINK_ETHERNET, &ppp, ETH_LEN + 8 + IP4_LEN, 4, 10);
    eth(&mpls, 0x8847);
    mpls_label(&mpls, 16, 0);
    mpls_label(&mpls, 17, 1);
    ipv6(&mpls, &t, 10);
    assert_every_prefix(DISSECT_LINK_ETHERNET, &mpls, ETH_LEN + 8 + IP6_LEN, 6, 10);
}

/* ---- names ------------------------------------------------------------------ */

static void test_result_names_are_short_and_stable(void **state)
{
    (void)state;
    static const char *const names[DISSECT_RESULT_COUNT] = {
        [DISSECT_OK] = "ok",
        [DISSECT_UNSUPPORTED_LINK] = "unsupported_link",
        [DISSECT_NOT_IP] = "not_ip",
        [DISSECT_NOT_TCP] = "not_tcp",
        [DISSECT_FRAGMENT] = "fragment",
        [DISSECT_TRUNCATED] = "truncated",
        [DISSECT_MALFORMED] = "malformed",
    };
    for (int r = 0; r < DISSECT_RESULT_COUNT; r++) {
        assert_non_null(names[r]);
        assert_string_equal(dissect_result_name((dissect_result)r), names[r]);
    }
    assert_non_null(dissect_result_name(DISSECT_RESULT_COUNT));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ethernet_ipv4_fills_every_field),
        cmocka_unit_test(test_ethernet_ipv6_fills_every_field),
        cmocka_unit_test(test_vlan_single_tag_reaches_tcp),
        cmocka_unit_test(test_vlan_qinq_stack_reaches_tcp),
        cmocka_unit_test(test_vlan_three_stacked_tags_reach_tcp),
        cmocka_unit_test(test_linux_sll_v1_reaches_tcp),
        cmocka_unit_test(test_linux_sll_v2_reaches_tcp),
        cmocka_unit_test(test_linux_sll_non_ip_protocol_is_not_ip),
        cmocka_unit_test(test_raw_link_types_pick_ip_version_by_nibble),
        cmocka_unit_test(test_raw_link_with_unknown_ip_version_is_malformed),
        cmocka_unit_test(test_ipv4_and_ipv6_link_types_reach_tcp),
        cmocka_unit_test(test_ipv4_link_type_with_ipv6_packet_is_malformed),
        cmocka_unit_test(test_null_loopback_accepts_both_byte_orders_and_every_af),
        cmocka_unit_test(test_null_loopback_unknown_af_is_not_ip),
        cmocka_unit_test(test_loop_reads_af_in_network_byte_order),
        cmocka_unit_test(test_pppoe_session_reaches_tcp),
        cmocka_unit_test(test_pppoe_control_protocol_is_not_ip),
        cmocka_unit_test(test_pppoe_inside_vlan_reaches_tcp),
        cmocka_unit_test(test_mpls_two_labels_reach_tcp),
        cmocka_unit_test(test_mpls_non_ip_payload_is_not_ip),
        cmocka_unit_test(test_arp_is_not_ip),
        cmocka_unit_test(test_ieee8023_length_frame_is_not_ip),
        cmocka_unit_test(test_unknown_link_type_is_unsupported),
        cmocka_unit_test(test_link_supported_for_every_dissected_type),
        cmocka_unit_test(test_ipv4_options_are_skipped),
        cmocka_unit_test(test_ipv4_non_first_fragment_is_fragment),
        cmocka_unit_test(test_ipv4_non_first_fragment_of_udp_is_not_tcp),
        cmocka_unit_test(test_ipv4_first_fragment_with_whole_tcp_header_is_used),
        cmocka_unit_test(test_ipv4_first_fragment_without_whole_tcp_header_is_fragment),
        cmocka_unit_test(test_udp_and_icmp_are_not_tcp),
        cmocka_unit_test(test_ipv4_ihl_below_5_is_malformed),
        cmocka_unit_test(test_ipv4_wrong_version_is_malformed),
        cmocka_unit_test(test_ipv4_total_length_below_header_is_malformed),
        cmocka_unit_test(test_ipv4_length_smaller_than_tcp_header_is_malformed),
        cmocka_unit_test(test_payload_len_comes_from_ip_length_with_54_byte_caplen),
        cmocka_unit_test(test_content_digest_tells_sack_blocks_and_payload_apart),
        cmocka_unit_test(test_ethernet_padding_is_not_payload_or_options),
        cmocka_unit_test(test_ipv4_total_length_zero_uses_wirelen),
        cmocka_unit_test(test_ipv6_extension_chain_reaches_tcp),
        cmocka_unit_test(test_ipv6_authentication_header_is_walked),
        cmocka_unit_test(test_ipv6_non_first_fragment_is_fragment),
        cmocka_unit_test(test_ipv6_first_fragment_without_whole_tcp_header_is_fragment),
        cmocka_unit_test(test_ipv6_no_next_header_and_esp_are_not_tcp),
        cmocka_unit_test(test_ipv6_wrong_version_is_malformed),
        cmocka_unit_test(test_ipv6_extension_header_longer_than_payload_is_malformed),
        cmocka_unit_test(test_ipv6_length_smaller_than_tcp_header_is_malformed),
        cmocka_unit_test(test_ipv6_jumbo_payload_length_is_used),
        cmocka_unit_test(test_ipv6_payload_length_zero_without_jumbo_uses_wirelen),
        cmocka_unit_test(test_every_flag_is_reported_including_ae),
        cmocka_unit_test(test_tcp_data_offset_below_5_is_malformed),
        cmocka_unit_test(test_each_option_is_parsed),
        cmocka_unit_test(test_unknown_option_is_skipped_by_length),
        cmocka_unit_test(test_eol_ends_option_parsing),
        cmocka_unit_test(test_malformed_option_length_keeps_segment),
        cmocka_unit_test(test_timestamp_option_only_when_whole),
        cmocka_unit_test(test_ipv4_stack_truncated_at_every_offset),
        cmocka_unit_test(test_ipv6_stack_truncated_at_every_offset),
        cmocka_unit_test(test_other_links_truncated_at_every_offset),
        cmocka_unit_test(test_result_names_are_short_and_stable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
