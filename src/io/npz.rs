//! NumPy `.npz` output: named `float32` arrays in an uncompressed zip, as `numpy.savez` writes
//! them (`numpy.load(path)["name"]` reads each back), through `ndarray-npy`. The file appears
//! whole or not at all ([`AtomicFile`]); a zip needs seeks, so standard output and pipes are
//! refused.

use std::path::Path;

use ndarray::ArrayViewD;
use zip::write::SimpleFileOptions;

use super::output::AtomicFile;
use crate::error::{Error, Result};

/// Writes `arrays` (`(name, values)`, each stored as `name.npy`) to the `.npz` file `path`.
///
/// ```
/// use ndarray::{Array3, ArrayD};
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("x.npz");
/// let a: ArrayD<f32> = Array3::zeros((2, 4, 3)).into_dyn();
/// seqcnn::io::npz::write_npz(&path, &[("attributions", a.view())]).unwrap();
/// let mut npz = ndarray_npy::NpzReader::new(std::fs::File::open(&path).unwrap()).unwrap();
/// let back: ArrayD<f32> = npz.by_name("attributions").unwrap();
/// assert_eq!(back.shape(), &[2, 4, 3]);
/// ```
pub fn write_npz(path: &Path, arrays: &[(&str, ArrayViewD<f32>)]) -> Result<()> {
    write_npz_with_text(path, arrays, &[])
}

/// [`write_npz`] plus text arrays (`(name, strings)`), each a 1-D NumPy unicode array (`<U`
/// of the longest string; `numpy.load` reads it without pickle).
pub fn write_npz_with_text(
    path: &Path,
    arrays: &[(&str, ArrayViewD<f32>)],
    texts: &[(&str, &[String])],
) -> Result<()> {
    use ndarray_npy::WriteNpyExt;
    use std::io::Write;
    let out = AtomicFile::create(path)?;
    let file = std::io::BufWriter::new(out.file()?);
    let fail = |e: &dyn std::fmt::Display| Error::io(path, std::io::Error::other(e.to_string()));
    let mut zip = zip::ZipWriter::new(file);
    for (name, a) in arrays {
        // Zip64 for members past 4 GiB (numpy reads both).
        let bytes = (a.len() as u64).saturating_mul(4);
        let options = SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored)
            .large_file(bytes >= u64::from(u32::MAX) - (1 << 20));
        zip.start_file(format!("{name}.npy"), options)
            .map_err(|e| fail(&e))?;
        a.write_npy(&mut zip).map_err(|e| fail(&e))?;
    }
    for (name, strings) in texts {
        let options =
            SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
        zip.start_file(format!("{name}.npy"), options)
            .map_err(|e| fail(&e))?;
        zip.write_all(&unicode_npy(strings))
            .map_err(|e| Error::io(path, e))?;
    }
    let mut file = zip.finish().map_err(|e| fail(&e))?;
    file.flush().map_err(|e| Error::io(path, e))?;
    drop(file);
    out.commit()
}

/// A `.npy` file of a 1-D unicode array (`<U{w}`, UTF-32 little-endian, each string padded
/// with NULs to the longest).
fn unicode_npy(strings: &[String]) -> Vec<u8> {
    let width = strings
        .iter()
        .map(|s| s.chars().count())
        .max()
        .unwrap_or(0)
        .max(1);
    let mut header = format!(
        "{{'descr': '<U{width}', 'fortran_order': False, 'shape': ({},), }}",
        strings.len()
    );
    // Magic (6) + version (2) + length (2) + header + newline, padded to 64 bytes.
    let total = 10 + header.len() + 1;
    header.push_str(&" ".repeat((64 - total % 64) % 64));
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for s in strings {
        let mut n = 0;
        for c in s.chars() {
            out.extend_from_slice(&(c as u32).to_le_bytes());
            n += 1;
        }
        out.extend(std::iter::repeat_n(0u8, 4 * (width - n)));
    }
    out
}

/// Reads the 1-D unicode array `name` of the `.npz` file `path` (`None` when it has none).
pub fn read_text(path: &Path, name: &str) -> Result<Option<Vec<String>>> {
    use std::io::Read;
    let bad = |m: String| Error::parse(path, 0, m);
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut zip =
        zip::ZipArchive::new(file).map_err(|e| bad(format!("not a NumPy .npz file ({e})")))?;
    let mut member = match zip.by_name(&format!("{name}.npy")) {
        Ok(m) => m,
        Err(zip::result::ZipError::FileNotFound) => return Ok(None),
        Err(e) => return Err(bad(format!("array '{name}': {e}"))),
    };
    let mut bytes = Vec::new();
    member
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(path, e))?;
    let fmt = || {
        bad(format!(
            "array '{name}' is not a 1-D little-endian unicode array"
        ))
    };
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(fmt());
    }
    let (hlen, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        _ if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        _ => return Err(fmt()),
    };
    let header =
        std::str::from_utf8(bytes.get(start..start + hlen).ok_or_else(fmt)?).map_err(|_| fmt())?;
    let width: usize = header
        .split("'<U")
        .nth(1)
        .and_then(|r| r.split('\'').next())
        .and_then(|w| w.parse().ok())
        .ok_or_else(fmt)?;
    let data = &bytes[start + hlen..];
    if width == 0 || data.len() % (4 * width) != 0 {
        return Err(fmt());
    }
    data.chunks(4 * width)
        .map(|rec| {
            rec.chunks(4)
                .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .take_while(|&u| u != 0)
                .map(|u| char::from_u32(u).ok_or_else(fmt))
                .collect::<Result<String>>()
        })
        .collect::<Result<Vec<String>>>()
        .map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array1, Array3, ArrayD};

    #[test]
    fn arrays_read_back_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.npz");
        let a = Array3::from_shape_fn((2, 4, 5), |(i, j, k)| (i * 100 + j * 10 + k) as f32);
        let b = Array1::from(vec![0.5f32, -1.0]);
        write_npz(
            &path,
            &[("a", a.view().into_dyn()), ("b", b.view().into_dyn())],
        )
        .unwrap();
        let mut npz = ndarray_npy::NpzReader::new(std::fs::File::open(&path).unwrap()).unwrap();
        let mut names = npz.names().unwrap();
        names.sort();
        assert_eq!(names, ["a", "b"]);
        let back: ArrayD<f32> = npz.by_name("a").unwrap();
        assert_eq!(back, a.into_dyn());
        let back: ArrayD<f32> = npz.by_name("b").unwrap();
        assert_eq!(back, b.into_dyn());
    }

    #[test]
    fn text_arrays_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.npz");
        let a = Array1::from(vec![1.0f32]).into_dyn();
        let names = vec![
            "chr20:1-101".to_string(),
            "peak_é".to_string(),
            String::new(),
        ];
        write_npz_with_text(&path, &[("a", a.view())], &[("names", &names)]).unwrap();
        assert_eq!(read_text(&path, "names").unwrap().unwrap(), names);
        assert_eq!(read_text(&path, "loci").unwrap(), None);
        let mut npz = ndarray_npy::NpzReader::new(std::fs::File::open(&path).unwrap()).unwrap();
        let back: ArrayD<f32> = npz.by_name("a").unwrap();
        assert_eq!(back, a);
    }

    #[test]
    fn standard_output_is_refused() {
        let a = Array1::<f32>::zeros(2).into_dyn();
        let e = write_npz(Path::new("-"), &[("a", a.view())]).unwrap_err();
        assert!(e.to_string().contains("seeks"), "{e}");
    }
}
