/* test_gpu_elementwise.c — the CUDA elementwise family (add, mul with
 * leading-dim broadcast, scale, silu, gelu exact/tanh, swiglu, sum) against
 * the CPU specification, forward and backward, in bf16 (the activation
 * dtype), f32, and bf16 activations with an f32 b (a bias-like parameter).
 * Shapes: rows of 1, 7, 37, 1000, 4099 elements (vector path and scalar
 * tails, broadcast periods that are and are not multiples of 8) under
 * leading dims 1, 3, 13; one tensor large enough that the grid-stride loops
 * wrap; pointers off 16-byte alignment; swiglu's backward writing new grads
 * (no preseed). Skipped (77) without a GPU. */
#include "gpu_check.h"

static lb_ctx g_cpu, g_gpu;

typedef enum op_kind {
    OP_ADD, OP_MUL, OP_SCALE, OP_SILU, OP_GELU_EXACT, OP_GELU_TANH, OP_SWIGLU, OP_SUM, OP_COUNT
} op_kind;

static const char *op_names[OP_COUNT] = {"add", "mul", "scale", "silu", "gelu", "gelu_tanh",
                                         "swiglu", "sum"};

static bool op_binary(op_kind k) { return k == OP_ADD || k == OP_MUL || k == OP_SWIGLU; }

static lb_tensor *run_op(lb_ctx *ctx, op_kind k, lb_tensor *a, lb_tensor *b)
{
    switch (k) {
    case OP_ADD: return lb_add(ctx, a, b);
    case OP_MUL: return lb_mul(ctx, a, b);
    case OP_SCALE: return lb_scale(ctx, a, -0.7f);
    case OP_SILU: return lb_silu(ctx, a);
    case OP_GELU_EXACT: return lb_gelu(ctx, a, LB_GELU_EXACT);
    case OP_GELU_TANH: return lb_gelu(ctx, a, LB_GELU_TANH);
    case OP_SWIGLU: return lb_swiglu(ctx, a, b);
    default: return lb_sum(ctx, a);
    }
}

/* check_case: op k on a (ndim_a, sa) of dtype ta and, for binary ops, b
 * (ndim_b, sb) of dtype tb; forward and every input grad, CUDA vs CPU. */
static void check_case(op_kind k, int ndim_a, const int64_t *sa, int ndim_b, const int64_t *sb,
                       lb_dtype ta, lb_dtype tb, uint64_t seed)
{
    lb_tensor *ac, *ag, *bc = NULL, *bg = NULL;
    gpc_pair(&g_cpu, &g_gpu, ndim_a, sa, ta, seed, -3.0f, 3.0f, true, &ac, &ag);
    if (op_binary(k)) gpc_pair(&g_cpu, &g_gpu, ndim_b, sb, tb, seed + 1, -2.0f, 2.0f, true, &bc, &bg);
    int64_t n = lb_tensor_numel(ac), nb = bc ? lb_tensor_numel(bc) : n;
    gpc_poison_pool(&g_gpu, 4 * lb_tensor_nbytes(ac) + (64 << 10));

    lb_tensor *oc = run_op(&g_cpu, k, ac, bc), *og = run_op(&g_gpu, k, ag, bg);
    char what[160], shp[64];
    lb_tensor_shape_str(ac, shp, sizeof shp);
    int len = snprintf(what, sizeof what, "%s a %s %s", op_names[k], shp, lb_dtype_name(ta));
    if (bc) {
        lb_tensor_shape_str(bc, shp, sizeof shp);
        snprintf(what + len, sizeof what - (size_t)len, ", b %s %s", shp, lb_dtype_name(tb));
    }

    /* forward: pointwise except sum, whose per-thread chains, block trees
     * and final pass add at most n/256 + 32 fp32 roundings (tests/gpu_check.h
     * and lb_cuda_sum_fwd), bounded by that many u * sum |x|; the output is
     * f32 (no bf16 rounding). */
    char w[200];
    snprintf(w, sizeof w, "%s: forward", what);
    if (k == OP_SUM) {
        double abs_sum = 0.0;
        for (int64_t i = 0; i < n; i++) abs_sum += fabs(((const float *)ac->data)[i]);
        float got;
        lb_tensor_copy_to_host(&g_gpu, og, &got);
        double ref = ((const float *)oc->data)[0], bound = (double)(n / 256 + 32) * OPC_U32 * abs_sum;
        LB_EXPECTF(isfinite(got) && fabs(got - ref) <= bound + 1e-6, "%s: %.9g vs %.9g (bound %.3g)",
                   w, got, ref, bound);
    } else {
        gpc_expect_close(w, &g_gpu, og, oc, gpc_tol(ta, 0));
    }

    /* backward: grads of a, and of b (a column sum over n / nb rows when
     * broadcast, rounded once to b's dtype) */
    gpc_seed_out_grad(&g_cpu, &g_gpu, oc, og, seed + 2);
    gpc_preseed(&g_cpu, ac);
    gpc_preseed(&g_gpu, ag);
    if (bc) {
        gpc_preseed(&g_cpu, bc);
        gpc_preseed(&g_gpu, bg);
    }
    gpc_run_tape(&g_cpu);
    gpc_run_tape(&g_gpu);
    snprintf(w, sizeof w, "%s: grad a", what);
    gpc_expect_close(w, &g_gpu, ag->grad, ac->grad, gpc_tol(ta, 0));
    LB_EXPECTF(ag->grad->dtype == ta && ag->grad->device == LB_CUDA, "%s: grad a is %s",
               what, lb_dtype_name(ag->grad->dtype));
    if (bc) {
        snprintf(w, sizeof w, "%s: grad b", what);
        gpc_expect_close(w, &g_gpu, bg->grad, bc->grad, gpc_tol(tb, k == OP_SWIGLU ? 0 : n / nb));
    }
    lb_ctx_step_end(&g_cpu);
    lb_ctx_step_end(&g_gpu);
}

