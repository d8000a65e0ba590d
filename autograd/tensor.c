/* tensor.c — lb_tensor bookkeeping, persistent tensors on either device and
 * dtype conversion. */
#include "autograd/tensor.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/status.h"
#include "kernels/cuda/cuda.h"

size_t lb_dtype_size(lb_dtype dt)
{
    static const size_t sizes[LB_DTYPE_COUNT] = {4, 2, 2, 4, 1, 1};
    LB_CHECK(dt >= 0 && dt < LB_DTYPE_COUNT);
    return sizes[dt];
}

const char *lb_dtype_name(lb_dtype dt)
{
    static const char *names[LB_DTYPE_COUNT] = {"f32", "bf16", "f16", "i32", "i8", "u8"};
    LB_CHECK(dt >= 0 && dt < LB_DTYPE_COUNT);
    return names[dt];
}

int64_t lb_tensor_numel(const lb_tensor *t)
{
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->shape[i];
    return n;
}

size_t lb_tensor_nbytes(const lb_tensor *t)
{
    return (size_t)lb_tensor_numel(t) * lb_dtype_size(t->dtype);
}

lb_tensor *lb_tensor_alloc(lb_dtype dt, int ndim, const int64_t *shape)
{
    LB_CHECK(ndim >= 0 && ndim <= LB_MAX_DIMS);
    lb_tensor *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->dtype = dt;
    t->device = LB_CPU;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) {
        LB_CHECK(shape[i] >= 0);
        t->shape[i] = shape[i];
    }
    t->flags = LB_TENSOR_PERSISTENT;
    size_t n = lb_tensor_nbytes(t);
    t->data = calloc(n ? n : 1, 1);
    if (!t->data) {
        free(t);
        return NULL;
    }
    return t;
}

lb_tensor *lb_tensor_alloc_dev(lb_device dev, lb_dtype dt, int ndim, const int64_t *shape)
{
    if (dev == LB_CPU) return lb_tensor_alloc(dt, ndim, shape);
    LB_CHECK(ndim >= 0 && ndim <= LB_MAX_DIMS);
    lb_tensor *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->dtype = dt;
    t->device = dev;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) {
        LB_CHECK(shape[i] >= 0);
        t->shape[i] = shape[i];
    }
    t->flags = LB_TENSOR_PERSISTENT;
    t->data = lb_cuda_malloc(lb_tensor_nbytes(t));
    return t;
}

void lb_tensor_free(lb_tensor *t)
{
    if (!t) return;
    LB_CHECK(t->flags & LB_TENSOR_PERSISTENT);
    if (!(t->flags & LB_TENSOR_VIEW)) {
        if (t->device == LB_CUDA)
            lb_cuda_free_ptr(t->data);
        else
            free(t->data);
    }
    lb_tensor_free(t->grad);
    lb_tensor_free(t->lowp);
    free(t);
}

bool lb_tensor_same_shape(const lb_tensor *a, const lb_tensor *b)
{
    if (a->ndim != b->ndim) return false;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i]) return false;
    return true;
}

char *lb_tensor_shape_str(const lb_tensor *t, char *buf, size_t n)
{
    size_t off = 0;
    off += (size_t)snprintf(buf + off, n - off, "(");
    for (int i = 0; i < t->ndim && off < n; i++)
        off += (size_t)snprintf(buf + off, n - off, i ? ", %lld" : "%lld", (long long)t->shape[i]);
    if (off < n) snprintf(buf + off, n - off, ")");
    return buf;
}

const char *lb_device_name(lb_device dev) { return dev == LB_CUDA ? "cuda" : "cpu"; }

bool lb_dtype_is_float(lb_dtype dt) { return dt == LB_F32 || dt == LB_BF16 || dt == LB_F16; }

float *lb_tensor_f32(const lb_tensor *t)
{
    LB_CHECKF(t->dtype == LB_F32 && t->device == LB_CPU,
              "expected a CPU f32 tensor, got %s", lb_dtype_name(t->dtype));
    return (float *)t->data;
}

static uint32_t f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static float bits_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

float lb_bf16_to_f32(uint16_t h) { return bits_f32((uint32_t)h << 16); }

uint16_t lb_f32_to_bf16(float f)
{
    uint32_t u = f32_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40); /* quiet NaN */
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

float lb_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t man = h & 0x3ffu;
    if (exp == 0) {
        /* zero or subnormal: man * 2^-24 */
        float v = ldexpf((float)man, -24);
        return sign ? -v : v;
    }
    if (exp == 31) return bits_f32(sign | 0x7f800000u | (man << 13));
    return bits_f32(sign | ((exp + 112u) << 23) | (man << 13));
}

uint16_t lb_f32_to_f16(float f)
{
    uint32_t u = f32_bits(f);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    uint32_t au = u & 0x7fffffffu;
    if (au > 0x7f800000u) return (uint16_t)(sign | 0x7e00u);          /* NaN */
    if (au >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u);         /* >= 65520 rounds to inf */
    if (au < 0x38800000u) {
        /* result is subnormal or zero: round |f| / 2^-24 to nearest even */
        float a = bits_f32(au);
        float scaled = a * 16777216.0f; /* exact: power of two */
        uint32_t m = (uint32_t)scaled;
        float rem = scaled - (float)m;
        if (rem > 0.5f || (rem == 0.5f && (m & 1u))) m++;
        return (uint16_t)(sign | m);
    }
    /* normal: rebias exponent, round mantissa 23 -> 10 bits to nearest even */
    uint32_t r = au - (112u << 23);
    r += 0xfffu + ((r >> 13) & 1u);
    return (uint16_t)(sign | (r >> 13));
}

void lb_convert_to_f32(float *dst, const void *src, lb_dtype dt, size_t n)
{
    switch (dt) {
    case LB_F32: memcpy(dst, src, n * 4); break;
    case LB_BF16:
        for (size_t i = 0; i < n; i++) dst[i] = lb_bf16_to_f32(((const uint16_t *)src)[i]);
        break;
    case LB_F16:
        for (size_t i = 0; i < n; i++) dst[i] = lb_f16_to_f32(((const uint16_t *)src)[i]);
        break;
    case LB_I32:
        for (size_t i = 0; i < n; i++) dst[i] = (float)((const int32_t *)src)[i];
        break;
    case LB_I8:
        for (size_t i = 0; i < n; i++) dst[i] = (float)((const int8_t *)src)[i];
        break;
    case LB_U8:
        for (size_t i = 0; i < n; i++) dst[i] = (float)((const uint8_t *)src)[i];
        break;
    default: LB_CHECKF(0, "bad dtype %d", (int)dt);
    }
}

void lb_convert_from_f32(void *dst, const float *src, lb_dtype dt, size_t n)
{
    switch (dt) {
    case LB_F32: memcpy(dst, src, n * 4); break;
    case LB_BF16:
        for (size_t i = 0; i < n; i++) ((uint16_t *)dst)[i] = lb_f32_to_bf16(src[i]);
        break;
    case LB_F16:
        for (size_t i = 0; i < n; i++) ((uint16_t *)dst)[i] = lb_f32_to_f16(src[i]);
        break;
    default: LB_CHECKF(0, "cannot convert f32 to %s", lb_dtype_name(dt));
    }
}
