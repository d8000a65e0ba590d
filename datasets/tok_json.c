/* tok_json.c — reads a Hugging Face tokenizer.json into an lb_tokenizer.
 *
 * Understands the BPE model (vocab, merges as "a b" strings or ["a","b"]
 * pairs, unk_token, fuse_unk, byte_fallback, ignore_merges, subword prefix /
 * suffix), added_tokens, the normalizers Prepend / Replace / NFC / NFD / NFKC /
 * NFKD / Lowercase / Strip / StripAccents / Sequence, the
 * pre-tokenizers ByteLevel / Split / Metaspace / Sequence and the decoders
 * ByteLevel / Metaspace / Replace / ByteFallback / Fuse / Strip / Sequence.
 * Anything else is refused with an error naming the file and the component.
 * The post_processor is ignored on purpose (lowbit adds no BOS/EOS itself).
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "datasets/tok_internal.h"
#include "datasets/utf8.h"

static const char GPT2_REGEX[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

/* Rust regex `\w`: Alphabetic, marks, decimal digits, connector punctuation, Join_Control */
static const char WORD_REGEX[] = "^[\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}\\p{Join_Control}]";

static const char *jstr(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static bool jbool(const cJSON *o, const char *key, bool dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (cJSON_IsBool(v)) return cJSON_IsTrue(v);
    return dflt;
}

static const char *jtype(const cJSON *o)
{
    const char *t = jstr(o, "type");
    return t ? t : "(no type)";
}

static char *dupn(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d) { memcpy(d, s, n); d[n] = '\0'; }
    return d;
}

/* pattern: {"String": s} or {"Regex": r}; compiled into re. */
static lb_status parse_pattern(const lb_tokenizer *tok, const cJSON *o, const char *what, lb_tok_re *re)
{
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(o, "pattern");
    const char *s = jstr(p, "String"), *r = jstr(p, "Regex");
    if (!s && !r)
        return lb_errorf(LB_ERR_FORMAT, "%s: %s: \"pattern\" must be {\"String\": ...} or {\"Regex\": ...}",
                         tok->path, what);
    char ctx[256];
    snprintf(ctx, sizeof ctx, "%s: %s", tok->path, what);
    return lb_tok_re_compile(re, s ? s : r, strlen(s ? s : r), s != NULL, ctx);
}

static bool one_char(const char *s, char out[4], int *len)
{
    if (!s || !*s) return false;
    uint32_t cp;
    size_t n = strlen(s);
    int l = lb_utf8_next(s, n, &cp);
    if ((size_t)l != n || cp == 0xFFFFFFFFu) return false;
    memcpy(out, s, (size_t)l);
    *len = l;
    return true;
}

static lb_tok_prepend parse_prepend(const cJSON *o, bool *ok)
{
    const char *ps = jstr(o, "prepend_scheme");
    *ok = true;
    if (!ps) return jbool(o, "add_prefix_space", true) ? LB_PREPEND_ALWAYS : LB_PREPEND_NEVER;
    if (!strcmp(ps, "always")) return LB_PREPEND_ALWAYS;
    if (!strcmp(ps, "first")) return LB_PREPEND_FIRST;
    if (!strcmp(ps, "never")) return LB_PREPEND_NEVER;
    *ok = false;
    return LB_PREPEND_NEVER;
}

/* ---- normalizer ------------------------------------------------------------ */

