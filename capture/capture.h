/*
 * capture: capture files (or standard input) as a stream of packets: one
 * (input_*) or several read as one in time order (input_set_*, merge.c).
 * The module's only public header.
 *
 * Captures compressed with gzip, zstd, xz, bzip2 or lz4 are recognised by
 * their magic bytes, not their name (codecs.c, decoded on a thread of
 * their own by bytesrc.c). Classic pcap (µs and ns, both byte orders) is read by
 * pcapfile.c, which hands records out in place from 128 KiB blocks (libpcap's
 * copying reader was most of the reading time); pcapng is read by our own
 * block reader (pcapng.c), because libpcap 1.10 cannot read a pcapng file
 * whose interfaces have different link types. libpcap still compiles and
 * runs the BPF filters (in analyzer/).
 *
 * Depends on nothing else of synfin: link types are handed on as the file's
 * LINKTYPE_ numbers, which dissect_packet takes as they are.
 */
#ifndef SYNFIN_CAPTURE_H
#define SYNFIN_CAPTURE_H

#include <stddef.h>
#include <stdint.h>

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
    INPUT_WARNING = 2,  /* input_set_next only: a warning, then reading goes on */
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

/* The first packet's time of `path` in *first_ts: 1, or 0 when it has no
 * packet (a valid, empty capture), -1 when it cannot be opened or is
 * damaged before its first packet. Compressed files are decoded only as far
 * as that packet, on the caller's thread. Not for "-" or pipes (read once). */
int input_probe(const char *path, int64_t *first_ts);

/* ---- several inputs as one stream (merge.c) ---------------------------- */

typedef struct input_set input_set;

/* The inputs paths[0, n) (not copied: they must outlive the set) as one
 * stream. In time order (keep_order 0): the files sorted by their first
 * packet's time (input_probe), files that overlap in time merged packet by
 * packet (a k-way merge: one packet held per input open at once, a file
 * opened when the stream reaches its first packet); a file's own packets
 * stay in its order. Standard input and other inputs that can be read only
 * once (pipes) are opened here and placed by the first packet read. With
 * keep_order, read one after another as given. NULL when out of memory. */
input_set *input_set_new(const char *const *paths, size_t n, int keep_order);

/* The next packet of the stream: INPUT_PACKET (*pkt, valid until the next
 * call; *which = its input's index in paths); INPUT_DAMAGED when an input
 * cannot be opened or is damaged (input_set_error says which and how,
 * naming the file and packet; the others are still read); INPUT_WARNING
 * for a packet more than a second before the latest packet read, once per
 * input (the packet comes at the next call); INPUT_END. */
input_status input_set_next(input_set *s, input_packet *pkt, size_t *which);

/* The message of the last INPUT_DAMAGED or INPUT_WARNING. */
const char *input_set_error(const input_set *s);

/* The index in paths of the k-th input in reading order (k < n): the order
 * of --stats. */
size_t input_set_order(const input_set *s, size_t k);

/* Inputs opened as captures so far. */
size_t input_set_opened(const input_set *s);

/* Bytes consumed of all inputs so far (compressed bytes when compressed). */
uint64_t input_set_offset(const input_set *s);

/* The precision (6 or 9) of standard input when it is one of the inputs
 * (opened by input_set_new), else 0. */
int input_set_stdin_precision(const input_set *s);

void input_set_free(input_set *s);

#endif
