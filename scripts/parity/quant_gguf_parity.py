#!/usr/bin/env python3
"""quant_gguf_parity.py — lowbit's quantizers against their reference implementations.

1. llama.cpp presets: for q4_0 q4_1 q5_0 q5_1 q8_0, the block bytes lowbit packs and its
   fake-quant forward must equal, bit for bit, `gguf.quants.quantize` and
   `gguf.quants.dequantize` of the gguf package (llama.cpp's own numpy reference).
2. int<b> min-max specs: the fake-quant forward must equal a numpy float32 implementation of
   the GPTQ / torchao min-max formula with lowbit's documented conventions (quant/grid.h):
   fp16-rounded scales clamped to [2^-24, 65504], zero from the rounded scale, round half to
   even, all-zero groups as xmin = -1, xmax = +1.

Usage: quant_gguf_parity.py DUMP_BINARY WORKDIR   (DUMP_BINARY is test_quant_ggml, run with
--dump). Prints one line per format with the count of compared values and mismatches, and exits
non-zero on any mismatch.
"""
import os
import subprocess
import sys

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf.quants import dequantize, quantize

F32 = np.float32
PRESETS = {"q4_0": T.Q4_0, "q4_1": T.Q4_1, "q5_0": T.Q5_0, "q5_1": T.Q5_1, "q8_0": T.Q8_0}
INT_SPECS = [
    "int2:g32:sym:minmax:f16", "int2:g32:asym:minmax:f16", "int3:g64:sym:minmax:f16",
    "int3:ch:asym:minmax:f16", "int4:g128:asym:minmax:f16", "int4:g128:sym:minmax:f16",
    "int4:g32:asym:minmax:f16", "int4:ch:sym:minmax:f16", "int4:tensor:asym:minmax:f16",
    "int5:g64:asym:minmax:f16", "int6:g32:sym:minmax:f16", "int7:ch:asym:minmax:f16",
    "int8:g128:sym:minmax:f16", "int8:tensor:sym:minmax:f16", "int8:g32:asym:minmax:f32",
    "int4:g64:sym:minmax:f32",
]


def adversarial(rows, cols, seed):
    """Rows of random and adversarial blocks of 32 (ties, all-zero, subnormal, huge, ...)."""
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((rows, cols)).astype(F32) * F32(0.02)
    nb = cols // 32
    for r in range(rows):
        kind = r % 16
        x = w[r].reshape(nb, 32)
        if kind == 1:    # all-zero blocks, and one all-zero row half
            x[::2] = 0
        elif kind == 2:  # q8_0 ties: amax 127 -> d = 1, values at k + 0.5
            x[:] = rng.integers(-126, 126, x.shape).astype(F32) + F32(0.5)
            x[:, 0] = 127
        elif kind == 3:  # q4_0 ties: max -8 -> d = 1, x * id + 8.5 integral
            x[:] = rng.integers(-7, 8, x.shape).astype(F32) + F32(0.5)
            x[:, 0] = -8
        elif kind == 4:  # subnormal and tiny
            x[:] = rng.standard_normal(x.shape).astype(F32) * F32(1e-40)
            x[1::2] *= F32(1e10)
        elif kind == 5:  # huge: the fp16 scale overflows
            x[:, 3] = F32(1e30)
            x[1::2, 5] = F32(-3e38)
        elif kind == 6:  # +-max of equal magnitude: the first one wins
            x[:, 0] = F32(0.5)
            x[:, 7] = F32(-0.5)
        elif kind == 7:  # constant blocks (max == min)
            x[:] = F32(0.25)
            x[1::2] = F32(-3.0)
        elif kind == 8:  # near fp16 limits
            x[:] = rng.uniform(-65504, 65504, x.shape).astype(F32)
        elif kind == 9:  # one non-zero per block
            x[:] = 0
            x[:, 11] = rng.standard_normal(nb).astype(F32)
        elif kind == 10:  # one-signed
            x[:] = np.abs(x)
        elif kind == 11:  # outliers
            x[:, 5] *= F32(1000)
        elif kind == 12:  # signed zeros
            x[:] = F32(-0.0)
            x[::3, 2] = F32(1e-3)
        elif kind == 13:  # grid-exact values for the int specs (ties at s/2)
            x[:] = (rng.integers(-16, 16, x.shape).astype(F32) + F32(0.5)) * F32(0.0625)
        # kinds 0, 14, 15: random normal
    return w


