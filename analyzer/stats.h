/*
 * stats.h: the packet accounting per input (--stats, --summary's packets).
 * Private to analyzer/.
 */
#ifndef SYNFIN_STATS_H
#define SYNFIN_STATS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "dissect.h"

typedef struct input_stats {
    uint64_t read, tcp, filtered;
    uint64_t skipped[DISSECT_RESULT_COUNT];
    /* Packets through each encapsulation, and of them the TCP segments. */
    uint64_t encap[DISSECT_ENC_COUNT], encap_tcp[DISSECT_ENC_COUNT];
} input_stats;

/* A packet through the encapsulations `encaps` (bits of dissect_encap);
 * tcp: it was a TCP segment. */
void count_encaps(input_stats *st, uint32_t encaps, int tcp);
void add_stats(input_stats *to, const input_stats *from);
/* Per input in the order read (order[k]: the k-th read; NULL: as given),
 * the total, then a line per encapsulation seen; read = tcp + skipped. */
void print_stats(FILE *f, const char *const *files, size_t n, const size_t *order,
                 const input_stats *per_input, const input_stats *total);

#endif
