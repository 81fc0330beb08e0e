//! Architecture TOML (`seqcnn::arch::Arch::from_toml`), as `train --arch FILE` reads it: parsed,
//! built into a network (shape inference), and, when small, made into a model whose file must
//! read back (the architecture travels as JSON in the model header).
#![no_main]

use libfuzzer_sys::fuzz_target;
use seqcnn::arch::Arch;
use seqcnn::model::Model;
use seqcnn::nn::Network;

/// Models above this many weights are not allocated: the fuzzer's memory limit is not the
/// library's, and a large valid architecture is not a defect.
const MAX_WEIGHTS: usize = 1 << 20;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(arch) = Arch::from_toml(text) else {
        return;
    };
    let _ = arch.to_toml();
    let json = arch.to_json();
    let back = Arch::from_json(&json);
    assert!(
        back.is_ok(),
        "a valid architecture does not read back from its JSON: {back:?}\n{json}"
    );
    let Ok(net) = Network::build(&arch, 2) else {
        return;
    };
    let weights = net.params().iter().try_fold(0usize, |acc, p| {
        acc.checked_add(p.shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d))?)
    });
    if !weights.is_some_and(|w| w <= MAX_WEIGHTS) {
        return;
    }
    let mut rng = seqcnn::rng::seeded(1);
    let Ok(model) = Model::new(arch, vec!["a".into(), "b".into()], &mut rng, 1.0) else {
        return;
    };
    let bytes = model.to_bytes().expect("a model serialises");
    let back = Model::from_bytes(&bytes, "fuzz.safetensors".as_ref());
    assert!(
        back.is_ok(),
        "a model file does not read back: {:?}",
        back.err()
    );
});
