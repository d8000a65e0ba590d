/* test_gpu_view.c — CUDA transpose (every pair of dims of a 4-D tensor, and
 * 2-D and 3-D ones), slice and concat (every dim) and reshape, bf16 and f32,
 * forward and backward, against the CPU ops. Shapes have odd sizes (3, 5,
 * 7, 13, 129) so nothing is a multiple of 8.
 *
 * Exact checks: the forwards copy, and every grad element receives exactly
 * one value added to its preseed, so the GPU's result is the CPU's rounded
 * once to the GPU dtype (bf16-exact inputs; gx_expect_exact).
 */
#include "gpu_ops_check.h"

typedef enum { GV_TRANSPOSE, GV_SLICE, GV_CONCAT, GV_RESHAPE } gv_op;

static const char *op_name(gv_op op)
{
    static const char *names[] = {"transpose", "slice", "concat", "reshape"};
    return names[op];
}

static lb_tensor *apply(lb_ctx *ctx, gv_op op, lb_tensor *a, lb_tensor *b, int d0, int d1)
{
    switch (op) {
    case GV_TRANSPOSE: return lb_transpose(ctx, a, d0, d1);
    case GV_SLICE: return lb_slice(ctx, a, d0, 1, a->shape[d0] - 2);
    case GV_CONCAT: return lb_concat(ctx, a, b, d0);
    default: return lb_reshape(ctx, a, LB_SHAPE(-1));
    }
}

static void check_view(gv_op op, lb_dtype dt, int ndim, const int64_t *shape, int d0, int d1,
                       uint64_t seed)
{
    char what[160];
    int64_t bshape[4];
    for (int i = 0; i < ndim; i++) bshape[i] = shape[i];
    if (op == GV_CONCAT) bshape[d0] = 2;   /* b differs along the concat dim */
    int64_t na = 1, nb = 1;
    for (int i = 0; i < ndim; i++) {
        na *= shape[i];
        nb *= bshape[i];
    }
    float *a = gx_rand(na, seed, -2, 2), *b = gx_rand(nb, seed + 1, -2, 2);
    float *sa = gx_rand(na, seed + 2, -1, 1), *sb = gx_rand(nb, seed + 3, -1, 1);
    lb_ctx c, g;
    gx_ctx(&c, LB_CPU);
    gx_ctx(&g, LB_CUDA);
    gx_poison(&g);
    lb_tensor *ac = gx_tensor(&c, LB_CPU, dt, a, ndim, shape, true);
    lb_tensor *ag = gx_tensor(&g, LB_CUDA, dt, a, ndim, shape, true);
    lb_tensor *bc = gx_tensor(&c, LB_CPU, dt, b, ndim, bshape, true);
    lb_tensor *bg = gx_tensor(&g, LB_CUDA, dt, b, ndim, bshape, true);
    lb_tensor *yc = apply(&c, op, ac, bc, d0, d1), *yg = apply(&g, op, ag, bg, d0, d1);
    LB_EXPECTF(yg->dtype == dt && yg->device == LB_CUDA, "%s: output dtype or device", op_name(op));
    int64_t ny = lb_tensor_numel(yc);
    float *dy = gx_rand(ny, seed + 4, -1, 1);
    gx_preseed(&c, ac, sa);
    gx_preseed(&g, ag, sa);
    if (op == GV_CONCAT) {
        gx_preseed(&c, bc, sb);
        gx_preseed(&g, bg, sb);
    }
    gx_backward(&c, yc, dy);
    gx_backward(&g, yg, dy);
    snprintf(what, sizeof what, "%s %s ndim %d (%lld, ..) dims %d %d: out", op_name(op),
             lb_dtype_name(dt), ndim, (long long)shape[0], d0, d1);
    gx_expect_exact(&g, yg, &c, yc, what);
    snprintf(what, sizeof what, "%s %s ndim %d (%lld, ..) dims %d %d: da", op_name(op),
             lb_dtype_name(dt), ndim, (long long)shape[0], d0, d1);
    gx_expect_exact(&g, ag->grad, &c, ac->grad, what);
    if (op == GV_CONCAT) {
        snprintf(what, sizeof what, "concat %s ndim %d dim %d: db", lb_dtype_name(dt), ndim, d0);
        gx_expect_exact(&g, bg->grad, &c, bc->grad, what);
    }
    lb_ctx_free(&c);
    lb_ctx_free(&g);
    free(a);
    free(b);
    free(sa);
    free(sb);
    free(dy);
}

static void test_views(void)
{
    if (!gx_have_gpu()) return;
    const int64_t s4[4] = {3, 5, 7, 13}, s3[3] = {5, 129, 7}, s2[2] = {13, 129};
    const lb_dtype dts[2] = {LB_BF16, LB_F32};
    uint64_t seed = 1;
    for (int k = 0; k < 2; k++) {
        lb_dtype dt = dts[k];
        for (int d0 = 0; d0 < 4; d0++)
            for (int d1 = d0; d1 < 4; d1++) check_view(GV_TRANSPOSE, dt, 4, s4, d0, d1, seed += 5);
        check_view(GV_TRANSPOSE, dt, 3, s3, 0, 2, seed += 5);
        check_view(GV_TRANSPOSE, dt, 2, s2, 0, 1, seed += 5);
        for (int d = 0; d < 4; d++) {
            check_view(GV_SLICE, dt, 4, s4, d, 0, seed += 5);
            check_view(GV_CONCAT, dt, 4, s4, d, 0, seed += 5);
        }
        check_view(GV_SLICE, dt, 2, s2, 1, 0, seed += 5);
        check_view(GV_CONCAT, dt, 3, s3, 1, 0, seed += 5);
        check_view(GV_RESHAPE, dt, 3, s3, 0, 0, seed += 5);
    }
}

int main(void)
{
    LB_RUN(test_views);
    return lb_test_summary();
}
