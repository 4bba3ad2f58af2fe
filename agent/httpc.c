/* httpc.c — outbound HTTP(S) on the agent's libuv loop: libcurl's multi
 * socket interface, with one uv_poll_t per socket curl asks us to watch and
 * one uv_timer_t for curl's timeouts. Every callback runs on the loop
 * thread; there is no extra thread.
 *
 * Design notes:
 *   - curl tells us what to watch through socket_cb (CURL_POLL_IN/OUT/INOUT
 *     start or change a uv_poll_t, CURL_POLL_REMOVE stops it and closes it)
 *     and when to wake it up through timer_cb (a uv_timer_t). Socket
 *     actions are never called from inside those two callbacks.
 *   - A finished transfer is collected by collect_done() after every
 *     curl_multi_socket_action(); done() runs there, outside any curl
 *     callback, so it may start or cancel requests.
 *   - A request that cannot be set up is still answered through done(),
 *     from the zero-delay `failed` timer, never from httpc_start itself.
 *   - httpc_close removes every transfer, cleans up the multi handle (which
 *     closes curl's cached connections) and closes the uv handles; the
 *     caller's callback runs when the last one's close callback has run.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "httpc.h"

#define HTTPC_MAX_IDLE_CONNECTIONS 4096

#define HTTPC_USER_AGENT "Vigil/0.1"
#define HTTPC_MAX_REDIRECTS 10

struct xfer {
    struct httpc *h;
    struct xfer *prev, *next;   /* h->xfers, or h->failed */
    uint64_t id;
    CURL *easy;
    struct curl_slist *headers, *connect_to;
    httpc_done_fn done;
    void *arg;
    char *body;                 /* received, decoded */
    size_t len, cap;
    uint64_t max_body_bytes;
    int64_t timeout_ms;
    int too_big;
    int start_error;            /* set for requests in h->failed */
    char errbuf[CURL_ERROR_SIZE];
};

struct sock {
    uv_poll_t poll;
    struct httpc *h;
    struct sock *prev, *next;   /* h->socks: watched, not yet closing */
    curl_socket_t fd;
};

struct httpc {
    uv_loop_t *loop;
    CURLM *multi;
    uv_timer_t timer;           /* curl's timeout */
    uv_timer_t failed_timer;    /* delivers h->failed */
    struct xfer *xfers, *failed;
    struct sock *socks;
    uint64_t next_id;
    unsigned open_handles;      /* uv handles not yet through their close callback */
    int closing;
    void (*close_cb)(void *arg);
    void *close_arg;
};

static void collect_done(struct httpc *h);

/* ---- lists ------------------------------------------------------------- */

static void list_push(struct xfer **head, struct xfer *x)
{
    x->prev = NULL;
    x->next = *head;
    if (*head)
        (*head)->prev = x;
    *head = x;
}

static void list_unlink(struct xfer **head, struct xfer *x)
{
    if (x->prev)
        x->prev->next = x->next;
    else
        *head = x->next;
    if (x->next)
        x->next->prev = x->prev;
    x->prev = x->next = NULL;
}

static void xfer_free(struct xfer *x)
{
    if (x->easy)
        curl_easy_cleanup(x->easy);
    curl_slist_free_all(x->headers);
    curl_slist_free_all(x->connect_to);
    free(x->body);
    free(x);
}

/* ---- handle bookkeeping -------------------------------------------------- */

static void handle_closed(struct httpc *h)
{
    if (--h->open_handles == 0 && h->closing) {
        void (*cb)(void *) = h->close_cb;
        void *arg = h->close_arg;
        free(h);
        if (cb)
            cb(arg);
    }
}

static void timer_closed(uv_handle_t *t)
{
    handle_closed(t->data);
}

static void sock_closed(uv_handle_t *p)
{
    struct sock *s = p->data;
    struct httpc *h = s->h;
    free(s);
    handle_closed(h);
}

/* ---- curl -> libuv ------------------------------------------------------- */

static void sock_close(struct sock *s)
{
    struct httpc *h = s->h;
    if (s->prev)
        s->prev->next = s->next;
    else
        h->socks = s->next;
    if (s->next)
        s->next->prev = s->prev;
    uv_poll_stop(&s->poll);
    uv_close((uv_handle_t *)&s->poll, sock_closed);
}

