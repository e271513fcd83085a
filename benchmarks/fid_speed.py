"""How long does an evaluation take, and does it give torch-fidelity's number?

Measures, on the same N images:
  ours         what ganbench's Evaluator does when the trainer calls it: N generated images straight from a sampler
               into torch-fidelity's Inception extractor on the device, against reference statistics already cached
               on disk; FID, KID and precision/recall. Split into feature extraction and metric math.
  tf_cold      torch_fidelity.calculate_metrics(input1=<folder of N PNGs>, input2=<folder of N reference PNGs>,
               fid=True, feature_extractor_weights_path=<ganbench's converted weights>): the plain folder-of-PNGs
               path with an empty cache, extracting both folders. FID only.
  tf_warm      the same again, now with the reference statistics in torch-fidelity's own cache
               (input2_cache_name), so it extracts only the generated folder: the fairest comparison with `ours`.
The generated images are the built-in synthetic data set's test split served through a sampler as floats in
[-1, 1] (the generator's output convention); the reference set is its train split. The PNGs hold exactly the
uint8 values the in-memory path quantises to, so both paths see the same pixels and the FIDs must agree (1e-3).
Timings exclude warm-up (one small batch first) and are bracketed by device synchronisation.

Extractor alone, side by side: ganbench's extractor (torch-fidelity's network with BatchNorm folded into the
convolutions and channels_last weights, `inception.optimise`) against torch-fidelity's own FeatureExtractorInceptionV3
with the same weights, on the same uint8 batch, in interleaved windows (ours, theirs, ours, ...), median images/s;
the features' max relative difference is recorded beside it. Utilisation = Inception FLOPs per image (counted by
FlopCounterMode) x images/s / a 2048x2048 fp32 matmul's FLOP/s measured in the same run.

    uv run python benchmarks/fid_speed.py --samples 200            # CPU-sized
    uv run python benchmarks/fid_speed.py --samples 10000 --device cuda

Writes results/bench/fid_speed_<device type>.json (device, versions, commit, date, command, figures).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def device_name(device: torch.device) -> str:
    from ganbench.device import device_name as name

    return f"{name(device)}, torch threads {torch.get_num_threads()}"


def write_pngs(images: torch.Tensor, folder: Path) -> None:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for i, img in enumerate(images):
        Image.fromarray(img.permute(1, 2, 0).numpy()).save(folder / f"{i:06d}.png")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samples", type=int, default=10000, help="generated (and reference) images")
    ap.add_argument("--device", default="auto", help="auto | cuda | cpu")
    ap.add_argument("--batch-size", type=int, default=100)
    ap.add_argument("--resolution", type=int, default=64)
    ap.add_argument("--windows", type=int, default=5, help="interleaved extractor windows (median reported)")
    ap.add_argument("--window-images", type=int, default=64, help="images per extractor window (one batch)")
    ap.add_argument("--out", default=str(REPO / "results" / "bench"), help="folder for fid_speed_<device>.json")
    ap.add_argument(
        "--conditions",
        default="machine shared with other processes (measured under load)",
        help="what else ran on the machine, recorded beside the figures with the load average",
    )
    args = ap.parse_args()

    import torch_fidelity

    from ganbench.data import DataSpec, load_dataset
    from ganbench.device import cpu_flags, pick_device
    from ganbench.execution import runner
    from ganbench.metrics import (
        MetricSettings,
        build_evaluator,
        compute_metrics,
        inception,
        kid_subset_size,
        metric_name,
        quantize,
    )
    from ganbench.metrics.features import FeatureSet, images_features, sampler_features
    from ganbench.metrics.functional import fid_from_statistics

    load_start = os.getloadavg()[0]
    device = pick_device(args.device)
    n, bs = args.samples, args.batch_size
    log = lambda msg: print(f"fid_speed: {msg}", file=sys.stderr)  # noqa: E731
    if device.type != "cuda":
        log("no GPU in use: CPU figures only (small n); no GPU numbers are produced or implied")

    ref = load_dataset(DataSpec("synthetic", resolution=args.resolution, max_images=n, split="train"))
    gen = load_dataset(DataSpec("synthetic", resolution=args.resolution, max_images=n, split="test")).images

    def sampler():
        pos = [0]

        def sample(b: int) -> torch.Tensor:  # floats in [-1, 1] on the device, as a generator returns them
            out = gen[pos[0] : pos[0] + b].to(device).float() / 127.5 - 1
            pos[0] += b
            return out

        return sample

    weights = inception.resolve_weights("")
    extractor = inception.build_extractor(weights, device)
    with torch.inference_mode(), inception.exact_fp32():  # warm-up: first-call allocations, kernel selection
        extractor(quantize(torch.zeros(min(bs, 8), 3, args.resolution, args.resolution, device=device)))
    sync(device)

    # ---- the extractor alone, ours against torch-fidelity's, interleaved on the same batch
    from torch.utils.flop_counter import FlopCounterMode
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    theirs = (
        FeatureExtractorInceptionV3(
            inception.EXTRACTOR_NAME, [inception.FEATURE_LAYER], feature_extractor_weights_path=str(weights.path)
        )
        .to(device)
        .eval()
    )
    batch = inception.to_rgb(gen[: args.window_images]).to(device)
    rates: dict[str, list[float]] = {"ours": [], "torch_fidelity": []}
    with torch.inference_mode(), inception.exact_fp32():
        f_ours, f_theirs = extractor(batch)[0], theirs(batch)[0]
        rel = float((f_ours - f_theirs).abs().max() / f_theirs.abs().max())
        with FlopCounterMode(display=False) as counter:
            theirs(batch[:1])
        flops_img = counter.get_total_flops()
        a = torch.randn(2048, 2048, device=device)
        t = time.perf_counter()
        for _ in range(10):
            a @ a
        sync(device)
        peak = 10 * 2 * 2048**3 / (time.perf_counter() - t)
        for w in range(args.windows):
            for name, net in (("ours", extractor), ("torch_fidelity", theirs)):
                sync(device)
                t = time.perf_counter()
                net(batch)
                sync(device)
                rates[name].append(batch.shape[0] / (time.perf_counter() - t))
            log(
                f"extractor window {w + 1}/{args.windows}: ours {rates['ours'][-1]:.2f} img/s, "
                f"torch-fidelity {rates['torch_fidelity'][-1]:.2f}"
            )
    del theirs
    med = {k: float(np.median(v)) for k, v in rates.items()}
    extractor_result = {
        "images_per_window": int(batch.shape[0]),
        "windows": rates,
        "median_img_per_s": med,
        "speedup": med["ours"] / med["torch_fidelity"],
        "features_max_rel_diff": rel,
        "gflop_per_image": flops_img / 1e9,
        "matmul_fp32_peak_gflops": peak / 1e9,
        "utilisation": {k: v * flops_img / peak for k, v in med.items()},
    }
    log(
        f"extractor: ours {med['ours']:.2f} img/s, torch-fidelity {med['torch_fidelity']:.2f} "
        f"({extractor_result['speedup']:.2f}x), features rel diff {rel:.1e}"
    )

    # ---- one-off: reference statistics (then cached on disk; every later evaluation skips this)
    t = time.perf_counter()
    evaluator = build_evaluator(ref, n, device, batch_size=bs)
    sync(device)
    ref_seconds = time.perf_counter() - t
    if evaluator.reference.info.get("reused"):  # cached by an earlier run: time the one-off work itself
        t = time.perf_counter()
        images_features(ref.images[:n], weights, device, bs)
        sync(device)
        ref_seconds = time.perf_counter() - t

    tiny = FeatureSet.from_features(evaluator.reference.features[:20])
    compute_metrics(tiny, tiny, MetricSettings(20))  # warm-up of the metric math (lazy library initialisation)

    # ---- ours: exactly what Evaluator.__call__ does (features of N generated images in memory, then the metric
    # math), timed in its two parts
    t = time.perf_counter()
    gen_fs, _ = sampler_features(sampler(), n, weights, device, bs)
    sync(device)
    t_feat = time.perf_counter() - t
    t = time.perf_counter()
    values = compute_metrics(gen_fs, evaluator.reference, MetricSettings(kid_subset_size(n, len(evaluator.reference))))
    t_math = time.perf_counter() - t
    t_call = t_feat + t_math
    ours_fid = values["fid"]
    fid_stats_route = fid_from_statistics(gen_fs.mu, gen_fs.sigma, evaluator.reference.mu, evaluator.reference.sigma)

    # ---- torch-fidelity's folder-of-PNGs path on the same pixels
    with tempfile.TemporaryDirectory(prefix="fid_speed_") as tmp:
        tmp = Path(tmp)
        write_pngs(quantize(gen.float() / 127.5 - 1), tmp / "gen")
        write_pngs(inception.to_rgb(ref.images[:n]), tmp / "ref")
        common = dict(
            input1=str(tmp / "gen"),
            fid=True,
            feature_extractor_weights_path=str(weights.path),
            cuda=device.type == "cuda",
            batch_size=bs,
            verbose=False,
            save_cpu_ram=False,
        )
        tf_cache = dict(cache=True, cache_root=str(tmp / "tfcache"), input2_cache_name="ref")
        t = time.perf_counter()
        with inception.exact_fp32():  # cold: both folders extracted (the reference one lands in its cache)
            cold = torch_fidelity.calculate_metrics(input2=str(tmp / "ref"), **tf_cache, **common)
        sync(device)
        tf_cold = time.perf_counter() - t
        t = time.perf_counter()
        with inception.exact_fp32():  # warm: reference statistics from torch-fidelity's own cache
            warm = torch_fidelity.calculate_metrics(input2=str(tmp / "ref"), **tf_cache, **common)
        sync(device)
        tf_warm = time.perf_counter() - t
    tf_fid = cold[torch_fidelity.KEY_METRIC_FID]
    diff = abs(ours_fid - tf_fid)
    log(
        f"fid{n}: ours {ours_fid:.6f}, torch-fidelity {tf_fid:.6f} (|diff| {diff:.2e}); "
        f"ours {t_call:.1f} s, torch-fidelity cold {tf_cold:.1f} s, warm {tf_warm:.1f} s"
    )

    result = {
        "benchmark": "fid_speed",
        "label": f"{device.type.upper()}, n = {n}"
        + ("" if device.type == "cuda" else " (CPU, small n: not indicative of GPU speed; no GPU used)"),
        "device": device.type,
        "device_name": device_name(device),
        "isa": f"{torch.backends.cpu.get_cpu_capability()} ("
        f"{', '.join(sorted(cpu_flags() & {'avx2', 'avx512f', 'avx512_bf16', 'amx_bf16'})) or 'flags unknown'})",
        "torch": torch.__version__,
        "torch_fidelity": torch_fidelity.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "commit": runner.git_commit() or "unknown (no commit yet)",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": [sys.executable, *sys.argv],
        "load_average_1min": {"start": load_start, "end": os.getloadavg()[0], "cpu_count": os.cpu_count()},
        "samples": n,
        "batch_size": bs,
        "resolution": args.resolution,
        "images": "generated: synthetic test split via an in-memory sampler; reference: synthetic train split",
        "weights_sha256": weights.sha256,
        "seconds": {
            "reference_stats_one_off": round(ref_seconds, 3),
            "ours_evaluation": round(t_call, 3),
            "ours_features": round(t_feat, 3),
            "ours_metric_math_fid_kid_pr": round(t_math, 3),
            "torch_fidelity_cold_fid_only": round(tf_cold, 3),
            "torch_fidelity_warm_ref_cache_fid_only": round(tf_warm, 3),
        },
        "images_per_second_ours": round(n / t_feat, 2),
        "speedup_vs_torch_fidelity_cold": round(tf_cold / t_call, 3),
        "speedup_vs_torch_fidelity_warm": round(tf_warm / t_call, 3),
        "fid": {
            "ours": ours_fid,
            "ours_2048d_statistics_route": fid_stats_route,
            "torch_fidelity": tf_fid,
            "torch_fidelity_warm": warm[torch_fidelity.KEY_METRIC_FID],
            "abs_diff": diff,
        },
        "metrics_ours": {metric_name(k, n): v for k, v in values.items()},
        "extractor_side_by_side": extractor_result,
        "notes": "ours = FID + KID + precision/recall against cached reference statistics, samples in memory; "
        "torch-fidelity = FID only, from PNG folders (cold: both folders extracted; warm: reference "
        "statistics from torch-fidelity's own cache).",
    }
    out = Path(args.out) / f"fid_speed_{device.type}.json"
    result["conditions"] = f"{args.conditions}; ratios within this run count"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    x, sec = result["extractor_side_by_side"], result["seconds"]
    out.with_suffix(".md").write_text(
        "\n".join(
            [
                f"# Inception / FID speed on {result['device_name']}",
                "",
                f"ISA {result['isa']}; torch {result['torch']}, torch-fidelity {result['torch_fidelity']}; commit "
                f"{result['commit']}; {result['date']}",
                f"command: `{' '.join(result['command'][1:])}`",
                "",
                f"Conditions: {result['conditions']}; load average {result['load_average_1min']}.",
                "",
                "| what | figure |",
                "|---|---:|",
                "| extractor, ours (folded BN + channels_last, fp32), images/s "
                f"(median of {len(x['windows']['ours'])}) | "
                f"{x['median_img_per_s']['ours']:.2f} |",
                "| extractor, torch-fidelity FeatureExtractorInceptionV3, images/s | "
                f"{x['median_img_per_s']['torch_fidelity']:.2f} |",
                f"| **speed-up, same batch, interleaved** | **{x['speedup']:.2f}x** |",
                f"| features, max relative difference | {x['features_max_rel_diff']:.1e} |",
                f"| utilisation of the fp32 matmul peak ({x['matmul_fp32_peak_gflops']:.0f} GFLOP/s; "
                f"{x['gflop_per_image']:.1f} GFLOP/image), ours / theirs | {x['utilisation']['ours']:.0%} / "
                f"{x['utilisation']['torch_fidelity']:.0%} |",
                f"| evaluation of {n} samples, ours (FID+KID+P/R, cached reference), s | "
                f"{sec['ours_evaluation']:.1f} |",
                f"| torch-fidelity calculate_metrics, FID only, cold (both folders) / warm (cached reference), s | "
                f"{sec['torch_fidelity_cold_fid_only']:.1f} / {sec['torch_fidelity_warm_ref_cache_fid_only']:.1f} |",
                f"| FID ours / torch-fidelity (abs diff) | {ours_fid:.4f} / {tf_fid:.4f} ({diff:.1e}) |",
                "",
            ]
        )
    )
    print(json.dumps(result, indent=2))
    assert diff < 1e-3, f"FIDs disagree: ours {ours_fid} vs torch-fidelity {tf_fid}"


if __name__ == "__main__":
    main()
