#!/usr/bin/env bash
# Browser test of the `variants --report` page: writes a report from the repository's test data
# with the given seqcnn binary, then loads it in Debian's chromium through playwright-core
# (report.mjs): sort, filter, row-to-map link and back, a deletion's whole REF outlined,
# screenshots. Needs node/npm and /usr/bin/chromium (apt-get install chromium).
#
# Usage: tests/browser/run.sh [SEQCNN_BIN] [OUT_DIR]   (default target/debug/seqcnn, target/browser)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
bin="$(realpath "${1:-$root/target/debug/seqcnn}")"
out="$(realpath -m "${2:-$root/target/browser}")"
data="$root/tests/data"
mkdir -p "$out"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

"$bin" import deepbind --index "$data/deepbind/db.slice.tsv" --out "$work" "$data/deepbind/D00328.003.txt"
"$bin" variants --model "$work/D00328.003.safetensors" --window 101 \
    --vcf "$data/variants/synthetic.vcf" --genome "$data/genome/chr20_30M.fa.gz" \
    --out "$work/effects.tsv" --report "$out/report.html" --report-top 10
(cd "$here" && npm ci --no-audit --no-fund --loglevel=error)
# syn_del (POS 28300, ATATT>A): its REF outline spans all five bases.
node "$here/report.mjs" "$out/report.html" "$out" 28300
echo "browser test passed; screenshots in $out"
