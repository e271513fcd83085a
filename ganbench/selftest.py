"""`ganbench selftest`: does this machine's fast path compute what the plain CPU path computes, and how fast?

Two arms train the dcgan recipe's G and D for the same few steps:
  reference  the CPU, fp32, contiguous memory, the plain per-tensor Adam: the path every CPU test checks;
  checked    the chosen device with the settings a run there would use (ganbench.device.resolve: precision,
             channels_last, fused/foreach Adam, compile).
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
timed between device synchronisations.

Then one evaluation per arm (`--eval-samples`, EVAL_SAMPLES by default; 0 skips it): Inception features of the
built-in faces' test split, handed to the evaluator's sampler path as generated images (float in [-1, 1] on the
device, quantised there, checked for NaN there), and of its train split as the reference, then every registered
metric: on the CPU (reference) and on the device with what a run there uses (features in fp32 without TF32,
statistics in float64 on the GPU where it has float64). Agreement (EVAL_TOLERANCES): each feature set's relative
norm of the difference; FID, FID-infinity, KID and their intervals relative to the metric's value; the shares
(precision, recall, density, coverage, c2st and its interval) to within a few samples' worth, since a round-off
difference can move one sample across a k-NN ball's edge or the classifier's boundary. c2st's p-value is not
compared: one sample moves it by orders of magnitude; the accuracy it comes from is.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from ganbench import objectives, penalties
from ganbench.config import Config, load_recipe, make_config
from ganbench.device import DeviceSettings, resolve, statistics_device, synchronize
from ganbench.families import gan
from ganbench.metrics import names

# (first-step loss, first-step gradient, loss over all steps) relative tolerances by the checked arm's precision.
# fp32 differs from the reference in summation order (channels_last, fused kernels) and, on an Ampere or later
# GPU, in cuDNN's TF32 convolutions (on by default in PyTorch for convolutions; about 1e-3 relative error).
# bf16 / fp16 keep 8 / 11 significant bits of every activation. Measured on this CPU: see README "GPU and Mac".
TOLERANCES = {"fp32": (5e-3, 2e-2, 5e-2), "fp16": (2e-2, 1e-1, 1e-1), "bf16": (5e-2, 3e-1, 2e-1)}

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
    tolerances: tuple[float, float, float]  # TOLERANCES[precision]
    first: dict[str, float]  # loss_d, loss_g: first step's relative difference; grad_D, grad_G: ||a - b|| / ||b||
    drift: dict[str, float]  # loss_d, loss_g: the largest relative difference over all steps

    def checks(self) -> list[tuple[str, float, float]]:
        """(what, difference, tolerance) for every comparison."""
        loss_tol, grad_tol, drift_tol = self.tolerances
        return [
            *((f"first step {k}", v, grad_tol if k.startswith("grad") else loss_tol) for k, v in self.first.items()),
            *((f"all steps {k}", v, drift_tol) for k, v in self.drift.items()),
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
    """Train from `weights` on `batches` with `settings` (one D step, then one G step, per batch)."""
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
    precision = checked.settings.precision
    return Agreement(precision, TOLERANCES[precision], first, drift)


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
    for what, v, tol in a.checks():
        lines.append(f"  {what:<22} {v:.2e}  (tolerance {tol:g})  {'ok' if v <= tol else 'DISAGREES'}")
    lines.append(
        "PASS: the checked path agrees with the CPU reference"
        if a.ok
        else "FAIL: the checked path disagrees with the CPU reference"
    )
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------- evaluation
EVAL_SAMPLES = 200  # images per set in the evaluation check (generated and reference)
EVAL_BATCH = 100  # Inception batch size, as `ganbench run` evaluates
# feature sets: relative norm of the difference (fp32 convolutions without TF32 in another summation order, about
# 1e-6); FID, FID-infinity, KID and their parts: relative to the metric's own value (float64 statistics of
# features that differ by round-off); the shares: this many samples' worth (a sample across an edge).
EVAL_TOLERANCES = {"features": 1e-4, "relative": 1e-3, "samples": 2}
SHARES = (names.PRECISION, names.RECALL, names.DENSITY, names.COVERAGE, names.C2ST)


@dataclass
class EvalArm:
    """One evaluation: where it ran, its features (on the CPU, for comparing), every metric and its speed."""

    device: str  # where the Inception features were computed
    statistics: str  # where the metric statistics were (ganbench.device.statistics_device)
    features: dict[str, torch.Tensor]  # "generated", "reference": (n, 2048) float32, on the CPU
    values: dict[str, float]  # every registered metric's result keys ('fid', 'kid_lo', ...)
    img_per_s: float  # Inception images per second (both sets)
    stats_seconds: float  # the metrics from the features


@dataclass(frozen=True)
class EvalAgreement:
    n: int
    checks_: tuple[tuple[str, float, float], ...]  # (what, difference, tolerance)

    def checks(self) -> list[tuple[str, float, float]]:
        return list(self.checks_)

    @property
    def ok(self) -> bool:
        return all(v <= tol for _, v, tol in self.checks_)


def eval_images(cfg: Config, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(generated, reference) uint8 (n, C, R, R) on the CPU: the built-in faces' test and train splits, the same
    pixels for both arms (a generator would add its own arithmetic to the comparison)."""
    from ganbench.data import DataSpec, load_dataset

    split = lambda s: (  # noqa: E731
        load_dataset(
            DataSpec(
                "synthetic",
                resolution=cfg.resolution,
                max_images=n,
                split=s,
            )
        ).images
    )
    return split("test"), split("train")


