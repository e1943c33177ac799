/*
 * row.c: the report and its CSV rows (SPEC §4); the --summary statistics
 * are summary.c's, the findings findings.c's (the seam: report_int.h).
 *
 * Rows are formatted straight into the report's own 64 KiB output buffer
 * with small appenders (no printf, no inet_ntop: glibc formats both through
 * vfprintf), and the buffer goes out with one fwrite when it fills. Every
 * write is checked; the first failure is kept (errno) and later rows are
 * only counted, so the caller can stop reading and report it.
 *
 * The other formats (--format) start from the same CSV text, so that the
 * rows are the same in every format: JSON Lines converts each row as it is
 * formatted (row_json.c, on whichever thread formats), SQLite inserts the
 * buffered CSV lines where CSV would fwrite them (row_sqlite.c, on the one
 * thread that writes). The columns and their types are columns.c's list.
 */
#include "report.h"
#include "report_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define ROW_CAP REPORT_ROW_MAX /* more than the longest row takes (about 700 bytes) */
#define OUT_CAP ((size_t)64 * 1024)

struct report {
    FILE *out;
    sqlout *db;     /* --format sqlite: the rows go here instead of out */
    report_fmt fmt; /* of the rows' text: CSV (also for db) or JSONL */
    char *obuf;     /* rows not yet written: obuf[0, olen) */
    size_t olen;
    int precision;
    uint16_t community_seed; /* --community-id-seed */
    int failed;              /* errno of the first failed write */
    int summary;             /* keep the summary statistics */
    int keep;                /* summary or findings on: a row is kept besides written */
    findings *find;          /* the findings, when on */
    /* "0." to "255.", for IPv4 addresses; len[i] counts the dot. */
    char octet[256][4];
    uint8_t octet_len[256];
    report_stats stats; /* while summary is set (summary.c) */
};

report *report_new(FILE *out, int precision)
{
    report *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    if (out && !(r->obuf = malloc(OUT_CAP))) {
        free(r);
        return NULL;
    }
    r->out = out;
    r->precision = precision == 9 ? 9 : 6;
    for (unsigned i = 0; i < 256; i++) {
        char tmp[8];
        int n = snprintf(tmp, sizeof(tmp), "%u.", i);
        memcpy(r->octet[i], tmp, sizeof(r->octet[i]));
        r->octet_len[i] = (uint8_t)n;
    }
    return r;
}

int report_set_output(report *r, FILE *out)
{
    if (out && !r->obuf && !(r->obuf = malloc(OUT_CAP)))
        return -1;
    r->out = out;
    return 0;
}

void report_free(report *r)
{
    if (!r)
        return;
    (void)report_close_db(r);
    report_stats_free(&r->stats);
    findings_free(r->find);
    free(r->obuf);
    free(r);
}

void report_enable_summary(report *r)
{
    r->summary = r->keep = 1;
}

int report_enable_findings(report *r, const report_findings_config *cfg)
{
    if (!r->find && !(r->find = findings_new(cfg)))
        return -1;
    r->keep = 1;
    return 0;
}

int report_findings(report *r, FILE *f)
{
    return r->find ? findings_write(r->find, r->precision, f) : -1;
}

void *report_findings_syn_ctx(report *r)
{
    return r->find ? findings_syn_ctx(r->find) : NULL;
}

void report_findings_short(report *r, FILE *f)
{
    if (r->find)
        findings_write_short(r->find, f);
}

void report_set_community_seed(report *r, uint16_t seed)
{
    r->community_seed = seed;
}

void report_set_precision(report *r, int precision)
{
    r->precision = precision == 9 ? 9 : 6;
}

int report_failed(const report *r)
{
    return r->failed;
}

void report_set_format(report *r, report_fmt fmt)
{
    r->fmt = fmt == REPORT_FMT_JSONL ? REPORT_FMT_JSONL : REPORT_FMT_CSV; /* db: CSV text */
}

int report_open_db(report *r, const char *path)
{
    if (!r->obuf && !(r->obuf = malloc(OUT_CAP))) {
        fprintf(stderr, "synfin: out of memory\n");
        return -1;
    }
    r->fmt = REPORT_FMT_CSV;
    r->db = sqlout_open(path);
    return r->db ? 0 : -1;
}

