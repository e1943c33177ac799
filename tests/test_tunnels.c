/*
 * test_tunnels.c: issue 16, on captures the generator makes. Each tunnel,
 * header and link type carries one whole connection (handshake, data both
 * ways, the client's close); the built synfin must give one row with every
 * packet in it and the `tunnel` column naming the tunnel. Then: the same
 * inner 4-tuple in two tunnels is two connections; GTP-U's TEIDs, which
 * differ by direction, still give one; tunnels nest up to 4 deep and no
 * deeper; --no-tunnels keeps the old accounting; --stats has a line per
 * encapsulation.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "gen.h"
#include "testkit.h"

static char tmpdir[] = "/tmp/synfin-tun-XXXXXX";
static char cap_path[300], out_path[300], err_path[300];

/* One case: the link type, its variant, the tunnel (NULL: none). */
typedef struct tcase {
    const char *name;
    uint32_t linktype;
    gen_encap encap;
    gen_tunnel tun;
    int tunneled;
    const char *text; /* the tunnel column */
} tcase;

static void v4(uint8_t *a, const char *s)
{
    assert_int_equal(gen_parse_ip(s, a), 4);
}

static void v6(uint8_t *a, const char *s)
{
    assert_int_equal(gen_parse_ip(s, a), 6);
}

/* The tunnel of kind k between 192.0.2.1 and 192.0.2.2 (or IPv6 ones). */
static gen_tunnel tunnel(gen_tun_kind k, unsigned flags, uint32_t id, int outer_v6)
{
    gen_tunnel t;
    memset(&t, 0, sizeof t);
    t.kind = k;
    t.flags = flags;
    t.id = id;
    t.outer_version = outer_v6 ? 6 : 4;
    if (outer_v6) {
        v6(t.outer_src, "2001:db8:ffff::1");
        v6(t.outer_dst, "2001:db8:ffff::2");
    } else {
        v4(t.outer_src, "192.0.2.1");
        v4(t.outer_dst, "192.0.2.2");
    }
    return t;
}

/* Writes a whole connection from `client` to `server` through `link` (the
 * server's packets with the outer addresses swapped). */
static void conversation(gen_file *f, const gen_link *link, const char *client, const char *server,
                         uint64_t t0, uint32_t *packets)
{
    gen_conv c;
    assert_int_equal(gen_conv_init(&c, f, client, 40000, server, 80, t0), 0);
    c.link[0] = *link;
    c.link[1] = *link;
    c.link[1].tunnel_reverse = 1;
    assert_int_equal(gen_send(&c, GEN_C2S, DISSECT_SYN, 0, 0), 0);
    assert_int_equal(gen_send(&c, GEN_S2C, DISSECT_SYN | DISSECT_ACK, 0, 1000000), 0);
    assert_int_equal(gen_send(&c, GEN_C2S, DISSECT_ACK, 0, 1000000), 0);
    assert_int_equal(gen_send(&c, GEN_C2S, DISSECT_ACK | DISSECT_PSH, 100, 1000), 0);
    assert_int_equal(gen_send(&c, GEN_S2C, DISSECT_ACK | DISSECT_PSH, 300, 1000000), 0);
    assert_int_equal(gen_send(&c, GEN_C2S, DISSECT_FIN | DISSECT_ACK, 0, 1000000), 0);
    assert_int_equal(gen_send(&c, GEN_S2C, DISSECT_FIN | DISSECT_ACK, 0, 1000000), 0);
    assert_int_equal(gen_send(&c, GEN_C2S, DISSECT_ACK, 0, 1000000), 0);
    packets[0] += c.packets[0];
    packets[1] += c.packets[1];
}

/* synfin -q [extra] CAPTURE: its standard output. */
static char *run(const char *extra)
{
    const char *args[] = {"-q", extra ? extra : cap_path, extra ? cap_path : NULL, NULL};
    assert_int_equal(tk_run(SYNFIN_BINARY, args, NULL, out_path, err_path, 60), 0);
    return tk_slurp(out_path, NULL);
}

