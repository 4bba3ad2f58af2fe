/* test_plot.c — braille charts of small known inputs compared byte for
 * byte: a diagonal, a flat line, gaps, a single point, negative values,
 * colours and line styles, the axes' labels and the legend. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "plot.h"

#define T0_MS 1767225600000LL /* 2026-01-01T00:00:00Z */
#define N(a) (sizeof(a) / sizeof((a)[0]))

static struct tsdb_label label_a = {"__name__", "a"}, label_b = {"__name__", "b"};
static struct tsdb_labels labels_a = {1, &label_a}, labels_b = {1, &label_b};

/* Draws r with the given size into a malloc'd string. */
static char *draw(const struct output_result *r, int width, int height, int color,
                  int64_t start_ms, int64_t end_ms, int64_t step_ms)
{
    struct plot_options o;
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    assert_non_null(m);
    plot_options_default(&o);
    o.width = width;
    o.height = height;
    o.color = color;
    o.start_ms = start_ms;
    o.end_ms = end_ms;
    o.step_ms = step_ms;
    assert_int_equal(plot_write(m, r, &o), 0);
    fclose(m);
    return buf;
}

static void expect(char *got, const char *want)
{
    if (strcmp(got, want) != 0)
        fail_msg("chart differs:\n--- got\n%s--- want\n%s", got, want);
    free(got);
}

/* One series "a" of n samples at 0, 1 s, 2 s... */
static struct output_result one(struct output_series *s, const struct output_sample *v,
                                size_t n)
{
    *s = (struct output_series){&labels_a, v, n};
    return (struct output_result){OUTPUT_MATRIX, s, 1};
}

static void test_diagonal(void **state)
{
    (void)state;
    static const struct output_sample v[] = {{0, 0}, {1000, 1}, {2000, 2}, {3000, 3}};
    struct output_series s;
    struct output_result r = one(&s, v, N(v));
    /* 2x2 cells: pixels (0,7) (1,6) (1,5) (1,4) | (2,3) (2,2) (3,1) (3,0) */
    expect(draw(&r, 4, 5, 0, 0, 3000, 1000), "3┤ ⡜\n"
                                            "0┤⡸\n"
                                            " └┬┬\n"
                                            "\n"
                                            "⠒⠒⠒⠒ a\n");
}

static void test_flat_line(void **state)
{
    (void)state;
    static const struct output_sample v[] = {{0, 5}, {1000, 5}, {2000, 5}, {3000, 5}};
    struct output_series s;
    struct output_result r = one(&s, v, N(v));
    expect(draw(&r, 6, 5, 0, 0, 3000, 1000), "5.5┤⣀⣀\n"
                                            "4.5┤\n"
                                            "   └┬┬\n"
                                            "\n"
                                            "⠒⠒⠒⠒ a\n");
}

/* A NaN and a missing step break the line; a sample joined to neither
 * neighbour is a dot. */
static void test_gaps(void **state)
{
    (void)state;
    static const struct output_sample v[] = {{0, 1},    {1000, 1}, {2000, NAN}, {3000, 1},
                                             {5000, 1}, {6000, 1}, {7000, INFINITY}};
    struct output_series s;
    struct output_result r = one(&s, v, N(v));
    expect(draw(&r, 8, 5, 0, 0, 7000, 1000), "1.1┤⣀⢀⢀⡀\n"
                                            "0.9┤\n"
                                            "   └┬─┬┬\n"
                                            "\n"
                                            "⠒⠒⠒⠒ a\n");
}

static void test_single_point(void **state)
{
    (void)state;
    static const struct output_sample v[] = {{5000, -2}};
    struct output_series s;
    struct output_result r = one(&s, v, N(v));
    expect(draw(&r, 7, 5, 0, 0, 0, 0), "-1.8┤⢀\n"
                                      "-2.2┤\n"
                                      "    └──\n"
                                      "\n"
                                      "⠒⠒⠒⠒ a\n");
}

static void test_negative_values(void **state)
{
    (void)state;
    static const struct output_sample v[] = {{0, -2}, {1000, 2}};
    struct output_series s;
    struct output_result r = one(&s, v, N(v));
    /* 2x3 cells, pixels (0,11) (0,10) (1,9)..(1,6) (2,5)..(2,2) (3,1) (3,0) */
    expect(draw(&r, 5, 6, 0, 0, 1000, 1000), " 2┤ ⡜\n"
                                            " 0┤⢠⠃\n"
                                            "-2┤⡜\n"
                                            "  └┬┬\n"
                                            "\n"
                                            "⠒⠒⠒⠒ a\n");
}

/* Two series: colours on a terminal, else line styles (b is dashed). */
static void test_two_series(void **state)
{
    (void)state;
    static const struct output_sample va[] = {{0, 0}, {7000, 0}}, vb[] = {{0, 1}, {7000, 1}};
    const struct output_series s[] = {{&labels_a, va, 2}, {&labels_b, vb, 2}};
    const struct output_result r = {OUTPUT_MATRIX, s, 2};
    expect(draw(&r, 6, 6, 0, 0, 7000, 7000), "1┤⠉⠉\n"
                                            "0┤⣀⣀⣀⣀\n"
                                            " └┬─┬┬\n"
                                            "\n"
                                            "⠒⠒⠒⠒ a\n"
                                            "⠒⠒⠀⠀ b\n");
    expect(draw(&r, 6, 6, 1, 0, 7000, 7000), "1┤\033[33m⠉⠉⠉⠉\033[0m\n"
                                            "0┤\033[32m⣀⣀⣀⣀\033[0m\n"
                                            " └┬─┬┬\n"
                                            "\n"
                                            "\033[32m⠒⠒⠒⠒\033[0m a\n"
                                            "\033[33m⠒⠒⠒⠒\033[0m b\n");
}

