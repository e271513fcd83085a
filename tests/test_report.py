"""`ganbench report`: tables, statistics, partial input, the two pages, and the HTML page in a real Chromium.

The result folders here are synthetic (written by `write_run` with made-up but plausible numbers), so every
aggregated value can be checked against a hand computation.
"""

from __future__ import annotations

import base64
import json
import math
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import typer
from PIL import Image
from typer.testing import CliRunner

from ganbench.commands.report import report_command
from ganbench.config import Config
from ganbench.report import ReportError, build_report, protocol, write_report
from ganbench.report.runs import discover, load_run
from ganbench.stats.letters import letters
from ganbench.stats.ranktest import adjacent as compare
from ganbench.stats.ranktest import smallest_p
from ganbench.stats.welch import default_margin, equivalence, holm, pairwise, t_interval, tost, welch

T_975_DF2 = 0.95 / math.sqrt(2 * 0.975 * 0.025)  # t quantile 0.975, 2 dof: closed form (2p-1)/sqrt(2p(1-p))
PROTOCOL = {
    "metrics": ["fid500", "kid500", "precision500", "recall500"],
    "n_generated": 500,
    "n_reference": 500,
    "feature_extractor": "torch-fidelity 0.4.0 FeatureExtractorInceptionV3",
    "weights": {"sha256": "6726825d" + "0" * 56, "source": "bundled", "path": "/x/default_1.pt"},
    "reference": {"dataset": "synthetic", "split": "train", "resolution": 32, "cache": "/x/y.pt"},
    "reference_images": "the first 500 of 10000, in the data set's order",
    "kid": {"subsets": 100},
}


# ---------------------------------------------------------------------------------------------------- fixtures
def _grid_png(path: Path, seed: int) -> None:
    """A stand-in for an 8x8 sample grid of 8x8 images (torchvision layout: 2-pixel black padding)."""
    rng = np.random.default_rng(seed)
    grid = np.zeros((82, 82, 3), np.uint8)
    for i in range(8):
        for j in range(8):
            grid[2 + 10 * i : 10 + 10 * i, 2 + 10 * j : 10 + 10 * j] = rng.integers(0, 256, (8, 8, 3))
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(grid).save(path)


def write_run(
    root: Path,
    variant: str,
    seed: int,
    *,
    family: str = "gan",
    objective: str = "nonsaturating",
    fids: list[float] | None = None,
    status: str | None = "completed",
    kimg: float = 4.0,
    dataset: str = "synthetic",
    data: str = "",
    error: str | None = None,
    torn: bool = False,
    resumed: bool = False,
    trial: dict | None = None,
    collapse: dict | None = None,
) -> Path:
    """One run folder as `ganbench run` writes it. fids: FID at kimg 1, 2, ... (None: run without evaluation).
    status None: no summary.json yet (in progress). trial: a sweep's trial.json (the run nests one deeper)."""
    run_dir = root / variant / (trial["trial"] if trial else "") / f"seed{seed}"
    run_dir.mkdir(parents=True)
    if trial:
        (run_dir / "trial.json").write_text(json.dumps(trial))
    cfg = Config(
        variant=variant,
        family=family,
        objective=objective,
        dataset=dataset,
        data=data,
        resolution=32,
        budget="4kimg",
        seed=seed,
        device="cpu",
    ).to_dict()
    (run_dir / "config.json").write_text(
        json.dumps(
            {
                "config": cfg,
                "versions": {"ganbench": "0.1.0", "torch": "2.15.0"},
                "git_commit": "abc1234def",
                "command": ["ganbench", "run", "--variants", variant],
                "created": "2026-01-01T00:00:00+00:00",
                "data": {"dataset": dataset, "split": "train", "resolution": 32, "count": 10000},
            }
        )
    )
    lines, evals = [], []
    ticks = [0.0] if family == "random" else [float(k) for k in range(1, int(kimg) + 1)]
    for i, k in enumerate(ticks):
        rec = {
            "kind": "tick",
            "tick": i + 1,
            "kimg": k,
            "g_steps": int(k * 16),
            "d_steps": int(k * 16),
            "seconds": 10.0 * k,
            "img_per_s": 100.0 + seed,
            "peak_mem_mb": 900.0 + seed,
        }
        if family == "gan":
            rec |= {
                "loss_d": 1.0 / (1 + k),
                "loss_g": 2.0 + k / 4,
                "penalty": 0.0,
                "d_real": 1.0 + k / 2,
                "d_fake": -1.0 - k / 2,
                "d_acc": 0.8,
            }
        elif family == "vae":
            rec |= {"loss_g": 0.5 / (1 + k), "recon_mse": 0.1, "kl": 50.0}
        lines.append(rec)
        if fids is not None and i < len(fids):
            ev = {
                "kind": "eval",
                "kimg": k,
                "g_steps": int(k * 16),
                "seconds": 10.0 * k,
                "eval_seconds": 2.0,
                "fid500": fids[i],
                "kid500": fids[i] / 1000,
                "kid500_std": 0.001,
                "precision500": 0.5,
                "recall500": 0.3,
            }
            evals.append(ev)
            lines.append(ev)
    if resumed:  # a resume repeats the last tick and evaluation; the later copy is the one that counts
        last_tick = [r for r in lines if r["kind"] == "tick"][-1]
        lines.append({"kind": "resume", "tick": len(ticks) - 1, "kimg": ticks[-2]})
        lines.append(last_tick | {"loss_d": 9.0})
        if evals:
            evals[-1] = evals[-1] | {"fid500": evals[-1]["fid500"] - 1.0}
            lines.append(evals[-1])
    text = "".join(json.dumps(r) + "\n" for r in lines)
    if torn:
        text += '{"kind":"tick","tick":99,"kimg":9'  # killed mid-write
    (run_dir / "metrics.jsonl").write_text(text)
    for i, k in enumerate(ticks):
        _grid_png(run_dir / "samples" / f"tick{i + 1:05d}-{k:.1f}kimg.png", seed * 100 + i)
    if status is None:
        return run_dir
    summary = {
        "variant": variant,
        "seed": seed,
        "family": family,
        "objective": objective,
        "run_dir": str(run_dir),
        "status": status,
        "error": error,
        "kimg": ticks[-1],
        "g_steps": int(ticks[-1] * 16),
        "d_steps": int(ticks[-1] * 16),
        "seconds": 10.0 * ticks[-1],
    }
    if status == "completed":
        final = {k: v for k, v in evals[-1].items() if k[:3] in ("fid", "kid", "pre", "rec")} if evals else {}
        summary |= {
            "eval_seconds": 2.0 * len(evals),
            "img_per_s": None if family == "random" else 100.0 + seed,
            "peak_mem_mb": 900.0 + seed,
            "peak_mem_kind": "process max RSS (CPU)",
            "final": final,
            "budget": "4kimg",
            "device": "cpu",
            "device_name": "x86_64 (2 cores)",
            "metric_protocol": PROTOCOL if evals else None,
        }
        _grid_png(run_dir / "samples" / "final.png", seed)
    if collapse is not None:
        summary["collapse"] = collapse
    (run_dir / "summary.json").write_text(json.dumps(summary))
    return run_dir


