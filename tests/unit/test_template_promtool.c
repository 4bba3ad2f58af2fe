/* test_template_promtool.c — alert templates behave exactly as in the real
 * Prometheus: every case is put in a rule file as an annotation, `promtool
 * test rules` reports what Prometheus expanded it to, and tmpl_expand must
 * give the same text (for failures: both fail); `promtool check rules`
 * accepts exactly the templates tmpl_parse accepts. Skipped when promtool
 * is not installed (make deps-test installs it). */
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

#include "strlit.h"
#include "template.h"

struct pcase {
    const char *value; /* as the series notation writes it */
    const char *tmpl;
};

/* Features of Prometheus 2.42's Go only; newer ones (else with, range over
 * an int) are left out because 2.42 rejects them. */
static const struct pcase cases[] = {
    {"1234567", "{{ $value }}|{{ humanize $value }}|{{ humanize1024 $value }}"},
    {"1234567", "{{ humanizeDuration $value }}|{{ humanizePercentage $value }}"},
    {"1234567", "{{ humanizeTimestamp $value }}"},
    {"1234567", "{{ printf \"%.2f|%e|%g|%v|%8.3g|%-10.1f|%+d\" $value $value $value $value "
                "$value $value 5 }}"},
    {"1234567", "{{ $labels }}|{{ .Labels.job }}|{{ $labels.nope }}|{{ . }}"},
    {"1234567", "{{ range $k, $v := $labels }}{{ $k }}={{ $v }};{{ end }}"},
    {"1234567", "{{ if gt $value 1000.0 }}big{{ else }}small{{ end }}"},
    {"1234567", "{{ gt $value 5 }}"},
    {"1234567", "{{ printf \"%T %T %T\" . $labels 1 }}|{{ print 1 2 \"a\" \"b\" 3 }}"},
    {"1234567", "{{ printf \"%d %s\" 1.5 }}|{{ printf \"%s\" \"a\" 1 2.5 }}|{{ printf \"%\" }}"},
    {"1234567", "{{ printf \"%q|%x|%X|%#x|%#08x|%o|%c|%5t|%08.3f|% d\" \"a\\\"b\" \"hi\" 255 "
                "255 255 8 9731 true -3.14159 5 }}"},
    {"1234567", "{{ printf \"%s|%d|%5v|\" $labels $labels $labels }}"},
    {"1234567", "{{ printf \"%+v|%d\" . . }}"},
    {"1234567", "{{ printf \"%q %q %q %q\" 39 92 7 1114112 }}|{{ printf \"%x %X %.2x\" 1.0 "
                "-0.1 3.14159 }}"},
    {"1234567", "{{ printf \"%*d|%.*f|%-*d|\" 5 1 2 3.14159 -4 7 }}|{{ printf \"%08s|%.2s\" "
                "\"ab\" \"h\xc3\xa9llo\" }}"},
    {"1234567", "{{ html \"<a href='x'>&\\\"\" }}|{{ urlquery \"a b&c=d/\xc3\xa9\" }}"},
    {"1234567", "{{ title \"hello_world foo-bar x.y\" }}|{{ toUpper \"stra\xc3\x9f"
                "e "
                "\xc3\xa9t\xc3\xa9\" }}|{{ toLower \"\xc3\x89"
                "COLE \xd0\x9c\xd0\x98\xd0\xa0\" }}"},
    {"1234567", "{{ stripPort \"[2001:0DB8::1]:12345\" }}|{{ stripPort \"host:\" }}|"
                "{{ stripPort \":80\" }}|{{ stripPort \"a:b:c\" }}"},
    {"1234567", "{{ reReplaceAll \"a*\" \"X\" \"baaac\" }}|{{ reReplaceAll \"\" \"-\" \"abc\" }}"},
    {"1234567", "{{ reReplaceAll \"(?P<h>[^.]+)\\\\..*\" \"${h}!$1x$$\" \"web.example\" }}|"
                "{{ reReplaceAll \"(a)(b)?\" \"[$2|${1}]\" \"abaa\" }}"},
    {"1234567", "{{ match \"a*?\" \"a\" }} {{ match \"(?i)A\" \"a\" }} {{ match \"\\\\Q**\\\\E\" "
                "\"**\" }} {{ match \"a{,2}\" \"a{,2}\" }} {{ match \"x{2}?\" \"xx\" }} "
                "{{ match \"(?-i:a)\" \"a\" }} {{ match \"[*+]+\" \"*\" }}"},
    {"1234567", "{{ match \"(.*+)\" \"a\" }}"},
    {"1234567", "{{ match \"a{2}{3}\" \"a\" }}"},
    {"1234567", "{{ match \"(a)\\\\1\" \"aa\" }}"},
    {"1234567", "{{ match \"(?=a)\" \"a\" }}"},
    {"1234567", "{{ match \"\\\\d\\\\K\" \"1\" }}"},
    {"1234567", "{{ range $k, $v := $labels }}{{ if eq $k \"job\" }}{{ continue }}{{ end }}"
                "{{ if eq $k \"severity\" }}{{ break }}{{ end }}{{ $k }};{{ end }}"},
    {"1234567", "{{ define \"h\" }}[{{ . | stripPort }}|{{ $ }}]{{ end }}{{ template \"h\" "
                "$labels.instance }}a{{ block \"b\" 1 }}<{{ . }}>{{ end }}"},
    {"1234567", "{{ define \"n\" }}[{{ . }}|{{ $ }}]{{ end }}{{ template \"n\" }}"},
    {"1234567", "{{ template \"nope\" }}"},
    {"1234567", "{{ 0 | and 1 }}|{{ 1 | or 0 }}|{{ \"\" | or 0 }}|{{ 2 | and 1 }}"},
    {"1234567", "{{ and 1 0 2 }} {{ and 1 2 }} {{ or 0 \"\" }} {{ or 0 \"x\" 3 }} {{ not 0 }} "
                "{{ eq nil \"x\" }} {{ len $labels }} {{ index $labels \"job\" }}"},
    {"1234567", "{{ 1.50 }} {{ 0x1F }} {{ 'a' }} {{ 1e3 }} {{ 0o17 }} {{ 017 }} {{ 1_000 }} "
                "{{ -.5 }} {{ 0x1p-2 }}"},
    {"1234567", "a  {{- \"b\" -}}  c{{ if true -}}\n  yes\n{{- end }}x  {{- /* c */ -}}  y"},
    {"1234567", "{{ ($x := 2) }} {{ $x }}{{ $y := 1 }}{{ if true }}{{ $y = 3 }}{{ end }}{{ $y }}"},
    {"1234567", "{{ humanize \"1e3\" }} {{ humanize \"+Inf\" }} {{ humanize \"nan\" }}"},
    {"1234567", "{{ humanize \"0x10\" }}"},
    {"1234567", "{{ humanize \"0x1p4\" }} {{ humanize \"1_000\" }} {{ humanize \"0x_1p4\" }} "
                "{{ humanize \"1e-400\" }} {{ humanize \"Infinity\" }} {{ humanize \"5.\" }}"},
    {"1234567", "{{ humanize \"1__0\" }}"},
    {"1234567", "{{ humanize \"1e400\" }}"},
    {"1234567", "{{ humanize \"-nan\" }}"},
    {"1234567", "{{ humanize \" 1\" }}"},
    {"1234567", "{{ parseDuration \"1h30m\" }}"},
    {"1234567", "{{ humanizeDuration -0.5 }} {{ humanizeDuration 1e19 }} "
                "{{ humanizeDuration 59.99999 }}"},
    {"1234567", "{{ humanizeTimestamp -1.5 }}|{{ humanizeTimestamp 1.0009 }}"},
    {"1234567", "{{ humanize1024 -2048 }} {{ humanize1024 0.5 }} {{ humanize 999.95 }} "
                "{{ humanize 999999 }} {{ humanize -0.0001 }}"},
    {"1234567", "{{ printf \"%v|%g|%e|%.0f|%6.2v|%.3v\" -0.0 1e21 0.0 2.5 3.14159 1234.5 }}"},
    {"1234567", "{{ printf \"%+v %+.2f %#v %#v\" -1 2.5 1.5 \"s\" }}"},
    {"NaN", "{{ $value }}|{{ humanize $value }}|{{ printf \"%f|%5.1f|%+v\" $value $value "
            "$value }}|{{ eq $value $value }}|{{ humanizeDuration $value }}"},
    {"Inf", "{{ $value }}|{{ humanize $value }}|{{ printf \"%f|%08.1f\" $value $value }}|"
            "{{ humanizeTimestamp $value }}"},
    {"-Inf", "{{ $value }}|{{ humanize1024 $value }}"},
    {"5.9604644775390625e-08", "{{ $value }}|{{ humanize $value }}|{{ humanizeDuration $value }}"},
    {"0.00001", "{{ $value }}|{{ humanize $value }}|{{ humanizePercentage $value }}"},
    {"123456", "{{ $value }}|{{ humanizeDuration $value }}"},
    {"1e6", "{{ $value }}"},
    {"-2.5", "{{ $value }}|{{ humanize $value }}|{{ humanizeDuration $value }}"},
    {"99894862598343.125", "{{ $value }}"},
    {"1e22", "{{ $value }}|{{ humanize $value }}"},
    {"1e22", "{{ humanizeTimestamp $value }}"},
    {"1435065584.128", "{{ humanizeTimestamp $value }}|{{ $value }}"},
};

