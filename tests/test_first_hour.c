/*
 * test_first_hour.c: the rough edges a user meets in the first hour
 * (issue 14), end to end on the built binary: an output that cannot be
 * written is exit 1 as the README says; a run that can read nothing leaves
 * no -o file behind; a capture whose snaplen cut every TCP header says so
 * and exits 1.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "testkit.h"
#include "tk_work.h"

#define SAMPLES SYNFIN_SOURCE_DIR "/samples/"

/* The scratch directory and the last run's streams (testkit). */
TK_WORK_FIXTURE("synfin-first")

static int exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* README "Exit codes": an output that cannot be written is 1, whether it
 * fails when opened or when written; --help says the same. */
static void test_unwritable_output_is_exit_1(void **state)
{
    (void)state;
    assert_int_equal(RUN("-o", "/nonexistent/x.csv", SAMPLES "close_client.pcap"), 1);
    assert_non_null(strstr(err_text, "/nonexistent/x.csv: cannot write: No such file"));
    assert_int_equal(RUN("-o", tmpdir, SAMPLES "close_client.pcap"), 1);
    assert_non_null(strstr(err_text, "cannot write: Is a directory"));
    assert_int_equal(RUN("-o", "/dev/full", SAMPLES "close_client.pcap"), 1);
    assert_non_null(strstr(err_text, "/dev/full: write error"));
    assert_int_equal(RUN("--census", "/nonexistent/c.csv", SAMPLES "close_client.pcap"), 1);
    assert_int_equal(RUN("--findings", "/nonexistent/f.md", SAMPLES "close_client.pcap"), 1);
    assert_int_equal(RUN("--help"), 0);
    assert_non_null(strstr(out_text, "or an output could not be opened or written"));
}

/* Nothing readable: exit 3, and no -o file (nor a header on standard
 * output); a valid capture without packets still gets its header. */
static void test_nothing_readable_creates_no_output(void **state)
{
    (void)state;
    char csv[300];
    size_t len_check;
    snprintf(csv, sizeof(csv), "%s", tmp("never.csv"));
    assert_int_equal(RUN("-o", csv, "/nonexistent.pcap"), 3);
    assert_false(exists(csv));
    FILE *f = fopen(tmp("notes.txt"), "w");
    fputs("not a capture\n", f);
    fclose(f);
    assert_int_equal(RUN("-o", csv, tmp("notes.txt"), "/nonexistent.pcap"), 3);
    assert_false(exists(csv));
    assert_int_equal(RUN(tmp("notes.txt")), 3);
    assert_string_equal(out_text, "");
    /* a file that is there already is left as it was */
    f = fopen(csv, "w");
    fputs("keep me\n", f);
    fclose(f);
    assert_int_equal(RUN("-o", csv, "/nonexistent.pcap"), 3);
    char *kept = tk_slurp(csv, NULL);
    assert_string_equal(kept, "keep me\n");
    free(kept);
    /* a pcap header and no packet: a success, with the header */
    static const uint8_t empty_pcap[24] = {0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0,
                                           0,    0,    0,    0,    0, 0, 4, 0, 1, 0, 0, 0};
    f = fopen(tmp("empty.pcap"), "wb");
    fwrite(empty_pcap, 1, sizeof(empty_pcap), f);
    fclose(f);
    unlink(csv);
    assert_int_equal(RUN("-o", csv, tmp("empty.pcap")), 0);
    char *header = tk_slurp(csv, NULL);
    assert_non_null(strstr(header, "conn_id,"));
    free(header);
    /* an output that is also an input is refused before anything is read */
    char copy[300];
    snprintf(copy, sizeof(copy), "%s", tmp("copy.pcap"));
    size_t n;
    char *cap = tk_slurp(SAMPLES "close_client.pcap", &n);
    f = fopen(copy, "wb");
    fwrite(cap, 1, n, f);
    fclose(f);
    free(cap);
    assert_int_equal(RUN("-o", copy, copy), 2);
    assert_non_null(strstr(err_text, "the output is also an input"));
    char *still = tk_slurp(copy, &len_check);
    assert_int_equal(len_check, n);
    free(still);
    /* and a good run creates it */
    unlink(csv);
    assert_int_equal(RUN("-o", csv, SAMPLES "close_client.pcap"), 0);
    assert_true(exists(csv));
}

/* The capture with every record cut to `snaplen` bytes (editcap -s). */
static void write_cut_capture(const char *from, const char *to, uint32_t snaplen)
{
    size_t len;
    char *d = tk_slurp(from, &len);
    assert_true(len > 24);
    FILE *f = fopen(to, "wb");
    assert_non_null(f);
    uint8_t hdr[24];
    memcpy(hdr, d, 24);
    memcpy(hdr + 16, &snaplen, 4); /* the samples are little-endian */
    fwrite(hdr, 1, 24, f);
    for (size_t o = 24; o + 16 <= len;) {
        uint32_t rec[4];
        memcpy(rec, d + o, 16);
        uint32_t caplen = rec[2], keep = caplen < snaplen ? caplen : snaplen;
        rec[2] = keep;
        fwrite(rec, 1, 16, f);
        fwrite(d + o + 16, 1, keep, f);
        o += 16 + caplen;
    }
    fclose(f);
    free(d);
}

/* editcap -s 50: an Ethernet + IPv4 + TCP header is 54 bytes or more, so
 * not one segment is left: the CSV would be empty without a word. */
static void test_snaplen_cutting_every_tcp_header_says_why(void **state)
{
    (void)state;
    const char *cut = tmp("s50.pcap");
    write_cut_capture(SAMPLES "busy_server.pcap", cut, 50);
    assert_int_equal(RUN("--no-header", cut), 1);
    assert_string_equal(out_text, "");
    assert_non_null(strstr(err_text, "s50.pcap: no TCP segment could be read"));
    assert_non_null(strstr(err_text, "cut by the snaplen"));
    /* -q: no word, the same exit code */
    assert_int_equal(RUN("-q", cut), 1);
    assert_string_equal(err_text, "");
    /* beside a good capture: that one's rows, and still the word and 1 */
    assert_int_equal(RUN("--no-header", cut, SAMPLES "close_client.pcap"), 1);
    assert_non_null(strstr(err_text, "s50.pcap: no TCP segment"));
    assert_non_null(strstr(out_text, "10.0.0.1,40000,10.0.0.2,80,"));
    /* header-only captures (snaplen 96) are fine */
    write_cut_capture(SAMPLES "busy_server.pcap", tmp("s96.pcap"), 96);
    assert_int_equal(RUN("--no-header", tmp("s96.pcap")), 0);
    assert_string_equal(err_text, "");
    assert_true(strlen(out_text) > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unwritable_output_is_exit_1),
        cmocka_unit_test(test_nothing_readable_creates_no_output),
        cmocka_unit_test(test_snaplen_cutting_every_tcp_header_says_why),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
