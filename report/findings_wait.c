/*
 * findings_wait.c: the findings about waiting (README "Findings", 6 to 8),
 * collected from the rows, judged and written:
 *
 *   6. keepalive probes and idle gaps, against --keepalive-time;
 *   7. CLOSE_WAIT: from the peer's FIN until the side's own FIN, against
 *      --close-wait (an application that does not close);
 *   8. FIN_WAIT2: from the closer's FIN until the peer's, against the
 *      replay's --fin-timeout (Linux's tcp_fin_timeout for orphans).
 *
 * Memory as the other findings: duration series (exact up to 2^20 values,
 * then within 0.4 %), one table of at most TABLE_MAX services.
 */
#include "findings_int.h"

/* ---- collecting ----------------------------------------------------------- */

static int both_established(const conn_record *c)
{
    return c->client_state == CONN_ESTABLISHED && c->server_state == CONN_ESTABLISHED;
}

/* 6: the longest gap between two packets (max_idle), and for a connection
 * still open when synfin ended its row, the silence since its last packet
 * (censored: it lasted at least that long). */
static void add_idle(findings *f, const conn_record *c)
{
    if (c->keepalives) {
        f->ka_probes += c->keepalives;
        f->ka_conns++;
        example_add(&f->ex_ka, c);
    }
    if (c->max_idle >= 0)
        duration_add(&f->idle, c->max_idle);
    int64_t idle = c->max_idle, tail = -1;
    if (c->end_reason != END_CLOSED && c->end_reason != END_REUSED && both_established(c))
        tail = c->end_ts - c->last_ts;
    if (tail > idle)
        idle = tail;
    if (idle < f->cfg.keepalive_time)
        return;
    if (c->keepalives) {
        f->idle_long_ka++;
        return;
    }
    f->idle_long++;
    f->idle_long_open += tail >= f->cfg.keepalive_time;
    example_add(&f->ex_idle, c);
}

/* 7: per service and holder (key.pad 1: the client in CLOSE_WAIT, 2: the
 * server). */
static void add_cw_service(findings *f, const conn_record *c, int holder_is_server, int64_t d,
                           int still, uint64_t fp)
{
    service_key k = cw_key_of(c, holder_is_server);
    cw_entry *e;
    TABLE_GET_FP(f->cws, f->n_cws, TABLE_MAX, cw_entry, k, e, &f->cw_aid, fp, &f->cw_slab);
    if (!e)
        e = &f->cw_other;
    e->closes++;
    e->over += d > f->cfg.close_wait;
    e->still += still;
    if (d > e->longest)
        e->longest = d;
}

/* 7: the side that did not close first, from the first FIN it received
 * until its own FIN; without one and still in CLOSE_WAIT when the row
 * ended, censored there; closed otherwise (a reset), only counted. */
static void add_close_wait(findings *f, const conn_record *c, uint64_t fp)
{
    if (c->close_type != CLOSE_FIN ||
        (c->close_initiator != SIDE_CLIENT && c->close_initiator != SIDE_SERVER))
        return;
    int srv_holds = c->close_initiator == SIDE_CLIENT;
    int64_t start = srv_holds ? c->client_fin_ts : c->server_fin_ts;
    int64_t own = srv_holds ? c->server_fin_ts : c->client_fin_ts;
    conn_state st = srv_holds ? c->server_state : c->client_state;
    if (start < 0)
        return;
    int64_t d;
    if (own >= 0) {
        d = own > start ? own - start : 0;
        duration_add(&f->cw, d);
        f->cw_over += d > f->cfg.close_wait;
    } else if (st == CONN_CLOSE_WAIT) {
        d = c->end_ts > start ? c->end_ts - start : 0;
        f->cw_still++;
        f->cw_still_over += d > f->cfg.close_wait;
        if (d > f->cw_still_longest)
            f->cw_still_longest = d;
    } else {
        f->cw_reset++;
        return;
    }
    if (d > f->cfg.close_wait)
        example_add(&f->ex_cw, c);
    add_cw_service(f, c, srv_holds, d, own < 0, fp);
}

/* 8: the endpoint that went through FIN_WAIT2, from its FIN (FIN_WAIT1
 * included: about one round trip) until the peer's FIN; without one,
 * censored when the row ended. */
