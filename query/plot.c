/* plot.c — braille line charts of range query results (see plot.h).
 *
 * Design notes: the chart is a canvas of cols x rows cells, each a braille
 * character whose 8 dots are a 2x4 block of pixels, so the pixel grid is
 * 2*cols x 4*rows with (0,0) at the top left. Time maps linearly onto x
 * (start at pixel 0, end at the last pixel), value onto y (max at the top
 * pixel, min at the bottom; a single value on the middle row). Series are drawn in order; a cell shows the
 * union of every series' dots in the colour of the last series that drew
 * into it. Without colour, series i draws only the pixels whose x is set in
 * its 8-bit style mask, so lines differ as solid, dashed, dotted... */
#include "plot.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MIN_COLS 2
#define MIN_ROWS 2
#define DAY_MS 86400000LL

static const unsigned char line_styles[PLOT_MAX_SERIES] = {0xff, 0x0f, 0x55, 0x33,
                                                           0x27, 0x77, 0x11, 0x3f};
static const char *const colors[PLOT_MAX_SERIES] = {"32", "33", "34", "35",
                                                    "36", "31", "92", "94"};

/* Where the chart's pixels sit in time and value. */
struct frame {
    int64_t t0, t1, step_ms;
    double vmin, vmax;
    int flat;             /* one value: drawn on the middle pixel row */
    int cols, rows;
};

struct canvas {
    int cols, rows;
    unsigned char *dots;  /* braille dot bits per cell, row by row */
    signed char *owner;   /* the series drawn last into each cell, or -1 */
};

void plot_options_default(struct plot_options *o)
{
    memset(o, 0, sizeof *o);
    o->width = PLOT_DEFAULT_WIDTH;
    o->height = PLOT_DEFAULT_HEIGHT;
}

static int64_t floor_div(int64_t a, int64_t b)
{
    return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

/* The time span, value range and step of the first n series. @return 0, or
 * -ENOENT when they hold no finite sample. */
static int frame_init(const struct output_result *r, size_t n, const struct plot_options *o,
                      struct frame *fr /* OUT */)
{
    int64_t tmin = INT64_MAX, tmax = INT64_MIN, step = INT64_MAX;
    double vmin = INFINITY, vmax = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        const struct output_series *s = &r->series[i];
        for (size_t j = 0; j < s->n; j++) {
            const struct output_sample *p = &s->samples[j];
            if (j && p->ts_ms - s->samples[j - 1].ts_ms > 0 &&
                p->ts_ms - s->samples[j - 1].ts_ms < step)
                step = p->ts_ms - s->samples[j - 1].ts_ms;
            if (!isfinite(p->value))
                continue;
            tmin = p->ts_ms < tmin ? p->ts_ms : tmin;
            tmax = p->ts_ms > tmax ? p->ts_ms : tmax;
            vmin = p->value < vmin ? p->value : vmin;
            vmax = p->value > vmax ? p->value : vmax;
        }
    }
    if (tmin > tmax)
        return -ENOENT;
    fr->flat = vmin == vmax;
    if (fr->flat) { /* labelled as the middle of a small range */
        double d = vmin != 0 ? fabs(vmin) * 0.1 : 1;
        vmin -= d;
        vmax += d;
    }
    fr->t0 = o->end_ms > o->start_ms ? o->start_ms : tmin;
    fr->t1 = o->end_ms > o->start_ms ? o->end_ms : tmax;
    fr->step_ms = o->step_ms > 0 ? o->step_ms : step;
    fr->vmin = vmin;
    fr->vmax = vmax;
    return 0;
}

static int x_of(const struct frame *fr, int64_t t)
{
    int last = 2 * fr->cols - 1;
    if (fr->t1 == fr->t0)
        return last / 2;
    return (int)lround((double)(t - fr->t0) * last / (double)(fr->t1 - fr->t0));
}

