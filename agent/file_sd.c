/* file_sd.c — Prometheus' file-based service discovery: the JSON and YAML
 * target-file parsers, and the watcher that re-reads matched files on
 * directory events, on a refresh timer and on demand.
 *
 * Design notes: every matched file keeps the groups of its last good parse
 * and the hash of the bytes they came from. A re-read that finds the same
 * bytes changes nothing; one that cannot read or parse the file keeps the
 * old groups (Prometheus does the same, so a half-written file never drops
 * targets). on_update gets the concatenation of all files' groups. */
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <xxhash.h>
#include <yaml.h>

#include "file_sd.h"
#include "log.h"

#define DEBOUNCE_MS 100

/* ---- building groups ------------------------------------------------------ */

struct builder {
    const char *path;
    struct file_sd_group *v;
    size_t n, cap;
    char *err;
    size_t errlen;
};

/* Writes "<path>:<line>:<column>: <msg>" (or "<path>: <msg>" when line is
 * 0) to b->err. @return -EINVAL. */
static int fail(struct builder *b, size_t line, size_t col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(struct builder *b, size_t line, size_t col, const char *fmt, ...)
{
    int n = line ? snprintf(b->err, b->errlen, "%s:%zu:%zu: ", b->path, line, col)
                 : snprintf(b->err, b->errlen, "%s: ", b->path);
    if (n >= 0 && (size_t)n < b->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(b->err + n, b->errlen - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return -EINVAL;
}

static void group_free(struct file_sd_group *g)
{
    free(g->source);
    for (size_t i = 0; i < g->ntargets; i++)
        free(g->targets[i]);
    free(g->targets);
    for (size_t i = 0; i < g->nlabels; i++) {
        free((char *)g->labels[i].name);
        free((char *)g->labels[i].value);
    }
    free(g->labels);
}

void file_sd_groups_free(struct file_sd_group *g, size_t n)
{
    for (size_t i = 0; i < n; i++)
        group_free(&g[i]);
    free(g);
}

/* Appends an empty group named "<path>:<index>". @return it, or NULL. */
static struct file_sd_group *group_new(struct builder *b)
{
    if (b->n == b->cap) {
        size_t cap = b->cap ? 2 * b->cap : 4;
        struct file_sd_group *v = realloc(b->v, cap * sizeof *v);
        if (!v)
            return NULL;
        b->v = v;
        b->cap = cap;
    }
    struct file_sd_group *g = &b->v[b->n];
    memset(g, 0, sizeof *g);
    size_t n = strlen(b->path) + 24;
    if (!(g->source = malloc(n)))
        return NULL;
    snprintf(g->source, n, "%s:%zu", b->path, b->n);
    b->n++;
    return g;
}

static int add_target(struct file_sd_group *g, const char *s, size_t len)
{
    char **v = realloc(g->targets, (g->ntargets + 1) * sizeof *v);
    if (!v)
        return -ENOMEM;
    g->targets = v;
    if (!(v[g->ntargets] = strndup(s, len)))
        return -ENOMEM;
    g->ntargets++;
    return 0;
}

/* Sets name=value, replacing an earlier value. @return 0 or -ENOMEM. */
static int set_label(struct file_sd_group *g, const char *name, const char *value, size_t vlen)
{
    char *v = strndup(value, vlen);
    if (!v)
        return -ENOMEM;
    for (size_t i = 0; i < g->nlabels; i++)
        if (strcmp(g->labels[i].name, name) == 0) {
            free((char *)g->labels[i].value);
            g->labels[i].value = v;
            return 0;
        }
    struct tsdb_label *l = realloc(g->labels, (g->nlabels + 1) * sizeof *l);
    char *n = strdup(name);
    if (!l || !n) {
        free(v);
        free(n);
        if (l)
            g->labels = l;
        return -ENOMEM;
    }
    g->labels = l;
    l[g->nlabels].name = n;
    l[g->nlabels].value = v;
    g->nlabels++;
    return 0;
}

/* Checks and adds one `labels` entry of group index. */
static int add_label(struct builder *b, struct file_sd_group *g, size_t index, size_t line,
                     size_t col, const char *name, const char *value, size_t vlen)
{
    if (!tsdb_label_name_valid(name))
        return fail(b, line, col, "group %zu: invalid label name \"%.64s\"", index, name);
    if (!tsdb_utf8_valid(value, vlen) || memchr(value, 0, vlen))
        return fail(b, line, col, "group %zu: label %.64s: value is not valid UTF-8 text",
                    index, name);
    for (size_t i = 0; i < g->nlabels; i++)
        if (strcmp(g->labels[i].name, name) == 0)
            return fail(b, line, col, "group %zu: label %.64s given twice", index, name);
    return set_label(g, name, value, vlen);
}

static int label_cmp(const void *a, const void *b)
{
    return strcmp(((const struct tsdb_label *)a)->name, ((const struct tsdb_label *)b)->name);
}

/* Adds __meta_filepath (over any value the file gave) and sorts. */
static int group_finish(struct builder *b, struct file_sd_group *g)
{
    int rc = set_label(g, FILE_SD_FILEPATH_LABEL, b->path, strlen(b->path));
    if (rc == 0)
        qsort(g->labels, g->nlabels, sizeof *g->labels, label_cmp);
    return rc;
}

/* ---- JSON ------------------------------------------------------------------ */

static int json_group(struct builder *b, size_t index, json_t *obj)
{
    if (!json_is_object(obj))
        return fail(b, 0, 0, "group %zu: not an object", index);
    struct file_sd_group *g = group_new(b);
    if (!g)
        return -ENOMEM;
    const char *key;
    json_t *val;
    int rc;
    json_object_foreach(obj, key, val) {
        if (strcmp(key, "targets") == 0) {
            if (!json_is_array(val) && !json_is_null(val))
                return fail(b, 0, 0, "group %zu: targets is not a list", index);
            size_t i;
            json_t *t;
            json_array_foreach(val, i, t) {
                if (!json_is_string(t))
                    return fail(b, 0, 0, "group %zu: targets[%zu] is not a string", index, i);
                if ((rc = add_target(g, json_string_value(t), json_string_length(t))) != 0)
                    return rc;
            }
        } else if (strcmp(key, "labels") == 0) {
            if (!json_is_object(val) && !json_is_null(val))
                return fail(b, 0, 0, "group %zu: labels is not an object", index);
            const char *name;
            json_t *v;
            json_object_foreach(val, name, v) {
                if (!json_is_string(v))
                    return fail(b, 0, 0, "group %zu: label %.64s is not a string", index, name);
                if ((rc = add_label(b, g, index, 0, 0, name, json_string_value(v),
                                    json_string_length(v))) != 0)
                    return rc;
            }
        } else {
            return fail(b, 0, 0, "group %zu: unknown key \"%.64s\" (want targets, labels)",
                        index, key);
        }
    }
    return group_finish(b, g);
}

static int parse_json(struct builder *b, const char *data, size_t len)
{
    json_error_t je;
    json_t *root = json_loadb(data, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
    if (!root)
        return fail(b, (size_t)(je.line > 0 ? je.line : 0), (size_t)(je.column > 0 ? je.column : 0),
                    "%s", je.text);
    int rc = 0;
    if (json_is_array(root)) {
        size_t i;
        json_t *obj;
        json_array_foreach(root, i, obj) {
            if ((rc = json_group(b, i, obj)) != 0)
                break;
        }
    } else if (!json_is_null(root)) {
        rc = fail(b, 0, 0, "want a list of target groups");
    }
    json_decref(root);
    return rc;
}

/* ---- YAML ------------------------------------------------------------------ */

static int yfail(struct builder *b, const yaml_node_t *n, const char *fmt, const char *arg)
{
    return fail(b, n->start_mark.line + 1, n->start_mark.column + 1, fmt, arg);
}

static int yaml_is_null(const yaml_node_t *n)
{
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return 0;
    const char *s = (const char *)n->data.scalar.value;
    return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") ||
           !strcmp(s, "NULL");
}

static int yaml_targets(struct builder *b, yaml_document_t *d, yaml_node_t *n,
                        struct file_sd_group *g)
{
    if (yaml_is_null(n))
        return 0;
    if (n->type != YAML_SEQUENCE_NODE)
        return yfail(b, n, "%s", "targets is not a list");
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
         it++) {
        yaml_node_t *t = yaml_document_get_node(d, *it);
        if (!t || t->type != YAML_SCALAR_NODE)
            return yfail(b, t ? t : n, "%s", "target is not a string");
        if (memchr(t->data.scalar.value, 0, t->data.scalar.length))
            return yfail(b, t, "%s", "target holds a NUL byte");
        int rc = add_target(g, (const char *)t->data.scalar.value, t->data.scalar.length);
        if (rc)
            return rc;
    }
    return 0;
}

static int yaml_labels(struct builder *b, yaml_document_t *d, yaml_node_t *n,
                       struct file_sd_group *g, size_t index)
{
    if (yaml_is_null(n))
        return 0;
    if (n->type != YAML_MAPPING_NODE)
        return yfail(b, n, "%s", "labels is not a mapping");
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(d, p->key);
        yaml_node_t *v = yaml_document_get_node(d, p->value);
        if (!k || !v || k->type != YAML_SCALAR_NODE)
            return yfail(b, k ? k : n, "%s", "label name is not a string");
        if (v->type != YAML_SCALAR_NODE)
            return yfail(b, v, "label %.64s: value is not a string",
                         (const char *)k->data.scalar.value);
        if (strlen((const char *)k->data.scalar.value) != k->data.scalar.length)
            return yfail(b, k, "%s", "label name holds a NUL byte");
        int rc = add_label(b, g, index, k->start_mark.line + 1, k->start_mark.column + 1,
                           (const char *)k->data.scalar.value,
                           (const char *)v->data.scalar.value, v->data.scalar.length);
        if (rc)
            return rc;
    }
    return 0;
}

static int yaml_group(struct builder *b, yaml_document_t *d, yaml_node_t *n)
{
    if (n->type != YAML_MAPPING_NODE)
        return yfail(b, n, "%s", "target group is not a mapping (want targets, labels)");
    struct file_sd_group *g = group_new(b);
    if (!g)
        return -ENOMEM;
    int seen_targets = 0, seen_labels = 0;
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(d, p->key);
        yaml_node_t *v = yaml_document_get_node(d, p->value);
        if (!k || !v)
            return yfail(b, n, "%s", "bad mapping");
        const char *key = k->type == YAML_SCALAR_NODE ? (const char *)k->data.scalar.value : "";
        int rc, *seen;
        if (strcmp(key, "targets") == 0) {
            seen = &seen_targets;
            rc = *seen ? 0 : yaml_targets(b, d, v, g);
        } else if (strcmp(key, "labels") == 0) {
            seen = &seen_labels;
            rc = *seen ? 0 : yaml_labels(b, d, v, g, b->n - 1);
        } else {
            return yfail(b, k, "unknown key \"%.64s\" (want targets, labels)", key);
        }
        if (*seen)
            return yfail(b, k, "key %s given twice", key);
        if (rc)
            return rc;
        *seen = 1;
    }
    return group_finish(b, g);
}

static int parse_yaml(struct builder *b, const char *data, size_t len)
{
    yaml_parser_t p;
    yaml_document_t d;
    if (!yaml_parser_initialize(&p))
        return -ENOMEM;
    yaml_parser_set_input_string(&p, (const unsigned char *)data, len);
    if (!yaml_parser_load(&p, &d)) {
        int rc = p.error == YAML_MEMORY_ERROR
                     ? -ENOMEM
                     : fail(b, p.problem_mark.line + 1, p.problem_mark.column + 1, "%s%s%s",
                            p.problem ? p.problem : "invalid YAML",
                            p.context ? " " : "", p.context ? p.context : "");
        yaml_parser_delete(&p);
        return rc;
    }
    int rc = 0;
    yaml_node_t *root = yaml_document_get_root_node(&d);
    if (root && root->type == YAML_SEQUENCE_NODE) {
        for (yaml_node_item_t *it = root->data.sequence.items.start;
             it < root->data.sequence.items.top && rc == 0; it++) {
            yaml_node_t *n = yaml_document_get_node(&d, *it);
            rc = n ? yaml_group(b, &d, n) : yfail(b, root, "%s", "bad list");
        }
    } else if (root && !yaml_is_null(root)) {
        rc = yfail(b, root, "%s", "want a list of target groups");
    }
    yaml_document_delete(&d);
    yaml_parser_delete(&p);
    return rc;
}

static int has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

int file_sd_parse(const char *path, const char *data, size_t len, struct file_sd_group **out,
                  size_t *nout, char *err, size_t errlen)
{
    struct builder b = {.path = path, .err = err, .errlen = errlen};
    int rc;
    if (errlen)
        err[0] = '\0';
    if (has_suffix(path, ".json"))
        rc = parse_json(&b, data, len);
    else if (has_suffix(path, ".yml") || has_suffix(path, ".yaml"))
        rc = parse_yaml(&b, data, len);
    else
        rc = fail(&b, 0, 0, "unknown file extension (want .json, .yml or .yaml)");
    if (rc == -ENOMEM)
        snprintf(err, errlen, "%s: out of memory", path);
    if (rc) {
        file_sd_groups_free(b.v, b.n);
        return rc;
    }
    if (!b.n) {
        free(b.v);
        b.v = NULL;
    }
    *out = b.v;
    *nout = b.n;
    return 0;
}

/* ---- the watcher ------------------------------------------------------------ */

struct sd_file {
    char *path;
    struct file_sd_group *groups;   /* from the last good parse */
    size_t ngroups;
    uint64_t hash;                  /* of the bytes they came from */
    int parsed, seen;
};

struct watch {
    uv_fs_event_t ev;
    struct file_sd *sd;
};

struct file_sd {
    uv_loop_t *loop;
    char **globs;
    size_t nglobs;
    file_sd_update_fn on_update;
    void *arg;
    struct sd_file *files;
    size_t nfiles;
    uv_timer_t refresh, debounce;
    struct watch **watches;
    size_t nwatches;
    unsigned open_handles;
    int stopping;
    void (*stop_cb)(void *arg);
    void *stop_arg;
    uint64_t read_errors;
    char last_error[512];
};

static void report(struct file_sd *sd, const char *msg)
{
    sd->read_errors++;
    snprintf(sd->last_error, sizeof sd->last_error, "%s", msg);
    vlog(VLOG_ERROR, "file_sd: cannot use targets file, keeping its previous targets",
         "err=%s", msg);
}

/* Reads path whole (NUL-terminated). @return 0 and *data, or -errno. */
static int read_file(const char *path, char **data /* OUT */, size_t *len /* OUT */)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct stat st;
    int rc = 0;
    char *buf = NULL;
    size_t n = 0;
    if (fstat(fd, &st) != 0) {
        rc = -errno;
    } else if (!S_ISREG(st.st_mode)) {
        rc = -EISDIR;
    } else if ((uint64_t)st.st_size > FILE_SD_MAX_FILE_BYTES) {
        rc = -EFBIG;
    } else if (!(buf = malloc((size_t)st.st_size + 1))) {
        rc = -ENOMEM;
    } else {
        while (n < (size_t)st.st_size) {
            ssize_t k = read(fd, buf + n, (size_t)st.st_size - n);
            if (k < 0 && errno == EINTR)
                continue;
            if (k < 0) {
                rc = -errno;
                break;
            }
            if (k == 0)
                break;
            n += (size_t)k;
        }
        buf[n] = '\0';
    }
    close(fd);
    if (rc) {
        free(buf);
        return rc;
    }
    *data = buf;
    *len = n;
    return 0;
}

