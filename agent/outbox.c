/* outbox.c — the notifier's append-only, CRC-checked store of pending
 * notifications and group state (see outbox.h for the record layout). */
#include "outbox.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "u64map.h"

#define MAGIC "VIGILOB1"
#define MAGIC_LEN 8
#define HDR 8                       /* u32 len, u32 crc */
#define FIXED 17                    /* type, id, ts */
#define MAX_BODY (64u << 20)        /* larger lengths are corruption */
#define COMPACT_MIN_DEAD 256        /* compact when dead > this and > live */

enum rtype { R_ENQUEUE = 1, R_DONE = 2, R_STATE = 3 };

struct state {
    char *key;
    void *value;
    size_t len;
    int64_t ts_ms;
};

struct outbox {
    char *path, *dir;
    int fd;
    uint64_t bytes;
    uint64_t next_id;
    int64_t retention_ms;
    struct outbox_entry *pend;
    size_t npend, cappend;
    struct state *states;
    size_t nstates, capstates;
    struct u64map state_index;      /* hash of a key -> index in states */
    uint64_t dead;                  /* records no longer needed */
};

/* ---- CRC-32C (Castagnoli), as the WAL uses ------------------------------- */

static uint32_t crc32c(const void *data, size_t len)
{
    static uint32_t table[256];
    if (!table[1])
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++)
                c = c & 1 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
            table[i] = c;
        }
    const unsigned char *p = data;
    uint32_t c = ~0u;
    while (len--)
        c = table[(c ^ *p++) & 0xff] ^ (c >> 8);
    return ~c;
}

