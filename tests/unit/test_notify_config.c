/* test_notify_config.c — the alerting: and notifiers: sections: a full
 * file parsed to the expected structure, the defaults and Alertmanager's
 * route inheritance, a deep copy, Alertmanager's matcher syntax, and one
 * case per error with file:line:column. */
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
    "alerting:\n"
    "  alert_relabel_configs:\n"
    "    - source_labels: [severity]\n"
    "      regex: ticket\n"
    "      action: drop\n"
    "    - target_label: via\n"
    "      replacement: vigil\n"
    "  alertmanagers:\n"
    "    - static_configs:\n"
    "        - targets: ['127.0.0.1:9093', 'am2:9093']\n"
    "        - targets: ['am3:9093']\n"
    "      scheme: https\n"
    "      path_prefix: /am\n"
    "      timeout: 3s\n"
    "      api_version: v2\n"
    "      basic_auth: {username: u, password: p}\n"
    "      tls_config: {ca_file: /etc/ca.pem, insecure_skip_verify: true}\n"
    "    - static_configs: [{targets: ['other:9093']}]\n"
    "notifiers:\n"
    "  receivers:\n"
    "    - name: ops\n"
    "      webhook_configs:\n"
    "        - url: http://127.0.0.1:5001/hook\n"
    "          send_resolved: false\n"
    "          max_alerts: 10\n"
    "          timeout: 2s\n"
    "      exec_configs:\n"
    "        - command: [/usr/local/bin/page, '--team', 'ops; rm -rf /']\n"
    "          timeout: 5s\n"
    "          env: {PAGER_KEY: secret, REGION: eu}\n"
    "    - name: pager\n"
    "      exec_configs: [{command: [/bin/true]}]\n"
    "  route:\n"
    "    receiver: ops\n"
    "    group_by: [alertname, job]\n"
    "    group_wait: 10s\n"
    "    routes:\n"
    "      - matchers: ['severity=\"page\"', 'team=~\"db|web\"']\n"
    "        receiver: pager\n"
    "        repeat_interval: 1h\n"
    "        continue: true\n"
    "        routes:\n"
    "          - matchers: ['env != prod']\n"
    "            group_by: ['...']\n"
    "            group_wait: 0s\n"
    "      - matchers: [instance!~\"db.*\"]\n"
    "  outbox: {min_backoff: 2s, max_backoff: 1m, max_age: 1h}\n";

