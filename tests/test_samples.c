/*
 * test_samples: the sample captures and the generator that writes them.
 *
 * - samplegen, run into a fresh directory, writes exactly the files
 *   committed in samples/, byte for byte (determinism, and the committed
 *   files are up to date), and nothing is missing or stale either way;
 * - the samples of the replay rules (RFC 5961 resets, abort on data,
 *   handshake credit, accept-queue overflow, unseen timers, a clock that
 *   steps back, SACK duplicate ACKs, listener roles) through the synfin
 *   binary: the CSV fields (and --summary lines) each sample exists to show;
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
#include "testkit.h"

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
    assert_true(count >= 57);
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
        "link_ethernet.pcap",      "link_vlan.pcap",
        "link_qinq.pcap",          "link_sll.pcap",
        "link_sll2.pcap",          "link_raw.pcap",
        "link_ipv4.pcap",          "link_ipv6.pcap",
        "link_null.pcap",          "link_null_swapped.pcap",
        "link_loop.pcap",          "link_pppoe.pcap",
        "link_mpls.pcap",          "pcap_nsec.pcap",
        "pcap_bigendian.pcap",     "two_interfaces.pcapng",
        "mixed_nontcp.pcap",       "handshake_complete.pcap",
        "handshake_syn_only.pcap", "handshake_no_ack.pcap",
        "handshake_refused.pcap",  "simultaneous_open.pcap",
        "midstream.pcap",          "close_client.pcap",
        "close_server.pcap",       "close_three_way.pcap",
        "crossed_fins.pcap",       "crossed_fins_bsd.pcap",
        "fin_lost.pcap",           "half_close.pcap",
        "rst_client.pcap",         "rst_server.pcap",
        "rst_out_of_window.pcap",  "rst_ttl_changed.pcap",
        "tw_expired.pcap",         "tw_reused.pcap",
        "tw_restarted.pcap",       "seq_wrap.pcap",
        "ipv6_close.pcap",         "vlan_close.pcap",
        "syn_with_data.pcap",      "data_after_fin.pcap",
        "busy_server.pcap",        "rst_challenged.pcap",
        "aborted_on_data.pcap",    "fast_open_server_fin.pcap",
        "synack_before_syn.pcap",  "handshake_old_ack.pcap",
        "split_handshake.pcap",    "accept_queue_overflow.pcap",
        "syn_gave_up.pcap",        "fin_wait2_orphan.pcap",
        "keepalive.pcap",          "tw_fin_delivered.pcap",
        "nat_timestamps.pcap",     "second_fin_lost.pcap",
        "clock_step_back.pcap",    "dup_ack_sack.pcap",
        "midstream_listener.pcap", "port_pressure.pcap",
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

/* ------------------------------------------------ synfin on the samples */

/*
 * The samples of the replay rules (samples/README.md), run through the
 * synfin binary: each check names the fields the sample exists to show.
 * Rows come in the order instances end; they are looked up by conn_id.
 */

typedef struct run {
    tk_table t;
    char *err; /* standard error: --summary */
} run;

typedef struct field {
    const char *col, *want;
} field;

/* Runs synfin with `args` (NULL-terminated) and parses its CSV. */
static void synfin_run(run *r, const char *const *args)
{
    char out[600], errp[600], msg[256];
    snprintf(out, sizeof out, "%s", tmp_path("synfin.csv"));
    snprintf(errp, sizeof errp, "%s", tmp_path("synfin.err"));
    assert_int_equal(tk_run(SYNFIN_BINARY, args, NULL, out, errp, 60), 0);
    size_t len;
    char *text = tk_slurp(out, &len);
    if (tk_csv_parse(text, len, &r->t, msg, sizeof msg) != 0) {
        print_error("synfin's CSV: %s\n", msg);
        fail();
    }
    free(text);
    r->err = tk_slurp(errp, NULL);
}

#define SYNFIN(r, ...) synfin_run(r, (const char *const[]){__VA_ARGS__, NULL})
#define SAMPLE(name)   SAMPLES_DIR "/" name

static void run_free(run *r)
{
    tk_table_free(&r->t);
    free(r->err);
}

