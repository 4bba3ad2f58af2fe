/* plot.h — a range query's result as a braille line chart for a terminal:
 * a y axis labelled min/mid/max, an x axis labelled with the start, middle
 * and end times (UTC), one line per series and a legend. Pure: it draws
 * into the FILE it is given and asks the terminal nothing. */
#ifndef VIGIL_PLOT_H
#define VIGIL_PLOT_H

#include <stdint.h>
#include <stdio.h>

#include "output.h"

#define PLOT_MAX_SERIES 8      /* more are listed as "and N more series" */
#define PLOT_DEFAULT_WIDTH 80
#define PLOT_DEFAULT_HEIGHT 20

struct plot_options {
    int width, height;        /* the whole chart, legend included, in cells */
    int color;                /* ANSI colors; without, line styles differ */
    int64_t start_ms, end_ms; /* the x axis; end <= start: the samples' span */
    int64_t step_ms;          /* samples further apart leave a gap; 0: the
                                 closest two samples' distance */
};

/* 80x20, no color, the x axis from the samples, the step inferred. */
void plot_options_default(struct plot_options *o /* OUT */);

/* Draws r's first PLOT_MAX_SERIES series. Each terminal cell is a braille
 * character of 2x4 dots; NaN and infinite samples are skipped and break the
 * line, as does a distance over step_ms between samples. A result without
 * a finite sample prints one line saying so. The height shrinks the chart
 * by one line per legend line; tiny sizes are raised to a minimal chart.
 * @return 0, -ENOMEM, or -EIO when writing failed. */
int plot_write(FILE *f, const struct output_result *r, const struct plot_options *o);

#endif
