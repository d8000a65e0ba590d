#!/bin/bash
# test_recompute_cli.sh — `--recompute blocks` through the CLI on the CPU:
# `lowbit train` for 3 steps with and without it (a tiny Llama plain, with
# QAT int4:g32:lsq, with QAT + KD and with statically calibrated int8
# activations; a tiny GPT-2 plain) logs identical losses and writes
# bit-identical final weights (the CPU path is exact: the same ops run in
# the same order, test_recompute.c); the setting is resolved into
# config.json, may change on --resume (it does not change what the run
# computes) and a bad value is an error naming the flag; `lowbit bench`
# takes the flag too, reports it and gives the same losses.
#
# Env: LOWBIT, LB_SRC, LB_TMP.
set -u
. "$LB_SRC/tests/lib.sh"
lb_test_dir recompute_cli

for arch in llama gpt2; do
    lb_test_model "$arch-tiny" "$T/$arch"
done
lb_test_corpus 4 "train on"
lb_test_data "$T/llama" 0

losses() { lb_losses "$1/metrics.jsonl"; }
for run in "llama fp" "llama lsq" "llama kd" "llama static" "gpt2 fp"; do
    set -- $run
    arch=$1 kind=$2
    extra=()
    [ "$kind" = lsq ] && extra=(--wq int4:g32:lsq)
    [ "$kind" = kd ] && extra=(--wq int4:g32 --kd --kd-alpha 0.5)   # the teacher's forward is not recorded
    [ "$kind" = static ] && extra=(--wq int4:g32 --aq int8:tensor:static --calib-batches 2)   # calibrated once
    for rc in none blocks; do
        out="$T/$arch-$kind-$rc"
        "$LOWBIT" train --model "$T/$arch" --data "$T/d.h5" --val "" --steps 3 --batch 4 --micro-batch 2 --ctx 32 \
            --lr 3e-3 --eval-windows 0 --device cpu --recompute $rc "${extra[@]}" --out "$out" > /dev/null \
            2> "$out.err" || { cat "$out.err"; fail "train $arch $kind --recompute $rc"; }
        grep -Eq "\"recompute\":[[:space:]]*\"$rc\"" "$out/config.json" || fail "$out/config.json lacks \"recompute\": \"$rc\""
    done
    a=$(losses "$T/$arch-$kind-none")
    b=$(losses "$T/$arch-$kind-blocks")
    [ "$(echo "$a" | wc -l)" -eq 3 ] || fail "$arch $kind: expected 3 logged steps, got: $a"
    [ "$a" = "$b" ] || fail "$arch $kind: losses differ: none: $a; blocks: $b"
    cmp -s "$T/$arch-$kind-none/model/model.safetensors" "$T/$arch-$kind-blocks/model/model.safetensors" ||
        fail "$arch $kind: the final weights differ with --recompute blocks"
    if [ "$kind" = lsq ] || [ "$kind" = static ]; then
        cmp -s "$T/$arch-$kind-none/quant_state.safetensors" "$T/$arch-$kind-blocks/quant_state.safetensors" ||
            fail "$arch $kind: the learned quantizer state differs with --recompute blocks"
    fi
    echo "$arch $kind: 3 steps, losses $(echo $a | tr '\n' ' ')identical, final weights identical"
done

# resume with the other setting: allowed, and the run goes on
"$LOWBIT" train --out "$T/llama-fp-none" --resume --steps 3 --recompute blocks --device cpu > /dev/null 2> "$T/resume.err" ||
    { cat "$T/resume.err"; fail "--resume with a different --recompute was refused"; }

# errors
if "$LOWBIT" train --model "$T/llama" --data "$T/d.h5" --out "$T/bad" --recompute layers --device cpu \
    > /dev/null 2> "$T/bad.err"; then fail "--recompute layers was accepted"; fi
grep -q "lowbit: error: .*--recompute must be none or blocks, got 'layers'" "$T/bad.err" ||
    { cat "$T/bad.err"; fail "bad --recompute: message"; }
if "$LOWBIT" bench --config llama-tiny --recompute all --device cpu > /dev/null 2> "$T/bbad.err"; then
    fail "bench --recompute all was accepted"
fi
grep -q "recompute must be none or blocks" "$T/bbad.err" || { cat "$T/bbad.err"; fail "bench bad --recompute: message"; }

# bench: same losses, the setting in its JSON
for rc in none blocks; do
    "$LOWBIT" bench --config llama-tiny --batch 2 --ctx 32 --steps 2 --warmup 1 --device cpu --recompute $rc --json \
        > "$T/bench-$rc.json" 2> "$T/bench-$rc.err" || { cat "$T/bench-$rc.err"; fail "bench --recompute $rc"; }
    grep -q "\"recompute\":\"$rc\"" "$T/bench-$rc.json" || fail "bench JSON lacks recompute $rc"
done
la=$(sed -E 's/.*("loss_first":[^,]*,"loss_last":[^,}]*).*/\1/' "$T/bench-none.json")
lb=$(sed -E 's/.*("loss_first":[^,]*,"loss_last":[^,}]*).*/\1/' "$T/bench-blocks.json")
[ -n "$la" ] && [ "$la" = "$lb" ] || fail "bench losses differ: none $la, blocks $lb"
echo "bench: $la with either setting"
echo "PASS"
