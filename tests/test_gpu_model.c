/* test_gpu_model.c — whole models on the GPU against the CPU specification.
 *
 *  1. device init: lb_model_init_random_dev on CUDA gives the CPU init's
 *     weights (same documented RNG; the device's double log/cos may differ
 *     from glibc's by an ulp, which after rounding to f32 flips at most a
 *     rare last bit);
 *  2. forward + backward of a small Llama (GQA, tied head, odd sizes) and a
 *     small GPT-2 (biases, position table, tied head) moved with lb_model_to:
 *     logits, loss and every parameter grad within bf16 tolerances;
 *  3. greedy decoding with the KV cache on the recorded parity models,
 *     teacher-forced so every step is compared: where the GPU's argmax
 *     differs from the CPU's, the CPU's top-2 gap must be within the logit
 *     noise measured at that very step (2x max |gpu - cpu|);
 *  4. deterministic mode (LB_DETERMINISTIC=1): two identical models each
 *     take one training step (forward, backward, AdamW) on the same batch;
 *     every grad and every updated weight must be bit-identical. The
 *     lowbit kernels are deterministic by contract (kernels/cuda/kernels.h);
 *     the variable switches cuDNN's attention backward to its deterministic
 *     graph (no fp32 dQ accumulation with atomics), and any faster
 *     non-deterministic path added later must stay off under it too.
 *
 * Tolerances (relative Frobenius error per tensor, ||gpu - cpu|| / ||cpu||).
 * On CUDA each activation is stored in bf16 (unit roundoff 2^-9; the rms
 * error of one rounding is ~2^-9/sqrt(3) = 1.1e-3 relative) and the GEMMs
 * read bf16 weights (another ~1.1e-3). A value at the end of the forward has
 * passed ~8 such roundings per layer (norm, q/k/v, rope, attention, o, add,
 * norm, gate/up, swiglu, down, add) over 2 layers plus the head: ~20
 * independent roundings, sqrt(20) * 1.1e-3 = 5e-3. LOGIT_TOL = 2e-2 is 4x
 * that. Gradients go through the same chain twice (forward values and the
 * backward's own bf16 grads): sqrt(40) * 1.1e-3 = 7e-3, GRAD_TOL = 3e-2; a
 * wrong formula, a missing accumulation or a transposed weight gives O(1).
 * The loss is a mean of O(1) NLLs: LOSS_TOL = 1e-2 relative.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"
#include "harness.h"
#include "kernels/cuda/cuda.h"
#include "kernels/cuda/kernels.h"
#include "layers/model.h"
#include "train/optim.h"

#define LOGIT_TOL 2e-2
#define GRAD_TOL 3e-2
#define LOSS_TOL 1e-2

static lb_model_config small(lb_arch arch)
{
    /* odd sizes: none a multiple of 8 except where GEMMs need it */
    lb_model_config c = lb_test_config(arch, (lb_test_shape){.vocab = 517, .hidden = 72, .inter = 200, .layers = 2,
                                                             .heads = 6, .kv_heads = 2, .head_dim = 12,
                                                             .max_pos = 64});
    c.tie_embeddings = true;
    c.attention_bias = c.o_bias = c.mlp_bias = arch == LB_ARCH_GPT2;
    return c;
}

static float *host_copy(lb_ctx *ctx, const lb_tensor *t)
{
    float *h = malloc((size_t)lb_tensor_numel(t) * sizeof *h);
    LB_CHECK(h != NULL);
    lb_tensor_copy_to_host(ctx, t, h);
    return h;
}

static void batch(lb_ctx *ctx, int64_t B, int64_t T, int64_t V, uint64_t seed, lb_tensor **ids, lb_tensor **tgt)
{
    lb_test_tokens(ctx, B, T, V, seed * 2654435761u + 1, ids, tgt);
    /* one ignored target, as padding would be */
    ((int32_t *)(*tgt)->data)[T - 1] = -1;
}

/* loss_of: mean CE over the batch; logits (B·T, V) returned through *lg. */
static lb_tensor *loss_of(lb_ctx *ctx, const lb_model *m, lb_tensor *ids, lb_tensor *tgt, lb_tensor **lg)
{
    int64_t B = ids->shape[0], T = ids->shape[1], V = m->cfg.vocab_size;
    lb_tensor *logits = lb_model_forward(ctx, m, ids, NULL); /* (B, T, V) */
    logits = lb_reshape(ctx, logits, LB_SHAPE(B * T, V));
    if (tgt->device != logits->device) tgt = lb_tensor_to(ctx, tgt, logits->device, LB_I32);
    *lg = logits;
    return lb_cross_entropy(ctx, logits, tgt, NULL, NULL);
}

