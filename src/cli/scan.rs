//! `seqcnn scan`: motif occurrences in sequences or BED intervals, as FIMO finds them (TSV in
//! FIMO's columns); the arithmetic lives in [`seqcnn::scan`].

use super::progress::Meter;
use anyhow::Result;
use seqcnn::io::bed::{BedRecord, read_bed_checked};
use seqcnn::io::genome::Genome;
use seqcnn::io::meme::{self, MemeFile, Motif};
use seqcnn::io::output::AtomicOutput;
use seqcnn::io::sequence::sequence_records;
use seqcnn::scan::{BackgroundSource, Hit, Scan, ScanOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Scan sequences for occurrences of known motifs, as FIMO (MEME suite) does.
///
/// Every window of every sequence is scored on both strands with each motif's log-odds matrix
/// (letter frequencies plus --motif-pseudo, against the background), the score is scaled to an
/// integer as FIMO scales it, and its p-value is exact: the probability of a score at least as
/// high under the background, by dynamic programming over the motif's positions. Windows with p
/// <= --thresh are reported with a q-value (Benjamini-Hochberg over every window scored for that
/// motif, both strands; FIMO also multiplies by an estimate of pi0, we do not). A window holding
/// a letter other than A, C, G, T (N, IUPAC codes) is not scored.
///
/// Output: TSV with FIMO's columns `motif_id motif_alt_id sequence_name start stop strand score
/// p-value q-value matched_sequence`, sorted by p-value; start and stop are 1-based within the
/// sequence (start < stop on both strands); the matched sequence of a `-` hit is read on the
/// reverse strand (in upper case, as FIMO writes it). Numbers have 10 significant digits (FIMO
/// prints p and q with 3).
///
/// With --genome the input is a BED (or narrowPeak) file: each interval is read from the genome
/// as it is (no resizing, contig names with or without `chr`), named `chr:start-end` (1-based
/// start, the contig as the BED spells it) or by its name column, and three columns follow FIMO's:
/// `chrom genome_start genome_stop`, the hit in genome coordinates (1-based, inclusive).
#[derive(clap::Args)]
#[command(after_help = "Examples:\n  \
    seqcnn scan --motifs JASPAR2024_CORE_vertebrates.meme peaks.fa --out hits.tsv\n  \
    seqcnn scan --motifs JASPAR2024_CORE_vertebrates.meme --motif MA0139.2 \\\n    \
      --genome hg19.fa.gz ctcf_peaks.bed --out ctcf_sites.tsv.gz\n  \
    seqcnn scan --motifs db.meme --thresh 1e-5 --norc --bg uniform seqs.fa.gz")]
pub struct Args {
    /// Sequences (FASTA, sequence table or one per line; gzip or not; `-` reads stdin), or with
    /// --genome a BED or narrowPeak file of intervals.
    input: PathBuf,
    /// Motif database in MEME format (JASPAR, HOCOMOCO and MEME outputs are).
    #[arg(long)]
    motifs: PathBuf,
    /// Scan only the motif with this ID (repeat for several; default: every motif).
    #[arg(long = "motif", value_name = "ID")]
    motif: Vec<String>,
    /// Indexed genome FASTA (plain or bgzip, with .fai/.gzi) to read the BED intervals from.
    #[arg(long)]
    genome: Option<PathBuf>,
    /// Report windows with a p-value at most this.
    #[arg(long, default_value_t = 1e-4)]
    thresh: f64,
    /// Scan the given strand only (FIMO's --norc).
    #[arg(long)]
    norc: bool,
    /// Background letter frequencies: the motif file's, uniform, or MEME's NRDB frequencies
    /// (FIMO's own default for DNA); averaged with the reverse complement unless --norc.
    #[arg(long, value_enum, default_value_t)]
    bg: BackgroundSource,
    /// Pseudocount added to each motif position, spread by the background (FIMO's default).
    #[arg(long = "motif-pseudo", default_value_t = 0.1)]
    motif_pseudo: f64,
    /// Output TSV (`-` = stdout; `.gz` = BGZF).
    #[arg(long, default_value = "-")]
    out: PathBuf,
    /// Worker threads (default: all CPUs).
    #[arg(long)]
    threads: Option<usize>,
}

pub fn run(args: Args) -> Result<()> {
    super::with_threads(args.threads, || scan_cmd(&args))
}

/// Letters read before a batch is scanned.
const BATCH_LETTERS: usize = 4 << 20;

/// What is known of each scanned sequence: its name and, for BED input, where it lies.
struct Named {
    name: String,
    /// The contig as the BED file spells it and the interval's 0-based start.
    genome: Option<(String, u64)>,
}

fn scan_cmd(args: &Args) -> Result<()> {
    if args.genome.is_none() && looks_like_bed(&args.input) {
        return Err(seqcnn::Error::Config(format!(
            "{} looks like a BED file: give --genome GENOME.fa to read its intervals' sequences",
            args.input.display()
        ))
        .into());
    }
    let file = meme::read_meme(&args.motifs)?;
    let chosen = pick(&file, &args.motif, &args.motifs)?;
    let options = ScanOptions {
        threshold: args.thresh,
        both_strands: !args.norc,
        pseudocount: args.motif_pseudo,
        background: args.bg,
    };
    let mut scan = Scan::new(&file, &chosen, &options)?;
    super::check_outputs(
        &[("--out", Some(&args.out))],
        &[Some(&args.input), Some(&args.motifs), args.genome.as_ref()],
    )?;
    let mut out = AtomicOutput::create(&args.out)?;
    let mut named: Vec<Named> = Vec::new();
    let mut meter = Meter::new("scan", "sequences", None);
    let mut letters = 0u64;
    let mut batch: Vec<(u32, Vec<u8>)> = Vec::new();
    let mut held = 0;
    let mut push = |name: Named, seq: Vec<u8>, scan: &mut Scan, meter: &mut Meter| -> Result<()> {
        let index = u32::try_from(named.len()).map_err(|_| {
            seqcnn::Error::Config("more than 4,294,967,295 sequences in one scan".into())
        })?;
        named.push(name);
        letters += seq.len() as u64;
        held += seq.len();
        batch.push((index, seq));
        if held >= BATCH_LETTERS {
            flush(&mut batch, scan, meter);
            held = 0;
        }
        Ok(())
    };
    let genome_columns = match &args.genome {
        Some(genome_path) => {
            let genome = Genome::open(genome_path)?;
            let intervals = read_bed_checked(&args.input, &genome)?;
            for iv in &intervals {
                let seq = genome.fetch(&iv.contig, iv.start, iv.end)?;
                push(bed_name(iv), seq, &mut scan, &mut meter)?;
            }
            true
        }
        None => {
            for rec in sequence_records(&args.input, Some(&[]))? {
                let rec = rec?;
                let name = Named {
                    name: rec.name,
                    genome: None,
                };
                push(name, rec.seq, &mut scan, &mut meter)?;
            }
            false
        }
    };
    flush(&mut batch, &mut scan, &mut meter);
    let motifs: Vec<(String, String, usize)> = scan
        .motifs()
        .iter()
        .map(|m| (m.id.clone(), m.alt.clone(), m.width()))
        .collect();
    let hits = scan.finish();
    write_hits(&mut out, &hits, &motifs, &named, genome_columns).map_err(|e| out.error(e))?;
    out.commit()?;
    let detail = format!(
        "{} sequences ({letters} bp), {} motif{}, {} hits",
        named.len(),
        motifs.len(),
        if motifs.len() == 1 { "" } else { "s" },
        hits.len()
    );
    meter.finish(Some(detail), &[args.out.as_path()], "");
    Ok(())
}

/// Scans the sequences of `batch` and empties it.
fn flush(batch: &mut Vec<(u32, Vec<u8>)>, scan: &mut Scan, meter: &mut Meter) {
    let refs: Vec<(u32, &[u8])> = batch.iter().map(|(i, s)| (*i, s.as_slice())).collect();
    scan.add(&refs);
    meter.add(batch.len() as u64);
    batch.clear();
}

/// Input named like a BED or narrowPeak file (gzip or not).
fn looks_like_bed(path: &Path) -> bool {
    let name = path.to_string_lossy().to_ascii_lowercase();
    let name = name.strip_suffix(".gz").unwrap_or(&name);
    [".bed", ".narrowpeak", ".broadpeak"]
        .iter()
        .any(|e| name.ends_with(e))
}

/// The motifs `ids` names, in file order (every motif when none is named); an unknown ID is an
/// error naming the file, with the motifs of that name when it is a name rather than an ID.
fn pick<'a>(file: &'a MemeFile, ids: &[String], path: &Path) -> Result<Vec<&'a Motif>> {
    if ids.is_empty() {
        return Ok(file.motifs.iter().collect());
    }
    for id in ids {
        if file.motifs.iter().any(|m| &m.id == id) {
            continue;
        }
        let named: Vec<&str> = file
            .motifs
            .iter()
            .filter(|m| {
                m.name
                    .as_deref()
                    .is_some_and(|n| n.eq_ignore_ascii_case(id))
            })
            .map(|m| m.id.as_str())
            .collect();
        let hint = if named.is_empty() {
            format!(
                "; its {} motifs run from {} to {}",
                file.motifs.len(),
                file.motifs[0].id,
                file.motifs[file.motifs.len() - 1].id
            )
        } else {
            format!(
                "; '{id}' is the name of {}: give the ID to --motif",
                named.join(", ")
            )
        };
        return Err(seqcnn::Error::Config(format!(
            "--motif {id}: no motif with this ID in {}{hint}",
            path.display()
        ))
        .into());
    }
    Ok(file.motifs.iter().filter(|m| ids.contains(&m.id)).collect())
}

