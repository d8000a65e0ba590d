#!/usr/bin/env bash
# gpu_gemm.sh — TFLOP/s of the CUDA linear forward (cuBLASLt, bf16 in/out,
# fp32 accumulation) at a 1B-class Llama's shapes, with and without the
# fused bias: CUDA events, median of 20 after 5 warm-ups (test_gpu_gemm
# --bench). Run by scripts/gpu-check.sh; LB_BUILD names the build dir.
set -euo pipefail
cd "$(dirname "$0")/../.."
"${LB_BUILD:-build-gpu}"/test_gpu_gemm --bench
