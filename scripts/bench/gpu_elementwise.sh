#!/usr/bin/env bash
# gpu_elementwise.sh — bandwidth of the CUDA elementwise kernels against the
# copy ceiling (gpu_elementwise.c), on a built tree (LB_BUILD, default
# build-gpu; scripts/gpu-check.sh builds it). Prints a table; asserts nothing.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${LB_BUILD:-build-gpu}
cuda=${CUDA_HOME:-/usr/local/cuda}
work=${OUT:-out}/bench-gpu-elementwise
mkdir -p "$work"
# only the autograd and kernel objects are pulled from the static library,
# so CUDA, cuDNN, OpenMP and libm are all it needs
cc -O2 -std=gnu17 -fopenmp -I. -I"$cuda/include" -DLB_HAVE_CUDA=1 \
    -o "$work/gpu_elementwise" scripts/bench/gpu_elementwise.c "$build/liblowbit.a" \
    -L"$cuda/lib64" -L"$cuda/lib" -lcudnn -lcublasLt -lcublas -lcudart -lstdc++ -lm
"$work/gpu_elementwise"
