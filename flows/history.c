/*
 * history.c: Zeek's vocabulary for a connection instance (issue 15), the
 * `history` and `conn_state` of Zeek's conn.log, with synfin's client as
 * Zeek's originator (README "The CSV" has the rules as users read them).
 *
 * The history: at most one letter per segment, upper case for the
 * originator's, in the order seen (Zeek's TCP analyzer):
 *   - exactly one of SYN, FIN, RST: `s` (SYN without ACK) or `h` (SYN-ACK),
 *     `f`, `r`; recorded again when the segment's sequence number differs
 *     from the last one's of that kind (s and h are one kind);
 *   - two or more of them: `i` (FIN and RST), else `q` (SYN with FIN or
 *     RST); once per direction;
 *   - none: `d` if it carries payload, else `a` if it has ACK; once per
 *     direction.
 * Zeek keeps the last sequence number of each kind per direction; synfin
 * compares with what the endpoint record keeps: the ISN (the first SYN's),
 * the first FIN's sequence number, the sender's next sequence number for an
 * RST. The letters are kept in the cold record (HISTORY_MAX of them). An
 * endpoint's `a` and `d`, the only letters an ordinary segment may add, are
 * marked in its hot record, so that most segments cost one test
 * (history_due()), and queued there in order (conn.hist_queue, 2 bits a
 * letter: at most the four of them) until the next SYN, FIN or RST, whose
 * replay reads the cold record anyway, or the row: an established
 * connection's first data each way costs no cold cache line.
 *
 * conn_state: Zeek's endpoint states (what each endpoint has sent, as the
 * analyzer's UpdateStateMachine moves them: inactive, SYN sent, SYN-ACK
 * sent, partial, established, closed, reset) are kept per endpoint beside
 * those bits, replayed by zeek_step(), and mapped to the 13 values at the
 * row as conn.log's conn_state() does. A crossed close or an RST synfin
 * ignored is told by synfin's own columns; conn_state stays Zeek's.
 */
#include "flows_int.h"

/* ---- Zeek's endpoint states ---------------------------------------------- */

static unsigned zstate(const endpoint *e)
{
    return e->zeek & ZK_STATE;
}

static void zset(endpoint *e, unsigned st)
{
    unsigned from = zstate(e);
    if (from == st)
        return;
    unsigned keep = e->zeek & ~(unsigned)(ZK_STATE | ZK_FROM_CLOSED);
    unsigned was_closed = st == ZK_RESET && from == ZK_CLOSED ? ZK_FROM_CLOSED : 0;
    e->zeek = (uint8_t)(keep | st | was_closed);
}

/* An endpoint Zeek has not seen send anything: its first segment. */
static void zeek_first(conn *c, int d, const flows_seg *s)
{
    endpoint *x = &c->ep[d], *y = &c->ep[!d];
    uint16_t f = s->flags;
    if (f & DISSECT_SYN) {
        if (d == CLIENT) {
            zset(x, (f & DISSECT_ACK) ? ZK_SYN_ACK_SENT : ZK_SYN_SENT);
        } else {
            /* The responder's SYN or SYN-ACK establishes both sides. */
            if (zstate(y) == ZK_SYN_SENT)
                zset(y, ZK_ESTABLISHED);
            zset(x, ZK_ESTABLISHED);
        }
    }
    if (f & DISSECT_FIN)
        zset(x, ZK_CLOSED);
    if (f & DISSECT_RST)
        zset(x, ZK_RESET);
    if (zstate(x) != ZK_INACTIVE)
        return;
    if (d == SERVER && s->payload_len == 0 && zstate(y) == ZK_SYN_SENT)
        return; /* an ACK of the SYN before the SYN-ACK: not a partial connection */
    if ((f & DISSECT_ACK) && zstate(y) == ZK_ESTABLISHED)
        zset(x, ZK_ESTABLISHED); /* the SYN was missed, the SYN-ACK was not */
    else
        zset(x, ZK_PARTIAL);
}

/* Segment s from d, as Zeek's endpoint states take it. */
static void zeek_step(conn *c, int d, const flows_seg *s)
{
    endpoint *x = &c->ep[d], *y = &c->ep[!d];
    uint16_t f = s->flags;
    switch (zstate(x)) {
    case ZK_INACTIVE:
        zeek_first(c, d, s);
        break;
    case ZK_SYN_SENT:
    case ZK_SYN_ACK_SENT:
        if (f & DISSECT_FIN)
            zset(x, ZK_CLOSED);
        else if (f & DISSECT_RST)
            zset(x, ZK_RESET);
        break;
    case ZK_PARTIAL:
    case ZK_ESTABLISHED:
        if ((f & (DISSECT_SYN | DISSECT_ACK)) == DISSECT_SYN && zstate(x) == ZK_PARTIAL &&
            zstate(y) == ZK_INACTIVE)
            zset(x, ZK_SYN_SENT);
        if ((f & DISSECT_FIN) && !(f & DISSECT_RST)) {
            zset(x, ZK_CLOSED);
            /* The peer's FIN, then its RST: a normal close after all. */
            if (zstate(y) == ZK_RESET && (y->zeek & ZK_FROM_CLOSED))
                zset(y, ZK_CLOSED);
        }
        if (f & DISSECT_RST)
            zset(x, ZK_RESET);
        break;
    case ZK_CLOSED:
        /* After both FINs, an RST changes nothing. */
        if ((f & DISSECT_RST) && zstate(y) != ZK_CLOSED)
            zset(x, ZK_RESET);
        break;
    default: /* ZK_RESET */
        break;
    }
}

