/* fake_exporter.c — Prometheus exporters for the scrape tests and the
 * scrape benchmark: N targets on N consecutive loopback ports, each serving
 * M series whose values change at every scrape, on one libuv loop.
 *
 *   fake_exporter [-a ADDR] [-p FIRST_PORT] [-n TARGETS] [-m SERIES]
 *                 [-s SLOW_MS] [-k VANISH_AFTER]
 *
 * What a port serves depends on the path asked for:
 *   /metrics   M series, Prometheus text 0.0.4
 *   /om        the same series as OpenMetrics 1.0 (with # EOF)
 *   /slow      /metrics after SLOW_MS (default 3000): for scrape timeouts
 *   /500       HTTP 500
 *   /bad       a body with a syntax error on line 3
 *   /vanish    /metrics plus fake_vanishing, which is left out after
 *              VANISH_AFTER (default 2) scrapes of /vanish on that port
 * anything else is 404. Values: fake_scrapes_total is the number of
 * scrapes of that port so far, fake_value{idx="i"} is i + that number.
 * Prints "listening FIRST-LAST" once every port is bound; runs until
 * killed. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

struct port {
    uv_tcp_t tcp;
    int number;
    unsigned long long scrapes, vanish_scrapes;
};

struct conn {
    uv_tcp_t tcp;
    struct port *port;
    char req[8192];
    size_t len;
    uv_timer_t delay;          /* /slow */
    char *pending;             /* response waiting for the delay */
    size_t pending_len;
    int closing;
};

static int nseries = 100;
static int slow_ms = 3000;
static unsigned long long vanish_after = 2;

struct buf {
    char *p;
    size_t len, cap;
};

static void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void buf_printf(struct buf *b, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n >= 0 && (size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        b->cap = b->cap ? b->cap * 2 : 65536;
        if (!(b->p = realloc(b->p, b->cap))) {
            perror("fake_exporter");
            exit(1);
        }
    }
}

/* The series; om: OpenMetrics names the counter's family without _total. */
static void series(struct buf *b, const struct port *p, int vanishing, int om)
{
    const char *family = om ? "fake_scrapes" : "fake_scrapes_total";
    buf_printf(b, "# HELP %s Scrapes of this port.\n"
                  "# TYPE %s counter\n"
                  "fake_scrapes_total %llu\n", family, family, p->scrapes);
    buf_printf(b, "# HELP fake_value A value that changes at every scrape.\n"
                  "# TYPE fake_value gauge\n");
    for (int i = 0; i < nseries; i++)
        buf_printf(b, "fake_value{idx=\"%d\",path=\"/api/v1/items\",code=\"200\"} %llu\n", i,
                   (unsigned long long)i + p->scrapes);
    if (vanishing)
        buf_printf(b, "# TYPE fake_vanishing gauge\nfake_vanishing 1\n");
}

/* The whole response for path. Sets *delay for /slow. */
static void respond(struct port *p, const char *path, struct buf *out, int *delay)
{
    struct buf body = {0};
    const char *status = "200 OK", *ctype = "text/plain; version=0.0.4; charset=utf-8";
    *delay = 0;
    p->scrapes++;
    if (strcmp(path, "/metrics") == 0) {
        series(&body, p, 0, 0);
    } else if (strcmp(path, "/om") == 0) {
        series(&body, p, 0, 1);
        buf_printf(&body, "# EOF\n");
        ctype = "application/openmetrics-text; version=1.0.0; charset=utf-8";
    } else if (strcmp(path, "/slow") == 0) {
        series(&body, p, 0, 0);
        *delay = 1;
    } else if (strcmp(path, "/500") == 0) {
        status = "500 Internal Server Error";
        buf_printf(&body, "internal error\n");
    } else if (strcmp(path, "/bad") == 0) {
        buf_printf(&body, "ok_metric 1\nok_metric2 2\nbroken{ 3\n");
    } else if (strcmp(path, "/vanish") == 0) {
        p->vanish_scrapes++;
        series(&body, p, p->vanish_scrapes <= vanish_after, 0);
    } else {
        status = "404 Not Found";
        buf_printf(&body, "not found\n");
    }
    buf_printf(out, "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n\r\n", status,
               ctype, body.len);
    buf_printf(out, "%.*s", (int)body.len, body.p ? body.p : "");
    free(body.p);
}

static void on_closed(uv_handle_t *h)
{
    struct conn *c = h->data;
    if (h == (uv_handle_t *)&c->tcp)
        uv_close((uv_handle_t *)&c->delay, NULL), c->closing = 2;
    else {
        free(c->pending);
        free(c);
    }
}

