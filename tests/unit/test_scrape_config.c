/* test_scrape_config.c — the global: and scrape_configs: sections: a full
 * Prometheus-shaped file parsed to the expected structure, the defaults
 * (Prometheus' timeout rules included), a deep copy, and one case per error
 * class with file:line:column. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"

static int parse(struct config *c, const char *text, struct config_errors *e)
{
    config_default(c);
    memset(e, 0, sizeof *e);
    return config_parse(c, "vigil.yml", text, strlen(text), e);
}

static const char full[] =
    "global:\n"
    "  scrape_interval: 15s\n"
    "  scrape_timeout: 5s\n"
    "  evaluation_interval: 30s\n"
    "  external_labels:\n"
    "    region: eu-west\n"
    "    replica: a\n"
    "scrape_configs:\n"
    "  - job_name: node\n"
    "    scrape_interval: 30s\n"
    "    scrape_timeout: 20s\n"
    "    metrics_path: /probe\n"
    "    scheme: https\n"
    "    params:\n"
    "      module: [http_2xx, tcp]\n"
    "      target: [example.com]\n"
    "    honor_labels: true\n"
    "    honor_timestamps: false\n"
    "    follow_redirects: false\n"
    "    enable_compression: false\n"
    "    basic_auth:\n"
    "      username: scraper\n"
    "      password_file: /etc/vigil/pw\n"
    "    tls_config:\n"
    "      ca_file: /etc/ca.pem\n"
    "      cert_file: /etc/c.pem\n"
    "      key_file: /etc/k.pem\n"
    "      server_name: node.internal\n"
    "      insecure_skip_verify: true\n"
    "    static_configs:\n"
    "      - targets: ['localhost:9100', 'db:9100']\n"
    "        labels:\n"
    "          env: prod\n"
    "      - targets: [\"web:9100\"]\n"
    "    file_sd_configs:\n"
    "      - files: [/etc/vigil/targets/*.json]\n"
    "        refresh_interval: 1m\n"
    "      - files: [extra.yml]\n"
    "    relabel_configs:\n"
    "      - source_labels: [__address__]\n"
    "        regex: '(.*):9100'\n"
    "        target_label: host\n"
    "        replacement: $1\n"
    "      - source_labels: [__address__]\n"
    "        modulus: 4\n"
    "        target_label: __tmp_hash\n"
    "        action: hashmod\n"
    "      - action: labelmap\n"
    "        regex: __meta_(.+)\n"
    "    metric_relabel_configs:\n"
    "      - source_labels: [__name__]\n"
    "        regex: go_.*\n"
    "        action: drop\n"
    "    sample_limit: 5000\n"
    "    label_limit: 30\n"
    "    label_name_length_limit: 100\n"
    "    label_value_length_limit: 200\n"
    "    body_size_limit: 10MB\n"
    "  - job_name: api\n"
    "    authorization:\n"
    "      type: Bearer\n"
    "      credentials: s3cret\n"
    "    static_configs:\n"
    "      - targets: [localhost:8080]\n"
    "  - job_name: short\n"
    "    scrape_interval: 2s\n"
    "    bearer_token_file: /run/token\n";

static void check_full(const struct config *c)
{
    const struct scrape_config *s = &c->scrape;
    assert_int_equal(s->global.scrape_interval_ms, 15000);
    assert_int_equal(s->global.scrape_timeout_ms, 5000);
    assert_int_equal(s->global.evaluation_interval_ms, 30000);
    assert_int_equal(s->global.nexternal_labels, 2);
    assert_string_equal(s->global.external_labels[1].name, "replica");
    assert_string_equal(s->global.external_labels[1].value, "a");
    assert_int_equal(s->njobs, 3);

    const struct scrape_job *j = &s->jobs[0];
    assert_string_equal(j->job_name, "node");
    assert_int_equal(j->scrape_interval_ms, 30000);
    assert_int_equal(j->scrape_timeout_ms, 20000);
    assert_string_equal(j->metrics_path, "/probe");
    assert_string_equal(j->scheme, "https");
    assert_int_equal(j->nparams, 3);
    assert_string_equal(j->params[1].name, "module");
    assert_string_equal(j->params[1].value, "tcp");
    assert_string_equal(j->params[2].name, "target");
    assert_true(j->honor_labels && !j->honor_timestamps && !j->follow_redirects &&
                !j->enable_compression);
    assert_string_equal(j->basic_auth_username, "scraper");
    assert_null(j->basic_auth_password);
    assert_string_equal(j->basic_auth_password_file, "/etc/vigil/pw");
    assert_null(j->bearer_token);
    assert_string_equal(j->tls.ca_file, "/etc/ca.pem");
    assert_string_equal(j->tls.cert_file, "/etc/c.pem");
    assert_string_equal(j->tls.key_file, "/etc/k.pem");
    assert_string_equal(j->tls.server_name, "node.internal");
    assert_true(j->tls.insecure_skip_verify);
    assert_int_equal(j->nstatic, 2);
    assert_int_equal(j->static_configs[0].ntargets, 2);
    assert_string_equal(j->static_configs[0].targets[1], "db:9100");
    assert_int_equal(j->static_configs[0].nlabels, 1);
    assert_string_equal(j->static_configs[0].labels[0].name, "env");
    assert_string_equal(j->static_configs[0].labels[0].value, "prod");
    assert_string_equal(j->static_configs[1].targets[0], "web:9100");
    assert_int_equal(j->static_configs[1].nlabels, 0);
    assert_int_equal(j->nfile_sd, 2);
    assert_string_equal(j->file_sd_files[0], "/etc/vigil/targets/*.json");
    assert_string_equal(j->file_sd_files[1], "extra.yml");
    assert_int_equal(j->file_sd_refresh_ms, 60000); /* the shorter of 1m and 5m */
    assert_int_equal(j->nrelabel, 3);
    assert_int_equal(j->relabel[0].action, RELABEL_REPLACE);
    assert_string_equal(j->relabel[0].regex, "(.*):9100");
    assert_string_equal(j->relabel[0].separator, ";");
    assert_non_null(j->relabel[0].re);
    assert_int_equal(j->relabel[1].action, RELABEL_HASHMOD);
    assert_int_equal(j->relabel[1].modulus, 4);
    assert_int_equal(j->relabel[2].action, RELABEL_LABELMAP);
    assert_int_equal(j->nmetric_relabel, 1);
    assert_int_equal(j->metric_relabel[0].action, RELABEL_DROP);
    assert_int_equal(j->sample_limit, 5000);
    assert_int_equal(j->label_limit, 30);
    assert_int_equal(j->label_name_length_limit, 100);
    assert_int_equal(j->label_value_length_limit, 200);
    assert_int_equal(j->body_size_limit, 10u << 20);

    j = &s->jobs[1];
    assert_string_equal(j->job_name, "api");
    assert_string_equal(j->bearer_token, "s3cret");
    assert_int_equal(j->scrape_interval_ms, 15000);
    assert_int_equal(j->scrape_timeout_ms, 5000);

    j = &s->jobs[2];
    assert_int_equal(j->scrape_interval_ms, 2000);
    assert_int_equal(j->scrape_timeout_ms, 2000); /* global 5s > interval: capped */
    assert_string_equal(j->bearer_token_file, "/run/token");
}

