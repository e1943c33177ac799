/*
 * samplegen OUTDIR: writes every sample capture of samples/README.md into
 * OUTDIR, byte for byte the same on every run and every host.
 *
 * Each sample is one function that reads like the tcpdump it models: a list
 * of (direction, flags, payload bytes, delay). Unless a sample says
 * otherwise: Ethernet, microsecond pcap, snaplen 96 (header-only, payloads
 * truncated as in archived traces), client 10.0.0.1:40000, server
 * 10.0.0.2:80, capture taken on the server (its answers follow the client's
 * packets within microseconds, the client's follow the server's after one
 * round trip, RTT about 23 ms).
 *
 * The expected classification of every sample is in samples/README.md;
 * tests/test_samples.c checks that the committed files are what this
 * program writes.
 */
#include "gen.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#define SNAPLEN 96

/* Short names for the segments of a script. */
#define FIN DISSECT_FIN
#define SYN DISSECT_SYN
#define RST DISSECT_RST
#define PSH DISSECT_PSH
#define ACK DISSECT_ACK
#define C2S GEN_C2S
#define S2C GEN_S2C

#define US(x)  ((uint64_t)((x)*1000.0 + 0.5))    /* microseconds, ns digits allowed */
#define MS(x)  ((uint64_t)((x)*1000000.0 + 0.5)) /* milliseconds */
#define SEC(x) ((uint64_t)(x)*GEN_NS_PER_SEC)

/* Where every sample starts: 1700000000.123456789. */
#define START (GEN_T0_NS + UINT64_C(123456789))
/* Round trip between the capture point (the server) and the client. */
#define RTT MS(23.417283)

static const char *outdir;
static int failures;

/* ---------------------------------------------------------------- helpers */

/* NULL (and a message) when outdir/name does not fit: a truncated path
 * would write the sample somewhere else. */
static const char *path_of(const char *name)
{
    static char path[4096];
    int n = snprintf(path, sizeof path, "%s/%s", outdir, name);
    if (n < 0 || (size_t)n >= sizeof path) {
        fprintf(stderr, "samplegen: path too long: %s/%s\n", outdir, name);
        return NULL;
    }
    return path;
}

static gen_file *open_pcap_snaplen(const char *name, uint32_t linktype, uint32_t snaplen,
                                   unsigned flags)
{
    const char *path = path_of(name);
    gen_file *f = path ? gen_open_pcap(path, linktype, snaplen, flags) : NULL;
    if (f == NULL) {
        fprintf(stderr, "samplegen: cannot create %s\n", name);
        failures++;
    }
    return f;
}

static gen_file *open_pcap(const char *name, uint32_t linktype, unsigned flags)
{
    return open_pcap_snaplen(name, linktype, SNAPLEN, flags);
}

static gen_file *open_eth(const char *name)
{
    return open_pcap(name, DISSECT_LINK_ETHERNET, 0);
}

static void finish(gen_file *f, const char *name)
{
    if (f != NULL && gen_close(f) != 0) {
        fprintf(stderr, "samplegen: failed to write %s\n", name);
        failures++;
    }
}

/* A conversation of `f` starting at `t0`; a bad address is a bug here. */
static gen_conv conv(gen_file *f, const char *client, uint16_t cport, const char *server,
                     uint16_t sport, uint64_t t0)
{
    gen_conv c;
    if (gen_conv_init(&c, f, client, cport, server, sport, t0) != 0) {
        fprintf(stderr, "samplegen: bad conversation %s - %s\n", client, server);
        failures++;
    }
    return c;
}

static gen_conv conv4(gen_file *f, uint64_t t0)
{
    return conv(f, "10.0.0.1", 40000, "10.0.0.2", 80, t0);
}

static gen_conv conv6(gen_file *f, uint64_t t0)
{
    return conv(f, "2001:db8::1", 40000, "2001:db8::2", 80, t0);
}

static void send_seq(gen_conv *c, gen_dir d, uint16_t flags, uint32_t len, uint64_t dt,
                     uint32_t seq)
{
    gen_override ov = {.set = GEN_OV_SEQ, .seq = seq};
    gen_send_ex(c, d, flags, len, dt, &ov);
}

static void send_ack(gen_conv *c, gen_dir d, uint16_t flags, uint32_t len, uint64_t dt,
                     uint32_t ack)
{
    gen_override ov = {.set = GEN_OV_ACK, .ack = ack};
    gen_send_ex(c, d, flags, len, dt, &ov);
}

/* SYN, SYN-ACK, ACK. */
static void handshake(gen_conv *c)
{
    gen_send(c, C2S, SYN, 0, 0);
    gen_send(c, S2C, SYN | ACK, 0, US(61.237));
    gen_send(c, C2S, ACK, 0, RTT);
}

/* A request, the server's ACK and a response the client acks. */
static void request(gen_conv *c, uint32_t req, uint32_t resp)
{
    gen_send(c, C2S, PSH | ACK, req, US(183.112));
    gen_send(c, S2C, ACK, 0, US(40.519));
    gen_send(c, S2C, PSH | ACK, resp, MS(1.208331));
    gen_send(c, C2S, ACK, 0, RTT + US(311.207));
}

/* Client FIN, server ACK, server FIN, client ACK: the client ends in TIME_WAIT. */
static void close_client(gen_conv *c)
{
    gen_send(c, C2S, FIN | ACK, 0, MS(2.514772));
    gen_send(c, S2C, ACK, 0, US(52.118));
    gen_send(c, S2C, FIN | ACK, 0, US(212.904));
    gen_send(c, C2S, ACK, 0, RTT);
}

/* Handshake, one request, client close. */
static void short_connection(gen_conv *c)
{
    handshake(c);
    request(c, 329, 417);
    close_client(c);
}

/* -------------------------------------------------- link types and formats */

static void link_sample(const char *name, gen_link link, unsigned flags, int with_ipv6)
{
    gen_file *f = open_pcap(name, link.linktype, flags);
    if (f == NULL) {
        return;
    }
    gen_conv c = link.linktype == DISSECT_LINK_IPV6 ? conv6(f, START) : conv4(f, START);
    c.link[C2S] = c.link[S2C] = link;
    if (link.encap == GEN_ENCAP_PPPOE) {
        c.mss = 1452; /* PPPoE MTU 1492 */
    }
    short_connection(&c);
    if (with_ipv6) {
        gen_conv c6 = conv6(f, c.now_ns + MS(1002.113527));
        c6.link[C2S] = c6.link[S2C] = link;
        short_connection(&c6);
    }
    finish(f, name);
}