/* Rows have somewhere to go. */
static int has_output(const report *r)
{
    return r->out || r->db;
}

static void write_out(report *r, const char *buf, size_t len)
{
    if (r->failed || !has_output(r) || len == 0)
        return;
    if (r->db)
        r->failed = sqlout_rows(r->db, buf, len);
    else if (fwrite(buf, 1, len, r->out) != len)
        r->failed = errno ? errno : EIO;
}

/* Hands the buffered rows to the stream. */
static void drain(report *r)
{
    write_out(r, r->obuf, r->olen);
    r->olen = 0;
}

int report_header(report *r)
{
    drain(r);
    if (r->db || r->fmt != REPORT_FMT_CSV)
        return r->failed ? -1 : 0;
    size_t n;
    const report_column *col = report_columns(&n);
    for (size_t i = 0; i < n; i++) {
        write_out(r, col[i].name, strlen(col[i].name));
        write_out(r, i + 1 < n ? "," : "\n", 1);
    }
    return r->failed ? -1 : 0;
}

int report_flush(report *r)
{
    if (has_output(r))
        drain(r);
    if (!r->failed && r->db)
        r->failed = sqlout_commit(r->db);
    if (!r->failed && r->out && (fflush(r->out) != 0 || ferror(r->out)))
        r->failed = errno ? errno : EIO;
    return r->failed;
}

int report_db_census(report *r, FILE *csv)
{
    return r->db ? sqlout_census(r->db, csv) : -1;
}

int report_db_findings(report *r)
{
    if (!r->db || !r->find)
        return -1;
    char *md = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&md, &len);
    if (!f) {
        fprintf(stderr, "synfin: out of memory\n");
        return -1;
    }
    int rc = findings_write(r->find, r->precision, f);
    if (fclose(f) != 0 || rc < 0) {
        fprintf(stderr, "synfin: out of memory\n");
        free(md);
        return -1;
    }
    rc = sqlout_findings(r->db, md, len);
    free(md);
    return rc;
}

int report_close_db(report *r)
{
    if (!r->db)
        return 0;
    drain(r);
    int err = sqlout_close(r->db);
    r->db = NULL;
    if (!r->failed)
        r->failed = err;
    return err;
}

/* ---- appenders -------------------------------------------------------- */

/* Each appender writes at b + n and returns the new length; the caller
 * makes sure ROW_CAP bytes are free before a row. */

static const char digit_pairs[201] = "00010203040506070809"
                                     "10111213141516171819"
                                     "20212223242526272829"
                                     "30313233343536373839"
                                     "40414243444546474849"
                                     "50515253545556575859"
                                     "60616263646566676869"
                                     "70717273747576777879"
                                     "80818283848586878889"
                                     "90919293949596979899";

/* The names are a few bytes long: a loop beats strlen() and memcpy() calls. */
static size_t put_str(char *b, size_t n, const char *s)
{
    while (*s)
        b[n++] = *s++;
    return n;
}

/* The number of decimal digits of v. */
static size_t digits_u64(uint64_t v)
{
    size_t d = 1;
    for (; v >= 10000; v /= 10000)
        d += 4;
    return d + (v >= 10) + (v >= 100) + (v >= 1000);
}

/* v in decimal, written backwards from its last digit two at a time. */
static size_t put_u64(char *b, size_t n, uint64_t v)
{
    if (v < 10) { /* most counters, flags and retransmits */
        b[n] = (char)('0' + v);
        return n + 1;
    }
    size_t end = n + digits_u64(v), i = end;
    while (v >= 100) {
        i -= 2;
        memcpy(b + i, digit_pairs + (v % 100) * 2, 2);
        v /= 100;
    }
    if (v >= 10)
        memcpy(b + i - 2, digit_pairs + v * 2, 2);
    else
        b[i - 1] = (char)('0' + v);
    return end;
}

static size_t put_c(char *b, size_t n, char c)
{
    b[n] = c;
    return n + 1;
}

