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
#include <time.h>

#ifndef SYNFIN_VERSION
#define SYNFIN_VERSION "dev"
#endif

static const char usage_text[] =
    "usage: synfin [options] FILE...   (FILE '-' = standard input)\n"
    "Replays every TCP connection of pcap/pcapng captures (gzip too) through the\n"
    "RFC 793 state machine and writes one CSV row per connection instance.\n"
    "\n"
    "  -r FILE               read FILE (repeatable; besides positional files)\n"
    "  -o, --output FILE     write the CSV to FILE instead of standard output\n"
    "  -f, --filter EXPR     only packets matching the BPF expression EXPR\n"
    "      --msl SECONDS     maximum segment lifetime; TIME_WAIT = 2*MSL (default 30)\n"
    "      --idle-timeout SECONDS  end idle connections after SECONDS (default 7200;\n"
    "                        0 = never)\n"
    "      --syn-timeout SECONDS  a client whose SYN is never answered gave up at the\n"
    "                        latest SECONDS after its first SYN (default 127, Linux's\n"
    "                        tcp_syn_retries = 6; 0 = never infer it)\n"
    "      --synack-timeout SECONDS  a server whose SYN-ACK is not taken (still\n"
    "                        SYN_RCVD) dropped the request SECONDS after the SYN\n"
    "                        (default 63, tcp_synack_retries = 5; 0 = never)\n"
    "      --fin-timeout SECONDS  an endpoint in FIN_WAIT2 on a connection silent for\n"
    "                        SECONDS was an orphan Linux dropped: CLOSED (default 60,\n"
    "                        tcp_fin_timeout; 0 = never)\n"
    "      --server [HOST:]PORT  a server's endpoint, for connections whose handshake\n"
    "                        was not captured (repeatable; HOST an IPv4 address or an\n"
    "                        IPv6 one in brackets; without HOST: the port on any host)\n"
    "      --max-flows N     at most N connections tracked at once; past it one is\n"
    "                        ended early and marked evicted: unanswered SYNs first,\n"
    "                        then the least recently active (default 10000000,\n"
    "                        about 2.4 GB; 0 = unbounded)\n"
    "      --summary         print a summary to standard error after the run (with\n"
    "                        --findings, the findings' short form at its end)\n"
    "      --findings FILE   write the findings (TIME_WAIT, ports, SYN backlog,\n"
    "                        keepalive, CLOSE_WAIT, FIN_WAIT2, TCP timestamps and\n"
    "                        tcp_tw_recycle, each with a verdict)\n"
    "                        to FILE, as Markdown\n"
    "      --port-range LOW-HIGH  the clients' ephemeral ports, for the port pressure\n"
    "                        finding (default 32768-60999, ip_local_port_range)\n"
    "      --max-tw-buckets N  compare the peak TIME_WAIT per host with N\n"
    "                        (net.ipv4.tcp_max_tw_buckets)\n"
    "      --census FILE     write the census over time to FILE as CSV: per host and\n"
    "                        state, the endpoints open at every --interval\n"
    "      --interval SECONDS  between census moments (default 1)\n"
    "      --census-hosts N  hosts with census rows of their own, the busiest by\n"
    "                        peak (default 1000); the rest are summed as `other`\n"
    "      --at TIME         print the census at TIME to standard error, per host\n"
    "                        (repeatable; TIME: Unix seconds, +SECONDS after the\n"
    "                        first packet, or YYYY-MM-DDTHH:MM:SS[.frac] in UTC)\n"
    "      --plot FILE       draw the census over time of the busiest host (or of\n"
    "                        --plot-host ADDR) into FILE, SVG or PNG by its name\n"
    "      --keepalive-time SECONDS  the keepalive finding: connections idle this\n"
    "                        long without a probe (default 7200, tcp_keepalive_time)\n"
    "      --close-wait SECONDS  the CLOSE_WAIT finding: longer ones are an application\n"
    "                        that does not close (default 60)\n";
/* The rest (one string would pass C's 4095 characters). */
static const char usage_more[] =
    "      --state-out FILE  save the connections still open at the end (and the\n"
    "                        census's and duplicate filter's state) to FILE instead\n"
    "                        of writing their rows; the next run goes on from it\n"
    "      --state-in FILE   go on from a state --state-out saved (same options)\n"
    "      --stats           print packet accounting per input instead of the CSV\n"
    "      --no-header       omit the CSV header row\n"
    "      --no-tunnels      do not look inside tunnels (GRE, VXLAN, Geneve, GTP-U,\n"
    "                        IP in IP, Teredo, MPLS pseudowires): their packets are\n"
    "                        not_tcp, as before synfin decoded them\n"
    "  -q, --quiet           no progress line, no warnings about damaged input\n"
    "  -h, --help            this help\n"
    "  -V, --version         the version\n"
    "\n"
    "Exit status: 0 success; 1 some input was damaged or unreadable, or the output\n"
    "could not be written (everything else was still processed and written);\n"
    "2 usage error, or a --state-in file refused (damaged, foreign, another\n"
    "version or other options); 3 nothing could be read (no input opened as a\n"
    "capture, or damage before the first packet).\n";

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

/* Incremental runs (issue 14). */
enum { OPT_STATE_IN = 768, OPT_STATE_OUT };

static const struct option longopts[] = {
    {"output", required_argument, NULL, 'o'},
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
    {"state-in", required_argument, NULL, OPT_STATE_IN},
    {"state-out", required_argument, NULL, OPT_STATE_OUT},
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
    case 'q':
        o->quiet = 1;
        return 1;
    default:
        return 0;
    }
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
            o->output = optarg;
            break;
        case 'f':
            o->filter = optarg;
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
        case OPT_FINDINGS:
        case OPT_PORT_RANGE:
        case OPT_MAX_TW_BUCKETS:
        case OPT_KEEPALIVE_TIME:
        case OPT_CLOSE_WAIT:
            if ((rc = parse_findings_option(c, optarg, o)) >= 0)
                return rc;
            break;
        case OPT_STATE_IN:
            o->state_in = optarg;
            break;
        case OPT_STATE_OUT:
            o->state_out = optarg;
            break;
        case 'h':
            fputs(usage_text, stdout);
            fputs(usage_more, stdout);
            return EXIT_OK;
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
    return -1;
}
