/* test_template.c — alert templates expand exactly as Prometheus expands
 * them: each function's output, Go's printing of values, conditionals,
 * trimming, and errors with their positions. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
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
            fail_msg("template %s (value %g): got [%s], want [%s]", cases[i].in, cases[i].value,
                     got, cases[i].want);
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
        {"{{ $value }}", 5.9604644775390625e-08, "5.960464477539063e-08"}, /* 2^-24 */
        {"{{ $value }}", 99894862598343.125, "9.989486259834312e+13"},     /* a tie: to even */
        {"{{ $value }}", 5e-324, "5e-324"},
        {"{{ $value }}", 1.7976931348623157e308, "1.7976931348623157e+308"},
        {"{{ $value }}", NAN, "NaN"},
        {"{{ $value }}", INFINITY, "+Inf"},
        {"{{ $value }}", -INFINITY, "-Inf"},
        {"{{ $labels }}", 0,
         "map[alertname:HighLatency instance:web-1.example.com:9100 job:blog severity:page]"},
        {"{{ $x := 5 }}{{ $x }}", 0, "5"},
        {"{{ $x := \"a\" }}{{ $x = \"b\" }}{{ $x }}", 0, "b"},
        {"{{ 1.50 }} {{ 0x1F }} {{ 'a' }} {{ true }} {{ 1e3 }}", 0, "1.5 31 97 true 1000"},
        {"{{ 1_000 }} {{ 0x_1F }} {{ 0b101 }} {{ 0o17 }} {{ 017 }} {{ 0x1p-2 }} {{ -.5 }}", 0,
         "1000 31 5 15 15 0.25 -0.5"},
        {"{{$x:=1}}{{$x}}", 0, "1"},
        {"{{ \"tab\\there\" }}", 0, "tab\there"},
        {"{{ `raw\\n` }}", 0, "raw\\n"},
        {"{{ printf \"%T %T %T %T\" $value 1 $labels \"s\" }}", 0,
         "float64 int map[string]string string"},
    };
    RUN(cases);
}