static int y_of(const struct frame *fr, double v)
{
    if (fr->flat)
        return (4 * fr->rows - 1) / 2;
    return (int)lround((fr->vmax - v) * (4 * fr->rows - 1) / (fr->vmax - fr->vmin));
}

/* The value at pixel row y (fractions allowed). */
static double value_at(const struct frame *fr, double y)
{
    return fr->vmax - y * (fr->vmax - fr->vmin) / (4 * fr->rows - 1);
}

static void set_dot(struct canvas *c, int x, int y, int series)
{
    static const unsigned char bit[4][2] = {{0x01, 0x08}, {0x02, 0x10}, {0x04, 0x20},
                                            {0x40, 0x80}};
    if (x < 0 || y < 0 || x >= 2 * c->cols || y >= 4 * c->rows)
        return;
    size_t i = (size_t)(y / 4) * c->cols + x / 2;
    c->dots[i] |= bit[y % 4][x % 2];
    c->owner[i] = (signed char)series;
}

/* Bresenham from (x0,y0) to (x1,y1), the pixels whose x is in style. */
static void draw_line(struct canvas *c, int x0, int y0, int x1, int y1, int series,
                      unsigned style)
{
    int dx = abs(x1 - x0), sx = x0 < x1 ? 1 : -1;
    int dy = -abs(y1 - y0), sy = y0 < y1 ? 1 : -1, err = dx + dy;
    for (;;) {
        if (x0 < 0 || (style >> (x0 & 7) & 1))
            set_dot(c, x0, y0, series);
        if (x0 == x1 && y0 == y1)
            break;
        int e2 = 2 * err;
        if (e2 >= dy)
            err += dy, x0 += sx;
        if (e2 <= dx)
            err += dx, y0 += sy;
    }
}

/* Joins neighbouring finite samples; a sample joined to neither neighbour
 * is drawn as a dot whatever the style. */
static void draw_series(struct canvas *c, const struct frame *fr, const struct output_series *s,
                        int series, unsigned style)
{
    int have = 0, alone = 0, px = 0, py = 0;
    int64_t pt = 0;
    for (size_t j = 0; j < s->n; j++) {
        const struct output_sample *p = &s->samples[j];
        if (!isfinite(p->value)) {
            if (have && alone)
                set_dot(c, px, py, series);
            have = 0;
            continue;
        }
        int x = x_of(fr, p->ts_ms), y = y_of(fr, p->value);
        if (have && p->ts_ms - pt <= fr->step_ms) {
            draw_line(c, px, py, x, y, series, style);
            alone = 0;
        } else {
            if (have && alone)
                set_dot(c, px, py, series);
            alone = 1;
        }
        have = 1, px = x, py = y, pt = p->ts_ms;
    }
    if (have && alone)
        set_dot(c, px, py, series);
}

/* A y axis label: %g with digits significant digits, k M G T P E above a
 * thousand, an exponent below a thousandth. */
static void format_tick(double v, int digits, char *buf, size_t cap)
{
    static const char si[] = "kMGTPE";
    char e[40];
    int k = 0;
    snprintf(e, sizeof e, "%.*e", digits - 1, v); /* round first: 999.9 -> 1e3 */
    v = strtod(e, NULL);
    if (v != 0 && fabs(v) < 1e-3) {
        snprintf(buf, cap, "%s", e);
        return;
    }
    while (fabs(v) >= 1e3 && k < 6)
        v /= 1e3, k++;
    if (k)
        snprintf(buf, cap, "%.*g%c", digits, v, si[k - 1]);
    else
        snprintf(buf, cap, "%.*g", digits, v == 0 ? 0 : v); /* no "-0" */
}

/* The labels of the top, middle and bottom rows (middle "" when rows < 3),
 * with the fewest digits (3 or more) that tell them apart. @return the
 * widest label's length. */
