#!/usr/bin/env python3
"""gguf_export_parity.py — lowbit's GGUF files against llama.cpp's own Python
reader (the gguf package). Used by tests/test_gguf_py.sh.

  gguf_export_parity.py types TYPES.gguf EXPECTED.gguf
      every tensor of TYPES.gguf (one per exported type, written by
      test_gguf --write) dequantized by gguf.quants.dequantize equals the
      F32 tensor of the same name in EXPECTED.gguf (lowbit's fake-quant w^).
  gguf_export_parity.py model FILE.gguf HF_DIR TYPE
      FILE.gguf (a lowbit export of HF_DIR's master weights, or of a run dir
      whose model/ is HF_DIR, with --type TYPE) is readable, its llama.cpp
      metadata has the GGUF value types llama.cpp's loader demands, its
      tokenizer has one token per vocab entry, and (for the types gguf-py can
      quantize) every block-quantized linear is byte for byte what
      gguf.quants.quantize makes of the HF weight after llama.cpp's Q/K
      permutation.
Exits non-zero with a message on the first mismatch.
"""
import json
import sys

import numpy as np
import gguf
from gguf import GGMLQuantizationType as Q, GGUFValueType as V


def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


def tensors(reader):
    return {t.name: t for t in reader.tensors}


def dequant(t):
    return np.asarray(gguf.quants.dequantize(t.data, t.tensor_type), dtype=np.float32).reshape(-1)


def check_types(types_path, expected_path):
    got, exp = tensors(gguf.GGUFReader(types_path)), tensors(gguf.GGUFReader(expected_path))
    if set(got) != set(exp):
        fail(f"tensor names differ: {sorted(got)} vs {sorted(exp)}")
    for name, t in got.items():
        a, b = dequant(t), np.asarray(exp[name].data, dtype=np.float32).reshape(-1)
        if a.shape != b.shape or not np.array_equal(a, b):
            bad = int(np.sum(a != b)) if a.shape == b.shape else -1
            fail(f"{name} ({t.tensor_type.name}): gguf.quants.dequantize differs from lowbit's w^ in {bad} values")
        print(f"{name:10s} {t.tensor_type.name:5s} {a.size} values equal")


def field(reader, key):
    f = reader.fields.get(key)
    if f is None:
        fail(f"{key} missing")
    return f


def scalar(reader, key, vtype):
    f = field(reader, key)
    if f.types != [vtype]:
        fail(f"{key} has type {[t.name for t in f.types]}, llama.cpp wants {vtype.name}")
    return f.parts[f.data[0]]


def permute(w, n_head):  # convert_hf_to_gguf.py LlamaModel.permute
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def check_model(path, hf_dir, qtype):
    from safetensors.numpy import load_file
    r = gguf.GGUFReader(path)
    cfg = json.load(open(f"{hf_dir}/config.json"))
    arch = bytes(field(r, "general.architecture").parts[-1]).decode()
    if arch == "llama":
        for k in ("context_length", "embedding_length", "block_count", "feed_forward_length", "attention.head_count",
                  "attention.head_count_kv", "rope.dimension_count", "vocab_size"):
            scalar(r, f"llama.{k}", V.UINT32)
        scalar(r, "llama.attention.layer_norm_rms_epsilon", V.FLOAT32)
        scalar(r, "llama.rope.freq_base", V.FLOAT32)
    scalar(r, "general.file_type", V.UINT32)
    tok = field(r, "tokenizer.ggml.tokens")
    if tok.types != [V.ARRAY, V.STRING] or len(tok.data) != cfg["vocab_size"]:
        fail(f"tokenizer.ggml.tokens: {len(tok.data)} strings for vocab_size {cfg['vocab_size']}")
    tt = field(r, "tokenizer.ggml.token_type")
    if tt.types != [V.ARRAY, V.INT32] or len(tt.data) != len(tok.data):
        fail("tokenizer.ggml.token_type is not INT32 per token")
    if field(r, "tokenizer.ggml.merges").types != [V.ARRAY, V.STRING]:
        fail("tokenizer.ggml.merges is not an array of strings")
    ts = tensors(r)
    for t in ts.values():
        dequant(t)  # every tensor decodes
    can_quantize = qtype in ("q4_0", "q4_1", "q5_0", "q5_1", "q8_0")
    if arch != "llama" or not can_quantize:
        print(f"{path}: {len(ts)} tensors read and dequantized")
        return
    sd = load_file(f"{hf_dir}/model.safetensors")
    nh, nkv = cfg["num_attention_heads"], cfg.get("num_key_value_heads", cfg["num_attention_heads"])
    parts = {"q_proj": ("attn_q", nh), "k_proj": ("attn_k", nkv), "v_proj": ("attn_v", 0), "o_proj": ("attn_output", 0),
             "gate_proj": ("ffn_gate", 0), "up_proj": ("ffn_up", 0), "down_proj": ("ffn_down", 0)}
    n = 0
    for name, w in sd.items():
        if not name.startswith("model.layers.") or not name.endswith("_proj.weight"):
            continue
        layer, part = name.split(".")[2], name.split(".")[-2]
        gname, heads = parts[part]
        w = w.astype(np.float32)
        if heads:
            w = permute(w, heads)
        want = gguf.quants.quantize(w, Q[qtype.upper()])
        t = ts[f"blk.{layer}.{gname}.weight"]
        if t.tensor_type != Q[qtype.upper()] or not np.array_equal(np.asarray(t.data).reshape(-1).view(np.uint8),
                                                                     want.reshape(-1).view(np.uint8)):
            fail(f"blk.{layer}.{gname}.weight: bytes differ from gguf.quants.quantize of {name}")
        n += 1
    print(f"{path}: {len(ts)} tensors read; {n} linears byte-identical with gguf.quants.quantize ({qtype})")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "types":
        check_types(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 5 and sys.argv[1] == "model":
        check_model(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        print(__doc__)
        sys.exit(2)
