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
    int summary, stats, header, quiet;
    int no_tunnels; /* --no-tunnels: dissect_packet, not dissect_packet_ex */
} options;

/* Parses the command line into *o (o->files and o->servers are allocated:
 * free them).
 * Returns -1 to go on, else an exit code (help and version print and
 * return EXIT_OK; usage errors print a hint and return EXIT_USAGE).
 * getopt's state is the caller's (synfin_main resets it). */
int options_parse(int argc, char **argv, options *o);

#endif
