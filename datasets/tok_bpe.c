/* tok_bpe.c — the BPE model: merge ranks and the merge of one pre-token.
 *
 * Same result as tokenizers' BPE::merge_word + Word::merge_all: the word
 * starts as one symbol per character (continuing_subword_prefix /
 * end_of_word_suffix applied, byte_fallback to "<0xXX>", unknown characters
 * to unk_token, fused when fuse_unk), then the adjacent pair of lowest rank
 * (leftmost on ties) is merged until none is left; a min-heap of
 * (rank, position) with stale-entry checks makes that O(n log n).
 * With ignore_merges, a pre-token that is itself in the vocabulary is one id.
 * A cache of pre-token -> ids lives in the per-call scratch, so nothing is
 * shared between calls or threads.
 * Not here: dropout (refused at load), and any cache across calls.
 */
#include <stdlib.h>
#include <string.h>

#include "datasets/tok_internal.h"
#include "datasets/utf8.h"

/* The per-call cache of pre-token -> ids (used for long texts only, see
 * tokenizer.c): keys up to this many bytes, at most this many entries. */
#define LB_TOK_CACHE_KEY_MAX 64
#define LB_TOK_CACHE_MAX 200000

static lb_status bpe_word(const lb_tokenizer *tok, lb_tok_scratch *sc, const char *s, size_t n,
                          lb_tok_ids out);

typedef struct heap_ent {
    int32_t rank, pos, id;
} heap_ent;

static inline uint64_t pair_hash(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ull;
    k ^= k >> 33;
    return k;
}

lb_status lb_tok_merges_init(lb_tokenizer *tok, size_t n)
{
    size_t cap = 16;
    while (cap < 2 * n + 2) cap *= 2;
    tok->merges = calloc(cap, sizeof *tok->merges);
    if (!tok->merges) return lb_errorf(LB_ERR_OOM, "out of memory for %zu merges", n);
    tok->merge_mask = cap - 1;
    return lb_ok();
}

lb_status lb_tok_merges_add(lb_tokenizer *tok, int32_t a, int32_t b, int32_t id, int32_t rank)
{
    uint64_t key = (((uint64_t)(uint32_t)a << 32) | (uint32_t)b) + 1;
    size_t j = (size_t)pair_hash(key) & tok->merge_mask;
    while (tok->merges[j].key && tok->merges[j].key != key) j = (j + 1) & tok->merge_mask;
    /* a repeated pair keeps its last rank, as the library's HashMap collect does */
    tok->merges[j] = (lb_merge_slot){key, rank, id};
    return lb_ok();
}

static inline const lb_merge_slot *merge_get(const lb_tokenizer *tok, int32_t a, int32_t b)
{
    if (!tok->merges) return NULL;
    uint64_t key = (((uint64_t)(uint32_t)a << 32) | (uint32_t)b) + 1;
    size_t j = (size_t)pair_hash(key) & tok->merge_mask;
    for (;;) {
        const lb_merge_slot *s = &tok->merges[j];
        if (s->key == key) return s;
        if (!s->key) return NULL;
        j = (j + 1) & tok->merge_mask;
    }
}

lb_status lb_tok_ids_push(lb_tok_ids out, int32_t id)
{
    if (*out.n == *out.cap) {
        size_t nc = *out.cap ? 2 * *out.cap : 256;
        int32_t *ni = realloc(*out.ids, nc * sizeof *ni);
        if (!ni) return lb_errorf(LB_ERR_OOM, "out of memory for token ids");
        *out.ids = ni;
        *out.cap = nc;
    }
    (*out.ids)[(*out.n)++] = id;
    return lb_ok();
}

static bool ensure_syms(lb_tok_scratch *sc, size_t n)
{
    if (n <= sc->cap_sym) return true;
    size_t nc = sc->cap_sym ? sc->cap_sym : 64;
    while (nc < n) nc *= 2;
    int32_t *a = realloc(sc->sym_id, nc * sizeof *a);
    if (!a) return false;
    sc->sym_id = a;
    int32_t *b = realloc(sc->sym_prev, nc * sizeof *b);
    if (!b) return false;
    sc->sym_prev = b;
    int32_t *c = realloc(sc->sym_next, nc * sizeof *c);
    if (!c) return false;
    sc->sym_next = c;
    heap_ent *h = realloc(sc->heap, 2 * nc * sizeof *h);
    if (!h) return false;
    sc->heap = h;
    sc->cap_heap = 2 * nc;
    sc->cap_sym = nc;
    return true;
}

static bool ensure_buf(lb_tok_scratch *sc, size_t n)
{
    if (n <= sc->cap_buf) return true;
    size_t nc = sc->cap_buf ? sc->cap_buf : 256;
    while (nc < n) nc *= 2;
    char *b = realloc(sc->buf, nc);
    if (!b) return false;
    sc->buf = b;
    sc->cap_buf = nc;
    return true;
}

