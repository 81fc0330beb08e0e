//! MEME minimal motif files (`seqcnn::io::meme::parse_meme`), written back with `write_meme`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use seqcnn::io::meme::{parse_meme, write_meme};

fuzz_target!(|data: &[u8]| {
    if let Ok(file) = parse_meme(data, "fuzz.meme".as_ref()) {
        let mut out = Vec::new();
        let _ = write_meme(&mut out, &file);
    }
});
