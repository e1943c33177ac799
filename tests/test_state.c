/*
 * test_state.c: incremental runs as users run them (the built binary):
 * a capture cut into pieces and read run after run with --state-out and
 * --state-in gives the rows of one run over the whole capture, byte for
 * byte and in the same order, and the census's `*` rows (and every host's
 * counts); a damaged, foreign, other-version or other-options state file
 * is refused with exit 2 and leaves the outputs untouched.
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
#include <zlib.h>

#include "testkit.h"
#include "tk_work.h"

#define SAMPLES SYNFIN_SOURCE_DIR "/samples/"

/* The scratch directory and the last run's streams (testkit). */
TK_WORK_FIXTURE("synfin-state")

static void write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

/*
 * Cuts the classic pcap `path` (little-endian headers, as the samples are)
 * into n pieces at the record fractions cut[0..n-2], in file order (a
 * rotated capture's pieces), written to piece<i>.pcap. Returns the records.
 */
static size_t cut_pcap(const char *path, const double *cut, int n)
{
    size_t len;
    char *d = tk_slurp(path, &len);
    assert_non_null(d);
    assert_true(len >= 24);
    size_t *offs = malloc((len / 16 + 2) * sizeof(*offs)), nrec = 0, o = 24;
    assert_non_null(offs);
    while (o + 16 <= len) {
        uint32_t caplen;
        memcpy(&caplen, d + o + 8, 4);
        offs[nrec++] = o;
        o += 16 + caplen;
    }
    offs[nrec] = o;
    size_t from = 0;
    for (int i = 0; i < n; i++) {
        size_t to = i == n - 1 ? nrec : (size_t)(cut[i] * (double)nrec);
        char name[32];
        snprintf(name, sizeof(name), "piece%d.pcap", i);
        char *buf = malloc(24 + offs[to] - offs[from] + 1);
        assert_non_null(buf);
        memcpy(buf, d, 24);
        memcpy(buf + 24, d + offs[from], offs[to] - offs[from]);
        write_file(tmp(name), buf, 24 + offs[to] - offs[from]);
        free(buf);
        from = to;
    }
    free(offs);
    free(d);
    return nrec;
}

/* The lines of `text` that contain `needle`, concatenated. */
static char *lines_with(const char *text, const char *needle)
{
    size_t n = strlen(text);
    char *out = calloc(1, n + 1);
    assert_non_null(out);
    for (const char *p = text; *p;) {
        const char *e = strchr(p, '\n');
        size_t l = e ? (size_t)(e - p) + 1 : strlen(p);
        char *line = strndup(p, l);
        assert_non_null(line);
        if (strstr(line, needle))
            strcat(out, line);
        free(line);
        p += l;
    }
    return out;
}

/* Appends file `path` to *acc (skipping its first line when skip_header). */
static void append_file(char **acc, const char *path, int skip_header)
{
    char *t = tk_slurp(path, NULL);
    assert_non_null(t);
    const char *body = t;
    if (skip_header) {
        body = strchr(t, '\n');
        body = body ? body + 1 : t + strlen(t);
    }
    size_t have = *acc ? strlen(*acc) : 0;
    *acc = realloc(*acc, have + strlen(body) + 1);
    assert_non_null(*acc);
    strcpy(*acc + have, body);
    free(t);
}

/* One run over `sample`, then the same cut into n pieces run after run
 * carrying the state (the middle runs read and write the same file): the
 * rows and the census's `*` rows must be those of the one run. */
