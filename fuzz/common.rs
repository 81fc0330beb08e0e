//! Helpers shared by the fuzz targets: one scratch file per process for parsers that only take
//! a path.

use std::path::PathBuf;
use std::sync::OnceLock;

/// Writes `data` to this process's scratch file (named `name` in a temporary directory that
/// lives as long as the process) and returns its path. The fuzzer runs one input at a time, so
/// one file per name is enough.
pub fn scratch_file(name: &str, data: &[u8]) -> PathBuf {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    let dir =
        DIR.get_or_init(|| tempfile::tempdir().expect("a temporary directory for the fuzz target"));
    let path = dir.path().join(name);
    std::fs::write(&path, data).expect("writing the scratch file");
    path
}

/// Consumes at most this many records of a streaming reader per input: enough to reach every
/// state of a parser, few enough that a long input of tiny records stays fast.
pub const MAX_RECORDS: usize = 10_000;
