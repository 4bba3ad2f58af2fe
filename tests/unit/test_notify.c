/* test_notify.c — the notifier on a real loop with an exec receiver that
 * records each payload it gets: Alertmanager's grouping (group_wait,
 * group_interval, repeat_interval, resolved notifications, the group
 * leaving), the webhook v4 payload and the VIGIL_* environment, no repeat
 * after a restart within repeat_interval, retries with backoff, and a
 * notification left undelivered by a stop delivered exactly once by the
 * next start, a reload keeping or dropping queues, a hanging hook killed at
 * its timeout, and outbox.max_age. Every test ends with the loop closing clean. */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "config.h"
#include "httpc.h"
#include "notify.h"
#include "notify_int.h"
#include "selfmetrics.h"
#include "timefmt.h"

static char dir[64], out[96], failflag[96];
static uv_loop_t loop;
static struct httpc *hc;
static struct config cfg;
static struct notifier *cur;    /* running, for teardown after a failure */

/* A receiver (hook, or the name given) that records payloads unless the
 * FAIL file exists, and the outbox settings given. */
static const char yaml[] =
    "notifiers:\n"
    "  receivers:\n"
    "    - name: %s\n"
    "      exec_configs:\n"
    "        - command: [/bin/sh, -c, 'test -e \"$FAIL\" && exit 1; "
    "env | grep ^VIGIL_ | sort > \"$OUT/env\"; cat > \"$OUT/tmp\"; "
    "mv \"$OUT/tmp\" \"$OUT/$(date +%%s%%N).json\"']\n"
    "          env: {OUT: '%s', FAIL: '%s'}\n"
    "  route:\n"
    "    receiver: %s\n"
    "    group_by: [alertname]\n"
    "    group_wait: 100ms\n"
    "    group_interval: 400ms\n"
    "    repeat_interval: 2s\n"
    "  outbox: {%s}\n";

static void make_config(struct config *c, const char *receiver, const char *outbox)
{
    char text[2048];
    snprintf(text, sizeof text, yaml, receiver, out, failflag, receiver, outbox);
    struct config_errors e = {0};
    config_default(c);
    if (config_parse(c, "test.yml", text, strlen(text), &e) != 0)
        fail_msg("%s", e.text);
    config_errors_free(&e);
}

static void closed(void *arg)
{
    ++*(int *)arg;
}

static void stop(struct notifier *n)
{
    int done = 0;
    notifier_close(n, closed, &done);
    cur = NULL;
    while (!done)
        uv_run(&loop, UV_RUN_ONCE);
}

static int setup(void **state)
{
    (void)state;
    strcpy(dir, "/tmp/vigil_notify.XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    snprintf(out, sizeof out, "%s/out", dir);
    snprintf(failflag, sizeof failflag, "%s/fail", dir);
    mkdir(out, 0700);
    make_config(&cfg, "hook", "min_backoff: 50ms, max_backoff: 200ms");
    setenv("OUT", "/nonexistent", 1); /* the configured env must win */
    uv_loop_init(&loop);
    return httpc_new(&loop, &hc);
}

static int teardown(void **state)
{
    (void)state;
    int done = 0;
    if (cur)
        stop(cur);
    httpc_close(hc, closed, &done);
    while (!done)
        uv_run(&loop, UV_RUN_ONCE);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0); /* nothing left open */
    config_free(&cfg);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd);
}

static struct notifier *start(void)
{
    assert_int_equal(notifier_new(&loop, hc, &cfg.notify, dir, "http://vigil:9190", &cur), 0);
    return cur;
}

/* Runs the loop for ms milliseconds. */
static void run_for(int ms)
{
    int64_t end = timefmt_now_ms() + ms;
    while (timefmt_now_ms() < end) {
        uv_run(&loop, UV_RUN_NOWAIT);
        usleep(2000);
    }
}

static int count_payloads(void)
{
    DIR *d = opendir(out);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        n += strstr(e->d_name, ".json") != NULL;
    closedir(d);
    return n;
}

/* Runs the loop until there are want payloads and no delivery is
 * pending (at most ms). */
