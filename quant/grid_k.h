/* grid_k.h — the scalar reference of the llama.cpp K-quants q4_k and q6_k,
 * one super-block of 256 weights at a time (FORMATS §5.3).
 *
 * Like grid.h, these functions ARE the specification: plain loops, fp32
 * arithmetic in the order written below (no FMA contraction, no fast-math).
 * The row-parallel CPU kernel (kernels/cpu/quant_k.c) and the CUDA kernel
 * (kernels/cuda/quant_k.cu) must agree with them bit for bit;
 * tests/test_quant_kquant.c and tests/test_gpu_quant.c check that.
 *
 * Notation: nearest(v) = round half to even (ggml's magic-number
 * nearest_int for |v| < 2^22); clamp(nearest(v), lo, hi) gives lo for NaN
 * and is an integer (never -0);
 * f16(v) = IEEE round-to-nearest-even to fp16, then clamped to [-65504,
 * 65504] (ggml would store inf); sums run over the elements in index order,
 * starting from 0 unless said otherwise. The sub-block searches are
 * ggml's make_qkx2_quants (q4_k) and make_qx_quants with rmse_type 1
 * (q6_k), re-derived from their description and written out here in full;
 * where lowbit deviates from ggml's C it says so (marked "lowbit:").
 *
 * q4_k (8 sub-blocks j of 32 elements x):
 *   weights  av = sqrtf((sum x*x) / 32), w_i = av + |x_i|
 *   search   mn = min(min_i x_i, 0) (running min from x_0), mx = max_i x_i;
 *            sum_w = sum w_i, sum_x = sum w_i*x_i (both from element 0).
 *            mx == mn: scale_j = 0, min_j = -mn.
 *            iscale = 15/(mx - mn), scale = 1/iscale, min = mn,
 *            best = sum w_i*(e_i*e_i), e_i = (scale*l_i + min) - x_i,
 *            l_i = clamp(nearest(iscale*(x_i - mn)), 0, 15).
 *            For is = 0..20: iscale = ((-1 + 0.1f*is) + 15)/(mx - mn), l_i as
 *            above, sum_l = sum w_i*l_i, sum_l2 = sum (w_i*l_i)*l_i,
 *            sum_xl = sum (w_i*l_i)*x_i, D = sum_w*sum_l2 - sum_l*sum_l; if
 *            D > 0: s' = (sum_w*sum_xl - sum_x*sum_l)/D, m' = (sum_l2*sum_x -
 *            sum_l*sum_xl)/D; if m' > 0: m' = 0, s' = sum_xl/sum_l2; its
 *            error (as best, with s', m'); strictly smaller replaces (scale,
 *            min). The sub-block's scale_j = scale, min_j = -min.
 *            lowbit: a scale_j or min_j that is not finite and > 0 is 0
 *            (ggml lets a negative scale wrap in its uint8 cast).
 *   header   max_scale = max_j scale_j, max_min = max_j min_j (from 0);
 *            d = f16(max_scale/63), dmin = f16(max_min/63);
 *            sc_j = clamp(nearest((max_scale > 0 ? 63/max_scale : 0)*scale_j), 0, 63),
 *            mn_j likewise from min_j and max_min.
 *            lowbit: if d == 0 or every sc_j is 0, then d = 0 and every
 *            sc_j = 0; the same for dmin and mn_j (the canonical form).
 *   codes    s_j = d*sc_j, m_j = dmin*mn_j (exact in fp32);
 *            q = s_j == 0 ? 0 (lowbit; ggml keeps the search's code) :
 *                clamp(nearest((x + m_j)/s_j), 0, 15);
 *            x^ = s_j*q - m_j (ggml's dequantize_row_q4_K).
 *
 * q6_k (16 sub-blocks j of 16 elements x):
 *   search   mx = the x of largest |x| (first wins; from +0), amax = |mx|;
 *            amax < 1e-15f: scale 0. Else iscale = -32/mx,
 *            l_i = clamp(nearest(iscale*x_i), -32, 31), w_i = x_i*x_i,
 *            sumlx = sum (w_i*x_i)*l_i, suml2 = sum (w_i*l_i)*l_i,
 *            scale = suml2 != 0 ? sumlx/suml2 : 0, best = scale*sumlx.
 *            For is = -9..9 except 0: iscale = -(32 + 0.1f*is)/mx, sums as
 *            above; if suml2 > 0 and sumlx*sumlx > best*suml2: scale =
 *            sumlx/suml2, best = scale*sumlx. lowbit: a non-finite scale_j
 *            is 0.
 *   header   max_scale = the scale_j of largest |scale_j| (first wins; from
 *            +0). |max_scale| < 1e-15f: the zero super-block. Else
 *            iscale = -128/max_scale, d = f16(1/iscale),
 *            sc_j = clamp(nearest(iscale*scale_j), -128, 127).
 *            lowbit: d == 0 (fp16 underflow) also gives the zero
 *            super-block: d = 0, every sc_j = 0 (ggml keeps the sc_j).
 *   codes    s_j = d*sc_j (exact); q = s_j == 0 ? 32 :
 *            clamp(nearest(x/s_j), -32, 31) + 32; x^ = s_j*(q - 32).
 *
 * The canonical form (what ggml_pack.h recovers the header from): q4_k's
 * largest s_j is 63*d unless all are 0 (then d = 0), likewise m_j and
 * dmin; q6_k's s_j of largest magnitude is -128*d unless all are 0.
 */
#ifndef LB_QUANT_GRID_K_H
#define LB_QUANT_GRID_K_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LB_QK_K 256    /* elements per K-quant super-block */

/* lb_grid_q4k_block: q4_k on x[0..256): codes[256] in 0..15, the
 * sub-block scales s[8] = d*sc_j and mins m[8] = dmin*mn_j;
 * x^ = s[e/32]*codes[e] - m[e/32]. */
void lb_grid_q4k_block(const float *x, uint8_t *codes, float *s, float *m);

/* lb_grid_q6k_block: q6_k on x[0..256): codes[256] in 0..63 and the
 * sub-block scales s[16] = d*sc_j; x^ = s[e/16]*(codes[e] - 32). */
void lb_grid_q6k_block(const float *x, uint8_t *codes, float *s);

#ifdef __cplusplus
}
#endif

#endif
