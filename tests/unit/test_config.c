/* test_config.c — vigild's configuration: defaults, a full valid file, one
 * case per error class (with file:line:column and the hint), flags over the
 * file, and the logfmt event lines. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "log.h"

static int parse(struct config *c, const char *text, struct config_errors *e)
{
    config_default(c);
    memset(e, 0, sizeof *e);
    return config_parse(c, "vigil.yml", text, strlen(text), e);
}

static void test_defaults(void **state)
{
    (void)state;
    struct config c;
    config_default(&c);
    assert_string_equal(c.data_dir, "./vigil-data");
    assert_string_equal(c.statsd_udp, "127.0.0.1:8125");
    assert_string_equal(c.statsd_tcp, "127.0.0.1:8125");
    assert_string_equal(c.http_listen, "127.0.0.1:9190");
    assert_int_equal(c.log_level, VLOG_INFO);
    assert_int_equal(c.statsd_receive_buffer_bytes, 8u << 20);
    assert_int_equal(c.statsd.flush_interval_ms, 10000);
    assert_int_equal(c.statsd.nquantiles, 3);
    assert_ptr_equal(c.statsd.quantiles, c.quantiles);
    assert_ptr_equal(c.statsd.buckets, c.buckets);
    struct tsdb_options o;
    tsdb_options_default(&o);
    assert_memory_equal(&c.storage, &o, sizeof o);

    /* An empty file and a file of comments change nothing. */
    struct config e;
    struct config_errors errs;
    assert_int_equal(parse(&e, "", &errs), 0);
    assert_int_equal(parse(&e, "# nothing\n", &errs), 0);
    assert_memory_equal(&e.storage, &o, sizeof o);
    config_errors_free(&errs);
}

static const char full[] =
    "# every key\n"
    "storage:\n"
    "  data_dir: /var/lib/vigil\n"
    "  block_range: 1h\n"
    "  max_block_range: 12h\n"
    "  retention: 30d\n"
    "  retention_size: 10GiB\n"
    "  out_of_order_window: 5m\n"
    "  wal_fsync: always\n"
    "  wal_fsync_interval: 250ms\n"
    "  wal_segment_size: 32MB\n"
    "  limits:\n"
    "    max_series: 50000\n"
    "    max_labels: 30\n"
    "    max_label_name_bytes: 100\n"
    "    max_label_value_bytes: 1000\n"
    "statsd:\n"
    "  udp: 0.0.0.0:9125\n" /* before listen: still wins */
    "  listen: 127.0.0.1:18125\n"
    "  flush_interval: 15s\n"
    "  quantiles: [0.5, 0.75, 0.999]\n"
    "  buckets:\n"
    "    - 0.1\n"
    "    - 1\n"
    "    - 10\n"
    "  sketch_relative_error: 0.02\n"
    "  idle_expire: 1h\n"
    "  max_series: 1000\n"
    "  max_series_per_metric: 100\n"
    "  receive_buffer_bytes: 16MiB\n"
    "http:\n"
    "  listen: '[::1]:9191'\n"
    "log:\n"
    "  level: debug\n";

