/*
 * capture_int.h: what the readers of capture/ share (codecs.c, bytesrc.c,
 * pcapfile.c, pcapng.c, and input.c, which drives them). Private to capture/: only
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

/* ---- codecs.c ---- */

typedef enum codec_kind {
    CODEC_NONE,
    CODEC_GZIP,
    CODEC_ZSTD,
    CODEC_XZ,
    CODEC_BZIP2,
    CODEC_LZ4,
} codec_kind;

#define CODEC_MAGIC_LEN 6 /* bytes codec_detect needs to tell them all (xz's) */

/* The compression the first bytes m[0, len) announce; CODEC_NONE for none. */
codec_kind codec_detect(const uint8_t *m, size_t len);
/* "gzip", "zstd", "xz", "bzip2", "lz4". */
const char *codec_name(codec_kind k);

/* A streaming decoder of one kind. */
typedef struct codec codec;

typedef enum codec_step {
    CODEC_MORE,  /* go on: more input, or more room */
    CODEC_END,   /* a stream (member, frame) ended here: codec_restart for the next */
    CODEC_ERROR, /* corrupt data: codec_error says how */
} codec_step;

/* NULL when out of memory. Free with codec_free. */
codec *codec_new(codec_kind k);
/* Decodes in[*in_pos, in_len) into out[*out_pos, out_len), advancing both.
 * Running out of input is CODEC_MORE: whether the file was cut short is
 * the caller's to judge. */
codec_step codec_run(codec *c, uint8_t *in, size_t in_len, size_t *in_pos, uint8_t *out,
                     size_t out_len, size_t *out_pos);
/* Ready for the next stream after CODEC_END. 0, or -1 when out of memory. */
int codec_restart(codec *c);
const char *codec_error(const codec *c);
void codec_free(codec *c);

/* ---- bytesrc.c ---- */

/* Bytes from a descriptor, decoded when they start as one of codecs.c's
 * formats. */
typedef struct bytesrc bytesrc;

/* Takes fd (closed by bytesrc_close). NULL when out of memory. */
bytesrc *bytesrc_open(int fd);
/* Decode in place, on the caller's thread, before the first read (for a
 * probe that reads only the first packet). */
void bytesrc_inline(bytesrc *s);
/* The compression's name ("zstd"), or NULL when the bytes pass through. */
const char *bytesrc_format(const bytesrc *s);
/* Bytes read, 0 at the end, -1 on an error (bytesrc_error says which). */
long bytesrc_read(bytesrc *s, void *buf, size_t len);
const char *bytesrc_error(const bytesrc *s);
/* Bytes of the descriptor consumed so far (compressed bytes when decoding). */
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
