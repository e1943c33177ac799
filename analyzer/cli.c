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
#include "options.h"
#include "pipeline.h"
#include "report.h"
#include "state.h"

typedef struct input_stats {
    uint64_t read, tcp, filtered;
    uint64_t skipped[DISSECT_RESULT_COUNT];
    /* Packets through each encapsulation, and of them the TCP segments. */
    uint64_t encap[DISSECT_ENC_COUNT], encap_tcp[DISSECT_ENC_COUNT];
} input_stats;

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
    uint64_t bytes_total, bytes_done;
    struct timespec started, last_progress;
    /* Incremental runs: the --state-in payload (checked before anything
     * else), the sections --state-out saves. */
    flows_buf state_in, flows_state, census_state;
    uint32_t state_flags;
    int state_saved;
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

static void show_progress(run *R, const synfin_input *in, int final)
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
    uint64_t done = R->bytes_done + (in ? input_offset(in) : 0);
    double pps = el > 0 ? (double)R->total.read / el : 0;
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

static void count_encaps(input_stats *st, uint32_t encaps, int tcp)
{
    for (; encaps; encaps &= encaps - 1) {
        int e = __builtin_ctz(encaps);
        st->encap[e]++;
        st->encap_tcp[e] += (uint64_t)tcp;
    }
}

static void read_input(run *R, size_t idx)
{
    const char *path = R->opt.files[idx];
    input_stats *st = &R->per_input[idx];
    char err[640];
    synfin_input *in = input_open(path, err, sizeof(err));
    if (!in) {
        if (!R->opt.quiet)
            fprintf(stderr, "synfin: %s\n", err);
        R->damaged = 1;
        return;
    }
    R->opened++;
    if (R->rep && strcmp(path, "-") == 0) {
        pipeline_sync(R->pipe); /* the rows so far written with the old precision */
        report_set_precision(R->rep, input_precision(in));
    }

    input_packet pkt;
    input_status status = INPUT_END;
    while (!(R->pipe && pipeline_stopped(R->pipe)) &&
           (status = input_next(in, &pkt)) == INPUT_PACKET) {
        st->read++;
        if (!R->have_ts || pkt.ts > R->capture_end) {
            R->capture_end = pkt.ts;
            R->have_ts = 1;
        }
        if (R->opt.filter) {
            const struct bpf_program *prog = filter_for(R, pkt.linktype, path);
            struct pcap_pkthdr h = {.caplen = pkt.caplen, .len = pkt.wirelen};
            if (!prog || !pcap_offline_filter(prog, &h, pkt.data)) {
                st->filtered++;
                continue;
            }
        }
        /* Dissected straight into the batch's next slot (taken only when
         * the packet is a TCP segment). */
        seg_batch *b = R->pipe ? pipeline_batch(R->pipe) : NULL;
        dissect_segment scratch, *seg = b ? &b->seg[b->n] : &scratch;
        dissect_tunnel scratch_tun;
        dissect_result dr = dissect_packet_ex(pkt.linktype, pkt.data, pkt.caplen, pkt.wirelen, seg,
                                              R->opt.no_tunnels ? NULL
                                              : b               ? &b->tun[b->n]
                                                                : &scratch_tun);
        if (seg->encaps)
            count_encaps(st, seg->encaps, dr == DISSECT_OK);
        if (dr != DISSECT_OK) {
            st->skipped[dr]++;
            continue;
        }
        st->tcp++;
        if (b) {
            b->ts[b->n] = pkt.ts;
            b->path = path;
            if (++b->n == PIPELINE_BATCH)
                pipeline_submit(R->pipe);
        }
        if (R->progress && (++R->ticks & 4095) == 0) /* across files: rotated archives */
            show_progress(R, in, 0);
    }
    if (R->pipe)
        pipeline_submit(R->pipe); /* messages name this input */
    if (!(R->pipe && pipeline_stopped(R->pipe)) && status == INPUT_DAMAGED) {
        if (!R->opt.quiet)
            fprintf(stderr, "synfin: %s\n", input_error(in));
        R->damaged = 1;
    }
    R->bytes_done += input_offset(in);
    input_close(in);
}

