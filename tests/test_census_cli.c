/*
 * test_census_cli.c: the census as users run it (the built binary on the
 * samples): --census FILE over time, --census-hosts, --at, --plot, their
 * usage errors and exit codes, and the census as the capture ended agreeing
 * with --summary's table at capture end.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testkit.h"
#include "tk_work.h"

#define SAMPLES SYNFIN_SOURCE_DIR "/samples/"

/* The scratch directory and the last run's streams (testkit). */
TK_WORK_FIXTURE("synfin-census")

static const char census_header[] = "ts,host,LISTEN,SYN_SENT,SYN_RCVD,ESTABLISHED,FIN_WAIT1,"
                                    "FIN_WAIT2,CLOSING,TIME_WAIT,CLOSE_WAIT,LAST_ACK\n";

/* busy_server: a `*` row at every second after the first packet, in time
 * order, each the sum of its host rows (all hosts have rows: fewer than
 * 1000); the server holds the TIME_WAIT (it closes first). */
static void test_census_over_time(void **state)
{
    (void)state;
    const char *csv = tmp("c.csv");
    assert_int_equal(RUN("-q", "-o", tmp("rows.csv"), "--census", csv, SAMPLES "busy_server.pcap"),
                     0);
    char *text = tk_slurp(csv, NULL);
    assert_non_null(text);
    assert_memory_equal(text, census_header, strlen(census_header));
    double prev = 0;
    long all[10] = {0}, sum[10] = {0};
    int stars = 0, server_tw_max = 0;
    char *save = NULL;
    for (char *line = strtok_r(text + strlen(census_header), "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        char host[64];
        double ts;
        int n[10];
        assert_int_equal(sscanf(line, "%lf,%63[^,],%d,%d,%d,%d,%d,%d,%d,%d,%d,%d", &ts, host, &n[0],
                                &n[1], &n[2], &n[3], &n[4], &n[5], &n[6], &n[7], &n[8], &n[9]),
                         12);
        if (strcmp(host, "*") == 0) {
            for (int s = 0; s < 10; s++)
                assert_int_equal(all[s], sum[s]); /* the moment before */
            assert_true(ts > prev);
            if (stars)
                assert_true(ts - prev > 0.999 && ts - prev < 1.001);
            prev = ts;
            stars++;
            for (int s = 0; s < 10; s++) {
                all[s] = n[s];
                sum[s] = 0;
            }
            continue;
        }
        assert_true(ts == prev);
        for (int s = 0; s < 10; s++)
            sum[s] += n[s];
        if (strcmp(host, "10.0.0.2") == 0 && n[7] > server_tw_max)
            server_tw_max = n[7];
    }
    for (int s = 0; s < 10; s++)
        assert_int_equal(all[s], sum[s]);
    assert_true(stars >= 100); /* the capture lasts about two minutes */
    assert_true(server_tw_max >= 20);
    free(text);
}

/* --census-hosts 1: `*`, the server (busiest) and `other` only. */
static void test_census_hosts(void **state)
{
    (void)state;
    const char *csv = tmp("c1.csv");
    assert_int_equal(RUN("-q", "-o", tmp("rows.csv"), "--census", csv, "--census-hosts", "1",
                         SAMPLES "busy_server.pcap"),
                     0);
    char *text = tk_slurp(csv, NULL);
    assert_non_null(text);
    int others = 0;
    for (const char *p = strchr(text, '\n'); p && p[1]; p = strchr(p + 1, '\n')) {
        const char *host = strchr(p + 1, ',') + 1;
        assert_true(strncmp(host, "*,", 2) == 0 || strncmp(host, "10.0.0.2,", 9) == 0 ||
                    strncmp(host, "other,", 6) == 0);
        others += strncmp(host, "other,", 6) == 0;
    }
    assert_true(others > 0);
    free(text);
}

/* The states of "all hosts" in text after `from` as "STATE N ..." */
static void all_hosts_line(const char *from, char *out, size_t len)
{
    const char *p = strstr(from, "  all hosts");
    assert_non_null(p);
    p += strlen("  all hosts");
    while (*p == ' ')
        p++;
    size_t n = strcspn(p, "\n");
    assert_true(n < len);
    memcpy(out, p, n);
    out[n] = '\0';
}

/* The summary's "all hosts" table as "STATE N ..." */
static void summary_line(const char *text, char *out, size_t len)
{
    const char *p =
        strstr(text, "endpoint states at capture end (netstat -an style), all hosts:\n");
    assert_non_null(p);
    p = strchr(p, '\n') + 1;
    out[0] = '\0';
    char state[32];
    unsigned long n;
    int used;
    while (sscanf(p, " %31[A-Z_0-9] %lu%n", state, &n, &used) == 2 && p[0] == ' ') {
        size_t l = strlen(out);
        snprintf(out + l, len - l, "%s%s %lu", l ? " " : "", state, n);
        p = strchr(p, '\n') + 1;
    }
}

/* --at after the capture: the census as it ended is the summary's table at
 * capture end, state by state; one in the middle shows a busy moment. */
static void test_at_agrees_with_summary(void **state)
{
    (void)state;
    static const char *const files[] = {"busy_server.pcap",        "fin_wait2_orphan.pcap",
                                        "half_close.pcap",         "crossed_fins.pcap",
                                        "handshake_syn_only.pcap", "accept_queue_overflow.pcap"};
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        char path[300], a[256], b[256];
        snprintf(path, sizeof(path), SAMPLES "%s", files[i]);
        assert_int_equal(
            RUN("-q", "-o", tmp("rows.csv"), "--summary", "--at", "2100-01-01T00:00:00Z", path), 0);
        const char *at = strstr(err_text, "census at 4102444800.");
        assert_non_null(at);
        assert_non_null(strstr(at, "after the capture's last packet"));
        all_hosts_line(at, a, sizeof(a));
        summary_line(err_text, b, sizeof(b));
        if (strcmp(a, b) != 0)
            fail_msg("%s: census at the end \"%s\", summary \"%s\"", files[i], a, b);
    }
    assert_int_equal(RUN("-q", "-o", tmp("rows.csv"), "--at", "+60", SAMPLES "busy_server.pcap"),
                     0);
    assert_non_null(strstr(err_text, "census at 1700000061.246301 (2023-11-14 22:14:21 UTC):\n"));
    assert_non_null(strstr(err_text, "TIME_WAIT"));
}

