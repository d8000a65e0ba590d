/* quant_bwd.cu — the fused weight fake-quant backward on the GPU (int
 * grids): masked straight-through into the f32 weight grad plus the
 * LSQ/LSQ+ scale/zero sums per group (per-tensor: one double partial per
 * group of the pass, summed by one block in a fixed order). Other grids
 * take the plain STE pass of quant_act.cu. Bit-exact with
 * kernels/cpu/quant.c (see quant.cu's header for the rules and the layout).
 *
 * Not here: the forward (quant.cu, quant_stats.cu), the clip-mask-only
 * backward (quant_mask.cu), shape checks and the tape (autograd/ops_quant.c).
 */
#include <math.h>
#include <string.h>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/kernels.h"
#include "kernels/cuda/quant_team.cuh"
#include "kernels/cuda/quant_weight.cuh"

/* ---- the fused weight backward -------------------------------------------- */

typedef struct fqb_args {
    const float *w, *s, *z;
    const void *dout;
    float *dw, *ds, *dz;
    double *part_s, *part_z;  /* per-tensor: one partial per group of the pass */
    bool dw_overwrite;        /* dw is written, not read (marked zero) */
    int64_t ngroups, group;
    int team, nc;
    float maxq, g;
    bool tensor;
} fqb_args;

template <typename TD, int VEC>
__global__ void __launch_bounds__(QTHREADS) fq_weight_bwd_kernel(const fqb_args a)
{
    const int lane = threadIdx.x & 31, team = a.team, tl = lane & (team - 1), tiw = lane / team;
    const int tpw = 32 / team;
    const int64_t warp = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
    const int64_t nwarps = ((int64_t)gridDim.x * blockDim.x) >> 5;
    const TD *dout = (const TD *)a.dout;
    for (int64_t g0 = warp * tpw; g0 < a.ngroups; g0 += nwarps * tpw) {
        const int64_t gi = g0 + tiw;
        const bool active = gi < a.ngroups;
        const int64_t k = a.tensor ? 0 : gi;
        const float sk = active ? a.s[k] : 1.0f, zk = active ? a.z[k] : 0.0f;
        double sa = 0.0, sb = 0.0;
        for (int c = 0; c < a.nc; c++) {
            int64_t off = ((int64_t)c * team + tl) * VEC;
            if (!active || off >= a.group) continue;
            int64_t i = gi * a.group + off;
            float x[VEC], go[VEC], acc[VEC] = {};
            if (VEC == 4) {
                float4 f = *reinterpret_cast<const float4 *>(a.w + i);
                x[0] = f.x, x[1] = f.y, x[2] = f.z, x[3] = f.w;
            } else {
                x[0] = a.w[i];
            }
#pragma unroll
            for (int e = 0; e < VEC; e++) go[e] = lb_ld(dout + i + e);
            if (a.dw && !a.dw_overwrite) {   /* else acc stays 0: the bits of adding to 0 */
                if (VEC == 4) {
                    float4 f = *reinterpret_cast<const float4 *>(a.dw + i);
                    acc[0] = f.x, acc[1] = f.y, acc[2] = f.z, acc[3] = f.w;
                } else {
                    acc[0] = a.dw[i];
                }
            }
#pragma unroll
            for (int e = 0; e < VEC; e++) {
                float v = __fdiv_rn(x[e], sk), r = __fadd_rn(rintf(v), zk);
                bool inside = r >= 0.0f && r <= a.maxq;
                float q = clampf(r, 0.0f, a.maxq);
                if (inside) acc[e] = __fadd_rn(acc[e], go[e]);
                float t = __fsub_rn(__fsub_rn(q, zk), inside ? v : 0.0f);
                sa = __dadd_rn(sa, __dmul_rn((double)go[e], (double)t));
                if (!inside) sb = __dsub_rn(sb, __dmul_rn((double)go[e], (double)sk));
            }
            if (a.dw) {
                if (VEC == 4) *reinterpret_cast<float4 *>(a.dw + i) = make_float4(acc[0], acc[1], acc[2], acc[3]);
                else a.dw[i] = acc[0];
            }
        }
        if (!a.ds && !a.dz) continue;
        sa = team_sum(sa, team);
        sb = team_sum(sb, team);
        if (active && tl == 0) {
            if (a.tensor) {
                a.part_s[gi] = sa;
                a.part_z[gi] = sb;
            } else {
                if (a.ds) a.ds[gi] = __fadd_rn(a.ds[gi], (float)__dmul_rn((double)a.g, sa));
                if (a.dz) a.dz[gi] = __fadd_rn(a.dz[gi], (float)__dmul_rn((double)a.g, sb));
            }
        }
    }
}

