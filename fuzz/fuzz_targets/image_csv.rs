//! CSV images (`seqcnn::vision::raw::read_csv`, as `--image-shape C,H,W` inputs are read). The
//! first two bytes pick the shape (1 to 3 channels, 1 to 8 rows and columns) and where the label
//! is; the rest is the CSV.
#![no_main]

use libfuzzer_sys::fuzz_target;
use seqcnn::vision::raw::{LabelColumn, read_csv};

fuzz_target!(|data: &[u8]| {
    let Some((&[a, b], csv)) = data.split_first_chunk::<2>() else {
        return;
    };
    let shape = [
        1 + usize::from(a % 3),
        1 + usize::from(b % 8),
        1 + usize::from(b / 8 % 8),
    ];
    let label = match a / 3 % 3 {
        0 => LabelColumn::First,
        1 => LabelColumn::Last,
        _ => LabelColumn::None,
    };
    if let Ok(images) = read_csv(csv, "fuzz.csv", shape, label) {
        let _ = (images.len(), images.pixels.len());
    }
});
