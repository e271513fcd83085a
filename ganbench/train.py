"""One training loop for every variant. It never knows which objective it runs: the objective is three functions
of D's logits (see `ganbench.objectives`), and the family (gan / vae / random) picks the update.

Units: the budget counts real images shown to D (kimg), G steps, or wall-clock seconds of training (evaluation
excluded). Every record carries all three. Images are (B, C, H, W) in [-1, 1].
"""

from __future__ import annotations

import io
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from ganbench import objectives
from ganbench.config import Config, config_difference, parse_budget
from ganbench.device import (
    DeviceSettings,
    data_on_device,
    peak_memory_mb,
    pick_device,
    reset_peak_memory,
    resolve,
)
from ganbench.io import append_jsonl, atomic_write_bytes, read_json, write_grid_png
from ganbench.models import VAE, Discriminator, Generator, sample_latent

EVAL_SEED = 20_240_601  # fixed noise for sample grids and evaluation: the same for every variant and seed
GRID = 64  # images in a sample grid
COLLAPSE_SAMPLES = 256  # generated (and real) images behind the end-of-run diversity measure
COLLAPSE_RATIO = 0.1  # generated diversity below this fraction of the real images' is flagged as collapse


class Diverged(RuntimeError):
    """A loss became non-finite; the run ends with status `diverged`."""


@dataclass
class Counters:
    img: int = 0  # real images shown to D (to the encoder, for the VAE)
    g_steps: int = 0
    d_steps: int = 0
    seconds: float = 0.0  # training time, evaluation excluded
    tick: int = 0


# ---------------------------------------------------------------------------------------------------- building
def build(cfg: Config, device: torch.device, settings: DeviceSettings | None = None) -> dict[str, Any]:
    """Networks and optimisers for the config's family, initialised from the global RNG (seeded by the caller)."""
    res, ch, nz = cfg.resolution, cfg.channels, cfg.latent_dim
    settings = settings or resolve(cfg, device)  # memory format and Adam implementation: ganbench.device
    adam = dict(betas=(cfg.beta1, cfg.beta2), **settings.adam_kwargs())
    mem = settings.torch_memory_format
    if cfg.family == "gan":
        G = Generator(res, ch, nz, cfg.g_width).to(device, memory_format=mem)
        D = Discriminator(res, ch, cfg.d_width, cfg.d_norm, cfg.leaky_slope).to(device, memory_format=mem)
        if cfg.compile:  # in place (Module.compile): state_dict keys, hence checkpoints, are unchanged
            G.compile()
            if objectives.get(cfg.objective).penalty is None:  # compiled graphs have no double backward
                D.compile()
        return {"G": G, "D": D, "opt_g": torch.optim.Adam(G.parameters(), lr=cfg.lr_g, **adam),
                "opt_d": torch.optim.Adam(D.parameters(), lr=cfg.lr_d, **adam)}
    if cfg.family == "vae":
        vae = VAE(res, ch, nz, cfg.g_width, cfg.d_width, cfg.d_norm, cfg.leaky_slope).to(device, memory_format=mem)
        enc = [*vae.encoder.parameters(), *vae.mu.parameters(), *vae.logvar.parameters()]
        groups = [{"params": vae.decoder.parameters(), "lr": cfg.lr_g}, {"params": enc, "lr": cfg.lr_d}]
        return {"G": vae.decoder, "vae": vae, "opt": torch.optim.Adam(groups, **adam)}
    return {}  # random: nothing to train


def make_sampler(cfg: Config, G: torch.nn.Module | None, device: torch.device, seed: int = EVAL_SEED):
    """sample(n) -> n images; each call of make_sampler restarts the same noise sequence.

    Every trained variant and seed sees the same z sequence. The random baseline has no z: its pixel noise is
    seeded by the run's seed too, so its seeds are independent draws rather than copies."""
    gen = torch.Generator(device).manual_seed(seed + (cfg.seed if G is None else 0))

    @torch.no_grad()
    def sample(n: int) -> torch.Tensor:
        if G is None:  # the random baseline: i.i.d. uniform pixel noise in [-1, 1]
            return torch.rand(n, cfg.channels, cfg.resolution, cfg.resolution, device=device, generator=gen) * 2 - 1
        z = sample_latent(n, cfg.latent_dim, cfg.latent_dist, device, gen)
        was_training = G.training
        G.eval()  # running BatchNorm statistics: samples do not depend on the batch they are drawn in
        out = G(z).float()
        G.train(was_training)
        return out

    return sample


