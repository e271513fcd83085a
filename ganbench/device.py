"""Every device-specific choice, in one place: the CUDA path is the CPU path with other settings.

`resolve(cfg, device)` turns a Config's execution fields (device, precision, fast, compile) into a frozen
`DeviceSettings`: what the training loop actually does on this machine. It is recorded in each run's config.json
under the key "device_settings" (ganbench.rundir.DEVICE_SETTINGS), so a run says what it ran with, not only what
was asked for.

Choices and why:
  memory format  channels_last when `fast` (every device): oneDNN (CPU) and cuDNN (GPU) convolutions are faster in
                 NHWC; the math is the same up to summation order.
  optimiser      Adam with `fused=True` when `fast` and PyTorch has fused Adam kernels for the device type (CUDA,
                 CPU, MPS in recent PyTorch), else `foreach=True` (one kernel per step for all tensors);
                 `fast=false` gives the plain per-tensor loop (`foreach=False`). Never fused with fp16 on MPS:
                 with a loss scaler the fused kernels take `grad_scale` / `found_inf` instead of an unscale, and
                 MPS's kernels ignored or rejected them in torch versions the package allows (>= 2.4).
  precision      `auto`: bf16 autocast where the device computes bf16 natively (CUDA with bf16 support; a CPU with
                 AVX512-BF16 or AMX), fp32 elsewhere; the reason is recorded (`precision_reason`). fp16 keeps its
                 loss scaler. `fp32` is IEEE fp32 on every device: TF32 is turned off for the run (PyTorch turns
                 it on for cuDNN convolutions on Ampere and later); `tf32` asks for it (such GPUs only).
  arithmetic     what training computes in, as one string (`arithmetic`, see ARITHMETIC below): resolved once,
                 at a trial's first start, and recorded; a resumed attempt resolves the recorded precision again
                 (never `auto`) and is refused when this host would compute it in other arithmetic
                 (`ArithmeticChanged`). `fp32_arithmetic(settings)` sets PyTorch's TF32 flags to what it says.
  compile        the networks torch.compile'd, by name (off by default: see README "Speed" for when it pays):
                 G and D, G alone under a gradient penalty (compiled graphs have no double backward), the VAE's
                 decoder (G) and encoder; the family says which (`compiled(cfg)`, passed in by
                 `ganbench.families.device_settings`), `compile_networks` does it.
  threads        torch's intra-op thread count as the run found it (sweeps set it per trial).
  data on device the uint8 data set is copied to the device when it takes under half of this trial's memory: on
                 CUDA its share of the card (GANBENCH_GPU_SHARE, set by the executors: 0.5 when two trials share
                 one GPU) times the card's total, capped by what is free (PyTorch's own cached, unused blocks
                 count as free); so the decision, and with it the batch stream, does not depend on what another
                 trial left behind. On MPS it is Metal's recommended working set less what Metal holds (unified
                 memory: a copy that does not fit pages the whole machine). Otherwise batches are drawn on the
                 host (see train.Loop). Only families that train draw batches (baselines never copy it).
  metrics        fp32 convolutions without TF32 (`exact_fp32`), whatever the training precision; the statistics
                 (FID, KID, precision/recall, ...) in float64 on the GPU where its float64 runs at full rate
                 (data-centre GPUs), else on the CPU (consumer and inference GPUs run float64 at 1/32 to 1/64
                 of fp32; MPS has none): `statistics_device`.
  peak memory    CUDA: max_memory_allocated since `reset_peak_memory` (called at the start of each run); MPS: the
                 largest `driver_allocated_memory` read since then (Metal keeps no peak; RSS does not hold Metal
                 allocations); CPU: the process's peak RSS (ru_maxrss is KiB on Linux, bytes on macOS), which
                 cannot be reset.
  timing         `synchronize` before a clock read that must count the device's queued work (CUDA and MPS run
                 asynchronously): the end of a run, and every step under a wall-clock budget.
"""

from __future__ import annotations

import contextlib
import os
import platform
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from ganbench.errors import ConfigError