static void link_samples(void)
{
    gen_link l = gen_link_of(DISSECT_LINK_ETHERNET);
    link_sample("link_ethernet.pcap", l, 0, 0);
    link_sample("pcap_nsec.pcap", l, GEN_NSEC, 0);
    link_sample("pcap_bigendian.pcap", l, GEN_BIG_ENDIAN, 0);

    l.vlan_count = 1;
    l.vlan_tpid[0] = 0x8100;
    l.vlan_id[0] = 100;
    link_sample("link_vlan.pcap", l, 0, 0);

    l.vlan_count = 2;
    l.vlan_tpid[0] = 0x88a8;
    l.vlan_id[0] = 200;
    l.vlan_tpid[1] = 0x8100;
    l.vlan_id[1] = 100;
    link_sample("link_qinq.pcap", l, 0, 0);

    l = gen_link_of(DISSECT_LINK_ETHERNET);
    l.encap = GEN_ENCAP_PPPOE;
    link_sample("link_pppoe.pcap", l, 0, 0);

    l = gen_link_of(DISSECT_LINK_ETHERNET);
    l.encap = GEN_ENCAP_MPLS;
    l.mpls_labels = 2;
    link_sample("link_mpls.pcap", l, 0, 0);

    link_sample("link_sll.pcap", gen_link_of(DISSECT_LINK_LINUX_SLL), 0, 0);
    link_sample("link_sll2.pcap", gen_link_of(DISSECT_LINK_LINUX_SLL2), 0, 0);
    link_sample("link_raw.pcap", gen_link_of(DISSECT_LINK_RAW), 0, 1);
    link_sample("link_ipv4.pcap", gen_link_of(DISSECT_LINK_IPV4), 0, 0);
    link_sample("link_ipv6.pcap", gen_link_of(DISSECT_LINK_IPV6), 0, 0);
    link_sample("link_loop.pcap", gen_link_of(DISSECT_LINK_LOOP), 0, 0);

    /* macOS writes AF_INET6 = 30; a big-endian OpenBSD/NetBSD host writes a
     * big-endian file whose AF (24 for IPv6) is big-endian too. */
    l = gen_link_of(DISSECT_LINK_NULL);
    l.af_inet6 = 30;
    link_sample("link_null.pcap", l, 0, 1);
    l.af_inet6 = 24;
    l.af_big_endian = 1;
    link_sample("link_null_swapped.pcap", l, GEN_BIG_ENDIAN, 1);
}

/* Issue 16: the link types beyond these, one file each. */
static void more_link_samples(void)
{
    static const struct {
        const char *name;
        uint32_t linktype;
    } more[] = {
        {"link_ppp.pcap", DISSECT_LINK_PPP},
        {"link_ppp_hdlc.pcap", DISSECT_LINK_PPP_HDLC},
        {"link_chdlc.pcap", DISSECT_LINK_C_HDLC},
        {"link_fddi.pcap", DISSECT_LINK_FDDI},
        {"link_80211.pcap", DISSECT_LINK_IEEE802_11},
        {"link_radiotap.pcap", DISSECT_LINK_RADIOTAP},
        {"link_nflog.pcap", DISSECT_LINK_NFLOG},
        {"link_ipoib.pcap", DISSECT_LINK_IPOIB},
        {"link_juniper.pcap", DISSECT_LINK_JUNIPER_ETHER},
    };
    for (size_t i = 0; i < sizeof more / sizeof more[0]; i++)
        link_sample(more[i].name, gen_link_of(more[i].linktype), 0, 1);
}

/* One short connection from client port `port` through `link` (the
 * server's packets with the tunnel's outer addresses swapped). */
static uint64_t through(gen_file *f, gen_link link, uint16_t port, uint64_t t0)
{
    gen_conv c = conv(f, "10.0.0.1", port, "10.0.0.2", 80, t0);
    c.link[C2S] = c.link[S2C] = link;
    c.link[S2C].tunnel_reverse = 1;
    short_connection(&c);
    return c.now_ns;
}

static gen_tunnel tunnel_of(gen_tun_kind kind, unsigned flags, uint32_t id)
{
    gen_tunnel t;
    memset(&t, 0, sizeof t);
    t.kind = kind;
    t.flags = flags;
    t.id = id;
    t.outer_version = 4;
    (void)gen_parse_ip("192.0.2.1", t.outer_src);
    (void)gen_parse_ip("192.0.2.2", t.outer_dst);
    return t;
}

/* tunnels.pcap: one connection per tunnel, the same inner addresses, client
 * ports 41000 + i; l2_headers.pcap: one per L2 header, ports 42000 + i. */
static void tunnel_samples(void)
{
    static gen_tunnel t[16];
    int n = 0;
    t[n++] = tunnel_of(GEN_TUN_GRE, GEN_TUN_KEY | GEN_TUN_SEQ, 7);
    t[n++] = tunnel_of(GEN_TUN_GRE_TEB, 0, 0);
    t[n++] = tunnel_of(GEN_TUN_ERSPAN1, 0, 0);
    t[n++] = tunnel_of(GEN_TUN_ERSPAN2, 0, 12);
    t[n++] = tunnel_of(GEN_TUN_ERSPAN3, GEN_TUN_OPTIONS, 13);
    t[n++] = tunnel_of(GEN_TUN_PPTP, GEN_TUN_PFC, 0x4242);
    t[n++] = tunnel_of(GEN_TUN_ARUBA, 0, 0);
    t[n++] = tunnel_of(GEN_TUN_VXLAN, 0, 42);
    t[n++] = tunnel_of(GEN_TUN_GENEVE, GEN_TUN_OPTIONS, 11);
    t[n++] = tunnel_of(GEN_TUN_GTPU, GEN_TUN_OPTIONS, 0x1234);
    t[n++] = tunnel_of(GEN_TUN_IPIP, 0, 0);
    t[n++] = tunnel_of(GEN_TUN_MPLS_PW, GEN_TUN_CW, 100);
    t[n] = tunnel_of(GEN_TUN_VXLAN, 0, 5001); /* GRE carrying VXLAN */
    t[n + 1] = tunnel_of(GEN_TUN_GRE, 0, 0);
    t[n + 1].inner = &t[n];
    n += 2;
    const char *name = "tunnels.pcap";
    gen_file *f = open_pcap_snaplen(name, DISSECT_LINK_ETHERNET, 256, 0);
    if (f == NULL)
        return;
    uint64_t at = START;
    for (int i = 0; i < n; i++) {
        if (i == n - 2)
            continue; /* the inner half of the nested pair */
        gen_link l = gen_link_of(DISSECT_LINK_ETHERNET);
        l.tunnel = &t[i];
        at = through(f, l, (uint16_t)(41000 + i), at + MS(100));
    }
    finish(f, name);

    static const gen_encap l2[] = {GEN_ENCAP_PBB,        GEN_ENCAP_VNTAG, GEN_ENCAP_ETAG,
                                   GEN_ENCAP_FABRICPATH, GEN_ENCAP_LLC,   GEN_ENCAP_PPPOE_PFC};
    name = "l2_headers.pcap";
    f = open_pcap_snaplen(name, DISSECT_LINK_ETHERNET, 256, 0);
    if (f == NULL)
        return;
    at = START;
    for (size_t i = 0; i < sizeof l2 / sizeof l2[0]; i++) {
        gen_link l = gen_link_of(DISSECT_LINK_ETHERNET);
        l.encap = l2[i];
        at = through(f, l, (uint16_t)(42000 + i), at + MS(100));
    }
    finish(f, name);
}

/* Client packets on eth0 (Ethernet, microseconds), server packets on tun0
 * (raw IP, nanoseconds): the two IDBs have different link types. */
static void two_interfaces(void)
{
    const char *name = "two_interfaces.pcapng";
    const char *path = path_of(name);
    gen_file *f = path ? gen_open_pcapng(path, SNAPLEN) : NULL;
    if (f == NULL) {
        failures++;
        return;
    }
    int eth = gen_add_interface(f, DISSECT_LINK_ETHERNET, 6, "eth0");
    int raw = gen_add_interface(f, DISSECT_LINK_RAW, 9, "tun0");
    gen_conv c = conv4(f, START);
    c.iface[C2S] = (uint32_t)eth;
    c.link[C2S] = gen_link_of(DISSECT_LINK_ETHERNET);
    c.iface[S2C] = (uint32_t)raw;
    c.link[S2C] = gen_link_of(DISSECT_LINK_RAW);
    short_connection(&c);
    finish(f, name);
}

