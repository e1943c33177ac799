/*
 * test_archive.c: the built synfin binary on archives (issue 14): rotated
 * files named in any order, files that overlap in time, --keep-order, the
 * back-in-time warning, and captures compressed with gzip, zstd, xz, bzip2
 * and lz4, whole, concatenated, cut short and corrupted.
 *
 * The captures are made here from samples/busy_server.pcap: `base` is its
 * 1051 records repeated COPIES times, each copy 200 s after the one before
 * (about 2 MB: many compressed blocks in every format), written back as
 * pcap in pieces by record (rotated files) or by turns (overlapping ones).
 * Compressed fixtures come from the libraries themselves (zlib, libzstd,
 * liblzma, libbz2, liblz4), with small blocks where the format has a choice,
 * so nothing needs the command-line tools.
 */
#include <bzlib.h>
#include <lz4frame.h>
#include <lzma.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include <cmocka.h>

#include "testkit.h"

#define SAMPLES  SYNFIN_SOURCE_DIR "/samples/"
#define COPIES   20
#define SHIFT_S  200u /* seconds between copies: the sample spans about two minutes */
#define MAX_RECS 30000

static char tmpdir[] = "/tmp/synfin-archive-XXXXXX";
static char out_path[300], err_path[300];
static char *out_text, *err_text;

/* ---- bytes and pcap records ------------------------------------------------ */

typedef struct bytes {
    uint8_t *d;
    size_t n, cap;
} bytes;

static void put(bytes *b, const void *p, size_t n)
{
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 65536;
        while (cap < b->n + n)
            cap *= 2;
        b->d = realloc(b->d, cap);
        assert_non_null(b->d);
        b->cap = cap;
    }
    memcpy(b->d + b->n, p, n);
    b->n += n;
}

static uint32_t get_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void set_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* The base capture: its file header and records (each a copy with its
 * time already shifted). */
static bytes file_header;
static bytes recs;                   /* the records back to back */
static size_t rec_off[MAX_RECS + 1]; /* record i is recs.d[rec_off[i], rec_off[i + 1]) */
static int n_recs;

static void make_base(void)
{
    size_t len;
    char *raw = tk_slurp(SAMPLES "busy_server.pcap", &len);
    const uint8_t *d = (const uint8_t *)raw;
    assert_true(len > 24);
    assert_int_equal(get_le32(d), 0xa1b2c3d4u); /* little-endian µs pcap */
    put(&file_header, d, 24);
    for (unsigned copy = 0; copy < COPIES; copy++) {
        for (size_t off = 24; off + 16 <= len;) {
            uint32_t caplen = get_le32(d + off + 8);
            assert_true(n_recs < MAX_RECS);
            rec_off[n_recs++] = recs.n;
            put(&recs, d + off, 16 + caplen);
            uint8_t *h = recs.d + rec_off[n_recs - 1];
            set_le32(h, get_le32(h) + copy * SHIFT_S);
            off += 16 + caplen;
        }
    }
    rec_off[n_recs] = recs.n;
    free(raw);
}

/* Record i's time in µs. */
static int64_t rec_us(int i)
{
    const uint8_t *h = recs.d + rec_off[i];
    return (int64_t)get_le32(h) * 1000000 + get_le32(h + 4);
}

static void put_rec(bytes *b, int i)
{
    put(b, recs.d + rec_off[i], rec_off[i + 1] - rec_off[i]);
}

/* Records [from, to) as a pcap image. */
static bytes pcap_range(int from, int to)
{
    bytes b = {0};
    put(&b, file_header.d, file_header.n);
    for (int i = from; i < to; i++)
        put_rec(&b, i);
    return b;
}

static const char *tmp(const char *name)
{
    static char p[16][300];
    static int k;
    char *s = p[k++ % 16];
    snprintf(s, 300, "%s/%s", tmpdir, name);
    return s;
}

static const char *write_tmp(const char *name, const bytes *b)
{
    const char *path = tmp(name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b->d, 1, b->n, f), b->n);
    assert_int_equal(fclose(f), 0);
    return path;
}

