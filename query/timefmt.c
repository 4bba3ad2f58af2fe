/* timefmt.c — parsing of user-typed times and Prometheus durations, and the
 * exact decimal seconds to milliseconds conversion shared with expfmt.c. */
#include "timefmt.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#define MS_PER_DAY (86400LL * 1000)

/* Appends digit d to *acc. @return 0, or -ERANGE on int64 overflow. */
static int acc_digit(int64_t *acc, int d)
{
    if (*acc > (INT64_MAX - d) / 10)
        return -ERANGE;
    *acc = *acc * 10 + d;
    return 0;
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

int timefmt_seconds_to_ms(const char *s, size_t len, int64_t *ms)
{
    /* Keeps the first significant digits; value = 0.dig[0]dig[1]... * 10^point. */
    char dig[32];
    int nsig = 0, ndigits = 0, neg = 0;
    long point = 0;
    size_t i = 0;

    if (i < len && (s[i] == '+' || s[i] == '-'))
        neg = s[i++] == '-';
    for (; i < len && is_digit(s[i]); i++, ndigits++) {
        if (nsig == 0 && s[i] == '0')
            continue;
        if (nsig < (int)sizeof dig)
            dig[nsig++] = (char)(s[i] - '0');
        point++;
    }
    if (i < len && s[i] == '.') {
        for (i++; i < len && is_digit(s[i]); i++, ndigits++) {
            if (nsig == 0 && s[i] == '0')
                point--;
            else if (nsig < (int)sizeof dig)
                dig[nsig++] = (char)(s[i] - '0');
        }
    }
    if (ndigits == 0)
        return -EINVAL;
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        long e = 0;
        int eneg = 0, edigits = 0;
        i++;
        if (i < len && (s[i] == '+' || s[i] == '-'))
            eneg = s[i++] == '-';
        for (; i < len && is_digit(s[i]); i++, edigits++)
            if (e < 100000)
                e = e * 10 + (s[i] - '0');
        if (edigits == 0)
            return -EINVAL;
        point += eneg ? -e : e;
    }
    if (i != len)
        return -EINVAL;

    int64_t v = 0;
    if (nsig > 0) {
        long shift = point + 3; /* digits that land left of the ms point */
        if (shift > 19)
            return -ERANGE;
        for (long k = 0; k < shift; k++)
            if (acc_digit(&v, k < nsig ? dig[k] : 0) < 0)
                return -ERANGE;
        if (shift >= 0 && shift < nsig && dig[shift] >= 5) {
            if (v == INT64_MAX)
                return -ERANGE;
            v++;
        }
    }
    *ms = neg ? -v : v;
    return 0;
}

/* Units of a duration in the order they must appear. */
static const struct {
    const char *name;
    int64_t ms;
} units[] = {
    {"y", 365 * MS_PER_DAY}, {"w", 7 * MS_PER_DAY}, {"d", MS_PER_DAY},
    {"h", 3600 * 1000LL},    {"ms", 1},             {"m", 60 * 1000LL},
    {"s", 1000},
};
/* Rank in the required order (ms comes last although matched before m). */
static const int unit_rank[] = {0, 1, 2, 3, 6, 4, 5};

int timefmt_parse_duration(const char *s, size_t len, int64_t *ms)
{
    int64_t total = 0;
    int last_rank = -1;
    size_t i = 0;

    if (len == 1 && s[0] == '0') {
        *ms = 0;
        return 0;
    }
    if (len == 0)
        return -EINVAL;
    while (i < len) {
        int64_t n = 0;
        size_t start = i;
        for (; i < len && is_digit(s[i]); i++)
            if (acc_digit(&n, s[i] - '0') < 0)
                return -ERANGE;
        if (i == start)
            return -EINVAL;
        size_t u = 0;
        for (; u < sizeof units / sizeof units[0]; u++) {
            size_t ul = strlen(units[u].name);
            if (len - i >= ul && memcmp(s + i, units[u].name, ul) == 0)
                break;
        }
        if (u == sizeof units / sizeof units[0] || unit_rank[u] <= last_rank)
            return -EINVAL;
        last_rank = unit_rank[u];
        i += strlen(units[u].name);
        if (n > INT64_MAX / units[u].ms || total > INT64_MAX - n * units[u].ms)
            return -ERANGE;
        total += n * units[u].ms;
    }
    *ms = total;
    return 0;
}

/* Reads exactly n digits at s. @return the number, or -1. */
static int fixed_digits(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!is_digit(s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int days_in_month(int y, int m)
{
    static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : dm[m - 1];
}

/* RFC 3339 date-time; sub-millisecond fractions are truncated, as
 * Prometheus does. */
static int parse_rfc3339(const char *s, int64_t *ms)
{
    size_t len = strlen(s);
    if (len < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') ||
        s[13] != ':' || s[16] != ':')
        return -EINVAL;
    int y = fixed_digits(s, 4), mo = fixed_digits(s + 5, 2), d = fixed_digits(s + 8, 2);
    int h = fixed_digits(s + 11, 2), mi = fixed_digits(s + 14, 2), se = fixed_digits(s + 17, 2);
    if (y < 0 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h < 0 ||
        h > 23 || mi < 0 || mi > 59 || se < 0 || se > 59)
        return -EINVAL;
    int64_t frac_ms = 0;
    const char *p = s + 19;
    if (*p == '.') {
        int n = 0;
        for (p++; is_digit(*p); p++, n++)
            if (n < 3)
                frac_ms = frac_ms * 10 + (*p - '0');
        if (n == 0)
            return -EINVAL;
        for (; n < 3; n++)
            frac_ms *= 10;
    }
    int64_t off_min = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if ((*p == '+' || *p == '-') && strlen(p) == 6 && p[3] == ':') {
        int oh = fixed_digits(p + 1, 2), om = fixed_digits(p + 4, 2);
        if (oh < 0 || oh > 23 || om < 0 || om > 59)
            return -EINVAL;
        off_min = (oh * 60 + om) * (*p == '-' ? -1 : 1);
        p += 6;
    } else {
        return -EINVAL;
    }
    if (*p != '\0')
        return -EINVAL;
    int64_t secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se - off_min * 60;
    *ms = secs * 1000 + frac_ms;
    return 0;
}

int timefmt_parse_time(const char *s, int64_t now_ms, int64_t *ms)
{
    if (strncmp(s, "now", 3) == 0) {
        int64_t d = 0;
        if (s[3] == '\0') {
            *ms = now_ms;
            return 0;
        }
        if (s[3] != '+' && s[3] != '-')
            return -EINVAL;
        int rc = timefmt_parse_duration(s + 4, strlen(s + 4), &d);
        if (rc < 0)
            return rc;
        *ms = s[3] == '+' ? now_ms + d : now_ms - d;
        return 0;
    }
    if (strlen(s) >= 5 && s[4] == '-')
        return parse_rfc3339(s, ms);
    return timefmt_seconds_to_ms(s, strlen(s), ms);
}

int64_t timefmt_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
