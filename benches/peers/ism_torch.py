"""Naive in-silico saturation mutagenesis in PyTorch: the peer `benches/ism.rs` measures seqcnn's
fast and naive ISM against.

The same network (DeepSEA's nn.Sequential, weights from a state dict seqcnn exported), the same
1000 bp sequence, the same mutants in the same order (by position, then alternative base in ACGT
order, skipping the reference base), scored as raw outputs (logits) on the forward strand, in
batches of `--batch` mutants under `torch.inference_mode()` with `--threads` threads. Building the
one-hot mutants is timed with the forward passes, as seqcnn builds its mutants inside its timing.
Writes the reference and mutant scores to `--out` (safetensors: `reference [tasks]`, `mutants
[3 * len, tasks]`) and prints one JSON line: {"seconds": ..., "variants_per_sec": ..., ...}.

    /work/torchenv/bin/python benches/peers/ism_torch.py --state deepsea_state.safetensors \
        --seq seq.txt --tasks 919 --out torch_scores.safetensors --threads 2 --batch 128
"""

import argparse
import json
import time

import torch
from safetensors.torch import load_file, save_file
from torch import nn


def deepsea(n_tasks, widths=(320, 480, 960), length=1000):
    c1, c2, c3 = widths
    l3 = ((length - 7) // 4 - 7) // 4 - 7
    return nn.Sequential(
        nn.Conv1d(4, c1, 8), nn.ReLU(), nn.MaxPool1d(4), nn.Dropout(0.2),
        nn.Conv1d(c1, c2, 8), nn.ReLU(), nn.MaxPool1d(4), nn.Dropout(0.2),
        nn.Conv1d(c2, c3, 8), nn.ReLU(), nn.Dropout(0.5), nn.Flatten(),
        nn.Linear(c3 * l3, 925), nn.ReLU(), nn.Linear(925, n_tasks),
    )


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--state", required=True, help="state dict (safetensors) from seqcnn")
    p.add_argument("--seq", required=True, help="file holding the sequence (ACGT) on one line")
    p.add_argument("--tasks", type=int, required=True)
    p.add_argument("--widths", default="320,480,960")
    p.add_argument("--out", required=True)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch", type=int, default=128)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    with open(a.seq) as f:
        seq = f.read().strip().upper()
    net = deepsea(a.tasks, tuple(int(w) for w in a.widths.split(",")), len(seq))
    net.load_state_dict(load_file(a.state))
    net.eval()
    index = {b: i for i, b in enumerate("ACGT")}
    onehot = torch.zeros(4, len(seq))
    for j, b in enumerate(seq):
        onehot[index[b], j] = 1.0
    mutations = [(j, index[alt]) for j, b in enumerate(seq) for alt in "ACGT" if alt != b]

    with torch.inference_mode():
        reference = net(onehot[None])[0]
        net(onehot[None].repeat(a.batch, 1, 1))  # warm-up, untimed
        start = time.perf_counter()
        chunks = []
        for k in range(0, len(mutations), a.batch):
            chunk = mutations[k:k + a.batch]
            x = onehot[None].repeat(len(chunk), 1, 1)
            pos = torch.tensor([j for j, _ in chunk])
            alt = torch.tensor([c for _, c in chunk])
            rows = torch.arange(len(chunk))
            x[rows, :, pos] = 0.0
            x[rows, alt, pos] = 1.0
            chunks.append(net(x))
        mutants = torch.cat(chunks)
        secs = time.perf_counter() - start
    save_file({"reference": reference.contiguous(), "mutants": mutants.contiguous()}, a.out)
    print(json.dumps({
        "peer": f"torch {torch.__version__}",
        "threads": torch.get_num_threads(),
        "batch": a.batch,
        "variants": len(mutations),
        "seconds": secs,
        "variants_per_sec": len(mutations) / secs,
    }))


if __name__ == "__main__":
    main()
