/* fuzz_file_sd.c — libFuzzer target for the file_sd target-file parsers.
 * The first byte picks the format (even: JSON, odd: YAML), the rest is the
 * file. Every input either parses into groups whose labels are sorted,
 * valid and include __meta_filepath, or fails with a message naming the
 * file. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "file_sd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *path = data[0] & 1 ? "fuzz.yml" : "fuzz.json";
    struct file_sd_group *g;
    size_t n;
    char err[256];
    int rc = file_sd_parse(path, (const char *)data + 1, size - 1, &g, &n, err, sizeof err);
    if (rc == -EINVAL) {
        if (strncmp(err, path, strlen(path)) != 0)
            abort();
        return 0;
    }
    if (rc == -ENOMEM)
        return 0;
    if (rc != 0 || (n == 0) != (g == NULL))
        abort();
    for (size_t i = 0; i < n; i++) {
        int has_path = 0;
        for (size_t j = 0; j < g[i].nlabels; j++) {
            const struct tsdb_label *l = &g[i].labels[j];
            if (j && strcmp(g[i].labels[j - 1].name, l->name) >= 0)
                abort();
            if (!tsdb_utf8_valid(l->value, strlen(l->value)))
                abort();
            has_path |= strcmp(l->name, FILE_SD_FILEPATH_LABEL) == 0 && strcmp(l->value, path) == 0;
        }
        if (!has_path || !g[i].source)
            abort();
        for (size_t j = 0; j < g[i].ntargets; j++)
            if (!g[i].targets[j])
                abort();
    }
    file_sd_groups_free(g, n);
    return 0;
}
