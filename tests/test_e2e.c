/*
 * test_e2e.c: the built synfin binary on the samples, as users run it:
 * whole CSV rows, standard input, gzip, files read as one stream, the BPF
 * filter, --msl, --idle-timeout, --stats, every exit code, a closed pipe and
 * a full disk; --findings and its short form in --summary.
 */
#include <fcntl.h>
#include <pcap/pcap.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <cmocka.h>

#include "testkit.h"

#define SAMPLES SYNFIN_SOURCE_DIR "/samples/"

static char tmpdir[] = "/tmp/synfin-e2e-XXXXXX";
static char out_path[300], err_path[300];
static char *out_text, *err_text;

static const char header[] =
    "conn_id,first_ts,last_ts,ip_version,client_ip,client_port,server_ip,server_port,role_by,"
    "handshake,syn_retransmits,synack_retransmits,handshake_rtt_s,close_initiator,close_type,"
    "closing,time_wait_side,time_wait_start,time_wait_end,time_wait_end_reason,time_wait_s,"
    "client_state,server_state,packets_c2s,packets_s2c,bytes_c2s,bytes_s2c,fin_retransmits,"
    "anomalies,established_ts,client_fin_ts,server_fin_ts,keepalives,max_idle,conn_uid,"
    "conn_state,history,community_id,tunnel\n";

/* Runs synfin with args (NULL-terminated, without argv[0]); stdin from
 * `in` (or /dev/null). Returns the exit code, or 128+signal. Fills
 * out_text / err_text. */
static int run_synfin_in(const char *in, const char *const *args)
{
    int rc = tk_run(SYNFIN_BINARY, args, in, out_path, err_path, 120);
    assert_true(rc >= 0);
    free(out_text);
    free(err_text);
    out_text = tk_slurp(out_path, NULL);
    err_text = tk_slurp(err_path, NULL);
    return rc;
}

#define RUN(...) run_synfin_in(NULL, (const char *const[]){__VA_ARGS__, NULL})

static const char *tmp(const char *name)
{
    static char p[8][300];
    static int k;
    char *s = p[k++ % 8];
    snprintf(s, 300, "%s/%s", tmpdir, name);
    return s;
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* ---- the strict CSV reader the tests rely on ---- */

static void test_strict_csv_reader_rejects_malformed_text(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "a,b\n1\n",        /* ragged row */
        "a,b\n1,2",        /* no final line end */
        "a,b\n1,x\"y\n",   /* bare quote in an unquoted field */
        "a,b\n1,2\r\n",    /* CR line end */
        "a,b\n1,\"open\n", /* quoted field never closed */
        "a,b\n1,\"q\"x\n", /* text after a closing quote */
        "",
    };
    char err[256];
    tk_table t;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (tk_csv_parse(bad[i], strlen(bad[i]), &t, err, sizeof(err)) == 0)
            fail_msg("accepted malformed CSV #%zu", i);
    const char *good = "a,b\n1,\"x,\"\"y\"\"\"\n";
    assert_int_equal(tk_csv_parse(good, strlen(good), &t, err, sizeof(err)), 0);
    assert_int_equal(t.rows, 1);
    assert_string_equal(tk_cell(&t, 0, "b"), "x,\"y\"");
    assert_null(tk_cell(&t, 0, "c"));
    tk_table_free(&t);
}

/* ---- rows ---- */

static void test_header_is_the_spec_column_list(void **state)
{
    (void)state;
    assert_int_equal(RUN(SAMPLES "close_client.pcap"), 0);
    assert_memory_equal(out_text, header, strlen(header));
    assert_int_equal(RUN("--no-header", SAMPLES "close_client.pcap"), 0);
    assert_null(strstr(out_text, "conn_id"));
    assert_int_equal(count_lines(out_text), 1);
}

