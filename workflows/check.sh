#!/usr/bin/env bash
# End-to-end check of workflows/Snakefile on the bundled demo data (run by .ci/run):
#   1. `snakemake --lint`;
#   2. the workflow with 2 shards (`--cores 2`) in a temporary directory (and the demo
#      training's epoch table, `--log`);
#   3. the same steps as single unsharded seqcnn commands: every gathered output must be
#      byte-identical to the unsharded one (cmp); both wall times are printed;
#   3b. variants split by region (`shard_by: region`, the indexed demo VCF in 4 regions of the
#      genome, each read through the index): merged outputs equal to one run's;
#   3c. the demo model's calibration as jobs (3 settings, one job each, then the training job):
#      the model byte-identical to one `train --calibrate 3` process;
#   3d. an ensemble of 2 demo models trained as 2 jobs: the members and the ensemble's predict
#      output byte-identical to single commands;
#   4. failing steps (a VCF with an unknown contig under --strict, a BED with an unknown contig):
#      the workflow fails, each rule's log holds seqcnn's error, and no output file is left.
# Nothing is written into the repository.
#
# Usage: workflows/check.sh [SEQCNN]    (snakemake on PATH; SEQCNN: target/release/seqcnn)
# TRAIN_ARGS replaces the demo model's training arguments (CI: fewer epochs on a dev build).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
bin=$(realpath "${1:-$repo/target/release/seqcnn}")
if [ ! -x "$bin" ]; then
    echo "no seqcnn binary at $bin: run cargo build --release, or give the binary's path"
    exit 1
