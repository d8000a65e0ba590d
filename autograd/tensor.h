/* tensor.h — lb_tensor: dtype, device, shape, data and its place on the tape.
 *
 * Tensors are row-major and contiguous, up to 4 dims. A tensor made during a
 * step lives in the context's step arena (struct and data) and is gone at
 * lb_ctx_step_end(); a persistent tensor (parameters, KV caches, optimizer
 * state) is heap-allocated and freed with lb_tensor_free(). Gradients share
 * the lifetime of the tensor they belong to.
 *
 * Devices and dtypes. On the CPU every op reads and writes f32 (the CPU path
 * is the specification). On CUDA:
 *   - activations (step tensors an op makes) are bf16, and so are their
 *     grads; an op's output has the dtype of its first input;
 *   - parameters are persistent f32 "master" tensors with f32 grads;
 *   - a GEMM reads a parameter through `lowp`, a persistent bf16 copy made
 *     and refreshed by lb_param_refresh_lowp() (ctx.h) after each update;
 *     small parameters (norm weights, biases) are read as f32 directly;
 *   - a grad always has its tensor's device, and on CUDA its dtype (so f32
 *     step tensors, e.g. a loss, get f32 grads); on the CPU grads are f32;
 *   - every kernel computes in fp32 registers: bf16 loads and stores, fp32
 *     arithmetic and accumulation.
 *
 * This file is not the op library (see ops.h) and does no arithmetic beyond
 * dtype conversion. Step tensors on a device and transfers between devices
 * take the context and are declared in ctx.h.
 */
#ifndef LB_TENSOR_H
#define LB_TENSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LB_MAX_DIMS 4

typedef enum lb_dtype {
    LB_F32 = 0,
    LB_BF16,
    LB_F16,
    LB_I32,
    LB_I8,
    LB_U8,
    LB_DTYPE_COUNT
} lb_dtype;

typedef enum lb_device {
    LB_CPU = 0,
    LB_CUDA,
} lb_device;

enum {
    LB_TENSOR_PERSISTENT = 1 << 0, /* heap-owned; survives step end */
    LB_TENSOR_VIEW = 1 << 1,       /* data borrowed from another tensor or a mapping */
    LB_TENSOR_GRAD_F32 = 1 << 2,   /* CUDA: the grad is f32 whatever the dtype: a bf16
                                      stand-in for an f32 parameter (the fake-quant
                                      w^ of a master weight), so the GEMM backward
                                      writes dW unrounded (lb_grad_of) */
    LB_TENSOR_LOWP_FQ = 1 << 3,    /* CUDA parameter whose lowp holds the fake-quant
                                      w^, written by every forward (ops_quant.c):
                                      the optimizer does not refresh it */
    LB_TENSOR_GRAD_ZEROS = 1 << 4, /* on a parameter's grad: it holds zeros (marked by
                                      lb_model_zero_grad); its first writer may
                                      overwrite it and clears the mark (tape.h) */
};

struct lb_node;

typedef struct lb_tensor {
    lb_dtype dtype;
    lb_device device;
    int ndim;
    int64_t shape[LB_MAX_DIMS];
    void *data;
    int flags;
    bool requires_grad;
    struct lb_tensor *grad;   /* same shape and device; f32 on the CPU, t's dtype
                                 on CUDA; NULL until backward reaches it */
    struct lb_node *node;     /* the tape node that produced this tensor, or NULL */
    const char *name;         /* optional, borrowed (parameters use it) */
    struct lb_tensor *lowp;   /* CUDA parameters: persistent bf16 copy the GEMMs
                                 read (lb_param_refresh_lowp); owned, else NULL */
} lb_tensor;

/* lb_dtype_size: bytes per element of `dt`. */
size_t lb_dtype_size(lb_dtype dt);

/* lb_dtype_name: "f32", "bf16", ... */
const char *lb_dtype_name(lb_dtype dt);

/* lb_tensor_numel: product of the shape (1 for ndim 0). */
int64_t lb_tensor_numel(const lb_tensor *t);

/* lb_tensor_nbytes: numel * dtype size. */
size_t lb_tensor_nbytes(const lb_tensor *t);

/* lb_tensor_alloc: a persistent CPU tensor with zeroed data, or NULL when
 * the allocation fails. The caller owns it and frees it with lb_tensor_free. */
lb_tensor *lb_tensor_alloc(lb_dtype dt, int ndim, const int64_t *shape);

/* lb_tensor_alloc_dev: a persistent tensor on `dev` with zeroed data (CPU:
 * lb_tensor_alloc). On CUDA the data comes from cudaMalloc; running out of
 * GPU memory prints what was asked and what is free, then exits(1). NULL
 * when the host allocation of the struct fails. Free with lb_tensor_free. */
lb_tensor *lb_tensor_alloc_dev(lb_device dev, lb_dtype dt, int ndim, const int64_t *shape);

/* lb_tensor_free: frees a persistent tensor, its data (unless a view; on the
 * tensor's device), its grad and its lowp copy. NULL is allowed. */
void lb_tensor_free(lb_tensor *t);

/* lb_tensor_same_shape: true when ndim and every dim agree. */
bool lb_tensor_same_shape(const lb_tensor *a, const lb_tensor *b);

/* lb_tensor_shape_str: writes "(2, 3, 4)" into buf; returns buf. */
char *lb_tensor_shape_str(const lb_tensor *t, char *buf, size_t n);

/* lb_device_name: "cpu" or "cuda". */
const char *lb_device_name(lb_device dev);

/* lb_dtype_is_float: f32, bf16 or f16. */
bool lb_dtype_is_float(lb_dtype dt);

/* lb_tensor_f32: the data as float*, checking dtype f32 on the CPU. */
float *lb_tensor_f32(const lb_tensor *t);

/* dtype conversion, round-to-nearest-even; NaN stays NaN. */
float lb_bf16_to_f32(uint16_t h);
uint16_t lb_f32_to_bf16(float f);
float lb_f16_to_f32(uint16_t h);
uint16_t lb_f32_to_f16(float f);

/* lb_convert_to_f32: converts n elements of dtype `dt` at src to f32 at dst
 * (f32, bf16, f16, i32, i8, u8). */
void lb_convert_to_f32(float *dst, const void *src, lb_dtype dt, size_t n);

/* lb_convert_from_f32: converts n floats to dtype `dt` (f32, bf16, f16). */
void lb_convert_from_f32(void *dst, const float *src, lb_dtype dt, size_t n);

#ifdef __cplusplus
}
#endif

#endif
