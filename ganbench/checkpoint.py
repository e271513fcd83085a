"""Checkpoints: everything a resume needs (exact on the same device type; across devices and GPU counts, with the
random streams that do not fit reseeded and the resume said to be statistical), written atomically, and loading a
run's G to sample from it.

A checkpoint holds plain data only: tensors (weights, optimiser state, every RNG state), numbers, strings, None,
and dicts, lists and tuples of them. It is read with `torch.load(..., weights_only=True)`, which rebuilds nothing
else, so a checkpoint from a shared results folder cannot run code: one that holds anything else (a pickled
object whose `__reduce__` calls `os.system`) is refused, naming the file. `save_checkpoint` refuses to write what
could not be read back that way.

Formats (the `format` key; ganbench's version beside it in `ganbench`):
  1  every checkpoint before the format was recorded; the same plain data (the first ones hold one CUDA RNG
     state per visible GPU, `cuda_rng`, and no `gen_device`: `load_resume` reads both), loaded as it is
  2  the format written now
A checkpoint from a newer format is refused with the version that wrote it: upgrade ganbench to read it.
"""

from __future__ import annotations

import io
import pickle
import re
import warnings
from collections import OrderedDict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from ganbench import __version__
from ganbench.config import Config, config_difference, migrate
from ganbench.errors import CheckpointError
from ganbench.io import atomic_write_bytes
from ganbench.rundir import RunDir

FORMAT = 2  # what save_checkpoint writes; see the module docstring
# The advice of a command that writes the run it resumes; commands that only read a run never suggest deleting.
RESTART = "delete it to restart this run from the beginning, or use another --out"


@dataclass
class Counters:
    img: int = 0  # real images shown to D (to the encoder, for the VAE)
    g_steps: int = 0
    d_steps: int = 0
    seconds: float = 0.0  # training time, evaluation excluded
    tick: int = 0


def save_checkpoint(
    path: Path,
    cfg: Config,
    nets: dict,
    counters: Counters,
    gen: torch.Generator,
    scaler=None,
    host_gen: torch.Generator | None = None,
) -> None:
    """Weights, BatchNorm buffers, optimiser and loss-scaler state, counters, and the RNG streams: the batch/z
    generator (with the device type it belongs to), the host one behind the batch indices of a data set kept on
    the host (`host_gen`, if any), the global CPU one behind init, and the global one of the run's accelerator
    (the current CUDA device's only, or MPS's) behind the penalty's eps. A CPU run never touches CUDA, so it does
    not initialise CUDA on a GPU host."""
    state = {
        "format": FORMAT,
        "ganbench": __version__,
        "config": cfg.to_dict(),
        "counters": asdict(counters),
        "gen": gen.get_state(),
        "gen_device": gen.device.type,
        "host_gen": host_gen.get_state() if host_gen is not None else None,
        "torch_rng": torch.get_rng_state(),
        "device_rng": _device_rng_state(gen.device),
        "nets": {k: v.state_dict() for k, v in nets.items()},
        "scaler": scaler.state_dict() if scaler is not None else None,
    }
    check_plain(state)
    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write_bytes(path, buf.getvalue())  # never half-written: a crash leaves the previous checkpoint


# Exact types, not subclasses: numpy's float64 is a float and a StrEnum a str, yet the safe loader refuses both.
_LEAVES = (torch.Tensor, torch.nn.Parameter, bool, int, float, str, type(None))
_MAPPINGS = (dict, OrderedDict)  # a module's state_dict is an OrderedDict
_SEQUENCES = (list, tuple)


def check_plain(value: Any, where: str = "checkpoint") -> None:
    """Raise TypeError naming the first value that is not a tensor, number, string or None, or a dict (str or int
    keys), list or tuple of them: what `torch.load(..., weights_only=True)` reads back without running code."""
    kind = type(value)
    if kind in _LEAVES:
        return
    if kind in _MAPPINGS:
        for k, v in value.items():
            if type(k) not in (str, int):
                raise TypeError(f"{where} has a key of type {type(k).__name__}: {k!r}")
            check_plain(v, f"{where}[{k!r}]")
    elif kind in _SEQUENCES:
        for i, v in enumerate(value):
            check_plain(v, f"{where}[{i}]")
    else:
        raise TypeError(f"{where} is a {kind.__module__}.{kind.__qualname__}, not plain data")


