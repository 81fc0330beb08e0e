//! `seqcnn discover`: motifs from contribution scores, TF-MoDISco's way (the algorithm lives in
//! [`seqcnn::discover`]).

use anyhow::Result;
use ndarray::{Array3, ArrayD};
use seqcnn::discover::report::{self, Origins, ReportInfo};
use seqcnn::discover::{self, Options, seqlets::SeqletOptions};
use seqcnn::interpret::compare::{self, CompareOptions, Null};
use seqcnn::io::meme;
use seqcnn::io::output::AtomicDir;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Discover motifs from attributions, as TF-MoDISco (modisco-lite) does.
///
/// Seqlets are called from the actual contributions (windowed sums against a Laplace null,
/// both signs, at a target false discovery rate), split by sign, clustered by the similarity of
/// their hypothetical and actual contributions over every shift and both strands, and each
/// cluster aligned into a motif, trimmed to its most informative window and widened by a flank;
/// similar motifs are merged, and motifs with fewer than --min-seqlets seqlets or too little
/// information are dropped. With --motifs each motif's PWM (cut to the columns whose summed
/// |CWM| reaches 0.3 of the largest, as modisco-lite's report cuts it) is matched against the
/// database with `motifs --compare`'s machinery (p-, E- and q-values).
///
/// Input: the `.npz` of `seqcnn attribute --out F.npz` (`hypothetical` and `sequences`, each
/// [N, 4, L]; with `names`, and `loci` when the sequences came from a genome).
///
/// Output directory: `motifs.tsv` (one row per motif, its best match), `motifs.meme` (trimmed
/// PWMs), `motifs.npz` (`NAME.cwm`, `NAME.hyp_cwm`, `NAME.pwm`, untrimmed, [width, 4]),
/// `seqlets.tsv` (each motif's seqlets; 0-based start, end exclusive), `seqlets.bed` (genome
/// input), `matches.tsv` (Tomtom's columns, with --motifs) and `report.html` (self-contained:
/// logos of the CWM, hypothetical CWM and PWM with its best match, and the match tables).
#[derive(clap::Args)]
#[command(after_help = "Examples:\n  \
    seqcnn attribute --model rest.safetensors --method deepshap bound.tsv --out rest.npz\n  \
    seqcnn discover rest.npz --motifs JASPAR2024_CORE_vertebrates.meme --out rest_motifs\n  \
    # then open rest_motifs/report.html; rest_motifs/motifs.meme feeds `seqcnn scan`")]
pub struct Args {
    /// Attributions: the .npz `seqcnn attribute --out F.npz` writes.
    input: PathBuf,
    /// Output directory.
    #[arg(long)]
    out: PathBuf,
    /// Motif database (MEME format) to match the motifs against.
    #[arg(long)]
    motifs: Option<PathBuf>,
    /// Seqlets clustered per sign (the first, in sequence order; modisco-lite's -n).
    #[arg(long, default_value_t = 2000)]
    max_seqlets: usize,
    /// Sliding window of the seqlet caller (bp).
    #[arg(long, default_value_t = 21)]
    window: usize,
    /// Flank added to each side of a seqlet (bp).
    #[arg(long, default_value_t = 10)]
    flank: usize,
    /// Target false discovery rate of seqlet windows.
    #[arg(long, default_value_t = 0.2)]
    fdr: f64,
    /// Fewest seqlets of a sign for that sign to be clustered (modisco-lite: more than 100).
    #[arg(long, default_value_t = 100)]
    min_metacluster: usize,
    /// Fewest seqlets a motif keeps.
    #[arg(long, default_value_t = 20)]
    min_seqlets: usize,
    /// Nearest neighbours of each seqlet in the clustering graph.
    #[arg(long, default_value_t = 20)]
    neighbours: usize,
    /// Matches listed per motif.
    #[arg(long, default_value_t = 3)]
    top: usize,
    /// How match p-values are found: Tomtom's exact distribution of column scores against the
    /// database (what modisco-lite's report runs), or column-shuffled copies of each motif.
    #[arg(long, value_enum, default_value = "tomtom")]
    null: Null,
    /// Column-shuffled copies of each motif in the matching null (--null shuffled).
    #[arg(long, default_value_t = 1000)]
    shuffles: usize,
    /// Seed of the seqlet null and the matching shuffles.
    #[arg(long, default_value_t = 1234)]
    seed: u64,
    /// Worker threads (default: all CPUs).
    #[arg(long)]
    threads: Option<usize>,
}

