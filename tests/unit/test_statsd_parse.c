/* test_statsd_parse.c — table-driven tests of the statsd / DogStatsD line
 * parser, brubeck style: every must_parse line is rendered back to a
 * canonical string, every must_not_parse line must fail with its reason (and
 * column where given). Cases follow statsd's docs/metric_types.md, DogStatsD's
 * datagram format and statsd_exporter's line parser. Each input is parsed
 * from an exactly sized heap copy so an over-read trips ASan. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "statsd.h"

/* A string literal with its length, for lines holding NUL bytes. */
#define L(s) s, sizeof(s) - 1

static const char *const type_names[] = {"c", "g", "ms", "h", "d", "s"};

/* Integers up to 1e17 in full, anything else in the shortest %g form that
 * reads back as v. */
static void fmt_double(char *out, size_t cap, double v)
{
    if (v == floor(v) && fabs(v) < 1e17) {
        snprintf(out, cap, "%.0f", v);
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(out, cap, "%.*g", prec, v);
        if (strtod(out, NULL) == v)
            return;
    }
}

static size_t append(char *out, size_t n, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(out + n, cap - n, fmt, ap);
    va_end(ap);
    return n + (size_t)k < cap ? n + (size_t)k : cap - 1;
}

/* Renders m as e.g. "ms name 1:2 delta @0.5 #k=v,bare= T1000 c:id". */
static void render(const struct statsd_metric *m, char *out, size_t cap)
{
    char num[40];
    size_t n = append(out, 0, cap, "%s %.*s ", type_names[m->type], (int)m->name_len, m->name);
    if (m->type == STATSD_SET)
        n = append(out, n, cap, "%.*s", (int)m->set_member_len, m->set_member);
    for (size_t i = 0; i < m->nvalues; i++) {
        fmt_double(num, sizeof num, m->values[i]);
        n = append(out, n, cap, "%s%s", i ? ":" : "", num);
    }
    if (m->gauge_delta)
        n = append(out, n, cap, " delta");
    if (m->sample_rate != 1) {
        fmt_double(num, sizeof num, m->sample_rate);
        n = append(out, n, cap, " @%s", num);
    }
    for (size_t i = 0; i < m->ntags; i++)
        n = append(out, n, cap, "%s%.*s=%.*s", i ? "," : " #", (int)m->tags[i].key_len,
                   m->tags[i].key, (int)m->tags[i].value_len, m->tags[i].value);
    if (m->has_timestamp)
        n = append(out, n, cap, " T%lld", (long long)m->timestamp_ms);
    if (m->container)
        append(out, n, cap, " c:%.*s", (int)m->container_len, m->container);
}

/* Parses [in, in+len) from an exactly sized heap copy. */
static enum statsd_reject parse(const char *in, size_t len, struct statsd_metric *m,
                                size_t *col, char *out, size_t cap)
{
    char *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    memcpy(copy, in, len);
    enum statsd_reject r = statsd_parse_line(copy, len, m, col);
    out[0] = '\0';
    if (r == STATSD_OK)
        render(m, out, cap);
    free(copy);
    return r;
}

