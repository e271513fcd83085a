"""`ganbench selftest`: does this machine's fast path compute what the plain CPU path computes, and how fast?

Two arms train the dcgan recipe's G and D for the same few steps:
  reference  the CPU, IEEE fp32, contiguous memory, the plain per-tensor Adam: the path every CPU test checks;
  checked    the chosen device with the settings a run there would use (ganbench.device.resolve: the arithmetic,
             with TF32 on or off as it says, channels_last, fused/foreach Adam, compile).
Both start from the same weights (initialised on the CPU from the seed, then copied) and see the same real
batches and z (drawn on the CPU, then copied), so they differ only in where and how they compute. Agreement, with
tolerances suited to the checked arm's precision (TOLERANCES):
  first step  D's and G's loss, and each network's gradient (relative norm of the difference): the same weights
              and inputs, so this is the forward and backward arithmetic alone;
  all steps   the largest relative loss difference over the steps: GAN training amplifies rounding differences
              step by step, so this tolerance is looser.
Weights after the steps are not compared: Adam divides each gradient by its own running size, so weights whose
gradient is near zero move by +-lr on a rounding difference (measured on this CPU: channels_last alone moved G's
first update by 3.5% with the losses equal to 3e-7). The real batches are uniform noise in [-1, 1]: the check is
about arithmetic, not about learning faces. fp16's loss scaler starts at FP16_SCALE rather than PyTorch's 2**16:
from 2**16 the first G step's gradients overflow and the scaler skips that step while it calibrates (measured on
this CPU at 32x32), which is by design but leaves nothing to compare.

Images/s per arm: real images shown to D per second over the steps after the first (warm-up, compilation),
timed between device synchronisations. The evaluation's Inception images/s likewise excludes one-time setup (the
weights, BatchNorm folding, the first CUDA and cuDNN calls): one batch goes through before the clock starts.

Then one evaluation per arm (`--eval-samples`, EVAL_SAMPLES by default; 0 skips it): Inception features of the
built-in faces' test split, handed to the evaluator's sampler path as generated images (float in [-1, 1] on the
device, quantised there, checked for NaN there), and of its train split as the reference, then every registered
metric: on the CPU (reference) and on the device with what a run there uses (features in fp32 without TF32,
statistics in float64 where ganbench.device.statistics_device puts them). Beside the registered metrics, FID by the
covariance route (`fid_from_statistics`: float64 mean, covariance and D x D eigensolves where the statistics run),
which an evaluation takes above 2048 samples (a GPU run's 10k) and the selftest's few hundred never would.
Agreement (EVAL_TOLERANCES): each feature set's relative norm of the difference; FID (both routes), FID-infinity,
KID and their intervals relative to the metric's value; the shares (each metric's `shares`: precision, recall,
density, coverage, c2st and its interval) to within a few samples' worth, since a round-off difference can move
one sample across a k-NN ball's edge or the classifier's boundary. c2st's p-value is not compared: one sample moves
it by orders of magnitude; the accuracy it comes from is.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

import torch

from ganbench import objectives, penalties
from ganbench.config import Config, load_recipe, make_config
from ganbench.device import DeviceSettings, fp32_arithmetic, resolve, synchronize
from ganbench.families import gan
from ganbench.selftest.evaluation import (  # noqa: F401  re-exported: the check's parts by one name
    EVAL_SAMPLES,
    EVAL_TOLERANCES,
    KEY_FID_COVARIANCE,
    EvalAgreement,
    EvalArm,
    compare_eval,
    eval_images,
    eval_report,
    run_eval_arm,
    verdict_lines,
)


@dataclass(frozen=True)
class Tolerances:
    """Relative tolerances of one checked precision: first-step losses, first-step gradients of D and of G, and
    the largest loss difference over all steps."""

    loss: float
    grad_d: float
    grad_g: float
    drift: float


# By the checked arm's precision. fp32 is IEEE fp32 on every device (TF32 off: ganbench.device.fp32_arithmetic), so
# it differs from the reference only in summation order (channels_last, fused kernels), which moves G's first-step
# gradient (after D's first Adam step) by up to 1.9e-2 at 64x64 on one thread (docs/gpu.md). tf32 rounds every
# convolution's operands to 10 mantissa bits: measured by emulation on this CPU (docs/gpu.md, issue 31), grad_D
# 1.4e-2 / 1.9e-2, grad_G 4.6e-2 / 5.4e-2 and the loss drift 1.3e-2 / 4.0e-2 over 10 steps at 32x32 / 64x64, while
# a 5% error in one activation moves grad_D by 4.5e-2 to 7.3e-2: hence grad_D 3e-2, grad_G 0.15, drift 0.1.
# bf16 / fp16 keep 8 / 11 significant bits of every activation. Measured on this CPU: see docs/gpu.md.
TOLERANCES = {
    "fp32": Tolerances(5e-3, 2e-2, 5e-2, 5e-2),
    "tf32": Tolerances(5e-3, 3e-2, 1.5e-1, 1e-1),
    "fp16": Tolerances(2e-2, 1e-1, 1e-1, 1e-1),
    "bf16": Tolerances(5e-2, 3e-1, 3e-1, 2e-1),
}

FP16_SCALE = 2.0**8  # the selftest's initial fp16 loss scale (training starts at PyTorch's 2**16 and lowers it)


@dataclass
class Arm:
    """What one arm computed: per-step losses, each network's weight update, its speed and settings."""

    settings: DeviceSettings
    losses: dict[str, list[float]]  # "loss_d", "loss_g": one value per step
    grads: dict[str, torch.Tensor]  # "D", "G": the first step's gradients, flattened, on the CPU
    img_per_s: float | None