/// The name of a BED interval's sequence: the name column, else `chr:start-end` (1-based start).
fn bed_name(iv: &BedRecord) -> Named {
    Named {
        name: iv.label(),
        genome: Some((iv.written_contig().to_string(), iv.start)),
    }
}

/// A number as C's `%.10g` prints it.
fn g10(x: f64) -> String {
    if x == 0.0 || !x.is_finite() {
        return format!("{x}");
    }
    let exp = x.abs().log10().floor() as i32;
    let sci = format!("{x:.9e}");
    // The exponent after rounding to 10 digits (9.9999999999 rounds up a decade).
    let exp = sci
        .rsplit_once('e')
        .and_then(|(_, e)| e.parse::<i32>().ok())
        .unwrap_or(exp);
    if (-4..10).contains(&exp) {
        let decimals = (9 - exp).max(0) as usize;
        trim(format!("{x:.decimals$}"))
    } else {
        let (mantissa, _) = sci.split_once('e').unwrap_or((&sci, ""));
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{}e{sign}{:02}", trim(mantissa.to_string()), exp.abs())
    }
}

/// Trailing zeros (and a trailing point) of a decimal number removed.
fn trim(s: String) -> String {
    if !s.contains('.') {
        return s;
    }
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn write_hits(
    out: &mut AtomicOutput,
    hits: &[Hit],
    motifs: &[(String, String, usize)],
    named: &[Named],
    genome_columns: bool,
) -> std::io::Result<()> {
    let mut header = String::from(
        "motif_id\tmotif_alt_id\tsequence_name\tstart\tstop\tstrand\tscore\tp-value\tq-value\tmatched_sequence",
    );
    if genome_columns {
        header.push_str("\tchrom\tgenome_start\tgenome_stop");
    }
    header.push('\n');
    out.write_all(header.as_bytes())?;
    let mut text = String::new();
    for h in hits {
        let (id, alt, w) = &motifs[h.motif as usize];
        let seq = &named[h.seq as usize];
        let start = h.start + 1;
        let stop = h.start + *w as u64;
        text.push_str(&format!(
            "{id}\t{alt}\t{}\t{start}\t{stop}\t{}\t{}\t{}\t{}\t{}",
            seq.name,
            if h.reverse { '-' } else { '+' },
            g10(h.score),
            g10(h.pvalue),
            g10(h.qvalue),
            String::from_utf8_lossy(&h.matched)
        ));
        if let Some((contig, offset)) = &seq.genome {
            text.push_str(&format!(
                "\t{contig}\t{}\t{}",
                offset + start,
                offset + stop
            ));
        }
        text.push('\n');
        if text.len() > 1 << 16 {
            out.write_all(text.as_bytes())?;
            text.clear();
        }
    }
    out.write_all(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_print_as_c_g10() {
        for (x, want) in [
            (22.62903226, "22.62903226"),
            (9.313225746e-10, "9.313225746e-10"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1.0, "1"),
            (-3.5, "-3.5"),
            (1234567890123.0, "1.23456789e+12"),
            (0.0012455189777048012, "0.001245518978"),
            (0.0, "0"),
        ] {
            assert_eq!(g10(x), want, "{x}");
        }
    }
}
