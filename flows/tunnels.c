/*
 * tunnels.c: the tunnels segments came through, each interned as a number
 * that becomes part of the connection key (flow_key: bits 40-63 of w[4],
 * 0 for none), so that inner 4-tuples in different tunnels are different
 * connections while a segment outside any tunnel pays one untaken branch.
 *
 * A tunnel's identity, layer by layer outermost first: its kind, the
 * identifier both directions carry when it has one (VXLAN VNI,
 * GRE key, ERSPAN session), and the pair of outer addresses in either
 * order when it runs over IP. Identifiers that differ by direction (GTP-U
 * TEIDs, PPTP call IDs, MPLS labels) are left out, or the two directions of
 * one connection would be two. Its text, the row's `tunnel` column, is the
 * kinds and identifiers: `vxlan:42`, `gre/mpls`.
 *
 * Threads: only the reading thread interns (flows_prepare); entries never
 * move or change once made, and a segment carrying a number crosses to the
 * replaying thread after its entry was written, so the replay may read the
 * text of any number it sees. At most TUNNELS_MAX tunnels are told apart;
 * later ones share TUNNEL_OTHER ("other"), counted.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flows_int.h"

#define CHUNK_BITS 10
#define CHUNK      (1u << CHUNK_BITS)
#define IDENT_MAX  ((size_t)DISSECT_MAX_TUNNELS * (3 + 4 + 32))
#define TEXT_MAX   ((size_t)DISSECT_MAX_TUNNELS * 20)

typedef struct tunnel_entry {
    uint64_t fp;
    uint16_t ident_len;
    char text[TEXT_MAX];
    uint8_t ident[]; /* ident_len bytes */
} tunnel_entry;

struct tunnels {
    tunnel_entry **chunk[TUNNELS_MAX / CHUNK]; /* id -> entry; id 0 unused */
    uint32_t count;                            /* ids handed out: 1 .. count */
    uint32_t *slots;                           /* open addressing over the ids; 0 empty */
    uint32_t mask;
    uint32_t last; /* the id interned last (a run of one tunnel's segments) */
    uint64_t others;
};

tunnels *tunnels_new(void)
{
    tunnels *u = calloc(1, sizeof(*u));
    if (!u)
        return NULL;
    u->mask = 255;
    u->slots = calloc(u->mask + 1, sizeof(*u->slots));
    if (!u->slots) {
        free(u);
        return NULL;
    }
    return u;
}

void tunnels_free(tunnels *u)
{
    if (!u)
        return;
    for (uint32_t i = 1; i <= u->count; i++)
        free(u->chunk[i >> CHUNK_BITS][i & (CHUNK - 1)]);
    for (size_t c = 0; c < TUNNELS_MAX / CHUNK; c++)
        free(u->chunk[c]);
    free(u->slots);
    free(u);
}

static tunnel_entry *entry(const tunnels *u, uint32_t id)
{
    return u->chunk[id >> CHUNK_BITS][id & (CHUNK - 1)];
}

/* The identity's bytes (see the top); returns their length. */
static size_t identity(const dissect_tunnel *tun, uint8_t *out)
{
    size_t n = 0;
    for (unsigned i = 0; i < tun->depth && i < DISSECT_MAX_TUNNELS; i++) {
        const dissect_tunnel_layer *l = &tun->layer[i];
        out[n++] = l->kind;
        out[n++] = l->has_id;
        out[n++] = l->outer_version;
        if (l->has_id) {
            memcpy(out + n, &l->id, 4);
            n += 4;
        }
        if (l->outer_version) {
            size_t w = l->outer_version == 4 ? 4 : 16;
            int swap = memcmp(l->outer_src, l->outer_dst, w) > 0;
            memcpy(out + n, swap ? l->outer_dst : l->outer_src, w);
            memcpy(out + n + w, swap ? l->outer_src : l->outer_dst, w);
            n += 2 * w;
        }
    }
    return n;
}

static uint64_t fingerprint(const uint8_t *p, size_t n)
{
    uint64_t h = UINT64_C(0xcbf29ce484222325) ^ n;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * UINT64_C(0x100000001b3);
    h ^= h >> 31;
    return h | 1; /* never 0 */
}

static void text_of(const dissect_tunnel *tun, char *text)
{
    size_t n = 0;
    for (unsigned i = 0; i < tun->depth && i < DISSECT_MAX_TUNNELS; i++) {
        const dissect_tunnel_layer *l = &tun->layer[i];
        int w = l->has_id ? snprintf(text + n, TEXT_MAX - n, "%s%s:%u", i ? "/" : "",
                                     dissect_encap_name((dissect_encap)l->kind), (unsigned)l->id)
                          : snprintf(text + n, TEXT_MAX - n, "%s%s", i ? "/" : "",
                                     dissect_encap_name((dissect_encap)l->kind));
        if (w < 0 || (size_t)w >= TEXT_MAX - n)
            break;
        n += (size_t)w;
    }
}

