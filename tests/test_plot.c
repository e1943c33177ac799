/*
 * test_plot.c: the census chart (report/plot.c, white-box through
 * report/internal/plot.h): which states get a line, PNGs read back with
 * cairo and their pixels looked at (the lines' colours there, a state that
 * never occurs absent, a rising line drawn rising), SVGs, the edge cases
 * (no point, one point), the errors that name the file, and the axes'
 * ticks (1 s, 1 h, 3 days, 1-2-5 counts).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <cairo.h>

#include "plot.h"
#include "testkit.h"

#define T0 INT64_C(1700000000000000000) /* 2023-11-14 22:13:20 UTC */
#define S  INT64_C(1000000000)
#define MS INT64_C(1000000)

static char dir[64];

static int make_dir(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/test_plot.XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int remove_dir(void **state)
{
    (void)state;
    static const char *const names[] = {"rise.png", "rise3.png", "two.svg", "three.svg",
                                        "none.png", "none.svg",  "one.png", "one.svg",
                                        "UP.PNG",   "full.png",  "x.jpg"};
    char p[128];
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        snprintf(p, sizeof(p), "%s/%s", dir, names[i]);
        unlink(p);
    }
    /* cairo's font caches hold fontconfig's patterns: freed, so that
     * LeakSanitizer sees no leak at exit. */
    cairo_debug_reset_static_data();
    return rmdir(dir);
}

static const char *in_dir(const char *name)
{
    static char p[4][128];
    static unsigned k;
    k = (k + 1) % 4;
    snprintf(p[k], sizeof(p[k]), "%s/%s", dir, name);
    return p[k];
}

/* 61 points a second apart: ESTABLISHED rising 0 -> 100, TIME_WAIT at 40;
 * with `third`, CLOSE_WAIT at 7 from the middle on. */
static plot_point *rising(size_t *n, int third)
{
    *n = 61;
    plot_point *p = calloc(*n, sizeof(*p));
    assert_non_null(p);
    for (size_t i = 0; i < *n; i++) {
        p[i].ts = T0 + (int64_t)i * S;
        p[i].n[CONN_ESTABLISHED] = (uint32_t)(i * 100 / 60);
        p[i].n[CONN_TIME_WAIT] = 40;
        if (third && i >= 30)
            p[i].n[CONN_CLOSE_WAIT] = 7;
    }
    return p;
}

/* The pixels of a PNG of colour rgb (alpha ignored); their mean row among
 * those with x in [x_lo, x_hi). */
typedef struct pixels {
    unsigned long count;
    double mean_y;
} pixels;

static pixels find_rgb(cairo_surface_t *img, uint32_t rgb, int x_lo, int x_hi)
{
    pixels r = {0, 0};
    int w = cairo_image_surface_get_width(img), h = cairo_image_surface_get_height(img);
    int stride = cairo_image_surface_get_stride(img);
    const unsigned char *data = cairo_image_surface_get_data(img);
    double sum = 0;
    for (int y = 0; y < h; y++) {
        const uint32_t *row = (const uint32_t *)(const void *)(data + (size_t)y * (size_t)stride);
        for (int x = x_lo; x < x_hi && x < w; x++) {
            if ((row[x] & 0xffffffu) == rgb && (row[x] >> 24) == 0xff) {
                r.count++;
                sum += y;
            }
        }
    }
    r.mean_y = r.count ? sum / (double)r.count : -1;
    return r;
}

static cairo_surface_t *read_png(const char *path)
{
    cairo_surface_t *img = cairo_image_surface_create_from_png(path);
    assert_int_equal(cairo_surface_status(img), CAIRO_STATUS_SUCCESS);
    assert_int_equal(cairo_image_surface_get_width(img), PLOT_WIDTH);
    assert_int_equal(cairo_image_surface_get_height(img), PLOT_HEIGHT);
    cairo_surface_flush(img);
    return img;
}

static void draw_ok(const char *path, const plot_point *p, size_t n)
{
    char err[256] = "";
    int rc = plot_census(path, "10.0.0.2", p, n, err, sizeof(err));
    if (rc != 0)
        fail_msg("plot_census(%s): %s", path, err);
}

/* ---- which states, how they look ---------------------------------------------- */

