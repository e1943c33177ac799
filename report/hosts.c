/*
 * hosts.c: the per-host tables of the summary's census and of the census
 * over time (report_int.h says how they are kept).
 */
#include "report_int.h"

#include <assert.h>

/* A host table's uthash starts with 2^16 buckets (1 MiB), one per host of
 * a full table, instead of uthash's 32: filling the table doubled the
 * bucket array ten times (to 2^15), each time moving every entry, and left
 * two entries a bucket to walk (bench/BENCHMARKS.md, "Tenth session").
 * uthash reads these two in the HASH_ADD of a table's first entry. */
#undef HASH_INITIAL_NUM_BUCKETS
#undef HASH_INITIAL_NUM_BUCKETS_LOG2
#define HASH_INITIAL_NUM_BUCKETS      HOSTS_MAX
#define HASH_INITIAL_NUM_BUCKETS_LOG2 16U
_Static_assert(HOSTS_MAX == 1u << 16, "the log2 of HOSTS_MAX");

/* The recent slots of a host table: 2^18 (4 MiB), about four per host of
 * a full table, so that most hosts are found in one load. */
#define HOST_SLOTS_LOG2 18

void host_table_prefetch_slot(const host_table *t, uint64_t fp)
{
    uint32_t bit = (uint32_t)fp & (MEMBER_BITS - 1);
    if (t->aid.bits)
        __builtin_prefetch(&t->aid.bits[bit / 64]);
    const struct aid_slot *slot = aid_slot_of(&t->aid, fp);
    if (slot)
        __builtin_prefetch(slot);
}

void host_table_prefetch(const host_table *t, uint64_t fp)
{
    const struct aid_slot *slot = aid_slot_of(&t->aid, fp);
    if (slot && slot->fp == fp && slot->e)
        __builtin_prefetch(slot->e);
}

host_head *host_table_get(host_table *t, uint8_t ip_version, const uint8_t addr[16], size_t size,
                          int *added)
{
    return host_table_get_fp(t, ip_version, addr, host_fp(ip_version, addr), size, added);
}

host_head *host_table_get_fp(host_table *t, uint8_t ip_version, const uint8_t addr[16], uint64_t fp,
                             size_t size, int *added)
{
    host_key k = host_key_of(ip_version, addr);
    *added = 0;
    assert(fp == key_fp(&k, sizeof(k)));
    /* The bit first (one line, no entry): a host not in the table is
     * added without walking a bucket, or left out of a full table. */
    int maybe = aid_maybe(&t->aid, fp);
    if (t->n >= HOSTS_MAX && !maybe)
        return NULL;
    struct aid_slot *slot = aid_slot_of(&t->aid, fp);
    if (slot && slot->e && slot->fp == fp &&
        memcmp(&((host_head *)slot->e)->key, &k, sizeof(k)) == 0)
        return slot->e;
    unsigned hashv = (unsigned)(fp >> 32);
    host_head *h = NULL;
    if (maybe)
        HASH_FIND_BYHASHVALUE(hh, t->head, &k, sizeof(k), hashv, h);
    if (!h) {
        if (!t->aid.tried)
            t->aid.slots_log2 = HOST_SLOTS_LOG2;
        if (t->n >= HOSTS_MAX || !(h = slab_new(&t->entries, size)))
            return NULL;
        h->key = k;
        HASH_ADD_BYHASHVALUE(hh, t->head, key, sizeof(h->key), hashv, h);
        if (!h->hh.tbl) { /* uthash could not add it */
            slab_unnew(&t->entries, h, size);
            return NULL;
        }
        t->n++;
        *added = 1;
    }
    AID_NOTE(t->head, t->n, host_head, &t->aid, fp, h);
    return h;
}

void host_table_free(host_table *t)
{
    HASH_CLEAR(hh, t->head); /* the index; the entries are the slab's */
    slab_free(&t->entries);
    aid_free(&t->aid);
    memset(t, 0, sizeof(*t));
}
