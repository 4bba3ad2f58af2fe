/* test_file_sd.c — file-based service discovery: the JSON and YAML parsers
 * (table-driven, valid and invalid), and the watcher on a real loop over a
 * temporary directory: first read, rewrite picked up within a bound, a
 * broken file keeping its old targets, globs over several files, removed
 * and missing files, file_sd_refresh. Ends with the loop closing clean. */
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

#include "file_sd.h"

/* "source|t1,t2|name=value,...;" per group: what the tests compare. */
static char *summary(const struct file_sd_group *g, size_t n)
{
    size_t cap = 256, len = 0;
    char *s = malloc(cap);
    s[0] = '\0';
#define PUT(...)                                                                     \
    do {                                                                             \
        int k_ = snprintf(NULL, 0, __VA_ARGS__);                                     \
        while (len + (size_t)k_ + 1 > cap)                                           \
            s = realloc(s, cap *= 2);                                                \
        len += (size_t)snprintf(s + len, cap - len, __VA_ARGS__);                    \
    } while (0)
    for (size_t i = 0; i < n; i++) {
        PUT("%s|", g[i].source);
        for (size_t j = 0; j < g[i].ntargets; j++)
            PUT("%s%s", j ? "," : "", g[i].targets[j]);
        PUT("|");
        for (size_t j = 0; j < g[i].nlabels; j++)
            PUT("%s%s=%s", j ? "," : "", g[i].labels[j].name, g[i].labels[j].value);
        PUT(";");
    }
#undef PUT
    return s;
}

