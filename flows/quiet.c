/*
 * quiet.c: what the machine concludes while the wire is quiet: the timers
 * the wire does not show (SPEC §2: SYN give-up, SYN_RCVD dropped, FIN_WAIT2
 * orphaned), and the idle gaps a segment ends (keepalive probes, the
 * longest silence). machine.c has the state machine itself.
 */
#include "flows_int.h"

/* ---- timers the wire does not show ------------------------------------ */

/*
 * Timers the wire does not show (SPEC §2), applied when the row is written
 * (t->clock): their effect is only on the states the row reports, and on
 * the census, told at the moment they run out (census.c).
 * - A client still in SYN_SENT gave up when a retransmission was due and did
 *   not come: by the spacing seen so far, the next SYN comes one gap after
 *   the last when the last two gaps were alike and fewer than four retries
 *   were sent (Linux 6.18 sends its first four 1 s apart), else two gaps
 *   after (the gap doubles; a lone SYN counts as a 1 s gap); without a SYN
 *   for that long and an eighth more, the application had closed the
 *   socket; and at the latest syn_timeout after the first SYN.
 * - A server still in SYN_RCVD (its SYN-ACKs unanswered, or the client's
 *   ACK dropped on a full accept queue) dropped the request synack_timeout
 *   after the SYN (tcp_synack_retries = 5: 63 s): only the listener is left.
 * - An endpoint in FIN_WAIT2 whose connection has been silent for
 *   fin_timeout was an orphan that Linux dropped. An application that only
 *   shut down its sending side keeps FIN_WAIT2 until the peer closes: the
 *   wire cannot tell the two apart (README).
 */
int64_t machine_unseen_due(const flows_table *t, const conn *c, int i, uint8_t *to)
{
    const endpoint *e = &c->ep[i];
    const conn_cold *k = cold(t, c);
    switch (e->state) {
    case CONN_SYN_SENT:
        if (i == CLIENT && t->cfg.syn_timeout > 0 && (e->flags & EP_SENT_SYN) &&
            c->role_by == ROLE_BY_SYN && !(c->hs & HSF_ACK)) {
            int64_t first = k->first_ts, last = k->hs_time; /* the client's first and last SYN */
            int64_t gap = k->syn_gap_us ? (int64_t)k->syn_gap_us * 1000 : FLOWS_NS_PER_SEC;
            /* The next retry was due one gap later while the gaps are even
             * (Linux 6.18: its first four retries, tcp_syn_linear_timeouts),
             * else two (the gap doubles); an eighth more for jitter. */
            int linear = (e->flags & EP_SYN_EVEN) && k->syn_retransmits < 4;
            int64_t next = linear ? gap : 2 * gap;
            int64_t due = last + next * 9 / 8;
            *to = CONN_CLOSED;
            return first + t->cfg.syn_timeout < due ? first + t->cfg.syn_timeout : due;
        }
        break;
    case CONN_SYN_RCVD:
        if (i == SERVER && t->cfg.synack_timeout > 0 && (e->flags & EP_SENT_SYNACK) &&
            !(c->hs & HSF_SIMUL)) {
            *to = CONN_LISTEN;
            return k->first_ts + t->cfg.synack_timeout;
        }
        break;
    case CONN_FIN_WAIT2:
        if (t->cfg.fin_timeout > 0) {
            *to = CONN_CLOSED;
            return conn_active(t, c) - t->offset + t->cfg.fin_timeout;
        }
        break;
    default:
        break;
    }
    return INT64_MAX;
}

void machine_unseen_timers(const flows_table *t, conn *c)
{
    const int64_t now = t->clock - t->offset; /* in the packets' time */
    for (int i = 0; i < 2; i++) {
        uint8_t to = CONN_CLOSED;
        if (now >= machine_unseen_due(t, c, i, &to))
            c->ep[i].state = to;
    }
}

/* ---- idle gaps and keepalives ------------------------------------------ */

/*
 * A keepalive probe (RFC 1122 4.2.3.6; Linux, Windows, the BSDs): an ACK
 * without SYN, FIN or RST, at the sender's snd_nxt - 1 (a byte the peer
 * already acked, so the peer must answer with an ACK), with no payload
 * (Linux, the BSDs) or one garbage byte (Windows, old stacks), from an
 * endpoint that is ESTABLISHED or half-closed (CLOSE_WAIT, or FIN_WAIT2
 * after a shutdown of its sending side: no byte then), after the
 * connection was idle for IDLE_NOTE at least (called only then). The peer's
 * answer is a pure ACK; whether it comes is not required (an unanswered
 * probe is a probe too: a dead peer). Not a zero-window probe: those have
 * the same form but go to a peer whose last window was 0. The one-byte
 * form is what a retransmission of the last byte looks like too; the idle
 * gap is the line: a byte sent again after a second in which neither side
 * sent anything counts as a probe (README).
 */
static int is_keepalive(const conn *c, int d, const flows_seg *s)
{
    const endpoint *x = &c->ep[d], *y = &c->ep[!d];
    if ((s->flags & (DISSECT_SYN | DISSECT_FIN | DISSECT_RST | DISSECT_ACK)) != DISSECT_ACK ||
        s->payload_len > 1 || !(x->flags & EP_SEQ_KNOWN) || s->seq != x->snd_nxt - 1)
        return 0;
    if ((y->flags & EP_WIN_KNOWN) && y->window == 0)
        return 0; /* a zero-window probe */
    if (x->state == CONN_FIN_WAIT2)
        return s->payload_len == 0;
    return (x->state == CONN_ESTABLISHED || x->state == CONN_CLOSE_WAIT) &&
           !(x->flags & EP_FIN_SENT);
}

void machine_idle(flows_table *t, conn *c, int d, const flows_seg *s, int64_t ts)
{
    conn_cold *k = cold(t, c);
    uint32_t gap = span_pack(ts - c->last_ts);
    if (gap > k->max_idle)
        k->max_idle = gap;
    if (is_keepalive(c, d, s) && k->keepalives < UINT16_MAX)
        k->keepalives++;
}
