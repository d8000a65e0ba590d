/* view.c — the copying views: transpose, slice and concat, forward and
 * backward.
 *
 * Every tensor stays contiguous, so these ops copy. reshape needs no kernel
 * (it shares data; its backward is lb_cpu_acc). Not here: strided views.
 */
#include <string.h>

#include "kernels/cpu/kernels.h"

/* permute_copy: walks x (shape[4]) in order and writes each element to its
 * place in y, the transpose of x over (d0, d1); acc selects += over =. */
static void permute_copy(const float *x, float *y, const int64_t shape[4], int d0, int d1, bool acc)
{
    int64_t ys[4] = {shape[0], shape[1], shape[2], shape[3]};   /* y's shape */
    ys[d0] = shape[d1];
    ys[d1] = shape[d0];
    int64_t ystride[4];   /* y's strides, then swapped so they index by x's dims */
    ystride[3] = 1;
    for (int i = 2; i >= 0; i--) ystride[i] = ystride[i + 1] * ys[i + 1];
    int64_t st = ystride[d0];
    ystride[d0] = ystride[d1];
    ystride[d1] = st;
    int64_t n01 = shape[0] * shape[1];
    #pragma omp parallel for schedule(static) if (n01 * shape[2] * shape[3] > LB_CPU_PAR_MIN)
    for (int64_t ij = 0; ij < n01; ij++) {
        int64_t i0 = ij / shape[1], i1 = ij % shape[1];
        const float *xr = x + ij * shape[2] * shape[3];
        for (int64_t i2 = 0; i2 < shape[2]; i2++) {
            for (int64_t i3 = 0; i3 < shape[3]; i3++) {
                int64_t yo = i0 * ystride[0] + i1 * ystride[1] + i2 * ystride[2] + i3 * ystride[3];
                float val = xr[i2 * shape[3] + i3];
                if (acc) y[yo] += val;
                else y[yo] = val;
            }
        }
    }
}

void lb_cpu_transpose_fwd(const float *x, float *out, const int64_t shape[4], int d0, int d1)
{
    permute_copy(x, out, shape, d0, d1, false);
}

void lb_cpu_transpose_bwd(const float *dout, float *dx, const int64_t shape[4], int d0, int d1)
{
    int64_t os[4] = {shape[0], shape[1], shape[2], shape[3]};   /* dout's shape */
    os[d0] = shape[d1];
    os[d1] = shape[d0];
    permute_copy(dout, dx, os, d0, d1, true);
}

/* block_copy: for each of `outer` blocks, len * inner floats from src (block
 * of sD * inner, offset sstart * inner) to dst (block of dD * inner, offset
 * dstart * inner); acc selects += over =. */
static void block_copy(const float *src, int64_t sD, int64_t sstart, float *dst, int64_t dD,
                       int64_t dstart, int64_t outer, int64_t len, int64_t inner, bool acc)
{
    int64_t n = len * inner;
    #pragma omp parallel for schedule(static) if (outer * n > LB_CPU_PAR_MIN)
    for (int64_t o = 0; o < outer; o++) {
        const float *s = src + (o * sD + sstart) * inner;
        float *d = dst + (o * dD + dstart) * inner;
        if (acc) {
            for (int64_t i = 0; i < n; i++) d[i] += s[i];
        } else {
            memcpy(d, s, (size_t)n * sizeof(float));
        }
    }
}

void lb_cpu_slice_fwd(const float *x, float *out, int64_t outer, int64_t D, int64_t inner,
                      int64_t start, int64_t len)
{
    block_copy(x, D, start, out, len, 0, outer, len, inner, false);
}

void lb_cpu_slice_bwd(const float *dout, float *dx, int64_t outer, int64_t D, int64_t inner,
                      int64_t start, int64_t len)
{
    block_copy(dout, len, 0, dx, D, start, outer, len, inner, true);
}

void lb_cpu_concat_fwd(const float *a, const float *b, float *out, int64_t outer,
                       int64_t Da, int64_t Db, int64_t inner)
{
    block_copy(a, Da, 0, out, Da + Db, 0, outer, Da, inner, false);
    block_copy(b, Db, 0, out, Da + Db, Da, outer, Db, inner, false);
}

void lb_cpu_concat_bwd(const float *dout, float *da, float *db, int64_t outer,
                       int64_t Da, int64_t Db, int64_t inner)
{
    if (da) block_copy(dout, Da + Db, 0, da, Da, 0, outer, Da, inner, true);
    if (db) block_copy(dout, Da + Db, Da, db, Db, 0, outer, Db, inner, true);
}
