/* test_timefmt.c — table-driven tests of time and duration parsing. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "timefmt.h"

#define NOW_MS 1700000000000LL

static void test_durations(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        int rc;
        int64_t ms;
    } cases[] = {
        {"30s", 0, 30000},
        {"5m", 0, 300000},
        {"1h30m", 0, 5400000},
        {"1d", 0, 86400000},
        {"1w", 0, 604800000},
        {"1y", 0, 31536000000LL},
        {"100ms", 0, 100},
        {"1m30s500ms", 0, 90500},
        {"2y3w4d5h6m7s8ms", 0, 2 * 31536000000LL + 3 * 604800000LL + 4 * 86400000LL +
                                 5 * 3600000LL + 6 * 60000 + 7000 + 8},
        {"0", 0, 0},
        {"0s", 0, 0},
        {"", -EINVAL, 0},
        {"5", -EINVAL, 0},
        {"m", -EINVAL, 0},
        {"30m1h", -EINVAL, 0},   /* units must decrease */
        {"1h1h", -EINVAL, 0},    /* each unit once */
        {"5ms1s", -EINVAL, 0},
        {"1.5h", -EINVAL, 0},
        {"-5m", -EINVAL, 0},
        {"5M", -EINVAL, 0},
        {"5m ", -EINVAL, 0},
        {"99999999999999999999s", -ERANGE, 0},
        {"9999999999999999y", -ERANGE, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t ms = -1;
        int rc = timefmt_parse_duration(cases[i].in, strlen(cases[i].in), &ms);
        if (rc != cases[i].rc || (rc == 0 && ms != cases[i].ms))
            fail_msg("duration %s: rc %d ms %lld, want rc %d ms %lld", cases[i].in, rc,
                     (long long)ms, cases[i].rc, (long long)cases[i].ms);
    }
}

static void test_times(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        int rc;
        int64_t ms;
    } cases[] = {
        {"2026-11-23T10:00:00Z", 0, 1795428000000LL},
        {"2023-11-14T22:13:20Z", 0, 1700000000000LL},
        {"2023-11-14T22:13:20.5Z", 0, 1700000000500LL},
        {"2023-11-14T22:13:20.123456789Z", 0, 1700000000123LL},
        {"2023-11-14T23:13:20+01:00", 0, 1700000000000LL},
        {"2023-11-14T17:43:20-04:30", 0, 1700000000000LL},
        {"1970-01-01T00:00:00Z", 0, 0},
        {"2024-02-29T00:00:00Z", 0, 1709164800000LL},
        {"2023-02-29T00:00:00Z", -EINVAL, 0},
        {"2023-11-14T24:00:00Z", -EINVAL, 0},
        {"2023-11-14T22:13:20", -EINVAL, 0},
        {"2023-11-14 22:13:20Z", -EINVAL, 0},
        {"2023-11-14T22:13:20.Z", -EINVAL, 0},
        {"2023-11-14T22:13:20+0100", -EINVAL, 0},
        {"1700000000", 0, 1700000000000LL},
        {"1700000000.123", 0, 1700000000123LL},
        {"1700000000.1235", 0, 1700000000124LL},
        {"1700000000.1234", 0, 1700000000123LL},
        {"now", 0, NOW_MS},
        {"now-1h", 0, NOW_MS - 3600000},
        {"now+5m", 0, NOW_MS + 300000},
        {"now-1h30m", 0, NOW_MS - 5400000},
        {"now-", -EINVAL, 0},
        {"now*2", -EINVAL, 0},
        {"yesterday", -EINVAL, 0},
        {"", -EINVAL, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t ms = -1;
        int rc = timefmt_parse_time(cases[i].in, NOW_MS, &ms);
        if (rc != cases[i].rc || (rc == 0 && ms != cases[i].ms))
            fail_msg("time %s: rc %d ms %lld, want rc %d ms %lld", cases[i].in, rc,
                     (long long)ms, cases[i].rc, (long long)cases[i].ms);
    }
}

static void test_seconds_to_ms(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        int rc;
        int64_t ms;
    } cases[] = {
        {"0", 0, 0},
        {"1", 0, 1000},
        {"-1.5", 0, -1500},
        {"+2.25", 0, 2250},
        {"0.0005", 0, 1},        /* half rounds away from zero */
        {"0.00049999", 0, 0},
        {"-0.0005", 0, -1},
        {".5", 0, 500},
        {"5.", 0, 5000},
        {"1.7e9", 0, 1700000000000LL},
        {"1.7E+9", 0, 1700000000000LL},
        {"1e-3", 0, 1},
        {"15e-4", 0, 2},
        {"000001.000", 0, 1000},
        {"0.1", 0, 100},         /* exact, unlike 0.1 * 1000 in binary */
        {"1700000000.001", 0, 1700000000001LL},
        {"9223372036854775.807", 0, INT64_MAX},
        {"9223372036854775.808", -ERANGE, 0},
        {"1e300", -ERANGE, 0},
        {"1e-300", 0, 0},
        {"", -EINVAL, 0},
        {".", -EINVAL, 0},
        {"1e", -EINVAL, 0},
        {"1x", -EINVAL, 0},
        {"0x10", -EINVAL, 0},
        {"--1", -EINVAL, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t ms = -1;
        int rc = timefmt_seconds_to_ms(cases[i].in, strlen(cases[i].in), &ms);
        if (rc != cases[i].rc || (rc == 0 && ms != cases[i].ms))
            fail_msg("seconds %s: rc %d ms %lld, want rc %d ms %lld", cases[i].in, rc,
                     (long long)ms, cases[i].rc, (long long)cases[i].ms);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_durations),
        cmocka_unit_test(test_times),
        cmocka_unit_test(test_seconds_to_ms),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
