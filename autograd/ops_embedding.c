/* ops_embedding.c — lb_embedding: id checks, output, tape, and the branch
 * to the CPU or CUDA kernel.
 *
 * The lookup and the scatter-add of the grad are in kernels/cpu/embedding.c
 * and kernels/cuda/embedding.cu. Grad flows to the table only. On CUDA the
 * table is the f32 parameter on the GPU, or a bf16 table standing for one
 * (the fake-quant w^ of a quantized token embedding, flagged
 * LB_TENSOR_GRAD_F32: the lookup copies its bf16 values, and the scatter
 * writes its grad in f32 as for the parameter, in the same order, for the
 * fake-quant backward to read); the output is a bf16 activation. The grad
 * is always accumulated (lb_grad_of, never an overwrite or an alias), so a
 * tied head's dW written before or after it adds up. Ids may be on the CPU
 * (checked there, then uploaded: no wait) or on the GPU (copied back for the
 * check: one wait for the device). Not here: tied output heads (layers/).
 */
#include "autograd/ops.h"
#include "autograd/ops_common.h"
#include "kernels/cpu/kernels.h"
#include "kernels/cuda/kernels.h"

typedef struct emb_saved {
    const int32_t *ids;   // (n) on the table's device
} emb_saved;

static void embedding_backward(lb_ctx *ctx, lb_node *node)
{
    lb_tensor *table = node->in[0], *out = node->out;
    const emb_saved *sv = node->saved;
    int64_t n = lb_op_rows(out), C = table->shape[1];
    /* f32 also for a bf16 table (LB_TENSOR_GRAD_F32, checked by the op);
     * accumulates even into a grad marked zero (lb_grad_of takes the mark,
     * so a tied head's dW written after this adds): only the looked-up rows
     * are written, the others keep the zeros zero_grad left */
    float *dtable = lb_op_grad_data(ctx, table);
    if (table->device == LB_CUDA)
        lb_cuda_embedding_bwd(ctx, sv->ids, out->grad->data, dtable, n, C, out->dtype);
    else
        lb_cpu_embedding_bwd(sv->ids, out->grad->data, dtable, n, C);
}

lb_tensor *lb_embedding(lb_ctx *ctx, lb_tensor *table, lb_tensor *ids)
{
    LB_CHECKF(table != NULL && ids != NULL, "lb_embedding: table or ids is NULL");
    lb_op_check_on("lb_embedding", "table", table, table->device);
    bool bf16_ok = table->device == LB_CUDA && table->dtype == LB_BF16;   /* a w^ on CUDA */
    LB_CHECKF(table->dtype == LB_F32 || bf16_ok, "lb_embedding: table %s is %s on %s, expected f32 "
              "(or bf16 on cuda)", LB_SHAPE_STR(table), lb_dtype_name(table->dtype),
              lb_device_name(table->device));
    LB_CHECKF(!bf16_ok || !table->requires_grad || (table->flags & LB_TENSOR_GRAD_F32),
              "lb_embedding: the bf16 table %s requires grad but its grad is not f32 (expected a "
              "fake-quant w^, flagged LB_TENSOR_GRAD_F32)", LB_SHAPE_STR(table));
    LB_CHECKF(ids->dtype == LB_I32 && (ids->device == LB_CPU || ids->device == table->device),
              "lb_embedding: ids %s are %s on %s, expected i32 on the cpu or the table's device",
              LB_SHAPE_STR(ids), lb_dtype_name(ids->dtype), lb_device_name(ids->device));
    LB_CHECKF(table->ndim == 2 && ids->ndim == 2,
              "lb_embedding: table %s must be (V, C) and ids %s (B, T)",
              LB_SHAPE_STR(table), LB_SHAPE_STR(ids));
    int64_t V = table->shape[0], C = table->shape[1], n = lb_tensor_numel(ids);
    size_t ibytes = (size_t)n * sizeof(int32_t);
    const int32_t *id = ids->data;   /* host copy for the check */
    if (ids->device == LB_CUDA) {
        int32_t *h = lb_arena_alloc(ctx, ibytes);
        lb_cuda_memcpy_d2h(ctx, h, ids->data, ibytes);
        id = h;
    }
    for (int64_t i = 0; i < n; i++)
        LB_CHECKF(id[i] >= 0 && id[i] < V, "lb_embedding: ids[%lld] = %d is outside the table %s",
                  (long long)i, id[i], LB_SHAPE_STR(table));
    lb_dtype dt = table->device == LB_CUDA ? LB_BF16 : LB_F32;   /* an activation (tensor.h) */
    lb_tensor *out = lb_tensor_new_dev(ctx, table->device, dt, LB_SHAPE(ids->shape[0], ids->shape[1], C)); // (B, T, C)
    const int32_t *kid = id;   /* the ids on the table's device */
    if (table->device == LB_CUDA) {
        if (ids->device == LB_CUDA) {
            kid = ids->data;
        } else {
            int32_t *d = lb_cuda_step_alloc(ctx, ibytes);
            lb_cuda_memcpy_h2d(ctx, d, ids->data, ibytes);
            kid = d;
        }
        lb_cuda_embedding_fwd(ctx, table->data, table->dtype, kid, out->data, n, C, out->dtype);
    } else {
        lb_cpu_embedding_fwd(table->data, kid, out->data, n, C);
    }
    lb_tensor *ins[2] = {table, ids};
    if (lb_needs_grad(ctx, ins, 1)) {   /* only the table can carry grad */
        lb_node *node = lb_tape_record(ctx, "embedding", embedding_backward, out, ins, 2);
        emb_saved *sv = lb_arena_alloc(ctx, sizeof *sv);
        sv->ids = kid;
        node->saved = sv;
    }
    return out;
}
