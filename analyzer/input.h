/*
 * input: one capture file (or standard input) as a stream of packets.
 *
 * gzip-compressed captures are recognised by their magic bytes, not their
 * name (gunzip.c). Classic pcap (µs and ns, both byte orders) is read by
 * pcapfile.c, which hands records out in place from 128 KiB blocks (libpcap's
 * copying reader was most of the reading time); pcapng is read by our own
 * block reader (pcapng.c), because libpcap 1.10 cannot read a pcapng file
 * whose interfaces have different link types. libpcap still compiles and
 * runs the BPF filters.
 *
 * Private to analyzer/.
 */
#ifndef SYNFIN_INPUT_H
#define SYNFIN_INPUT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct input_packet {
    int64_t ts;        /* ns since the epoch */
    uint32_t linktype; /* LINKTYPE_ / DLT_ number, as dissect_packet takes it */
    uint32_t caplen;
    uint32_t wirelen;
    const uint8_t *data; /* valid until the next input_next call */
} input_packet;

typedef struct synfin_input synfin_input;

typedef enum input_status {
    INPUT_PACKET = 1,   /* *pkt is filled */
    INPUT_END = 0,      /* end of file */
    INPUT_DAMAGED = -1, /* the file is damaged here: input_error() says how */
} input_status;

/* Opens `path` ("-" = standard input). On failure returns NULL and writes
 * a message that names the file into err. Close with input_close. */
synfin_input *input_open(const char *path, char *err, size_t errlen);

input_status input_next(synfin_input *in, input_packet *pkt);

/* After INPUT_DAMAGED: what is wrong, naming the file and packet number. */
const char *input_error(const synfin_input *in);

/* Records read so far (the number of the last packet returned). */
uint64_t input_packets(const synfin_input *in);

/* Bytes consumed of the (possibly compressed) file so far. */
uint64_t input_offset(const synfin_input *in);

/* 9 when the file's timestamps are finer than microseconds, else 6. */
int input_precision(const synfin_input *in);

void input_close(synfin_input *in);

/* Reads the first bytes of `path` to tell its timestamp precision (6 or 9)
 * without consuming it; -1 when it cannot be opened or is no capture.
 * Not for "-" (standard input can only be read once). */
int input_probe_precision(const char *path);

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