static void put32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void put64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const unsigned char *p)
{
    return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

/* ---- in-memory state ------------------------------------------------------- */

static struct state *find_state(const struct outbox *ob, const char *key)
{
    size_t pos = 0, i;
    while (u64map_next(&ob->state_index, u64map_hash_str(key), &pos, &i))
        if (strcmp(ob->states[i].key, key) == 0)
            return &ob->states[i];
    return NULL;
}

/* Sets (len > 0) or deletes key. @return 1 if it replaced a value, 0 if
 * not, -ENOMEM. */
static int apply_state(struct outbox *ob, const char *key, const void *value, size_t len,
                       int64_t ts_ms)
{
    struct state *s = find_state(ob, key);
    if (!len) {
        if (!s)
            return 0;
        size_t i = (size_t)(s - ob->states), last = ob->nstates - 1;
        u64map_del(&ob->state_index, u64map_hash_str(s->key), i);
        free(s->key);
        free(s->value);
        if (i != last) { /* the last state moves into the hole */
            uint64_t h = u64map_hash_str(ob->states[last].key);
            u64map_del(&ob->state_index, h, last);
            u64map_put(&ob->state_index, h, i); /* slots were freed: cannot fail */
            *s = ob->states[last];
        }
        ob->nstates--;
        return 1;
    }
    void *v = malloc(len);
    if (!v)
        return -ENOMEM;
    memcpy(v, value, len);
    if (s) {
        free(s->value);
        s->value = v;
        s->len = len;
        s->ts_ms = ts_ms;
        return 1;
    }
    if (ob->nstates == ob->capstates) {
        size_t cap = ob->capstates ? ob->capstates * 2 : 16;
        struct state *p = realloc(ob->states, cap * sizeof *p);
        if (!p) {
            free(v);
            return -ENOMEM;
        }
        ob->states = p;
        ob->capstates = cap;
    }
    char *k = strdup(key);
    if (!k || u64map_put(&ob->state_index, u64map_hash_str(key), ob->nstates) != 0) {
        free(k);
        free(v);
        return -ENOMEM;
    }
    ob->states[ob->nstates++] = (struct state){k, v, len, ts_ms};
    return 0;
}

static int add_pending(struct outbox *ob, uint64_t id, const char *dest, size_t dlen,
                       const void *payload, size_t len, int64_t ts_ms)
{
    if (ob->npend == ob->cappend) {
        size_t cap = ob->cappend ? ob->cappend * 2 : 16;
        struct outbox_entry *p = realloc(ob->pend, cap * sizeof *p);
        if (!p)
            return -ENOMEM;
        ob->pend = p;
        ob->cappend = cap;
    }
    char *d = strndup(dest, dlen), *pl = malloc(len + 1);
    if (!d || !pl) {
        free(d);
        free(pl);
        return -ENOMEM;
    }
    memcpy(pl, payload, len);
    pl[len] = '\0';
    ob->pend[ob->npend++] = (struct outbox_entry){id, d, pl, len, ts_ms};
    return 0;
}

/* Removes pending id. @return 1 if it was pending. */
static int remove_pending(struct outbox *ob, uint64_t id)
{
    for (size_t i = 0; i < ob->npend; i++)
        if (ob->pend[i].id == id) {
            free(ob->pend[i].dest);
            free(ob->pend[i].payload);
            memmove(&ob->pend[i], &ob->pend[i + 1], (ob->npend - i - 1) * sizeof *ob->pend);
            ob->npend--;
            return 1;
        }
    return 0;
}

/* ---- records --------------------------------------------------------------- */

struct field {
    const void *p;
    size_t len;
};

/* Encodes one record into a malloc'd buffer. @return its size, 0 on ENOMEM. */
static size_t encode(enum rtype t, uint64_t id, int64_t ts_ms, const struct field f[4],
                     unsigned char **out)
{
    size_t body = FIXED;
    for (int i = 0; i < 4; i++)
        body += 4 + f[i].len;
    unsigned char *b = malloc(HDR + body);
    if (!b)
        return 0;
    unsigned char *p = b + HDR;
    *p++ = (unsigned char)t;
    put64(p, id);
    put64(p + 8, (uint64_t)ts_ms);
    p += 16;
    for (int i = 0; i < 4; i++) {
        put32(p, (uint32_t)f[i].len);
        if (f[i].len)
            memcpy(p + 4, f[i].p, f[i].len);
        p += 4 + f[i].len;
    }
    put32(b, (uint32_t)body);
    put32(b + 4, crc32c(b + HDR, body));
    *out = b;
    return HDR + body;
}

/* Appends a record and syncs it. @return 0 or -errno (the file is then cut
 * back to where it was). */
static int append(struct outbox *ob, enum rtype t, uint64_t id, int64_t ts_ms,
                  const struct field f[4])
{
    unsigned char *b;
    size_t n = encode(t, id, ts_ms, f, &b);
    if (!n)
        return -ENOMEM;
    size_t off = 0;
    int rc = 0;
    while (off < n) {
        ssize_t w = write(ob->fd, b + off, n - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            rc = w < 0 ? -errno : -EIO;
            break;
        }
        off += (size_t)w;
    }
    free(b);
    if (!rc && fdatasync(ob->fd) != 0)
        rc = -errno;
    if (rc) {
        /* Best effort: a partial record left behind is a torn tail for the
         * next replay, which cuts it off. */
        if (ftruncate(ob->fd, (off_t)ob->bytes) == 0)
            lseek(ob->fd, (off_t)ob->bytes, SEEK_SET);
        return rc;
    }
    ob->bytes += n;
    return 0;
}

/* Applies one decoded record to memory. @return 0 or -ENOMEM. */
static int replay_one(struct outbox *ob, const unsigned char *body, size_t len)
{
    if (len < FIXED)
        return -EINVAL;
    enum rtype t = body[0];
    uint64_t id = get64(body + 1);
    int64_t ts = (int64_t)get64(body + 9);
    struct field f[4];
    size_t off = FIXED;
    for (int i = 0; i < 4; i++) {
        if (off + 4 > len || get32(body + off) > len - off - 4)
            return -EINVAL;
        f[i].len = get32(body + off);
        f[i].p = body + off + 4;
        off += 4 + f[i].len;
    }
    if (off != len)
        return -EINVAL;
    char key[4096];
    if (f[2].len >= sizeof key)
        return -EINVAL;
    memcpy(key, f[2].p, f[2].len);
    key[f[2].len] = '\0';
    int rc = 0;
    switch (t) {
    case R_ENQUEUE:
        rc = add_pending(ob, id, f[0].p, f[0].len, f[1].p, f[1].len, ts);
        if (!rc && f[2].len && (rc = apply_state(ob, key, f[3].p, f[3].len, ts)) > 0)
            ob->dead++, rc = 0;
        if (id >= ob->next_id)
            ob->next_id = id + 1;
        return rc;
    case R_DONE:
        ob->dead += 1 + (uint64_t)remove_pending(ob, id);
        return 0;
    case R_STATE:
        if ((rc = apply_state(ob, key, f[3].p, f[3].len, ts)) >= 0)
            ob->dead += (uint64_t)rc + (f[3].len == 0), rc = 0;
        return rc;
    }
    return -EINVAL;
}

static int read_all(int fd, unsigned char **buf, size_t *len)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return -errno;
    *len = (size_t)st.st_size;
    if (!(*buf = malloc(*len + 1)))
        return -ENOMEM;
    size_t off = 0;
    while (off < *len) {
        ssize_t r = pread(fd, *buf + off, *len - off, (off_t)off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            free(*buf);
            return r < 0 ? -errno : -EIO;
        }
        off += (size_t)r;
    }
    return 0;
}