static inline bool ent_less(heap_ent a, heap_ent b)
{
    return a.rank < b.rank || (a.rank == b.rank && a.pos < b.pos);
}

static bool heap_push(lb_tok_scratch *sc, size_t *n, heap_ent e)
{
    if (*n == sc->cap_heap) {
        size_t nc = 2 * sc->cap_heap;
        heap_ent *h = realloc(sc->heap, nc * sizeof *h);
        if (!h) return false;
        sc->heap = h;
        sc->cap_heap = nc;
    }
    heap_ent *h = sc->heap;
    size_t i = (*n)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!ent_less(e, h[p])) break;
        h[i] = h[p];
        i = p;
    }
    h[i] = e;
    return true;
}

static heap_ent heap_pop(lb_tok_scratch *sc, size_t *n)
{
    heap_ent *h = sc->heap;
    heap_ent top = h[0];
    heap_ent last = h[--(*n)];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n) break;
        if (c + 1 < *n && ent_less(h[c + 1], h[c])) c++;
        if (!ent_less(h[c], last)) break;
        h[i] = h[c];
        i = c;
    }
    if (*n) h[i] = last;
    return top;
}

/* merge_all: merges sc->sym_id[0..n) in place (removed symbols get -1 and are
 * unlinked); the result is the linked list from symbol 0. */
static lb_status merge_all(const lb_tokenizer *tok, lb_tok_scratch *sc, size_t n)
{
    int32_t *id = sc->sym_id, *prev = sc->sym_prev, *next = sc->sym_next;
    size_t hn = 0;
    for (size_t i = 0; i < n; i++) {
        prev[i] = (int32_t)i - 1;
        next[i] = i + 1 < n ? (int32_t)i + 1 : -1;
    }
    for (size_t i = 0; i + 1 < n; i++) {
        const lb_merge_slot *m = merge_get(tok, id[i], id[i + 1]);
        if (m && !heap_push(sc, &hn, (heap_ent){m->rank, (int32_t)i, m->id})) goto oom;
    }
    while (hn) {
        heap_ent t = heap_pop(sc, &hn);
        if (id[t.pos] < 0) continue;
        int32_t nx = next[t.pos];
        if (nx < 0) continue;
        const lb_merge_slot *m = merge_get(tok, id[t.pos], id[nx]);
        if (!m || m->id != t.id) continue;  /* stale entry */
        id[t.pos] = t.id;
        id[nx] = -1;
        next[t.pos] = next[nx];
        if (next[nx] >= 0) prev[next[nx]] = t.pos;
        int32_t pv = prev[t.pos];
        if (pv >= 0 && (m = merge_get(tok, id[pv], id[t.pos])))
            if (!heap_push(sc, &hn, (heap_ent){m->rank, pv, m->id})) goto oom;
        int32_t nn = next[t.pos];
        if (nn >= 0 && (m = merge_get(tok, id[t.pos], id[nn])))
            if (!heap_push(sc, &hn, (heap_ent){m->rank, t.pos, m->id})) goto oom;
    }
    return lb_ok();
oom:
    return lb_errorf(LB_ERR_OOM, "out of memory in BPE merge");
}

/* unk_id: the id of unk_token, or an error when it is not in the vocab. */
static lb_status unk_id(const lb_tokenizer *tok, int32_t *id)
{
    if (lb_strmap_get(&tok->vocab, tok->unk_token, strlen(tok->unk_token), id)) return lb_ok();
    return lb_errorf(LB_ERR_FORMAT, "%s: unk_token \"%s\" is not in the vocabulary", tok->path,
                     tok->unk_token);
}

/* word_symbols: the initial symbols of string t[0..n) (BPE::merge_word). */
static lb_status word_symbols(const lb_tokenizer *tok, lb_tok_scratch *sc, const char *t, size_t n,
                              size_t *n_sym)
{
    size_t ns = 0;
    int32_t pend = -1;  /* pending unk symbol */
    char kb[64];
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t cl = (size_t)lb_utf8_next(t + i, n - i, &cp);
        bool first = i == 0, last = i + cl == n;
        const char *key = t + i;
        size_t klen = cl;
        char *heapkey = NULL;
        if ((tok->prefix && !first) || (tok->suffix && last)) {
            size_t need = cl + (tok->prefix && !first ? tok->prefix_len : 0) +
                          (tok->suffix && last ? tok->suffix_len : 0);
            char *b = need <= sizeof kb ? kb : (heapkey = malloc(need));
            if (!b) return lb_errorf(LB_ERR_OOM, "out of memory");
            klen = 0;
            if (tok->prefix && !first) { memcpy(b, tok->prefix, tok->prefix_len); klen = tok->prefix_len; }
            memcpy(b + klen, t + i, cl);
            klen += cl;
            if (tok->suffix && last) { memcpy(b + klen, tok->suffix, tok->suffix_len); klen += tok->suffix_len; }
            key = b;
        }
        i += cl;
        if (!ensure_syms(sc, ns + klen + 2)) { free(heapkey); return lb_errorf(LB_ERR_OOM, "out of memory"); }
        int32_t id;
        if (lb_strmap_get(&tok->vocab, key, klen, &id)) {
            if (pend >= 0) { sc->sym_id[ns++] = pend; pend = -1; }
            sc->sym_id[ns++] = id;
            free(heapkey);
            continue;
        }
        if (tok->byte_fallback) {
            bool all = true;
            for (size_t b = 0; b < klen; b++) all = all && tok->byte_fb[(unsigned char)key[b]] >= 0;
            if (all) {
                for (size_t b = 0; b < klen; b++) sc->sym_id[ns++] = tok->byte_fb[(unsigned char)key[b]];
                free(heapkey);
                continue;
            }
        }
        free(heapkey);
        if (tok->unk_token) {
            int32_t u;
            LB_TRY(unk_id(tok, &u));
            if (pend >= 0 && !tok->fuse_unk) sc->sym_id[ns++] = pend;
            pend = u;
        }
    }
    if (pend >= 0) sc->sym_id[ns++] = pend;
    *n_sym = ns;
    return lb_ok();
}

