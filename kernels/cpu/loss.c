/* loss.c — cross-entropy fused with log-softmax, forward and backward.
 *
 * Rows run in parallel; each row is read twice in the forward (max, then
 * sum of exponentials) and once in the backward. Not here: the mean over
 * counted rows and the ignore bookkeeping of the op (autograd/ops_loss.c),
 * distillation losses (train/).
 */
#include <math.h>

#include "kernels/cpu/kernels.h"

void lb_cpu_cross_entropy_fwd(const float *logits, const int32_t *targets,
                              float *rowmax, float *logsum, float *nll, int64_t N, int64_t V)
{
    #pragma omp parallel for schedule(static) if (N * V > LB_CPU_PAR_MIN)
    for (int64_t i = 0; i < N; i++) {
        if (targets[i] < 0) {
            rowmax[i] = logsum[i] = nll[i] = 0.0f;
            continue;
        }
        const float *x = logits + i * V;   // (V)
        float mx = -INFINITY;
        for (int64_t j = 0; j < V; j++) mx = x[j] > mx ? x[j] : mx;
        double s = 0.0;
        for (int64_t j = 0; j < V; j++) s += expf(x[j] - mx);
        double ls = log(s);
        rowmax[i] = mx;
        logsum[i] = (float)ls;
        nll[i] = (float)((double)(mx - x[targets[i]]) + ls);
    }
}

void lb_cpu_cross_entropy_bwd(const float *logits, const int32_t *targets,
                              const float *rowmax, const float *logsum, float g,
                              float *dlogits, int64_t N, int64_t V)
{
    #pragma omp parallel for schedule(static) if (N * V > LB_CPU_PAR_MIN)
    for (int64_t i = 0; i < N; i++) {
        if (targets[i] < 0) continue;
        const float *x = logits + i * V;   // (V)
        float *dx = dlogits + i * V;       // (V)
        float mx = rowmax[i], ls = logsum[i];
        for (int64_t j = 0; j < V; j++) dx[j] += g * expf((x[j] - mx) - ls);
        dx[targets[i]] -= g;
    }
}
