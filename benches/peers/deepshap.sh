#!/usr/bin/env bash
# seqcnn's DeepSHAP against captum and tangermeme on deepbind (101 bp) and deepsea (1000 bp), 2
# threads: builds the seqcnn bench (benches/deepshap.rs), then runs benches/peers/deepshap_compare.py,
# which times all three back to back and prints one table.
#
#   benches/peers/deepshap.sh                       # both networks, 3 rounds
#   benches/peers/deepshap.sh --model deepsea --rounds 5
#
# The environments live outside the repository: $SEQCNN_CAPTUM_VENV (default /work/venv-attr) with
# captum, $SEQCNN_TANGERMEME_VENV (default /work/venv-tm) with tangermeme; either is created when
# it cannot import what it needs, with the versions measured: torch 2.15.0, captum 0.9.0,
# tangermeme 1.6.0 (from PyPI), safetensors and numpy. When tangermeme cannot be installed, its
# column is left out.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
captum_venv="${SEQCNN_CAPTUM_VENV:-/work/venv-attr}"
tm_venv="${SEQCNN_TANGERMEME_VENV:-/work/venv-tm}"
captum="$captum_venv/bin/python"
tm="$tm_venv/bin/python"
if ! "$captum" -c 'import torch, captum, safetensors, numpy' 2>/dev/null; then
    echo "creating $captum_venv with torch 2.15.0 and captum 0.9.0" >&2
    python3 -m venv "$captum_venv"
    "$captum_venv/bin/pip" install --quiet torch==2.15.0 captum==0.9.0 safetensors numpy
fi
peers=(--captum "$captum")
if ! "$tm" -c 'import tangermeme.deep_lift_shap, safetensors' 2>/dev/null; then
    echo "creating $tm_venv with torch 2.15.0 and tangermeme 1.6.0" >&2
    python3 -m venv "$tm_venv" &&
        "$tm_venv/bin/pip" install --quiet torch==2.15.0 tangermeme==1.6.0 safetensors numpy ||
        echo "tangermeme 1.6.0 did not install in $tm_venv" >&2
fi
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
