/* test_ops_embedding.c — lb_embedding: the lookup, and the grad to the
 * table with repeated ids (summed) against finite differences. */
#include "ops_check.h"

typedef struct emb_params {
    const int32_t *ids;
    int64_t n, C;
} emb_params;

static void ref_embedding(const void *pp, double *const *in, double *out)
{
    const emb_params *p = pp;
    for (int64_t i = 0; i < p->n; i++)
        for (int64_t c = 0; c < p->C; c++) out[i * p->C + c] = in[0][p->ids[i] * p->C + c];
}

static lb_tensor *make_ids(lb_ctx *ctx, int64_t B, int64_t T, int64_t V, uint64_t seed)
{
    lb_tensor *ids = lb_tensor_new(ctx, LB_I32, LB_SHAPE(B, T));
    float *u = malloc((size_t)(B * T) * sizeof *u);
    lb_test_rand(u, B * T, seed, 0.0f, (float)V);
    for (int64_t i = 0; i < B * T; i++) ((int32_t *)ids->data)[i] = (int32_t)u[i];
    free(u);
    return ids;
}

static void test_embedding(void)
{
    lb_ctx ctx;
    opc_ctx(&ctx);
    /* 3 x 7 ids over 5 rows: ids repeat, so the backward must sum */
    lb_tensor *table = opc_rand(&ctx, LB_SHAPE(5, 13), 1, -1, 1, true);
    lb_tensor *ids = make_ids(&ctx, 3, 7, 5, 2);
    lb_tensor *out = lb_embedding(&ctx, table, ids);
    LB_EXPECT(out->ndim == 3 && out->shape[0] == 3 && out->shape[1] == 7 && out->shape[2] == 13);
    emb_params p = {.ids = ids->data, .n = 21, .C = 13};
    /* the lookup is a copy (exact); each table grad sums <= 21 rows */
    opc_case c = {.ref = ref_embedding, .params = &p, .n_in = 1, .in = {table}, .out = out,
                  .fwd_tol = 0.0, .bwd_tol = opc_tol(21)};
    opc_check(&ctx, &c, "embedding");
    LB_EXPECT(ids->grad == NULL);
    lb_ctx_free(&ctx);
}

/* large enough for the parallel paths (n * C > LB_CPU_PAR_MIN), and a
 * table row that no id selects keeps its grad at zero */
static void test_embedding_large(void)
{
    lb_ctx ctx;
    opc_ctx(&ctx);
    int64_t V = 37, C = 6000, B = 2, T = 100;
    lb_tensor *table = opc_rand(&ctx, LB_SHAPE(V, C), 3, -1, 1, true);
    lb_tensor *ids = make_ids(&ctx, B, T, V - 1, 4);   /* row V-1 never used */
    lb_tensor *out = lb_embedding(&ctx, table, ids);
    float *r = malloc((size_t)(B * T * C) * sizeof *r);
    lb_test_rand(r, B * T * C, 5, -1, 1);
    opc_run_backward(&ctx, out, r);
    const int32_t *id = ids->data;
    const float *g = table->grad->data;
    double err = 0.0;
    for (int64_t v = 0; v < V; v++)
        for (int64_t c = 0; c < C; c++) {
            double want = 0.0;
            for (int64_t i = 0; i < B * T; i++) want += id[i] == v ? r[i * C + c] : 0.0;
            err = fmax(err, fabs(g[v * C + c] - want));
        }
    /* sums of <= B*T terms of magnitude <= 1 */
    LB_EXPECTF(err <= opc_tol(B * T), "embedding grad abs err %.3g", err);
    for (int64_t c = 0; c < C; c++) LB_EXPECT(g[(V - 1) * C + c] == 0.0f);
    free(r);
    lb_ctx_free(&ctx);
}

static void bad_id(void)
{
    lb_ctx ctx;
    opc_ctx(&ctx);
    lb_tensor *ids = lb_tensor_zeros(&ctx, LB_I32, LB_SHAPE(1, 3));
    ((int32_t *)ids->data)[2] = 5;
    lb_embedding(&ctx, lb_tensor_zeros(&ctx, LB_F32, LB_SHAPE(5, 4)), ids);
}

static void test_id_out_of_range(void)
{
    opc_expect_abort(bad_id, "ids[2] = 5 is outside the table (5, 4)", "embedding id");
}

int main(void)
{
    LB_RUN(test_embedding);
    LB_RUN(test_embedding_large);
    LB_RUN(test_id_out_of_range);
    return lb_test_summary();
}