# Device memory, where the data set goes, peak memory and the clock's synchronisation live in ganbench.memory;
# re-exported here, where every device-specific choice is looked up.
from ganbench.memory import (  # noqa: E402, F401
    DATA_ON_DEVICE_SHARE,
    GPU_SHARE_ENV,
    data_on_device,
    free_bytes,
    gpu_share,
    peak_memory_mb,
    reset_peak_memory,
    synchronize,
    to_device_async,
)


def pick_device(name: str) -> torch.device:
    """'auto' | 'cuda' | 'mps' | 'cpu' -> a device that exists here, or ValueError saying what to use instead."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda was asked for, but no CUDA GPU is visible; use --device auto or cpu")
    if name == "mps" and not _mps_available():
        raise ValueError("--device mps was asked for, but MPS is not available; use --device auto or cpu")
    return torch.device(name)


def _mps_available() -> bool:
    return bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())


# ---------------------------------------------------------------------------------------------------- bf16
def cpu_flags() -> set[str]:
    """The CPU's feature flags (Linux /proc/cpuinfo; empty where unknown)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def native_bf16(device: torch.device) -> tuple[bool, str]:
    """(whether bf16 matmuls/convolutions run natively on this device, the reason in words)."""
    if device.type == "cuda":
        ok = torch.cuda.is_bf16_supported(including_emulation=False)
        return ok, "CUDA GPU with bf16" if ok else "this CUDA GPU has no native bf16 (pre-Ampere)"
    if device.type == "cpu":
        flags = cpu_flags()
        found = sorted(flags & {"avx512_bf16", "amx_bf16"})
        if found:
            return True, f"CPU has native bf16 ({', '.join(found)})"
        if not flags:
            return False, "CPU bf16 support unknown (no /proc/cpuinfo): fp32"
        return False, "CPU has no native bf16 (no avx512_bf16 or amx_bf16 flag): bf16 would be emulated, fp32 is faster"
    return False, f"bf16 autocast is not used automatically on {device.type}"


# ---------------------------------------------------------------------------------------------------- arithmetic
# What training computes in, one string per arithmetic (config.json's device_settings.arithmetic; two runs trained
# in the same arithmetic iff their strings are equal; the report groups training numerics by it):
#   "fp32 ieee"                      IEEE fp32 convolutions and matmuls (every device; TF32 turned off on CUDA)
#   "fp32 tf32"                      fp32 with TF32 convolutions and matmuls (precision tf32: CUDA, Ampere or later)
#   "bf16 autocast cuda"             bf16 autocast on a GPU with native bf16 ("... cuda emulated" without: pre-Ampere)
#   "bf16 autocast cpu amx"          bf16 autocast on a CPU, by the path oneDNN takes: AMX tiles, AVX-512 BF16
#   "bf16 autocast cpu avx512_bf16"  instructions, or "emulated" (neither: converted to fp32 and back);
#   "bf16 autocast cpu emulated"     "unknown" where the CPU's flags cannot be read
#   "fp16 autocast <device>"         fp16 autocast with its loss scaler
# In every autocast arithmetic the fp32 parts (losses, gradient penalties, Adam) are IEEE fp32.
TF32_CAPABILITY = (8, 0)  # CUDA compute capability from which tensor cores compute TF32 (Ampere)
ARITHMETIC_FP32, ARITHMETIC_TF32 = "fp32 ieee", "fp32 tf32"
PINNED = 'precision "fp32" (IEEE fp32 on every device)'  # the one arithmetic every device computes alike


class ArithmeticChanged(ConfigError):
    """A resumed attempt whose host would train in other arithmetic than the trial's first start recorded (a
    ConfigError: the run fails with its one-line message, and resumes once run on a host like the first)."""


def cpu_bf16_path(flags: set[str] | None = None) -> str:
    """How this CPU computes bf16 convolutions and matmuls: "amx", "avx512_bf16", "emulated" or "unknown"."""
    flags = cpu_flags() if flags is None else flags
    if "amx_bf16" in flags:
        return "amx"
    if "avx512_bf16" in flags:
        return "avx512_bf16"
    return "emulated" if flags else "unknown"


def cuda_tf32(device: torch.device) -> bool:
    """Whether this CUDA GPU computes TF32 (Ampere or later); before Ampere TF32 flags change nothing."""
    return device.type == "cuda" and tuple(torch.cuda.get_device_capability(device)) >= TF32_CAPABILITY


