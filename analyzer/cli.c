/*
 * cli.c: the command line and the run loop
 *   inputs -> (BPF filter) -> dissect -> flows -> CSV / summary / stats,
 *   and the findings (--findings FILE; their short form in --summary).
 *
 * Exit codes: 0 success; 1 some input was damaged or unreadable (the rest
 * was processed and written), or the output could not be written; 2 usage
 * error; 3 nothing could be read. A closed output pipe ends the run quietly
 * with 0. This is the only file that decides the exit code.
 */
#include "synfin.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <pcap/pcap.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "capture.h"
#include "live.h"
#include "options.h"
#include "output.h"
#include "pipeline.h"
#include "report.h"
#include "state.h"
#include "stats.h"

typedef struct filter_cache {
    uint32_t linktype;
    int ok;
    struct bpf_program prog;
} filter_cache;

typedef struct run {
    options opt;
    FILE *out;
    FILE *findings;   /* --findings FILE */
    FILE *census_out; /* --census FILE */
    report_census *census;
    report *rep;
    flows_table *flows;
    filter_cache *filters;
    size_t n_filters;
    input_stats total;
    input_stats *per_input;
    int damaged, opened;
    uint64_t untracked; /* segments flows could not track (out of memory) */
    pipeline *pipe;     /* the flows replay, on its own thread */
    int64_t capture_end;
    int have_ts;
    int progress;   /* stderr is a terminal */
    uint64_t ticks; /* packets since the start, for progress checks */
    uint64_t bytes_total;
    size_t *order; /* the inputs in the order they were read (--stats) */
    struct timespec started, last_progress;
    state_carry state;  /* --state-in, --state-out */
    int64_t shard_last; /* --shard: the time the table last saw */
    int shard_sent;     /* ... once it saw one */
    int out_ready;      /* the CSV's output is open and has its header */
    int out_failed;     /* -o FILE could not be created after all */
    char *outbuf;       /* its stdio buffer */
    size_t outbuf_len;
} run;

/* ---- BPF --------------------------------------------------------------- */

static int compile_filter(const char *expr, uint32_t linktype, struct bpf_program *prog, char *err,
                          size_t errlen)
{
    /* libpcap takes DLT numbers; the readers give the file's LINKTYPE
     * numbers, which differ from them only for a few old link types
     * (pcap-linktype(7)): raw IP, and ATM and BSD/OS ones synfin does not
     * dissect but a filter may still select. */
    int dlt;
    switch (linktype) {
    case DISSECT_LINK_RAW:
        dlt = DLT_RAW;
        break;
    case 100: /* LINKTYPE_ATM_RFC1483 */
        dlt = DLT_ATM_RFC1483;
        break;
    case 102: /* LINKTYPE_SLIP_BSDOS */
        dlt = DLT_SLIP_BSDOS;
        break;
    case 103: /* LINKTYPE_PPP_BSDOS */
        dlt = DLT_PPP_BSDOS;
        break;
    case 106: /* LINKTYPE_ATM_CLIP */
        dlt = DLT_ATM_CLIP;
        break;
    default:
        dlt = (int)linktype;
        break;
    }
    pcap_t *p = pcap_open_dead(dlt, 262144);
    if (!p) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int rc = pcap_compile(p, prog, expr, 1, PCAP_NETMASK_UNKNOWN);
    if (rc < 0)
        snprintf(err, errlen, "%s", pcap_geterr(p));
    pcap_close(p);
    return rc < 0 ? -1 : 0;
}

/* The compiled filter for a link type; NULL when it does not compile for it
 * (reported once, its packets are then counted as filtered out). */
static const struct bpf_program *filter_for(run *R, uint32_t linktype, const char *file)
{
    for (size_t i = 0; i < R->n_filters; i++)
        if (R->filters[i].linktype == linktype)
            return R->filters[i].ok ? &R->filters[i].prog : NULL;
    filter_cache *n = realloc(R->filters, (R->n_filters + 1) * sizeof(*n));
    if (!n)
        return NULL;
    R->filters = n;
    filter_cache *fc = &R->filters[R->n_filters++];
    memset(fc, 0, sizeof(*fc));
    fc->linktype = linktype;
    char err[PCAP_ERRBUF_SIZE + 64];
    fc->ok = compile_filter(R->opt.filter, linktype, &fc->prog, err, sizeof(err)) == 0;
    if (!fc->ok) {
        if (!R->opt.quiet)
            fprintf(stderr, "synfin: %s: filter '%s' does not apply to link type %u: %s\n", file,
                    R->opt.filter, linktype, err);
        R->damaged = 1;
    }
    return fc->ok ? &fc->prog : NULL;
}

