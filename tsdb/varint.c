/* varint.c — LEB128 variable-length integers shared by the WAL, the block
 * chunk encoding and the block index. */
#include "tsdb_int.h"

size_t tsdb__uvarint_put(uint8_t *p, uint64_t u)
{
    size_t i = 0;
    while (u >= 0x80) {
        p[i++] = (uint8_t)(u | 0x80);
        u >>= 7;
    }
    p[i++] = (uint8_t)u;
    return i;
}

size_t tsdb__uvarint_get(const uint8_t *p, size_t len, uint64_t *u)
{
    uint64_t x = 0;
    unsigned shift = 0;
    for (size_t i = 0; i < len && i < 10; i++) {
        uint8_t b = p[i];
        if (i == 9 && b > 1)
            return 0; /* overflows 64 bits */
        x |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *u = x;
            return i + 1;
        }
        shift += 7;
    }
    return 0;
}
