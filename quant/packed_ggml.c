/* packed_ggml.c — the CPU decoder of LB_PACKED_GGML weights (packed_ggml.h). */
#include "quant/packed_ggml.h"

#include <string.h>

#include "kernels/cuda/packed_ggml_k.h"
#include "quant/ggml_pack.h"
#include "quant/gguf.h"

bool lb_ggml_type_decodable(int type, lb_qformat *fmt)
{
    lb_qformat f = LB_QF_NONE;
    switch (type) {
    case LB_GGML_F32: case LB_GGML_F16: case LB_GGML_BF16: break;
    case LB_GGML_Q4_0: f = LB_QF_Q4_0; break;
    case LB_GGML_Q4_1: f = LB_QF_Q4_1; break;
    case LB_GGML_Q5_0: f = LB_QF_Q5_0; break;
    case LB_GGML_Q5_1: f = LB_QF_Q5_1; break;
    case LB_GGML_Q8_0: f = LB_QF_Q8_0; break;
    case LB_GGML_Q4_K: f = LB_QF_Q4_K; break;
    case LB_GGML_Q6_K: f = LB_QF_Q6_K; break;
    default: return false;
    }
    if (fmt) *fmt = f;
    return true;
}

/* decode_row: one row of p's bytes into cols f32 values. */
static void decode_row(int type, lb_qformat f, const uint8_t *src, int64_t cols, float *y)
{
    switch (type) {
    case LB_GGML_F32: memcpy(y, src, (size_t)cols * sizeof *y); break;
    case LB_GGML_F16: lb_convert_to_f32(y, src, LB_F16, (size_t)cols); break;
    case LB_GGML_BF16: lb_convert_to_f32(y, src, LB_BF16, (size_t)cols); break;
    default: lb_ggml_dequantize_row(f, src, cols, y); break;
    }
}

void lb_packed_ggml_decode(const lb_packed *p, int64_t r0, int64_t n, const int32_t *idx, float *out)
{
    LB_CHECK(p->kind == LB_PACKED_GGML && p->data->device == LB_CPU);
    lb_qformat f;
    LB_CHECKF(lb_ggml_type_decodable(p->ggml_type, &f), "lb_packed_ggml_decode: ggml type %d", p->ggml_type);
    const int64_t rb = lb_ggml_row_bytes(p->ggml_type, p->cols);
    const uint8_t *base = p->data->data;
    #pragma omp parallel for schedule(static) if (n * p->cols >= 65536)
    for (int64_t i = 0; i < n; i++) {
        int64_t r = idx ? idx[i] : r0 + i;
        LB_CHECKF(r >= 0 && r < p->rows, "lb_packed_ggml_decode: row %lld outside (%lld rows)", (long long)r,
                  (long long)p->rows);
        decode_row(p->ggml_type, f, base + r * rb, p->cols, out + i * p->cols);
    }
}

void lb_packed_ggml_decode_cuda(lb_ctx *ctx, const lb_packed *p, int64_t r0, int64_t n, const int32_t *idx,
                                void *out, lb_dtype dt)
{
    LB_CHECK(p->kind == LB_PACKED_GGML && p->data->device == LB_CUDA);
    LB_CHECKF(lb_ggml_type_decodable(p->ggml_type, NULL), "lb_packed_ggml_decode_cuda: ggml type %d", p->ggml_type);
    LB_CHECK(idx || (r0 >= 0 && n >= 0 && r0 + n <= p->rows));
    lb_cuda_packed_ggml_decode(ctx, p->ggml_type, p->data->data, lb_ggml_row_bytes(p->ggml_type, p->cols), p->cols,
                               r0, n, idx, out, dt);
}
