/* test_gguf.c — GGUF files (quant/gguf.h) and their tokenizer keys.
 *
 * Without arguments:
 *   - metadata of every setter and tensors of odd sizes survive a write and
 *     a read (padding, offsets, alignment);
 *   - for every type lowbit exports (q4_0 q4_1 q5_0 q5_1 q8_0 q4_k q6_k f16
 *     bf16 f32): the bytes written are the bytes read back, and decoding them
 *     (lb_packed_ggml_decode, by range and by row index) gives the
 *     fake-quant forward's w^ bit for bit;
 *   - bad files (truncated at many lengths, wrong magic, versions 0, 1, 4,
 *     the other endianness, offsets out of order, an unknown type id, a
 *     64-byte name, duplicate keys and names, nested arrays, a bad
 *     alignment, ne0 not whole blocks) are refused with a message naming
 *     the field;
 *   - byte-level BPE tokenizers (GPT-2, Llama-3, Qwen2 pre-tokenizers) are
 *     recognised by name, and rebuilt from their GGUF view they encode the
 *     library's ids for every case of tests/data/tok; SentencePiece refused;
 * (Models exported and loaded back: test_gguf_model.c.)
 * With `--write DIR` (test_gguf_py.sh): writes DIR/types.gguf (one tensor
 * per type) and DIR/expected.gguf (the same names, F32 w^) for the gguf
 * package to compare.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "autograd/ctx.h"
#include "datasets/tok_ggml.h"
#include "fixture.h"
#include "harness.h"
#include "layers/fileio.h"
#include "quant/ggml_pack.h"
#include "quant/gguf.h"
#include "quant/packed_ggml.h"
#include "quant/quantizer.h"

static const char *k_types[] = {"q4_0", "q4_1", "q5_0", "q5_1", "q8_0", "q4_k", "q6_k", "f16", "bf16", "f32"};
#define N_TYPES (int)(sizeof k_types / sizeof k_types[0])
#define ROWS 6
#define COLS 512

static char g_dir[256];

/* okay: st succeeded (its message is reported when not) */
static bool okay(lb_status st)
{
    if (lb_failed(&st)) fprintf(stderr, "  unexpected error: %s\n", st.msg);
    return !lb_failed(&st);
}

/* weight: ROWS x COLS of random values with a zero block, a constant block
 * and one large value (the quantizers' edge cases) */
static void weight(float *w, uint64_t seed)
{
    lb_test_rand(w, ROWS * COLS, seed, -1.0f, 1.0f);
    for (int i = 0; i < 32; i++) w[COLS + i] = 0.0f;
    for (int i = 0; i < 32; i++) w[2 * COLS + 64 + i] = 0.25f;
    w[3 * COLS + 5] = 40.0f;
}

/* encode: the type's bytes of w and its w^ (the fake-quant forward, or the
 * float conversion), as the exporter makes them. */
static bool encode(const char *type, const float *w, uint8_t *bytes, float *what, int *ggml)
{
    int64_t shape[2] = {ROWS, COLS};
    if (!strcmp(type, "f32") || !strcmp(type, "f16") || !strcmp(type, "bf16")) {
        lb_dtype dt = !strcmp(type, "f32") ? LB_F32 : !strcmp(type, "f16") ? LB_F16 : LB_BF16;
        *ggml = dt == LB_F32 ? LB_GGML_F32 : dt == LB_F16 ? LB_GGML_F16 : LB_GGML_BF16;
        if (dt == LB_F32) memcpy(bytes, w, sizeof(float) * ROWS * COLS);
        else lb_convert_from_f32(bytes, w, dt, ROWS * COLS);
        lb_convert_to_f32(what, bytes, dt, ROWS * COLS);
        return true;
    }
    lb_qspec sp;
    lb_quantizer q;
    lb_status st = lb_qspec_parse(type, LB_QROLE_WEIGHT, &sp);
    lb_tensor *wt = lb_tensor_alloc(LB_F32, 2, shape);
    memcpy(wt->data, w, sizeof(float) * ROWS * COLS);
    if (!lb_failed(&st)) st = lb_quantizer_init(&q, &sp, wt, "t.weight");
    if (lb_failed(&st)) {
        lb_test_fail(__FILE__, __LINE__, "%s: %s", type, st.msg);
        lb_tensor_free(wt);
        return false;
    }
    int64_t G = q.n_groups;
    uint8_t *codes = malloc(ROWS * COLS);
    float *s = malloc(sizeof(float) * ROWS * (size_t)G), *z = malloc(sizeof(float) * ROWS * (size_t)G);
    lb_quantizer_run(&q, w, s, z, what, codes);
    *ggml = lb_ggml_type_id(sp.format);
    int64_t rb = lb_ggml_row_bytes(*ggml, COLS);
    for (int r = 0; r < ROWS; r++) lb_ggml_pack_row(sp.format, codes + r * COLS, s + r * G, z + r * G, COLS, bytes + r * rb);
    free(codes);
    free(s);
    free(z);
    lb_quantizer_free(&q);
    lb_tensor_free(wt);
    return true;
}

