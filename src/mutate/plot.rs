//! Mutation maps as SVG, drawn like DeepBind's (Alipanahi et al. 2015, Fig. 4): a heatmap of
//! the score change of every substitution (rows A, C, G, T by position; blue-white-red centred at
//! 0 with symmetric limits and a colour legend) under a sequence track whose letters are the
//! reference bases, each as tall as the position's importance: the largest loss of score over its
//! alternatives, `max(0, max over alts of -(mutant - reference))`. Long sequences wrap into rows
//! ([`MapOptions::wrap`]); a zoom range, a marked position (a variant) and a coordinate offset
//! (genomic positions) are options. Letters come from [`crate::interpret::logo`]'s glyphs, so
//! the picture does not depend on the viewer's fonts.

use std::fmt::Write as _;

use super::ism::IsmScores;
use crate::interpret::logo::{COLOURS, esc, letter};

/// Left margin: the importance axis and the base labels of the heatmap rows.
const LEFT: f64 = 64.0;
/// Right margin.
const RIGHT: f64 = 24.0;
/// Height of the header (title, subtitle, legend).
const HEADER: f64 = 58.0;
/// Height of the importance (letter) track.
const LOGO_H: f64 = 46.0;
/// Height of one heatmap row (one base).
const CELL_H: f64 = 11.0;
/// Height of the reference-sequence row (small letters of fixed height) above the heatmap.
const SEQ_H: f64 = 9.0;
/// Gap between the tracks.
const GAP: f64 = 3.0;
/// Space under the heatmap for the position axis, and between wrapped rows.
const AXIS_H: f64 = 30.0;
/// Width of the plotting area the cells share when they are narrow.
const TARGET_W: f64 = 960.0;

/// How a map is laid out. Build with struct update syntax from the default:
/// `MapOptions { wrap: 50, ..MapOptions::default() }`.
#[derive(Clone, Debug, PartialEq)]
pub struct MapOptions {
    /// Positions per row: longer sequences wrap into rows of equal length, at most this many
    /// positions (a remainder of at most a tenth of a row is spread over the rows; 0 = one row).
    pub wrap: usize,
    /// Zoom: the 0-based half-open positions `[start, end)` to draw (clipped to the sequence);
    /// `None` draws the whole sequence.
    pub range: Option<(usize, usize)>,
    /// 0-based half-open positions `[start, end)` to mark (a variant's REF or ALT bases, say)
    /// with an outline and an arrow over their middle; the part outside the drawn range is not
    /// drawn.
    pub mark: Option<(usize, usize)>,
    /// What the unmutated sequence is called in the subtitle (`reference`, `REF window`...).
    pub subject: String,
    /// Added to position labels: 0-based position `p` is labelled `offset + p + 1` (so with
    /// `offset` the 0-based genomic start of the sequence, labels are 1-based genomic positions).
    pub offset: u64,
    /// Colour-scale limit: the scale runs from `-limit` (blue) to `+limit` (red). `None` takes the
    /// largest |change| in the drawn range, so maps of different sequences are comparable only
    /// when this is set.
    pub limit: Option<f32>,
    /// The quantity drawn, named on the colour bar and in the subtitle (`logit`, `probability`,
    /// `DeepBind score`; see [`crate::mutate::PlotScale`]).
    pub scale: String,
}

impl Default for MapOptions {
    fn default() -> Self {
        MapOptions {
            wrap: 100,
            range: None,
            mark: None,
            subject: "reference".into(),
            offset: 0,
            limit: None,
            scale: "score".into(),
        }
    }
}

/// Diverging colour scale stops (ColorBrewer RdBu with a white centre), from -1 to +1.
const SCALE: [(f64, [f64; 3]); 5] = [
    (-1.0, [33.0, 102.0, 172.0]),
    (-0.5, [146.0, 197.0, 222.0]),
    (0.0, [255.0, 255.0, 255.0]),
    (0.5, [244.0, 165.0, 130.0]),
    (1.0, [178.0, 24.0, 43.0]),
];

