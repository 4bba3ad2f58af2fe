/* http.c — routes, the per-connection HTTP session and the TCP server (see
 * http.h).
 *
 * Design notes: a session answers requests strictly in arrival order by
 * running each handler as soon as its request is complete, so pipelined
 * requests need no queue. Responses accumulate in s->out; the connection
 * moves them into one uv_write per read. A connection stops reading while
 * more than HTTP_MAX_PENDING_OUTPUT bytes wait to be sent, so a client that
 * pipelines without reading cannot grow memory without bound. Closing after
 * a final response goes through uv_shutdown so the response is not lost to
 * a reset when unread request bytes remain.
 *
 * A deferred response (http_defer) pauses the parser after its request:
 * bytes already received wait in s->unread, the connection stops reading,
 * and http_deferred_finish appends the response, resumes the parser on the
 * waiting bytes and tells the connection to write (s->on_output). A
 * connection that closes first detaches the handle, which then only frees
 * itself. */
#include "http.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- buffers ------------------------------------------------------------- */

int http_buf_append(struct http_buf *b, const void *data, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p)
            return -ENOMEM;
        b->p = p;
        b->cap = cap;
    }
    if (n && data)
        memcpy(b->p + b->len, data, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

int http_buf_printf(struct http_buf *b, const char *fmt, ...)
{
    char small[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0)
        return -EINVAL;
    if ((size_t)n < sizeof small)
        return http_buf_append(b, small, (size_t)n);
    int rc = http_buf_append(b, NULL, (size_t)n); /* grow, then format in place */
    if (rc)
        return rc;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len - n, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return 0;
}

void http_buf_free(struct http_buf *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

/* ---- routes -------------------------------------------------------------- */

void http_router_init(struct http_router *r)
{
    memset(r, 0, sizeof *r);
}

int http_router_add(struct http_router *r, const char *path, unsigned methods,
                    http_handler_fn fn, void *arg)
{
    if (r->nroutes == HTTP_MAX_ROUTES)
        return -ENOSPC;
    if (methods & HTTP_METHOD_BIT(HTTP_GET))
        methods |= HTTP_METHOD_BIT(HTTP_HEAD);
    r->routes[r->nroutes++] = (struct http_route){path, methods, fn, arg};
    return 0;
}

static void count(struct http_router *r, const char *handler, int code)
{
    for (size_t i = 0; i < r->ncounts; i++) {
        if (r->counts[i].code == code && strcmp(r->counts[i].handler, handler) == 0) {
            r->counts[i].n++;
            return;
        }
    }
    if (r->ncounts < HTTP_MAX_COUNTS)
        r->counts[r->ncounts++] = (struct http_count){handler, code, 1};
}

static const struct http_route *find_route(const struct http_router *r, const char *path)
{
    for (size_t i = 0; i < r->nroutes; i++) {
        const char *p = r->routes[i].path;
        size_t n = strlen(p);
        if (n && p[n - 1] == '*' ? strncmp(p, path, n - 1) == 0 : strcmp(p, path) == 0)
            return &r->routes[i];
    }
    return NULL;
}

/* ---- responses ----------------------------------------------------------- */

struct http_deferred {
    struct http_session *s;    /* NULL once the connection is gone */
    const char *handler;
    int head_only;
};

static const char *status_text(int code)
{
    switch (code) {
    case 200: return "OK";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 413: return "Payload Too Large";
    case 422: return "Unprocessable Entity";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Unknown";
    }
}

/* Appends one response to s->out. allow lists the methods for a 405. */
static void respond(struct http_session *s, const struct http_response *res, int head_only,
                    unsigned allow)
{
    struct http_buf *o = &s->out;
    http_buf_printf(o, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n",
                    res->status, status_text(res->status), res->content_type, res->body.len);
    if (allow) {
        http_buf_printf(o, "Allow: ");
        const char *sep = "";
        for (int m = 0; m < 32; m++) {
            if (allow & (1u << m)) {
                http_buf_printf(o, "%s%s", sep, http_method_str((enum http_method)m));
                sep = ", ";
            }
        }
        http_buf_printf(o, "\r\n");
    }
    if (s->closing)
        http_buf_printf(o, "Connection: close\r\n");
    http_buf_printf(o, "\r\n");
    if (!head_only)
        http_buf_append(o, res->body.p, res->body.len);
}

/* A response with a short text body, counted under handler. */
static void respond_text(struct http_session *s, const char *handler, int code,
                         const char *text, unsigned allow)
{
    struct http_response res = {code, "text/plain; charset=utf-8", {0}};
    http_buf_printf(&res.body, "%s\n", text);
    count(s->router, handler, code);
    respond(s, &res, s->parser.method == HTTP_HEAD, allow);
    http_buf_free(&res.body);
}

/* Runs the handler for the complete request in s. */
static void dispatch(struct http_session *s)
{
    struct http_parser_url u;
    http_parser_url_init(&u);
    if (s->url.len == 0 || http_parser_parse_url(s->url.p, s->url.len, 0, &u) != 0) {
        s->closing = 1;
        respond_text(s, "none", 400, "bad request target", 0);
        return;
    }
    char *path = "/", *query = "";
    if (u.field_set & (1 << UF_PATH)) {
        path = s->url.p + u.field_data[UF_PATH].off;
        path[u.field_data[UF_PATH].len] = '\0'; /* the query or end follows */
    }
    if (u.field_set & (1 << UF_QUERY)) {
        query = s->url.p + u.field_data[UF_QUERY].off;
        query[u.field_data[UF_QUERY].len] = '\0';
    }
    const struct http_route *rt = find_route(s->router, path);
    if (!rt) {
        respond_text(s, "other", 404, "not found", 0);
        return;
    }
    if (!(rt->methods & HTTP_METHOD_BIT(s->parser.method))) {
        respond_text(s, rt->path, 405, "method not allowed", rt->methods);
        return;
    }
    struct http_request req = {(enum http_method)s->parser.method, path, query,
                               s->content_type, s->body.p ? s->body.p : "", s->body.len};
    struct http_response res = {200, "text/plain; charset=utf-8", {0}, s};
    rt->fn(&req, &res, rt->arg);
    if (s->deferred) {
        s->deferred->handler = rt->path;
        s->deferred->head_only = s->parser.method == HTTP_HEAD;
        http_buf_free(&res.body);
        return;
    }
    count(s->router, rt->path, res.status);
    respond(s, &res, s->parser.method == HTTP_HEAD, 0);
    http_buf_free(&res.body);
}

/* ---- deferred responses -------------------------------------------------- */

struct http_deferred *http_defer(struct http_response *res)
{
    struct http_session *s = res->session;
    struct http_deferred *d;
    if (!s || s->deferred || !(d = calloc(1, sizeof *d)))
        return NULL;
    d->s = s;
    d->handler = "other";
    s->deferred = d;
    return d;
}

void http_deferred_finish(struct http_deferred *d, const struct http_response *res)
{
    struct http_session *s = d->s;
    if (!s) {
        free(d);
        return;
    }
    count(s->router, d->handler, res->status);
    respond(s, res, d->head_only, 0);
    s->deferred = NULL;
    free(d);
    if (!s->closing) {
        struct http_buf unread = s->unread;
        memset(&s->unread, 0, sizeof s->unread);
        http_parser_pause(&s->parser, 0);
        http_session_feed(s, unread.p, unread.len);
        http_buf_free(&unread);
    }
    if (s->on_output)
        s->on_output(s, s->on_output_arg);
}

/* ---- the session: http_parser callbacks ---------------------------------- */

static struct http_session *session(http_parser *p)
{
    return (struct http_session *)p->data;
}

/* Counts header bytes; past the limit the request is refused with 431. */
static int header_bytes(struct http_session *s, size_t n)
{
    s->header_bytes += n;
    if (s->header_bytes <= HTTP_MAX_HEADER_BYTES)
        return 0;
    s->error_status = 431;
    return -1;
}

static int on_message_begin(http_parser *p)
{
    struct http_session *s = session(p);
    s->url.len = s->body.len = 0;
    s->content_type[0] = '\0';
    s->field_len = s->header_bytes = 0;
    s->in_value = s->is_content_type = 0;
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t n)
{
    struct http_session *s = session(p);
    return header_bytes(s, n) || http_buf_append(&s->url, at, n) ? -1 : 0;
}

static int on_header_field(http_parser *p, const char *at, size_t n)
{
    struct http_session *s = session(p);
    if (header_bytes(s, n))
        return -1;
    if (s->in_value)
        s->in_value = s->field_len = 0;
    for (size_t i = 0; i < n && s->field_len < sizeof s->field - 1; i++)
        s->field[s->field_len++] = at[i];
    s->field[s->field_len] = '\0';
    return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t n)
{
    struct http_session *s = session(p);
    if (header_bytes(s, n))
        return -1;
    if (!s->in_value) {
        s->in_value = 1;
        s->is_content_type = strcasecmp(s->field, "content-type") == 0;
        if (s->is_content_type)
            s->content_type[0] = '\0';
    }
    if (s->is_content_type) {
        size_t have = strlen(s->content_type), room = sizeof s->content_type - 1 - have;
        size_t k = n < room ? n : room;
        memcpy(s->content_type + have, at, k);
        s->content_type[have + k] = '\0';
    }
    return 0;
}

static int on_headers_complete(http_parser *p)
{
    struct http_session *s = session(p);
    if (p->content_length != (uint64_t)-1 && p->content_length > HTTP_MAX_BODY_BYTES) {
        s->error_status = 413;
        return -1;
    }
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t n)
{
    struct http_session *s = session(p);
    if (s->body.len + n > HTTP_MAX_BODY_BYTES) {
        s->error_status = 413;
        return -1;
    }
    return http_buf_append(&s->body, at, n) ? -1 : 0;
}

static int on_message_complete(http_parser *p)
{
    struct http_session *s = session(p);
    if (!http_should_keep_alive(p) || p->upgrade)
        s->closing = 1;
    dispatch(s);
    if (s->closing || s->deferred)
        http_parser_pause(p, 1);
    return 0;
}

static const http_parser_settings settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

void http_session_init(struct http_session *s, struct http_router *r)
{
    memset(s, 0, sizeof *s);
    http_parser_init(&s->parser, HTTP_REQUEST);
    s->parser.data = s;
    s->router = r;
}

void http_session_free(struct http_session *s)
{
    if (s->deferred)
        s->deferred->s = NULL;
    s->deferred = NULL;
    http_buf_free(&s->unread);
    http_buf_free(&s->out);
    http_buf_free(&s->url);
    http_buf_free(&s->body);
}

void http_session_feed(struct http_session *s, const char *data, size_t len)
{
    if (s->closing || len == 0)
        return;
    if (s->deferred) {
        if (http_buf_append(&s->unread, data, len) != 0)
            s->closing = 1;
        return;
    }
    size_t done = http_parser_execute(&s->parser, &settings, data, len);
    enum http_errno err = HTTP_PARSER_ERRNO(&s->parser);
    if (s->closing)
        return; /* paused after a final request, or an upgrade */
    if (s->deferred) { /* paused after a deferred request */
        if (done < len && http_buf_append(&s->unread, data + done, len - done) != 0)
            s->closing = 1;
        return;
    }
    if (err == HPE_OK && done == len)
        return;
    s->closing = 1;
    if (s->error_status == 431)
        respond_text(s, "none", 431, "request headers too large", 0);
    else if (s->error_status == 413)
        respond_text(s, "none", 413, "request body too large", 0);
    else
        respond_text(s, "none", 400, http_errno_description(err), 0);
}

/* ---- the TCP server ------------------------------------------------------ */

struct http_conn {
    uv_tcp_t tcp;
    uv_timer_t idle;
    uv_shutdown_t shutdown;
    struct http_server *srv;
    struct http_conn *next, **pprev;
    struct http_session s;
    size_t pending;            /* bytes handed to uv_write, not yet written */
    int handles;               /* open handles: tcp, idle */
    int closing, reading, shutting_down;
    char rbuf[16384];
};

struct conn_write {
    uv_write_t req;
    struct http_conn *c;
    struct http_buf buf;
};

static void server_maybe_done(struct http_server *srv)
{
    if (srv->closing && !srv->listening && srv->nconns == 0 && srv->close_cb)
        srv->close_cb(srv);
}

static void conn_closed(uv_handle_t *h)
{
    struct http_conn *c = h->data;
    if (--c->handles > 0)
        return;
    struct http_server *srv = c->srv;
    if ((*c->pprev = c->next))
        c->next->pprev = c->pprev;
    http_session_free(&c->s);
    free(c);
    srv->nconns--;
    server_maybe_done(srv);
}

static void conn_close(struct http_conn *c)
{
    if (c->closing)
        return;
    c->closing = 1;
    uv_close((uv_handle_t *)&c->tcp, conn_closed);
    uv_close((uv_handle_t *)&c->idle, conn_closed);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    (void)status;
    conn_close(req->data);
}

/* After output drained: close a finished connection, or read again. */
static void conn_settle(struct http_conn *c);

static void on_write(uv_write_t *req, int status)
{
    struct conn_write *w = (struct conn_write *)req;
    struct http_conn *c = w->c;
    c->pending -= w->buf.len;
    http_buf_free(&w->buf);
    free(w);
    if (status < 0)
        conn_close(c);
    else if (!c->closing)
        conn_settle(c);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    struct http_conn *c = h->data;
    *buf = uv_buf_init(c->rbuf, sizeof c->rbuf);
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf);

static void conn_settle(struct http_conn *c)
{
    if (c->s.deferred)
        return; /* reading resumes when the response is finished */
    if (c->s.closing) {
        if (c->pending == 0 && !c->shutting_down) {
            c->shutting_down = 1;
            c->shutdown.data = c;
            if (uv_shutdown(&c->shutdown, (uv_stream_t *)&c->tcp, on_shutdown) != 0)
                conn_close(c);
        }
        return;
    }
    if (!c->reading && c->pending < HTTP_MAX_PENDING_OUTPUT / 2 &&
        uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0)
        c->reading = 1;
}

/* Hands the session's pending output to uv_write. */
static void conn_flush(struct http_conn *c)
{
    if (c->s.out.len) {
        struct conn_write *w = malloc(sizeof *w);
        if (!w) {
            conn_close(c);
            return;
        }
        w->c = c;
        w->buf = c->s.out;
        memset(&c->s.out, 0, sizeof c->s.out);
        uv_buf_t b = uv_buf_init(w->buf.p, (unsigned)w->buf.len);
        c->pending += w->buf.len;
        if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_write) != 0) {
            c->pending -= w->buf.len;
            http_buf_free(&w->buf);
            free(w);
            conn_close(c);
            return;
        }
    }
    if (c->reading &&
        (c->s.closing || c->s.deferred || c->pending >= HTTP_MAX_PENDING_OUTPUT)) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = 0;
    }
    conn_settle(c);
}