def make_suite(root: Path) -> Path:
    """Five variants and every kind of partial input: 3 seeds, 1 seed + 1 diverged, a missing metric, a run in
    progress without a summary (torn last line), one with status running, a resumed run, the random baseline."""
    write_run(root, "dcgan", 0, fids=[300, 150, 90, 60])
    write_run(root, "dcgan", 1, fids=[310, 160, 95, 62])
    write_run(root, "dcgan", 2, fids=[305, 155, 92, 65], resumed=True)  # final 65 - 1 = 64 after the resume
    write_run(root, "wgan-gp", 0, objective="wgan-gp", fids=[280, 120, 60, 40])
    write_run(root, "wgan-gp", 1, objective="wgan-gp", fids=[285, 125, 65, 45])
    write_run(
        root,
        "wgan-gp",
        2,
        objective="wgan-gp",
        fids=[290, 130, 70, 50],
        collapse={"ratio": 0.05, "threshold": 0.2, "collapsed": True},
    )
    write_run(root, "hinge", 0, objective="hinge", fids=[320, 170, 100, 70])
    write_run(
        root,
        "hinge",
        1,
        objective="hinge",
        fids=[330, 180],
        status="diverged",
        kimg=2.0,
        error="non-finite loss_d, loss_g at kimg 2.00 (G step 32)",
    )
    write_run(root, "vae", 0, family="vae", fids=[200, 150, 120, 100])
    write_run(root, "vae", 1, family="vae", fids=None)
    write_run(root, "random", 0, family="random", fids=[400])
    write_run(root, "random", 1, family="random", fids=[410])
    write_run(root, "lsgan", 0, objective="lsgan", fids=[330], status=None, kimg=2.0, torn=True)
    write_run(root, "minimax", 0, objective="minimax", fids=None, status="running", kimg=1.0)
    return root