static lb_status add_norm(lb_tokenizer *tok, const cJSON *o)
{
    const char *t = jtype(o);
    if (!strcmp(t, "Sequence")) {
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(o, "normalizers");
        const cJSON *e;
        cJSON_ArrayForEach(e, list) LB_TRY(add_norm(tok, e));
        return lb_ok();
    }
    lb_tok_norm nm = {0};
    if (!strcmp(t, "Prepend")) {
        const char *p = jstr(o, "prepend");
        if (!p) return lb_errorf(LB_ERR_FORMAT, "%s: normalizer Prepend has no \"prepend\"", tok->path);
        nm.kind = LB_NORM_PREPEND;
        nm.str = strdup(p);
    } else if (!strcmp(t, "Replace")) {
        const char *c = jstr(o, "content");
        if (!c) return lb_errorf(LB_ERR_FORMAT, "%s: normalizer Replace has no \"content\"", tok->path);
        nm.kind = LB_NORM_REPLACE;
        LB_TRY(parse_pattern(tok, o, "normalizer Replace", &nm.re));
        nm.str = strdup(c);
    } else if (!strcmp(t, "NFC") || !strcmp(t, "NFD") || !strcmp(t, "NFKC") || !strcmp(t, "NFKD")) {
        nm.kind = LB_NORM_UNICODE;
        nm.form = !strcmp(t, "NFC") ? LB_NF_C : !strcmp(t, "NFD") ? LB_NF_D : !strcmp(t, "NFKC") ? LB_NF_KC : LB_NF_KD;
    } else if (!strcmp(t, "Lowercase")) {
        nm.kind = LB_NORM_LOWERCASE;
    } else if (!strcmp(t, "StripAccents")) {
        nm.kind = LB_NORM_STRIP_ACCENTS;
    } else if (!strcmp(t, "Strip")) {
        nm.kind = LB_NORM_STRIP;
        nm.left = jbool(o, "strip_left", true);
        nm.right = jbool(o, "strip_right", true);
    } else {
        return lb_errorf(LB_ERR_UNSUPPORTED,
                         "%s: normalizer \"%s\" is not supported (lowbit supports Prepend, Replace, NFC, NFD, "
                         "NFKC, NFKD, Lowercase, Strip, StripAccents, Sequence)", tok->path, t);
    }
    if ((nm.kind == LB_NORM_PREPEND || nm.kind == LB_NORM_REPLACE) && !nm.str)
        return lb_errorf(LB_ERR_OOM, "out of memory");
    nm.str_len = nm.str ? strlen(nm.str) : 0;
    lb_tok_norm *nn = realloc(tok->norms, (size_t)(tok->n_norms + 1) * sizeof *nn);
    if (!nn) return lb_errorf(LB_ERR_OOM, "out of memory");
    tok->norms = nn;
    tok->norms[tok->n_norms++] = nm;
    return lb_ok();
}

/* ---- pre-tokenizer ------------------------------------------------------------ */

static lb_status push_pre(lb_tokenizer *tok, lb_tok_pre pre)
{
    lb_tok_pre *np = realloc(tok->pres, (size_t)(tok->n_pres + 1) * sizeof *np);
    if (!np) return lb_errorf(LB_ERR_OOM, "out of memory");
    tok->pres = np;
    tok->pres[tok->n_pres++] = pre;
    return lb_ok();
}

static lb_status add_pre(lb_tokenizer *tok, const cJSON *o)
{
    const char *t = jtype(o);
    lb_tok_pre pre = {0};
    if (!strcmp(t, "Sequence")) {
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(o, "pretokenizers");
        const cJSON *e;
        cJSON_ArrayForEach(e, list) LB_TRY(add_pre(tok, e));
        return lb_ok();
    } else if (!strcmp(t, "ByteLevel")) {
        pre.kind = LB_PRE_BYTELEVEL;
        pre.add_prefix_space = jbool(o, "add_prefix_space", true);
        pre.use_regex = jbool(o, "use_regex", true);
        if (pre.use_regex) {
            char ctx[256];
            snprintf(ctx, sizeof ctx, "%s: pre_tokenizer ByteLevel", tok->path);
            LB_TRY(lb_tok_re_compile(&pre.re, GPT2_REGEX, strlen(GPT2_REGEX), false, ctx));
        }
    } else if (!strcmp(t, "Split")) {
        static const char *names[] = {"Removed", "Isolated", "MergedWithPrevious", "MergedWithNext",
                                      "Contiguous"};
        const char *b = jstr(o, "behavior");
        int k = 0;
        while (k < 5 && !(b && !strcmp(b, names[k]))) k++;
        if (k == 5)
            return lb_errorf(LB_ERR_FORMAT, "%s: pre_tokenizer Split: unknown behavior \"%s\"", tok->path,
                             b ? b : "(none)");
        pre.kind = LB_PRE_SPLIT;
        pre.behavior = (lb_tok_split_kind)k;
        pre.invert = jbool(o, "invert", false);
        LB_TRY(parse_pattern(tok, o, "pre_tokenizer Split", &pre.re));
    } else if (!strcmp(t, "Metaspace")) {
        bool ok;
        pre.kind = LB_PRE_METASPACE;
        if (!one_char(jstr(o, "replacement"), pre.repl, &pre.repl_len))
            return lb_errorf(LB_ERR_FORMAT, "%s: pre_tokenizer Metaspace: \"replacement\" must be one character",
                             tok->path);
        pre.prepend = parse_prepend(o, &ok);
        if (!ok) return lb_errorf(LB_ERR_FORMAT, "%s: pre_tokenizer Metaspace: bad prepend_scheme", tok->path);
        pre.split = jbool(o, "split", true);
    } else {
        return lb_errorf(LB_ERR_UNSUPPORTED,
                         "%s: pre_tokenizer \"%s\" is not supported (lowbit supports ByteLevel, Split, "
                         "Metaspace, Sequence)", tok->path, t);
    }
    return push_pre(tok, pre);
}

