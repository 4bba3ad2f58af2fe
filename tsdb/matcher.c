/* matcher.c — label matchers (=, !=, =~, !~) with Prometheus semantics: an
 * absent label has the value "", and regexes must match the whole value
 * (PCRE2, compiled once, JIT when the platform has it). As in Prometheus,
 * "." also matches a newline.
 *
 * A matcher holds its own pcre2_match_data, so one matcher must be used by
 * one thread at a time; give each thread its own matchers.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "tsdb_int.h"

/* Compiles value as an anchored regex into m->re / m->re_data.
 * @return 0, -ENOMEM, or TSDB_E_BAD_REGEX with PCRE2's message in errbuf. */
static int compile_regex(struct tsdb_matcher *m, char *errbuf, size_t errlen)
{
    int errcode;
    PCRE2_SIZE erroff;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)m->value, PCRE2_ZERO_TERMINATED,
                                   PCRE2_UTF | PCRE2_DOTALL | PCRE2_ANCHORED | PCRE2_ENDANCHORED,
                                   &errcode, &erroff, NULL);
    if (!re) {
        if (errbuf && errlen) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(errcode, msg, sizeof msg);
            snprintf(errbuf, errlen, "%s at offset %zu of \"%s\"", (const char *)msg,
                     (size_t)erroff, m->value);
        }
        return TSDB_E_BAD_REGEX;
    }
    /* Without JIT support pcre2_match uses the interpreter: same results. */
    (void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
    if (!md) {
        pcre2_code_free(re);
        return -ENOMEM;
    }
    m->re = re;
    m->re_data = md;
    return 0;
}

int tsdb_matcher_init(struct tsdb_matcher *m, enum tsdb_match_type type, const char *name,
                      const char *value, char *errbuf, size_t errlen)
{
    memset(m, 0, sizeof *m);
    m->type = type;
    m->name = strdup(name);
    m->value = strdup(value);
    if (!m->name || !m->value) {
        tsdb_matcher_free(m);
        return -ENOMEM;
    }
    if (type == TSDB_MATCH_RE || type == TSDB_MATCH_NRE) {
        int rc = compile_regex(m, errbuf, errlen);
        if (rc < 0) {
            tsdb_matcher_free(m);
            return rc;
        }
    }
    return 0;
}

void tsdb_matcher_free(struct tsdb_matcher *m)
{
    free(m->name);
    free(m->value);
    pcre2_match_data_free(m->re_data);
    pcre2_code_free(m->re);
    m->name = m->value = NULL;
    m->re = m->re_data = NULL;
}

static int regex_matches(const struct tsdb_matcher *m, const char *value)
{
    int rc = pcre2_match(m->re, (PCRE2_SPTR)value, strlen(value), 0, 0, m->re_data, NULL);
    return rc >= 0;
}

int tsdb_matcher_matches(const struct tsdb_matcher *m, const char *value)
{
    switch (m->type) {
    case TSDB_MATCH_EQ:
        return strcmp(m->value, value) == 0;
    case TSDB_MATCH_NE:
        return strcmp(m->value, value) != 0;
    case TSDB_MATCH_RE:
        return regex_matches(m, value);
    case TSDB_MATCH_NRE:
        return !regex_matches(m, value);
    }
    return 0;
}
