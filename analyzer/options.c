/*
 * options.c: the command line (usage text, option table, numbers and
 * seconds parsed with their bounds).
 */
#include "options.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <pcap/pcap.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#ifndef SYNFIN_VERSION
#define SYNFIN_VERSION "dev"
#endif

/* Prints "synfin: OPT: 'ARG' WHAT" and the hint; returns EXIT_USAGE. */
static int usage_error(const char *opt, const char *arg, const char *what)
{
    if (opt)
        fprintf(stderr, "synfin: %s: '%s' %s\n", opt, arg, what);
    else
        fprintf(stderr, "synfin: %s\n", what);
    fprintf(stderr, "Try 'synfin --help' for more information.\n");
    return EXIT_USAGE;
}

/* Parses a non-negative decimal number of seconds (fractions allowed) into
 * ns. Returns 0 or -1. */
static int parse_seconds(const char *s, int64_t max_s, int64_t *ns)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= 0) || v > (double)max_s)
        return -1;
    *ns = (int64_t)(v * 1e9 + 0.5);
    return 0;
}

static int parse_count(const char *s, size_t *out)
{
    char *end;
    errno = 0;
    if (*s == '-' || *s == '+')
        return -1;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || v > SIZE_MAX / 2)
        return -1;
    *out = (size_t)v;
    return 0;
}

enum {
    OPT_MSL = 256,
    OPT_IDLE,
    OPT_MAX_FLOWS,
    OPT_SYN_TIMEOUT,
    OPT_FIN_TIMEOUT,
    OPT_SYNACK_TIMEOUT,
    OPT_SERVER,
    OPT_SUMMARY,
    OPT_STATS,
    OPT_NO_HEADER,
    OPT_NO_TUNNELS,
    OPT_FINDINGS,
    OPT_PORT_RANGE,
    OPT_MAX_TW_BUCKETS,
    OPT_CENSUS, /* the census's options: OPT_CENSUS .. OPT_PLOT_HOST */
    OPT_INTERVAL,
    OPT_CENSUS_HOSTS,
    OPT_AT,
    OPT_PLOT,
    OPT_PLOT_HOST
};

/* The findings on waiting (issue 13), apart from the rest. */
enum { OPT_KEEPALIVE_TIME = 512, OPT_CLOSE_WAIT };

/* Archives (issue 14). */
enum { OPT_SHARD = 768, OPT_STATE_IN, OPT_STATE_OUT, OPT_COMMUNITY_SEED };
/* How several inputs are read (issue 14). */
enum { OPT_KEEP_ORDER = 640 };

/* Output formats (issue 15). */
enum { OPT_FORMAT = 1024 };

static const struct option longopts[] = {
    {"output", required_argument, NULL, 'o'},
    {"format", required_argument, NULL, OPT_FORMAT},
    {"filter", required_argument, NULL, 'f'},
    {"msl", required_argument, NULL, OPT_MSL},
    {"idle-timeout", required_argument, NULL, OPT_IDLE},
    {"max-flows", required_argument, NULL, OPT_MAX_FLOWS},
    {"syn-timeout", required_argument, NULL, OPT_SYN_TIMEOUT},
    {"fin-timeout", required_argument, NULL, OPT_FIN_TIMEOUT},
    {"synack-timeout", required_argument, NULL, OPT_SYNACK_TIMEOUT},
    {"server", required_argument, NULL, OPT_SERVER},
    {"summary", no_argument, NULL, OPT_SUMMARY},
    {"stats", no_argument, NULL, OPT_STATS},
    {"no-header", no_argument, NULL, OPT_NO_HEADER},
    {"no-tunnels", no_argument, NULL, OPT_NO_TUNNELS},
    {"findings", required_argument, NULL, OPT_FINDINGS},
    {"port-range", required_argument, NULL, OPT_PORT_RANGE},
    {"max-tw-buckets", required_argument, NULL, OPT_MAX_TW_BUCKETS},
    {"census", required_argument, NULL, OPT_CENSUS},
    {"interval", required_argument, NULL, OPT_INTERVAL},
    {"census-hosts", required_argument, NULL, OPT_CENSUS_HOSTS},
    {"at", required_argument, NULL, OPT_AT},
    {"plot", required_argument, NULL, OPT_PLOT},
    {"plot-host", required_argument, NULL, OPT_PLOT_HOST},
    {"keepalive-time", required_argument, NULL, OPT_KEEPALIVE_TIME},
    {"close-wait", required_argument, NULL, OPT_CLOSE_WAIT},
    {"shard", required_argument, NULL, OPT_SHARD},
    {"state-in", required_argument, NULL, OPT_STATE_IN},
    {"state-out", required_argument, NULL, OPT_STATE_OUT},
    {"keep-order", no_argument, NULL, OPT_KEEP_ORDER},
    {"community-id-seed", required_argument, NULL, OPT_COMMUNITY_SEED},
    {"quiet", no_argument, NULL, 'q'},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    {NULL, 0, NULL, 0},
};

