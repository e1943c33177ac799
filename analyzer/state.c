/*
 * state.c: the --state-in / --state-out file (state.h says its layout).
 */
#include "state.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>

static const char state_magic[16] = "synfin state\n\0\0";

typedef struct state_header {
    char magic[16];
    uint32_t version;
    uint32_t flags; /* STATE_CENSUS */
    uint64_t length;
    uint32_t crc;
    uint32_t zero;
} state_header;

enum { STATE_CENSUS = 1 };

#define READER_TAG UINT64_C(0x3144414552534e59) /* "YNSREAD1" */

static uint32_t crc_of(const unsigned char *p, size_t n)
{
    return (uint32_t)crc32_z(crc32(0L, Z_NULL, 0), p, n);
}

int state_read(const char *path, flows_buf *payload, uint32_t *flags, char *err, size_t errlen)
{
    memset(payload, 0, sizeof(*payload));
    *flags = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno)), -1;
    state_header h;
    size_t got = fread(&h, 1, sizeof(h), f);
    int r = -1;
    if (got < sizeof(h.magic) || memcmp(h.magic, state_magic, sizeof(h.magic)) != 0)
        snprintf(err, errlen, "%s: not a synfin state file (--state-out writes them)", path);
    else if (got < sizeof(h))
        snprintf(err, errlen, "%s: damaged: cut short in its header", path);
    else if (h.version != STATE_VERSION)
        snprintf(err, errlen, "%s: a state of version %u; this synfin reads version %u", path,
                 h.version, STATE_VERSION);
    else if (h.length > (uint64_t)SIZE_MAX / 2 ||
             !(payload->data = malloc(h.length ? h.length : 1)))
        snprintf(err, errlen, "%s: damaged (a length of %llu bytes), or out of memory", path,
                 (unsigned long long)h.length);
    else if ((payload->len = fread(payload->data, 1, h.length, f)) != h.length)
        snprintf(err, errlen, "%s: damaged: cut short (%zu of %llu bytes after the header)", path,
                 payload->len, (unsigned long long)h.length);
    else if (fgetc(f) != EOF)
        snprintf(err, errlen, "%s: damaged: bytes after the end of the state", path);
    else if (crc_of(payload->data, h.length) != h.crc)
        snprintf(err, errlen, "%s: damaged: its checksum does not match", path);
    else
        r = 0;
    (void)fclose(f); /* read only */
    payload->cap = payload->len;
    payload->pos = 0;
    *flags = r == 0 ? h.flags : 0;
    if (r < 0)
        flows_buf_free(payload);
    return r;
}

/* The reader's section: its tag, then capture_end, have_ts, what the
 * census was (interval, 0 for none; moments over time or not) and the
 * shard (K << 32 | N; 0: the whole capture), and whether tunnels were
 * looked into (1) or not (--no-tunnels, 0). */
enum { READER_WORDS = 6 };

/* Reads the reader's section from the payload's start into v; 0, or -1
 * with a message in err. */
static int read_reader(flows_buf *payload, int64_t v[READER_WORDS], char *err, size_t errlen)
{
    uint64_t tag;
    payload->pos = 0;
    if (flows_buf_get(payload, &tag, sizeof(tag)) < 0 || tag != READER_TAG ||
        flows_buf_get(payload, v, READER_WORDS * sizeof(*v)) < 0)
        return snprintf(err, errlen, "damaged: no reader's state where one should be"), -1;
    return 0;
}

int state_check(flows_buf *payload, uint32_t flags, const state_want *want, char *err,
                size_t errlen)
{
    int64_t v[READER_WORDS];
    if (read_reader(payload, v, err, errlen) < 0)
        return -1;
    int census = (flags & STATE_CENSUS) != 0;
    if (census != want->census)
        return snprintf(err, errlen, "%s", flows_state_census_mismatch(census)), -1;
    if (census && v[2] != want->interval)
        return snprintf(err, errlen, "written with another --interval: give the same one"), -1;
    if (census && (v[3] != 0) != (want->over_time != 0))
        return snprintf(err, errlen,
                        "written %s --census or --plot: the census over time needs them in "
                        "every run or in none",
                        v[3] ? "with" : "without"),
               -1;
    if (v[4] != want->shard)
        return snprintf(err, errlen, "written for another --shard: each shard carries its own"), -1;
    if (v[5] != want->tunnels)
        return snprintf(err, errlen, "written %s --no-tunnels: give the same in every run",
                        v[5] ? "without" : "with"),
               -1;
    int r = flows_state_check(want->flows, payload, err, errlen);
    payload->pos = 0;
    return r;
}

int state_apply(flows_buf *payload, state_reader *r, report_census *rc, flows_table *f, char *err,
                size_t errlen)
{
    int64_t v[READER_WORDS];
    if (read_reader(payload, v, err, errlen) < 0)
        return -1;
    r->capture_end = v[0];
    r->have_ts = v[1] != 0;
    if (flows_load(f, payload, err, errlen) < 0)
        return -1;
    if (rc && report_census_load(rc, payload, err, errlen) < 0)
        return -1;
    if (payload->pos != payload->len)
        return snprintf(err, errlen, "damaged: bytes left after the state"), -1;
    return 0;
}

