/*
 * findings_nat.c: finding 9, TCP timestamps going backwards between the
 * connections of one client address (README "Findings"): hosts behind a
 * NAT, or clients whose timestamps start at a random offset per
 * connection, and what tcp_tw_recycle's per-host PAWS check (Linux before
 * 4.12) would have done to their SYNs.
 *
 * Unlike findings 1-8 it is not drawn from the rows: the replay tells every
 * client SYN, with its TSval, as it is replayed (flows_set_syn_hook). Then
 * it is told when each connection with a SYN ends, with its row's
 * handshake, so that the SYNs tw_recycle would have dropped can be matched
 * with connections the server never answered (`syn_only`) without a
 * second table on the rows' side. With the worker thread, the replay only
 * copies them into a ring and the reading thread tells them here, in
 * order, between batches (analyzer/pipeline.c, pipeline_syn_hook): the
 * worker is the bound of a plain run. Whichever thread tells them, one at
 * a time; the text is written after the replay has ended.
 *
 * Memory is bounded: at most HOSTS_MAX client addresses (the shared host
 * table of hosts.c: uthash behind a cache and member bits) and TABLE_MAX
 * connections in flight with such a SYN (uthash); past them, counted.
 */
#include "findings_int.h"

#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>

#define PAWS_MSL   (60 * NS) /* Linux's TCP_PAWS_MSL: how long a peer's timestamp is kept */
#define WRAP_GUARD (INT64_C(24) * 86400 * NS) /* 1 ms ticks wrap 2^31 after 24.8 days */

#define QUEUE  64         /* events waiting while their slots are fetched */
#define FILTER (1u << 16) /* counters by conn_id's low bits */

enum { NH_BACK = 1, NH_DROP = 2 };

/* One client address: its last SYN (in time) and the last one tw_recycle
 * would have let through (the timestamp the per-host check compares). */
typedef struct nat_host {
    host_head head; /* first (hosts.c): the address */
    uint8_t flags;  /* NH_* */
    uint16_t last_port, paws_port;
    uint32_t last_tsval, paws_tsval;
    int64_t last_ts, paws_ts;
} nat_host;

/* A connection with a SYN tw_recycle would have dropped, until it ends. */
typedef struct nat_conn {
    uint64_t key; /* conn_id */
    uint32_t drops;
    UT_hash_handle hh;
} nat_conn;

/* Two SYNs from one address: the earlier one (0) and the one behind it. */
typedef struct nat_example {
    host_key client;
    uint8_t server[16];
    uint16_t server_port;
    uint16_t port[2];
    uint32_t tsval[2];
    int64_t ts[2];
    uint64_t conn_id; /* of the second */
    uint8_t drop;     /* tw_recycle would have dropped the second */
    uint8_t answer;   /* 0: not known, 1: its connection was answered, 2: never */
} nat_example;

/* What the replay told, kept until the queue is full (flows_syn's
 * pointers do not outlive the call). */
typedef struct nat_event {
    flows_syn s;
    uint8_t client[16], server[16];
    uint64_t fp; /* of the client's host_key (key_fp, as hosts.c has it) */
} nat_event;

/* Apart from the rows' findings: on cache lines of its own (without the
 * worker thread's ring, the replay's thread writes it while the rows'
 * writes the findings struct next to it). */
struct nat_state {
    _Alignas(64) host_table hosts; /* of nat_host */
    nat_conn *conns;               /* uthash */
    uint32_t n_conns;
    uint16_t *filter; /* FILTER counters: connections followed, by conn_id & (FILTER - 1) */
    nat_event q[QUEUE];
    unsigned nq;
    uint64_t syns, syns_ts, syns_left;          /* client SYNs; with timestamps; not judged */
    uint64_t back_syns, back_hosts;             /* TSval behind the previous SYN's */
    uint64_t drop_syns, drop_hosts, drop_conns; /* behind tw_recycle's remembered one */
    uint64_t unans_syns, unans_conns;           /* of those, never answered */
    uint64_t drops_unfollowed;                  /* dropped SYNs past the connection table */
    nat_example ex[EXAMPLES_MAX];
    unsigned n_ex;
    _Alignas(64) char end[1]; /* nothing else on the last line */
};

nat_state *nat_new(void)
{
    nat_state *n = aligned_alloc(64, sizeof(nat_state));
    if (n)
        memset(n, 0, sizeof(*n));
    if (n && !(n->filter = zalloc_written(FILTER, sizeof(*n->filter)))) {
        free(n);
        n = NULL;
    }
    return n;
}

