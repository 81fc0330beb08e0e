//! What `seqcnn discover` writes: the motifs as TSV, MEME and NumPy matrices, their seqlets
//! (TSV, and BED when the sequences came from a genome), their matches in a motif database
//! (Tomtom's columns), and one self-contained HTML report with the logos and matches.

use std::fmt::Write as _;
use std::io::Write;

use super::{Discovery, Motif};
use crate::interpret::compare::Match;
use crate::interpret::logo::{contribution_logo_svg, esc, filter_logo_svg};
use crate::interpret::motifs::consensus;
use crate::io::meme::{MemeFile, Motif as MemeMotif};

/// Where each sequence came from, for seqlet positions.
#[derive(Clone, Debug, Default)]
pub struct Origins {
    /// Sequence names, by index (empty: named by their 0-based index).
    pub names: Vec<String>,
    /// Genome windows, by index: contig (as the input spelled it) and 0-based start.
    pub loci: Vec<(String, u64)>,
}

impl Origins {
    fn name(&self, i: usize) -> String {
        self.names.get(i).cloned().unwrap_or_else(|| i.to_string())
    }
}

/// The trimmed PWMs, one MEME file (the seqlets' base frequencies as its background).
pub fn meme_file(d: &Discovery) -> MemeFile {
    let mut f = MemeFile::new(d.motifs.iter().map(Motif::trimmed_pwm).collect());
    f.background = d.background;
    f
}

/// Formats an optional number in scientific notation (empty when absent).
fn sci(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.3e}")).unwrap_or_default()
}

/// `motifs.tsv`: one row per motif with its best database match.
pub fn write_motifs(
    out: &mut impl Write,
    d: &Discovery,
    db: &[MemeMotif],
    matches: &[Vec<Match>],
) -> std::io::Result<()> {
    let mut s = String::from(
        "motif\tsign\tseqlets\twidth\ttrim_start\ttrim_end\tconsensus\tcontribution\t\
         best_match\tbest_match_name\tpvalue\tevalue\tqvalue\n",
    );
    for (i, m) in d.motifs.iter().enumerate() {
        let pwm = m.trimmed_pwm();
        let contribution: f64 = m.cwm[m.trim.clone()].iter().flatten().sum();
        let best = matches.get(i).and_then(|ms| ms.first());
        let (id, name) = best
            .map(|b| {
                let t = &db[b.target];
                (t.id.clone(), t.name.clone().unwrap_or_default())
            })
            .unwrap_or_default();
        let _ = writeln!(
            s,
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{:.6}\t{}\t{}\t{}\t{}\t{}",
            m.name,
            if m.sign == super::Sign::Positive {
                "+"
            } else {
                "-"
            },
            m.seqlets.len(),
            m.cwm.len(),
            m.trim.start,
            m.trim.end,
            consensus(&pwm.probs),
            contribution,
            id,
            name,
            sci(best.and_then(|b| b.pvalue)),
            sci(best.and_then(|b| b.evalue)),
            sci(best.and_then(|b| b.qvalue)),
        );
    }
    out.write_all(s.as_bytes())
}

/// `seqlets.tsv`: `motif sequence start end strand` (0-based start, end exclusive, within the
/// sequence), plus `chrom chrom_start chrom_end` in the genome when the origins have loci.
pub fn write_seqlets(out: &mut impl Write, d: &Discovery, o: &Origins) -> std::io::Result<()> {
    let genome = !o.loci.is_empty();
    let mut s = String::from("motif\tsequence\tstart\tend\tstrand");
    s.push_str(if genome {
        "\tchrom\tchrom_start\tchrom_end\n"
    } else {
        "\n"
    });
    for m in &d.motifs {
        for q in &m.seqlets {
            let _ = write!(
                s,
                "{}\t{}\t{}\t{}\t{}",
                m.name,
                o.name(q.seq),
                q.start,
                q.start + q.len,
                if q.reverse { '-' } else { '+' }
            );
            if let Some((c, st)) = o.loci.get(q.seq) {
                let a = st + q.start as u64;
                let _ = write!(s, "\t{c}\t{a}\t{}", a + q.len as u64);
            } else if genome {
                s.push_str("\t.\t.\t.");
            }
            s.push('\n');
        }
        out.write_all(s.as_bytes())?;
        s.clear();
    }
    out.write_all(s.as_bytes())
}

/// `seqlets.bed`: BED6 in genome coordinates, name the motif, score the seqlet's summed actual
/// contribution is not known here, so 0 (as BED allows), strand the motif's.
pub fn write_seqlets_bed(out: &mut impl Write, d: &Discovery, o: &Origins) -> std::io::Result<()> {
    let mut s = String::new();
    for m in &d.motifs {
        for q in &m.seqlets {
            if let Some((c, st)) = o.loci.get(q.seq) {
                let a = st + q.start as u64;
                let _ = writeln!(
                    s,
                    "{c}\t{a}\t{}\t{}\t0\t{}",
                    a + q.len as u64,
                    m.name,
                    if q.reverse { '-' } else { '+' }
                );
            }
        }
    }
    out.write_all(s.as_bytes())
}

/// What the report's header says about the run.
#[derive(Clone, Debug, Default)]
pub struct ReportInfo {
    /// The attributions file.
    pub input: String,
    /// The motif database, if any.
    pub database: Option<String>,
    /// The command line.
    pub command: String,
    /// seqcnn's version.
    pub version: String,
}

