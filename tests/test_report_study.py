"""The study section of a report: tuned arms ranked and tested, tuned against recipe, the scale's two ends, the
rank at every budget, the goal figures; from result files made here with known values (no training)."""

from __future__ import annotations

import dataclasses
import json
import math
import re
import shutil
from pathlib import Path

import pytest
from test_study import STUDY

from ganbench.io import write_json
from ganbench.report import study, study_page, write_report
from ganbench.report.display import fmt
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
    dcgan = f.primary.group("dcgan")
    assert [o.value for o in dcgan.obs] == pytest.approx(VALUES[("dcgan", "tuned")]) and dcgan.failed == 0
    (pair,) = f.primary.pairs
    assert (
        pair.different and pair.effect == pytest.approx(0.11 - 0.30) and f.primary.letters == {"dcgan": "a", "vae": "b"}
    )
    assert f.primary.primary and "primary family" in f.primary.family
    # the first protocol's rule: margin = 10% of the gap from the best tuned mean (0.11) to the random floor (0.6)
    assert f.primary.bounds == pytest.approx((-0.1 * (0.6 - 0.11), 0.1 * (0.6 - 0.11)))
    assert f.floor.centre == pytest.approx(0.6) and f.ceiling.centre == pytest.approx(0.001)
    vs = f.vs_recipe
    d, v = vs.pair("dcgan · tuned", "dcgan · recipe"), vs.pair("vae · tuned", "vae · recipe")
    assert len(vs.pairs) == 2 and "each variant's selected arm against its recipe" in vs.family
    assert d.different and d.better == "dcgan · tuned" and not d.tied  # tuning helped dcgan by 0.09
    assert not v.different and v.tied  # within 0.0006 of each other, margin 0.049: equivalent
    # the goal figures, for each selected arm (never the best of several arms picked on test)
    assert ["dcgan", "kid20", "0.11", "≤ 0.05", "missed"] in f.goals
    assert ["dcgan", "precision20", "0.45", "≥ 0.4", "met"] in f.goals
    # four evaluated budgets, the same order at each, no flips
    assert [b.kimg for b in f.budgets] == pytest.approx([0.065, 0.129, 0.193, 0.256])
    assert f.stability.settled and not f.stability.flips
    # the ratio-scale re-analysis, post hoc: the geometric means' ratio
    r = f.reanalysis.pair("dcgan", "vae")
    geo = lambda x: math.exp(sum(math.log(v) for v in x) / len(x))  # noqa: E731
    assert r.effect == pytest.approx(geo(VALUES[("dcgan", "tuned")]) / geo(VALUES[("vae", "tuned")]))
    assert f.reanalysis.plan.source == "re-analysis" and "post hoc" in f.reanalysis.plan.label
    lead, details = study_page.verdict(f)
    assert lead.startswith("Best: dcgan kid20 0.11") and "Clearly worse than dcgan: vae by 0.19" in lead
    for phrase in ("random noise 0.6", "two sets of real images 0.001", "no pair the tests order changes"):
        assert phrase in details, (phrase, details)
    assert "(8 training images)" not in details and "widths" in details  # the honest headline: what was compared


def test_a_gan_that_ties_the_vae_is_said_so_and_a_flip_between_budgets_is_found(tmp_path):
    values = dict(VALUES) | {("dcgan", "tuned"): [0.302, 0.304, 0.300, 0.303, 0.301]}  # just behind the VAE
    out = _study_dir(tmp_path, values)
    f = study.analyse(out, discover(out))
    (pair,) = f.primary.pairs
    assert pair.tied and not pair.different
    lead, details = study_page.verdict(f)
    assert f.order == ["vae", "dcgan"] and "not distinguishable from it: dcgan" in lead
    assert "1 is shown equivalent at the margin" in details
    # make dcgan significantly best one budget earlier: the order flips between the last two budgets
    for seed in range(5):
        run = RunDir(out / "final/dcgan/tuned" / f"seed{seed}")
        run.append({"kind": "eval", "kimg": 0.193, KEY: 0.05})
    f = study.analyse(out, discover(out))
    assert f.stability.flips == [("vae", "dcgan")] and not f.stability.settled
    assert "not settled" in study_page.verdict(f)[1]


