/*
 * shard.c: the 4-tuple hash that splits a capture into shards (--shard K/N)
 * and names a row across shards and runs (the CSV's conn_uid).
 *
 * It must give the same number on every machine and in every version, for
 * both directions of a connection, so it is defined on bytes (README "The
 * CSV", conn_uid) and never changes: FNV-1a 64 over the IP version, then
 * the lower endpoint (address bytes as on the wire, 4 or 16, and the port
 * big-endian), then the higher one (lower: the address bytes compare lower,
 * or equal addresses and the lower port), then MurmurHash3's fmix64, which
 * spreads FNV's weak low bits (a shard is the hash mod N). The flow table's
 * own hash (prepare.c) is free to change and to follow the machine's byte
 * order; this one is not.
 */
#include <string.h>

#include "flows.h"

#define FNV_OFFSET UINT64_C(0xcbf29ce484222325)
#define FNV_PRIME  UINT64_C(0x100000001b3)

static uint64_t fnv_bytes(uint64_t h, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= FNV_PRIME;
    }
    return h;
}

static uint64_t fnv_end(uint64_t h, const uint8_t *addr, size_t alen, uint16_t port)
{
    const uint8_t be[2] = {(uint8_t)(port >> 8), (uint8_t)port};
    return fnv_bytes(fnv_bytes(h, addr, alen), be, 2);
}

void flows_order_ends(uint8_t ip_version, const uint8_t **a, uint16_t *pa, const uint8_t **b,
                      uint16_t *pb)
{
    int cmp = memcmp(*a, *b, ip_version == 6 ? 16 : 4);
    if (cmp > 0 || (cmp == 0 && *pa > *pb)) {
        const uint8_t *t = *a;
        *a = *b;
        *b = t;
        uint16_t tp = *pa;
        *pa = *pb;
        *pb = tp;
    }
}

uint64_t flows_tuple_hash(uint8_t ip_version, const uint8_t *a, uint16_t pa, const uint8_t *b,
                          uint16_t pb)
{
    const size_t alen = ip_version == 6 ? 16 : 4;
    flows_order_ends(ip_version, &a, &pa, &b, &pb);
    uint64_t h = fnv_bytes(FNV_OFFSET, &ip_version, 1);
    h = fnv_end(fnv_end(h, a, alen, pa), b, alen, pb);
    h ^= h >> 33; /* fmix64 */
    h *= UINT64_C(0xff51afd7ed558ccd);
    h ^= h >> 33;
    h *= UINT64_C(0xc4ceb9fe1a85ec53);
    h ^= h >> 33;
    return h;
}
