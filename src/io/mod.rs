//! File input and output: opening inputs ([`input`]), atomic outputs ([`output`]) and their
//! removal when the run is interrupted ([`cleanup`]), the sequence
//! reader that accepts FASTA, DeepBind-style tables or one sequence per line ([`sequence`]), and
//! one module per file format (`npz`: NumPy arrays for Python tools).

pub mod bed;
pub mod bigwig;
pub mod cleanup;
pub mod fasta;
pub mod genome;
pub mod input;
pub mod meme;
pub mod npz;
pub mod output;
pub mod sequence;
pub mod table;
pub mod vcf;
pub mod vcf_region;
