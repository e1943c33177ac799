/*
 * cursor: the only way dissect.c reads packet bytes.
 *
 * A cursor is a window on the captured bytes: a pointer and how many bytes
 * are left. Every getter takes an offset from the cursor's start and checks
 * that the whole field lies inside the window before reading it, the way
 * tcpdump's GET_BE_U_2() checks against ndo_snapend. A getter that would
 * read past the end returns false and leaves *v untouched; the caller turns
 * that into DISSECT_TRUNCATED (or into "options cut by snaplen").
 *
 * Invariant: p points to at least len readable bytes. The bounds test is
 * written as `n <= len && off <= len - n`, which cannot overflow the way
 * `p + off + n <= end` can.
 *
 * Private to dissect/: not part of the public API.
 */
#ifndef SYNFIN_DISSECT_CURSOR_H
#define SYNFIN_DISSECT_CURSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct cursor {
    const uint8_t *p;
    size_t len;
} cursor;

/* True when the n bytes at offset off were captured. */
static inline bool cursor_has(const cursor *c, size_t off, size_t n)
{
    return n <= c->len && off <= c->len - n;
}

static inline bool cursor_get_u8(const cursor *c, size_t off, uint8_t *v)
{
    if (!cursor_has(c, off, 1))
        return false;
    *v = c->p[off];
    return true;
}

static inline bool cursor_get_be16(const cursor *c, size_t off, uint16_t *v)
{
    if (!cursor_has(c, off, 2))
        return false;
    *v = (uint16_t)((unsigned)c->p[off] << 8 | (unsigned)c->p[off + 1]);
    return true;
}

static inline bool cursor_get_be32(const cursor *c, size_t off, uint32_t *v)
{
    if (!cursor_has(c, off, 4))
        return false;
    *v = (uint32_t)c->p[off] << 24 | (uint32_t)c->p[off + 1] << 16 | (uint32_t)c->p[off + 2] << 8 |
         (uint32_t)c->p[off + 3];
    return true;
}

static inline bool cursor_get_le32(const cursor *c, size_t off, uint32_t *v)
{
    if (!cursor_has(c, off, 4))
        return false;
    *v = (uint32_t)c->p[off + 3] << 24 | (uint32_t)c->p[off + 2] << 16 |
         (uint32_t)c->p[off + 1] << 8 | (uint32_t)c->p[off];
    return true;
}

/* Copies n bytes at offset off (addresses). */
static inline bool cursor_get_bytes(const cursor *c, size_t off, uint8_t *dst, size_t n)
{
    if (!cursor_has(c, off, n))
        return false;
    memcpy(dst, c->p + off, n);
    return true;
}

/* A 64-bit digest of the captured bytes from offset off on (none when off
 * is past the end): 8 bytes a step, the tail zero-padded, the length mixed
 * in. Not cryptographic: it tells copies from segments that only look alike. */
static inline uint64_t cursor_digest(const cursor *c, size_t off)
{
    const uint64_t m = UINT64_C(0x9e3779b97f4a7c15);
    size_t n = off < c->len ? c->len - off : 0;
    const uint8_t *p = c->p + (off < c->len ? off : c->len);
    uint64_t h = (uint64_t)n * m;
    for (; n >= 8; p += 8, n -= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ w) * m;
        h ^= h >> 29;
    }
    if (n) {
        uint64_t w = 0; /* byte by byte: a memcpy of a variable length is a call */
        for (size_t i = 0; i < n; i++)
            w |= (uint64_t)p[i] << (8 * i);
        h = (h ^ w) * m;
        h ^= h >> 29;
    }
    return h;
}

/* Moves the start of the window n bytes forward. */
static inline bool cursor_skip(cursor *c, size_t n)
{
    if (n > c->len)
        return false;
    c->p += n;
    c->len -= n;
    return true;
}

/* Shrinks the window to at most n bytes (never grows it). */
static inline void cursor_limit(cursor *c, size_t n)
{
    if (n < c->len)
        c->len = n;
}

#endif
