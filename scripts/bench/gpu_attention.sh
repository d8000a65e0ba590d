#!/bin/sh
# gpu_attention.sh [BUILD_DIR] — on a GPU host: builds test_gpu_attention
# (in BUILD_DIR, default build-gpu) and runs it with LOWBIT_BENCH=1: the
# CUDA-vs-CPU checks of both attention paths, then forward and backward
# times at the TinyLlama shape (B 4, T 2048, nh 32, nkv 4, hd 64). Uses the
# offline cJSON/PCRE2 under .offline/ when present. Log under $OUT if set.
set -e
cd "$(dirname "$0")/../.."
b=$(realpath -m "${1:-build-gpu}")
prefix=""
if [ -x .offline/unpack.sh ]; then
    prefix=$(sh .offline/unpack.sh /tmp/lowbit-offline)
    export LD_LIBRARY_PATH="$prefix/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
cmake -S . -B "$b" -DCMAKE_BUILD_TYPE=Release ${prefix:+-DCMAKE_PREFIX_PATH=$prefix} >/dev/null
log=${OUT:-/tmp}/gpu_attention.log
if ! cmake --build "$b" -j"$(nproc)" --target test_gpu_attention >"$log.build" 2>&1; then
    grep -E "error|Error" "$log.build" | head -40
    exit 1
fi
(cd tests && LOWBIT_BENCH=1 LOWBIT_CUDNN_DEBUG=1 "$b/test_gpu_attention") 2>&1 | tee "$log"
