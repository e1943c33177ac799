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

/* Opaque: the pool, the cold array and the index are conntab.c's alone. */
typedef struct conntab conntab;

/* A new table, or NULL when out of memory. Elements start with a key of
 * key_len bytes compared with memcmp. cold_size: bytes of the cold record
 * (0: none). align: the pool's alignment, a power of two (0 or 1: malloc's).
 * Free with conntab_free. */
conntab *conntab_new(size_t elem_size, size_t key_len, size_t cold_size, size_t align);
void conntab_free(conntab *t);

/* Element i, its cold record, and the index of an element pointer. Called
 * for every segment: small enough that link-time optimisation inlines
 * them into flows/. */
void *conntab_at(const conntab *t, uint32_t i);
void *conntab_cold(const conntab *t, uint32_t i);
uint32_t conntab_index(const conntab *t, const void *elem);

/* Elements ever handed out since the last clear: every element in use has
 * an index below it (a walk in pool order visits 0 .. high_water - 1 and
 * skips the released ones, which the caller marks). */
uint32_t conntab_high_water(const conntab *t);

/* Elements in the index, and the index's slots (for tests and load checks). */
uint32_t conntab_count(const conntab *t);
size_t conntab_slots(const conntab *t);

/* Hints that a lookup of `tag` is coming: the index slot, and the element
 * that slot holds now (its first two cache lines). No effect on results. */
void conntab_prefetch_slot(const conntab *t, uint32_t tag);
void conntab_prefetch_elem(const conntab *t, uint32_t tag);

/* Forgets every element and index entry at once (memory is kept). */
void conntab_clear(conntab *t);

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