/* ---- compressing, with the libraries ----------------------------------------- */

enum { GZ, ZST, XZ, BZ2, LZ4, N_FORMATS };
static const char *const ext[N_FORMATS] = {"gz", "zst", "xz", "bz2", "lz4"};
static const char *const fmt_name[N_FORMATS] = {"gzip", "zstd", "xz", "bzip2", "lz4"};

static bytes compress_gzip(const bytes *raw)
{
    z_stream z;
    memset(&z, 0, sizeof(z));
    assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
    bytes out = {0};
    out.cap = deflateBound(&z, raw->n);
    out.d = malloc(out.cap);
    z.next_in = raw->d;
    z.avail_in = (uInt)raw->n;
    z.next_out = out.d;
    z.avail_out = (uInt)out.cap;
    assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
    out.n = z.total_out;
    deflateEnd(&z);
    return out;
}

static bytes compress_zstd(const bytes *raw)
{
    bytes out = {0};
    out.cap = ZSTD_compressBound(raw->n);
    out.d = malloc(out.cap);
    ZSTD_CCtx *c = ZSTD_createCCtx();
    assert_non_null(c);
    assert_false(ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 1)));
    out.n = ZSTD_compress2(c, out.d, out.cap, raw->d, raw->n);
    assert_false(ZSTD_isError(out.n));
    ZSTD_freeCCtx(c);
    return out;
}

static bytes compress_xz(const bytes *raw)
{
    bytes out = {0};
    out.cap = lzma_stream_buffer_bound(raw->n);
    out.d = malloc(out.cap);
    assert_int_equal(
        lzma_easy_buffer_encode(1, LZMA_CHECK_CRC64, NULL, raw->d, raw->n, out.d, &out.n, out.cap),
        LZMA_OK);
    return out;
}

static bytes compress_bzip2(const bytes *raw)
{
    bytes out = {0};
    out.cap = raw->n + raw->n / 100 + 600;
    out.d = malloc(out.cap);
    unsigned n = (unsigned)out.cap;
    /* 100 kB blocks: a damaged block is not the whole file */
    assert_int_equal(
        BZ2_bzBuffToBuffCompress((char *)out.d, &n, (char *)raw->d, (unsigned)raw->n, 1, 0, 0),
        BZ_OK);
    out.n = n;
    return out;
}

static bytes compress_lz4(const bytes *raw)
{
    LZ4F_preferences_t prefs;
    memset(&prefs, 0, sizeof(prefs));
    prefs.frameInfo.blockSizeID = LZ4F_max64KB;
    prefs.frameInfo.contentChecksumFlag = LZ4F_contentChecksumEnabled;
    bytes out = {0};
    out.cap = LZ4F_compressFrameBound(raw->n, &prefs);
    out.d = malloc(out.cap);
    out.n = LZ4F_compressFrame(out.d, out.cap, raw->d, raw->n, &prefs);
    assert_false(LZ4F_isError(out.n));
    return out;
}

static bytes compress_as(int fmt, const bytes *raw)
{
    switch (fmt) {
    case GZ:
        return compress_gzip(raw);
    case ZST:
        return compress_zstd(raw);
    case XZ:
        return compress_xz(raw);
    case BZ2:
        return compress_bzip2(raw);
    default:
        return compress_lz4(raw);
    }
}

/* ---- running synfin ------------------------------------------------------------ */

static int run_in(const char *in, const char *const *args)
{
    int rc = tk_run(SYNFIN_BINARY, args, in, out_path, err_path, 120);
    assert_true(rc >= 0);
    free(out_text);
    free(err_text);
    out_text = tk_slurp(out_path, NULL);
    err_text = tk_slurp(err_path, NULL);
    return rc;
}

#define RUN(...)        run_in(NULL, (const char *const[]){__VA_ARGS__, NULL})
#define RUN_IN(in, ...) run_in(in, (const char *const[]){__VA_ARGS__, NULL})

