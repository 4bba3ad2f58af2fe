/* test_output_value.c — sample values are printed exactly as Prometheus
 * prints them (Go's strconv.FormatFloat(v, 'f', -1, 64), 'e' below 1e-6
 * and from 1e21): a table of Go's outputs over integers, fractions, ties,
 * powers of two, tiny and huge magnitudes, NaN and infinities, and random
 * values that must read back exactly with the fewest digits that do; and
 * timestamps as Prometheus prints them. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "output.h"

static void test_go_table(void **state)
{
    (void)state;
    static const struct {
        double v;
        const char *want; /* what Go prints */
    } cases[] = {
        {0.0, "0"},
        {-0.0, "-0"},
        {1, "1"},
        {-1, "-1"},
        {100, "100"},
        {0.1, "0.1"},
        {0.3, "0.3"},
        {1.0 / 3, "0.3333333333333333"},
        {2.0 / 3, "0.6666666666666666"},
        {0.5, "0.5"},
        {123456.789, "123456.789"},
        {517591.23333333334, "517591.23333333334"},
        {99894862598343.125, "99894862598343.12"},   /* a tie: to even */
        {27704572066816.5625, "27704572066816.562"}, /* a tie: to even */
        {1e-6, "0.000001"},
        {9.99999e-7, "9.99999e-07"},
        {1e-7, "1e-07"},
        {5e-7, "5e-07"},
        {0.000001234, "0.000001234"},
        {3e-10, "3e-10"},
        {1e15, "1000000000000000"},
        {1e15 + 0.5, "1000000000000000.5"},
        {999999999999999.9, "999999999999999.9"},
        {1e16, "10000000000000000"},
        {9007199254740992.0, "9007199254740992"},
        {18446744073709551616.0, "18446744073709552000"},
        {12345678901234567890.0, "12345678901234567000"},
        {1e20, "100000000000000000000"},
        {9.999999999999999e20, "999999999999999900000"},
        {1e21, "1e+21"},
        {8.41e21, "8.41e+21"},
        {1e23, "1e+23"},
        {1.5e300, "1.5e+300"},
        {1.7976931348623157e308, "1.7976931348623157e+308"},
        {-1.7976931348623157e308, "-1.7976931348623157e+308"},
        {2.2250738585072014e-308, "2.2250738585072014e-308"},
        {5e-324, "5e-324"},
        {5.9604644775390625e-08, "5.960464477539063e-08"}, /* 2^-24 */
        {5.684341886080802e-14, "5.684341886080802e-14"},  /* 2^-44 */
        {1099511627776.0, "1099511627776"},
        {1125899906842624.5, "1125899906842624.5"},
        {NAN, "NaN"},
        {INFINITY, "+Inf"},
        {-INFINITY, "-Inf"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char buf[64];
        output_format_value(cases[i].v, buf, sizeof buf);
        if (strcmp(buf, cases[i].want))
            fail_msg("%.17g: want %s, got %s", cases[i].v, cases[i].want, buf);
    }
}

/* Significant digits of a formatted value ("-0.00123e+05" -> 3). */
static int sig_digits(const char *s)
{
    int n = 0, lead = 1, zeros = 0;
    for (; *s && *s != 'e'; s++) {
        if (*s < '0' || *s > '9')
            continue;
        if (lead && *s == '0')
            continue;
        lead = 0;
        if (*s == '0') {
            zeros++;
        } else {
            n += zeros + 1;
            zeros = 0;
        }
    }
    return n;
}

static uint64_t rng = 88172645463325252ULL;
static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* Random values read back exactly, and no rendering with fewer significant
 * digits reads back (glibc's %.*e gives the nearest of each length). */
static void test_random_round_trip(void **state)
{
    (void)state;
    for (int i = 0; i < 200000; i++) {
        double v;
        uint64_t b = next();
        switch (i % 4) {
        case 0:
            memcpy(&v, &b, sizeof v);
            break;
        case 1:
            v = (double)(b % 100000000) / 1000.0;
            break;
        case 2:
            v = (double)(b % 1000000) / 60.0;
            break;
        default:
            v = ldexp((double)(b >> 11), (int)(next() % 120) - 100);
            break;
        }
        if (!isfinite(v))
            continue;
        char buf[64], shorter[64];
        output_format_value(v, buf, sizeof buf);
        if (strtod(buf, NULL) != v)
            fail_msg("%.17g printed as %s does not read back", v, buf);
        int n = sig_digits(buf);
        if (n > 1) {
            snprintf(shorter, sizeof shorter, "%.*e", n - 2, v);
            if (strtod(shorter, NULL) == v)
                fail_msg("%.17g printed as %s but %s reads back too", v, buf, shorter);
        }
    }
}

/* Timestamps: seconds, and milliseconds only when not zero. */
static void test_timestamps(void **state)
{
    (void)state;
    static const struct {
        int64_t ms;
        const char *want;
    } cases[] = {{0, "0"},         {1, "0.001"},     {1000, "1"},    {1700000000500, "1700000000.500"},
                 {12, "0.012"},    {-1500, "-1.500"}, {-1000, "-1"}, {INT64_MAX, "9223372036854775.807"}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char buf[32];
        output_format_timestamp(cases[i].ms, buf, sizeof buf);
        assert_string_equal(buf, cases[i].want);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_go_table),
        cmocka_unit_test(test_random_round_trip),
        cmocka_unit_test(test_timestamps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