/// The self-contained HTML report: a summary table, then per motif its CWM, hypothetical CWM
/// and PWM logos (the report trim shaded), the PWM's best match drawn beneath it, and its top
/// matches with p-, E- and q-values. No scripts and no requests: it opens anywhere.
pub fn html(d: &Discovery, db: &[MemeMotif], matches: &[Vec<Match>], info: &ReportInfo) -> String {
    let mut h = String::new();
    h.push_str(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>seqcnn discover</title><style>\
         body{font-family:sans-serif;margin:24px;color:#222;max-width:1200px}\
         table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ccc;padding:3px 8px;\
         font-size:13px;text-align:left}th{background:#f3f3f3}td.n{text-align:right;\
         font-variant-numeric:tabular-nums}.motif{border-top:2px solid #ddd;margin-top:24px;\
         padding-top:8px}.logos{display:flex;flex-wrap:wrap;gap:12px;align-items:flex-start}\
         .meta{color:#555;font-size:13px}code{font-size:13px}</style></head><body>\n",
    );
    let _ = write!(
        h,
        "<h1>Motifs discovered from contribution scores</h1>\n<p class=\"meta\">Attributions \
         <code>{}</code>; database <code>{}</code>; seqcnn {}<br><code>{}</code></p>\n",
        esc(&info.input),
        esc(info.database.as_deref().unwrap_or("none")),
        esc(&info.version),
        esc(&info.command)
    );
    let c = &d.called;
    let _ = writeln!(
        h,
        "<p>{} windows scored; window sums of at least {:.4} or at most {:.4} passed; {} \
         positive and {} negative seqlets (|core sum| above {:.4}); {} and {} clustered.</p>",
        c.windows,
        c.pos_threshold,
        c.neg_threshold,
        c.positive.len(),
        c.negative.len(),
        c.sign_threshold,
        d.clustered[0],
        d.clustered[1]
    );
    h.push_str(
        "<table><tr><th>motif</th><th>seqlets</th><th>consensus</th><th>best match</th>\
         <th>p</th><th>E</th><th>q</th></tr>\n",
    );
    for (i, m) in d.motifs.iter().enumerate() {
        let best = matches.get(i).and_then(|ms| ms.first());
        let target = best
            .map(|b| {
                let t = &db[b.target];
                format!("{} {}", t.id, t.name.as_deref().unwrap_or(""))
            })
            .unwrap_or_default();
        let _ = writeln!(
            h,
            "<tr><td><a href=\"#m{i}\">{}</a></td><td class=\"n\">{}</td><td><code>{}</code></td>\
             <td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            esc(&m.name),
            m.seqlets.len(),
            consensus(&m.trimmed_pwm().probs),
            esc(&target),
            sci(best.and_then(|b| b.pvalue)),
            sci(best.and_then(|b| b.evalue)),
            sci(best.and_then(|b| b.qvalue)),
        );
    }
    h.push_str("</table>\n");
    if d.motifs.is_empty() {
        h.push_str("<p>No motif passed the filters.</p>\n");
    }
    for (i, m) in d.motifs.iter().enumerate() {
        let _ = write!(
            h,
            "<div class=\"motif\" id=\"m{i}\"><h2>{} <span class=\"meta\">{} seqlets, {} columns \
             (trimmed to {}-{})</span></h2>\n<div class=\"logos\">",
            esc(&m.name),
            m.seqlets.len(),
            m.cwm.len(),
            m.trim.start + 1,
            m.trim.end
        );
        h.push_str(&contribution_logo_svg(
            "contribution weight matrix (CWM)",
            &m.cwm,
            Some(m.trim.clone()),
            80.0,
        ));
        h.push_str(&contribution_logo_svg(
            "hypothetical CWM",
            &m.hyp_cwm,
            Some(m.trim.clone()),
            80.0,
        ));
        let pwm = m.trimmed_pwm();
        let best = matches
            .get(i)
            .and_then(|ms| ms.first())
            .map(|b| (&db[b.target], b));
        // Drawn against a uniform background, so no column passes the 2-bit axis.
        h.push_str(&filter_logo_svg(&pwm, best, &[0.25; 4]));
        h.push_str("</div>\n");
        if let Some(ms) = matches.get(i).filter(|ms| !ms.is_empty()) {
            h.push_str(
                "<table><tr><th>rank</th><th>target</th><th>name</th><th>offset</th>\
                 <th>strand</th><th>overlap</th><th>p</th><th>E</th><th>q</th></tr>\n",
            );
            for b in ms {
                let t = &db[b.target];
                let _ = writeln!(
                    h,
                    "<tr><td class=\"n\">{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td>\
                     <td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
                     <td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
                    b.rank,
                    esc(&t.id),
                    esc(t.name.as_deref().unwrap_or("")),
                    b.alignment.offset,
                    if b.alignment.reverse { '-' } else { '+' },
                    b.alignment.overlap,
                    sci(b.pvalue),
                    sci(b.evalue),
                    sci(b.qvalue),
                );
            }
            h.push_str("</table>\n");
        }
        h.push_str("</div>\n");
    }
    h.push_str("</body></html>\n");
    h
}
