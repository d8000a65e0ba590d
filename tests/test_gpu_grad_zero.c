/* test_gpu_grad_zero.c — "grads are zero" (LB_TENSOR_GRAD_ZEROS, tape.h) on
 * CUDA at the op level, against the CPU fp32 ops.
 *
 * Each case gives the CUDA parameters (weights, biases, norm weights) grads
 * filled with NaN and marked zero (lb_grad_mark_zero: the state
 * lb_model_zero_grad leaves, with memory that was never cleared), then runs
 * two micro-batches on both devices: the first writer of each grad must
 * overwrite it (the dW GEMM with beta 0, the bias column sums, the norm
 * weight/bias column sums) and take the mark; the second micro-batch must
 * accumulate. The CPU side starts from zeroed grads without marks (the
 * accumulate-only backward). Ops: lb_linear (dw, dbias) at two sizes,
 * lb_linear twice with one weight (two writers in one backward: the second
 * adds), lb_rmsnorm on the block path and on the bf16 warp path, the fused
 * lb_add_rmsnorm, lb_layernorm (dw, db). Whole models and the fake-quant
 * backward: test_gpu_model.c and test_gpu_qat.c.
 *
 * Tolerances (gpu_ops_check.h: relative to the largest CPU value): weight
 * and bias grads are f32 sums over the rows of both micro-batches (<= 600)
 * of products of bf16-exact numbers, in another order than the CPU's:
 * GZ_TOL_DW = 1e-4, test_gpu_norm.c's GN_TOL_DW (seen there: 6e-7 at 300
 * rows). The fused op's dw reads h rounded to bf16 (the CPU keeps it f32):
 * GZ_TOL_FUSED = 4u as in test_gpu_norm.c; so does the weight used twice,
 * whose dw reads the inner output and its grad, each rounded to bf16 on
 * CUDA (u each). A grad that kept a NaN fails (gx_err is INFINITY for any
 * non-finite element).
 */
#include "gpu_ops_check.h"
#include "kernels/cuda/kernels.h"

#define GZ_TOL_DW 1e-4
#define GZ_TOL_FUSED (4.0 / 256)

typedef enum gz_op { GZ_LINEAR, GZ_LINEAR_TWICE, GZ_RMS, GZ_FUSED, GZ_LAYER } gz_op;

static const char *op_name(gz_op op)
{
    static const char *names[] = {"linear", "linear twice, one weight", "rmsnorm", "add_rmsnorm", "layernorm"};
    return names[op];
}

typedef struct gz_side {
    lb_ctx ctx;
    lb_tensor *w, *b;   /* parameters: w (N, C) for the linears, (C) for the norms; b (N) or (C) */
} gz_side;

/* mark_nan: p's grad (allocated now) filled with NaN and marked zero. */
static void mark_nan(lb_ctx *ctx, lb_tensor *p)
{
    if (!p) return;
    lb_tensor *g = lb_grad_of(ctx, p);
    lb_cuda_fill(ctx, g->data, lb_tensor_numel(g), NAN);
    lb_grad_mark_zero(p);
}

static bool marked(const lb_tensor *p) { return p && p->grad && (p->grad->flags & LB_TENSOR_GRAD_ZEROS); }

/* micro_batch: x (rows, C) [and r] on dev, the op's forward, its backward
 * from dout (rows, N or C); parameter grads accumulate across calls. */
static void micro_batch(gz_side *s, lb_device dev, gz_op op, int64_t rows, int64_t C, const float *x,
                        const float *r, const float *dout)
{
    lb_ctx *ctx = &s->ctx;
    if (dev == LB_CUDA) gx_poison(ctx);
    lb_tensor *xt = gx_tensor(ctx, dev, LB_BF16, x, LB_SHAPE(rows, C), true), *out, *h;
    switch (op) {
    case GZ_LINEAR: out = lb_linear(ctx, xt, s->w, s->b); break;                              // (rows, N)
    case GZ_LINEAR_TWICE: out = lb_linear(ctx, lb_linear(ctx, xt, s->w, NULL), s->w, s->b); break;   // (rows, C)
    case GZ_RMS: out = lb_rmsnorm(ctx, xt, s->w, 1e-5f); break;                               // (rows, C)
    case GZ_LAYER: out = lb_layernorm(ctx, xt, s->w, s->b, 1e-5f); break;                     // (rows, C)
    default:
        out = lb_add_rmsnorm(ctx, xt, gx_tensor(ctx, dev, LB_BF16, r, LB_SHAPE(rows, C), true), s->w, 1e-5f,
                             &h);   // (rows, C)
        break;
    }
    gx_backward(ctx, out, dout);
    lb_ctx_step_end(ctx);
}