/* write_types: DIR/types.gguf and DIR/expected.gguf; w^ of each type into what[t] */
static lb_status write_types(const char *types_path, const char *expected_path, uint8_t **bytes, float **what)
{
    lb_gguf *g = lb_gguf_new(), *e = lb_gguf_new();
    float w[ROWS * COLS];
    weight(w, 11);
    lb_status st = lb_ok();
    for (int t = 0; t < N_TYPES && !lb_failed(&st); t++) {
        int ggml;
        bytes[t] = malloc(4 * ROWS * COLS);
        what[t] = malloc(sizeof(float) * ROWS * COLS);
        if (!encode(k_types[t], w, bytes[t], what[t], &ggml)) {
            st = lb_errorf(LB_ERR_ARG, "encode %s", k_types[t]);
            break;
        }
        char name[64];
        snprintf(name, sizeof name, "w.%s", k_types[t]);
        int64_t ne[2] = {COLS, ROWS};
        st = lb_gguf_add_tensor(g, name, 2, ne, ggml, bytes[t]);
        if (!lb_failed(&st)) st = lb_gguf_add_tensor(e, name, 2, ne, LB_GGML_F32, what[t]);
    }
    if (!lb_failed(&st)) st = lb_gguf_set_str(g, "general.architecture", "lowbit-test");
    if (!lb_failed(&st)) st = lb_gguf_write(g, types_path);
    if (!lb_failed(&st)) st = lb_gguf_write(e, expected_path);
    lb_gguf_free(g);
    lb_gguf_free(e);
    return st;
}

