/* test_http.c — the HTTP session without sockets (routing, 404/405/400,
 * limits, keep-alive, pipelining, requests split at every byte) and one
 * loop test of the TCP server that ends with the loop closing clean. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "http.h"

static void hello(const struct http_request *req, struct http_response *res, void *arg)
{
    (void)arg;
    http_buf_printf(&res->body, "hello %s q=%s ct=%s body=%.*s", req->path, req->query,
                    req->content_type, (int)req->body_len, req->body);
}

static void unavailable(const struct http_request *req, struct http_response *res, void *arg)
{
    (void)req;
    (void)arg;
    res->status = 503;
    http_buf_printf(&res->body, "not yet\n");
}

static void setup_router(struct http_router *r)
{
    http_router_init(r);
    assert_int_equal(http_router_add(r, "/hello", HTTP_METHOD_BIT(HTTP_GET), hello, NULL), 0);
    assert_int_equal(http_router_add(r, "/post", HTTP_METHOD_BIT(HTTP_POST), hello, NULL), 0);
    assert_int_equal(http_router_add(r, "/api/*", HTTP_METHOD_BIT(HTTP_GET), hello, NULL), 0);
    assert_int_equal(http_router_add(r, "/busy", HTTP_METHOD_BIT(HTTP_GET), unavailable, NULL),
                     0);
}

/* Feeds req in one piece and returns the output (caller frees). */
static char *exchange(struct http_router *r, const char *req, int *closing)
{
    struct http_session s;
    http_session_init(&s, r);
    http_session_feed(&s, req, strlen(req));
    char *out = strdup(s.out.p ? s.out.p : "");
    *closing = s.closing;
    http_session_free(&s);
    return out;
}

static uint64_t counted(const struct http_router *r, const char *handler, int code)
{
    for (size_t i = 0; i < r->ncounts; i++)
        if (r->counts[i].code == code && strcmp(r->counts[i].handler, handler) == 0)
            return r->counts[i].n;
    return 0;
}

