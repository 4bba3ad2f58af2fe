/* config.h — vigild's configuration: embedded defaults, one YAML file
 * (libyaml) on top, command-line flags on top of that. Every error names
 * file:line:column, what was wrong and how to write it instead. */
#ifndef VIGIL_CONFIG_H
#define VIGIL_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "log.h"
#include "notify_config.h"
#include "scrape_config.h"
#include "statsd.h"
#include "tsdb.h"

#define CONFIG_MAX_QUANTILES 16
#define CONFIG_MAX_BUCKETS 64
#define CONFIG_ADDR_MAX 128     /* "ADDR:PORT" as written, NUL included */
#define CONFIG_PATH_MAX 4096

/* The whole configuration. statsd.quantiles and statsd.buckets point into
 * this struct's own arrays and scrape, rule_files and notify own heap memory: copy it only with
 * config_copy, release it with config_free. */
struct config {
    char data_dir[CONFIG_PATH_MAX];      /* storage.data_dir: ./vigil-data */
    struct tsdb_options storage;         /* storage.* */
    struct statsd_config statsd;         /* statsd.* aggregation settings */
    double quantiles[CONFIG_MAX_QUANTILES];
    double buckets[CONFIG_MAX_BUCKETS];
    char statsd_udp[CONFIG_ADDR_MAX];    /* "" = no UDP listener */
    char statsd_tcp[CONFIG_ADDR_MAX];    /* "" = no TCP listener */
    uint64_t statsd_receive_buffer_bytes;/* SO_RCVBUF asked for: 8 MiB */
    char http_listen[CONFIG_ADDR_MAX];   /* 127.0.0.1:9190 */
    enum vlog_level log_level;           /* info */
    struct scrape_config scrape;         /* global: and scrape_configs: */
    char **rule_files;                   /* rule_files: globs as written
                                            (relative to the config file's
                                            directory); malloc'd */
    size_t nrule_files;
    char external_url[CONFIG_PATH_MAX];  /* http.external_url: "" = http://
                                            followed by http.listen */
    struct notify_config notify;         /* alerting: and notifiers:
                                            (notify_config.c) */
    int rules_watchdog;                  /* rules.watchdog: false */
    int rules_self;                      /* rules.self_monitoring: true */
    int64_t rules_resend_delay_ms;       /* rules.resend_delay: 1m */
};

/* Command-line flags that override the file; NULL / 0 = not given. */
struct config_overrides {
    const char *data_dir;
    const char *http_listen;
    const char *statsd_listen;           /* UDP and TCP */
    int has_log_level;
    enum vlog_level log_level;
};

/* Error messages, one per line ("file:line:col: text\n"), in file order. */
struct config_errors {
    char *text;
    size_t len, cap;
    unsigned count;
};

/* Fills c with the embedded defaults (what vigild runs with no file). */
void config_default(struct config *c /* OUT */);

/* Copies src into dst, keeping dst's statsd arrays pointing into dst and
 * deep-copying scrape. @return 0, or -ENOMEM (dst then needs no config_free). */
int config_copy(struct config *dst /* OUT */, const struct config *src);

/* Releases what c owns (the scrape section), not c itself; c is then at
 * no jobs. Safe on a config that failed to parse, and twice. */
void config_free(struct config *c);

/* Parses the YAML text[0..len) named name (for messages) over the values
 * already in c (normally the defaults). Every problem is appended to errs.
 * @return 0, or -EINVAL when errs holds at least one error (c is then
 * partly updated: discard it with config_free). */
int config_parse(struct config *c, const char *name, const char *text, size_t len,
                 struct config_errors *errs);

/* Reads and parses the file at path (see config_parse). @return 0, -EINVAL,
 * or the -errno of reading the file (also described in errs). */
int config_load(struct config *c, const char *path, struct config_errors *errs);

/* Applies flags over c, validating them like the file's values.
 * @return 0 or -EINVAL with the reasons in errs (named "--flag"). */
int config_apply_overrides(struct config *c, const struct config_overrides *o,
                           struct config_errors *errs);

void config_errors_free(struct config_errors *errs);

/* Parses "ADDR:PORT" (IPv4, or [IPv6]:PORT) into *sa.
 * @return 0 or -EINVAL. */
