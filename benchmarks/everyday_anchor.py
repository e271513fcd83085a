"""The study's anchor: the everyday DCGAN loop trained for the same wall-clock as ganbench's dcgan, then evaluated
with the study's protocol.

    uv run python benchmarks/everyday_anchor.py --study results/sweeps/cpu-celeba32 --seeds 0,1,2

The loop is benchmarks/throughput.py's EverydayLoop (the PyTorch examples dcgan/main.py: ImageFolder + DataLoader
with 2 workers decoding JPEGs, Sigmoid + BCELoss, fp32, the example's layers at 32x32, which are ganbench's
backbone, at the study's widths via the example's --ngf/--ndf), with two changes so that only the training loop
differs from the study's dcgan runs:
  - the images: CelebA's official training ids only, centre crop 160 then resize (the study's preprocessing;
    torchvision's antialiased bilinear resize where ganbench uses bicubic), instead of Resize + CenterCrop of all files;
  - samples for evaluation come from G in eval mode (running BatchNorm statistics) and the study's fixed noise,
    as ganbench draws them.
Wall-clock: the median training seconds of the study's completed dcgan runs (or --seconds), measured on the same
machine; the loop stops at the first iteration past it. Evaluation: the study's evaluator (the same reference
images, sample count and metrics), so the numbers sit beside the study's in one table.
Writes <study>/anchor-everyday/seed<k>.json and a sample grid per seed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from throughput import EverydayLoop  # noqa: E402

from ganbench.config import Config, migrate  # noqa: E402
from ganbench.data import DataSpec, load_dataset  # noqa: E402
from ganbench.data.celeba import LAST_TRAIN_ID as CELEBA_LAST_TRAIN_ID  # noqa: E402
from ganbench.diagnostics import EVAL_SEED, GRID, save_grid  # noqa: E402
from ganbench.io import read_json  # noqa: E402
from ganbench.metrics import build_evaluator  # noqa: E402
from ganbench.rundir import RunDir, Status  # noqa: E402


def study_dcgan(study: Path) -> tuple[list[float], Config]:
    """Training seconds of the study's completed dcgan runs, and the config they ran with."""
    seconds, cfg = [], None
    for summary in sorted(study.glob("dcgan/**/summary.json")):
        run = RunDir(summary.parent)
        s = read_json(summary)
        if s.get("status") == Status.COMPLETED:
            seconds.append(float(s["seconds"]))
            cfg = Config(**migrate(read_json(run.config)["config"]))  # as older ganbench may have written it
    if cfg is None:
        raise SystemExit(f"everyday_anchor: no completed dcgan run under {study}: run the study first")
    return seconds, cfg


def is_train_id(path: str) -> bool:
    stem = Path(path).stem
    return path.lower().endswith(".jpg") and stem.isdigit() and int(stem) <= CELEBA_LAST_TRAIN_ID


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--study", type=Path, required=True, help="the study's results folder (holds dcgan/seed*/)")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--seconds", type=float, default=0.0, help="wall-clock to train; 0 = the study dcgan's median")
    p.add_argument("--workers", type=int, default=2)
    args = p.parse_args(argv)
    import torchvision.transforms as T

    seconds, cfg = study_dcgan(args.study)
    budget = args.seconds or statistics.median(seconds)
    out = args.study / "anchor-everyday"
    out.mkdir(parents=True, exist_ok=True)
    ref = load_dataset(DataSpec(cfg.dataset, cfg.data, cfg.resolution, cfg.channels, cfg.crop, 0, cfg.eval_split))
    evaluator = build_evaluator(ref, cfg.eval_samples, "cpu")
    crop = cfg.crop or 160
    transform = T.Compose(
        [T.CenterCrop(crop), T.Resize(cfg.resolution), T.ToTensor(), T.Normalize((0.5,) * 3, (0.5,) * 3)]
    )
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    for seed in [int(s) for s in args.seeds.split(",")]:
        loop = EverydayLoop(
            cfg.resolution,
            str(Path(cfg.data)),
            cfg.batch_size,
            args.workers,
            transform,
            is_train_id,
            seed=seed,
            ngf=cfg.g_width,
            ndf=cfg.d_width,
        )
        loop.begin()
        t0 = time.perf_counter()
        steps = 0
        while time.perf_counter() - t0 < budget:
            loop.iteration()
            steps += 1
        trained = time.perf_counter() - t0
        loop.end()
        G = loop.netG.eval()
        gen = torch.Generator().manual_seed(EVAL_SEED)

        @torch.no_grad()
        def sample(n: int, G=G, gen=gen) -> torch.Tensor:
            return G(torch.randn(n, 100, 1, 1, generator=gen))

        metrics = evaluator(sample, also=(cfg.eval_samples_during,) if cfg.eval_samples_during else ())
        with torch.no_grad():  # the grid: the first GRID draws of the evaluation noise, as ganbench's grids
            save_grid(
                G(torch.randn(GRID, 100, 1, 1, generator=torch.Generator().manual_seed(EVAL_SEED))),
                out / f"seed{seed}.png",
            )
        record = {
            "seed": seed,
            "seconds": round(trained, 3),
            "seconds_budget": round(budget, 3),
            "budget_from": "--seconds" if args.seconds else f"median of {len(seconds)} study dcgan runs",
            "kimg": loop.images / 1000,
            "steps": steps,
            "img_per_s": loop.images / trained,
            "train_images": len(loop.dataset),
            "final": metrics,
            "metric_protocol": evaluator.protocol,
            "loop": "PyTorch examples dcgan/main.py (benchmarks/throughput.py EverydayLoop), fp32, "
            f"DataLoader {args.workers} workers, crop {crop} then resize {cfg.resolution}, "
            f"ngf {cfg.g_width}, ndf {cfg.d_width}",
            "device": "cpu",
            "threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "commit": commit,
            "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "command": " ".join(["benchmarks/everyday_anchor.py", *(argv or sys.argv[1:])]),
        }
        (out / f"seed{seed}.json").write_text(json.dumps(record, indent=1, default=str) + "\n")
        print(
            f"anchor seed {seed}: {loop.images / 1000:.1f} kimg in {trained:.0f} s; "
            + ", ".join(f"{k} {v:.4g}" for k, v in metrics.items() if k.startswith(("kid", "fid")) and "_" not in k),
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
