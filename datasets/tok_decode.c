/* tok_decode.c — ids back to text through the tokenizer's decoders.
 *
 * Each decoder maps a list of token strings to a new list (tokenizers'
 * Decoder::decode_chain); the final list is concatenated. ByteLevel maps the
 * byte alphabet back to bytes and repairs invalid UTF-8 with U+FFFD;
 * ByteFallback turns runs of "<0xXX>" into their bytes (one U+FFFD per byte
 * when the run is not valid UTF-8); Metaspace, Replace, Fuse and Strip as in
 * the library. Without a decoder, tokens are joined with spaces (as the
 * library does). Ids with no token are skipped. Not a streaming decoder.
 */
#include <stdlib.h>
#include <string.h>

#include "datasets/tok_internal.h"
#include "datasets/utf8.h"

typedef struct str {
    char *s;
    size_t n;
} str;

typedef struct strlist {
    str *v;
    size_t n, cap;
} strlist;

static bool list_push(strlist *l, char *s, size_t n)
{
    if (!s) return false;
    if (l->n == l->cap) {
        size_t nc = l->cap ? 2 * l->cap : 16;
        str *nv = realloc(l->v, nc * sizeof *nv);
        if (!nv) { free(s); return false; }
        l->v = nv;
        l->cap = nc;
    }
    l->v[l->n++] = (str){s, n};
    return true;
}

static void list_free(strlist *l)
{
    for (size_t i = 0; i < l->n; i++) free(l->v[i].s);
    free(l->v);
    memset(l, 0, sizeof *l);
}

static char *dupn(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d) { memcpy(d, s, n); d[n] = '\0'; }
    return d;
}

static char *concat(const strlist *l, size_t *len)
{
    size_t t = 0;
    for (size_t i = 0; i < l->n; i++) t += l->v[i].n;
    char *o = malloc(t + 1);
    if (!o) return NULL;
    size_t k = 0;
    for (size_t i = 0; i < l->n; i++) { memcpy(o + k, l->v[i].s, l->v[i].n); k += l->v[i].n; }
    o[k] = '\0';
    *len = k;
    return o;
}

/* byte_of: the byte whose alphabet character is cp, or -1. */
static int byte_of(uint32_t cp)
{
    if (cp >= 0x100 && cp <= 0x120) return (int)(cp - 0x100);
    if (cp >= 0x121 && cp <= 0x142) return (int)(cp - 0xA2);
    if (cp == 0x143) return 0xAD;
    if ((cp >= 0x21 && cp <= 0x7E) || (cp >= 0xA1 && cp <= 0xAC) || (cp >= 0xAE && cp <= 0xFF)) return (int)cp;
    return -1;
}

