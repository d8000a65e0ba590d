/* recompute.h — activation recomputation (gradient checkpointing) on the
 * define-by-run tape.
 *
 * lb_checkpoint runs a segment of the forward (a transformer block, say)
 * and keeps only its inputs and outputs: the segment's own nodes and
 * intermediates are dropped as soon as it has run (on CUDA its step
 * allocations go back to the stream-ordered pool at once; on the CPU the
 * step arena is rewound to where the segment began, its outputs copied to
 * just after). One tape node
 * stands for the segment; when lb_backward reaches it, it runs the segment
 * again with recording on, hands the outputs' grads to the recomputed
 * outputs, back-propagates through the segment's fresh nodes (the same
 * nodes, in the same order, as without recomputation) and releases the
 * segment's intermediates and their grads before the walk goes on to older
 * nodes. So the numbers are those of the plain forward and backward, bit
 * for bit, provided the segment is a pure function (below); the step's peak
 * holds one segment's activations instead of all of them.
 *
 * What a segment function must do:
 *   - compute its outputs only from its inputs, the closure and state that
 *     neither the segment nor anything between its forward and backward
 *     changes (parameters, quantizer state: a min-max quantizer rewrites
 *     its scales from the same weights, which gives the same values; a
 *     static activation quantizer only reads its calibrated scale);
 *   - draw nothing random (there is no dropout in lowbit);
 *   - read every step tensor that requires grad through `in`: a parameter
 *     or other persistent tensor may be read directly (its grad is not step
 *     memory), anything else is checked and refused with a message;
 *   - return outputs it made (not its inputs themselves).
 * Parameters receive their grads once, from the recomputed segment's
 * backward; the first forward's nodes are never run.
 *
 * The inputs must still hold their data when backward reaches the segment
 * (never lb_step_release one); this is checked. After the segment's
 * backward only the grads of its inputs and of parameters remain: those of
 * its intermediates are released with them, even without release_grads.
 *
 * Without grad mode (eval, generate) lb_checkpoint just calls the function.
 *
 * Not here: which segments a model checkpoints (layers/llama.c, gpt2.c,
 * under ctx->recompute).
 */
#ifndef LB_RECOMPUTE_H
#define LB_RECOMPUTE_H

#include <stddef.h>

#include "autograd/ctx.h"

/* most inputs and most outputs of one segment */
#define LB_CHECKPOINT_MAX 8

/* lb_checkpoint_fn: the segment: reads in[0..n_in), writes its n_out
 * outputs to out[0..n_out) (lb_checkpoint gives both counts). `closure`
 * points to lb_checkpoint's copy of the caller's closure. */
typedef void (*lb_checkpoint_fn)(lb_ctx *ctx, const void *closure, lb_tensor *const *in,
                                 lb_tensor **out);

/* lb_checkpoint: out[0..n_out) = fn(in[0..n_in)) with the segment's
 * activations recomputed in backward instead of kept (file comment).
 * closure_size bytes at closure are copied into the step arena (the
 * backward calls fn with that copy, so a closure on the caller's stack is
 * fine); in and out may be the same array. 1 <= n_in, n_out <=
 * LB_CHECKPOINT_MAX. The outputs are step tensors whose grads flow into
 * the inputs' and the parameters' grads (accumulated, like every node's). */
void lb_checkpoint(lb_ctx *ctx, lb_checkpoint_fn fn, const void *closure, size_t closure_size,
                   lb_tensor *const *in, int n_in, lb_tensor **out, int n_out);

#endif
