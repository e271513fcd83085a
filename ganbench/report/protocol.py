"""The report's protocol section: what every run shared and where runs differ (with what that means for
comparing them), the method lines under the summary, and published figures set beside ours."""

from __future__ import annotations

import re
from typing import Any

import pandas as pd

from ganbench import families
from ganbench.metrics import names
from ganbench.report.display import fmt, single_seed_note
from ganbench.report.runs import Run
from ganbench.report.stats import EQUIVALENCE_TEST, PAIRWISE_TEST, TEST_NAME
from ganbench.report.tables import Summary
from ganbench.rundir import DEVICE_SETTINGS

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
    "difference; pin precision to compare like with like",
    "commit": "made by different code; check the changes do not touch training or evaluation",
    "versions": "made with different package versions; timings may not be comparable",
    "metric protocol": "not a like-for-like comparison (runs whose sample count, reference split, "
    "resolution or weights differ are ranked in separate sections)",
}


def training_numerics(run: Run) -> str:
    """What a run's training actually computed in, as resolved on its host (config.json's device_settings; the
    config only says what was asked, e.g. precision auto). Evaluation is always exact fp32 and is not part of it."""
    s = run.meta.get(DEVICE_SETTINGS)
    if not isinstance(s, dict) or not s.get("precision"):
        return ""
    # grouped by what was computed, not by the host's flags (AMX or AVX-512 BF16: the same bf16 arithmetic);
    # why auto became what it did is in each config.json (device_settings.precision_reason)
    why = " (from auto)" if run.config.get("precision") == "auto" else ""
    compiled = ", ".join(s.get("compile") or ()) or "none"
    return (
        f"precision {s['precision']}{why}, memory format {s.get('memory_format', '?')}, "
        f"Adam {s.get('optimizer', '?')}, torch.compile {compiled}"
    )


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
                lines.append(f"{label} ({', '.join(names)}): {text}")
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
    rank = (
        f"ranked by mean final {summary.rank_by.removesuffix('_final')} (at the end of the budget, lower is "
        "better); best-along-the-way is shown but does not rank"
        if summary.rank_by
        else "not ranked: no FID in these results"
    )
    single = single_seed_note(summary)
    protocol_reason = (
        "; the metric protocol says why: KID is unbiased at any sample count, FID is not"
        if summary.rank_by and names.is_value(summary.rank_by.removesuffix("_final"), names.KID)
        else ""
    )
    return (
        [
            "statistics over completed runs only (diverged, failed and unfinished runs are listed, not averaged)",
            "a ± b (n=k): mean over k seeds and the half-width of its 95% t-interval (t(0.975, k-1) · sd / √k); "
            "this is seed-to-seed noise. Evaluation noise (which images were drawn) is separate: the per-run "
            "<metric>_lo/_hi columns of results.csv, a bootstrap over samples",
            rank + protocol_reason,
            f"which variants differ: {PAIRWISE_TEST}. Welch, because with 5 seeds per variant any exact rank or "
            "permutation test has a smallest two-sided p of 2/252 = 0.0079, above what Holm asks of the best of 21 "
            "pairs (0.05/21 = 0.0024); its level and power at 5 seeds are checked by simulation in the tests",
            f"tied: {EQUIVALENCE_TEST}; the margin here: "
            + (
                f"±{fmt(summary.margin)}, {summary.margin_note}"
                if summary.margin is not None
                else f"none ({summary.margin_note}), so no pair is called tied"
            )
            + ". 'Not distinguishable' (no test either way) is not 'tied': it comes with the 95% interval of the "
            "difference",
            "letters (compact letter display, Piepho 2004): two variants that share a letter are not distinguishable by "
            "the pairwise tests; two without a common letter differ significantly",
            f"adjacent ranks (a distribution-free check, not corrected for multiplicity; the pairwise table decides): "
            f"{TEST_NAME}; with n and m seeds its smallest possible p is 2 / C(n+m, n), so at least 4 seeds per "
            "variant are needed to tell two apart",
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
