/* fixture.h — what the C tests share beyond harness.h: tiny model configs,
 * deterministic token batches, the weight spread that makes every path
 * carry gradient, a model set up with its quantizers, a bitwise comparison
 * of two copies' grads, a relative error, and a scratch directory. Linked
 * into every test binary next to harness.c (CMakeLists.txt); CPU-side only
 * (the GPU tests move what they build to the device themselves).
 */
#ifndef LB_TESTS_FIXTURE_H
#define LB_TESTS_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "autograd/ctx.h"
#include "layers/model.h"

/* The sizes of a test model. kv_heads is Llama's; GPT-2 has kv = heads. */
typedef struct lb_test_shape {
    int64_t vocab, hidden, inter, layers, heads, kv_heads, head_dim, max_pos;
} lb_test_shape;

/* lb_test_config: a config of family `arch` with shape s ("gpt2" or
 * "llama" model_type, eps 1e-5, rope theta 10000, tanh GELU, no BOS/EOS
 * (-1)); untied and without biases: the caller sets those. */
lb_model_config lb_test_config(lb_arch arch, lb_test_shape s);

/* lb_test_gptq_config: the small model the GPTQ tests quantize (vocab 96,
 * hidden 64, 2 layers, intermediate 128 (Llama) / 256 (GPT-2), max_pos 64,
 * GPT-2 tied, BOS 1, EOS 2). */
lb_model_config lb_test_gptq_config(lb_arch arch);

/* lb_test_tiny_config: the tiny model of the grad-exactness tests (vocab
 * 97, hidden 64, intermediate 96 (in-dims multiples of a group of 32),
 * 4 heads of 16, Llama 2 kv heads, max_pos 32) with n_layers layers, tied
 * or not, with biases or not. */
lb_model_config lb_test_tiny_config(lb_arch arch, int64_t n_layers, bool tied, bool bias);

/* lb_test_tokens: ids (B, T) and next-token targets (B*T) in ctx (CPU),
 * tokens < V from an LCG started at `state`: row b reads tokens
 * b*(T+1) .. b*(T+1)+T, targets shifted by one. */
void lb_test_tokens(lb_ctx *ctx, int64_t B, int64_t T, int64_t V, uint64_t state, lb_tensor **ids, lb_tensor **tgt);

/* lb_test_spread_params: every 2-D parameter (CPU, f32) times w_scale, every
 * other one plus uniform [-0.2, 0.2) noise (64 values seeded by its index +
 * 1, repeated): larger weights than the 0.02 init and non-trivial norms and
 * biases, so attention is not uniform and every path carries gradient. */
void lb_test_spread_params(lb_model *m, float w_scale);

/* lb_test_model_setup: a CPU ctx (recompute as given) and m =
 * lb_model_init_random(c, seed 5) spread by 8, with weight and activation
 * quantizers wq / aq attached when either is non-NULL (lb_run_quant_attach)
 * and its quantizer parameters in qp[0..*nq) (at most 128). False (after an
 * expectation failure) when a step fails; ctx and m are then the caller's
 * to free as far as they were made. */
bool lb_test_model_setup(lb_ctx *ctx, lb_model *m, const lb_model_config *c, bool recompute, const char *wq,
                         const char *aq, lb_tensor **qp, int *nq);

/* lb_test_same_grad: a and b both have grads and they are bit-identical. */
bool lb_test_same_grad(const lb_tensor *a, const lb_tensor *b);

/* lb_test_diff_grads: compares the grads of two copies of one model
 * bitwise (every parameter, then quantizer parameters qa/qb[0..nq)); prints
 * "    LABEL: grad of NAME differs (or is missing)" for each and returns how
 * many differ. */
int lb_test_diff_grads(const lb_model *a, const lb_model *b, lb_tensor *const *qa, lb_tensor *const *qb, int nq,
                       const char *label);

/* lb_test_rel_l2: ||a - b|| / max(||b||, 1e-30) over n floats; INFINITY
 * when a difference is NaN. */
double lb_test_rel_l2(const float *a, const float *b, int64_t n);

/* lb_test_tmpdir: makes a fresh directory /tmp/<prefix>.XXXXXX (mkdtemp)
 * into dir[0..n); false (after perror) when it cannot. */
bool lb_test_tmpdir(char *dir, size_t n, const char *prefix);

/* lb_test_path: "dir/name" in one of 8 rotating static buffers (so a call
 * may hold up to 8 at once); paths over 511 bytes are cut. */
const char *lb_test_path(const char *dir, const char *name);

/* lb_test_write_file: writes the n bytes at p to dir/name.ext (a plain
 * fopen/fwrite: test data for the parity scripts); 0 when written, non-zero
 * (after a message on stderr) when not. */
int lb_test_write_file(const char *dir, const char *name, const char *ext, const void *p, size_t n);

/* lb_test_rmtree: removes dir and everything in it (rm -rf), saying so on
 * stderr when that fails. */
void lb_test_rmtree(const char *dir);

#endif
