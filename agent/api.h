/* api.h — vigild's Prometheus-compatible HTTP query API: /api/v1/query,
 * query_range, series, labels, label/<name>/values, metadata and
 * status/buildinfo, with Prometheus' parameters, JSON shapes, error types
 * and status codes. Queries run on libuv's thread pool (each on its own
 * store snapshot) and answer through deferred HTTP responses, so the loop
 * and ingest never wait for them. */
#ifndef VIGIL_API_H
#define VIGIL_API_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "http.h"
#include "promql_eval.h"
#include "tsdb.h"

struct api {
    uv_loop_t *loop;
    struct tsdb *db;                 /* set while the store is open, else NULL */
    struct promql_engine_opts opts;
    const char *version;             /* for status/buildinfo */
    unsigned inflight;               /* requests on the thread pool */
    /* Called on the loop when inflight drops to 0 (the daemon closes the
     * store then if it is stopping). */
    void (*idle_cb)(struct api *a, void *arg);
    void *idle_arg;
};

/* Sets a up for loop with the engine defaults; db starts NULL (requests are
 * answered 503 unavailable until it is set). */
void api_init(struct api *a, uv_loop_t *loop, const char *version);

/* Adds the API's routes (and a JSON 404 for other /api/v1/ paths, so add
 * more specific /api/v1 routes first). @return 0 or -ENOSPC. */
int api_register(struct api *a, struct http_router *r);

/* ---- parts exposed for the unit tests --------------------------------- */

/* Request parameters as Go's http.Request.ParseForm sees them: the
 * form-encoded body of a POST first, then the URL query; '+' is a space,
 * %XX a byte; a pair with a bad escape is skipped and noted in bad. */
struct api_param {
    char *name, *value;
};
struct api_form {
    struct api_param *v;
    size_t len;
    char bad[64];                    /* "invalid URL escape \"%zz\"" or "" */
};
/* @return 0 or -ENOMEM. Free with api_form_free. */
int api_form_parse(const struct http_request *req, struct api_form *f /* OUT */);
void api_form_free(struct api_form *f);
/* The first value of name, or NULL. */
const char *api_form_get(const struct api_form *f, const char *name);

/* Prometheus' parseTime: Unix seconds (fraction rounded to ms) or RFC 3339.
 * @return 0 and *ms, or -EINVAL with Prometheus' message in err. */
int api_parse_time(const char *s, int64_t *ms /* OUT */, char *err, size_t cap);
/* Prometheus' parseDuration: float seconds or a duration like 1h30m. */
int api_parse_duration(const char *s, int64_t *ms /* OUT */, char *err, size_t cap);

/* Appends {"status":"success","data":{"resultType":...,"result":...}}. */
int api_render_result(struct http_buf *b, const struct promql_result *r);
/* Appends {"status":"error","errorType":type,"error":msg}. */
int api_render_error(struct http_buf *b, const char *type, const char *msg);
/* Appends s as a JSON string escaped the way Go's encoding/json does. */
int api_json_string(struct http_buf *b, const char *s);
/* The HTTP status of an errorType: 400 bad_data, 422 execution, 503
 * timeout/canceled/unavailable, 404 not_found, 500 otherwise. */
int api_error_status(const char *type);

#endif