static void on_idle(uv_timer_t *t)
{
    struct http_conn *c = t->data;
    if (!c->s.deferred) /* a slow answer is not an idle client */
        conn_close(c);
}

static void on_session_output(struct http_session *s, void *arg)
{
    (void)s;
    struct http_conn *c = arg;
    if (!c->closing)
        conn_flush(c);
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    struct http_conn *c = stream->data;
    if (nread < 0) {
        conn_close(c);
        return;
    }
    uv_timer_again(&c->idle);
    http_session_feed(&c->s, buf->base, (size_t)nread);
    conn_flush(c);
}

static void on_connection(uv_stream_t *server, int status)
{
    struct http_server *srv = server->data;
    if (status < 0)
        return;
    struct http_conn *c = calloc(1, sizeof *c);
    if (!c)
        return;
    c->srv = srv;
    http_session_init(&c->s, srv->router);
    c->s.on_output = on_session_output;
    c->s.on_output_arg = c;
    uv_tcp_init(srv->loop, &c->tcp);
    uv_timer_init(srv->loop, &c->idle);
    c->tcp.data = c->idle.data = c;
    c->handles = 2;
    if ((c->next = srv->conns))
        c->next->pprev = &c->next;
    srv->conns = c;
    c->pprev = &srv->conns;
    srv->nconns++;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
        conn_close(c);
        return;
    }
    if (srv->nconns > HTTP_MAX_CONNECTIONS) {
        srv->connections_rejected++;
        conn_close(c);
        return;
    }
    srv->connections_total++;
    uv_timer_start(&c->idle, on_idle, HTTP_IDLE_TIMEOUT_MS, HTTP_IDLE_TIMEOUT_MS);
    conn_settle(c);
}

int http_server_start(uv_loop_t *loop, struct http_server *srv, struct http_router *r,
                      const struct sockaddr *addr)
{
    memset(srv, 0, sizeof *srv);
    srv->loop = loop;
    srv->router = r;
    int rc = uv_tcp_init(loop, &srv->tcp);
    if (rc)
        return rc;
    srv->tcp.data = srv;
    srv->listening = 1;
    rc = uv_tcp_bind(&srv->tcp, addr, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&srv->tcp, 128, on_connection);
    return rc;
}

static void listener_closed(uv_handle_t *h)
{
    struct http_server *srv = h->data;
    srv->listening = 0;
    server_maybe_done(srv);
}

void http_server_close(struct http_server *srv, void (*cb)(struct http_server *srv))
{
    srv->closing = 1;
    srv->close_cb = cb;
    for (struct http_conn *c = srv->conns; c; c = c->next)
        conn_close(c);
    if (srv->listening)
        uv_close((uv_handle_t *)&srv->tcp, listener_closed);
    else
        server_maybe_done(srv);
}
