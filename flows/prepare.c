/*
 * prepare.c: what the reading thread does for the replay (flows_prepare):
 * the canonical 4-tuple key and its hash, the clamped time, and the
 * duplicate filter's verdict, into the 80-byte flows_seg the replaying
 * thread reads. Touches nothing of the table but the duplicate filter.
 */
#include <string.h>

#include "flows_int.h"

#define DUP_WINDOW_NS INT64_C(1000000) /* SPAN copies arrive within 1 ms */

/* A multiply-xorshift finaliser (MurmurHash3's fmix64). */
static inline uint64_t mix64(uint64_t h)
{
    h ^= h >> 33;
    h *= UINT64_C(0xff51afd7ed558ccd);
    h ^= h >> 33;
    h *= UINT64_C(0xc4ceb9fe1a85ec53);
    h ^= h >> 33;
    return h;
}

/* The key's hash: its five 8-byte words mixed. The words are the two
 * addresses as the machine loads them and the ports and IP version packed
 * arithmetically, so flows_prepare can hash the words it already holds in
 * registers (reading back a key just stored piecewise stalls on store
 * forwarding) and get what key_hash of the stored key gives. */
static inline uint32_t hash_words(uint64_t a0, uint64_t a1, uint64_t b0, uint64_t b1, uint64_t tail)
{
    const uint64_t m = UINT64_C(0xff51afd7ed558ccd);
    uint64_t h = UINT64_C(0x9e3779b97f4a7c15) ^ 40;
    h = (h ^ a0) * m;
    h ^= h >> 29;
    h = (h ^ a1) * m;
    h ^= h >> 29;
    h = (h ^ b0) * m;
    h ^= h >> 29;
    h = (h ^ b1) * m;
    h ^= h >> 29;
    h = (h ^ tail) * m;
    h ^= h >> 29;
    return (uint32_t)mix64(h);
}

uint32_t key_hash(const flow_key *k)
{
    return hash_words(k->w[0], k->w[1], k->w[2], k->w[3], k->w[4]);
}

/* The key of segment s, whose sender is the `a` end when from_a. */
static inline void segment_key(const dissect_segment *s, int from_a, flow_key *k)
{
    uint64_t src[2], dst[2];
    memcpy(src, s->src, 16);
    memcpy(dst, s->dst, 16);
    /* Selected by a mask: the direction is a coin toss no predictor learns. */
    const uint64_t m = (uint64_t)0 - (uint64_t)(from_a != 0);
    k->w[0] = (src[0] & m) | (dst[0] & ~m);
    k->w[1] = (src[1] & m) | (dst[1] & ~m);
    k->w[2] = (dst[0] & m) | (src[0] & ~m);
    k->w[3] = (dst[1] & m) | (src[1] & ~m);
    uint64_t ab = key_tail(s->sport, s->dport, s->ip_version),
             ba = key_tail(s->dport, s->sport, s->ip_version);
    k->w[4] = (ab & m) | (ba & ~m);
}

/*
 * Exact duplicates (SPAN copies): a segment whose fingerprint (direction,
 * 4-tuple, seq, ack, flags, window, payload length, IPv4 ID, TCP timestamp,
 * and the digest of the captured options and payload: a duplicate ACK with
 * other SACK blocks, or other data under the same header, is no copy) was
 * seen less than 1 ms earlier. The cache is global and direct-mapped, so
 * a copy is found however many other segments came in between, in constant
 * memory; a slot taken over by another segment only means a duplicate may
 * be missed at extreme rates, never a false one.
 */
static uint64_t fingerprint(const dissect_segment *s, uint32_t hashv, int sender_is_a)
{
    /* Four words, each multiplied by its own odd constant (independent
     * multiplies, not a chain of four finalisers), then one finaliser. */
    uint64_t w0 = (uint64_t)s->seq << 32 | s->ack;
    uint64_t w1 = (uint64_t)s->flags << 48 | (uint64_t)s->window << 32 | s->payload_len;
    uint64_t w2 = (uint64_t)s->ip_id << 32 | s->ts_val;
    uint64_t w3 = (uint64_t)s->content << 33 | (uint64_t)hashv << 1 | (unsigned)sender_is_a;
    return mix64((w0 * UINT64_C(0x9e3779b97f4a7c15)) ^ (w1 * UINT64_C(0xc2b2ae3d27d4eb4f)) ^
                 (w2 * UINT64_C(0x165667b19e3779f9)) ^ (w3 * UINT64_C(0xd6e8feb86659fd93)));
}

static int is_duplicate(struct dedup_slot *dedup, uint64_t fp, int64_t ts)
{
    struct dedup_slot *slot = &dedup[fp & (DEDUP_SLOTS - 1)];
    if (slot->fp == fp && ts >= slot->ts && ts - slot->ts <= DUP_WINDOW_NS)
        return 1;
    slot->fp = fp;
    slot->ts = ts;
    return 0;
}

/* A clock tick (flows.h); a listener's carries the sender in key[0..1],
 * its port in key[2] and its IP version in key[3]. */
static __attribute__((noinline)) void prepare_tick(const dissect_segment *s, int64_t ts,
                                                   flows_seg *o)
{
    memset(o, 0, sizeof(*o));
    o->ts = clamp_ts(ts);
    o->bits = FLOWS_SEG_TICK;
    if (s->ip_version & FLOWS_TICK_LISTEN) {
        o->flags = DISSECT_SYN | DISSECT_ACK;
        memcpy(o->key, s->src, 16);
        o->key[2] = s->sport;
        o->key[3] = s->ip_version & ~FLOWS_TICK_LISTEN;
    }
}

void flows_prepare(flows_table *t, const dissect_segment *segs, const int64_t *ts, size_t n,
                   flows_seg *out)
{
    /* Read once: the rest of t's cache line is the replaying thread's. */
    struct dedup_slot *const dedup = t->dedup;
    tunnels *const tun = t->tunnels;
    for (size_t i = 0; i < n; i++) {
        const dissect_segment *s = &segs[i];
        flows_seg *o = &out[i];
        if (__builtin_expect((s->ip_version | 2) != 6, 0)) { /* neither 4 nor 6: a tick */
            prepare_tick(s, ts[i], o);
            continue;
        }
        /* The canonical key: the lower (address, port) end first. Any
         * consistent order will do, so addresses compare as the machine
         * holds their words. */
        uint64_t src[2], dst[2];
        memcpy(src, s->src, 16);
        memcpy(dst, s->dst, 16);
        int from_a = src[0] != dst[0]   ? src[0] < dst[0]
                     : src[1] != dst[1] ? src[1] < dst[1]
                                        : s->sport <= s->dport;
        flow_key k;
        segment_key(s, from_a, &k);
        if (__builtin_expect(s->tunnel != NULL, 0))
            k.w[4] |= (uint64_t)tunnels_intern(tun, s->tunnel) << KEY_TUNNEL_SHIFT;
        memcpy(o->key, k.w, sizeof(o->key));
        o->hash = key_hash(&k);
        o->ts = clamp_ts(ts[i]);
        o->seq = s->seq;
        o->ack = s->ack;
        o->payload_len = s->payload_len;
        o->flags = s->flags;
        o->window = s->window;
        o->ttl = s->ttl;
        o->opts = s->opts;
        o->wscale = s->wscale;
        o->tsval = s->ts_val;
        o->bits = (uint8_t)((from_a ? FLOWS_SEG_FROM_A : 0) |
                            (is_duplicate(dedup, fingerprint(s, o->hash, from_a), o->ts)
                                 ? FLOWS_SEG_DUPLICATE
                                 : 0));
    }
}
