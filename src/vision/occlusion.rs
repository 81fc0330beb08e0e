//! Occlusion maps (Zeiler & Fergus 2014, "Visualizing and understanding convolutional networks",
//! section 4.2): a grey square is slid over an image and, at every position, the drop in the
//! probability of one class (the true one) is recorded; where covering the image hurts most is
//! where the classifier looks. Rendered as a heatmap over the image, PNG (raster) or SVG.

use super::dataset::{ImageSet, Preprocess};
use super::raw::RawImages;
use crate::arch::LossKind;
use crate::model::Model;
use crate::score::to_output;
use crate::{Error, Result};
use ndarray::Array2;

/// Occluded images scored per forward pass.
const CHUNK: usize = crate::score::INFER_BATCH;

/// How the grey square is slid.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OcclusionConfig {
    /// Side of the square, in pixels.
    pub patch: usize,
    /// Step between positions, in pixels.
    pub stride: usize,
    /// Raw pixel value of the square (before the model's scaling); `None`: mid-grey, half the
    /// model's pixel scale.
    pub fill: Option<f32>,
}

/// The result for one image.
#[derive(Clone, Debug)]
pub struct OcclusionMap {
    /// `[C, H, W]` of the image.
    pub shape: [usize; 3],
    /// The image's pixels scaled to `[0, 1]` by the model's pixel scale (for drawing).
    pub image: Vec<f32>,
    /// The class followed, and its probability on the intact image.
    pub class: usize,
    pub prob: f32,
    /// The class the model predicts on the intact image.
    pub predicted: usize,
    /// Top-left row and column of every square position.
    pub rows: Vec<usize>,
    pub cols: Vec<usize>,
    /// `prob - prob with the square at (rows[i], cols[j])`.
    pub drops: Array2<f32>,
    /// Per pixel `[H, W]`: the mean drop over the squares covering it (0 where none does).
    pub pixels: Array2<f32>,
}

/// Square positions along one axis of size `n`: `0, stride, ...` while the square fits, and the
/// last position flush with the edge.
fn positions(n: usize, patch: usize, stride: usize) -> Vec<usize> {
    let last = n - patch;
    let mut v: Vec<usize> = (0..=last).step_by(stride).collect();
    if v.last() != Some(&last) {
        v.push(last);
    }
    v
}

/// The occlusion map of image `index` (0-based) of `set`, following `class` (default: the
/// image's label, else the predicted class).
pub fn occlusion_map(
    model: &Model,
    set: &ImageSet,
    index: usize,
    class: Option<usize>,
    cfg: &OcclusionConfig,
) -> Result<OcclusionMap> {
    set.check_fits(&model.arch)?;
    let [c, h, w] = set.shape();
    if index >= set.len() {
        return Err(Error::Config(format!(
            "image {} requested but the input has {}",
            index + 1,
            set.len()
        )));
    }
    if cfg.patch == 0 || cfg.stride == 0 || cfg.patch > h.min(w) {
        return Err(Error::Config(format!(
            "the square ({} pixels, stride {}) must be positive and fit the {h}x{w} image",
            cfg.patch, cfg.stride
        )));
    }
    let k = model.meta.tasks.len();
    let n = c * h * w;
    let pre = Preprocess::from_input(&model.arch.input);
    let fill = cfg.fill.unwrap_or(pre.scale / 2.0);
    let original = &set.raw.pixels[index * n..(index + 1) * n];
    let (rows, cols) = (
        positions(h, cfg.patch, cfg.stride),
        positions(w, cfg.patch, cfg.stride),
    );
    let spots: Vec<(usize, usize)> = rows
        .iter()
        .flat_map(|&r| cols.iter().map(move |&q| (r, q)))
        .collect();
    // Scores of the intact image (first) and every occluded one, a chunk at a time.
    let mut probs = Vec::with_capacity((spots.len() + 1) * k);
    let mut pending: Vec<Option<(usize, usize)>> = vec![None];
    pending.extend(spots.iter().copied().map(Some));
    for chunk in pending.chunks(CHUNK) {
        let mut raw = RawImages {
            shape: set.shape(),
            pixels: Vec::with_capacity(chunk.len() * n),
            labels: None,
            lines: (1..=chunk.len() as u64).collect(),
        };
        for spot in chunk {
            let start = raw.pixels.len();
            raw.pixels.extend_from_slice(original);
            if let Some((r0, q0)) = spot {
                for ch in 0..c {
                    for r in *r0..r0 + cfg.patch {
                        let at = start + (ch * h + r) * w + q0;
                        raw.pixels[at..at + cfg.patch].fill(fill);
                    }
                }
            }
        }
        let part = ImageSet {
            raw,
            origin: set.origin.clone(),
        };
        let logits = super::classify::predict_logits(model, &part)?;
        probs.extend(to_output(LossKind::CrossEntropy, logits).iter().copied());
    }
    let intact = &probs[..k];
    let predicted = crate::metrics::argmax(intact).unwrap_or(0);
    let class = class
        .or_else(|| set.raw.labels.as_ref().map(|l| l[index]))
        .unwrap_or(predicted);
    if class >= k {
        return Err(Error::Config(format!(
            "class {class} is not one of the model's {k} classes"
        )));
    }
    let prob = intact[class];
    let drops = Array2::from_shape_fn((rows.len(), cols.len()), |(i, j)| {
        prob - probs[(1 + i * cols.len() + j) * k + class]
    });
    let mut sum = Array2::<f32>::zeros((h, w));
    let mut count = Array2::<f32>::zeros((h, w));
    for (i, &r0) in rows.iter().enumerate() {
        for (j, &q0) in cols.iter().enumerate() {
            for r in r0..r0 + cfg.patch {
                for q in q0..q0 + cfg.patch {
                    sum[[r, q]] += drops[[i, j]];
                    count[[r, q]] += 1.0;
                }
            }
        }
    }
    let pixels = ndarray::Zip::from(&sum)
        .and(&count)
        .map_collect(|&s, &n| if n > 0.0 { s / n } else { 0.0 });
    Ok(OcclusionMap {
        shape: [c, h, w],
        image: original
            .iter()
            .map(|v| (v / pre.scale).clamp(0.0, 1.0))
            .collect(),
        class,
        prob,
        predicted,
        rows,
        cols,
        drops,
        pixels,
    })
}

