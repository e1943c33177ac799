/*
 * test_input.c: the capture readers (capture/input.c, pcapfile.c, pcapng.c)
 * on files built here: pcap in both byte orders and precisions, gzip,
 * pcapng with several interfaces, link types and resolutions, and damage.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include <cmocka.h>

#include "capture.h"

static char tmpdir[] = "/tmp/synfin-input-XXXXXX";

typedef struct buf {
    uint8_t d[16384];
    size_t n;
    int swap;
} buf;

static void put(buf *b, const void *p, size_t n)
{
    assert_true(b->n + n <= sizeof(b->d));
    memcpy(b->d + b->n, p, n);
    b->n += n;
}
static void u16(buf *b, uint16_t v)
{
    if (b->swap)
        v = __builtin_bswap16(v);
    put(b, &v, 2);
}
static void u32(buf *b, uint32_t v)
{
    if (b->swap)
        v = __builtin_bswap32(v);
    put(b, &v, 4);
}

static const char *write_file(const char *name, const buf *b)
{
    static char path[4][256];
    static int k;
    char *p = path[k++ % 4];
    snprintf(p, 256, "%s/%s", tmpdir, name);
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b->d, 1, b->n, f), b->n);
    fclose(f);
    return p;
}

/* ---- pcap ---- */

static void pcap_header(buf *b, uint32_t magic, uint32_t linktype)
{
    u32(b, magic);
    u16(b, 2);
    u16(b, 4);
    u32(b, 0);
    u32(b, 0);
    u32(b, 65535);
    u32(b, linktype);
}

static void pcap_record(buf *b, uint32_t sec, uint32_t frac, uint32_t caplen, uint32_t len)
{
    u32(b, sec);
    u32(b, frac);
    u32(b, caplen);
    u32(b, len);
    for (uint32_t i = 0; i < caplen; i++) {
        uint8_t z = (uint8_t)i;
        put(b, &z, 1);
    }
}

static void expect_packets(const char *path, int n, int64_t first_ts, uint32_t linktype,
                           int precision)
{
    char err[512];
    synfin_input *in = input_open(path, err, sizeof(err));
    assert_non_null(in);
    assert_int_equal(input_precision(in), precision);
    input_packet pkt;
    for (int i = 0; i < n; i++) {
        assert_int_equal(input_next(in, &pkt), INPUT_PACKET);
        if (i == 0)
            assert_true(pkt.ts == first_ts);
        assert_int_equal(pkt.linktype, linktype);
    }
    assert_int_equal(input_next(in, &pkt), INPUT_END);
    assert_int_equal(input_packets(in), (uint64_t)n);
    input_close(in);
}

static void test_pcap_microseconds_little_endian(void **state)
{
    (void)state;
    buf b = {.n = 0};
    pcap_header(&b, 0xa1b2c3d4, 1);
    pcap_record(&b, 1700000000, 123456, 60, 1514);
    pcap_record(&b, 1700000001, 0, 60, 60);
    const char *p = write_file("us.pcap", &b);
    expect_packets(p, 2, INT64_C(1700000000123456000), 1, 6);
    assert_int_equal(input_probe_precision(p), 6);
}

static void test_pcap_nanoseconds_big_endian(void **state)
{
    (void)state;
    buf b = {.n = 0, .swap = 1};
    pcap_header(&b, 0xa1b23c4d, 101);
    pcap_record(&b, 1700000000, 123456789, 40, 40);
    const char *p = write_file("ns-be.pcap", &b);
    expect_packets(p, 1, INT64_C(1700000000123456789), 101 /* LINKTYPE_RAW, as the header says */,
                   9);
    assert_int_equal(input_probe_precision(p), 9);
}

