//! `--help`: every command (and every subcommand of `import`, `export`, `models`) shows an
//! example, and `train --help` names every built-in architecture.

use crate::common::ok;

/// The commands a `--help` text lists, `help` left out.
fn listed(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(String::from)
        .collect()
}

#[test]
fn every_command_has_an_example() {
    let commands = listed(&ok(&["--help"]));
    assert!(commands.len() >= 14, "{commands:?}");
    let mut checked = 0;
    for c in &commands {
        let help = ok(&[c, "--help"]);
        let sub = listed(&help);
        let texts: Vec<(String, String)> = if sub.is_empty() {
            vec![(c.clone(), help)]
        } else {
            sub.iter()
                .map(|s| (format!("{c} {s}"), ok(&[c, s, "--help"])))
                .collect()
        };
        for (name, text) in texts {
            let example = text
                .split_once("\nExample:\n")
                .or_else(|| text.split_once("\nExamples:\n"))
                .map(|(_, rest)| rest);
            assert!(
                example.is_some_and(|e| e.contains(&format!("seqcnn {name} "))),
                "`seqcnn {name} --help` shows no example of itself"
            );
            checked += 1;
        }
    }
    assert!(checked >= 16, "{checked}");
}

#[test]
fn train_help_names_every_builtin_architecture() {
    let help = ok(&["train", "--help"]);
    for name in seqcnn::arch::Arch::builtin_names() {
        assert!(help.contains(name), "train --help does not name '{name}'");
    }
}
