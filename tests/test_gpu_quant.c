/* test_gpu_quant.c — the CUDA fake-quant pass (kernels/cuda/quant.cu and the
 * CUDA branches of autograd/ops_quant.c) against the CPU specification.
 *
 * Forward, bit for bit: for every grid (int2..int8 x sym/asym x g32 / g48 /
 * g64 / g128 / ch / tensor with minmax, mse, lsq, lsq+; nf4, fp4, fp8; the
 * ggml presets q4_0 q4_1 q5_0 q5_1 q8_0, the K-quants q4_k q6_k) on random
 * and adversarial weights
 * (ties, saturation, all-zero groups, tiny / subnormal / huge values,
 * outliers), with row counts that are not multiples of 32 and column counts
 * that take the 4-wide, scalar and two-read paths: the codes, the scales and
 * zeros, and the fp32 w^ equal lb_quantizer_run's, and the bf16 w^ equals
 * bf16(CPU w^). Learned scales are perturbed first so that codes clip.
 * Through the op (lb_fake_quant_weight on a CUDA parameter, the quantizer's
 * state on the device): the bf16 output, its landing in w->lowp, and the
 * backward: the masked straight-through weight grad bit for bit (one f32
 * add per element on both sides), the LSQ / LSQ+ scale and zero grads
 * within double-sum reordering (1e-6 relative: the sums are double, the
 * results float). Activations (bf16): int8 per-token, static and PACT
 * forward bit for bit after the bf16 rounding, dx likewise, the PACT clip
 * grad within 1e-6. `--bench` (or LB_BENCH=1) times the fused forward and
 * backward at int4:g128 on (5632, 2048) and (32000, 2048), median of 20 by
 * CUDA events, against a device copy. Skipped (77) without a GPU. */
#include "gpu_check.h"
#include "quant/fakequant.h"
#include "quant/quantizer.h"

static lb_ctx g_cpu, g_gpu;

static uint64_t rng_state = 12345;
static float urand(void)
{
    rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (float)((rng_state >> 40) & 0xffffff) / 16777216.0f;
}

/* fill_case: weight pattern k (tests/test_quant_grid.c's adversarial rows,
 * each row its own pattern, plus exact ties of every grid's step). */
static void fill_case(int k, float *w, int64_t rows, int64_t cols)
{
    for (int64_t r = 0; r < rows; r++) {
        float *x = w + r * cols;
        int kind = (int)((k + r) % 11);
        for (int64_t c = 0; c < cols; c++) {
            float u = 2.0f * urand() - 1.0f;
            switch (kind) {
            case 0: x[c] = u; break;
            case 1: x[c] = u * u * u * 3.0f; break;
            case 2: x[c] = (c % 64 < 32) ? 0.0f : u; break;                    /* all-zero groups */
            case 3: x[c] = u * 1e-30f; break;                                   /* tiny */
            case 4: x[c] = u * 1e-40f; break;                                   /* subnormal */
            case 5: x[c] = (c % 7 == 0) ? 1e30f * u : u; break;                 /* huge */
            case 6: x[c] = (float)((int)(u * 16.0f)) * 0.0625f + 0.03125f; break; /* ties */
            case 7: x[c] = u > 0.0f ? u : 0.0f; break;                          /* one-signed */
            case 8: x[c] = (c % 32 == 5) ? u * 100.0f : u * 0.01f; break;       /* outliers */
            case 9: x[c] = (float)((int)(u * 8.0f)) * 0.5f; break;              /* grid points, +-0 */
            default: x[c] = (c % 3 == 0) ? -0.0f : (c % 3 == 1 ? 0.0f : u * 1e5f); break;
            }
        }
    }
}

static float bf16r(float v) { return lb_bf16_to_f32(lb_f32_to_bf16(v)); }

/* first_diff: index of the first element whose bits differ, or -1. For
 * floats (sz 4) two NaNs count as equal: a ggml block whose fp16 scale
 * overflowed dequantizes inf * 0 = NaN on both sides, and x86's default NaN
 * (0xffc00000) and CUDA's (0x7fffffff) differ in sign and payload only. */
static int64_t first_diff(const void *a, const void *b, int64_t n, size_t sz)
{
    const unsigned char *p = a, *q = b;
    for (int64_t i = 0; i < n; i++) {
        if (memcmp(p + (size_t)i * sz, q + (size_t)i * sz, sz) == 0) continue;
        if (sz == 4 && isnan(((const float *)a)[i]) && isnan(((const float *)b)[i])) continue;
        return i;
    }
    return -1;
}

