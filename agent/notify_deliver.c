/* notify_deliver.c — delivering outbox entries to one webhook or exec
 * integration: in order, one attempt at a time, retried with capped
 * exponential backoff and jitter until the receiver accepts, dropped when
 * older than outbox.max_age. Webhooks are POSTed through httpc; exec
 * hooks are spawned directly (argv, never a shell) with the payload on
 * stdin and killed at their timeout. */
#include "notify_int.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "httpc.h"
#include "log.h"

extern char **environ;

struct integration *notify__integration_new(struct notifier *n, const char *receiver,
                                            enum integration_kind kind, size_t index)
{
    struct integration *it = calloc(1, sizeof *it);
    if (!it)
        return NULL;
    it->n = n;
    it->kind = kind;
    it->receiver = strdup(receiver);
    if (!it->receiver || asprintf(&it->dest, "%s/%s/%zu", receiver,
                                  kind == INTEGRATION_WEBHOOK ? "webhook" : "exec", index) < 0) {
        free(it->receiver);
        free(it);
        return NULL;
    }
    return it;
}

void notify__integration_bind(struct integration *it, const struct notify_receiver *r,
                              size_t index)
{
    it->webhook = it->kind == INTEGRATION_WEBHOOK ? &r->webhooks[index] : NULL;
    it->exec = it->kind == INTEGRATION_EXEC ? &r->execs[index] : NULL;
    it->send_resolved = it->webhook ? it->webhook->send_resolved : it->exec->send_resolved;
}

int notify__integration_push(struct integration *it, uint64_t id, const char *payload,
                             size_t len, int64_t enqueued_ms)
{
    if (it->nq == it->capq) {
        size_t cap = it->capq ? it->capq * 2 : 8;
        struct delivery *q = realloc(it->q, cap * sizeof *q);
        if (!q)
            return -ENOMEM;
        it->q = q;
        it->capq = cap;
    }
    char *p = malloc(len + 1);
    if (!p)
        return -ENOMEM;
    memcpy(p, payload, len);
    p[len] = '\0';
    it->q[it->nq++] = (struct delivery){id, p, len, enqueued_ms};
    return 0;
}

/* Removes q[0] from the queue and the outbox. */
static void pop(struct integration *it, int64_t now_ms)
{
    int rc = outbox_done(it->n->ob, it->q[0].id, now_ms);
    if (rc)
        vlog(VLOG_ERROR, "notify: cannot record a delivery in the outbox",
             "dest=%s id=%llu err=%s", it->dest, (unsigned long long)it->q[0].id,
             strerror(-rc));
    free(it->q[0].payload);
    memmove(&it->q[0], &it->q[1], (it->nq - 1) * sizeof *it->q);
    it->nq--;
    it->attempts = 0;
    it->next_ms = 0;
}

enum outcome { DELIVERED, RETRY, REJECTED };

/* The outcome of the attempt at q[0]. */
static void finished(struct integration *it, enum outcome o, const char *why)
{
    int64_t now = notify__now();
    it->busy = 0;
    if (o == REJECTED) { /* retrying cannot help; it would block the queue */
        vlog(VLOG_ERROR, "notify: notification rejected by the receiver, dropped",
             "dest=%s id=%llu err=%s", it->dest, (unsigned long long)it->q[0].id, why);
        it->failed++;
        it->dropped++;
        pop(it, now);
    } else if (o == DELIVERED) {
        double latency = (double)(now - it->q[0].enqueued_ms) / 1000.0;
        it->sent++;
        it->latency_sum += latency;
        it->latency_last = latency;
        it->latency_count++;
        pop(it, now);
    } else {
        const struct notify_config *c = &it->n->cfg;
        it->failed++;
        it->attempts++;
        int64_t backoff = c->min_backoff_ms;
        for (unsigned i = 1; i < it->attempts && backoff < c->max_backoff_ms; i++)
            backoff *= 2;
        if (backoff > c->max_backoff_ms)
            backoff = c->max_backoff_ms;
        /* Full jitter over the upper half: [backoff/2, backoff]. */
        backoff = backoff / 2 + (int64_t)((double)rand() / RAND_MAX * (double)(backoff / 2));
        it->next_ms = now + backoff;
        vlog(VLOG_WARN, "notify: delivery failed, will retry", "dest=%s id=%llu attempts=%u "
             "retry_in_ms=%lld err=%s", it->dest, (unsigned long long)it->q[0].id, it->attempts,
             (long long)backoff, why);
    }
    notify__schedule(it->n);
}

/* ---- webhook --------------------------------------------------------------- */