def arithmetic(device: torch.device, precision: str) -> str:
    """The arithmetic string (see above) of training at a resolved `precision` on `device` (tf32 where the device
    has no TF32: what it computes instead, IEEE fp32; training refuses it, require_trainable)."""
    if precision == "fp32":
        return ARITHMETIC_FP32
    if precision == "tf32":
        return ARITHMETIC_TF32 if cuda_tf32(device) else ARITHMETIC_FP32
    if device.type == "cpu" and precision == "bf16":
        return f"bf16 autocast cpu {cpu_bf16_path()}"
    if device.type == "cuda" and precision == "bf16" and not native_bf16(device)[0]:
        return "bf16 autocast cuda emulated"
    return f"{precision} autocast {device.type}"


def arithmetic_text(settings: dict[str, Any] | None) -> str:
    """The arithmetic a run's training computed in, from config.json's device_settings. Runs written before it was
    recorded: derived from the precision alone, with "(path not recorded)" (fp32 on CUDA may then have been TF32,
    bf16 on a CPU any path). "" when not even the precision was recorded."""
    s = settings if isinstance(settings, dict) else {}
    if s.get("arithmetic"):
        return str(s["arithmetic"])
    precision = s.get("precision")
    if not precision:
        return ""
    autocast = f" autocast {s['device']}" if precision in ("bf16", "fp16") and s.get("device") else ""
    return f"{precision}{autocast} (path not recorded)"


def require_trainable(settings: DeviceSettings) -> None:
    """ConfigError when training would not compute what was asked for: precision tf32 on a device without TF32."""
    if settings.precision == "tf32" and settings.arithmetic != ARITHMETIC_TF32:
        raise ConfigError(
            f"precision tf32 needs a CUDA GPU of compute capability {TF32_CAPABILITY[0]}.{TF32_CAPABILITY[1]} or "
            f"later (Ampere); on {settings.device} use fp32"
        )


@contextlib.contextmanager
def fp32_arithmetic(settings: DeviceSettings) -> Iterator[None]:
    """Run the block with PyTorch's TF32 flags set to what `settings.arithmetic` says: TF32 convolutions and
    matmuls for "fp32 tf32", IEEE otherwise (also for the fp32 parts under autocast), restored after. PyTorch
    leaves cuDNN's convolutions in TF32 by default on Ampere and later, so without this "fp32" meant TF32 on those
    GPUs and IEEE on others. The flags are process-wide and only read by cuDNN/cuBLAS: setting them on the CPU
    changes nothing there (an emulation of TF32 in the tests reads them)."""
    with _tf32(settings.arithmetic == ARITHMETIC_TF32):
        yield


@contextlib.contextmanager
def _tf32(on: bool) -> Iterator[None]:
    conv = getattr(torch.backends.cudnn, "conv", None)
    matmul = getattr(torch.backends.cuda, "matmul", None)
    if conv is not None and hasattr(conv, "fp32_precision"):  # PyTorch 2.9 and later
        owners = (conv, matmul)
        old = [o.fp32_precision for o in owners]
        for o in owners:
            o.fp32_precision = "tf32" if on else "ieee"
        try:
            yield
        finally:
            for o, v in zip(owners, old, strict=True):
                o.fp32_precision = v
    else:  # older PyTorch: the legacy flags
        old = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)
        torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = on
        try:
            yield
        finally:
            torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = old


