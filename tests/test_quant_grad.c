/* test_quant_grad.c — the backward of the fake-quant ops (quant/fakequant.h):
 * the masked straight-through estimator, the LSQ scale gradient (closed form
 * and finite differences of the part that FD can see), the LSQ+ offset
 * gradient, PACT's clip gradient, activation fake-quant forward/backward,
 * accumulation into pre-seeded grads, and the speed of a (4096, 4096) g128
 * fake-quant.
 *
 * A quantized function is piecewise constant, so finite differences see
 * only what does not move a code: for s (f32 scales, weights kept away from
 * rounding boundaries) dL/ds = sum r * (q - z); LSQ adds the STE term
 * -sum_inside r * w/s, which is checked in closed form. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "autograd/ctx.h"
#include "autograd/tape.h"
#include "harness.h"
#include "quant/fakequant.h"
#include "quant/grid.h"

#define PRESEED 0.015625f

static void run_backward(lb_ctx *ctx, lb_tensor *out, const float *r)
{
    lb_tensor *g = lb_grad_of(ctx, out);
    memcpy(g->data, r, (size_t)lb_tensor_numel(out) * sizeof(float));
    for (lb_node *n = ctx->tape; n; n = n->prev)
        if (n->out->grad) n->backward(ctx, n);
}

static void preseed(lb_ctx *ctx, lb_tensor *t)
{
    float *g = lb_grad_of(ctx, t)->data;
    for (int64_t i = 0; i < lb_tensor_numel(t); i++) g[i] = PRESEED;
}

static lb_quantizer make_q(const char *spec, lb_tensor *w)
{
    lb_qspec sp;
    lb_quantizer q;
    lb_status st = lb_qspec_parse(spec, LB_QROLE_WEIGHT, &sp);
    if (!lb_failed(&st)) st = lb_quantizer_init(&q, &sp, w, "test.weight");
    if (lb_failed(&st)) {
        fprintf(stderr, "%s: %s\n", spec, st.msg);
        abort();
    }
    return q;
}

/* Masked STE: dW = dW^ exactly where round(w/s) + z is in range. */
static void test_ste_mask(void)
{
    lb_ctx ctx;
    lb_ctx_init(&ctx, LB_CPU);
    const char *specs[] = {"int4:g32:sym", "int3:ch:asym", "int2:g64:asym:mse", "int4:tensor:sym"};
    for (int k = 0; k < 4; k++) {
        lb_tensor *w = lb_tensor_alloc(LB_F32, 2, (const int64_t[]){4, 128});
        lb_test_rand(w->data, 512, 10 + k, -1.0f, 1.0f);
        w->requires_grad = true;
        lb_quantizer q = make_q(specs[k], w);
        lb_tensor *out = lb_fake_quant_weight(&ctx, w, &q);
        float r[512], s[512], z[512];
        lb_test_rand(r, 512, 99, -1.0f, 1.0f);
        preseed(&ctx, w);
        run_backward(&ctx, out, r);
        lb_quantizer_run(&q, w->data, s, z, NULL, NULL);
        int clipped = 0, bad = -1;
        float maxq = (float)lb_qspec_maxq(&q.spec);
        for (int i = 0; i < 512; i++) {
            int gk = q.spec.gran == LB_QG_TENSOR ? 0 : (i / 128) * (int)q.n_groups + (i % 128) / (int)q.group;
            float pre = nearbyintf(((float *)w->data)[i] / s[gk]) + z[gk];
            bool in = pre >= 0.0f && pre <= maxq;
            clipped += !in;
            float want = PRESEED + (in ? r[i] : 0.0f);
            if (((float *)w->grad->data)[i] != want && bad < 0) bad = i;
        }
        LB_EXPECTF(bad < 0, "%s: dW[%d] = %g is not the masked dW^", specs[k], bad,
                   bad < 0 ? 0.0 : (double)((float *)w->grad->data)[bad]);
        if (!strcmp(specs[k], "int4:g32:sym"))
            LB_EXPECTF(clipped > 0, "int4:g32:sym: the positive max should clip (7.5 -> 8 -> 16)");
        lb_quantizer_free(&q);
        lb_tensor_free(w);
        lb_ctx_step_end(&ctx);
    }
    lb_ctx_free(&ctx);
}

