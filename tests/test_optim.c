/* test_optim.c — the CPU AdamW (train/optim.c) against a double-precision
 * implementation of torch.optim.AdamW's formula (decoupled weight decay,
 * bias correction), over several steps with fresh random gradients, a
 * 1-D and a 2-D tensor (weight decay of 2-D only by default, of both with
 * decay_1d), grad_scale, and a tensor without a grad (skipped, as torch skips
 * grad None).
 *
 * Tolerance: each fp32 step rounds p about four times (p*decay, m/denom,
 * step_size*(...), the subtraction), each within u = 2^-24 of |p| <= ~1.5,
 * and m, v carry O(u) relative errors that reach p scaled by the step
 * (lr ~ 1e-2), so after S steps |p32 - p64| <= 4 S u max|p| + lr S 8u. With
 * S = 12 that is ~5e-6; 8e-6 leaves room for libm's sqrt in the reference
 * and still fails on any formula slip (a missing bias correction changes p
 * by ~lr = 1e-2, decay on the wrong tensor by lr * wd * |p| ~ 1e-3). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "train/optim.h"

#define STEPS 12
#define U32 (1.0 / 16777216.0)
#define PARAM_TOL (4.0 * STEPS * U32 * 1.5 + 1e-2 * STEPS * 8 * U32 + 2e-6)

typedef struct ref_state {
    double *p, *m, *v;
    int64_t n;
} ref_state;

/* torch.optim.AdamW (_single_tensor_adamw), in double */
static void ref_step(ref_state *s, const float *g, double gs, double lr, double wd, const lb_adamw_cfg *c, int64_t t)
{
    double b1 = c->beta1, b2 = c->beta2, eps = c->eps;
    double bc1 = 1.0 - pow(b1, (double)t), bc2 = 1.0 - pow(b2, (double)t);
    for (int64_t i = 0; i < s->n; i++) {
        double gi = (double)g[i] * gs;
        s->p[i] *= 1.0 - lr * wd;
        s->m[i] = b1 * s->m[i] + (1.0 - b1) * gi;
        s->v[i] = b2 * s->v[i] + (1.0 - b2) * gi * gi;
        double denom = sqrt(s->v[i]) / sqrt(bc2) + eps;
        s->p[i] -= lr / bc1 * s->m[i] / denom;
    }
}

static void run_case(bool decay_1d, float wd, float gs)
{
    lb_tensor *w = lb_tensor_alloc(LB_F32, LB_SHAPE(37, 29));   /* 2-D, decays */
    lb_tensor *b = lb_tensor_alloc(LB_F32, LB_SHAPE(131));      /* 1-D */
    lb_tensor *skip = lb_tensor_alloc(LB_F32, LB_SHAPE(5));     /* never gets a grad */
    lb_tensor *ps[3] = {w, b, skip};
    lb_test_rand(lb_tensor_f32(w), lb_tensor_numel(w), 1, -1.5f, 1.5f);
    lb_test_rand(lb_tensor_f32(b), lb_tensor_numel(b), 2, -1.0f, 1.0f);
    lb_test_rand(lb_tensor_f32(skip), 5, 3, -1.0f, 1.0f);
    float skip0[5];
    memcpy(skip0, skip->data, sizeof skip0);
    w->grad = lb_tensor_alloc(LB_F32, 2, w->shape);
    b->grad = lb_tensor_alloc(LB_F32, 1, b->shape);

    lb_adamw_cfg cfg = lb_adamw_defaults();
    cfg.weight_decay = wd;
    cfg.decay_1d = decay_1d;
    lb_adamw opt;
    lb_status st = lb_adamw_init(&opt, ps, 3, NULL, &cfg);
    LB_EXPECTF(!lb_failed(&st), "%s", st.msg);
    if (lb_failed(&st)) return;

    ref_state r[2];
    for (int k = 0; k < 2; k++) {
        int64_t n = lb_tensor_numel(ps[k]);
        r[k].n = n;
        r[k].p = malloc((size_t)n * sizeof(double));
        r[k].m = calloc((size_t)n, sizeof(double));
        r[k].v = calloc((size_t)n, sizeof(double));
        for (int64_t i = 0; i < n; i++) r[k].p[i] = ((float *)ps[k]->data)[i];
    }
    lb_ctx ctx;
    st = lb_ctx_init(&ctx, LB_CPU);
    LB_EXPECT(!lb_failed(&st));
    double worst = 0;
    for (int t = 1; t <= STEPS; t++) {
        /* a schedule: lr changes between steps */
        float lr = 1e-2f * (float)(STEPS + 1 - t) / STEPS;
        for (int k = 0; k < 2; k++) {
            /* gradients of mixed magnitude, some tiny (v near 0 exercises eps) */
            float *g = ps[k]->grad->data;
            lb_test_rand(g, r[k].n, (uint64_t)(100 * t + k), -2.0f, 2.0f);
            for (int64_t i = 0; i < r[k].n; i += 7) g[i] *= 1e-6f;
            double wd_k = (ps[k]->ndim >= 2 || decay_1d) ? (double)wd : 0.0;
            ref_step(&r[k], g, gs, (double)lr, wd_k, &cfg, t);
        }
        lb_adamw_step(&ctx, &opt, lr, gs);
        for (int k = 0; k < 2; k++)
            for (int64_t i = 0; i < r[k].n; i++) {
                double e = fabs((double)((float *)ps[k]->data)[i] - r[k].p[i]);
                if (e > worst) worst = e;
            }
    }
    LB_EXPECTF(worst <= PARAM_TOL, "decay_1d=%d wd=%g gs=%g: max |p32 - p64| = %.3g > %.3g", decay_1d,
               (double)wd, (double)gs, worst, PARAM_TOL);
    LB_EXPECTF(!memcmp(skip0, skip->data, sizeof skip0), "a tensor without grad was changed");
    LB_EXPECT(opt.t == STEPS);
    printf("  decay_1d=%d wd=%g grad_scale=%g: max |p32 - p64| over %d steps = %.3g (tol %.3g)\n", decay_1d,
           (double)wd, (double)gs, STEPS, worst, PARAM_TOL);
    for (int k = 0; k < 2; k++) {
        free(r[k].p);
        free(r[k].m);
        free(r[k].v);
    }
    lb_adamw_free(&opt);
    lb_ctx_free(&ctx);
    for (int k = 0; k < 3; k++) lb_tensor_free(ps[k]);
}