static lb_cuda_qweight desc_of(const lb_quantizer *q)
{
    const lb_qspec *sp = &q->spec;
    lb_cuda_qweight Q = {.bits = sp->bits, .sym = sp->sym, .f16 = sp->scale_f16, .rows = q->rows,
                         .cols = q->cols, .group = q->group, .tensor = sp->gran == LB_QG_TENSOR};
    static const lb_cuda_qgrid grids[] = {
        [LB_QF_INT] = LB_CUDA_QGRID_INT,   [LB_QF_NF4] = LB_CUDA_QGRID_NF4,
        [LB_QF_FP8] = LB_CUDA_QGRID_FP8,   [LB_QF_FP4] = LB_CUDA_QGRID_FP4,
        [LB_QF_Q4_0] = LB_CUDA_QGRID_Q4_0, [LB_QF_Q4_1] = LB_CUDA_QGRID_Q4_1,
        [LB_QF_Q5_0] = LB_CUDA_QGRID_Q5_0, [LB_QF_Q5_1] = LB_CUDA_QGRID_Q5_1,
        [LB_QF_Q8_0] = LB_CUDA_QGRID_Q8_0, [LB_QF_Q4_K] = LB_CUDA_QGRID_Q4_K,
        [LB_QF_Q6_K] = LB_CUDA_QGRID_Q6_K,
    };
    Q.grid = grids[sp->format];
    if (lb_qspec_is_ggml(sp)) {
        Q.mode = LB_CUDA_QMODE_GGML;
        Q.group = sp->group;   /* 32; q4_k, q6_k: their sub-block */
        Q.tensor = false;
    } else if (sp->format != LB_QF_INT) {
        Q.mode = LB_CUDA_QMODE_ABSMAX;
    } else {
        Q.mode = sp->mode == LB_QM_MSE    ? LB_CUDA_QMODE_MSE
                 : sp->mode == LB_QM_LSQ  ? LB_CUDA_QMODE_LSQ
                 : sp->mode == LB_QM_LSQP ? LB_CUDA_QMODE_LSQP
                                          : LB_CUDA_QMODE_MINMAX;
    }
    return Q;
}

/* to_dev: a persistent f32 CUDA copy of the CPU tensor t (NULL stays NULL),
 * keeping requires_grad and name. */
static lb_tensor *to_dev(const lb_tensor *t)
{
    if (!t) return NULL;
    lb_tensor *d = lb_tensor_alloc_dev(LB_CUDA, LB_F32, t->ndim, t->shape);
    lb_tensor_copy_from_host(&g_gpu, d, t->data);
    d->requires_grad = t->requires_grad;
    d->name = t->name;
    return d;
}

/* dev_quantizer: q with its state on the device (the names stay owned by
 * the CPU quantizer); free with free_dev_quantizer. */
static lb_quantizer dev_quantizer(const lb_quantizer *q)
{
    lb_quantizer d = *q;
    d.scales = to_dev(q->scales);
    d.zeros = to_dev(q->zeros);
    d.alpha = to_dev(q->alpha);
    d.scale_name = d.zero_name = NULL;
    return d;
}

static void free_dev_quantizer(lb_quantizer *d)
{
    lb_tensor_free(d->scales);
    lb_tensor_free(d->zeros);
    lb_tensor_free(d->alpha);
}

/* perturb_learned: LSQ / LSQ+ parameters moved off their initialisation
 * (scales shrunk or grown so that codes clip, zeros off-integer) so that
 * the learned path's rounding is exercised. */
static void perturb_learned(lb_quantizer *q)
{
    if (!lb_qspec_learned(&q->spec)) return;
    float *s = q->scales->data, *z = q->zeros->data;
    int64_t n = lb_tensor_numel(q->scales);
    for (int64_t k = 0; k < n; k++) {
        s[k] *= (k % 3 == 0) ? 0.6f : (k % 3 == 1) ? 1.37f : 1.0f;
        if (q->spec.mode == LB_QM_LSQP) z[k] += (k % 4 == 0) ? 0.5f : (k % 4 == 1) ? -0.3f : 2.7f;
    }
}

/* ---- forward, kernel level: codes, scales, zeros, f32 and bf16 w^ ------------ */

static int g_specs_checked;

