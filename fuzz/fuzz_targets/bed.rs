//! BED and narrowPeak intervals (`seqcnn::io::bed::BedReader`), and what `predict --genome` and
//! `mutate` compute from each record (centre, scoring window, label).
#![no_main]

use libfuzzer_sys::fuzz_target;
use seqcnn::io::bed::BedReader;
use seqcnn_fuzz::MAX_RECORDS;

fuzz_target!(|data: &[u8]| {
    for rec in BedReader::new(data, "fuzz.bed").take(MAX_RECORDS) {
        let Ok(rec) = rec else { break };
        let _ = rec.centre();
        let _ = rec.window(1000);
        let _ = rec.window(101);
        let _ = rec.label();
        let _ = rec.written_contig();
    }
});
