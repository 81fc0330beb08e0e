#!/usr/bin/env bash
# workflows/Snakefile through the SLURM profile on a real one-node SLURM cluster (run by .ci/run
# after workflows/check.sh):
#   1. installs Debian's slurm-wlm and munge when missing, writes a one-node slurm.conf (this
#      host, its CPUs and most of its memory, one default partition, no accounting, no cgroups),
#      starts munged, slurmctld and slurmd as root and waits for the node to be idle;
#   2. runs the Snakefile with workflows/profiles/slurm in 3 shards (demo model included), job
#      status from squeue, no account: every job must have been submitted with sbatch and
#      completed in SLURM (squeue's record of each job id);
#   3. runs the same workflow locally (--cores 2): every gathered output and the trained model
#      must be byte-identical to the SLURM run's;
#   4. a VCF whose REF disagrees with the genome under --strict: the SLURM run fails as the local
#      run does, each variants job's log holds seqcnn's error (the same bytes as locally) and no
#      output file is left;
#   5. stops every daemon it started (also on failure or interrupt) and removes its files.
#
# Usage: workflows/slurm_check.sh [SEQCNN]   (as root; snakemake with
#        snakemake-executor-plugin-slurm on PATH; SEQCNN: target/release/seqcnn)
# TRAIN_ARGS replaces the demo model's training arguments, as in workflows/check.sh.
#
# The cluster's slurm.conf is written to /etc/slurm/slurm.conf, where every SLURM command finds
# it: the executor's job steps (snakemake-executor-plugin-slurm-jobstep) call srun with every
# SLURM_* variable removed from the environment, so SLURM_CONF cannot point elsewhere. An
# existing /etc/slurm/slurm.conf that this script did not write is left alone: the check stops.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
bin=$(realpath "${1:-$repo/target/release/seqcnn}")
train_args=${TRAIN_ARGS:---set input.length=101}
shards=3
PATH=$PATH:/usr/sbin:/sbin

die() {
    echo "slurm_check.sh: $*" >&2
    exit 1
}
[ -x "$bin" ] || die "no seqcnn binary at $bin: run cargo build --release, or give the binary's path"
[ "$(id -u)" -eq 0 ] || die "must run as root (it starts munged, slurmctld and slurmd)"
command -v snakemake >/dev/null || die "snakemake is not on PATH"
python=$(head -1 "$(command -v snakemake)" | sed -n 's/^#!//p')
"${python:-python3}" -c 'import snakemake_executor_plugin_slurm' 2>/dev/null ||
    die "snakemake-executor-plugin-slurm is not installed beside snakemake ($(command -v snakemake))"

now() { date +%s.%N; }
seconds() { echo "$1 $2" | awk '{printf "%.1f", $2 - $1}'; }
t_start=$(now)

echo "== SLURM and munge (Debian packages)"
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null ||
    ! command -v sbatch >/dev/null || ! command -v munged >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null
fi
echo "$(slurmctld -V), $(munged -V 2>&1 | head -1)"

conf=/etc/slurm/slurm.conf
marker="# Written by seqcnn's workflows/slurm_check.sh for a one-node test cluster."
if [ -e "$conf" ] && ! head -1 "$conf" | grep -qxF "$marker"; then
    die "$conf exists and was not written by this script: not touching a real cluster's setup"
fi

work=$(mktemp -d /tmp/seqcnn-slurm.XXXXXX)
# munged wants its socket's directories searchable by everyone and its key private.
chmod 711 "$work"
mkdir -p "$work/run" "$work/munge" "$work/state" "$work/spool" "$work/log"
chmod 755 "$work/run"
chmod 700 "$work/munge"
started=()