@dataclass(frozen=True)
class Agreement:
    precision: str
    tolerances: Tolerances  # TOLERANCES[precision]
    first: dict[str, float]  # loss_d, loss_g: first step's relative difference; grad_D, grad_G: ||a - b|| / ||b||
    drift: dict[str, float]  # loss_d, loss_g: the largest relative difference over all steps

    def checks(self) -> list[tuple[str, float, float]]:
        """(what, difference, tolerance) for every comparison."""
        t = self.tolerances
        first = {"grad_D": t.grad_d, "grad_G": t.grad_g}
        return [
            *((f"first step {k}", v, first.get(k, t.loss)) for k, v in self.first.items()),
            *((f"all steps {k}", v, t.drift) for k, v in self.drift.items()),
        ]

    @property
    def ok(self) -> bool:
        return all(v <= tol for _, v, tol in self.checks())


def selftest_config(
    device: str,
    precision: str = "auto",
    fast: bool = True,
    compile: bool = False,
    resolution: int = 64,
    batch_size: int = 64,
    seed: int = 0,
) -> Config:
    return make_config(
        load_recipe("dcgan"),
        device=device,
        precision=precision,
        fast=fast,
        compile=compile,
        resolution=resolution,
        batch_size=batch_size,
        seed=seed,
        dataset="synthetic",
    )


def reference_settings(cfg: Config) -> DeviceSettings:
    """The plain CPU path: fp32, contiguous, per-tensor Adam, no compile."""
    plain = dataclasses.replace(cfg, device="cpu", precision="fp32", fast=False, compile=False)
    return resolve(plain, torch.device("cpu"))


def inputs(cfg: Config, steps: int) -> tuple[dict, list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]]:
    """(initial G and D weights, one (real, z for D, z for G) per step), all on the CPU, from cfg.seed."""
    torch.manual_seed(cfg.seed)
    nets = gan.build(cfg, torch.device("cpu"), reference_settings(cfg))
    weights = {k: {n: t.clone() for n, t in nets[k].state_dict().items()} for k in ("G", "D")}
    gen = torch.Generator().manual_seed(cfg.seed)
    B, r = cfg.batch_size, cfg.resolution
    batches = [
        (
            torch.rand(B, cfg.channels, r, r, generator=gen) * 2 - 1,
            torch.randn(B, cfg.latent_dim, 1, 1, generator=gen),
            torch.randn(B, cfg.latent_dim, 1, 1, generator=gen),
        )
        for _ in range(steps)
    ]
    return weights, batches


