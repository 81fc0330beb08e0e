//! In-silico mutagenesis: every single-base substitution of a sequence, scored through a
//! [`crate::score::Scorer`] so strand and DeepBind window rules apply as in `predict`: by brute
//! force ([`ism`]) or by recomputing only what each substitution changes ([`fast`]); and drawn as
//! DeepBind-style mutation maps ([`plot`]).

pub mod fast;
pub mod ism;
pub mod plot;
pub mod precise;
pub mod scale;

pub use fast::{FastIsm, Unsupported, fast_ism};
pub use ism::{IsmScores, Mutation, mutations, naive_ism};
pub use plot::{MapOptions, mutation_map_svg};
pub use precise::{PreciseIsm, precise_ism};
pub use scale::PlotScale;