static void test_routing(void **state)
{
    (void)state;
    struct http_router r;
    setup_router(&r);
    static const struct {
        const char *req, *want;
        int closing;
    } cases[] = {
        {"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n",
         "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 25\r\n\r\n"
         "hello /hello q= ct= body=", 0},
        {"GET /hello?a=1&b=2 HTTP/1.1\r\n\r\n", "hello /hello q=a=1&b=2 ct= body=", 0},
        {"GET http://host:9/hello?x HTTP/1.1\r\n\r\n", "hello /hello q=x ct=", 0},
        {"HEAD /hello HTTP/1.1\r\n\r\n", "Content-Length: 25\r\n\r\n", 0},
        {"GET /api/v1/query HTTP/1.1\r\n\r\n", "hello /api/v1/query", 0},
        {"GET /nope HTTP/1.1\r\n\r\n", "HTTP/1.1 404 Not Found\r\n", 0},
        {"POST /hello HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
         "HTTP/1.1 405 Method Not Allowed\r\nContent-Type: text/plain; charset=utf-8\r\n"
         "Content-Length: 19\r\nAllow: GET, HEAD\r\n\r\nmethod not allowed\n", 0},
        {"POST /post HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
         "Content-Length: 7\r\n\r\nquery=1",
         "hello /post q= ct=application/x-www-form-urlencoded body=query=1", 0},
        {"POST /post HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
         "body=abcde", 0},
        {"GET /busy HTTP/1.1\r\n\r\n", "HTTP/1.1 503 Service Unavailable\r\n", 0},
        {"GET /hello HTTP/1.1\r\nConnection: close\r\n\r\n", "Connection: close\r\n\r\nhello", 1},
        {"GET /hello HTTP/1.0\r\n\r\n", "Connection: close\r\n", 1},
        {"GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", "hello /hello", 0},
        {"BLAH /hello HTTP/1.1\r\n\r\n", "HTTP/1.1 400 Bad Request\r\n", 1},
        {"GET /hello HTTP/1.1\r\nBad Header\r\n\r\n", "HTTP/1.1 400 Bad Request\r\n", 1},
        {"POST /post HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
         "HTTP/1.1 400 Bad Request\r\n", 1},
        {"\x01\x02garbage\r\n\r\n", "HTTP/1.1 400 Bad Request\r\n", 1},
        {"POST /post HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n",
         "HTTP/1.1 413 Payload Too Large\r\n", 1},
        {"GET /hello HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", "hello", 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int closing;
        char *out = exchange(&r, cases[i].req, &closing);
        if (!strstr(out, cases[i].want) || closing != cases[i].closing)
            fail_msg("case %zu: closing %d (want %d), output:\n%s\nwant: %s", i, closing,
                     cases[i].closing, out, cases[i].want);
        if (strncmp(cases[i].req, "HEAD", 4) == 0 && strstr(out, "hello"))
            fail_msg("HEAD response has a body: %s", out);
        free(out);
    }
    assert_int_equal(counted(&r, "/hello", 200), 8);
    assert_int_equal(counted(&r, "other", 404), 1);
    assert_int_equal(counted(&r, "/hello", 405), 1);
    assert_int_equal(counted(&r, "none", 400), 4);
    assert_int_equal(counted(&r, "none", 413), 1);
    assert_int_equal(counted(&r, "/busy", 503), 1);
}

/* A formatted body longer than http_buf_printf's stack buffer: formatted
 * in place after growing the buffer, every byte as asked. */
static void test_buf_printf_long(void **state)
{
    (void)state;
    struct http_buf b = {0};
    char word[2000];
    memset(word, 'x', sizeof word - 1);
    word[sizeof word - 1] = 0;
    assert_int_equal(http_buf_printf(&b, "a"), 0);
    assert_int_equal(http_buf_printf(&b, "<%s|%d>", word, 42), 0);
    assert_int_equal(b.len, 1 + 1 + 1999 + 4);
    assert_int_equal(b.p[0], 'a');
    assert_int_equal(b.p[1], '<');
    assert_int_equal(b.p[1999 + 1], 'x');
    assert_string_equal(b.p + 1 + 1 + 1999, "|42>");
    http_buf_free(&b);
}

static void test_oversized_headers(void **state)
{
    (void)state;
    struct http_router r;
    setup_router(&r);
    size_t n = HTTP_MAX_HEADER_BYTES + 100;
    char *req = malloc(n + 64);
    int k = sprintf(req, "GET /hello HTTP/1.1\r\nX-Big: ");
    memset(req + k, 'a', n);
    strcpy(req + k + n, "\r\n\r\n");
    int closing;
    char *out = exchange(&r, req, &closing);
    assert_non_null(strstr(out, "HTTP/1.1 431 Request Header Fields Too Large\r\n"));
    assert_true(closing);
    free(out);
    /* A long URL is header bytes too. */
    k = sprintf(req, "GET /");
    memset(req + k, 'b', n);
    strcpy(req + k + n, " HTTP/1.1\r\n\r\n");
    out = exchange(&r, req, &closing);
    assert_non_null(strstr(out, " 431 "));
    free(out);
    free(req);
    assert_int_equal(counted(&r, "none", 431), 2);
}

static void test_pipelining_and_splits(void **state)
{
    (void)state;
    struct http_router r;
    setup_router(&r);
    const char *reqs = "GET /hello?1 HTTP/1.1\r\n\r\n"
                       "POST /post HTTP/1.1\r\nContent-Length: 3\r\n\r\nxyz"
                       "GET /nope HTTP/1.1\r\n\r\n"
                       "GET /hello?4 HTTP/1.1\r\nConnection: close\r\n\r\n"
                       "GET /hello?5 HTTP/1.1\r\n\r\n"; /* after close: ignored */
    /* All at once, then split at every byte boundary: same output. */
    int closing;
    char *whole = exchange(&r, reqs, &closing);
    assert_true(closing);
    const char *p = whole;
    const char *want[] = {"q=1 ", "body=xyz", " 404 ", "q=4 "};
    for (size_t i = 0; i < 4; i++) {
        p = strstr(p, want[i]);
        if (!p)
            fail_msg("response %zu (%s) missing or out of order:\n%s", i, want[i], whole);
    }
    assert_null(strstr(whole, "q=5"));
    size_t len = strlen(reqs);
    for (size_t cut = 1; cut < len; cut++) {
        struct http_session s;
        http_session_init(&s, &r);
        http_session_feed(&s, reqs, cut);
        http_session_feed(&s, reqs + cut, len - cut);
        if (!s.out.p || strcmp(s.out.p, whole) != 0)
            fail_msg("split at %zu differs:\n%s", cut, s.out.p ? s.out.p : "");
        http_session_free(&s);
    }
    struct http_session s;
    http_session_init(&s, &r);
    for (size_t i = 0; i < len; i++)
        http_session_feed(&s, reqs + i, 1);
    assert_string_equal(s.out.p, whole);
    http_session_free(&s);
    free(whole);
}

/* ---- a real server on the loop ----------------------------------------- */

struct client {
    uv_tcp_t tcp;
    uv_connect_t connect;
    uv_write_t write;
    struct http_buf got;
    struct http_server *srv;
    int closed_server;
};

static void server_closed(struct http_server *srv)
{
    struct client *c = srv->tcp.loop->data;
    c->closed_server = 1;
}

static void client_alloc(uv_handle_t *h, size_t n, uv_buf_t *b)
{
    (void)h;
    static char buf[4096];
    (void)n;
    *b = uv_buf_init(buf, sizeof buf);
}

static void client_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    struct client *c = s->data;
    if (n > 0) {
        http_buf_append(&c->got, b->base, (size_t)n);
        return;
    }
    /* EOF: the server closed after "Connection: close". */
    uv_close((uv_handle_t *)&c->tcp, NULL);
    http_server_close(c->srv, server_closed);
}