void nat_free(nat_state *n)
{
    if (!n)
        return;
    nat_conn *c, *ctmp;
    // NOLINTBEGIN(clang-analyzer-unix.Malloc)
    HASH_ITER(hh, n->conns, c, ctmp)
    {
        HASH_DEL(n->conns, c);
        free(c);
    }
    // NOLINTEND(clang-analyzer-unix.Malloc)
    host_table_free(&n->hosts);
    free(n->filter);
    free(n);
}

/* ---- collecting ------------------------------------------------------------------ */

/*
 * One lookup per client SYN: the addresses sit in the shared host table
 * (hosts.c), whose cache and member bits spare most lookups; each SYN's
 * bit and cache slot are prefetched when it is told, the entries of the
 * QUEUE events when the queue is worked off, and read then. The
 * connections followed (few: those with a dropped SYN, until they end)
 * stay in uthash, and a counter per conn_id's low bits spares the lookup
 * for the rows of all the others.
 */

/* The entry of the address, added when new (*added); NULL past HOSTS_MAX
 * addresses or when memory runs out. */
static nat_host *host_get(nat_state *n, const nat_event *e, int *added)
{
    nat_host *h =
        (nat_host *)host_table_get(&n->hosts, e->s.ip_version, e->client, sizeof(nat_host), added);
    if (h && *added) {
        h->last_port = h->paws_port = e->s.client_port;
        h->last_tsval = h->paws_tsval = e->s.tsval;
        h->last_ts = h->paws_ts = e->s.ts;
        h->flags = 0; /* new: its first SYN is all it knows */
    }
    return h;
}

/* A SYN tw_recycle would have dropped: its connection is followed to its end. */
static void follow(nat_state *n, uint64_t conn_id)
{
    uint16_t *f = &n->filter[conn_id & (FILTER - 1)];
    nat_conn *c = NULL;
    if (*f < UINT16_MAX)
        TABLE_GET(n->conns, n->n_conns, TABLE_MAX, nat_conn, conn_id, c);
    if (!c) {
        n->drops_unfollowed++;
        return;
    }
    if (!c->drops++) {
        n->drop_conns++;
        (*f)++;
    }
}

/* A connection with a SYN ended: was it answered? */
static void syn_done(nat_state *n, const flows_syn *s)
{
    uint16_t *f = &n->filter[s->conn_id & (FILTER - 1)];
    if (!*f)
        return;
    nat_conn *c;
    HASH_FIND(hh, n->conns, &s->conn_id, sizeof(s->conn_id), c);
    if (!c)
        return;
    int unanswered = s->handshake == HS_SYN_ONLY;
    if (unanswered) {
        n->unans_syns += c->drops;
        n->unans_conns++;
    }
    for (unsigned i = 0; i < n->n_ex; i++)
        if (n->ex[i].conn_id == s->conn_id)
            n->ex[i].answer = unanswered ? 2 : 1;
    HASH_DEL(n->conns, c);
    free(c);
    n->n_conns--;
    (*f)--;
}

/* The first event of host h: SYN e behind the earlier one (port, tsval, ts). */
static void add_example(nat_state *n, const nat_host *h, const nat_event *e, int drop, int back)
{
    if (n->n_ex >= EXAMPLES_MAX)
        return;
    nat_example *x = &n->ex[n->n_ex++];
    memset(x, 0, sizeof(*x));
    x->client = h->head.key;
    memcpy(x->server, e->server, 16);
    x->server_port = e->s.server_port;
    x->port[0] = back ? h->last_port : h->paws_port;
    x->tsval[0] = back ? h->last_tsval : h->paws_tsval;
    x->ts[0] = back ? h->last_ts : h->paws_ts;
    x->port[1] = e->s.client_port;
    x->tsval[1] = e->s.tsval;
    x->ts[1] = e->s.ts;
    x->conn_id = e->s.conn_id;
    x->drop = (uint8_t)drop;
}

