/* rules_api.c — GET /api/v1/rules and /api/v1/alerts over the running rule
 * set, in Prometheus' JSON shapes (web/api/v1: RuleDiscovery, RuleGroup,
 * AlertingRule, RecordingRule, AlertDiscovery, Alert), field order
 * included. Answered on the loop thread, which owns the rule set. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "api.h"
#include "output.h"
#include "rules_mgr.h"

/* The request's filters (Prometheus' names). */
struct filters {
    const struct api_form *f;
    int records, alerts, exclude_alerts;
};

/* 1 if no parameter named name was given, or one of them equals value. */
static int param_allows(const struct api_form *f, const char *name, const char *value)
{
    int given = 0;
    for (size_t i = 0; i < f->len; i++)
        if (strcmp(f->v[i].name, name) == 0) {
            if (strcmp(f->v[i].value, value) == 0)
                return 1;
            given = 1;
        }
    return !given;
}

/* Go's time.Time JSON: RFC 3339 with the fraction's trailing zeros cut;
 * Go's zero time for "never". UTC. */
static int put_time(struct http_buf *b, int64_t ms)
{
    if (ms <= 0)
        return http_buf_printf(b, "\"0001-01-01T00:00:00Z\"");
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    char buf[48], frac[8] = "";
    gmtime_r(&s, &tm);
    strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    if (ms % 1000) {
        snprintf(frac, sizeof frac, ".%03d", (int)(ms % 1000));
        for (size_t n = strlen(frac); frac[n - 1] == '0'; n--)
            frac[n - 1] = '\0';
    }
    return http_buf_printf(b, "\"%s%sZ\"", buf, frac);
}

static int put_number(struct http_buf *b, double v)
{
    char buf[40];
    output_format_value(v, buf, sizeof buf);
    return http_buf_printf(b, "%s", buf);
}

/* An alert's value as Prometheus gives it: strconv.FormatFloat(v, 'e', -1,
 * 64), the shortest digits that round-trip ("1e+00", "2.5e-01"). */
static int put_value_e(struct http_buf *b, double v)
{
    char e[40];
    if (isnan(v) || isinf(v)) {
        output_format_value(v, e, sizeof e);
        return http_buf_printf(b, "\"%s\"", e);
    }
    for (int prec = 0; prec < 17; prec++) {
        snprintf(e, sizeof e, "%.*e", prec, v);
        if (strtod(e, NULL) == v)
            break;
    }
    return http_buf_printf(b, "\"%s\"", e);
}

static int label_ptr_cmp(const void *x, const void *y)
{
    return strcmp((*(const struct tsdb_label *const *)x)->name,
                  (*(const struct tsdb_label *const *)y)->name);
}

/* A label set as a JSON object with keys sorted, as Go marshals a map. */
static int put_labels(struct http_buf *b, const struct tsdb_label *l, size_t n)
{
    const struct tsdb_label **s = calloc(n + 1, sizeof *s);
    if (!s)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++)
        s[i] = &l[i];
    qsort(s, n, sizeof *s, label_ptr_cmp);
    int rc = http_buf_append(b, "{", 1);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (i)
            rc = http_buf_append(b, ",", 1);
        if (rc == 0)
            rc = api_json_string(b, s[i]->name);
        if (rc == 0)
            rc = http_buf_append(b, ":", 1);
        if (rc == 0)
            rc = api_json_string(b, s[i]->value);
    }
    free(s);
    return rc ? rc : http_buf_append(b, "}", 1);
}

