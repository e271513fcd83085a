"""Failed seeds in a report, from run folders made here (no training): an arm that mixes failed and successful
seeds is compared by the exact Mann-Whitney test over every seed and says so; an arm whose every seed failed gets
no interval, no letter and no test (its failure count is the comparison); Welch stays where no seed failed; the
verdict counts the failed seeds by kind and leaves the list, with what each run shows, to the table below it."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
from scipy import stats as sps
from test_report import PROTOCOL, write_run

from ganbench.report import write_report

GOOD = {"a": [0.100, 0.104, 0.098, 0.102, 0.101], "random": [0.600, 0.601, 0.599, 0.600, 0.602]}
MIXED = [0.120, 0.125, 0.400, 0.450]  # m: seeds 2 and 3 stalled
COLLAPSED = [0.300, 0.310, 0.305, 0.295, 0.302]  # c: every seed collapsed


def _set_final(run_dir: Path, kid: float) -> None:
    summary = json.loads((run_dir / "summary.json").read_text())
    summary["final"] = {"fid500": 100 * kid, "kid500": kid, "kid500_std": 0.001}
    summary["metric_protocol"] = PROTOCOL | {"rank_by": "kid500"}
    (run_dir / "summary.json").write_text(json.dumps(summary))


def _stall(run_dir: Path) -> None:
    """D wins outright and the saturating G loss vanishes from 1 to 3 kimg of 4: a failed seed (stalled)."""
    lines = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    for r in lines:
        if r["kind"] == "tick" and r["kimg"] <= 3:
            r |= {"d_acc": 1.0, "loss_g": -0.0001}
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))


def write_failing_runs(root: Path, collapsed: bool = True) -> Path:
    """a: 5 good seeds; m: 2 good and 2 stalled; c (when `collapsed`): 5 collapsed; the random floor."""
    for variant, values in GOOD.items():
        for seed, kid in enumerate(values):
            _set_final(write_run(root, variant, seed, family="random" if variant == "random" else "gan"), kid)
    for seed, kid in enumerate(MIXED):
        run = write_run(root, "m", seed, objective="minimax")
        _set_final(run, kid)
        if seed >= 2:
            _stall(run)
    for seed, kid in enumerate(COLLAPSED if collapsed else []):
        _set_final(write_run(root, "c", seed, collapse={"collapsed": True, "ratio": 0.05}), kid)
    return root


def _lead(out: Path) -> str:
    return next(line for line in (out / "report.md").read_text().splitlines() if line.startswith("**")).strip("*")


def test_each_pair_uses_a_test_that_stays_valid_for_its_failed_seeds(tmp_path):
    write_report(write_failing_runs(tmp_path / "res"), tmp_path / "rep", real_images=False)
    pairs = pd.read_csv(tmp_path / "rep" / "pairwise.csv")
    pairs = pairs[pairs["plan"] == "first protocol"].set_index(["a", "b"])
    # a mixture of failed and successful seeds: exact Mann-Whitney over every seed, no equivalence test
    am = pairs.loc[("a", "m")]
    ref = sps.mannwhitneyu(GOOD["a"], MIXED, alternative="two-sided", method="exact").pvalue
    assert am["test"] == "Mann-Whitney" and math.isclose(am["p"], ref, rel_tol=1e-12)
    assert math.isnan(am["p_tost"]) and not am["tied"] and "failed seed" in am["note"]
    # no failed seed on either side: Welch, as before
    welch = sps.ttest_ind(GOOD["a"], GOOD["random"], equal_var=False).pvalue
    ar = pairs.loc[("a", "random")]
    assert ar["test"] == "Welch" and math.isclose(ar["p"], welch, rel_tol=1e-9)
    # every seed of c failed: no test claims anything about it; the failure count is the comparison
    for pair in (("a", "c"), ("m", "c"), ("c", "random")):
        row = pairs.loc[pair]
        assert row["test"] == "none" and math.isnan(row["p"]) and math.isnan(row["p_holm"]), pair
        assert "every seed failed (c 5 of 5, rate 48%-100%): compared by failure counts only" in row["note"]
        assert row["call"] == "untested" and math.isfinite(row["prob"])  # P(A better) stays, over every seed
    tested = pairs[pairs["test"] != "none"]
    assert len(tested) == 3  # Holm over the three tested pairs only
    summary = pd.read_csv(tmp_path / "rep" / "summary.csv").set_index("group")
    c = summary.loc["c"]
    assert math.isnan(c["kid500_final_ci95_low"]) and math.isnan(c["kid500_final_ci95_high"])
    assert c["kid500_final_n"] == 0 and c["failed"] == 5 and pd.isna(c["letters"])
    assert summary.loc["m", "kid500_final_n"] == 2 and summary.loc["m", "failed"] == 2  # 2 successful seeds
    md = (tmp_path / "rep" / "summary.md").read_text()
    assert "| 0.302 (every seed failed (5)) |" in md  # the quality table's cell for c: placed, no interval
    assert summary["vs_next_rank"].to_dict()["m"] == "not tested: every seed of c failed"  # no adjacent test either
    assert summary["vs_next_rank"].to_dict()["c"] == "not tested: every seed of c failed"
    assert math.isnan(summary.loc["c", "vs_next_rank_p"]) and summary.loc["a", "vs_next_rank_p"] > 0
    assert "| 3 | c |   | 0.302 (5 of 5 seeds failed) | 0.3 [collapsed], 0.31 [collapsed], " in md  # every seed
    assert "not tested: every seed failed (c 5 of 5" in md  # the pair table says why
    lead = _lead(tmp_path / "rep")  # the Holm family the lead names counts the pairs Holm corrected over
    assert "of this protocol's groups (exploratory): 3 of its 6 pairs tested" in lead, lead


def test_a_family_without_untested_pairs_is_named_as_given(tmp_path):
    write_report(write_failing_runs(tmp_path / "res", collapsed=False), tmp_path / "rep", real_images=False)
    lead = _lead(tmp_path / "rep")
    assert "Holm over the 3 pairs of this protocol's groups (exploratory))" in lead and "pairs tested" not in lead, lead


def test_the_verdict_counts_failed_seeds_and_the_table_below_lists_them(tmp_path):
    write_report(write_failing_runs(tmp_path / "res"), tmp_path / "rep", real_images=False)
    lead = _lead(tmp_path / "rep")
    assert lead.startswith("Best: a kid500 0.101 ± ")  # never c, whose every seed failed
    assert "not distinguishable from it" not in lead and "c 0.302" not in lead
    # m is worse by the rank test its failed seeds call for, and the lead names that test (not the first pair's)
    assert "Clearly worse than a: m, P(a better) 1.00 (Mann-Whitney on the raw scale, Holm over " in lead
    assert " Every seed failed for c (5 of 5 collapsed). " in lead  # what no test can say, the counts say
    assert lead.endswith(
        "7 of 14 seeds failed (5 collapsed, 2 stalled): counted, not averaged, and listed with what each run shows "
        "in the table Failed seeds below."
    )
    assert "seed0" not in lead and "diversity" not in lead and "kimg" not in lead  # no list in the verdict
    assert len(lead.split(". ")) <= 4  # about three sentences (and one naming c)
    md = (tmp_path / "rep" / "report.md").read_text()
    table = md[md.index("### Failed seeds") :].split("\n\n")[1].splitlines()
    assert table[0] == "| group | seed | run | what the run shows |" and len(table) == 2 + 7
    assert "| c | 0 | c/seed0 | collapsed: sample diversity 0.05 of the real images' |" in table
    assert any(r.startswith("| m | 2 | m/seed2 | stalled (D accuracy ≥ 0.99") for r in table)
    assert md.index("### Failed seeds") > md.index("### Every seed, failures counted")
    # with few failed seeds the verdict names them (still no run's story)
    write_report(write_failing_runs(tmp_path / "few", collapsed=False), tmp_path / "rep2", real_images=False)
    lead = _lead(tmp_path / "rep2")
    assert lead.endswith(
        "2 of 9 seeds failed (stalled: m seed 2, m seed 3): counted, not averaged, and listed "
        "with what each run shows in the table Failed seeds below."
    )


def test_the_lead_names_the_test_of_the_pairs_it_names_and_survives_an_all_failed_cohort():
    from ganbench.report.compare import Obs, compare
    from ganbench.report.failures import COLLAPSED, STALLED
    from ganbench.report.plan import first_protocol
    from ganbench.report.verdict import Context, lead

    a = [Obs(v) for v in GOOD["a"]]
    b = [Obs(v + 0.001) for v in GOOD["a"]]  # close to a: the first pair, Welch, not different
    m = [Obs(0.9 + i / 100) for i in range(4)] + [Obs(0.95, failure=STALLED)]  # worse, with a failed seed
    c = compare({"a": a, "b": b, "m": m}, first_protocol(None), "three pairs")
    assert c.pairs[0].test == "Welch" and c.pair("a", "m").test == "Mann-Whitney" and c.pair("a", "m").different
    text = lead(c, Context())
    assert "Clearly worse than a: m, P(a better) 1.00 (Mann-Whitney on the raw scale, Holm over three pairs)." in text
    assert "Welch on the" not in text
    gone = {g: [Obs(0.3 + i / 100, failure=COLLAPSED) for i in range(3)] for g in ("x", "y")}
    text = lead(compare(gone, first_protocol(None), "one pair"), Context())
    assert text == (
        "No group has a seed that did not fail: nothing is compared. Every seed failed for x (3 of 3 collapsed) and "
        "y (3 of 3 collapsed)."
    )
