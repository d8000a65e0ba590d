/* transfer.c — moving tensors between devices and dtypes, and the bf16
 * copies of CUDA parameters (ctx.h).
 *
 * Conversions between float dtypes round to nearest even on both sides.
 * When the destination is CUDA a conversion runs on the GPU (lb_cuda_cast)
 * after the source was copied over in its own dtype; towards the CPU the
 * device data is copied back in its own dtype and converted on the host.
 * Not here: the copies themselves (kernels/cuda/runtime.cu).
 */
#include <stdlib.h>
#include <string.h>

#include "autograd/ctx.h"
#include "kernels/cuda/cuda.h"
#include "kernels/cuda/kernels.h"

/* convert_host: dst (dtype dt) = src (dtype st), n elements, on the host. */
static void convert_host(void *dst, lb_dtype dt, const void *src, lb_dtype st, size_t n)
{
    if (st == dt) {
        memcpy(dst, src, n * lb_dtype_size(dt));
    } else if (dt == LB_F32) {
        lb_convert_to_f32(dst, src, st, n);
    } else if (st == LB_F32) {
        lb_convert_from_f32(dst, src, dt, n);
    } else {
        float *tmp = malloc((n ? n : 1) * sizeof *tmp);
        LB_CHECKF(tmp != NULL, "out of host memory converting %zu elements", n);
        lb_convert_to_f32(tmp, src, st, n);
        lb_convert_from_f32(dst, tmp, dt, n);
        free(tmp);
    }
}

lb_tensor *lb_tensor_to(lb_ctx *ctx, const lb_tensor *t, lb_device dev, lb_dtype dt)
{
    LB_CHECKF(t->dtype == dt || (lb_dtype_is_float(t->dtype) && lb_dtype_is_float(dt)),
              "lb_tensor_to: cannot convert %s to %s", lb_dtype_name(t->dtype), lb_dtype_name(dt));
    lb_tensor *out = lb_tensor_new_dev(ctx, dev, dt, t->ndim, t->shape);
    size_t n = (size_t)lb_tensor_numel(t), src_bytes = lb_tensor_nbytes(t);
    if (n == 0) return out;
    if (t->device == LB_CPU && dev == LB_CPU) {
        convert_host(out->data, dt, t->data, t->dtype, n);
    } else if (t->device == LB_CUDA && dev == LB_CUDA) {
        lb_cuda_cast(ctx, t->data, out->data, (int64_t)n, t->dtype, dt);
    } else if (dev == LB_CUDA) {   /* CPU -> CUDA */
        if (t->dtype == dt) {
            lb_cuda_memcpy_h2d(ctx, out->data, t->data, src_bytes);
        } else {
            void *stage = lb_cuda_tmp_alloc(ctx, src_bytes);
            lb_cuda_memcpy_h2d(ctx, stage, t->data, src_bytes);
            lb_cuda_cast(ctx, stage, out->data, (int64_t)n, t->dtype, dt);
            lb_cuda_tmp_free(ctx, stage);
        }
    } else {   /* CUDA -> CPU */
        if (t->dtype == dt) {
            lb_cuda_memcpy_d2h(ctx, out->data, t->data, src_bytes);
        } else {
            void *stage = malloc(src_bytes);
            LB_CHECKF(stage != NULL, "out of host memory copying %zu bytes from the GPU", src_bytes);
            lb_cuda_memcpy_d2h(ctx, stage, t->data, src_bytes);
            convert_host(out->data, dt, stage, t->dtype, n);
            free(stage);
        }
    }
    return out;
}

void lb_tensor_copy_to_host(lb_ctx *ctx, const lb_tensor *t, float *dst)
{
    size_t n = (size_t)lb_tensor_numel(t), bytes = lb_tensor_nbytes(t);
    if (n == 0) return;
    if (t->device == LB_CPU) {
        lb_convert_to_f32(dst, t->data, t->dtype, n);
    } else if (t->dtype == LB_F32) {
        lb_cuda_memcpy_d2h(ctx, dst, t->data, bytes);
    } else {
        void *stage = malloc(bytes);
        LB_CHECKF(stage != NULL, "out of host memory copying %zu bytes from the GPU", bytes);
        lb_cuda_memcpy_d2h(ctx, stage, t->data, bytes);
        lb_convert_to_f32(dst, stage, t->dtype, n);
        free(stage);
    }
}

void lb_tensor_copy_from_host(lb_ctx *ctx, lb_tensor *t, const float *src)
{
    LB_CHECKF(lb_dtype_is_float(t->dtype), "lb_tensor_copy_from_host: %s tensor",
              lb_dtype_name(t->dtype));
    size_t n = (size_t)lb_tensor_numel(t);
    if (n == 0) return;
    if (t->device == LB_CPU) {
        lb_convert_from_f32(t->data, src, t->dtype, n);
    } else if (t->dtype == LB_F32) {
        lb_cuda_memcpy_h2d(ctx, t->data, src, n * sizeof(float));
    } else {
        void *stage = lb_cuda_tmp_alloc(ctx, n * sizeof(float));
        lb_cuda_memcpy_h2d(ctx, stage, src, n * sizeof(float));
        lb_cuda_cast(ctx, stage, t->data, (int64_t)n, LB_F32, t->dtype);
        lb_cuda_tmp_free(ctx, stage);
    }
}

void lb_param_refresh_lowp(lb_ctx *ctx, lb_tensor *t)
{
    LB_CHECKF(t->device == LB_CUDA && t->dtype == LB_F32 && (t->flags & LB_TENSOR_PERSISTENT),
              "lb_param_refresh_lowp: %s must be a persistent f32 CUDA parameter (is %s %s)",
              t->name ? t->name : "the tensor", lb_device_name(t->device),
              lb_dtype_name(t->dtype));
    if (!t->lowp) {
        t->lowp = lb_tensor_alloc_dev(LB_CUDA, LB_BF16, t->ndim, t->shape);
        LB_CHECKF(t->lowp != NULL, "out of host memory for the bf16 copy of %s",
                  t->name ? t->name : "a parameter");
        t->lowp->name = t->name;
    }
    lb_cuda_cast(ctx, t->data, t->lowp->data, lb_tensor_numel(t), LB_F32, LB_BF16);
}