/* getopt_long's ':' (a value missing) or '?' (an unknown option): says
 * which, and returns EXIT_USAGE. */
static int bad_option(int c, char **argv)
{
    if (c == ':') {
        if (optopt)
            fprintf(stderr, "synfin: option '-%c' needs a value\n", optopt);
        else
            fprintf(stderr, "synfin: option '%s' needs a value\n", argv[optind - 1]);
    } else {
        if (optopt)
            fprintf(stderr, "synfin: unknown option '-%c'\n", optopt);
        else
            fprintf(stderr, "synfin: unknown option '%s'\n", argv[optind - 1]);
    }
    fprintf(stderr, "Try 'synfin --help' for more information.\n");
    return EXIT_USAGE;
}

/* The options with a numeric value (--msl, --idle-timeout, --syn-timeout,
 * --fin-timeout, --max-flows).
 * Returns -1 to go on, else EXIT_USAGE. */
static int parse_number_option(int c, const char *arg, flows_config *fc)
{
    switch (c) {
    case OPT_MSL:
        if (parse_seconds(arg, 86400, &fc->msl) < 0 || fc->msl == 0)
            return usage_error("--msl", arg, "is not a number of seconds in (0, 86400]");
        break;
    case OPT_IDLE:
        if (parse_seconds(arg, 100LL * 365 * 86400, &fc->idle_timeout) < 0)
            return usage_error("--idle-timeout", arg, "is not a number of seconds >= 0");
        break;
    case OPT_SYN_TIMEOUT:
        if (parse_seconds(arg, 100LL * 365 * 86400, &fc->syn_timeout) < 0)
            return usage_error("--syn-timeout", arg, "is not a number of seconds >= 0");
        break;
    case OPT_FIN_TIMEOUT:
        if (parse_seconds(arg, 100LL * 365 * 86400, &fc->fin_timeout) < 0)
            return usage_error("--fin-timeout", arg, "is not a number of seconds >= 0");
        break;
    case OPT_SYNACK_TIMEOUT:
        if (parse_seconds(arg, 100LL * 365 * 86400, &fc->synack_timeout) < 0)
            return usage_error("--synack-timeout", arg, "is not a number of seconds >= 0");
        break;
    default: /* OPT_MAX_FLOWS */
        if (parse_count(arg, &fc->max_flows) < 0)
            return usage_error("--max-flows", arg, "is not a whole number >= 0");
        break;
    }
    return -1;
}

/* A port number in 1..65535 at s, up to end_char. Returns it, or 0. */
static unsigned long parse_port(const char *s, char end_char, const char **rest)
{
    char *end;
    errno = 0;
    if (*s < '0' || *s > '9')
        return 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || *end != end_char || v > 65535)
        return 0;
    *rest = end;
    return v;
}

/* --keepalive-time, --close-wait: seconds for the findings. Returns -1 to
 * go on, else EXIT_USAGE. */
static int parse_wait_option(int c, const char *arg, options *o)
{
    const char *name = c == OPT_KEEPALIVE_TIME ? "--keepalive-time" : "--close-wait";
    int64_t *v = c == OPT_KEEPALIVE_TIME ? &o->find.keepalive_time : &o->find.close_wait;
    if (parse_seconds(arg, 100LL * 365 * 86400, v) < 0)
        return usage_error(name, arg, "is not a number of seconds >= 0");
    return -1;
}

/* The findings' options (--findings, --port-range, --max-tw-buckets, and
 * parse_wait_option's).
 * Returns -1 to go on, else EXIT_USAGE. */
static int parse_findings_option(int c, const char *arg, options *o)
{
    if (c == OPT_KEEPALIVE_TIME || c == OPT_CLOSE_WAIT)
        return parse_wait_option(c, arg, o);
    if (c == OPT_FINDINGS) {
        o->findings = arg;
    } else if (c == OPT_PORT_RANGE) {
        const char *rest = arg;
        unsigned long lo = parse_port(arg, '-', &rest), hi = 0;
        if (lo)
            hi = parse_port(rest + 1, '\0', &rest);
        if (!lo || !hi || lo > hi)
            return usage_error("--port-range", arg,
                               "is not LOW-HIGH with 1 <= LOW <= HIGH <= 65535");
        o->find.port_lo = (uint32_t)lo;
        o->find.port_hi = (uint32_t)hi;
    } else { /* OPT_MAX_TW_BUCKETS */
        size_t n;
        if (parse_count(arg, &n) < 0 || n > (size_t)INT64_MAX)
            return usage_error("--max-tw-buckets", arg, "is not a whole number >= 0");
        o->find.max_tw_buckets = (int64_t)n;
    }
    return -1;
}