/* The "read" column of --stats' total line. */
static long stats_total_read(void)
{
    const char *t = strstr(out_text, "\ntotal ");
    assert_non_null(t);
    return atol(t + 7);
}

/* The N of the first "NAME: packet N: " on standard error that is no
 * warning; -1 if none. */
static long damage_packet(const char *name)
{
    char key[400];
    snprintf(key, sizeof(key), "%s: packet ", name);
    for (const char *p = err_text; (p = strstr(p, key)) != NULL; p += strlen(key)) {
        const char *eol = strchr(p, '\n'), *warn = strstr(p, "goes back in time");
        if (!warn || (eol && warn > eol))
            return atol(p + strlen(key));
    }
    return -1;
}

/* The total line of --stats in `text`, its runs of spaces made one (the
 * column width follows the longest name). */
static void total_line(const char *text, char *buf, size_t len)
{
    const char *t = strstr(text, "\ntotal ");
    assert_non_null(t);
    size_t n = 0;
    for (t++; *t && *t != '\n' && n + 1 < len; t++)
        if (*t != ' ' || (n && buf[n - 1] != ' '))
            buf[n++] = *t;
    buf[n] = '\0';
}

static char *whole_csv, *whole_stats;

/* ---- time order ------------------------------------------------------------------ */

/* Rotated pieces, as `tcpdump -w y -C N` names them: y, y1, ... y11. */
#define PIECES 12

static const char *piece_name(int k)
{
    static char names[PIECES][16];
    if (k == 0)
        snprintf(names[k], sizeof(names[k]), "y");
    else
        snprintf(names[k], sizeof(names[k]), "y%d", k);
    return names[k];
}

static void write_pieces(const char *paths[PIECES], int compressed)
{
    for (int k = 0; k < PIECES; k++) {
        bytes b = pcap_range(n_recs * k / PIECES, n_recs * (k + 1) / PIECES);
        if (compressed && k % 3 != 0) { /* a mix: plain, gzip, zstd, plain, xz, bzip2, ... */
            bytes c = compress_as((k + k / 3) % N_FORMATS, &b);
            free(b.d);
            b = c;
        }
        paths[k] = write_tmp(piece_name(k), &b);
        free(b.d);
    }
}

static void run_pieces(const char *paths[PIECES], const int order[PIECES], const char *opt)
{
    const char *args[PIECES + 4];
    int a = 0;
    if (opt)
        args[a++] = opt;
    for (int k = 0; k < PIECES; k++)
        args[a++] = paths[order[k]];
    args[a] = NULL;
    assert_int_equal(run_in(NULL, args), 0);
}

static void test_rotated_files_in_any_order_give_the_same_output(void **state)
{
    (void)state;
    static const int shell[PIECES] = {0, 1, 10, 11, 2, 3, 4, 5, 6, 7, 8, 9}; /* y* */
    static const int shuffled[PIECES] = {7, 2, 11, 0, 5, 9, 1, 4, 10, 3, 8, 6};
    static const int given[PIECES] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
    for (int compressed = 0; compressed <= 1; compressed++) {
        const char *paths[PIECES];
        write_pieces(paths, compressed);
        const int *orders[] = {given, shell, shuffled};
        for (int o = 0; o < 3; o++) {
            run_pieces(paths, orders[o], NULL);
            assert_string_equal(out_text, whole_csv);
            assert_string_equal(err_text, "");
            run_pieces(paths, orders[o], "--stats");
            char got[256], want[256];
            total_line(out_text, got, sizeof(got));
            total_line(whole_stats, want, sizeof(want));
            assert_string_equal(got, want);
        }
        /* --stats lists the inputs in the order read: y before y1 before y2 */
        const char *y1 = strstr(out_text, "/y1 "), *y2 = strstr(out_text, "/y2 ");
        assert_true(y1 && y2 && y1 < y2);
    }
}

