/* ops_attention.c — lb_attention (causal, grouped-query): checks, output,
 * tape.
 *
 * The arithmetic is in kernels/cpu/attention.c. When a grad is needed the
 * forward saves the softmax probabilities (B, nh, T, S) in the step arena
 * and the backward reads them (no recompute); without grad only one block
 * of query rows by S keys is allocated. Not here: RoPE, the KV cache, the head
 * projections (layers/).
 */
#include "autograd/ops.h"
#include "autograd/ops_common.h"
#include "kernels/cpu/kernels.h"

typedef struct attention_saved {
    float *probs;      // (B, nh, T, S)
    int64_t q_pos0;
} attention_saved;

static void attention_backward(lb_ctx *ctx, lb_node *node)
{
    lb_tensor *q = node->in[0], *k = node->in[1], *v = node->in[2];
    const attention_saved *sv = node->saved;
    int64_t B = q->shape[0], T = q->shape[1], nh = q->shape[2], hd = q->shape[3];
    int64_t S = k->shape[1], nkv = k->shape[2];
    float *scratch = lb_arena_alloc(ctx, (size_t)lb_cpu_attention_scratch_floats(S) * sizeof(float));
    lb_cpu_attention_bwd(q->data, k->data, v->data, sv->probs, node->out->grad->data, scratch,
                         lb_op_grad_data(ctx, q), lb_op_grad_data(ctx, k), lb_op_grad_data(ctx, v),
                         B, T, S, nh, nkv, hd, sv->q_pos0);
}

lb_tensor *lb_attention(lb_ctx *ctx, lb_tensor *q, lb_tensor *k, lb_tensor *v, int64_t q_pos0)
{
    lb_op_check_input("lb_attention", "q", q, LB_F32);
    lb_op_check_input("lb_attention", "k", k, LB_F32);
    lb_op_check_input("lb_attention", "v", v, LB_F32);
    LB_CHECKF(q->ndim == 4 && k->ndim == 4 && lb_tensor_same_shape(k, v) &&
                  k->shape[0] == q->shape[0] && k->shape[3] == q->shape[3],
              "lb_attention: q %s must be (B, T, nh, hd) and k %s, v %s (B, S, nkv, hd)",
              LB_SHAPE_STR(q), LB_SHAPE_STR(k), LB_SHAPE_STR(v));
    int64_t B = q->shape[0], T = q->shape[1], nh = q->shape[2], hd = q->shape[3];
    int64_t S = k->shape[1], nkv = k->shape[2];
    LB_CHECKF(nkv > 0 && nh % nkv == 0, "lb_attention: %lld query heads (q %s) are not a multiple "
              "of %lld kv heads (k %s)", (long long)nh, LB_SHAPE_STR(q), (long long)nkv, LB_SHAPE_STR(k));
    LB_CHECKF(q_pos0 >= 0 && S >= q_pos0 + T,
              "lb_attention: q %s at q_pos0 %lld needs S >= %lld keys, k %s has %lld",
              LB_SHAPE_STR(q), (long long)q_pos0, (long long)(q_pos0 + T), LB_SHAPE_STR(k),
              (long long)S);

    lb_tensor *out = lb_tensor_new(ctx, LB_F32, 4, q->shape);   // (B, T, nh, hd)
    lb_tensor *ins[3] = {q, k, v};
    bool grad = lb_needs_grad(ctx, ins, 3);
    float *probs = NULL, *scratch = NULL;
    if (grad)
        probs = lb_arena_alloc(ctx, (size_t)(B * nh * T * S) * sizeof(float));   // (B, nh, T, S)
    else
        scratch = lb_arena_alloc(ctx, (size_t)lb_cpu_attention_scratch_floats(S) * sizeof(float));
    lb_cpu_attention_fwd(q->data, k->data, v->data, out->data, probs, scratch,
                         B, T, S, nh, nkv, hd, q_pos0);
    if (grad) {
        lb_node *node = lb_tape_record(ctx, "attention", attention_backward, out, ins, 3);
        attention_saved *sv = lb_arena_alloc(ctx, sizeof *sv);
        *sv = (attention_saved){.probs = probs, .q_pos0 = q_pos0};
        node->saved = sv;
    }
    return out;
}