static void poll_cb(uv_poll_t *p, int status, int events)
{
    struct sock *s = p->data;
    struct httpc *h = s->h;
    int flags = 0;
    if (status < 0)
        flags = CURL_CSELECT_ERR;
    else {
        if (events & UV_READABLE)
            flags |= CURL_CSELECT_IN;
        if (events & UV_WRITABLE)
            flags |= CURL_CSELECT_OUT;
    }
    int running;
    curl_multi_socket_action(h->multi, s->fd, flags, &running);
    collect_done(h);
}

static int socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    (void)easy;
    struct httpc *h = userp;
    struct sock *s = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (s) {
            sock_close(s);
            curl_multi_assign(h->multi, fd, NULL);
        }
        return 0;
    }
    if (!s) {
        s = malloc(sizeof *s);
        if (!s)
            return -1;
        s->h = h;
        s->fd = fd;
        if (uv_poll_init_socket(h->loop, &s->poll, fd) != 0) {
            free(s);
            return -1;
        }
        s->poll.data = s;
        s->prev = NULL;
        s->next = h->socks;
        if (h->socks)
            h->socks->prev = s;
        h->socks = s;
        h->open_handles++;
        curl_multi_assign(h->multi, fd, s);
    }
    int events = 0;
    if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
        events |= UV_READABLE;
    if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
        events |= UV_WRITABLE;
    return uv_poll_start(&s->poll, events, poll_cb) == 0 ? 0 : -1;
}

static void timeout_fired(uv_timer_t *t)
{
    struct httpc *h = t->data;
    int running;
    curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    collect_done(h);
}

static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
    (void)multi;
    struct httpc *h = userp;
    if (timeout_ms < 0)
        uv_timer_stop(&h->timer);
    else
        uv_timer_start(&h->timer, timeout_fired, (uint64_t)timeout_ms, 0);
    return 0;
}

/* ---- responses ----------------------------------------------------------- */

static size_t write_cb(char *data, size_t size, size_t n, void *userp)
{
    struct xfer *x = userp;
    size_t len = size * n;
    if (x->max_body_bytes && x->len + len > x->max_body_bytes) {
        x->too_big = 1;
        return 0;   /* CURLE_WRITE_ERROR */
    }
    if (x->len + len + 1 > x->cap) {
        size_t cap = x->cap ? x->cap : 16384;
        while (cap < x->len + len + 1)
            cap *= 2;
        char *p = realloc(x->body, cap);
        if (!p)
            return 0;
        x->body = p;
        x->cap = cap;
    }
    memcpy(x->body + x->len, data, len);
    x->len += len;
    x->body[x->len] = '\0';
    return len;
}

/* "10s", "1.5s" or "250ms". */
static void format_duration(char *buf, size_t size, int64_t ms)
{
    if (ms % 1000 == 0)
        snprintf(buf, size, "%llds", (long long)(ms / 1000));
    else if (ms > 1000)
        snprintf(buf, size, "%.3gs", (double)ms / 1000);
    else
        snprintf(buf, size, "%lldms", (long long)ms);
}