static const struct {
    const char *in;
    size_t len;
    const char *want;
} must_parse[] = {
    /* every type (statsd metric_types.md, DogStatsD) */
    {L("foo:1|c"), "c foo 1"},
    {L("foo:1|g"), "g foo 1"},
    {L("foo:1|ms"), "ms foo 1"},
    {L("foo:1|h"), "h foo 1"},
    {L("foo:1|d"), "d foo 1"},
    {L("foo:1|s"), "s foo 1"},
    {L("gorets:1|c"), "c gorets 1"},
    {L("glork:320|ms"), "ms glork 320"},
    {L("gaugor:333|g"), "g gaugor 333"},
    {L("uniques:765|s"), "s uniques 765"},
    {L("foo.bar.baz:42|c"), "c foo.bar.baz 42"},
    {L("blog.comments.posted:1|c|#service:blog"), "c blog.comments.posted 1 #service=blog"},
    {L("foo:0|c"), "c foo 0"},
    /* signs */
    {L("foo:-1|c"), "c foo -1"},
    {L("foo:+1|c"), "c foo 1"},
    {L("foo:-2.5|ms"), "ms foo -2.5"},
    {L("foo:+3|h"), "h foo 3"},
    {L("foo:-3|d"), "d foo -3"},
    {L("gaugor:-10|g"), "g gaugor -10 delta"},
    {L("gaugor:+4|g"), "g gaugor 4 delta"},
    {L("gaugor:+0|g"), "g gaugor 0 delta"},
    {L("gaugor:-0|g"), "g gaugor -0 delta"},
    {L("gaugor:0|g"), "g gaugor 0"},
    {L("foo:-1.5e2|g"), "g foo -150 delta"},
    /* number syntax */
    {L("foo:1.5|c"), "c foo 1.5"},
    {L("foo:.5|ms"), "ms foo 0.5"},
    {L("foo:5.|ms"), "ms foo 5"},
    {L("foo:1e3|h"), "h foo 1000"},
    {L("foo:1E3|h"), "h foo 1000"},
    {L("foo:1e+3|h"), "h foo 1000"},
    {L("foo:1e-3|h"), "h foo 0.001"},
    {L("foo:2.5E-1|d"), "d foo 0.25"},
    {L("foo:0.1|d"), "d foo 0.1"},
    {L("foo:00012|c"), "c foo 12"},
    {L("foo:0.30000000000000004|g"), "g foo 0.30000000000000004"},
    {L("foo:123456789012345678901234567890|c"), "c foo 1.2345678901234568e+29"},
    {L("foo:0.000000000000000000000000001|ms"), "ms foo 1e-27"},
    {L("foo:9007199254740993|c"), "c foo 9007199254740992"},
    {L("foo:9007199254740992|c"), "c foo 9007199254740992"},
    {L("foo:1e22|c"), "c foo 1e+22"},
    {L("foo:1e23|c"), "c foo 1e+23"},
    {L("foo:1.7976931348623157e308|g"), "g foo 1.7976931348623157e+308"},
    {L("foo:1e-400|ms"), "ms foo 0"},
    {L("foo:3.14159265358979323846|g"), "g foo 3.141592653589793"},
    /* sets: the member as written */
    {L("users:alice|s"), "s users alice"},
    {L("users:a b c|s"), "s users a b c"},
    {L("users:-1|s"), "s users -1"},
    {L("users:1.5e3|s"), "s users 1.5e3"},
    {L("users:NaN|s"), "s users NaN"},
    {L("users:ü€|s"), "s users ü€"},
    {L("a:b:c|s"), "s a b:c"},
    {L("users:x|s|#a:b"), "s users x #a=b"},
    /* sample rates */
    {L("gorets:1|c|@0.1"), "c gorets 1 @0.1"},
    {L("glork:320|ms|@0.1"), "ms glork 320 @0.1"},
    {L("foo:1|c|@1"), "c foo 1"},
    {L("foo:1|c|@1.0"), "c foo 1"},
    {L("foo:1|c|@0.5"), "c foo 1 @0.5"},
    {L("foo:1|c|@.25"), "c foo 1 @0.25"},
    {L("foo:1|c|@1e-2"), "c foo 1 @0.01"},
    {L("foo:1|c|@0.000001"), "c foo 1 @1e-06"},
    {L("foo:1|h|@0.5"), "h foo 1 @0.5"},
    {L("foo:1|d|@0.5"), "d foo 1 @0.5"},
    {L("foo:1|g|@0.5"), "g foo 1"},
    {L("foo:bar|s|@0.5"), "s foo bar"},
    /* DogStatsD tags */
    {L("foo:1|c|#a:b"), "c foo 1 #a=b"},
    {L("foo:1|c|#a:b,c:d"), "c foo 1 #a=b,c=d"},
    {L("foo:1|c|#urgent"), "c foo 1 #urgent="},
    {L("foo:1|c|#a:b,urgent,c:d"), "c foo 1 #a=b,urgent=,c=d"},
    {L("foo:1|c|#url:http://x:80/y"), "c foo 1 #url=http://x:80/y"},
    {L("foo:1|c|#a:"), "c foo 1 #a="},
    {L("foo:1|c|#a:b=c"), "c foo 1 #a=b=c"},
    {L("foo:1|c|#a b:c d"), "c foo 1 #a b=c d"},
    {L("foo:1|c|#a@b:c#d"), "c foo 1 #a@b=c#d"},
    {L("foo:1|c|#a:b,a:c"), "c foo 1 #a=b,a=c"},
    {L("foo:1|c|#k:ü€𝄞"), "c foo 1 #k=ü€𝄞"},
    {L("foo:1|c|#ключ:значение"), "c foo 1 #ключ=значение"},
    {L("foo:1|c|@0.5|#a:b"), "c foo 1 @0.5 #a=b"},
    {L("foo:1|c|#a:b|@0.5"), "c foo 1 @0.5 #a=b"},
    {L("foo:1|ms|#env:prod,service:web,host:web-1"),
     "ms foo 1 #env=prod,service=web,host=web-1"},
    /* InfluxDB and Librato tags in the name */
    {L("foo,a=b:1|c"), "c foo 1 #a=b"},
    {L("foo,a=b,c=d:1|ms"), "ms foo 1 #a=b,c=d"},
    {L("foo,a=b=c:1|c"), "c foo 1 #a=b=c"},
    {L("foo,a=b:1|c|@0.5"), "c foo 1 @0.5 #a=b"},
    {L("foo,a=b:1|c|T1656581400"), "c foo 1 #a=b T1656581400000"},
    {L("foo,a=b:1:2|ms"), "ms foo 1:2 #a=b"},
    {L("foo,a=b:x|s"), "s foo x #a=b"},
    {L("foo#a=b:1|c"), "c foo 1 #a=b"},
    {L("foo#a=b,c=d:1|g"), "g foo 1 #a=b,c=d"},
    {L("foo,a=ü:1|c"), "c foo 1 #a=ü"},
    /* DogStatsD multi-value packets */
    {L("a:1:2:3|ms"), "ms a 1:2:3"},
    {L("a:1:2|c"), "c a 1:2"},
    {L("a:1:2|g"), "g a 1:2"},
    {L("a:+1:-2|g"), "g a 1:-2 delta"},
    {L("a:1.5:.5:1e3|h"), "h a 1.5:0.5:1000"},
    {L("a:-1:-2|d"), "d a -1:-2"},
    {L("a:1:2|ms|@0.5|#k:v"), "ms a 1:2 @0.5 #k=v"},
    /* DogStatsD timestamps and container ids */
    {L("foo:1|c|T1656581400"), "c foo 1 T1656581400000"},
    {L("foo:1|g|T0"), "g foo 1 T0"},
    {L("foo:1|c|T9223372036854775"), "c foo 1 T9223372036854775000"},
    {L("foo:1|c|#a:b|T1656581400|@0.5"), "c foo 1 @0.5 #a=b T1656581400000"},
    {L("foo:1|c|c:abc123"), "c foo 1 c:abc123"},
    {L("foo:1|c|c:a:b"), "c foo 1 c:a:b"},
    {L("foo:1|c|#a:b|c:83c0a99c0a54c0c187f461c7980e9b57f3f6a8b0c918c8d93df19a9de6f3fe1d"),
     "c foo 1 #a=b c:83c0a99c0a54c0c187f461c7980e9b57f3f6a8b0c918c8d93df19a9de6f3fe1d"},
    {L("foo:1|c|@0.5|#a:b|T1|c:x"), "c foo 1 @0.5 #a=b T1000 c:x"},
    {L("foo:1|c|c:x|T1|#a:b|@0.5"), "c foo 1 @0.5 #a=b T1000 c:x"},
    /* CRLF */
    {L("foo:1|c\r"), "c foo 1"},
    {L("foo:1|c|#a:b\r"), "c foo 1 #a=b"},
    {L("users:x|s\r"), "s users x"},
    /* names: anything printable but ':' '|' ',' '#' */
    {L("a:1|c"), "c a 1"},
    {L("my service.requests/sec:1|c"), "c my service.requests/sec 1"},
    {L("ünïcode.名前:1|c"), "c ünïcode.名前 1"},
    {L("foo-bar_baz:1|c"), "c foo-bar_baz 1"},
    {L("foo@bar:1|c"), "c foo@bar 1"},
    {L("foo[a=b]:1|c"), "c foo[a=b] 1"},
    {L("foo.:1|c"), "c foo. 1"},
    {L(" foo:1|c"), "c  foo 1"},
    {L("_e:1|c"), "c _e 1"},
    {L("_sc:1|c"), "c _sc 1"},
};