static void test_gzip_is_recognised_by_content_not_name(void **state)
{
    (void)state;
    buf b = {.n = 0};
    pcap_header(&b, 0xa1b2c3d4, 1);
    for (int i = 0; i < 50; i++)
        pcap_record(&b, 1700000000 + (uint32_t)i, 5, 54, 54);
    char path[256];
    snprintf(path, sizeof(path), "%s/compressed.pcap", tmpdir); /* no .gz */
    gzFile gz = gzopen(path, "wb");
    assert_non_null(gz);
    assert_int_equal(gzwrite(gz, b.d, (unsigned)b.n), (int)b.n);
    gzclose(gz);
    expect_packets(path, 50, INT64_C(1700000000000005000), 1, 6);
    assert_int_equal(input_probe_precision(path), 6);
}

static void test_gzip_cut_short_is_damage_not_end(void **state)
{
    (void)state;
    buf b = {.n = 0};
    pcap_header(&b, 0xa1b2c3d4, 1);
    for (int i = 0; i < 200; i++)
        pcap_record(&b, 1700000000 + (uint32_t)i, 5, 30, 30);
    char path[256];
    snprintf(path, sizeof(path), "%s/cut.pcap.gz", tmpdir);
    gzFile gz = gzopen(path, "wb1");
    assert_non_null(gz);
    gzwrite(gz, b.d, (unsigned)b.n);
    gzclose(gz);
    FILE *f = fopen(path, "rb");
    uint8_t whole[16384];
    size_t n = fread(whole, 1, sizeof(whole), f);
    fclose(f);
    buf cut = {.n = 0};
    put(&cut, whole, n * 2 / 3);
    const char *p = write_file("cut.pcap.gz", &cut);

    char err[512];
    synfin_input *in = input_open(p, err, sizeof(err));
    assert_non_null(in);
    input_packet pkt;
    input_status st;
    int got = 0;
    while ((st = input_next(in, &pkt)) == INPUT_PACKET)
        got++;
    assert_int_equal(st, INPUT_DAMAGED);
    assert_true(got > 0 && got < 200);
    assert_non_null(strstr(input_error(in), "cut.pcap.gz"));
    assert_non_null(strstr(input_error(in), "packet"));
    input_close(in);
}

static void test_truncated_pcap_record_names_file_and_packet(void **state)
{
    (void)state;
    buf b = {.n = 0};
    pcap_header(&b, 0xa1b2c3d4, 1);
    pcap_record(&b, 1700000000, 0, 60, 60);
    pcap_record(&b, 1700000001, 0, 60, 60);
    b.n -= 10; /* cut inside the second record's data */
    const char *p = write_file("trunc.pcap", &b);
    char err[512];
    synfin_input *in = input_open(p, err, sizeof(err));
    assert_non_null(in);
    input_packet pkt;
    assert_int_equal(input_next(in, &pkt), INPUT_PACKET);
    assert_int_equal(input_next(in, &pkt), INPUT_DAMAGED);
    assert_non_null(strstr(input_error(in), "trunc.pcap: packet 2:"));
    input_close(in);
}

static void test_not_a_capture_and_empty_file_are_clear_errors(void **state)
{
    (void)state;
    buf b = {.n = 0};
    put(&b, "hello, world\n", 13);
    char err[512];
    assert_null(input_open(write_file("text.txt", &b), err, sizeof(err)));
    assert_non_null(strstr(err, "text.txt: not a pcap or pcapng capture"));
    buf e = {.n = 0};
    assert_null(input_open(write_file("empty.pcap", &e), err, sizeof(err)));
    assert_non_null(strstr(err, "empty.pcap: empty file"));
    assert_null(input_open("/nonexistent/x.pcap", err, sizeof(err)));
    assert_non_null(strstr(err, "/nonexistent/x.pcap: cannot open"));
    assert_int_equal(input_probe_precision("/nonexistent/x.pcap"), -1);
}

/* ---- pcapng ---- */

static void ng_shb(buf *b)
{
    u32(b, 0x0A0D0D0A);
    u32(b, 28);
    u32(b, 0x1A2B3C4D);
    u16(b, 1);
    u16(b, 0);
    u32(b, 0xffffffff);
    u32(b, 0xffffffff);
    u32(b, 28);
}

