/* test_httpc.c — the libcurl-on-libuv client against real servers on
 * loopback inside the test: a raw-socket responder thread (status codes,
 * slow answers, redirects, gzip, auth headers, large bodies, 100 requests at
 * once, cancel) and `openssl s_server` with a self-signed certificate for
 * HTTPS (CA file, insecure_skip_verify, server_name). Every test ends with
 * the loop closing clean. */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "httpc.h"

/* ---- a raw-socket responder thread -------------------------------------- */

/* gzip of "metric_a 1\nmetric_b 2\n" repeated 20 times. */
static const unsigned char gzip_body[] = {
    0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x03, 0xcb, 0x4d, 0x2d, 0x29, 0xca,
    0x4c, 0x8e, 0x4f, 0x54, 0x30, 0xe4, 0xca, 0x85, 0x30, 0x93, 0x14, 0x8c, 0x60, 0xcc, 0x51,
    0xd1, 0x41, 0x2b, 0x0a, 0x00, 0x3d, 0x50, 0x79, 0x81, 0xb8, 0x01, 0x00, 0x00};

#define MAX_HELD 256

struct server {
    int lfd, port;
    pthread_t thread;
    volatile int stop;
    int held[MAX_HELD];         /* /slow connections: never answered */
    int nheld;
    pthread_mutex_t mu;
    char last_request[4096];    /* guarded by mu */
    unsigned served;
};

static void write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t k = write(fd, c, n);
        if (k <= 0)
            return;
        c += k;
        n -= (size_t)k;
    }
}

static void respond(int fd, const char *status, const char *extra, const void *body, size_t len)
{
    char head[512];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %s\r\n%sContent-Length: %zu\r\nConnection: close\r\n\r\n",
                     status, extra, len);
    write_all(fd, head, (size_t)n);
    write_all(fd, body, len);
}

/* Answers one request on fd; returns 1 when fd must stay open. */
static int serve(struct server *s, int fd)
{
    char req[4096];
    size_t len = 0;
    while (len < sizeof req - 1) {
        ssize_t k = read(fd, req + len, sizeof req - 1 - len);
        if (k <= 0)
            break;
        len += (size_t)k;
        req[len] = '\0';
        if (strstr(req, "\r\n\r\n"))
            break;
    }
    req[len] = '\0';
    pthread_mutex_lock(&s->mu);
    memcpy(s->last_request, req, len + 1);
    s->served++;
    pthread_mutex_unlock(&s->mu);
    char path[256] = "";
    sscanf(req, "%*s %255s", path);
    if (strcmp(path, "/ok") == 0) {
        respond(fd, "200 OK", "Content-Type: text/plain; version=0.0.4\r\n", "up 1\n", 5);
    } else if (strcmp(path, "/500") == 0) {
        respond(fd, "500 Internal Server Error", "", "oops\n", 5);
    } else if (strcmp(path, "/slow") == 0) {
        return 1;
    } else if (strcmp(path, "/redirect") == 0) {
        respond(fd, "302 Found", "Location: /ok\r\n", "", 0);
    } else if (strcmp(path, "/loop") == 0) {
        respond(fd, "302 Found", "Location: /loop\r\n", "", 0);
    } else if (strcmp(path, "/gzip") == 0) {
        respond(fd, "200 OK", "Content-Encoding: gzip\r\n", gzip_body, sizeof gzip_body);
    } else if (strcmp(path, "/big") == 0 || strcmp(path, "/bigchunked") == 0) {
        static char big[100000];
        memset(big, 'x', sizeof big);
        if (path[4] == '\0') {
            respond(fd, "200 OK", "", big, sizeof big);
        } else {    /* no Content-Length: only the received bytes tell */
            const char *h = "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n";
            write_all(fd, h, strlen(h));
            write_all(fd, big, sizeof big);
        }
    } else if (strcmp(path, "/echo") == 0) {
        respond(fd, "200 OK", "", req, len);
    } else {
        respond(fd, "404 Not Found", "", "", 0);
    }
    return 0;
}

static void *server_main(void *arg)
{
    struct server *s = arg;
    while (!s->stop) {
        struct pollfd p = {.fd = s->lfd, .events = POLLIN};
        if (poll(&p, 1, 20) <= 0)
            continue;
        int fd = accept(s->lfd, NULL, NULL);
        if (fd < 0)
            continue;
        if (serve(s, fd) && s->nheld < MAX_HELD)
            s->held[s->nheld++] = fd;
        else
            close(fd);
    }
    return NULL;
}

