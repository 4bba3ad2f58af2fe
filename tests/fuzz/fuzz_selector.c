/* fuzz_selector.c — libFuzzer target for the command-line grammars: the
 * series selector, times and durations. Every input must either parse or
 * fail with a message and a column inside the input; a parsed selector must
 * carry at least one matcher and a non-negative range. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_input.h"
#include "selector.h"
#include "timefmt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_cstring(data, size);
    if (!s)
        return 0;
    size_t len = strlen(s); /* the grammars see C strings */

    struct selector sel;
    struct selector_error err;
    int rc = selector_parse(s, &sel, &err);
    if (rc == 0) {
        if (sel.n == 0 || sel.range_ms < 0)
            abort();
        selector_free(&sel);
    } else if (rc == -EINVAL && (err.msg[0] == '\0' || err.col == 0 || err.col > len + 1)) {
        abort();
    }

    int64_t ms;
    (void)timefmt_parse_duration(s, len, &ms);
    (void)timefmt_parse_time(s, 1700000000000LL, &ms);
    (void)timefmt_seconds_to_ms(s, len, &ms);
    free(s);
    return 0;
}
