//! DeepBind parameter files (`seqcnn::deepbind::Params`), as `seqcnn import deepbind` reads them:
//! parsed, then turned into a native model and saved to bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use seqcnn::deepbind::Params;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(params) = Params::parse(text, "D00000.001.txt".as_ref()) else {
        return;
    };
    if let Ok(model) = params.to_model("D00000.001") {
        let _ = model.to_bytes();
    }
});
