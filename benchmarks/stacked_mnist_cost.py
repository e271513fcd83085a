"""What one Stacked MNIST trial costs on this machine: training img/s per variant, and one evaluation's parts.

    uv run python benchmarks/stacked_mnist_cost.py --data ../shared/data/mnist
    uv run python benchmarks/stacked_mnist_cost.py --data ../shared/data/mnist --variants dcgan,vae --windows 3

Training: every variant at 32x32, widths 32 (the study's settings) on the stacked-mnist train split, in interleaved
windows (variant A, B, C, ..., A, B, C, ...: load from other processes falls on all of them alike) after one
warm-up window each; per variant the median over windows of images/s (real images shown to D, wall clock) and of
CPU seconds per kimg (this process, all threads: less sensitive to other processes' load than the wall clock, but
not immune to it on a shared machine). Evaluation, with dcgan's (untrained) G: the modes count on
`modes.MODE_SAMPLES` images (drawing them and classifying 3 digits per image), and KID + precision/recall on
--eval-samples images (the Inception pass and the statistics; the reference statistics are computed first, apart).
The mode classifier must exist (trained on first use; `python -m ganbench.metrics.mode_classifier --data DIR`).
Output: one JSON object on stdout (and --out), with the machine's load before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import torch

from ganbench import families
from ganbench.config import load_recipe, make_config
from ganbench.data import load_dataset, spec_from_config
from ganbench.device import resolve
from ganbench.metrics import build_evaluator, modes
from ganbench.sampling import make_sampler
from ganbench.train import Loop
from ganbench.train import build as build_nets

VARIANTS = "dcgan,minimax,wgan-gp,lsgan,hinge,vae,ns-none,r1,ns-r1r2,rpgan-none,rpgan-r1,rpgan"


def _timed(fn) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) of fn()."""
    w, c = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - w, time.process_time() - c


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="folder holding torchvision's MNIST files")
    p.add_argument("--variants", default=VARIANTS)
    p.add_argument("--windows", type=int, default=3, help="timed windows per variant (median reported)")
    p.add_argument("--window-img", type=int, default=1024, help="real images shown to D per window")
    p.add_argument("--eval-samples", type=int, default=500)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--no-eval", action="store_true", help="training rates only")
    p.add_argument("--out", default="")
    a = p.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    load_before = os.getloadavg()
    device = torch.device("cpu")
    settings = dict(dataset="stacked-mnist", data=a.data, resolution=32, g_width=32, d_width=32, device="cpu")
    cfgs = {v: make_config(load_recipe(v), **settings) for v in a.variants.split(",")}
    images = load_dataset(spec_from_config(next(iter(cfgs.values())))).images

    loops = {}
    for v, cfg in cfgs.items():
        torch.manual_seed(0)
        dev_settings = resolve(cfg, device)
        nets = build_nets(cfg, device, dev_settings)
        loops[v] = Loop(
            cfg,
            device,
            nets,
            torch.Generator().manual_seed(0),
            images,
            cfg.run_budget.in_images(len(images)),
            dev_settings,
            dev_settings.autocast(),
            dev_settings.grad_scaler(),
        )

    def window(v: str) -> tuple[float, float]:
        s, step = loops[v], families.get(cfgs[v].family).impl.step
        start = s.c.img

        def run() -> None:
            while s.c.img - start < a.window_img:
                step(s)
                s.c.g_steps += 1

        wall, cpu = _timed(run)
        s.take_means()  # the host sync that ends the window (a tick does the same)
        return (s.c.img - start) / wall, cpu / ((s.c.img - start) / 1000)

    for v in loops:
        window(v)  # warm-up
    rates: dict[str, list[tuple[float, float]]] = {v: [] for v in loops}
    for _ in range(a.windows):
        for v in loops:
            rates[v].append(window(v))
    train = {
        v: {
            "img_per_s": round(statistics.median(r[0] for r in rs), 1),
            "cpu_s_per_kimg": round(statistics.median(r[1] for r in rs), 2),
            "windows": [[round(x, 1), round(y, 2)] for x, y in rs],
        }
        for v, rs in rates.items()
    }
    print(json.dumps({"train": train}), file=sys.stderr)
    if a.no_eval:
        return 0

    # ---- evaluation: the mode count on MODE_SAMPLES images, then KID + pr on eval_samples, same G
    cfg = cfgs.get("dcgan") or next(iter(cfgs.values()))
    G = families.get(cfg.family).impl.generator(loops[cfg.variant].nets)
    test = load_dataset(spec_from_config(cfg, split="test"))
    ev = {}
    model = modes.classifier(a.data)
    counter = modes.ModeEvaluator(None, model, modes.MODE_SAMPLES, 100, {})
    ev["modes"] = _timed(lambda: counter(make_sampler(cfg, G, device)))
    ev["modes_real_line"] = _timed(lambda: modes.mode_metrics(modes.mode_label(model.digits(test.images).numpy())))
    ev["kid_pr_reference"] = _timed(
        lambda: ev.setdefault("_e", build_evaluator(test, a.eval_samples, device, metrics=("kid", "pr")))
    )
    inception = ev.pop("_e")
    ev["kid_pr"] = _timed(lambda: inception(make_sampler(cfg, G, device)))
    out = {
        "train": train,
        "eval": {k: {"wall_s": round(w, 1), "cpu_s": round(c, 1)} for k, (w, c) in ev.items()},
        "mode_samples": modes.MODE_SAMPLES,
        "eval_samples": a.eval_samples,
        "threads": torch.get_num_threads(),
        "classifier": {k: model.info.get(k) for k in ("test_accuracy", "train_seconds", "train_cpu_seconds")},
        "load_before": load_before,
        "load_after": os.getloadavg(),
        "cpu": open("/proc/cpuinfo").read().split("model name")[1].split("\n")[0].strip(" :")
        if Path("/proc/cpuinfo").is_file()
        else "",
        "date": time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime()),
        "argv": sys.argv,
    }
    text = json.dumps(out, indent=2)
    print(text)
    if a.out:
        Path(a.out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