static void add_fin_wait2(findings *f, const conn_record *c)
{
    if (c->fin_wait2_side != SIDE_CLIENT && c->fin_wait2_side != SIDE_SERVER)
        return;
    int cl = c->fin_wait2_side == SIDE_CLIENT;
    int64_t start = cl ? c->client_fin_ts : c->server_fin_ts;
    int64_t peer = cl ? c->server_fin_ts : c->client_fin_ts;
    if (start < 0)
        return;
    int64_t timeout = f->cfg.fin_timeout;
    int64_t d;
    if (peer >= 0) {
        d = peer > start ? peer - start : 0;
        duration_add(&f->fw2, d);
        f->fw2_over += timeout > 0 && d > timeout;
    } else {
        d = c->end_ts > start ? c->end_ts - start : 0;
        f->fw2_open++;
        f->fw2_open_over += timeout > 0 && d > timeout;
        if (d > f->fw2_open_longest)
            f->fw2_open_longest = d;
    }
    if (timeout > 0 && d > timeout)
        example_add(&f->ex_fw2, c);
}

void waits_add(findings *f, const conn_record *c, uint64_t fp_cw)
{
    add_idle(f, c);
    add_close_wait(f, c, fp_cw);
    add_fin_wait2(f, c);
}

void waits_free(findings *f)
{
    aid_free(&f->cw_aid);
    HASH_CLEAR(hh, f->cws);
    slab_free(&f->cw_slab);
    duration_free(&f->idle);
    duration_free(&f->cw);
    duration_free(&f->fw2);
}

/* ---- text helpers ------------------------------------------------------------ */

/* "12.345678 s" (precision 6 or 9). */
static const char *secs(int64_t ns, int precision, char *buf)
{
    size_t n = report_format_ts(buf, ns, precision);
    memcpy(buf + n, " s", 3);
    return buf;
}

#define SECS_LEN 40

/* The options' seconds as given (7200, 0.5). */
static double as_s(int64_t ns)
{
    return (double)ns / (double)NS;
}

/* ---- 6. keepalive ------------------------------------------------------------- */

static void judge_keepalive(const findings *f, judgement *j)
{
    double k = as_s(f->cfg.keepalive_time);
    char lo[SECS_LEN];
    j->why[0] = '\0';
    if (f->idle_long) {
        j->v = V_APPLIES;
        snprintf(j->key, sizeof(j->key),
                 "%llu connections idle for %g s (--keepalive-time) or longer without a "
                 "keepalive probe",
                 (unsigned long long)f->idle_long, k);
        snprintf(j->why, sizeof(j->why),
                 "neither end probed them (SO_KEEPALIVE off, or a longer keepalive time); a NAT, "
                 "firewall or load balancer that forgets idle flows sooner (often 5 min to "
                 "1 h) cuts them silently: enable keepalive with a time below the middlebox's "
                 "timeout, or let the application ping");
        return;
    }
    if (!f->idle.n && !f->ka_probes) {
        j->v = V_NO_EVIDENCE;
        snprintf(j->key, sizeof(j->key), "no connection was idle for 1 s or more");
        return;
    }
    j->v = V_WOULD_NOT_HELP;
    snprintf(j->key, sizeof(j->key), "%llu keepalive probes on %llu connections; longest gap %s",
             (unsigned long long)f->ka_probes, (unsigned long long)f->ka_conns,
             f->idle.n ? secs(f->idle.max, 6, lo) : "under 1 s");
    snprintf(j->why, sizeof(j->why),
             "no connection stayed idle for %g s without a probe: keepalive at that time would "
             "change nothing",
             k);
}

static void write_keepalive(const findings *f, int precision, FILE *out)
{
    judgement j;
    judge_keepalive(f, &j);
    write_heading(out, 6, "Keepalive probes and idle connections", &j);
    char mx[SECS_LEN] = "-", med[SECS_LEN] = "-";
    if (f->idle.n) {
        secs(f->idle.max, precision, mx);
        secs(series_median(&f->idle), precision, med);
    }
    fprintf(out,
            "\nA probe: an ACK at the sender's next sequence number - 1, with no payload or one "
            "byte, after 1 s or more of silence (`keepalives` column). Idle: the longest gap "
            "between two packets of a connection (`max_idle`, kept from 1 s on), or the "
            "silence since its last packet when it was still open at the end of its row.\n\n");
    fprintf(out, "| | |\n|---|---|\n");
    fprintf(out, "| keepalive probes | %llu on %llu connections |\n",
            (unsigned long long)f->ka_probes, (unsigned long long)f->ka_conns);
    fprintf(out, "| connections with a gap of 1 s or more | %zu |\n", f->idle.n);
    fprintf(out, "| longest gap | %s |\n| median of the connections' longest gaps | %s%s |\n", mx,
            med, f->idle.n > f->idle.cap ? " (within 0.4 %)" : "");
    fprintf(out, "| idle %g s or longer, no probe | %llu (%llu of them idle at their end) |\n",
            as_s(f->cfg.keepalive_time), (unsigned long long)f->idle_long,
            (unsigned long long)f->idle_long_open);
    fprintf(out, "| idle that long, with probes | %llu |\n", (unsigned long long)f->idle_long_ka);
    write_examples(&f->ex_idle, "idle without a keepalive probe", out);
    if (j.v != V_APPLIES)
        write_examples(&f->ex_ka, "keepalive probes", out);
}

