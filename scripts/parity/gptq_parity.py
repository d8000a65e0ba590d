#!/usr/bin/env python3
"""gptq_parity.py — GPTQ checkpoints against an AutoGPTQ-style reader and
writer written here from FORMATS.md §3 (numpy + torch), for
tests/test_gptq_py.sh.

    gptq_parity.py check GPTQ_DIR HF_F32_DIR [GPTQ_DIR HF_F32_DIR ...]
        Unpacks lowbit's GPTQ export as AutoGPTQ's torch path does (shifts
        for 2/4/8 bits, the three-word scheme for 3 bits, +1 on v1 zeros,
        g_idx) and requires every dequantized weight to equal, bit for bit,
        the same linear of HF_F32_DIR (lowbit's `export --format hf --dtype
        f32` of the same run: the forward's w^). Also checks the configs
        (quant_method, bits, group_size, sym, desc_act, checkpoint_format in
        both files) and the tensor dtypes and shapes of §3.1.

    gptq_parity.py write OUT_DIR --bits B --group G [--act-order] [--v2]
                   [--sym] [--split-config] [--lm-head] [--autogptq-name]
                   [--seed N] [--vocab V]
        Writes a GPTQ checkpoint the way another tool would: a random
        LlamaForCausalLM whose linears get random codes, fp16 scales and
        zeros (v1: stored zero - 1, zeros in [1, maxq]; v2: zeros in
        [0, maxq]) and, with --act-order, a random permutation as g_idx
        (desc_act true). The dequantized weights go into the fp32 model,
        whose logits and greedy tokens become OUT_DIR/expected.* (the files
        tests/test_model_parity.c reads; test_gptq_load reads them for a GPTQ
        dir). --split-config puts checkpoint_format only in config.json and
        sym / desc_act only in quantize_config.json. --lm-head quantizes
        lm_head too ("lm_head": true). --autogptq-name names the weights
        file as AutoGPTQ does by default, gptq_model-<b>bit-<g>g.safetensors,
        with "model_file_base_name": null.

    gptq_parity.py cases OUT_ROOT
        `write` for the standard set (one process, torch imported once):
        4-bit g32 act-order v2 split configs, 3-bit g64 act-order v1 (a group
        size that does not divide 160 inputs), 2-bit per-column sym v1,
        8-bit g32 act-order v2, 4-bit g32 v1 with lm_head and AutoGPTQ's
        file name; prints one directory per line.
"""
import argparse
import json
import math
import os
import sys

import numpy as np
import torch
from safetensors.numpy import load_file as np_load, save_file as np_save

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from expected_logits import write_expected  # noqa: E402


# ---- packing as FORMATS §3.2 / §3.3 describe it (AutoGPTQ's pack) ------------

