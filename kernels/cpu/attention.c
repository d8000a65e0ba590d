/* attention.c — causal grouped-query attention, forward and backward.
 *
 * Per (batch, query head) and per block of LB_ATTN_BQ queries, the score
 * and value products are GEMMs (cblas_sgemm, threaded by OpenBLAS) over the
 * keys the block can see, reading q, k, v in place through their leading
 * dimensions; blocking the queries skips most of the masked upper triangle.
 * The causal softmax in between runs on the calling thread: an OpenMP
 * region between two OpenBLAS calls makes the two thread pools fight over
 * the cores (measured 10-20x slower on 2 cores), and the softmax is a small
 * part of the work. The backward reads the saved probabilities
 * (B, nh, T, S), which is affordable on the CPU; a flash-style recompute
 * belongs to the CUDA side. Not here: the KV cache, RoPE, the head
 * projections (layers/).
 */
#include <cblas.h>
#include <math.h>

#include "kernels/cpu/kernels.h"

/* Queries per block: large enough for an efficient GEMM, small enough that
 * the block's last query sees few more keys than its first. */
#define LB_ATTN_BQ 128

/* gemm: c = alpha * op(a) @ op(b) + beta * c, row-major with explicit
 * leading dims (the heads of q, k, v are strided rows of their tensors). */
static void gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha,
                 const float *a, int64_t lda, const float *b, int64_t ldb, float beta,
                 float *c, int64_t ldc)
{
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                (int)M, (int)N, (int)K, alpha, a, (int)lda, b, (int)ldb, beta, c, (int)ldc);
}

/* causal_softmax: rows i < bq of p (leading dim ldp) hold scaled scores;
 * row i sees keys 0 .. first + i. Each row becomes its softmax over those
 * keys and 0 from there up to column `width`. */
static void causal_softmax(float *p, int64_t ldp, int64_t bq, int64_t first, int64_t width)
{
    for (int64_t i = 0; i < bq; i++) {
        float *r = p + i * ldp;   // (width)
        int64_t n = first + i + 1;
        float mx = -INFINITY;
        for (int64_t s = 0; s < n; s++) mx = r[s] > mx ? r[s] : mx;
        double sum = 0.0;
        for (int64_t s = 0; s < n; s++) {
            r[s] = expf(r[s] - mx);
            sum += r[s];
        }
        float inv = (float)(1.0 / sum);
        for (int64_t s = 0; s < n; s++) r[s] *= inv;
        for (int64_t s = n; s < width; s++) r[s] = 0.0f;
    }
}

int64_t lb_cpu_attention_scratch_floats(int64_t S)
{
    return LB_ATTN_BQ * S;
}

void lb_cpu_attention_fwd(const float *q, const float *k, const float *v, float *out,
                          float *probs, float *scratch,
                          int64_t B, int64_t T, int64_t S, int64_t nh, int64_t nkv,
                          int64_t hd, int64_t q_pos0)
{
    int64_t group = nh / nkv, ldq = nh * hd, ldk = nkv * hd;
    float scale = 1.0f / sqrtf((float)hd);
    for (int64_t b = 0; b < B; b++) {
        for (int64_t h = 0; h < nh; h++) {
            const float *qh = q + b * T * ldq + h * hd;                // (T, hd), ld nh*hd
            const float *kh = k + b * S * ldk + (h / group) * hd;      // (S, hd), ld nkv*hd
            const float *vh = v + b * S * ldk + (h / group) * hd;      // (S, hd), ld nkv*hd
            float *oh = out + b * T * ldq + h * hd;                    // (T, hd), ld nh*hd
            for (int64_t t0 = 0; t0 < T; t0 += LB_ATTN_BQ) {
                int64_t bq = T - t0 < LB_ATTN_BQ ? T - t0 : LB_ATTN_BQ;
                int64_t nk = q_pos0 + t0 + bq;   /* keys the block's last query sees */
                float *p = probs ? probs + ((b * nh + h) * T + t0) * S : scratch;   // (bq, S)
                gemm(false, true, bq, nk, hd, scale, qh + t0 * ldq, ldq, kh, ldk, 0.0f, p, S);
                causal_softmax(p, S, bq, q_pos0 + t0, probs ? S : nk);
                gemm(false, false, bq, hd, nk, 1.0f, p, S, vh, ldk, 0.0f, oh + t0 * ldq, ldq);
            }
        }
    }
}

/* Per block, with P the probabilities and dO the block's output grad:
 *   dP = dO @ v^T,  dS = P * (dP - rowsum(P * dP)) * scale,
 *   dq += dS @ k,  dk += dS^T @ q,  dv += P^T @ dO.
 * Heads run one after another, so the query heads of a group add into the
 * same dk, dv rows without racing. */
void lb_cpu_attention_bwd(const float *q, const float *k, const float *v,
                          const float *probs, const float *dout, float *scratch,
                          float *dq, float *dk, float *dv,
                          int64_t B, int64_t T, int64_t S, int64_t nh, int64_t nkv,
                          int64_t hd, int64_t q_pos0)
{
    int64_t group = nh / nkv, ldq = nh * hd, ldk = nkv * hd;
    float scale = 1.0f / sqrtf((float)hd);
    for (int64_t b = 0; b < B; b++) {
        for (int64_t h = 0; h < nh; h++) {
            int64_t qo = b * T * ldq + h * hd, ko = b * S * ldk + (h / group) * hd;
            for (int64_t t0 = 0; t0 < T; t0 += LB_ATTN_BQ) {
                int64_t bq = T - t0 < LB_ATTN_BQ ? T - t0 : LB_ATTN_BQ;
                int64_t nk = q_pos0 + t0 + bq;
                const float *p = probs + ((b * nh + h) * T + t0) * S;   // (bq, S)
                const float *dob = dout + qo + t0 * ldq;               // (bq, hd), ld nh*hd
                float *ds = scratch;                                   // (bq, S)
                gemm(false, true, bq, nk, hd, 1.0f, dob, ldq, v + ko, ldk, 0.0f, ds, S);
                for (int64_t i = 0; i < bq; i++) {
                    const float *pr = p + i * S;
                    float *dr = ds + i * S;
                    int64_t n = q_pos0 + t0 + i + 1;
                    double d = 0.0;
                    for (int64_t s = 0; s < n; s++) d += (double)pr[s] * dr[s];
                    float df = (float)d;
                    for (int64_t s = 0; s < n; s++) dr[s] = pr[s] * (dr[s] - df) * scale;
                    for (int64_t s = n; s < nk; s++) dr[s] = 0.0f;
                }
                if (dq) gemm(false, false, bq, hd, nk, 1.0f, ds, S, k + ko, ldk, 1.0f, dq + qo + t0 * ldq, ldq);
                if (dk) gemm(true, false, nk, hd, bq, 1.0f, ds, S, q + qo + t0 * ldq, ldq, 1.0f, dk + ko, ldk);
                if (dv) gemm(true, false, nk, hd, bq, 1.0f, p, S, dob, ldq, 1.0f, dv + ko, ldk);
            }
        }
    }
}