static void test_full(void **state)
{
    (void)state;
    struct config *c = malloc(sizeof *c), *d = malloc(sizeof *d);
    struct config_errors e;
    assert_non_null(c);
    assert_non_null(d);
    int rc = parse(c, full, &e);
    if (rc)
        fail_msg("%s", e.text);
    check_full(c);

    /* A deep copy outlives the original and its rules still work. */
    assert_int_equal(config_copy(d, c), 0);
    config_free(c);
    check_full(d);
    struct relabel_labels ls = {0};
    assert_int_equal(relabel_labels_set(&ls, "__address__", "db:9100"), 0);
    assert_int_equal(relabel_apply(d->scrape.jobs[0].relabel, 1, &ls), 1);
    assert_string_equal(relabel_labels_get(&ls, "host"), "db");
    relabel_labels_free(&ls);
    config_free(d);
    config_free(d); /* twice is harmless */
    assert_int_equal(d->scrape.njobs, 0);
    free(c);
    free(d);
    config_errors_free(&e);
}

static void test_defaults(void **state)
{
    (void)state;
    struct config c;
    struct config_errors e;
    config_default(&c);
    assert_int_equal(c.scrape.global.scrape_interval_ms, 60000);
    assert_int_equal(c.scrape.global.scrape_timeout_ms, 10000);
    assert_int_equal(c.scrape.global.evaluation_interval_ms, 60000);
    assert_int_equal(c.scrape.njobs, 0);

    assert_int_equal(parse(&c, "scrape_configs:\n  - job_name: x\n", &e), 0);
    const struct scrape_job *j = &c.scrape.jobs[0];
    assert_int_equal(j->scrape_interval_ms, 60000);
    assert_int_equal(j->scrape_timeout_ms, 10000);
    assert_string_equal(j->metrics_path, "/metrics");
    assert_string_equal(j->scheme, "http");
    assert_true(!j->honor_labels && j->honor_timestamps && j->follow_redirects &&
                j->enable_compression);
    assert_int_equal(j->file_sd_refresh_ms, 300000);
    assert_int_equal(j->sample_limit, 0);
    assert_int_equal(j->body_size_limit, 0);
    assert_int_equal(j->nstatic + j->nfile_sd + j->nrelabel + j->nparams, 0);
    config_free(&c);

    /* scrape_configs before global: still takes global's values; a global
     * interval under 10s caps the default timeout. */
    assert_int_equal(parse(&c, "scrape_configs:\n  - job_name: x\nglobal:\n"
                               "  scrape_interval: 3s\n", &e), 0);
    assert_int_equal(c.scrape.global.scrape_timeout_ms, 3000);
    assert_int_equal(c.scrape.jobs[0].scrape_interval_ms, 3000);
    assert_int_equal(c.scrape.jobs[0].scrape_timeout_ms, 3000);
    config_free(&c);

    /* Empty sections are allowed, as in Prometheus. */
    assert_int_equal(parse(&c, "global:\nscrape_configs:\n", &e), 0);
    assert_int_equal(c.scrape.njobs, 0);
    config_free(&c);
    config_errors_free(&e);
}

