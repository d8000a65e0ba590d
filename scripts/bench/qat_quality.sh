#!/usr/bin/env bash
# qat_quality.sh — the quality evidence of issue 4 in one command (for the
# GPU host; runs on the CPU too at a tiny scale, for checking the script).
#
#   bash scripts/bench/qat_quality.sh            (from anywhere)
#
# 1. builds lowbit (when $LOWBIT is not already a binary; CUDA on when a GPU
#    is present; cJSON/PCRE2 from .offline/ as gpu-check.sh does)
# 2. a corpus from the Python standard library of $PY (as demo.sh), split
#    and tokenized by `lowbit data` with the bundled byte-level BPE
#    tokenizer assets/tokenizers/code-8k
# 3. `lowbit init $CONFIG` (default llama-12m, ~12.6M parameters) and a
#    pretraining run with lowbit on $DEVICE: the base model
# 4. from the base model, the SAME fine-tuning tokens (seed, steps, batch,
#    lr, warmup, cosine schedule, AdamW) for every method:
#      fp        lowbit train, no quantizer (the reference of the deltas)
#      RTN       lowbit ptq --method rtn of the fp fine-tune (same tokens,
#                quantized after)
#      minmax    lowbit train --wq SPEC            (dynamic min-max, STE)
#      lsq       lowbit train --wq SPEC:lsq        (learned scales, default q-lr = lr)
#      lsq q-lr/10   the same with --q-lr lr/10
#      lsq+KD    lowbit train --wq SPEC:lsq --kd   (teacher: the base model; alpha 1)
#      lsq+KD .5 the same with --kd-alpha 0.5 (half KD, half cross-entropy)
#      torch     torch_qat_quality.py --wq SPEC    (torchao-style QAT in
#                PyTorch: dynamic min-max fake-quant of every block linear,
#                STE, bf16 autocast, lowbit's batch order and schedule)
#    for each SPEC of $SPECS (int4:g128 q4_0 int3:g128 int2:g64; q4_0 has
#    no lsq: its rows are ggml's fixed block formula, so minmax stands in
#    for lsq in the KD columns)
# 5. every model evaluated by ONE protocol (DESIGN §6, windows of $CTX of the
#    validation split, fp32): lowbit eval --model RUN_DIR --device
#    $EVAL_DEVICE for lowbit's, the peer's own replica for PyTorch's.
#    Cross-checks: the base model in both (must agree to 1e-3 relative),
#    and the peer's fake-quant of the fp fine-tune against lowbit's RTN of
#    it (the grids must agree: same ppl to 1e-3).
# 6. prints a Markdown table spec x method -> ppl (delta vs fp) and writes
#    it with the logs to $OUT (default /tmp/qat_quality).
#
# Knobs (env): DEVICE (cuda|cpu; default cuda when nvidia-smi sees a GPU),
# EVAL_DEVICE (cpu: the fp32 specification; cuda: bf16), CONFIG, CTX,
# PRE_STEPS PRE_BATCH PRE_LR PRE_WARMUP, FT_STEPS FT_BATCH FT_LR FT_WARMUP
# FT_SEED, KD_T (KD temperature), SPECS, EVAL_WINDOWS, CORPUS_FILES (0 = all),
# JOBS (runs at once), THREADS (CPU threads per process), PY, LOWBIT,
# LB_BUILD, WORK (scratch dir). A benchmark, not a test.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
OUT=${OUT:-/tmp/qat_quality}
WORK=${WORK:-${TMPDIR:-/tmp}/qat_quality_work}
PY=${PY:-python3}
gpu=0
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then gpu=1; fi
DEVICE=${DEVICE:-$([ $gpu = 1 ] && echo cuda || echo cpu)}
EVAL_DEVICE=${EVAL_DEVICE:-cpu}
CONFIG=${CONFIG:-llama-12m}
CTX=${CTX:-256}
PRE_STEPS=${PRE_STEPS:-5000}
PRE_BATCH=${PRE_BATCH:-32}
PRE_LR=${PRE_LR:-2e-3}
PRE_WARMUP=${PRE_WARMUP:-100}
FT_STEPS=${FT_STEPS:-500}
FT_BATCH=${FT_BATCH:-16}
FT_LR=${FT_LR:-1e-4}
FT_WARMUP=${FT_WARMUP:-20}
FT_SEED=${FT_SEED:-2}
KD_T=${KD_T:-1}
SPECS=${SPECS:-int4:g128 q4_0 int3:g128 int2:g64}
EVAL_WINDOWS=${EVAL_WINDOWS:-128}
CORPUS_FILES=${CORPUS_FILES:-0}
CORPUS_MB=${CORPUS_MB:-60}
PRE_SECONDS=${PRE_SECONDS:-$([ "$DEVICE" = cuda ] && echo 150 || echo 0)}
TOTAL_SECONDS=${TOTAL_SECONDS:-0}
NPROC=$(nproc)
JOBS=${JOBS:-$([ "$DEVICE" = cuda ] && echo 20 || echo 1)}
THREADS=${THREADS:-$([ "$DEVICE" = cuda ] && echo 1 || echo "$NPROC")}
EVAL_THREADS=${EVAL_THREADS:-$([ "$DEVICE" = cuda ] && echo 4 || echo "$NPROC")}
mkdir -p "$OUT" "$WORK/logs" "$WORK/res"
LOG=$OUT/qat_quality.log
exec > >(tee "$LOG") 2>&1
T_ALL=$(date +%s)
# left: seconds until the TOTAL_SECONDS deadline (a large number when unset)
left() { if [ "$TOTAL_SECONDS" -gt 0 ]; then echo $((T_ALL + TOTAL_SECONDS - $(date +%s))); else echo 100000; fi; }
say() { echo "[$(($(date +%s) - T_ALL))s] $*"; }

