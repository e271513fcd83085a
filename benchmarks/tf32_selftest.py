"""The selftest's training check on an Ampere or later GPU, emulated on the CPU (issue 31): what TF32 convolutions
do to its agreement figures, and what a real defect does under them.

    uv run python benchmarks/tf32_selftest.py --resolution 32 --batch-size 32 --steps 10

Arms, each compared with the selftest's reference (the plain CPU path, IEEE fp32), as `ganbench selftest` would:
  fp32 under cuDNN's default  the checked arm at precision fp32 with PyTorch's Ampere default (convolutions TF32):
                              the run's arithmetic turns TF32 off, so nothing is rounded;
  tf32                        precision tf32: every convolution's float32 operands rounded to TF32 (10 mantissa
                              bits, tests/emulate.py's EmulatedTF32), as tensor cores read them;
  tf32 + slope 0.21           a 5% error in one activation (LeakyReLU slope 0.21 for 0.2), under TF32;
  tf32 + lr_d x2              D's learning rate doubled, under TF32.
Prints one row per arm (the first-step and all-step relative differences) and whether each passes the tolerances of
its precision (selftest.TOLERANCES). A CPU emulation: the rounding is TF32's, the summation order the CPU's.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from emulate import EmulatedTF32  # noqa: E402

from ganbench import selftest as st  # noqa: E402
from ganbench.device import resolve  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resolution", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cfg = st.selftest_config("cpu", precision="fp32", resolution=args.resolution, batch_size=args.batch_size)
    weights, batches = st.inputs(cfg, args.steps)
    reference = st.run_arm(cfg, st.reference_settings(cfg), weights, batches)
    torch.backends.cudnn.conv.fp32_precision = "tf32"  # PyTorch's default on an Ampere or later GPU
    arms = {
        "fp32 under cuDNN's default": (cfg, resolve(cfg, torch.device("cpu"))),
        "tf32": (cfg, None),
        "tf32 + slope 0.21": (dataclasses.replace(cfg, leaky_slope=0.21), None),
        "tf32 + lr_d x2": (dataclasses.replace(cfg, lr_d=cfg.lr_d * 2), None),
    }
    print(f"{args.resolution}x{args.resolution}, batch {args.batch_size}, {args.steps} steps, seed {cfg.seed}")
    print(f"{'arm':<28} {'loss D/G':>19} {'grad D/G':>19} {'drift D/G':>19}  rounded  verdict")
    for name, (c, settings) in arms.items():
        settings = settings or dataclasses.replace(
            resolve(c, torch.device("cpu")), precision="tf32", arithmetic="fp32 tf32"
        )
        with EmulatedTF32() as tf32:
            agreement = st.compare(st.run_arm(c, settings, weights, batches), reference)
        f, d = agreement.first, agreement.drift
        print(
            f"{name:<28} {f['loss_d']:>9.1e}/{f['loss_g']:<9.1e} {f['grad_D']:>9.1e}/{f['grad_G']:<9.1e} "
            f"{d['loss_d']:>9.1e}/{d['loss_g']:<9.1e}  {tf32.calls['conv']:>7}  "
            f"{'pass' if agreement.ok else 'FAIL'} at {agreement.precision}"
        )


if __name__ == "__main__":
    main()
