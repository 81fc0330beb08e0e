//! Image classification (LeNet-5 on MNIST and the like), on the same engine as the sequence
//! models: everything images need that sequences do not, from file bytes to occlusion maps.
//!
//! ```text
//!  IDX files ──(idx)──┐
//!                     ├─> RawImages ──(dataset)──> ImageSet ──> [B, C, H, W] batches ──┐
//!  CSV file ───(raw)──┘   pixels as read           Preprocess: (p / scale - mean) / std │
//!                                                                                       v
//!  (train)     ImageTask in the shared loop (train::fit::fit_task), validated by classify
//!                                                                         ──> Model
//!  (classify)  Model + ImageSet -> logits, probabilities, accuracy, confusion  ──> eval, predict
//!  (occlusion) Model + one image, a grey square slid over it ──(png)──> heatmap ──> occlude
//! ```
//!
//! One file per job, named for it:
//! - [`idx`]: the IDX format (MNIST): parsers over `&[u8]`, reading and writing files;
//! - [`raw`]: [`raw::RawImages`], the pixels of a file as read, its CSV reader and the pairing
//!   of IDX images with IDX labels: the file side, knowing nothing of models;
//! - [`dataset`]: [`dataset::ImageSet`], the network side: loading from an
//!   [`dataset::ImageSource`], the scaling a model's architecture asks for, splits, batches
//!   (shifted for augmentation);
//! - [`classify`]: what a trained classifier makes of a set: logits, probabilities, accuracy,
//!   per-class accuracy, confusion matrix;
//! - [`train`]: the image side of the one training loop ([`crate::train::fit::FitTask`]): shift
//!   augmentation, validation accuracy;
//! - [`occlusion`]: occlusion maps (Zeiler & Fergus 2014), drawn as PNG or SVG;
//! - [`png`]: the minimal PNG writer the maps are drawn with.
//!
//! Why one room: the image path was spread over `io/`, `train/` and the crate root, with two
//! files called `images.rs` doing different jobs (reading files, making batches). Here every
//! file is named for its job; `io/` keeps the sequence and genome formats, and the training loop
//! (optimiser steps, schedule, early stopping, checkpoints) stays in `train/`, shared with
//! sequences.

pub mod classify;
pub mod dataset;
pub mod idx;
pub mod occlusion;
pub mod png;
pub mod raw;
pub mod train;
