/* test_ops_attention.c — lb_attention: causal grouped-query attention with
 * nkv in {nh/3, nh, 1}, the KV-cache case (q_pos0 > 0, S > q_pos0 + T) and
 * T = 1; forward against a double reference, backward of q, k and v against
 * finite differences. */
#include "ops_check.h"

typedef struct attn_params {
    int64_t B, T, S, nh, nkv, hd, q_pos0;
} attn_params;

static void ref_attention(const void *pp, double *const *in, double *out)
{
    const attn_params *p = pp;
    const double *q = in[0], *k = in[1], *v = in[2];
    double *sc = malloc((size_t)p->S * sizeof *sc);
    double scale = 1.0 / sqrt((double)p->hd);
    for (int64_t b = 0; b < p->B; b++)
        for (int64_t t = 0; t < p->T; t++)
            for (int64_t h = 0; h < p->nh; h++) {
                int64_t kvh = h / (p->nh / p->nkv), nk = p->q_pos0 + t + 1;
                const double *qr = q + ((b * p->T + t) * p->nh + h) * p->hd;
                double mx = -INFINITY, sum = 0.0;
                for (int64_t s = 0; s < nk; s++) {
                    const double *kr = k + ((b * p->S + s) * p->nkv + kvh) * p->hd;
                    double d = 0.0;
                    for (int64_t i = 0; i < p->hd; i++) d += qr[i] * kr[i];
                    sc[s] = d * scale;
                    mx = fmax(mx, sc[s]);
                }
                for (int64_t s = 0; s < nk; s++) sum += (sc[s] = exp(sc[s] - mx));
                double *o = out + ((b * p->T + t) * p->nh + h) * p->hd;
                for (int64_t i = 0; i < p->hd; i++) {
                    double acc = 0.0;
                    for (int64_t s = 0; s < nk; s++)
                        acc += sc[s] / sum * v[((b * p->S + s) * p->nkv + kvh) * p->hd + i];
                    o[i] = acc;
                }
            }
    free(sc);
}

static void check_attention(attn_params p, const char *what)
{
    lb_ctx ctx;
    opc_ctx(&ctx);
    lb_tensor *q = opc_rand(&ctx, LB_SHAPE(p.B, p.T, p.nh, p.hd), 1, -1.5f, 1.5f, true);
    lb_tensor *k = opc_rand(&ctx, LB_SHAPE(p.B, p.S, p.nkv, p.hd), 2, -1.5f, 1.5f, true);
    lb_tensor *v = opc_rand(&ctx, LB_SHAPE(p.B, p.S, p.nkv, p.hd), 3, -1, 1, true);
    lb_tensor *o = lb_attention(&ctx, q, k, v, p.q_pos0);
    LB_EXPECT(lb_tensor_same_shape(o, q));
    /* forward: dots over hd, softmax and weighted sum over <= S keys;
     * backward adds the sums over the T * nh / nkv queries of a kv head */
    int64_t red = p.hd + 2 * p.S;
    opc_case c = {.ref = ref_attention, .params = &p, .n_in = 3, .in = {q, k, v}, .out = o,
                  .fwd_tol = opc_tol(red), .bwd_tol = opc_tol(red + p.T * p.nh / p.nkv)};
    opc_check(&ctx, &c, what);
    lb_ctx_free(&ctx);
}

static void test_attention_gqa(void)
{
    check_attention((attn_params){.B = 2, .T = 5, .S = 5, .nh = 6, .nkv = 2, .hd = 7}, "gqa 6/2");
}

static void test_attention_mha(void)
{
    check_attention((attn_params){.B = 2, .T = 5, .S = 5, .nh = 6, .nkv = 6, .hd = 7}, "mha 6/6");
}

static void test_attention_mqa(void)
{
    check_attention((attn_params){.B = 1, .T = 7, .S = 7, .nh = 6, .nkv = 1, .hd = 5}, "mqa 6/1");
}

/* KV-cache prefill continuation: queries at positions 3..6 over 9 keys;
 * keys 7 and 8 are seen by no query, so their grads must stay zero */
static void test_attention_kv_cache(void)
{
    check_attention((attn_params){.B = 2, .T = 4, .S = 9, .nh = 6, .nkv = 2, .hd = 7, .q_pos0 = 3},
                    "q_pos0=3 S=9");
}