def read_checkpoint(path: Path, device: torch.device | str = "cpu") -> dict[str, Any]:
    """A checkpoint's contents, tensors on `device`, loaded with weights_only=True (see the module docstring).
    Raises CheckpointError naming the file: refused (it holds anything but plain data: it may have been
    modified, and nothing in it ran), unreadable (truncated, damaged), not a ganbench checkpoint, or written by a
    newer format. The message gives no advice: what to do depends on whether the command writes the run."""
    try:
        with warnings.catch_warnings():  # a plain pickle's protocol warning: the refusal below says it all
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            state = torch.load(path, map_location=device, weights_only=True)
    except pickle.UnpicklingError as e:  # the safe unpickler met something it will not build: nothing ran
        text = " ".join(str(e).split())
        if found := re.search(r"GLOBAL [\w.]+", text):  # a class or function: what a crafted pickle calls
            raise CheckpointError(
                f"checkpoint {path} holds something other than tensors and plain data ({found.group(0)}): it may "
                "have been modified, so it was refused and nothing in it was run"
            ) from e
        found = re.search(r"Unsupported operand \d+", text)  # not what torch.save writes: junk, a bare pickle
        raise CheckpointError(
            f"checkpoint {path} cannot be loaded (not a torch checkpoint: "
            f"{found.group(0) if found else 'refused by the safe loader'}): it is damaged or may have been modified; "
            "nothing in it was run"
        ) from e
    except (FileNotFoundError, PermissionError, IsADirectoryError) as e:  # (a truncated zip gives other OSErrors)
        raise CheckpointError(f"checkpoint {path} cannot be read ({_one_line(e)})") from e
    except Exception as e:  # truncated or damaged: torch's zip reader, EOFError, EINVAL on a short file
        raise CheckpointError(
            f"checkpoint {path} cannot be loaded ({_one_line(e, first_sentence=True)}): it is truncated or damaged"
        ) from e
    fmt = state.get("format", 1) if isinstance(state, dict) else None
    if isinstance(state, dict) and (type(fmt) is not int or not 1 <= fmt <= FORMAT):  # before its keys: they may differ
        raise CheckpointError(
            f"checkpoint {path} was written by ganbench {state.get('ganbench', '?')} in checkpoint format {fmt!r}; "
            f"this ganbench ({__version__}) reads formats 1 to {FORMAT}: upgrade ganbench to read it"
        )
    if not isinstance(state, dict) or not isinstance(state.get("nets"), dict) or "config" not in state:
        raise CheckpointError(
            f"checkpoint {path} is not a ganbench checkpoint (no 'nets' or 'config'): it may have been modified"
        )
    return state


def _one_line(e: BaseException, first_sentence: bool = False) -> str:
    text = " ".join(str(e).split())
    text = text.split(". ")[0] if first_sentence else text
    return f"{type(e).__name__}: {text}"[:300] if text else type(e).__name__


def _device_rng_state(device: torch.device) -> dict | None:
    if device.type == "cuda":
        return {"type": "cuda", "state": torch.cuda.get_rng_state(device)}
    if device.type == "mps":
        return {"type": "mps", "state": torch.mps.get_rng_state()}
    return None


def _restore_device_rng(saved: dict | None, device: torch.device) -> bool:
    """Restore the accelerator's global stream when the checkpoint holds one for this device type; False when
    it cannot (written on another device type). Never indexes by GPU number: a run resumed with fewer visible
    GPUs (a pinned worker, Ray) sets the state of the GPU it runs on."""
    if saved is None:
        return device.type == "cpu"
    if saved["type"] != device.type:
        return False
    if device.type == "cuda":
        torch.cuda.set_rng_state(saved["state"].cpu(), device)
    else:
        torch.mps.set_rng_state(saved["state"].cpu())
    return True


def _old_cuda_rng(state: dict, device: torch.device) -> dict | None:
    """Checkpoints before the device-portable format held one CUDA state per visible GPU ("cuda_rng"): take
    the one of the GPU this run uses, when it was visible then."""
    states = state.get("cuda_rng")
    if not states or device.type != "cuda":
        return None
    index = device.index if device.index is not None else torch.cuda.current_device()
    return {"type": "cuda", "state": states[index]} if index < len(states) else None