/* lsq_case: a weight whose w/s sit away from half-integers for the given
 * per-group scales, some beyond the range (clipped). */
static void lsq_weight(float *w, int64_t rows, int64_t cols, int64_t group, const float *s,
                       const float *z, float maxq, uint64_t seed)
{
    float u[4096];
    lb_test_rand(u, rows * cols, seed, 0.0f, 1.0f);
    for (int64_t i = 0; i < rows * cols; i++) {
        int64_t gk = (i / cols) * (cols / group) + (i % cols) / group;
        float code = floorf(u[i] * (maxq + 5.0f)) - 2.0f;   /* -2 .. maxq+2: some clip */
        float frac = (u[(i * 7 + 3) % (rows * cols)] - 0.5f) * 0.6f;   /* |frac| <= 0.3 */
        w[i] = s[gk] * (code - z[gk] + frac);
    }
}

static void test_lsq(void)
{
    lb_ctx ctx;
    lb_ctx_init(&ctx, LB_CPU);
    const char *specs[] = {"int4:g32:asym:lsq:f32", "int3:g64:sym:lsq:f32", "int4:g32:asym:lsq+:f32"};
    for (int k = 0; k < 3; k++) {
        int64_t R = 4, C = 128;
        lb_tensor *w = lb_tensor_alloc(LB_F32, 2, (const int64_t[]){R, C});
        lb_test_rand(w->data, R * C, 5, -1.0f, 1.0f);
        lb_quantizer q = make_q(specs[k], w);
        int64_t ns = lb_tensor_numel(q.scales);
        float *ps = q.scales->data, *pz = q.zeros->data, maxq = (float)lb_qspec_maxq(&q.spec);
        for (int64_t i = 0; i < ns; i++) {
            ps[i] = 0.05f + 0.01f * (float)i;
            if (q.spec.mode == LB_QM_LSQP) pz[i] = (float)(3 + i % 5) + 0.2f;   /* used rounded */
        }
        float zr[64];
        for (int64_t i = 0; i < ns; i++) zr[i] = q.spec.mode == LB_QM_LSQP ? nearbyintf(pz[i]) : pz[i];
        lsq_weight(w->data, R, C, q.group, ps, zr, maxq, 7 + k);
        w->requires_grad = true;
        lb_tensor *out = lb_fake_quant_weight(&ctx, w, &q);
        float r[512];
        lb_test_rand(r, R * C, 31, -1.0f, 1.0f);
        preseed(&ctx, w);
        preseed(&ctx, q.scales);
        if (q.spec.mode == LB_QM_LSQP) preseed(&ctx, q.zeros);
        run_backward(&ctx, out, r);

        double qp = q.spec.sym ? (1 << (q.spec.bits - 1)) - 1 : (1 << q.spec.bits) - 1;
        double g = 1.0 / sqrt((double)q.group * qp);
        const float *wd = w->data;
        for (int64_t gk = 0; gk < ns; gk++) {
            double ds = 0.0, dz = 0.0, fd_part = 0.0, ste_part = 0.0;
            int64_t row = gk / q.n_groups, c0 = (gk % q.n_groups) * q.group;
            for (int64_t c = c0; c < c0 + q.group; c++) {
                int64_t i = row * C + c;
                double v = (double)wd[i] / ps[gk];
                double pre = nearbyint(v) + zr[gk];
                bool in = pre >= 0 && pre <= maxq;
                double qc = pre < 0 ? 0 : pre > maxq ? maxq : pre;
                ds += r[i] * ((qc - zr[gk]) - (in ? v : 0.0));
                dz += in ? 0.0 : -(double)r[i] * ps[gk];
                fd_part += r[i] * (qc - zr[gk]);
                ste_part += in ? r[i] * v : 0.0;
            }
            double got = (double)((float *)q.scales->grad->data)[gk] - PRESEED;
            LB_EXPECTF(fabs(got - g * ds) <= 1e-5 * (fabs(g * ds) + g), "%s: ds[%lld] %g vs closed form %g",
                       specs[k], (long long)gk, got, g * ds);
            /* finite differences of L(s) = sum r * w^(s), codes fixed (f32 scales, w/s
             * at least 0.2 from a rounding boundary, so a 1e-4 relative step moves none) */
            double h = 1e-4 * ps[gk], lp = 0.0, lm = 0.0;
            for (int64_t c = c0; c < c0 + q.group; c++) {
                int64_t i = row * C + c;
                for (int sgn = -1; sgn <= 1; sgn += 2) {
                    double sv = ps[gk] + sgn * h;
                    double pre = nearbyint(wd[i] / sv) + zr[gk];
                    double qc = pre < 0 ? 0 : pre > maxq ? maxq : pre;
                    *(sgn < 0 ? &lm : &lp) += r[i] * sv * (qc - zr[gk]);
                }
            }
            double fd = (lp - lm) / (2 * h);
            LB_EXPECTF(fabs(fd - fd_part) <= 1e-6 * (fabs(fd_part) + 1), "%s: FD dL/ds %g vs sum r(q-z) %g",
                       specs[k], fd, fd_part);
            LB_EXPECTF(fabs(got / g + ste_part - fd) <= 1e-4 * (fabs(fd) + 1),
                       "%s: ds/g + STE term %g vs FD %g", specs[k], got / g + ste_part, fd);
            if (q.spec.mode == LB_QM_LSQP) {
                double gz = (double)((float *)q.zeros->grad->data)[gk] - PRESEED;
                LB_EXPECTF(fabs(gz - g * dz) <= 1e-5 * (fabs(g * dz) + g), "%s: dz[%lld] %g vs %g",
                           specs[k], (long long)gk, gz, g * dz);
            }
        }
        lb_tensor *params[4];
        int np = lb_quantizer_params(&q, params, 4);
        LB_EXPECTF(np == (q.spec.mode == LB_QM_LSQP ? 2 : 1) && params[0] == q.scales &&
                       !strcmp(params[0]->name, "test.weight.wq_scale"),
                   "%s: params %d", specs[k], np);
        lb_quantizer_free(&q);
        lb_tensor_free(w);
        lb_ctx_step_end(&ctx);
    }
    lb_ctx_free(&ctx);
}

