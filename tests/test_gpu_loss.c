/* test_gpu_loss.c — CUDA cross-entropy (chunked over the vocabulary) and
 * softmax against the CPU fp32 ops, forward and backward.
 *
 * Cross-entropy: vocabularies 37, 4097 (one past a chunk), 32000, 50257
 * and 128256 with 1 to 5 rows, some targets ignored (-1), one case with
 * every row ignored (loss 0, grad 0), targets on the CPU and on the GPU;
 * the loss, nll_sum, count and dlogits, and the loss is bit-identical over
 * two runs. Softmax: C = 10, 384, 4099 over 1 to 33 rows.
 *
 * Tolerances (gpu_ops_check.h: relative to the largest CPU value):
 *  - loss, nll_sum: the GPU sums a row's exponentials in fp32 along ~60
 *    sequential steps (16 per thread, 8 butterfly levels, up to 32 chunk
 *    merges), each add or rescale within ~2^-23: ~60 x 2^-23 ~ 7e-6 of the
 *    logsumexp, an absolute error on each nll (the CPU sums in double).
 *    With logits in [-8, 8] the mean nll is > 1, so GL_TOL_LOSS = 4e-5
 *    relative leaves a margin of ~5.
 *  - dlogits: fp32 math, one rounding to bf16 (u = 2^-8, bf16's unit
 *    roundoff): GL_TOL_DLOGITS = 2u.
 *  - softmax forward: one rounding (u): 2u. Backward reads the bf16 y (u in
 *    y, and in the dot sum(y dy)), then rounds dx after the preseed (u):
 *    3u, GL_TOL_SOFTMAX_BWD = 4u.
 */
#include "gpu_ops_check.h"
#include "kernels/cuda/kernels.h"

#define GL_TOL_LOSS 4e-5
#define GL_TOL_DLOGITS (2.0 / 256)
#define GL_TOL_SOFTMAX_FWD (2.0 / 256)
#define GL_TOL_SOFTMAX_BWD (4.0 / 256)

typedef struct gl_side {
    lb_ctx ctx;
    lb_tensor *logits, *loss;
    double nll_sum;
    int64_t count;
} gl_side;

static void run_xent(gl_side *s, lb_device dev, lb_device tdev, int64_t N, int64_t V,
                     const float *logits, const int32_t *tg, float dloss, const float *seed)
{
    lb_ctx *ctx = &s->ctx;
    if (dev == LB_CUDA) gx_poison(ctx);
    s->logits = gx_tensor(ctx, dev, LB_BF16, logits, LB_SHAPE(N, V), true);
    lb_tensor *t = gx_ids(ctx, tdev, tg, LB_SHAPE(N));
    s->loss = lb_cross_entropy(ctx, s->logits, t, &s->nll_sum, &s->count);
    if (seed) gx_preseed(ctx, s->logits, seed);
    gx_backward(ctx, s->loss, &dloss);
}

/* ignore: every k-th row ignored (0: none; 1: all) */
static void check_xent(int64_t N, int64_t V, int ignore, bool targets_on_gpu, bool preseed,
                       uint64_t seed)
{
    char what[160];
    float *x = gx_rand(N * V, seed, -8.0f, 8.0f);
    float *sd = preseed ? gx_rand(N * V, seed + 1, -0.01f, 0.01f) : NULL;
    int32_t *tg = malloc((size_t)N * sizeof *tg);
    uint64_t st = seed * 2654435761u + 1;
    for (int64_t i = 0; i < N; i++) {
        st = st * 6364136223846793005ull + 1442695040888963407ull;
        tg[i] = (int32_t)((st >> 33) % (uint64_t)V);
        if (ignore && i % ignore == 0) tg[i] = -1;
    }
    gl_side c, g;
    gx_ctx(&c.ctx, LB_CPU);
    gx_ctx(&g.ctx, LB_CUDA);
    run_xent(&c, LB_CPU, LB_CPU, N, V, x, tg, 1.5f, sd);
    run_xent(&g, LB_CUDA, targets_on_gpu ? LB_CUDA : LB_CPU, N, V, x, tg, 1.5f, sd);
#define WHAT(part) (snprintf(what, sizeof what, "xent N %lld V %lld ignore %d%s%s: %s", \
                             (long long)N, (long long)V, ignore,                        \
                             targets_on_gpu ? " targets on gpu" : "",                    \
                             preseed ? " preseed" : "", part), what)
    LB_EXPECTF(g.count == c.count, "%s", WHAT("count"));
    gx_expect(&g.ctx, g.loss, &c.ctx, c.loss, GL_TOL_LOSS, WHAT("loss"));
    double nerr = fabs(g.nll_sum - c.nll_sum) / fmax(fabs(c.nll_sum), GX_FLOOR);
    LB_EXPECTF(nerr <= GL_TOL_LOSS, "%s %.3g", WHAT("nll_sum"), nerr);
    /* with no counted row both grads stay zero (or the preseed) */
    gx_expect(&g.ctx, g.logits->grad, &c.ctx, c.logits->grad, GL_TOL_DLOGITS, WHAT("dlogits"));