static void ng_idb(buf *b, uint16_t linktype, int tsresol)
{
    uint32_t len = 20 + (tsresol >= 0 ? 8 + 4 : 0);
    u32(b, 1);
    u32(b, len);
    u16(b, linktype);
    u16(b, 0);
    u32(b, 0);
    if (tsresol >= 0) {
        u16(b, 9);
        u16(b, 1);
        uint8_t v[4] = {(uint8_t)tsresol, 0, 0, 0};
        put(b, v, 4);
        u16(b, 0);
        u16(b, 0);
    }
    u32(b, len);
}

static void ng_epb(buf *b, uint32_t iface, uint64_t ts, uint32_t caplen, uint32_t blocklen_fix)
{
    uint32_t padded = (caplen + 3) & ~3u;
    uint32_t len = 32 + padded;
    u32(b, 6);
    u32(b, blocklen_fix ? blocklen_fix : len);
    u32(b, iface);
    u32(b, (uint32_t)(ts >> 32));
    u32(b, (uint32_t)ts);
    u32(b, caplen);
    u32(b, caplen + 100);
    for (uint32_t i = 0; i < padded; i++) {
        uint8_t z = 0x45;
        put(b, &z, 1);
    }
    u32(b, len);
}

static void test_pcapng_interfaces_keep_their_linktype_and_resolution(void **state)
{
    (void)state;
    for (int swap = 0; swap < 2; swap++) {
        buf b = {.n = 0, .swap = swap};
        ng_shb(&b);
        ng_idb(&b, 1, -1);  /* Ethernet, default µs */
        ng_idb(&b, 101, 9); /* raw IP, ns */
        b.d[0] = 0x0A;      /* the SHB type is a palindrome */
        ng_epb(&b, 0, UINT64_C(1700000000123456), 60, 0);
        ng_epb(&b, 1, UINT64_C(1700000000123456789), 40, 0);
        /* an unknown block in between is skipped */
        u32(&b, 0x00000BAD);
        u32(&b, 16);
        u32(&b, 0);
        u32(&b, 16);
        ng_epb(&b, 0, UINT64_C(1700000001000000), 60, 0);
        const char *p = write_file(swap ? "two-be.pcapng" : "two.pcapng", &b);

        char err[512];
        synfin_input *in = input_open(p, err, sizeof(err));
        assert_non_null(in);
        input_packet pkt;
        assert_int_equal(input_next(in, &pkt), INPUT_PACKET);
        assert_int_equal(pkt.linktype, 1);
        assert_true(pkt.ts == INT64_C(1700000000123456000));
        assert_int_equal(pkt.caplen, 60);
        assert_int_equal(pkt.wirelen, 160);
        assert_int_equal(input_next(in, &pkt), INPUT_PACKET);
        assert_int_equal(pkt.linktype, 101);
        assert_true(pkt.ts == INT64_C(1700000000123456789));
        assert_int_equal(input_next(in, &pkt), INPUT_PACKET);
        assert_int_equal(pkt.linktype, 1);
        assert_int_equal(input_next(in, &pkt), INPUT_END);
        assert_int_equal(input_precision(in), 9);
        input_close(in);
        assert_int_equal(input_probe_precision(p), 9);
    }
}

static void expect_ng_damage(const buf *b, const char *name, const char *what, int good)
{
    const char *p = write_file(name, b);
    char err[512];
    synfin_input *in = input_open(p, err, sizeof(err));
    assert_non_null(in);
    input_packet pkt;
    for (int i = 0; i < good; i++)
        assert_int_equal(input_next(in, &pkt), INPUT_PACKET);
    assert_int_equal(input_next(in, &pkt), INPUT_DAMAGED);
    if (!strstr(input_error(in), what) || !strstr(input_error(in), name))
        fail_msg("message '%s' lacks '%s' or the file name", input_error(in), what);
    input_close(in);
}

