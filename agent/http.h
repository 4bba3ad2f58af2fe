/* http.h — vigild's HTTP/1.1 server on the libuv loop, request parsing by
 * libhttp-parser. Three layers: a route table (method + path -> handler,
 * counted per handler and status code), a session that turns request bytes
 * into response bytes with no socket (keep-alive, pipelining, limits; what
 * the unit tests and the fuzz target drive), and the TCP server. Handlers
 * run on the loop thread and must not block: one that needs time (a query)
 * defers its response with http_defer and finishes it later. */
#ifndef VIGIL_HTTP_H
#define VIGIL_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include <http_parser.h>
#include <uv.h>

#define HTTP_MAX_HEADER_BYTES 8192       /* request line + headers */
#define HTTP_MAX_BODY_BYTES (1u << 20)
#define HTTP_MAX_ROUTES 32
#define HTTP_MAX_COUNTS 128              /* distinct (handler, code) pairs */
#define HTTP_MAX_CONNECTIONS 256
#define HTTP_IDLE_TIMEOUT_MS 60000       /* an idle keep-alive connection closes */
#define HTTP_MAX_PENDING_OUTPUT (4u << 20) /* unsent responses: stop reading */

/* A growable byte buffer. */
struct http_buf {
    char *p;
    size_t len, cap;
};
/* Appends n bytes of data; data NULL reserves n bytes (their content is
 * the caller's to write) and keeps the NUL after them. @return 0 or
 * -ENOMEM. */
int http_buf_append(struct http_buf *b, const void *data, size_t n);
int http_buf_printf(struct http_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void http_buf_free(struct http_buf *b);

/* One parsed request, valid during the handler call. */
struct http_request {
    enum http_method method;
    const char *path;          /* decoded no further: "/api/v1/query" */
    const char *query;         /* after '?', "" when none */
    const char *content_type;  /* "" when absent */
    const char *body;
    size_t body_len;
};

struct http_session;

/* What a handler fills. status defaults to 200 and content_type to
 * text/plain; the body is appended to body. session is set by the server
 * (for http_defer). */
struct http_response {
    int status;
    const char *content_type;
    struct http_buf body;
    struct http_session *session;
};

typedef void (*http_handler_fn)(const struct http_request *req, struct http_response *res,
                                void *arg);

#define HTTP_METHOD_BIT(m) (1u << (m))

/* Asynchronous responses. A handler calls http_defer(res) and returns;
 * res is then ignored. The session answers nothing more (pipelined requests
 * wait, the connection stops reading) until http_deferred_finish is called
 * on the loop thread with the response, which it sends in order. If the
 * connection closed meanwhile the response is dropped; finish must still be
 * called exactly once to free the handle. @return the handle, or NULL on
 * ENOMEM (the handler then answers synchronously, e.g. with a 500). */
struct http_deferred;
struct http_deferred *http_defer(struct http_response *res);
/* Sends res (taking nothing from it: the caller frees res->body) and frees
 * the handle. */
void http_deferred_finish(struct http_deferred *dfr, const struct http_response *res);

struct http_route {
    const char *path;          /* exact, or a prefix when it ends in '*' */
    unsigned methods;          /* HTTP_METHOD_BIT(HTTP_GET) | ...; GET implies HEAD */
    http_handler_fn fn;
    void *arg;
};

/* Requests answered, by handler and status code: the source of
 * vigil_http_requests_total{handler, code}. handler is the route's path,
 * "other" for unknown paths, "none" for requests that did not parse. */
struct http_count {
    const char *handler;
    int code;
    uint64_t n;
};

struct http_router {
    struct http_route routes[HTTP_MAX_ROUTES];
    size_t nroutes;
    struct http_count counts[HTTP_MAX_COUNTS];
    size_t ncounts;
};

void http_router_init(struct http_router *r /* OUT */);
/* Adds a route; path and arg must outlive the router.
 * @return 0 or -ENOSPC when the table is full. */
int http_router_add(struct http_router *r, const char *path, unsigned methods,
                    http_handler_fn fn, void *arg);

/* The protocol state of one connection. */
struct http_session {
    http_parser parser;
    struct http_router *router;
    struct http_buf out;       /* response bytes not yet taken by the caller */
    struct http_buf url, body;
    char content_type[128];
    char field[32];            /* the header name being read, cut */
    size_t field_len;
    size_t header_bytes;
    int in_value, is_content_type;
    int error_status;          /* a limit was hit: answer this and close */
    int closing;               /* no more requests: close after out is sent */
    struct http_deferred *deferred; /* a response is pending: parser paused */
    struct http_buf unread;    /* bytes received while a response was pending */
    /* Called after a deferred response was appended to out. */
    void (*on_output)(struct http_session *s, void *arg);
    void *on_output_arg;
};

void http_session_init(struct http_session *s /* OUT */, struct http_router *r);
void http_session_free(struct http_session *s);

/* Feeds received bytes: every complete request is answered, in order, by
 * appending its response to s->out (bytes after a deferred request are kept
 * in s->unread and fed when it finishes). After a request asking to close, a
 * parse error (400), oversized headers (431) or body (413), s->closing is
 * set and further bytes are ignored. */
void http_session_feed(struct http_session *s, const char *data, size_t len);

/* The TCP server: accepts up to HTTP_MAX_CONNECTIONS connections (more are
 * closed at once and counted) and serves each with a session. */
struct http_server {
    uv_tcp_t tcp;
    uv_loop_t *loop;
    struct http_router *router;
    struct http_conn *conns;   /* open connections, linked */
    unsigned nconns;
    uint64_t connections_total, connections_rejected;
    int listening, closing;
    void (*close_cb)(struct http_server *srv);
};

/* Initialises srv on loop (the router must outlive it), binds addr and
 * listens. @return 0, or a libuv error (UV_EADDRINUSE, ...); either way
 * the server must be closed with http_server_close. */
int http_server_start(uv_loop_t *loop, struct http_server *srv, struct http_router *r,
                      const struct sockaddr *addr);

/* Stops listening and closes every connection (unsent responses are
 * dropped); cb runs once all handles are closed and srv may be freed. */
void http_server_close(struct http_server *srv, void (*cb)(struct http_server *srv));

#endif