static const struct {
    const char *in;
    size_t len;
    enum statsd_reject want;
    size_t col; /* 0: not checked */
} must_not_parse[] = {
    /* truncated lines and empty names */
    {L(""), STATSD_REJECT_EMPTY_NAME, 1},
    {L("\r"), STATSD_REJECT_EMPTY_NAME, 1},
    {L(":1|c"), STATSD_REJECT_EMPTY_NAME, 1},
    {L("|c"), STATSD_REJECT_EMPTY_NAME, 1},
    {L("::"), STATSD_REJECT_EMPTY_NAME, 1},
    {L(",a=b:1|c"), STATSD_REJECT_EMPTY_NAME, 1},
    {L("foo"), STATSD_REJECT_NO_VALUE, 4},
    {L("garbage"), STATSD_REJECT_NO_VALUE, 8},
    {L("foo:"), STATSD_REJECT_NO_VALUE, 5},
    {L("foo|c"), STATSD_REJECT_NO_VALUE, 4},
    {L("foo,a=b"), STATSD_REJECT_NO_VALUE, 8},
    {L("foo,a=b|c"), STATSD_REJECT_NO_VALUE, 8},
    {L("foo:1"), STATSD_REJECT_NO_TYPE, 6},
    {L("foo:1|"), STATSD_REJECT_NO_TYPE, 7},
    {L("foo:1:2"), STATSD_REJECT_NO_TYPE, 8},
    /* types */
    {L("foo:1|x"), STATSD_REJECT_BAD_TYPE, 7},
    {L("foo:1|C"), STATSD_REJECT_BAD_TYPE, 7},
    {L("foo:1|mss"), STATSD_REJECT_BAD_TYPE, 7},
    {L("foo:1|m"), STATSD_REJECT_BAD_TYPE, 7},
    {L("foo:1|cc"), STATSD_REJECT_BAD_TYPE, 7},
    {L("foo:1|kv"), STATSD_REJECT_BAD_TYPE, 7},
    {L("foo:1|c "), STATSD_REJECT_BAD_TYPE, 7},
    {L("foo:1||c"), STATSD_REJECT_BAD_TYPE, 7},
    {L("foo:1|c\r\r"), STATSD_REJECT_BAD_TYPE, 7},
    {L("foo:1|c\n"), STATSD_REJECT_BAD_TYPE, 7},
    {L("foo:1|c:2|ms"), STATSD_REJECT_BAD_TYPE, 7},
    /* values */
    {L("foo:|c"), STATSD_REJECT_BAD_VALUE, 5},
    {L("foo:abc|c"), STATSD_REJECT_BAD_VALUE, 5},
    {L("foo:1x|c"), STATSD_REJECT_BAD_VALUE, 6},
    {L("foo:NaN|g"), STATSD_REJECT_BAD_VALUE, 5},
    {L("foo:nan|ms"), STATSD_REJECT_BAD_VALUE, 5},
    {L("foo:Inf|c"), STATSD_REJECT_BAD_VALUE, 5},
    {L("foo:-Inf|g"), STATSD_REJECT_BAD_VALUE, 6},
    {L("foo:+inf|h"), STATSD_REJECT_BAD_VALUE, 6},
    {L("foo:infinity|d"), STATSD_REJECT_BAD_VALUE, 5},
    {L("foo:0x10|c"), STATSD_REJECT_BAD_VALUE, 6},
    {L("foo:0X1p3|c"), STATSD_REJECT_BAD_VALUE, 6},
    {L("foo:1e|c"), STATSD_REJECT_BAD_VALUE, 7},
    {L("foo:1e+|c"), STATSD_REJECT_BAD_VALUE, 8},
    {L("foo:e3|c"), STATSD_REJECT_BAD_VALUE, 5},
    {L("foo:.|c"), STATSD_REJECT_BAD_VALUE, 6},
    {L("foo:.e1|c"), STATSD_REJECT_BAD_VALUE, 6},
    {L("foo:-|g"), STATSD_REJECT_BAD_VALUE, 6},
    {L("foo:+|g"), STATSD_REJECT_BAD_VALUE, 6},
    {L("foo:--1|c"), STATSD_REJECT_BAD_VALUE, 6},
    {L("foo:+-1|g"), STATSD_REJECT_BAD_VALUE, 6},
    {L("foo:1.2.3|c"), STATSD_REJECT_BAD_VALUE, 8},
    {L("foo:1,5|c"), STATSD_REJECT_BAD_VALUE, 6},
    {L("foo:1_000|c"), STATSD_REJECT_BAD_VALUE, 6},
    {L("foo: 1|c"), STATSD_REJECT_BAD_VALUE, 5},
    {L("foo:1 |c"), STATSD_REJECT_BAD_VALUE, 6},
    {L("foo:1e400|c"), STATSD_REJECT_BAD_VALUE, 5},
    {L("foo:-1e400|g"), STATSD_REJECT_BAD_VALUE, 5},
    {L("foo:1\r|c"), STATSD_REJECT_BAD_VALUE, 6},
    {L("foo:1\0|c"), STATSD_REJECT_BAD_VALUE, 6},
    {L("foo:|s"), STATSD_REJECT_BAD_VALUE, 5},
    {L("foo:a\tb|s"), STATSD_REJECT_BAD_VALUE, 6},
    {L("foo:a\0|s"), STATSD_REJECT_BAD_VALUE, 6},
    /* multi-values */
    {L("foo:1:|ms"), STATSD_REJECT_BAD_VALUE, 7},
    {L("foo:1::2|ms"), STATSD_REJECT_BAD_VALUE, 7},
    {L("foo::1|ms"), STATSD_REJECT_BAD_VALUE, 5},
    {L("a:1:x|c"), STATSD_REJECT_BAD_VALUE, 5},
    {L("a:1:+2|g"), STATSD_REJECT_BAD_VALUE, 5},
    {L("a:-1:2|g"), STATSD_REJECT_BAD_VALUE, 6},
    {L("a:1:NaN|h"), STATSD_REJECT_BAD_VALUE, 5},
    /* sample rates */
    {L("foo:1|c|@bar"), STATSD_REJECT_BAD_RATE, 10},
    {L("foo:1|c|@"), STATSD_REJECT_BAD_RATE, 10},
    {L("foo:1|c|@0"), STATSD_REJECT_BAD_RATE, 10},
    {L("foo:1|c|@0.0"), STATSD_REJECT_BAD_RATE, 10},
    {L("foo:1|c|@2"), STATSD_REJECT_BAD_RATE, 10},
    {L("foo:1|c|@1.01"), STATSD_REJECT_BAD_RATE, 10},
    {L("foo:1|c|@-0.5"), STATSD_REJECT_BAD_RATE, 10},
    {L("foo:1|c|@nan"), STATSD_REJECT_BAD_RATE, 10},
    {L("foo:1|c|@0.5x"), STATSD_REJECT_BAD_RATE, 13},
    {L("foo:1|c|@1e-400"), STATSD_REJECT_BAD_RATE, 10},
    {L("foo:1|c|@ 0.5"), STATSD_REJECT_BAD_RATE, 10},
    {L("foo:1|g|@bar"), STATSD_REJECT_BAD_RATE, 10},
    {L("foo:x|s|@0"), STATSD_REJECT_BAD_RATE, 10},
    {L("foo:1|ms|@2"), STATSD_REJECT_BAD_RATE, 11},
    /* DogStatsD tags */
    {L("foo:1|c|#"), STATSD_REJECT_BAD_TAGS, 10},
    {L("foo:1|c|#a:b,"), STATSD_REJECT_BAD_TAGS, 14},
    {L("foo:1|c|#,a:b"), STATSD_REJECT_BAD_TAGS, 10},
    {L("foo:1|c|#a:b,,c:d"), STATSD_REJECT_BAD_TAGS, 14},
    {L("foo:1|c|#:b"), STATSD_REJECT_BAD_TAGS, 10},
    {L("foo:1|c|#a:b\tc"), STATSD_REJECT_BAD_TAGS, 13},
    {L("foo:1|c|#a:b\0"), STATSD_REJECT_BAD_TAGS, 13},
    {L("foo:1|c|@0.5|#"), STATSD_REJECT_BAD_TAGS, 15},
    {L("foo:1|c|#a:\xff"), STATSD_REJECT_BAD_UTF8, 12},
    {L("foo:1|c|#\xc3"), STATSD_REJECT_BAD_UTF8, 10},
    {L("foo:1|c|#\xe2\x82"), STATSD_REJECT_BAD_UTF8, 10},
    {L("foo:1|c|#a:\xed\xa0\x80"), STATSD_REJECT_BAD_UTF8, 12},
    {L("foo:1|c|#a:\xc0\xaf"), STATSD_REJECT_BAD_UTF8, 12},
    {L("foo:1|c|#a:b|#c:d"), STATSD_REJECT_BAD_SECTION, 14},
    /* InfluxDB / Librato tags */
    {L("foo,a=b:1|c|#c:d"), STATSD_REJECT_BAD_TAGS, 13},
    {L("foo,a:1|c"), STATSD_REJECT_BAD_TAGS, 6},
    {L("foo,=b:1|c"), STATSD_REJECT_BAD_TAGS, 5},
    {L("foo,a=:1|c"), STATSD_REJECT_BAD_TAGS, 7},
    {L("foo,:1|c"), STATSD_REJECT_BAD_TAGS, 5},
    {L("foo,a=b,:1|c"), STATSD_REJECT_BAD_TAGS, 9},
    {L("foo,a=b,,c=d:1|c"), STATSD_REJECT_BAD_TAGS, 9},
    {L("foo#:1|c"), STATSD_REJECT_BAD_TAGS, 5},
    {L("foo#bare:1|c"), STATSD_REJECT_BAD_TAGS, 9},
    {L("foo,a=b\x01:1|c"), STATSD_REJECT_BAD_TAGS, 8},
    {L("foo,a=\xff:1|c"), STATSD_REJECT_BAD_UTF8, 7},
    /* timestamps */
    {L("foo:1|c|T"), STATSD_REJECT_BAD_TIMESTAMP, 10},
    {L("foo:1|c|Tabc"), STATSD_REJECT_BAD_TIMESTAMP, 10},
    {L("foo:1|c|T123x"), STATSD_REJECT_BAD_TIMESTAMP, 13},
    {L("foo:1|c|T-1"), STATSD_REJECT_BAD_TIMESTAMP, 10},
    {L("foo:1|c|T+1"), STATSD_REJECT_BAD_TIMESTAMP, 10},
    {L("foo:1|c|T1.5"), STATSD_REJECT_BAD_TIMESTAMP, 11},
    {L("foo:1|c|T1e9"), STATSD_REJECT_BAD_TIMESTAMP, 11},
    {L("foo:1|c|T9223372036854776"), STATSD_REJECT_BAD_TIMESTAMP, 10},
    {L("foo:1|c|T99999999999999999999"), STATSD_REJECT_BAD_TIMESTAMP, 10},
    {L("foo:1|c|T1|T2"), STATSD_REJECT_BAD_SECTION, 12},
    /* container ids and other sections */
    {L("foo:1|c|c:"), STATSD_REJECT_BAD_SECTION, 9},
    {L("foo:1|c|c"), STATSD_REJECT_BAD_SECTION, 9},
    {L("foo:1|c|cx"), STATSD_REJECT_BAD_SECTION, 9},
    {L("foo:1|c|c:a|c:b"), STATSD_REJECT_BAD_SECTION, 13},
    {L("foo:1|c|c:a\x01"), STATSD_REJECT_BAD_SECTION, 12},
    {L("foo:1|c|c:\xff"), STATSD_REJECT_BAD_UTF8, 11},
    {L("foo:1|c|"), STATSD_REJECT_BAD_SECTION, 9},
    {L("foo:1|c||@0.5"), STATSD_REJECT_BAD_SECTION, 9},
    {L("foo:1|c|x"), STATSD_REJECT_BAD_SECTION, 9},
    {L("foo:1|c|a:b"), STATSD_REJECT_BAD_SECTION, 9},
    {L("foo:1|c|0.5"), STATSD_REJECT_BAD_SECTION, 9},
    {L("foo:1|c|t123"), STATSD_REJECT_BAD_SECTION, 9},
    {L("foo:1|c|h:host"), STATSD_REJECT_BAD_SECTION, 9},
    {L("foo:1|c|#a:b|x"), STATSD_REJECT_BAD_SECTION, 14},
    {L("foo:1|c|@0.5|@0.5"), STATSD_REJECT_BAD_SECTION, 14},
    {L("foo:1|c|@0.1|#a:b|T1|c:x|@0.2"), STATSD_REJECT_BAD_SECTION, 26},
    {L("foo:1|c|#a:b|c:x|#c:d"), STATSD_REJECT_BAD_SECTION, 18},
    /* DogStatsD events and service checks */
    {L("_e{5,4}:title|text"), STATSD_REJECT_EVENT, 1},
    {L("_e{5,4}:title|text|d:123|h:host|#a:b"), STATSD_REJECT_EVENT, 1},
    {L("_e{"), STATSD_REJECT_EVENT, 1},
    {L("_sc|my.check|0"), STATSD_REJECT_EVENT, 1},
    {L("_sc|my.check|2|#a:b|m:msg"), STATSD_REJECT_EVENT, 1},
    /* names: UTF-8 and control characters */
    {L("\xff:1|c"), STATSD_REJECT_BAD_UTF8, 1},
    {L("fo\xc3:1|c"), STATSD_REJECT_BAD_UTF8, 3},
    {L("\xc0\x80:1|c"), STATSD_REJECT_BAD_UTF8, 1},
    {L("\xed\xa0\x80:1|c"), STATSD_REJECT_BAD_UTF8, 1},
    {L("\xf4\x90\x80\x80:1|c"), STATSD_REJECT_BAD_UTF8, 1},
    {L("\x80:1|c"), STATSD_REJECT_BAD_UTF8, 1},
    {L("ok\xf0\x9f\x98:1|c"), STATSD_REJECT_BAD_UTF8, 3},
    {L("fo\0o:1|c"), STATSD_REJECT_BAD_NAME, 3},
    {L("\0"), STATSD_REJECT_BAD_NAME, 1},
    {L("\0\0\0\0"), STATSD_REJECT_BAD_NAME, 1},
    {L("foo\t:1|c"), STATSD_REJECT_BAD_NAME, 4},
    {L("foo\x7f:1|c"), STATSD_REJECT_BAD_NAME, 4},
    {L("foo\n:1|c"), STATSD_REJECT_BAD_NAME, 4},
    {L("foo:\xff|s"), STATSD_REJECT_BAD_UTF8, 5},
    {L("foo:1|c\0"), STATSD_REJECT_BAD_TYPE, 7},
};

