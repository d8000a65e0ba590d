/* tokenizer.c — loading, encoding pipeline and accessors of lb_tokenizer.
 *
 * Encode follows tokenizers' Tokenizer::encode (without post-processor):
 * split out non-normalized added tokens from the raw text, normalize each
 * remaining piece, split out normalized added tokens, pre-tokenize, and run
 * the BPE model on every pre-token. EOS / BOS are resolved at load time (see
 * resolve_special). Not here: JSON details (tok_json.c), decoders
 * (tok_decode.c), padding / truncation / offsets.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "datasets/sha256.h"
#include "datasets/tok_internal.h"

/* read_file: whole file into a malloc'd buffer (NUL-terminated). */
static lb_status read_file(const char *path, char **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return lb_errorf(LB_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n + 65536 + 1 > cap) {
            cap = cap ? 2 * cap : 1 << 20;
            char *nb = realloc(buf, cap);
            if (!nb) { free(buf); fclose(f); return lb_errorf(LB_ERR_OOM, "%s: out of memory", path); }
            buf = nb;
        }
        size_t r = fread(buf + n, 1, cap - n - 1, f);
        n += r;
        if (r == 0) break;
    }
    bool err = ferror(f);
    fclose(f);
    if (err) { free(buf); return lb_errorf(LB_ERR_IO, "%s: read error", path); }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return lb_ok();
}

static char *path_join(const char *dir, const char *name)
{
    size_t dl = strlen(dir), nl = strlen(name);
    char *p = malloc(dl + nl + 2);
    if (!p) return NULL;
    memcpy(p, dir, dl);
    p[dl] = '/';
    memcpy(p + dl + 1, name, nl + 1);
    return p;
}

static char *dir_of(const char *path)
{
    const char *sl = strrchr(path, '/');
    if (!sl) return strdup(".");
    size_t n = sl == path ? 1 : (size_t)(sl - path);
    char *d = malloc(n + 1);
    if (!d) return NULL;
    memcpy(d, path, n);
    d[n] = '\0';
    return d;
}

/* json_in_dir: the parsed JSON file dir/name, or NULL when absent/unreadable. */
static cJSON *json_in_dir(const char *dir, const char *name)
{
    char *p = path_join(dir, name);
    if (!p) return NULL;
    char *buf;
    size_t len;
    lb_status st = read_file(p, &buf, &len);
    free(p);
    if (lb_failed(&st)) return NULL;
    cJSON *j = cJSON_ParseWithLength(buf, len);
    free(buf);
    return j;
}

static int32_t config_token(const lb_tokenizer *tok, const cJSON *cfg, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, key);
    if (cJSON_IsObject(v)) v = cJSON_GetObjectItemCaseSensitive(v, "content");
    return cJSON_IsString(v) ? lb_tokenizer_token_id(tok, v->valuestring) : -1;
}

static int32_t config_id(const lb_tokenizer *tok, const cJSON *cfg, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, key);
    if (cJSON_IsArray(v)) v = cJSON_GetArrayItem(v, 0);
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble >= (double)tok->n_ids) return -1;
    return (int32_t)v->valuedouble;
}

static int32_t special_named(const lb_tokenizer *tok, const char *const *names)
{
    for (int k = 0; names[k]; k++)
        for (int i = 0; i < tok->n_added; i++)
            if (tok->added[i].special && !strcmp(tok->added[i].content, names[k])) return tok->added[i].id;
    return -1;
}

/* resolve_special: EOS and BOS ids, first found of
 *   1. tokenizer_config.json beside tokenizer.json: eos_token / bos_token
 *      (a string or {"content": ...}) looked up as a token;
 *   2. config.json beside it: eos_token_id / bos_token_id (first if a list);
 *   3. a special added token named <|endoftext|>, </s>, <|end_of_text|>,
 *      <eos>, <|im_end|> (EOS) or <s>, <|begin_of_text|>, <bos> (BOS), in
 *      that order of preference;
 * else -1. */
static void resolve_special(lb_tokenizer *tok)
{
    static const char *const eos_names[] = {"<|endoftext|>", "</s>", "<|end_of_text|>", "<eos>",
                                            "<|im_end|>", NULL};
    static const char *const bos_names[] = {"<s>", "<|begin_of_text|>", "<bos>", NULL};
    tok->eos = tok->bos = -1;
    char *dir = dir_of(tok->path);
    if (!dir) return;
    cJSON *tc = json_in_dir(dir, "tokenizer_config.json");
    cJSON *mc = json_in_dir(dir, "config.json");
    free(dir);
    tok->eos = config_token(tok, tc, "eos_token");
    tok->bos = config_token(tok, tc, "bos_token");
    if (tok->eos < 0) tok->eos = config_id(tok, mc, "eos_token_id");
    if (tok->bos < 0) tok->bos = config_id(tok, mc, "bos_token_id");
    if (tok->eos < 0) tok->eos = special_named(tok, eos_names);
    if (tok->bos < 0) tok->bos = special_named(tok, bos_names);
    cJSON_Delete(tc);
    cJSON_Delete(mc);
}