/* Everything synfin must count and skip, around one TCP connection. */
static void mixed_nontcp(void)
{
    static uint8_t frame[GEN_MAX_FRAME];
    const char *name = "mixed_nontcp.pcap";
    gen_file *f = open_eth(name);
    if (f == NULL) {
        return;
    }
    gen_link eth = gen_link_of(DISSECT_LINK_ETHERNET);
    uint8_t client[16], server[16], dns[16], gw[16], other[16];
    gen_parse_ip("10.0.0.1", client);
    gen_parse_ip("10.0.0.2", server);
    gen_parse_ip("10.0.0.53", dns);
    gen_parse_ip("10.0.0.254", gw);
    gen_parse_ip("10.0.0.7", other);

    /* ARP request: not IP. */
    size_t n = gen_build_arp(client, gw, frame);
    gen_write(f, 0, START, frame, (uint32_t)n, (uint32_t)n);

    /* A DNS query over UDP: not TCP. */
    gen_pkt p = gen_pkt_default();
    memcpy(p.src, client, 16);
    memcpy(p.dst, dns, 16);
    p.proto = 17;
    p.ip_id = 0x3c21;
    p.sport = 53124;
    p.dport = 53;
    p.payload_len = 33;
    n = gen_build(&eth, &p, frame, sizeof frame);
    gen_write(f, 0, START + US(1130.552), frame, (uint32_t)n, (uint32_t)n);

    /* ICMP echo request, 56 bytes of data as ping sends: not TCP. */
    p = gen_pkt_default();
    memcpy(p.src, client, 16);
    memcpy(p.dst, server, 16);
    p.proto = 1;
    p.ip_id = 0x9a0e;
    p.sport = 0x1c2d; /* identifier */
    p.dport = 1;      /* sequence */
    p.payload_len = 56;
    n = gen_build(&eth, &p, frame, sizeof frame);
    gen_write(f, 0, START + MS(3.004717), frame, (uint32_t)n, (uint32_t)n);

    /* The second fragment of a large TCP segment: offset 1480, no TCP header. */
    p = gen_pkt_default();
    memcpy(p.src, other, 16);
    memcpy(p.dst, server, 16);
    p.ip_id = 0x51f3;
    p.frag_offset = 1480 / 8;
    p.payload_len = 520;
    n = gen_build(&eth, &p, frame, sizeof frame);
    gen_write(f, 0, START + MS(5.377190), frame, (uint32_t)n, (uint32_t)n);

    /* A SYN cut 40 bytes in (-s 40): 6 of its 40 TCP header bytes captured. */
    p = gen_pkt_default();
    gen_parse_ip("10.0.0.6", p.src);
    memcpy(p.dst, server, 16);
    p.ip_id = 0x0b7d;
    p.sport = 41000;
    p.dport = 80;
    p.seq = 0x2e1b7c40;
    p.flags = SYN;
    p.window = 64240;
    p.mss = 1460;
    p.sack_perm = 1;
    p.timestamps = 1;
    p.ts_val = 3102558812u;
    p.wscale = 7;
    n = gen_build(&eth, &p, frame, sizeof frame);
    gen_write(f, 0, START + MS(7.918342), frame, 40, (uint32_t)n);

    gen_conv c = conv4(f, START + MS(2.051337));
    short_connection(&c);
    finish(f, name);
}

/* -------------------------------------------------------------- handshakes */

static void handshake_complete(void)
{
    gen_file *f = open_eth("handshake_complete.pcap");
    if (f == NULL) {
        return;
    }
    gen_conv c = conv4(f, START);
    handshake(&c);
    request(&c, 329, 417);
    request(&c, 301, 862);
    finish(f, "handshake_complete.pcap");
}

/* Linux retransmits an unanswered SYN after 1 s, then 2 s later. */
static void handshake_syn_only(void)
{
    gen_file *f = open_eth("handshake_syn_only.pcap");
    if (f == NULL) {
        return;
    }
    gen_conv c = conv4(f, START);
    uint32_t isn = c.isn[C2S];
    gen_send(&c, C2S, SYN, 0, 0);
    send_seq(&c, C2S, SYN, 0, SEC(1) + US(3.117), isn);
    send_seq(&c, C2S, SYN, 0, SEC(2) + US(4.901), isn);
    finish(f, "handshake_syn_only.pcap");
}

/* The client's ACK never comes; the server retransmits its SYN-ACK after 1 s. */
static void handshake_no_ack(void)
{
    gen_file *f = open_eth("handshake_no_ack.pcap");
    if (f == NULL) {
        return;
    }
    gen_conv c = conv4(f, START);
    gen_send(&c, C2S, SYN, 0, 0);
    gen_send(&c, S2C, SYN | ACK, 0, US(61.237));
    send_seq(&c, S2C, SYN | ACK, 0, SEC(1) + US(8.342), c.isn[S2C]);
    finish(f, "handshake_no_ack.pcap");
}

/* Nothing listens: RST+ACK with seq 0 acking the SYN, as Linux sends it. */
static void handshake_refused(void)
{
    gen_file *f = open_eth("handshake_refused.pcap");
    if (f == NULL) {
        return;
    }
    gen_conv c = conv4(f, START);
    gen_send(&c, C2S, SYN, 0, 0);
    send_seq(&c, S2C, RST | ACK, 0, US(44.806), 0);
    finish(f, "handshake_refused.pcap");
}

/* Both SYNs cross (peer-to-peer, NAT traversal), then both SYN-ACKs; the
 * capture is half way, 5 ms from the server. */
static void simultaneous_open(void)
{
    gen_file *f = open_eth("simultaneous_open.pcap");
    if (f == NULL) {
        return;
    }
    gen_conv c = conv(f, "10.0.0.1", 40000, "10.0.0.2", 50000, START);
    uint32_t cisn = c.isn[C2S], sisn = c.isn[S2C];
    gen_send(&c, C2S, SYN, 0, 0);
    gen_send(&c, S2C, SYN, 0, MS(2.173904));
    send_seq(&c, C2S, SYN | ACK, 0, MS(9.802211), cisn);
    send_seq(&c, S2C, SYN | ACK, 0, MS(0.412877), sisn);
    gen_send(&c, C2S, PSH | ACK, 329, MS(9.990102));
    gen_send(&c, S2C, ACK, 0, MS(0.396420));
    gen_send(&c, S2C, PSH | ACK, 417, MS(1.208331));
    gen_send(&c, C2S, ACK, 0, MS(10.311207));
    close_client(&c);
    finish(f, "simultaneous_open.pcap");
}

/* The capture starts on an established connection. */
static void midstream(void)
{
    gen_file *f = open_eth("midstream.pcap");
    if (f == NULL) {
        return;
    }
    gen_conv c = conv4(f, START);
    request(&c, 329, 417);
    request(&c, 301, 862);
    close_client(&c);
    finish(f, "midstream.pcap");
}

/* ------------------------------------------------------------------ closes */

static void close_client_sample(void)
{
    gen_file *f = open_eth("close_client.pcap");
    if (f == NULL) {
        return;
    }
    gen_conv c = conv4(f, START);
    short_connection(&c);
    finish(f, "close_client.pcap");
}

/* Server FIN, client ACK, client FIN, server ACK: the server ends in TIME_WAIT. */
static void close_server(void)
{
    gen_file *f = open_eth("close_server.pcap");
    if (f == NULL) {
        return;
    }
    gen_conv c = conv4(f, START);
    handshake(&c);
    gen_send(&c, C2S, PSH | ACK, 329, US(183.112));
    gen_send(&c, S2C, ACK, 0, US(40.519));
    gen_send(&c, S2C, PSH | ACK, 417, MS(1.208331));
    gen_send(&c, S2C, FIN | ACK, 0, US(78.455));
    gen_send(&c, C2S, ACK, 0, RTT);
    gen_send(&c, C2S, FIN | ACK, 0, US(151.620));
    gen_send(&c, S2C, ACK, 0, US(41.973));
    finish(f, "close_server.pcap");
}