static const int64_t g_rows[] = {1, 7, 37, 1000, 4099};
static const int64_t g_lead[] = {1, 3, 13};

/* every op at every (lead, row) shape; binary ops with b of a's trailing
 * shape (broadcast), a's full shape, and a scalar-like (1) b */
static void check_all(lb_dtype ta, lb_dtype tb)
{
    uint64_t seed = 100;
    for (int k = 0; k < OP_COUNT; k++)
        for (size_t l = 0; l < sizeof g_lead / sizeof *g_lead; l++)
            for (size_t r = 0; r < sizeof g_rows / sizeof *g_rows; r++) {
                int64_t sa[2] = {g_lead[l], g_rows[r]};
                if (k == OP_SWIGLU) {
                    check_case(k, 2, sa, 2, sa, ta, ta, seed++);
                } else if (op_binary(k)) {
                    check_case(k, 2, sa, 1, sa + 1, ta, tb, seed++);
                    check_case(k, 2, sa, 2, sa, ta, tb, seed++);
                    check_case(k, 2, sa, 0, NULL, ta, tb, seed++);
                } else if (tb == ta) {   /* unary ops: once per activation dtype */
                    check_case(k, 2, sa, 0, NULL, ta, ta, seed++);
                }
            }
}

static void test_bf16(void) { check_all(LB_BF16, LB_BF16); }

static void test_f32(void) { check_all(LB_F32, LB_F32); }

/* add/mul of a bf16 activation and an f32 parameter (a bias, a scale): the
 * output and da are bf16, db is f32 */
static void test_bf16_with_f32_b(void) { check_all(LB_BF16, LB_F32); }

/* 3-D a with b of its two trailing dims, and a tensor big enough that the
 * grid-stride loops (at most 16 blocks of 256 threads per multiprocessor,
 * 8 elements per thread) go round more than once */
static void test_3d_and_large(void)
{
    int64_t sa[3] = {3, 13, 37};
    check_case(OP_ADD, 3, sa, 2, sa + 1, LB_BF16, LB_BF16, 7);
    check_case(OP_MUL, 3, sa, 2, sa + 1, LB_BF16, LB_F32, 8);
    int64_t big[2] = {13, 409600};   /* 5.3M elements */
    for (int k = 0; k < OP_COUNT; k++) {
        if (k == OP_SWIGLU)
            check_case(k, 2, big, 2, big, LB_BF16, LB_BF16, 20 + (uint64_t)k);
        else
            check_case(k, 2, big, 1, big + 1, LB_BF16, LB_BF16, 20 + (uint64_t)k);
    }
}