/* ---- the letters --------------------------------------------------------- */

#define ENTRY(h, i) ((unsigned)((h) >> (4 + 4 * (i))) & 0xfu)

/* 15 nibbles of 1: one under each letter of a history shifted past its
 * count. */
#define NIBBLES_1 UINT64_C(0x0111111111111111)

/* Is letter a or b (HL_*) of the key's b end (side_b) or a end recorded?
 * All the letters at once: one equal to the letter looked for is a zero
 * nibble of their XOR with it, which the word-at-a-time zero test finds
 * (a borrow can flag nibbles above a zero one, never below: the answer
 * among the first n stays exact). */
static int seen(uint64_t h, unsigned side_b, unsigned a, unsigned b)
{
    unsigned n = (unsigned)(h & 0xf);
    uint64_t x = h >> 4;
    uint64_t first_n = (UINT64_C(1) << (4 * n)) - 1; /* n <= 15: at most 60 bits */
    for (int k = 0; k < 1 + (a != b); k++) {
        uint64_t y = x ^ (NIBBLES_1 * ((side_b << 3) | (k ? b : a)));
        if ((y - NIBBLES_1) & ~y & (NIBBLES_1 << 3) & first_n)
            return 1;
    }
    return 0;
}

/* The queue's letters: 2 bits each, the key's b end (bit 1), d rather than
 * a (bit 0); as many as the endpoints' letters seen and not kept. */
static unsigned queued(const conn *c)
{
    unsigned n = 0;
    static const uint8_t bits[4] = {0, 1, 1, 2}; /* no popcount instruction in the baseline ISA */
    for (int i = 0; i < 2; i++) {
        unsigned z = c->ep[i].zeek;
        n += bits[(z >> 4) & ~(z >> 6) & 3u];
    }
    return n;
}

static unsigned queued_letter(const conn *c, unsigned i, unsigned *side_b)
{
    unsigned e = (unsigned)(c->hist_queue >> (2 * i)) & 3u;
    *side_b = e >> 1;
    return (e & 1) ? HL_DATA : HL_ACK;
}

static void append(conn_cold *k, unsigned code, unsigned side_b)
{
    unsigned n = (unsigned)(k->history & 0xf);
    if (n >= HISTORY_MAX)
        return; /* full: later letters are dropped */
    k->history =
        (k->history & ~(uint64_t)0xf) | (n + 1) | (uint64_t)(code | side_b << 3) << (4 + 4 * n);
}

/* The letter of segment s from x, or -1: a SYN, FIN or RST (the cold
 * record's letters tell whether it was seen). */
static int control_letter(const endpoint *x, uint64_t h, unsigned side_b, const flows_seg *s)
{
    uint16_t f = s->flags;
    unsigned kinds = f & (DISSECT_SYN | DISSECT_FIN | DISSECT_RST);
    if (kinds & (kinds - 1)) { /* two of them or more */
        unsigned code = (f & DISSECT_FIN) && (f & DISSECT_RST) ? HL_INCONSISTENT : HL_MULTI;
        return seen(h, side_b, code, code) ? -1 : (int)code;
    }
    if (f & DISSECT_SYN) {
        int again = (x->flags & EP_ISN_KNOWN) && s->seq != x->isn;
        if (!again && seen(h, side_b, HL_SYN, HL_SYNACK))
            return -1;
        return (f & DISSECT_ACK) ? HL_SYNACK : HL_SYN;
    }
    if (f & DISSECT_FIN) {
        int again = (x->flags & EP_FIN_SENT) && s->seq + s->payload_len != x->fin_seq;
        return !again && seen(h, side_b, HL_FIN, HL_FIN) ? -1 : HL_FIN;
    }
    int again = (x->flags & EP_SEQ_KNOWN) && s->seq != x->snd_nxt;
    return !again && seen(h, side_b, HL_RST, HL_RST) ? -1 : HL_RST;
}

/* The n queued letters (n = queued(c)) into the cold record's history. */
static void unqueue(conn *c, conn_cold *k, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        unsigned side_b, code = queued_letter(c, i, &side_b);
        append(k, code, side_b);
    }
    for (int i = 0; i < 2; i++)
        c->ep[i].zeek |= (uint8_t)((c->ep[i].zeek & (ZK_ACK_SEEN | ZK_DATA_SEEN)) << 2);
    c->hist_queue = 0;
}