static void webhook_done(void *arg, const struct httpc_response *res)
{
    struct integration *it = arg;
    char why[320];
    enum outcome o = RETRY;
    if (res->error)
        snprintf(why, sizeof why, "%s", res->errmsg);
    else
        snprintf(why, sizeof why, "HTTP status %ld", res->status);
    if (!res->error && res->status >= 200 && res->status < 300)
        o = DELIVERED;
    else if (!res->error && res->status >= 400 && res->status < 500 && res->status != 408 &&
             res->status != 429)
        o = REJECTED; /* as Alertmanager: client errors are not retried */
    finished(it, o, why);
}

static int webhook_start(struct integration *it)
{
    static const char *const headers[] = {"Content-Type: application/json",
                                          "User-Agent: vigild", NULL};
    struct httpc_request req = {0};
    req.url = it->webhook->url;
    req.method = "POST";
    req.headers = headers;
    req.body = it->q[0].payload;
    req.body_len = it->q[0].len;
    req.timeout_ms = it->webhook->timeout_ms;
    req.max_body_bytes = 1 << 20;
    return httpc_start(it->n->hc, &req, webhook_done, it, &it->http_id);
}

/* ---- exec ------------------------------------------------------------------ */

struct exec_run {
    uv_process_t proc;
    uv_pipe_t in;
    uv_timer_t timer;
    uv_write_t wr;
    struct integration *it;        /* NULL once abandoned */
    struct notifier *n;
    char *payload;
    unsigned open;                 /* handles not yet closed */
    int exited, timed_out;
    int64_t status;
    int term_signal;
};

static void run_closed(uv_handle_t *h)
{
    struct exec_run *r = h->data;
    if (--r->open)
        return;
    struct notifier *n = r->n;
    if (r->it) {
        char why[96];
        if (r->timed_out)
            snprintf(why, sizeof why, "killed after the timeout of %lldms",
                     (long long)r->it->exec->timeout_ms);
        else if (r->term_signal)
            snprintf(why, sizeof why, "killed by signal %d", r->term_signal);
        else
            snprintf(why, sizeof why, "exit status %lld", (long long)r->status);
        r->it->run = NULL;
        finished(r->it, !r->timed_out && !r->term_signal && r->status == 0 ? DELIVERED : RETRY,
                 why);
    }
    free(r->payload);
    free(r);
    notify__handle_closed(n);
}

static void close_run(struct exec_run *r)
{
    uv_handle_t *hs[] = {(uv_handle_t *)&r->proc, (uv_handle_t *)&r->in,
                         (uv_handle_t *)&r->timer};
    for (size_t i = 0; i < 3; i++)
        if (!uv_is_closing(hs[i]))
            uv_close(hs[i], run_closed);
}

static void on_exit_cb(uv_process_t *p, int64_t status, int term_signal)
{
    struct exec_run *r = p->data;
    r->exited = 1;
    r->status = status;
    r->term_signal = r->timed_out ? 0 : term_signal;
    close_run(r);
}

/* Kills the hook and whatever it started: it leads its own process group. */
static void kill_run(struct exec_run *r)
{
    if (r->exited || r->proc.pid <= 0) /* never kill(0 or -1, ...) */
        return;
    if (kill(-r->proc.pid, SIGKILL) != 0)
        uv_process_kill(&r->proc, SIGKILL);
}

static void on_timeout(uv_timer_t *t)
{
    struct exec_run *r = t->data;
    r->timed_out = 1;
    kill_run(r);
}

static void on_written(uv_write_t *w, int status)
{
    struct exec_run *r = w->data;
    (void)status; /* a hook that does not read stdin is judged by its exit */
    if (!uv_is_closing((uv_handle_t *)&r->in))
        uv_close((uv_handle_t *)&r->in, run_closed);
}

/* 1 if env[0..n) sets the variable of "NAME=value" kv already. */
static int env_has(char *const *env, size_t n, const char *kv)
{
    size_t len = strcspn(kv, "=");
    for (size_t i = 0; i < n; i++)
        if (env[i] && strncmp(env[i], kv, len) == 0 && env[i][len] == '=')
            return 1;
    return 0;
}

/* VIGIL_* variables from the payload, then the configured ones, then
 * vigild's own environment, each name once (the first one wins). */
