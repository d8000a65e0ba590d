/* ops_view.c — lb_reshape, lb_transpose, lb_slice and lb_concat: checks,
 * outputs, tape, and the branch to the CPU or CUDA kernels.
 *
 * reshape shares its input's data; the others copy (kernels/cpu/view.c,
 * kernels/cuda/view.cu), so every tensor stays contiguous. Outputs keep the
 * input's device and dtype (f32 on the CPU; bf16 or f32 on CUDA). Not
 * here: strided views, general permutes.
 */
#include "autograd/ops.h"
#include "autograd/ops_common.h"
#include "kernels/cpu/kernels.h"
#include "kernels/cuda/kernels.h"

typedef struct view_saved {
    int dim, dim2;     /* transpose: the swapped dims; slice/concat: dim */
    int64_t start;     /* slice */
} view_saved;

static view_saved *save_view(lb_ctx *ctx, lb_node *node, int dim, int dim2, int64_t start)
{
    view_saved *sv = lb_arena_alloc(ctx, sizeof *sv);
    *sv = (view_saved){.dim = dim, .dim2 = dim2, .start = start};
    node->saved = sv;
    return sv;
}

/* split_at: x viewed as (outer, shape[dim], inner). */
static void split_at(const lb_tensor *x, int dim, int64_t *outer, int64_t *inner)
{
    *outer = *inner = 1;
    for (int i = 0; i < dim; i++) *outer *= x->shape[i];
    for (int i = dim + 1; i < x->ndim; i++) *inner *= x->shape[i];
}

/* check_x: x non-NULL with data, on a device and dtype the kernels read. */
static void check_x(const char *op, const char *arg, const lb_tensor *x)
{
    LB_CHECKF(x != NULL, "%s: %s is NULL", op, arg);
    lb_op_check_on(op, arg, x, x->device);
}

/* new_shaped: a step tensor with x's device and dtype and the given shape. */
static lb_tensor *new_shaped(lb_ctx *ctx, const lb_tensor *x, const int64_t *shape)
{
    return lb_tensor_new_dev(ctx, x->device, x->dtype, x->ndim, shape);
}

/* On CUDA x takes dout's buffer when it can (lb_grad_take), else gets a
 * copy when its grad is new, else dx += dout. */
static void reshape_backward(lb_ctx *ctx, lb_node *node)
{
    lb_tensor *x = node->in[0];
    void *dout = node->out->grad->data;
    if (x->device == LB_CUDA) {
        if (lb_grad_take(ctx, x, node->out)) return;
        bool fresh;
        lb_tensor *gx = lb_grad_fresh(ctx, x, &fresh);
        if (fresh)
            lb_cuda_memcpy_d2d(ctx, gx->data, dout, (size_t)lb_tensor_numel(x) * lb_dtype_size(x->dtype));
        else if (gx)
            lb_cuda_reshape_bwd(ctx, dout, gx->data, lb_tensor_numel(x), x->dtype);
        return;
    }
    lb_cpu_acc(lb_op_grad_data(ctx, x), dout, lb_tensor_numel(x));
}

lb_tensor *lb_reshape(lb_ctx *ctx, lb_tensor *x, int ndim, const int64_t *shape)
{
    check_x("lb_reshape", "x", x);
    LB_CHECKF(ndim >= 0 && ndim <= LB_MAX_DIMS, "lb_reshape: ndim %d of x %s", ndim, LB_SHAPE_STR(x));
    int64_t s[LB_MAX_DIMS], known = 1;
    int infer = -1;
    for (int i = 0; i < ndim; i++) {
        s[i] = shape[i];
        if (s[i] == -1) {
            LB_CHECKF(infer < 0, "lb_reshape: more than one -1 in the shape for x %s", LB_SHAPE_STR(x));
            infer = i;
        } else {
            LB_CHECKF(s[i] >= 0, "lb_reshape: negative dim %lld for x %s", (long long)s[i],
                      LB_SHAPE_STR(x));
            known *= s[i];
        }
    }
    int64_t n = lb_tensor_numel(x);
    if (infer >= 0) {
        LB_CHECKF(known > 0 && n % known == 0, "lb_reshape: cannot infer dim %d of x %s", infer,
                  LB_SHAPE_STR(x));
        s[infer] = n / known;
        known *= s[infer];
    }
    LB_CHECKF(known == n, "lb_reshape: x %s (%lld elements) cannot take a shape of %lld elements",
              LB_SHAPE_STR(x), (long long)n, (long long)known);
    lb_tensor *out = lb_tensor_view_of(ctx, x, ndim, s);
    if (lb_needs_grad(ctx, &x, 1)) lb_tape_record(ctx, "reshape", reshape_backward, out, &x, 1);
    return out;
}

/* pad4: x's shape with leading 1s to 4 dims; returns the offset added. */
static int pad4(const lb_tensor *x, int64_t s4[4])
{
    int off = 4 - x->ndim;
    for (int i = 0; i < 4; i++) s4[i] = i < off ? 1 : x->shape[i - off];
    return off;
}

static void transpose_backward(lb_ctx *ctx, lb_node *node)
{
    lb_tensor *x = node->in[0];
    const view_saved *sv = node->saved;
    int64_t s4[4];
    int off = pad4(x, s4);
    void *dx = lb_op_grad_data(ctx, x), *dout = node->out->grad->data;
    if (x->device == LB_CUDA)
        lb_cuda_transpose_bwd(ctx, dout, dx, s4, sv->dim + off, sv->dim2 + off, x->dtype);
    else
        lb_cpu_transpose_bwd(dout, dx, s4, sv->dim + off, sv->dim2 + off);
}

