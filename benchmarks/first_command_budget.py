"""The README's first command against its budget (issue 30): KID and training seconds of dcgan, vae and wgan-gp on
the built-in faces at several budgets, over seeds, made with the project's own `ganbench run`.

    uv run python benchmarks/first_command_budget.py --seeds 0,1,2,3,4 --budget 96kimg --every 16 \\
        --out results/first-command-budget

One `ganbench run --variants dcgan,vae,wgan-gp --seeds <k>` per seed, one seed at a time, with a curve point every
--every kimg on --eval-samples images (the first command's final protocol: kid100 against the first 100 training
images), then `table.json` and `table.md` in --out. --table-only rebuilds them from the runs already there.

A curve point at B kimg is the run that a budget of B kimg makes: the learning rates are constant, evaluation
draws from its own random stream (train.py's _rng_isolated), and a point every 16 kimg falls on a whole G step for
batch 64 with n_critic 1 and 5 (250 and 50 steps). `--check B` trains dcgan seed 0 for B kimg alone and prints its
final KID beside the long run's point at B: they are equal on a deterministic device with the same thread count.

Seconds are each run's own training seconds at the point (evaluation excluded, as the run records them) and the
evaluation seconds; both grow with the machine's load, which is recorded per seed.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

VARIANTS = "dcgan,vae,wgan-gp"


def ganbench(*args: str) -> None:
    """The project's own command, from the environment this script runs in."""
    subprocess.run([str(Path(sys.executable).parent / "ganbench"), *args], check=True)


def run_seed(seed: int, args: argparse.Namespace) -> dict:
    """One seed's `ganbench run`, with its wall time, CPU time (user + system, all its processes) and the load."""
    load = os.getloadavg()[0]
    cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    sets = [x for s in args.set for x in ("--set", s)]
    ganbench(
        "run", "--variants", args.variants, "--seeds", str(seed), "--budget", args.budget,
        "--eval-every", str(args.every), "--eval-samples", str(args.eval_samples), "--out", str(args.out / "runs"),
        *sets,
    )  # fmt: skip
    cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_s = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    return {
        "seed": seed,
        "variants": args.variants,
        "threads": os.environ.get("OMP_NUM_THREADS", "torch's default"),
        "wall_s": round(time.perf_counter() - t0, 1),
        "cpu_s": round(cpu_s, 1),
        "load_1min": [load, os.getloadavg()[0]],
    }


def curve(run: Path, metric: str) -> list[dict]:
    """The run's evaluations in kimg order: the last record per kimg (a resumed run rewrites its last points)."""
    points = {}
    for line in (run / "metrics.jsonl").read_text().splitlines():
        r = json.loads(line)
        if r.get("kind") == "eval" and metric in r:
            points[round(r["kimg"], 3)] = {
                "kimg": round(r["kimg"], 3),
                metric: r[metric],
                "train_s": r["seconds"],
                "eval_s": r["eval_seconds"],
            }
    return [points[k] for k in sorted(points)]


def collect(out: Path, metric: str) -> dict:
    """{variant: {seed: [points]}} from every finished run under out/runs."""
    runs = {}
    for summary in sorted((out / "runs").glob("*/seed*/summary.json")):
        run = summary.parent
        if json.loads(summary.read_text()).get("status") != "completed":
            continue
        runs.setdefault(run.parent.name, {})[int(run.name.removeprefix("seed"))] = curve(run, metric)
    return runs