/* Replays the whole file, truncating a torn tail. */
static int replay(struct outbox *ob, struct outbox_report *rep)
{
    unsigned char *buf = NULL;
    size_t len = 0, off = MAGIC_LEN;
    int rc = read_all(ob->fd, &buf, &len);
    if (rc)
        return rc;
    if (len < MAGIC_LEN || memcmp(buf, MAGIC, MAGIC_LEN) != 0) {
        free(buf);
        return -EINVAL;
    }
    while (off + HDR <= len) {
        uint32_t blen = get32(buf + off);
        if (blen > MAX_BODY || blen > len - off - HDR ||
            crc32c(buf + off + HDR, blen) != get32(buf + off + 4))
            break;
        rc = replay_one(ob, buf + off + HDR, blen);
        if (rc == -ENOMEM) {
            free(buf);
            return rc;
        }
        if (rc)
            break;
        rep->records++;
        off += HDR + blen;
    }
    free(buf);
    rep->torn_bytes = len - off;
    ob->bytes = off;
    if (rep->torn_bytes && (ftruncate(ob->fd, (off_t)off) != 0 || fdatasync(ob->fd) != 0))
        return -errno;
    if (lseek(ob->fd, (off_t)off, SEEK_SET) < 0)
        return -errno;
    rep->pending = ob->npend;
    return 0;
}

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = fsync(fd) != 0 ? -errno : 0;
    close(fd);
    return rc;
}

/* Creates the file with its magic, durably. */
static int create_file(const char *path, const char *dir)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return errno == EEXIST ? 0 : -errno;
    int rc = write(fd, MAGIC, MAGIC_LEN) == MAGIC_LEN && fsync(fd) == 0 ? 0 : -EIO;
    close(fd);
    return rc ? rc : fsync_dir(dir);
}

int outbox_open(const char *dir, int64_t state_retention_ms, struct outbox **out,
                struct outbox_report *report)
{
    struct outbox_report rep = {0};
    struct outbox *ob = calloc(1, sizeof *ob);
    if (!ob)
        return -ENOMEM;
    ob->fd = -1;
    ob->next_id = 1;
    ob->retention_ms = state_retention_ms;
    int rc = -ENOMEM;
    if (!(ob->dir = strdup(dir)) || asprintf(&ob->path, "%s/outbox.log", dir) < 0) {
        ob->path = NULL;
        goto fail;
    }
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        rc = -errno;
        goto fail;
    }
    if ((rc = create_file(ob->path, dir)) != 0)
        goto fail;
    if ((ob->fd = open(ob->path, O_RDWR | O_CLOEXEC)) < 0) {
        rc = -errno;
        goto fail;
    }
    if ((rc = replay(ob, &rep)) != 0)
        goto fail;
    if (report)
        *report = rep;
    *out = ob;
    return 0;
fail:
    outbox_close(ob);
    return rc;
}

void outbox_close(struct outbox *ob)
{
    if (!ob)
        return;
    if (ob->fd >= 0)
        close(ob->fd);
    for (size_t i = 0; i < ob->npend; i++) {
        free(ob->pend[i].dest);
        free(ob->pend[i].payload);
    }
    for (size_t i = 0; i < ob->nstates; i++) {
        free(ob->states[i].key);
        free(ob->states[i].value);
    }
    free(ob->pend);
    free(ob->states);
    u64map_free(&ob->state_index);
    free(ob->path);
    free(ob->dir);
    free(ob);
}

/* ---- operations ------------------------------------------------------------ */

int outbox_enqueue(struct outbox *ob, const char *dest, const void *payload, size_t len,
                   int64_t now_ms, const char *state_key, const void *state, size_t state_len,
                   uint64_t *id)
{
    struct field f[4] = {{dest, strlen(dest)}, {payload, len},
                         {state_key, state_key ? strlen(state_key) : 0},
                         {state, state_key ? state_len : 0}};
    if (f[2].len >= 4096)
        return -ENAMETOOLONG;
    /* Memory first, so a failed append can be undone without an ENOMEM. */
    int rc = add_pending(ob, ob->next_id, dest, f[0].len, payload, len, now_ms);
    if (rc)
        return rc;
    if ((rc = append(ob, R_ENQUEUE, ob->next_id, now_ms, f)) != 0) {
        remove_pending(ob, ob->next_id);
        return rc;
    }
    if (state_key && apply_state(ob, state_key, state, state_len, now_ms) > 0)
        ob->dead++;
    *id = ob->next_id++;
    return 0;
}

