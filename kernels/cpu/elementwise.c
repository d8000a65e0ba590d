/* elementwise.c — pointwise ops, broadcasting over leading dims, and sums.
 *
 * add, mul (b broadcast as b[i % nb]), scale, silu, gelu (erf and tanh
 * forms), swiglu, the scalar sum, and the column sum that reduces a
 * broadcast gradient. Not here: reductions along a row (norm.c, softmax.c).
 */
#include <math.h>

#include "kernels/cpu/kernels.h"

/* Columns per OpenMP task in the column sums (one cache-friendly strip). */
#define LB_COL_BLOCK 64

/* Broadcast loops run over (rows, nb) with rows = n / nb; a full-shape b
 * (rows == 1) is split along nb instead so that it still runs in parallel. */
void lb_cpu_add_fwd(const float *a, const float *b, float *out, int64_t n, int64_t nb)
{
    if (nb == n) {
        #pragma omp parallel for schedule(static) if (n > LB_CPU_PAR_MIN)
        for (int64_t i = 0; i < n; i++) out[i] = a[i] + b[i];
        return;
    }
    #pragma omp parallel for schedule(static) if (n > LB_CPU_PAR_MIN)
    for (int64_t r = 0; r < n / nb; r++)
        for (int64_t j = 0; j < nb; j++) out[r * nb + j] = a[r * nb + j] + b[j];
}

void lb_cpu_colsum_acc(const float *x, float *out, int64_t rows, int64_t cols)
{
    int64_t nblk = (cols + LB_COL_BLOCK - 1) / LB_COL_BLOCK;
    #pragma omp parallel for schedule(static) if (rows * cols > LB_CPU_PAR_MIN)
    for (int64_t blk = 0; blk < nblk; blk++) {
        int64_t c0 = blk * LB_COL_BLOCK;
        int64_t c1 = c0 + LB_COL_BLOCK < cols ? c0 + LB_COL_BLOCK : cols;
        for (int64_t r = 0; r < rows; r++)
            for (int64_t c = c0; c < c1; c++) out[c] += x[r * cols + c];
    }
}

/* colsum_prod_acc: out (cols) += sum over rows of x * y, both (rows, cols). */
static void colsum_prod_acc(const float *x, const float *y, float *out, int64_t rows, int64_t cols)
{
    int64_t nblk = (cols + LB_COL_BLOCK - 1) / LB_COL_BLOCK;
    #pragma omp parallel for schedule(static) if (rows * cols > LB_CPU_PAR_MIN)
    for (int64_t blk = 0; blk < nblk; blk++) {
        int64_t c0 = blk * LB_COL_BLOCK;
        int64_t c1 = c0 + LB_COL_BLOCK < cols ? c0 + LB_COL_BLOCK : cols;
        for (int64_t r = 0; r < rows; r++)
            for (int64_t c = c0; c < c1; c++) out[c] += x[r * cols + c] * y[r * cols + c];
    }
}

void lb_cpu_acc(float *dst, const float *src, int64_t n)
{
    #pragma omp parallel for schedule(static) if (n > LB_CPU_PAR_MIN)
    for (int64_t i = 0; i < n; i++) dst[i] += src[i];
}

void lb_cpu_add_bwd(const float *dout, float *da, float *db, int64_t n, int64_t nb)
{
    if (da) lb_cpu_acc(da, dout, n);
    if (db) lb_cpu_colsum_acc(dout, db, n / nb, nb);
}

void lb_cpu_mul_fwd(const float *a, const float *b, float *out, int64_t n, int64_t nb)
{
    if (nb == n) {
        #pragma omp parallel for schedule(static) if (n > LB_CPU_PAR_MIN)
        for (int64_t i = 0; i < n; i++) out[i] = a[i] * b[i];
        return;
    }
    #pragma omp parallel for schedule(static) if (n > LB_CPU_PAR_MIN)
    for (int64_t r = 0; r < n / nb; r++)
        for (int64_t j = 0; j < nb; j++) out[r * nb + j] = a[r * nb + j] * b[j];
}

void lb_cpu_mul_bwd(const float *a, const float *b, const float *dout,
                    float *da, float *db, int64_t n, int64_t nb)
{
    if (da && nb == n) {
        #pragma omp parallel for schedule(static) if (n > LB_CPU_PAR_MIN)
        for (int64_t i = 0; i < n; i++) da[i] += dout[i] * b[i];
    } else if (da) {
        #pragma omp parallel for schedule(static) if (n > LB_CPU_PAR_MIN)
        for (int64_t r = 0; r < n / nb; r++)
            for (int64_t j = 0; j < nb; j++) da[r * nb + j] += dout[r * nb + j] * b[j];
    }
    if (db && nb == n) {
        #pragma omp parallel for schedule(static) if (n > LB_CPU_PAR_MIN)
        for (int64_t i = 0; i < n; i++) db[i] += dout[i] * a[i];
    } else if (db) {
        colsum_prod_acc(dout, a, db, n / nb, nb);
    }
}

