/*
 * machine.c: the RFC 793 state machine of both endpoints, replayed from one
 * capture point (../shared/SPEC.md §2).
 *
 * Model: every segment seen is delivered to its destination right after it
 * is seen. So a segment from X makes X's transitions ("X sends ...") and
 * then its peer Y's ("Y receives ..."). The one exception the spec names is
 * a FIN whose ACK field does not cover the peer's earlier FIN: that peer FIN
 * had not arrived when this one was sent (crossed FINs), which may later
 * turn out to be a FIN lost after the capture point (resolve_crossing()).
 *
 * Each transition lives in one place: a switch on the endpoint's state in
 * one of four steps, taken in this order for every segment that is not an
 * RST (machine_segment()):
 *
 *   send_open     X sends SYN / SYN-ACK (or a plain ACK: inferred)
 *   send_fin      X sends FIN
 *   receive_open  Y receives SYN / SYN-ACK / ACK of its SYN
 *   receive_close Y receives FIN / ACK of its FIN
 *
 * and receive_rst for an RST. SPEC §2's table, row by row:
 *
 *   from         event                               to            where
 *   CLOSED       X sends SYN                         SYN_SENT      send_open
 *   LISTEN/CLOSED X sends SYN-ACK                    SYN_RCVD      send_open
 *   SYN_SENT     X receives SYN-ACK acking its SYN   ESTABLISHED   receive_open
 *   SYN_SENT     X receives SYN (no ACK)             SYN_RCVD      receive_open,
 *                                                    (and send_open when X's own SYN
 *                                                     follows the peer's: simultaneous)
 *   SYN_RCVD     X receives an ACK of its SYN        ESTABLISHED   receive_open
 *   ESTABLISHED  X sends FIN                         FIN_WAIT1     send_fin
 *   ESTABLISHED  X receives FIN                      CLOSE_WAIT    receive_close
 *   CLOSE_WAIT   X sends FIN                         LAST_ACK      send_fin
 *   LAST_ACK     X receives ACK of its FIN           CLOSED        receive_close
 *   FIN_WAIT1    X receives ACK of its FIN, no FIN   FIN_WAIT2     receive_close
 *   FIN_WAIT1    X receives FIN not acking X's FIN   CLOSING       receive_close,
 *                                                    (and send_fin: X's FIN crossed
 *                                                     the peer's, see below)
 *   FIN_WAIT1    X receives FIN acking X's FIN       TIME_WAIT     receive_close
 *   FIN_WAIT2    X receives FIN                      TIME_WAIT     receive_close
 *   CLOSING      X receives ACK of its FIN           TIME_WAIT     receive_close
 *   TIME_WAIT    2*MSL, or a new SYN                 CLOSED        flows.c (timers,
 *                                                                  starts_new_instance)
 *   TIME_WAIT    X receives a FIN again              restarts 2*MSL receive_close
 *                (not acked yet: TIME_WAIT starts at it, the first was lost)
 *   SYN_SENT     no SYN again when due, or syn_timeout CLOSED      machine_unseen_timers
 *   FIN_WAIT2    fin_timeout without a packet        CLOSED        machine_unseen_timers
 *   ESTABLISHED  (server) sends its SYN-ACK again    SYN_RCVD      send_open
 *                after the client's ACK (accept-queue overflow)
 *   SYN_RCVD     (that server) sends a segment       ESTABLISHED   send_open
 *   SYN_RCVD     (server) synack_timeout after SYN   LISTEN        machine_unseen_timers
 *   any          acceptable RST                      CLOSED        receive_rst
 *                (in the window, not at rcv_nxt: challenged, no change;
 *                 X had closed and got new data: X CLOSED at that data,
 *                 never in TIME_WAIT)
 *
 * Choices where the capture misses a step (README "How the replay works"):
 * a SYN_SENT or LISTEN endpoint that sends a plain ACK is ESTABLISHED
 * (send_open); a SYN_SENT endpoint that receives an ACK of its SYN without
 * a SYN-ACK is ESTABLISHED (receive_open); a FIN lost after the capture
 * point undoes a CLOSING (resolve_crossing). The handshake's evidence,
 * retransmission counts and RTT (the `handshake`, `*_retransmits` and
 * `handshake_rtt_s` columns) are kept apart, in note_handshake() and
 * note_handshake_ack(), and change no state; so are the times of issue 13's
 * columns, and keepalive probes and idle gaps (machine_idle(), called by
 * flows.c only after a gap of IDLE_NOTE).
 */