def pack_rows(q, bits):
    """q: (K, N) codes -> (K*bits/32, N) int32, packed along rows (§3.2)."""
    q = q.astype(np.uint64)
    K, N = q.shape
    if bits != 3:
        f = 32 // bits
        out = np.zeros((K // f, N), dtype=np.uint64)
        for t in range(f):
            out |= q[t::f, :] << np.uint64(bits * t)
        return (out & np.uint64(0xFFFFFFFF)).astype(np.uint32).view(np.int32)
    out = np.zeros((3 * K // 32, N), dtype=np.uint64)
    for m in range(K // 32):
        x = q[32 * m:32 * m + 32, :]
        w0 = np.zeros(N, dtype=np.uint64)
        w1 = np.zeros(N, dtype=np.uint64)
        w2 = np.zeros(N, dtype=np.uint64)
        for t in range(10):
            w0 |= x[t] << np.uint64(3 * t)
            w1 |= x[11 + t] << np.uint64(3 * t + 1)
            w2 |= x[22 + t] << np.uint64(3 * t + 2)
        w0 |= (x[10] & np.uint64(3)) << np.uint64(30)
        w1 |= (x[10] >> np.uint64(2)) & np.uint64(1)
        w1 |= (x[21] & np.uint64(1)) << np.uint64(31)
        w2 |= (x[21] >> np.uint64(1)) & np.uint64(3)
        out[3 * m], out[3 * m + 1], out[3 * m + 2] = w0, w1, w2
    return (out & np.uint64(0xFFFFFFFF)).astype(np.uint32).view(np.int32)


def unpack_rows(w, bits, K):
    """Inverse of pack_rows, as AutoGPTQ's dequantization unpacks."""
    w = w.view(np.uint32).astype(np.uint64)
    N = w.shape[1]
    mask = np.uint64((1 << bits) - 1)
    if bits != 3:
        f = 32 // bits
        q = np.zeros((K, N), dtype=np.uint64)
        for t in range(f):
            q[t::f, :] = (w >> np.uint64(bits * t)) & mask
        return q.astype(np.int64)
    q = np.zeros((K, N), dtype=np.uint64)
    for m in range(K // 32):
        w0, w1, w2 = w[3 * m], w[3 * m + 1], w[3 * m + 2]
        for t in range(10):
            q[32 * m + t] = (w0 >> np.uint64(3 * t)) & mask
            q[32 * m + 11 + t] = (w1 >> np.uint64(3 * t + 1)) & mask
            q[32 * m + 22 + t] = (w2 >> np.uint64(3 * t + 2)) & mask
        q[32 * m + 10] = ((w0 >> np.uint64(30)) & np.uint64(3)) | ((w1 & np.uint64(1)) << np.uint64(2))
        q[32 * m + 21] = ((w1 >> np.uint64(31)) & np.uint64(1)) | ((w2 & np.uint64(3)) << np.uint64(1))
    return q.astype(np.int64)


def dequant(qweight, qzeros, scales, g_idx, bits, v1):
    """FORMATS §3.6: W (K, N) float32 = scales[g] * (q - z[g]), g = g_idx[k]."""
    K = qweight.shape[0] * 32 // bits
    q = unpack_rows(qweight, bits, K)
    z = unpack_rows(qzeros.T.copy(), bits, qzeros.shape[1] * 32 // bits).T  # packed along columns
    if v1:
        z = (z + 1) & ((1 << bits) - 1)
    g = g_idx.astype(np.int64)
    s = torch.from_numpy(scales.astype(np.float32))
    diff = torch.from_numpy((q - z[g, :]).astype(np.float32))
    return (s[g, :] * diff).numpy()


# ---- check: lowbit's export ---------------------------------------------------

def load_dir(d):
    idx = os.path.join(d, "model.safetensors.index.json")
    if os.path.exists(idx):
        with open(idx) as f:
            files = sorted(set(json.load(f)["weight_map"].values()))
        out = {}
        for fn in files:
            out.update(np_load(os.path.join(d, fn)))
        return out
    return np_load(os.path.join(d, "model.safetensors"))


def check(gdir, hdir):
    with open(os.path.join(gdir, "quantize_config.json")) as f:
        qc = json.load(f)
    with open(os.path.join(gdir, "config.json")) as f:
        cc = json.load(f)["quantization_config"]
    for c in (qc, cc):
        assert c["quant_method"] == "gptq", c
        assert c["checkpoint_format"] in ("gptq", "gptq_v2"), c
        for k in ("bits", "group_size", "sym", "desc_act", "checkpoint_format"):
            assert c[k] == qc[k], (k, c[k], qc[k])
    bits, gs, v1 = qc["bits"], qc["group_size"], qc["checkpoint_format"] == "gptq"
    g = load_dir(gdir)
    h = load_dir(hdir)
    n = 0
    for name in sorted(g):
        if not name.endswith(".qweight"):
            continue
        p = name[:-len(".qweight")]
        qw, qz, sc, gi = g[p + ".qweight"], g[p + ".qzeros"], g[p + ".scales"], g[p + ".g_idx"]
        ref = h[p + ".weight"]
        N, K = ref.shape
        G = 1 if gs == -1 else math.ceil(K / gs)
        assert qw.dtype == np.int32 and qw.shape == (K * bits // 32, N), (name, qw.dtype, qw.shape)
        assert qz.dtype == np.int32 and qz.shape == (G, N * bits // 32), (p, qz.shape)
        assert sc.dtype == np.float16 and sc.shape == (G, N), (p, sc.dtype, sc.shape)
        assert gi.dtype == np.int32 and gi.shape == (K,), (p, gi.shape)
        assert (gi == np.arange(K) // (K if gs == -1 else gs)).all(), p
        w = dequant(qw, qz, sc, gi, bits, v1).T
        if not np.array_equal(w.view(np.uint32), ref.view(np.uint32)):
            bad = np.argwhere(w != ref)[0]
            raise SystemExit("%s: element %s dequantizes to %r, lowbit's w^ is %r"
                             % (p, tuple(bad), w[tuple(bad)], ref[tuple(bad)]))
        n += 1
    assert n > 0, "no .qweight tensors in %s" % gdir
    for name, t in g.items():   # the rest is f16
        if not name.endswith((".qweight", ".qzeros", ".g_idx", ".scales")):
            assert t.dtype == np.float16, (name, t.dtype)
    print("check: %d GPTQ linears (%d-bit, group %d, %s) dequantize to lowbit's weights exactly"
          % (n, bits, gs, qc["checkpoint_format"]))


# ---- write: another tool's checkpoint ------------------------------------------

LINEARS = ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
           "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj")


def write(a):
    import transformers
    cfg = transformers.LlamaConfig(vocab_size=a.vocab, hidden_size=64, intermediate_size=160,
                                   num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                                   max_position_embeddings=128, rms_norm_eps=1e-5, rope_theta=10000.0,
                                   tie_word_embeddings=False, bos_token_id=1, eos_token_id=2)
    cfg._attn_implementation = "eager"
    torch.manual_seed(a.seed)
    model = transformers.LlamaForCausalLM(cfg).eval()
    rng = np.random.default_rng(a.seed)
    bits, maxq = a.bits, (1 << a.bits) - 1
    tensors = {}
    with torch.no_grad():
        for name, p in model.named_parameters():   # the rest: f16 values, kept in fp32
            v = torch.randn(p.shape) * (1.0 if "embed" in name else 0.1)
            if "norm" in name:
                v = 1.0 + 0.1 * torch.randn(p.shape)
            p.copy_(v.half().float())
        prefixes = ["model.layers.%d.%s" % (i, lin) for i in range(cfg.num_hidden_layers) for lin in LINEARS]
        if a.lm_head:
            prefixes.append("lm_head")
        for pref in prefixes:
            mod = model.get_submodule(pref)
            N, K = mod.weight.shape
            gs = K if a.group == -1 else a.group
            G = math.ceil(K / gs)
            q = rng.integers(0, maxq + 1, size=(K, N))
            if a.sym:
                z = np.full((G, N), 1 << (bits - 1))
            else:
                z = rng.integers(0 if a.v2 else 1, maxq + 1, size=(G, N))
            z[0, 0] = 0 if (a.v2 and not a.sym) else z[0, 0]   # v2 holds a zero of 0
            sc = (rng.uniform(0.5, 1.5, size=(G, N)) * 0.2 / maxq / math.sqrt(K)).astype(np.float16)
            if a.act_order:
                perm = rng.permutation(K)
                g_idx = np.empty(K, dtype=np.int32)
                g_idx[perm] = np.arange(K) // gs
            else:
                g_idx = (np.arange(K) // gs).astype(np.int32)
            stored = z if a.v2 else z - 1
            tensors[pref + ".qweight"] = pack_rows(q, bits)
            tensors[pref + ".qzeros"] = pack_rows(stored.T.copy(), bits).T.copy()
            tensors[pref + ".scales"] = sc
            tensors[pref + ".g_idx"] = g_idx
            w = dequant(tensors[pref + ".qweight"], tensors[pref + ".qzeros"], sc, g_idx, bits,
                        not a.v2)
            mod.weight.copy_(torch.from_numpy(w.T.copy()))
    quantized = set(k.rsplit(".", 1)[0] + ".weight" for k in tensors)
    for name, p in model.state_dict().items():
        if name not in quantized and "rotary_emb" not in name:
            tensors[name] = p.half().numpy()
    os.makedirs(a.out, exist_ok=True)
    fname = "gptq_model-%dbit-%dg.safetensors" % (bits, a.group) if a.autogptq_name else "model.safetensors"
    np_save(tensors, os.path.join(a.out, fname), metadata={"format": "pt"})
    fmt = "gptq_v2" if a.v2 else "gptq"
    q = {"bits": bits, "group_size": a.group, "desc_act": bool(a.act_order), "sym": bool(a.sym),
         "lm_head": bool(a.lm_head),
         "checkpoint_format": fmt, "quant_method": "gptq", "damp_percent": 0.01,
         "static_groups": False, "true_sequential": True}
    if a.autogptq_name:
        q["model_file_base_name"] = None
    qfile, cfile = dict(q), dict(q)
    if a.split_config:   # each file carries part of it, as mixed tool chains leave them
        del qfile["checkpoint_format"]
        del cfile["sym"], cfile["desc_act"]
    cfg.torch_dtype = "float16"
    cfg.save_pretrained(a.out)
    with open(os.path.join(a.out, "config.json")) as f:
        c = json.load(f)
    c["quantization_config"] = cfile
    with open(os.path.join(a.out, "config.json"), "w") as f:
        json.dump(c, f, indent=2)
    with open(os.path.join(a.out, "quantize_config.json"), "w") as f:
        json.dump(qfile, f, indent=2)
    gen = torch.Generator().manual_seed(a.seed)
    write_expected(model, a.out, os.path.basename(os.path.normpath(a.out)), [(2, 13), (1, 29)], gen)
    print("write: %s (%d-bit, group %d, %s%s%s)" % (a.out, bits, a.group, fmt,
                                                    ", act-order" if a.act_order else "",
                                                    ", sym" if a.sym else ""), file=sys.stderr)


CASES = [
    ("int4_g32_actorder_v2_split", dict(bits=4, group=32, act_order=True, v2=True, split_config=True, seed=11)),
    ("int3_g64_actorder_v1", dict(bits=3, group=64, act_order=True, seed=12)),
    ("int2_col_sym_v1", dict(bits=2, group=-1, sym=True, seed=13)),
    ("int8_g32_actorder_v2", dict(bits=8, group=32, act_order=True, v2=True, seed=14)),
    ("int4_g32_lm_head_v1", dict(bits=4, group=32, lm_head=True, autogptq_name=True, seed=15)),
]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("check")
    c.add_argument("dirs", nargs="+", help="GPTQ_DIR HF_F32_DIR pairs")
    cs = sub.add_parser("cases")
    cs.add_argument("root")
    w = sub.add_parser("write")
    w.add_argument("out")
    w.add_argument("--bits", type=int, required=True)
    w.add_argument("--group", type=int, required=True)
    w.add_argument("--act-order", action="store_true")
    w.add_argument("--v2", action="store_true")
    w.add_argument("--sym", action="store_true")
    w.add_argument("--split-config", action="store_true")
    w.add_argument("--lm-head", action="store_true")
    w.add_argument("--autogptq-name", action="store_true")
    w.add_argument("--seed", type=int, default=1)
    w.add_argument("--vocab", type=int, default=128)
    a = ap.parse_args()
    torch.set_num_threads(1)
    if a.cmd == "check":
        if len(a.dirs) % 2:
            ap.error("check takes GPTQ_DIR HF_F32_DIR pairs")
        for i in range(0, len(a.dirs), 2):
            check(a.dirs[i], a.dirs[i + 1])
    elif a.cmd == "cases":
        for name, kw in CASES:
            out = os.path.join(a.root, name)
            ns = argparse.Namespace(out=out, act_order=False, v2=False, sym=False, split_config=False,
                                    lm_head=False, autogptq_name=False, seed=1, vocab=128)
            for k, v in kw.items():
                setattr(ns, k, v)
            write(ns)
            print(out)
    else:
        write(a)
    return 0


if __name__ == "__main__":
    sys.exit(main())
