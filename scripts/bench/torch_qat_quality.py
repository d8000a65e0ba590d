#!/usr/bin/env python3
"""torch_qat_quality.py — the torchao-style PyTorch QAT peer of qat_quality.sh.

Fine-tunes transformers' LlamaForCausalLM, loaded from the same HF dir that
lowbit fine-tunes, on the SAME tokens in the SAME order as `lowbit train`
with the same hyper-parameters, with every nn.Linear of the decoder blocks
computing its weight through a dynamic min-max fake-quant with the
straight-through estimator (torchao's QAT recipe: w + (fq(w) - w).detach(),
scales and zeros recomputed from the current weight every forward; head and
embeddings stay in high precision), then reports the validation perplexity
of the fake-quantized model by lowbit's protocol.

What is replicated from lowbit (and where it is specified):
  batches   train/batches.h: draw d starts at floor(h * P / 2^64),
            h = splitmix64(splitmix64(seed) ^ d), P = n_tokens - T; step s
            takes draws s*B .. s*B+B-1 (one rank); T+1 tokens per window
  loss      mean cross-entropy over the B*T next-token predictions
  schedule  train/schedule.c: warmup lr*(s+1)/warmup, then cosine (or
            linear / constant) to min_lr (default lr/10)
  AdamW     train/optim.h: torch's formula; decay only on >= 2-D tensors
  clip      global grad norm over every parameter, scaled by clip/norm
            when the norm exceeds clip
  grids     DESIGN §4 / quant/grid.c: int<b> per group (or channel /
            tensor) asymmetric s = (max(x_max,0) - min(x_min,0))/(2^b-1),
            z = round(-min(x_min,0)/s) clamped to [0, 2^b-1]; symmetric
            s = 2 max|x| / (2^b-1), z = 2^(b-1); an all-zero group uses
            the range [-1, 1]; scales rounded to fp16 (the :f16 default,
            clamped to [2^-24, 65504]) before use; round half to even.
            q4_0: ggml's block of 32: d = (the element of largest |x|)/-8,
            q = min(15, trunc(x/d + 8.5)), w^ = fp16(d) * (q - 8).
  eval      DESIGN §6: non-overlapping windows of T tokens of the
            validation file, each scored on its T-1 next-token
            predictions; ppl = exp(total NLL / predictions)

Compute: bf16 autocast on CUDA for training (fp32 master weights, the
fake-quant in fp32 on the master weight); evaluation in fp32 (TF32 off) by
default, as lowbit's CPU eval, the specification, computes it.

Prints one JSON object (and writes it to --json-out when given).
"""
import argparse
import json
import math
import sys
import time

import h5py
import numpy as np
import torch
import torch.nn.functional as F

from fq_linear import attach_fake_quant

MASK64 = (1 << 64) - 1


def splitmix64(x):
    x = (x + 0x9E3779B97F4A7C15) & MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & MASK64
    return x ^ (x >> 31)


def draw_position(seed, d, n_tokens, T):
    """lb_batches_position: the start token of draw d."""
    h = splitmix64(splitmix64(seed & MASK64) ^ d)
    return (h * (n_tokens - T)) >> 64


def lr_at(step, a):
    """lb_schedule_lr."""
    if step < a.warmup:
        return a.lr * (step + 1) / a.warmup
    if a.schedule == "constant":
        return a.lr
    span = a.steps - a.warmup
    p = (step - a.warmup) / span if span > 0 else 0.0
    p = min(p, 1.0)
    if a.schedule == "linear":
        return a.lr - (a.lr - a.min_lr) * p
    return a.min_lr + (a.lr - a.min_lr) * 0.5 * (1.0 + math.cos(math.pi * p))


# ---- the grids ---------------------------------------------------------------------


def parse_spec(spec):
    """(kind, bits, group, sym, f16) of a weight spec this peer runs: int<b>
    with minmax scales (the torchao recipe), or q4_0. group: an int, 'ch' or
    'tensor'."""
    if spec == "q4_0":
        return ("q4_0", 4, 32, True, True)
    parts = spec.split(":")
    if not parts[0].startswith("int"):
        raise SystemExit("torch_qat_quality.py: --wq %s: expected int<b>[:g<N>|:ch|:tensor][:sym|:asym][:f16|:f32] "
                         "or q4_0" % spec)
    bits, group, sym, f16 = int(parts[0][3:]), 128, False, True
    for p in parts[1:]:
        if p.startswith("g"):
            group = int(p[1:])
        elif p in ("ch", "tensor"):
            group = p
        elif p in ("sym", "asym"):
            sym = p == "sym"
        elif p in ("f16", "f32"):
            f16 = p == "f16"
        elif p != "minmax":
            raise SystemExit("torch_qat_quality.py: --wq %s: field '%s' is not a dynamic min-max grid" % (spec, p))
    return ("int", bits, group, sym, f16)


