//! IDX files, the format of the MNIST digits (LeCun et al.): a big-endian header (magic number
//! `0x00000803` for unsigned-byte images `[count, rows, cols]`, `0x00000801` for unsigned-byte
//! labels `[count]`) followed by the bytes. Plain or gzip-compressed; parsers work over `&[u8]`
//! and never panic: a wrong magic number, a header cut short, a count larger than the file holds
//! or bytes left over after the last item are errors naming the file.

use std::io::Read;
use std::path::Path;

use crate::error::{Error, Result};

/// Magic number of an unsigned-byte image file `[count, rows, cols]`.
pub const IMAGES_MAGIC: u32 = 0x0000_0803;
/// Magic number of an unsigned-byte label file `[count]`.
pub const LABELS_MAGIC: u32 = 0x0000_0801;

/// Images from an IDX file: `count` images of `rows x cols` pixels, row-major, one byte each.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdxImages {
    pub count: usize,
    pub rows: usize,
    pub cols: usize,
    pub pixels: Vec<u8>,
}

fn be32(data: &[u8], at: usize) -> Option<u32> {
    data.get(at..at + 4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

fn describe(magic: u32) -> String {
    match magic {
        IMAGES_MAGIC => "an IDX image file".into(),
        LABELS_MAGIC => "an IDX label file".into(),
        m if m >> 16 == 0 && (m >> 8) & 0xff != 0 => format!(
            "an IDX file of type 0x{:02x} with {} dimension(s)",
            (m >> 8) & 0xff,
            m & 0xff
        ),
        _ => "not an IDX file".into(),
    }
}

/// Reads the header of an IDX file with magic `want` and `dims` dimensions; returns the sizes
/// and the data after the header, checked to hold exactly the items the header announces.
fn parse<'a>(
    data: &'a [u8],
    want: u32,
    dims: usize,
    what: &str,
) -> Result<(Vec<usize>, &'a [u8]), String> {
    let magic = be32(data, 0).ok_or_else(|| {
        format!(
            "file of {} bytes is too short for an IDX header",
            data.len()
        )
    })?;
    if magic != want {
        return Err(format!(
            "magic number 0x{magic:08x} ({}), expected 0x{want:08x} ({what})",
            describe(magic)
        ));
    }
    let header = 4 + 4 * dims;
    let sizes: Vec<usize> = (0..dims)
        .map(|d| be32(data, 4 + 4 * d).map(|v| v as usize))
        .collect::<Option<_>>()
        .ok_or_else(|| format!("IDX header cut short ({} of {header} bytes)", data.len()))?;
    let item: usize = sizes[1..].iter().product();
    let need = sizes[0]
        .checked_mul(item)
        .ok_or_else(|| format!("header sizes {sizes:?} overflow"))?;
    let body = &data[header..];
    if need > body.len() {
        let held = body.len().checked_div(item).unwrap_or(0);
        return Err(format!(
            "header says {} {what} but the file holds only {held} ({} of {need} data bytes)",
            sizes[0],
            body.len()
        ));
    }
    if need < body.len() {
        return Err(format!(
            "{} bytes after the {} {what} the header announces",
            body.len() - need,
            sizes[0]
        ));
    }
    Ok((sizes, body))
}

/// Parses an IDX image file (`0x00000803`) already in memory.
///
/// ```
/// use seqcnn::vision::idx;
/// let mut data = vec![0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 3];
/// data.extend(0..12u8);
/// let im = idx::parse_images(&data).unwrap();
/// assert_eq!((im.count, im.rows, im.cols, im.pixels[11]), (2, 2, 3, 11));
/// // A label file where images were expected, and a header promising more than the data.
/// assert!(idx::parse_images(&[0, 0, 8, 1, 0, 0, 0, 0]).unwrap_err().contains("label file"));
/// assert!(idx::parse_images(&data[..20]).unwrap_err().contains("holds only 0"));
/// ```
pub fn parse_images(data: &[u8]) -> Result<IdxImages, String> {
    let (sizes, body) = parse(data, IMAGES_MAGIC, 3, "images")?;
    Ok(IdxImages {
        count: sizes[0],
        rows: sizes[1],
        cols: sizes[2],
        pixels: body.to_vec(),
    })
}

/// Parses an IDX label file (`0x00000801`) already in memory.
///
/// ```
/// use seqcnn::vision::idx;
/// assert_eq!(idx::parse_labels(&[0, 0, 8, 1, 0, 0, 0, 3, 7, 2, 1]).unwrap(), vec![7, 2, 1]);
/// assert!(idx::parse_labels(&[0, 0, 8, 1, 0, 0, 0, 4, 7, 2, 1]).unwrap_err().contains("header says 4 labels"));
/// ```
pub fn parse_labels(data: &[u8]) -> Result<Vec<u8>, String> {
    let (_, body) = parse(data, LABELS_MAGIC, 1, "labels")?;
    Ok(body.to_vec())
}

/// The whole (decompressed) content of `path`; a truncated gzip stream is bad input.
fn read_all(path: &Path) -> Result<Vec<u8>> {
    let mut data = Vec::new();
    crate::io::input::open_input(path)?
        .read_to_end(&mut data)
        .map_err(|e| crate::io::input::read_error(&crate::io::input::input_name(path), 0, e))?;
    Ok(data)
}

/// Whether `path` starts (after gzip decompression) with an IDX magic number: two zero bytes, the
/// unsigned-byte type `0x08`, then 1 to 4 dimensions. Sequence files and CSV never start so.
pub fn looks_like_idx(path: &Path) -> Result<bool> {
    let mut head = [0u8; 4];
    let mut input = crate::io::input::open_input(path)?;
    let mut got = 0;
    while got < 4 {
        match input.read(&mut head[got..]) {
            Ok(0) => break,
            Ok(k) => got += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                return Err(crate::io::input::read_error(
                    &crate::io::input::input_name(path),
                    0,
                    e,
                ));
            }
        }
    }
    Ok(got == 4 && head[..3] == [0, 0, 8] && (1..=4).contains(&head[3]))
}

