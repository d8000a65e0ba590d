/* norm.c — RMSNorm (HF Llama) and LayerNorm (biased variance) over the last
 * dim, forward and backward.
 *
 * Row statistics are accumulated in double and rounded to fp32 once; the
 * normalised value is computed in fp32 in the order transformers uses:
 * (x * rstd) * w. Not here: the norm modules and their parameters (layers/).
 */
#include <math.h>

#include "kernels/cpu/kernels.h"

#define LB_NORM_COL_BLOCK 64    /* columns per task in the weight-grad sums */

void lb_cpu_rmsnorm_fwd(const float *x, const float *w, float *out, float *rstd,
                        int64_t rows, int64_t C, float eps)
{
    #pragma omp parallel for schedule(static) if (rows * C > LB_CPU_PAR_MIN)
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * C;   // (C)
        float *yr = out + r * C;       // (C)
        double ss = 0.0;
        for (int64_t c = 0; c < C; c++) ss += (double)xr[c] * xr[c];
        float rs = 1.0f / sqrtf((float)(ss / (double)C) + eps);
        for (int64_t c = 0; c < C; c++) yr[c] = (xr[c] * rs) * w[c];
        if (rstd) rstd[r] = rs;
    }
}

/* With xh = x * rstd and g = dout * w:
 *   dx = rstd * (g - xh * mean(g * xh)),  dw = sum over rows of dout * xh. */
void lb_cpu_rmsnorm_bwd(const float *x, const float *w, const float *rstd,
                        const float *dout, float *dx, float *dw, bool dw_overwrite,
                        int64_t rows, int64_t C)
{
    if (dx) {
        #pragma omp parallel for schedule(static) if (rows * C > LB_CPU_PAR_MIN)
        for (int64_t r = 0; r < rows; r++) {
            const float *xr = x + r * C, *dy = dout + r * C;
            float rs = rstd[r];
            double dot = 0.0;
            for (int64_t c = 0; c < C; c++) dot += (double)(dy[c] * w[c]) * (xr[c] * rs);
            float m = (float)(dot / (double)C);
            for (int64_t c = 0; c < C; c++)
                dx[r * C + c] += rs * (dy[c] * w[c] - (xr[c] * rs) * m);
        }
    }
    if (dw) {
        int64_t nblk = (C + LB_NORM_COL_BLOCK - 1) / LB_NORM_COL_BLOCK;
        #pragma omp parallel for schedule(static) if (rows * C > LB_CPU_PAR_MIN)
        for (int64_t blk = 0; blk < nblk; blk++) {
            int64_t c0 = blk * LB_NORM_COL_BLOCK;
            int64_t c1 = c0 + LB_NORM_COL_BLOCK < C ? c0 + LB_NORM_COL_BLOCK : C;
            if (dw_overwrite)
                for (int64_t c = c0; c < c1; c++) dw[c] = 0.0f;
            for (int64_t r = 0; r < rows; r++)
                for (int64_t c = c0; c < c1; c++)
                    dw[c] += dout[r * C + c] * (x[r * C + c] * rstd[r]);
        }
    }
}

void lb_cpu_layernorm_fwd(const float *x, const float *w, const float *b, float *out,
                          float *mean, float *rstd, int64_t rows, int64_t C, float eps)
{
    #pragma omp parallel for schedule(static) if (rows * C > LB_CPU_PAR_MIN)
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * C;   // (C)
        float *yr = out + r * C;       // (C)
        double s = 0.0;
        for (int64_t c = 0; c < C; c++) s += xr[c];
        double mu = s / (double)C;
        double var = 0.0;   /* two passes: no cancellation when |mean| >> std */
        for (int64_t c = 0; c < C; c++) var += (xr[c] - mu) * (xr[c] - mu);
        float m = (float)mu;
        float rs = 1.0f / sqrtf((float)(var / (double)C) + eps);
        for (int64_t c = 0; c < C; c++) {
            float v = ((xr[c] - m) * rs) * w[c];
            yr[c] = b ? v + b[c] : v;
        }
        if (mean) mean[r] = m;
        if (rstd) rstd[r] = rs;
    }
}

/* With xh = (x - mean) * rstd and g = dout * w:
 *   dx = rstd * (g - mean(g) - xh * mean(g * xh)),
 *   dw = sum over rows of dout * xh,  db = sum over rows of dout. */
void lb_cpu_layernorm_bwd(const float *x, const float *w, const float *mean,
                          const float *rstd, const float *dout, float *dx, float *dw,
                          bool dw_overwrite, float *db, bool db_overwrite, int64_t rows, int64_t C)
{
    if (dx) {
        #pragma omp parallel for schedule(static) if (rows * C > LB_CPU_PAR_MIN)
        for (int64_t r = 0; r < rows; r++) {
            const float *xr = x + r * C, *dy = dout + r * C;
            float m = mean[r], rs = rstd[r];
            double sg = 0.0, sgx = 0.0;
            for (int64_t c = 0; c < C; c++) {
                float g = dy[c] * w[c];
                sg += g;
                sgx += (double)g * ((xr[c] - m) * rs);
            }
            float mg = (float)(sg / (double)C), mgx = (float)(sgx / (double)C);
            for (int64_t c = 0; c < C; c++)
                dx[r * C + c] += rs * (dy[c] * w[c] - mg - ((xr[c] - m) * rs) * mgx);
        }
    }
    if (dw || db) {
        int64_t nblk = (C + LB_NORM_COL_BLOCK - 1) / LB_NORM_COL_BLOCK;
        #pragma omp parallel for schedule(static) if (rows * C > LB_CPU_PAR_MIN)
        for (int64_t blk = 0; blk < nblk; blk++) {
            int64_t c0 = blk * LB_NORM_COL_BLOCK;
            int64_t c1 = c0 + LB_NORM_COL_BLOCK < C ? c0 + LB_NORM_COL_BLOCK : C;
            for (int64_t c = c0; c < c1; c++) {
                if (dw && dw_overwrite) dw[c] = 0.0f;
                if (db && db_overwrite) db[c] = 0.0f;
            }
            for (int64_t r = 0; r < rows; r++) {
                for (int64_t c = c0; c < c1; c++) {
                    float dy = dout[r * C + c];
                    if (dw) dw[c] += dy * ((x[r * C + c] - mean[r]) * rstd[r]);
                    if (db) db[c] += dy;
                }
            }
        }
    }
}