#define NCASES (sizeof cases / sizeof cases[0])

/* Writes s as a YAML double-quoted scalar. */
static void yaml_quoted(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fprintf(f, "\\%c", *s);
        else if (*s == '\n')
            fputs("\\n", f);
        else
            fputc(*s, f);
    }
    fputc('"', f);
}

static void write_files(const char *dir)
{
    char path[512];
    snprintf(path, sizeof path, "%s/rules.yml", dir);
    FILE *r = fopen(path, "w");
    snprintf(path, sizeof path, "%s/test.yml", dir);
    FILE *t = fopen(path, "w");
    assert_non_null(r);
    assert_non_null(t);
    fputs("groups:\n- name: g\n  rules:\n", r);
    fputs("rule_files: [rules.yml]\nevaluation_interval: 1m\ntests:\n- interval: 1m\n"
          "  input_series:\n",
          t);
    for (size_t i = 0; i < NCASES; i++) {
        fprintf(r,
                "  - alert: A%zu\n    expr: sum without(case) (m{case=\"%zu\"})\n"
                "    annotations:\n      t: ",
                i, i);
        yaml_quoted(r, cases[i].tmpl);
        fputc('\n', r);
        fprintf(t,
                "  - series: 'm{case=\"%zu\",instance=\"web-1.example.com:9100\","
                "job=\"blog\",severity=\"page\"}'\n    values: '%s'\n",
                i, cases[i].value);
    }
    fputs("  alert_rule_test:\n", t);
    for (size_t i = 0; i < NCASES; i++)
        fprintf(t,
                "  - eval_time: 0m\n    alertname: A%zu\n    exp_alerts:\n"
                "    - exp_labels: {}\n      exp_annotations: {t: none}\n",
                i);
    fclose(r);
    fclose(t);
}

