/* runtime.cu — the CUDA backend's state, memory and copies (cuda.h).
 *
 * Not here: kernels (one .cu file per op family), GEMM descriptors.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cuda/cuda.h"
#include "kernels/cuda/cuda_state.h"
#include "kernels/cuda/kernels.h"

#ifndef LB_CUDA_ARCHS
#define LB_CUDA_ARCHS "?"
#endif

/* A kernel that does nothing: whether its attributes can be read says
 * whether this build has code the device can run. */
__global__ void lb_cuda_probe_kernel(void) {}

static bool device_runs_our_code(void)
{
    cudaFuncAttributes attr;
    if (cudaFuncGetAttributes(&attr, lb_cuda_probe_kernel) == cudaSuccess) return true;
    (void)cudaGetLastError();   /* clear the (non-sticky) error */
    return false;
}

bool lb_cuda_available(void)
{
    int count = 0;
    if (cudaGetDeviceCount(&count) != cudaSuccess || count < 1) {
        (void)cudaGetLastError();
        return false;
    }
    return device_runs_our_code();
}

lb_cuda_state *lb_cuda_state_of(const lb_ctx *ctx)
{
    LB_CHECKF(ctx->cuda != NULL, "a CUDA tensor reached a context without the CUDA backend "
                                 "(make the context with lb_ctx_init(ctx, LB_CUDA))");
    return (lb_cuda_state *)ctx->cuda;
}

cudaStream_t lb_cuda_stream(const lb_ctx *ctx) { return lb_cuda_state_of(ctx)->stream; }

lb_status lb_cuda_init(lb_ctx *ctx, int device)
{
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess || count < 1) {
        (void)cudaGetLastError();
        return lb_errorf(LB_ERR_UNSUPPORTED, "no CUDA GPU found (%s); use --device cpu",
                         e != cudaSuccess ? cudaGetErrorString(e) : "the driver lists none");
    }
    if (device < 0 || device >= count)
        return lb_errorf(LB_ERR_ARG, "CUDA device %d does not exist (this machine has %d)",
                         device, count);
    LB_CUDA_CHECK(cudaSetDevice(device));
    cudaDeviceProp prop;
    LB_CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
    if (!device_runs_our_code())
        return lb_errorf(LB_ERR_UNSUPPORTED,
                         "GPU %d (%s, compute capability %d.%d) cannot run this build's kernels, "
                         "built for CMAKE_CUDA_ARCHITECTURES=%s; rebuild with "
                         "-DCMAKE_CUDA_ARCHITECTURES=%d%d",
                         device, prop.name, prop.major, prop.minor, LB_CUDA_ARCHS, prop.major,
                         prop.minor);

    lb_cuda_state *s = (lb_cuda_state *)calloc(1, sizeof *s);
    LB_CHECKF(s != NULL, "out of host memory for the CUDA state");
    s->device = device;
    s->sm_count = prop.multiProcessorCount;
    s->cc_major = prop.major;
    s->cc_minor = prop.minor;
    const char *sync = getenv("LOWBIT_CUDA_SYNC");
    s->sync_each = sync && strcmp(sync, "1") == 0;
    LB_CUDA_CHECK(cudaStreamCreateWithFlags(&s->stream, cudaStreamNonBlocking));
    LB_CUBLAS_CHECK(cublasLtCreate(&s->lt));
    LB_CUDNN_CHECK(cudnnCreate(&s->cudnn));
    LB_CUDNN_CHECK(cudnnSetStream(s->cudnn, s->stream));
    s->lt_workspace_size = LB_CUBLASLT_WORKSPACE;
    s->lt_workspace = lb_cuda_malloc(s->lt_workspace_size);
    /* Keep freed step memory in the pool instead of returning it to the
     * driver at every synchronization. */
    LB_CUDA_CHECK(cudaDeviceGetDefaultMemPool(&s->pool, device));
    uint64_t keep = UINT64_MAX;
    LB_CUDA_CHECK(cudaMemPoolSetAttribute(s->pool, cudaMemPoolAttrReleaseThreshold, &keep));
    ctx->cuda = s;
    return lb_ok();
}

