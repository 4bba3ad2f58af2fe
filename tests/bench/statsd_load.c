/* statsd_load — statsd / DogStatsD load generator for tests/bench/statsd.sh,
 * and a tiny sender of exact datagrams or TCP writes for the integration
 * tests (POSIX sh has no /dev/udp).
 *
 * Load mode pre-builds a pool of datagrams with deterministic content (mixed
 * types, many names, a few tags) and sends it round-robin with sendmmsg,
 * paced to a target rate of metrics per second across the run, until COUNT
 * metrics are sent or SECONDS have passed. It prints what it actually sent
 * as one key=value line, so the benchmark can compute the loss. */
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#define MAX_DATAGRAM 8192
#define MAX_BATCH 1024

struct load_opts {
    struct sockaddr_in addr;
    unsigned per_datagram;    /* metrics per datagram */
    unsigned names;           /* distinct metric names */
    double rate;              /* metrics/s; 0 = as fast as possible */
    uint64_t count;           /* stop after this many metrics */
    double seconds;           /* ... or after this long */
    unsigned batch;           /* datagrams per sendmmsg */
    int no_tags;              /* plain statsd: leave the DogStatsD tags out */
};

/* One pre-built datagram of the pool. */
struct datagram {
    size_t off, len;
    unsigned metrics;
    double counter_sum;       /* sum of value / rate of its untagged counters */
};

struct pool {
    char *buf;
    struct datagram *dg;
    size_t n;
};

static void usage(void)
{
    fprintf(stderr,
        "usage: statsd_load [-a ADDR:PORT] [-m PER_DATAGRAM] [-n NAMES] [-r RATE]\n"
        "                   [-c COUNT] [-t SECONDS] [-b BATCH] [-T]\n"
        "       statsd_load send udp|tcp ADDR:PORT DATA...\n"
        "load: sends COUNT metrics (default 1000000) or for SECONDS (10), paced to\n"
        "RATE metrics/s (0: as fast as possible), PER_DATAGRAM (20) per datagram\n"
        "over NAMES (1000) names, BATCH (64) datagrams per sendmmsg; -T: no\n"
        "DogStatsD tags (plain statsd servers); prints\n"
        "datagrams= metrics= counter_sum= seconds= offered_rate= cpu_s=\n"
        "send: each DATA is one datagram or one TCP write (200 ms apart);\n"
        "escapes \\n, \\\\ and \\xHH\n");
    exit(2);
}

static int parse_addr(const char *s, struct sockaddr_in *out /* OUT */)
{
    char host[64];
    const char *colon = strrchr(s, ':');
    if (!colon || (size_t)(colon - s) >= sizeof host)
        return -EINVAL;
    memcpy(host, s, colon - s);
    host[colon - s] = '\0';
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || port <= 0 || port > 65535)
        return -EINVAL;
    memset(out, 0, sizeof *out);
    out->sin_family = AF_INET;
    out->sin_port = htons((uint16_t)port);
    return inet_pton(AF_INET, host, &out->sin_addr) == 1 ? 0 : -EINVAL;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
           ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

/* Writes metric number k (of name k % names) at p; returns its length and
 * adds its contribution to *counter_sum. The name's index fixes its type,
 * so a name never changes type:
 *   0-2 counter, 3 counter @0.5, 4 gauge, 5 gauge with tags (every 4th a
 *   +delta), 6-7 timer, 8 set, 9 counter with tags. Tagged counters are not
 *   in *counter_sum: plain statsd servers reject them. */