/* A listening socket on 127.0.0.1 with a free port. */
static int listen_loopback(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(fd, 256), 0);
    socklen_t alen = sizeof a;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

static void server_start(struct server *s)
{
    memset(s, 0, sizeof *s);
    s->lfd = listen_loopback(&s->port);
    pthread_mutex_init(&s->mu, NULL);
    assert_int_equal(pthread_create(&s->thread, NULL, server_main, s), 0);
}

static void server_stop(struct server *s)
{
    s->stop = 1;
    pthread_join(s->thread, NULL);
    close(s->lfd);
    for (int i = 0; i < s->nheld; i++)
        close(s->held[i]);
    pthread_mutex_destroy(&s->mu);
}

static void last_request(struct server *s, char *out, size_t size)
{
    pthread_mutex_lock(&s->mu);
    snprintf(out, size, "%s", s->last_request);
    pthread_mutex_unlock(&s->mu);
}

/* ---- the client on a loop ------------------------------------------------ */

struct result {
    int calls;
    int error;
    char errmsg[256];
    long status;
    char content_type[128];
    char *body;
    size_t body_len;
    double seconds;
};

static void on_done(void *arg, const struct httpc_response *res)
{
    struct result *r = arg;
    r->calls++;
    r->error = res->error;
    snprintf(r->errmsg, sizeof r->errmsg, "%s", res->errmsg);
    r->status = res->status;
    snprintf(r->content_type, sizeof r->content_type, "%s", res->content_type);
    free(r->body);
    r->body = malloc(res->body_len + 1);
    memcpy(r->body, res->body, res->body_len + 1);
    r->body_len = res->body_len;
    r->seconds = res->seconds;
}

static void on_closed(void *arg)
{
    *(int *)arg = 1;
}

struct fixture {
    uv_loop_t loop;
    struct httpc *h;
    struct server srv;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    assert_int_equal(httpc_new(&f->loop, &f->h), 0);
    server_start(&f->srv);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    int closed = 0;
    httpc_close(f->h, on_closed, &closed);
    assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
    assert_true(closed);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    server_stop(&f->srv);
    free(f);
    return 0;
}

static void url(char *buf, size_t size, int port, const char *path)
{
    snprintf(buf, size, "http://127.0.0.1:%d%s", port, path);
}

/* Runs one request to completion. r must be zeroed; free r->body after. */
static void fetch(struct fixture *f, struct httpc_request *req, struct result *r)
{
    assert_int_equal(httpc_start(f->h, req, on_done, r, NULL), 0);
    while (!r->calls)
        uv_run(&f->loop, UV_RUN_ONCE);
    assert_int_equal(r->calls, 1);
}

static void test_ok_and_500(void **state)
{
    struct fixture *f = *state;
    char u[128];
    url(u, sizeof u, f->srv.port, "/ok");
    const char *const headers[] = {"Accept: text/plain;version=0.0.4", NULL};
    struct httpc_request req = {.url = u, .headers = headers, .timeout_ms = 5000};
    struct result r = {0};
    fetch(f, &req, &r);
    assert_int_equal(r.error, 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "up 1\n");
    assert_int_equal(r.body_len, 5);
    assert_string_equal(r.content_type, "text/plain; version=0.0.4");
    assert_true(r.seconds > 0 && r.seconds < 5);
    char seen[4096];
    last_request(&f->srv, seen, sizeof seen);
    assert_non_null(strstr(seen, "GET /ok HTTP/1.1\r\n"));
    assert_non_null(strstr(seen, "\r\nUser-Agent: Vigil/0.1\r\n"));
    assert_non_null(strstr(seen, "\r\nAccept: text/plain;version=0.0.4\r\n"));
    assert_null(strstr(seen, "Accept-Encoding"));
    assert_null(strstr(seen, "Authorization"));

    /* A 500 is a response, not a transport error. */
    url(u, sizeof u, f->srv.port, "/500");
    struct result r2 = {0};
    fetch(f, &req, &r2);
    assert_int_equal(r2.error, 0);
    assert_int_equal(r2.status, 500);
    assert_string_equal(r2.body, "oops\n");
    assert_string_equal(r2.content_type, "");
    free(r.body);
    free(r2.body);
}

static void test_timeout(void **state)
{
    struct fixture *f = *state;
    char u[128];
    url(u, sizeof u, f->srv.port, "/slow");
    struct httpc_request req = {.url = u, .timeout_ms = 200};
    struct result r = {0};
    fetch(f, &req, &r);
    assert_int_equal(r.error, -ETIMEDOUT);
    assert_string_equal(r.errmsg, "timeout after 200ms");
    assert_int_equal(r.status, 0);
    req.timeout_ms = 1000;
    struct result r2 = {0};
    fetch(f, &req, &r2);
    assert_string_equal(r2.errmsg, "timeout after 1s");
    free(r.body);
    free(r2.body);
}