pub fn run(args: Args) -> Result<()> {
    super::with_threads(args.threads, || discover_cmd(&args))
}

/// Reads a float array by name, naming the file and the array on failure.
fn array(path: &Path, name: &str) -> seqcnn::Result<Option<ArrayD<f32>>> {
    let file = std::fs::File::open(path).map_err(|e| seqcnn::Error::io(path, e))?;
    let mut npz = ndarray_npy::NpzReader::new(file)
        .map_err(|e| seqcnn::Error::parse(path, 0, format!("not a NumPy .npz file ({e})")))?;
    let names = npz
        .names()
        .map_err(|e| seqcnn::Error::parse(path, 0, e.to_string()))?;
    if !names
        .iter()
        .any(|n| n == name || n == &format!("{name}.npy"))
    {
        return Ok(None);
    }
    npz.by_name::<ndarray::OwnedRepr<f32>, ndarray::IxDyn>(name)
        .map(Some)
        .map_err(|e| {
            seqcnn::Error::parse(
                path,
                0,
                format!("array '{name}': {e} (expected float32, as `seqcnn attribute` writes)"),
            )
        })
}

/// The [N, 4, L] arrays of the input.
fn three(path: &Path, name: &str, a: ArrayD<f32>) -> seqcnn::Result<Array3<f32>> {
    let shape = a.shape().to_vec();
    a.into_dimensionality::<ndarray::Ix3>().map_err(|_| {
        seqcnn::Error::Config(format!(
            "{}: array '{name}' is {shape:?}: discover takes [sequences, 4, length]",
            path.display()
        ))
    })
}

/// Sequence names and genome windows from the input's `names` and `loci` (`contig:start-end`,
/// 1-based inclusive), when it has them.
fn origins(path: &Path, n: usize) -> seqcnn::Result<Origins> {
    let check = |name: &str, v: Option<Vec<String>>| -> seqcnn::Result<Vec<String>> {
        match v {
            Some(v) if v.len() != n => Err(seqcnn::Error::Config(format!(
                "{}: array '{name}' has {} entries for {n} sequences",
                path.display(),
                v.len()
            ))),
            v => Ok(v.unwrap_or_default()),
        }
    };
    let names = check("names", seqcnn::io::npz::read_text(path, "names")?)?;
    let loci = check("loci", seqcnn::io::npz::read_text(path, "loci")?)?
        .iter()
        .map(|l| {
            l.rsplit_once(':')
                .and_then(|(c, r)| r.split_once('-').map(|(a, _)| (c, a)))
                .and_then(|(c, a)| {
                    a.parse::<u64>()
                        .ok()
                        .map(|a| (c.to_string(), a.saturating_sub(1)))
                })
                .ok_or_else(|| {
                    seqcnn::Error::Config(format!(
                        "{}: locus '{l}' is not contig:start-end",
                        path.display()
                    ))
                })
        })
        .collect::<seqcnn::Result<Vec<_>>>()?;
    Ok(Origins { names, loci })
}

