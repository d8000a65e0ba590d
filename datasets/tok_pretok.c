/* tok_pretok.c — regexes, normalizers and pre-tokenizers of the tokenizer.
 *
 * Mirrors Hugging Face tokenizers: Prepend, Replace, NFC / NFD / NFKC / NFKD,
 * Lowercase, Strip and StripAccents normalizers (the Unicode work is in
 * datasets/unicode.c); Split
 * (five delimiter behaviours, invert), ByteLevel (add_prefix_space, GPT-2
 * regex) and Metaspace (prepend_scheme, split) pre-tokenizers. Regexes are
 * PCRE2 in UTF + UCP mode with `\s` rewritten to the Unicode White_Space set,
 * which is what Oniguruma (the library's engine) means by `\s`.
 * Not here: the BPE model (tok_bpe.c) and added tokens (tok_added.c).
 */
#include <stdlib.h>
#include <string.h>

#include "datasets/tok_internal.h"
#include "datasets/utf8.h"

/* ---- scratch memory ------------------------------------------------------ */

char *lb_tok_scratch_alloc(lb_tok_scratch *sc, size_t n)
{
    if (n > sc->cur_left) {
        size_t sz = n > (64u << 10) ? n : (64u << 10);
        if (sc->n_blocks == sc->cap_blocks) {
            size_t nc = sc->cap_blocks ? 2 * sc->cap_blocks : 16;
            char **nb = realloc(sc->blocks, nc * sizeof *nb);
            if (!nb) return NULL;
            sc->blocks = nb;
            sc->cap_blocks = nc;
        }
        char *b = malloc(sz);
        if (!b) return NULL;
        sc->blocks[sc->n_blocks++] = b;
        sc->cur = b;
        sc->cur_left = sz;
    }
    char *p = sc->cur;
    sc->cur += n;
    sc->cur_left -= n;
    return p;
}

void lb_tok_scratch_free(lb_tok_scratch *sc)
{
    for (size_t i = 0; i < sc->n_blocks; i++) free(sc->blocks[i]);
    free(sc->blocks);
    free(sc->pa);
    free(sc->pb);
    free(sc->rg);
    free(sc->sym_id);
    free(sc->sym_prev);
    free(sc->sym_next);
    free(sc->heap);
    free(sc->buf);
    free(sc->cache_ids);
    lb_ubuf_free(&sc->ub);
    lb_strmap_free(&sc->cache);
    if (sc->md) pcre2_match_data_free(sc->md);
    memset(sc, 0, sizeof *sc);
}

static bool grow_pieces(lb_tok_piece **p, size_t *cap, size_t need)
{
    if (need <= *cap) return true;
    size_t nc = *cap ? *cap : 64;
    while (nc < need) nc *= 2;
    lb_tok_piece *np = realloc(*p, nc * sizeof *np);
    if (!np) return false;
    *p = np;
    *cap = nc;
    return true;
}

/* ---- regexes ------------------------------------------------------------- */

#define LB_WS_CLASS "\\p{White_Space}"
#define LB_NWS_CLASS "\\P{White_Space}"

/* rewrite_ws: pattern with \s and \S replaced by the White_Space property. */
static char *rewrite_ws(const char *pat, size_t len, size_t *out_len)
{
    char *out = malloc(len * 8 + 1);
    if (!out) return NULL;
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (pat[i] == '\\' && i + 1 < len) {
            const char *rep = pat[i + 1] == 's' ? LB_WS_CLASS : pat[i + 1] == 'S' ? LB_NWS_CLASS : NULL;
            if (rep) {
                memcpy(out + o, rep, strlen(rep));
                o += strlen(rep);
            } else {
                out[o++] = pat[i];
                out[o++] = pat[i + 1];
            }
            i++;
            continue;
        }
        out[o++] = pat[i];
    }
    out[o] = '\0';
    *out_len = o;
    return out;
}