/* ---- 1. device init ------------------------------------------------------------ */

static void test_device_init_matches_cpu(void)
{
    lb_model_config c = small(LB_ARCH_LLAMA);
    c.tie_embeddings = false;
    lb_ctx g;
    lb_status st = lb_ctx_init(&g, LB_CUDA);
    LB_EXPECTF(!lb_failed(&st), "%s", st.msg);
    lb_model cpu, gpu;
    st = lb_model_init_random(&cpu, &c, 42);
    LB_EXPECTF(!lb_failed(&st), "%s", st.msg);
    st = lb_model_init_random_dev(&g, &gpu, &c, 42, LB_CUDA, LB_PLAN_TRAIN, true);
    LB_EXPECTF(!lb_failed(&st), "%s", st.msg);
    if (lb_failed(&st)) return;
    LB_EXPECT(gpu.n_params == cpu.n_params && gpu.device == LB_CUDA && gpu.plan && gpu.opt_state);
    int64_t total = 0, differ = 0, bad = 0;
    for (int i = 0; i < cpu.n_params; i++) {
        int64_t n = lb_tensor_numel(cpu.params[i]);
        float *h = host_copy(&g, gpu.params[i]);
        const float *r = lb_tensor_f32(cpu.params[i]);
        for (int64_t j = 0; j < n; j++) {
            if (h[j] != r[j]) {
                differ++;
                if (fabsf(h[j] - r[j]) > 2e-7f * fabsf(r[j])) bad++; /* more than ~1 ulp */
            }
        }
        total += n;
        if (gpu.params[i]->lowp) { /* the bf16 copy is the rounded weight */
            float *lw = host_copy(&g, gpu.params[i]->lowp);
            for (int64_t j = 0; j < n; j++)
                if (lw[j] != lb_bf16_to_f32(lb_f32_to_bf16(h[j]))) bad++;
            free(lw);
        }
        free(h);
    }
    LB_EXPECTF(bad == 0 && differ * 100000 <= total, "device init: %lld of %lld weights differ (%lld by more than an ulp)",
               (long long)differ, (long long)total, (long long)bad);
    printf("  device init: %lld weights, %lld differ in the last bit\n", (long long)total, (long long)differ);
    lb_model_free(&gpu);
    lb_model_free(&cpu);
    lb_ctx_free(&g);
}

/* ---- 2. forward + backward ------------------------------------------------------ */

/* compare_grads: every parameter grad of gpu against cpu's within
 * GRAD_TOL; prints the worst. */
static void compare_grads(lb_ctx *g, const lb_model *cpu, const lb_model *gpu, const char *what)
{
    double worst = 0;
    const char *worst_name = "";
    for (int i = 0; i < cpu->n_params; i++) {
        const lb_tensor *pc = cpu->params[i], *pg = gpu->params[i];
        LB_EXPECTF(pc->grad && pg->grad, "%s: no grad", pc->name);
        if (!pc->grad || !pg->grad) continue;
        float *gg = host_copy(g, pg->grad);
        double e = lb_test_rel_l2(gg, lb_tensor_f32(pc->grad), lb_tensor_numel(pc));
        LB_EXPECTF(e <= GRAD_TOL, "%s %s grad of %s: rel err %.3g > %.3g", cpu->cfg.model_type, what, pc->name, e,
                   GRAD_TOL);
        if (e > worst) {
            worst = e;
            worst_name = pc->name;
        }
        free(gg);
    }
    printf("  %s %s: worst grad rel err %.2e (%s)\n", cpu->cfg.model_type, what, worst, worst_name);
}

/* Grads are zero (tape.h): after zero_grad every grad is marked; the marked
 * grads whose first writer overwrites (all but the tables only lb_embedding
 * reads: its scatter accumulates) are then filled with NaN, which a writer
 * that read them would carry into the comparison. A second micro-batch must
 * accumulate onto the first on both devices. */