/* Re-reads one file into f. @return 1 when its groups changed. */
static int reload_file(struct file_sd *sd, struct sd_file *f)
{
    char *data = NULL, err[512];
    size_t len = 0;
    int rc = read_file(f->path, &data, &len);
    if (rc) {
        snprintf(err, sizeof err, "%s: %s", f->path, strerror(-rc));
        report(sd, err);
        return 0;
    }
    uint64_t hash = XXH3_64bits(data, len);
    if (f->parsed && hash == f->hash) {
        free(data);
        return 0;
    }
    struct file_sd_group *g;
    size_t n;
    rc = file_sd_parse(f->path, data, len, &g, &n, err, sizeof err);
    free(data);
    if (rc) {
        report(sd, err);
        return 0;
    }
    file_sd_groups_free(f->groups, f->ngroups);
    f->groups = g;
    f->ngroups = n;
    f->hash = hash;
    f->parsed = 1;
    return 1;
}

static int path_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every path the globs match, sorted, without repeats. @return 0 or -ENOMEM. */
static int match_paths(struct file_sd *sd, glob_t *g /* OUT */)
{
    memset(g, 0, sizeof *g);
    for (size_t i = 0; i < sd->nglobs; i++) {
        int rc = glob(sd->globs[i], i ? GLOB_APPEND : 0, NULL, g);
        if (rc == GLOB_NOSPACE)
            return -ENOMEM;
    }
    if (g->gl_pathc > 1)
        qsort(g->gl_pathv, g->gl_pathc, sizeof *g->gl_pathv, path_cmp);
    return 0;
}