/* Exactly `digits` digits of v (v < 10^digits), zero-padded. */
static size_t put_fixed(char *b, size_t n, uint64_t v, int digits)
{
    size_t end = n + (size_t)digits;
    for (; digits >= 2; digits -= 2) {
        memcpy(b + n + (size_t)digits - 2, digit_pairs + (v % 100) * 2, 2);
        v /= 100;
    }
    if (digits)
        b[n] = (char)('0' + v);
    return end;
}

/* Seconds since the epoch: the timestamps of a capture share all but the
 * last two digits, so this thread keeps the text of the rest from the last
 * time (at most 8 digits: seconds < 2^63 ns). */
static _Thread_local struct {
    uint64_t hi; /* sec / 100; 0: nothing kept */
    size_t len;
    char text[8];
} sec_memo;

static size_t put_secs(char *b, size_t n, uint64_t sec)
{
    uint64_t hi = sec / 100;
    if (hi == 0)
        return put_u64(b, n, sec);
    if (hi != sec_memo.hi) {
        char tmp[24];
        sec_memo.len = put_u64(tmp, 0, hi);
        memcpy(sec_memo.text, tmp, sizeof(sec_memo.text));
        sec_memo.hi = hi;
    }
    memcpy(b + n, sec_memo.text, sizeof(sec_memo.text)); /* the fraction follows: room */
    n += sec_memo.len;
    memcpy(b + n, digit_pairs + (sec % 100) * 2, 2);
    return n + 2;
}

static size_t put_ts_digits(char *b, size_t n, int64_t ts, int precision)
{
    uint64_t mag;
    if (ts < 0) {
        b[n++] = '-';
        mag = (uint64_t)0 - (uint64_t)ts;
    } else {
        mag = (uint64_t)ts;
    }
    uint64_t sec = mag / 1000000000u, frac = mag % 1000000000u;
    n = put_secs(b, n, sec);
    b[n++] = '.';
    if (precision != 9)
        return put_fixed(b, n, frac / 1000, 6); /* µs captures: the rest are zeros */
    return put_fixed(b, n, frac, 9);
}

size_t report_format_ts(char *buf, int64_t ts, int precision)
{
    size_t n = put_ts_digits(buf, 0, ts, precision);
    buf[n] = '\0';
    return n;
}

static size_t put_ts(const report *r, char *b, size_t n, int64_t ts)
{
    return put_ts_digits(b, n, ts, r->precision);
}

/* Four bytes copied per octet, the dot included; the last dot is dropped. */
static size_t put_ipv4(const report *r, char *b, size_t n, const uint8_t *a)
{
    for (int i = 0; i < 4; i++) {
        memcpy(b + n, r->octet[a[i]], 4);
        n += r->octet_len[a[i]];
    }
    return n - 1;
}

static size_t put_hex16(char *b, size_t n, unsigned w)
{
    static const char hex[] = "0123456789abcdef";
    int shift = w >= 0x1000 ? 12 : w >= 0x100 ? 8 : w >= 0x10 ? 4 : 0;
    for (; shift >= 0; shift -= 4)
        b[n++] = hex[(w >> shift) & 0xf];
    return n;
}

/* IPv6 text as glibc's inet_ntop writes it (RFC 5952 style): lower-case
 * hex without leading zeros, the first longest run of two or more zero
 * words as "::", and the IPv4 dotted form for ::a.b.c.d and ::ffff:a.b.c.d.
 * test_report checks it against inet_ntop. */
static size_t put_ipv6(const report *r, char *b, size_t n, const uint8_t *a)
{
    unsigned w[8];
    for (size_t i = 0; i < 8; i++)
        w[i] = (unsigned)a[2 * i] << 8 | a[2 * i + 1];
    int best = -1, best_len = 0;
    for (int i = 0; i < 8;) {
        if (w[i]) {
            i++;
            continue;
        }
        int j = i;
        while (j < 8 && !w[j])
            j++;
        if (j - i > best_len) {
            best = i;
            best_len = j - i;
        }
        i = j;
    }
    if (best_len < 2)
        best = -1;
    for (int i = 0; i < 8; i++) {
        if (best >= 0 && i >= best && i < best + best_len) {
            if (i == best)
                b[n++] = ':';
            continue;
        }
        if (i)
            b[n++] = ':';
        if (i == 6 && best == 0 && (best_len == 6 || (best_len == 5 && w[5] == 0xffff)))
            return put_ipv4(r, b, n, a + 12);
        n = put_hex16(b, n, w[i]);
    }
    if (best >= 0 && best + best_len == 8)
        b[n++] = ':';
    return n;
}

