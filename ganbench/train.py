"""One training loop for every variant. It never knows which objective or family it runs: the family
(`ganbench.families`) builds the networks and takes a step; a GAN's objective is three functions of D's logits.

Units: the budget counts real images shown to D (kimg), epochs, G steps, or wall-clock seconds of training
(evaluation excluded). Every record carries kimg, epoch, G steps and seconds. Images are (B, C, H, W) in [-1, 1].
Checkpoint I/O lives in `ganbench.checkpoint`, grids and collapse diagnostics in `ganbench.diagnostics`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ganbench import families
from ganbench.budget import Budget
from ganbench.checkpoint import CheckpointError, Counters, load_checkpoint, load_resume, save_checkpoint
from ganbench.config import Config
from ganbench.device import (
    DeviceSettings,
    data_on_device,
    peak_memory_mb,
    pick_device,
    reset_peak_memory,
    synchronize,
    to_device_async,
)
from ganbench.diagnostics import (
    COLLAPSE_RATIO,
    COLLAPSE_SAMPLES,
    EVAL_SEED,
    GRID,
    collapse_report,
    diversity,
    real_diversity,
    save_grid,
    summary_device_name,
)
from ganbench.families.common import ema_generator
from ganbench.metrics import names
from ganbench.models import sample_latent
from ganbench.rundir import RunDir
from ganbench.sampling import make_sampler

__all__ = [
    "COLLAPSE_RATIO",
    "EVAL_SEED",
    "CheckpointError",
    "Counters",
    "Diverged",
    "Loop",
    "build",
    "collapse_report",
    "diversity",
    "load_checkpoint",
    "pick_device",
    "train",
]


class Diverged(RuntimeError):
    """A loss became non-finite; the run ends with status `diverged`."""


def build(cfg: Config, device: torch.device, settings: DeviceSettings | None = None) -> dict[str, Any]:
    """Networks and optimisers for the config's family, initialised from the global RNG (seeded by the caller);
    memory format and Adam implementation from `settings` (default: ganbench.families.device_settings)."""
    return families.get(cfg.family).impl.build(cfg, device, settings or families.device_settings(cfg, device))


def _autocast(cfg: Config, device: torch.device):
    return families.device_settings(cfg, device).autocast()


# ---------------------------------------------------------------------------------------------------- the state
@dataclass
class Loop:
    """What a family's step reads and advances: networks, random stream, data, counters, the tick's loss sums."""

    cfg: Config
    device: torch.device
    nets: dict[str, Any]
    gen: torch.Generator  # batches, z and VAE noise: all from this one stream (batches: see host_gen)
    data: torch.Tensor  # uint8 (N, C, H, W), on the device when it fits
    budget: Budget  # in images, steps or seconds (epochs already turned into images)
    settings: DeviceSettings  # memory format, autocast, loss scaler, Adam implementation (ganbench.device)
    amp: Any
    scaler: Any
    c: Counters = field(default_factory=Counters)
    sums: dict[str, torch.Tensor] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    # Batch indices are drawn where the data set lives: from `gen` when it is on the device (always on the CPU),
    # from this host stream (seeded by the run's seed, checkpointed) when it stays on the host.
    host_gen: torch.Generator | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        if self.data.device.type != self.device.type:
            self.host_gen = torch.Generator().manual_seed(self.cfg.seed)

    def real_batch(self) -> torch.Tensor:
        """B real images in [-1, 1] on the device, in the run's memory format. No host sync: indices never cross
        between host and device (drawing them on the GPU for a data set on the host, then reading them back and
        copying the batch from pageable memory, cost two syncs per batch)."""
        B, N = self.cfg.batch_size, self.data.shape[0]
        if self.host_gen is None:
            x = self.data[torch.randint(N, (B,), device=self.gen.device, generator=self.gen)]
        else:
            x = to_device_async(self.data, torch.randint(N, (B,), generator=self.host_gen), self.device)
        return x.float().div_(127.5).sub_(1).contiguous(memory_format=self.settings.torch_memory_format)

    def z_batch(self) -> torch.Tensor:
        return sample_latent(self.cfg.batch_size, self.cfg.latent_dim, self.cfg.latent_dist, self.device, self.gen)

    def add(self, stats: dict[str, torch.Tensor]) -> None:
        """Sum a step's statistics on the device: no host sync inside a step."""
        for k, v in stats.items():
            self.sums[k] = self.sums[k] + v if k in self.sums else v.clone()
            self.counts[k] = self.counts.get(k, 0) + 1

    def spent(self) -> bool:
        return self.budget.spent(self.c.img, self.c.g_steps, self.c.seconds)

    def images_spent(self) -> bool:
        """An image budget stops exactly, even between the D steps of one G step."""
        return self.budget.unit == "img" and self.spent()

    def take_means(self) -> dict[str, float]:
        """The tick's mean statistics, read with one host sync; the sums start over."""
        keys = list(self.sums)
        values = torch.stack([self.sums[k] / self.counts[k] for k in keys]).tolist() if keys else []
        self.sums, self.counts = {}, {}
        return dict(zip(keys, values, strict=True))

    def where(self) -> dict[str, Any]:
        """The counters every record carries."""
        return {"kimg": self.c.img / 1000, "epoch": self.c.img / self.data.shape[0], "g_steps": self.c.g_steps}