static void test_connection_refused(void **state)
{
    struct fixture *f = *state;
    int port, fd = listen_loopback(&port);
    close(fd);  /* nobody listens there now */
    char u[128];
    url(u, sizeof u, port, "/metrics");
    struct httpc_request req = {.url = u, .timeout_ms = 2000};
    struct result r = {0};
    fetch(f, &req, &r);
    assert_int_equal(r.error, -ECONNREFUSED);
    assert_string_equal(r.errmsg, "connection refused");
    free(r.body);

    /* A URL curl rejects is reported through done too. */
    struct httpc_request bad = {.url = "gopher://127.0.0.1/x", .timeout_ms = 2000};
    struct result r2 = {0};
    fetch(f, &bad, &r2);
    assert_int_equal(r2.error, -EINVAL);
    assert_true(r2.errmsg[0] != '\0');
    free(r2.body);
    /* So is one that cannot even be set up (server_name needs a URL to
     * rewrite), asynchronously. */
    struct httpc_request worse = {.url = "not a URL", .server_name = "x"};
    struct result r3 = {0};
    assert_int_equal(httpc_start(f->h, &worse, on_done, &r3, NULL), 0);
    assert_int_equal(r3.calls, 0);
    while (!r3.calls)
        uv_run(&f->loop, UV_RUN_ONCE);
    assert_int_equal(r3.error, -EINVAL);
    assert_non_null(strstr(r3.errmsg, "not a URL"));
    free(r3.body);
}

static void test_redirects(void **state)
{
    struct fixture *f = *state;
    char u[128];
    url(u, sizeof u, f->srv.port, "/redirect");
    struct httpc_request req = {.url = u, .timeout_ms = 5000, .follow_redirects = 1};
    struct result r = {0};
    fetch(f, &req, &r);
    assert_int_equal(r.error, 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "up 1\n");

    /* Not followed: the 302 itself. */
    req.follow_redirects = 0;
    struct result r2 = {0};
    fetch(f, &req, &r2);
    assert_int_equal(r2.error, 0);
    assert_int_equal(r2.status, 302);

    url(u, sizeof u, f->srv.port, "/loop");
    req.follow_redirects = 1;
    struct result r3 = {0};
    fetch(f, &req, &r3);
    assert_int_equal(r3.error, -ELOOP);
    assert_string_equal(r3.errmsg, "stopped after 10 redirects");
    free(r.body);
    free(r2.body);
    free(r3.body);
}

static void test_gzip(void **state)
{
    struct fixture *f = *state;
    char u[128];
    url(u, sizeof u, f->srv.port, "/gzip");
    struct httpc_request req = {.url = u, .timeout_ms = 5000, .accept_gzip = 1};
    struct result r = {0};
    fetch(f, &req, &r);
    assert_int_equal(r.error, 0);
    assert_int_equal(r.body_len, 20 * 22);
    assert_int_equal(strncmp(r.body, "metric_a 1\nmetric_b 2\nmetric_a 1\n", 33), 0);
    char seen[4096];
    last_request(&f->srv, seen, sizeof seen);
    assert_non_null(strstr(seen, "\r\nAccept-Encoding: gzip\r\n"));
    free(r.body);
}

static void test_auth_headers(void **state)
{
    struct fixture *f = *state;
    char u[128];
    url(u, sizeof u, f->srv.port, "/echo");
    struct httpc_request req = {.url = u, .timeout_ms = 5000, .username = "alice",
                                .password = "s3cret"};
    struct result r = {0};
    fetch(f, &req, &r);
    /* base64("alice:s3cret") */
    assert_non_null(strstr(r.body, "\r\nAuthorization: Basic YWxpY2U6czNjcmV0\r\n"));
    struct httpc_request req2 = {.url = u, .timeout_ms = 5000, .bearer_token = "tok.en-1"};
    struct result r2 = {0};
    fetch(f, &req2, &r2);
    assert_non_null(strstr(r2.body, "\r\nAuthorization: Bearer tok.en-1\r\n"));
    /* server_name changes only the TLS name: the Host header stays. */
    struct httpc_request req3 = {.url = u, .timeout_ms = 5000, .server_name = "vigil.test"};
    struct result r3 = {0};
    fetch(f, &req3, &r3);
    char host[64];
    snprintf(host, sizeof host, "\r\nHost: 127.0.0.1:%d\r\n", f->srv.port);
    if (r3.error || !strstr(r3.body, host))
        fail_msg("server_name over http: %s %s", r3.errmsg, r3.body);
    free(r.body);
    free(r2.body);
    free(r3.body);
}

