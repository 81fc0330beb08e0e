//! The `variants --report` page: one self-contained HTML file (inline CSS, a few lines of
//! vanilla JavaScript, inline SVG; nothing fetched from the network). A header names the run
//! (model, its DeepBind ID, protein and experiment when known, tasks, genome, VCF, seqcnn
//! version, command line, date); a table of the variants of largest effect, sortable and
//! filterable by column; then for each top variant its REF and ALT windows' mutation maps side
//! by side, the REF and ALT bases outlined, on one colour scale for the whole page (or one per
//! variant), each linked to its table row and back.
//!
//! Memory is bounded: [`Report`] keeps only the `rows` alleles of largest `max |diff|` seen so
//! far (a heap), whatever the size of the VCF.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::fmt::Write as _;

use super::RecordEffects;
use crate::Result;
use crate::model::Model;
use crate::mutate::{IsmScores, MapOptions, PlotScale, fast_ism, mutation_map_svg, naive_ism};
use crate::score::{OutputKind, Scorer};

/// Windows longer than this are drawn zoomed to `ZOOM` bases on each side of the variant.
const ZOOM: usize = 50;

/// One scored allele kept for the report.
#[derive(Clone, Debug)]
pub struct Entry {
    /// CHROM, POS, ID, REF and ALT as in the VCF.
    pub chrom: String,
    pub pos: u64,
    pub id: String,
    pub reference: String,
    pub alt: String,
    /// REF agrees with the genome.
    pub ref_match: bool,
    /// shape: [tasks]: reference, alternative and their difference on the output scale, and
    /// the difference of raw scores (logits).
    pub ref_scores: Vec<f64>,
    pub alt_scores: Vec<f64>,
    pub diff: Vec<f64>,
    pub logit_diff: Vec<f32>,
    /// The largest |diff| over tasks and the task it is in.
    pub best: f64,
    pub best_task: usize,
    /// The reference window, REF's offset in it and the window's 0-based genome start.
    pub window: Vec<u8>,
    pub ref_offset: usize,
    pub window_start: u64,
    /// The alternative window as scored (same length and left flank as the reference window).
    pub alt_window: Vec<u8>,
    /// Input order, to break ties.
    order: u64,
}

impl Entry {
    fn key(&self) -> (f64, Reverse<u64>) {
        (self.best, Reverse(self.order))
    }

    /// `chrom:pos REF>ALT`, long alleles cut.
    pub fn name(&self) -> String {
        format!(
            "{}:{} {}>{}",
            self.chrom,
            self.pos,
            short(&self.reference),
            short(&self.alt)
        )
    }

    /// REF's bases in the reference window, `[start, end)`.
    pub fn ref_span(&self) -> (usize, usize) {
        let end = (self.ref_offset + self.reference.len()).min(self.window.len());
        (self.ref_offset, end)
    }

    /// ALT's bases in the alternative window, `[start, end)` (cut at the window's end, as
    /// scored).
    pub fn alt_span(&self) -> (usize, usize) {
        let end = (self.ref_offset + self.alt.len()).min(self.alt_window.len());
        (self.ref_offset, end)
    }
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Entry {}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Entry {
    /// Larger effect first; among equal effects, earlier in the input first.
    fn cmp(&self, other: &Self) -> Ordering {
        let (a, b) = (self.key(), other.key());
        a.0.total_cmp(&b.0).then(a.1.cmp(&b.1))
    }
}

/// The variants of largest effect, collected as records are scored.
pub struct Report {
    tasks: Vec<String>,
    kind: OutputKind,
    /// The name of raw scores where they differ from the output scale (`logit`), for a column
    /// of their difference.
    raw_label: Option<String>,
    rows: usize,
    heap: BinaryHeap<Reverse<Entry>>,
    seen: u64,
}

/// The figure of one variant: its REF and ALT maps (SVG documents) and a caption.
#[derive(Clone, Debug)]
pub struct Figure {
    pub ref_svg: String,
    pub alt_svg: String,
    pub caption: String,
}

/// How the maps of a page are coloured.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportScale {
    /// One colour scale for every map on the page, so effects compare across variants.
    #[default]
    Shared,
    /// One scale per variant (its REF and ALT maps share it), each to its own largest change.
    Each,
}

