/* test_gpu_packed_gptq.c — the CUDA GPTQ decoder (kernels/cuda/packed_gptq.cu
 * through lb_packed_dequant_rows) against the CPU specification
 * (quant/packed_gptq.c): every bit width (2, 3, 4, 8), v1 and v2 zeros,
 * groups of 32 / 64 / one group, sequential and act-order g_idx (a random
 * permutation), whole matrices and row ranges. f32 output must equal the
 * CPU's bit for bit; bf16 output must equal the CPU value rounded once to
 * bf16 (no tolerance: the value is one f32 product, rounded once). The
 * packed words are random, so every code and zero field occurs, including
 * v1 fields that wrap (stored 2^b - 1, true zero 0). Skipped without a GPU. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpu_check.h"
#include "harness.h"
#include "quant/gptq.h"
#include "quant/packed.h"

static uint64_t g_rng = 0x243f6a8885a308d3ull;

static uint32_t rnd(void)
{
    g_rng ^= g_rng << 13, g_rng ^= g_rng >> 7, g_rng ^= g_rng << 17;
    return (uint32_t)(g_rng >> 16);
}

/* make: a CPU GPTQ matrix (N, K) with random words, scales in [2^-10, 2^-4)
 * and (act_order) g_idx from a random permutation. */
static lb_packed *make(int bits, int64_t N, int64_t K, int gs, bool act_order, bool v2)
{
    lb_packed *p = calloc(1, sizeof *p);
    int64_t g = gs > 0 ? gs : K, G = K / g;
    p->kind = LB_PACKED_GPTQ;
    p->rows = N;
    p->cols = K;
    p->bits = bits;
    p->group_size = gs;
    p->zero_offset = v2 ? 0 : 1;
    p->qweight = lb_tensor_alloc(LB_I32, 2, (int64_t[]){K * bits / 32, N});
    p->qzeros = lb_tensor_alloc(LB_I32, 2, (int64_t[]){G, N * bits / 32});
    p->scales = lb_tensor_alloc(LB_F16, 2, (int64_t[]){G, N});
    for (int64_t i = 0; i < K * bits / 32 * N; i++) ((uint32_t *)p->qweight->data)[i] = rnd();
    for (int64_t i = 0; i < G * N * bits / 32; i++) ((uint32_t *)p->qzeros->data)[i] = rnd();
    for (int64_t i = 0; i < G * N; i++) {
        float s = (float)(1.0 / 1024.0) * (1.0f + (float)(rnd() % 60000) / 1000.0f);
        lb_convert_from_f32((uint16_t *)p->scales->data + i, &s, LB_F16, 1);
    }
    if (act_order) {
        int64_t *perm = malloc((size_t)K * sizeof *perm);
        for (int64_t k = 0; k < K; k++) perm[k] = k;
        for (int64_t k = K - 1; k > 0; k--) {
            int64_t j = rnd() % (k + 1), t = perm[k];
            perm[k] = perm[j];
            perm[j] = t;
        }
        p->g_idx = lb_tensor_alloc(LB_I32, 1, (int64_t[]){K});
        for (int64_t k = 0; k < K; k++) ((int32_t *)p->g_idx->data)[perm[k]] = (int32_t)(k / g);
        free(perm);
    }
    return p;
}

static void check_one(lb_ctx *gctx, int bits, int gs, bool act_order, bool v2)
{
    const int64_t N = 96, K = 256;
    lb_packed *p = make(bits, N, K, gs, act_order, v2);
    float *ref = malloc((size_t)(N * K) * sizeof *ref), *got = malloc((size_t)(N * K) * sizeof *got);
    lb_packed_gptq_decode(p, 0, N, ref);
    lb_status st = lb_packed_to(gctx, p, LB_CUDA);
    LB_EXPECTF(!lb_failed(&st), "%s", st.msg);
    const struct {
        int64_t r0, n;
    } ranges[] = {{0, N}, {37, 23}, {N - 1, 1}};
    for (int ri = 0; ri < 3; ri++) {
        int64_t r0 = ranges[ri].r0, n = ranges[ri].n;
        lb_tensor *f = lb_packed_dequant_rows(gctx, p, r0, n, LB_F32);
        lb_tensor_copy_to_host(gctx, f, got);
        LB_EXPECTF(!memcmp(got, ref + r0 * K, (size_t)(n * K) * sizeof *got),
                   "int%d gs %d%s%s rows [%lld, +%lld): f32 decode differs from the CPU", bits, gs,
                   act_order ? " act-order" : "", v2 ? " v2" : " v1", (long long)r0, (long long)n);
        lb_tensor *b = lb_packed_dequant_rows(gctx, p, r0, n, LB_BF16);
        lb_tensor_copy_to_host(gctx, b, got);
        for (int64_t i = 0; i < n * K; i++) {
            uint16_t h;
            float want;
            lb_convert_from_f32(&h, &ref[r0 * K + i], LB_BF16, 1);
            lb_convert_to_f32(&want, &h, LB_BF16, 1);
            if (memcmp(&want, &got[i], sizeof want)) {
                LB_EXPECTF(false, "int%d gs %d%s%s: bf16 element %lld is %g, expected bf16(%g) = %g", bits, gs,
                           act_order ? " act-order" : "", v2 ? " v2" : " v1", (long long)i, (double)got[i],
                           (double)ref[r0 * K + i], (double)want);
                break;
            }
        }
        lb_ctx_step_end(gctx);
    }
    lb_packed_free(p);
    free(ref);
    free(got);
}

static void test_decode(void)
{
    lb_ctx g;
    lb_status st = lb_ctx_init(&g, LB_CUDA);
    LB_EXPECTF(!lb_failed(&st), "%s", st.msg);
    if (lb_failed(&st)) return;
    const int bits[] = {2, 3, 4, 8}, groups[] = {32, 64, -1};
    for (int b = 0; b < 4; b++)
        for (int gi = 0; gi < 3; gi++)
            for (int ao = 0; ao < 2; ao++)
                for (int v2 = 0; v2 < 2; v2++) check_one(&g, bits[b], groups[gi], ao, v2);
    lb_ctx_free(&g);
}

int main(void)
{
    GPC_SKIP_WITHOUT_GPU();
    LB_RUN(test_decode);
    return lb_test_summary();
}
