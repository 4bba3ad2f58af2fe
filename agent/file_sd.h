/* file_sd.h — Prometheus' file-based service discovery (file_sd_configs):
 * target groups read from JSON or YAML files matched by globs, re-read when
 * the files change, on a refresh timer and on demand (SIGHUP). */
#ifndef VIGIL_FILE_SD_H
#define VIGIL_FILE_SD_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "tsdb.h"

#define FILE_SD_DEFAULT_REFRESH_MS (5 * 60 * 1000)
#define FILE_SD_MAX_FILE_BYTES (16u << 20)   /* a larger file is an error */
#define FILE_SD_FILEPATH_LABEL "__meta_filepath"

/* One target group: {targets: [...], labels: {...}} from a file. labels
 * are sorted by name and include __meta_filepath=<the file's path>.
 * source is "<path>:<index in the file>", as Prometheus names groups. */
struct file_sd_group {
    char *source;
    char **targets;
    size_t ntargets;
    struct tsdb_label *labels;      /* name and value malloc'd */
    size_t nlabels;
};

/* Parses one target file's contents; the format is chosen by path's
 * extension (.json, or .yml / .yaml; anything else is an error): a list of
 * groups, each a mapping with only the keys targets (strings) and labels
 * (valid label names to strings). null (and an empty YAML file) is no
 * groups; an empty JSON file is an error, as in Prometheus.
 * @return 0 with *out (free with file_sd_groups_free; NULL when *nout is 0),
 * -EINVAL with "<path>:<line>:<column>: <what>" in err (line and column
 * where the format's parser knows them), or -ENOMEM. */
int file_sd_parse(const char *path, const char *data, size_t len,
                  struct file_sd_group **out /* OUT */, size_t *nout /* OUT */,
                  char *err, size_t errlen);
void file_sd_groups_free(struct file_sd_group *g, size_t n);

/* Called with every group of every matched file, whenever that set may
 * have changed (and once after the first read, even when it is empty).
 * groups and their strings are valid during the call only. */
typedef void (*file_sd_update_fn)(void *arg, const struct file_sd_group *groups,
                                  size_t ngroups);

struct file_sd;

/* Reads the files matching globs[0..nglobs) (glob(3) patterns; copied) now,
 * calls on_update, then keeps watching: the directories of the patterns
 * through uv_fs_event (changes are picked up within about 100 ms), plus a
 * full re-read every refresh_ms (<= 0: FILE_SD_DEFAULT_REFRESH_MS). A file
 * that cannot be read or parsed keeps the groups it had (none when it never
 * parsed); the error is logged and counted. A pattern matching nothing, or
 * a missing directory, is not an error. Files are read synchronously on the
 * loop, each at most FILE_SD_MAX_FILE_BYTES.
 * @return 0 and *out, or -ENOMEM (on_update is then never called). */
int file_sd_start(uv_loop_t *loop, const char *const *globs, size_t nglobs, int64_t refresh_ms,
                  file_sd_update_fn on_update, void *arg, struct file_sd **out /* OUT */);

/* Re-reads every file now (for SIGHUP); on_update runs before it returns
 * when anything changed. */
void file_sd_refresh(struct file_sd *sd);

/* Failed reads and parses so far (prometheus_sd_file_read_errors_total),
 * and the message of the latest ("" when none). */
uint64_t file_sd_read_errors(const struct file_sd *sd);
const char *file_sd_last_error(const struct file_sd *sd);

/* Stops watching; on_update is not called again. cb (may be NULL) runs
 * once the loop handles are closed and sd is freed. */
void file_sd_stop(struct file_sd *sd, void (*cb)(void *arg), void *arg);

#endif