/* FIN, FIN+ACK, ACK. */
static void close_three_way(void)
{
    gen_file *f = open_eth("close_three_way.pcap");
    if (f == NULL) {
        return;
    }
    gen_conv c = conv4(f, START);
    handshake(&c);
    request(&c, 329, 417);
    gen_send(&c, C2S, FIN | ACK, 0, MS(2.514772));
    gen_send(&c, S2C, FIN | ACK, 0, US(97.284));
    gen_send(&c, C2S, ACK, 0, RTT);
    finish(f, "close_three_way.pcap");
}

/* Both FINs on the wire at once, capture half way: each side's FIN does
 * not ack the other's; Linux answers each with a pure ACK. */
static void crossed_fins(void)
{
    gen_file *f = open_eth("crossed_fins.pcap");
    if (f == NULL) {
        return;
    }
    gen_conv c = conv4(f, START);
    handshake(&c);
    request(&c, 329, 417);
    uint32_t cfin = c.nxt[C2S];
    gen_send(&c, C2S, FIN | ACK, 0, MS(2.514772));
    send_ack(&c, S2C, FIN | ACK, 0, MS(1.902336), cfin);
    gen_send(&c, C2S, ACK, 0, MS(10.117583));
    gen_send(&c, S2C, ACK, 0, US(311.452));
    finish(f, "crossed_fins.pcap");
}

/* Crossed FINs as BSD and macOS answer them (Zeek's ssh.pcap): FIN, FIN,
 * FIN+ACK (the client's FIN again, now acking the server's), ACK, ACK. */
static void crossed_fins_bsd(void)
{
    gen_file *f = open_eth("crossed_fins_bsd.pcap");
    if (f == NULL) {
        return;
    }
    gen_conv c = conv4(f, START);
    handshake(&c);
    request(&c, 329, 417);
    uint32_t cfin = c.nxt[C2S];
    gen_send(&c, C2S, FIN | ACK, 0, MS(2.514772));
    send_ack(&c, S2C, FIN | ACK, 0, MS(1.902336), cfin);
    send_seq(&c, C2S, FIN | ACK, 0, MS(10.117583), cfin);
    gen_send(&c, S2C, ACK, 0, US(311.452));
    gen_send(&c, C2S, ACK, 0, MS(10.406219));
    finish(f, "crossed_fins_bsd.pcap");
}

/* The client's FIN is lost after the capture point (near the client): the
 * server closes on its own, the client acks that FIN with a pure ACK, then
 * retransmits its own FIN after 200 ms, which the server acks. */
static void fin_lost(void)
{
    gen_file *f = open_eth("fin_lost.pcap");
    if (f == NULL) {
        return;
    }
    gen_conv c = conv4(f, START);
    handshake(&c);
    request(&c, 329, 417);
    uint32_t cfin = c.nxt[C2S];
    uint64_t t_fin;
    gen_send(&c, C2S, FIN | ACK, 0, MS(2.514772));
    t_fin = c.now_ns;
    send_ack(&c, S2C, FIN | ACK, 0, MS(4.771904), cfin);
    gen_send(&c, C2S, ACK, 0, US(68.245));
    send_seq(&c, C2S, FIN | ACK, 0, t_fin + MS(200) + US(1.388) - c.now_ns, cfin);
    gen_send(&c, S2C, ACK, 0, RTT);
    finish(f, "fin_lost.pcap");
}

/* The client shuts down its sending side; the server goes on sending
 * (CLOSE_WAIT), then closes. */
static void half_close(void)
{
    gen_file *f = open_eth("half_close.pcap");
    if (f == NULL) {
        return;
    }
    gen_conv c = conv4(f, START);
    handshake(&c);
    gen_send(&c, C2S, PSH | ACK, 329, US(183.112));
    gen_send(&c, C2S, FIN | ACK, 0, US(21.604));
    gen_send(&c, S2C, ACK, 0, US(40.519));
    for (int i = 0; i < 3; i++) {
        gen_send(&c, S2C, PSH | ACK, 1448, MS(1.208331));
        gen_send(&c, C2S, ACK, 0, RTT + US(97.3 * i));
    }
    gen_send(&c, S2C, FIN | ACK, 0, MS(3.771610));
    gen_send(&c, C2S, ACK, 0, RTT);
    finish(f, "half_close.pcap");
}

static void rst_sample(const char *name, gen_dir who)
{
    gen_file *f = open_eth(name);
    if (f == NULL) {
        return;
    }
    gen_conv c = conv4(f, START);
    handshake(&c);
    request(&c, 329, 417);
    gen_send(&c, who, RST | ACK, 0, MS(4.806199));
    finish(f, name);
}

/* A blind reset, 2^30 away from anything in the window: ignored. */
static void rst_out_of_window(void)
{
    gen_file *f = open_eth("rst_out_of_window.pcap");
    if (f == NULL) {
        return;
    }
    gen_conv c = conv4(f, START);
    handshake(&c);
    request(&c, 329, 417);
    send_seq(&c, S2C, RST, 0, MS(812.440561), c.nxt[S2C] + 0x40000000u);
    request(&c, 301, 862);
    close_client(&c);
    finish(f, "rst_out_of_window.pcap");
}

/* The server's packets have TTL 64; an in-window RST in its name arrives
 * with TTL 50: a middlebox's forged reset (it still closes). */
static void rst_ttl_changed(void)
{
    gen_file *f = open_eth("rst_ttl_changed.pcap");
    if (f == NULL) {
        return;
    }
    gen_conv c = conv4(f, START);
    c.ttl[C2S] = 57;
    c.ttl[S2C] = 64;
    handshake(&c);
    request(&c, 329, 417);
    gen_override ov = {.set = GEN_OV_TTL, .ttl = 50};
    gen_send_ex(&c, S2C, RST | ACK, 0, MS(35.107226), &ov);
    finish(f, "rst_ttl_changed.pcap");
}

/* --------------------------------------------------------------- TIME_WAIT */

/* An unrelated short connection from 10.0.0.3 starting at `t0`, so that the
 * capture goes on. */
static void unrelated(gen_file *f, uint64_t t0)
{
    gen_conv o = conv(f, "10.0.0.3", 40001, "10.0.0.2", 80, t0);
    short_connection(&o);
}

/* TIME_WAIT runs its 60 s inside the capture. */
static void tw_expired(void)
{
    gen_file *f = open_eth("tw_expired.pcap");
    if (f == NULL) {
        return;
    }
    gen_conv c = conv4(f, START);
    handshake(&c);
    request(&c, 329, 417);
    gen_send(&c, C2S, FIN | ACK, 0, MS(2.514772));
    gen_send(&c, S2C, ACK, 0, US(52.118));
    gen_send(&c, S2C, FIN | ACK, 0, US(212.904));
    uint64_t tw_start = c.now_ns;
    gen_send(&c, C2S, ACK, 0, RTT);
    unrelated(f, tw_start + SEC(70));
    finish(f, "tw_expired.pcap");
}

/* 5 s into the client's TIME_WAIT, the client connects again from the same
 * port with a new ISN (tcp_tw_reuse): a second instance. */
static void tw_reused(void)
{
    gen_file *f = open_eth("tw_reused.pcap");
    if (f == NULL) {
        return;
    }
    gen_conv c = conv4(f, START);
    handshake(&c);
    request(&c, 329, 417);
    gen_send(&c, C2S, FIN | ACK, 0, MS(2.514772));
    gen_send(&c, S2C, ACK, 0, US(52.118));
    gen_send(&c, S2C, FIN | ACK, 0, US(212.904));
    uint64_t tw_start = c.now_ns;
    gen_send(&c, C2S, ACK, 0, RTT);
    gen_conv_isn(&c, c.isn[C2S] + 0x1d3a6f00u, c.isn[S2C] ^ 0x5a5a5a5au);
    gen_send(&c, C2S, SYN, 0, tw_start + SEC(5) - c.now_ns);
    gen_send(&c, S2C, SYN | ACK, 0, US(61.237));
    gen_send(&c, C2S, ACK, 0, RTT);
    request(&c, 301, 862);
    close_client(&c);
    finish(f, "tw_reused.pcap");
}