/// Reads an IDX image file (plain or gzip).
pub fn read_images(path: &Path) -> Result<IdxImages> {
    let data = read_all(path)?;
    parse_images(&data).map_err(|m| Error::parse(crate::io::input::input_name(path), 0, m))
}

/// Reads an IDX label file (plain or gzip).
pub fn read_labels(path: &Path) -> Result<Vec<u8>> {
    let data = read_all(path)?;
    parse_labels(&data).map_err(|m| Error::parse(crate::io::input::input_name(path), 0, m))
}

/// Writes images as an IDX image file (gzip-compressed when `path` ends in `.gz`), atomically.
pub fn write_images(path: &Path, im: &IdxImages) -> Result<()> {
    let mut bytes = Vec::with_capacity(16 + im.pixels.len());
    for v in [IMAGES_MAGIC as usize, im.count, im.rows, im.cols] {
        bytes.extend_from_slice(&(v as u32).to_be_bytes());
    }
    bytes.extend_from_slice(&im.pixels);
    write(path, &bytes)
}

/// Writes labels as an IDX label file (gzip-compressed when `path` ends in `.gz`), atomically.
pub fn write_labels(path: &Path, labels: &[u8]) -> Result<()> {
    let mut bytes = Vec::with_capacity(8 + labels.len());
    bytes.extend_from_slice(&LABELS_MAGIC.to_be_bytes());
    bytes.extend_from_slice(&(labels.len() as u32).to_be_bytes());
    bytes.extend_from_slice(labels);
    write(path, &bytes)
}

fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut out = crate::io::output::AtomicOutput::create(path)?;
    std::io::Write::write_all(&mut out, bytes).map_err(|e| out.error(e))?;
    out.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn images(count: u32, rows: u32, cols: u32, data: usize) -> Vec<u8> {
        let mut v = Vec::new();
        for x in [IMAGES_MAGIC, count, rows, cols] {
            v.extend_from_slice(&x.to_be_bytes());
        }
        v.extend((0..data).map(|i| i as u8));
        v
    }

    #[test]
    fn bad_headers_are_errors_not_panics() {
        assert!(parse_images(&[]).unwrap_err().contains("too short"));
        let short = parse_images(&[0, 0, 8, 3, 0, 0]).unwrap_err();
        assert!(short.contains("cut short"), "{short}");
        let cut = parse_images(&images(1, 2, 2, 4)[..10]).unwrap_err();
        assert!(cut.contains("cut short"), "{cut}");
        let text = parse_images(b"ACGTACGTACGTACGT").unwrap_err();
        assert!(text.contains("not an IDX file"), "{text}");
        let over = parse_images(&images(5, 2, 2, 12)).unwrap_err();
        assert!(
            over.contains("header says 5 images but the file holds only 3"),
            "{over}"
        );
        let extra = parse_images(&images(2, 2, 2, 9)).unwrap_err();
        assert!(extra.contains("1 bytes after the 2 images"), "{extra}");
        let huge = parse_images(&images(u32::MAX, u32::MAX, u32::MAX, 0)).unwrap_err();
        assert!(
            huge.contains("holds only 0") || huge.contains("overflow"),
            "{huge}"
        );
        let zero = parse_images(&images(3, 0, 5, 0)).unwrap();
        assert_eq!(zero.count, 3);
        let lab = parse_labels(&images(1, 1, 1, 1)).unwrap_err();
        assert!(lab.contains("image file"), "{lab}");
    }

    #[test]
    fn round_trip_through_gzip_files() {
        let dir = tempfile::tempdir().unwrap();
        let im = parse_images(&images(3, 2, 4, 24)).unwrap();
        for name in ["x-images-idx3-ubyte", "x-images-idx3-ubyte.gz"] {
            let p = dir.path().join(name);
            write_images(&p, &im).unwrap();
            assert!(looks_like_idx(&p).unwrap());
            assert_eq!(read_images(&p).unwrap(), im);
        }
        let p = dir.path().join("labels.gz");
        write_labels(&p, &[1, 2, 3]).unwrap();
        assert_eq!(read_labels(&p).unwrap(), vec![1, 2, 3]);
        let err = read_images(&p).unwrap_err().to_string();
        assert!(
            err.contains("labels.gz") && err.contains("label file"),
            "{err}"
        );
        let txt = dir.path().join("seqs.fa");
        std::fs::write(&txt, ">a\nACGT\n").unwrap();
        assert!(!looks_like_idx(&txt).unwrap());
    }
}
