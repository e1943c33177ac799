/*
 * conntab.c: element pool and open-addressing index (see conntab.h).
 *
 * Invariants: the index holds at most 70% of its slots (linear probing
 * stays short); every probe sequence is unbroken, which removal keeps by
 * shifting later entries back (no tombstones).
 */
#include "conntab.h"

#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define INITIAL_SLOTS 1024u
#define INITIAL_POOL  256u

/* n empty slots (n a power of two, at least 8), written now, on whole cache
 * lines: eight slots to a line, as conntab_prefetch_elem scans them.
 * Written, not calloc()ed: lookups and place() read a slot before they
 * write it, and a fresh page read first is the shared zero page, the write
 * after it a second fault that flushes the other threads' TLBs (an
 * interrupt to each CPU; in a virtual machine, an exit to the host). */
static uint64_t *new_slots(uint32_t n)
{
    uint64_t *slots = aligned_alloc(64, (size_t)n * sizeof(*slots));
    if (slots)
        memset(slots, 0, (size_t)n * sizeof(*slots));
    return slots;
}

conntab *conntab_new(size_t elem_size, size_t key_len, size_t cold_size, size_t align)
{
    conntab *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->elem_size = elem_size;
    if (elem_size > 1 && (elem_size & (elem_size - 1)) == 0)
        t->elem_shift = (unsigned)__builtin_ctzll(elem_size);
    t->key_len = key_len;
    t->cold_size = cold_size;
    t->align = align > 1 ? align : 1;
    t->free_head = CONNTAB_NONE;
    t->slots = new_slots(INITIAL_SLOTS);
    if (!t->slots) {
        free(t);
        return NULL;
    }
    t->mask = INITIAL_SLOTS - 1;
    return t;
}

void conntab_free(conntab *t)
{
    if (!t)
        return;
    free(t->pool_mem);
    free(t->cold);
    free(t->slots);
    free(t);
}

/* A shift, not a division, for the usual power-of-two element size: it runs
 * for most segments that touch an instance's cold record. */

uint32_t conntab_high_water(const conntab *t)
{
    return t->pool_used;
}

uint32_t conntab_count(const conntab *t)
{
    return t->count;
}

size_t conntab_slots(const conntab *t)
{
    return (size_t)t->mask + 1;
}

void conntab_clear(conntab *t)
{
    memset(t->slots, 0, ((size_t)t->mask + 1) * sizeof(*t->slots));
    t->count = 0;
    t->pool_used = 0;
    t->free_head = CONNTAB_NONE;
}

/* Room for cap elements. Large blocks are mremap()ed by glibc: no copy,
 * and pages beyond the high-water mark are never touched. The pool keeps
 * its alignment inside the block; realloc may return a block whose
 * misalignment differs (a small block moved), and the elements then move
 * to the new aligned start. */
static int grow_pool(conntab *t, uint32_t cap)
{
    size_t used = (size_t)t->pool_used * t->elem_size;
    size_t old_shift = t->pool_mem ? (size_t)(t->pool - t->pool_mem) : 0;
    unsigned char *mem = realloc(t->pool_mem, (size_t)cap * t->elem_size + t->align - 1);
    if (!mem)
        return -1;
    size_t shift = (t->align - (uintptr_t)mem % t->align) % t->align;
    if (shift != old_shift)
        memmove(mem + shift, mem + old_shift, used);
    t->pool_mem = mem;
    t->pool = mem + shift;
    if (t->cold_size) {
        unsigned char *c = realloc(t->cold, (size_t)cap * t->cold_size);
        if (!c)
            return -1; /* the pool grew, pool_cap did not: consistent */
        t->cold = c;
    }
    t->pool_cap = cap;
    return 0;
}

/* Faults in, in one system call, the pages of the next POPULATE_STEP
 * elements of the pool and of the cold records, before they are first
 * written: at archive scale a page fault per new page was a visible share of
 * the replay's kernel time (bench/BENCHMARKS.md, e1fda3b).
 * Memory still follows the elements in use, give or take a step. A hint:
 * without MADV_POPULATE_WRITE (Linux < 5.14) the pages fault in one by one
 * as before. */
#define POPULATE_STEP 8192u

static void populate(void *start, size_t len)
{
#ifdef MADV_POPULATE_WRITE
    long ps = sysconf(_SC_PAGESIZE); /* once every POPULATE_STEP elements */
    uintptr_t page = ps > 0 ? (uintptr_t)ps : 4096;
    uintptr_t a = ((uintptr_t)start + page - 1) & ~(page - 1);
    uintptr_t b = ((uintptr_t)start + len) & ~(page - 1);
    if (b > a)
        (void)madvise((void *)a, b - a, MADV_POPULATE_WRITE);
#else
    (void)start;
    (void)len;
#endif
}

