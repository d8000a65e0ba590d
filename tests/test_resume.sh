#!/bin/bash
# test_resume.sh — a training run killed with SIGKILL mid-way and resumed
# computes exactly what an uninterrupted run computes: bit-identical losses
# for every step (the data order, RNG, optimizer state and step come back
# from the checkpoint), and the same final weights. Also: resuming with a
# flag that changes the run's meaning is refused, naming the flag.
#
# Env: LOWBIT, LB_SRC, LB_TMP.
set -u
. "$LB_SRC/tests/lib.sh"
lb_test_dir resume

# a tiny model and a few Python files of this repository as data
lb_test_model llama-tiny "$T/m"
lb_test_corpus 8 "train on"
lb_test_data "$T/m" 0.2

ARGS=(--model "$T/m" --data "$T/d.h5" --steps 30 --batch 4 --micro-batch 2 --ctx 32 --lr 2e-3 --warmup 3
      --eval-windows 2 --device cpu --seed 7)

# run A: uninterrupted
"$LOWBIT" train "${ARGS[@]}" --out "$T/A" > "$T/A.out" 2> "$T/A.err" || { cat "$T/A.err"; fail "run A"; }

# run B: checkpoints every 5 steps, SIGKILL once 12 steps are logged
"$LOWBIT" train "${ARGS[@]}" --out "$T/B" --save-every 5 > "$T/B1.out" 2> "$T/B1.err" &
pid=$!
for _ in $(seq 1 1200); do
    n=$(grep -c '"loss"' "$T/B/metrics.jsonl" 2> /dev/null || true)
    [ "${n:-0}" -ge 12 ] && break
    kill -0 $pid 2> /dev/null || break
    sleep 0.05
done
kill -9 $pid 2> /dev/null || fail "run B ended before it could be killed (make the steps slower)"
wait $pid 2> /dev/null
logged=$(grep -c '"loss"' "$T/B/metrics.jsonl")
[ "$logged" -lt 30 ] || fail "run B finished before the kill"
ls "$T/B"/ckpt-*.h5 > /dev/null 2>&1 || fail "no checkpoint before the kill"
[ -e "$T/B/model" ] && fail "a killed run has a final model"

# resume: only --out and --resume; everything else comes from B/config.json
"$LOWBIT" train --out "$T/B" --resume --device cpu > "$T/B2.out" 2> "$T/B2.err" || { cat "$T/B2.err"; fail "resume"; }
from=$(sed -nE 's/.*resumed from .*ckpt-([0-9]+)\.h5.*/\1/p' "$T/B2.err")
[ -n "$from" ] && [ "$from" -gt 0 ] || { cat "$T/B2.err"; fail "did not resume from a checkpoint"; }
echo "killed after $logged logged steps, resumed from step $from"

lb_losses "$T/A/metrics.jsonl" > "$T/A.loss"
lb_losses "$T/B/metrics.jsonl" > "$T/B.loss"
[ "$(wc -l < "$T/A.loss")" -eq 30 ] || fail "run A logged $(wc -l < "$T/A.loss") steps, not 30"
diff "$T/A.loss" "$T/B.loss" > "$T/diff.txt" || { head -20 "$T/diff.txt"; fail "losses differ after the resume"; }
cmp -s "$T/A/model/model.safetensors" "$T/B/model/model.safetensors" || fail "final weights differ"
grep -q '"eval"' "$T/B/metrics.jsonl" || fail "no eval line after the resume"

# a resume may not change the run's meaning
if "$LOWBIT" train --out "$T/B" --resume --lr 0.5 > /dev/null 2> "$T/err.txt"; then fail "resume with another --lr"; fi
grep -q -- "--lr" "$T/err.txt" || { cat "$T/err.txt"; fail "the error does not name --lr"; }
grep -q "^lowbit: error: " "$T/err.txt" || fail "no 'lowbit: error:' line"
# nor may a new run overwrite an existing one
if "$LOWBIT" train "${ARGS[@]}" --out "$T/A" > /dev/null 2> "$T/err.txt"; then fail "train over an existing run"; fi
grep -q "already holds a run" "$T/err.txt" || { cat "$T/err.txt"; fail "no 'already holds a run' message"; }
# resuming a finished run changes nothing
sum=$(cksum < "$T/A/model/model.safetensors")
"$LOWBIT" train --out "$T/A" --resume --device cpu > /dev/null 2> "$T/err.txt" || { cat "$T/err.txt"; fail "resume of a finished run"; }
[ "$(cksum < "$T/A/model/model.safetensors")" = "$sum" ] || fail "resuming a finished run changed its model"
echo "ok"