def test_the_report_leads_with_the_study(tmp_path):
    out = _study_dir(tmp_path)
    write_report(out, real_images=False)
    md = (out / "report" / "report.md").read_text()
    assert md.index("## The study") < md.index("study_forest.png") < md.index("Every run, by evaluation protocol")
    for name in (
        "study_forest.png",
        "study_forest_ratio.png",
        "study_arms.png",
        "study_curves.png",
        "study_search.png",
        "study_best_of_k.png",
        "study_rank_vs_kimg.png",
        "study_samples.png",
    ):
        assert (out / "report" / name).is_file(), name
    assert "Re-analysis on the ratio scale (post hoc)" in md and "Selected against recipe (exploratory)" in md
    assert "dcgan · tuned better" in md and "Goal figures, for each selected arm" in md
    assert "Every seed of every arm" in md and "Spearman" in md
    # no sweep table: a best FID pooled over the search and the test split is not the study's choice
    assert "Sweep: best setting per variant" not in md and not (out / "report" / "sweep.csv").exists()


def test_before_stage_two_the_study_says_nothing_is_compared_yet(tmp_path):
    out = _study_dir(tmp_path)
    import shutil

    shutil.rmtree(out / FINAL)
    f = study.analyse(out, discover(out))
    assert f.order == [] and "No selected arm has finished yet" in study_page.verdict(f)[0]
    assert all(math.isfinite(c.value) for c in f.study.rungs[0].candidates["dcgan"])


def test_a_study_stopped_after_one_seed_calls_no_pair_different_or_tied(tmp_path):
    out = _study_dir(tmp_path)
    import shutil

    for arm in sorted((out / FINAL).glob("*/*")):
        for run in arm.glob("seed*"):
            if run.name != "seed0":
                shutil.rmtree(run)
    f = study.analyse(out, discover(out))
    lead, _ = study_page.verdict(f)
    assert f.order == ["dcgan", "vae"] and "dcgan 0.1 (one seed) and vae 0.3 (one seed)" in lead
    assert "no comparison is possible" in lead and not any(p.different or p.tied for p in f.primary.pairs)
    assert ["dcgan", "kid20", "0.1", "≤ 0.05", "missed"] in f.goals
    # with two seeds of dcgan but one of the VAE, still nothing is tested
    shutil.copytree(out / "final/dcgan/tuned/seed0", out / "final/dcgan/tuned/seed1")
    f = study.analyse(out, discover(out))
    assert not f.primary.tested


def test_a_pair_different_yet_within_the_margin_is_counted_in_both(tmp_path):
    # dcgan 0.02 better than the VAE with tiny spread: significant, and inside the margin (0.1 x (0.6 - 0.28))
    values = dict(VALUES) | {("dcgan", "tuned"): [0.280, 0.281, 0.279, 0.280, 0.280]}
    out = _study_dir(tmp_path, values)
    f = study.analyse(out, discover(out))
    (pair,) = f.primary.pairs
    assert pair.different and pair.tied and pair.call == "dcgan"
    lead, details = study_page.verdict(f)
    assert "Clearly worse than dcgan: vae by 0.02" in lead
    assert "1 of 1 testable pairs differ and 1 is shown equivalent at the margin" in details


