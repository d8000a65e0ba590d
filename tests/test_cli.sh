#!/usr/bin/env bash
# test_cli.sh — the command line's own contract: help, unknown commands and
# flags, bad values, --config files. Every failure exits 1 with
# "lowbit: error: ..." naming the problem.
set -u
: "${LOWBIT:?}" "${LB_TMP:=/tmp/lowbit-test}"
tmp=$LB_TMP/cli
rm -rf "$tmp" && mkdir -p "$tmp"
fails=0 passes=0

# expect_fail NAME PATTERN CMD...: exit status 1 and stderr matching PATTERN
expect_fail() {
  local name=$1 pat=$2; shift 2
  local err rc
  err=$("$@" 2>&1 >/dev/null); rc=$?
  if [ $rc -ne 1 ] || ! grep -qE -- "$pat" <<<"$err"; then
    echo "FAIL $name: rc=$rc stderr: $err"; fails=$((fails + 1))
  else
    passes=$((passes + 1))
  fi
}
expect_ok() {
  local name=$1 pat=$2; shift 2
  local out rc
  out=$("$@" 2>&1); rc=$?
  if [ $rc -ne 0 ] || ! grep -qE -- "$pat" <<<"$out"; then
    echo "FAIL $name: rc=$rc output: $out"; fails=$((fails + 1))
  else
    passes=$((passes + 1))
  fi
}

expect_fail no-command "usage: lowbit" "$LOWBIT"
expect_fail unknown-command "unknown command 'frobnicate'" "$LOWBIT" frobnicate
expect_fail help-unknown "unknown command 'nope'" "$LOWBIT" help nope
expect_ok help "commands:" "$LOWBIT" help
expect_ok help-eval "--max-windows" "$LOWBIT" help eval
expect_ok eval-dash-help "--ctx" "$LOWBIT" eval --help
expect_fail unknown-flag "unknown flag '--bogus'" "$LOWBIT" eval --bogus 1
expect_fail missing-value "--ctx needs an integer" "$LOWBIT" eval --ctx
expect_fail bad-int "--ctx expects an integer, got '12x'" "$LOWBIT" eval --ctx 12x
expect_fail bad-int-eq "--ctx expects an integer, got 'abc'" "$LOWBIT" eval --ctx=abc
expect_fail positional "unexpected argument 'stray'" "$LOWBIT" generate stray
expect_fail missing-model "--model" "$LOWBIT" eval --data "$tmp/x.h5"
expect_fail model-not-found "no such file or directory" "$LOWBIT" eval --model "$tmp/none" --data "$tmp/x.h5"
expect_fail data-kind "expected a .h5, .jsonl or .txt" "$LOWBIT" eval --model "$tmp" --data "$tmp/x.csv"
expect_fail bad-device "--device must be cpu, cuda or auto" "$LOWBIT" generate --model "$tmp" --prompt hi --device tpu

echo '{"ctx": 64, "bogus": 1}' >"$tmp/bad-key.json"
expect_fail config-unknown-key "unknown key 'bogus'" "$LOWBIT" eval --config "$tmp/bad-key.json"
echo '{"ctx": ' >"$tmp/bad.json"
expect_fail config-bad-json "not a JSON object" "$LOWBIT" eval --config "$tmp/bad.json"
expect_fail config-missing "cannot open" "$LOWBIT" eval --config "$tmp/missing.json"
echo '{"ctx": "x"}' >"$tmp/bad-type.json"
expect_fail config-bad-type "expects an integer" "$LOWBIT" eval --config "$tmp/bad-type.json"

echo "$passes passed, $fails failed"
[ $fails -eq 0 ]
