/* output.c — JSON (Prometheus API), CSV and table writers for results. */
#include "output.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int output_parse_format(const char *s, enum output_format *out)
{
    if (strcmp(s, "table") == 0)
        *out = OUTPUT_TABLE;
    else if (strcmp(s, "json") == 0)
        *out = OUTPUT_JSON;
    else if (strcmp(s, "csv") == 0)
        *out = OUTPUT_CSV;
    else
        return -EINVAL;
    return 0;
}

/* Rounds the mantissa of a %e rendering up by one unit in its last digit
 * and drops trailing zeros: "5.99e-08" -> "6e-08", "9.9e+21" -> "1e+22". */
static void e_round_up(const char *in, char *out, size_t cap)
{
    char m[40];
    const char *x = strchr(in, 'e');
    size_t n = (size_t)(x - in);
    memcpy(m, in, n);
    int exp = atoi(x + 1), i = (int)n - 1;
    for (; i >= 0; i--) {
        if (m[i] == '.' || m[i] == '-')
            continue;
        if (m[i] != '9') {
            m[i]++;
            break;
        }
        m[i] = '0';
    }
    if (i < 0) { /* 9.99 -> 10.00: one more power of ten */
        int neg = m[0] == '-';
        m[neg] = '1';
        exp++;
    }
    while (n > 0 && m[n - 1] == '0' && memchr(m, '.', n))
        n--;
    if (n > 0 && m[n - 1] == '.')
        n--;
    snprintf(out, cap, "%.*se%c%02d", (int)n, m, exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
}

/* The shortest %.*e rendering of v that reads back as v. More digits never
 * read back worse, so the precision is found by halving [0, 16] (16 always
 * round-trips a double). At a power of two the reals that read back as v
 * reach less far below it than above, so a shorter rendering rounded up
 * may read back where the nearest does not: those are tried too. Only for
 * magnitudes shortest_digits() leaves out. */
static void shortest_e(double v, char *buf, size_t cap)
{
    int lo = 0, hi = 16;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        snprintf(buf, cap, "%.*e", mid, v);
        if (strtod(buf, NULL) == v)
            hi = mid;
        else
            lo = mid + 1;
    }
    snprintf(buf, cap, "%.*e", lo, v);
    int fr;
    if (!isfinite(v) || v == 0 || fabs(frexp(v, &fr)) != 0.5)
        return;
    char near[40], up[40];
    for (int q = lo - 1; q >= 0; q--) {
        snprintf(near, sizeof near, "%.*e", q, v);
        if (fabs(strtod(near, NULL)) > fabs(v))
            break;
        e_round_up(near, up, sizeof up);
        if (strtod(up, NULL) != v)
            break;
        snprintf(buf, cap, "%s", up);
    }
}

/* ---- shortest round-trip digits, exactly ---------------------------------
 *
 * Design notes. A finite double is v = m * 2^e exactly. Every decimal in
 * the interval of reals that round to v ((4m-2) * 2^(e-2) .. (4m+2) *
 * 2^(e-2), the lower half-gap halved at a power of two; bounds included
 * when m is even) reads back as v. Go's shortest formatting (what
 * Prometheus prints) picks the fewest significant digits k for which the
 * k-digit truncation of v or its round-up lies in the interval, the
 * nearer of the two when both do (ties to even). Whether a k works is
 * monotone in k, so k is found by halving. Everything is scaled by
 * 10^(18 - point) (v = 0.DIGITS * 10^point): v's first 18 digits become
 * the integer D (the rest only matter as "nonzero or not"), candidates
 * integers below 10^18, and the interval's bounds are computed once,
 * exactly, as floor and "has a fraction". This covers normal doubles from
 * 1e-6 to 1e21, the fixed-notation range.
 */
struct u256 {
    uint64_t w[4]; /* little-endian limbs */
};

static void u256_mul(struct u256 *a, uint64_t m)
{
    unsigned __int128 carry = 0;
    for (int i = 0; i < 4; i++) {
        carry += (unsigned __int128)a->w[i] * m;
        a->w[i] = (uint64_t)carry;
        carry >>= 64;
    }
}

