"""The chr20 multi-task benchmark of issue 4 trained in PyTorch: the accuracy peer of
`seqcnn train --arch dilated --genome ...` (README, Results on chr20).

Same data, labels and recipe as seqcnn's genome mode, written out here in numpy:
- 200 bp bins tiled from each region's start, 1000 bp windows centred on them, N outside the
  contig, windows with more than 10% N skipped; a bin is positive for a task when at least 50% of
  it is covered by the task's (merged) BED intervals;
- train on 20:1-48,000,000, validate on 20:48,000,001-50,000,000, test on
  20:50,000,001-63,025,520 (BED coordinates: [48e6, 50e6) and [50e6, 63,025,520));
- every epoch: all windows positive for some task plus a fresh draw of `--keep-negatives` of the
  all-negative ones, each shifted by up to `--jitter` bp and put on a random strand; batches of 64;
- the `dilated` network of src/arch/dilated.toml with every dropout at `--dropout`, BCE on logits,
  AdamW with decay on every weight (batch-norm scales included) and none on biases, as seqcnn
  does, plateau schedule on the validation mean AUROC
  (factor 0.3 after more than 2 epochs without improvement), the best epoch kept;
- scoring is the mean of both strands' logits (seqcnn `--strand mean`); AUROC with ties averaged,
  AUPRC as average precision, as `seqcnn eval` computes them.

    /work/torchenv/bin/python benches/peers/chr20_torch.py --data ../shared/data --out peer.json

Prints one line per epoch on stderr, and writes the test AUROC/AUPRC per task as JSON.
"""

import argparse
import gzip
import json
import sys
import time

import numpy as np
import torch
from torch import nn

from models_torch import Residual

BIN, WINDOW, PAD = 200, 1000, 2000
TRAIN, VALID, TEST = (0, 48_000_000), (48_000_000, 50_000_000), (50_000_000, 63_025_520)
ONE_HOT = np.array([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1],
                    [0.25, 0.25, 0.25, 0.25]], dtype=np.float32)


def read_genome(path):
    lut = np.full(256, 4, np.uint8)
    for i, c in enumerate(b"ACGT"):
        lut[c] = i
        lut[c + 32] = i
    with gzip.open(path, "rb") as f:
        text = b"".join(line.rstrip() for line in f if not line.startswith(b">"))
    codes = lut[np.frombuffer(text, dtype=np.uint8)]
    return np.concatenate([np.full(PAD, 4, np.uint8), codes, np.full(PAD, 4, np.uint8)])


def coverage(path, length):
    """Per-base 0/1 mask of the BED file's intervals, as a cumulative sum (length + 1)."""
    diff = np.zeros(length + 1, np.int32)
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt") as f:
        for line in f:
            if not line.strip() or line.startswith(("#", "track", "browser")):
                continue
            p = line.split("\t")
            s, e = int(p[1]), min(int(p[2]), length)
            diff[s] += 1
            diff[e] -= 1
    mask = (np.cumsum(diff[:-1]) > 0).astype(np.int64)
    return np.concatenate([[0], np.cumsum(mask)])


def tile(region, codes, covs, length):
    lo, hi = region
    hi = min(hi, length)
    starts = np.arange(lo, hi - BIN + 1, BIN, dtype=np.int64)
    ws = starts + BIN // 2 - WINDOW // 2
    isn = np.concatenate([[0], np.cumsum(codes == 4)])
    n = isn[ws + PAD + WINDOW] - isn[ws + PAD]
    keep = n <= 0.1 * WINDOW
    starts, ws = starts[keep], ws[keep]
    y = np.stack([(c[starts + BIN] - c[starts]) >= 0.5 * BIN for c in covs], 1).astype(np.float32)
    return ws, y


def batch_x(codes, ws, shift=None, rc=None):
    idx = (ws + PAD)[:, None] + np.arange(WINDOW)[None, :]
    if shift is not None:
        idx = idx + shift[:, None]
    x = ONE_HOT[codes[idx]]  # [B, L, 4]
    if rc is not None:
        x[rc] = x[rc, ::-1, ::-1]
    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 2, 1)))


def dilated(tasks, p):
    def block(d):
        return Residual(nn.BatchNorm1d(64), nn.ReLU(),
                        nn.Conv1d(64, 64, 3, dilation=d, padding="same"),
                        nn.BatchNorm1d(64), nn.ReLU(), nn.Conv1d(64, 64, 1), nn.Dropout(p))
    return nn.Sequential(
        nn.Conv1d(4, 64, 15, padding="same"), nn.BatchNorm1d(64), nn.ReLU(), nn.MaxPool1d(4),
        nn.Conv1d(64, 64, 5, padding="same"), nn.BatchNorm1d(64), nn.ReLU(), nn.MaxPool1d(2),
        block(1), block(2), block(4), block(8),
        nn.BatchNorm1d(64), nn.ReLU(), nn.MaxPool1d(5), nn.Flatten(), nn.Dropout(p),
        nn.Linear(64 * 25, tasks))