/* The data row of instance `conn_id`; fails when there is none. */
static int row_of(const run *r, int conn_id)
{
    char id[16];
    snprintf(id, sizeof id, "%d", conn_id);
    for (int i = 0; i < r->t.rows; i++) {
        const char *c = tk_cell(&r->t, i, "conn_id");
        if (c != NULL && strcmp(c, id) == 0) {
            return i;
        }
    }
    print_error("no row with conn_id %d\n", conn_id);
    fail();
    return -1;
}

/* Every field of `f` as wanted in the row of `conn_id` (all reported). */
static void expect_fields(const run *r, const char *what, int conn_id, const field *f, size_t n)
{
    int row = row_of(r, conn_id), bad = 0;
    for (size_t i = 0; i < n; i++) {
        const char *got = tk_cell(&r->t, row, f[i].col);
        if (got == NULL || strcmp(got, f[i].want) != 0) {
            print_error("%s, conn %d: %s = \"%s\", expected \"%s\"\n", what, conn_id, f[i].col,
                        got ? got : "(no column)", f[i].want);
            bad++;
        }
    }
    assert_int_equal(bad, 0);
}

#define EXPECT_ROW(r, what, id, ...)                                                               \
    expect_fields(r, what, id, (const field[]){__VA_ARGS__},                                       \
                  sizeof((const field[]){__VA_ARGS__}) / sizeof(field))

static void expect_summary(const run *r, const char *what, const char *line)
{
    if (strstr(r->err, line) == NULL) {
        print_error("%s: --summary lacks \"%s\":\n%s\n", what, line, r->err);
        fail();
    }
}

/* RFC 5961: the RST past rcv_nxt is challenged and changes nothing; the
 * client's answer to the challenge ACK, at rcv_nxt, resets. */
static void test_sample_rst_challenged(void **state)
{
    (void)state;
    run r;
    SYNFIN(&r, SAMPLE("rst_challenged.pcap"));
    assert_int_equal(r.t.rows, 1);
    EXPECT_ROW(&r, "rst_challenged", 1, {"handshake", "complete"}, {"close_initiator", "client"},
               {"close_type", "rst"}, {"closing", "0"}, {"time_wait_side", "none"},
               {"time_wait_end_reason", ""}, {"client_state", "CLOSED"}, {"server_state", "CLOSED"},
               {"packets_c2s", "6"}, {"packets_s2c", "4"}, {"anomalies", "rst_challenged"});
    run_free(&r);
    /* Without the client's last RST (the only one without ACK): nothing
     * changed at the challenged one. */
    SYNFIN(&r, "-f", "tcp[tcpflags] != tcp-rst", SAMPLE("rst_challenged.pcap"));
    EXPECT_ROW(&r, "rst_challenged, last RST filtered", 1, {"close_initiator", "none"},
               {"close_type", "none"}, {"client_state", "ESTABLISHED"},
               {"server_state", "ESTABLISHED"}, {"packets_c2s", "5"},
               {"anomalies", "rst_challenged"});
    run_free(&r);
}

/* The server, closed, answers new data with an RST: CLOSED at the data,
 * no TIME_WAIT. Without the RST it was a half-close with TIME_WAIT. */
static void test_sample_aborted_on_data(void **state)
{
    (void)state;
    run r;
    SYNFIN(&r, SAMPLE("aborted_on_data.pcap"));
    assert_int_equal(r.t.rows, 1);
    EXPECT_ROW(&r, "aborted_on_data", 1, {"server_port", "143"}, {"handshake", "complete"},
               {"close_initiator", "server"}, {"close_type", "fin"}, {"closing", "0"},
               {"time_wait_side", "none"}, {"time_wait_start", ""}, {"time_wait_end_reason", ""},
               {"client_state", "CLOSED"}, {"server_state", "CLOSED"}, {"packets_c2s", "7"},
               {"packets_s2c", "5"}, {"bytes_c2s", "360"}, {"bytes_s2c", "457"},
               {"anomalies", "aborted_on_data"});
    run_free(&r);
    SYNFIN(&r, "-f", "tcp[tcpflags] & tcp-rst == 0", SAMPLE("aborted_on_data.pcap"));
    EXPECT_ROW(&r, "aborted_on_data without the RST", 1, {"time_wait_side", "server"},
               {"time_wait_start", "1700000001.409513"}, {"client_state", "LAST_ACK"},
               {"server_state", "TIME_WAIT"}, {"anomalies", ""});
    run_free(&r);
}

