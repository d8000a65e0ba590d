/* json_util.c — byte buffer, exact JSON string escaping, UTF-8 checking. */
#include "layers/json_util.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layers/fileio.h"

static bool buf_reserve(lb_buf *b, size_t extra)
{
    if (b->oom) return false;
    if (b->len + extra + 1 <= b->cap) return true;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1) {
        if (cap > SIZE_MAX / 2) {
            b->oom = true;
            return false;
        }
        cap *= 2;
    }
    char *p = realloc(b->data, cap);
    if (!p) {
        b->oom = true;
        return false;
    }
    b->data = p;
    b->cap = cap;
    return true;
}

void lb_buf_put(lb_buf *b, const void *data, size_t n)
{
    if (!buf_reserve(b, n)) return;
    if (n) memcpy(b->data + b->len, data, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void lb_buf_puts(lb_buf *b, const char *s) { lb_buf_put(b, s, strlen(s)); }

void lb_buf_printf(lb_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || !buf_reserve(b, (size_t)n)) return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void lb_buf_free(lb_buf *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}

/* Decodes one UTF-8 sequence at s[0..n); returns its length (0 if invalid). */
static size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
    unsigned char c = s[0];
    size_t len;
    uint32_t v, min;
    if (c < 0x80) { *cp = c; return 1; }
    if (c >= 0xc2 && c <= 0xdf) { len = 2; v = c & 0x1f; min = 0x80; }
    else if (c >= 0xe0 && c <= 0xef) { len = 3; v = c & 0x0f; min = 0x800; }
    else if (c >= 0xf0 && c <= 0xf4) { len = 4; v = c & 0x07; min = 0x10000; }
    else return 0;
    if (len > n) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        v = (v << 6) | (s[i] & 0x3f);
    }
    if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) return 0;
    *cp = v;
    return len;
}

bool lb_utf8_check(const char *s, size_t n, size_t *bad_at)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        uint32_t cp;
        size_t l = utf8_decode(u + i, n - i, &cp);
        if (!l) {
            if (bad_at) *bad_at = i;
            return false;
        }
        i += l;
    }
    return true;
}

void lb_json_put_string(lb_buf *b, const char *s, lb_json_escape mode)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t n = strlen(s);
    lb_buf_put(b, "\"", 1);
    for (size_t i = 0; i < n;) {
        unsigned char c = u[i];
        const char *esc = NULL;
        switch (c) {
        case '"': esc = "\\\""; break;
        case '\\': esc = "\\\\"; break;
        case '\b': esc = "\\b"; break;
        case '\f': esc = "\\f"; break;
        case '\n': esc = "\\n"; break;
        case '\r': esc = "\\r"; break;
        case '\t': esc = "\\t"; break;
        default: break;
        }
        if (esc) {
            lb_buf_puts(b, esc);
            i++;
        } else if (c < 0x20 || (mode == LB_JSON_ASCII && c == 0x7f)) {
            lb_buf_printf(b, "\\u%04x", c);
            i++;
        } else if (c < 0x80 || mode == LB_JSON_SERDE) {
            lb_buf_put(b, &u[i], 1);
            i++;
        } else {
            uint32_t cp = 0xfffd;
            size_t l = utf8_decode(u + i, n - i, &cp);
            i += l ? l : 1;
            if (cp >= 0x10000) {
                cp -= 0x10000;
                lb_buf_printf(b, "\\u%04x\\u%04x", 0xd800 + (cp >> 10), 0xdc00 + (cp & 0x3ff));
            } else {
                lb_buf_printf(b, "\\u%04x", cp);
            }
        }
    }
    lb_buf_put(b, "\"", 1);
}

lb_status lb_json_load(const char *path, cJSON **out)
{
    char *text;
    size_t len;
    *out = NULL;
    LB_TRY(lb_read_file(path, &text, &len));
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!root) {
        int line = 1;
        for (const char *p = text; end && p < end && p < text + len; p++) line += *p == '\n';
        free(text);
        return lb_errorf(LB_ERR_FORMAT, "%s: not valid JSON (error near line %d)", path, line);
    }
    free(text);
    *out = root;
    return lb_ok();
}
