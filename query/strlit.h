/* strlit.h — PromQL string literals: decoding "double", 'single' and `raw`
 * quoted strings with Go escapes, and quoting a value back the way Go's
 * strconv.Quote does. Shared by the series selector parser and the PromQL
 * lexer and printer. */
#ifndef VIGIL_STRLIT_H
#define VIGIL_STRLIT_H

#include <stddef.h>
#include <stdint.h>

/* Why decoding failed: the byte offset of the problem from the opening
 * quote, and what was expected there ("a string closed by \"", "2 hex
 * digits after \\x", ...). */
struct strlit_error {
    size_t offset;
    char expected[160];
};

/* Decodes the quoted string that starts at s[0] (", ' or `) of the
 * NUL-terminated s. Inside " and ' the Go escapes \a \b \f \n \r \t \v \\,
 * the string's own quote, \ooo (at most \377), \xHH, \uHHHH and \UHHHHHHHH
 * (no surrogates) are decoded, and a newline ends the string with an error;
 * raw `strings` take every byte literally and may span lines.
 * @return 0 with *consumed (bytes read, both quotes included), *out (a new
 * NUL-terminated malloc'd string, the caller frees it) and *out_len (its
 * length in bytes: \x00 can put NUL bytes inside the value); -EINVAL with
 * *err; or -ENOMEM. */
int strlit_unquote(const char *s, size_t *consumed /* OUT */, char **out /* OUT */,
                   size_t *out_len /* OUT */, struct strlit_error *err /* OUT */);

/* Writes v[0..len) as a double-quoted Go string literal into buf (at most
 * cap bytes, always NUL-terminated when cap > 0): printable ASCII and valid
 * UTF-8 sequences as they are, \" \\ \a \b \f \n \r \t \v by name, other
 * bytes as \xHH. strlit_unquote of the result gives v back.
 * @return the length the quoted string needs, excluding the NUL (as
 * snprintf does), so a caller can size buf with a first call with cap 0. */
size_t strlit_quote(const char *v, size_t len, char *buf, size_t cap);

/* The value of hexadecimal digit c (0-9, a-f, A-F), or -1. */
int strlit_hex_val(char c);

/* Writes code point cp (at most U+10FFFF) as UTF-8 at d, which has room
 * for 4 bytes. @return the bytes written, 1 to 4. */
size_t strlit_put_utf8(char *d, uint32_t cp);

#endif