static void parse(const char *text, tk_table *t)
{
    char err[256];
    if (tk_csv_parse(text, strlen(text), t, err, sizeof err) != 0)
        fail_msg("%s", err);
}

/* From `--stats` output: the total row's numbers (read, tcp, skipped, then
 * the reasons), or an encapsulation's line (packets, tcp). */
static void stats_total(const char *out, unsigned long long v[10])
{
    const char *p = strstr(out, "\ntotal");
    assert_non_null(p);
    assert_int_equal(sscanf(p + 6, "%llu %llu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0],
                            &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8], &v[9]),
                     10);
}

static int encap_line(const char *out, const char *name, unsigned long long *pk,
                      unsigned long long *tcp)
{
    char key[32];
    snprintf(key, sizeof key, "\n%s ", name);
    const char *p = strstr(out, key);
    return p && sscanf(p + strlen(key), "%llu %llu", pk, tcp) == 2;
}

/* The case's capture, run: one complete row, every packet, its tunnel. */
static void check_case(const tcase *k, int ipv6_inner)
{
    gen_file *f = gen_open_pcap(cap_path, k->linktype, 65535, 0);
    assert_non_null(f);
    gen_link link = gen_link_of(k->linktype);
    link.encap = k->encap;
    if (k->tunneled)
        link.tunnel = &k->tun;
    uint32_t packets[2] = {0, 0};
    conversation(f, &link, ipv6_inner ? "2001:db8::10" : "10.1.0.1",
                 ipv6_inner ? "2001:db8::20" : "10.1.0.2", GEN_T0_NS, packets);
    assert_int_equal(gen_close(f), 0);
    char *out = run(NULL);
    tk_table t;
    parse(out, &t);
    if (t.rows != 1)
        fail_msg("%s: %d rows:\n%s", k->name, t.rows, out);
    if (strcmp(tk_cell(&t, 0, "handshake"), "complete") != 0)
        fail_msg("%s (IPv%d inside):\n%s", k->name, ipv6_inner ? 6 : 4, out);
    assert_string_equal(tk_cell(&t, 0, "handshake"), "complete");
    assert_string_equal(tk_cell(&t, 0, "close_initiator"), "client");
    assert_int_equal(atoi(tk_cell(&t, 0, "packets_c2s")), packets[0]);
    assert_int_equal(atoi(tk_cell(&t, 0, "packets_s2c")), packets[1]);
    assert_string_equal(tk_cell(&t, 0, "ip_version"), ipv6_inner ? "6" : "4");
    if (strcmp(tk_cell(&t, 0, "tunnel"), k->text) != 0)
        fail_msg("%s: tunnel '%s', expected '%s'", k->name, tk_cell(&t, 0, "tunnel"), k->text);
    tk_table_free(&t);
    free(out);
}

static void run_cases(const tcase *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        check_case(&cases[i], 0);
        check_case(&cases[i], 1);
    }
}

#define ETH DISSECT_LINK_ETHERNET