int outbox_done(struct outbox *ob, uint64_t id, int64_t now_ms)
{
    int found = 0;
    for (size_t i = 0; i < ob->npend && !found; i++)
        found = ob->pend[i].id == id;
    if (!found)
        return 0;
    struct field f[4] = {{NULL, 0}, {NULL, 0}, {NULL, 0}, {NULL, 0}};
    int rc = append(ob, R_DONE, id, now_ms, f);
    if (rc)
        return rc;
    remove_pending(ob, id);
    ob->dead += 2;
    if (ob->dead > COMPACT_MIN_DEAD && ob->dead > ob->npend + ob->nstates)
        outbox_compact(ob, now_ms); /* on failure the old file stays valid */
    return 0;
}

int outbox_set_state(struct outbox *ob, const char *key, const void *value, size_t len,
                     int64_t now_ms)
{
    struct field f[4] = {{NULL, 0}, {NULL, 0}, {key, strlen(key)}, {value, len}};
    if (f[2].len >= 4096)
        return -ENAMETOOLONG;
    if (!len && !find_state(ob, key))
        return 0;
    int rc = append(ob, R_STATE, 0, now_ms, f);
    if (rc)
        return rc;
    rc = apply_state(ob, key, value, len, now_ms);
    if (rc < 0)
        return rc;
    ob->dead += (uint64_t)rc + (len == 0);
    return 0;
}

const void *outbox_get_state(const struct outbox *ob, const char *key, size_t *len)
{
    const struct state *s = find_state(ob, key);
    *len = s ? s->len : 0;
    return s ? s->value : NULL;
}

const struct outbox_entry *outbox_pending(const struct outbox *ob, size_t *n)
{
    *n = ob->npend;
    return ob->pend;
}

uint64_t outbox_file_bytes(const struct outbox *ob)
{
    return ob->bytes;
}

/* Writes all of buf to fd. @return 0 or -errno. */
static int write_all(int fd, const unsigned char *buf, size_t n)
{
    while (n) {
        ssize_t w = write(fd, buf, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return w < 0 ? -errno : -EIO;
        buf += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Writes one record to fd of the temporary file. */
static int write_record(int fd, enum rtype t, uint64_t id, int64_t ts, const struct field f[4],
                        uint64_t *bytes)
{
    unsigned char *b;
    size_t n = encode(t, id, ts, f, &b);
    if (!n)
        return -ENOMEM;
    int rc = write_all(fd, b, n);
    free(b);
    *bytes += n;
    return rc;
}

int outbox_compact(struct outbox *ob, int64_t now_ms)
{
    char *tmp;
    if (asprintf(&tmp, "%s.tmp", ob->path) < 0)
        return -ENOMEM;
    int fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        free(tmp);
        return -errno;
    }
    uint64_t bytes = MAGIC_LEN;
    int rc = write_all(fd, (const unsigned char *)MAGIC, MAGIC_LEN);
    for (size_t i = 0; !rc && i < ob->nstates; i++) {
        struct state *s = &ob->states[i];
        if (ob->retention_ms && s->ts_ms < now_ms - ob->retention_ms)
            continue;
        struct field f[4] = {{NULL, 0}, {NULL, 0}, {s->key, strlen(s->key)}, {s->value, s->len}};
        rc = write_record(fd, R_STATE, 0, s->ts_ms, f, &bytes);
    }
    for (size_t i = 0; !rc && i < ob->npend; i++) {
        struct outbox_entry *e = &ob->pend[i];
        struct field f[4] = {{e->dest, strlen(e->dest)}, {e->payload, e->len}, {NULL, 0},
                             {NULL, 0}};
        rc = write_record(fd, R_ENQUEUE, e->id, e->enqueued_ms, f, &bytes);
    }
    if (!rc && fsync(fd) != 0)
        rc = -errno;
    if (!rc && rename(tmp, ob->path) != 0)
        rc = -errno;
    if (rc) {
        close(fd);
        unlink(tmp);
        free(tmp);
        return rc;
    }
    free(tmp);
    fsync_dir(ob->dir);
    /* The new file, positioned at its end, is the one appended to now. */
    close(ob->fd);
    ob->fd = fd;
    if (lseek(ob->fd, 0, SEEK_END) < 0)
        return -errno;
    ob->bytes = bytes;
    ob->dead = 0;
    for (size_t i = 0; i < ob->nstates;) /* drop what was not rewritten */
        if (ob->retention_ms && ob->states[i].ts_ms < now_ms - ob->retention_ms)
            apply_state(ob, ob->states[i].key, NULL, 0, now_ms);
        else
            i++;
    return 0;
}