static void test_states_drawn_are_those_above_zero_never_closed(void **state)
{
    (void)state;
    size_t n;
    plot_point *p = rising(&n, 0);
    p[3].n[CONN_CLOSED] = 5; /* never drawn, whatever it holds */
    conn_state s[CONN_STATE_COUNT];
    assert_int_equal(plot_states_drawn(p, n, s), 2);
    assert_int_equal(s[0], CONN_ESTABLISHED);
    assert_int_equal(s[1], CONN_TIME_WAIT);
    p[n - 1].n[CONN_LISTEN] = 1;
    assert_int_equal(plot_states_drawn(p, n, s), 3);
    assert_int_equal(s[0], CONN_LISTEN);
    assert_int_equal(plot_states_drawn(p, 0, s), 0);
    free(p);
}

static void test_time_wait_and_established_stand_out(void **state)
{
    (void)state;
    for (int a = CONN_LISTEN; a < CONN_STATE_COUNT; a++) {
        uint32_t c = plot_state_rgb((conn_state)a);
        int strong = a == CONN_ESTABLISHED || a == CONN_TIME_WAIT;
        /* No grey (text and grid are grey), no two states alike. */
        assert_false((c >> 16) == (c & 0xff) && ((c >> 8) & 0xff) == (c & 0xff));
        for (int b = a + 1; b < CONN_STATE_COUNT; b++)
            assert_int_not_equal(c, plot_state_rgb((conn_state)b));
        if (!strong)
            assert_true(plot_state_width((conn_state)a) < plot_state_width(CONN_TIME_WAIT) / 1.5);
    }
    assert_true(plot_state_width(CONN_ESTABLISHED) == plot_state_width(CONN_TIME_WAIT));
}

/* ---- PNG ----------------------------------------------------------------------- */

static void test_png_shows_the_lines_of_the_states_that_occur(void **state)
{
    (void)state;
    size_t n;
    plot_point *p = rising(&n, 0);
    draw_ok(in_dir("rise.png"), p, n);
    cairo_surface_t *img = read_png(in_dir("rise.png"));

    /* In the plot's left and right parts (the legend is right of x 780). */
    pixels est_l = find_rgb(img, plot_state_rgb(CONN_ESTABLISHED), 100, 300);
    pixels est_r = find_rgb(img, plot_state_rgb(CONN_ESTABLISHED), 550, 750);
    pixels tw_l = find_rgb(img, plot_state_rgb(CONN_TIME_WAIT), 100, 300);
    pixels tw_r = find_rgb(img, plot_state_rgb(CONN_TIME_WAIT), 550, 750);
    assert_true(est_l.count > 200 && est_r.count > 200);
    assert_true(tw_l.count > 200 && tw_r.count > 200);
    /* ESTABLISHED rises (up the picture: smaller y), TIME_WAIT stays flat. */
    assert_true(est_l.mean_y > est_r.mean_y + 100);
    assert_true(tw_l.mean_y - tw_r.mean_y < 2 && tw_r.mean_y - tw_l.mean_y < 2);
    /* A state that never occurs: neither line nor legend entry. */
    for (int s = CONN_LISTEN; s < CONN_STATE_COUNT; s++) {
        if (s == CONN_ESTABLISHED || s == CONN_TIME_WAIT)
            continue;
        pixels other = find_rgb(img, plot_state_rgb((conn_state)s), 0, PLOT_WIDTH);
        if (other.count != 0)
            fail_msg("%s's colour drawn (%lu pixels) but it never occurs",
                     conn_state_name((conn_state)s), other.count);
    }
    cairo_surface_destroy(img);
    free(p);
}

static void test_png_thin_third_state_appears_in_line_and_legend(void **state)
{
    (void)state;
    size_t n;
    plot_point *p = rising(&n, 1);
    draw_ok(in_dir("rise3.png"), p, n);
    cairo_surface_t *img = read_png(in_dir("rise3.png"));
    uint32_t cw = plot_state_rgb(CONN_CLOSE_WAIT);
    /* Flat at 7 in the second half: below TIME_WAIT's 40 (a larger y). */
    pixels cw_r = find_rgb(img, cw, 550, 750);
    assert_true(cw_r.count > 100);
    assert_true(cw_r.mean_y > find_rgb(img, plot_state_rgb(CONN_TIME_WAIT), 550, 750).mean_y + 50);
    assert_true(find_rgb(img, cw, 790, PLOT_WIDTH).count >= 24); /* its legend swatch */
    assert_true(find_rgb(img, plot_state_rgb(CONN_LAST_ACK), 0, PLOT_WIDTH).count == 0);
    cairo_surface_destroy(img);
    free(p);
}

/* ---- SVG ----------------------------------------------------------------------- */

