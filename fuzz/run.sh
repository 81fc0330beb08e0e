#!/usr/bin/env bash
# Runs the fuzz targets one after another for a fixed time each and reports, per target, the
# seconds run, the executions and the crash files in fuzz/artifacts/<target>/.
#
#   fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]     (default: 600 s, every target)
#
# Each target's corpus (fuzz/corpus/<target>/, kept between runs) is seeded from the matching
# files of tests/data and data/ and from fuzz/seeds/<target>/, with fuzz/dicts/<target>.dict (the
# format's keywords and boundary numbers) as libFuzzer's dictionary. One libFuzzer worker at a time
# (-fork=1: one process fuzzes while the parent records crashes and keeps going, so one run can
# find several defects). libFuzzer's output goes to $FUZZ_LOG_DIR/<target>.log (default
# fuzz/logs). Needs cargo-fuzz (`cargo install cargo-fuzz --locked`); stable Rust works through
# RUSTC_BOOTSTRAP=1, which this script sets.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
secs=${1:-600}
shift || true
if ! [[ $secs =~ ^[0-9]+$ ]] || ((secs == 0)); then
    echo "usage: fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]" >&2
    exit 2
fi
export RUSTC_BOOTSTRAP=1
cd "$here"
all=$(cargo fuzz list)
if (($# == 0)); then
    set -- $all
fi
for t in "$@"; do
    if ! grep -qx "$t" <<<"$all"; then
        echo "fuzz/run.sh: unknown target '$t' (targets: $(echo $all))" >&2
        exit 2
    fi
done
logs=${FUZZ_LOG_DIR:-$here/logs}
mkdir -p "$logs"

# Copies seed files into a corpus directory: plain files as they are, gzip files both as they
# are (for targets that read gzip) and decompressed up to $2 bytes (0 = keep only the gzip).
seed() {
    local dir=$1 max=$2
    shift 2
    local f
    for f in "$@"; do
        [[ -f $f ]] || continue
        local name
        name=seed-$(basename "$f")
        cp "$f" "$dir/$name"
        if [[ $f == *.gz ]] && ((max > 0)); then
            gzip -dc "$f" 2>/dev/null | head -c "$max" >"$dir/${name%.gz}" || true
        fi
    done
}

# A small IDX image file (the first $2 images of $1, gzip) and its labels (from $3).
seed_idx() {
    local dir=$1 n=$2 images=$3 labels=$4
    local rows=28 cols=28
    {
        printf '\x00\x00\x08\x03'
        printf "\\x00\\x00\\x00\\x$(printf %02x "$n")"
        printf '\x00\x00\x00\x1c\x00\x00\x00\x1c'
        gzip -dc "$images" | tail -c +17 | head -c $((n * rows * cols)) || true
    } >"$dir/seed-images-$n.idx"
    {
        printf '\x00\x00\x08\x01'
        printf "\\x00\\x00\\x00\\x$(printf %02x "$n")"
        gzip -dc "$labels" | tail -c +9 | head -c "$n" || true
    } >"$dir/seed-labels-$n.idx"
}

seed_target() {
    local t=$1 dir=$here/corpus/$1
    mkdir -p "$dir"
    local d=$root/tests/data
    case $t in
    fasta)
        seed "$dir" 4096 "$d/genome/chr20_30M.fa.gz"
        ;;
    table)
        seed "$dir" 4096 "$d/REST_B.head50.seq" "$d"/encode/*.seq.gz "$root"/data/*.seq.gz
        ;;
    sequence)
        seed "$dir" 4096 "$d/REST_B.head50.seq" "$d/REST_B.head50.seq.gz" "$d/deepbind/example.seq" \
            "$d/genome/chr20_30M.fa.gz" "$d"/encode/*.seq.gz "$here"/seeds/fasta/*
        ;;
    bed)
        seed "$dir" 0 "$d"/genome/*.bed "$d"/genome/*.narrowPeak
        ;;
    vcf)
        seed "$dir" 0 "$d"/variants/*.vcf
        ;;
    meme)
        seed "$dir" 0 "$d"/motifs/*.meme
        ;;
    deepbind_params)
        seed "$dir" 0 "$d"/deepbind/D*.txt
        ;;
    deepbind_index)
        seed "$dir" 0 "$d/deepbind/db.slice.tsv"
        ;;
    idx)
        seed "$dir" 0 "$d"/images/*-labels-idx1-ubyte.gz
        seed_idx "$dir" 2 "$d/images/mnist-test100-images-idx3-ubyte.gz" \
            "$d/images/mnist-test100-labels-idx1-ubyte.gz"
        ;;
    arch)
        seed "$dir" 0 "$root"/src/arch/*.toml "$d"/*.toml "$d"/genome/*.toml
        ;;
    model)
        seed "$dir" 0 "$d"/torch_parity*_state.safetensors
        ;;
    checkpoint)
        seed "$dir" 0 "$d/optim_fixture.safetensors"
        ;;
    genome)
        # The first byte 0: the rest is a FASTA genome.
        { printf '\x00'; gzip -dc "$d/genome/chr20_30M.fa.gz" | head -c 4096 || true; } \
            >"$dir/seed-chr20_30M.head.fa"
        ;;
    image_csv)
        # The first two bytes pick the shape: 3 and 63 are [1, 8, 8] with the label last.
        { printf '\x03\x3f'; gzip -dc "$d/images/digits.head100.csv.gz" | head -n 40 || true; } \
            >"$dir/seed-digits.head.csv"
        ;;
    esac
    if [[ -d $here/seeds/$t ]]; then
        seed "$dir" 0 "$here/seeds/$t"/*
    fi
}

if (($# == $(wc -w <<<"$all"))); then
    cargo fuzz build -a >&2
else
    for t in "$@"; do
        cargo fuzz build -a "$t" >&2
    done
fi

bin=$here/target/$(rustc -vV | sed -n 's/^host: //p')/release
summary=()
for t in "$@"; do
    seed_target "$t"
    art=$here/artifacts/$t
    mkdir -p "$art"
    before=$(find "$art" -type f \( -name 'crash-*' -o -name 'oom-*' -o -name 'timeout-*' -o -name 'leak-*' \) | wc -l)
    log=$logs/$t.log
    echo "fuzz/run.sh: $t for $secs s (log $log)" >&2
    start=$(date +%s)
    # -timeout: an input taking 10 s is a hang; -rss_limit_mb: libFuzzer's default (2 GB), so
    # an allocation sized from a file without a check is reported as an out-of-memory crash.
    # The binary directly, not `cargo fuzz run`: after a crash that re-runs the input through a
    # second build with other flags, which rebuilds the crate.
    dict=()
    if [[ -f $here/dicts/$t.dict ]]; then
        dict=(-dict="$here/dicts/$t.dict")
    fi
    "$bin/$t" -fork=1 -ignore_crashes=1 -ignore_ooms=1 -ignore_timeouts=1 \
        -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        "${dict[@]}" -artifact_prefix="$art/" "corpus/$t" >"$log" 2>&1 || true
    took=$(($(date +%s) - start))
    # Fork mode's status lines start '#<executions>: cov: ...'; the last is the total.
    execs=$(grep -oE '^#[0-9]+' "$log" | tail -n 1 | tr -d '#')
    after=$(find "$art" -type f \( -name 'crash-*' -o -name 'oom-*' -o -name 'timeout-*' -o -name 'leak-*' \) | wc -l)
    summary+=("$(printf '%-16s %8s %12s %8s %8s' "$t" "$took" "${execs:-?}" "$((after - before))" "$after")")
done

printf '%-16s %8s %12s %8s %8s\n' target seconds executions new total
printf '%s\n' "${summary[@]}"