/* Handshake credit: the client's ACK after the server's data and FIN. */
static void test_sample_fast_open_server_fin(void **state)
{
    (void)state;
    run r;
    SYNFIN(&r, SAMPLE("fast_open_server_fin.pcap"));
    assert_int_equal(r.t.rows, 1);
    EXPECT_ROW(&r, "fast_open_server_fin", 1, {"handshake", "complete"},
               {"handshake_rtt_s", "0.024766"}, {"close_initiator", "server"},
               {"close_type", "fin"}, {"time_wait_side", "server"},
               {"time_wait_start", "1700000000.148373"}, {"time_wait_end_reason", "capture_end"},
               {"client_state", "CLOSED"}, {"server_state", "TIME_WAIT"}, {"packets_c2s", "3"},
               {"packets_s2c", "4"}, {"bytes_c2s", "100"}, {"anomalies", "syn_with_data"});
    run_free(&r);
}

/* The SYN-ACK written before its SYN: complete, roles from the SYN. */
static void test_sample_synack_before_syn(void **state)
{
    (void)state;
    run r;
    SYNFIN(&r, "--summary", SAMPLE("synack_before_syn.pcap"));
    assert_int_equal(r.t.rows, 1);
    EXPECT_ROW(
        &r, "synack_before_syn", 1, {"first_ts", "1700000000.123456"}, {"client_ip", "10.0.0.1"},
        {"client_port", "40000"}, {"server_port", "80"}, {"role_by", "syn"},
        {"handshake", "complete"}, {"syn_retransmits", "0"}, {"handshake_rtt_s", "0.023479"},
        {"close_initiator", "client"}, {"time_wait_side", "client"}, {"client_state", "TIME_WAIT"},
        {"server_state", "CLOSED"}, {"packets_c2s", "6"}, {"packets_s2c", "5"}, {"anomalies", ""});
    expect_summary(&r, "synack_before_syn", "out of time order 1,");
    run_free(&r);
}

/* A bare ACK of an older connection, the client's RST at its ACK field (no
 * anomaly), the SYN again: complete. */
static void test_sample_handshake_old_ack(void **state)
{
    (void)state;
    run r;
    SYNFIN(&r, SAMPLE("handshake_old_ack.pcap"));
    assert_int_equal(r.t.rows, 1);
    EXPECT_ROW(&r, "handshake_old_ack", 1, {"role_by", "syn"}, {"handshake", "complete"},
               {"syn_retransmits", "1"}, {"handshake_rtt_s", "0.023479"},
               {"close_initiator", "client"}, {"close_type", "fin"}, {"time_wait_side", "client"},
               {"time_wait_start", "1700000001.174927"}, {"client_state", "TIME_WAIT"},
               {"server_state", "CLOSED"}, {"packets_c2s", "8"}, {"packets_s2c", "6"},
               {"anomalies", ""});
    run_free(&r);
}

/* SYN; ACK; SYN; SYN-ACK; ACK: a simultaneous open. */
static void test_sample_split_handshake(void **state)
{
    (void)state;
    run r;
    SYNFIN(&r, SAMPLE("split_handshake.pcap"));
    assert_int_equal(r.t.rows, 1);
    EXPECT_ROW(&r, "split_handshake", 1, {"client_ip", "10.0.0.1"}, {"client_port", "40000"},
               {"role_by", "syn"}, {"handshake", "simultaneous_open"}, {"handshake_rtt_s", ""},
               {"close_initiator", "client"}, {"time_wait_side", "client"},
               {"time_wait_start", "1700000000.174916"}, {"client_state", "TIME_WAIT"},
               {"server_state", "CLOSED"}, {"packets_c2s", "6"}, {"packets_s2c", "7"},
               {"anomalies", ""});
    run_free(&r);
}

/* The SYN-ACK again after the client's ACK: the server is still in
 * SYN_RCVD; --synack-timeout shorter than the capture leaves LISTEN. */