/* off_by_one: a view of t's data without its first element, so the data
 * pointer is 2 (bf16) bytes off 16-byte alignment: the kernels must take
 * the scalar path and still be right. The struct lives in the arena. */
static lb_tensor *off_by_one(lb_ctx *ctx, lb_tensor *t)
{
    int64_t n = lb_tensor_numel(t) - 1;
    lb_tensor *v = lb_tensor_view_of(ctx, t, 1, (int64_t[]){lb_tensor_numel(t)});
    v->shape[0] = n;
    v->data = (char *)t->data + lb_dtype_size(t->dtype);
    return v;
}

static void test_misaligned(void)
{
    int64_t s[1] = {1001};
    lb_tensor *ac, *ag, *bc, *bg;
    gpc_pair(&g_cpu, &g_gpu, 1, s, LB_BF16, 31, -3, 3, false, &ac, &ag);
    gpc_pair(&g_cpu, &g_gpu, 1, s, LB_BF16, 32, -3, 3, false, &bc, &bg);
    lb_tensor *ac1 = off_by_one(&g_cpu, ac), *ag1 = off_by_one(&g_gpu, ag);
    lb_tensor *bc1 = off_by_one(&g_cpu, bc), *bg1 = off_by_one(&g_gpu, bg);
    gpc_poison_pool(&g_gpu, 1 << 20);
    gpc_expect_close("silu, misaligned", &g_gpu, lb_silu(&g_gpu, ag1), lb_silu(&g_cpu, ac1),
                     gpc_tol(LB_BF16, 0));
    gpc_expect_close("add, misaligned", &g_gpu, lb_add(&g_gpu, ag1, bg1), lb_add(&g_cpu, ac1, bc1),
                     gpc_tol(LB_BF16, 0));
    int64_t s2[1] = {1000};
    lb_tensor *bc2, *bg2;
    gpc_pair(&g_cpu, &g_gpu, 1, s2, LB_BF16, 33, -3, 3, false, &bc2, &bg2);
    gpc_expect_close("mul, misaligned a, aligned b", &g_gpu, lb_mul(&g_gpu, ag1, bg2),
                     lb_mul(&g_cpu, ac1, bc2), gpc_tol(LB_BF16, 0));
    /* sum: the bound of check_case, n = 1000 */
    float got, ref = ((float *)lb_sum(&g_cpu, ac1)->data)[0];
    lb_tensor_copy_to_host(&g_gpu, lb_sum(&g_gpu, ag1), &got);
    double abs_sum = 0.0;
    for (int64_t i = 0; i < 1000; i++) abs_sum += fabs(((const float *)ac1->data)[i]);
    LB_EXPECTF(fabs((double)got - ref) <= (1000 / 256 + 32) * OPC_U32 * abs_sum + 1e-6,
               "sum, misaligned: %.9g vs %.9g", got, ref);
    lb_ctx_step_end(&g_cpu);
    lb_ctx_step_end(&g_gpu);
}

/* swiglu's backward into new grads: no grad on gate or up yet, so CUDA
 * writes both in one pass over poisoned pool memory (then one new and one
 * preseeded: the new one starts at zero); the CPU starts from zero. Shapes
 * on the 16-byte path with a scalar tail, and misaligned (off_by_one). */