static void test_standard_input_takes_its_place_in_time(void **state)
{
    (void)state;
    const char *paths[PIECES];
    write_pieces(paths, 1);
    /* y5 (xz) on standard input, named among the others out of order */
    const char *args[PIECES + 1];
    int a = 0;
    for (int k = PIECES - 1; k >= 0; k--)
        args[a++] = k == 5 ? "-" : paths[k];
    args[a] = NULL;
    assert_int_equal(run_in(paths[5], args), 0);
    assert_string_equal(out_text, whole_csv);
    assert_string_equal(err_text, "");
    /* named twice, it is read once: the second is an error */
    assert_int_equal(RUN_IN(paths[0], "--stats", "-", "-"), 1);
    assert_non_null(strstr(err_text, "standard input named twice"));
}

/* Two files that overlap in time: the records dealt out by turns, as one
 * capture per queue would be. */
static void test_overlapping_files_are_merged_packet_by_packet(void **state)
{
    (void)state;
    bytes a = {0}, b = {0};
    put(&a, file_header.d, file_header.n);
    put(&b, file_header.d, file_header.n);
    for (int i = 0; i < n_recs; i++)
        put_rec(i % 3 == 0 ? &a : &b, i);
    const char *pa = write_tmp("queue0.pcap", &a);
    bytes bz = compress_as(ZST, &b);
    const char *pb = write_tmp("queue1.pcap.zst", &bz);
    assert_int_equal(RUN(pb, pa), 0);
    assert_string_equal(out_text, whole_csv);
    assert_string_equal(err_text, "");
    assert_int_equal(RUN(pa, pb), 0);
    assert_string_equal(out_text, whole_csv);

    /* One of them damaged half-way: the other is still read whole, exit 1. */
    bytes cut = {0};
    put(&cut, b.d, b.n / 2 + 7);
    const char *pc = write_tmp("queue1-cut.pcap", &cut);
    assert_int_equal(RUN("--stats", pa, pc), 1);
    long at = damage_packet(pc);
    assert_true(at > 1);
    long a_packets = (n_recs + 2) / 3;
    assert_int_equal(stats_total_read(), a_packets + at - 1);

    /* A file that cannot be opened: the others are still read. */
    assert_int_equal(RUN(pa, tmp("missing.pcap"), pb), 1);
    assert_non_null(strstr(err_text, "missing.pcap: cannot open"));
    char *csv = strdup(out_text);
    assert_int_equal(RUN(pa, pb), 0);
    assert_string_equal(csv, out_text);
    free(csv);
    free(a.d);
    free(b.d);
    free(bz.d);
    free(cut.d);
}

static void test_keep_order_reads_the_files_as_given(void **state)
{
    (void)state;
    bytes first = pcap_range(0, n_recs / 2), second = pcap_range(n_recs / 2, n_recs);
    const char *p1 = write_tmp("first.pcap", &first), *p2 = write_tmp("second.pcap", &second);
    assert_int_equal(RUN("--keep-order", p1, p2), 0);
    assert_string_equal(out_text, whole_csv);
    assert_string_equal(err_text, "");
    /* As given, the later file first: another stream, and a warning names
     * the file that goes back in time (once). */
    assert_int_equal(RUN("--keep-order", p2, p1), 0);
    assert_string_not_equal(out_text, whole_csv);
    const char *w = strstr(err_text, "first.pcap: packet 1 goes back in time by");
    assert_non_null(w);
    assert_null(strstr(strchr(w, '\n'), "goes back in time"));
    assert_int_equal(RUN("-q", "--keep-order", p2, p1), 0);
    assert_string_equal(err_text, "");
    free(first.d);
    free(second.d);
}