impl Report {
    /// A report keeping the `rows` alleles of largest `max |diff|` over `tasks`, whose scores
    /// print as `kind`; `raw_label` names raw scores where they differ from the output scale
    /// (`logit`), and the table then shows their difference too.
    pub fn new(tasks: &[String], kind: OutputKind, raw_label: Option<&str>, rows: usize) -> Report {
        Report {
            tasks: tasks.to_vec(),
            kind,
            raw_label: raw_label.map(str::to_string),
            rows,
            heap: BinaryHeap::with_capacity(rows + 1),
            seen: 0,
        }
    }

    /// Scored alleles seen so far.
    pub fn seen(&self) -> u64 {
        self.seen
    }

    /// Offers every scored allele of a record.
    pub fn add(&mut self, e: &RecordEffects) {
        let (Some(r), Some((window, ref_offset))) = (&e.reference, &e.window) else {
            return;
        };
        for (i, a) in e.alleles.iter().enumerate() {
            let (Ok(alt), Some(alt_window), Some((diff, logit_diff))) =
                (&a.outcome, &a.window, e.diffs(i))
            else {
                continue;
            };
            self.seen += 1;
            let (best_task, best) = diff.iter().map(|d| d.abs()).enumerate().fold(
                (0, f64::NEG_INFINITY),
                |acc, (t, v)| {
                    if v.total_cmp(&acc.1) == Ordering::Greater {
                        (t, v)
                    } else {
                        acc
                    }
                },
            );
            if self.heap.len() >= self.rows
                && self
                    .heap
                    .peek()
                    .is_none_or(|Reverse(min)| best.total_cmp(&min.best) != Ordering::Greater)
            {
                continue;
            }
            let rec = &e.record;
            self.heap.push(Reverse(Entry {
                chrom: rec.chrom.clone(),
                pos: rec.pos,
                id: rec.id.clone(),
                reference: rec.reference.clone(),
                alt: a.alt.clone(),
                ref_match: e.ref_match == Some(true),
                ref_scores: r.scores.clone(),
                alt_scores: alt.scores.clone(),
                diff,
                logit_diff,
                best,
                best_task,
                window: window.clone(),
                ref_offset: *ref_offset,
                window_start: (rec.pos - 1) - *ref_offset as u64,
                alt_window: alt_window.clone(),
                order: self.seen,
            }));
            if self.heap.len() > self.rows {
                self.heap.pop();
            }
        }
    }

    /// The kept entries, largest effect first.
    pub fn entries(&self) -> Vec<Entry> {
        let mut v: Vec<Entry> = self.heap.iter().map(|Reverse(e)| e.clone()).collect();
        v.sort_by(|a, b| b.cmp(a));
        v
    }