lb_status lb_tok_re_compile(lb_tok_re *re, const char *pat, size_t len, bool literal,
                            const char *what)
{
    uint32_t opts = PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF;
    char *rew = NULL;
    size_t rlen = len;
    if (literal) {
        opts = (opts & ~(uint32_t)PCRE2_UCP) | PCRE2_LITERAL;  /* UCP is not allowed with LITERAL */
    } else {
        rew = rewrite_ws(pat, len, &rlen);
        if (!rew) return lb_errorf(LB_ERR_OOM, "out of memory compiling %s", what);
        pat = rew;
    }
    int err;
    PCRE2_SIZE erroff;
    re->code = pcre2_compile((PCRE2_SPTR)pat, rlen, opts, &err, &erroff, NULL);
    free(rew);
    if (!re->code) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(err, msg, sizeof msg);
        return lb_errorf(LB_ERR_UNSUPPORTED, "%s: cannot compile regex: %s at offset %zu", what,
                         (const char *)msg, (size_t)erroff);
    }
    re->jit = pcre2_jit_compile(re->code, PCRE2_JIT_COMPLETE) == 0;
    return lb_ok();
}

void lb_tok_re_free(lb_tok_re *re)
{
    if (re->code) pcre2_code_free(re->code);
    re->code = NULL;
}

int lb_tok_re_find(const lb_tok_re *re, const char *s, size_t n, size_t from,
                   pcre2_match_data *md, size_t *ms, size_t *me)
{
    int rc;
    if (re->jit) rc = pcre2_jit_match(re->code, (PCRE2_SPTR)s, n, from, 0, md, NULL);
    else rc = pcre2_match(re->code, (PCRE2_SPTR)s, n, from, 0, md, NULL);
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT)
        rc = pcre2_match(re->code, (PCRE2_SPTR)s, n, from, PCRE2_NO_JIT, md, NULL);
    if (rc == PCRE2_ERROR_NOMATCH) return 0;
    if (rc < 0) return rc;
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
    *ms = ov[0];
    *me = ov[1];
    return 1;
}

/* ---- splitting ------------------------------------------------------------ */

static bool push_range(lb_tok_scratch *sc, size_t *n, size_t a, size_t b, size_t m)
{
    if (3 * (*n + 1) > sc->cap_rg) {
        size_t nc = sc->cap_rg ? 2 * sc->cap_rg : 192;
        size_t *nr = realloc(sc->rg, nc * sizeof *nr);
        if (!nr) return false;
        sc->rg = nr;
        sc->cap_rg = nc;
    }
    sc->rg[3 * *n] = a;
    sc->rg[3 * *n + 1] = b;
    sc->rg[3 * *n + 2] = m;
    (*n)++;
    return true;
}

static lb_status regex_error(int rc)
{
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(rc, msg, sizeof msg);
    return lb_errorf(LB_ERR_ARG, "tokenizer regex failed on the input: %s", (const char *)msg);
}

/* find_ranges: the match / non-match ranges of `in` (Pattern::find_matches).
 * With re == NULL, matches are occurrences of the character ch[0..ch_len). */
static lb_status find_ranges(lb_tok_scratch *sc, const lb_tok_re *re, const char *ch, int ch_len,
                             lb_tok_piece in, size_t *n_out)
{
    size_t n = 0, prev = 0, from = 0;
    for (;;) {
        size_t ms, me;
        if (re) {
            int rc = lb_tok_re_find(re, in.s, in.len, from, sc->md, &ms, &me);
            if (rc < 0) return regex_error(rc);
            if (rc == 0) break;
        } else {
            const char *p = NULL;
            for (size_t i = from; i + (size_t)ch_len <= in.len; i++) {
                if (memcmp(in.s + i, ch, (size_t)ch_len) == 0) { p = in.s + i; break; }
            }
            if (!p) break;
            ms = (size_t)(p - in.s);
            me = ms + (size_t)ch_len;
        }
        if (prev != ms && !push_range(sc, &n, prev, ms, 0)) goto oom;
        if (!push_range(sc, &n, ms, me, 1)) goto oom;
        prev = me;
        if (me == ms) {
            if (me >= in.len) break;
            uint32_t cp;
            from = me + (size_t)lb_utf8_next(in.s + me, in.len - me, &cp);
        } else {
            from = me;
        }
    }
    if (prev != in.len && !push_range(sc, &n, prev, in.len, 0)) goto oom;
    *n_out = n;
    return lb_ok();
oom:
    return lb_errorf(LB_ERR_OOM, "out of memory splitting text");
}

/* apply_behavior: merges sc->rg[0..n) in place as SplitDelimiterBehavior does
 * and appends the non-empty resulting pieces of `in` to out. */
