/*
 * test_findings_nat.c: finding 9, TCP timestamps going backwards between
 * the SYNs of one client address (report/findings_nat.c), and the hook
 * that tells it the client SYNs (flows_set_syn_hook). The finding made to
 * fire (a TSval lower 5 s later, never answered), kept quiet (increasing
 * TSvals; behind only after 60 s; a wrap), without evidence (no
 * timestamps), several hosts behind one address interleaving, and the
 * hook's events from a replayed conversation.
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

static const uint8_t server_ip[16] = {10, 0, 0, 2};

static report *new_report(void)
{
    report *r = report_new(NULL, 6);
    assert_non_null(r);
    report_findings_config cfg;
    report_findings_config_default(&cfg);
    assert_int_equal(report_enable_findings(r, &cfg), 0);
    return r;
}

/* Client 10.0.1.c:port sends its SYN of connection id at T0 + at_ms ms,
 * with TSval tsval (no timestamps when tsval < 0). */
static void syn(report *r, uint64_t id, uint8_t c, uint16_t port, int64_t at_ms, int64_t tsval)
{
    uint8_t client[16] = {10, 0, 1, c};
    flows_syn s = {.kind = FLOWS_SYN_SENT,
                   .conn_id = id,
                   .ts = T0 + at_ms * (S / 1000),
                   .client_ip = client,
                   .server_ip = server_ip,
                   .ip_version = 4,
                   .has_tsval = tsval >= 0,
                   .client_port = port,
                   .server_port = 80,
                   .tsval = tsval >= 0 ? (uint32_t)tsval : 0};
    report_findings_syn(report_findings_syn_ctx(r), &s);
}