# ---- 1. lowbit ----------------------------------------------------------------------------
BUILD=${LB_BUILD:-build-qq}
case "$BUILD" in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
. "$ROOT/scripts/bench/offline_env.sh"
prefix_args=()
if [ $gpu = 1 ]; then lb_offline_env "$ROOT"; fi
LOWBIT=${LOWBIT:-$BUILD/lowbit}
if [ ! -x "$LOWBIT" ]; then
    say "building lowbit in $BUILD (CUDA $([ $gpu = 1 ] && echo ON || echo OFF))"
    { cmake -S "$ROOT" -B "$BUILD" "${prefix_args[@]}" -DCMAKE_BUILD_TYPE=Release \
          -DLOWBIT_CUDA=$([ $gpu = 1 ] && echo ON || echo OFF) &&
          cmake --build "$BUILD" --target lowbit -j"$NPROC"; } >"$WORK/logs/build.log" 2>&1 ||
        { tail -40 "$WORK/logs/build.log"; say "build failed"; exit 1; }
fi
say "lowbit: $LOWBIT; device $DEVICE; eval on $EVAL_DEVICE; python $($PY -c 'import sys, torch, transformers; print(sys.version.split()[0], "torch", torch.__version__, "transformers", transformers.__version__)')"
[ "$DEVICE" = cuda ] && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | sed 's/^/gpu: /'

# ---- 2. corpus and tokens --------------------------------------------------------------------
D=$WORK/data
mkdir -p "$D"
$PY - "$D/corpus.jsonl" "$CORPUS_FILES" "$CORPUS_MB" <<'PY'
import json, os, site, sys
dst, limit, max_mb = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
stdlib = os.path.dirname(os.__file__)
def walk(root, skip):
    out = []
    for d, _, names in os.walk(root):
        if any(k in d for k in skip):
            continue
        out += [os.path.join(d, n) for n in names if n.endswith(".py")]
    return sorted(out)