static void populate_ahead(conntab *t)
{
    uint32_t n = t->pool_cap - t->pool_used;
    if (n > POPULATE_STEP)
        n = POPULATE_STEP;
    populate(conntab_at(t, t->pool_used), (size_t)n * t->elem_size);
    if (t->cold_size)
        populate(conntab_cold(t, t->pool_used), (size_t)n * t->cold_size);
}

uint32_t conntab_free_head(const conntab *t)
{
    return t->free_head;
}

int conntab_restore(conntab *t, uint32_t high_water, uint32_t free_head)
{
    uint32_t cap = t->pool_cap ? t->pool_cap : INITIAL_POOL;
    while (cap < high_water) {
        if (cap * 2 <= cap || cap * 2 >= CONNTAB_NONE)
            return -1;
        cap *= 2;
    }
    if (cap > t->pool_cap && grow_pool(t, cap) < 0)
        return -1;
    t->pool_used = high_water;
    t->free_head = free_head;
    return 0;
}

uint32_t conntab_alloc(conntab *t)
{
    uint32_t i;
    if (t->free_head != CONNTAB_NONE) {
        i = t->free_head;
        memcpy(&t->free_head, conntab_at(t, i), sizeof(t->free_head));
    } else {
        if (t->pool_used == t->pool_cap) {
            uint32_t cap = t->pool_cap ? t->pool_cap * 2 : INITIAL_POOL;
            if (cap <= t->pool_cap || cap >= CONNTAB_NONE)
                return CONNTAB_NONE;
            if (grow_pool(t, cap) < 0)
                return CONNTAB_NONE;
        }
        if (t->pool_used % POPULATE_STEP == 0)
            populate_ahead(t);
        i = t->pool_used++;
    }
    memset(conntab_at(t, i), 0, t->elem_size);
    if (t->cold_size)
        memset(conntab_cold(t, i), 0, t->cold_size);
    return i;
}

void conntab_release(conntab *t, uint32_t i)
{
    memcpy(conntab_at(t, i), &t->free_head, sizeof(t->free_head));
    t->free_head = i;
}

/* memcmp() == 0 without a library call for the usual 8-byte multiples. */
static inline int key_equal(const void *a, const void *b, size_t len)
{
    const unsigned char *p = a, *q = b;
    uint64_t diff = 0;
    for (; len >= 8; p += 8, q += 8, len -= 8) {
        uint64_t x, y;
        memcpy(&x, p, 8);
        memcpy(&y, q, 8);
        diff |= x ^ y;
    }
    return diff == 0 && (len == 0 || memcmp(p, q, len) == 0);
}

uint32_t conntab_find(const conntab *t, const void *key, uint32_t tag)
{
    for (uint32_t pos = tag & t->mask;; pos = (pos + 1) & t->mask) {
        uint64_t s = t->slots[pos];
        if (!s)
            return CONNTAB_NONE;
        if ((uint32_t)(s >> 32) == tag) {
            uint32_t i = (uint32_t)s - 1;
            if (key_equal(conntab_at(t, i), key, t->key_len))
                return i;
        }
    }
}

static void place(uint64_t *slots, uint32_t mask, uint64_t s)
{
    uint32_t pos = (uint32_t)(s >> 32) & mask;
    while (slots[pos])
        pos = (pos + 1) & mask;
    slots[pos] = s;
}

static int grow(conntab *t)
{
    uint32_t n = (t->mask + 1) * 2;
    if (n == 0)
        return -1;
    uint64_t *slots = new_slots(n);
    if (!slots)
        return -1;
    for (uint32_t pos = 0; pos <= t->mask; pos++)
        if (t->slots[pos])
            place(slots, n - 1, t->slots[pos]);
    free(t->slots);
    t->slots = slots;
    t->mask = n - 1;
    return 0;
}

int conntab_insert(conntab *t, uint32_t i, uint32_t tag)
{
    if ((uint64_t)(t->count + 1) * 10 > (uint64_t)(t->mask + 1) * 7 && grow(t) < 0)
        return -1;
    place(t->slots, t->mask, (uint64_t)tag << 32 | (uint64_t)(i + 1));
    t->count++;
    return 0;
}

void conntab_remove(conntab *t, uint32_t i, uint32_t tag)
{
    uint64_t want = (uint64_t)tag << 32 | (uint64_t)(i + 1);
    uint32_t pos = tag & t->mask;
    while (t->slots[pos] != want) {
        if (!t->slots[pos])
            return; /* not indexed */
        pos = (pos + 1) & t->mask;
    }
    /* Backward-shift deletion: move later entries of the run into the hole
     * when their home position does not lie cyclically in (hole, entry]. */
    uint32_t hole = pos;
    for (uint32_t j = (hole + 1) & t->mask; t->slots[j]; j = (j + 1) & t->mask) {
        uint32_t home = (uint32_t)(t->slots[j] >> 32) & t->mask;
        int stays = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j);
        if (!stays) {
            t->slots[hole] = t->slots[j];
            hole = j;
        }
    }
    t->slots[hole] = 0;
    t->count--;
}
