/* test_api.c — the query API's parts that need no store: form parameters
 * (GET and POST, precedence, escapes), Prometheus' time and duration
 * parsing, JSON rendering of every result type and of errors, error status
 * codes, and deferred HTTP responses keeping pipelined requests in order. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "api.h"

static struct http_request get(const char *query)
{
    return (struct http_request){HTTP_GET, "/api/v1/query", query, "", "", 0};
}

static void test_form_get(void **state)
{
    (void)state;
    struct api_form f;
    struct http_request req = get("query=sum%28rate%28x%5B5m%5D%29%29+by+(a)&time=1.5&time=2"
                                  "&match[]=a&match%5B%5D=b&empty=&flag");
    assert_int_equal(api_form_parse(&req, &f), 0);
    assert_string_equal(api_form_get(&f, "query"), "sum(rate(x[5m])) by (a)");
    assert_string_equal(api_form_get(&f, "time"), "1.5");
    assert_string_equal(api_form_get(&f, "empty"), "");
    assert_string_equal(api_form_get(&f, "flag"), "");
    assert_null(api_form_get(&f, "nope"));
    size_t n = 0;
    for (size_t i = 0; i < f.len; i++)
        n += strcmp(f.v[i].name, "match[]") == 0;
    assert_int_equal(n, 2);
    assert_string_equal(f.bad, "");
    api_form_free(&f);
}

static void test_form_post_first(void **state)
{
    (void)state;
    struct api_form f;
    const char *body = "query=up%7Bjob%3D%22a%22%7D&time=10";
    struct http_request req = {HTTP_POST, "/api/v1/query", "time=20&step=5",
                               "application/x-www-form-urlencoded; charset=utf-8", body,
                               strlen(body)};
    assert_int_equal(api_form_parse(&req, &f), 0);
    assert_string_equal(api_form_get(&f, "query"), "up{job=\"a\"}");
    assert_string_equal(api_form_get(&f, "time"), "10"); /* the body wins, as in Go */
    assert_string_equal(api_form_get(&f, "step"), "5");
    api_form_free(&f);

    /* another content type: the body is not a form */
    req.content_type = "application/json";
    assert_int_equal(api_form_parse(&req, &f), 0);
    assert_null(api_form_get(&f, "query"));
    assert_string_equal(api_form_get(&f, "time"), "20");
    api_form_free(&f);
}

static void test_form_bad_escape(void **state)
{
    (void)state;
    struct api_form f;
    struct http_request req = get("a=%zz&b=1&c=%4");
    assert_int_equal(api_form_parse(&req, &f), 0);
    assert_null(api_form_get(&f, "a"));
    assert_null(api_form_get(&f, "c"));
    assert_string_equal(api_form_get(&f, "b"), "1");
    assert_string_equal(f.bad, "invalid URL escape \"%zz\"");
    api_form_free(&f);
}

static void test_parse_time(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        int64_t ms;
    } ok[] = {
        {"1700000000", 1700000000000},
        {"1700000000.5", 1700000000500},
        {"1700000000.1234", 1700000000123},
        {"1.7e9", 1700000000000},
        {"-1", -1000},
        {"2023-11-14T22:13:20Z", 1700000000000},
        {"2023-11-14T22:13:20.25Z", 1700000000250},
        {"2023-11-15T00:13:20+02:00", 1700000000000},
    };
    static const char *bad[] = {"", "abc", "now", "now-1h", "2023-11-14", "1h"};
    char err[256];
    int64_t ms;
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        assert_int_equal(api_parse_time(ok[i].in, &ms, err, sizeof err), 0);
        assert_int_equal(ms, ok[i].ms);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(api_parse_time(bad[i], &ms, err, sizeof err), -EINVAL);
    api_parse_time("abc", &ms, err, sizeof err);
    assert_string_equal(err, "cannot parse \"abc\" to a valid timestamp");
}

static void test_parse_duration(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        int64_t ms;
    } ok[] = {{"15", 15000}, {"0.5", 500}, {"1.0005", 1000}, {"1m30s", 90000},
              {"100ms", 100}, {"1d", 86400000}, {"0", 0}, {"-5", -5000}};
    char err[256];
    int64_t ms;
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        assert_int_equal(api_parse_duration(ok[i].in, &ms, err, sizeof err), 0);
        assert_int_equal(ms, ok[i].ms);
    }
    assert_int_equal(api_parse_duration("5x", &ms, err, sizeof err), -EINVAL);
    assert_string_equal(err, "cannot parse \"5x\" to a valid duration");
    assert_int_equal(api_parse_duration("1e300", &ms, err, sizeof err), -EINVAL);
    assert_string_equal(err, "cannot parse \"1e300\" to a valid duration. It overflows int64");
    assert_int_equal(api_parse_duration("", &ms, err, sizeof err), -EINVAL);
}

