/* fuzz_file.h — for fuzz targets whose parser reads a file by name: the
 * input written to a fresh temporary file. Header-only, so that each
 * target still links alone (see the Makefile's fuzz and fuzz-replay rules). */
#ifndef VIGIL_FUZZ_FILE_H
#define VIGIL_FUZZ_FILE_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

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
