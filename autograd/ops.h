/* ops.h — the differentiable ops of the engine.
 *
 * Every op takes the context, allocates its output in the step arena, runs the
 * kernel of the inputs' device (kernels/cpu on the CPU: fp32, the
 * specification) and, when lb_needs_grad(), records a tape node whose backward
 * ACCUMULATES into its inputs' grads. Inputs are contiguous f32 unless said
 * otherwise. Shapes are checked with LB_CHECK: a shape mismatch inside the
 * engine is a bug in the caller (layers/ validate user-facing shapes first).
 *
 * Broadcasting is over leading dims only: `b` of add/mul has the trailing
 * shape of `a` (e.g. a (B, T, C) + b (C)) or a's full shape.
 */
#ifndef LB_OPS_H
#define LB_OPS_H

#include "autograd/ctx.h"
#include "autograd/tape.h"

/* ---- GEMM ---------------------------------------------------------------- */

/* lb_matmul: C = op(A) @ op(B), op = transpose of the last two dims when the
 * flag is set. A (..., M, K) [or (..., K, M) with ta]; B (K, N) [or (N, K)
 * with tb] shared across A's leading dims, or B with the same leading dims as
 * A (batched). Out (..., M, N). */
lb_tensor *lb_matmul(lb_ctx *ctx, lb_tensor *a, lb_tensor *b, bool ta, bool tb);

/* lb_linear: y = x @ W^T + bias. x (..., in), W (out, in) [nn.Linear
 * layout], bias (out) or NULL. Out (..., out). */
lb_tensor *lb_linear(lb_ctx *ctx, lb_tensor *x, lb_tensor *w, lb_tensor *bias);

/* ---- elementwise ---------------------------------------------------------- */

lb_tensor *lb_add(lb_ctx *ctx, lb_tensor *a, lb_tensor *b);   /* a + b, b broadcast */
lb_tensor *lb_mul(lb_ctx *ctx, lb_tensor *a, lb_tensor *b);   /* a * b, b broadcast */
lb_tensor *lb_scale(lb_ctx *ctx, lb_tensor *a, float s);      /* s * a */
lb_tensor *lb_silu(lb_ctx *ctx, lb_tensor *x);                /* x * sigmoid(x) */

typedef enum lb_gelu_kind {
    LB_GELU_EXACT = 0,   /* 0.5 x (1 + erf(x / sqrt 2)) */
    LB_GELU_TANH,        /* 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), "gelu_new" */
} lb_gelu_kind;
lb_tensor *lb_gelu(lb_ctx *ctx, lb_tensor *x, lb_gelu_kind kind);

/* lb_swiglu: silu(gate) * up; gate and up have the same shape. */
lb_tensor *lb_swiglu(lb_ctx *ctx, lb_tensor *gate, lb_tensor *up);

/* ---- normalisation and softmax -------------------------------------------- */

/* lb_rmsnorm: x * rsqrt(mean(x^2, last dim) + eps) * w. x (..., C), w (C). */
lb_tensor *lb_rmsnorm(lb_ctx *ctx, lb_tensor *x, lb_tensor *w, float eps);

/* lb_add_rmsnorm: the residual add and the norm after it in one pass:
 * h = x + r, out = rmsnorm(h, w). x and r (..., C) of one shape and dtype,
 * w (C). *h_out receives h (x's device and dtype). Backward: grads reaching
 * h from elsewhere (the residual stream) add to the norm's before flowing to
 * x and r. On CUDA the statistics are taken on h rounded to the activation
 * dtype, as an unfused add then rmsnorm would. */
lb_tensor *lb_add_rmsnorm(lb_ctx *ctx, lb_tensor *x, lb_tensor *r, lb_tensor *w, float eps,
                          lb_tensor **h_out);

/* lb_layernorm: (x - mean) * rsqrt(var + eps) * w + b over the last dim
 * (biased variance). x (..., C), w (C), b (C) or NULL. */
lb_tensor *lb_layernorm(lb_ctx *ctx, lb_tensor *x, lb_tensor *w, lb_tensor *b, float eps);

/* lb_softmax: softmax over the last dim. */
lb_tensor *lb_softmax(lb_ctx *ctx, lb_tensor *x);

/* ---- embeddings, positions, attention ------------------------------------- */

/* lb_embedding: out[b, t, :] = table[ids[b, t], :]. table (V, C) f32,
 * ids (B, T) i32 with 0 <= id < V (checked). Out (B, T, C). Grad flows to
 * table only. With a CUDA table the output is bf16 (an activation) and ids
 * may be on the CPU (no wait) or the GPU (copied back for the check). The
 * CUDA table grad is deterministic (bit-identical to the CPU's). */
