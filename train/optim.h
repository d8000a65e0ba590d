/* optim.h — AdamW with decoupled weight decay, on the CPU and on CUDA.
 *
 * The update is torch.optim.AdamW's (non-amsgrad, non-fused formula), per
 * element, with step t counted from 1 and g = grad * grad_scale:
 *
 *   p  = p * (1 - lr * wd)                      decoupled weight decay
 *   m  = beta1 * m + (1 - beta1) * g
 *   v  = beta2 * v + (1 - beta2) * g * g
 *   p  = p - (lr / (1 - beta1^t)) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
 *
 * State m and v is fp32, zero at the start. The CPU path (fp32, the
 * specification) and the CUDA kernel (kernels/cuda/adamw.cu) evaluate the
 * same expressions in the same order with IEEE-rounded fp32 operations (no
 * FMA contraction), so they agree to the last bit or two.
 *
 * Which tensors decay: with `decay_1d` false (the default) only tensors of
 * two or more dims (linear and embedding weights) get weight decay; norm
 * weights and biases do not, as in nanoGPT / llm.c's parameter groups. With
 * it true every tensor decays (torch.optim.AdamW over model.parameters()).
 *
 * On CUDA the step is one kernel launch over every parameter (a table of
 * (pointer, length) chunks made at the first step), which also rewrites the
 * persistent bf16 copy (t->lowp) of every weight that has one, so the GEMMs
 * of the next forward read the updated weights -- except a quantized
 * weight's (LB_TENSOR_LOWP_FQ), whose copy holds w^ and is rewritten by
 * the next forward's fake-quant anyway.
 *
 * This file is not a scheduler (the caller passes lr each step) and does not
 * zero gradients (lb_model_zero_grad does).
 */
#ifndef LB_OPTIM_H
#define LB_OPTIM_H

#include <stdbool.h>
#include <stdint.h>

#include "autograd/ctx.h"
#include "layers/model.h"

typedef struct lb_adamw_cfg {
    float beta1, beta2, eps;
    float weight_decay;
    bool decay_1d;            /* weight-decay 1-D tensors (norms, biases) too */
} lb_adamw_cfg;

/* lb_adamw_defaults: torch.optim.AdamW's defaults: betas (0.9, 0.999),
 * eps 1e-8, weight_decay 0.01; decay_1d false. */
lb_adamw_cfg lb_adamw_defaults(void);

typedef struct lb_adamw {
    lb_adamw_cfg cfg;
    int64_t t;                /* steps taken */
    int n;                    /* tensors */
    lb_tensor **params;       /* borrowed, n */
    float **m, **v;           /* per tensor, numel each, on the params' device */
    lb_device device;
    float *owned;             /* CPU: the malloc holding all m and v; NULL when borrowed */
    float *owned_dev;         /* CUDA: the same, from lb_cuda_malloc; NULL when borrowed */
    void *chunks;             /* CUDA: the chunk table on the device (persistent), or NULL */
    int64_t n_chunks;
} lb_adamw;

/* lb_adamw_init: an optimizer over params[0..n) (all on one device; borrowed,
 * they must outlive it). `state` is NULL, or 2 * sum(lb_plan_pad(numel))
 * zeroed floats on the params' device laid out [m of every tensor in order,
 * each in a slot of lb_plan_pad(numel)][v likewise] (the model's planned
 * allocation, see lb_model_to); NULL allocates it (zeroed) on the params'
 * device, owned by the optimizer (the quantizer group's learned scales).
 * Free with lb_adamw_free. */
lb_status lb_adamw_init(lb_adamw *opt, lb_tensor *const *params, int n, float *state,
                        const lb_adamw_cfg *cfg);

/* lb_adamw_init_model: lb_adamw_init over every parameter of m, using the
 * optimizer state of m's device plan when it has one. */
lb_status lb_adamw_init_model(lb_adamw *opt, const lb_model *m, const lb_adamw_cfg *cfg);

/* lb_adamw_step: one update with learning rate lr; gradients are multiplied
 * by grad_scale first (1 normally; 1/accum or a clipping factor otherwise).
 * CPU: a tensor whose grad is NULL is skipped, as torch skips grad None.
 * CUDA: every tensor must have a grad (the model plan gives them all one),
 * checked at the first step. Overwrites params, m, v (and lowp). */
void lb_adamw_step(lb_ctx *ctx, lb_adamw *opt, float lr, float grad_scale);

void lb_adamw_free(lb_adamw *opt);

#endif