# the standard library (no tests), then the installed packages, each sorted
files = walk(stdlib, ("site-packages", "dist-packages", "test"))
roots = [p for p in site.getsitepackages() if os.path.isdir(p) and not p.startswith(stdlib + os.sep + "test")]
for r in roots:
    files += walk(r, ("/test", "/tests"))
if limit > 0:
    files = files[:limit]
n = size = 0
with open(dst, "w") as f:
    for p in files:
        if size >= max_mb * 1e6:
            break
        try:
            text = open(p, encoding="utf-8").read()
        except (UnicodeDecodeError, OSError):
            continue
        if not text.strip():
            continue
        f.write(json.dumps({"text": text}) + "\n")
        n += 1
        size += len(text)
print(f"corpus: {n} files, {size / 1e6:.1f} MB of Python from {stdlib} and {', '.join(roots)}")
PY
"$LOWBIT" data --input "$D/corpus.jsonl" --tokenizer "$ROOT/assets/tokenizers/code-8k" --out "$D/code.h5" \
    --val-fraction 0.02 --seed 0 --json >"$D/data.json" 2>"$WORK/logs/data.log" ||
    { cat "$WORK/logs/data.log"; exit 1; }
say "tokens: $(cat "$D/data.json")"

# ---- 3. base model ----------------------------------------------------------------------------
R=$WORK/runs
rm -rf "$R"
mkdir -p "$R"
"$LOWBIT" init --config "$CONFIG" --tokenizer "$ROOT/assets/tokenizers/code-8k" --out "$R/init" --seed 1 \
    >"$WORK/logs/init.log" 2>&1 || { cat "$WORK/logs/init.log"; exit 1; }
if [ "$PRE_SECONDS" -gt 0 ]; then
    # PRE_STEPS becomes a cap: as many steps as fit in PRE_SECONDS at the rate of a 40-step probe
    "$LOWBIT" train --model "$R/init" --data "$D/code.h5" --out "$R/probe" --steps 40 --batch "$PRE_BATCH" --ctx "$CTX" \
        --lr "$PRE_LR" --warmup 10 --eval-windows 0 --seed 1 --device "$DEVICE" --threads "$NPROC" --json \
        >"$WORK/res/probe.json" 2>"$WORK/logs/probe.log" || { tail -30 "$WORK/logs/probe.log"; exit 1; }
    # the step time of the steady state: the median of the probe's steps 11..40 (the
    # first steps pay the device's start-up, which the whole loop would overweight),
    # with 15% kept for the evaluations and start-up of the real run
    fit=$($PY - "$R/probe/metrics.jsonl" "$PRE_SECONDS" "$((PRE_BATCH * CTX))" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if '"tokens_per_s"' in l and '"eval"' not in l]
tps = statistics.median(r["tokens_per_s"] for r in rows[10:] or rows)
print(int(0.85 * float(sys.argv[2]) * tps / float(sys.argv[3])))
PY
)
    say "probe: $(cat "$WORK/res/probe.json"); $fit steps fit in ${PRE_SECONDS}s"
    [ "$fit" -lt "$PRE_STEPS" ] && PRE_STEPS=$fit
    rm -rf "$R/probe"
fi
say "pretraining $CONFIG: $PRE_STEPS steps of $PRE_BATCH x $CTX tokens, lr $PRE_LR on $DEVICE"
t0=$(date +%s)
"$LOWBIT" train --model "$R/init" --data "$D/code.h5" --out "$R/base" --steps "$PRE_STEPS" --batch "$PRE_BATCH" \
    --ctx "$CTX" --lr "$PRE_LR" --warmup "$PRE_WARMUP" --eval-windows 64 --eval-every $((PRE_STEPS / 4 > 0 ? PRE_STEPS / 4 : 1)) \
    --log-every 50 --seed 1 --device "$DEVICE" --threads "$NPROC" --json >"$WORK/res/pretrain.json" \
    2>"$WORK/logs/pretrain.log" || { tail -30 "$WORK/logs/pretrain.log"; say "pretraining failed"; exit 1; }
