/*
 * test_census.c: the census (SPEC §6). What the flows table tells
 * (flows_set_census): every change of an endpoint's counted state at the
 * moment it happens, the timers the wire does not show and TIME_WAIT's end
 * at their own moment, listeners once, and no change after a mark that
 * covered it. Then report/census.c: counts per host at each moment, the
 * busiest hosts and `other`, `*`, the --at tables, late changes counted.
 */
#include <stdio.h>
#include <stdlib.h>

#include "flowsim.h"
#include "report.h"

/* ---- what the table tells ------------------------------------------------ */

typedef struct told {
    flows_change ch;
    uint8_t addr[16];
} told;

typedef struct recorder {
    told v[256];
    size_t n;
    int64_t last_mark;
    int after_mark; /* changes told with a time at or before an earlier mark */
} recorder;

static recorder rec;
static int64_t moment_step; /* > 0: the census wants moments T0 + k * step only */

/* The moment after ts a census with moments every moment_step wants. */
static int64_t wanted_after(int64_t ts)
{
    if (moment_step <= 0)
        return INT64_MIN; /* every change at once */
    return T0 + ((ts - T0) / moment_step + 1) * moment_step;
}

static int64_t record(void *ctx, const flows_change *ch)
{
    recorder *r = ctx;
    if (ch->kind == FLOWS_CHANGE_MARK) {
        assert_true(ch->ts > r->last_mark);
        r->last_mark = ch->ts;
        return wanted_after(ch->ts);
    }
    if (ch->kind != FLOWS_CHANGE_START && ch->ts <= r->last_mark)
        r->after_mark++;
    assert_true(r->n < 256);
    told *t = &r->v[r->n++];
    t->ch = *ch;
    if (ch->addr)
        memcpy(t->addr, ch->addr, 16);
    t->ch.addr = t->addr;
    return wanted_after(r->last_mark > ch->ts ? r->last_mark : ch->ts - 1);
}

static int census_setup(void **state)
{
    moment_step = 0;
    int rc = sim_setup(state);
    memset(&rec, 0, sizeof(rec));
    rec.last_mark = INT64_MIN;
    sim *s = *state;
    assert_int_equal(flows_set_census(s->t, record, &rec), 0);
    return rc;
}

/* The changes of the endpoint at 10.0.0.<host>, in the order told. */
static size_t changes_of(int host, const told **out, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < rec.n && n < max; i++)
        if (rec.v[i].ch.kind == FLOWS_CHANGE_STATE && rec.v[i].addr[3] == host)
            out[n++] = &rec.v[i];
    return n;
}

#define EXPECT_CHANGE(t, f, to_, when)                                                             \
    do {                                                                                           \
        EXPECT_NAME(state_name, (t)->ch.from, f);                                                  \
        EXPECT_NAME(state_name, (t)->ch.to, to_);                                                  \
        EXPECT_TS((t)->ch.ts, when);                                                               \
    } while (0)

/* A client close: every state of both endpoints in order, each at its
 * segment's time, and TIME_WAIT's end at 2*MSL after it began. */
