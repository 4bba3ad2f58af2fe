/* fuzz_config.c — libFuzzer target for vigild's configuration parser (input:
 * YAML text). Every input must either parse, or fail with at least one
 * message, each naming the file and ending in a newline; a parsed config
 * keeps its invariants (statsd arrays in place, ascending quantiles, every
 * scrape job named with 0 < timeout <= interval and its rules compiled). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct config *c = malloc(sizeof *c);
    if (!c)
        return 0;
    config_default(c);
    struct config_errors e = {0};
    int rc = config_parse(c, "fuzz.yml", (const char *)data, size, &e);
    if (rc == 0) {
        if (e.count || c->statsd.quantiles != c->quantiles || c->statsd.buckets != c->buckets)
            abort();
        for (size_t i = 1; i < c->statsd.nquantiles; i++)
            if (!(c->quantiles[i] > c->quantiles[i - 1]))
                abort();
        for (size_t i = 0; i < c->scrape.njobs; i++) {
            const struct scrape_job *j = &c->scrape.jobs[i];
            if (!j->job_name || !*j->job_name || j->scrape_timeout_ms <= 0 ||
                j->scrape_timeout_ms > j->scrape_interval_ms || !j->metrics_path || !j->scheme)
                abort();
            for (size_t r = 0; r < j->nrelabel; r++)
                if (!j->relabel[r].re)
                    abort();
        }
    } else if (rc == -EINVAL) {
        if (!e.count || !e.text || strncmp(e.text, "fuzz.yml", 8) != 0 ||
            e.text[e.len - 1] != '\n')
            abort();
    } else if (rc != -ENOMEM) {
        abort();
    }
    config_errors_free(&e);
    config_free(c);
    free(c);
    return 0;
}
