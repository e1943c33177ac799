/*
 * test_samples: the sample captures and the generator that writes them.
 *
 * - samplegen, run into a fresh directory, writes exactly the files
 *   committed in samples/, byte for byte (determinism, and the committed
 *   files are up to date), and nothing is missing or stale either way;
 * - unit tests of gen's packet builder, conversations, file writers and
 *   random traffic, read back through libpcap where it can.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gen.h"

#define SAMPLES_DIR SYNFIN_SOURCE_DIR "/samples"

/* The scratch directory of the whole run: samplegen's output and the
 * files the unit tests write. */
static char tmpdir[] = "/tmp/synfin-test-samples-XXXXXX";
static char gendir[sizeof tmpdir + 16];

static const char *tmp_path(const char *name)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    return path;
}

static int is_capture(const char *name)
{
    size_t n = strlen(name);
    return (n > 5 && strcmp(name + n - 5, ".pcap") == 0) ||
           (n > 7 && strcmp(name + n - 7, ".pcapng") == 0);
}

/* Reads a whole file; NULL if it cannot. The caller frees. */
static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    if (fp == NULL) {
        return NULL;
    }
    uint8_t *buf = NULL;
    size_t cap = 0;
    *len = 0;
    for (;;) {
        if (cap - *len < 4096) {
            cap = cap ? cap * 2 : 65536;
            uint8_t *b = realloc(buf, cap);
            if (b == NULL) {
                free(buf);
                fclose(fp);
                return NULL;
            }
            buf = b;
        }
        size_t n = fread(buf + *len, 1, cap - *len, fp);
        *len += n;
        if (n == 0) {
            break;
        }
    }
    fclose(fp);
    return buf;
}

static void remove_tree(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        return;
    }
    struct dirent *e;
    char path[1024];
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) {
            continue;
        }
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
            remove_tree(path);
        } else {
            unlink(path);
        }
    }
    closedir(d);
    rmdir(dir);
}

