/* fuzz_expfmt.c — libFuzzer target for the exposition parser: feeds the
 * input line by line in both flavors and checks every sample it accepts has
 * a __name__ label first and no more label bytes than its line had. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "expfmt.h"

static void feed(enum expfmt_flavor f, const uint8_t *data, size_t size)
{
    struct expfmt_options o;
    struct expfmt_parser p;
    struct expfmt_entry e;
    size_t off = 0;

    expfmt_options_default(&o, f);
    if (size > 0 && (data[0] & 1))
        o.ts_unit = o.ts_unit == EXPFMT_TS_SECONDS ? EXPFMT_TS_MS : EXPFMT_TS_SECONDS;
    expfmt_parser_init(&p, &o);
    while (off < size) {
        const uint8_t *nl = memchr(data + off, '\n', size - off);
        size_t len = nl ? (size_t)(nl - (data + off)) : size - off;
        if (expfmt_parse_line(&p, (const char *)data + off, len, &e) == 0 &&
            e.kind == EXPFMT_SAMPLE) {
            if (e.labels.len == 0 || strcmp(e.labels.v[0].name, "__name__") != 0)
                abort();
            size_t bytes = strlen(e.labels.v[0].value);
            for (size_t i = 1; i < e.labels.len; i++)
                bytes += strlen(e.labels.v[i].name) + strlen(e.labels.v[i].value);
            if (bytes > len)
                abort();
        }
        off += len + 1;
    }
    expfmt_finish(&p);
    expfmt_parser_free(&p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    feed(EXPFMT_OPENMETRICS, data, size);
    feed(EXPFMT_PROMETHEUS, data, size);
    return 0;
}
