//! DeepBind model indexes (`db.tsv`, `seqcnn::deepbind::Index`), as `seqcnn models` and
//! `import deepbind --index` read them.
#![no_main]

use libfuzzer_sys::fuzz_target;
use seqcnn::deepbind::Index;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(index) = Index::parse(text, "db.tsv".as_ref()) {
        for e in index.entries.iter().take(100) {
            let _ = index.get(&e.id);
            let _ = e.deprecated();
        }
    }
});