static void check_pieces(const char *sample, const double *cut, int n)
{
    cut_pcap(sample, cut, n);
    assert_int_equal(RUN("-q", "-o", tmp("full.csv"), "--census", tmp("full_c.csv"), sample), 0);
    char *rows = NULL, *census = NULL;
    (void)unlink(tmp("st"));
    for (int i = 0; i < n; i++) {
        char piece[32], csv[32], cen[32];
        snprintf(piece, sizeof(piece), "piece%d.pcap", i);
        snprintf(csv, sizeof(csv), "rows%d.csv", i);
        snprintf(cen, sizeof(cen), "cen%d.csv", i);
        const char *args[16];
        int k = 0;
        args[k++] = "-q";
        if (i > 0)
            args[k++] = "--no-header";
        args[k++] = "-o";
        args[k++] = tmp(csv);
        args[k++] = "--census";
        args[k++] = tmp(cen);
        if (i > 0) {
            args[k++] = "--state-in";
            args[k++] = tmp("st");
        }
        if (i < n - 1) {
            args[k++] = "--state-out";
            args[k++] = tmp("st");
        }
        args[k++] = tmp(piece);
        args[k] = NULL;
        int rc = run_synfin(args);
        if (rc != 0)
            fail_msg("%s piece %d: exit %d: %s", sample, i, rc, err_text);
        append_file(&rows, tmp(csv), 0);
        append_file(&census, tmp(cen), i > 0);
    }
    char *full = tk_slurp(tmp("full.csv"), NULL);
    char *full_c = tk_slurp(tmp("full_c.csv"), NULL);
    assert_non_null(full);
    assert_non_null(full_c);
    if (strcmp(full, rows) != 0)
        fail_msg("%s in %d pieces: the rows differ from one run's", sample, n);
    char *a = lines_with(full_c, ",*,"), *b = lines_with(census, ",*,");
    if (strcmp(a, b) != 0)
        fail_msg("%s in %d pieces: the census's * rows differ from one run's", sample, n);
    free(a);
    free(b);
    free(full);
    free(full_c);
    free(rows);
    free(census);
}

/* Samples that carry something across a cut: TIME_WAIT, timers the wire
 * does not show, a clock step back, timestamps, roles by listener, tunnels
 * (their numbers in the keys of the instances carried). */
static void test_pieces_give_one_run(void **state)
{
    (void)state;
    static const char *const samples[] = {
        "busy_server.pcap",     "syn_gave_up.pcap",    "fin_wait2_orphan.pcap",
        "clock_step_back.pcap", "nat_timestamps.pcap", "accept_queue_overflow.pcap",
        "port_pressure.pcap",   "keepalive.pcap",      "handshake_no_ack.pcap",
        "tunnels.pcap",
    };
    static const double halves[] = {0.1, 0.3, 0.5, 0.8, 0.95};
    for (size_t s = 0; s < sizeof(samples) / sizeof(samples[0]); s++) {
        char path[400];
        snprintf(path, sizeof(path), SAMPLES "%s", samples[s]);
        for (size_t h = 0; h < sizeof(halves) / sizeof(halves[0]); h++)
            check_pieces(path, &halves[h], 2);
        static const double thirds[] = {0.33, 0.66};
        check_pieces(path, thirds, 3);
    }
}

/* The state as a run left it: the busy server cut in two. */
static size_t make_state(char **data)
{
    static const double half[] = {0.5};
    cut_pcap(SAMPLES "busy_server.pcap", half, 2);
    (void)unlink(tmp("st"));
    assert_int_equal(RUN("-q", "-o", tmp("r0.csv"), "--state-out", tmp("st"), tmp("piece0.pcap")),
                     0);
    size_t len;
    *data = tk_slurp(tmp("st"), &len);
    assert_non_null(*data);
    assert_true(len > 40);
    return len;
}

/* Refused with exit 2, a message naming the file and saying why, and the
 * -o file (and --census file) as they were. */
static void expect_refused(const char *state, const char *why, const char *const *extra)
{
    write_file(tmp("keep.csv"), "keep\n", 5);
    const char *args[16] = {"-o", tmp("keep.csv")};
    int k = 2;
    for (; extra && *extra; extra++)
        args[k++] = *extra;
    args[k++] = "--state-in";
    args[k++] = state;
    args[k++] = tmp("piece1.pcap");
    args[k] = NULL;
    assert_int_equal(run_synfin(args), 2);
    if (!strstr(err_text, state) || !strstr(err_text, why))
        fail_msg("expected '%s' naming %s, got: %s", why, state, err_text);
    char *kept = tk_slurp(tmp("keep.csv"), NULL);
    assert_string_equal(kept, "keep\n");
    free(kept);
}

