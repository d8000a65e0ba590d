#!/usr/bin/env python3
"""torch_train_step.py — the PyTorch peer of `lowbit bench --what train-step`.

transformers' LlamaForCausalLM built from a config of the same shape (random
init, fp32 master weights), bf16 autocast, fused AdamW (foreach where fused
is unavailable), the same batch and context, random tokens. Each mode (eager,
torch.compile) runs warm-up steps, then timed steps; the step time is the
median (CUDA events around zero_grad + forward + loss + backward + step).
Loss: cross-entropy over all B*T next-token predictions of a B x (T+1)
token stream, as lowbit's bench computes it. Peak memory:
torch.cuda.max_memory_allocated over the timed steps of that mode.

MFU uses lowbit's formula (train/cli/cmd_bench.c): (6*N + 12*L*C*T) * tokens
per step over the peak (989 TFLOP/s, H100 SXM dense bf16; LB_BENCH_PEAK_TFLOPS
overrides), N = parameters in matrix products (all but an untied input
embedding).

--wq int<b>:g<N> (e.g. int4:g128) runs the QAT step of `lowbit bench --wq`:
every nn.Linear of the decoder blocks computes its weight through a
per-group min-max asymmetric fake-quant (GPTQ/torchao's scale and zero:
s = (max(w_max, 0) - min(w_min, 0)) / (2^b - 1), z = round(-min(w_min, 0) / s),
w^ = s * (clamp(round(w / s) + z, 0, 2^b - 1) - z), in fp32 on the master
weight) with the straight-through estimator w + (w^ - w).detach(), as
torchao's QAT does; the head and embeddings stay in high precision.

Prints one JSON object per mode (stdout); a mode that fails prints an object
with "error". Works with transformers 4.4x and 5.x, torch 1.13 .. 2.11;
on a machine without CUDA it runs on the CPU (for checking the script only).
"""
import argparse
import json
import os
import statistics
import sys
import time

PRESETS = {
    # name: (vocab, hidden, intermediate, layers, heads, kv heads, max_pos, tied)
    "tinyllama-1.1b": (32000, 2048, 5632, 22, 32, 4, 2048, False),
    "llama-tiny": (2048, 128, 384, 2, 4, 2, 512, False),
    "llama-12m": (8192, 384, 1024, 6, 6, 2, 2048, True),
    "llama-30m": (8192, 512, 1536, 8, 8, 4, 2048, True),
}


def make_config(name_or_file):
    from transformers import LlamaConfig
    if name_or_file in PRESETS:
        V, C, I, L, nh, nkv, P, tied = PRESETS[name_or_file]
        kw = dict(vocab_size=V, hidden_size=C, intermediate_size=I, num_hidden_layers=L,
                  num_attention_heads=nh, num_key_value_heads=nkv, max_position_embeddings=P,
                  rms_norm_eps=1e-5, tie_word_embeddings=tied, hidden_act="silu")
        try:
            return LlamaConfig(rope_theta=10000.0, **kw)
        except TypeError:  # a transformers that only takes rope_parameters
            return LlamaConfig(rope_parameters={"rope_type": "default", "rope_theta": 10000.0}, **kw)
    with open(name_or_file) as f:
        d = json.load(f)
    return LlamaConfig(**d)


def matmul_params(cfg):
    V, C = cfg.vocab_size, cfg.hidden_size
    I, L = cfg.intermediate_size, cfg.num_hidden_layers
    nh, nkv = cfg.num_attention_heads, cfg.num_key_value_heads
    hd = getattr(cfg, "head_dim", None) or C // nh
    per_layer = C * nh * hd * 2 + C * nkv * hd * 2 + 3 * C * I + 2 * C
    n = V * C + L * per_layer + C + (0 if cfg.tie_word_embeddings else V * C)
    return n, n - (0 if cfg.tie_word_embeddings else V * C), nh * hd


def parse_wq(spec):
    """(bits, group) of an 'int<b>:g<N>' spec (the only kind this peer runs)."""
    parts = spec.split(":")
    if not parts[0].startswith("int") or len(parts) < 2 or not parts[1].startswith("g"):
        raise SystemExit("torch_train_step.py: --wq %s: expected int<b>:g<N>" % spec)
    return int(parts[0][3:]), int(parts[1][1:])


def attach_fake_quant(model, bits, group):
    """Every nn.Linear of the blocks becomes a fake-quantized linear (STE) of
    a per-group asymmetric int<bits> min-max grid."""
    import torch
    from fq_linear import attach_fake_quant as attach

    qmax = float(2 ** bits - 1)

    def fake_quant(w):
        wg = w.reshape(-1, group)
        hi = wg.amax(dim=1, keepdim=True).clamp(min=0)
        lo = wg.amin(dim=1, keepdim=True).clamp(max=0)
        s = ((hi - lo) / qmax).clamp(min=torch.finfo(torch.float32).eps)
        z = torch.round(-lo / s)
        q = torch.clamp(torch.round(wg / s) + z, 0, qmax)
        return ((q - z) * s).reshape(w.shape)

    return attach(model, fake_quant)


