/* ops_gemm.c — lb_matmul and lb_linear: shape checks, output, tape.
 *
 * The arithmetic is in kernels/cpu/gemm.c. Not here: quantized or
 * fake-quantized linear layers (quant/), the nn.Linear module (layers/).
 */
#include <limits.h>

#include "autograd/ops.h"
#include "autograd/ops_common.h"
#include "kernels/cpu/kernels.h"

typedef struct matmul_saved {
    bool ta, tb, shared_b;      /* shared_b: one B for every batch of A */
    int64_t batch, M, N, K;
} matmul_saved;

static void check_blas_dims(const char *op, int64_t M, int64_t N, int64_t K)
{
    LB_CHECKF(M <= INT_MAX && N <= INT_MAX && K <= INT_MAX,
              "%s: dims M=%lld N=%lld K=%lld exceed the BLAS int range", op,
              (long long)M, (long long)N, (long long)K);
}

/* matmul_run: forward (dc NULL: c = op(a) @ op(b)) or backward (accumulates
 * da, db from dc) over the batches. A shared B with untransposed A is one
 * GEMM over all batch rows. */
static void matmul_run(const matmul_saved *s, const float *a, const float *b, float *c,
                       const float *dc, float *da, float *db)
{
    if (s->shared_b && !s->ta) {
        if (!dc) lb_cpu_gemm_fwd(false, s->tb, s->batch * s->M, s->N, s->K, a, b, 0.0f, c);
        else lb_cpu_gemm_bwd(false, s->tb, s->batch * s->M, s->N, s->K, a, b, dc, da, db);
        return;
    }
    int64_t sa = s->M * s->K, sb = s->shared_b ? 0 : s->K * s->N, sc = s->M * s->N;
    for (int64_t i = 0; i < s->batch; i++) {
        if (!dc)
            lb_cpu_gemm_fwd(s->ta, s->tb, s->M, s->N, s->K, a + i * sa, b + i * sb, 0.0f, c + i * sc);
        else
            lb_cpu_gemm_bwd(s->ta, s->tb, s->M, s->N, s->K, a + i * sa, b + i * sb, dc + i * sc,
                            da ? da + i * sa : NULL, db ? db + i * sb : NULL);
    }
}

static void matmul_backward(lb_ctx *ctx, lb_node *node)
{
    lb_tensor *a = node->in[0], *b = node->in[1];
    float *da = lb_op_grad_data(ctx, a), *db = lb_op_grad_data(ctx, b);
    matmul_run(node->saved, a->data, b->data, NULL, node->out->grad->data, da, db);
}

lb_tensor *lb_matmul(lb_ctx *ctx, lb_tensor *a, lb_tensor *b, bool ta, bool tb)
{
    lb_op_check_input("lb_matmul", "a", a, LB_F32);
    lb_op_check_input("lb_matmul", "b", b, LB_F32);
    LB_CHECKF(a->ndim >= 2 && b->ndim >= 2, "lb_matmul: a %s and b %s need at least 2 dims",
              LB_SHAPE_STR(a), LB_SHAPE_STR(b));
    int n = a->ndim;
    matmul_saved s = {.ta = ta, .tb = tb, .shared_b = b->ndim == 2, .batch = 1};
    s.M = ta ? a->shape[n - 1] : a->shape[n - 2];
    s.K = ta ? a->shape[n - 2] : a->shape[n - 1];
    int64_t kb = tb ? b->shape[b->ndim - 1] : b->shape[b->ndim - 2];
    s.N = tb ? b->shape[b->ndim - 2] : b->shape[b->ndim - 1];
    for (int i = 0; i < n - 2; i++) s.batch *= a->shape[i];
    bool lead_ok = s.shared_b || b->ndim == n;
    for (int i = 0; lead_ok && !s.shared_b && i < n - 2; i++) lead_ok = a->shape[i] == b->shape[i];
    LB_CHECKF(kb == s.K && lead_ok,
              "lb_matmul: a %s (ta=%d) and b %s (tb=%d) do not multiply: inner dims %lld vs %lld, "
              "b must be 2-D or share a's leading dims",
              LB_SHAPE_STR(a), ta, LB_SHAPE_STR(b), tb, (long long)s.K, (long long)kb);
    check_blas_dims("lb_matmul", s.batch * s.M, s.N, s.K);

    int64_t shape[LB_MAX_DIMS];
    for (int i = 0; i < n - 2; i++) shape[i] = a->shape[i];
    shape[n - 2] = s.M;
    shape[n - 1] = s.N;
    lb_tensor *out = lb_tensor_new(ctx, LB_F32, n, shape);   // (..., M, N)
    matmul_run(&s, a->data, b->data, out->data, NULL, NULL, NULL);

    lb_tensor *ins[2] = {a, b};
    if (lb_needs_grad(ctx, ins, 2)) {
        lb_node *node = lb_tape_record(ctx, "matmul", matmul_backward, out, ins, 2);
        matmul_saved *sv = lb_arena_alloc(ctx, sizeof *sv);
        *sv = s;
        node->saved = sv;
    }
    return out;
}

static void linear_backward(lb_ctx *ctx, lb_node *node)
{
    lb_tensor *x = node->in[0], *w = node->in[1], *bias = node->in[2];
    int64_t K = w->shape[1], N = w->shape[0], M = lb_op_rows(x);
    lb_cpu_linear_bwd(x->data, w->data, node->out->grad->data, lb_op_grad_data(ctx, x),
                      lb_op_grad_data(ctx, w), lb_op_grad_data(ctx, bias), M, N, K);
}

lb_tensor *lb_linear(lb_ctx *ctx, lb_tensor *x, lb_tensor *w, lb_tensor *bias)
{
    lb_op_check_input("lb_linear", "x", x, LB_F32);
    lb_op_check_input("lb_linear", "w", w, LB_F32);
    if (bias) lb_op_check_input("lb_linear", "bias", bias, LB_F32);
    LB_CHECKF(x->ndim >= 1 && w->ndim == 2 && x->shape[x->ndim - 1] == w->shape[1],
              "lb_linear: x %s does not match w %s (out, in)", LB_SHAPE_STR(x), LB_SHAPE_STR(w));
    LB_CHECKF(!bias || (bias->ndim == 1 && bias->shape[0] == w->shape[0]),
              "lb_linear: bias %s does not match w %s", LB_SHAPE_STR(bias), LB_SHAPE_STR(w));
    int64_t K = w->shape[1], N = w->shape[0], M = lb_op_rows(x);
    check_blas_dims("lb_linear", M, N, K);

    int64_t shape[LB_MAX_DIMS];
    for (int i = 0; i < x->ndim - 1; i++) shape[i] = x->shape[i];
    shape[x->ndim - 1] = N;
    lb_tensor *y = lb_tensor_new(ctx, LB_F32, x->ndim, shape);   // (..., out)
    lb_cpu_linear_fwd(x->data, w->data, bias ? bias->data : NULL, y->data, M, N, K);

    lb_tensor *ins[3] = {x, w, bias};
    if (lb_needs_grad(ctx, ins, 3)) lb_tape_record(ctx, "linear", linear_backward, y, ins, 3);
    return y;
}