/* side_init: the parameters on dev from host values; on CUDA a linear's
 * weight gets its bf16 copy and every grad is marked zero over NaN. */
static void side_init(gz_side *s, lb_device dev, gz_op op, int64_t C, int64_t N, const float *w, const float *b)
{
    gx_ctx(&s->ctx, dev);
    bool linear = op == GZ_LINEAR || op == GZ_LINEAR_TWICE;
    s->w = linear ? gx_param(&s->ctx, dev, w, LB_SHAPE(N, C)) : gx_param(&s->ctx, dev, w, LB_SHAPE(C));
    s->b = op == GZ_RMS || op == GZ_FUSED ? NULL : gx_param(&s->ctx, dev, b, LB_SHAPE(linear ? N : C));
    if (dev != LB_CUDA) return;
    if (linear) lb_param_refresh_lowp(&s->ctx, s->w);
    mark_nan(&s->ctx, s->w);
    mark_nan(&s->ctx, s->b);
}

static void check_case(gz_op op, int64_t rows, int64_t C, int64_t N, uint64_t seed)
{
    if (op != GZ_LINEAR) N = C;   /* the norms, and a weight applied twice, are square */
    bool linear = op == GZ_LINEAR || op == GZ_LINEAR_TWICE;
    int64_t nw = linear ? N * C : C, nb = linear ? N : C;
    float *w = linear ? gx_rand(nw, seed, -0.2f, 0.2f) : gx_rand(nw, seed, 0.5f, 1.5f);
    float *b = gx_rand(nb, seed + 1, -0.5f, 0.5f);
    gz_side c, g;
    side_init(&c, LB_CPU, op, C, N, w, b);
    side_init(&g, LB_CUDA, op, C, N, w, b);
    char what[160];
#define WHAT(part) (snprintf(what, sizeof what, "%s rows %lld C %lld N %lld: %s", op_name(op), (long long)rows, \
                             (long long)C, (long long)N, part), what)
    for (int mb = 0; mb < 2; mb++) {
        float *x = gx_rand(rows * C, seed + 10 + (uint64_t)mb, -2.0f, 2.0f);
        float *r = gx_rand(rows * C, seed + 20 + (uint64_t)mb, -1.0f, 1.0f);
        float *dout = gx_rand(rows * N, seed + 30 + (uint64_t)mb, -1.0f, 1.0f);
        micro_batch(&c, LB_CPU, op, rows, C, x, r, dout);
        micro_batch(&g, LB_CUDA, op, rows, C, x, r, dout);
        LB_EXPECTF(!marked(g.w) && !marked(g.b), "%s", WHAT("a grad is still marked zero after a backward"));
        free(x);
        free(r);
        free(dout);
    }
    double tw = op == GZ_FUSED || op == GZ_LINEAR_TWICE ? GZ_TOL_FUSED : GZ_TOL_DW;
    gx_expect(&g.ctx, g.w->grad, &c.ctx, c.w->grad, tw, WHAT("dw after 2 micro-batches"));
    if (g.b) gx_expect(&g.ctx, g.b->grad, &c.ctx, c.b->grad, GZ_TOL_DW, WHAT("db after 2 micro-batches"));
#undef WHAT
    lb_tensor_free(c.w);
    lb_tensor_free(c.b);
    lb_tensor_free(g.w);
    lb_tensor_free(g.b);
    lb_ctx_free(&c.ctx);
    lb_ctx_free(&g.ctx);
    free(w);
    free(b);
}

static void test_linear(void)
{
    if (!gx_have_gpu()) return;
    check_case(GZ_LINEAR, 14, 37, 13, 100);
    check_case(GZ_LINEAR, 300, 256, 96, 200);
    check_case(GZ_LINEAR_TWICE, 40, 64, 64, 300);
}

static void test_norms(void)
{
    if (!gx_have_gpu()) return;
    check_case(GZ_RMS, 7, 384, 0, 400);      /* block path */
    check_case(GZ_RMS, 300, 1280, 0, 500);   /* bf16 warp path */
    check_case(GZ_FUSED, 300, 2048, 0, 600);
    check_case(GZ_LAYER, 7, 384, 0, 700);
    check_case(GZ_LAYER, 300, 4099, 0, 800);
}

int main(void)
{
    LB_RUN(test_linear);
    LB_RUN(test_norms);
    return lb_test_summary();
}
