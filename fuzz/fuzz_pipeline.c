/*
 * fuzz_pipeline: the whole program on one capture file image.
 *
 * The input is a file as synfin would read it (pcap, pcapng, gzip of
 * either, or garbage). It is written to a memfd and synfin_main() reads it
 * through /proc/self/fd/N, writing its CSV to a second memfd, so input.c,
 * pcapng.c, libpcap, dissect, flows and report all run, as from the command
 * line. Timers are tiny so that TIME_WAIT expiry, idle timeouts and
 * eviction happen within a few packets. The command line depends on the
 * input's length (size % 3), so one corpus covers three set-ups:
 *   0  --msl 0.001 --idle-timeout 0.01 --max-flows 64
 *      --census /dev/null --interval 3600
 *   1  --msl 0.001 --idle-timeout 0 --max-flows 2 --findings /dev/null
 *   2  the defaults, --summary, the file given twice (two inputs read as
 *      one stream)
 * --summary writes to stderr: for that one call, stdio's stderr is a
 * memory stream (sanitizer and libFuzzer reports write to fd 2 itself and
 * still show; the target's own messages come after it is put back).
 *
 * Invariants checked besides memory safety, UB and leaks:
 *   - the exit code is a documented one for this case: 0, 1 or 3, and 3
 *     (nothing could be read) comes with no output at all, not even the
 *     header;
 *   - the output is strict RFC 4180 CSV: the header of SPEC §4, then rows
 *     of exactly as many fields, each line ended by \n, no bare quote;
 *   - conn_id is unique, ip_version is 4 or 6, first_ts <= last_ts, and
 *     established_ts and the FIN times lie between them;
 *   - the TIME_WAIT columns agree: time_wait_side none <=> start, end,
 *     reason and duration empty; otherwise all four set, and the reason
 *     one of SPEC §3's (or synfin's own reset / evicted);
 *   - with --summary (case 2): the summary is there, ends with \n, and
 *     its first line, "connections: N", counts the CSV rows (0 with exit
 *     3).
 */
#include "fuzz.h"

#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "synfin.h"

static const char header[] =
    "conn_id,first_ts,last_ts,ip_version,client_ip,client_port,server_ip,server_port,role_by,"
    "handshake,syn_retransmits,synack_retransmits,handshake_rtt_s,close_initiator,close_type,"
    "closing,time_wait_side,time_wait_start,time_wait_end,time_wait_end_reason,time_wait_s,"
    "client_state,server_state,packets_c2s,packets_s2c,bytes_c2s,bytes_s2c,fin_retransmits,"
    "anomalies,established_ts,client_fin_ts,server_fin_ts,keepalives,max_idle,conn_uid,"
    "conn_state,history,community_id,tunnel\n";
#define N_FIELDS 39 /* through conn_state, history, community_id (issue 15), tunnel (issue 16) */
#define MAX_ROWS 100000

static int in_fd = -1, out_fd = -1;

static void write_all(int fd, const uint8_t *p, size_t n)
{
    off_t off = 0;
    while (n > 0) {
        ssize_t w = pwrite(fd, p, n, off);
        if (w <= 0)
            abort();
        p += w;
        n -= (size_t)w;
        off += w;
    }
}

/* Parses a decimal timestamp "S.F" into a comparable pair. */
static int parse_ts(const char *s, size_t len, uint64_t *sec, uint64_t *frac)
{
    *sec = *frac = 0;
    size_t i = 0;
    if (i < len && s[i] == '-')
        return 0; /* negative: compared as smallest; not expected here */
    for (; i < len && s[i] != '.'; i++)
        *sec = *sec * 10 + (uint64_t)(s[i] - '0');
    for (i++; i < len; i++)
        *frac = *frac * 10 + (uint64_t)(s[i] - '0');
    return 1;
}