static void test_must_parse(void **state)
{
    (void)state;
    struct statsd_metric m;
    char out[1024];
    size_t col = 0;
    for (size_t i = 0; i < sizeof must_parse / sizeof must_parse[0]; i++) {
        enum statsd_reject r = parse(must_parse[i].in, must_parse[i].len, &m, &col, out, sizeof out);
        if (r != STATSD_OK || strcmp(out, must_parse[i].want) != 0)
            fail_msg("must_parse %zu [%s]: %s at %zu, got [%s] want [%s]", i, must_parse[i].in,
                     statsd_reject_label(r), r ? col : 0, out, must_parse[i].want);
    }
}

static void test_must_not_parse(void **state)
{
    (void)state;
    struct statsd_metric m;
    char out[1024];
    for (size_t i = 0; i < sizeof must_not_parse / sizeof must_not_parse[0]; i++) {
        size_t col = 0;
        enum statsd_reject r =
            parse(must_not_parse[i].in, must_not_parse[i].len, &m, &col, out, sizeof out);
        if (r != must_not_parse[i].want || (must_not_parse[i].col && col != must_not_parse[i].col))
            fail_msg("must_not_parse %zu [%s]: got %s col %zu [%s], want %s col %zu", i,
                     must_not_parse[i].in, statsd_reject_label(r), col, out,
                     statsd_reject_label(must_not_parse[i].want), must_not_parse[i].col);
    }
}

