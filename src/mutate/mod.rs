//! In-silico mutagenesis: every single-base substitution of a sequence, scored through a
//! [`crate::score::Scorer`] so strand and DeepBind window rules apply as in `predict`
//! ([`ism`]), and drawn as DeepBind-style mutation maps ([`plot`]).

pub mod ism;
pub mod plot;

pub use ism::{FastIsm, IsmScores, Mutation, fast_ism, mutations, naive_ism};
pub use plot::{MapOptions, mutation_map_svg};
