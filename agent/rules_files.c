/* rules_files.c — which rule files vigild loads: the rule_files globs of
 * the configuration (relative to the config file's directory) plus the
 * built-in groups it enables, written to DATA_DIR/rules/builtin.yml so that
 * they load, show and reload like any rule file (see rules_mgr.h). */
#include "rules_mgr.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

#define BUILTIN_FILE "builtin.yml"

/* The built-in groups (rules.watchdog, rules.self_monitoring); documented
 * in docs/alerting.md. */
static const char watchdog_yaml[] =
    "  - name: vigil-builtin\n"
    "    rules:\n"
    "      - alert: Watchdog\n"
    "        expr: vector(1)\n"
    "        labels:\n"
    "          severity: none\n"
    "        annotations:\n"
    "          summary: 'An alert that should always be firing to certify that the alerting"
    " pipeline is functional.'\n"
    "          description: 'This alert is always firing. If it stops reaching a receiver,"
    " vigild, its rule evaluation or the notification path is broken. Route it to a"
    " dead man''s switch.'\n";

static const char self_yaml[] =
    "  - name: vigil-self\n"
    "    interval: 30s\n"
    "    rules:\n"
    "      - record: vigil:tsdb_samples_appended:rate5m\n"
    "        expr: rate(vigil_tsdb_samples_appended_total[5m])\n"
    "      - alert: VigilConfigReloadFailed\n"
    "        expr: vigil_config_last_reload_successful == 0\n"
    "        for: 5m\n"
    "        labels:\n"
    "          severity: warning\n"
    "        annotations:\n"
    "          summary: 'vigild runs an older configuration: the last reload failed.'\n"
    "      - alert: VigilRuleEvaluationFailures\n"
    "        expr: increase(vigil_rule_evaluation_failures_total[5m]) > 0\n"
    "        for: 5m\n"
    "        labels:\n"
    "          severity: warning\n"
    "        annotations:\n"
    "          summary: 'Rules of group {{ $labels.rule_group }} fail to evaluate.'\n"
    "      - alert: VigilRuleGroupIterationsMissed\n"
    "        expr: increase(vigil_rule_group_iterations_missed_total[10m]) > 0\n"
    "        labels:\n"
    "          severity: warning\n"
    "        annotations:\n"
    "          summary: 'Rule group {{ $labels.rule_group }} is slower than its interval.'\n"
    "      - alert: VigilSamplesRejected\n"
    "        expr: increase(vigil_tsdb_samples_rejected_total[5m]) > 0\n"
    "        for: 15m\n"
    "        labels:\n"
    "          severity: warning\n"
    "        annotations:\n"
    "          summary: 'The store rejects samples ({{ $labels.reason }}).'\n"
    "      - alert: VigilStatsdKernelDrops\n"
    "        expr: increase(vigil_statsd_udp_kernel_drops_total[5m]) > 0\n"
    "        for: 5m\n"
    "        labels:\n"
    "          severity: warning\n"
    "        annotations:\n"
    "          summary: 'The kernel drops statsd datagrams; raise statsd.receive_buffer_bytes.'\n"
    "      - alert: VigilNotificationsFailing\n"
    "        expr: increase(vigil_notifications_failed_total[5m]) > 0\n"
    "        for: 10m\n"
    "        labels:\n"
    "          severity: warning\n"
    "        annotations:\n"
    "          summary: 'Deliveries to {{ $labels.receiver }} ({{ $labels.integration }}) keep"
    " failing; they are retried from the outbox.'\n"
    "      - alert: VigilNotificationsDropped\n"
    "        expr: increase(vigil_notifications_dropped_total[15m]) > 0\n"
    "        labels:\n"
    "          severity: warning\n"
    "        annotations:\n"
    "          summary: 'vigild gave notifications up (outbox max_age, a 4xx answer, or a"
    " removed receiver).'\n";

/* Writes text to path unless it already holds exactly that. */
static int write_if_changed(const char *path, const char *text)
{
    size_t len = strlen(text);
    FILE *f = fopen(path, "r");
    if (f) {
        char *old = malloc(len + 2);
        size_t got = old ? fread(old, 1, len + 1, f) : 0;
        int same = old && got == len && memcmp(old, text, len) == 0;
        free(old);
        fclose(f);
        if (same)
            return 0;
    }
    char tmp[CONFIG_PATH_MAX + 64];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    f = fopen(tmp, "w");
    if (!f)
        return -errno;
    int ok = fwrite(text, 1, len, f) == len;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        int rc = errno ? -errno : -EIO;
        unlink(tmp);
        return rc;
    }
    return 0;
}

/* Writes builtin_dir/builtin.yml with the groups cfg enables into path.
 * @return 1 if there is one, 0 if none is enabled, or -errno. */
static int write_builtin(const struct config *cfg, const char *builtin_dir, char *path,
                         size_t cap)
{
    if (!cfg->rules_watchdog && !cfg->rules_self)
        return 0;
    if (mkdir(builtin_dir, 0755) != 0 && errno != EEXIST)
        return -errno;
    snprintf(path, cap, "%s/%s", builtin_dir, BUILTIN_FILE);
    char text[sizeof watchdog_yaml + sizeof self_yaml + 128];
    snprintf(text, sizeof text, "# written by vigild from rules.watchdog and "
             "rules.self_monitoring; edits are overwritten\ngroups:\n%s%s",
             cfg->rules_watchdog ? watchdog_yaml : "", cfg->rules_self ? self_yaml : "");
    int rc = write_if_changed(path, text);
    return rc ? rc : 1;
}

int rules_mgr_load(const struct config *cfg, const char *config_path, const char *builtin_dir,
                   struct rule_set *out, char **errors)
{
    *errors = NULL;
    memset(out, 0, sizeof *out);
    size_t dirlen = 0;
    const char *slash = config_path ? strrchr(config_path, '/') : NULL;
    if (slash)
        dirlen = (size_t)(slash - config_path) + 1;
    char **globs = calloc(cfg->nrule_files + 1, sizeof *globs);
    size_t n = 0;
    int rc = globs ? 0 : -ENOMEM;
    for (size_t i = 0; rc == 0 && i < cfg->nrule_files; i++) {
        const char *g = cfg->rule_files[i];
        size_t pre = g[0] == '/' ? 0 : dirlen;
        if (!(globs[n] = malloc(pre + strlen(g) + 1)))
            rc = -ENOMEM;
        else
            sprintf(globs[n++], "%.*s%s", (int)pre, config_path, g);
    }
    char builtin[CONFIG_PATH_MAX + 32];
    if (rc == 0 && builtin_dir) {
        int b = write_builtin(cfg, builtin_dir, builtin, sizeof builtin);
        if (b < 0)
            vlog(VLOG_ERROR, "cannot write the built-in rule file", "dir=%s err=%s",
                 builtin_dir, strerror(-b));
        else if (b && !(globs[n++] = strdup(builtin)))
            rc = -ENOMEM;
    }
    if (rc == 0)
        rc = rules_load((const char *const *)globs, n, cfg->scrape.global.evaluation_interval_ms,
                        out, errors);
    for (size_t i = 0; globs && i < n; i++)
        free(globs[i]);
    free(globs);
    return rc;
}