/* --plot: a PNG by its name; a name it cannot draw is exit 1, named, and
 * the census CSV is still written. */
static void test_plot(void **state)
{
    (void)state;
    const char *png = tmp("p.png"), *csv = tmp("p.csv");
    assert_int_equal(RUN("-q", "-o", tmp("rows.csv"), "--plot", png, SAMPLES "busy_server.pcap"),
                     0);
    size_t n = 0;
    char *img = tk_slurp(png, &n);
    assert_non_null(img);
    assert_true(n > 1000);
    assert_memory_equal(img, "\x89PNG", 4);
    free(img);
    assert_int_equal(RUN("-q", "-o", tmp("rows.csv"), "--census", csv, "--plot", tmp("p.jpg"),
                         SAMPLES "busy_server.pcap"),
                     1);
    assert_non_null(strstr(err_text, "p.jpg"));
    char *text = tk_slurp(csv, NULL);
    assert_non_null(text);
    assert_true(strlen(text) > 1000);
    free(text);
    assert_int_equal(RUN("-q", "-o", tmp("rows.csv"), "--plot", tmp("q.svg"), "--plot-host",
                         "192.0.2.9", SAMPLES "busy_server.pcap"),
                     0);
    assert_non_null(strstr(err_text, "192.0.2.9 has no endpoint in the capture"));
}

/* The worked example of a client running out of ports (README): its
 * TIME_WAIT climbs by five a second; the port-pressure finding fires. */
static void test_port_pressure_example(void **state)
{
    (void)state;
    const char *csv = tmp("pp.csv");
    assert_int_equal(RUN("-q", "-o", tmp("rows.csv"), "--census", csv, "--at", "+30", "--summary",
                         "--findings", tmp("pp.md"), "--port-range", "40000-40399",
                         SAMPLES "port_pressure.pcap"),
                     0);
    char *text = tk_slurp(csv, NULL);
    assert_non_null(text);
    assert_non_null(strstr(text, "1700000030.123458,10.0.5.1,0,0,0,0,0,0,0,150,0,0\n"));
    assert_non_null(strstr(text, "1700000059.123458,10.0.5.1,0,1,0,0,0,0,0,295,0,0\n"));
    free(text);
    char line[128];
    snprintf(line, sizeof(line), "  %-40s TIME_WAIT 150\n", "10.0.5.1");
    assert_non_null(strstr(err_text, line));
    assert_non_null(strstr(err_text,
                           "2 port pressure          applies         peak 300 local ports "
                           "held at once by 10.0.5.1 -> 10.0.0.80:5432 (75.0% of "
                           "40000-40399)"));
}

static void test_usage_errors(void **state)
{
    (void)state;
    const char *f = SAMPLES "close_client.pcap", *csv = tmp("u.csv");
    assert_int_equal(RUN("--census", csv, "--interval", "0", f), 2);
    assert_non_null(strstr(err_text, "--interval"));
    assert_int_equal(RUN("--census", csv, "--interval", "x", f), 2);
    assert_int_equal(RUN("--census", csv, "--census-hosts", "70000", f), 2);
    assert_int_equal(RUN("--at", "yesterday", f), 2);
    assert_non_null(strstr(err_text, "--at: 'yesterday'"));
    assert_int_equal(RUN("--at", "2023-13-45T99:00:00", f), 2);
    assert_int_equal(RUN("--plot", tmp("x.png"), "--plot-host", "not-an-address", f), 2);
    assert_int_equal(RUN("--census", csv, "--stats", f), 2);
    assert_int_equal(RUN("--census", "/nonexistent/dir/c.csv", f), 1);
    assert_non_null(strstr(err_text, "/nonexistent/dir/c.csv: cannot write"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_census_over_time),       cmocka_unit_test(test_census_hosts),
        cmocka_unit_test(test_at_agrees_with_summary), cmocka_unit_test(test_plot),
        cmocka_unit_test(test_port_pressure_example),  cmocka_unit_test(test_usage_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