static void client_connected(uv_connect_t *req, int status)
{
    assert_int_equal(status, 0);
    struct client *c = req->data;
    static char msg[] = "GET /hello HTTP/1.1\r\n\r\nGET /busy HTTP/1.1\r\nConnection: close\r\n\r\n";
    uv_buf_t b = uv_buf_init(msg, sizeof msg - 1);
    assert_int_equal(uv_write(&c->write, (uv_stream_t *)&c->tcp, &b, 1, NULL), 0);
    assert_int_equal(uv_read_start((uv_stream_t *)&c->tcp, client_alloc, client_read), 0);
}

static void test_server_on_loop(void **state)
{
    (void)state;
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    struct http_router r;
    setup_router(&r);
    struct http_server srv;
    struct sockaddr_in addr;
    uv_ip4_addr("127.0.0.1", 0, &addr);
    assert_int_equal(http_server_start(&loop, &srv, &r, (struct sockaddr *)&addr), 0);
    struct sockaddr_storage bound;
    int len = sizeof bound;
    assert_int_equal(uv_tcp_getsockname(&srv.tcp, (struct sockaddr *)&bound, &len), 0);

    /* A second server on the same port: address in use. */
    struct http_server dup;
    assert_int_equal(http_server_start(&loop, &dup, &r, (struct sockaddr *)&bound), UV_EADDRINUSE);
    http_server_close(&dup, NULL);

    struct client c = {.srv = &srv};
    loop.data = &c;
    uv_tcp_init(&loop, &c.tcp);
    c.tcp.data = c.connect.data = &c;
    assert_int_equal(uv_tcp_connect(&c.connect, &c.tcp, (struct sockaddr *)&bound,
                                    client_connected), 0);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_true(c.closed_server);
    assert_non_null(strstr(c.got.p, "hello /hello"));
    assert_non_null(strstr(c.got.p, " 503 Service Unavailable\r\n"));
    assert_true(strstr(c.got.p, "hello") < strstr(c.got.p, " 503 "));
    assert_int_equal(srv.connections_total, 1);
    http_buf_free(&c.got);
    assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_routing),
        cmocka_unit_test(test_buf_printf_long),
        cmocka_unit_test(test_oversized_headers),
        cmocka_unit_test(test_pipelining_and_splits),
        cmocka_unit_test(test_server_on_loop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
