/* cudnn_graph.cu — the cuDNN backend-API graph builder (cudnn_graph.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cuda/cudnn_graph.h"

void lb_cudnn_graph_init(lb_cudnn_graph *g, int64_t first_virtual_uid)
{
    memset(g, 0, sizeof *g);
    g->err = CUDNN_STATUS_SUCCESS;
    g->next_uid = first_virtual_uid;
}

void lb_cudnn_graph_free(lb_cudnn_graph *g)
{
    for (int i = g->n - 1; i >= 0; i--) cudnnBackendDestroyDescriptor(g->d[i]);
    g->n = 0;
}

static lb_cudnn_desc mk(lb_cudnn_graph *g, cudnnBackendDescriptorType_t t)
{
    lb_cudnn_desc d = NULL;
    LB_CHECKF(g->n < LB_CUDNN_GRAPH_MAX, "cudnn_graph: more than %d descriptors",
              LB_CUDNN_GRAPH_MAX);
    LB_CUDNN_CHECK(cudnnBackendCreateDescriptor(t, &d));
    g->d[g->n++] = d;
    return d;
}

static void set(lb_cudnn_graph *g, lb_cudnn_desc d, cudnnBackendAttributeName_t a,
                cudnnBackendAttributeType_t t, int64_t n, const void *v, const char *what)
{
    if (g->err != CUDNN_STATUS_SUCCESS) return;
    cudnnStatus_t s = cudnnBackendSetAttribute(d, a, t, n, v);
    if (s != CUDNN_STATUS_SUCCESS) {
        g->err = s;
        g->what = what;
    }
}

static void fin(lb_cudnn_graph *g, lb_cudnn_desc d, const char *what)
{
    if (g->err != CUDNN_STATUS_SUCCESS) return;
    cudnnStatus_t s = cudnnBackendFinalize(d);
    if (s != CUDNN_STATUS_SUCCESS) {
        g->err = s;
        g->what = what;
    }
}

lb_cudnn_desc lb_cudnn_tensor(lb_cudnn_graph *g, int64_t uid, cudnnDataType_t dt,
                              const int64_t dim[4], const int64_t str[4], bool by_value)
{
    lb_cudnn_desc t = mk(g, CUDNN_BACKEND_TENSOR_DESCRIPTOR);
    bool virt = uid < 0;
    if (virt) uid = g->next_uid++;
    int64_t align = 16;
    set(g, t, CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &dt, "tensor dtype");
    set(g, t, CUDNN_ATTR_TENSOR_DIMENSIONS, CUDNN_TYPE_INT64, 4, dim, "tensor dims");
    set(g, t, CUDNN_ATTR_TENSOR_STRIDES, CUDNN_TYPE_INT64, 4, str, "tensor strides");
    set(g, t, CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, 1, &uid, "tensor uid");
    set(g, t, CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, CUDNN_TYPE_INT64, 1, &align, "tensor alignment");
    set(g, t, CUDNN_ATTR_TENSOR_IS_VIRTUAL, CUDNN_TYPE_BOOLEAN, 1, &virt, "tensor virtual");
    if (by_value) {
        bool bv = true;
        set(g, t, CUDNN_ATTR_TENSOR_IS_BY_VALUE, CUDNN_TYPE_BOOLEAN, 1, &bv, "tensor by value");
    }
    fin(g, t, "tensor");
    return t;
}

lb_cudnn_desc lb_cudnn_pointwise(lb_cudnn_graph *g, cudnnPointwiseMode_t mode,
                                 cudnnDataType_t prec, lb_cudnn_desc x, lb_cudnn_desc b,
                                 lb_cudnn_desc t, lb_cudnn_desc y, int64_t axis)
{
    lb_cudnn_desc p = mk(g, CUDNN_BACKEND_POINTWISE_DESCRIPTOR);
    set(g, p, CUDNN_ATTR_POINTWISE_MODE, CUDNN_TYPE_POINTWISE_MODE, 1, &mode, "pw mode");
    set(g, p, CUDNN_ATTR_POINTWISE_MATH_PREC, CUDNN_TYPE_DATA_TYPE, 1, &prec, "pw prec");
    if (axis >= 0) set(g, p, CUDNN_ATTR_POINTWISE_AXIS, CUDNN_TYPE_INT64, 1, &axis, "pw axis");
    fin(g, p, "pointwise descriptor");
    lb_cudnn_desc op = mk(g, CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR);
    set(g, op, CUDNN_ATTR_OPERATION_POINTWISE_PW_DESCRIPTOR, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &p,
        "pw op desc");
    set(g, op, CUDNN_ATTR_OPERATION_POINTWISE_XDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &x, "pw x");
    if (b)
        set(g, op, CUDNN_ATTR_OPERATION_POINTWISE_BDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &b,
            "pw b");
    if (t)
        set(g, op, CUDNN_ATTR_OPERATION_POINTWISE_TDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &t,
            "pw t");
    set(g, op, CUDNN_ATTR_OPERATION_POINTWISE_YDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &y, "pw y");
    fin(g, op, "pointwise op");
    return op;
}

lb_cudnn_desc lb_cudnn_matmul(lb_cudnn_graph *g, lb_cudnn_desc a, lb_cudnn_desc b, lb_cudnn_desc c)
{
    cudnnDataType_t f32 = CUDNN_DATA_FLOAT;
    lb_cudnn_desc m = mk(g, CUDNN_BACKEND_MATMUL_DESCRIPTOR);
    set(g, m, CUDNN_ATTR_MATMUL_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &f32, "matmul comp");
    fin(g, m, "matmul descriptor");
    lb_cudnn_desc op = mk(g, CUDNN_BACKEND_OPERATION_MATMUL_DESCRIPTOR);
    set(g, op, CUDNN_ATTR_OPERATION_MATMUL_ADESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &a, "mm a");
    set(g, op, CUDNN_ATTR_OPERATION_MATMUL_BDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &b, "mm b");
    set(g, op, CUDNN_ATTR_OPERATION_MATMUL_CDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &c, "mm c");
    set(g, op, CUDNN_ATTR_OPERATION_MATMUL_DESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &m, "mm desc");
    fin(g, op, "matmul op");
    return op;
}

lb_cudnn_desc lb_cudnn_reduction(lb_cudnn_graph *g, cudnnReduceTensorOp_t mode, lb_cudnn_desc x,
                                 lb_cudnn_desc y)
{
    cudnnDataType_t f32 = CUDNN_DATA_FLOAT;
    lb_cudnn_desc r = mk(g, CUDNN_BACKEND_REDUCTION_DESCRIPTOR);
    set(g, r, CUDNN_ATTR_REDUCTION_OPERATOR, CUDNN_TYPE_REDUCTION_OPERATOR_TYPE, 1, &mode,
        "red mode");
    set(g, r, CUDNN_ATTR_REDUCTION_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &f32, "red comp");
    fin(g, r, "reduction descriptor");
    lb_cudnn_desc op = mk(g, CUDNN_BACKEND_OPERATION_REDUCTION_DESCRIPTOR);
    set(g, op, CUDNN_ATTR_OPERATION_REDUCTION_XDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &x, "red x");
    set(g, op, CUDNN_ATTR_OPERATION_REDUCTION_YDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &y, "red y");
    set(g, op, CUDNN_ATTR_OPERATION_REDUCTION_DESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &r,
        "red desc");
    fin(g, op, "reduction op");
    return op;
}

lb_cudnn_desc lb_cudnn_reshape(lb_cudnn_graph *g, lb_cudnn_desc x, lb_cudnn_desc y)
{
    lb_cudnn_desc op = mk(g, CUDNN_BACKEND_OPERATION_RESHAPE_DESCRIPTOR);
    set(g, op, CUDNN_ATTR_OPERATION_RESHAPE_XDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &x,
        "reshape x");
    set(g, op, CUDNN_ATTR_OPERATION_RESHAPE_YDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &y,
        "reshape y");
    fin(g, op, "reshape op");
    return op;
}

/* cfg_engine: the global index of cfg's engine and whether it carries the
 * NONDETERMINISTIC numerical note (false, -1 when cuDNN does not say) */
