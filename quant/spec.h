/* spec.h — quantizer spec strings: parsed in one place, printed back in one
 * canonical form.
 *
 * A spec names a quantizer everywhere (CLI --wq/--aq, run config, export;
 * DESIGN §4). The grammar, with the default of every optional field:
 *
 *   weights
 *     int<b>[:g<N>|:ch|:tensor][:sym|:asym][:minmax|:mse|:lsq|:lsq+][:f16|:f32]
 *                         b = 2..8; defaults :g128 :asym :minmax :f16
 *                         (int4 == int4:g128:asym:minmax:f16, the torchao /
 *                         GPTQ 4-bit default; f16 because GPTQ stores fp16)
 *     nf4[:g<N>][:f16|:f32]   NormalFloat-4 (bitsandbytes' 16 values), absmax
 *                         scale per block; defaults :g64 :f32 (bnb keeps
 *                         fp32 absmax)
 *     fp8[:ch|:tensor][:f16|:f32]   e4m3 (max 448), absmax scale; defaults
 *                         :tensor :f32
 *     fp4[:g<N>][:f16|:f32]   e2m1 {0,.5,1,1.5,2,3,4,6} with sign, absmax
 *                         scale per group; defaults :g32 (the OCP MX block)
 *                         :f32
 *     q4_0 q4_1 q5_0 q5_1 q8_0   llama.cpp blocks of 32 along the input dim,
 *                         fp16 scales, bit-exact with ggml's
 *                         quantize_row_*_ref / dequantize_row_* (FORMATS §5.3);
 *                         no options
 *     q4_k q6_k           llama.cpp K-quants: super-blocks of 256 along the
 *                         input dim (which must be a multiple of 256), fp16
 *                         super-block scales and 6-bit (q4_k, sub-blocks of
 *                         32, with mins) or int8 (q6_k, sub-blocks of 16)
 *                         sub-block scales; lowbit's encoder (grid_k.h),
 *                         ggml's dequantize_row_q4_K / q6_K; no options
 *   activations
 *     int8:token[:dyn]    per row (token) absmax, symmetric, recomputed
 *                         every forward
 *     int8:tensor[:static]  one scale from calibration (lb_quantizer_observe)
 *     int8:tensor:pact    one learned clip alpha (PACT), s = alpha / 127
 *     none
 *
 * Fields after the format may come in any order; each at most once. The
 * last field (:f16/:f32) is the storage dtype of the SCALES (not of the
 * weights): the forward uses scales already rounded to it, so QAT sees the
 * numbers the exported file gives. The canonical printer writes every field
 * in the order above ("int4:g128:asym:minmax:f16", "nf4:g64:f32",
 * "fp8:tensor:f32", "q4_0", "q4_k", "int8:token:dyn", "none"); parse(print(spec))
 * is the same spec.
 *
 * This file does no quantization (grid.h) and holds no per-weight state
 * (quantizer.h).
 */
#ifndef LB_QUANT_SPEC_H
#define LB_QUANT_SPEC_H

#include <stdbool.h>
#include <stddef.h>

#include "autograd/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum lb_qformat {
    LB_QF_NONE = 0,    /* activations "none": no quantizer */
    LB_QF_INT,         /* int<b>: affine integer grid */
    LB_QF_NF4,         /* NormalFloat-4 values, absmax scale */
    LB_QF_FP8,         /* e4m3 values, absmax scale */
    LB_QF_FP4,         /* e2m1 values, absmax scale */
    LB_QF_Q4_0,        /* llama.cpp presets, block 32 */
    LB_QF_Q4_1,
    LB_QF_Q5_0,
    LB_QF_Q5_1,
    LB_QF_Q8_0,
    LB_QF_Q4_K,        /* llama.cpp K-quants, super-block 256 */
    LB_QF_Q6_K,
} lb_qformat;

/* Which elements share one scale. Weights are (out, in) [nn.Linear]. */
typedef enum lb_qgran {
    LB_QG_GROUP = 0,   /* `group` consecutive inputs of one output row */
    LB_QG_CHANNEL,     /* one output row (group = in) */
    LB_QG_TENSOR,      /* the whole tensor */
    LB_QG_TOKEN,       /* activations: one row (last dim) of x */
} lb_qgran;

/* How the scale (and zero) are found. */
typedef enum lb_qmode {
    LB_QM_MINMAX = 0,  /* int: min-max of the group, every forward */
    LB_QM_MSE,         /* int: clip-ratio search (grid.h), every forward */
    LB_QM_LSQ,         /* int: learned scale (LSQ), init by MSE */
    LB_QM_LSQP,        /* int: learned scale and zero (LSQ+), init by MSE */
    LB_QM_ABSMAX,      /* nf4/fp8/fp4: s = absmax / max grid value */
    LB_QM_GGML,        /* q*_*: the ggml reference quantizer */
    LB_QM_DYN,         /* activations int8:token: absmax every forward */
    LB_QM_STATIC,      /* activations int8:tensor: calibrated scale */
    LB_QM_PACT,        /* activations int8:tensor: learned clip alpha */
} lb_qmode;

/* What the spec string is for: the same text means different things. */
typedef enum lb_qrole {
    LB_QROLE_WEIGHT = 0,
    LB_QROLE_ACT,
} lb_qrole;

#define LB_QSPEC_STR_MAX 64

typedef struct lb_qspec {
    lb_qformat format;
    lb_qrole role;
    int bits;          /* int: 2..8; nf4/fp4: 4; fp8: 8; q4_*: 4, q5_*: 5,
                          q6_k: 6, q8_0: 8; activations: 8 */
    lb_qgran gran;
    int group;         /* elements per scale along the input dim when gran
                          is LB_QG_GROUP (ggml presets: 32; the K-quants'
                          sub-blocks: q4_k 32, q6_k 16); else 0 */
    bool sym;          /* int: symmetric (z = 2^(b-1)); value grids and
                          q*_0, q8_0, q6_k and activations are symmetric */
    lb_qmode mode;
    bool scale_f16;    /* scales stored (and used) as fp16; false: fp32 */
} lb_qspec;

/* lb_qspec_parse: parses `text` as a spec for `role` into *out. Bad text is
 * the user's: the message quotes the text and the offending field and lists
 * what is allowed there (e.g. for "int9": "bits must be 2..8"). "none" is a
 * valid activation spec (format LB_QF_NONE) and an error for weights. */
lb_status lb_qspec_parse(const char *text, lb_qrole role, lb_qspec *out);

/* lb_qspec_format: writes the canonical form (every field explicit) into
 * buf (LB_QSPEC_STR_MAX is always enough) and returns buf. */
char *lb_qspec_format(const lb_qspec *spec, char *buf, size_t n);

/* lb_qspec_maxq: the largest integer code, 2^bits - 1 for int and the ggml
 * presets (q8_0: 255, codes offset by 128), 15 for nf4/fp4, 255 for fp8. */
int lb_qspec_maxq(const lb_qspec *spec);

/* lb_qspec_is_ggml: true for the llama.cpp presets q4_0 q4_1 q5_0 q5_1
 * q8_0 q4_k q6_k. */
bool lb_qspec_is_ggml(const lb_qspec *spec);

/* lb_qspec_is_kquant: true for q4_k and q6_k (super-blocks of 256). */
bool lb_qspec_is_kquant(const lb_qspec *spec);

/* lb_qspec_learned: true when the quantizer has learnable parameters
 * (lsq, lsq+, pact). */
bool lb_qspec_learned(const lb_qspec *spec);

#ifdef __cplusplus
}
#endif

#endif
