/* notify_json.c — what the notifier puts on the wire: Alertmanager's
 * fingerprints and time format, API v2 alerts for Alertmanagers and the
 * webhook (version 4) payload for Vigil's receivers. */
#include "notify_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

uint64_t notify__fingerprint(const json_t *labels)
{
    uint64_t h = 14695981039346656037ull;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)labels, k, v) { /* keys are kept sorted */
        const char *parts[2] = {k, json_string_value(v)};
        for (int i = 0; i < 2; i++) {
            for (const unsigned char *p = (const unsigned char *)parts[i]; p && *p; p++)
                h = (h ^ *p) * 1099511628211ull;
            h = (h ^ 0xff) * 1099511628211ull;
        }
    }
    return h;
}

void notify__format_time(int64_t ms, char buf[40])
{
    time_t s = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
    int frac = (int)(ms - (int64_t)s * 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    size_t n = strftime(buf, 40, "%Y-%m-%dT%H:%M:%S", &tm);
    if (frac) {
        n += (size_t)snprintf(buf + n, 40 - n, ".%03d", frac);
        while (buf[n - 1] == '0') /* Go trims trailing zeros */
            n--;
    }
    snprintf(buf + n, 40 - n, "Z");
}

static json_t *time_json(int64_t ms)
{
    char buf[40];
    notify__format_time(ms, buf);
    return json_string(buf);
}

json_t *notify__alert_v2(const struct nalert *a)
{
    return json_pack("{s:O, s:O, s:o, s:o, s:s}", "labels", a->labels, "annotations",
                     a->annotations, "startsAt", time_json(a->starts_at_ms), "endsAt",
                     time_json(a->ends_at_ms), "generatorURL",
                     a->generator_url ? a->generator_url : "");
}

/* The labels (or annotations: which = 1) every alert has with the same
 * value. */
static json_t *common(const struct nalert *const *alerts, size_t n, int which)
{
    json_t *c = json_object();
    if (!c || !n)
        return c;
    const char *k;
    json_t *v;
    json_t *first = which ? alerts[0]->annotations : alerts[0]->labels;
    json_object_foreach(first, k, v) {
        size_t i = 1;
        for (; i < n; i++) {
            json_t *o = json_object_get(which ? alerts[i]->annotations : alerts[i]->labels, k);
            if (!o || !json_equal(o, v))
                break;
        }
        if (i == n)
            json_object_set(c, k, v);
    }
    return c;
}

static json_t *webhook_alert(const struct nalert *a, int64_t now_ms)
{
    int resolved = notify__alert_resolved(a, now_ms);
    char fp[17];
    snprintf(fp, sizeof fp, "%016llx", (unsigned long long)a->fp);
    return json_pack("{s:s, s:O, s:O, s:o, s:o, s:s, s:s}", "status",
                     resolved ? "resolved" : "firing", "labels", a->labels, "annotations",
                     a->annotations, "startsAt", time_json(a->starts_at_ms), "endsAt",
                     resolved ? time_json(a->ends_at_ms) : json_string("0001-01-01T00:00:00Z"),
                     "generatorURL", a->generator_url ? a->generator_url : "", "fingerprint",
                     fp);
}

char *notify__webhook_payload(const struct payload_args *p, size_t *len)
{
    size_t n = p->max_alerts && p->nalerts > p->max_alerts ? p->max_alerts : p->nalerts;
    int firing = 0;
    for (size_t i = 0; i < p->nalerts; i++)
        firing |= !notify__alert_resolved(p->alerts[i], p->now_ms);
    json_t *alerts = json_array();
    for (size_t i = 0; alerts && i < n; i++)
        if (json_array_append_new(alerts, webhook_alert(p->alerts[i], p->now_ms)) != 0) {
            json_decref(alerts);
            alerts = NULL;
        }
    json_t *doc = json_pack(
        "{s:s, s:s, s:I, s:s, s:s, s:O, s:o, s:o, s:s, s:o}", "version", "4", "groupKey",
        p->group_key, "truncatedAlerts", (json_int_t)(p->nalerts - n), "status",
        firing ? "firing" : "resolved", "receiver", p->receiver, "groupLabels", p->group_labels,
        "commonLabels", common(p->alerts, p->nalerts, 0), "commonAnnotations",
        common(p->alerts, p->nalerts, 1), "externalURL", p->external_url ? p->external_url : "",
        "alerts", alerts);
    char *s = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    *len = s ? strlen(s) : 0;
    return s;
}