def table(runs: dict, metric: str) -> tuple[list[dict], str]:
    """One row per budget: each variant's mean KID over seeds (and each seed's), median training seconds, and for
    how many seeds dcgan's KID is below the VAE's."""
    budgets = sorted({p["kimg"] for seeds in runs.values() for pts in seeds.values() for p in pts})
    rows = []
    for b in budgets:
        row: dict = {"kimg": b}
        for v, seeds in runs.items():
            at = {s: next((p for p in pts if p["kimg"] == b), None) for s, pts in seeds.items()}
            at = {s: p for s, p in at.items() if p is not None}
            if at:
                row[v] = {
                    "seeds": sorted(at),
                    metric: [round(at[s][metric], 4) for s in sorted(at)],
                    "mean": round(statistics.mean(p[metric] for p in at.values()), 4),
                    "train_s_median": round(statistics.median(p["train_s"] for p in at.values()), 1),
                }
        if "dcgan" in row and "vae" in row:
            common = sorted(set(row["dcgan"]["seeds"]) & set(row["vae"]["seeds"]))
            kid = {v: dict(zip(row[v]["seeds"], row[v][metric], strict=True)) for v in ("dcgan", "vae")}
            row["dcgan_below_vae"] = f"{sum(kid['dcgan'][s] < kid['vae'][s] for s in common)} of {len(common)}"
        rows.append(row)
    variants = list(runs)
    head = (
        f"| kimg | {' | '.join(f'{v} {metric} mean (per seed)' for v in variants)} | dcgan < vae | "
        f"{' | '.join(f'{v} train s' for v in variants)} |"
    )
    lines = [head, "|" + "---:|" * (2 * len(variants) + 2)]
    for r in rows:
        kids = [
            f"{r[v]['mean']:.3f} ({', '.join(f'{k:.3f}' for k in r[v][metric])})" if v in r else "-" for v in variants
        ]
        secs = [f"{r[v]['train_s_median']:.0f}" if v in r else "-" for v in variants]
        lines.append(f"| {r['kimg']:g} | {' | '.join(kids)} | {r.get('dcgan_below_vae', '-')} | {' | '.join(secs)} |")
    return rows, "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", default="0,1,2,3,4")
    p.add_argument("--variants", default=VARIANTS)
    p.add_argument("--budget", default="96kimg")
    p.add_argument("--every", type=float, default=16.0, help="a curve point every this many kimg")
    p.add_argument("--eval-samples", type=int, default=100)
    p.add_argument("--set", action="append", default=[], help="passed to `ganbench run --set` (repeatable)")
    p.add_argument("--out", type=Path, default=Path("results/first-command-budget"))
    p.add_argument("--table-only", action="store_true")
    p.add_argument("--check", type=float, default=0.0, help="train dcgan seed 0 for this many kimg alone and compare")
    args = p.parse_args(argv)
    metric = f"kid{args.eval_samples}"
    log = args.out / "seeds.jsonl"
    if args.check:
        check = args.out / "check"
        ganbench(
            "run", "--variants", "dcgan", "--seeds", "0", "--budget", f"{args.check:g}kimg", "--eval-every", "0",
            "--eval-samples", str(args.eval_samples), "--out", str(check),
            *[x for s in args.set for x in ("--set", s)],
        )  # fmt: skip
        alone = curve(check / "dcgan" / "seed0", metric)[-1]
        point = next(p for p in curve(args.out / "runs" / "dcgan" / "seed0", metric) if p["kimg"] == args.check)
        print(f"dcgan seed 0 at {args.check:g} kimg: alone {alone[metric]!r}, the long run's point {point[metric]!r}")
        return
    if not args.table_only:
        args.out.mkdir(parents=True, exist_ok=True)
        for seed in (int(s) for s in args.seeds.split(",")):
            record = run_seed(seed, args)
            with log.open("a") as f:
                f.write(json.dumps(record) + "\n")
    rows, text = table(collect(args.out, metric), metric)
    if log.is_file():  # the seconds mean little without the load they were measured under
        seeds = [json.loads(line) for line in log.read_text().splitlines()]
        loads = [x for r in seeds for x in r["load_1min"]]
        text += (
            f"\nTraining seconds: the runs' own, evaluation excluded, median over seeds, measured at a 1-minute load "
            f"average of {min(loads):.1f}-{max(loads):.1f} on {os.cpu_count()} cores with threads "
            f"{sorted({str(r['threads']) for r in seeds})} (seeds.jsonl: each seed's wall and CPU seconds).\n"
        )
    (args.out / "table.json").write_text(json.dumps({"metric": metric, "rows": rows}, indent=1) + "\n")
    (args.out / "table.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
