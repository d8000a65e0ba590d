/* fixture.c — the helpers the C tests share beyond the harness (fixture.h). */
#include "fixture.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "train/run_quant.h"

lb_model_config lb_test_config(lb_arch arch, lb_test_shape s)
{
    lb_model_config c;
    memset(&c, 0, sizeof c);
    c.arch = arch;
    snprintf(c.model_type, sizeof c.model_type, "%s", arch == LB_ARCH_GPT2 ? "gpt2" : "llama");
    c.vocab_size = s.vocab;
    c.hidden_size = s.hidden;
    c.intermediate_size = s.inter;
    c.n_layers = s.layers;
    c.n_heads = s.heads;
    c.n_kv_heads = arch == LB_ARCH_GPT2 ? s.heads : s.kv_heads;
    c.head_dim = s.head_dim;
    c.max_pos = s.max_pos;
    c.norm_eps = 1e-5;
    c.rope.theta = 10000.0;
    c.gelu = LB_GELU_TANH;
    c.bos_id = c.eos_id = -1;
    return c;
}

lb_model_config lb_test_gptq_config(lb_arch arch)
{
    lb_model_config c = lb_test_config(arch, (lb_test_shape){.vocab = 96, .hidden = 64,
                                                             .inter = arch == LB_ARCH_GPT2 ? 256 : 128, .layers = 2,
                                                             .heads = 4, .kv_heads = 2, .head_dim = 16,
                                                             .max_pos = 64});
    c.tie_embeddings = arch == LB_ARCH_GPT2;
    c.bos_id = 1;
    c.eos_id = 2;
    return c;
}

lb_model_config lb_test_tiny_config(lb_arch arch, int64_t n_layers, bool tied, bool bias)
{
    lb_model_config c = lb_test_config(arch, (lb_test_shape){.vocab = 97, .hidden = 64, .inter = 96,
                                                             .layers = n_layers, .heads = 4, .kv_heads = 2,
                                                             .head_dim = 16, .max_pos = 32});
    c.tie_embeddings = tied;
    c.attention_bias = c.o_bias = c.mlp_bias = bias;
    return c;
}

void lb_test_tokens(lb_ctx *ctx, int64_t B, int64_t T, int64_t V, uint64_t state, lb_tensor **ids, lb_tensor **tgt)
{
    *ids = lb_tensor_new(ctx, LB_I32, LB_SHAPE(B, T));  /* (B, T) */
    *tgt = lb_tensor_new(ctx, LB_I32, LB_SHAPE(B * T)); /* (B*T) */
    uint64_t s = state;
    for (int64_t i = 0; i < B * (T + 1); i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        int32_t tok = (int32_t)((s >> 33) % (uint64_t)V);
        int64_t b = i / (T + 1), t = i % (T + 1);
        if (t < T) ((int32_t *)(*ids)->data)[b * T + t] = tok;
        if (t > 0) ((int32_t *)(*tgt)->data)[b * T + t - 1] = tok;
    }
}

void lb_test_spread_params(lb_model *m, float w_scale)
{
    for (int i = 0; i < m->n_params; i++) {
        float *x = lb_tensor_f32(m->params[i]);
        int64_t n = lb_tensor_numel(m->params[i]);
        if (m->params[i]->ndim == 2) {
            for (int64_t j = 0; j < n; j++) x[j] *= w_scale;
        } else {
            float r[64];
            lb_test_rand(r, 64, (uint64_t)i + 1, -0.2f, 0.2f);
            for (int64_t j = 0; j < n; j++) x[j] += r[j % 64];
        }
    }
}

bool lb_test_model_setup(lb_ctx *ctx, lb_model *m, const lb_model_config *c, bool recompute, const char *wq,
                         const char *aq, lb_tensor **qp, int *nq)
{
    lb_status st = lb_ctx_init(ctx, LB_CPU);
    LB_EXPECTF(!lb_failed(&st), "%s", st.msg);
    ctx->recompute = recompute;
    st = lb_model_init_random(m, c, 5);
    LB_EXPECTF(!lb_failed(&st), "%s", st.msg);
    if (lb_failed(&st)) return false;
    lb_test_spread_params(m, 8.0f);
    if (wq || aq) {
        st = lb_run_quant_attach(NULL, m, wq, aq, NULL, false);
        LB_EXPECTF(!lb_failed(&st), "%s", st.msg);
        if (lb_failed(&st)) return false;
    }
    *nq = lb_run_quant_params(m, qp, 128);
    LB_CHECK(*nq <= 128);
    return true;
}

bool lb_test_same_grad(const lb_tensor *a, const lb_tensor *b)
{
    if (!a->grad || !b->grad) return false;
    return !memcmp(a->grad->data, b->grad->data, lb_tensor_nbytes(a->grad));
}

int lb_test_diff_grads(const lb_model *a, const lb_model *b, lb_tensor *const *qa, lb_tensor *const *qb, int nq,
                       const char *label)
{
    int differ = 0;
    for (int i = 0; i < a->n_params; i++)
        if (!lb_test_same_grad(a->params[i], b->params[i])) {
            differ++;
            printf("    %s: grad of %s differs (or is missing)\n", label, a->param_names[i]);
        }
    for (int i = 0; i < nq; i++)
        if (!lb_test_same_grad(qa[i], qb[i])) {
            differ++;
            printf("    %s: grad of quantizer parameter %d differs (or is missing)\n", label, i);
        }
    return differ;
}

double lb_test_rel_l2(const float *a, const float *b, int64_t n)
{
    double num = 0, den = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = (double)a[i] - (double)b[i];
        num += d * d;
        den += (double)b[i] * (double)b[i];
    }
    if (!(num == num)) return INFINITY; /* NaN */
    return sqrt(num) / (sqrt(den) > 1e-30 ? sqrt(den) : 1e-30);
}

bool lb_test_tmpdir(char *dir, size_t n, const char *prefix)
{
    snprintf(dir, n, "/tmp/%s.XXXXXX", prefix);
    if (mkdtemp(dir)) return true;
    perror("mkdtemp");
    return false;
}

const char *lb_test_path(const char *dir, const char *name)
{
    static char buf[8][512];
    static int k;
    char *p = buf[k++ % 8];
    snprintf(p, 512, "%s/%s", dir, name);
    return p;
}

int lb_test_write_file(const char *dir, const char *name, const char *ext, const void *p, size_t n)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s.%s", dir, name, ext);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(p, 1, n, f) != n) {
        fprintf(stderr, "cannot write %s\n", path);
        if (f) fclose(f);
        return 1;
    }
    return fclose(f) != 0;
}

void lb_test_rmtree(const char *dir)
{
    char cmd[1100];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
}
