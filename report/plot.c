/*
 * plot.c: the census of one host over time drawn with cairo, as SVG or PNG
 * (plot.h). One line per state that occurs, in a fixed colour per state;
 * TIME_WAIT and ESTABLISHED drawn thick, in strong colours and last (on
 * top), the other states thin. x: UTC clock times with ticks on round
 * times (1 ms to days apart); y: counts with 1-2-5 ticks.
 *
 * Invariants: the axes never divide by zero (an x range is never empty, a
 * y range ends at 1 or more), and the file is written through our own
 * stream, so that a failed open or write is reported with errno's reason.
 */
#include "plot.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cairo-svg.h>
#include <cairo.h>

#define NS_PER_MS INT64_C(1000000)
#define NS_PER_S  INT64_C(1000000000)
#define NS_PER_D  (INT64_C(86400) * NS_PER_S)

/* The plot area in the picture (PLOT_WIDTH x PLOT_HEIGHT). */
#define WIDTH        PLOT_WIDTH
#define HEIGHT       PLOT_HEIGHT
#define AREA_LEFT    84.0
#define AREA_TOP     56.0
#define AREA_RIGHT   (WIDTH - 176.0)
#define AREA_BOTTOM  (HEIGHT - 64.0)
#define X_TICKS_MAX  8u /* x labels are up to ~80 px wide: 8 fit */
#define Y_TICKS_MAX  6u
#define WIDTH_STRONG 3.0
#define WIDTH_THIN   1.5

#define TEXT_RGB 0x333333u
#define GRID_RGB 0xe6e6e6u

/* ---- the states' looks ----------------------------------------------------- */

uint32_t plot_state_rgb(conn_state s)
{
    /* Distinct hues, no grey; the two that matter saturated and dark. */
    static const uint32_t rgb[CONN_STATE_COUNT] = {
        [CONN_LISTEN] = 0x8c564b,      [CONN_SYN_SENT] = 0xe377c2,  [CONN_SYN_RCVD] = 0xbcbd22,
        [CONN_ESTABLISHED] = 0x1f4fd6, [CONN_FIN_WAIT1] = 0x17becf, [CONN_FIN_WAIT2] = 0x9467bd,
        [CONN_CLOSING] = 0x2ca02c,     [CONN_TIME_WAIT] = 0xd62728, [CONN_CLOSE_WAIT] = 0xff7f0e,
        [CONN_LAST_ACK] = 0x00a08a,
    };
    return (unsigned)s < CONN_STATE_COUNT ? rgb[s] : 0;
}

static int state_is_strong(conn_state s)
{
    return s == CONN_ESTABLISHED || s == CONN_TIME_WAIT;
}

double plot_state_width(conn_state s)
{
    return state_is_strong(s) ? WIDTH_STRONG : WIDTH_THIN;
}

unsigned plot_states_drawn(const plot_point *pts, size_t n, conn_state out[CONN_STATE_COUNT])
{
    unsigned k = 0;
    for (int s = CONN_CLOSED + 1; s < CONN_STATE_COUNT; s++) {
        for (size_t i = 0; i < n; i++) {
            if (pts[i].n[s] > 0) {
                out[k++] = (conn_state)s;
                break;
            }
        }
    }
    return k;
}

/* ---- axes ------------------------------------------------------------------ */

uint64_t plot_count_step(uint64_t max, unsigned max_ticks)
{
    if (max_ticks == 0)
        max_ticks = 1;
    static const uint64_t mult[] = {1, 2, 5};
    for (uint64_t p = 1;; p *= 10) {
        for (size_t i = 0; i < sizeof(mult) / sizeof(mult[0]); i++) {
            uint64_t step = mult[i] * p;
            /* intervals = ceil(max / step) */
            if (max / step + (max % step != 0) <= max_ticks)
                return step;
        }
        if (p > UINT64_MAX / 100) /* 5e18: one interval holds any max */
            return 10 * p;
    }
}

/* a + b, kept within int64_t. */
static int64_t add_sat(int64_t a, int64_t b)
{
    if (b > 0 && a > INT64_MAX - b)
        return INT64_MAX;
    if (b < 0 && a < INT64_MIN - b)
        return INT64_MIN;
    return a + b;
}

/* The tick step for a span (ns): the first of the round steps that gives at
 * most X_TICKS_MAX intervals; past a week, 1-2-5 × 10^k days. */
