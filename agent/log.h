/* log.h — the agent's event log: one logfmt line per event on stderr,
 * `ts=... level=info msg="statsd listening" addr=127.0.0.1:8125 proto=udp`,
 * filtered by a process-wide level. (VLOG_ names keep clear of syslog.h.) */
#ifndef VIGIL_LOG_H
#define VIGIL_LOG_H

#include <stdarg.h>
#include <stddef.h>

enum vlog_level { VLOG_DEBUG, VLOG_INFO, VLOG_WARN, VLOG_ERROR };

/* "debug", "info", "warn", "error". */
const char *vlog_level_name(enum vlog_level l);
/* @return 0 and *out, or -EINVAL for any other spelling. */
int vlog_level_parse(const char *s, enum vlog_level *out /* OUT */);

/* Events below this level are not written (default VLOG_INFO). */
void vlog_set_level(enum vlog_level l);
enum vlog_level vlog_get_level(void);

/* Logs one event. fields is a sequence of `key=CONVERSION` or `key=text`
 * separated by spaces, e.g. "addr=%s records=%llu seconds=%.3f"; the
 * conversions %s, %d, %i, %u, %x, %g, %f, %e (with flags, width, precision
 * and the l, ll, z length modifiers) and %% are supported. Every %s value is
 * quoted and escaped when logfmt needs it (space, '=', '"', '\\', control
 * bytes, empty value); a NULL %s prints as "". fields may be NULL. The line
 * goes to stderr with a single write(2), so lines never interleave. */
void vlog(enum vlog_level l, const char *msg, const char *fields, ...);

/* Formats the line vlog writes (with its trailing newline) into buf, cut to
 * fit size with the newline and a NUL. @return the line length without the
 * NUL (0 when size < 2). */
size_t vlog_format(char *buf, size_t size, long long ts_ms, enum vlog_level l,
                   const char *msg, const char *fields, va_list ap);

#endif
