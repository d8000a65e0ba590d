/* tok_added.c — added and special tokens, split out of text before the rest.
 *
 * Reproduces tokenizers' AddedVocabulary: tokens with normalized=false are
 * searched in the raw text, those with normalized=true (matched by their
 * normalized content) in each normalized piece. Matching is leftmost-longest
 * and non-overlapping (aho-corasick MatchKind::LeftmostLongest); then
 * single_word (no word character, Rust regex `\w`, on either side), lstrip and
 * rstrip (take the White_Space run before / after into the token) apply.
 * Not here: the encode_special_tokens switch (lowbit always splits them).
 */
#include <stdlib.h>
#include <string.h>

#include "datasets/tok_internal.h"
#include "datasets/utf8.h"

typedef struct sort_ent {
    const lb_tokenizer *tok;
    int32_t idx;
} sort_ent;

static int cmp_added(const void *pa, const void *pb)
{
    const sort_ent *a = pa, *b = pb;
    const lb_added_tok *x = &a->tok->added[a->idx], *y = &b->tok->added[b->idx];
    unsigned char fx = (unsigned char)x->match[0], fy = (unsigned char)y->match[0];
    if (fx != fy) return fx < fy ? -1 : 1;
    if (x->match_len != y->match_len) return x->match_len > y->match_len ? -1 : 1;
    /* the library lists special tokens before the others */
    if (x->special != y->special) return x->special ? -1 : 1;
    return a->idx < b->idx ? -1 : a->idx > b->idx;
}

static lb_status build_set(lb_tokenizer *tok, lb_added_set *set, bool normalized)
{
    sort_ent *ents = malloc(((size_t)tok->n_added + 1) * sizeof *ents);
    set->order = malloc(((size_t)tok->n_added + 1) * sizeof *set->order);
    if (!ents || !set->order) { free(ents); return lb_errorf(LB_ERR_OOM, "out of memory"); }
    int n = 0;
    for (int i = 0; i < tok->n_added; i++) {
        if (tok->added[i].normalized != normalized || tok->added[i].match_len == 0) continue;
        ents[n++] = (sort_ent){tok, i};
    }
    qsort(ents, (size_t)n, sizeof *ents, cmp_added);
    for (int i = 0; i < n; i++) set->order[i] = ents[i].idx;
    set->n = n;
    int k = 0;
    for (int b = 0; b <= 256; b++) {
        while (k < n && (unsigned char)tok->added[set->order[k]].match[0] < b) k++;
        set->start[b] = k;
    }
    free(ents);
    return lb_ok();
}

lb_status lb_tok_added_build(lb_tokenizer *tok)
{
    lb_tok_scratch sc = {0};
    lb_status st = lb_ok();
    for (int i = 0; i < tok->n_added; i++) {
        lb_added_tok *a = &tok->added[i];
        const char *m = a->content;
        size_t ml = a->len;
        if (a->normalized && tok->n_norms > 0) {
            st = lb_tok_normalize(tok, &sc, a->content, a->len, &m, &ml);
            if (lb_failed(&st)) goto done;
        }
        a->match = malloc(ml + 1);
        if (!a->match) { st = lb_errorf(LB_ERR_OOM, "out of memory"); goto done; }
        memcpy(a->match, m, ml);
        a->match[ml] = '\0';
        a->match_len = ml;
    }
    st = build_set(tok, &tok->raw_set, false);
    if (!lb_failed(&st)) st = build_set(tok, &tok->norm_set, true);
done:
    lb_tok_scratch_free(&sc);
    return st;
}

/* is_word_char: Rust regex `\w` on the character at s[0..n). */
static bool is_word_char(const lb_tokenizer *tok, const char *s, size_t n, pcre2_match_data *md)
{
    size_t ms, me;
    return lb_tok_re_find(&tok->word_re, s, n, 0, md, &ms, &me) == 1;
}

