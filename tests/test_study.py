"""Studies (`ganbench study`): the same search for every variant, selection on one split, the answer on another."""

from __future__ import annotations

import math
import random
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from ganbench.commands import app
from ganbench.config import load_recipe, make_config
from ganbench.errors import ConfigError
from ganbench.io import read_json
from ganbench.rundir import RunDir, State, Status
from ganbench.study import cost, load_record, load_study, numerics
from ganbench.study import selection as SEL
from ganbench.study import stages as S
from ganbench.study.layout import FINAL, SEARCH, TUNED
from ganbench.study.layout import STUDY as STUDY_JSON
from ganbench.sweep.search import _latin_hypercube, search_points
from ganbench.sweep.spec import Sweep

STUDY = """
[study]
name = "tiny"
variants = ["dcgan", "vae"]
baselines = ["random", "real"]
[data]
dataset = "synthetic"
resolution = 16
max_images = 256
[settings]
g_width = 8
d_width = 8
latent_dim = 8
batch_size = 16
eval_samples = 20
tick_kimg = 0.064
device = "cpu"
[search]
budget = "0.064kimg"
trials = 2
seeds = [0]
split = "train"
[search.space]
lr_g = {log_uniform = [1e-4, 1e-3]}
n_critic = {choice = [1, 2]}
[final]
budget = "0.128kimg"
seeds = [0, 1]
recipe_seeds = [0]
split = "test"
[final.settings]
eval_every_kimg = 0.064
"""