def test_the_search_table_says_recipe_where_the_recipe_won(tmp_path):
    out = _study_dir(tmp_path)
    selection = json.loads((out / SELECTION).read_text())
    dcgan = selection["variants"]["dcgan"]
    recipe = {"tag": "recipe", "params": {}, "status": "completed", "values": [0.35], "value": 0.35}
    dcgan["candidates"].append(recipe)
    dcgan["chosen"] = recipe
    (out / SELECTION).write_text(json.dumps(selection))
    write_report(out, real_images=False)
    md = (out / "report" / "report.md").read_text()
    table = md.split("### The search (exploratory)\n\n")[1].split("\n\n")[0].splitlines()
    assert table[0].startswith("| variant | chosen setting |")
    rows = {r.split(" | ")[0].strip("| "): r for r in table}
    assert rows["dcgan"].startswith("| dcgan | recipe | 0.35 |")  # the recipe won: said, not '–'
    vae = selection["variants"]["vae"]["chosen"]["params"]  # a searched setting won: its values
    assert rows["vae"].startswith("| vae | " + ", ".join(f"{k}={fmt(x)}" for k, x in vae.items()) + " |")


def test_a_running_study_says_how_many_final_runs_finished_run_and_wait(tmp_path):
    out = _study_dir(tmp_path)
    runs = sorted((out / FINAL).glob("*/*/seed*"))
    record = json.loads((out / STUDY_JSON).read_text())
    record["stages"] = {  # the final stage as planned: every run folder, started or not
        FINAL: [
            {
                "variant": r.parts[-3],
                "trial": r.parts[-2],
                "seed": int(r.name[4:]),
                "params": {},
                "run_dir": str(r.relative_to(out)),
            }
            for r in runs
        ]
    }
    (out / STUDY_JSON).write_text(json.dumps(record))
    for r in (out / "final/vae/recipe/seed2", out / "final/dcgan/tuned/seed4"):  # not started yet
        shutil.rmtree(r)
    for r in (out / "final/dcgan/tuned/seed3", out / "final/vae/tuned/seed4"):  # running: no summary yet
        (r / "summary.json").unlink()
    for r in (out / FINAL).glob("*/*/seed*/summary.json"):  # the finished runs recorded their reference images
        summary = json.loads(r.read_text())
        r.write_text(json.dumps(summary | {"metric_protocol": {"rank_by": KEY, "reference_sha256": "ab" * 32}}))
    f = study.analyse(out, discover(out))
    lead, _ = study_page.verdict(f)
    assert lead.endswith(
        f"{len(runs) - 4} of {len(runs)} final-stage runs finished, 2 running, 2 not started: the study is still "
        "running."
    )
    assert "have not finished" not in lead
    write_report(out, real_images=False)
    md = (out / "report" / "report.md").read_text()
    # the runs in progress join their protocol's section (the final stage's), not one of their own
    assert re.findall(r"^## Protocol (\d): .*\(split (\w+)\)", md, re.M) == [("1", "test"), ("2", "train")]
    assert "run still in progress: final/dcgan/tuned/seed3 has no summary.json yet" in md


MODES = {"dcgan": [900.0, 910.0, 905.0, 895.0, 915.0], "vae": [950.0, 960.0, 955.0, 945.0, 965.0]}


def _with_modes(out: Path, modes: dict) -> None:
    """Give each selected arm's runs a second lens (modes20, higher is better) beside kid20, and the baselines
    theirs: random 1 mode, real 1,000."""
    for path in (out / "final").glob("*/*/seed*/summary.json"):
        variant, arm, seed = path.parts[-4], path.parts[-3], int(path.parts[-2].removeprefix("seed"))
        s = json.loads(path.read_text())
        if arm == "tuned" and variant in modes:
            s["final"]["modes20"] = modes[variant][seed]
        elif variant in ("random", "real"):
            s["final"]["modes20"] = 1.0 if variant == "random" else 1000.0
        path.write_text(json.dumps(s))