@pytest.fixture(scope="module")
def suite(tmp_path_factory):
    """The suite and its report (made once: plotting is the slow part)."""
    root = make_suite(tmp_path_factory.mktemp("results"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GANBENCH_CACHE", str(tmp_path_factory.mktemp("cache")))
        report = write_report(root)
    return root, report


def _summary(report) -> pd.DataFrame:
    return pd.read_csv(report.out_dir / "summary.csv").set_index("group")


def _results(report) -> pd.DataFrame:
    return pd.read_csv(report.out_dir / "results.csv").set_index("run")


# ---------------------------------------------------------------------------------------------------- statistics
def test_t_interval_closed_form():
    iv = t_interval([60.0, 62.0, 64.0])
    half = T_975_DF2 * 2.0 / math.sqrt(3)
    assert (iv.mean, iv.n) == (62.0, 3)
    assert iv.low == pytest.approx(62.0 - half, rel=1e-12) and iv.high == pytest.approx(62.0 + half, rel=1e-12)
    one = t_interval([5.0])
    assert one.mean == 5.0 and one.n == 1 and math.isnan(one.low) and math.isnan(one.high)
    assert t_interval([]).n == 0 and math.isnan(t_interval([]).mean)
    assert t_interval([1.0, float("inf"), None]).n == 1  # a non-finite value is dropped, not averaged


def test_adjacent_rank_test_is_honest_about_few_seeds():
    assert smallest_p(2, 2) == pytest.approx(1 / 3) and smallest_p(4, 4) == pytest.approx(2 / 70)
    far = compare([1, 2, 3, 4], [10, 11, 12, 13])
    assert far.distinct and far.p == pytest.approx(2 / 70) and far.text.startswith("distinct")
    few = compare([1, 2, 3], [10, 11, 12])  # perfectly separated, but 3 vs 3 seeds cannot reach p < 0.05
    assert not few.distinct and few.p == pytest.approx(0.1) and "cannot reach" in few.text
    mixed = compare([1, 5, 9, 13], [2, 6, 10, 14])
    assert not mixed.distinct and mixed.p > 0.5 and "not distinguishable" in mixed.text
    assert not compare([1.0], []).distinct and "not testable" in compare([1.0], []).text


def test_welch_and_holm_match_references():
    from scipy import stats as sps

    a, b = [1.0, 2.0, 3.0, 4.0, 5.5], [3.0, 4.0, 6.0, 7.0, 9.0]
    diff, low, high, p, df = welch(np.array(a), np.array(b))
    ref = sps.ttest_ind(a, b, equal_var=False)
    assert p == pytest.approx(ref.pvalue, rel=1e-12) and df == pytest.approx(ref.df, rel=1e-12)
    ci = ref.confidence_interval(0.95)
    assert (diff, low, high) == (
        pytest.approx(-2.7),
        pytest.approx(ci.low, rel=1e-10),
        pytest.approx(ci.high, rel=1e-10),
    )
    # Holm by hand: sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1, then made monotone
    assert_allclose = np.testing.assert_allclose
    assert_allclose(holm(np.array([0.01, 0.04, 0.03, np.nan, 0.005])), [0.03, 0.06, 0.06, np.nan, 0.02])
    assert_allclose(holm(np.array([0.2, 0.9])), [0.4, 0.9])


def test_pairwise_reports_difference_interval_and_single_seeds():
    pairs = {(p.a, p.b): p for p in pairwise({"x": [10, 11, 12, 13, 14], "y": [20, 21, 22, 23, 24.5], "z": [5.0]})}
    xy = pairs[("x", "y")]
    assert xy.diff == pytest.approx(-10.1) and xy.low < -10.1 < xy.high < 0 and xy.different
    assert xy.hedges_g < -5 and xy.p_holm == pytest.approx(xy.p)  # the only testable pair: Holm changes nothing
    single = pairs[("x", "z")]
    assert single.n_b == 1 and math.isnan(single.p) and not single.different


def _simulated_rate(rng, studies: int, variants: int, shift: float, seeds: int = 5, noise: str = "normal") -> float:
    """Share of simulated studies in which the pairwise procedure calls at least one pair different. Variant 0 is
    moved by `shift` standard deviations; the others share one distribution."""
    draw = rng.standard_normal if noise == "normal" else lambda size: rng.lognormal(0.0, 1.0, size)
    values = draw((studies, variants, seeds))
    values[:, 0] += shift * values.std() if noise != "normal" else shift
    pvals = []
    for i in range(variants):
        for j in range(i + 1, variants):
            pvals.append(welch(values[:, i], values[:, j])[3])
    adjusted = holm(np.stack(pvals, axis=-1))
    return float((adjusted < 0.05).any(axis=-1).mean())


def test_pairwise_procedure_level_and_power_by_simulation():
    """The procedure the report's significance statements come from, checked where it is used: 5 seeds each.

    Level: one variant under two names (no true difference) is called different in about 5% of 20,000 simulated
    studies (binomial standard error 0.15 points, so 3.5%..6.5% is a tight two-sided check); with 7 identical
    variants and Holm over their 21 pairs, some pair is called different in at most about 5% of studies. Power: a
    shift of 2 standard deviations between two variants is found in ~80% of studies (the noncentral-t value for 5
    vs 5 is 0.79), and a shift of 3 in nearly all."""
    from scipy import stats as sps

    rng = np.random.default_rng(20261123)
    level = _simulated_rate(rng, 20000, 2, 0.0)
    family = _simulated_rate(rng, 5000, 7, 0.0)
    skewed = _simulated_rate(rng, 20000, 2, 0.0, noise="lognormal")
    power2 = _simulated_rate(rng, 20000, 2, 2.0)
    power3 = _simulated_rate(rng, 5000, 2, 3.0)
    power_in_7 = _simulated_rate(rng, 5000, 7, 3.0)  # the shifted variant among 7: Holm over 21 pairs
    student_power = sps.nct.sf(sps.t.ppf(0.975, 8), 8, 2 * math.sqrt(5 / 2))  # Student's t, for scale
    print(
        f"\nsimulated pairwise procedure, 5 seeds per variant: level {level:.4f} (2 variants), family-wise "
        f"{family:.4f} (7 variants, 21 pairs), level under lognormal noise {skewed:.4f}; power {power2:.4f} at "
        f"2 sd (Student t: {student_power:.4f}), {power3:.4f} at 3 sd, {power_in_7:.4f} at 3 sd among 7 variants",
        file=sys.stderr,
    )
    assert 0.035 <= level <= 0.065
    assert 0.01 <= family <= 0.08
    assert 0.005 <= skewed <= 0.08  # skewed seed noise: Welch stays at or below its level
    assert 0.70 <= power2 <= student_power + 0.01  # Welch pays a little for not assuming equal variances
    assert power3 >= 0.95
    assert power_in_7 >= 0.5


def test_equivalence_closed_form_at_two_degrees_of_freedom():
    """a = (0, 2), b = (1, 3): difference -1, standard error sqrt(2), Welch df exactly 2, where Student's t has the
    closed form sf(t) = 1/2 - t / (2 sqrt(2 + t^2)). The binding one-sided test is H0 "a - b <= -m", t = (m - 1) /
    sqrt(2): m = 5 gives p = 1/2 - sqrt(0.2) = 0.0528 (not tied), m = 6 gives 0.0358 (tied)."""

    def sf2(x: float) -> float:
        return 0.5 - x / (2 * math.sqrt(2 + x * x))

    for margin, tied in ((5.0, False), (6.0, True)):
        eq = equivalence([0.0, 2.0], [1.0, 3.0], margin)
        expected = max(sf2((margin - 1) / math.sqrt(2)), sf2((margin + 1) / math.sqrt(2)))
        assert eq.p == pytest.approx(expected, rel=1e-9) and eq.equivalent is tied
        assert (eq.diff, eq.n_a, eq.n_b, eq.margin) == (-1.0, 2, 2, margin)
    assert equivalence([0.0, 2.0], [1.0, 3.0], 5.0).p == pytest.approx(0.5 - math.sqrt(0.2), rel=1e-9)


def test_equivalence_is_two_one_sided_welch_tests_and_the_90_percent_interval():
    from scipy import stats as sps

    a, b = [1.0, 2.0, 3.0, 4.0, 5.5], [1.5, 2.0, 3.5, 4.5, 4.0]
    for margin in (0.5, 1.5, 2.5, 4.0):
        eq = equivalence(a, b, margin)
        lower = sps.ttest_ind(a, np.array(b) - margin, equal_var=False, alternative="greater").pvalue
        upper = sps.ttest_ind(a, np.array(b) + margin, equal_var=False, alternative="less").pvalue
        assert eq.p == pytest.approx(max(lower, upper), rel=1e-9)
        ci = sps.ttest_ind(a, b, equal_var=False).confidence_interval(0.90)
        assert (eq.low, eq.high) == (pytest.approx(ci.low, rel=1e-9), pytest.approx(ci.high, rel=1e-9))
        assert eq.equivalent == (-margin < ci.low and ci.high < margin)  # the same decision, two ways
    assert not equivalence(a, b, 0.5).equivalent and equivalence(a, b, 4.0).equivalent
    swapped = equivalence(b, a, 1.5)  # symmetric: the order of the two variants does not matter
    assert swapped.p == pytest.approx(equivalence(a, b, 1.5).p, rel=1e-12) and swapped.diff == pytest.approx(
        -equivalence(a, b, 1.5).diff
    )
    one = equivalence([1.0], [1.0, 2.0], 10.0)  # one seed: no test, never tied
    assert math.isnan(one.p) and not one.equivalent
    with pytest.raises(ValueError, match="positive"):
        equivalence(a, b, 0.0)


def test_equivalence_level_and_power_by_simulation():
    """At 5 seeds per variant, a pair whose true difference is exactly the margin (either sign) is called tied in
    at most about 5% of 20,000 simulated studies, also with unequal seed noise (sd 1 vs 3); one twice as far out
    almost never; identical variants with a margin of 3 seed sd are called tied in nearly all studies."""
    rng = np.random.default_rng(20261124)

    def tied(shift: float, margin: float, sd_b: float = 1.0, studies: int = 20000) -> float:
        a = rng.standard_normal((studies, 5)) + shift
        b = rng.standard_normal((studies, 5)) * sd_b
        return float((tost(a, b, margin)[3] < 0.05).mean())

    at_margin = [tied(3.0, 3.0), tied(-3.0, 3.0), tied(4.0, 4.0, sd_b=3.0)]
    print(
        f"\nTOST at 5 seeds: tied at the margin {at_margin}; power at difference 0, margin 2: "
        f"{(power := tied(0.0, 2.0)):.4f}",
        file=sys.stderr,
    )
    assert all(0.035 <= r <= 0.06 for r in at_margin), at_margin
    assert tied(1.0, 1.0) <= 0.05  # a narrow margin: the other side's test also has to pass
    assert tied(4.0, 2.0) <= 0.005
    assert 0.65 <= power <= 0.85 and tied(0.0, 3.0) >= 0.97


def test_pairwise_with_a_margin_marks_ties_holm_corrected():
    same = [10.0, 10.2, 9.8, 10.1, 9.9]
    groups = {"x": same, "y": [v + 0.05 for v in same], "z": [v + 5 for v in same]}
    pairs = {(p.a, p.b): p for p in pairwise(groups, margin=1.0)}
    xy, xz = pairs[("x", "y")], pairs[("x", "z")]
    assert xy.tied and not xy.different and xy.margin == 1.0 and xy.p_tost < 0.05
    assert not xz.tied and xz.different
    raw = [pairs[k].p_tost for k in (("x", "y"), ("x", "z"), ("y", "z"))]
    np.testing.assert_allclose([pairs[k].p_tost_holm for k in (("x", "y"), ("x", "z"), ("y", "z"))], holm(raw))
    plain = pairwise(groups)  # no margin: no equivalence claim at all, the difference tests unchanged
    assert not any(p.tied for p in plain) and all(math.isnan(p.p_tost) for p in plain)
    assert [p.p_holm for p in plain] == [p.p_holm for p in pairs.values()]
    assert default_margin(0.335, 0.590) == pytest.approx(0.0255)
    assert default_margin(0.5, 0.5) is None and default_margin(0.3, math.nan) is None


def test_compact_letters_share_a_letter_exactly_when_not_different():
    study = ["dcgan", "hinge", "vae", "lsgan", "minimax", "wgan-gp", "random"]
    top, mid = study[:3], study[3:6]
    different = [(a, b) for a in top for b in mid + ["random"]] + [(m, "random") for m in mid]
    assert letters(study, different) == {
        "dcgan": "a",
        "hinge": "a",
        "vae": "a",
        "lsgan": "b",
        "minimax": "b",
        "wgan-gp": "b",
        "random": "c",
    }
    # overlapping groups: a ~ b, b ~ c, a differs from c: b carries both letters
    assert letters(["a", "b", "c"], [("a", "c")]) == {"a": "a", "b": "ab", "c": "b"}
    assert letters(["a", "b"], []) == {"a": "a", "b": "a"}
    rng = np.random.default_rng(7)
    for _ in range(200):  # random difference graphs: the display says exactly what the tests said
        names_ = [f"v{i}" for i in range(int(rng.integers(2, 9)))]
        diff = {frozenset((a, b)) for i, a in enumerate(names_) for b in names_[i + 1 :] if rng.random() < 0.5}
        got = letters(names_, [tuple(d) for d in diff])
        assert all(got[g] for g in names_)
        for i, a in enumerate(names_):
            for b in names_[i + 1 :]:
                assert bool(set(got[a]) & set(got[b])) == (frozenset((a, b)) not in diff), (got, diff)


# ---------------------------------------------------------------------------------------------------- tables
def test_summary_matches_hand_computed_values(suite):
    _, report = suite
    s = _summary(report)
    half = T_975_DF2 * 2.0 / math.sqrt(3)
    # dcgan: finals 60, 62 and 64 (the resumed seed's LAST evaluation counts)
    assert s.loc["dcgan", "fid500_final_mean"] == pytest.approx(62.0)
    assert s.loc["dcgan", "fid500_final_ci95_low"] == pytest.approx(62.0 - half)
    assert s.loc["dcgan", "fid500_final_ci95_high"] == pytest.approx(62.0 + half)
    assert s.loc["dcgan", "fid500_final_n"] == 3
    assert s.loc["dcgan", "fid500_best_mean"] == pytest.approx(62.0)
    # wgan-gp's seed 2 collapsed: a failed seed is counted, never averaged into the ranking metric's interval
    wgan = t_interval([40.0, 45.0])
    assert s.loc["wgan-gp", "fid500_final_mean"] == pytest.approx(42.5) and s.loc["wgan-gp", "failed"] == 1
    assert s.loc["wgan-gp", "fid500_final_ci95_high"] == pytest.approx(wgan.high)
    assert s.loc["wgan-gp", "fid500_best_mean"] == pytest.approx(45.0)  # other columns: every completed run
    assert s.loc["dcgan", "img_per_s_mean"] == pytest.approx(101.0)  # 100 + seed over seeds 0, 1, 2
    assert s.loc["dcgan", "kimg_mean"] == pytest.approx(4.0)


def test_ranking_by_mean_final_fid_with_adjacent_test(suite):
    _, report = suite
    s = _summary(report).reset_index()
    ranked = s.dropna(subset=["rank"]).sort_values("rank")
    assert ranked["group"].tolist() == ["wgan-gp", "dcgan", "hinge", "vae", "random"]
    assert ranked["rank"].tolist() == [1, 2, 3, 4, 5]
    first = ranked.iloc[0]["vs_next_rank"]  # wgan-gp (40, 45, 50) vs dcgan (60, 62, 64): 3 vs 3 seeds
    assert "not distinguishable" in first and "3 vs 3 seeds" in first
    assert ranked.iloc[0]["vs_next_rank_p"] == pytest.approx(0.1)
    unranked = set(s.loc[s["rank"].isna(), "group"])
    assert unranked == {"lsgan", "minimax"}  # no completed run: listed, never ranked
    md = (report.out_dir / "summary.md").read_text()
    assert "ranked by final fid500" in md and "Mann-Whitney U" in md


def test_single_seed_and_diverged_runs(suite):
    _, report = suite
    s, r = _summary(report), _results(report)
    assert r.loc["hinge/seed1", "status"] == "diverged"
    assert "diverged at kimg 2.00: non-finite loss_d" in r.loc["hinge/seed1", "note"]
    assert s.loc["hinge", "fid500_final_n"] == 1  # the diverged seed is not averaged in
    assert s.loc["hinge", "fid500_final_mean"] == pytest.approx(70.0)
    assert math.isnan(s.loc["hinge", "fid500_final_ci95_low"])
    assert s.loc["hinge", "status"] == "1 completed, 1 diverged"
    md = (report.out_dir / "summary.md").read_text()
    hinge_row = next(line for line in md.splitlines() if line.startswith("| 3 | hinge |"))
    assert "70 (n=1, CI n/a: 1 seed)" in hinge_row
    assert "hinge/seed1 diverged at kimg 2.00" in (report.out_dir / "report.md").read_text()


def test_single_seed_marked_once_per_row_then_one_note(suite):
    _, report = suite
    md = (report.out_dir / "summary.md").read_text()
    hinge_row = next(line for line in md.splitlines() if line.startswith("| 3 | hinge |"))
    assert hinge_row.count("n=1") == 1  # the first cell says it; the others show the bare value
    assert "| 0.07 |" in hinge_row  # kid500 final of the one seed, bare
    note = next(line for line in md.splitlines() if "from one completed seed, so no interval and no test" in line)
    assert "hinge" in note and "vae" in note and "dcgan" not in note


def test_ranking_follows_the_protocol_metric_and_pairwise_view(tmp_path):
    """Runs whose protocol says rank_by = kid500 are ranked by KID, even where FID orders them otherwise; the
    pairwise table says which pairs differ (Welch + Holm over the 3 pairs), by how much, with an interval."""
    kids = {
        "a": [0.010, 0.011, 0.012, 0.010, 0.011],
        "b": [0.020, 0.022, 0.021, 0.019, 0.020],
        "c": [0.0105, 0.0125, 0.0095, 0.0115, 0.0110],
    }
    fids = {"a": 90.0, "b": 50.0, "c": 70.0}  # FID says b best: the protocol's KID must win
    for variant, values in kids.items():
        for seed, kid in enumerate(values):
            run_dir = write_run(tmp_path / "res", variant, seed, fids=[fids[variant] + seed])
            summary = json.loads((run_dir / "summary.json").read_text())
            summary["final"]["kid500"] = kid
            if (variant, seed) == ("a", 0):  # one run recorded its evaluation-noise interval
                summary["final"] |= {"kid500_lo": 0.008, "kid500_hi": 0.012}
            summary["metric_protocol"] = PROTOCOL | {"rank_by": "kid500"}
            (run_dir / "summary.json").write_text(json.dumps(summary))
    out = build_report(tmp_path / "res", tmp_path / "rep", real_images=False)
    s = pd.read_csv(out / "summary.csv").sort_values("rank")
    assert s["group"].tolist() == ["a", "c", "b"]  # by mean final kid500: 0.0108, 0.0110, 0.0204
    every = pd.read_csv(out / "pairwise.csv")
    assert set(every["plan"]) == {"first protocol", "re-analysis"}  # the report's plan, and the ratio scale beside
    pairs = every[every["plan"] == "first protocol"].set_index(["a", "b"])
    ab = pairs.loc[("a", "b")]
    assert ab["effect"] == pytest.approx(np.mean(kids["a"]) - np.mean(kids["b"]))
    assert ab["low"] < ab["effect"] < ab["high"]
    ratio = every[every["plan"] == "re-analysis"].set_index(["a", "b"]).loc[("a", "b")]
    geo = lambda x: float(np.exp(np.mean(np.log(x))))  # noqa: E731
    assert ratio["effect"] == pytest.approx(geo(kids["a"]) / geo(kids["b"]))
    assert bool(ab["different"]) and bool(pairs.loc[("c", "b"), "different"])
    assert not bool(pairs.loc[("a", "c"), "different"]) and pairs.loc[("a", "c"), "p_holm"] > 0.5
    md = (out / "summary.md").read_text()
    assert "Pairs on kid500, the first protocol's rule" in md and ": 2 of 3 differ" in md and "Holm" in md
    runs_md = (out / "report.md").read_text()  # per run: the value and its own evaluation-noise interval
    assert "| 0.01 [0.008 .. 0.012] |" in runs_md and runs_md.count(" .. 0.012] |") == 1
    assert "ranked by final kid500" in md and "| a vs b | 5 vs 5 |" in md


def test_runs_of_one_setting_at_two_budgets_are_never_replicates(tmp_path):
    """A study's rungs train a setting to 100 and then 300 kimg: the two are separate groups, each with its own
    seeds; where every run of a label has one budget, the label stays as it was."""
    from ganbench.report.runs import discover, group_label

    trial = {"trial": "lr=1e-4", "params": {"lr_g": 1e-4}}
    for seed, budget in ((0, "100kimg"), (1, "100kimg"), (0, "300kimg")):
        run = write_run(tmp_path / budget, "dcgan", seed, fids=[90.0], trial=trial)
        meta = json.loads((run / "config.json").read_text())
        meta["config"]["budget"] = budget
        (run / "config.json").write_text(json.dumps(meta))
    write_run(tmp_path / "100kimg", "vae", 0, fids=[200.0], trial=trial | {"trial": "other"})
    labels = {r.name: group_label(r) for r in discover(tmp_path)}
    assert labels == {
        "100kimg/dcgan/lr=1e-4/seed0": "dcgan/lr=1e-4@100kimg",
        "100kimg/dcgan/lr=1e-4/seed1": "dcgan/lr=1e-4@100kimg",
        "300kimg/dcgan/lr=1e-4/seed0": "dcgan/lr=1e-4@300kimg",
        "100kimg/vae/other/seed0": "vae/other",
    }
    assert {group_label(r) for r in discover(tmp_path / "100kimg")} == {"dcgan/lr=1e-4", "vae/other"}


def test_a_metric_seen_only_along_the_way_is_not_missing_at_the_end(tmp_path):
    """A successive-halving rung continues its candidate's run: the early curve points keep the previous rung's
    cheaper metric (kid250), the end has the stage's own (kid500). Neither it nor a run trained from the start is
    missing kid250; a run that ended without kid500, which the others ended with, is."""
    from ganbench.report.runs import discover
    from ganbench.report.tables import results_frame

    continued = write_run(tmp_path, "dcgan", 0, fids=[300, 150, 90, 60])
    lines = (continued / "metrics.jsonl").read_text().splitlines()
    early = {"kind": "eval", "kimg": 0.5, "seconds": 5.0, "kid250": 0.5, "fid250": 400.0}
    (continued / "metrics.jsonl").write_text("\n".join([json.dumps(early), *lines]) + "\n")
    write_run(tmp_path, "dcgan", 1, fids=[310, 160, 95, 62])
    short = write_run(tmp_path, "dcgan", 2, fids=[305, 155, 92, 65])
    summary = json.loads((short / "summary.json").read_text())
    summary["final"].pop("kid500")
    (short / "summary.json").write_text(json.dumps(summary))
    r = results_frame(discover(tmp_path)).set_index("run")
    assert pd.isna(r.loc["dcgan/seed0", "missing"]) and pd.isna(r.loc["dcgan/seed1", "missing"])
    assert r.loc["dcgan/seed2", "missing"] == "no kid500"


def test_missing_metric_and_runs_in_progress(suite):
    _, report = suite
    s, r = _summary(report), _results(report)
    assert r.loc["vae/seed1", "missing"] == "no FID evaluations"
    assert pd.isna(r.loc["vae/seed0", "missing"])
    assert math.isnan(r.loc["vae/seed1", "fid500_final"])
    assert s.loc["vae", "fid500_final_n"] == 1
    assert r.loc["lsgan/seed0", "status"] == "running" and r.loc["minimax/seed0", "status"] == "running"
    assert "no summary.json yet" in r.loc["lsgan/seed0", "note"]
    # in progress: said as such, never also "missing" (the torn one has no summary, the other status running)
    assert pd.isna(r.loc["lsgan/seed0", "missing"]) and pd.isna(r.loc["minimax/seed0", "missing"])
    assert not any(
        w.startswith("missing:") and "seed0" in w and ("lsgan" in w or "minimax" in w) for w in report.warnings
    )
    assert "missing: no FID evaluations in vae/seed1" in report.warnings
    assert "wgan-gp/seed2: samples look collapsed (diversity 0.05 of the real images')" in report.warnings
    assert bool(r.loc["wgan-gp/seed2", "collapsed"]) and pd.isna(r.loc["wgan-gp/seed1", "collapsed"])
    assert any("run still in progress: lsgan/seed0" in w for w in report.warnings)
    assert any("run still in progress: minimax/seed0" in w for w in report.warnings)
    md = (report.out_dir / "report.md").read_text()
    assert "missing: no FID evaluations in vae/seed1" in md
    minimax_row = next(
        line for line in (report.out_dir / "summary.md").read_text().splitlines() if "| minimax |" in line
    )
    assert "no completed run" in minimax_row and "1 running" in minimax_row


def test_torn_line_and_resume_keep_the_last_record(suite):
    root, _ = suite
    lsgan = load_run(root / "lsgan" / "seed0", root)
    assert [t["kimg"] for t in lsgan.ticks] == [1.0, 2.0]  # the torn third line is skipped
    resumed = load_run(root / "dcgan" / "seed2", root)
    assert [e["kimg"] for e in resumed.evals] == [1.0, 2.0, 3.0, 4.0]  # one record per kimg
    assert resumed.evals[-1]["fid500"] == 64.0  # the later copy wins
    assert [t["loss_d"] for t in resumed.ticks if t["kimg"] == 4.0] == [9.0]


def test_protocol_line_is_on_every_table(suite):
    _, report = suite
    for name in ("summary.md", "report.md"):
        text = (report.out_dir / name).read_text()
        assert (
            "metric protocol: fid500, kid500, precision500, recall500; 500 generated vs 500 reference images; "
            "reference: dataset=synthetic, split=train, resolution=32; the first 500 of 10000"
        ) in text
        assert "Inception weights sha256 6726825d0000… (bundled)" in text  # the hash shortened, its kind kept
        assert "budget: 4kimg" in text and "commit: abc1234def" in text and "data: dataset=synthetic" in text


def _set_device_settings(run_dir: Path, precision: str, reason: str) -> None:
    meta = json.loads((run_dir / "config.json").read_text())
    meta["config"]["precision"] = "auto"
    meta["device_settings"] = {
        "device": "cpu",
        "precision": precision,
        "precision_reason": reason,
        "memory_format": "channels_last",
        "optimizer": "fused",
        "compile": [],
        "threads": 1,
    }
    (run_dir / "config.json").write_text(json.dumps(meta))


def test_training_numerics_are_the_resolved_ones_and_a_mixed_study_is_flagged(tmp_path):
    """`precision auto` resolves per host (bf16 where the CPU has it, else fp32): the report states what each run
    trained in and warns when trained runs differ; a baseline (nothing trained) never counts as a difference."""
    native, emulated = "CPU has native bf16 (avx512_bf16)", "CPU has no native bf16: fp32 is faster"
    amx = "CPU has native bf16 (amx_bf16, avx512_bf16)"
    root = tmp_path / "res"
    for seed, reason in ((0, native), (1, amx)):  # other flags, the same bf16 arithmetic: one group
        _set_device_settings(write_run(root, "dcgan", seed, fids=[90]), "bf16", reason)
    _set_device_settings(write_run(root, "random", 0, family="random", fids=[400]), "fp32", emulated)
    runs = discover(root)
    lines, warnings = protocol.protocol(runs)
    assert "training numerics: bf16 autocast cpu (path not recorded) (from auto)" in lines  # old runs: precision only
    assert not any("training numerics" in w for w in warnings)  # the random baseline trains nothing
    assert "device: cpu (x86_64 (2 cores))" in lines  # the device line no longer repeats the asked precision

    _set_device_settings(write_run(root, "dcgan", 2, fids=[95]), "fp32", emulated)
    lines, warnings = protocol.protocol(discover(root))
    assert any(w.startswith("runs differ in training numerics: trained under different arithmetic") for w in warnings)
    assert "training numerics (dcgan/seed2): fp32 (path not recorded) (from auto)" in lines
    assert any(line.startswith("training numerics (dcgan/seed0, dcgan/seed1): bf16") for line in lines)


def test_sweep_trials_are_grouped_separately(tmp_path):
    from ganbench.report import tables

    for trial, lr, fids in (("t0", 1e-4, [(80, 0), (84, 1)]), ("t1", 2e-4, [(50, 0)])):
        for fid, seed in fids:
            write_run(
                tmp_path, "dcgan", seed, fids=[fid], trial={"sweep": "lr", "trial": trial, "params": {"lr_d": lr}}
            )
    results = tables.results_frame(discover(tmp_path))
    assert results["run"].tolist() == ["dcgan/t0/seed0", "dcgan/t0/seed1", "dcgan/t1/seed0"]
    assert results["group"].tolist() == ["dcgan/t0", "dcgan/t0", "dcgan/t1"]
    assert results["param_lr_d"].tolist() == [1e-4, 1e-4, 2e-4]
    from ganbench.report.cohorts import cohorts
    from ganbench.report.findings import analyse

    frame = analyse(cohorts(discover(tmp_path))[0]).summary.frame.set_index("group")
    assert frame.loc["dcgan/t1", "rank"] == 1 and frame.loc["dcgan/t0", "rank"] == 2
    assert frame.loc["dcgan/t0", "fid500_final_mean"] == pytest.approx(82.0)
    assert frame.loc["dcgan/t0", "trial"] == "t0"


# ---------------------------------------------------------------------------------------------------- outputs
def test_every_output_is_written_and_the_pages_agree(suite):
    root, report = suite
    out = report.out_dir
    assert out == root / "report"
    for name in (
        "results.csv",
        "summary.csv",
        "summary.md",
        "report.md",
        "report.html",
        "fid_vs_kimg.png",
        "fid_vs_time.png",
        "losses.png",
        "d_outputs.png",
        "throughput.png",
        "samples.png",
        "real.png",
    ):
        assert (out / name).is_file() and (out / name) in report.files, name
    for png in out.glob("*.png"):
        with Image.open(png) as im:
            if png.name == "real.png":  # 8 x 8 images of 32 px, 2 px padding: the layout of the sample grids
                assert im.size == (2 + 8 * 34, 2 + 8 * 34)
            else:
                assert im.width > 300 and im.height > 150, png
    md = (out / "report.md").read_text()
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)
    assert "fid_vs_kimg.png" in links and "real.png" in links and "samples/dcgan_seed0.png" in links
    for link in links:  # relative, and present
        assert not link.startswith(("/", "http")) and (out / link).is_file(), link
    assert "published, different protocol" not in md  # synthetic data: no published figures


def test_html_is_self_contained(suite):
    _, report = suite
    page = (report.out_dir / "report.html").read_text()
    assert "<script" not in page.lower()
    assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", page)  # nothing fetched from a network
    sources = re.findall(r'<img src="([^"]+)"', page)
    md_images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", (report.out_dir / "report.md").read_text())
    assert len(sources) == len(md_images) > 10
    for src in sources:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"


def test_single_run_folder_with_unavailable_data_and_no_metrics(tmp_path):
    """One run of a CelebA config whose data is gone: one seed, no FID, no real images, published figures shown."""
    run_dir = write_run(tmp_path / "res", "dcgan", 0, fids=None, dataset="celeba", data=str(tmp_path / "gone"))
    report = write_report(run_dir, tmp_path / "out")
    md = (tmp_path / "out" / "report.md").read_text()
    assert any(w.startswith("real images unavailable: MissingFolder: data folder") for w in report.warnings)
    assert "missing: no FID evaluations in any run" in md
    summary = (tmp_path / "out" / "summary.md").read_text()
    # every variant has one seed: said once under the table, not in every cell
    assert "missing (no evaluations)" in summary and "One seed per variant: single values, so no interval" in summary
    assert "(n=1, CI n/a: 1 seed)" not in summary
    assert "## Published figures (published, different protocol: not comparable like-for-like)" in md
    assert "| celeba | Lucic et al., NeurIPS 2018 | WGAN-GP | 30.0 ± 1.0 |" in md
    assert pd.read_csv(tmp_path / "out" / "results.csv")["run"].tolist() == ["dcgan/seed0"]


def test_empty_or_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(ReportError, match="no results under"):
        build_report(tmp_path)
    with pytest.raises(ReportError, match="does not exist"):
        discover(tmp_path / "nope")
    run_dir = write_run(tmp_path / "other", "dcgan", 0)
    with pytest.raises(ReportError, match="is a run folder"):  # never write the report into a run
        build_report(tmp_path / "other", run_dir)
    (tmp_path / "empty").mkdir()
    app = typer.Typer()
    app.command("report")(report_command)
    app.command("other")(lambda: None)  # two commands, so the report is invoked by name as in ganbench
    result = CliRunner().invoke(app, ["report", str(tmp_path / "empty")])
    assert result.exit_code == 2
    assert "ganbench: error: no results under" in result.output


def test_cli_prints_the_output_paths(tmp_path):
    root = tmp_path / "res"
    write_run(root, "dcgan", 0, fids=[300, 100])
    write_run(root, "random", 0, family="random", fids=[400])
    app = typer.Typer()
    app.command("report")(report_command)
    app.command("other")(lambda: None)
    result = CliRunner().invoke(app, ["report", str(root), "-o", str(tmp_path / "out"), "--no-real"])
    assert result.exit_code == 0, result.output
    printed = [Path(p) for p in result.stdout.split()]
    assert tmp_path / "out" / "report.html" in printed and tmp_path / "out" / "summary.csv" in printed
    assert all(p.is_file() for p in printed)
    assert "real images unavailable: not requested" in result.stderr


# ---------------------------------------------------------------------------------------------------- Chromium
CHROMIUM = shutil.which("chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
CHECK_SCRIPT = """<script>
window.addEventListener('load', () => {
  const out = document.createElement('pre');
  out.id = 'image-check';
  out.textContent = JSON.stringify(Array.from(document.images).map(i => [i.alt, i.complete, i.naturalWidth]));
  document.body.appendChild(out);
});
</script>"""


def _chromium(args: list[str], profile: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args], capture_output=True, text=True, timeout=120
    )


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install -y chromium)")
def test_html_renders_in_chromium(suite, tmp_path):
    """Every image decodes (naturalWidth > 0) and the page logs no console error. A copy of the page gets a
    checking script; the report itself has none."""
    _, report = suite
    page = (report.out_dir / "report.html").read_text()
    probe = tmp_path / "probe.html"
    probe.write_text(page.replace("</body>", CHECK_SCRIPT + "</body>"))
    run = _chromium(
        ["--enable-logging=stderr", "--v=0", "--virtual-time-budget=10000", "--dump-dom", probe.as_uri()],
        tmp_path / "profile",
    )
    match = re.search(r'<pre id="image-check">(.*?)</pre>', run.stdout, re.S)
    assert match, run.stderr[-2000:]
    images = json.loads(match.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    assert len(images) == page.count("<img ") > 10
    broken = [alt for alt, complete, width in images if not complete or width <= 0]
    assert not broken, broken
    errors = [line for line in run.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]
    assert not errors, errors


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install -y chromium)")
def test_html_screenshot(suite, tmp_path):
    _, report = suite
    shot = tmp_path / "report.png"
    _chromium(
        [
            f"--screenshot={shot}",
            "--window-size=1280,2000",
            "--hide-scrollbars",
            (report.out_dir / "report.html").as_uri(),
        ],
        tmp_path / "profile",
    )
    assert shot.is_file()
    with Image.open(shot) as im:
        pixels = np.asarray(im.convert("L"), dtype=float)
    assert pixels.shape == (2000, 1280)
    assert pixels.std() > 10  # text, tables and figures, not a blank page


