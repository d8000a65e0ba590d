/* test_ops_loss.c — lb_cross_entropy: ignored targets, large logits,
 * nll_sum/count, no counted row; forward against a double reference,
 * backward against finite differences (small) and the closed form (large). */
#include "ops_check.h"

typedef struct ce_params {
    const int32_t *targets;
    int64_t N, V;
} ce_params;

/* mean over counted rows of (max - x[t]) + log sum exp(x - max), in double */
static void ref_ce(const void *pp, double *const *in, double *out)
{
    const ce_params *p = pp;
    double sum = 0.0;
    int64_t count = 0;
    for (int64_t i = 0; i < p->N; i++) {
        if (p->targets[i] < 0) continue;
        const double *x = in[0] + i * p->V;
        double mx = -INFINITY, s = 0.0;
        for (int64_t j = 0; j < p->V; j++) mx = fmax(mx, x[j]);
        for (int64_t j = 0; j < p->V; j++) s += exp(x[j] - mx);
        sum += (mx - x[p->targets[i]]) + log(s);
        count++;
    }
    out[0] = count ? sum / (double)count : 0.0;
}

static lb_tensor *make_targets(lb_ctx *ctx, int64_t N, const int32_t *t)
{
    lb_tensor *tg = lb_tensor_new(ctx, LB_I32, LB_SHAPE(N));
    memcpy(tg->data, t, (size_t)N * sizeof(int32_t));
    return tg;
}

static void check_ce(float lo, float hi, const char *what)
{
    lb_ctx ctx;
    opc_ctx(&ctx);
    int32_t t[7] = {3, -1, 36, 0, -100, 12, 12};   /* two ignored rows */
    lb_tensor *logits = opc_rand(&ctx, LB_SHAPE(7, 37), 1, lo, hi, true);
    lb_tensor *tg = make_targets(&ctx, 7, t);
    double nll_sum = -1.0;
    int64_t count = -1;
    lb_tensor *loss = lb_cross_entropy(&ctx, logits, tg, &nll_sum, &count);
    LB_EXPECT(loss->ndim == 0);
    LB_EXPECTF(count == 5, "count %lld, want 5", (long long)count);
    LB_EXPECTF(fabs(nll_sum / 5.0 - ((float *)loss->data)[0]) <= opc_tol(0) * nll_sum / 5.0,
               "nll_sum / count %.9g vs loss %.9g", nll_sum / 5.0, ((float *)loss->data)[0]);
    ce_params p = {.targets = t, .N = 7, .V = 37};
    /* per row: exp and a sum over V, then a mean over the rows */
    opc_case c = {.ref = ref_ce, .params = &p, .n_in = 1, .in = {logits}, .out = loss,
                  .fwd_tol = opc_tol(p.V + p.N), .bwd_tol = opc_tol(p.V + p.N)};
    opc_check(&ctx, &c, what);
    /* ignored rows get exactly nothing */
    const float *g = logits->grad->data;
    for (int64_t j = 0; j < 37; j++)
        LB_EXPECT(g[1 * 37 + j] == OPC_PRESEED && g[4 * 37 + j] == OPC_PRESEED);
    lb_ctx_free(&ctx);
}

static void test_ce(void) { check_ce(-4, 4, "cross-entropy"); }
/* logits ~1e4: exp overflows without the max shift, and lse - x[t] computed
 * as two numbers ~1e4 would lose ~1e-3 absolute */
static void test_ce_large_logits(void) { check_ce(9980, 10000, "cross-entropy, logits ~1e4"); }

/* equal logits of 1e4: the NLL is exactly log V. Forming lse = max + log
 * sum in fp32 first would round it to the ulp of 1e4 (~1e-3) and miss by
 * ~1e-4 relative. */
static void test_ce_equal_large_logits(void)
{
    lb_ctx ctx;
    opc_ctx(&ctx);
    lb_tensor *logits = lb_tensor_new(&ctx, LB_F32, LB_SHAPE(2, 37));
    for (int i = 0; i < 74; i++) ((float *)logits->data)[i] = 10000.0f;
    int32_t t[2] = {5, 36};
    float loss = ((float *)lb_cross_entropy(&ctx, logits, make_targets(&ctx, 2, t), NULL, NULL)->data)[0];
    LB_EXPECTF(fabs(loss - log(37.0)) <= opc_tol(37) * log(37.0), "loss %.9g, want log 37 = %.9g",
               loss, log(37.0));
    lb_ctx_free(&ctx);
}

