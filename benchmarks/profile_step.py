"""Where a training iteration's time goes: torch.profiler over the everyday loop and ganbench's default step, side
by side, grouped into kinds of work. It explains the throughput ratio in results/bench/throughput_cpu*.md.

    uv run python benchmarks/profile_step.py --resolution 64 --steps 6 --out results/bench/profile_cpu.json

Both arms are the ones benchmarks/throughput.py times (same builders). Per arm: milliseconds per iteration (one D
step and one G step on a batch) of self CPU time per kind of operator, summed over the main thread's operators, and
the wall time per iteration; "outside operators" is wall minus that sum (the everyday loop waiting for its
DataLoader workers, Python). The everyday loop's decoding runs in worker processes and is not in its operators.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from throughput import ROOT, EverydayLoop, ganbench_arm, provenance  # noqa: E402

# operator name (aten::...) -> kind; the first matching fragment wins
KINDS = [
    ("convolution (matmul work)", ("conv", "mkldnn_convolution", "addmm", "mm", "bmm", "_slow_conv")),
    ("batch/layer norm", ("batch_norm", "batchnorm", "layer_norm", "layernorm")),
    ("optimizer", ("adam", "_foreach", "_fused")),
    ("casts and copies", ("copy_", "to", "_to_copy", "contiguous", "clone")),
    (
        "activations and losses",
        ("leaky_relu", "leakyrelu", "relu", "tanh", "sigmoid", "binary_cross_entropy", "softplus", "mse"),
    ),
    (
        "elementwise and reductions",
        ("add", "mul", "sub", "div", "sum", "mean", "fill_", "zero_", "where", "neg", "pow", "sqrt", "exp", "log"),
    ),
    ("random numbers, indexing", ("randn", "randint", "normal_", "uniform_", "index", "gather")),
]


def kind_of(name: str) -> str:
    op = name.split(": ")[-1].removeprefix("aten::").lower()  # autograd::engine::evaluate_function: XBackward0
    for kind, fragments in KINDS:
        if any(op == f or op.startswith(f) or f in op for f in fragments):
            return kind
    return "other operators"


def profile(iteration, steps: int) -> dict:
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    iteration()  # warm: allocator, one-time setup
    t0 = time.perf_counter()
    with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            iteration()
    wall_ms = (time.perf_counter() - t0) * 1e3 / steps
    kinds: dict[str, float] = {}
    top: list[tuple[str, float]] = []
    for evt in prof.key_averages():
        ms = evt.self_cpu_time_total / 1e3 / steps
        kinds[kind_of(evt.key)] = kinds.get(kind_of(evt.key), 0.0) + ms
        top.append((evt.key, ms))
    ops_ms = sum(kinds.values())
    kinds["outside operators (data wait, Python)"] = max(0.0, wall_ms - ops_ms)
    top.sort(key=lambda kv: -kv[1])
    return {"wall_ms_per_iteration": wall_ms, "kinds_ms": kinds, "top_ops_ms": top[:12]}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--resolution", type=int, default=64)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--steps", type=int, default=6, help="profiled iterations per arm")
    p.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "celeba"))
    p.add_argument("--out", default=str(ROOT / "results" / "bench" / "profile_cpu.json"))
    p.add_argument("--conditions", default="machine shared with other processes (measured under load)")
    args = p.parse_args(argv)
    if not (Path(args.data) / "img_align_celeba").is_dir():
        print(f"error: no CelebA images under {args.data} (pass --data)", file=sys.stderr)
        return 2
    from ganbench.data import DataSpec, load_dataset

    images = load_dataset(DataSpec("celeba", root=args.data, resolution=args.resolution)).images
    everyday = EverydayLoop(args.resolution, args.data, args.batch, workers=2)
    everyday.begin()
    arms = {
        "everyday (fp32, DataLoader)": everyday.iteration,
        "ganbench default (bf16 autocast, channels_last, fused Adam)": ganbench_arm(
            "best (default)", "dcgan", args.resolution, images, args.batch
        ).iteration,
        "ganbench fp32, switches off": ganbench_arm(
            "fp32 plain", "dcgan", args.resolution, images, args.batch, precision="fp32", fast=False
        ).iteration,
    }
    load_start = os.getloadavg()[0]
    results = {name: profile(fn, args.steps) for name, fn in arms.items()}
    everyday.end()
    result = {
        **provenance("benchmarks/profile_step.py", argv, load_start, args.conditions),
        "resolution": args.resolution,
        "batch": args.batch,
        "steps": args.steps,
        "arms": results,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    out.with_suffix(".md").write_text(markdown(result))
    print(out)
    return 0


def markdown(result: dict) -> str:
    names = list(result["arms"])
    kinds = sorted(
        {k for a in result["arms"].values() for k in a["kinds_ms"]},
        key=lambda k: -result["arms"][names[0]]["kinds_ms"].get(k, 0.0),
    )
    lines = [
        f"# Where a training iteration's time goes, {result['device']}",
        "",
        f"ISA {result['isa']}; torch {result['torch']}, {result['threads']} threads; commit {result['commit']}; "
        f"{result['date']}",
        f"command: `{result['command']}`",
        "",
        f"Conditions: {result['conditions']}; load average {result['load_average_1min']}. "
        f"{result['resolution']}x{result['resolution']}, batch {result['batch']}, dcgan, {result['steps']} "
        "profiled iterations per arm (one D step + one G step each); self CPU time of the main thread's "
        "operators in ms per iteration (the profiler adds some overhead to every operator).",
        "",
        "| kind | " + " | ".join(names) + " |",
        "|---|" + "---:|" * len(names),
    ]
    for k in kinds:
        lines.append(f"| {k} | " + " | ".join(f"{result['arms'][n]['kinds_ms'].get(k, 0.0):.1f}" for n in names) + " |")
    lines.append(
        "| **wall per iteration** | "
        + " | ".join(f"**{result['arms'][n]['wall_ms_per_iteration']:.1f}**" for n in names)
        + " |"
    )
    for n in names:
        lines += ["", f"Top operators, {n} (ms per iteration):", ""]
        lines += [f"- `{op}` {ms:.1f}" for op, ms in result["arms"][n]["top_ops_ms"]]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