def round_scale(s, f16):
    if f16:
        s = s.to(torch.float16).to(torch.float32)
        s = torch.where(s >= 2.0 ** -24, s, torch.full_like(s, 2.0 ** -24))  # also NaN
        return s.clamp(max=65504.0)
    tiny = torch.finfo(torch.float32).tiny * torch.finfo(torch.float32).eps  # FLT_TRUE_MIN
    return torch.where(s >= tiny, s, torch.full_like(s, tiny))


def fake_quant_int(w, bits, group, sym, f16):
    out_f, in_f = w.shape
    g = in_f if group == "ch" else (w.numel() if group == "tensor" else group)
    wg = w.reshape(-1, g)
    maxq = float(2 ** bits - 1)
    lo = wg.amin(dim=1, keepdim=True).clamp(max=0)
    hi = wg.amax(dim=1, keepdim=True).clamp(min=0)
    zero = (lo == 0) & (hi == 0)
    lo = torch.where(zero, torch.full_like(lo, -1.0), lo)
    hi = torch.where(zero, torch.full_like(hi, 1.0), hi)
    if sym:
        a = torch.maximum(-lo, hi)
        s = round_scale((a + a) / maxq, f16)
        z = torch.full_like(s, float(2 ** (bits - 1)))
    else:
        s = round_scale((hi - lo) / maxq, f16)
        z = torch.clamp(torch.round(-lo / s), 0, maxq)
    q = torch.clamp(torch.round(wg / s) + z, 0, maxq)
    return (s * (q - z)).reshape(w.shape)


def fake_quant_q4_0(w):
    wb = w.reshape(-1, 32)
    idx = wb.abs().argmax(dim=1, keepdim=True)   # the first of equal maxima, as ggml's strict '<'
    mx = torch.gather(wb, 1, idx)
    d = mx / -8.0
    inv = torch.where(d != 0, 1.0 / torch.where(d != 0, d, torch.ones_like(d)), torch.zeros_like(d))
    t = wb * inv + 8.5
    c = torch.where(torch.isfinite(t) & (t > 0), torch.floor(t), torch.zeros_like(t))
    q = torch.clamp(c, max=15.0)
    s = d.to(torch.float16).to(torch.float32)
    return (s * (q - 8.0)).reshape(w.shape)


def make_fake_quant(spec):
    kind, bits, group, sym, f16 = parse_spec(spec)
    if kind == "q4_0":
        return fake_quant_q4_0
    return lambda w: fake_quant_int(w, bits, group, sym, f16)


# ---- data, training, evaluation --------------------------------------------------------


def load_tokens(path):
    with h5py.File(path, "r") as f:
        return np.asarray(f["tokens"][:], dtype=np.int64)


def batch_at(tokens, seed, step, B, T):
    rows = []
    for j in range(B):
        p = draw_position(seed, step * B + j, len(tokens), T)
        rows.append(tokens[p:p + T + 1])
    return torch.from_numpy(np.stack(rows))