lb_tensor *lb_embedding(lb_ctx *ctx, lb_tensor *table, lb_tensor *ids);

/* lb_rope: rotary embedding in the HF rotate-half layout: for j < hd/2 the
 * pair (x[j], x[j + hd/2]) at position p = pos0 + t is rotated by angle
 * p * inv_freq[j] (product and cos/sin in fp32, as transformers does).
 * x (B, T, H, hd); inv_freq has hd/2 entries (scaling already folded in, see
 * layers/rope.h), copied by the op (it need not outlive the call). */
lb_tensor *lb_rope(lb_ctx *ctx, lb_tensor *x, const float *inv_freq, int64_t pos0);

/* lb_rope_table: the angles of lb_rope at positions pos0 .. pos0 + T - 1
 * for head dim hd, made once and shared by every rope of one forward (q and
 * k of every layer, and their backward): inv_freq (hd/2) copied into step
 * memory and, on CUDA, the (2, T, hd/2) f32 cos/sin table built from it.
 * Lives in step memory (released at step end). */
typedef struct lb_rope_table {
    lb_device device;
    int64_t T, hd, pos0;
    float *inv_freq;   /* CPU: (hd/2) in the arena; CUDA: NULL */
    float *cs;         /* CUDA: (2, T, hd/2) on the device; CPU: NULL */
} lb_rope_table;

lb_rope_table *lb_rope_table_make(lb_ctx *ctx, const float *inv_freq, int64_t T, int64_t hd, int64_t pos0,
                                  lb_device dev);

/* lb_rope_with: lb_rope with a table from lb_rope_table_make (x's device,
 * T and hd must match it: checked). lb_rope(x, f, p) is
 * lb_rope_with(x, lb_rope_table_make(f, T, hd, p, x's device)). */
lb_tensor *lb_rope_with(lb_ctx *ctx, lb_tensor *x, const lb_rope_table *tab);

/* lb_attention: causal scaled-dot-product attention with grouped-query heads.
 * q (B, T, nh, hd), k and v (B, S, nkv, hd), nh a multiple of nkv; query head
 * h reads kv head h / (nh / nkv). Query t sits at absolute position
 * q_pos0 + t and sees keys 0 .. q_pos0 + t (S >= q_pos0 + T). Scale
 * 1/sqrt(hd). Out (B, T, nh, hd). When a grad is needed the CPU op keeps
 * the probabilities (B, nh, T, S) in the step arena for the backward. */
lb_tensor *lb_attention(lb_ctx *ctx, lb_tensor *q, lb_tensor *k, lb_tensor *v, int64_t q_pos0);

/* ---- loss ------------------------------------------------------------------ */

/* lb_cross_entropy: mean over rows with target >= 0 of
 * -log softmax(logits[i])[target[i]], log-softmax fused. logits (N, V),
 * targets (N) i32 (negative = ignored). Out: scalar (ndim 0, f32, on the
 * logits' device); 0, with a zero grad, when no row is counted. When
 * nll_sum/count are non-NULL they receive the sum of NLL (double) and the
 * number of rows counted. On CUDA: targets on the CPU (no wait) or the GPU
 * (copied back for the check); the vocabulary is processed in chunks (no
 * (N, V) f32 buffer); asking for nll_sum waits for the device. With
 * ctx->release_grads on, when the logits come straight from an lb_linear /
 * lb_matmul (through reshapes only), the CUDA backward writes their grad
 * over their memory: their values are gone after lb_backward. */
lb_tensor *lb_cross_entropy(lb_ctx *ctx, lb_tensor *logits, lb_tensor *targets,
                            double *nll_sum, int64_t *count);

/* ---- views and copies ------------------------------------------------------ */

/* lb_reshape: same data, new shape of equal numel (one dim may be -1). */
lb_tensor *lb_reshape(lb_ctx *ctx, lb_tensor *x, int ndim, const int64_t *shape);

/* lb_transpose: swaps dims d0 and d1 (copies; tensors stay contiguous). */
lb_tensor *lb_transpose(lb_ctx *ctx, lb_tensor *x, int d0, int d1);

/* lb_slice: x[..., start : start + len, ...] along `dim` (copies). */
lb_tensor *lb_slice(lb_ctx *ctx, lb_tensor *x, int dim, int64_t start, int64_t len);

/* lb_concat: a and b joined along `dim`; other dims equal. */
lb_tensor *lb_concat(lb_ctx *ctx, lb_tensor *a, lb_tensor *b, int dim);

/* lb_sum: sum of all elements, scalar out (for tests and losses). */
lb_tensor *lb_sum(lb_ctx *ctx, lb_tensor *x);

#endif
