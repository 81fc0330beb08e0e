//! A minimal PNG writer for 8-bit RGB images (the occlusion heatmaps): signature, `IHDR`, one
//! zlib-compressed `IDAT` of unfiltered scanlines, `IEND`, each chunk with its CRC-32, on the
//! crates already in use (flate2, crc32fast).

use std::io::Write;
use std::path::Path;

use flate2::Compression;
use flate2::write::ZlibEncoder;

use crate::error::{Error, Result};

const SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1a, b'\n'];

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let mut crc = crc32fast::Hasher::new();
    crc.update(kind);
    crc.update(data);
    out.extend_from_slice(&crc.finalize().to_be_bytes());
}

/// Encodes `rgb` (`width * height * 3` bytes, row-major) as a PNG file's bytes.
///
/// ```
/// let png = seqcnn::vision::png::encode_rgb(2, 1, &[255, 0, 0, 0, 0, 255]).unwrap();
/// assert_eq!(&png[1..4], b"PNG");
/// assert!(seqcnn::vision::png::encode_rgb(2, 2, &[0; 3]).is_err());
/// ```
pub fn encode_rgb(width: u32, height: u32, rgb: &[u8]) -> Result<Vec<u8>> {
    let row = width as usize * 3;
    if width == 0 || height == 0 || rgb.len() != row * height as usize {
        return Err(Error::Config(format!(
            "PNG of {width}x{height} needs {} RGB bytes, got {}",
            row * height as usize,
            rgb.len()
        )));
    }
    let mut ihdr = Vec::with_capacity(13);
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    // 8 bits per channel, colour type 2 (RGB), deflate, no filter method, no interlace.
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    let mut z = ZlibEncoder::new(Vec::new(), Compression::default());
    for line in rgb.chunks(row) {
        // Filter type 0 (none) before every scanline; writes to a Vec cannot fail.
        z.write_all(&[0])
            .and_then(|()| z.write_all(line))
            .map_err(|e| Error::Config(format!("PNG compression: {e}")))?;
    }
    let idat = z
        .finish()
        .map_err(|e| Error::Config(format!("PNG compression: {e}")))?;
    let mut out = SIGNATURE.to_vec();
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(&mut out, b"IDAT", &idat);
    chunk(&mut out, b"IEND", &[]);
    Ok(out)
}

/// Writes an RGB image as a PNG file, atomically.
pub fn write_rgb(path: &Path, width: u32, height: u32, rgb: &[u8]) -> Result<()> {
    let bytes = encode_rgb(width, height, rgb)?;
    let mut out = crate::io::output::AtomicOutput::create(path)?;
    out.write_all(&bytes).map_err(|e| out.error(e))?;
    out.commit()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn chunks_have_lengths_and_crcs_and_the_pixels_come_back() {
        let rgb: Vec<u8> = (0..4 * 3 * 3).map(|i| i as u8 * 7).collect();
        let png = encode_rgb(4, 3, &rgb).unwrap();
        assert_eq!(png[..8], SIGNATURE);
        // Walk the chunks: IHDR, IDAT, IEND, each CRC over type and data.
        let mut at = 8;
        let mut kinds = Vec::new();
        let mut idat = Vec::new();
        while at < png.len() {
            let len = u32::from_be_bytes(png[at..at + 4].try_into().unwrap()) as usize;
            let kind = &png[at + 4..at + 8];
            let data = &png[at + 8..at + 8 + len];
            let crc = u32::from_be_bytes(png[at + 8 + len..at + 12 + len].try_into().unwrap());
            let mut h = crc32fast::Hasher::new();
            h.update(kind);
            h.update(data);
            assert_eq!(h.finalize(), crc);
            if kind == b"IDAT" {
                idat = data.to_vec();
            }
            kinds.push(String::from_utf8(kind.to_vec()).unwrap());
            at += 12 + len;
        }
        assert_eq!(kinds, ["IHDR", "IDAT", "IEND"]);
        let mut raw = Vec::new();
        flate2::read::ZlibDecoder::new(&idat[..])
            .read_to_end(&mut raw)
            .unwrap();
        let rows: Vec<&[u8]> = raw.chunks(13).collect();
        assert_eq!(rows.len(), 3);
        assert!(rows.iter().all(|r| r[0] == 0));
        assert_eq!(rows[2][1..], rgb[24..36]);
    }
}
