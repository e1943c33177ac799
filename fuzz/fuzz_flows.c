/*
 * fuzz_flows: the flow table and state machine on a scripted conversation,
 * with every emitted row formatted by the CSV writer.
 *
 * Going through pcap images (fuzz_pipeline) spends most mutations on file
 * structure; this target feeds flows_packet() segments directly, so the
 * fuzzer explores sequence numbers, flags, timing and 4-tuple reuse.
 *
 * Input: a 16-byte set-up, then 16-byte segments.
 *   set-up  0-7   first timestamp, ns (int64, little-endian: any value;
 *                 flows clamps to [0, FLOWS_TS_MAX])
 *           8     MSL: (b & 0x7f) + 1, in ms, or in s when bit 7 is set
 *           9     idle timeout: 0 = never, else b * 10 ms
 *           10    max_flows: b % 8 (0 = unbounded)
 *           11    batch size for flows_replay(): b % 16 + 1
 *           12-15 unused
 *   segment 0     TCP flags (FIN SYN RST PSH ACK URG ECE CWR)
 *           1     bits 0-1 which of 4 connections; bit 2 direction;
 *                 bit 3 AE flag; bit 4 window scale option; bits 5-7 ISN
 *                 generation (a new SYN with another ISN = a new instance)
 *           2-3   seq, relative to the sender's ISN (ISNs sit just below
 *                 2^32 so that sequence numbers wrap)
 *           4-5   ack, relative to the receiver's ISN
 *           6-7   payload length; 8-9 window; 10 wscale; 11 TTL
 *           12-13 time step; 14 bits 0-1 its unit (µs, ms, s, or a step
 *                 back in ms); 15 IP id
 * The connections are 10.0.0.1:40000-10.0.0.2:80, 10.0.0.1:40001-
 * 10.0.0.2:80, [2001:db8::1]:1234-[2001:db8::2]:1234 (equal ports) and
 * 10.0.0.9:7-10.0.0.9:7 (both ends the same address and port).
 *
 * The script runs twice: one flows_packet() call per segment, then
 * flows_prepare() + flows_replay() in batches of (set-up byte 11 % 16) + 1, as cli.c feeds
 * it; both must emit the same rows in the same order and the same counters.
 *
 * Invariants checked besides memory safety and UB:
 *   - every instance is emitted exactly once (ids 1..instances), none is
 *     left alive, and each segment is counted in exactly one row (or as a
 *     duplicate);
 *   - enumerations in range, closing <= 2, a TIME_WAIT side iff a reason;
 *   - when time never goes back: first_ts <= last_ts, time_wait_start <=
 *     time_wait_end <= capture end, handshake_rtt >= 0.
 */
#include "fuzz.h"

#include <string.h>

#include "flows.h"
#include "report.h"

/* What flows does to every timestamp it is given (flows.h). */
static int64_t clamp_ts(int64_t ts)
{
    return ts < 0 ? 0 : ts > FLOWS_TS_MAX ? FLOWS_TS_MAX : ts;
}

#define SETUP_LEN 16
#define SEG_LEN   16
#define N_CONNS   4

typedef struct state {
    uint64_t emitted;
    uint64_t packets;
    uint8_t *seen; /* by conn_id */
    size_t seen_cap;
    int monotonic;
    int64_t capture_end;
    report *rep;
    conn_record *rows; /* in emission order, seen_cap of them at most */
} state;

static FILE *devnull;
static int verbose; /* SYNFIN_FUZZ_VERBOSE=1: print the script and the rows */

static void print_flags(unsigned f)
{
    static const char names[] = "FSRPAUEC";
    for (int i = 0; i < 8; i++)
        if (f & (1u << i))
            fputc(names[i], stderr);
    if (f & DISSECT_AE)
        fputs("(AE)", stderr);
}

