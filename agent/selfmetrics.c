/* selfmetrics.c — the self-metric registry, its text rendering and its
 * writes into the store (see selfmetrics.h). */
#include "selfmetrics.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

void sm_init(struct selfmetrics *r)
{
    memset(r, 0, sizeof *r);
}

static void free_series(struct sm_family *f)
{
    for (size_t j = 0; j < f->n; j++) {
        for (size_t k = 0; k < f->series[j].nlabels; k++) {
            free(f->series[j].label_names[k]);
            free(f->series[j].label_values[k]);
        }
    }
    f->n = 0;
}

void sm_clear(struct selfmetrics *r, const char *prefix)
{
    size_t len = strlen(prefix);
    for (size_t i = 0; i < r->n; i++)
        if (strncmp(r->fam[i].name, prefix, len) == 0)
            free_series(&r->fam[i]);
}

void sm_free(struct selfmetrics *r)
{
    for (size_t i = 0; i < r->n; i++) {
        struct sm_family *f = &r->fam[i];
        free_series(f);
        free(f->series);
        free(f->name);
    }
    free(r->fam);
    memset(r, 0, sizeof *r);
}

static struct sm_family *family(struct selfmetrics *r, const char *name, enum sm_type type,
                                const char *help)
{
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->fam[i].name, name) == 0)
            return &r->fam[i];
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 32;
        struct sm_family *p = realloc(r->fam, cap * sizeof *p);
        if (!p)
            return NULL;
        r->fam = p;
        r->cap = cap;
    }
    struct sm_family *f = &r->fam[r->n];
    memset(f, 0, sizeof *f);
    if (!(f->name = strdup(name)))
        return NULL;
    f->help = help;
    f->type = type;
    r->n++;
    return f;
}

/* The series of f with these labels, created when missing. */
static struct sm_series *series(struct sm_family *f, const char **names, const char **values,
                                size_t n)
{
    for (size_t i = 0; i < f->n; i++) {
        struct sm_series *s = &f->series[i];
        size_t k = 0;
        while (k < n && k < s->nlabels && strcmp(s->label_names[k], names[k]) == 0 &&
               strcmp(s->label_values[k], values[k]) == 0)
            k++;
        if (k == n && k == s->nlabels)
            return s;
    }
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 4;
        struct sm_series *p = realloc(f->series, cap * sizeof *p);
        if (!p)
            return NULL;
        f->series = p;
        f->cap = cap;
    }
    struct sm_series *s = &f->series[f->n];
    memset(s, 0, sizeof *s);
    for (size_t k = 0; k < n; k++) {
        s->label_names[k] = strdup(names[k]);
        s->label_values[k] = strdup(values[k]);
        s->nlabels = k + 1;
        if (!s->label_names[k] || !s->label_values[k]) {
            for (size_t j = 0; j <= k; j++) {
                free(s->label_names[j]);
                free(s->label_values[j]);
            }
            return NULL;
        }
    }
    f->n++;
    return s;
}

int sm_set(struct selfmetrics *r, const char *name, enum sm_type type, const char *help,
           double value, ...)
{
    const char *names[SM_MAX_LABELS], *values[SM_MAX_LABELS];
    size_t n = 0;
    va_list ap;
    va_start(ap, value);
    const char *k;
    while ((k = va_arg(ap, const char *)) != NULL) {
        const char *v = va_arg(ap, const char *);
        if (n == SM_MAX_LABELS) {
            va_end(ap);
            return -E2BIG;
        }
        names[n] = k;
        values[n++] = v;
    }
    va_end(ap);
    struct sm_family *f = family(r, name, type, help);
    struct sm_series *s = f ? series(f, names, values, n) : NULL;
    if (!s)
        return -ENOMEM;
    s->value = value;
    return 0;
}