static int64_t time_step(uint64_t span)
{
    static const int64_t steps[] = {
        NS_PER_MS,        2 * NS_PER_MS,   5 * NS_PER_MS,   10 * NS_PER_MS,   20 * NS_PER_MS,
        50 * NS_PER_MS,   100 * NS_PER_MS, 200 * NS_PER_MS, 500 * NS_PER_MS,  NS_PER_S,
        2 * NS_PER_S,     5 * NS_PER_S,    10 * NS_PER_S,   15 * NS_PER_S,    30 * NS_PER_S,
        60 * NS_PER_S,    120 * NS_PER_S,  300 * NS_PER_S,  600 * NS_PER_S,   900 * NS_PER_S,
        1800 * NS_PER_S,  3600 * NS_PER_S, 7200 * NS_PER_S, 10800 * NS_PER_S, 21600 * NS_PER_S,
        43200 * NS_PER_S, NS_PER_D,        2 * NS_PER_D,    7 * NS_PER_D,
    };
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        if (span / (uint64_t)steps[i] + (span % (uint64_t)steps[i] != 0) <= X_TICKS_MAX)
            return steps[i];
    }
    uint64_t days = span / (uint64_t)NS_PER_D + (span % (uint64_t)NS_PER_D != 0);
    uint64_t step_days = plot_count_step(days, X_TICKS_MAX);
    if (step_days > (uint64_t)(INT64_MAX / NS_PER_D))
        return INT64_MAX;
    return (int64_t)step_days * NS_PER_D;
}

/* floor(t / d) for d > 0. */
static int64_t floor_div(int64_t t, int64_t d)
{
    int64_t q = t / d;
    return (t % d != 0 && t < 0) ? q - 1 : q;
}

static int64_t day_of(int64_t t)
{
    return floor_div(t, NS_PER_D);
}

void plot_time_axis_pick(int64_t t_min, int64_t t_max, plot_time_axis *ax)
{
    uint64_t span = (uint64_t)t_max - (uint64_t)t_min;
    /* One moment: a 1 s window around it; a tiny span: at least 10 ms. */
    int64_t least = span == 0 ? NS_PER_S : 10 * NS_PER_MS;
    if (span < (uint64_t)least) {
        int64_t mid = add_sat(t_min, (int64_t)(span / 2));
        t_min = add_sat(mid, -least / 2);
        t_max = add_sat(t_min, least);
        span = (uint64_t)t_max - (uint64_t)t_min;
    }
    ax->lo = t_min;
    ax->hi = t_max;
    ax->step = time_step(span);
    int64_t r = t_min % ax->step;
    r = r < 0 ? r + ax->step : r;
    ax->first = r == 0 ? t_min : add_sat(t_min, ax->step - r);
    ax->crosses_days = day_of(t_min) != day_of(t_max);
    ax->decimals = 0;
    if (ax->step < NS_PER_S) {
        ax->label = PLOT_LABEL_SECONDS;
        ax->decimals = ax->step >= 100 * NS_PER_MS ? 1 : ax->step >= 10 * NS_PER_MS ? 2 : 3;
    } else if (ax->step < 60 * NS_PER_S) {
        ax->label = PLOT_LABEL_SECONDS;
    } else if (ax->step < 3600 * NS_PER_S || (ax->step < NS_PER_D && !ax->crosses_days)) {
        ax->label = PLOT_LABEL_MINUTES;
    } else if (ax->step < NS_PER_D) {
        ax->label = PLOT_LABEL_DAY_TIME;
    } else {
        ax->label = PLOT_LABEL_DATE;
    }
}

/* The UTC calendar time of t (ns); 0, or -1 when out of gmtime's range. */
static int utc_of(int64_t t, struct tm *tm)
{
    time_t sec = (time_t)floor_div(t, NS_PER_S);
    return gmtime_r(&sec, tm) ? 0 : -1;
}

void plot_time_label(const plot_time_axis *ax, int64_t t, char *buf, size_t len)
{
    struct tm tm;
    if (len == 0)
        return;
    size_t w = 0;
    if (utc_of(t, &tm) == 0) {
        switch (ax->label) {
        case PLOT_LABEL_SECONDS:
            w = strftime(buf, len, "%H:%M:%S", &tm);
            break;
        case PLOT_LABEL_MINUTES:
            w = strftime(buf, len, "%H:%M", &tm);
            break;
        case PLOT_LABEL_DAY_TIME:
            w = strftime(buf, len, "%m-%d %H:%M", &tm);
            break;
        case PLOT_LABEL_DATE:
            w = strftime(buf, len, "%Y-%m-%d", &tm);
            break;
        }
    }
    if (w == 0) {
        snprintf(buf, len, "?");
        return;
    }
    if (ax->label == PLOT_LABEL_SECONDS && ax->decimals > 0) {
        int64_t frac = t - floor_div(t, NS_PER_S) * NS_PER_S;
        static const int64_t unit[] = {NS_PER_S, 100 * NS_PER_MS, 10 * NS_PER_MS, NS_PER_MS};
        size_t used = strlen(buf);
        snprintf(buf + used, len - used, ".%0*lld", ax->decimals,
                 (long long)(frac / unit[ax->decimals]));
    }
}

