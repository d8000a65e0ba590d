#!/usr/bin/env python3
"""expected_logits.py — transformers' fp32 logits and greedy continuation for
an HF model directory, in the files tests/test_model_parity.c reads:

    expected_logits.py MODEL_DIR [MODEL_DIR ...] [--seed N] [--shapes 2x7,1x13]

writes MODEL_DIR/expected.safetensors (input_ids.<i> (B, T) I32, logits.<i>
(B, T, V) F32) and MODEL_DIR/expected.json ({"case", "inputs", "generate":
{"prompt", "tokens"}}). Used on checkpoints lowbit wrote (tests/test_init_cli.sh)
and, through write_expected, by make_models.py.

Runs with transformers 4.4x + torch 1.13 and transformers 5.x + torch 2.x, on
the CPU, with eager attention.
"""
import argparse
import json
import os
import sys

import torch
from safetensors.torch import save_file

import transformers


def write_expected(model, d, name, shapes, gen):
    """Logits of random ids for each (B, T) in shapes and an 8-token greedy
    continuation of a 5-token prompt, drawn from `gen` in that order."""
    V = model.config.vocab_size
    tensors = {}
    with torch.no_grad():
        for i, (B, T) in enumerate(shapes):
            ids = torch.randint(0, V, (B, T), generator=gen)
            logits = model(input_ids=ids, use_cache=False).logits.float()
            tensors["input_ids.%d" % i] = ids.to(torch.int32).contiguous()
            tensors["logits.%d" % i] = logits.contiguous()
        prompt = torch.randint(3, V, (1, 5), generator=gen)
        # synced_gpus=False: skips an FSDP probe that fails to import on some
        # Debian torch builds
        out = model.generate(prompt, max_new_tokens=8, do_sample=False, synced_gpus=False,
                             pad_token_id=0, attention_mask=torch.ones_like(prompt))
        new = out[0, prompt.shape[1]:].tolist()
    save_file(tensors, os.path.join(d, "expected.safetensors"), metadata={"format": "pt"})
    meta = {
        "case": name,
        "inputs": len(shapes),
        "transformers": transformers.__version__,
        "torch": torch.__version__,
        "generate": {"prompt": prompt[0].tolist(), "tokens": new},
    }
    with open(os.path.join(d, "expected.json"), "w") as f:
        json.dump(meta, f, indent=1)
        f.write("\n")


def load_fp32(d):
    from transformers import AutoModelForCausalLM
    try:
        m = AutoModelForCausalLM.from_pretrained(d, torch_dtype=torch.float32, attn_implementation="eager")
    except TypeError:
        m = AutoModelForCausalLM.from_pretrained(d, dtype=torch.float32, attn_implementation="eager")
    m.eval()
    return m


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model_dirs", nargs="+")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--shapes", default="2x7,1x13", help="BxT,... (default 2x7,1x13)")
    a = ap.parse_args()
    shapes = [tuple(int(v) for v in s.split("x")) for s in a.shapes.split(",")]
    torch.set_num_threads(1)
    for d in a.model_dirs:
        model = load_fp32(d)
        gen = torch.Generator().manual_seed(a.seed)
        write_expected(model, d, os.path.basename(os.path.normpath(d)), shapes, gen)
        n = sum(p.numel() for p in model.parameters())
        print("%s: %d parameters, expected logits written" % (d, n))
    return 0


if __name__ == "__main__":
    sys.exit(main())
