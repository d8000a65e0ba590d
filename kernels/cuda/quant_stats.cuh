/* quant_stats.cuh — the per-tensor statistics and mse clip-search kernels
 * of the weight fake-quant (defined in quant_stats.cu, launched by the
 * forward in quant.cu; contracts next to the definitions).
 *
 * Not here: the kernels' code (quant_stats.cu), the forward (quant.cu). */
#ifndef LB_CUDA_QUANT_STATS_CUH
#define LB_CUDA_QUANT_STATS_CUH

#include <stdint.h>

__global__ void range_partial_kernel(const float *x, int64_t n, float *part);
__global__ void tensor_params_kernel(const float *part, int nblocks, int grid, int bits, bool sym,
                                     bool f16, bool range_only, float *s, float *z);
__global__ void mse_kernel(const float *w, int64_t ngroups, int64_t len, int bits, bool sym,
                           bool f16, bool tensor, float *s, float *z);

#endif