static int file_cmp(const void *a, const void *b)
{
    return strcmp(((const struct sd_file *)a)->path, ((const struct sd_file *)b)->path);
}

static struct sd_file *find_or_add(struct file_sd *sd, const char *path, size_t *cap)
{
    for (size_t i = 0; i < sd->nfiles; i++)
        if (strcmp(sd->files[i].path, path) == 0)
            return &sd->files[i];
    if (sd->nfiles == *cap) {
        size_t c = *cap ? 2 * *cap : 8;
        struct sd_file *v = realloc(sd->files, c * sizeof *v);
        if (!v)
            return NULL;
        sd->files = v;
        *cap = c;
    }
    struct sd_file *f = &sd->files[sd->nfiles];
    memset(f, 0, sizeof *f);
    if (!(f->path = strdup(path)))
        return NULL;
    sd->nfiles++;
    return f;
}

static void emit(struct file_sd *sd)
{
    size_t n = 0;
    for (size_t i = 0; i < sd->nfiles; i++)
        n += sd->files[i].ngroups;
    struct file_sd_group *all = n ? malloc(n * sizeof *all) : NULL;
    if (n && !all) {
        report(sd, "out of memory listing target groups");
        return;
    }
    n = 0;
    for (size_t i = 0; i < sd->nfiles; i++) {
        if (!sd->files[i].ngroups)
            continue;
        memcpy(all + n, sd->files[i].groups, sd->files[i].ngroups * sizeof *all);
        n += sd->files[i].ngroups;
    }
    sd->on_update(sd->arg, all, n);
    free(all);
}