static char *render(const struct promql_result *r)
{
    struct http_buf b = {0};
    assert_int_equal(api_render_result(&b, r), 0);
    return b.p;
}

static void test_render_vector_matrix(void **state)
{
    (void)state;
    struct tsdb_label l1[] = {{"__name__", "up"}, {"job", "a<b>&\"c\""}};
    struct promql_point p1[] = {{1700000000500, 1.5}, {1700000060000, NAN}};
    struct promql_point p2[] = {{1700000000000, 1e-7}};
    struct promql_series s[] = {{{2, l1}, p1, 1}, {{0, NULL}, p2, 1}};
    struct promql_result r = {PROMQL_TYPE_VECTOR, 0, 0, NULL, s, 2};
    char *out = render(&r);
    assert_string_equal(out, "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\","
                             "\"result\":[{\"metric\":{\"__name__\":\"up\",\"job\":"
                             "\"a\\u003cb\\u003e\\u0026\\\"c\\\"\"},\"value\":"
                             "[1700000000.500,\"1.5\"]},{\"metric\":{},\"value\":"
                             "[1700000000,\"1e-07\"]}]}}");
    free(out);
    s[0].npoints = 2;
    r.type = PROMQL_TYPE_MATRIX;
    r.nseries = 1;
    out = render(&r);
    assert_string_equal(out, "{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\","
                             "\"result\":[{\"metric\":{\"__name__\":\"up\",\"job\":"
                             "\"a\\u003cb\\u003e\\u0026\\\"c\\\"\"},\"values\":"
                             "[[1700000000.500,\"1.5\"],[1700000060,\"NaN\"]]}]}}");
    free(out);
    r.nseries = 0;
    out = render(&r);
    assert_string_equal(out, "{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\","
                             "\"result\":[]}}");
    free(out);
}

/* A result far larger than one write: a 20,000-byte label value to escape
 * and thousands of points come out whole and in order. */
static void test_render_large(void **state)
{
    (void)state;
    enum { NPOINTS = 3000, VALUE_BYTES = 20000 };
    char *value = malloc(VALUE_BYTES + 1), *want = malloc(2 * VALUE_BYTES + 100 * NPOINTS);
    memset(value, 'x', VALUE_BYTES);
    value[VALUE_BYTES / 2] = '"';
    value[VALUE_BYTES] = '\0';
    struct tsdb_label l[] = {{"__name__", "m"}, {"v", value}};
    struct promql_point *p = malloc(NPOINTS * sizeof *p);
    for (int i = 0; i < NPOINTS; i++)
        p[i] = (struct promql_point){1700000000000 + 15000 * (int64_t)i, i * 0.5};
    struct promql_series s[] = {{{0, NULL}, p, NPOINTS}, {{2, l}, p, NPOINTS}};
    struct promql_result r = {PROMQL_TYPE_MATRIX, 0, 0, NULL, s, 2};
    size_t n = (size_t)sprintf(want, "{\"status\":\"success\",\"data\":{\"resultType\":"
                                     "\"matrix\",\"result\":[");
    for (int k = 0; k < 2; k++) {
        n += (size_t)sprintf(want + n, "%s{\"metric\":{", k ? "," : "");
        if (k)
            n += (size_t)sprintf(want + n, "\"__name__\":\"m\",\"v\":\"%.*s\\\"%s\"",
                                 VALUE_BYTES / 2, value, value + VALUE_BYTES / 2 + 1);
        n += (size_t)sprintf(want + n, "},\"values\":[");
        for (int i = 0; i < NPOINTS; i++)
            n += (size_t)sprintf(want + n, "%s[%lld,\"%g\"]", i ? "," : "",
                                 (long long)(1700000000 + 15 * i), i * 0.5);
        n += (size_t)sprintf(want + n, "]}");
    }
    sprintf(want + n, "]}}");
    char *out = render(&r);
    assert_string_equal(out, want);
    free(out);
    free(want);
    free(p);
    free(value);
}

