/* test_outbox.c — the notifier's outbox: what is enqueued survives a
 * reopen until it is marked done; a crash at every record boundary, a torn
 * tail and a corrupt record lose nothing that was acknowledged and bring
 * nothing back that was done; compaction keeps exactly the live records. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "outbox.h"

static char dir[64];

static int setup(void **state)
{
    (void)state;
    strcpy(dir, "/tmp/vigil_outbox.XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd);
}

static char *file_path(const char *d)
{
    static char p[128];
    snprintf(p, sizeof p, "%s/outbox.log", d);
    return p;
}

static struct outbox *open_ok(const char *d, struct outbox_report *rep)
{
    struct outbox *ob;
    assert_int_equal(outbox_open(d, 0, &ob, rep), 0);
    return ob;
}

static void test_reopen(void **state)
{
    (void)state;
    struct outbox *ob = open_ok(dir, NULL);
    uint64_t a, b, c;
    assert_int_equal(outbox_enqueue(ob, "ops/webhook/0", "{\"a\":1}", 7, 1000, "g1", "S1", 2,
                                    &a), 0);
    assert_int_equal(outbox_enqueue(ob, "ops/exec/0", "{\"b\":2}", 7, 2000, NULL, NULL, 0, &b),
                     0);
    assert_int_equal(outbox_enqueue(ob, "ops/webhook/0", "{\"c\":3}", 7, 3000, "g1", "S2", 2,
                                    &c), 0);
    assert_true(a < b && b < c);
    assert_int_equal(outbox_done(ob, b, 4000), 0);
    assert_int_equal(outbox_done(ob, 999, 4000), 0); /* unknown: ignored */
    assert_int_equal(outbox_set_state(ob, "g2", "X", 1, 5000), 0);
    outbox_close(ob);

    struct outbox_report rep;
    ob = open_ok(dir, &rep);
    assert_int_equal(rep.records, 5);
    assert_int_equal(rep.pending, 2);
    assert_int_equal(rep.torn_bytes, 0);
    size_t n, len;
    const struct outbox_entry *e = outbox_pending(ob, &n);
    assert_int_equal(n, 2);
    assert_int_equal(e[0].id, a);
    assert_string_equal(e[0].dest, "ops/webhook/0");
    assert_string_equal(e[0].payload, "{\"a\":1}");
    assert_int_equal(e[0].enqueued_ms, 1000);
    assert_int_equal(e[1].id, c);
    assert_memory_equal(outbox_get_state(ob, "g1", &len), "S2", 2);
    assert_int_equal(len, 2);
    assert_memory_equal(outbox_get_state(ob, "g2", &len), "X", 1);
    assert_null(outbox_get_state(ob, "g3", &len));
    uint64_t d;
    assert_int_equal(outbox_enqueue(ob, "x", "p", 1, 6000, NULL, NULL, 0, &d), 0);
    assert_true(d > c); /* ids are never reused */
    assert_int_equal(outbox_set_state(ob, "g2", NULL, 0, 7000), 0);
    outbox_close(ob);
    ob = open_ok(dir, NULL);
    assert_null(outbox_get_state(ob, "g2", &len));
    outbox_close(ob);
}

/* The state of the outbox after each operation of a scripted run. */
struct snap {
    uint64_t size;
    char pending[64];   /* payloads of pending entries, in order */
    char g[8];          /* value of state "g", "" if none */
};

static void describe(struct outbox *ob, struct snap *s)
{
    size_t n, len;
    const struct outbox_entry *e = outbox_pending(ob, &n);
    s->pending[0] = '\0';
    for (size_t i = 0; i < n; i++)
        strcat(s->pending, e[i].payload);
    const char *v = outbox_get_state(ob, "g", &len);
    snprintf(s->g, sizeof s->g, "%.*s", (int)len, v ? v : "");
}

static void copy_prefix(const char *from, const char *to_dir, uint64_t bytes, long flip)
{
    FILE *in = fopen(from, "rb");
    assert_non_null(in);
    mkdir(to_dir, 0700);
    FILE *out = fopen(file_path(to_dir), "wb");
    assert_non_null(out);
    for (uint64_t i = 0; i < bytes; i++) {
        int ch = fgetc(in);
        assert_true(ch != EOF);
        fputc((long)i == flip ? ch ^ 0x40 : ch, out);
    }
    fclose(in);
    fclose(out);
}

static void check_crash(const char *label, uint64_t bytes, long flip,
                        const struct snap *want, int torn)
{
    char d2[96];
    snprintf(d2, sizeof d2, "%s/crash", dir);
    copy_prefix(file_path(dir), d2, bytes, flip);
    struct outbox_report rep;
    struct outbox *ob = open_ok(d2, &rep);
    struct snap got;
    describe(ob, &got);
    if (strcmp(got.pending, want->pending) != 0 || strcmp(got.g, want->g) != 0 ||
        (torn != 0) != (rep.torn_bytes != 0))
        fail_msg("%s at %llu: pending '%s' state '%s' torn %llu; want '%s' '%s' torn %d", label,
                 (unsigned long long)bytes, got.pending, got.g,
                 (unsigned long long)rep.torn_bytes, want->pending, want->g, torn);
    /* The truncated file accepts new records and replays them. */
    uint64_t id;
    assert_int_equal(outbox_enqueue(ob, "d", "Z", 1, 1, NULL, NULL, 0, &id), 0);
    outbox_close(ob);
    ob = open_ok(d2, &rep);
    assert_int_equal(rep.torn_bytes, 0);
    describe(ob, &got);
    assert_int_equal(strlen(got.pending), strlen(want->pending) + 1);
    outbox_close(ob);
}