#undef WHAT
    lb_ctx_free(&c.ctx);
    lb_ctx_free(&g.ctx);
    free(x);
    free(sd);
    free(tg);
}

static void test_cross_entropy(void)
{
    if (!gx_have_gpu()) return;
    check_xent(3, 37, 0, false, false, 1);
    check_xent(4, 4097, 2, true, false, 2);
    check_xent(5, 32000, 3, false, true, 3);
    check_xent(2, 50257, 0, true, true, 4);
    check_xent(4, 128256, 4, false, false, 5);
    check_xent(1, 128256, 0, true, false, 6);
    check_xent(3, 50257, 1, false, false, 7);   /* every row ignored */
    check_xent(3, 50257, 1, false, true, 8);
}

/* the loss is summed in a fixed order on the device: two runs, same bits */
static void test_cross_entropy_deterministic(void)
{
    if (!gx_have_gpu()) return;
    int64_t N = 64, V = 50257;
    float *x = gx_rand(N * V, 11, -8, 8);
    int32_t *tg = malloc((size_t)N * sizeof *tg);
    for (int64_t i = 0; i < N; i++) tg[i] = (int32_t)((i * 7919) % V);
    float loss[2];
    double sum[2];
    lb_ctx ctx;
    gx_ctx(&ctx, LB_CUDA);
    for (int k = 0; k < 2; k++) {
        lb_tensor *l = gx_tensor(&ctx, LB_CUDA, LB_BF16, x, LB_SHAPE(N, V), false);
        lb_tensor *t = gx_ids(&ctx, LB_CPU, tg, LB_SHAPE(N));
        lb_tensor *out = lb_cross_entropy(&ctx, l, t, &sum[k], NULL);
        lb_tensor_copy_to_host(&ctx, out, &loss[k]);
        lb_ctx_step_end(&ctx);
    }
    LB_EXPECTF(memcmp(&loss[0], &loss[1], sizeof(float)) == 0 && sum[0] == sum[1],
               "loss differs between runs: %.9g %.9g", loss[0], loss[1]);
    lb_ctx_free(&ctx);
    free(x);
    free(tg);
}

static void check_softmax(int64_t rows, int64_t C, uint64_t seed)
{
    char what[96];
    float *x = gx_rand(rows * C, seed, -4, 4), *dy = gx_rand(rows * C, seed + 1, -1, 1);
    float *sd = gx_rand(rows * C, seed + 2, -0.1f, 0.1f);
    lb_ctx c, g;
    gx_ctx(&c, LB_CPU);
    gx_ctx(&g, LB_CUDA);
    gx_poison(&g);
    lb_tensor *xc = gx_tensor(&c, LB_CPU, LB_F32, x, LB_SHAPE(rows, C), true);
    lb_tensor *xg = gx_tensor(&g, LB_CUDA, LB_BF16, x, LB_SHAPE(rows, C), true);
    lb_tensor *yc = lb_softmax(&c, xc), *yg = lb_softmax(&g, xg);
    gx_preseed(&c, xc, sd);
    gx_preseed(&g, xg, sd);
    gx_backward(&c, yc, dy);
    gx_backward(&g, yg, dy);
    snprintf(what, sizeof what, "softmax rows %lld C %lld: y", (long long)rows, (long long)C);
    gx_expect(&g, yg, &c, yc, GL_TOL_SOFTMAX_FWD, what);
    snprintf(what, sizeof what, "softmax rows %lld C %lld: dx", (long long)rows, (long long)C);
    gx_expect(&g, xg->grad, &c, xc->grad, GL_TOL_SOFTMAX_BWD, what);
    lb_ctx_free(&c);
    lb_ctx_free(&g);
    free(x);
    free(dy);
    free(sd);
}