@torch.no_grad()
def evaluate(model, tokens, T, max_windows, device, bf16, batch=16):
    n_windows = len(tokens) // T
    if max_windows > 0:
        n_windows = min(n_windows, max_windows)
    model.eval()
    nll = 0.0
    for w0 in range(0, n_windows, batch):
        nb = min(batch, n_windows - w0)
        ids = torch.from_numpy(tokens[w0 * T:(w0 + nb) * T].reshape(nb, T)).to(device)
        with torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=bf16):
            logits = model(input_ids=ids).logits
        logits = logits[:, :-1].float().reshape(-1, logits.shape[-1])
        nll += F.cross_entropy(logits.double(), ids[:, 1:].reshape(-1), reduction="sum").item()
    model.train()
    n_pred = n_windows * (T - 1)
    return {"ppl": math.exp(nll / n_pred), "nll": nll / n_pred, "windows": n_windows}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, help="HF dir to start from")
    ap.add_argument("--data", help="training split (.h5 of lowbit data)")
    ap.add_argument("--val", required=True, help="validation split (.h5)")
    ap.add_argument("--wq", default="none", help="int<b>[:g<N>|:ch|:tensor][:sym|:asym][:f16|:f32] | q4_0 | none")
    ap.add_argument("--steps", type=int, default=0, help="optimizer steps (0: evaluate only)")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--ctx", type=int, default=256)
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--min-lr", type=float, default=-1.0, help="default lr/10, as lowbit")
    ap.add_argument("--warmup", type=int, default=0)
    ap.add_argument("--schedule", default="cosine", choices=["cosine", "linear", "constant"])
    ap.add_argument("--weight-decay", type=float, default=0.01)
    ap.add_argument("--beta1", type=float, default=0.9)
    ap.add_argument("--beta2", type=float, default=0.999)
    ap.add_argument("--eps", type=float, default=1e-8)
    ap.add_argument("--clip", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--eval-windows", type=int, default=0, help="validation windows (0: all)")
    ap.add_argument("--eval-bf16", action="store_true", help="evaluate under bf16 autocast (default fp32)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--json-out", help="also write the result here")
    a = ap.parse_args()
    if a.min_lr < 0:
        a.min_lr = a.lr / 10
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.manual_seed(a.seed)

    from transformers import LlamaForCausalLM
    t0 = time.time()
    model = None
    for kw in ({"dtype": torch.float32, "attn_implementation": "sdpa"},
               {"torch_dtype": torch.float32, "attn_implementation": "sdpa"},
               {"torch_dtype": torch.float32}):   # an old torch without SDPA: the eager attention
        try:
            model = LlamaForCausalLM.from_pretrained(a.model, **kw)
            break
        except (TypeError, ImportError, ValueError):
            continue
    if model is None:
        raise SystemExit("torch_qat_quality.py: cannot load %s with transformers" % a.model)
    model = model.to(a.device).train()
    res = {"impl": "torch", "wq": a.wq, "steps": a.steps, "batch": a.batch, "ctx": a.ctx, "lr": a.lr,
           "torch": torch.__version__}
    if a.wq != "none":
        res["fake_quant_linears"] = attach_fake_quant(model, make_fake_quant(a.wq))

    losses = []
    if a.steps > 0:
        tokens = load_tokens(a.data)
        decay = [p for p in model.parameters() if p.dim() >= 2]
        no_decay = [p for p in model.parameters() if p.dim() < 2]
        opt = torch.optim.AdamW([{"params": decay, "weight_decay": a.weight_decay},
                                 {"params": no_decay, "weight_decay": 0.0}],
                                lr=a.lr, betas=(a.beta1, a.beta2), eps=a.eps)
        params = [p for p in model.parameters()]
        bf16 = a.device == "cuda"
        V = model.config.vocab_size
        for s in range(a.steps):
            tok = batch_at(tokens, a.seed, s, a.batch, a.ctx).to(a.device)
            ids, tgt = tok[:, :-1], tok[:, 1:]
            lr = lr_at(s, a)
            for g in opt.param_groups:
                g["lr"] = lr
            with torch.autocast(device_type=a.device, dtype=torch.bfloat16, enabled=bf16):
                logits = model(input_ids=ids).logits
            loss = F.cross_entropy(logits.float().reshape(-1, V), tgt.reshape(-1))
            loss.backward()
            gn = torch.sqrt(sum((p.grad.float() ** 2).sum() for p in params if p.grad is not None))
            gnorm = gn.item()
            if not math.isfinite(gnorm) or not math.isfinite(loss.item()):
                opt.zero_grad(set_to_none=True)   # lowbit skips such a step too
                continue
            if a.clip > 0 and gnorm > a.clip:
                for p in params:
                    if p.grad is not None:
                        p.grad.mul_(a.clip / gnorm)
            opt.step()
            opt.zero_grad(set_to_none=True)
            losses.append(loss.item())
        res["final_loss"] = losses[-1] if losses else None
    res["train_seconds"] = time.time() - t0
    val = load_tokens(a.val)
    res.update(evaluate(model, val, a.ctx, a.eval_windows, a.device, a.eval_bf16))
    res["eval"] = "bf16" if a.eval_bf16 else "fp32"
    text = json.dumps(res)
    print(text)
    if a.json_out:
        with open(a.json_out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    sys.exit(main())
