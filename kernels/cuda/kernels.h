/* kernels.h — the CUDA kernels, callable from C: one section per op family,
 * mirroring kernels/cpu/kernels.h (same family files, same names with
 * lb_cuda_ for lb_cpu_ and the context first).
 *
 * Contract of every function here (write it again for each new kernel):
 *   - arguments are raw device pointers and sizes, then the dtypes of the
 *     pointers; a kernel supports f32 and bf16 unless it says otherwise, and
 *     computes in fp32 registers (bf16 loads/stores, fp32 accumulation);
 *   - work is queued on the context's stream; nothing here synchronizes or
 *     allocates memory that outlives the call (scratch is stream-ordered);
 *   - each says whether it OVERWRITES its output or ACCUMULATES (+=) into
 *     it: forward kernels overwrite, backward kernels accumulate into the
 *     input grads (the tape's contract); a NULL grad pointer is skipped;
 *   - results are deterministic: reductions have a fixed order (no float
 *     atomics), so a rerun on the same GPU gives the same bits.
 * The op layer (autograd/ops_*.c) checks shapes, devices and dtypes before
 * calling; nothing is checked here beyond the dtype switch.
 *
 * Without LB_HAVE_CUDA each function is a stub that aborts: ops only call
 * them for CUDA tensors, which such a build cannot make.
 *
 * The declarations live in one header per family (<family>_k.h), all
 * included here; a new family adds its header to this list.
 */
#ifndef LB_KERNELS_CUDA_KERNELS_H
#define LB_KERNELS_CUDA_KERNELS_H

#include "kernels/cuda/elementwise_k.h"
#include "kernels/cuda/gemm_k.h"
#include "kernels/cuda/adamw_k.h"
#include "kernels/cuda/attention_k.h"
#include "kernels/cuda/rows_k.h"
#include "kernels/cuda/quant_k.h"
#include "kernels/cuda/kd_k.h"
#include "kernels/cuda/packed_gptq_k.h"

#endif