PRE_S=$(($(date +%s) - t0))
grep -E '^eval step' "$WORK/logs/pretrain.log" || true
say "pretrained in ${PRE_S}s: $(cat "$WORK/res/pretrain.json")"
BASE=$R/base/model

# ---- 4./5. the fine-tunes, each followed by its evaluation --------------------------------------
FT=(--data "$D/code.h5" --steps "$FT_STEPS" --batch "$FT_BATCH" --ctx "$CTX" --lr "$FT_LR" --warmup "$FT_WARMUP"
    --seed "$FT_SEED" --eval-windows 0 --log-every 25 --device "$DEVICE" --threads "$THREADS")
EV=(--data "$D/code.val.h5" --ctx "$CTX" --max-windows "$EVAL_WINDOWS" --batch 8 --device "$EVAL_DEVICE"
    --threads "$EVAL_THREADS" --json)
PEER=("$PY" "$HERE/torch_qat_quality.py" --val "$D/code.val.h5" --ctx "$CTX" --eval-windows "$EVAL_WINDOWS"
      --threads "$EVAL_THREADS")

# tl CMD...: CMD under a timeout that ends it 15 s before the TOTAL_SECONDS deadline
tl() {
    local l=$(($(left) - 15))
    [ $l -gt 1 ] || { echo "no time left for: $*"; return 124; }
    timeout $l "$@"
}
# lowbit_eval NAME RUN_DIR: res/NAME.json
lowbit_eval() { tl "$LOWBIT" eval --model "$2" "${EV[@]}" >"$WORK/res/$1.json"; }
# lowbit_qat NAME SPEC [FLAGS]: a fine-tune, then its eval
lowbit_qat() {
    local name=$1 spec=$2
    shift 2
    tl "$LOWBIT" train --model "$BASE" --out "$R/$name" "${FT[@]}" ${spec:+--wq "$spec"} "$@" && lowbit_eval "$name" "$R/$name"
}
# fp_chain: the fp fine-tune, then RTN of it for every spec, and the peer's
# fake-quant of it (the grid cross-check)
fp_chain() {
    lowbit_qat fp "" || return 1
    for spec in $SPECS; do
        local k=${spec//:/_}
        tl "$LOWBIT" ptq --method rtn --wq "$spec" --model "$R/fp/model" --out "$R/rtn_$k" >/dev/null &&
            lowbit_eval "rtn_$k" "$R/rtn_$k" || return 1
        tl "${PEER[@]}" --model "$R/fp/model" --wq "$spec" --steps 0 --device "$DEVICE" \
            --json-out "$WORK/res/torchrtn_$k.json" >/dev/null || echo "peer fake-quant of fp failed: $spec"
    done
}
torch_qat() {
    local k=${1//:/_}
    tl "${PEER[@]}" --model "$BASE" --data "$D/code.h5" --wq "$1" --steps "$FT_STEPS" --batch "$FT_BATCH" --lr "$FT_LR" \
        --warmup "$FT_WARMUP" --seed "$FT_SEED" --device "$DEVICE" --json-out "$WORK/res/torch_$k.json" >/dev/null
}
# lsq_spec SPEC: the learned-scale variant of SPEC, or "" where the grid has none (ggml presets)
lsq_spec() { case "$1" in int*) echo "$1:lsq" ;; *) echo "" ;; esac; }

# job NAME CMD...: runs CMD in the background (at most $JOBS at once), log in logs/NAME.log
job() {
    local name=$1
    shift
    while [ "$(running)" -ge "$JOBS" ]; do sleep 1; done
    ( t0=$(date +%s); "$@" >"$WORK/logs/$name.log" 2>&1; rc=$?
      echo "$rc $(($(date +%s) - t0))" >"$WORK/logs/$name.rc" ) &
    PIDS+=($!)
}
# running: how many of the jobs are still running (not `jobs`/`wait`: bash
# counts the tee of the log among them and would wait for it forever)
PIDS=()
running() {
    local n=0 p
    for p in "${PIDS[@]}"; do kill -0 "$p" 2>/dev/null && n=$((n + 1)); done
    echo $n
}

