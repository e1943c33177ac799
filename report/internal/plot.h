/*
 * plot.h: the census of one host over time drawn as a chart (plot.c, with
 * cairo): one line per state that occurs, TIME_WAIT and ESTABLISHED thick
 * and strong, UTC clock times on x, counts on y. Private to report/: the
 * census itself is computed elsewhere and handed over as plot_point values.
 *
 * The helpers below plot_census are plot.c's choices (which states get a
 * line, their colours, the axes' ticks), declared here for the tests.
 */
#ifndef SYNFIN_PLOT_H
#define SYNFIN_PLOT_H

#include <stddef.h>
#include <stdint.h>

#include "flows.h"

/* The picture's size: pixels (PNG) or points (SVG). */
#define PLOT_WIDTH  960
#define PLOT_HEIGHT 540

/* One census moment of one host: its time (ns since the Unix epoch, UTC) and
 * its endpoints per state (n[CONN_CLOSED] is always 0 and never drawn). */
typedef struct plot_point {
    int64_t ts;
    uint32_t n[CONN_STATE_COUNT];
} plot_point;

/* Draws pts[0..n) (in time order) into `path`: SVG when the name ends in
 * ".svg", PNG when it ends in ".png" (case-insensitive); any other name is
 * an error. `host` is the host's address as text, for the title.
 * Returns 0, or -1 with a one-line reason (naming the file) in err. */
int plot_census(const char *path, const char *host, const plot_point *pts, size_t n, char *err,
                size_t errlen);

/* The states that get a line and a legend entry, in legend order (the
 * enum's): those above 0 at some point, CLOSED never. Returns how many were
 * written to out. */
unsigned plot_states_drawn(const plot_point *pts, size_t n, conn_state out[CONN_STATE_COUNT]);

/* A state's line colour as 0xRRGGBB (never a grey: text and grid are grey),
 * and its line width in pixels (PNG) or points (SVG). */
uint32_t plot_state_rgb(conn_state s);
double plot_state_width(conn_state s);

/* How the x axis' labels read (UTC). */
typedef enum plot_label {
    PLOT_LABEL_SECONDS,  /* 12:34:56, with `decimals` digits of the second: 12:34:56.5 */
    PLOT_LABEL_MINUTES,  /* 12:34 */
    PLOT_LABEL_DAY_TIME, /* 11-27 12:00 (month-day), when a span crosses days */
    PLOT_LABEL_DATE,     /* 2026-11-27 */
} plot_label;

/* The x axis: the range drawn, the tick step and the first tick (a multiple
 * of step, so ticks fall on round UTC clock times), and how labels read. */
typedef struct plot_time_axis {
    int64_t lo, hi; /* ns; hi > lo even for one point (a 1 s window) */
    int64_t step;   /* ns between ticks: 1, 2, 5 ms ... 30 s, 1 min ... 12 h, days */
    int64_t first;  /* the first tick, >= lo */
    plot_label label;
    int decimals;     /* digits of the second's fraction (PLOT_LABEL_SECONDS: 0-3) */
    int crosses_days; /* lo and hi fall on different UTC dates */
} plot_time_axis;

/* The axis for times t_min..t_max (t_min <= t_max). */
void plot_time_axis_pick(int64_t t_min, int64_t t_max, plot_time_axis *ax);

/* The label of tick t, e.g. "12:34:56", "12:34:56.5", "11-27 12:00". */
void plot_time_label(const plot_time_axis *ax, int64_t t, char *buf, size_t len);

/* The y axis: the step between count ticks (1, 2 or 5 × 10^k) for counts
 * 0..max, at most `max_ticks` intervals (>= 1); the axis ends at the first
 * multiple of step >= max (and at step when max is 0). */
uint64_t plot_count_step(uint64_t max, unsigned max_ticks);

#endif