static bool dec_bytelevel(strlist *in, strlist *out)
{
    size_t t = 0;
    for (size_t i = 0; i < in->n; i++) t += in->v[i].n;
    char *b = malloc(t + 1);
    if (!b) return false;
    size_t k = 0;
    for (size_t i = 0; i < in->n; i++) {
        const char *s = in->v[i].s;
        size_t n = in->v[i].n, k0 = k;
        for (size_t j = 0; j < n;) {
            uint32_t cp;
            j += (size_t)lb_utf8_next(s + j, n - j, &cp);
            int byte = cp == 0xFFFFFFFFu ? -1 : byte_of(cp);
            if (byte < 0) { /* not all in the alphabet: the token's own bytes */
                memcpy(b + k0, s, n);
                k = k0 + n;
                break;
            }
            b[k++] = (char)byte;
        }
    }
    size_t ln;
    char *l = lb_utf8_lossy(b, k, &ln);
    free(b);
    return list_push(out, l, ln);
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* fallback_byte: the byte of a "<0xXX>" token, or -1 (u8::from_str_radix, which also takes a '+'). */
static int fallback_byte(const str *t)
{
    if (t->n != 6 || memcmp(t->s, "<0x", 3) != 0 || t->s[5] != '>') return -1;
    int h = hexval(t->s[3]), l = hexval(t->s[4]);
    if (t->s[3] == '+' && l >= 0) return l;
    return h >= 0 && l >= 0 ? 16 * h + l : -1;
}

static bool flush_bytes(strlist *out, char *bytes, size_t *nb)
{
    if (*nb == 0) return true;
    bool ok = true;
    if (lb_utf8_valid(bytes, *nb)) {
        ok = list_push(out, dupn(bytes, *nb), *nb);
    } else {
        for (size_t i = 0; i < *nb && ok; i++) ok = list_push(out, dupn("\xEF\xBF\xBD", 3), 3);
    }
    *nb = 0;
    return ok;
}

static bool dec_bytefallback(strlist *in, strlist *out)
{
    char *bytes = malloc(in->n + 1);
    size_t nb = 0;
    bool ok = bytes != NULL;
    for (size_t i = 0; i < in->n && ok; i++) {
        int b = fallback_byte(&in->v[i]);
        if (b >= 0) { bytes[nb++] = (char)b; continue; }
        ok = flush_bytes(out, bytes, &nb) && list_push(out, dupn(in->v[i].s, in->v[i].n), in->v[i].n);
    }
    ok = ok && flush_bytes(out, bytes, &nb);
    free(bytes);
    return ok;
}

/* replace_all: s with every occurrence of pat replaced by rep. */
static bool replace_all(strlist *out, const str *t, const char *pat, size_t pl, const char *rep, size_t rl,
                        bool drop_all)
{
    size_t cnt = 0;
    for (size_t i = 0; i + pl <= t->n;) {
        if (memcmp(t->s + i, pat, pl) == 0) { cnt++; i += pl; } else i++;
    }
    size_t rlen = drop_all ? 0 : rl;
    char *o = malloc(t->n + cnt * rlen + 1);
    if (!o) return false;
    size_t k = 0;
    for (size_t i = 0; i < t->n;) {
        if (i + pl <= t->n && memcmp(t->s + i, pat, pl) == 0) {
            memcpy(o + k, rep, rlen);
            k += rlen;
            i += pl;
        } else {
            o[k++] = t->s[i++];
        }
    }
    o[k] = '\0';
    return list_push(out, o, k);
}

static bool dec_strip(const lb_tok_dec *d, strlist *in, strlist *out)
{
    for (size_t i = 0; i < in->n; i++) {
        const char *s = in->v[i].s;
        size_t n = in->v[i].n, a = 0, e = n;
        for (int k = 0; k < d->start && a < n; k++) {
            uint32_t cp;
            int l = lb_utf8_next(s + a, n - a, &cp);
            if (cp != d->strip_cp) break;
            a += (size_t)l;
        }
        for (int k = 0; k < d->stop && e > a; k++) {
            size_t c = e - 1;
            while (c > a && ((unsigned char)s[c] & 0xC0) == 0x80) c--;
            uint32_t cp;
            lb_utf8_next(s + c, e - c, &cp);
            if (cp != d->strip_cp) break;
            e = c;
        }
        if (!list_push(out, dupn(s + a, e - a), e - a)) return false;
    }
    return true;
}

static bool apply(const lb_tok_dec *d, strlist *in, strlist *out)
{
    size_t n;
    char *c;
    switch (d->kind) {
    case LB_DEC_BYTELEVEL: return dec_bytelevel(in, out);
    case LB_DEC_BYTEFALLBACK: return dec_bytefallback(in, out);
    case LB_DEC_FUSE:
        c = concat(in, &n);
        return list_push(out, c, n);
    case LB_DEC_STRIP: return dec_strip(d, in, out);
    case LB_DEC_REPLACE:
        for (size_t i = 0; i < in->n; i++)
            if (!replace_all(out, &in->v[i], d->pat, d->pat_len, d->content, d->content_len, false)) return false;
        return true;
    case LB_DEC_METASPACE:
        for (size_t i = 0; i < in->n; i++) {
            bool drop = i == 0 && d->prepend != LB_PREPEND_NEVER;
            if (!replace_all(out, &in->v[i], d->repl, (size_t)d->repl_len, " ", 1, drop)) return false;
        }
        return true;
    }
    return false;
}

char *lb_tok_decode(const lb_tokenizer *tok, const int32_t *ids, size_t n)
{
    strlist a = {0}, b = {0};
    char *res = NULL;
    size_t len;
    for (size_t i = 0; i < n; i++) {
        int32_t id = ids[i];
        if (id < 0 || id >= tok->n_ids || !tok->id_tok[id]) continue;
        if (!list_push(&a, dupn(tok->id_tok[id], tok->id_len[id]), tok->id_len[id])) goto done;
    }
    if (!tok->has_decoder) {
        /* the library joins with " " when there is no decoder */
        strlist j = {0};
        for (size_t i = 0; i < a.n; i++) {
            if (i && !list_push(&j, dupn(" ", 1), 1)) { list_free(&j); goto done; }
            if (!list_push(&j, dupn(a.v[i].s, a.v[i].n), a.v[i].n)) { list_free(&j); goto done; }
        }
        res = concat(&j, &len);
        list_free(&j);
        goto done;
    }
    for (int k = 0; k < tok->n_decs; k++) {
        if (!apply(&tok->decs[k], &a, &b)) goto done;
        list_free(&a);
        a = b;
        memset(&b, 0, sizeof b);
    }
    res = concat(&a, &len);
done:
    list_free(&a);
    list_free(&b);
    return res;
}
