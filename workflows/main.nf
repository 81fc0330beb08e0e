#!/usr/bin/env nextflow
/*
 * seqcnn as a sharded Nextflow (DSL2) pipeline: the steps of workflows/Snakefile. A model is
 * trained from the bundled demo data (or --model is taken), every scoring step runs as
 * params.shards jobs (`seqcnn ... --shard I/N`), and `seqcnn merge` gathers each step's shards,
 * in shard order, into exactly the output of one unsharded run.
 *
 *   nextflow run workflows/main.nf                       # local, demo data, 2 shards
 *   nextflow run workflows/main.nf -profile slurm --shards 50 --sequences peaks.fa
 *
 * Inputs left empty ('') skip their step. Relative paths are taken from the launch directory.
 * The files of each step's shards reach MERGE as a list, sorted by shard number, which the
 * script renders space-separated.
 * seqcnn must be on PATH or given with --seqcnn (default: the release build of this checkout).
 */
nextflow.enable.dsl = 2

params.seqcnn = "${projectDir}/../target/release/seqcnn"
params.outdir = 'results'
params.shards = 2
params.threads = 1
params.model = ''
params.train_data = "${projectDir}/../data/REST_AC.seq.gz"
params.train_arch = 'deepbind'
params.train_seed = 1
params.train_args = '--set input.length=101'
// DeepBind's calibration as jobs: this many settings (0 = none), one CALIBRATE_TRIAL job each
// (`train --calibrate-trial K`), then TRAIN_DEMO trains the best (`--calibrate-results`): the
// same model as one `train --calibrate` process.
params.train_calibrate = 0
params.train_folds = 3
params.train_calibrate_epochs = 15
params.sequences = "${projectDir}/../data/REST_B.seq.gz"
params.mutate_sequences = "${projectDir}/../tests/data/REST_B.head50.seq"
params.genome = "${projectDir}/../tests/data/genome/chr20_30M.fa.gz"
params.bed = "${projectDir}/../tests/data/genome/chr20_30M_CTCF.bed"
params.tile_bin = 200
params.tile_regions = '20'
params.vcf = "${projectDir}/../tests/data/variants/synthetic.vcf"
// Fail on an unknown contig or a REF that disagrees with the genome (the synthetic demo VCF
// has both on purpose).
params.strict = false

/*
 * The demo training's arguments, shared by the calibration jobs and the training job (they must
 * agree for the jobs' results to be accepted).
 */
def trainArgs() {
    def args = "--arch ${params.train_arch} --seed ${params.train_seed} ${params.train_args}"
    if ((params.train_calibrate as int) > 0) {
        args += " --calibrate ${params.train_calibrate} --folds ${params.train_folds}" +
            " --calibrate-epochs ${params.train_calibrate_epochs}"
    }
    return args
}

process CALIBRATE_TRIAL {
    tag "trial ${trial}/${params.train_calibrate}"
    label 'train'

    input:
    tuple val(trial), path(data)

    output:
    path "trial${trial}.json"

    script:
    """
    ${params.seqcnn} train --train ${data} ${trainArgs()} --calibrate-trial ${trial} \\
        --threads ${task.cpus} --out trial${trial}.json
    """
}

process TRAIN_DEMO {
    label 'train'
    publishDir "${params.outdir}/model", mode: 'copy'

    input:
    path data
    path trials

    output:
    path 'demo.safetensors', emit: model
    path 'demo.epochs.tsv', emit: epochs

    script:
    def results = (params.train_calibrate as int) > 0 ? "--calibrate-results ${trials}" : ''
    """
    ${params.seqcnn} train --train ${data} ${trainArgs()} ${results} \\
        --threads ${task.cpus} --log demo.epochs.tsv --out demo.safetensors
    """
}

process PREDICT {
    tag "shard ${shard}/${params.shards}"
    label 'score'

    input:
    tuple val(shard), path(model), path(seqs)

    output:
    tuple val('predict'), val(shard), path("predict.${shard}.tsv")

    script:
    """
    ${params.seqcnn} predict --model ${model} ${seqs} --shard ${shard}/${params.shards} \\
        --threads ${task.cpus} --out predict.${shard}.tsv
    """
}

process PREDICT_BED {
    tag "shard ${shard}/${params.shards}"
    label 'score'

    input:
    tuple val(shard), path(model), path(genome), path(index), path(bed)

    output:
    tuple val('predict_bed'), val(shard), path("predict_bed.${shard}.tsv")

    script:
    """
    ${params.seqcnn} predict --model ${model} --genome ${genome} ${bed} \\
        --shard ${shard}/${params.shards} --threads ${task.cpus} --out predict_bed.${shard}.tsv
    """
}