static size_t put_ip(const report *r, char *b, size_t n, int version, const uint8_t *addr)
{
    return version == 6 ? put_ipv6(r, b, n, addr) : put_ipv4(r, b, n, addr);
}

/* ---- rows ------------------------------------------------------------- */

/* The row into the summary and the findings, whichever are on. */
static void keep_row(report *r, const conn_record *c)
{
    if (r->summary)
        report_stats_add(&r->stats, c);
    if (r->find)
        findings_add(r->find, c);
}

void report_row(void *report_ctx, const conn_record *c)
{
    report *r = report_ctx;
    if (r->keep)
        keep_row(r, c);
    if (r->failed || !has_output(r))
        return;
    if (OUT_CAP - r->olen < ROW_CAP)
        drain(r);
    r->olen += report_format(r, c, r->obuf + r->olen);
}

void report_count(report *r, const conn_record *rec)
{
    if (r->keep)
        keep_row(r, rec);
}

void report_count_part(report *r, const conn_record *rec, int part)
{
    if (part == REPORT_COUNT_HOSTS) {
        if (r->find)
            findings_add_part(r->find, rec, FINDINGS_HOSTS);
        return;
    }
    if (r->summary)
        report_stats_add(&r->stats, rec);
    if (r->find)
        findings_add_part(r->find, rec, FINDINGS_REST);
}

void report_count_settle(report *r)
{
    if (r->find)
        findings_settle(r->find);
}

int report_counts(const report *r)
{
    return !r->keep ? 0 : r->find ? 2 : 1;
}

void report_write(report *r, const char *text, size_t len)
{
    if (r->failed || !has_output(r))
        return;
    if (OUT_CAP - r->olen < len) {
        drain(r);
        if (len > OUT_CAP) {
            write_out(r, text, len);
            return;
        }
    }
    memcpy(r->obuf + r->olen, text, len);
    r->olen += len;
}

/* ",TS" or "," (not applicable: < 0). */
static size_t put_opt_ts(const report *r, char *b, size_t n, int64_t ts)
{
    n = put_c(b, n, ',');
    return ts >= 0 ? put_ts(r, b, n, ts) : n;
}

/* v as 16 lower-case hex digits. */
static size_t put_hex64(char *b, size_t n, uint64_t v)
{
    static const char hex[] = "0123456789abcdef";
    for (int i = 15; i >= 0; i--, v >>= 4)
        b[n + (size_t)i] = hex[v & 0xf];
    return n + 16;
}

/* The columns appended after anomalies (issue 13; conn_uid issue 14), each
 * with its comma. conn_uid: first_ts in ns, then the 4-tuple's hash (the
 * one --shard splits by), 16 hex digits each: the same row gets the same
 * identifier in every shard and run, and sorting by it sorts by first_ts. */
static size_t put_appended(const report *r, const conn_record *c, char *b, size_t n)
{
    n = put_opt_ts(r, b, n, c->established_ts);
    n = put_opt_ts(r, b, n, c->client_fin_ts);
    n = put_opt_ts(r, b, n, c->server_fin_ts);
    n = put_c(b, n, ',');
    n = put_u64(b, n, c->keepalives);
    n = put_opt_ts(r, b, n, c->max_idle);
    n = put_c(b, n, ',');
    n = put_hex64(b, n, (uint64_t)c->first_ts);
    n = put_hex64(b, n,
                  flows_tuple_hash(c->ip_version, c->client_ip, c->client_port, c->server_ip,
                                   c->server_port));
    /* Zeek's vocabulary (issue 15). */
    n = put_c(b, n, ',');
    n = put_str(b, n, conn_zeek_state_name(c->zeek_state));
    n = put_c(b, n, ',');
    n += conn_history_text(c->history, c->history_flipped, b + n);
    n = put_c(b, n, ',');
    n += report_community_id(b + n, r->community_seed, c->ip_version, c->client_ip, c->client_port,
                             c->server_ip, c->server_port);
    n = put_c(b, n, ',');
    return c->tunnel ? put_str(b, n, c->tunnel) : n; /* issue 16 */
}