# ---------------------------------------------------------------------------------------------------- updates
def _autocast(cfg: Config, device: torch.device):
    return resolve(cfg, device).autocast()


def _backward_step(loss: torch.Tensor, opt: torch.optim.Optimizer, scaler) -> None:
    opt.zero_grad(set_to_none=True)
    if scaler is not None:  # fp16: scale the loss so small gradients do not underflow
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
    else:
        loss.backward()
        opt.step()


def gan_d_step(cfg, nets, obj, real, z, amp, scaler) -> dict[str, torch.Tensor]:
    G, D = nets["G"], nets["D"]
    with amp:
        with torch.no_grad():
            fake = G(z)
        real_logits, fake_logits = D(real).float(), D(fake).float()
        loss = obj.d_loss(real_logits, fake_logits)
    penalty = torch.zeros((), device=real.device)
    if obj.penalty is not None and cfg.gp_weight > 0:  # in fp32: the double backward is precision-sensitive
        penalty = obj.penalty(D, real, fake.float())
        loss = loss + cfg.gp_weight * penalty
    _backward_step(loss, nets["opt_d"], scaler)
    t = obj.threshold if obj.threshold is not None else (real_logits.mean() + fake_logits.mean()).detach() / 2
    acc = ((real_logits > t).float().mean() + (fake_logits < t).float().mean()) / 2
    return {"loss_d": loss.detach(), "penalty": penalty.detach(), "d_real": real_logits.detach().mean(),
            "d_fake": fake_logits.detach().mean(), "d_acc": acc.detach()}


def gan_g_step(cfg, nets, obj, z, amp, scaler) -> dict[str, torch.Tensor]:
    G, D = nets["G"], nets["D"]
    with amp:
        loss = obj.g_loss(D(G(z)).float())
    # D's parameters get gradients here too; they are cleared by D's next zero_grad and never applied
    _backward_step(loss, nets["opt_g"], scaler)
    return {"loss_g": loss.detach()}


def vae_step(cfg, nets, real, amp, scaler, gen) -> dict[str, torch.Tensor]:
    """Negative ELBO per pixel. Likelihood: Gaussian with one shared variance set to its maximum-likelihood value,
    the batch's mean squared error (the sigma-VAE of Rybkin et al. 2021), so no reconstruction weight is tuned.
    Per image: NLL = D/2 * log(2 pi e mse) with D = C*H*W; KL(q(z|x) || N(0, I)) in closed form."""
    vae = nets["vae"]
    with amp:
        mu, logvar = vae.encode(real)
        mu, logvar = mu.float(), logvar.float().clamp(-30, 20)
        z = mu + torch.randn(mu.shape, device=mu.device, generator=gen) * (0.5 * logvar).exp()
        recon = vae.decoder(z).float()
    mse = F.mse_loss(recon, real.float())
    pixels = real[0].numel()
    nll = 0.5 * pixels * torch.log(2 * math.pi * math.e * mse)  # per image, at the ML variance
    kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(1).mean()
    loss = (nll + cfg.kl_weight * kl) / pixels
    _backward_step(loss, nets["opt"], scaler)
    return {"loss_g": loss.detach(), "recon_mse": mse.detach(), "kl": kl.detach()}


# ---------------------------------------------------------------------------------------------------- checkpoints
class CheckpointError(RuntimeError):
    """A checkpoint that cannot be loaded; the message says which file and what to do."""


def save_checkpoint(path: Path, cfg: Config, nets: dict, counters: Counters, gen: torch.Generator,
                    scaler=None) -> None:
    """Everything an exact resume needs: weights, BatchNorm buffers, optimiser and loss-scaler state, counters,
    and both RNG streams (the batch/z generator and the global one behind init and the penalty's eps)."""
    state = {"config": cfg.to_dict(), "counters": asdict(counters), "gen": gen.get_state(),
             "torch_rng": torch.get_rng_state(),
             "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
             "nets": {k: v.state_dict() for k, v in nets.items()},
             "scaler": scaler.state_dict() if scaler is not None else None}
    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write_bytes(path, buf.getvalue())  # never half-written: a crash leaves the previous checkpoint