/* LSQ forward uses the fp16-rounded learned scale, and codes export it. */
static void test_lsq_f16_forward(void)
{
    lb_ctx ctx;
    lb_ctx_init(&ctx, LB_CPU);
    lb_tensor *w = lb_tensor_alloc(LB_F32, 2, (const int64_t[]){2, 64});
    lb_test_rand(w->data, 128, 3, -1.0f, 1.0f);
    lb_quantizer q = make_q("int4:g32:asym:lsq+", w);
    ((float *)q.scales->data)[1] = 0.0312345f;
    ((float *)q.zeros->data)[1] = 7.6f;
    lb_tensor *out = lb_fake_quant_weight(&ctx, w, &q);
    uint8_t codes[128];
    float s[4], z[4];
    lb_quantizer_codes(&q, w, codes, s, z);
    LB_EXPECTF(s[1] == lb_f16_to_f32(lb_f32_to_f16(0.0312345f)) && z[1] == 8.0f, "s %g z %g",
               (double)s[1], (double)z[1]);
    bool ok = true;
    for (int i = 0; i < 128; i++) ok &= ((float *)out->data)[i] == s[i / 32] * ((float)codes[i] - z[i / 32]);
    LB_EXPECT(ok);
    lb_quantizer_free(&q);
    lb_tensor_free(w);
    lb_ctx_free(&ctx);
}

static lb_quantizer make_act(const char *spec, float alpha0)
{
    lb_qspec sp;
    lb_quantizer q;
    lb_status st = lb_qspec_parse(spec, LB_QROLE_ACT, &sp);
    if (!lb_failed(&st)) st = lb_quantizer_init_act(&q, &sp, "test.input", alpha0);
    if (lb_failed(&st)) {
        fprintf(stderr, "%s: %s\n", spec, st.msg);
        abort();
    }
    return q;
}

