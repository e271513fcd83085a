"""Device memory and time: what a device has free, whether the data set goes there, the peak memory a run used, and
the synchronisation before a clock read (ganbench.device's choices that need the device's own accounting; see its
docstring for why each is as it is). Re-exported by ganbench.device."""

from __future__ import annotations

import gc
import os
import resource
import sys

import torch

DATA_ON_DEVICE_SHARE = 0.5  # the data set goes to the GPU when it needs under this share of the trial's memory


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


GPU_SHARE_ENV = "GANBENCH_GPU_SHARE"  # the share of its GPU a trial may use, set by the executor that packs trials


def gpu_share() -> float:
    """This trial's share of its GPU: 1 unless the executor packs several trials on one (Ray's gpus_per_trial
    0.5, the local executor's slots beyond the visible GPUs) and says so in GANBENCH_GPU_SHARE."""
    try:
        share = float(os.environ.get(GPU_SHARE_ENV, "1"))
    except ValueError:
        return 1.0
    return min(1.0, share) if share > 0 else 1.0


def data_on_device(nbytes: int, device: torch.device) -> bool:
    """Whether a data set of `nbytes` is copied to `device` (batches are then drawn there, no host transfer).

    CUDA: under DATA_ON_DEVICE_SHARE of this trial's memory, i.e. its share of the card (gpu_share) times the
    card's total, capped by what is free now. Each trial alone used to apply the rule to the free memory, so two
    trials packed on one card both copied a data set that fits once, and what one trial's process had cached
    changed another's decision (and with it the batch stream a seed draws from). PyTorch's own cached blocks are
    given back first: a long-lived worker's earlier trial does not count."""
    if device.type == "cuda":
        gc.collect()
        torch.cuda.empty_cache()
        _, total = torch.cuda.mem_get_info(device)
        usable = min(gpu_share() * total, free_bytes(device))
        return nbytes < DATA_ON_DEVICE_SHARE * usable
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
