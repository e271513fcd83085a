"""FID, KID and precision/recall between any two image sources: `compare(A, B, ...)`, callable from any script;
`ganbench fid A B` parses its options and prints what it returns (`format_table`, or the JSON object).

A source is one of:
  NAME[:ROOT][:SPLIT]   a registered data set (`ganbench list`): `synthetic`, `synthetic:test`,
                        `celeba:/data/celeba`, `celeba:/data/celeba:test`, `folder:/path/to/pngs`. The last part is
                        a split when it is one of train, val, test, all (default: train; a folder: all).
  run:PATH              a run directory: its generator (latest checkpoint), sampled from the fixed eval seed.
  PATH                  an existing folder: a run directory when it holds config.json, otherwise a folder of images
                        (same as folder:PATH). A registered name wins over a folder of the same name: write ./NAME.
A is the generated side, B the reference: metric names carry A's count (fid500), precision is the share of A inside
B's manifold. A plain folder of image files is compared as torch-fidelity and pytorch-fid compare it: the files as
they are, resized only by the Inception network's own resize to 299x299, so two folders give those tools' number.
With --resolution or --crop a folder is instead centre-cropped and resized to that resolution first (recorded in
the protocol). Registered data sets are read at --resolution (default: the run's, else 64), centre-cropped as the
data set prescribes. Features of data sets and same-sized folders are cached, so a second comparison is fast.
Output: a table on stdout, or with --json one JSON object with the whole protocol. Progress goes to stderr.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ganbench.metrics import evaluator as ev
from ganbench.metrics import inception
from ganbench.rundir import RunDir

DEFAULT_RESOLUTION = 64
CLI_KEYS = (
    ev.KEY_FID,
    ev.KEY_FIDINF,
    ev.KEY_FIDINF_LO,
    ev.KEY_FIDINF_HI,
    ev.KEY_KID,
    ev.KEY_KID_STD,
    ev.KEY_KID_LO,
    ev.KEY_KID_HI,
    ev.KEY_PRECISION,
    ev.KEY_RECALL,
)
BUILT_IN = ("synthetic",)


def cli_keys(chosen: tuple[str, ...]) -> tuple[str, ...]:
    """The result keys `ganbench fid` prints for the chosen metrics: CLI_KEYS' where chosen, then the others'."""
    mine = ev.metric_keys(chosen)
    return tuple(k for k in CLI_KEYS if k in mine) + tuple(
        k for k in mine if k not in CLI_KEYS
    )  # data sets that need no folder


@dataclass
class Source:
    text: str
    kind: str  # "dataset" | "run"
    name: str = ""  # data set name
    root: str = ""
    split: str = "train"
    run_dir: Path | None = None
    info: dict[str, Any] = field(default_factory=dict)


def parse_source(text: str) -> Source:
    """The source syntax of `ganbench fid` (see the module docstring)."""
    from ganbench.data import DATASETS, SPLITS

    if not text:
        raise ValueError("an empty source: give a data set name, a folder or a run directory")
    if text.startswith("run:"):
        return Source(text, "run", run_dir=Path(text[4:]).expanduser())
    head, sep, rest = text.partition(":")
    if head in DATASETS:
        root, split = rest, ("all" if head == "folder" else "train")  # a folder: every image, as before it had splits
        if sep:
            before, _, last = rest.rpartition(":")
            if last in SPLITS:
                root, split = before, last
        if not root and head not in BUILT_IN:
            raise ValueError(f"'{text}': the {head} data set needs its folder: write {head}:PATH or {head}:PATH:SPLIT")
        return Source(text, "dataset", name=head, root=root, split=split)
    path = Path(text).expanduser()
    if path.is_dir():
        if RunDir(path).is_run():
            return Source(text, "run", run_dir=path)
        return Source(text, "dataset", name="folder", root=str(path), split="all")
    raise ValueError(
        f"'{text}' is neither a registered data set ({', '.join(sorted(DATASETS))}), nor an existing "
        "folder or run directory"
    )


def compare(
    a: str,
    b: str,
    samples: int = 500,
    ref_samples: int = 0,
    resolution: int = 0,
    crop: int = 0,
    weights: str = "",
    device: str = "auto",
    batch_size: int = 100,
    metrics: str = ",".join(ev.DEFAULT_METRICS),
) -> dict[str, Any]:
    """The metrics between A (generated side) and B (reference) with their whole protocol, as one JSON-able
    object: `ganbench fid`'s output. The arguments are its options (see the module docstring for the sources).
    Raises ValueError (or FileNotFoundError, KeyError, OSError, RuntimeError, CheckpointError) with one line for
    sources or options it cannot use, before the first Inception pass where it can."""
    import torch

    from ganbench.device import pick_device

    t0 = time.perf_counter()
    chosen = ev.parse_metrics(metrics)  # a typo fails before any image is read
    counted = [m for m in chosen if not ev.METRICS[m].keys]  # counted on a run's images, not on two sources
    if counted:
        raise ValueError(
            f"--metrics {','.join(counted)} is counted inside a run on its own images (e.g. `ganbench run --dataset "
            "stacked-mnist --metrics kid,pr,modes`), not between two sources: choose from "
            f"{', '.join(m for m in ev.METRICS.names() if ev.METRICS[m].keys)}"
        )
    keys = cli_keys(chosen)
    if samples < ev.MIN_SAMPLES or (ref_samples and ref_samples < ev.MIN_SAMPLES):
        raise ValueError(f"--samples and --ref-samples must be at least {ev.MIN_SAMPLES}")
    if batch_size < 1:
        raise ValueError("--batch-size must be positive")
    src_a, src_b = parse_source(a), parse_source(b)
    dev = pick_device(device)

    samplers = {}
    for src in (src_a, src_b):  # runs first: they fix resolution, channels and crop for the data sides
        if src.kind == "run":
            from ganbench.sampling import load_sampler

            if not src.run_dir.is_dir():
                raise ValueError(f"run directory '{src.run_dir}' does not exist")
            cfg, sample = load_sampler(src.run_dir, dev)
            samplers[id(src)] = (cfg, sample)
            src.info = {
                "kind": "run",
                "run_dir": str(src.run_dir),
                "variant": cfg.variant,
                "seed": cfg.seed,
                "dataset": cfg.dataset,
                "resolution": cfg.resolution,
                "channels": cfg.channels,
                "checkpoint": "checkpoints/latest.pt",
                "sampling": "fixed eval seed (ganbench.train)",
            }
    run_cfg = next((cfg for cfg, _ in samplers.values()), None)
    res = resolution or (run_cfg.resolution if run_cfg else DEFAULT_RESOLUTION)
    channels = run_cfg.channels if run_cfg else 3
    as_is = resolution == 0 and crop == 0  # plain folders: the files as they are, as torch-fidelity reads them
    crop = crop or (run_cfg.crop if run_cfg else 0)

    # Load everything before the first (slow) Inception pass, so that a bad source fails at once.
    loaded = {}
    for src, count, label in ((src_a, samples, "A"), (src_b, ref_samples or samples, "B")):
        if src.kind == "dataset" and src.name == "folder" and as_is:
            loaded[label] = _load_files_as_is(src, count, label)
        elif src.kind == "dataset":
            loaded[label] = _load_images(src, count, res, channels, crop, label)
    w = inception.resolve_weights(weights)
    sides = {}
    for src, count, label in ((src_a, samples, "A"), (src_b, ref_samples or samples, "B")):
        logits = label == "A" and w.has_classifier
        if src.kind == "run":
            print(f"ganbench fid: {label}: {count} images from run {src.run_dir}", file=sys.stderr)
            fs, finite = _sampler_side(samplers[id(src)][1], count, w, dev, batch_size, logits)
            src.info |= {"count": count, "finite": finite}
        elif isinstance(loaded[label], _AsIs):
            fs = _files_side(src, loaded[label], w, dev, batch_size, logits, label)
        else:
            fs = _data_side(src, loaded[label], w, dev, batch_size, logits, label)
        sides[label] = fs

    gen, ref = sides["A"], sides["B"]
    n_a, n_b = len(gen), len(ref)
    settings = ev.MetricSettings(ev.kid_subset_size(n_a, n_b))
    protocol = ev.metric_protocol(w, n_a, n_b, settings, chosen)
    isc_note = protocol.pop("isc_note")
    protocol.pop("isc")
    if src_a.info.get("finite", True) and src_b.info.get("finite", True):
        values = ev.compute_metrics(gen, ref, settings, chosen)
    else:
        print("ganbench fid: a generator produced NaN or inf; metrics reported as NaN", file=sys.stderr)
        values = {k: math.nan for k in keys}
    out: dict[str, Any] = {ev.metric_name(k, n_a): values.get(k, math.nan) for k in keys}
    out["isc"], out["isc_std"], out["isc_note"] = None, None, isc_note
    if w.has_classifier and gen.logits is not None:
        from ganbench.metrics.functional import inception_score

        out["isc"], out["isc_std"] = inception_score(gen.logits)
        out["isc_note"] = "Inception Score of A, 10 splits, from the classifier head of the user's weights file"
    out["a"], out["b"] = src_a.info, src_b.info
    out["protocol"] = protocol | {
        "resolution": res,
        "device": str(dev),
        "batch_size": batch_size,
        "torch": torch.__version__,
    }
    out["seconds"] = round(time.perf_counter() - t0, 3)
    return out


def _sampler_side(sample, count, w, dev, batch_size, logits):
    from ganbench.metrics.features import sampler_features

    return sampler_features(sample, count, w, dev, batch_size, progress=True, logits=logits)


def _load_images(src: Source, count: int, res: int, channels: int, crop: int, label: str):
    from ganbench.data import DataSpec, load_dataset

    spec = DataSpec(src.name, src.root, res, channels, crop, max_images=count, split=src.split)
    print(f"ganbench fid: {label}: loading {src.text} ({res}x{res}, {count} images)", file=sys.stderr)
    imgs = load_dataset(spec)
    if len(imgs) < count:
        print(f"ganbench fid: {label}: {src.text} has only {len(imgs)} images; using all of them", file=sys.stderr)
    if len(imgs) < ev.MIN_SAMPLES:
        raise ValueError(f"{src.text} has {len(imgs)} images; metrics need at least {ev.MIN_SAMPLES}")
    return imgs, min(count, len(imgs))


@dataclass
class _AsIs:
    groups: list  # uint8 (n, 3, H, W) tensors, one per image size, in file order within each
    files: int  # files in the folder
    used: int
    sizes: list  # [(H, W, count)]


def _load_files_as_is(src: Source, count: int, label: str) -> _AsIs:
    """The first `count` image files of a folder (sorted paths), decoded to RGB uint8 at their own size, as
    torch-fidelity's folder input decodes them (PIL, convert("RGB"))."""
    import numpy as np
    import torch
    from PIL import Image

    from ganbench.data import IMAGE_SUFFIXES

    root = Path(src.root)
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if len(files) < ev.MIN_SAMPLES:
        raise ValueError(f"{src.text} has {len(files)} image files; metrics need at least {ev.MIN_SAMPLES}")
    if len(files) < count:
        print(f"ganbench fid: {label}: {src.text} has only {len(files)} images; using all of them", file=sys.stderr)
    print(f"ganbench fid: {label}: reading {min(count, len(files))} files of {src.text} as they are", file=sys.stderr)
    by_size: dict[tuple[int, int], list] = {}
    for path in files[:count]:
        try:
            with Image.open(path) as im:
                arr = np.asarray(im.convert("RGB"))
        except OSError as e:
            raise ValueError(f"image file '{path}' cannot be read ({e})") from None
        by_size.setdefault(arr.shape[:2], []).append(torch.from_numpy(arr.copy()).permute(2, 0, 1))
    groups = [torch.stack(v) for v in by_size.values()]
    return _AsIs(groups, len(files), min(count, len(files)), [(h, w, len(v)) for (h, w), v in by_size.items()])