static void test_softmax(void)
{
    if (!gx_have_gpu()) return;
    const int64_t Cs[] = {10, 384, 4099}, rows[] = {1, 33};
    uint64_t seed = 50;
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 2; j++) check_softmax(rows[j], Cs[i], seed += 3);
}

typedef struct xent_bench {
    lb_tensor *logits, *dlogits;
    int32_t *tg;
    float *rowmax, *logsum, *nll, *loss, *dloss;
    int64_t N, V;
} xent_bench;

static void run_xent_fwd(lb_ctx *ctx, void *p)
{
    xent_bench *b = p;
    lb_cuda_cross_entropy_fwd(ctx, b->logits->data, b->tg, b->rowmax, b->logsum, b->nll, b->N,
                              b->loss, NULL, b->N, b->V, LB_BF16);
}

static void run_xent_bwd(lb_ctx *ctx, void *p)
{
    xent_bench *b = p;
    lb_cuda_cross_entropy_bwd(ctx, b->logits->data, b->tg, b->rowmax, b->logsum, b->dloss, b->N,
                              b->dlogits->data, b->N, b->V, false, LB_BF16);
}

/* LOWBIT_BENCH=1: cross-entropy at N 2048, V 128256 bf16 against the bytes
 * it must move (forward: read the logits; backward: read them, write
 * dlogits). Seen on an H100: fwd 647 us (812 GB/s), bwd 629 us
 * (1670 GB/s). The forward's blocks each take only 16 logits per thread
 * and pay a 10-level merge with expf per level: larger chunks per block and
 * 16-byte loads are the next step. */
static void test_cross_entropy_bench(void)
{
    if (!gx_bench_wanted()) return;
    int64_t N = 2048, V = 128256;
    float *x = gx_rand(N * V, 1, -8, 8);
    int32_t *tg = malloc((size_t)N * sizeof *tg);
    for (int64_t i = 0; i < N; i++) tg[i] = (int32_t)((i * 7919) % V);
    lb_ctx g;
    gx_ctx(&g, LB_CUDA);
    xent_bench b = {.N = N, .V = V};
    b.logits = gx_tensor(&g, LB_CUDA, LB_BF16, x, LB_SHAPE(N, V), false);
    b.dlogits = lb_tensor_new_dev(&g, LB_CUDA, LB_BF16, LB_SHAPE(N, V));
    b.tg = lb_cuda_step_alloc(&g, (size_t)N * sizeof(int32_t));
    lb_cuda_memcpy_h2d(&g, b.tg, tg, (size_t)N * sizeof(int32_t));
    float **f[] = {&b.rowmax, &b.logsum, &b.nll};
    for (int i = 0; i < 3; i++) *f[i] = lb_cuda_step_alloc(&g, (size_t)N * sizeof(float));
    b.loss = lb_cuda_step_alloc(&g, sizeof(float));
    b.dloss = lb_cuda_step_alloc(&g, sizeof(float));
    float one = 1.0f;
    lb_cuda_memcpy_h2d(&g, b.dloss, &one, sizeof one);
    double gb = (double)N * (double)V * 2.0 / 1e9;   /* one pass over the bf16 logits */
    double tf = gx_bench_us(&g, run_xent_fwd, &b, 10), tb = gx_bench_us(&g, run_xent_bwd, &b, 10);
    printf("    cross-entropy N %lld V %lld bf16: fwd %.1f us (%.0f GB/s), bwd %.1f us (%.0f GB/s)\n",
           (long long)N, (long long)V, tf, gb / (tf * 1e-6), tb, 2 * gb / (tb * 1e-6));
    lb_ctx_free(&g);
    free(x);
    free(tg);
}

int main(void)
{
    LB_RUN(test_cross_entropy);
    LB_RUN(test_cross_entropy_deterministic);
    LB_RUN(test_softmax);
    LB_RUN(test_cross_entropy_bench);
    return lb_test_summary();
}
