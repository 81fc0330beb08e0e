//! What an interrupted run leaves behind: nothing. Outputs register their temporary files and
//! directories here while they are being written ([`Pending`]); on SIGINT or SIGTERM the thread
//! started by [`remove_pending_on_signals`] deletes every one still registered and exits with
//! 128 + the signal's number (130, 143), as a shell reports a process killed by it.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Temporary paths of unfinished outputs.
static PENDING: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// A temporary file or directory registered for removal on a signal while this guard lives.
#[derive(Debug)]
pub struct Pending {
    path: PathBuf,
}

impl Pending {
    /// Registers `path` (a temporary file or directory) until the guard is dropped.
    pub fn new(path: &Path) -> Pending {
        lock().push(path.to_path_buf());
        Pending {
            path: path.to_path_buf(),
        }
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        let mut pending = lock();
        if let Some(i) = pending.iter().rposition(|p| *p == self.path) {
            pending.swap_remove(i);
        }
    }
}

/// The registry, even if a thread panicked while holding it (it holds only paths).
fn lock() -> std::sync::MutexGuard<'static, Vec<PathBuf>> {
    PENDING.lock().unwrap_or_else(|e| e.into_inner())
}

/// Removes every registered path (files, or directories with their contents).
fn remove_pending() {
    remove_paths(&lock());
}

/// Removes files, or directories with their contents.
fn remove_paths(paths: &[PathBuf]) {
    for p in paths {
        let _ = if p.is_dir() {
            std::fs::remove_dir_all(p)
        } else {
            std::fs::remove_file(p)
        };
    }
}

/// Starts the thread that, on SIGINT or SIGTERM, removes the registered temporary paths and
/// exits with 128 + the signal number. For the binary's `main`; a library user keeps its own
/// signal handling.
pub fn remove_pending_on_signals() -> std::io::Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            if let Some(sig) = signals.forever().next() {
                remove_pending();
                std::process::exit(128 + sig);
            }
        })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guards_register_and_unregister_their_paths() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.tmp"), dir.path().join("b.tmp"));
        std::fs::write(&a, "a").unwrap();
        std::fs::create_dir(&b).unwrap();
        std::fs::write(b.join("map.svg"), "<svg/>").unwrap();
        let keep = dir.path().join("kept.tmp");
        std::fs::write(&keep, "k").unwrap();
        {
            let _k = Pending::new(&keep);
        }
        let (_a, _b) = (Pending::new(&a), Pending::new(&b));
        assert!(lock().contains(&a) && lock().contains(&b) && !lock().contains(&keep));
        // Only this test's registered paths: other tests running in this process register
        // theirs too (bigWig spools), and removing those would break them.
        let mine: Vec<PathBuf> = lock()
            .iter()
            .filter(|p| p.starts_with(dir.path()))
            .cloned()
            .collect();
        remove_paths(&mine);
        assert!(!a.exists() && !b.exists() && keep.exists());
    }
}