static void test_pcapng_damage_is_reported_with_offset(void **state)
{
    (void)state;
    buf b = {.n = 0};
    ng_shb(&b);
    ng_idb(&b, 1, -1);
    ng_epb(&b, 0, 1, 60, 0);
    buf bad_len = b;
    ng_epb(&bad_len, 0, 2, 60, 13); /* not a multiple of 4 */
    expect_ng_damage(&bad_len, "badlen.pcapng", "bad block length 13 at offset", 1);

    buf bad_if = b;
    ng_epb(&bad_if, 7, 2, 60, 0);
    expect_ng_damage(&bad_if, "badif.pcapng", "names interface 7", 1);

    buf trailer = b;
    ng_epb(&trailer, 0, 2, 60, 0);
    trailer.d[trailer.n - 4] ^= 0x10;
    expect_ng_damage(&trailer, "trailer.pcapng", "does not match its trailer", 1);

    buf cut = b;
    ng_epb(&cut, 0, 2, 60, 0);
    cut.n -= 20;
    expect_ng_damage(&cut, "cut.pcapng", "truncated block", 1);

    buf huge = b;
    ng_epb(&huge, 0, 2, 60, 0);
    /* caplen larger than its block */
    uint32_t big = 100000;
    memcpy(huge.d + huge.n - (32 + 60) + 20, &big, 4);
    expect_ng_damage(&huge, "caplen.pcapng", "larger than its block", 1);
}

