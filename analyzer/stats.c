/*
 * stats.c: the packet accounting per input (stats.h).
 */
#include "stats.h"

#include <string.h>

void count_encaps(input_stats *st, uint32_t encaps, int tcp)
{
    for (; encaps; encaps &= encaps - 1) {
        int e = __builtin_ctz(encaps);
        st->encap[e]++;
        st->encap_tcp[e] += (uint64_t)tcp;
    }
}

void add_stats(input_stats *to, const input_stats *from)
{
    for (int i = 0; i < DISSECT_ENC_COUNT; i++) {
        to->encap[i] += from->encap[i];
        to->encap_tcp[i] += from->encap_tcp[i];
    }
    to->read += from->read;
    to->tcp += from->tcp;
    to->filtered += from->filtered;
    for (int i = 0; i < DISSECT_RESULT_COUNT; i++)
        to->skipped[i] += from->skipped[i];
}

static void print_stats_row(FILE *f, int width, const char *name, const input_stats *s)
{
    uint64_t skipped = s->filtered;
    for (int i = 1; i < DISSECT_RESULT_COUNT; i++)
        skipped += s->skipped[i];
    fprintf(f, "%-*s %10llu %10llu %10llu", width, name, (unsigned long long)s->read,
            (unsigned long long)s->tcp, (unsigned long long)skipped);
    for (int i = 1; i < DISSECT_RESULT_COUNT; i++)
        fprintf(f, " %*llu", (int)strlen(dissect_result_name((dissect_result)i)),
                (unsigned long long)s->skipped[i]);
    fprintf(f, " %8llu\n", (unsigned long long)s->filtered);
}

/* Packet accounting: per input and in total; read = tcp + skipped. */
void print_stats(FILE *f, const char *const *files, size_t n, const size_t *order,
                 const input_stats *per_input, const input_stats *total)
{
    int width = 5;
    for (size_t i = 0; i < n; i++)
        if ((int)strlen(files[i]) > width)
            width = (int)strlen(files[i]);
    fprintf(f, "%-*s %10s %10s %10s", width, "input", "read", "tcp", "skipped");
    for (int i = 1; i < DISSECT_RESULT_COUNT; i++)
        fprintf(f, " %s", dissect_result_name((dissect_result)i));
    fprintf(f, " %8s\n", "filtered");
    for (size_t k = 0; k < n; k++) {
        size_t i = order ? order[k] : k; /* the order they were read in */
        print_stats_row(f, width, files[i], &per_input[i]);
    }
    print_stats_row(f, width, "total", total);
    /* Then, in total, a line per encapsulation seen (packets through it, of
     * them TCP segments; a packet through several counts for each). */
    int first = 1;
    for (int i = 0; i < DISSECT_ENC_COUNT; i++) {
        if (!total->encap[i])
            continue;
        if (first)
            fprintf(f, "%-*s %10s %10s\n", width, "encapsulation", "packets", "tcp");
        first = 0;
        fprintf(f, "%-*s %10llu %10llu\n", width, dissect_encap_name((dissect_encap)i),
                (unsigned long long)total->encap[i], (unsigned long long)total->encap_tcp[i]);
    }
}