static lb_status apply_behavior(lb_tok_scratch *sc, size_t n, lb_tok_split_kind b, bool invert,
                                lb_tok_piece in, lb_tok_piece **out, size_t *n_out, size_t *cap_out)
{
    size_t *r = sc->rg;
    if (invert)
        for (size_t i = 0; i < n; i++) r[3 * i + 2] ^= 1;
    size_t k = 0;  /* number of merged ranges, written back into r */
    if (b == LB_SPLIT_MERGED_NEXT) {
        /* walk backwards; a match joins the range that follows it */
        bool prev_match = false;
        size_t w = n;
        for (size_t i = n; i-- > 0;) {
            bool m = r[3 * i + 2] != 0;
            if (m && !prev_match && w < n) {
                r[3 * w] = r[3 * i];
            } else {
                w--;
                r[3 * w] = r[3 * i];
                r[3 * w + 1] = r[3 * i + 1];
                r[3 * w + 2] = 0;
            }
            prev_match = m;
        }
        for (size_t i = w; i < n; i++) {
            r[3 * k] = r[3 * i];
            r[3 * k + 1] = r[3 * i + 1];
            k++;
        }
    } else {
        bool prev_match = false;
        for (size_t i = 0; i < n; i++) {
            bool m = r[3 * i + 2] != 0;
            bool join = false, drop = false;
            if (b == LB_SPLIT_REMOVED) drop = m;
            else if (b == LB_SPLIT_MERGED_PREV) join = m && !prev_match && k > 0;
            else if (b == LB_SPLIT_CONTIGUOUS) join = m == prev_match && k > 0;
            prev_match = m;
            if (drop) continue;
            if (join) {
                r[3 * (k - 1) + 1] = r[3 * i + 1];
            } else {
                r[3 * k] = r[3 * i];
                r[3 * k + 1] = r[3 * i + 1];
                k++;
            }
        }
    }
    if (!grow_pieces(out, cap_out, *n_out + k)) return lb_errorf(LB_ERR_OOM, "out of memory");
    for (size_t i = 0; i < k; i++) {
        size_t a = r[3 * i], e = r[3 * i + 1];
        if (a == e) continue;
        (*out)[(*n_out)++] = (lb_tok_piece){in.s + a, e - a, in.first && a == 0};
    }
    return lb_ok();
}

/* ---- byte-level alphabet --------------------------------------------------- */

uint32_t lb_tok_byte_char(unsigned b)
{
    /* printable bytes map to themselves; the 68 others, in increasing byte
     * order, to U+0100..U+0143: 0x00-0x20, then 0x7F-0xA0, then 0xAD */
    if (b <= 0x20) return 0x100 + b;
    if (b >= 0x7F && b <= 0xA0) return b + 0xA2;
    if (b == 0xAD) return 0x143;
    return b;
}

static lb_tok_piece map_bytes(lb_tok_scratch *sc, lb_tok_piece p)
{
    char *o = lb_tok_scratch_alloc(sc, 2 * p.len);
    if (!o) return (lb_tok_piece){NULL, 0, false};
    size_t k = 0;
    for (size_t i = 0; i < p.len; i++) k += (size_t)lb_utf8_encode(lb_tok_byte_char((unsigned char)p.s[i]), o + k);
    return (lb_tok_piece){o, k, p.first};
}

/* ---- pre-tokenizers -------------------------------------------------------- */

static lb_status pre_bytelevel(const lb_tokenizer *tok, lb_tok_scratch *sc, const lb_tok_pre *pre,
                               bool last, lb_tok_piece in, lb_tok_piece **out, size_t *n_out,
                               size_t *cap_out)
{
    if (pre->add_prefix_space && in.len > 0 && in.s[0] != ' ') {
        char *p = lb_tok_scratch_alloc(sc, in.len + 1);
        if (!p) return lb_errorf(LB_ERR_OOM, "out of memory");
        p[0] = ' ';
        memcpy(p + 1, in.s, in.len);
        in.s = p;
        in.len++;
    }
    size_t first = *n_out;
    if (pre->use_regex) {
        size_t n;
        LB_TRY(find_ranges(sc, &pre->re, NULL, 0, in, &n));
        LB_TRY(apply_behavior(sc, n, LB_SPLIT_ISOLATED, false, in, out, n_out, cap_out));
    } else if (in.len > 0) {
        if (!grow_pieces(out, cap_out, *n_out + 1)) return lb_errorf(LB_ERR_OOM, "out of memory");
        (*out)[(*n_out)++] = in;
    }
    if (!last) {
        for (size_t i = first; i < *n_out; i++) {
            (*out)[i] = map_bytes(sc, (*out)[i]);
            if (!(*out)[i].s) return lb_errorf(LB_ERR_OOM, "out of memory");
        }
    }
    (void)tok;
    return lb_ok();
}

