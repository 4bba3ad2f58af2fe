/* errors.c — messages for tsdb's error codes and for -errno values. */
#include <math.h>
#include <string.h>

#include "tsdb.h"

const char *tsdb_strerror(int err)
{
    switch (err) {
#define TSDB_ERROR_CASE(name, code, text) case name: return text;
        TSDB_ERRORS(TSDB_ERROR_CASE)
#undef TSDB_ERROR_CASE
    default:
        return err < 0 ? strerror(-err) : "success";
    }
}

double tsdb_stale_nan(void)
{
    uint64_t bits = TSDB_STALE_NAN_BITS;
    double v;
    memcpy(&v, &bits, sizeof v);
    return v;
}

int tsdb_is_stale(double v)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    return bits == TSDB_STALE_NAN_BITS;
}