#include <stdint.h>

#include "flows_int.h"

/* What a SYN segment is to the handshake (note_handshake()). */
enum open_event {
    OPEN_NONE = 0,     /* no SYN, or one sent again */
    OPEN_SYN,          /* the sender's first SYN without ACK */
    OPEN_SYNACK,       /* the sender's first SYN-ACK */
    OPEN_SYNACK_AGAIN, /* a SYN-ACK sent again (same ISN) */
};

static uint32_t seg_end(const flows_seg *s)
{
    return s->seq + s->payload_len + !!(s->flags & DISSECT_SYN) + !!(s->flags & DISSECT_FIN);
}

static void note_close(flows_table *t, conn *c, int d, conn_close_type type)
{
    conn_cold *k = cold(t, c);
    if (k->close_initiator == SIDE_NONE) {
        k->close_initiator = (uint8_t)(d == CLIENT ? SIDE_CLIENT : SIDE_SERVER);
        k->close_type = (uint8_t)type;
    }
}

/* ---- handshake bookkeeping (no state changes) ---------------------------- */

/* The window scale an endpoint announced in its SYN (RFC 7323 caps it). */
static void note_wscale(endpoint *x, const flows_seg *s)
{
    if (s->opts & DISSECT_OPT_WSCALE) {
        x->flags |= EP_WS_OPT;
        x->wscale = s->wscale > MAX_WSCALE ? MAX_WSCALE : s->wscale;
    }
}

/* A SYN or SYN-ACK from X: its ISN and window scale, the instance's
 * handshake evidence, retransmission counts and the RTT's start (Karn: from
 * the SYN that is answered). Returns what the segment is to the state
 * machine. */
static enum open_event note_handshake(flows_table *t, conn *c, int d, const flows_seg *s,
                                      int64_t ts)
{
    if (!(s->flags & DISSECT_SYN))
        return OPEN_NONE;
    endpoint *x = &c->ep[d];
    if (s->payload_len > 0)
        c->anomalies |= ANOM_SYN_WITH_DATA;
    if (!(s->flags & DISSECT_ACK)) {
        if (x->flags & EP_SENT_SYN) {
            if (x->isn == s->seq) {
                conn_cold *k = cold(t, c);
                k->syn_retransmits++;
                if (d == CLIENT && !(c->hs & HSF_ACK)) {
                    int64_t gap = (ts - k->hs_time) / 1000, prev = k->syn_gap_us;
                    /* Two gaps alike (within a quarter): the retries are
                     * evenly spaced (Linux 6.18's first four). */
                    if (prev && gap * 4 >= prev * 3 && gap * 4 <= prev * 5)
                        x->flags |= EP_SYN_EVEN;
                    else
                        x->flags &= (uint16_t)~EP_SYN_EVEN;
                    k->syn_gap_us = gap <= 0 ? 1 : gap >= UINT32_MAX ? UINT32_MAX : (uint32_t)gap;
                    k->hs_time = ts;
                }
            }
            return OPEN_NONE;
        }
        /* The SYN the server's SYN-ACK answered, seen after it (capture
         * reordering): the client's ISN was read from that SYN-ACK. */
        int answered = d == CLIENT && c->role_by == ROLE_BY_SYNACK && (x->flags & EP_ISN_KNOWN) &&
                       x->isn == s->seq && (c->ep[SERVER].flags & EP_SENT_SYNACK);
        x->flags |= EP_SENT_SYN | EP_ISN_KNOWN;
        x->isn = s->seq;
        note_wscale(x, s);
        if (answered) {
            c->role_by = ROLE_BY_SYN;
            c->hs |= HSF_SYN | HSF_SYNACK;
            cold(t, c)->hs_time = ts;
        } else if (d == CLIENT && c->role_by == ROLE_BY_SYN) {
            c->hs |= HSF_SYN;
            cold(t, c)->hs_time = ts;
        }
        /* Both sides sent a SYN without ACK before the handshake completed
         * (or the peer waits in SYN_SENT): a simultaneous open, also when
         * the other side's ACK came first (the split handshake: SYN; ACK;
         * SYN; SYN-ACK; ACK). The one place this evidence is noted. */
        const endpoint *y = &c->ep[!d];
        if (((y->flags & EP_SENT_SYN) || y->state == CONN_SYN_SENT) && !(c->hs & HSF_ACK))
            c->hs |= HSF_SIMUL;
        return OPEN_SYN;
    }
    if (x->flags & EP_SENT_SYNACK) {
        if (x->isn != s->seq)
            return OPEN_NONE;
        cold(t, c)->synack_retransmits++;
        return OPEN_SYNACK_AGAIN;
    }
    x->flags |= EP_SENT_SYNACK;
    listeners_answered(t->listeners, c, (d == CLIENT) == !!c->client_is_a);
    if (!(x->flags & EP_ISN_KNOWN)) {
        x->flags |= EP_ISN_KNOWN;
        x->isn = s->seq;
        note_wscale(x, s);
    }
    if (d == SERVER && (c->hs & HSF_SYN))
        c->hs |= HSF_SYNACK;
    return OPEN_SYNACK;
}

