/* adamw.cu — the optimizer's CUDA kernel and the model-level device helpers
 * that go with the planned parameter memory (layers/model_device.c):
 *
 *   - lb_cuda_adamw_step: AdamW over every parameter in ONE launch, from a
 *     table of (pointer, length) chunks of at most LB_ADAMW_CHUNK elements
 *     (one block per chunk), rewriting the bf16 copy of each weight too;
 *   - lb_cuda_init_normal: the documented init RNG of model_init.c
 *     (splitmix64 + Box-Muller in double), which is counter-based, so each
 *     thread computes its own elements: the same seed gives the CPU's weights;
 *   - lb_cuda_fill: constants (norm weights);
 *   - events and device memory figures for the benchmark.
 *
 * The AdamW arithmetic uses explicitly rounded intrinsics (__fmul_rn, ...),
 * which the compiler cannot contract into FMAs, in the order of the CPU
 * specification (train/optim.c): the two agree bit for bit where the host
 * compiler does not contract either (x86-64 without -mfma).
 * Everything here OVERWRITES its outputs; nothing accumulates.
 */
#include <stdint.h>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cuda.h"
#include "kernels/cuda/kernels.h"

/* ---- AdamW ------------------------------------------------------------------ */

__global__ void adamw_kernel(const lb_adamw_chunk *tab, float lr, float b1, float b2, float eps,
                             float step_size, float sqrt_bc2, float gs)
{
    const lb_adamw_chunk c = tab[blockIdx.x];
    const float decay = __fsub_rn(1.0f, __fmul_rn(lr, c.wd));
    const float c1 = __fsub_rn(1.0f, b1), c2 = __fsub_rn(1.0f, b2);
    bf16 *lowp = (bf16 *)c.lowp;
    for (int64_t i = threadIdx.x; i < c.n; i += blockDim.x) {
        float gi = __fmul_rn(c.g[i], gs);
        float mi = __fadd_rn(__fmul_rn(b1, c.m[i]), __fmul_rn(c1, gi));
        float vi = __fadd_rn(__fmul_rn(b2, c.v[i]), __fmul_rn(c2, __fmul_rn(gi, gi)));
        float denom = __fadd_rn(__fdiv_rn(__fsqrt_rn(vi), sqrt_bc2), eps);
        float pi = __fsub_rn(__fmul_rn(c.p[i], decay), __fmul_rn(step_size, __fdiv_rn(mi, denom)));
        c.m[i] = mi;
        c.v[i] = vi;
        c.p[i] = pi;
        if (lowp) lowp[i] = __float2bfloat16_rn(pi);
    }
}

void lb_cuda_adamw_step(lb_ctx *ctx, const lb_adamw_chunk *table, int64_t n_chunks, float lr, float beta1,
                        float beta2, float eps, float step_size, float sqrt_bc2, float grad_scale)
{
    if (n_chunks == 0) return;
    LB_CHECK(n_chunks < ((int64_t)1 << 31));
    adamw_kernel<<<(unsigned)n_chunks, LB_CUDA_THREADS, 0, lb_cuda_stream(ctx)>>>(
        table, lr, beta1, beta2, eps, step_size, sqrt_bc2, grad_scale);
    LB_CUDA_LAUNCH_CHECK(ctx);
}

/* ---- init and casts ---------------------------------------------------------- */

__device__ __forceinline__ uint64_t splitmix_out(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Pair j of the stream takes calls 2j+1 and 2j+2 of splitmix64 started at
 * state0 (call k returns splitmix_out(state0 + k * golden)). */
__global__ void init_normal_kernel(float *x, int64_t n, uint64_t state0, float std)
{
    const uint64_t golden = 0x9e3779b97f4a7c15ULL;
    const double two_pi = 6.283185307179586476925286766559;
    int64_t pairs = (n + 1) / 2;
    for (int64_t j = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; j < pairs;
         j += (int64_t)gridDim.x * blockDim.x) {
        uint64_t a = splitmix_out(state0 + (uint64_t)(2 * j + 1) * golden);
        uint64_t b = splitmix_out(state0 + (uint64_t)(2 * j + 2) * golden);
        double u1 = (double)((a >> 11) + 1) * 0x1.0p-53;
        double u2 = (double)(b >> 11) * 0x1.0p-53;
        double r = sqrt(-2.0 * log(u1));
        x[2 * j] = (float)((double)std * r * cos(two_pi * u2));
        if (2 * j + 1 < n) x[2 * j + 1] = (float)((double)std * r * sin(two_pi * u2));
    }
}

void lb_cuda_init_normal(lb_ctx *ctx, float *x, int64_t n, uint64_t state0, float std)
{
    if (n == 0) return;
    init_normal_kernel<<<lb_cuda_grid(ctx, (n + 1) / 2, LB_CUDA_THREADS), LB_CUDA_THREADS, 0,
                         lb_cuda_stream(ctx)>>>(x, n, state0, std);
    LB_CUDA_LAUNCH_CHECK(ctx);
}

__global__ void fill_kernel(float *x, int64_t n, float v)
{
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
        x[i] = v;
}

void lb_cuda_fill(lb_ctx *ctx, float *x, int64_t n, float v)
{
    if (n == 0) return;
    fill_kernel<<<lb_cuda_grid(ctx, n, LB_CUDA_THREADS), LB_CUDA_THREADS, 0, lb_cuda_stream(ctx)>>>(x, n, v);
    LB_CUDA_LAUNCH_CHECK(ctx);
}

/* ---- timing and memory ----------------------------------------------------- */

void *lb_cuda_event_record(lb_ctx *ctx)
{
    cudaEvent_t e;
    LB_CUDA_CHECK(cudaEventCreate(&e));
    LB_CUDA_CHECK(cudaEventRecord(e, lb_cuda_stream(ctx)));
    return (void *)e;
}

float lb_cuda_event_ms(void *start, void *end)
{
    float ms = 0;
    LB_CUDA_CHECK(cudaEventSynchronize((cudaEvent_t)end));
    LB_CUDA_CHECK(cudaEventElapsedTime(&ms, (cudaEvent_t)start, (cudaEvent_t)end));
    return ms;
}

void lb_cuda_event_free(void *e)
{
    if (e) LB_CUDA_CHECK(cudaEventDestroy((cudaEvent_t)e));
}

void lb_cuda_mem_info(size_t *free_bytes, size_t *total_bytes)
{
    LB_CUDA_CHECK(cudaMemGetInfo(free_bytes, total_bytes));
}