    /// The HTML page: `title`, the `header` (label and value pairs naming the run), `summary`
    /// (a line of counts), the table, and `figures` for the first entries in order.
    pub fn html(
        &self,
        title: &str,
        header: &[(String, String)],
        summary: &str,
        figures: &[Figure],
    ) -> String {
        let entries = self.entries();
        let show = |v: f64| self.kind.show(v).to_string();
        let mut s = String::new();
        let _ = write!(
            s,
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n<style>\n{CSS}</style>\n</head>\n<body>\n<h1>{}</h1>\n<dl class=\"run\">\n",
            esc(title),
            esc(title)
        );
        for (k, v) in header {
            let _ = writeln!(s, "<dt>{}</dt><dd>{}</dd>", esc(k), esc(v));
        }
        let _ = writeln!(s, "</dl>\n<p class=\"note\">{}</p>", esc(summary));
        let shown = entries.len();
        let _ = writeln!(
            s,
            "<h2 id=\"table\">Variants by effect</h2>\n<p class=\"note\">The {shown} of {} scored alleles with the largest |diff| (ALT score minus REF score on the output scale, the largest over tasks). Click a column header to sort; type in the boxes under the headers to filter (text: part of the value; numbers: <code>&gt;0.5</code>, <code>&lt;=-1</code>, <code>=3</code>, or a range <code>1..2</code>). Rows with a map link to it.</p>",
            self.seen
        );
        let per_task = self.tasks.len() > 1 && self.tasks.len() <= 8;
        let mut cols: Vec<(String, &str)> = [
            ("rank", "num"),
            ("chrom", "text"),
            ("pos", "num"),
            ("id", "text"),
            ("ref", "text"),
            ("alt", "text"),
            ("ref_match", "text"),
            ("max |diff|", "num"),
            ("task", "text"),
            ("ref score", "num"),
            ("alt score", "num"),
            ("diff", "num"),
        ]
        .iter()
        .map(|(n, k)| (n.to_string(), *k))
        .collect();
        if let Some(l) = &self.raw_label {
            cols.push((format!("{l} diff"), "num"));
        }
        if per_task {
            cols.extend(self.tasks.iter().map(|t| (format!("{t}:diff"), "num")));
        }
        cols.push(("map".into(), "text"));
        s.push_str("<table id=\"variants\">\n<thead><tr>");
        for (name, kind) in &cols {
            let _ = write!(s, "<th data-type=\"{kind}\">{}</th>", esc(name));
        }
        s.push_str("</tr>\n<tr class=\"filters\">");
        for (name, _) in &cols {
            let _ = write!(
                s,
                "<td><input type=\"search\" aria-label=\"filter {}\"></td>",
                esc(name)
            );
        }
        s.push_str("</tr></thead>\n<tbody>\n");
        for (k, e) in entries.iter().enumerate() {
            let t = e.best_task;
            let n = k + 1;
            let _ = write!(
                s,
                "<tr id=\"row{n}\"><td>{n}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>",
                esc(&e.chrom),
                e.pos,
                esc(&e.id),
                esc(&short(&e.reference)),
                esc(&short(&e.alt)),
                e.ref_match,
                num(e.best),
                esc(&self.tasks[t]),
                show(e.ref_scores[t]),
                show(e.alt_scores[t]),
                num(e.diff[t]),
            );
            if self.raw_label.is_some() {
                let _ = write!(s, "<td>{}</td>", num(e.logit_diff[t] as f64));
            }
            if per_task {
                for d in &e.diff {
                    let _ = write!(s, "<td>{}</td>", num(*d));
                }
            }
            if k < figures.len() {
                let _ = write!(s, "<td><a href=\"#map{n}\">map {n}</a></td>");
            } else {
                s.push_str("<td></td>");
            }
            s.push_str("</tr>\n");
        }
        s.push_str("</tbody>\n</table>\n");
        if !figures.is_empty() {
            let _ = writeln!(
                s,
                "<h2>Mutation maps</h2>\n<p class=\"note\">The top {}: every substitution of the REF window (left) and of the ALT window as scored (right) scored in silico, for the task of largest |diff|. REF's bases are outlined on the left (all of them for a deletion), ALT's on the right; ALT-window positions are numbered as the REF window's, so right of an indel they are shifted by len(ALT) - len(REF).</p>",
                figures.len()
            );
        }
        for (k, f) in figures.iter().enumerate() {
            let n = k + 1;
            // Inline SVG in HTML needs no namespace declaration: the page then names no URL.
            let strip = |svg: &str| svg.replacen(r#" xmlns="http://www.w3.org/2000/svg""#, "", 1);
            let _ = writeln!(
                s,
                "<figure id=\"map{n}\">\n<div class=\"pair\">\n<div class=\"ref\">{}</div>\n<div class=\"alt\">{}</div>\n</div>\n<figcaption>{n}. {} <a href=\"#row{n}\">Back to row {n}</a></figcaption>\n</figure>",
                strip(&f.ref_svg),
                strip(&f.alt_svg),
                esc(&f.caption)
            );
        }
        let _ = write!(s, "<script>\n{JS}</script>\n</body>\n</html>\n");
        s
    }
}

/// The figures of the first `top` entries: each entry's REF and ALT windows mutated in silico
/// ([`fast_ism`] where the network allows, else [`naive_ism`]) for its task of largest effect,
/// drawn on the model's map scale ([`PlotScale::default_for`]), windows longer than 101 bp
/// zoomed to the variant ± 50 bp (widened to hold all of REF). Under
/// [`ReportScale::Shared`] every map has the colour scale of the largest change drawn on the
/// page; under [`ReportScale::Each`] each variant's pair has its own.
pub fn figures(
    model: &Model,
    scorer: &Scorer,
    tasks: &[String],
    entries: &[Entry],
    top: usize,
    scale: ReportScale,
    batch: usize,
) -> Result<Vec<Figure>> {
    let plot = PlotScale::default_for(model);
    let ism = |seq: &[u8]| -> Result<IsmScores> {
        match fast_ism(model, scorer, seq, plot.raw(), batch)? {
            Some(ism) => Ok(ism),
            None => naive_ism(scorer, seq, plot.raw(), batch),
        }
    };
    let mut maps = Vec::new();
    for e in entries.iter().take(top) {
        let (r, a) = (ism(&e.window)?, ism(&e.alt_window)?);
        let range = zoom(e);
        let lim =
            largest_change(&r, e.best_task, range).max(largest_change(&a, e.best_task, range));
        maps.push((e, r, a, range, lim));
    }
    let page_lim = maps.iter().fold(0.0f32, |m, x| m.max(x.4));
    let label = plot.label(model);
    let mut out = Vec::with_capacity(maps.len());
    for (e, r, a, range, lim) in maps {
        let limit = match scale {
            ReportScale::Shared => page_lim,
            ReportScale::Each => lim,
        };
        let opts = |mark, subject: &str| MapOptions {
            range,
            mark: Some(mark),
            subject: subject.into(),
            offset: e.window_start,
            limit: Some(limit),
            scale: label.to_string(),
            ..MapOptions::default()
        };
        let task = &tasks[e.best_task];
        let name = e.name();
        let ref_svg = mutation_map_svg(
            &format!("{name} · REF"),
            task,
            &e.window,
            &r,
            e.best_task,
            &opts(e.ref_span(), "REF window"),
        );
        let alt_svg = mutation_map_svg(
            &format!("{name} · ALT"),
            task,
            &e.alt_window,
            &a,
            e.best_task,
            &opts(e.alt_span(), "ALT window"),
        );
        let len = e.window.len();
        let t = e.best_task;
        let id = if e.id == "." {
            String::new()
        } else {
            format!(" ({})", e.id)
        };
        let mut caption = format!("{name}{id}, task {task}: diff {}", num(e.diff[t]));
        if plot.raw() && !scorer.raw_is_output() {
            let _ = write!(caption, " ({label} diff {})", num(e.logit_diff[t] as f64));
        }
        let _ = write!(
            caption,
            ". Windows {}:{}-{} ({len} bp)",
            e.chrom,
            e.window_start + 1,
            e.window_start + len as u64,
        );
        if let Some((a, b)) = range {
            let _ = write!(
                caption,
                ", drawn {}-{}",
                e.window_start + a as u64 + 1,
                e.window_start + b as u64
            );
        }
        let _ = write!(
            caption,
            "; colour scale ±{} {label} ({}).",
            num(limit as f64),
            match scale {
                ReportScale::Shared => "shared by every map on the page",
                ReportScale::Each => "this variant's largest change",
            }
        );
        out.push(Figure {
            ref_svg,
            alt_svg,
            caption,
        });
    }
    Ok(out)
}

/// The drawn positions of an entry's windows: all of a window up to 101 bp, else the variant
/// ± [`ZOOM`] bp, widened to hold REF and ALT.
fn zoom(e: &Entry) -> Option<(usize, usize)> {
    let len = e.window.len();
    if len <= 2 * ZOOM + 1 {
        return None;
    }
    let centre = crate::interval::centre_offset(len);
    let (ra, rb) = e.ref_span();
    let (_, ab) = e.alt_span();
    let a = (centre - ZOOM.min(centre)).min(ra);
    let b = (centre + ZOOM + 1).max(rb).max(ab).min(len);
    Some((a, b))
}

/// The largest |mutant - unmutated| of `task` over the positions of `range`.
fn largest_change(ism: &IsmScores, task: usize, range: Option<(usize, usize)>) -> f32 {
    let Some(&reference) = ism.reference.get(task) else {
        return 0.0;
    };
    ism.mutations
        .iter()
        .enumerate()
        .filter(|(_, m)| range.is_none_or(|(a, b)| (a..b).contains(&m.pos)))
        .filter_map(|(i, _)| ism.mutants.get([i, task]))
        .filter(|v| v.is_finite())
        .fold(0.0f32, |m, &v| m.max((v - reference).abs()))
}

/// The date and time (UTC, ISO 8601) `secs` seconds after the Unix epoch.
///
/// ```
/// assert_eq!(seqcnn::variants::report::utc_datetime(0), "1970-01-01 00:00 UTC");
/// assert_eq!(seqcnn::variants::report::utc_datetime(1_796_646_180), "2026-12-07 12:23 UTC");
/// ```
pub fn utc_datetime(secs: u64) -> String {
    // Howard Hinnant's days-to-civil algorithm.
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60
    )
}

