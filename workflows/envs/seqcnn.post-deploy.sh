#!/usr/bin/env bash
# Run by Snakemake inside the new conda environment (envs/seqcnn.yaml): builds and installs
# seqcnn from the checkout the Snakefile names in SEQCNN_REPO into the environment's bin/.
set -euo pipefail
: "${SEQCNN_REPO:?SEQCNN_REPO (the seqcnn checkout) is set by workflows/Snakefile}"
cargo install --locked --path "$SEQCNN_REPO" --root "$CONDA_PREFIX"
