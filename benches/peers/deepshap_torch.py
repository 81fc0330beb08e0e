"""DeepSHAP throughput in PyTorch: captum's DeepLiftShap or tangermeme's deep_lift_shap, the peers
`benches/deepshap.rs` is compared with (`benches/peers/deepshap.sh` runs them all).

The same networks as the bench's (the built-in `deepbind` and `deepsea` architectures, whose
`nn.Sequential`s `src/arch/*.toml` give), loading the state dict `seqcnn export torch` writes
(`DIR/NAME.state.safetensors`), and the same inputs and references (`DIR/NAME.npz`: `x [N, 4, L]`,
`refs [N, R, 4, L]`, both written by the bench). Each explains the logit of task `task` on the
forward strand only, sequence by sequence against its own R references: captum's
`DeepLiftShap(net).attribute(x[i:i+1], baselines=refs[i], target=task)`, tangermeme's
`deep_lift_shap(net, x, target=task, references=refs, device="cpu")` over all N (its default
batch size). Two changes to the layers that do not change the function, so that both libraries
apply the max-pooling rule seqcnn does: DeepBind's global max pooling is `nn.MaxPool1d` over the
whole convolution output (captum takes a tensor max by its gradient), and every ReLU whose output
is a max pooling's input is followed by a copy (with torch 2.15 captum's hooks on a tensor that
is both drop the pooling's rule; see the README's Attributions section). Parameter indices are
those of the `nn.Sequential`s in `src/arch/*.toml`.

Timing: one sequence untimed first, then all N (or the first `--n`); prints one JSON line with sequences per second,
and with `--out F.npz` writes the attributions summed over the four channels (`attr [N, L]`) for
the runner to check against seqcnn's.

    python benches/peers/deepshap_torch.py --peer captum --model deepsea --data DIR --threads 2
"""

import argparse
import json
import time

import numpy as np
import torch
from safetensors.torch import load_file
from torch import nn


class Copy(nn.Module):
    def forward(self, x):
        return x.clone()


def build(name, length):
    relu_copy = nn.Sequential(nn.ReLU(), Copy())
    if name == "deepbind":
        pool = nn.Sequential(nn.MaxPool1d(length - 24 + 1), nn.Flatten())
        return nn.Sequential(nn.Conv1d(4, 16, 24), relu_copy, pool, nn.Linear(16, 32), nn.ReLU(),
                             nn.Dropout(0.5), nn.Linear(32, 1))
    if name == "deepsea":
        return nn.Sequential(
            nn.Conv1d(4, 320, 8), relu_copy, nn.MaxPool1d(4), nn.Dropout(0.2),
            nn.Conv1d(320, 480, 8), nn.Sequential(nn.ReLU(), Copy()), nn.MaxPool1d(4),
            nn.Dropout(0.2),
            nn.Conv1d(480, 960, 8), nn.ReLU(), nn.Dropout(0.5), nn.Flatten(),
            nn.Linear(960 * 53, 925), nn.ReLU(), nn.Linear(925, 919))
    raise SystemExit(f"unknown model {name}: deepbind or deepsea")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--peer", required=True, choices=["captum", "tangermeme"])
    p.add_argument("--model", required=True, choices=["deepbind", "deepsea"])
    p.add_argument("--data", required=True, help="the directory `deepshap --data` wrote")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--n", type=int, help="time the first N sequences only (default: all)")
    p.add_argument("--out", help="write the attributions per position (npz, `attr [N, L]`)")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    data = np.load(f"{a.data}/{a.model}.npz")
    x = torch.from_numpy(data["x"][:a.n])
    refs = torch.from_numpy(data["refs"][:a.n])
    task = int(data["task"][0])
    n, _, length = x.shape
    net = build(a.model, length)
    net.load_state_dict(load_file(f"{a.data}/{a.model}.state.safetensors"))
    net.eval()

    if a.peer == "captum":
        import captum
        from captum.attr import DeepLiftShap

        version = f"captum {captum.__version__}"
        explainer = DeepLiftShap(net)

        def run(lo, hi):
            return torch.cat([
                explainer.attribute(x[i:i + 1], baselines=refs[i], target=task).detach()
                for i in range(lo, hi)
            ])
    else:
        from importlib.metadata import version as pkg_version
        from tangermeme.deep_lift_shap import deep_lift_shap

        version = f"tangermeme {pkg_version('tangermeme')}"

        def run(lo, hi):
            return deep_lift_shap(net, x[lo:hi], target=task, references=refs[lo:hi],
                                  n_shuffles=refs.shape[1], device="cpu",
                                  warning_threshold=1e9).detach()

    run(0, 1)
    start = time.perf_counter()
    attr = run(0, n)
    secs = time.perf_counter() - start
    if a.out:
        np.savez(a.out, attr=attr.sum(1).numpy().astype(np.float32))
    print(json.dumps({
        "peer": version,
        "torch": torch.__version__,
        "model": a.model,
        "threads": torch.get_num_threads(),
        "n": n,
        "seconds": secs,
        "seqs_per_sec": n / secs,
    }), flush=True)


if __name__ == "__main__":
    main()