/* Prometheus' own expected outputs (template/template_test.go). */
static void test_humanize(void **state)
{
    (void)state;
    static const struct tcase cases[] = {
        {"{{ humanize 0.0 }}:{{ humanize 1.0 }}:{{ humanize 1234567.0 }}:{{ humanize .12 }}", 0,
         "0:1:1.235M:120m"},
        {"{{ humanize \"0.0\" }}:{{ humanize \"1234567.0\" }}:{{ humanize \".12\" }}", 0,
         "0:1.235M:120m"},
        {"{{ humanize 0 }}:{{ humanize -1 }}:{{ humanize 1234567 }}:{{ humanize "
         "9223372036854775807 }}",
         0, "0:-1:1.235M:9.223E"},
        {"{{ humanize $value }}", 1234567, "1.235M"},
        {"{{ $value | humanize }}", 0.000012345, "12.35u"},
        {"{{ humanize 1e30 }}", 0, "1e+06Y"},
        {"{{ humanize1024 0.0 }}:{{ humanize1024 1.0 }}:{{ humanize1024 1048576.0 }}:"
         "{{ humanize1024 .12 }}",
         0, "0:1:1Mi:0.12"},
        {"{{ humanize1024 -1 }}:{{ humanize1024 1234567 }}:{{ humanize1024 "
         "9223372036854775807 }}",
         0, "-1:1.177Mi:8Ei"},
        {"{{ humanize1024 \"1048576.0\" }}", 0, "1Mi"},
        {"{{ humanizeDuration 0 }}:{{ humanizeDuration 1 }}:{{ humanizeDuration 60 }}:"
         "{{ humanizeDuration 3600 }}:{{ humanizeDuration 86400 }}:{{ humanizeDuration 90000 }}:"
         "{{ humanizeDuration -183845 }}:{{ humanizeDuration 899.99 }}",
         0, "0s:1s:1m 0s:1h 0m 0s:1d 0h 0m 0s:1d 1h 0m 0s:-2d 3h 4m 5s:14m 59s"},
        {"{{ humanizeDuration .1 }}:{{ humanizeDuration .0001 }}:{{ humanizeDuration .12345 }}:"
         "{{ humanizeDuration 60.1 }}:{{ humanizeDuration 60.5 }}:{{ humanizeDuration 1.2345 }}:"
         "{{ humanizeDuration 12.345 }}",
         0, "100ms:100us:123.5ms:1m 0s:1m 0s:1.234s:12.35s"},
        {"{{ humanizeDuration 90 }}", 0, "1m 30s"},
        {"{{ humanizeDuration \"86400\" }}:{{ humanizeDuration 1234567 }}", 0,
         "1d 0h 0m 0s:14d 6h 56m 7s"},
        {"{{ -0.22222 | humanizePercentage }}:{{ 0.0 | humanizePercentage }}:"
         "{{ 0.1234567 | humanizePercentage }}:{{ 1.23456 | humanizePercentage }}",
         0, "-22.22%:0%:12.35%:123.5%"},
        {"{{ humanizePercentage 0.1234 }}", 0, "12.34%"},
        {"{{ humanizePercentage 1234567 }}:{{ humanizePercentage 9223372036854775807 }}", 0,
         "1.235e+08%:9.223e+20%"},
        {"{{ humanizeTimestamp 0 }}:{{ humanizeTimestamp -1 }}:{{ humanizeTimestamp 1234567 }}:"
         "{{ humanizeTimestamp 9223372036 }}",
         0,
         "1970-01-01 00:00:00 +0000 UTC:1969-12-31 23:59:59 +0000 UTC:"
         "1970-01-15 06:56:07 +0000 UTC:2262-04-11 23:47:16 +0000 UTC"},
        {"{{ 1435065584.128 | humanizeTimestamp }}", 0, "2015-06-23 13:19:44.128 +0000 UTC"},
        {"{{ \"1435065584.128\" | humanizeTimestamp }}", 0, "2015-06-23 13:19:44.128 +0000 UTC"},
        {"{{ humanizeTimestamp $value }}", 1657155181, "2022-07-07 00:53:01 +0000 UTC"},
        {"{{ humanizeTimestamp 1.5 }}", 0, "1970-01-01 00:00:01.5 +0000 UTC"},
        {"{{ humanize $value }}:{{ humanize1024 $value }}:{{ humanizeDuration $value }}:"
         "{{ humanizeTimestamp $value }}",
         INFINITY, "+Inf:+Inf:+Inf:+Inf"},
        {"{{ humanize \"-Inf\" }}:{{ humanize1024 \"-Inf\" }}:{{ humanizeDuration \"-Inf\" }}:"
         "{{ humanizeTimestamp \"-Inf\" }}",
         0, "-Inf:-Inf:-Inf:-Inf"},
        {"{{ humanize \"NaN\" }}:{{ humanizeDuration $value }}", NAN, "NaN:NaN"},
        {"{{ printf \"%0.2f\" (parseDuration \"1h2m10ms\") }}", 0, "3720.01"},
    };
    RUN(cases);
}

