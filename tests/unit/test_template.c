/* test_template.c — alert templates expand exactly as Prometheus expands
 * them: each function's output, Go's printing of values, conditionals,
 * trimming, and errors with their positions. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "template.h"

static const struct tsdb_label labels_v[] = {
    {"alertname", "HighLatency"},
    {"instance", "web-1.example.com:9100"},
    {"job", "blog"},
    {"severity", "page"},
};
static const struct tsdb_labels labels = {4, labels_v};
static const struct tsdb_label ext_v[] = {{"cluster", "eu-west"}};
static const struct tsdb_labels ext = {1, ext_v};

struct tcase {
    const char *in;
    double value;
    const char *want;
};

/* Expands every case with the standard alert data and value. */
static void run_cases(const struct tcase *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct tmpl_data d = {&labels, &ext, "https://vigil.example/prom", cases[i].value};
        char *got = tmpl_expand(cases[i].in, &d);
        assert_non_null(got);
        if (strcmp(got, cases[i].want) != 0)
            fail_msg("template %s (value %g): got [%s], want [%s]", cases[i].in,
                     cases[i].value, got, cases[i].want);
        free(got);
    }
}

#define RUN(cases) run_cases(cases, sizeof cases / sizeof cases[0])

static void test_variables(void **state)
{
    (void)state;
    static const struct tcase cases[] = {
        {"plain text, no actions", 0, "plain text, no actions"},
        {"{{ $labels.instance }} is slow", 0, "web-1.example.com:9100 is slow"},
        {"{{ .Labels.job }}", 0, "blog"},
        {"[{{ $labels.missing }}]", 0, "[]"}, /* missingkey=zero */
        {"{{ $externalLabels.cluster }}", 0, "eu-west"},
        {"{{ .ExternalLabels.cluster }}", 0, "eu-west"},
        {"{{ $externalURL }}/alerts", 0, "https://vigil.example/prom/alerts"},
        {"{{ .ExternalURL }}", 0, "https://vigil.example/prom"},
        {"{{ $value }}", 0.5, "0.5"},
        {"{{ .Value }}", 42, "42"},
        {"{{ $value }}", 1e6, "1e+06"},
        {"{{ $value }}", 123456, "123456"},
        {"{{ $value }}", 1234567, "1.234567e+06"},
        {"{{ $value }}", 0.0001, "0.0001"},
        {"{{ $value }}", 0.00001, "1e-05"},
        {"{{ $value }}", 0.1 + 0.2, "0.30000000000000004"},
        {"{{ $value }}", -2.5, "-2.5"},
        {"{{ $value }}", NAN, "NaN"},
        {"{{ $value }}", INFINITY, "+Inf"},
        {"{{ $value }}", -INFINITY, "-Inf"},
        {"{{ $labels }}", 0,
         "map[alertname:HighLatency instance:web-1.example.com:9100 job:blog severity:page]"},
        {"{{ $x := 5 }}{{ $x }}", 0, "5"},
        {"{{ $x := \"a\" }}{{ $x = \"b\" }}{{ $x }}", 0, "b"},
        {"{{ 1.50 }} {{ 0x1F }} {{ 'a' }} {{ true }} {{ 1e3 }}", 0, "1.5 31 97 true 1000"},
        {"{{ \"tab\\there\" }}", 0, "tab\there"},
        {"{{ `raw\\n` }}", 0, "raw\\n"},
        {"{{ printf \"%T %T %T %T\" $value 1 $labels \"s\" }}", 0,
         "float64 int map[string]string string"},
    };
    RUN(cases);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_variables),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