static void test_client_close_whole_row(void **state)
{
    (void)state;
    assert_int_equal(RUN("--no-header", SAMPLES "close_client.pcap"), 0);
    assert_string_equal(out_text,
                        "1,1700000000.123456,1700000000.198292,4,10.0.0.1,40000,10.0.0.2,80,syn,"
                        "complete,0,0,0.023479,client,fin,0,client,1700000000.174875,"
                        "1700000000.198292,capture_end,0.023417,TIME_WAIT,CLOSED,6,5,329,417,0,,"
                        /* established_ts, client_fin_ts, server_fin_ts, keepalives, max_idle */
                        "1700000000.146935,1700000000.174610,1700000000.174875,0,,"
                        /* conn_uid: first_ts in ns, the 4-tuple's hash (README) */
                        "17979cfe3d85ca006440087c8b5204bb,"
                        /* Zeek's conn_state and history, community_id (computed
                         * apart, in Python, from the spec) */
                        "SF,ShADadFf,1:3k1SoWXs/FltHw2aBCgUTgbDQF4=,\n"); /* no tunnel */
}

/* --community-id-seed: the seed goes into community_id (computed apart, in
 * Python, from the spec); out of 0..65535 it is a usage error. */
static void test_community_id_seed_option(void **state)
{
    (void)state;
    assert_int_equal(RUN("--no-header", "--community-id-seed", "1", SAMPLES "close_client.pcap"),
                     0);
    assert_non_null(strstr(out_text, ",SF,ShADadFf,1:YxAtKrkKjKn/ryxJz2h4htUv+5M=,\n"));
    assert_int_equal(RUN("--community-id-seed", "65536", SAMPLES "close_client.pcap"), 2);
    assert_non_null(strstr(err_text, "--community-id-seed"));
    assert_int_equal(RUN("--community-id-seed", "-1", SAMPLES "close_client.pcap"), 2);
}

static void test_time_wait_expired_and_msl_option(void **state)
{
    (void)state;
    assert_int_equal(RUN("--no-header", SAMPLES "tw_expired.pcap"), 0);
    assert_non_null(strstr(out_text, ",client,1700000000.174875,1700000060.174875,expired,"
                                     "60.000000,CLOSED,CLOSED,"));
    /* --msl 10: TIME_WAIT lasts 20 s */
    assert_int_equal(RUN("--no-header", "--msl", "10", SAMPLES "tw_expired.pcap"), 0);
    assert_non_null(strstr(out_text, ",client,1700000000.174875,1700000020.174875,expired,"
                                     "20.000000,CLOSED,CLOSED,"));
    /* --msl 60: 120 s, longer than the capture: censored */
    assert_int_equal(RUN("--no-header", "--msl", "60", SAMPLES "tw_expired.pcap"), 0);
    assert_non_null(strstr(out_text, ",client,1700000000.174875,"));
    assert_non_null(strstr(out_text, ",capture_end,70."));
}

/* --server decides the roles of a connection captured after its handshake
 * (the sample's server port 80 would win by the port rule anyway: naming
 * the client's port 40000 turns them round, with the counters). */
static void test_server_option_decides_midstream_roles(void **state)
{
    (void)state;
    assert_int_equal(RUN("--no-header", SAMPLES "midstream.pcap"), 0);
    assert_non_null(strstr(out_text, ",10.0.0.1,40000,10.0.0.2,80,port,midstream,"));
    char *plain = strdup(out_text);
    assert_int_equal(RUN("--no-header", "--server", "10.0.0.1:40000", SAMPLES "midstream.pcap"), 0);
    assert_non_null(strstr(out_text, ",10.0.0.2,80,10.0.0.1,40000,listener,midstream,"));
    assert_int_equal(RUN("--no-header", "--server", "80", SAMPLES "midstream.pcap"), 0);
    assert_non_null(strstr(out_text, ",10.0.0.1,40000,10.0.0.2,80,listener,midstream,"));
    /* The packet counters turn round with the roles. */
    unsigned long long c2s = 0, s2c = 0, c2s2 = 0, s2c2 = 0;
    const char *p = plain, *q;
    for (int i = 0; i < 23; i++)
        p = strchr(p, ',') + 1;
    assert_int_equal(sscanf(p, "%llu,%llu", &c2s, &s2c), 2);
    assert_int_equal(RUN("--no-header", "--server", "10.0.0.1:40000", SAMPLES "midstream.pcap"), 0);
    q = out_text;
    for (int i = 0; i < 23; i++)
        q = strchr(q, ',') + 1;
    assert_int_equal(sscanf(q, "%llu,%llu", &c2s2, &s2c2), 2);
    assert_int_equal(c2s, s2c2);
    assert_int_equal(s2c, c2s2);
    free(plain);
}

