//! Labelled image sets, the network's side of image data: loading (IDX or CSV, through
//! [`super::raw`]), the pixel scaling a model carries in its architecture (`input.pixel_scale`,
//! `input.mean`, `input.std`), seeded splits and `[B, C, H, W]` batches (shifted ones for
//! augmentation).

use super::raw::{LabelColumn, RawImages};
use crate::arch::{Arch, InputSpec};
use crate::rng::{self, Rng};
use crate::tensor::Array;
use crate::{Error, Result};
use std::path::{Path, PathBuf};

/// The pixel divisor when an architecture names none: 8-bit images.
pub const DEFAULT_PIXEL_SCALE: f32 = 255.0;

/// Where images come from: an IDX image file (with an IDX label file), or a CSV file of the
/// given shape.
#[derive(Clone, Debug)]
pub struct ImageSource {
    pub path: PathBuf,
    /// IDX label file.
    pub labels: Option<PathBuf>,
    /// CSV images: `[C, H, W]`; `None` reads `path` as IDX.
    pub csv_shape: Option<[usize; 3]>,
    /// CSV images: where the label is.
    pub label_column: LabelColumn,
}

/// A set of images with their labels (if known), pixel values as read.
#[derive(Clone, Debug, Default)]
pub struct ImageSet {
    pub raw: RawImages,
    /// Where the set came from, for messages.
    pub origin: PathBuf,
}

/// How raw pixel values become network inputs: `(p / scale - mean[c]) / std[c]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Preprocess {
    pub scale: f32,
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
}

impl Preprocess {
    /// The scaling an architecture's input asks for (divide by 255 by default, no
    /// standardisation).
    pub fn from_input(input: &InputSpec) -> Preprocess {
        let c = input.channels;
        Preprocess {
            scale: input.pixel_scale.unwrap_or(DEFAULT_PIXEL_SCALE),
            mean: input.mean.clone().unwrap_or_else(|| vec![0.0; c]),
            std: input.std.clone().unwrap_or_else(|| vec![1.0; c]),
        }
    }
}