static void on_row(void *ctx, const conn_record *r)
{
    state *st = ctx;
    FUZZ_CHECK(r->conn_id >= 1 && r->conn_id < st->seen_cap, "conn_id %llu",
               (unsigned long long)r->conn_id);
    FUZZ_CHECK(!st->seen[r->conn_id], "conn_id %llu emitted twice", (unsigned long long)r->conn_id);
    st->seen[r->conn_id] = 1;
    memcpy(&st->rows[st->emitted], r, sizeof(*r)); /* padding included: record_fill zeroes it */
    st->emitted++;
    st->packets += r->packets_c2s + r->packets_s2c;
    FUZZ_CHECK(r->packets_c2s + r->packets_s2c >= 1, "row without packets");
    FUZZ_CHECK(r->ip_version == 4 || r->ip_version == 6, "ip_version");
    FUZZ_CHECK(r->role_by < ROLE_BY_COUNT && r->handshake < HS_COUNT, "role_by / handshake");
    FUZZ_CHECK(r->close_initiator < SIDE_COUNT && r->close_type < CLOSE_TYPE_COUNT, "close");
    FUZZ_CHECK(r->closing <= 2, "closing %u", r->closing);
    FUZZ_CHECK(r->closing == 0 || r->close_initiator == SIDE_BOTH, "closing %u with initiator %s",
               r->closing, conn_side_name(r->close_initiator)); /* SPEC §2 */
    FUZZ_CHECK(r->client_state < CONN_STATE_COUNT && r->server_state < CONN_STATE_COUNT, "states");
    FUZZ_CHECK(r->time_wait_side < SIDE_COUNT && r->time_wait_end_reason < TW_REASON_COUNT, "tw");
    FUZZ_CHECK((r->time_wait_side == SIDE_NONE) == (r->time_wait_end_reason == TW_REASON_NONE),
               "time_wait_side %s with reason '%s'", conn_side_name(r->time_wait_side),
               conn_tw_reason_name(r->time_wait_end_reason));
    FUZZ_CHECK((r->close_initiator == SIDE_NONE) == (r->close_type == CLOSE_NONE),
               "close_initiator %s, close_type %s", conn_side_name(r->close_initiator),
               conn_close_type_name(r->close_type));
    if (st->monotonic) {
        FUZZ_CHECK(r->first_ts <= r->last_ts, "first_ts %lld > last_ts %lld",
                   (long long)r->first_ts, (long long)r->last_ts);
        if (r->time_wait_side != SIDE_NONE) {
            FUZZ_CHECK(r->time_wait_start <= r->time_wait_end, "time_wait %lld .. %lld",
                       (long long)r->time_wait_start, (long long)r->time_wait_end);
            FUZZ_CHECK(r->time_wait_end <= st->capture_end, "time_wait_end %lld after end %lld",
                       (long long)r->time_wait_end, (long long)st->capture_end);
        }
        if (r->handshake == HS_COMPLETE)
            FUZZ_CHECK(r->handshake_rtt >= 0, "handshake_rtt %lld", (long long)r->handshake_rtt);
    }
    if (verbose)
        fprintf(stderr,
                "  row %llu: %s handshake %s, close %s/%s, closing %u, time_wait %s %s "
                "(%lld..%lld), states %s/%s, packets %llu/%llu, fin_retransmits %u, "
                "anomalies %#x\n",
                (unsigned long long)r->conn_id, conn_role_by_name(r->role_by),
                conn_handshake_name(r->handshake), conn_side_name(r->close_initiator),
                conn_close_type_name(r->close_type), r->closing, conn_side_name(r->time_wait_side),
                conn_tw_reason_name(r->time_wait_end_reason), (long long)r->time_wait_start,
                (long long)r->time_wait_end, conn_state_name(r->client_state),
                conn_state_name(r->server_state), (unsigned long long)r->packets_c2s,
                (unsigned long long)r->packets_s2c, r->fin_retransmits, r->anomalies);
    report_row(st->rep, r);
}

