#!/usr/bin/env python3
"""quant_kquant_parity.py — lowbit's K-quant blocks (q4_k, q6_k) against llama.cpp's own Python
reference, gguf.quants.dequantize.

1. Synthetic super-blocks (`DUMP --synth DIR`): lowbit packs codes and sub-block scales in the
   canonical form (quant/ggml_pack.h) and writes the values its forward formula gives; the gguf
   package must dequantize the bytes to exactly those values.
2. The quantizers (`DUMP --dump W.f32 ROWS COLS DIR`): lowbit's fake-quant forward of q4_k /
   q6_k on random and adversarial weights must equal gguf.quants.dequantize of the blocks lowbit
   packs from lb_quantizer_codes, bit for bit (the QAT forward is the exported model). gguf-py
   has no K-quant quantizer, so the encoder itself is lowbit's (quant/grid_k.h).

Usage: quant_kquant_parity.py DUMP_BINARY WORKDIR. Prints one line per check and exits non-zero
on any mismatch.
"""
import os
import subprocess
import sys

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf.quants import dequantize
from quant_gguf_parity import run_dump

F32 = np.float32
TYPES = {"q4_k": T.Q4_K, "q6_k": T.Q6_K}


def compare(got, want):
    """Bit-for-bit comparison of two f32 arrays (sign of zero included); NaN equals NaN."""
    bad = (got.view(np.uint32) != want.view(np.uint32)) & ~(np.isnan(got) & np.isnan(want))
    return int(bad.sum()), np.flatnonzero(bad)[:3]


def adversarial(rows, cols, seed):
    """Rows of random and adversarial super-blocks (zeros, one-signed, ties, tiny, huge, ...)."""
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((rows, cols)).astype(F32) * F32(0.02)
    for r in range(rows):
        x = w[r].reshape(-1, 256)
        kind = r % 12
        if kind == 1:      # all-zero super-blocks and sub-blocks
            x[::2] = 0
            x[1::2, :32] = 0
        elif kind == 2:    # negative only
            x[:] = -np.abs(x)
        elif kind == 3:    # positive only
            x[:] = np.abs(x)
        elif kind == 4:    # tiny and subnormal
            x[:] = x * F32(1e-30)
            x[1::2] *= F32(1e-10)
        elif kind == 5:    # huge (fp16 d saturates)
            x[:, 7] = F32(3e6)
            x[1::2, 9] = F32(-1e30)
        elif kind == 6:    # ties on a grid of halves
            x[:] = (rng.integers(-16, 16, x.shape).astype(F32) + F32(0.5)) * F32(0.125)
        elif kind == 7:    # constant sub-blocks
            x[:] = F32(0.25)
            x[:, ::32] = F32(-0.5)
        elif kind == 8:    # outliers
            x[:, 5] *= F32(1000)
        elif kind == 9:    # signed zeros and one value
            x[:] = F32(-0.0)
            x[:, 17] = F32(1e-3)
        elif kind == 10:   # scale near fp16 limits
            x[:] = rng.uniform(-60000, 60000, x.shape).astype(F32)
    return w


def main():
    binary, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    fails = 0
    subprocess.run([binary, "--synth", work], check=True)
    for name, qt in TYPES.items():
        blocks = np.fromfile(os.path.join(work, f"{name}_synth.blocks"), dtype=np.uint8)
        y = np.fromfile(os.path.join(work, f"{name}_synth.y"), dtype=F32)
        ref = dequantize(blocks, qt).astype(F32).reshape(-1)
        bad, at = compare(y, ref)
        print(f"{name} synthetic super-blocks: {y.size} values, {bad} differ from gguf.quants.dequantize")
        if bad:
            fails += 1
            print(f"  first at {at[0]}: lowbit {y[at[0]]!r} gguf {ref[at[0]]!r}")
    for seed, (rows, cols) in enumerate([(48, 256), (24, 1024)]):
        w = adversarial(rows, cols, seed)
        out = run_dump(binary, work, seed, w)
        for name, qt in TYPES.items():
            blocks = np.fromfile(os.path.join(out, f"{name}.blocks"), dtype=np.uint8)
            fq = np.fromfile(os.path.join(out, f"{name}.fq"), dtype=F32)
            ref = dequantize(blocks, qt).astype(F32).reshape(-1)
            bad, at = compare(fq, ref)
            print(f"{name} (seed {seed}, {rows}x{cols}): {fq.size} fake-quant values, {bad} differ "
                  f"from gguf.quants.dequantize of lowbit's blocks")
            if bad:
                fails += 1
                i = at[0]
                print(f"  first at {i}: lowbit {fq[i]!r} gguf {ref[i]!r} w {w.reshape(-1)[i]!r}")
    print("FAIL" if fails else "OK: all K-quant values bit-identical")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