static void check_full(const struct notify_config *n)
{
    assert_int_equal(n->nalert_relabel, 2);
    assert_int_equal(n->alert_relabel[0].action, RELABEL_DROP);
    assert_string_equal(n->alert_relabel[0].source_labels[0], "severity");
    assert_string_equal(n->alert_relabel[1].target_label, "via");
    assert_non_null(n->alert_relabel[1].re); /* prepared, also in the copy */
    assert_int_equal(n->nalertmanagers, 2);
    const struct notify_alertmanager *a = &n->alertmanagers[0];
    assert_int_equal(a->ntargets, 3);
    assert_string_equal(a->targets[0], "127.0.0.1:9093");
    assert_string_equal(a->targets[2], "am3:9093");
    assert_string_equal(a->scheme, "https");
    assert_string_equal(a->path_prefix, "/am");
    assert_int_equal(a->timeout_ms, 3000);
    assert_string_equal(a->username, "u");
    assert_string_equal(a->password, "p");
    assert_string_equal(a->ca_file, "/etc/ca.pem");
    assert_int_equal(a->insecure_skip_verify, 1);
    a = &n->alertmanagers[1];
    assert_string_equal(a->scheme, "http");
    assert_string_equal(a->path_prefix, "/");
    assert_int_equal(a->timeout_ms, 10000);
    assert_null(a->username);

    assert_int_equal(n->nreceivers, 2);
    const struct notify_receiver *r = &n->receivers[0];
    assert_string_equal(r->name, "ops");
    assert_int_equal(r->nwebhooks, 1);
    assert_string_equal(r->webhooks[0].url, "http://127.0.0.1:5001/hook");
    assert_int_equal(r->webhooks[0].send_resolved, 0);
    assert_int_equal(r->webhooks[0].max_alerts, 10);
    assert_int_equal(r->webhooks[0].timeout_ms, 2000);
    assert_int_equal(r->nexecs, 1);
    assert_int_equal(r->execs[0].argc, 3);
    assert_string_equal(r->execs[0].argv[2], "ops; rm -rf /");
    assert_int_equal(r->execs[0].send_resolved, 1);
    assert_int_equal(r->execs[0].timeout_ms, 5000);
    assert_int_equal(r->execs[0].nenv, 2);
    assert_string_equal(r->execs[0].env[0], "PAGER_KEY=secret");
    assert_int_equal(n->receivers[1].execs[0].timeout_ms, 10000);

    const struct notify_route *rt = &n->route;
    assert_string_equal(rt->receiver, "ops");
    assert_int_equal(rt->ngroup_by, 2);
    assert_int_equal(rt->group_wait_ms, 10000);
    assert_int_equal(rt->group_interval_ms, 300000);
    assert_int_equal(rt->repeat_interval_ms, 14400000);
    assert_int_equal(rt->nroutes, 2);
    const struct notify_route *c0 = &rt->routes[0], *c1 = &rt->routes[1];
    assert_string_equal(c0->receiver, "pager");
    assert_int_equal(c0->nmatchers, 2);
    assert_int_equal(c0->matchers[0].type, TSDB_MATCH_EQ);
    assert_string_equal(c0->matchers[0].name, "severity");
    assert_string_equal(c0->matchers[0].value, "page");
    assert_int_equal(c0->matchers[1].type, TSDB_MATCH_RE);
    assert_string_equal(c0->matchers[1].value, "db|web");
    assert_int_equal(c0->repeat_interval_ms, 3600000);
    assert_int_equal(c0->group_wait_ms, 10000);       /* inherited */
    assert_int_equal(c0->ngroup_by, 2);               /* inherited */
    assert_int_equal(c0->continue_matching, 1);
    const struct notify_route *g = &c0->routes[0];
    assert_string_equal(g->receiver, "pager");        /* inherited twice */
    assert_int_equal(g->group_by_all, 1);
    assert_int_equal(g->ngroup_by, 0);
    assert_int_equal(g->group_wait_ms, 0);
    assert_int_equal(g->repeat_interval_ms, 3600000);
    assert_int_equal(g->matchers[0].type, TSDB_MATCH_NE);
    assert_string_equal(g->matchers[0].value, "prod");
    assert_string_equal(c1->receiver, "ops");
    assert_int_equal(c1->matchers[0].type, TSDB_MATCH_NRE);
    assert_string_equal(c1->matchers[0].value, "db.*");

    assert_int_equal(n->min_backoff_ms, 2000);
    assert_int_equal(n->max_backoff_ms, 60000);
    assert_int_equal(n->max_age_ms, 3600000);
}

static void test_full(void **state)
{
    (void)state;
    struct config c, copy;
    struct config_errors e;
    int rc = parse(&c, full, &e);
    if (rc)
        fprintf(stderr, "%s", e.text);
    assert_int_equal(rc, 0);
    check_full(&c.notify);
    assert_int_equal(config_copy(&copy, &c), 0);
    config_free(&c);
    check_full(&copy.notify);
    config_free(&copy);
    config_errors_free(&e);
}

static void test_defaults(void **state)
{
    (void)state;
    struct config c;
    struct config_errors e;
    assert_int_equal(parse(&c, "notifiers:\n  receivers: [{name: a}]\n  route: {receiver: a}\n",
                           &e), 0);
    assert_int_equal(c.notify.route.group_wait_ms, 30000);
    assert_int_equal(c.notify.route.group_interval_ms, 300000);
    assert_int_equal(c.notify.route.repeat_interval_ms, 4 * 3600000);
    assert_int_equal(c.notify.route.ngroup_by, 0);
    assert_int_equal(c.notify.min_backoff_ms, 1000);
    assert_int_equal(c.notify.max_backoff_ms, 300000);
    assert_int_equal(c.notify.max_age_ms, 86400000);
    assert_int_equal(c.notify.nalertmanagers, 0);
    config_free(&c);
    config_default(&c);
    assert_null(c.notify.route.receiver); /* no notifiers: nothing routed */
    config_free(&c);
}