/* ---- drawing --------------------------------------------------------------- */

typedef struct chart {
    cairo_t *cr;
    const plot_point *pts;
    size_t n;
    int64_t t_min, t_max; /* of the points */
    plot_time_axis tx;
    uint64_t ystep, ytop;
    conn_state states[CONN_STATE_COUNT];
    unsigned n_states;
} chart;

static void set_rgb(cairo_t *cr, uint32_t rgb)
{
    cairo_set_source_rgb(cr, (double)((rgb >> 16) & 0xff) / 255.0,
                         (double)((rgb >> 8) & 0xff) / 255.0, (double)(rgb & 0xff) / 255.0);
}

static double x_of(const chart *c, int64_t t)
{
    double span = (double)((uint64_t)c->tx.hi - (uint64_t)c->tx.lo);
    double off = t < c->tx.lo ? 0.0 : (double)((uint64_t)t - (uint64_t)c->tx.lo);
    return AREA_LEFT + (AREA_RIGHT - AREA_LEFT) * off / span;
}

static double y_of(const chart *c, uint64_t v)
{
    return AREA_BOTTOM - (AREA_BOTTOM - AREA_TOP) * (double)v / (double)c->ytop;
}

/* Text at (x, y) on its baseline: align -1 left, 0 centred, 1 right. */
static void text_at(cairo_t *cr, double x, double y, const char *s, int align)
{
    cairo_text_extents_t e;
    cairo_text_extents(cr, s, &e);
    double dx = align < 0 ? 0.0 : align == 0 ? e.x_advance / 2 : e.x_advance;
    cairo_move_to(cr, x - dx, y);
    cairo_show_text(cr, s);
}

static void font(cairo_t *cr, double size, int bold)
{
    cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL,
                           bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, size);
}

static void draw_title(cairo_t *cr, const char *host)
{
    char title[320];
    snprintf(title, sizeof(title), "TCP endpoints of %s by state", host ? host : "?");
    set_rgb(cr, TEXT_RGB);
    font(cr, 16, 1);
    text_at(cr, (AREA_LEFT + AREA_RIGHT) / 2, AREA_TOP - 24, title, 0);
}

static void draw_y_axis(const chart *c)
{
    cairo_t *cr = c->cr;
    char label[32];
    font(cr, 11, 0);
    for (uint64_t v = 0; v <= c->ytop; v += c->ystep) {
        /* Grid lines on pixel centres stay one crisp pixel wide. */
        double y = (double)(long)y_of(c, v) + 0.5;
        set_rgb(cr, GRID_RGB);
        cairo_set_line_width(cr, 1);
        cairo_move_to(cr, AREA_LEFT, y);
        cairo_line_to(cr, AREA_RIGHT, y);
        cairo_stroke(cr);
        set_rgb(cr, TEXT_RGB);
        snprintf(label, sizeof(label), "%llu", (unsigned long long)v);
        text_at(cr, AREA_LEFT - 6, y + 4, label, 1);
        if (c->ytop - v < c->ystep)
            break;
    }
    cairo_save(cr);
    cairo_translate(cr, 18, (AREA_TOP + AREA_BOTTOM) / 2);
    cairo_rotate(cr, -1.5707963267948966);
    text_at(cr, 0, 0, "endpoints", 0);
    cairo_restore(cr);
}

/* "time (UTC, 2026-11-27)", or with the last date when the span crosses days. */
static void time_title(const chart *c, char *buf, size_t len)
{
    struct tm a, b;
    char da[16] = "?", db[16] = "?";
    if (c->n == 0) {
        snprintf(buf, len, "time (UTC)");
        return;
    }
    if (utc_of(c->t_min, &a) == 0 && strftime(da, sizeof(da), "%Y-%m-%d", &a) == 0)
        snprintf(da, sizeof(da), "?");
    if (utc_of(c->t_max, &b) == 0 && strftime(db, sizeof(db), "%Y-%m-%d", &b) == 0)
        snprintf(db, sizeof(db), "?");
    if (strcmp(da, db) == 0)
        snprintf(buf, len, "time (UTC, %s)", da);
    else
        snprintf(buf, len, "time (UTC, %s to %s)", da, db);
}