static void test_metadata_roundtrip(void)
{
    lb_gguf *g = lb_gguf_new();
    const char *strs[] = {"a", "", "Ġthe"};
    const int32_t ints[] = {1, -2, 3};
    LB_EXPECT(okay(lb_gguf_set_u32(g, "x.u32", 7)));
    lb_status st = lb_gguf_set_i32(g, "x.i32", -5);
    if (!lb_failed(&st)) st = lb_gguf_set_f32(g, "x.f32", 0.1f);
    if (!lb_failed(&st)) st = lb_gguf_set_bool(g, "x.bool", true);
    if (!lb_failed(&st)) st = lb_gguf_set_str(g, "x.str", "héllo");
    if (!lb_failed(&st)) st = lb_gguf_set_arr_str(g, "x.strs", strs, NULL, 3);
    if (!lb_failed(&st)) st = lb_gguf_set_arr_i32(g, "x.ints", ints, 3);
    LB_EXPECTF(!lb_failed(&st), "%s", st.msg);
    LB_EXPECT(lb_gguf_set_u32(g, "x.u32", 1).code == LB_ERR_ARG); /* duplicate key */
    LB_EXPECT(lb_gguf_set_arr_i32(g, "x.empty", ints, 0).code == LB_ERR_ARG);
    float a[3] = {1, 2, 3}, b[5 * 7];
    for (int i = 0; i < 35; i++) b[i] = (float)i;
    int64_t ne_a[1] = {3}, ne_b[2] = {7, 5};
    LB_EXPECT(okay(lb_gguf_add_tensor(g, "a", 1, ne_a, LB_GGML_F32, a)));
    LB_EXPECT(okay(lb_gguf_add_tensor(g, "b", 2, ne_b, LB_GGML_F32, b)));
    char long_name[65];
    memset(long_name, 'n', 64);
    long_name[64] = '\0';
    LB_EXPECT(lb_gguf_add_tensor(g, long_name, 1, ne_a, LB_GGML_F32, a).code == LB_ERR_ARG);
    int64_t ne_q[1] = {48};
    LB_EXPECT(lb_gguf_add_tensor(g, "q", 1, ne_q, LB_GGML_Q4_0, b).code == LB_ERR_ARG); /* not whole blocks */
    const char *path = lb_test_path(g_dir, "meta.gguf");
    st = lb_gguf_write(g, path);
    LB_EXPECTF(!lb_failed(&st), "%s", st.msg);
    lb_gguf *r;
    st = lb_gguf_open(path, &r);
    LB_EXPECTF(!lb_failed(&st), "%s", st.msg);
    if (!lb_failed(&st)) {
        uint32_t u;
        float f;
        const char *s;
        const lb_gguf_kv *kv;
        LB_EXPECT(okay(lb_gguf_get_u32(r, "x.u32", true, 0, &u)) && u == 7);
        LB_EXPECT(okay(lb_gguf_get_f32(r, "x.f32", true, 0, &f)) && f == 0.1f);
        LB_EXPECT(okay(lb_gguf_get_str(r, "x.str", true, &s)) && !strcmp(s, "héllo"));
        LB_EXPECT(okay(lb_gguf_get_arr(r, "x.strs", LB_GGUF_STRING, &kv)) && kv->n == 3 &&
                  !strcmp(kv->str[2], "Ġthe") && kv->str_len[1] == 0);
        LB_EXPECT(okay(lb_gguf_get_arr(r, "x.ints", LB_GGUF_I32, &kv)) &&
                  ((int32_t *)kv->num)[1] == -2);
        lb_status e = lb_gguf_get_u32(r, "x.i32", true, 0, &u); /* wrong type */
        LB_EXPECTF(e.code == LB_ERR_FORMAT && strstr(e.msg, "x.i32") && strstr(e.msg, "INT32") && strstr(e.msg, "UINT32"),
                   "%s", e.msg);
        LB_EXPECT(r->n_t == 2 && r->t[1].offset == 32 && r->t[1].ne[0] == 7 && r->t[1].ne[1] == 5);
        LB_EXPECT(r->data_start % 32 == 0 && !memcmp(r->t[1].data, b, sizeof b));
        /* padding after the last tensor, as ggml and gguf-py write it */
        LB_EXPECT(r->map_len == r->data_start + 32 + 160);
        lb_gguf_free(r);
    }
    lb_gguf_free(g);
}

static void test_types_roundtrip(void)
{
    uint8_t *bytes[N_TYPES] = {0};
    float *what[N_TYPES] = {0};
    lb_status st = write_types(lb_test_path(g_dir, "types.gguf"), lb_test_path(g_dir, "expected.gguf"), bytes, what);
    LB_EXPECTF(!lb_failed(&st), "%s", st.msg);
    lb_gguf *r = NULL;
    if (!lb_failed(&st)) st = lb_gguf_open(lb_test_path(g_dir, "types.gguf"), &r);
    LB_EXPECTF(!lb_failed(&st), "%s", st.msg);
    for (int t = 0; r && t < N_TYPES; t++) {
        const lb_gguf_tensor *gt = &r->t[t];
        LB_EXPECTF(!memcmp(gt->data, bytes[t], (size_t)gt->nbytes), "%s: bytes read back differ", k_types[t]);
        lb_packed *p = lb_packed_new_ggml(gt->type, ROWS, COLS);
        memcpy(p->data->data, gt->data, (size_t)gt->nbytes);
        float out[ROWS * COLS], row[COLS];
        lb_packed_ggml_decode(p, 0, ROWS, NULL, out);
        LB_EXPECTF(!memcmp(out, what[t], sizeof out), "%s: decoded weights differ from the fake-quant forward",
                   k_types[t]);
        int32_t idx[1] = {3};
        lb_packed_ggml_decode(p, 0, 1, idx, row);
        LB_EXPECTF(!memcmp(row, what[t] + 3 * COLS, sizeof row), "%s: decoding row 3 by index differs", k_types[t]);
        lb_packed_free(p);
    }
    lb_gguf_free(r);
    for (int t = 0; t < N_TYPES; t++) {
        free(bytes[t]);
        free(what[t]);
    }
}