static void test_svg_is_an_svg_and_a_third_state_changes_it(void **state)
{
    (void)state;
    size_t n;
    plot_point *p2 = rising(&n, 0), *p3 = rising(&n, 1);
    draw_ok(in_dir("two.svg"), p2, n);
    draw_ok(in_dir("three.svg"), p3, n);
    size_t len2, len3;
    char *two = tk_slurp(in_dir("two.svg"), &len2);
    char *three = tk_slurp(in_dir("three.svg"), &len3);
    assert_true(strncmp(two, "<?xml", 5) == 0 || strstr(two, "<svg") != NULL);
    assert_non_null(strstr(two, "<svg"));
    assert_non_null(strstr(two, "</svg>"));
    /* The third line and its legend entry (glyphs drawn as paths) add to it. */
    assert_true(len3 > len2);
    assert_true(len2 != len3 || memcmp(two, three, len2) != 0);
    free(two);
    free(three);
    free(p2);
    free(p3);
}

/* ---- edges and errors ---------------------------------------------------------- */

static void test_no_point_and_one_point_give_valid_files(void **state)
{
    (void)state;
    draw_ok(in_dir("none.png"), NULL, 0);
    cairo_surface_destroy(read_png(in_dir("none.png")));
    draw_ok(in_dir("none.svg"), NULL, 0);
    char *svg = tk_slurp(in_dir("none.svg"), NULL);
    assert_non_null(strstr(svg, "</svg>"));
    free(svg);

    plot_point one = {.ts = T0};
    one.n[CONN_TIME_WAIT] = 3;
    draw_ok(in_dir("one.png"), &one, 1);
    cairo_surface_t *img = read_png(in_dir("one.png"));
    /* The dot in the plot, and the swatch in the legend. */
    assert_true(find_rgb(img, plot_state_rgb(CONN_TIME_WAIT), 84, 780).count > 10);
    assert_true(find_rgb(img, plot_state_rgb(CONN_TIME_WAIT), 790, PLOT_WIDTH).count > 10);
    assert_true(find_rgb(img, plot_state_rgb(CONN_ESTABLISHED), 0, PLOT_WIDTH).count == 0);
    cairo_surface_destroy(img);
    draw_ok(in_dir("one.svg"), &one, 1);
    svg = tk_slurp(in_dir("one.svg"), NULL);
    assert_non_null(strstr(svg, "</svg>"));
    free(svg);
    /* The extension in any case. */
    draw_ok(in_dir("UP.PNG"), &one, 1);
    cairo_surface_destroy(read_png(in_dir("UP.PNG")));
}

static void expect_failure(const char *path, const plot_point *p, size_t n, const char *why)
{
    char err[256] = "";
    assert_int_equal(plot_census(path, "10.0.0.2", p, n, err, sizeof(err)), -1);
    if (!strstr(err, path) || !strstr(err, why))
        fail_msg("%s: message \"%s\" lacks the path or \"%s\"", path, err, why);
    assert_null(strchr(err, '\n'));
}

static void test_bad_name_and_unwritable_path_fail_naming_the_file(void **state)
{
    (void)state;
    plot_point one = {.ts = T0};
    one.n[CONN_ESTABLISHED] = 1;
    expect_failure(in_dir("x.jpg"), &one, 1, "svg or .png");
    assert_int_equal(access(in_dir("x.jpg"), F_OK), -1); /* nothing written */
    expect_failure("x", &one, 1, "svg or .png");
    expect_failure("/nonexistent/dir/x.png", &one, 1, "No such file");
    expect_failure("/nonexistent/dir/x.svg", &one, 1, "No such file");
    expect_failure(in_dir("one.png"), NULL, 1, "no census points");
    /* No room for a message: still -1, nothing written out of bounds. */
    assert_int_equal(plot_census("x.gif", "h", &one, 1, NULL, 0), -1);
}

static void test_write_error_is_reported(void **state)
{
    (void)state;
    if (access("/dev/full", W_OK) != 0)
        skip();
    assert_int_equal(symlink("/dev/full", in_dir("full.png")), 0);
    size_t n;
    plot_point *p = rising(&n, 1);
    expect_failure(in_dir("full.png"), p, n, "write error");
    free(p);
}

/* ---- axes ---------------------------------------------------------------------- */

static void label_is(const plot_time_axis *ax, int64_t t, const char *want)
{
    char buf[48];
    plot_time_label(ax, t, buf, sizeof(buf));
    assert_string_equal(buf, want);
}