def run_arm(cfg: Config, settings: DeviceSettings, weights: dict, batches: list) -> Arm:
    """Train from `weights` on `batches` with `settings` (one D step, then one G step, per batch), in the
    arithmetic they say (TF32 on or off), as a run does."""
    with fp32_arithmetic(settings):
        return _run_arm(cfg, settings, weights, batches)


def _run_arm(cfg: Config, settings: DeviceSettings, weights: dict, batches: list) -> Arm:
    device = torch.device(settings.device)
    nets = gan.build(cfg, device, settings)  # compiles what settings.compile names
    for k in ("G", "D"):
        nets[k].load_state_dict(weights[k])  # copies into the existing tensors: their memory format stays
    obj, amp, scaler = objectives.get(cfg.objective), settings.autocast(), settings.grad_scaler()
    penalty = penalties.get(cfg.penalty)
    if scaler is not None:  # fp16: from 2**16, the loss scaler's first steps overflow and are skipped by design
        scaler = torch.amp.GradScaler(settings.device, init_scale=FP16_SCALE)  # while it calibrates: not comparable
    mem = settings.torch_memory_format
    losses: dict[str, list[torch.Tensor]] = {"loss_d": [], "loss_g": []}
    t0 = None
    for i, (real, z_d, z_g) in enumerate(batches):
        if i == 1:  # the first step (allocation, autotuning, compilation) is not timed
            synchronize(device)
            t0 = time.perf_counter()
        real = real.to(device).contiguous(memory_format=mem)
        weight = penalties.lazy_weight(cfg.penalty_weight, cfg.penalty_every, i)
        losses["loss_d"].append(
            gan.d_step(cfg, nets, obj, penalty, weight, real, z_d.to(device), amp, scaler)["loss_d"]
        )
        if i == 0:  # the D step leaves its (unscaled) gradients in .grad until the next zero_grad
            grads = {"D": _flat_grad(nets["D"])}
        real_g = real if obj.needs_real_in_g else None  # relativistic G losses see D on this batch's reals
        losses["loss_g"].append(gan.g_step(cfg, nets, obj, z_g.to(device), real_g, amp, scaler)["loss_g"])
        if i == 0:
            grads["G"] = _flat_grad(nets["G"])
    synchronize(device)
    seconds = time.perf_counter() - t0 if t0 is not None else 0.0
    timed = (len(batches) - 1) * cfg.batch_size
    return Arm(
        settings,
        {k: torch.stack(v).float().cpu().tolist() for k, v in losses.items()},
        grads,
        timed / seconds if seconds > 0 else None,
    )


def _flat_grad(net: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.grad.detach().flatten().float().cpu() for p in net.parameters()])


def compare(checked: Arm, reference: Arm) -> Agreement:
    """Relative differences of the checked arm from the reference, against the checked precision's tolerances."""

    def rel(a: float, b: float) -> float:
        return abs(a - b) / max(abs(b), 1e-6)

    first = {k: rel(checked.losses[k][0], v[0]) for k, v in reference.losses.items()}
    first |= {
        f"grad_{k}": ((checked.grads[k] - v).norm() / v.norm().clamp_min(1e-12)).item()
        for k, v in reference.grads.items()
    }
    drift = {k: max(rel(a, b) for a, b in zip(checked.losses[k], v, strict=True)) for k, v in reference.losses.items()}
    precision = tolerance_key(checked.settings)
    return Agreement(precision, TOLERANCES[precision], first, drift)