void lb_cpu_scale_fwd(const float *a, float s, float *out, int64_t n)
{
    #pragma omp parallel for schedule(static) if (n > LB_CPU_PAR_MIN)
    for (int64_t i = 0; i < n; i++) out[i] = s * a[i];
}

void lb_cpu_scale_bwd(const float *dout, float s, float *da, int64_t n)
{
    #pragma omp parallel for schedule(static) if (n > LB_CPU_PAR_MIN)
    for (int64_t i = 0; i < n; i++) da[i] += s * dout[i];
}

static inline float sigmoidf(float x) { return 1.0f / (1.0f + expf(-x)); }

void lb_cpu_silu_fwd(const float *x, float *out, int64_t n)
{
    #pragma omp parallel for schedule(static) if (n > LB_CPU_PAR_MIN)
    for (int64_t i = 0; i < n; i++) out[i] = x[i] * sigmoidf(x[i]);
}

/* silu'(x) = s (1 + x (1 - s)) with s = sigmoid(x) */
static inline float silu_grad(float x)
{
    float s = sigmoidf(x);
    return s * (1.0f + x * (1.0f - s));
}

void lb_cpu_silu_bwd(const float *x, const float *dout, float *dx, int64_t n)
{
    #pragma omp parallel for schedule(static) if (n > LB_CPU_PAR_MIN)
    for (int64_t i = 0; i < n; i++) dx[i] += dout[i] * silu_grad(x[i]);
}

#define LB_SQRT_2_OVER_PI 0.7978845608028654f   /* sqrt(2/pi): the tanh form's kBeta */
#define LB_INV_SQRT_2 0.7071067811865476f
#define LB_INV_SQRT_2PI 0.3989422804014327f
#define LB_GELU_KAPPA 0.044715f

void lb_cpu_gelu_fwd(const float *x, float *out, int64_t n, bool tanh_form)
{
    #pragma omp parallel for schedule(static) if (n > LB_CPU_PAR_MIN)
    for (int64_t i = 0; i < n; i++) {
        float v = x[i];
        if (tanh_form) {
            float inner = LB_SQRT_2_OVER_PI * (v + LB_GELU_KAPPA * v * v * v);
            out[i] = 0.5f * v * (1.0f + tanhf(inner));
        } else {
            out[i] = 0.5f * v * (1.0f + erff(v * LB_INV_SQRT_2));
        }
    }
}

void lb_cpu_gelu_bwd(const float *x, const float *dout, float *dx, int64_t n, bool tanh_form)
{
    #pragma omp parallel for schedule(static) if (n > LB_CPU_PAR_MIN)
    for (int64_t i = 0; i < n; i++) {
        float v = x[i], g;
        if (tanh_form) {
            float inner = LB_SQRT_2_OVER_PI * (v + LB_GELU_KAPPA * v * v * v);
            float t = tanhf(inner);
            float dinner = LB_SQRT_2_OVER_PI * (1.0f + 3.0f * LB_GELU_KAPPA * v * v);
            g = 0.5f * (1.0f + t) + 0.5f * v * (1.0f - t * t) * dinner;
        } else {
            g = 0.5f * (1.0f + erff(v * LB_INV_SQRT_2)) + v * LB_INV_SQRT_2PI * expf(-0.5f * v * v);
        }
        dx[i] += dout[i] * g;
    }
}

void lb_cpu_swiglu_fwd(const float *gate, const float *up, float *out, int64_t n)
{
    #pragma omp parallel for schedule(static) if (n > LB_CPU_PAR_MIN)
    for (int64_t i = 0; i < n; i++) out[i] = gate[i] * sigmoidf(gate[i]) * up[i];
}

void lb_cpu_swiglu_bwd(const float *gate, const float *up, const float *dout,
                       float *dgate, float *dup, int64_t n)
{
    #pragma omp parallel for schedule(static) if (n > LB_CPU_PAR_MIN)
    for (int64_t i = 0; i < n; i++) {
        if (dgate) dgate[i] += dout[i] * up[i] * silu_grad(gate[i]);
        if (dup) dup[i] += dout[i] * gate[i] * sigmoidf(gate[i]);
    }
}

float lb_cpu_sum_fwd(const float *x, int64_t n)
{
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) s += x[i];
    return (float)s;
}

void lb_cpu_sum_bwd(float dout, float *dx, int64_t n)
{
    #pragma omp parallel for schedule(static) if (n > LB_CPU_PAR_MIN)
    for (int64_t i = 0; i < n; i++) dx[i] += dout;
}
