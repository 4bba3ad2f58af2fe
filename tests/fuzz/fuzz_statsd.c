/* fuzz_statsd.c — libFuzzer target for the statsd / DogStatsD line parser:
 * parses the input line by line, each line from an exactly sized copy, and
 * checks every accepted metric points only inside its line, has finite
 * values (a single one bit-identical to strtod's reading) and a sample rate
 * in (0, 1], and every reject names a column on the line. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "statsd.h"

static void check_span(const char *line, size_t len, const char *p, size_t n)
{
    if (n > 0 && (p < line || p > line + len || n > (size_t)(line + len - p)))
        abort();
}

static void check_metric(const char *line, size_t len, const struct statsd_metric *m)
{
    if (m->name_len == 0 || m->name_len > STATSD_MAX_NAME || m->ntags > STATSD_MAX_TAGS)
        abort();
    check_span(line, len, m->name, m->name_len);
    check_span(line, len, m->container, m->container_len);
    for (size_t i = 0; i < m->ntags; i++) {
        if (m->tags[i].key_len == 0)
            abort();
        check_span(line, len, m->tags[i].key, m->tags[i].key_len);
        check_span(line, len, m->tags[i].value, m->tags[i].value_len);
    }
    if (!(m->sample_rate > 0 && m->sample_rate <= 1))
        abort();
    if (m->type == STATSD_SET) {
        if (m->nvalues != 0 || m->set_member_len == 0)
            abort();
        check_span(line, len, m->set_member, m->set_member_len);
        return;
    }
    if (m->nvalues < 1 || m->nvalues > STATSD_MAX_VALUES)
        abort();
    for (size_t i = 0; i < m->nvalues; i++)
        if (!isfinite(m->values[i]))
            abort();
    /* a single value must be exactly what strtod reads from its text */
    const char *colon = memchr(line, ':', len);
    const char *bar = memchr(colon, '|', (size_t)(line + len - colon));
    char text[128];
    if (m->nvalues == 1 && (size_t)(bar - colon) <= sizeof text) {
        memcpy(text, colon + 1, (size_t)(bar - colon - 1));
        text[bar - colon - 1] = '\0';
        double v = strtod(text, NULL);
        if (memcmp(&v, &m->values[0], sizeof v) != 0)
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct statsd_metric m;
    size_t off = 0;
    while (off <= size) {
        const uint8_t *nl = off < size ? memchr(data + off, '\n', size - off) : NULL;
        size_t len = nl ? (size_t)(nl - (data + off)) : size - off;
        char *line = malloc(len ? len : 1);
        size_t col = 0;
        if (!line)
            abort();
        memcpy(line, data + off, len);
        enum statsd_reject r = statsd_parse_line(line, len, &m, &col);
        if (r == STATSD_OK)
            check_metric(line, len, &m);
        else if ((unsigned)r >= STATSD_REJECT_COUNT || col < 1 || col > len + 1 ||
                 statsd_reject_label(r) == NULL)
            abort();
        free(line);
        off += len + 1;
    }
    return 0;
}