@pytest.mark.parametrize("flip", [False, True])
def test_each_metric_of_the_second_lens_is_compared_as_its_own_family(tmp_path, flip):
    """Issue 28: the mode count gets the primary metric's statistics (its own family, the plan's scale and
    margin, the scale's two ends), in the direction the metric says is better."""
    out = _study_dir(tmp_path)
    modes = {v: [2000 - x for x in xs] for v, xs in MODES.items()} if flip else MODES
    _with_modes(out, modes)
    f = study.analyse(out, discover(out))
    assert [s.comparison.key for s in f.second_lens] == ["modes20"]
    (s,) = f.second_lens
    best, worst = ("dcgan", "vae") if flip else ("vae", "dcgan")
    (pair,) = s.comparison.pairs
    assert s.comparison.order == [best, worst] and pair.different and pair.better == best
    assert "on modes20 (exploratory)" in s.comparison.family and s.floor.centre == 1 and s.ceiling.centre == 1000
    write_report(out, real_images=False)
    md = (out / "report" / "report.md").read_text()
    assert "modes20: the selected arms through the second lens (exploratory, its own family)" in md
    assert f"Best: {best} modes20" in md and (out / "report" / "study_forest_modes20.png").is_file()
    seeds = md[md.index("#### Every seed of every arm, modes20") :]
    assert f"| 1 | {best} |" in seeds and ", ".join(fmt(x) for x in modes[best]) in seeds


def test_a_study_without_a_second_lens_has_no_such_section(tmp_path):
    out = _study_dir(tmp_path)
    assert study.analyse(out, discover(out)).second_lens == []
    write_report(out, real_images=False)
    assert "second lens" not in (out / "report" / "report.md").read_text()


def test_curves_measured_on_fewer_images_than_the_final_value_still_say_whether_they_levelled(tmp_path):
    """A study that evaluates kid10 along the way and kid20 at the end (eval_samples_during): the headline reads
    the curves on kid10 (the fixture's curves still fall 1/7 between the last two points: not levelled)."""
    out = _study_dir(tmp_path)
    for path in (out / "final").glob("*/*/seed*/metrics.jsonl"):
        lines = [json.loads(x) for x in path.read_text().splitlines()]
        evals = [e for e in lines if e.get("kind") == "eval"]
        for e in evals[:-1]:
            e["kid10"] = e.pop(KEY)
        path.write_text("".join(json.dumps(e) + "\n" for e in lines))
    f = study.analyse(out, discover(out))
    assert f.levels_key == "kid10" and f.levels and not any(x.levelled for x in f.levels)
    lead, _ = study_page.verdict(f)
    assert "Still improving at 0.193 kimg: mean kid10 improved by" in lead, lead
    (tmp_path / "plain").mkdir()
    plain = study.analyse(_study_dir(tmp_path / "plain"), discover(tmp_path / "plain" / "out"))
    assert plain.levels_key == KEY  # curves on the final metric itself: read on it


def test_a_forest_of_a_higher_is_better_metric_says_so_and_keeps_its_end_labels_inside(tmp_path, monkeypatch):
    from ganbench.report.figures import canvas

    figs = {}
    save = canvas.save
    monkeypatch.setattr(canvas, "save", lambda fig, path: figs.setdefault(Path(path).name, fig) and save(fig, path))
    out = _study_dir(tmp_path)
    _with_modes(out, MODES)
    write_report(out, real_images=False)
    for name, better, floor_ha, ceiling_ha in (
        ("study_forest.png", "lower", "right", "left"),  # kid20: the floor on the right, its label to its left
        ("study_forest_modes20.png", "higher", "left", "right"),  # modes: the floor on the left
    ):
        ax = figs[name].axes[0]
        assert ax.get_xlabel().endswith(f"({better} is better)"), (name, ax.get_xlabel())
        labels = {t.get_text().split()[0]: t.get_ha() for t in ax.texts if t.get_text().strip()[:4] in ("rand", "real")}
        assert labels == {"random": floor_ha, "real": ceiling_ha}, (name, labels)


