"""safetensors_check.py — the Python side of tests/test_safetensors_py.sh.

Compares lowbit's safetensors I/O with the reference libraries (safetensors,
huggingface_hub, transformers). Three modes:

  fixtures DIR   DIR holds files lowbit wrote (test_safetensors_rt
                 --write-fixtures) and manifest.json describing their contents.
                 Rebuilds the same tensors, writes them with Python safetensors
                 (and huggingface_hub's shard splitting for directories) and
                 requires byte-identical files.
  write DIR      Writes files with Python (torch, numpy, a sharded
                 huggingface_hub dir, a transformers save_pretrained dir) plus
                 DIR/expected.json: for each path, {tensor: [dtype, shape]}.
  check EXPECTED PATH INFO_JSON
                 Requires `lowbit info --json PATH` output to list exactly the
                 expected names, dtypes and shapes for PATH.

Exit status 0 on success, 1 with a message naming the mismatch otherwise.
"""
import json
import os
import sys
import tempfile

import numpy as np
import torch
from safetensors.numpy import save_file as np_save
from safetensors.torch import save_file as torch_save

NP_DTYPES = {"F32": np.float32, "F16": np.float16, "I32": np.int32, "I8": np.int8, "U8": np.uint8}
TORCH_DTYPES = {
    "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16, "I32": torch.int32,
    "I8": torch.int8, "U8": torch.uint8, "I64": torch.int64, "F64": torch.float64,
    "BOOL": torch.bool, "I16": torch.int16,
}
for _name, _attr in (("F8_E4M3", "float8_e4m3fn"), ("F8_E5M2", "float8_e5m2")):
    if hasattr(torch, _attr):
        TORCH_DTYPES[_name] = getattr(torch, _attr)
TORCH_TO_STR = {v: k for k, v in TORCH_DTYPES.items()}


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def pattern(nbytes, seed):
    """Tensor byte i = (i*31 + seed) % 251, as test_safetensors_rt writes it."""
    return bytes((i * 31 + seed) % 251 for i in range(nbytes))


def build(t, lib):
    shape = t["shape"]
    numel = int(np.prod(shape)) if shape else 1
    if lib == "numpy":
        dt = np.dtype(NP_DTYPES[t["dtype"]])
        return np.frombuffer(pattern(numel * dt.itemsize, t["seed"]), dtype=dt).reshape(shape)
    dt = TORCH_DTYPES[t["dtype"]]
    size = torch.empty((), dtype=dt).element_size()
    if numel == 0:
        return torch.empty(shape, dtype=dt)
    return torch.frombuffer(bytearray(pattern(numel * size, t["seed"])), dtype=dt).reshape(shape).clone()


def same_bytes(ours, ref_writer, what):
    with tempfile.TemporaryDirectory() as d:
        ref = os.path.join(d, "ref.safetensors")
        ref_writer(ref)
        a, b = open(ours, "rb").read(), open(ref, "rb").read()
    if a != b:
        n = next((i for i in range(min(len(a), len(b))) if a[i] != b[i]), min(len(a), len(b)))
        fail(f"{what}: lowbit's file differs from Python's at byte {n} "
             f"(sizes {len(a)} vs {len(b)}): {a[max(0, n - 20):n + 40]!r} vs {b[max(0, n - 20):n + 40]!r}")


def check_dir(path, tensors, max_shard):
    # what split_numpy_state_dict_into_shards was (removed from newer hubs)
    from huggingface_hub.serialization import split_state_dict_into_shards_factory
    split = split_state_dict_into_shards_factory(tensors, get_storage_size=lambda t: t.nbytes,
                                                 filename_pattern="model{suffix}.safetensors",
                                                 max_shard_size=max_shard)
    want_files = set(split.filename_to_tensors)
    if split.is_sharded:
        want_files.add("model.safetensors.index.json")
    got_files = set(os.listdir(path))
    if got_files != want_files:
        fail(f"{path}: files {sorted(got_files)}, huggingface_hub would write {sorted(want_files)}")
    for fname, names in split.filename_to_tensors.items():
        sub = {n: tensors[n] for n in names}
        same_bytes(os.path.join(path, fname), lambda p: np_save(sub, p, metadata={"format": "pt"}),
                   f"{path}/{fname}")
    if split.is_sharded:
        index = {"metadata": split.metadata, "weight_map": split.tensor_to_filename}
        want = json.dumps(index, indent=2, sort_keys=True) + "\n"
        got = open(os.path.join(path, "model.safetensors.index.json"), encoding="utf-8").read()
        if got != want:
            fail(f"{path}: index differs from save_pretrained's:\n--- lowbit\n{got}\n--- python\n{want}")