/* Writes the header and the sections to f; 0, or -1 (errno). */
static int write_all(FILE *f, const state_reader *r, const flows_buf *census,
                     const flows_buf *flows)
{
    flows_buf rd = {0};
    const uint64_t tag = READER_TAG;
    const int64_t v[READER_WORDS] = {
        r->capture_end,      r->have_ts, census ? r->census_interval : 0,
        r->census_over_time, r->shard,   r->tunnels};
    flows_buf_put(&rd, &tag, sizeof(tag));
    flows_buf_put(&rd, v, sizeof(v));
    const flows_buf *parts[3] = {&rd, flows, census};
    state_header h;
    memset(&h, 0, sizeof(h));
    memcpy(h.magic, state_magic, sizeof(h.magic));
    h.version = STATE_VERSION;
    h.flags = census ? STATE_CENSUS : 0;
    uLong crc = crc32(0L, Z_NULL, 0);
    for (int i = 0; i < 3; i++) {
        if (!parts[i])
            continue;
        h.length += parts[i]->len;
        crc = crc32_z(crc, parts[i]->data, parts[i]->len);
    }
    h.crc = (uint32_t)crc;
    int ok = !rd.failed && fwrite(&h, sizeof(h), 1, f) == 1;
    for (int i = 0; ok && i < 3; i++)
        if (parts[i] && parts[i]->len)
            ok = fwrite(parts[i]->data, 1, parts[i]->len, f) == parts[i]->len;
    flows_buf_free(&rd);
    if (!ok && !errno)
        errno = EIO;
    return ok ? 0 : -1;
}

int state_write(const char *path, const state_reader *r, const flows_buf *census,
                const flows_buf *flows, char *err, size_t errlen)
{
    char tmp[4096];
    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", path, (long)getpid()) >= sizeof(tmp))
        return snprintf(err, errlen, "%s: name too long", path), -1;
    FILE *f = fopen(tmp, "wb");
    if (!f)
        return snprintf(err, errlen, "%s: cannot write: %s", tmp, strerror(errno)), -1;
    errno = 0;
    int bad = write_all(f, r, census, flows) < 0;
    int e = errno;
    if (fflush(f) != 0 || fsync(fileno(f)) != 0) {
        bad = 1;
        e = e ? e : errno;
    }
    if (fclose(f) != 0 && !bad) {
        bad = 1;
        e = errno;
    }
    if (!bad && rename(tmp, path) != 0) {
        bad = 1;
        e = errno;
    }
    if (bad) {
        (void)unlink(tmp); /* the old state, if any, stays */
        return snprintf(err, errlen, "%s: write error: %s", path, strerror(e ? e : EIO)), -1;
    }
    return 0;
}

int state_probe(const char *path, char *err, size_t errlen)
{
    char tmp[4096];
    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", path, (long)getpid()) >= sizeof(tmp))
        return snprintf(err, errlen, "%s: name too long", path), -1;
    FILE *f = fopen(tmp, "wb");
    if (!f)
        return snprintf(err, errlen, "%s: cannot write: %s", path, strerror(errno)), -1;
    (void)fclose(f); /* empty */
    (void)unlink(tmp);
    return 0;
}

/* ---- the run's side --------------------------------------------------------- */

static int64_t shard_word(const options *o)
{
    return o->shard_n ? (int64_t)o->shard_k << 32 | o->shard_n : 0;
}

int state_begin(const options *o, state_carry *c)
{
    char err[640];
    if (o->state_out && state_probe(o->state_out, err, sizeof(err)) < 0) {
        fprintf(stderr, "synfin: %s\n", err);
        return EXIT_DAMAGED; /* as an output that cannot be opened */
    }
    if (!o->state_in)
        return -1;
    if (state_read(o->state_in, &c->in, &c->flags, err, sizeof(err)) < 0) {
        fprintf(stderr, "synfin: %s\n", err);
        return EXIT_USAGE;
    }
    state_want want = {&o->flows,
                       o->census || o->cen.n_at || o->cen.plot,
                       o->census || o->cen.plot,
                       o->cen.interval,
                       shard_word(o),
                       !o->no_tunnels};
    if (state_check(&c->in, c->flags, &want, err, sizeof(err)) < 0) {
        fprintf(stderr, "synfin: %s: refused: %s\n", o->state_in, err);
        return EXIT_USAGE;
    }
    return -1;
}

int state_resume(const options *o, state_carry *c, report_census *rc, flows_table *f,
                 int64_t *capture_end, int *have_ts)
{
    if (!o->state_in)
        return 0;
    char err[512];
    state_reader sr = {0};
    if (state_apply(&c->in, &sr, rc, f, err, sizeof(err)) < 0) {
        fprintf(stderr, "synfin: %s: refused: %s\n", o->state_in, err);
        return -1;
    }
    *capture_end = sr.capture_end;
    *have_ts = sr.have_ts;
    flows_buf_free(&c->in);
    return 0;
}

int state_end(const options *o, state_carry *c, int has_census, int64_t capture_end, int have_ts)
{
    if (!o->state_out)
        return 0;
    char err[640];
    state_reader sr = {capture_end,   have_ts,       o->cen.interval, o->census || o->cen.plot,
                       shard_word(o), !o->no_tunnels};
    if (!c->saved || c->census.failed) {
        fprintf(stderr, "synfin: %s: not written (out of memory, or the run stopped)\n",
                o->state_out);
        return 1;
    }
    if (state_write(o->state_out, &sr, has_census ? &c->census : NULL, &c->flows, err,
                    sizeof(err)) < 0) {
        fprintf(stderr, "synfin: %s\n", err);
        return 1;
    }
    return 0;
}

void state_carry_free(state_carry *c)
{
    flows_buf_free(&c->in);
    flows_buf_free(&c->flows);
    flows_buf_free(&c->census);
}
