/* unicode.c — Unicode normalization forms, lowercase and mark removal.
 *
 * The normalization forms follow UAX #15: full decomposition of every
 * character (canonical, or compatibility for NFKC / NFKD; Hangul by
 * arithmetic), canonical ordering of each run of non-starters by combining
 * class (stable), then for NFC / NFKC canonical composition of each starter
 * with the following characters that are not blocked. Text is processed in
 * runs between ASCII characters: a boundary before an ASCII character is
 * always safe (ASCII has class 0, never decomposes and never composes with
 * what precedes it), so ASCII text is copied through. The ASCII character just
 * before a non-ASCII run belongs to that run (it may compose: "e" + U+0301).
 * Not here: the normalizer pipeline (datasets/tok_pretok.c).
 */
#include "datasets/unicode.h"

#include <stdlib.h>
#include <string.h>

#include "datasets/unicode_tables.h"
#include "datasets/utf8.h"

#define LB_UC_MAX_DECOMP 32      /* longest decomposition of one character (U+FDFA: 18) */
#define INVALID_BYTE 0x80000000u /* cp of a byte outside well-formed UTF-8: flag | byte */

/* Hangul syllable arithmetic (Unicode chapter 3.12) */
enum {
    S_BASE = 0xAC00, L_BASE = 0x1100, V_BASE = 0x1161, T_BASE = 0x11A7,
    L_COUNT = 19, V_COUNT = 21, T_COUNT = 28, N_COUNT = V_COUNT * T_COUNT, S_COUNT = L_COUNT * N_COUNT,
};

void lb_ubuf_free(lb_ubuf *b)
{
    free(b->p);
    free(b->cp);
    memset(b, 0, sizeof *b);
}

static bool reserve_bytes(lb_ubuf *b, size_t extra)
{
    if (b->n + extra <= b->cap) return true;
    size_t nc = b->cap ? b->cap : 256;
    while (nc < b->n + extra) nc *= 2;
    char *np = realloc(b->p, nc);
    if (!np) return false;
    b->p = np;
    b->cap = nc;
    return true;
}

static bool reserve_cps(lb_ubuf *b, size_t need)
{
    if (need <= b->cap_cp) return true;
    size_t nc = b->cap_cp ? b->cap_cp : 256;
    while (nc < need) nc *= 2;
    uint32_t *np = realloc(b->cp, nc * sizeof *np);
    if (!np) return false;
    b->cp = np;
    b->cap_cp = nc;
    return true;
}

static void append(lb_ubuf *b, const char *s, size_t n)
{
    if (n == 0) return;
    memcpy(b->p + b->n, s, n);
    b->n += n;
}

/* ---- lookups ------------------------------------------------------------- */

static bool in_blocks(const uint8_t *bm, uint32_t cp)
{
    return cp < 0x110000 && ((bm[cp >> 11] >> ((cp >> 8) & 7)) & 1);
}

static const lb_uc_run *find_run(const lb_uc_run *t, int n, uint32_t cp)
{
    int lo = 0, hi = n;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (cp < t[mid].lo) hi = mid;
        else if (cp > t[mid].hi) lo = mid + 1;
        else return &t[mid];
    }
    return NULL;
}

uint8_t lb_unicode_ccc(uint32_t cp)
{
    if (cp < 0x80 || !in_blocks(lb_uc_ccc_blocks, cp)) return 0;
    const lb_uc_run *r = find_run(lb_uc_ccc, lb_uc_n_ccc, cp);
    return r ? r->v : 0;
}

bool lb_unicode_is_mark(uint32_t cp)
{
    return cp >= 0x80 && in_blocks(lb_uc_mark_blocks, cp) && find_run(lb_uc_mark, lb_uc_n_mark, cp);
}

const char *lb_unicode_version(void) { return lb_uc_version; }

static const lb_uc_decomp *find_decomp(const lb_uc_decomp *t, int n, uint32_t cp)
{
    int lo = 0, hi = n;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (cp < t[mid].cp) hi = mid;
        else if (cp > t[mid].cp) lo = mid + 1;
        else return &t[mid];
    }
    return NULL;
}

/* decompose: the full decomposition of cp into d (LB_UC_MAX_DECOMP room);
 * returns its length (1 with d[0] = cp when it has none). */
static int decompose(uint32_t cp, bool compat, uint32_t *d)
{
    if (cp - S_BASE < S_COUNT) {
        uint32_t s = cp - S_BASE;
        d[0] = L_BASE + s / N_COUNT;
        d[1] = V_BASE + (s % N_COUNT) / T_COUNT;
        if (s % T_COUNT == 0) return 2;
        d[2] = T_BASE + s % T_COUNT;
        return 3;
    }
    if (in_blocks(lb_uc_decomp_blocks, cp)) {
        const lb_uc_decomp *e = compat ? find_decomp(lb_uc_compat, lb_uc_n_compat, cp) : NULL;
        if (!e) e = find_decomp(lb_uc_canon, lb_uc_n_canon, cp);
        if (e) {
            memcpy(d, lb_uc_pool + e->off, e->len * sizeof *d);
            return e->len;
        }
    }
    d[0] = cp;
    return 1;
}

/* compose_pair: the primary composite of (a, b), or 0. */
static uint32_t compose_pair(uint32_t a, uint32_t b)
{
    if (a - L_BASE < L_COUNT && b - V_BASE < V_COUNT)
        return S_BASE + ((a - L_BASE) * V_COUNT + (b - V_BASE)) * T_COUNT;
    if (a - S_BASE < S_COUNT && (a - S_BASE) % T_COUNT == 0 && b - T_BASE - 1 < T_COUNT - 1)
        return a + (b - T_BASE);
    if (!in_blocks(lb_uc_comp_blocks, a)) return 0;
    int lo = 0, hi = lb_uc_n_comp;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        const lb_uc_pair *p = &lb_uc_comp[mid];
        if (a < p->first || (a == p->first && b < p->second)) hi = mid;
        else if (a > p->first || b > p->second) lo = mid + 1;
        else return p->composite;
    }
    return 0;
}

