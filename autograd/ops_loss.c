/* ops_loss.c — lb_cross_entropy (mean NLL over counted rows, log-softmax
 * fused): checks, output, tape, and the branch to the CPU or CUDA kernels.
 *
 * The per-row work is in kernels/cpu/loss.c and kernels/cuda/loss.cu. On
 * the CPU this file sums the per-row NLL in double over the counted rows;
 * on CUDA the kernels do (fixed order) and the loss stays on the device, an
 * f32 scalar; nll_sum, when asked for, is copied back (one wait). Targets
 * may be on the CPU (checked and counted there, then uploaded) or on the
 * logits' device (copied back for the check: one wait). With no counted
 * row the loss is 0 and so is the grad (rather than 0/0). With
 * ctx->release_grads on, the CUDA backward writes dlogits over the logits'
 * own memory when nothing else can read them afterwards (in_place_ok):
 * the (N, V) logits and their grad never exist side by side. Not here:
 * distillation losses, z-loss (train/).
 */
#include <string.h>

#include "autograd/ops.h"
#include "autograd/ops_common.h"
#include "kernels/cpu/kernels.h"
#include "kernels/cuda/kernels.h"

typedef struct xent_saved {
    float *rowmax;            // (N), on the logits' device
    float *logsum;            // (N)
    const int32_t *targets;   // (N), on the logits' device
    int64_t count;            // rows with target >= 0
    bool in_place;            // CUDA: dlogits may overwrite the logits (in_place_ok)
} xent_saved;

/* in_place_ok: no backward can read the logits' data after this op's:
 * the newest nodes of the tape are reshapes of them (which read no data)
 * down to the lb_linear or lb_matmul that made them (whose backward reads
 * its inputs, not its output), so no node between their producer and this
 * op reads them; nodes recorded after this op run their backward first.
 * And release_grads is on: the grad is dead after its consumer, so the
 * memory goes back then (the logits' values are gone after lb_backward). */
static bool in_place_ok(const lb_ctx *ctx, const lb_tensor *logits)
{
    if (!ctx->release_grads || logits->device != LB_CUDA || logits->grad ||
        (logits->flags & ~(unsigned)LB_TENSOR_VIEW))
        return false;
    const lb_tensor *t = logits;
    for (const lb_node *n = ctx->tape; n; n = n->prev) {
        if (n->out != t || (n->out->flags & ~(unsigned)LB_TENSOR_VIEW)) return false;
        if (strcmp(n->op, "linear") == 0 || strcmp(n->op, "matmul") == 0) return true;
        if (strcmp(n->op, "reshape") != 0) return false;
        t = n->in[0];
    }
    return false;
}

static void cross_entropy_backward(lb_ctx *ctx, lb_node *node)
{
    lb_tensor *logits = node->in[0];
    const xent_saved *sv = node->saved;
    int64_t N = logits->shape[0], V = logits->shape[1];
    if (logits->device == LB_CUDA) {
        /* a fresh grad is all zeros: write it instead of adding to it,
         * over the logits themselves when that is safe */
        bool accumulate = logits->grad != NULL;
        if (!accumulate && sv->in_place)
            logits->grad = lb_tensor_view_of(ctx, logits, logits->ndim, logits->shape);
        void *dlogits = lb_op_grad_data(ctx, logits);
        lb_cuda_cross_entropy_bwd(ctx, logits->data, sv->targets, sv->rowmax, sv->logsum,
                                  node->out->grad->data, sv->count, dlogits, N, V, accumulate,
                                  logits->dtype);
        return;
    }
    float *dlogits = lb_op_grad_data(ctx, logits);
    if (!dlogits || sv->count == 0) return;
    float g = ((const float *)node->out->grad->data)[0] / (float)sv->count;
    lb_cpu_cross_entropy_bwd(logits->data, sv->targets, sv->rowmax, sv->logsum, g, dlogits, N, V);
}