static void test_body_limit(void **state)
{
    struct fixture *f = *state;
    char u[128];
    const char *paths[] = {"/big", "/bigchunked"};
    for (size_t i = 0; i < 2; i++) {
        url(u, sizeof u, f->srv.port, paths[i]);
        struct httpc_request req = {.url = u, .timeout_ms = 5000, .max_body_bytes = 1000};
        struct result r = {0};
        fetch(f, &req, &r);
        assert_int_equal(r.error, -EFBIG);
        assert_string_equal(r.errmsg, "body size limit exceeded: more than 1000 bytes");
        free(r.body);
        /* At the limit exactly: fine. */
        req.max_body_bytes = 100000;
        struct result r2 = {0};
        fetch(f, &req, &r2);
        assert_int_equal(r2.error, 0);
        assert_int_equal(r2.body_len, 100000);
        free(r2.body);
    }
}

static void test_concurrent(void **state)
{
    struct fixture *f = *state;
    enum { N = 100 };
    char u[128];
    url(u, sizeof u, f->srv.port, "/ok");
    struct httpc_request req = {.url = u, .timeout_ms = 10000};
    struct result *r = calloc(N, sizeof *r);
    for (int i = 0; i < N; i++)
        assert_int_equal(httpc_start(f->h, &req, on_done, &r[i], NULL), 0);
    for (int done = 0; done < N;) {
        uv_run(&f->loop, UV_RUN_ONCE);
        done = 0;
        for (int i = 0; i < N; i++)
            done += r[i].calls;
    }
    for (int i = 0; i < N; i++) {
        assert_int_equal(r[i].calls, 1);
        if (r[i].error || r[i].status != 200)
            fail_msg("request %d: %d %s status %ld", i, r[i].error, r[i].errmsg, r[i].status);
        free(r[i].body);
    }
    free(r);
}

struct cancel_ctx {
    struct httpc *h;
    uint64_t id;
    uv_timer_t timer;
};

static void cancel_later(uv_timer_t *t)
{
    struct cancel_ctx *c = t->data;
    httpc_cancel(c->h, c->id);
    uv_close((uv_handle_t *)t, NULL);
}

static void test_cancel(void **state)
{
    struct fixture *f = *state;
    char u[128];
    url(u, sizeof u, f->srv.port, "/slow");
    struct httpc_request req = {.url = u, .timeout_ms = 300};
    /* Cancelled at once, and cancelled while connected and waiting. */
    struct result r1 = {0}, r2 = {0}, r3 = {0};
    uint64_t id1, id2;
    assert_int_equal(httpc_start(f->h, &req, on_done, &r1, &id1), 0);
    httpc_cancel(f->h, id1);
    assert_int_equal(httpc_start(f->h, &req, on_done, &r2, &id2), 0);
    struct cancel_ctx c = {.h = f->h, .id = id2};
    uv_timer_init(&f->loop, &c.timer);
    c.timer.data = &c;
    uv_timer_start(&c.timer, cancel_later, 100, 0);
    /* A request that fails to start, cancelled before its done runs. */
    struct httpc_request bad = {.url = "not a URL", .server_name = "x", .timeout_ms = 300};
    uint64_t id3;
    assert_int_equal(httpc_start(f->h, &bad, on_done, &r3, &id3), 0);
    httpc_cancel(f->h, id3);
    httpc_cancel(f->h, 999999);  /* unknown: nothing happens */
    /* Long past the timeout: still no callback. */
    uint64_t t0 = uv_now(&f->loop);
    while (uv_now(&f->loop) - t0 < 600 && uv_run(&f->loop, UV_RUN_ONCE))
        uv_update_time(&f->loop);
    assert_int_equal(r1.calls + r2.calls + r3.calls, 0);
}

static void test_close_with_requests_in_flight(void **state)
{
    struct fixture *f = *state;
    char u[128];
    url(u, sizeof u, f->srv.port, "/slow");
    struct httpc_request req = {.url = u, .timeout_ms = 5000};
    struct result r[3] = {{0}};
    for (int i = 0; i < 3; i++)
        assert_int_equal(httpc_start(f->h, &req, on_done, &r[i], NULL), 0);
    for (int i = 0; i < 20; i++)
        uv_run(&f->loop, UV_RUN_NOWAIT);
    /* teardown closes h now: no callback, the loop ends clean. */
    assert_int_equal(r[0].calls + r[1].calls + r[2].calls, 0);
}