static void test_sample_accept_queue_overflow(void **state)
{
    (void)state;
    run r;
    SYNFIN(&r, SAMPLE("accept_queue_overflow.pcap"));
    assert_int_equal(r.t.rows, 1);
    EXPECT_ROW(&r, "accept_queue_overflow", 1, {"server_port", "25"}, {"handshake", "complete"},
               {"synack_retransmits", "1"}, {"close_initiator", "none"},
               {"client_state", "ESTABLISHED"}, {"server_state", "SYN_RCVD"}, {"packets_c2s", "3"},
               {"packets_s2c", "2"}, {"anomalies", "accept_queue_overflow"});
    run_free(&r);
    SYNFIN(&r, "--synack-timeout", "1", SAMPLE("accept_queue_overflow.pcap"));
    EXPECT_ROW(&r, "accept_queue_overflow, --synack-timeout 1", 1, {"client_state", "ESTABLISHED"},
               {"server_state", "LISTEN"});
    run_free(&r);
}

/* A lone SYN, then 5 s of capture: the client gave up (CLOSED); with the
 * inference off it is still SYN_SENT. */
static void test_sample_syn_gave_up(void **state)
{
    (void)state;
    run r;
    SYNFIN(&r, SAMPLE("syn_gave_up.pcap"));
    assert_int_equal(r.t.rows, 2);
    EXPECT_ROW(&r, "syn_gave_up", 1, {"client_port", "40000"}, {"handshake", "syn_only"},
               {"syn_retransmits", "0"}, {"close_initiator", "none"}, {"client_state", "CLOSED"},
               {"server_state", "LISTEN"}, {"packets_c2s", "1"}, {"packets_s2c", "0"},
               {"anomalies", ""});
    EXPECT_ROW(&r, "syn_gave_up", 2, {"client_ip", "10.0.0.3"}, {"handshake", "complete"},
               {"time_wait_start", "1700000005.215608"}, {"time_wait_end_reason", "capture_end"});
    run_free(&r);
    SYNFIN(&r, "--syn-timeout", "0", SAMPLE("syn_gave_up.pcap"));
    EXPECT_ROW(&r, "syn_gave_up, --syn-timeout 0", 1, {"client_state", "SYN_SENT"});
    run_free(&r);
}

/* FIN_WAIT2 on a connection silent for 60 s: the orphan was dropped. */
static void test_sample_fin_wait2_orphan(void **state)
{
    (void)state;
    run r;
    SYNFIN(&r, SAMPLE("fin_wait2_orphan.pcap"));
    assert_int_equal(r.t.rows, 2);
    EXPECT_ROW(&r, "fin_wait2_orphan", 1, {"handshake", "complete"}, {"close_initiator", "server"},
               {"close_type", "fin"}, {"time_wait_side", "none"}, {"time_wait_end_reason", ""},
               {"client_state", "CLOSE_WAIT"}, {"server_state", "CLOSED"}, {"packets_c2s", "5"},
               {"packets_s2c", "4"}, {"anomalies", ""});
    run_free(&r);
    SYNFIN(&r, "--fin-timeout", "0", SAMPLE("fin_wait2_orphan.pcap"));
    EXPECT_ROW(&r, "fin_wait2_orphan, --fin-timeout 0", 1, {"client_state", "CLOSE_WAIT"},
               {"server_state", "FIN_WAIT2"});
    run_free(&r);
}

/* Keepalive probes on an idle connection, Linux's and Windows' (issue 13):
 * counted, no state changed, no anomaly; the longest gap is 75 s. */
static void test_sample_keepalive(void **state)
{
    (void)state;
    run r;
    SYNFIN(&r, SAMPLE("keepalive.pcap"));
    assert_int_equal(r.t.rows, 1);
    EXPECT_ROW(&r, "keepalive", 1, {"handshake", "complete"}, {"close_initiator", "client"},
               {"client_state", "TIME_WAIT"}, {"server_state", "CLOSED"}, {"packets_c2s", "11"},
               {"packets_s2c", "10"}, {"bytes_s2c", "658"}, {"fin_retransmits", "0"},
               {"anomalies", ""}, {"established_ts", "1700000000.146935"},
               {"client_fin_ts", "1700000195.273159"}, {"server_fin_ts", "1700000195.273424"},
               {"keepalives", "3"}, {"max_idle", "75.000418"});
    run_free(&r);
}