static void test_full_file(void **state)
{
    (void)state;
    struct config c;
    struct config_errors e;
    int rc = parse(&c, full, &e);
    if (rc)
        fail_msg("%s", e.text);
    assert_string_equal(c.data_dir, "/var/lib/vigil");
    assert_int_equal(c.storage.block_range_ms, 3600000);
    assert_int_equal(c.storage.max_block_range_ms, 12 * 3600000);
    assert_int_equal(c.storage.retention_ms, 30LL * 86400000);
    assert_int_equal(c.storage.retention_bytes, 10ULL << 30);
    assert_int_equal(c.storage.ooo_window_ms, 300000);
    assert_int_equal(c.storage.wal_fsync, TSDB_FSYNC_ALWAYS);
    assert_int_equal(c.storage.wal_fsync_interval_ms, 250);
    assert_int_equal(c.storage.wal_segment_bytes, 32u << 20);
    assert_int_equal(c.storage.max_series, 50000);
    assert_int_equal(c.storage.max_labels, 30);
    assert_int_equal(c.storage.max_label_name_bytes, 100);
    assert_int_equal(c.storage.max_label_value_bytes, 1000);
    assert_string_equal(c.statsd_udp, "0.0.0.0:9125");
    assert_string_equal(c.statsd_tcp, "127.0.0.1:18125");
    assert_int_equal(c.statsd.flush_interval_ms, 15000);
    assert_int_equal(c.statsd.nquantiles, 3);
    assert_true(c.statsd.quantiles[2] == 0.999);
    assert_int_equal(c.statsd.nbuckets, 3);
    assert_true(c.statsd.buckets[0] == 0.1 && c.statsd.buckets[2] == 10);
    assert_true(c.statsd.sketch_relative_error == 0.02);
    assert_int_equal(c.statsd.idle_expire_ms, 3600000);
    assert_int_equal(c.statsd.max_series, 1000);
    assert_int_equal(c.statsd.max_series_per_metric, 100);
    assert_int_equal(c.statsd_receive_buffer_bytes, 16u << 20);
    assert_string_equal(c.http_listen, "[::1]:9191");
    assert_int_equal(c.log_level, VLOG_DEBUG);

    /* config_copy keeps the statsd arrays pointing into the copy. */
    struct config *d = malloc(sizeof *d);
    config_copy(d, &c);
    assert_ptr_equal(d->statsd.quantiles, d->quantiles);
    assert_true(d->statsd.quantiles[1] == 0.75);
    free(d);
    config_errors_free(&e);
}

