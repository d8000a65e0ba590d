#!/usr/bin/env python3
"""make_models.py — random-weight HF models and their transformers logits, the
reference lowbit's model code is checked against (tests/test_logits_py.sh,
tests/test_model_parity.c).

    make_models.py OUTDIR [--case NAME ...] [--small] [--list]

For each case, OUTDIR/<case>/ gets an HF directory written by
save_pretrained(safe_serialization=True) (some cases are then edited on
purpose: names without the GPT-2 prefix, the v5 rope_parameters form, extra
buffers lowbit must ignore) plus

    expected.safetensors  input_ids.<i> (B, T) I32 and logits.<i> (B, T, V) F32,
                          i = 0, 1, ... (several shapes: T not a multiple of 8, B = 2)
    expected.json         {"case", "inputs": n, "generate": {"prompt", "tokens"}}
                          tokens = generate(do_sample=False) continuation (may stop
                          early at EOS; compare the prefix)

Weights are not transformers' init (std 0.02 gives near-uniform attention and
tiny logits that would hide mistakes): every tensor is drawn so activations
stay O(1): linear weights N(0, 1/fan_in), embeddings N(0, 1), biases
N(0, 0.1^2), norm weights 1 + N(0, 0.1^2). Logits are computed in fp32 on the
CPU with eager attention. --small makes the tiny variants committed under
tests/data/models (hidden 16-32, vocab 64, 1-2 layers), regenerated with
    make_models.py tests/data/models --small

Runs with transformers 4.4x + torch 1.13 and transformers 5.x + torch 2.x.
"""
import argparse
import copy
import json
import math
import os
import shutil
import sys
import zlib

import torch
from safetensors.torch import load_file, save_file

import transformers
from transformers import AutoModelForCausalLM

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from expected_logits import write_expected  # noqa: E402


def llama_cfg(small, **kw):
    base = dict(
        model_type="llama",
        vocab_size=64 if small else 128,
        hidden_size=16 if small else 64,
        intermediate_size=32 if small else 160,
        num_hidden_layers=1 if small else 3,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=128,
        rms_norm_eps=1e-5,
        rope_theta=10000.0,
        tie_word_embeddings=False,
        bos_token_id=1,
        eos_token_id=2,
    )
    base.update(kw)
    return base


def gpt2_cfg(small, **kw):
    base = dict(
        model_type="gpt2",
        vocab_size=64 if small else 128,
        n_embd=16 if small else 64,
        n_layer=1 if small else 3,
        n_head=4,
        n_positions=32 if small else 128,
        activation_function="gelu_new",
        layer_norm_epsilon=1e-5,
        bos_token_id=0,
        eos_token_id=1,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
    )
    base.update(kw)
    return base


LLAMA3_ROPE = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
               "high_freq_factor": 4.0, "original_max_position_embeddings": 64}

# name -> (config builder, options)
CASES = {
    "llama_gqa": (lambda s: llama_cfg(s, num_hidden_layers=2 if s else 3), {}),
    "llama_tied": (lambda s: llama_cfg(s, tie_word_embeddings=True, num_key_value_heads=4), {}),
    "qwen2_bias": (lambda s: llama_cfg(s, model_type="qwen2", tie_word_embeddings=True,
                                       rope_theta=1000000.0, rms_norm_eps=1e-6), {}),
    "llama3_rope": (lambda s: llama_cfg(s, hidden_size=32, num_attention_heads=4,
                                        tie_word_embeddings=s, intermediate_size=32 if s else 96,
                                        rope_theta=10000.0, rope_scaling=dict(LLAMA3_ROPE)),
                    {"T": [7, 30], "B": [2, 1]}),
    "llama_bias_hd": (lambda s: llama_cfg(s, attention_bias=True, mlp_bias=True,
                                          head_dim=8 if s else 32), {}),
    "llama_rope_params": (lambda s: llama_cfg(s, rope_scaling={"type": "linear", "factor": 2.0}),
                          {"rope_parameters": True}),
    "mistral": (lambda s: llama_cfg(s, model_type="mistral", sliding_window=None), {}),
    "gpt2": (lambda s: gpt2_cfg(s), {}),
    "gpt2_noprefix": (lambda s: gpt2_cfg(s, activation_function="gelu"), {"noprefix": True}),
    "llama_bf16": (lambda s: llama_cfg(s), {"dtype": "bfloat16", "inv_freq": True}),
    "llama_sharded": (lambda s: llama_cfg(s), {"shard": ("8KB", "150KB")}),
}

# committed under tests/data/models (tiny, fp32 unless the case is about dtype)
SMALL_DEFAULT = ["llama_gqa", "llama_tied", "qwen2_bias", "llama3_rope", "gpt2",
                 "llama_bias_hd", "gpt2_noprefix", "llama_rope_params", "llama_bf16"]


def make_config(d):
    d = dict(d)
    mt = d.pop("model_type")
    cls = transformers.CONFIG_MAPPING[mt]
    cfg = cls(**d)
    cfg._attn_implementation = "eager"
    return cfg