static void test_a_file_going_back_in_time_is_named(void **state)
{
    (void)state;
    /* Records 100 and 600 swapped (about a minute apart): after packet 101
     * (record 600) the file goes back in time at its packet 102. Twice
     * over: warned once. */
    bytes b = {0};
    put(&b, file_header.d, file_header.n);
    int order[1051];
    for (int i = 0; i < 1051; i++)
        order[i] = i;
    order[100] = 600;
    order[600] = 100;
    for (int i = 0; i < 1051; i++)
        put_rec(&b, order[i]);
    for (int i = 0; i < 1051; i++)
        put_rec(&b, order[i]);
    const char *p = write_tmp("back.pcap", &b);
    assert_int_equal(RUN("-o", "/dev/null", p), 0);
    assert_true(rec_us(600) - rec_us(101) > 1000000);
    const char *w = strstr(err_text, "back.pcap: packet 102 goes back in time by");
    assert_non_null(w);
    assert_null(strstr(strchr(w, '\n'), "goes back"));
    /* Less than a second back is no warning. */
    bytes s = {0};
    put(&s, file_header.d, file_header.n);
    put_rec(&s, 1);
    put_rec(&s, 0);
    for (int i = 2; i < 1051; i++)
        put_rec(&s, i);
    assert_true(rec_us(1) - rec_us(0) < 1000000);
    assert_int_equal(RUN("-o", "/dev/null", write_tmp("jitter.pcap", &s)), 0);
    assert_string_equal(err_text, "");
    free(b.d);
    free(s.d);
}

/* ---- compression -------------------------------------------------------------------- */

static void test_every_format_gives_the_same_rows(void **state)
{
    (void)state;
    bytes raw = pcap_range(0, n_recs);
    bytes half1 = pcap_range(0, n_recs / 2), half2 = pcap_range(n_recs / 2, n_recs);
    for (int f = 0; f < N_FORMATS; f++) {
        char name[32];
        bytes c = compress_as(f, &raw);
        snprintf(name, sizeof(name), "whole.pcap.%s", ext[f]);
        const char *p = write_tmp(name, &c);
        assert_int_equal(RUN(p), 0);
        assert_string_equal(out_text, whole_csv);
        assert_string_equal(err_text, "");
        assert_int_equal(RUN_IN(p, "-"), 0); /* through a pipe, by its magic bytes */
        assert_string_equal(out_text, whole_csv);
        /* Concatenated streams are one: the second half's records follow
         * the first's (without its file header) */
        bytes tail = {0};
        put(&tail, half2.d + 24, half2.n - 24);
        bytes c1 = compress_as(f, &half1), c2 = compress_as(f, &tail), cat = {0};
        put(&cat, c1.d, c1.n);
        put(&cat, c2.d, c2.n);
        snprintf(name, sizeof(name), "cat.pcap.%s", ext[f]);
        assert_int_equal(RUN(write_tmp(name, &cat)), 0);
        assert_string_equal(out_text, whole_csv);
        free(c.d);
        free(c1.d);
        free(c2.d);
        free(cat.d);
        free(tail.d);
    }
    free(raw.d);
    free(half1.d);
    free(half2.d);
}

static void test_compressed_file_cut_short_keeps_what_came_before(void **state)
{
    (void)state;
    bytes raw = pcap_range(0, n_recs);
    for (int f = 0; f < N_FORMATS; f++) {
        bytes c = compress_as(f, &raw);
        char name[32], what[64];
        snprintf(name, sizeof(name), "cut.pcap.%s", ext[f]);
        snprintf(what, sizeof(what), "%s stream cut short (unexpected end of file)", fmt_name[f]);
        long prev = 0;
        for (int eighth = 1; eighth <= 8; eighth++) {
            bytes cut = {0};
            put(&cut, c.d, eighth < 8 ? c.n * (size_t)eighth / 8 : c.n - 1);
            const char *p = write_tmp(name, &cut);
            int rc = RUN("--stats", p);
            if (!strstr(err_text, p) || !strstr(err_text, what))
                fail_msg("%s cut at %d/8: %s", fmt_name[f], eighth, err_text);
            long got = rc == 3 ? 0 : stats_total_read();
            if (got == 0) {
                assert_int_equal(rc, 3);
            } else {
                /* the message names the packet cut; every one before is in */
                assert_int_equal(rc, 1);
                assert_int_equal(damage_packet(p), got + 1);
            }
            if (got < prev || got > n_recs)
                fail_msg("%s cut at %d/8: %ld packets after %ld", fmt_name[f], eighth, got, prev);
            prev = got;
            free(cut.d);
        }
        /* Cut in the last bytes (trailer, checksum): nothing lost but the
         * end, and the exit code says so. */
        if (prev != n_recs)
            fail_msg("%s: %ld of %d packets before a cut trailer", fmt_name[f], prev, n_recs);
        if (prev < n_recs / 2)
            fail_msg("%s: only %ld of %d packets at 7/8", fmt_name[f], prev, n_recs);
        free(c.d);
    }
    free(raw.d);
}

