/*
 * test_input.c: the capture readers (analyzer/input.c, analyzer/pcapng.c)
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

#include "input.h"

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
    expect_packets(p, 1, INT64_C(1700000000123456789), 12 /* libpcap's DLT_RAW */, 9);
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
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