/* {"labels","annotations","state","activeAt","keepFiringSince"?,"value"} */
static int put_alert(struct http_buf *b, const struct alert *a)
{
    int rc = http_buf_printf(b, "{\"labels\":");
    if (rc == 0)
        rc = put_labels(b, a->labels.v, a->labels.len);
    if (rc == 0)
        rc = http_buf_printf(b, ",\"annotations\":");
    if (rc == 0)
        rc = put_labels(b, a->annotations.v, a->annotations.len);
    if (rc == 0)
        rc = http_buf_printf(b, ",\"state\":\"%s\",\"activeAt\":", alert_state_name(a->state));
    if (rc == 0)
        rc = put_time(b, a->active_at_ms);
    if (rc == 0 && a->keep_firing_since_ms) {
        rc = http_buf_printf(b, ",\"keepFiringSince\":");
        if (rc == 0)
            rc = put_time(b, a->keep_firing_since_ms);
    }
    if (rc == 0)
        rc = http_buf_printf(b, ",\"value\":");
    if (rc == 0)
        rc = put_value_e(b, a->value);
    return rc ? rc : http_buf_append(b, "}", 1);
}

/* The active alerts of r (resolved ones kept for notifications are not
 * shown, as Prometheus' ActiveAlerts), comma-separated; *count is how many
 * were written before. */
static int put_alerts(struct http_buf *b, const struct rule *r, size_t *count)
{
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < r->nalerts; i++) {
        if (r->alerts[i].state == ALERT_INACTIVE)
            continue;
        if ((*count)++)
            rc = http_buf_append(b, ",", 1);
        if (rc == 0)
            rc = put_alert(b, &r->alerts[i]);
    }
    return rc;
}

static enum alert_state rule_state(const struct rule *r)
{
    enum alert_state s = ALERT_INACTIVE;
    for (size_t i = 0; i < r->nalerts; i++)
        if (r->alerts[i].state > s)
            s = r->alerts[i].state;
    return s;
}

/* "health","lastError"?,"evaluationTime","lastEvaluation","type" */
static int put_rule_tail(struct http_buf *b, const struct rule *r)
{
    int rc = http_buf_printf(b, ",\"health\":\"%s\"", rule_health_name(r->health));
    if (rc == 0 && r->last_error) {
        rc = http_buf_printf(b, ",\"lastError\":");
        if (rc == 0)
            rc = api_json_string(b, r->last_error);
    }
    if (rc == 0)
        rc = http_buf_printf(b, ",\"evaluationTime\":");
    if (rc == 0)
        rc = put_number(b, r->last_eval_seconds);
    if (rc == 0)
        rc = http_buf_printf(b, ",\"lastEvaluation\":");
    if (rc == 0)
        rc = put_time(b, r->last_eval_ms);
    if (rc == 0)
        rc = http_buf_printf(b, ",\"type\":\"%s\"}",
                             r->kind == RULE_ALERTING ? "alerting" : "recording");
    return rc;
}

static int put_rule(struct http_buf *b, const struct rule *r, const struct filters *fl)
{
    char *q = r->expr ? promql_print(r->expr->root) : NULL;
    int rc = http_buf_printf(b, "{");
    if (rc == 0 && r->kind == RULE_ALERTING)
        rc = http_buf_printf(b, "\"state\":\"%s\",", alert_state_name(rule_state(r)));
    if (rc == 0)
        rc = http_buf_printf(b, "\"name\":");
    if (rc == 0)
        rc = api_json_string(b, r->name);
    if (rc == 0)
        rc = http_buf_printf(b, ",\"query\":");
    if (rc == 0)
        rc = api_json_string(b, q ? q : r->expr_text);
    free(q);
    if (rc == 0 && r->kind == RULE_ALERTING) {
        rc = http_buf_printf(b, ",\"duration\":");
        if (rc == 0)
            rc = put_number(b, (double)r->for_ms / 1000.0);
        if (rc == 0)
            rc = http_buf_printf(b, ",\"keepFiringFor\":");
        if (rc == 0)
            rc = put_number(b, (double)r->keep_firing_for_ms / 1000.0);
    }
    if (rc == 0 && (r->kind == RULE_ALERTING || r->nlabels)) { /* omitempty for records */
        rc = http_buf_printf(b, ",\"labels\":");
        if (rc == 0)
            rc = put_labels(b, r->labels, r->nlabels);
    }
    if (rc == 0 && r->kind == RULE_ALERTING) {
        size_t count = 0;
        rc = http_buf_printf(b, ",\"annotations\":");
        if (rc == 0)
            rc = put_labels(b, r->annotations, r->nannotations);
        if (rc == 0)
            rc = http_buf_printf(b, ",\"alerts\":[");
        if (rc == 0 && !fl->exclude_alerts)
            rc = put_alerts(b, r, &count);
        if (rc == 0)
            rc = http_buf_append(b, "]", 1);
    }
    return rc ? rc : put_rule_tail(b, r);
}

