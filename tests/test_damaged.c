/*
 * test_damaged.c: the built synfin binary on damaged captures, made here
 * from the samples in a temporary folder, and on pathological traces.
 *
 * What synfin promises for damaged input (README "Robustness"):
 *   - the damage ends that file with one message on standard error that
 *     names the file and the packet number (pcapng: also the offset);
 *   - every row computed from the packets before the damage is written;
 *   - exit 1 when some input was damaged but packets were read, 3 when
 *     not one packet could be read (no capture, or damage before the
 *     first packet);
 *   - a capture cut exactly between two records is only a shorter capture.
 * And for hostile but valid traces: bounded work and memory per packet, so
 * 100k retransmitted FINs, a 4-tuple reused thousands of times or 200k
 * one-packet flows under --max-flows finish (no timing is asserted).
 *
 * Also replays the fuzzers' regression inputs (fuzz/regressions/pipeline/)
 * through the binary.
 */
#include <dirent.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <cmocka.h>

#include "testkit.h"

#define TIME_LIMIT_S 120 /* per run: a hang fails instead of blocking ctest */

static char tmpdir[] = "/tmp/synfin-damaged-XXXXXX";
static char samples[4200];
static char out_path[4200], err_path[4200];
static char *out_text, *err_text;

/* ---- files ------------------------------------------------------------- */

typedef struct bytes {
    uint8_t *d;
    size_t n, cap;
} bytes;

static void put(bytes *b, const void *p, size_t n)
{
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->n + n)
            cap *= 2;
        b->d = realloc(b->d, cap);
        assert_non_null(b->d);
        b->cap = cap;
    }
    memcpy(b->d + b->n, p, n);
    b->n += n;
}