static void test_crash_at_every_boundary(void **state)
{
    (void)state;
    struct outbox *ob = open_ok(dir, NULL);
    struct snap snaps[16];
    size_t ns = 0;
    uint64_t ids[8];
    describe(ob, &snaps[ns]);
    snaps[ns++].size = outbox_file_bytes(ob);
    /* enqueue A (state g=1), B, C (g=2), done B, set g=3, done A, enqueue D, done C */
    static const char *const ops = "AB CbsaDc";
    for (const char *op = ops; *op; op++) {
        switch (*op) {
        case 'A': case 'B': case 'C': case 'D': {
            char p[2] = {*op, 0};
            const char *g = *op == 'A' ? "1" : *op == 'C' ? "2" : NULL;
            assert_int_equal(outbox_enqueue(ob, "r/webhook/0", p, 1, 100, g ? "g" : NULL, g,
                                            1, &ids[*op - 'A']), 0);
            break;
        }
        case 'a': case 'b': case 'c':
            assert_int_equal(outbox_done(ob, ids[*op - 'a'], 200), 0);
            break;
        case 's':
            assert_int_equal(outbox_set_state(ob, "g", "3", 1, 300), 0);
            break;
        default:
            continue;
        }
        describe(ob, &snaps[ns]);
        snaps[ns++].size = outbox_file_bytes(ob);
    }
    outbox_close(ob);
    assert_string_equal(snaps[ns - 1].pending, "D");
    for (size_t i = 0; i < ns; i++) {
        check_crash("boundary", snaps[i].size, -1, &snaps[i], 0);
        if (i + 1 < ns) {
            uint64_t mid = (snaps[i].size + snaps[i + 1].size) / 2;
            check_crash("torn", mid, -1, &snaps[i], 1);
            check_crash("torn header", snaps[i].size + 3, -1, &snaps[i], 1);
            /* a flipped bit in the last record: it is cut like a torn one */
            check_crash("corrupt", snaps[i + 1].size, (long)mid, &snaps[i], 1);
        }
    }
}

static void test_compaction(void **state)
{
    (void)state;
    struct outbox *ob = open_ok(dir, NULL);
    char payload[200];
    memset(payload, 'x', sizeof payload);
    uint64_t ids[1000];
    for (int i = 0; i < 1000; i++) {
        char key[16];
        snprintf(key, sizeof key, "g%d", i % 7);
        assert_int_equal(outbox_enqueue(ob, "r/webhook/0", payload, sizeof payload, i, key,
                                        &i, sizeof i, &ids[i]), 0);
    }
    uint64_t full = outbox_file_bytes(ob);
    for (int i = 0; i < 1000; i++)
        if (i % 100 != 0)
            assert_int_equal(outbox_done(ob, ids[i], 5000), 0);
    /* Compacted on the way: far smaller than what was written. */
    assert_true(outbox_file_bytes(ob) < full / 4);
    outbox_close(ob);
    struct outbox_report rep;
    ob = open_ok(dir, &rep);
    size_t n, len;
    const struct outbox_entry *e = outbox_pending(ob, &n);
    assert_int_equal(n, 10);
    for (int i = 0; i < 10; i++) {
        assert_int_equal(e[i].id, ids[i * 100]);
        assert_int_equal(e[i].len, sizeof payload);
        assert_int_equal(e[i].enqueued_ms, i * 100);
    }
    for (int g = 0; g < 7; g++) {
        char key[16];
        snprintf(key, sizeof key, "g%d", g);
        const int *v = outbox_get_state(ob, key, &len);
        assert_non_null(v);
        assert_int_equal(*v, 994 + g <= 999 ? 994 + g : 987 + g); /* the latest i % 7 == g */
    }
    /* An explicit compaction with a state retention drops old states only. */
    outbox_close(ob);
    assert_int_equal(outbox_open(dir, 1000, &ob, NULL), 0);
    assert_int_equal(outbox_set_state(ob, "fresh", "F", 1, 10000), 0);
    assert_int_equal(outbox_compact(ob, 10500), 0);
    assert_null(outbox_get_state(ob, "g0", &len));
    assert_non_null(outbox_get_state(ob, "fresh", &len));
    outbox_close(ob);
    ob = open_ok(dir, &rep);
    assert_int_equal(rep.pending, 10);
    assert_null(outbox_get_state(ob, "g0", &len));
    assert_non_null(outbox_get_state(ob, "fresh", &len));
    outbox_close(ob);
}

static void test_not_an_outbox(void **state)
{
    (void)state;
    char d2[96];
    snprintf(d2, sizeof d2, "%s/bad", dir);
    mkdir(d2, 0700);
    FILE *f = fopen(file_path(d2), "w");
    fputs("hello", f);
    fclose(f);
    struct outbox *ob;
    assert_int_equal(outbox_open(d2, 0, &ob, NULL), -EINVAL);
    struct stat st;
    assert_int_equal(stat(file_path(d2), &st), 0);
    assert_int_equal(st.st_size, 5); /* left untouched */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crash_at_every_boundary, setup, teardown),
        cmocka_unit_test_setup_teardown(test_compaction, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_an_outbox, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
