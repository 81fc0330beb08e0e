//! Training: optimisers, learning-rate schedules, the training loop.

pub mod optim;
pub mod schedule;