static void put_le16(bytes *b, uint16_t v)
{
    uint8_t x[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
    put(b, x, 2);
}

static void put_le32(bytes *b, uint32_t v)
{
    uint8_t x[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    put(b, x, 4);
}

static uint32_t get_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void set_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static bytes load(const char *name)
{
    char path[8400];
    snprintf(path, sizeof(path), "%s/%s", samples, name);
    bytes b = {0};
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    uint8_t buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
        put(&b, buf, n);
    fclose(f);
    return b;
}

static const char *tmp(const char *name)
{
    static char p[8][4400];
    static int k;
    char *s = p[k++ % 8];
    snprintf(s, sizeof(p[0]), "%s/%s", tmpdir, name);
    return s;
}

static const char *write_tmp(const char *name, const uint8_t *d, size_t n)
{
    const char *path = tmp(name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(d, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
    return path;
}

/* ---- running synfin ---------------------------------------------------- */

/* Runs synfin with args (NULL-terminated, without argv[0]); stdout and
 * stderr land in out_text / err_text. Returns the exit code, or 128 +
 * the signal that killed it (SIGALRM: the time limit). */
static int run(const char *const *args)
{
    int rc = tk_run(SYNFIN_BINARY, args, NULL, out_path, err_path, TIME_LIMIT_S);
    assert_true(rc >= 0);
    free(out_text);
    free(err_text);
    out_text = tk_slurp(out_path, NULL);
    err_text = tk_slurp(err_path, NULL);
    return rc;
}

#define RUN(...) run((const char *const[]){__VA_ARGS__, NULL})

/* ---- strict CSV -------------------------------------------------------- */

typedef tk_table table;

static void table_free(table *t)
{
    tk_table_free(t);
}

/* Parses synfin's CSV strictly (testkit); fails the test on any deviation. */
static table parse_csv(const char *s)
{
    table t;
    char err[256];
    if (tk_csv_parse(s, strlen(s), &t, err, sizeof(err)) != 0)
        fail_msg("not strict CSV: %s", err);
    assert_string_equal(t.cell[0], "conn_id");
    return t;
}

static const char *cell(const table *t, int row, const char *col)
{
    const char *v = tk_cell(t, row, col);
    if (!v)
        fail_msg("no column %s", col);
    return v;
}

/* Packets counted over all rows. */
static long packets(const table *t)
{
    long sum = 0;
    for (int r = 0; r < t->rows; r++)
        sum += atol(cell(t, r, "packets_c2s")) + atol(cell(t, r, "packets_s2c"));
    return sum;
}

/* Packets in the rows of synfin's last output (which must be strict CSV,
 * or nothing at all when nothing could be read: exit 3 writes no header). */
static long out_packets(int *rows)
{
    if (!*out_text) {
        if (rows)
            *rows = 0;
        return 0;
    }
    table t = parse_csv(out_text);
    long p = packets(&t);
    if (rows)
        *rows = t.rows;
    table_free(&t);
    return p;
}

/* The N of the first "NAME: packet N:" on standard error that tells damage
 * (not the warning of a packet that goes back in time: garbage read as
 * records after damage may do so); -1 if none. */
static long err_packet_number(const char *name)
{
    char key[512];
    snprintf(key, sizeof(key), "%s: packet ", name);
    for (const char *p = err_text; (p = strstr(p, key)) != NULL; p += strlen(key)) {
        const char *eol = strchr(p, '\n');
        const char *warn = strstr(p, "goes back in time");
        if (!warn || (eol && warn > eol))
            return atol(p + strlen(key));
    }
    return -1;
}

/* ---- pcap and pcapng structure ----------------------------------------- */

typedef struct rec {
    size_t off, len; /* whole record: header + data */
    char ts[32];     /* "sec.usec", as the CSV prints it */
} rec;

/* Records of a little-endian µs pcap file. */
static int pcap_records(const bytes *b, rec *r, int max)
{
    size_t off = 24;
    int n = 0;
    assert_int_equal(get_le32(b->d), 0xa1b2c3d4u);
    while (off + 16 <= b->n && n < max) {
        uint32_t caplen = get_le32(b->d + off + 8);
        r[n].off = off;
        r[n].len = 16 + caplen;
        snprintf(r[n].ts, sizeof(r[n].ts), "%u.%06u", get_le32(b->d + off),
                 get_le32(b->d + off + 4));
        off += 16 + caplen;
        n++;
    }
    assert_int_equal(off, b->n);
    return n;
}

typedef struct block {
    size_t off, len;
    uint32_t type;
} block;

static int pcapng_blocks(const bytes *b, block *k, int max)
{
    size_t off = 0;
    int n = 0;
    while (off + 12 <= b->n && n < max) {
        k[n].off = off;
        k[n].type = get_le32(b->d + off);
        k[n].len = get_le32(b->d + off + 4);
        off += k[n].len;
        n++;
    }
    assert_int_equal(off, b->n);
    return n;
}

/* ---- damaged pcap ------------------------------------------------------ */

/* Cut exactly between records: a shorter capture, no damage. */
static void cut_at_every_record_boundary(const char *sample)
{
    bytes b = load(sample);
    rec r[64];
    int n = pcap_records(&b, r, 64);
    for (int k = 0; k <= n; k++) {
        size_t len = k == 0 ? 24 : r[k - 1].off + r[k - 1].len;
        const char *path = write_tmp("cut.pcap", b.d, len);
        assert_int_equal(RUN("-o", out_path, path), 0);
        assert_string_equal(err_text, "");
        table t = parse_csv(out_text);
        assert_int_equal(packets(&t), k); /* every packet of these samples is TCP */
        if (k > 0) {
            /* The rows span exactly the packets kept. */
            const char *first = NULL, *last = NULL;
            for (int i = 0; i < t.rows; i++) {
                if (!first || strcmp(cell(&t, i, "first_ts"), first) < 0)
                    first = cell(&t, i, "first_ts");
                if (!last || strcmp(cell(&t, i, "last_ts"), last) > 0)
                    last = cell(&t, i, "last_ts");
            }
            assert_string_equal(first, r[0].ts);
            assert_string_equal(last, r[k - 1].ts);
        } else {
            assert_int_equal(t.rows, 0);
        }
        table_free(&t);
    }
    free(b.d);
}

static void test_pcap_cut_between_records_is_a_shorter_capture(void **state)
{
    (void)state;
    cut_at_every_record_boundary("close_client.pcap");
    cut_at_every_record_boundary("tw_reused.pcap");
}

/* Cut inside record i (1-based): damage at packet i; i - 1 packets kept. */
static void cut_inside_every_record(const char *sample)
{
    bytes b = load(sample);
    rec r[64];
    int n = pcap_records(&b, r, 64);
    for (int i = 1; i <= n; i++) {
        const rec *x = &r[i - 1];
        size_t cuts[] = {x->off + 1, x->off + 15, x->off + 16, x->off + x->len - 1};
        for (size_t c = 0; c < sizeof(cuts) / sizeof(cuts[0]); c++) {
            const char *path = write_tmp("cut.pcap", b.d, cuts[c]);
            int want = i == 1 ? 3 : 1; /* damage before the first packet: nothing read */
            assert_int_equal(RUN("-o", out_path, path), want);
            assert_int_equal(err_packet_number(path), i);
            assert_non_null(strstr(err_text, "truncated"));
            assert_int_equal(out_packets(NULL), i - 1);
            /* -q silences the message, not the exit code */
            assert_int_equal(RUN("-q", "-o", out_path, path), want);
            assert_string_equal(err_text, "");
        }
    }
    free(b.d);
}

static void test_pcap_cut_inside_a_record_names_the_packet(void **state)
{
    (void)state;
    cut_inside_every_record("close_client.pcap");
    cut_inside_every_record("tw_reused.pcap");
}

static void test_damaged_file_does_not_stop_the_next_one(void **state)
{
    (void)state;
    char other[8400];
    snprintf(other, sizeof(other), "%s/ipv6_close.pcap", samples);
    assert_int_equal(RUN("-o", out_path, other), 0);
    long other_packets = out_packets(NULL);

    bytes b = load("close_client.pcap");
    rec r[64];
    pcap_records(&b, r, 64);
    const char *path = write_tmp("cut.pcap", b.d, r[4].off + 20); /* inside packet 5 */
    assert_int_equal(RUN("-o", out_path, path, other), 1);
    assert_int_equal(err_packet_number(path), 5);
    int rows;
    assert_int_equal(out_packets(&rows), 4 + other_packets);
    assert_non_null(strstr(out_text, ",6,")); /* the IPv6 connection's row */
    free(b.d);
}

static void test_pcap_header_cut_is_nothing_readable(void **state)
{
    (void)state;
    bytes b = load("close_client.pcap");
    for (size_t len = 1; len < 24; len++) {
        const char *path = write_tmp("head.pcap", b.d, len);
        assert_int_equal(RUN("-o", out_path, path), 3);
        assert_non_null(strstr(err_text, path));
        assert_non_null(
            strstr(err_text, len < 4 ? "too short to be a capture" : "bad pcap file header"));
        int rows;
        assert_int_equal(out_packets(&rows), 0);
        assert_int_equal(rows, 0);
    }
    free(b.d);
}

static void test_zero_length_file(void **state)
{
    (void)state;
    const char *path = write_tmp("empty.pcap", (const uint8_t *)"", 0);
    assert_int_equal(RUN("-o", out_path, path), 3);
    assert_non_null(strstr(err_text, "empty.pcap: empty file, not a capture"));
    char good[8400];
    snprintf(good, sizeof(good), "%s/close_client.pcap", samples);
    assert_int_equal(RUN("-o", out_path, path, good), 1);
    assert_int_equal(out_packets(NULL), 11);
    assert_int_equal(RUN("-o", out_path, good, path), 1);
    assert_int_equal(out_packets(NULL), 11);
}

/* Damage before the first packet: a pcap whose first record is cut (its
 * file header was fine), a pcapng cut inside its section header. Alone:
 * nothing read, 3; after a good file: 1. */
static void test_nothing_read_before_damage_is_exit_3(void **state)
{
    (void)state;
    bytes b = load("close_client.pcap");
    const char *path = write_tmp("first.pcap", b.d, 24 + 5);
    assert_int_equal(RUN("-o", out_path, path), 3);
    assert_int_equal(err_packet_number(path), 1);
    char good[8400];
    snprintf(good, sizeof(good), "%s/ipv6_close.pcap", samples);
    assert_int_equal(RUN("-o", out_path, good, path), 1);
    assert_true(out_packets(NULL) > 0);
    bytes ng = load("two_interfaces.pcapng");
    path = write_tmp("shb.pcapng", ng.d, 20); /* inside the section header */
    assert_int_equal(RUN("-o", out_path, path), 3);
    assert_non_null(strstr(err_text, path));
    free(ng.d);
    free(b.d);
}

/* Record 2 of close_client.pcap given `caplen` bytes (the packet, then
 * zeros) and a wire length at least as large. */
static const char *with_big_record(const bytes *b, uint32_t caplen, const char *name)
{
    rec r[64];
    pcap_records(b, r, 64);
    bytes o = {0};
    put(&o, b->d, r[1].off);
    uint8_t h[16];
    memcpy(h, b->d + r[1].off, 16);
    uint32_t old = get_le32(h + 8);
    set_le32(h + 8, caplen);
    if (get_le32(h + 12) < caplen)
        set_le32(h + 12, caplen);
    put(&o, h, 16);
    put(&o, b->d + r[1].off + 16, old);
    uint8_t zero[4096] = {0};
    for (uint32_t left = caplen - old; left > 0;) {
        uint32_t k = left < sizeof(zero) ? left : (uint32_t)sizeof(zero);
        put(&o, zero, k);
        left -= k;
    }
    put(&o, b->d + r[2].off, b->n - r[2].off);
    const char *path = write_tmp(name, o.d, o.n);
    free(o.d);
    return path;
}

static void test_caplen_beyond_snaplen(void **state)
{
    (void)state;
    bytes b = load("close_client.pcap");
    assert_int_equal(get_le32(b.d + 16), 96); /* the samples' snaplen */
    /* Larger than the snaplen but plausible: libpcap keeps snaplen bytes. */
    const char *path = with_big_record(&b, 200, "big.pcap");
    assert_int_equal(RUN("-o", out_path, path), 0);
    assert_int_equal(out_packets(NULL), 11);
    /* Larger than any snaplen (256 KiB): damage at that packet. */
    path = with_big_record(&b, 300000, "huge.pcap");
    assert_int_equal(RUN("-o", out_path, path), 1);
    assert_int_equal(err_packet_number(path), 2);
    assert_non_null(strstr(err_text, "300000"));
    assert_int_equal(out_packets(NULL), 1);
    /* The same with a header snaplen of 256 KiB. */
    set_le32(b.d + 16, 262144);
    path = with_big_record(&b, 262145, "huge2.pcap");
    assert_int_equal(RUN("-o", out_path, path), 1);
    assert_int_equal(err_packet_number(path), 2);
    assert_int_equal(out_packets(NULL), 1);
    free(b.d);
}

static void test_unknown_link_type_is_counted_not_fatal(void **state)
{
    (void)state;
    bytes b = load("close_client.pcap");
    const uint32_t types[] = {147 /* USER0 */, 4242 /* unassigned */};
    for (size_t i = 0; i < 2; i++) {
        set_le32(b.d + 20, types[i]);
        const char *path = write_tmp("link.pcap", b.d, b.n);
        assert_int_equal(RUN("-o", out_path, path), 0);
        int rows;
        assert_int_equal(out_packets(&rows), 0);
        assert_int_equal(rows, 0);
        assert_int_equal(RUN("--stats", path), 0);
        /* total: read tcp skipped unsupported_link ... */
        const char *tot = strstr(out_text, "\ntotal ");
        assert_non_null(tot);
        unsigned long v[4];
        assert_int_equal(sscanf(tot + 7, "%lu %lu %lu %lu", &v[0], &v[1], &v[2], &v[3]), 4);
        assert_int_equal(v[0], 11);
        assert_int_equal(v[1], 0);
        assert_int_equal(v[2], 11);
        assert_int_equal(v[3], 11);
        assert_non_null(strstr(out_text, "unsupported_link"));
    }
    free(b.d);
}

/* ---- damaged pcapng ---------------------------------------------------- */

static void test_pcapng_cut_at_and_inside_every_block(void **state)
{
    (void)state;
    bytes b = load("two_interfaces.pcapng");
    block k[64];
    int n = pcapng_blocks(&b, k, 64);
    assert_int_equal(k[0].type, 0x0A0D0D0Au);
    int epbs = 0; /* packet blocks before block i */
    for (int i = 0; i < n; i++) {
        /* Cut right after block i: a shorter capture. */
        size_t end = k[i].off + k[i].len;
        const char *path = write_tmp("cut.pcapng", b.d, end);
        int is_packet = k[i].type == 6 || k[i].type == 3 || k[i].type == 2;
        assert_int_equal(RUN("-o", out_path, path), 0);
        assert_string_equal(err_text, "");
        assert_int_equal(out_packets(NULL), epbs + is_packet);
        /* Cut inside block i (not the section header: see the exit-3 test). */
        if (i > 0) {
            size_t cuts[] = {k[i].off + 4, k[i].off + 8, k[i].off + k[i].len - 4};
            for (size_t c = 0; c < 3; c++) {
                path = write_tmp("cut.pcapng", b.d, cuts[c]);
                assert_int_equal(RUN("-o", out_path, path), epbs == 0 ? 3 : 1);
                assert_int_equal(err_packet_number(path), epbs + 1);
                char at[64];
                snprintf(at, sizeof(at), "truncated block%s at offset %zu",
                         cuts[c] < k[i].off + 8 ? " header" : "", k[i].off);
                assert_non_null(strstr(err_text, at));
                assert_int_equal(out_packets(NULL), epbs);
            }
        }
        epbs += is_packet;
    }
    free(b.d);
}

static void test_pcapng_bad_block_length(void **state)
{
    (void)state;
    bytes b = load("two_interfaces.pcapng");
    block k[64];
    int n = pcapng_blocks(&b, k, 64);
    /* The second packet block: one packet comes before it. */
    int second = -1, seen = 0;
    for (int i = 0; i < n && second < 0; i++)
        if (k[i].type == 6 && ++seen == 2)
            second = i;
    assert_true(second > 0);
    const block *x = &k[second];
    const struct {
        uint32_t len;
        int trailer_only;
        const char *msg;
    } cases[] = {
        {(uint32_t)x->len + 2, 0, "bad block length"}, /* not a multiple of 4 */
        {8, 0, "bad block length 8"},                  /* shorter than a block */
        {0x7ffffff0u, 0, "bad block length"},          /* beyond 16 MiB */
        {(uint32_t)x->len + 4, 1, "does not match its trailer"},
        {(uint32_t)x->len + 16, 0, "does not match its trailer"}, /* runs into the next */
    };
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        bytes d = {0};
        put(&d, b.d, b.n);
        if (cases[c].trailer_only)
            set_le32(d.d + x->off + x->len - 4, cases[c].len);
        else
            set_le32(d.d + x->off + 4, cases[c].len);
        const char *path = write_tmp("len.pcapng", d.d, d.n);
        assert_int_equal(RUN("-o", out_path, path), 1);
        assert_int_equal(err_packet_number(path), 2);
        assert_non_null(strstr(err_text, cases[c].msg));
        char at[64];
        snprintf(at, sizeof(at), "at offset %zu", x->off);
        assert_non_null(strstr(err_text, at));
        assert_int_equal(out_packets(NULL), 1);
        free(d.d);
    }
    /* Captured length beyond its block; an interface that does not exist. */
    bytes d = {0};
    put(&d, b.d, b.n);
    set_le32(d.d + x->off + 20, 100000);
    assert_int_equal(RUN("-o", out_path, write_tmp("cap.pcapng", d.d, d.n)), 1);
    assert_non_null(strstr(err_text, "captured length 100000 larger than its block"));
    assert_int_equal(out_packets(NULL), 1);
    memcpy(d.d, b.d, b.n);
    set_le32(d.d + x->off + 8, 7);
    assert_int_equal(RUN("-o", out_path, write_tmp("if.pcapng", d.d, d.n)), 1);
    assert_non_null(strstr(err_text, "names interface 7 of 2"));
    assert_int_equal(out_packets(NULL), 1);
    free(d.d);
    free(b.d);
}

static void test_pcapng_unknown_link_type_on_one_interface(void **state)
{
    (void)state;
    bytes b = load("two_interfaces.pcapng");
    block k[64];
    int n = pcapng_blocks(&b, k, 64);
    int idb = -1;
    for (int i = 0; i < n && idb < 0; i++)
        if (k[i].type == 1)
            idb = i;
    assert_true(idb > 0);
    b.d[k[idb].off + 8] = 147; /* LINKTYPE_USER0 (16 bits) */
    b.d[k[idb].off + 9] = 0;
    const char *path = write_tmp("lt.pcapng", b.d, b.n);
    assert_int_equal(RUN("--stats", path), 0);
    const char *tot = strstr(out_text, "\ntotal ");
    assert_non_null(tot);
    unsigned long v[4];
    assert_int_equal(sscanf(tot + 7, "%lu %lu %lu %lu", &v[0], &v[1], &v[2], &v[3]), 4);
    assert_int_equal(v[0], v[1] + v[2]);
    assert_true(v[3] >= 1 && v[3] == v[2]); /* interface 0's packets */
    assert_true(v[1] >= 1);                 /* interface 1 still read */
    free(b.d);
}

/* ---- gzip -------------------------------------------------------------- */

static bytes gzip_of(const bytes *raw)
{
    const char *path = tmp("whole.pcap.gz");
    gzFile gz = gzopen(path, "wb9");
    assert_non_null(gz);
    assert_int_equal(gzwrite(gz, raw->d, (unsigned)raw->n), (int)raw->n);
    assert_int_equal(gzclose(gz), Z_OK);
    bytes g = {0};
    FILE *f = fopen(path, "rb");
    uint8_t buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
        put(&g, buf, n);
    fclose(f);
    return g;
}

static void test_gzip_cut_short(void **state)
{
    (void)state;
    /* A larger sample, so that cuts fall between many packets. */
    bytes raw = load("busy_server.pcap");
    bytes g = gzip_of(&raw);
    char whole[8400];
    snprintf(whole, sizeof(whole), "%s/busy_server.pcap", samples);
    assert_int_equal(RUN("-o", out_path, whole), 0);
    long all = out_packets(NULL);
    long prev = -1;
    for (int eighth = 1; eighth <= 8; eighth++) {
        size_t len = eighth < 8 ? g.n * (size_t)eighth / 8 : g.n - 1; /* last: in the trailer */
        const char *path = write_tmp("cut.pcap.gz", g.d, len);
        int rc = RUN("-o", out_path, path);
        assert_non_null(strstr(err_text, path));
        assert_non_null(strstr(err_text, "unexpected end of file"));
        long got = out_packets(NULL);
        if (got == 0) {
            assert_int_equal(rc, 3);
        } else {
            /* The message names the packet that was cut; all before it are in. */
            assert_int_equal(rc, 1);
            assert_int_equal(err_packet_number(path), got + 1);
        }
        assert_true(got >= prev && got <= all);
        prev = got;
    }
    assert_int_equal(prev, all); /* a cut trailer loses no packet */
    free(g.d);
    free(raw.d);
}

static void test_gzip_corrupt_stream(void **state)
{
    (void)state;
    bytes raw = load("busy_server.pcap");
    bytes g = gzip_of(&raw);
    /* Corrupt deflate data half-way: what was inflated before it is kept. */
    g.d[g.n / 2] ^= 0x55;
    const char *path = write_tmp("bad.pcap.gz", g.d, g.n);
    assert_int_equal(RUN("-o", out_path, path), 1);
    assert_non_null(strstr(err_text, path));
    assert_null(strstr(err_text, "<fd:")); /* no zlib-internal names */
    /* The damage is half-way through: about half of the 1051 packets come
     * before it (inflated garbage after it may read as a few records). */
    long at = err_packet_number(path), kept = out_packets(NULL);
    if (kept < 400 || kept > at - 1)
        fail_msg("%ld packets kept, damage at packet %ld", kept, at);
    g.d[g.n / 2] ^= 0x55;
    /* Only the CRC broken: every packet, then the message. */
    g.d[g.n - 6] ^= 0x01;
    path = write_tmp("crc.pcap.gz", g.d, g.n);
    assert_int_equal(RUN("-o", out_path, path), 1);
    assert_non_null(strstr(err_text, "corrupt gzip data"));
    assert_int_equal(out_packets(NULL), 1051);
    free(g.d);
    free(raw.d);
}

/* ---- fuzz regressions ---------------------------------------------------- */

static void test_fuzz_regressions_replay(void **state)
{
    (void)state;
    char dir[4200];
    snprintf(dir, sizeof(dir), "%s/fuzz/regressions/pipeline", SYNFIN_SOURCE_DIR);
    DIR *d = opendir(dir);
    if (!d)
        skip();
    struct dirent *de;
    int n = 0;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        char path[8400];
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        int rc = RUN("-q", "--msl", "0.001", "--idle-timeout", "0.01", "--max-flows", "2", "-o",
                     out_path, path, path);
        if (rc != 0 && rc != 1 && rc != 3)
            fail_msg("%s: exit %d", de->d_name, rc);
        /* -q: nothing to say, so anything here is a sanitizer's report */
        if (*err_text)
            fail_msg("%s: %.300s", de->d_name, err_text);
        (void)out_packets(NULL);
        n++;
    }
    closedir(d);
    print_message("%d regression inputs replayed\n", n);
}

/* ---- pathological traces ------------------------------------------------- */

/* A minimal Ethernet / IPv4 / TCP pcap writer (checksums are not read). */
typedef struct trace {
    FILE *f;
} trace;

static trace trace_open(const char *path)
{
    trace t = {fopen(path, "wb")};
    assert_non_null(t.f);
    bytes h = {0};
    put_le32(&h, 0xa1b2c3d4u);
    put_le16(&h, 2);
    put_le16(&h, 4);
    put_le32(&h, 0);
    put_le32(&h, 0);
    put_le32(&h, 96);
    put_le32(&h, 1);
    assert_int_equal(fwrite(h.d, 1, h.n, t.f), h.n);
    free(h.d);
    return t;
}

static void trace_tcp(trace *t, uint64_t ts_us, uint32_t src, uint16_t sport, uint32_t dst,
                      uint16_t dport, uint8_t flags, uint32_t seq, uint32_t ack)
{
    uint8_t p[54] = {0};
    p[12] = 0x08; /* IPv4 */
    uint8_t *ip = p + 14, *tcp = p + 34;
    ip[0] = 0x45;
    ip[3] = 40; /* total length */
    ip[8] = 64;
    ip[9] = 6;
    for (int i = 0; i < 4; i++) {
        ip[12 + i] = (uint8_t)(src >> (24 - 8 * i));
        ip[16 + i] = (uint8_t)(dst >> (24 - 8 * i));
        tcp[4 + i] = (uint8_t)(seq >> (24 - 8 * i));
        tcp[8 + i] = (uint8_t)(ack >> (24 - 8 * i));
    }
    tcp[0] = (uint8_t)(sport >> 8);
    tcp[1] = (uint8_t)sport;
    tcp[2] = (uint8_t)(dport >> 8);
    tcp[3] = (uint8_t)dport;
    tcp[12] = 0x50;
    tcp[13] = flags;
    tcp[14] = 0xff;
    tcp[15] = 0xff;
    uint8_t h[16];
    set_le32(h, (uint32_t)(ts_us / 1000000));
    set_le32(h + 4, (uint32_t)(ts_us % 1000000));
    set_le32(h + 8, sizeof(p));
    set_le32(h + 12, sizeof(p));
    assert_int_equal(fwrite(h, 1, 16, t->f), 16);
    assert_int_equal(fwrite(p, 1, sizeof(p), t->f), sizeof(p));
}

static void trace_close(trace *t)
{
    assert_int_equal(fclose(t->f), 0);
}

enum { F_FIN = 1, F_SYN = 2, F_RST = 4, F_ACK = 16 };
#define CLIENT_IP 0x0a000001u
#define SERVER_IP 0x0a000002u
#define T0_US     (UINT64_C(1700000000) * 1000000)

/* A segment out of order across census moments: said (the input's
 * disorder, then the census's changes counted a moment late), and nothing
 * said with -q, as for damage; but census rows left out are said with -q
 * too. */
static void test_census_disorder_notes_and_quiet(void **state)
{
    (void)state;
    const char *path = tmp("disorder.pcap");
    trace t = trace_open(path);
    trace_tcp(&t, T0_US, CLIENT_IP, 40000, SERVER_IP, 80, F_SYN, 1000, 0);
    trace_tcp(&t, T0_US + 100, SERVER_IP, 80, CLIENT_IP, 40000, F_SYN | F_ACK, 5000, 1001);
    trace_tcp(&t, T0_US + 200, CLIENT_IP, 40000, SERVER_IP, 80, F_ACK, 1001, 5001);
    /* Another connection 5 s on: the moments 1 to 4 s are written. */
    trace_tcp(&t, T0_US + 5000000, CLIENT_IP, 40001, SERVER_IP, 80, F_SYN, 7000, 0);
    /* Then the first one's FIN, stamped 0.5 s. */
    trace_tcp(&t, T0_US + 500000, CLIENT_IP, 40000, SERVER_IP, 80, F_FIN | F_ACK, 1001, 5001);
    trace_close(&t);
    const char *census = tmp("disorder-census.csv");
    assert_int_equal(RUN("-o", out_path, "--census", census, path), 0);
    assert_non_null(strstr(err_text, "packet 5 goes back in time"));
    assert_non_null(strstr(err_text, "changes came after the moment they belong to"));
    char *loud = tk_slurp(census, NULL);
    assert_non_null(loud);
    assert_int_equal(RUN("-q", "-o", out_path, "--census", census, path), 0);
    assert_string_equal(err_text, "");
    /* The census is the same either way. */
    char *quiet = tk_slurp(census, NULL);
    assert_non_null(quiet);
    assert_string_equal(quiet, loud);
    free(loud);
    free(quiet);

    /* A capture longer than the census's 1,000,000 moments: its rows end
     * there, which is said even with -q. */
    const char *longer = tmp("longer.pcap");
    t = trace_open(longer);
    trace_tcp(&t, T0_US, CLIENT_IP, 40000, SERVER_IP, 80, F_RST, 1000, 0);
    trace_tcp(&t, T0_US + UINT64_C(2000000) * 1000000, CLIENT_IP, 40001, SERVER_IP, 80, F_RST, 7000,
              0);
    trace_close(&t);
    assert_int_equal(RUN("-q", "-o", out_path, "--census", "/dev/null", longer), 0);
    assert_non_null(strstr(err_text, "the census over time stops after 1000000 moments"));
}

static void test_hundred_thousand_retransmitted_fins(void **state)
{
    (void)state;
    const char *path = tmp("fins.pcap");
    trace t = trace_open(path);
    uint64_t ts = T0_US;
    uint32_t c = 1000, s = 5000;
    trace_tcp(&t, ts, CLIENT_IP, 40000, SERVER_IP, 80, F_SYN, c, 0);
    trace_tcp(&t, ts += 100, SERVER_IP, 80, CLIENT_IP, 40000, F_SYN | F_ACK, s, c + 1);
    trace_tcp(&t, ts += 100, CLIENT_IP, 40000, SERVER_IP, 80, F_ACK, c + 1, s + 1);
    trace_tcp(&t, ts += 100, CLIENT_IP, 40000, SERVER_IP, 80, F_FIN | F_ACK, c + 1, s + 1);
    trace_tcp(&t, ts += 100, SERVER_IP, 80, CLIENT_IP, 40000, F_ACK, s + 1, c + 2);
    /* The server's FIN, then 100k retransmissions 2 ms apart: each one
     * restarts the client's TIME_WAIT (RFC 793). */
    for (int i = 0; i <= 100000; i++)
        trace_tcp(&t, ts += 2000, SERVER_IP, 80, CLIENT_IP, 40000, F_FIN | F_ACK, s + 1, c + 2);
    trace_close(&t);
    assert_int_equal(RUN("-o", out_path, path), 0);
    table tb = parse_csv(out_text);
    assert_int_equal(tb.rows, 1);
    assert_string_equal(cell(&tb, 0, "fin_retransmits"), "100000");
    assert_string_equal(cell(&tb, 0, "time_wait_side"), "client");
    assert_string_equal(cell(&tb, 0, "packets_s2c"), "100003"); /* SYN-ACK, ACK, 100001 FINs */
    table_free(&tb);
}

static void test_one_four_tuple_reused_thousands_of_times(void **state)
{
    (void)state;
    const char *path = tmp("reuse.pcap");
    trace t = trace_open(path);
    uint64_t ts = T0_US;
    enum { N = 5000 };
    for (uint32_t i = 0; i < N; i++) {
        uint32_t c = i * 100000u, s = 7 + i * 3u;
        trace_tcp(&t, ts += 10, CLIENT_IP, 40000, SERVER_IP, 80, F_SYN, c, 0);
        trace_tcp(&t, ts += 10, SERVER_IP, 80, CLIENT_IP, 40000, F_SYN | F_ACK, s, c + 1);
        trace_tcp(&t, ts += 10, CLIENT_IP, 40000, SERVER_IP, 80, F_ACK, c + 1, s + 1);
        trace_tcp(&t, ts += 10, CLIENT_IP, 40000, SERVER_IP, 80, F_FIN | F_ACK, c + 1, s + 1);
        trace_tcp(&t, ts += 10, SERVER_IP, 80, CLIENT_IP, 40000, F_FIN | F_ACK, s + 1, c + 2);
        trace_tcp(&t, ts += 10, CLIENT_IP, 40000, SERVER_IP, 80, F_ACK, c + 2, s + 2);
    }
    trace_close(&t);
    assert_int_equal(RUN("-o", out_path, path), 0);
    table tb = parse_csv(out_text);
    assert_int_equal(tb.rows, N);
    int reused = 0;
    for (int r = 0; r < tb.rows; r++) {
        assert_string_equal(cell(&tb, r, "handshake"), "complete");
        reused += strcmp(cell(&tb, r, "time_wait_end_reason"), "reused") == 0;
    }
    assert_int_equal(reused, N - 1); /* the last one is censored by the capture end */
    table_free(&tb);
}

static void test_many_one_packet_flows_under_max_flows(void **state)
{
    (void)state;
    const char *path = tmp("scan.pcap");
    trace t = trace_open(path);
    enum { N = 200000, MAX = 1000 };
    for (uint32_t i = 0; i < N; i++)
        trace_tcp(&t, T0_US + i, 0x0b000000u + i / 50000, (uint16_t)(1024 + i % 50000), SERVER_IP,
                  80, F_SYN, i, 0);
    trace_close(&t);
    char max[16];
    snprintf(max, sizeof(max), "%d", MAX);
    assert_int_equal(RUN("--max-flows", max, "--summary", "-o", out_path, path), 0);
    table tb = parse_csv(out_text);
    assert_int_equal(tb.rows, N);
    int evicted = 0;
    for (int r = 0; r < tb.rows; r++)
        evicted += strstr(cell(&tb, r, "anomalies"), "evicted") != NULL;
    assert_int_equal(evicted, N - MAX);
    table_free(&tb);
    const char *peak = strstr(err_text, "peak ");
    assert_non_null(peak);
    assert_true(atol(peak + 5) <= MAX);
}

/* ---- fixtures ------------------------------------------------------------ */

static int setup(void **state)
{
    (void)state;
    if (!mkdtemp(tmpdir))
        return -1;
    snprintf(out_path, sizeof(out_path), "%s/stdout", tmpdir);
    snprintf(err_path, sizeof(err_path), "%s/stderr", tmpdir);
    snprintf(samples, sizeof(samples), "%s/samples", SYNFIN_SOURCE_DIR);
    char probe[8400];
    snprintf(probe, sizeof(probe), "%s/close_client.pcap", samples);
    if (access(probe, R_OK) != 0) {
        /* Not in the source tree (a partial checkout): make them. */
        snprintf(samples, sizeof(samples), "%s/samples", tmpdir);
        char cmd[9000];
        snprintf(cmd, sizeof(cmd), "'%s' '%s' >/dev/null", SYNFIN_SAMPLEGEN, samples);
        if (system(cmd) != 0)
            return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    free(out_text);
    free(err_text);
    char cmd[4200];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pcap_cut_between_records_is_a_shorter_capture),
        cmocka_unit_test(test_pcap_cut_inside_a_record_names_the_packet),
        cmocka_unit_test(test_damaged_file_does_not_stop_the_next_one),
        cmocka_unit_test(test_pcap_header_cut_is_nothing_readable),
        cmocka_unit_test(test_zero_length_file),
        cmocka_unit_test(test_nothing_read_before_damage_is_exit_3),
        cmocka_unit_test(test_caplen_beyond_snaplen),
        cmocka_unit_test(test_unknown_link_type_is_counted_not_fatal),
        cmocka_unit_test(test_pcapng_cut_at_and_inside_every_block),
        cmocka_unit_test(test_pcapng_bad_block_length),
        cmocka_unit_test(test_pcapng_unknown_link_type_on_one_interface),
        cmocka_unit_test(test_gzip_cut_short),
        cmocka_unit_test(test_gzip_corrupt_stream),
        cmocka_unit_test(test_fuzz_regressions_replay),
        cmocka_unit_test(test_census_disorder_notes_and_quiet),
        cmocka_unit_test(test_hundred_thousand_retransmitted_fins),
        cmocka_unit_test(test_one_four_tuple_reused_thousands_of_times),
        cmocka_unit_test(test_many_one_packet_flows_under_max_flows),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