impl ImageSet {
    /// Reads images (and labels) from `src`; `need_labels` makes a set without labels an error.
    pub fn load(src: &ImageSource, need_labels: bool) -> Result<ImageSet> {
        let raw = match src.csv_shape {
            Some(shape) => {
                if src.labels.is_some() {
                    return Err(Error::Config(
                        "a separate label file goes with IDX images; CSV images carry their labels in a column (--label-column)".into(),
                    ));
                }
                super::raw::read_csv_file(&src.path, shape, src.label_column)?
            }
            None => {
                if !super::idx::looks_like_idx(&src.path)? {
                    return Err(Error::parse(
                        crate::io::input::input_name(&src.path),
                        0,
                        "not an IDX image file; for CSV images give --image-shape C,H,W",
                    ));
                }
                super::raw::read_idx_files(&src.path, src.labels.as_deref())?
            }
        };
        if need_labels && raw.labels.is_none() {
            let msg = if src.csv_shape.is_some() {
                "no labels: the CSV needs a label column (--label-column first|last)"
            } else {
                "no labels: give the IDX label file (--train-labels, --valid-labels or --labels)"
            };
            return Err(Error::parse(
                crate::io::input::input_name(&src.path),
                0,
                msg,
            ));
        }
        Ok(ImageSet {
            raw,
            origin: src.path.clone(),
        })
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.raw.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// `[C, H, W]`.
    pub fn shape(&self) -> [usize; 3] {
        self.raw.shape
    }

    fn image_len(&self) -> usize {
        self.raw.shape.iter().product()
    }

    /// Class labels (empty if the set has none).
    pub fn labels(&self) -> &[usize] {
        self.raw.labels.as_deref().unwrap_or(&[])
    }

    /// Number of classes the labels need: the largest label plus one.
    pub fn n_classes(&self) -> usize {
        self.labels().iter().max().map_or(0, |m| m + 1)
    }

    /// The images at `idx`, in that order.
    pub fn subset(&self, idx: &[usize]) -> ImageSet {
        let n = self.image_len();
        let mut raw = RawImages {
            shape: self.raw.shape,
            pixels: Vec::with_capacity(idx.len() * n),
            labels: self
                .raw
                .labels
                .as_ref()
                .map(|l| idx.iter().map(|&i| l[i]).collect()),
            lines: idx.iter().map(|&i| self.raw.lines[i]).collect(),
        };
        for &i in idx {
            raw.pixels
                .extend_from_slice(&self.raw.pixels[i * n..(i + 1) * n]);
        }
        ImageSet {
            raw,
            origin: self.origin.clone(),
        }
    }

    /// A seeded random split: `(rest, held_out)` with `fraction` of the images held out.
    pub fn split(&self, fraction: f64, rng: &mut Rng) -> (ImageSet, ImageSet) {
        let (rest, held) = rng::split_indices(self.len(), fraction, rng);
        (self.subset(&rest), self.subset(&held))
    }

    /// Per-channel mean and (population) standard deviation of the pixels divided by `scale`:
    /// the statistics `--standardize` stores in a model.
    pub fn channel_stats(&self, scale: f32) -> (Vec<f32>, Vec<f32>) {
        let [c, h, w] = self.raw.shape;
        let plane = h * w;
        let mut sum = vec![0.0f64; c];
        let mut sq = vec![0.0f64; c];
        for img in self.raw.pixels.chunks(c * plane) {
            for (ch, p) in img.chunks(plane).enumerate() {
                for &v in p {
                    let v = (v / scale) as f64;
                    sum[ch] += v;
                    sq[ch] += v * v;
                }
            }
        }
        let count = (self.len() * plane).max(1) as f64;
        let mean: Vec<f64> = sum.iter().map(|s| s / count).collect();
        let std = sq
            .iter()
            .zip(&mean)
            .map(|(q, m)| ((q / count - m * m).max(0.0).sqrt() as f32).max(1e-6))
            .collect();
        (mean.into_iter().map(|m| m as f32).collect(), std)
    }

    /// CRC-32 of shape, pixels and labels: identifies the training data in model provenance.
    pub fn fingerprint(&self) -> String {
        let mut h = crc32fast::Hasher::new();
        for s in self.raw.shape {
            h.update(&(s as u64).to_le_bytes());
        }
        for v in &self.raw.pixels {
            h.update(&v.to_le_bytes());
        }
        for l in self.labels() {
            h.update(&(*l as u64).to_le_bytes());
        }
        format!("crc32:{:08x}", h.finalize())
    }

    /// The network input `[B, C, H, W]` of the images at `idx`, scaled by `pre`.
    pub fn inputs(&self, idx: &[usize], pre: &Preprocess) -> Array {
        let [c, h, w] = self.raw.shape;
        let (n, plane) = (self.image_len(), h * w);
        let mut x = Vec::with_capacity(idx.len() * n);
        let inv = 1.0 / pre.scale;
        for &i in idx {
            let img = &self.raw.pixels[i * n..(i + 1) * n];
            for (ch, p) in img.chunks(plane).enumerate() {
                let (m, s) = (pre.mean[ch], 1.0 / pre.std[ch]);
                x.extend(p.iter().map(|&v| (v * inv - m) * s));
            }
        }
        Array::from_shape_vec(ndarray::IxDyn(&[idx.len(), c, h, w]), x).expect("sized above")
    }

    /// A training batch: inputs `[B, C, H, W]` and class labels `[B, 1]`.
    pub fn batch(&self, idx: &[usize], pre: &Preprocess) -> (Array, Array) {
        (self.inputs(idx, pre), self.label_column(idx))
    }

    fn label_column(&self, idx: &[usize]) -> Array {
        let labels = self.labels();
        Array::from_shape_fn(ndarray::IxDyn(&[idx.len(), 1]), |d| {
            labels.get(idx[d[0]]).map_or(f32::NAN, |&l| l as f32)
        })
    }

    /// A training batch whose images are translated: image `k` moves `shifts[k] = [down,
    /// right]` pixels (negative: up, left), the uncovered border filled with raw value 0.
    pub fn batch_shifted(
        &self,
        idx: &[usize],
        pre: &Preprocess,
        shifts: &[[isize; 2]],
    ) -> (Array, Array) {
        let [c, h, w] = self.raw.shape;
        let (n, plane) = (self.image_len(), h * w);
        let inv = 1.0 / pre.scale;
        let mut x = Vec::with_capacity(idx.len() * n);
        for (&i, &[dy, dx]) in idx.iter().zip(shifts) {
            let img = &self.raw.pixels[i * n..(i + 1) * n];
            for (ch, p) in img.chunks(plane).enumerate() {
                let (m, s) = (pre.mean[ch], 1.0 / pre.std[ch]);
                for r in 0..h as isize {
                    let sr = r - dy;
                    for col in 0..w as isize {
                        let sc = col - dx;
                        let inside = (0..h as isize).contains(&sr) && (0..w as isize).contains(&sc);
                        let v = if inside {
                            p[sr as usize * w + sc as usize]
                        } else {
                            0.0
                        };
                        x.push((v * inv - m) * s);
                    }
                }
            }
        }
        let x =
            Array::from_shape_vec(ndarray::IxDyn(&[idx.len(), c, h, w]), x).expect("sized above");
        (x, self.label_column(idx))
    }

    /// Checks that the images have the shape `arch` takes.
    pub fn check_fits(&self, arch: &Arch) -> Result<()> {
        let want = [
            arch.input.channels,
            arch.input.height.unwrap_or(0),
            arch.input.width.unwrap_or(0),
        ];
        if !arch.input.is_image() {
            return Err(Error::Config(format!(
                "architecture '{}' takes sequences, not images",
                arch.name
            )));
        }
        if self.raw.shape != want {
            return Err(Error::parse(
                crate::io::input::input_name(&self.origin),
                0,
                format!(
                    "images are {}x{}x{} (C x H x W) but the model takes {}x{}x{}",
                    self.raw.shape[0],
                    self.raw.shape[1],
                    self.raw.shape[2],
                    want[0],
                    want[1],
                    want[2]
                ),
            ));
        }
        Ok(())
    }
}

/// Whether `path` should be read as images: an IDX file, or any file when a CSV image shape is
/// given.
pub fn is_image_input(path: &Path, csv_shape: Option<[usize; 3]>) -> Result<bool> {
    if csv_shape.is_some() {
        return Ok(true);
    }
    if path.as_os_str() == "-" {
        return Ok(false);
    }
    super::idx::looks_like_idx(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set() -> ImageSet {
        ImageSet {
            raw: RawImages {
                shape: [2, 1, 2],
                pixels: vec![0., 255., 10., 20., 51., 102., 30., 40.],
                labels: Some(vec![1, 0]),
                lines: vec![1, 2],
            },
            origin: "x.csv".into(),
        }
    }

    #[test]
    fn batches_scale_and_standardise_per_channel() {
        let s = set();
        let pre = Preprocess {
            scale: 255.0,
            mean: vec![0.0, 0.0],
            std: vec![1.0, 1.0],
        };
        let (x, y) = s.batch(&[1, 0], &pre);
        assert_eq!(x.shape(), &[2, 2, 1, 2]);
        assert!((x[[0, 0, 0, 1]] - 0.4).abs() < 1e-6);
        assert_eq!(x[[1, 0, 0, 1]], 1.0);
        assert_eq!(y.iter().copied().collect::<Vec<_>>(), vec![0.0, 1.0]);
        let (mean, std) = s.channel_stats(1.0);
        assert_eq!(mean, vec![102.0, 25.0]);
        assert!((std[1] - 125.0f32.sqrt()).abs() < 1e-4, "{std:?}");
        let pre = Preprocess {
            scale: 1.0,
            mean,
            std,
        };
        let x = s.inputs(&[0, 1], &pre);
        let ch1: f32 = x.slice(ndarray::s![.., 1, .., ..]).sum();
        assert!(ch1.abs() < 1e-5);
    }

    #[test]
    fn shifted_batches_move_pixels_and_fill_with_zero() {
        let s = ImageSet {
            raw: RawImages {
                shape: [1, 2, 3],
                pixels: vec![1., 2., 3., 4., 5., 6.],
                labels: Some(vec![0]),
                lines: vec![1],
            },
            origin: "x".into(),
        };
        let pre = Preprocess {
            scale: 1.0,
            mean: vec![0.0],
            std: vec![1.0],
        };
        let flat = |shift: [isize; 2]| {
            let (x, _) = s.batch_shifted(&[0], &pre, &[shift]);
            x.iter().copied().collect::<Vec<f32>>()
        };
        assert_eq!(flat([0, 0]), vec![1., 2., 3., 4., 5., 6.]);
        assert_eq!(flat([1, 0]), vec![0., 0., 0., 1., 2., 3.]);
        assert_eq!(flat([0, -1]), vec![2., 3., 0., 5., 6., 0.]);
        assert_eq!(flat([-1, 2]), vec![0., 0., 4., 0., 0., 0.]);
    }

    #[test]
    fn splits_are_seeded_and_disjoint() {
        let mut big = set();
        big.raw.pixels = (0..40).map(|v| v as f32).collect();
        big.raw.labels = Some((0..10).map(|v| v % 3).collect());
        big.raw.lines = (1..=10).collect();
        let (a, b) = big.split(0.3, &mut rng::seeded(4));
        let (a2, _) = big.split(0.3, &mut rng::seeded(4));
        assert_eq!((a.len(), b.len()), (7, 3));
        assert_eq!(a.raw.lines, a2.raw.lines);
        assert!(a.raw.lines.iter().all(|l| !b.raw.lines.contains(l)));
        assert_eq!(big.n_classes(), 3);
    }
}
