/*
 * test_live.c: live input (issue 14). Reading a pipe, synfin writes the
 * rows of the connections already ended within a second of wall time,
 * while the input is still open (`tcpdump -U -w - | synfin -`); and the
 * output of a pipe fed in bursts is byte for byte that of the file.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "testkit.h"

#define SAMPLES SYNFIN_SOURCE_DIR "/samples/"

static char tmpdir[] = "/tmp/synfin-live-XXXXXX";
static char csv_path[300], err_path[300];

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int count_lines(const char *path)
{
    char *s = tk_slurp(path, NULL);
    int n = 0;
    for (const char *p = s; *p; p++)
        n += *p == '\n';
    free(s);
    return n;
}

static void write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        assert_true(w > 0);
        p += w;
        n -= (size_t)w;
    }
}

/* Starts synfin -o csv_path - with its standard input the read end of a
 * pipe; returns the write end, the pid in *pid. */
static int start_on_pipe(pid_t *pid)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    unlink(csv_path);
    *pid = fork();
    assert_true(*pid >= 0);
    if (*pid == 0) {
        int e = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(fds[0], 0);
        dup2(e, 2);
        close(fds[1]);
        execl(SYNFIN_BINARY, SYNFIN_BINARY, "-o", csv_path, "-", (char *)NULL);
        _exit(127);
    }
    close(fds[0]);
    return fds[1];
}

static int finish(int fd, pid_t pid)
{
    close(fd);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return tk_exit_code(status);
}

/* tw_reused.pcap: the first connection's row ends when the second SYN on
 * its 4-tuple comes (reused). Every packet is written, the pipe stays open:
 * the row must come out while synfin waits for more. */
static void test_row_ended_is_written_while_the_pipe_is_open(void **state)
{
    (void)state;
    size_t len;
    char *cap = tk_slurp(SAMPLES "tw_reused.pcap", &len);
    pid_t pid;
    int fd = start_on_pipe(&pid);
    write_all(fd, cap, len);
    double t0 = now_s(), waited = 0;
    while (count_lines(csv_path) < 2 && (waited = now_s() - t0) < 5)
        usleep(10000);
    print_message("first row %.3f s after the last packet, the pipe still open\n", waited);
    assert_true(count_lines(csv_path) >= 2); /* the header and the reused row */
    assert_true(waited < 2.0);               /* within a second, and slack for a loaded CI */
    assert_int_equal(finish(fd, pid), 0);
    assert_int_equal(count_lines(csv_path), 3); /* and the second at the end */
    free(cap);
}

/* busy_server.pcap in bursts with pauses (flushes in between): the same
 * bytes as the file. */
static void test_pipe_in_bursts_gives_the_file_output(void **state)
{
    (void)state;
    char file_out[320];
    snprintf(file_out, sizeof(file_out), "%s/file.csv", tmpdir);
    const char *args[] = {"-o", file_out, SAMPLES "busy_server.pcap", NULL};
    assert_int_equal(tk_run(SYNFIN_BINARY, args, NULL, "/dev/null", err_path, 60), 0);
    size_t len;
    char *cap = tk_slurp(SAMPLES "busy_server.pcap", &len);
    pid_t pid;
    int fd = start_on_pipe(&pid);
    const size_t bursts = 8;
    for (size_t i = 0; i < bursts; i++) {
        size_t a = len * i / bursts, b = len * (i + 1) / bursts;
        write_all(fd, cap + a, b - a);
        usleep(300000); /* more than a flusher period: flushes mid-stream */
    }
    assert_int_equal(finish(fd, pid), 0);
    char *live = tk_slurp(csv_path, NULL), *whole = tk_slurp(file_out, NULL);
    assert_string_equal(live, whole);
    free(live);
    free(whole);
    free(cap);
}

static int setup(void **state)
{
    (void)state;
    if (!mkdtemp(tmpdir))
        return -1;
    snprintf(csv_path, sizeof(csv_path), "%s/live.csv", tmpdir);
    snprintf(err_path, sizeof(err_path), "%s/err", tmpdir);
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_row_ended_is_written_while_the_pipe_is_open),
        cmocka_unit_test(test_pipe_in_bursts_gives_the_file_output),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