/* After the SYN and SYN-ACK, any segment from the client that acks the
 * server's ISN + 1 completes the handshake, whatever the server did in
 * between in the capture (data or FIN: TCP Fast Open, reordering). Called
 * while the SYN-ACK is seen and the handshake not complete. */
static void note_handshake_ack(flows_table *t, conn *c, int d, const flows_seg *s, int64_t ts)
{
    if (d == CLIENT && !(c->hs & HSF_SIMUL) &&
        (s->flags & (DISSECT_SYN | DISSECT_ACK | DISSECT_RST)) == DISSECT_ACK &&
        SEQ_GT(s->ack, c->ep[SERVER].isn)) {
        conn_cold *k = cold(t, c);
        c->hs |= HSF_ACK;
        k->hs_time = ts - k->hs_time;
        k->established = span_pack(ts - k->first_ts); /* syn_gap_us is done with */
    }
}

/* Does the ACK field of s ack y's SYN, and nothing y has not sent? (An
 * endpoint in SYN_SENT that gets any other ACK answers it with an RST.) */
static int acks_syn_exactly(const endpoint *y, const flows_seg *s)
{
    return (s->flags & DISSECT_ACK) && SEQ_GT(s->ack, y->isn) && SEQ_LEQ(s->ack, y->snd_nxt);
}

/* ---- the sender ----------------------------------------------------------- */

/* X sends a SYN or SYN-ACK (first ones, or a SYN-ACK again), or a plain
 * ACK segment. */
static void send_open(conn *c, int d, const flows_seg *s, enum open_event ev)
{
    endpoint *x = &c->ep[d];
    const endpoint *y = &c->ep[!d];
    if (x->state > CONN_SYN_SENT && ev != OPEN_SYNACK_AGAIN &&
        !(c->anomalies & ANOM_ACCEPT_QUEUE_OVERFLOW))
        return; /* synchronized: no step here (tested first: cheaper than the switch) */
    /* A plain ACK that acks no SYN of the peer's establishes nothing: it
     * belongs to an older connection the sender still holds. */
    int plain_ack = (s->flags & (DISSECT_SYN | DISSECT_ACK)) == DISSECT_ACK &&
                    (!(y->flags & EP_ISN_KNOWN) || acks_syn_exactly(y, s));
    /* A SYN moves only an endpoint that is not synchronized yet; from any
     * later state (a late or forged SYN) it changes nothing. */
    switch ((conn_state)x->state) {
    case CONN_SYN_SENT:
    case CONN_LISTEN:
        if (plain_ack) {
            /* A handshake step the capture missed. */
            x->state = CONN_ESTABLISHED;
            break;
        }
        /* fall through */
    case CONN_CLOSED:
        /* A SYN-ACK; or a SYN when Y's SYN had not arrived when X sent its
         * own (simultaneous open: X goes SYN_SENT, then receives Y's SYN). */
        if (ev == OPEN_SYNACK || (ev == OPEN_SYN && (y->flags & EP_SENT_SYN)))
            x->state = CONN_SYN_RCVD;
        else if (ev == OPEN_SYN)
            x->state = CONN_SYN_SENT;
        break;
    case CONN_SYN_RCVD:
        if (plain_ack && d == SERVER && (c->anomalies & ANOM_ACCEPT_QUEUE_OVERFLOW))
            x->state = CONN_ESTABLISHED; /* accepted at last: it speaks */
        break;
    case CONN_ESTABLISHED:
        if (ev == OPEN_SYNACK_AGAIN && d == SERVER && (c->hs & HSF_ACK) && !(c->hs & HSF_SIMUL)) {
            /* The server did not take the client's ACK (Linux drops it when
             * the listen backlog is full): still half-open. */
            x->state = CONN_SYN_RCVD;
            c->anomalies |= ANOM_ACCEPT_QUEUE_OVERFLOW;
        }
        break;
    default:
        break;
    }
}

