/* ops_embedding.c — lb_embedding: id checks, output, tape.
 *
 * The lookup and the scatter-add of the grad are in kernels/cpu/embedding.c.
 * Grad flows to the table only. Not here: tied output heads (layers/).
 */
#include "autograd/ops.h"
#include "autograd/ops_common.h"
#include "kernels/cpu/kernels.h"

static void embedding_backward(lb_ctx *ctx, lb_node *node)
{
    lb_tensor *table = node->in[0], *ids = node->in[1];
    lb_cpu_embedding_bwd(ids->data, node->out->grad->data, lb_op_grad_data(ctx, table),
                         lb_tensor_numel(ids), table->shape[1]);
}

lb_tensor *lb_embedding(lb_ctx *ctx, lb_tensor *table, lb_tensor *ids)
{
    lb_op_check_input("lb_embedding", "table", table, LB_F32);
    lb_op_check_input("lb_embedding", "ids", ids, LB_I32);
    LB_CHECKF(table->ndim == 2 && ids->ndim == 2,
              "lb_embedding: table %s must be (V, C) and ids %s (B, T)",
              LB_SHAPE_STR(table), LB_SHAPE_STR(ids));
    int64_t V = table->shape[0], C = table->shape[1], n = lb_tensor_numel(ids);
    const int32_t *id = ids->data;
    for (int64_t i = 0; i < n; i++)
        LB_CHECKF(id[i] >= 0 && id[i] < V, "lb_embedding: ids[%lld] = %d is outside the table %s",
                  (long long)i, id[i], LB_SHAPE_STR(table));
    lb_tensor *out = lb_tensor_new(ctx, LB_F32, LB_SHAPE(ids->shape[0], ids->shape[1], C)); // (B, T, C)
    lb_cpu_embedding_fwd(table->data, id, out->data, n, C);
    lb_tensor *ins[2] = {table, ids};
    if (lb_needs_grad(ctx, ins, 1))   /* only the table can carry grad */
        lb_tape_record(ctx, "embedding", embedding_backward, out, ins, 2);
    return out;
}
