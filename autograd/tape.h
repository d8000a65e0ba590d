/* tape.h — the define-by-run tape and lb_backward.
 *
 * An op that has an input requiring grad (and grad mode on) records one node:
 * its inputs, its output, a pointer to saved state in the arena and its
 * backward function. Nodes are linked newest-first, which is a reverse
 * topological order, so lb_backward walks the list once.
 *
 * Backward contract: a node's backward reads out->grad and ACCUMULATES (+=)
 * into the grads of its inputs obtained with lb_grad_of(), or OVERWRITES a
 * grad it got with *fresh / *overwrite set from lb_grad_fresh() or
 * lb_grad_dst(): a new step grad, or a parameter grad marked as holding
 * zeros (LB_TENSOR_GRAD_ZEROS, set by lb_grad_mark_zero: lb_model_zero_grad).
 *
 * "Grads are zero": the mark lets the first writer of a parameter grad after
 * zero_grad write (a GEMM with beta 0) instead of read zeros and add. The
 * mark is taken (cleared) by whichever writer comes first, in stream order:
 * lb_grad_dst hands it to a writer that writes every element, lb_grad_of
 * simply clears it (that writer accumulates into the zeros the caller left
 * there). So a second writer (the other micro-batches of an accumulation,
 * the embedding of a tied head, a parameter read twice) always accumulates.
 */
#ifndef LB_TAPE_H
#define LB_TAPE_H

#include "autograd/ctx.h"

#define LB_NODE_MAX_IN 4

typedef struct lb_node lb_node;
typedef void (*lb_backward_fn)(lb_ctx *ctx, lb_node *node);

struct lb_node {
    const char *op;                    /* op name, for messages */
    lb_backward_fn backward;
    lb_tensor *out;
    lb_tensor *in[LB_NODE_MAX_IN];
    int n_in;
    void *saved;                       /* op-specific, in the arena */
    lb_node *prev;                     /* older node */
    bool multi_out;                    /* `out` is one of several outputs
                                          (lb_checkpoint): the node runs even
                                          when out has no grad, and its
                                          backward consumes all its outputs'
                                          grads itself */
    lb_tensor *grad_alias;             /* set by the op: out stands for this
                                          tensor (a fake-quant w^ for w, same
                                          numel), whose marked-zero grad may
                                          serve as out's grad
                                          (lb_grad_dst_alias) */
    bool grad_aliased;                 /* out->grad IS grad_alias's grad (a
                                          view): never released as a step
                                          grad; the node's backward finishes
                                          it in place and drops out->grad */
};

/* lb_needs_grad: true when grad mode is on and any of the n tensors
 * requires grad. */
bool lb_needs_grad(const lb_ctx *ctx, lb_tensor *const *ts, int n);

/* lb_tape_record: records a node for `out` produced from `in[0..n_in)` and
 * marks out->requires_grad. Returns the node so the op can attach `saved`.
 * Call only when lb_needs_grad() is true. */
lb_node *lb_tape_record(lb_ctx *ctx, const char *op, lb_backward_fn bw,
                        lb_tensor *out, lb_tensor *const *in, int n_in);

/* lb_grad_of: t's grad (t's shape and device; f32 on the CPU, t's dtype on
 * CUDA but f32 for a LB_TENSOR_GRAD_F32 tensor), allocated zeroed on first
 * use with t's lifetime (heap or cudaMalloc for persistent tensors, the
 * step arena or pool otherwise). Clears the grad's LB_TENSOR_GRAD_ZEROS
 * mark: the caller accumulates (a writer that does not know the mark). */
lb_tensor *lb_grad_of(lb_ctx *ctx, lb_tensor *t);

/* lb_grad_take: hands `from`'s grad buffer to t instead of copying it, when
 * a node's backward would only copy from's grad into t's (a reshape; one
 * side of a residual add): t->grad becomes a view of it with t's shape and
 * from->grad becomes NULL (lb_backward then frees nothing after the node).
 * Only when ctx->release_grads is on (from's grad is dead after this node
 * anyway), t requires grad and has none yet, both are non-persistent CUDA
 * tensors of one dtype and numel, and from has more than one element (never
 * the loss). Returns whether it did; on false nothing changed and the
 * caller writes t's grad itself. */