static int cmp_ids(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Strict RFC 4180 check of the whole output, plus a few row invariants. */
static size_t check_csv(const char *buf, size_t len)
{
    size_t hl = sizeof(header) - 1;
    FUZZ_CHECK(len >= hl && memcmp(buf, header, hl) == 0, "bad or missing header");
    FUZZ_CHECK(len == 0 || buf[len - 1] == '\n', "output does not end with a newline");
    static uint64_t ids[MAX_ROWS];
    size_t n_ids = 0;
    size_t pos = hl;
    while (pos < len) {
        /* One record: fields separated by ',', ended by '\n'. */
        const char *field[N_FIELDS];
        size_t flen[N_FIELDS];
        int nf = 0;
        for (;;) {
            size_t start = pos;
            if (pos < len && buf[pos] == '"') {
                pos++;
                for (;;) {
                    FUZZ_CHECK(pos < len, "quoted field not closed");
                    if (buf[pos] == '"') {
                        if (pos + 1 < len && buf[pos + 1] == '"') {
                            pos += 2;
                            continue;
                        }
                        pos++;
                        break;
                    }
                    pos++;
                }
            } else {
                while (pos < len && buf[pos] != ',' && buf[pos] != '\n') {
                    FUZZ_CHECK(buf[pos] != '"' && buf[pos] != '\r', "bare quote or CR");
                    pos++;
                }
            }
            FUZZ_CHECK(nf < N_FIELDS, "more than %d fields", N_FIELDS);
            field[nf] = buf + start;
            flen[nf] = pos - start;
            nf++;
            FUZZ_CHECK(pos < len, "record not ended by a newline");
            if (buf[pos++] == '\n')
                break;
        }
        FUZZ_CHECK(nf == N_FIELDS, "%d fields instead of %d", nf, N_FIELDS);
        FUZZ_CHECK(flen[0] > 0 && flen[1] > 0 && flen[2] > 0, "empty id or timestamp");
        FUZZ_CHECK(flen[3] == 1 && (field[3][0] == '4' || field[3][0] == '6'), "ip_version");
        uint64_t id = 0;
        for (size_t i = 0; i < flen[0]; i++) {
            FUZZ_CHECK(field[0][i] >= '0' && field[0][i] <= '9', "conn_id not a number");
            id = id * 10 + (uint64_t)(field[0][i] - '0');
        }
        if (n_ids < MAX_ROWS)
            ids[n_ids++] = id;
        /* 16 time_wait_side, 17 start, 18 end, 19 reason, 20 time_wait_s */
        int tw_none = flen[16] == 4 && memcmp(field[16], "none", 4) == 0;
        for (int i = 17; i <= 20; i++)
            FUZZ_CHECK(tw_none == (flen[i] == 0), "time_wait_side %.*s but field %d is '%.*s'",
                       (int)flen[16], field[16], i, (int)flen[i], field[i]);
        if (!tw_none) {
            static const char *const reasons[] = {"expired", "reused", "capture_end", "reset",
                                                  "evicted"};
            int ok = 0;
            for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
                ok |=
                    flen[19] == strlen(reasons[i]) && memcmp(field[19], reasons[i], flen[19]) == 0;
            FUZZ_CHECK(ok, "time_wait_end_reason '%.*s'", (int)flen[19], field[19]);
        }
        uint64_t s1, f1, s2, f2, s3, f3;
        if (parse_ts(field[1], flen[1], &s1, &f1) && parse_ts(field[2], flen[2], &s2, &f2)) {
            FUZZ_CHECK(s1 < s2 || (s1 == s2 && f1 <= f2), "first_ts after last_ts");
            /* established_ts and the FIN times (issue 13) lie between them. */
            for (int i = 29; i <= 31; i++)
                if (flen[i] && parse_ts(field[i], flen[i], &s3, &f3))
                    FUZZ_CHECK((s1 < s3 || (s1 == s3 && f1 <= f3)) &&
                                   (s3 < s2 || (s3 == s2 && f3 <= f2)),
                               "column %d outside first_ts..last_ts", i);
        }
        /* conn_uid (issue 14): 32 lower-case hex digits. */
        FUZZ_CHECK(flen[34] == 32, "conn_uid of %d characters", (int)flen[34]);
        for (size_t i = 0; i < 32; i++)
            FUZZ_CHECK((field[34][i] >= '0' && field[34][i] <= '9') ||
                           (field[34][i] >= 'a' && field[34][i] <= 'f'),
                       "conn_uid '%.*s'", (int)flen[34], field[34]);
    }
    qsort(ids, n_ids, sizeof(ids[0]), cmp_ids);
    for (size_t i = 1; i < n_ids; i++)
        FUZZ_CHECK(ids[i] != ids[i - 1], "conn_id %llu twice", (unsigned long long)ids[i]);
    return n_ids;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (in_fd < 0) {
        in_fd = memfd_create("synfin-fuzz-in", 0);
        out_fd = memfd_create("synfin-fuzz-out", 0);
        if (in_fd < 0 || out_fd < 0)
            abort();
    }
    if (ftruncate(in_fd, 0) != 0 || ftruncate(out_fd, 0) != 0)
        abort();
    write_all(in_fd, data, size);

    char in_path[64], out_path[64];
    snprintf(in_path, sizeof(in_path), "/proc/self/fd/%d", in_fd);
    snprintf(out_path, sizeof(out_path), "/proc/self/fd/%d", out_fd);
    char *argv[20];
    int argc = 0;
    argv[argc++] = "synfin";
    argv[argc++] = "-q";
    argv[argc++] = "-o";
    argv[argc++] = out_path;
    switch (size % 3) {
    case 0:
        argv[argc++] = "--msl";
        argv[argc++] = "0.001";
        argv[argc++] = "--idle-timeout";
        argv[argc++] = "0.01";
        argv[argc++] = "--max-flows";
        argv[argc++] = "64";
        /* the census too (hourly moments: a damaged timestamp years ahead
         * asks for few of them) */
        argv[argc++] = "--census";
        argv[argc++] = "/dev/null";
        argv[argc++] = "--interval";
        argv[argc++] = "3600";
        break;
    case 1:
        argv[argc++] = "--msl";
        argv[argc++] = "0.001";
        argv[argc++] = "--idle-timeout";
        argv[argc++] = "0";
        argv[argc++] = "--max-flows";
        argv[argc++] = "2";
        /* the findings too (Markdown, thrown away) */
        argv[argc++] = "--findings";
        argv[argc++] = "/dev/null";
        break;
    default:
        /* the summary too: to stderr, caught below */
        argv[argc++] = "--summary";
        argv[argc++] = in_path;
        break;
    }
    argv[argc++] = in_path;
    argv[argc] = NULL;

    /* --summary prints to stdio's stderr: a memory stream for this call.
     * fd 2 is left alone, so a sanitizer report still shows. */
    FILE *saved_stderr = stderr;
    char *summary = NULL;
    size_t summary_len = 0;
    if (size % 3 == 2) {
        FILE *m = open_memstream(&summary, &summary_len);
        if (!m)
            abort();
        stderr = m;
    }
    int rc = synfin_main(argc, argv);
    if (stderr != saved_stderr) {
        FILE *m = stderr;
        stderr = saved_stderr;
        if (fclose(m) != 0)
            abort();
    }
    FUZZ_CHECK(rc == 0 || rc == 1 || rc == 3, "exit code %d", rc);

    struct stat st;
    if (fstat(out_fd, &st) != 0)
        abort();
    size_t len = (size_t)st.st_size;
    char *out = malloc(len ? len : 1);
    if (!out)
        abort();
    if (len && pread(out_fd, out, len, 0) != (ssize_t)len)
        abort();
    /* Exit 3 (nothing read) writes nothing, not even the header (README,
     * exit codes); any other run writes the header. */
    size_t rows = 0;
    if (rc == 3)
        FUZZ_CHECK(len == 0, "exit 3 (nothing read) with %zu bytes of output", len);
    else
        rows = check_csv(out, len);
    free(out);
    if (summary) {
        FUZZ_CHECK(summary_len > 0 && summary[summary_len - 1] == '\n',
                   "summary empty or not ended by a newline");
        unsigned long long n = 0;
        char nl = 0;
        FUZZ_CHECK(sscanf(summary, "connections: %llu%c", &n, &nl) == 2 && nl == '\n',
                   "summary starts with '%.40s'", summary);
        FUZZ_CHECK(rows >= MAX_ROWS || n == rows, "summary counts %llu connections, CSV has %zu", n,
                   rows);
        free(summary);
    }
    return 0;
}