static void conn_addrs(unsigned which, dissect_segment *s, int reverse)
{
    uint8_t a[16] = {0}, b[16] = {0};
    uint16_t pa, pb;
    switch (which) {
    case 0:
    case 1:
        s->ip_version = 4;
        a[0] = b[0] = 10;
        a[3] = 1;
        b[3] = 2;
        pa = (uint16_t)(40000 + which);
        pb = 80;
        break;
    case 2:
        s->ip_version = 6;
        a[0] = b[0] = 0x20;
        a[1] = b[1] = 0x01;
        a[2] = b[2] = 0x0d;
        a[3] = b[3] = 0xb8;
        a[15] = 1;
        b[15] = 2;
        pa = pb = 1234;
        break;
    default:
        s->ip_version = 4;
        a[0] = b[0] = 10;
        a[3] = b[3] = 9;
        pa = pb = 7;
        break;
    }
    memcpy(reverse ? s->dst : s->src, a, 16);
    memcpy(reverse ? s->src : s->dst, b, 16);
    s->sport = reverse ? pb : pa;
    s->dport = reverse ? pa : pb;
}

static uint32_t isn_of(unsigned conn, unsigned dir, unsigned gen)
{
    return 0xffff0000u + conn * 0x1000u + dir * 0x800u + gen * 0x20000000u;
}