static void test_each_tunnel_gives_the_inner_connection_and_names_it(void **state)
{
    (void)state;
    const tcase cases[] = {
        {"gre", ETH, GEN_ENCAP_NONE, tunnel(GEN_TUN_GRE, 0, 0, 0), 1, "gre"},
        {"gre keyed", ETH, GEN_ENCAP_NONE, tunnel(GEN_TUN_GRE, GEN_TUN_KEY, 77, 0), 1, "gre:77"},
        {"gre seq csum", ETH, GEN_ENCAP_NONE,
         tunnel(GEN_TUN_GRE, GEN_TUN_SEQ | GEN_TUN_CSUM | GEN_TUN_KEY, 5, 1), 1, "gre:5"},
        {"gre teb", ETH, GEN_ENCAP_NONE, tunnel(GEN_TUN_GRE_TEB, 0, 0, 0), 1, "gre"},
        {"erspan1", ETH, GEN_ENCAP_NONE, tunnel(GEN_TUN_ERSPAN1, 0, 0, 0), 1, "erspan1"},
        {"erspan2", ETH, GEN_ENCAP_NONE, tunnel(GEN_TUN_ERSPAN2, 0, 300, 0), 1, "erspan2:300"},
        {"erspan3", ETH, GEN_ENCAP_NONE, tunnel(GEN_TUN_ERSPAN3, 0, 9, 0), 1, "erspan3:9"},
        {"erspan3 subheader", ETH, GEN_ENCAP_NONE, tunnel(GEN_TUN_ERSPAN3, GEN_TUN_OPTIONS, 9, 0),
         1, "erspan3:9"},
        {"pptp", ETH, GEN_ENCAP_NONE, tunnel(GEN_TUN_PPTP, 0, 0x1234, 0), 1, "pptp"},
        {"pptp pfc", ETH, GEN_ENCAP_NONE, tunnel(GEN_TUN_PPTP, GEN_TUN_PFC, 0x1234, 0), 1, "pptp"},
        {"aruba", ETH, GEN_ENCAP_NONE, tunnel(GEN_TUN_ARUBA, 0, 0, 0), 1, "aruba"},
        {"vxlan", ETH, GEN_ENCAP_NONE, tunnel(GEN_TUN_VXLAN, 0, 42, 0), 1, "vxlan:42"},
        {"vxlan 8472", ETH, GEN_ENCAP_NONE, tunnel(GEN_TUN_VXLAN, GEN_TUN_ALT_PORT, 42, 1), 1,
         "vxlan:42"},
        {"geneve", ETH, GEN_ENCAP_NONE, tunnel(GEN_TUN_GENEVE, 0, 11, 0), 1, "geneve"},
        {"geneve options", ETH, GEN_ENCAP_NONE, tunnel(GEN_TUN_GENEVE, GEN_TUN_OPTIONS, 11, 0), 1,
         "geneve"},
        {"gtp", ETH, GEN_ENCAP_NONE, tunnel(GEN_TUN_GTPU, 0, 0x1234, 0), 1, "gtp"},
        {"gtp ext", ETH, GEN_ENCAP_NONE, tunnel(GEN_TUN_GTPU, GEN_TUN_OPTIONS, 0x1234, 1), 1,
         "gtp"},
        {"mpls pw", ETH, GEN_ENCAP_NONE, tunnel(GEN_TUN_MPLS_PW, 0, 100, 0), 1, "mpls"},
        {"mpls pw cw", ETH, GEN_ENCAP_NONE, tunnel(GEN_TUN_MPLS_PW, GEN_TUN_CW, 100, 0), 1, "mpls"},
        {"gre over sll", DISSECT_LINK_LINUX_SLL, GEN_ENCAP_NONE, tunnel(GEN_TUN_GRE, 0, 0, 1), 1,
         "gre"},
    };
    run_cases(cases, sizeof cases / sizeof cases[0]);
}

static void test_ip_in_ip_names_both_versions(void **state)
{
    (void)state;
    const tcase four = {"ipip v4", ETH, GEN_ENCAP_NONE, tunnel(GEN_TUN_IPIP, 0, 0, 0), 1, "4in4"};
    const tcase six = {"ipip v6", ETH, GEN_ENCAP_NONE, tunnel(GEN_TUN_IPIP, 0, 0, 1), 1, "4in6"};
    check_case(&four, 0);
    check_case(&six, 0);
    tcase k = four;
    k.text = "6in4";
    check_case(&k, 1);
    k = six;
    k.text = "6in6";
    check_case(&k, 1);
    k = four;
    k.tun = tunnel(GEN_TUN_TEREDO, GEN_TUN_OPTIONS, 0, 0);
    k.text = "teredo";
    check_case(&k, 1);
    k.tun.flags = 0;
    check_case(&k, 1);
}