static int put_value(struct http_buf *out, double v)
{
    if (isnan(v))
        return http_buf_printf(out, "NaN\n");
    if (isinf(v))
        return http_buf_printf(out, v > 0 ? "+Inf\n" : "-Inf\n");
    if (v == floor(v) && fabs(v) < 9007199254740992.0)
        return http_buf_printf(out, "%.0f\n", v);
    char s[32]; /* the shortest of %.15g .. %.17g that reads back exactly */
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(s, sizeof s, "%.*g", prec, v);
        if (strtod(s, NULL) == v)
            break;
    }
    return http_buf_printf(out, "%s\n", s);
}

int sm_render(const struct selfmetrics *r, struct http_buf *out)
{
    int rc = 0;
    for (size_t i = 0; i < r->n && !rc; i++) {
        const struct sm_family *f = &r->fam[i];
        if (!f->n)
            continue; /* emptied by sm_clear */
        rc = http_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", f->name, f->help, f->name,
                             f->type == SM_COUNTER ? "counter" : "gauge");
        for (size_t j = 0; j < f->n && !rc; j++) {
            const struct sm_series *s = &f->series[j];
            rc = http_buf_printf(out, "%s", f->name);
            for (size_t k = 0; k < s->nlabels && !rc; k++) {
                rc = http_buf_printf(out, "%c%s=\"", k ? ',' : '{', s->label_names[k]);
                for (const char *c = s->label_values[k]; *c && !rc; c++) {
                    if (*c == '\\' || *c == '"')
                        rc = http_buf_printf(out, "\\%c", *c);
                    else if (*c == '\n')
                        rc = http_buf_printf(out, "\\n");
                    else
                        rc = http_buf_append(out, c, 1);
                }
                rc = rc ? rc : http_buf_printf(out, "\"");
            }
            if (!rc && s->nlabels)
                rc = http_buf_printf(out, "}");
            rc = rc ? rc : http_buf_printf(out, " ");
            rc = rc ? rc : put_value(out, s->value);
        }
    }
    return rc;
}

int sm_store(struct selfmetrics *r, struct tsdb *db, int64_t ts_ms)
{
    int first = 0;
    for (size_t i = 0; i < r->n; i++) {
        struct sm_family *f = &r->fam[i];
        for (size_t j = 0; j < f->n; j++) {
            struct sm_series *s = &f->series[j];
            int rc = 0;
            if (s->ref_db != db) {
                struct tsdb_label l[SM_MAX_LABELS + 1] = {{"__name__", f->name}};
                for (size_t k = 0; k < s->nlabels; k++)
                    l[k + 1] = (struct tsdb_label){s->label_names[k], s->label_values[k]};
                struct tsdb_labels ls = {s->nlabels + 1, l};
                rc = tsdb_series_ref(db, &ls, &s->ref);
                if (rc == 0)
                    s->ref_db = db;
            }
            if (rc == 0)
                rc = tsdb_append(db, s->ref, ts_ms, s->value);
            if (rc && !first)
                first = rc;
        }
    }
    int rc = tsdb_commit(db);
    return first ? first : rc;
}

static double open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return NAN;
    double n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    closedir(d);
    return n - 1; /* the directory stream's own descriptor */
}

void sm_collect_process(struct selfmetrics *r, double start_time_s)
{
    struct rusage ru;
    double cpu = NAN, rss = NAN;
    if (getrusage(RUSAGE_SELF, &ru) == 0)
        cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
              ((double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_usec) / 1e6;
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long long size, resident;
    if (f) {
        if (fscanf(f, "%llu %llu", &size, &resident) == 2)
            rss = (double)resident * (double)sysconf(_SC_PAGESIZE);
        fclose(f);
    }
    sm_set(r, "process_cpu_seconds_total", SM_COUNTER,
           "Total user and system CPU time spent in seconds.", cpu, NULL);
    sm_set(r, "process_resident_memory_bytes", SM_GAUGE, "Resident memory size in bytes.", rss,
           NULL);
    sm_set(r, "process_open_fds", SM_GAUGE, "Number of open file descriptors.", open_fds(),
           NULL);
    sm_set(r, "process_start_time_seconds", SM_GAUGE,
           "Start time of the process since unix epoch in seconds.", start_time_s, NULL);
}
