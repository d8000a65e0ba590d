/* adamw_k.h — the CUDA kernels of one family (AdamW and device helpers), callable from C;
 * included by kernels/cuda/kernels.h, whose contract (dtypes, overwrite vs
 * accumulate, determinism, stubs without CUDA) holds for every function. */
#ifndef LB_CUDA_ADAMW_K_H
#define LB_CUDA_ADAMW_K_H

#include <stdbool.h>
#include <stdint.h>

#include "autograd/ctx.h"
#include "kernels/cuda/cuda.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- adamw.cu: optimizer and model-level device helpers (train/optim.c,
 * layers/model_device.c, train/cli/cmd_bench.c); stubs without CUDA ---------- */

/* Elements per AdamW chunk: one block of the launch per chunk. */
#define LB_ADAMW_CHUNK ((int64_t)1 << 16)

/* One row of the AdamW table: a slice of one parameter tensor. */
typedef struct lb_adamw_chunk {
    float *p;                 /* f32 master weights */
    const float *g;           /* f32 grads */
    float *m, *v;             /* f32 moments */
    void *lowp;               /* bf16 copy of p to rewrite, or NULL */
    int64_t n;                /* elements, <= LB_ADAMW_CHUNK */
    float wd;                 /* weight decay of this tensor (0: none) */
} lb_adamw_chunk;

#ifdef LB_HAVE_CUDA
/* lb_cuda_adamw_step: AdamW (train/optim.h's formula) over every chunk of
 * `table` (device memory, n_chunks rows) in one launch; OVERWRITES p, m, v
 * and lowp. step_size = lr / (1 - beta1^t), sqrt_bc2 = sqrt(1 - beta2^t). */
void lb_cuda_adamw_step(lb_ctx *ctx, const lb_adamw_chunk *table, int64_t n_chunks, float lr, float beta1,
                        float beta2, float eps, float step_size, float sqrt_bc2, float grad_scale);
/* lb_cuda_init_normal: OVERWRITES x[0..n) with model_init.c's N(0, std^2)
 * stream whose splitmix64 state after seeding is state0. */
void lb_cuda_init_normal(lb_ctx *ctx, float *x, int64_t n, uint64_t state0, float std);
/* lb_cuda_fill: OVERWRITES x[0..n) with v. */
void lb_cuda_fill(lb_ctx *ctx, float *x, int64_t n, float v);
/* Events on ctx's stream (for per-phase timing): record makes and records
 * one; ms waits for `end` and returns the time between them. */
void *lb_cuda_event_record(lb_ctx *ctx);
float lb_cuda_event_ms(void *start, void *end);
void lb_cuda_event_free(void *e);
/* lb_cuda_mem_info: cudaMemGetInfo. */
void lb_cuda_mem_info(size_t *free_bytes, size_t *total_bytes);
#else
static inline void lb_cuda_adamw_step(lb_ctx *ctx, const lb_adamw_chunk *table, int64_t n_chunks, float lr,
                                      float beta1, float beta2, float eps, float step_size, float sqrt_bc2,
                                      float grad_scale)
{
    lb_cuda_absent("lb_cuda_adamw_step");
}
static inline void lb_cuda_init_normal(lb_ctx *ctx, float *x, int64_t n, uint64_t state0, float std)
{
    lb_cuda_absent("lb_cuda_init_normal");
}
static inline void lb_cuda_fill(lb_ctx *ctx, float *x, int64_t n, float v)
{
    lb_cuda_absent("lb_cuda_fill");
}
static inline void *lb_cuda_event_record(lb_ctx *ctx) { return NULL; }
static inline float lb_cuda_event_ms(void *start, void *end) { return 0.0f; }
static inline void lb_cuda_event_free(void *e) {}
static inline void lb_cuda_mem_info(size_t *free_bytes, size_t *total_bytes) { *free_bytes = *total_bytes = 0; }
#endif

#ifdef __cplusplus
}
#endif

#endif