static void test_each_l2_header_and_link_type_gives_the_connection(void **state)
{
    (void)state;
    const tcase cases[] = {
        {"pbb", ETH, GEN_ENCAP_PBB, {0}, 0, ""},
        {"vntag", ETH, GEN_ENCAP_VNTAG, {0}, 0, ""},
        {"etag", ETH, GEN_ENCAP_ETAG, {0}, 0, ""},
        {"fabricpath", ETH, GEN_ENCAP_FABRICPATH, {0}, 0, ""},
        {"llc", ETH, GEN_ENCAP_LLC, {0}, 0, ""},
        {"pppoe pfc", ETH, GEN_ENCAP_PPPOE_PFC, {0}, 0, ""},
        {"ppp", DISSECT_LINK_PPP, GEN_ENCAP_NONE, {0}, 0, ""},
        {"ppp hdlc", DISSECT_LINK_PPP_HDLC, GEN_ENCAP_NONE, {0}, 0, ""},
        {"c-hdlc", DISSECT_LINK_C_HDLC, GEN_ENCAP_NONE, {0}, 0, ""},
        {"fddi", DISSECT_LINK_FDDI, GEN_ENCAP_NONE, {0}, 0, ""},
        {"802.11", DISSECT_LINK_IEEE802_11, GEN_ENCAP_NONE, {0}, 0, ""},
        {"radiotap", DISSECT_LINK_RADIOTAP, GEN_ENCAP_NONE, {0}, 0, ""},
        {"nflog", DISSECT_LINK_NFLOG, GEN_ENCAP_NONE, {0}, 0, ""},
        {"ipoib", DISSECT_LINK_IPOIB, GEN_ENCAP_NONE, {0}, 0, ""},
        {"juniper", DISSECT_LINK_JUNIPER_ETHER, GEN_ENCAP_NONE, {0}, 0, ""},
        {"vxlan over 802.11", DISSECT_LINK_IEEE802_11, GEN_ENCAP_NONE,
         tunnel(GEN_TUN_VXLAN, 0, 3, 0), 1, "vxlan:3"},
    };
    run_cases(cases, sizeof cases / sizeof cases[0]);
}

/* Tunnels nested: outer is the first. */
static gen_tunnel nest[5];

static void test_tunnels_nest_four_deep_and_no_deeper(void **state)
{
    (void)state;
    nest[0] = tunnel(GEN_TUN_GRE, GEN_TUN_KEY, 1, 0);
    nest[1] = tunnel(GEN_TUN_VXLAN, 0, 7, 1);
    nest[2] = tunnel(GEN_TUN_IPIP, 0, 0, 1);
    nest[3] = tunnel(GEN_TUN_GTPU, 0, 9, 0);
    nest[4] = tunnel(GEN_TUN_GRE, 0, 0, 0);
    for (int i = 0; i < 4; i++)
        nest[i].inner = &nest[i + 1];
    nest[3].inner = NULL;
    tcase k = {"4 deep", ETH, GEN_ENCAP_NONE, nest[0], 1, "gre:1/vxlan:7/4in6/gtp"};
    check_case(&k, 0);
    /* The fifth: counted, not followed. */
    nest[3].inner = &nest[4];
    k.tun = nest[0];
    gen_file *f = gen_open_pcap(cap_path, ETH, 65535, 0);
    gen_link link = gen_link_of(ETH);
    link.tunnel = &k.tun;
    uint32_t packets[2] = {0, 0};
    conversation(f, &link, "10.1.0.1", "10.1.0.2", GEN_T0_NS, packets);
    assert_int_equal(gen_close(f), 0);
    char *out = run("--stats");
    unsigned long long v[10];
    stats_total(out, v);
    assert_int_equal(v[0], 8); /* read */
    assert_int_equal(v[1], 0); /* tcp */
    assert_int_equal(v[5], 8); /* not_tcp */
    free(out);
}