/* The client's last ACK is lost beyond the capture point: 20 s later the
 * server retransmits its FIN, the client acks it again and its TIME_WAIT
 * restarts; the capture runs to +90 s. */
static void tw_restarted(void)
{
    gen_file *f = open_eth("tw_restarted.pcap");
    if (f == NULL) {
        return;
    }
    gen_conv c = conv4(f, START);
    handshake(&c);
    request(&c, 329, 417);
    gen_send(&c, C2S, FIN | ACK, 0, MS(2.514772));
    gen_send(&c, S2C, ACK, 0, US(52.118));
    uint32_t sfin = c.nxt[S2C];
    gen_send(&c, S2C, FIN | ACK, 0, US(212.904));
    uint64_t tw_start = c.now_ns;
    gen_send(&c, C2S, ACK, 0, RTT);
    send_seq(&c, S2C, FIN | ACK, 0, tw_start + SEC(20) - c.now_ns, sfin);
    gen_send(&c, C2S, ACK, 0, RTT);
    unrelated(f, tw_start + SEC(89));
    finish(f, "tw_restarted.pcap");
}

/* ---------------------------------------------------------- other details */

/* Both ISNs just below 2^32: data and FINs wrap. */
static void seq_wrap(void)
{
    gen_file *f = open_eth("seq_wrap.pcap");
    if (f == NULL) {
        return;
    }
    gen_conv c = conv4(f, START);
    gen_conv_isn(&c, 0xffffff38u, 0xfffffe80u);
    handshake(&c);
    request(&c, 329, 417);
    request(&c, 301, 862);
    close_client(&c);
    finish(f, "seq_wrap.pcap");
}

static void ipv6_close(void)
{
    gen_file *f = open_eth("ipv6_close.pcap");
    if (f == NULL) {
        return;
    }
    gen_conv c = conv6(f, START);
    short_connection(&c);
    finish(f, "ipv6_close.pcap");
}

static void vlan_close(void)
{
    gen_file *f = open_eth("vlan_close.pcap");
    if (f == NULL) {
        return;
    }
    gen_conv c = conv4(f, START);
    c.link[C2S].vlan_count = c.link[S2C].vlan_count = 1;
    c.link[C2S].vlan_tpid[0] = c.link[S2C].vlan_tpid[0] = 0x8100;
    c.link[C2S].vlan_id[0] = c.link[S2C].vlan_id[0] = 10;
    short_connection(&c);
    finish(f, "vlan_close.pcap");
}

/* TCP Fast Open: 100 bytes on the SYN, which the SYN-ACK acks. */
static void syn_with_data(void)
{
    gen_file *f = open_eth("syn_with_data.pcap");
    if (f == NULL) {
        return;
    }
    gen_conv c = conv4(f, START);
    gen_send(&c, C2S, SYN, 100, 0);
    gen_send(&c, S2C, SYN | ACK, 0, US(61.237));
    gen_send(&c, S2C, PSH | ACK, 417, MS(1.208331));
    gen_send(&c, C2S, ACK, 0, RTT);
    close_client(&c);
    finish(f, "syn_with_data.pcap");
}

/* After its FIN the client sends 100 more bytes (beyond the FIN). */
static void data_after_fin(void)
{
    gen_file *f = open_eth("data_after_fin.pcap");
    if (f == NULL) {
        return;
    }
    gen_conv c = conv4(f, START);
    handshake(&c);
    request(&c, 329, 417);
    gen_send(&c, C2S, FIN | ACK, 0, MS(2.514772));
    gen_send(&c, S2C, ACK, 0, US(52.118));
    gen_send(&c, C2S, PSH | ACK, 100, MS(1.917334));
    gen_send(&c, S2C, ACK, 0, US(48.760));
    gen_send(&c, S2C, FIN | ACK, 0, US(190.215));
    gen_send(&c, C2S, ACK, 0, RTT);
    finish(f, "data_after_fin.pcap");
}

/* ------------------------------------------- resets and aborts (RFC 5961) */

/* The client aborts (RST+ACK at its snd_nxt) just after a 10-byte segment
 * that was lost before the capture point: the RST lands 10 bytes past the
 * server's rcv_nxt, inside its window, and is only challenged. The server's
 * challenge ACK (ack = rcv_nxt) reaches the client, CLOSED by now, which
 * answers it with an RST at exactly that ACK field: that one resets. */
static void rst_challenged(void)
{
    gen_file *f = open_eth("rst_challenged.pcap");
    if (f == NULL) {
        return;
    }
    gen_conv c = conv4(f, START);
    handshake(&c);
    request(&c, 329, 417);
    uint32_t rcv_nxt = c.nxt[C2S];
    c.nxt[C2S] += 10; /* the lost segment */
    gen_send(&c, C2S, RST | ACK, 0, MS(812.440561));
    send_ack(&c, S2C, ACK, 0, US(38.207), rcv_nxt); /* the challenge ACK */
    send_seq(&c, C2S, RST, 0, RTT, rcv_nxt);
    finish(f, "rst_challenged.pcap");
}

/* IMAP (port 143): the server sends its last data with its FIN; the client
 * acks, sends a 31-byte command and its FIN; the server, which had closed
 * its socket, answers the data with an RST at its snd_nxt (Linux's
 * TCPAbortOnData): it went CLOSED at the data, never into TIME_WAIT. */
static void aborted_on_data(void)
{
    gen_file *f = open_eth("aborted_on_data.pcap");
    if (f == NULL) {
        return;
    }
    gen_conv c = conv(f, "10.0.0.1", 40000, "10.0.0.2", 143, START);
    handshake(&c);
    request(&c, 329, 417);
    gen_send(&c, S2C, FIN | PSH | ACK, 40, SEC(1) + MS(204.118734));
    gen_send(&c, C2S, ACK, 0, RTT);
    gen_send(&c, C2S, PSH | ACK, 31, MS(9.880127));
    gen_send(&c, C2S, FIN | ACK, 0, US(1.544));
    gen_send(&c, S2C, RST, 0, US(27.310));
    finish(f, "aborted_on_data.pcap");
}

/* ---------------------------------------------------------- handshake credit */

/* TCP Fast Open: 100 bytes on the SYN; the server's SYN-ACK, its response
 * and its FIN all leave before the client's ACK (HTTP/1.0 over TFO); that
 * ACK completes the handshake; then the client closes too. */
static void fast_open_server_fin(void)
{
    gen_file *f = open_eth("fast_open_server_fin.pcap");
    if (f == NULL) {
        return;
    }
    gen_conv c = conv4(f, START);
    gen_send(&c, C2S, SYN, 100, 0);
    gen_send(&c, S2C, SYN | ACK, 0, US(61.237));
    gen_send(&c, S2C, PSH | ACK, 417, MS(1.208331));
    gen_send(&c, S2C, FIN | ACK, 0, US(78.455));
    gen_send(&c, C2S, ACK, 0, RTT);
    gen_send(&c, C2S, FIN | ACK, 0, US(151.620));
    gen_send(&c, S2C, ACK, 0, US(41.973));
    finish(f, "fast_open_server_fin.pcap");
}

/* A multi-queue capture: the SYN (received on one queue) is written after
 * the SYN-ACK (sent from another), though its timestamp is 61 us earlier.
 * The SYN-ACK acks ISN + 1 of the SYN that follows it. */