static void test_crossed_fins_row(void **state)
{
    (void)state;
    assert_int_equal(RUN("--no-header", SAMPLES "crossed_fins.pcap"), 0);
    assert_non_null(strstr(out_text, ",complete,0,0,0.023479,both,fin,2,both,"));
    assert_non_null(strstr(out_text, ",TIME_WAIT,TIME_WAIT,"));
}

static void test_idle_timeout_option(void **state)
{
    (void)state;
    assert_int_equal(RUN("--no-header", SAMPLES "handshake_complete.pcap"), 0);
    assert_null(strstr(out_text, "idle_timeout"));
    /* the sample's packets are ms apart: 1 µs of idleness ends it at once */
    assert_int_equal(
        RUN("--no-header", "--idle-timeout", "0.000001", SAMPLES "handshake_complete.pcap"), 0);
    assert_non_null(strstr(out_text, "idle_timeout"));
    assert_true(count_lines(out_text) > 1);
}

/* ---- inputs ---- */

static void test_stdin_gives_the_same_rows(void **state)
{
    (void)state;
    assert_int_equal(RUN(SAMPLES "busy_server.pcap"), 0);
    char *direct = strdup(out_text);
    assert_int_equal(run_synfin_in(SAMPLES "busy_server.pcap", (const char *const[]){"-", NULL}),
                     0);
    assert_string_equal(out_text, direct);
    free(direct);
}

/* `-o -` is standard output, as `-` is standard input: no file named "-". */
static void test_dash_output_is_standard_output(void **state)
{
    (void)state;
    assert_int_equal(RUN(SAMPLES "busy_server.pcap"), 0);
    char *direct = strdup(out_text);
    (void)unlink("-");
    assert_int_equal(RUN("-o", "-", SAMPLES "busy_server.pcap"), 0);
    assert_string_equal(out_text, direct);
    assert_int_equal(access("-", F_OK), -1);
    free(direct);
}