static const uint64_t pow10_u64[20] = {
    1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000,
    10000000000ULL, 100000000000ULL, 1000000000000ULL, 10000000000000ULL,
    100000000000000ULL, 1000000000000000ULL, 10000000000000000ULL, 100000000000000000ULL,
    1000000000000000000ULL, 10000000000000000000ULL};

/* A bound l * 2^y * 10^z, as floor (fits 64 bits here) and whether a
 * fraction was cut off. */
struct bound {
    uint64_t floor;
    int frac;
};

static struct bound scaled_bound(uint64_t l, int y, int z)
{
    struct bound r = {0, 0};
    if (z < 0) { /* |v| >= 1e18: y > 0 and l << y < 2^72 */
        unsigned __int128 n = (unsigned __int128)l << y, d = pow10_u64[-z];
        r.floor = (uint64_t)(n / d);
        r.frac = n % d != 0;
        return r;
    }
    if (z <= 21 && y > -128) { /* l * 10^z < 2^55 * 2^70: 128 bits do */
        unsigned __int128 n = (unsigned __int128)l * pow10_u64[z > 19 ? 19 : z];
        if (z > 19)
            n *= pow10_u64[z - 19];
        if (y >= 0) {
            r.floor = (uint64_t)(n << y);
        } else {
            r.frac = (n & (((unsigned __int128)1 << -y) - 1)) != 0;
            r.floor = (uint64_t)(n >> -y);
        }
        return r;
    }
    struct u256 n = {{l, 0, 0, 0}};
    for (; z >= 19; z -= 19)
        u256_mul(&n, pow10_u64[19]);
    u256_mul(&n, pow10_u64[z]);
    if (y >= 0) {
        r.floor = n.w[0] << y; /* y small: the result is below 2^64 */
        return r;
    }
    int s = -y, q = s / 64, b = s % 64;
    for (int i = 0; i < q; i++)
        r.frac |= n.w[i] != 0;
    if (b)
        r.frac |= (n.w[q] & ((UINT64_C(1) << b) - 1)) != 0;
    uint64_t lo = n.w[q], hi = q + 1 < 4 ? n.w[q + 1] : 0;
    r.floor = b ? lo >> b | hi << (64 - b) : lo;
    return r;
}

/* "00" .. "99" */
static const char pairs[201] = "00010203040506070809101112131415161718192021222324"
                               "25262728293031323334353637383940414243444546474849"
                               "50515253545556575859606162636465666768697071727374"
                               "75767778798081828384858687888990919293949596979899";

/* Writes x < 10^9 as exactly nine digits. */
static void digits9(uint32_t x, char *out)
{
    out[0] = (char)('0' + x / 100000000);
    x %= 100000000;
    uint32_t hi = x / 10000, lo = x % 10000;
    memcpy(out + 1, pairs + 2 * (hi / 100), 2);
    memcpy(out + 3, pairs + 2 * (hi % 100), 2);
    memcpy(out + 5, pairs + 2 * (lo / 100), 2);
    memcpy(out + 7, pairs + 2 * (lo % 100), 2);
}

/* -1, 0, 1 as c < b, c == b, c > b. */
static int bound_cmp(uint64_t c, const struct bound *b)
{
    if (c != b->floor)
        return c < b->floor ? -1 : 1;
    return b->frac ? -1 : 0;
}

struct interval {
    struct bound lo, hi;
    int inclusive;
};

static int in_interval(const struct interval *in, uint64_t c)
{
    int l = bound_cmp(c, &in->lo), h = bound_cmp(c, &in->hi);
    return in->inclusive ? l >= 0 && h <= 0 : l > 0 && h < 0;
}

/* Writes |v|'s shortest round-trip digits to out (no trailing zeros) and
 * returns their count; *dp is where the decimal point goes (v = 0.DIGITS
 * * 10^dp). @return 0 when |v| is outside [1e-6, 1e21) or not normal. */