impl OcclusionMap {
    /// The largest absolute per-pixel drop (the colour scale's end), at least a tiny positive.
    fn range(&self) -> f32 {
        self.pixels
            .iter()
            .fold(0.0f32, |m, v| m.max(v.abs()))
            .max(1e-6)
    }

    /// Grey level of pixel `(r, q)`: the mean over channels.
    fn grey(&self, r: usize, q: usize) -> f32 {
        let [c, h, w] = self.shape;
        (0..c)
            .map(|ch| self.image[(ch * h + r) * w + q])
            .sum::<f32>()
            / c as f32
    }

    /// Heat colour and opacity of a pixel: red where covering it lowers the class probability,
    /// blue where it raises it, opacity growing with the size of the change.
    fn heat(&self, r: usize, q: usize) -> ([u8; 3], f32) {
        let v = self.pixels[[r, q]] / self.range();
        let colour = if v >= 0.0 {
            [220, 30, 30]
        } else {
            [30, 80, 220]
        };
        (colour, 0.75 * v.abs())
    }

    /// The colour of a value `t` in `[-1, 1]` of the colour bar over mid grey, as the heatmap
    /// draws it.
    fn bar_colour(t: f32) -> [u8; 3] {
        let colour = if t >= 0.0 {
            [220, 30, 30]
        } else {
            [30, 80, 220]
        };
        let a = 0.75 * t.abs().min(1.0);
        colour.map(|c| ((1.0 - a) * 128.0 + a * c as f32).round() as u8)
    }

    /// The heatmap over the image as RGB bytes, each image pixel drawn as a `scale x scale` block,
    /// with a colour bar beneath (blue, grey, red: from `-range` to `+range` of the per-pixel
    /// mean drop, the range [`OcclusionMap::scale_end`] gives): `(width, height, rgb)`.
    pub fn raster(&self, scale: usize) -> (usize, usize, Vec<u8>) {
        let [_, h, w] = self.shape;
        let s = scale.max(1);
        let (wd, img_ht) = (w * s, h * s);
        let (gap, bar) = (4, 10.max(s));
        let ht = img_ht + gap + bar;
        let mut rgb = vec![255u8; wd * ht * 3];
        for r in 0..img_ht {
            for q in 0..wd {
                let (ir, iq) = (r / s, q / s);
                let g = self.grey(ir, iq) * 255.0;
                let (colour, a) = self.heat(ir, iq);
                let at = (r * wd + q) * 3;
                for (k, c) in colour.iter().enumerate() {
                    rgb[at + k] = ((1.0 - a) * g + a * *c as f32).round().clamp(0.0, 255.0) as u8;
                }
            }
        }
        for q in 0..wd {
            let t = 2.0 * (q as f32 + 0.5) / wd as f32 - 1.0;
            let c = Self::bar_colour(t);
            for r in img_ht + gap..ht {
                let at = (r * wd + q) * 3;
                rgb[at..at + 3].copy_from_slice(&c);
            }
        }
        (wd, ht, rgb)
    }