static void test_gzip_input_gives_the_same_rows(void **state)
{
    (void)state;
    assert_int_equal(RUN(SAMPLES "busy_server.pcap"), 0);
    char *direct = strdup(out_text);
    char *raw = NULL;
    FILE *f = fopen(SAMPLES "busy_server.pcap", "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    raw = malloc((size_t)n);
    assert_int_equal(fread(raw, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    gzFile gz = gzopen(tmp("busy.pcap.gz"), "wb");
    gzwrite(gz, raw, (unsigned)n);
    gzclose(gz);
    free(raw);
    assert_int_equal(RUN(tmp("busy.pcap.gz")), 0);
    assert_string_equal(out_text, direct);
    free(direct);
}

/* Splits a pcap into two files after packet `cut`. */
static void split_pcap(const char *src, int cut, const char *a, const char *b)
{
    char err[PCAP_ERRBUF_SIZE];
    pcap_t *p = pcap_open_offline(src, err);
    assert_non_null(p);
    pcap_dumper_t *da = pcap_dump_open(p, a), *db = pcap_dump_open(p, b);
    struct pcap_pkthdr *h;
    const u_char *d;
    int i = 0;
    while (pcap_next_ex(p, &h, &d) == 1)
        pcap_dump((u_char *)(i++ < cut ? da : db), h, d);
    pcap_dump_close(da);
    pcap_dump_close(db);
    pcap_close(p);
}

static void test_connection_split_across_two_files_is_one_row(void **state)
{
    (void)state;
    split_pcap(SAMPLES "close_client.pcap", 5, tmp("part1.pcap"), tmp("part2.pcap"));
    assert_int_equal(RUN(SAMPLES "close_client.pcap"), 0);
    char *whole = strdup(out_text);
    assert_int_equal(RUN(tmp("part1.pcap"), tmp("part2.pcap")), 0);
    assert_string_equal(out_text, whole);
    /* -r is the same as positional files, in the order given */
    assert_int_equal(RUN("-r", tmp("part1.pcap"), "-r", tmp("part2.pcap")), 0);
    assert_string_equal(out_text, whole);
    assert_int_equal(RUN(tmp("part1.pcap"), "-r", tmp("part2.pcap")), 0);
    assert_string_equal(out_text, whole);
    assert_int_equal(RUN("-r", tmp("part1.pcap"), tmp("part2.pcap")), 0);
    assert_string_equal(out_text, whole);
    /* named in the other order, the files are still read in time order */
    assert_int_equal(RUN(tmp("part2.pcap"), "-r", tmp("part1.pcap")), 0);
    assert_string_equal(out_text, whole);
    /* --keep-order reads them as given: another stream, the first file's
     * packets last */
    assert_int_equal(RUN("--keep-order", tmp("part2.pcap"), "-r", tmp("part1.pcap")), 0);
    assert_string_not_equal(out_text, whole);
    free(whole);
}

static void test_nanosecond_capture_has_nine_decimals(void **state)
{
    (void)state;
    assert_int_equal(RUN("--no-header", SAMPLES "pcap_nsec.pcap"), 0);
    const char *first_ts = strchr(out_text, ',') + 1;
    const char *dot = strchr(first_ts, '.');
    assert_int_equal(strcspn(dot + 1, ","), 9);
    assert_int_equal(RUN("--no-header", SAMPLES "close_client.pcap"), 0);
    first_ts = strchr(out_text, ',') + 1;
    dot = strchr(first_ts, '.');
    assert_int_equal(strcspn(dot + 1, ","), 6);
}

static void test_filter_selects_packets(void **state)
{
    (void)state;
    assert_int_equal(RUN("--no-header", "-f", "tcp port 80", SAMPLES "close_client.pcap"), 0);
    assert_int_equal(count_lines(out_text), 1);
    assert_int_equal(RUN("--no-header", "--filter", "tcp port 81", SAMPLES "close_client.pcap"), 0);
    assert_string_equal(out_text, "");
    assert_int_equal(RUN("--stats", "-f", "tcp port 81", SAMPLES "close_client.pcap"), 0);
    assert_non_null(strstr(out_text, "filtered"));
    /* only the client's packets: the server's side is never seen */
    assert_int_equal(RUN("--no-header", "-f", "src host 10.0.0.1", SAMPLES "close_client.pcap"), 0);
    assert_non_null(strstr(out_text, ",6,0,329,0,"));
    /* A raw-IP pcap comes as LINKTYPE_RAW (101), as its header says: the
     * filter is compiled for DLT_RAW and selects by IP version. */
    assert_int_equal(RUN("--no-header", SAMPLES "link_raw.pcap"), 0);
    assert_int_equal(count_lines(out_text), 2);
    assert_int_equal(RUN("--no-header", "-f", "ip6 and tcp", SAMPLES "link_raw.pcap"), 0);
    assert_int_equal(count_lines(out_text), 1);
    assert_non_null(strstr(out_text, ",6,"));
}

/* pcapng interfaces give LINKTYPE numbers (raw IP = 101): the filter is
 * compiled for each of them and keeps every TCP packet. */
static void test_filter_on_a_pcapng_with_two_link_types(void **state)
{
    (void)state;
    assert_int_equal(RUN("--no-header", SAMPLES "two_interfaces.pcapng"), 0);
    char *all = strdup(out_text);
    assert_int_equal(RUN("--no-header", "-f", "tcp", SAMPLES "two_interfaces.pcapng"), 0);
    assert_string_equal(err_text, "");
    assert_string_equal(out_text, all);
    free(all);
}

static void test_bad_filter_is_a_usage_error_naming_it(void **state)
{
    (void)state;
    assert_int_equal(RUN("-f", "tcp portt 80", SAMPLES "close_client.pcap"), 2);
    assert_non_null(strstr(err_text, "tcp portt 80"));
    assert_string_equal(out_text, "");
}

/* --stats on every link-type sample: TCP found, read = tcp + skipped. */
static void test_stats_on_every_link_type(void **state)
{
    (void)state;
    static const char *const files[] = {
        "link_ethernet.pcap",     "link_vlan.pcap", "link_qinq.pcap",
        "link_sll.pcap",          "link_sll2.pcap", "link_raw.pcap",
        "link_ipv4.pcap",         "link_ipv6.pcap", "link_null.pcap",
        "link_null_swapped.pcap", "link_loop.pcap", "link_pppoe.pcap",
        "link_mpls.pcap",         "pcap_nsec.pcap", "pcap_bigendian.pcap",
        "two_interfaces.pcapng",
    };
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        char path[300];
        snprintf(path, sizeof(path), SAMPLES "%s", files[i]);
        assert_int_equal(RUN("--stats", path), 0);
        char *total = strstr(out_text, "\ntotal");
        assert_non_null(total);
        unsigned long long read, tcp, skipped;
        assert_int_equal(sscanf(total + 6, "%llu %llu %llu", &read, &tcp, &skipped), 3);
        if (tcp == 0 || read != tcp + skipped || skipped != 0)
            fail_msg("%s: read %llu tcp %llu skipped %llu", files[i], read, tcp, skipped);
        /* and the CSV has a classified connection */
        assert_int_equal(RUN("--no-header", path), 0);
        if (!strstr(out_text, ",syn,complete,"))
            fail_msg("%s: no complete handshake in\n%s", files[i], out_text);
    }
}

static void test_stats_count_skipped_packets_by_reason(void **state)
{
    (void)state;
    assert_int_equal(RUN("--stats", SAMPLES "mixed_nontcp.pcap"), 0);
    char *total = strstr(out_text, "\ntotal");
    assert_non_null(total);
    unsigned long long v[10];
    int n = sscanf(total + 6, "%llu %llu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1],
                   &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8], &v[9]);
    assert_int_equal(n, 10);
    /* read tcp skipped unsupported_link not_ip not_tcp fragment truncated malformed filtered */
    assert_true(v[0] == v[1] + v[2]);
    assert_true(v[4] >= 1); /* ARP */
    assert_true(v[5] >= 2); /* UDP, ICMP */
    assert_true(v[6] >= 1); /* non-first fragment */
    assert_true(v[7] >= 1); /* cut inside the TCP header */
}

/* ---- exit codes ---- */

static void test_exit_codes(void **state)
{
    (void)state;
    assert_int_equal(RUN(SAMPLES "close_client.pcap"), 0);
    /* 1: one good file, one that is no capture; the good rows are written */
    FILE *f = fopen(tmp("notes.txt"), "w");
    fputs("not a capture\n", f);
    fclose(f);
    assert_int_equal(RUN(tmp("notes.txt"), SAMPLES "close_client.pcap"), 1);
    assert_non_null(strstr(err_text, "notes.txt: not a pcap or pcapng capture"));
    assert_int_equal(count_lines(out_text), 2);
    /* 2: usage */
    assert_int_equal(RUN("--bogus", SAMPLES "close_client.pcap"), 2);
    assert_non_null(strstr(err_text, "--bogus"));
    assert_non_null(strstr(err_text, "--help"));
    assert_int_equal(RUN("--msl", "-5", SAMPLES "close_client.pcap"), 2);
    assert_int_equal(RUN("--msl", "abc", SAMPLES "close_client.pcap"), 2);
    assert_int_equal(RUN("--idle-timeout", "-1", SAMPLES "close_client.pcap"), 2);
    assert_int_equal(RUN("--max-flows", "x", SAMPLES "close_client.pcap"), 2);
    assert_int_equal(RUN("--syn-timeout", "-1", SAMPLES "close_client.pcap"), 2);
    assert_int_equal(RUN("--fin-timeout", "x", SAMPLES "close_client.pcap"), 2);
    assert_int_equal(RUN("--synack-timeout", "", SAMPLES "close_client.pcap"), 2);
    assert_int_equal(RUN("--server", "70000", SAMPLES "close_client.pcap"), 2);
    assert_non_null(strstr(err_text, "--server: '70000'"));
    assert_int_equal(RUN("--server", "host:80", SAMPLES "close_client.pcap"), 2);
    assert_int_equal(RUN("-o"), 2);
    assert_int_equal(run_synfin_in(NULL, (const char *const[]){NULL}), 2);
    /* 3: nothing readable */
    assert_int_equal(RUN(tmp("notes.txt")), 3);
    assert_int_equal(RUN("/nonexistent.pcap"), 3);
    assert_non_null(strstr(err_text, "/nonexistent.pcap: cannot open"));
    /* help and version */
    assert_int_equal(RUN("--help"), 0);
    assert_non_null(strstr(out_text, "Exit status"));
    assert_int_equal(RUN("-V"), 0);
    assert_non_null(strstr(out_text, "synfin "));
}

static void test_damaged_file_keeps_rows_computed_before(void **state)
{
    (void)state;
    char *raw;
    FILE *f = fopen(SAMPLES "tw_reused.pcap", "rb");
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    raw = malloc((size_t)n);
    assert_int_equal(fread(raw, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    f = fopen(tmp("cut.pcap"), "wb");
    fwrite(raw, 1, (size_t)n - 7, f); /* cut inside the last record */
    fclose(f);
    free(raw);
    assert_int_equal(RUN("--no-header", tmp("cut.pcap")), 1);
    assert_non_null(strstr(err_text, "cut.pcap: packet "));
    /* the first connection's row, ended by the reuse, is intact */
    assert_non_null(strstr(out_text, "1,1700000000."));
    assert_non_null(strstr(out_text, ",reused,5.000000,"));
    assert_int_equal(count_lines(out_text), 2);
}

static void test_write_error_on_full_disk(void **state)
{
    (void)state;
    assert_int_equal(RUN("-o", "/dev/full", SAMPLES "busy_server.pcap"), 1);
    assert_non_null(strstr(err_text, "/dev/full: write error"));
}

static void test_closed_pipe_ends_quietly(void **state)
{
    (void)state;
    /* enough rows to overflow a pipe: the sample many times over */
    const char *argv[402];
    argv[0] = SYNFIN_BINARY;
    for (int i = 1; i <= 400; i++)
        argv[i] = SAMPLES "busy_server.pcap";
    argv[401] = NULL;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    if (pid == 0) {
        int e = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(fds[1], 1);
        dup2(e, 2);
        close(fds[0]);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(fds[1]);
    char buf[100];
    assert_true(read(fds[0], buf, sizeof(buf)) > 0); /* like `| head -c 100` */
    close(fds[0]);
    int status;
    waitpid(pid, &status, 0);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    free(err_text);
    err_text = tk_slurp(err_path, NULL);
    assert_string_equal(err_text, "");
}

/* The progress line: on a terminal (script(1) gives one), never in files. */
static void test_progress_only_on_a_terminal(void **state)
{
    (void)state;
    char cmd[4096];
    int n = snprintf(cmd, sizeof(cmd), "script -qec '%s -o /dev/null", SYNFIN_BINARY);
    for (int i = 0; i < 12; i++) /* enough packets for a progress update */
        n += snprintf(cmd + n, sizeof(cmd) - (size_t)n, " %sbusy_server.pcap", SAMPLES);
    snprintf(cmd + n, sizeof(cmd) - (size_t)n, "' /dev/null > %s 2>&1", out_path);
    if (system(cmd) != 0)
        skip(); /* no script(1) or no pseudo-terminal here */
    free(out_text);
    out_text = tk_slurp(out_path, NULL);
    if (!strstr(out_text, "packets/s") || !strstr(out_text, "connections alive"))
        fail_msg("no progress line on a terminal:\n%s", out_text);
    /* the same run into files: stderr stays empty */
    const char *args[16];
    int k = 0;
    args[k++] = "-o";
    args[k++] = "/dev/null";
    for (int i = 0; i < 12; i++)
        args[k++] = SAMPLES "busy_server.pcap";
    args[k] = NULL;
    assert_int_equal(run_synfin_in(NULL, args), 0);
    assert_string_equal(err_text, "");
}

/* The demo: `make demo` runs synfin --summary on the busy-server sample. */
static void test_demo_summary(void **state)
{
    (void)state;
    assert_int_equal(RUN("--summary", "-o", "/dev/null", SAMPLES "busy_server.pcap"), 0);
    static const char *const expect[] = {"connections: ",
                                         "handshake:",
                                         "close initiator / type:",
                                         "CLOSING: ",
                                         "TIME_WAIT by side:",
                                         "TIME_WAIT duration of the 26 that expired",
                                         "median                       60.000000 s",
                                         "p99",
                                         "max",
                                         "TIME_WAIT ended otherwise",
                                         "capture_end                  27 (censored",
                                         "endpoint states at capture end",
                                         "all hosts:\n  LISTEN                       1\n"
                                         "  TIME_WAIT                    28\n",
                                         "per host",
                                         "  10.0.0.2: 25 sockets\n",
                                         "packets:",
                                         "total"};
    for (size_t i = 0; i < sizeof(expect) / sizeof(expect[0]); i++)
        if (!strstr(err_text, expect[i]))
            fail_msg("summary lacks '%s':\n%s", expect[i], err_text);
    /* netstat lists no closed socket */
    if (strstr(err_text, "CLOSED"))
        fail_msg("summary has a CLOSED line:\n%s", err_text);
}

/* --findings FILE on the demo sample: all five findings with a verdict in
 * the file, their short form at the end of --summary; the options' checks. */
static void test_findings_file_and_short_form(void **state)
{
    (void)state;
    const char *md = tmp("findings.md");
    assert_int_equal(RUN("--findings", md, "--summary", "--max-tw-buckets", "10", "-o", "/dev/null",
                         SAMPLES "busy_server.pcap"),
                     0);
    char *text = tk_slurp(md, NULL);
    assert_non_null(text);
    static const char *const in_file[] = {
        "# synfin findings\n",
        "\n## 1. Who closes first and who holds TIME_WAIT\n\n**Verdict: would not help** — "
        "the server holds TIME_WAIT in 48 of 53 connections (91%): server closes first",
        "\n## 2. Port pressure per client IP -> server IP:port\n\n**Verdict: no evidence** — ",
        "\n## 3. 4-tuple reuse while in TIME_WAIT\n\n**Verdict: no evidence** — ",
        "\n## 4. Peak TIME_WAIT per host\n\n**Verdict: applies** — peak 26 TIME_WAIT on "
        "10.0.0.2, above --max-tw-buckets 10",
        "\n## 5. SYN backlog per server IP:port\n\n**Verdict: no evidence** — ",
        "| 10.0.0.2:8080 | 3 | 0 (0.0%) | 0 | 3 | 0 |",
        "- conn 1: 10.0.1.7:33048 -> 10.0.0.2:80\n"};
    for (size_t i = 0; i < sizeof(in_file) / sizeof(in_file[0]); i++)
        if (!strstr(text, in_file[i]))
            fail_msg("findings lack '%s':\n%s", in_file[i], text);
    free(text);
    const char *brief = strstr(err_text, "\nfindings (");
    assert_non_null(brief);
    assert_non_null(strstr(brief, "\n  1 close / TIME_WAIT      would not help  "));
    assert_non_null(strstr(brief, "\n  4 TIME_WAIT per host     applies         peak 26"));
    assert_non_null(strstr(brief, "\n  5 SYN backlog            no evidence     "));
    assert_non_null(strstr(brief, "\n  6 keepalive / idle       no evidence     "));
    assert_non_null(strstr(brief, "\n  7 CLOSE_WAIT             no evidence     51 CLOSE_WAIT"));
    assert_non_null(strstr(brief, "\n  8 FIN_WAIT2              would not help  51 FIN_WAIT2"));
    const char *packets = strstr(err_text, "packets:\n"); /* the summary's end, then these */
    assert_true(packets && packets < brief);

    /* Without --summary: the file only, nothing on standard error. */
    assert_int_equal(RUN("--findings", md, "-o", "/dev/null", SAMPLES "busy_server.pcap"), 0);
    assert_string_equal(err_text, "");
    /* The options' checks: usage errors with a one-line hint. */
    static const char *const bad_ranges[] = {"0-100", "100-99", "1-65536", "1000",
                                             "a-b",   "1-2x",   "-5-10",   ""};
    for (size_t i = 0; i < sizeof(bad_ranges) / sizeof(bad_ranges[0]); i++) {
        assert_int_equal(RUN("--port-range", bad_ranges[i], SAMPLES "close_client.pcap"), 2);
        assert_non_null(strstr(err_text, "--port-range: '"));
        assert_non_null(strstr(err_text, "Try 'synfin --help'"));
    }
    assert_int_equal(RUN("--port-range", "1-65535", "--max-tw-buckets", "0", "-o", "/dev/null",
                         SAMPLES "close_client.pcap"),
                     0);
    assert_int_equal(RUN("--max-tw-buckets", "-1", SAMPLES "close_client.pcap"), 2);
    assert_int_equal(RUN("--keepalive-time", "x", SAMPLES "close_client.pcap"), 2);
    assert_non_null(strstr(err_text, "--keepalive-time: 'x' is not a number of seconds"));
    assert_int_equal(RUN("--close-wait", "-1", SAMPLES "close_client.pcap"), 2);
    assert_non_null(strstr(err_text, "--close-wait: '-1' is not a number of seconds"));
    assert_int_equal(RUN("--findings", md, "--stats", SAMPLES "close_client.pcap"), 2);
    assert_int_equal(RUN("--findings", "/nonexistent/dir/f.md", SAMPLES "close_client.pcap"), 1);
    assert_non_null(strstr(err_text, "/nonexistent/dir/f.md: cannot write"));
}

/* An application that never closes (the client in CLOSE_WAIT, the server's
 * orphaned FIN_WAIT2 dropped): findings 7 and 8 fire; --close-wait past
 * its 70 s quiets 7; --keepalive-time 5 finds the idle row. */
static void test_waiting_findings_on_an_orphan(void **state)
{
    (void)state;
    const char *md = tmp("findings.md");
    assert_int_equal(
        RUN("--findings", md, "--summary", "-o", "/dev/null", SAMPLES "fin_wait2_orphan.pcap"), 0);
    const char *brief = strstr(err_text, "\nfindings (");
    assert_non_null(brief);
    assert_non_null(strstr(brief, "\n  6 keepalive / idle       would not help  "));
    assert_non_null(strstr(brief, "\n  7 CLOSE_WAIT             applies         1 of 2 "));
    assert_non_null(strstr(brief, "\n  8 FIN_WAIT2              applies         1 of 2 "));
    char *text = tk_slurp(md, NULL);
    assert_non_null(text);
    assert_non_null(strstr(text, "| 10.0.0.2:80 | client | 1 | 1 | 1 | 70.074836 s |"));
    assert_non_null(strstr(text, "- conn 1: 10.0.0.1:40000 -> 10.0.0.2:80\n"));
    free(text);
    assert_int_equal(RUN("--findings", md, "--summary", "--close-wait", "100", "--keepalive-time",
                         "5", "-o", "/dev/null", SAMPLES "fin_wait2_orphan.pcap"),
                     0);
    assert_non_null(strstr(err_text, "\n  7 CLOSE_WAIT             no evidence     "));
    assert_non_null(strstr(err_text, "\n  6 keepalive / idle       applies         1 connections"));
}

static int setup(void **state)
{
    (void)state;
    if (!mkdtemp(tmpdir))
        return -1;
    snprintf(out_path, sizeof(out_path), "%s/out", tmpdir);
    snprintf(err_path, sizeof(err_path), "%s/err", tmpdir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    free(out_text);
    free(err_text);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strict_csv_reader_rejects_malformed_text),
        cmocka_unit_test(test_header_is_the_spec_column_list),
        cmocka_unit_test(test_client_close_whole_row),
        cmocka_unit_test(test_community_id_seed_option),
        cmocka_unit_test(test_time_wait_expired_and_msl_option),
        cmocka_unit_test(test_crossed_fins_row),
        cmocka_unit_test(test_idle_timeout_option),
        cmocka_unit_test(test_stdin_gives_the_same_rows),
        cmocka_unit_test(test_dash_output_is_standard_output),
        cmocka_unit_test(test_gzip_input_gives_the_same_rows),
        cmocka_unit_test(test_connection_split_across_two_files_is_one_row),
        cmocka_unit_test(test_nanosecond_capture_has_nine_decimals),
        cmocka_unit_test(test_filter_selects_packets),
        cmocka_unit_test(test_filter_on_a_pcapng_with_two_link_types),
        cmocka_unit_test(test_bad_filter_is_a_usage_error_naming_it),
        cmocka_unit_test(test_server_option_decides_midstream_roles),
        cmocka_unit_test(test_stats_on_every_link_type),
        cmocka_unit_test(test_stats_count_skipped_packets_by_reason),
        cmocka_unit_test(test_exit_codes),
        cmocka_unit_test(test_damaged_file_keeps_rows_computed_before),
        cmocka_unit_test(test_write_error_on_full_disk),
        cmocka_unit_test(test_closed_pipe_ends_quietly),
        cmocka_unit_test(test_progress_only_on_a_terminal),
        cmocka_unit_test(test_demo_summary),
        cmocka_unit_test(test_findings_file_and_short_form),
        cmocka_unit_test(test_waiting_findings_on_an_orphan),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