/// The colour of `t` in `[-1, 1]` (clipped) on [`SCALE`], as `#rrggbb`.
fn colour(t: f64) -> String {
    let t = if t.is_nan() { 0.0 } else { t.clamp(-1.0, 1.0) };
    let i = SCALE
        .windows(2)
        .position(|w| t <= w[1].0)
        .unwrap_or(SCALE.len() - 2);
    let ((t0, c0), (t1, c1)) = (SCALE[i], SCALE[i + 1]);
    let f = (t - t0) / (t1 - t0);
    let ch = |k: usize| (c0[k] + f * (c1[k] - c0[k])).round() as u8;
    format!("#{:02x}{:02x}{:02x}", ch(0), ch(1), ch(2))
}

/// A number for an axis or legend label: 3 significant digits, no exponent for ordinary sizes.
pub(crate) fn num(v: f64) -> String {
    let a = v.abs();
    if a == 0.0 {
        "0".into()
    } else if !(1e-3..1e4).contains(&a) {
        format!("{v:.2e}")
    } else {
        let digits = (2 - a.log10().floor() as i32).max(0) as usize;
        format!("{v:.digits$}")
    }
}

/// Positions per row for `n` positions wrapped at `wrap`: rows of equal length up to rounding, at
/// most `wrap` long, except that a remainder of at most a tenth of a row is spread over the other
/// rows (101 bp at 100 is one row, not 100 and 1).
fn row_length(n: usize, wrap: usize) -> usize {
    if wrap == 0 || n <= wrap {
        return n.max(1);
    }
    let mut rows = n.div_ceil(wrap);
    if n - (rows - 1) * wrap <= wrap / 10 {
        rows -= 1;
    }
    n.div_ceil(rows)
}

/// Positions between labelled ticks: the smallest of 1, 2, 5, 10, 20, 50, ... that leaves
/// `min_px` pixels between labels at `cell` pixels per position.
fn tick_step(cell: f64, min_px: f64) -> u64 {
    let mut step = 1u64;
    let mut k = 0;
    while step as f64 * cell < min_px {
        step = [1, 2, 5][(k + 1) % 3] * 10u64.pow((k + 1) as u32 / 3);
        k += 1;
    }
    step
}

