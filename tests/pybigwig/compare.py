"""Reads bigWig tracks written by `seqcnn predict --tile --out X.bw` with pyBigWig (libBigWig, the
reader of deepTools and others) and compares them with the TSV of the same run at every bin.

Usage: compare.py TSV FAI TRACK.bw=COLUMN [TRACK.bw=COLUMN ...]

For every track: its contigs are the TSV's, with the lengths of the genome's .fai; each contig
holds exactly the TSV's bins (sorted by start) and no other interval; each value is the TSV's.
A value equals the TSV's field read as float32 (the TSV prints every value but a probability
above 0.5 as the float32 it rounds to); a probability above 0.5 is printed from the float64
rounded to d >= 7 decimals, so there the float32 is within 0.5e-d + 2^-25 of the field. Prints
one line per track (bins compared, exact matches, largest |bigWig - TSV|) and exits 1 on any
difference.
"""

import sys

import numpy as np
import pyBigWig


def read_tsv(path):
    with open(path) as f:
        header = f.readline().rstrip("\n").split("\t")
        rows = [line.rstrip("\n").split("\t") for line in f]
    return header, rows


def read_fai(path):
    with open(path) as f:
        return {line.split("\t")[0]: int(line.split("\t")[1]) for line in f}


def same_value(field, bw):
    """(exact, within): exact float32 equality, or within the TSV's rounding."""
    t = float(field)
    if np.float32(t) == np.float32(bw):
        return True, True
    decimals = max(len(field.split(".", 1)[1]) if "." in field else 0, 7)
    tol = 0.5 * 10.0 ** -decimals + 2.0 ** -25
    return False, t > 0.5 and abs(bw - t) <= tol


def compare(tsv, fai, track, column):
    header, rows = tsv
    c = header.index(column)
    want = {}
    for r in rows:
        want.setdefault(r[0], []).append((int(r[1]), int(r[2]), r[c]))
    bw = pyBigWig.open(track)
    if bw is None:
        sys.exit(f"{track}: pyBigWig cannot open it")
    chroms = bw.chroms()
    problems = []
    if sorted(chroms) != sorted(want):
        problems.append(f"contigs {sorted(chroms)} vs the TSV's {sorted(want)}")
    for name, length in chroms.items():
        if fai.get(name) != length:
            problems.append(f"{name}: length {length} vs {fai.get(name)} in the .fai")
    n = exact = 0
    worst = 0.0
    for name, bins in want.items():
        bins.sort()
        got = (bw.intervals(name) or ()) if name in chroms else ()
        if len(got) != len(bins):
            problems.append(f"{name}: {len(got)} intervals vs {len(bins)} bins in the TSV")
        for (s, e, field), (gs, ge, v) in zip(bins, got):
            n += 1
            if (s, e) != (gs, ge):
                problems.append(f"{name}: interval {gs}-{ge} where the TSV has {s}-{e}")
                continue
            is_exact, ok = same_value(field, v)
            exact += is_exact
            worst = max(worst, abs(v - float(field)))
            if not ok:
                problems.append(f"{name}:{s}-{e}: bigWig {v!r} vs TSV {field}")
    bw.close()
    print(f"{track} ({column}): {n} bins compared, {exact} equal as float32, "
          f"max |bigWig - TSV| = {worst:.3g}")
    for p in problems[:10]:
        print(f"  {p}")
    return not problems


def main(argv):
    if len(argv) < 4:
        sys.exit(__doc__)
    tsv = read_tsv(argv[1])
    fai = read_fai(argv[2])
    ok = True
    for spec in argv[3:]:
        track, column = spec.rsplit("=", 1)
        ok &= compare(tsv, fai, track, column)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main(sys.argv)