static void test_client_close_told_in_order(void **state)
{
    sim *s = *state;
    conv c;
    conv_init(&c, s);
    int64_t syn = tx(&c, C, F_SYN, 0, MS);
    int64_t sa = tx(&c, S, F_SA, 0, MS);
    int64_t ack = tx(&c, C, F_A, 0, MS);
    int64_t fin1 = tx(&c, C, F_FA, 0, SEC);
    int64_t ack1 = tx(&c, S, F_A, 0, MS);
    int64_t fin2 = tx(&c, S, F_FA, 0, MS);
    int64_t ack2 = tx(&c, C, F_A, 0, MS);
    finish_at(s, fin2 + 100 * SEC);
    const told *cl[16], *sv[16];
    size_t nc = changes_of(1, cl, 16), ns = changes_of(2, sv, 16);
    EXPECT_INT(nc, 6);
    EXPECT_INT(ns, 5);
    if (nc == 6) {
        EXPECT_CHANGE(cl[0], "CLOSED", "SYN_SENT", syn);
        EXPECT_CHANGE(cl[1], "SYN_SENT", "ESTABLISHED", sa);
        EXPECT_CHANGE(cl[2], "ESTABLISHED", "FIN_WAIT1", fin1);
        EXPECT_CHANGE(cl[3], "FIN_WAIT1", "FIN_WAIT2", ack1);
        EXPECT_CHANGE(cl[4], "FIN_WAIT2", "TIME_WAIT", fin2);
        EXPECT_CHANGE(cl[5], "TIME_WAIT", "CLOSED", fin2 + 60 * SEC);
    }
    if (ns == 5) {
        EXPECT_CHANGE(sv[0], "CLOSED", "SYN_RCVD", sa);
        EXPECT_CHANGE(sv[1], "SYN_RCVD", "ESTABLISHED", ack);
        EXPECT_CHANGE(sv[2], "ESTABLISHED", "CLOSE_WAIT", fin1);
        EXPECT_CHANGE(sv[3], "CLOSE_WAIT", "LAST_ACK", fin2);
        EXPECT_CHANGE(sv[4], "LAST_ACK", "CLOSED", ack2);
    }
    size_t listens = 0, starts = 0;
    for (size_t i = 0; i < rec.n; i++) {
        if (rec.v[i].ch.kind == FLOWS_CHANGE_LISTEN) {
            listens++;
            EXPECT_INT(rec.v[i].ch.port, 80);
            EXPECT_INT(rec.v[i].addr[3], 2);
        }
        starts += rec.v[i].ch.kind == FLOWS_CHANGE_START;
    }
    EXPECT_INT(listens, 1);
    EXPECT_INT(starts, 1);
    EXPECT_INT(rec.after_mark, 0);
    EXPECT_TS(rec.last_mark, fin2 + 100 * SEC);
    done();
}

/* Keeps the table's clock going: a midstream connection on another port
 * sends a segment every `step` until `until`. */
static void keep_time(sim *s, int64_t until, int64_t step)
{
    conv o;
    conv_init_ports(&o, s, 50000, 443, 1000, 2000);
    o.addr[C][3] = 7; /* 10.0.0.7 -> 10.0.0.8: hosts of their own */
    o.addr[S][3] = 8;
    while (s->now + step <= until)
        tx(&o, C, F_A, 0, step);
}

/* A lone SYN: the client gave up 2.25 s after it (SPEC §2), told then,
 * before the mark that covers that moment, while packets still come. */
static void test_syn_give_up_told_at_its_moment(void **state)
{
    sim *s = *state;
    conv c;
    conv_init(&c, s);
    int64_t syn = tx(&c, C, F_SYN, 0, MS);
    keep_time(s, syn + 5 * SEC, 100 * MS);
    const told *cl[4];
    size_t n = changes_of(1, cl, 4);
    EXPECT_INT(n, 2);
    if (n == 2) {
        EXPECT_CHANGE(cl[0], "CLOSED", "SYN_SENT", syn);
        EXPECT_CHANGE(cl[1], "SYN_SENT", "CLOSED", syn + 9 * SEC / 4);
    }
    EXPECT_INT(rec.after_mark, 0);
    EXPECT_TRUE(rec.last_mark > syn + 9 * SEC / 4); /* told while replaying */
    done();
}

/* FIN_WAIT2 of an orphan ends fin_timeout after the connection's last
 * segment; a server whose SYN-ACK is never taken is left with its listener
 * synack_timeout after the SYN. */
static void test_unseen_timers_told_at_their_moment(void **state)
{
    sim *s = *state;
    conv c;
    conv_init(&c, s);
    open_conn(&c, MS);
    tx(&c, C, F_FA, 0, MS);
    int64_t last = tx(&c, S, F_A, 0, MS);
    conv h;
    conv_init_ports(&h, s, 40001, 80, 5000, 6000);
    int64_t syn = tx(&h, C, F_SYN, 0, MS);
    tx(&h, S, F_SA, 0, MS);
    keep_time(s, last + 70 * SEC, 500 * MS);
    const told *cl[16];
    size_t n = changes_of(1, cl, 16);
    int fw2 = 0, rcvd = 0;
    for (size_t i = 0; i < n; i++) {
        if (cl[i]->ch.from == CONN_FIN_WAIT2) {
            fw2++;
            EXPECT_CHANGE(cl[i], "FIN_WAIT2", "CLOSED", last + 60 * SEC);
        }
    }
    const told *sv[16];
    n = changes_of(2, sv, 16);
    for (size_t i = 0; i < n; i++) {
        if (sv[i]->ch.from == CONN_SYN_RCVD && sv[i]->ch.to == CONN_CLOSED) {
            rcvd++;
            EXPECT_TS(sv[i]->ch.ts, syn + 63 * SEC);
        }
    }
    EXPECT_INT(fw2, 1);
    EXPECT_INT(rcvd, 1);
    EXPECT_INT(rec.after_mark, 0);
    done();
}