@dataclass(frozen=True)
class Resume:
    """What a resume restored. exact: every random stream continues where it stopped, so the run goes on as if
    uninterrupted (bit for bit on a deterministic device). Otherwise (`why` says what changed) the streams that
    belong to another device type were reseeded from (seed, counters): the resumed run is a statistically
    equivalent continuation, not the same one."""

    counters: Counters
    exact: bool
    why: str = ""


def resume_seed(seed: int, counters: Counters) -> int:
    """The batch/z generator's seed when its saved state belongs to another device type: a function of the run's
    seed and where it stopped, so two resumes of the same checkpoint draw the same batches."""
    return (seed * 1_000_003 + counters.img) * 1_000_003 + counters.g_steps


def load_optimizer(opt: torch.optim.Optimizer, saved: dict) -> None:
    """Optimizer.load_state_dict keeps the SAVED implementation flags (a CPU checkpoint resumed on CUDA would lose
    fused Adam) and places `step` by them. Here this run's choice wins: its fused/foreach/capturable flags are
    put back, and each `step` goes where that implementation wants it (fused or capturable: a float32 on the
    parameter's device; otherwise a CPU scalar, since a step on the GPU costs a host sync every update)."""
    keys = ("fused", "foreach", "capturable")
    mine = [{k: g[k] for k in keys if k in g} for g in opt.param_groups]
    opt.load_state_dict(saved)
    for group, flags in zip(opt.param_groups, mine, strict=True):
        group.update(flags)
        on_device = bool(group.get("fused") or group.get("capturable"))
        for p in group["params"]:
            step = opt.state.get(p, {}).get("step")
            if torch.is_tensor(step):
                opt.state[p]["step"] = step.to(
                    device=p.device if on_device else "cpu", dtype=torch.float32 if on_device else step.dtype
                )


def load_checkpoint(
    path: Path, nets: dict, gen: torch.Generator | None, device: torch.device, cfg: Config | None = None, scaler=None
) -> Counters:
    """Load weights (and, with `gen`, the RNG states and counters to resume from). Raises CheckpointError."""
    return load_resume(path, nets, gen, device, cfg, scaler).counters


def load_resume(
    path: Path,
    nets: dict,
    gen: torch.Generator | None,
    device: torch.device,
    cfg: Config | None = None,
    scaler=None,
    host_gen: torch.Generator | None = None,
) -> Resume:
    """load_checkpoint, saying whether the resume is exact (see Resume). A checkpoint written on another device
    type or GPU count loads: weights and optimiser state move to `device`, RNG states restore where they fit.
    host_gen: this run's host stream of batch indices (a data set kept on the host), restored from the
    checkpoint's; where the data set sat elsewhere when the checkpoint was written, the batches differ from the
    uninterrupted run's and the resume says so.
    A checkpoint that cannot be loaded raises CheckpointError naming it; with `gen` (resuming: the command writes
    this run) the message adds how to start over, without it (reading a run) it suggests nothing."""
    advice = f"; {RESTART}" if gen is not None else ""
    try:
        state = read_checkpoint(path, device)
        if cfg is not None:
            diff = config_difference(state["config"], cfg.to_dict())
            if diff:
                raise ValueError(f"it was written by another config: {'; '.join(diff)}")
        for k, v in nets.items():
            if isinstance(v, torch.optim.Optimizer):
                load_optimizer(v, state["nets"][k])
            else:
                v.load_state_dict(state["nets"][k])
        counters = Counters(**state["counters"])
        exact, why = True, ""
        if gen is not None:  # resuming: every random stream continues where it stopped, where it can
            torch.set_rng_state(state["torch_rng"].cpu())
            saved_gen = state["gen"].cpu()
            written_on = state.get("gen_device") or (
                "cpu" if saved_gen.numel() == gen.get_state().numel() else "another device type"
            )
            device_rng_ok = _restore_device_rng(state.get("device_rng", _old_cuda_rng(state, device)), device)
            if written_on == gen.device.type and saved_gen.numel() == gen.get_state().numel():
                gen.set_state(saved_gen)
            else:  # another device type's generator state cannot be set here (different size and algorithm)
                gen.manual_seed(resume_seed(state["config"]["seed"], counters))
                exact, why = (
                    False,
                    f"written on {written_on}, resumed on {gen.device.type}: batch and z "
                    "stream reseeded from (seed, counters)",
                )
            if not device_rng_ok and exact:
                exact, why = False, f"the checkpoint holds no {device.type} random stream to restore"
            saved_host = state.get("host_gen")
            if host_gen is not None and saved_host is not None:
                host_gen.set_state(saved_host.cpu())
            elif host_gen is not None or saved_host is not None:  # the data set moved between host and device
                if host_gen is not None:
                    host_gen.manual_seed(resume_seed(state["config"]["seed"], counters))
                where = ("the device", "the host") if host_gen is not None else ("the host", "the device")
                if exact:
                    exact, why = (
                        False,
                        f"the data set was on {where[0]} when the checkpoint was written and is "
                        f"on {where[1]} now: batch indices come from another stream",
                    )
            if scaler is not None and state.get("scaler") is not None:
                scaler.load_state_dict(state["scaler"])
    except CheckpointError as e:
        raise CheckpointError(f"{e}{advice}") from e.__cause__
    except Exception as e:  # it loaded, but does not fit this run: another config, other networks
        raise CheckpointError(f"checkpoint {path} cannot be loaded ({_one_line(e)}){advice}") from e
    return Resume(counters, exact, why)