/* ---- decoder -------------------------------------------------------------------- */

static lb_status add_dec(lb_tokenizer *tok, const cJSON *o)
{
    const char *t = jtype(o);
    lb_tok_dec d = {0};
    if (!strcmp(t, "Sequence")) {
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(o, "decoders");
        const cJSON *e;
        cJSON_ArrayForEach(e, list) LB_TRY(add_dec(tok, e));
        return lb_ok();
    } else if (!strcmp(t, "ByteLevel")) {
        d.kind = LB_DEC_BYTELEVEL;
    } else if (!strcmp(t, "ByteFallback")) {
        d.kind = LB_DEC_BYTEFALLBACK;
    } else if (!strcmp(t, "Fuse")) {
        d.kind = LB_DEC_FUSE;
    } else if (!strcmp(t, "Metaspace")) {
        bool ok;
        d.kind = LB_DEC_METASPACE;
        if (!one_char(jstr(o, "replacement"), d.repl, &d.repl_len))
            return lb_errorf(LB_ERR_FORMAT, "%s: decoder Metaspace: \"replacement\" must be one character",
                             tok->path);
        d.prepend = parse_prepend(o, &ok);
        if (!ok) return lb_errorf(LB_ERR_FORMAT, "%s: decoder Metaspace: bad prepend_scheme", tok->path);
    } else if (!strcmp(t, "Replace")) {
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(o, "pattern");
        const char *s = jstr(p, "String"), *c = jstr(o, "content");
        if (!s || !c)
            return lb_errorf(LB_ERR_UNSUPPORTED,
                             "%s: decoder Replace: only {\"String\": ...} patterns with a content are supported",
                             tok->path);
        d.kind = LB_DEC_REPLACE;
        d.pat = strdup(s);
        d.content = strdup(c);
        if (!d.pat || !d.content) { free(d.pat); free(d.content); return lb_errorf(LB_ERR_OOM, "out of memory"); }
        d.pat_len = strlen(s);
        d.content_len = strlen(c);
    } else if (!strcmp(t, "Strip")) {
        char ch[4];
        int cl;
        const cJSON *st = cJSON_GetObjectItemCaseSensitive(o, "start");
        const cJSON *sp = cJSON_GetObjectItemCaseSensitive(o, "stop");
        if (!one_char(jstr(o, "content"), ch, &cl) || !cJSON_IsNumber(st) || !cJSON_IsNumber(sp))
            return lb_errorf(LB_ERR_FORMAT, "%s: decoder Strip needs \"content\" (one character), \"start\", \"stop\"",
                             tok->path);
        d.kind = LB_DEC_STRIP;
        lb_utf8_next(ch, (size_t)cl, &d.strip_cp);
        d.start = st->valueint;
        d.stop = sp->valueint;
    } else {
        return lb_errorf(LB_ERR_UNSUPPORTED,
                         "%s: decoder \"%s\" is not supported (lowbit supports ByteLevel, Metaspace, Replace, "
                         "ByteFallback, Fuse, Strip, Sequence)", tok->path, t);
    }
    lb_tok_dec *nd = realloc(tok->decs, (size_t)(tok->n_decs + 1) * sizeof *nd);
    if (!nd) { free(d.pat); free(d.content); return lb_errorf(LB_ERR_OOM, "out of memory"); }
    tok->decs = nd;
    tok->decs[tok->n_decs++] = d;
    return lb_ok();
}