def run_mode(mode, cfg, args, device):
    import torch
    import torch.nn.functional as F
    from transformers import LlamaForCausalLM

    torch.manual_seed(args.seed)
    kw = {}
    try:
        model = LlamaForCausalLM._from_config(cfg, attn_implementation="sdpa", torch_dtype=torch.float32)
    except Exception:  # an older torch/transformers without SDPA: their default attention
        model = LlamaForCausalLM(cfg)
    model = model.to(device).train()
    if args.wq:
        bits, group = parse_wq(args.wq)
        kw["wq"] = args.wq
        kw["fake_quant_linears"] = attach_fake_quant(model, bits, group)
    opt_kw = dict(lr=1e-4, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)
    if device == "cuda":
        try:
            opt = torch.optim.AdamW(model.parameters(), fused=True, **opt_kw)
            kw["optimizer"] = "fused"
        except (TypeError, RuntimeError):
            opt = torch.optim.AdamW(model.parameters(), foreach=True, **opt_kw)
            kw["optimizer"] = "foreach"
    else:
        opt = torch.optim.AdamW(model.parameters(), **opt_kw)
        kw["optimizer"] = "default"
    fwd = model
    if mode == "compile":
        fwd = torch.compile(model)

    B, T, V = args.batch, args.ctx, cfg.vocab_size
    g = torch.Generator(device="cpu").manual_seed(args.seed)
    amp_dtype = torch.bfloat16

    def step():
        tok = torch.randint(0, V, (B, T + 1), generator=g).to(device, non_blocking=True)
        ids, tgt = tok[:, :-1], tok[:, 1:]
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device_type=device, dtype=amp_dtype):
            logits = fwd(input_ids=ids).logits
        loss = F.cross_entropy(logits.reshape(-1, V).float(), tgt.reshape(-1))
        loss.backward()
        opt.step()
        return loss

    times, losses = [], []
    t_compile = time.time()
    for s in range(args.warmup + args.steps):
        if device == "cuda":
            if s == args.warmup:
                torch.cuda.synchronize()
                torch.cuda.reset_peak_memory_stats()
            e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            e0.record()
            loss = step()
            e1.record()
            e1.synchronize()
            ms = e0.elapsed_time(e1)
        else:
            t0 = time.perf_counter()
            loss = step()
            ms = 1e3 * (time.perf_counter() - t0)
        if s == 0:
            losses.append(float(loss))
            first_step_s = time.time() - t_compile
        if s >= args.warmup:
            times.append(ms)
    losses.append(float(loss))
    med = statistics.median(times)
    n_all, n_mm, attn_c = matmul_params(cfg)
    tokens = B * T
    flops = 6.0 * n_mm * tokens + 12.0 * cfg.num_hidden_layers * attn_c * T * tokens
    peak = float(os.environ.get("LB_BENCH_PEAK_TFLOPS", "989"))
    out = {
        "impl": "torch " + mode + (" wq" if args.wq else ""), "step_ms": med, "tokens_per_s": tokens / (med * 1e-3),
        "mfu": flops / (med * 1e-3) / (peak * 1e12), "params": n_all, "matmul_params": n_mm,
        "flops_per_step": flops, "peak_tflops": peak, "loss_first": losses[0], "loss_last": losses[-1],
        "first_step_s": first_step_s,
        "peak_alloc_gib": (torch.cuda.max_memory_allocated() / 2**30) if device == "cuda" else None,
        "torch": torch.__version__, **kw,
    }
    del model, opt, fwd
    if device == "cuda":
        torch.cuda.empty_cache()
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", default="tinyllama-1.1b", help="preset name or an HF LlamaConfig JSON")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--ctx", type=int, default=2048)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--modes", default="eager,compile")
    ap.add_argument("--wq", default="", help="int<b>:g<N>: fake-quantize the blocks' linear weights (STE)")
    args = ap.parse_args()
    try:
        import torch
        import transformers
    except ImportError as e:
        print(json.dumps({"impl": "torch", "error": "cannot import torch/transformers: %s" % e}))
        return 0
    device = "cuda" if torch.cuda.is_available() else "cpu"
    cfg = make_config(args.config)
    for mode in args.modes.split(","):
        try:
            r = run_mode(mode, cfg, args, device)
            r["transformers"] = transformers.__version__
            r["device"] = device
        except Exception as e:  # report and go on to the next mode
            msg = ("%s: %s" % (type(e).__name__, e)).splitlines()[0][:300]
            r = {"impl": "torch " + mode + (" wq" if args.wq else ""), "error": msg}
            if device == "cuda":
                torch.cuda.empty_cache()
        print(json.dumps(r), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
