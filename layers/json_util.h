/* json_util.h — a growable byte buffer and the exact JSON text lowbit must
 * reproduce byte for byte: serde_json's compact string escaping (safetensors
 * headers) and Python json.dumps' ensure_ascii escaping (HF index files).
 * Also UTF-8 validation and loading a JSON file with cJSON.
 *
 * This is not a JSON parser (cJSON is) and not a general serializer.
 */
#ifndef LB_JSON_UTIL_H
#define LB_JSON_UTIL_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "autograd/status.h"

typedef struct lb_buf {
    char *data;      /* NUL-terminated after every append */
    size_t len, cap;
    bool oom;        /* an append failed; further appends do nothing */
} lb_buf;

/* lb_buf_put / lb_buf_printf: append; on allocation failure set b->oom.
 * lb_buf_free releases the data; a zeroed lb_buf is an empty buffer. */
void lb_buf_put(lb_buf *b, const void *data, size_t n);
void lb_buf_puts(lb_buf *b, const char *s);
void lb_buf_printf(lb_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void lb_buf_free(lb_buf *b);

typedef enum lb_json_escape {
    LB_JSON_SERDE,   /* serde_json: \" \\ \b \f \n \r \t, other C0 as \u00xx, rest raw */
    LB_JSON_ASCII,   /* Python ensure_ascii: also 0x7f and non-ASCII as \uxxxx (surrogate pairs) */
} lb_json_escape;

/* lb_json_put_string: appends s (valid UTF-8, see lb_utf8_check) as a quoted
 * JSON string escaped in `mode`. */
void lb_json_put_string(lb_buf *b, const char *s, lb_json_escape mode);

/* lb_utf8_check: true when s[0..n) is valid UTF-8 (no overlongs, no
 * surrogates, nothing above U+10FFFF). On false, *bad_at (if not NULL) is the
 * offset of the first bad byte. */
bool lb_utf8_check(const char *s, size_t n, size_t *bad_at);

/* lb_json_load: reads and parses the JSON file at `path`. The caller frees
 * *out with cJSON_Delete. An error names the file and, for a parse error, the
 * line. */
lb_status lb_json_load(const char *path, cJSON **out);

#endif
