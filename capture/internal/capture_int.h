/*
 * capture_int.h: what the readers of capture/ share (gunzip.c, pcapfile.c,
 * pcapng.c, and input.c, which drives them). Private to capture/: only
 * capture/'s own sources (and the white-box tests, see tests/CMakeLists.txt)
 * have capture/internal/ on their include path. The backends include this
 * header only; input.c includes capture.h and this.
 */
#ifndef SYNFIN_CAPTURE_INT_H
#define SYNFIN_CAPTURE_INT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "capture.h" /* input_packet, input_status */

/* ---- gunzip.c ---- */

/* Bytes from a descriptor, inflated when they start as gzip. */
typedef struct bytesrc bytesrc;

/* Takes fd (closed by bytesrc_close). NULL when out of memory. */
bytesrc *bytesrc_open(int fd);
/* Bytes read, 0 at the end, -1 on an error (bytesrc_error says which). */
long bytesrc_read(bytesrc *s, void *buf, size_t len);
const char *bytesrc_error(const bytesrc *s);
/* Bytes of the descriptor consumed so far (compressed bytes for gzip). */
uint64_t bytesrc_offset(const bytesrc *s);
void bytesrc_close(bytesrc *s);

/* ---- shared by the readers ---- */

/* 16- and 32-bit fields of a capture written in the other byte order than
 * ours when `swapped`. */
static inline uint16_t input_get16(const uint8_t *p, int swapped)
{
    uint16_t v;
    memcpy(&v, p, 2);
    return swapped ? __builtin_bswap16(v) : v;
}

static inline uint32_t input_get32(const uint8_t *p, int swapped)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return swapped ? __builtin_bswap32(v) : v;
}

/* ---- pcapfile.c ---- */

typedef struct pcapfile_reader pcapfile_reader;

/* Raw byte source: returns bytes read, 0 at the end, -1 on error. */
typedef long (*capture_read_fn)(void *src, void *buf, size_t len);

/* Reads and checks the 24-byte file header (its magic included). NULL on
 * failure, with what is wrong (not naming the file) in err. */
pcapfile_reader *pcapfile_open(capture_read_fn read, void *src, char *err, size_t errlen);
/* Same contract as input_next; the data stays valid until the next call. */
input_status pcapfile_next(pcapfile_reader *r, input_packet *pkt);
const char *pcapfile_error(const pcapfile_reader *r);
int pcapfile_precision(const pcapfile_reader *r);
/* Bytes of the capture consumed so far. */
uint64_t pcapfile_offset(const pcapfile_reader *r);
void pcapfile_close(pcapfile_reader *r);

/* ---- pcapng.c ---- */

typedef struct pcapng_reader pcapng_reader;

pcapng_reader *pcapng_open(capture_read_fn read, void *src);
/* Same contract as input_next; errors go to pcapng_error(). */
input_status pcapng_next(pcapng_reader *r, input_packet *pkt);
const char *pcapng_error(const pcapng_reader *r);
int pcapng_precision(const pcapng_reader *r);
void pcapng_close(pcapng_reader *r);

/* Precision (6 or 9) from the first bytes of a pcapng file; 6 when unsure. */
int pcapng_probe_precision(const uint8_t *buf, size_t len);

#endif