/* X sends a FIN. */
static void send_fin(flows_table *t, conn *c, int d, const flows_seg *s, int64_t ts)
{
    endpoint *x = &c->ep[d];
    uint32_t fin_seq = seg_end(s) - 1;
    if (x->flags & EP_FIN_SENT) {
        if (fin_seq == x->fin_seq)
            cold(t, c)->fin_retransmits++;
        return;
    }
    x->flags |= EP_FIN_SENT;
    x->fin_seq = fin_seq;
    cold(t, c)->fin_at[d] = span_pack(ts - cold(t, c)->first_ts);
    note_close(t, c, d, CLOSE_FIN);
    switch ((conn_state)x->state) {
    case CONN_SYN_SENT:
    case CONN_SYN_RCVD:
    case CONN_ESTABLISHED:
        x->state = CONN_FIN_WAIT1;
        break;
    case CONN_CLOSE_WAIT:
        if (x->flags & EP_ACKED_PEER_FIN) {
            x->state = CONN_LAST_ACK;
        } else {
            /* Its FIN does not ack the peer's: the peer's FIN had not
             * arrived. ESTABLISHED -> FIN_WAIT1, then the peer's FIN
             * arrives -> CLOSING. Both closed actively. */
            x->state = CONN_CLOSING;
            x->flags |= EP_CLOSING;
            cold(t, c)->close_initiator = SIDE_BOTH;
            c->cross = CROSS_PENDING;
            cold(t, c)->cross_who = (unsigned)d & 1;
        }
        break;
    default:
        break;
    }
}

/* Sequence, window and TTL bookkeeping of the sender, before its FIN. */
static void track_sender(conn *c, endpoint *x, endpoint *y, const flows_seg *s)
{
    uint16_t f = s->flags;
    uint32_t end = seg_end(s);
    if ((x->flags & EP_FIN_SENT) && s->payload_len > 0 &&
        SEQ_GT(s->seq + s->payload_len, x->fin_seq))
        c->anomalies |= ANOM_DATA_AFTER_FIN;
    /* New data reaching an endpoint that has sent its FIN: if its
     * application has closed the socket, it answers with an RST. */
    if (s->payload_len > 0 && (y->state == CONN_FIN_WAIT1 || y->state == CONN_FIN_WAIT2) &&
        (!(x->flags & EP_SEQ_KNOWN) || SEQ_GT(s->seq + s->payload_len, x->snd_nxt)))
        y->flags |= EP_DATA_AFTER_CLOSE;
    if (!(x->flags & EP_SEQ_KNOWN)) {
        x->flags |= EP_SEQ_KNOWN;
        x->snd_nxt = end;
    } else if (SEQ_GT(end, x->snd_nxt)) {
        x->snd_nxt = end;
    }
    if (f & DISSECT_SYN) {
        x->window = s->window; /* never scaled in a SYN */
    } else {
        /* Scaling holds when both SYNs carried the option; when the
         * handshake was not seen the scale is unknown and the largest is
         * assumed, so that no in-window reset is called forged. */
        unsigned shift;
        if ((x->flags & EP_WS_OPT) && (y->flags & EP_WS_OPT))
            shift = x->wscale;
        else if ((x->flags & EP_ISN_KNOWN) && (y->flags & EP_ISN_KNOWN))
            shift = 0;
        else
            shift = MAX_WSCALE;
        x->window = (uint32_t)s->window << shift;
    }
    x->flags |= EP_WIN_KNOWN;
    x->ttl = s->ttl;
    x->flags |= EP_TTL_KNOWN;
    if ((f & DISSECT_ACK) && (y->flags & EP_FIN_SENT) && SEQ_GT(s->ack, y->fin_seq))
        x->flags |= EP_ACKED_PEER_FIN;
}

/* ---- the receiver --------------------------------------------------------- */