static void test_bad_state_files_refused(void **state)
{
    (void)state;
    char *d;
    size_t len = make_state(&d);
    /* One bit flipped in the payload. */
    d[len / 2] ^= 1;
    write_file(tmp("flipped"), d, len);
    expect_refused(tmp("flipped"), "checksum", NULL);
    d[len / 2] ^= 1;
    /* Cut short, in the payload and in the header. */
    write_file(tmp("short"), d, len - 100);
    expect_refused(tmp("short"), "cut short", NULL);
    write_file(tmp("short_hdr"), d, 20);
    expect_refused(tmp("short_hdr"), "cut short", NULL);
    /* Bytes after its end. */
    char *longer = malloc(len + 1);
    assert_non_null(longer);
    memcpy(longer, d, len);
    longer[len] = 'x';
    write_file(tmp("longer"), longer, len + 1);
    expect_refused(tmp("longer"), "after the end", NULL);
    free(longer);
    /* Another version (the 4 bytes after the 16-byte magic). */
    uint32_t v = 99;
    memcpy(d + 16, &v, 4);
    write_file(tmp("v99"), d, len);
    expect_refused(tmp("v99"), "version 99", NULL);
    /* Foreign: a capture, and an empty file. */
    expect_refused(SAMPLES "busy_server.pcap", "not a synfin state", NULL);
    write_file(tmp("empty"), "", 0);
    expect_refused(tmp("empty"), "not a synfin state", NULL);
    expect_refused(tmp("no_such_file"), "cannot read", NULL);
    free(d);
}

static void test_other_options_refused(void **state)
{
    (void)state;
    char *d;
    (void)make_state(&d);
    free(d);
    expect_refused(tmp("st"), "other replay options", (const char *const[]){"--msl", "10", NULL});
    expect_refused(tmp("st"), "other replay options",
                   (const char *const[]){"--server", "8080", NULL});
    expect_refused(tmp("st"), "--no-tunnels", (const char *const[]){"--no-tunnels", NULL});
    expect_refused(tmp("st"), "needs one from the first run",
                   (const char *const[]){"--census", tmp("c.csv"), NULL});
    /* A census state read without one, and with another --interval. */
    assert_int_equal(RUN("-q", "-o", tmp("r0.csv"), "--census", tmp("c0.csv"), "--state-out",
                         tmp("st_c"), tmp("piece0.pcap")),
                     0);
    expect_refused(tmp("st_c"), "needs one too", NULL);
    expect_refused(tmp("st_c"), "--interval",
                   (const char *const[]){"--census", tmp("c.csv"), "--interval", "2", NULL});
    /* With --stats there is no replay to carry. */
    assert_int_equal(RUN("--stats", "--state-in", tmp("st"), tmp("piece1.pcap")), 2);
}

/* Damage the checksum cannot catch (a crafted file: the CRC-32 made right
 * again after a byte changed): the run refuses it or goes on, and never
 * crashes (under the sanitizers in CI). */
static void test_crafted_states_never_crash(void **state)
{
    (void)state;
    char *d;
    size_t len = make_state(&d);
    const size_t header = 40;
    uint32_t seed = 12345;
    for (int k = 0; k < 150; k++) {
        seed = seed * 1103515245u + 12345u;
        size_t at = header + (seed >> 8) % (len - header);
        char *c = malloc(len);
        assert_non_null(c);
        memcpy(c, d, len);
        c[at] = (char)(c[at] ^ (char)(1u << (seed % 8)) ^ (char)((seed >> 3) & 0xf0));
        uint32_t crc =
            (uint32_t)crc32_z(crc32(0L, Z_NULL, 0), (const Bytef *)c + header, len - header);
        memcpy(c + 32, &crc, 4);
        write_file(tmp("crafted"), c, len);
        free(c);
        int rc = RUN("-q", "-o", tmp("r.csv"), "--state-in", tmp("crafted"), tmp("piece1.pcap"));
        if (rc != 0 && rc != 2)
            fail_msg("byte %zu changed: exit %d: %s", at, rc, err_text);
    }
    free(d);
}

/* --state-out where it cannot be written: said before anything is read. */
static void test_state_out_unwritable(void **state)
{
    (void)state;
    assert_int_equal(RUN("-q", "-o", tmp("r.csv"), "--state-out", "/nonexistent-dir/st",
                         SAMPLES "busy_server.pcap"),
                     1);
    assert_non_null(strstr(err_text, "/nonexistent-dir/st"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pieces_give_one_run),
        cmocka_unit_test(test_bad_state_files_refused),
        cmocka_unit_test(test_other_options_refused),
        cmocka_unit_test(test_crafted_states_never_crash),
        cmocka_unit_test(test_state_out_unwritable),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
