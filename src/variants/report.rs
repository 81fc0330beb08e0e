//! The `variants --report` page: one self-contained HTML file (inline CSS, a few lines of
//! vanilla JavaScript, inline SVG; nothing fetched from the network) with a sortable table of
//! the variants of largest effect and the mutation map of the top ones' reference windows.
//!
//! Memory is bounded: [`Report`] keeps only the `rows` alleles of largest `max |diff|` seen so
//! far (a heap), whatever the size of the VCF.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::fmt::Write as _;

use super::RecordEffects;
use crate::Result;
use crate::model::Model;
use crate::mutate::{MapOptions, fast_ism, mutation_map_svg, naive_ism};
use crate::score::Scorer;

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
    /// shape: [tasks]: reference, alternative and their difference on the output scale.
    pub ref_scores: Vec<f32>,
    pub alt_scores: Vec<f32>,
    pub diff: Vec<f32>,
    /// The largest |diff| over tasks and the task it is in.
    pub best: f32,
    pub best_task: usize,
    /// The reference window, REF's offset in it and the window's 0-based genome start.
    pub window: Vec<u8>,
    pub ref_offset: usize,
    pub window_start: u64,
    /// Input order, to break ties.
    order: u64,
}

impl Entry {
    fn key(&self) -> (f32, Reverse<u64>) {
        (self.best, Reverse(self.order))
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
    rows: usize,
    heap: BinaryHeap<Reverse<Entry>>,
    seen: u64,
}

impl Report {
    /// A report keeping the `rows` alleles of largest `max |diff|` over `tasks`.
    pub fn new(tasks: &[String], rows: usize) -> Report {
        Report {
            tasks: tasks.to_vec(),
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
            let (Ok(alt), Some((diff, _))) = (&a.outcome, e.diffs(i)) else {
                continue;
            };
            self.seen += 1;
            let (best_task, best) = diff.iter().map(|d| d.abs()).enumerate().fold(
                (0, f32::NEG_INFINITY),
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
                best,
                best_task,
                window: window.clone(),
                ref_offset: *ref_offset,
                window_start: (rec.pos - 1) - *ref_offset as u64,
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

    /// The HTML page: `title` and `notes` (lines shown under it, e.g. the command's inputs and
    /// summary), the table, and a mutation map for each of the first `top` entries made by
    /// `map` (an SVG document and its caption).
    pub fn html(
        &self,
        title: &str,
        notes: &[String],
        top: usize,
        mut map: impl FnMut(&Entry) -> Result<(String, String)>,
    ) -> Result<String> {
        let entries = self.entries();
        let mut s = String::new();
        let _ = write!(
            s,
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n<style>\n{CSS}</style>\n</head>\n<body>\n<h1>{}</h1>\n",
            esc(title),
            esc(title)
        );
        for n in notes {
            let _ = writeln!(s, "<p class=\"note\">{}</p>", esc(n));
        }
        let shown = entries.len();
        let _ = writeln!(
            s,
            "<h2>Variants by effect</h2>\n<p class=\"note\">The {shown} of {} scored alleles with the largest |diff| (ALT score minus REF score, the largest over tasks); click a column header to sort. Rows with a map link to it.</p>",
            self.seen
        );
        let per_task = self.tasks.len() <= 8;
        s.push_str("<table id=\"variants\">\n<thead><tr>");
        let mut cols = vec![
            ("rank", "num"),
            ("chrom", "text"),
            ("pos", "num"),
            ("id", "text"),
            ("ref", "text"),
            ("alt", "text"),
            ("ref_match", "text"),
            ("max |diff|", "num"),
            ("task", "text"),
            ("diff", "num"),
        ];
        let task_cols: Vec<String> = if per_task && self.tasks.len() > 1 {
            self.tasks.iter().map(|t| format!("{t}:diff")).collect()
        } else {
            Vec::new()
        };
        if !per_task || self.tasks.len() == 1 {
            cols.extend([("ref score", "num"), ("alt score", "num")]);
        }
        for (name, kind) in &cols {
            let _ = write!(s, "<th data-type=\"{kind}\">{}</th>", esc(name));
        }
        for name in &task_cols {
            let _ = write!(s, "<th data-type=\"num\">{}</th>", esc(name));
        }
        s.push_str("</tr></thead>\n<tbody>\n");
        for (k, e) in entries.iter().enumerate() {
            let t = e.best_task;
            let pos = if k < top {
                format!("<a href=\"#map{}\">{}</a>", k + 1, e.pos)
            } else {
                e.pos.to_string()
            };
            let _ = write!(
                s,
                "<tr><td>{}</td><td>{}</td><td data-v=\"{}\">{pos}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>",
                k + 1,
                esc(&e.chrom),
                e.pos,
                esc(&e.id),
                esc(&short(&e.reference)),
                esc(&short(&e.alt)),
                e.ref_match,
                num(e.best),
                esc(&self.tasks[t]),
                num(e.diff[t]),
            );
            if !per_task || self.tasks.len() == 1 {
                let _ = write!(
                    s,
                    "<td>{}</td><td>{}</td>",
                    num(e.ref_scores[t]),
                    num(e.alt_scores[t])
                );
            }
            if !task_cols.is_empty() {
                for d in &e.diff {
                    let _ = write!(s, "<td>{}</td>", num(*d));
                }
            }
            s.push_str("</tr>\n");
        }
        s.push_str("</tbody>\n</table>\n");
        let maps = top.min(entries.len());
        if maps > 0 {
            let _ = writeln!(
                s,
                "<h2>Mutation maps</h2>\n<p class=\"note\">The top {maps}: every substitution of the reference window scored (in-silico mutagenesis), for the task of largest |diff|; the variant's position is outlined.</p>"
            );
        }
        for (k, e) in entries.iter().take(maps).enumerate() {
            let (svg, caption) = map(e)?;
            // Inline SVG in HTML needs no namespace declaration: the page then names no URL.
            let svg = svg.replacen(r#" xmlns="http://www.w3.org/2000/svg""#, "", 1);
            let _ = writeln!(
                s,
                "<figure id=\"map{}\">\n{svg}\n<figcaption>{}. {}</figcaption>\n</figure>",
                k + 1,
                k + 1,
                esc(&caption)
            );
        }
        let _ = write!(s, "<script>\n{JS}</script>\n</body>\n</html>\n");
        Ok(s)
    }
}

/// The mutation map of an entry's reference window for its task of largest effect, with the
/// variant outlined; windows longer than 101 bp are zoomed to the variant ± 50 bp. Returns the
/// SVG and its caption.
pub fn mutation_map(
    model: &Model,
    scorer: &Scorer,
    tasks: &[String],
    e: &Entry,
    batch: usize,
) -> Result<(String, String)> {
    // Sigmoid models on the logit (their probabilities saturate), DeepBind models on their score.
    let scale = crate::mutate::PlotScale::default_for(model);
    let raw = scale.raw();
    let ism = match fast_ism(model, scorer, &e.window, raw, batch)? {
        Some(ism) => ism,
        None => naive_ism(scorer, &e.window, raw, batch)?,
    };
    let len = e.window.len();
    let centre = crate::interval::centre_offset(len);
    let range = (len > 2 * ZOOM + 1).then(|| (centre - ZOOM, (centre + ZOOM + 1).min(len)));
    let opts = MapOptions {
        range,
        mark: Some(e.ref_offset),
        offset: e.window_start,
        scale: scale.label(model).to_string(),
        ..MapOptions::default()
    };
    let name = format!(
        "{}:{} {}>{}",
        e.chrom,
        e.pos,
        short(&e.reference),
        short(&e.alt)
    );
    let task = &tasks[e.best_task];
    let svg = mutation_map_svg(&name, task, &e.window, &ism, e.best_task, &opts);
    let mut caption = format!(
        "{name} ({}), task {task}: REF {} ALT {} diff {}. Reference window {}:{}-{} ({len} bp), POS outlined",
        e.id,
        num(e.ref_scores[e.best_task]),
        num(e.alt_scores[e.best_task]),
        num(e.diff[e.best_task]),
        e.chrom,
        e.window_start + 1,
        e.window_start + len as u64,
    );
    if let Some((a, b)) = range {
        let _ = write!(
            caption,
            "; zoomed to {}-{} (the variant ± {ZOOM} bp)",
            e.window_start + a as u64 + 1,
            e.window_start + b as u64
        );
    }
    caption.push('.');
    Ok((svg, caption))
}

/// A number for the table: 4 significant digits.
fn num(v: f32) -> String {
    if v == 0.0 || !v.is_finite() {
        return v.to_string();
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
.note { color: #555; margin: 0.3em 0; }
table { border-collapse: collapse; font-size: 0.85em; }
th, td { border: 1px solid #ccc; padding: 2px 6px; text-align: right; }
th { background: #eee; cursor: pointer; user-select: none; position: sticky; top: 0; }
th.asc::after { content: ' \\25B2'; } th.desc::after { content: ' \\25BC'; }
tbody tr:nth-child(even) { background: #f7f7f7; }
figure { margin: 1.5em 0; } figcaption { color: #444; font-size: 0.9em; }
svg { max-width: 100%; height: auto; }
";

/// Click a header to sort by that column (numbers as numbers), again to reverse.
const JS: &str = "(function () {
  var table = document.getElementById('variants');
  var heads = table.tHead.rows[0].cells;
  function value(row, i, num) {
    var c = row.cells[i];
    var t = c.getAttribute('data-v') || c.textContent;
    return num ? parseFloat(t) : t;
  }
  Array.prototype.forEach.call(heads, function (th, i) {
    th.addEventListener('click', function () {
      var num = th.getAttribute('data-type') === 'num';
      var asc = !th.classList.contains('asc');
      Array.prototype.forEach.call(heads, function (h) { h.classList.remove('asc', 'desc'); });
      th.classList.add(asc ? 'asc' : 'desc');
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (a, b) {
        var x = value(a, i, num), y = value(b, i, num);
        if (num) {
          if (isNaN(x)) { return isNaN(y) ? 0 : 1; }
          if (isNaN(y)) { return -1; }
          return asc ? x - y : y - x;
        }
        return asc ? x.localeCompare(y) : y.localeCompare(x);
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
})();
";

#[cfg(test)]
mod tests {
    use super::super::{AlleleEffect, RecordEffects, Scores};
    use super::*;
    use crate::io::vcf::VcfRecord;

    fn record(pos: u64, diffs: &[f32]) -> RecordEffects {
        let s = |v: f32| Scores {
            scores: vec![v],
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
            alleles: diffs
                .iter()
                .map(|&d| AlleleEffect {
                    alt: "G".into(),
                    outcome: Ok(s(0.5 + d)),
                })
                .collect(),
        }
    }

    #[test]
    fn keeps_the_largest_effects_in_order() {
        let mut r = Report::new(&["t".into()], 3);
        r.add(&record(10, &[0.1, -0.4]));
        r.add(&record(20, &[0.2]));
        r.add(&record(30, &[0.05, 0.3]));
        r.add(&record(40, &[-0.2]));
        assert_eq!(r.seen(), 6);
        let got: Vec<(u64, f32)> = r
            .entries()
            .iter()
            .map(|e| (e.pos, (e.best * 100.0).round() / 100.0))
            .collect();
        // Ties (0.2 at 20 and 40) keep the earlier record.
        assert_eq!(got, [(10, 0.4), (30, 0.3), (20, 0.2)]);
        assert_eq!(r.entries()[0].window_start, 7);
    }

    #[test]
    fn page_is_self_contained_and_escaped() {
        let mut r = Report::new(&["t".into()], 10);
        r.add(&record(10, &[0.1]));
        r.add(&record(20, &[0.3]));
        let html = r
            .html("variants <test>", &["a & b".into()], 1, |e| {
                Ok((format!("<svg id=\"s{}\"></svg>", e.pos), "cap".into()))
            })
            .unwrap();
        assert!(html.contains("<title>variants &lt;test&gt;</title>"));
        assert!(html.contains("a &amp; b"));
        assert!(html.contains("rs&lt;20&gt;"));
        assert_eq!(html.matches("<figure").count(), 1);
        assert!(html.contains("<svg id=\"s20\">"));
        assert!(html.contains("<a href=\"#map1\">20</a>"));
        assert!(!html.contains("http://") && !html.contains("https://"));
        assert!(html.find("<td>1</td><td>20</td>").is_some());
    }
}
