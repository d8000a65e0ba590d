/* ops_common.h — helpers shared by the op files (autograd/ops_*.c) only.
 *
 * Argument checks with messages that show shapes, and the "grad of this
 * input, or NULL when it does not require one" lookup every backward uses.
 * Not a public interface: layers/ and above include ops.h.
 */
#ifndef LB_OPS_COMMON_H
#define LB_OPS_COMMON_H

#include "autograd/ctx.h"
#include "autograd/tape.h"

/* LB_SHAPE_STR: "(2, 3, 4)" for t, in a temporary buffer that lives until
 * the end of the enclosing full expression's block (for LB_CHECKF messages). */
#define LB_SHAPE_STR(t) lb_tensor_shape_str((t), (char[96]){0}, 96)

/* lb_op_check_input: for ops that have only a CPU kernel: aborts unless t
 * is a CPU tensor of dtype dt with data; the message names the op and the
 * argument (and, for a CUDA tensor, says the op has no CUDA kernel yet). */
void lb_op_check_input(const char *op, const char *arg, const lb_tensor *t, lb_dtype dt);

/* lb_op_check_on: for ops with kernels on both devices: aborts unless t
 * (with data) is on `dev` -- pass the device of the op's first input, so
 * mixed devices are refused with both named -- and has a dtype that
 * device's kernels read: f32 on the CPU; bf16 (activations) or f32
 * (parameters, losses) on CUDA (tensor.h). */
void lb_op_check_on(const char *op, const char *arg, const lb_tensor *t, lb_device dev);

/* lb_op_grad_data: the data of t's grad (allocated zeroed on first use;
 * f32 on the CPU, t's dtype on CUDA: see lb_grad_of) when t requires grad,
 * else NULL: backward kernels skip NULL outputs. */
void *lb_op_grad_data(lb_ctx *ctx, lb_tensor *t);

/* lb_op_rows: numel / last dim, the number of rows an op over the last dim
 * iterates (1 for a scalar). */
int64_t lb_op_rows(const lb_tensor *t);

#endif