static void test_time_axis_one_second(void **state)
{
    (void)state;
    plot_time_axis ax;
    plot_time_axis_pick(T0, T0 + S, &ax);
    assert_true(ax.lo == T0 && ax.hi == T0 + S);
    assert_int_equal(ax.step, 200 * MS);
    assert_true(ax.first == T0);
    assert_int_equal(ax.label, PLOT_LABEL_SECONDS);
    label_is(&ax, T0 + 400 * MS, "22:13:20.4");
    /* A short span: milliseconds. */
    plot_time_axis_pick(T0 + 3 * MS, T0 + 40 * MS, &ax);
    assert_int_equal(ax.step, 5 * MS);
    assert_true(ax.first == T0 + 5 * MS);
    label_is(&ax, ax.first, "22:13:20.005");
}

static void test_time_axis_one_hour(void **state)
{
    (void)state;
    plot_time_axis ax;
    plot_time_axis_pick(T0, T0 + 3600 * S, &ax);
    assert_true(ax.step == 600 * S);
    assert_true(ax.first == T0 + 400 * S); /* 22:20:00 */
    assert_int_equal(ax.label, PLOT_LABEL_MINUTES);
    assert_false(ax.crosses_days);
    label_is(&ax, ax.first, "22:20");
    /* A minute: seconds. */
    plot_time_axis_pick(T0, T0 + 60 * S, &ax);
    assert_true(ax.step == 10 * S);
    label_is(&ax, ax.first, "22:13:20");
}

static void test_time_axis_three_days(void **state)
{
    (void)state;
    plot_time_axis ax;
    plot_time_axis_pick(T0, T0 + 3 * 86400 * S, &ax);
    assert_true(ax.step == 12 * 3600 * S);
    assert_true(ax.crosses_days);
    assert_int_equal(ax.label, PLOT_LABEL_DAY_TIME);
    label_is(&ax, ax.first, "11-15 00:00");
    /* A hundred days: whole days, as dates. */
    plot_time_axis_pick(T0, T0 + 100 * 86400 * S, &ax);
    assert_true(ax.step % (86400 * S) == 0 && ax.step >= 86400 * S * 100 / 8);
    assert_int_equal(ax.label, PLOT_LABEL_DATE);
    assert_true(ax.first % ax.step == 0);
}

static void test_time_axis_degenerate_spans(void **state)
{
    (void)state;
    plot_time_axis ax;
    plot_time_axis_pick(T0, T0, &ax); /* one point: a 1 s window around it */
    assert_true(ax.lo < T0 && ax.hi > T0 && ax.hi - ax.lo == S);
    assert_true(ax.step > 0 && ax.first >= ax.lo && ax.first <= ax.hi);
    plot_time_axis_pick(INT64_MIN, INT64_MAX, &ax); /* no overflow */
    assert_true(ax.step > 0 && ax.first >= ax.lo);
    plot_time_axis_pick(INT64_MAX, INT64_MAX, &ax);
    assert_true(ax.hi > ax.lo);
    plot_time_axis_pick(-S / 2, S / 2, &ax); /* before the epoch */
    assert_true(ax.first == -400 * MS && ax.step == 200 * MS);
    label_is(&ax, -200 * MS, "23:59:59.8");
}

static void test_count_steps_are_1_2_5(void **state)
{
    (void)state;
    assert_int_equal(plot_count_step(0, 6), 1);
    assert_int_equal(plot_count_step(6, 6), 1);
    assert_int_equal(plot_count_step(7, 6), 2);
    assert_int_equal(plot_count_step(100, 6), 20);
    assert_int_equal(plot_count_step(121, 6), 50);
    assert_int_equal(plot_count_step(UINT32_MAX, 6), 1000000000);
    assert_true(plot_count_step(UINT64_MAX, 6) > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_states_drawn_are_those_above_zero_never_closed),
        cmocka_unit_test(test_time_wait_and_established_stand_out),
        cmocka_unit_test(test_png_shows_the_lines_of_the_states_that_occur),
        cmocka_unit_test(test_png_thin_third_state_appears_in_line_and_legend),
        cmocka_unit_test(test_svg_is_an_svg_and_a_third_state_changes_it),
        cmocka_unit_test(test_no_point_and_one_point_give_valid_files),
        cmocka_unit_test(test_bad_name_and_unwritable_path_fail_naming_the_file),
        cmocka_unit_test(test_write_error_is_reported),
        cmocka_unit_test(test_time_axis_one_second),
        cmocka_unit_test(test_time_axis_one_hour),
        cmocka_unit_test(test_time_axis_three_days),
        cmocka_unit_test(test_time_axis_degenerate_spans),
        cmocka_unit_test(test_count_steps_are_1_2_5),
    };
    return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