static int y_labels(const struct frame *fr, char lab[3][40])
{
    int mid = (fr->rows - 1) / 2;
    double mv = value_at(fr, 4 * mid + 1.5);
    if (fabs(mv) < (fr->vmax - fr->vmin) * 1e-9)
        mv = 0;
    for (int digits = 3; digits <= 8; digits++) {
        format_tick(fr->vmax, digits, lab[0], sizeof lab[0]);
        format_tick(mv, digits, lab[1], sizeof lab[1]);
        format_tick(fr->vmin, digits, lab[2], sizeof lab[2]);
        if (strcmp(lab[0], lab[2]) && (mid == 0 || (strcmp(lab[0], lab[1]) &&
                                                   strcmp(lab[1], lab[2]))))
            break;
    }
    if (mid == 0)
        lab[1][0] = '\0';
    int w = 0;
    for (int i = 0; i < 3; i++)
        w = (int)strlen(lab[i]) > w ? (int)strlen(lab[i]) : w;
    return w;
}

static void put_braille(FILE *f, unsigned dots)
{
    putc(0xe2, f);
    putc(0xa0 | dots >> 6, f);
    putc(0x80 | (dots & 0x3f), f);
}

static void write_rows(FILE *f, const struct canvas *c, char lab[3][40], int labw, int color)
{
    int mid = (c->rows - 1) / 2;
    for (int r = 0; r < c->rows; r++) {
        const char *l = r == 0 ? lab[0] : r == c->rows - 1 ? lab[2] : r == mid ? lab[1] : "";
        fprintf(f, "%*s%s", labw, l, *l ? "┤" : "│");
        const unsigned char *d = c->dots + (size_t)r * c->cols;
        const signed char *o = c->owner + (size_t)r * c->cols;
        int end = c->cols, cur = -1;
        while (end > 0 && d[end - 1] == 0)
            end--;
        for (int i = 0; i < end; i++) {
            if (d[i] == 0) {
                putc(' ', f);
                continue;
            }
            if (color && o[i] != cur)
                fprintf(f, "\033[%sm", colors[o[i]]);
            cur = o[i];
            put_braille(f, d[i]);
        }
        fputs(color && cur >= 0 ? "\033[0m\n" : "\n", f);
    }
}