static void add_stats(input_stats *to, const input_stats *from)
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
static void print_stats(FILE *f, const run *R)
{
    int width = 5;
    for (size_t i = 0; i < R->opt.n_files; i++)
        if ((int)strlen(R->opt.files[i]) > width)
            width = (int)strlen(R->opt.files[i]);
    fprintf(f, "%-*s %10s %10s %10s", width, "input", "read", "tcp", "skipped");
    for (int i = 1; i < DISSECT_RESULT_COUNT; i++)
        fprintf(f, " %s", dissect_result_name((dissect_result)i));
    fprintf(f, " %8s\n", "filtered");
    for (size_t i = 0; i < R->opt.n_files; i++)
        print_stats_row(f, width, R->opt.files[i], &R->per_input[i]);
    print_stats_row(f, width, "total", &R->total);
    /* Then, in total, a line per encapsulation seen (packets through it, of
     * them TCP segments; a packet through several counts for each). */
    int first = 1;
    for (int i = 0; i < DISSECT_ENC_COUNT; i++) {
        if (!R->total.encap[i])
            continue;
        if (first)
            fprintf(f, "%-*s %10s %10s\n", width, "encapsulation", "packets", "tcp");
        first = 0;
        fprintf(f, "%-*s %10llu %10llu\n", width, dissect_encap_name((dissect_encap)i),
                (unsigned long long)R->total.encap[i], (unsigned long long)R->total.encap_tcp[i]);
    }
}