static int shortest_digits(double v, char *out /* OUT */, int *dp /* OUT */)
{
    double a = fabs(v);
    if (!(a >= 1e-6 && a < 1e21) || !isnormal(a))
        return 0;
    uint64_t bits;
    memcpy(&bits, &a, sizeof bits);
    uint64_t m = (bits & ((UINT64_C(1) << 52) - 1)) | UINT64_C(1) << 52;
    int e = (int)(bits >> 52) - 1075;
    /* D: the first 18 digits of v; sticky: a nonzero digit after them */
    unsigned __int128 ip = e >= 0 ? (unsigned __int128)m << e : e > -53 ? m >> -e : 0;
    int fbits = e < 0 ? -e : 0;
    unsigned __int128 fmask = e < 0 ? ((unsigned __int128)1 << fbits) - 1 : 0;
    unsigned __int128 frac = (unsigned __int128)m & fmask;
    uint64_t d = 0;
    int nd = 0, point = 0, sticky = 0;
    if (ip) {
        if (ip >> 64 == 0)
            while (nd < 20 && (uint64_t)ip >= pow10_u64[nd])
                nd++;
        else
            while (nd < 21 && ip >= (unsigned __int128)pow10_u64[nd % 19] *
                                        (nd >= 19 ? pow10_u64[19] : 1))
                nd++;
        point = nd;
        if (nd > 18) {
            unsigned __int128 div = pow10_u64[nd - 18];
            d = (uint64_t)(ip / div);
            sticky |= ip % div != 0;
            nd = 18;
        } else {
            d = (uint64_t)ip;
        }
    }
    if (fbits <= 60) { /* frac * 10 fits 64 bits */
        uint64_t f64 = (uint64_t)frac, m64 = (uint64_t)fmask;
        while (d == 0 && f64) { /* below 1: the fraction's leading zeros */
            f64 *= 10;
            d = f64 >> fbits;
            f64 &= m64;
            if (d)
                nd = 1;
            else
                point--;
        }
        if (f64 && nd < 18) { /* the other digits at once: f64 * 10^17 < 2^117 */
            unsigned __int128 x = (unsigned __int128)f64 * pow10_u64[18 - nd];
            d = d * pow10_u64[18 - nd] + (uint64_t)(x >> fbits);
            f64 = (uint64_t)x & m64;
            nd = 18;
        }
        frac = f64;
    }
    for (; nd < 18 && frac; nd += d != 0) {
        frac *= 10;
        d = d * 10 + (uint64_t)(frac >> fbits);
        frac &= fmask;
        if (!d)
            point--;
    }
    sticky = frac != 0 || sticky;
    if (nd < 18)
        d *= pow10_u64[18 - nd];
    int z = 18 - point;
    struct interval in = {scaled_bound(4 * m - 2, e - 2, z), scaled_bound(4 * m + 2, e - 2, z),
                          !(m & 1)};
    if (m == UINT64_C(1) << 52 && (bits >> 52) > 1)
        in.lo = scaled_bound(4 * m - 1, e - 2, z); /* the double below is nearer */
    /* the smallest k with a candidate in the interval, by halving; most
     * values that are not integers need 15 to 17 digits: 15 first */
    int lo = 1, hi = 17, k = 15;
    uint64_t best = 0;
    for (; lo <= hi; k = (lo + hi) / 2) {
        uint64_t unit = pow10_u64[18 - k], r = d % unit, c = d - r, half = unit / 2;
        int ok_down = (r == 0 && !sticky) || in_interval(&in, c);
        int ok_up = (r || sticky) && in_interval(&in, c + unit);
        if (!ok_down && !ok_up) {
            lo = k + 1;
            continue;
        }
        if (ok_down && ok_up) {
            int above = r > half || (r == half && sticky);
            int tie = r == half && !sticky;
            best = above || (tie && (c / unit) % 2) ? c + unit : c;
        } else {
            best = ok_down ? c : c + unit;
        }
        hi = k - 1;
    }
    /* best: the digits scaled to 18 (trailing zeros), or 10^18 if rounding
     * up carried */
    *dp = point;
    if (best >= pow10_u64[18]) { /* 10^18: rounding up carried */
        best /= 10;
        (*dp)++;
    }
    digits9((uint32_t)(best / 1000000000), out);
    digits9((uint32_t)(best % 1000000000), out + 9);
    int n = 18;
    while (n > 1 && out[n - 1] == '0')
        n--;
    return n;
}