static void test_act_token(void)
{
    lb_ctx ctx;
    lb_ctx_init(&ctx, LB_CPU);
    lb_tensor *x = lb_tensor_new(&ctx, LB_F32, 3, (const int64_t[]){2, 3, 40});
    lb_test_rand(x->data, 240, 4, -3.0f, 3.0f);
    memset((float *)x->data + 40, 0, 40 * sizeof(float));   /* an all-zero token */
    x->requires_grad = true;
    lb_quantizer aq = make_act("int8:token", 0.0f);
    lb_tensor *out = lb_fake_quant_act(&ctx, x, &aq);
    const float *xd = x->data, *od = out->data;
    int bad = -1;
    for (int r = 0; r < 6 && bad < 0; r++) {
        float a = 0.0f;
        for (int c = 0; c < 40; c++) a = fmaxf(a, fabsf(xd[r * 40 + c]));
        float s = a == 0.0f ? 1.0f : a / 127.0f;
        for (int c = 0; c < 40; c++) {
            float want = s * nearbyintf(xd[r * 40 + c] / s);
            if (od[r * 40 + c] != want || fabsf(want - xd[r * 40 + c]) > 0.5f * s * 1.0001f) bad = r * 40 + c;
        }
    }
    LB_EXPECTF(bad < 0, "token fwd at %d: %g from %g", bad, bad < 0 ? 0.0 : (double)od[bad],
               bad < 0 ? 0.0 : (double)xd[bad]);
    float rr[240];
    lb_test_rand(rr, 240, 8, -1.0f, 1.0f);
    preseed(&ctx, x);
    run_backward(&ctx, out, rr);
    bool ok = true;
    for (int i = 0; i < 240; i++) ok &= ((float *)x->grad->data)[i] == PRESEED + rr[i];
    LB_EXPECTF(ok, "token backward is not the straight-through dx += dx^");
    lb_quantizer none = make_act("none", 0.0f);
    LB_EXPECT(lb_fake_quant_act(&ctx, x, &none) == x);
    lb_quantizer_free(&none);
    lb_quantizer_free(&aq);
    lb_ctx_free(&ctx);
}

static void test_act_static_and_pact(void)
{
    lb_ctx ctx;
    lb_ctx_init(&ctx, LB_CPU);
    lb_tensor *cal = lb_tensor_new(&ctx, LB_F32, 2, (const int64_t[]){4, 32});
    lb_test_rand(cal->data, 128, 6, -2.0f, 2.0f);
    lb_quantizer st_q = make_act("int8:tensor:static", 0.0f);
    lb_status st = lb_quantizer_observe(&st_q, cal);
    LB_EXPECT(!lb_failed(&st));
    float a = 0.0f;
    for (int i = 0; i < 128; i++) a = fmaxf(a, fabsf(((float *)cal->data)[i]));
    LB_EXPECTF(st_q.act_scale == a / 127.0f, "static scale %g, absmax %g", (double)st_q.act_scale, (double)a);

    lb_tensor *x = lb_tensor_new(&ctx, LB_F32, 2, (const int64_t[]){4, 32});
    lb_test_rand(x->data, 128, 9, -4.0f, 4.0f);   /* beyond the calibrated range: clips */
    x->requires_grad = true;
    lb_tensor *out = lb_fake_quant_act(&ctx, x, &st_q);
    float rr[128];
    lb_test_rand(rr, 128, 10, -1.0f, 1.0f);
    preseed(&ctx, x);
    run_backward(&ctx, out, rr);
    int clipped = 0, bad = -1;
    float s = st_q.act_scale;
    for (int i = 0; i < 128; i++) {
        float xv = ((float *)x->data)[i], pre = nearbyintf(xv / s);
        bool in = pre >= -128.0f && pre <= 127.0f;
        clipped += !in;
        float want = s * fminf(fmaxf(pre, -128.0f), 127.0f);
        if (((float *)out->data)[i] != want || ((float *)x->grad->data)[i] != PRESEED + (in ? rr[i] : 0.0f))
            bad = i;
    }
    LB_EXPECTF(bad < 0 && clipped > 0, "static: bad %d, clipped %d", bad, clipped);
    lb_ctx_step_end(&ctx);

    /* PACT: alpha from calibration, dalpha = sum r * sign(x) over |x| >= alpha */
    lb_quantizer pq = make_act("int8:tensor:pact", 10.0f);
    cal = lb_tensor_new(&ctx, LB_F32, 1, (const int64_t[]){64});
    lb_test_rand(cal->data, 64, 11, -1.5f, 1.5f);
    lb_quantizer_observe(&pq, cal);
    float alpha = ((float *)pq.alpha->data)[0];
    LB_EXPECTF(alpha > 1.0f && alpha <= 1.5f, "pact alpha from calibration %g", (double)alpha);
    x = lb_tensor_new(&ctx, LB_F32, 2, (const int64_t[]){4, 32});
    lb_test_rand(x->data, 128, 12, -3.0f, 3.0f);
    x->requires_grad = true;
    out = lb_fake_quant_act(&ctx, x, &pq);
    preseed(&ctx, x);
    preseed(&ctx, pq.alpha);
    run_backward(&ctx, out, rr);
    double da = 0.0, fd_out = 0.0;
    bad = -1;
    float ps = alpha / 127.0f;
    for (int i = 0; i < 128; i++) {
        float xv = ((float *)x->data)[i];
        bool in = fabsf(xv) < alpha;
        if (!in) da += xv > 0 ? rr[i] : -rr[i];
        float want = ps * nearbyintf(fminf(fmaxf(xv, -alpha), alpha) / ps);
        if (((float *)out->data)[i] != want || ((float *)x->grad->data)[i] != PRESEED + (in ? rr[i] : 0.0f))
            bad = i;
        /* finite differences over the clipped elements: x^ = +-s * 127 = +-alpha */
        if (!in) {
            double h = 1e-3, sp = (alpha + h) / 127.0, sm = (alpha - h) / 127.0;
            double yp = sp * nearbyint(fmin(fmax(xv, -(alpha + h)), alpha + h) / sp);
            double ym = sm * nearbyint(fmin(fmax(xv, -(alpha - h)), alpha - h) / sm);
            fd_out += rr[i] * (yp - ym) / (2 * h);
        }
    }
    double got = (double)((float *)pq.alpha->grad->data)[0] - PRESEED;
    LB_EXPECTF(bad < 0, "pact fwd/dx at %d", bad);
    LB_EXPECTF(fabs(got - da) <= 1e-5 * (fabs(da) + 1), "pact dalpha %g vs closed form %g", got, da);
    LB_EXPECTF(fabs(fd_out - da) <= 1e-6 * (fabs(da) + 1), "pact: FD over clipped elements %g vs %g", fd_out, da);
    lb_tensor *params[2];
    LB_EXPECT(lb_quantizer_params(&pq, params, 2) == 1 && params[0] == pq.alpha &&
              !strcmp(pq.alpha->name, "test.input.aq_alpha"));
    lb_quantizer_free(&pq);
    lb_quantizer_free(&st_q);
    lb_ctx_free(&ctx);
}

