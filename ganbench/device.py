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
                 loss scaler.
  compile        the networks torch.compile'd, by name (off by default: see README "Speed" for when it pays):
                 G and D, G alone under a gradient penalty (compiled graphs have no double backward), the VAE's
                 decoder (G) and encoder; the family says which (`compiled(cfg)`), `compile_networks` does it.
  threads        torch's intra-op thread count as the run found it (sweeps set it per trial).
  data on device the uint8 data set is copied to the device when it takes under half of the free memory; on CUDA
                 "free" includes PyTorch's own cached, unused blocks (mem_get_info counts them as used); on MPS
                 it is Metal's recommended working set less what Metal holds (unified memory: a copy that does
                 not fit pages the whole machine). Otherwise batches are drawn on the host (see train.Loop).
  metrics        fp32 convolutions without TF32 (`exact_fp32`), whatever the training precision; the statistics
                 (FID, KID, precision/recall, ...) in float64 on the GPU where it has float64 (CUDA), else on
                 the CPU (MPS has none): `statistics_device`.
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
import resource
import sys
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

DATA_ON_DEVICE_SHARE = 0.5  # the data set goes to the GPU when it needs under this share of the free memory


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


# ---------------------------------------------------------------------------------------------------- settings
@dataclass(frozen=True)
class DeviceSettings:
    device: str  # "cpu" | "cuda" | "mps"
    precision: str  # resolved: "fp32" | "bf16" | "fp16"
    precision_reason: str  # why `auto` became what it did (or "asked for")
    memory_format: str  # "channels_last" | "contiguous"
    optimizer: str  # "fused" | "foreach" | "plain": the Adam implementation
    compile: tuple[str, ...]  # the networks torch.compile'd ("G", "D"; empty: none)
    threads: int  # torch intra-op threads
    metrics_tf32: bool = False  # always off: FID etc. in exact fp32

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


def resolve(cfg, device: torch.device) -> DeviceSettings:
    """The settings a run of `cfg` uses on `device` (cfg: a ganbench Config)."""
    if cfg.precision == "auto":
        ok, reason = native_bf16(device)
        precision = "bf16" if ok else "fp32"
    else:
        precision, reason = cfg.precision, "asked for"
    if cfg.fast:  # fp16 on MPS: no fused kernels under the loss scaler (module docstring)
        fused = fused_adam_supported(device) and not (device.type == "mps" and precision == "fp16")
        optimizer = "fused" if fused else "foreach"
    else:
        optimizer = "plain"
    from ganbench import families

    compiled = families.get(cfg.family).impl.compiled(cfg) if cfg.compile else ()
    return DeviceSettings(
        device=device.type,
        precision=precision,
        precision_reason=reason,
        memory_format="channels_last" if cfg.fast else "contiguous",
        optimizer=optimizer,
        compile=tuple(compiled),
        threads=torch.get_num_threads(),
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


def statistics_device(device: torch.device) -> torch.device:
    """Where the metric statistics of features on `device` are computed, in float64: there when it has float64
    (the CPU; CUDA, where the O(N^2 D) kernels and eigensolvers of an evaluation take a fraction of what the host
    needs, so a GPU run does not wait on its CPU), else the CPU (MPS has no float64)."""
    return device if device.type in ("cpu", "cuda") else torch.device("cpu")


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


# ---------------------------------------------------------------------------------------------------- memory
def free_bytes(device: torch.device) -> int | None:
    """Bytes a new allocation can use on the device; None on the CPU (the data is already there).

    CUDA: the driver's free memory plus PyTorch's cached blocks that hold nothing (mem_get_info counts those as
    used, so without them the answer would depend on earlier runs in the same process). MPS: Metal's recommended
    working-set size for this process less what Metal has allocated; 0 where this torch lacks those queries, so
    nothing is copied on trust."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return free + torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
    if device.type == "mps":
        if not hasattr(torch.mps, "recommended_max_memory"):
            return 0
        return max(0, torch.mps.recommended_max_memory() - torch.mps.driver_allocated_memory())
    return None


def data_on_device(nbytes: int, device: torch.device) -> bool:
    """Whether a data set of `nbytes` is copied to `device` (batches are then drawn there, no host transfer)."""
    free = free_bytes(device)
    return free is None or nbytes < DATA_ON_DEVICE_SHARE * free


def to_device_async(data: torch.Tensor, idx: torch.Tensor, device: torch.device) -> torch.Tensor:
    """data[idx] on `device`, for `data` and `idx` in host memory, without waiting for the device: on CUDA the rows
    are gathered into page-locked memory, from which the copy is asynchronous (from pageable memory `non_blocking`
    does nothing and the copy waits for the device). PyTorch's pinned-memory cache hands a block out again only
    after the copies from it are done."""
    pinned = device.type == "cuda"
    out = torch.empty((idx.shape[0], *data.shape[1:]), dtype=data.dtype, pin_memory=pinned)
    torch.index_select(data, 0, idx, out=out)
    return out.to(device, non_blocking=pinned)


_MPS_PEAK = [0]  # the largest driver_allocated_memory read since reset_peak_memory: Metal keeps no peak itself


def reset_peak_memory(device: torch.device) -> None:
    """Start a run's peak-memory count afresh (CUDA, MPS). A process's peak RSS cannot be reset: on the CPU the
    figure is the process's, which is the run's when each run has its own process (the first run of a command, a
    sweep trial)."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    elif device.type == "mps":
        _MPS_PEAK[0] = torch.mps.driver_allocated_memory()


def peak_memory_mb(device: torch.device) -> tuple[float, str]:
    """(peak MiB, what it measures)."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20, "cuda max_memory_allocated (this run)"
    if device.type == "mps":  # sampled where it is read (every tick and the end of a run)
        _MPS_PEAK[0] = max(_MPS_PEAK[0], torch.mps.driver_allocated_memory())
        return _MPS_PEAK[0] / 2**20, "mps driver_allocated_memory, largest read (this run)"
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    per_mib = 2**20 if sys.platform == "darwin" else 2**10  # macOS reports bytes, Linux KiB
    return rss / per_mib, "process max RSS"


def synchronize(device: torch.device) -> None:
    """Wait until the device has done the work queued so far (CUDA and MPS run asynchronously; the CPU does not),
    so that a clock read next counts it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


@contextlib.contextmanager
def exact_fp32() -> Iterator[None]:
    """Plain fp32 convolutions and matmuls on CUDA. PyTorch lets cuDNN use TF32 for fp32 convolutions by default on
    Ampere and later GPUs (about 1e-3 relative error), which moves FID; the previous settings are restored after."""
    if not torch.cuda.is_available():
        yield
        return
    conv = getattr(torch.backends.cudnn, "conv", None)
    if conv is not None and hasattr(conv, "fp32_precision"):
        old = conv.fp32_precision
        conv.fp32_precision = "ieee"
        try:
            yield
        finally:
            conv.fp32_precision = old
    else:  # older PyTorch: the legacy flag
        old = torch.backends.cudnn.allow_tf32
        torch.backends.cudnn.allow_tf32 = False
        try:
            yield
        finally:
            torch.backends.cudnn.allow_tf32 = old


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