def _replay(images: torch.Tensor, device: torch.device) -> Callable[[int], torch.Tensor]:
    """sample(b) -> the next b of `images` as a generator returns them: float in [-1, 1] on `device`."""
    pos = [0]

    def sample(b: int) -> torch.Tensor:
        out = images[pos[0] : pos[0] + b].to(device).float() / 127.5 - 1
        pos[0] += b
        return out

    return sample


def run_eval_arm(
    device: torch.device, generated: torch.Tensor, reference: torch.Tensor, batch_size: int = EVAL_BATCH
) -> EvalArm:
    """Inception features of both sets on `device` (the generated ones through the evaluator's sampler path) and
    every registered metric from them, as an evaluation during a run there computes them."""
    from ganbench.metrics import inception
    from ganbench.metrics.evaluator import METRICS, MetricSettings, compute_metrics, kid_subset_size
    from ganbench.metrics.features import images_features, sampler_features

    weights = inception.resolve_weights("")
    n = generated.shape[0]
    synchronize(device)
    t0 = time.perf_counter()
    ref = images_features(reference, weights, device, batch_size)
    gen, finite = sampler_features(_replay(generated, device), n, weights, device, batch_size)
    synchronize(device)
    t1 = time.perf_counter()
    if not finite:
        raise FloatingPointError(f"the replayed images came out non-finite on {device}")
    settings = MetricSettings(kid_subset_size(n, reference.shape[0]))
    values = compute_metrics(gen, ref, settings, tuple(METRICS.names()))
    synchronize(device)
    t2 = time.perf_counter()
    return EvalArm(
        device.type,
        statistics_device(device).type,
        {"generated": gen.features.float().cpu(), "reference": ref.features.float().cpu()},
        values,
        (n + reference.shape[0]) / max(t1 - t0, 1e-9),
        t2 - t1,
    )


def compare_eval(checked: EvalArm, reference: EvalArm) -> EvalAgreement:
    """The checked arm's differences from the reference, against EVAL_TOLERANCES (see the module docstring)."""
    tol = EVAL_TOLERANCES
    checks = []
    for k, want in reference.features.items():
        diff = (checked.features[k] - want).norm() / want.norm().clamp_min(1e-12)
        checks.append((f"features {k}", float(diff), tol["features"]))
    n = reference.features["generated"].shape[0]
    for key, want in reference.values.items():
        base, _, part = key.partition("_")
        if part == names.P:  # see the module docstring
            continue
        got = checked.values.get(key, math.nan)
        if base in SHARES:
            limit = tol["samples"] / n
            what = f"{key} (absolute)"
            diff = abs(got - want)
        else:
            scale = max(abs(want), abs(reference.values.get(base, want)), 1e-12)
            limit, what, diff = tol["relative"], key, abs(got - want) / scale
        if math.isnan(want) or math.isnan(got):  # FID-infinity below its 50 samples: NaN on both arms
            diff = 0.0 if math.isnan(want) and math.isnan(got) else math.inf
        checks.append((what, diff, limit))
    return EvalAgreement(n, tuple(checks))


def eval_report(checked: EvalArm, reference: EvalArm, agreement: EvalAgreement) -> str:
    """The evaluation part of what `ganbench selftest` prints."""
    n = agreement.n
    lines = [
        f"evaluation: {n} built-in faces (test split, as generated images) against {n} (train split), "
        "every registered metric",
        f"{'arm':<10} {'features':<9} {'statistics':<11} {'inception img/s':<16} statistics s",
    ]
    for name, arm in (("reference", reference), ("checked", checked)):
        lines.append(f"{name:<10} {arm.device:<9} {arm.statistics:<11} {arm.img_per_s:<16.1f} {arm.stats_seconds:.2f}")
    lines.append("agreement (features: relative norm; shares: absolute; other metrics: relative to their value):")
    for what, v, tol in agreement.checks():
        lines.append(f"  {what:<22} {v:.2e}  (tolerance {tol:g})  {'ok' if v <= tol else 'DISAGREES'}")
    lines.append(
        "PASS: the device's evaluation agrees with the CPU's"
        if agreement.ok
        else "FAIL: the device's evaluation disagrees with the CPU's"
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