/* ---- bad files: a byte builder for hand-made GGUF ------------------------------- */

typedef struct buf {
    uint8_t d[4096];
    size_t n;
} buf;

static void put(buf *b, const void *p, size_t n) { memcpy(b->d + b->n, p, n), b->n += n; }
static void u32(buf *b, uint32_t v) { put(b, &v, 4); }
static void u64(buf *b, uint64_t v) { put(b, &v, 8); }
static void str(buf *b, const char *s) { u64(b, strlen(s)), put(b, s, strlen(s)); }

typedef struct mk {
    uint32_t version, type1, n_dims;
    const char *magic, *name0, *key1;
    uint64_t off1, ne0;
    bool nested, bad_align;
} mk;

/* make: two KVs, two F32 tensors of ne0 x 2 (offsets 0, off1) */
static buf make(mk o)
{
    buf b = {{0}, 0};
    put(&b, o.magic ? o.magic : "GGUF", 4);
    u32(&b, o.version ? o.version : 3);
    u64(&b, 2);
    u64(&b, 2);
    str(&b, "general.architecture");
    u32(&b, LB_GGUF_STRING);
    str(&b, "llama");
    str(&b, o.key1 ? o.key1 : "general.alignment");
    if (o.nested) {
        u32(&b, LB_GGUF_ARRAY), u32(&b, LB_GGUF_ARRAY), u64(&b, 1);
    } else {
        u32(&b, LB_GGUF_U32), u32(&b, o.bad_align ? 24 : 32);
    }
    uint64_t ne0 = o.ne0 ? o.ne0 : 8;
    str(&b, o.name0 ? o.name0 : "t0");
    u32(&b, 2), u64(&b, ne0), u64(&b, 2), u32(&b, 0), u64(&b, 0);
    str(&b, "t1");
    u32(&b, o.n_dims ? o.n_dims : 2), u64(&b, ne0), u64(&b, 2), u32(&b, o.type1), u64(&b, o.off1 ? o.off1 : 64);
    while (b.n % 32) b.d[b.n++] = 0;
    for (int i = 0; i < 128; i++) b.d[b.n++] = (uint8_t)i;
    return b;
}

/* expect_bad: the file made of b is refused with a message holding `what` */
static void expect_bad(const buf *b, size_t len, const char *what, const char *label)
{
    const char *path = lb_test_path(g_dir, "bad.gguf");
    FILE *f = fopen(path, "wb");
    fwrite(b->d, 1, len, f);
    fclose(f);
    lb_gguf *g = NULL;
    lb_status st = lb_gguf_open(path, &g);
    LB_EXPECTF(lb_failed(&st) && strstr(st.msg, what) && strstr(st.msg, path),
               "%s: expected an error naming the file and \"%s\", got \"%s\"", label, what,
               lb_failed(&st) ? st.msg : "success");
    lb_gguf_free(g);
}