static void check_fwd(const char *text, int64_t rows, int64_t cols, int cases)
{
    lb_qspec sp;
    lb_status st = lb_qspec_parse(text, LB_QROLE_WEIGHT, &sp);
    LB_EXPECTF(!lb_failed(&st), "%s: %s", text, st.msg);
    if (lb_failed(&st)) return;
    if (sp.gran == LB_QG_GROUP && cols % sp.group != 0) return;   /* not this shape's grid */
    if (lb_qspec_is_kquant(&sp) && cols % 256 != 0) return;
    int64_t n = rows * cols;
    lb_tensor *w = lb_tensor_alloc(LB_F32, 2, (const int64_t[]){rows, cols});
    float *o_c = malloc((size_t)n * 4), *o_g = malloc((size_t)n * 4), *o16 = malloc((size_t)n * 4);
    float *s_c = malloc((size_t)n * 4), *z_c = malloc((size_t)n * 4);
    float *s_g = malloc((size_t)n * 4), *z_g = malloc((size_t)n * 4);
    uint8_t *c_c = malloc((size_t)n), *c_g = malloc((size_t)n);
    for (int k = 0; k < cases; k++) {
        fill_case(k, w->data, rows, cols);
        lb_quantizer q;
        st = lb_quantizer_init(&q, &sp, w, "layer.weight");
        LB_EXPECTF(!lb_failed(&st), "%s: init: %s", text, st.msg);
        if (lb_failed(&st)) break;
        perturb_learned(&q);
        int64_t ns = lb_tensor_numel(q.scales);
        lb_quantizer_run(&q, w->data, s_c, z_c, o_c, c_c);

        gpc_poison_pool(&g_gpu, (size_t)n * 8 + (1 << 20));
        lb_tensor *wg = lb_tensor_new_dev(&g_gpu, LB_CUDA, LB_F32, 2, w->shape);
        lb_tensor_copy_from_host(&g_gpu, wg, w->data);
        lb_quantizer qd = dev_quantizer(&q);
        float *sd = lb_cuda_step_alloc(&g_gpu, (size_t)ns * 4), *zd = lb_cuda_step_alloc(&g_gpu, (size_t)ns * 4);
        float *od = lb_cuda_step_alloc(&g_gpu, (size_t)n * 4);
        lb_tensor *t16 = lb_tensor_new_dev(&g_gpu, LB_CUDA, LB_BF16, 2, w->shape);
        void *o16d = t16->data;
        uint8_t *cd = lb_cuda_step_alloc(&g_gpu, (size_t)n);
        lb_cuda_memset_zero(&g_gpu, cd, (size_t)n);
        lb_cuda_add_scalar(&g_gpu, cd, NAN, n / 2, LB_BF16);   /* codes poisoned: 0xc0 bytes */
        lb_cuda_qweight Q = desc_of(&q);
        bool learned = lb_qspec_learned(&sp);
        lb_cuda_fake_quant_weight_fwd(&g_gpu, &Q, wg->data, learned ? qd.scales->data : NULL,
                                      learned ? qd.zeros->data : NULL, sd, zd, o16d, od, cd);
        lb_cuda_memcpy_d2h(&g_gpu, o_g, od, (size_t)n * 4);
        lb_cuda_memcpy_d2h(&g_gpu, c_g, cd, (size_t)n);
        lb_cuda_memcpy_d2h(&g_gpu, s_g, sd, (size_t)ns * 4);
        lb_cuda_memcpy_d2h(&g_gpu, z_g, zd, (size_t)ns * 4);
        lb_tensor_copy_to_host(&g_gpu, t16, o16);

        int64_t at;
        const float *wx = w->data;
        if ((at = first_diff(c_g, c_c, n, 1)) >= 0)
            lb_test_fail(__FILE__, __LINE__, "%s (%lld, %lld) case %d: code [%lld] %d vs CPU %d (w %a)",
                         text, (long long)rows, (long long)cols, k, (long long)at, c_g[at], c_c[at],
                         (double)wx[at]);
        if ((at = first_diff(s_g, s_c, ns, 4)) >= 0)
            lb_test_fail(__FILE__, __LINE__, "%s (%lld, %lld) case %d: scale [%lld] %a vs CPU %a", text,
                         (long long)rows, (long long)cols, k, (long long)at, (double)s_g[at], (double)s_c[at]);
        if ((at = first_diff(z_g, z_c, ns, 4)) >= 0)
            lb_test_fail(__FILE__, __LINE__, "%s (%lld, %lld) case %d: zero [%lld] %a vs CPU %a", text,
                         (long long)rows, (long long)cols, k, (long long)at, (double)z_g[at], (double)z_c[at]);
        if ((at = first_diff(o_g, o_c, n, 4)) >= 0)
            lb_test_fail(__FILE__, __LINE__, "%s (%lld, %lld) case %d: f32 w^ [%lld] %a vs CPU %a (w %a)",
                         text, (long long)rows, (long long)cols, k, (long long)at, (double)o_g[at],
                         (double)o_c[at], (double)wx[at]);
        for (int64_t i = 0; i < n; i++) o_c[i] = bf16r(o_c[i]);
        if ((at = first_diff(o16, o_c, n, 4)) >= 0)
            lb_test_fail(__FILE__, __LINE__, "%s (%lld, %lld) case %d: bf16 w^ [%lld] %a vs bf16(CPU) %a",
                         text, (long long)rows, (long long)cols, k, (long long)at, (double)o16[at],
                         (double)o_c[at]);
        free_dev_quantizer(&qd);
        lb_quantizer_free(&q);
        lb_ctx_step_end(&g_gpu);
    }
    g_specs_checked++;
    lb_tensor_free(w);
    free(o_c), free(o_g), free(o16), free(s_c), free(z_c), free(s_g), free(z_g), free(c_c), free(c_g);
}

