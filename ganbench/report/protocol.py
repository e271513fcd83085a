"""The report's protocol section: what every run shared and where runs differ (with what that means for
comparing them), the method lines under the summary, and published figures set beside ours."""

from __future__ import annotations

import re
from typing import Any

import pandas as pd

from ganbench import families
from ganbench.device import arithmetic_text
from ganbench.metrics import names
from ganbench.report.display import single_seed_note
from ganbench.report.runs import Run, group_label
from ganbench.report.tables import Summary
from ganbench.rundir import DEVICE_SETTINGS
from ganbench.stats.ranktest import TEST_NAME
from ganbench.stats.welch import EQUIVALENCE_TEST, PAIRWISE_TEST

# ---------------------------------------------------------------------------------------------------- protocol
_HEX = re.compile(r"^[0-9a-f]{16,}$")
_DATA_SKIP = ("cache", "key", "skipped_examples", "files", "root")


def _flat(d: dict[str, Any], skip: tuple[str, ...] = (), prefix: str = "") -> list[str]:
    out = []
    for k, v in d.items():
        if k in skip or v is None or v == "":
            continue
        if isinstance(v, dict):
            out += _flat(v, skip, f"{prefix}{k}.")
        else:
            text = str(v)
            out.append(f"{prefix}{k}={text[:12] + '…' if _HEX.match(text) else text}")
    return out


def metric_protocol_text(p: dict[str, Any]) -> str:
    """The metric protocol in one line: sample counts, reference set, weights hash, features. The full record is
    in the report's provenance section."""
    parts = []
    if p.get("metrics"):
        parts.append(", ".join(map(str, p["metrics"])))
    if "n_generated" in p or "n_reference" in p:
        parts.append(f"{p.get('n_generated', '?')} generated vs {p.get('n_reference', '?')} reference images")
    if isinstance(p.get("reference"), dict):
        parts.append("reference: " + ", ".join(_flat(p["reference"], _DATA_SKIP + ("generator", "skipped"))))
    if p.get("reference_images"):
        parts.append(str(p["reference_images"]))
    weights = p.get("weights")
    if isinstance(weights, dict) and weights.get("sha256"):
        parts.append(f"Inception weights sha256 {str(weights['sha256'])[:12]}… ({weights.get('source', '?')})")
    if p.get("feature_extractor"):
        parts.append(str(p["feature_extractor"]))
    pr = p.get("precision_recall")
    if isinstance(pr, dict) and pr.get("features"):
        parts.append(f"precision/recall features: {pr['features']}")
    return "; ".join(parts) if parts else ", ".join(_flat(p))  # an unknown layout: all of it


def _distinct(values: list[tuple[str, str]]) -> dict[str, list[str]]:
    """text -> the runs that have it, in first-seen order."""
    out: dict[str, list[str]] = {}
    for run, text in values:
        out.setdefault(text, []).append(run)
    return out


_CONSEQUENCE = {
    "device": "timings and memory are not comparable between them",
    "training numerics": "trained under different arithmetic (e.g. bf16 autocast on one host, fp32 on "
    "another, when precision is auto): their spread over seeds includes that "
    "difference; pin the arithmetic (docs/gpu.md) to compare like with like",
    "commit": "made by different code; check the changes do not touch training or evaluation",
    "versions": "made with different package versions; timings may not be comparable",
    "metric protocol": "not a like-for-like comparison (runs whose sample count, reference split, "
    "resolution or weights differ are ranked in separate sections)",
}


def training_numerics(run: Run) -> str:
    """What a run's training actually computed in, as resolved on its host: config.json's
    device_settings["arithmetic"] (e.g. "bf16 autocast cpu amx"; two runs are the same arithmetic iff it is
    equal), for older runs the precision alone, "(path not recorded)". Evaluation is always exact fp32."""
    s = run.meta.get(DEVICE_SETTINGS)
    if not isinstance(s, dict) or not s.get("precision"):
        return ""
    text = arithmetic_text(s)
    why = " (from auto)" if run.config.get("precision") == "auto" else ""
    return f"{text}{why}"