/* ---- model ------------------------------------------------------------------------- */

static lb_status vocab_id(const lb_tokenizer *tok, const char *s, size_t n, int32_t *id, int rank)
{
    if (lb_strmap_get(&tok->vocab, s, n, id)) return lb_ok();
    return lb_errorf(LB_ERR_FORMAT, "%s: merge %d uses \"%.*s\", which is not in the vocabulary", tok->path,
                     rank + 1, (int)(n > 200 ? 200 : n), s);
}

static lb_status parse_merges(lb_tokenizer *tok, const cJSON *merges)
{
    int n = cJSON_GetArraySize(merges);
    LB_TRY(lb_tok_merges_init(tok, (size_t)n));
    int rank = 0;
    char *buf = NULL;
    size_t cap = 0;
    const cJSON *e;
    lb_status st = lb_ok();
    cJSON_ArrayForEach(e, merges) {
        const char *a, *b;
        size_t al, bl;
        if (cJSON_IsString(e)) {
            const char *s = e->valuestring;
            if (!strncmp(s, "#version", 8)) continue;
            const char *sp = strchr(s, ' ');
            if (!sp || strchr(sp + 1, ' ')) {
                st = lb_errorf(LB_ERR_FORMAT, "%s: merge %d (\"%.200s\") is not two tokens separated by one space",
                               tok->path, rank + 1, s);
                break;
            }
            a = s; al = (size_t)(sp - s);
            b = sp + 1; bl = strlen(b);
        } else if (cJSON_IsArray(e) && cJSON_GetArraySize(e) == 2 && cJSON_IsString(cJSON_GetArrayItem(e, 0)) &&
                   cJSON_IsString(cJSON_GetArrayItem(e, 1))) {
            a = cJSON_GetArrayItem(e, 0)->valuestring; al = strlen(a);
            b = cJSON_GetArrayItem(e, 1)->valuestring; bl = strlen(b);
        } else {
            st = lb_errorf(LB_ERR_FORMAT, "%s: merge %d is neither \"a b\" nor [\"a\", \"b\"]", tok->path, rank + 1);
            break;
        }
        int32_t ia, ib, im;
        st = vocab_id(tok, a, al, &ia, rank);
        if (!lb_failed(&st)) st = vocab_id(tok, b, bl, &ib, rank);
        if (lb_failed(&st)) break;
        size_t skip = tok->prefix && bl >= tok->prefix_len ? tok->prefix_len : 0;
        if (al + bl + 1 > cap) {
            cap = 2 * (al + bl + 1);
            char *nb = realloc(buf, cap);
            if (!nb) { st = lb_errorf(LB_ERR_OOM, "out of memory"); break; }
            buf = nb;
        }
        memcpy(buf, a, al);
        memcpy(buf + al, b + skip, bl - skip);
        st = vocab_id(tok, buf, al + bl - skip, &im, rank);
        if (lb_failed(&st)) break;
        st = lb_tok_merges_add(tok, ia, ib, im, rank);
        if (lb_failed(&st)) break;
        rank++;
    }
    free(buf);
    return st;
}

static lb_status opt_string(const lb_tokenizer *tok, const cJSON *m, const char *key, char **out, size_t *len)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(m, key);
    if (!v || cJSON_IsNull(v)) return lb_ok();
    if (!cJSON_IsString(v)) return lb_errorf(LB_ERR_FORMAT, "%s: model.%s must be a string or null", tok->path, key);
    *out = strdup(v->valuestring);
    if (!*out) return lb_errorf(LB_ERR_OOM, "out of memory");
    if (len) *len = strlen(*out);
    return lb_ok();
}

