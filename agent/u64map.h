/* u64map.h — a small hash multimap from 64-bit hashes to array indexes
 * (open addressing, linear probing, backward-shift deletion), so that the
 * notifier finds groups, alerts and outbox states in O(1) instead of
 * scanning arrays. A key may map to several values (hash collisions of
 * different strings): callers iterate and check. */
#ifndef VIGIL_U64MAP_H
#define VIGIL_U64MAP_H

#include <stddef.h>
#include <stdint.h>

struct u64map {
    uint64_t *keys;
    size_t *vals;                /* SIZE_MAX = empty slot */
    size_t cap, n;               /* cap is 0 or a power of two */
};

/* Adds (key, val). @return 0 or -ENOMEM. */
int u64map_put(struct u64map *m, uint64_t key, size_t val);
/* Iterates the values under key: *pos starts at 0. @return 1 with *val, or
 * 0 when there are no more. */
int u64map_next(const struct u64map *m, uint64_t key, size_t *pos, size_t *val /* OUT */);
/* Removes the entry (key, val) if present. */
void u64map_del(struct u64map *m, uint64_t key, size_t val);
/* Empties m, keeping its memory. */
void u64map_clear(struct u64map *m);
void u64map_free(struct u64map *m);

/* FNV-1a 64 of a NUL-terminated string. */
uint64_t u64map_hash_str(const char *s);

#endif