static int run_samplegen(const char *outdir)
{
    pid_t pid = fork();
    if (pid < 0) {
        return -1;
    }
    if (pid == 0) {
        execl(SYNFIN_SAMPLEGEN, SYNFIN_SAMPLEGEN, outdir, (char *)NULL);
        _exit(127);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            return -1;
        }
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int group_setup(void **state)
{
    (void)state;
    if (mkdtemp(tmpdir) == NULL) {
        return -1;
    }
    snprintf(gendir, sizeof gendir, "%s/gen", tmpdir);
    return run_samplegen(gendir) == 0 ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    remove_tree(tmpdir);
    return 0;
}

/* ---------------------------------------------------- committed samples */

static void test_regenerated_samples_match_committed(void **state)
{
    (void)state;
    DIR *d = opendir(gendir);
    assert_non_null(d);
    struct dirent *e;
    int count = 0, mismatches = 0;
    while ((e = readdir(d)) != NULL) {
        if (!is_capture(e->d_name)) {
            continue;
        }
        char a[1024], b[1024];
        snprintf(a, sizeof a, "%s/%s", gendir, e->d_name);
        snprintf(b, sizeof b, "%s/%s", SAMPLES_DIR, e->d_name);
        size_t alen, blen;
        uint8_t *x = slurp(a, &alen);
        uint8_t *y = slurp(b, &blen);
        assert_non_null(x);
        if (y == NULL) {
            print_error("samples/%s is not committed (run: samplegen samples)\n", e->d_name);
            mismatches++;
        } else if (alen != blen || memcmp(x, y, alen) != 0) {
            print_error("samples/%s differs from what samplegen writes now\n", e->d_name);
            mismatches++;
        }
        free(x);
        free(y);
        count++;
    }
    closedir(d);
    assert_int_equal(mismatches, 0);
    assert_true(count >= 43);
}

static void test_no_stale_committed_sample(void **state)
{
    (void)state;
    DIR *d = opendir(SAMPLES_DIR);
    assert_non_null(d);
    struct dirent *e;
    int stale = 0;
    while ((e = readdir(d)) != NULL) {
        if (!is_capture(e->d_name)) {
            continue;
        }
        char a[1024];
        snprintf(a, sizeof a, "%s/%s", gendir, e->d_name);
        if (access(a, F_OK) != 0) {
            print_error("samples/%s is no longer written by samplegen\n", e->d_name);
            stale++;
        }
    }
    closedir(d);
    assert_int_equal(stale, 0);
}

/* The names other tests and the docs use. */
static void test_named_samples_exist(void **state)
{
    (void)state;
    static const char *const names[] = {
        "link_ethernet.pcap",      "link_vlan.pcap",        "link_qinq.pcap",
        "link_sll.pcap",           "link_sll2.pcap",        "link_raw.pcap",
        "link_ipv4.pcap",          "link_ipv6.pcap",        "link_null.pcap",
        "link_null_swapped.pcap",  "link_loop.pcap",        "link_pppoe.pcap",
        "link_mpls.pcap",          "pcap_nsec.pcap",        "pcap_bigendian.pcap",
        "two_interfaces.pcapng",   "mixed_nontcp.pcap",     "handshake_complete.pcap",
        "handshake_syn_only.pcap", "handshake_no_ack.pcap", "handshake_refused.pcap",
        "simultaneous_open.pcap",  "midstream.pcap",        "close_client.pcap",
        "close_server.pcap",       "close_three_way.pcap",  "crossed_fins.pcap",
        "crossed_fins_bsd.pcap",   "fin_lost.pcap",         "half_close.pcap",
        "rst_client.pcap",         "rst_server.pcap",       "rst_out_of_window.pcap",
        "rst_ttl_changed.pcap",    "tw_expired.pcap",       "tw_reused.pcap",
        "tw_restarted.pcap",       "seq_wrap.pcap",         "ipv6_close.pcap",
        "vlan_close.pcap",         "syn_with_data.pcap",    "data_after_fin.pcap",
        "busy_server.pcap",
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char p[1024];
        snprintf(p, sizeof p, "%s/%s", gendir, names[i]);
        if (access(p, F_OK) != 0) {
            print_error("samplegen did not write %s\n", names[i]);
            fail();
        }
    }
}

/* Every generated pcap opens in libpcap and every record is complete. */
static void test_samples_read_back_with_libpcap(void **state)
{
    (void)state;
    static const char *const names[] = {"link_ethernet.pcap",  "pcap_nsec.pcap",
                                        "pcap_bigendian.pcap", "link_null_swapped.pcap",
                                        "link_raw.pcap",       "busy_server.pcap"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char p[1024], err[PCAP_ERRBUF_SIZE];
        snprintf(p, sizeof p, "%s/%s", gendir, names[i]);
        pcap_t *pc = pcap_open_offline_with_tstamp_precision(p, PCAP_TSTAMP_PRECISION_NANO, err);
        assert_non_null(pc);
        struct pcap_pkthdr *h;
        const u_char *data;
        int rc, n = 0;
        long prev = -1;
        while ((rc = pcap_next_ex(pc, &h, &data)) == 1) {
            assert_true(h->caplen <= 96 && h->caplen <= h->len);
            assert_true(h->ts.tv_sec >= 1700000000);
            long t = (long)(h->ts.tv_sec - 1700000000) * 1000000000L + (long)h->ts.tv_usec;
            assert_true(t >= prev); /* sorted by time */
            prev = t;
            n++;
        }
        assert_int_equal(rc, PCAP_ERROR_BREAK);
        assert_true(n > 0);
        pcap_close(pc);
    }
}

/* ------------------------------------------------------------ the builder */

static uint32_t be16(const uint8_t *p)
{
    return (uint32_t)p[0] << 8 | p[1];
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* One's complement sum; a header with a right checksum sums to 0xffff. */
static uint32_t ones_sum(uint32_t sum, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i + 1 < n; i += 2) {
        sum += be16(p + i);
    }
    if (n & 1) {
        sum += (uint32_t)p[n - 1] << 8;
    }
    while (sum >> 16) {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    return sum;
}

static gen_pkt tcp4(uint32_t payload)
{
    gen_pkt p = gen_pkt_default();
    gen_parse_ip("10.0.0.1", p.src);
    gen_parse_ip("10.0.0.2", p.dst);
    p.sport = 40000;
    p.dport = 80;
    p.seq = 1000;
    p.ack = 2000;
    p.flags = DISSECT_PSH | DISSECT_ACK;
    p.window = 502;
    p.ip_id = 0x1234;
    p.payload_len = payload;
    return p;
}

static void test_ipv4_length_and_checksums(void **state)
{
    (void)state;
    static uint8_t buf[GEN_MAX_FRAME];
    gen_link eth = gen_link_of(DISSECT_LINK_ETHERNET);
    gen_pkt p = tcp4(300);
    p.ttl = 57;
    size_t n = gen_build(&eth, &p, buf, sizeof buf);
    assert_int_equal(n, 14 + 20 + 20 + 300);
    assert_int_equal(be16(buf + 12), 0x0800);
    const uint8_t *ip = buf + 14;
    assert_int_equal(ip[0], 0x45);
    assert_int_equal(be16(ip + 2), 20 + 20 + 300); /* total length counts the payload */
    assert_int_equal(be16(ip + 4), 0x1234);
    assert_int_equal(ip[8], 57);
    assert_int_equal(ip[9], 6);
    assert_int_equal(ones_sum(0, ip, 20), 0xffff);
    /* TCP checksum: pseudo-header + segment (the payload is zeros). */
    uint8_t pseudo[12];
    memcpy(pseudo, ip + 12, 8);
    pseudo[8] = 0;
    pseudo[9] = 6;
    pseudo[10] = (uint8_t)((20 + 300) >> 8);
    pseudo[11] = (uint8_t)(20 + 300);
    assert_int_equal(ones_sum(ones_sum(0, pseudo, 12), ip + 20, 20 + 300), 0xffff);
    const uint8_t *tcp = ip + 20;
    assert_int_equal(be16(tcp), 40000);
    assert_int_equal(be32(tcp + 4), 1000);
    assert_int_equal(be32(tcp + 8), 2000);
    assert_int_equal(tcp[12] >> 4, 5);
    assert_int_equal(tcp[13], DISSECT_PSH | DISSECT_ACK);
}

static void test_syn_options_linux_layout(void **state)
{
    (void)state;
    uint8_t buf[256];
    gen_link raw = gen_link_of(DISSECT_LINK_RAW);
    gen_pkt p = tcp4(0);
    p.flags = DISSECT_SYN;
    p.mss = 1460;
    p.sack_perm = 1;
    p.timestamps = 1;
    p.ts_val = 0x01020304;
    p.wscale = 7;
    size_t n = gen_build(&raw, &p, buf, sizeof buf);
    assert_int_equal(n, 20 + 40);
    static const uint8_t want[20] = {2, 4, 0x05, 0xb4, 4, 2, 8, 10, 1, 2,
                                     3, 4, 0,    0,    0, 0, 1, 3,  3, 7};
    assert_int_equal(buf[20 + 12] >> 4, 10);
    assert_memory_equal(buf + 40, want, sizeof want);
}

static void test_ipv6_and_link_headers(void **state)
{
    (void)state;
    uint8_t buf[256];
    gen_pkt p = tcp4(10);
    p.ip_version = 6;
    gen_parse_ip("2001:db8::1", p.src);
    gen_parse_ip("2001:db8::2", p.dst);

    gen_link l = gen_link_of(DISSECT_LINK_ETHERNET);
    l.vlan_count = 2;
    l.vlan_tpid[0] = 0x88a8;
    l.vlan_id[0] = 200;
    l.vlan_tpid[1] = 0x8100;
    l.vlan_id[1] = 100;
    size_t n = gen_build(&l, &p, buf, sizeof buf);
    assert_int_equal(n, 14 + 8 + 40 + 20 + 10);
    assert_int_equal(be16(buf + 12), 0x88a8);
    assert_int_equal(be16(buf + 14), 200);
    assert_int_equal(be16(buf + 16), 0x8100);
    assert_int_equal(be16(buf + 18), 100);
    assert_int_equal(be16(buf + 20), 0x86dd);
    assert_int_equal(buf[22] >> 4, 6);
    assert_int_equal(be16(buf + 22 + 4), 20 + 10); /* payload length */

    l = gen_link_of(DISSECT_LINK_NULL);
    l.af_inet6 = 30;
    n = gen_build(&l, &p, buf, sizeof buf);
    assert_int_equal(n, 4 + 40 + 30);
    static const uint8_t af30_le[4] = {30, 0, 0, 0};
    assert_memory_equal(buf, af30_le, 4);
    l.af_big_endian = 1;
    l.af_inet6 = 24;
    gen_build(&l, &p, buf, sizeof buf);
    static const uint8_t af24_be[4] = {0, 0, 0, 24};
    assert_memory_equal(buf, af24_be, 4);

    l = gen_link_of(DISSECT_LINK_LOOP);
    gen_pkt q = tcp4(0);
    gen_build(&l, &q, buf, sizeof buf);
    static const uint8_t af2_be[4] = {0, 0, 0, 2};
    assert_memory_equal(buf, af2_be, 4);

    /* An IPv6 packet cannot go on LINKTYPE_IPV4. */
    l = gen_link_of(DISSECT_LINK_IPV4);
    assert_int_equal(gen_build(&l, &p, buf, sizeof buf), 0);
    /* Nor does a frame fit a buffer too small for it. */
    l = gen_link_of(DISSECT_LINK_ETHERNET);
    assert_int_equal(gen_build(&l, &p, buf, 60), 0);
}

/* ----------------------------------------------------------- conversations */

/* Reads the TCP seq, ack and flags of every packet of an Ethernet/IPv4 pcap. */
typedef struct seen {
    uint32_t seq, ack, caplen, len;
    uint8_t flags, ttl;
} seen;

static int read_tcp4(const char *path, seen *out, int max)
{
    char err[PCAP_ERRBUF_SIZE];
    pcap_t *pc = pcap_open_offline(path, err);
    if (pc == NULL) {
        return -1;
    }
    struct pcap_pkthdr *h;
    const u_char *d;
    int n = 0;
    while (n < max && pcap_next_ex(pc, &h, &d) == 1) {
        out[n].caplen = h->caplen;
        out[n].len = h->len;
        out[n].ttl = d[14 + 8];
        out[n].seq = be32(d + 34 + 4);
        out[n].ack = be32(d + 34 + 8);
        out[n].flags = d[34 + 13];
        n++;
    }
    pcap_close(pc);
    return n;
}

static void test_seq_advances_by_payload_syn_fin(void **state)
{
    (void)state;
    const char *path = tmp_path("conv.pcap");
    gen_file *f = gen_open_pcap(path, DISSECT_LINK_ETHERNET, 96, 0);
    assert_non_null(f);
    gen_conv c;
    assert_int_equal(gen_conv_init(&c, f, "10.0.0.1", 40000, "10.0.0.2", 80, GEN_T0_NS), 0);
    gen_conv_isn(&c, 0xfffffff0u, 5000);

    assert_int_equal(gen_send(&c, GEN_C2S, DISSECT_SYN, 0, 0), 0);
    assert_int_equal(c.nxt[GEN_C2S], 0xfffffff1u);
    gen_send(&c, GEN_S2C, DISSECT_SYN | DISSECT_ACK, 0, 1000);
    assert_int_equal(c.nxt[GEN_S2C], 5001);
    gen_send(&c, GEN_C2S, DISSECT_ACK, 0, 1000);
    gen_send(&c, GEN_C2S, DISSECT_PSH | DISSECT_ACK, 100, 1000);
    assert_int_equal(c.nxt[GEN_C2S], 0xfffffff1u + 100); /* wraps past 2^32 */
    /* A retransmission of the same bytes leaves SND.NXT alone. */
    gen_override ov = {.set = GEN_OV_SEQ, .seq = 0xfffffff1u};
    gen_send_ex(&c, GEN_C2S, DISSECT_PSH | DISSECT_ACK, 100, 1000, &ov);
    assert_int_equal(c.nxt[GEN_C2S], 0xfffffff1u + 100);
    /* An RST carries no sequence space, even far away. */
    ov.seq = c.nxt[GEN_S2C] + 0x40000000u;
    ov.set = GEN_OV_SEQ | GEN_OV_TTL;
    ov.ttl = 50;
    gen_send_ex(&c, GEN_S2C, DISSECT_RST, 0, 1000, &ov);
    assert_int_equal(c.nxt[GEN_S2C], 5001);
    /* A FIN that does not ack the peer's FIN. */
    uint32_t cfin = c.nxt[GEN_C2S];
    gen_send(&c, GEN_C2S, DISSECT_FIN | DISSECT_ACK, 0, 1000);
    assert_int_equal(c.nxt[GEN_C2S], cfin + 1);
    ov.set = GEN_OV_ACK;
    ov.ack = cfin;
    gen_send_ex(&c, GEN_S2C, DISSECT_FIN | DISSECT_ACK, 0, 1000, &ov);
    assert_int_equal(c.nxt[GEN_S2C], 5002);
    gen_send(&c, GEN_C2S, DISSECT_ACK, 0, 1000);
    assert_int_equal(c.packets[GEN_C2S], 6);
    assert_int_equal(c.packets[GEN_S2C], 3);
    assert_int_equal(c.bytes[GEN_C2S], 200);
    assert_int_equal(gen_close(f), 0);

    seen s[16];
    assert_int_equal(read_tcp4(path, s, 16), 9);
    assert_int_equal(s[0].seq, 0xfffffff0u);
    assert_int_equal(s[0].ack, 0); /* no ACK flag, no ack number */
    assert_int_equal(s[1].ack, 0xfffffff1u);
    assert_int_equal(s[2].ack, 5001);
    assert_int_equal(s[3].seq, 0xfffffff1u);
    assert_int_equal(s[4].seq, 0xfffffff1u);
    assert_int_equal(s[5].flags, DISSECT_RST);
    assert_int_equal(s[5].seq, 5001u + 0x40000000u);
    assert_int_equal(s[5].ttl, 50);
    assert_int_equal(s[6].seq, cfin);
    assert_int_equal(s[7].ack, cfin); /* the override */
    assert_int_equal(s[8].seq, cfin + 1);
    assert_int_equal(s[8].ack, 5002);
    assert_int_equal(s[8].ttl, 64);
}

static void test_snaplen_cuts_caplen_not_len(void **state)
{
    (void)state;
    const char *path = tmp_path("snap.pcap");
    gen_file *f = gen_open_pcap(path, DISSECT_LINK_ETHERNET, 96, 0);
    assert_non_null(f);
    gen_conv c;
    gen_conv_init(&c, f, "10.0.0.1", 40000, "10.0.0.2", 80, GEN_T0_NS);
    gen_send(&c, GEN_C2S, DISSECT_PSH | DISSECT_ACK, 400, 0);
    gen_send(&c, GEN_S2C, DISSECT_ACK, 0, 1000);
    uint8_t frame[60] = {0};
    gen_write(f, 0, GEN_T0_NS + 5000, frame, 60, 1514);
    assert_int_equal(gen_close(f), 0);
    seen s[4];
    assert_int_equal(read_tcp4(path, s, 4), 3);
    assert_int_equal(s[0].caplen, 96);
    assert_int_equal(s[0].len, 14 + 20 + 32 + 400); /* timestamps option: 32-byte TCP header */
    assert_int_equal(s[1].caplen, 66);
    assert_int_equal(s[1].len, 66);
    assert_int_equal(s[2].caplen, 60);
    assert_int_equal(s[2].len, 1514);
}

/* ------------------------------------------------------------------- files */

static void test_big_endian_and_nsec_files(void **state)
{
    (void)state;
    static const uint8_t be_us[4] = {0xa1, 0xb2, 0xc3, 0xd4};
    static const uint8_t le_ns[4] = {0x4d, 0x3c, 0xb2, 0xa1};
    uint8_t frame[64] = {0};
    const char *names[2] = {"be.pcap", "ns.pcap"};
    unsigned flags[2] = {GEN_BIG_ENDIAN, GEN_NSEC};
    for (int i = 0; i < 2; i++) {
        gen_file *f = gen_open_pcap(tmp_path(names[i]), DISSECT_LINK_RAW, 96, flags[i]);
        assert_non_null(f);
        gen_write(f, 0, GEN_T0_NS + 123456789, frame, 64, 64);
        assert_int_equal(gen_close(f), 0);
        size_t len;
        uint8_t *b = slurp(tmp_path(names[i]), &len);
        assert_non_null(b);
        assert_int_equal(len, 24 + 16 + 64);
        assert_memory_equal(b, i == 0 ? be_us : le_ns, 4);
        free(b);

        char err[PCAP_ERRBUF_SIZE];
        pcap_t *pc = pcap_open_offline_with_tstamp_precision(tmp_path(names[i]),
                                                             PCAP_TSTAMP_PRECISION_NANO, err);
        assert_non_null(pc);
        assert_int_equal(pcap_datalink(pc), DLT_RAW);
        struct pcap_pkthdr *h;
        const u_char *d;
        assert_int_equal(pcap_next_ex(pc, &h, &d), 1);
        assert_int_equal(h->ts.tv_sec, 1700000000);
        /* microseconds: truncated; nanoseconds: kept */
        assert_int_equal(h->ts.tv_usec, i == 0 ? 123456000 : 123456789);
        assert_int_equal(h->caplen, 64);
        pcap_close(pc);
    }
}

static void test_pcapng_interfaces_and_resolution(void **state)
{
    (void)state;
    const char *path = tmp_path("one.pcapng");
    gen_file *f = gen_open_pcapng(path, 128);
    assert_non_null(f);
    assert_int_equal(gen_add_interface(f, DISSECT_LINK_ETHERNET, 9, "eth0"), 0);
    assert_int_equal(gen_add_interface(f, DISSECT_LINK_ETHERNET, 6, NULL), 1);
    assert_int_equal(gen_linktype(f, 1), DISSECT_LINK_ETHERNET);
    gen_conv c;
    gen_conv_init(&c, f, "10.0.0.1", 40000, "10.0.0.2", 80, GEN_T0_NS + 987654321);
    c.iface[GEN_S2C] = 1;
    gen_send(&c, GEN_C2S, DISSECT_SYN, 0, 0);
    gen_send(&c, GEN_S2C, DISSECT_SYN | DISSECT_ACK, 0, 1001);
    assert_int_equal(gen_write(f, 7, GEN_T0_NS, (const uint8_t *)"x", 1, 1), -1);
    assert_int_equal(gen_close(f), -1); /* the bad write is sticky */

    f = gen_open_pcapng(path, 128);
    gen_add_interface(f, DISSECT_LINK_ETHERNET, 9, "eth0");
    gen_add_interface(f, DISSECT_LINK_ETHERNET, 6, NULL);
    gen_conv_init(&c, f, "10.0.0.1", 40000, "10.0.0.2", 80, GEN_T0_NS + 987654321);
    c.iface[GEN_S2C] = 1;
    gen_send(&c, GEN_C2S, DISSECT_SYN, 0, 0);
    gen_send(&c, GEN_S2C, DISSECT_SYN | DISSECT_ACK, 0, 1001);
    assert_int_equal(gen_close(f), 0);

    char err[PCAP_ERRBUF_SIZE];
    pcap_t *pc = pcap_open_offline_with_tstamp_precision(path, PCAP_TSTAMP_PRECISION_NANO, err);
    assert_non_null(pc);
    struct pcap_pkthdr *h;
    const u_char *d;
    assert_int_equal(pcap_next_ex(pc, &h, &d), 1);
    assert_int_equal(h->ts.tv_usec, 987654321);
    assert_int_equal(h->caplen, 74);
    assert_int_equal(pcap_next_ex(pc, &h, &d), 1);
    assert_int_equal(h->ts.tv_usec, 987655000); /* interface 1 counts microseconds */
    assert_int_equal(pcap_next_ex(pc, &h, &d), PCAP_ERROR_BREAK);
    pcap_close(pc);
}

static void test_records_sorted_by_time(void **state)
{
    (void)state;
    const char *path = tmp_path("sorted.pcap");
    gen_file *f = gen_open_pcap(path, DISSECT_LINK_ETHERNET, 96, 0);
    gen_conv a, b;
    gen_conv_init(&a, f, "10.0.0.1", 40000, "10.0.0.2", 80, GEN_T0_NS + 1000000);
    gen_conv_init(&b, f, "10.0.0.3", 40001, "10.0.0.2", 80, GEN_T0_NS);
    gen_send(&a, GEN_C2S, DISSECT_SYN, 0, 0);
    gen_send(&a, GEN_S2C, DISSECT_SYN | DISSECT_ACK, 0, 2000000);
    gen_send(&b, GEN_C2S, DISSECT_SYN, 0, 0);
    gen_send(&b, GEN_S2C, DISSECT_SYN | DISSECT_ACK, 0, 2000000);
    assert_int_equal(gen_close(f), 0);
    seen s[4];
    assert_int_equal(read_tcp4(path, s, 4), 4);
    assert_int_equal(s[0].seq, b.isn[GEN_C2S]); /* t0 */
    assert_int_equal(s[1].seq, a.isn[GEN_C2S]); /* t0 + 1 ms */
    assert_int_equal(s[2].seq, b.isn[GEN_S2C]); /* t0 + 2 ms */
    assert_int_equal(s[3].seq, a.isn[GEN_S2C]); /* t0 + 3 ms */
}

/* ---------------------------------------------------------- random traffic */

static int count_packets(const char *path)
{
    char err[PCAP_ERRBUF_SIZE];
    pcap_t *pc = pcap_open_offline(path, err);
    if (pc == NULL) {
        return -1;
    }
    struct pcap_pkthdr *h;
    const u_char *d;
    int n = 0;
    while (pcap_next_ex(pc, &h, &d) == 1) {
        n++;
    }
    pcap_close(pc);
    return n;
}

static void test_random_traffic_is_deterministic(void **state)
{
    (void)state;
    enum { N = 300 };
    gen_truth *t1 = calloc(N, sizeof *t1);
    gen_truth *t2 = calloc(N, sizeof *t2);
    assert_non_null(t1);
    assert_non_null(t2);
    const char *names[3] = {"rand1.pcap", "rand2.pcap", "rand3.pcap"};
    uint64_t seeds[3] = {42, 42, 43};
    for (int i = 0; i < 3; i++) {
        gen_file *f = gen_open_pcap(tmp_path(names[i]), DISSECT_LINK_ETHERNET, 96, 0);
        assert_non_null(f);
        assert_int_equal(gen_random_traffic(f, seeds[i], N, i == 0 ? t1 : t2), 0);
        assert_int_equal(gen_close(f), 0);
    }
    size_t l1, l2, l3;
    uint8_t *b1 = slurp(tmp_path(names[0]), &l1);
    uint8_t *b2 = slurp(tmp_path(names[1]), &l2);
    uint8_t *b3 = slurp(tmp_path(names[2]), &l3);
    assert_non_null(b1);
    assert_non_null(b2);
    assert_non_null(b3);
    assert_int_equal(l1, l2);
    assert_memory_equal(b1, b2, l1);
    assert_true(l1 != l3 || memcmp(b1, b3, l1) != 0);
    free(b1);
    free(b2);
    free(b3);

    /* The truth accounts for every packet, in order of first packet. */
    uint64_t packets = 0;
    int kinds[6] = {0};
    int reuses = 0, crossed = 0, v6 = 0;
    for (int i = 0; i < N; i++) {
        packets += t1[i].packets_c2s + t1[i].packets_s2c;
        assert_true(t1[i].first_ns <= t1[i].last_ns);
        if (i > 0) {
            assert_true(t1[i - 1].first_ns <= t1[i].first_ns);
        }
        static const char *const hs[6] = {"complete", "syn_only",  "no_ack",
                                          "refused",  "midstream", "?"};
        int k = 0;
        while (k < 5 && strcmp(t1[i].handshake, hs[k]) != 0) {
            k++;
        }
        kinds[k]++;
        reuses += t1[i].reuses_previous;
        crossed += t1[i].closing == 2;
        v6 += t1[i].ip_version == 6;
    }
    assert_int_equal(count_packets(tmp_path(names[0])), (int)packets);
    for (int k = 0; k < 5; k++) {
        assert_true(kinds[k] > 0); /* every opening shows up */
    }
    assert_int_equal(kinds[5], 0);
    assert_true(reuses > 0);
    assert_true(crossed > 0);
    assert_true(v6 > 0);
    free(t1);
    free(t2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_regenerated_samples_match_committed),
        cmocka_unit_test(test_no_stale_committed_sample),
        cmocka_unit_test(test_named_samples_exist),
        cmocka_unit_test(test_samples_read_back_with_libpcap),
        cmocka_unit_test(test_ipv4_length_and_checksums),
        cmocka_unit_test(test_syn_options_linux_layout),
        cmocka_unit_test(test_ipv6_and_link_headers),
        cmocka_unit_test(test_seq_advances_by_payload_syn_fin),
        cmocka_unit_test(test_snaplen_cuts_caplen_not_len),
        cmocka_unit_test(test_big_endian_and_nsec_files),
        cmocka_unit_test(test_pcapng_interfaces_and_resolution),
        cmocka_unit_test(test_records_sorted_by_time),
        cmocka_unit_test(test_random_traffic_is_deterministic),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