def load_checkpoint(path: Path, nets: dict, gen: torch.Generator | None, device: torch.device,
                    cfg: Config | None = None, scaler=None) -> Counters:
    """Load weights (and, with `gen`, the RNG states and counters to resume from). Raises CheckpointError."""
    try:
        state = torch.load(path, map_location=device, weights_only=False)
        if cfg is not None:
            diff = config_difference(state["config"], cfg.to_dict())
            if diff:
                raise ValueError(f"it was written by another config: {'; '.join(diff)}")
        for k, v in nets.items():
            v.load_state_dict(state["nets"][k])
        counters = Counters(**state["counters"])
        if gen is not None:  # resuming: every random stream continues where it stopped
            gen.set_state(state["gen"].cpu())
            torch.set_rng_state(state["torch_rng"].cpu())
            if state.get("cuda_rng") is not None and torch.cuda.is_available():
                torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda_rng"]])
            if scaler is not None and state.get("scaler") is not None:
                scaler.load_state_dict(state["scaler"])
    except Exception as e:
        why = " ".join(f"{type(e).__name__}: {e}".split())[:300]
        raise CheckpointError(f"checkpoint {path} cannot be loaded ({why}); delete it to restart this run from "
                              "the beginning, or use another --out") from None
    return counters


def load_sampler(run_dir: str | Path, device: torch.device | str = "cpu", seed: int = EVAL_SEED):
    """(config, sample) for a finished or running run directory: sample(n) -> (n, C, H, W) in [-1, 1]."""
    run_dir = Path(run_dir)
    ckpt = run_dir / "checkpoints" / "latest.pt"
    device = torch.device(device)
    if (run_dir / "config.json").is_file():
        cfg = Config(**read_json(run_dir / "config.json")["config"])
    elif ckpt.is_file():
        cfg = Config(**torch.load(ckpt, map_location="cpu", weights_only=False)["config"])
    else:
        raise FileNotFoundError(f"'{run_dir}' is not a ganbench run directory (no config.json)")
    nets = build(cfg, device)
    if nets:
        if not ckpt.is_file():
            raise FileNotFoundError(f"'{run_dir}' has no checkpoint yet (checkpoints/latest.pt)")
        load_checkpoint(ckpt, {k: v for k, v in nets.items() if not k.startswith("opt")}, None, device)
    return cfg, make_sampler(cfg, nets.get("G"), device, seed)


# ---------------------------------------------------------------------------------------------------- diversity
def diversity(x: torch.Tensor) -> torch.Tensor:
    """Mean pairwise L2 distance between the images of x (B, C, H, W), B >= 2, per sqrt(pixel): 0 when all are
    identical. A scalar tensor on x's device."""
    flat = x.flatten(1).float()
    n = flat.shape[0]
    return torch.cdist(flat, flat).sum() / (n * (n - 1)) / math.sqrt(flat.shape[1])


def collapse_report(generated: torch.Tensor, real_diversity: float) -> dict[str, Any]:
    """Sample diversity relative to the real images'; `collapsed` when below COLLAPSE_RATIO."""
    value = diversity(generated).item()
    ratio = value / real_diversity if real_diversity > 0 else None
    return {"diversity": value, "real_diversity": real_diversity, "ratio": ratio, "threshold": COLLAPSE_RATIO,
            "collapsed": ratio is not None and ratio < COLLAPSE_RATIO, "samples": generated.shape[0]}


def _real_diversity(images: torch.Tensor, device: torch.device) -> float:
    """Diversity of a fixed subset of the real images (its own RNG: the training streams are not touched)."""
    pick = torch.randperm(images.shape[0], generator=torch.Generator().manual_seed(EVAL_SEED))[:COLLAPSE_SAMPLES]
    return diversity(images[pick].to(device).float().div(127.5).sub(1)).item() if len(pick) >= 2 else 0.0


def _save_grid(images: torch.Tensor, path: Path) -> None:
    """(B, C, H, W) in [-1, 1] -> a PNG grid, quantised as torchvision's save_image would."""
    write_grid_png((images.detach().float().clamp(-1, 1) + 1).mul(127.5).add_(0.5).clamp_(0, 255).to(torch.uint8).cpu(),
                   path)