/* sum_partials_kernel: one block: ds[0] += g * sum(part_s), dz likewise,
 * the partials summed per thread in a strided order and then by one
 * thread in thread order (fixed). */
__global__ void sum_partials_kernel(const double *ps_, const double *pz_, int64_t n, float g,
                                    float *ds, float *dz)
{
    __shared__ double sh[2][QTHREADS];
    double a = 0.0, b = 0.0;
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
        a = __dadd_rn(a, ps_[i]);
        b = __dadd_rn(b, pz_[i]);
    }
    sh[0][threadIdx.x] = a;
    sh[1][threadIdx.x] = b;
    __syncthreads();
    if (threadIdx.x == 0) {
        a = 0.0, b = 0.0;
        for (int k = 0; k < (int)blockDim.x; k++) {
            a = __dadd_rn(a, sh[0][k]);
            b = __dadd_rn(b, sh[1][k]);
        }
        if (ds) ds[0] = __fadd_rn(ds[0], (float)__dmul_rn((double)g, a));
        if (dz) dz[0] = __fadd_rn(dz[0], (float)__dmul_rn((double)g, b));
    }
}

void lb_cuda_fake_quant_weight_bwd(lb_ctx *ctx, const lb_cuda_qweight *Q, const float *w,
                                   const float *s, const float *z, const void *dout,
                                   lb_dtype tdout, float g, float *dw, bool dw_overwrite, float *ds,
                                   float *dz)
{
    int64_t n = Q->rows * Q->cols;
    if (n <= 0) return;
    if (Q->grid != LB_CUDA_QGRID_INT) {   /* no mask: dw = 0 + dout (a rare grid: cleared first) */
        if (dw && dw_overwrite) lb_cuda_memset_zero(ctx, dw, (size_t)n * sizeof(float));
        if (dw) lb_cuda_fake_quant_ste_bwd(ctx, dout, dw, n, tdout, LB_F32);
        return;
    }
    if (!dw && !ds && !dz) return;
    fqb_args a;
    memset(&a, 0, sizeof a);
    a.w = w, a.s = s, a.z = z, a.dout = dout, a.dw = dw, a.ds = ds, a.dz = dz;
    a.dw_overwrite = dw_overwrite;
    a.maxq = (float)((1 << Q->bits) - 1);
    a.g = g;
    a.tensor = Q->tensor;
    a.group = Q->tensor ? tensor_pass_group(Q) : Q->group;
    a.ngroups = n / a.group;
    size_t dsz = lb_dtype_size(tdout);
    bool aligned = lb_aligned16(w) && lb_aligned16(dw) && ((uintptr_t)dout & (4 * dsz - 1)) == 0;
    fq_plan p = plan_for(a.group, aligned);
    a.team = p.team;
    a.nc = p.nc;
    bool partials = Q->tensor && (ds || dz);
    if (partials) {
        a.part_s = (double *)lb_cuda_tmp_alloc(ctx, (size_t)a.ngroups * sizeof(double));
        a.part_z = (double *)lb_cuda_tmp_alloc(ctx, (size_t)a.ngroups * sizeof(double));
    }
    int64_t warps = (a.ngroups + (32 / p.team) - 1) / (32 / p.team);
    unsigned grid = lb_cuda_grid(ctx, warps * 32, QTHREADS);
    cudaStream_t st = lb_cuda_stream(ctx);
    LB_DISPATCH_FLOAT(tdout, TD,
        if (p.vec == 4) fq_weight_bwd_kernel<TD, 4><<<grid, QTHREADS, 0, st>>>(a);
        else fq_weight_bwd_kernel<TD, 1><<<grid, QTHREADS, 0, st>>>(a));
    LB_CUDA_LAUNCH_CHECK(ctx);
    if (partials) {
        sum_partials_kernel<<<1, QTHREADS, 0, st>>>(a.part_s, a.part_z, a.ngroups, g, ds, dz);
        LB_CUDA_LAUNCH_CHECK(ctx);
        lb_cuda_tmp_free(ctx, a.part_s);
        lb_cuda_tmp_free(ctx, a.part_z);
    }
}