/* A census with moments every second: a connection opened and closed
 * between two moments tells each endpoint's net change once, at the
 * moment, before any later segment; TIME_WAIT's end still at its own time. */
static void test_changes_wait_for_the_moment(void **state)
{
    (void)state;
    sim s;
    sim_init(&s, NULL);
    memset(&rec, 0, sizeof(rec));
    rec.last_mark = INT64_MIN;
    moment_step = SEC;
    assert_int_equal(flows_set_census(s.t, record, &rec), 0);
    conv c;
    conv_init(&c, &s);
    s.now = T0 + 100 * MS;
    tx(&c, C, F_SYN, 0, 0);
    tx(&c, S, F_SA, 0, MS);
    tx(&c, C, F_A, 0, MS);
    tx(&c, C, F_FA, 0, 100 * MS);
    tx(&c, S, F_A, 0, MS);
    int64_t fin2 = tx(&c, S, F_FA, 0, MS);
    tx(&c, C, F_A, 0, MS);
    keep_time(&s, T0 + 70 * SEC, 500 * MS);
    const told *cl[16], *sv[16];
    size_t nc = changes_of(1, cl, 16), ns = changes_of(2, sv, 16);
    EXPECT_INT(nc, 2);
    EXPECT_INT(ns, 0); /* SYN_RCVD .. CLOSED within the second: no change */
    if (nc == 2) {
        EXPECT_CHANGE(cl[0], "CLOSED", "TIME_WAIT", T0 + SEC);
        EXPECT_CHANGE(cl[1], "TIME_WAIT", "CLOSED", fin2 + 60 * SEC);
    }
    EXPECT_INT(rec.after_mark, 0);
    moment_step = 0;
    sim_free(&s);
    done();
}

/* Whatever the census follows, the rows are the same as without it. */
static void test_rows_unchanged_by_the_census(void **state)
{
    (void)state;
    sim a, b;
    sim_init(&a, NULL);
    sim_init(&b, NULL);
    memset(&rec, 0, sizeof(rec));
    rec.last_mark = INT64_MIN;
    assert_int_equal(flows_set_census(b.t, record, &rec), 0);
    sim *both[2] = {&a, &b};
    for (int i = 0; i < 2; i++) {
        conv c, d;
        conv_init(&c, both[i]);
        script_client_close(&c);
        conv_init_ports(&d, both[i], 40002, 80, 7000, 8000);
        tx(&d, C, F_SYN, 0, MS);
        keep_time(both[i], both[i]->now + 80 * SEC, SEC);
        finish_at(both[i], both[i]->now + SEC);
    }
    EXPECT_INT(a.nrec, b.nrec);
    for (size_t i = 0; i < a.nrec && i < b.nrec; i++)
        expect_same_row(&a.rec[i], &b.rec[i]);
    sim_free(&a);
    sim_free(&b);
    done();
}

/* ---- report/census.c ---------------------------------------------------- */

static uint8_t host_addr[4][16] = {{10, 0, 0, 1}, {10, 0, 0, 2}, {10, 0, 0, 3}, {10, 0, 0, 4}};

static void change(report_census *rc, int host, conn_state from, conn_state to, int64_t ts)
{
    flows_change ch = {.kind = FLOWS_CHANGE_STATE,
                       .ts = ts,
                       .addr = host_addr[host],
                       .ip_version = 4,
                       .from = (uint8_t)from,
                       .to = (uint8_t)to};
    report_census_change(rc, &ch);
}

static void event(report_census *rc, flows_change_kind kind, int host, uint16_t port, int64_t ts)
{
    flows_change ch = {
        .kind = kind, .ts = ts, .addr = host_addr[host], .ip_version = 4, .port = port};
    report_census_change(rc, &ch);
}

static report_census_config config(uint32_t max_hosts)
{
    report_census_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.interval = SEC;
    cfg.max_hosts = max_hosts;
    cfg.precision = 6;
    return cfg;
}

static char *slurp(FILE *f)
{
    long n = ftell(f);
    char *text = calloc(1, (size_t)n + 1);
    assert_non_null(text);
    rewind(f);
    assert_int_equal(fread(text, 1, (size_t)n, f), (size_t)n);
    return text;
}

