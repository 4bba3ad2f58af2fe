/* listen.c — statsd over UDP and TCP (see listen.h).
 *
 * Design notes: with UV_UDP_RECVMMSG libuv reads up to STATSD_UDP_BATCH
 * datagrams per system call into one buffer of that many 64 KiB slots and
 * calls recv_cb once per datagram (flag UV_UDP_MMSG_CHUNK), then once more
 * to hand the buffer back (UV_UDP_MMSG_FREE). The listener owns that buffer
 * for its lifetime and gives the same one to every read, so the free call
 * has nothing to do. When a read finds the socket drained, reading pauses
 * for STATSD_UDP_PAUSE_MS: the kernel buffers the next datagrams and the
 * following wakeup takes them in full batches, instead of the loop waking
 * (and switching context) for every few datagrams under load. TCP lines are at most STATSD_MAX_LINE bytes: a longer
 * one is counted as too_long and skipped up to its newline. */
#include "listen.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "log.h"
#include "timefmt.h"

#define UDP_SLOT (64 * 1024)

struct statsd_tcp_conn {
    uv_tcp_t tcp;
    struct statsd_listener *l;
    struct statsd_tcp_conn *next, **pprev;
    size_t len;                /* bytes of an unfinished line in buf */
    int skipping;              /* inside an over-long line: drop to '\n' */
    char buf[STATSD_MAX_LINE + 1];
};

int statsd_listener_init(uv_loop_t *loop, struct statsd_listener *l, struct statsd_agg *agg)
{
    memset(l, 0, sizeof *l);
    l->loop = loop;
    l->agg = agg;
    return 0;
}

/* ---- lines --------------------------------------------------------------- */

static void log_reject(struct statsd_listener *l, enum statsd_reject r, const char *line,
                       size_t len, enum statsd_proto proto)
{
    uint32_t bit = 1u << (r % 32);
    enum vlog_level level = (l->logged_reasons & bit) ? VLOG_DEBUG : VLOG_WARN;
    if (level < vlog_get_level())
        return;
    l->logged_reasons |= bit;
    char text[201];
    size_t n = len < sizeof text - 1 ? len : sizeof text - 1;
    memcpy(text, line, n);
    text[n] = '\0';
    vlog(level, level == VLOG_WARN ? "statsd line rejected (first of its reason; more at debug)"
                                   : "statsd line rejected",
         "reason=%s why=%s proto=%s line=%s", statsd_reject_label(r), statsd_reject_text(r),
         proto == STATSD_UDP ? "udp" : "tcp", text);
}

static void feed_line(struct statsd_listener *l, const char *p, size_t n,
                      enum statsd_proto proto, int64_t now_ms)
{
    if (n && p[n - 1] == '\r')
        n--;
    if (n == 0)
        return;
    l->stats.lines[proto]++;
    struct statsd_metric m;
    enum statsd_reject r = statsd_parse_line(p, n, &m, NULL);
    if (r != STATSD_OK) {
        l->stats.rejected[r]++;
        log_reject(l, r, p, n, proto);
        return;
    }
    if (statsd_agg_add(l->agg, &m, now_ms) == 0)
        l->stats.metrics_accepted++;
}

void statsd_listener_feed(struct statsd_listener *l, const char *buf, size_t len,
                          enum statsd_proto proto, int64_t now_ms)
{
    const char *end = buf + len;
    while (buf < end) {
        const char *nl = memchr(buf, '\n', (size_t)(end - buf));
        const char *stop = nl ? nl : end;
        feed_line(l, buf, (size_t)(stop - buf), proto, now_ms);
        buf = nl ? nl + 1 : end;
    }
}

/* ---- UDP ----------------------------------------------------------------- */

static void udp_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    struct statsd_listener *l = h->data;
    *buf = uv_buf_init(l->udp_buf, UDP_SLOT * STATSD_UDP_BATCH);
}

static void udp_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf,
                     const struct sockaddr *addr, unsigned flags);

static void udp_resume(uv_timer_t *t)
{
    struct statsd_listener *l = t->data;
    if (!l->closing && uv_udp_recv_start(&l->udp, udp_alloc, udp_recv) != 0)
        vlog(VLOG_ERROR, "statsd udp cannot resume reading", NULL);
}