static void test_bad_files(void)
{
    buf ok = make((mk){0});
    const char *path = lb_test_path(g_dir, "ok.gguf");
    FILE *f = fopen(path, "wb");
    fwrite(ok.d, 1, ok.n, f);
    fclose(f);
    lb_gguf *g = NULL;
    lb_status st = lb_gguf_open(path, &g);
    LB_EXPECTF(!lb_failed(&st), "the well-formed hand-made file: %s", st.msg);
    lb_gguf_free(g);
    for (size_t len = 0; len < ok.n; len += len < 64 ? 1 : 7) {
        char label[48];
        snprintf(label, sizeof label, "truncated at %zu", len);
        expect_bad(&ok, len, len < 4 ? "truncated" : "truncated", label);
    }
    buf b = make((mk){.magic = "GGML"});
    expect_bad(&b, b.n, "magic", "wrong magic");
    b = make((mk){.version = 0x0});
    b.d[4] = 0, b.d[5] = 0, b.d[6] = 0, b.d[7] = 0; /* version 0 (make's 0 means 3) */
    expect_bad(&b, b.n, "version 0", "version 0");
    b = make((mk){.version = 1});
    expect_bad(&b, b.n, "version 1", "version 1");
    b = make((mk){.version = 4});
    expect_bad(&b, b.n, "version 4", "version 4");
    b = make((mk){.version = 0x03000000});
    expect_bad(&b, b.n, "endianness", "big-endian");
    b = make((mk){.off1 = 96});
    expect_bad(&b, b.n, "offset", "offsets out of order");
    b = make((mk){.type1 = 4});
    expect_bad(&b, b.n, "type id 4", "removed type id 4");
    b = make((mk){.type1 = 99});
    expect_bad(&b, b.n, "type id 99", "unknown type id 99");
    char n64[65];
    memset(n64, 'x', 64);
    n64[64] = '\0';
    b = make((mk){.name0 = n64});
    expect_bad(&b, b.n, "at most 63", "64-byte name");
    b = make((mk){.key1 = "general.architecture"});
    expect_bad(&b, b.n, "appears twice", "duplicate key");
    b = make((mk){.name0 = "t1"});
    expect_bad(&b, b.n, "appears twice", "duplicate tensor name");
    b = make((mk){.nested = true});
    expect_bad(&b, b.n, "array of arrays", "nested array");
    b = make((mk){.bad_align = true});
    expect_bad(&b, b.n, "general.alignment", "alignment 24");
    b = make((mk){.type1 = LB_GGML_Q4_0, .off1 = 64});
    expect_bad(&b, b.n, "block size", "ne0 = 8 of Q4_0");
    b = make((mk){.n_dims = 5});
    expect_bad(&b, b.n, "n_dims", "5 dims");
    b = make((mk){.key1 = ""});
    expect_bad(&b, b.n, "empty key", "empty key");
}

/* ---- tokenizers: the GGUF view and back ------------------------------------------- */

/* tok_case: tokenizer tests/data/tok/<dir> is recognised as `pre`, and the
 * tokenizer rebuilt from its GGUF view encodes every text of cases.json to
 * the library's ids and decodes them back the same */