static void draw_x_axis(const chart *c)
{
    cairo_t *cr = c->cr;
    char label[48];
    font(cr, 11, 0);
    for (int64_t t = c->tx.first; c->n > 0 && t <= c->tx.hi; t += c->tx.step) {
        double x = (double)(long)x_of(c, t) + 0.5;
        set_rgb(cr, GRID_RGB);
        cairo_set_line_width(cr, 1);
        cairo_move_to(cr, x, AREA_TOP);
        cairo_line_to(cr, x, AREA_BOTTOM);
        cairo_stroke(cr);
        set_rgb(cr, TEXT_RGB);
        cairo_move_to(cr, x, AREA_BOTTOM);
        cairo_line_to(cr, x, AREA_BOTTOM + 4);
        cairo_stroke(cr);
        plot_time_label(&c->tx, t, label, sizeof(label));
        text_at(cr, x, AREA_BOTTOM + 18, label, 0);
        if (t > INT64_MAX - c->tx.step)
            break;
    }
    time_title(c, label, sizeof(label));
    set_rgb(cr, TEXT_RGB);
    text_at(cr, (AREA_LEFT + AREA_RIGHT) / 2, HEIGHT - 18, label, 0);
    /* The axes themselves, over the grid. */
    cairo_set_line_width(cr, 1);
    cairo_move_to(cr, AREA_LEFT + 0.5, AREA_TOP);
    cairo_line_to(cr, AREA_LEFT + 0.5, AREA_BOTTOM + 0.5);
    cairo_line_to(cr, AREA_RIGHT, AREA_BOTTOM + 0.5);
    cairo_stroke(cr);
    if (c->n == 0)
        text_at(cr, (AREA_LEFT + AREA_RIGHT) / 2, (AREA_TOP + AREA_BOTTOM) / 2, "no census points",
                0);
}

/* One state's line through every point (a dot when there is one point). */
static void draw_series(const chart *c, conn_state s)
{
    cairo_t *cr = c->cr;
    double w = plot_state_width(s);
    set_rgb(cr, plot_state_rgb(s));
    cairo_set_line_width(cr, w);
    cairo_set_line_cap(cr, CAIRO_LINE_CAP_ROUND);
    cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
    if (c->n == 1) {
        cairo_arc(cr, x_of(c, c->pts[0].ts), y_of(c, c->pts[0].n[s]), 1.5 * w, 0,
                  2 * 3.141592653589793);
        cairo_fill(cr);
        return;
    }
    for (size_t i = 0; i < c->n; i++) {
        double x = x_of(c, c->pts[i].ts), y = y_of(c, c->pts[i].n[s]);
        if (i == 0)
            cairo_move_to(cr, x, y);
        else
            cairo_line_to(cr, x, y);
    }
    cairo_stroke(cr);
}

/* Right of the plot: a swatch of each line (pixel-aligned, so its colour
 * shows unblended) and the state's name, the strong ones in bold. */
static void draw_legend(const chart *c)
{
    cairo_t *cr = c->cr;
    double x = AREA_RIGHT + 16;
    cairo_set_line_cap(cr, CAIRO_LINE_CAP_BUTT);
    for (unsigned i = 0; i < c->n_states; i++) {
        conn_state s = c->states[i];
        double y = AREA_TOP + 8.5 + 20.0 * i;
        set_rgb(cr, plot_state_rgb(s));
        cairo_set_line_width(cr, plot_state_width(s));
        cairo_move_to(cr, x, y);
        cairo_line_to(cr, x + 24, y);
        cairo_stroke(cr);
        set_rgb(cr, TEXT_RGB);
        font(cr, 11, state_is_strong(s));
        text_at(cr, x + 30, y + 4, conn_state_name(s), -1);
    }
}