# ---------------------------------------------------------------------------------------------------- the loop
def train(cfg: Config, run_dir: Path, images: torch.Tensor, evaluate: Callable | None = None,
          progress: Callable[[Counters], None] | None = None, resume: bool = True) -> dict[str, Any]:
    """Train one variant and seed. images: uint8 (N, C, H, W). Returns the summary fields (status excluded).

    evaluate(sample) -> {metric: value} is called every cfg.eval_every_kimg and at the end.
    Raises Diverged on a non-finite loss (the last good checkpoint is kept).
    Resuming from checkpoints/latest.pt gives the weights and losses of an uninterrupted run, bit for bit, on a
    deterministic device (CPU), except under a wall-clock budget, whose stopping point depends on the clock.
    """
    device = pick_device(cfg.device)
    torch.manual_seed(cfg.seed)
    gen = torch.Generator(device).manual_seed(cfg.seed)  # batches, z and VAE noise: all from this one stream
    nets = build(cfg, device)
    obj = objectives.get(cfg.objective) if cfg.family == "gan" else None
    budget = parse_budget(cfg.budget)
    settings = resolve(cfg, device)
    amp, scaler = settings.autocast(), settings.grad_scaler()
    reset_peak_memory(device)
    ckpt_path = run_dir / "checkpoints" / "latest.pt"
    metrics_path = run_dir / "metrics.jsonl"
    (run_dir / "samples").mkdir(parents=True, exist_ok=True)

    c = Counters()
    if resume and ckpt_path.is_file():
        c = load_checkpoint(ckpt_path, nets, gen, device, cfg, scaler)
    if metrics_path.is_file() and metrics_path.stat().st_size > 0:
        # records after this point replace those of the same tick written before the interruption
        append_jsonl(metrics_path, {"kind": "resume", "tick": c.tick, "kimg": c.img / 1000, "g_steps": c.g_steps})

    # The whole uint8 data set lives on the device when it can; batches are drawn there (no DataLoader).
    data = images.to(device) if data_on_device(images.numel(), device) else images
    B, N = cfg.batch_size, data.shape[0]
    mem = settings.torch_memory_format

    def real_batch() -> torch.Tensor:
        idx = torch.randint(N, (B,), device=gen.device, generator=gen)
        return data[idx.to(data.device)].to(device, non_blocking=True).float().div_(127.5).sub_(1).contiguous(
            memory_format=mem)

    def z_batch() -> torch.Tensor:
        return sample_latent(B, cfg.latent_dim, cfg.latent_dist, device, gen)

    def sampler():  # the fixed evaluation noise, from its start: grids at every tick show the same z
        return make_sampler(cfg, nets.get("G"), device)

    real_div = _real_diversity(images, device)

    def spent() -> bool:
        if budget.unit == "img":
            return c.img >= budget.amount
        return (c.g_steps if budget.unit == "steps" else c.seconds) >= budget.amount

    # Ticks and evaluations fall on multiples of their interval in images, so a resumed run meets the same ones.
    tick_img = int(cfg.tick_kimg * 1000)
    eval_img = int(cfg.eval_every_kimg * 1000) if cfg.eval_every_kimg > 0 and evaluate is not None else None
    next_tick = (c.img // tick_img + 1) * tick_img
    next_eval = (c.img // eval_img + 1) * eval_img if eval_img else None
    sums: dict[str, torch.Tensor] = {}
    counts: dict[str, int] = {}
    tick_start_img, tick_t0, t0 = c.img, time.perf_counter(), time.perf_counter() - c.seconds
    eval_seconds = 0.0

    def add(stats: dict[str, torch.Tensor]) -> None:  # stays on the device: no host sync inside the step
        for k, v in stats.items():
            sums[k] = sums[k] + v if k in sums else v.clone()
            counts[k] = counts.get(k, 0) + 1

    def close_tick() -> None:
        nonlocal sums, counts, tick_start_img, tick_t0
        # One host sync per tick: read the summed losses, check they are finite, write the record.
        keys = list(sums)  # one host sync for all of them
        values = dict(zip(keys, torch.stack([sums[k] / counts[k] for k in keys]).tolist(), strict=True)) if keys else {}
        bad = [k for k, v in values.items() if not math.isfinite(v)]
        if bad:
            raise Diverged(f"non-finite {', '.join(bad)} at kimg {c.img / 1000:.2f} (G step {c.g_steps})")
        if nets:
            c.tick += 1
        dt = time.perf_counter() - tick_t0
        mb, _ = peak_memory_mb(device)
        grid = sampler()(GRID)
        ratio = diversity(grid).item() / real_div if real_div > 0 else None
        append_jsonl(metrics_path, {"kind": "tick", "tick": c.tick, "kimg": c.img / 1000, "g_steps": c.g_steps,
                                    "d_steps": c.d_steps, "seconds": round(c.seconds, 3),
                                    "img_per_s": (c.img - tick_start_img) / dt if dt > 0 else None,
                                    "peak_mem_mb": round(mb, 1), "diversity": ratio, **values})
        _save_grid(grid, run_dir / "samples" / f"tick{c.tick:05d}-{c.img / 1000:.1f}kimg.png")
        sums, counts, tick_start_img, tick_t0 = {}, {}, c.img, time.perf_counter()

    def run_eval() -> dict[str, float]:
        nonlocal eval_seconds, t0, tick_t0
        e0 = time.perf_counter()
        with _rng_isolated(device):  # whatever the evaluator draws, training's random streams do not move
            result = evaluate(sampler())
        dt = time.perf_counter() - e0
        eval_seconds += dt
        t0 += dt  # evaluation time is not training time
        tick_t0 += dt
        append_jsonl(metrics_path, {"kind": "eval", "kimg": c.img / 1000, "g_steps": c.g_steps,
                                    "seconds": round(c.seconds, 3), "eval_seconds": round(dt, 3), **result})
        return result

    while nets and not spent():
        # ---- D (critic) steps: n_critic of them, each showing B real images; stop exactly at an image budget
        if cfg.family == "gan":
            for _ in range(cfg.n_critic):
                add(gan_d_step(cfg, nets, obj, real_batch(), z_batch(), amp, scaler))
                c.img += B
                c.d_steps += 1
                if budget.unit == "img" and spent():
                    break
            add(gan_g_step(cfg, nets, obj, z_batch(), amp, scaler))
        else:
            add(vae_step(cfg, nets, real_batch(), amp, scaler, gen))
            c.img += B
        c.g_steps += 1
        c.seconds = time.perf_counter() - t0
        if progress is not None:
            progress(c)
        # ---- ticks (log, grid, divergence check), then evaluation, then the checkpoint: a checkpoint is written
        # only after its tick's losses were found finite, and after the evaluations up to it were recorded
        tick_due = c.img >= next_tick and not spent()
        if tick_due:
            close_tick()
            next_tick = (c.img // tick_img + 1) * tick_img
        if next_eval is not None and c.img >= next_eval and not spent():
            run_eval()
            next_eval = (c.img // eval_img + 1) * eval_img
        if tick_due and c.tick % cfg.checkpoint_ticks == 0:
            save_checkpoint(ckpt_path, cfg, nets, c, gen, scaler)

    # ---- the end: last tick and checkpoint (unless a resumed run had nothing left to do), final evaluation
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    c.seconds = time.perf_counter() - t0 if nets else 0.0
    if sums or not nets:
        close_tick()
        if nets:
            save_checkpoint(ckpt_path, cfg, nets, c, gen, scaler)
    final = run_eval() if evaluate is not None else {}
    collapse = collapse_report(sampler()(COLLAPSE_SAMPLES), real_div)
    mb, mem_kind = peak_memory_mb(device)
    _save_grid(sampler()(GRID), run_dir / "samples" / "final.png")
    return {"kimg": c.img / 1000, "g_steps": c.g_steps, "d_steps": c.d_steps, "seconds": round(c.seconds, 3),
            "eval_seconds": round(eval_seconds, 3), "img_per_s": c.img / c.seconds if c.seconds > 0 else None,
            "peak_mem_mb": round(mb, 1), "peak_mem_kind": mem_kind, "final": final, "collapse": collapse,
            "budget": str(budget), "device": str(device), "device_name": _device_name(device)}


def _rng_isolated(device: torch.device):
    return torch.random.fork_rng(devices=[device] if device.type == "cuda" else [])


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    import platform

    return f"{platform.processor() or platform.machine()} ({os.cpu_count()} cores)"


def log(msg: str) -> None:
    print(msg, file=sys.stderr)
