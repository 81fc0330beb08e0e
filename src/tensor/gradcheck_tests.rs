//! Finite-difference gradient checks for every op on the tape, over grids of shapes and
//! hyper-parameters, and the checker's own negative test.

use super::gradcheck::{CheckConfig, assert_grads, check, random, random_distinct};
use super::ops::conv::Conv1dGeom;
use super::ops::pool::Pool1dGeom;
use super::{Array, Tape, Var};
use crate::rng;

fn cfg() -> CheckConfig {
    CheckConfig::default()
}

#[test]
fn checker_catches_a_wrong_gradient() {
    let x = random(&[3, 4], 1);
    let report = check(
        |t: &mut Tape, v: &[Var]| Ok(t.broken_scale(v[0], 2.0)),
        std::slice::from_ref(&x),
        cfg(),
    )
    .unwrap();
    assert!(
        !report.passed,
        "a 5% error in a gradient must be caught: {report:?}"
    );
    // The same function with the correct rule passes.
    let report = check(
        |t: &mut Tape, v: &[Var]| Ok(t.scale(v[0], 2.0)),
        &[x],
        cfg(),
    )
    .unwrap();
    assert!(report.passed, "{report:?}");
}

#[test]
fn checker_catches_a_gradient_missing_one_input() {
    // x * y where the checker is handed a function that detaches y's use: differentiate
    // (x * y) but compute the numeric derivative of a function that also depends on y quadratically.
    let inputs = [random(&[2, 3], 2), random(&[2, 3], 3)];
    let report = check(
        |t: &mut Tape, v: &[Var]| {
            let prod = t.mul(v[0], v[1])?;
            // y*y computed through a constant copy: its gradient path to y is cut.
            let yc = t.constant(t.value(v[1]).clone());
            let sq = t.mul(yc, yc)?;
            t.add(prod, sq)
        },
        &inputs,
        cfg(),
    )
    .unwrap();
    assert!(!report.passed);
}