static int wait_payloads(int want, int ms)
{
    int64_t end = timefmt_now_ms() + ms;
    while ((count_payloads() < want || (cur && cur->nits && cur->its[0]->nq)) &&
           timefmt_now_ms() < end) {
        uv_run(&loop, UV_RUN_NOWAIT);
        usleep(2000);
    }
    return count_payloads();
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

/* The i-th payload received (in time order), parsed. */
static json_t *payload(int i)
{
    struct dirent **names;
    int n = scandir(out, &names, NULL, by_name), k = 0;
    json_t *doc = NULL;
    for (int j = 0; j < n; j++) {
        if (strstr(names[j]->d_name, ".json") && k++ == i) {
            char path[512];
            snprintf(path, sizeof path, "%s/%s", out, names[j]->d_name);
            doc = json_load_file(path, 0, NULL);
        }
        free(names[j]);
    }
    free(names);
    assert_non_null(doc);
    return doc;
}

static void send_alert(struct notifier *n, const char *name, const char *instance, int resolved)
{
    struct tsdb_label l[] = {{"alertname", name}, {"instance", instance}, {"severity", "page"}};
    struct tsdb_label an[] = {{"summary", "down"}};
    struct tsdb_labels ls = {3, l}, as = {1, an};
    int64_t now = timefmt_now_ms();
    struct alert_notification a = {&ls, &as, 1700000000000, resolved ? now : now + 600000,
                                   resolved, "http://vigil:9190/graph?g0.expr=up"};
    notifier_send(n, &a, 1, now);
}

static const char *str(json_t *o, const char *path)
{
    return json_string_value(json_object_get(o, path));
}

static void test_grouping(void **state)
{
    (void)state;
    struct notifier *n = start();
    send_alert(n, "Down", "a", 0);
    run_for(50);
    assert_int_equal(count_payloads(), 0); /* group_wait */
    assert_int_equal(wait_payloads(1, 2000), 1);
    json_t *p = payload(0);
    assert_string_equal(str(p, "version"), "4");
    assert_string_equal(str(p, "status"), "firing");
    assert_string_equal(str(p, "receiver"), "hook");
    assert_string_equal(str(p, "groupKey"), "{}:{\"alertname\":\"Down\"}");
    assert_string_equal(str(p, "externalURL"), "http://vigil:9190");
    assert_int_equal(json_integer_value(json_object_get(p, "truncatedAlerts")), 0);
    assert_string_equal(str(json_object_get(p, "groupLabels"), "alertname"), "Down");
    assert_string_equal(str(json_object_get(p, "commonLabels"), "instance"), "a");
    assert_string_equal(str(json_object_get(p, "commonAnnotations"), "summary"), "down");
    json_t *a = json_array_get(json_object_get(p, "alerts"), 0);
    assert_string_equal(str(a, "status"), "firing");
    assert_string_equal(str(a, "startsAt"), "2023-11-14T22:13:20Z");
    assert_string_equal(str(a, "endsAt"), "0001-01-01T00:00:00Z");
    assert_string_equal(str(a, "generatorURL"), "http://vigil:9190/graph?g0.expr=up");
    assert_int_equal(strlen(str(a, "fingerprint")), 16);
    assert_string_equal(str(json_object_get(a, "labels"), "severity"), "page");
    json_decref(p);
    char env[512], path[128];
    snprintf(path, sizeof path, "%s/env", out);
    FILE *f = fopen(path, "r");
    size_t len = fread(env, 1, sizeof env - 1, f);
    env[len] = '\0';
    fclose(f);
    assert_non_null(strstr(env, "VIGIL_ALERTS=1\n"));
    assert_non_null(strstr(env, "VIGIL_GROUP_KEY={}:{\"alertname\":\"Down\"}\n"));
    assert_non_null(strstr(env, "VIGIL_RECEIVER=hook\n"));
    assert_non_null(strstr(env, "VIGIL_STATUS=firing\n"));

    /* A second alert of the group waits for group_interval. */
    send_alert(n, "Down", "b", 0);
    run_for(150);
    assert_int_equal(count_payloads(), 1);
    assert_int_equal(wait_payloads(2, 2000), 2);
    p = payload(1);
    assert_int_equal(json_array_size(json_object_get(p, "alerts")), 2);
    assert_null(json_object_get(json_object_get(p, "commonLabels"), "instance"));
    json_decref(p);

    /* Unchanged alerts re-sent by the rules: nothing before repeat_interval. */
    send_alert(n, "Down", "a", 0);
    send_alert(n, "Down", "b", 0);
    run_for(900);
    assert_int_equal(count_payloads(), 2);

    /* One resolves: the group still fires and says so. */
    send_alert(n, "Down", "a", 1);
    assert_int_equal(wait_payloads(3, 2000), 3);
    p = payload(2);
    assert_string_equal(str(p, "status"), "firing");
    json_t *alerts = json_object_get(p, "alerts");
    assert_int_equal(json_array_size(alerts), 2);
    int resolved = 0;
    for (size_t i = 0; i < 2; i++)
        resolved += strcmp(str(json_array_get(alerts, i), "status"), "resolved") == 0;
    assert_int_equal(resolved, 1);
    json_decref(p);

    /* The last one resolves: a resolved notification, then the group is gone. */
    send_alert(n, "Down", "b", 1);
    assert_int_equal(wait_payloads(4, 2000), 4);
    p = payload(3);
    assert_string_equal(str(p, "status"), "resolved");
    assert_int_equal(json_array_size(json_object_get(p, "alerts")), 1);
    a = json_array_get(json_object_get(p, "alerts"), 0);
    assert_string_not_equal(str(a, "endsAt"), "0001-01-01T00:00:00Z");
    json_decref(p);
    assert_int_equal(n->ngroups, 0);
    run_for(500);
    assert_int_equal(count_payloads(), 4);
    stop(n);
}

static void test_restart_does_not_repeat(void **state)
{
    (void)state;
    struct notifier *n = start();
    send_alert(n, "Disk", "a", 0);
    assert_int_equal(wait_payloads(1, 2000), 1);
    stop(n);
    n = start();
    send_alert(n, "Disk", "a", 0); /* the rules re-send after their restart */
    run_for(700);
    assert_int_equal(count_payloads(), 1);
    /* ... until repeat_interval (2s) has passed since the notification. */
    assert_int_equal(wait_payloads(2, 3000), 2);
    stop(n);
}

static void test_retry_and_outbox(void **state)
{
    (void)state;
    FILE *f = fopen(failflag, "w");
    fclose(f);
    struct notifier *n = start();
    send_alert(n, "Net", "a", 0);
    run_for(700); /* group_wait, then failing attempts with backoff */
    assert_int_equal(count_payloads(), 0);
    assert_true(n->its[0]->failed >= 2);
    assert_int_equal(n->its[0]->nq, 1);
    unlink(failflag);
    assert_int_equal(wait_payloads(1, 2000), 1);
    assert_int_equal(n->its[0]->nq, 0);
    stop(n);

    /* Stopped while the receiver fails: the next start delivers it once. */
    f = fopen(failflag, "w");
    fclose(f);
    n = start();
    send_alert(n, "Net2", "a", 0);
    run_for(300);
    assert_int_equal(count_payloads(), 1);
    stop(n);
    unlink(failflag);
    n = start();
    assert_int_equal(wait_payloads(2, 2000), 2);
    run_for(500);
    assert_int_equal(count_payloads(), 2);
    json_t *p = payload(1);
    assert_string_equal(str(json_object_get(p, "groupLabels"), "alertname"), "Net2");
    json_decref(p);
    stop(n);
}

static void touch(const char *path)
{
    FILE *f = fopen(path, "w");
    fclose(f);
}

static void test_reload(void **state)
{
    (void)state;
    touch(failflag);
    struct notifier *n = start();
    send_alert(n, "Reload", "a", 0);
    run_for(300);
    assert_int_equal(n->nits, 1);
    assert_int_equal(n->its[0]->nq, 1);
    /* The same receivers: the queue is kept. */
    assert_int_equal(notifier_reload(n, &cfg.notify), 0);
    assert_int_equal(n->its[0]->nq, 1);
    /* The receiver renamed: its queue is dropped; the alert, routed again,
     * goes to the new receiver. */
    struct config c2;
    make_config(&c2, "other", "min_backoff: 50ms");
    unlink(failflag);
    assert_int_equal(notifier_reload(n, &c2.notify), 0);
    config_free(&c2);
    assert_string_equal(n->its[0]->receiver, "other");
    assert_int_equal(n->dropped_unknown, 1);
    assert_int_equal(wait_payloads(1, 2000), 1);
    json_t *p = payload(0);
    assert_string_equal(str(p, "receiver"), "other");
    json_decref(p);
    stop(n);
    size_t np;
    struct outbox *ob;
    char nd[96];
    snprintf(nd, sizeof nd, "%s/notify", dir);
    assert_int_equal(outbox_open(nd, 0, &ob, NULL), 0);
    outbox_pending(ob, &np);
    assert_int_equal(np, 0); /* nothing left to deliver */
    outbox_close(ob);
}

static void test_timeout_and_max_age(void **state)
{
    (void)state;
    struct config c2;
    make_config(&c2, "hook", "min_backoff: 50ms, max_backoff: 300ms, max_age: 1500ms");
    free(c2.notify.receivers[0].execs[0].argv[2]); /* a hook that hangs */
    c2.notify.receivers[0].execs[0].argv[2] = strdup("sleep 5");
    c2.notify.receivers[0].execs[0].timeout_ms = 200;
    assert_int_equal(notifier_new(&loop, hc, &c2.notify, dir, "", &cur), 0);
    struct notifier *n = cur;
    send_alert(n, "Slow", "a", 0);
    run_for(800); /* group_wait, then killed after 200ms, retried */
    assert_true(n->its[0]->failed >= 1);
    assert_int_equal(n->its[0]->nq, 1);
    assert_int_equal(n->its[0]->sent, 0);
    run_for(1500); /* older than max_age: given up */
    /* (repeat_interval, 2s, may have queued the next notification since) */
    assert_true(n->its[0]->nq == 0 || n->its[0]->q[0].id > 1);
    assert_int_equal(n->its[0]->dropped, 1);
    assert_int_equal(count_payloads(), 0);
    stop(n);
    config_free(&c2);
}

static void test_missing_program(void **state)
{
    (void)state;
    struct config c2;
    make_config(&c2, "hook", "min_backoff: 50ms, max_backoff: 100ms");
    free(c2.notify.receivers[0].execs[0].argv[0]);
    c2.notify.receivers[0].execs[0].argv[0] = strdup("/nonexistent/vigil-hook");
    assert_int_equal(notifier_new(&loop, hc, &c2.notify, dir, "", &cur), 0);
    struct notifier *n = cur;
    send_alert(n, "Missing", "a", 0);
    run_for(500);
    assert_true(n->its[0]->failed >= 2); /* retried, and vigild still alive */
    assert_int_equal(n->its[0]->sent, 0);
    assert_int_equal(n->its[0]->nq, 1);
    stop(n);
    config_free(&c2);
}

/* The value of the sample of the series starting with prefix in n's
 * self-metrics, or -1. */
static double metric(struct notifier *n, const char *prefix)
{
    struct selfmetrics sm;
    struct http_buf b = {0};
    sm_init(&sm);
    notifier_collect(n, &sm);
    assert_int_equal(sm_render(&sm, &b), 0);
    double v = -1;
    for (char *line = b.p; line && line < b.p + b.len; line = strchr(line, '\n')) {
        line += *line == '\n';
        if (strncmp(line, prefix, strlen(prefix)) == 0) {
            v = strtod(strchr(line, ' ') + 1, NULL);
            break;
        }
    }
    http_buf_free(&b);
    sm_free(&sm);
    return v;
}

static void test_alertmanager_queue(void **state)
{
    (void)state;
    struct config c2;
    struct config_errors e = {0};
    static const char text[] =
        "alerting:\n  alertmanagers: [{static_configs: [{targets: ['127.0.0.1:1']}]}]\n";
    config_default(&c2);
    assert_int_equal(config_parse(&c2, "t.yml", text, strlen(text), &e), 0);
    assert_int_equal(notifier_new(&loop, hc, &c2.notify, dir, "", &cur), 0);
    struct notifier *n = cur;
    enum { N = 10100 };
    static struct alert_notification a[N];
    static struct tsdb_label l[N][1];
    static struct tsdb_labels ls[N];
    static char names[N][16];
    struct tsdb_labels none = {0, NULL};
    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof names[i], "A%d", i);
        l[i][0] = (struct tsdb_label){"alertname", names[i]};
        ls[i] = (struct tsdb_labels){1, l[i]};
        a[i] = (struct alert_notification){&ls[i], &none, 1000, 2000, 0, NULL};
    }
    notifier_send(n, a, N, timefmt_now_ms());
    /* 10,000 fit; the oldest 100 were dropped; 64 went out as a batch. */
    assert_true(metric(n, "vigil_alertmanager_notifications_dropped_total ") == 100);
    assert_true(metric(n, "vigil_alertmanager_notifications_queue_length ") == 10000 - 64);
    assert_true(metric(n, "vigil_alertmanagers_discovered ") == 1);
    /* Nobody listens: every batch fails and is dropped, counted. */
    int64_t end = timefmt_now_ms() + 20000;
    while (metric(n, "vigil_alertmanager_notifications_queue_length ") > 0 &&
           timefmt_now_ms() < end)
        uv_run(&loop, UV_RUN_ONCE);
    run_for(200);
    assert_true(metric(n, "vigil_alertmanager_notifications_queue_length ") == 0);
    assert_true(metric(n, "vigil_alertmanager_notifications_dropped_total ") == N);
    assert_true(metric(n, "vigil_alertmanager_notifications_errors_total{alertmanager="
                          "\"http://127.0.0.1:1/api/v2/alerts\"} ") == 10000);
    stop(n);
    config_free(&c2);
}

static void test_fingerprint_and_time(void **state)
{
    (void)state;
    /* The value of prometheus/common's model signature tests. */
    json_t *ls = json_pack("{s:s, s:s}", "fear", "love is not enough", "name", "garland, briggs");
    assert_true(notify__fingerprint(ls) == 5799056148416392346ull);
    json_decref(ls);
    char buf[40];
    notify__format_time(1700000000250, buf);
    assert_string_equal(buf, "2023-11-14T22:13:20.25Z");
    notify__format_time(1700000000001, buf);
    assert_string_equal(buf, "2023-11-14T22:13:20.001Z");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fingerprint_and_time),
        cmocka_unit_test_setup_teardown(test_grouping, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restart_does_not_repeat, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retry_and_outbox, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reload, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timeout_and_max_age, setup, teardown),
        cmocka_unit_test_setup_teardown(test_alertmanager_queue, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_program, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
