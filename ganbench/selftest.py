"""`ganbench selftest`: does this machine's fast path compute what the plain CPU path computes, and how fast?

Two arms train the dcgan recipe's G and D for the same few steps:
  reference  the CPU, fp32, contiguous memory, the plain per-tensor Adam: the path every CPU test checks;
  checked    the chosen device with the settings a run there would use (ganbench.device.resolve: precision,
             channels_last, fused/foreach Adam, compile).
Both start from the same weights (initialised on the CPU from the seed, then copied) and see the same real
batches and z (drawn on the CPU, then copied), so they differ only in where and how they compute. Agreement is
judged on every step's D and G loss and on each network's total weight update (final - initial weights) relative
to its size, with tolerances suited to the checked arm's precision (TOLERANCES). The real batches are uniform
noise in [-1, 1]: the check is about arithmetic, not about learning faces.

Images/s per arm: real images shown to D per second over the steps after the first (warm-up, compilation),
timed between device synchronisations.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

import torch

from ganbench import objectives
from ganbench.config import Config, load_recipe, make_config
from ganbench.device import DeviceSettings, resolve
from ganbench.families import gan

# (loss, update) relative tolerances by the checked arm's precision. fp32 differs from the reference in summation
# order (channels_last, fused kernels) and, on an Ampere or later GPU, in cuDNN's TF32 convolutions (on by default
# in PyTorch for convolutions, about 1e-3 relative error). Adam's first steps move each weight by about lr times
# the sign of its gradient, so the few near-zero gradients that flip sign give update differences of a few
# percent. bf16 / fp16 keep 8 / 11 significant bits of every activation.
TOLERANCES = {"fp32": (5e-3, 5e-2), "fp16": (2e-2, 2e-1), "bf16": (5e-2, 3e-1)}


@dataclass
class Arm:
    """What one arm computed: per-step losses, each network's weight update, its speed and settings."""

    settings: DeviceSettings
    losses: dict[str, list[float]]  # "loss_d", "loss_g": one value per step
    updates: dict[str, torch.Tensor]  # "G", "D": all parameters' (final - initial), flattened, on the CPU
    img_per_s: float | None


@dataclass(frozen=True)
class Agreement:
    precision: str
    loss_tol: float
    update_tol: float
    loss_diff: dict[str, float]  # the largest relative difference over the steps
    update_diff: dict[str, float]  # ||update_checked - update_reference|| / ||update_reference||

    @property
    def ok(self) -> bool:
        return all(v <= self.loss_tol for v in self.loss_diff.values()) and \
            all(v <= self.update_tol for v in self.update_diff.values())


def selftest_config(device: str, precision: str = "auto", fast: bool = True, compile: bool = False,
                    resolution: int = 64, batch_size: int = 64, seed: int = 0) -> Config:
    return make_config(load_recipe("dcgan"), device=device, precision=precision, fast=fast, compile=compile,
                       resolution=resolution, batch_size=batch_size, seed=seed, dataset="synthetic")


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
    batches = [(torch.rand(B, cfg.channels, r, r, generator=gen) * 2 - 1,
                torch.randn(B, cfg.latent_dim, 1, 1, generator=gen), torch.randn(B, cfg.latent_dim, 1, 1, generator=gen))
               for _ in range(steps)]
    return weights, batches


def run_arm(cfg: Config, settings: DeviceSettings, weights: dict, batches: list) -> Arm:
    """Train from `weights` on `batches` with `settings` (one D step, then one G step, per batch)."""
    device = torch.device(settings.device)
    nets = gan.build(dataclasses.replace(cfg, compile=settings.compile), device, settings)
    for k in ("G", "D"):
        nets[k].load_state_dict(weights[k])  # copies into the existing tensors: their memory format stays
    start = {k: torch.cat([p.detach().flatten().float().cpu() for p in nets[k].parameters()]) for k in ("G", "D")}
    obj, amp, scaler = objectives.get(cfg.objective), settings.autocast(), settings.grad_scaler()
    mem = settings.torch_memory_format
    losses: dict[str, list[torch.Tensor]] = {"loss_d": [], "loss_g": []}
    t0 = None
    for i, (real, z_d, z_g) in enumerate(batches):
        if i == 1:  # the first step (allocation, autotuning, compilation) is not timed
            _sync(device)
            t0 = time.perf_counter()
        real = real.to(device).contiguous(memory_format=mem)
        losses["loss_d"].append(gan.d_step(cfg, nets, obj, real, z_d.to(device), amp, scaler)["loss_d"])
        losses["loss_g"].append(gan.g_step(cfg, nets, obj, z_g.to(device), amp, scaler)["loss_g"])
    _sync(device)
    seconds = time.perf_counter() - t0 if t0 is not None else 0.0
    timed = (len(batches) - 1) * cfg.batch_size
    end = {k: torch.cat([p.detach().flatten().float().cpu() for p in nets[k].parameters()]) for k in ("G", "D")}
    return Arm(settings, {k: torch.stack(v).float().cpu().tolist() for k, v in losses.items()},
               {k: end[k] - start[k] for k in ("G", "D")}, timed / seconds if seconds > 0 else None)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def compare(checked: Arm, reference: Arm) -> Agreement:
    """Relative differences of the checked arm from the reference, against the checked precision's tolerances."""
    loss_tol, update_tol = TOLERANCES[checked.settings.precision]
    loss_diff = {k: max(abs(a - b) / max(abs(b), 1e-6) for a, b in zip(checked.losses[k], v, strict=True))
                 for k, v in reference.losses.items()}
    update_diff = {k: ((checked.updates[k] - v).norm() / v.norm().clamp_min(1e-12)).item()
                   for k, v in reference.updates.items()}
    return Agreement(checked.settings.precision, loss_tol, update_tol, loss_diff, update_diff)


def report(cfg: Config, steps: int, checked: Arm, reference: Arm, agreement: Agreement) -> str:
    """The table `ganbench selftest` prints."""
    lines = [f"selftest: dcgan G and D, {cfg.resolution}x{cfg.resolution}, batch {cfg.batch_size}, {steps} steps, "
             f"seed {cfg.seed}",
             f"{'arm':<10} {'device':<7} {'precision':<10} {'memory':<14} {'adam':<8} {'compile':<8} img/s"]
    for name, arm in (("reference", reference), ("checked", checked)):
        s = arm.settings
        speed = f"{arm.img_per_s:.1f}" if arm.img_per_s else "n/a (one step)"
        lines.append(f"{name:<10} {s.device:<7} {s.precision:<10} {s.memory_format:<14} {s.optimizer:<8} "
                     f"{str(s.compile).lower():<8} {speed}")
    a = agreement
    lines.append(f"agreement at {a.precision} tolerances (loss {a.loss_tol:g}, update {a.update_tol:g}):")
    for k, v in a.loss_diff.items():
        lines.append(f"  {k:<9} largest relative difference over the steps {v:.2e}  "
                     f"{'ok' if v <= a.loss_tol else 'DISAGREES'}")
    for k, v in a.update_diff.items():
        lines.append(f"  {k} update relative difference {v:.2e}  {'ok' if v <= a.update_tol else 'DISAGREES'}")
    lines.append("PASS: the checked path agrees with the CPU reference" if a.ok else
                 "FAIL: the checked path disagrees with the CPU reference")
    return "\n".join(lines)