/* --at TIME: Unix seconds, +SECONDS after the first packet, or an ISO 8601
 * date and time in UTC. Returns 0 or -1. */
static int parse_time(const char *s, int64_t *ns, uint8_t *rel)
{
    *rel = s[0] == '+';
    if (*rel)
        return parse_seconds(s + 1, 100LL * 365 * 86400, ns);
    if (!strchr(s, '-'))
        return parse_seconds(s, 4102444800LL, ns); /* 2100-01-01 */
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    const char *end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!end)
        return -1;
    int64_t frac = 0, unit = 100000000;
    if (*end == '.') {
        for (end++; *end >= '0' && *end <= '9'; end++, unit /= 10)
            frac += unit * (*end - '0');
    }
    if (*end == 'Z')
        end++;
    time_t t = timegm(&tm);
    if (*end || t < 0)
        return -1;
    *ns = (int64_t)t * 1000000000 + frac;
    return 0;
}

/* The census's options (--census, --interval, --census-hosts, --at, --plot,
 * --plot-host). Returns -1 to go on, else EXIT_USAGE. */
static int parse_census_option(int c, const char *arg, options *o)
{
    report_census_config *cc = &o->cen;
    size_t n;
    switch (c) {
    case OPT_CENSUS:
        o->census = arg;
        break;
    case OPT_INTERVAL:
        if (parse_seconds(arg, 100LL * 365 * 86400, &cc->interval) < 0 || cc->interval < 1000)
            return usage_error("--interval", arg, "is not a number of seconds >= 0.000001");
        break;
    case OPT_CENSUS_HOSTS:
        if (parse_count(arg, &n) < 0 || n > 65536)
            return usage_error("--census-hosts", arg, "is not a whole number in [0, 65536]");
        cc->max_hosts = (uint32_t)n;
        break;
    case OPT_AT:
        if (parse_time(arg, &cc->at[cc->n_at], &cc->at_rel[cc->n_at]) < 0)
            return usage_error("--at", arg,
                               "is not Unix seconds, +SECONDS or YYYY-MM-DDTHH:MM:SS[.frac] (UTC)");
        cc->n_at++;
        break;
    case OPT_PLOT:
        cc->plot = arg;
        break;
    default: /* OPT_PLOT_HOST */
        if (!strchr(arg, ':') ? inet_pton(AF_INET, arg, &(struct in_addr){0}) != 1
                              : inet_pton(AF_INET6, arg, &(struct in6_addr){0}) != 1)
            return usage_error("--plot-host", arg, "is not an IPv4 or IPv6 address");
        cc->plot_host = arg;
        break;
    }
    return -1;
}

/* --shard K/N: 0 <= K < N <= 2^20. Returns -1 to go on, else EXIT_USAGE. */
static int parse_shard(const char *arg, options *o)
{
    char *end;
    errno = 0;
    unsigned long k = strtoul(arg, &end, 10), n = 0;
    if (!errno && end != arg && *end == '/' && arg[0] >= '0' && arg[0] <= '9' && end[1] >= '0' &&
        end[1] <= '9') {
        const char *ns = end + 1;
        n = strtoul(ns, &end, 10);
        if (errno || *end)
            n = 0;
    }
    if (n == 0 || n > (1ul << 20) || k >= n)
        return usage_error("--shard", arg, "is not K/N with 0 <= K < N <= 1048576");
    o->shard_k = o->flows.shard_k = (uint32_t)k;
    o->shard_n = o->flows.shard_n = (uint32_t)n;
    return -1;
}

/* --server [HOST:]PORT into o->servers (as many as the command line has:
 * room for argc). Returns -1 to go on, else EXIT_USAGE. */