lb_tensor *lb_cross_entropy(lb_ctx *ctx, lb_tensor *logits, lb_tensor *targets,
                            double *nll_sum, int64_t *count)
{
    LB_CHECKF(logits != NULL && targets != NULL, "lb_cross_entropy: logits or targets is NULL");
    lb_device dev = logits->device;
    lb_op_check_on("lb_cross_entropy", "logits", logits, dev);
    LB_CHECKF(targets->dtype == LB_I32 && (targets->device == LB_CPU || targets->device == dev),
              "lb_cross_entropy: targets %s are %s on %s, expected i32 on the cpu or the "
              "logits' device", LB_SHAPE_STR(targets), lb_dtype_name(targets->dtype),
              lb_device_name(targets->device));
    LB_CHECKF(logits->ndim == 2 && targets->ndim == 1 && targets->shape[0] == logits->shape[0],
              "lb_cross_entropy: logits %s must be (N, V) and targets %s (N)",
              LB_SHAPE_STR(logits), LB_SHAPE_STR(targets));
    int64_t N = logits->shape[0], V = logits->shape[1];
    size_t tbytes = (size_t)N * sizeof(int32_t), fbytes = (size_t)N * sizeof(float);
    const int32_t *tg = targets->data;   /* host copy for the check */
    if (targets->device == LB_CUDA) {
        int32_t *h = lb_arena_alloc(ctx, tbytes);
        lb_cuda_memcpy_d2h(ctx, h, targets->data, tbytes);
        tg = h;
    }
    int64_t n_counted = 0;
    for (int64_t i = 0; i < N; i++) {
        LB_CHECKF(tg[i] < V, "lb_cross_entropy: targets[%lld] = %d is outside logits %s",
                  (long long)i, tg[i], LB_SHAPE_STR(logits));
        n_counted += tg[i] >= 0;
    }
    if (count) *count = n_counted;
    lb_tensor *out = lb_tensor_new_dev(ctx, dev, LB_F32, 0, NULL);   // scalar
    float *rowmax, *logsum;   // (N) each
    const int32_t *ktg = tg;  /* the targets on the logits' device */
    if (dev == LB_CUDA) {
        if (targets->device == LB_CUDA) {
            ktg = targets->data;
        } else {
            int32_t *d = lb_cuda_step_alloc(ctx, tbytes);
            lb_cuda_memcpy_h2d(ctx, d, targets->data, tbytes);
            ktg = d;
        }
        rowmax = lb_cuda_step_alloc(ctx, fbytes);
        logsum = lb_cuda_step_alloc(ctx, fbytes);
        float *nll = lb_cuda_step_alloc(ctx, fbytes);
        double *dsum = nll_sum ? lb_cuda_step_alloc(ctx, sizeof(double)) : NULL;
        lb_cuda_cross_entropy_fwd(ctx, logits->data, ktg, rowmax, logsum, nll, n_counted,
                                  out->data, dsum, N, V, logits->dtype);
        if (nll_sum) lb_cuda_memcpy_d2h(ctx, nll_sum, dsum, sizeof(double));
    } else {
        rowmax = lb_arena_alloc(ctx, fbytes);
        logsum = lb_arena_alloc(ctx, fbytes);
        float *nll = lb_arena_alloc(ctx, fbytes);
        lb_cpu_cross_entropy_fwd(logits->data, tg, rowmax, logsum, nll, N, V);
        double sum = 0.0;
        for (int64_t i = 0; i < N; i++) sum += nll[i];   /* ignored rows hold 0 */
        if (nll_sum) *nll_sum = sum;
        ((float *)out->data)[0] = n_counted ? (float)(sum / (double)n_counted) : 0.0f;
    }
    if (lb_needs_grad(ctx, &logits, 1)) {
        lb_tensor *ins[2] = {logits, targets};
        bool in_place = in_place_ok(ctx, logits);   /* before this op's node is on the tape */
        lb_node *node = lb_tape_record(ctx, "cross_entropy", cross_entropy_backward, out, ins, 2);
        xent_saved *sv = lb_arena_alloc(ctx, sizeof *sv);
        *sv = (xent_saved){.rowmax = rowmax, .logsum = logsum, .targets = ktg, .count = n_counted,
                           .in_place = in_place};
        node->saved = sv;
    }
    return out;
}
