"""The rates behind a study file's [cost]: training images/s per variant and precision, and the seconds of one
evaluation, on one thread (a study runs trials with one thread each, two at a time on two cores).

    uv run python benchmarks/studies/measure_rates.py --data ../shared/data/celeba --dataset celeba --out rates.json

Each variant and precision trains in short windows (after a warm-up), interleaved round by round, so that load from
other processes falls on every configuration alike. Per window it records the wall time and this process's CPU
time: on a machine shared with other work the wall time says how busy the machine was, the CPU time (one thread)
what the work itself costs. The printed rates are the fastest window's wall rate and the median CPU-time rate; on a
quiet machine the two agree. Evaluation: the study's evaluator (KID, precision/recall on `--eval-samples` images of
the selection split) on an untrained G's images, timed the same way after one call that builds the reference.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from ganbench import families, runner
from ganbench.config import load_recipe, make_config
from ganbench.device import pick_device, resolve
from ganbench.train import Loop, build, make_sampler


def _clocks() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def train_windows(cfg, images, windows: int, window_img: int, warmup_img: int) -> list[tuple[float, float, int]]:
    """(wall seconds, CPU seconds, images) of each window of one fresh run of `cfg`."""
    device = pick_device(cfg.device)
    torch.manual_seed(cfg.seed)
    gen = torch.Generator(device).manual_seed(cfg.seed)
    settings = resolve(cfg, device)
    nets = build(cfg, device, settings)
    family = families.get(cfg.family)
    data = images.to(device)
    s = Loop(
        cfg,
        device,
        nets,
        gen,
        data,
        cfg.run_budget.in_images(data.shape[0]),
        settings,
        settings.autocast(),
        settings.grad_scaler(),
    )
    out = []
    for w in range(windows + 1):
        img0 = s.c.img
        wall0, cpu0 = _clocks()
        while s.c.img - img0 < (warmup_img if w == 0 else window_img):
            family.impl.step(s)
            s.c.g_steps += 1
        s.take_means()  # the host sync that ends the window
        wall1, cpu1 = _clocks()
        if w:  # window 0 is the warm-up
            out.append((wall1 - wall0, cpu1 - cpu0, s.c.img - img0))
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--data", required=True)
    p.add_argument("--dataset", default="celeba")
    p.add_argument("--variants", default="dcgan,wgan-gp,vae")
    p.add_argument("--precisions", default="fp32,bf16")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--windows", type=int, default=2)
    p.add_argument("--window-kimg", type=float, default=1.0)
    p.add_argument("--eval-samples", type=int, default=500)
    p.add_argument("--eval-split", default="val")
    p.add_argument("--eval-repeats", type=int, default=2)
    p.add_argument("--out", default="")
    a = p.parse_args()
    torch.set_num_threads(1)
    base = dict(
        dataset=a.dataset,
        data=a.data,
        resolution=32,
        g_width=32,
        d_width=32,
        device="cpu",
        budget="100kimg",
        eval_samples=a.eval_samples,
        eval_split=a.eval_split,
    )
    cache: dict = {}
    cfg0 = make_config(load_recipe("dcgan"), **base)
    imageset, evaluator = runner.shared_inputs(cfg0, True, cache)
    images = imageset.images
    result = {"threads": torch.get_num_threads(), "cpu": _cpu_name(), "train": {}, "eval": {}}
    samples: dict[str, list[tuple[float, float, int]]] = {}
    for r in range(a.rounds):
        for variant in a.variants.split(","):
            for precision in a.precisions.split(","):
                cfg = make_config(load_recipe(variant), **base, precision=precision, seed=r)
                key = f"{variant} {precision}"
                samples.setdefault(key, []).extend(
                    train_windows(cfg, images, a.windows, int(a.window_kimg * 1000), int(a.window_kimg * 500))
                )
                w = samples[key][-1]
                print(f"round {r} {key}: {w[2] / w[0]:.0f} img/s wall, {w[2] / w[1]:.0f} img/s CPU", flush=True)
    for key, ws in samples.items():
        result["train"][key] = {
            "fastest_wall_img_per_s": max(n / wall for wall, _, n in ws),
            "median_cpu_img_per_s": statistics.median(n / cpu for _, cpu, n in ws),
            "windows": [{"wall_s": wall, "cpu_s": cpu, "img": n} for wall, cpu, n in ws],
        }
    for precision in a.precisions.split(","):
        cfg = make_config(load_recipe("dcgan"), **base, precision=precision)
        device = pick_device("cpu")
        G = families.get(cfg.family).impl.generator(build(cfg, device, resolve(cfg, device)))
        times = []
        for _ in range(a.eval_repeats):
            wall0, cpu0 = _clocks()
            evaluator(make_sampler(cfg, G, device))
            wall1, cpu1 = _clocks()
            times.append((wall1 - wall0, cpu1 - cpu0))
            print(
                f"eval ({precision} G) {a.eval_samples} images: {times[-1][0]:.1f} s wall, {times[-1][1]:.1f} s CPU",
                flush=True,
            )
        result["eval"][precision] = {
            "fastest_wall_s": min(t[0] for t in times),
            "median_cpu_s": statistics.median(t[1] for t in times),
            "samples": a.eval_samples,
        }
    print(
        json.dumps(
            {k: v for k, v in result.items() if k != "train"}
            | {"train": {k: {kk: vv for kk, vv in v.items() if kk != "windows"} for k, v in result["train"].items()}},
            indent=1,
        )
    )
    if a.out:
        with open(a.out, "w") as f:
            json.dump(result, f, indent=1)


def _cpu_name() -> str:
    try:
        flags = open("/proc/cpuinfo").read()
    except OSError:
        return "unknown"
    found = [f for f in ("amx_bf16", "avx512_bf16", "avx512f", "avx2") if f" {f}" in flags]
    return ", ".join(found)


if __name__ == "__main__":
    main()