/* Maps a curl result to res->error and a message a user can act on. */
static void describe_error(struct xfer *x, CURLcode rc, struct httpc_response *res)
{
    const char *curl_text = x->errbuf[0] ? x->errbuf : curl_easy_strerror(rc);
    char dur[32];
    long os_errno = 0;
    switch ((int)rc) { /* an int: curl's enum is too long to list whole */
    case CURLE_OK:
        return;
    case CURLE_OPERATION_TIMEDOUT:
        res->error = -ETIMEDOUT;
        if (x->timeout_ms <= 0)
            break;  /* one of curl's own limits: its message says which */
        format_duration(dur, sizeof dur, x->timeout_ms);
        snprintf(res->errmsg, sizeof res->errmsg, "timeout after %s", dur);
        return;
    case CURLE_COULDNT_CONNECT:
        curl_easy_getinfo(x->easy, CURLINFO_OS_ERRNO, &os_errno);
        res->error = os_errno ? -(int)os_errno : -ECONNREFUSED;
        if (os_errno)
            snprintf(res->errmsg, sizeof res->errmsg, "%s", strerror((int)os_errno));
        else
            snprintf(res->errmsg, sizeof res->errmsg, "%s", curl_text);
        /* strerror says "Connection refused"; Go and Prometheus say it lower-case. */
        if (res->errmsg[0] >= 'A' && res->errmsg[0] <= 'Z')
            res->errmsg[0] = (char)(res->errmsg[0] - 'A' + 'a');
        return;
    case CURLE_COULDNT_RESOLVE_HOST:
        res->error = -EHOSTUNREACH;
        break;
    case CURLE_WRITE_ERROR:
    case CURLE_FILESIZE_EXCEEDED:
        if (x->too_big || rc == CURLE_FILESIZE_EXCEEDED) {
            res->error = -EFBIG;
            snprintf(res->errmsg, sizeof res->errmsg,
                     "body size limit exceeded: more than %llu bytes",
                     (unsigned long long)x->max_body_bytes);
            return;
        }
        res->error = -ENOMEM;
        snprintf(res->errmsg, sizeof res->errmsg, "out of memory reading the body");
        return;
    case CURLE_OUT_OF_MEMORY:
        res->error = -ENOMEM;
        break;
    case CURLE_TOO_MANY_REDIRECTS:
        res->error = -ELOOP;
        snprintf(res->errmsg, sizeof res->errmsg, "stopped after %d redirects",
                 HTTPC_MAX_REDIRECTS);
        return;
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
        res->error = -EINVAL;
        break;
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_CRL_BADFILE:
        res->error = -EPROTO;
        snprintf(res->errmsg, sizeof res->errmsg, "TLS: %.240s", curl_text);
        return;
    case CURLE_BAD_CONTENT_ENCODING:
        res->error = -EBADMSG;
        break;
    case CURLE_GOT_NOTHING:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_PARTIAL_FILE:
        res->error = -ECONNRESET;
        break;
    default:
        res->error = -EIO;
        break;
    }
    snprintf(res->errmsg, sizeof res->errmsg, "%s", curl_text);
}

static void finish(struct xfer *x, CURLcode rc)
{
    struct httpc_response res = {0};
    res.content_type = "";
    res.body = x->body ? x->body : "";
    res.body_len = x->len;
    if (x->start_error) {
        res.error = x->start_error;
        snprintf(res.errmsg, sizeof res.errmsg, "%s",
                 x->errbuf[0] ? x->errbuf : "cannot set up the request");
    } else {
        char *ct = NULL;
        curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &res.status);
        curl_easy_getinfo(x->easy, CURLINFO_CONTENT_TYPE, &ct);
        curl_easy_getinfo(x->easy, CURLINFO_TOTAL_TIME, &res.seconds);
        if (ct)
            res.content_type = ct;
        describe_error(x, rc, &res);
    }
    x->done(x->arg, &res);
}