def auroc(y, s):
    _, inv, counts = np.unique(s, return_inverse=True, return_counts=True)
    ranks = (np.cumsum(counts) - (counts - 1) / 2)[inv]  # 1-based, ties averaged
    n1 = y.sum()
    n0 = len(y) - n1
    return float((ranks[y == 1].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def auprc(y, s):
    order = np.argsort(-s, kind="mergesort")
    ys, ss = y[order], s[order]
    tp = np.cumsum(ys)
    # precision at the end of each run of tied scores
    last = np.r_[ss[1:] != ss[:-1], True]
    k = np.nonzero(last)[0]
    prec = tp[k] / (k + 1)
    rec_gain = np.diff(np.r_[0, tp[k]])
    return float((prec * rec_gain).sum() / ys.sum())


def score(net, codes, ws, batch=256):
    net.eval()
    out = []
    with torch.inference_mode():
        for i in range(0, len(ws), batch):
            w = ws[i:i + batch]
            fwd = net(batch_x(codes, w))
            rev = net(batch_x(codes, w, rc=np.ones(len(w), bool)))
            out.append(((fwd + rev) / 2).numpy())
    return np.concatenate(out)


def metrics(y, s, names):
    return {n: {"auroc": auroc(y[:, t], s[:, t]), "auprc": auprc(y[:, t], s[:, t])}
            for t, n in enumerate(names)}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="../shared/data")
    p.add_argument("--out", required=True)
    p.add_argument("--epochs", type=int, default=18)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--weight-decay", type=float, default=0.05)
    p.add_argument("--dropout", type=float, default=0.3)
    p.add_argument("--keep-negatives", type=float, default=0.25)
    p.add_argument("--jitter", type=int, default=25)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)

    t0 = time.time()
    codes = read_genome(f"{a.data}/genome/20.fa.gz")
    length = len(codes) - 2 * PAD
    names = ["CTCF", "CpG", "CDS"]
    beds = ["chr20_CTCF.bed", "chr20_CpG_islands.bed", "chr20_CDS.bed"]
    covs = [coverage(f"{a.data}/peaks/{b}", length) for b in beds]
    tr_ws, tr_y = tile(TRAIN, codes, covs, length)
    va_ws, va_y = tile(VALID, codes, covs, length)
    te_ws, te_y = tile(TEST, codes, covs, length)
    pos = tr_y.any(1)
    print(f"train {len(tr_ws)} windows (positives per task {tr_y.sum(0).astype(int).tolist()}), "
          f"valid {len(va_ws)}, test {len(te_ws)}; {time.time() - t0:.0f}s", file=sys.stderr)

    net = dilated(len(names), a.dropout)
    decay = [q for n, q in net.named_parameters() if n.endswith("weight")]
    no_decay = [q for n, q in net.named_parameters() if not n.endswith("weight")]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": a.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=a.lr)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="max", factor=0.3, patience=2)
    loss_fn = nn.BCEWithLogitsLoss()
    best, best_state, log = -1.0, None, []
    for epoch in range(1, a.epochs + 1):
        t = time.time()
        neg = np.nonzero(~pos)[0]
        chosen = np.concatenate([np.nonzero(pos)[0],
                                 neg[rng.random(len(neg)) < a.keep_negatives]])
        rng.shuffle(chosen)
        net.train()
        total = 0.0
        for i in range(0, len(chosen), 64):
            b = chosen[i:i + 64]
            shift = rng.integers(-a.jitter, a.jitter + 1, len(b)) if a.jitter else None
            x = batch_x(codes, tr_ws[b], shift=shift, rc=rng.random(len(b)) < 0.5)
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(net(x), torch.from_numpy(tr_y[b]))
            loss.backward()
            opt.step()
            total += loss.item() * len(b)
        m = metrics(va_y, score(net, codes, va_ws), names)
        mean = float(np.mean([v["auroc"] for v in m.values()]))
        sched.step(mean)
        star = mean > best
        if star:
            best = mean
            best_state = {k: v.clone() for k, v in net.state_dict().items()}
        row = {"epoch": epoch, "train_loss": total / len(chosen), "valid_auroc": mean,
               "valid": m, "seconds": time.time() - t, "best": star}
        log.append(row)
        tasks = "  ".join(f"{n} {v['auroc']:.4f}/{v['auprc']:.4f}" for n, v in m.items())
        print(f"epoch {epoch}/{a.epochs}  train_loss {row['train_loss']:.4f}  valid_auroc "
              f"{mean:.4f}  {tasks}  {row['seconds']:.0f}s{'  *' if star else ''}",
              file=sys.stderr, flush=True)
    net.load_state_dict(best_state)
    test = metrics(te_y, score(net, codes, te_ws), names)
    print("test " + "  ".join(f"{n} {v['auroc']:.4f}/{v['auprc']:.4f}" for n, v in test.items()),
          file=sys.stderr)
    with open(a.out, "w") as f:
        json.dump({"peer": f"torch {torch.__version__}", "test_bins": len(te_ws), "test": test,
                   "epochs": log, "args": vars(a)}, f, indent=1)


if __name__ == "__main__":
    main()