/* A server with a listener and connections from three clients. */
static void three_clients(report_census *rc)
{
    event(rc, FLOWS_CHANGE_START, 0, 0, T0);
    event(rc, FLOWS_CHANGE_LISTEN, 1, 80, T0 + 100 * MS);
    event(rc, FLOWS_CHANGE_LISTEN, 1, 80, T0 + 150 * MS); /* the same: once */
    for (int h = 0; h < 3; h++) {
        int host = h == 0 ? 0 : h + 1; /* 10.0.0.1, .3, .4 */
        change(rc, host, CONN_CLOSED, CONN_ESTABLISHED, T0 + 200 * MS);
        change(rc, 1, CONN_CLOSED, CONN_ESTABLISHED, T0 + 200 * MS);
    }
    event(rc, FLOWS_CHANGE_MARK, 0, 0, T0 + 1100 * MS);
    /* Only the first client has a second connection; the others close. */
    change(rc, 0, CONN_CLOSED, CONN_TIME_WAIT, T0 + 1500 * MS);
    change(rc, 2, CONN_ESTABLISHED, CONN_CLOSED, T0 + 1500 * MS);
    change(rc, 3, CONN_ESTABLISHED, CONN_CLOSED, T0 + 1500 * MS);
    change(rc, 1, CONN_ESTABLISHED, CONN_CLOSED, T0 + 1500 * MS);
    change(rc, 1, CONN_ESTABLISHED, CONN_CLOSED, T0 + 1500 * MS);
    /* A change after the next moment waits for it (the mark comes later). */
    change(rc, 0, CONN_TIME_WAIT, CONN_CLOSED, T0 + 2500 * MS);
    event(rc, FLOWS_CHANGE_MARK, 0, 0, T0 + 2600 * MS);
}

static void test_csv_per_host_and_all(void **state)
{
    (void)state;
    FILE *csv = tmpfile();
    assert_non_null(csv);
    report_census_config cfg = config(1000);
    report_census *rc = report_census_new(&cfg, csv, NULL);
    assert_non_null(rc);
    three_clients(rc);
    assert_int_equal(report_census_finish(rc, T0 + 2600 * MS), 0);
    char *text = slurp(csv);
    const char *want =
        "ts,host,LISTEN,SYN_SENT,SYN_RCVD,ESTABLISHED,FIN_WAIT1,FIN_WAIT2,CLOSING,TIME_WAIT,"
        "CLOSE_WAIT,LAST_ACK\n"
        "1700000001.000000,*,1,0,0,6,0,0,0,0,0,0\n"
        "1700000001.000000,10.0.0.2,1,0,0,3,0,0,0,0,0,0\n"
        "1700000001.000000,10.0.0.1,0,0,0,1,0,0,0,0,0,0\n"
        "1700000001.000000,10.0.0.3,0,0,0,1,0,0,0,0,0,0\n"
        "1700000001.000000,10.0.0.4,0,0,0,1,0,0,0,0,0,0\n"
        "1700000002.000000,*,1,0,0,2,0,0,0,1,0,0\n"
        "1700000002.000000,10.0.0.2,1,0,0,1,0,0,0,0,0,0\n"
        "1700000002.000000,10.0.0.1,0,0,0,1,0,0,0,1,0,0\n";
    assert_string_equal(text, want);
    EXPECT_INT(report_census_late(rc), 0);
    free(text);
    report_census_free(rc);
    fclose(csv);
    done();
}

/* --census-hosts 1: the busiest host by peak has rows, the rest is
 * `other`, and `*` still counts everything. */
static void test_busiest_hosts_and_other(void **state)
{
    (void)state;
    FILE *csv = tmpfile();
    assert_non_null(csv);
    report_census_config cfg = config(1);
    report_census *rc = report_census_new(&cfg, csv, NULL);
    assert_non_null(rc);
    three_clients(rc);
    assert_int_equal(report_census_finish(rc, T0 + 2600 * MS), 0);
    char *text = slurp(csv);
    const char *rows = strchr(text, '\n') + 1;
    assert_string_equal(rows, "1700000001.000000,*,1,0,0,6,0,0,0,0,0,0\n"
                              "1700000001.000000,10.0.0.2,1,0,0,3,0,0,0,0,0,0\n"
                              "1700000001.000000,other,0,0,0,3,0,0,0,0,0,0\n"
                              "1700000002.000000,*,1,0,0,2,0,0,0,1,0,0\n"
                              "1700000002.000000,10.0.0.2,1,0,0,1,0,0,0,0,0,0\n"
                              "1700000002.000000,other,0,0,0,1,0,0,0,1,0,0\n");
    free(text);
    report_census_free(rc);
    fclose(csv);
    done();
}