fi
train_args=${TRAIN_ARGS:---set input.length=101}
shards=2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# run_snakemake DIR LOG [TARGET|OPTION...] [-- CONFIG...]: snakemake in DIR, its output in LOG.
run_snakemake() {
    local dir=$1 log=$2 opts=() config=()
    shift 2
    while [ $# -gt 0 ] && [ "$1" != -- ]; do opts+=("$1"); shift; done
    [ $# -gt 0 ] && shift
    config=("$@")
    snakemake -s "$repo/workflows/Snakefile" --directory "$dir" --cores 2 "${opts[@]}" \
        --config seqcnn="$bin" shards=$shards "train={args: \"$train_args\"}" "${config[@]}" \
        >"$log" 2>&1
}

now() { date +%s.%N; }
seconds() { echo "$1 $2" | awk '{printf "%.1f", $2 - $1}'; }

echo "== snakemake --lint"
snakemake -s "$repo/workflows/Snakefile" --directory "$work/lint" --lint --config seqcnn="$bin"

echo "== workflow: demo model, then every step in $shards shards (--cores 2)"
sharded=$work/sharded
mkdir -p "$sharded"
t0=$(now)
run_snakemake "$sharded" "$work/train.log" results/model/demo.safetensors ||
    { tail -30 "$work/train.log"; exit 1; }
t1=$(now)
run_snakemake "$sharded" "$work/sharded.log" || { tail -30 "$work/sharded.log"; exit 1; }
t2=$(now)
model=$sharded/results/model/demo.safetensors
# The training's epoch table: a header and one row per epoch.
epochs=$sharded/results/logs/train_demo.epochs.tsv
head -1 "$epochs" | grep -q '^epoch	lr	train_loss	valid_loss	valid_auroc	auroc.Bound	auprc.Bound' ||
    { echo "no epoch table at $epochs"; exit 1; }
echo "epoch table: $(($(wc -l <"$epochs") - 1)) epochs logged"

# The inputs of workflows/config.yaml's demo, as the workflow resolves them.
echo "== the same steps unsharded (one process each, --threads 2)"
single=$work/single
mkdir -p "$single"
genome=$repo/tests/data/genome/chr20_30M.fa.gz
t3=$(now)
"$bin" predict --model "$model" "$repo/data/REST_B.seq.gz" --threads 2 --out "$single/predict.tsv"
"$bin" predict --model "$model" --genome "$genome" "$repo/tests/data/genome/chr20_30M_CTCF.bed" \
    --threads 2 --out "$single/predict_bed.tsv"
"$bin" predict --model "$model" --genome "$genome" --tile 200 --region 20 --threads 2 \
    --out "$single/tiles.tsv.gz"
"$bin" mutate --model "$model" "$repo/tests/data/REST_B.head50.seq" --threads 2 \
    --out "$single/mutate.tsv.gz"
"$bin" variants --model "$model" --genome "$genome" --vcf "$repo/tests/data/variants/synthetic.vcf" \
    --threads 2 --out "$single/variants.tsv" --out-vcf "$single/variants.vcf.gz" \
    --skipped "$single/variants_skipped.tsv" 2>/dev/null
t4=$(now)
for f in predict.tsv predict_bed.tsv tiles.tsv.gz mutate.tsv.gz variants.tsv variants.vcf.gz \
    variants_skipped.tsv; do
    cmp "$sharded/results/$f" "$single/$f"
    rows=$(gzip -cdf "$single/$f" | grep -vc '^#')
    echo "identical: $f ($rows lines)"
done
echo "wall time: training $(seconds "$t0" "$t1") s; sharded workflow $(seconds "$t1" "$t2") s" \
    "($shards shards, --cores 2, including scheduling and merges);" \
    "unsharded commands $(seconds "$t3" "$t4") s"

echo "== variants split by region: 4 jobs, each reading its region through the VCF's index"
regioned=$work/regioned
mkdir -p "$regioned"
calls=tests/data/variants/chr20_30M_calls.vcf.gz
run_snakemake "$regioned" "$work/regioned.log" -- model="$model" sequences= mutate_sequences= \
    "tile={regions: []}" bed= \
    "variants={enabled: true, vcf: $calls, shard_by: region, region_size: 50000}" ||
    { tail -30 "$work/regioned.log"; exit 1; }
"$bin" variants --model "$model" --genome "$genome" --vcf "$repo/$calls" --threads 2 \
    --out "$single/calls.tsv" --out-vcf "$single/calls.vcf.gz" \
    --skipped "$single/calls_skipped.tsv" 2>/dev/null
jobs=$(find "$regioned/results/logs/variants" -name '*.log' | wc -l)
for part in $(seq 1 "$jobs"); do
    echo "part $part/$jobs: $(grep -vc '^#' "$regioned/results/shards/variants/$part.tsv") rows"
done
[ "$jobs" -eq 4 ] || { echo "expected 4 region jobs, found $jobs"; exit 1; }
# The same records in the same order, the skipped list byte for byte; the scores agree to
# float rounding (each region job scores its records in batches of its own, and a plain
# network's GEMM rounds with the batch shape; imported DeepBind models score identically).
cmp "$regioned/results/variants_skipped.tsv" "$single/calls_skipped.tsv"
cmp <(gzip -cd "$regioned/results/variants.vcf.gz" | cut -f1-7) <(gzip -cd "$single/calls.vcf.gz" | cut -f1-7)
python3 - "$regioned/results/variants.tsv" "$single/calls.tsv" <<'PY'
import sys
a, b = (open(p).read().splitlines() for p in sys.argv[1:3])
assert len(a) == len(b) and a[0] == b[0], (len(a), len(b), a[0], b[0])
worst = 0.0
for x, y in zip(a[1:], b[1:]):
    x, y = x.split("\t"), y.split("\t")
    assert x[:6] == y[:6], (x[:6], y[:6])
    for u, v in zip(x[6:], y[6:]):
        worst = max(worst, abs(float(u) - float(v)))
assert worst < 1e-5, worst
print(f"merged region parts: {len(a) - 1} rows, records and order identical, "
      f"largest score difference {worst:.1e}")
PY
echo "identical: variants_skipped.tsv and the annotated VCF's records from $jobs region jobs"

echo "== calibration as jobs: 3 settings in 3 jobs, then the training job"
calibrated=$work/calibrated
mkdir -p "$calibrated"
calibration="calibrate: 3, folds: 2, calibrate_epochs: 1"
run_snakemake "$calibrated" "$work/calibrated.log" results/model/demo.safetensors -- \
    "train={args: \"$train_args\", $calibration}" ||
    { tail -30 "$work/calibrated.log"; exit 1; }
trials=$(find "$calibrated/results/model/calibration" -name 'trial*.json' | wc -l)
# shellcheck disable=SC2086
"$bin" train --train "$repo/data/REST_AC.seq.gz" --arch deepbind --seed 1 $train_args \
    --calibrate 3 --folds 2 --calibrate-epochs 1 --threads 2 --out "$single/calibrated.safetensors" \
    2>"$work/calibrated_one.log"
cmp "$calibrated/results/model/demo.safetensors" "$single/calibrated.safetensors"
echo "identical: the model from $trials calibration jobs and from one process ($(grep 'best setting' "$work/calibrated_one.log"))"

echo "== ensemble members as jobs: 2 members, then predict with --ensemble"
ensemble=$work/ensemble
mkdir -p "$ensemble"
run_snakemake "$ensemble" "$work/ensemble.log" -- "train={args: \"$train_args\", ensemble: 2}" \
    mutate_sequences= "variants={enabled: false}" "tile={regions: []}" bed= ||
    { tail -30 "$work/ensemble.log"; exit 1; }
for k in 1 2; do
    # shellcheck disable=SC2086
    "$bin" train --train "$repo/data/REST_AC.seq.gz" --arch deepbind --seed "$k" $train_args \
        --threads 2 --out "$single/member$k.safetensors" 2>/dev/null
    cmp "$ensemble/results/model/member$k.safetensors" "$single/member$k.safetensors"
done
"$bin" predict --model "$single/member1.safetensors" --model "$single/member2.safetensors" \
    --ensemble "$repo/data/REST_B.seq.gz" --threads 2 --out "$single/ensemble.tsv" 2>/dev/null
cmp "$ensemble/results/predict.tsv" "$single/ensemble.tsv"
echo "identical: 2 members trained as jobs and their ensemble's predict.tsv ($shards shards)"

echo "== failing steps: the workflow fails, the logs hold seqcnn's errors, no output is left"
failing=$work/failing
mkdir -p "$failing"
if run_snakemake "$failing" "$work/failing.log" --keep-going -- model="$model" sequences= \
    mutate_sequences= "tile={regions: []}" bed=tests/data/genome/chr22_CTCF.head20.narrowPeak \
    "variants={enabled: true, vcf: tests/data/variants/bad_unknown_contig.vcf, strict: true}"; then
    echo "the workflow should have failed"
    exit 1
fi
for shard in $(seq 1 $shards); do
    grep -H "seqcnn: error: .*bad_unknown_contig.vcf:4:.*'21'" "$failing/results/logs/variants/$shard.log"
    grep -H "seqcnn: error: .*chr22_CTCF.head20.narrowPeak:1:.*chr22" \
        "$failing/results/logs/predict_bed/$shard.log"
done
left=$(find "$failing" -path "$failing/.snakemake" -prune -o -type f ! -path '*/logs/*' -print)
if [ -n "$left" ]; then
    echo "files left by the failed steps: $left"
    exit 1
fi
echo "no output files left (only logs)"
if [ -e "$repo/.snakemake" ] || [ -e "$repo/results" ]; then
    echo "the workflow wrote into the repository"
    exit 1
fi
echo "workflows/check.sh: all checks passed"