def mode_fixtures(d):
    manifest = json.load(open(os.path.join(d, "manifest.json"), encoding="utf-8"))
    for f in manifest["files"]:
        tensors = {t["name"]: build(t, f["lib"]) for t in f["tensors"]}
        path = os.path.join(d, f["path"])
        if f["max_shard_bytes"]:
            check_dir(path, tensors, f["max_shard_bytes"])
        elif f["lib"] == "numpy":
            same_bytes(path, lambda p: np_save(tensors, p, metadata={"format": "pt"}), path)
        else:
            same_bytes(path, lambda p: torch_save(tensors, p, metadata={"format": "pt"}), path)
        print(f"ok: {f['path']} byte-identical with Python ({len(tensors)} tensors)")


def describe(sd):
    return {k: [TORCH_TO_STR[v.dtype], list(v.shape)] for k, v in sd.items()}


def mode_write(d):
    os.makedirs(d, exist_ok=True)
    g = torch.Generator().manual_seed(0)
    sd = {}
    for i, (name, dt) in enumerate(sorted(TORCH_DTYPES.items())):
        x = torch.randn(3, i + 1, generator=g) * 10
        sd[f"t.{name.lower()}"] = x.to(dt)
    sd["scalar.bf16"] = torch.tensor(1.5, dtype=torch.bfloat16)
    sd["empty.f16"] = torch.empty(0, 7, dtype=torch.float16)
    sd["model.layers.0.mlp.up_proj.weight"] = torch.randn(8, 4, generator=g).to(torch.bfloat16)
    torch_save(sd, os.path.join(d, "py_torch.safetensors"), metadata={"format": "pt", "note": "x"})
    expected = {"py_torch.safetensors": describe(sd)}

    npd = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.zeros((0,), np.int8)}
    np_save(npd, os.path.join(d, "py_numpy_nometa.safetensors"))   # no __metadata__ at all
    expected["py_numpy_nometa.safetensors"] = {"a": ["F32", [2, 3]], "b": ["I8", [0]]}

    from huggingface_hub import save_torch_state_dict
    hub = {f"w{i}": torch.randn(16, 16, generator=g).to(torch.float16) for i in range(5)}
    os.makedirs(os.path.join(d, "py_hub_sharded"))
    save_torch_state_dict(hub, os.path.join(d, "py_hub_sharded"), max_shard_size=1500)
    expected["py_hub_sharded"] = describe(hub)

    from transformers import LlamaConfig, LlamaForCausalLM
    cfg = LlamaConfig(vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64)
    torch.manual_seed(0)
    model = LlamaForCausalLM(cfg)
    model.save_pretrained(os.path.join(d, "py_llama"), max_shard_size="8KB", safe_serialization=True)
    expected["py_llama"] = describe(model.state_dict())
    if not os.path.exists(os.path.join(d, "py_llama", "model.safetensors.index.json")):
        fail("transformers did not shard py_llama; the test would not cover shards")
    json.dump(expected, open(os.path.join(d, "expected.json"), "w"))
    print(f"wrote {len(expected)} Python files/dirs to {d}")


def mode_check(expected_path, key, info_path):
    want = json.load(open(expected_path))[key]
    info = json.load(open(info_path))
    got = {t["name"]: [t["dtype"], t["shape"]] for t in info["tensors"]}
    if len(info["tensors"]) != len(got):
        fail(f"{key}: lowbit info lists a tensor twice")
    if got != want:
        missing = sorted(set(want) - set(got))
        extra = sorted(set(got) - set(want))
        wrong = sorted(k for k in set(want) & set(got) if want[k] != got[k])
        fail(f"{key}: missing {missing}, extra {extra}, wrong dtype/shape "
             f"{[(k, got[k], want[k]) for k in wrong]}")
    n_params = sum(int(np.prod(s)) if s else 1 for _, s in want.values())
    if info["n_params"] != n_params:
        fail(f"{key}: n_params {info['n_params']}, expected {n_params}")
    if key == "py_llama" and (not isinstance(info.get("config"), dict) or info["config"].get("model_type") != "llama"):
        fail(f"{key}: config summary missing or wrong: {info.get('config')}")
    print(f"ok: lowbit info {key}: {len(got)} tensors match")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "fixtures":
        mode_fixtures(sys.argv[2])
    elif len(sys.argv) == 3 and sys.argv[1] == "write":
        mode_write(sys.argv[2])
    elif len(sys.argv) == 5 and sys.argv[1] == "check":
        mode_check(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        fail("usage: safetensors_check.py fixtures DIR | write DIR | check EXPECTED KEY INFO_JSON")
