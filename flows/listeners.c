/*
 * listeners.c: which endpoints (address, port) are servers, for the rows
 * whose roles no SYN or SYN-ACK decided (SPEC §1, role_by).
 *
 * A midstream capture of a service on a high port (gRPC on 50051) would
 * have its roles swapped by the lower-port rule. Before that rule, in this
 * order: the endpoints given with --server (a port on any host, or one
 * host's port); the endpoints seen answering a SYN (a SYN-ACK) anywhere in
 * the capture so far; the endpoint that more midstream instances share,
 * when it is shared by at least three and the other by one (many peers
 * talk to a server; a client's ephemeral port serves one connection). The
 * roles of such a row are decided when it is written, with what the
 * capture has shown by then.
 *
 * The table is a uthash (the design's hash for per-host tables) of
 * endpoints, bounded at LISTENERS_MAX entries: past it, new endpoints are
 * not counted (documented in the README), learned servers still are. A
 * direct-mapped cache of fingerprints in front keeps the SYN-ACKs of a busy
 * server from touching the table each time. SYN-ACK senders are learned
 * from the first midstream instance on: a capture whose connections all
 * have their handshakes (most, and the benchmark's) pays nothing for it.
 */
#include <stdlib.h>
#include <string.h>

#include <uthash.h>

#include "flows_int.h"

#define LISTENERS_MAX (1u << 18)
#define RECENT_SLOTS  8192u /* a power of 2 */

typedef struct endpoint_key {
    uint8_t addr[16];
    uint16_t port;
    uint8_t ip_version;
    uint8_t pad;
} endpoint_key;

typedef struct listener {
    endpoint_key key;
    uint32_t midstream; /* midstream instances this endpoint was part of */
    uint8_t answered;   /* sent a SYN-ACK */
    UT_hash_handle hh;
} listener;

struct listeners {
    int learning; /* since the first midstream instance (or with --server) */
    listener *table;
    uint32_t count;
    uint64_t recent[RECENT_SLOTS]; /* fingerprints of SYN-ACK senders learned */
};

listeners *listeners_new(void)
{
    return calloc(1, sizeof(listeners));
}

void listeners_free(listeners *l)
{
    if (!l)
        return;
    listener *e, *tmp;
    /* uthash's documented way to empty a table; the analyzer cannot follow
     * HASH_DEL's bookkeeping through the saved next pointer. */
    // NOLINTBEGIN(clang-analyzer-unix.Malloc)
    HASH_ITER(hh, l->table, e, tmp)
    {
        HASH_DEL(l->table, e);
        free(e);
    }
    // NOLINTEND(clang-analyzer-unix.Malloc)
    free(l);
}

static void key_of(const conn *c, int a_end, endpoint_key *k)
{
    memset(k, 0, sizeof(*k));
    memcpy(k->addr, a_end ? &c->key.w[0] : &c->key.w[2], 16);
    k->port = a_end ? key_port_a(&c->key) : key_port_b(&c->key);
    k->ip_version = key_ip_version(&c->key);
}

/* The entry of k, created when `create` and there is room; NULL otherwise. */
static listener *entry(listeners *l, const endpoint_key *k, int create)
{
    listener *e;
    HASH_FIND(hh, l->table, k, sizeof(*k), e);
    if (e || !create || l->count >= LISTENERS_MAX)
        return e;
    e = calloc(1, sizeof(*e));
    if (!e)
        return NULL; /* out of memory: the port rule decides */
    e->key = *k;
    HASH_ADD(hh, l->table, key, sizeof(e->key), e);
    l->count++;
    return e;
}

/* A fingerprint of an endpoint: its address (the key's 16 bytes, as two
 * words; IPv4 in the low half of the first), port and IP version, every
 * bit mixed down to the low bits the caches index by. */
uint64_t addr_fingerprint(const uint64_t w[2], uint16_t port, uint8_t ip_version)
{
    uint64_t h = (w[0] ^ ((uint64_t)port << 48 | ip_version)) * UINT64_C(0x9e3779b97f4a7c15);
    h = (h ^ (h >> 32) ^ w[1]) * UINT64_C(0xbf58476d1ce4e5b9);
    h = (h ^ (h >> 29)) * UINT64_C(0x94d049bb133111eb);
    return (h ^ (h >> 32)) | 1; /* never 0: 0 is an empty slot */
}

uint64_t end_fingerprint(const conn *c, int a_end)
{
    return addr_fingerprint(a_end ? &c->key.w[0] : &c->key.w[2],
                            a_end ? key_port_a(&c->key) : key_port_b(&c->key),
                            key_ip_version(&c->key));
}

void listeners_answered(listeners *l, const conn *c, int a_end)
{
    if (!l->learning)
        return;
    /* Most SYN-ACKs come from servers already learned: a fingerprint in a
     * direct-mapped cache spares the table's lookup. */
    uint64_t fp = end_fingerprint(c, a_end);
    uint64_t *slot = &l->recent[fp & (RECENT_SLOTS - 1)];
    if (*slot == fp)
        return;
    endpoint_key k;
    key_of(c, a_end, &k);
    listener *e = entry(l, &k, 1);
    if (e) {
        e->answered = 1;
        *slot = fp;
    }
}