static lb_status parse_model(lb_tokenizer *tok, const cJSON *m, int64_t *max_id)
{
    const char *type = jstr(m, "type");
    if (!type) {
        /* untagged (older files): BPE is the model with merges */
        if (!cJSON_GetObjectItemCaseSensitive(m, "merges"))
            return lb_errorf(LB_ERR_UNSUPPORTED, "%s: model has no \"type\" and no \"merges\"; only BPE is supported",
                             tok->path);
        type = "BPE";
    }
    if (strcmp(type, "BPE") != 0)
        return lb_errorf(LB_ERR_UNSUPPORTED, "%s: model type \"%s\" is not supported (lowbit supports BPE)",
                         tok->path, type);
    const cJSON *dropout = cJSON_GetObjectItemCaseSensitive(m, "dropout");
    if (cJSON_IsNumber(dropout) && dropout->valuedouble > 0)
        return lb_errorf(LB_ERR_UNSUPPORTED, "%s: BPE dropout %g is not supported (encoding would be random)",
                         tok->path, dropout->valuedouble);
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(m, "vocab");
    const cJSON *merges = cJSON_GetObjectItemCaseSensitive(m, "merges");
    if (!cJSON_IsObject(vocab)) return lb_errorf(LB_ERR_FORMAT, "%s: model.vocab must be an object", tok->path);
    if (merges && !cJSON_IsArray(merges))
        return lb_errorf(LB_ERR_FORMAT, "%s: model.merges must be an array", tok->path);
    tok->ignore_merges = jbool(m, "ignore_merges", false);
    tok->byte_fallback = jbool(m, "byte_fallback", false);
    tok->fuse_unk = jbool(m, "fuse_unk", false);
    LB_TRY(opt_string(tok, m, "unk_token", &tok->unk_token, NULL));
    LB_TRY(opt_string(tok, m, "continuing_subword_prefix", &tok->prefix, &tok->prefix_len));
    LB_TRY(opt_string(tok, m, "end_of_word_suffix", &tok->suffix, &tok->suffix_len));
    const cJSON *e;
    cJSON_ArrayForEach(e, vocab) {
        if (!cJSON_IsNumber(e) || e->valuedouble < 0 || e->valuedouble > INT32_MAX - 1)
            return lb_errorf(LB_ERR_FORMAT, "%s: model.vocab[\"%.200s\"] is not a valid id", tok->path, e->string);
        int32_t id = (int32_t)e->valuedouble;
        if (!lb_strmap_put(&tok->vocab, e->string, strlen(e->string), id))
            return lb_errorf(LB_ERR_OOM, "out of memory");
        if (id > *max_id) *max_id = id;
    }
    if (merges) LB_TRY(parse_merges(tok, merges));
    return lb_ok();
}

static lb_status parse_added(lb_tokenizer *tok, const cJSON *list, int64_t *max_id)
{
    if (!list || cJSON_IsNull(list)) return lb_ok();
    if (!cJSON_IsArray(list)) return lb_errorf(LB_ERR_FORMAT, "%s: added_tokens must be an array", tok->path);
    int n = cJSON_GetArraySize(list);
    tok->added = calloc((size_t)n + 1, sizeof *tok->added);
    if (!tok->added) return lb_errorf(LB_ERR_OOM, "out of memory");
    const cJSON *e;
    cJSON_ArrayForEach(e, list) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(e, "id");
        const char *c = jstr(e, "content");
        if (!cJSON_IsNumber(id) || id->valuedouble < 0 || id->valuedouble > INT32_MAX - 1 || !c)
            return lb_errorf(LB_ERR_FORMAT, "%s: added_tokens[%d] needs an \"id\" and a \"content\"", tok->path,
                             tok->n_added);
        lb_added_tok *a = &tok->added[tok->n_added++];
        a->id = (int32_t)id->valuedouble;
        a->content = strdup(c);
        if (!a->content) return lb_errorf(LB_ERR_OOM, "out of memory");
        a->len = strlen(c);
        a->single_word = jbool(e, "single_word", false);
        a->lstrip = jbool(e, "lstrip", false);
        a->rstrip = jbool(e, "rstrip", false);
        a->special = jbool(e, "special", false);
        a->normalized = jbool(e, "normalized", !a->special);
        if (!lb_strmap_put(&tok->added_map, a->content, a->len, a->id)) return lb_errorf(LB_ERR_OOM, "out of memory");
        if (a->id > *max_id) *max_id = a->id;
    }
    return lb_ok();
}