# stop_cluster: cancel what is left of our jobs, stop the daemons this script started (by the
# process ids they wrote), remove the configuration and the temporary directory.
stop_cluster() {
    local status=$? pid name i stopped=() left=()
    trap - EXIT INT TERM
    if [ ${#started[@]} -gt 0 ]; then
        if squeue -h -t PD,R,CG,CF -o %i 2>/dev/null | grep -q .; then
            scancel --quiet --user=root 2>/dev/null || true
            for i in $(seq 1 30); do
                squeue -h -t PD,R,CG,CF -o %i 2>/dev/null | grep -q . || break
                sleep 1
            done
        fi
        for ((i = ${#started[@]} - 1; i >= 0; i--)); do
            name=${started[$i]}
            pid=$(cat "$work/run/$name.pid" 2>/dev/null || true)
            if [ -z "$pid" ] || ! kill "$pid" 2>/dev/null; then continue; fi
            stopped+=("$name")
            for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
            if kill -0 "$pid" 2>/dev/null; then
                echo "slurm_check.sh: $name (pid $pid) did not stop on SIGTERM; SIGKILL" >&2
                kill -9 "$pid" 2>/dev/null || true
                sleep 1
                if kill -0 "$pid" 2>/dev/null; then left+=("$name ($pid)"); fi
            fi
        done
        [ ${#left[@]} -eq 0 ] || echo "slurm_check.sh: still running: ${left[*]}" >&2
        echo "stopped: ${stopped[*]:-none was running}"
    fi
    if [ -e "$conf" ] && head -1 "$conf" | grep -qxF "$marker"; then rm -f "$conf"; fi
    rm -rf "$work"
    exit "$status"
}
trap stop_cluster EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

show_logs() {
    local f
    for f in "$work/munge/munged.log" "$work/log/slurmctld.log" "$work/log/slurmd.log" \
        "$work/log/"*.out; do
        if [ -s "$f" ]; then echo "--- $f"; tail -25 "$f"; fi
    done >&2
}

# show_job_logs DIR: the SLURM logs the executor kept in DIR (those of failed jobs) and the
# errors in the rules' logs.
show_job_logs() {
    local f
    for f in $(find "$1/.snakemake/slurm_logs" -name '*.log' 2>/dev/null | sort | head -5); do
        echo "--- $f"
        tail -15 "$f"
    done >&2
    grep -rH 'error' "$1/results/logs" >&2 2>/dev/null || true
}

echo "== one-node cluster: munged, slurmctld, slurmd"
node=$(hostname -s)
cpus=$(nproc)
# RealMemory (MB): 90% of the machine's memory, the rest left to the daemons and the system.
memory=$(awk '/^MemTotal:/ {printf "%d", $2 / 1024 * 0.9}' /proc/meminfo)
mungekey --create --keyfile="$work/munge/munge.key"
mkdir -p /etc/slurm
cat >"$conf" <<EOF
$marker
# It is removed when the check ends; the daemons' files are under $work.
ClusterName=seqcnn-check
SlurmctldHost=$node(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$work/run/munged.socket
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/run/slurmctld.pid
SlurmdPidFile=$work/run/slurmd.pid
SlurmctldLogFile=$work/log/slurmctld.log
SlurmdLogFile=$work/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
MailProg=/bin/true
# No cgroups (containers rarely let a daemon manage them) and no accounting database: job
# status comes from squeue, which lists finished jobs for MinJobAge seconds.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MinJobAge=3600
# Seconds between SIGTERM and SIGKILL when a job is cancelled.
KillWait=5
MpiDefault=none
SwitchType=switch/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
SlurmdParameters=config_overrides
ReturnToService=2
NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$memory State=UNKNOWN
PartitionName=check Nodes=$node Default=YES MaxTime=INFINITE State=UP
EOF
started+=(munged)
munged --socket="$work/run/munged.socket" --key-file="$work/munge/munge.key" \
    --pid-file="$work/run/munged.pid" --log-file="$work/munge/munged.log" \
    --seed-file="$work/munge/munged.seed" </dev/null >"$work/log/munged.out" 2>&1 ||
    { show_logs; die "munged did not start"; }
started+=(slurmctld)
slurmctld </dev/null >"$work/log/slurmctld.out" 2>&1 || { show_logs; die "slurmctld did not start"; }
started+=(slurmd)
slurmd </dev/null >"$work/log/slurmd.out" 2>&1 || { show_logs; die "slurmd did not start"; }
state=""
wait_idle=60
for _ in $(seq 1 $wait_idle); do
    state=$(sinfo -h -n "$node" -o %t 2>/dev/null || true)
    [ "$state" = idle ] && break
    sleep 1
done
if [ "$state" != idle ]; then
    show_logs
    die "node $node is not idle after $wait_idle s (sinfo: '${state:-no answer}'); the daemons' logs are above"
fi
sinfo
t_cluster=$(now)

# run_workflow DIR LOG [OPTION...] [-- CONFIG...]: the Snakefile in DIR, its output in LOG.
run_workflow() {
    local dir=$1 log=$2 opts=() config=()
    shift 2
    while [ $# -gt 0 ] && [ "$1" != -- ]; do opts+=("$1"); shift; done
    [ $# -gt 0 ] && shift
    config=("$@")
    mkdir -p "$dir"
    snakemake -s "$repo/workflows/Snakefile" --directory "$dir" "${opts[@]}" \
        --config seqcnn="$bin" shards=$shards "train={args: \"$train_args\"}" "${config[@]}" \
        >"$log" 2>&1
}
# The SLURM profile with the two settings a cluster without accounting needs, and a first
# status check after 5 s instead of 40 s (the jobs here take seconds).
slurm=(--profile "$repo/workflows/profiles/slurm" --slurm-status-command squeue
    --slurm-no-account --slurm-init-seconds-before-status-checks 5)

echo "== workflow through SLURM: demo model, then every step in $shards shards"
t0=$(now)
run_workflow "$work/slurm" "$work/slurm.log" "${slurm[@]}" ||
    {
        tail -40 "$work/slurm.log"
        show_job_logs "$work/slurm"
        show_logs
        die "the workflow failed on SLURM (Snakemake's log, the failed jobs' and daemons' logs above)"
    }
t1=$(now)
# Jobs planned (Snakemake's job table) less those it runs itself (the target rule `all`), and
# the jobs it submitted: "Job J has been submitted with SLURM jobid N".
planned=$(awk '$1 == "total" && $2 ~ /^[0-9]+$/ {print $2; exit}' "$work/slurm.log")
local_jobs=$(grep -c '^localrule ' "$work/slurm.log" || true)
mapfile -t jobids < <(sed -n 's/.*has been submitted with SLURM jobid \([0-9]*\).*/\1/p' \
    "$work/slurm.log")
[ -n "$planned" ] || die "no job table in $work/slurm.log"
if [ ${#jobids[@]} -ne $((planned - local_jobs)) ]; then
    grep -E 'localrule|submitted with SLURM' "$work/slurm.log" >&2
    die "${#jobids[@]} jobs went through sbatch, expected $((planned - local_jobs))" \
        "($planned planned, $local_jobs run by Snakemake itself)"
fi
# What slurmctld recorded of each of those jobs (squeue lists finished jobs for MinJobAge):
# completed, and submitted without an account ("(null)").
squeue -h -t all -o '%i %T %a' >"$work/squeue.txt"
for id in "${jobids[@]}"; do
    grep -qx "$id COMPLETED (null)" "$work/squeue.txt" ||
        { cat "$work/squeue.txt" >&2; die "SLURM job $id is not COMPLETED without account in squeue"; }
done
echo "$planned jobs planned: ${#jobids[@]} submitted with sbatch (SLURM job ids" \
    "${jobids[0]}-${jobids[-1]}), all COMPLETED and without account in squeue; $local_jobs run" \
    "by Snakemake itself ($(sed -n 's/^localrule \(.*\):$/\1/p' "$work/slurm.log" | paste -sd ' '))"

echo "== the same workflow locally (--cores 2)"
t2=$(now)
run_workflow "$work/local" "$work/local.log" --cores 2 ||
    { tail -40 "$work/local.log"; die "the workflow failed locally (log above)"; }
t3=$(now)
same=()
for f in model/demo.safetensors predict.tsv predict_bed.tsv tiles.tsv.gz mutate.tsv.gz \
    variants.tsv variants.vcf.gz variants_skipped.tsv; do
    cmp "$work/slurm/results/$f" "$work/local/results/$f" ||
        die "results/$f differs between the SLURM and the local run"
    same+=("$f")
done
echo "identical on SLURM and locally: ${same[*]}"

echo "== failing step: REF disagreeing with the genome under --strict, on SLURM and locally"
model=$work/local/results/model/demo.safetensors
failing=(-- model="$model" sequences= mutate_sequences= bed= "tile={regions: []}"
    "variants={enabled: true, vcf: tests/data/variants/synthetic.vcf, strict: true}")
if run_workflow "$work/fail-slurm" "$work/fail-slurm.log" "${slurm[@]}" --keep-going \
    "${failing[@]}"; then
    die "the workflow with a bad VCF under --strict should have failed on SLURM"
fi
if run_workflow "$work/fail-local" "$work/fail-local.log" --cores 2 --keep-going "${failing[@]}"; then
    die "the workflow with a bad VCF under --strict should have failed locally"
fi
failed_jobs=$(grep -c "SLURM-job '[0-9]*' failed, SLURM status is: 'FAILED'" \
    "$work/fail-slurm.log" || true)
[ "$failed_jobs" -eq $shards ] ||
    { tail -40 "$work/fail-slurm.log"; die "$failed_jobs SLURM jobs FAILED, expected $shards"; }
for shard in $(seq 1 $shards); do
    log=results/logs/variants/$shard.log
    grep -q "^seqcnn: error: .*synthetic.vcf:10: REF does not match the genome at 20:1541" \
        "$work/fail-slurm/$log" || { cat "$work/fail-slurm/$log" >&2; die "no seqcnn error in $log"; }
    cmp "$work/fail-slurm/$log" "$work/fail-local/$log" ||
        die "$log differs between the SLURM and the local run"
done
echo "$failed_jobs variants jobs FAILED in SLURM; each log holds, as locally:"
sed 's/^/  /' "$work/fail-slurm/results/logs/variants/1.log"
leftover=$(find "$work/fail-slurm" -path "$work/fail-slurm/.snakemake" -prune -o -type f \
    ! -path '*/logs/*' -print)
[ -z "$leftover" ] || die "files left by the failed SLURM jobs: $leftover"
echo "no output files left (only logs)"
if [ -e "$repo/.snakemake" ] || [ -e "$repo/results" ]; then
    die "the workflow wrote into the repository"
fi
t_end=$(now)

echo "== summary"
echo "SLURM: ${#jobids[@]}/$planned jobs via sbatch, all COMPLETED; identical to the local run:" \
    "${#same[@]} files (${same[*]}); bad VCF under --strict: $failed_jobs jobs FAILED with" \
    "seqcnn's error in their logs, no output left"
echo "wall time: installing and starting the cluster $(seconds "$t_start" "$t_cluster") s;" \
    "workflow on SLURM $(seconds "$t0" "$t1") s, locally $(seconds "$t2" "$t3") s;" \
    "whole check $(seconds "$t_start" "$t_end") s"
echo "workflows/slurm_check.sh: all checks passed"