def randomize(model, gen):
    """Draws every parameter as described in the module docstring."""
    conv1d = getattr(transformers.pytorch_utils, "Conv1D", None)
    fan_in_first = set()
    if conv1d is not None:
        for mname, mod in model.named_modules():
            if isinstance(mod, conv1d):
                fan_in_first.add(mname + ".weight")
    with torch.no_grad():
        for name, p in model.named_parameters():
            shape = p.shape
            if p.dim() == 1:
                if "norm" in name or ".ln_" in name or name.startswith("ln_") or ".ln_f" in name:
                    if name.endswith("weight"):
                        v = 1.0 + 0.1 * torch.randn(shape, generator=gen)
                    else:
                        v = 0.1 * torch.randn(shape, generator=gen)
                else:
                    v = 0.1 * torch.randn(shape, generator=gen)
            elif "embed" in name or "wte" in name or "wpe" in name:
                v = torch.randn(shape, generator=gen)
            else:
                fan_in = shape[0] if name in fan_in_first else shape[1]
                v = torch.randn(shape, generator=gen) / math.sqrt(fan_in)
            p.copy_(v)


def shapes_for(opts, small):
    Ts = opts.get("T", [7, 13] if small else [13, 29])
    Bs = opts.get("B", [2, 1])
    return list(zip(Bs, Ts))


def rewrite_gpt2_noprefix(d, n_layer, n_pos):
    """Drops the `transformer.` prefix (the hub gpt2 layout) and adds the causal
    mask buffers old checkpoints carry, which a loader must ignore."""
    path = os.path.join(d, "model.safetensors")
    sd = load_file(path)
    out = {}
    for k, v in sd.items():
        if k == "lm_head.weight":
            continue
        out[k[len("transformer."):] if k.startswith("transformer.") else k] = v.contiguous()
    for i in range(n_layer):
        out["h.%d.attn.bias" % i] = torch.tril(torch.ones(n_pos, n_pos)).view(1, 1, n_pos, n_pos)
    save_file(out, path, metadata={"format": "pt"})


def add_inv_freq(d, cfg):
    """Old Llama conversions carry rotary_emb.inv_freq buffers: lowbit ignores them."""
    path = os.path.join(d, "model.safetensors")
    sd = load_file(path)
    hd = cfg.hidden_size // cfg.num_attention_heads
    theta = getattr(cfg, "rope_theta", None)  # transformers 5 keeps it in rope_parameters
    if theta is None:
        theta = cfg.rope_parameters["rope_theta"]
    inv = 1.0 / (theta ** (torch.arange(0, hd, 2).float() / hd))
    for i in range(cfg.num_hidden_layers):
        sd["model.layers.%d.self_attn.rotary_emb.inv_freq" % i] = inv.clone()
    save_file({k: v.contiguous() for k, v in sd.items()}, path, metadata={"format": "pt"})


def to_rope_parameters(d):
    """Rewrites config.json in the transformers v5 form: rope_parameters."""
    path = os.path.join(d, "config.json")
    with open(path) as f:
        c = json.load(f)
    if isinstance(c.get("rope_parameters"), dict):  # transformers 5 wrote it already
        c.pop("rope_scaling", None)
        c.pop("rope_theta", None)
        with open(path, "w") as f:
            json.dump(c, f, indent=2, sort_keys=True)
        return
    rp = dict(c.pop("rope_scaling", None) or {})
    if "type" in rp:
        rp["rope_type"] = rp.pop("type")
    rp.setdefault("rope_type", "default")
    rp["rope_theta"] = c.pop("rope_theta", 10000.0)
    c["rope_parameters"] = rp
    with open(path, "w") as f:
        json.dump(c, f, indent=2, sort_keys=True)


def make_case(outdir, name, small, seed):
    build, opts = CASES[name]
    cfg = make_config(build(small))
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(cfg)
    model.eval()
    gen = torch.Generator().manual_seed(seed)
    randomize(model, gen)
    if model.config.tie_word_embeddings:
        model.tie_weights()

    to_save = model
    if opts.get("dtype") == "bfloat16":
        # the reference is the fp32 model with its parameters rounded to bf16,
        # exactly what lowbit loads from the bf16 file (buffers such as
        # rotary inv_freq stay fp32, as a bf16 checkpoint loads them)
        with torch.no_grad():
            for p in model.parameters():
                p.copy_(p.to(torch.bfloat16).float())
        to_save = copy.deepcopy(model).to(torch.bfloat16)
    d = os.path.join(outdir, name)
    if os.path.exists(d):
        shutil.rmtree(d)
    kw = {"safe_serialization": True}
    if "shard" in opts:
        kw["max_shard_size"] = opts["shard"][0 if small else 1]
    to_save.save_pretrained(d, **kw)

    write_expected(model, d, name, shapes_for(opts, small), gen)

    if opts.get("noprefix"):
        rewrite_gpt2_noprefix(d, cfg.n_layer, cfg.n_positions)
    if opts.get("inv_freq"):
        add_inv_freq(d, cfg)
    if opts.get("rope_parameters"):
        to_rope_parameters(d)
    for extra in ("generation_config.json",):
        p = os.path.join(d, extra)
        if os.path.exists(p):
            os.remove(p)
    return d


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("outdir")
    ap.add_argument("--case", action="append", help="case name (repeatable); default: all")
    ap.add_argument("--small", action="store_true", help="tiny variants for tests/data/models")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--list", action="store_true")
    a = ap.parse_args()
    if a.list:
        print("\n".join(CASES))
        return 0
    names = a.case or (SMALL_DEFAULT if a.small else list(CASES))
    for n in names:
        if n not in CASES:
            print("make_models.py: unknown case '%s' (see --list)" % n, file=sys.stderr)
            return 2
    os.makedirs(a.outdir, exist_ok=True)
    torch.set_num_threads(1)
    for n in names:
        # each case's seed depends only on its name, so cases regenerate alike
        make_case(a.outdir, n, a.small, a.seed + zlib.crc32(n.encode()) % 100000)
        print(os.path.join(a.outdir, n))
    return 0


if __name__ == "__main__":
    sys.exit(main())