def test_report_of_a_sweep_shows_best_setting_and_spread(tmp_path):
    runs = tmp_path / "runs"
    for variant, trial, lr, fids in (
        ("dcgan", "lr_d=1e-4", 1e-4, [(80, 0), (84, 1)]),
        ("dcgan", "lr_d=2e-4", 2e-4, [(50, 0), (54, 1)]),
        ("lsgan", "lr_d=1e-4", 1e-4, [(70, 0), (60, 1)]),
    ):
        for fid, seed in fids:
            write_run(
                runs,
                variant,
                seed,
                objective="lsgan" if variant == "lsgan" else "nonsaturating",
                fids=[fid + 10, fid],
                trial={"sweep": "lr", "trial": trial, "variant": variant, "params": {"lr_d": lr}},
            )
    out = build_report(runs, tmp_path / "rep", real_images=False)
    sweep = pd.read_csv(out / "sweep.csv").set_index("variant")
    assert (out / "sweep_spread.png").is_file()
    text = (out / "report.md").read_text()
    assert "Sweep: best setting per variant" in text and "sweep_spread.png" in text
    # best = lowest mean over seeds of the best FID: dcgan lr_d=2e-4 (50, 54), not 1e-4 (80, 84)
    assert sweep.loc["dcgan", "best_trial"] == "lr_d=2e-4" and sweep.loc["dcgan", "best_fid"] == pytest.approx(52.0)
    assert (sweep.loc["dcgan", "fid_min"], sweep.loc["dcgan", "fid_max"]) == (pytest.approx(52.0), pytest.approx(82.0))
    assert sweep.loc["lsgan", "best_fid"] == pytest.approx(65.0) and sweep.loc["lsgan", "settings"] == 1