/* cache_put: remembers that pre-token s[0..n) gave ids[0..k). Best effort:
 * a full cache or failed allocation just stops caching. */
static void cache_put(lb_tok_scratch *sc, const char *s, size_t n, const int32_t *ids, size_t k)
{
    if (sc->cache.count >= LB_TOK_CACHE_MAX) return;
    if (sc->n_cache_ids + k + 1 > sc->cap_cache_ids) {
        size_t nc = sc->cap_cache_ids ? 2 * sc->cap_cache_ids : 4096;
        while (nc < sc->n_cache_ids + k + 1) nc *= 2;
        int32_t *ni = realloc(sc->cache_ids, nc * sizeof *ni);
        if (!ni) return;
        sc->cache_ids = ni;
        sc->cap_cache_ids = nc;
    }
    if (!lb_strmap_put(&sc->cache, s, n, (int32_t)sc->n_cache_ids)) return;
    sc->cache_ids[sc->n_cache_ids++] = (int32_t)k;
    memcpy(sc->cache_ids + sc->n_cache_ids, ids, k * sizeof *ids);
    sc->n_cache_ids += k;
}

lb_status lb_tok_bpe(const lb_tokenizer *tok, lb_tok_scratch *sc, const char *s, size_t n,
                     lb_tok_ids out)
{
    if (n == 0) return lb_ok();
    bool cache = sc->use_cache && n <= LB_TOK_CACHE_KEY_MAX;
    int32_t at;
    if (cache && lb_strmap_get(&sc->cache, s, n, &at)) {
        for (int32_t i = 0; i < sc->cache_ids[at]; i++) LB_TRY(lb_tok_ids_push(out, sc->cache_ids[at + 1 + i]));
        return lb_ok();
    }
    size_t n0 = *out.n;
    lb_status st = bpe_word(tok, sc, s, n, out);
    if (cache && !lb_failed(&st)) cache_put(sc, s, n, *out.ids + n0, *out.n - n0);
    return st;
}

/* bpe_word: lb_tok_bpe without the cache. */
static lb_status bpe_word(const lb_tokenizer *tok, lb_tok_scratch *sc, const char *s, size_t n,
                          lb_tok_ids out)
{
    const char *t = s;
    size_t tn = n;
    size_t ns = 0;
    bool fast = tok->byte_level_last && tok->bytes_complete && !tok->prefix && !tok->suffix;
    if (tok->byte_level_last && (!fast || tok->ignore_merges)) {
        /* the pre-token in the byte alphabet, as the library sees it */
        if (!ensure_buf(sc, 2 * n)) return lb_errorf(LB_ERR_OOM, "out of memory");
        tn = 0;
        for (size_t i = 0; i < n; i++)
            tn += (size_t)lb_utf8_encode(lb_tok_byte_char((unsigned char)s[i]), sc->buf + tn);
        t = sc->buf;
    }
    if (tok->ignore_merges) {
        int32_t id;
        if (lb_strmap_get(&tok->vocab, t, tn, &id)) return lb_tok_ids_push(out, id);
    }
    if (fast) {
        if (!ensure_syms(sc, n)) return lb_errorf(LB_ERR_OOM, "out of memory");
        for (size_t i = 0; i < n; i++) sc->sym_id[i] = tok->byte_ids[(unsigned char)s[i]];
        ns = n;
    } else {
        LB_TRY(word_symbols(tok, sc, t, tn, &ns));
    }
    if (ns == 0) return lb_ok();
    LB_TRY(merge_all(tok, sc, ns));
    for (int32_t i = 0; i >= 0; i = sc->sym_next[i]) LB_TRY(lb_tok_ids_push(out, sc->sym_id[i]));
    return lb_ok();
}
