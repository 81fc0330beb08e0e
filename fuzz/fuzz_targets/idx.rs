//! IDX image and label files (MNIST's format, `seqcnn::vision::idx`): the in-memory parsers, and
//! the loader the image commands use (`ImageSet::load`: gzip detection, the IDX sniff, pairing
//! with labels) through files.
#![no_main]

use libfuzzer_sys::fuzz_target;
use seqcnn::vision::dataset::{ImageSet, ImageSource};
use seqcnn::vision::idx;
use seqcnn_fuzz::scratch_file;

fuzz_target!(|data: &[u8]| {
    let _ = idx::parse_images(data);
    let _ = idx::parse_labels(data);
    let images = scratch_file("images.idx", data);
    let mut src = ImageSource {
        path: images.clone(),
        labels: None,
        csv_shape: None,
        label_column: Default::default(),
    };
    if let Ok(set) = ImageSet::load(&src, false) {
        let _ = (set.len(), set.shape(), set.n_classes());
        // The same bytes as the label file: a count that disagrees is an error, not a panic.
        src.labels = Some(images);
        let _ = ImageSet::load(&src, true);
    }
});
