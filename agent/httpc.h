/* httpc.h — outbound HTTP(S) on the agent's libuv loop: libcurl's multi
 * socket interface driven by uv_poll and a uv_timer (no extra thread).
 * Used by the scraper (and later webhooks and remote write). */
#ifndef VIGIL_HTTPC_H
#define VIGIL_HTTPC_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct httpc;   /* one per loop */

struct httpc_request {
    const char *url;
    const char *const *headers;     /* "Name: value", NULL-terminated, or NULL */
    const char *method;             /* NULL = GET; "POST" sends body */
    const void *body;
    size_t body_len;
    int64_t timeout_ms;
    int follow_redirects;
    int accept_gzip;                /* send Accept-Encoding, decode the body */
    const char *username, *password;/* basic auth, or NULL */
    const char *bearer_token;       /* or NULL */
    const char *ca_file, *cert_file, *key_file, *server_name;
    int insecure_skip_verify;
    uint64_t max_body_bytes;        /* 0 = no limit */
};

struct httpc_response {
    int error;                      /* 0, or a negative errno-style code */
    char errmsg[256];               /* "timeout after 10s", curl's message, ... */
    long status;                    /* HTTP status, 0 if none */
    const char *content_type;       /* "" if none */
    const char *body;               /* decoded body, NUL-terminated */
    size_t body_len;
    double seconds;                 /* total time */
};

/* Called on the loop thread; res and its strings are valid during the call. */
typedef void (*httpc_done_fn)(void *arg, const struct httpc_response *res);

int httpc_new(uv_loop_t *loop, struct httpc **out /* OUT */);
/* Starts a request; done is called exactly once (also on failure to start,
 * asynchronously). @return 0, or -ENOMEM. *id (may be NULL) can cancel it. */
int httpc_start(struct httpc *h, const struct httpc_request *req, httpc_done_fn done,
                void *arg, uint64_t *id /* OUT */);
/* Cancels request id: its done is not called. */
void httpc_cancel(struct httpc *h, uint64_t id);
/* Cancels everything and releases the loop handles; cb runs when closed. */
void httpc_close(struct httpc *h, void (*cb)(void *arg), void *arg);

#endif
