/*
 * hosts.c: the per-host tables of the summary's census and of the census
 * over time (report_int.h says how they are kept).
 */
#include "report_int.h"

#define HOST_CACHE_SLOTS 16384u     /* a power of 2 */
#define HOST_BITS        (1u << 20) /* 128 KiB; a power of 2 */

/* The host's fingerprint: its address mixed to 64 well-spread bits
 * (splitmix64's finaliser: the table's buckets, the cache slot and the
 * member bit each take different bits of it). */
static uint64_t host_fp(const host_key *k)
{
    uint64_t a, b;
    memcpy(&a, k->addr, 8);
    memcpy(&b, k->addr + 8, 8);
    uint64_t h = a ^ (b * UINT64_C(0x9e3779b97f4a7c15)) ^ k->ip_version;
    h = (h ^ (h >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    h = (h ^ (h >> 27)) * UINT64_C(0x94d049bb133111eb);
    return (h ^ (h >> 31)) | 1; /* never 0: an empty slot */
}

void host_table_prefetch(const host_table *t, uint8_t ip_version, const uint8_t addr[16])
{
    host_key k = host_key_of(ip_version, addr);
    uint64_t fp = host_fp(&k);
    uint32_t bit = (uint32_t)fp & (HOST_BITS - 1);
    if (t->member_bits)
        __builtin_prefetch(&t->member_bits[bit / 64]);
    if (t->recent) {
        const struct host_slot *slot = &t->recent[(fp >> 40) & (HOST_CACHE_SLOTS - 1)];
        __builtin_prefetch(slot);
        if (slot->fp == fp && slot->h)
            __builtin_prefetch(slot->h);
    }
}

host_head *host_table_get(host_table *t, uint8_t ip_version, const uint8_t addr[16], size_t size,
                          int *added)
{
    host_key k = host_key_of(ip_version, addr);
    *added = 0;
    if (!t->recent)
        t->recent = calloc(HOST_CACHE_SLOTS, sizeof(struct host_slot));
    if (!t->member_bits)
        t->member_bits = calloc(HOST_BITS / 64, sizeof(uint64_t));
    uint64_t fp = host_fp(&k);
    uint32_t bit = (uint32_t)fp & (HOST_BITS - 1);
    if (t->member_bits && t->n >= HOSTS_MAX &&
        !(t->member_bits[bit / 64] & (UINT64_C(1) << (bit % 64))))
        return NULL; /* not in the full table: the bit first (one line, no entry) */
    struct host_slot *slot = t->recent ? &t->recent[(fp >> 40) & (HOST_CACHE_SLOTS - 1)] : NULL;
    if (slot && slot->h && slot->fp == fp && memcmp(&slot->h->key, &k, sizeof(k)) == 0)
        return slot->h;
    unsigned hashv = (unsigned)(fp >> 32);
    host_head *h;
    HASH_FIND_BYHASHVALUE(hh, t->head, &k, sizeof(k), hashv, h);
    if (!h) {
        if (t->n >= HOSTS_MAX || !(h = calloc(1, size)))
            return NULL;
        h->key = k;
        HASH_ADD_BYHASHVALUE(hh, t->head, key, sizeof(h->key), hashv, h);
        if (!h->hh.tbl) { /* uthash could not add it */
            free(h);
            return NULL;
        }
        t->n++;
        *added = 1;
        if (t->member_bits)
            t->member_bits[bit / 64] |= UINT64_C(1) << (bit % 64);
    }
    if (slot) {
        slot->fp = fp;
        slot->h = h;
    }
    return h;
}

void host_table_free(host_table *t)
{
    host_head *h, *tmp;
    /* uthash's documented way to empty a table; the analyzer cannot follow
     * HASH_DEL's bookkeeping through the saved next pointer. */
    // NOLINTBEGIN(clang-analyzer-unix.Malloc)
    HASH_ITER(hh, t->head, h, tmp)
    {
        HASH_DEL(t->head, h);
        free(h);
    }
    // NOLINTEND(clang-analyzer-unix.Malloc)
    free(t->recent);
    free(t->member_bits);
    memset(t, 0, sizeof(*t));
}