static void test_fwd_int_minmax(void)
{
    static const char *grans[] = {"g32", "g64", "g128", "ch", "tensor"};
    char text[64];
    for (int b = 2; b <= 8; b++)
        for (int sym = 0; sym < 2; sym++)
            for (int g = 0; g < 5; g++)
                for (int f16 = 0; f16 < 2; f16++) {
                    if (!f16 && (b % 3 != 0)) continue;   /* f32 scales: a subset */
                    snprintf(text, sizeof text, "int%d:%s:%s:minmax:%s", b, grans[g],
                             sym ? "sym" : "asym", f16 ? "f16" : "f32");
                    check_fwd(text, 37, 256, 3);
                    check_fwd(text, 5, 384, 2);
                }
    /* groups that leave lanes idle, scalar paths, two reads of a group */
    check_fwd("int4:g48", 7, 384, 2);
    check_fwd("int4:ch", 7, 99, 3);
    check_fwd("int4:tensor", 7, 99, 3);
    check_fwd("int3:ch:sym", 3, 8200, 2);
    check_fwd("int8:ch", 33, 2048, 1);
    check_fwd("int4:g128", 1, 128, 4);
}

static void test_fwd_int_mse_lsq(void)
{
    static const char *specs[] = {
        "int4:g128:mse", "int3:g64:sym:mse", "int2:g32:mse", "int8:ch:mse", "int4:tensor:mse",
        "int5:g32:asym:mse:f32",
        "int4:g128:lsq", "int4:g32:sym:lsq", "int3:ch:lsq", "int8:tensor:lsq", "int2:g64:lsq:f32",
        "int4:g128:lsq+", "int4:g64:lsq+", "int6:ch:lsq+", "int4:tensor:lsq+", "int3:g32:lsq+:f32",
    };
    for (size_t i = 0; i < sizeof specs / sizeof *specs; i++) {
        check_fwd(specs[i], 13, 256, 2);
        check_fwd(specs[i], 3, 128, 2);
    }
}

static void test_fwd_value_ggml(void)
{
    static const char *specs[] = {
        "nf4", "nf4:g32", "nf4:g128:f16", "nf4:g256", "fp4", "fp4:g64:f16", "fp4:g128",
        "fp8", "fp8:ch", "fp8:tensor:f16", "q4_0", "q4_1", "q5_0", "q5_1", "q8_0",
    };
    for (size_t i = 0; i < sizeof specs / sizeof *specs; i++) {
        check_fwd(specs[i], 37, 256, 3);
        check_fwd(specs[i], 5, 640, 2);
    }
}

/* The K-quants: the warp-per-super-block encoder (quant_k.cu) on every
 * adversarial pattern, one to many super-blocks per row, rows that leave
 * the last thread block partly idle. */
static void test_fwd_kquant(void)
{
    static const char *specs[] = {"q4_k", "q6_k"};
    for (int i = 0; i < 2; i++) {
        check_fwd(specs[i], 37, 256, 4);
        check_fwd(specs[i], 5, 768, 3);
        check_fwd(specs[i], 3, 2048, 3);
        check_fwd(specs[i], 300, 1024, 1);
    }
}

/* ---- through the op: output, lowp, backward -------------------------------- */

