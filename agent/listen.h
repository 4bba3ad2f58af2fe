/* listen.h — the statsd listeners: UDP with batched reads (recvmmsg through
 * UV_UDP_RECVMMSG) and a large receive buffer, TCP with newline-delimited
 * lines and per-connection partial-line buffering. Every line goes to
 * statsd_parse_line and every parsed metric to statsd_agg_add; all of it
 * is counted for the self-metrics. Runs on the loop thread. */
#ifndef VIGIL_LISTEN_H
#define VIGIL_LISTEN_H

#include <stdint.h>
#include <sys/types.h>

#include <uv.h>

#include "statsd.h"

#define STATSD_TCP_MAX_CONNECTIONS 1024
#define STATSD_UDP_BATCH 20          /* datagrams per recvmmsg (libuv's limit) */
#define STATSD_UDP_PAUSE_MS 2        /* reading pauses this long once drained */

enum statsd_proto { STATSD_UDP, STATSD_TCP };

struct statsd_input_stats {
    uint64_t udp_packets;
    uint64_t tcp_connections;          /* accepted */
    uint64_t tcp_connections_rejected; /* over STATSD_TCP_MAX_CONNECTIONS */
    uint64_t lines[2];                 /* by enum statsd_proto, empty lines not counted */
    uint64_t metrics_accepted;         /* lines the aggregator took */
    uint64_t rejected[STATSD_REJECT_COUNT]; /* by reason; too_long includes
                                          over-long TCP lines */
};

struct statsd_listener {
    uv_loop_t *loop;
    struct statsd_agg *agg;            /* not owned; may be swapped between reads */
    uv_udp_t udp;
    uv_tcp_t tcp;
    uv_timer_t udp_pause;              /* restarts reading after a pause */
    int udp_open, udp_pause_open, tcp_open; /* handles initialised, to close */
    char *udp_buf;                     /* one recvmmsg batch */
    struct statsd_tcp_conn *conns;
    unsigned nconns;
    int closing;
    unsigned long udp_inode;           /* of the UDP socket, for /proc/net/udp */
    int udp_family;
    uint64_t receive_buffer_bytes;     /* SO_RCVBUF the kernel granted */
    struct statsd_input_stats stats;
    uint32_t logged_reasons;           /* bit per reason: first one logged at warn */
    void (*close_cb)(struct statsd_listener *l);
};

/* Initialises l on loop; agg receives the metrics. @return 0 or -ENOMEM. */
int statsd_listener_init(uv_loop_t *loop, struct statsd_listener *l, struct statsd_agg *agg);

/* Binds the UDP socket, asks for rcvbuf_bytes of receive buffer (granted
 * size in l->receive_buffer_bytes) and starts reading.
 * @return 0 or a libuv error (UV_EADDRINUSE, ...). */
int statsd_listener_udp(struct statsd_listener *l, const struct sockaddr *addr,
                        uint64_t rcvbuf_bytes);

/* Binds and listens on TCP. @return 0 or a libuv error. */
int statsd_listener_tcp(struct statsd_listener *l, const struct sockaddr *addr);

/* Feeds buf (one datagram, or complete TCP lines) line by line, received at
 * now_ms. A last line without '\n' counts as a line. */
void statsd_listener_feed(struct statsd_listener *l, const char *buf, size_t len,
                          enum statsd_proto proto, int64_t now_ms);

/* Datagrams the kernel dropped on our UDP socket (/proc/net/udp "drops"),
 * and the host-wide UDP RcvbufErrors (/proc/net/snmp).
 * @return 0, -ENOENT when not found, or -errno. */
int statsd_listener_udp_drops(const struct statsd_listener *l, uint64_t *drops /* OUT */);
int statsd_udp_rcvbuf_errors(uint64_t *errors /* OUT */);

/* Stops reading and closes every socket; cb runs when all handles are
 * closed and l may be freed. */
void statsd_listener_close(struct statsd_listener *l, void (*cb)(struct statsd_listener *l));

#endif
