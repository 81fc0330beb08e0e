"""LeNet-5 training throughput in PyTorch: the peer `benches/lenet5.rs` measures seqcnn against.

The same network (ReLU, max pool, 28x28 input padded to 32x32 by the first convolution), the same
optimiser (Adam, lr 1e-3), the same batch size and thread count, the same MNIST images (scaled by
1/255), the same timing: `--warmup` optimiser steps untimed, then `--steps` timed steps, cycling
through the images in file order. Prints one JSON line: {"samples_per_sec": ..., ...}.

    /work/torchenv/bin/python benches/peers/lenet5_torch.py \
        --images ../shared/data/images/mnist/train-images-idx3-ubyte.gz \
        --labels ../shared/data/images/mnist/train-labels-idx1-ubyte.gz --threads 2
"""

import argparse
import gzip
import json
import struct
import time

import torch
from torch import nn


def read_idx(path):
    with open(path, "rb") as f:
        data = f.read()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    magic, count = struct.unpack(">II", data[:8])
    if magic == 0x803:
        rows, cols = struct.unpack(">II", data[8:16])
        x = torch.frombuffer(bytearray(data[16:16 + count * rows * cols]), dtype=torch.uint8)
        return x.reshape(count, 1, rows, cols).float() / 255.0
    if magic == 0x801:
        return torch.frombuffer(bytearray(data[8:8 + count]), dtype=torch.uint8).long()
    raise SystemExit(f"{path}: not an IDX image or label file (magic {magic:#010x})")


def lenet5():
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(400, 120), nn.ReLU(),
        nn.Linear(120, 84), nn.ReLU(),
        nn.Linear(84, 10),
    )


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", required=True)
    p.add_argument("--labels", required=True)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    x, y = read_idx(a.images), read_idx(a.labels)
    net = lenet5()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    n = x.shape[0]
    batches = [(x[i:i + a.batch], y[i:i + a.batch]) for i in range(0, n - a.batch + 1, a.batch)]

    def step(k):
        xb, yb = batches[k % len(batches)]
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(net(xb), yb)
        loss.backward()
        opt.step()
        return loss

    net.train()
    for k in range(a.warmup):
        step(k)
    start = time.perf_counter()
    for k in range(a.steps):
        step(a.warmup + k)
    secs = time.perf_counter() - start
    print(json.dumps({
        "peer": f"torch {torch.__version__}",
        "threads": torch.get_num_threads(),
        "batch": a.batch,
        "steps": a.steps,
        "seconds": secs,
        "samples_per_sec": a.steps * a.batch / secs,
    }))


if __name__ == "__main__":
    main()