static void test_matchers(void **state)
{
    (void)state;
    static const struct { const char *in; int type; const char *name, *value; } ok[] = {
        {"a=\"b\"", TSDB_MATCH_EQ, "a", "b"},
        {"  a = b  ", TSDB_MATCH_EQ, "a", "b"},
        {"a!=\"\"", TSDB_MATCH_NE, "a", ""},
        {"a=~\"x\\\\.y\"", TSDB_MATCH_RE, "a", "x\\.y"},
        {"a!~x.*", TSDB_MATCH_NRE, "a", "x.*"},
        {"a=\"q\\\"uote\"", TSDB_MATCH_EQ, "a", "q\"uote"},
        {"a=", TSDB_MATCH_EQ, "a", ""},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        struct notify_matcher m;
        char err[200];
        assert_int_equal(notify_matcher_parse(ok[i].in, &m, err, sizeof err), 0);
        assert_int_equal(m.type, ok[i].type);
        assert_string_equal(m.name, ok[i].name);
        assert_string_equal(m.value, ok[i].value);
        free(m.name);
        free(m.value);
    }
    static const struct { const char *in, *msg; } bad[] = {
        {"=\"b\"", "expected a label name at the start of matcher '=\"b\"'"},
        {"1a=b", "expected a label name"},
        {"a<b", "expected one of =, !=, =~, !~ after 'a'"},
        {"a=\"b", "bad quoted value in matcher"},
        {"a=\"b\" c", "unexpected text after the quoted value"},
        {"a=b\"c", "contains '\"': quote the whole value"},
        {"a=~\"(\"", "bad regular expression in matcher"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct notify_matcher m;
        char err[200];
        assert_int_equal(notify_matcher_parse(bad[i].in, &m, err, sizeof err), -EINVAL);
        if (!strstr(err, bad[i].msg))
            fail_msg("%s: got '%s', want '%s'", bad[i].in, err, bad[i].msg);
    }
}

/* One problem per file: the first error line must contain want. */
static const struct { const char *text, *want; } errors[] = {
    {"alerting:\n  alert_relabel_configs: [{action: bogus}]\n",
     "vigil.yml:2:36: unknown relabel action 'bogus' for "
     "alerting.alert_relabel_configs[0].action"},
    {"alerting:\n  alert_relabel_configs: [{action: hashmod, target_label: x}]\n",
     "vigil.yml:2:27: alerting.alert_relabel_configs[0]: relabel configuration for hashmod "
     "requires non-zero modulus"},
    {"alerting:\n  alertmanagers:\n    - alert_relabel_configs: []\n",
     "vigil.yml:3:7: 'alert_relabel_configs' in alerting.alertmanagers[0] is not supported"},
    {"alerting:\n  alertmanagers:\n    - static_configs: [{targets: [am:9093]}]\n"
     "      api_version: v1\n",
     "vigil.yml:4:20: api_version 'v1' is not supported by alerting.alertmanagers[0]"},
    {"alerting:\n  alertmanagers:\n    - schme: http\n",
     "vigil.yml:3:7: unknown key 'schme' in alerting.alertmanagers[0] (did you mean 'scheme'?)"},
    {"alerting:\n  alertmanagers:\n    - scheme: ftp\n",
     "vigil.yml:3:15: bad scheme 'ftp' for alerting.alertmanagers[0].scheme"},
    {"alerting:\n  alertmanagers:\n    - timeout: soon\n",
     "vigil.yml:3:16: bad duration 'soon' for alerting.alertmanagers[0].timeout"},
    {"alerting:\n  alertmanagers:\n    - static_configs: [{targets: [am:9093/x]}]\n",
     "vigil.yml:3:7: \"am:9093/x\" is not a valid target in alerting.alertmanagers[0]"},
    {"alerting:\n  alertmanagers:\n    - relabel_configs: []\n",
     "vigil.yml:3:7: 'relabel_configs' in alerting.alertmanagers[0] is not supported"},
    {"alerting:\n  alertmanagers:\n    - tls_config: {insecure_skip_verify: maybe}\n",
     "vigil.yml:3:42: bad value 'maybe' for alerting.alertmanagers[0].tls_config."
     "insecure_skip_verify: use true or false"},
    {"alerting:\n  alertmanagers: {a: b}\n",
     "vigil.yml:2:18: alerting.alertmanagers must be a list"},
    {"notifiers:\n  receivers: [{name: a}]\n",
     "vigil.yml:2:3: notifiers: a route is required"},
    {"notifiers:\n  receivers: [{name: a}]\n  route: {group_wait: 1s}\n",
     "vigil.yml:3:10: notifiers.route: the root route must have a receiver"},
    {"notifiers:\n  receivers: [{name: a}]\n  route:\n    receiver: a\n    routes:\n"
     "      - receiver: b\n",
     "vigil.yml:6:9: notifiers.route.routes[0]: undefined receiver \"b\" used in route"},
    {"notifiers:\n  receivers: [{name: a}]\n  route: {receiver: a, matchers: [x=y]}\n",
     "vigil.yml:3:10: notifiers.route: the root route must not have any matchers"},
    {"notifiers:\n  receivers: [{name: a}]\n  route: {receiver: a, continue: true}\n",
     "vigil.yml:3:10: notifiers.route: cannot have continue in the root route"},
    {"notifiers:\n  receivers: [{name: a}, {name: a}]\n  route: {receiver: a}\n",
     "vigil.yml:2:3: notifiers.receivers: receiver \"a\" is defined twice"},
    {"notifiers:\n  receivers: [{webhook_configs: [{url: 'http://x/'}]}]\n",
     "vigil.yml:2:15: notifiers.receivers[0]: name is required"},
    {"notifiers:\n  receivers: [{name: a, webhook_configs: [{send_resolved: true}]}]\n",
     "vigil.yml:2:43: notifiers.receivers[0].webhook_configs[0]: url is required"},
    {"notifiers:\n  receivers: [{name: a, webhook_configs: [{url: ftp://x}]}]\n",
     "vigil.yml:2:49: bad URL 'ftp://x' for notifiers.receivers[0].webhook_configs[0].url"},
    {"notifiers:\n  receivers: [{name: a, exec_configs: [{timeout: 1s}]}]\n",
     "vigil.yml:2:40: notifiers.receivers[0].exec_configs[0]: command is required"},
    {"notifiers:\n  receivers: [{name: a, exec_configs: [{command: []}]}]\n",
     "vigil.yml:2:50: notifiers.receivers[0].exec_configs[0].command must not be empty"},
    {"notifiers:\n  receivers: [{name: a, exec_configs: [{command: sh -c x}]}]\n",
     "vigil.yml:2:50: notifiers.receivers[0].exec_configs[0].command must be a list"},
    {"notifiers:\n  receivers: [{name: a, exec_configs: [{command: [x], env: {'A=B': c}}]}]\n",
     "vigil.yml:2:61: \"A=B\" is not a valid environment variable name"},
    {"notifiers:\n  receivers: [{name: a, slack_configs: []}]\n",
     "vigil.yml:2:25: 'slack_configs' in notifiers.receivers[0] is not supported by Vigil"},
    {"notifiers:\n  receivers: [{name: a, webhook_configs: [{url: 'http://x/', "
     "max_alerts: -1}]}]\n",
     "vigil.yml:2:74: bad number '-1' for notifiers.receivers[0].webhook_configs[0].max_alerts"},
    {"notifiers:\n  receivers: [{name: a}]\n  route: {receiver: a, group_by: ['...', job]}\n",
     "vigil.yml:3:34: notifiers.route.group_by: '...' groups by all labels and cannot be "
     "combined"},
    {"notifiers:\n  receivers: [{name: a}]\n  route: {receiver: a, group_by: [a-b]}\n",
     "vigil.yml:3:35: \"a-b\" is not a valid label name in notifiers.route.group_by"},
    {"notifiers:\n  receivers: [{name: a}]\n  route: {receiver: a, group_interval: 0s}\n",
     "vigil.yml:3:40: bad duration '0s' for notifiers.route.group_interval: use Prometheus "
     "syntax like 30s, 5m, 4h, greater than 0"},
    {"notifiers:\n  receivers: [{name: a}]\n  route:\n    receiver: a\n    routes:\n"
     "      - matchers: ['severity=~\"(\"']\n",
     "vigil.yml:6:20: notifiers.route.routes[0].matchers: bad regular expression"},
    {"notifiers:\n  receivers: [{name: a}]\n  route:\n    receiver: a\n    routes:\n"
     "      - match: {a: b}\n",
     "vigil.yml:6:9: 'match' in notifiers.route.routes[0] is not supported by Vigil"},
    {"notifiers:\n  receivers: [{name: a}]\n  route: {receiver: a, recevier: b}\n",
     "vigil.yml:3:24: unknown key 'recevier' in notifiers.route (did you mean 'receiver'?)"},
    {"notifiers:\n  outbox: {min_backoff: 10m}\n",
     "vigil.yml:2:3: notifiers.outbox: min_backoff is greater than max_backoff"},
    {"notifiers:\n  outbox: {max_age: x}\n",
     "vigil.yml:2:21: bad duration 'x' for notifiers.outbox.max_age"},
    {"notifiers:\n  inhibit_rules: []\n",
     "vigil.yml:2:3: 'inhibit_rules' in notifiers is not supported by Vigil"},
    {"notifiers:\n  route: {receiver: a}\n  route: {receiver: a}\n",
     "vigil.yml:3:3: duplicate key 'route' in notifiers"},
};

static void test_errors(void **state)
{
    (void)state;
    int failed = 0;
    for (size_t i = 0; i < sizeof errors / sizeof errors[0]; i++) {
        struct config c;
        struct config_errors e;
        int rc = parse(&c, errors[i].text, &e);
        if (rc != -EINVAL || !e.text || !strstr(e.text, errors[i].want)) {
            print_error("case %zu: want '%s', got rc %d:\n%s", i, errors[i].want, rc,
                        e.text ? e.text : "(no error)\n");
            failed++;
        }
        config_free(&c);
        config_errors_free(&e);
    }
    assert_int_equal(failed, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_matchers),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
