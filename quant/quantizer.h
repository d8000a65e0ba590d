/* quantizer.h — lb_quantizer: a spec plus the state of one weight (or one
 * activation site): its scales, zeros and learnable parameters.
 *
 * Weights are (out, in) [nn.Linear layout]; groups run along `in`. Scales
 * and zeros are persistent CPU f32 tensors shaped (out, G) with
 * G = in / group (per channel: (out, 1); per tensor: (1, 1)); with an f16
 * scale dtype every scale value is exactly representable in fp16.
 *
 *   minmax, mse      scales/zeros are recomputed from the current weight at
 *                    every forward (torchao's default) and written here;
 *                    they are not parameters.
 *   lsq              scales are a learnable parameter "<name>.wq_scale"
 *                    (requires_grad), initialised by the MSE search; zeros
 *                    stay as initialised (asym) or 2^(b-1) (sym).
 *   lsq+             scales and zeros are learnable ("<name>.wq_scale",
 *                    "<name>.wq_zero"); the forward uses the zero rounded
 *                    to an integer code in [0, 2^b - 1] (so GPTQ can store
 *                    it) and passes its gradient straight through.
 *   nf4, fp4, fp8    absmax scales, recomputed every forward; zeros NULL.
 *   q4_0 ... q8_0    the ggml reference per block of 32, every forward.
 *   q4_k q6_k        the K-quant encoder (grid_k.h) per super-block of 256,
 *                    every forward. State per SUB-block (group = 32 for
 *                    q4_k, 16 for q6_k; G = in / group): scales hold the
 *                    effective sub-block scale s = d*sc (fp16 d times the
 *                    6-bit / int8 sub-block scale, exact in fp32), zeros
 *                    hold q4_k's sub-block min m = dmin*mn (subtracted) or
 *                    q6_k's 32. They are in the canonical form of grid_k.h,
 *                    from which lb_ggml_pack_row recovers d, dmin, sc, mn
 *                    exactly (no other state is needed to export).
 *
 * What a code means (lb_quantizer_codes, one uint8 per weight element):
 *   int              q in [0, 2^b-1];            w^ = s * (q - z)
 *   q4_0 q5_0 q8_0   q in [0, 15] / [0, 31] / [1, 255] (q8_0: ggml's int8
 *                    code + 128); z = 8 / 16 / 128;  w^ = s * (q - z)
 *   q4_1 q5_1        q in [0, 15] / [0, 31]; the "zero" is ggml's min m:
 *                    w^ = s * q + m (two roundings, as ggml and gguf-py)
 *   q4_k             q in [0, 15], s and m per sub-block of 32:
 *                    w^ = s * q - m (ggml's (d*sc)*q - dmin*mn)
 *   q6_k             q in [0, 63], z = 32, s per sub-block of 16:
 *                    w^ = s * (q - 32) (ggml's (d*sc)*(q - 32))
 *   nf4              index into lb_nf4_values;    w^ = s * nf4[q]
 *   fp4              sign << 3 | e2m1 magnitude;  w^ = s * e2m1(q)
 *   fp8              the e4m3fn byte;             w^ = s * e4m3(q)
 * (s, z, m as stored: fp16-rounded where the spec's scale dtype is f16 or
 * the format is a ggml preset. s*(q-z): q-z is exact, one rounding.)
 *
 * Activation quantizers (role LB_QROLE_ACT) use the same struct: int8:token
 * has no state; int8:tensor:static keeps one calibrated scale; pact keeps
 * the learnable clip "<name>.aq_alpha" (shape (1)).
 *
 * Devices: the state is created on the CPU (from a CPU weight);
 * lb_quantizer_to moves it to the device of the weight it serves (the
 * CUDA fake-quant reads it there). lb_quantizer_run / _codes / _observe
 * read CPU state only.
 *
 * Not here: the fake-quant ops (fakequant.h), bit packing (ggml_pack.h),
 * PTQ methods.
 */
#ifndef LB_QUANT_QUANTIZER_H
#define LB_QUANT_QUANTIZER_H

#include <stdbool.h>
#include <stdint.h>

#include "autograd/ctx.h"
#include "autograd/status.h"
#include "autograd/tensor.h"
#include "quant/spec.h"

