/* ops_attention.c — lb_attention (causal, grouped-query): checks, output,
 * tape, and the branch to the CPU or CUDA kernels.
 *
 * The arithmetic is in kernels/cpu/attention.c and kernels/cuda/attention.cu
 * (plain kernels) / attention_cudnn.cu (cuDNN fused attention). On the CPU,
 * when a grad is needed the forward saves the softmax probabilities
 * (B, nh, T, S) in the step arena and the backward reads them (no
 * recompute); without grad only one block of query rows by S keys is
 * allocated. On CUDA (bf16 q, k, v) the forward saves only the log-sum-exp
 * per row (B, nh, T) and the backward recomputes the probabilities; cuDNN
 * runs the forward and the backward where it takes the shape (q_pos0 0,
 * S == T, hd a multiple of 8 up to 128; the backward in a deterministic
 * engine with LB_DETERMINISTIC=1, or the plain kernel where none takes it),
 * the plain kernels everywhere else, and always with LOWBIT_ATTN_PLAIN=1 in
 * the environment (for checking). Not here:
 * RoPE, the KV cache, the head projections (layers/).
 */
#include "autograd/ops.h"
#include "autograd/ops_common.h"
#include "kernels/cpu/kernels.h"
#include "kernels/cuda/cuda.h"
#include "kernels/cuda/kernels.h"

typedef struct attention_saved {
    float *probs;      // CPU: (B, nh, T, S)
    float *lse;        // CUDA: (B, nh, T), device memory
    bool cudnn;        // CUDA: the forward ran on cuDNN
    int64_t q_pos0;
} attention_saved;

static void attention_backward(lb_ctx *ctx, lb_node *node)
{
    lb_tensor *q = node->in[0], *k = node->in[1], *v = node->in[2];
    const attention_saved *sv = node->saved;
    int64_t B = q->shape[0], T = q->shape[1], nh = q->shape[2], hd = q->shape[3];
    int64_t S = k->shape[1], nkv = k->shape[2];
    if (q->device == LB_CUDA) {
        void *dout = node->out->grad->data;
        if (sv->cudnn && q != k && q != v && k != v) {
            /* three new grads: cuDNN writes them directly; otherwise the
             * new ones start at zero and all are added to */
            bool fq = false, fk = false, fv = false;
            lb_tensor *gq = lb_grad_fresh(ctx, q, &fq), *gk = lb_grad_fresh(ctx, k, &fk);
            lb_tensor *gv = lb_grad_fresh(ctx, v, &fv);
            bool overwrite = fq && fk && fv;
            lb_tensor *gs[3] = {gq, gk, gv};
            bool fs[3] = {fq, fk, fv};
            for (int i = 0; i < 3 && !overwrite; i++)
                if (fs[i]) lb_cuda_memset_zero(ctx, gs[i]->data, lb_tensor_nbytes(gs[i]));
            lb_cuda_attention_cudnn_bwd(ctx, q->data, k->data, v->data, node->out->data, sv->lse,
                                        dout, gq ? gq->data : NULL, gk ? gk->data : NULL,
                                        gv ? gv->data : NULL, overwrite, B, T, nh, nkv, hd);
            return;
        }
        void *dq = lb_op_grad_data(ctx, q), *dk = lb_op_grad_data(ctx, k);
        void *dv = lb_op_grad_data(ctx, v);
        if (sv->cudnn)
            lb_cuda_attention_cudnn_bwd(ctx, q->data, k->data, v->data, node->out->data, sv->lse,
                                        dout, dq, dk, dv, false, B, T, nh, nkv, hd);
        else
            lb_cuda_attention_bwd(ctx, q->data, k->data, v->data, node->out->data, sv->lse, dout,
                                  dq, dk, dv, B, T, S, nh, nkv, hd, sv->q_pos0);
        return;
    }
    float *scratch = lb_arena_alloc(ctx, (size_t)lb_cpu_attention_scratch_floats(S) * sizeof(float));
    lb_cpu_attention_bwd(q->data, k->data, v->data, sv->probs, node->out->grad->data, scratch,
                         lb_op_grad_data(ctx, q), lb_op_grad_data(ctx, k), lb_op_grad_data(ctx, v),
                         B, T, S, nh, nkv, hd, sv->q_pos0);
}

/* attention_cuda: the CUDA forward of lb_attention (shapes checked) */
static lb_tensor *attention_cuda(lb_ctx *ctx, lb_tensor *q, lb_tensor *k, lb_tensor *v,
                                 int64_t q_pos0, bool grad)
{
    int64_t B = q->shape[0], T = q->shape[1], nh = q->shape[2], hd = q->shape[3];
    int64_t S = k->shape[1], nkv = k->shape[2];
    LB_CHECKF(q->dtype == LB_BF16 && k->dtype == LB_BF16 && v->dtype == LB_BF16,
              "lb_attention: on CUDA q, k, v must be bf16 (got %s, %s, %s)",
              lb_dtype_name(q->dtype), lb_dtype_name(k->dtype), lb_dtype_name(v->dtype));
    LB_CHECKF(hd <= LB_CUDA_ATTENTION_MAX_HD, "lb_attention: head dim %lld (q %s) is over the "
              "CUDA kernels' %d", (long long)hd, LB_SHAPE_STR(q), LB_CUDA_ATTENTION_MAX_HD);
    lb_tensor *out = lb_tensor_new_dev(ctx, LB_CUDA, LB_BF16, 4, q->shape);   // (B, T, nh, hd)
    float *lse = grad ? lb_cuda_step_alloc(ctx, (size_t)(B * nh * T) * sizeof(float)) : NULL;
    bool cudnn = lb_cuda_attention_cudnn_supported(ctx, B, T, S, nh, nkv, hd, q_pos0);
    if (cudnn)
        lb_cuda_attention_cudnn_fwd(ctx, q->data, k->data, v->data, out->data, lse, B, T, nh, nkv,
                                    hd);
    else
        lb_cuda_attention_fwd(ctx, q->data, k->data, v->data, out->data, lse, B, T, S, nh, nkv, hd,
                              q_pos0);
    if (grad) {
        lb_tensor *ins[3] = {q, k, v};
        lb_node *node = lb_tape_record(ctx, "attention", attention_backward, out, ins, 3);
        attention_saved *sv = lb_arena_alloc(ctx, sizeof *sv);
        *sv = (attention_saved){.lse = lse, .cudnn = cudnn, .q_pos0 = q_pos0};
        node->saved = sv;
    }
    return out;
}

lb_tensor *lb_attention(lb_ctx *ctx, lb_tensor *q, lb_tensor *k, lb_tensor *v, int64_t q_pos0)
{
    LB_CHECKF(q != NULL, "lb_attention: q is NULL");
    lb_op_check_on("lb_attention", "q", q, q->device);
    lb_op_check_on("lb_attention", "k", k, q->device);
    lb_op_check_on("lb_attention", "v", v, q->device);
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

    lb_tensor *ins[3] = {q, k, v};
    bool grad = lb_needs_grad(ctx, ins, 3);
    if (q->device == LB_CUDA) return attention_cuda(ctx, q, k, v, q_pos0, grad);

    lb_tensor *out = lb_tensor_new(ctx, LB_F32, 4, q->shape);   // (B, T, nh, hd)
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