/* decode: one query at position 6 sees all 7 keys */
static void test_attention_decode(void)
{
    check_attention((attn_params){.B = 2, .T = 1, .S = 7, .nh = 6, .nkv = 2, .hd = 13, .q_pos0 = 6},
                    "decode T=1");
}

/* more queries than one block of the kernel (128): the blocks after the
 * first see more keys than they hold queries */
static void test_attention_multi_block(void)
{
    check_attention((attn_params){.B = 1, .T = 131, .S = 133, .nh = 2, .nkv = 1, .hd = 3, .q_pos0 = 2},
                    "T=131 over blocks");
}

/* bigger than the FD tests can afford: forward only, and the no-grad path
 * (one scratch row per thread) must give bit-identical outputs to the grad
 * path (saved probabilities) */
static void test_attention_large_and_no_grad(void)
{
    lb_ctx ctx;
    opc_ctx(&ctx);
    attn_params p = {.B = 2, .T = 300, .S = 557, .nh = 4, .nkv = 2, .hd = 37, .q_pos0 = 257};
    lb_tensor *q = opc_rand(&ctx, LB_SHAPE(p.B, p.T, p.nh, p.hd), 4, -1, 1, true);
    lb_tensor *k = opc_rand(&ctx, LB_SHAPE(p.B, p.S, p.nkv, p.hd), 5, -1, 1, true);
    lb_tensor *v = opc_rand(&ctx, LB_SHAPE(p.B, p.S, p.nkv, p.hd), 6, -1, 1, true);
    lb_tensor *o1 = lb_attention(&ctx, q, k, v, p.q_pos0);
    lb_ctx_set_grad(&ctx, false);
    lb_tensor *o2 = lb_attention(&ctx, q, k, v, p.q_pos0);
    LB_EXPECT(o2->node == NULL);
    LB_EXPECT(memcmp(o1->data, o2->data, lb_tensor_nbytes(o1)) == 0);
    double *in[3] = {opc_widen(q), opc_widen(k), opc_widen(v)};
    double *ref = malloc(lb_tensor_numel(o1) * sizeof *ref);
    ref_attention(&p, in, ref);
    double err = lb_test_max_rel(o1->data, ref, lb_tensor_numel(o1), OPC_FLOOR);
    LB_EXPECTF(err <= opc_tol(p.hd + 2 * p.S), "forward rel err %.3g", err);
    for (int i = 0; i < 3; i++) free(in[i]);
    free(ref);
    lb_ctx_free(&ctx);
}

static void bad_heads(void)
{
    lb_ctx ctx;
    opc_ctx(&ctx);
    lb_tensor *q = lb_tensor_zeros(&ctx, LB_F32, LB_SHAPE(1, 2, 6, 4));
    lb_tensor *k = lb_tensor_zeros(&ctx, LB_F32, LB_SHAPE(1, 2, 4, 4));
    lb_attention(&ctx, q, k, k, 0);
}

static void bad_cache_len(void)
{
    lb_ctx ctx;
    opc_ctx(&ctx);
    lb_tensor *q = lb_tensor_zeros(&ctx, LB_F32, LB_SHAPE(1, 2, 6, 4));
    lb_tensor *k = lb_tensor_zeros(&ctx, LB_F32, LB_SHAPE(1, 4, 2, 4));
    lb_attention(&ctx, q, k, k, 3);   /* needs 5 keys */
}

static void test_attention_checks(void)
{
    opc_expect_abort(bad_heads, "6 query heads (q (1, 2, 6, 4)) are not a multiple of 4", "heads");
    opc_expect_abort(bad_cache_len, "needs S >= 5 keys", "kv length");
}

int main(void)
{
    LB_RUN(test_attention_gqa);
    LB_RUN(test_attention_mha);
    LB_RUN(test_attention_mqa);
    LB_RUN(test_attention_kv_cache);
    LB_RUN(test_attention_decode);
    LB_RUN(test_attention_multi_block);
    LB_RUN(test_attention_large_and_no_grad);
    LB_RUN(test_attention_checks);
    return lb_test_summary();
}
