/* cudnn_graph.h — a small builder for cuDNN backend-API operation graphs,
 * private to kernels/cuda (C++; the .cu files that build fused cuDNN graphs).
 *
 * One lb_cudnn_graph holds every descriptor made while building one graph
 * (tensors, ops, the operation graph, heuristics, engine configs); they are
 * destroyed together by lb_cudnn_graph_free. A descriptor cuDNN refuses to
 * take or finalize does not abort: the first refusal is recorded (err,
 * what) and later calls do nothing, so a graph this cuDNN or this GPU does
 * not support ends with a NULL plan and the caller falls back. Running out
 * of descriptor slots is a programming error (aborts).
 *
 * Not here: which graph to build (attention_cudnn.cu), plan caching.
 */
#ifndef LB_KERNELS_CUDA_CUDNN_GRAPH_H
#define LB_KERNELS_CUDA_CUDNN_GRAPH_H

#include <stdbool.h>
#include <stdint.h>

#include "kernels/cuda/cuda_state.h"

typedef cudnnBackendDescriptor_t lb_cudnn_desc;

#define LB_CUDNN_GRAPH_MAX 160

typedef struct lb_cudnn_graph {
    lb_cudnn_desc d[LB_CUDNN_GRAPH_MAX];
    int n;
    cudnnStatus_t err;          /* first refusal, CUDNN_STATUS_SUCCESS if none */
    const char *what;           /* what was refused */
    int64_t next_uid;           /* uid of the next virtual tensor */
} lb_cudnn_graph;

/* lb_cudnn_graph_init: an empty builder whose virtual tensors get uids
 * from first_virtual_uid up. */
void lb_cudnn_graph_init(lb_cudnn_graph *g, int64_t first_virtual_uid);

/* lb_cudnn_graph_free: destroys every descriptor of g (newest first). */
void lb_cudnn_graph_free(lb_cudnn_graph *g);

/* lb_cudnn_tensor: a 4-d tensor; uid < 0 makes a virtual one (next virtual
 * uid); by_value: a scalar passed by host pointer in the variant pack. */
lb_cudnn_desc lb_cudnn_tensor(lb_cudnn_graph *g, int64_t uid, cudnnDataType_t dt,
                              const int64_t dim[4], const int64_t str[4], bool by_value);

/* lb_cudnn_pointwise: y = mode(x[, b[, t]]) computed in prec; axis >= 0
 * for GEN_INDEX. */
lb_cudnn_desc lb_cudnn_pointwise(lb_cudnn_graph *g, cudnnPointwiseMode_t mode,
                                 cudnnDataType_t prec, lb_cudnn_desc x, lb_cudnn_desc b,
                                 lb_cudnn_desc t, lb_cudnn_desc y, int64_t axis);

/* lb_cudnn_matmul: c = a @ b (batched over the leading dims, broadcasting
 * a head dim of 1 or a divisor), fp32 compute. */
lb_cudnn_desc lb_cudnn_matmul(lb_cudnn_graph *g, lb_cudnn_desc a, lb_cudnn_desc b, lb_cudnn_desc c);

/* lb_cudnn_reduction: y = reduce(x) over the dims where y has fewer
 * elements, fp32 compute. */
lb_cudnn_desc lb_cudnn_reduction(lb_cudnn_graph *g, cudnnReduceTensorOp_t mode, lb_cudnn_desc x,
                                 lb_cudnn_desc y);

/* lb_cudnn_reshape: y is x seen with other dims/strides (a transpose). */
lb_cudnn_desc lb_cudnn_reshape(lb_cudnn_graph *g, lb_cudnn_desc x, lb_cudnn_desc y);

/* lb_cudnn_plan: finalizes the operation graph of the n ops on handle h
 * and returns the execution plan of the first engine config (heuristics
 * mode A, then fallback) that finalizes, skipping engines with the
 * NONDETERMINISTIC numerical note when `deterministic`; NULL when none
 * (g->what says why). *ws: its workspace bytes; *engine: its global engine
 * index. The plan is not part of g: destroy it with
 * cudnnBackendDestroyDescriptor (before g). */
lb_cudnn_desc lb_cudnn_plan(lb_cudnn_graph *g, cudnnHandle_t h, lb_cudnn_desc *ops, int n,
                            bool deterministic, int64_t *ws, int64_t *engine);

/* lb_cudnn_execute: runs plan on ctx's stream with the n (uid, pointer)
 * pairs and the workspace. Aborts on failure. */
void lb_cudnn_execute(lb_ctx *ctx, lb_cudnn_desc plan, int n, const int64_t *uids, void **ptrs,
                      void *workspace);

#endif
