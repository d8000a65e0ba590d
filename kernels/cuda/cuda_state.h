/* cuda_state.h — the CUDA backend's state and error checks; private to
 * kernels/cuda (autograd/ and above use cuda.h).
 *
 * Error channel: every CUDA, cuBLAS(Lt) and cuDNN call is wrapped in
 * LB_CUDA_CHECK / LB_CUBLAS_CHECK / LB_CUDNN_CHECK, which print file:line,
 * the call's text and the library's error string through lb_fatal (abort).
 * After a kernel launch, LB_CUDA_LAUNCH_CHECK(ctx) catches launch errors;
 * with LOWBIT_CUDA_SYNC=1 in the environment it also synchronizes, so that a
 * fault is reported at the kernel that caused it (slow; for debugging).
 * Out of GPU memory is not ours: lb_cuda_oom reports it to the user.
 */
#ifndef LB_KERNELS_CUDA_STATE_H
#define LB_KERNELS_CUDA_STATE_H

#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>
#include <stdbool.h>
#include <stddef.h>

#include "autograd/ctx.h"
#include "autograd/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* cuBLASLt workspace: 32 MiB, NVIDIA's recommendation for Hopper. */
#define LB_CUBLASLT_WORKSPACE ((size_t)32 << 20)

typedef struct lb_cuda_step_block {
    void *p;
    size_t n;
    uint64_t serial;              /* allocation order (lb_cuda_step_mark) */
} lb_cuda_step_block;

typedef struct lb_cuda_state {
    int device;
    int sm_count;                 /* multiprocessors, for grid sizes */
    int cc_major, cc_minor;       /* compute capability */
    cudaStream_t stream;          /* all of the context's work */
    cublasLtHandle_t lt;
    cudnnHandle_t cudnn;
    void *lt_workspace;           /* LB_CUBLASLT_WORKSPACE bytes, persistent */
    size_t lt_workspace_size;
    cudaMemPool_t pool;           /* the device's default pool (cudaMallocAsync) */
    lb_cuda_step_block *step;     /* this step's allocations (malloc'd array) */
    size_t n_step, cap_step;
    size_t step_bytes, step_peak;
    uint64_t step_serial;         /* serial of the next step allocation; never reset */
    bool sync_each;               /* LOWBIT_CUDA_SYNC=1: sync after every launch */
    void *gemm_cache;             /* gemm.cu plan cache (lb_cuda_gemm_cache_free) */
    void *attn_cache;             /* attention_cudnn.cu plan cache (lb_cuda_attention_cache_free) */
    void *prof;                   /* profile.cu marks and totals (lb_cuda_prof_free); NULL until used */
} lb_cuda_state;

/* lb_cuda_state_of: ctx's backend state; aborts when ctx has none (a CUDA
 * tensor reached a context made for the CPU). */
lb_cuda_state *lb_cuda_state_of(const lb_ctx *ctx);

/* lb_cuda_stream: ctx's stream. */
cudaStream_t lb_cuda_stream(const lb_ctx *ctx);

/* lb_cuda_oom: the user-facing out-of-memory report for an allocation of n
 * bytes; exits(1). */
void lb_cuda_oom(size_t n) __attribute__((noreturn));

/* lb_cuda_host_grow: the growth step of the backend's host bookkeeping
 * arrays (the step list, the profiler's marks and table): reallocs arr
 * (elements of elem bytes, capacity *cap, full) to twice *cap, or to
 * `first` when *cap is 0, stores the new capacity in *cap and returns the
 * array; aborts with "out of host memory for <what>" when realloc fails. */
void *lb_cuda_host_grow(void *arr, size_t *cap, size_t elem, size_t first, const char *what);

/* lb_cuda_launch_check: after a launch: aborts on a launch error, and with
 * sync_each waits and aborts on an execution error. Use the macro. */
void lb_cuda_launch_check(const lb_ctx *ctx, const char *file, int line);

/* lb_cuda_grid: blocks for a grid-stride loop over `work` items with
 * `threads` per block: enough to cover the work, at most 16 blocks per
 * multiprocessor (the loop takes the rest), at least 1. */
unsigned lb_cuda_grid(const lb_ctx *ctx, int64_t work, int threads);

#define LB_CUDA_CHECK(call)                                                              \
    do {                                                                                 \
        cudaError_t lb_e_ = (call);                                                      \
        if (lb_e_ != cudaSuccess)                                                        \
            lb_fatal(__FILE__, __LINE__, "%s failed: %s (%s)", #call,                    \
                     cudaGetErrorString(lb_e_), cudaGetErrorName(lb_e_));                \
    } while (0)

#define LB_CUBLAS_CHECK(call)                                                            \
    do {                                                                                 \
        cublasStatus_t lb_s_ = (call);                                                   \
        if (lb_s_ != CUBLAS_STATUS_SUCCESS)                                              \
            lb_fatal(__FILE__, __LINE__, "%s failed: %s (%d)", #call,                    \
                     cublasGetStatusString(lb_s_), (int)lb_s_);                          \
    } while (0)

#define LB_CUDNN_CHECK(call)                                                             \
    do {                                                                                 \
        cudnnStatus_t lb_s_ = (call);                                                    \
        if (lb_s_ != CUDNN_STATUS_SUCCESS)                                               \
            lb_fatal(__FILE__, __LINE__, "%s failed: %s (%d)", #call,                    \
                     cudnnGetErrorString(lb_s_), (int)lb_s_);                            \
    } while (0)

#define LB_CUDA_LAUNCH_CHECK(ctx) lb_cuda_launch_check((ctx), __FILE__, __LINE__)

#ifdef __cplusplus
}
#endif

#endif