/* char_before: start of the character that ends at s[pos]. */
static size_t char_before(const char *s, size_t pos)
{
    size_t i = pos - 1;
    int back = 0;
    while (i > 0 && back < 3 && ((unsigned char)s[i] & 0xC0) == 0x80) { i--; back++; }
    uint32_t cp;
    if ((size_t)lb_utf8_next(s + i, pos - i, &cp) != pos - i) return pos - 1;
    return i;
}

static bool white_at(const char *s, size_t n, size_t *len)
{
    uint32_t cp;
    *len = (size_t)lb_utf8_next(s, n, &cp);
    return cp != 0xFFFFFFFFu && lb_unicode_is_white_space(cp);
}

static bool push_seg(lb_tok_seg **segs, size_t *n, size_t *cap, lb_tok_seg s)
{
    if (*n == *cap) {
        size_t nc = *cap ? 2 * *cap : 16;
        lb_tok_seg *ns = realloc(*segs, nc * sizeof *ns);
        if (!ns) return false;
        *segs = ns;
        *cap = nc;
    }
    (*segs)[(*n)++] = s;
    return true;
}

/* find_at: the longest token of `set` starting at s[i], or -1. */
static int find_at(const lb_tokenizer *tok, const lb_added_set *set, const char *s, size_t n, size_t i)
{
    unsigned char b = (unsigned char)s[i];
    for (int k = set->start[b]; k < set->start[b + 1]; k++) {
        const lb_added_tok *a = &tok->added[set->order[k]];
        if (a->match_len <= n - i && memcmp(s + i, a->match, a->match_len) == 0) return set->order[k];
    }
    return -1;
}

lb_status lb_tok_added_split(const lb_tokenizer *tok, const lb_added_set *set, const char *s,
                             size_t n, pcre2_match_data *md, lb_tok_seg **segs, size_t *n_segs)
{
    size_t ns = 0, cap = 0, start_off = 0, pos = 0;
    *segs = NULL;
    while (set->n > 0 && pos < n) {
        int hit = -1;
        size_t i = pos;
        for (; i < n; i++) {
            unsigned char b = (unsigned char)s[i];
            if (set->start[b] == set->start[b + 1]) continue;
            if ((hit = find_at(tok, set, s, n, i)) >= 0) break;
        }
        if (hit < 0) break;
        const lb_added_tok *a = &tok->added[hit];
        size_t start = i, stop = i + a->match_len;
        pos = stop;
        if (a->single_word) {
            bool ok_l = start == 0, ok_r = stop == n;
            if (!ok_l) {
                size_t c = char_before(s, start);
                ok_l = !is_word_char(tok, s + c, start - c, md);
            }
            if (!ok_r) {
                uint32_t cp;
                size_t cl = (size_t)lb_utf8_next(s + stop, n - stop, &cp);
                ok_r = !is_word_char(tok, s + stop, cl, md);
            }
            if (!ok_l || !ok_r) continue;
        }
        if (a->lstrip) {
            size_t ns0 = start;
            while (ns0 > 0) {
                size_t c = char_before(s, ns0), wl;
                if (!white_at(s + c, ns0 - c, &wl) || c + wl != ns0) break;
                ns0 = c;
            }
            start = ns0 > start_off ? ns0 : start_off;
        }
        if (a->rstrip) {
            size_t wl;
            while (stop < n && white_at(s + stop, n - stop, &wl)) stop += wl;
        }
        if (start_off < start && !push_seg(segs, &ns, &cap, (lb_tok_seg){start_off, start, -1}))
            goto oom;
        if (!push_seg(segs, &ns, &cap, (lb_tok_seg){start, stop, a->id})) goto oom;
        start_off = stop;
    }
    if (start_off < n && !push_seg(segs, &ns, &cap, (lb_tok_seg){start_off, n, -1})) goto oom;
    *n_segs = ns;
    return lb_ok();
oom:
    free(*segs);
    *segs = NULL;
    return lb_errorf(LB_ERR_OOM, "out of memory splitting added tokens");
}