static int rule_selected(const struct rule *r, const struct filters *fl)
{
    if (r->kind == RULE_ALERTING ? !fl->alerts : !fl->records)
        return 0;
    return param_allows(fl->f, "rule_name[]", r->name);
}

/* One group with its selected rules; nothing when no rule is selected. */
static int put_group(struct http_buf *b, const struct rule_group *g, const struct filters *fl,
                     size_t *ngroups)
{
    size_t mark = b->len, nrules = 0;
    int rc = http_buf_printf(b, "%s{\"name\":", *ngroups ? "," : "");
    if (rc == 0)
        rc = api_json_string(b, g->name);
    if (rc == 0)
        rc = http_buf_printf(b, ",\"file\":");
    if (rc == 0)
        rc = api_json_string(b, g->file);
    if (rc == 0)
        rc = http_buf_printf(b, ",\"rules\":[");
    for (size_t i = 0; rc == 0 && i < g->nrules; i++) {
        if (!rule_selected(&g->rules[i], fl))
            continue;
        if (nrules++)
            rc = http_buf_append(b, ",", 1);
        if (rc == 0)
            rc = put_rule(b, &g->rules[i], fl);
    }
    if (rc == 0)
        rc = http_buf_printf(b, "],\"interval\":");
    if (rc == 0)
        rc = put_number(b, (double)g->interval_ms / 1000.0);
    if (rc == 0)
        rc = http_buf_printf(b, ",\"limit\":%llu,\"evaluationTime\":",
                             (unsigned long long)g->limit);
    if (rc == 0)
        rc = put_number(b, g->last_eval_seconds);
    if (rc == 0)
        rc = http_buf_printf(b, ",\"lastEvaluation\":");
    if (rc == 0)
        rc = put_time(b, g->last_eval_ms);
    if (rc == 0)
        rc = http_buf_append(b, "}", 1);
    if (rc == 0 && nrules == 0)
        b->len = mark; /* Prometheus leaves out groups whose rules were all filtered */
    else if (rc == 0)
        (*ngroups)++;
    return rc;
}

static int group_ptr_cmp(const void *x, const void *y)
{
    const struct rule_group *a = *(const struct rule_group *const *)x;
    const struct rule_group *b = *(const struct rule_group *const *)y;
    int c = strcmp(a->file, b->file);
    return c ? c : strcmp(a->name, b->name);
}

/* The groups of rs sorted by file, then name (Prometheus' RuleGroups). */
static const struct rule_group **sorted_groups(const struct rule_set *rs)
{
    const struct rule_group **s = calloc(rs->ngroups + 1, sizeof *s);
    for (size_t i = 0; s && i < rs->ngroups; i++)
        s[i] = &rs->groups[i];
    if (s)
        qsort(s, rs->ngroups, sizeof *s, group_ptr_cmp);
    return s;
}

static const struct rule_set empty_set;

static const struct rule_set *running(void *arg)
{
    struct rules_mgr *const *mgr = arg;
    return *mgr ? rules_mgr_rules(*mgr) : &empty_set;
}

static void bad_data(struct http_response *res, const char *msg)
{
    res->status = 400;
    res->body.len = 0;
    api_render_error(&res->body, "bad_data", msg);
}

