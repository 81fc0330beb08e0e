//! Compute kernels on ndarray: the matrix product, convolution, pooling and losses. The tape
//! (`tensor/mod.rs`) calls these for values and `tensor/backward.rs` for gradients; fast ISM
//! (`mutate/fast.rs`) calls the delta kernels of [`delta`]; nothing else implements arithmetic on
//! tensors.

pub mod conv;
pub mod conv2d;
mod conv_lookup;
pub mod deepbind_scan;
pub mod delta;
pub mod gemm;
pub mod loss;
pub mod norm;
pub mod pool;
pub mod pool2d;
pub mod rescale;
pub mod scratch;

/// Cuts `data` into consecutive mutable chunks of the given lengths: disjoint parts of one output
/// for the rayon tasks that fill them.
fn split_lengths<'a, T>(mut data: &'a mut [T], lens: &[usize]) -> Vec<&'a mut [T]> {
    let mut out = Vec::with_capacity(lens.len());
    for &l in lens {
        let (head, tail) = std::mem::take(&mut data).split_at_mut(l);
        out.push(head);
        data = tail;
    }
    out
}
