//! The sequence reader every sequence command uses (`seqcnn::io::sequence::sequence_records`):
//! gzip detection, format sniffing (FASTA, table, one sequence per line) and the sequence check,
//! through a file as the commands read it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use seqcnn::io::sequence::sequence_records;
use seqcnn_fuzz::{MAX_RECORDS, scratch_file};

fuzz_target!(|data: &[u8]| {
    let path = scratch_file("input.seq", data);
    let Ok(records) = sequence_records(&path, None) else {
        return;
    };
    let _ = records.format();
    for rec in records.take(MAX_RECORDS) {
        if rec.is_err() {
            break;
        }
    }
});