static int grow(tunnels *u)
{
    uint32_t cap = (u->mask + 1) * 2;
    uint32_t *s = calloc(cap, sizeof(*s));
    if (!s)
        return -1;
    for (uint32_t id = 1; id <= u->count; id++) {
        uint32_t i = (uint32_t)entry(u, id)->fp & (cap - 1);
        while (s[i])
            i = (i + 1) & (cap - 1);
        s[i] = id;
    }
    free(u->slots);
    u->slots = s;
    u->mask = cap - 1;
    return 0;
}

/* A new entry with the next id, or TUNNEL_OTHER (full, out of memory). */
static uint32_t add(tunnels *u, uint64_t fp, const uint8_t *ident, size_t n,
                    const dissect_tunnel *tun)
{
    uint32_t id = u->count + 1;
    if (id >= TUNNEL_OTHER || ((u->count + 1) * 2 > u->mask && grow(u) < 0))
        return TUNNEL_OTHER;
    tunnel_entry ***chunk = &u->chunk[id >> CHUNK_BITS];
    /* an array of entry pointers: sizeof(tunnel_entry *) is meant */
    if (!*chunk &&
        !(*chunk = calloc(CHUNK, sizeof(tunnel_entry *)))) // NOLINT(bugprone-sizeof-expression)
        return TUNNEL_OTHER;
    tunnel_entry *e = malloc(sizeof(*e) + n);
    if (!e)
        return TUNNEL_OTHER;
    e->fp = fp;
    e->ident_len = (uint16_t)n;
    memcpy(e->ident, ident, n);
    memset(e->text, 0, sizeof(e->text));
    if (tun)
        text_of(tun, e->text);
    (*chunk)[id & (CHUNK - 1)] = e;
    uint32_t i = (uint32_t)fp & u->mask;
    while (u->slots[i])
        i = (i + 1) & u->mask;
    u->slots[i] = id;
    u->count = id;
    return id;
}

static uint32_t find_or_add(tunnels *u, const uint8_t *ident, size_t n, const dissect_tunnel *tun)
{
    uint64_t fp = fingerprint(ident, n);
    const tunnel_entry *e = u->last ? entry(u, u->last) : NULL;
    if (e && e->fp == fp && e->ident_len == n && memcmp(e->ident, ident, n) == 0)
        return u->last;
    for (uint32_t i = (uint32_t)fp & u->mask; u->slots[i]; i = (i + 1) & u->mask) {
        e = entry(u, u->slots[i]);
        if (e->fp == fp && e->ident_len == n && memcmp(e->ident, ident, n) == 0)
            return u->last = u->slots[i];
    }
    uint32_t id = add(u, fp, ident, n, tun);
    if (id == TUNNEL_OTHER)
        u->others++;
    else
        u->last = id;
    return id;
}

uint32_t tunnels_intern(tunnels *u, const dissect_tunnel *tun)
{
    uint8_t ident[IDENT_MAX];
    size_t n = identity(tun, ident);
    return find_or_add(u, ident, n, tun);
}

/* On the replaying thread too: reads only the entry, written before any
 * segment carrying its number crossed (not u->count, which the reading
 * thread moves on). */
const char *tunnels_text(const tunnels *u, uint32_t id)
{
    if (id == 0)
        return NULL;
    if (id >= TUNNEL_OTHER)
        return "other";
    return entry(u, id)->text;
}

int tunnels_known(const tunnels *u, uint32_t id)
{
    return id <= u->count || id == TUNNEL_OTHER;
}

uint64_t tunnels_others(const tunnels *u)
{
    return u->others;
}

/* ---- state (incremental runs) ---------------------------------------------- */

void tunnels_save(const tunnels *u, flows_buf *b)
{
    flows_buf_put(b, &u->count, sizeof(u->count));
    for (uint32_t id = 1; id <= u->count; id++) {
        const tunnel_entry *e = entry(u, id);
        flows_buf_put(b, &e->ident_len, sizeof(e->ident_len));
        flows_buf_put(b, e->ident, e->ident_len);
        flows_buf_put(b, e->text, sizeof(e->text));
    }
}

int tunnels_load(tunnels *u, flows_buf *b)
{
    uint32_t count = 0;
    if (flows_buf_get(b, &count, sizeof(count)) < 0 || count >= TUNNEL_OTHER || u->count != 0)
        return -1;
    for (uint32_t id = 1; id <= count; id++) {
        uint16_t n = 0;
        uint8_t ident[IDENT_MAX];
        char text[TEXT_MAX];
        if (flows_buf_get(b, &n, sizeof(n)) < 0 || n > IDENT_MAX ||
            flows_buf_get(b, ident, n) < 0 || flows_buf_get(b, text, sizeof(text)) < 0)
            return -1;
        text[TEXT_MAX - 1] = '\0';
        /* Same ids in the same order: the saved keys carry them. */
        if (find_or_add(u, ident, n, NULL) != id)
            return -1;
        memcpy(entry(u, id)->text, text, sizeof(text));
    }
    return 0;
}