lb_status lb_tokenizer_load(const char *path, lb_tokenizer **out)
{
    *out = NULL;
    lb_tokenizer *tok = calloc(1, sizeof *tok);
    if (!tok) return lb_errorf(LB_ERR_OOM, "out of memory");
    struct stat sb;
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) tok->path = path_join(path, "tokenizer.json");
    else tok->path = strdup(path);
    if (!tok->path) { free(tok); return lb_errorf(LB_ERR_OOM, "out of memory"); }
    lb_strmap_init(&tok->vocab);
    lb_strmap_init(&tok->added_map);
    char *json = NULL;
    size_t len = 0;
    lb_status st = read_file(tok->path, &json, &len);
    if (!lb_failed(&st)) {
        lb_sha256_hex(json, len, tok->sha256);
        st = lb_tok_parse(tok, json, len);
    }
    free(json);
    if (lb_failed(&st)) {
        lb_tokenizer_free(tok);
        return st;
    }
    resolve_special(tok);
    *out = tok;
    return lb_ok();
}

void lb_tokenizer_free(lb_tokenizer *tok)
{
    if (!tok) return;
    free(tok->path);
    lb_strmap_free(&tok->vocab);
    lb_strmap_free(&tok->added_map);
    free(tok->merges);
    free(tok->unk_token);
    free(tok->prefix);
    free(tok->suffix);
    for (int64_t i = 0; tok->id_tok && i < tok->n_ids; i++) free(tok->id_tok[i]);
    free(tok->id_tok);
    free(tok->id_len);
    for (int i = 0; i < tok->n_norms; i++) {
        free(tok->norms[i].str);
        lb_tok_re_free(&tok->norms[i].re);
    }
    free(tok->norms);
    for (int i = 0; i < tok->n_pres; i++) lb_tok_re_free(&tok->pres[i].re);
    free(tok->pres);
    for (int i = 0; i < tok->n_decs; i++) {
        free(tok->decs[i].pat);
        free(tok->decs[i].content);
    }
    free(tok->decs);
    for (int i = 0; i < tok->n_added; i++) {
        free(tok->added[i].content);
        free(tok->added[i].match);
    }
    free(tok->added);
    free(tok->raw_set.order);
    free(tok->norm_set.order);
    lb_tok_re_free(&tok->word_re);
    free(tok);
}

/* encode_piece: normalize, split normalized added tokens, pre-tokenize, BPE. */
static lb_status encode_piece(const lb_tokenizer *tok, lb_tok_scratch *sc, const char *s, size_t n,
                              bool at_start, lb_tok_ids out)
{
    const char *t;
    size_t tn;
    LB_TRY(lb_tok_normalize(tok, sc, s, n, &t, &tn));
    lb_tok_seg one = {0, tn, -1}, *segs = &one;
    size_t ns = 1;
    if (tok->norm_set.n > 0) LB_TRY(lb_tok_added_split(tok, &tok->norm_set, t, tn, sc->md, &segs, &ns));
    lb_status st = lb_ok();
    for (size_t i = 0; i < ns && !lb_failed(&st); i++) {
        if (segs[i].id >= 0) {
            st = lb_tok_ids_push(out, segs[i].id);
            continue;
        }
        lb_tok_piece in = {t + segs[i].start, segs[i].end - segs[i].start, at_start && segs[i].start == 0};
        lb_tok_piece *pieces;
        size_t np;
        st = lb_tok_pretokenize(tok, sc, in, &pieces, &np);
        for (size_t k = 0; k < np && !lb_failed(&st); k++) st = lb_tok_bpe(tok, sc, pieces[k].s, pieces[k].len, out);
    }
    if (segs != &one) free(segs);
    return st;
}

lb_status lb_tokenizer_encode(const lb_tokenizer *tok, const char *text, size_t len,
                              int32_t **ids, size_t *n, size_t *cap)
{
    lb_tok_scratch sc = {0};
    lb_tok_ids out = {ids, n, cap};
    lb_tok_seg *segs = NULL;
    size_t ns = 0;
    /* a cache of pre-token -> ids pays off once a text repeats its words */
    sc.use_cache = len >= (16u << 10);
    sc.md = pcre2_match_data_create(16, NULL);
    if (!sc.md) return lb_errorf(LB_ERR_OOM, "out of memory");
    lb_status st = lb_tok_added_split(tok, &tok->raw_set, text, len, sc.md, &segs, &ns);
    for (size_t i = 0; i < ns && !lb_failed(&st); i++) {
        if (segs[i].id >= 0) st = lb_tok_ids_push(out, segs[i].id);
        else st = encode_piece(tok, &sc, text + segs[i].start, segs[i].end - segs[i].start, segs[i].start == 0, out);
    }
    free(segs);
    lb_tok_scratch_free(&sc);
    return st;
}

char *lb_tokenizer_decode(const lb_tokenizer *tok, const int32_t *ids, size_t n)
{
    return lb_tok_decode(tok, ids, n);
}

int64_t lb_tokenizer_vocab_size(const lb_tokenizer *tok) { return tok->n_ids; }
int32_t lb_tokenizer_eos_id(const lb_tokenizer *tok) { return tok->eos; }
int32_t lb_tokenizer_bos_id(const lb_tokenizer *tok) { return tok->bos; }
const char *lb_tokenizer_sha256(const lb_tokenizer *tok) { return tok->sha256; }

int32_t lb_tokenizer_token_id(const lb_tokenizer *tok, const char *token)
{
    int32_t id;
    size_t n = strlen(token);
    if (lb_strmap_get(&tok->added_map, token, n, &id)) return id;
    if (lb_strmap_get(&tok->vocab, token, n, &id)) return id;
    return -1;
}