def write(tmp_path: Path, text: str = STUDY, name: str = "s.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def plan_stage(study, out: Path, index: int, chosen=None, previous=()) -> list[S.StudyTrial]:
    """Stage `index`'s trials, from `chosen` candidates (default: every candidate of the search)."""
    chosen = S.candidates(study) if chosen is None else chosen
    return S.KINDS[study.stages[index].kind].plan(S.Context(study, index, out, chosen, list(previous)))


def plan_search(study, out: Path) -> list[S.StudyTrial]:
    return plan_stage(study, out, 0)


def select(study, trials) -> dict:
    return SEL.choose(study, 0, SEL.score(study, 0, trials))["variants"]


def plan_final(study, out: Path, chosen: dict[str, dict]) -> list[S.StudyTrial]:
    """The final stage with each variant's chosen params (variant -> {"params": ...})."""
    cands = {v: [S.Candidate(v, "chosen", c["params"])] for v, c in chosen.items()}
    return plan_stage(study, out, len(study.stages) - 1, cands)


def test_latin_hypercube_covers_every_stratum_of_every_range_once():
    space = {
        "lr_g": ("log_uniform", [1e-5, 1e-1]),
        "beta1": ("uniform", [0.0, 0.9]),
        "n_critic": ("choice", [1, 5]),
        "batch_size": ("int_uniform", [16, 19]),
    }
    points = _latin_hypercube(space, 4, random.Random(3))
    strata = lambda xs: sorted(int(x * 4) for x in xs)  # noqa: E731
    assert strata(math.log(p["lr_g"] / 1e-5) / math.log(1e4) for p in points) == [0, 1, 2, 3]
    assert strata(p["beta1"] / 0.9 for p in points) == [0, 1, 2, 3]
    assert sorted(p["n_critic"] for p in points) == [1, 1, 5, 5]  # two choices, four draws: two each
    assert sorted(p["batch_size"] for p in points) == [16, 17, 18, 19]
    assert points == _latin_hypercube(space, 4, random.Random(3))  # reproducible
    assert points != _latin_hypercube(space, 4, random.Random(4))
    # independent draws are allowed to bunch up; the hypercube is not: over 200 seeds it never does
    bunched = sum(len({p["n_critic"] for p in _latin_hypercube(space, 4, random.Random(s))}) == 1 for s in range(200))
    assert bunched == 0
    sweep = Sweep("x", ("dcgan",), (0,), {}, mode="lhs", space=space, trials=4, search_seed=3)
    assert search_points(sweep) == points


@pytest.mark.parametrize(
    "edit, message",
    [
        (('split = "test"', 'split = "train"'), "overlap"),
        (("[final]\nbudget", "[final]\nbudgte = 1\nbudget"), "Did you mean 'budget'"),
        (("trials = 2", "trials = 0"), "trials = K"),
        (('name = "tiny"', 'name = "tiny"\nequivalence_margin = 2'), "between 0 and 1"),
        (('name = "tiny"', 'name = "tiny"\nmetric = "precision"'), "unknown [study] metric"),
        (("eval_every_kimg = 0.064", 'eval_split = "val"'), "stage's split"),
        (('device = "cpu"', 'device = "cpu"\nlr_g = 1e-4'), "both fixed and searched"),
        (("seeds = [0, 1]", "seeds = [0, 0]"), "must not repeat"),
        (('baselines = ["random", "real"]', 'baselines = ["dcgan"]'), "repeat a baseline"),
    ],
)
def test_study_file_errors_name_the_problem(tmp_path, edit, message):
    path = write(tmp_path, STUDY.replace(*edit))
    with pytest.raises(ConfigError, match=message.replace("[", r"\[")):
        load_study(path)


def test_stage_one_draws_the_same_settings_for_every_variant(tmp_path):
    study = load_study(write(tmp_path))
    trials = plan_search(study, tmp_path / "out")
    by_variant = {}
    for t in trials:
        by_variant.setdefault(t.cfg.variant, []).append(t.params)
    assert [p["lr_g"] for p in by_variant["dcgan"]] == [p["lr_g"] for p in by_variant["vae"]]
    assert all("n_critic" not in p for p in by_variant["vae"])  # projected: no critic in a VAE
    assert all(t.cfg.eval_split == "train" and t.cfg.budget == "0.064kimg" for t in trials)
    assert {t.run_dir.parent.parent.parent.name for t in trials} == {SEARCH}
    assert [s.kind for s in study.stages] == [S.SEARCH, FINAL] and study.format == 1 and not study.plan.declared


def _finish(trial, status: str, value: float | None, metric: str = "kid20") -> None:
    run = RunDir(trial.run_dir)
    run.path.mkdir(parents=True, exist_ok=True)
    run.write_summary({"variant": trial.cfg.variant}, status, final={} if value is None else {metric: value})


def test_selection_takes_the_lowest_value_and_waits_for_unfinished_candidates(tmp_path):
    study = load_study(write(tmp_path))
    trials = plan_search(study, tmp_path / "out")
    dcgan = [t for t in trials if t.cfg.variant == "dcgan"]
    vae = [t for t in trials if t.cfg.variant == "vae"]
    _finish(dcgan[0], Status.COMPLETED, 0.30)
    _finish(dcgan[1], Status.DIVERGED, None)  # a divergence is the worst result, not a missing one
    _finish(vae[0], Status.COMPLETED, 0.50)
    _finish(vae[1], Status.FAILED, None)  # an error: the study waits for it to be run again
    sel = select(study, trials)
    assert sel["dcgan"]["chosen"] == [dcgan[0].candidate]
    assert [c["score"] for c in sel["dcgan"]["candidates"]] == [0.30, None]  # None: no value (a failure)
    assert [c["values"] for c in sel["dcgan"]["candidates"]] == [[0.30], [None]]
    assert sel["vae"]["chosen"] == [] and sel["vae"]["waiting"] == [vae[1].candidate]
    _finish(vae[1], Status.COMPLETED, 0.20)
    assert select(study, trials)["vae"]["chosen"] == [vae[1].candidate]
    _finish(dcgan[0], Status.DIVERGED, None)  # every draw diverged: nothing to carry forward
    assert select(study, trials)["dcgan"]["chosen"] == []


def test_stage_two_trains_the_chosen_setting_and_the_recipe_seed_major(tmp_path):
    study = load_study(write(tmp_path))
    sel = {"dcgan": {"params": {"lr_g": 3e-4, "n_critic": 2}}, "vae": {"params": {}}}
    trials = plan_final(study, tmp_path / "out", sel)
    assert [t.trial.label for t in trials] == [
        "dcgan/tuned/seed0",
        "dcgan/recipe/seed0",
        "vae/tuned/seed0",
        "vae/recipe/seed0",
        "random/recipe/seed0",
        "real/recipe/seed0",
        "dcgan/tuned/seed1",
        "vae/tuned/seed1",
        "random/recipe/seed1",
        "real/recipe/seed1",
    ]
    tuned = trials[0].cfg
    recipe = make_config(load_recipe("dcgan"))
    assert (tuned.lr_g, tuned.n_critic, tuned.lr_d) == (3e-4, 2, recipe.lr_d)
    assert (trials[1].cfg.lr_g, trials[1].cfg.n_critic) == (recipe.lr_g, recipe.n_critic)
    assert all(
        t.cfg.eval_split == "test" and t.cfg.budget == "0.128kimg" and t.cfg.eval_every_kimg == 0.064 for t in trials
    )
    assert trials[0].run_dir == tmp_path / "out" / FINAL / "dcgan" / TUNED / "seed0"


def test_the_estimate_counts_every_evaluation_and_prefers_measured_rates(tmp_path):
    study = load_study(
        write(
            tmp_path,
            STUDY.replace("[cost]", "") + "[cost]\ntrain_img_per_s = {default = 64, "
            "vae = 128}\neval_img_per_s = 10\n"
            "trial_overhead_s = 1\n",
        )
    )
    dcgan = make_config(load_recipe("dcgan"), **S.stage_settings(study, study.final), seed=0)
    # 128 images at 64 img/s, evaluations at 64 (during) and 128 (final) images: 2 x 20 images at 10 img/s
    assert cost.trial_seconds(study, dcgan) == pytest.approx(1 + 2 + 4)
    assert cost.trial_seconds(study, dcgan, {"dcgan": 128, "eval": 20}) == pytest.approx(1 + 1 + 2)
    # a run continued from 64 images: 64 images left to train, the final evaluation only
    assert cost.trial_seconds(study, dcgan, start_img=64) == pytest.approx(1 + 1 + 2)
    noise = make_config(load_recipe("random"), **S.stage_settings(study, study.final), seed=0)
    assert cost.trial_seconds(study, noise) == pytest.approx(1 + 2)  # one evaluation, nothing trained
    big = make_config(
        load_recipe("dcgan"),
        **(S.stage_settings(study, study.final) | {"budget": "300kimg", "eval_every_kimg": 75, "eval_samples": 500}),
        seed=0,
    )
    assert cost.evaluations(big) == [500, 500, 500, 500]  # 75, 150, 225 and the final one at 300
    assert cost.evaluations(big, start_img=100_000) == [500, 500, 500]  # continued from 100 kimg: 150, 225, 300


def test_real_line_draws_disjoint_blocks_and_never_the_reference():
    from ganbench.families import real

    images = torch.arange(100, dtype=torch.uint8).view(100, 1, 1, 1).expand(100, 1, 2, 2).contiguous()
    cfg = lambda seed, split="test": make_config(  # noqa: E731
        load_recipe("real"),
        eval_samples=10,
        eval_split=split,
        resolution=16,
        seed=seed,
    )
    block = lambda c: set(  # noqa: E731
        ((real.sampler(c, images, torch.device("cpu"), 0)(10) + 1) * 127.5).round()[:, 0, 0, 0].int().tolist()
    )
    blocks = [block(cfg(s)) for s in range(3)]
    assert all(len(b) == 10 for b in blocks) and not (blocks[0] & blocks[1]) and not (blocks[1] & blocks[2])
    assert block(cfg(0)) == blocks[0]  # the same seed, the same images
    train_ref = [block(cfg(s, "train")) for s in range(9)]  # the reference is train's first 10: never drawn
    assert all(min(b) >= 10 for b in train_ref) and len(set().union(*train_ref)) == 90
    with pytest.raises(ValueError, match="use seeds below 9"):
        real.sampler(cfg(9, "train"), images, torch.device("cpu"), 0)


def test_cifar10_class_folders_hold_out_val_and_interleave_classes(tmp_path, monkeypatch):
    from PIL import Image

    from ganbench.data import DataSpec, load_dataset

    monkeypatch.setenv("GANBENCH_CACHE", str(tmp_path / "cache"))
    for part, n in (("train", 20), ("test", 5)):
        for c, name in enumerate(("cat", "dog")):
            (tmp_path / "c10" / part / name).mkdir(parents=True)
            for i in range(n):  # red channel: class, green channel: index within the class
                Image.new("RGB", (32, 32), (100 * c, i, 7)).save(tmp_path / "c10" / part / name / f"{i:04d}.png")
    load = lambda split: load_dataset(DataSpec("cifar10", str(tmp_path / "c10"), 32, split=split))  # noqa: E731
    pix = lambda s: [(int(x[0, 0, 0]) // 100, int(x[1, 0, 0])) for x in s.images]  # noqa: E731
    train, val, test = load("train"), load("val"), load("test")
    assert pix(val) == [(0, 9), (1, 9), (0, 19), (1, 19)]  # every 10th of each class, classes alternating
    assert (
        len(train) == 36 and not set(pix(train)) & set(pix(val)) and pix(train)[:4] == [(0, 0), (1, 0), (0, 1), (1, 1)]
    )
    assert len(test) == 10 and len(load("heldout")) == 10 and len(load("all")) == 50
    assert "held out of train" in train.protocol["split"] and train.protocol["file_format"] == ".png"


def _first_trial_finished_in(tmp_path: Path, settings: dict):
    """Stage 1 of the tiny study with its first trial finished under device `settings`: (trials, states)."""
    from ganbench.rundir import DEVICE_SETTINGS, State

    trials = plan_search(load_study(write(tmp_path)), tmp_path / "out")
    done = RunDir(trials[0].run_dir)
    done.path.mkdir(parents=True, exist_ok=True)
    done.write_meta({"config": trials[0].cfg.to_dict(), DEVICE_SETTINGS: settings})
    return trials, {trials[0].run_dir: State.COMPLETED} | {t.run_dir: State.NEW for t in trials[1:]}


def test_a_stage_about_to_mix_arithmetic_says_so(tmp_path):
    """precision auto resolves per host: finishing a stage on a host that resolves it otherwise is announced."""
    from ganbench.device import pick_device, resolve
    from ganbench.rundir import State

    trials = plan_search(load_study(write(tmp_path)), tmp_path / "out")
    assert trials[0].cfg.precision == "auto"
    here = resolve(trials[0].cfg, pick_device("cpu")).to_dict()
    other = (
        {"device": "cpu", "precision": "fp32", "arithmetic": "fp32 ieee"}
        if here["precision"] == "bf16"
        else {"device": "cpu", "precision": "bf16", "arithmetic": "bf16 autocast cpu amx"}
    )
    left = trials[1:]

    trials, states = _first_trial_finished_in(tmp_path, other)
    note = numerics.check(trials, states, pinned=False, allow=False)
    assert note is not None and f"this host trains in {numerics.arithmetic(here)}" in note
    assert f"1 trial(s) of this study already trained in {numerics.arithmetic(other)}" in note
    assert f"the {len(left)} left" in note
    with pytest.raises(ConfigError, match="pins its precision.*--allow-mixed-arithmetic"):
        numerics.check(trials, states, pinned=True, allow=False)  # a pinned study refuses to mix
    assert "note:" in numerics.check(trials, states, pinned=True, allow=True)
    trials, states = _first_trial_finished_in(tmp_path, here)
    assert numerics.check(trials, states, pinned=True, allow=False) is None  # the same arithmetic: nothing to say
    trials, states = _first_trial_finished_in(tmp_path, other)
    assert numerics.mix(trials, {t.run_dir: State.COMPLETED for t in trials}) is None  # nothing left to run


def test_the_arithmetic_note_leaves_a_missing_device_to_the_trials(tmp_path, monkeypatch):
    import ganbench.device

    trials, states = _first_trial_finished_in(tmp_path, {"precision": "x"})
    assert numerics.mix(trials, states) is not None  # x is no arithmetic this host resolves to

    def missing(name):
        raise ValueError("--device cuda: no CUDA GPU here; use --device cpu")

    monkeypatch.setattr(ganbench.device, "pick_device", missing)
    assert numerics.mix(trials, states) is None


def test_a_tiny_study_runs_both_stages_and_a_rerun_has_nothing_left(tmp_path, monkeypatch, one_thread):
    """The whole command, with a stand-in evaluator (real Inception on a CPU takes minutes)."""
    import ganbench.metrics

    class FakeEvaluator:
        names = ["kid20"]
        protocol = {"fake": True}

        def __call__(self, sample, **kw):
            return {"kid20": float(sample(8).mean()) + 1.0}

    monkeypatch.setattr(ganbench.metrics, "build_evaluator", lambda *a, **k: FakeEvaluator())
    path = write(
        tmp_path,
        STUDY.replace('baselines = ["random", "real"]', 'baselines = ["random"]').replace(
            'variants = ["dcgan", "vae"]', 'variants = ["vae"]'
        ),
    )
    out = tmp_path / "out"
    dry = CliRunner().invoke(app, ["study", str(path), "--out", str(out), "--dry-run"])
    assert dry.exit_code == 0 and "stage 1 (search): 2 trials" in dry.output and not out.exists(), dry.output
    res = CliRunner().invoke(app, ["study", str(path), "--out", str(out)])
    assert res.exit_code == 0, res.output
    record = load_record(out)
    selection = record.stage(SEARCH).selection
    values = {c.tag: c.value for c in selection.candidates["vae"]}
    assert values[selection.selected("vae")] == min(values.values()) and len(values) == 2
    finals = sorted(str(p.parent.relative_to(out)) for p in out.rglob("summary.json") if FINAL in p.parts)
    assert finals == [
        "final/random/recipe/seed0",
        "final/random/recipe/seed1",
        "final/vae/recipe/seed0",
        "final/vae/tuned/seed0",
        "final/vae/tuned/seed1",
    ]
    tuned = read_json(out / "final/vae/tuned/seed1/trial.json")
    chosen = next(c for c in selection.candidates["vae"] if c.tag == selection.selected("vae"))
    assert tuned["params"] == chosen.params and tuned["trial"] == TUNED
    evals = [r for r in RunDir(out / "final/vae/tuned/seed0").records() if r.get("kind") == "eval"]
    assert [r["kimg"] for r in evals] == [0.064, 0.128]  # the curve point and the final evaluation
    study = read_json(out / STUDY_JSON)
    assert study["study"]["metric_name"] == "kid20" and len(study["stages"][1]["trials"]) == 5
    assert record.format == 2 and record.plan_hash_recorded == record.plan.sha256() and record.plan_changed is False
    again = CliRunner().invoke(app, ["study", str(path), "--out", str(out)])
    assert again.exit_code == 0 and "2 trials, 0 to run" in again.output and "5 trials, 0 to run" in again.output


def _folder_without_test_images(root: Path, n: int = 40) -> Path:
    """`n` small PNGs, each named so that the folder's path-hash split puts it in train or val, none in test."""
    from PIL import Image

    from ganbench.data.folder import split_of

    root.mkdir(parents=True)
    names = [m for m in (f"{i:05d}.png" for i in range(4 * n)) if split_of(m) != "test"][:n]
    for k, name in enumerate(names):
        Image.new("RGB", (20, 20), (6 * k, 255 - 6 * k, 128)).save(root / name)
    return root


FOLDER_STUDY = STUDY.replace('dataset = "synthetic"', 'dataset = "folder"').replace('split = "train"', 'split = "val"')


def test_a_study_whose_report_split_is_empty_stops_before_its_search(tmp_path, monkeypatch):
    """Every stage's data set and split is found before the first trial: an empty test split stops the study with
    one line before the search runs, not after it."""
    import ganbench.metrics

    monkeypatch.setattr(ganbench.metrics, "build_evaluator", lambda *a, **k: pytest.fail("a trial started"))
    root = _folder_without_test_images(tmp_path / "imgs")
    out = tmp_path / "out"
    res = CliRunner().invoke(
        app, ["study", str(write(tmp_path, FOLDER_STUDY)), "--set", f"data={root}", "--out", str(out)]
    )
    assert res.exit_code == 2 and "Traceback" not in res.output, res.output
    assert res.output.splitlines()[-1].startswith(f"ganbench: error: none of the 40 images under '{root}'")
    assert "split 'test'" in res.output.splitlines()[-1]
    assert not any(p.name in ("trial.json", "summary.json", "config.json") for p in out.rglob("*"))


@pytest.mark.parametrize("empty", [True, False])
def test_a_dry_run_says_what_the_data_pre_flight_would_stop_at(tmp_path, empty):
    """--dry-run prints the plan either way, and a note where the real start would stop (an empty test split)."""
    root = tmp_path / "imgs"
    if empty:
        _folder_without_test_images(root)
    else:
        _folder_without_test_images(root, 200)  # plenty: still none in test, so add test images
        from PIL import Image

        from ganbench.data.folder import split_of

        for name in [m for m in (f"t{i:05d}.png" for i in range(400)) if split_of(m) == "test"][:20]:
            Image.new("RGB", (20, 20), (9, 99, 199)).save(root / name)
    out = tmp_path / "out"
    args = ["study", str(write(tmp_path, FOLDER_STUDY)), "--set", f"data={root}", "--out", str(out), "--dry-run"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0 and "stage 1" in res.output, res.output
    note = "note: the real start would stop before its first trial: none of the"
    assert (note in res.output) == empty, res.output
    assert not out.exists() or not any(out.rglob("*.json"))


def test_the_data_pre_flight_checks_the_stages_still_to_run(tmp_path, monkeypatch):
    from ganbench.data import datasets
    from ganbench.study import run as R

    study = load_study(write(tmp_path, FOLDER_STUDY), {"data": str(tmp_path)})
    checked = []
    monkeypatch.setattr(datasets, "check_source", lambda spec: checked.append(spec.split))
    search = plan_search(study, tmp_path / "out")
    final = plan_final(study, tmp_path / "out", {"dcgan": {"params": {}}, "vae": {"params": {}}})
    new = {t.run_dir: State.NEW for t in search + final}
    for states, expected in [
        (new, ["test", "train", "val"]),  # nothing ran yet: every stage's splits
        (new | {t.run_dir: State.COMPLETED for t in search}, ["test", "train"]),  # the search is done: the final's
        ({t.run_dir: State.COMPLETED for t in search + final}, []),  # all done: nothing to read
        ({t.run_dir: State.COMPLETED for t in search}, ["test", "train"]),  # the final not planned yet
    ]:
        checked.clear()
        planned = [search, final] if set(states) > {t.run_dir for t in search} else [search]
        R.check_data(study, planned, states)
        assert sorted(checked) == expected


@pytest.mark.parametrize("name", ["celeba32", "cifar10"])
def test_shipped_study_files_plan_within_their_stated_cost(name, tmp_path):
    """The shipped studies: six variants searched with the same K, splits that never meet, and the printed plan's
    figures (the study files' comments quote them)."""
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "studies" / f"{name}.toml"
    study = load_study(path, {"data": str(tmp_path)})  # the data folder is only read when a trial runs
    assert len(study.variants) >= 6 and study.search.trials >= 4 and study.search.mode == "lhs"
    assert (study.stages[0].split, study.final.split) == ("val", "test") and study.metric_name() == "kid500"
    search = plan_search(study, tmp_path / "out")
    assert len(search) == len(study.variants) * study.search.trials
    est = cost.estimate(study, [search], {v: len(c) for v, c in S.candidates(study).items()}, {}, {})
    hours = {"celeba32": (1.0, 6.3), "cifar10": (1.0, 2.4)}[name]
    assert tuple(round(s["seconds"] / 3600, 1) for s in est["stages"]) == hours


STUDY2 = """
[study]
name = "tiny2"
variants = ["dcgan", "vae"]
baselines = ["random"]
[analysis]
metric = "kid"
scale = "log"
margin = [0.8, 1.25]
goals = {kid = 0.05}
[power]
cv = 0.15
[data]
dataset = "synthetic"
resolution = 16
max_images = 256
[settings]
g_width = 8
d_width = 8
latent_dim = 8
batch_size = 16
eval_samples = 20
tick_kimg = 0.032
device = "cpu"
precision = "fp32"
[search]
trials = 3
recipe = true
[search.space]
lr_g = {log_uniform = [1e-4, 1e-3]}
[[stages]]
name = "rung1"
kind = "search"
budget = "0.064kimg"
split = "train"
seeds = [0]
[[stages]]
name = "rung2"
kind = "halving"
keep = 0.5
budget = "0.128kimg"
split = "train"
seeds = [0, 1]
[[stages]]
name = "final"
kind = "final"
budget = "0.128kimg"
split = "test"
seeds = [0, 1]
"""


@pytest.mark.parametrize(
    "edit, message",
    [
        (('scale = "log"', 'scale = "logit"'), "unknown [analysis] scale"),
        (("margin = [0.8, 1.25]", "margin = [1.1, 1.25]"), "ratio range around 1"),
        (('name = "rung2"\nkind = "halving"\nkeep = 0.5', 'name = "rung2"\nkind = "halving"'), "needs keep"),
        (('budget = "0.128kimg"\nsplit = "train"', 'budget = "0.032kimg"\nsplit = "train"'), "this one is larger"),
        (('name = "rung1"\nkind = "search"', 'name = "rung1"\nkind = "halving"\nkeep = 0.5'), "cannot be first"),
        (('split = "test"', 'split = "train"'), "overlap"),
        (('name = "final"\nkind', 'name = "last"\nkind'), "is named 'final'"),
        (("[analysis]\nmetric", "[analysys]\nmetric"), "Did you mean 'analysis'"),
        (("goals = {kid = 0.05}", "goals = {kidd = 0.05}"), "unknown [analysis] goals metric"),
        (('name = "rung2"\nkind = "halving"', 'name = "rung2"\nkind = "halfing"'), "unknown stage kind"),
    ],
)
def test_stage_list_errors_name_the_problem(tmp_path, edit, message):
    assert edit[0] in STUDY2
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("(", r"\(")):
        load_study(write(tmp_path, STUDY2.replace(*edit)))


def test_a_study_without_a_declared_plan_is_refused(tmp_path):
    text = STUDY2.replace('[analysis]\nmetric = "kid"\nscale = "log"\nmargin = [0.8, 1.25]\ngoals = {kid = 0.05}\n', "")
    with pytest.raises(ConfigError, match=r"\[analysis\] is missing"):
        load_study(write(tmp_path, text))


def test_successive_halving_keeps_the_best_share_ranked_by_failures_then_score(tmp_path):
    study = load_study(write(tmp_path, STUDY2))
    cands = S.candidates(study)
    assert [c.tag for c in cands["dcgan"]][-1] == "recipe" and len(cands["dcgan"]) == 4  # 3 draws + the recipe
    rung1 = plan_stage(study, tmp_path / "out", 0, cands)
    dcgan = [t for t in rung1 if t.cfg.variant == "dcgan"]
    for t, value in zip(dcgan, (0.3, 0.1, 0.2, 0.05), strict=True):
        _finish(t, Status.COMPLETED, value)
        RunDir(t.run_dir).checkpoint.parent.mkdir(parents=True)
        RunDir(t.run_dir).checkpoint.write_bytes(b"")  # what a rung continues from (only its presence counts here)
    for t in rung1:
        if t.cfg.variant == "vae":
            _finish(t, Status.DIVERGED, None)
    sel = SEL.choose(study, 0, SEL.score(study, 0, rung1))
    assert sel["by"] == "rung2" and sel["scale"] == "log" and sel["metric"] == "kid20"
    # keep 0.5 of 4: the two lowest; scores are mean log values on the log scale
    assert sel["variants"]["dcgan"]["chosen"] == [dcgan[3].candidate, dcgan[1].candidate]
    assert sel["variants"]["dcgan"]["candidates"][3]["score"] == pytest.approx(math.log(0.05))
    assert sel["variants"]["vae"]["chosen"] == [] and "diverged" in sel["variants"]["vae"]["waiting"][0]
    # rung 2: seed 0 continues rung 1's run of the same candidate; seed 1 starts fresh
    kept = SEL.chosen_candidates(sel, cands)
    rung2 = plan_stage(study, tmp_path / "out", 1, {"dcgan": kept["dcgan"]}, rung1)
    assert [(t.candidate, t.cfg.seed, t.continues is not None) for t in rung2] == [
        (dcgan[3].candidate, 0, True),
        (dcgan[1].candidate, 0, True),
        (dcgan[3].candidate, 1, False),
        (dcgan[1].candidate, 1, False),
    ]
    assert rung2[0].continues == dcgan[3].run_dir and rung2[0].cfg.budget == "0.128kimg"
    RunDir(dcgan[1].run_dir).checkpoint.unlink()  # a results folder without the checkpoint: train from the start
    assert plan_stage(study, tmp_path / "out", 1, {"dcgan": kept["dcgan"]}, rung1)[1].continues is None
    # two seeds per candidate: a failed seed ranks a candidate behind every one without failures
    _finish(rung2[0], Status.COMPLETED, 0.01)
    _finish(rung2[2], Status.DIVERGED, None)
    _finish(rung2[1], Status.COMPLETED, 0.04)
    _finish(rung2[3], Status.COMPLETED, 0.04)
    final = SEL.choose(study, 1, SEL.score(study, 1, rung2))["variants"]["dcgan"]
    assert final["chosen"] == [dcgan[1].candidate]
    assert [c["failed"] for c in final["candidates"]] == [1, 0] and [c["values"] for c in final["candidates"]] == [
        [0.01, None],
        [0.04, 0.04],
    ]


def test_the_power_calculation_matches_known_values_and_simulation():
    from ganbench.study import power

    # two-sample t test, Cohen's d = log(ratio) / sigma: 64, 26 and 17 per group for d = 0.5, 0.8, 1 (80%, 0.05)
    for d, n in ((0.5, 64), (0.8, 26), (1.0, 17)):
        assert power.seeds_needed(lambda k, d=d: power.power_detect(k, 1.0, math.exp(d), 0.05), 0.8) == n
    sigma = power.log_sd(0.15)
    assert sigma == pytest.approx(math.sqrt(math.log(1 + 0.15**2)))
    for n in (6, 10):  # the TOST bound against 20,000 simulated studies (standard error ~0.003)
        assert power.power_equivalent(n, sigma, 0.8, 1.25, 0.05) == pytest.approx(
            power.simulate_tost(n, sigma, 0.8, 1.25, 0.05), abs=0.015
        )
    # the normal approximation n = 2 sigma^2 (z_{1-a} + z_{1-b/2})^2 / log(1.25)^2, which the t test exceeds by 1-2
    z = 2 * sigma**2 * (1.6449 + 1.2816) ** 2 / math.log(1.25) ** 2
    p = power.plan_seeds(0.15, 0.05, 0.8, 1.25, (0.8, 1.25), 15, "declared")
    assert math.ceil(z) <= p.equivalent <= math.ceil(z) + 2 and p.equivalent_family > p.equivalent
    assert (p.detect, p.equivalent, p.needed) == (9, 9, 9)
    assert power.measured_cv({"a": [1.0, 1.0], "b": [0.5]}, 1e-4) == (0.0, 1)
    assert "FEWER than the 9" in power.power_text(p, 5) and "enough" in power.power_text(p, 10)


def test_a_stage_list_study_runs_halving_with_continued_runs_and_records_its_plan(tmp_path, monkeypatch, one_thread):
    """The whole command on a three-stage study: a continued rung trains exactly as an uninterrupted run would,
    study.json records the plan's hash before the first trial, and a changed plan is announced as post hoc."""
    import ganbench.metrics
    from ganbench.data import DataSpec, load_dataset
    from ganbench.train import train

    class FakeEvaluator:  # named by its sample count, as the real one is (kid16 for a stage evaluating on 16)
        protocol = {"fake": True}

        def __init__(self, n: int):
            self.names = [f"kid{n}"]

        def __call__(self, sample, **kw):
            return {self.names[0]: float(sample(8).mean()) + 1.0}

    monkeypatch.setattr(ganbench.metrics, "build_evaluator", lambda images, n, *a, **k: FakeEvaluator(n))
    # rung 1 evaluates on fewer images: a continued run may change what it is evaluated on, never what it trains on
    path = write(
        tmp_path, STUDY2.replace("seeds = [0]\n[[stages]]", "seeds = [0]\nsettings = {eval_samples = 16}\n[[stages]]")
    )
    out = tmp_path / "out"
    dry = CliRunner().invoke(app, ["study", str(path), "--out", str(out), "--dry-run"])
    assert dry.exit_code == 0 and not out.exists(), dry.output
    assert (
        "stage 2 (rung2, halving): 8 trials (projected)" in dry.output and "power (seed-to-seed cv 0.150" in dry.output
    )
    assert "the final stage runs 2 seeds per tuned arm: FEWER than the 9" in dry.output
    res = CliRunner().invoke(app, ["study", str(path), "--out", str(out)])
    assert res.exit_code == 0, res.output
    record = load_record(out)
    assert [s.name for s in record.stages] == ["rung1", "rung2", "final"] and record.plan_changed is False
    assert (len(record.stages[0].trials), len(record.stages[1].trials), len(record.final.trials)) == (8, 8, 6)
    assert record.stage("rung1").selection.metric == "kid16" and record.stage("rung2").selection.metric == "kid20"
    kept = record.stage("rung1").selection.chosen
    assert {v: len(k) for v, k in kept.items()} == {"dcgan": 2, "vae": 2}
    assert record.selected("dcgan") in kept["dcgan"]
    continued = [t for t in record.stage("rung2").trials if t.continues is not None]
    assert len(continued) == 4 and all(t.seed == 0 for t in continued)
    # the continued run's losses are those of one run trained 128 images straight
    t = next(t for t in continued if t.variant == "dcgan")
    cfg = load_study(path)
    cfg = S._config(cfg, cfg.stage("rung2"), "dcgan", t.params, 0)
    images = load_dataset(DataSpec("synthetic", resolution=16, max_images=256)).images
    train(cfg, tmp_path / "straight", images)
    ticks = lambda d: [r for r in RunDir(d).records("tick")]  # noqa: E731
    assert [r["loss_d"] for r in ticks(out / t.run_dir)] == [r["loss_d"] for r in ticks(tmp_path / "straight")]
    kinds = [r["kind"] for r in RunDir(out / t.run_dir).records()]
    assert kinds.count(S.CONTINUED) == 1 and kinds.index(S.CONTINUED) < kinds.index("resume")
    assert RunDir(out / t.run_dir).records(S.CONTINUED)[0]["kimg"] == 0.064
    # a changed plan: recorded hash kept, the command says so, the record flags it
    path.write_text(path.read_text().replace("margin = [0.8, 1.25]", "margin = [0.9, 1.11]"))
    again = CliRunner().invoke(app, ["study", str(path), "--out", str(out)])
    assert again.exit_code == 0 and "post hoc" in again.output and "8 trials, 0 to run" in again.output
    assert load_record(out).plan_changed is True and load_record(out).plan_recorded == record.plan_recorded


@pytest.mark.parametrize("name", ["celeba32-v2", "cifar10-v2"])
def test_the_v2_study_files_follow_issue_27_within_14_hours(name, tmp_path):
    """The recipe and >= 16 draws per variant, halving on val with >= 2 seeds on the last rung, a declared log-scale
    plan, fp32 pinned, >= 10 tuned seeds and at least what the power calculation asks for, and a printed estimate
    within about 14 hours of the two cores (two single-thread trials at once)."""
    from ganbench.study import power

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "studies" / f"{name}.toml"
    study = load_study(path, {"data": str(tmp_path)})
    assert study.format == 2 and study.plan.declared and study.plan.scale == "log" and study.plan.family == "tuned"
    assert (study.plan.margin.low, study.plan.margin.high, study.plan.alpha) == (0.8, 1.25, 0.05)
    assert study.settings["precision"] == "fp32" and study.max_concurrent == 2 and study.cpus_per_trial == 1
    cands = S.candidates(study)
    assert study.search.recipe and study.search.trials >= 16
    assert all(len(c) == study.search.trials + 1 and c[-1].tag == "recipe" for c in cands.values())
    assert [s.kind for s in study.stages] == [S.SEARCH, S.HALVING, S.HALVING, FINAL]
    assert all(s.split == "val" for s in study.stages[:-1]) and study.final.split == "test"
    assert len(study.stages[-2].seeds) >= 2 and [s.keep for s in study.stages[1:3]] == [0.25, 0.25]
    p = power.plan_seeds(study.power.cv, 0.05, 0.8, 1.25, (0.8, 1.25), 15, "declared")
    assert len(study.final.seeds) >= max(10, p.needed)
    est = cost.estimate(study, [], {v: len(c) for v, c in cands.items()}, {}, {})
    assert est["seconds"] / study.max_concurrent <= 14 * 3600
    counts = [s["trials"] for s in est["stages"]]
    assert counts[:3] == [6 * 17, 6 * 5, 6 * 2 * 2]