/* Builds "prefix" + n copies of unit (joined by sep) + suffix into buf. */
static size_t build(char *buf, size_t cap, const char *prefix, const char *unit, const char *sep,
                    size_t n, const char *suffix)
{
    size_t len = (size_t)snprintf(buf, cap, "%s", prefix);
    for (size_t i = 0; i < n; i++)
        len += (size_t)snprintf(buf + len, cap - len, "%s%s", i ? sep : "", unit);
    len += (size_t)snprintf(buf + len, cap - len, "%s", suffix);
    assert_true(len < cap);
    return len;
}

static void test_limits(void **state)
{
    (void)state;
    static char buf[STATSD_MAX_LINE + 64];
    struct statsd_metric m;
    char out[4096];
    size_t col, len;

    /* name length */
    len = build(buf, sizeof buf, "", "n", "", STATSD_MAX_NAME, ":1|c");
    assert_int_equal(parse(buf, len, &m, &col, out, sizeof out), STATSD_OK);
    assert_int_equal(m.name_len, STATSD_MAX_NAME);
    len = build(buf, sizeof buf, "", "n", "", STATSD_MAX_NAME + 1, ":1|c");
    assert_int_equal(parse(buf, len, &m, &col, out, sizeof out), STATSD_REJECT_TOO_LONG);
    assert_int_equal(col, STATSD_MAX_NAME + 1);

    /* values per line */
    len = build(buf, sizeof buf, "a:", "7", ":", STATSD_MAX_VALUES, "|ms");
    assert_int_equal(parse(buf, len, &m, &col, out, sizeof out), STATSD_OK);
    assert_int_equal(m.nvalues, STATSD_MAX_VALUES);
    assert_true(m.values[STATSD_MAX_VALUES - 1] == 7);
    len = build(buf, sizeof buf, "a:", "7", ":", STATSD_MAX_VALUES + 1, "|ms");
    assert_int_equal(parse(buf, len, &m, &col, out, sizeof out), STATSD_REJECT_TOO_MANY_VALUES);
    assert_int_equal(col, 3 + 2 * STATSD_MAX_VALUES);

    /* tags per line, DogStatsD and InfluxDB style */
    len = build(buf, sizeof buf, "a:1|c|#", "k:v", ",", STATSD_MAX_TAGS, "");
    assert_int_equal(parse(buf, len, &m, &col, out, sizeof out), STATSD_OK);
    assert_int_equal(m.ntags, STATSD_MAX_TAGS);
    len = build(buf, sizeof buf, "a:1|c|#", "k:v", ",", STATSD_MAX_TAGS + 1, "");
    assert_int_equal(parse(buf, len, &m, &col, out, sizeof out), STATSD_REJECT_BAD_TAGS);
    assert_int_equal(col, 8 + 4 * STATSD_MAX_TAGS);
    len = build(buf, sizeof buf, "a,", "k=v", ",", STATSD_MAX_TAGS, ":1|c");
    assert_int_equal(parse(buf, len, &m, &col, out, sizeof out), STATSD_OK);
    len = build(buf, sizeof buf, "a,", "k=v", ",", STATSD_MAX_TAGS + 1, ":1|c");
    assert_int_equal(parse(buf, len, &m, &col, out, sizeof out), STATSD_REJECT_BAD_TAGS);

    /* line length: a long tag value brings the line to the limit */
    len = build(buf, sizeof buf, "a:1|c|#k:", "v", "", STATSD_MAX_LINE - 9, "");
    assert_int_equal(len, STATSD_MAX_LINE);
    assert_int_equal(parse(buf, len, &m, &col, out, sizeof out), STATSD_OK);
    assert_int_equal(m.tags[0].value_len, STATSD_MAX_LINE - 9);
    buf[len] = '\r';
    assert_int_equal(parse(buf, len + 1, &m, &col, out, sizeof out), STATSD_OK);
    len = build(buf, sizeof buf, "a:1|c|#k:", "v", "", STATSD_MAX_LINE - 8, "");
    assert_int_equal(parse(buf, len, &m, &col, out, sizeof out), STATSD_REJECT_TOO_LONG);
    assert_int_equal(col, STATSD_MAX_LINE + 1);

    /* numbers longer than strtod's copy are rejected, shorter ones parse */
    len = build(buf, sizeof buf, "a:1", "0", "", 125, "|c");
    assert_int_equal(parse(buf, len, &m, &col, out, sizeof out), STATSD_OK);
    assert_true(m.values[0] == 1e125);
    len = build(buf, sizeof buf, "a:1", "0", "", 127, "|c");
    assert_int_equal(parse(buf, len, &m, &col, out, sizeof out), STATSD_REJECT_BAD_VALUE);
}

