//! Damaged model files: each gives a one-line error naming the file and the problem, a non-zero
//! exit and no panic.

use crate::common::*;
use std::path::Path;

fn good_model(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("good.safetensors");
    let arch = data("torch_parity.toml");
    let weights = data("torch_parity_state.safetensors");
    ok(&[
        "import",
        "torch",
        "--arch",
        arch.to_str().unwrap(),
        "--weights",
        weights.to_str().unwrap(),
        "--out",
        path.to_str().unwrap(),
    ]);
    path
}

#[test]
fn good_model_loads() {
    let dir = tempdir();
    let m = good_model(dir.path());
    let info = ok(&["info", m.to_str().unwrap()]);
    assert!(
        info.contains("arch\ttorch_parity") && info.contains("param\t0.weight\t[6, 4, 5]"),
        "{info}"
    );
}

#[test]
fn model_cut_short_by_one_byte() {
    let dir = tempdir();
    let m = good_model(dir.path());
    let bytes = std::fs::read(&m).unwrap();
    let cut = dir.path().join("cut.safetensors");
    std::fs::write(&cut, &bytes[..bytes.len() - 1]).unwrap();
    fails(
        &["info", cut.to_str().unwrap()],
        &["cut.safetensors", "truncated"],
    );
}

#[test]
fn model_with_a_flipped_header_byte() {
    let dir = tempdir();
    let m = good_model(dir.path());
    let mut bytes = std::fs::read(&m).unwrap();
    // A byte inside the JSON header, in the architecture's text.
    let pos = bytes.windows(7).position(|w| w == b"max_poo").unwrap();
    bytes[pos + 2] ^= 0x01;
    let bad = dir.path().join("flipped.safetensors");
    std::fs::write(&bad, &bytes).unwrap();
    fails(
        &["info", bad.to_str().unwrap()],
        &["flipped.safetensors", "max_pool1d"],
    );
}

#[test]
fn model_whose_weights_disagree_with_its_architecture() {
    let dir = tempdir();
    let m = good_model(dir.path());
    let bytes = std::fs::read(&m).unwrap();
    // Rewrite the header so the architecture asks for 7 output channels in the first conv while
    // the weights still have 6.
    let (_, md) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let json = md.metadata().as_ref().unwrap()["seqcnn"]
        .replace("\"out_channels\":6", "\"out_channels\":7");
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let tensors: Vec<(String, safetensors::tensor::TensorView)> = st.tensors();
    let rewritten =
        safetensors::serialize(tensors, Some([("seqcnn".to_string(), json)].into())).unwrap();
    let bad = dir.path().join("disagree.safetensors");
    std::fs::write(&bad, rewritten).unwrap();
    fails(
        &["info", bad.to_str().unwrap()],
        &["disagree.safetensors", "0.weight", "[6, 4, 5]", "[7, 4, 5]"],
    );
}

#[test]
fn missing_model_file() {
    fails(
        &["info", "no/such/model.safetensors"],
        &["no/such/model.safetensors"],
    );
}
