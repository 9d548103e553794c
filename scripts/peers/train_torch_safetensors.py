#!/usr/bin/python3
"""Trains the PyTorch peer network (../shared/peers/torch_mlp.py) and saves its state dict as safetensors.

Usage: train_torch_safetensors.py OUT.safetensors [--epochs 1] [--limit 60000] [--seed 0] [--dtype f32|f64]
The network, its init and its update are the peer's own (build("he"), Trainer: SGD, momentum 0.9, lr 0.05,
batch 128); the file is what `safetensors.torch.save_file(model.state_dict(), OUT)` writes (no edge-mlp
metadata), via plain numpy.  Prints one JSON line with the PyTorch test accuracy over the 10,000 MNIST test images.
The peers folder is found relative to this repository (../shared/peers beside it), or from $PEERS_DIR.
"""
import argparse
import json
import os
import sys
import time
import types

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
PEERS = os.environ.get("PEERS_DIR", os.path.join(os.path.dirname(ROOT), "shared", "peers"))
sys.path.insert(0, HERE)
sys.path.insert(0, PEERS)

import numpy as np  # noqa: E402
import torch  # noqa: E402
import safetensors_io  # noqa: E402
import torch_mlp  # noqa: E402  (the peer)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--limit", type=int, default=60000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dtype", choices=["f32", "f64"], default="f32")
    a = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(a.seed)
    g = torch.Generator().manual_seed(a.seed)
    Xtr, ytr, Xte, yte = torch_mlp.load("mnist")
    Xtr, ytr = Xtr[:a.limit], ytr[:a.limit]
    model = torch_mlp.build("he")
    opts = types.SimpleNamespace(optimizer="sgd", lr=0.05, momentum=0.9, alpha=0.0, beta=0.0, wd=1.0)
    trainer = torch_mlp.Trainer(model, opts)
    t0 = time.perf_counter()
    for _ in range(a.epochs):
        perm = torch.randperm(Xtr.shape[0], generator=g)
        for i in range(0, Xtr.shape[0], 128):
            idx = perm[i:i + 128]
            trainer.step(Xtr[idx], ytr[idx])
    seconds = time.perf_counter() - t0
    accuracy = torch_mlp.accuracy(model, Xte, yte)
    dtype = np.float64 if a.dtype == "f64" else np.float32
    state = {k: v.detach().numpy().astype(dtype) for k, v in model.state_dict().items()}
    safetensors_io.save(state, a.out, metadata={"format": "pt"})
    print(json.dumps({"peer": "torch", "epochs": a.epochs, "train_count": int(Xtr.shape[0]),
                      "train_seconds": round(seconds, 2), "test_accuracy": accuracy, "out": a.out,
                      "tensors": {k: list(v.shape) for k, v in state.items()}, "torch": torch.__version__}))


if __name__ == "__main__":
    main()