/* Does segment s (a first SYN-ACK when ev says so) ack Y's SYN? A SYN-ACK
 * acks a SYN the capture did not show; anything else must ack a known ISN,
 * and in SYN_SENT nothing beyond what Y sent. */
static int acks_syn(const endpoint *y, const flows_seg *s, enum open_event ev)
{
    if (!(y->flags & EP_ISN_KNOWN))
        return ev == OPEN_SYNACK;
    if (y->state == CONN_SYN_SENT)
        return acks_syn_exactly(y, s);
    return (s->flags & DISSECT_ACK) && SEQ_GT(s->ack, y->isn);
}

/* Y receives a SYN, a SYN-ACK, or an ACK of its SYN. */
static void receive_open(flows_table *t, conn *c, int d, const flows_seg *s, enum open_event ev)
{
    endpoint *y = &c->ep[!d];
    if (y->state > CONN_SYN_RCVD)
        return; /* synchronized: no step here */
    switch ((conn_state)y->state) {
    case CONN_CLOSED:
        if (ev == OPEN_SYN)
            y->state = CONN_LISTEN;
        break;
    case CONN_SYN_SENT:
        if (ev == OPEN_SYN) {
            y->state = CONN_SYN_RCVD; /* simultaneous open */
            break;
        }
        if ((y->flags & EP_ISN_KNOWN) && (s->flags & DISSECT_ACK) && !(s->flags & DISSECT_SYN) &&
            !acks_syn_exactly(y, s)) {
            /* The peer holds an older connection; Y answers with an RST
             * whose sequence number is this ACK field (RFC 793). */
            if (!(y->flags & EP_FIN_SENT)) { /* in Y's fin_at[] slot, free before its FIN */
                y->flags |= EP_STALE_ACK;
                cold(t, c)->fin_at[!d] = s->ack;
            }
            break;
        }
        /* fall through */
    case CONN_SYN_RCVD:
        if (!acks_syn(y, s, ev))
            break;
        if (d == CLIENT && (c->anomalies & ANOM_ACCEPT_QUEUE_OVERFLOW))
            break; /* the queue is still full until the server speaks */
        y->state = CONN_ESTABLISHED;
        if (!(y->flags & EP_ISN_KNOWN)) {
            /* Y's SYN was not seen: the SYN-ACK tells its ISN. */
            y->flags |= EP_ISN_KNOWN | EP_SEQ_KNOWN;
            y->isn = s->ack - 1;
            y->snd_nxt = s->ack;
        }
        break;
    default:
        break;
    }
}

/* Endpoint i enters FIN_WAIT2: kept for the first one (the findings'
 * FIN_WAIT2 durations; at most one endpoint of an instance gets there: the
 * other one is in CLOSE_WAIT, or both were in CLOSING). */
static void note_fin_wait2(flows_table *t, conn *c, int i)
{
    conn_cold *k = cold(t, c);
    if (k->fw2_who)
        return;
    k->fw2_who = (uint8_t)(1 + i);
}

/* Y receives a FIN, or an ACK of its own FIN. */
static void receive_close(flows_table *t, conn *c, int d, const flows_seg *s, int64_t ts)
{
    endpoint *y = &c->ep[!d];
    int fin = !!(s->flags & DISSECT_FIN);
    int acks_fin =
        (s->flags & DISSECT_ACK) && (y->flags & EP_FIN_SENT) && SEQ_GT(s->ack, y->fin_seq);
    if (!fin && !acks_fin)
        return; /* nothing of a close */
    switch ((conn_state)y->state) {
    case CONN_SYN_RCVD:
    case CONN_ESTABLISHED:
        if (fin)
            y->state = CONN_CLOSE_WAIT;
        break;
    case CONN_FIN_WAIT1:
        if (fin && acks_fin) {
            timer_enter_time_wait(t, c, !d, ts);
        } else if (fin) {
            /* Each sent its FIN before receiving the other's. */
            y->state = CONN_CLOSING;
            y->flags |= EP_CLOSING;
            cold(t, c)->close_initiator = SIDE_BOTH;
        } else if (acks_fin) {
            y->state = CONN_FIN_WAIT2;
            note_fin_wait2(t, c, !d);
        }
        break;
    case CONN_FIN_WAIT2:
        if (fin)
            timer_enter_time_wait(t, c, !d, ts);
        break;
    case CONN_CLOSING:
        if (acks_fin)
            timer_enter_time_wait(t, c, !d, ts);
        break;
    case CONN_TIME_WAIT:
        if (fin) {
            /* The FIN sent again before Y acked it: the first was lost
             * after the capture point, TIME_WAIT starts at this one. */
            if (!(y->flags & EP_ACKED_PEER_FIN))
                cold(t, c)->tw_start[!d] = ts;
            timer_enter_time_wait(t, c, !d, ts); /* a retransmitted FIN restarts 2*MSL */
        }
        break;
    case CONN_LAST_ACK:
        if (!fin && acks_fin)
            y->state = CONN_CLOSED;
        break;
    default:
        break;
    }
}

