"""Training-step and inference throughput of deepbind, deepsea, dilated and lenet5 in PyTorch: the
peer `benches/models.rs` is compared with (`benches/peers/run.sh` runs both).

The same networks as the built-in architectures (`src/arch/*.toml`, whose comments give these
`nn.Sequential`s), the same input shapes (deepbind 4x101, deepsea and dilated 4x1000, lenet5
1x28x28), tasks (919 for deepsea and dilated, 1 for deepbind, 10 classes for lenet5), batch,
thread count, optimiser (Adam, lr 1e-3) and losses (BCE on logits; cross-entropy for lenet5);
dropout and batch statistics on in training (`net.train()`), off in inference (`net.eval()`
under `torch.inference_mode()`). Inputs are random one-hot sequences (images: uniform pixels)
made before the timing. Timing: `--warmup` untimed steps, then timed steps until `--min-time`
seconds (at least 3 steps) or exactly `--steps`. Prints one JSON line per measurement, with
the process's peak RSS (`VmHWM`) and its peak after `import torch` (`rss_base_kb`).

    /work/torchenv/bin/python benches/peers/models_torch.py --model deepsea --mode train --threads 2
"""

import argparse
import json
import time

import torch
from torch import nn

TASKS = {"deepbind": 1, "deepsea": 919, "dilated": 919, "lenet5": 10}


class GlobalMaxPool(nn.Module):
    def forward(self, x):
        return x.amax(-1)


class Residual(nn.Module):
    def __init__(self, *layers):
        super().__init__()
        self.body = nn.Sequential(*layers)

    def forward(self, x):
        return x + self.body(x)


def build(name):
    t = TASKS[name]
    if name == "deepbind":
        return nn.Sequential(nn.Conv1d(4, 16, 24), nn.ReLU(), GlobalMaxPool(),
                             nn.Linear(16, 32), nn.ReLU(), nn.Dropout(0.5), nn.Linear(32, t)), (4, 101)
    if name == "deepsea":
        return nn.Sequential(
            nn.Conv1d(4, 320, 8), nn.ReLU(), nn.MaxPool1d(4), nn.Dropout(0.2),
            nn.Conv1d(320, 480, 8), nn.ReLU(), nn.MaxPool1d(4), nn.Dropout(0.2),
            nn.Conv1d(480, 960, 8), nn.ReLU(), nn.Dropout(0.5), nn.Flatten(),
            nn.Linear(960 * 53, 925), nn.ReLU(), nn.Linear(925, t)), (4, 1000)
    if name == "dilated":
        def block(d):
            return Residual(nn.BatchNorm1d(64), nn.ReLU(),
                            nn.Conv1d(64, 64, 3, dilation=d, padding="same"),
                            nn.BatchNorm1d(64), nn.ReLU(), nn.Conv1d(64, 64, 1), nn.Dropout(0.1))
        return nn.Sequential(
            nn.Conv1d(4, 64, 15, padding="same"), nn.BatchNorm1d(64), nn.ReLU(), nn.MaxPool1d(4),
            nn.Conv1d(64, 64, 5, padding="same"), nn.BatchNorm1d(64), nn.ReLU(), nn.MaxPool1d(2),
            block(1), block(2), block(4), block(8),
            nn.BatchNorm1d(64), nn.ReLU(), nn.MaxPool1d(5), nn.Flatten(), nn.Dropout(0.3),
            nn.Linear(64 * 25, t)), (4, 1000)
    if name == "lenet5":
        return nn.Sequential(
            nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
            nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
            nn.Linear(84, t)), (1, 28, 28)
    raise SystemExit(f"unknown model {name}: one of {', '.join(TASKS)}")


def batches(name, shape, batch, g):
    out = []
    for _ in range(4):
        if name == "lenet5":
            x = torch.rand((batch, *shape), generator=g)
            y = torch.randint(0, 10, (batch,), generator=g)
        else:
            c, length = shape
            idx = torch.randint(0, c, (batch, length), generator=g)
            x = torch.nn.functional.one_hot(idx, c).permute(0, 2, 1).float().contiguous()
            y = torch.randint(0, 2, (batch, TASKS[name]), generator=g).float()
        out.append((x, y))
    return out


def peak_rss_kb():
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def measure(name, mode, a):
    torch.manual_seed(1)
    g = torch.Generator().manual_seed(1)
    net, shape = build(name)
    data = batches(name, shape, a.batch, g)
    loss_fn = nn.CrossEntropyLoss() if name == "lenet5" else nn.BCEWithLogitsLoss()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)

    def train(k):
        x, y = data[k % len(data)]
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(net(x), y)
        loss.backward()
        opt.step()

    def infer(k):
        x, _ = data[k % len(data)]
        with torch.inference_mode():
            net(x)

    if mode == "train":
        net.train()
        step = train
    else:
        net.eval()
        step = infer
    for k in range(a.warmup):
        step(k)
    cpu0 = time.process_time()
    start = time.perf_counter()
    k = 0
    while True:
        step(a.warmup + k)
        k += 1
        if a.steps is not None:
            if k >= a.steps:
                break
        elif k >= 3 and time.perf_counter() - start >= a.min_time:
            break
    secs = time.perf_counter() - start
    cpu = time.process_time() - cpu0
    return k, k * a.batch / secs, (k * a.batch / cpu if cpu > 0 else None)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", action="append", choices=list(TASKS))
    p.add_argument("--mode", action="append", choices=["train", "infer"])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--steps", type=int)
    p.add_argument("--min-time", type=float, default=3.0)
    a = p.parse_args()
    base = peak_rss_kb()
    torch.set_num_threads(a.threads)
    for name in a.model or list(TASKS):
        for mode in a.mode or ["train", "infer"]:
            steps, rate, cpu_rate = measure(name, mode, a)
            print(json.dumps({
                "peer": f"torch {torch.__version__}",
                "model": name,
                "mode": mode,
                "threads": torch.get_num_threads(),
                "batch": a.batch,
                "steps": steps,
                "samples_per_sec": rate,
                "samples_per_cpu_sec": cpu_rate,
                "rss_kb": peak_rss_kb(),
                "rss_base_kb": base,
            }), flush=True)


if __name__ == "__main__":
    main()
