//! DeepBind-style sequence tables (`seqcnn::io::table::TableReader`): header, `seq` and `EventID`
//! columns, label columns (the default `Bound`, then every other column of the header as labels).
#![no_main]

use libfuzzer_sys::fuzz_target;
use seqcnn::io::table::{SEQ_COLUMN, TableReader};
use seqcnn_fuzz::MAX_RECORDS;

fn drain(data: &[u8], labels: Option<&[String]>) -> Option<Vec<String>> {
    let reader = TableReader::new(data, "fuzz.seq", labels).ok()?;
    let columns = reader.columns().to_vec();
    for rec in reader.take(MAX_RECORDS) {
        if rec.is_err() {
            break;
        }
    }
    Some(columns)
}

fuzz_target!(|data: &[u8]| {
    if let Some(columns) = drain(data, None) {
        let labels: Vec<String> = columns
            .into_iter()
            .filter(|c| c != SEQ_COLUMN)
            .take(4)
            .collect();
        drain(data, Some(&labels));
    }
});