/* ---- resets --------------------------------------------------------------- */

enum rst_verdict {
    RST_ACCEPTABLE, /* closes both endpoints */
    RST_CHALLENGED, /* in the window, not at rcv_nxt: a challenge ACK, nothing else */
    RST_IGNORED,    /* blind or forged */
    RST_STALE,      /* SYN_SENT's answer to an ACK of an older connection: expected */
};

/* What y makes of an RST from x (SPEC §2, RFC 5961 §3.2). */
static enum rst_verdict rst_check(const flows_table *t, const conn *c, const endpoint *x,
                                  const endpoint *y, const flows_seg *s)
{
    if (y->state == CONN_SYN_SENT) {
        /* Acceptable only when it acks the SYN. */
        return (y->flags & EP_ISN_KNOWN) && acks_syn_exactly(y, s) ? RST_ACCEPTABLE : RST_IGNORED;
    }
    if (x->state == CONN_SYN_SENT && (x->flags & EP_STALE_ACK) &&
        s->seq == cold(t, c)->fin_at[x - c->ep])
        return RST_STALE;
    if (!(x->flags & EP_SEQ_KNOWN))
        return RST_ACCEPTABLE; /* nothing seen from the sender to check against */
    uint32_t rcv_nxt = x->snd_nxt;
    if (s->seq == rcv_nxt)
        return RST_ACCEPTABLE;
    /* Linux also takes rcv_nxt - 1 once the sender's FIN has arrived. */
    if (s->seq == rcv_nxt - 1 && (x->flags & EP_FIN_SENT) && x->fin_seq == s->seq &&
        (y->state == CONN_CLOSE_WAIT || y->state == CONN_LAST_ACK || y->state == CONN_CLOSING))
        return RST_ACCEPTABLE;
    uint32_t w = (y->flags & EP_WIN_KNOWN) ? y->window : DEFAULT_WINDOW;
    if (w > 0 && SEQ_GT(s->seq, rcv_nxt) && SEQ_LT(s->seq, rcv_nxt + w))
        return RST_CHALLENGED;
    return RST_IGNORED;
}

/* X sends an RST, Y receives it: an acceptable one closes both endpoints. */
static void receive_rst(flows_table *t, conn *c, int d, const flows_seg *s, int64_t ts)
{
    endpoint *x = &c->ep[d], *y = &c->ep[!d];
    if ((x->flags & EP_TTL_KNOWN) && x->ttl != s->ttl)
        c->anomalies |= ANOM_RST_TTL_CHANGED;
    if ((c->hs & HSF_RESET) || (x->state == CONN_CLOSED && y->state == CONN_CLOSED))
        return; /* stray reset after the end: nothing left to close */
    switch (rst_check(t, c, x, y, s)) {
    case RST_CHALLENGED:
        c->anomalies |= ANOM_RST_CHALLENGED;
        return;
    case RST_IGNORED:
        c->anomalies |= ANOM_RST_OUT_OF_WINDOW;
        return;
    case RST_STALE:
        x->flags &= (uint16_t)~EP_STALE_ACK;
        return;
    case RST_ACCEPTABLE:
        break;
    }
    note_close(t, c, d, CLOSE_RST);
    if (d == SERVER && y->state == CONN_SYN_SENT)
        c->hs |= HSF_REFUSED;
    if (x->flags & EP_DATA_AFTER_CLOSE) {
        /* X had closed and answered new data with this RST: it went CLOSED
         * at that data and never held TIME_WAIT, even if Y's FIN came in
         * between (RFC 1122 4.2.2.13; Linux's TCPAbortOnData). */
        x->flags &= (uint16_t) ~(EP_TW | EP_TW_LEFT);
        x->state = CONN_CLOSED;
        c->anomalies |= ANOM_ABORTED_ON_DATA;
    }
    for (int i = 0; i < 2; i++) {
        timer_leave_time_wait(t, c, i, ts, TW_RESET);
        c->ep[i].state = CONN_CLOSED;
    }
    c->hs |= HSF_RESET;
    c->cross = CROSS_NONE;
    timer_linger(t, c, ts);
}

