/* ops_gemm.c — lb_matmul and lb_linear: shape, device and dtype checks,
 * output, tape, and the branch to the CPU or CUDA kernels.
 *
 * The arithmetic is in kernels/cpu/gemm.c and kernels/cuda/gemm.cu. On
 * CUDA a GEMM reads bf16 operands: an activation's own data, a parameter's
 * bf16 copy `lowp` (tensor.h), or a bf16 step copy of any other f32 tensor;
 * the output has the first input's dtype (bf16 for activations) and each
 * grad its tensor's dtype (an f32 parameter's grad is written by cuBLASLt
 * in f32 directly). Not here: quantized or fake-quantized linear layers
 * (quant/), the nn.Linear module (layers/).
 */
#include <limits.h>

#include "autograd/ops.h"
#include "autograd/ops_common.h"
#include "kernels/cpu/kernels.h"
#include "kernels/cuda/kernels.h"

typedef struct matmul_saved {
    bool ta, tb, shared_b;      /* shared_b: one B for every batch of A */
    int64_t batch, M, N, K;
    const void *a16, *b16;      /* CUDA: the bf16 operands the forward read */
} matmul_saved;

/* cuda_operand: the bf16 data a CUDA GEMM reads for t: a bf16 tensor's own
 * data, an f32 parameter's lowp copy, or a bf16 step copy of another f32
 * tensor. A persistent f32 tensor without lowp is refused: its copy was
 * never made (lb_param_refresh_lowp). */
static const void *cuda_operand(lb_ctx *ctx, const char *op, const char *arg, lb_tensor *t)
{
    if (t->dtype == LB_BF16) return t->data;
    if (t->lowp) {
        LB_CHECKF(t->lowp->dtype == LB_BF16 && lb_tensor_numel(t->lowp) == lb_tensor_numel(t),
                  "%s: %s's lowp copy is not bf16 of its shape", op, arg);
        return t->lowp->data;
    }
    LB_CHECKF(!(t->flags & LB_TENSOR_PERSISTENT),
              "%s: %s %s is a persistent f32 CUDA tensor without its bf16 copy; call "
              "lb_param_refresh_lowp after creating or updating it", op,
              t->name ? t->name : arg, LB_SHAPE_STR(t));
    return lb_tensor_to(ctx, t, LB_CUDA, LB_BF16)->data;
}

/* cuda_dout: the output grad as bf16 (a GEMM operand); an f32 output's
 * grad (an f32 first input) is copied. */
static const void *cuda_dout(lb_ctx *ctx, lb_tensor *out)
{
    lb_tensor *g = out->grad;
    return g->dtype == LB_BF16 ? g->data : lb_tensor_to(ctx, g, LB_CUDA, LB_BF16)->data;
}

/* grad_dtype: the dtype of t's grad on CUDA (t's own, f32 for a
 * LB_TENSOR_GRAD_F32 stand-in such as a fake-quant w^: lb_grad_of); any
 * when t has no grad (the kernel skips a NULL grad). */
static lb_dtype grad_dtype(const lb_tensor *t)
{
    return !t ? LB_BF16 : (t->flags & LB_TENSOR_GRAD_F32) ? LB_F32 : t->dtype;
}

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
    const matmul_saved *s = node->saved;
    void *da = lb_op_grad_data(ctx, a), *db = lb_op_grad_data(ctx, b);
    if (a->device == LB_CUDA)
        lb_cuda_gemm_bwd(ctx, s->ta, s->tb, s->batch, s->shared_b, s->M, s->N, s->K, s->a16, s->b16,
                         cuda_dout(ctx, node->out), da, grad_dtype(a), db, grad_dtype(b));
    else
        matmul_run(s, a->data, b->data, NULL, node->out->grad->data, da, db);
}

lb_tensor *lb_matmul(lb_ctx *ctx, lb_tensor *a, lb_tensor *b, bool ta, bool tb)
{
    LB_CHECKF(a != NULL, "lb_matmul: a is NULL");
    lb_op_check_on("lb_matmul", "a", a, a->device);
    lb_op_check_on("lb_matmul", "b", b, a->device);
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
    lb_tensor *out = lb_tensor_new_dev(ctx, a->device, a->dtype, n, shape);   // (..., M, N)
    if (a->device == LB_CUDA) {
        s.a16 = cuda_operand(ctx, "lb_matmul", "a", a);
        s.b16 = cuda_operand(ctx, "lb_matmul", "b", b);
        lb_cuda_gemm_fwd(ctx, ta, tb, s.batch, s.shared_b, s.M, s.N, s.K, s.a16, s.b16, out->data,
                         out->dtype);
    } else {
        matmul_run(&s, a->data, b->data, out->data, NULL, NULL, NULL);
    }

    lb_tensor *ins[2] = {a, b};
    if (lb_needs_grad(ctx, ins, 2)) {
        lb_node *node = lb_tape_record(ctx, "matmul", matmul_backward, out, ins, 2);
        matmul_saved *sv = lb_arena_alloc(ctx, sizeof *sv);
        *sv = s;
        node->saved = sv;
    }
    return out;
}