/* A (4096, 4096) int4 g128 fake-quant, forward and backward. */
static void test_speed(void)
{
    lb_ctx ctx;
    lb_ctx_init(&ctx, LB_CPU);
    int64_t n = 4096;
    lb_tensor *w = lb_tensor_alloc(LB_F32, 2, (const int64_t[]){n, n});
    lb_test_rand(w->data, n * n, 1, -0.05f, 0.05f);
    w->requires_grad = true;
    lb_quantizer q = make_q("int4", w);
    struct timespec t0, t1, t2;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    lb_tensor *out = lb_fake_quant_weight(&ctx, w, &q);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    lb_tensor *g = lb_grad_of(&ctx, out);
    for (int64_t i = 0; i < n * n; i++) ((float *)g->data)[i] = 1.0f;
    for (lb_node *nd = ctx.tape; nd; nd = nd->prev) nd->backward(&ctx, nd);
    clock_gettime(CLOCK_MONOTONIC, &t2);
    double fwd = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    double bwd = (double)(t2.tv_sec - t1.tv_sec) + 1e-9 * (double)(t2.tv_nsec - t1.tv_nsec);
    printf("    int4:g128 fake-quant (4096, 4096): forward %.3f s, backward %.3f s\n", fwd, bwd);
    /* "well under a second" in an optimised build; 5 s leaves room for
     * sanitizers and a loaded 2-core machine while still catching a slow path */
    LB_EXPECTF(fwd < 5.0, "forward took %.2f s", fwd);
    lb_quantizer_free(&q);
    lb_tensor_free(w);
    lb_ctx_free(&ctx);
}

int main(void)
{
    LB_RUN(test_ste_mask);
    LB_RUN(test_lsq);
    LB_RUN(test_lsq_f16_forward);
    LB_RUN(test_act_token);
    LB_RUN(test_act_static_and_pact);
    LB_RUN(test_speed);
    return lb_test_summary();
}
