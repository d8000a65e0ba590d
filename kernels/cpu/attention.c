/* attention.c — causal grouped-query attention, forward and backward.
 *
 * One query row at a time: scores against the visible keys, a stable
 * softmax, then the weighted sum of values. Rows are independent, so the
 * forward runs in parallel over (b, h, t) and its result does not depend on
 * the thread count. The backward recomputes nothing: it reads the saved
 * probabilities (B, nh, T, S), which is affordable on the CPU; a flash-style
 * recompute belongs to the CUDA side. Not here: the KV cache, RoPE, the head
 * projections (layers/).
 */
#include <math.h>
#include <omp.h>

#include "kernels/cpu/kernels.h"

static inline float dot(const float *a, const float *b, int64_t n)
{
    float s = 0.0f;
    #pragma omp simd reduction(+ : s)
    for (int64_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

static inline void axpy(float alpha, const float *x, float *y, int64_t n)
{
    #pragma omp simd
    for (int64_t i = 0; i < n; i++) y[i] += alpha * x[i];
}

int64_t lb_cpu_attention_scratch_floats(int64_t S)
{
    return (int64_t)omp_get_max_threads() * S;
}

void lb_cpu_attention_fwd(const float *q, const float *k, const float *v, float *out,
                          float *probs, float *scratch,
                          int64_t B, int64_t T, int64_t S, int64_t nh, int64_t nkv,
                          int64_t hd, int64_t q_pos0)
{
    int64_t group = nh / nkv;
    float scale = 1.0f / sqrtf((float)hd);
    #pragma omp parallel for collapse(3) schedule(dynamic, 4)
    for (int64_t b = 0; b < B; b++) {
        for (int64_t h = 0; h < nh; h++) {
            for (int64_t t = 0; t < T; t++) {
                int64_t kvh = h / group;
                int64_t nk = q_pos0 + t + 1;                        /* visible keys */
                const float *qr = q + ((b * T + t) * nh + h) * hd;  // (hd)
                float *orow = out + ((b * T + t) * nh + h) * hd;    // (hd)
                float *p = probs ? probs + ((b * nh + h) * T + t) * S    // (S)
                                 : scratch + (int64_t)omp_get_thread_num() * S;
                float mx = -INFINITY;
                for (int64_t s = 0; s < nk; s++) {
                    p[s] = dot(qr, k + ((b * S + s) * nkv + kvh) * hd, hd) * scale;
                    mx = p[s] > mx ? p[s] : mx;
                }
                double sum = 0.0;
                for (int64_t s = 0; s < nk; s++) {
                    p[s] = expf(p[s] - mx);
                    sum += p[s];
                }
                float inv = (float)(1.0 / sum);
                for (int64_t i = 0; i < hd; i++) orow[i] = 0.0f;
                for (int64_t s = 0; s < nk; s++) {
                    p[s] *= inv;
                    axpy(p[s], v + ((b * S + s) * nkv + kvh) * hd, orow, hd);
                }
                if (probs)
                    for (int64_t s = nk; s < S; s++) p[s] = 0.0f;
            }
        }
    }
}

/* Backward in two passes so that no two threads write the same row:
 *   1. per query row (b, h, t): dP = dO . v, dS = P * (dP - sum(P * dP)) *
 *      scale into dscores, and dq += dS @ k;
 *   2. per key row (b, kv head, s): dk += dS^T @ q and dv += P^T @ dO,
 *      summed over the query heads of the group and the queries that see s. */
void lb_cpu_attention_bwd(const float *q, const float *k, const float *v,
                          const float *probs, const float *dout, float *dscores,
                          float *dq, float *dk, float *dv,
                          int64_t B, int64_t T, int64_t S, int64_t nh, int64_t nkv,
                          int64_t hd, int64_t q_pos0)
{
    int64_t group = nh / nkv;
    float scale = 1.0f / sqrtf((float)hd);
    #pragma omp parallel for collapse(3) schedule(dynamic, 4)
    for (int64_t b = 0; b < B; b++) {
        for (int64_t h = 0; h < nh; h++) {
            for (int64_t t = 0; t < T; t++) {
                int64_t kvh = h / group;
                int64_t nk = q_pos0 + t + 1;
                const float *p = probs + ((b * nh + h) * T + t) * S;   // (S)
                float *ds = dscores + ((b * nh + h) * T + t) * S;      // (S)
                const float *dor = dout + ((b * T + t) * nh + h) * hd; // (hd)
                double d = 0.0;
                for (int64_t s = 0; s < nk; s++) {
                    ds[s] = dot(dor, v + ((b * S + s) * nkv + kvh) * hd, hd);
                    d += (double)p[s] * ds[s];
                }
                float df = (float)d;
                for (int64_t s = 0; s < nk; s++) ds[s] = p[s] * (ds[s] - df) * scale;
                if (dq) {
                    float *dqr = dq + ((b * T + t) * nh + h) * hd;
                    for (int64_t s = 0; s < nk; s++)
                        axpy(ds[s], k + ((b * S + s) * nkv + kvh) * hd, dqr, hd);
                }
            }
        }
    }
    if (!dk && !dv) return;
    #pragma omp parallel for collapse(3) schedule(dynamic, 4)
    for (int64_t b = 0; b < B; b++) {
        for (int64_t kvh = 0; kvh < nkv; kvh++) {
            for (int64_t s = 0; s < S; s++) {
                int64_t t0 = s > q_pos0 ? s - q_pos0 : 0;   /* first query that sees s */
                float *dkr = dk ? dk + ((b * S + s) * nkv + kvh) * hd : NULL;
                float *dvr = dv ? dv + ((b * S + s) * nkv + kvh) * hd : NULL;
                for (int64_t h = kvh * group; h < (kvh + 1) * group; h++) {
                    for (int64_t t = t0; t < T; t++) {
                        int64_t row = ((b * nh + h) * T + t) * S + s;
                        int64_t qo = ((b * T + t) * nh + h) * hd;
                        if (dkr) axpy(dscores[row], q + qo, dkr, hd);
                        if (dvr) axpy(probs[row], dout + qo, dvr, hd);
                    }
                }
            }
        }
    }
}
