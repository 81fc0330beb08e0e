//! File input and output: opening inputs ([`input`]), atomic outputs ([`output`]), the sequence
//! reader that accepts FASTA, DeepBind-style tables or one sequence per line ([`sequence`]), and
//! one module per file format.

pub mod bed;
pub mod fasta;
pub mod genome;
pub mod idx;
pub mod images;
pub mod input;
pub mod meme;
pub mod output;
pub mod png;
pub mod sequence;
pub mod table;
pub mod vcf;

// The image path (idx.rs, images.rs, png.rs, and src/images.rs) is moving to src/vision/ in
// parallel and still names these at their old paths; they go when that move imports them from
// `input` and `output`.
pub(crate) use input::{input_name, open_input, read_error};
pub(crate) use output::AtomicOutput;
