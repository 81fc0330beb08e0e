"""seqcnn against PyTorch on deepbind, deepsea, dilated and lenet5: one table of samples/s and ratios.

Run through `benches/peers/run.sh` (which builds the seqcnn bench and finds the Python
interpreter). For every model, mode (train, infer) and thread count, each round runs the seqcnn
bench (`benches/models.rs`) and the PyTorch peer (`models_torch.py`) back to back, each in its own
process (so each process's peak RSS is that model's), alternating which goes first. The table
gives the median over rounds with the spread (min-max) and the ratio of medians, then the peak
RSS of the training processes.

    python benches/peers/compare.py --seqcnn target/release/deps/models-HASH [--rounds 3]
        [--model deepsea ...] [--threads 2 ...] [--mode train ...] [--min-time 3]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS = ["deepbind", "deepsea", "dilated", "lenet5"]


def run(cmd):
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{out.stderr.strip()}")
    lines = [l for l in out.stdout.splitlines() if l.startswith("{")]
    if not lines:
        sys.exit(f"{' '.join(cmd)} printed no measurement:\n{out.stdout}")
    return json.loads(lines[-1])


def fmt_rate(xs):
    med = statistics.median(xs)
    digits = 1 if med < 100 else 0
    if len(xs) == 1:
        return f"{med:.{digits}f}"
    return f"{med:.{digits}f} ({min(xs):.{digits}f}-{max(xs):.{digits}f})"


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seqcnn", required=True, help="the built benches/models.rs binary")
    p.add_argument("--python", default=sys.executable, help="interpreter with torch")
    p.add_argument("--model", action="append", choices=MODELS)
    p.add_argument("--mode", action="append", choices=["train", "infer"])
    p.add_argument("--threads", action="append", type=int)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--min-time", type=float, default=3.0)
    p.add_argument("--batch", type=int, default=64)
    a = p.parse_args()
    common = ["--batch", str(a.batch), "--min-time", str(a.min_time)]
    rows = []
    for model in a.model or MODELS:
        for mode in a.mode or ["train", "infer"]:
            for threads in a.threads or [1, 2]:
                args = ["--model", model, "--mode", mode, "--threads", str(threads)] + common
                ours, theirs, rss = [], [], {}
                cpu = {"seqcnn": [], "torch": []}
                for r in range(a.rounds):
                    jobs = [
                        ("seqcnn", [a.seqcnn, "--bench", "--json"] + args),
                        ("torch", [a.python, os.path.join(HERE, "models_torch.py")] + args),
                    ]
                    if r % 2:
                        jobs.reverse()
                    for who, cmd in jobs:
                        doc = run(cmd)
                        (ours if who == "seqcnn" else theirs).append(doc["samples_per_sec"])
                        if doc.get("samples_per_cpu_sec"):
                            cpu[who].append(doc["samples_per_cpu_sec"])
                        rss[who] = max(rss.get(who, 0), doc.get("rss_kb") or 0)
                        if who == "torch":
                            rss["torch_base"] = doc.get("rss_base_kb") or 0
                    print(f"# {model} {mode} {threads}t round {r + 1}: seqcnn {ours[-1]:.1f}, "
                          f"pytorch {theirs[-1]:.1f} samples/s", file=sys.stderr, flush=True)
                ratio = statistics.median(ours) / statistics.median(theirs)
                rows.append((model, mode, threads, ours, theirs, ratio, rss, cpu))
    print(f"\nbatch {a.batch}, {a.rounds} rounds, median (min-max) samples/s, ratio = seqcnn / PyTorch")
    head = ("model", "mode", "threads", "seqcnn samples/s", "PyTorch samples/s", "ratio")
    table = [head] + [
        (m, mode, str(t), fmt_rate(o), fmt_rate(th), f"{r:.2f}")
        for m, mode, t, o, th, r, _, _ in rows
    ]
    widths = [max(len(r[i]) for r in table) for i in range(len(head))]
    for k, r in enumerate(table):
        print("| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |")
        if k == 0:
            print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    one = [r for r in rows if r[2] == 1 and r[7]["seqcnn"] and r[7]["torch"]]
    if one:
        # With one thread, samples per CPU second are what each would reach on an idle machine
        # (on a shared one, wall-clock figures fall with the other processes' load).
        print("\n1 thread, samples per CPU second (median): seqcnn, PyTorch, ratio")
        for m, mode, _, _, _, _, _, cpu in one:
            a, b = statistics.median(cpu["seqcnn"]), statistics.median(cpu["torch"])
            print(f"  {m} {mode}: {a:.1f}, {b:.1f}, {a / b:.2f}")
    print("\npeak RSS (VmHWM) of the training processes, MB:")
    for m, mode, t, _, _, _, rss, _ in rows:
        if mode == "train":
            print(f"  {m} {t}t: seqcnn {rss['seqcnn'] / 1024:.0f}, PyTorch {rss['torch'] / 1024:.0f}"
                  f" (of which {rss['torch_base'] / 1024:.0f} after `import torch`)")


if __name__ == "__main__":
    main()