@dataclass
class Clock:
    """Training time excludes evaluation: t0 moves forward by each evaluation's duration."""

    t0: float
    tick_t0: float
    tick_img: int
    eval_seconds: float = 0.0

    def pause(self, seconds: float) -> None:
        self.eval_seconds += seconds
        self.t0 += seconds
        self.tick_t0 += seconds


# ---------------------------------------------------------------------------------------------------- the loop
def train(
    cfg: Config,
    run_dir: Path,
    images: torch.Tensor,
    evaluate: Callable | None = None,
    progress: Callable[[Counters], None] | None = None,
    resume: bool = True,
) -> dict[str, Any]:
    """Train one variant and seed. images: uint8 (N, C, H, W). Returns the summary fields (status excluded).

    evaluate(sample) -> {metric: value} is called every cfg.eval_every_kimg and at the end.
    Raises Diverged on a non-finite loss (the last good checkpoint is kept).
    Resuming from checkpoints/latest.pt gives the weights and losses of an uninterrupted run, bit for bit, on a
    deterministic device (CPU), except under a wall-clock budget, whose stopping point depends on the clock.
    """
    device = pick_device(cfg.device)
    torch.manual_seed(cfg.seed)
    gen = torch.Generator(device).manual_seed(cfg.seed)
    family = families.get(cfg.family)
    settings = families.device_settings(cfg, device)
    nets = family.impl.build(cfg, device, settings)
    amp, scaler = settings.autocast(), settings.grad_scaler()
    reset_peak_memory(device)
    run = RunDir(run_dir)
    run.samples.mkdir(parents=True, exist_ok=True)
    if cfg.tensorboard:  # a mirror of the records for live curves; metrics.jsonl stays the source of truth
        from ganbench.tensorboard import TensorBoardSink

        run.mirror = TensorBoardSink(run.tensorboard)
    # The whole uint8 data set lives on the device when it can; batches are drawn there (no DataLoader).
    data = images.to(device) if data_on_device(images.numel(), device) else images
    s = Loop(cfg, device, nets, gen, data, cfg.run_budget.in_images(data.shape[0]), settings, amp, scaler)
    resumed = None
    if resume and run.checkpoint.is_file():
        resumed = load_resume(run.checkpoint, nets, gen, device, cfg, scaler, s.host_gen)
        s.c = resumed.counters
    if run.has_records():  # records after this point replace those of the same tick written before the interruption
        # exact: the run continues bit for bit (deterministic device); else statistically, `why` says why
        run.append(
            {
                "kind": "resume",
                "tick": s.c.tick,
                "kimg": s.c.img / 1000,
                "g_steps": s.c.g_steps,
                "device": device.type,
                "exact": resumed.exact if resumed else True,
                **({"why": resumed.why} if resumed and not resumed.exact else {}),
            }
        )
    real_div = real_diversity(images, device)
    sampler = lambda: make_sampler(cfg, family.impl.generator(nets), device)  # noqa: E731  the fixed eval noise
    # the EMA of G, if kept: the same noise, grids of its own and metrics named `<metric>_ema` beside G's
    ema_sampler = (lambda: make_sampler(cfg, ema_generator(nets), device)) if ema_generator(nets) is not None else None
    samplers = (sampler, ema_sampler)

    # Ticks and evaluations fall on multiples of their interval in images, so a resumed run meets the same ones.
    tick_img = int(cfg.tick_kimg * 1000)
    eval_img = int(cfg.eval_every_kimg * 1000) if cfg.eval_every_kimg > 0 and evaluate is not None else None
    next_tick = (s.c.img // tick_img + 1) * tick_img
    next_eval = (s.c.img // eval_img + 1) * eval_img if eval_img else None
    now = time.perf_counter()
    clock = Clock(t0=now - s.c.seconds, tick_t0=now, tick_img=s.c.img)

    while family.trains and not s.spent():
        family.impl.step(s)  # D steps (a GAN's n_critic), then G: advances s.c.img and s.c.d_steps
        s.c.g_steps += 1
        if s.budget.unit == "seconds":  # a time budget counts the device's work, not how far the host ran ahead
            synchronize(device)  # of it: one sync per step, under a wall-clock budget only
        s.c.seconds = time.perf_counter() - clock.t0
        if progress is not None:
            progress(s.c)
        # ---- ticks (log, grid, divergence check), then evaluation, then the checkpoint: a checkpoint is written
        # only after its tick's losses were found finite, and after the evaluations up to it were recorded
        tick_due = s.c.img >= next_tick and not s.spent()
        if tick_due:
            _close_tick(s, run, clock, family.trains, samplers, real_div)
            next_tick = (s.c.img // tick_img + 1) * tick_img
        if next_eval is not None and s.c.img >= next_eval and not s.spent():
            _evaluate(s, run, clock, evaluate, samplers, final=False)
            next_eval = (s.c.img // eval_img + 1) * eval_img
        if tick_due and s.c.tick % cfg.checkpoint_ticks == 0:
            save_checkpoint(run.checkpoint, cfg, nets, s.c, gen, scaler, s.host_gen)

    # ---- the end: last tick and checkpoint (unless a resumed run had nothing left to do), final evaluation
    synchronize(device)  # the queued work belongs to the run's seconds (CUDA and MPS run asynchronously)
    s.c.seconds = time.perf_counter() - clock.t0 if family.trains else 0.0
    if s.sums or not family.trains:
        _close_tick(s, run, clock, family.trains, samplers, real_div)
        if family.trains:
            save_checkpoint(run.checkpoint, cfg, nets, s.c, gen, scaler, s.host_gen)
    final = _evaluate(s, run, clock, evaluate, samplers, final=True) if evaluate is not None else {}
    collapse = collapse_report(sampler()(COLLAPSE_SAMPLES), real_div)
    mb, mem_kind = peak_memory_mb(device)
    save_grid(sampler()(GRID), run.final_grid)
    if ema_sampler is not None:
        save_grid(ema_sampler()(GRID), run.final_grid_of(ema=True))
    if run.mirror is not None:
        run.mirror.close()
    c = s.c
    return {
        "kimg": c.img / 1000,
        "epoch": c.img / data.shape[0],
        "g_steps": c.g_steps,
        "d_steps": c.d_steps,
        "seconds": round(c.seconds, 3),
        "eval_seconds": round(clock.eval_seconds, 3),
        "img_per_s": c.img / c.seconds if c.seconds > 0 else None,
        "peak_mem_mb": round(mb, 1),
        "peak_mem_kind": mem_kind,
        "final": final,
        "collapse": collapse,
        "budget": str(cfg.run_budget),
        "device": str(device),
        "device_name": summary_device_name(device),
    }


def _close_tick(s: Loop, run: RunDir, clock: Clock, counts_ticks: bool, samplers, real_div: float) -> None:
    """One host sync per tick: read the summed losses, check they are finite, write the record and a grid (and
    one of the EMA of G). samplers: (G's, the EMA's or None)."""
    sampler, ema_sampler = samplers
    c = s.c
    values = s.take_means()
    bad = [k for k, v in values.items() if not math.isfinite(v)]
    if bad:
        raise Diverged(f"non-finite {', '.join(bad)} at kimg {c.img / 1000:.2f} (G step {c.g_steps})")
    if counts_ticks:
        c.tick += 1
    dt = time.perf_counter() - clock.tick_t0
    mb, _ = peak_memory_mb(s.device)
    grid = sampler()(GRID)
    ratio = diversity(grid).item() / real_div if real_div > 0 else None
    run.append(
        {
            "kind": "tick",
            "tick": c.tick,
            **s.where(),
            "d_steps": c.d_steps,
            "seconds": round(c.seconds, 3),
            "img_per_s": (c.img - clock.tick_img) / dt if dt > 0 else None,
            "peak_mem_mb": round(mb, 1),
            "diversity": ratio,
            **values,
        }
    )
    save_grid(grid, run.tick_grid(c.tick, c.img / 1000))
    if ema_sampler is not None:
        save_grid(ema_sampler()(GRID), run.tick_grid(c.tick, c.img / 1000, ema=True))
    clock.tick_img, clock.tick_t0 = c.img, time.perf_counter()


def _evaluate(s: Loop, run: RunDir, clock: Clock, evaluate: Callable, samplers, final: bool) -> dict[str, float]:
    """Evaluations during training use eval_samples_during images when set (cheap curve points); the final one uses
    eval_samples and also reports the metrics of its first eval_samples_during images (the same noise), so the
    curve's last point is computed like the others. With an EMA of G, the same evaluation of the average follows,
    its metrics named `<metric>_ema`. samplers: (G's, the EMA's or None)."""
    sampler, ema_sampler = samplers
    during = s.cfg.eval_samples_during
    kwargs = {} if not during or during >= s.cfg.eval_samples else {"also": (during,)} if final else {"n": during}
    e0 = time.perf_counter()
    with _rng_isolated(s.device):  # whatever the evaluator draws, training's random streams do not move
        result = evaluate(sampler(), **kwargs)
    if ema_sampler is not None:
        with _rng_isolated(s.device):
            ema = evaluate(ema_sampler(), **kwargs)
        result |= {names.of_ema(k): v for k, v in ema.items() if names.is_metric(k)}
    dt = time.perf_counter() - e0
    clock.pause(dt)  # evaluation time is not training time
    run.append({"kind": "eval", **s.where(), "seconds": round(s.c.seconds, 3), "eval_seconds": round(dt, 3), **result})
    return result


def _rng_isolated(device: torch.device):
    return torch.random.fork_rng(devices=[device] if device.type == "cuda" else [])
