/*
 * options: synfin's command line, parsed. Private to analyzer/.
 */
#ifndef SYNFIN_OPTIONS_H
#define SYNFIN_OPTIONS_H

#include <stddef.h>

#include "flows.h"
#include "report.h"

/* The exit codes (README, --help). */
enum { EXIT_OK = 0, EXIT_DAMAGED = 1, EXIT_USAGE = 2, EXIT_NOTHING = 3 };

typedef struct options {
    const char *output;
    const char *filter;
    const char **files;
    size_t n_files;
    flows_server *servers; /* --server, as many as there were: flows.servers */
    flows_config flows;
    const char *findings;        /* --findings FILE */
    report_findings_config find; /* --port-range, --max-tw-buckets */
    const char *census;          /* --census FILE */
    report_census_config cen;    /* --interval, --census-hosts, --at, --plot, --plot-host */
    const char *state_in;        /* --state-in FILE */
    const char *state_out;       /* --state-out FILE */
    report_fmt format;           /* --format, or by -o FILE's extension */
    int format_given;
    int census_db, findings_db; /* --census / --findings name the -o database: tables in it */
    int summary, stats, header, quiet;
    uint32_t shard_k, shard_n; /* --shard K/N; shard_n 0: the whole capture */
    int keep_order;            /* --keep-order: the inputs as given, not in time order */
    uint16_t community_seed;   /* --community-id-seed */
    int no_tunnels;            /* --no-tunnels: dissect_packet, not dissect_packet_ex */
} options;

/* Parses the command line into *o (o->files and o->servers are allocated:
 * free them).
 * Returns -1 to go on, else an exit code (help and version print and
 * return EXIT_OK; usage errors print a hint and return EXIT_USAGE).
 * getopt's state is the caller's (synfin_main resets it). */
int options_parse(int argc, char **argv, options *o);

/* help.c: prints --help on standard output; returns EXIT_OK. */
int print_help(void);

#endif
