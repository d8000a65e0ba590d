/* softmax.c — stable softmax over the last dim, forward and backward.
 *
 * Not here: the softmax inside attention (attention.c) and the log-softmax
 * fused into the loss (loss.c).
 */
#include <math.h>

#include "kernels/cpu/kernels.h"

void lb_cpu_softmax_fwd(const float *x, float *out, int64_t rows, int64_t C)
{
    #pragma omp parallel for schedule(static) if (rows * C > LB_CPU_PAR_MIN)
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * C;   // (C)
        float *yr = out + r * C;       // (C)
        float mx = -INFINITY;
        for (int64_t c = 0; c < C; c++) mx = xr[c] > mx ? xr[c] : mx;
        double s = 0.0;
        for (int64_t c = 0; c < C; c++) {
            yr[c] = expf(xr[c] - mx);
            s += yr[c];
        }
        float inv = (float)(1.0 / s);
        for (int64_t c = 0; c < C; c++) yr[c] *= inv;
    }
}

void lb_cpu_softmax_bwd(const float *y, const float *dy, float *dx, int64_t rows, int64_t C)
{
    #pragma omp parallel for schedule(static) if (rows * C > LB_CPU_PAR_MIN)
    for (int64_t r = 0; r < rows; r++) {
        const float *yr = y + r * C, *gr = dy + r * C;
        double dot = 0.0;
        for (int64_t c = 0; c < C; c++) dot += (double)yr[c] * gr[c];
        float d = (float)dot;
        for (int64_t c = 0; c < C; c++) dx[r * C + c] += yr[c] * (gr[c] - d);
    }
}