/* The fields a caller reads: pointers into the line, defaults when absent,
 * and no state carried over from an earlier line. */
static void test_fields(void **state)
{
    (void)state;
    struct statsd_metric m;
    const char *line = "foo:1|c|#bare,k:|c:id";
    assert_int_equal(statsd_parse_line(line, strlen(line), &m, NULL), STATSD_OK);
    assert_ptr_equal(m.name, line);
    assert_int_equal(m.type, STATSD_COUNTER);
    assert_int_equal(m.nvalues, 1);
    assert_true(m.sample_rate == 1);
    assert_int_equal(m.ntags, 2);
    assert_int_equal(m.tags[0].value_len, 0);
    assert_string_equal(m.tags[0].value, "");
    assert_int_equal(m.tags[1].key_len, 1);
    assert_int_equal(m.tags[1].value_len, 0);
    assert_ptr_equal(m.container, line + 19);
    assert_null(m.set_member);
    assert_false(m.has_timestamp);

    line = "foo:x|s|@0.5";
    assert_int_equal(statsd_parse_line(line, strlen(line), &m, NULL), STATSD_OK);
    assert_int_equal(m.type, STATSD_SET);
    assert_int_equal(m.nvalues, 0);
    assert_int_equal(m.ntags, 0);
    assert_null(m.container);
    assert_ptr_equal(m.set_member, line + 4);
    assert_true(m.sample_rate == 1);

    line = "g:-3:-4|g|@0.5|T12";
    assert_int_equal(statsd_parse_line(line, strlen(line), &m, NULL), STATSD_OK);
    assert_true(m.gauge_delta);
    assert_true(m.values[0] == -3 && m.values[1] == -4);
    assert_true(m.sample_rate == 1);
    assert_int_equal(m.timestamp_ms, 12000);
    line = "g:3|g";
    assert_int_equal(statsd_parse_line(line, strlen(line), &m, NULL), STATSD_OK);
    assert_false(m.gauge_delta);
    assert_false(m.has_timestamp);

    /* the column is reported when asked for, and col may be NULL */
    size_t col = 0;
    line = "foo:1|c|@0";
    assert_int_equal(statsd_parse_line(line, strlen(line), &m, &col), STATSD_REJECT_BAD_RATE);
    assert_int_equal(col, 10);
    assert_int_equal(statsd_parse_line(line, strlen(line), &m, NULL), STATSD_REJECT_BAD_RATE);

    /* the parser reads only [line, line+len): a prefix of a valid line */
    line = "foo:1|c|#a:b";
    assert_int_equal(statsd_parse_line(line, 7, &m, NULL), STATSD_OK);
    assert_int_equal(m.ntags, 0);
    assert_int_equal(statsd_parse_line(line, 5, &m, &col), STATSD_REJECT_NO_TYPE);
    assert_int_equal(col, 6);
}