def protocol(runs: list[Run]) -> tuple[list[str], list[str]]:
    """Lines that describe how the numbers were made (metric protocol, data, budget, device, commit), and
    warnings for every one of them that differs between runs (then the comparison is not like-for-like)."""
    lines, warnings = [], []

    def add(label: str, pairs: list[tuple[str, str]], none: str) -> None:
        groups = _distinct([(r, t) for r, t in pairs if t])
        if not groups:
            lines.append(f"{label}: {none}")
        elif len(groups) == 1:
            lines.append(f"{label}: {next(iter(groups))}")
        else:
            for text, names in groups.items():
                who = ", ".join(names) if len(names) <= 3 else f"{len(names)} runs, e.g. {names[0]}"
                lines.append(f"{label} ({who}): {text}")
            warnings.append(f"runs differ in {label}: {_CONSEQUENCE.get(label, 'not a like-for-like comparison')}")

    evaluated = [r for r in runs if r.final_metrics() or r.evals]
    add(
        "metric protocol",
        [(r.name, metric_protocol_text((r.summary or {}).get("metric_protocol") or {})) for r in evaluated],
        "none recorded" + ("" if evaluated else " (no evaluations in these results)"),
    )
    add("data", [(r.name, ", ".join(_flat(r.meta.get("data") or {}, _DATA_SKIP))) for r in runs], "not recorded")
    add("budget", [(r.name, str(r.config.get("budget") or "")) for r in runs], "not recorded")

    def device(r: Run) -> str:
        s = r.summary or {}  # a run without a summary has only the requested device ("auto"): not compared
        name = s.get("device")
        extra = f" ({s['device_name']})" if s.get("device_name") else ""
        return f"{name}{extra}" if name else ""

    add("device", [(r.name, device(r)) for r in runs], "not recorded")
    add(
        "training numerics",
        [(r.name, training_numerics(r)) for r in runs if not families.is_baseline(r.family)],
        "not recorded",
    )
    add("commit", [(r.name, str(r.meta.get("git_commit") or "")) for r in runs], "not recorded")
    versions = [
        (
            r.name,
            ", ".join(
                f"{k} {v}" for k, v in (r.meta.get("versions") or {}).items() if k in ("ganbench", "torch", "cuda")
            ),
        )
        for r in runs
    ]
    add("versions", versions, "not recorded")
    return lines, warnings


def method_lines(summary: Summary, results: pd.DataFrame) -> list[str]:
    c = summary.comparison
    rank = (
        f"ranked by final {summary.rank_by.removesuffix('_final')} (at the end of the budget, "
        f"{names.better(summary.rank_by.removesuffix('_final'))}); best-along-the-way is shown but does not rank"
        if summary.rank_by
        else "not ranked: no ranking metric in these results"
    )
    single = single_seed_note(summary)
    protocol_reason = (
        "; the metric protocol says why: KID is unbiased at any sample count, FID is not"
        if summary.rank_by and names.is_value(summary.rank_by.removesuffix("_final"), names.KID)
        else ""
    )
    plan = (
        f"the plan: {c.plan.label}; {c.plan.describe()}; margin {c.margin_text}" if c is not None else "no comparison"
    )
    return (
        [
            "failed seeds (stalled: D accuracy ~1 and G loss ~0 over at least half the budget; collapsed: the "
            "collapse detector; diverged: a non-finite loss or metric) are shown and counted with a Clopper-Pearson "
            "interval for the rate, never averaged; runs in progress or failed to run are listed, not counted",
            "a group's centre and 95% interval come from its successful seeds (the mean and t-interval on the raw "
            "scale; the geometric mean and back-transformed interval on the log scale); an interval is never "
            "narrower than the runs' own evaluation noise allows (their bootstrap standard error)",
            rank + protocol_reason,
            plan,
            f"which groups differ: {PAIRWISE_TEST}; where an arm has a failed seed, the exact Mann-Whitney test over "
            "every seed instead (a rank test stays valid for a bimodal arm), and no equivalence test; where every "
            "seed of an arm failed, no test (its failure count is the comparison)",
            f"equivalent: {EQUIVALENCE_TEST}. 'Not distinguishable' (no test either way) is not 'equivalent'",
            "letters (compact letter display, Piepho 2004): two groups that share a letter are not distinguishable "
            "by the pairwise tests; two without a common letter differ significantly",
            "P(A better): the probability that a random seed of A beats one of B (ties count half), with a 95% "
            "percentile bootstrap interval resampling each group's seeds",
            f"adjacent ranks (a distribution-free check, not corrected for multiplicity; the pairwise table decides): "
            f"{TEST_NAME}; with n and m seeds its smallest possible p is 2 / C(n+m, n)",
        ]
        + ([single] if single else [])
        + (
            [
                "peak memory on CPU is the process's max RSS: it also covers every run made before it in the same "
                "process, so only the largest value is an upper bound for one run"
            ]
            if results["peak_mem_kind"].astype(str).str.contains("RSS").any()
            else []
        )
    )


# ---------------------------------------------------------------------------------------------------- appendix
_PATHS = ("data", "run_dir", "inception_weights")  # machine paths: never shown


def _settings(run: Run) -> dict[str, str]:
    """What a run was made with, flat: its config (no paths), commit, training numerics, evaluation protocol."""
    out = {k: str(v) for k, v in run.config.items() if k not in _PATHS and k != "description"}
    out["commit"] = str(run.meta.get("git_commit") or "")[:10]
    if not families.is_baseline(run.family):
        out["training numerics"] = training_numerics(run)
    p = (run.summary or {}).get("metric_protocol") or {}
    out["reference images sha256"] = str(p.get("reference_sha256") or "not recorded")[:12]
    return out


def _seeds(runs: list[Run]) -> str:
    seeds = sorted(r.seed for r in runs if r.seed is not None)
    return ",".join(map(str, seeds))