static void synack_before_syn(void)
{
    gen_file *f = open_pcap("synack_before_syn.pcap", DISSECT_LINK_ETHERNET, GEN_KEEP_ORDER);
    if (f == NULL) {
        return;
    }
    gen_conv c = conv4(f, START);
    uint32_t cisn = c.isn[C2S];
    c.nxt[C2S] = cisn + 1;
    gen_send(&c, S2C, SYN | ACK, 0, US(61.237));
    c.now_ns = START; /* the SYN, stamped earlier, written later */
    send_seq(&c, C2S, SYN, 0, 0, cisn);
    gen_send(&c, C2S, ACK, 0, US(61.237) + RTT);
    request(&c, 329, 417);
    close_client(&c);
    finish(f, "synack_before_syn.pcap");
}

/* The server still holds an older connection on the 4-tuple: it answers
 * the SYN with a bare ACK of that connection (RFC 5961 4.2); the client
 * answers with an RST whose sequence number is that ACK field (RFC 793's
 * reply), which clears the old connection; the client's SYN, sent again
 * 1 s later, gets its SYN-ACK. */
static void handshake_old_ack(void)
{
    gen_file *f = open_eth("handshake_old_ack.pcap");
    if (f == NULL) {
        return;
    }
    gen_conv c = conv4(f, START);
    uint32_t cisn = c.isn[C2S];
    uint32_t snxt = c.nxt[S2C];
    uint32_t old_seq = c.isn[S2C] - 0x2f1a7c3bu, old_ack = cisn - 0x1b22e8a9u;
    gen_send(&c, C2S, SYN, 0, 0);
    gen_override ov = {.set = GEN_OV_SEQ | GEN_OV_ACK, .seq = old_seq, .ack = old_ack};
    gen_send_ex(&c, S2C, ACK, 0, US(48.921), &ov);
    c.nxt[S2C] = snxt;
    send_seq(&c, C2S, RST, 0, RTT, old_ack);
    send_seq(&c, C2S, SYN, 0, SEC(1) + US(3.117) - RTT, cisn);
    gen_send(&c, S2C, SYN | ACK, 0, US(61.237));
    gen_send(&c, C2S, ACK, 0, RTT);
    request(&c, 329, 417);
    close_client(&c);
    finish(f, "handshake_old_ack.pcap");
}

/* The split handshake (Beardsley's): SYN; the server acks it with a bare
 * ACK, then sends a SYN of its own; the client answers with a SYN-ACK, the
 * server acks. */
static void split_handshake(void)
{
    gen_file *f = open_eth("split_handshake.pcap");
    if (f == NULL) {
        return;
    }
    gen_conv c = conv4(f, START);
    uint32_t cisn = c.isn[C2S], sisn = c.isn[S2C];
    gen_send(&c, C2S, SYN, 0, 0);
    send_seq(&c, S2C, ACK, 0, US(52.904), sisn);
    gen_send(&c, S2C, SYN, 0, US(8.117));
    send_seq(&c, C2S, SYN | ACK, 0, RTT, cisn);
    gen_send(&c, S2C, ACK, 0, US(41.306));
    request(&c, 329, 417);
    close_client(&c);
    finish(f, "split_handshake.pcap");
}

/* SMTP (port 25, the server speaks first): the server's accept queue is
 * full, so it drops the client's handshake ACK and sends its SYN-ACK again
 * (same ISN) 1 s later; the client acks it again and waits for a banner
 * that has not come when the capture ends. */
static void accept_queue_overflow(void)
{
    gen_file *f = open_eth("accept_queue_overflow.pcap");
    if (f == NULL) {
        return;
    }
    gen_conv c = conv(f, "10.0.0.1", 40000, "10.0.0.2", 25, START);
    handshake(&c);
    send_seq(&c, S2C, SYN | ACK, 0, SEC(1) + US(8.342) - RTT, c.isn[S2C]);
    gen_send(&c, C2S, ACK, 0, RTT);
    finish(f, "accept_queue_overflow.pcap");
}

/* ------------------------------------------------ timers the wire hides */

/* A lone SYN nobody answers; 5 s later an unrelated connection keeps the
 * capture going: no retransmission came within 2.25 s, the client gave up. */
static void syn_gave_up(void)
{
    gen_file *f = open_eth("syn_gave_up.pcap");
    if (f == NULL) {
        return;
    }
    gen_conv c = conv4(f, START);
    gen_send(&c, C2S, SYN, 0, 0);
    unrelated(f, START + SEC(5) + MS(40.733196));
    finish(f, "syn_gave_up.pcap");
}

/*
 * Three hosts behind one NAT address, 203.0.113.7 (issue 13, finding 9),
 * each with its own TCP timestamp clock (TSval A 2,000,000,000, B
 * 1,000,000, C 1,000,000,000 at the start, 1 ms ticks), to a server
 * running tcp_tw_recycle: A connects and closes; B's SYN 1 s later is
 * behind A's timestamp and gets no answer, nor do its retransmissions after
 * 1 and 2 s more; C's SYN at 5 s is ahead of B's but behind A's: no answer,
 * nor its retransmission; A again at 8 s is answered. At 70 s, more than
 * 60 s after A's last SYN, B is answered. The NAT gives each connection its
 * own port, 40000 to 40004.
 */
static gen_conv nat_conv(gen_file *f, uint16_t port, uint64_t at, uint32_t tsval)
{
    gen_conv c = conv(f, "203.0.113.7", port, "10.0.0.2", 80, START + at);
    /* TSval = ts_base + ms since the epoch: tsval at the start. */
    c.ts_base[C2S] = tsval - (uint32_t)(START / GEN_NS_PER_MS);
    return c;
}

static void nat_timestamps(void)
{
    gen_file *f = open_eth("nat_timestamps.pcap");
    if (f == NULL) {
        return;
    }
    const uint32_t TS_A = 2000000000u, TS_B = 1000000u, TS_C = 1000000000u;
    gen_conv a = nat_conv(f, 40000, 0, TS_A);
    short_connection(&a);
    gen_conv b = nat_conv(f, 40001, SEC(1), TS_B);
    gen_send(&b, C2S, SYN, 0, 0);
    send_seq(&b, C2S, SYN, 0, SEC(1) + US(2.417), b.isn[C2S]);
    send_seq(&b, C2S, SYN, 0, SEC(2) + US(4.113), b.isn[C2S]);
    gen_conv c = nat_conv(f, 40002, SEC(5), TS_C);
    gen_send(&c, C2S, SYN, 0, 0);
    send_seq(&c, C2S, SYN, 0, SEC(1) + US(3.861), c.isn[C2S]);
    gen_conv a2 = nat_conv(f, 40003, SEC(8), TS_A);
    short_connection(&a2);
    gen_conv b2 = nat_conv(f, 40004, SEC(70), TS_B);
    short_connection(&b2);
    finish(f, "nat_timestamps.pcap");
}

/* An idle connection kept alive (issue 13): the client probes as Linux does
 * (no payload at snd_nxt - 1) after 75 s of silence, twice, each answered
 * by the server's pure ACK; then the server probes as Windows does (one
 * garbage byte at snd_nxt - 1) after 45 s; a request and a client close. */
static void keepalive(void)
{
    gen_file *f = open_eth("keepalive.pcap");
    if (f == NULL) {
        return;
    }
    gen_conv c = conv4(f, START);
    handshake(&c);
    request(&c, 329, 417);
    for (int i = 0; i < 2; i++) {
        send_seq(&c, C2S, ACK, 0, SEC(75) + MS(0.418207), c.nxt[C2S] - 1);
        gen_send(&c, S2C, ACK, 0, RTT);
    }
    send_seq(&c, S2C, ACK, 1, SEC(45) + MS(2.3), c.nxt[S2C] - 1);
    gen_send(&c, C2S, ACK, 0, RTT);
    request(&c, 120, 240);
    close_client(&c);
    finish(f, "keepalive.pcap");
}

