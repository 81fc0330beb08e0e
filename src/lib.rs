//! seqcnn: convolutional networks for DNA sequence, on a small reverse-mode autograd engine.
//!
//! The flow is reader (`io`) -> encoder (`encode`) -> batches -> model (`nn`, `model`) -> writer;
//! training runs the same forward pass on a [`tensor::Tape`] and walks it backwards. Image
//! classifiers (LeNet-5 on MNIST) run on the same engine; their data path is [`vision`].

pub mod alloc;
pub mod arch;
pub mod attribute;
pub mod data;
pub mod deepbind;
pub mod discover;
pub mod encode;
pub mod error;
pub mod interpret;
pub mod interval;
pub mod io;
pub mod metrics;
pub mod model;
pub mod mutate;
pub mod nn;
pub mod rng;
pub mod scan;
pub mod score;
pub mod shard;
pub mod tensor;
pub mod train;
pub mod variants;
pub mod vision;

pub use error::{Error, Result};
