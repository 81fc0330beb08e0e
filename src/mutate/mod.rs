//! In-silico mutagenesis: every single-base substitution of a sequence, scored through a
//! [`crate::score::Scorer`] so strand and DeepBind window rules apply as in `predict`.

pub mod ism;

pub use ism::{IsmScores, Mutation, fast_ism, mutations, naive_ism};
