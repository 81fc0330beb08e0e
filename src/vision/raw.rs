//! Images as read from their files, pixel values unscaled ([`RawImages`]): the CSV reader, and
//! the pairing of IDX images with their IDX labels ([`super::idx`] reads each file).
//!
//! CSV: one image a row, `label,p1,...,pn` (or the label last, or no label), the `n`
//! pixel values in `C, H, W` order (row-major per channel, as PyTorch's `reshape(C, H, W)`), the
//! shape given by the caller (`--image-shape C,H,W`). Plain or gzip; an optional header row (a
//! first row whose first field is not a number) and blank lines are skipped. Never panics: a
//! row of a different length, a value that is not a finite number or a label that is not a
//! class index is an error naming the file and line.

use std::io::BufRead;
use std::path::Path;

use crate::error::{Error, Result};

/// Where the class label is in a CSV row.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LabelColumn {
    /// `label,p1,...,pn`.
    #[default]
    First,
    /// `p1,...,pn,label` (scikit-learn's `digits.csv`).
    Last,
    /// `p1,...,pn`: no labels.
    None,
}

/// Images read from a file, pixel values as given (not yet scaled).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RawImages {
    /// `[channels, height, width]`.
    pub shape: [usize; 3],
    /// `count * C * H * W` values.
    pub pixels: Vec<f32>,
    /// One class index per image, when the file has labels.
    pub labels: Option<Vec<usize>>,
    /// 1-based line of each image in its file (CSV), or its 1-based index (IDX).
    pub lines: Vec<u64>,
}

impl RawImages {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.lines.len()
    }

    /// Whether there are no images.
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }
}

/// Parses `C,H,W` (or `H,W` for one channel) as given to `--image-shape`.
///
/// ```
/// use seqcnn::vision::raw::parse_shape;
/// assert_eq!(parse_shape("1,8,8").unwrap(), [1, 8, 8]);
/// assert_eq!(parse_shape("28x28").unwrap(), [1, 28, 28]);
/// assert!(parse_shape("1,0,8").is_err());
/// ```
pub fn parse_shape(text: &str) -> Result<[usize; 3]> {
    let bad = || {
        Error::Config(format!(
            "image shape '{text}' is not C,H,W (positive integers, e.g. 1,28,28)"
        ))
    };
    let parts: Vec<usize> = text
        .split([',', 'x'])
        .map(|p| p.trim().parse::<usize>().map_err(|_| bad()))
        .collect::<Result<_>>()?;
    let shape = match parts[..] {
        [c, h, w] => [c, h, w],
        [h, w] => [1, h, w],
        _ => return Err(bad()),
    };
    if shape.contains(&0) {
        return Err(bad());
    }
    Ok(shape)
}

fn parse_label(field: &str) -> Option<usize> {
    let v: f64 = field.trim().parse().ok()?;
    (v >= 0.0 && v.fract() == 0.0 && v <= u32::MAX as f64).then_some(v as usize)
}

/// Reads CSV images from any reader; `path` names the input in errors.
///
/// ```
/// use seqcnn::vision::raw::{LabelColumn, read_csv};
/// let data = "label,a,b,c,d\n3,0,255,10,20\n\n1,1,2,3,4\r\n";
/// let im = read_csv(data.as_bytes(), "x.csv", [1, 2, 2], LabelColumn::First).unwrap();
/// assert_eq!(im.labels, Some(vec![3, 1]));
/// assert_eq!((im.pixels[1], im.lines.clone()), (255.0, vec![2, 4]));
/// let err = read_csv("1,2,3\n4,5\n".as_bytes(), "y.csv", [1, 1, 2], LabelColumn::Last).unwrap_err();
/// assert!(err.to_string().starts_with("y.csv:2: 2 fields"));
/// ```
pub fn read_csv(
    reader: impl BufRead,
    path: impl AsRef<Path>,
    shape: [usize; 3],
    label: LabelColumn,
) -> Result<RawImages> {
    let path = path.as_ref();
    let n: usize = shape.iter().product();
    let want = n + usize::from(label != LabelColumn::None);
    let mut out = RawImages {
        shape,
        labels: (label != LabelColumn::None).then(Vec::new),
        ..Default::default()
    };
    let layout = match label {
        LabelColumn::First => format!("a label and {n} pixels"),
        LabelColumn::Last => format!("{n} pixels and a label"),
        LabelColumn::None => format!("{n} pixels"),
    };
    let mut seen_data = false;
    for (i, line) in reader.lines().enumerate() {
        let lno = i as u64 + 1;
        let line = line.map_err(|e| crate::io::input::read_error(path, lno, e))?;
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split(',').collect();
        if !seen_data && fields[0].trim().parse::<f64>().is_err() {
            // A header row.
            seen_data = true;
            continue;
        }
        seen_data = true;
        if fields.len() != want {
            return Err(Error::parse(
                path,
                lno,
                format!(
                    "{} fields, expected {want} ({layout} for --image-shape {},{},{}); rows must all have the same length",
                    fields.len(),
                    shape[0],
                    shape[1],
                    shape[2]
                ),
            ));
        }
        let (lab, pix) = match label {
            LabelColumn::First => (Some(fields[0]), &fields[1..]),
            LabelColumn::Last => (Some(fields[n]), &fields[..n]),
            LabelColumn::None => (None, &fields[..]),
        };
        if let (Some(l), Some(labels)) = (lab, out.labels.as_mut()) {
            let v = parse_label(l).ok_or_else(|| {
                Error::parse(
                    path,
                    lno,
                    format!("label '{}' is not a class index (0, 1, 2...)", l.trim()),
                )
            })?;
            labels.push(v);
        }
        for (j, f) in pix.iter().enumerate() {
            match f.trim().parse::<f32>() {
                Ok(v) if v.is_finite() => out.pixels.push(v),
                _ => {
                    return Err(Error::parse(
                        path,
                        lno,
                        format!("pixel {} '{}' is not a finite number", j + 1, f.trim()),
                    ));
                }
            }
        }
        out.lines.push(lno);
    }
    if out.is_empty() {
        return Err(Error::parse(path, 0, "no images"));
    }
    Ok(out)
}