static void test_same_inner_tuple_in_two_tunnels_is_two_connections(void **state)
{
    (void)state;
    gen_tunnel a = tunnel(GEN_TUN_VXLAN, 0, 1, 0), b = tunnel(GEN_TUN_VXLAN, 0, 2, 0),
               c = tunnel(GEN_TUN_GRE, 0, 0, 0), d = tunnel(GEN_TUN_GRE, 0, 0, 0);
    v4(d.outer_dst, "192.0.2.99"); /* another GRE tunnel: other endpoints */
    const gen_tunnel *all[] = {&a, &b, &c, &d, NULL};
    gen_file *f = gen_open_pcap(cap_path, ETH, 65535, 0);
    uint32_t packets[2] = {0, 0};
    for (int i = 0; i < 5; i++) {
        gen_link link = gen_link_of(ETH);
        link.tunnel = all[i];
        conversation(f, &link, "10.1.0.1", "10.1.0.2", GEN_T0_NS + (uint64_t)i * 1000, packets);
    }
    assert_int_equal(gen_close(f), 0);
    tk_table t;
    char *out = run(NULL);
    parse(out, &t);
    assert_int_equal(t.rows, 5);
    int seen[5] = {0};
    for (int r = 0; r < 5; r++) {
        const char *s = tk_cell(&t, r, "tunnel");
        assert_string_equal(tk_cell(&t, r, "handshake"), "complete");
        seen[0] += strcmp(s, "vxlan:1") == 0;
        seen[1] += strcmp(s, "vxlan:2") == 0;
        seen[2] += strcmp(s, "gre") == 0;
        seen[4] += strcmp(s, "") == 0;
    }
    assert_int_equal(seen[0], 1);
    assert_int_equal(seen[1], 1);
    assert_int_equal(seen[2], 2);
    assert_int_equal(seen[4], 1);
    tk_table_free(&t);
    free(out);
}

static void test_no_tunnels_keeps_the_old_accounting(void **state)
{
    (void)state;
    gen_tunnel g = tunnel(GEN_TUN_GRE, 0, 0, 0), vx = tunnel(GEN_TUN_VXLAN, 0, 5, 0);
    gen_file *f = gen_open_pcap(cap_path, ETH, 65535, 0);
    uint32_t packets[2] = {0, 0};
    gen_link link = gen_link_of(ETH);
    link.tunnel = &g;
    conversation(f, &link, "10.1.0.1", "10.1.0.2", GEN_T0_NS, packets);
    link.tunnel = &vx;
    conversation(f, &link, "10.1.0.1", "10.1.0.2", GEN_T0_NS, packets);
    link.tunnel = NULL;
    conversation(f, &link, "10.1.0.1", "10.1.0.2", GEN_T0_NS + 5000000000u, packets);
    assert_int_equal(gen_close(f), 0);
    const char *a1[] = {"--stats", "--no-tunnels", cap_path, NULL};
    assert_int_equal(tk_run(SYNFIN_BINARY, a1, NULL, out_path, err_path, 60), 0);
    char *out = tk_slurp(out_path, NULL);
    unsigned long long v[10], pk = 0, tcp = 0;
    /* read 24: tcp 8, not_tcp 16; no encapsulation line. */
    stats_total(out, v);
    assert_int_equal(v[0], 24);
    assert_int_equal(v[1], 8);
    assert_int_equal(v[5], 16);
    assert_null(strstr(out, "encapsulation"));
    free(out);
    out = run("--stats");
    stats_total(out, v);
    assert_int_equal(v[1], 24);
    assert_true(encap_line(out, "gre", &pk, &tcp));
    assert_int_equal(pk, 8);
    assert_int_equal(tcp, 8);
    assert_true(encap_line(out, "vxlan", &pk, &tcp));
    assert_int_equal(pk, 8);
    free(out);
}

static int setup(void **state)
{
    (void)state;
    if (!mkdtemp(tmpdir))
        return -1;
    snprintf(cap_path, sizeof cap_path, "%s/t.pcap", tmpdir);
    snprintf(out_path, sizeof out_path, "%s/out", tmpdir);
    snprintf(err_path, sizeof err_path, "%s/err", tmpdir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unlink(cap_path);
    unlink(out_path);
    unlink(err_path);
    rmdir(tmpdir);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_each_tunnel_gives_the_inner_connection_and_names_it),
        cmocka_unit_test(test_ip_in_ip_names_both_versions),
        cmocka_unit_test(test_each_l2_header_and_link_type_gives_the_connection),
        cmocka_unit_test(test_tunnels_nest_four_deep_and_no_deeper),
        cmocka_unit_test(test_same_inner_tuple_in_two_tunnels_is_two_connections),
        cmocka_unit_test(test_no_tunnels_keeps_the_old_accounting),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