static void test_ce_all_ignored(void)
{
    lb_ctx ctx;
    opc_ctx(&ctx);
    int32_t t[3] = {-1, -1, -100};
    lb_tensor *logits = opc_rand(&ctx, LB_SHAPE(3, 5), 2, -1, 1, true);
    double nll_sum = -1.0;
    int64_t count = -1;
    lb_tensor *loss = lb_cross_entropy(&ctx, logits, make_targets(&ctx, 3, t), &nll_sum, &count);
    LB_EXPECT(((float *)loss->data)[0] == 0.0f && nll_sum == 0.0 && count == 0);
    lb_backward(&ctx, loss);
    for (int i = 0; i < 15; i++) LB_EXPECT(((float *)logits->grad->data)[i] == 0.0f);
    lb_ctx_free(&ctx);
}

/* a wide vocabulary on the parallel path: loss against the reference, grad
 * against the closed form (softmax - onehot) / count, through lb_backward */
static void test_ce_wide(void)
{
    lb_ctx ctx;
    opc_ctx(&ctx);
    int64_t N = 19, V = 60013;   /* N * V above LB_CPU_PAR_MIN */
    int32_t t[19];
    for (int i = 0; i < 19; i++) t[i] = i % 4 == 1 ? -1 : (int32_t)((i * 977) % V);
    lb_tensor *logits = opc_rand(&ctx, LB_SHAPE(N, V), 3, -8, 8, true);
    lb_tensor *loss = lb_cross_entropy(&ctx, logits, make_targets(&ctx, N, t), NULL, NULL);
    ce_params p = {.targets = t, .N = N, .V = V};
    double *x = opc_widen(logits), want;
    ref_ce(&p, &x, &want);
    double err = fabs(((float *)loss->data)[0] - want) / want;
    LB_EXPECTF(err <= opc_tol(V + N), "loss rel err %.3g", err);
    lb_backward(&ctx, loss);
    double *gref = calloc((size_t)(N * V), sizeof *gref);
    int64_t count = 0;
    for (int64_t i = 0; i < N; i++) count += t[i] >= 0;
    for (int64_t i = 0; i < N; i++) {
        if (t[i] < 0) continue;
        double mx = -INFINITY, s = 0.0;
        for (int64_t j = 0; j < V; j++) mx = fmax(mx, x[i * V + j]);
        for (int64_t j = 0; j < V; j++) s += exp(x[i * V + j] - mx);
        for (int64_t j = 0; j < V; j++) gref[i * V + j] = exp(x[i * V + j] - mx) / s / (double)count;
        gref[i * V + t[i]] -= 1.0 / (double)count;
    }
    double gerr = lb_test_max_rel(logits->grad->data, gref, N * V, OPC_FLOOR * 1e-3);
    LB_EXPECTF(gerr <= opc_tol(V), "grad rel err %.3g", gerr);
    free(x);
    free(gref);
    lb_ctx_free(&ctx);
}

static void bad_target(void)
{
    lb_ctx ctx;
    opc_ctx(&ctx);
    int32_t t[2] = {0, 7};
    lb_cross_entropy(&ctx, lb_tensor_zeros(&ctx, LB_F32, LB_SHAPE(2, 7)), make_targets(&ctx, 2, t),
                     NULL, NULL);
}

static void test_target_out_of_range(void)
{
    opc_expect_abort(bad_target, "targets[1] = 7 is outside logits (2, 7)", "target >= V");
}

int main(void)
{
    LB_RUN(test_ce);
    LB_RUN(test_ce_large_logits);
    LB_RUN(test_ce_equal_large_logits);
    LB_RUN(test_ce_all_ignored);
    LB_RUN(test_ce_wide);
    LB_RUN(test_target_out_of_range);
    return lb_test_summary();
}