def _files_side(src: Source, loaded: _AsIs, w, dev, batch_size: int, logits: bool, label: str):
    import torch

    from ganbench.metrics.features import FeatureSet, images_features, reference_features

    protocol = {
        "dataset": "folder",
        "root": str(Path(src.root).resolve()),
        "resize": f"none: files as they are, then Inception's own {inception.RESIZE}",
        "sizes": loaded.sizes,
    }
    desc = f"{label} features"
    if len(loaded.groups) == 1 and not logits:
        fs = reference_features(loaded.groups[0], protocol, w, dev, batch_size, progress=True, desc=desc)
    else:  # images of several sizes (or logits wanted): each size in its own batches, not cached
        parts = [images_features(g, w, dev, batch_size, progress=True, logits=logits, desc=desc) for g in loaded.groups]
        fs = FeatureSet.from_features(
            torch.cat([p.features for p in parts]), torch.cat([p.logits for p in parts]) if logits else None
        )
    src.info = {
        "kind": "dataset",
        "source": src.text,
        "protocol": protocol,
        "images": f"the first {loaded.used} of {loaded.files} files, sorted by path",
        "features_cache": fs.info.get("cache"),
        "features_reused": fs.info.get("reused", False),
    }
    return fs


def _data_side(src: Source, loaded, w, dev, batch_size: int, logits: bool, label: str):
    from ganbench.metrics.features import images_features, reference_features

    imgs, n = loaded
    images = imgs.images[:n]
    desc = f"{label} features"
    if logits:  # logits are not cached: computed afresh
        fs = images_features(images, w, dev, batch_size, progress=True, logits=True, desc=desc)
    else:
        fs = reference_features(images, imgs.protocol, w, dev, batch_size, progress=True, desc=desc)
    src.info = {
        "kind": "dataset",
        "source": src.text,
        "protocol": {k: v for k, v in imgs.protocol.items() if k != "cache"},
        "images": f"the first {n} of {len(imgs)}, in the data set's order",
        "features_cache": fs.info.get("cache"),
        "features_reused": fs.info.get("reused", False),
    }
    return fs