def test_report_on_results_of_a_real_run(tmp_path):
    """End to end: a real (tiny) `ganbench run` with its own evaluator stand-in, then the report from its files."""
    from typer.testing import CliRunner

    from ganbench.commands import app

    out = tmp_path / "res"
    tiny = [
        "--resolution",
        "16",
        "--budget",
        "128img",
        "--max-images",
        "256",
        "--tick",
        "0.064",
        "--no-eval",
        "--set",
        "g_width=8",
        "--set",
        "d_width=8",
        "--set",
        "batch_size=16",
        "--set",
        "latent_dim=8",
    ]
    res = CliRunner().invoke(
        app, ["run", "--variants", "dcgan,wgan-gp,vae,random", "--seeds", "0,1", "--out", str(out), *tiny]
    )
    assert res.exit_code == 0, res.output
    report = build_report(out, real_images=True)
    summary = pd.read_csv(report / "summary.csv")
    assert sorted(summary["group"]) == ["dcgan", "random", "vae", "wgan-gp"]
    assert (summary["completed"] == 2).all() and (summary["runs"] == 2).all()
    text = (report / "report.md").read_text()
    assert "no FID evaluations in any run" in text  # evaluation was off: the report says so instead of crashing
    for name in ("losses.png", "d_outputs.png", "throughput.png", "samples.png", "real.png", "report.html"):
        assert (report / name).stat().st_size > 1000, name


