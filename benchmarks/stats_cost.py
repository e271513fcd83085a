"""What an evaluation's statistics cost, the Inception pass excluded (issue 20): every registered metric on random
Gaussian 2048-d features, N generated against N reference, at each N asked for, on one device.

    uv run python benchmarks/stats_cost.py --n 2000,5000,10000 --out results/bench/stats_cost_cpu.json

Per N, timed alone between device synchronisations, as the evaluator computes them:
  statistics  the generated set's mean and covariance (FeatureSet.from_features; the reference's are cached);
  <metric>    compute_metrics(generated, reference, settings, (metric,)) for each metric in METRICS, with the
              evaluator's settings (MetricSettings(kid_subset_size(N, N))): bootstrap replicates included.
FID-infinity's bootstrap refits the whole extrapolation 1 + fidinf_replicates times. Above --fidinf-full samples
only one fit is timed (smallsample.fid_infinity with no replicates) and the metric's cost is reported as
(1 + replicates) times it, marked as an estimate; above FIDINF_MAX_SAMPLES the evaluator does not compute it (NaN)
and neither does this. The goal (issue 20): at N = 10,000 no more than BUDGET_S, about what a current datacenter
GPU needs for the Inception pass over 10,000 generated images.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from throughput import ROOT, provenance  # noqa: E402

import ganbench  # noqa: E402
from ganbench.device import statistics_device, synchronize  # noqa: E402
from ganbench.metrics import smallsample as F  # noqa: E402
from ganbench.metrics.evaluator import (  # noqa: E402
    FIDINF_MAX_SAMPLES,
    METRICS,
    MIN_SAMPLES,
    MetricSettings,
    compute_metrics,
    kid_subset_size,
    parse_metrics,
)
from ganbench.metrics.features import FeatureSet  # noqa: E402

BUDGET_S = 20.0  # seconds for the statistics at N = 10,000 (issue 20)
DIM = 2048


def timed(fn, device: torch.device) -> tuple[dict[str, float], object]:
    """({"seconds": wall, "cpu_seconds": this process's CPU time}, fn()). On a busy machine the wall time counts the
    waits for a core; with one thread the CPU time is what a free core would take."""
    synchronize(device)
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    synchronize(device)
    return {"seconds": time.perf_counter() - t0, "cpu_seconds": time.process_time() - c0}, out


def measure(n: int, device: torch.device, metrics: list[str], fidinf_full: int, seed: int) -> list[dict]:
    g = torch.Generator().manual_seed(seed)
    gen = torch.randn(n, DIM, generator=g).to(device)
    ref = FeatureSet.from_features((torch.randn(n, DIM, generator=g) * 1.05 + 0.02).to(device))
    settings = MetricSettings(kid_subset_size(n, n))
    times, gen_fs = timed(lambda: FeatureSet.from_features(gen), device)
    rows = [
        {"n": n, "what": "statistics", **times, "estimated": False, "note": "mean and covariance of the generated set"}
    ]
    print(f"N={n} statistics {times}", file=sys.stderr, flush=True)
    for name in metrics:
        row = {"n": n, "what": name, "estimated": False, "note": ""}
        if name == "fidinf" and n > FIDINF_MAX_SAMPLES:
            row |= {
                "seconds": 0.0,
                "cpu_seconds": 0.0,
                "note": f"not computed above {FIDINF_MAX_SAMPLES} samples (NaN), by design",
            }
        elif name == "fidinf" and n > fidinf_full:
            one, _ = timed(
                lambda: F.fid_infinity(gen_fs.features, ref.features, replicates=0, seed=settings.seed), device
            )
            fits = 1 + settings.fidinf_replicates
            row |= {k: v * fits for k, v in one.items()} | {
                "estimated": True,
                "note": f"one fit measured ({one['cpu_seconds']:.1f} s CPU, {one['seconds']:.1f} s "
                f"wall) x {fits} fits (the estimate and its bootstrap)",
            }
        else:
            times, values = timed(lambda name=name: compute_metrics(gen_fs, ref, settings, (name,)), device)
            row |= times | {"values": values}
        rows.append(row)
        print(
            f"N={n} {name} {row['cpu_seconds']:.1f} s CPU, {row['seconds']:.1f} s wall"
            f"{' (estimate)' if row['estimated'] else ''}",
            file=sys.stderr,
            flush=True,
        )
    return rows


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", default="2000,5000,10000", help="sample counts (each set), comma-separated")
    p.add_argument("--device", default="cpu")
    p.add_argument("--metrics", default=",".join(METRICS.names()), help="registered metrics, comma-separated")
    p.add_argument(
        "--fidinf-full",
        type=int,
        default=2000,
        help="above this N, FID-infinity's cost is one fit timed x (1 + replicates)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--threads",
        type=int,
        default=0,
        help="torch threads (0: torch's default); on a busy machine "
        "1 is steadier (a thread that waits for a busy core stalls the other)",
    )
    p.add_argument("--conditions", default="", help="what else ran on the machine (recorded)")
    p.add_argument("--out", type=Path, default=ROOT / "results" / "bench" / "stats_cost_cpu.json")
    args = p.parse_args(argv)
    try:
        counts = [int(x) for x in args.n.split(",") if x.strip()]
        metrics = list(parse_metrics(args.metrics))
        device = torch.device(args.device)
    except (ValueError, RuntimeError) as e:
        p.error(str(e).splitlines()[0])
    if not counts or min(counts) < MIN_SAMPLES:
        p.error(f"--n needs sample counts of at least {MIN_SAMPLES}, for example 2000,5000,10000")
    if args.threads:
        torch.set_num_threads(args.threads)
    # provenance at the start: the commit measured is the one checked out when the measuring began
    prov = provenance("benchmarks/stats_cost.py", argv, os.getloadavg()[0], args.conditions)
    rows = [r for n in counts for r in measure(n, device, metrics, args.fidinf_full, args.seed)]
    prov["load_average_1min"]["end"] = os.getloadavg()[0]
    result = prov | {
        "package": str(Path(ganbench.__file__).resolve().parent),
        "features_device": str(device),
        "statistics_device": str(statistics_device(device)),
        "dim": DIM,
        "budget_s": BUDGET_S,
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1, default=float))
    write_markdown(result, args.out.with_suffix(".md"))
    print(args.out)


def write_markdown(result: dict, md: Path) -> None:
    counts = sorted({r["n"] for r in result["rows"]})
    names = list(dict.fromkeys(r["what"] for r in result["rows"]))
    cell = {(r["what"], r["n"]): r for r in result["rows"]}

    def fmt(r: dict | None) -> str:
        if r is None:
            return ""
        if not r["seconds"] and r["note"]:
            return "not computed"
        return f"{r['cpu_seconds']:.1f} ({r['seconds']:.0f}){' est.' if r['estimated'] else ''}"

    totals = {
        n: {k: sum(cell[(w, n)][k] for w in names if (w, n) in cell) for k in ("seconds", "cpu_seconds")}
        for n in counts
    }
    load = result["load_average_1min"]
    lines = [
        f"# Evaluation statistics alone, {result['device']}",
        "",
        f"torch {result['torch']}, {result['threads']} threads; commit {result['commit']}; {result['date']}; "
        f"package {result['package']}",
        f"command: `{result['command']}`",
        "",
        f"Conditions: {result['conditions'] or 'not stated'}; load average {load['start']:.2f} at the start, "
        f"{load['end']:.2f} at the end ({load['cpu_count']} cores). Features: random Gaussian "
        f"{result['dim']}-d, on {result['features_device']}; statistics on {result['statistics_device']}. "
        "Per evaluation of one generator (a run with an EMA of G pays twice): CPU seconds of the process, and "
        "in brackets the wall-clock seconds, which on a busy machine include waiting for a core.",
        "",
        "| what | " + " | ".join(f"N = {n:,}" for n in counts) + " |",
        "|---|" + "---:|" * len(counts),
    ]
    for w in names:
        lines.append(f"| {w} | " + " | ".join(fmt(cell.get((w, n))) for n in counts) + " |")
    lines.append(
        "| **total** | "
        + " | ".join(f"**{totals[n]['cpu_seconds']:.1f}** ({totals[n]['seconds']:.0f})" for n in counts)
        + " |"
    )
    notes = [
        f"- {r['what']} at N = {r['n']:,}: {r['note']}"
        for r in result["rows"]
        if r["note"] and r["what"] != "statistics"
    ]
    if notes:
        lines += ["", *notes]
    biggest = max(counts)
    over = [w for w in names if (w, biggest) in cell and cell[(w, biggest)]["cpu_seconds"] > result["budget_s"]]
    lines += [
        "",
        f"Goal: at most {result['budget_s']:.0f} s in all at N = 10,000. At N = {biggest:,} here: "
        f"{totals[biggest]['cpu_seconds']:.1f} CPU seconds; over {result['budget_s']:.0f} s on its own: "
        f"{', '.join(over) or 'none'}.",
    ]
    md.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
