/*
 * merge.c: several inputs read as one stream in time order (README
 * "Inputs"), or one after another as given (--keep-order).
 *
 * Time order: the files are sorted by their first packet's time
 * (input_probe reads no further), ties by name, then by position, so that
 * the stream does not depend on the order the files were named in. A k-way
 * merge hands out the earliest packet at the heads of the inputs open at
 * once, ties to the input first in that order. A file is opened when the
 * stream reaches its first packet and closed at its end: rotated files
 * (which do not overlap) are read one after another, each opened once;
 * files that overlap (one per capture queue or interface) hold one packet
 * each, in place in their reader's buffer. Since the files not opened yet
 * start no earlier than the next one in order, this is exactly the merge
 * of all of them opened at once. A file's own packets keep its order:
 * a packet behind the stream's latest can only be behind its own file's
 * latest as well, which is what the warning says.
 *
 * Inputs that can be read only once (standard input, pipes, process
 * substitution) cannot be probed: they are opened by input_set_new and
 * placed by their first packet, which they hold until the stream reaches
 * it. A file whose probe finds no packet (unreadable, damaged before its
 * first packet, or empty) comes first, so that its message comes at once.
 */
#include "capture.h"
#include "capture_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define BACK_IN_TIME_NS 1000000000 /* the warning's threshold: one second */

typedef struct member {
    const char *path;
    size_t index;       /* in the caller's paths */
    int64_t first_ts;   /* the sort key; INT64_MIN when no packet is known */
    synfin_input *in;   /* open: in the heap, or opened early (below) */
    input_packet head;  /* the packet held (in the heap, or opened early) */
    input_status early; /* opened early: how its first input_next went */
    int failed;         /* opened early and failed: err says why */
    char *err;          /* (NULL when even that was out of memory) */
    int warned;         /* the back-in-time warning was given */
} member;

struct input_set {
    member *m;      /* in reading order */
    size_t n, next; /* m[next, n) are not in the heap yet */
    size_t *heap;   /* positions in m of the open inputs, by (head.ts, position) */
    size_t nheap;
    int keep_order; /* as given (--keep-order, or a single input) */
    int given;      /* --keep-order itself */
    int handed;     /* the top's packet was handed out: advance it first */
    int held;       /* the top's packet waits behind a warning */
    int have_latest;
    int64_t latest; /* the latest packet time handed out */
    size_t opened;
    uint64_t closed_bytes; /* consumed of the inputs closed */
    int stdin_precision;
    char msg[800];
};

/* ---- the heap ------------------------------------------------------------ */

static int before(const input_set *s, size_t a, size_t b)
{
    int64_t ta = s->m[a].head.ts, tb = s->m[b].head.ts;
    return ta < tb || (ta == tb && a < b);
}

static void sift_down(input_set *s, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, min = i;
        if (l < s->nheap && before(s, s->heap[l], s->heap[min]))
            min = l;
        if (r < s->nheap && before(s, s->heap[r], s->heap[min]))
            min = r;
        if (min == i)
            return;
        size_t t = s->heap[i];
        s->heap[i] = s->heap[min];
        s->heap[min] = t;
        i = min;
    }
}

static void push(input_set *s, size_t k)
{
    size_t i = s->nheap++;
    s->heap[i] = k;
    while (i > 0 && before(s, s->heap[i], s->heap[(i - 1) / 2])) {
        size_t p = (i - 1) / 2, t = s->heap[i];
        s->heap[i] = s->heap[p];
        s->heap[p] = t;
        i = p;
    }
}

static void pop(input_set *s)
{
    s->heap[0] = s->heap[--s->nheap];
    sift_down(s, 0);
}

/* ---- setting up ------------------------------------------------------------ */

static int read_once(const char *path)
{
    struct stat sb;
    return strcmp(path, "-") == 0 || (stat(path, &sb) == 0 && !S_ISREG(sb.st_mode));
}