/* Fixed notation of digits (0.DIGITS * 10^dp). @return the length. */
static size_t fixed_notation(int neg, const char *dig, int nd, int dp, char *buf)
{
    size_t n = 0;
    if (neg)
        buf[n++] = '-';
    if (dp <= 0) {
        buf[n++] = '0';
        buf[n++] = '.';
        memset(buf + n, '0', (size_t)-dp);
        n += (size_t)-dp;
        memcpy(buf + n, dig, (size_t)nd);
        return n + (size_t)nd;
    }
    if (nd <= dp) {
        memcpy(buf + n, dig, (size_t)nd);
        memset(buf + n + nd, '0', (size_t)(dp - nd));
        return n + (size_t)dp;
    }
    memcpy(buf + n, dig, (size_t)dp);
    n += (size_t)dp;
    buf[n++] = '.';
    memcpy(buf + n, dig + dp, (size_t)(nd - dp));
    return n + (size_t)(nd - dp);
}

/* Writes u's decimal digits to buf. @return their count. */
static size_t format_uint(uint64_t u, char *buf)
{
    /* the digit count: bit length * log10(2) (~ 1233 / 4096) is it or one
     * less */
    size_t n = (size_t)((64 - __builtin_clzll(u | 1)) * 1233 >> 12);
    n += (u | 1) >= pow10_u64[n];
    char *p = buf + n;
    for (; u >= 10000; u /= 10000) {
        unsigned r = (unsigned)(u % 10000);
        memcpy(p - 4, pairs + 2 * (r / 100), 2);
        memcpy(p - 2, pairs + 2 * (r % 100), 2);
        p -= 4;
    }
    if (u >= 100) {
        memcpy(p - 2, pairs + 2 * (u % 100), 2);
        p -= 2;
        u /= 100;
    }
    if (u >= 10)
        memcpy(p - 2, pairs + 2 * u, 2);
    else
        p[-1] = (char)('0' + u);
    return n;
}

int output_shortest_digits(double v, char *d, int *exp10)
{
    int dp, nd = shortest_digits(v, d, &dp);
    if (nd) {
        *exp10 = dp - 1;
    } else {
        char e[40];
        shortest_e(v, e, sizeof e); /* [-]d[.ddd]e±XX */
        const char *p = e + (*e == '-');
        for (; *p != 'e'; p++)
            if (*p != '.')
                d[nd++] = *p;
        while (nd > 1 && d[nd - 1] == '0')
            nd--;
        *exp10 = atoi(p + 1);
    }
    d[nd] = '\0';
    return nd;
}

/* output_format_value into digits (48 bytes), unterminated; with fixed,
 * output_format_value_fixed (digits then holds 400 bytes). @return the
 * length. */
static size_t format_value(double v, int fixed, char *digits)
{
    char e[40];
    if (isnan(v)) {
        memcpy(digits, "NaN", 3);
        return 3;
    }
    if (isinf(v)) {
        memcpy(digits, v > 0 ? "+Inf" : "-Inf", 4);
        return 4;
    }
    double a = fabs(v);
    size_t n = 0;
    if (a < 1e15 && v == (double)(long long)v && !(v == 0 && signbit(v))) {
        /* integers, the common case */
        if (v < 0)
            digits[n++] = '-';
        n += format_uint((uint64_t)a, digits + n);
    } else {
        int dp, nd = shortest_digits(v, e, &dp);
        if (nd) {
            n = fixed_notation(v < 0, e, nd, dp, digits);
        } else if (!fixed && a != 0 && (a < 1e-6 || a >= 1e21)) {
            shortest_e(v, e, sizeof e);
            n = strlen(e);
            memcpy(digits, e, n);
        } else { /* -0 and the magnitudes shortest_digits leaves out */
            int exp10;
            nd = output_shortest_digits(v, e, &exp10);
            n = fixed_notation(signbit(v) != 0, e, nd, exp10 + 1, digits);
        }
    }
    return n;
}