static void check_fwd_bwd(lb_arch arch)
{
    lb_model_config c = small(arch);
    lb_ctx h, g;
    lb_status st = lb_ctx_init(&h, LB_CPU);
    LB_EXPECT(!lb_failed(&st));
    st = lb_ctx_init(&g, LB_CUDA);
    LB_EXPECTF(!lb_failed(&st), "%s", st.msg);
    lb_model cpu, gpu;
    LB_EXPECT(!lb_failed((st = lb_model_init_random(&cpu, &c, 5), &st)));
    LB_EXPECT(!lb_failed((st = lb_model_init_random(&gpu, &c, 5), &st)));
    lb_test_spread_params(&cpu, 4.0f);
    lb_test_spread_params(&gpu, 4.0f);
    st = lb_model_to_plan(&g, &gpu, LB_CUDA, LB_PLAN_TRAIN, true);
    LB_EXPECTF(!lb_failed(&st), "%s", st.msg);
    if (lb_failed(&st)) return;

    /* zero_grad clears a poisoned grad region and marks every grad */
    lb_cuda_fill(&g, gpu.grad_base, gpu.grad_floats, NAN);
    lb_model_zero_grad(&g, &gpu);
    int poisoned = 0;
    for (int i = 0; i < gpu.n_params; i++) {
        lb_tensor *t = gpu.params[i];
        LB_EXPECTF(t->grad && (t->grad->flags & LB_TENSOR_GRAD_ZEROS), "%s: zero_grad left no mark", t->name);
        if (!t->grad || t == gpu.pos_emb || (t == gpu.tok_emb && t != gpu.lm_head)) continue;
        lb_cuda_fill(&g, t->grad->data, lb_tensor_numel(t->grad), NAN);
        poisoned++;
    }

    const int64_t B = 2, T = 37, V = c.vocab_size;
    lb_tensor *ids, *tgt, *lc, *lgp;
    batch(&h, B, T, V, 3, &ids, &tgt);
    lb_tensor *loss_c = loss_of(&h, &cpu, ids, tgt, &lc);
    lb_tensor *loss_g = loss_of(&g, &gpu, ids, tgt, &lgp);
    float *logit_g = host_copy(&g, lgp);
    double e_logits = lb_test_rel_l2(logit_g, lb_tensor_f32(lc), B * T * V);
    float lossg = 0, lossc = lb_tensor_f32(loss_c)[0];
    lb_tensor_copy_to_host(&g, loss_g, &lossg);
    double e_loss = fabs((double)lossg - (double)lossc) / fabs((double)lossc);
    LB_EXPECTF(e_logits <= LOGIT_TOL, "%s logits: rel err %.3g > %.3g", c.model_type, e_logits, LOGIT_TOL);
    LB_EXPECTF(e_loss <= LOSS_TOL, "%s loss: gpu %.6f cpu %.6f", c.model_type, (double)lossg, (double)lossc);

    lb_backward(&h, loss_c);
    lb_backward(&g, loss_g);
    int marks = 0;
    for (int i = 0; i < gpu.n_params; i++) marks += (gpu.params[i]->grad->flags & LB_TENSOR_GRAD_ZEROS) != 0;
    LB_EXPECTF(marks == 0, "%s: %d grads still marked zero after a backward", c.model_type, marks);
    printf("  %s: logits rel err %.2e, loss %.6f vs %.6f; %d grads started as NaN\n", c.model_type, e_logits,
           (double)lossg, (double)lossc, poisoned);
    compare_grads(&g, &cpu, &gpu, "1 micro-batch");
    free(logit_g);
    lb_ctx_step_end(&h);
    lb_ctx_step_end(&g);

    /* a second micro-batch accumulates */
    batch(&h, B, T, V, 4, &ids, &tgt);
    lb_backward(&h, loss_of(&h, &cpu, ids, tgt, &lc));
    lb_backward(&g, loss_of(&g, &gpu, ids, tgt, &lgp));
    compare_grads(&g, &cpu, &gpu, "2 micro-batches");
    lb_ctx_step_end(&h);
    lb_ctx_step_end(&g);
    lb_model_free(&gpu);
    lb_model_free(&cpu);
    lb_ctx_free(&g);
    lb_ctx_free(&h);
}

static void test_llama_fwd_bwd(void) { check_fwd_bwd(LB_ARCH_LLAMA); }
static void test_gpt2_fwd_bwd(void) { check_fwd_bwd(LB_ARCH_GPT2); }

/* ---- 3. greedy decoding with the KV cache ----------------------------------------- */

