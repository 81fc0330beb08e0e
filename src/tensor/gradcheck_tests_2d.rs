//! Finite-difference gradient checks for the 2D (image) ops over grids of kernel sizes, strides,
//! padding, dilation and output padding, and the adjoint test tying the transposed convolution to
//! the convolution.

use super::gradcheck::{CheckConfig, assert_grads, random, random_distinct};
use super::ops::conv2d::{Conv2dGeom, ConvT2dGeom};
use super::ops::pool2d::Pool2dGeom;
use super::{Tape, Var};

fn cfg() -> CheckConfig {
    CheckConfig::default()
}

#[test]
fn conv2d_grid() {
    let mut cases = 0;
    for k in [[1, 1], [2, 3], [3, 3]] {
        for stride in [[1, 1], [2, 1], [2, 3]] {
            for padding in [[(0, 0), (0, 0)], [(1, 1), (1, 1)], [(2, 0), (0, 1)]] {
                for dilation in [[1, 1], [2, 1], [1, 2]] {
                    let geom = Conv2dGeom {
                        stride,
                        padding,
                        dilation,
                    };
                    let (h, w) = (6, 5);
                    if geom.out_len(0, h, k[0]).is_none() || geom.out_len(1, w, k[1]).is_none() {
                        continue;
                    }
                    let bias = cases % 2 == 0;
                    let mut inputs =
                        vec![random(&[2, 2, h, w], 10), random(&[3, 2, k[0], k[1]], 11)];
                    if bias {
                        inputs.push(random(&[3], 12));
                    }
                    assert_grads(
                        &format!("conv2d {geom:?} k={k:?} bias={bias}"),
                        move |t: &mut Tape, v: &[Var]| {
                            t.conv2d(v[0], v[1], v.get(2).copied(), geom)
                        },
                        &inputs,
                        cfg(),
                    );
                    cases += 1;
                }
            }
        }
    }
    assert!(cases > 60, "grid shrank to {cases} cases");
}

#[test]
fn conv2d_shapes() {
    // batch, channels in / out, height, width, kernel: LeNet's 5x5 on a padded input, a kernel as
    // large as the input, a 1x1 (pointwise) kernel, one sample.
    for (n, ci, co, h, w, k, p) in [
        (2, 1, 2, 6, 6, 5, 2),
        (1, 3, 2, 4, 3, 4, 0),
        (3, 4, 5, 3, 4, 1, 0),
        (7, 2, 3, 4, 4, 3, 1),
        (1, 2, 1, 1, 1, 1, 0),
    ] {
        let geom = Conv2dGeom::new([1, 1], [p, p], [1, 1]);
        let kw = if k == 4 { 3 } else { k };
        let inputs = [
            random(&[n, ci, h, w], 20),
            random(&[co, ci, k, kw], 21),
            random(&[co], 22),
        ];
        assert_grads(
            &format!("conv2d shape {n},{ci},{co},{h},{w},{k}"),
            move |t: &mut Tape, v: &[Var]| t.conv2d(v[0], v[1], Some(v[2]), geom),
            &inputs,
            cfg(),
        );
    }
}

#[test]
fn conv_transpose2d_grid() {
    let mut cases = 0;
    for k in [[1, 1], [2, 3], [3, 3]] {
        for stride in [[1, 1], [2, 2], [3, 1]] {
            for padding in [[0, 0], [1, 0], [1, 1]] {
                for output_padding in [[0, 0], [1, 0], [2, 0]] {
                    for dilation in [[1, 1], [2, 1]] {
                        let geom = ConvT2dGeom {
                            stride,
                            padding,
                            output_padding,
                            dilation,
                        };
                        if (0..2).any(|a| output_padding[a] >= stride[a].max(dilation[a])) {
                            continue;
                        }
                        let (h, w) = (3, 4);
                        if geom.out_len(0, h, k[0]).is_none() || geom.out_len(1, w, k[1]).is_none()
                        {
                            continue;
                        }
                        let bias = cases % 2 == 1;
                        let mut inputs =
                            vec![random(&[2, 2, h, w], 30), random(&[2, 3, k[0], k[1]], 31)];
                        if bias {
                            inputs.push(random(&[3], 32));
                        }
                        assert_grads(
                            &format!("conv_transpose2d {geom:?} k={k:?} bias={bias}"),
                            move |t: &mut Tape, v: &[Var]| {
                                t.conv_transpose2d(v[0], v[1], v.get(2).copied(), geom)
                            },
                            &inputs,
                            cfg(),
                        );
                        cases += 1;
                    }
                }
            }
        }
    }
    assert!(cases > 60, "grid shrank to {cases} cases");
}

