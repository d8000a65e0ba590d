/* quant_weight.cuh — the launch plan shared by the fused weight fake-quant
 * forward (quant.cu) and backward (quant_bwd.cu): load width, lanes per
 * group and chunks per lane of a group length, and the group length of a
 * per-tensor pass. Host code only (static: each including file uses all of it).
 *
 * Not here: kernels (quant.cu, quant_bwd.cu), device helpers (quant_team.cuh). */
#ifndef LB_CUDA_QUANT_WEIGHT_CUH
#define LB_CUDA_QUANT_WEIGHT_CUH

#include "kernels/cuda/kernels.h"

#define MAXC 8                                /* register chunks per lane */

/* ---- launch plan ------------------------------------------------------------ */

typedef struct fq_plan {
    int vec, team, nc;
    bool reg;
} fq_plan;

/* plan_for: 4-wide loads when the group is a multiple of 4 and the
 * pointers allow it; team = the smallest power of two with team*vec >=
 * group, at most 32. */
static fq_plan plan_for(int64_t group, bool aligned)
{
    fq_plan p;
    p.vec = group % 4 == 0 && aligned ? 4 : 1;
    int64_t per = group / p.vec;
    p.team = 1;
    while (p.team < 32 && p.team < per) p.team <<= 1;
    p.nc = (int)((per + p.team - 1) / p.team);
    p.reg = p.nc <= MAXC;
    return p;
}

/* tensor_pass_group: the group length a per-tensor pass walks (any split
 * gives the same numbers; 128 keeps the 4-wide register path). */
static int64_t tensor_pass_group(const lb_cuda_qweight *Q)
{
    return Q->cols % 128 == 0 ? 128 : Q->cols;
}

#endif