/* Opens an input that can be read only once and reads its first packet. */
static void open_early(input_set *s, member *m, int *stdin_seen)
{
    char err[640];
    int is_stdin = strcmp(m->path, "-") == 0;
    m->first_ts = INT64_MIN;
    if (is_stdin && (*stdin_seen)++) {
        m->failed = 1;
        m->err = strdup("-: standard input named twice (it can be read only once)");
        return;
    }
    m->in = input_open(m->path, err, sizeof(err));
    if (!m->in) {
        m->failed = 1;
        m->err = strdup(err);
        return;
    }
    s->opened++;
    m->early = input_next(m->in, &m->head);
    if (m->early == INPUT_PACKET)
        m->first_ts = m->head.ts;
    if (is_stdin)
        s->stdin_precision = input_precision(m->in);
}

static int by_time(const void *a, const void *b)
{
    const member *x = a, *y = b;
    if (x->first_ts != y->first_ts)
        return x->first_ts < y->first_ts ? -1 : 1;
    int c = strcmp(x->path, y->path);
    if (c)
        return c;
    return x->index < y->index ? -1 : x->index > y->index;
}

input_set *input_set_new(const char *const *paths, size_t n, int keep_order)
{
    input_set *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->m = calloc(n ? n : 1, sizeof(*s->m));
    s->heap = calloc(n ? n : 1, sizeof(*s->heap));
    if (!s->m || !s->heap) {
        input_set_free(s);
        return NULL;
    }
    s->n = n;
    s->given = keep_order;
    s->keep_order = keep_order || n < 2;
    int stdin_seen = 0;
    for (size_t i = 0; i < n; i++) {
        member *m = &s->m[i];
        m->path = paths[i];
        m->index = i;
        if (read_once(m->path))
            open_early(s, m, &stdin_seen);
        else if (!s->keep_order && input_probe(m->path, &m->first_ts) != 1)
            m->first_ts = INT64_MIN;
    }
    if (!s->keep_order)
        qsort(s->m, n, sizeof(*s->m), by_time);
    return s;
}

/* ---- reading ---------------------------------------------------------------- */

/* An input is over (st INPUT_END or INPUT_DAMAGED): closed, its message
 * kept. Returns st. */
static input_status retire(input_set *s, member *m, input_status st, size_t *which)
{
    if (st == INPUT_DAMAGED) {
        snprintf(s->msg, sizeof(s->msg), "%s", input_error(m->in));
        *which = m->index;
    }
    s->closed_bytes += input_offset(m->in);
    input_close(m->in);
    m->in = NULL;
    return st;
}

/* Opens m[k] (unless opened early) and puts its first packet in the heap.
 * INPUT_DAMAGED when it cannot be opened or read (s->msg). */
static input_status activate(input_set *s, size_t k, size_t *which)
{
    member *m = &s->m[k];
    input_status st = m->early;
    if (m->failed) {
        snprintf(s->msg, sizeof(s->msg), "%s%s", m->err ? m->err : m->path,
                 m->err ? "" : ": out of memory");
        free(m->err);
        m->err = NULL;
        *which = m->index;
        return INPUT_DAMAGED;
    }
    if (!m->in) {
        char err[640];
        if (!(m->in = input_open(m->path, err, sizeof(err)))) {
            snprintf(s->msg, sizeof(s->msg), "%s", err);
            *which = m->index;
            return INPUT_DAMAGED;
        }
        s->opened++;
        st = input_next(m->in, &m->head);
    }
    if (st == INPUT_PACKET) {
        push(s, k);
        return st;
    }
    return retire(s, m, st, which);
}

/* The stream's next packet is m[heap[0]]'s: a warning first when it goes
 * back in time (once per input). */