/* ---- progress ---------------------------------------------------------- */

static double secs_between(const struct timespec *a, const struct timespec *b)
{
    return (double)(b->tv_sec - a->tv_sec) + (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

static void show_progress(run *R, const input_set *set, int final)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (!final && secs_between(&R->last_progress, &now) < 0.25)
        return;
    R->last_progress = now;
    if (final) {
        fputs("\r\033[K", stderr);
        return;
    }
    double el = secs_between(&R->started, &now);
    uint64_t done = set ? input_set_offset(set) : 0;
    double pps = el > 0 ? (double)R->ticks / el : 0; /* R->total is summed at the end */
    unsigned long long alive = R->pipe ? pipeline_alive(R->pipe) : 0;
    if (R->bytes_total)
        fprintf(stderr, "\r\033[Ksynfin: %.1f%% of %.1f MB, %.0f packets/s, %llu connections alive",
                100.0 * (double)done / (double)R->bytes_total, (double)R->bytes_total / 1e6, pps,
                alive);
    else
        fprintf(stderr, "\r\033[Ksynfin: %.1f MB read, %.0f packets/s, %llu connections alive",
                (double)done / 1e6, pps, alive);
}

/* ---- the run ----------------------------------------------------------- */

/*
 * The CSV's output and its header, at the first packet read (or at the end
 * of a run that read a capture without packets): a run that can read
 * nothing leaves no -o FILE behind, and writes no header. Returns 0, or -1
 * after a message (-o FILE could not be created: exit 1).
 */
static int output_ready(run *R)
{
    if (R->out_ready)
        return 0;
    R->out_ready = 1;
    if (output_open(&R->opt, R->rep, &R->out, R->outbuf, R->outbuf_len) < 0) {
        R->out_failed = 1;
        return -1;
    }
    if (R->rep && R->opt.header)
        report_header(R->rep);
    return 0;
}

#define TICK_NS INT64_C(1000000)    /* a tick at least every 1 ms of capture time */
#define STEP_NS INT64_C(1000000000) /* and at a step back of the clock (flows.c) */

/*
 * --shard K/N: is segment s (at ts) another shard's? Then it is dropped
 * here, on the reading thread, before the flow table (the shard's work
 * shrinks with it); only its time may go on, as a clock tick in the batch's
 * next slot (b, when replaying), when it moves the table's clock by 1 ms or
 * more, or back by more than a second: so the shard's timers, clock steps
 * and census moments follow the whole capture's clock (README "Splitting
 * the work: shards"). A SYN-ACK whose sender this shard counts as a
 * listener in the census goes on too (flows_config.shard_k).
 */
static int other_shard(run *R, seg_batch *b, dissect_segment *s, int64_t ts)
{
    const uint32_t n = R->opt.shard_n, k = R->opt.shard_k;
    int mine = flows_tuple_hash(s->ip_version, s->src, s->sport, s->dst, s->dport) % n == k;
    int listen =
        !mine && R->census &&
        (s->flags & (DISSECT_SYN | DISSECT_ACK | DISSECT_RST)) == (DISSECT_SYN | DISSECT_ACK) &&
        flows_tuple_hash(s->ip_version, s->src, s->sport, s->src, s->sport) % n == k;
    if (!mine && !listen && R->shard_sent && ts - R->shard_last < TICK_NS &&
        R->shard_last - ts <= STEP_NS)
        return 1;
    R->shard_last = ts;
    R->shard_sent = 1;
    if (mine || !b)
        return !mine;
    s->ip_version = (uint8_t)(listen ? FLOWS_TICK_LISTEN | s->ip_version : FLOWS_TICK_VERSION);
    b->ts[b->n] = ts;
    if (++b->n == PIPELINE_BATCH)
        pipeline_submit(R->pipe);
    return 1;
}

/* One packet of the stream, from input `which`: filtered, dissected and
 * batched for the replay (or dropped as another shard's). */
static void take_packet(run *R, size_t which, const input_packet *pkt)
{
    const char *path = R->opt.files[which];
    input_stats *st = &R->per_input[which];
    if (!R->out_ready)
        output_ready(R); /* the first packet: -o FILE is created now */
    st->read++;
    if (!R->have_ts || pkt->ts > R->capture_end) {
        R->capture_end = pkt->ts;
        R->have_ts = 1;
    }
    if (R->opt.filter) {
        const struct bpf_program *prog = filter_for(R, pkt->linktype, path);
        struct pcap_pkthdr h = {.caplen = pkt->caplen, .len = pkt->wirelen};
        if (!prog || !pcap_offline_filter(prog, &h, pkt->data)) {
            st->filtered++;
            return;
        }
    }
    /* Dissected straight into the batch's next slot (taken only when the
     * packet is a TCP segment). */
    seg_batch *b = R->pipe ? pipeline_batch(R->pipe) : NULL;
    dissect_segment scratch, *seg = b ? &b->seg[b->n] : &scratch;
    dissect_tunnel scratch_tun;
    dissect_result dr = dissect_packet_ex(pkt->linktype, pkt->data, pkt->caplen, pkt->wirelen, seg,
                                          R->opt.no_tunnels ? NULL
                                          : b               ? &b->tun[b->n]
                                                            : &scratch_tun);
    if (seg->encaps)
        count_encaps(st, seg->encaps, dr == DISSECT_OK);
    if (dr != DISSECT_OK) {
        st->skipped[dr]++;
        return;
    }
    if (R->opt.shard_n && other_shard(R, b, seg, pkt->ts)) {
        st->filtered++; /* another shard's */
        return;
    }
    st->tcp++;
    if (b) {
        b->ts[b->n] = pkt->ts;
        b->path = path; /* for messages: the input of the batch's last segment */
        if (++b->n == PIPELINE_BATCH)
            pipeline_submit(R->pipe);
    }
}

/* Reads the inputs as one stream (capture's input_set: in time order, or
 * as given with --keep-order), each packet counted for its own input. */
static void read_input(run *R)
{
    const options *o = &R->opt;
    input_set *set = input_set_new(o->files, o->n_files, o->keep_order);
    if (!set) {
        fprintf(stderr, "synfin: out of memory\n");
        R->damaged = 1;
        return;
    }
    R->order = calloc(o->n_files, sizeof(*R->order));
    for (size_t k = 0; R->order && k < o->n_files; k++)
        R->order[k] = input_set_order(set, k);
    if (R->rep && input_set_stdin_precision(set) == 9) {
        pipeline_sync(R->pipe); /* the rows so far written with the old precision */
        report_set_precision(R->rep, 9);
    }
    /* A pipe or a terminal among the inputs: rows out within a second (live.c). */
    live *lv = R->pipe && live_inputs(o->files, o->n_files) ? live_start(R->pipe, R->rep) : NULL;
    input_packet pkt;
    input_status st;
    size_t which = 0;
    while (!(R->pipe && pipeline_stopped(R->pipe)) &&
           (st = lv ? live_next(lv, set, &pkt, &which) : input_set_next(set, &pkt, &which)) !=
               INPUT_END) {
        if (st == INPUT_PACKET) {
            take_packet(R, which, &pkt);
            if (R->progress && (++R->ticks & 4095) == 0) /* across files: rotated archives */
                show_progress(R, set, 0);
            continue;
        }
        if (!o->quiet)
            fprintf(stderr, "synfin: %s\n", input_set_error(set));
        if (st == INPUT_DAMAGED)
            R->damaged = 1;
    }
    live_stop(lv);
    R->opened = (int)input_set_opened(set);
    input_set_free(set);
}

static int finish_output(run *R)
{
    int err = R->rep ? report_flush(R->rep) : 0; /* a database: its last batch committed */
    if (!R->out)
        return err;
    if (!err && (fflush(R->out) != 0 || ferror(R->out)))
        err = errno ? errno : EIO;
    if (R->out != stdout) {
        if (fclose(R->out) != 0 && !err)
            err = errno ? errno : EIO;
    }
    R->out = NULL;
    return err;
}

static int decide_precision(const options *o)
{
    int p = 6;
    for (size_t i = 0; i < o->n_files; i++)
        /* files[0 .. n_files) are set by parse_args (the analyzer loses track). */
        if (strcmp(o->files[i], "-") != 0 // NOLINT(clang-analyzer-core.NonNullParamChecker)
            && input_probe_precision(o->files[i]) == 9)
            p = 9;
    return p;
}

/* The filter must compile for some link type (Ethernet or raw IP) before
 * anything is read. Returns -1 to go on, else EXIT_USAGE. */
static int check_filter(const options *o)
{
    if (!o->filter)
        return -1;
    struct bpf_program prog;
    char err[PCAP_ERRBUF_SIZE];
    if (compile_filter(o->filter, DISSECT_LINK_ETHERNET, &prog, err, sizeof(err)) < 0 &&
        compile_filter(o->filter, DISSECT_LINK_RAW_DLT, &prog, err, sizeof(err)) < 0) {
        fprintf(stderr, "synfin: bad filter expression '%s': %s\n", o->filter, err);
        return EXIT_USAGE;
    }
    pcap_freecode(&prog);
    return -1;
}

/* The per-input counters and the outputs: -o FILE checked here, created at
 * the first packet (output_ready), buffered in buf; --findings and
 * --census FILE opened. Returns -1 to go on, else EXIT_DAMAGED (an output
 * that cannot be written, README "Exit codes") or EXIT_NOTHING (memory). */
static int open_output(run *R, char *buf, size_t len)
{
    const options *o = &R->opt;
    R->per_input = calloc(o->n_files, sizeof(*R->per_input));
    if (!R->per_input) {
        fprintf(stderr, "synfin: out of memory\n");
        return EXIT_NOTHING;
    }
    R->outbuf = buf;
    R->outbuf_len = len;
    if (o->output && output_writable(o->output) < 0) {
        fprintf(stderr, "synfin: %s: cannot write: %s\n", o->output, strerror(errno));
        return EXIT_DAMAGED;
    }
    if (o->output && output_is_input(o)) {
        fprintf(stderr, "synfin: %s: the output is also an input\n", o->output);
        return EXIT_USAGE;
    }
    if (!o->output) {
        R->out = stdout;
        setvbuf(R->out, buf, _IOFBF, len);
    }
    if (o->findings && !o->findings_db && !(R->findings = fopen(o->findings, "w"))) {
        fprintf(stderr, "synfin: %s: cannot write: %s\n", o->findings, strerror(errno));
        return EXIT_DAMAGED;
    }
    /* In the database: the census's CSV goes through a temporary file. */
    if (o->census && !(R->census_out = o->census_db ? tmpfile() : fopen(o->census, "w"))) {
        fprintf(stderr, "synfin: %s: cannot write: %s\n", o->census, strerror(errno));
        return EXIT_DAMAGED;
    }
    return -1;
}

/* The census (--census, --at, --plot), told by the flows table. Returns 0,
 * or -1 when out of memory. */
static int start_census(run *R)
{
    options *o = &R->opt;
    if (!o->census && !o->cen.n_at && !o->cen.plot)
        return 0;
    o->cen.precision = decide_precision(o);
    R->census = report_census_new(&o->cen, R->census_out, stderr);
    if (!R->census || flows_set_census(R->flows, report_census_change, R->census) < 0)
        return -1;
    return 0;
}

/* The report, the flows table and the replay thread, then the header row;
 * nothing of it with --stats. Returns -1 to go on, else EXIT_NOTHING. */
static int start_replay(run *R)
{
    const options *o = &R->opt;
    if (o->stats)
        return -1;
    R->rep = report_new(R->out, decide_precision(o));
    if (R->rep) {
        report_set_format(R->rep, o->format);
        report_set_community_seed(R->rep, o->community_seed);
    }
    if (R->rep && o->summary)
        report_enable_summary(R->rep);
    report_findings_config find = o->find;
    find.fin_timeout = o->flows.fin_timeout; /* FIN_WAIT2 against the replay's own */
    if (R->rep && o->findings && report_enable_findings(R->rep, &find) < 0) {
        fprintf(stderr, "synfin: out of memory\n");
        return EXIT_NOTHING;
    }
    R->flows = R->rep ? flows_new(&o->flows, report_row, R->rep) : NULL;
    if (R->flows && start_census(R) < 0) {
        fprintf(stderr, "synfin: out of memory (or no temporary file) for the census\n");
        return EXIT_NOTHING;
    }
    if (R->flows &&
        state_resume(o, &R->state, R->census, R->flows, &R->capture_end, &R->have_ts) < 0)
        return EXIT_USAGE;
    R->pipe = R->flows ? pipeline_start(R->flows, R->rep) : NULL;
    if (R->pipe && R->census)
        (void)pipeline_census(R->pipe, R->census); /* failing, the worker counts them */
    void *syn_ctx = R->rep ? report_findings_syn_ctx(R->rep) : NULL;
    if (R->pipe && syn_ctx) /* --findings: the client SYNs' timestamps (NAT, tw_recycle) */
        pipeline_syn_hook(R->pipe, report_findings_syn, syn_ctx);
    if (!R->rep || !R->flows || !R->pipe) {
        fprintf(stderr, "synfin: out of memory\n");
        return EXIT_NOTHING;
    }
    return -1; /* the header: output_ready */
}

/* Reads every input, then ends the replay: the capture-end rows
 * are written, and the flows table is this thread's again. */
static void read_inputs(run *R)
{
    const options *o = &R->opt;
    R->progress = !o->quiet && isatty(STDERR_FILENO);
    for (size_t i = 0; i < o->n_files; i++) {
        struct stat sb;
        /* files[0 .. n_files) are set by parse_args (the analyzer loses track). */
        if (strcmp(o->files[i], "-") != 0 // NOLINT(clang-analyzer-core.NonNullParamChecker)
            && stat(o->files[i], &sb) == 0 && S_ISREG(sb.st_mode))
            R->bytes_total += (uint64_t)sb.st_size;
    }
    clock_gettime(CLOCK_MONOTONIC, &R->started);

    read_input(R);
    for (size_t i = 0; i < o->n_files; i++)
        add_stats(&R->total, &R->per_input[i]);
    if (R->progress)
        show_progress(R, NULL, 1);
    if (R->pipe) {
        int stopped = pipeline_stopped(R->pipe);
        R->untracked = pipeline_finish(R->pipe); /* the flows table is ours again */
        R->pipe = NULL;
        if (R->untracked)
            R->damaged = 1;
        if (!stopped && o->state_out) /* carried to the next run, not written */
            R->state.saved = flows_save(R->flows, &R->state.flows) == 0;
        else if (!stopped)
            pipeline_finish_flows(R->flows, R->rep, R->capture_end);
    }
}

/* Writes the findings to --findings FILE and closes it. Returns 0, or the
 * errno of a write error (said here). */
static int write_findings(run *R)
{
    if (R->opt.findings_db) /* a table in the database; said there */
        return report_db_findings(R->rep) < 0 ? EIO : 0;
    if (!R->findings)
        return 0;
    int err = report_findings(R->rep, R->findings) < 0 ? (errno ? errno : EIO) : 0;
    if (fclose(R->findings) != 0 && !err)
        err = errno ? errno : EIO;
    R->findings = NULL;
    if (err)
        fprintf(stderr, "synfin: %s: write error: %s\n", R->opt.findings, strerror(err));
    return err;
}

/* Writes the census over time (and the plot) and closes --census FILE.
 * Returns 0, or 1 after a message. */
static int write_census(run *R)
{
    if (!R->census)
        return 0;
    int bad = (R->opt.state_out ? report_census_finish_save(R->census, &R->state.census)
                                : report_census_finish(R->census, R->capture_end)) < 0;
    uint64_t late = report_census_late(R->census);
    if (late && !R->opt.quiet) /* the input's disorder, as its own warning */
        fprintf(stderr,
                "synfin: census: %llu changes came after the moment they belong to was "
                "written (segments out of order): counted from the next moment on\n",
                (unsigned long long)late);
    if (!bad && R->opt.census_db && report_db_census(R->rep, R->census_out) < 0)
        bad = 1;
    if (R->census_out && fclose(R->census_out) != 0 && !bad) {
        fprintf(stderr, "synfin: %s: write error: %s\n", R->opt.census, strerror(errno));
        bad = 1;
    }
    R->census_out = NULL;
    return bad;
}

/* An input whose packets were read, but not one TCP segment, and some of
 * them were cut short by the snaplen before the end of their TCP header
 * (editcap -s 50): its rows would be missing without a word, so it says
 * why, and the run is damaged (exit 1). */
static void check_snaplen(run *R)
{
    for (size_t i = 0; i < R->opt.n_files; i++) {
        const input_stats *st = &R->per_input[i];
        uint64_t cut = st->skipped[DISSECT_TRUNCATED];
        if (st->read == 0 || st->tcp > 0 || cut == 0)
            continue;
        if (!R->opt.quiet)
            fprintf(stderr,
                    "synfin: %s: no TCP segment could be read: %llu packets were cut by the "
                    "snaplen before the end of their TCP header (a snaplen of 96 bytes or more "
                    "keeps them: tcpdump -s 96)\n",
                    R->opt.files[i], (unsigned long long)cut);
        R->damaged = 1;
    }
}

/* Writes what is left (stats, summary, findings), closes the output and
 * returns the exit code. */
static int finish_run(run *R)
{
    const options *o = &R->opt;
    if (R->untracked > 1)
        fprintf(stderr, "synfin: %llu segments in all could not be tracked (out of memory)\n",
                (unsigned long long)R->untracked);
    int nothing = R->opened == 0 || (R->damaged && R->total.read == 0);
    if (!nothing)
        (void)output_ready(R); /* a capture without packets: the header alone */
    check_snaplen(R);
    int werr = R->rep ? report_failed(R->rep) : 0;
    if (o->stats && R->out)
        print_stats(R->out, R->opt.files, R->opt.n_files, R->order, R->per_input, &R->total);
    int ferr = finish_output(R);
    if (!werr)
        werr = ferr;

    if (o->summary && R->rep) {
        report_summary(R->rep, flows_get_stats(R->flows), stderr);
        fprintf(stderr, "packets:\n");
        print_stats(stderr, R->opt.files, R->opt.n_files, R->order, R->per_input, &R->total);
        report_findings_short(R->rep, stderr);
    }
    int find_err = R->rep ? write_findings(R) : 0;
    find_err |= write_census(R);
    if (R->flows)
        find_err |= state_end(o, &R->state, R->census != NULL, R->capture_end, R->have_ts);
    int derr = R->rep ? report_close_db(R->rep) : 0; /* after its census and findings */
    if (!werr)
        werr = derr;

    if (werr == EPIPE)
        return EXIT_OK; /* the reader went away (| head): stop quietly */
    if (werr) {
        fprintf(stderr, "synfin: %s: write error: %s\n", o->output ? o->output : "standard output",
                strerror(werr));
        return EXIT_DAMAGED;
    }
    if (nothing)
        return EXIT_NOTHING; /* not one packet could be read */
    return R->damaged || find_err || R->out_failed ? EXIT_DAMAGED : EXIT_OK;
}

/* Frees whatever of the run was set up, however far it got (the replay
 * thread is always finished by then: read_inputs ends it). */
static void free_run(run *R)
{
    if (R->out && R->out != stdout)
        (void)fclose(R->out); /* only when the run stopped before finish_output: already failing */
    if (R->findings)
        (void)fclose(R->findings); /* likewise, before write_findings */
    if (R->census_out)
        (void)fclose(R->census_out); /* likewise, before write_census */
    report_census_free(R->census);
    flows_free(R->flows);
    report_free(R->rep);
    for (size_t i = 0; i < R->n_filters; i++)
        if (R->filters[i].ok)
            pcap_freecode(&R->filters[i].prog);
    free(R->filters);
    free(R->per_input);
    free(R->order);
    free(R->opt.files);
    free(R->opt.servers);
    free(R->opt.cen.at);
    free(R->opt.cen.at_rel);
    state_carry_free(&R->state);
}

/*
 * synfin_main runs in-process too, many times over (fuzz/fuzz_pipeline.c,
 * the tests), so everything it does to the process is here, in sight:
 *   - getopt's globals: reset at every call (optind = 1), its own messages
 *     off (opterr = 0: synfin words its usage errors itself);
 *   - SIGPIPE is ignored, once the command line is known to be good, and
 *     never restored: a closed output pipe then shows as EPIPE from a
 *     write, and the run ends quietly with 0;
 *   - stdout's buffer: outbuf is static because stdout outlives the call
 *     (a buffer on the stack would dangle once it returns); each call sets
 *     it again, and an output file is closed before the call returns.
 * Every step returns -1 to go on, else the exit code; free_run is the one
 * way out.
 */
int synfin_main(int argc, char **argv)
{
    static char outbuf[1 << 16];
    run R;
    memset(&R, 0, sizeof(R));
    opterr = 0;
    optind = 1;
    int rc = options_parse(argc, argv, &R.opt);
    if (rc < 0)
        rc = check_filter(&R.opt);
    if (rc < 0)
        rc = state_begin(&R.opt, &R.state);
    if (rc < 0) {
        (void)signal(SIGPIPE, SIG_IGN); /* cannot fail for a valid signal */
        rc = open_output(&R, outbuf, sizeof(outbuf));
    }
    if (rc < 0)
        rc = start_replay(&R);
    if (rc < 0) {
        read_inputs(&R);
        rc = finish_run(&R);
    }
    free_run(&R);
    return rc;
}
