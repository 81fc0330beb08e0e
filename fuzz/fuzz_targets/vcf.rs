//! VCF header and records (`seqcnn::io::vcf::VcfReader`), each record written back as
//! `variants --out-vcf` does and its ALT alleles classified.
#![no_main]

use libfuzzer_sys::fuzz_target;
use seqcnn::io::vcf::{VcfReader, alt_kind};
use seqcnn_fuzz::MAX_RECORDS;

fuzz_target!(|data: &[u8]| {
    let Ok(reader) = VcfReader::new(data, "fuzz.vcf") else {
        return;
    };
    let _ = reader.header().clone();
    for rec in reader.take(MAX_RECORDS) {
        let Ok(rec) = rec else { break };
        for alt in &rec.alts {
            let _ = alt_kind(alt);
        }
        let _ = rec.to_line("X=1");
    }
});
