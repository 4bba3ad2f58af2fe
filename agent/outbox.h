/* outbox.h — the notifier's persistent store: notifications waiting for
 * delivery and the small state records of alert groups, in one
 * append-only file (DIR/outbox.log) that survives kill -9. Not thread-safe;
 * the notifier uses it from the loop thread.
 *
 * Design notes
 *   file    = "VIGILOB1" record*
 *   record  = u32 body_len | u32 crc32c(body) | body          (little-endian)
 *   body    = u8 type | u64 id | i64 ts_ms | 4 x (u32 len | bytes)
 *   ENQUEUE fields: destination, payload, state key, state value (the state
 *           update is optional: written in the same record, so a crash
 *           leaves both or neither)
 *   DONE    id of a delivered (or dropped) notification; no fields
 *   STATE   fields 3 and 4: key, value (empty value deletes the key)
 * Every append is followed by fdatasync before the call returns. Replay
 * stops at the first short or corrupt record and truncates the file there
 * (a torn tail; counted, never fatal). When most records are dead (done,
 * delivered or superseded), outbox_done rewrites the file with only the
 * live ones (temp file, fsync, rename, fsync of the directory). */
#ifndef VIGIL_OUTBOX_H
#define VIGIL_OUTBOX_H

#include <stddef.h>
#include <stdint.h>

struct outbox;

/* A pending notification; strings owned by the outbox, valid until it is
 * marked done or the outbox closes. */
struct outbox_entry {
    uint64_t id;
    char *dest;                  /* where it goes, e.g. "ops/webhook/0" */
    char *payload;               /* NUL-terminated */
    size_t len;
    int64_t enqueued_ms;
};

/* What opening found. */
struct outbox_report {
    uint64_t records;            /* valid records replayed */
    uint64_t pending;            /* notifications not yet done */
    uint64_t torn_bytes;         /* bytes cut off a torn or corrupt tail */
};

/* Opens (creating dir and the file if needed) and replays the outbox.
 * STATE values written more than state_retention_ms before the newest
 * record are dropped at compaction. @return 0 and *out, or -errno; a file
 * that does not start with the magic is -EINVAL (left untouched). */
int outbox_open(const char *dir, int64_t state_retention_ms, struct outbox **out /* OUT */,
                struct outbox_report *report /* OUT, may be NULL */);
void outbox_close(struct outbox *ob);

/* Durably records a notification for dest (and, if state_key is not NULL,
 * sets state_key to state[0..state_len) in the same record).
 * @return 0 and *id, or -errno (nothing recorded). */
int outbox_enqueue(struct outbox *ob, const char *dest, const void *payload, size_t len,
                   int64_t now_ms, const char *state_key, const void *state, size_t state_len,
                   uint64_t *id /* OUT */);

/* Durably marks id delivered (or given up); compacts when most records are
 * dead. An unknown id is ignored. @return 0 or -errno. */
int outbox_done(struct outbox *ob, uint64_t id, int64_t now_ms);

/* Durably sets key to value[0..len); len 0 deletes it. @return 0 or -errno. */
int outbox_set_state(struct outbox *ob, const char *key, const void *value, size_t len,
                     int64_t now_ms);

/* The value of key and its length, or NULL. Valid until key is set again. */
const void *outbox_get_state(const struct outbox *ob, const char *key, size_t *len /* OUT */);

/* The pending notifications in enqueue order; valid until the next call
 * that changes the outbox. */
const struct outbox_entry *outbox_pending(const struct outbox *ob, size_t *n /* OUT */);

/* Rewrites the file with only the live records. @return 0 or -errno (the
 * old file then stays in use). */
int outbox_compact(struct outbox *ob, int64_t now_ms);

/* File size in bytes (for tests and self-metrics). */
uint64_t outbox_file_bytes(const struct outbox *ob);

#endif