/* ---- 7. CLOSE_WAIT -------------------------------------------------------------- */

static void judge_close_wait(const findings *f, judgement *j)
{
    uint64_t over = f->cw_over + f->cw_still_over, all = f->cw.n + f->cw_still;
    double limit = as_s(f->cfg.close_wait);
    char lo[SECS_LEN];
    j->why[0] = '\0';
    if (over) {
        j->v = V_APPLIES;
        snprintf(j->key, sizeof(j->key),
                 "%llu of %llu CLOSE_WAIT lasted longer than %g s (--close-wait), %llu still in "
                 "CLOSE_WAIT when their row ended",
                 (unsigned long long)over, (unsigned long long)all, limit,
                 (unsigned long long)f->cw_still_over);
        snprintf(j->why, sizeof(j->why),
                 "the application did not close its socket after the peer's FIN (CLOSE_WAIT has "
                 "no kernel timeout: a descriptor leak or a stuck worker); see the services "
                 "below");
        return;
    }
    j->v = V_NO_EVIDENCE;
    if (all)
        snprintf(j->key, sizeof(j->key), "%llu CLOSE_WAIT, none longer than %g s (longest %s)",
                 (unsigned long long)all, limit,
                 secs(f->cw.max > f->cw_still_longest ? f->cw.max : f->cw_still_longest, 6, lo));
    else
        snprintf(j->key, sizeof(j->key), "no connection closed by one side's FIN first");
}

static int cmp_cw(const void *a, const void *b)
{
    const cw_entry *x = *(cw_entry *const *)a, *y = *(cw_entry *const *)b;
    if (x->over != y->over)
        return x->over < y->over ? 1 : -1;
    if (x->longest != y->longest)
        return x->longest < y->longest ? 1 : -1;
    return memcmp(&x->key, &y->key, sizeof(x->key));
}

static void write_cw_row(const cw_entry *e, const char *name, const char *holder, int precision,
                         FILE *out)
{
    char lo[SECS_LEN];
    fprintf(out, "| %s | %s | %llu | %llu | %llu | %s |\n", name, holder,
            (unsigned long long)e->closes, (unsigned long long)e->over,
            (unsigned long long)e->still, secs(e->longest, precision, lo));
}

// NOLINTBEGIN(bugprone-sizeof-expression)
static void write_cw_services(const findings *f, int precision, FILE *out)
{
    cw_entry **v = f->n_cws ? malloc(f->n_cws * sizeof(*v)) : NULL;
    if (v) {
        size_t n = 0;
        for (cw_entry *e = f->cws; e; e = e->hh.next)
            v[n++] = e;
        qsort(v, n, sizeof(*v), cmp_cw);
    }
    if (v || f->cw_other.closes)
        fprintf(out, "\n| service | in CLOSE_WAIT | CLOSE_WAIT | longer | still open | longest "
                     "|\n|---|---|---|---|---|---|\n");
    for (uint32_t i = 0; v && i < f->n_cws && i < SHOWN_MAX; i++) {
        char s[64];
        write_cw_row(
            v[i], endpoint_text(v[i]->key.ip_version, v[i]->key.addr, v[i]->key.port, s, sizeof(s)),
            v[i]->key.pad == 2 ? "server" : "client", precision, out);
    }
    if (f->cw_other.closes)
        write_cw_row(&f->cw_other, "other (past the first 65536, summed)", "both", precision, out);
    if (f->n_cws > SHOWN_MAX)
        fprintf(out, "\n%u more services not shown.\n", f->n_cws - SHOWN_MAX);
    free(v);
}
// NOLINTEND(bugprone-sizeof-expression)