static lb_status pre_metaspace(lb_tok_scratch *sc, const lb_tok_pre *pre, lb_tok_piece in,
                               lb_tok_piece **out, size_t *n_out, size_t *cap_out)
{
    if (in.len == 0) return lb_ok();
    size_t rl = (size_t)pre->repl_len;
    char *p = lb_tok_scratch_alloc(sc, in.len * rl + rl);
    if (!p) return lb_errorf(LB_ERR_OOM, "out of memory");
    size_t k = 0;
    for (size_t i = 0; i < in.len; i++) {
        if (in.s[i] == ' ') {
            memcpy(p + rl + k, pre->repl, rl);
            k += rl;
        } else {
            p[rl + k++] = in.s[i];
        }
    }
    bool starts = k >= rl && memcmp(p + rl, pre->repl, rl) == 0;
    bool prepend = !starts && (pre->prepend == LB_PREPEND_ALWAYS ||
                               (pre->prepend == LB_PREPEND_FIRST && in.first));
    lb_tok_piece t = {p + rl, k, in.first};
    if (prepend) {
        memcpy(p, pre->repl, rl);
        t.s = p;
        t.len += rl;
    }
    if (!pre->split) {
        if (!grow_pieces(out, cap_out, *n_out + 1)) return lb_errorf(LB_ERR_OOM, "out of memory");
        (*out)[(*n_out)++] = t;
        return lb_ok();
    }
    size_t n;
    LB_TRY(find_ranges(sc, NULL, pre->repl, pre->repl_len, t, &n));
    return apply_behavior(sc, n, LB_SPLIT_MERGED_NEXT, false, t, out, n_out, cap_out);
}

lb_status lb_tok_pretokenize(const lb_tokenizer *tok, lb_tok_scratch *sc, lb_tok_piece in,
                             lb_tok_piece **pieces, size_t *n_pieces)
{
    if (!grow_pieces(&sc->pa, &sc->cap_a, 1)) return lb_errorf(LB_ERR_OOM, "out of memory");
    size_t na = 0;
    if (in.len > 0) sc->pa[na++] = in;
    for (int k = 0; k < tok->n_pres; k++) {
        const lb_tok_pre *pre = &tok->pres[k];
        size_t nb = 0;
        for (size_t i = 0; i < na; i++) {
            lb_tok_piece p = sc->pa[i];
            if (pre->kind == LB_PRE_SPLIT) {
                size_t n;
                LB_TRY(find_ranges(sc, &pre->re, NULL, 0, p, &n));
                LB_TRY(apply_behavior(sc, n, pre->behavior, pre->invert, p, &sc->pb, &nb, &sc->cap_b));
            } else if (pre->kind == LB_PRE_BYTELEVEL) {
                LB_TRY(pre_bytelevel(tok, sc, pre, k == tok->n_pres - 1, p, &sc->pb, &nb, &sc->cap_b));
            } else {
                LB_TRY(pre_metaspace(sc, pre, p, &sc->pb, &nb, &sc->cap_b));
            }
        }
        lb_tok_piece *t = sc->pa;
        size_t tc = sc->cap_a;
        sc->pa = sc->pb;
        sc->cap_a = sc->cap_b;
        sc->pb = t;
        sc->cap_b = tc;
        na = nb;
    }
    *pieces = sc->pa;
    *n_pieces = na;
    return lb_ok();
}

/* ---- normalizers ------------------------------------------------------------ */