static void done(report *r, uint64_t id, conn_handshake hs)
{
    flows_syn s = {.kind = FLOWS_SYN_DONE, .conn_id = id, .handshake = hs};
    report_findings_syn(report_findings_syn_ctx(r), &s);
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

/* Checks finding 9's verdict and that its section (the last) holds each of
 * the NULL-terminated strings that follow. */
static void expect(report *r, const char *verdict, ...)
{
    char *text = text_of(r, 0);
    const char *sec = strstr(text, "\n## 9. ");
    if (!sec)
        fail_msg("no section 9 in:\n%s", text);
    char want[64];
    snprintf(want, sizeof(want), "**Verdict: %s** — ", verdict);
    if (!strstr(sec, want))
        fail_msg("finding 9 is not '%s':\n%s", verdict, sec);
    va_list ap;
    va_start(ap, verdict);
    for (const char *s; (s = va_arg(ap, const char *));)
        if (!strstr(sec, s))
            fail_msg("finding 9 lacks '%s':\n%s", s, sec);
    va_end(ap);
    free(text);
}

static void expect_short(report *r, const char *line)
{
    char *text = text_of(r, 1);
    if (!strstr(text, line))
        fail_msg("short form lacks '%s':\n%s", line, text);
    free(text);
}

/* ---- the finding ---- */

static void test_timestamp_behind_5s_later_unanswered_applies(void **state)
{
    (void)state;
    report *r = new_report();
    syn(r, 1, 1, 40000, 0, 900000);
    done(r, 1, HS_COMPLETE);
    syn(r, 2, 1, 40001, 5000, 100000); /* another host behind 10.0.1.1 */
    syn(r, 2, 1, 40001, 6000, 101000); /* its retransmission: still behind */
    done(r, 2, HS_SYN_ONLY);
    expect(r, "applies",
           "2 SYNs from 1 client addresses behind tcp_tw_recycle's per-host PAWS check (2 of "
           "them never answered)",
           "turn it off", "| tw_recycle would drop (behind within 60 s) | 2 | 1 | 1 |",
           "| ... of which never answered (`syn_only`) | 2 | | 1 |",
           "| TSval behind the previous SYN's | 1 | 1 | |",
           "- 10.0.1.1 -> 10.0.0.2:80: SYN from port 40000 at 1700000000.000000",
           "TSval 900000; SYN from port 40001 at 1700000005.000000",
           "TSval 100000 (behind by 800000): tw_recycle would drop it, and it was never "
           "answered",
           "Most of them got no answer at all", "one per connection again", NULL);
    expect_short(r, "  9 NAT / TCP timestamps   applies         2 SYNs from 1 client addresses");
    report_free(r);
}

static void test_answered_is_said(void **state)
{
    (void)state;
    report *r = new_report();
    syn(r, 1, 1, 40000, 0, 900000);
    syn(r, 2, 1, 40001, 5000, 100000);
    done(r, 2, HS_COMPLETE);
    done(r, 1, HS_COMPLETE);
    expect(r, "applies", "(0 of them never answered)", "(it was answered here)", NULL);
    char *text = text_of(r, 0);
    assert_null(strstr(text, "Most of them got no answer"));
    free(text);
    report_free(r);
}

static void test_increasing_timestamps_would_not_help(void **state)
{
    (void)state;
    report *r = new_report();
    for (int i = 0; i < 5; i++) {
        syn(r, (uint64_t)i + 1, 1, (uint16_t)(40000 + i), i * 1000, 1000 + i * 1000);
        syn(r, (uint64_t)i + 11, 2, (uint16_t)(40000 + i), i * 1000, 7000000 + i * 1000);
    }
    expect(r, "would not help",
           "no SYN's TSval behind its address's within 60 s (10 SYNs with timestamps from 2 "
           "addresses, 0 behind after longer gaps)",
           "gone since Linux 4.12", NULL);
    expect_short(r, "  9 NAT / TCP timestamps   would not help  no SYN's TSval behind");
    report_free(r);
}

static void test_no_timestamps_no_evidence(void **state)
{
    (void)state;
    report *r = new_report();
    syn(r, 1, 1, 40000, 0, -1);
    syn(r, 2, 1, 40001, 5000, -1);
    expect(r, "no evidence", "none of 2 client SYNs carried TCP timestamps", NULL);
    report_free(r);
    r = new_report();
    expect(r, "no evidence", "no client SYN seen", NULL);
    report_free(r);
}

/* Behind, but more than 60 s after: tw_recycle had forgotten the address. */
static void test_behind_after_60s_is_not_dropped(void **state)
{
    (void)state;
    report *r = new_report();
    syn(r, 1, 1, 40000, 0, 900000);
    syn(r, 2, 1, 40001, 61000, 100000);
    expect(r, "would not help", "1 behind after longer gaps",
           "| tw_recycle would drop (behind within 60 s) | 0 | 0 | 0 |", NULL);
    report_free(r);
}

/* 25 days on, a lower TSval may be a wrap (1 ms ticks): not behind. */
static void test_wrap_is_not_behind(void **state)
{
    (void)state;
    report *r = new_report();
    syn(r, 1, 1, 40000, 0, 4000000000);
    syn(r, 2, 1, 40001, INT64_C(25) * 86400 * 1000, 100);
    expect(r, "would not help", "0 behind after longer gaps", NULL);
    report_free(r);
}

/* Three hosts behind 10.0.1.9, their TSvals 5,000,000, 1,000,000 and
 * 3,000,000 apart: the third is ahead of the second but behind the first,
 * which tw_recycle remembers (it lets no SYN behind it through). */
static void test_interleaved_hosts_behind_one_address(void **state)
{
    (void)state;
    report *r = new_report();
    uint64_t id = 1;
    for (int round = 0; round < 3; round++) {
        int64_t at = round * 3000;
        for (int host = 0; host < 3; host++, id++) {
            static const int64_t base[3] = {5000000, 1000000, 3000000};
            syn(r, id, 9, (uint16_t)(40000 + id), at + host * 1000, base[host] + at);
        }
    }
    /* Behind the previous SYN: the second host's, each round. Behind the
     * first host's, which tw_recycle remembers: the second's and the third's. */
    expect(r, "applies", "6 SYNs from 1 client addresses",
           "| TSval behind the previous SYN's | 3 | 1 | |",
           "| tw_recycle would drop (behind within 60 s) | 6 | 1 | 6 |", NULL);
    report_free(r);
}

/* The findings off: no context, so no hook is set; nothing is said. */
static void test_hook_without_findings_does_nothing(void **state)
{
    (void)state;
    report *r = report_new(NULL, 6);
    assert_non_null(r);
    assert_null(report_findings_syn_ctx(r));
    FILE *f = tmpfile();
    report_findings_short(r, f);
    assert_int_equal(ftell(f), 0);
    fclose(f);
    report_free(r);
}

/* ---- the hook, from a replayed conversation ---- */

typedef struct told {
    flows_syn ev[16];
    uint8_t client[16][16];
    size_t n;
} told;

static void tell(void *ctx, const flows_syn *s)
{
    told *t = ctx;
    assert_true(t->n < 16);
    t->ev[t->n] = *s;
    if (s->kind == FLOWS_SYN_SENT)
        memcpy(t->client[t->n], s->client_ip, 16);
    t->n++;
}

static dissect_segment seg(int from_client, uint16_t flags, uint32_t seq, uint32_t ack,
                           int64_t tsval)
{
    dissect_segment s;
    memset(&s, 0, sizeof(s));
    uint8_t c[4] = {10, 0, 1, 5}, v[4] = {10, 0, 0, 2};
    memcpy(from_client ? s.src : s.dst, c, 4);
    memcpy(from_client ? s.dst : s.src, v, 4);
    s.ip_version = 4;
    s.ttl = 64;
    s.sport = from_client ? 41000 : 80;
    s.dport = from_client ? 80 : 41000;
    s.seq = seq;
    s.ack = ack;
    s.flags = flags;
    s.window = 65535;
    if (tsval >= 0) {
        s.opts = DISSECT_OPT_TIMESTAMP;
        s.ts_val = (uint32_t)tsval;
    }
    return s;
}

static void test_hook_tells_client_syns_and_their_end(void **state)
{
    (void)state;
    told t = {.n = 0};
    flows_table *ft = flows_new(NULL, NULL, NULL);
    assert_non_null(ft);
    flows_set_syn_hook(ft, tell, &t);
    /* A SYN, its retransmission 1 s later (no timestamps), the SYN-ACK
     * and the ACK: two SENT; then an unanswered SYN on another port. */
    dissect_segment s = seg(1, DISSECT_SYN, 1000, 0, 777);
    assert_int_equal(flows_packet(ft, &s, T0), 0);
    s = seg(1, DISSECT_SYN, 1000, 0, -1);
    assert_int_equal(flows_packet(ft, &s, T0 + S), 0);
    s = seg(0, DISSECT_SYN | DISSECT_ACK, 5000, 1001, 1);
    assert_int_equal(flows_packet(ft, &s, T0 + S + 1000), 0);
    s = seg(1, DISSECT_ACK, 1001, 5001, 778);
    assert_int_equal(flows_packet(ft, &s, T0 + S + 2000), 0);
    s = seg(1, DISSECT_SYN, 9000, 0, 800);
    s.sport = 41001;
    assert_int_equal(flows_packet(ft, &s, T0 + 2 * S), 0);
    assert_int_equal(t.n, 3);
    flows_finish(ft, T0 + 3 * S);
    flows_free(ft);

    assert_int_equal(t.n, 5);
    static const uint8_t client[16] = {10, 0, 1, 5};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(t.ev[i].kind, FLOWS_SYN_SENT);
        assert_int_equal(t.ev[i].ip_version, 4);
        assert_memory_equal(t.client[i], client, 16);
        assert_int_equal(t.ev[i].server_port, 80);
    }
    assert_int_equal(t.ev[0].conn_id, 1);
    assert_true(t.ev[0].has_tsval);
    assert_int_equal(t.ev[0].tsval, 777);
    assert_int_equal(t.ev[0].ts, T0);
    assert_int_equal(t.ev[0].client_port, 41000);
    assert_int_equal(t.ev[1].conn_id, 1);
    assert_false(t.ev[1].has_tsval);
    assert_int_equal(t.ev[1].ts, T0 + S);
    assert_int_equal(t.ev[2].conn_id, 2);
    assert_int_equal(t.ev[2].client_port, 41001);
    assert_int_equal(t.ev[2].tsval, 800);
    /* At the end, both rows: in pool order. */
    int seen[3] = {0, 0, 0};
    for (size_t i = 3; i < 5; i++) {
        assert_int_equal(t.ev[i].kind, FLOWS_SYN_DONE);
        assert_true(t.ev[i].conn_id == 1 || t.ev[i].conn_id == 2);
        seen[t.ev[i].conn_id]++;
        assert_int_equal(t.ev[i].handshake, t.ev[i].conn_id == 1 ? HS_COMPLETE : HS_SYN_ONLY);
    }
    assert_int_equal(seen[1], 1);
    assert_int_equal(seen[2], 1);
}