static int finish_output(run *R)
{
    if (!R->out)
        return 0;
    int err = R->rep ? report_flush(R->rep) : 0;
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

/* The per-input counters and the output (buffered in buf). Returns -1 to go
 * on, else EXIT_NOTHING. */
static int open_output(run *R, char *buf, size_t len)
{
    const options *o = &R->opt;
    R->per_input = calloc(o->n_files, sizeof(*R->per_input));
    if (!R->per_input) {
        fprintf(stderr, "synfin: out of memory\n");
        return EXIT_NOTHING;
    }
    if (o->output) {
        R->out = fopen(o->output, "w");
        if (!R->out) {
            fprintf(stderr, "synfin: %s: cannot write: %s\n", o->output, strerror(errno));
            return EXIT_NOTHING;
        }
    } else {
        R->out = stdout;
    }
    setvbuf(R->out, buf, _IOFBF, len);
    if (o->findings && !(R->findings = fopen(o->findings, "w"))) {
        fprintf(stderr, "synfin: %s: cannot write: %s\n", o->findings, strerror(errno));
        return EXIT_NOTHING;
    }
    if (o->census && !(R->census_out = fopen(o->census, "w"))) {
        fprintf(stderr, "synfin: %s: cannot write: %s\n", o->census, strerror(errno));
        return EXIT_NOTHING;
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

/* --state-in: the table, the census and the reader go on from the state
 * read (and checked) before. Returns 0, or -1 after a message. */
static int resume(run *R)
{
    char err[512];
    state_reader sr = {0};
    if (state_apply(&R->state_in, &sr, R->census, R->flows, err, sizeof(err)) < 0) {
        fprintf(stderr, "synfin: %s: refused: %s\n", R->opt.state_in, err);
        return -1;
    }
    R->capture_end = sr.capture_end;
    R->have_ts = sr.have_ts;
    flows_buf_free(&R->state_in);
    return 0;
}

/* --state-in FILE read and checked whole, and --state-out FILE known to be
 * writable, before any output is made. Returns -1 to go on, else an exit
 * code. */
static int read_state(run *R)
{
    char err[640];
    const options *o = &R->opt;
    if (o->state_out && state_probe(o->state_out, err, sizeof(err)) < 0) {
        fprintf(stderr, "synfin: %s\n", err);
        return EXIT_NOTHING; /* as an -o FILE that cannot be written */
    }
    if (!o->state_in)
        return -1;
    if (state_read(o->state_in, &R->state_in, &R->state_flags, err, sizeof(err)) < 0) {
        fprintf(stderr, "synfin: %s\n", err);
        return EXIT_USAGE;
    }
    state_want want = {&o->flows, o->census || o->cen.n_at || o->cen.plot, o->census || o->cen.plot,
                       o->cen.interval};
    if (state_check(&R->state_in, R->state_flags, &want, err, sizeof(err)) < 0) {
        fprintf(stderr, "synfin: %s: refused: %s\n", o->state_in, err);
        return EXIT_USAGE;
    }
    return -1;
}

/* The report, the flows table and the replay thread, then the header row;
 * nothing of it with --stats. Returns -1 to go on, else EXIT_NOTHING. */
static int start_replay(run *R)
{
    const options *o = &R->opt;
    if (o->stats)
        return -1;
    R->rep = report_new(R->out, decide_precision(o));
    if (R->rep && o->summary)
        report_enable_summary(R->rep);
    report_findings_config find = o->find;
    find.fin_timeout = o->flows.fin_timeout; /* FIN_WAIT2 against the replay's own */
    if (R->rep && o->findings && report_enable_findings(R->rep, &find) < 0) {
        fprintf(stderr, "synfin: out of memory\n");
        return EXIT_NOTHING;
    }
    R->flows = R->rep ? flows_new(&o->flows, report_row, R->rep) : NULL;
    void *syn_ctx = R->rep ? report_findings_syn_ctx(R->rep) : NULL;
    if (R->flows && syn_ctx) /* --findings: the client SYNs' timestamps (NAT, tw_recycle) */
        flows_set_syn_hook(R->flows, report_findings_syn, syn_ctx);
    if (R->flows && start_census(R) < 0) {
        fprintf(stderr, "synfin: out of memory (or no temporary file) for the census\n");
        return EXIT_NOTHING;
    }
    if (R->flows && o->state_in && resume(R) < 0)
        return EXIT_USAGE;
    R->pipe = R->flows ? pipeline_start(R->flows, R->rep) : NULL;
    if (R->pipe && R->census)
        (void)pipeline_census(R->pipe, R->census); /* failing, the worker counts them */
    if (!R->rep || !R->flows || !R->pipe) {
        fprintf(stderr, "synfin: out of memory\n");
        return EXIT_NOTHING;
    }
    if (o->header)
        report_header(R->rep);
    return -1;
}

/* Reads every input in turn, then ends the replay: the capture-end rows
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

    for (size_t i = 0; i < o->n_files && !(R->pipe && pipeline_stopped(R->pipe)); i++) {
        read_input(R, i);
        add_stats(&R->total, &R->per_input[i]);
    }
    if (R->progress)
        show_progress(R, NULL, 1);
    if (R->pipe) {
        int stopped = pipeline_stopped(R->pipe);
        R->untracked = pipeline_finish(R->pipe); /* the flows table is ours again */
        R->pipe = NULL;
        if (R->untracked)
            R->damaged = 1;
        if (!stopped && o->state_out) /* carried to the next run, not written */
            R->state_saved = flows_save(R->flows, &R->flows_state) == 0;
        else if (!stopped)
            pipeline_finish_flows(R->flows, R->rep, R->capture_end);
    }
}

/* Writes the findings to --findings FILE and closes it. Returns 0, or the
 * errno of a write error (said here). */
static int write_findings(run *R)
{
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
    int bad = (R->opt.state_out ? report_census_finish_save(R->census, &R->census_state)
                                : report_census_finish(R->census, R->capture_end)) < 0;
    if (R->census_out && fclose(R->census_out) != 0 && !bad) {
        fprintf(stderr, "synfin: %s: write error: %s\n", R->opt.census, strerror(errno));
        bad = 1;
    }
    R->census_out = NULL;
    return bad;
}

/* --state-out FILE, once the census's section is saved too. Returns 0, or
 * 1 after a message. */
static int write_state(run *R)
{
    if (!R->opt.state_out || !R->flows)
        return 0;
    char err[640];
    state_reader sr = {R->capture_end, R->have_ts, R->opt.cen.interval,
                       R->opt.census || R->opt.cen.plot};
    if (!R->state_saved || R->census_state.failed) {
        fprintf(stderr, "synfin: %s: not written (out of memory, or the run stopped)\n",
                R->opt.state_out);
        return 1;
    }
    if (state_write(R->opt.state_out, &sr, R->census ? &R->census_state : NULL, &R->flows_state,
                    err, sizeof(err)) < 0) {
        fprintf(stderr, "synfin: %s\n", err);
        return 1;
    }
    return 0;
}

/* Writes what is left (stats, summary, findings), closes the output and
 * returns the exit code. */
static int finish_run(run *R)
{
    const options *o = &R->opt;
    if (R->untracked > 1)
        fprintf(stderr, "synfin: %llu segments in all could not be tracked (out of memory)\n",
                (unsigned long long)R->untracked);
    int werr = R->rep ? report_failed(R->rep) : 0;
    if (o->stats)
        print_stats(R->out, R);
    int ferr = finish_output(R);
    if (!werr)
        werr = ferr;

    if (o->summary && R->rep) {
        report_summary(R->rep, flows_get_stats(R->flows), stderr);
        fprintf(stderr, "packets:\n");
        print_stats(stderr, R);
        report_findings_short(R->rep, stderr);
    }
    int find_err = R->rep ? write_findings(R) : 0;
    find_err |= write_census(R);
    find_err |= write_state(R);

    if (werr == EPIPE)
        return EXIT_OK; /* the reader went away (| head): stop quietly */
    if (werr) {
        fprintf(stderr, "synfin: %s: write error: %s\n", o->output ? o->output : "standard output",
                strerror(werr));
        return EXIT_DAMAGED;
    }
    if (R->opened == 0 || (R->damaged && R->total.read == 0))
        return EXIT_NOTHING; /* not one packet could be read */
    return R->damaged || find_err ? EXIT_DAMAGED : EXIT_OK;
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
    free(R->opt.files);
    free(R->opt.servers);
    free(R->opt.cen.at);
    free(R->opt.cen.at_rel);
    flows_buf_free(&R->state_in);
    flows_buf_free(&R->flows_state);
    flows_buf_free(&R->census_state);
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
        rc = read_state(&R);
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
