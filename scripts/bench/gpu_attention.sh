#!/bin/sh
# gpu_attention.sh [BUILD_DIR] — on a GPU host: builds test_gpu_attention and
# test_gpu_attention_op (in BUILD_DIR, default build-gpu) and runs them: the
# op-level test (lb_attention + lb_backward vs the CPU op on the cuDNN, plain
# and deterministic paths), then the kernel checks of every path and, with
# LOWBIT_BENCH=1, forward and backward times at B 4, T 2048 (nh 32/4 hd 64,
# nh 16/16 hd 128). Uses the offline cJSON/PCRE2 under .offline/ when
# present. Logs under $OUT if set; LOWBIT_CUDNN_DEBUG=1 says which cuDNN
# engine each shape got.
set -e
cd "$(dirname "$0")/../.."
b=$(realpath -m "${1:-build-gpu}")
prefix=""
if [ -x .offline/unpack.sh ]; then
    prefix=$(sh .offline/unpack.sh /tmp/lowbit-offline)
    export LD_LIBRARY_PATH="$prefix/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
cmake -S . -B "$b" -DCMAKE_BUILD_TYPE=Release ${prefix:+-DCMAKE_PREFIX_PATH=$prefix} >/dev/null
log=${OUT:-/tmp}/gpu_attention
if ! cmake --build "$b" -j"$(nproc)" --target test_gpu_attention test_gpu_attention_op \
        >"$log.build.log" 2>&1; then
    grep -E "error|Error" "$log.build.log" | head -40
    exit 1
fi
rc=0
(cd tests && LOWBIT_CUDNN_DEBUG=1 "$b/test_gpu_attention_op") >"$log.op.log" 2>&1 || rc=1
(cd tests && LOWBIT_BENCH=1 LOWBIT_CUDNN_DEBUG=1 "$b/test_gpu_attention") >"$log.kernels.log" 2>&1 || rc=1
cat "$log.op.log" "$log.kernels.log"
exit $rc
