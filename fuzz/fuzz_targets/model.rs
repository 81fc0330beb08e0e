//! Model files (`seqcnn::model::Model::from_bytes`: safetensors with the seqcnn JSON header), and
//! PyTorch state dicts imported against the built-in DeepBind architecture
//! (`Model::from_torch`, as `seqcnn import torch`). A model that loads must save and load again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use seqcnn::arch::Arch;
use seqcnn::model::Model;
use seqcnn_fuzz::scratch_file;

fuzz_target!(|data: &[u8]| {
    if let Ok(model) = Model::from_bytes(data, "fuzz.safetensors".as_ref()) {
        let bytes = model.to_bytes().expect("a loaded model serialises");
        let back = Model::from_bytes(&bytes, "fuzz.safetensors".as_ref());
        assert!(
            back.is_ok(),
            "a loaded model does not read back after saving: {:?}",
            back.err()
        );
        let _ = model.torch_state_dict_bytes();
    }
    let path = scratch_file("state.safetensors", data);
    if let Some(arch) = Arch::builtin("deepbind") {
        let _ = Model::from_torch(arch, vec!["t".into()], &path);
    }
});