void lb_cuda_free(lb_ctx *ctx)
{
    lb_cuda_state *s = (lb_cuda_state *)ctx->cuda;
    if (!s) return;
    lb_cuda_step_end(ctx);
    LB_CUDA_CHECK(cudaStreamSynchronize(s->stream));
    LB_CUDA_CHECK(cudaMemPoolTrimTo(s->pool, 0));
    lb_cuda_gemm_cache_free(s->gemm_cache);
    lb_cuda_attention_cache_free(s->attn_cache);   /* its plans use the cuDNN handle */
    lb_cuda_prof_free(s->prof);
    lb_cuda_free_ptr(s->lt_workspace);
    LB_CUDNN_CHECK(cudnnDestroy(s->cudnn));
    LB_CUBLAS_CHECK(cublasLtDestroy(s->lt));
    LB_CUDA_CHECK(cudaStreamDestroy(s->stream));
    free(s->step);
    free(s);
    ctx->cuda = NULL;
}

void lb_cuda_oom(size_t n)
{
    size_t free_b = 0, total_b = 0;
    (void)cudaGetLastError();
    if (cudaMemGetInfo(&free_b, &total_b) != cudaSuccess) (void)cudaGetLastError();
    fprintf(stderr,
            "lowbit: error: out of GPU memory: asked for %.1f MiB with %.1f MiB free of %.1f MiB; "
            "try a smaller --batch or --micro-batch, or --recompute blocks (train, bench)\n",
            (double)n / 1048576.0, (double)free_b / 1048576.0, (double)total_b / 1048576.0);
    fflush(stderr);
    exit(1);
}

void *lb_cuda_host_grow(void *arr, size_t *cap, size_t elem, size_t first, const char *what)
{
    size_t c = *cap ? 2 * *cap : first;
    void *a = realloc(arr, c * elem);
    LB_CHECKF(a != NULL, "out of host memory for %s", what);
    *cap = c;
    return a;
}

void *lb_cuda_step_alloc(lb_ctx *ctx, size_t n)
{
    lb_cuda_state *s = lb_cuda_state_of(ctx);
    if (n == 0) n = 1;
    void *p = NULL;
    cudaError_t e = cudaMallocAsync(&p, n, s->stream);
    if (e == cudaErrorMemoryAllocation) lb_cuda_oom(n);
    LB_CUDA_CHECK(e);
    if (s->n_step == s->cap_step)
        s->step = (lb_cuda_step_block *)lb_cuda_host_grow(s->step, &s->cap_step, sizeof *s->step, 256,
                                                          "the CUDA step list");
    s->step[s->n_step].p = p;
    s->step[s->n_step].n = n;
    s->step[s->n_step].serial = s->step_serial++;
    s->n_step++;
    s->step_bytes += n;
    if (s->step_bytes > s->step_peak) s->step_peak = s->step_bytes;
    return p;
}

void *lb_cuda_tmp_alloc(lb_ctx *ctx, size_t n)
{
    void *p = NULL;
    cudaError_t e = cudaMallocAsync(&p, n ? n : 1, lb_cuda_stream(ctx));
    if (e == cudaErrorMemoryAllocation) lb_cuda_oom(n);
    LB_CUDA_CHECK(e);
    return p;
}

void lb_cuda_tmp_free(lb_ctx *ctx, void *p)
{
    if (p) LB_CUDA_CHECK(cudaFreeAsync(p, lb_cuda_stream(ctx)));
}

void lb_cuda_step_release(lb_ctx *ctx, void *p)
{
    lb_cuda_state *s = lb_cuda_state_of(ctx);
    /* newest first: what is released is usually recent */
    for (size_t i = s->n_step; i-- > 0;) {
        if (s->step[i].p != p) continue;
        LB_CUDA_CHECK(cudaFreeAsync(p, s->stream));
        s->step_bytes -= s->step[i].n;
        s->step[i] = s->step[--s->n_step];
        return;
    }
    LB_CHECKF(0, "lb_cuda_step_release: %p is not step memory of this step", p);
}

uint64_t lb_cuda_step_mark(const lb_ctx *ctx) { return lb_cuda_state_of(ctx)->step_serial; }

/* holds: one of keep[0..n_keep) points into the block */
static bool holds(const lb_cuda_step_block *b, void *const *keep, int n_keep)
{
    for (int k = 0; k < n_keep; k++) {
        const char *q = (const char *)keep[k], *p = (const char *)b->p;
        if (q && q >= p && q < p + b->n) return true;
    }
    return false;
}

size_t lb_cuda_step_release_since(lb_ctx *ctx, uint64_t mark, void *const *keep, int n_keep)
{
    lb_cuda_state *s = lb_cuda_state_of(ctx);
    size_t freed = 0;
    for (size_t i = s->n_step; i-- > 0;) {
        if (s->step[i].serial < mark || holds(&s->step[i], keep, n_keep)) continue;
        LB_CUDA_CHECK(cudaFreeAsync(s->step[i].p, s->stream));
        freed += s->step[i].n;
        s->step_bytes -= s->step[i].n;
        s->step[i] = s->step[--s->n_step];
    }
    return freed;
}