/* The server's FIN sent again before it was acked: TIME_WAIT runs from the
 * second one. */
static void test_sample_tw_fin_delivered(void **state)
{
    (void)state;
    run r;
    SYNFIN(&r, SAMPLE("tw_fin_delivered.pcap"));
    assert_int_equal(r.t.rows, 2);
    EXPECT_ROW(&r, "tw_fin_delivered", 1, {"close_initiator", "client"}, {"closing", "0"},
               {"time_wait_side", "client"}, {"time_wait_start", "1700000000.374878"},
               {"time_wait_end", "1700000060.374878"}, {"time_wait_end_reason", "expired"},
               {"time_wait_s", "60.000000"}, {"client_state", "CLOSED"}, {"server_state", "CLOSED"},
               {"packets_c2s", "6"}, {"packets_s2c", "6"}, {"fin_retransmits", "1"},
               {"anomalies", ""});
    run_free(&r);
}

/* The client's FIN crossing the server's is lost after the capture point:
 * one CLOSING, both closed actively, TIME_WAIT from the FIN sent again. */
static void test_sample_second_fin_lost(void **state)
{
    (void)state;
    run r;
    SYNFIN(&r, SAMPLE("second_fin_lost.pcap"));
    assert_int_equal(r.t.rows, 1);
    EXPECT_ROW(&r, "second_fin_lost", 1, {"handshake", "complete"}, {"close_initiator", "both"},
               {"close_type", "fin"}, {"closing", "1"}, {"time_wait_side", "both"},
               {"time_wait_start", "1700000000.470323"}, {"time_wait_end_reason", "capture_end"},
               {"time_wait_s", "0.000042"}, {"client_state", "TIME_WAIT"},
               {"server_state", "TIME_WAIT"}, {"packets_c2s", "7"}, {"packets_s2c", "5"},
               {"fin_retransmits", "1"}, {"anomalies", ""});
    run_free(&r);
}

/* Three hosts behind one NAT address whose TCP timestamps interleave, to a
 * server running tcp_tw_recycle (finding 9): the five SYNs behind the
 * first host's within 60 s got no answer; the one behind after 62 s did. */
