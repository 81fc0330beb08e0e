#!/usr/bin/env bash
# seqcnn against PyTorch on deepbind, deepsea, dilated and lenet5 (batch 64, 1 and 2 threads):
# builds the seqcnn bench (benches/models.rs), makes sure a Python environment with torch exists,
# then runs benches/peers/compare.py, which times both back to back and prints one table.
#
#   benches/peers/run.sh                                  # everything, 3 rounds
#   benches/peers/run.sh --model deepsea --threads 2 --rounds 5
#
# The environment lives outside the repository: $SEQCNN_TORCH_VENV (default /work/torchenv). When
# it has no torch, a venv is created there with the CPU build of torch, numpy and safetensors.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
venv="${SEQCNN_TORCH_VENV:-/work/torchenv}"
if ! "$venv/bin/python" -c 'import torch' 2>/dev/null; then
    echo "creating $venv with torch (CPU)" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --index-url https://download.pytorch.org/whl/cpu torch
    "$venv/bin/pip" install --quiet numpy safetensors
fi
cd "$root"
bin="$(cargo bench --bench models --no-run --message-format=json 2>/dev/null \
    | "$venv/bin/python" -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "models" and m.get("executable"):
        print(m["executable"])')"
if [ -z "$bin" ]; then
    cargo bench --bench models --no-run >&2
    echo "could not find the built benches/models.rs binary" >&2
    exit 1
fi
exec "$venv/bin/python" benches/peers/compare.py --seqcnn "$bin" --python "$venv/bin/python" "$@"
