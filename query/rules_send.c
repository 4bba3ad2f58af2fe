/* rules_send.c — which alerts a notifier must be sent, and when: Prometheus'
 * sendAlerts (resend delay, resolved alerts resent while kept, endsAt) and
 * the notification fields it derives (external labels, generator URL). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules_int.h"

/* Go's url.QueryEscape: unreserved bytes stay, ' ' becomes '+', the rest
 * %XX. @return malloc'd text or NULL. */
static char *query_escape(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    char *out = malloc(strlen(s) * 3 + 1), *o = out;
    if (!out)
        return NULL;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        unsigned c = *p;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~') {
            *o++ = (char)c;
        } else if (c == ' ') {
            *o++ = '+';
        } else {
            *o++ = '%';
            *o++ = hex[c >> 4];
            *o++ = hex[c & 15];
        }
    }
    *o = '\0';
    return out;
}

/* EXTERNAL_URL/graph?g0.expr=EXPR&g0.tab=1 with the expression printed the
 * way Prometheus prints it. @return malloc'd text or NULL on ENOMEM. */
static char *generator_url(const struct rule *r, const char *external_url)
{
    char *printed = r->expr ? promql_print(r->expr->root) : strdup(r->expr_text);
    char *esc = printed ? query_escape(printed) : NULL;
    free(printed);
    if (!esc)
        return NULL;
    const char *base = external_url ? external_url : "";
    size_t len = strlen(base) + strlen(esc) + 32;
    char *url = malloc(len);
    if (url)
        snprintf(url, len, "%s/graph?g0.expr=%s&g0.tab=1", base, esc);
    free(esc);
    return url;
}

/* Prometheus' needsSending: never pending ones; resolved since last sent;
 * else once resend_delay has passed. */
static int needs_sending(const struct alert *a, int64_t t, int64_t resend_delay_ms)
{
    if (a->state == ALERT_PENDING)
        return 0;
    if (a->resolved_at_ms > a->last_sent_ms)
        return 1;
    return !a->last_sent_ms || a->last_sent_ms + resend_delay_ms < t;
}

/* Sends the alerts of one rule that need it. @return 0 or -ENOMEM. */
static int send_rule(struct rule *r, int64_t t, int64_t resend_delay_ms, int64_t interval_ms,
                     const struct tsdb_labels *ext, const char *external_url,
                     void (*fn)(void *, const struct alert_notification *, size_t), void *ctx)
{
    size_t n = 0;
    for (size_t i = 0; i < r->nalerts; i++)
        n += needs_sending(&r->alerts[i], t, resend_delay_ms);
    if (!n)
        return 0;
    struct alert_notification *v = calloc(n, sizeof *v);
    struct tsdb_labels *ls = calloc(n, sizeof *ls);
    char *url = generator_url(r, external_url);
    int rc = v && ls && url ? 0 : -ENOMEM;
    struct lbuild b = {0};
    size_t k = 0;
    int64_t delta = resend_delay_ms > interval_ms ? resend_delay_ms : interval_ms;
    for (size_t i = 0; rc == 0 && i < r->nalerts; i++) {
        struct alert *a = &r->alerts[i];
        if (!needs_sending(a, t, resend_delay_ms))
            continue;
        lbuild_reset(&b);
        rc = lbuild_add_all(&b, &a->labels, 0);
        for (size_t e = 0; rc == 0 && ext && e < ext->len; e++)
            if (!rules__label_get(&a->labels, ext->v[e].name))
                rc = lbuild_set(&b, ext->v[e].name, ext->v[e].value, 0);
        if (rc || (rc = lbuild_pack(&b, &ls[k])))
            break;
        a->last_sent_ms = t;
        a->valid_until_ms = t + 4 * delta;
        v[k].labels = &ls[k];
        v[k].annotations = &a->annotations;
        v[k].starts_at_ms = a->fired_at_ms;
        v[k].resolved = a->resolved_at_ms != 0;
        v[k].ends_at_ms = v[k].resolved ? a->resolved_at_ms : a->valid_until_ms;
        v[k].generator_url = url;
        k++;
    }
    if (k) /* on ENOMEM, the alerts already marked sent are sent */
        fn(ctx, v, k);
    for (size_t i = 0; ls && i < k; i++)
        rules__labels_free(&ls[i]);
    lbuild_free(&b);
    free(ls);
    free(v);
    free(url);
    return rc;
}

void rule_group_send(struct rule_group *g, int64_t t, int64_t resend_delay_ms,
                     const struct tsdb_labels *external_labels, const char *external_url,
                     void (*fn)(void *ctx, const struct alert_notification *a, size_t n),
                     void *ctx)
{
    for (size_t i = 0; i < g->nrules; i++) {
        struct rule *r = &g->rules[i];
        if (r->kind == RULE_ALERTING &&
            send_rule(r, t, resend_delay_ms, g->interval_ms, external_labels, external_url, fn,
                      ctx) == -ENOMEM)
            return;
    }
}