process TILES {
    tag "shard ${shard}/${params.shards}"
    label 'score'

    input:
    tuple val(shard), path(model), path(genome), path(index)

    output:
    tuple val('tiles'), val(shard), path("tiles.${shard}.tsv.gz")

    script:
    def regions = params.tile_regions.toString().tokenize(',').collect { "--region ${it}" }.join(' ')
    """
    ${params.seqcnn} predict --model ${model} --genome ${genome} --tile ${params.tile_bin} ${regions} \\
        --shard ${shard}/${params.shards} --threads ${task.cpus} --out tiles.${shard}.tsv.gz
    """
}

process MUTATE {
    tag "shard ${shard}/${params.shards}"
    label 'score'

    input:
    tuple val(shard), path(model), path(seqs)

    output:
    tuple val('mutate'), val(shard), path("mutate.${shard}.tsv.gz")

    script:
    """
    ${params.seqcnn} mutate --model ${model} ${seqs} --shard ${shard}/${params.shards} \\
        --threads ${task.cpus} --out mutate.${shard}.tsv.gz
    """
}

process VARIANTS {
    tag "shard ${shard}/${params.shards}"
    label 'score'
    publishDir "${params.outdir}/reports", mode: 'copy', pattern: '*.html'

    input:
    tuple val(shard), path(model), path(genome), path(index), path(vcf)

    output:
    tuple val('variants'), val(shard), path("variants.${shard}.tsv"), emit: tsv
    tuple val('variants'), val(shard), path("variants.${shard}.vcf.gz"), emit: vcf
    tuple val('variants_skipped'), val(shard), path("variants_skipped.${shard}.tsv"), emit: skipped
    path "variants.${shard}.html", emit: report

    script:
    def strict = params.strict.toString().toBoolean() ? '--strict' : ''
    """
    ${params.seqcnn} variants --model ${model} --genome ${genome} --vcf ${vcf} ${strict} \\
        --shard ${shard}/${params.shards} --threads ${task.cpus} --out variants.${shard}.tsv \\
        --out-vcf variants.${shard}.vcf.gz --skipped variants_skipped.${shard}.tsv \\
        --report variants.${shard}.html
    """
}

/*
 * One step's shards, sorted by shard number, merged: the header once, then every shard's rows.
 */
process MERGE {
    tag "${step}"
    label 'merge'
    publishDir params.outdir, mode: 'copy'

    input:
    tuple val(step), val(ext), path(shards)

    output:
    path "${step}${ext}"

    script:
    """
    ${params.seqcnn} merge --out ${step}${ext} ${shards}
    """
}

/*
 * Gathers a channel of (step, shard, file) into one (step, extension, files in shard order).
 */
def gatherShards(ch, String ext) {
    ch.groupTuple(size: params.shards as int)
        .map { step, shards, files ->
            def ordered = [shards, files].transpose().sort { it[0] }.collect { it[1] }
            tuple(step, ext, ordered)
        }
}

workflow {
    def shards = Channel.of(1..(params.shards as int))
    def data = Channel.value(file(params.train_data, checkIfExists: true))
    def trials = (params.train_calibrate as int) > 0
        ? CALIBRATE_TRIAL(Channel.of(1..(params.train_calibrate as int)).combine(data)).collect()
        : Channel.value([])
    def model = params.model
        ? Channel.value(file(params.model, checkIfExists: true))
        : TRAIN_DEMO(data, trials).model
    def genome = params.genome ? file(params.genome, checkIfExists: true) : null
    // The genome's .fai (and .gzi for BGZF) staged beside it.
    def index = genome ? files("${params.genome}.{fai,gzi}") : null

    def merged = Channel.empty()
    if (params.sequences) {
        def seqs = file(params.sequences, checkIfExists: true)
        def out = PREDICT(shards.combine(model).map { s, m -> tuple(s, m, seqs) })
        merged = merged.mix(gatherShards(out, '.tsv'))
    }
    if (genome && params.bed) {
        def bed = file(params.bed, checkIfExists: true)
        def out = PREDICT_BED(shards.combine(model).map { s, m -> tuple(s, m, genome, index, bed) })
        merged = merged.mix(gatherShards(out, '.tsv'))
    }
    if (genome && params.tile_regions) {
        def out = TILES(shards.combine(model).map { s, m -> tuple(s, m, genome, index) })
        merged = merged.mix(gatherShards(out, '.tsv.gz'))
    }
    if (params.mutate_sequences) {
        def seqs = file(params.mutate_sequences, checkIfExists: true)
        def out = MUTATE(shards.combine(model).map { s, m -> tuple(s, m, seqs) })
        merged = merged.mix(gatherShards(out, '.tsv.gz'))
    }
    if (genome && params.vcf) {
        def vcf = file(params.vcf, checkIfExists: true)
        def out = VARIANTS(shards.combine(model).map { s, m -> tuple(s, m, genome, index, vcf) })
        merged = merged
            .mix(gatherShards(out.tsv, '.tsv'))
            .mix(gatherShards(out.vcf, '.vcf.gz'))
            .mix(gatherShards(out.skipped, '.tsv'))
    }
    MERGE(merged)
}