/// Reads a CSV image file (plain or gzip; `-` for stdin).
pub fn read_csv_file(path: &Path, shape: [usize; 3], label: LabelColumn) -> Result<RawImages> {
    read_csv(
        crate::io::input::open_input(path)?,
        crate::io::input::input_name(path),
        shape,
        label,
    )
}

/// Reads IDX images and, if given, their IDX labels (the counts must agree). Images are one
/// channel: `[1, rows, cols]`.
pub fn read_idx_files(images: &Path, labels: Option<&Path>) -> Result<RawImages> {
    let im = super::idx::read_images(images)?;
    if im.rows == 0 || im.cols == 0 {
        // Images of no pixels take no bytes, so the count is not bounded by the file's size.
        return Err(Error::parse(
            crate::io::input::input_name(images),
            0,
            format!(
                "the header says {} images of {}x{} pixels: an image needs at least one row and one column",
                im.count, im.rows, im.cols
            ),
        ));
    }
    let labels = match labels {
        Some(p) => {
            let l = super::idx::read_labels(p)?;
            if l.len() != im.count {
                return Err(Error::parse(
                    crate::io::input::input_name(p),
                    0,
                    format!(
                        "{} labels for the {} images of {}",
                        l.len(),
                        im.count,
                        images.display()
                    ),
                ));
            }
            Some(l.into_iter().map(usize::from).collect())
        }
        None => None,
    };
    if im.count == 0 {
        return Err(Error::parse(
            crate::io::input::input_name(images),
            0,
            "no images",
        ));
    }
    Ok(RawImages {
        shape: [1, im.rows, im.cols],
        pixels: im.pixels.into_iter().map(f32::from).collect(),
        labels,
        lines: (1..=im.count as u64).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idx_images_of_no_pixels_are_an_error_not_a_huge_allocation() {
        // Fuzz target `idx`: 2^32 - 1 images of 0x0 pixels fit in a 16-byte file, and one line
        // number per image asked for 32 GiB.
        let crash = b"\x00\x00\x08\x03\xff\xff\xff\xff\x00\x00\x00\x00\x00\x00\x00\x00";
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("images.idx");
        std::fs::write(&p, crash).unwrap();
        let e = read_idx_files(&p, None).unwrap_err().to_string();
        assert_eq!(
            e,
            format!(
                "{}: the header says 4294967295 images of 0x0 pixels: an image needs at least \
                 one row and one column",
                p.display()
            )
        );
    }

    #[test]
    fn rows_of_differing_length_name_their_line() {
        let data = "0,1,2,3,4\n1,1,2,3,4\n2,1,2,3\n";
        let err = read_csv(data.as_bytes(), "d.csv", [1, 2, 2], LabelColumn::First)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("d.csv:3: 4 fields, expected 5 (a label and 4 pixels"),
            "{err}"
        );
    }

    #[test]
    fn bad_values_and_labels_are_errors() {
        let shape = [1, 1, 2];
        for (data, needle) in [
            ("1,2,x\n", "d.csv:1: pixel 2 'x'"),
            ("1,2,inf\n", "pixel 2 'inf' is not a finite number"),
            ("-1,2,3\n", "label '-1' is not a class index"),
            ("1.5,2,3\n", "label '1.5'"),
            ("", "no images"),
            ("a,b,c\n", "no images"),
        ] {
            let err = read_csv(data.as_bytes(), "d.csv", shape, LabelColumn::First)
                .unwrap_err()
                .to_string();
            assert!(err.contains(needle), "{data:?}: {err}");
        }
        let im = read_csv("1,2\n3,4\n".as_bytes(), "d.csv", shape, LabelColumn::None).unwrap();
        assert_eq!((im.labels, im.pixels), (None, vec![1.0, 2.0, 3.0, 4.0]));
    }

    #[test]
    fn shapes() {
        assert_eq!(parse_shape(" 3, 32 ,32").unwrap(), [3, 32, 32]);
        for bad in ["", "1", "1,2,3,4", "a,b,c", "1,-2,3"] {
            assert!(parse_shape(bad).is_err(), "{bad}");
        }
    }
}
