"""The statistics under every comparison of a report (`ganbench.stats`) and the comparison owner's new features
(`ganbench.report.compare`): ratio-scale effects, TOST at ratio bounds, failed seeds counted and compared by ranks,
evaluation noise as a floor under an interval, P(A better), expected best of k, rank agreement, the levelling of
curves, and the verdict's first sentences. Two-sided checks against closed forms and scipy."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest
from scipy import stats as sps
from test_report import write_run

from ganbench.metrics import names
from ganbench.report import failures, lens, progress
from ganbench.report.compare import RANK, WELCH, Obs, compare, summarise
from ganbench.report.plan import Plan, first_protocol, from_declaration, given, ratio_reanalysis
from ganbench.report.runs import discover
from ganbench.report.verdict import Context, lead
from ganbench.stats import scale as sc
from ganbench.stats.rates import clopper_pearson
from ganbench.stats.resample import expected_best, expected_best_curve, prob_improvement, rank_correlation, tau_interval
from ganbench.stats.welch import t_interval, tost, welch

A = [0.050, 0.056, 0.061, 0.047, 0.052]
B = [0.071, 0.080, 0.066, 0.090, 0.074]


def test_clopper_pearson_is_the_exact_binomial_interval():
    for k, n in ((0, 5), (1, 3), (2, 5), (5, 5), (3, 10)):
        ref = sps.binomtest(k, n).proportion_ci(0.95, method="exact")
        assert clopper_pearson(k, n) == (pytest.approx(ref.low, abs=1e-12), pytest.approx(ref.high, abs=1e-12))
    assert clopper_pearson(0, 3)[0] == 0.0 and clopper_pearson(3, 3)[1] == 1.0
    assert clopper_pearson(0, 3)[1] == pytest.approx(1 - 0.025 ** (1 / 3))  # closed form for k = 0
    assert all(math.isnan(x) for x in clopper_pearson(0, 0))


def test_welch_with_a_variance_floor_is_never_narrower_than_the_noise():
    x = [0.0440, 0.0441, 0.0442]  # sd 1e-4, below an evaluation noise of se 0.0023
    plain, floored = t_interval(x), t_interval(x, var_floor=0.0023**2)
    half = sps.t.ppf(0.975, 2) * 0.0023 / math.sqrt(3)
    assert floored.high - floored.mean == pytest.approx(half, rel=1e-12) and plain.high - plain.mean < half / 10
    assert t_interval(A, var_floor=1e-12) == t_interval(A)  # a floor below the seeds' spread changes nothing
    d, lo, hi, p, df = welch(A, B, floor_a=1.0, floor_b=1.0)
    se, ref = math.sqrt(1 / 5 + 1 / 5), sps.ttest_ind(A, B, equal_var=False)
    assert df == pytest.approx(ref.df, rel=1e-12)  # the floor widens the error, never the degrees of freedom
    assert p == pytest.approx(2 * sps.t.sf(abs(d) / se, ref.df), rel=1e-10) and p > ref.pvalue


def test_tost_at_asymmetric_bounds_is_two_one_sided_welch_tests():
    a, b = np.log(A), np.log(B)
    low, high = math.log(0.8), math.log(1.25)
    _, lo90, hi90, p = tost(a, b, (low, high))
    lower = sps.ttest_ind(a, b + low, equal_var=False, alternative="greater").pvalue
    upper = sps.ttest_ind(a, b + high, equal_var=False, alternative="less").pvalue
    assert p == pytest.approx(max(lower, upper), rel=1e-9)
    ci = sps.ttest_ind(a, b, equal_var=False).confidence_interval(0.90)
    assert (lo90, hi90) == (pytest.approx(ci.low, rel=1e-9), pytest.approx(ci.high, rel=1e-9))
    assert sc.margin_bounds((0.8, 1.25), sc.LOG) == pytest.approx((low, high))
    assert sc.margin_bounds(1.25, sc.LOG) == pytest.approx((low, high))  # 0.8 = 1 / 1.25
    with pytest.raises(ValueError, match="ratio margin"):
        sc.margin_bounds((1.1, 1.25), sc.LOG)


def test_the_ratio_scale_reads_effects_as_ratios_of_geometric_means():
    plan = ratio_reanalysis(first_protocol())
    c = compare({"a": [Obs(v) for v in A], "b": [Obs(v) for v in B]}, plan, "one pair")
    (p,) = c.pairs
    geo = lambda x: math.exp(np.mean(np.log(x)))  # noqa: E731
    assert p.test == WELCH and p.effect == pytest.approx(geo(A) / geo(B), rel=1e-12)
    ci = sps.ttest_ind(np.log(A), np.log(B), equal_var=False).confidence_interval(0.95)
    assert (p.low, p.high) == (pytest.approx(math.exp(ci.low)), pytest.approx(math.exp(ci.high)))
    assert c.group("a").centre == pytest.approx(geo(A)) and c.group("a").scale == sc.LOG
    assert p.different and p.better == "a" and not p.tied  # a 0.72 ratio is outside 0.8-1.25
    assert c.margin_text.startswith("ratio 0.8-1.25")
    # a KID at or below 0 (as two sets of real images can give) is taken as the plan's log floor, and counted
    real = summarise("real", [Obs(v) for v in (0.0001, -0.0002, 0.0003)], sc.LOG, 1e-4)
    assert real.floored == 1 and real.scale == sc.LOG
    assert summarise("real", [Obs(v) for v in (0.0001, -0.0002)], sc.LOG, None).scale == sc.RAW


def test_an_arm_with_a_failed_seed_is_counted_and_compared_by_ranks():
    stalled = Obs(0.37, "m/seed2", 2, failures.STALLED, "stalled from 50 to 225 kimg")
    mixed = [Obs(0.049), Obs(0.064), stalled]
    good = [Obs(v) for v in A]
    c = compare({"dcgan": good, "minimax": mixed}, first_protocol(None), "one pair")
    m = c.group("minimax")
    assert (m.failed, m.total, m.n) == (1, 3, 2) and m.centre == pytest.approx((0.049 + 0.064) / 2)
    assert m.rate == pytest.approx(clopper_pearson(1, 3))
    (p,) = c.pairs
    ref = sps.mannwhitneyu(A, [0.049, 0.064, 0.37], alternative="two-sided", method="exact").pvalue
    assert p.test == RANK and p.p == pytest.approx(ref) and not p.tied and math.isnan(p.p_tost)
    # every seed failed (even the same way): no interval, no test; its failure count is what is said of it
    alike = [Obs(v, failure=failures.STALLED) for v in (0.48, 0.46, 0.47)]
    c = compare({"dcgan": good, "minimax": alike}, first_protocol(None), "one pair")
    m = c.group("minimax")
    assert (m.n, m.failed, m.all_failed) == (0, 3, True) and m.centre == pytest.approx(0.47)
    assert math.isnan(m.low) and math.isnan(m.high) and c.letters == {}
    (p,) = c.pairs
    assert p.test == "none" and math.isnan(p.p) and not p.different and p.better is None
    assert "every seed failed (minimax 3 of 3" in p.note


def test_a_group_interval_is_widened_to_its_evaluation_noise():
    se = 0.0023
    g = summarise("hinge", [Obs(v, noise_se=se) for v in (0.0441, 0.0436, 0.0446)], sc.RAW)
    assert g.widened and g.noise == "recorded"
    assert g.high - g.centre == pytest.approx(sps.t.ppf(0.975, 2) * se / math.sqrt(3), rel=1e-9)
    assert summarise("x", [Obs(v) for v in A], sc.RAW).noise == "not recorded"


def test_probability_of_improvement_is_the_mann_whitney_auc():
    p = prob_improvement(A, B)
    u = sps.mannwhitneyu(B, A).statistic  # pairs where B > A: A better (lower)
    assert p.value == pytest.approx(u / 25) and p.low <= p.value <= p.high
    tie = prob_improvement([1.0, 2.0], [2.0, 3.0])
    assert tie.value == pytest.approx((3 + 0.5) / 4)  # one tie of four pairs counts half
    assert prob_improvement([1.0], [2.0], lower_is_better=False).value == 0.0


def test_expected_best_of_k_matches_enumeration():
    scores = [0.3, 0.1, 0.5, 0.2]
    curve = expected_best_curve(scores)
    for k in (1, 2, 3):
        draws = list(itertools.product(scores, repeat=k))
        assert curve[k - 1] == pytest.approx(np.mean([min(d) for d in draws]), rel=1e-12)
    assert curve[0] == pytest.approx(np.mean(scores)) and list(curve) == sorted(curve, reverse=True)
    c, lo, hi = expected_best([0.3, math.nan, 0.5], failed_as=0.6)
    assert c[0] == pytest.approx((0.3 + 0.6 + 0.5) / 3) and np.all(lo <= c + 1e-12) and np.all(c <= hi + 1e-12)


def test_rank_agreement_and_its_interval():
    r = rank_correlation([1, 2, 3, 4], [10, 30, 20, 40])
    assert r.spearman == pytest.approx(sps.spearmanr([1, 2, 3, 4], [10, 30, 20, 40]).statistic)
    assert r.kendall == pytest.approx(2 / 3) and r.n == 4
    same = tau_interval({g: [(m, m * 10), (m + 0.01, m * 10 + 0.1)] for g, m in (("a", 1), ("b", 2), ("c", 3))})
    assert (same.value, same.low, same.high) == (1.0, 1.0, 1.0)


def _ticks(run_dir, acc_loss: list[tuple[float, float, float]]) -> None:
    lines = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    lines = [r for r in lines if r["kind"] != "tick"] + [
        {"kind": "tick", "kimg": k, "d_acc": a, "loss_g": g} for k, a, g in acc_loss
    ]
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))


def test_a_stall_is_named_by_what_the_ticks_show(tmp_path):
    long_ = write_run(tmp_path, "minimax", 0, fids=[90.0])
    _ticks(long_, [(25, 0.99, -0.02)] + [(k, 1.0, -0.0001) for k in (50, 75, 100, 125, 150)] + [(175, 0.8, -0.3)])
    short = write_run(tmp_path, "minimax", 1, fids=[90.0])
    _ticks(short, [(25, 1.0, -0.001), (50, 1.0, -0.0), (75, 0.7, -0.5), (100, 0.6, -0.6), (200, 0.6, -0.6)])
    dwins = write_run(tmp_path, "dcgan", 0, fids=[90.0])  # D wins but the non-saturating G keeps a large loss
    _ticks(dwins, [(k, 1.0, 5.0) for k in (25, 50, 75, 100)])
    runs = {r.name: r for r in discover(tmp_path)}
    for r in runs.values():  # the budget the stall is measured against
        r.summary["kimg"] = 200.0
    kind, why = failures.failure(runs["minimax/seed0"], "fid500")
    assert kind == failures.STALLED and "from 50 to 150 kimg, took off by 175 kimg" in why  # 125 of 200 kimg
    kind, why = failures.failure(runs["minimax/seed1"], "fid500")
    assert kind == "" and "took off by 75" in why  # 50 of 200 kimg: said, not failed
    assert failures.failure(runs["dcgan/seed0"], "fid500") == ("", "")
    assert failures.noise_se(runs["minimax/seed0"], "kid500") == pytest.approx(0.001)  # its kid500_std
    assert math.isnan(failures.noise_se(runs["minimax/seed0"], "fid500"))  # not recorded for FID


def test_the_first_paragraph_says_when_the_curves_still_improve(tmp_path):
    values = {10.0: {"a": [0.40, 0.42], "b": [0.50]}, 20.0: {"a": [0.30, 0.32], "b": [0.49]}}
    found = progress.levels(values)
    assert [(x.group, round(x.change, 4), x.levelled) for x in found] == [("a", 0.2439, False), ("b", 0.02, True)]
    text = progress.improving_text(found, "kid50")
    assert text.startswith("Still improving at 20 kimg: mean kid50 improved by 24% between 10 and 20 kimg for a")
    assert "the order may change with more training" in text
    c = compare({"a": [Obs(0.3)], "b": [Obs(0.49)]}, first_protocol(), "x")
    assert lead(c, Context(caveats=[text])).endswith("so the order may change with more training.")
    for seed in (0,):
        write_run(tmp_path, "dcgan", seed, fids=[90.0])
    more = progress.more_seeds(discover(tmp_path))
    assert more.startswith("To make it a comparison over 5 seeds: `uv run ")
    assert "--seeds 0,1,2,3,4`" in more


def test_a_search_of_many_one_seed_runs_names_the_best_few_and_the_last():
    few = compare({f"v{i}": [Obs(0.1 * (i + 1))] for i in range(8)}, first_protocol(), "x")
    assert "v0 0.1 (one seed), v1 0.2 (one seed)" in lead(few, Context()) and "and v7 0.8 (one seed) ()" in lead(
        few, Context()
    )
    many = compare({f"v{i}": [Obs(0.01 * (i + 1))] for i in range(100)}, first_protocol(), "x")
    text = lead(many, Context())
    assert "v6 0.07 (one seed), … (92 more) … and v99 1 (one seed) ()" in text and "v7 " not in text


def test_a_changed_plan_makes_every_verdict_post_hoc():
    declared = {"scale": "log", "margin": [0.8, 1.25], "alpha": 0.05}
    assert from_declaration(declared, "abc", "abc").post_hoc is False
    plan = from_declaration(declared, "abc", "abd")
    assert plan.post_hoc and plan.scale == sc.LOG and "post hoc" in plan.label
    c = compare({"a": [Obs(v) for v in A], "b": [Obs(v) for v in B]}, plan, "x")
    assert lead(c, Context()).startswith("Post hoc (the analysis plan changed after the first trial): Best: a")
    assert given(None, None) is None and given(0.02, None).bounds() == (-0.02, 0.02)
    assert Plan().bounds(0.1, 0.6) == pytest.approx((-0.05, 0.05))  # the first protocol: 10% of the gap


def test_two_lenses_are_found_by_the_registry_not_by_name(tmp_path, monkeypatch):
    for v, kids, fids in (("a", [0.10, 0.11], [50, 52]), ("b", [0.20, 0.21], [40, 41]), ("c", [0.3, 0.31], [90, 91])):
        for seed in (0, 1):
            run = write_run(tmp_path, v, seed, fids=[fids[seed]])
            s = json.loads((run / "summary.json").read_text())
            s["final"]["kid500"] = kids[seed]
            (run / "summary.json").write_text(json.dumps(s))
    runs = discover(tmp_path)
    by = {v: [r for r in runs if r.variant == v] for v in "abc"}
    assert lens.second_metric(runs, "kid500") is None  # FID and KID: one lens (Inception features)
    monkeypatch.setitem(names.LENS, names.FID, "another lens")
    assert lens.second_metric(runs, "kid500") == "fid500"
    la = lens.agreement(by, "kid500", first_protocol(None), "x")
    assert la.tau.value == pytest.approx(1 / 3) and [(x, y) for x, y, _ in la.disagree] == [("a", "b")]
    assert "disagree on 1 pair" in lens.text(la)


def test_runs_with_different_reference_images_are_never_ranked_together(tmp_path):
    from ganbench.report.cohorts import cohorts

    for v, ref in (("a", "1" * 64), ("b", "2" * 64), ("c", None)):
        for seed in (0, 1):
            run = write_run(tmp_path, v, seed, fids=[50.0 + seed])
            s = json.loads((run / "summary.json").read_text())
            s["metric_protocol"] = {"rank_by": "kid500"} | ({"reference_sha256": ref} if ref else {})
            (run / "summary.json").write_text(json.dumps(s))
    split = cohorts(discover(tmp_path))
    assert sorted(sorted({r.variant for r in c.runs}) for c in split) == [["a"], ["b"], ["c"]]
    assert any("reference images sha256 111111111111" in c.title() for c in split)


def test_training_numerics_are_grouped_by_the_recorded_arithmetic(tmp_path):
    """AMX and AVX-512 BF16 are different arithmetic (issue 27): two runs are the same only when config.json's
    device_settings["arithmetic"] is the same string."""
    from ganbench.report import protocol
    from ganbench.rundir import DEVICE_SETTINGS

    for seed, arithmetic in ((0, "bf16 autocast cpu amx"), (1, "bf16 autocast cpu avx512_bf16")):
        run = write_run(tmp_path, "dcgan", seed, fids=[90.0])
        meta = json.loads((run / "config.json").read_text())
        meta[DEVICE_SETTINGS] = {"precision": "bf16", "arithmetic": arithmetic}
        (run / "config.json").write_text(json.dumps(meta))
    lines, warnings = protocol.protocol(discover(tmp_path))
    assert any(w.startswith("runs differ in training numerics") for w in warnings)
    assert "training numerics (dcgan/seed0): bf16 autocast cpu amx (from auto)" in lines


def test_a_ratio_far_from_one_keeps_its_digits():
    from ganbench.report.display import ratio

    assert ratio(1.6234) == "1.62" and ratio(0.1) == "0.10" and ratio(99.5) == "99.50"
    assert ratio(0.00103) == "0.00103" and ratio(975.18) == "975" and ratio(0.0999) == "0.0999"