#ifdef __cplusplus
extern "C" {
#endif

#define LB_QUANT_NAME_MAX 192

typedef struct lb_quantizer {
    lb_qspec spec;
    char name[LB_QUANT_NAME_MAX];        /* the weight's / site's name, for messages */
    char *scale_name;      /* "<name>.wq_scale" / "<name>.aq_alpha", owned (heap,
                              so the struct may be moved: the tensors' names point here) */
    char *zero_name;       /* "<name>.wq_zero", owned */
    int64_t rows, cols;    /* weight shape (out, in); activations: 0 */
    int64_t group;         /* elements per scale along `in` (ch: in; tensor: in) */
    int64_t n_groups;      /* scales per row: in / group (tensor: 1) */
    lb_tensor *scales;     /* (out, G) or (1, 1); NULL for activations */
    lb_tensor *zeros;      /* (out, G) or (1, 1); NULL when the grid has none */
    lb_tensor *alpha;      /* pact: (1) learnable clip; else NULL */
    float act_scale;       /* int8:tensor:static: s = absmax / 127 */
    float act_absmax;      /* largest |x| observed (static and pact calibration) */
    int64_t act_observed;  /* calibration batches seen */
    bool calibrating;      /* static: in a calibration pass, the forward observes x
                              (lb_quantizer_calib_observe) and passes it through */
    bool calib_nonfinite;  /* a calibration batch held NaN/Inf (the pass reports it) */
} lb_quantizer;

/* lb_quantizer_init: the quantizer of weight `w` (out, in), a persistent or
 * step CPU f32 tensor, named `name` (e.g. "model.layers.0.mlp.up_proj.weight").
 * Allocates scales/zeros, computes their initial values from w (lsq/lsq+:
 * the MSE search; others: the forward's own formula) and, for lsq/lsq+,
 * marks them requires_grad and names them. Errors (the user's input), each
 * naming the layer: w not 2-D, the group size (or the ggml block of 32, or
 * the K-quant super-block of 256) not dividing `in`, and NaN or Inf in w (the message gives the first index).
 * On error *q is left freed. Free with lb_quantizer_free. */
lb_status lb_quantizer_init(lb_quantizer *q, const lb_qspec *spec, const lb_tensor *w,
                            const char *name);

/* lb_quantizer_init_act: an activation quantizer for the site `name`
 * (e.g. "model.layers.0.mlp.down_proj.input"). int8:tensor:static starts
 * uncalibrated; pact starts with alpha = `pact_alpha0` (> 0; the PACT paper
 * uses 10) until lb_quantizer_observe replaces it. Spec must have role
 * LB_QROLE_ACT; LB_QF_NONE gives a quantizer that lb_fake_quant_act passes
 * through. */
lb_status lb_quantizer_init_act(lb_quantizer *q, const lb_qspec *spec, const char *name,
                                float pact_alpha0);

/* lb_quantizer_to: moves q's state (scales, zeros, PACT alpha) to `dev`:
 * each tensor is replaced by a persistent f32 tensor on dev with the same
 * values, name and requires_grad (the old one is freed, so pointers to it
 * taken earlier, e.g. an optimizer's, are stale); a learnable one gets a
 * zeroed grad there (an optimizer on CUDA needs every grad before its first
 * step). Nothing to do when already there. Waits for a copy to the CPU. */
void lb_quantizer_to(lb_ctx *ctx, lb_quantizer *q, lb_device dev);

/* lb_quantizer_free: frees the tensors; the struct may be reused. */
void lb_quantizer_free(lb_quantizer *q);

/* lb_quantizer_params: the learnable parameters (lsq: scales; lsq+: scales,
 * zeros; pact: alpha), written to out[0..max); returns how many there are
 * (0 for the others). The trainer gives them their own lr / weight decay
 * (typically no decay); they stay owned by q. */
int lb_quantizer_params(lb_quantizer *q, lb_tensor **out, int max);

/* lb_quantizer_codes: the integer codes (out*in bytes, row-major like w) and
 * the scales and zeros (out*G floats each; zeros may be NULL; formats
 * without zeros write 0) that the forward computes for `w` — bit-identical
 * with lb_fake_quant_weight: dequantizing them by the table above gives its
 * output exactly. For lsq/lsq+ the stored parameters are used (rounded as
 * the forward rounds them), else they are recomputed from w. Does not
 * change q. */
void lb_quantizer_codes(const lb_quantizer *q, const lb_tensor *w, uint8_t *codes, float *scales,
                        float *zeros);

/* lb_quantizer_run: the one place the forward's numbers are made, shared by
 * lb_fake_quant_weight and lb_quantizer_codes: for the weight data w
 * (rows*cols floats) writes the scales and zeros it uses into s and z
 * (out*G floats each; z is written 0 for the value grids) and, when not
 * NULL, w^ into out and the codes into codes. */
void lb_quantizer_run(const lb_quantizer *q, const float *w, float *s, float *z, float *out,
                      uint8_t *codes);

/* lb_quantizer_observe: calibration of an int8:tensor static/pact
 * quantizer: act_absmax = max(act_absmax, max |x|) over a batch x (any
 * shape, CPU f32); sets act_scale = absmax / 127 (static) or alpha =
 * absmax (pact; the tensor's value, not its grad). A NaN in x is an error
 * naming the site. No-op for other specs. */
lb_status lb_quantizer_observe(lb_quantizer *q, const lb_tensor *x);

/* lb_quantizer_calib_observe: the forward's hook for a quantizer with
 * q->calibrating set (layers' lb_block_linear calls it instead of the
 * fake-quant, and uses x unchanged): lb_quantizer_observe on x, which may
 * be on any device and of any float dtype (a device or bf16 x is read
 * through a host f32 copy, so a CUDA pass observes the bf16 activations
 * the CUDA forward computes). The statistic is the absolute maximum over
 * every batch (no percentile). A non-finite value sets q->calib_nonfinite
 * and leaves the statistic unchanged: the forward cannot return an error,
 * the calibration pass (train/calib.h) reports it. */
void lb_quantizer_calib_observe(lb_ctx *ctx, lb_quantizer *q, const lb_tensor *x);

#ifdef __cplusplus
}
#endif

#endif
