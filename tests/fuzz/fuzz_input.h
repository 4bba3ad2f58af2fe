/* fuzz_input.h — a fuzz input in the form a parser takes: a C string, or a
 * file to read by name. Header-only, so that each target still links alone
 * (see the Makefile's fuzz and fuzz-replay rules). */
#ifndef VIGIL_FUZZ_INPUT_H
#define VIGIL_FUZZ_INPUT_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* data[0..size) as a malloc'd NUL-terminated string (a NUL inside ends it
 * early for C-string parsers). @return it (the caller frees it) or NULL. */
static inline char *fuzz_cstring(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        return NULL;
    memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

/* Creates a file from path, a mkstemp template rewritten to the name, and
 * writes data[0..size) to it (a failed write leaves it short). The caller
 * unlinks it. @return 0, or -1 when no file could be made. */
static inline int fuzz_write_temp(char *path, const uint8_t *data, size_t size)
{
    int fd = mkstemp(path);
    if (fd < 0)
        return -1;
    size_t off = 0;
    while (off < size) {
        ssize_t n = write(fd, data + off, size - off);
        if (n <= 0)
            break;
        off += (size_t)n;
    }
    close(fd);
    return 0;
}

#endif