def test_summary_table_shows_the_end_count_and_the_curve_best_not_the_curve_counts_final():
    """Runs with cheap curve points carry fid100 beside fid1000: the per-variant table shows each metric at the
    largest count (fid1000, kid1000, fidinf1000) and the curve FID's best along the way, not fid100's final value;
    runs with one count keep their final and best columns."""
    import pandas as pd

    from ganbench.report.tables import summary_metric_columns

    cols = [
        "fid100_final",
        "fid100_best",
        "fid1000_final",
        "fid1000_best",
        "kid100_final",
        "kid1000_final",
        "kid1000_lo_final",
        "fidinf1000_final",
        "precision1000_final",
    ]
    frame = pd.DataFrame([dict.fromkeys(cols, 1.0)])
    shown = summary_metric_columns(frame, "fid100")
    assert shown[-1] == "fid100_best"
    assert set(shown) == {"fid1000_final", "kid1000_final", "fidinf1000_final", "precision1000_final", "fid100_best"}
    single = pd.DataFrame([dict.fromkeys(["fid500_final", "fid500_best", "kid500_final"], 1.0)])
    assert summary_metric_columns(single, "fid500") == ["fid500_final", "kid500_final", "fid500_best"]
    assert summary_metric_columns(single, None) == ["fid500_final", "kid500_final"]


