//! Compute kernels on ndarray: the matrix product, convolution, pooling and losses. The tape
//! (`tensor/mod.rs`) calls these for values and `tensor/backward.rs` for gradients; nothing else
//! implements arithmetic on tensors.

pub mod conv;
pub mod conv2d;
mod conv_lookup;
pub mod gemm;
pub mod loss;
pub mod norm;
pub mod pool;
pub mod pool2d;
pub mod scratch;
