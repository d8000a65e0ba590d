/* test_gpu_packed.c — the CUDA ggml decoder (kernels/cuda/packed_ggml.cu,
 * through lb_packed_dequant_rows and lb_packed_gather) against the CPU
 * specification (quant/packed_ggml.c), and a GGUF model on the GPU against
 * the same file on the CPU.
 *
 * Decoding: for every type lowbit exports (F32 F16 BF16 Q4_0 Q4_1 Q5_0 Q5_1
 * Q8_0 Q4_K Q6_K), blocks made by the exporter's encoder from weights with
 * zero, constant and outlier blocks; whole matrices, a row range, and rows
 * gathered by ids (from the device and from the host). f32 output must equal
 * the CPU's bit for bit; bf16 output must equal the CPU value rounded once
 * (no tolerance: the kernel forms each value with the CPU's operations in
 * the CPU's order, without FMA).
 *
 * Model: a llama (GQA, Q/K biases) with q4_0 and q4_k quantizers, exported
 * to GGUF, loaded twice; logits on CUDA vs the CPU within LOGIT_TOL = 2e-2
 * relative Frobenius error (test_gpu_model.c derives it: ~20 bf16
 * roundings of activations and weights, sqrt(20) * 1.1e-3 = 5e-3, times 4;
 * a wrong decode of any block gives O(1)). Skipped without a GPU.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gpu_check.h"
#include "harness.h"
#include "quant/export.h"
#include "quant/ggml_pack.h"
#include "quant/gguf.h"
#include "quant/gguf_load.h"
#include "quant/packed.h"
#include "quant/packed_ggml.h"
#include "quant/quantizer.h"
#include "train/run_quant.h"

#define ROWS 9
#define COLS 768
#define LOGIT_TOL 2e-2

static const char *k_types[] = {"f32", "f16", "bf16", "q4_0", "q4_1", "q5_0", "q5_1", "q8_0", "q4_k", "q6_k"};

/* make: a CPU lb_packed of `type` holding the exporter's encoding of w */
static lb_packed *make(const char *type, const float *w)
{
    int64_t shape[2] = {ROWS, COLS};
    if (!strcmp(type, "f32") || !strcmp(type, "f16") || !strcmp(type, "bf16")) {
        lb_dtype dt = !strcmp(type, "f32") ? LB_F32 : !strcmp(type, "f16") ? LB_F16 : LB_BF16;
        lb_packed *p = lb_packed_new_ggml(dt == LB_F32 ? LB_GGML_F32 : dt == LB_F16 ? LB_GGML_F16 : LB_GGML_BF16, ROWS,
                                          COLS);
        if (dt == LB_F32) memcpy(p->data->data, w, sizeof(float) * ROWS * COLS);
        else lb_convert_from_f32(p->data->data, w, dt, ROWS * COLS);
        return p;
    }
    lb_qspec sp;
    lb_quantizer q;
    lb_tensor *wt = lb_tensor_alloc(LB_F32, 2, shape);
    memcpy(wt->data, w, sizeof(float) * ROWS * COLS);
    lb_status st = lb_qspec_parse(type, LB_QROLE_WEIGHT, &sp);
    if (!lb_failed(&st)) st = lb_quantizer_init(&q, &sp, wt, "t.weight");
    if (lb_failed(&st)) {
        lb_test_fail(__FILE__, __LINE__, "%s: %s", type, st.msg);
        lb_tensor_free(wt);
        return NULL;
    }
    int64_t G = q.n_groups;
    uint8_t *codes = malloc(ROWS * COLS);
    float *s = malloc(sizeof(float) * ROWS * (size_t)G), *z = malloc(sizeof(float) * ROWS * (size_t)G);
    lb_quantizer_codes(&q, wt, codes, s, z);
    lb_packed *p = lb_packed_new_ggml(lb_ggml_type_id(sp.format), ROWS, COLS);
    int64_t rb = lb_ggml_row_bytes(p->ggml_type, COLS);
    for (int r = 0; r < ROWS; r++)
        lb_ggml_pack_row(sp.format, codes + r * COLS, s + r * G, z + r * G, COLS, (uint8_t *)p->data->data + r * rb);
    free(codes);
    free(s);
    free(z);
    lb_quantizer_free(&q);
    lb_tensor_free(wt);
    return p;
}