def appendix(runs: list[Run]) -> tuple[list[str], list[list[str]], list[str]]:
    """The per-run protocol as one compact table: the settings that differ between runs (one row per group, runs
    by their folders relative to the results folder), and one line per setting every run shares. The full record
    stays in each run's config.json and summary.json."""
    per_run = {r.name: _settings(r) for r in runs}
    keys = list(dict.fromkeys(k for s in per_run.values() for k in s))
    differ = [k for k in keys if len({s.get(k, "") for s in per_run.values()}) > 1 and k not in ("seed",)]
    shared = [
        f"{k} = {v}" for k in keys if k not in differ and k != "seed" and (v := next(iter(per_run.values())).get(k))
    ]
    groups: dict[str, list[Run]] = {}
    for r in runs:
        groups.setdefault(group_label(r), []).append(r)
    rows = []
    for g, rs in groups.items():
        folder = "/".join(rs[0].name.split("/")[:-1]) or "."
        cells = []
        for k in differ:
            seen: dict[str, list[Run]] = {}
            for r in rs:
                seen.setdefault(per_run[r.name].get(k, ""), []).append(r)
            cells.append(
                next(iter(seen))
                if len(seen) == 1
                else "; ".join(f"{v or '–'} (seeds {_seeds(x)})" for v, x in seen.items())
            )
        rows.append([g, f"{folder}/seed{{{_seeds(rs)}}}", *cells])
    return ["group", "runs", *differ], rows, shared


# ---------------------------------------------------------------------------------------------------- published
PUBLISHED_LABEL = "published, different protocol: not comparable like-for-like"
PUBLISHED: dict[str, list[dict[str, str]]] = {
    "celeba": [
        *(
            {
                "source": "Lucic et al., NeurIPS 2018",
                "model": m,
                "fid": f,
                "protocol": "best of 100 hyperparameter settings; 10k test-split real vs 10k generated, TF Inception "
                "2015-12-05; CelebA crop 160 -> 64x64; InfoGAN-style network (not DCGAN), batch 64, "
                "z 64-d, 40 epochs",
            }
            for m, f in [
                ("MM GAN (saturating minimax)", "65.6 ± 4.2"),
                ("NS GAN", "55.0 ± 3.3"),
                ("LSGAN", "53.9 ± 2.8"),
                ("WGAN", "41.3 ± 2.0"),
                ("WGAN-GP", "30.0 ± 1.0"),
                ("DRAGAN", "42.3 ± 3.0"),
                ("BEGAN", "38.9 ± 0.9"),
            ]
        ),
        *(
            {
                "source": "Dai & Wipf, ICLR 2019",
                "model": m,
                "fid": f,
                "protocol": "same network and FID protocol as Lucic et al.",
            }
            for m, f in [("VAE (cross-entropy)", "53.3"), ("VAE (learned variance)", "60.5")]
        ),
        {
            "source": "MMGeneration",
            "model": "LSGAN, DCGAN arch, Adam 1e-3 (0.5, 0.99), batch 128, 100k iters",
            "fid": "11.93",
            "protocol": "CelebA-cropped 64x64; 50k generated vs training set, StyleGAN TorchScript Inception",
        },
        {"source": "MMGeneration", "model": "hinge, DCGAN arch", "fid": "20.18", "protocol": "same"},
    ],
    "cifar10": [
        *(
            {
                "source": "Lucic et al., NeurIPS 2018",
                "model": m,
                "fid": f,
                "protocol": "best of 100 hyperparameter settings; 10k test-split real vs 10k generated, TF Inception "
                "2015-12-05; InfoGAN-style network (not DCGAN)",
            }
            for m, f in [
                ("MM GAN (saturating minimax)", "72.7 ± 3.6"),
                ("NS GAN", "58.5 ± 1.9"),
                ("LSGAN", "87.1 ± 47.5"),
                ("WGAN", "55.2 ± 2.3"),
                ("WGAN-GP", "55.8 ± 0.9"),
                ("DRAGAN", "69.8 ± 2.0"),
                ("BEGAN", "71.4 ± 1.6"),
            ]
        ),
        {
            "source": "StudioGAN (2022)",
            "model": "DCGAN (non-saturating)",
            "fid": "49.03 best; 137.4 final after collapse",
            "protocol": "10k test vs 10k generated",
        },
        {"source": "StudioGAN (2022)", "model": "LSGAN", "fid": "66.69", "protocol": "same"},
        {"source": "StudioGAN (2022)", "model": "hinge", "fid": "42.71", "protocol": "same"},
    ],
}


def published_table(runs: list[Run]) -> tuple[list[str], list[list[str]]] | None:
    """Published figures for the data set these runs used, or None when there are none for it."""
    datasets = {str(r.config.get("dataset")) for r in runs}
    rows = [
        [d, p["source"], p["model"], p["fid"], p["protocol"]] for d in sorted(datasets) for p in PUBLISHED.get(d, [])
    ]
    return (["data set", "source", "model", "published FID", "protocol"], rows) if rows else None
