"""A CUDA GPU emulated on the CPU, to count the host synchronisations a code path would cost there (issue 20).

Inside `with EmulatedCuda() as gpu:` tensors "on the GPU" are CPU tensors of the subclass `OnGPU` (their `.device`
says cuda), made by `device="cuda"` arguments and `.to("cuda")`; `CudaGenerator` is a CPU generator whose `.device`
says cuda. What stalls the host on a real GPU is recorded in `gpu.syncs` (one line each, with the shape copied):
  - reading a GPU tensor on the host: `.to("cpu")`, `.cpu()`, `.item()`, `.tolist()`, `bool()`, `float()`,
    `int()`, `.numpy()`;
  - copying host memory to the GPU from pageable memory (non_blocking does nothing there: the copy waits):
    `.to("cuda")`, and host data made into a GPU tensor (`torch.as_tensor(x, device="cuda")`, `torch.tensor`); a
    copy from page-locked memory (`pin_memory=True`, `.pin_memory()`) with non_blocking=True is asynchronous;
  - an op whose result's size depends on the data, which the host must read before it can allocate: indexing with
    a boolean mask, `nonzero`, `masked_select`;
  - `torch.linalg.eigh` / `eigvalsh` (cuSOLVER's syevd reports convergence in an `info` flag that PyTorch reads
    back to raise on failure; batched, one read per call).
Everything is computed on the CPU, so values are exact; only the accounting is emulated.
"""

from __future__ import annotations

import torch
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode

CUDA = torch.device("cuda")
_HOST_READS = (
    torch.Tensor.item,
    torch.Tensor.tolist,
    torch.Tensor.__bool__,
    torch.Tensor.__float__,
    torch.Tensor.__int__,
    torch.Tensor.__index__,
    torch.Tensor.numpy,
)
_HOST_DATA = (torch.as_tensor, torch.tensor)  # host data (numbers, lists, arrays) made into a tensor
_DATA_SIZED = (torch.nonzero, torch.Tensor.nonzero, torch.masked_select, torch.Tensor.masked_select)
_INFO_READ = (torch.linalg.eigh, torch.linalg.eigvalsh)


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


def _has_mask(index) -> bool:
    """Whether an index (a tensor, or a tuple of them) holds a boolean mask."""
    parts = index if isinstance(index, tuple) else (index,)
    return any(isinstance(p, torch.Tensor) and p.dtype == torch.bool for p in parts)


class EmulatedCuda(TorchFunctionMode):
    """capability: the emulated GPU's CUDA compute capability, which `torch.cuda.get_device_capability` answers
    inside the block (default (9, 0), an H100: full-rate float64, TF32; (8, 6) is an A10 or RTX 30, (7, 5) a T4)."""

    def __init__(self, capability: tuple[int, int] = (9, 0)) -> None:
        super().__init__()
        self.syncs: list[str] = []
        self.capability = capability
        self._saved = None

    def __enter__(self):
        self._saved = torch.cuda.get_device_capability
        torch.cuda.get_device_capability = lambda device=None: self.capability
        return super().__enter__()

    def __exit__(self, *exc):
        torch.cuda.get_device_capability = self._saved
        return super().__exit__(*exc)

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
        if isinstance(src, OnGPU):
            if func in _DATA_SIZED or (func is torch.Tensor.__getitem__ and _has_mask(args[1])):
                self.syncs.append(f"{func.__name__} of a GPU tensor: the result's size is read on the host")
            elif func in _INFO_READ:
                self.syncs.append(f"{func.__name__} of a GPU tensor: cuSOLVER's info flag is read on the host")
        pinned = kwargs.pop("pin_memory", False)
        device = kwargs.get("device")
        on_gpu = device is not None and torch.device(device).type == "cuda"
        if on_gpu and func in _HOST_DATA and not isinstance(src, OnGPU):
            self.syncs.append("copy to the GPU from pageable memory")
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


# ---------------------------------------------------------------------------------------------------- TF32 (issue 31)
def round_to_tf32(x: torch.Tensor) -> torch.Tensor:
    """float32 -> the nearest TF32 value (8 exponent bits, 10 mantissa bits: the low 13 bits of the mantissa
    rounded away, ties to even), still stored as float32. What an Ampere or later GPU's tensor cores read."""
    bits = x.contiguous().view(torch.int32)
    keep = (bits >> 13) & 1  # the last kept bit, for ties to even
    rounded = ((bits + 0x0FFF + keep) & ~0x1FFF).view(torch.float32)
    return torch.where(torch.isfinite(x), rounded, x).view_as(x)


def _tf32_on(flag_owner) -> bool:
    precision = getattr(flag_owner, "fp32_precision", None)
    return precision == "tf32"


class EmulatedTF32(TorchDispatchMode):
    """An Ampere or later GPU's TF32 on the CPU: while PyTorch's flags say TF32 (`torch.backends.cudnn.conv.
    fp32_precision == "tf32"`, PyTorch's default for convolutions; `torch.backends.cuda.matmul.fp32_precision` for
    matmuls), every float32 operand of a convolution (forward and both backward products) or of a matmul is
    rounded to TF32 before the op, which then accumulates in float32 as tensor cores do. `calls` counts the ops
    it rounded. Other dtypes (bf16 and fp16 under autocast) pass untouched."""

    CONV = ("convolution.default", "convolution_backward.default")
    MATMUL = ("mm.default", "addmm.default", "bmm.default", "baddbmm.default")

    def __init__(self) -> None:
        super().__init__()
        self.calls = {"conv": 0, "matmul": 0}

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = func.__name__ if hasattr(func, "__name__") else str(func)
        kind = "conv" if name in self.CONV else "matmul" if name in self.MATMUL else None
        if kind is not None and _tf32_on(torch.backends.cudnn.conv if kind == "conv" else torch.backends.cuda.matmul):
            self.calls[kind] += 1
            args = tuple(round_to_tf32(a) if _fp32(a) else a for a in args)
        return func(*args, **kwargs)


def _fp32(a) -> bool:
    return isinstance(a, torch.Tensor) and a.dtype == torch.float32