/* Each bad file gives exactly one error containing want. */
static void test_errors(void **state)
{
    (void)state;
    static const struct {
        const char *text, *want;
    } cases[] = {
        {"storage:\n  retension: 30d\n",
         "vigil.yml:2:3: unknown key 'retension' in storage (did you mean 'retention'?)"},
        {"statsd:\n  flush_interval: 10x\n",
         "vigil.yml:2:19: bad duration '10x' for statsd.flush_interval: use Prometheus syntax "
         "like 30s, 5m"},
        {"statsd:\n  flush_interval: 10ms\n", "vigil.yml:2:19: duration '10ms' for "
                                              "statsd.flush_interval is too short"},
        {"storage:\n  retention_size: 5XB\n", "vigil.yml:2:19: bad size '5XB' for "
                                              "storage.retention_size: use a byte count"},
        {"storage:\n  wal_fsync: sometimes\n",
         "vigil.yml:2:14: bad value 'sometimes' for storage.wal_fsync: one of always, interval"},
        {"storage:\n  limits:\n    max_labels: -3\n",
         "vigil.yml:3:17: bad number '-3' for storage.limits.max_labels"},
        {"storage:\n  limits:\n    max_serie: 3\n",
         "vigil.yml:3:5: unknown key 'max_serie' in storage.limits (did you mean 'max_series'?)"},
        {"storage:\n  limits: 3\n", "vigil.yml:2:11: storage.limits must be a mapping"},
        {"statsd:\n  listen: localhost:8125\n",
         "vigil.yml:2:11: bad address 'localhost:8125' for statsd.listen: ADDR:PORT"},
        {"http:\n  listen: 127.0.0.1:99999\n", "vigil.yml:2:11: bad address '127.0.0.1:99999'"},
        {"statsd:\n  quantiles: [0.5, 1.5]\n",
         "vigil.yml:2:20: bad value '1.5' in statsd.quantiles: a list of ascending numbers"},
        {"statsd:\n  quantiles: [0.9, 0.5]\n",
         "vigil.yml:2:20: statsd.quantiles must be strictly ascending"},
        {"statsd:\n  quantiles: 0.5\n", "vigil.yml:2:14: statsd.quantiles must be a list"},
        {"statsd:\n  buckets: [1, [2]]\n", "vigil.yml:2:16: statsd.buckets must be a single value"},
        {"statsd:\n  sketch_relative_error: 1\n",
         "vigil.yml:2:26: bad value '1' for statsd.sketch_relative_error"},
        {"statsd:\n  max_series: 0\n", "vigil.yml:2:15: bad number '0' for statsd.max_series"},
        {"statsd:\n  flush_interval: [1s]\n",
         "vigil.yml:2:19: statsd.flush_interval must be a single value"},
        {"log:\n  level: verbose\n", "vigil.yml:2:10: bad log level 'verbose' for log.level: "
                                     "one of debug, info, warn, error"},
        {"logg:\n  level: info\n", "vigil.yml:1:1: unknown key 'logg' (did you mean 'log'?)"},
        {"zzzzzz: 1\n", "vigil.yml:1:1: unknown key 'zzzzzz'\n"},
        {"remote_write:\n  - url: http://x/\n",
         "vigil.yml:1:1: section 'remote_write' is not supported yet"},
        {"rule_files: rules.yml\n", "vigil.yml:1:13: rule_files must be a list"},
        {"rule_files: ['']\n", "vigil.yml:1:14: rule_files entries must not be empty"},
        {"log:\n  level: info\nlog:\n  level: warn\n", "vigil.yml:3:1: duplicate key 'log'"},
        {"storage:\n  data_dir: [a\n", "vigil.yml:3:1: YAML syntax: "},
        {"- a\n- b\n", "vigil.yml:1:1: the file must be a mapping of sections"},
        {"storage:\n  block_range: 4h\n  max_block_range: 2h\n",
         "vigil.yml: storage.max_block_range must not be shorter than storage.block_range"},
        {"log:\n  level: info\n---\nlog: {}\n", "only one YAML document is allowed"},
        {"http: 9190\n", "vigil.yml:1:7: http must be a mapping"},
        {"storage:\n  wal_segment_size: 1KB\n", "bad size '1KB' for storage.wal_segment_size"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct config c;
        struct config_errors e;
        int rc = parse(&c, cases[i].text, &e);
        if (rc != -EINVAL || e.count != 1 || !strstr(e.text, cases[i].want))
            fail_msg("case %zu: rc %d, %u errors:\n%s\nwant: %s", i, rc, e.count,
                     e.text ? e.text : "", cases[i].want);
        config_errors_free(&e);
        config_free(&c); /* a failed parse may have allocated (rule_files: ['']) */
    }
}

static void test_many_errors_reported(void **state)
{
    (void)state;
    struct config c;
    struct config_errors e;
    assert_int_equal(parse(&c, "storage:\n  retention: x\n  wal_fsync: y\nhttp:\n  lisen: z\n",
                           &e), -EINVAL);
    assert_int_equal(e.count, 3);
    assert_non_null(strstr(e.text, ":2:14:"));
    assert_non_null(strstr(e.text, ":3:14:"));
    assert_non_null(strstr(e.text, ":5:3: unknown key 'lisen' in http (did you mean 'listen'?)"));
    config_errors_free(&e);
}

static void test_off_and_sizes(void **state)
{
    (void)state;
    struct config c;
    struct config_errors e;
    assert_int_equal(parse(&c, "statsd:\n  listen: off\n  tcp: 127.0.0.1:1\n", &e), 0);
    assert_string_equal(c.statsd_udp, "");
    assert_string_equal(c.statsd_tcp, "127.0.0.1:1");
    config_errors_free(&e);

    static const struct {
        const char *s;
        int rc;
        uint64_t bytes;
    } sizes[] = {
        {"0", 0, 0},         {"512", 0, 512},        {"512B", 0, 512},
        {"1KB", 0, 1024},    {"1KiB", 0, 1024},      {"512MB", 0, 512ULL << 20},
        {"1GiB", 0, 1ULL << 30}, {"1.5GB", 0, 3ULL << 29}, {"2TB", 0, 2ULL << 40},
        {"", -EINVAL, 0},    {"MB", -EINVAL, 0},     {"1.5", -EINVAL, 0},
        {"1 MB", -EINVAL, 0}, {"-1MB", -EINVAL, 0},  {"1mb", -EINVAL, 0},
        {"1.MB", -EINVAL, 0}, {"99999999999TB", -ERANGE, 0},
    };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        uint64_t b = 7;
        int rc = config_parse_size(sizes[i].s, &b);
        if (rc != sizes[i].rc || (rc == 0 && b != sizes[i].bytes))
            fail_msg("size '%s': rc %d bytes %llu", sizes[i].s, rc, (unsigned long long)b);
    }
    struct sockaddr_storage sa;
    assert_int_equal(config_parse_addr("127.0.0.1:0", &sa), 0);
    assert_int_equal(config_parse_addr("[::1]:80", &sa), 0);
    assert_int_equal(sa.ss_family, AF_INET6);
    assert_int_equal(config_parse_addr("::1:80", &sa), -EINVAL);
    assert_int_equal(config_parse_addr("127.0.0.1:", &sa), -EINVAL);
    assert_int_equal(config_parse_addr("127.0.0.1:+1", &sa), -EINVAL);
    assert_int_equal(config_parse_addr("1.2.3:80", &sa), -EINVAL);
}

