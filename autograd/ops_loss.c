/* ops_loss.c — lb_cross_entropy (mean NLL over counted rows, log-softmax
 * fused): checks, output, tape.
 *
 * The per-row work is in kernels/cpu/loss.c; this file sums the per-row NLL
 * in double over the counted rows. With no counted row the loss is 0 and so
 * is the grad (rather than 0/0). Not here: distillation losses, z-loss
 * (train/).
 */
#include "autograd/ops.h"
#include "autograd/ops_common.h"
#include "kernels/cpu/kernels.h"

typedef struct xent_saved {
    float *rowmax;   // (N)
    float *logsum;   // (N)
    int64_t count;   // rows with target >= 0
} xent_saved;

static void cross_entropy_backward(lb_ctx *ctx, lb_node *node)
{
    lb_tensor *logits = node->in[0], *targets = node->in[1];
    const xent_saved *sv = node->saved;
    float *dlogits = lb_op_grad_data(ctx, logits);
    if (!dlogits || sv->count == 0) return;
    float g = ((const float *)node->out->grad->data)[0] / (float)sv->count;
    lb_cpu_cross_entropy_bwd(logits->data, targets->data, sv->rowmax, sv->logsum, g, dlogits,
                             logits->shape[0], logits->shape[1]);
}

lb_tensor *lb_cross_entropy(lb_ctx *ctx, lb_tensor *logits, lb_tensor *targets,
                            double *nll_sum, int64_t *count)
{
    lb_op_check_input("lb_cross_entropy", "logits", logits, LB_F32);
    lb_op_check_input("lb_cross_entropy", "targets", targets, LB_I32);
    LB_CHECKF(logits->ndim == 2 && targets->ndim == 1 && targets->shape[0] == logits->shape[0],
              "lb_cross_entropy: logits %s must be (N, V) and targets %s (N)",
              LB_SHAPE_STR(logits), LB_SHAPE_STR(targets));
    int64_t N = logits->shape[0], V = logits->shape[1];
    const int32_t *tg = targets->data;
    int64_t n_counted = 0;
    for (int64_t i = 0; i < N; i++) {
        LB_CHECKF(tg[i] < V, "lb_cross_entropy: targets[%lld] = %d is outside logits %s",
                  (long long)i, tg[i], LB_SHAPE_STR(logits));
        n_counted += tg[i] >= 0;
    }
    float *rowmax = lb_arena_alloc(ctx, (size_t)N * sizeof(float));   // (N)
    float *logsum = lb_arena_alloc(ctx, (size_t)N * sizeof(float));   // (N)
    float *nll = lb_arena_alloc(ctx, (size_t)N * sizeof(float));      // (N)
    lb_cpu_cross_entropy_fwd(logits->data, tg, rowmax, logsum, nll, N, V);
    double sum = 0.0;
    for (int64_t i = 0; i < N; i++) sum += nll[i];   /* ignored rows hold 0 */
    if (nll_sum) *nll_sum = sum;
    if (count) *count = n_counted;

    lb_tensor *out = lb_tensor_new(ctx, LB_F32, 0, NULL);   // scalar
    ((float *)out->data)[0] = n_counted ? (float)(sum / (double)n_counted) : 0.0f;
    if (lb_needs_grad(ctx, &logits, 1)) {
        lb_tensor *ins[2] = {logits, targets};
        lb_node *node = lb_tape_record(ctx, "cross_entropy", cross_entropy_backward, out, ins, 2);
        xent_saved *sv = lb_arena_alloc(ctx, sizeof *sv);
        *sv = (xent_saved){.rowmax = rowmax, .logsum = logsum, .count = n_counted};
        node->saved = sv;
    }
    return out;
}