typedef struct linear_saved {
    const void *x16, *w16;      /* CUDA: the bf16 operands the forward read */
} linear_saved;

/* The backward writes dx, then dw, then dbias. A grad is overwritten (beta
 * 0), not read as zeros and added to, when lb_grad_dst says so: a new step
 * grad (an activation's dx; a fake-quant w^'s f32 dW, LB_TENSOR_GRAD_F32) or
 * a parameter grad marked as holding zeros (the first writer after
 * zero_grad). One tensor in two roles is taken once, by its first writer,
 * and the later role accumulates (lb_grad_of): x == w or x == bias share dx's
 * buffer, written first. On the CPU dx always accumulates (an activation's
 * grad there is allocated zeroed). A fake-quant w^ recorded just before this
 * linear may get its master weight's marked-zero grad as its own
 * (lb_grad_dst_alias): dW^ is then written straight into it and the
 * fake-quant backward, next on the tape, applies the clip mask in place. */
static void linear_backward(lb_ctx *ctx, lb_node *node)
{
    lb_tensor *x = node->in[0], *w = node->in[1], *bias = node->in[2];
    int64_t K = w->shape[1], N = w->shape[0], M = lb_op_rows(x);
    bool cuda = x->device == LB_CUDA, xo = false, wo = false, bo = false;
    lb_tensor *gx = cuda ? lb_grad_dst(ctx, x, &xo) : NULL;
    void *dx = gx ? gx->data : lb_op_grad_data(ctx, x);
    lb_tensor *gw = w != x ? lb_grad_dst_alias(ctx, node, w, &wo) : NULL;
    void *dw = gw ? gw->data : lb_op_grad_data(ctx, w);
    lb_tensor *gb = bias != x && bias != w ? lb_grad_dst(ctx, bias, &bo) : NULL;
    void *db = gb ? gb->data : lb_op_grad_data(ctx, bias);
    if (cuda) {
        const linear_saved *s = node->saved;
        lb_cuda_linear_bwd(ctx, s->x16, s->w16, cuda_dout(ctx, node->out), dx, grad_dtype(x), xo,
                           dw, grad_dtype(w), wo, db, bo, M, N, K);
        return;
    }
    lb_cpu_linear_bwd(x->data, w->data, node->out->grad->data, dx, dw, wo, db, bo, M, N, K);
}

lb_tensor *lb_linear(lb_ctx *ctx, lb_tensor *x, lb_tensor *w, lb_tensor *bias)
{
    LB_CHECKF(x != NULL, "lb_linear: x is NULL");
    lb_op_check_on("lb_linear", "x", x, x->device);
    lb_op_check_on("lb_linear", "w", w, x->device);
    if (bias) lb_op_check_on("lb_linear", "bias", bias, x->device);
    /* the bias epilogue reads f32 (a parameter's master copy) */
    LB_CHECKF(!bias || bias->dtype == LB_F32, "lb_linear: bias %s is %s, expected f32",
              LB_SHAPE_STR(bias), lb_dtype_name(bias->dtype));
    LB_CHECKF(x->ndim >= 1 && w->ndim == 2 && x->shape[x->ndim - 1] == w->shape[1],
              "lb_linear: x %s does not match w %s (out, in)", LB_SHAPE_STR(x), LB_SHAPE_STR(w));
    LB_CHECKF(!bias || (bias->ndim == 1 && bias->shape[0] == w->shape[0]),
              "lb_linear: bias %s does not match w %s", LB_SHAPE_STR(bias), LB_SHAPE_STR(w));
    int64_t K = w->shape[1], N = w->shape[0], M = lb_op_rows(x);
    check_blas_dims("lb_linear", M, N, K);

    int64_t shape[LB_MAX_DIMS];
    for (int i = 0; i < x->ndim - 1; i++) shape[i] = x->shape[i];
    shape[x->ndim - 1] = N;
    lb_tensor *y = lb_tensor_new_dev(ctx, x->device, x->dtype, x->ndim, shape);   // (..., out)
    linear_saved s = {NULL, NULL};
    if (x->device == LB_CUDA) {
        s.x16 = cuda_operand(ctx, "lb_linear", "x", x);
        s.w16 = cuda_operand(ctx, "lb_linear", "w", w);
        lb_cuda_linear_fwd(ctx, s.x16, s.w16, bias ? bias->data : NULL, y->data, y->dtype, M, N, K);
    } else {
        lb_cpu_linear_fwd(x->data, w->data, bias ? bias->data : NULL, y->data, M, N, K);
    }

    lb_tensor *ins[3] = {x, w, bias};
    if (lb_needs_grad(ctx, ins, 3)) {
        lb_node *node = lb_tape_record(ctx, "linear", linear_backward, y, ins, 3);
        linear_saved *sv = lb_arena_alloc(ctx, sizeof *sv);
        *sv = s;
        node->saved = sv;
    }
    return y;
}