static int setup(void **state)
{
    (void)state;
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

/* A capture of several MiB, records of every length from 0 to 1500 bytes,
 * so records straddle the reader's 128 KiB blocks at every offset: each
 * packet is handed out whole, with its own bytes, in order. Read from a
 * file and, through gzip, from the byte source. */
static void test_pcap_records_across_read_blocks(void **state)
{
    (void)state;
    char path[256], gzpath[256];
    snprintf(path, sizeof(path), "%s/big.pcap", tmpdir);
    snprintf(gzpath, sizeof(gzpath), "%s/big.pcap.gz", tmpdir);
    FILE *f = fopen(path, "wb");
    gzFile gz = gzopen(gzpath, "wb1");
    assert_non_null(f);
    assert_non_null(gz);
    buf b = {.n = 0};
    pcap_header(&b, 0xa1b2c3d4, 1);
    enum { N = 12000 };
    for (uint32_t i = 0; i < N; i++) {
        uint32_t len = (i * 7919u) % 1501u;
        uint32_t h[4] = {1700000000 + i, i % 1000000, len, len + 4};
        put(&b, h, sizeof(h));
        for (uint32_t k = 0; k < len; k++) {
            uint8_t z = (uint8_t)(i + k);
            put(&b, &z, 1);
        }
        if (b.n > sizeof(b.d) - 1600 || i == N - 1) {
            assert_int_equal(fwrite(b.d, 1, b.n, f), b.n);
            assert_int_equal(gzwrite(gz, b.d, (unsigned)b.n), (int)b.n);
            b.n = 0;
        }
    }
    fclose(f);
    gzclose(gz);
    const char *paths[] = {path, gzpath};
    for (int p = 0; p < 2; p++) {
        char err[512];
        synfin_input *in = input_open(paths[p], err, sizeof(err));
        assert_non_null(in);
        input_packet pkt;
        for (uint32_t i = 0; i < N; i++) {
            assert_int_equal(input_next(in, &pkt), INPUT_PACKET);
            uint32_t len = (i * 7919u) % 1501u;
            assert_int_equal(pkt.caplen, len);
            assert_int_equal(pkt.wirelen, len + 4);
            assert_true(pkt.ts == (int64_t)(1700000000 + i) * 1000000000 + (i % 1000000) * 1000);
            for (uint32_t k = 0; k < len; k++)
                if (pkt.data[k] != (uint8_t)(i + k))
                    fail_msg("packet %u byte %u differs", i + 1, k);
        }
        assert_int_equal(input_next(in, &pkt), INPUT_END);
        if (p == 0)
            assert_true(input_offset(in) > (UINT64_C(8) << 20));
        input_close(in);
    }
    /* The gzip file cut at two thirds: every packet inflated before the cut
     * comes out whole and in order (gzip is inflated on a thread of its
     * own, in blocks), then the damage, with nothing after it. */
    FILE *g = fopen(gzpath, "rb");
    assert_non_null(g);
    fseek(g, 0, SEEK_END);
    long gz_len = ftell(g);
    fseek(g, 0, SEEK_SET);
    char cutpath[256];
    snprintf(cutpath, sizeof(cutpath), "%s/big-cut.pcap.gz", tmpdir);
    FILE *c = fopen(cutpath, "wb");
    assert_non_null(c);
    for (long i = 0; i < gz_len * 2 / 3; i++)
        fputc(fgetc(g), c);
    fclose(g);
    fclose(c);
    char err[512];
    synfin_input *in = input_open(cutpath, err, sizeof(err));
    assert_non_null(in);
    input_packet pkt;
    uint32_t i = 0;
    input_status st;
    while ((st = input_next(in, &pkt)) == INPUT_PACKET) {
        uint32_t len = (i * 7919u) % 1501u;
        assert_int_equal(pkt.caplen, len);
        for (uint32_t k = 0; k < len; k++)
            if (pkt.data[k] != (uint8_t)(i + k))
                fail_msg("packet %u byte %u differs", i + 1, k);
        i++;
    }
    assert_int_equal(st, INPUT_DAMAGED);
    assert_true(i > N / 2 && i < N);
    assert_non_null(strstr(input_error(in), "cut short"));
    assert_int_equal(input_next(in, &pkt), INPUT_DAMAGED); /* and it stays so */
    input_close(in);
}

/* What libpcap accepts, read the same way: Kuznetsov's 24-byte record
 * headers, caplen and len swapped before version 2.3, the FCS-length bits
 * of the link type ignored, a record longer than the snapshot length cut to
 * it; archaic and unknown versions refused with their number. */
static void test_pcap_variants_libpcap_reads(void **state)
{
    (void)state;
    char err[512];
    input_packet pkt;

    buf k = {.n = 0};
    pcap_header(&k, 0xa1b2cd34, 1 | 0x14000000u); /* FCS bits set */
    for (int i = 0; i < 2; i++) {
        u32(&k, 1700000000);
        u32(&k, 7);
        u32(&k, 20);
        u32(&k, 70);
        u32(&k, 3);      /* ifindex */
        u32(&k, 0x0800); /* protocol, pkt_type, pad */
        for (int j = 0; j < 20; j++)
            put(&k, &(uint8_t){(uint8_t)(0xa0 + i)}, 1);
    }
    synfin_input *in = input_open(write_file("kuz.pcap", &k), err, sizeof(err));
    assert_non_null(in);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(input_next(in, &pkt), INPUT_PACKET);
        assert_int_equal(pkt.linktype, 1);
        assert_int_equal(pkt.caplen, 20);
        assert_int_equal(pkt.wirelen, 70);
        assert_int_equal(pkt.data[0], 0xa0 + i);
    }
    assert_int_equal(input_next(in, &pkt), INPUT_END);
    input_close(in);

    buf old = {.n = 0};
    pcap_header(&old, 0xa1b2c3d4, 1);
    old.d[6] = 2; /* version 2.2: the record says len, then caplen */
    pcap_record(&old, 1700000000, 0, 30, 30);
    memcpy(old.d + 24 + 8, &(uint32_t){90}, 4); /* len 90, caplen 30 */
    in = input_open(write_file("v22.pcap", &old), err, sizeof(err));
    assert_non_null(in);
    assert_int_equal(input_next(in, &pkt), INPUT_PACKET);
    assert_int_equal(pkt.caplen, 30);
    assert_int_equal(pkt.wirelen, 90);
    input_close(in);

    buf snap = {.n = 0};
    pcap_header(&snap, 0xa1b2c3d4, 1);
    memcpy(snap.d + 16, &(uint32_t){64}, 4); /* snaplen 64 */
    pcap_record(&snap, 1700000000, 0, 100, 100);
    pcap_record(&snap, 1700000001, 0, 10, 10);
    in = input_open(write_file("snap.pcap", &snap), err, sizeof(err));
    assert_non_null(in);
    assert_int_equal(input_next(in, &pkt), INPUT_PACKET);
    assert_int_equal(pkt.caplen, 64);
    assert_int_equal(pkt.wirelen, 100);
    assert_int_equal(input_next(in, &pkt), INPUT_PACKET);
    assert_int_equal(pkt.caplen, 10);
    assert_int_equal(input_next(in, &pkt), INPUT_END);
    input_close(in);

    /* A record longer than the reader's block (128 KiB), between short
     * ones: the block grows for it. Written in pieces (buf holds 16 KiB). */
    {
        char path[256];
        snprintf(path, sizeof(path), "%s/long.pcap", tmpdir);
        FILE *f = fopen(path, "wb");
        assert_non_null(f);
        buf h = {.n = 0};
        pcap_header(&h, 0xa1b2c3d4, 1);
        memcpy(h.d + 16, &(uint32_t){262144}, 4);
        pcap_record(&h, 1700000000, 0, 60, 60);
        uint32_t rec[4] = {1700000001, 0, 200000, 200000};
        put(&h, rec, sizeof(rec));
        assert_int_equal(fwrite(h.d, 1, h.n, f), h.n);
        for (uint32_t i = 0; i < 200000; i++)
            fputc((int)(uint8_t)(i * 7), f);
        h.n = 0;
        pcap_record(&h, 1700000002, 0, 60, 60);
        assert_int_equal(fwrite(h.d, 1, h.n, f), h.n);
        fclose(f);
        in = input_open(path, err, sizeof(err));
        assert_non_null(in);
        assert_int_equal(input_next(in, &pkt), INPUT_PACKET);
        assert_int_equal(pkt.caplen, 60);
        assert_int_equal(input_next(in, &pkt), INPUT_PACKET);
        assert_int_equal(pkt.caplen, 200000);
        for (uint32_t i = 0; i < 200000; i++)
            if (pkt.data[i] != (uint8_t)(i * 7))
                fail_msg("byte %u of the long record differs", i);
        assert_int_equal(input_next(in, &pkt), INPUT_PACKET);
        assert_true(pkt.ts == INT64_C(1700000002000000000));
        assert_int_equal(input_next(in, &pkt), INPUT_END);
        input_close(in);
    }

    const struct {
        uint16_t major, minor;
        const char *msg;
    } bad[] = {{1, 0, "archaic pcap savefile format 1.0"},
               {2, 5, "unsupported pcap savefile version 2.5"},
               {3, 0, "unsupported pcap savefile version 3.0"}};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        buf v = {.n = 0};
        pcap_header(&v, 0xa1b2c3d4, 1);
        memcpy(v.d + 4, &bad[i].major, 2);
        memcpy(v.d + 6, &bad[i].minor, 2);
        const char *p = write_file("version.pcap", &v);
        assert_null(input_open(p, err, sizeof(err)));
        if (!strstr(err, bad[i].msg) || !strstr(err, p))
            fail_msg("'%s' lacks '%s' or the file name", err, bad[i].msg);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pcap_microseconds_little_endian),
        cmocka_unit_test(test_pcap_nanoseconds_big_endian),
        cmocka_unit_test(test_gzip_is_recognised_by_content_not_name),
        cmocka_unit_test(test_gzip_cut_short_is_damage_not_end),
        cmocka_unit_test(test_truncated_pcap_record_names_file_and_packet),
        cmocka_unit_test(test_not_a_capture_and_empty_file_are_clear_errors),
        cmocka_unit_test(test_pcapng_interfaces_keep_their_linktype_and_resolution),
        cmocka_unit_test(test_pcapng_damage_is_reported_with_offset),
        cmocka_unit_test(test_pcap_records_across_read_blocks),
        cmocka_unit_test(test_pcap_variants_libpcap_reads),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