/// The mutation map of one sequence and one task as an SVG document.
///
/// `ism` holds the scores of `seq` and its mutants ([`super::naive_ism`] or
/// [`super::fast_ism`]); `task` indexes its tasks and `task_name` names it in the title. The
/// heatmap cell of base `b` at position `p` is the change of score when `p` is mutated to `b`
/// (white at the reference base, which is also marked with a dot); the letter above is the
/// reference base, as tall as the position's largest loss. See [`MapOptions`] for wrapping,
/// zoom, a marked position and coordinates. A `task` out of range draws an all-white map.
///
/// ```
/// use seqcnn::mutate::{IsmScores, MapOptions, mutation_map_svg, mutations};
/// let seq = b"ACGT";
/// let muts = mutations(seq);
/// let mutants = ndarray::Array2::from_shape_fn((muts.len(), 1), |(i, _)| i as f32 / 10.0);
/// let ism = IsmScores { mutations: muts, reference: vec![0.5], mutants };
/// let opts = MapOptions { mark: Some((2, 3)), ..MapOptions::default() };
/// let svg = mutation_map_svg("seq1", "CTCF", seq, &ism, 0, &opts);
/// assert!(svg.starts_with("<svg") && svg.contains("seq1") && svg.contains(r#"class="mark""#));
/// assert_eq!(svg.matches(r#"class="cell""#).count(), 4 * 4);
/// ```
pub fn mutation_map_svg(
    name: &str,
    task_name: &str,
    seq: &[u8],
    ism: &IsmScores,
    task: usize,
    opts: &MapOptions,
) -> String {
    let (start, end) = match opts.range {
        Some((a, b)) => (a.min(seq.len()), b.min(seq.len()).max(a.min(seq.len()))),
        None => (0, seq.len()),
    };
    let n = end - start;
    // Score change per position and base (0 at the reference base).
    let reference = ism.reference.get(task).copied().unwrap_or(0.0);
    let mut change = vec![[0.0f32; 4]; seq.len()];
    for (i, m) in ism.mutations.iter().enumerate() {
        if let (Some(b), Some(&v)) = (crate::encode::base_index(m.alt), ism.mutants.get([i, task]))
            && m.pos < seq.len()
        {
            change[m.pos][b] = v - reference;
        }
    }
    let shown = &change[start..end];
    let importance: Vec<f64> = shown
        .iter()
        .map(|c| c.iter().fold(0.0f64, |m, &v| m.max(-v as f64)))
        .collect();
    let max_imp = importance.iter().fold(0.0f64, |m, &v| m.max(v));
    let lim = opts
        .limit
        .map(|l| l.abs() as f64)
        .unwrap_or_else(|| {
            shown
                .iter()
                .flatten()
                .fold(0.0f64, |m, &v| m.max((v as f64).abs()))
        })
        .max(f64::MIN_POSITIVE);
    let lim = if lim.is_finite() && lim > 1e-12 {
        lim
    } else {
        1.0
    };

    // Geometry.
    let per_row = row_length(n, opts.wrap);
    let rows = n.div_ceil(per_row).max(1);
    let cell = (TARGET_W / per_row as f64).clamp(8.0, 24.0);
    let width = (LEFT + per_row as f64 * cell + RIGHT).max(560.0);
    let block = LOGO_H + 2.0 * GAP + SEQ_H + 4.0 * CELL_H + AXIS_H;
    let height = HEADER + rows as f64 * block + 6.0;
    let label_chars = (opts.offset + end as u64).to_string().len() as f64;
    let step = tick_step(cell, label_chars * 6.0 + 14.0);

    let mut svg = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" font-family="Helvetica, Arial, sans-serif">"#
    );
    let _ = write!(
        svg,
        "<title>mutation map: {} {}</title>",
        esc(name),
        esc(task_name)
    );
    svg.push_str(r#"<rect width="100%" height="100%" fill="white"/>"#);

    // Header: title, subtitle, legend.
    let _ = write!(
        svg,
        r#"<text class="title" x="{LEFT}" y="18" font-size="14" font-weight="bold">{} · {}</text>"#,
        esc(name),
        esc(task_name)
    );
    let span = if opts.range.is_some() || opts.offset > 0 {
        format!(
            "positions {}-{}  ·  ",
            opts.offset + start as u64 + 1,
            opts.offset + end as u64
        )
    } else {
        String::new()
    };
    let _ = write!(
        svg,
        r##"<text x="{LEFT}" y="34" font-size="10" fill="#444">{span}{} {} {}  ·  letters: sequence, height = largest loss (max {})</text>"##,
        esc(&opts.subject),
        esc(&opts.scale),
        num(reference as f64),
        num(max_imp)
    );
    legend(
        &mut svg,
        width - RIGHT - 200.0,
        10.0,
        200.0,
        lim,
        &opts.scale,
    );

    for r in 0..rows {
        let top = HEADER + r as f64 * block;
        let (a, b) = (start + r * per_row, (start + (r + 1) * per_row).min(end));
        let x_of = |p: usize| LEFT + (p - a) as f64 * cell;
        let base_y = top + LOGO_H;
        let seq_y = base_y + GAP;
        let heat_y = seq_y + SEQ_H + GAP;
        // Importance axis.
        let _ = write!(
            svg,
            r##"<line x1="{ax:.1}" y1="{top:.1}" x2="{ax:.1}" y2="{base_y:.1}" stroke="#333" stroke-width="0.8"/><line x1="{:.1}" y1="{top:.1}" x2="{ax:.1}" y2="{top:.1}" stroke="#333" stroke-width="0.8"/><text x="{:.1}" y="{:.1}" font-size="8" text-anchor="end">{}</text><text x="{:.1}" y="{:.1}" font-size="8" text-anchor="end">0</text>"##,
            LEFT - 6.0,
            LEFT - 8.0,
            top + 6.0,
            num(max_imp),
            LEFT - 8.0,
            base_y,
            ax = LEFT - 3.0,
        );
        let _ = write!(
            svg,
            r##"<text x="{x:.1}" y="{y:.1}" font-size="9" fill="#444" text-anchor="middle" transform="rotate(-90 {x:.1} {y:.1})">loss</text>"##,
            x = LEFT - 30.0,
            y = top + LOGO_H / 2.0
        );
        let _ = write!(
            svg,
            r##"<line x1="{LEFT}" y1="{base_y:.1}" x2="{:.1}" y2="{base_y:.1}" stroke="#bbb" stroke-width="0.5"/>"##,
            x_of(b)
        );
        // Letters: importance above the line, the reference sequence below it.
        for p in a..b {
            if let Some(c) = crate::encode::base_index(seq[p]) {
                let h = if max_imp > 0.0 {
                    importance[p - start] / max_imp * (LOGO_H - 2.0)
                } else {
                    0.0
                };
                letter(&mut svg, c, x_of(p) + 0.5, base_y - h, cell - 1.0, h);
                let w = (cell * 0.8).min(SEQ_H);
                letter(
                    &mut svg,
                    c,
                    x_of(p) + (cell - w) / 2.0,
                    seq_y,
                    w,
                    SEQ_H - 1.0,
                );
            }
        }
        // Heatmap.
        for (bi, &base) in b"ACGT".iter().enumerate() {
            let y = heat_y + bi as f64 * CELL_H;
            let _ = write!(
                svg,
                r#"<text x="{:.1}" y="{:.1}" font-size="9" font-weight="bold" fill="{}" text-anchor="end">{}</text>"#,
                LEFT - 6.0,
                y + CELL_H - 2.5,
                COLOURS[bi],
                base as char
            );
            for (p, c) in change.iter().enumerate().take(b).skip(a) {
                let v = c[bi] as f64;
                let _ = write!(
                    svg,
                    r#"<rect class="cell" x="{:.2}" y="{y:.2}" width="{:.2}" height="{CELL_H}" fill="{}"/>"#,
                    x_of(p),
                    cell + 0.05,
                    colour(v / lim)
                );
            }
        }
        // Reference bases: a dot in their (white) cells.
        for (p, &s) in seq.iter().enumerate().take(b).skip(a) {
            if let Some(c) = crate::encode::base_index(s) {
                let _ = write!(
                    svg,
                    r##"<circle cx="{:.2}" cy="{:.2}" r="{:.2}" fill="#555"/>"##,
                    x_of(p) + cell / 2.0,
                    heat_y + (c as f64 + 0.5) * CELL_H,
                    (cell.min(CELL_H) * 0.14).max(0.9)
                );
            }
        }
        let heat_bottom = heat_y + 4.0 * CELL_H;
        let _ = write!(
            svg,
            r##"<rect x="{LEFT}" y="{heat_y:.1}" width="{:.2}" height="{:.1}" fill="none" stroke="#333" stroke-width="0.6"/>"##,
            (b - a) as f64 * cell,
            4.0 * CELL_H
        );
        // Position axis: a tick and label where the label is a multiple of the step.
        for p in a..b {
            let label = opts.offset + p as u64 + 1;
            if !label.is_multiple_of(step) {
                continue;
            }
            let x = x_of(p) + cell / 2.0;
            let _ = write!(
                svg,
                r##"<line x1="{x:.2}" y1="{heat_bottom:.1}" x2="{x:.2}" y2="{:.1}" stroke="#333" stroke-width="0.8"/><text x="{x:.2}" y="{:.1}" font-size="9" text-anchor="middle">{label}</text>"##,
                heat_bottom + 4.0,
                heat_bottom + 14.0
            );
        }
        // The marked positions: an outline over the part in this row, an arrow over the middle.
        if let Some((ma, mb)) = opts.mark {
            let (from, to) = (ma.max(a), mb.max(ma + 1).min(b));
            if from < to {
                let _ = write!(
                    svg,
                    r##"<rect class="mark" x="{:.2}" y="{:.1}" width="{:.2}" height="{:.1}" fill="none" stroke="black" stroke-width="1.5"/>"##,
                    x_of(from) - 0.75,
                    top - 1.0,
                    (to - from) as f64 * cell + 1.5,
                    heat_bottom - top + 2.0
                );
            }
            let middle = ma + (mb.max(ma + 1) - ma - 1) / 2;
            if (a..b).contains(&middle) {
                let cx = x_of(middle) + cell / 2.0;
                let _ = write!(
                    svg,
                    r#"<path class="mark" d="M{:.2},{:.1} L{:.2},{:.1} L{cx:.2},{:.1} Z" fill="black"/>"#,
                    cx - 5.0,
                    top - 9.0,
                    cx + 5.0,
                    top - 9.0,
                    top - 2.0
                );
            }
        }
    }
    svg.push_str("</svg>\n");
    svg
}

