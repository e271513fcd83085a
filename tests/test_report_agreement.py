"""Two studies lined up (`ganbench report A --against B`): each study's own conclusion per pair, and how the two
relate; two-sided checks on made-up values with known answers (no training)."""

from __future__ import annotations

import math

import pytest
from test_report_study import VALUES, _study_dir
from typer.testing import CliRunner

from ganbench.commands import app
from ganbench.report import agreement as A
from ganbench.report import study, write_report
from ganbench.report.compare import Obs, compare
from ganbench.report.plan import given
from ganbench.report.runs import discover

MARGIN = 0.02


def _calls(groups: dict[str, list[float]]) -> dict[frozenset, str]:
    c = compare({g: [Obs(v) for v in vs] for g, vs in groups.items()}, given(MARGIN, "raw"), "test")
    return {frozenset((p.a, p.b)): A.call(p) for p in c.pairs}


def test_a_pair_is_ordered_tied_open_or_untested_on_each_study():
    calls = _calls(
        {
            "good": [0.10, 0.11, 0.10, 0.11, 0.105],
            "twin": [0.101, 0.109, 0.104, 0.106, 0.105],
            "bad": [0.30, 0.31, 0.29, 0.30, 0.305],
            "noisy": [0.05, 0.40, 0.10, 0.35, 0.20],
            "single": [0.2],
        }
    )
    assert calls[frozenset(("good", "bad"))] == "good"  # lower is better, whichever side it is on
    assert calls[frozenset(("bad", "twin"))] == "twin"
    assert calls[frozenset(("good", "twin"))] == A.TIED
    assert calls[frozenset(("good", "noisy"))] == A.OPEN
    assert calls[frozenset(("good", "single"))] == A.UNTESTED


@pytest.mark.parametrize(
    ("x", "y", "relation"),
    [
        ("dcgan", "dcgan", A.SAME),
        ("dcgan", "vae", A.OPPOSITE),
        (A.TIED, A.TIED, A.BOTH_TIED),
        ("dcgan", A.TIED, A.PARTIAL),
        (A.TIED, "vae", A.PARTIAL),
        ("dcgan", A.OPEN, A.PARTIAL),
        (A.UNTESTED, A.TIED, A.PARTIAL),
        (A.OPEN, A.UNTESTED, A.NEITHER),
        (A.OPEN, A.OPEN, A.NEITHER),
    ],
)
def test_two_calls_agree_only_when_both_settle_the_pair_the_same_way(x, y, relation):
    assert A.agree(x, y) == relation
    assert A.agree(y, x) == relation  # symmetric


def test_kendall_tau_of_two_orders():
    assert A.kendall_tau([1, 2, 3, 4], [10, 20, 30, 40]) == 1.0
    assert A.kendall_tau([1, 2, 3, 4], [4, 3, 2, 1]) == -1.0
    assert A.kendall_tau([1, 2, 3], [1, 3, 2]) == pytest.approx(1 / 3)
    assert math.isnan(A.kendall_tau([1], [1]))


def _swapped() -> dict:
    """The same study on a 'second data set' where the VAE beats dcgan."""
    v = dict(VALUES)
    v[("dcgan", "tuned")], v[("vae", "tuned")] = VALUES[("vae", "tuned")], VALUES[("dcgan", "tuned")]
    return v