static void tok_case(const char *dir, const char *pre)
{
    char path[256];
    snprintf(path, sizeof path, "data/tok/%s/tokenizer.json", dir);
    lb_tokenizer *tok = NULL, *back = NULL;
    lb_status st = lb_tokenizer_load(path, &tok);
    LB_EXPECTF(!lb_failed(&st), "%s", st.msg);
    if (lb_failed(&st)) return;
    lb_tok_ggml g;
    st = lb_tok_ggml_from(tok, lb_tokenizer_vocab_size(tok) + 3, &g); /* 3 [PAD] fillers */
    LB_EXPECTF(!lb_failed(&st), "%s: %s", dir, st.msg);
    if (!lb_failed(&st)) {
        LB_EXPECTF(!strcmp(g.pre, pre), "%s: pre-tokenizer recognised as %s, expected %s", dir, g.pre, pre);
        LB_EXPECT(g.types[g.n - 1] == LB_TOKTYPE_UNUSED && !strncmp(g.tokens[g.n - 1], "[PAD", 4));
        st = lb_tokenizer_from_ggml(&g, "test", &back);
        LB_EXPECTF(!lb_failed(&st), "%s: %s", dir, st.msg);
    }
    char *json = NULL;
    snprintf(path, sizeof path, "data/tok/%s/cases.json", dir);
    cJSON *cases = NULL;
    if (back) {
        st = lb_read_file(path, &json, NULL);
        LB_EXPECTF(!lb_failed(&st), "%s", st.msg);
        if (!lb_failed(&st)) cases = cJSON_Parse(json);
    }
    int n = 0;
    const cJSON *c;
    /* the added tokens whose lstrip/rstrip/single_word flags GGUF cannot hold */
    char *tj = NULL;
    snprintf(path, sizeof path, "data/tok/%s/tokenizer.json", dir);
    cJSON *tjson = okay(lb_read_file(path, &tj, NULL)) ? cJSON_Parse(tj) : NULL;
    const char *lossy[16];
    int n_lossy = 0;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(tjson, "added_tokens")) {
        bool flags = cJSON_IsTrue(cJSON_GetObjectItem(c, "lstrip")) || cJSON_IsTrue(cJSON_GetObjectItem(c, "rstrip")) ||
                     cJSON_IsTrue(cJSON_GetObjectItem(c, "single_word"));
        if (flags && n_lossy < 16) lossy[n_lossy++] = cJSON_GetObjectItem(c, "content")->valuestring;
    }
    LB_EXPECTF(!back || g.lossy_added == n_lossy, "%s: %d lossy added tokens counted, %d in the file", dir,
               back ? g.lossy_added : -1, n_lossy);
    cJSON_ArrayForEach(c, cases) {
        const char *text = cJSON_GetObjectItem(c, "text")->valuestring;
        bool skip = false;
        for (int k = 0; k < n_lossy; k++) skip |= strstr(text, lossy[k]) != NULL;
        if (skip) continue;
        const cJSON *want = cJSON_GetObjectItem(c, "ids");
        int32_t *ids = NULL;
        size_t ni = 0, cap = 0;
        st = lb_tokenizer_encode(back, text, strlen(text), &ids, &ni, &cap);
        bool same = !lb_failed(&st) && ni == (size_t)cJSON_GetArraySize(want);
        for (size_t k = 0; same && k < ni; k++) same = ids[k] == cJSON_GetArrayItem(want, (int)k)->valueint;
        LB_EXPECTF(same, "%s: case %d: the rebuilt tokenizer's ids differ from the library's", dir, n);
        char *a = lb_tokenizer_decode(back, ids, ni), *b = lb_tokenizer_decode(tok, ids, ni);
        LB_EXPECTF(a && b && !strcmp(a, b), "%s: case %d: decoding differs", dir, n);
        free(a);
        free(b);
        free(ids);
        n++;
    }
    LB_EXPECTF(!back || n > 0, "%s: no cases read", dir);
    LB_EXPECT(!back || (lb_tokenizer_eos_id(back) == lb_tokenizer_eos_id(tok) &&
                        lb_tokenizer_bos_id(back) == lb_tokenizer_bos_id(tok)));
    cJSON_Delete(cases);
    cJSON_Delete(tjson);
    free(tj);
    free(json);
    if (back) lb_tok_ggml_free(&g);
    lb_tokenizer_free(back);
    lb_tokenizer_free(tok);
}

static void test_tokenizers(void)
{
    tok_case("bytelevel", "gpt-2");
    tok_case("llama3", "llama-bpe");
    tok_case("qwen2", "qwen2");
    lb_tokenizer *spm = NULL;
    lb_status st = lb_tokenizer_load("data/tok/spm/tokenizer.json", &spm);
    lb_tok_ggml g;
    if (!lb_failed(&st)) st = lb_tok_ggml_from(spm, 0, &g);
    LB_EXPECTF(st.code == LB_ERR_UNSUPPORTED && strstr(st.msg, "byte-level BPE"), "spm: %s", st.msg);
    lb_tok_ggml_free(&g);
    lb_tokenizer_free(spm);
}

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "--write")) {
        char a[600], b[600];
        snprintf(a, sizeof a, "%s/types.gguf", argv[2]);
        snprintf(b, sizeof b, "%s/expected.gguf", argv[2]);
        uint8_t *bytes[N_TYPES] = {0};
        float *what[N_TYPES] = {0};
        lb_status st = write_types(a, b, bytes, what);
        for (int t = 0; t < N_TYPES; t++) {
            free(bytes[t]);
            free(what[t]);
        }
        if (lb_failed(&st)) fprintf(stderr, "test_gguf --write: %s\n", st.msg);
        return lb_failed(&st) ? 1 : 0;
    }
    if (!lb_test_tmpdir(g_dir, sizeof g_dir, "lb_test_gguf")) return 1;
    LB_RUN(test_metadata_roundtrip);
    LB_RUN(test_types_roundtrip);
    LB_RUN(test_bad_files);
    LB_RUN(test_tokenizers);
    lb_test_rmtree(g_dir);
    return lb_test_summary();
}
