//! SVG sequence logos: a motif's columns as stacks of letters whose heights are the letter's
//! share of the column's information content (bits), a filter's logo with its best database
//! match aligned beneath it, and saliency tracks (each base drawn as tall as its saliency, above
//! the line when positive, below when negative). Letters are drawn as paths, not text, so the
//! picture does not depend on the fonts of the viewer.

use std::fmt::Write as _;

use super::compare::Match;
use super::motifs::{information_content, reverse_complement};
use crate::io::meme::Motif;

/// Width of one motif column in pixels.
const COL: f64 = 24.0;
/// Height of 2 bits in pixels.
const BITS_PX: f64 = 50.0;
/// Left margin (axis and labels).
const LEFT: f64 = 44.0;

/// Letter colours, A, C, G, T (the usual green, blue, orange, red).
pub(crate) const COLOURS: [&str; 4] = ["#109648", "#255c99", "#f7b32b", "#d62839"];

/// Escapes text for SVG.
pub(crate) fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Points of an elliptical ring segment in a 100x100 box, from `a0` to `a1` degrees
/// (counter-clockwise, 0 = east), outer radius then back along the inner one.
fn ring(a0: f64, a1: f64) -> String {
    let steps = 24;
    let mut d = String::new();
    let pt = |a: f64, rx: f64, ry: f64| {
        let r = a.to_radians();
        (50.0 + rx * r.cos(), 50.0 - ry * r.sin())
    };
    for i in 0..=steps {
        let a = a0 + (a1 - a0) * i as f64 / steps as f64;
        let (x, y) = pt(a, 50.0, 50.0);
        let _ = write!(d, "{}{x:.1},{y:.1} ", if i == 0 { "M" } else { "L" });
    }
    for i in (0..=steps).rev() {
        let a = a0 + (a1 - a0) * i as f64 / steps as f64;
        let (x, y) = pt(a, 31.0, 33.0);
        let _ = write!(d, "L{x:.1},{y:.1} ");
    }
    d.push('Z');
    d
}

/// Path data of a letter in a 100x100 box (y down); each string is filled on its own.
fn glyph(c: usize) -> Vec<String> {
    match c {
        0 => vec![
            "M0,100 L38,0 L62,0 L100,100 L78,100 L69,75 L31,75 L22,100 Z M37,57 L63,57 L50,21 Z"
                .into(),
        ],
        1 => vec![ring(42.0, 318.0)],
        2 => vec![
            ring(42.0, 350.0),
            "M54,48 L100,48 L100,92 L84,92 L84,63 L54,63 Z".into(),
        ],
        _ => vec!["M0,0 L100,0 L100,18 L59,18 L59,100 L41,100 L41,18 L0,18 Z".into()],
    }
}

