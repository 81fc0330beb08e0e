//! Helpers shared by the benchmarks: settings from the environment, running a PyTorch peer
//! script that prints one JSON line, and the process's CPU time.

// Each benchmark uses some of these.
#![allow(dead_code)]

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

/// CPU seconds (user + system) this process has used, from `/proc/self/stat` (Linux; 100 ticks
/// a second).
pub fn cpu_secs() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}
