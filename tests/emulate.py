"""A CUDA GPU emulated on the CPU, to count the host synchronisations a code path would cost there (issue 20).

Inside `with EmulatedCuda() as gpu:` tensors "on the GPU" are CPU tensors of the subclass `OnGPU` (their `.device`
says cuda), made by `device="cuda"` arguments and `.to("cuda")`; `CudaGenerator` is a CPU generator whose `.device`
says cuda. What stalls the host on a real GPU is recorded in `gpu.syncs` (one line each, with the shape copied):
  - reading a GPU tensor on the host: `.to("cpu")`, `.cpu()`, `.item()`, `.tolist()`, `bool()`, `.numpy()`;
  - copying host memory to the GPU from pageable memory (non_blocking does nothing there: the copy waits); a copy
    from page-locked memory (`pin_memory=True`, `.pin_memory()`) with non_blocking=True is asynchronous.
Everything is computed on the CPU, so values are exact; only the accounting is emulated.
"""

from __future__ import annotations

import torch
from torch.overrides import TorchFunctionMode

CUDA = torch.device("cuda")
_HOST_READS = (torch.Tensor.item, torch.Tensor.tolist, torch.Tensor.__bool__, torch.Tensor.numpy)


class OnGPU(torch.Tensor):
    """A CPU tensor standing for one in GPU memory."""

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        if func == torch.Tensor.device.__get__:  # method-wrappers are made afresh: equal, not identical
            return CUDA
        if func == torch.Tensor.is_cuda.__get__:
            return True
        return super().__torch_function__(func, types, args, kwargs or {})


class Pinned(torch.Tensor):
    """A CPU tensor in page-locked memory."""

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        if func is torch.Tensor.is_pinned:
            return True
        out = super().__torch_function__(func, types, args, kwargs or {})
        # results of computations on pinned memory are ordinary (pageable) tensors; `out=` keeps its buffer
        return (
            out
            if (kwargs or {}).get("out") is not None or not isinstance(out, Pinned)
            else out.as_subclass(torch.Tensor)
        )


class CudaGenerator(torch.Generator):
    """A CPU generator that says it is on the GPU (draws made with it are OnGPU)."""

    @property
    def device(self) -> torch.device:
        return CUDA


def _plain(t: torch.Tensor) -> torch.Tensor:
    return t.as_subclass(torch.Tensor)


class EmulatedCuda(TorchFunctionMode):
    def __init__(self) -> None:
        super().__init__()
        self.syncs: list[str] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = dict(kwargs or {})
        src = args[0] if args and isinstance(args[0], torch.Tensor) else None
        if func in (torch.Tensor.to, torch.Tensor.cpu) and src is not None:
            return self._transfer(func, src, args[1:], kwargs)
        if func in _HOST_READS and isinstance(src, OnGPU):
            self.syncs.append(f"{func.__name__} of a GPU tensor")
            return func(_plain(src), *args[1:], **kwargs)
        if func is torch.Tensor.pin_memory and src is not None:
            return _plain(src).clone().as_subclass(Pinned)
        pinned = kwargs.pop("pin_memory", False)
        device = kwargs.get("device")
        on_gpu = device is not None and torch.device(device).type == "cuda"
        if on_gpu:
            kwargs["device"] = "cpu"
        out = func(*args, **kwargs)
        if isinstance(out, torch.Tensor) and kwargs.get("out") is None:
            if on_gpu:
                return _plain(out).as_subclass(OnGPU)
            if pinned:
                return _plain(out).as_subclass(Pinned)
        return out

    def _transfer(self, func, src: torch.Tensor, rest: tuple, kwargs: dict):
        target, dtype = (torch.device("cpu"), None) if func is torch.Tensor.cpu else (None, kwargs.pop("dtype", None))
        for a in rest:
            if isinstance(a, (str, torch.device)):
                target = torch.device(a)
            elif isinstance(a, torch.dtype):
                dtype = a
        if "device" in kwargs:
            target = torch.device(kwargs.pop("device"))
        non_blocking = kwargs.pop("non_blocking", False)
        kwargs.pop("copy", None)
        out = _plain(src).to(dtype=dtype, **kwargs) if dtype is not None or kwargs else _plain(src)
        if target is None:  # a cast on the same device
            return out.as_subclass(type(src)) if type(src) is OnGPU else out
        if target.type == "cuda":
            if not isinstance(src, OnGPU) and not (non_blocking and isinstance(src, Pinned)):
                self.syncs.append("copy to the GPU from pageable memory")
            return out.clone().as_subclass(OnGPU) if not isinstance(src, OnGPU) else out.as_subclass(OnGPU)
        if isinstance(src, OnGPU):
            self.syncs.append(f"copy of a GPU tensor {tuple(src.shape)} to the host")
            return out.clone()
        return out
