/* test_model_grad.c — gradients through whole models: the cross-entropy of a
 * tiny Llama (GQA, biases, tied head) and a tiny GPT-2 (fused qkv sliced,
 * tied head) is differentiated by the tape, and sampled parameter entries are
 * checked against central finite differences of the same fp32 forward.
 *
 * Tolerance: the loss is fp32 (~1e-7 relative, |L| ~ 5), so a difference
 * quotient with step h = 1e-2 carries ~5e-5 of rounding and O(h^2) ~ 1e-4 of
 * truncation (the loss is smooth, curvature O(1) at these scales); 2e-3 of the
 * largest checked gradient (O(1e-1)) sits above both, while a missing or
 * doubled contribution (a tied head counted once, a bias skipped) is O(1). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "fixture.h"
#include "harness.h"
#include "layers/model.h"

#define FD_STEP 1e-2f
#define GRAD_TOL 2e-3

static lb_model_config tiny(lb_arch arch)
{
    lb_model_config c = lb_test_config(arch, (lb_test_shape){.vocab = 40, .hidden = 16, .inter = 24, .layers = 2,
                                                             .heads = 4, .kv_heads = 2, .head_dim = 4, .max_pos = 16});
    c.tie_embeddings = true;
    c.attention_bias = c.o_bias = c.mlp_bias = true;
    c.bos_id = c.eos_id = 0;
    return c;
}

static const int32_t k_ids[2][7] = {{3, 17, 5, 39, 0, 22, 8}, {11, 11, 30, 2, 7, 19, 25}};

/* loss: mean next-token cross-entropy over a (2, 6) batch. */
static lb_tensor *loss_of(lb_ctx *ctx, const lb_model *m)
{
    lb_tensor *ids = lb_tensor_new(ctx, LB_I32, LB_SHAPE(2, 6));
    lb_tensor *tgt = lb_tensor_new(ctx, LB_I32, LB_SHAPE(12));
    for (int b = 0; b < 2; b++)
        for (int t = 0; t < 6; t++) {
            ((int32_t *)ids->data)[b * 6 + t] = k_ids[b][t];
            ((int32_t *)tgt->data)[b * 6 + t] = k_ids[b][t + 1];
        }
    lb_tensor *logits = lb_model_forward(ctx, m, ids, NULL); /* (2, 6, V) */
    logits = lb_reshape(ctx, logits, LB_SHAPE(12, m->cfg.vocab_size));
    return lb_cross_entropy(ctx, logits, tgt, NULL, NULL);
}

static void check_model(lb_arch arch)
{
    lb_model_config c = tiny(arch);
    lb_model m;
    lb_status st = lb_model_init_random(&m, &c, 11);
    LB_EXPECTF(!lb_failed(&st), "%s", st.msg);
    if (lb_failed(&st)) return;
    /* larger weights than the 0.02 init, non-trivial norms and biases, so
     * every path carries gradient */
    for (int i = 0; i < m.n_params; i++) {
        float *x = lb_tensor_f32(m.params[i]);
        int64_t n = lb_tensor_numel(m.params[i]);
        if (m.params[i]->ndim == 2) {
            for (int64_t j = 0; j < n; j++) x[j] *= 15.0f;
        } else {
            float r[64];
            lb_test_rand(r, n < 64 ? n : 64, (uint64_t)i + 1, -0.2f, 0.2f);
            for (int64_t j = 0; j < n; j++) x[j] += r[j % 64];
        }
    }
    lb_ctx ctx;
    st = lb_ctx_init(&ctx, LB_CPU);
    LB_EXPECT(!lb_failed(&st));
    lb_backward(&ctx, loss_of(&ctx, &m));
    lb_ctx_step_end(&ctx);
    lb_ctx_set_grad(&ctx, false);

    double worst = 0, gmax = 0;
    const char *worst_name = "";
    for (int i = 0; i < m.n_params; i++) {
        lb_tensor *p = m.params[i];
        LB_EXPECTF(p->grad != NULL, "%s received no gradient", m.param_names[i]);
        if (!p->grad) continue;
        float *x = lb_tensor_f32(p), *g = lb_tensor_f32(p->grad);
        int64_t n = lb_tensor_numel(p);
        for (int k = 0; k < 3; k++) {
            int64_t j = (int64_t)((k * 7919 + i * 104729) % n);
            float keep = x[j];
            x[j] = keep + FD_STEP;
            double lp = lb_tensor_f32(loss_of(&ctx, &m))[0];
            lb_ctx_step_end(&ctx);
            x[j] = keep - FD_STEP;
            double lm = lb_tensor_f32(loss_of(&ctx, &m))[0];
            lb_ctx_step_end(&ctx);
            x[j] = keep;
            double fd = (lp - lm) / (2.0 * FD_STEP), d = fabs(fd - g[j]);
            if (fabs(g[j]) > gmax) gmax = fabs(g[j]);
            if (d > worst) worst = d, worst_name = m.param_names[i];
        }
    }
    printf("  %s: max |grad - finite difference| = %.3g (max |grad| %.3g, at %s)\n", c.model_type, worst, gmax,
           worst_name);
    LB_EXPECTF(gmax > 1e-2, "%s: gradients are too small to test anything", c.model_type);
    LB_EXPECTF(worst <= GRAD_TOL * gmax + 1e-5, "%s: gradient of %s off by %.3g", c.model_type, worst_name, worst);
    lb_ctx_free(&ctx);
    lb_model_free(&m);
}

static void test_llama_grad(void) { check_model(LB_ARCH_LLAMA); }
static void test_gpt2_grad(void) { check_model(LB_ARCH_GPT2); }

int main(void)
{
    LB_RUN(test_llama_grad);
    LB_RUN(test_gpt2_grad);
    return lb_test_summary();
}