static void test_adamw_matches_double_reference(void)
{
    run_case(false, 0.1f, 1.0f);
    run_case(true, 0.1f, 0.5f);
    run_case(false, 0.0f, 1.0f);
}

/* With weight decay only (zero grads) one step gives p (1 - lr wd) exactly
 * as torch does: m = v = 0, so the Adam term is 0 / (0 + eps) = 0. */
static void test_adamw_pure_decay(void)
{
    lb_tensor *w = lb_tensor_alloc(LB_F32, LB_SHAPE(3, 4));
    lb_test_rand(lb_tensor_f32(w), 12, 9, -1.0f, 1.0f);
    w->grad = lb_tensor_alloc(LB_F32, LB_SHAPE(3, 4));
    float before[12];
    memcpy(before, w->data, sizeof before);
    lb_adamw_cfg cfg = lb_adamw_defaults();
    cfg.weight_decay = 0.5f;
    lb_adamw opt;
    lb_status st = lb_adamw_init(&opt, &w, 1, NULL, &cfg);
    LB_EXPECT(!lb_failed(&st));
    lb_ctx ctx;
    st = lb_ctx_init(&ctx, LB_CPU);
    LB_EXPECT(!lb_failed(&st));
    lb_adamw_step(&ctx, &opt, 0.1f, 1.0f);
    for (int i = 0; i < 12; i++)
        LB_EXPECTF(((float *)w->data)[i] == before[i] * (1.0f - 0.1f * 0.5f), "element %d: %.9g vs %.9g", i,
                   (double)((float *)w->data)[i], (double)(before[i] * 0.95f));
    lb_adamw_free(&opt);
    lb_ctx_free(&ctx);
    lb_tensor_free(w);
}

static void test_adamw_bad_config(void)
{
    lb_tensor *w = lb_tensor_alloc(LB_F32, LB_SHAPE(2));
    lb_adamw_cfg cfg = lb_adamw_defaults();
    cfg.beta1 = 1.0f;
    lb_adamw opt;
    lb_status st = lb_adamw_init(&opt, &w, 1, NULL, &cfg);
    LB_EXPECT(st.code == LB_ERR_ARG && strstr(st.msg, "betas"));
    cfg = lb_adamw_defaults();
    cfg.eps = 0;
    st = lb_adamw_init(&opt, &w, 1, NULL, &cfg);
    LB_EXPECT(st.code == LB_ERR_ARG && strstr(st.msg, "eps"));
    lb_tensor_free(w);
}

int main(void)
{
    LB_RUN(test_adamw_matches_double_reference);
    LB_RUN(test_adamw_pure_decay);
    LB_RUN(test_adamw_bad_config);
    return lb_test_summary();
}