def test_end_of_run_table_sets_a_best_only_beside_the_final_of_its_own_count():
    """The first command's runs evaluate fid100/kid100 at the end and fid50 along the way: the table printed by
    `ganbench run` shows kid100 final (the ranking metric) and fid50 final beside fid50 best, never fid100 final
    beside a fid50 best (which made "best" look worse than "final")."""
    from ganbench.execution.text import summary_table

    summary = {
        "variant": "dcgan",
        "seed": 0,
        "status": "completed",
        "kimg": 40.0,
        "g_steps": 625,
        "final": {"fid100": 343.9, "kid100": 0.337, "fid50": 349.4, "kid50": 0.333},
        "best": {"metric": "fid50", "value": 338.7, "kimg": 30.016},
        "metric_protocol": {"rank_by": "kid100"},
    }
    head, _, row = summary_table([summary]).splitlines()
    assert head.split() == [
        "variant",
        "seed",
        "status",
        "kimg",
        "g_steps",
        "seconds",
        "img/s",
        "kid100",
        "final",
        "fid50",
        "final",
        "fid50",
        "best",
    ]
    assert row.split()[-5:] == ["0.337", "349", "339", "@", "30kimg"]
    assert "344" not in row  # fid100 final: another protocol than the best, so not in this table
    older = {"variant": "vae", "seed": 1, "status": "completed", "final": {"fid500": 61.0}}  # no best, no rank_by
    head, _, row = summary_table([older]).splitlines()
    assert "fid500 final" in head and "fid500 best" in head and row.split()[-2:] == ["61", "-"]