static bool cfg_nondeterministic(lb_cudnn_graph *g, lb_cudnn_desc cfg, int64_t *index)
{
    lb_cudnn_desc engine = mk(g, CUDNN_BACKEND_ENGINE_DESCRIPTOR);
    int64_t n = 0;
    *index = -1;
    if (cudnnBackendGetAttribute(cfg, CUDNN_ATTR_ENGINECFG_ENGINE, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1,
                                 &n, &engine) != CUDNN_STATUS_SUCCESS || n != 1)
        return false;
    (void)cudnnBackendGetAttribute(engine, CUDNN_ATTR_ENGINE_GLOBAL_INDEX, CUDNN_TYPE_INT64, 1, &n,
                                   index);
    cudnnBackendNumericalNote_t notes[CUDNN_NUMERICAL_NOTE_TYPE_COUNT];
    n = 0;
    if (cudnnBackendGetAttribute(engine, CUDNN_ATTR_ENGINE_NUMERICAL_NOTE, CUDNN_TYPE_NUMERICAL_NOTE,
                                 CUDNN_NUMERICAL_NOTE_TYPE_COUNT, &n, notes) != CUDNN_STATUS_SUCCESS)
        return false;
    for (int64_t i = 0; i < n; i++)
        if (notes[i] == CUDNN_NUMERICAL_NOTE_NONDETERMINISTIC) return true;
    return false;
}