static void check_greedy(const char *dir)
{
    lb_ctx h, g;
    lb_status st = lb_ctx_init(&h, LB_CPU);
    LB_EXPECT(!lb_failed(&st));
    st = lb_ctx_init(&g, LB_CUDA);
    LB_EXPECTF(!lb_failed(&st), "%s", st.msg);
    lb_model cpu, gpu;
    st = lb_model_load(&cpu, dir);
    LB_EXPECTF(!lb_failed(&st), "%s", st.msg);
    if (lb_failed(&st)) return;
    st = lb_model_load(&gpu, dir);
    LB_EXPECT(!lb_failed(&st));
    st = lb_model_to_plan(&g, &gpu, LB_CUDA, 0, true);
    LB_EXPECTF(!lb_failed(&st), "%s", st.msg);
    lb_ctx_set_grad(&h, false);
    lb_ctx_set_grad(&g, false);
    const int64_t V = cpu.cfg.vocab_size, steps = 24;
    int32_t prompt[5] = {1, 7, 3, (int32_t)(V - 2), 11};
    int64_t n_prompt = 5;
    lb_kv_cache kc, kg;
    LB_EXPECT(!lb_failed((st = lb_kv_cache_init(&kc, &cpu, n_prompt + steps), &st)));
    LB_EXPECT(!lb_failed((st = lb_kv_cache_init(&kg, &gpu, n_prompt + steps), &st)));
    float *lc = malloc((size_t)V * sizeof *lc), *lg = malloc((size_t)V * sizeof *lg);
    int32_t feed[5];
    memcpy(feed, prompt, sizeof prompt);
    int64_t nfeed = n_prompt, flips = 0, unexplained = 0;
    double worst_noise = 0;
    for (int64_t s = 0; s < steps; s++) {
        lb_tensor *x = lb_tensor_new(&h, LB_I32, LB_SHAPE(1, nfeed));
        memcpy(x->data, feed, (size_t)nfeed * sizeof(int32_t));
        lb_tensor *oc = lb_model_forward(&h, &cpu, x, &kc);   /* (1, nfeed, V) */
        lb_tensor *og = lb_model_forward(&g, &gpu, x, &kg);
        memcpy(lc, (float *)oc->data + (nfeed - 1) * V, (size_t)V * sizeof *lc);
        lb_tensor *row = nfeed > 1 ? lb_slice(&g, og, 1, nfeed - 1, 1) : og;
        lb_tensor_copy_to_host(&g, row, lg);
        int32_t ac = 0, ag = 0;
        double noise = 0;
        for (int64_t v = 0; v < V; v++) {
            if (lc[v] > lc[ac]) ac = (int32_t)v;
            if (lg[v] > lg[ag]) ag = (int32_t)v;
            double d = fabs((double)lc[v] - (double)lg[v]);
            if (d > noise) noise = d;
        }
        if (noise > worst_noise) worst_noise = noise;
        if (ac != ag) {
            flips++;
            double gap = (double)lc[ac] - (double)lc[ag];
            if (gap > 2 * noise) unexplained++;
            printf("    step %lld: cpu %d, gpu %d; cpu top-2 gap %.3g, logit noise %.3g\n", (long long)s, ac, ag,
                   gap, noise);
        }
        feed[0] = ac; /* teacher-forced: both continue with the CPU's token */
        nfeed = 1;
        lb_ctx_step_end(&h);
        lb_ctx_step_end(&g);
    }
    LB_EXPECTF(unexplained == 0, "%s: %lld greedy token(s) differ beyond the logit noise", dir, (long long)unexplained);
    printf("  %s: %lld steps, %lld argmax flips (all within noise: %s), max |logit diff| %.3g\n", dir, (long long)steps,
           (long long)flips, unexplained ? "no" : "yes", worst_noise);
    free(lc);
    free(lg);
    lb_kv_cache_free(&kc);
    lb_kv_cache_free(&kg);
    lb_model_free(&gpu);
    lb_model_free(&cpu);
    lb_ctx_free(&g);
    lb_ctx_free(&h);
}

static void test_greedy_llama(void) { check_greedy("data/models/llama_gqa"); }
static void test_greedy_gpt2(void) { check_greedy("data/models/gpt2"); }

/* ---- 4. deterministic mode ------------------------------------------------------------ */

static uint64_t fnv(const void *p, size_t n, uint64_t h)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ULL;
    return h;
}

/* one_step: a fresh model (seed 9) takes one AdamW step on a fixed batch;
 * per-tensor checksums of the grads and of the updated weights. */
