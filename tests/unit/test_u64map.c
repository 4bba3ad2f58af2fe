/* test_u64map.c — the hash multimap against a plain array doing the same
 * random puts and deletes (colliding keys included): every lookup must
 * return exactly the reference's values. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "u64map.h"

struct pair {
    uint64_t key;
    size_t val;
};

static void check_key(const struct u64map *m, const struct pair *ref, size_t n, uint64_t key)
{
    size_t want = 0, got = 0, pos = 0, val;
    for (size_t i = 0; i < n; i++)
        want += ref[i].key == key;
    while (u64map_next(m, key, &pos, &val)) {
        int found = 0;
        for (size_t i = 0; i < n && !found; i++)
            found = ref[i].key == key && ref[i].val == val;
        assert_true(found);
        got++;
    }
    assert_int_equal(got, want);
}

static void test_against_reference(void **state)
{
    (void)state;
    enum { OPS = 20000, KEYS = 300 };
    static struct pair ref[OPS];
    size_t n = 0;
    struct u64map m = {0};
    srand(7);
    for (size_t op = 0; op < OPS; op++) {
        /* few distinct keys, so keys repeat and probe runs are long */
        uint64_t key = (uint64_t)(rand() % KEYS) * 0x9E3779B97F4A7C15ull;
        if (n && rand() % 3 == 0) {
            size_t i = (size_t)rand() % n;
            u64map_del(&m, ref[i].key, ref[i].val);
            ref[i] = ref[--n];
        } else {
            assert_int_equal(u64map_put(&m, key, op), 0);
            ref[n++] = (struct pair){key, op};
        }
        assert_int_equal(m.n, n);
        if (op % 97 == 0)
            for (uint64_t k = 0; k < KEYS; k++)
                check_key(&m, ref, n, k * 0x9E3779B97F4A7C15ull);
    }
    u64map_del(&m, 12345, 1); /* absent: nothing happens */
    assert_int_equal(m.n, n);
    u64map_clear(&m);
    size_t pos = 0, val;
    assert_false(u64map_next(&m, ref[0].key, &pos, &val));
    u64map_free(&m);
    assert_int_equal(u64map_hash_str("a"), 0xaf63dc4c8601ec8cull); /* FNV-1a 64 */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_against_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