/* same: the device result (n * COLS values of dt) equals the CPU's f32 values
 * (bf16: rounded once) bit for bit */
static bool same(lb_ctx *g, const lb_tensor *dev, const float *cpu, int64_t n, lb_dtype dt)
{
    float *h = malloc(sizeof(float) * (size_t)(n * COLS));
    lb_tensor_copy_to_host(g, dev, h);
    bool ok = true;
    for (int64_t i = 0; i < n * COLS && ok; i++) {
        float want = cpu[i];
        if (dt == LB_BF16) want = lb_bf16_to_f32(lb_f32_to_bf16(want));
        ok = !memcmp(&want, &h[i], sizeof want);
        if (!ok) fprintf(stderr, "  element %lld: gpu %.9g, cpu %.9g\n", (long long)i, (double)h[i], (double)want);
    }
    free(h);
    return ok;
}

static void test_decode(void)
{
    lb_ctx c, g;
    lb_ctx_init(&c, LB_CPU);
    gpc_ctx(&g);
    float *w = malloc(sizeof(float) * ROWS * COLS), *cpu = malloc(sizeof(float) * ROWS * COLS);
    lb_test_rand(w, ROWS * COLS, 21, -2.0f, 2.0f);
    for (int i = 0; i < 256; i++) w[COLS + i] = 0.0f;         /* a zero super-block */
    for (int i = 0; i < 32; i++) w[2 * COLS + 256 + i] = -0.75f; /* a constant block */
    w[4 * COLS + 7] = 300.0f;                                  /* an outlier */
    const int32_t ids[6] = {8, 0, 3, 3, 5, 1};
    for (size_t t = 0; t < sizeof k_types / sizeof k_types[0]; t++) {
        lb_packed *p = make(k_types[t], w);
        if (!p) continue;
        lb_packed_ggml_decode(p, 0, ROWS, NULL, cpu);
        lb_packed *d = make(k_types[t], w);
        lb_status st = lb_packed_to(&g, d, LB_CUDA);
        LB_EXPECTF(!lb_failed(&st), "%s", st.msg);
        for (int k = 0; k < 2; k++) {
            lb_dtype dt = k ? LB_BF16 : LB_F32;
            const char *dn = lb_dtype_name(dt);
            lb_tensor *all = lb_packed_dequant(&g, d, dt);
            LB_EXPECTF(same(&g, all, cpu, ROWS, dt), "%s -> %s: whole matrix differs from the CPU", k_types[t], dn);
            lb_tensor *part = lb_packed_dequant_rows(&g, d, 2, 5, dt);
            LB_EXPECTF(same(&g, part, cpu + 2 * COLS, 5, dt), "%s -> %s: rows [2, 7) differ", k_types[t], dn);
            float want[6 * COLS];
            for (int i = 0; i < 6; i++) memcpy(want + i * COLS, cpu + ids[i] * COLS, sizeof(float) * COLS);
            lb_tensor *hid = lb_tensor_new(&g, LB_I32, LB_SHAPE(2, 3));
            memcpy(hid->data, ids, sizeof ids);
            lb_tensor *did = lb_tensor_to(&g, hid, LB_CUDA, LB_I32);
            LB_EXPECTF(same(&g, lb_packed_gather(&g, d, hid, dt), want, 6, dt), "%s -> %s: gather (host ids) differs",
                       k_types[t], dn);
            LB_EXPECTF(same(&g, lb_packed_gather(&g, d, did, dt), want, 6, dt), "%s -> %s: gather (device ids) differs",
                       k_types[t], dn);
            lb_ctx_step_end(&g);
        }
        printf("  %-5s decoded on the GPU == CPU (f32 bit for bit, bf16 rounded once)\n", k_types[t]);
        lb_packed_free(p);
        lb_packed_free(d);
    }
    free(w);
    free(cpu);
    lb_ctx_free(&g);
    lb_ctx_free(&c);
}