    /// The end of the colour scale: the largest per-pixel mean drop in the class probability
    /// (each pixel's drop averaged over the squares that cover it), as an absolute value.
    pub fn scale_end(&self) -> f32 {
        self.range()
    }

    /// The heatmap over the image as an SVG document, with a colour bar and a caption (`title`,
    /// wrapped to the picture's width).
    pub fn svg(&self, scale: usize, title: &str) -> String {
        let [_, h, w] = self.shape;
        let s = scale.max(1);
        let (img_w, img_h) = (w * s, h * s);
        let wd = img_w.max(320);
        // The caption in lines of at most the width's worth of characters (about 6.5 px each).
        let per_line = (wd as f64 / 6.5) as usize;
        let mut lines: Vec<String> = Vec::new();
        // Words longer than a line (a long path) are cut into line-long pieces.
        let words = title.split(' ').flat_map(|w| {
            let chars: Vec<char> = w.chars().collect();
            chars
                .chunks(per_line.max(1))
                .map(|c| c.iter().collect::<String>())
                .collect::<Vec<_>>()
        });
        for word in words {
            match lines.last_mut() {
                Some(l) if l.chars().count() + 1 + word.chars().count() <= per_line => {
                    l.push(' ');
                    l.push_str(&word);
                }
                _ => lines.push(word),
            }
        }
        let bar_y = img_h + 8;
        let caption_y = bar_y + 40;
        let ht = caption_y + 16 * lines.len();
        let mut out = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{wd}\" height=\"{ht}\" viewBox=\"0 0 {wd} {ht}\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
        );
        out += &format!(
            "<title>{}</title>\n<g shape-rendering=\"crispEdges\">\n",
            escape(title)
        );
        for r in 0..h {
            for q in 0..w {
                let g = (self.grey(r, q) * 255.0).round() as u8;
                out += &format!(
                    "<rect x=\"{}\" y=\"{}\" width=\"{s}\" height=\"{s}\" fill=\"rgb({g},{g},{g})\"/>",
                    q * s,
                    r * s
                );
                let ([cr, cg, cb], a) = self.heat(r, q);
                if a > 0.005 {
                    out += &format!(
                        "<rect x=\"{}\" y=\"{}\" width=\"{s}\" height=\"{s}\" fill=\"rgb({cr},{cg},{cb})\" fill-opacity=\"{a:.3}\"/>",
                        q * s,
                        r * s
                    );
                }
            }
            out.push('\n');
        }
        // The colour bar: -range (blue) to +range (red) of the per-pixel mean drop.
        let (bx, bw, steps) = (40usize, wd.saturating_sub(80).max(40), 40);
        for i in 0..steps {
            let t = 2.0 * (i as f32 + 0.5) / steps as f32 - 1.0;
            let [r, g, b] = Self::bar_colour(t);
            out += &format!(
                "<rect x=\"{:.2}\" y=\"{bar_y}\" width=\"{:.2}\" height=\"9\" fill=\"rgb({r},{g},{b})\"/>",
                bx as f64 + bw as f64 * i as f64 / steps as f64,
                bw as f64 / steps as f64 + 0.3
            );
        }
        out += "</g>\n";
        let end = self.range();
        for (f, v) in [(0.0, -end), (0.5, 0.0), (1.0, end)] {
            out += &format!(
                "<text x=\"{:.1}\" y=\"{}\" font-size=\"10\" text-anchor=\"middle\">{}</text>",
                bx as f64 + f * bw as f64,
                bar_y + 20,
                crate::mutate::plot::num(v as f64)
            );
        }
        out += &format!(
            "\n<text x=\"{}\" y=\"{}\" font-size=\"10\" fill=\"#555\" text-anchor=\"middle\">per-pixel mean drop in p when covered (red: covering lowers p)</text>\n",
            wd / 2,
            bar_y + 32
        );
        for (i, l) in lines.iter().enumerate() {
            out += &format!(
                "<text x=\"2\" y=\"{}\">{}</text>\n",
                caption_y + 16 * i + 4,
                escape(l)
            );
        }
        out += "</svg>\n";
        out
    }

    /// The square position (top-left row, column) with the largest drop, and the drop.
    pub fn worst(&self) -> (usize, usize, f32) {
        let mut best = (0, 0, f32::NEG_INFINITY);
        for ((i, j), &d) in self.drops.indexed_iter() {
            if d > best.2 {
                best = (self.rows[i], self.cols[j], d);
            }
        }
        best
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::Arch;

    /// A model whose class-1 logit is twice the sum of the pixels in the top-left 2x2 corner and
    /// whose class-0 logit is 0.
    fn corner_model() -> Model {
        let arch = Arch::from_toml(
            "name='corner'\ninput={channels=1, height=4, width=4, pixel_scale=1}\nloss='cross_entropy'\n\
             [[layers]]\ntype='flatten'\n[[layers]]\ntype='linear'\n",
        )
        .unwrap();
        let mut m = Model::new(
            arch,
            vec!["0".into(), "1".into()],
            &mut crate::rng::seeded(1),
            1.0,
        )
        .unwrap();
        let mut w = ndarray::ArrayD::<f32>::zeros(ndarray::IxDyn(&[2, 16]));
        for at in [0, 1, 4, 5] {
            w[[1, at]] = 2.0;
        }
        m.params[0] = w;
        m.params[1] = ndarray::ArrayD::zeros(ndarray::IxDyn(&[2]));
        m
    }

    #[test]
    fn the_drop_is_where_the_evidence_is() {
        let model = corner_model();
        let set = ImageSet {
            raw: RawImages {
                shape: [1, 4, 4],
                pixels: vec![1.0; 16],
                labels: Some(vec![1]),
                lines: vec![1],
            },
            origin: "x".into(),
        };
        let cfg = OcclusionConfig {
            patch: 2,
            stride: 2,
            fill: Some(0.0),
        };
        let map = occlusion_map(&model, &set, 0, None, &cfg).unwrap();
        assert_eq!((map.class, map.predicted), (1, 1));
        assert_eq!(
            (map.rows.clone(), map.cols.clone()),
            (vec![0, 2], vec![0, 2])
        );
        // Covering the corner removes all the evidence (p from 0.9997 to 0.5); elsewhere changes
        // nothing.
        assert!(map.drops[[0, 0]] > 0.49, "{:?}", map.drops);
        assert_eq!(map.drops[[1, 1]], 0.0);
        assert_eq!(map.worst(), (0, 0, map.drops[[0, 0]]));
        assert_eq!(map.pixels[[1, 1]], map.drops[[0, 0]]);
        let (w, h, rgb) = map.raster(3);
        // The 12 x 12 picture, a 4-pixel gap and a 10-pixel colour bar.
        assert_eq!((w, h, rgb.len()), (12, 26, 12 * 26 * 3));
        // Top-left is tinted red, bottom-right of the image is the plain (white) image.
        assert!(rgb[0] > rgb[1] && rgb[0] > rgb[2]);
        let at = (11 * 12 + 11) * 3;
        assert_eq!(rgb[at..at + 3], [255, 255, 255]);
        // The colour bar: blue at its left end, red at its right.
        let bar = (20 * 12) * 3;
        assert!(rgb[bar + 2] > rgb[bar]);
        let end = (20 * 12 + 11) * 3;
        assert!(rgb[end] > rgb[end + 2]);
        let svg = map.svg(3, "image 1 <class 1>");
        assert!(svg.starts_with("<svg") && svg.contains("&lt;class 1&gt;"));
        assert!(svg.contains("per-pixel mean drop in p when covered"));
        // A long caption wraps within the picture's width instead of running off it.
        let long = format!("image 1 of {}: class 1", "dir/".repeat(60));
        let svg = map.svg(3, &long);
        let caption: Vec<&str> = svg
            .lines()
            .filter_map(|l| l.strip_prefix("<text x=\"2\""))
            .collect();
        assert!(caption.len() >= 3, "{svg}");
        assert!(caption.iter().all(|l| l.len() < 80), "{caption:?}");
        assert_eq!(positions(5, 2, 2), vec![0, 2, 3]);
        let bad = OcclusionConfig { patch: 5, ..cfg };
        assert!(occlusion_map(&model, &set, 0, None, &bad).is_err());
        assert!(occlusion_map(&model, &set, 1, None, &cfg).is_err());
    }
}