/* --at: a moment relative to the first packet and an absolute one, each a
 * table per host; one after the capture says so. */
static void test_at_tables(void **state)
{
    (void)state;
    FILE *out = tmpfile();
    assert_non_null(out);
    report_census_config cfg = config(1000);
    int64_t at[3] = {1200 * MS, T0 + 300 * MS, T0 + 10 * SEC};
    uint8_t rel[3] = {1, 0, 0};
    cfg.at = at;
    cfg.at_rel = rel;
    cfg.n_at = 3;
    report_census *rc = report_census_new(&cfg, NULL, out);
    assert_non_null(rc);
    three_clients(rc);
    assert_int_equal(report_census_finish(rc, T0 + 2600 * MS), 0);
    char *text = slurp(out);
    const char *first = strstr(text, "census at 1700000000.300000");
    const char *second = strstr(text, "census at 1700000001.200000");
    const char *third = strstr(text, "census at 1700000010.000000");
    assert_non_null(first);
    assert_non_null(second);
    assert_non_null(third);
    EXPECT_TRUE(first < second && second < third);
    char line[3][128];
    snprintf(line[0], sizeof(line[0]), "  %-40s LISTEN 1 ESTABLISHED 6\n", "all hosts");
    snprintf(line[1], sizeof(line[1]), "  %-40s LISTEN 1 ESTABLISHED 3\n", "10.0.0.2");
    snprintf(line[2], sizeof(line[2]), "  %-40s LISTEN 1 ESTABLISHED 2\n", "all hosts");
    EXPECT_TRUE(strstr(first, line[0]) && strstr(first, line[0]) < second);
    EXPECT_TRUE(strstr(second, line[1]) && strstr(second, line[1]) < third);
    EXPECT_TRUE(strstr(third, "after the capture's last packet"));
    EXPECT_TRUE(strstr(third, line[2]));
    free(text);
    report_census_free(rc);
    fclose(out);
    done();
}

/* A change told after its moment was written is counted from then on and
 * said. */
static void test_late_change_counted(void **state)
{
    (void)state;
    FILE *csv = tmpfile();
    assert_non_null(csv);
    report_census_config cfg = config(1000);
    report_census *rc = report_census_new(&cfg, csv, NULL);
    assert_non_null(rc);
    event(rc, FLOWS_CHANGE_START, 0, 0, T0);
    event(rc, FLOWS_CHANGE_MARK, 0, 0, T0 + 1500 * MS);
    change(rc, 0, CONN_CLOSED, CONN_ESTABLISHED, T0 + 500 * MS);
    event(rc, FLOWS_CHANGE_MARK, 0, 0, T0 + 2500 * MS);
    assert_int_equal(report_census_finish(rc, T0 + 2500 * MS), 0);
    EXPECT_INT(report_census_late(rc), 1);
    char *text = slurp(csv);
    EXPECT_TRUE(strstr(text, "1700000001.000000,*,0,0,0,0,0,0,0,0,0,0\n"));
    EXPECT_TRUE(strstr(text, "1700000002.000000,10.0.0.1,0,0,0,1,0,0,0,0,0,0\n"));
    free(text);
    report_census_free(rc);
    fclose(csv);
    done();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_client_close_told_in_order, census_setup,
                                        sim_teardown),
        cmocka_unit_test_setup_teardown(test_syn_give_up_told_at_its_moment, census_setup,
                                        sim_teardown),
        cmocka_unit_test_setup_teardown(test_unseen_timers_told_at_their_moment, census_setup,
                                        sim_teardown),
        cmocka_unit_test_setup(test_rows_unchanged_by_the_census, checks_setup),
        cmocka_unit_test_setup(test_changes_wait_for_the_moment, checks_setup),
        cmocka_unit_test_setup(test_csv_per_host_and_all, checks_setup),
        cmocka_unit_test_setup(test_busiest_hosts_and_other, checks_setup),
        cmocka_unit_test_setup(test_at_tables, checks_setup),
        cmocka_unit_test_setup(test_late_change_counted, checks_setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
