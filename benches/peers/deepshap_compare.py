"""seqcnn's DeepSHAP against captum and tangermeme: one table of sequences/s and ratios.

Run through `benches/peers/deepshap.sh` (which builds the seqcnn bench and finds the Python
environments). For each network, the seqcnn bench (`benches/deepshap.rs`) first writes the
exported weights, the inputs, the references and its attributions to a temporary directory; the
peers (`deepshap_torch.py`) explain the same inputs against the same references, and their
attributions (summed over the four channels, per position) are checked against seqcnn's. Then
each round runs seqcnn, captum and tangermeme back to back, each in its own process, rotating
which goes first. The table gives the median over rounds with the spread (min-max) and the ratios
of medians, seqcnn / peer.

    python benches/peers/deepshap_compare.py --seqcnn target/release/deps/deepshap-HASH \
        --captum /work/venv-attr/bin/python [--tangermeme /work/venv-tm/bin/python] [--rounds 3]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
# Sequences timed per network: seqcnn's run, the peers' (the first ones of the same set).
COUNTS = {"deepbind": (256, 32), "deepsea": (8, 4)}


def run(cmd):
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{out.stderr.strip()}")
    lines = [l for l in out.stdout.splitlines() if l.startswith("{")]
    if not lines:
        sys.exit(f"{' '.join(cmd)} printed no measurement:\n{out.stdout}")
    return json.loads(lines[-1])


def fmt_rate(xs):
    if not xs:
        return "-"
    med = statistics.median(xs)
    digits = 2 if med < 10 else 1 if med < 100 else 0
    if len(xs) == 1:
        return f"{med:.{digits}f}"
    return f"{med:.{digits}f} ({min(xs):.{digits}f}-{max(xs):.{digits}f})"


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seqcnn", required=True, help="the built benches/deepshap.rs binary")
    p.add_argument("--captum", required=True, help="a Python with torch and captum")
    p.add_argument("--tangermeme", help="a Python with torch and tangermeme")
    p.add_argument("--model", action="append", choices=list(COUNTS))
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    peers = [("captum", a.captum)] + ([("tangermeme", a.tangermeme)] if a.tangermeme else [])
    rows = []
    with tempfile.TemporaryDirectory() as data:
        for model in a.model or list(COUNTS):
            ours_n, peer_n = COUNTS[model]
            common = ["--model", model, "--threads", str(a.threads)]
            ours_cmd = [a.seqcnn, "--bench", "--json", "--n", str(ours_n)] + common
            run(ours_cmd + ["--data", data])
            ours_attr = np.load(os.path.join(data, f"{model}.npz"))["attr"]
            scale = float(np.abs(ours_attr).max())
            jobs, agree = [("seqcnn", ours_cmd)], {}
            for peer, python in peers:
                cmd = [python, os.path.join(HERE, "deepshap_torch.py"), "--peer", peer,
                       "--data", data, "--n", str(peer_n)] + common
                out = os.path.join(data, f"{model}.{peer}.npz")
                version = run(cmd + ["--out", out])["peer"]
                theirs = np.load(out)["attr"]
                agree[peer] = (version, float(np.abs(theirs - ours_attr[:peer_n]).max()) / scale)
                jobs.append((peer, cmd))
            rates = {who: [] for who, _ in jobs}
            for r in range(a.rounds):
                k = r % len(jobs)
                for who, cmd in jobs[k:] + jobs[:k]:
                    rates[who].append(run(cmd)["seqs_per_sec"])
                print(f"# {model} round {r + 1}: "
                      + ", ".join(f"{w} {v[-1]:.2f}" for w, v in rates.items()) + " seqs/s",
                      file=sys.stderr, flush=True)
            rows.append((model, ours_n, peer_n, rates, agree))
    names = [w for w, _ in peers]
    print(f"\nDeepSHAP, 20 references, task 0, strand none, {a.threads} threads, "
          f"{a.rounds} rounds, median (min-max) sequences/s; ratio = seqcnn / peer")
    head = ["model", "sequences (seqcnn, peers)", "seqcnn"] + names + [f"vs {n}" for n in names]
    table = [head]
    for model, on, pn, rates, _ in rows:
        ours = statistics.median(rates["seqcnn"])
        table.append([model, f"{on}, {pn}", fmt_rate(rates["seqcnn"])]
                     + [fmt_rate(rates[n]) for n in names]
                     + [f"{ours / statistics.median(rates[n]):.2f}" for n in names])
    widths = [max(len(r[i]) for r in table) for i in range(len(head))]
    for k, r in enumerate(table):
        print("| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |")
        if k == 0:
            print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    print("\nlargest |peer - seqcnn| of the attributions per position, over seqcnn's largest |attribution|:")
    for model, _, _, _, agree in rows:
        for peer, (version, d) in agree.items():
            print(f"  {model} {version}: {d:.1e}")


if __name__ == "__main__":
    main()