/* The row as a CSV line. */
static size_t format_csv(const report *r, const conn_record *c, char *b)
{
    size_t n = 0;
    n = put_u64(b, n, c->conn_id);
    n = put_c(b, n, ',');
    n = put_ts(r, b, n, c->first_ts);
    n = put_c(b, n, ',');
    n = put_ts(r, b, n, c->last_ts);
    n = put_c(b, n, ',');
    n = put_u64(b, n, c->ip_version);
    n = put_c(b, n, ',');
    n = put_ip(r, b, n, c->ip_version, c->client_ip);
    n = put_c(b, n, ',');
    n = put_u64(b, n, c->client_port);
    n = put_c(b, n, ',');
    n = put_ip(r, b, n, c->ip_version, c->server_ip);
    n = put_c(b, n, ',');
    n = put_u64(b, n, c->server_port);
    n = put_c(b, n, ',');
    n = put_str(b, n, conn_role_by_name(c->role_by));
    n = put_c(b, n, ',');
    n = put_str(b, n, conn_handshake_name(c->handshake));
    n = put_c(b, n, ',');
    n = put_u64(b, n, c->syn_retransmits);
    n = put_c(b, n, ',');
    n = put_u64(b, n, c->synack_retransmits);
    n = put_c(b, n, ',');
    if (c->handshake_rtt >= 0)
        n = put_ts(r, b, n, c->handshake_rtt);
    n = put_c(b, n, ',');
    n = put_str(b, n, conn_side_name(c->close_initiator));
    n = put_c(b, n, ',');
    n = put_str(b, n, conn_close_type_name(c->close_type));
    n = put_c(b, n, ',');
    n = put_u64(b, n, c->closing);
    n = put_c(b, n, ',');
    n = put_str(b, n, conn_side_name(c->time_wait_side));
    n = put_c(b, n, ',');
    if (c->time_wait_side != SIDE_NONE) {
        n = put_ts(r, b, n, c->time_wait_start);
        n = put_c(b, n, ',');
        n = put_ts(r, b, n, c->time_wait_end);
        n = put_c(b, n, ',');
        n = put_str(b, n, conn_tw_reason_name(c->time_wait_end_reason));
        n = put_c(b, n, ',');
        n = put_ts(r, b, n, c->time_wait_end - c->time_wait_start);
    } else {
        n = put_str(b, n, ",,,");
    }
    n = put_c(b, n, ',');
    n = put_str(b, n, conn_state_name(c->client_state));
    n = put_c(b, n, ',');
    n = put_str(b, n, conn_state_name(c->server_state));
    n = put_c(b, n, ',');
    n = put_u64(b, n, c->packets_c2s);
    n = put_c(b, n, ',');
    n = put_u64(b, n, c->packets_s2c);
    n = put_c(b, n, ',');
    n = put_u64(b, n, c->bytes_c2s);
    n = put_c(b, n, ',');
    n = put_u64(b, n, c->bytes_s2c);
    n = put_c(b, n, ',');
    n = put_u64(b, n, c->fin_retransmits);
    n = put_c(b, n, ',');
    int first = 1;
    for (unsigned i = 0; i < ANOM_COUNT; i++) {
        if (!(c->anomalies & (1u << i)))
            continue;
        if (!first)
            n = put_c(b, n, ';');
        n = put_str(b, n, conn_anomaly_name(i));
        first = 0;
    }
    n = put_appended(r, c, b, n);
    n = put_c(b, n, '\n');
    return n;
}

size_t report_format(const report *r, const conn_record *c, char *b)
{
    if (r->fmt == REPORT_FMT_CSV)
        return format_csv(r, c, b);
    char csv[ROW_CAP];
    return row_json(csv, format_csv(r, c, csv), b);
}

/* ---- summary ---------------------------------------------------------- */

void report_summary(const report *r, const flows_stats *fs, FILE *f)
{
    report_stats_print(&r->stats, r->precision, fs, f);
}