/// `<conv(x), y> = <x, convT(y)>` with one weight: the transposed convolution is the adjoint of
/// the convolution, for every stride, padding and dilation (the output padding makes the sizes
/// meet).
#[test]
fn conv_transpose2d_is_the_adjoint_of_conv2d() {
    let mut cases = 0;
    for k in [[1, 1], [3, 2], [5, 5]] {
        for stride in [[1, 1], [2, 3], [3, 2]] {
            for padding in [[0, 0], [1, 2], [2, 1]] {
                for dilation in [[1, 1], [2, 1]] {
                    let (h, w) = (9, 11);
                    let conv = Conv2dGeom::new(stride, padding, dilation);
                    let (Some(oh), Some(ow)) = (conv.out_len(0, h, k[0]), conv.out_len(1, w, k[1]))
                    else {
                        continue;
                    };
                    let full = |a: usize, o: usize, n: usize| {
                        n + 2 * padding[a] - ((o - 1) * stride[a] + dilation[a] * (k[a] - 1) + 1)
                    };
                    let convt = ConvT2dGeom {
                        stride,
                        padding,
                        output_padding: [full(0, oh, h), full(1, ow, w)],
                        dilation,
                    };
                    let x = random(&[2, 3, h, w], 40);
                    let wt = random(&[4, 3, k[0], k[1]], 41);
                    let y = random(&[2, 4, oh, ow], 42);
                    let mut t = Tape::inference();
                    let (xv, wv, yv) =
                        (t.constant(x.clone()), t.constant(wt), t.constant(y.clone()));
                    let cx = t.conv2d(xv, wv, None, conv).unwrap();
                    let ty = t.conv_transpose2d(yv, wv, None, convt).unwrap();
                    assert_eq!(t.shape(ty), x.shape(), "{convt:?}");
                    let dot = |a: &super::Array, b: &super::Array| {
                        a.iter()
                            .zip(b)
                            .map(|(p, q)| *p as f64 * *q as f64)
                            .sum::<f64>()
                    };
                    let (lhs, rhs) = (dot(t.value(cx), &y), dot(&x, t.value(ty)));
                    assert!(
                        (lhs - rhs).abs() <= 1e-4 * lhs.abs().max(1.0),
                        "{conv:?} k={k:?}: <conv(x), y> = {lhs}, <x, convT(y)> = {rhs}"
                    );
                    cases += 1;
                }
            }
        }
    }
    assert!(cases > 40, "grid shrank to {cases} cases");
}

#[test]
fn max_and_avg_pool2d_grid() {
    let mut cases = 0;
    for kernel in [[1, 1], [2, 2], [3, 2], [2, 4]] {
        for stride in [[1, 1], [2, 2], [1, 3]] {
            for padding in [[0, 0], [1, 0], [1, 1], [0, 2]] {
                let geom = Pool2dGeom {
                    kernel,
                    stride,
                    padding,
                };
                if geom.out_size("pool", 5, 6).is_err() {
                    continue;
                }
                let x = random_distinct(&[2, 2, 5, 6], 0.05, 50 + cases);
                let case = format!("{geom:?}");
                assert_grads(
                    &format!("max_pool2d {case}"),
                    move |t: &mut Tape, v: &[Var]| t.max_pool2d(v[0], geom),
                    std::slice::from_ref(&x),
                    cfg(),
                );
                assert_grads(
                    &format!("avg_pool2d {case}"),
                    move |t: &mut Tape, v: &[Var]| t.avg_pool2d(v[0], geom),
                    &[x],
                    cfg(),
                );
                cases += 1;
            }
        }
    }
    assert!(cases > 20, "grid shrank to {cases} cases");
}

#[test]
fn global_avg_pool2d() {
    for shape in [[1, 1, 1, 1], [2, 3, 4, 5], [3, 2, 7, 1]] {
        assert_grads(
            &format!("global_avg_pool2d {shape:?}"),
            |t: &mut Tape, v: &[Var]| t.global_avg_pool2d(v[0]),
            &[random(&shape, 60)],
            cfg(),
        );
    }
}

#[test]
fn lenet_like_stack() {
    // conv -> tanh -> max pool -> conv -> avg pool -> flatten -> linear, end to end (tanh, not
    // relu: a relu kink within the finite-difference step of a conv output would fail the check).
    let inputs = [
        random_distinct(&[2, 1, 8, 8], 0.01, 70),
        random(&[3, 1, 3, 3], 71),
        random(&[3], 72),
        random(&[2, 3, 2, 2], 73),
        random(&[4, 2], 74),
    ];
    assert_grads(
        "lenet-like stack",
        |t: &mut Tape, v: &[Var]| {
            let h = t.conv2d(
                v[0],
                v[1],
                Some(v[2]),
                Conv2dGeom::new([1, 1], [1, 1], [1, 1]),
            )?;
            let h = t.tanh(h);
            let h = t.max_pool2d(h, Pool2dGeom::square(2, 2, 0))?;
            let h = t.conv2d(h, v[3], None, Conv2dGeom::default())?;
            let h = t.avg_pool2d(h, Pool2dGeom::square(3, 3, 0))?;
            let h = t.flatten(h)?;
            t.linear(h, v[4], None)
        },
        &inputs,
        // A smaller step keeps near-ties of the pooled conv outputs out of reach.
        CheckConfig { eps: 1e-3, ..cfg() },
    );
}