/* SYN e against its address's last one and the one tw_recycle remembers. */
static void judge_syn(nat_state *n, nat_host *h, const nat_event *e)
{
    const flows_syn *s = &e->s;
    int64_t gap = s->ts - h->last_ts, pgap = s->ts - h->paws_ts;
    int back = gap > 0 && gap < WRAP_GUARD && (int32_t)(s->tsval - h->last_tsval) < 0;
    int drop = pgap >= 0 && pgap < PAWS_MSL && (int32_t)(s->tsval - h->paws_tsval) < 0;
    if ((back || drop) && !(h->flags & (NH_BACK | NH_DROP)))
        add_example(n, h, e, drop, back);
    if (back) {
        n->back_syns++;
        n->back_hosts += !(h->flags & NH_BACK);
        h->flags |= NH_BACK;
    }
    if (drop) {
        n->drop_syns++;
        n->drop_hosts += !(h->flags & NH_DROP);
        h->flags |= NH_DROP;
        follow(n, s->conn_id);
    }
    if (gap < 0) /* out of capture order: the later one stays the last */
        return;
    h->last_port = s->client_port;
    h->last_tsval = s->tsval;
    h->last_ts = s->ts;
    if (drop || pgap < 0) /* not let through: the remembered one stays */
        return;
    h->paws_port = s->client_port;
    h->paws_tsval = s->tsval;
    h->paws_ts = s->ts;
}

/* Works off the queue, in the order the events came. The lines of the
 * events' bits and cache slots were fetched when they were queued; their
 * entries are fetched now, all at once. */
static void drain(nat_state *n)
{
    for (unsigned i = 0; i < n->nq; i++) {
        const nat_event *e = &n->q[i];
        const struct aid_slot *slot = aid_slot_of(&n->hosts.aid, e->fp);
        if (e->s.kind == FLOWS_SYN_SENT && slot && slot->fp == e->fp && slot->e)
            __builtin_prefetch(slot->e);
    }
    for (unsigned i = 0; i < n->nq; i++) {
        const nat_event *e = &n->q[i];
        if (e->s.kind == FLOWS_SYN_DONE) {
            syn_done(n, &e->s);
            continue;
        }
        int added;
        nat_host *h = host_get(n, e, &added);
        if (!h)
            n->syns_left++;
        else if (!added) /* not its first SYN */
            judge_syn(n, h, e);
    }
    n->nq = 0;
}

void report_findings_syn(void *syn_ctx, const flows_syn *s)
{
    nat_state *n = syn_ctx;
    if (s->kind == FLOWS_SYN_SENT) {
        n->syns++;
        if (!s->has_tsval)
            return;
        n->syns_ts++;
    }
    nat_event *e = &n->q[n->nq++];
    e->s = *s;
    if (s->kind == FLOWS_SYN_SENT) {
        memset(e->client, 0, sizeof(e->client));
        memset(e->server, 0, sizeof(e->server));
        memcpy(e->client, s->client_ip, addr_len(s->ip_version));
        memcpy(e->server, s->server_ip, addr_len(s->ip_version));
        e->s.client_ip = e->client;
        e->s.server_ip = e->server;
        e->fp = host_fp(s->ip_version, e->client); /* key_fp of its host key */
        aid_prefetch(&n->hosts.aid, e->fp, 0);
    } else {
        __builtin_prefetch(&n->filter[s->conn_id & (FILTER - 1)]);
    }
    if (n->nq == QUEUE)
        drain(n);
}

/* ---- judging and writing (after the replay) ----------------------------------- */

static void judge_nat(const nat_state *n, judgement *j)
{
    j->why[0] = '\0';
    if (!n->syns_ts) {
        j->v = V_NO_EVIDENCE;
        if (n->syns)
            snprintf(j->key, sizeof(j->key), "none of %llu client SYNs carried TCP timestamps",
                     (unsigned long long)n->syns);
        else
            snprintf(j->key, sizeof(j->key), "no client SYN seen");
        return;
    }
    if (n->drop_syns) {
        j->v = V_APPLIES;
        snprintf(j->key, sizeof(j->key),
                 "%llu SYNs from %llu client addresses behind tcp_tw_recycle's per-host PAWS "
                 "check (%llu of them never answered)",
                 (unsigned long long)n->drop_syns, (unsigned long long)n->drop_hosts,
                 (unsigned long long)n->unans_syns);
        snprintf(j->why, sizeof(j->why),
                 "TCP timestamps go backwards between connections from one address (a NAT, "
                 "or clients with a random timestamp offset per connection): tcp_tw_recycle "
                 "would drop these SYNs silently; it is gone since Linux 4.12, and on an "
                 "older kernel with it on, turn it off");
        return;
    }
    j->v = V_WOULD_NOT_HELP;
    snprintf(j->key, sizeof(j->key),
             "no SYN's TSval behind its address's within 60 s (%llu SYNs with timestamps from "
             "%u addresses, %llu behind after longer gaps)",
             (unsigned long long)n->syns_ts, n->hosts.n, (unsigned long long)n->back_syns);
    snprintf(j->why, sizeof(j->why),
             "tcp_tw_recycle would break none of these clients, nor help the server; it is "
             "gone since Linux 4.12");
}