static int goes_back(input_set *s, member *m)
{
    if (m->warned || !s->have_latest || m->head.ts >= s->latest ||
        s->latest - m->head.ts <= BACK_IN_TIME_NS)
        return 0;
    m->warned = 1;
    snprintf(s->msg, sizeof(s->msg),
             "%s: packet %llu goes back in time by %.3f s (%s; said once per file)", m->path,
             (unsigned long long)input_packets(m->in), (double)(s->latest - m->head.ts) / 1e9,
             s->given ? "--keep-order reads the inputs as given"
                      : "a file's own packets are read in its order");
    return 1;
}

/* The last input open, with none left to open (a single file, the last of
 * rotated ones): its packets straight into the caller's, no heap. 1 when
 * *pkt is the stream's next packet; 0 to take the general way (the end of
 * the input, or a packet for the warning, then kept in the head). */
static int next_of_the_last(input_set *s, input_packet *pkt, size_t *which)
{
    member *t = &s->m[s->heap[0]];
    input_status st = input_next(t->in, pkt);
    if (st != INPUT_PACKET) {
        t->early = st; /* for input_set_next's general way */
        return 0;
    }
    if (pkt->ts < s->latest && s->latest - pkt->ts > BACK_IN_TIME_NS && !t->warned) {
        t->head = *pkt;
        s->handed = 0;
        return 0;
    }
    if (pkt->ts > s->latest)
        s->latest = pkt->ts;
    *which = t->index;
    return 1;
}

input_status input_set_next(input_set *s, input_packet *pkt, size_t *which)
{
    if (s->handed && s->nheap == 1 && s->next == s->n) {
        if (next_of_the_last(s, pkt, which))
            return INPUT_PACKET;
        if (s->handed) { /* the input is over */
            s->handed = 0;
            member *t = &s->m[s->heap[0]];
            pop(s);
            if (retire(s, t, t->early, which) == INPUT_DAMAGED)
                return INPUT_DAMAGED;
        }
    }
    if (s->handed) {
        s->handed = 0;
        member *t = &s->m[s->heap[0]];
        input_status st = input_next(t->in, &t->head);
        if (st == INPUT_PACKET) {
            sift_down(s, 0);
        } else {
            pop(s);
            if (retire(s, t, st, which) == INPUT_DAMAGED)
                return INPUT_DAMAGED;
        }
    }
    /* Open the inputs the stream has reached. */
    while (s->next < s->n && (s->nheap == 0 || (!s->keep_order && s->m[s->next].first_ts <=
                                                                      s->m[s->heap[0]].head.ts)))
        if (activate(s, s->next++, which) == INPUT_DAMAGED)
            return INPUT_DAMAGED;
    if (s->nheap == 0)
        return INPUT_END;
    member *t = &s->m[s->heap[0]];
    *which = t->index;
    if (!s->held && goes_back(s, t)) {
        s->held = 1;
        return INPUT_WARNING;
    }
    s->held = 0;
    if (!s->have_latest || t->head.ts > s->latest)
        s->latest = t->head.ts;
    s->have_latest = 1;
    *pkt = t->head;
    s->handed = 1;
    return INPUT_PACKET;
}

const char *input_set_error(const input_set *s)
{
    return s->msg;
}

size_t input_set_order(const input_set *s, size_t k)
{
    return s->m[k].index;
}

size_t input_set_opened(const input_set *s)
{
    return s->opened;
}

uint64_t input_set_offset(const input_set *s)
{
    uint64_t sum = s->closed_bytes;
    for (size_t i = 0; i < s->n; i++)
        if (s->m[i].in)
            sum += input_offset(s->m[i].in);
    return sum;
}

int input_set_stdin_precision(const input_set *s)
{
    return s->stdin_precision;
}

void input_set_free(input_set *s)
{
    if (!s)
        return;
    for (size_t i = 0; s->m && i < s->n; i++) {
        input_close(s->m[i].in);
        free(s->m[i].err);
    }
    free(s->m);
    free(s->heap);
    free(s);
}