/* The server closes (keep-alive timeout), the client acks its FIN but never
 * closes (CLOSE_WAIT); the connection stays silent; 70 s later an unrelated
 * connection: the server's orphaned FIN_WAIT2 was dropped after 60 s. */
static void fin_wait2_orphan(void)
{
    gen_file *f = open_eth("fin_wait2_orphan.pcap");
    if (f == NULL) {
        return;
    }
    gen_conv c = conv4(f, START);
    handshake(&c);
    request(&c, 329, 417);
    gen_send(&c, S2C, FIN | ACK, 0, SEC(5) + MS(1.778120));
    uint64_t t_fin = c.now_ns;
    gen_send(&c, C2S, ACK, 0, RTT);
    unrelated(f, t_fin + SEC(70));
    finish(f, "fin_wait2_orphan.pcap");
}

/* Client close whose server FIN is lost after the capture point: the
 * server sends it again 200 ms later, before anything acked it; the client's
 * TIME_WAIT starts at the second (the one it got) and expires 60 s after it,
 * inside the capture (an unrelated connection at +89 s). */
static void tw_fin_delivered(void)
{
    gen_file *f = open_eth("tw_fin_delivered.pcap");
    if (f == NULL) {
        return;
    }
    gen_conv c = conv4(f, START);
    handshake(&c);
    request(&c, 329, 417);
    gen_send(&c, C2S, FIN | ACK, 0, MS(2.514772));
    gen_send(&c, S2C, ACK, 0, US(52.118));
    uint32_t sfin = c.nxt[S2C];
    gen_send(&c, S2C, FIN | ACK, 0, US(212.904));
    send_seq(&c, S2C, FIN | ACK, 0, MS(200) + US(2.617), sfin);
    uint64_t t_fin = c.now_ns;
    gen_send(&c, C2S, ACK, 0, RTT);
    unrelated(f, t_fin + SEC(89));
    finish(f, "tw_fin_delivered.pcap");
}

/* The server closes first; the client's FIN crosses it (it does not ack the
 * server's FIN) and is lost after the capture point; the client acks the
 * server's FIN with a pure ACK and sends its FIN again 270 ms later, which
 * the server acks. Only the client passes through CLOSING. */
static void second_fin_lost(void)
{
    gen_file *f = open_eth("second_fin_lost.pcap");
    if (f == NULL) {
        return;
    }
    gen_conv c = conv4(f, START);
    handshake(&c);
    request(&c, 329, 417);
    uint32_t sfin = c.nxt[S2C];
    gen_send(&c, S2C, FIN | ACK, 0, MS(4.806199));
    uint32_t cfin = c.nxt[C2S];
    send_ack(&c, C2S, FIN | ACK, 0, MS(9.117302), sfin);
    gen_send(&c, C2S, ACK, 0, RTT - MS(9.117302));
    send_seq(&c, C2S, FIN | ACK, 0, MS(270) + US(3.901), cfin);
    gen_send(&c, S2C, ACK, 0, US(41.973));
    finish(f, "second_fin_lost.pcap");
}

/* ---------------------------------------------------------- capture quirks */

/* The capturing host's clock stepped back by three years between two
 * connections (written in file order): 10.0.0.1:40001 dated 2026-11-13,
 * then 10.0.0.1:40002 dated 2023-11-14 and, 70 s after its close, a SYN
 * from 10.0.0.3:40001 to port 8080, refused, so that both TIME_WAITs run
 * out inside the capture. */
static void clock_step_back(void)
{
    gen_file *f = open_pcap("clock_step_back.pcap", DISSECT_LINK_ETHERNET, GEN_KEEP_ORDER);
    if (f == NULL) {
        return;
    }
    gen_conv a = conv(f, "10.0.0.1", 40001, "10.0.0.2", 80, START + SEC(3 * 365 * 86400));
    short_connection(&a);
    gen_conv b = conv(f, "10.0.0.1", 40002, "10.0.0.2", 80, START);
    short_connection(&b);
    gen_conv r = conv(f, "10.0.0.3", 40001, "10.0.0.2", 8080, b.now_ns + SEC(70));
    gen_send(&r, C2S, SYN, 0, 0);
    send_seq(&r, S2C, RST | ACK, 0, US(44.806), 0);
    finish(f, "clock_step_back.pcap");
}

/* IPv6 (no IP ID to tell segments apart), snaplen 128: at 96 bytes the
 * SACK block of an IPv6 ACK with timestamps is cut and the ACKs below would
 * be indistinguishable. The client's first of four segments is lost before
 * the capture point; the server answers each of the other three at once
 * with a duplicate ACK, the SACK block growing, all within one millisecond
 * (same timestamps); a SPAN port copies the last one (a true duplicate,
 * skipped). The client retransmits the lost segment one round trip later;
 * a client close follows. */
static void dup_ack_sack(void)
{
    gen_file *f = open_pcap_snaplen("dup_ack_sack.pcap", DISSECT_LINK_ETHERNET, 128, 0);
    if (f == NULL) {
        return;
    }
    gen_conv c = conv6(f, START);
    handshake(&c);
    uint32_t hole = c.nxt[C2S];
    c.nxt[C2S] += 1448; /* lost before the capture point */
    gen_override ov = {.set = GEN_OV_ACK | GEN_OV_SACK, .ack = hole, .sack_blocks = 1};
    ov.sack[0][0] = c.nxt[C2S];
    for (int i = 0; i < 3; i++) {
        gen_send(&c, C2S, ACK, 1448, US(11.904 + 0.3 * i));
        ov.sack[0][1] = c.nxt[C2S];
        gen_send_ex(&c, S2C, ACK, 0, US(4.771), &ov);
    }
    gen_send_ex(&c, S2C, ACK, 0, US(0.215), &ov); /* the SPAN copy */
    send_seq(&c, C2S, ACK, 1448, RTT, hole);
    gen_send(&c, S2C, ACK, 0, US(5.339));
    gen_send(&c, S2C, PSH | ACK, 417, MS(1.208331));
    gen_send(&c, C2S, ACK, 0, RTT);
    close_client(&c);
    finish(f, "dup_ack_sack.pcap");
}

/* A gRPC service on 10.0.0.2:50051 captured in the middle of a stream from
 * 10.0.0.1:40001 (the server speaks first in the capture; the port rule
 * would make 40001 the server); a second later another client
 * (10.0.0.3:40002) connects with a full handshake, which shows 50051
 * answering a SYN. The stream is never closed. */
static void midstream_listener(void)
{
    gen_file *f = open_eth("midstream_listener.pcap");
    if (f == NULL) {
        return;
    }
    gen_conv m = conv(f, "10.0.0.1", 40001, "10.0.0.2", 50051, START);
    gen_send(&m, S2C, PSH | ACK, 100, 0);
    gen_send(&m, C2S, ACK, 0, RTT);
    gen_send(&m, S2C, PSH | ACK, 100, MS(500.218773));
    gen_send(&m, C2S, ACK, 0, RTT);
    gen_conv n = conv(f, "10.0.0.3", 40002, "10.0.0.2", 50051, START + SEC(1) + MS(3.446511));
    handshake(&n);
    request(&n, 329, 417);
    close_client(&n);
    finish(f, "midstream_listener.pcap");
}

/*
 * The demo: a web server, 10.0.0.2:80, over two minutes. Mostly HTTP/1.0
 * style connections the server closes (TIME_WAIT piles up on the server),
 * plus client closes, resets, refused SYNs (port 8080) and crossed FINs.
 * Kinds, one letter per connection in order of start:
 *   S server close, C client close, R server RST, r client RST,
 *   X refused (SYN to 8080, RST+ACK), F crossed FINs.
 */
