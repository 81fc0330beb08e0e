//! NumPy `.npz` output: named `float32` arrays in an uncompressed zip, as `numpy.savez` writes
//! them (`numpy.load(path)["name"]` reads each back), through `ndarray-npy`. The file appears
//! whole or not at all ([`AtomicFile`]); a zip needs seeks, so standard output and pipes are
//! refused.

use std::path::Path;

use ndarray::ArrayViewD;
use ndarray_npy::NpzWriter;
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
    let out = AtomicFile::create(path)?;
    let file = std::io::BufWriter::new(out.file()?);
    let fail = |e: &dyn std::fmt::Display| Error::io(path, std::io::Error::other(e.to_string()));
    let mut npz = NpzWriter::new(file);
    for (name, a) in arrays {
        // Zip64 for members past 4 GiB (numpy reads both).
        let bytes = (a.len() as u64).saturating_mul(4);
        let options = SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored)
            .large_file(bytes >= u64::from(u32::MAX) - (1 << 20));
        npz.add_array_with_options(*name, a, options)
            .map_err(|e| fail(&e))?;
    }
    let mut file = npz.finish().map_err(|e| fail(&e))?;
    std::io::Write::flush(&mut file).map_err(|e| Error::io(path, e))?;
    drop(file);
    out.commit()
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
    fn standard_output_is_refused() {
        let a = Array1::<f32>::zeros(2).into_dyn();
        let e = write_npz(Path::new("-"), &[("a", a.view())]).unwrap_err();
        assert!(e.to_string().contains("seeks"), "{e}");
    }
}