void output_format_value(double v, char *buf, size_t cap)
{
    char digits[48];
    size_t n = format_value(v, 0, digits);
    if (n >= cap)
        n = cap - 1;
    memcpy(buf, digits, n);
    buf[n] = '\0';
}

void output_format_value_fixed(double v, char *buf, size_t cap)
{
    char digits[400];
    size_t n = format_value(v, 1, digits);
    if (n >= cap)
        n = cap - 1;
    memcpy(buf, digits, n);
    buf[n] = '\0';
}

/* output_format_timestamp into tmp (32 bytes), unterminated. @return the
 * length. */
static size_t format_timestamp(int64_t ts_ms, char *tmp)
{
    uint64_t t = ts_ms < 0 ? (uint64_t)0 - (uint64_t)ts_ms : (uint64_t)ts_ms;
    size_t n = 0;
    if (ts_ms < 0)
        tmp[n++] = '-';
    n += format_uint(t / 1000, tmp + n);
    unsigned ms = (unsigned)(t % 1000);
    if (ms) {
        tmp[n++] = '.';
        tmp[n++] = (char)('0' + ms / 100);
        memcpy(tmp + n, pairs + 2 * (ms % 100), 2);
        n += 2;
    }
    return n;
}

void output_format_timestamp(int64_t ts_ms, char *buf, size_t cap)
{
    char tmp[32];
    size_t n = format_timestamp(ts_ms, tmp);
    if (n >= cap)
        n = cap - 1;
    memcpy(buf, tmp, n);
    buf[n] = '\0';
}

/* Decodes one UTF-8 sequence at s. @return its length and *cp, or 0 when
 * the bytes are not valid UTF-8. */
static size_t utf8_decode(const unsigned char *s, uint32_t *cp)
{
    size_t k;
    uint32_t c;
    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    } else if ((s[0] & 0xe0) == 0xc0) {
        k = 1, c = s[0] & 0x1f;
    } else if ((s[0] & 0xf0) == 0xe0) {
        k = 2, c = s[0] & 0x0f;
    } else if ((s[0] & 0xf8) == 0xf0) {
        k = 3, c = s[0] & 0x07;
    } else {
        return 0;
    }
    for (size_t i = 1; i <= k; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        c = (c << 6) | (s[i] & 0x3f);
    }
    if ((k == 1 && c < 0x80) || (k == 2 && c < 0x800) || (k == 3 && c < 0x10000) ||
        c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
        return 0;
    *cp = c;
    return k + 1;
}

/* 1 if the code point cp needs an escape in Go's HTML-safe JSON strings. */
static int json_needs_escape(uint32_t cp)
{
    return cp < 0x20 || cp == '"' || cp == '\\' || cp == '<' || cp == '>' || cp == '&' ||
           cp == 0x2028 || cp == 0x2029;
}

int output_json_string(const char *s, output_sink *sink, void *arg)
{
    const unsigned char *p = (const unsigned char *)s, *run = p;
    char esc[8];
    int rc = sink(arg, "\"", 1);
    while (rc == 0 && *p) {
        uint32_t cp;
        size_t n = utf8_decode(p, &cp);
        if (n > 0 && !json_needs_escape(cp)) {
            p += n;
            continue;
        }
        if (p > run && (rc = sink(arg, run, (size_t)(p - run))) != 0)
            break;
        if (n == 0)
            snprintf(esc, sizeof esc, "\\ufffd"), n = 1;
        else if (cp == '"' || cp == '\\')
            snprintf(esc, sizeof esc, "\\%c", (char)cp);
        else if (cp == '\n' || cp == '\r' || cp == '\t')
            snprintf(esc, sizeof esc, "\\%c", cp == '\n' ? 'n' : cp == '\r' ? 'r' : 't');
        else
            snprintf(esc, sizeof esc, "\\u%04x", (unsigned)cp);
        rc = sink(arg, esc, strlen(esc));
        p += n;
        run = p;
    }
    if (rc == 0 && p > run)
        rc = sink(arg, run, (size_t)(p - run));
    return rc ? rc : sink(arg, "\"", 1);
}