static void collect_done(struct httpc *h)
{
    CURLMsg *m;
    int left;
    /* done() may close h: stop reading messages then. */
    while (!h->closing && (m = curl_multi_info_read(h->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        struct xfer *x = NULL;
        CURLcode rc = m->data.result;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
        curl_multi_remove_handle(h->multi, x->easy);
        list_unlink(&h->xfers, x);
        finish(x, rc);
        xfer_free(x);
    }
}

static void failed_fired(uv_timer_t *t)
{
    struct httpc *h = t->data;
    struct xfer *x;
    while (!h->closing && (x = h->failed)) {
        list_unlink(&h->failed, x);
        finish(x, CURLE_OK);
        xfer_free(x);
    }
}

/* ---- requests ------------------------------------------------------------ */

#define SET(opt, val)                                                         \
    do {                                                                      \
        if (curl_easy_setopt(e, opt, val) != CURLE_OK)                        \
            return -EINVAL;                                                   \
    } while (0)

static int add_header(struct curl_slist **list, const char *line)
{
    struct curl_slist *l = curl_slist_append(*list, line);
    if (!l)
        return -ENOMEM;
    *list = l;
    return 0;
}

/* server_name: TLS name (SNI and certificate check) other than the URL's
 * host. The URL's host becomes server_name, CURLOPT_CONNECT_TO still
 * connects to the original host, and the Host header keeps the original. */
static int set_server_name(struct xfer *x, const char *url, const char *server_name)
{
    CURLU *u = curl_url();
    char *host = NULL, *port = NULL, *newurl = NULL;
    int rc = -EINVAL;
    if (!u)
        return -ENOMEM;
    if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK ||
        curl_url_set(u, CURLUPART_HOST, server_name, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_URL, &newurl, 0) != CURLUE_OK)
        goto out;
    char line[512];
    snprintf(line, sizeof line, "%s:%s:%s:%s", server_name, port, host, port);
    if ((rc = add_header(&x->connect_to, line)) != 0)
        goto out;
    snprintf(line, sizeof line, "Host: %s:%s", host, port);
    if ((rc = add_header(&x->headers, line)) != 0)
        goto out;
    rc = -EINVAL;
    if (curl_easy_setopt(x->easy, CURLOPT_URL, newurl) != CURLE_OK ||
        curl_easy_setopt(x->easy, CURLOPT_CONNECT_TO, x->connect_to) != CURLE_OK)
        goto out;
    rc = 0;
out:
    curl_free(host);
    curl_free(port);
    curl_free(newurl);
    curl_url_cleanup(u);
    return rc;
}

static int set_tls(struct xfer *x, const struct httpc_request *req)
{
    CURL *e = x->easy;
    if (req->ca_file)
        SET(CURLOPT_CAINFO, req->ca_file);
    if (req->cert_file)
        SET(CURLOPT_SSLCERT, req->cert_file);
    if (req->key_file)
        SET(CURLOPT_SSLKEY, req->key_file);
    if (req->insecure_skip_verify) {
        SET(CURLOPT_SSL_VERIFYPEER, 0L);
        SET(CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (req->server_name && req->server_name[0])
        return set_server_name(x, req->url, req->server_name);
    return 0;
}

static int set_method(CURL *e, const struct httpc_request *req)
{
    if (!req->method || strcmp(req->method, "GET") == 0)
        return 0;
    if (strcmp(req->method, "HEAD") == 0) {
        SET(CURLOPT_NOBODY, 1L);
        return 0;
    }
    if (strcmp(req->method, "POST") != 0)
        SET(CURLOPT_CUSTOMREQUEST, req->method);
    if (strcmp(req->method, "POST") == 0 || req->body_len) {
        SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
        SET(CURLOPT_COPYPOSTFIELDS, req->body_len ? req->body : "");
    }
    return 0;
}

static int set_headers(struct xfer *x, const struct httpc_request *req)
{
    int rc;
    for (const char *const *p = req->headers; p && *p; p++)
        if ((rc = add_header(&x->headers, *p)) != 0)
            return rc;
    if (req->bearer_token) {
        size_t n = strlen(req->bearer_token) + sizeof "Authorization: Bearer ";
        char *line = malloc(n);
        if (!line)
            return -ENOMEM;
        snprintf(line, n, "Authorization: Bearer %s", req->bearer_token);
        rc = add_header(&x->headers, line);
        free(line);
        if (rc)
            return rc;
    }
    return 0;
}

/* Sets every option of x->easy from req. @return 0, -ENOMEM or -EINVAL. */
static int setup(struct xfer *x, const struct httpc_request *req)
{
    CURL *e = x->easy;
    int rc;
    SET(CURLOPT_PRIVATE, x);
    SET(CURLOPT_ERRORBUFFER, x->errbuf);
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_URL, req->url);
    SET(CURLOPT_PROTOCOLS_STR, "http,https");
    SET(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    SET(CURLOPT_USERAGENT, HTTPC_USER_AGENT);
    SET(CURLOPT_WRITEFUNCTION, write_cb);
    SET(CURLOPT_WRITEDATA, x);
    if (req->timeout_ms > 0)
        SET(CURLOPT_TIMEOUT_MS, (long)req->timeout_ms);
    if (req->follow_redirects) {
        SET(CURLOPT_FOLLOWLOCATION, 1L);
        SET(CURLOPT_MAXREDIRS, (long)HTTPC_MAX_REDIRECTS);
    }
    if (req->accept_gzip)
        SET(CURLOPT_ACCEPT_ENCODING, "gzip");
    if (req->max_body_bytes)
        SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)req->max_body_bytes);
    if (req->username) {
        SET(CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        SET(CURLOPT_USERNAME, req->username);
        SET(CURLOPT_PASSWORD, req->password ? req->password : "");
    }
    if ((rc = set_method(e, req)) != 0 || (rc = set_headers(x, req)) != 0 ||
        (rc = set_tls(x, req)) != 0)
        return rc;
    if (x->headers)
        SET(CURLOPT_HTTPHEADER, x->headers);
    return 0;
}

#undef SET

int httpc_start(struct httpc *h, const struct httpc_request *req, httpc_done_fn done,
                void *arg, uint64_t *id)
{
    struct xfer *x = calloc(1, sizeof *x);
    if (!x)
        return -ENOMEM;
    x->h = h;
    x->id = ++h->next_id;
    x->done = done;
    x->arg = arg;
    x->max_body_bytes = req->max_body_bytes;
    x->timeout_ms = req->timeout_ms;
    if (id)
        *id = x->id;
    int rc = -ENOMEM;
    if (!(x->easy = curl_easy_init()) || (rc = setup(x, req)) != 0 ||
        (rc = curl_multi_add_handle(h->multi, x->easy) == CURLM_OK ? 0 : -ENOMEM) != 0) {
        x->start_error = rc;
        if (!x->errbuf[0])
            snprintf(x->errbuf, sizeof x->errbuf, "cannot set up request for %s: %s",
                     req->url ? req->url : "(no URL)",
                     rc == -ENOMEM ? "out of memory" : "invalid option");
        list_push(&h->failed, x);
        uv_timer_start(&h->failed_timer, failed_fired, 0, 0);
        return 0;
    }
    list_push(&h->xfers, x);
    return 0;
}

static struct xfer *find(struct xfer *list, uint64_t id)
{
    for (; list; list = list->next)
        if (list->id == id)
            return list;
    return NULL;
}

void httpc_cancel(struct httpc *h, uint64_t id)
{
    struct xfer *x = find(h->xfers, id);
    if (x) {
        curl_multi_remove_handle(h->multi, x->easy);
        list_unlink(&h->xfers, x);
        xfer_free(x);
    } else if ((x = find(h->failed, id))) {
        list_unlink(&h->failed, x);
        xfer_free(x);
    }
}

/* libcurl's global state is set up once per process and released at exit
 * (the agent has a single loop thread; curl >= 7.84 makes this thread-safe
 * anyway). */
static int global_init(void)
{
    static int done;
    if (done)
        return 0;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return -ENOMEM;
    atexit(curl_global_cleanup);
    done = 1;
    return 0;
}

int httpc_new(uv_loop_t *loop, struct httpc **out)
{
    int rc = global_init();
    if (rc)
        return rc;
    struct httpc *h = calloc(1, sizeof *h);
    if (!h)
        return -ENOMEM;
    h->loop = loop;
    if (!(h->multi = curl_multi_init())) {
        free(h);
        return -ENOMEM;
    }
    curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
    curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
    curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
    curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
    /* Keep idle connections for reuse: curl's default cache (4 per running
     * transfer) is far below one per scrape target, and a new TCP
     * connection per scrape costs more CPU than the scrape's parsing. */
    curl_multi_setopt(h->multi, CURLMOPT_MAXCONNECTS, (long)HTTPC_MAX_IDLE_CONNECTIONS);
    uv_timer_init(loop, &h->timer);
    uv_timer_init(loop, &h->failed_timer);
    h->timer.data = h->failed_timer.data = h;
    h->open_handles = 2;
    *out = h;
    return 0;
}

void httpc_close(struct httpc *h, void (*cb)(void *arg), void *arg)
{
    struct xfer *x;
    while ((x = h->xfers)) {
        curl_multi_remove_handle(h->multi, x->easy);
        list_unlink(&h->xfers, x);
        xfer_free(x);
    }
    while ((x = h->failed)) {
        list_unlink(&h->failed, x);
        xfer_free(x);
    }
    h->closing = 1;
    h->close_cb = cb;
    h->close_arg = arg;
    /* Closes the cached connections; their sockets come through socket_cb. */
    curl_multi_cleanup(h->multi);
    h->multi = NULL;
    while (h->socks)
        sock_close(h->socks);
    uv_close((uv_handle_t *)&h->timer, timer_closed);
    uv_close((uv_handle_t *)&h->failed_timer, timer_closed);
}