def _halving_dir(tmp_path: Path, rung2_done: bool = True, text: str | None = None) -> tuple[Path, dict]:
    """A three-stage study (rung1 -> rung2 by successive halving -> final) written as `ganbench study` writes it,
    with known values: both variants keep draw 0 at rung 1 (tags repeat across variants), the dcgan recipe wins,
    the VAE's recipe is out at rung 1."""
    from test_study import STUDY2

    from ganbench.study.run import StudyOptions, _plan_known, _record

    path = tmp_path / "s2.toml"
    path.write_text(text or STUDY2)
    spec = load_study(path)
    out = tmp_path / "out"
    rung1_values = {"recipe": 0.20, 0: 0.10, 1: 0.30, 2: 0.40}  # per candidate: the recipe, then draw i
    rung2_values = {("dcgan", "recipe"): (0.04, 0.09), ("vae", 0): (0.05, 0.05)}
    final_values = {("dcgan", "tuned"): 0.05, ("dcgan", "recipe"): 0.05, ("vae", "tuned"): 0.2, ("vae", "recipe"): 0.3}
    draws = [c.tag for c in S.candidates(spec)["dcgan"] if c.tag != RECIPE_TAG]
    last = len(spec.stages) - 1
    for stage in range(last + 1):
        planned, selections, _, _ = _plan_known(spec, out)
        trials = planned[stage][:1] if stage == 1 and not rung2_done else planned[stage]
        for t in trials:
            if stage == 0:
                key = "recipe" if t.candidate == RECIPE_TAG else draws.index(t.candidate)
                value = rung1_values[key] * ((2.5 if key == "recipe" else 1.5) if t.cfg.variant == "vae" else 1.0)
            elif stage < last:
                key = "recipe" if t.candidate == RECIPE_TAG else draws.index(t.candidate)
                value = rung2_values.get((t.cfg.variant, key), (0.2, 0.2))[t.cfg.seed]
            else:
                value = final_values.get((t.cfg.variant, t.arm), 0.6) * (1 + 0.02 * t.cfg.seed)
            run = RunDir(t.run_dir)
            run.path.mkdir(parents=True, exist_ok=True)
            run.write_meta({"config": t.cfg.to_dict()})
            run.append({"kind": "eval", "kimg": 0.128, "kid20": value})
            run.write_summary(summary_head(t.cfg, t.run_dir), Status.COMPLETED, final={"kid20": value})
        if stage == 1 and not rung2_done:
            break
    planned, selections, _, _ = _plan_known(spec, out)
    _record(spec, out, StudyOptions(file=str(path)), "local", planned, selections, {}, True)
    return out, {"draws": draws}


RECIPE_TAG = "recipe"


def test_a_halving_study_reports_the_last_rungs_choice_and_ranks_candidates_per_variant(tmp_path):
    """The search table names the setting the last rung chose (its value there: the geometric mean of its two
    seeds) and how far each recipe got; rank correlations count a candidate per variant, though tags repeat."""
    out, known = _halving_dir(tmp_path)
    f = study.analyse(out, discover(out))
    assert [r.name for r in f.study.rungs] == ["rung1", "rung2"] and f.study.pending == []
    assert "narrowed by successive halving on the train split" in f.study.search_text
    assert "0.064kimg (4 per variant, 1 seed) → 0.128kimg (best half: 2, 2 seeds)" in f.study.search_text
    assert "the recipe + 3 lhs draws" in study_page.headline(f)
    # rung1 vs rung2: 2 candidates kept per variant, draw 0 by both: 4 items (one per variant and tag), not 3
    rows = dict(f.rung_correlation)
    assert rows["rung1 vs rung2 (candidates, pooled over variants)"].n == 4
    write_report(out, real_images=False)
    md = (out / "report" / "report.md").read_text()
    table = md.split("### The search (exploratory)\n\n")[1].split("\n\n")[0].splitlines()
    assert table[0] == (
        "| variant | chosen setting | its kid20 on train at 0.128kimg | the recipe | range over the candidates at "
        "0.064kimg |"
    )
    cells = {r.split(" | ")[0].strip("| "): [x.strip(" |") for x in r.split(" | ")] for r in table[2:]}
    assert cells["dcgan"][1:4] == ["recipe", fmt(math.sqrt(0.04 * 0.09)), "selected (rank 1 of 2 at rung2)"]
    assert cells["vae"][1].startswith("lr_g=") and cells["vae"][2] == fmt(0.05)
    assert cells["vae"][3] == "out at rung1 (rank 3 of 4)"  # 0.5, behind draws 0 and 1 (0.15, 0.45)
    assert cells["vae"][4] == f"{fmt(0.15)} .. {fmt(0.6)} (4 of 4)"
    rho = rows["rung1 vs rung2 (candidates, pooled over variants)"].spearman
    assert (
        "Only the first rung (rung1, 0.064kimg) scored every candidate, so the curves are its scores; its ranking of "
        f"the candidates that reached rung2 agrees with that rung's by Spearman's rho {fmt(rho)} over 4" in md
    )


