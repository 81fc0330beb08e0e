//! Training: optimisers, learning-rate schedules, the training loop.

pub mod calibrate;
pub mod checkpoint;
pub mod fit;
pub mod log;
pub mod optim;
pub mod schedule;
