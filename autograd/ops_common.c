/* ops_common.c — argument checks and grad lookup shared by the ops. */
#include "autograd/ops_common.h"

void lb_op_check_input(const char *op, const char *arg, const lb_tensor *t, lb_dtype dt)
{
    LB_CHECKF(t != NULL, "%s: %s is NULL", op, arg);
    LB_CHECKF(t->device == LB_CPU, "%s: %s is on %s, and %s has no CUDA kernel yet", op, arg,
              lb_device_name(t->device), op);
    LB_CHECKF(t->dtype == dt, "%s: %s %s is %s, expected %s", op, arg, LB_SHAPE_STR(t),
              lb_dtype_name(t->dtype), lb_dtype_name(dt));
    LB_CHECKF(t->data != NULL || lb_tensor_numel(t) == 0, "%s: %s has no data", op, arg);
}

void lb_op_check_on(const char *op, const char *arg, const lb_tensor *t, lb_device dev)
{
    LB_CHECKF(t != NULL, "%s: %s is NULL", op, arg);
    LB_CHECKF(t->device == dev,
              "%s: %s is on %s but the op's first input is on %s; move it with lb_tensor_to", op,
              arg, lb_device_name(t->device), lb_device_name(dev));
    bool ok = dev == LB_CUDA ? (t->dtype == LB_BF16 || t->dtype == LB_F32) : t->dtype == LB_F32;
    LB_CHECKF(ok, "%s: %s %s is %s, expected %s", op, arg, LB_SHAPE_STR(t),
              lb_dtype_name(t->dtype), dev == LB_CUDA ? "bf16 or f32 on cuda" : "f32 on the cpu");
    LB_CHECKF(t->data != NULL || lb_tensor_numel(t) == 0, "%s: %s has no data", op, arg);
}

void *lb_op_grad_data(lb_ctx *ctx, lb_tensor *t)
{
    if (!t || !t->requires_grad) return NULL;
    return lb_grad_of(ctx, t)->data;
}

int64_t lb_op_rows(const lb_tensor *t)
{
    if (t->ndim == 0) return 1;
    int64_t last = t->shape[t->ndim - 1];
    return last ? lb_tensor_numel(t) / last : 0;
}