static void test_render_scalar_string(void **state)
{
    (void)state;
    static const struct {
        int64_t t;
        double v;
        const char *want;
    } cases[] = {
        {1700000000500, 2, "[1700000000.5,\"2\"]"},
        {1700000000000, 1e-7, "[1700000000,\"0.0000001\"]"}, /* 'f' for scalars */
        {1000, 1e21, "[1,\"1000000000000000000000\"]"},
        {0, 0x1p-24, "[0,\"0.00000005960464477539063\"]"}, /* shortest, as Go */
        {0, 0x1p89, "[0,\"618970019642690200000000000\"]"},
        {1, -0.25, "[0.001,\"-0.25\"]"},
        {0, INFINITY, "[0,\"+Inf\"]"},
        {0, -INFINITY, "[0,\"-Inf\"]"},
        {0, NAN, "[0,\"NaN\"]"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct promql_result r = {PROMQL_TYPE_SCALAR, cases[i].t, cases[i].v, NULL, NULL, 0};
        char *out = render(&r), want[256];
        snprintf(want, sizeof want, "{\"status\":\"success\",\"data\":{\"resultType\":\"scalar\","
                                    "\"result\":%s}}", cases[i].want);
        assert_string_equal(out, want);
        free(out);
    }
    struct promql_result r = {PROMQL_TYPE_STRING, 1700000000000, 0, "a\n\"b\"\xff\xe2\x80\xa8",
                              NULL, 0};
    char *out = render(&r);
    assert_string_equal(out, "{\"status\":\"success\",\"data\":{\"resultType\":\"string\","
                             "\"result\":[1700000000,\"a\\n\\\"b\\\"\\ufffd\\u2028\"]}}");
    free(out);
}

static void test_render_error(void **state)
{
    (void)state;
    struct http_buf b = {0};
    assert_int_equal(api_render_error(&b, "bad_data", "invalid parameter \"query\": x"), 0);
    assert_string_equal(b.p, "{\"status\":\"error\",\"errorType\":\"bad_data\","
                             "\"error\":\"invalid parameter \\\"query\\\": x\"}");
    http_buf_free(&b);
    assert_int_equal(api_error_status("bad_data"), 400);
    assert_int_equal(api_error_status("execution"), 422);
    assert_int_equal(api_error_status("timeout"), 503);
    assert_int_equal(api_error_status("canceled"), 503);
    assert_int_equal(api_error_status("unavailable"), 503);
    assert_int_equal(api_error_status("not_found"), 404);
    assert_int_equal(api_error_status("internal"), 500);
}

/* ---- deferred responses ---------------------------------------------- */

static struct http_deferred *pending;

static void slow(const struct http_request *req, struct http_response *res, void *arg)
{
    (void)req;
    (void)arg;
    pending = http_defer(res);
    assert_non_null(pending);
}

static void fast(const struct http_request *req, struct http_response *res, void *arg)
{
    (void)arg;
    http_buf_printf(&res->body, "fast %s", req->query);
}

static int outputs;
static void on_output(struct http_session *s, void *arg)
{
    (void)s;
    (void)arg;
    outputs++;
}

static void test_deferred_in_order(void **state)
{
    (void)state;
    struct http_router r;
    struct http_session s;
    http_router_init(&r);
    http_router_add(&r, "/slow", HTTP_METHOD_BIT(HTTP_GET), slow, NULL);
    http_router_add(&r, "/fast", HTTP_METHOD_BIT(HTTP_GET), fast, NULL);
    http_session_init(&s, &r);
    s.on_output = on_output;
    outputs = 0;
    const char *reqs = "GET /fast?1 HTTP/1.1\r\nHost: x\r\n\r\n"
                       "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"
                       "GET /fast?2 HTTP/1.1\r\nHost: x\r\n\r\nGET /fa";
    http_session_feed(&s, reqs, strlen(reqs));
    http_session_feed(&s, "st?3 HTTP/1.1\r\nHost: x\r\n\r\n", 26);
    assert_non_null(strstr(s.out.p, "fast 1"));
    assert_null(strstr(s.out.p, "fast 2")); /* waits behind /slow */
    assert_non_null(s.deferred);

    struct http_response res = {200, "application/json", {0}};
    http_buf_printf(&res.body, "slow done");
    http_deferred_finish(pending, &res);
    http_buf_free(&res.body);
    assert_int_equal(outputs, 1);
    const char *a = strstr(s.out.p, "fast 1"), *b = strstr(s.out.p, "slow done");
    const char *c = strstr(s.out.p, "fast 2"), *d = strstr(s.out.p, "fast 3");
    assert_true(a && b && c && d && a < b && b < c && c < d);
    assert_null(s.deferred);
    http_session_free(&s);

    /* the connection goes away first: finishing only frees the handle */
    http_session_init(&s, &r);
    const char *one = "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n";
    http_session_feed(&s, one, strlen(one));
    http_session_free(&s);
    struct http_response res2 = {200, "text/plain", {0}};
    http_deferred_finish(pending, &res2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_form_get),
        cmocka_unit_test(test_form_post_first),
        cmocka_unit_test(test_form_bad_escape),
        cmocka_unit_test(test_parse_time),
        cmocka_unit_test(test_parse_duration),
        cmocka_unit_test(test_render_vector_matrix),
        cmocka_unit_test(test_render_large),
        cmocka_unit_test(test_render_scalar_string),
        cmocka_unit_test(test_render_error),
        cmocka_unit_test(test_deferred_in_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