lb_cudnn_desc lb_cudnn_plan(lb_cudnn_graph *g, cudnnHandle_t h, lb_cudnn_desc *ops, int n,
                            bool deterministic, int64_t *ws, int64_t *engine)
{
    lb_cudnn_desc graph = mk(g, CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR);
    set(g, graph, CUDNN_ATTR_OPERATIONGRAPH_HANDLE, CUDNN_TYPE_HANDLE, 1, &h, "graph handle");
    set(g, graph, CUDNN_ATTR_OPERATIONGRAPH_OPS, CUDNN_TYPE_BACKEND_DESCRIPTOR, n, ops, "graph ops");
    fin(g, graph, "operation graph");
    if (g->err != CUDNN_STATUS_SUCCESS) return NULL;
    cudnnBackendHeurMode_t modes[2] = {CUDNN_HEUR_MODE_A, CUDNN_HEUR_MODE_FALLBACK};
    bool skipped_nondet = false;
    for (int mi = 0; mi < 2; mi++) {
        lb_cudnn_desc heur = mk(g, CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR);
        if (cudnnBackendSetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH,
                                     CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &graph) != CUDNN_STATUS_SUCCESS ||
            cudnnBackendSetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_MODE, CUDNN_TYPE_HEUR_MODE, 1,
                                     &modes[mi]) != CUDNN_STATUS_SUCCESS ||
            cudnnBackendFinalize(heur) != CUDNN_STATUS_SUCCESS)
            continue;
        enum { MAX_CFG = 8 };
        lb_cudnn_desc cfg[MAX_CFG];
        for (int i = 0; i < MAX_CFG; i++) cfg[i] = mk(g, CUDNN_BACKEND_ENGINECFG_DESCRIPTOR);
        int64_t n_cfg = 0;
        if (cudnnBackendGetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_RESULTS,
                                     CUDNN_TYPE_BACKEND_DESCRIPTOR, MAX_CFG, &n_cfg, cfg) !=
            CUDNN_STATUS_SUCCESS)
            continue;
        for (int64_t i = 0; i < n_cfg && i < MAX_CFG; i++) {
            if (cfg_nondeterministic(g, cfg[i], engine) && deterministic) {
                skipped_nondet = true;
                continue;
            }
            lb_cudnn_desc plan = NULL;
            LB_CUDNN_CHECK(cudnnBackendCreateDescriptor(CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR,
                                                        &plan));
            bool ok = cudnnBackendSetAttribute(plan, CUDNN_ATTR_EXECUTION_PLAN_HANDLE,
                                               CUDNN_TYPE_HANDLE, 1, &h) == CUDNN_STATUS_SUCCESS &&
                      cudnnBackendSetAttribute(plan, CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG,
                                               CUDNN_TYPE_BACKEND_DESCRIPTOR, 1,
                                               &cfg[i]) == CUDNN_STATUS_SUCCESS &&
                      cudnnBackendFinalize(plan) == CUDNN_STATUS_SUCCESS;
            int64_t n_ws = 0;
            ok = ok && cudnnBackendGetAttribute(plan, CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE,
                                                CUDNN_TYPE_INT64, 1, &n_ws,
                                                ws) == CUDNN_STATUS_SUCCESS;
            if (ok) return plan;
            cudnnBackendDestroyDescriptor(plan);
        }
    }
    g->what = skipped_nondet ? "only nondeterministic engines finalize"
                             : "no engine config finalizes";
    return NULL;
}

void lb_cudnn_execute(lb_ctx *ctx, lb_cudnn_desc plan, int n, const int64_t *uids, void **ptrs,
                      void *workspace)
{
    lb_cuda_state *cs = lb_cuda_state_of(ctx);
    lb_cudnn_desc vp = NULL;
    LB_CUDNN_CHECK(cudnnBackendCreateDescriptor(CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR, &vp));
    LB_CUDNN_CHECK(cudnnBackendSetAttribute(vp, CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS,
                                            CUDNN_TYPE_INT64, n, uids));
    LB_CUDNN_CHECK(cudnnBackendSetAttribute(vp, CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS,
                                            CUDNN_TYPE_VOID_PTR, n, ptrs));
    LB_CUDNN_CHECK(cudnnBackendSetAttribute(vp, CUDNN_ATTR_VARIANT_PACK_WORKSPACE,
                                            CUDNN_TYPE_VOID_PTR, 1, &workspace));
    LB_CUDNN_CHECK(cudnnBackendFinalize(vp));
    LB_CUDNN_CHECK(cudnnSetStream(cs->cudnn, cs->stream));
    LB_CUDNN_CHECK(cudnnBackendExecute(cs->cudnn, plan, vp));
    LB_CUDNN_CHECK(cudnnBackendDestroyDescriptor(vp));
    LB_CUDA_LAUNCH_CHECK(ctx);
}