static lb_status norm_replace(lb_tok_scratch *sc, const lb_tok_norm *nm, const char *s, size_t n,
                              const char **out, size_t *out_len)
{
    size_t nr;
    LB_TRY(find_ranges(sc, &nm->re, NULL, 0, (lb_tok_piece){s, n, false}, &nr));
    size_t total = 0;
    for (size_t i = 0; i < nr; i++) {
        size_t len = sc->rg[3 * i + 1] - sc->rg[3 * i];
        total += sc->rg[3 * i + 2] ? nm->str_len : len;
    }
    char *o = lb_tok_scratch_alloc(sc, total + 1);
    if (!o) return lb_errorf(LB_ERR_OOM, "out of memory");
    size_t k = 0;
    for (size_t i = 0; i < nr; i++) {
        if (sc->rg[3 * i + 2]) {
            memcpy(o + k, nm->str, nm->str_len);
            k += nm->str_len;
        } else {
            size_t a = sc->rg[3 * i], len = sc->rg[3 * i + 1] - a;
            memcpy(o + k, s + a, len);
            k += len;
        }
    }
    *out = o;
    *out_len = k;
    return lb_ok();
}

static bool all_ascii(const char *s, size_t n)
{
    unsigned char acc = 0;
    for (size_t i = 0; i < n; i++) acc |= (unsigned char)s[i];
    return acc < 0x80;
}

/* norm_strip: s[*a..*e) without the White_Space at the ends asked for. */
static void norm_strip(const lb_tok_norm *nm, const char *s, size_t *a, size_t *e)
{
    uint32_t cp;
    while (nm->left && *a < *e) {
        int l = lb_utf8_next(s + *a, *e - *a, &cp);
        if (cp == 0xFFFFFFFFu || !lb_unicode_is_white_space(cp)) break;
        *a += (size_t)l;
    }
    while (nm->right && *e > *a) {
        size_t c = *e - 1;
        while (c > *a && ((unsigned char)s[c] & 0xC0) == 0x80 && *e - c < 4) c--;
        if ((size_t)lb_utf8_next(s + c, *e - c, &cp) != *e - c || cp == 0xFFFFFFFFu ||
            !lb_unicode_is_white_space(cp))
            break;
        *e = c;
    }
}

/* norm_unicode: NFx / Lowercase / StripAccents of s[0..n) into scratch memory
 * (or s itself when the text cannot change: ASCII is in every normal form). */
static lb_status norm_unicode(lb_tok_scratch *sc, const lb_tok_norm *nm, const char *s, size_t n,
                              const char **out, size_t *out_len)
{
    *out = s;
    *out_len = n;
    if (nm->kind != LB_NORM_LOWERCASE && all_ascii(s, n)) return lb_ok();
    bool ok = nm->kind == LB_NORM_UNICODE ? lb_unicode_normalize(nm->form, s, n, &sc->ub)
            : nm->kind == LB_NORM_LOWERCASE ? lb_unicode_lowercase(s, n, &sc->ub)
            : lb_unicode_strip_marks(s, n, &sc->ub);
    char *o = ok ? lb_tok_scratch_alloc(sc, sc->ub.n + 1) : NULL;
    if (!o) return lb_errorf(LB_ERR_OOM, "out of memory");
    if (sc->ub.n) memcpy(o, sc->ub.p, sc->ub.n);
    *out = o;
    *out_len = sc->ub.n;
    return lb_ok();
}

lb_status lb_tok_normalize(const lb_tokenizer *tok, lb_tok_scratch *sc, const char *s, size_t n,
                           const char **out, size_t *out_len)
{
    for (int k = 0; k < tok->n_norms; k++) {
        const lb_tok_norm *nm = &tok->norms[k];
        if (nm->kind == LB_NORM_PREPEND) {
            if (n == 0) continue;
            char *o = lb_tok_scratch_alloc(sc, n + nm->str_len);
            if (!o) return lb_errorf(LB_ERR_OOM, "out of memory");
            memcpy(o, nm->str, nm->str_len);
            memcpy(o + nm->str_len, s, n);
            s = o;
            n += nm->str_len;
        } else if (nm->kind == LB_NORM_REPLACE) {
            LB_TRY(norm_replace(sc, nm, s, n, &s, &n));
        } else if (nm->kind == LB_NORM_STRIP) {
            size_t a = 0, e = n;
            norm_strip(nm, s, &a, &e);
            s += a;
            n = e - a;
        } else {
            LB_TRY(norm_unicode(sc, nm, s, n, &s, &n));
        }
    }
    *out = s;
    *out_len = n;
    return lb_ok();
}