static void check_op(const char *text, int64_t rows, int64_t cols, bool with_lowp, uint64_t seed)
{
    lb_qspec sp;
    lb_status st = lb_qspec_parse(text, LB_QROLE_WEIGHT, &sp);
    LB_EXPECTF(!lb_failed(&st), "%s: %s", text, st.msg);
    if (lb_failed(&st)) return;
    int64_t n = rows * cols, shape[2] = {rows, cols};
    lb_tensor *wc = lb_tensor_alloc(LB_F32, 2, shape);
    fill_case((int)seed, wc->data, rows, cols);
    wc->requires_grad = true;
    wc->name = "layer.weight";
    lb_quantizer qc;
    st = lb_quantizer_init(&qc, &sp, wc, "layer.weight");
    LB_EXPECTF(!lb_failed(&st), "%s: init: %s", text, st.msg);
    if (lb_failed(&st)) return;
    perturb_learned(&qc);
    lb_tensor *wg = to_dev(wc);
    if (with_lowp) lb_param_refresh_lowp(&g_gpu, wg);
    lb_quantizer qg = dev_quantizer(&qc);

    gpc_poison_pool(&g_gpu, (size_t)n * 8 + (1 << 20));
    lb_tensor *oc = lb_fake_quant_weight(&g_cpu, wc, &qc);
    lb_tensor *og = lb_fake_quant_weight(&g_gpu, wg, &qg);
    char what[160];
    snprintf(what, sizeof what, "op %s (%lld, %lld)%s", text, (long long)rows, (long long)cols,
             with_lowp ? " into lowp" : "");
    LB_EXPECTF(og->dtype == LB_BF16 && og->device == LB_CUDA, "%s: output is %s", what,
               lb_dtype_name(og->dtype));
    if (with_lowp) LB_EXPECTF(og->data == wg->lowp->data, "%s: w^ not written into w->lowp", what);
    float *got = malloc((size_t)n * 4), *ref = malloc((size_t)n * 4);
    lb_tensor_copy_to_host(&g_gpu, og, got);
    for (int64_t i = 0; i < n; i++) ref[i] = bf16r(((const float *)oc->data)[i]);
    int64_t at = first_diff(got, ref, n, 4);
    LB_EXPECTF(at < 0, "%s: bf16 w^ [%lld] %a vs bf16(CPU) %a", what, (long long)at,
               at < 0 ? 0.0 : (double)got[at], at < 0 ? 0.0 : (double)ref[at]);
    if (!lb_qspec_learned(&sp)) {   /* the op stores the scales it used */
        int64_t ns = lb_tensor_numel(qc.scales);
        lb_tensor_copy_to_host(&g_gpu, qg.scales, got);
        LB_EXPECTF(first_diff(got, qc.scales->data, ns, 4) < 0, "%s: q->scales differ from the CPU's", what);
    }

    /* backward: the same bf16 output grad on both sides, grads preseeded */
    gpc_seed_out_grad(&g_cpu, &g_gpu, oc, og, seed + 7);
    lb_tensor *pc[3] = {wc, qc.scales, qc.zeros}, *pg[3] = {wg, qg.scales, qg.zeros};
    int np = !lb_qspec_learned(&sp) ? 1 : sp.mode == LB_QM_LSQP ? 3 : 2;
    for (int i = 0; i < np; i++) {
        gpc_preseed(&g_cpu, pc[i]);
        gpc_preseed(&g_gpu, pg[i]);
    }
    gpc_run_tape(&g_cpu);
    gpc_run_tape(&g_gpu);
    lb_tensor_copy_to_host(&g_gpu, wg->grad, got);
    at = first_diff(got, wc->grad->data, n, 4);
    LB_EXPECTF(at < 0, "%s: dW [%lld] %a vs CPU %a", what, (long long)at,
               at < 0 ? 0.0 : (double)got[at], at < 0 ? 0.0 : (double)((float *)wc->grad->data)[at]);
    /* LSQ sums: double on both sides, different order; each result is
     * rounded to float once, so they agree to a few float ulps of the
     * largest grad (1e-6 relative). */
    static const char *names[3] = {"dW", "d scale", "d zero"};
    for (int i = 1; i < np; i++) {
        char w2[200];
        snprintf(w2, sizeof w2, "%s: %s", what, names[i]);
        gpc_expect_close(w2, &g_gpu, pg[i]->grad, pc[i]->grad, 1e-6);
    }
    free(got);
    free(ref);
    free_dev_quantizer(&qg);
    lb_tensor_free(wg);
    lb_quantizer_free(&qc);
    lb_tensor_free(wc);
    lb_ctx_step_end(&g_cpu);
    lb_ctx_step_end(&g_gpu);
}

static void test_op_weight(void)
{
    static const char *specs[] = {
        "int4:g128", "int4:g128:sym", "int2:g32", "int8:ch", "int4:tensor", "int4:g128:mse",
        "int4:g128:lsq", "int3:g32:sym:lsq", "int8:ch:lsq", "int4:tensor:lsq",
        "int4:g128:lsq+", "int3:g64:lsq+", "int4:tensor:lsq+", "int5:ch:lsq+:f32",
        "nf4", "fp4", "fp8", "q4_0", "q4_1", "q5_1", "q8_0",
    };
    for (size_t i = 0; i < sizeof specs / sizeof *specs; i++) {
        check_op(specs[i], 37, 256, false, 100 + i);
        check_op(specs[i], 5, 384, true, 200 + i);
    }
    static const char *kq[] = {"q4_k", "q6_k"};   /* in: a multiple of 256 */
    for (int i = 0; i < 2; i++) {
        check_op(kq[i], 37, 256, false, 300 + i);
        check_op(kq[i], 5, 512, true, 310 + i);
    }
    check_op("int4:g128:lsq", 300, 1024, true, 7);
    check_op("int4:tensor:lsq+", 300, 1024, false, 8);
}

/* ---- wiring: lb_linear reads the fake-quant output ------------------------ */

/* test_linear_wiring: y = lb_linear(x, lb_fake_quant_weight(w)) with bf16
 * x on CUDA against the CPU chain, and the grads of x, w and the LSQ scale
 * through both ops (the GEMM's bf16 dw^ then the fused fake-quant
 * backward). Tolerances: bf16 operands and one bf16 rounding of each
 * output / grad over a reduction of K (y, dx) or M (dw^) terms. */