static int file_sink(void *arg, const void *p, size_t n)
{
    return fwrite(p, 1, n, arg) == n ? 0 : -EIO;
}

int output_json_fputs(FILE *f, const char *s)
{
    return output_json_string(s, file_sink, f);
}

int output_labels_cmp(const struct tsdb_labels *a, const struct tsdb_labels *b)
{
    for (size_t i = 0; i < a->len && i < b->len; i++) {
        int c = strcmp(a->v[i].name, b->v[i].name);
        if (c == 0)
            c = strcmp(a->v[i].value, b->v[i].value);
        if (c)
            return c;
    }
    return a->len < b->len ? -1 : a->len > b->len;
}

int output_labels_ptr_cmp(const void *x, const void *y)
{
    return output_labels_cmp(*(const struct tsdb_labels *const *)x,
                             *(const struct tsdb_labels *const *)y);
}

/* Bytes a point takes at most: ,[-ts.mmm,"-value"] */
#define JSON_POINT_MAX 96

static void json_flush(struct output_json *w)
{
    if (w->len && w->rc == 0)
        w->rc = w->sink(w->arg, w->buf, w->len);
    w->len = 0;
}

/* An output_sink into the writer's block. */
static int json_put(void *arg, const void *p, size_t n)
{
    struct output_json *w = arg;
    if (w->len + n > sizeof w->buf)
        json_flush(w);
    if (n > sizeof w->buf) {
        if (w->rc == 0)
            w->rc = w->sink(w->arg, p, n);
    } else {
        memcpy(w->buf + w->len, p, n);
        w->len += n;
    }
    return w->rc;
}

/* Closes the open series, if any. */
static void json_series_end(struct output_json *w)
{
    if (w->nseries)
        json_put(w, w->type == OUTPUT_VECTOR ? "}" : "]}", w->type == OUTPUT_VECTOR ? 1 : 2);
}

void output_json_begin(struct output_json *w, enum output_type type, output_sink *sink,
                       void *arg)
{
    w->sink = sink;
    w->arg = arg;
    w->type = type;
    w->rc = 0;
    w->nseries = w->npoints = w->len = 0;
    const char *head = type == OUTPUT_VECTOR
                           ? "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":["
                           : "{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\",\"result\":[";
    json_put(w, head, strlen(head));
}

void output_json_series(struct output_json *w, const struct tsdb_labels *labels)
{
    json_series_end(w);
    if (w->nseries++)
        json_put(w, ",", 1);
    json_put(w, "{\"metric\":{", 11);
    for (size_t j = 0; j < labels->len; j++) {
        if (j)
            json_put(w, ",", 1);
        output_json_string(labels->v[j].name, json_put, w);
        json_put(w, ":", 1);
        output_json_string(labels->v[j].value, json_put, w);
    }
    if (w->type == OUTPUT_VECTOR)
        json_put(w, "},\"value\":", 10);
    else
        json_put(w, "},\"values\":[", 12);
    w->npoints = 0;
}

void output_json_point(struct output_json *w, int64_t ts_ms, double value)
{
    if (w->len > sizeof w->buf - JSON_POINT_MAX)
        json_flush(w);
    char *p = w->buf + w->len;
    size_t n = 0;
    if (w->npoints++)
        p[n++] = ',';
    p[n++] = '[';
    n += format_timestamp(ts_ms, p + n);
    p[n++] = ',';
    p[n++] = '"';
    n += format_value(value, 0, p + n);
    p[n++] = '"';
    p[n++] = ']';
    w->len += n;
}

int output_json_end(struct output_json *w)
{
    json_series_end(w);
    json_put(w, "]}}", 3);
    json_flush(w);
    return w->rc;
}

static int write_json(FILE *f, const struct output_result *r)
{
    struct output_json w;
    output_json_begin(&w, r->type, file_sink, f);
    for (size_t i = 0; i < r->n; i++) {
        const struct output_series *s = &r->series[i];
        output_json_series(&w, s->labels);
        for (size_t j = 0; j < (r->type == OUTPUT_VECTOR ? 1 : s->n); j++)
            output_json_point(&w, s->samples[j].ts_ms, s->samples[j].value);
    }
    int rc = output_json_end(&w);
    return rc ? rc : fputc('\n', f) == EOF ? -EIO : 0;
}

char *output_series_name(const struct tsdb_labels *ls)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    const char *name = "";
    int first = 1;

    if (!m)
        return NULL;
    for (size_t i = 0; i < ls->len; i++)
        if (strcmp(ls->v[i].name, "__name__") == 0)
            name = ls->v[i].value;
    fputs(name, m);
    for (size_t i = 0; i < ls->len; i++) {
        if (strcmp(ls->v[i].name, "__name__") == 0)
            continue;
        fprintf(m, "%s%s=\"", first ? "{" : ", ", ls->v[i].name);
        first = 0;
        for (const char *c = ls->v[i].value; *c; c++) {
            if (*c == '\\' || *c == '"')
                putc('\\', m), putc(*c, m);
            else if (*c == '\n')
                fputs("\\n", m);
            else
                putc(*c, m);
        }
        putc('"', m);
    }
    if (!first)
        putc('}', m);
    else if (!*name)
        fputs("{}", m);
    fclose(m);
    return buf;
}

