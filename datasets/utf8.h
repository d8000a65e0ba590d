/* utf8.h — the few UTF-8 helpers the tokenizer needs.
 *
 * Decoding is lenient: a byte that does not start a well-formed sequence is
 * returned as a one-byte "character" flagged invalid, so callers can walk any
 * byte string. The lossy conversion replaces ill-formed input the way Rust's
 * String::from_utf8_lossy does (one U+FFFD per maximal invalid subpart), which
 * is what Hugging Face tokenizers' decoders produce.
 *
 * Not a Unicode library: no normalization, case mapping or property tables
 * beyond the White_Space set.
 */
#ifndef LB_UTF8_H
#define LB_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* lb_utf8_next: length in bytes (1..4) of the character starting s[0]
 * (n > 0 bytes available); *cp receives its code point. A byte that does not
 * begin a well-formed sequence has length 1 and *cp = 0xFFFFFFFF. */
int lb_utf8_next(const char *s, size_t n, uint32_t *cp);

/* lb_utf8_encode: writes code point cp (<= 0x10FFFF) to out; returns 1..4. */
int lb_utf8_encode(uint32_t cp, char out[4]);

/* lb_utf8_lossy: a malloc'd NUL-terminated copy of s[0..n) where every maximal
 * ill-formed subpart is replaced by U+FFFD (Rust from_utf8_lossy). *out_len
 * (if not NULL) gets the length. NULL when out of memory. */
char *lb_utf8_lossy(const char *s, size_t n, size_t *out_len);

/* lb_utf8_valid: true when s[0..n) is well-formed UTF-8. */
bool lb_utf8_valid(const char *s, size_t n);

/* lb_unicode_is_white_space: the Unicode White_Space property (what Rust's
 * char::is_whitespace and regex \s use). */
bool lb_unicode_is_white_space(uint32_t cp);

#endif
