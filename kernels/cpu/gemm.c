/* gemm.c — matrix products on the CPU through OpenBLAS (cblas_sgemm).
 *
 * The general product (with either operand transposed) and nn.Linear's
 * x @ W^T + b, forward and backward. Not here: batching over leading dims
 * (the op loops) and any quantized GEMM (quant/).
 */
#include <cblas.h>
#include <string.h>

#include "kernels/cpu/kernels.h"

/* sgemm: c (M, N) = alpha * op(a) @ op(b) + beta * c for row-major operands
 * with their natural leading dimensions. Empty products only scale c. */
static void sgemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha,
                  const float *a, const float *b, float beta, float *c)
{
    if (M == 0 || N == 0) return;
    if (K == 0) {
        for (int64_t i = 0; i < M * N; i++) c[i] = beta == 0.0f ? 0.0f : beta * c[i];
        return;
    }
    int lda = (int)(ta ? M : K);
    int ldb = (int)(tb ? K : N);
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                (int)M, (int)N, (int)K, alpha, a, lda, b, ldb, beta, c, (int)N);
}

void lb_cpu_gemm_fwd(bool ta, bool tb, int64_t M, int64_t N, int64_t K,
                     const float *a, const float *b, float beta, float *c)
{
    sgemm(ta, tb, M, N, K, 1.0f, a, b, beta, c);
}

/* With A' = op(a) (M, K) and B' = op(b) (K, N): dA' = dc @ B'^T and
 * dB' = A'^T @ dc; each is written back in its operand's stored layout. */
void lb_cpu_gemm_bwd(bool ta, bool tb, int64_t M, int64_t N, int64_t K,
                     const float *a, const float *b, const float *dc,
                     float *da, float *db)
{
    if (da) {
        if (!ta) /* da (M, K) = dc (M, N) @ B'^T */
            sgemm(false, !tb, M, K, N, 1.0f, dc, b, 1.0f, da);
        else     /* da (K, M) = B' (K, N) @ dc^T */
            sgemm(tb, true, K, M, N, 1.0f, b, dc, 1.0f, da);
    }
    if (db) {
        if (!tb) /* db (K, N) = A'^T (K, M) @ dc */
            sgemm(!ta, false, K, N, M, 1.0f, a, dc, 1.0f, db);
        else     /* db (N, K) = dc^T (N, M) @ A' */
            sgemm(true, ta, N, K, M, 1.0f, dc, a, 1.0f, db);
    }
}

void lb_cpu_linear_fwd(const float *x, const float *w, const float *bias, float *y,
                       int64_t M, int64_t N, int64_t K)
{
    /* seed y with the bias rows, then one GEMM accumulates x @ w^T onto them
     * (the copy stays on this thread: see the note on GEMMs in kernels.h) */
    if (bias)
        for (int64_t i = 0; i < M; i++) memcpy(y + i * N, bias, (size_t)N * sizeof(float));
    sgemm(false, true, M, N, K, 1.0f, x, w, bias ? 1.0f : 0.0f, y);
}

/* Overwriting: OpenBLAS applies beta first (beta 0 clears c) and then adds
 * the product in the same order either way, so beta 0 gives the bits beta 1
 * gives on zeros; the bias sums are added to cleared zeros. */
void lb_cpu_linear_bwd(const float *x, const float *w, const float *dy,
                       float *dx, float *dw, bool dw_overwrite, float *dbias, bool db_overwrite,
                       int64_t M, int64_t N, int64_t K)
{
    if (dx) sgemm(false, false, M, K, N, 1.0f, dy, w, 1.0f, dx); /* (M, N) @ (N, K) */
    if (dw) sgemm(true, false, N, K, M, 1.0f, dy, x, dw_overwrite ? 0.0f : 1.0f, dw);  /* (N, M) @ (M, K) */
    if (dbias) {
        if (db_overwrite) memset(dbias, 0, (size_t)N * sizeof(float));
        lb_cpu_colsum_acc(dy, dbias, M, N);
    }
}
