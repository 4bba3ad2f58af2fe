/* log.c — logfmt event lines on stderr (see log.h). */
#include "log.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "timefmt.h"

static enum vlog_level min_level = VLOG_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

const char *vlog_level_name(enum vlog_level l)
{
    return (unsigned)l < 4 ? level_names[l] : "unknown";
}

int vlog_level_parse(const char *s, enum vlog_level *out)
{
    for (int i = 0; i < 4; i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (enum vlog_level)i;
            return 0;
        }
    }
    return -EINVAL;
}

void vlog_set_level(enum vlog_level l)
{
    min_level = l;
}

enum vlog_level vlog_get_level(void)
{
    return min_level;
}

/* A bounded output cursor: writes past the end are dropped, len counts
 * what fits. */
struct out {
    char *p;
    size_t len, cap;
};

static void put(struct out *o, const char *s, size_t n)
{
    size_t room = o->cap - o->len;
    if (n > room)
        n = room;
    memcpy(o->p + o->len, s, n);
    o->len += n;
}

static void puts_(struct out *o, const char *s)
{
    put(o, s, strlen(s));
}

/* Writes s as a logfmt value: bare when it has no byte that needs quoting,
 * otherwise in double quotes with \" \\ \n \r \t and \xHH escapes. */
static void put_value(struct out *o, const char *s)
{
    if (!s)
        s = "";
    int quote = *s == '\0';
    for (const unsigned char *c = (const unsigned char *)s; *c && !quote; c++)
        quote = *c <= ' ' || *c == '=' || *c == '"' || *c == '\\' || *c == 0x7f;
    if (!quote) {
        puts_(o, s);
        return;
    }
    put(o, "\"", 1);
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        char esc[5];
        switch (*c) {
        case '"': put(o, "\\\"", 2); break;
        case '\\': put(o, "\\\\", 2); break;
        case '\n': put(o, "\\n", 2); break;
        case '\r': put(o, "\\r", 2); break;
        case '\t': put(o, "\\t", 2); break;
        default:
            if (*c < ' ' || *c == 0x7f) {
                snprintf(esc, sizeof esc, "\\x%02x", *c);
                put(o, esc, 4);
            } else {
                put(o, (const char *)c, 1);
            }
        }
    }
    put(o, "\"", 1);
}

/* Formats the one conversion spec[0..n) (starting at '%') taking its
 * argument from ap. */
static void put_conversion(struct out *o, const char *spec, size_t n, va_list *ap)
{
    char fmt[32], val[128];
    char conv = spec[n - 1];
    if (n >= sizeof fmt || conv == '%') {
        put(o, "%", 1);
        return;
    }
    memcpy(fmt, spec, n);
    fmt[n] = '\0';
    if (conv == 's') {
        put_value(o, va_arg(*ap, const char *));
        return;
    }
    int ll = strstr(fmt, "ll") != NULL, l = !ll && strchr(fmt, 'l') != NULL;
    int z = strchr(fmt, 'z') != NULL;
    switch (conv) {
    case 'd': case 'i':
        if (ll)
            snprintf(val, sizeof val, fmt, va_arg(*ap, long long));
        else if (l)
            snprintf(val, sizeof val, fmt, va_arg(*ap, long));
        else if (z)
            snprintf(val, sizeof val, fmt, va_arg(*ap, ssize_t));
        else
            snprintf(val, sizeof val, fmt, va_arg(*ap, int));
        break;
    case 'u': case 'x':
        if (ll)
            snprintf(val, sizeof val, fmt, va_arg(*ap, unsigned long long));
        else if (l)
            snprintf(val, sizeof val, fmt, va_arg(*ap, unsigned long));
        else if (z)
            snprintf(val, sizeof val, fmt, va_arg(*ap, size_t));
        else
            snprintf(val, sizeof val, fmt, va_arg(*ap, unsigned));
        break;
    default: /* f, g, e */
        snprintf(val, sizeof val, fmt, va_arg(*ap, double));
        break;
    }
    puts_(o, val);
}

static void put_fields(struct out *o, const char *f, va_list *ap)
{
    while (*f) {
        if (*f != '%') {
            put(o, f++, 1);
            continue;
        }
        size_t n = 1 + strspn(f + 1, "-+ #0123456789.lz");
        if (f[n] == '\0')
            return;
        put_conversion(o, f, n + 1, ap);
        f += n + 1;
    }
}

size_t vlog_format(char *buf, size_t size, long long ts_ms, enum vlog_level l,
                   const char *msg, const char *fields, va_list ap)
{
    if (size < 2)
        return 0;
    struct out o = {buf, 0, size - 2};
    time_t secs = (time_t)(ts_ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    char ts[64];
    snprintf(ts, sizeof ts, "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03dZ level=", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ts_ms % 1000));
    puts_(&o, ts);
    puts_(&o, vlog_level_name(l));
    puts_(&o, " msg=");
    put_value(&o, msg);
    if (fields && *fields) {
        va_list cp;
        va_copy(cp, ap);
        put(&o, " ", 1);
        put_fields(&o, fields, &cp);
        va_end(cp);
    }
    buf[o.len++] = '\n';
    buf[o.len] = '\0';
    return o.len;
}

void vlog(enum vlog_level l, const char *msg, const char *fields, ...)
{
    if (l < min_level)
        return;
    char line[4096];
    va_list ap;
    va_start(ap, fields);
    size_t n = vlog_format(line, sizeof line, (long long)timefmt_now_ms(), l, msg, fields, ap);
    va_end(ap);
    ssize_t w = write(STDERR_FILENO, line, n);
    (void)w; /* nowhere to report a failing stderr */
}
