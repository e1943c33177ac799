/*
 * conntab: storage for the flow table. Private to flows/.
 *
 * - A pool of fixed-size elements addressed by 32-bit indices, with a free
 *   list: no malloc per connection, and freed elements are reused first, so
 *   the memory touched follows the peak number alive.
 * - An open-addressing index (linear probing) from a key to an element.
 *   A slot is 8 bytes: the key's 32-bit hash ("tag") and the element index.
 *   The slot position is derived from the tag, so growing the index and
 *   removing from it never touch the elements themselves; only a lookup
 *   whose tag matches compares the key, which sits at the start of the
 *   element.
 *
 * Why not uthash: its handle is 56 bytes per element and its chained buckets
 * cost a cache miss per element visited; at archive scale (hundreds of
 * thousands of TIME_WAIT instances) that dominated the run time and made the
 * memory target unreachable (see bench/BENCHMARKS.md).
 *
 * - Optionally a second, "cold" record per element in a parallel array at
 *   the same index, for the fields a caller rarely touches: the elements
 *   themselves stay small and aligned (a hot 128-byte element on a 128-byte
 *   boundary is one pair of cache lines).
 *
 * Element pointers are valid until the next conntab_alloc (the pool may
 * move); indices are stable.
 */
#ifndef SYNFIN_CONNTAB_H
#define SYNFIN_CONNTAB_H

#include <stddef.h>
#include <stdint.h>

#define CONNTAB_NONE UINT32_MAX

typedef struct conntab conntab;

/*
 * The layout is here only so that the accessors a segment calls (element,
 * cold record, index of an element, prefetch) are inline: behind an opaque
 * pointer, even with link-time optimisation, the replay ran about 30 more
 * instructions a segment (bench/BENCHMARKS.md). It is conntab.c's own:
 * callers use the functions, never a field (scripts/check-layout.sh fails
 * on a `tab->field` outside conntab).
 */
struct conntab {
    unsigned char *pool; /* aligned to `align` inside pool_mem */
    unsigned char *pool_mem;
    unsigned char *cold; /* cold_size bytes per element, same index */
    size_t elem_size, cold_size, align;
    unsigned elem_shift; /* log2(elem_size) when a power of two above 1, else 0 */
    size_t key_len;
    uint32_t pool_cap;  /* elements allocated */
    uint32_t pool_used; /* high-water mark: elements ever handed out */
    uint32_t free_head; /* free list, linked through the elements' first 4 bytes */
    uint64_t *slots;    /* (uint64_t)tag << 32 | (index + 1); 0 = empty */
    uint32_t mask;      /* slots - 1 */
    uint32_t count;     /* elements in the index */
};

/* Element i, its cold record, and the index of an element pointer. */
static inline void *conntab_at(const conntab *t, uint32_t i)
{
    return t->pool + (size_t)i * t->elem_size;
}

static inline void *conntab_cold(const conntab *t, uint32_t i)
{
    return t->cold + (size_t)i * t->cold_size;
}

static inline uint32_t conntab_index(const conntab *t, const void *elem)
{
    size_t off = (size_t)((const unsigned char *)elem - t->pool);
    return (uint32_t)(t->elem_shift ? off >> t->elem_shift : off / t->elem_size);
}

/* Hints that a lookup of `tag` is coming: the index slot, then the element
 * the slot with that tag holds now (both lines of an aligned 128-byte
 * element: the second is not fetched along reliably) and its cold record.
 * No effect on results. */
static inline void conntab_prefetch_slot(const conntab *t, uint32_t tag)
{
    __builtin_prefetch(&t->slots[tag & t->mask]);
}

static inline void conntab_prefetch_elem(const conntab *t, uint32_t tag)
{
    /* The slot with the tag, not the home slot: at the index's usual load
     * (up to 0.7, linear probing) four keys in ten sit past their home,
     * and the home slot's element is another connection. The probe stays
     * in the slot's cache line (the one conntab_prefetch_slot fetched). */
    uint32_t pos = tag & t->mask;
    uint32_t end = (pos | 7u) & t->mask; /* 8 slots to a line */
    for (;; pos = (pos + 1) & t->mask) {
        uint64_t slot = t->slots[pos];
        if (!slot)
            return; /* not in the table: a new instance */
        if ((uint32_t)(slot >> 32) == tag) {
            if ((uint32_t)(slot - 1) < t->pool_used) {
                const unsigned char *e = t->pool + (size_t)((uint32_t)slot - 1) * t->elem_size;
                /* Both unconditionally: GCC 12 drops the two prefetches
                 * when the second one sits under an `if`
                 * (bench/BENCHMARKS.md). */
                __builtin_prefetch(e);
                __builtin_prefetch(e + 64);
                /* And its cold record, which most segments read too (a
                 * SYN, FIN or RST, the handshake's ACK, a closing
                 * instance's deadline, an idle gap): every line it spans. */
                if (t->cold_size) {
                    const unsigned char *k = conntab_cold(t, (uint32_t)slot - 1);
                    __builtin_prefetch(k);
                    __builtin_prefetch(k + 64);
                    __builtin_prefetch(k + t->cold_size - 1);
                }
            }
            return;
        }
        if (pos == end)
            return; /* further on: another line */
    }
}

/* A new table, or NULL when out of memory. Elements start with a key of
 * key_len bytes compared with memcmp. cold_size: bytes of the cold record
 * (0: none). align: the pool's alignment, a power of two (0 or 1: malloc's).
 * Free with conntab_free. */
conntab *conntab_new(size_t elem_size, size_t key_len, size_t cold_size, size_t align);
void conntab_free(conntab *t);

/* Elements ever handed out since the last clear: every element in use has
 * an index below it (a walk in pool order visits 0 .. high_water - 1 and
 * skips the released ones, which the caller marks). */
uint32_t conntab_high_water(const conntab *t);

/* Elements in the index, and the index's slots (for tests and load checks). */
uint32_t conntab_count(const conntab *t);
size_t conntab_slots(const conntab *t);

/* Forgets every element and index entry at once (memory is kept). */
void conntab_clear(conntab *t);
/* The head of the free list (CONNTAB_NONE: empty), for a table saved as it
 * is; conntab_restore, on a cleared table, makes elements 0 .. high_water-1
 * handed out (their contents are the caller's to write back, the free ones'
 * first 4 bytes linking the free list from free_head as before) and indexes
 * none. Returns 0, or -1 when out of memory. */
uint32_t conntab_free_head(const conntab *t);
int conntab_restore(conntab *t, uint32_t high_water, uint32_t free_head);

/* A zeroed element (and cold record), or CONNTAB_NONE when out of memory. */
uint32_t conntab_alloc(conntab *t);
void conntab_release(conntab *t, uint32_t i);

/* The element whose key equals `key` (hash `tag`), or CONNTAB_NONE. */
uint32_t conntab_find(const conntab *t, const void *key, uint32_t tag);

/* Indexes element i under `tag`. Returns 0, or -1 when out of memory. */
int conntab_insert(conntab *t, uint32_t i, uint32_t tag);

/* Removes element i (indexed under `tag`) from the index. */
void conntab_remove(conntab *t, uint32_t i, uint32_t tag);

#endif