/* One full pass: glob, re-read, drop vanished files, report changes. */
static void reload(struct file_sd *sd, int force_emit)
{
    glob_t g;
    if (match_paths(sd, &g) != 0) {
        globfree(&g);
        report(sd, "out of memory matching target files");
        return;
    }
    size_t cap = sd->nfiles;
    int changed = force_emit;
    for (size_t i = 0; i < sd->nfiles; i++)
        sd->files[i].seen = 0;
    for (size_t i = 0; i < g.gl_pathc; i++) {
        if (i && strcmp(g.gl_pathv[i], g.gl_pathv[i - 1]) == 0)
            continue;
        struct sd_file *f = find_or_add(sd, g.gl_pathv[i], &cap);
        if (!f) {
            report(sd, "out of memory tracking target files");
            break;
        }
        f->seen = 1;
        changed |= reload_file(sd, f);
    }
    globfree(&g);
    size_t kept = 0;
    for (size_t i = 0; i < sd->nfiles; i++) {
        struct sd_file *f = &sd->files[i];
        if (f->seen) {
            sd->files[kept++] = *f;
            continue;
        }
        changed |= f->ngroups > 0;
        file_sd_groups_free(f->groups, f->ngroups);
        free(f->path);
    }
    sd->nfiles = kept;
    if (sd->nfiles > 1)
        qsort(sd->files, sd->nfiles, sizeof *sd->files, file_cmp);
    if (changed)
        emit(sd);
}

