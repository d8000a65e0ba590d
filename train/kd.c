/* kd.c — the KD loss op (see kd.h): forward, backward, tape node; the
 * CPU loops here (the specification, in double), CUDA in kernels/cuda/kd.cu. */
#include "train/kd.h"

#include <math.h>

#include "kernels/cuda/cuda.h"
#include "kernels/cuda/kernels.h"

typedef struct kd_saved {
    float *ps, *pt;   /* (N, V) student and teacher probabilities at temperature τ */
    float tau;
} kd_saved;

/* log-softmax of z/τ for one row into lp (double accumulations); returns
 * nothing, writes probabilities to p when non-NULL. */
static void row_logsoftmax(const float *z, int64_t V, float tau, double *lp, float *p)
{
    double mx = -INFINITY;
    for (int64_t v = 0; v < V; v++) mx = fmax(mx, (double)z[v] / tau);
    double sum = 0;
    for (int64_t v = 0; v < V; v++) sum += exp((double)z[v] / tau - mx);
    double lse = mx + log(sum);
    for (int64_t v = 0; v < V; v++) {
        lp[v] = (double)z[v] / tau - lse;
        if (p) p[v] = (float)exp(lp[v]);
    }
}

static void kd_backward(lb_ctx *ctx, lb_node *node)
{
    lb_tensor *s = node->in[0];
    const kd_saved *sv = node->saved;
    lb_tensor *g = lb_grad_of(ctx, s);
    int64_t N = s->shape[0], V = s->shape[1];
    float scale = ((const float *)node->out->grad->data)[0] * sv->tau / (float)N;
    float *dg = g->data;
    for (int64_t i = 0; i < N * V; i++) dg[i] += scale * (sv->ps[i] - sv->pt[i]);
}

/* ---- CUDA ------------------------------------------------------------------------ */

typedef struct kd_cuda_saved {
    float *lse_s, *lse_t;   /* (N) device */
    float tau;
} kd_cuda_saved;

static void kd_backward_cuda(lb_ctx *ctx, lb_node *node)
{
    lb_tensor *s = node->in[0], *t = node->in[1];
    const kd_cuda_saved *sv = node->saved;
    lb_tensor *g = lb_grad_of(ctx, s);
    LB_CHECKF(node->out->grad->dtype == LB_F32, "lb_kd_loss: the loss grad is %s, expected f32",
              lb_dtype_name(node->out->grad->dtype));
    lb_cuda_kd_bwd(ctx, s->data, s->dtype, t->data, t->dtype, g->data, s->shape[0], s->shape[1], sv->tau,
                   sv->lse_s, sv->lse_t, node->out->grad->data);
}

static lb_tensor *kd_loss_cuda(lb_ctx *ctx, lb_tensor *student, lb_tensor *teacher, float tau)
{
    int64_t N = student->shape[0], V = student->shape[1];
    float *lse = lb_cuda_step_alloc(ctx, (size_t)(3 * N) * sizeof(float));
    lb_tensor *out = lb_tensor_new_dev(ctx, LB_CUDA, LB_F32, 0, NULL);
    lb_cuda_kd_fwd(ctx, student->data, student->dtype, teacher->data, teacher->dtype, N, V, tau, lse, lse + N,
                   lse + 2 * N, out->data);
    if (lb_needs_grad(ctx, &student, 1)) {
        lb_tensor *ins[2] = {student, teacher};   /* the teacher: read by the backward, no grad */
        lb_node *node = lb_tape_record(ctx, "kd_loss", kd_backward_cuda, out, ins, 2);
        kd_cuda_saved *sv = lb_arena_alloc(ctx, sizeof *sv);
        *sv = (kd_cuda_saved){lse, lse + N, tau};
        node->saved = sv;
    }
    return out;
}

lb_tensor *lb_kd_loss(lb_ctx *ctx, lb_tensor *student, lb_tensor *teacher, float temperature)
{
    bool cuda = student->device == LB_CUDA && teacher->device == LB_CUDA;
    LB_CHECKF(cuda || (student->device == LB_CPU && teacher->device == LB_CPU && student->dtype == LB_F32 &&
                       teacher->dtype == LB_F32),
              "lb_kd_loss: student and teacher logits must both be CPU f32 or both CUDA (bf16 or f32)");
    LB_CHECKF(student->ndim == 2 && lb_tensor_same_shape(student, teacher),
              "lb_kd_loss: student and teacher logits must both be (N, V)");
    LB_CHECK(temperature > 0);
    if (cuda) return kd_loss_cuda(ctx, student, teacher, temperature);
    int64_t N = student->shape[0], V = student->shape[1];
    bool grad = lb_needs_grad(ctx, &student, 1);
    float *ps = grad ? lb_arena_alloc(ctx, (size_t)(N * V) * sizeof(float)) : NULL;
    float *pt = grad ? lb_arena_alloc(ctx, (size_t)(N * V) * sizeof(float)) : NULL;
    double *lps = lb_arena_alloc(ctx, (size_t)V * sizeof(double));
    double *lpt = lb_arena_alloc(ctx, (size_t)V * sizeof(double));
    const float *zs = student->data, *zt = teacher->data;
    double total = 0;
    for (int64_t i = 0; i < N; i++) {
        row_logsoftmax(zs + i * V, V, temperature, lps, ps ? ps + i * V : NULL);
        row_logsoftmax(zt + i * V, V, temperature, lpt, pt ? pt + i * V : NULL);
        double kl = 0;
        for (int64_t v = 0; v < V; v++) kl += exp(lpt[v]) * (lpt[v] - lps[v]);
        total += kl;
    }
    lb_tensor *out = lb_tensor_new(ctx, LB_F32, 0, NULL);
    ((float *)out->data)[0] = (float)((double)temperature * temperature * total / (double)N);
    if (grad) {
        lb_node *node = lb_tape_record(ctx, "kd_loss", kd_backward, out, &student, 1);
        kd_saved *sv = lb_arena_alloc(ctx, sizeof *sv);
        *sv = (kd_saved){ps, pt, temperature};
        node->saved = sv;
    }
    return out;
}