bool lb_grad_take(lb_ctx *ctx, lb_tensor *t, lb_tensor *from);

/* lb_grad_fresh: for a backward that can OVERWRITE: when t (a non-persistent
 * CUDA tensor that requires grad) has no grad yet, allocates it without
 * zeroing (t's dtype, or f32 for a LB_TENSOR_GRAD_F32 stand-in such as a
 * fake-quant w^), sets *fresh and returns it: the caller must then write
 * every element (=, not +=). Otherwise lb_grad_of(t) with *fresh false (+=).
 * NULL when t is NULL or needs no grad. */
lb_tensor *lb_grad_fresh(lb_ctx *ctx, lb_tensor *t, bool *fresh);

/* lb_grad_mark_zero: marks t's grad (if t has one) as holding zeros
 * (LB_TENSOR_GRAD_ZEROS). The caller has just zeroed it (lb_model_zero_grad
 * keeps its memset: a writer that ignores the mark still adds to zeros);
 * the mark lets the first writer overwrite instead (lb_grad_dst). */
void lb_grad_mark_zero(lb_tensor *t);

/* lb_grad_dst: for a backward that can OVERWRITE t's whole grad: when t's
 * grad is marked as holding zeros (lb_grad_mark_zero), takes the mark,
 * sets *overwrite and returns the grad: the caller must then write every
 * element (=, not +=; what was there may be anything). Otherwise
 * lb_grad_fresh(t, overwrite) (a new CUDA step grad: *overwrite true; else
 * lb_grad_of, *overwrite false: +=). NULL when t is NULL or needs no grad.
 * When one kernel writes two grads that may be the same tensor, take the
 * second one with lb_grad_of (the first overwrite must not follow an add). */
lb_tensor *lb_grad_dst(lb_ctx *ctx, lb_tensor *t, bool *overwrite);

/* lb_grad_dst_alias: lb_grad_dst(t) for the backward of `consumer`, except
 * that when t's node directly precedes consumer on the tape (so it runs
 * right after consumer's backward, with no writer in between), has a
 * grad_alias whose grad is marked as holding zeros, t has no grad yet and
 * the two grads agree (device, f32, numel), it takes the alias's mark and
 * makes t->grad a view of the alias's grad with t's shape (grad_aliased
 * set, *overwrite true: write every element). t's node's backward then
 * finishes that buffer in place. Otherwise exactly lb_grad_dst. */
lb_tensor *lb_grad_dst_alias(lb_ctx *ctx, const lb_node *consumer, lb_tensor *t, bool *overwrite);

/* lb_step_release: gives t's memory back at once (CUDA: to the stream-
 * ordered pool, in stream order) when the caller knows that nothing reads
 * t's data any more: no later op of the forward and no backward (every node
 * that has t as an input reads only its grad and shape there: lb_rope's,
 * or an lb_add_rmsnorm's r). Only a CUDA step tensor that owns its
 * allocation (no flag: not a view, not persistent) is released; its data
 * becomes NULL, so a later read is refused by the ops' checks. Anything
 * else (NULL, CPU: the arena frees at step end, views, parameters) is left
 * alone. Returns whether it released. */
bool lb_step_release(lb_ctx *ctx, lb_tensor *t);

/* lb_backward: seeds d(loss)/d(loss) = 1 (loss must have one element) and
 * runs every recorded node newest-first. Parameter grads ACCUMULATE across
 * calls until the caller zeroes them (gradient accumulation). */
void lb_backward(lb_ctx *ctx, lb_tensor *loss);

/* lb_tape_backward: runs the nodes from `head` along prev, newest-first,
 * each one whose out has a grad (or that is multi_out): lb_backward's walk,
 * also used on a sub-tape (autograd/recompute.c). With ctx->release_grads,
 * frees each consumed grad of a non-persistent CUDA out except keep's (and
 * an aliased one: grad_aliased, a parameter's grad). */
void lb_tape_backward(lb_ctx *ctx, lb_node *head, const lb_tensor *keep);

#endif