static void test_printf(void **state)
{
    (void)state;
    static const struct tcase cases[] = {
        {"{{ printf \"%.2f\" $value }}", 3.14159, "3.14"},
        {"{{ printf \"%f|%e|%g|%v\" $value $value $value $value }}", 1234.5678,
         "1234.567800|1.234568e+03|1234.5678|1234.5678"},
        {"{{ printf \"%g %G\" 1e21 1e-7 }}", 0, "1e+21 1E-07"},
        {"{{ printf \"%.3g|%8.2f|%-8.2f|%08.2f|%+.1f\" 1234.5 3.14159 3.14159 -3.14159 2.0 }}", 0,
         "1.23e+03|    3.14|3.14    |-0003.14|+2.0"},
        {"{{ printf \"%d|%5d|%-5d|%05d|%x|%X|%o|%c\" 42 42 42 -42 255 255 8 9731 }}", 0,
         "42|   42|42   |-0042|ff|FF|10|\xe2\x98\x83"},
        {"{{ printf \"%x|%#x|%#08x|%#o\" -255 255 255 8 }}", 0, "-ff|0xff|0x000000ff|010"},
        {"{{ printf \"%s|%10s|%-10s|%.3s|%q|%x\" "
         "\"abc\" \"abc\" \"abc\" \"abcdef\" \"a\\\"b\" \"hi\" }}",
         0, "abc|       abc|abc       |abc|\"a\\\"b\"|6869"},
        {"{{ printf \"%v %v %v\" true 7 \"s\" }}", 0, "true 7 s"},
        {"{{ printf \"%t\" false }}", 0, "false"},
        {"{{ printf \"%q|%q|%c\" 65 10 9731 }}", 0, "'A'|'\\n'|\xe2\x98\x83"},
        {"{{ printf \"%x|%X|%.1x\" 3.5 1.0 -3.5 }}", 0, "0x1.cp+01|0X1P+00|-0x1.cp+01"},
        {"{{ printf \"%+v|%+d|%+v|%#v|%#v\" 5 5 $value $value \"s\" }}", 1.5, "5|+5|1.5|1.5|\"s\""},
        {"{{ printf \"%d\" $externalLabels }}", 0, "map[%!d(string=cluster):%!d(string=eu-west)]"},
        {"{{ printf \"100%%\" }}", 0, "100%"},
        {"{{ printf \"%d\" 1.5 }}", 0, "%!d(float64=1.5)"},
        {"{{ printf \"%6s|%.2f|%#g|%#G|%#g\" 256 \"instance\" 1.0 1234567.0 0.0 }}", 0,
         "%!s(int=   256)|%!f(string=in)|1.00000|1.234567E+06|0.00000"},
        {"{{ printf \"%5d%99999999d\" 1 2 }}", 0, "    1%!(NOVERB)%!(EXTRA int=2)"},
        {"{{ printf \"%f\" 5 }}", 0, "%!f(int=5)"},
        {"{{ printf \"%d\" \"x\" }}", 0, "%!d(string=x)"},
        {"{{ printf \"%s %s\" \"a\" }}", 0, "a %!s(MISSING)"},
        {"{{ printf \"%s\" \"a\" 1 2.5 nil }}", 0, "a%!(EXTRA int=1, float64=2.5, <nil>)"},
        {"{{ printf \"%\" }}", 0, "%!(NOVERB)"},
        {"{{ printf \"%\xc3\xa9|%\xc3\xa9\" 1 }}", 0, "%!\xc3\xa9(int=1)|%!\xc3\xa9(MISSING)"},
        {"{{ printf \"%*d|%.*f\" 5 1 2 3.14159 }}", 0, "    1|3.14"},
        {"{{ printf \"%f %v\" $value $value }}", INFINITY, "+Inf +Inf"},
        {"{{ printf \"%5.1f|%v\" $value $value }}", NAN, "  NaN|NaN"},
        {"{{ printf \"%s\" $labels }}", 0,
         "map[alertname:HighLatency instance:web-1.example.com:9100 job:blog severity:page]"},
        {"{{ printf \"%s is %.1f%%\" $labels.instance $value }}", 97.25,
         "web-1.example.com:9100 is 97.2%"},
        {"{{ print 1 2 \"a\" \"b\" 3 }}", 0, "1 2ab3"},
        {"{{ println 1 \"a\" }}", 0, "1 a\n"},
        {"{{ print }}", 0, ""},
    };
    RUN(cases);
}