/// A number for the table: 4 significant digits, in scientific notation below 0.001.
fn num(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return v.to_string();
    }
    if v.abs() < 1e-3 {
        return format!("{v:.3e}");
    }
    let digits = (3 - v.abs().log10().floor() as i32).clamp(0, 8) as usize;
    format!("{v:.digits$}")
}

/// Long alleles cut to 20 characters.
fn short(a: &str) -> String {
    if a.chars().count() > 20 {
        let head: String = a.chars().take(17).collect();
        format!("{head}...")
    } else {
        a.to_string()
    }
}

/// HTML-escaped text.
fn esc(t: &str) -> String {
    let mut s = String::with_capacity(t.len());
    for c in t.chars() {
        match c {
            '&' => s.push_str("&amp;"),
            '<' => s.push_str("&lt;"),
            '>' => s.push_str("&gt;"),
            '"' => s.push_str("&quot;"),
            '\'' => s.push_str("&#39;"),
            _ => s.push(c),
        }
    }
    s
}

const CSS: &str = "body { font-family: sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.4em; } h2 { font-size: 1.15em; margin-top: 1.5em; }
.note { color: #555; margin: 0.3em 0; max-width: 70em; }
dl.run { display: grid; grid-template-columns: max-content auto; gap: 0.15em 1em; margin: 0.5em 0 1em; font-size: 0.9em; }
dl.run dt { font-weight: bold; color: #444; } dl.run dd { margin: 0; font-family: monospace; overflow-wrap: anywhere; }
table { border-collapse: collapse; font-size: 0.85em; }
th, td { border: 1px solid #ccc; padding: 2px 6px; text-align: right; white-space: nowrap; }
th { background: #eee; cursor: pointer; user-select: none; position: sticky; top: 0; }
th.asc::after { content: ' \\25B2'; } th.desc::after { content: ' \\25BC'; }
tr.filters td { background: #f4f4f4; padding: 1px; }
tr.filters input { width: 100%; min-width: 3em; box-sizing: border-box; font-size: 0.9em; }
tbody tr:nth-child(even) { background: #f7f7f7; }
tbody tr:target { background: #fff3b0; }
figure { margin: 1.5em 0; padding: 0.3em; } figure:target { outline: 3px solid #f0c000; }
figcaption { color: #444; font-size: 0.9em; }
.pair { display: flex; flex-wrap: wrap; gap: 1em; }
.pair > div { flex: 1 1 560px; min-width: 0; }
svg { max-width: 100%; height: auto; }
";

/// Click a header to sort by that column (numbers as numbers), again to reverse; type in a
/// column's box to filter (text: substring; numbers: >x, >=x, <x, <=x, =x or a..b).
const JS: &str = "(function () {
  var table = document.getElementById('variants');
  var heads = table.tHead.rows[0].cells;
  var boxes = table.tHead.rows[1].querySelectorAll('input');
  function text(row, i) {
    var c = row.cells[i];
    return c.getAttribute('data-v') || c.textContent;
  }
  function isNum(i) { return heads[i].getAttribute('data-type') === 'num'; }
  Array.prototype.forEach.call(heads, function (th, i) {
    th.addEventListener('click', function () {
      var num = isNum(i);
      var asc = !th.classList.contains('asc');
      Array.prototype.forEach.call(heads, function (h) { h.classList.remove('asc', 'desc'); });
      th.classList.add(asc ? 'asc' : 'desc');
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (a, b) {
        var x = text(a, i), y = text(b, i);
        if (num) {
          x = parseFloat(x); y = parseFloat(y);
          if (isNaN(x)) { return isNaN(y) ? 0 : 1; }
          if (isNaN(y)) { return -1; }
          return asc ? x - y : y - x;
        }
        return asc ? x.localeCompare(y) : y.localeCompare(x);
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
  function test(q, v, num) {
    q = q.trim();
    if (q === '') { return true; }
    if (!num) { return v.toLowerCase().indexOf(q.toLowerCase()) >= 0; }
    var x = parseFloat(v), m;
    if ((m = q.match(/^(-?[\\d.eE+-]+)\\s*\\.\\.\\s*(-?[\\d.eE+-]+)$/))) {
      return x >= parseFloat(m[1]) && x <= parseFloat(m[2]);
    }
    if ((m = q.match(/^(>=|<=|>|<|=)\\s*(-?[\\d.eE+-]+)$/))) {
      var y = parseFloat(m[2]);
      return { '>': x > y, '>=': x >= y, '<': x < y, '<=': x <= y, '=': x === y }[m[1]];
    }
    return v.indexOf(q) >= 0;
  }
  function filter() {
    Array.prototype.forEach.call(table.tBodies[0].rows, function (r) {
      var keep = true;
      Array.prototype.forEach.call(boxes, function (b, i) {
        keep = keep && test(b.value, text(r, i), isNum(i));
      });
      r.style.display = keep ? '' : 'none';
    });
  }
  Array.prototype.forEach.call(boxes, function (b) { b.addEventListener('input', filter); });
})();
";

#[cfg(test)]
mod tests {
    use super::super::{AlleleEffect, RecordEffects, Scores};
    use super::*;
    use crate::io::vcf::VcfRecord;

    fn record(pos: u64, diffs: &[f32]) -> RecordEffects {
        let s = |v: f32| Scores {
            scores: vec![v.into()],
            raw: vec![v],
        };
        RecordEffects {
            record: VcfRecord {
                line: pos,
                chrom: "20".into(),
                pos,
                id: format!("rs<{pos}>"),
                reference: "A".into(),
                alts: diffs.iter().map(|_| "G".to_string()).collect(),
                qual: ".".into(),
                filter: ".".into(),
                info: ".".into(),
                samples: String::new(),
            },
            ref_match: Some(true),
            window: Some((b"ACAGT".to_vec(), 2)),
            reference: Some(s(0.5)),
            kind: OutputKind::Probability,
            alleles: diffs
                .iter()
                .map(|&d| AlleleEffect {
                    alt: "G".into(),
                    outcome: Ok(s(0.5 + d)),
                    window: Some(b"ACGGT".to_vec()),
                })
                .collect(),
        }
    }

    #[test]
    fn keeps_the_largest_effects_in_order() {
        let mut r = Report::new(&["t".into()], OutputKind::Probability, Some("logit"), 3);
        r.add(&record(10, &[0.1, -0.4]));
        r.add(&record(20, &[0.2]));
        r.add(&record(30, &[0.05, 0.3]));
        r.add(&record(40, &[-0.2]));
        assert_eq!(r.seen(), 6);
        let got: Vec<(u64, f64)> = r
            .entries()
            .iter()
            .map(|e| (e.pos, (e.best * 100.0).round() / 100.0))
            .collect();
        // Ties (0.2 at 20 and 40) keep the earlier record.
        assert_eq!(got, [(10, 0.4), (30, 0.3), (20, 0.2)]);
        let top = &r.entries()[0];
        assert_eq!(top.window_start, 7);
        assert_eq!(top.alt_window, b"ACGGT");
        assert_eq!((top.ref_span(), top.alt_span()), ((2, 3), (2, 3)));
    }

    #[test]
    fn spans_cover_a_whole_deletion_and_insertion() {
        let mut e = Report::new(&["t".into()], OutputKind::Probability, Some("logit"), 1);
        let mut rec = record(10, &[0.3]);
        rec.record.reference = "AGT".into();
        rec.alleles[0].alt = "A".into();
        e.add(&rec);
        let d = &e.entries()[0];
        assert_eq!((d.ref_span(), d.alt_span()), ((2, 5), (2, 3)));
        assert_eq!(d.name(), "20:10 AGT>A");
    }

    #[test]
    fn page_is_self_contained_and_escaped_with_links_both_ways() {
        let mut r = Report::new(&["t".into()], OutputKind::Probability, Some("logit"), 10);
        r.add(&record(10, &[0.1]));
        r.add(&record(20, &[0.3]));
        let fig = Figure {
            ref_svg: "<svg id=\"r\"></svg>".into(),
            alt_svg: "<svg id=\"a\"></svg>".into(),
            caption: "cap <1>".into(),
        };
        let header = [("Model".to_string(), "a & b".to_string())];
        let html = r.html("variants <test>", &header, "2 records", &[fig]);
        assert!(html.contains("<title>variants &lt;test&gt;</title>"));
        assert!(html.contains("<dt>Model</dt><dd>a &amp; b</dd>"));
        assert!(html.contains("rs&lt;20&gt;"));
        assert_eq!(html.matches("<figure").count(), 1);
        assert!(html.contains("<div class=\"ref\"><svg id=\"r\"></svg></div>"));
        assert!(html.contains("<div class=\"alt\"><svg id=\"a\"></svg></div>"));
        assert!(html.contains("<a href=\"#map1\">map 1</a>"));
        assert!(html.contains("<a href=\"#row1\">Back to row 1</a>"));
        assert!(html.contains("<tr id=\"row1\"><td>1</td><td>20</td><td>20</td>"));
        assert!(html.contains("cap &lt;1&gt;"));
        // One filter box per column.
        let columns = html.matches("<th data-type").count();
        assert_eq!(html.matches("<input type=\"search\"").count(), columns);
        assert!(!html.contains("http://") && !html.contains("https://"));
    }

    #[test]
    fn numbers_keep_small_values() {
        assert_eq!(num(0.012345), "0.01235");
        assert_eq!(num(-6.6), "-6.600");
        assert_eq!(num(2.06e-9), "2.060e-9");
        assert_eq!(num(0.0), "0");
    }
}