def test_a_halving_study_whose_last_rung_runs_chooses_nothing_yet(tmp_path):
    out, _ = _halving_dir(tmp_path, rung2_done=False)
    f = study.analyse(out, discover(out))
    assert f.study.pending == ["rung2"]
    (tmp_path / "r").mkdir()
    _, table, *_ = study_page._search_blocks(f, tmp_path / "r", {"dcgan": "C0", "vae": "C1"})[0]
    assert {r[0]: r[1] for r in table.rows} == {v: "not chosen yet (rung2 still running)" for v in ("dcgan", "vae")}
    assert [r[3] for r in table.rows] == ["in rung2 (still running)", "out at rung1 (rank 3 of 4)"]


def test_a_study_of_recipes_alone_shows_no_search(tmp_path):
    """Issue 28's kind of study: each variant's recipe its only candidate, a short stage to carry it on; the
    headline says there was no search, and no search section or rung correlation is drawn from one candidate."""
    from test_study import STUDY2

    text = STUDY2.replace("trials = 3", "trials = 0").replace(
        '[[stages]]\nname = "rung2"\nkind = "halving"\nkeep = 0.5\nbudget = "0.128kimg"\nsplit = "train"\n'
        "seeds = [0, 1]\n",
        "",
    )
    assert "halving" not in text
    out, _ = _halving_dir(tmp_path, text=text)
    f = study.analyse(out, discover(out))
    assert [r.name for r in f.study.rungs] == ["rung1"] and not f.study.searched
    assert "(G/D); no search: each variant's own recipe; each selected setting" in study_page.headline(f)
    assert f.rung_correlation == [] and f.best_of_k == {}
    write_report(out, real_images=False)
    md = (out / "report" / "report.md").read_text()
    assert "### The search" not in md and not (out / "report" / "study_search.png").exists()


def test_a_study_with_no_finished_arm_lines_nothing_up_against_another(tmp_path):
    """--against while this study's final stage has not finished a run: a warning, no empty agreement section."""
    (tmp_path / "done").mkdir()
    (tmp_path / "running").mkdir()
    done = _study_dir(tmp_path / "done")
    running = _study_dir(tmp_path / "running")
    shutil.rmtree(running / FINAL)
    report = write_report(running, real_images=False, against=(done,))
    assert f"--against {done}: no selected arm has finished in {running} yet; nothing to line up" in report.warnings
    md = (running / "report" / "report.md").read_text()
    assert "where the rankings agree" not in md and not (running / "report" / "agreement.png").exists()
    both = write_report(done, tmp_path / "both", real_images=False, against=(done,))
    assert not any("nothing to line up" in w for w in both.warnings)
    assert "where the rankings agree" in (tmp_path / "both" / "report.md").read_text()