def tolerance_key(settings: DeviceSettings) -> str:
    """Which TOLERANCES apply: those of what the arm computes (tf32 asked for where there is no TF32: fp32)."""
    if settings.precision == "tf32":
        return "tf32" if settings.arithmetic == "fp32 tf32" else "fp32"
    return settings.precision


def report(cfg: Config, steps: int, checked: Arm, reference: Arm, agreement: Agreement) -> str:
    """The table `ganbench selftest` prints."""
    lines = [
        f"selftest: dcgan G and D, {cfg.resolution}x{cfg.resolution}, batch {cfg.batch_size}, {steps} steps, "
        f"seed {cfg.seed}",
        f"{'arm':<10} {'device':<7} {'precision':<10} {'memory':<14} {'adam':<8} {'compile':<8} img/s",
    ]
    for name, arm in (("reference", reference), ("checked", checked)):
        s = arm.settings
        speed = f"{arm.img_per_s:.1f}" if arm.img_per_s else "n/a (one step)"
        lines.append(
            f"{name:<10} {s.device:<7} {s.precision:<10} {s.memory_format:<14} {s.optimizer:<8} "
            f"{'+'.join(s.compile) or 'off':<8} {speed}"
        )
    a = agreement
    lines.append(f"agreement at {a.precision} tolerances (relative differences):")
    lines += verdict_lines(
        a, "the checked path agrees with the CPU reference", "the checked path disagrees with the CPU reference"
    )
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------- the check
@dataclass
class Selftest:
    """What one `ganbench selftest` found: the training arms and their agreement, then the evaluation arms and
    theirs (None when skipped)."""

    cfg: Config
    steps: int
    checked: Arm
    reference: Arm
    agreement: Agreement
    evaluation: tuple[EvalArm, EvalArm, EvalAgreement] | None

    @property
    def ok(self) -> bool:
        return self.agreement.ok and (self.evaluation is None or self.evaluation[2].ok)

    def text(self) -> str:
        lines = [report(self.cfg, self.steps, self.checked, self.reference, self.agreement)]
        return "\n".join(lines + ([eval_report(*self.evaluation)] if self.evaluation is not None else []))


def run_selftest(
    device: str = "auto",
    precision: str = "auto",
    fast: bool = True,
    compile: bool = False,
    steps: int = 10,
    resolution: int = 64,
    batch_size: int = 64,
    seed: int = 0,
    eval_samples: int | None = None,
) -> Selftest:
    """A few dcgan steps on `device` and on the plain CPU path from the same weights and batches, then one
    evaluation on each (`eval_samples` images per set, EVAL_SAMPLES when None; 0 skips it). Raises ConfigError
    for options that cannot check anything."""
    from ganbench import families
    from ganbench.device import pick_device
    from ganbench.errors import ConfigError
    from ganbench.metrics.evaluator import MIN_SAMPLES

    if steps < 1:
        raise ConfigError("--steps must be at least 1")
    n_eval = EVAL_SAMPLES if eval_samples is None else eval_samples
    if n_eval != 0 and n_eval < MIN_SAMPLES:
        raise ConfigError(f"--eval-samples must be 0 (no evaluation check) or at least {MIN_SAMPLES}")
    cfg = selftest_config(device, precision, fast, compile, resolution, batch_size, seed)
    weights, batches = inputs(cfg, steps)
    reference = run_arm(cfg, reference_settings(cfg), weights, batches)
    checked = run_arm(cfg, families.device_settings(cfg, pick_device(device)), weights, batches)
    evaluation = None
    if n_eval:
        generated, real = eval_images(cfg, n_eval)
        eval_reference = run_eval_arm(torch.device("cpu"), generated, real)
        eval_checked = run_eval_arm(pick_device(device), generated, real)
        evaluation = (eval_checked, eval_reference, compare_eval(eval_checked, eval_reference))
    return Selftest(cfg, steps, checked, reference, compare(checked, reference), evaluation)