void file_sd_refresh(struct file_sd *sd)
{
    if (!sd->stopping)
        reload(sd, 0);
}

static void refresh_fired(uv_timer_t *t)
{
    file_sd_refresh(t->data);
}

static void dir_changed(uv_fs_event_t *ev, const char *filename, int events, int status)
{
    (void)filename;
    (void)events;
    struct watch *w = ev->data;
    if (status == 0 && !w->sd->stopping)
        uv_timer_start(&w->sd->debounce, refresh_fired, DEBOUNCE_MS, 0);
}

/* Watches the directory part of pattern unless it holds glob characters
 * (those are left to the refresh timer) or is watched already. */
static int watch_dir(struct file_sd *sd, const char *pattern)
{
    const char *slash = strrchr(pattern, '/');
    char dir[4096];
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == pattern)
        snprintf(dir, sizeof dir, "/");
    else
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - pattern), pattern);
    if (strpbrk(dir, "*?[\\"))
        return 0;
    for (size_t i = 0; i < sd->nwatches; i++) {
        char have[4096];
        size_t n = sizeof have;
        if (uv_fs_event_getpath(&sd->watches[i]->ev, have, &n) == 0 && strcmp(have, dir) == 0)
            return 0;
    }
    struct watch **v = realloc(sd->watches, (sd->nwatches + 1) * sizeof *v);
    if (!v)
        return -ENOMEM;
    sd->watches = v;
    struct watch *w = malloc(sizeof *w);
    if (!w)
        return -ENOMEM;
    w->sd = sd;
    uv_fs_event_init(sd->loop, &w->ev);
    w->ev.data = w;
    sd->watches[sd->nwatches++] = w;
    sd->open_handles++;
    /* A directory that does not exist (yet) is left to the timer. */
    if (uv_fs_event_start(&w->ev, dir_changed, dir, 0) != 0)
        vlog(VLOG_DEBUG, "file_sd: cannot watch directory, using the refresh timer", "dir=%s",
             dir);
    return 0;
}

