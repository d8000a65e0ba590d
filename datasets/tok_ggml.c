/* tok_ggml.c — tokenizers to and from GGUF's tokenizer.ggml.* keys
 * (tok_ggml.h). */
#include "datasets/tok_ggml.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "datasets/sha256.h"
#include "datasets/tok_internal.h"

static const char LLAMA3_REGEX[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
static const char QWEN2_REGEX[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

/* The pre-tokenizers GGUF names, told apart by their pieces of one test
 * string (FORMATS §6.5; pieces joined with '|'). */
static const char k_probe[] = "Hello   world 12345 I'M\n\n x";
static const struct {
    const char *name, *pieces;
} k_pres[] = {
    {"gpt-2", "Hello|  | world| 12345| I|'|M|\n\n| x"},
    {"llama-bpe", "Hello|  | world| |123|45| I|'M|\n\n| x"},
    {"qwen2", "Hello|  | world| |1|2|3|4|5| I|'M|\n\n| x"},
};

/* only_nfc: tok's normalizers are exactly one NFC (Qwen2's tokenizer.json) */
static bool only_nfc(const lb_tokenizer *tok)
{
    return tok->n_norms == 1 && tok->norms[0].kind == LB_NORM_UNICODE && tok->norms[0].form == LB_NF_C;
}

/* pre_name: which of k_pres tok's pre-tokenizer is, or NULL. Normalizers
 * have no GGUF key: none is allowed, except qwen2's NFC (rebuilt from the
 * name) */
static lb_status pre_name(const lb_tokenizer *tok, const char **name)
{
    *name = NULL;
    if ((tok->n_norms > 0 && !only_nfc(tok)) || !tok->byte_level_last || tok->n_pres == 0) return lb_ok();
    lb_tok_scratch sc = {0};
    sc.md = pcre2_match_data_create(16, NULL);
    if (!sc.md) return lb_errorf(LB_ERR_OOM, "out of memory");
    lb_tok_piece in = {k_probe, sizeof k_probe - 1, true}, *pieces;
    size_t np = 0;
    lb_status st = lb_tok_pretokenize(tok, &sc, in, &pieces, &np);
    char joined[256];
    size_t at = 0;
    for (size_t i = 0; !lb_failed(&st) && i < np && at + pieces[i].len + 2 < sizeof joined; i++) {
        if (i) joined[at++] = '|';
        memcpy(joined + at, pieces[i].s, pieces[i].len);
        at += pieces[i].len;
    }
    joined[at] = '\0';
    lb_tok_scratch_free(&sc);
    LB_TRY(st);
    for (size_t k = 0; k < sizeof k_pres / sizeof k_pres[0]; k++)
        if (!strcmp(joined, k_pres[k].pieces)) *name = k_pres[k].name;
    if (*name && tok->n_norms > 0 && strcmp(*name, "qwen2")) *name = NULL;
    return lb_ok();
}

static int cmp_rank(const void *a, const void *b)
{
    const lb_merge_slot *x = a, *y = b;
    return (x->rank > y->rank) - (x->rank < y->rank);
}

static char *dup_n(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (!d) return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

static lb_status merges_of(const lb_tokenizer *tok, lb_tok_ggml *g)
{
    size_t cap = tok->merges ? tok->merge_mask + 1 : 0, n = 0;
    lb_merge_slot *v = malloc((cap ? cap : 1) * sizeof *v);
    if (!v) return lb_errorf(LB_ERR_OOM, "out of memory");
    for (size_t i = 0; i < cap; i++)
        if (tok->merges[i].key) v[n++] = tok->merges[i];
    qsort(v, n, sizeof *v, cmp_rank);
    g->merges = calloc(n ? n : 1, sizeof *g->merges);
    g->merge_len = calloc(n ? n : 1, sizeof *g->merge_len);
    if (!g->merges || !g->merge_len) {
        free(v);
        return lb_errorf(LB_ERR_OOM, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        uint64_t key = v[i].key - 1;
        int32_t a = (int32_t)(key >> 32), b = (int32_t)(key & 0xffffffffu);
        size_t la = tok->id_len[a], lb = tok->id_len[b];
        char *s = malloc(la + lb + 2);
        if (!s) {
            free(v);
            return lb_errorf(LB_ERR_OOM, "out of memory");
        }
        memcpy(s, tok->id_tok[a], la);
        s[la] = ' ';
        memcpy(s + la + 1, tok->id_tok[b], lb);
        s[la + lb + 1] = '\0';
        g->merges[i] = s;
        g->merge_len[i] = la + lb + 1;
        g->n_merges = (int64_t)i + 1;
    }
    free(v);
    return lb_ok();
}

lb_status lb_tok_ggml_from(const lb_tokenizer *tok, int64_t vocab_size, lb_tok_ggml *g)
{
    memset(g, 0, sizeof *g);
    if (!tok->merges || tok->byte_fallback || !tok->byte_level_last)
        return lb_errorf(LB_ERR_UNSUPPORTED, "%s: GGUF export supports byte-level BPE tokenizers (tokenizer.ggml.model "
                         "\"gpt2\"); this one is not", tok->path);
    LB_TRY(pre_name(tok, &g->pre));
    if (!g->pre)
        return lb_errorf(LB_ERR_UNSUPPORTED, "%s: its pre-tokenizer is none of those llama.cpp names (gpt-2, llama-bpe, "
                         "qwen2), so a GGUF file could not say how to split text", tok->path);
    if (vocab_size < tok->n_ids) vocab_size = tok->n_ids;
    g->n = vocab_size;
    g->tokens = calloc((size_t)vocab_size, sizeof *g->tokens);
    g->token_len = calloc((size_t)vocab_size, sizeof *g->token_len);
    g->types = calloc((size_t)vocab_size, sizeof *g->types);
    if (!g->tokens || !g->token_len || !g->types) return lb_errorf(LB_ERR_OOM, "out of memory");
    for (int64_t i = 0; i < vocab_size; i++) {
        char pad[32];
        if (i < tok->n_ids && tok->id_tok[i]) {
            g->tokens[i] = dup_n(tok->id_tok[i], tok->id_len[i]);
            g->token_len[i] = tok->id_len[i];
            g->types[i] = LB_TOKTYPE_NORMAL;
        } else {
            int l = snprintf(pad, sizeof pad, "[PAD%lld]", (long long)i);
            g->tokens[i] = dup_n(pad, (size_t)l);
            g->token_len[i] = (size_t)l;
            g->types[i] = LB_TOKTYPE_UNUSED;
        }
        if (!g->tokens[i]) return lb_errorf(LB_ERR_OOM, "out of memory");
    }
    for (int i = 0; i < tok->n_added; i++) {
        const lb_added_tok *a = &tok->added[i];
        g->types[a->id] = a->special ? LB_TOKTYPE_CONTROL : LB_TOKTYPE_USER_DEFINED;
        g->lossy_added += a->lstrip || a->rstrip || a->single_word;
    }
    g->bos = tok->bos;
    g->eos = tok->eos;
    return merges_of(tok, g);
}

void lb_tok_ggml_free(lb_tok_ggml *g)
{
    for (int64_t i = 0; g->tokens && i < g->n; i++) free(g->tokens[i]);
    for (int64_t i = 0; g->merges && i < g->n_merges; i++) free(g->merges[i]);
    free(g->tokens);
    free(g->token_len);
    free(g->types);
    free(g->merges);
    free(g->merge_len);
    memset(g, 0, sizeof *g);
}

/* ---- the way back: a tokenizer.json in memory, parsed as a file would be ---- */

static cJSON *pre_json(const char *pre)
{
    cJSON *bl = cJSON_CreateObject();
    cJSON_AddStringToObject(bl, "type", "ByteLevel");
    cJSON_AddBoolToObject(bl, "add_prefix_space", false);
    cJSON_AddBoolToObject(bl, "trim_offsets", true);
    cJSON_AddBoolToObject(bl, "use_regex", !strcmp(pre, "gpt-2"));
    if (!strcmp(pre, "gpt-2")) return bl;
    cJSON *split = cJSON_CreateObject(), *pat = cJSON_CreateObject(), *seq = cJSON_CreateObject();
    cJSON_AddStringToObject(split, "type", "Split");
    cJSON_AddStringToObject(pat, "Regex", !strcmp(pre, "qwen2") ? QWEN2_REGEX : LLAMA3_REGEX);
    cJSON_AddItemToObject(split, "pattern", pat);
    cJSON_AddStringToObject(split, "behavior", "Isolated");
    cJSON_AddBoolToObject(split, "invert", false);
    cJSON_AddStringToObject(seq, "type", "Sequence");
    cJSON *list = cJSON_AddArrayToObject(seq, "pretokenizers");
    cJSON_AddItemToArray(list, split);
    cJSON_AddItemToArray(list, bl);
    return seq;
}

static lb_status build_json(const lb_tok_ggml *g, const char *where, char **text)
{
    cJSON *root = cJSON_CreateObject(), *model = cJSON_CreateObject(), *dec = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "version", "1.0");
    cJSON *added = cJSON_AddArrayToObject(root, "added_tokens");
    if (!strcmp(g->pre, "qwen2")) { /* Qwen2's tokenizer.json normalizes to NFC */
        cJSON *nfc = cJSON_CreateObject();
        cJSON_AddStringToObject(nfc, "type", "NFC");
        cJSON_AddItemToObject(root, "normalizer", nfc);
    } else {
        cJSON_AddNullToObject(root, "normalizer");
    }
    cJSON_AddItemToObject(root, "pre_tokenizer", pre_json(g->pre));
    cJSON_AddStringToObject(dec, "type", "ByteLevel");
    cJSON_AddItemToObject(root, "decoder", dec);
    cJSON_AddStringToObject(model, "type", "BPE");
    cJSON_AddBoolToObject(model, "ignore_merges", !strcmp(g->pre, "llama-bpe"));
    cJSON *vocab = cJSON_AddObjectToObject(model, "vocab"), *merges = cJSON_AddArrayToObject(model, "merges");
    lb_status st = lb_ok();
    for (int64_t i = 0; i < g->n && !lb_failed(&st); i++) {
        if (g->types[i] == LB_TOKTYPE_UNUSED) continue;
        if (strlen(g->tokens[i]) != g->token_len[i])
            st = lb_errorf(LB_ERR_FORMAT, "%s: token %lld contains a NUL byte", where, (long long)i);
        else if (cJSON_GetObjectItemCaseSensitive(vocab, g->tokens[i]))
            st = lb_errorf(LB_ERR_FORMAT, "%s: token %lld (\"%s\") appears twice in tokenizer.ggml.tokens", where,
                           (long long)i, g->tokens[i]);
        else cJSON_AddNumberToObject(vocab, g->tokens[i], (double)i);
        if (g->types[i] != LB_TOKTYPE_CONTROL && g->types[i] != LB_TOKTYPE_USER_DEFINED) continue;
        cJSON *a = cJSON_CreateObject();
        cJSON_AddNumberToObject(a, "id", (double)i);
        cJSON_AddStringToObject(a, "content", g->tokens[i]);
        cJSON_AddBoolToObject(a, "single_word", false);
        cJSON_AddBoolToObject(a, "lstrip", false);
        cJSON_AddBoolToObject(a, "rstrip", false);
        cJSON_AddBoolToObject(a, "normalized", g->types[i] == LB_TOKTYPE_USER_DEFINED);
        cJSON_AddBoolToObject(a, "special", g->types[i] == LB_TOKTYPE_CONTROL);
        cJSON_AddItemToArray(added, a);
    }
    for (int64_t i = 0; i < g->n_merges && !lb_failed(&st); i++) {
        /* llama.cpp splits at the first space at position >= 1 */
        const char *sp = g->merge_len[i] > 1 ? strchr(g->merges[i] + 1, ' ') : NULL;
        if (!sp) {
            st = lb_errorf(LB_ERR_FORMAT, "%s: merge %lld (\"%s\") is not \"left right\"", where, (long long)i,
                           g->merges[i]);
            break;
        }
        cJSON *pair = cJSON_CreateArray();
        char *left = dup_n(g->merges[i], (size_t)(sp - g->merges[i]));
        cJSON_AddItemToArray(pair, cJSON_CreateString(left ? left : ""));
        cJSON_AddItemToArray(pair, cJSON_CreateString(sp + 1));
        free(left);
        cJSON_AddItemToArray(merges, pair);
    }
    cJSON_AddItemToObject(root, "model", model);
    *text = lb_failed(&st) ? NULL : cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!lb_failed(&st) && !*text) st = lb_errorf(LB_ERR_OOM, "out of memory");
    return st;
}

lb_status lb_tokenizer_from_ggml(const lb_tok_ggml *g, const char *where, lb_tokenizer **out)
{
    *out = NULL;
    char *json = NULL;
    LB_TRY(build_json(g, where, &json));
    lb_tokenizer *tok = calloc(1, sizeof *tok);
    if (!tok || !(tok->path = strdup(where))) {
        free(tok);
        free(json);
        return lb_errorf(LB_ERR_OOM, "out of memory");
    }
    lb_strmap_init(&tok->vocab);
    lb_strmap_init(&tok->added_map);
    size_t len = strlen(json);
    lb_sha256_hex(json, len, tok->sha256);
    lb_status st = lb_tok_parse(tok, json, len);
    free(json);
    if (lb_failed(&st)) {
        lb_tokenizer_free(tok);
        return st;
    }
    tok->bos = g->bos >= 0 && g->bos < tok->n_ids ? g->bos : -1;
    tok->eos = g->eos >= 0 && g->eos < tok->n_ids ? g->eos : -1;
    *out = tok;
    return lb_ok();
}