static void test_conditionals(void **state)
{
    (void)state;
    static const struct tcase cases[] = {
        {"{{ if gt $value 80.0 }}high{{ else }}ok{{ end }}", 95, "high"},
        {"{{ if gt $value 80.0 }}high{{ else }}ok{{ end }}", 5, "ok"},
        {"{{ if ge $value 90.0 }}crit{{ else if ge $value 80.0 }}warn{{ else }}ok{{ end }}", 85,
         "warn"},
        {"{{ if ge $value 90.0 }}crit{{ else if ge $value 80.0 }}warn{{ else }}ok{{ end }}", 95,
         "crit"},
        {"{{ if ge $value 90.0 }}crit{{ else if ge $value 80.0 }}warn{{ else }}ok{{ end }}", 1,
         "ok"},
        {"{{ if eq $labels.severity \"page\" }}PAGE{{ end }}", 0, "PAGE"},
        {"{{ if eq $labels.job \"a\" \"b\" \"blog\" }}one of{{ end }}", 0, "one of"},
        {"{{ if ne $labels.job \"blog\" }}x{{ else }}y{{ end }}", 0, "y"},
        {"{{ lt 1 2 }} {{ le 2 2 }} {{ gt \"b\" \"a\" }} {{ ge 1.5 2.5 }}", 0,
         "true true true false"},
        {"{{ eq $value $value }}", NAN, "false"},
        {"{{ eq nil \"x\" }} {{ ne \"x\" nil }}", 0, "false true"},
        {"{{ and 1 0 2 }} {{ and 1 2 }} {{ or 0 \"\" }} {{ or 0 \"x\" 3 }} {{ not 0 }}", 0,
         "0 2  x true"},
        /* and / or stop at the deciding argument: later ones are not run */
        {"{{ 0 | and 1 }}|{{ 1 | or 0 }}|{{ \"\" | or 0 }}|{{ 2 | and 1 }}", 0, "0|1||2"},
        {"{{ and false (humanize \"bad\") }}|{{ or true (humanize \"bad\") }}", 0, "false|true"},
        {"{{ if and (eq $labels.job \"blog\") (gt $value 1.0) }}both{{ end }}", 2, "both"},
        {"{{ if $labels.missing }}set{{ else }}unset{{ end }}", 0, "unset"},
        {"{{ if $labels }}has labels{{ end }}", 0, "has labels"},
        {"{{ with $labels.instance }}on {{ . }}{{ end }}", 0, "on web-1.example.com:9100"},
        {"{{ with $labels.nope }}x{{ else }}no instance{{ end }}", 0, "no instance"},
        {"{{ with $x := $labels.job }}{{ $x }}{{ end }}", 0, "blog"},
        {"{{ with $labels.nope }}a{{ else with $labels.job }}{{ . }}{{ end }}", 0, "blog"},
        {"{{ ($x := 2) }} {{ $x }}", 0, "2 2"},
        {"{{ printf \"%s/graph\" externalURL }}", 0, "https://vigil.example/prom/graph"},
        {"{{ (index $labels \"job\") }}|{{ externalURL | printf \"%s!\" }}", 0,
         "blog|https://vigil.example/prom!"},
        {"{{ range $k, $v := $labels }}{{ $k }}={{ $v }} {{ end }}", 0,
         "alertname=HighLatency instance=web-1.example.com:9100 job=blog severity=page "},
        {"{{ range $externalLabels }}[{{ . }}]{{ end }}", 0, "[eu-west]"},
        {"{{ range $v := $externalLabels }}{{ $v }}{{ end }}", 0, "eu-west"},
        {"{{ range 3 }}{{ . }}{{ end }}", 0, "012"},
        {"{{ range 0 }}x{{ else }}empty{{ end }}", 0, "empty"},
        {"{{ $x := 1 }}{{ if true }}{{ $x = 2 }}{{ end }}{{ $x }}", 0, "2"},
        {"{{ $x := \"outer\" }}{{ if true }}{{ $x := \"inner\" }}{{ $x }}{{ end }} {{ $x }}", 0,
         "inner outer"},
        {"{{ len $labels }} {{ len \"abc\" }}", 0, "4 3"},
        {"{{ range $k, $v := $labels }}{{ if eq $k \"job\" }}{{ break }}{{ end }}{{ $k }} "
         "{{ end }}",
         0, "alertname instance "},
        {"{{ range $k, $v := $labels }}{{ if eq $k \"job\" }}{{ continue }}{{ end }}{{ $k }} "
         "{{ end }}",
         0, "alertname instance severity "},
        {"{{ range 3 }}{{ range 5 }}{{ if eq . 2 }}{{ break }}{{ end }}{{ . }}{{ end }};{{ end }}",
         0, "01;01;01;"},
        {"{{ define \"host\" }}[{{ . | stripPort }}]{{ end }}{{ template \"host\" "
         "$labels.instance }}",
         0, "[web-1.example.com]"},
        {"{{ template \"t\" }}{{ define \"t\" }}{{ . }}{{ $ }}{{ end }}", 0,
         "<no value><no value>"},
        {"a{{ block \"b\" $labels.job }}<{{ . }}>{{ end }}z", 0, "a<blog>z"},
        {"{{ define \"x\" }}1{{ end }}{{ define \"x\" }}2{{ end }}{{ template \"x\" }}", 0, "2"},
        {"{{ index $labels \"job\" }}|{{ index $labels \"nope\" }}|", 0, "blog||"},
        {"{{ (index $labels \"instance\") | stripPort }}", 0, "web-1.example.com"},
    };
    RUN(cases);
}

static void test_trim_and_comments(void **state)
{
    (void)state;
    static const struct tcase cases[] = {
        {"a  {{- \"b\" -}}  c", 0, "abc"},   {"a \n\t{{- \"b\" }} c", 0, "ab c"},
        {"a {{ \"b\" -}}\n\n c", 0, "a bc"}, {"{{ if true -}}\n  yes\n{{- end }}", 0, "yes"},
        {"x{{/* a comment */}}y", 0, "xy"},  {"x  {{- /* trimmed comment */ -}}  y", 0, "xy"},
        {"{{/* multi\nline */}}z", 0, "z"},  {"{{ 3 -}} {{- -4 }}", 0, "3-4"},
        {"{{ \"a\"\n | toUpper }}", 0, "A"}, /* actions may span lines */
    };
    RUN(cases);
}

