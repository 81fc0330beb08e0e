//! Training checkpoints (`seqcnn::train::checkpoint::Checkpoint::load`, as `train --resume`
//! reads them), with the sequence (`Evaluation`) and image (`ClassEval`) headers, and the random
//! generator state they restore.
#![no_main]

use libfuzzer_sys::fuzz_target;
use seqcnn::train::checkpoint::Checkpoint;
use seqcnn::train::fit::Evaluation;
use seqcnn::vision::classify::ClassEval;
use seqcnn_fuzz::scratch_file;

fuzz_target!(|data: &[u8]| {
    let path = scratch_file("run.ckpt", data);
    if let Ok(c) = Checkpoint::<Evaluation>::load(&path) {
        let _ = c.rng.restore();
    }
    if let Ok(c) = Checkpoint::<ClassEval>::load(&path) {
        let _ = c.rng.restore();
    }
});