/* Go's strconv.ParseBool. @return 0/1, or -1 for anything else. */
static int parse_bool(const char *s)
{
    static const char *const t[] = {"1", "t", "T", "TRUE", "true", "True", NULL};
    static const char *const f[] = {"0", "f", "F", "FALSE", "false", "False", NULL};
    for (size_t i = 0; t[i]; i++)
        if (strcmp(s, t[i]) == 0)
            return 1;
    for (size_t i = 0; f[i]; i++)
        if (strcmp(s, f[i]) == 0)
            return 0;
    return -1;
}

static int read_filters(const struct api_form *f, struct filters *fl, struct http_response *res)
{
    const char *type = api_form_get(f, "type"), *ex = api_form_get(f, "exclude_alerts");
    char msg[200];
    memset(fl, 0, sizeof *fl);
    fl->f = f;
    fl->records = !type || !*type || strcasecmp(type, "record") == 0;
    fl->alerts = !type || !*type || strcasecmp(type, "alert") == 0;
    if (!fl->records && !fl->alerts) {
        snprintf(msg, sizeof msg, "invalid parameter \"type\": not supported value \"%.100s\"",
                 type);
        bad_data(res, msg);
        return -1;
    }
    if (ex && *ex && (fl->exclude_alerts = parse_bool(ex)) < 0) {
        snprintf(msg, sizeof msg, "invalid parameter \"exclude_alerts\": strconv.ParseBool: "
                 "parsing \"%.80s\": invalid syntax", ex);
        bad_data(res, msg);
        return -1;
    }
    return 0;
}

static void handle_rules(const struct http_request *req, struct http_response *res, void *arg)
{
    const struct rule_set *rs = running(arg);
    struct api_form f;
    struct filters fl;
    res->content_type = "application/json";
    if (api_form_parse(req, &f) != 0) {
        res->status = 500;
        return;
    }
    if (read_filters(&f, &fl, res) == 0) {
        const struct rule_group **groups = sorted_groups(rs);
        size_t n = 0;
        int rc = groups ? http_buf_printf(&res->body, "{\"status\":\"success\",\"data\":{"
                                                      "\"groups\":[") : -ENOMEM;
        for (size_t i = 0; rc == 0 && i < rs->ngroups; i++)
            if (param_allows(&f, "rule_group[]", groups[i]->name) &&
                param_allows(&f, "file[]", groups[i]->file))
                rc = put_group(&res->body, groups[i], &fl, &n);
        if (rc == 0)
            rc = http_buf_printf(&res->body, "]}}");
        free(groups);
        if (rc)
            res->status = 500;
    }
    api_form_free(&f);
}

static void handle_alerts(const struct http_request *req, struct http_response *res, void *arg)
{
    (void)req;
    const struct rule_set *rs = running(arg);
    const struct rule_group **groups = sorted_groups(rs);
    size_t count = 0;
    res->content_type = "application/json";
    int rc = groups ? http_buf_printf(&res->body, "{\"status\":\"success\",\"data\":{"
                                                  "\"alerts\":[") : -ENOMEM;
    for (size_t i = 0; rc == 0 && i < rs->ngroups; i++)
        for (size_t k = 0; rc == 0 && k < groups[i]->nrules; k++)
            if (groups[i]->rules[k].kind == RULE_ALERTING)
                rc = put_alerts(&res->body, &groups[i]->rules[k], &count);
    if (rc == 0)
        rc = http_buf_printf(&res->body, "]}}");
    free(groups);
    if (rc)
        res->status = 500;
}

int rules_api_register(struct http_router *r, struct rules_mgr *const *mgr)
{
    unsigned get = HTTP_METHOD_BIT(HTTP_GET);
    int rc = http_router_add(r, "/api/v1/rules", get, handle_rules, (void *)mgr);
    return rc ? rc : http_router_add(r, "/api/v1/alerts", get, handle_alerts, (void *)mgr);
}