int config_parse_addr(const char *s, struct sockaddr_storage *sa /* OUT */);

/* Parses a size: an integer or decimal with an optional unit B, KB, MB, GB,
 * TB or KiB, MiB, GiB, TiB (all powers of 1024, as in Prometheus'
 * retention.size). @return 0 and *bytes, -EINVAL or -ERANGE. */
int config_parse_size(const char *s, uint64_t *bytes /* OUT */);

/* ---- internal: the walk over one file, shared with scrape_config.c and
 *      notify_config.c ---- */

struct yaml_document_s;
struct yaml_node_s;

struct config_walk {
    struct yaml_document_s *doc;
    struct config *c;
    const char *name;                    /* the file, for messages */
    struct config_errors *errs;
};

/* Appends "file:line:col: message" for node at (NULL: "file: message"). */
void config__error(struct config_walk *w, const struct yaml_node_s *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Reports key as unknown in section (NULL at the top), suggesting the
 * closest name of table: elements stride bytes apart, each starting with
 * its const char *name, the last one's NULL. */
void config__unknown_key(struct config_walk *w, const struct yaml_node_s *key,
                         const char *section, const void *table, size_t stride);

/* Node id of w's document, or NULL. */
struct yaml_node_s *config__node(struct config_walk *w, int id);

/* 1 if n is an empty plain scalar: a key written with nothing after it. */
int config__is_null(const struct yaml_node_s *n);

/* The text of scalar n, or NULL after reporting "PATH must be a single
 * value: HINT". */
const char *config__scalar(struct config_walk *w, const struct yaml_node_s *n,
                           const char *path, const char *hint);

/* 1 if n is a sequence or null; else reports "PATH must be a list: HINT"
 * and returns 0. */
int config__sequence(struct config_walk *w, const struct yaml_node_s *n, const char *path,
                     const char *hint);

/* Each item id `it` of sequence node n; none when n is not a sequence. */
#define CONFIG_EACH_ITEM(n, it)                                                               \
    for (yaml_node_item_t *it = (n)->type == YAML_SEQUENCE_NODE                              \
                                    ? (n)->data.sequence.items.start : NULL;                  \
         it && it < (n)->data.sequence.items.top; it++)

/* Makes room for one more element of size bytes in *v (*n in use), zeroed.
 * @return the new element (*n counts it) or NULL (*v unchanged). */
void *config__push(void **v, size_t *n, size_t size);

/* Stores the YAML 1.1 boolean s of node n (true/yes/on, false/no/off, in
 * lower, Title or UPPER case) in *out, or reports "bad value 'S' for PATH:
 * use true or false". */
void config__set_bool(struct config_walk *w, const struct yaml_node_s *n, const char *s,
                      const char *path, int *out);

/* Stores the decimal s of node n in *out; reports "bad number 'S' for
 * PATH: HINT" when it is not digits alone or overflows. */
void config__set_u64(struct config_walk *w, const struct yaml_node_s *n, const char *s,
                     const char *path, const char *hint, uint64_t *out);

/* Copies for the config_copy functions: each returns 0 or -ENOMEM, leaving
 * what it did copy in place for the caller's free. A NULL src copies as
 * NULL; strings[0..n) as a new array (NULL for none). */
int config__copy_str(char **dst /* OUT */, const char *src);
int config__copy_strings(char ***dst /* OUT */, size_t *ndst /* OUT */, char *const *src,
                         size_t n);

/* Frees v[0..n) and v. */
void config__free_strings(char **v, size_t n);

/* Stores the value n of key (an element of the table passed to
 * config__walk) into base; path names the value in messages. */
typedef void config__set_fn(struct config_walk *w, const struct yaml_node_s *n,
                            const void *key, void *base, const char *path);

/* Walks the mapping n (null: nothing) against keys, a table as for
 * config__unknown_key, calling set for each known key. Reports non-mapping
 * n, non-scalar and duplicate keys, keys named in unsupported (a NULL-ended
 * list of Prometheus keys Vigil lacks) and unknown keys. */
void config__walk(struct config_walk *w, const struct yaml_node_s *n, const void *keys,
                  size_t stride, const char *const *unsupported, config__set_fn *set,
                  void *base, const char *path);

#endif