static void test_linear_wiring(void)
{
    static const char *specs[] = {"int4:g128", "int4:g64:lsq"};
    const int64_t M = 48, K = 256, N = 96;
    for (int k = 0; k < 2; k++) {
        lb_qspec sp;
        lb_status st = lb_qspec_parse(specs[k], LB_QROLE_WEIGHT, &sp);
        LB_CHECK(!lb_failed(&st));
        lb_tensor *wc = lb_tensor_alloc(LB_F32, 2, (const int64_t[]){N, K});
        lb_test_rand(wc->data, N * K, 31 + k, -0.5f, 0.5f);
        wc->requires_grad = true;
        lb_quantizer qc;
        st = lb_quantizer_init(&qc, &sp, wc, "lin.weight");
        LB_CHECK(!lb_failed(&st));
        perturb_learned(&qc);
        lb_tensor *wg = to_dev(wc);
        lb_param_refresh_lowp(&g_gpu, wg);
        lb_quantizer qg = dev_quantizer(&qc);
        lb_tensor *xc, *xg;
        gpc_pair(&g_cpu, &g_gpu, 2, (const int64_t[]){M, K}, LB_BF16, 77 + k, -1.0f, 1.0f, true, &xc, &xg);
        lb_tensor *yc = lb_linear(&g_cpu, xc, lb_fake_quant_weight(&g_cpu, wc, &qc), NULL);
        lb_tensor *yg = lb_linear(&g_gpu, xg, lb_fake_quant_weight(&g_gpu, wg, &qg), NULL);
        char what[128];
        snprintf(what, sizeof what, "linear(x, fake_quant(w)) %s: y", specs[k]);
        gpc_expect_close(what, &g_gpu, yg, yc, gpc_tol(LB_BF16, K));
        gpc_seed_out_grad(&g_cpu, &g_gpu, yc, yg, 5 + k);
        gpc_run_tape(&g_cpu);
        gpc_run_tape(&g_gpu);
        snprintf(what, sizeof what, "linear(x, fake_quant(w)) %s: dx", specs[k]);
        gpc_expect_close(what, &g_gpu, xg->grad, xc->grad, gpc_tol(LB_BF16, N));
        snprintf(what, sizeof what, "linear(x, fake_quant(w)) %s: dw", specs[k]);
        gpc_expect_close(what, &g_gpu, wg->grad, wc->grad, gpc_tol(LB_BF16, M));
        if (lb_qspec_learned(&sp)) {
            /* the scale grad sums group * M products of bf16-rounded dw^ */
            snprintf(what, sizeof what, "linear(x, fake_quant(w)) %s: d scale", specs[k]);
            gpc_expect_close(what, &g_gpu, qg.scales->grad, qc.scales->grad, gpc_tol(LB_BF16, M * 64));
        }
        free_dev_quantizer(&qg);
        lb_tensor_free(wg);
        lb_quantizer_free(&qc);
        lb_tensor_free(wc);
        lb_ctx_step_end(&g_cpu);
        lb_ctx_step_end(&g_gpu);
    }
}

/* ---- activations -------------------------------------------------------------- */

static void check_act(const char *text, int64_t rows, int64_t cols, lb_dtype dt, uint64_t seed)
{
    lb_qspec sp;
    lb_status st = lb_qspec_parse(text, LB_QROLE_ACT, &sp);
    LB_EXPECTF(!lb_failed(&st), "%s: %s", text, st.msg);
    if (lb_failed(&st)) return;
    int64_t shape[2] = {rows, cols}, n = rows * cols;
    lb_tensor *xc, *xg;
    gpc_pair(&g_cpu, &g_gpu, 2, shape, dt, seed, -3.0f, 3.0f, true, &xc, &xg);
    float *x = xc->data;
    for (int64_t i = 0; i < n; i += 17) x[i] = (float)((int)(x[i] * 4.0f)) * 0.5f;   /* ties */
    if (rows > 2)
        for (int64_t c = 0; c < cols; c++) x[cols + c] = 0.0f;                       /* zero row */
    gpc_round(x, n, dt);
    lb_tensor_copy_from_host(&g_gpu, xg, x);
    lb_quantizer qc;
    st = lb_quantizer_init_act(&qc, &sp, "site.input", 10.0f);
    LB_EXPECTF(!lb_failed(&st), "%s: %s", text, st.msg);
    if (sp.mode == LB_QM_STATIC || sp.mode == LB_QM_PACT) {
        /* calibrate on a batch with a smaller range, so that x clips */
        lb_tensor *cal = lb_tensor_new(&g_cpu, LB_F32, 2, shape);
        for (int64_t i = 0; i < n; i++) ((float *)cal->data)[i] = x[i] * 0.5f;
        lb_quantizer_observe(&qc, cal);
    }
    lb_quantizer qg = dev_quantizer(&qc);
    gpc_poison_pool(&g_gpu, (size_t)n * 8 + (1 << 20));
    lb_tensor *oc = lb_fake_quant_act(&g_cpu, xc, &qc), *og = lb_fake_quant_act(&g_gpu, xg, &qg);
    char what[160];
    snprintf(what, sizeof what, "act %s (%lld, %lld) %s", text, (long long)rows, (long long)cols,
             lb_dtype_name(dt));
    float *got = malloc((size_t)n * 4), *ref = malloc((size_t)n * 4);
    lb_tensor_copy_to_host(&g_gpu, og, got);
    for (int64_t i = 0; i < n; i++) ref[i] = dt == LB_BF16 ? bf16r(((float *)oc->data)[i]) : ((float *)oc->data)[i];
    int64_t at = first_diff(got, ref, n, 4);
    LB_EXPECTF(at < 0, "%s: forward [%lld] %a vs CPU %a (x %a)", what, (long long)at,
               at < 0 ? 0.0 : (double)got[at], at < 0 ? 0.0 : (double)ref[at], at < 0 ? 0.0 : (double)x[at]);

    gpc_seed_out_grad(&g_cpu, &g_gpu, oc, og, seed + 3);
    gpc_preseed(&g_cpu, xc);
    gpc_preseed(&g_gpu, xg);
    if (qc.alpha) {
        gpc_preseed(&g_cpu, qc.alpha);
        gpc_preseed(&g_gpu, qg.alpha);
    }
    gpc_run_tape(&g_cpu);
    gpc_run_tape(&g_gpu);
    lb_tensor_copy_to_host(&g_gpu, xg->grad, got);
    for (int64_t i = 0; i < n; i++)
        ref[i] = dt == LB_BF16 ? bf16r(((float *)xc->grad->data)[i]) : ((float *)xc->grad->data)[i];
    at = first_diff(got, ref, n, 4);
    LB_EXPECTF(at < 0, "%s: dx [%lld] %a vs CPU %a", what, (long long)at, at < 0 ? 0.0 : (double)got[at],
               at < 0 ? 0.0 : (double)ref[at]);
    if (qc.alpha) {
        char w2[200];
        snprintf(w2, sizeof w2, "%s: d alpha", what);
        gpc_expect_close(w2, &g_gpu, qg.alpha->grad, qc.alpha->grad, 1e-6);
    }
    free(got);
    free(ref);
    free_dev_quantizer(&qg);
    lb_quantizer_free(&qc);
    lb_ctx_step_end(&g_cpu);
    lb_ctx_step_end(&g_gpu);
}