void listeners_midstream(listeners *l, const conn *c)
{
    l->learning = 1;
    for (int a_end = 0; a_end < 2; a_end++) {
        endpoint_key k;
        key_of(c, a_end, &k);
        listener *e = entry(l, &k, 1);
        if (e && e->midstream < UINT32_MAX)
            e->midstream++;
    }
}

/* Is this end given with --server? */
static int configured(const flows_config *cfg, const endpoint_key *k)
{
    for (size_t i = 0; i < cfg->n_servers; i++) {
        const flows_server *s = &cfg->servers[i];
        if (s->port == k->port && (s->ip_version == 0 || (s->ip_version == k->ip_version &&
                                                          memcmp(s->addr, k->addr, 16) == 0)))
            return 1;
    }
    return 0;
}

/* 1 when the key's `a` end is c's server, 0 when `b` is, -1 unknown. */
static int listeners_server_is_a(listeners *l, const flows_config *cfg, const conn *c)
{
    endpoint_key ka, kb;
    key_of(c, 1, &ka);
    key_of(c, 0, &kb);
    int ca = configured(cfg, &ka), cb = configured(cfg, &kb);
    if (ca != cb)
        return ca;
    const listener *ea = entry(l, &ka, 0), *eb = entry(l, &kb, 0);
    int aa = ea && ea->answered, ab = eb && eb->answered;
    if (aa != ab)
        return aa;
    uint32_t ma = ea ? ea->midstream : 0, mb = eb ? eb->midstream : 0;
    if (ma >= 3 && mb <= 1)
        return 1;
    if (mb >= 3 && ma <= 1)
        return 0;
    return -1;
}

/* An instance no SYN or SYN-ACK opened: its roles, decided now with what
 * the capture has shown of its endpoints (listeners.c), else by port. The
 * replay of such an instance is the same either way round (both endpoints
 * began ESTABLISHED), so the ends swap as a whole. */
void listeners_decide_roles(flows_table *t, conn *c)
{
    int server_is_a = listeners_server_is_a(t->listeners, &t->cfg, c);
    if (server_is_a < 0)
        return;
    c->role_by = ROLE_BY_LISTENER;
    if (server_is_a != c->client_is_a)
        return; /* the port rule had it right */
    conn_cold *k = cold(t, c);
    /* Every per-endpoint pair, by its bytes: [0] and [1] trade places. */
#define SWAP_PAIR(a)                                                                               \
    do {                                                                                           \
        unsigned char tmp_[sizeof((a)[0])];                                                        \
        memcpy(tmp_, &(a)[0], sizeof tmp_);                                                        \
        memcpy(&(a)[0], &(a)[1], sizeof tmp_);                                                     \
        memcpy(&(a)[1], tmp_, sizeof tmp_);                                                        \
    } while (0)
    SWAP_PAIR(c->ep);
    SWAP_PAIR(c->packets);
    SWAP_PAIR(c->bytes);
    SWAP_PAIR(k->tw_start);
    SWAP_PAIR(k->tw_deadline);
#undef SWAP_PAIR
    if (k->close_initiator == SIDE_CLIENT || k->close_initiator == SIDE_SERVER)
        k->close_initiator = (uint8_t)(SIDE_CLIENT + SIDE_SERVER - k->close_initiator);
    c->client_is_a = (uint8_t)!c->client_is_a;
}

/* ---- state (incremental runs) ------------------------------------------ */

void listeners_save(const listeners *l, flows_buf *b)
{
    uint32_t learning = (uint32_t)l->learning, n = l->count;
    flows_buf_put(b, &learning, sizeof(learning));
    flows_buf_put(b, &n, sizeof(n));
    /* In the order they were added (uthash's iteration order). */
    for (const listener *e = l->table; e; e = e->hh.next) {
        flows_buf_put(b, &e->key, sizeof(e->key));
        flows_buf_put(b, &e->midstream, sizeof(e->midstream));
        flows_buf_put(b, &e->answered, sizeof(e->answered));
    }
}

int listeners_load(listeners *l, flows_buf *b)
{
    uint32_t learning, n;
    if (flows_buf_get(b, &learning, sizeof(learning)) < 0 || flows_buf_get(b, &n, sizeof(n)) < 0 ||
        n > LISTENERS_MAX)
        return -1;
    l->learning = learning != 0;
    for (uint32_t i = 0; i < n; i++) {
        endpoint_key k;
        uint32_t midstream;
        uint8_t answered;
        if (flows_buf_get(b, &k, sizeof(k)) < 0 ||
            flows_buf_get(b, &midstream, sizeof(midstream)) < 0 ||
            flows_buf_get(b, &answered, sizeof(answered)) < 0)
            return -1;
        listener *e = entry(l, &k, 1);
        if (!e)
            return -1;
        e->midstream = midstream;
        e->answered = answered;
    }
    return 0;
}