#[test]
fn conv1d_grid() {
    let mut cases = 0;
    for k in [1, 3, 4] {
        for stride in [1, 2, 3] {
            for (pl, pr) in [(0, 0), (1, 1), (2, 0), (0, 3)] {
                for dilation in [1, 2, 3] {
                    for bias in [true, false] {
                        let geom = Conv1dGeom {
                            stride,
                            pad_left: pl,
                            pad_right: pr,
                            dilation,
                        };
                        let l = 9;
                        if geom.out_len(l, k).is_none() {
                            continue;
                        }
                        let mut inputs = vec![random(&[2, 3, l], 10), random(&[2, 3, k], 11)];
                        if bias {
                            inputs.push(random(&[2], 12));
                        }
                        let case = format!(
                            "conv1d k={k} stride={stride} pad=({pl},{pr}) dil={dilation} bias={bias}"
                        );
                        assert_grads(
                            &case,
                            move |t: &mut Tape, v: &[Var]| {
                                t.conv1d(v[0], v[1], v.get(2).copied(), geom)
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
    assert!(cases > 150, "grid shrank to {cases} cases");
}

#[test]
fn conv1d_shapes() {
    // batch, channels in/out, length; "same" padding for an even kernel (PyTorch pads 1 left, 2 right for k=4)
    for (n, ci, co, l, k, pl, pr) in [
        (1, 1, 1, 5, 2, 0, 1),
        (3, 4, 5, 6, 4, 1, 2),
        (2, 2, 3, 24, 24, 11, 12),
        (1, 5, 2, 3, 1, 0, 0),
    ] {
        let geom = Conv1dGeom {
            stride: 1,
            pad_left: pl,
            pad_right: pr,
            dilation: 1,
        };
        let inputs = [
            random(&[n, ci, l], 20),
            random(&[co, ci, k], 21),
            random(&[co], 22),
        ];
        assert_grads(
            &format!("conv1d shape {n},{ci},{co},{l},{k}"),
            move |t: &mut Tape, v: &[Var]| t.conv1d(v[0], v[1], Some(v[2]), geom),
            &inputs,
            cfg(),
        );
    }
}

#[test]
fn conv1d_relu_fused_and_grouped_samples() {
    // Nine samples: four blocks of two or three samples unfolded side by side into one GEMM each
    // (the single-sample tests above never group). The fused ReLU is compared with conv1d then
    // relu, value and gradients bit for bit (finite differences across ReLU kinks are unreliable
    // when a bias shifts a whole channel).
    for (k, stride, pl, pr, dilation) in [(3, 1, 1, 1, 1), (4, 2, 0, 3, 2), (1, 1, 0, 0, 1)] {
        let geom = Conv1dGeom {
            stride,
            pad_left: pl,
            pad_right: pr,
            dilation,
        };
        let inputs = [
            random(&[9, 3, 11], 30),
            random(&[4, 3, k], 31),
            random(&[4], 32),
        ];
        let case = format!("conv1d k={k} stride={stride} pad=({pl},{pr}) dil={dilation}");
        assert_grads(
            &case,
            move |t: &mut Tape, v: &[Var]| t.conv1d(v[0], v[1], Some(v[2]), geom),
            &inputs,
            cfg(),
        );
        // 0: conv1d, relu, max_pool1d; 1: conv1d_relu, max_pool1d; 2: conv1d_relu_pool. Without
        // `pool`, the max pooling is left out.
        for pool in [
            None,
            Some(Pool1dGeom {
                kernel: 3,
                stride: 2,
                padding: 1,
            }),
            Some(Pool1dGeom {
                kernel: 2,
                stride: 2,
                padding: 0,
            }),
        ] {
            let run = |fused: usize| {
                let mut t = Tape::new();
                let v: Vec<Var> = inputs.iter().map(|a| t.param(a.clone())).collect();
                let y = match (fused, pool) {
                    (2, Some(p)) => t.conv1d_relu_pool(v[0], v[1], Some(v[2]), geom, p).unwrap(),
                    _ => {
                        let r = if fused == 0 {
                            let c = t.conv1d(v[0], v[1], Some(v[2]), geom).unwrap();
                            t.relu(c)
                        } else {
                            t.conv1d_relu(v[0], v[1], Some(v[2]), geom).unwrap()
                        };
                        match pool {
                            Some(p) => t.max_pool1d(r, p).unwrap(),
                            None => r,
                        }
                    }
                };
                let w = random(t.shape(y), 33);
                let loss = t.weighted_sum(y, w).unwrap();
                let g = t.backward(loss).unwrap();
                let mut out = vec![t.value(y).clone()];
                out.extend(v.iter().map(|&p| g.get(p).unwrap().clone()));
                out
            };
            let separate = run(0);
            for fused in [1, 2] {
                for (a, b) in run(fused).iter().zip(&separate) {
                    assert_eq!(
                        a, b,
                        "{case} pool {pool:?}: fused ({fused}) and separate differ"
                    );
                }
            }
        }
    }
}

/// One-hot DNA `[n, 4, l]` with some N (0.25 each) and all-zero columns.
fn dna(n: usize, l: usize) -> Array {
    Array::from_shape_fn(ndarray::IxDyn(&[n, 4, l]), |ix| {
        let (s, c, j) = (ix[0], ix[1], ix[2]);
        match (s * 7919 + j * 104_729) % 31 {
            0 | 1 => 0.25,
            2 => 0.0,
            h => f32::from(h % 4 == c),
        }
    })
}

#[test]
fn conv1d_on_one_hot_data_grid() {
    // The data are a constant (no input gradient), as in training: the forward pass and the
    // weight gradient take the table-lookup kernel (src/tensor/ops/conv_lookup.rs).
    for (k, stride, pl, pr, dilation) in [(5, 1, 0, 0, 1), (3, 1, 2, 2, 2), (4, 2, 1, 0, 1)] {
        let geom = Conv1dGeom {
            stride,
            pad_left: pl,
            pad_right: pr,
            dilation,
        };
        let x = dna(5, 17);
        let inputs = [random(&[11, 4, k], 41), random(&[11], 42)];
        let case = format!("one-hot conv1d k={k} stride={stride} pad=({pl},{pr}) dil={dilation}");
        let xc = x.clone();
        assert_grads(
            &case,
            move |t: &mut Tape, v: &[Var]| {
                let xv = t.constant(xc.clone());
                t.conv1d(xv, v[0], Some(v[1]), geom)
            },
            &inputs,
            cfg(),
        );
        // Fused ReLU + max pooling (and global max pooling as DeepBind runs it) against the
        // separate ops, bit for bit.
        let l_out = geom.out_len(17, k).unwrap();
        for pool in [
            Pool1dGeom {
                kernel: 2,
                stride: 2,
                padding: 0,
            },
            Pool1dGeom {
                kernel: 3,
                stride: 2,
                padding: 1,
            },
            Pool1dGeom {
                kernel: l_out,
                stride: l_out,
                padding: 0,
            },
        ] {
            let run = |fused: bool| {
                let mut t = Tape::new();
                let xv = t.constant(x.clone());
                let v: Vec<Var> = inputs.iter().map(|a| t.param(a.clone())).collect();
                let y = if fused {
                    t.conv1d_relu_pool(xv, v[0], Some(v[1]), geom, pool)
                        .unwrap()
                } else {
                    let c = t.conv1d(xv, v[0], Some(v[1]), geom).unwrap();
                    let r = t.relu(c);
                    t.max_pool1d(r, pool).unwrap()
                };
                let w = random(t.shape(y), 43);
                let loss = t.weighted_sum(y, w).unwrap();
                let g = t.backward(loss).unwrap();
                let mut out = vec![t.value(y).clone()];
                out.extend(v.iter().map(|&p| g.get(p).unwrap().clone()));
                out
            };
            assert_eq!(run(true), run(false), "{case} pool {pool:?}");
        }
    }
}

#[test]
fn linear_and_matmul_grid() {
    for (n, i, o) in [(1, 1, 1), (2, 3, 4), (5, 7, 2)] {
        for bias in [true, false] {
            let mut inputs = vec![random(&[n, i], 30), random(&[o, i], 31)];
            if bias {
                inputs.push(random(&[o], 32));
            }
            assert_grads(
                &format!("linear {n}x{i}->{o} bias={bias}"),
                |t: &mut Tape, v: &[Var]| t.linear(v[0], v[1], v.get(2).copied()),
                &inputs,
                cfg(),
            );
        }
        let inputs = [random(&[n, i], 33), random(&[i, o], 34)];
        assert_grads(
            &format!("matmul {n}x{i}x{o}"),
            |t: &mut Tape, v: &[Var]| t.matmul(v[0], v[1]),
            &inputs,
            cfg(),
        );
    }
}

#[test]
fn max_and_avg_pool1d_grid() {
    for kernel in [1, 2, 3, 4] {
        for stride in [1, 2, 3] {
            for padding in [0, 1, 2] {
                if padding * 2 > kernel {
                    continue;
                }
                let geom = Pool1dGeom {
                    kernel,
                    stride,
                    padding,
                };
                let x = random_distinct(&[2, 3, 10], 0.05, 40 + kernel as u64);
                let case = format!("pool k={kernel} s={stride} p={padding}");
                assert_grads(
                    &format!("max {case}"),
                    move |t: &mut Tape, v: &[Var]| t.max_pool1d(v[0], geom),
                    std::slice::from_ref(&x),
                    cfg(),
                );
                assert_grads(
                    &format!("avg {case}"),
                    move |t: &mut Tape, v: &[Var]| t.avg_pool1d(v[0], geom),
                    &[x],
                    cfg(),
                );
            }
        }
    }
}

#[test]
fn global_pools() {
    for shape in [[1, 1, 1], [2, 3, 7], [3, 2, 20]] {
        let x = random_distinct(&shape, 0.05, 50);
        assert_grads(
            "global max",
            |t: &mut Tape, v: &[Var]| t.global_max_pool(v[0]),
            std::slice::from_ref(&x),
            cfg(),
        );
        assert_grads(
            "global avg",
            |t: &mut Tape, v: &[Var]| t.global_avg_pool(v[0]),
            &[x],
            cfg(),
        );
    }
}

#[test]
fn activations() {
    for shape in [vec![7], vec![2, 3], vec![2, 3, 4]] {
        let x = random_distinct(&shape, 0.1, 60);
        assert_grads(
            "relu",
            |t: &mut Tape, v: &[Var]| Ok(t.relu(v[0])),
            std::slice::from_ref(&x),
            cfg(),
        );
        let x = random(&shape, 61).mapv(|v| v * 3.0);
        assert_grads(
            "sigmoid",
            |t: &mut Tape, v: &[Var]| Ok(t.sigmoid(v[0])),
            std::slice::from_ref(&x),
            cfg(),
        );
        assert_grads(
            "tanh",
            |t: &mut Tape, v: &[Var]| Ok(t.tanh(v[0])),
            &[x],
            cfg(),
        );
    }
}

#[test]
fn dropout_in_training_and_eval() {
    for p in [0.0, 0.2, 0.5] {
        let x = random(&[4, 6], 70);
        // The mask comes from a generator re-seeded on every forward pass, so the function is fixed.
        assert_grads(
            &format!("dropout p={p}"),
            move |t: &mut Tape, v: &[Var]| t.dropout(v[0], p, Some(&mut rng::seeded(3))),
            std::slice::from_ref(&x),
            cfg(),
        );
        assert_grads(
            "dropout eval",
            move |t: &mut Tape, v: &[Var]| t.dropout(v[0], p, None),
            &[x],
            cfg(),
        );
    }
}

#[test]
fn dropout_scales_kept_units_and_is_identity_in_eval() {
    let mut t = Tape::new();
    let x = t.param(Array::ones(ndarray::IxDyn(&[1000])));
    let y = t.dropout(x, 0.25, Some(&mut rng::seeded(1))).unwrap();
    let vals = t.value(y);
    let zeros = vals.iter().filter(|&&v| v == 0.0).count();
    assert!(
        (200..300).contains(&zeros),
        "{zeros} dropped of 1000 at p=0.25"
    );
    assert!(
        vals.iter()
            .all(|&v| v == 0.0 || (v - 1.0 / 0.75).abs() < 1e-6)
    );
    let z = t.dropout(x, 0.25, None).unwrap();
    assert_eq!(z, x);
}

#[test]
fn add_mul_scale_concat_reshape() {
    let (a, b) = (random(&[2, 3, 4], 80), random(&[2, 3, 4], 81));
    assert_grads(
        "add",
        |t: &mut Tape, v: &[Var]| t.add(v[0], v[1]),
        &[a.clone(), b.clone()],
        cfg(),
    );
    assert_grads(
        "add same input twice",
        |t: &mut Tape, v: &[Var]| t.add(v[0], v[0]),
        std::slice::from_ref(&a),
        cfg(),
    );
    assert_grads(
        "mul",
        |t: &mut Tape, v: &[Var]| t.mul(v[0], v[1]),
        &[a.clone(), b.clone()],
        cfg(),
    );
    assert_grads(
        "scale",
        |t: &mut Tape, v: &[Var]| Ok(t.scale(v[0], -1.5)),
        std::slice::from_ref(&a),
        cfg(),
    );
    for axis in 0..3 {
        let c = random(&[2, 3, 4], 82 + axis as u64);
        assert_grads(
            &format!("concat axis {axis}"),
            move |t: &mut Tape, v: &[Var]| t.concat(&[v[0], v[1], v[0]], axis),
            &[a.clone(), c],
            cfg(),
        );
    }
    assert_grads(
        "reshape",
        |t: &mut Tape, v: &[Var]| t.reshape(v[0], &[4, 6]),
        std::slice::from_ref(&b),
        cfg(),
    );
    assert_grads(
        "flatten",
        |t: &mut Tape, v: &[Var]| t.flatten(v[0]),
        std::slice::from_ref(&b),
        cfg(),
    );
    assert_grads(
        "sum",
        |t: &mut Tape, v: &[Var]| Ok(t.sum(v[0])),
        std::slice::from_ref(&b),
        cfg(),
    );
    assert_grads(
        "mean",
        |t: &mut Tape, v: &[Var]| Ok(t.mean(v[0])),
        &[b],
        cfg(),
    );
}

fn targets01(shape: &[usize], seed: u64) -> Array {
    let mut r = rng::seeded(seed);
    Array::from_shape_fn(ndarray::IxDyn(shape), |_| {
        if rng::uniform(&mut r, 0.0, 1.0) < 0.5 {
            0.0
        } else {
            1.0
        }
    })
}

#[test]
fn losses() {
    let x = random(&[5, 3], 90).mapv(|v| v * 3.0);
    let y = targets01(&[5, 3], 91);
    let y_for = y.clone();
    assert_grads(
        "bce",
        move |t: &mut Tape, v: &[Var]| t.bce_with_logits(v[0], &y_for, None, None),
        std::slice::from_ref(&x),
        cfg(),
    );
    let mut ym = y.clone();
    ym[[1, 2]] = f32::NAN;
    ym[[3, 0]] = f32::NAN;
    let y_for = ym.clone();
    assert_grads(
        "bce weighted + masked",
        move |t: &mut Tape, v: &[Var]| {
            t.bce_with_logits(v[0], &y_for, Some(&[2.0, 0.5, 1.0]), Some(&[1.0, 3.0, 0.2]))
        },
        std::slice::from_ref(&x),
        cfg(),
    );
    assert_grads(
        "cross entropy",
        |t: &mut Tape, v: &[Var]| t.softmax_cross_entropy(v[0], &[0, 2, 1, 1, 0]),
        std::slice::from_ref(&x),
        cfg(),
    );
    let reg = random(&[5, 3], 92);
    let reg_for = reg.clone();
    assert_grads(
        "mse",
        move |t: &mut Tape, v: &[Var]| t.mse(v[0], &reg_for),
        std::slice::from_ref(&x),
        cfg(),
    );
    let counts = reg.mapv(|v| (v * 4.0).abs().round());
    let c_for = counts.clone();
    assert_grads(
        "poisson log input",
        move |t: &mut Tape, v: &[Var]| t.poisson_nll(v[0], &c_for, true),
        std::slice::from_ref(&x),
        cfg(),
    );
    let rate = x.mapv(|v| v.abs() + 0.5);
    assert_grads(
        "poisson rate input",
        move |t: &mut Tape, v: &[Var]| t.poisson_nll(v[0], &counts, false),
        &[rate],
        cfg(),
    );
}

#[test]
fn composite_network_gradients() {
    // conv -> relu -> max pool -> global avg + global max -> linear: the pieces chained, as a
    // DeepBind-style network uses them.
    let inputs = [
        random(&[2, 4, 15], 100),
        random(&[3, 4, 5], 101),
        random(&[3], 102),
        random(&[1, 6], 103),
        random(&[1], 104),
    ];
    assert_grads(
        "composite",
        |t: &mut Tape, v: &[Var]| {
            let h = t.conv1d(
                v[0],
                v[1],
                Some(v[2]),
                Conv1dGeom {
                    stride: 1,
                    pad_left: 2,
                    pad_right: 2,
                    dilation: 1,
                },
            )?;
            let h = t.tanh(h);
            let h = t.max_pool1d(
                h,
                Pool1dGeom {
                    kernel: 2,
                    stride: 2,
                    padding: 0,
                },
            )?;
            let a = t.global_max_pool(h)?;
            let b = t.global_avg_pool(h)?;
            let f = t.concat(&[a, b], 1)?;
            t.linear(f, v[3], Some(v[4]))
        },
        &inputs,
        cfg(),
    );
}

#[test]
fn batch_norm_train_and_eval() {
    for shape in [vec![4, 3], vec![3, 2, 5], vec![2, 3, 4, 3]] {
        let c = shape[1];
        let x = random(&shape, 110);
        let gamma = random(&[c], 111).mapv(|v| v + 1.5);
        let beta = random(&[c], 112);
        let inputs = [x, gamma, beta];
        assert_grads(
            &format!("batch norm train {shape:?}"),
            |t: &mut Tape, v: &[Var]| Ok(t.batch_norm(v[0], v[1], v[2], (&[], &[]), 1e-5, true)?.0),
            &inputs,
            cfg(),
        );
        let mean: Vec<f32> = (0..c).map(|i| 0.1 * i as f32).collect();
        let var: Vec<f32> = (0..c).map(|i| 0.5 + i as f32).collect();
        assert_grads(
            &format!("batch norm eval {shape:?}"),
            move |t: &mut Tape, v: &[Var]| {
                Ok(t.batch_norm(v[0], v[1], v[2], (&mean, &var), 1e-5, false)?
                    .0)
            },
            &inputs,
            cfg(),
        );
    }
}

#[test]
fn batch_norm_matches_torch() {
    // PyTorch 2.15:
    // bn = torch.nn.BatchNorm1d(2); x = torch.tensor([[[1., 2., 4.], [0., -1., 5.]], [[3., 0., 1.], [2., 2., 2.]]])
    // y = bn(x)  # training mode
    // y[0, 0] -> tensor([-0.6202,  0.1240,  1.6124]); bn.running_mean -> tensor([0.1833, 0.1667])
    // bn.running_var -> tensor([1.1167, 1.3267])
    let x = Array::from_shape_vec(
        ndarray::IxDyn(&[2, 2, 3]),
        vec![1., 2., 4., 0., -1., 5., 3., 0., 1., 2., 2., 2.],
    )
    .unwrap();
    let mut t = Tape::new();
    let xv = t.constant(x);
    let g = t.param(Array::ones(ndarray::IxDyn(&[2])));
    let b = t.param(Array::zeros(ndarray::IxDyn(&[2])));
    let (y, stats) = t.batch_norm(xv, g, b, (&[], &[]), 1e-5, true).unwrap();
    let y = t.value(y);
    for (got, want) in [y[[0, 0, 0]], y[[0, 0, 1]], y[[0, 0, 2]]]
        .iter()
        .zip([-0.6202, 0.1240, 1.6124])
    {
        assert!((got - want).abs() < 1e-4, "{got} vs {want}");
    }
    let stats = stats.unwrap();
    // running = 0.9 * initial + 0.1 * batch (initial mean 0, var 1; the variance unbiased)
    for (ch, (m, v)) in [(0.1833, 1.1167), (0.1667, 1.3267)].into_iter().enumerate() {
        assert!((0.1 * stats.mean[ch] - m).abs() < 1e-4);
        assert!((0.9 + 0.1 * stats.var_unbiased[ch] - v).abs() < 1e-4);
    }
}