static void free_sd(struct file_sd *sd)
{
    for (size_t i = 0; i < sd->nglobs; i++)
        free(sd->globs[i]);
    free(sd->globs);
    for (size_t i = 0; i < sd->nfiles; i++) {
        file_sd_groups_free(sd->files[i].groups, sd->files[i].ngroups);
        free(sd->files[i].path);
    }
    free(sd->files);
    free(sd->watches);
    free(sd);
}

static void handle_closed(struct file_sd *sd)
{
    if (--sd->open_handles)
        return;
    void (*cb)(void *) = sd->stop_cb;
    void *arg = sd->stop_arg;
    free_sd(sd);
    if (cb)
        cb(arg);
}

static void timer_closed(uv_handle_t *h)
{
    handle_closed(h->data);
}

static void watch_closed(uv_handle_t *h)
{
    struct watch *w = h->data;
    struct file_sd *sd = w->sd;
    free(w);
    handle_closed(sd);
}

void file_sd_stop(struct file_sd *sd, void (*cb)(void *arg), void *arg)
{
    sd->stopping = 1;
    sd->stop_cb = cb;
    sd->stop_arg = arg;
    for (size_t i = 0; i < sd->nwatches; i++)
        uv_close((uv_handle_t *)&sd->watches[i]->ev, watch_closed);
    uv_close((uv_handle_t *)&sd->refresh, timer_closed);
    uv_close((uv_handle_t *)&sd->debounce, timer_closed);
}

int file_sd_start(uv_loop_t *loop, const char *const *globs, size_t nglobs, int64_t refresh_ms,
                  file_sd_update_fn on_update, void *arg, struct file_sd **out)
{
    struct file_sd *sd = calloc(1, sizeof *sd);
    if (!sd)
        return -ENOMEM;
    sd->loop = loop;
    sd->on_update = on_update;
    sd->arg = arg;
    if (nglobs && !(sd->globs = calloc(nglobs, sizeof *sd->globs)))
        goto fail;
    for (; sd->nglobs < nglobs; sd->nglobs++)
        if (!(sd->globs[sd->nglobs] = strdup(globs[sd->nglobs])))
            goto fail;
    uv_timer_init(loop, &sd->refresh);
    uv_timer_init(loop, &sd->debounce);
    sd->refresh.data = sd->debounce.data = sd;
    sd->open_handles = 2;
    for (size_t i = 0; i < nglobs; i++)
        if (watch_dir(sd, globs[i]) != 0) {
            /* The handles are on the loop already: close them. */
            file_sd_stop(sd, NULL, NULL);
            return -ENOMEM;
        }
    if (refresh_ms <= 0)
        refresh_ms = FILE_SD_DEFAULT_REFRESH_MS;
    uv_timer_start(&sd->refresh, refresh_fired, (uint64_t)refresh_ms, (uint64_t)refresh_ms);
    reload(sd, 1);
    *out = sd;
    return 0;
fail:
    free_sd(sd);
    return -ENOMEM;
}

uint64_t file_sd_read_errors(const struct file_sd *sd)
{
    return sd->read_errors;
}

const char *file_sd_last_error(const struct file_sd *sd)
{
    return sd->last_error;
}