/* A row without its client's SYN (midstream, or opened by the SYN-ACK)
 * tells nothing: the server's SYN-ACK is not a client SYN. */
static void test_hook_quiet_without_client_syn(void **state)
{
    (void)state;
    told t = {.n = 0};
    flows_table *ft = flows_new(NULL, NULL, NULL);
    assert_non_null(ft);
    flows_set_syn_hook(ft, tell, &t);
    dissect_segment s = seg(1, DISSECT_ACK, 1000, 5000, 5);
    assert_int_equal(flows_packet(ft, &s, T0), 0);
    s = seg(0, DISSECT_SYN | DISSECT_ACK, 7000, 1, 6);
    s.dport = 42000;
    assert_int_equal(flows_packet(ft, &s, T0 + 1000), 0);
    flows_finish(ft, T0 + S);
    flows_free(ft);
    /* Neither row saw a SYN of its client: both are midstream. */
    assert_int_equal(t.n, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_timestamp_behind_5s_later_unanswered_applies),
        cmocka_unit_test(test_answered_is_said),
        cmocka_unit_test(test_increasing_timestamps_would_not_help),
        cmocka_unit_test(test_no_timestamps_no_evidence),
        cmocka_unit_test(test_behind_after_60s_is_not_dropped),
        cmocka_unit_test(test_wrap_is_not_behind),
        cmocka_unit_test(test_interleaved_hosts_behind_one_address),
        cmocka_unit_test(test_hook_without_findings_does_nothing),
        cmocka_unit_test(test_hook_tells_client_syns_and_their_end),
        cmocka_unit_test(test_hook_quiet_without_client_syn),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