/// A horizontal colour bar `w` wide at `(x, y)` from `-lim` to `+lim`, with tick labels and a
/// caption; drawn as small rects (no gradient ids, so several maps can share one HTML page).
fn legend(svg: &mut String, x: f64, y: f64, w: f64, lim: f64, scale: &str) {
    let steps = 50;
    let h = 9.0;
    svg.push_str(r#"<g class="legend">"#);
    for i in 0..steps {
        let t = -1.0 + 2.0 * (i as f64 + 0.5) / steps as f64;
        let _ = write!(
            svg,
            r#"<rect x="{:.2}" y="{y:.1}" width="{:.2}" height="{h}" fill="{}"/>"#,
            x + w * i as f64 / steps as f64,
            w / steps as f64 + 0.3,
            colour(t)
        );
    }
    let _ = write!(
        svg,
        r##"<rect x="{x:.1}" y="{y:.1}" width="{w:.1}" height="{h}" fill="none" stroke="#333" stroke-width="0.6"/>"##
    );
    for (f, v) in [(0.0, -lim), (0.5, 0.0), (1.0, lim)] {
        let tx = x + f * w;
        let _ = write!(
            svg,
            r##"<line x1="{tx:.1}" y1="{:.1}" x2="{tx:.1}" y2="{:.1}" stroke="#333" stroke-width="0.8"/><text x="{tx:.1}" y="{:.1}" font-size="9" text-anchor="middle">{}</text>"##,
            y + h,
            y + h + 3.0,
            y + h + 12.0,
            num(v)
        );
    }
    let _ = write!(
        svg,
        r##"<text x="{:.1}" y="{:.1}" font-size="9" fill="#444" text-anchor="middle">{} change (mutant − reference)</text>"##,
        x + w / 2.0,
        y + h + 24.0,
        esc(scale)
    );
    svg.push_str("</g>");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_scale_is_white_at_zero_and_saturates() {
        assert_eq!(colour(0.0), "#ffffff");
        assert_eq!(colour(-1.0), "#2166ac");
        assert_eq!(colour(7.0), "#b2182b");
        assert_eq!(colour(f64::NAN), "#ffffff");
    }

    #[test]
    fn tick_steps_leave_room_for_labels() {
        assert_eq!(tick_step(24.0, 20.0), 1);
        assert_eq!(tick_step(9.0, 40.0), 5);
        assert_eq!(tick_step(9.0, 60.0), 10);
        assert_eq!(tick_step(8.0, 170.0), 50);
    }

    #[test]
    fn rows_are_balanced_and_a_small_remainder_joins_them() {
        assert_eq!(row_length(1000, 100), 100);
        assert_eq!(row_length(101, 100), 101);
        assert_eq!(row_length(111, 100), 56);
        assert_eq!(row_length(250, 100), 84);
        assert_eq!(row_length(40, 0), 40);
        assert_eq!(row_length(0, 100), 1);
    }

    #[test]
    fn numbers_have_three_significant_digits() {
        assert_eq!(num(0.0), "0");
        assert_eq!(num(0.12345), "0.123");
        assert_eq!(num(-12.345), "-12.3");
        assert_eq!(num(1234.4), "1234");
        assert_eq!(num(2e-5), "2.00e-5");
    }
}
