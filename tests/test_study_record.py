"""`ganbench.study.record`: a study's results folder as typed values, for every format a folder was written in."""

from __future__ import annotations

from pathlib import Path

import pytest

from ganbench.io import write_json
from ganbench.study import analysis
from ganbench.study.layout import FINAL, RECIPE, SEARCH, STUDY, TUNED
from ganbench.study.record import load_record

RESULTS = Path(__file__).resolve().parents[1] / "results"


@pytest.mark.parametrize(
    "name, search, final, seeds",
    [("fair-celeba32", 24, 58, (0, 1, 2, 3, 4)), ("fair-cifar10", 24, 24, (0, 1, 2))],
)
def test_the_committed_two_stage_studies_read_as_format_1(name, search, final, seeds):
    r = load_record(RESULTS / name)
    assert r.format == 1 and [s.name for s in r.stages] == [SEARCH, FINAL]
    assert (len(r.stage(SEARCH).trials), len(r.final.trials), r.final.seeds) == (search, final, seeds)
    assert r.variants == ("dcgan", "minimax", "wgan-gp", "lsgan", "hinge", "vae") and r.baselines == ("random", "real")
    # the v1 plan as that format implied it: raw scale, 10% of the best-to-floor gap, alpha 0.05
    assert (r.plan.metric_name, r.plan.scale, r.plan.alpha, r.plan.declared) == ("kid500", "raw", 0.05, False)
    assert r.plan.margin == analysis.Margin(analysis.GAP_SHARE, -0.1, 0.1)
    assert {g.metric: g.bound for g in r.plan.goals} == {"kid500": 0.05, "precision500": 0.4}
    assert r.plan_hash_recorded is None and r.plan_changed is None  # nothing was recorded before stage 1
    assert r.plan_hash_now == r.plan.sha256()  # the file (benchmarks/studies/*.toml) still says the same
    sel = r.stage(SEARCH).selection
    assert sel is not None and sel.metric == "kid500" and sel.split == "val"
    for variant in r.variants:
        cands = sel.candidates[variant]
        assert len(cands) == 4 and sel.selected(variant) == min(cands, key=lambda c: c.score).tag
        tuned = [t for t in r.final.by_variant(variant) if t.arm == TUNED]
        assert {t.candidate for t in tuned} == {r.selected(variant)} and tuned[0].params == next(
            c.params for c in cands if c.tag == r.selected(variant)
        )
    assert all((RESULTS / name / t.run_dir / "summary.json").is_file() for t in r.trials())
    assert {t.arm for t in r.final.trials} == {TUNED, RECIPE} and {t.arm for t in r.stage(SEARCH).trials} == {None}


def test_the_first_study_a_sweep_reads_as_one_stage():
    r = load_record(RESULTS / "study-celeba32")
    assert r.format == 0 and len(r.stages) == 1 and r.final.kind == "sweep"
    assert r.final.budget == "50kimg" and r.final.split == "heldout" and r.final.seeds == (0, 1, 2, 3, 4)
    assert len(r.final.trials) == 35 and r.plan.metric_name == "kid1000" and r.final.selection is None
    assert all((RESULTS / "study-celeba32" / t.run_dir / "summary.json").is_file() for t in r.trials())


def test_a_folder_without_a_study_is_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a study"):
        load_record(tmp_path)


def _format2(out: Path, plan: analysis.AnalysisPlan, file: str) -> None:
    trial = {"variant": "dcgan", "candidate": "recipe", "params": {}, "seed": 0, "run_dir": "rung1/dcgan/recipe/seed0"}
    write_json(
        out / STUDY,
        {
            "format": 2,
            "study": {"name": "s", "file": file, "variants": ["dcgan"], "baselines": ["random"], "settings": {}},
            "plan": plan.to_dict(),
            "plan_sha256": plan.sha256(),
            "stages": [
                {
                    "name": "rung1",
                    "kind": "search",
                    "budget": "25kimg",
                    "split": "val",
                    "seeds": [0],
                    "trials": [trial],
                    "selection": {
                        "metric": "kid500",
                        "split": "val",
                        "variants": {
                            "dcgan": {
                                "candidates": [
                                    {
                                        "tag": "recipe",
                                        "params": {},
                                        "status": "completed",
                                        "values": [0.2],
                                        "score": -1.6,
                                    }
                                ],
                                "chosen": ["recipe"],
                            }
                        },
                    },
                },
                {
                    "name": "final",
                    "kind": "final",
                    "budget": "300kimg",
                    "split": "test",
                    "seeds": [0],
                    "trials": [trial | {"arm": TUNED, "run_dir": "final/dcgan/tuned/seed0"}],
                },
            ],
        },
    )


def test_a_format_2_record_keeps_the_recorded_plan_when_the_file_is_gone(tmp_path):
    plan = analysis.parse_plan(
        {"metric": "kid", "scale": "log", "margin": [0.8, 1.25], "goals": {"kid": 0.05}}, 500, "x"
    )
    _format2(tmp_path, plan, str(tmp_path / "gone.toml"))
    r = load_record(tmp_path)
    assert r.format == 2 and r.plan == plan and r.plan_recorded == plan and r.plan_hash_recorded == plan.sha256()
    assert r.plan_hash_now is None and r.plan_changed is None and "not found" in r.plan_error
    assert [s.kind for s in r.stages] == ["search", "final"] and r.selected("dcgan") == "recipe"
    assert r.stage("rung1").selection.candidates["dcgan"][0].values == (0.2,)
    assert r.final.trials[0].arm == TUNED and r.final.trials[0].run_dir == Path("final/dcgan/tuned/seed0")
    assert plan.margin == analysis.Margin(analysis.RATIO, 0.8, 1.25) and plan.goals[0].met(0.04)
