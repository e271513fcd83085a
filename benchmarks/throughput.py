"""Training throughput: ganbench's loop against the everyday DCGAN loop, side by side, on the same images.

    uv run python benchmarks/throughput.py --resolutions 64,32 --switches 64 --windows 5 --steps 2 --warmup 0
    uv run python benchmarks/throughput.py --quick             # 3 windows of 2 iterations

Arms (each an iteration = n_critic D steps + one G step; images/s counts real images shown to D):
  everyday          the PyTorch examples DCGAN loop: ImageFolder + DataLoader (2 workers, decoding JPEGs), Sigmoid
                    + BCELoss, fp32, eager, per-tensor Adam. The same DCGAN layers as ganbench's backbone (the
                    example's layout), with the example's Sigmoid appended to D.
  fp32 plain        ganbench's step (`ganbench.families.gan.d_step` + `g_step`), every switch off: fp32,
                    contiguous, plain Adam.
  one switch each   (at --switches resolutions) fp32 + channels_last; fp32 + foreach Adam; fp32 + fused Adam; fp32
                    with `fast` (channels_last + fused); bf16 autocast alone.
  best (default)    what a user gets by default (`ganbench.device.resolve` of the default Config: precision auto,
                    fast on), for dcgan and wgan-gp; and the same on one thread.
  best + compile    (--compile) torch.compile of G and D; its first iteration (the compilation) is reported apart.
All arms run in interleaved windows (arm A, B, C, ..., A, B, C, ...) so that load from other processes falls on all
of them alike; each figure is the median over windows. Beside each figure: utilisation of this machine's achievable
peak, measured in the same run by a large matmul (fp32 for fp32 arms, bf16 for bf16 arms); FLOPs per image are
counted by torch's FlopCounterMode on one iteration of the arm (not countable through wgan-gp's double backward).

Fairness notes: the everyday loop's workers are started (and their prefetch buffer filled) before each of its
windows, which favours it slightly; ganbench keeps the decoded uint8 data set in memory, which is its design.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------------------------------------ machine peak
def matmul_peak(dtype: torch.dtype, n: int = 2048, seconds: float = 1.5) -> float:
    """Achievable FLOP/s of an n x n matmul in `dtype` on the CPU, median of 5 timings."""
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    for _ in range(2):
        a @ b
    reps = max(1, int(seconds / 5 / max(_time(lambda: a @ b), 1e-4)))
    return statistics.median(2 * n**3 * reps / _time(lambda: [a @ b for _ in range(reps)]) for _ in range(5))


def _time(fn: Callable) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def provenance(script: str, argv: list[str] | None, load_start: float, conditions: str) -> dict:
    """What every CPU benchmark file records beside its figures: device, ISA, torch, threads, commit, date, the
    command, the conditions and the 1-minute load average at its start and end."""
    from ganbench.device import device_name
    from ganbench.execution.runner import git_commit

    return {
        "device": device_name(torch.device("cpu")),
        "isa": isa(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "commit": git_commit(),
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": " ".join([script, *(argv if argv is not None else sys.argv[1:])]),
        "conditions": conditions,
        "load_average_1min": {"start": load_start, "end": os.getloadavg()[0], "cpu_count": os.cpu_count()},
    }


def isa() -> str:
    from ganbench.device import cpu_flags

    flags = cpu_flags()
    keep = [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile") if f in flags]
    return f"{torch.backends.cpu.get_cpu_capability()} ({', '.join(keep) or 'flags unknown'})"


def flops_of(fn: Callable) -> int | None:
    from torch.utils.flop_counter import FlopCounterMode

    try:
        with FlopCounterMode(display=False) as counter:
            fn()
    except Exception as e:  # the gradient penalty's double backward, compiled graphs
        print(f"note: FLOPs not counted ({str(e).splitlines()[0][:80]})", file=sys.stderr)
        return None
    return counter.get_total_flops()


# ------------------------------------------------------------------------------------------------ arms
class Arm:
    """One configuration: `window(steps, warmup)` runs `steps` timed iterations and appends their images/s."""

    def __init__(
        self,
        name: str,
        variant: str,
        resolution: int,
        precision: str,
        images_per_iter: int,
        iteration: Callable[[], None],
        begin: Callable[[], None] | None = None,
        end: Callable[[], None] | None = None,
        threads: int | None = None,
        settings: dict | None = None,
    ):
        self.name, self.variant, self.resolution, self.precision = name, variant, resolution, precision
        self.images_per_iter, self.iteration, self.begin, self.end = images_per_iter, iteration, begin, end
        self.threads, self.settings = threads, settings or {}
        self.rates: list[float] = []
        self.flops_per_img: float | None = None
        self.first_iter_s: float | None = None

    def window(self, steps: int, warmup: int) -> None:
        old = torch.get_num_threads()
        if self.threads:
            torch.set_num_threads(self.threads)
        try:
            if self.begin:  # the everyday loop: workers start, and decode their first batches untimed
                self.begin()
                warmup = max(warmup, 1)
            for _ in range(warmup):
                self.iteration()
            t0 = time.perf_counter()
            for _ in range(steps):
                self.iteration()
            self.rates.append(steps * self.images_per_iter / (time.perf_counter() - t0))
            if self.end:
                self.end()
        finally:
            torch.set_num_threads(old)


def ganbench_arm(
    name: str,
    variant: str,
    resolution: int,
    images: torch.Tensor,
    batch: int,
    memory_format: str | None = None,
    optimizer: str | None = None,
    **settings,
) -> Arm:
    """ganbench's step under the Config `settings`; memory_format / optimizer set one switch by hand (the Config's
    `fast` couples them)."""
    import dataclasses

    from ganbench import objectives, penalties
    from ganbench.config import load_recipe, make_config
    from ganbench.device import resolve
    from ganbench.families.gan import d_step as gan_d_step
    from ganbench.families.gan import g_step as gan_g_step
    from ganbench.models import sample_latent
    from ganbench.train import build

    threads = settings.pop("threads", None)
    cfg = make_config(load_recipe(variant), batch_size=batch, resolution=resolution, device="cpu", **settings)
    device = torch.device("cpu")
    torch.manual_seed(0)
    s = resolve(cfg, device)
    s = dataclasses.replace(s, memory_format=memory_format or s.memory_format, optimizer=optimizer or s.optimizer)
    nets = build(cfg, device, s)
    obj, penalty = objectives.get(cfg.objective), penalties.get(cfg.penalty)
    gen = torch.Generator().manual_seed(0)
    amp, scaler, mem = s.autocast(), s.grad_scaler(), s.torch_memory_format

    def iteration():  # as in ganbench.train.train: batches drawn from the in-memory uint8 set
        for _ in range(cfg.n_critic):
            idx = torch.randint(images.shape[0], (batch,), generator=gen)
            real = images[idx].float().div_(127.5).sub_(1).contiguous(memory_format=mem)
            gan_d_step(
                cfg,
                nets,
                obj,
                penalty,
                cfg.penalty_weight,
                real,
                sample_latent(batch, cfg.latent_dim, cfg.latent_dist, device, gen),
                amp,
                scaler,
            )
        gan_g_step(
            cfg, nets, obj, sample_latent(batch, cfg.latent_dim, cfg.latent_dist, device, gen), None, amp, scaler
        )

    return Arm(
        name,
        variant,
        resolution,
        s.precision,
        batch * cfg.n_critic,
        iteration,
        threads=threads,
        settings=s.to_dict() | {"threads": threads or torch.get_num_threads()},
    )


class EverydayLoop:
    """The PyTorch examples dcgan/main.py loop, as written there: ImageFolder + DataLoader decoding JPEGs every
    epoch, Sigmoid + BCELoss, fp32, eager, per-tensor Adam; the G step reuses the D step's fake batch.

    `transform` defaults to the example's (Resize then CenterCrop); `is_valid_file` selects files (the anchor run
    keeps CelebA's training ids); ngf / ndf are the example's options of the same names (widths, default 64).
    `iteration()` is one D step and one G step on one batch."""

    def __init__(
        self,
        resolution: int,
        data: str,
        batch: int,
        workers: int,
        transform=None,
        is_valid_file=None,
        seed: int = 0,
        ngf: int = 64,
        ndf: int = 64,
    ):
        import torchvision.datasets as dset
        import torchvision.transforms as T

        from ganbench.models import Discriminator, Generator

        transform = transform or T.Compose(
            [T.Resize(resolution), T.CenterCrop(resolution), T.ToTensor(), T.Normalize((0.5,) * 3, (0.5,) * 3)]
        )
        self.dataset = dset.ImageFolder(root=data, transform=transform, is_valid_file=is_valid_file)
        self.loader = torch.utils.data.DataLoader(
            self.dataset, batch_size=batch, shuffle=True, num_workers=workers, drop_last=True
        )
        torch.manual_seed(seed)
        self.netG = Generator(resolution, width=ngf)
        self.netD = nn.Sequential(Discriminator(resolution, width=ndf), nn.Sigmoid())
        self.criterion = nn.BCELoss()
        self.optD = torch.optim.Adam(self.netD.parameters(), lr=2e-4, betas=(0.5, 0.999))
        self.optG = torch.optim.Adam(self.netG.parameters(), lr=2e-4, betas=(0.5, 0.999))
        self.it = None
        self.images = 0  # real images shown to D

    def begin(self) -> None:
        self.it = iter(self.loader)

    def end(self) -> None:
        self.it = None  # stops the workers: nothing decodes in the background during other arms' windows

    def iteration(self) -> None:
        if self.it is None:
            self.begin()
        try:
            real = next(self.it)[0]
        except StopIteration:  # a new epoch: the workers start again and decode the JPEGs again
            self.it = iter(self.loader)
            real = next(self.it)[0]
        b = real.size(0)
        netD, netG, criterion = self.netD, self.netG, self.criterion
        netD.zero_grad()
        label = torch.full((b,), 1.0)
        errD_real = criterion(netD(real).view(-1), label)
        errD_real.backward()
        fake = netG(torch.randn(b, 100, 1, 1))
        label.fill_(0.0)
        errD_fake = criterion(netD(fake.detach()).view(-1), label)
        errD_fake.backward()
        self.optD.step()
        netG.zero_grad()
        label.fill_(1.0)
        errG = criterion(netD(fake).view(-1), label)
        errG.backward()
        self.optG.step()
        self.images += b
        _ = errD_real.item() + errD_fake.item() + errG.item()  # the example prints these every iteration


def everyday_arm(resolution: int, data: str, batch: int, workers: int) -> Arm:
    """The everyday loop as a benchmark arm."""
    loop = EverydayLoop(resolution, data, batch, workers)
    return Arm(
        "everyday",
        "dcgan",
        resolution,
        "fp32",
        batch,
        loop.iteration,
        loop.begin,
        loop.end,
        settings={"loader": f"ImageFolder + DataLoader({workers} workers)", "loss": "Sigmoid + BCELoss"},
    )


# ------------------------------------------------------------------------------------------------ main
def build_arms(args, resolution: int, images: torch.Tensor) -> list[Arm]:
    b = args.batch
    plain = dict(precision="fp32", fast=False)
    arms = [everyday_arm(resolution, args.data, b, args.workers)]
    arms.append(ganbench_arm("fp32 plain", "dcgan", resolution, images, b, **plain))
    if resolution in args.switch_resolutions:
        arms.append(
            ganbench_arm("fp32 +channels_last", "dcgan", resolution, images, b, memory_format="channels_last", **plain)
        )
        arms.append(ganbench_arm("fp32 +foreach adam", "dcgan", resolution, images, b, optimizer="foreach", **plain))
        arms.append(ganbench_arm("fp32 +fused adam", "dcgan", resolution, images, b, optimizer="fused", **plain))
        arms.append(ganbench_arm("fp32 fast (channels_last + fused)", "dcgan", resolution, images, b, precision="fp32"))
        arms.append(ganbench_arm("+bf16 only", "dcgan", resolution, images, b, precision="bf16", fast=False))
    arms.append(ganbench_arm("best (default)", "dcgan", resolution, images, b))
    arms.append(ganbench_arm("best, 1 thread", "dcgan", resolution, images, b, threads=1))
    if args.compile:  # at every resolution asked for, whatever --switches says
        arms.append(ganbench_arm("best + compile", "dcgan", resolution, images, b, compile=True))
    arms.append(ganbench_arm("best (default)", "wgan-gp", resolution, images, b))
    return arms


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--resolutions", default="64,32")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--workers", type=int, default=2, help="DataLoader workers of the everyday loop")
    p.add_argument("--windows", type=int, default=5, help="interleaved windows per arm (median reported)")
    p.add_argument("--steps", type=int, default=4, help="timed iterations per window at 64x64 (x4 at 32x32)")
    p.add_argument(
        "--warmup",
        type=int,
        default=1,
        help="untimed iterations before each window (the everyday loop: at least 1, its workers' start)",
    )
    p.add_argument("--switches", default="64", help="resolutions at which each switch is measured on its own")
    p.add_argument("--compile", action="store_true", help="add a torch.compile arm (compile time reported apart)")
    p.add_argument(
        "--quick",
        action="store_true",
        help="3 windows of 2 iterations, no warm-up but the everyday "
        "loop's (ganbench's arms are warm from their first iteration and previous window)",
    )
    p.add_argument(
        "--data",
        default=str(ROOT.parent / "shared" / "data" / "celeba"),
        help="CelebA root (holds img_align_celeba/); the same files feed every arm",
    )
    p.add_argument("--out", default=str(ROOT / "results" / "bench" / "throughput_cpu.json"))
    p.add_argument(
        "--conditions",
        default="machine shared with other processes (measured under load)",
        help="what else ran on the machine, recorded beside the figures with the load average",
    )
    args = p.parse_args(argv)
    load_start = os.getloadavg()[0]
    if args.quick:
        args.windows, args.steps, args.warmup = 3, 2, 0
    args.switch_resolutions = [int(r) for r in args.switches.split(",") if r]

    from ganbench.data import DataSpec, load_dataset

    if not (Path(args.data) / "img_align_celeba").is_dir():
        print(f"error: no CelebA images under {args.data} (pass --data)", file=sys.stderr)
        return 2
    peaks = {"fp32": matmul_peak(torch.float32), "bf16": matmul_peak(torch.bfloat16)}
    print(f"matmul peak: fp32 {peaks['fp32'] / 1e9:.0f} GFLOP/s, bf16 {peaks['bf16'] / 1e9:.0f}", file=sys.stderr)
    all_arms: list[Arm] = []
    compile_s = None
    for resolution in (int(r) for r in args.resolutions.split(",")):
        images = load_dataset(DataSpec("celeba", root=args.data, resolution=resolution)).images
        arms = build_arms(args, resolution, images)
        steps = args.steps * max(1, (64 // resolution) ** 2 // 2)  # x2 at 32x32: windows of similar length
        for arm in arms:  # first iteration apart: compile time, allocator warm-up
            if arm.begin:
                arm.begin()
            arm.first_iter_s = _time(arm.iteration)
            if "compile" in arm.name:
                compile_s = arm.first_iter_s
            if "compile" not in arm.name and arm.variant == "dcgan":
                f = flops_of(arm.iteration)
                arm.flops_per_img = f / arm.images_per_iter if f else None
            if arm.end:
                arm.end()
        for w in range(args.windows):
            for arm in arms:
                arm.window(steps if arm.variant == "dcgan" else max(1, steps // 4), args.warmup)
            print(
                f"{resolution}x{resolution} window {w + 1}/{args.windows}: "
                + ", ".join(f"{a.variant}/{a.name} {a.rates[-1]:.1f}" for a in arms),
                file=sys.stderr,
            )
        all_arms += arms
    peaks_after = {"fp32": matmul_peak(torch.float32), "bf16": matmul_peak(torch.bfloat16)}

    rows = []
    for a in all_arms:
        med = statistics.median(a.rates)
        ref = next(x for x in all_arms if x.name == "everyday" and x.resolution == a.resolution)
        dc = next(
            (x for x in all_arms if x.variant == "dcgan" and x.name == a.name and x.resolution == a.resolution), None
        )
        # the achievable peak: the better of the two matmul timings (other processes' load lowers either)
        peak = max(
            peaks[a.precision if a.precision == "bf16" else "fp32"],
            peaks_after[a.precision if a.precision == "bf16" else "fp32"],
        )
        rows.append(
            {
                "resolution": a.resolution,
                "variant": a.variant,
                "arm": a.name,
                "precision": a.precision,
                "img_per_s": med,
                "windows": a.rates,
                "spread": [min(a.rates), max(a.rates)],
                "x_everyday": med / statistics.median(ref.rates),
                "x_dcgan_same_arm": med / statistics.median(dc.rates) if dc and a.variant != "dcgan" else None,
                "gflop_per_img": a.flops_per_img / 1e9 if a.flops_per_img else None,
                "utilisation": a.flops_per_img * med / peak if a.flops_per_img else None,
                "first_iteration_s": a.first_iter_s,
                "settings": a.settings,
            }
        )
    cpu = platform.processor() or platform.machine()

    result = {
        **provenance(
            "benchmarks/throughput.py",
            argv,
            load_start,
            args.conditions + "; ratios within this interleaved run are what count",
        ),
        "cpu": cpu,
        "batch": args.batch,
        "windows": args.windows,
        "steps_per_window_64": args.steps,
        "matmul_peak_flops": {"start": peaks, "end": peaks_after, "n": 2048},
        "compile_first_iteration_s": compile_s,
        "rows": rows,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    write_markdown(result, out.with_suffix(".md"), out.with_suffix(".png"))
    print(out)
    return 0


def write_markdown(result: dict, md: Path, png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = result["rows"]
    fig, axes = plt.subplots(1, len({r["resolution"] for r in rows}), figsize=(11, 4.5), squeeze=False)
    for ax, res in zip(axes[0], sorted({r["resolution"] for r in rows}, reverse=True), strict=True):
        sub = [r for r in rows if r["resolution"] == res]
        labels = [f"{r['variant']} {r['arm']}" for r in sub]
        ax.barh(
            labels,
            [r["img_per_s"] for r in sub],
            xerr=[[r["img_per_s"] - r["spread"][0] for r in sub], [r["spread"][1] - r["img_per_s"] for r in sub]],
            color=["grey" if r["arm"] == "everyday" else "tab:blue" for r in sub],
        )
        ax.invert_yaxis()
        ax.set(
            xlabel="real images / s (median; bars: min-max of windows)", title=f"{res}x{res}, batch {result['batch']}"
        )
        ax.tick_params(axis="y", labelsize=7)
    fig.suptitle(f"Training throughput, {result['device']}, torch {result['torch']}", fontsize=9)
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)
    pk = result["matmul_peak_flops"]
    lines = [
        f"# Training throughput on {result['device']}",
        "",
        f"ISA {result['isa']}; torch {result['torch']}, {result['threads']} threads; commit {result['commit']}; "
        f"{result['date']}",
        f"command: `{result['command']}`",
        "",
        f"Conditions: {result['conditions']}; load average {result['load_average_1min']}. "
        f"Median of {result['windows']} interleaved windows per arm; "
        f"batch {result['batch']}.",
        "",
        f"Measured peak (2048x2048 matmul, start / end of run): fp32 {pk['start']['fp32'] / 1e9:.0f} / "
        f"{pk['end']['fp32'] / 1e9:.0f} GFLOP/s, bf16 {pk['start']['bf16'] / 1e9:.0f} / "
        f"{pk['end']['bf16'] / 1e9:.0f} GFLOP/s. Utilisation = counted FLOPs/image x images/s / the higher of "
        "the two peaks of the arm's precision.",
        "",
        "| res | variant | arm | precision | images/s | min-max | x everyday | x dcgan | GFLOP/img | util. "
        "| 1st iter s |",
        "|---:|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]

    def f(v, fmt):
        return "" if v is None else format(v, fmt)

    for r in rows:
        lines.append(
            f"| {r['resolution']} | {r['variant']} | {r['arm']} | {r['precision']} | {r['img_per_s']:.1f} | "
            f"{r['spread'][0]:.1f}-{r['spread'][1]:.1f} | {r['x_everyday']:.2f} | "
            f"{f(r['x_dcgan_same_arm'], '.2f')} | {f(r['gflop_per_img'], '.2f')} | "
            f"{f(r['utilisation'], '.0%')} | {f(r['first_iteration_s'], '.1f')} |"
        )
    if result.get("compile_first_iteration_s") is not None:
        lines += [
            "",
            f"torch.compile: the first iteration (compilation) took {result['compile_first_iteration_s']:.0f} s.",
        ]
    lines += ["", f"![throughput]({png.name})", ""]
    md.write_text("\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())
