/*
 * census_int.h: the seam between census.c (follows the replay's changes,
 * commits each moment) and census_out.c (the CSV over time, the --at
 * tables, the plot). Private to report/.
 *
 * Hosts get an index in order of their first change. At every census
 * moment the hosts whose counts changed since the moment before are
 * appended to a temporary file (host index and counts; a record with host
 * CENSUS_END closes the moment). Only at the end is it known which hosts
 * were the busiest (by peak): census_out.c then reads the file once,
 * keeping every host's counts as of the moment read, and writes the rows of
 * the busiest --census-hosts hosts, `other` for the rest and `*` for all.
 */
#ifndef SYNFIN_CENSUS_INT_H
#define SYNFIN_CENSUS_INT_H

#include "report_int.h"

#define CENSUS_END      UINT32_MAX
#define CENSUS_OVERFLOW HOSTS_MAX /* the host index of those past HOSTS_MAX */
/* Census moments over time written at most (11.5 days at 1 s): a capture
 * spanning more (or a damaged timestamp years ahead) is cut there, said. */
#define CENSUS_MOMENTS_MAX 1000000u

typedef struct census_host {
    host_head head; /* first (hosts.c) */
    uint32_t idx;
    uint32_t open;  /* the sum of n[] */
    uint32_t peak;  /* open's largest value at a census moment */
    uint32_t dirty; /* the moment number it last changed in, + 1 */
    int32_t n[CONN_STATE_COUNT];
} census_host;

/* A listening endpoint seen accepting (LISTEN is counted once each). */
struct census_listener {
    service_key key;
    UT_hash_handle hh;
};

/* A record of the temporary file. */
typedef struct census_rec {
    uint32_t host;
    int32_t n[CONN_STATE_COUNT];
} census_rec;

/* A change that belongs after the next census moment: applied then. */
typedef struct census_pending {
    int64_t ts;
    census_host *h;
    uint8_t from, to; /* to == CONN_LISTEN: a new listener */
} census_pending;

struct report_census {
    report_census_config cfg;
    FILE *csv, *at_out;
    int started;
    int64_t t0;        /* the first packet's time */
    int64_t *at;       /* the --at moments, resolved and sorted at the first packet */
    size_t at_i;       /* the next --at moment: at[at_i] */
    int64_t next;      /* the next census moment: min of the two */
    int64_t last;      /* the last moment committed */
    uint64_t moments;  /* over time, written: the next is t0 + (moments + 1) * interval */
    uint64_t moments0; /* of them, those an earlier run wrote (--state-in) */
    host_table hosts;  /* of census_host */
    census_host **by_idx;
    uint32_t n_hosts;
    census_host overflow;              /* the hosts past HOSTS_MAX, summed */
    struct census_listener *listeners; /* uthash of server endpoints */
    table_aid listen_aid;
    uint32_t n_listeners;
    uint64_t listen_untold;
    int32_t all[CONN_STATE_COUNT];
    census_host **dirty;
    uint32_t n_dirty, cap_dirty;
    census_pending *pending;
    size_t n_pending, cap_pending;
    FILE *tmp;     /* the moments over time (census_out.c reads it back) */
    uint64_t late; /* changes told after their moment was committed */
    int failed;    /* errno of the first write error */
};

/* census_out.c: the --at table of the moment `ts` (now, from the live
 * counts). */
void census_print_at(report_census *rc, int64_t ts, int after_end);

/* census_out.c: the CSV over time (and the plot) from the temporary file. */
int census_write_all(report_census *rc);

/* census.c, for census_state.c: the host of an address (the overflow past
 * HOSTS_MAX), a host changed at the next moment, the --at moments sorted
 * once t0 is known, the next moment set. */
census_host *census_host_of(report_census *rc, uint8_t ip_version, const uint8_t *addr);
void census_mark_dirty(report_census *rc, census_host *h);
void census_sort_at(report_census *rc);
void census_set_next(report_census *rc);
/* census.c: p waits for its moment (the pending list grown); -1 without
 * memory. */
int census_pend(report_census *rc, census_pending p);
/* census.c: a listener (its key) seen accepting: 1 the first time. */
int census_new_listener(report_census *rc, const service_key *k);

/* Address text of a host ("other" for the overflow). */
const char *census_host_text(const census_host *h, char *buf, size_t len);

#endif