fn discover_cmd(args: &Args) -> Result<()> {
    let path = &args.input;
    let need = |name: &str| -> seqcnn::Result<ArrayD<f32>> {
        array(path, name)?.ok_or_else(|| {
            seqcnn::Error::Config(format!(
                "{}: no array '{name}' (discover reads the .npz of `seqcnn attribute --out F.npz`)",
                path.display()
            ))
        })
    };
    let hyp = three(path, "hypothetical", need("hypothetical")?)?;
    let seq = three(path, "sequences", need("sequences")?)?;
    let tracks = discover::tracks_from_arrays(&hyp.view(), &seq.view())
        .map_err(|e| seqcnn::Error::Config(format!("{}: {e}", path.display())))?;
    let db = args.motifs.as_deref().map(meme::read_meme).transpose()?;
    let opts = Options {
        seqlets: SeqletOptions {
            window: args.window,
            flank: args.flank,
            target_fdr: args.fdr,
            seed: args.seed,
            ..SeqletOptions::default()
        },
        max_seqlets: args.max_seqlets,
        min_metacluster: args.min_metacluster,
        min_seqlets: args.min_seqlets,
        neighbours: args.neighbours,
        ..Options::default()
    };
    let found = discover::discover(&tracks, &opts)?;
    let pwms: Vec<meme::Motif> = found.motifs.iter().map(|m| m.trimmed_pwm()).collect();
    let (targets, matches) = match &db {
        Some(db) => {
            let copts = CompareOptions {
                null: args.null,
                shuffles: args.shuffles,
                seed: args.seed,
                top: args.top,
                ..CompareOptions::default()
            };
            (
                db.motifs.as_slice(),
                compare::compare(&pwms, &db.motifs, &copts)?,
            )
        }
        None => (&[][..], Vec::new()),
    };
    let origins = origins(path, tracks.n)?;
    let dir = AtomicDir::create(&args.out)?;
    let file = |name: &str, body: &dyn Fn(&mut Vec<u8>) -> std::io::Result<()>| -> Result<()> {
        let p = dir.path().join(name);
        let mut buf = Vec::new();
        body(&mut buf).map_err(|e| seqcnn::Error::io(&p, e))?;
        std::fs::write(&p, buf).map_err(|e| seqcnn::Error::io(&p, e))?;
        Ok(())
    };
    file("motifs.tsv", &|o| {
        report::write_motifs(o, &found, targets, &matches)
    })?;
    file("seqlets.tsv", &|o| {
        report::write_seqlets(o, &found, &origins)
    })?;
    if !origins.loci.is_empty() {
        file("seqlets.bed", &|o| {
            report::write_seqlets_bed(o, &found, &origins)
        })?;
    }
    file("motifs.meme", &|o| {
        meme::write_meme(o, &report::meme_file(&found))
    })?;
    if db.is_some() {
        file("matches.tsv", &|o| {
            compare::write_matches(o, &pwms, targets, &matches, &[])
        })?;
    }
    let mut arrays: Vec<(String, ndarray::Array2<f32>)> = Vec::new();
    for m in &found.motifs {
        for (what, rows) in [("cwm", &m.cwm), ("hyp_cwm", &m.hyp_cwm), ("pwm", &m.pwm)] {
            let a = ndarray::Array2::from_shape_fn((rows.len(), 4), |(i, b)| rows[i][b] as f32);
            arrays.push((format!("{}.{what}", m.name), a));
        }
    }
    let views: Vec<(&str, ndarray::ArrayViewD<f32>)> = arrays
        .iter()
        .map(|(n, a)| (n.as_str(), a.view().into_dyn()))
        .collect();
    seqcnn::io::npz::write_npz(&dir.path().join("motifs.npz"), &views)?;
    let info = ReportInfo {
        input: path.display().to_string(),
        database: args.motifs.as_ref().map(|p| p.display().to_string()),
        command: std::env::args().collect::<Vec<_>>().join(" "),
        version: env!("CARGO_PKG_VERSION").to_string(),
    };
    file("report.html", &|o| {
        o.write_all(report::html(&found, targets, &matches, &info).as_bytes())
    })?;
    dir.commit()?;
    let c = &found.called;
    eprintln!(
        "{} positive and {} negative seqlets; {} motifs written to {}",
        c.positive.len(),
        c.negative.len(),
        found.motifs.len(),
        args.out.display()
    );
    Ok(())
}