/* ---- normalization forms ----------------------------------------------------- */

/* push_ordered: appends c to b[0..*n), moving it before the non-starters of
 * higher class at the end (canonical ordering, stable). */
static void push_ordered(uint32_t *b, size_t *n, uint32_t c)
{
    uint8_t cc = lb_unicode_ccc(c);
    size_t i = *n;
    if (cc)
        for (; i > 0 && lb_unicode_ccc(b[i - 1]) > cc; i--) b[i] = b[i - 1];
    b[i] = c;
    (*n)++;
}

/* compose: canonical composition of b[0..n) in place; returns the new length. */
static size_t compose(uint32_t *b, size_t n)
{
    if (n == 0) return 0;
    bool have_starter = lb_unicode_ccc(b[0]) == 0;
    size_t starter = 0, w = 1;
    int last_cc = have_starter ? 0 : 256;
    for (size_t r = 1; r < n; r++) {
        uint32_t c = b[r];
        int cc = lb_unicode_ccc(c);
        /* not blocked: nothing between, or everything between of lower class */
        if (have_starter && (last_cc < cc || last_cc == 0)) {
            uint32_t k = compose_pair(b[starter], c);
            if (k) {
                b[starter] = k;
                continue;
            }
        }
        if (cc == 0) {
            starter = w;
            have_starter = true;
        }
        last_cc = cc;
        b[w++] = c;
    }
    return w;
}

/* normalize_run: appends the normal form of s[0..n) to out. */
static bool normalize_run(lb_unicode_nf form, const char *s, size_t n, lb_ubuf *out)
{
    bool compat = form == LB_NF_KC || form == LB_NF_KD;
    size_t m = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp, d[LB_UC_MAX_DECOMP];
        int l = lb_utf8_next(s + i, n - i, &cp);
        int k = 1;
        if (cp == 0xFFFFFFFFu) d[0] = INVALID_BYTE | (unsigned char)s[i];
        else k = decompose(cp, compat, d);
        i += (size_t)l;
        if (!reserve_cps(out, m + (size_t)k)) return false;
        for (int j = 0; j < k; j++) push_ordered(out->cp, &m, d[j]);
    }
    if (form == LB_NF_C || form == LB_NF_KC) m = compose(out->cp, m);
    if (!reserve_bytes(out, 4 * m)) return false;
    for (size_t j = 0; j < m; j++) {
        uint32_t c = out->cp[j];
        if (c & INVALID_BYTE) out->p[out->n++] = (char)(c & 0xFF);
        else out->n += (size_t)lb_utf8_encode(c, out->p + out->n);
    }
    return true;
}

static size_t ascii_span(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n && (unsigned char)s[i] < 0x80) i++;
    return i;
}

bool lb_unicode_normalize(lb_unicode_nf form, const char *s, size_t n, lb_ubuf *out)
{
    out->n = 0;
    size_t i = 0;
    while (i < n) {
        size_t j = i + ascii_span(s + i, n - i);
        size_t r = j > i && j < n ? j - 1 : j;   /* the ASCII character before joins the run */
        if (!reserve_bytes(out, r - i)) return false;
        append(out, s + i, r - i);
        if (j == n) break;
        size_t e = j;
        while (e < n && (unsigned char)s[e] >= 0x80) e++;
        if (!normalize_run(form, s + r, e - r, out)) return false;
        i = e;
    }
    return true;
}

/* ---- lowercase and mark removal -------------------------------------------------- */

static uint32_t lower_of(uint32_t cp)
{
    if (!in_blocks(lb_uc_lower_blocks, cp)) return cp;
    int lo = 0, hi = lb_uc_n_lower;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (cp < lb_uc_lower[mid].cp) hi = mid;
        else if (cp > lb_uc_lower[mid].cp) lo = mid + 1;
        else return lb_uc_lower[mid].to;
    }
    return cp;
}

bool lb_unicode_lowercase(const char *s, size_t n, lb_ubuf *out)
{
    out->n = 0;
    /* no character's lowercase is more than 1.5x its bytes (the generator checks) */
    if (!reserve_bytes(out, n + n / 2 + 4)) return false;
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x80) {
            out->p[out->n++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
            i++;
            continue;
        }
        uint32_t cp;
        int l = lb_utf8_next(s + i, n - i, &cp);
        if (cp == 0x130) {
            append(out, "i\xcc\x87", 3);   /* İ -> i + U+0307, the one multi-character mapping */
        } else if (cp == 0xFFFFFFFFu) {
            out->p[out->n++] = (char)c;
        } else {
            out->n += (size_t)lb_utf8_encode(lower_of(cp), out->p + out->n);
        }
        i += (size_t)l;
    }
    return true;
}

bool lb_unicode_strip_marks(const char *s, size_t n, lb_ubuf *out)
{
    out->n = 0;
    if (!reserve_bytes(out, n)) return false;
    for (size_t i = 0; i < n;) {
        size_t j = i + ascii_span(s + i, n - i);
        append(out, s + i, j - i);
        i = j;
        if (i == n) break;
        uint32_t cp;
        int l = lb_utf8_next(s + i, n - i, &cp);
        if (cp == 0xFFFFFFFFu || !lb_unicode_is_mark(cp)) append(out, s + i, (size_t)l);
        i += (size_t)l;
    }
    return true;
}
