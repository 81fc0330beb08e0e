//! Progress of the long commands: a bar on stderr (records, rate, ETA) while it is a terminal,
//! nothing when it is not, and one summary line at the end either way (records, seconds, rate,
//! outputs written), so a pipeline's log holds one line per step.

use std::io::IsTerminal;
use std::path::Path;
use std::time::Instant;

/// A command's progress over its records.
pub struct Meter {
    command: &'static str,
    unit: &'static str,
    bar: Option<indicatif::ProgressBar>,
    done: u64,
    started: Instant,
}

impl Meter {
    /// Progress of `command` over `total` records (`None`: not known ahead), counted in `unit`
    /// (plural: "sequences", "intervals", "bins", "variants").
    pub fn new(command: &'static str, unit: &'static str, total: Option<u64>) -> Meter {
        let bar = std::io::stderr().is_terminal().then(|| {
            let style = match total {
                Some(_) => "{bar:30} {pos}/{len} {msg} {per_sec} ETA {eta} [{elapsed}]",
                None => "{spinner} {pos} {msg} {per_sec} [{elapsed}]",
            };
            let b = match total {
                Some(n) => indicatif::ProgressBar::new(n),
                None => indicatif::ProgressBar::new_spinner(),
            };
            b.set_style(
                indicatif::ProgressStyle::with_template(style)
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            b.set_message(unit);
            b
        });
        Meter {
            command,
            unit,
            bar,
            done: 0,
            started: Instant::now(),
        }
    }

    /// `n` more records done.
    pub fn add(&mut self, n: u64) {
        self.done += n;
        if let Some(b) = &self.bar {
            b.inc(n);
        }
    }

    /// Clears the bar and writes the summary line: `seqcnn predict: 10000 sequences in 1.4 s
    /// (7142 sequences/s); wrote scores.tsv`, with `detail` in place of the count if given and
    /// `note` at the end.
    pub fn finish(self, detail: Option<String>, outputs: &[&Path], note: &str) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
        let secs = self.started.elapsed().as_secs_f64();
        let rate = if secs > 0.0 {
            self.done as f64 / secs
        } else {
            0.0
        };
        let what = detail.unwrap_or_else(|| format!("{} {}", self.done, self.unit));
        let mut line = format!(
            "seqcnn {}: {what} in {secs:.1} s ({rate:.0} {}/s)",
            self.command, self.unit
        );
        let written: Vec<String> = outputs
            .iter()
            .map(|p| {
                if p.as_os_str() == "-" {
                    "stdout".to_string()
                } else {
                    p.display().to_string()
                }
            })
            .collect();
        if !written.is_empty() {
            line.push_str(&format!("; wrote {}", written.join(", ")));
        }
        line.push_str(note);
        eprintln!("{line}");
    }
}