static void test_strings(void **state)
{
    (void)state;
    static const struct tcase cases[] = {
        {"{{ \"aa bb CC\" | title }}|{{ \"aa bb CC\" | toUpper }}|{{ \"aA bB CC\" | toLower }}", 0,
         "Aa Bb CC|AA BB CC|aa bb cc"},
        {"{{ title \"hello_world foo-bar x.y\" }}", 0, "Hello_world Foo-Bar X.Y"},
        {"{{ toUpper \"stra\xc3\x9f"
         "e \xc3\xa9t\xc3\xa9 \xce\xb1\" }}",
         0,
         "STRA\xc3\x9f"
         "E \xc3\x89T\xc3\x89 \xce\x91"},
        {"{{ toLower \"\xc3\x89"
         "COLE \xd0\x9c\xd0\x98\xd0\xa0\" }}",
         0,
         "\xc3\xa9"
         "cole \xd0\xbc\xd0\xb8\xd1\x80"},
        {"{{ \"foo.example.com\" | stripPort }}|{{ \"foo.example.com:12345\" | stripPort }}|"
         "{{ \"192.0.2.1:12345\" | stripPort }}|{{ \"2001:0DB8::1\" | stripPort }}|"
         "{{ \"[2001:0DB8::1]:12345\" | stripPort }}|{{ \"[2001:0DB8::1]::12345\" | stripPort }}",
         0,
         "foo.example.com|foo.example.com|192.0.2.1|2001:0DB8::1|2001:0DB8::1|"
         "[2001:0DB8::1]::12345"},
        {"{{ \"foo.example.com\" | stripDomain }}|{{ \"foo.example.com:12345\" | stripDomain }}|"
         "{{ \"192.0.2.1:12345\" | stripDomain }}|{{ \"[2001:0DB8::1]:12345\" | stripDomain }}",
         0, "foo|foo:12345|192.0.2.1:12345|[2001:0DB8::1]:12345"},
        {"{{ match \"a+\" \"aa\" }} {{ match \"a+\" \"b\" }} "
         "{{ match \"^web-\" $labels.instance }}",
         0, "true false true"},
        {"{{ reReplaceAll \"(a)b\" \"x$1\" \"ab\" }}", 0, "xa"},
        {"{{ reReplaceAll \"a*\" \"X\" \"baaac\" }}", 0, "XbXcX"},
        {"{{ match \"a*?\" \"\" }} {{ match \"\\\\Q**\\\\E\" \"**\" }} {{ match \"(?i)WEB\" "
         "$labels.instance }} {{ match \"\\\\12\" \"\\n\" }}",
         0, "true true true true"},
        {"{{ reReplaceAll \"\" \"-\" \"abc\" }}", 0, "-a-b-c-"},
        {"{{ reReplaceAll \"(?P<h>[^.]+)\\\\..*\" \"${h}!$1x$$\" \"web.example\" }}", 0, "web!$"},
        {"{{ reReplaceAll \":[0-9]+$\" \"\" $labels.instance }}", 0, "web-1.example.com"},
        {"{{ html \"<a href='x'>&\\\"\" }}", 0, "&lt;a href=&#39;x&#39;&gt;&amp;&#34;"},
        {"{{ urlquery \"a b&c=d/é\" }}", 0, "a+b%26c%3Dd%2F%C3%A9"},
        {"{{ externalURL }}|{{ pathPrefix }}", 0, "https://vigil.example/prom|/prom"},
    };
    RUN(cases);
}