# ---------------------------------------------------------------------------------------------------- settings
@dataclass(frozen=True)
class DeviceSettings:
    device: str  # "cpu" | "cuda" | "mps"
    precision: str  # resolved: "fp32" | "tf32" | "bf16" | "fp16"
    precision_reason: str  # why `auto` became what it did (or "asked for", or "recorded at the first start")
    memory_format: str  # "channels_last" | "contiguous"
    optimizer: str  # "fused" | "foreach" | "plain": the Adam implementation
    compile: tuple[str, ...]  # the networks torch.compile'd ("G", "D"; empty: none)
    threads: int  # torch intra-op threads
    metrics_tf32: bool = False  # always off: FID etc. in exact fp32
    arithmetic: str = ARITHMETIC_FP32  # what training computes in (see ARITHMETIC above)

    @property
    def torch_memory_format(self) -> torch.memory_format:
        return torch.channels_last if self.memory_format == "channels_last" else torch.contiguous_format

    @property
    def autocast_dtype(self) -> torch.dtype | None:
        return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.precision)

    def adam_kwargs(self) -> dict[str, bool]:
        return {"fused": {"fused": True}, "foreach": {"foreach": True}, "plain": {"foreach": False}}[self.optimizer]

    def autocast(self):
        """The context the forward passes run in: autocast to bf16/fp16, or nothing for fp32."""
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device, dtype=self.autocast_dtype)

    def grad_scaler(self):
        """fp16 needs loss scaling so small gradients do not underflow; bf16 and fp32 do not."""
        return torch.amp.GradScaler(self.device) if self.precision == "fp16" else None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"compile": list(self.compile)}  # as config.json holds it


def fused_adam_supported(device: torch.device) -> bool:
    from torch.utils._foreach_utils import _get_fused_kernels_supported_devices

    return device.type in _get_fused_kernels_supported_devices()


def resolve(
    cfg, device: torch.device, compiled: tuple[str, ...] | None = None, recorded: dict[str, Any] | None = None
) -> DeviceSettings:
    """The settings a run of `cfg` uses on `device` (cfg: a ganbench Config).

    compiled: the networks torch.compile compiles when cfg.compile is on, which only the family knows;
    `ganbench.families.device_settings` resolves a config with them (a compiled config resolved without them is an
    error, not a silent eager run).
    recorded: config.json's device_settings of the trial's first start, for a resumed attempt: its precision is
    used (`auto` is not resolved again, so a trial that started in fp32 stays fp32 on a host with bf16), and
    ArithmeticChanged is raised when this host would compute it in other arithmetic than recorded (another bf16
    path, TF32 missing). Runs recorded before the arithmetic was: the precision alone is kept."""
    if cfg.compile and compiled is None:
        raise ValueError("resolve a config with compile on through ganbench.families.device_settings")
    if recorded and recorded.get("precision"):
        precision, reason = recorded["precision"], "recorded at the trial's first start"
    elif cfg.precision == "auto":
        ok, reason = native_bf16(device)
        precision = "bf16" if ok else "fp32"
    else:
        precision, reason = cfg.precision, "asked for"
    if precision == "tf32" and not cuda_tf32(device):  # loading or sampling such a run here is fine; training
        reason += f"; {device.type} has no TF32: IEEE fp32"  # is refused (require_trainable)
    computes = arithmetic(device, precision)
    if recorded and recorded.get("arithmetic") and recorded["arithmetic"] != computes:
        raise ArithmeticChanged(
            f"this trial trained in {recorded['arithmetic']} (its config.json), but this host would continue in "
            f"{computes}: resume it on a host that computes {recorded['arithmetic']}, or start it over with the "
            f"arithmetic pinned ({PINNED}, or hosts of one kind)"
        )
    if cfg.fast:  # fp16 on MPS: no fused kernels under the loss scaler (module docstring)
        fused = fused_adam_supported(device) and not (device.type == "mps" and precision == "fp16")
        optimizer = "fused" if fused else "foreach"
    else:
        optimizer = "plain"
    return DeviceSettings(
        device=device.type,
        precision=precision,
        precision_reason=reason,
        memory_format="channels_last" if cfg.fast else "contiguous",
        optimizer=optimizer,
        compile=tuple(compiled or ()) if cfg.compile else (),
        threads=torch.get_num_threads(),
        arithmetic=computes,
    )


def compile_networks(nets: dict[str, torch.nn.Module], names: tuple[str, ...]) -> None:
    """torch.compile the named networks in place (Module.compile: state_dict keys, hence checkpoints, unchanged).

    Dynamo's caches are cleared first. It keeps compiled code per code object (`Generator.forward`), shared by
    every instance of the class, and runs that code eagerly for good once it holds `recompile_limit` (8) entries;
    a run fills about four per network (training, no_grad, eval-mode grids, inference-mode evaluation), so the
    third differently shaped G of one process (`ganbench run` over several recipes, a sweep worker) ran eager
    while its settings said compiled, and a process's compilations of one code object are capped in all
    (`accumulated_recompile_limit`). The previous run's networks are gone; recompiling what a same-shaped new
    one could have reused costs little (inductor caches the generated code)."""
    if names:
        torch.compiler.reset()
    for name in names:
        nets[name].compile()