def test_the_same_order_on_both_studies_is_said_and_the_opposite_order_too(tmp_path):
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir(), (tmp_path / "c").mkdir()
    a, b, c = _study_dir(tmp_path / "a"), _study_dir(tmp_path / "b"), _study_dir(tmp_path / "c", _swapped())
    fa, fb, fc = (study.analyse(x, discover(x)) for x in (a, b, c))
    same = A.compare(fa, fb, ("A", "B"))
    assert [p.relation for p in same.pairs] == [A.SAME] and same.pairs[0].calls == ("dcgan", "dcgan")
    assert same.ranks == {"dcgan": (1, 1), "vae": (2, 2)} and same.tau == 1.0
    # scale position: (0.11 - 0.001) / (0.6 - 0.001) on both
    assert same.position["dcgan"] == pytest.approx((0.109 / 0.599,) * 2, rel=1e-3)
    assert "1 of 1 is ordered the same way on both (dcgan over vae)" in A.text(same)
    assert "dcgan has the best mean on both" in A.text(same)
    flipped = A.compare(fa, fc, ("A", "C"))
    assert [p.relation for p in flipped.pairs] == [A.OPPOSITE] and flipped.pairs[0].calls == ("dcgan", "vae")
    assert flipped.ranks == {"dcgan": (1, 2), "vae": (2, 1)} and flipped.tau == -1.0
    t = A.text(flipped)
    assert "0 of 1 are ordered the same way" in t and "1 is ordered oppositely (dcgan and vae)" in t
    assert "The best mean differs: dcgan on A, vae on C" in t


def test_the_report_lines_up_another_study_and_refuses_a_folder_that_is_not_one(tmp_path):
    (tmp_path / "a").mkdir(), (tmp_path / "c").mkdir()
    a, c = _study_dir(tmp_path / "a"), _study_dir(tmp_path / "c", _swapped())
    report = write_report(a, real_images=False, against=(c,))
    md = (report.out_dir / "report.md").read_text()
    assert "## Against c/out: where the rankings agree" in md and "ordered oppositely (dcgan and vae)" in md
    assert "![each variant's place on the scale" in md and (report.out_dir / "agreement.png").stat().st_size > 1000
    plain = write_report(a, tmp_path / "plain", real_images=False)
    assert "where the rankings agree" not in (plain.out_dir / "report.md").read_text()
    res = CliRunner().invoke(
        app, ["report", str(a), "--no-real", "-o", str(tmp_path / "r2"), "--against", str(tmp_path)]
    )
    assert res.exit_code == 2 and "is not a study folder" in res.output and "ganbench study" in res.output


def test_a_pair_settled_on_one_data_set_only_is_said_with_what_each_one_found():
    rows = [
        A.PairRow("x", "y", ("x", A.TIED), A.PARTIAL),
        A.PairRow("x", "z", (A.OPEN, "z"), A.PARTIAL),
        A.PairRow("y", "z", (A.OPEN, A.UNTESTED), A.NEITHER),
    ]
    tied_one_side = A.Agreement(
        ("faces", "objects"),
        ["x", "y", "z"],
        {"x": (1, 1), "y": (2, 2), "z": (3, 3)},
        {},
        {},
        [A.PairRow("x", "y", (A.TIED, A.OPEN), A.PARTIAL), A.PairRow("y", "z", ("y", A.UNTESTED), A.PARTIAL)],
        1.0,
    )
    assert "Settled on faces only (2, not on objects): ordered y over z; tied x and y." in A.text(tied_one_side)
    ag = A.Agreement(
        ("faces", "objects"),
        ["x", "y", "z"],
        {"x": (1, 2), "y": (2, 1), "z": (3, 3)},
        {v: ("", "") for v in "xyz"},
        {v: (math.nan, math.nan) for v in "xyz"},
        rows,
        1 / 3,
    )
    t = A.text(ag)
    assert "0 of 3 are ordered the same way on both; 0 are tied on both; 0 are ordered oppositely." in t
    assert "Settled on objects only (1, not on faces): ordered z over x." in t
    assert "Settled on faces only" not in t
    assert "Ordered on one data set, tied on the other: x over y on faces, tied on objects." in t
    assert "1 settled on neither (y and z)." in t
    assert "The best mean differs: x on faces, y on objects" in t
    assert [r[1:] for r in A.pair_rows(ag)] == [
        ["x better", "tied", A.PARTIAL],
        ["not distinguishable", "z better", A.PARTIAL],
        ["not distinguishable", "fewer than 2 seeds", A.NEITHER],
    ]