void history_note(flows_table *t, conn *c, int d, const flows_seg *s)
{
    endpoint *x = &c->ep[d];
    unsigned side_b = (d == CLIENT) == !c->client_is_a;
    if (s->flags & (DISSECT_SYN | DISSECT_FIN | DISSECT_RST)) {
        conn_cold *k = cold(t, c);
        unsigned q = queued(c); /* hist_queue is 0 with one letter queued, the a end's `a` */
        if (q)
            unqueue(c, k, q);
        int code = control_letter(x, k->history, side_b, s);
        if (code >= 0)
            append(k, (unsigned)code, side_b);
    } else if (s->payload_len || (s->flags & DISSECT_ACK)) {
        unsigned seen = s->payload_len ? ZK_DATA_SEEN : ZK_ACK_SEEN;
        if (!(x->zeek & seen)) {
            unsigned e = side_b << 1 | (s->payload_len ? 1u : 0u);
            c->hist_queue |= (uint8_t)(e << (2 * queued(c)));
            x->zeek |= (uint8_t)seen;
        }
    }
    zeek_step(c, d, s);
}

/* ---- the row ------------------------------------------------------------- */

size_t conn_history_text(uint64_t h, int flipped, char *out)
{
    static const char upper[] = "SHADFRIQ", lower[] = "shadfriq";
    size_t n = 0;
    if (flipped)
        out[n++] = '^';
    for (unsigned i = 0, m = (unsigned)(h & 0xf); i < m && i < HISTORY_MAX; i++) {
        unsigned e = ENTRY(h, i);
        out[n++] = ((e & HISTORY_RESP) ? lower : upper)[e & 7];
    }
    out[n] = '\0';
    return n;
}

/* Zeek's RSTOS0 test on the history's text, /\^?S[^HAFGIQ]*R.* / (the
 * originator's SYN, then its RST before any other originator letter but D
 * and R), on the letters themselves (h: conn_record.history): no text made
 * for a test most rows never reach. */
static int syn_then_rst(uint64_t h)
{
    unsigned n = (unsigned)(h & 0xf);
    if (n == 0 || ENTRY(h, 0) != HL_SYN)
        return 0;
    for (unsigned i = 1; i < n && i < HISTORY_MAX; i++) {
        unsigned e = ENTRY(h, i);
        if (e & HISTORY_RESP)
            continue; /* the responder's, lower case */
        if (e == HL_RST)
            return 1;
        if (e != HL_DATA && e != HL_SYN)
            return 0; /* H, A, F, I or Q */
    }
    return 0;
}

/* conn.log's conn_state() for TCP: os, rs the originator's and responder's
 * Zeek states, ob, rb their payload bytes. */
static conn_zeek_state zeek_conn_state(unsigned os, unsigned rs, uint64_t ob, uint64_t rb,
                                       uint64_t history)
{
    int o_inactive = os == ZK_INACTIVE || os == ZK_PARTIAL;
    int r_inactive = rs == ZK_INACTIVE || rs == ZK_PARTIAL;
    if (rs == ZK_RESET) {
        if (os == ZK_SYN_SENT || os == ZK_SYN_ACK_SENT || (os == ZK_RESET && ob == 0 && rb == 0))
            return ZEEK_REJ;
        return o_inactive ? ZEEK_RSTRH : ZEEK_RSTR;
    }
    if (os == ZK_RESET) {
        if (r_inactive)
            return syn_then_rst(history) ? ZEEK_RSTOS0 : ZEEK_OTH;
        return ZEEK_RSTO;
    }
    if (rs == ZK_CLOSED && os == ZK_CLOSED)
        return ZEEK_SF;
    if (os == ZK_CLOSED)
        return r_inactive ? ZEEK_SH : ZEEK_S2;
    if (rs == ZK_CLOSED)
        return o_inactive ? ZEEK_SHR : ZEEK_S3;
    if (os == ZK_SYN_SENT && rs == ZK_INACTIVE)
        return ZEEK_S0;
    if (os == ZK_ESTABLISHED && rs == ZK_ESTABLISHED)
        return ZEEK_S1;
    return ZEEK_OTH;
}

void history_fill(const flows_table *t, const conn *c, conn_record *r)
{
    const conn_cold *k = cold(t, c);
    unsigned client_b = !c->client_is_a;
    uint64_t h = k->history, out = 0;
    unsigned n = (unsigned)(h & 0xf);
    for (unsigned i = 0; i < n; i++) {
        unsigned e = ENTRY(h, i);
        unsigned resp = (e >> 3) != client_b ? HISTORY_RESP : 0;
        out |= (uint64_t)((e & 7) | resp) << (4 + 4 * i);
    }
    for (unsigned i = 0, m = queued(c); i < m && n < HISTORY_MAX; i++, n++) {
        unsigned side_b, code = queued_letter(c, i, &side_b);
        unsigned resp = side_b != client_b ? HISTORY_RESP : 0;
        out |= (uint64_t)(code | resp) << (4 + 4 * n);
    }
    r->history = out | n;
    /* Zeek's originator is the first packet's sender unless its heuristics
     * flip the roles: `^` when synfin's client did not send the first. */
    r->history_flipped = !!(c->ep[SERVER].flags & EP_FIRST);
    r->zeek_state = zeek_conn_state(zstate(&c->ep[CLIENT]), zstate(&c->ep[SERVER]),
                                    c->bytes[CLIENT], c->bytes[SERVER], r->history);
}
