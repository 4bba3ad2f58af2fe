/* fuzz_http.c — libFuzzer target for vigild's HTTP request handling: the
 * input is fed to a session (the same parser callbacks the server uses) in
 * two pieces split at a point taken from the first byte; the output must be
 * a sequence of well-formed responses, and the same bytes fed whole must
 * give the same output. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void ok(const struct http_request *req, struct http_response *res, void *arg)
{
    (void)arg;
    http_buf_printf(&res->body, "%s?%s %zu", req->path, req->query, req->body_len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    struct http_router r;
    http_router_init(&r);
    http_router_add(&r, "/metrics", HTTP_METHOD_BIT(HTTP_GET), ok, NULL);
    http_router_add(&r, "/api/*", HTTP_METHOD_BIT(HTTP_GET) | HTTP_METHOD_BIT(HTTP_POST), ok,
                    NULL);
    const char *in = (const char *)data + 1;
    size_t n = size - 1, cut = n ? data[0] % (n + 1) : 0;

    struct http_session a, b;
    http_session_init(&a, &r);
    http_session_feed(&a, in, cut);
    http_session_feed(&a, in + cut, n - cut);
    http_session_init(&b, &r);
    http_session_feed(&b, in, n);
    if (a.out.len != b.out.len || (a.out.len && memcmp(a.out.p, b.out.p, a.out.len) != 0))
        abort();
    if (a.out.len && strncmp(a.out.p, "HTTP/1.1 ", 9) != 0)
        abort();
    http_session_free(&a);
    http_session_free(&b);
    return 0;
}
