/*
 * test_findings.c: the findings (report/findings.c, findings_text.c) from
 * hand-made rows fed through the report as flows would: each finding made
 * to fire (`applies`) and kept quiet (`no evidence` / `would not help`),
 * the waiting ones too (keepalive and idle gaps, CLOSE_WAIT, FIN_WAIT2),
 * the sweeps' edges (an end meeting a start, TIME_WAIT extending a port's
 * hold), the short form, and the memory bounds said in the report.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "report.h"

#define T0 INT64_C(1700000000000000000)
#define S  INT64_C(1000000000)

/* A complete, closed IPv4 row: client 10.0.1.C:CPORT -> 10.0.0.SRV:SPORT,
 * from T0 + at s for 1 s, no TIME_WAIT. */
static conn_record row(uint64_t id, uint8_t c, uint16_t cport, uint8_t srv, uint16_t sport,
                       int64_t at)
{
    conn_record r;
    memset(&r, 0, sizeof(r));
    r.conn_id = id;
    r.ip_version = 4;
    r.client_ip[0] = 10, r.client_ip[2] = 1, r.client_ip[3] = c;
    r.server_ip[0] = 10, r.server_ip[3] = srv;
    r.client_port = cport;
    r.server_port = sport;
    r.first_ts = T0 + at * S;
    r.last_ts = r.first_ts + S;
    r.handshake = HS_COMPLETE;
    r.handshake_rtt = -1;
    r.end_reason = END_CLOSED;
    r.established_ts = r.client_fin_ts = r.server_fin_ts = r.max_idle = -1;
    r.end_ts = r.last_ts;
    r.client_state = r.server_state = CONN_CLOSED;
    return r;
}

/* The row with `side` in TIME_WAIT from its last packet for tw_s seconds. */
static conn_record tw_row(conn_record r, conn_side side, int64_t tw_ns, conn_tw_reason why)
{
    r.close_initiator = side == SIDE_BOTH ? SIDE_BOTH : side;
    r.close_type = CLOSE_FIN;
    r.time_wait_side = side;
    r.time_wait_start = r.last_ts;
    r.time_wait_end = r.last_ts + tw_ns;
    r.time_wait_end_reason = why;
    return r;
}

static report *new_report_with(const report_findings_config *cfg)
{
    report *r = report_new(NULL, 6);
    assert_non_null(r);
    assert_int_equal(report_enable_findings(r, cfg), 0);
    return r;
}

static report *new_report(int64_t max_tw, uint32_t lo, uint32_t hi)
{
    report *r = report_new(NULL, 6);
    assert_non_null(r);
    report_findings_config cfg;
    report_findings_config_default(&cfg);
    cfg.max_tw_buckets = max_tw;
    if (lo) {
        cfg.port_lo = lo;
        cfg.port_hi = hi;
    }
    assert_int_equal(report_enable_findings(r, &cfg), 0);
    return r;
}

