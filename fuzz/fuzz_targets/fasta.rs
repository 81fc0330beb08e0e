//! FASTA records (`seqcnn::io::fasta::FastaReader`) from arbitrary bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use seqcnn::io::fasta::FastaReader;
use seqcnn_fuzz::MAX_RECORDS;

fuzz_target!(|data: &[u8]| {
    for rec in FastaReader::new(data, "fuzz.fa").take(MAX_RECORDS) {
        let Ok(rec) = rec else { break };
        // Every record the reader returns is one the encoder accepts.
        let _ = seqcnn::encode::check_sequence(&rec.seq);
    }
});
