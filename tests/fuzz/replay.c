/* replay.c — runs a libFuzzer target without libFuzzer, in the normal test
 * suite: every file of the given corpus directories, then a fixed number of
 * deterministic mutations of them (bit flips, truncations, splices). A crash
 * or sanitizer report fails the suite; otherwise it prints how many inputs
 * ran and "1 passed, 0 failed" (the target counts as one test).
 *
 * Usage: replay [-n MUTATIONS] DIR...
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct input {
    uint8_t *p;
    size_t n;
};

static uint64_t rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static int load(const char *path, struct input *in)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    size_t cap = 4096;
    in->p = malloc(cap);
    in->n = 0;
    size_t r;
    while (in->p && (r = fread(in->p + in->n, 1, cap - in->n, f)) > 0) {
        in->n += r;
        if (in->n == cap)
            in->p = realloc(in->p, cap *= 2);
    }
    fclose(f);
    return in->p ? 0 : -1;
}

int main(int argc, char **argv)
{
    long mutations = 2000;
    int opt;
    while ((opt = getopt(argc, argv, "n:")) != -1) {
        if (opt != 'n') {
            fprintf(stderr, "usage: replay [-n MUTATIONS] DIR...\n");
            return 2;
        }
        mutations = atol(optarg);
    }
    struct input *ins = NULL;
    size_t nin = 0;
    for (int a = optind; a < argc; a++) {
        DIR *d = opendir(argv[a]);
        struct dirent *e;
        while (d && (e = readdir(d))) {
            char path[4096];
            if (e->d_name[0] == '.')
                continue;
            snprintf(path, sizeof path, "%s/%s", argv[a], e->d_name);
            ins = realloc(ins, (nin + 1) * sizeof *ins);
            if (ins && load(path, &ins[nin]) == 0)
                nin++;
        }
        if (d)
            closedir(d);
    }
    long runs = 0;
    for (size_t i = 0; i < nin; i++, runs++)
        LLVMFuzzerTestOneInput(ins[i].p, ins[i].n);
    uint64_t s = 0x9e3779b97f4a7c15ULL;
    uint8_t *buf = malloc(1 << 16);
    for (long k = 0; k < mutations && buf; k++, runs++) {
        size_t n = 0;
        if (nin) {
            const struct input *a = &ins[rnd(&s) % nin], *b = &ins[rnd(&s) % nin];
            size_t cut = a->n ? rnd(&s) % (a->n + 1) : 0;
            n = cut < (1 << 15) ? cut : (1 << 15);
            memcpy(buf, a->p, n);
            if (rnd(&s) & 1) { /* splice the tail of another input */
                size_t from = b->n ? rnd(&s) % b->n : 0, m = b->n - from;
                m = m < (1 << 15) ? m : (1 << 15);
                memcpy(buf + n, b->p + from, m);
                n += m;
            }
        } else {
            n = rnd(&s) % 512;
            for (size_t i = 0; i < n; i++)
                buf[i] = (uint8_t)rnd(&s);
        }
        for (int f = (int)(rnd(&s) % 4); f > 0 && n; f--)
            buf[rnd(&s) % n] ^= (uint8_t)(1u << (rnd(&s) % 8));
        LLVMFuzzerTestOneInput(buf, n);
    }
    free(buf);
    for (size_t i = 0; i < nin; i++)
        free(ins[i].p);
    free(ins);
    printf("%zu corpus inputs and %ld mutations: %ld inputs ran clean\n1 passed, 0 failed\n", nin,
           mutations, runs);
    return 0;
}