static void draw_chart(cairo_t *cr, const char *host, const plot_point *pts, size_t n)
{
    chart c = {.cr = cr, .pts = pts, .n = n};
    c.n_states = plot_states_drawn(pts, n, c.states);
    uint64_t max = 0;
    /* The points come in time order; the range is still taken over all of
     * them, so that one out of order is drawn inside the axes. */
    c.t_min = n ? pts[0].ts : 0;
    c.t_max = c.t_min;
    for (size_t i = 0; i < n; i++) {
        c.t_min = pts[i].ts < c.t_min ? pts[i].ts : c.t_min;
        c.t_max = pts[i].ts > c.t_max ? pts[i].ts : c.t_max;
        for (unsigned k = 0; k < c.n_states; k++)
            max = pts[i].n[c.states[k]] > max ? pts[i].n[c.states[k]] : max;
    }
    c.ystep = plot_count_step(max, Y_TICKS_MAX);
    c.ytop = max == 0 ? c.ystep : (max / c.ystep + (max % c.ystep != 0)) * c.ystep;
    plot_time_axis_pick(c.t_min, c.t_max, &c.tx);

    set_rgb(cr, 0xffffff);
    cairo_paint(cr);
    draw_title(cr, host);
    draw_y_axis(&c);
    draw_x_axis(&c);
    /* Thin lines first, the strong ones over them; TIME_WAIT on top. */
    for (int strong = 0; strong < 2; strong++)
        for (unsigned k = 0; k < c.n_states; k++)
            if (state_is_strong(c.states[k]) == strong)
                draw_series(&c, c.states[k]);
    draw_legend(&c);
}

/* ---- the file -------------------------------------------------------------- */

typedef enum image_kind { IMAGE_NONE, IMAGE_SVG, IMAGE_PNG } image_kind;

static int ends_with_ci(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    if (n < k)
        return 0;
    for (size_t i = 0; i < k; i++)
        if (tolower((unsigned char)s[n - k + i]) != suffix[i])
            return 0;
    return 1;
}

static image_kind kind_of(const char *path)
{
    return ends_with_ci(path, ".svg")   ? IMAGE_SVG
           : ends_with_ci(path, ".png") ? IMAGE_PNG
                                        : IMAGE_NONE;
}

/* cairo writes through this: a short write keeps errno for the message. */
typedef struct sink {
    FILE *f;
    int err;
} sink;

static cairo_status_t sink_write(void *closure, const unsigned char *data, unsigned int length)
{
    sink *k = closure;
    if (length > 0 && fwrite(data, 1, length, k->f) != length) {
        k->err = errno ? errno : EIO;
        return CAIRO_STATUS_WRITE_ERROR;
    }
    return CAIRO_STATUS_SUCCESS;
}

/* Draws into k; the first cairo failure, or CAIRO_STATUS_SUCCESS. */
static cairo_status_t render(image_kind kind, sink *k, const char *host, const plot_point *pts,
                             size_t n)
{
    cairo_surface_t *sf = kind == IMAGE_SVG
                              ? cairo_svg_surface_create_for_stream(sink_write, k, WIDTH, HEIGHT)
                              : cairo_image_surface_create(CAIRO_FORMAT_ARGB32, WIDTH, HEIGHT);
    cairo_t *cr = cairo_create(sf);
    draw_chart(cr, host, pts, n);
    cairo_status_t st = cairo_status(cr);
    cairo_destroy(cr);
    if (kind == IMAGE_SVG) {
        cairo_surface_finish(sf); /* the SVG is written here */
    } else if (st == CAIRO_STATUS_SUCCESS) {
        cairo_surface_flush(sf);
        st = cairo_surface_write_to_png_stream(sf, sink_write, k);
    }
    if (st == CAIRO_STATUS_SUCCESS)
        st = cairo_surface_status(sf);
    cairo_surface_destroy(sf);
    return st;
}

int plot_census(const char *path, const char *host, const plot_point *pts, size_t n, char *err,
                size_t errlen)
{
    char dummy[1];
    if (!err || errlen == 0)
        err = dummy, errlen = sizeof(dummy);
    if (!path) {
        snprintf(err, errlen, "plot: no file name");
        return -1;
    }
    image_kind kind = kind_of(path);
    if (kind == IMAGE_NONE) {
        snprintf(err, errlen, "%s: unknown image type (the name must end in .svg or .png)", path);
        return -1;
    }
    if (n > 0 && !pts) {
        snprintf(err, errlen, "%s: no census points given", path);
        return -1;
    }
    sink k = {.f = fopen(path, "wb"), .err = 0};
    if (!k.f) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    errno = 0;
    cairo_status_t st = render(kind, &k, host, pts, n);
    if (fflush(k.f) != 0 || ferror(k.f)) {
        if (!k.err)
            k.err = errno ? errno : EIO;
    }
    if (fclose(k.f) != 0 && !k.err)
        k.err = errno ? errno : EIO;
    if (k.err) {
        snprintf(err, errlen, "%s: write error: %s", path, strerror(k.err));
        return -1;
    }
    if (st != CAIRO_STATUS_SUCCESS) {
        snprintf(err, errlen, "%s: cannot draw: %s", path, cairo_status_to_string(st));
        return -1;
    }
    return 0;
}