/* logits of m (on its device) for a fixed sequence into out (T * V, f32 host) */
static void logits(lb_ctx *ctx, const lb_model *m, float *out, int64_t T)
{
    lb_tensor *ids = lb_tensor_new(ctx, LB_I32, LB_SHAPE(1, T));
    for (int64_t t = 0; t < T; t++) ((int32_t *)ids->data)[t] = (int32_t)((t * 977 + 13) % m->cfg.vocab_size);
    lb_tensor *y = lb_model_forward(ctx, m, ids, NULL);
    lb_tensor_copy_to_host(ctx, y, out);
    lb_ctx_step_end(ctx);
}

static void model_case(const lb_tokenizer *tok, const char *wq)
{
    lb_model_config c;
    memset(&c, 0, sizeof c);
    c.arch = LB_ARCH_LLAMA;
    snprintf(c.model_type, sizeof c.model_type, "llama");
    c.vocab_size = 8192, c.hidden_size = 256, c.intermediate_size = 512, c.n_layers = 2;
    c.n_heads = 4, c.n_kv_heads = 2, c.head_dim = 64, c.max_pos = 64, c.norm_eps = 1e-5, c.rope.theta = 10000;
    c.attention_bias = true, c.bos_id = c.eos_id = -1, c.torch_dtype = LB_F32;
    lb_model m, mc, mg;
    lb_status st = lb_model_init_random(&m, &c, 9);
    for (int i = 0; !lb_failed(&st) && i < m.n_params; i++)
        if (m.params[i]->ndim == 1 && strstr(m.param_names[i], "bias"))
            lb_test_rand(m.params[i]->data, m.params[i]->shape[0], (uint64_t)i, -0.5f, 0.5f);
    if (!lb_failed(&st)) st = lb_run_quant_attach(NULL, &m, wq, NULL, "all", true);
    char path[64];
    snprintf(path, sizeof path, "/tmp/lb_test_gpu_packed_%d_%s.gguf", (int)getpid(), wq);
    lb_gguf_export_opts o = {path, wq, NULL, "test", NULL, true};
    lb_export_report r;
    if (!lb_failed(&st)) st = lb_export_gguf(&m, tok, &o, &r);
    LB_EXPECTF(!lb_failed(&st), "%s: %s", wq, st.msg);
    if (!lb_failed(&st)) st = lb_model_load_gguf(path, &mc, NULL);
    if (!lb_failed(&st)) st = lb_model_load_gguf(path, &mg, NULL);
    LB_EXPECTF(!lb_failed(&st), "%s: %s", wq, st.msg);
    unlink(path);
    lb_model_free(&m);
    if (lb_failed(&st)) return;
    lb_ctx cc, gc;
    lb_ctx_init(&cc, LB_CPU);
    gpc_ctx(&gc);
    lb_ctx_set_grad(&cc, false);
    lb_ctx_set_grad(&gc, false);
    st = lb_model_to_plan(&gc, &mg, LB_CUDA, 0, true);
    LB_EXPECTF(!lb_failed(&st), "%s: %s", wq, st.msg);
    const int64_t T = 16;
    size_t n = (size_t)(T * c.vocab_size);
    float *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
    logits(&cc, &mc, a, T);
    logits(&gc, &mg, b, T);
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) num += ((double)b[i] - a[i]) * ((double)b[i] - a[i]), den += (double)a[i] * a[i];
    double e = sqrt(num / (den > 0 ? den : 1));
    printf("  %s GGUF model: GPU vs CPU logits rel err %.3g (bound %.3g)\n", wq, e, LOGIT_TOL);
    LB_EXPECTF(e <= LOGIT_TOL, "%s: GPU logits of the GGUF model are %.3g from the CPU's", wq, e);
    LB_EXPECT(lb_model_packed_bytes(&mg) > 0);
    free(a);
    free(b);
    lb_model_free(&mg);
    lb_model_free(&mc);
    lb_ctx_free(&gc);
    lb_ctx_free(&cc);
}

static void test_model(void)
{
    lb_tokenizer *tok = NULL;
    lb_status st = lb_tokenizer_load("../assets/tokenizers/code-8k", &tok);
    LB_EXPECTF(!lb_failed(&st), "%s", st.msg);
    if (lb_failed(&st)) return;
    model_case(tok, "q4_0");
    model_case(tok, "q4_k");
    lb_tokenizer_free(tok);
}

int main(void)
{
    GPC_SKIP_WITHOUT_GPU();
    LB_RUN(test_decode);
    LB_RUN(test_model);
    return lb_test_summary();
}