/* Reads promtool's whole report. */
static char *run_promtool(const char *dir)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "cd '%s' && promtool test rules test.yml 2>&1", dir);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t cap = 1 << 16, len = 0, n;
    char *out = malloc(cap);
    assert_non_null(out);
    while ((n = fread(out + len, 1, cap - len - 1, p)) > 0) {
        len += n;
        if (cap - len < 4096) {
            cap *= 2;
            out = realloc(out, cap);
            assert_non_null(out);
        }
    }
    out[len] = '\0';
    pclose(p);
    return out;
}

/* Prometheus' expansion of case i, from the "got" part of its failure
 * report; NULL when the report has none. */
static char *prometheus_result(const char *report, size_t i)
{
    char key[64];
    snprintf(key, sizeof key, "alertname: A%zu, time", i);
    const char *at = strstr(report, key);
    if (!at || !(at = strstr(at, "got:[")) || !(at = strstr(at, "Annotations:{t=")))
        return NULL;
    at += strlen("Annotations:{t=");
    size_t used, len;
    char *out;
    struct strlit_error err;
    if (strlit_unquote(at, &used, &out, &len, &err) != 0)
        return NULL;
    return out;
}

static void test_same_as_promtool(void **state)
{
    (void)state;
    if (system("command -v promtool >/dev/null 2>&1") != 0)
        skip();
    char dir[] = "/tmp/vigil-template-XXXXXX";
    assert_non_null(mkdtemp(dir));
    write_files(dir);
    char *report = run_promtool(dir);
    static const struct tsdb_label lv[] = {
        {"instance", "web-1.example.com:9100"}, {"job", "blog"}, {"severity", "page"}};
    static const struct tsdb_labels labels = {3, lv};
    int bad = 0;
    for (size_t i = 0; i < NCASES; i++) {
        char *want = prometheus_result(report, i);
        if (!want)
            fail_msg("case %zu [%s]: no expansion in promtool's report:\n%.2000s", i, cases[i].tmpl,
                     report);
        struct tmpl_data d = {&labels, NULL, NULL, strtod(cases[i].value, NULL)};
        char *got = tmpl_expand(cases[i].tmpl, &d);
        assert_non_null(got);
        const char *e = "<error expanding template: ";
        int both_fail = !strncmp(want, e, strlen(e)) && !strncmp(got, e, strlen(e));
        if (!both_fail && strcmp(want, got) != 0) {
            print_error("case %zu [%s] value %s:\n  prometheus [%s]\n  vigil      [%s]\n", i,
                        cases[i].tmpl, cases[i].value, want, got);
            bad++;
        }
        free(want);
        free(got);
    }
    free(report);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(bad, 0);
}