static size_t metric_line(char *p, size_t cap, uint64_t k, unsigned names,
                          int no_tags, double *counter_sum)
{
    unsigned i = (unsigned)(k % names), v = (unsigned)(k * 2654435761u >> 7);
    if (no_tags && i % 10 == 9) {
        *counter_sum += 1;
        return snprintf(p, cap, "vb.posted.c%u:1|c", i);
    }
    size_t len;
    switch (i % 10) {
    case 0: case 1: case 2:
        *counter_sum += 1 + v % 3;
        return snprintf(p, cap, "vb.requests.c%u:%u|c", i, 1 + v % 3);
    case 3:
        *counter_sum += 2.0 * (1 + v % 3);
        return snprintf(p, cap, "vb.sampled.c%u:%u|c|@0.5", i, 1 + v % 3);
    case 4:
        return snprintf(p, cap, "vb.queue.g%u:%u|g", i, v % 1000);
    case 5:
        if (k / names % 4 == 3)
            len = snprintf(p, cap, "vb.pool.g%u:+%u|g", i, v % 5);
        else
            len = snprintf(p, cap, "vb.pool.g%u:%u|g", i, v % 1000);
        if (no_tags || len >= cap)
            return len;
        return len + snprintf(p + len, cap - len, "|#env:bench,shard:%u", i % 7);
    case 6: case 7:
        return snprintf(p, cap, "vb.latency.t%u:%u.%u|ms", i, v % 900, v % 10);
    case 8:
        return snprintf(p, cap, "vb.users.s%u:u%u|s", i, v % 128);
    default:
        return snprintf(p, cap, "vb.posted.c%u:1|c|#service:blog,region:r%u", i, i % 3);
    }
}

/* Builds enough datagrams that the pool covers every name at least twice. */
static int pool_build(const struct load_opts *o, struct pool *pl /* OUT */)
{
    size_t n = 2 * ((size_t)o->names + o->per_datagram - 1) / o->per_datagram;
    if (n < 4096)
        n = 4096;
    pl->n = n;
    pl->dg = calloc(n, sizeof *pl->dg);
    pl->buf = malloc(n * (size_t)MAX_DATAGRAM);
    if (!pl->dg || !pl->buf)
        return -ENOMEM;
    size_t off = 0;
    uint64_t k = 0;
    for (size_t d = 0; d < n; d++) {
        struct datagram *g = &pl->dg[d];
        g->off = off;
        for (unsigned j = 0; j < o->per_datagram; j++, k++) {
            if (j)
                pl->buf[off++] = '\n';
            size_t cap = g->off + MAX_DATAGRAM - off;
            size_t len = metric_line(pl->buf + off, cap, k, o->names, o->no_tags, &g->counter_sum);
            if (len >= cap)
                return -EMSGSIZE;
            off += len;
            g->metrics++;
        }
        g->len = off - g->off;
    }
    return 0;
}

static void sleep_until(double t)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    double d = t - (ts.tv_sec + ts.tv_nsec / 1e9);
    if (d <= 0)
        return;
    ts.tv_sec = (time_t)d;
    ts.tv_nsec = (long)((d - ts.tv_sec) * 1e9);
    nanosleep(&ts, NULL);
}

static int run_load(const struct load_opts *o)
{
    struct pool pl;
    int rc = pool_build(o, &pl);
    if (rc < 0) {
        fprintf(stderr, "statsd_load: building datagrams: %s\n", strerror(-rc));
        return 1;
    }
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    int sndbuf = 8 << 20;
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    if (fd < 0 || connect(fd, (const struct sockaddr *)&o->addr, sizeof o->addr) < 0) {
        perror("statsd_load: socket");
        return 1;
    }
    static struct mmsghdr msgs[MAX_BATCH];
    static struct iovec iov[MAX_BATCH];
    uint64_t metrics = 0, datagrams = 0, errors = 0;
    double counter_sum = 0;
    size_t next = 0;
    double cpu0 = cpu_s(), t0 = now_s(), t = t0;
    while (metrics < o->count && t - t0 < o->seconds) {
        unsigned nb = 0;
        for (; nb < o->batch && metrics + (uint64_t)(nb + 1) * o->per_datagram <= o->count; nb++) {
            const struct datagram *g = &pl.dg[(next + nb) % pl.n];
            iov[nb].iov_base = pl.buf + g->off;
            iov[nb].iov_len = g->len;
            memset(&msgs[nb].msg_hdr, 0, sizeof msgs[nb].msg_hdr);
            msgs[nb].msg_hdr.msg_iov = &iov[nb];
            msgs[nb].msg_hdr.msg_iovlen = 1;
        }
        if (nb == 0)
            break;
        for (unsigned done = 0; done < nb;) {
            int s = sendmmsg(fd, msgs + done, nb - done, 0);
            if (s < 0) {
                if (errno == EINTR)
                    continue;
                errors++;   /* e.g. ECONNREFUSED: nobody listens; skip it */
                s = 1;
            } else {
                for (int j = 0; j < s; j++) {
                    const struct datagram *g = &pl.dg[(next + done + j) % pl.n];
                    metrics += g->metrics;
                    counter_sum += g->counter_sum;
                    datagrams++;
                }
            }
            done += s;
        }
        next = (next + nb) % pl.n;
        if (o->rate > 0)
            sleep_until(t0 + metrics / o->rate);
        t = now_s();
    }
    double secs = now_s() - t0, cpu = cpu_s() - cpu0;
    printf("datagrams=%llu metrics=%llu counter_sum=%.0f send_errors=%llu seconds=%.3f "
           "offered_rate=%.0f cpu_s=%.3f\n",
           (unsigned long long)datagrams, (unsigned long long)metrics, counter_sum,
           (unsigned long long)errors, secs, secs > 0 ? metrics / secs : 0, cpu);
    close(fd);
    free(pl.buf);
    free(pl.dg);
    return 0;
}