say "fine-tuning: $FT_STEPS steps of $FT_BATCH x $CTX tokens, lr $FT_LR, warmup $FT_WARMUP, cosine, seed $FT_SEED; $JOBS at once"
t0=$(date +%s)
job base_eval lowbit_eval base "$BASE"
job base_torch tl "${PEER[@]}" --model "$BASE" --steps 0 --device "$DEVICE" --json-out "$WORK/res/torch_base.json"
job fp fp_chain
for spec in $SPECS; do
    k=${spec//:/_}
    job "torch_$k" torch_qat "$spec"
    job "minmax_$k" lowbit_qat "minmax_$k" "$spec"
    ls=$(lsq_spec "$spec")
    if [ -n "$ls" ]; then
        job "lsq_$k" lowbit_qat "lsq_$k" "$ls"
        job "lsqkd_$k" lowbit_qat "lsqkd_$k" "$ls" --kd --kd-temperature "$KD_T"
        job "lsqkd5_$k" lowbit_qat "lsqkd5_$k" "$ls" --kd --kd-temperature "$KD_T" --kd-alpha 0.5
        job "lsqlr_$k" lowbit_qat "lsqlr_$k" "$ls" --q-lr "$($PY -c "print($FT_LR / 10)")"
    else
        job "lsqkd_$k" lowbit_qat "lsqkd_$k" "$spec" --kd --kd-temperature "$KD_T"
        job "lsqkd5_$k" lowbit_qat "lsqkd5_$k" "$spec" --kd --kd-temperature "$KD_T" --kd-alpha 0.5
    fi
done
for p in "${PIDS[@]}"; do wait "$p"; done
FT_S=$(($(date +%s) - t0))
say "fine-tunes and evals done in ${FT_S}s"
for f in "$WORK"/logs/*.rc; do
    read -r rc secs <"$f"
    n=$(basename "$f" .rc)
    printf '  %-22s rc %s  %5ss\n' "$n" "$rc" "$secs"
    [ "$rc" = 0 ] || { echo "---- $n.log (last 15 lines)"; tail -15 "$WORK/logs/$n.log"; }
done

# ---- 6. the table -------------------------------------------------------------------------------
$PY - "$WORK/res" "$OUT/qat_quality_table.md" "$SPECS" "$R" <<PY
import json, os, sys
res, dst, specs, runs = sys.argv[1], sys.argv[2], sys.argv[3].split(), sys.argv[4]
def ppl(name):
    p = os.path.join(res, name + ".json")
    try:
        return json.load(open(p))["ppl"]
    except (OSError, ValueError, KeyError):
        return None
def cell(p, ref):
    if p is None: return "—"
    return "%.3f" % p if ref is None else "%.3f (%+.3f)" % (p, p - ref)
lines = []
P = lambda s: lines.append(s)
base, tbase, fp = ppl("base"), ppl("torch_base"), ppl("fp")
P("Setup: $CONFIG pretrained by lowbit for $PRE_STEPS steps of $PRE_BATCH x $CTX tokens on $DEVICE (${PRE_S}s); every "
  "fine-tune: $FT_STEPS steps of $FT_BATCH x $CTX tokens, lr $FT_LR, warmup $FT_WARMUP, cosine to lr/10, AdamW "
  "(0.9, 0.999, wd 0.01), clip 1, seed $FT_SEED (the same windows in the same order for every method). "
  "Validation: $EVAL_WINDOWS windows of $CTX tokens, fp32 (lowbit eval on $EVAL_DEVICE; the PyTorch peer in fp32).")
P("")
ok = lambda a, b: a is not None and b is not None and abs(a - b) <= 1e-3 * b
P("Cross-check, base model: lowbit %s, PyTorch %s -> %s" % (cell(base, None), cell(tbase, None),
  "agree (|d| <= 1e-3 rel)" if ok(base, tbase) else "DISAGREE"))
for s in specs:
    k = s.replace(":", "_")
    a, b = ppl("rtn_" + k), ppl("torchrtn_" + k)
    P("Cross-check, %s grid on the fp fine-tune: lowbit RTN %s, PyTorch fake-quant %s -> %s" % (
      s, cell(a, None), cell(b, None), "agree" if ok(a, b) else "DISAGREE"))
P("")
P("Validation ppl (delta vs the fp fine-tune, %s); base model before fine-tuning: %s" % (cell(fp, None), cell(base, None)))
P("")
P("| spec | RTN (of fp ft) | QAT minmax | QAT lsq | QAT lsq, q-lr/10 | QAT lsq + KD | QAT lsq + KD, alpha 0.5 | PyTorch QAT (torchao-style) | best lowbit QAT vs PyTorch |")
P("|---|---|---|---|---|---|---|---|---|")
for s in specs:
    k = s.replace(":", "_")
    r = {m: ppl(m + "_" + k) for m in ("rtn", "minmax", "lsq", "lsqlr", "lsqkd", "lsqkd5", "torch")}
    fixed = not s.startswith("int")
    qat = {m: r[m] for m in ("minmax", "lsq", "lsqlr", "lsqkd", "lsqkd5") if r[m] is not None}
    best = min(qat, key=qat.get) if qat else None
    cells = [cell(r["rtn"], fp), cell(r["minmax"], fp)]
    cells += ["n/a (fixed ggml grid)"] * 2 if fixed else [cell(r["lsq"], fp), cell(r["lsqlr"], fp)]
    cells += [cell(r[m], fp) + (" (minmax)" if fixed and r[m] is not None else "") for m in ("lsqkd", "lsqkd5")]
    cells.append(cell(r["torch"], fp))
    cmp = "—"
    if best is not None and r["torch"] is not None and fp is not None:
        cmp = "%s: %+.3f vs %+.3f" % (best, qat[best] - fp, r["torch"] - fp)
    P("| %s | %s | %s |" % (s, " | ".join(cells), cmp))
P("")
P("Columns: lowbit QAT runs unless named PyTorch; minmax = dynamic min-max scales as torchao; lsq = learned scales "
  "(init by the MSE clip search), q-lr = lr (lowbit's default) or lr/10; KD = distillation from the base model "
  "(temperature $KD_T), alpha 1 (KD only) or 0.5 (half cross-entropy).")
def mem(name):
    try:
        rows = [json.loads(l) for l in open(os.path.join(runs, name, "metrics.jsonl")) if '"gpu_mb"' in l]
        return max(r["gpu_mb"] for r in rows) if rows else None
    except (OSError, ValueError, KeyError):
        return None
k0 = specs[0].replace(":", "_")
a, b = mem("lsq_" + k0), mem("lsqkd_" + k0)
if a and b:
    P("")
    P("KD teacher on the GPU (%s, largest gpu_mb of metrics.jsonl: plan + pool): lsq %.1f MiB, lsq + KD %.1f MiB "
      "(+%.1f MiB)" % (specs[0], a, b, b - a))
text = "\n".join(lines) + "\n"
open(dst, "w").write(text)
print(text)
PY
# the raw results, one file
(cd "$WORK/res" && for f in *.json; do printf '%s\t%s\n' "${f%.json}" "$(tr -d '\n' <"$f")"; done) >"$OUT/qat_quality_results.tsv"
tar -czf "$OUT/qat_quality_logs.tgz" -C "$WORK" logs res 2>/dev/null
say "done in $(($(date +%s) - T_ALL))s; table in $OUT/qat_quality_table.md"