static void udp_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf,
                     const struct sockaddr *addr, unsigned flags)
{
    struct statsd_listener *l = h->data;
    if (flags & UV_UDP_MMSG_FREE)
        return; /* the buffer is l->udp_buf, kept */
    if (nread < 0) {
        vlog(VLOG_WARN, "statsd udp read failed", "err=%s", uv_strerror((int)nread));
        return;
    }
    if (nread == 0 && !addr) { /* drained: let the next datagrams gather */
        if (!l->closing && uv_udp_recv_stop(h) == 0)
            uv_timer_start(&l->udp_pause, udp_resume, STATSD_UDP_PAUSE_MS, 0);
        return;
    }
    l->stats.udp_packets++;
    statsd_listener_feed(l, buf->base, (size_t)nread, STATSD_UDP, timefmt_now_ms());
}

/* Asks for bytes of receive buffer: SO_RCVBUFFORCE passes net.core.rmem_max
 * when we may (CAP_NET_ADMIN), SO_RCVBUF otherwise. Returns what the kernel
 * reports (Linux doubles the request for its bookkeeping). */
static uint64_t set_rcvbuf(uv_udp_t *h, uint64_t bytes)
{
    uv_os_fd_t fd;
    if (uv_fileno((uv_handle_t *)h, &fd) != 0)
        return 0;
    int v = bytes > (uint64_t)(INT32_MAX / 2) ? INT32_MAX / 2 : (int)bytes;
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &v, sizeof v) != 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof v);
    int got = 0;
    socklen_t len = sizeof got;
    getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &got, &len);
    return got > 0 ? (uint64_t)got : 0;
}

int statsd_listener_udp(struct statsd_listener *l, const struct sockaddr *addr,
                        uint64_t rcvbuf_bytes)
{
    l->udp_buf = malloc(UDP_SLOT * STATSD_UDP_BATCH);
    if (!l->udp_buf)
        return UV_ENOMEM;
    int rc = uv_udp_init_ex(l->loop, &l->udp, addr->sa_family | UV_UDP_RECVMMSG);
    if (rc)
        return rc;
    l->udp_open = 1;
    l->udp.data = l;
    if ((rc = uv_timer_init(l->loop, &l->udp_pause)) != 0)
        return rc;
    l->udp_pause_open = 1;
    l->udp_pause.data = l;
    l->udp_family = addr->sa_family;
    if ((rc = uv_udp_bind(&l->udp, addr, 0)) != 0)
        return rc;
    l->receive_buffer_bytes = set_rcvbuf(&l->udp, rcvbuf_bytes);
    uv_os_fd_t fd;
    struct stat st;
    if (uv_fileno((uv_handle_t *)&l->udp, &fd) == 0 && fstat(fd, &st) == 0)
        l->udp_inode = (unsigned long)st.st_ino;
    return uv_udp_recv_start(&l->udp, udp_alloc, udp_recv);
}

int statsd_listener_udp_drops(const struct statsd_listener *l, uint64_t *drops)
{
    if (!l->udp_open || !l->udp_inode)
        return -ENOENT;
    FILE *f = fopen(l->udp_family == AF_INET6 ? "/proc/net/udp6" : "/proc/net/udp", "r");
    if (!f)
        return -errno;
    char line[512];
    int rc = -ENOENT;
    while (rc && fgets(line, sizeof line, f)) {
        unsigned long inode;
        unsigned long long d;
        if (sscanf(line, "%*s %*s %*s %*s %*s %*s %*s %*s %*s %lu %*s %*s %llu", &inode, &d) ==
                2 && inode == l->udp_inode) {
            *drops = d;
            rc = 0;
        }
    }
    fclose(f);
    return rc;
}

int statsd_udp_rcvbuf_errors(uint64_t *errors)
{
    FILE *f = fopen("/proc/net/snmp", "r");
    if (!f)
        return -errno;
    char names[1024], values[1024];
    int rc = -ENOENT;
    while (rc && fgets(names, sizeof names, f)) {
        if (strncmp(names, "Udp: ", 5) != 0 || !fgets(values, sizeof values, f))
            continue;
        char *sn, *sv;
        char *n = strtok_r(names, " \n", &sn), *v = strtok_r(values, " \n", &sv);
        while (n && v && strcmp(n, "RcvbufErrors") != 0) {
            n = strtok_r(NULL, " \n", &sn);
            v = strtok_r(NULL, " \n", &sv);
        }
        if (n && v) {
            *errors = strtoull(v, NULL, 10);
            rc = 0;
        }
    }
    fclose(f);
    return rc;
}

/* ---- TCP ----------------------------------------------------------------- */

static void maybe_done(struct statsd_listener *l)
{
    if (l->closing && !l->udp_open && !l->udp_pause_open && !l->tcp_open && l->nconns == 0 &&
        l->close_cb)
        l->close_cb(l);
}

static void conn_closed(uv_handle_t *h)
{
    struct statsd_tcp_conn *c = h->data;
    struct statsd_listener *l = c->l;
    if ((*c->pprev = c->next))
        c->next->pprev = c->pprev;
    free(c);
    l->nconns--;
    maybe_done(l);
}