/* Decodes \n, \\ and \xHH in place; returns the decoded length. */
static size_t unescape(char *s)
{
    char *w = s;
    for (const char *r = s; *r; r++) {
        if (*r != '\\' || !r[1]) {
            *w++ = *r;
        } else if (r[1] == 'n') {
            *w++ = '\n';
            r++;
        } else if (r[1] == 'x' && r[2] && r[3]) {
            char hex[3] = {r[2], r[3], 0};
            *w++ = (char)strtoul(hex, NULL, 16);
            r += 3;
        } else {
            *w++ = r[1];
            r++;
        }
    }
    return (size_t)(w - s);
}

static int run_send(int argc, char **argv)
{
    if (argc < 4)
        usage();
    int tcp = strcmp(argv[1], "tcp") == 0;
    struct sockaddr_in addr;
    if ((!tcp && strcmp(argv[1], "udp") != 0) || parse_addr(argv[2], &addr) < 0)
        usage();
    int fd = socket(AF_INET, tcp ? SOCK_STREAM : SOCK_DGRAM, 0);
    if (fd < 0 || connect(fd, (const struct sockaddr *)&addr, sizeof addr) < 0) {
        perror("statsd_load send: connect");
        return 1;
    }
    for (int i = 3; i < argc; i++) {
        size_t len = unescape(argv[i]);
        if (send(fd, argv[i], len, 0) != (ssize_t)len) {
            perror("statsd_load send");
            return 1;
        }
        if (tcp && i + 1 < argc)
            usleep(200 * 1000);
    }
    close(fd);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "send") == 0)
        return run_send(argc - 1, argv + 1);
    struct load_opts o = {.per_datagram = 20, .names = 1000, .count = 1000000,
                          .seconds = 10, .batch = 64};
    parse_addr("127.0.0.1:8125", &o.addr);
    int c;
    while ((c = getopt(argc, argv, "a:m:n:r:c:t:b:T")) != -1) {
        switch (c) {
        case 'a': if (parse_addr(optarg, &o.addr) < 0) usage(); break;
        case 'm': o.per_datagram = (unsigned)atoi(optarg); break;
        case 'n': o.names = (unsigned)atoi(optarg); break;
        case 'r': o.rate = atof(optarg); break;
        case 'c': o.count = strtoull(optarg, NULL, 10); break;
        case 't': o.seconds = atof(optarg); break;
        case 'b': o.batch = (unsigned)atoi(optarg); break;
        case 'T': o.no_tags = 1; break;
        default: usage();
        }
    }
    if (optind != argc || o.per_datagram < 1 || o.per_datagram > 200 || o.names < 1 ||
        o.batch < 1 || o.batch > MAX_BATCH || o.rate < 0 || o.seconds <= 0)
        usage();
    return run_load(&o);
}