static int parse_server(const char *arg, options *o)
{
    flows_server *sv = &o->servers[o->flows.n_servers];
    memset(sv, 0, sizeof(*sv));
    const char *colon = strrchr(arg, ':'), *port = colon ? colon + 1 : arg;
    if (colon) {
        char host[INET6_ADDRSTRLEN + 2];
        size_t n = (size_t)(colon - arg);
        if (n >= sizeof host)
            return usage_error("--server", arg, "is not [HOST:]PORT");
        memcpy(host, arg, n);
        host[n] = '\0';
        if (n > 2 && host[0] == '[' && host[n - 1] == ']') {
            host[n - 1] = '\0';
            if (inet_pton(AF_INET6, host + 1, sv->addr) == 1)
                sv->ip_version = 6;
        } else if (inet_pton(AF_INET, host, sv->addr) == 1) {
            sv->ip_version = 4;
        }
        if (!sv->ip_version)
            return usage_error("--server", arg,
                               "has no IPv4 address or [IPv6] address before the port");
    }
    char *end;
    errno = 0;
    unsigned long v = strtoul(port, &end, 10);
    if (errno || end == port || *end || *port == '-' || *port == '+' || v == 0 || v > 65535)
        return usage_error("--server", arg, "has no port in 1..65535");
    sv->port = (uint16_t)v;
    o->flows.n_servers++;
    return -1;
}

/* The defaults, and room for as many --server and --at as there are
 * arguments. Returns 0, or -1 when out of memory. */
static int options_init(int argc, options *o)
{
    memset(o, 0, sizeof(*o));
    flows_config_default(&o->flows);
    report_findings_config_default(&o->find);
    o->header = 1;
    o->files = calloc((size_t)argc + 1, sizeof(*o->files));
    o->servers = calloc((size_t)argc + 1, sizeof(*o->servers));
    o->flows.servers = o->servers;
    o->cen.interval = 1000000000;
    o->cen.max_hosts = 1000;
    o->cen.at = calloc((size_t)argc + 1, sizeof(*o->cen.at));
    o->cen.at_rel = calloc((size_t)argc + 1, sizeof(*o->cen.at_rel));
    return o->files && o->servers && o->cen.at && o->cen.at_rel ? 0 : -1;
}

static int check_options(options *o);

/* The options without a value; 0 when c is none of them. */
static int set_flag(int c, options *o)
{
    switch (c) {
    case OPT_SUMMARY:
        o->summary = 1;
        return 1;
    case OPT_STATS:
        o->stats = 1;
        return 1;
    case OPT_NO_HEADER:
        o->header = 0;
        return 1;
    case OPT_NO_TUNNELS:
        o->no_tunnels = 1;
        return 1;
    case OPT_KEEP_ORDER:
        o->keep_order = 1;
        return 1;
    case 'q':
        o->quiet = 1;
        return 1;
    default:
        return 0;
    }
}

/* --format FORMAT. Returns -1 to go on, else EXIT_USAGE. */
static int parse_format(const char *arg, options *o)
{
    static const char *const names[] = {"csv", "jsonl", "sqlite"};
    for (int i = 0; i < 3; i++)
        if (strcmp(arg, names[i]) == 0) {
            o->format = (report_fmt)i;
            o->format_given = 1;
            return -1;
        }
    return usage_error("--format", arg, "is not csv, jsonl or sqlite");
}

/* -o FILE, -f EXPR, --format FORMAT. Returns -1 to go on, else EXIT_USAGE. */
static int parse_io_option(int c, const char *arg, options *o)
{
    if (c == OPT_FORMAT)
        return parse_format(arg, o);
    if (c == 'o')
        o->output = strcmp(arg, "-") == 0 ? NULL : arg; /* -: standard output, as without -o */
    else
        o->filter = arg;
    return -1;
}

/* The format -o FILE's extension names: .jsonl/.ndjson, .sqlite/.sqlite3/
 * .db; anything else is CSV. */
static report_fmt format_of_name(const char *name)
{
    const char *dot = strrchr(name, '.');
    if (!dot || strchr(dot, '/'))
        return REPORT_FMT_CSV;
    if (strcasecmp(dot, ".jsonl") == 0 || strcasecmp(dot, ".ndjson") == 0)
        return REPORT_FMT_JSONL;
    if (strcasecmp(dot, ".sqlite") == 0 || strcasecmp(dot, ".sqlite3") == 0 ||
        strcasecmp(dot, ".db") == 0)
        return REPORT_FMT_SQLITE;
    return REPORT_FMT_CSV;
}

/* Do the names a and b name one file (the same name, or the same existing
 * file by device and inode)? */
static int same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    if (strcmp(a, b) == 0)
        return 1;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

/* The format, and where --census and --findings go with it. Returns -1 to
 * go on, else EXIT_USAGE. */
