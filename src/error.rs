//! The library's error type: every failure that can come from user input or files, with enough
//! context (file, line, record, op name, shapes) to act on.

use std::path::PathBuf;

/// Result alias used across the library.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in seqcnn's library code.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An op or layer got inputs whose shapes do not fit together.
    #[error("{op}: {msg}")]
    Shape { op: &'static str, msg: String },

    /// An I/O failure on a named file.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A parse failure at a known place in a named input (`line` is 1-based; 0 = not known).
    #[error("{}{}: {msg}", path.display(), if *line > 0 { format!(":{line}") } else { String::new() })]
    Parse {
        path: PathBuf,
        line: u64,
        msg: String,
    },

    /// A model or architecture file that is malformed or disagrees with itself.
    #[error("{}: {msg}", path.display())]
    Model { path: PathBuf, msg: String },

    /// An architecture description that cannot be built.
    #[error("architecture: {0}")]
    Arch(String),

    /// A bad setting or combination of settings.
    #[error("{0}")]
    Config(String),

    /// Training diverged or met a numeric problem.
    #[error("{0}")]
    Numeric(String),
}

impl Error {
    /// Shorthand for a shape error.
    pub fn shape(op: &'static str, msg: impl Into<String>) -> Self {
        Error::Shape {
            op,
            msg: msg.into(),
        }
    }

    /// Shorthand for an I/O error on a path.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// Shorthand for a parse error at a line of a file.
    pub fn parse(path: impl Into<PathBuf>, line: u64, msg: impl Into<String>) -> Self {
        Error::Parse {
            path: path.into(),
            line,
            msg: msg.into(),
        }
    }

    /// Shorthand for a model-file error.
    pub fn model(path: impl Into<PathBuf>, msg: impl Into<String>) -> Self {
        Error::Model {
            path: path.into(),
            msg: msg.into(),
        }
    }
}

/// Text from a file quoted in an error message: control characters escaped, cut after `max`
/// characters of the message (then `...`), so that a binary or overlong line still gives a
/// short one-line message.
///
/// ```
/// use seqcnn::error::excerpt;
/// assert_eq!(excerpt("ACGT", 40), "ACGT");
/// assert_eq!(excerpt("ACGTACGT", 4), "ACGT...");
/// assert_eq!(excerpt("a\tb\u{0}\n", 40), "a\\tb\\u{0}\\n");
/// assert_eq!(excerpt("\u{0}\u{0}\u{0}", 8), "\\u{0}...");
/// ```
pub fn excerpt(text: &str, max: usize) -> String {
    let mut out = String::new();
    let mut shown = 0;
    for c in text.chars() {
        let piece: String = if c.is_control() {
            c.escape_default().collect()
        } else {
            c.to_string()
        };
        let n = piece.chars().count();
        if shown + n > max {
            out.push_str("...");
            break;
        }
        out.push_str(&piece);
        shown += n;
    }
    out
}