/* fill_ids: the id -> token table, model vocab first, added tokens over it. */
static lb_status fill_ids(lb_tokenizer *tok, const cJSON *vocab, int64_t max_id)
{
    tok->n_ids = max_id + 1;
    tok->id_tok = calloc((size_t)tok->n_ids + 1, sizeof *tok->id_tok);
    tok->id_len = calloc((size_t)tok->n_ids + 1, sizeof *tok->id_len);
    if (!tok->id_tok || !tok->id_len) return lb_errorf(LB_ERR_OOM, "out of memory");
    const cJSON *e;
    cJSON_ArrayForEach(e, vocab) {
        int32_t id = (int32_t)e->valuedouble;
        if (tok->id_tok[id]) continue;  /* two tokens with one id: the first wins */
        tok->id_tok[id] = strdup(e->string);
        if (!tok->id_tok[id]) return lb_errorf(LB_ERR_OOM, "out of memory");
        tok->id_len[id] = strlen(e->string);
    }
    for (int i = 0; i < tok->n_added; i++) {
        lb_added_tok *a = &tok->added[i];
        char *d = dupn(a->content, a->len);
        if (!d) return lb_errorf(LB_ERR_OOM, "out of memory");
        free(tok->id_tok[a->id]);
        tok->id_tok[a->id] = d;
        tok->id_len[a->id] = a->len;
    }
    return lb_ok();
}

static void byte_tables(lb_tokenizer *tok)
{
    tok->bytes_complete = true;
    for (unsigned b = 0; b < 256; b++) {
        char s[8];
        int l = lb_utf8_encode(lb_tok_byte_char(b), s);
        if (!lb_strmap_get(&tok->vocab, s, (size_t)l, &tok->byte_ids[b])) {
            tok->byte_ids[b] = -1;
            tok->bytes_complete = false;
        }
        snprintf(s, sizeof s, "<0x%02X>", b);
        if (!lb_strmap_get(&tok->vocab, s, 6, &tok->byte_fb[b])) tok->byte_fb[b] = -1;
    }
}

static lb_status parse_root(lb_tokenizer *tok, const cJSON *root)
{
    if (!cJSON_IsObject(root)) return lb_errorf(LB_ERR_FORMAT, "%s: top level is not a JSON object", tok->path);
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    if (!cJSON_IsObject(model))
        return lb_errorf(LB_ERR_FORMAT, "%s: no \"model\" object: not a tokenizer.json of the tokenizers library",
                         tok->path);
    const cJSON *norm = cJSON_GetObjectItemCaseSensitive(root, "normalizer");
    const cJSON *pre = cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer");
    const cJSON *dec = cJSON_GetObjectItemCaseSensitive(root, "decoder");
    if (norm && !cJSON_IsNull(norm)) LB_TRY(add_norm(tok, norm));
    if (pre && !cJSON_IsNull(pre)) LB_TRY(add_pre(tok, pre));
    if (dec && !cJSON_IsNull(dec)) {
        LB_TRY(add_dec(tok, dec));
        tok->has_decoder = true;
    }
    int64_t max_id = -1;
    LB_TRY(parse_model(tok, model, &max_id));
    LB_TRY(parse_added(tok, cJSON_GetObjectItemCaseSensitive(root, "added_tokens"), &max_id));
    LB_TRY(fill_ids(tok, cJSON_GetObjectItemCaseSensitive(model, "vocab"), max_id));
    tok->byte_level_last = tok->n_pres > 0 && tok->pres[tok->n_pres - 1].kind == LB_PRE_BYTELEVEL;
    byte_tables(tok);
    char ctx[256];
    snprintf(ctx, sizeof ctx, "%s: word regex", tok->path);
    LB_TRY(lb_tok_re_compile(&tok->word_re, WORD_REGEX, strlen(WORD_REGEX), false, ctx));
    return lb_tok_added_build(tok);
}

lb_status lb_tok_parse(lb_tokenizer *tok, const char *json, size_t len)
{
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!root) {
        const char *at = cJSON_GetErrorPtr();
        size_t off = at && at >= json && at <= json + len ? (size_t)(at - json) : 0;
        return lb_errorf(LB_ERR_FORMAT, "%s: malformed JSON near byte %zu", tok->path, off);
    }
    lb_status st = parse_root(tok, root);
    cJSON_Delete(root);
    return st;
}