static int check_format(options *o)
{
    if (!o->format_given)
        o->format = o->output ? format_of_name(o->output) : REPORT_FMT_CSV;
    int db = o->format == REPORT_FMT_SQLITE;
    if (db && (!o->output || strcmp(o->output, "-") == 0))
        return usage_error(NULL, NULL,
                           "--format sqlite writes a database file: give it with -o FILE "
                           "(not standard output)");
    if (o->format != REPORT_FMT_CSV && o->stats)
        return usage_error(NULL, NULL,
                           "--stats prints a table, not rows: no --format jsonl or "
                           "sqlite (nor an -o FILE named so) with it");
    o->census_db = o->census && o->output && same_file(o->census, o->output);
    o->findings_db = o->findings && o->output && same_file(o->findings, o->output);
    if (!db && (o->census_db || o->findings_db))
        return usage_error(NULL, NULL,
                           "--census or --findings names the -o FILE: only a database "
                           "(--format sqlite) holds them as tables");
    return -1;
}

/* The archives' options with a value (issue 14: --shard, --state-in,
 * --state-out) and --community-id-seed. Returns -1 to go on, else
 * EXIT_USAGE. */
static int parse_archive_option(int c, const char *arg, options *o)
{
    if (c == OPT_SHARD)
        return parse_shard(arg, o);
    if (c == OPT_COMMUNITY_SEED) {
        size_t seed;
        if (parse_count(arg, &seed) < 0 || seed > 65535)
            return usage_error("--community-id-seed", arg, "is not a number from 0 to 65535");
        o->community_seed = (uint16_t)seed;
        return -1;
    }
    if (c == OPT_STATE_IN)
        o->state_in = arg;
    else
        o->state_out = arg;
    return -1;
}

/* Returns -1 to go on, else an exit code. getopt's state is the caller's
 * (synfin_main resets it). */
int options_parse(int argc, char **argv, options *o)
{
    if (options_init(argc, o) < 0) {
        fprintf(stderr, "synfin: out of memory\n");
        return EXIT_NOTHING;
    }
    int c, rc;
    /* A leading '-': positional files come back as option 1, so that files
     * given with -r and without are read in command-line order. */
    while ((c = getopt_long(argc, argv, "-:r:o:f:qhV", longopts, NULL)) != -1) {
        if (c >= OPT_CENSUS && c <= OPT_PLOT_HOST) {
            if ((rc = parse_census_option(c, optarg, o)) >= 0)
                return rc;
            continue;
        }
        if (set_flag(c, o))
            continue;
        switch (c) {
        case 1:
        case 'r':
            o->files[o->n_files++] = optarg;
            break;
        case 'o':
        case 'f':
        case OPT_FORMAT:
            if ((rc = parse_io_option(c, optarg, o)) >= 0)
                return rc;
            break;
        case OPT_MSL:
        case OPT_IDLE:
        case OPT_MAX_FLOWS:
        case OPT_SYN_TIMEOUT:
        case OPT_FIN_TIMEOUT:
        case OPT_SYNACK_TIMEOUT:
            if ((rc = parse_number_option(c, optarg, &o->flows)) >= 0)
                return rc;
            break;
        case OPT_SERVER:
            if ((rc = parse_server(optarg, o)) >= 0)
                return rc;
            break;
        case OPT_SHARD:
        case OPT_COMMUNITY_SEED:
        case OPT_STATE_IN:
        case OPT_STATE_OUT:
            if ((rc = parse_archive_option(c, optarg, o)) >= 0)
                return rc;
            break;
        case OPT_FINDINGS:
        case OPT_PORT_RANGE:
        case OPT_MAX_TW_BUCKETS:
        case OPT_KEEPALIVE_TIME:
        case OPT_CLOSE_WAIT:
            if ((rc = parse_findings_option(c, optarg, o)) >= 0)
                return rc;
            break;
            break;
        case 'h':
            return print_help();
        case 'V':
            printf("synfin %s (%s)\n", SYNFIN_VERSION, pcap_lib_version());
            return EXIT_OK;
        default: /* ':' or '?' */
            return bad_option(c, argv);
        }
    }
    for (int i = optind; i < argc; i++) /* after "--" */
        o->files[o->n_files++] = argv[i];
    return check_options(o);
}

/* What the options say together. Returns -1 to go on, else EXIT_USAGE. */
static int check_options(options *o)
{
    if (o->n_files == 0)
        return usage_error(NULL, NULL, "no input file (use '-' for standard input)");
    if (o->findings && o->stats)
        return usage_error(NULL, NULL, "--findings needs the replay, which --stats skips");
    if ((o->census || o->cen.n_at || o->cen.plot) && o->stats)
        return usage_error(NULL, NULL,
                           "--census, --at and --plot need the replay, which --stats skips");
    if ((o->state_in || o->state_out) && o->stats)
        return usage_error(NULL, NULL,
                           "--state-in and --state-out carry the replay, which --stats skips");
    o->cen.census_name = o->census;
    return check_format(o);
}
