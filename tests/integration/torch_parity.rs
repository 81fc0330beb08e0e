//! PyTorch parity: a network built in PyTorch (conv1d with dilation and padding, max pool, strided
//! conv1d, tanh, linear; random weights), imported with `seqcnn import torch`, gives PyTorch's
//! outputs to 1e-5 and PyTorch's parameter gradients for a fixed batch and BCE loss to 1e-4.
//! Fixture: tests/fixtures/make_torch_parity.py (PyTorch 2.15.0), not needed to run the test.

use crate::common::*;
use seqcnn::model::Model;
use seqcnn::tensor::{Array, Tape};

fn array(bytes: &[u8], name: &str) -> Array {
    let (shape, vals) = tensor(bytes, name);
    Array::from_shape_vec(ndarray::IxDyn(&shape), vals).unwrap()
}

fn max_diff(a: &Array, b: &Array) -> f32 {
    assert_eq!(a.shape(), b.shape());
    a.iter()
        .zip(b.iter())
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn imported_torch_network_matches_outputs_and_gradients() {
    let dir = tempdir();
    let model_path = dir.path().join("parity.safetensors");
    let arch = data("torch_parity.toml");
    let weights = data("torch_parity_state.safetensors");
    ok(&[
        "import",
        "torch",
        "--arch",
        arch.to_str().unwrap(),
        "--weights",
        weights.to_str().unwrap(),
        "--out",
        model_path.to_str().unwrap(),
    ]);
    let model = Model::load(&model_path).unwrap();
    assert_eq!(model.meta.tasks, ["task1", "task2", "task3"]);

    let io = std::fs::read(data("torch_parity_io.safetensors")).unwrap();
    let x = array(&io, "input");
    let target = array(&io, "target");

    let out = model.predict_raw(x.clone()).unwrap();
    let d = max_diff(&out, &array(&io, "output"));
    eprintln!("max |output - pytorch| = {d:e}");
    assert!(d < 1e-5, "outputs differ from PyTorch by {d}");

    let mut tape = Tape::new();
    let xv = tape.constant(x);
    let pv = model.param_vars(&mut tape);
    let y = model
        .net
        .forward(&mut tape, xv, &pv, true, &mut seqcnn::rng::seeded(0))
        .unwrap();
    let loss = tape.bce_with_logits(y, &target, None, None).unwrap();
    let want_loss = array(&io, "loss")[[0]];
    assert!((tape.scalar(loss).unwrap() - want_loss).abs() < 1e-6);
    let grads = tape.backward(loss).unwrap();
    for (spec, v) in model.net.params().iter().zip(&pv) {
        let want = array(&io, &format!("grad.{}", spec.torch_name()));
        let d = max_diff(grads.get(*v).unwrap(), &want);
        eprintln!("max |grad {} - pytorch| = {d:e}", spec.name);
        assert!(
            d < 1e-4,
            "gradient of {} differs from PyTorch by {d}",
            spec.name
        );
    }
}

#[test]
fn export_torch_round_trips_the_state_dict() {
    let dir = tempdir();
    let model_path = dir.path().join("m.safetensors");
    let back = dir.path().join("state.safetensors");
    let arch = data("torch_parity.toml");
    let weights = data("torch_parity_state.safetensors");
    ok(&[
        "import",
        "torch",
        "--arch",
        arch.to_str().unwrap(),
        "--weights",
        weights.to_str().unwrap(),
        "--out",
        model_path.to_str().unwrap(),
    ]);
    ok(&[
        "export",
        "torch",
        model_path.to_str().unwrap(),
        "--out",
        back.to_str().unwrap(),
    ]);
    let a = std::fs::read(&weights).unwrap();
    let b = std::fs::read(&back).unwrap();
    for name in [
        "0.weight", "0.bias", "3.weight", "3.bias", "6.weight", "6.bias",
    ] {
        assert_eq!(tensor(&a, name), tensor(&b, name), "{name}");
    }
}

#[test]
fn state_dict_with_wrong_shape_is_refused() {
    let dir = tempdir();
    let out = dir.path().join("m.safetensors");
    let weights = data("torch_parity_state.safetensors");
    // deepbind's first conv is [16, 4, 24]; the fixture's is [6, 4, 5].
    fails(
        &[
            "import",
            "torch",
            "--arch",
            "deepbind",
            "--weights",
            weights.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        &["torch_parity_state.safetensors", "0.weight", "[16, 4, 24]"],
    );
    assert!(!out.exists());
}

/// Batch norm (training and evaluation modes, running statistics) and a residual block of dilated
/// "same" convolutions, against PyTorch (tests/fixtures/make_torch_parity_resbn.py).
#[test]
fn batch_norm_and_residual_network_matches_torch() {
    let arch = seqcnn::arch::Arch::load(data("torch_parity_resbn.toml").to_str().unwrap()).unwrap();
    let model = Model::from_torch(
        arch,
        vec!["a".into(), "b".into()],
        &data("torch_parity_resbn_state.safetensors"),
    )
    .unwrap();
    let io = std::fs::read(data("torch_parity_resbn_io.safetensors")).unwrap();
    let x = array(&io, "input");
    let target = array(&io, "target");

    let eval = model.predict_raw(x.clone()).unwrap();
    let d = max_diff(&eval, &array(&io, "eval_output"));
    assert!(
        d < 1e-5,
        "evaluation-mode outputs differ from PyTorch by {d}"
    );

    let mut tape = Tape::new();
    let xv = tape.constant(x);
    let pv = model.param_vars(&mut tape);
    let (y, updates) = model
        .net
        .forward_with_updates(&mut tape, xv, &pv, true, &mut seqcnn::rng::seeded(0))
        .unwrap();
    let d = max_diff(tape.value(y), &array(&io, "train_output"));
    assert!(d < 1e-5, "training-mode outputs differ from PyTorch by {d}");
    let loss = tape.bce_with_logits(y, &target, None, None).unwrap();
    let grads = tape.backward(loss).unwrap();
    let mut checked = 0;
    for (spec, v) in model.net.params().iter().zip(&pv) {
        if spec.trainable {
            let d = max_diff(
                grads.get(*v).unwrap(),
                &array(&io, &format!("grad.{}", spec.torch)),
            );
            assert!(
                d < 1e-4,
                "gradient of {} differs from PyTorch by {d}",
                spec.torch
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 14);
    assert_eq!(updates.len(), 9, "three batch norms, three buffers each");
    for (i, value) in &updates {
        let name = &model.net.params()[*i].torch;
        let want = array(&io, &format!("after.{name}"));
        let d = max_diff(
            &value.clone().into_shape_with_order(want.shape()).unwrap(),
            &want,
        );
        assert!(
            d < 1e-5,
            "{name} after the step differs from PyTorch by {d}"
        );
    }
}