void lb_cuda_step_end(lb_ctx *ctx)
{
    lb_cuda_state *s = (lb_cuda_state *)ctx->cuda;
    if (!s) return;
    for (size_t i = 0; i < s->n_step; i++) LB_CUDA_CHECK(cudaFreeAsync(s->step[i].p, s->stream));
    s->n_step = 0;
    s->step_bytes = 0;
}

size_t lb_cuda_step_bytes(const lb_ctx *ctx) { return lb_cuda_state_of(ctx)->step_bytes; }

size_t lb_cuda_step_peak(const lb_ctx *ctx) { return lb_cuda_state_of(ctx)->step_peak; }

size_t lb_cuda_pool_reserved(const lb_ctx *ctx)
{
    uint64_t v = 0;
    LB_CUDA_CHECK(cudaMemPoolGetAttribute(lb_cuda_state_of(ctx)->pool,
                                          cudaMemPoolAttrReservedMemCurrent, &v));
    return (size_t)v;
}

void *lb_cuda_malloc(size_t n)
{
    if (n == 0) n = 1;
    void *p = NULL;
    cudaError_t e = cudaMalloc(&p, n);
    if (e == cudaErrorMemoryAllocation) lb_cuda_oom(n);
    LB_CUDA_CHECK(e);
    /* cudaMemset runs on the legacy default stream, which the contexts'
     * non-blocking streams do not wait for: finish it here. */
    LB_CUDA_CHECK(cudaMemset(p, 0, n));
    LB_CUDA_CHECK(cudaStreamSynchronize(cudaStreamLegacy));
    return p;
}

void lb_cuda_free_ptr(void *p)
{
    if (p) LB_CUDA_CHECK(cudaFree(p));
}

void lb_cuda_memcpy_h2d(lb_ctx *ctx, void *dst, const void *src, size_t n)
{
    if (n == 0) return;
    LB_CUDA_CHECK(cudaMemcpyAsync(dst, src, n, cudaMemcpyHostToDevice, lb_cuda_stream(ctx)));
}

void lb_cuda_memcpy_d2h(lb_ctx *ctx, void *dst, const void *src, size_t n)
{
    if (n == 0) return;
    cudaStream_t st = lb_cuda_stream(ctx);
    LB_CUDA_CHECK(cudaMemcpyAsync(dst, src, n, cudaMemcpyDeviceToHost, st));
    LB_CUDA_CHECK(cudaStreamSynchronize(st));
}

void lb_cuda_memcpy_d2d(lb_ctx *ctx, void *dst, const void *src, size_t n)
{
    if (n == 0) return;
    LB_CUDA_CHECK(cudaMemcpyAsync(dst, src, n, cudaMemcpyDeviceToDevice, lb_cuda_stream(ctx)));
}

void lb_cuda_memset_zero(lb_ctx *ctx, void *p, size_t n)
{
    if (n == 0) return;
    LB_CUDA_CHECK(cudaMemsetAsync(p, 0, n, lb_cuda_stream(ctx)));
}

void lb_cuda_sync(lb_ctx *ctx) { LB_CUDA_CHECK(cudaStreamSynchronize(lb_cuda_stream(ctx))); }

void lb_cuda_launch_check(const lb_ctx *ctx, const char *file, int line)
{
    cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess)
        lb_fatal(file, line, "kernel launch failed: %s (%s)", cudaGetErrorString(e),
                 cudaGetErrorName(e));
    lb_cuda_state *s = lb_cuda_state_of(ctx);
    if (!s->sync_each) return;
    e = cudaStreamSynchronize(s->stream);
    if (e != cudaSuccess)
        lb_fatal(file, line, "kernel failed (LOWBIT_CUDA_SYNC=1): %s (%s)", cudaGetErrorString(e),
                 cudaGetErrorName(e));
}

unsigned lb_cuda_grid(const lb_ctx *ctx, int64_t work, int threads)
{
    int64_t blocks = (work + threads - 1) / threads;
    int64_t cap = (int64_t)lb_cuda_state_of(ctx)->sm_count * 16;
    if (blocks > cap) blocks = cap;
    if (blocks < 1) blocks = 1;
    return (unsigned)blocks;
}