/* Parse errors name the line, the column and what was expected. */
static void test_parse_errors(void **state)
{
    (void)state;
    static const struct {
        const char *in, *want;
    } cases[] = {
        {"{{", "1:3: unclosed action: expected \"}}\" before the end of the text"},
        {"ok {{ $value ", "1:14: unclosed action: expected \"}}\" before the end of the text"},
        {"{{ if }}x{{ end }}", "1:7: missing value for if"},
        {"{{ if true }}x", "1:15: unexpected end of text: {{if}} at 1:4 has no {{end}}"},
        {"{{ end }}", "1:4: unexpected {{end}} outside {{if}}, {{with}} or {{range}}"},
        {"{{ if 1 }}{{ else }}{{ else }}{{ end }}",
         "1:21: unexpected {{else}}: {{if}} already has one, expected {{end}}"},
        {"{{ foo 1 }}", "1:4: function \"foo\" not defined"},
        {"{{ toDuration 1 }}", "1:4: function \"toDuration\" not defined"},
        {"{{ $nope }}", "1:4: undefined variable \"$nope\""},
        {"{{ if true }}{{ $x := 1 }}{{ end }}{{ $x }}", "1:39: undefined variable \"$x\""},
        {"line1\n{{ \"abc }}", "2:4: a string closed by \""},
        {"{{ 1 | 2 }}",
         "1:8: non executable command in pipeline stage 2: expected a function, found a number"},
        {"{{ ( 1 }}", "1:8: unexpected \"}}\": expected \")\""},
        {"{{ 1) }}", "1:5: unexpected \")\": expected \"}}\""},
        {"{{ @ }}", "1:4: unexpected \"@\" in action: expected an operand, \"|\" or \"}}\""},
        {"{{ 1x }}", "1:4: bad number syntax: \"1x\""},
        {"{{\xc2\xa0}}", "1:3: unrecognized character in action: U+00A0"},
        {"{{ \x01 }}", "1:4: unrecognized character in action: U+0001"},
        {"{{ humanize\xc2\xa0$value }}",
         "1:12: bad character U+00A0 after \"humanize\": expected a space, \"|\", \")\" or \"}}\""},
        {"{{ printf\"%d\" 1 }}",
         "1:10: bad character U+0022 after \"printf\": expected a space, \"|\", \")\" or \"}}\""},
        {"{{ $x=1 }}", "1:6: bad character U+003D after \"$x\": expected a space, \"|\", \")\" or "
                       "\"}}\""},
        {"{{ \"a\"\"b\" }}", "1:7: unexpected \"\"b\"\" in operand: expected a space before it"},
        {"{{ print (1)(2) }}", "1:13: unexpected \"(\" in operand: expected a space before it"},
        {"{{ 0x1. }}",
         "1:4: illegal number syntax: \"0x1.\": a hexadecimal float needs a p exponent"},
        {"{{ 1__0 }}", "1:4: illegal number syntax: \"1__0\": '_' must separate digits"},
        {"{{ 5e1024 }}", "1:4: illegal number syntax: \"5e1024\": out of range"},
        {"{{ 99999999999999999999 }}", "1:4: number 99999999999999999999 overflows int"},
        {"{{ 'ab' }}", "1:4: malformed character constant: 'ab'"},
        {"{{ /* c */ }}", "1:4: unexpected \"/\" in action: expected an operand, \"|\" or \"}}\""},
        {"{{/* c */ x}}", "1:10: comment ends before closing delimiter: expected \"}}\""},
        {"{{/* c }}", "1:3: unclosed comment: expected \"*/\""},
        {"{{ break }}", "1:4: {{break}} outside {{range}}"},
        {"{{ range 1 }}{{ else }}{{ continue }}{{ end }}", "1:27: {{continue}} outside {{range}}"},
        {"{{ range 1 }}{{ break 1 }}{{ end }}",
         "1:23: unexpected \"1\" in {{break}}: expected \"}}\""},
        {"{{ template x }}", "1:13: expected a template name in quotes after {{template}}"},
        {"{{ define \"x\" }}{{ $labels }}{{ end }}", "1:20: undefined variable \"$labels\""},
        {"{{ if 1 }}{{ define \"x\" }}{{ end }}{{ end }}",
         "1:14: {{define}} inside a block: it is only allowed at the top level"},
        {"{{ define \"x\" }}a", "1:18: unexpected end of text: {{define}} at 1:4 needs {{end}}"},
        {"{{ block \"x\" }}{{ end }}", "1:14: missing value for block clause"},
        {"{{ humanize end }}", "1:13: unexpected keyword \"end\" in command"},
        {"{{ humanize | | }}", "1:15: missing value for command"},
        {"{{ x := 1 }}", "1:4: function \"x\" not defined"},
        {"{{ $k, $v := 1 }}", "1:6: unexpected \",\": only {{range}} declares two variables"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct tmpl *t = NULL;
        char err[256];
        int rc = tmpl_parse(cases[i].in, &t, err, sizeof err);
        if (rc != -1 || t != NULL || strcmp(err, cases[i].want) != 0)
            fail_msg("parse %s: rc %d err [%s], want [%s]", cases[i].in, rc, err, cases[i].want);
    }
}

/* Execution errors become Prometheus' "<error expanding template: ...>". */
static void test_exec_errors(void **state)
{
    (void)state;
    static const struct tcase cases[] = {
        {"{{ humanize \"one\" }}", 0,
         "<error expanding template: 1:4: error calling humanize: strconv.ParseFloat: "
         "parsing \"one\": invalid syntax>"},
        {"{{ \"one\" | humanizePercentage }}", 0,
         "<error expanding template: 1:12: error calling humanizePercentage: "
         "strconv.ParseFloat: parsing \"one\": invalid syntax>"},
        {"{{ humanize true }}", 0,
         "<error expanding template: 1:4: error calling humanize: can't convert bool to float>"},
        {"{{ humanizeTimestamp -9223372036854775807 }}", 0,
         "<error expanding template: 1:4: error calling humanizeTimestamp: "
         "-9.223372036854776e+18 cannot be represented as a nanoseconds timestamp since it "
         "overflows int64>"},
        {"{{ if gt $value 80 }}x{{ end }}", 1,
         "<error expanding template: 1:7: error calling gt: incompatible types for comparison>"},
        {"{{ lt true false }}", 0,
         "<error expanding template: 1:4: error calling lt: invalid type for comparison>"},
        {"{{ eq $labels 1 }}", 0,
         "<error expanding template: 1:4: error calling eq: incompatible types for comparison>"},
        {"{{ eq $labels $labels }}", 0,
         "<error expanding template: 1:4: error calling eq: non-comparable types "
         "map[string]string and map[string]string>"},
        {"{{ lt $labels 1 }}", 0,
         "<error expanding template: 1:4: error calling lt: invalid type for comparison>"},
        {"{{ humanize 1 2 }}", 0,
         "<error expanding template: 1:4: wrong number of args for humanize: want 1 got 2>"},
        {"{{ eq 1 }}", 0,
         "<error expanding template: 1:4: wrong number of args for eq: want at least 2 got 1>"},
        {"{{ toUpper 1 }}", 0,
         "<error expanding template: 1:4: error calling toUpper: wrong type for value; expected "
         "string; got int>"},
        {"{{ .Nope }}", 0,
         "<error expanding template: 1:4: can't evaluate field Nope in the alert data "
         "(fields: Labels, ExternalLabels, ExternalURL, Value)>"},
        {"{{ $value.x }}", 0,
         "<error expanding template: 1:4: can't evaluate field x in type float64>"},
        {"{{ $labels.job.x }}", 0,
         "<error expanding template: 1:4: can't evaluate field x in type string>"},
        {"{{ match \"(a\" \"a\" }}", 0,
         "<error expanding template: 1:4: error calling match: error parsing regexp: missing "
         "closing parenthesis at offset 2: `(a`>"},
        {"{{ match \"(a+)+$\" \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab\" }}", 0,
         "<error expanding template: 1:4: error calling match: regexp match failed: match "
         "limit exceeded>"},
        /* PCRE2-only syntax fails as Go's RE2 fails */
        {"{{ reReplaceAll \"(.*+)\" \"x\" \"a\" }}", 0,
         "<error expanding template: 1:4: error calling reReplaceAll: error parsing regexp: "
         "invalid nested repetition operator: `*+`>"},
        {"{{ match \"(a)\\\\1\" \"aa\" }}", 0,
         "<error expanding template: 1:4: error calling match: error parsing regexp: invalid "
         "escape sequence: `\\1`>"},
        {"{{ match \"(?<!a)b\" \"b\" }}", 0,
         "<error expanding template: 1:4: error calling match: error parsing regexp: invalid or "
         "unsupported Perl syntax: `(?<!`>"},
        {"{{ template \"nope\" }}", 0,
         "<error expanding template: 1:4: no such template \"nope\">"},
        {"{{ define \"r\" }}{{ template \"r\" }}{{ end }}{{ template \"r\" }}", 0,
         "<error expanding template: 1:20: exceeded maximum template depth (64)>"},
        {"{{ range 1.5 }}{{ end }}", 0,
         "<error expanding template: 1:4: range can't iterate over a value of type float64>"},
        {"{{ len 3 }}", 0, "<error expanding template: 1:4: error calling len: len of type int>"},
        {"{{ index $value \"a\" }}", 0,
         "<error expanding template: 1:4: error calling index: can't index item of type "
         "float64>"},
        {"{{ parseDuration \"5x\" }}", 0,
         "<error expanding template: 1:4: error calling parseDuration: not a valid duration "
         "string: \"5x\">"},
        {"{{ if }}", 0, "<error expanding template: 1:7: missing value for if>"},
        /* errors Go finds only when executing: Prometheus loads such rule files */
        {"{{ $x = 1 }}", 0, "<error expanding template: 1:9: undefined variable: $x>"},
        {"{{ 1 2 }}", 0, "<error expanding template: 1:6: can't give argument to non-function 1>"},
        {"{{ $labels.job \"x\" }}", 0,
         "<error expanding template: 1:16: can't give argument to non-function $labels.job>"},
        {"{{ nil }}", 0, "<error expanding template: 1:4: nil is not a command>"},
        {"{{ match.x }}", 0,
         "<error expanding template: 1:4: wrong number of args for match: want 2 got 0>"},
        {"{{ \"x\" | $labels }}", 0,
         "<error expanding template: 1:10: can't give argument to non-function $labels>"},
        {"{{ humanize | }}", 0,
         "<error expanding template: 1:4: wrong number of args for humanize: want 1 got 0>"},
        {"{{ if false }}{{ 1 2 }}{{ nil }}{{ end }}ok", 0, "ok"},
        {"{{ query \"up\" | first | value }}", 0,
         "<error expanding template: 1:4: error calling query: not supported in Vigil's alert "
         "templates>"},
        {"{{ if false }}{{ query \"up\" }}{{ end }}loads", 0, "loads"},
    };
    RUN(cases);
}

/* Pathological templates fail with a message instead of exhausting the
 * stack, memory or time. */
static void test_limits(void **state)
{
    (void)state;
    struct tmpl_data d = {&labels, &ext, NULL, 1};
    size_t n = 200;
    char *deep = malloc(n * 12 + 1);
    assert_non_null(deep);
    deep[0] = '\0';
    for (size_t i = 0; i < n; i++)
        strcat(deep, "{{ if 1 }}");
    char *got = tmpl_expand(deep, &d);
    assert_non_null(got);
    assert_string_equal(got, "<error expanding template: 1:644: nesting deeper than 64>");
    free(got);
    memset(deep, '(', n);
    strcpy(deep + n, "1");
    char *nested = malloc(n + 8);
    assert_non_null(nested);
    snprintf(nested, n + 8, "{{ %s }}", deep);
    got = tmpl_expand(nested, &d);
    assert_non_null(got);
    assert_string_equal(got, "<error expanding template: 1:68: nesting deeper than 64>");
    free(got);
    free(nested);
    free(deep);

    got = tmpl_expand("{{ range 100000 }}{{ printf \"%100d\" 1 }}{{ end }}", &d);
    assert_non_null(got);
    assert_string_equal(got, "<error expanding template: 1:22: output exceeds 1048576 bytes>");
    free(got);
    got = tmpl_expand("{{ printf \"%2000000d\" 1 }}", &d);
    assert_non_null(got);
    assert_string_equal(got, "<error expanding template: 1:4: error calling printf: result exceeds "
                             "1048576 bytes>");
    free(got);
    got = tmpl_expand("{{ range 1000000000 }}{{ end }}", &d);
    assert_non_null(got);
    assert_string_equal(got, "<error expanding template: 1:4: template execution exceeds 100000 "
                             "steps>");
    free(got);
}

/* The rule engine parses once and executes per alert; missing data is
 * empty rather than an error. */
static void test_parse_once_exec_many(void **state)
{
    (void)state;
    struct tmpl *t;
    char err[256];
    assert_int_equal(tmpl_parse("{{ $labels.job }}:{{ $externalURL }}:{{ humanize $value }}", &t,
                                err, sizeof err),
                     0);
    struct tmpl_data d1 = {&labels, &ext, "http://a", 2048};
    struct tmpl_data d2 = {NULL, NULL, NULL, 0.001};
    char *a = tmpl_exec(t, &d1, err, sizeof err);
    char *b = tmpl_exec(t, &d2, err, sizeof err);
    assert_non_null(a);
    assert_non_null(b);
    assert_string_equal(a, "blog:http://a:2.048k");
    assert_string_equal(b, "::1m");
    free(a);
    free(b);
    tmpl_free(t);
    assert_int_equal(tmpl_parse("{{ humanize $labels.job }}", &t, err, sizeof err), 0);
    char *bad = tmpl_exec(t, &d1, err, sizeof err);
    assert_null(bad);
    assert_string_equal(err, "1:4: error calling humanize: strconv.ParseFloat: parsing \"blog\": "
                             "invalid syntax");
    tmpl_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_variables),
        cmocka_unit_test(test_humanize),
        cmocka_unit_test(test_printf),
        cmocka_unit_test(test_conditionals),
        cmocka_unit_test(test_trim_and_comments),
        cmocka_unit_test(test_strings),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_exec_errors),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_parse_once_exec_many),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
