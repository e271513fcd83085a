"""Checkpoints: everything an exact resume needs, written atomically, and loading a run's G to sample from it."""

from __future__ import annotations

import io
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from ganbench.config import Config, config_difference, migrate
from ganbench.io import atomic_write_bytes
from ganbench.rundir import RunDir


@dataclass
class Counters:
    img: int = 0  # real images shown to D (to the encoder, for the VAE)
    g_steps: int = 0
    d_steps: int = 0
    seconds: float = 0.0  # training time, evaluation excluded
    tick: int = 0


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be loaded; the message says which file and what to do."""


def save_checkpoint(path: Path, cfg: Config, nets: dict, counters: Counters, gen: torch.Generator,
                    scaler=None) -> None:
    """Weights, BatchNorm buffers, optimiser and loss-scaler state, counters, and both RNG streams (the
    batch/z generator and the global one behind init and the penalty's eps)."""
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


def load_run_config(run_dir: str | Path) -> Config:
    run = RunDir(run_dir)
    if run.is_run():
        return Config(**migrate(run.read_meta()["config"]))
    if run.checkpoint.is_file():
        return Config(**migrate(torch.load(run.checkpoint, map_location="cpu", weights_only=False)["config"]))
    raise FileNotFoundError(f"'{run.path}' is not a ganbench run directory (no config.json)")


def load_nets(cfg: Config, run_dir: str | Path, device: torch.device) -> dict:
    """The run's networks with their checkpointed weights (no optimisers); {} for a family with none."""
    from ganbench import families

    run = RunDir(run_dir)
    from ganbench.device import resolve

    nets = families.get(cfg.family).impl.build(cfg, device, resolve(cfg, device))
    if nets:
        if not run.checkpoint.is_file():
            raise FileNotFoundError(f"'{run.path}' has no checkpoint yet (checkpoints/latest.pt)")
        nets = {k: v for k, v in nets.items() if not k.startswith("opt")}
        load_checkpoint(run.checkpoint, nets, None, device)
    return nets
