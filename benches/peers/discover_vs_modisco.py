"""`seqcnn discover` against modisco-lite on the same attributions: prints each tool's motifs
(seqlets, consensus of the PPM cut where the summed |CWM| reaches 0.3 of its largest, as
modisco-lite's report cuts it) and, for each modisco-lite pattern, the seqcnn motif whose CWM
correlates best with it (Pearson over every shift with at least 70% overlap, both strands).

    python benches/peers/discover_vs_modisco.py MODISCO.h5 SEQCNN_OUT_DIR

MODISCO.h5 is `modisco motifs -s PREFIX.seqs.npz -a PREFIX.hyp.npz -n 2000 -w 100 -o F.h5` run on
the files `seqcnn attribute --modisco PREFIX` writes; SEQCNN_OUT_DIR is `seqcnn discover
PREFIX.npz --out DIR` on the same attributions. Needs numpy and h5py (modisco-lite's own).
"""
import sys

import h5py
import numpy as np


def trim(cwm, threshold=0.3):
    score = np.abs(cwm).sum(axis=1)
    keep = np.where(score >= score.max() * threshold)[0]
    return keep.min(), keep.max() + 1


def consensus(ppm):
    return "".join("ACGT"[i] if row.max() >= 0.5 else "N" for i, row in zip(ppm.argmax(1), ppm))


def correlation(a, b, min_overlap=0.7):
    """Best cosine similarity of mean-centred b slid along a (both strands of b)."""
    def norm(x):
        x = x - x.mean()
        return x / (np.linalg.norm(x) + 1e-12)
    a, best = norm(a), -1.0
    for x in (norm(b), norm(b)[::-1, ::-1]):
        pad = int(np.ceil(len(x) * (1 - min_overlap)))
        padded = np.vstack([np.zeros((pad, 4)), a, np.zeros((pad, 4))])
        for i in range(len(padded) - len(x) + 1):
            w = padded[i:i + len(x)]
            n = np.linalg.norm(w)
            if n > 0:
                best = max(best, float((w * x).sum() / n))
    return best


def main(h5_path, out_dir):
    theirs = []
    with h5py.File(h5_path, "r") as f:
        for group in ("pos_patterns", "neg_patterns"):
            if group not in f:
                continue
            names = sorted(f[group].keys(), key=lambda k: int(k.split("_")[1]))
            for k in names:
                p = f[group][k]
                cwm = p["contrib_scores"][:]
                ppm = p["sequence"][:]
                n = p["seqlets"]["n_seqlets"][:][0]
                lo, hi = trim(cwm)
                theirs.append((f"{group}.{k}", int(n), consensus(ppm[lo:hi]), cwm))
    ours = []
    arrays = np.load(f"{out_dir}/motifs.npz")
    with open(f"{out_dir}/motifs.tsv") as f:
        header = f.readline().rstrip("\n").split("\t")
        for line in f:
            row = dict(zip(header, line.rstrip("\n").split("\t")))
            cwm = arrays[f"{row['motif']}.cwm"]
            ours.append((row["motif"], int(row["seqlets"]), row["consensus"],
                         f"{row['best_match']} {row['best_match_name']} q={row['qvalue']}", cwm))
    print("modisco-lite:")
    for name, n, cons, _ in theirs:
        print(f"  {name:28s} {n:6d}  {cons}")
    print("seqcnn discover:")
    for name, n, cons, match, _ in ours:
        print(f"  {name:28s} {n:6d}  {cons:24s} {match}")
    print("best seqcnn motif for each modisco-lite pattern (CWM correlation):")
    for name, n, cons, cwm in theirs:
        scored = [(correlation(c, cwm), o) for o, _, _, _, c in ours]
        if scored:
            r, o = max(scored)
            print(f"  {name:28s} -> {o:28s} {r:.3f}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