/* Each bad file gives an error starting with want (file:line:col: ...). */
static void test_errors(void **state)
{
    (void)state;
    static const struct {
        const char *text, *want;
    } cases[] = {
        {"scrape_configs:\n  - scrape_interval: 5s\n",
         "vigil.yml:2:5: scrape_configs[0]: job_name is required"},
        {"scrape_configs:\n  - job_name: a\n  - job_name: a\n",
         "vigil.yml:3:5: found multiple scrape configs with job name \"a\""},
        {"scrape_configs:\n  - job_name: a\n    scrape_interval: 5s\n    scrape_timeout: 6s\n",
         "vigil.yml:2:5: scrape timeout greater than scrape interval for scrape config with "
         "job name \"a\""},
        {"global:\n  scrape_interval: 5s\n  scrape_timeout: 6s\n",
         "vigil.yml:2:3: global scrape timeout greater than scrape interval"},
        {"scrape_configs:\n  - job_name: a\n    relabel_configs:\n      - regex: '(a'\n"
         "        target_label: b\n",
         "vigil.yml:4:9: scrape_configs[0].relabel_configs[0]: bad regex \"(a\": missing "
         "closing parenthesis"},
        {"scrape_configs:\n  - job_name: a\n    relabel_configs:\n      - action: rewrite\n",
         "vigil.yml:4:17: unknown relabel action 'rewrite' for "
         "scrape_configs[0].relabel_configs[0].action: one of replace, keep, drop"},
        {"scrape_configs:\n  - job_name: a\n    metric_relabel_configs:\n"
         "      - action: hashmod\n        target_label: h\n",
         "vigil.yml:4:9: scrape_configs[0].metric_relabel_configs[0]: relabel configuration "
         "for hashmod requires non-zero modulus"},
        {"scrape_configs:\n  - job_name: a\n    kubernetes_sd_configs:\n      - role: pod\n",
         "vigil.yml:3:5: 'kubernetes_sd_configs' in scrape_configs[0] is not supported by "
         "Vigil; remove it"},
        {"scrape_configs:\n  - job_name: a\n    proxy_url: http://p:3128\n",
         "vigil.yml:3:5: 'proxy_url' in scrape_configs[0] is not supported by Vigil"},
        {"scrape_configs:\n  - job_name: a\n    tls_config:\n      min_version: TLS12\n",
         "vigil.yml:4:7: 'min_version' in scrape_configs[0].tls_config is not supported by "
         "Vigil"},
        {"global:\n  query_log_file: q.log\n",
         "vigil.yml:2:3: 'query_log_file' in global is not supported by Vigil"},
        {"scrape_configs:\n  - job_name: a\n    scrape_intervall: 5s\n",
         "vigil.yml:3:5: unknown key 'scrape_intervall' in scrape_configs[0] (did you mean "
         "'scrape_interval'?)"},
        {"global:\n  external_label:\n    a: b\n",
         "vigil.yml:2:3: unknown key 'external_label' in global (did you mean "
         "'external_labels'?)"},
        {"scrape_configs:\n  - job_name: a\n    scheme: ftp\n",
         "vigil.yml:3:13: bad scheme 'ftp' for scrape_configs[0].scheme: use http or https"},
        {"scrape_configs:\n  - job_name: a\n    scrape_interval: 5x\n",
         "vigil.yml:3:22: bad duration '5x' for scrape_configs[0].scrape_interval"},
        {"scrape_configs:\n  - job_name: a\n    honor_labels: maybe\n",
         "vigil.yml:3:19: bad value 'maybe' for scrape_configs[0].honor_labels: use true or "
         "false"},
        {"scrape_configs:\n  - job_name: a\n    sample_limit: -1\n",
         "vigil.yml:3:19: bad number '-1' for scrape_configs[0].sample_limit"},
        {"scrape_configs:\n  - job_name: a\n    static_configs:\n"
         "      - targets: ['http://h:80/metrics']\n",
         "vigil.yml:4:9: \"http://h:80/metrics\" is not a valid hostname"},
        {"scrape_configs:\n  - job_name: a\n    static_configs:\n      - targets: [h:1]\n"
         "        labels:\n          bad-name: x\n",
         "vigil.yml:6:11: \"bad-name\" is not a valid label name in "
         "scrape_configs[0].static_configs[0].labels"},
        {"scrape_configs:\n  - job_name: a\n    file_sd_configs:\n      - files: [t.txt]\n",
         "vigil.yml:4:9: path name \"t.txt\" is not valid for file discovery"},
        {"scrape_configs:\n  - job_name: a\n    authorization:\n      type: Basic\n",
         "vigil.yml:4:13: authorization type cannot be set to \"basic\""},
        {"scrape_configs:\n  - job_name: a\n    authorization:\n      credentials: x\n"
         "    bearer_token: y\n",
         "vigil.yml:"},
        {"scrape_configs:\n  - job_name: a\n    basic_auth:\n      username: u\n"
         "    bearer_token_file: /t\n",
         "vigil.yml:2:5: at most one of basic_auth, authorization and bearer_token"},
        {"scrape_configs:\n  - job_name: a\n    basic_auth:\n      password: p\n"
         "      password_file: /p\n",
         "vigil.yml:2:5: at most one of basic_auth password & password_file"},
        {"scrape_configs:\n  job_name: a\n",
         "vigil.yml:2:3: scrape_configs must be a list"},
        {"scrape_configs:\n  - job_name: a\n    job_name: b\n",
         "vigil.yml:3:5: duplicate key 'job_name' in scrape_configs[0]"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct config c;
        struct config_errors e;
        int rc = parse(&c, cases[i].text, &e);
        if (rc != -EINVAL || !e.text || strncmp(e.text, cases[i].want, strlen(cases[i].want)))
            fail_msg("case %zu: rc %d, %u errors:\n%s\nwant: %s", i, rc, e.count,
                     e.text ? e.text : "", cases[i].want);
        config_free(&c);
        config_errors_free(&e);
    }
}

/* Every error of the file is reported, and the parse keeps going. */
static void test_many_errors(void **state)
{
    (void)state;
    struct config c;
    struct config_errors e;
    assert_int_equal(parse(&c, "scrape_configs:\n  - job_name: a\n    scheme: ftp\n"
                               "  - job_name: b\n    consul_sd_configs: []\n"
                               "    relabel_configs:\n      - action: keep\n"
                               "        regex: '['\n",
                           &e),
                     -EINVAL);
    assert_int_equal(e.count, 3);
    assert_non_null(strstr(e.text, "vigil.yml:3:13:"));
    assert_non_null(strstr(e.text, "vigil.yml:5:5:"));
    assert_non_null(strstr(e.text, "vigil.yml:7:9:"));
    config_free(&c);
    config_errors_free(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_many_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