static void conn_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    struct statsd_tcp_conn *c = h->data;
    if (c->len == sizeof c->buf) { /* a whole buffer without a newline */
        c->l->stats.lines[STATSD_TCP]++;
        c->l->stats.rejected[STATSD_REJECT_TOO_LONG]++;
        log_reject(c->l, STATSD_REJECT_TOO_LONG, c->buf, c->len, STATSD_TCP);
        c->skipping = 1;
        c->len = 0;
    }
    *buf = uv_buf_init(c->buf + c->len, (unsigned)(sizeof c->buf - c->len));
}

static void conn_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct statsd_tcp_conn *c = s->data;
    struct statsd_listener *l = c->l;
    (void)buf;
    int64_t now = timefmt_now_ms();
    if (nread < 0) {
        if (c->len && !c->skipping) /* a last line without '\n' */
            statsd_listener_feed(l, c->buf, c->len, STATSD_TCP, now);
        c->len = 0;
        uv_close((uv_handle_t *)&c->tcp, conn_closed);
        return;
    }
    size_t start = 0, end = c->len + (size_t)nread;
    char *nl;
    while ((nl = memchr(c->buf + c->len, '\n', end - c->len)) != NULL) {
        size_t stop = (size_t)(nl - c->buf);
        if (c->skipping)
            c->skipping = 0;
        else
            statsd_listener_feed(l, c->buf + start, stop - start, STATSD_TCP, now);
        start = c->len = stop + 1;
    }
    if (c->skipping) { /* still inside an over-long line: drop what we have */
        c->len = 0;
        return;
    }
    memmove(c->buf, c->buf + start, end - start);
    c->len = end - start;
}

static void on_connection(uv_stream_t *server, int status)
{
    struct statsd_listener *l = server->data;
    if (status < 0)
        return;
    struct statsd_tcp_conn *c = malloc(sizeof *c);
    if (!c)
        return;
    memset(c, 0, offsetof(struct statsd_tcp_conn, buf));
    c->l = l;
    uv_tcp_init(l->loop, &c->tcp);
    c->tcp.data = c;
    if ((c->next = l->conns))
        c->next->pprev = &c->next;
    l->conns = c;
    c->pprev = &l->conns;
    l->nconns++;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0 || l->nconns > STATSD_TCP_MAX_CONNECTIONS) {
        l->stats.tcp_connections_rejected++;
        uv_close((uv_handle_t *)&c->tcp, conn_closed);
        return;
    }
    l->stats.tcp_connections++;
    uv_read_start((uv_stream_t *)&c->tcp, conn_alloc, conn_read);
}

int statsd_listener_tcp(struct statsd_listener *l, const struct sockaddr *addr)
{
    int rc = uv_tcp_init(l->loop, &l->tcp);
    if (rc)
        return rc;
    l->tcp_open = 1;
    l->tcp.data = l;
    rc = uv_tcp_bind(&l->tcp, addr, 0);
    return rc ? rc : uv_listen((uv_stream_t *)&l->tcp, 128, on_connection);
}

/* ---- closing ------------------------------------------------------------- */

static void udp_closed(uv_handle_t *h)
{
    struct statsd_listener *l = h->data;
    l->udp_open = 0;
    free(l->udp_buf);
    l->udp_buf = NULL;
    maybe_done(l);
}

static void udp_pause_closed(uv_handle_t *h)
{
    struct statsd_listener *l = h->data;
    l->udp_pause_open = 0;
    maybe_done(l);
}

static void tcp_closed(uv_handle_t *h)
{
    struct statsd_listener *l = h->data;
    l->tcp_open = 0;
    maybe_done(l);
}

void statsd_listener_close(struct statsd_listener *l, void (*cb)(struct statsd_listener *l))
{
    l->closing = 1;
    l->close_cb = cb;
    for (struct statsd_tcp_conn *c = l->conns; c; c = c->next)
        if (!uv_is_closing((uv_handle_t *)&c->tcp))
            uv_close((uv_handle_t *)&c->tcp, conn_closed);
    if (l->udp_pause_open)
        uv_close((uv_handle_t *)&l->udp_pause, udp_pause_closed);
    if (l->udp_open)
        uv_close((uv_handle_t *)&l->udp, udp_closed);
    else
        free(l->udp_buf);
    if (l->tcp_open)
        uv_close((uv_handle_t *)&l->tcp, tcp_closed);
    if (!l->udp_open)
        l->udp_buf = NULL;
    maybe_done(l);
}