static uint16_t le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < SETUP_LEN)
        return 0;
    if (!devnull) {
        if (!(devnull = fopen("/dev/null", "w")))
            abort();
        const char *v = getenv("SYNFIN_FUZZ_VERBOSE");
        verbose = v && *v && *v != '0';
    }
    uint64_t t0 = 0;
    for (int i = 7; i >= 0; i--)
        t0 = t0 << 8 | data[i];
    flows_config cfg;
    flows_config_default(&cfg);
    int64_t unit = (data[8] & 0x80) ? FLOWS_NS_PER_SEC : 1000000;
    cfg.msl = ((data[8] & 0x7f) + 1) * unit;
    cfg.idle_timeout = (int64_t)data[9] * 10000000;
    cfg.max_flows = data[10] % 8;
    if (verbose)
        fprintf(stderr, "msl %lld ns, idle timeout %lld ns, max_flows %zu\n", (long long)cfg.msl,
                (long long)cfg.idle_timeout, cfg.max_flows);

    size_t n_segs = (size - SETUP_LEN) / SEG_LEN;
    dissect_segment *segs = calloc(n_segs ? n_segs : 1, sizeof(*segs));
    int64_t *ts = malloc((n_segs ? n_segs : 1) * sizeof(*ts));
    if (!segs || !ts)
        abort();

    /* The timestamps (saturating at the int64 limits), and whether time
     * ever goes back once flows has clamped it. */
    int64_t now = (int64_t)t0;
    int monotonic = 1;
    for (size_t i = 0; i < n_segs; i++) {
        const uint8_t *p = data + SETUP_LEN + i * SEG_LEN;
        int64_t step = le16(p + 12);
        static const int64_t units[4] = {1000, 1000000, 1000000000, -1000000};
        int64_t d = step * units[p[14] & 3];
        if (__builtin_add_overflow(now, d, &now))
            now = d > 0 ? INT64_MAX : INT64_MIN;
        ts[i] = now;
        if (i > 0 && clamp_ts(ts[i]) < clamp_ts(ts[i - 1]))
            monotonic = 0;
    }

    for (size_t i = 0; i < n_segs; i++) {
        const uint8_t *p = data + SETUP_LEN + i * SEG_LEN;
        dissect_segment *sg = &segs[i];
        unsigned which = p[1] & 3, dir = (p[1] >> 2) & 1, gen = p[1] >> 5;
        conn_addrs(which, sg, (int)dir);
        sg->flags = (uint16_t)(p[0] | ((p[1] & 8) ? DISSECT_AE : 0));
        sg->seq = isn_of(which, dir, gen) + le16(p + 2);
        sg->ack = isn_of(which, !dir, gen) + le16(p + 4);
        sg->payload_len = le16(p + 6);
        sg->window = le16(p + 8);
        if (p[1] & 0x10) {
            sg->opts |= DISSECT_OPT_WSCALE;
            sg->wscale = p[10];
        }
        sg->ttl = p[11];
        sg->ip_id = p[15];
        if (verbose) {
            fprintf(stderr, "%zu: t=%lld conn %u %s ", i + 1, (long long)ts[i], which,
                    dir ? "b->a" : "a->b");
            print_flags(sg->flags);
            fprintf(stderr, " seq isn(%s,gen %u)+%u ack isn(%s)+%u len %u win %u", dir ? "b" : "a",
                    gen, le16(p + 2), dir ? "a" : "b", le16(p + 4), sg->payload_len, sg->window);
            if (sg->opts & DISSECT_OPT_WSCALE)
                fprintf(stderr, " ws %u", sg->wscale);
            fprintf(stderr, " ttl %u\n", sg->ttl);
        }
    }
    /* cli.c passes the newest timestamp seen (the last packet's when in order). */
    int64_t end = 0;
    for (size_t i = 0; i < n_segs; i++)
        if (i == 0 || ts[i] > end)
            end = ts[i];

    /* One segment at a time, then in batches of 1..16 (flows_prepare + flows_replay, as
     * cli.c feeds it): both must emit the same rows in the same order. */
    state one, batch;
    flows_stats one_stats;
    memset(&one_stats, 0, sizeof(one_stats));
    for (int pass = 0; pass < 2; pass++) {
        state *st = pass == 0 ? &one : &batch;
        memset(st, 0, sizeof(*st));
        st->monotonic = monotonic;
        st->capture_end = monotonic ? clamp_ts(end) : INT64_MAX;
        st->seen_cap = n_segs + 2;
        st->seen = calloc(st->seen_cap, 1);
        st->rows = calloc(st->seen_cap, sizeof(*st->rows));
        st->rep = report_new(devnull, 9);
        if (st->rep)
            report_enable_summary(st->rep);
        flows_table *t = flows_new(&cfg, on_row, st);
        if (!st->seen || !st->rows || !st->rep || !t)
            abort();
        if (verbose)
            fprintf(stderr, "%s\n", pass == 0 ? "flows_packet:" : "flows_replay:");
        if (pass == 0) {
            for (size_t i = 0; i < n_segs; i++)
                if (flows_packet(t, &segs[i], ts[i]) != 0)
                    abort(); /* out of memory: not what we are looking for */
        } else {
            size_t chunk = (size_t)(data[11] % 16) + 1;
            for (size_t i = 0; i < n_segs; i += chunk) {
                size_t k = n_segs - i < chunk ? n_segs - i : chunk;
                flows_seg prep[16];
                flows_prepare(t, segs + i, ts + i, k, prep);
                if (flows_replay(t, prep, k) != 0)
                    abort();
            }
        }
        flows_finish(t, end);

        const flows_stats *fs = flows_get_stats(t);
        FUZZ_CHECK(fs->alive == 0, "%llu instances left alive", (unsigned long long)fs->alive);
        FUZZ_CHECK(st->emitted == fs->instances, "%llu rows for %llu instances",
                   (unsigned long long)st->emitted, (unsigned long long)fs->instances);
        FUZZ_CHECK(st->packets + fs->duplicates == fs->segments,
                   "rows count %llu packets + %llu duplicates, %llu segments given",
                   (unsigned long long)st->packets, (unsigned long long)fs->duplicates,
                   (unsigned long long)fs->segments);
        report_summary(st->rep, fs, devnull);
        if (pass == 0)
            one_stats = *fs;
        else
            FUZZ_CHECK(memcmp(&one_stats, fs, sizeof(*fs)) == 0,
                       "flows_replay and flows_packet disagree on the counters");
        flows_free(t);
        report_free(st->rep);
        free(st->seen);
    }
    FUZZ_CHECK(one.emitted == batch.emitted, "flows_packet: %llu rows, flows_replay: %llu",
               (unsigned long long)one.emitted, (unsigned long long)batch.emitted);
    /* Whole records, padding included (record_fill zeroes it; rows are
     * copied with memcpy): a field-by-field compare would silently skip
     * fields added later. */
    for (uint64_t i = 0; i < one.emitted; i++)
        // NOLINTNEXTLINE(bugprone-suspicious-memory-comparison,cert-exp42-c,cert-flp37-c)
        FUZZ_CHECK(memcmp(&one.rows[i], &batch.rows[i], sizeof(conn_record)) == 0,
                   "row %llu (conn_id %llu) differs between flows_packet and flows_replay",
                   (unsigned long long)i, (unsigned long long)one.rows[i].conn_id);
    free(one.rows);
    free(batch.rows);
    free(segs);
    free(ts);
    return 0;
}
