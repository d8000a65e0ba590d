/* utf8.c — lenient UTF-8 decoding, encoding and Rust-style lossy repair. */
#include "datasets/utf8.h"

#include <stdlib.h>
#include <string.h>

/* well_formed_prefix: number of bytes of s[0..n) that form a valid prefix of
 * a UTF-8 sequence (Unicode Table 3-7), and the full length it needs. */
static int well_formed_prefix(const unsigned char *s, size_t n, int *need)
{
    unsigned char c = s[0];
    unsigned char lo = 0x80, hi = 0xBF;
    if (c < 0x80) { *need = 1; return 1; }
    if (c < 0xC2 || c > 0xF4) { *need = 1; return 0; }
    if (c < 0xE0) *need = 2;
    else if (c < 0xF0) {
        *need = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else {
        *need = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    }
    int k = 1;
    if (k < (int)n && s[k] >= lo && s[k] <= hi) {
        k++;
        while (k < *need && k < (int)n && s[k] >= 0x80 && s[k] <= 0xBF) k++;
    }
    return k;
}

int lb_utf8_next(const char *s, size_t n, uint32_t *cp)
{
    const unsigned char *u = (const unsigned char *)s;
    if (u[0] < 0x80) { *cp = u[0]; return 1; }
    int need;
    int k = well_formed_prefix(u, n, &need);
    if (k != need) { *cp = 0xFFFFFFFFu; return 1; }
    if (need == 2) *cp = ((uint32_t)(u[0] & 0x1F) << 6) | (u[1] & 0x3F);
    else if (need == 3)
        *cp = ((uint32_t)(u[0] & 0x0F) << 12) | ((uint32_t)(u[1] & 0x3F) << 6) | (u[2] & 0x3F);
    else
        *cp = ((uint32_t)(u[0] & 0x07) << 18) | ((uint32_t)(u[1] & 0x3F) << 12) |
              ((uint32_t)(u[2] & 0x3F) << 6) | (u[3] & 0x3F);
    return need;
}

int lb_utf8_encode(uint32_t cp, char out[4])
{
    if (cp < 0x80) { out[0] = (char)cp; return 1; }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

bool lb_utf8_valid(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        if (u[i] < 0x80) { i++; continue; }
        int need;
        int k = well_formed_prefix(u + i, n - i, &need);
        if (k != need) return false;
        i += (size_t)k;
    }
    return true;
}

char *lb_utf8_lossy(const char *s, size_t n, size_t *out_len)
{
    /* each invalid subpart (>= 1 byte) becomes 3 bytes: at most 3x growth */
    char *out = malloc(3 * n + 1);
    if (!out) return NULL;
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, o = 0;
    while (i < n) {
        if (u[i] < 0x80) { out[o++] = (char)u[i++]; continue; }
        int need;
        int k = well_formed_prefix(u + i, n - i, &need);
        if (k == need) {
            memcpy(out + o, u + i, (size_t)k);
            o += (size_t)k;
        } else {
            memcpy(out + o, "\xEF\xBF\xBD", 3);
            o += 3;
            if (k == 0) k = 1;
        }
        i += (size_t)k;
    }
    out[o] = '\0';
    if (out_len) *out_len = o;
    return out;
}

bool lb_unicode_is_white_space(uint32_t cp)
{
    if (cp <= 0x20) return cp == 0x20 || (cp >= 0x09 && cp <= 0x0D);
    switch (cp) {
    case 0x85: case 0xA0: case 0x1680: case 0x2028: case 0x2029:
    case 0x202F: case 0x205F: case 0x3000:
        return true;
    default:
        return cp >= 0x2000 && cp <= 0x200A;
    }
}
