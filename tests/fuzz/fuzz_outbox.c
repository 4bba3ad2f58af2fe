/* fuzz_outbox.c — libFuzzer target for the notifier's persistent inputs:
 * the outbox file (the input follows the magic) and Alertmanager matchers
 * (the input as a string). A damaged outbox must open with its damaged
 * tail cut off, keep working and then replay clean; a matcher parses or
 * fails with a message. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz_input.h"
#include "notify_config.h"
#include "outbox.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64], path[96];

static void remove_scratch(void)
{
    char tmp[128];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    unlink(tmp);
    unlink(path);
    rmdir(dir);
}

static void check_outbox(const uint8_t *data, size_t size)
{
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/vigil_fuzz_outbox.%ld", (long)getpid());
        snprintf(path, sizeof path, "%s/outbox.log", dir);
        mkdir(dir, 0700);
        atexit(remove_scratch);
    }
    FILE *f = fopen(path, "wb");
    if (!f)
        return;
    fwrite("VIGILOB1", 1, 8, f);
    fwrite(data, 1, size, f);
    fclose(f);
    struct outbox *ob;
    struct outbox_report rep;
    int rc = outbox_open(dir, 0, &ob, &rep);
    if (rc == -ENOMEM)
        return;
    if (rc != 0 || rep.torn_bytes > size)
        abort();
    size_t n;
    const struct outbox_entry *e = outbox_pending(ob, &n);
    for (size_t i = 0; i < n; i++)
        if (!e[i].dest || e[i].payload[e[i].len] != '\0')
            abort();
    uint64_t id;
    if (outbox_enqueue(ob, "r/webhook/0", "{}", 2, 1, "k", "v", 1, &id) != 0 ||
        outbox_done(ob, id, 2) != 0)
        abort();
    outbox_close(ob);
    if (outbox_open(dir, 0, &ob, &rep) != 0 || rep.torn_bytes != 0 || rep.pending != n)
        abort();
    outbox_close(ob);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_outbox(data, size);
    char *s = fuzz_cstring(data, size);
    if (!s)
        return 0;
    struct notify_matcher m;
    char err[256] = "";
    int rc = notify_matcher_parse(s, &m, err, sizeof err);
    if (rc == 0) {
        free(m.name);
        free(m.value);
    } else if (rc == -EINVAL && !err[0]) {
        abort();
    }
    free(s);
    return 0;
}