def load_run_config(run_dir: str | Path) -> Config:
    """A run's config, from its config.json or, for a run that has none, from its checkpoint (read safely: see
    read_checkpoint). Raises CheckpointError or ValueError naming the file it could not read a config from."""
    run = RunDir(run_dir)
    if run.is_run():
        source, values = run.config, run.read_meta()
        values = values.get("config") if isinstance(values, dict) else None
    elif run.checkpoint.is_file():
        source, values = run.checkpoint, read_checkpoint(run.checkpoint)["config"]
    else:
        raise FileNotFoundError(f"'{run.path}' is not a ganbench run directory (no config.json)")
    try:
        return Config(**migrate(values))
    except (TypeError, ValueError, AttributeError) as e:
        raise ValueError(f"{source} holds no config this ganbench can read ({_one_line(e)})") from None


def load_nets(cfg: Config, run_dir: str | Path, device: torch.device) -> dict:
    """The run's networks with their checkpointed weights (no optimisers); {} for a family with none."""
    from ganbench import families

    run = RunDir(run_dir)
    nets = families.get(cfg.family).impl.build(cfg, device, families.device_settings(cfg, device))
    if nets:
        if not run.checkpoint.is_file():
            raise FileNotFoundError(f"'{run.path}' has no checkpoint yet (checkpoints/latest.pt)")
        nets = {k: v for k, v in nets.items() if not k.startswith("opt")}
        load_checkpoint(run.checkpoint, nets, None, device)
    return nets


# Config fields a continued run may change (successive halving: a promoted candidate goes on to a larger budget):
# the budget, and what is evaluated, never trained on (evaluations run with training's random streams put aside).
EXTENDABLE = ("budget", "eval_samples", "eval_samples_during", "eval_every_kimg", "eval_split", "metrics")


def extend_checkpoint(src: Path, dst: Path, cfg: Config) -> Counters:
    """Write `dst`, the checkpoint of run `cfg` as if it had been interrupted where the shorter run that wrote
    `src` ended: the same weights, optimiser state, counters and random streams, under `cfg`. The ordinary resume
    then continues it, as the uninterrupted longer run would have gone on. Raises CheckpointError when the two
    configs differ in more than the budget and evaluation fields, or `src` went past `cfg`'s budget."""
    try:
        state = read_checkpoint(src)  # the safe loader: plain data only
        diff = [d for d in config_difference(state["config"], cfg.to_dict()) if d.split(":")[0] not in EXTENDABLE]
        counters = Counters(**state["counters"])
    except CheckpointError:  # refused or unreadable: it names the file and says why
        raise
    except Exception as e:
        raise CheckpointError(f"checkpoint {src} cannot be continued ({type(e).__name__}: {e})") from None
    if diff:
        raise CheckpointError(f"checkpoint {src} belongs to another training than {dst}'s: {'; '.join(diff)}")
    budget = cfg.run_budget
    if budget.unit != "img" or counters.img > budget.amount:
        raise CheckpointError(f"checkpoint {src} stopped at {counters.img} images, past {dst}'s budget {budget}")
    state["config"] = cfg.to_dict()
    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write_bytes(dst, buf.getvalue())
    return counters
