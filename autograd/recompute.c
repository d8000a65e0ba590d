/* recompute.c — lb_checkpoint: one tape node per segment whose backward
 * reruns the segment (see recompute.h). */
#include "autograd/recompute.h"

#include <stdlib.h>
#include <string.h>

#include "autograd/tape.h"
#include "kernels/cuda/cuda.h"

typedef struct ckpt_saved {
    lb_checkpoint_fn fn;
    void *closure;                        /* the caller's closure, copied (arena) */
    int n_in, n_out;
    lb_tensor *in[LB_CHECKPOINT_MAX];
    lb_tensor *out[LB_CHECKPOINT_MAX];    /* the first forward's outputs */
} ckpt_saved;

/* run_segment: fn on sv->in into out[] with recording on, into a sub-tape
 * of its own; returns that sub-tape (newest node first; NULL when nothing
 * was recorded). The context's tape is left as it was. */
static lb_node *run_segment(lb_ctx *ctx, const ckpt_saved *sv, lb_tensor **out)
{
    lb_node *outer = ctx->tape;
    int64_t outer_len = ctx->tape_len;
    bool grad = lb_ctx_set_grad(ctx, true);
    ctx->tape = NULL;
    for (int i = 0; i < sv->n_out; i++) out[i] = NULL;
    sv->fn(ctx, sv->closure, sv->in, out);
    lb_node *sub = ctx->tape;
    ctx->tape = outer;
    ctx->tape_len = outer_len;
    lb_ctx_set_grad(ctx, grad);
    for (int i = 0; i < sv->n_out; i++)
        LB_CHECKF(out[i] != NULL, "lb_checkpoint: the segment left output %d unset", i);
    return sub;
}

static bool on_tape(const lb_node *sub, const lb_node *n)
{
    for (; sub; sub = sub->prev)
        if (sub == n) return true;
    return false;
}

static bool is_input(const ckpt_saved *sv, const lb_tensor *t)
{
    for (int j = 0; j < sv->n_in; j++)
        if (sv->in[j] == t) return true;
    return false;
}

/* check_closed: every tensor the segment's nodes read that will receive a
 * grad in step memory is an input or made inside the segment (else its
 * grad would be released with the segment's memory); every output was made
 * inside. */
static void check_closed(const ckpt_saved *sv, const lb_node *sub, lb_tensor *const *out)
{
    for (const lb_node *n = sub; n; n = n->prev)
        for (int k = 0; k < n->n_in; k++) {
            const lb_tensor *t = n->in[k];
            if (!t || !t->requires_grad || (t->flags & LB_TENSOR_PERSISTENT) || is_input(sv, t)) continue;
            LB_CHECKF(t->node && on_tape(sub, t->node),
                      "lb_checkpoint: node %s of the segment reads a step tensor that requires grad "
                      "but is neither an input of the segment nor made inside it: pass it in `in`",
                      n->op);
        }
    for (int i = 0; i < sv->n_out; i++) {
        LB_CHECKF(!is_input(sv, out[i]) && (!out[i]->requires_grad || on_tape(sub, out[i]->node)),
                  "lb_checkpoint: output %d is not a tensor the segment made", i);
        for (int j = 0; j < i; j++)
            LB_CHECKF(out[j] != out[i], "lb_checkpoint: outputs %d and %d are one tensor", j, i);
    }
}

/* keep_outputs_cpu: gives the segment's arena memory back (rewind to mark)
 * and remakes its outputs after the mark: new step tensors with the same
 * values (copied through the heap). */
static void keep_outputs_cpu(lb_ctx *ctx, lb_arena_mark mark, lb_tensor **out, int n)
{
    lb_tensor hdr[LB_CHECKPOINT_MAX];
    size_t off[LB_CHECKPOINT_MAX + 1] = {0};
    for (int i = 0; i < n; i++) {
        hdr[i] = *out[i];
        off[i + 1] = off[i] + lb_tensor_nbytes(out[i]);
    }
    unsigned char *tmp = malloc(off[n] ? off[n] : 1);
    LB_CHECKF(tmp != NULL, "out of memory keeping a checkpoint's outputs (%zu bytes)", off[n]);
    for (int i = 0; i < n; i++) memcpy(tmp + off[i], out[i]->data, off[i + 1] - off[i]);
    lb_arena_rewind(ctx, mark);
    for (int i = 0; i < n; i++) {
        lb_tensor *t = lb_tensor_new(ctx, hdr[i].dtype, hdr[i].ndim, hdr[i].shape);
        memcpy(t->data, tmp + off[i], off[i + 1] - off[i]);
        t->requires_grad = hdr[i].requires_grad;
        t->name = hdr[i].name;
        out[i] = t;
    }
    free(tmp);
}

/* release_since (CUDA): frees the step memory taken since mark except the
 * allocations that hold keep[0..n)'s data. */
static void release_since(lb_ctx *ctx, uint64_t mark, lb_tensor *const *keep, int n, bool grads)
{
    if (!ctx->cuda) return;
    void *p[LB_CHECKPOINT_MAX];
    for (int i = 0; i < n; i++) {
        const lb_tensor *t = grads ? keep[i]->grad : keep[i];
        p[i] = t && t->device == LB_CUDA ? t->data : NULL;
    }
    lb_cuda_step_release_since(ctx, mark, p, n);
}