static void test_parse_valid(void **state)
{
    (void)state;
    static const struct {
        const char *path, *text, *want;
    } cases[] = {
        {"t.json",
         "[{\"targets\": [\"a:9100\", \"b:9100\"], \"labels\": {\"env\": \"prod\", \"job\": \"n\"}},"
         " {\"targets\": [\"c:1\"]}]",
         "t.json:0|a:9100,b:9100|__meta_filepath=t.json,env=prod,job=n;"
         "t.json:1|c:1|__meta_filepath=t.json;"},
        {"t.json", "[]", ""},
        {"t.json", "null", ""},
        {"t.json", "[{\"targets\": null, \"labels\": null}]", "t.json:0||__meta_filepath=t.json;"},
        {"t.json", "[{\"targets\": [\"x:1\"], \"labels\": {\"__meta_filepath\": \"fake\"}}]",
         "t.json:0|x:1|__meta_filepath=t.json;"},
        {"d/t.yml",
         "- targets: ['a:1', b:2]\n  labels:\n    zone: eu\n    port: 80\n"
         "- labels: {a: \"\"}\n  targets:\n  - c:3\n",
         "d/t.yml:0|a:1,b:2|__meta_filepath=d/t.yml,port=80,zone=eu;"
         "d/t.yml:1|c:3|__meta_filepath=d/t.yml,a=;"},
        {"t.yaml", "", ""},
        {"t.yaml", "# nothing yet\n", ""},
        {"t.yaml", "~\n", ""},
        {"t.yaml", "- targets: []\n", "t.yaml:0||__meta_filepath=t.yaml;"},
        {"t.yaml", "- targets: [x:1]\n  labels:\n", "t.yaml:0|x:1|__meta_filepath=t.yaml;"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct file_sd_group *g = (void *)1;
        size_t n = 99;
        char err[256];
        int rc = file_sd_parse(cases[i].path, cases[i].text, strlen(cases[i].text), &g, &n, err,
                               sizeof err);
        if (rc)
            fail_msg("case %zu: %d %s", i, rc, err);
        char *s = summary(g, n);
        if (strcmp(s, cases[i].want) != 0)
            fail_msg("case %zu:\n got %s\nwant %s", i, s, cases[i].want);
        if (!n)
            assert_null(g);
        free(s);
        file_sd_groups_free(g, n);
    }
}

static void test_parse_invalid(void **state)
{
    (void)state;
    static const struct {
        const char *path, *text, *want;
    } cases[] = {
        {"t.json", "", "t.json:1:0: "},
        {"t.json", "[{\"targets\": [\"a\"]},\n {\"targets\": [\"b\"}]", "t.json:2:"},
        {"t.json", "{\"targets\": []}", "t.json: want a list of target groups"},
        {"t.json", "[{\"targets\": [\"a\", 1]}]", "t.json: group 0: targets[1] is not a string"},
        {"t.json", "[{}, {\"target\": []}]", "t.json: group 1: unknown key \"target\""},
        {"t.json", "[{\"labels\": {\"1x\": \"v\"}}]", "t.json: group 0: invalid label name \"1x\""},
        {"t.json", "[{\"labels\": {\"a\": 1}}]", "t.json: group 0: label a is not a string"},
        {"t.json", "[{\"labels\": {\"a\": \"1\", \"a\": \"2\"}}]", "t.json:1:"},
        {"t.json", "[{\"targets\": [\"a\\u0000b\"]}]", "t.json:1:"},
        {"t.json", "[3]", "t.json: group 0: not an object"},
        {"t.yml", "- targets: [a:1\n- labels: {}\n", "t.yml:2:"},
        {"t.yml", "- targets: [a]\n  labels:\n    ok: 1\n    bad-name: 2\n",
         "t.yml:4:5: group 0: invalid label name \"bad-name\""},
        {"t.yml", "- targets: [a]\n- targets: [b]\n  lables: {}\n",
         "t.yml:3:3: unknown key \"lables\""},
        {"t.yml", "- targets: a:1\n", "t.yml:1:12: targets is not a list"},
        {"t.yml", "- targets: [[a]]\n", "t.yml:1:13: target is not a string"},
        {"t.yml", "- labels: {a: [1]}\n", "t.yml:1:15: label a: value is not a string"},
        {"t.yml", "- labels: {a: 1, a: 2}\n", "t.yml:1:18: group 0: label a given twice"},
        {"t.yml", "- targets: [a]\n  targets: [b]\n", "t.yml:2:3: key targets given twice"},
        {"t.yml", "targets: [a]\n", "t.yml:1:1: want a list of target groups"},
        {"t.yml", "- \"\\xff\"\n", "t.yml:1:3: target group is not a mapping"},
        {"t.txt", "[]", "t.txt: unknown file extension"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct file_sd_group *g = NULL;
        size_t n = 0;
        char err[256];
        int rc = file_sd_parse(cases[i].path, cases[i].text, strlen(cases[i].text), &g, &n, err,
                               sizeof err);
        if (rc != -EINVAL || strncmp(err, cases[i].want, strlen(cases[i].want)) != 0)
            fail_msg("case %zu: rc %d err \"%s\", want \"%s\"", i, rc, err, cases[i].want);
    }
}

/* ---- the watcher on a loop ---------------------------------------------- */

struct ctx {
    int updates;
    char *snap;
};

static void on_update(void *arg, const struct file_sd_group *g, size_t n)
{
    struct ctx *c = arg;
    c->updates++;
    free(c->snap);
    c->snap = summary(g, n);
}

static void tick(uv_timer_t *t)
{
    (void)t;
}

/* Runs the loop until *flag differs from old or timeout_ms pass.
 * @return 1 when it changed. */
static int wait_change(uv_loop_t *loop, const int *flag, int old, uint64_t timeout_ms)
{
    uv_update_time(loop);
    uint64_t end = uv_now(loop) + timeout_ms;
    while (*flag == old && uv_now(loop) < end)
        uv_run(loop, UV_RUN_ONCE);
    return *flag != old;
}

static void write_file(const char *dir, const char *name, const char *text)
{
    /* Write then rename, as config management tools do. */
    char tmp[512], path[512];
    snprintf(tmp, sizeof tmp, "%s/.%s.tmp", dir, name);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(tmp, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(rename(tmp, path), 0);
}

static void closed(void *arg)
{
    *(int *)arg = 1;
}

static void test_watch(void **state)
{
    (void)state;
    char dir[] = "/tmp/vigil-file-sd-XXXXXX";
    assert_non_null(mkdtemp(dir));
    write_file(dir, "a.json", "[{\"targets\": [\"a:1\"]}]");
    write_file(dir, "b.yml", "- targets: [b:1]\n  labels: {team: x}\n");
    write_file(dir, "c.txt", "ignored");
    char g1[300], g2[300], g3[300], want[1024];
    snprintf(g1, sizeof g1, "%s/*.json", dir);
    snprintf(g2, sizeof g2, "%s/*.yml", dir);
    snprintf(g3, sizeof g3, "%s/missing/*.json", dir);
    const char *globs[] = {g1, g2, g3, g1};

    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    uv_timer_t wake;  /* keeps UV_RUN_ONCE from sleeping for the whole refresh */
    uv_timer_init(&loop, &wake);
    uv_timer_start(&wake, tick, 20, 20);
    struct ctx c = {0};
    struct file_sd *sd;
    assert_int_equal(file_sd_start(&loop, globs, 4, 0, on_update, &c, &sd), 0);
    assert_int_equal(c.updates, 1);
    snprintf(want, sizeof want,
             "%s/a.json:0|a:1|__meta_filepath=%s/a.json;"
             "%s/b.yml:0|b:1|__meta_filepath=%s/b.yml,team=x;", dir, dir, dir, dir);
    assert_string_equal(c.snap, want);

    /* A rewrite is seen within a bounded time (directory events). */
    write_file(dir, "a.json", "[{\"targets\": [\"a:2\", \"a:3\"]}]");
    assert_true(wait_change(&loop, &c.updates, 1, 2000));
    snprintf(want, sizeof want,
             "%s/a.json:0|a:2,a:3|__meta_filepath=%s/a.json;"
             "%s/b.yml:0|b:1|__meta_filepath=%s/b.yml,team=x;", dir, dir, dir, dir);
    assert_string_equal(c.snap, want);

    /* A broken file keeps its targets; the error is counted with file:line. */
    int updates = c.updates;
    write_file(dir, "b.yml", "- targets: [b:1\n  labels: {team: x}\n");
    uint64_t errors = file_sd_read_errors(sd);
    for (int i = 0; i < 100 && file_sd_read_errors(sd) == errors; i++)
        wait_change(&loop, &c.updates, updates, 20);
    assert_true(file_sd_read_errors(sd) > errors);
    char where[300];
    snprintf(where, sizeof where, "%s/b.yml:2:", dir);
    if (strncmp(file_sd_last_error(sd), where, strlen(where)) != 0)
        fail_msg("last error: %s", file_sd_last_error(sd));
    assert_int_equal(c.updates, updates);
    assert_string_equal(c.snap, want);

    /* A new file matching a glob, and the broken one fixed. */
    write_file(dir, "b.yml", "- targets: [b:9]\n");
    write_file(dir, "0.json", "[{\"targets\": [\"z:1\"], \"labels\": {\"k\": \"v\"}}]");
    for (int i = 0; i < 100 && !strstr(c.snap, "z:1") | !strstr(c.snap, "b:9"); i++)
        wait_change(&loop, &c.updates, c.updates, 20);
    snprintf(want, sizeof want,
             "%s/0.json:0|z:1|__meta_filepath=%s/0.json,k=v;"
             "%s/a.json:0|a:2,a:3|__meta_filepath=%s/a.json;"
             "%s/b.yml:0|b:9|__meta_filepath=%s/b.yml;", dir, dir, dir, dir, dir, dir);
    assert_string_equal(c.snap, want);

    /* A removed file takes its targets away; file_sd_refresh re-reads at once. */
    char path[512];
    snprintf(path, sizeof path, "%s/a.json", dir);
    assert_int_equal(unlink(path), 0);
    file_sd_refresh(sd);
    snprintf(want, sizeof want,
             "%s/0.json:0|z:1|__meta_filepath=%s/0.json,k=v;"
             "%s/b.yml:0|b:9|__meta_filepath=%s/b.yml;", dir, dir, dir, dir);
    assert_string_equal(c.snap, want);
    updates = c.updates;
    file_sd_refresh(sd);   /* nothing changed: no update */
    assert_int_equal(c.updates, updates);

    int done = 0;
    file_sd_stop(sd, closed, &done);
    uv_close((uv_handle_t *)&wake, NULL);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_true(done);
    assert_int_equal(uv_loop_close(&loop), 0);
    free(c.snap);
    const char *names[] = {"0.json", "b.yml", "c.txt"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        unlink(path);
    }
    assert_int_equal(rmdir(dir), 0);
}

static void test_missing_files(void **state)
{
    (void)state;
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    const char *globs[] = {"/nonexistent-vigil/*.json", "/nonexistent-vigil/t.yml",
                           "/tmp/*/nope-vigil-*.yaml"};
    struct ctx c = {0};
    struct file_sd *sd;
    assert_int_equal(file_sd_start(&loop, globs, 3, 1000, on_update, &c, &sd), 0);
    assert_int_equal(c.updates, 1);
    assert_string_equal(c.snap, "");
    assert_int_equal(file_sd_read_errors(sd), 0);
    assert_string_equal(file_sd_last_error(sd), "");
    int done = 0;
    file_sd_stop(sd, closed, &done);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_true(done);
    assert_int_equal(uv_loop_close(&loop), 0);
    free(c.snap);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_valid),
        cmocka_unit_test(test_parse_invalid),
        cmocka_unit_test(test_watch),
        cmocka_unit_test(test_missing_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
