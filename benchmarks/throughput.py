"""Training throughput: ganbench's loop against the everyday DCGAN loop, on the same device and images.

    uv run python benchmarks/throughput.py --data ../shared/data/celeba            # GPU: the full grid
    uv run python benchmarks/throughput.py --batch-sizes 64 --steps 10 --warmup 3   # CPU: a small check

What is timed
  ours       ganbench's training step (`ganbench.families.gan.d_step` + `g_step`): the uint8 data set on the
             device, batches drawn there; channels_last, fused Adam and autocast where the device has them.
  reference  the PyTorch examples DCGAN loop: ImageFolder + DataLoader decoding JPEGs every epoch (2 workers, and
             again with one worker per CPU core), Sigmoid + BCELoss, fp32, no compilation. Same architecture.
Both after `--warmup` steps, over windows bracketed by device synchronisation. Images/s counts real images
shown to D. Model FLOPs per real image are counted with torch's FlopCounterMode on one real training iteration;
MFU = FLOPs/image x images/s / the GPU's dense bf16 peak (left empty where the peak is unknown, e.g. CPUs).
The reference loop reuses one G forward for its D and G steps; ours draws fresh z for the G step (one more G
forward per iteration): the FLOP counts below are each loop's own.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
DENSE_BF16_PEAK = {"H100": 989e12, "H200": 989e12, "A100": 312e12, "L40S": 362e12, "A10": 125e12,
                   "RTX 4090": 165e12}


def peak_flops(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((v for k, v in DENSE_BF16_PEAK.items() if k in name), None)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(step, device: torch.device, warmup: int, steps: int, images_per_step: int) -> dict:
    for _ in range(warmup):
        step()
    sync(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    sync(device)
    dt_ = time.perf_counter() - t0
    return {"img_per_s": steps * images_per_step / dt_, "g_steps_per_s": None, "seconds": dt_, "steps": steps}


def flops_of(fn) -> int | None:
    """FLOPs of one call, or None where torch's counter cannot follow it (the gradient penalty's
    autograd.grad double backward): then no MFU is reported rather than a guessed one."""
    from torch.utils.flop_counter import FlopCounterMode

    try:
        with FlopCounterMode(display=False) as counter:
            fn()
    except RuntimeError as e:
        print(f"note: FLOPs not counted ({str(e).splitlines()[0][:80]})", file=sys.stderr)
        return None
    return counter.get_total_flops()


# ------------------------------------------------------------------------------------------------ ours
def bench_ours(variant: str, batch: int, precision: str, args, device, images) -> dict:
    from ganbench import objectives
    from ganbench.config import load_recipe, make_config
    from ganbench.families.gan import d_step as gan_d_step
    from ganbench.families.gan import g_step as gan_g_step
    from ganbench.models import sample_latent
    from ganbench.train import _autocast, build

    cfg = make_config(load_recipe(variant), batch_size=batch, precision=precision, resolution=args.resolution,
                      device=str(device), fast=not args.no_fast, compile=args.compile)
    torch.manual_seed(0)
    nets = build(cfg, device)
    obj = objectives.get(cfg.objective)
    data = images.to(device)
    gen = torch.Generator(device).manual_seed(0)
    mem = torch.channels_last if (cfg.fast and device.type == "cuda") else torch.contiguous_format
    amp = _autocast(cfg, device)
    scaler = torch.amp.GradScaler(device.type) if precision == "fp16" else None

    def real():
        idx = torch.randint(data.shape[0], (batch,), device=device, generator=gen)
        return data[idx].float().div_(127.5).sub_(1).contiguous(memory_format=mem)

    def z():
        return sample_latent(batch, cfg.latent_dim, cfg.latent_dist, device, gen)

    def iteration():  # n_critic D steps + one G step, as in ganbench's loop
        for _ in range(cfg.n_critic):
            gan_d_step(cfg, nets, obj, real(), z(), amp, scaler)
        gan_g_step(cfg, nets, obj, z(), amp, scaler)

    per_iter = batch * cfg.n_critic
    out = timed(iteration, device, args.warmup, args.steps, per_iter)
    out["g_steps_per_s"] = out["img_per_s"] / per_iter
    flops = flops_of(iteration)
    out["flops_per_img"] = flops / per_iter if flops is not None else None
    return out


# ------------------------------------------------------------------------------------------------ reference
def bench_reference(batch: int, workers: int, args, device) -> dict:
    import torchvision.datasets as dset
    import torchvision.transforms as T

    from ganbench.models import Discriminator, Generator

    dataset = dset.ImageFolder(root=args.data, transform=T.Compose([
        T.Resize(args.resolution), T.CenterCrop(args.resolution), T.ToTensor(),
        T.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))]))
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch, shuffle=True, num_workers=workers,
                                         drop_last=True, persistent_workers=workers > 0)
    torch.manual_seed(0)
    netG = Generator(args.resolution).to(device)
    netD = nn.Sequential(Discriminator(args.resolution), nn.Sigmoid()).to(device)  # the example's Sigmoid
    criterion = nn.BCELoss()
    optD = torch.optim.Adam(netD.parameters(), lr=2e-4, betas=(0.5, 0.999))
    optG = torch.optim.Adam(netG.parameters(), lr=2e-4, betas=(0.5, 0.999))
    it = iter(loader)

    def step():
        nonlocal it
        try:
            data = next(it)[0]
        except StopIteration:  # a new epoch: the loader decodes the JPEGs again
            it = iter(loader)
            data = next(it)[0]
        real = data.to(device)
        b = real.size(0)
        netD.zero_grad()
        label = torch.full((b,), 1.0, device=device)
        errD_real = criterion(netD(real).view(-1), label)
        errD_real.backward()
        fake = netG(torch.randn(b, 100, 1, 1, device=device))
        label.fill_(0.0)
        errD_fake = criterion(netD(fake.detach()).view(-1), label)
        errD_fake.backward()
        optD.step()
        netG.zero_grad()
        label.fill_(1.0)
        errG = criterion(netD(fake).view(-1), label)
        errG.backward()
        optG.step()
        _ = errD_real.item() + errD_fake.item() + errG.item()  # the example prints these every iteration

    out = timed(step, device, args.warmup, args.steps, batch)
    out["g_steps_per_s"] = out["img_per_s"] / batch
    flops = flops_of(step)
    out["flops_per_img"] = flops / batch if flops is not None else None
    return out


# ------------------------------------------------------------------------------------------------ main
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--variants", default="dcgan,wgan-gp")
    p.add_argument("--batch-sizes", default="64,128,256,512")
    p.add_argument("--precisions", default="fp32,bf16")
    p.add_argument("--resolution", type=int, default=64)
    p.add_argument("--steps", type=int, default=50, help="timed iterations per configuration")
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "celeba"),
                   help="CelebA root (holds img_align_celeba/); the same images feed both loops")
    p.add_argument("--max-images", type=int, default=0)
    p.add_argument("--reference-batch", type=int, default=128, help="batch of the reference loop (0: skip it)")
    p.add_argument("--device", default="auto")
    p.add_argument("--no-fast", action="store_true", help="turn ganbench's fast path off (for the ablation)")
    p.add_argument("--compile", action="store_true", help="torch.compile G and D")
    p.add_argument("--out", default="")
    args = p.parse_args(argv)

    from ganbench.data import DataSpec, load_dataset
    from ganbench.runner import git_commit
    from ganbench.train import pick_device

    device = pick_device(args.device)
    if not (Path(args.data) / "img_align_celeba").is_dir():
        print(f"error: no CelebA images under {args.data} (pass --data)", file=sys.stderr)
        return 2
    images = load_dataset(DataSpec("celeba", root=args.data, resolution=args.resolution,
                                   max_images=args.max_images)).images
    peak = peak_flops(device)
    rows = []
    for variant in args.variants.split(","):
        for precision in args.precisions.split(","):
            if precision == "bf16" and device.type == "cpu" and variant != "dcgan":
                continue  # keep the CPU grid small
            for batch in (int(b) for b in args.batch_sizes.split(",")):
                r = bench_ours(variant, batch, precision, args, device, images)
                r |= {"loop": "ganbench", "variant": variant, "precision": precision, "batch": batch}
                rows.append(r)
                print(f"ganbench {variant:8s} {precision} b{batch:<4d} {r['img_per_s']:10.1f} img/s", file=sys.stderr)
    workers_all = os.cpu_count() or 1
    if args.reference_batch:
        for workers in sorted({2, workers_all}):
            r = bench_reference(args.reference_batch, workers, args, device)
            r |= {"loop": f"reference ({workers} workers)", "variant": "dcgan", "precision": "fp32",
                  "batch": args.reference_batch, "workers": workers}
            rows.append(r)
            print(f"reference workers={workers} b{args.reference_batch} {r['img_per_s']:10.1f} img/s", file=sys.stderr)
    refs = {r["workers"]: r["img_per_s"] for r in rows if r["loop"].startswith("reference")}
    for r in rows:
        r["mfu"] = r["flops_per_img"] * r["img_per_s"] / peak if (peak and r["flops_per_img"]) else None
        if r["loop"] == "ganbench" and r["batch"] == args.reference_batch:
            r["ratio_vs_reference_2_workers"] = r["img_per_s"] / refs[2] if 2 in refs else None
            r["ratio_vs_reference_all_workers"] = r["img_per_s"] / refs[workers_all] if workers_all in refs else None
    dev_name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU {platform.machine()} ({workers_all} cores)"
    result = {"device": dev_name, "device_type": device.type, "torch": torch.__version__,
              "cuda": torch.version.cuda, "peak_bf16_flops": peak, "resolution": args.resolution,
              "images": int(images.shape[0]), "data": "CelebA img_align_celeba, crop 160, bicubic resize",
              "commit": git_commit(), "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
              "command": " ".join([Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])]),
              "warmup_steps": args.warmup, "timed_steps": args.steps, "fast_path": not args.no_fast,
              "compile": args.compile, "rows": rows}
    out = Path(args.out) if args.out else ROOT / "results" / "bench" / f"throughput_{device.type}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    write_markdown(result, out.with_suffix(".md"), out.with_suffix(".png"))
    print(out)
    return 0


def write_markdown(result: dict, md: Path, png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd
    import seaborn as sns

    df = pd.DataFrame(result["rows"])
    df["label"] = df.apply(lambda r: f"{r['loop']} {r['variant']} {r['precision']}", axis=1)
    fig, ax = plt.subplots(figsize=(8, 4.5))
    sns.barplot(df, x="batch", y="img_per_s", hue="label", ax=ax)
    ax.set(xlabel="batch size", ylabel="real images / s (shown to D)",
           title=f"Training throughput, {result['resolution']}x{result['resolution']}, {result['device']}")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(png, dpi=120)
    plt.close(fig)
    lines = [f"# Training throughput on {result['device']}", "",
             f"torch {result['torch']}, CUDA {result['cuda']}, commit {result['commit']}, {result['date']}",
             f"command: `{result['command']}`", "",
             "| loop | variant | precision | batch | images/s | G steps/s | GFLOP/img | MFU | x ref (2 w) | x ref (all) |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in result["rows"]:
        def f(v, fmt):
            return "" if v is None else format(v, fmt)
        lines.append(f"| {r['loop']} | {r['variant']} | {r['precision']} | {r['batch']} | {r['img_per_s']:.1f} | "
                     f"{f(r['g_steps_per_s'], '.2f')} | {f(r['flops_per_img'] and r['flops_per_img'] / 1e9, '.2f') or 'not counted'} | {f(r.get('mfu'), '.1%')} | "
                     f"{f(r.get('ratio_vs_reference_2_workers'), '.2f')} | {f(r.get('ratio_vs_reference_all_workers'), '.2f')} |")
    lines += ["", f"![throughput]({png.name})", ""]
    md.write_text("\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())