/* A byte changed near the middle: every packet that the bytes before it
 * give (as many as the file cut there gives) is read; then the damage
 * ends the file, named. */
static void test_corrupt_compressed_file_keeps_what_came_before(void **state)
{
    (void)state;
    bytes raw = pcap_range(0, n_recs);
    for (int f = 0; f < N_FORMATS; f++) {
        /* About where the middle of the capture lies in the compressed
         * file: where its first half alone ends, compressed. */
        bytes half = pcap_range(0, n_recs / 2), c = compress_as(f, &raw);
        bytes ch = compress_as(f, &half);
        size_t at_byte = ch.n * 9 / 10;
        free(ch.d);
        char name[32];
        snprintf(name, sizeof(name), "bad.pcap.%s", ext[f]);
        bytes cut = {0};
        put(&cut, c.d, at_byte);
        assert_int_equal(RUN("--stats", write_tmp(name, &cut)), 1);
        long before = stats_total_read();
        free(cut.d);

        c.d[at_byte] ^= 0x55;
        const char *p = write_tmp(name, &c);
        assert_int_equal(RUN("--stats", p), 1);
        long at = damage_packet(p), read = stats_total_read();
        print_message("%s: %ld packets before the damaged byte, %ld read\n", fmt_name[f], before,
                      read);
        /* zstd and lz4 report no progress for the call that fails: what it
         * decoded of the blocks before the damage is lost (16 KiB of input
         * per call, a block or two: at most 2 x 128 KiB of records here).
         * Data decoded from a damaged block can read as records until the
         * reader or the decoder finds the damage (a changed literal byte
         * only by the checksum at the end). */
        long slack = f == ZST || f == LZ4 ? (long)(2 * 131072 * (size_t)n_recs / recs.n) : 0;
        if (at != read + 1 || before < n_recs / 5 || read < before - slack)
            fail_msg("%s: %ld read, damage at packet %ld: %s", fmt_name[f], read, at, err_text);
        assert_int_equal(RUN("-q", "-o", "/dev/null", p), 1);
        assert_string_equal(err_text, "");
        free(c.d);
        free(half.d);
    }
    free(raw.d);
}

/* ---- set-up -------------------------------------------------------------------------- */

static int setup(void **state)
{
    (void)state;
    if (!mkdtemp(tmpdir))
        return -1;
    snprintf(out_path, sizeof(out_path), "%s/out", tmpdir);
    snprintf(err_path, sizeof(err_path), "%s/err", tmpdir);
    make_base();
    bytes whole = pcap_range(0, n_recs);
    const char *p = write_tmp("whole.pcap", &whole);
    free(whole.d);
    if (RUN(p) != 0 || RUN("--stats", p) != 0)
        return -1;
    whole_stats = strdup(out_text);
    if (RUN(p) != 0)
        return -1;
    whole_csv = strdup(out_text);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    free(out_text);
    free(err_text);
    free(whole_csv);
    free(whole_stats);
    free(recs.d);
    free(file_header.d);
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rotated_files_in_any_order_give_the_same_output),
        cmocka_unit_test(test_standard_input_takes_its_place_in_time),
        cmocka_unit_test(test_overlapping_files_are_merged_packet_by_packet),
        cmocka_unit_test(test_keep_order_reads_the_files_as_given),
        cmocka_unit_test(test_a_file_going_back_in_time_is_named),
        cmocka_unit_test(test_every_format_gives_the_same_rows),
        cmocka_unit_test(test_compressed_file_cut_short_keeps_what_came_before),
        cmocka_unit_test(test_corrupt_compressed_file_keeps_what_came_before),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