static void write_nat_examples(const nat_state *n, int precision, FILE *out)
{
    if (!n->n_ex)
        return;
    fprintf(out, "\nExamples (the first SYN behind an earlier one, per address):\n\n");
    for (unsigned i = 0; i < n->n_ex; i++) {
        const nat_example *e = &n->ex[i];
        char a[INET6_ADDRSTRLEN], s[64], t0[80], t1[80];
        uint8_t v = e->client.ip_version;
        fprintf(out,
                "- %s -> %s: SYN from port %u at %s, TSval %lu; SYN from port %u at %s, "
                "TSval %lu (behind by %lu)%s%s\n",
                addr_text(v, e->client.addr, a, sizeof(a)),
                endpoint_text(v, e->server, e->server_port, s, sizeof(s)), e->port[0],
                when_text(e->ts[0], precision, t0, sizeof(t0)), (unsigned long)e->tsval[0],
                e->port[1], when_text(e->ts[1], precision, t1, sizeof(t1)),
                (unsigned long)e->tsval[1], (unsigned long)(uint32_t)(e->tsval[0] - e->tsval[1]),
                e->drop ? ": tw_recycle would drop it" : "",
                e->answer == 2   ? ", and it was never answered"
                : e->answer == 1 ? " (it was answered here)"
                                 : "");
    }
}

void nat_write(nat_state *n, int precision, FILE *out)
{
    drain(n);
    judgement j;
    judge_nat(n, &j);
    write_heading(out, 9, "TCP timestamps going backwards (NAT) and tcp_tw_recycle", &j);
    fprintf(out, "\nPer client address, each SYN's TSval against the previous SYN's from that "
                 "address (behind: a negative 32-bit difference, less than 24 days later), and "
                 "against the last SYN tcp_tw_recycle would have let through: one behind it "
                 "within 60 s would have been dropped by its per-host PAWS check. Linux 4.10 gave "
                 "each connection a random timestamp offset, which is why tw_recycle was removed "
                 "in 4.12; later kernels used one offset per address pair, and since 2026 (\"tcp: "
                 "secure_seq: add back ports to TS offset\") one per connection again: timestamps "
                 "going backwards are then normal without any NAT.\n");
    fprintf(out, "\n| | SYNs | client addresses | connections |\n|---|---|---|---|\n");
    fprintf(out, "| client SYNs | %llu | | |\n", (unsigned long long)n->syns);
    fprintf(out, "| with TCP timestamps | %llu | %u | |\n", (unsigned long long)n->syns_ts,
            n->hosts.n);
    fprintf(out, "| TSval behind the previous SYN's | %llu | %llu | |\n",
            (unsigned long long)n->back_syns, (unsigned long long)n->back_hosts);
    fprintf(out, "| tw_recycle would drop (behind within 60 s) | %llu | %llu | %llu |\n",
            (unsigned long long)n->drop_syns, (unsigned long long)n->drop_hosts,
            (unsigned long long)n->drop_conns);
    fprintf(out, "| ... of which never answered (`syn_only`) | %llu | | %llu |\n",
            (unsigned long long)n->unans_syns, (unsigned long long)n->unans_conns);
    if (n->unans_syns && n->unans_syns * 2 >= n->drop_syns)
        fprintf(out, "\nMost of them got no answer at all: the server may well run "
                     "tcp_tw_recycle (a Linux before 4.12).\n");
    write_nat_examples(n, precision, out);
    if (n->syns_left)
        fprintf(out,
                "\nLeft out: %llu SYNs of addresses past the first %u addresses (or for "
                "want of memory).\n",
                (unsigned long long)n->syns_left, HOSTS_MAX);
    if (n->drops_unfollowed)
        fprintf(out,
                "\nLeft out: %llu such SYNs whose connection could not be followed (more "
                "than %u at once): not in the connection counts.\n",
                (unsigned long long)n->drops_unfollowed, TABLE_MAX);
}

void nat_write_short(nat_state *n, FILE *out)
{
    drain(n);
    judgement j;
    judge_nat(n, &j);
    short_line(out, 9, "NAT / TCP timestamps", &j);
}