static const char busy_kinds[] = "SSSCSSRSSSSXSSCSSSFSSSSrSSSSSCSXSSSSSRSSSSSFSSCSSSrSSXSSSSCS";

static void busy_server(void)
{
    gen_file *f = open_eth("busy_server.pcap");
    if (f == NULL) {
        return;
    }
    uint64_t rng = 0x6275737973727672u;
    for (size_t i = 0; busy_kinds[i] != '\0'; i++) {
        char kind = busy_kinds[i];
        uint32_t host = gen_rand_range(&rng, 1, 20);
        char client[32];
        snprintf(client, sizeof client, "10.0.1.%u", (unsigned)host);
        uint16_t cport = (uint16_t)(33000 + 97 * i + gen_rand_range(&rng, 0, 90));
        uint64_t t0 = START + SEC(2) * i + gen_rand_range(&rng, 0, 1500000) * GEN_NS_PER_US +
                      gen_rand_range(&rng, 0, 999);
        uint64_t rtt = MS(10 + (host * 7) % 41) + gen_rand_range(&rng, 0, 999999);
        gen_conv c = conv(f, client, cport, "10.0.0.2", kind == 'X' ? 8080 : 80, t0);
        c.ttl[C2S] = (uint8_t)(64 - host % 9);

        gen_send(&c, C2S, SYN, 0, 0);
        if (kind == 'X') {
            send_seq(&c, S2C, RST | ACK, 0, US(38.5) + gen_rand_range(&rng, 0, 20000), 0);
            continue;
        }
        gen_send(&c, S2C, SYN | ACK, 0, US(55.1) + gen_rand_range(&rng, 0, 30000));
        gen_send(&c, C2S, ACK, 0, rtt);
        uint32_t requests = gen_rand_range(&rng, 1, 3);
        for (uint32_t k = 0; k < requests; k++) {
            uint64_t think = k == 0 ? US(120) : MS(gen_rand_range(&rng, 5, 900));
            gen_send(&c, C2S, PSH | ACK, gen_rand_range(&rng, 180, 620),
                     think + gen_rand_range(&rng, 0, 99999));
            gen_send(&c, S2C, ACK, 0, US(35.2) + gen_rand_range(&rng, 0, 20000));
            uint32_t segs = gen_rand_range(&rng, 1, 4);
            for (uint32_t s = 0; s < segs; s++) {
                uint32_t len = s + 1 < segs ? 1448 : gen_rand_range(&rng, 200, 1448);
                gen_send(&c, S2C, PSH | ACK, len, MS(1) + gen_rand_range(&rng, 0, 3000000));
            }
            gen_send(&c, C2S, ACK, 0, rtt + gen_rand_range(&rng, 0, 300000));
        }
        uint64_t pause = MS(gen_rand_range(&rng, 1, 40)) + gen_rand_range(&rng, 0, 999999);
        uint32_t cfin = c.nxt[C2S];
        switch (kind) {
        case 'S':
            gen_send(&c, S2C, FIN | ACK, 0, pause);
            gen_send(&c, C2S, ACK, 0, rtt);
            gen_send(&c, C2S, FIN | ACK, 0, US(150.3) + gen_rand_range(&rng, 0, 99999));
            gen_send(&c, S2C, ACK, 0, US(40.1) + gen_rand_range(&rng, 0, 9999));
            break;
        case 'C':
            gen_send(&c, C2S, FIN | ACK, 0, pause);
            gen_send(&c, S2C, ACK, 0, US(50.2) + gen_rand_range(&rng, 0, 9999));
            gen_send(&c, S2C, FIN | ACK, 0, US(200.7) + gen_rand_range(&rng, 0, 99999));
            gen_send(&c, C2S, ACK, 0, rtt);
            break;
        case 'R':
        case 'r':
            gen_send(&c, kind == 'R' ? S2C : C2S, RST | ACK, 0, pause);
            break;
        case 'F':
            gen_send(&c, C2S, FIN | ACK, 0, pause);
            send_ack(&c, S2C, FIN | ACK, 0, US(20.3) + gen_rand_range(&rng, 0, 9999), cfin);
            gen_send(&c, C2S, ACK, 0, rtt);
            gen_send(&c, S2C, ACK, 0, US(30.9) + gen_rand_range(&rng, 0, 9999));
            break;
        default:
            break;
        }
    }
    finish(f, "busy_server.pcap");
}

/*
 * Client port pressure: one application host, 10.0.5.1, opens a new
 * connection to a database, 10.0.0.80:5432, every 200 ms for 60 s (300
 * connections, local ports 40000 up), sends a query, reads the answer and
 * closes first: each port then sits in the client's TIME_WAIT for 60 s, so
 * about 300 are held at once at the end: most of a 400-port range.
 */
static void port_pressure(void)
{
    gen_file *f = open_eth("port_pressure.pcap");
    if (f == NULL) {
        return;
    }
    uint64_t rng = 0x706f727470727373u;
    for (uint32_t i = 0; i < 300; i++) {
        uint64_t t0 = START + MS(200) * i + gen_rand_range(&rng, 0, 50000) * GEN_NS_PER_US / 1000;
        gen_conv c = conv(f, "10.0.5.1", (uint16_t)(40000 + i), "10.0.0.80", 5432, t0);
        gen_send(&c, C2S, SYN, 0, 0);
        gen_send(&c, S2C, SYN | ACK, 0, US(210.4) + gen_rand_range(&rng, 0, 30000));
        gen_send(&c, C2S, ACK, 0, US(180.2) + gen_rand_range(&rng, 0, 30000));
        gen_send(&c, C2S, PSH | ACK, gen_rand_range(&rng, 60, 160), US(40.3));
        gen_send(&c, S2C, PSH | ACK, gen_rand_range(&rng, 100, 400),
                 MS(2) + gen_rand_range(&rng, 0, 3000000));
        gen_send(&c, C2S, FIN | ACK, 0, MS(1) + gen_rand_range(&rng, 0, 999999));
        gen_send(&c, S2C, FIN | ACK, 0, US(150.7) + gen_rand_range(&rng, 0, 99999));
        gen_send(&c, C2S, ACK, 0, US(190.1) + gen_rand_range(&rng, 0, 30000));
    }
    finish(f, "port_pressure.pcap");
}

/* ------------------------------------------------------------------- main */

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: samplegen OUTDIR\n");
        return 2;
    }
    outdir = argv[1];
    if (mkdir(outdir, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "samplegen: %s: %s\n", outdir, strerror(errno));
        return 1;
    }

    link_samples();
    more_link_samples();
    tunnel_samples();
    two_interfaces();
    mixed_nontcp();

    handshake_complete();
    handshake_syn_only();
    handshake_no_ack();
    handshake_refused();
    simultaneous_open();
    midstream();

    close_client_sample();
    close_server();
    close_three_way();
    crossed_fins();
    crossed_fins_bsd();
    fin_lost();
    half_close();
    rst_sample("rst_client.pcap", C2S);
    rst_sample("rst_server.pcap", S2C);
    rst_out_of_window();
    rst_ttl_changed();

    tw_expired();
    tw_reused();
    tw_restarted();

    seq_wrap();
    ipv6_close();
    vlan_close();
    syn_with_data();
    data_after_fin();
    rst_challenged();
    aborted_on_data();
    fast_open_server_fin();
    synack_before_syn();
    handshake_old_ack();
    split_handshake();
    accept_queue_overflow();
    syn_gave_up();
    fin_wait2_orphan();
    keepalive();
    nat_timestamps();
    tw_fin_delivered();
    second_fin_lost();
    clock_step_back();
    dup_ack_sack();
    midstream_listener();
    busy_server();
    port_pressure();

    return failures ? 1 : 0;
}
