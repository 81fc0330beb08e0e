//! Helpers shared by the benchmarks: settings from the environment and running a PyTorch peer
//! script that prints one JSON line.

use std::process::Command;

/// `name` from the environment as a number, or `default`.
pub fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Runs a peer command (`python script args...`) and parses the JSON object it prints, or says
/// why it could not.
pub fn run_peer(python: &str, cmd: &mut Command) -> Result<serde_json::Value, String> {
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run {python}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{python} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.trim()).map_err(|e| format!("peer output {text:?}: {e}"))
}