static void test_sample_nat_timestamps(void **state)
{
    (void)state;
    run r;
    char md[600];
    snprintf(md, sizeof md, "%s", tmp_path("nat.md"));
    SYNFIN(&r, "--summary", "--findings", md, SAMPLE("nat_timestamps.pcap"));
    assert_int_equal(r.t.rows, 5);
    EXPECT_ROW(&r, "nat_timestamps", 1, {"client_ip", "203.0.113.7"}, {"client_port", "40000"},
               {"handshake", "complete"});
    EXPECT_ROW(&r, "nat_timestamps", 2, {"client_port", "40001"}, {"handshake", "syn_only"},
               {"syn_retransmits", "2"});
    EXPECT_ROW(&r, "nat_timestamps", 3, {"client_port", "40002"}, {"handshake", "syn_only"},
               {"syn_retransmits", "1"});
    EXPECT_ROW(&r, "nat_timestamps", 4, {"client_port", "40003"}, {"handshake", "complete"});
    EXPECT_ROW(&r, "nat_timestamps", 5, {"client_port", "40004"}, {"handshake", "complete"});
    expect_summary(&r, "nat_timestamps",
                   "  9 NAT / TCP timestamps   applies         5 SYNs from 1 client addresses "
                   "behind tcp_tw_recycle's per-host PAWS check (5 of them never answered)\n");
    char *text = tk_slurp(md, NULL);
    static const char *const want[] = {
        "| client SYNs | 8 | | |\n",
        "| with TCP timestamps | 8 | 1 | |\n",
        "| TSval behind the previous SYN's | 2 | 1 | |\n",
        "| tw_recycle would drop (behind within 60 s) | 5 | 1 | 2 |\n",
        "| ... of which never answered (`syn_only`) | 5 | | 2 |\n",
        "Most of them got no answer at all",
        "- 203.0.113.7 -> 10.0.0.2:80: SYN from port 40000 at 1700000000.123456",
        "TSval 2000000000; SYN from port 40001 at 1700000001.123456",
        "TSval 1001000 (behind by 1998999000): tw_recycle would drop it, and it was never "
        "answered\n",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        if (text == NULL || strstr(text, want[i]) == NULL) {
            print_error("nat_timestamps: the findings lack \"%s\":\n%s\n", want[i],
                        text ? text : "(none)");
            fail();
        }
    free(text);
    run_free(&r);
}

/* A clock stepping back three years between two connections: both whole,
 * both TIME_WAITs expire 60 s after they began. */
static void test_sample_clock_step_back(void **state)
{
    (void)state;
    run r;
    SYNFIN(&r, "--summary", SAMPLE("clock_step_back.pcap"));
    assert_int_equal(r.t.rows, 3);
    EXPECT_ROW(&r, "clock_step_back", 1, {"first_ts", "1794608000.123456"},
               {"client_port", "40001"}, {"handshake", "complete"}, {"close_initiator", "client"},
               {"time_wait_side", "client"}, {"time_wait_start", "1794608000.174875"},
               {"time_wait_end", "1794608060.174875"}, {"time_wait_end_reason", "expired"},
               {"time_wait_s", "60.000000"}, {"client_state", "CLOSED"}, {"server_state", "CLOSED"},
               {"packets_c2s", "6"}, {"packets_s2c", "5"}, {"anomalies", ""});
    EXPECT_ROW(&r, "clock_step_back", 2, {"first_ts", "1700000000.123456"},
               {"client_port", "40002"}, {"handshake", "complete"}, {"close_initiator", "client"},
               {"time_wait_side", "client"}, {"time_wait_start", "1700000000.174875"},
               {"time_wait_end", "1700000060.174875"}, {"time_wait_end_reason", "expired"},
               {"time_wait_s", "60.000000"}, {"client_state", "CLOSED"}, {"server_state", "CLOSED"},
               {"packets_c2s", "6"}, {"packets_s2c", "5"}, {"anomalies", ""});
    EXPECT_ROW(&r, "clock_step_back", 3, {"server_port", "8080"}, {"handshake", "refused"});
    expect_summary(&r, "clock_step_back", "clock stepped back 1 times");
    expect_summary(&r, "clock_step_back", " 0 idle timeouts");
    run_free(&r);
}

/* Duplicate ACKs within 1 ms that differ only in their SACK blocks all
 * count; only the SPAN copy is skipped. */
static void test_sample_dup_ack_sack(void **state)
{
    (void)state;
    run r;
    SYNFIN(&r, "--summary", SAMPLE("dup_ack_sack.pcap"));
    assert_int_equal(r.t.rows, 1);
    EXPECT_ROW(&r, "dup_ack_sack", 1, {"ip_version", "6"}, {"handshake", "complete"},
               {"close_initiator", "client"}, {"time_wait_side", "client"},
               {"time_wait_start", "1700000000.197814"}, {"packets_c2s", "9"}, {"packets_s2c", "8"},
               {"bytes_c2s", "5792"}, {"bytes_s2c", "417"}, {"anomalies", ""});
    expect_summary(&r, "dup_ack_sack", "exact duplicates skipped 1,");
    run_free(&r);
}

/* The midstream stream's server is the endpoint a later connection showed
 * answering a SYN, or the one --server names. */
static void test_sample_midstream_listener(void **state)
{
    (void)state;
    run r;
    SYNFIN(&r, SAMPLE("midstream_listener.pcap"));
    assert_int_equal(r.t.rows, 2);
    EXPECT_ROW(&r, "midstream_listener", 1, {"client_ip", "10.0.0.1"}, {"client_port", "40001"},
               {"server_ip", "10.0.0.2"}, {"server_port", "50051"}, {"role_by", "listener"},
               {"handshake", "midstream"}, {"close_initiator", "none"},
               {"client_state", "ESTABLISHED"}, {"server_state", "ESTABLISHED"},
               {"packets_c2s", "2"}, {"packets_s2c", "2"}, {"bytes_c2s", "0"},
               {"bytes_s2c", "200"});
    EXPECT_ROW(&r, "midstream_listener", 2, {"client_port", "40002"}, {"server_port", "50051"},
               {"role_by", "syn"}, {"handshake", "complete"});
    run_free(&r);
    /* Alone, the port rule makes 40001 the server ... */
    SYNFIN(&r, "-f", "port 40001", SAMPLE("midstream_listener.pcap"));
    assert_int_equal(r.t.rows, 1);
    EXPECT_ROW(&r, "midstream_listener alone", 1, {"client_port", "50051"},
               {"server_port", "40001"}, {"role_by", "port"}, {"bytes_c2s", "200"});
    run_free(&r);
    /* ... unless --server names 50051. */
    SYNFIN(&r, "--server", "50051", "-f", "port 40001", SAMPLE("midstream_listener.pcap"));
    EXPECT_ROW(&r, "midstream_listener alone, --server 50051", 1, {"client_port", "40001"},
               {"server_port", "50051"}, {"role_by", "listener"}, {"bytes_s2c", "200"});
    run_free(&r);
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

/* SACK blocks follow the timestamps (NOP NOP kind 5); what does not fit in
 * 40 bytes of options is left out. */
static void test_sack_blocks_after_timestamps(void **state)
{
    (void)state;
    uint8_t buf[256];
    gen_link raw = gen_link_of(DISSECT_LINK_RAW);
    gen_pkt p = tcp4(0);
    p.flags = DISSECT_ACK;
    p.timestamps = 1;
    p.ts_val = 7;
    p.ts_ecr = 9;
    p.sack_blocks = 2;
    p.sack[0][0] = 0x1000;
    p.sack[0][1] = 0x2000;
    p.sack[1][0] = 0x3000;
    p.sack[1][1] = 0x4000;
    size_t n = gen_build(&raw, &p, buf, sizeof buf);
    assert_int_equal(n, 20 + 20 + 12 + 4 + 16);
    assert_int_equal(buf[20 + 12] >> 4, (20 + 12 + 4 + 16) / 4);
    static const uint8_t want[4 + 16] = {1,    1, 5, 18, 0,    0, 0x10, 0, 0,    0,
                                         0x20, 0, 0, 0,  0x30, 0, 0,    0, 0x40, 0};
    assert_memory_equal(buf + 40 + 12, want, sizeof want);

    p.sack_blocks = 4; /* with timestamps only three fit */
    n = gen_build(&raw, &p, buf, sizeof buf);
    assert_int_equal(n, 20 + 20 + 40);
    assert_int_equal(buf[40 + 12 + 3], 2 + 3 * 8);
    p.timestamps = 0; /* without them, four */
    n = gen_build(&raw, &p, buf, sizeof buf);
    assert_int_equal(n, 20 + 20 + 4 + 32);
    assert_int_equal(buf[40 + 3], 2 + 4 * 8);
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
        cmocka_unit_test(test_sample_rst_challenged),
        cmocka_unit_test(test_sample_aborted_on_data),
        cmocka_unit_test(test_sample_fast_open_server_fin),
        cmocka_unit_test(test_sample_synack_before_syn),
        cmocka_unit_test(test_sample_handshake_old_ack),
        cmocka_unit_test(test_sample_split_handshake),
        cmocka_unit_test(test_sample_accept_queue_overflow),
        cmocka_unit_test(test_sample_syn_gave_up),
        cmocka_unit_test(test_sample_fin_wait2_orphan),
        cmocka_unit_test(test_sample_keepalive),
        cmocka_unit_test(test_sample_nat_timestamps),
        cmocka_unit_test(test_sample_tw_fin_delivered),
        cmocka_unit_test(test_sample_second_fin_lost),
        cmocka_unit_test(test_sample_clock_step_back),
        cmocka_unit_test(test_sample_dup_ack_sack),
        cmocka_unit_test(test_sample_midstream_listener),
        cmocka_unit_test(test_ipv4_length_and_checksums),
        cmocka_unit_test(test_syn_options_linux_layout),
        cmocka_unit_test(test_sack_blocks_after_timestamps),
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