/* Templates on either side of the load-time line: Prometheus rejects a
 * rule file with the first kind and loads one with the second (whose
 * errors show only when an alert fires); Vigil must decide the same. */
static const char *const load_cases[] = {
    "{{ foo }}",
    "{{ $x }}",
    "{{ if }}x{{ end }}",
    "{{",
    "{{ end }}",
    "{{ 1 | 2 }}",
    "{{ 1x }}",
    "{{ 99999999999999999999 }}",
    "{{ 'ab' }}",
    "{{/* c */ x}}",
    "{{ $k, $v := 1 }}",
    "{{ if 1 }}{{ else }}{{ else }}{{ end }}",
    "{{ with $x := 1 }}{{ end }}{{ $x }}",
    "{{ range $k, $v, $w := $labels }}{{ end }}",
    "{{ humanize | | }}",
    "{{ \"abc }}",
    "{{ break }}",
    "{{ range 1 }}{{ else }}{{ continue }}{{ end }}",
    "{{ template x }}",
    "{{ define \"x\" }}{{ $labels }}{{ end }}",
    "{{ if 1 }}{{ define \"x\" }}{{ end }}{{ end }}",
    "{{ define \"x\" }}a",
    "{{ block \"x\" }}{{ end }}",
    "{{ if 1 }}",
    "{{ 5e1024 }}",
    "{{ toDuration 1 }}",
    "{{ tmpl \"x\" . }}",
    "{{\xc2\xa0}}",
    /* loaded by both */
    "{{ 1 2 }}",
    "{{ nil }}",
    "{{ \"a\" | humanize 1 }}",
    "{{ $x = 1 }}",
    "{{ humanize | }}",
    "{{ $labels.x.y }}",
    "{{ .Labels.x 1 }}",
    "{{ (1) 2 }}",
    "{{ $value 1 }}",
    "{{ . 1 }}",
    "{{ humanize (1 2) }}",
    "{{ printf \"%d\" (nil) }}",
    "{{ .Nope }}",
    "{{ gt $value 1 }}",
    "{{ $x = 1 }}{{ $x }}",
    "{{ template \"nope\" }}",
    "{{ define \"a\" }}{{ $x := 1 }}{{ end }}",
    "{{ range $labels }}{{ break }}{{ end }}",
    "{{ 5e-1024 }}",
    "{{ with query \"up\" }}{{ . | first | value | humanize }}{{ end }}",
    "{{ args 1 }}{{ safeHtml \"x\" }}{{ graphLink \"up\" }}{{ toTime 1 }}{{ js 1 }}",
};

static void test_loads_as_promtool(void **state)
{
    (void)state;
    if (system("command -v promtool >/dev/null 2>&1") != 0)
        skip();
    char dir[] = "/tmp/vigil-template-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[600], cmd[800];
    snprintf(path, sizeof path, "%s/one.yml", dir);
    int bad = 0;
    for (size_t i = 0; i < sizeof load_cases / sizeof load_cases[0]; i++) {
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fputs("groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up\n    annotations:\n"
              "      t: ",
              f);
        yaml_quoted(f, load_cases[i]);
        fputc('\n', f);
        fclose(f);
        snprintf(cmd, sizeof cmd, "promtool check rules '%s' >/dev/null 2>&1", path);
        int prom_loads = system(cmd) == 0;
        struct tmpl *t = NULL;
        char err[256];
        int vigil_loads = tmpl_parse(load_cases[i], &t, err, sizeof err) == 0;
        tmpl_free(t);
        if (prom_loads != vigil_loads) {
            print_error("[%s]: Prometheus %s it, Vigil %s it%s%s\n", load_cases[i],
                        prom_loads ? "loads" : "rejects", vigil_loads ? "loads" : "rejects",
                        vigil_loads ? "" : ": ", vigil_loads ? "" : err);
            bad++;
        }
    }
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(bad, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_as_promtool),
        cmocka_unit_test(test_loads_as_promtool),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