static char *text_of(report *r, int brief)
{
    FILE *f = tmpfile();
    assert_non_null(f);
    if (brief)
        report_findings_short(r, f);
    else
        assert_int_equal(report_findings(r, f), 0);
    long n = ftell(f);
    rewind(f);
    char *text = calloc(1, (size_t)n + 1);
    assert_non_null(text);
    assert_int_equal(fread(text, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    return text;
}

/* Finding n's section of the report (to free). */
static char *section(const char *text, int n)
{
    char head[24], next[24];
    snprintf(head, sizeof(head), "\n## %d. ", n);
    snprintf(next, sizeof(next), "\n## %d. ", n + 1);
    const char *a = strstr(text, head);
    if (!a)
        fail_msg("no section %d in:\n%s", n, text);
    const char *b = strstr(a, next);
    size_t len = b ? (size_t)(b - a) : strlen(a);
    char *s = calloc(1, len + 1);
    memcpy(s, a, len);
    return s;
}

/* Checks finding n's verdict and that its section holds each of the
 * NULL-terminated strings that follow. */
static void expect(report *r, int n, const char *verdict, ...)
{
    char *text = text_of(r, 0), *sec = section(text, n);
    char want[64];
    snprintf(want, sizeof(want), "**Verdict: %s** — ", verdict);
    if (!strstr(sec, want))
        fail_msg("finding %d is not '%s':\n%s", n, verdict, sec);
    va_list ap;
    va_start(ap, verdict);
    for (const char *s; (s = va_arg(ap, const char *));)
        if (!strstr(sec, s))
            fail_msg("finding %d lacks '%s':\n%s", n, s, sec);
    va_end(ap);
    free(sec);
    free(text);
}

/* ---- 1. who closes first, who holds TIME_WAIT ---- */

static void test_close_clients_hold_time_wait_applies(void **state)
{
    (void)state;
    report *r = new_report(-1, 0, 0);
    for (int i = 0; i < 4; i++) {
        conn_record c = tw_row(row(1 + i, 1, 40000 + i, 2, 80, i), SIDE_CLIENT, 60 * S, TW_EXPIRED);
        report_row(r, &c);
    }
    conn_record c = tw_row(row(5, 1, 41000, 2, 80, 9), SIDE_SERVER, 60 * S, TW_EXPIRED);
    report_row(r, &c);
    expect(r, 1, "applies", "the client holds TIME_WAIT in 4 of 5 connections (80%)",
           "tcp_tw_reuse (with TCP timestamps) applies to the client host(s)",
           "| close initiator | 4 | 1 | 0 | 0 |", "| TIME_WAIT side | 4 | 1 | 0 | 0 |",
           "- conn 1: 10.0.1.1:40000 -> 10.0.0.2:80\n", NULL);
    report_free(r);
}

static void test_close_server_holds_time_wait_would_not_help(void **state)
{
    (void)state;
    report *r = new_report(-1, 0, 0);
    conn_record c = tw_row(row(1, 1, 40000, 2, 80, 0), SIDE_CLIENT, 60 * S, TW_EXPIRED);
    report_row(r, &c);
    for (int i = 0; i < 3; i++) {
        c = tw_row(row(2 + i, 1, 40001 + i, 2, 80, i), SIDE_SERVER, 60 * S, TW_EXPIRED);
        report_row(r, &c);
    }
    c = tw_row(row(9, 3, 40000, 2, 80, 5), SIDE_BOTH, 60 * S, TW_EXPIRED); /* counts for each */
    report_row(r, &c);
    expect(r, 1, "would not help", "the server holds TIME_WAIT in 4 of 5 connections (80%)",
           "server closes first: tcp_tw_reuse (a client-side setting) has no effect here; HTTP "
           "keep-alive or letting clients close would move TIME_WAIT",
           "- conn 2: 10.0.1.1:40001 -> 10.0.0.2:80\n", NULL);
    report_free(r);

    r = new_report(-1, 0, 0); /* no TIME_WAIT at all */
    c = row(1, 1, 40000, 2, 80, 0);
    report_row(r, &c);
    expect(r, 1, "no evidence", "no endpoint entered TIME_WAIT", NULL);
    report_free(r);
}

/* ---- 2. port pressure ---- */

static void test_ports_half_the_range_held_applies(void **state)
{
    (void)state;
    report *r = new_report(-1, 1000, 1009); /* 10 ports */
    /* Five connections 1 s apart, each 1 s long: overlapping only through
     * the client's TIME_WAIT (60 s), which holds the port. */
    for (int i = 0; i < 5; i++) {
        conn_record c =
            tw_row(row(1 + i, 7, 1000 + i, 2, 443, 2 * i), SIDE_CLIENT, 60 * S, TW_EXPIRED);
        report_row(r, &c);
    }
    /* Another service of the same client: a pair of its own. */
    conn_record c = row(6, 7, 1005, 2, 80, 0);
    report_row(r, &c);
    expect(r, 2, "applies",
           "peak 5 local ports held at once by 10.0.1.7 -> 10.0.0.2:443 (50.0% of 1000-1009)",
           "connect() may fail with EADDRNOTAVAIL",
           "| 10.0.1.7 -> 10.0.0.2:443 | 5 | 50.0% | "
           "1700000008.000000 (2023-11-14 22:13:28 UTC) |",
           "| 10.0.1.7 -> 10.0.0.2:80 | 1 | 10.0% |", "2 pairs", NULL);
    report_free(r);
}

static void test_ports_held_in_turn_no_evidence(void **state)
{
    (void)state;
    report *r = new_report(-1, 1000, 1009);
    /* The same five, back to back (each ends as the next begins), and the
     * TIME_WAIT the server holds does not hold the client's port. */
    for (int i = 0; i < 5; i++) {
        conn_record c = tw_row(row(1 + i, 7, 1000 + i, 2, 443, i), SIDE_SERVER, 60 * S, TW_EXPIRED);
        report_row(r, &c);
    }
    expect(r, 2, "no evidence",
           "peak 1 local ports held at once by 10.0.1.7 -> 10.0.0.2:443 (10.0% of 1000-1009)",
           NULL);
    report_free(r);

    /* Four of ten at once: below half. */
    r = new_report(-1, 1000, 1009);
    for (int i = 0; i < 4; i++) {
        conn_record c = row(1 + i, 7, 1000 + i, 2, 443, 0);
        report_row(r, &c);
    }
    expect(r, 2, "no evidence", "peak 4 local ports", "(40.0% of 1000-1009)", NULL);
    report_free(r);
}

/* ---- 3. 4-tuple reuse in TIME_WAIT ---- */

static void test_reuse_by_side_applies(void **state)
{
    (void)state;
    report *r = new_report(-1, 0, 0);
    static const int64_t client_gaps[] = {2 * S, S / 2, 3 * S};
    for (int i = 0; i < 3; i++) {
        conn_record c =
            tw_row(row(1 + i, 1, 40000, 2, 80, 10 * i), SIDE_CLIENT, client_gaps[i], TW_REUSED);
        report_row(r, &c);
    }
    conn_record c = tw_row(row(4, 5, 50000, 2, 80, 0), SIDE_SERVER, 7 * S, TW_REUSED);
    report_row(r, &c);
    c = tw_row(row(5, 6, 50000, 2, 80, 0), SIDE_CLIENT, 60 * S, TW_EXPIRED); /* not reused */
    report_row(r, &c);
    expect(r, 3, "applies",
           "4 4-tuples reused while in TIME_WAIT: 3 by the client, 1 by the server, 0 by both",
           "and 1 came within 1 s", "| client | 3 | 0.500000 s | 2.000000 s |",
           "| server | 1 | 7.000000 s | 7.000000 s |",
           "Examples (the client reused its TIME_WAIT):\n\n- conn 1: 10.0.1.1:40000 -> "
           "10.0.0.2:80\n- conn 2:",
           "Examples (a SYN accepted into the server's TIME_WAIT):\n\n- conn 4: "
           "10.0.1.5:50000 -> 10.0.0.2:80\n",
           NULL);
    report_free(r);
}

static void test_reuse_none_no_evidence(void **state)
{
    (void)state;
    report *r = new_report(-1, 0, 0);
    for (int i = 0; i < 3; i++) {
        conn_record c = tw_row(row(1 + i, 1, 40000, 2, 80, 100 * i), SIDE_CLIENT, 60 * S,
                               i ? TW_EXPIRED : TW_CAPTURE_END);
        report_row(r, &c);
    }
    expect(r, 3, "no evidence", "no 4-tuple reused while in TIME_WAIT", "| client | 0 |  |  |",
           NULL);
    report_free(r);
}

/* ---- 4. peak TIME_WAIT per host ---- */

/* Three server-side TIME_WAIT on 10.0.0.2 at once, and one `both` that
 * counts for the client's host and the server's. */
static void feed_tw_hosts(report *r)
{
    for (int i = 0; i < 3; i++) {
        conn_record c = tw_row(row(1 + i, 1, 40000 + i, 2, 80, i), SIDE_SERVER, 60 * S, TW_EXPIRED);
        report_row(r, &c);
    }
    conn_record c = tw_row(row(4, 9, 40000, 3, 80, 0), SIDE_BOTH, 60 * S, TW_EXPIRED);
    report_row(r, &c);
}

static void test_tw_hosts_above_the_buckets_applies(void **state)
{
    (void)state;
    report *r = new_report(2, 0, 0);
    feed_tw_hosts(r);
    expect(r, 4, "applies", "peak 3 TIME_WAIT on 10.0.0.2, above --max-tw-buckets 2",
           "the kernel would have dropped TIME_WAIT sockets: 'TCP: time wait bucket table "
           "overflow'",
           "| 10.0.0.2 | 3 | 1700000003.000000 (2023-11-14 22:13:23 UTC) |", "| 10.0.0.3 | 1 |",
           "| 10.0.1.9 | 1 |", NULL);
    report_free(r);
}

static void test_tw_hosts_within_the_buckets_quiet(void **state)
{
    (void)state;
    report *r = new_report(3, 0, 0);
    feed_tw_hosts(r);
    expect(r, 4, "would not help", "peak 3 TIME_WAIT on 10.0.0.2, within --max-tw-buckets 3", NULL);
    report_free(r);
    r = new_report(-1, 0, 0); /* no limit given: nothing to compare with */
    feed_tw_hosts(r);
    expect(r, 4, "no evidence", "peak 3 TIME_WAIT on 10.0.0.2", "give --max-tw-buckets N", NULL);
    report_free(r);
}

/* ---- 5. SYN backlog ---- */

/* n attempts to 10.0.0.2:80, `unanswered` of them syn_only, one row
 * midstream (no attempt). */
static void feed_backlog(report *r, int n, int unanswered, int overflow)
{
    for (int i = 0; i < n; i++) {
        conn_record c = row(1 + i, 1, 30000 + i, 2, 80, i);
        if (i < unanswered) {
            c.handshake = HS_SYN_ONLY;
            c.syn_retransmits = 2;
        }
        if (i == n - 1 && overflow)
            c.anomalies = ANOM_ACCEPT_QUEUE_OVERFLOW;
        report_row(r, &c);
    }
    conn_record m = row(1000, 1, 20000, 2, 80, 0);
    m.handshake = HS_MIDSTREAM;
    m.role_by = ROLE_BY_PORT;
    report_row(r, &m);
}

static void test_backlog_applies(void **state)
{
    (void)state;
    report *r = new_report(-1, 0, 0);
    feed_backlog(r, 100, 2, 0); /* 2% unanswered */
    expect(r, 5, "applies", "0 accept-queue overflows, 2 of 100 connection attempts unanswered",
           "busiest 10.0.0.2:80", "tcp_max_syn_backlog / somaxconn / syncookies worth a look",
           "| 10.0.0.2:80 | 100 | 2 (2.0%) | 4 | 0 | 0 |", "- conn 1: 10.0.1.1:30000", NULL);
    report_free(r);
    r = new_report(-1, 0, 0);
    feed_backlog(r, 100, 0, 1); /* one overflow is enough */
    expect(r, 5, "applies", "1 accept-queue overflows", "- conn 100: 10.0.1.1:30099", NULL);
    report_free(r);
}

static void test_backlog_quiet(void **state)
{
    (void)state;
    report *r = new_report(-1, 0, 0);
    feed_backlog(r, 100, 1, 0); /* 1%: not more than 1% */
    expect(r, 5, "no evidence", "0 accept-queue overflows, 1 of 100 connection attempts", NULL);
    report_free(r);
}

/* Peak SYN_RCVD: requests held from the SYN to the handshake's ACK (an
 * overflowed or unacked one to its last packet) overlap. */
static void test_backlog_peak_syn_rcvd(void **state)
{
    (void)state;
    report *r = new_report(-1, 0, 0);
    static const int64_t at[] = {0, 1, 5};
    for (int i = 0; i < 3; i++) {
        conn_record c = row(1 + (uint64_t)i, 1, (uint16_t)(30000 + i), 2, 80, at[i]);
        c.established_ts = c.first_ts + 2 * S; /* the ACK 2 s after the SYN */
        c.last_ts = c.first_ts + 3 * S;
        report_row(r, &c);
    }
    conn_record o = row(4, 1, 30003, 2, 80, 5);
    o.anomalies = ANOM_ACCEPT_QUEUE_OVERFLOW; /* held to its last packet, 6 s */
    o.established_ts = o.first_ts + S / 10;
    report_row(r, &o);
    expect(r, 5, "applies", "| 10.0.0.2:80 | 4 | 0 (0.0%) | 0 | 0 | 1 | 2 at 1700000001.000000",
           NULL);
    report_free(r);
    r = new_report(-1, 0, 0);
    feed_backlog(r, 3, 0, 0); /* one after the other */
    expect(r, 5, "no evidence", "| 10.0.0.2:80 | 3 | 0 (0.0%) | 0 | 0 | 0 | 1 at 1700000000.000000",
           NULL);
    report_free(r);
}

/* ---- 6. keepalive and idle connections ---- */

/* An established row idle for idle_s seconds between two packets, with
 * `probes` keepalives. */
static conn_record idle_row(uint64_t id, int64_t idle_s, uint32_t probes)
{
    conn_record c = row(id, 1, (uint16_t)(40000 + id), 2, 5432, 0);
    c.last_ts = c.first_ts + idle_s * S + S;
    c.end_ts = c.last_ts;
    c.max_idle = idle_s * S;
    c.keepalives = probes;
    c.client_state = c.server_state = CONN_ESTABLISHED;
    return c;
}

static void test_keepalive_idle_without_probes_applies(void **state)
{
    (void)state;
    report *r = new_report(-1, 0, 0);
    conn_record c = idle_row(1, 7300, 0);
    report_row(r, &c);
    c = idle_row(2, 30, 0);
    report_row(r, &c);
    /* Open at the capture end, silent for 2.5 h since its last packet. */
    c = idle_row(3, 5, 0);
    c.end_reason = END_CAPTURE_END;
    c.end_ts = c.last_ts + 9000 * S;
    report_row(r, &c);
    expect(r, 6, "applies", "2 connections idle for 7200 s (--keepalive-time) or longer",
           "| idle 7200 s or longer, no probe | 2 (1 of them idle at their end) |",
           "| longest gap | 7300.000000 s |", "| median of the connections' longest gaps | 30",
           "- conn 1: 10.0.1.1:40001 -> 10.0.0.2:5432", "- conn 3: ", NULL);
    report_free(r);

    /* A middlebox's 5 minutes as the limit: the 30 s gap still passes. */
    report_findings_config cfg;
    report_findings_config_default(&cfg);
    cfg.keepalive_time = 300 * S;
    r = new_report_with(&cfg);
    c = idle_row(1, 600, 0);
    report_row(r, &c);
    c = idle_row(2, 30, 0);
    report_row(r, &c);
    expect(r, 6, "applies", "1 connections idle for 300 s", NULL);
    report_free(r);
}

static void test_keepalive_quiet(void **state)
{
    (void)state;
    report *r = new_report(-1, 0, 0);
    conn_record c = row(1, 1, 40000, 2, 80, 0); /* no gap of 1 s */
    report_row(r, &c);
    expect(r, 6, "no evidence", "no connection was idle for 1 s or more", NULL);
    c = idle_row(2, 7300, 3); /* idle that long, but probed */
    report_row(r, &c);
    c = idle_row(3, 100, 0);
    report_row(r, &c);
    expect(r, 6, "would not help", "3 keepalive probes on 1 connections; longest gap 7300",
           "| idle that long, with probes | 1 |", "- conn 2: ", NULL);
    report_free(r);
}

/* ---- 7. CLOSE_WAIT ---- */

/* The client closes at 1 s; the server's FIN after fin_s seconds (< 0:
 * none, the server still in CLOSE_WAIT until end_s). */
static conn_record cw_row(uint64_t id, uint16_t sport, double fin_s, int64_t end_s)
{
    conn_record c = row(id, 1, (uint16_t)(40000 + id), 2, sport, 0);
    c.close_initiator = SIDE_CLIENT;
    c.close_type = CLOSE_FIN;
    c.client_fin_ts = c.first_ts + S;
    c.fin_wait2_side = SIDE_CLIENT;
    if (fin_s >= 0) {
        c.server_fin_ts = c.client_fin_ts + (int64_t)(fin_s * 1e9);
        c.last_ts = c.end_ts = c.server_fin_ts;
    } else {
        c.client_state = CONN_FIN_WAIT2;
        c.server_state = CONN_CLOSE_WAIT;
        c.end_reason = END_CAPTURE_END;
        c.end_ts = c.first_ts + end_s * S;
    }
    return c;
}

static void test_close_wait_longer_applies(void **state)
{
    (void)state;
    report *r = new_report(-1, 0, 0);
    conn_record c = cw_row(1, 8080, 0.02, 0);
    report_row(r, &c);
    c = cw_row(2, 8080, 200, 0); /* closed after 200 s */
    report_row(r, &c);
    c = cw_row(3, 8080, -1, 900); /* never closed: at least 899 s */
    report_row(r, &c);
    expect(r, 7, "applies",
           "2 of 3 CLOSE_WAIT lasted longer than 60 s (--close-wait), 1 still in CLOSE_WAIT",
           "| still in CLOSE_WAIT | 1 (1 longer; at least 899.000000 s) |",
           "| 10.0.0.2:8080 | server | 3 | 2 | 1 | 899.000000 s |",
           "- conn 2: ", "- conn 3: ", NULL);
    report_free(r);
}

static void test_close_wait_quiet(void **state)
{
    (void)state;
    report *r = new_report(-1, 0, 0);
    conn_record c = row(1, 1, 40000, 2, 80, 0); /* no FIN */
    report_row(r, &c);
    expect(r, 7, "no evidence", "no connection closed by one side's FIN first", NULL);
    c = cw_row(2, 80, 0.02, 0);
    report_row(r, &c);
    c = cw_row(3, 80, 59, 0);
    report_row(r, &c);
    expect(r, 7, "no evidence", "2 CLOSE_WAIT, none longer than 60 s (longest 59.000000 s)", NULL);
    report_free(r);
}

/* ---- 8. FIN_WAIT2 ---- */

static void test_fin_wait2_past_fin_timeout_applies(void **state)
{
    (void)state;
    report *r = new_report(-1, 0, 0);
    conn_record c = cw_row(1, 80, 0.03, 0);
    report_row(r, &c);
    c = cw_row(2, 80, 61, 0); /* the peer's FIN after tcp_fin_timeout */
    report_row(r, &c);
    c = cw_row(3, 80, -1, 30); /* no FIN from the peer, 29 s: not longer */
    report_row(r, &c);
    expect(r, 8, "applies", "1 of 3 FIN_WAIT2 lasted longer than tcp_fin_timeout 60 s",
           "| no FIN from the peer | 1 (0 longer; at least 29.000000 s) |", "- conn 2: ", NULL);
    report_free(r);
}

static void test_fin_wait2_quiet(void **state)
{
    (void)state;
    report *r = new_report(-1, 0, 0);
    conn_record c = cw_row(1, 80, 0.03, 0);
    c.fin_wait2_side = SIDE_NONE; /* FIN_WAIT1 straight to TIME_WAIT */
    report_row(r, &c);
    expect(r, 8, "no evidence", "no endpoint went through FIN_WAIT2", NULL);
    c = cw_row(2, 80, 0.03, 0);
    report_row(r, &c);
    c = cw_row(3, 80, 0.05, 0);
    report_row(r, &c);
    expect(r, 8, "would not help", "2 FIN_WAIT2, median 0.0", "longest 0.050000 s",
           "every one ended within tcp_fin_timeout (60 s)", NULL);
    report_free(r);
}

/* ---- the short form, the switch, the bounds ---- */

static void test_short_form_one_line_per_finding(void **state)
{
    (void)state;
    report *r = new_report(2, 0, 0);
    feed_tw_hosts(r);
    char *text = text_of(r, 1);
    static const char *const lines[] = {
        "findings (--findings FILE for the numbers and examples):\n",
        "\n  1 close / TIME_WAIT      would not help  the server holds TIME_WAIT in 4 of 4 "
        "connections (100%)\n",
        "\n  2 port pressure          no evidence     peak 1 local ports",
        "\n  3 TIME_WAIT reuse        no evidence     no 4-tuple reused while in TIME_WAIT\n",
        "\n  4 TIME_WAIT per host     applies         peak 3 TIME_WAIT on 10.0.0.2, above "
        "--max-tw-buckets 2\n",
        "\n  5 SYN backlog            no evidence     0 accept-queue overflows, 0 of 4 "
        "connection attempts unanswered (0.0%)\n",
        "\n  6 keepalive / idle       no evidence     no connection was idle for 1 s or more\n",
        "\n  7 CLOSE_WAIT             no evidence     ",
        "\n  8 FIN_WAIT2              no evidence     no endpoint went through FIN_WAIT2\n",
        "\n  9 NAT / TCP timestamps   no evidence     no client SYN seen\n"};
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
        if (!strstr(text, lines[i]))
            fail_msg("short form lacks '%s':\n%s", lines[i], text);
    int n = 0;
    for (const char *p = text; *p; p++)
        n += *p == '\n';
    assert_int_equal(n, 10);
    free(text);
    report_free(r);
}

static void test_off_by_default(void **state)
{
    (void)state;
    report *r = report_new(NULL, 6);
    conn_record c = row(1, 1, 1, 2, 80, 0);
    report_row(r, &c);
    FILE *f = tmpfile();
    assert_int_equal(report_findings(r, f), -1);
    report_findings_short(r, f);
    assert_int_equal(ftell(f), 0);
    fclose(f);
    report_free(r);
}

/* Past 65,536 pairs and 1,000,000 intervals, what was left out is said. */
static void test_bounds_are_said(void **state)
{
    (void)state;
    report *r = new_report(-1, 0, 0);
    conn_record c = row(1, 1, 40000, 2, 80, 0);
    for (uint32_t i = 0; i < 65536 + 3; i++) { /* one row per pair: client ports differ */
        c.server_port = (uint16_t)(i & 0xffff);
        c.server_ip[2] = (uint8_t)(i >> 16);
        report_row(r, &c);
    }
    c = row(2, 1, 40000, 2, 80, 0); /* a known pair: 1,000,000 intervals in all */
    for (uint32_t i = 0; i < 1000000 - 65536 + 5; i++)
        report_row(r, &c);
    expect(r, 2, "applies", "65536 pairs", "Left out: 3 rows of pairs past the first 65536",
           "Left out: 5 rows past the first 1000000 intervals", NULL);
    report_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_close_clients_hold_time_wait_applies),
        cmocka_unit_test(test_close_server_holds_time_wait_would_not_help),
        cmocka_unit_test(test_ports_half_the_range_held_applies),
        cmocka_unit_test(test_ports_held_in_turn_no_evidence),
        cmocka_unit_test(test_reuse_by_side_applies),
        cmocka_unit_test(test_reuse_none_no_evidence),
        cmocka_unit_test(test_tw_hosts_above_the_buckets_applies),
        cmocka_unit_test(test_tw_hosts_within_the_buckets_quiet),
        cmocka_unit_test(test_backlog_applies),
        cmocka_unit_test(test_backlog_peak_syn_rcvd),
        cmocka_unit_test(test_backlog_quiet),
        cmocka_unit_test(test_keepalive_idle_without_probes_applies),
        cmocka_unit_test(test_keepalive_quiet),
        cmocka_unit_test(test_close_wait_longer_applies),
        cmocka_unit_test(test_close_wait_quiet),
        cmocka_unit_test(test_fin_wait2_past_fin_timeout_applies),
        cmocka_unit_test(test_fin_wait2_quiet),
        cmocka_unit_test(test_short_form_one_line_per_finding),
        cmocka_unit_test(test_off_by_default),
        cmocka_unit_test(test_bounds_are_said),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
