#!/usr/bin/env bash
# seqcnn's DeepSHAP against captum and tangermeme on deepbind (101 bp) and deepsea (1000 bp), 2
# threads: builds the seqcnn bench (benches/deepshap.rs), then runs benches/peers/deepshap_compare.py,
# which times all three back to back and prints one table.
#
#   benches/peers/deepshap.sh                       # both networks, 3 rounds
#   benches/peers/deepshap.sh --model deepsea --rounds 5
#
# The environments live outside the repository: $SEQCNN_CAPTUM_VENV (default /work/venv-attr) with
# torch 2.15.0, captum 0.9.0, safetensors and numpy; $SEQCNN_TANGERMEME_VENV (default
# /work/venv-tm) with tangermeme as well. Without tangermeme there, its column is left out.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
captum="${SEQCNN_CAPTUM_VENV:-/work/venv-attr}/bin/python"
tm="${SEQCNN_TANGERMEME_VENV:-/work/venv-tm}/bin/python"
if ! "$captum" -c 'import torch, captum, safetensors, numpy' 2>/dev/null; then
    echo "$captum cannot import torch, captum, safetensors and numpy (set SEQCNN_CAPTUM_VENV)" >&2
    exit 1
fi
peers=(--captum "$captum")
if "$tm" -c 'import tangermeme.deep_lift_shap, safetensors' 2>/dev/null; then
    peers+=(--tangermeme "$tm")
else
    echo "no tangermeme in $tm: captum only (set SEQCNN_TANGERMEME_VENV)" >&2
fi
cd "$root"
bin="$(cargo bench --bench deepshap --no-run --message-format=json 2>/dev/null \
    | "$captum" -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "deepshap" and m.get("executable"):
        print(m["executable"])')"
if [ -z "$bin" ]; then
    cargo bench --bench deepshap --no-run >&2
    echo "could not find the built benches/deepshap.rs binary" >&2
    exit 1
fi
exec "$captum" benches/peers/deepshap_compare.py --seqcnn "$bin" "${peers[@]}" "$@"