lb_tensor *lb_transpose(lb_ctx *ctx, lb_tensor *x, int d0, int d1)
{
    check_x("lb_transpose", "x", x);
    LB_CHECKF(d0 >= 0 && d0 < x->ndim && d1 >= 0 && d1 < x->ndim,
              "lb_transpose: dims %d and %d out of range for x %s", d0, d1, LB_SHAPE_STR(x));
    int64_t shape[LB_MAX_DIMS], s4[4];
    for (int i = 0; i < x->ndim; i++) shape[i] = x->shape[i];
    shape[d0] = x->shape[d1];
    shape[d1] = x->shape[d0];
    lb_tensor *out = new_shaped(ctx, x, shape);
    int off = pad4(x, s4);
    if (x->device == LB_CUDA)
        lb_cuda_transpose_fwd(ctx, x->data, out->data, s4, d0 + off, d1 + off, x->dtype);
    else
        lb_cpu_transpose_fwd(x->data, out->data, s4, d0 + off, d1 + off);
    if (lb_needs_grad(ctx, &x, 1))
        save_view(ctx, lb_tape_record(ctx, "transpose", transpose_backward, out, &x, 1), d0, d1, 0);
    return out;
}

static void slice_backward(lb_ctx *ctx, lb_node *node)
{
    lb_tensor *x = node->in[0];
    const view_saved *sv = node->saved;
    int64_t outer, inner;
    split_at(x, sv->dim, &outer, &inner);
    void *dx = lb_op_grad_data(ctx, x), *dout = node->out->grad->data;
    int64_t D = x->shape[sv->dim], len = node->out->shape[sv->dim];
    if (x->device == LB_CUDA)
        lb_cuda_slice_bwd(ctx, dout, dx, outer, D, inner, sv->start, len, x->dtype);
    else
        lb_cpu_slice_bwd(dout, dx, outer, D, inner, sv->start, len);
}

lb_tensor *lb_slice(lb_ctx *ctx, lb_tensor *x, int dim, int64_t start, int64_t len)
{
    check_x("lb_slice", "x", x);
    LB_CHECKF(dim >= 0 && dim < x->ndim, "lb_slice: dim %d out of range for x %s", dim,
              LB_SHAPE_STR(x));
    LB_CHECKF(start >= 0 && len >= 0 && start + len <= x->shape[dim],
              "lb_slice: [%lld, %lld) along dim %d is outside x %s", (long long)start,
              (long long)(start + len), dim, LB_SHAPE_STR(x));
    int64_t shape[LB_MAX_DIMS], outer, inner;
    for (int i = 0; i < x->ndim; i++) shape[i] = x->shape[i];
    shape[dim] = len;
    lb_tensor *out = new_shaped(ctx, x, shape);
    split_at(x, dim, &outer, &inner);
    if (x->device == LB_CUDA)
        lb_cuda_slice_fwd(ctx, x->data, out->data, outer, x->shape[dim], inner, start, len, x->dtype);
    else
        lb_cpu_slice_fwd(x->data, out->data, outer, x->shape[dim], inner, start, len);
    if (lb_needs_grad(ctx, &x, 1))
        save_view(ctx, lb_tape_record(ctx, "slice", slice_backward, out, &x, 1), dim, 0, start);
    return out;
}

static void concat_backward(lb_ctx *ctx, lb_node *node)
{
    lb_tensor *a = node->in[0], *b = node->in[1];
    int dim = ((const view_saved *)node->saved)->dim;
    int64_t outer, inner;
    split_at(a, dim, &outer, &inner);
    void *da = lb_op_grad_data(ctx, a), *db = lb_op_grad_data(ctx, b), *dout = node->out->grad->data;
    if (a->device == LB_CUDA)
        lb_cuda_concat_bwd(ctx, dout, da, db, outer, a->shape[dim], b->shape[dim], inner, a->dtype);
    else
        lb_cpu_concat_bwd(dout, da, db, outer, a->shape[dim], b->shape[dim], inner);
}

lb_tensor *lb_concat(lb_ctx *ctx, lb_tensor *a, lb_tensor *b, int dim)
{
    check_x("lb_concat", "a", a);
    lb_op_check_on("lb_concat", "b", b, a->device);
    LB_CHECKF(a->dtype == b->dtype, "lb_concat: a %s is %s but b %s is %s", LB_SHAPE_STR(a),
              lb_dtype_name(a->dtype), LB_SHAPE_STR(b), lb_dtype_name(b->dtype));
    bool ok = a->ndim == b->ndim && dim >= 0 && dim < a->ndim;
    for (int i = 0; ok && i < a->ndim; i++) ok = i == dim || a->shape[i] == b->shape[i];
    LB_CHECKF(ok, "lb_concat: a %s and b %s cannot be joined along dim %d", LB_SHAPE_STR(a),
              LB_SHAPE_STR(b), dim);
    int64_t shape[LB_MAX_DIMS], outer, inner;
    for (int i = 0; i < a->ndim; i++) shape[i] = a->shape[i];
    shape[dim] = a->shape[dim] + b->shape[dim];
    lb_tensor *out = new_shaped(ctx, a, shape);
    split_at(a, dim, &outer, &inner);
    if (a->device == LB_CUDA)
        lb_cuda_concat_fwd(ctx, a->data, b->data, out->data, outer, a->shape[dim], b->shape[dim],
                           inner, a->dtype);
    else
        lb_cpu_concat_fwd(a->data, b->data, out->data, outer, a->shape[dim], b->shape[dim], inner);
    lb_tensor *ins[2] = {a, b};
    if (lb_needs_grad(ctx, ins, 2))
        save_view(ctx, lb_tape_record(ctx, "concat", concat_backward, out, ins, 2), dim, 0, 0);
    return out;
}
