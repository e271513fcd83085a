"""Rank against budget (`ganbench.report.ranks`): ranks at each evaluated budget at one protocol, the range of ranks
the pairwise tests allow, and whether the order has settled between the last two budgets."""

from __future__ import annotations

import json

import pytest
from test_report import write_run

from ganbench.report.ranks import budget_metric, budget_values, rank_by_budget, rank_stability, ranks_at
from ganbench.report.runs import discover

FAR = [0.0, 0.1, -0.1, 0.05, -0.05]  # seed noise, sd ~0.08: a shift of 1 is far beyond any test's doubt


def _at(mean: float) -> list[float]:
    return [mean + e for e in FAR]


def test_ranks_and_the_range_the_tests_allow():
    r = ranks_at({"a": _at(1.0), "b": _at(1.02), "c": _at(5.0)}, 10.0)
    assert r.order == ["a", "b", "c"] and r.rank == {"a": 1, "b": 2, "c": 3}
    # a and b cannot be told apart: each may be 1st or 2nd; c is last for sure
    assert (r.low, r.high) == ({"a": 1, "b": 1, "c": 3}, {"a": 2, "b": 2, "c": 3})
    assert r.significant() == {("a", "c"), ("b", "c")} and r.n == {"a": 5, "b": 5, "c": 5}
    single = ranks_at({"a": [1.0], "b": [2.0], "c": [3.0]}, 10.0)  # one seed: nothing tested, every rank possible
    assert single.rank == {"a": 1, "b": 2, "c": 3} and set(single.low.values()) == {1}
    assert set(single.high.values()) == {3}


def test_stability_finds_a_significant_pair_that_changed_order():
    settled = {
        10.0: {"a": _at(1.0), "b": _at(3.0), "c": _at(3.01)},
        20.0: {"a": _at(0.5), "b": _at(2.02), "c": _at(2.0)},
    }  # b and c swap, but no test separates them
    s = rank_stability(settled)
    assert (s.before, s.after, s.flips, s.swaps, s.settled) == (10.0, 20.0, [], [("c", "b")], True)
    assert (s.significant_before, s.significant_after, s.pairs, s.seeds) == (2, 2, 3, 5)
    text = s.text("kid100")
    assert "(from 10 to 20 kimg, kid100): no pair the tests order changes order" in text
    assert "c vs b" in text
    flipped = {
        10.0: {"a": _at(1.0), "b": _at(3.0)},
        20.0: {"a": _at(3.0), "b": _at(1.0)},
        5.0: {"a": _at(9.0), "b": _at(1.0)},
    }  # only the last two budgets count
    f = rank_stability(flipped)
    assert (f.before, f.after, f.flips, f.settled) == (10.0, 20.0, [("b", "a")], False)
    assert "not settled: b and a changed order" in f.text()
    one_seed = rank_stability({1.0: {"a": [1.0], "b": [2.0]}, 2.0: {"a": [2.0], "b": [1.0]}})
    assert one_seed.flips == [] and one_seed.swaps == [("b", "a")] and "one seed" in one_seed.text()
    assert not one_seed.settled
    lone = rank_stability({3.0: {"a": [1.0]}})
    assert lone.before is None and not lone.settled and "only one evaluated budget" in lone.text()
    assert [r.kimg for r in rank_by_budget(flipped)] == [5.0, 10.0, 20.0]


def test_budget_values_use_one_sample_count_and_merge_nearby_budgets(tmp_path):
    """Curve points carry kid50 at every budget and the end adds kid100: ranks along the way use kid50, at the
    end too. wgan-gp's evaluations fall a few images later (20.16 kimg instead of 20.032): the same budget."""
    for variant, shift in (("dcgan", 0.0), ("wgan-gp", 0.1)):
        for seed in (0, 1):
            run_dir = write_run(tmp_path, variant, seed, fids=[300.0, 200.0])
            lines = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
            for rec in lines:
                if rec["kind"] == "eval":
                    rec.pop("kid500")
                    rec["kid50"] = rec.pop("fid500") / 1000 + shift + seed / 100
                    rec["kimg"] = {1.0: 20.032 if variant == "dcgan" else 20.16, 2.0: 40.0}[rec["kimg"]]
                    if rec["kimg"] == 40.0:
                        rec["kid100"] = rec["kid50"] - 0.01
            (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    write_run(tmp_path, "random", 0, family="random", fids=[400.0])  # the floor does not train: not ranked
    runs = discover(tmp_path)
    assert budget_metric(runs, "kid100") == "kid50" and budget_metric(runs, None) is None
    values = budget_values(runs, "kid50")
    assert sorted(values) == [20.032, 40.0] and set(values[40.0]) == {"dcgan", "wgan-gp"}
    assert values[20.032]["wgan-gp"] == [pytest.approx(0.4), pytest.approx(0.41)]