static void checkpoint_backward(lb_ctx *ctx, lb_node *node)
{
    ckpt_saved *sv = node->saved;
    bool any = false;
    for (int i = 0; i < sv->n_out; i++) any |= sv->out[i]->grad != NULL;
    if (!any) return;
    for (int j = 0; j < sv->n_in; j++)
        LB_CHECKF(sv->in[j]->data != NULL, "lb_checkpoint: input %d was released before backward "
                  "(lb_step_release); a checkpointed segment reruns from its inputs", j);
    /* CPU: the inputs' grads are made before the mark, so the rewind keeps
     * them (lb_grad_of zeroes a new grad either way: same numbers) */
    if (!ctx->cuda)
        for (int j = 0; j < sv->n_in; j++)
            if (sv->in[j]->requires_grad && !(sv->in[j]->flags & LB_TENSOR_PERSISTENT)) lb_grad_of(ctx, sv->in[j]);
    lb_arena_mark amark = lb_arena_mark_get(ctx);
    uint64_t mark = ctx->cuda ? lb_cuda_step_mark(ctx) : 0;
    lb_tensor *r[LB_CHECKPOINT_MAX];       /* the recomputed outputs */
    lb_tensor *handed[LB_CHECKPOINT_MAX];  /* the grads they got */
    lb_node *sub = run_segment(ctx, sv, r);
    for (int i = 0; i < sv->n_out; i++) {
        lb_tensor *o = sv->out[i];
        LB_CHECKF(lb_tensor_same_shape(r[i], o) && r[i]->dtype == o->dtype && r[i]->device == o->device,
                  "lb_checkpoint: the recomputed output %d differs in shape, dtype or device from the "
                  "first forward's: the segment is not a pure function of its inputs", i);
        handed[i] = r[i]->requires_grad ? o->grad : NULL;
        if (handed[i]) {
            r[i]->grad = handed[i];
            o->grad = NULL;
        }
    }
    lb_tape_backward(ctx, sub, NULL);
    /* without release_grads every grad stays readable after backward:
     * the outputs get theirs back */
    if (!ctx->release_grads)
        for (int i = 0; i < sv->n_out; i++)
            if (handed[i]) sv->out[i]->grad = handed[i];
    if (ctx->cuda) release_since(ctx, mark, sv->in, sv->n_in, true);
    else lb_arena_rewind(ctx, amark);
}

void lb_checkpoint(lb_ctx *ctx, lb_checkpoint_fn fn, const void *closure, size_t closure_size,
                   lb_tensor *const *in, int n_in, lb_tensor **out, int n_out)
{
    LB_CHECKF(n_in >= 1 && n_in <= LB_CHECKPOINT_MAX && n_out >= 1 && n_out <= LB_CHECKPOINT_MAX,
              "lb_checkpoint: %d inputs and %d outputs; 1 to %d of each are supported", n_in, n_out,
              LB_CHECKPOINT_MAX);
    if (!ctx->grad_enabled) {
        lb_tensor *ins[LB_CHECKPOINT_MAX];
        memcpy(ins, in, (size_t)n_in * sizeof *ins);
        fn(ctx, closure, ins, out);
        return;
    }
    ckpt_saved *sv = lb_arena_alloc(ctx, sizeof *sv);
    memset(sv, 0, sizeof *sv);
    sv->fn = fn;
    sv->closure = lb_arena_alloc(ctx, closure_size ? closure_size : 1);
    if (closure_size) memcpy(sv->closure, closure, closure_size);
    sv->n_in = n_in;
    sv->n_out = n_out;
    for (int j = 0; j < n_in; j++) {
        LB_CHECKF(in[j] != NULL, "lb_checkpoint: input %d is NULL", j);
        sv->in[j] = in[j];
    }

    lb_arena_mark amark = lb_arena_mark_get(ctx);
    uint64_t mark = ctx->cuda ? lb_cuda_step_mark(ctx) : 0;
    lb_node *sub = run_segment(ctx, sv, sv->out);
    check_closed(sv, sub, sv->out);
    bool rg = false;
    for (int i = 0; i < n_out; i++) {
        rg |= sv->out[i]->requires_grad;
        sv->out[i]->node = NULL;   /* its node is dropped with the sub-tape */
    }
    if (ctx->cuda) release_since(ctx, mark, sv->out, n_out, false);
    else keep_outputs_cpu(ctx, amark, sv->out, n_out);
    for (int i = 0; i < n_out; i++) out[i] = sv->out[i];
    if (!rg) return;

    /* one node for the segment; the other outputs point at it too */
    lb_tensor *ins[LB_NODE_MAX_IN];
    int n_rec = n_in < LB_NODE_MAX_IN ? n_in : LB_NODE_MAX_IN;
    for (int j = 0; j < n_rec; j++) ins[j] = sv->in[j];
    bool rg0 = sv->out[0]->requires_grad;
    lb_node *node = lb_tape_record(ctx, "checkpoint", checkpoint_backward, sv->out[0], ins, n_rec);
    if (!rg0) {   /* out[0] needs no grad; the node runs for the others */
        sv->out[0]->requires_grad = false;
        sv->out[0]->node = NULL;
    }
    node->multi_out = n_out > 1;
    node->saved = sv;
    for (int i = 1; i < n_out; i++)
        if (sv->out[i]->requires_grad) sv->out[i]->node = node;
}