/* ---- HTTPS with openssl s_server ------------------------------------------- */

struct tls_server {
    pid_t pid;
    int port;
    char dir[64], cert[96], key[96];
};

static int run_quiet(char *const argv[])
{
    pid_t pid = fork();
    if (pid == 0) {
        freopen("/dev/null", "w", stdout);
        freopen("/dev/null", "w", stderr);
        execvp(argv[0], argv);
        _exit(127);
    }
    int st;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Starts s_server with a certificate for the name vigil.test only.
 * @return 0, or -1 when the openssl command is not there. */
static int tls_server_start(struct tls_server *t)
{
    snprintf(t->dir, sizeof t->dir, "/tmp/vigil-httpc-XXXXXX");
    assert_non_null(mkdtemp(t->dir));
    snprintf(t->cert, sizeof t->cert, "%s/cert.pem", t->dir);
    snprintf(t->key, sizeof t->key, "%s/key.pem", t->dir);
    char *gen[] = {"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                   "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj",
                   "/CN=vigil.test", "-addext", "subjectAltName=DNS:vigil.test",
                   "-keyout", t->key, "-out", t->cert, NULL};
    if (run_quiet(gen) != 0)
        return -1;
    int fd = listen_loopback(&t->port);
    close(fd);
    char accept[32];
    snprintf(accept, sizeof accept, "127.0.0.1:%d", t->port);
    t->pid = fork();
    if (t->pid == 0) {
        freopen("/dev/null", "w", stdout);
        freopen("/dev/null", "w", stderr);
        execlp("openssl", "openssl", "s_server", "-accept", accept, "-cert", t->cert, "-key",
               t->key, "-www", "-quiet", (char *)NULL);
        _exit(127);
    }
    /* Wait until it accepts connections. */
    for (int i = 0; i < 200; i++) {
        int c = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(t->port),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        int ok = connect(c, (struct sockaddr *)&a, sizeof a) == 0;
        close(c);
        if (ok)
            return 0;
        nanosleep(&(struct timespec){0, 20 * 1000 * 1000}, NULL);
    }
    fail_msg("openssl s_server did not start");
    return -1;
}

static void tls_server_stop(struct tls_server *t)
{
    if (t->pid > 0) {
        kill(t->pid, SIGTERM);
        waitpid(t->pid, NULL, 0);
    }
    unlink(t->cert);
    unlink(t->key);
    rmdir(t->dir);
}

static void test_https(void **state)
{
    struct fixture *f = *state;
    struct tls_server t = {0};
    if (tls_server_start(&t) != 0) {
        tls_server_stop(&t);
        skip();
    }
    char u[128];
    snprintf(u, sizeof u, "https://127.0.0.1:%d/", t.port);
    /* The system CAs do not know the certificate. */
    struct httpc_request req = {.url = u, .timeout_ms = 5000};
    struct result r1 = {0};
    fetch(f, &req, &r1);
    assert_int_equal(r1.error, -EPROTO);
    assert_int_equal(strncmp(r1.errmsg, "TLS: ", 5), 0);
    /* Trusted, but issued for vigil.test, not 127.0.0.1. */
    req.ca_file = t.cert;
    struct result r2 = {0};
    fetch(f, &req, &r2);
    assert_int_equal(r2.error, -EPROTO);
    if (!strstr(r2.errmsg, "127.0.0.1"))
        fail_msg("name mismatch: %s", r2.errmsg);
    /* server_name makes the name match. */
    req.server_name = "vigil.test";
    struct result r3 = {0};
    fetch(f, &req, &r3);
    if (r3.error)
        fail_msg("server_name: %s", r3.errmsg);
    assert_int_equal(r3.status, 200);
    /* insecure_skip_verify: no CA needed. */
    struct httpc_request req4 = {.url = u, .timeout_ms = 5000, .insecure_skip_verify = 1};
    struct result r4 = {0};
    fetch(f, &req4, &r4);
    if (r4.error)
        fail_msg("insecure: %s", r4.errmsg);
    assert_int_equal(r4.status, 200);
    free(r1.body);
    free(r2.body);
    free(r3.body);
    free(r4.body);
    tls_server_stop(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ok_and_500, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connection_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_redirects, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gzip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_auth_headers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_body_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_with_requests_in_flight, setup, teardown),
        cmocka_unit_test_setup_teardown(test_https, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