/* Writes a CSV field, quoted when it holds a comma, quote or line break. */
static void csv_field(FILE *f, const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, f);
        return;
    }
    putc('"', f);
    for (; *s; s++) {
        if (*s == '"')
            putc('"', f);
        putc(*s, f);
    }
    putc('"', f);
}

static int write_csv(FILE *f, const struct output_result *r)
{
    fputs("series,timestamp,value\n", f);
    for (size_t i = 0; i < r->n; i++) {
        char *name = output_series_name(r->series[i].labels);
        if (!name)
            return -ENOMEM;
        for (size_t j = 0; j < r->series[i].n; j++) {
            char ts[32], v[40];
            output_format_timestamp(r->series[i].samples[j].ts_ms, ts, sizeof ts);
            output_format_value(r->series[i].samples[j].value, v, sizeof v);
            csv_field(f, name);
            fprintf(f, ",%s,%s\n", ts, v);
        }
        free(name);
    }
    return 0;
}

/* RFC 3339 UTC with milliseconds. */
static void rfc3339(int64_t ts_ms, char *buf, size_t cap)
{
    int64_t ms = ((ts_ms % 1000) + 1000) % 1000;
    time_t secs = (time_t)((ts_ms - ms) / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    size_t n = strftime(buf, cap, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, cap - n, ".%03dZ", (int)ms);
}

static int write_table(FILE *f, const struct output_result *r)
{
    char **names = calloc(r->n ? r->n : 1, sizeof *names);
    int width = 6, rc = 0;
    if (!names)
        return -ENOMEM;
    for (size_t i = 0; i < r->n; i++) {
        if (!(names[i] = output_series_name(r->series[i].labels))) {
            rc = -ENOMEM;
            goto out;
        }
        if ((int)strlen(names[i]) > width)
            width = (int)strlen(names[i]);
    }
    fprintf(f, "%-*s  %-24s  %s\n", width, "SERIES", "TIME", "VALUE");
    for (size_t i = 0; i < r->n; i++) {
        for (size_t j = 0; j < r->series[i].n; j++) {
            char ts[40], v[40];
            rfc3339(r->series[i].samples[j].ts_ms, ts, sizeof ts);
            output_format_value(r->series[i].samples[j].value, v, sizeof v);
            fprintf(f, "%-*s  %-24s  %s\n", width, names[i], ts, v);
        }
    }
out:
    for (size_t i = 0; i < r->n; i++)
        free(names[i]);
    free(names);
    return rc;
}

int output_write(FILE *f, enum output_format fmt, const struct output_result *r)
{
    int rc = 0;
    switch (fmt) {
    case OUTPUT_JSON:
        rc = write_json(f, r);
        break;
    case OUTPUT_CSV:
        rc = write_csv(f, r);
        break;
    case OUTPUT_TABLE:
        rc = write_table(f, r);
        break;
    }
    if (rc == 0 && (fflush(f) != 0 || ferror(f)))
        rc = -EIO;
    return rc;
}