static uint64_t rnd(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

/* The parser's own number reading (exact fast path for short decimals,
 * strtod beyond) gives bit for bit what strtod gives, over random decimals
 * of 1 to 20 digits with and without a point and an exponent. */
static void test_numbers_match_strtod(void **state)
{
    (void)state;
    uint64_t x = 0x9e3779b97f4a7c15u;
    struct statsd_metric m;
    for (int i = 0; i < 200000; i++) {
        char num[64], line[80];
        size_t n = 0;
        int digits = 1 + (int)(rnd(&x) % 20), point = (int)(rnd(&x) % (uint64_t)(digits + 2));
        if (rnd(&x) & 1)
            num[n++] = rnd(&x) & 1 ? '-' : '+';
        for (int d = 0; d < digits; d++) {
            if (d == point)
                num[n++] = '.';
            num[n++] = (char)('0' + rnd(&x) % 10);
        }
        num[n] = '\0';
        if (rnd(&x) & 1)
            snprintf(num + n, sizeof num - n, "e%d", (int)(rnd(&x) % 70) - 35);
        int len = snprintf(line, sizeof line, "a:%s|d", num);
        assert_int_equal(statsd_parse_line(line, (size_t)len, &m, NULL), STATSD_OK);
        double want = strtod(num, NULL);
        if (memcmp(&want, &m.values[0], sizeof want) != 0)
            fail_msg("%s: parsed %.17g, strtod %.17g", num, m.values[0], want);
    }
}

static void test_reject_names(void **state)
{
    (void)state;
    assert_string_equal(statsd_reject_label(STATSD_REJECT_BAD_RATE), "bad_sample_rate");
    assert_string_equal(statsd_reject_text(STATSD_REJECT_BAD_TYPE), "unknown metric type");
    assert_string_equal(statsd_reject_label(STATSD_REJECT_BAD_NAME), "bad_name");
    for (int r = 1; r < STATSD_REJECT_COUNT; r++) {
        const char *label = statsd_reject_label((enum statsd_reject)r);
        assert_true(strlen(label) > 0 && strlen(statsd_reject_text((enum statsd_reject)r)) > 0);
        for (const char *p = label; *p; p++)
            assert_true((*p >= 'a' && *p <= 'z') || *p == '_' || (*p >= '0' && *p <= '9'));
        for (int q = 1; q < r; q++)
            assert_string_not_equal(label, statsd_reject_label((enum statsd_reject)q));
    }
    assert_string_equal(statsd_reject_label(STATSD_REJECT_COUNT), "unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_must_parse),
        cmocka_unit_test(test_must_not_parse),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_fields),
        cmocka_unit_test(test_numbers_match_strtod),
        cmocka_unit_test(test_reject_names),
    };
    printf("statsd parser: %zu must_parse, %zu must_not_parse cases\n",
           sizeof must_parse / sizeof must_parse[0],
           sizeof must_not_parse / sizeof must_not_parse[0]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