static char **exec_env(const struct integration *it, const char *payload)
{
    size_t nenv = 0;
    while (environ[nenv])
        nenv++;
    char **env = calloc(nenv + it->exec->nenv + 5, sizeof *env);
    json_t *doc = json_loads(payload, 0, NULL);
    if (!env || !doc) {
        free(env);
        json_decref(doc);
        return NULL;
    }
    size_t k = 0;
    int bad = asprintf(&env[k++], "VIGIL_RECEIVER=%s", it->receiver) < 0;
    bad |= asprintf(&env[k++], "VIGIL_STATUS=%s",
                    json_string_value(json_object_get(doc, "status"))) < 0;
    bad |= asprintf(&env[k++], "VIGIL_GROUP_KEY=%s",
                    json_string_value(json_object_get(doc, "groupKey"))) < 0;
    bad |= asprintf(&env[k++], "VIGIL_ALERTS=%zu",
                    json_array_size(json_object_get(doc, "alerts"))) < 0;
    json_decref(doc);
    for (size_t i = 0; i < it->exec->nenv; i++)
        if (!env_has(env, k, it->exec->env[i]))
            bad |= !(env[k++] = strdup(it->exec->env[i]));
    for (size_t i = 0; i < nenv; i++)
        if (!env_has(env, k, environ[i]))
            bad |= !(env[k++] = strdup(environ[i]));
    if (bad) {
        for (size_t i = 0; i < k; i++)
            free(env[i]);
        free(env);
        return NULL;
    }
    return env;
}

static int exec_start(struct integration *it)
{
    struct notifier *n = it->n;
    struct exec_run *r = calloc(1, sizeof *r);
    char **argv = calloc(it->exec->argc + 1, sizeof *argv); /* NULL-terminated */
    char **env = r && argv ? exec_env(it, it->q[0].payload) : NULL;
    char *payload = env ? strdup(it->q[0].payload) : NULL;
    if (!payload) {
        free(r);
        free(argv);
        if (env)
            for (char **e = env; *e; e++)
                free(*e);
        free(env);
        return -ENOMEM;
    }
    r->it = it;
    r->n = n;
    r->payload = payload;
    uv_pipe_init(n->loop, &r->in, 0);
    uv_timer_init(n->loop, &r->timer);
    r->in.data = r->timer.data = r->proc.data = r->wr.data = r;
    uv_stdio_container_t stdio[3] = {
        {.flags = UV_CREATE_PIPE | UV_READABLE_PIPE, .data.stream = (uv_stream_t *)&r->in},
        {.flags = UV_INHERIT_FD, .data.fd = 2},
        {.flags = UV_INHERIT_FD, .data.fd = 2},
    };
    uv_process_options_t o = {0};
    o.exit_cb = on_exit_cb;
    o.file = it->exec->argv[0];
    memcpy(argv, it->exec->argv, it->exec->argc * sizeof *argv);
    o.args = argv;
    o.env = env;
    o.stdio = stdio;
    o.stdio_count = 3;
    o.flags = UV_PROCESS_DETACHED; /* setsid: a process group to kill at the timeout */
    int rc = uv_spawn(n->loop, &r->proc, &o);
    for (char **e = env; *e; e++)
        free(*e);
    free(env);
    free(argv);
    r->open = 3;
    n->open_handles++;
    it->run = r;
    if (rc) {
        char why[160];
        snprintf(why, sizeof why, "cannot run %s: %s", it->exec->argv[0], uv_strerror(rc));
        vlog(VLOG_ERROR, "notify: exec hook failed to start", "dest=%s err=%s", it->dest,
             uv_strerror(rc));
        r->status = -1;
        r->exited = 1; /* nothing to kill */
        close_run(r); /* reports the failure from run_closed */
        return 0;
    }
    uv_buf_t buf = uv_buf_init(r->payload, (unsigned)strlen(r->payload));
    if (uv_write(&r->wr, (uv_stream_t *)&r->in, &buf, 1, on_written) != 0)
        uv_close((uv_handle_t *)&r->in, run_closed);
    uv_timer_start(&r->timer, on_timeout, (uint64_t)it->exec->timeout_ms, 0);
    return 0;
}

/* ---- the queue ------------------------------------------------------------- */

void notify__integration_run(struct integration *it, int64_t now_ms)
{
    while (!it->busy && it->nq && it->q[0].enqueued_ms < now_ms - it->n->cfg.max_age_ms) {
        vlog(VLOG_WARN, "notify: notification dropped: older than outbox.max_age",
             "dest=%s id=%llu", it->dest, (unsigned long long)it->q[0].id);
        it->dropped++;
        pop(it, now_ms);
    }
    if (it->busy || !it->nq || it->next_ms > now_ms || it->n->closing)
        return;
    it->busy = 1;
    int rc = it->kind == INTEGRATION_WEBHOOK ? webhook_start(it) : exec_start(it);
    if (rc) {
        it->busy = 0;
        it->next_ms = now_ms + it->n->cfg.min_backoff_ms;
    }
}

void notify__integration_free(struct integration *it)
{
    if (!it)
        return;
    if (it->busy && it->kind == INTEGRATION_WEBHOOK)
        httpc_cancel(it->n->hc, it->http_id);
    if (it->run) {
        it->run->it = NULL;
        kill_run(it->run);
    }
    for (size_t i = 0; i < it->nq; i++)
        free(it->q[i].payload);
    free(it->q);
    free(it->dest);
    free(it->receiver);
    free(it);
}