static void one_step_peak(uint64_t *grads, uint64_t *weights, int *n, bool release, size_t *peak)
{
    lb_model_config c = small(LB_ARCH_LLAMA);
    lb_ctx g;
    lb_status st = lb_ctx_init(&g, LB_CUDA);
    LB_EXPECT(!lb_failed(&st));
    g.release_grads = release;
    lb_model m;
    st = lb_model_init_random_dev(&g, &m, &c, 9, LB_CUDA, LB_PLAN_TRAIN, true);
    LB_EXPECT(!lb_failed(&st));
    lb_adamw opt;
    lb_adamw_cfg ac = lb_adamw_defaults();
    st = lb_adamw_init_model(&opt, &m, &ac);
    LB_EXPECT(!lb_failed(&st));
    lb_tensor *ids, *tgt, *lg;
    batch(&g, 3, 45, c.vocab_size, 17, &ids, &tgt);
    lb_backward(&g, loss_of(&g, &m, ids, tgt, &lg));
    lb_adamw_step(&g, &opt, 1e-3f, 1.0f);
    *n = m.n_params;
    if (peak) *peak = lb_cuda_step_peak(&g);
    for (int i = 0; i < m.n_params; i++) {
        int64_t k = lb_tensor_numel(m.params[i]);
        float *x = host_copy(&g, m.params[i]->grad);
        grads[i] = fnv(x, (size_t)k * 4, 0xcbf29ce484222325ULL);
        free(x);
        x = host_copy(&g, m.params[i]);
        weights[i] = fnv(x, (size_t)k * 4, 0xcbf29ce484222325ULL);
        free(x);
    }
    lb_ctx_step_end(&g);
    lb_adamw_free(&opt);
    lb_model_free(&m);
    lb_ctx_free(&g);
}

static void one_step(uint64_t *grads, uint64_t *weights, int *n)
{
    one_step_peak(grads, weights, n, false, NULL);
}

/* ctx->release_grads frees each activation grad once consumed: the parameter
 * grads and updated weights must be bit-identical to keeping them all, and
 * the step's peak memory lower. */
static void test_release_grads(void)
{
    setenv("LB_DETERMINISTIC", "1", 1);
    uint64_t g1[64], w1[64], g2[64], w2[64];
    int n1 = 0, n2 = 0;
    size_t keep = 0, rel = 0;
    one_step_peak(g1, w1, &n1, false, &keep);
    one_step_peak(g2, w2, &n2, true, &rel);
    LB_EXPECT(n1 == n2 && n1 <= 64);
    int differ = 0;
    for (int i = 0; i < n1 && i < 64; i++) differ += g1[i] != g2[i] || w1[i] != w2[i];
    LB_EXPECTF(differ == 0, "release_grads: %d of %d tensors differ from keeping every grad", differ, n1);
    LB_EXPECTF(rel < keep, "release_grads: step peak %zu bytes, not below %zu", rel, keep);
    printf("  release_grads: step peak %.2f MiB vs %.2f MiB kept, %d tensors identical\n",
           (double)rel / 1048576.0, (double)keep / 1048576.0, n1 - differ);
}

static void test_deterministic_steps(void)
{
    setenv("LB_DETERMINISTIC", "1", 1);
    uint64_t g1[64], w1[64], g2[64], w2[64];
    int n1 = 0, n2 = 0;
    one_step(g1, w1, &n1);
    one_step(g2, w2, &n2);
    LB_EXPECT(n1 == n2 && n1 <= 64);
    int differ = 0;
    for (int i = 0; i < n1 && i < 64; i++) {
        if (g1[i] != g2[i] || w1[i] != w2[i]) {
            differ++;
            printf("    tensor %d: grads %s, weights %s\n", i, g1[i] == g2[i] ? "same" : "DIFFER",
                   w1[i] == w2[i] ? "same" : "DIFFER");
        }
    }
    LB_EXPECTF(differ == 0, "LB_DETERMINISTIC=1: %d of %d tensors differ between two identical steps", differ, n1);
    printf("  deterministic: %d tensors, %d differ\n", n1, differ);
}

int main(void)
{
    if (!lb_cuda_available()) {
        printf("no usable CUDA GPU: skipped\n");
        return 77;
    }
    LB_RUN(test_device_init_matches_cpu);
    LB_RUN(test_llama_fwd_bwd);
    LB_RUN(test_greedy_llama);
    LB_RUN(test_deterministic_steps);
    LB_RUN(test_release_grads);
    LB_RUN(test_gpt2_fwd_bwd);
    LB_RUN(test_greedy_gpt2);
    return lb_test_summary();
}
