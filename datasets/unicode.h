/* unicode.h — the Unicode text transforms of tokenizer normalizers.
 *
 * NFC / NFD / NFKC / NFKD (UAX #15), lowercase as Rust's char::to_lowercase
 * (per character, no context: a final capital sigma becomes σ, İ becomes
 * i + U+0307) and removal of combining marks (General_Category M, what
 * Hugging Face tokenizers' StripAccents removes). Data: datasets/unicode_tables.c,
 * generated from Python's unicodedata (lb_unicode_version()).
 *
 * Input is any byte string: a byte that is not part of well-formed UTF-8 is
 * kept as it is and acts as a starter that neither decomposes nor composes.
 * ASCII runs are copied through (ASCII is already in every normal form).
 * Not here: offsets / alignments, case folding, any other property.
 */
#ifndef LB_UNICODE_H
#define LB_UNICODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum lb_unicode_nf { LB_NF_C, LB_NF_D, LB_NF_KC, LB_NF_KD } lb_unicode_nf;

/* A growable output buffer; zero-initialize, reuse across calls, free with
 * lb_ubuf_free. After a successful call, p[0..n) is the result. */
typedef struct lb_ubuf {
    char *p;
    size_t n, cap;
    uint32_t *cp;                 /* working code points of one run */
    size_t cap_cp;
} lb_ubuf;

void lb_ubuf_free(lb_ubuf *b);

/* Each writes the transform of s[0..n) into out (replacing its contents);
 * false only when out of memory. */
bool lb_unicode_normalize(lb_unicode_nf form, const char *s, size_t n, lb_ubuf *out);
bool lb_unicode_lowercase(const char *s, size_t n, lb_ubuf *out);
bool lb_unicode_strip_marks(const char *s, size_t n, lb_ubuf *out);

/* Single-character lookups. */
uint8_t lb_unicode_ccc(uint32_t cp);         /* canonical combining class */
bool lb_unicode_is_mark(uint32_t cp);        /* General_Category Mn, Mc or Me */
const char *lb_unicode_version(void);        /* of the tables, e.g. "14.0.0" */

#endif