static void conn_close(struct conn *c)
{
    if (c->closing)
        return;
    c->closing = 1;
    uv_close((uv_handle_t *)&c->tcp, on_closed);
}

static void on_written(uv_write_t *w, int status)
{
    free(w->data);
    if (status)
        conn_close(w->handle->data);
    free(w);
}

static void send_bytes(struct conn *c, char *p, size_t len)
{
    uv_write_t *w = malloc(sizeof *w);
    uv_buf_t b = uv_buf_init(p, (unsigned)len);
    w->data = p;
    if (uv_write(w, (uv_stream_t *)&c->tcp, &b, 1, on_written)) {
        free(p);
        free(w);
        conn_close(c);
    }
}

static void on_delay(uv_timer_t *t)
{
    struct conn *c = t->data;
    char *p = c->pending;
    c->pending = NULL;
    if (!c->closing)
        send_bytes(c, p, c->pending_len);
    else
        free(p);
}

/* Answers every complete request in c->req. */
static void serve(struct conn *c)
{
    char *end;
    while (!c->pending && (end = memmem(c->req, c->len, "\r\n\r\n", 4))) {
        size_t used = (size_t)(end - c->req) + 4;
        char path[256] = "";
        sscanf(c->req, "%*s %255[^? ]", path);
        struct buf out = {0};
        int delay;
        respond(c->port, path, &out, &delay);
        memmove(c->req, c->req + used, c->len - used);
        c->len -= used;
        if (delay) {
            c->pending = out.p;
            c->pending_len = out.len;
            uv_timer_start(&c->delay, on_delay, (uint64_t)slow_ms, 0);
        } else {
            send_bytes(c, out.p, out.len);
        }
    }
}

static void on_alloc(uv_handle_t *h, size_t size, uv_buf_t *b)
{
    struct conn *c = h->data;
    (void)size;
    *b = uv_buf_init(c->req + c->len, (unsigned)(sizeof c->req - c->len));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    struct conn *c = s->data;
    (void)b;
    if (n < 0 || (n == 0 && c->len == sizeof c->req)) {
        conn_close(c);
        return;
    }
    c->len += (size_t)n;
    serve(c);
}

static void on_connection(uv_stream_t *server, int status)
{
    struct port *p = server->data;
    if (status)
        return;
    struct conn *c = calloc(1, sizeof *c);
    c->port = p;
    uv_tcp_init(server->loop, &c->tcp);
    uv_timer_init(server->loop, &c->delay);
    c->tcp.data = c->delay.data = c;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) == 0)
        uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    else
        conn_close(c);
}

int main(int argc, char **argv)
{
    const char *addr = "127.0.0.1";
    int first = 9900, n = 1, opt;
    while ((opt = getopt(argc, argv, "a:p:n:m:s:k:")) != -1) {
        switch (opt) {
        case 'a': addr = optarg; break;
        case 'p': first = atoi(optarg); break;
        case 'n': n = atoi(optarg); break;
        case 'm': nseries = atoi(optarg); break;
        case 's': slow_ms = atoi(optarg); break;
        case 'k': vanish_after = strtoull(optarg, NULL, 10); break;
        default:
            fprintf(stderr, "usage: fake_exporter [-a ADDR] [-p FIRST_PORT] [-n TARGETS] "
                            "[-m SERIES] [-s SLOW_MS] [-k VANISH_AFTER]\n");
            return 2;
        }
    }
    if (n < 1 || first < 1 || first + n - 1 > 65535 || nseries < 0) {
        fprintf(stderr, "fake_exporter: bad -n, -p or -m\n");
        return 2;
    }
    uv_loop_t *loop = uv_default_loop();
    struct port *ports = calloc((size_t)n, sizeof *ports);
    for (int i = 0; i < n; i++) {
        struct sockaddr_in sa;
        struct port *p = &ports[i];
        p->number = first + i;
        uv_tcp_init(loop, &p->tcp);
        p->tcp.data = p;
        int rc = uv_ip4_addr(addr, p->number, &sa);
        if (!rc)
            rc = uv_tcp_bind(&p->tcp, (struct sockaddr *)&sa, 0);
        if (!rc)
            rc = uv_listen((uv_stream_t *)&p->tcp, 128, on_connection);
        if (rc) {
            fprintf(stderr, "fake_exporter: cannot listen on %s:%d: %s\n", addr, p->number,
                    uv_strerror(rc));
            return 1;
        }
    }
    printf("listening %d-%d\n", first, first + n - 1);
    fflush(stdout);
    return uv_run(loop, UV_RUN_DEFAULT);
}