def format_table(result: dict[str, Any]) -> str:
    p = result["protocol"]
    n = p["n_generated"]
    rows = [("A", _describe(result["a"])), ("B", _describe(result["b"]))]

    def value(key: str) -> float:
        return result[ev.metric_name(key, n)]

    def interval(key: str) -> str:
        lo, hi = value(f"{key}_lo"), value(f"{key}_hi")
        return f"{_num(value(key))}  (95% evaluation-noise interval {_num(lo)} .. {_num(hi)})"

    def has(key: str) -> bool:
        return ev.metric_name(key, n) in result

    rows += [
        (ev.metric_name(k, n), text)
        for k, text in (
            (ev.KEY_FID, f"{_num(value(ev.KEY_FID))}  (biased upwards at small N)" if has(ev.KEY_FID) else ""),
            (ev.KEY_FIDINF, interval(ev.KEY_FIDINF) if has(ev.KEY_FIDINF) else ""),
            (ev.KEY_KID, interval(ev.KEY_KID) + "  ranks variants" if has(ev.KEY_KID) else ""),
            (ev.KEY_PRECISION, _num(value(ev.KEY_PRECISION)) if has(ev.KEY_PRECISION) else ""),
            (ev.KEY_RECALL, _num(value(ev.KEY_RECALL)) if has(ev.KEY_RECALL) else ""),
            (ev.KEY_DENSITY, _num(value(ev.KEY_DENSITY)) if has(ev.KEY_DENSITY) else ""),
            (ev.KEY_COVERAGE, _num(value(ev.KEY_COVERAGE)) if has(ev.KEY_COVERAGE) else ""),
            (
                ev.KEY_C2ST,
                f"{_num(value(ev.KEY_C2ST))}  (held-out accuracy, 95% interval {_num(value('c2st_lo'))} .. "
                f"{_num(value('c2st_hi'))}, p {_num(value('c2st_p'))}; 0.5 = cannot tell)"
                if has(ev.KEY_C2ST)
                else "",
            ),
        )
        if text
    ]
    rows += [
        ("isc", _num(result["isc"]) if result["isc"] is not None else result["isc_note"]),
        (
            "images",
            f"{n} generated (A) vs {p['n_reference']} reference (B); KID over all samples; "
            f"precision/recall k={p['precision_recall']['k']}, density/coverage k={ev.DC_K}, on "
            "Inception features (not VGG16)",
        ),
        ("weights", f"sha256 {p['weights']['sha256'][:16]}... ({p['weights']['source']})"),
        ("device", f"{p['device']}, {result['seconds']:.1f} s"),
    ]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def _describe(info: dict[str, Any]) -> str:
    if info.get("kind") == "run":
        return f"run {info['run_dir']} ({info['variant']}, seed {info['seed']}), {info['count']} generated"
    p = info["protocol"]
    if p.get("sizes"):
        return (
            f"{info['source']}: files as they are ({', '.join(f'{h}x{w}' for h, w, _ in p['sizes'])}), {info['images']}"
        )
    return (
        f"{info['source']}: {p.get('dataset')}, split {p.get('split')}, {p.get('resolution')}px, "
        f"crop {p.get('crop')}, {info['images']}"
    )


def _num(x: float | None) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "nan"
    return f"{x:.6g}"