static void test_act(void)
{
    static const char *specs[] = {"int8:token:dyn", "int8:tensor:static", "int8:tensor:pact"};
    static const int64_t shapes[][2] = {{37, 1000}, {3, 4099}, {1, 7}, {300, 2048}};
    for (int s = 0; s < 3; s++)
        for (int k = 0; k < 4; k++) {
            check_act(specs[s], shapes[k][0], shapes[k][1], LB_BF16, 40 + 4 * s + k);
            if (k == 0) check_act(specs[s], shapes[k][0], shapes[k][1], LB_F32, 60 + s);
        }
}

/* ---- speed ---------------------------------------------------------------------- */

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? -1 : x > y;
}

#define BENCH_REPS 20

/* median_ms: median of BENCH_REPS event-timed runs of fn (after 3 warm-ups). */
static float median_ms(void (*fn)(void *), void *arg)
{
    float t[BENCH_REPS];
    for (int i = 0; i < 3; i++) fn(arg);
    for (int i = 0; i < BENCH_REPS; i++) {
        void *e0 = lb_cuda_event_record(&g_gpu);
        fn(arg);
        void *e1 = lb_cuda_event_record(&g_gpu);
        t[i] = lb_cuda_event_ms(e0, e1);
        lb_cuda_event_free(e0);
        lb_cuda_event_free(e1);
    }
    qsort(t, BENCH_REPS, sizeof *t, cmp_float);
    return t[BENCH_REPS / 2];
}

typedef struct bench_arg {
    lb_cuda_qweight Q;
    float *w, *ps, *pz, *s, *z, *dw, *ds, *dz, *copy;
    void *o16, *dout;
    int64_t n;
} bench_arg;

static void run_fwd(void *p)
{
    bench_arg *b = p;
    lb_cuda_fake_quant_weight_fwd(&g_gpu, &b->Q, b->w, b->ps, b->pz, b->s, b->z, b->o16, NULL, NULL);
}

static void run_bwd(void *p)
{
    bench_arg *b = p;
    lb_cuda_fake_quant_weight_bwd(&g_gpu, &b->Q, b->w, b->s, b->z, b->dout, LB_BF16, 0.01f, b->dw,
                                  false, b->ds, b->dz);
}

static void run_copy(void *p)
{
    bench_arg *b = p;
    lb_cuda_memcpy_d2d(&g_gpu, b->copy, b->w, (size_t)b->n * 4);
}