# CUDA compute capabilities whose float64 runs at half the fp32 rate: the data-centre GPUs (P100, V100, A100, H100 /
# H200, B100 / B200). Every other CUDA GPU (GeForce and RTX, T4, A10, L4, L40, Jetson) runs float64 at 1/32 to
# 1/64 of fp32, where an evaluation's float64 statistics take longer on the GPU than on a host's cores.
FULL_RATE_FLOAT64 = ((6, 0), (7, 0), (8, 0), (9, 0), (10, 0))


def full_rate_float64(device: torch.device) -> bool:
    """Whether `device` computes float64 at a useful rate: the CPU, and the data-centre GPUs above."""
    if device.type == "cpu":
        return True
    return device.type == "cuda" and tuple(torch.cuda.get_device_capability(device)) in FULL_RATE_FLOAT64


def statistics_device(device: torch.device) -> torch.device:
    """Where the metric statistics of features on `device` are computed, always in float64: there when it runs
    float64 at full rate (the CPU; the data-centre GPUs of FULL_RATE_FLOAT64, where the O(N^2 D) kernels and the
    eigensolvers of an evaluation take seconds, so a GPU run does not wait on its CPU), else the CPU (MPS has no
    float64; a consumer or inference GPU's float64 is slower than the host's). The numbers are the same wherever
    (float64 round-off); reference-only terms are computed once per reference (metrics.reference)."""
    return device if full_rate_float64(device) else torch.device("cpu")


def default_eval_samples(device: torch.device) -> int:
    """Samples per evaluation when the user gives none (see run_defaults). Metric names carry the count."""
    return int(run_defaults(device)["eval_samples"])


# Under the recipe (a recipe that sets one of these keeps its value), above Config's own defaults.
NETWORK_DEFAULT_KEYS = ("g_width", "d_width")


def run_defaults(device: torch.device) -> dict[str, Any]:
    """What `ganbench run` uses for what the user does not give, per device: a first run that finishes in minutes
    on a 2-core CPU and still shows learning, and a GPU-sized run on CUDA. Every value is written into each
    run's config.json like any other setting. Sweep files never use these: they say everything.

    CPU (and MPS, not measured there): 32x32, widths 32 (a quarter of the 64-wide backbone's work per image),
    80 kimg (where dcgan's samples on the built-in faces have eyes and mouths and its KID is below the VAE's for
    4 of 5 seeds: results/first-command-budget/, 2026-12-07), and evaluation on 100 images at the end with a
    50-image curve point at 40 kimg, because Inception manages 12-19 images/s on a 2-core CPU. CUDA: 64x64,
    widths 64 (the backbone of the PyTorch example), 1000 kimg, 10k images at the end and 2k-image curve points
    every 250 kimg: an estimate, NOT measured (no GPU was available)."""
    if device.type == "cuda":
        return {
            "resolution": 64,
            "g_width": 64,
            "d_width": 64,
            "budget": "1000kimg",
            "eval_samples": 10_000,
            "eval_samples_during": 2_000,
            "eval_every_kimg": 250.0,
        }
    return {
        "resolution": 32,
        "g_width": 32,
        "d_width": 32,
        "budget": "80kimg",
        "eval_samples": 100,
        "eval_samples_during": 50,
        "eval_every_kimg": 40.0,
    }


@contextlib.contextmanager
def exact_fp32() -> Iterator[None]:
    """Plain fp32 convolutions and matmuls on CUDA. PyTorch lets cuDNN use TF32 for fp32 convolutions by default on
    Ampere and later GPUs (about 1e-3 relative error), which moves FID; the previous settings are restored after."""
    if not torch.cuda.is_available():
        yield
        return
    with _tf32(False):
        yield


def device_name(device: torch.device) -> str:
    """The GPU's name, or the CPU's model and core count."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu} ({os.cpu_count()} cores)"
