/* kd.h — the knowledge-distillation loss.
 *
 *   KD = τ² · (1/N) Σ_rows Σ_v p_t(v) · (log p_t(v) − log p_s(v)),
 *        p = softmax(z / τ) of teacher (t) and student (s) logits,
 *
 * i.e. KL(teacher ‖ student) at temperature τ, scaled by τ² so its gradient
 * keeps the magnitude of a cross-entropy's as τ grows (Hinton et al. 2015):
 *   dKD/dz_s = τ · (p_s − p_t) / N.
 * The trainer mixes it with the next-token loss: α·KD + (1 − α)·CE.
 * Rows are positions (N = B·T); every row counts. Log-softmax is computed
 * per row with the max subtracted, sums in double.
 *
 * The teacher's logits carry no gradient (the teacher runs with grad off).
 * CPU: f32 logits, sums in double (the specification). CUDA
 * (kernels/cuda/kd.cu): bf16 or f32 logits on the device, fp32 row sums,
 * the row terms added in double in row order (deterministic); the loss
 * stays on the device; the student's grad has its dtype (bf16).
 */
#ifndef LB_KD_H
#define LB_KD_H

#include "autograd/ops.h"

/* lb_kd_loss: the scalar KD loss of student logits (N, V) (differentiable)
 * against teacher logits (N, V) (read only). Records a tape node whose
 * backward ACCUMULATES into the student's grad. */
lb_tensor *lb_kd_loss(lb_ctx *ctx, lb_tensor *student, lb_tensor *teacher, float temperature);

#endif