def int_reference(w, spec):
    """numpy float32 min-max fake quant, the GPTQ / torchao formula (quant/grid.h)."""
    f = spec.split(":")
    bits, gran, sym, f16 = int(f[0][3:]), f[1], f[2] == "sym", f[4] == "f16"
    rows, cols = w.shape
    g = rows * cols if gran == "tensor" else cols if gran == "ch" else int(gran[1:])
    x = w.reshape(-1, g)
    maxq = F32(2 ** bits - 1)
    xmin = np.minimum(x.min(axis=1), F32(0))
    xmax = np.maximum(x.max(axis=1), F32(0))
    zero = (xmin == 0) & (xmax == 0)
    xmin[zero], xmax[zero] = F32(-1), F32(1)
    with np.errstate(over="ignore"):   # |x| near FLT_MAX: inf, clamped below as in C
        if sym:
            a = np.maximum(-xmin, xmax)
            s = (a + a) / maxq
        else:
            s = (xmax - xmin) / maxq
        if f16:
            s = np.clip(s.astype(np.float16).astype(F32), F32(2.0 ** -24), F32(65504))
        else:
            s = np.clip(s, F32(np.finfo(F32).smallest_subnormal), F32(np.finfo(F32).max))
    if sym:
        z = np.full_like(s, F32(2 ** (bits - 1)))
    else:
        z = np.clip(np.round(-xmin / s), F32(0), maxq) + F32(0)
    with np.errstate(over="ignore", invalid="ignore"):
        q = np.clip(np.round(x / s[:, None]) + z[:, None], F32(0), maxq)
    return (s[:, None] * (q - z[:, None])).astype(F32).reshape(w.shape)


def ggml_c_correction(w, qt, blocks):
    """gguf-py's q4_0/q5_0 take `max` = x[argmax |x|], which for a block of zeros whose first
    element is -0.0 gives d = -0.0 / -8 = +0; ggml's C reference (quantize_row_q4_0_ref) starts
    from max = +0.0 and only replaces it when |v| > amax, so it stores d = -0.0 (fp16 0x8000).
    Codes agree (id = 0 either way). lowbit follows the C reference; this applies exactly that
    difference to the gguf bytes and returns how many blocks it touched."""
    if qt not in (T.Q4_0, T.Q5_0):
        return 0
    x = w.reshape(-1, 32)
    hit = np.all(x == 0, axis=1) & np.signbit(x[:, 0])
    b = blocks.reshape(x.shape[0], -1)
    b[hit, 0], b[hit, 1] = 0x00, 0x80
    return int(hit.sum())


def run_dump(binary, work, seed, w):
    """Writes w (rows, cols) f32 to work/w<seed>.f32, runs `binary --dump` on it
    into work/out<seed> and returns that directory."""
    rows, cols = w.shape
    src = os.path.join(work, f"w{seed}.f32")
    w.tofile(src)
    out = os.path.join(work, f"out{seed}")
    os.makedirs(out, exist_ok=True)
    subprocess.run([binary, "--dump", src, str(rows), str(cols), out], check=True)
    return out


def compare(name, got, want):
    """Bit-for-bit comparison of two f32 arrays; NaN equals NaN of any payload."""
    gu, wu = got.view(np.uint32), want.view(np.uint32)
    diff = gu != wu
    both_nan = np.isnan(got) & np.isnan(want)
    bad = diff & ~both_nan
    return int(bad.sum()), int(both_nan.sum()), np.flatnonzero(bad)[:3]


def main():
    binary, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    fails = 0
    for seed, (rows, cols) in enumerate([(64, 256), (48, 512)]):
        w = adversarial(rows, cols, seed)
        out = run_dump(binary, work, seed, w)
        for name, qt in PRESETS.items():
            with np.errstate(all="ignore"):
                ref_blocks = quantize(w, qt)
                fixed = ggml_c_correction(w, qt, ref_blocks)
                ref_deq = dequantize(ref_blocks, qt).astype(F32)
            blocks = np.fromfile(os.path.join(out, f"{name}.blocks"), dtype=np.uint8)
            fq = np.fromfile(os.path.join(out, f"{name}.fq"), dtype=F32).reshape(w.shape)
            byte_bad = int((blocks != ref_blocks.reshape(-1)).sum()) if blocks.size == ref_blocks.size else -1
            bad, nans, at = compare(name, fq, ref_deq)
            print(f"{name} (seed {seed}, {rows}x{cols}): {ref_blocks.size} block bytes, {byte_bad} differ; "
                  f"{fq.size} dequantized values, {bad} differ ({nans} NaN in both; "
                  f"{fixed} all-zero blocks with -0 first given ggml C's d = -0)")
            if byte_bad != 0 or bad:
                fails += 1
                if bad:
                    i = at[0]
                    print(f"  first at {i}: lowbit {fq.reshape(-1)[i]!r} gguf {ref_deq.reshape(-1)[i]!r} "
                          f"w {w.reshape(-1)[i]!r}")
                if byte_bad:
                    j = np.flatnonzero(blocks != ref_blocks.reshape(-1))[:1]
                    print(f"  first differing byte {j}")
        for spec in INT_SPECS:
            fq = np.fromfile(os.path.join(out, f"{spec}.fq"), dtype=F32).reshape(w.shape)
            bad, nans, at = compare(spec, fq, int_reference(w, spec))
            print(f"{spec} (seed {seed}): {fq.size} values, {bad} differ")
            if bad:
                fails += 1
    print("FAIL" if fails else "OK: all formats bit-identical")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
