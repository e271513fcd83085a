"""The study section of a report: tuned arms ranked and tested, tuned against recipe, the scale's two ends, the
rank at every budget, the goal figures; from result files made here with known values (no training)."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest
from test_study import STUDY

from ganbench.io import write_json
from ganbench.report import study, write_report
from ganbench.report.runs import discover
from ganbench.rundir import RunDir, Status, summary_head
from ganbench.study import load_study
from ganbench.study import selection as SEL
from ganbench.study import stages as S
from ganbench.study.layout import FINAL, SELECTION
from ganbench.study.layout import STUDY as STUDY_JSON

KEY = "kid20"
# per-seed final kid20 of each (variant, arm); each seed's curve reaches it linearly from 2x its value
VALUES = {
    ("dcgan", "tuned"): [0.100, 0.110, 0.120, 0.105, 0.115],
    ("dcgan", "recipe"): [0.200, 0.210, 0.190],
    ("vae", "tuned"): [0.300, 0.310, 0.290, 0.305, 0.295],
    ("vae", "recipe"): [0.301, 0.299, 0.300],
    ("random", "recipe"): [0.600, 0.601, 0.599, 0.600, 0.600],
    ("real", "recipe"): [0.001, 0.000, 0.002, 0.001, 0.001],
}
PRECISION = {"dcgan": 0.45, "vae": 0.30, "random": 0.0, "real": 0.9}


def _study_dir(tmp_path: Path, values: dict = VALUES) -> Path:
    spec = load_study(_file(tmp_path))
    out = tmp_path / "out"
    cands = S.candidates(spec)
    search = S.KINDS[S.SEARCH].plan(S.Context(spec, 0, out, cands))
    for i, t in enumerate(search):  # stage 1: the first draw is the best of each variant
        run = RunDir(t.run_dir)
        run.path.mkdir(parents=True)
        run.write_meta({"config": t.cfg.to_dict()})
        run.write_summary(summary_head(t.cfg, t.run_dir), Status.COMPLETED, final={KEY: 0.4 + 0.1 * (i % 2)})
        write_json(run.trial, {"trial": t.candidate, "params": t.params, "variant": t.cfg.variant})
    selection = SEL.choose(spec, 0, SEL.score(spec, 0, search))
    chosen = SEL.chosen_candidates(selection, cands)
    v1 = {  # format 1, as issue 18's studies wrote it: the chosen candidate as {tag, params, value}
        v: x
        | {
            "candidates": [c | {"value": c["values"][0]} for c in x["candidates"]],
            "chosen": next(c | {"value": c["values"][0]} for c in x["candidates"] if c["tag"] == x["chosen"][0]),
        }
        for v, x in selection["variants"].items()
    }
    write_json(out / SELECTION, {"variants": v1})
    final_stage = spec.stages[1]
    meta = {
        "variants": list(spec.variants),
        "baselines": list(spec.baselines),
        "metric_name": KEY,
        "equivalence_margin": 0.1,
        "settings": spec.settings,
        "trials": spec.search.trials,
        "mode": spec.search.mode,
        "search": dataclasses.asdict(spec.stages[0]),
        "final": dataclasses.asdict(final_stage),
        "recipe_seeds": list(final_stage.recipe_seeds),
    }
    write_json(out / STUDY_JSON, {"study": meta})
    for t in S.KINDS[FINAL].plan(S.Context(spec, 1, out, chosen)):
        value = values[(t.cfg.variant, t.arm)][t.cfg.seed]
        run = RunDir(t.run_dir)
        run.path.mkdir(parents=True)
        run.write_meta({"config": t.cfg.to_dict()})
        write_json(run.trial, {"trial": t.arm, "params": t.params, "variant": t.cfg.variant})
        for k in (1, 2, 3):  # curve points at 0.064 kimg steps, then the final one
            run.append({"kind": "eval", "kimg": 0.064 * k + 0.001, KEY: value * (2 - k / 4)})
        final = {KEY: value, "precision20": PRECISION[t.cfg.variant]}
        run.append({"kind": "eval", "kimg": 0.256, **final})
        run.write_summary(summary_head(t.cfg, t.run_dir), Status.COMPLETED, final=final)
    return out


def _file(tmp_path: Path) -> Path:
    path = tmp_path / "s.toml"
    path.write_text(
        STUDY.replace("seeds = [0, 1]", "seeds = [0, 1, 2, 3, 4]")
        .replace('budget = "0.128kimg"', 'budget = "0.256kimg"')
        .replace("recipe_seeds = [0]", "recipe_seeds = [0, 1, 2]")
    )
    return path


def test_study_findings_rank_tuned_arms_and_test_them_against_their_recipes(tmp_path):
    out = _study_dir(tmp_path)
    f = study.analyse(out, discover(out))
    assert f.key == KEY and f.order == ["dcgan", "vae"]
    assert f.values[("dcgan", "tuned")] == pytest.approx(VALUES[("dcgan", "tuned")])
    (pair,) = f.pairs
    assert pair.different and pair.diff == pytest.approx(0.11 - 0.30) and f.letters == {"dcgan": "a", "vae": "b"}
    # margin = 10% of the gap from the best tuned mean (0.11) to the random floor (0.6)
    assert f.margin == pytest.approx(0.1 * (0.6 - 0.11))
    assert f.floor.mean == pytest.approx(0.6) and f.ceiling.mean == pytest.approx(0.001)
    dcgan, vae = f.vs_recipe["dcgan"], f.vs_recipe["vae"]
    assert dcgan.different and dcgan.diff < 0 and not dcgan.tied  # tuning helped dcgan by 0.09
    assert not vae.different and vae.tied  # within 0.0006 of each other, margin 0.049: equivalent
    g = study.goals(f)
    assert (g["variant"], g["arm"], g["kid_met"], g["precision_met"], g["beats_vae"]) == (
        "dcgan",
        "tuned",
        False,
        True,
        ["dcgan"],
    )
    # four evaluated budgets, the same order at each, no flips
    assert [b.kimg for b in f.budgets] == pytest.approx([0.064, 0.128, 0.192, 0.256])
    assert f.stability.settled and not f.stability.flips
    text = study.verdict(f)
    for phrase in (
        "Best: dcgan 0.11",
        "significantly better than every other variant",
        "the tuned setting is better for dcgan",
        "equivalent within the margin for vae",
        "random noise 0.6",
        "two sets of real images 0.001",
        "goal ≤ 0.05: missed",
        "goal ≥ 0.4: met",
        "significantly better than the VAE: dcgan",
        "no pair the tests order changes",
    ):
        assert phrase in text, (phrase, text)


def test_a_gan_that_ties_the_vae_is_said_so_and_a_flip_between_budgets_is_found(tmp_path):
    values = dict(VALUES) | {("dcgan", "tuned"): [0.302, 0.304, 0.300, 0.303, 0.301]}  # just behind the VAE
    out = _study_dir(tmp_path, values)
    f = study.analyse(out, discover(out))
    (pair,) = f.pairs
    assert pair.tied and not pair.different
    text = study.verdict(f)
    assert f.order == ["vae", "dcgan"]
    assert (
        "Tied within ±" in text and ": vae and dcgan." in text and "no GAN is significantly better than the VAE" in text
    )
    # make dcgan significantly best one budget earlier: the order flips between the last two budgets
    for seed in range(5):
        run = RunDir(out / "final/dcgan/tuned" / f"seed{seed}")
        run.append({"kind": "eval", "kimg": 0.193, KEY: 0.05})
    f = study.analyse(out, discover(out))
    assert f.stability.flips == [("vae", "dcgan")] and not f.stability.settled
    assert "not settled" in study.verdict(f)


def test_the_report_leads_with_the_study(tmp_path):
    out = _study_dir(tmp_path)
    write_report(out, real_images=False)
    md = (out / "report" / "report.md").read_text()
    assert md.index("## The study") < md.index("study_forest.png") < md.index("Every run, by evaluation protocol")
    for name in (
        "study_forest.png",
        "study_curves.png",
        "study_search.png",
        "study_rank_vs_kimg.png",
        "study_samples.png",
    ):
        assert (out / "report" / name).is_file(), name
    assert "| 1 | dcgan | a |" in md and "tuned better" in md and "the recipe's values" in md


def test_before_stage_two_the_study_says_nothing_is_compared_yet(tmp_path):
    out = _study_dir(tmp_path)
    import shutil

    shutil.rmtree(out / FINAL)
    f = study.analyse(out, discover(out))
    assert f.order == [] and "No tuned arm has finished yet" in study.verdict(f)
    assert not math.isnan(f.selection["dcgan"]["chosen"]["value"])


def test_a_study_stopped_after_one_seed_calls_no_pair_different_or_tied(tmp_path):
    out = _study_dir(tmp_path)
    import shutil

    for arm in sorted((out / FINAL).glob("*/*")):
        for run in arm.glob("seed*"):
            if run.name != "seed0":
                shutil.rmtree(run)
    f = study.analyse(out, discover(out))
    text = study.verdict(f)
    assert f.order == ["dcgan", "vae"] and "dcgan 0.1 (n=1) and vae 0.3 (n=1)" in text
    assert "no pair can be called different or tied yet" in text and "not distinguishable" not in text
    assert "one seed; goal ≤ 0.05: missed" in text and "cannot be tested yet" in text
    assert "significantly better than the VAE" not in text
    # with two seeds of dcgan but one of the VAE, dcgan's own line is testable, the VAE's is not
    shutil.copytree(out / "final/dcgan/tuned/seed0", out / "final/dcgan/tuned/seed1")
    text = study.verdict(study.analyse(out, discover(out)))
    assert "no pair can be called" in text  # the VAE, the only other, has one seed


def test_a_pair_different_yet_within_the_margin_is_not_listed_as_tied(tmp_path):
    # dcgan 0.02 better than the VAE with tiny spread: significant, and inside the margin (0.1 x (0.6 - 0.28))
    values = dict(VALUES) | {("dcgan", "tuned"): [0.280, 0.281, 0.279, 0.280, 0.280]}
    out = _study_dir(tmp_path, values)
    f = study.analyse(out, discover(out))
    (pair,) = f.pairs
    assert pair.different and pair.tied
    text = study.verdict(f)
    assert (
        "(10% of the gap to the random floor; TOST, Holm): none; different but by less than the margin: "
        "dcgan and vae." in text
    ), text