static void time_label(int64_t t, const char *fmt, char *buf, size_t cap)
{
    time_t secs = (time_t)floor_div(t, 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    strftime(buf, cap, fmt, &tm);
}

/* Copies s into line at column at, if it fits between lo and hi. @return
 * the column after it, or -1 if it does not fit. */
static int place(char *line, int at, int lo, int hi, const char *s)
{
    int n = (int)strlen(s);
    if (at < lo || at + n > hi)
        return -1;
    memcpy(line + at, s, n);
    return at + n;
}

/* The x axis with ticks at start, middle and end, and their times below:
 * HH:MM:SS under 10 minutes, HH:MM within a day, MM-DD HH:MM within a
 * year, the date beyond. */
static int write_x_axis(FILE *f, const struct frame *fr, int labw)
{
    int64_t span = fr->t1 - fr->t0, tm = fr->t0 + span / 2;
    const char *fmt = span < 600000                                           ? "%H:%M:%S"
                      : floor_div(fr->t0, DAY_MS) == floor_div(fr->t1, DAY_MS) ? "%H:%M"
                      : span < 365 * DAY_MS                                    ? "%m-%d %H:%M"
                                                                              : "%Y-%m-%d";
    int tick[3] = {0, x_of(fr, tm) / 2, fr->cols - 1}, width = labw + 1 + fr->cols;
    char *line = malloc(width + 1), lab[3][40];
    if (!line)
        return -ENOMEM;
    fprintf(f, "%*s└", labw, "");
    for (int i = 0; i < fr->cols; i++)
        fputs(span && (i == tick[0] || i == tick[1] || i == tick[2]) ? "┬" : "─", f);
    putc('\n', f);
    time_label(fr->t0, fmt, lab[0], sizeof lab[0]);
    time_label(tm, fmt, lab[1], sizeof lab[1]);
    time_label(fr->t1, fmt, lab[2], sizeof lab[2]);
    strcat(lab[2], " UTC");
    memset(line, ' ', width);
    int x0 = labw + 1, after_start = place(line, x0, 0, width, lab[0]);
    int end_at = width - (int)strlen(lab[2]);
    if (span == 0 || place(line, end_at, after_start + 1, width, lab[2]) < 0)
        end_at = width + 1;
    if (span)
        place(line, x0 + tick[1] - (int)strlen(lab[1]) / 2, after_start + 1, end_at - 1, lab[1]);
    int n = width;
    while (n > 0 && line[n - 1] == ' ')
        n--;
    fprintf(f, "%.*s\n", n, line);
    free(line);
    return 0;
}

/* A 4-cell sample of series i's line, as drawn. */
static void write_marker(FILE *f, int i, int color)
{
    unsigned style = color ? 0xff : line_styles[i];
    if (color)
        fprintf(f, "\033[%sm", colors[i]);
    for (int k = 0; k < 4; k++)
        put_braille(f, (style >> (2 * k) & 1 ? 0x02 : 0) | (style >> (2 * k + 1) & 1 ? 0x10 : 0));
    if (color)
        fputs("\033[0m", f);
}

/* The bytes of s's first n code points (all of s if it has fewer). */
static size_t utf8_prefix(const char *s, int n)
{
    size_t i = 0;
    for (; s[i]; i++)
        if (((unsigned char)s[i] & 0xc0) != 0x80 && n-- == 0)
            break;
    return i;
}

/* One line per drawn series: its marker and its name, cut to the width. */
static int write_legend(FILE *f, const struct output_result *r, size_t shown, int width,
                        int color)
{
    int room = width - 5 > 8 ? width - 5 : 8;
    for (size_t i = 0; i < shown; i++) {
        char *name = output_series_name(r->series[i].labels);
        if (!name)
            return -ENOMEM;
        int cut = name[utf8_prefix(name, room)] != '\0';
        write_marker(f, (int)i, color);
        fprintf(f, " %.*s%s\n", (int)utf8_prefix(name, cut ? room - 1 : room), name,
                cut ? "…" : "");
        free(name);
    }
    if (r->n > shown)
        fprintf(f, "and %zu more series\n", r->n - shown);
    return 0;
}

int plot_write(FILE *f, const struct output_result *r, const struct plot_options *o)
{
    size_t shown = r->n < PLOT_MAX_SERIES ? r->n : PLOT_MAX_SERIES;
    int legend = (int)shown + (r->n > shown), labw, rc;
    struct frame fr;
    struct canvas c;
    char lab[3][40];

    if (frame_init(r, shown, o, &fr) < 0) {
        fputs("no data points to plot\n", f);
        return fflush(f) == 0 && !ferror(f) ? 0 : -EIO;
    }
    fr.rows = o->height - 2 - legend > MIN_ROWS ? o->height - 2 - legend : MIN_ROWS;
    labw = y_labels(&fr, lab);
    fr.cols = o->width - labw - 1 > MIN_COLS ? o->width - labw - 1 : MIN_COLS;
    c.cols = fr.cols;
    c.rows = fr.rows;
    c.dots = calloc((size_t)c.cols * c.rows, 1);
    c.owner = malloc((size_t)c.cols * c.rows);
    if (!c.dots || !c.owner) {
        rc = -ENOMEM;
        goto out;
    }
    memset(c.owner, -1, (size_t)c.cols * c.rows);
    for (size_t i = 0; i < shown; i++)
        draw_series(&c, &fr, &r->series[i], (int)i, o->color ? 0xff : line_styles[i]);
    write_rows(f, &c, lab, labw, o->color);
    if ((rc = write_x_axis(f, &fr, labw)) == 0)
        rc = write_legend(f, r, shown, o->width, o->color);
    if (rc == 0 && (fflush(f) != 0 || ferror(f)))
        rc = -EIO;
out:
    free(c.dots);
    free(c.owner);
    return rc;
}
