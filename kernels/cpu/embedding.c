/* embedding.c — table lookup by token id and the scatter-add of its grad.
 *
 * Not here: the id range check (the op does it) and tied-embedding logic
 * (layers/).
 */
#include <string.h>

#include "kernels/cpu/kernels.h"

#define LB_EMB_COL_BLOCK 64     /* columns per task in the backward */

void lb_cpu_embedding_fwd(const float *table, const int32_t *ids, float *out,
                          int64_t n, int64_t C)
{
    #pragma omp parallel for schedule(static) if (n * C > LB_CPU_PAR_MIN)
    for (int64_t i = 0; i < n; i++)
        memcpy(out + i * C, table + (int64_t)ids[i] * C, (size_t)C * sizeof(float));
}

/* Repeated ids make rows collide, so threads split the columns instead: each
 * thread adds every row into its own strip of columns, in index order. */
void lb_cpu_embedding_bwd(const int32_t *ids, const float *dout, float *dtable,
                          int64_t n, int64_t C)
{
    int64_t nblk = (C + LB_EMB_COL_BLOCK - 1) / LB_EMB_COL_BLOCK;
    #pragma omp parallel for schedule(static) if (n * C > LB_CPU_PAR_MIN)
    for (int64_t blk = 0; blk < nblk; blk++) {
        int64_t c0 = blk * LB_EMB_COL_BLOCK;
        int64_t c1 = c0 + LB_EMB_COL_BLOCK < C ? c0 + LB_EMB_COL_BLOCK : C;
        for (int64_t i = 0; i < n; i++) {
            float *row = dtable + (int64_t)ids[i] * C;
            for (int64_t c = c0; c < c1; c++) row[c] += dout[i * C + c];
        }
    }
}