static void test_time_axis(void **state)
{
    (void)state;
    static const struct {
        int64_t span_ms;
        const char *labels;
    } cases[] = { /* the middle label is left out where it does not fit */
        {3600000, "   00:00             00:30         01:00 UTC\n"},
        {300000, "   00:00:00        00:02:30     00:05:00 UTC\n"},
        {2 * 86400000LL, "   01-01 00:00               01-03 00:00 UTC\n"},
        {400 * 86400000LL, "   2026-01-01     2026-07-20  2027-02-05 UTC\n"},
    };
    for (size_t i = 0; i < N(cases); i++) {
        const struct output_sample v[] = {{T0_MS, 0}, {T0_MS + cases[i].span_ms, 10}};
        struct output_series s;
        struct output_result r = one(&s, v, N(v));
        char *got = draw(&r, 44, 20, 0, T0_MS, T0_MS + cases[i].span_ms, 0);
        const char *axis = strstr(got, "  └┬─");
        assert_non_null(axis);
        const char *labels = strchr(axis, '\n') + 1;
        if (strncmp(labels, cases[i].labels, strlen(cases[i].labels)) != 0)
            fail_msg("span %lld: got\n%s", (long long)cases[i].span_ms, got);
        free(got);
    }
}

/* The y labels: the fewest digits that tell them apart, SI suffixes. */
static void test_value_labels(void **state)
{
    (void)state;
    static const struct {
        double lo, hi;
        const char *top, *bottom;
    } cases[] = {
        {0, 2500000, "2.5M", "0"},          {-1234, 1234, "1.23k", "-1.23k"},
        {0, 0.0005, "5.00e-04", "0"},       {1, 1.0001, "1.0001", "1"},
        {0.25, 0.75, "0.75", "0.25"},       {-3e9, -1e9, "-1G", "-3G"},
    };
    for (size_t i = 0; i < N(cases); i++) {
        const struct output_sample v[] = {{0, cases[i].lo}, {1000, cases[i].hi}};
        struct output_series s;
        struct output_result r = one(&s, v, N(v));
        char *got = draw(&r, 40, 8, 0, 0, 1000, 1000), *bottom = strstr(got, "└");
        char top[32], bot[32];
        assert_non_null(bottom);
        do /* to the start of the line above the x axis */
            bottom--;
        while (bottom > got && bottom[-1] != '\n');
        do
            bottom--;
        while (bottom > got && bottom[-1] != '\n');
        sscanf(got, "%31s", top);
        sscanf(bottom, "%31s", bot);
        *strstr(top, "┤") = *strstr(bot, "┤") = '\0';
        if (strcmp(top, cases[i].top) || strcmp(bot, cases[i].bottom))
            fail_msg("%g..%g: labels %s %s, want %s %s", cases[i].lo, cases[i].hi, top, bot,
                     cases[i].top, cases[i].bottom);
        free(got);
    }
}

/* At most PLOT_MAX_SERIES lines; long names cut to the width. */
static void test_legend(void **state)
{
    (void)state;
    static const struct output_sample v[] = {{0, 1}, {1000, 2}};
    struct tsdb_label long_label = {"__name__", "a_rather_long_metric_name"};
    struct tsdb_labels long_labels = {1, &long_label};
    struct output_series s[PLOT_MAX_SERIES + 2];
    for (size_t i = 0; i < N(s); i++)
        s[i] = (struct output_series){i ? &labels_b : &long_labels, v, N(v)};
    const struct output_result r = {OUTPUT_MATRIX, s, N(s)};
    char *got = draw(&r, 20, 30, 0, 0, 1000, 1000);
    assert_non_null(strstr(got, "\n⠒⠒⠒⠒ a_rather_long_…\n⠒⠒⠀⠀ b\n"));
    assert_non_null(strstr(got, "\n⠒⠒⠒⠀ b\nand 2 more series\n"));
    assert_null(strstr(got, "and 2 more series\n⠒"));
    free(got);
}

static void test_no_data(void **state)
{
    (void)state;
    static const struct output_sample v[] = {{0, NAN}, {1000, -INFINITY}};
    struct output_series s;
    struct output_result r = one(&s, v, N(v));
    expect(draw(&r, 80, 20, 0, 0, 1000, 1000), "no data points to plot\n");
    r.n = 0;
    expect(draw(&r, 80, 20, 0, 0, 1000, 1000), "no data points to plot\n");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_diagonal),     cmocka_unit_test(test_flat_line),
        cmocka_unit_test(test_gaps),         cmocka_unit_test(test_single_point),
        cmocka_unit_test(test_negative_values), cmocka_unit_test(test_two_series),
        cmocka_unit_test(test_time_axis),    cmocka_unit_test(test_value_labels),
        cmocka_unit_test(test_legend),       cmocka_unit_test(test_no_data),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
