/* fuzz_expfmt.c — libFuzzer target for the exposition parser: feeds the
 * input line by line in both flavors (and strict Prometheus text) and checks
 * every sample it accepts has a __name__ label first, no more label bytes
 * than its line had, and a family name its name starts with; then parses
 * the same input with expfmt_parse_buffer, which must agree, and lints it. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "expfmt.h"
#include "lint.h"

static void check_sample(const struct expfmt_entry *e, size_t len)
{
    if (e->labels.len == 0 || strcmp(e->labels.v[0].name, "__name__") != 0)
        abort();
    size_t bytes = strlen(e->labels.v[0].value);
    for (size_t i = 1; i < e->labels.len; i++)
        bytes += strlen(e->labels.v[i].name) + strlen(e->labels.v[i].value);
    for (size_t i = 0; e->has_exemplar && i < e->exemplar.len; i++)
        bytes += strlen(e->exemplar.v[i].name) + strlen(e->exemplar.v[i].value);
    if (bytes > len || !e->family || strncmp(e->name, e->family, strlen(e->family)) != 0)
        abort();
}

static int on_entry(const struct expfmt_entry *e, void *arg)
{
    return lint_entry(arg, e);
}

static void noop(const char *metric, const char *text, void *arg)
{
    (void)metric, (void)text, (void)arg;
}

static void feed(enum expfmt_flavor f, int strict, const uint8_t *data, size_t size)
{
    struct expfmt_options o;
    struct expfmt_parser p;
    struct expfmt_entry e;
    struct lint *l;
    size_t off = 0;
    int first_rc = 0;
    unsigned line = 0, col = 0;

    expfmt_options_default(&o, f);
    o.strict = strict;
    if (size > 0 && (data[0] & 1))
        o.ts_unit = o.ts_unit == EXPFMT_TS_SECONDS ? EXPFMT_TS_MS : EXPFMT_TS_SECONDS;
    expfmt_parser_init(&p, &o);
    while (off < size) {
        const uint8_t *nl = memchr(data + off, '\n', size - off);
        size_t len = nl ? (size_t)(nl - (data + off)) : size - off;
        int rc = expfmt_parse_line(&p, (const char *)data + off, len, &e);
        if (rc == 0 && e.kind == EXPFMT_SAMPLE)
            check_sample(&e, len);
        if (rc < 0 && first_rc == 0)
            first_rc = rc, line = p.err.line, col = p.err.col;
        off += len + 1;
    }
    if (first_rc == 0 && (first_rc = expfmt_finish(&p)) < 0)
        line = p.err.line, col = p.err.col;
    expfmt_parser_free(&p);

    if (lint_new(f, &l) < 0)
        return;
    expfmt_parser_init(&p, &o);
    int rc = expfmt_parse_buffer(&p, (const char *)data, size, on_entry, l);
    if (rc != -ENOMEM && (rc != first_rc || (rc < 0 && (p.err.line != line || p.err.col != col))))
        abort();
    if (rc == 0)
        lint_report(l, noop, NULL);
    lint_free(l);
    expfmt_parser_free(&p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    feed(EXPFMT_OPENMETRICS, 0, data, size);
    feed(EXPFMT_PROMETHEUS, 0, data, size);
    feed(EXPFMT_PROMETHEUS, 1, data, size);
    return 0;
}