static void bench(void)
{
    static const int64_t shapes[][2] = {{5632, 2048}, {32000, 2048}};
    printf("\n  fused fake-quant, median of %d (CUDA events); GB/s counts each input read and each "
           "output written once\n", BENCH_REPS);
    printf("  %-14s %-22s %9s %9s %8s\n", "shape", "pass", "ms", "GB/s", "vs copy");
    for (int k = 0; k < 2; k++) {
        int64_t rows = shapes[k][0], cols = shapes[k][1], n = rows * cols, ns = n / 128;
        bench_arg b = {.n = n};
        b.w = lb_cuda_malloc((size_t)n * 4);
        b.copy = lb_cuda_malloc((size_t)n * 4);
        b.dw = lb_cuda_malloc((size_t)n * 4);
        b.o16 = lb_cuda_malloc((size_t)n * 2);
        b.dout = lb_cuda_malloc((size_t)n * 2);
        b.s = lb_cuda_malloc((size_t)ns * 4);
        b.z = lb_cuda_malloc((size_t)ns * 4);
        b.ps = lb_cuda_malloc((size_t)ns * 4);
        b.pz = lb_cuda_malloc((size_t)ns * 4);
        b.ds = lb_cuda_malloc((size_t)ns * 4);
        b.dz = lb_cuda_malloc((size_t)ns * 4);
        float *h = malloc((size_t)n * 4);
        lb_test_rand(h, n, 99 + k, -0.05f, 0.05f);   /* weight-like, not zeros */
        lb_cuda_memcpy_h2d(&g_gpu, b.w, h, (size_t)n * 4);
        lb_tensor *dt = lb_tensor_alloc_dev(LB_CUDA, LB_BF16, 1, (const int64_t[]){n});
        lb_test_rand(h, n, 7, -1.0f, 1.0f);
        lb_tensor_copy_from_host(&g_gpu, dt, h);
        lb_cuda_memcpy_d2d(&g_gpu, b.dout, dt->data, (size_t)n * 2);
        lb_tensor_free(dt);
        b.Q = (lb_cuda_qweight){.grid = LB_CUDA_QGRID_INT, .mode = LB_CUDA_QMODE_MINMAX, .bits = 4,
                                .f16 = true, .rows = rows, .cols = cols, .group = 128};
        run_fwd(&b);   /* s, z for the backward and the learned runs */
        lb_cuda_memcpy_d2d(&g_gpu, b.ps, b.s, (size_t)ns * 4);
        lb_cuda_memcpy_d2d(&g_gpu, b.pz, b.z, (size_t)ns * 4);
        char shp[32];
        snprintf(shp, sizeof shp, "(%lld, %lld)", (long long)rows, (long long)cols);
        float tc = median_ms(run_copy, &b);
        double gb_copy = 8.0 * (double)n / (tc * 1e6);
        printf("  %-14s %-22s %9.4f %9.0f %7.0f%%\n", shp, "d2d copy (f32)", tc, gb_copy, 100.0);
        struct { const char *name; lb_cuda_qmode mode; void (*fn)(void *); bool lsq; double bytes; } runs[] = {
            {"fwd int4:g128 minmax", LB_CUDA_QMODE_MINMAX, run_fwd, false, 6.0},
            {"fwd int4:g128 lsq", LB_CUDA_QMODE_LSQ, run_fwd, false, 6.0},
            {"bwd int4:g128 (dW)", LB_CUDA_QMODE_MINMAX, run_bwd, false, 14.0},
            {"bwd int4:g128:lsq", LB_CUDA_QMODE_LSQ, run_bwd, true, 14.0},
        };
        for (size_t r = 0; r < sizeof runs / sizeof *runs; r++) {
            b.Q.mode = runs[r].mode;
            float *ds = b.ds, *dz = b.dz;
            if (!runs[r].lsq) b.ds = b.dz = NULL;
            float t = median_ms(runs[r].fn, &b);
            b.ds = ds, b.dz = dz;
            double gbs = runs[r].bytes * (double)n / (t * 1e6);
            printf("  %-14s %-22s %9.4f %9.0f %7.0f%%\n", shp, runs[r].name, t, gbs, 100.0 * gbs / gb_copy);
        }
        free(h);
        void *bufs[] = {b.w, b.copy, b.dw, b.o16, b.dout, b.s, b.z, b.ps, b.pz, b.ds, b.dz};
        for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) lb_cuda_free_ptr(bufs[i]);
    }
}

int main(int argc, char **argv)
{
    GPC_SKIP_WITHOUT_GPU();
    gpc_ctx(&g_gpu);
    lb_status st = lb_ctx_init(&g_cpu, LB_CPU);
    LB_CHECK(!lb_failed(&st));
    bool only_bench = argc > 1 && strcmp(argv[1], "--bench-only") == 0;
    if (!only_bench) {
        LB_RUN(test_fwd_int_minmax);
        LB_RUN(test_fwd_int_mse_lsq);
        LB_RUN(test_fwd_value_ggml);
        LB_RUN(test_fwd_kquant);
        LB_RUN(test_op_weight);
        LB_RUN(test_linear_wiring);
        LB_RUN(test_act);
        printf("  %d spec x shape combinations checked bit for bit\n", g_specs_checked);
    }
    if (only_bench || (argc > 1 && strcmp(argv[1], "--bench") == 0) || getenv("LB_BENCH")) bench();
    lb_ctx_free(&g_cpu);
    lb_ctx_free(&g_gpu);
    return lb_test_summary();
}