/// One letter filling the box `x, y, w, h` (pixels, y down).
pub(crate) fn letter(svg: &mut String, c: usize, x: f64, y: f64, w: f64, h: f64) {
    if h <= 0.05 || w <= 0.0 {
        return;
    }
    let _ = write!(
        svg,
        r#"<g transform="translate({x:.2},{y:.2}) scale({:.4},{:.4})" fill="{}">"#,
        w / 100.0,
        h / 100.0,
        COLOURS[c]
    );
    for d in glyph(c) {
        let _ = write!(svg, r#"<path fill-rule="evenodd" d="{d}"/>"#);
    }
    svg.push_str("</g>");
}

/// Draws a motif's logo with its baseline at `y0`, column 0 at `x0`.
fn motif_track(svg: &mut String, probs: &[[f64; 4]], bg: &[f64; 4], x0: f64, y0: f64) {
    for (j, row) in probs.iter().enumerate() {
        let ic = information_content(row, bg);
        let mut order = [0usize, 1, 2, 3];
        // Smallest at the bottom, largest on top.
        order.sort_by(|&a, &b| row[b].total_cmp(&row[a]));
        let mut y = y0 - ic * BITS_PX;
        for &c in &order {
            let h = row[c] * ic * BITS_PX;
            letter(svg, c, x0 + j as f64 * COL + 1.0, y, COL - 2.0, h);
            y += h;
        }
    }
}

/// A bits axis from `y0` (0) up to 2 bits, with a label.
fn bits_axis(svg: &mut String, x: f64, y0: f64, label: &str) {
    let _ = write!(
        svg,
        r##"<line x1="{x}" y1="{y0}" x2="{x}" y2="{:.1}" stroke="#333"/>"##,
        y0 - 2.0 * BITS_PX
    );
    for b in 0..=2 {
        let y = y0 - b as f64 * BITS_PX;
        let _ = write!(
            svg,
            r##"<line x1="{:.1}" y1="{y:.1}" x2="{x}" y2="{y:.1}" stroke="#333"/><text x="{:.1}" y="{:.1}" font-size="10" text-anchor="end">{b}</text>"##,
            x - 4.0,
            x - 6.0,
            y + 3.5
        );
    }
    let _ = write!(
        svg,
        r#"<text x="{:.1}" y="{:.1}" font-size="10" transform="rotate(-90 {:.1} {:.1})" text-anchor="middle">{}</text>"#,
        x - 22.0,
        y0 - BITS_PX,
        x - 22.0,
        y0 - BITS_PX,
        esc(label)
    );
}

/// An SVG logo of `query` (a filter's motif), with the best match from `db` drawn beneath it
/// at its alignment when there is one.
pub fn filter_logo_svg(query: &Motif, best: Option<(&Motif, &Match)>, bg: &[f64; 4]) -> String {
    let wq = query.width() as isize;
    let (lo, hi) = match best {
        Some((t, m)) => (
            m.alignment.offset.min(0),
            wq.max(m.alignment.offset + t.width() as isize),
        ),
        None => (0, wq),
    };
    let cols = (hi - lo) as f64;
    let track = 2.0 * BITS_PX + 40.0;
    let tracks = if best.is_some() { 2.0 } else { 1.0 };
    // Wide enough for the match's title line when the motifs are short.
    let width = (LEFT + cols * COL + 20.0).max(if best.is_some() { 520.0 } else { 0.0 });
    let height = tracks * track + 10.0;
    let mut svg = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" font-family="sans-serif">"#
    );
    svg.push_str(r#"<rect width="100%" height="100%" fill="white"/>"#);
    let x_of = |col: isize| LEFT + (col - lo) as f64 * COL;
    // The query.
    let mut title = query.id.clone();
    if let Some(n) = &query.name {
        title.push_str(&format!("  {n}"));
    }
    if let Some(s) = query.nsites {
        title.push_str(&format!("  ({s} sites)"));
    }
    let y0 = 20.0 + 2.0 * BITS_PX;
    let _ = write!(
        svg,
        r#"<text x="{LEFT}" y="14" font-size="12">{}</text>"#,
        esc(&title)
    );
    bits_axis(&mut svg, LEFT - 4.0, y0, "bits");
    motif_track(&mut svg, &query.probs, bg, x_of(0), y0);
    if let Some((t, m)) = best {
        let probs = if m.alignment.reverse {
            reverse_complement(&t.probs)
        } else {
            t.probs.clone()
        };
        let mut title = format!("best match: {} {}", t.id, t.name.as_deref().unwrap_or(""));
        if m.alignment.reverse {
            title.push_str(" (reverse complement)");
        }
        title.push_str(&format!("  score {:.2}", m.score));
        if let (Some(p), Some(e)) = (m.pvalue, m.evalue) {
            title.push_str(&format!("  p {p:.2e}  E {e:.2e}"));
        }
        let y0 = track + 20.0 + 2.0 * BITS_PX;
        let _ = write!(
            svg,
            r#"<text x="{LEFT}" y="{:.1}" font-size="12">{}</text>"#,
            track + 14.0,
            esc(&title)
        );
        bits_axis(&mut svg, LEFT - 4.0, y0, "bits");
        motif_track(&mut svg, &probs, bg, x_of(m.alignment.offset), y0);
    }
    svg.push_str("</svg>\n");
    svg
}

/// Left margin of a saliency plot: the value axis, its tick labels and its title.
const SAL_LEFT: f64 = 78.0;

/// An SVG saliency plot of one sequence: one track per task, each base drawn with height
/// proportional to its saliency (gradient x input, scaled per track to the largest magnitude,
/// which the track's value axis shows), up when positive and down when negative; ambiguous
/// bases are not drawn. Positions are 1-based.
pub fn saliency_svg(
    name: &str,
    seq: &[u8],
    values: &ndarray::Array2<f32>,
    tasks: &[&str],
) -> String {
    use crate::mutate::plot::num;
    let w = 10.0;
    let half = 50.0;
    let track = 2.0 * half + 40.0;
    let width = SAL_LEFT + seq.len() as f64 * w + 20.0;
    let height = tasks.len() as f64 * track + 10.0;
    let mut svg = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" font-family="sans-serif">"#
    );
    svg.push_str(r#"<rect width="100%" height="100%" fill="white"/>"#);
    for (ti, task) in tasks.iter().enumerate() {
        let top = ti as f64 * track;
        let mid = top + 20.0 + half;
        let row = values.row(ti);
        let max = row.iter().fold(0f32, |m, &v| m.max(v.abs())) as f64;
        let _ = write!(
            svg,
            r#"<text x="{SAL_LEFT}" y="{:.1}" font-size="12">{}  task {}  (max |saliency| {})</text>"#,
            top + 14.0,
            esc(name),
            esc(task),
            num(max)
        );
        let _ = write!(
            svg,
            r##"<line x1="{SAL_LEFT}" y1="{mid:.1}" x2="{:.1}" y2="{mid:.1}" stroke="#999" stroke-width="0.5"/>"##,
            SAL_LEFT + seq.len() as f64 * w
        );
        // The value axis: -max, 0 and +max, in the units of the saliency (gradient x input).
        let ax = SAL_LEFT - 4.0;
        let _ = write!(
            svg,
            r##"<line x1="{ax:.1}" y1="{:.1}" x2="{ax:.1}" y2="{:.1}" stroke="#333" stroke-width="0.8"/>"##,
            mid - half,
            mid + half
        );
        for (y, v) in [(mid - half, max), (mid, 0.0), (mid + half, -max)] {
            let _ = write!(
                svg,
                r##"<line x1="{:.1}" y1="{y:.1}" x2="{ax:.1}" y2="{y:.1}" stroke="#333" stroke-width="0.8"/><text x="{:.1}" y="{:.1}" font-size="9" text-anchor="end">{}</text>"##,
                ax - 3.0,
                ax - 5.0,
                y + 3.0,
                num(v)
            );
        }
        let _ = write!(
            svg,
            r#"<text x="12" y="{mid:.1}" font-size="10" transform="rotate(-90 12 {mid:.1})" text-anchor="middle">gradient × input</text>"#
        );
        for (p, (&b, &v)) in seq.iter().zip(row.iter()).enumerate() {
            let Some(c) = crate::encode::base_index(b) else {
                continue;
            };
            if max <= 0.0 {
                continue;
            }
            let h = v.abs() as f64 / max * half;
            let y = if v >= 0.0 { mid - h } else { mid };
            letter(&mut svg, c, SAL_LEFT + p as f64 * w, y, w, h);
        }
        for p in (0..seq.len()).step_by(10) {
            let x = SAL_LEFT + p as f64 * w + w / 2.0;
            let _ = write!(
                svg,
                r#"<text x="{x:.1}" y="{:.1}" font-size="9" text-anchor="middle">{}</text>"#,
                mid + half + 12.0,
                p + 1
            );
        }
        let _ = write!(
            svg,
            r##"<text x="{:.1}" y="{:.1}" font-size="9" fill="#444">position</text>"##,
            SAL_LEFT + seq.len() as f64 * w - 40.0,
            mid + half + 24.0
        );
    }
    svg.push_str("</svg>\n");
    svg
}

/// An SVG logo of contributions (a CWM or hypothetical CWM): each column's bases stacked by
/// value, positive ones above the line and negative ones below, all columns on one scale (the
/// tallest stack fills `height` pixels above or below); columns in `highlight` are shaded.
pub fn contribution_logo_svg(
    title: &str,
    rows: &[[f64; 4]],
    highlight: Option<std::ops::Range<usize>>,
    height: f64,
) -> String {
    let up = |r: &[f64; 4]| r.iter().filter(|v| **v > 0.0).sum::<f64>();
    let down = |r: &[f64; 4]| -r.iter().filter(|v| **v < 0.0).sum::<f64>();
    let top = rows.iter().map(up).fold(0.0f64, f64::max);
    let bottom = rows.iter().map(down).fold(0.0f64, f64::max);
    let scale = top.max(bottom);
    let scale = if scale > 0.0 { height / scale } else { 0.0 };
    let (above, below) = (top * scale, bottom * scale);
    let width = LEFT + rows.len() as f64 * COL + 20.0;
    let y0 = 22.0 + above;
    let total = y0 + below + 8.0;
    let mut svg = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{total:.0}" viewBox="0 0 {width:.0} {total:.0}" font-family="sans-serif">"#
    );
    svg.push_str(r#"<rect width="100%" height="100%" fill="white"/>"#);
    if let Some(h) = highlight.filter(|h| h.start < h.end) {
        let _ = write!(
            svg,
            r##"<rect x="{:.1}" y="20" width="{:.1}" height="{:.1}" fill="#eef3fb"/>"##,
            LEFT + h.start as f64 * COL,
            (h.end - h.start) as f64 * COL,
            total - 24.0
        );
    }
    let _ = write!(
        svg,
        r#"<text x="{LEFT}" y="14" font-size="12">{}</text>"#,
        esc(title)
    );
    for (j, r) in rows.iter().enumerate() {
        let x = LEFT + j as f64 * COL + 1.0;
        let mut order = [0usize, 1, 2, 3];
        // Above the line the largest on top; below it the most negative at the bottom.
        order.sort_by(|&a, &b| r[a].total_cmp(&r[b]));
        let mut y = y0;
        for &c in &order {
            if r[c] > 0.0 {
                let h = r[c] * scale;
                y -= h;
                letter(&mut svg, c, x, y, COL - 2.0, h);
            }
        }
        let mut y = y0;
        for &c in order.iter().rev() {
            if r[c] < 0.0 {
                let h = -r[c] * scale;
                // Drawn upside down, as logos of negative contributions are.
                let _ = write!(
                    svg,
                    r#"<g transform="translate(0,{:.2}) scale(1,-1)">"#,
                    2.0 * y + h
                );
                letter(&mut svg, c, x, y, COL - 2.0, h);
                svg.push_str("</g>");
                y += h;
            }
        }
    }
    let _ = write!(
        svg,
        r##"<line x1="{:.1}" y1="{y0:.1}" x2="{:.1}" y2="{y0:.1}" stroke="#999"/>"##,
        LEFT,
        LEFT + rows.len() as f64 * COL
    );
    let tick = |v: f64| {
        if v.abs() >= 0.01 || v == 0.0 {
            format!("{v:.2}")
        } else {
            format!("{v:.1e}")
        }
    };
    let _ = write!(
        svg,
        r##"<line x1="{x:.1}" y1="{:.1}" x2="{x:.1}" y2="{:.1}" stroke="#333"/><text x="{:.1}" y="{:.1}" font-size="10" text-anchor="end">0</text>"##,
        y0 - above,
        y0 + below,
        LEFT - 6.0,
        y0 + 3.5,
        x = LEFT - 4.0
    );
    // Labels for the two ends only where there is room for them beside the zero's.
    if above > 12.0 {
        let _ = write!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" font-size="10" text-anchor="end">{}</text>"#,
            LEFT - 6.0,
            y0 - above + 8.0,
            tick(top)
        );
    }
    if below > 12.0 {
        let _ = write!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" font-size="10" text-anchor="end">{}</text>"#,
            LEFT - 6.0,
            y0 + below,
            tick(-bottom)
        );
    }
    svg.push_str("</svg>\n");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interpret::compare::Alignment;

    fn tags_balanced(svg: &str) {
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<g ").count(), svg.matches("</g>").count());
        assert!(!svg.contains("NaN") && !svg.contains("inf"));
    }

    #[test]
    fn filter_logo_with_and_without_a_match() {
        let mut q = Motif::new(
            "filter0",
            vec![[1.0, 0.0, 0.0, 0.0], [0.25; 4], [0.0, 0.5, 0.5, 0.0]],
        );
        q.name = Some("ANS".into());
        q.nsites = Some(10.0);
        let svg = filter_logo_svg(&q, None, &[0.25; 4]);
        tags_balanced(&svg);
        // Column 0: one A of 2 bits; column 1: nothing; column 2: C and G of 0.5 bit each.
        assert_eq!(svg.matches("<g ").count(), 3);
        assert!(svg.contains("filter0  ANS  (10 sites)"));
        let mut t = Motif::new("MA<1>", vec![[0.0, 0.0, 0.0, 1.0]; 4]);
        t.name = Some("X&Y".into());
        let m = Match {
            target: 0,
            rank: 1,
            score: 3.5,
            similarity: 0.9,
            pvalue: Some(0.001),
            evalue: Some(0.879),
            qvalue: Some(0.2),
            alignment: Alignment {
                reverse: true,
                offset: -2,
                overlap: 2,
            },
        };
        let svg = filter_logo_svg(&q, Some((&t, &m)), &[0.25; 4]);
        tags_balanced(&svg);
        assert!(svg.contains(
            "best match: MA&lt;1&gt; X&amp;Y (reverse complement)  score 3.50  p 1.00e-3"
        ));
        // The reverse complement of all-T is all-A: green letters.
        assert_eq!(svg.matches(COLOURS[0]).count(), 1 + 4);
    }

    #[test]
    fn saliency_plot_draws_bases_up_and_down() {
        let values = ndarray::arr2(&[[1.0f32, -0.5, 0.7, 2.0]]);
        let svg = saliency_svg("seq<1>", b"ACNT", &values, &["t"]);
        tags_balanced(&svg);
        assert!(svg.contains("seq&lt;1&gt;"));
        // A, C and T drawn (N is not, and a zero is too small to draw).
        assert_eq!(svg.matches("<g ").count(), 3);
    }
}