/* ---- crossed FINs ----------------------------------------------------------- */

/*
 * Crossed FINs or a FIN lost after the capture point (SPEC §2).
 * `cross_who` (Y) sent its FIN without acking the peer's (X's) earlier FIN.
 * Default reading: the FINs crossed, both went FIN_WAIT1 -> CLOSING. One of
 * them was lost instead when its sender, having acked the other FIN with a
 * segment without FIN (Linux answers a FIN in CLOSING with a pure ACK),
 * sends its own FIN again before the other side acks it:
 * - X's FIN lost: Y never was in CLOSING; it went FIN_WAIT2 at X's ACK and
 *   TIME_WAIT at the retransmission;
 * - Y's FIN lost: X never was in CLOSING; it went FIN_WAIT2 at Y's ACK and
 *   TIME_WAIT at the retransmission (receive_close dates that one).
 * An ACK of the other's FIN from the one waiting shows that FIN arrived:
 * crossed. Called for a segment from `d`, before that segment's transitions.
 */
static void resolve_crossing(flows_table *t, conn *c, int d, const flows_seg *s, int64_t ts)
{
    int who = cold(t, c)->cross_who;
    const endpoint *y = &c->ep[who];
    endpoint *sender = &c->ep[d], *peer = &c->ep[!d];
    int fin = !!(s->flags & DISSECT_FIN);
    int acks_peer_fin = (s->flags & DISSECT_ACK) && SEQ_GT(s->ack, peer->fin_seq);
    int refin = fin && seg_end(s) == sender->fin_seq + 1; /* its FIN again */
    int pure_acked = d == who ? CROSS_Y_PURE_ACKED : CROSS_PURE_ACKED;
    if (c->cross == CROSS_PENDING) {
        if (acks_peer_fin)
            c->cross = (uint8_t)(fin ? CROSS_NONE : pure_acked);
        return;
    }
    if (c->cross != pure_acked) {
        /* The side not suspected of losing its FIN: acking the other FIN
         * shows it arrived. */
        if (acks_peer_fin)
            c->cross = CROSS_NONE;
        return;
    }
    if (!refin)
        return;
    /* The sender's FIN, again, before the peer acked it: the first was lost
     * after the capture point, and the peer never was in CLOSING. */
    peer->flags &= (uint16_t)~EP_CLOSING;
    if (d != who && y->state == CONN_TIME_WAIT)
        cold(t, c)->tw_start[who] = ts; /* FIN_WAIT2 -> TIME_WAIT happens now */
    c->cross = CROSS_NONE;
}

/* ---- one segment -------------------------------------------------------- */

void machine_segment(flows_table *t, conn *c, int d, const flows_seg *s, int64_t ts)
{
    if (s->flags & DISSECT_RST) {
        receive_rst(t, c, d, s, ts);
        return;
    }
    endpoint *x = &c->ep[d], *y = &c->ep[!d];
    if ((c->hs & (HSF_SYNACK | HSF_ACK)) == HSF_SYNACK)
        note_handshake_ack(t, c, d, s, ts);
    /* Most segments: established both ways, no SYN or FIN: no step has a
     * transition for them, only the sender's bookkeeping is done. */
    int quiet = !(s->flags & (DISSECT_SYN | DISSECT_FIN)) && x->state == CONN_ESTABLISHED &&
                y->state == CONN_ESTABLISHED && c->cross == CROSS_NONE;
    enum open_event ev = OPEN_NONE;
    if (!quiet) {
        if (c->cross != CROSS_NONE)
            resolve_crossing(t, c, d, s, ts);
        ev = note_handshake(t, c, d, s, ts);
        send_open(c, d, s, ev);
    }
    track_sender(c, x, y, s);
    if (quiet)
        return;
    if (s->flags & DISSECT_FIN)
        send_fin(t, c, d, s, ts);
    receive_open(t, c, d, s, ev);
    receive_close(t, c, d, s, ts);
}