static void test_overrides(void **state)
{
    (void)state;
    struct config c;
    struct config_errors e;
    assert_int_equal(parse(&c, "storage:\n  data_dir: /a\nhttp:\n  listen: 127.0.0.1:1\n"
                               "log:\n  level: warn\n", &e), 0);
    struct config_overrides o = {.data_dir = "/b", .statsd_listen = "127.0.0.1:2",
                                 .has_log_level = 1, .log_level = VLOG_ERROR};
    assert_int_equal(config_apply_overrides(&c, &o, &e), 0);
    assert_string_equal(c.data_dir, "/b");
    assert_string_equal(c.http_listen, "127.0.0.1:1"); /* not overridden: file value */
    assert_string_equal(c.statsd_udp, "127.0.0.1:2");
    assert_string_equal(c.statsd_tcp, "127.0.0.1:2");
    assert_int_equal(c.log_level, VLOG_ERROR);

    struct config_overrides bad = {.http_listen = "nowhere", .data_dir = ""};
    assert_int_equal(config_apply_overrides(&c, &bad, &e), -EINVAL);
    assert_int_equal(e.count, 2);
    assert_non_null(strstr(e.text, "--http-listen: bad address 'nowhere'"));
    assert_non_null(strstr(e.text, "--data-dir: bad directory"));
    config_errors_free(&e);
}

static void test_load_file(void **state)
{
    (void)state;
    char path[] = "/tmp/test_config.XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fputs("statsd:\n  flush_interval: 1m\n  max_series: many\n", f);
    fclose(f);
    struct config c;
    struct config_errors e = {0};
    config_default(&c);
    assert_int_equal(config_load(&c, path, &e), -EINVAL);
    char want[128];
    snprintf(want, sizeof want, "%s:3:15: bad number 'many'", path);
    assert_non_null(strstr(e.text, want));
    config_errors_free(&e);
    unlink(path);
    assert_int_equal(config_load(&c, path, &e), -ENOENT);
    assert_non_null(strstr(e.text, "cannot read: No such file"));
    config_errors_free(&e);
}

static size_t fmt(char *buf, size_t size, const char *fields, ...)
{
    va_list ap;
    va_start(ap, fields);
    size_t n = vlog_format(buf, size, 1795428000123LL, VLOG_INFO, "statsd listening", fields, ap);
    va_end(ap);
    return n;
}

static void test_log_lines(void **state)
{
    (void)state;
    char buf[512];
    fmt(buf, sizeof buf, "addr=%s proto=%s", "127.0.0.1:8125", "udp");
    assert_string_equal(buf, "ts=2026-11-23T10:00:00.123Z level=info msg=\"statsd listening\" "
                             "addr=127.0.0.1:8125 proto=udp\n");
    fmt(buf, sizeof buf, "path=%s empty=%s null=%s n=%llu d=%d z=%zu f=%.3f pct=100%%",
        "a b\"c\\d=e\n\x01", "", (const char *)NULL, 18446744073709551615ULL, -5, (size_t)7,
        1.5);
    assert_string_equal(strchr(buf, '"') + 19,
                        "path=\"a b\\\"c\\\\d=e\\n\\x01\" empty=\"\" null=\"\" "
                        "n=18446744073709551615 d=-5 z=7 f=1.500 pct=100%\n");
    size_t n = fmt(buf, 40, "long=%s", "0123456789012345678901234567890123456789");
    assert_int_equal(n, 39);
    assert_int_equal(buf[38], '\n');
    n = fmt(buf, sizeof buf, NULL);
    assert_int_equal(n, strlen(buf));

    enum vlog_level l;
    assert_int_equal(vlog_level_parse("warn", &l), 0);
    assert_int_equal(l, VLOG_WARN);
    assert_int_equal(vlog_level_parse("WARN", &l), -EINVAL);
    assert_string_equal(vlog_level_name(VLOG_ERROR), "error");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_full_file),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_many_errors_reported),
        cmocka_unit_test(test_off_and_sizes),
        cmocka_unit_test(test_overrides),
        cmocka_unit_test(test_load_file),
        cmocka_unit_test(test_log_lines),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
