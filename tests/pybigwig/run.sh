#!/usr/bin/env bash
# pyBigWig reads the bigWig tracks of `seqcnn predict --tile --out X.bw` back and finds, at every
# bin, the value the TSV of the same run prints (compare.py): two imported DeepBind models side
# by side (raw scores, one track each) over the vendored chr20 slice, a model trained for one
# epoch (probabilities, some printed with more digits than a float32 holds), and a toy genome
# whose contigs are not in alphabetical order, tiled from regions given out of order. Not run by
# CI: it needs pyBigWig, which builds libBigWig from source:
#
#   python3 -m venv VENV && VENV/bin/pip install pyBigWig==0.3.29 numpy
#   PYTHON=VENV/bin/python tests/pybigwig/run.sh [SEQCNN_BIN]   (default target/debug/seqcnn)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
bin="$(realpath "${1:-$root/target/debug/seqcnn}")"
python="${PYTHON:-python3}"
data="$root/tests/data"
genome="$data/genome/chr20_30M.fa.gz"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"

"$bin" import deepbind --out . "$data/deepbind/D00328.003.txt" "$data/deepbind/D00410.003.txt"
two=(--model D00328.003.safetensors --model D00410.003.safetensors --genome "$genome" --tile 50
    --window 101)
"$bin" predict "${two[@]}" --out deepbind.tsv
"$bin" predict "${two[@]}" --out deepbind.bw
"$python" "$here/compare.py" deepbind.tsv "$genome.fai" \
    deepbind.D00328.003.bw=D00328.003 deepbind.D00410.003.bw=D00410.003

"$bin" train --arch deepbind --set input.length=101 --train "$data/REST_B.head50.seq" \
    --epochs 1 --seed 3 --out rest.safetensors 2>/dev/null
"$bin" predict --model rest.safetensors --genome "$genome" --tile 100 --out rest.tsv
"$bin" predict --model rest.safetensors --genome "$genome" --tile 100 --out rest.bw
"$python" "$here/compare.py" rest.tsv "$genome.fai" rest.bw=Bound

# chr2, chr10, chr1: 3000, 2000, 2500 bp read from the slice.
"$python" - "$genome" <<'PY'
import gzip, sys
seq = "".join(l.strip() for l in gzip.open(sys.argv[1], "rt") if not l.startswith(">"))
with open("toy.fa", "w") as f:
    for i, (name, n) in enumerate([("chr2", 3000), ("chr10", 2000), ("chr1", 2500)]):
        start = 100_000 + 10_000 * i
        f.write(f">{name}\n{seq[start:start + n]}\n")
PY
"$bin" index toy.fa
toy=(--model D00328.003.safetensors --genome toy.fa --tile 100 --window 101 --region chr1
    --region chr10:1001-2000 --region chr2:1-1000 --region chr10:1-1000)
"$bin" predict "${toy[@]}" --out toy.tsv
"$bin" predict "${toy[@]}" --out toy.bw
"$python" "$here/compare.py" toy.tsv toy.fa.fai toy.bw=D00328.003
echo "pyBigWig read every track as the TSV"