static void write_close_wait(const findings *f, int precision, FILE *out)
{
    judgement j;
    judge_close_wait(f, &j);
    write_heading(out, 7, "CLOSE_WAIT longer than --close-wait", &j);
    char med[SECS_LEN] = "-", mx[SECS_LEN] = "-", still[SECS_LEN] = "-";
    if (f->cw.n) {
        secs(series_median(&f->cw), precision, med);
        secs(f->cw.max, precision, mx);
    }
    if (f->cw_still)
        secs(f->cw_still_longest, precision, still);
    fprintf(out,
            "\nThe side that did not close first is in CLOSE_WAIT from the first FIN it "
            "receives (`client_fin_ts` or `server_fin_ts`) until its own FIN; one still in "
            "CLOSE_WAIT when its row ended (capture end, idle timeout) is censored there.\n\n"
            "| | |\n|---|---|\n| ended by its FIN | %zu (median %s, longest %s) |\n"
            "| longer than %g s | %llu |\n| still in CLOSE_WAIT | %llu (%llu longer; at least "
            "%s) |\n| ended by a reset | %llu |\n",
            f->cw.n, med, mx, as_s(f->cfg.close_wait), (unsigned long long)f->cw_over,
            (unsigned long long)f->cw_still, (unsigned long long)f->cw_still_over, still,
            (unsigned long long)f->cw_reset);
    write_cw_services(f, precision, out);
    write_examples(&f->ex_cw, "CLOSE_WAIT longer than --close-wait", out);
}

/* ---- 8. FIN_WAIT2 ---------------------------------------------------------------- */

static void judge_fin_wait2(const findings *f, judgement *j)
{
    uint64_t all = f->fw2.n + f->fw2_open, over = f->fw2_over + f->fw2_open_over;
    double limit = as_s(f->cfg.fin_timeout);
    char med[SECS_LEN], mx[SECS_LEN];
    j->why[0] = '\0';
    if (!all) {
        j->v = V_NO_EVIDENCE;
        snprintf(j->key, sizeof(j->key), "no endpoint went through FIN_WAIT2");
        return;
    }
    int64_t longest = f->fw2.max > f->fw2_open_longest ? f->fw2.max : f->fw2_open_longest;
    if (over) {
        j->v = V_APPLIES;
        snprintf(j->key, sizeof(j->key),
                 "%llu of %llu FIN_WAIT2 lasted longer than tcp_fin_timeout %g s (--fin-timeout)",
                 (unsigned long long)over, (unsigned long long)all, limit);
        snprintf(j->why, sizeof(j->why),
                 "an orphan (a socket its application closed) is dropped then, and the peer's "
                 "late FIN gets an RST: the peer is slow to close (see CLOSE_WAIT); a lower "
                 "tcp_fin_timeout frees such orphans sooner");
        return;
    }
    j->v = V_WOULD_NOT_HELP;
    snprintf(j->key, sizeof(j->key), "%llu FIN_WAIT2, median %s, longest %s",
             (unsigned long long)all, f->fw2.n ? secs(series_median(&f->fw2), 6, med) : "-",
             secs(longest, 6, mx));
    if (f->cfg.fin_timeout > 0)
        snprintf(j->why, sizeof(j->why),
                 "every one ended within tcp_fin_timeout (%g s): changing it would not help",
                 limit);
}

static void write_fin_wait2(const findings *f, int precision, FILE *out)
{
    judgement j;
    judge_fin_wait2(f, &j);
    write_heading(out, 8, "FIN_WAIT2 against tcp_fin_timeout", &j);
    char med[SECS_LEN] = "-", mx[SECS_LEN] = "-", open[SECS_LEN] = "-";
    if (f->fw2.n) {
        secs(series_median(&f->fw2), precision, med);
        secs(f->fw2.max, precision, mx);
    }
    if (f->fw2_open)
        secs(f->fw2_open_longest, precision, open);
    fprintf(out,
            "\nThe endpoint whose FIN was acked before the peer's FIN came (at most one per "
            "connection), from its FIN (FIN_WAIT1 included: about one round trip) until the "
            "peer's FIN; without one, censored when the row ended (the replay says CLOSED "
            "once the connection was silent for --fin-timeout).\n\n"
            "| | |\n|---|---|\n| ended by the peer's FIN | %zu (median %s, longest %s) |\n"
            "| longer than %g s | %llu |\n| no FIN from the peer | %llu (%llu longer; at least "
            "%s) |\n",
            f->fw2.n, med, mx, as_s(f->cfg.fin_timeout), (unsigned long long)f->fw2_over,
            (unsigned long long)f->fw2_open, (unsigned long long)f->fw2_open_over, open);
    write_examples(&f->ex_fw2, "FIN_WAIT2 longer than tcp_fin_timeout", out);
}

/* ---- both forms -------------------------------------------------------------------- */

void waits_write(const findings *f, int precision, FILE *out)
{
    write_keepalive(f, precision, out);
    write_close_wait(f, precision, out);
    write_fin_wait2(f, precision, out);
}

void waits_write_short(const findings *f, FILE *out)
{
    judgement j;
    judge_keepalive(f, &j);
    short_line(out, 6, "keepalive / idle", &j);
    judge_close_wait(f, &j);
    short_line(out, 7, "CLOSE_WAIT", &j);
    judge_fin_wait2(f, &j);
    short_line(out, 8, "FIN_WAIT2", &j);
}