static void check_swiglu_fresh(int64_t rows, int64_t cols, bool misaligned, bool one_old,
                               uint64_t seed)
{
    int64_t s[2] = {rows, cols};
    lb_tensor *ac, *ag, *bc, *bg;
    gpc_pair(&g_cpu, &g_gpu, 2, s, LB_BF16, seed, -3.0f, 3.0f, true, &ac, &ag);
    gpc_pair(&g_cpu, &g_gpu, 2, s, LB_BF16, seed + 1, -2.0f, 2.0f, true, &bc, &bg);
    if (misaligned) {
        ac = off_by_one(&g_cpu, ac);
        ag = off_by_one(&g_gpu, ag);
        bc = off_by_one(&g_cpu, bc);
        bg = off_by_one(&g_gpu, bg);
        ac->requires_grad = ag->requires_grad = bc->requires_grad = bg->requires_grad = true;
    }
    if (one_old) {
        gpc_preseed(&g_cpu, bc);
        gpc_preseed(&g_gpu, bg);
    }
    gpc_poison_pool(&g_gpu, 8 * lb_tensor_nbytes(ag) + (64 << 10));
    lb_tensor *oc = lb_swiglu(&g_cpu, ac, bc), *og = lb_swiglu(&g_gpu, ag, bg);
    gpc_seed_out_grad(&g_cpu, &g_gpu, oc, og, seed + 2);
    gpc_run_tape(&g_cpu);
    gpc_run_tape(&g_gpu);
    char w[160];
    snprintf(w, sizeof w, "swiglu fresh (%lld, %lld)%s%s: grad gate", (long long)rows,
             (long long)cols, misaligned ? " misaligned" : "", one_old ? " up preseeded" : "");
    gpc_expect_close(w, &g_gpu, ag->grad, ac->grad, gpc_tol(LB_BF16, 0));
    snprintf(w, sizeof w, "swiglu fresh (%lld, %lld)%s%s: grad up", (long long)rows,
             (long long)cols, misaligned ? " misaligned" : "", one_old ? " up preseeded" : "");
    gpc_expect_close(w, &g_gpu, bg->grad, bc->grad, gpc_tol(LB_BF16, 0));
    lb_ctx_step_end(&g_cpu);
    lb_ctx_step_end(&g_gpu);
}

static void test_swiglu_fresh(void)
{
    check_swiglu_fresh(13, 4099, false, false, 61);
    check_swiglu_fresh(3, 1000, true, false, 64);
    check_swiglu_fresh(7, 1000, false, true, 67);
}

/* the same inputs give the same bits twice (no atomics, fixed orders) */
static void test_deterministic(void)
{
    int64_t sa[2] = {4099, 1000};
    lb_tensor *ac, *ag, *bc, *bg;
    gpc_pair(&g_cpu, &g_gpu, 2, sa, LB_BF16, 41, -1, 1, true, &ac, &ag);
    gpc_pair(&g_cpu, &g_gpu, 1, sa + 1, LB_BF16, 42, -1, 1, true, &bc, &bg);
    float sums[2];
    uint16_t *db[2];
    for (int rep = 0; rep < 2; rep++) {
        lb_tensor *loss = lb_sum(&g_gpu, lb_mul(&g_gpu, ag, bg));
        bg->grad = NULL;
        ag->grad = NULL;
        lb_backward(&g_gpu, loss);
        lb_tensor_copy_to_host(&g_gpu, loss, &sums[rep]);
        lb_tensor *h = lb_tensor_to(&g_gpu, bg->grad, LB_CPU, LB_BF16);
        db[rep] = h->data;
        g_gpu.tape = NULL;
        g_gpu.tape_len = 0;
    }
    LB_EXPECTF(memcmp(&sums[0], &sums[1], sizeof(float)) == 0, "sum differs: %.9g vs %.9g",
               sums[0], sums[1]);
    LB_EXPECT(memcmp(db[0], db[1], 1000 * sizeof(uint16_t)) == 0);
    lb_ctx_step_end(&g_cpu);
    lb_ctx_step_end(&g_gpu);
}

int main(void)
{
    GPC_SKIP_WITHOUT_GPU();
    opc_ctx(&g_cpu);
    gpc_ctx(&g_gpu);
    LB_RUN(test_bf16);
    LB_RUN(test_f32);
    LB_RUN(test_bf16_with_f32_b);
    LB_RUN(test_3d_and_large);
    LB_RUN(test_misaligned);
    LB_RUN(test_swiglu_fresh);
    LB_RUN(test_deterministic);
    lb_ctx_free(&g_gpu);
    lb_ctx_free(&g_cpu);
    return lb_test_summary();
}
