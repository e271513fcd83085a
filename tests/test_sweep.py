"""Sweeps: the file format and its errors, the trial plan (projection, tags, random search), the executors (local
in-process, local worker processes, a real local Ray cluster), failure and divergence handling, kill-and-resume,
and the sweep tables and plots."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from ganbench import sweep as sw
from ganbench.commands.sweep import sweep_command
from ganbench.config import ConfigError
from ganbench.execution import ExecOptions, trial_state
from ganbench.execution.executors import import_ray
from ganbench.io import read_json, read_jsonl, write_json
from ganbench.report.sweep import (
    NO_FID,
    format_sweep_table,
    plot_sweep_spread,
    sweep_runs,
    sweep_table,
    sweep_table_rows,
)
from ganbench.rundir import RunDir

REPO = Path(__file__).resolve().parents[1]
SMOKE = REPO / "benchmarks" / "sweeps" / "smoke.toml"
CELEBA = REPO / "benchmarks" / "sweeps" / "celeba64.toml"

# Tiny CPU trials: the sweep machinery is under test here, not the GANs.
TINY = """
[data]
dataset = "synthetic"
resolution = 32
max_images = 500

[settings]
g_width = 8
d_width = 8
batch_size = 16
tick_kimg = 0.125
checkpoint_ticks = 1
device = "cpu"
"""


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("GANBENCH_CACHE", str(tmp_path_factory.getbasetemp() / "ganbench-cache"))


def write_sweep(tmp_path: Path, head: str, body: str = TINY, name: str = "s.toml") -> Path:
    path = tmp_path / name
    path.write_text(head + body)
    return path


def cli(*args: str):
    app = typer.Typer()
    app.command()(sweep_command)  # one command: typer runs it without a command name
    return CliRunner().invoke(app, [str(a) for a in args])


def attempts(run_dir: Path) -> list[dict]:
    return read_json(run_dir / "trial.json")["attempts"]


def overlapping(intervals: list[tuple[float, float]]) -> bool:
    return any(a0 < b1 and b0 < a1 for i, (a0, a1) in enumerate(intervals) for b0, b1 in intervals[i + 1 :])


# ---------------------------------------------------------------------------------------------------- the file
@pytest.mark.parametrize(
    "head, body, message",
    [
        (
            "[sweep]\nvariants=['dcgan']\nbudget='1kimg'\n[sweeep]\n",
            TINY,
            "unknown table 'sweeep'. Did you mean 'sweep'?",
        ),
        ("[sweep]\nvariants=['dcgan']\nbudget='1kimg'\nseed=[0]\n", TINY, "Did you mean 'seeds'?"),
        ("[sweep]\nvariants=['dcgan']\n", TINY, "[sweep] budget is missing"),
        ("[sweep]\nvariants=[]\nbudget='1kimg'\n", TINY, "non-empty list of variant names"),
        (
            "[sweep]\nvariants=['dcgan']\nbudget='1 fortnight'\n",
            TINY,
            "budget '1 fortnight' is not understood",
        ),  # epochs are a unit since issue 13
        ("[sweep]\nvariants=['dcgan']\nbudget='1kimg'\nexecutor='slurm'\n", TINY, "unknown executor 'slurm'"),
        (
            "[sweep]\nvariants=['dcgan']\nbudget='1kimg'\n[search.space]\nn_critics=[1]\n",
            TINY,
            "Did you mean 'n_critic'?",
        ),
        (
            "[sweep]\nvariants=['dcgan']\nbudget='1kimg'\n[search.space]\nbudget=['1kimg']\n",
            TINY,
            "unknown hyperparameter 'budget'",
        ),
        ("[sweep]\nvariants=['dcgan']\nbudget='1kimg'\n[search.space]\nlr_d=1e-4\n", TINY, "non-empty list of values"),
        (
            "[sweep]\nvariants=['dcgan']\nbudget='1kimg'\n[search]\nmode='random'\n[search.space]\nlr_d=[1e-4]\n",
            TINY,
            "random search needs [search] trials",
        ),
        (
            "[sweep]\nvariants=['dcgan']\nbudget='1kimg'\n[search]\nmode='random'\ntrials=2\n[search.space]\n"
            "lr_d={log_uniform=[0, 1e-3]}\n",
            TINY,
            "log_uniform bounds must be positive",
        ),
        (
            "[sweep]\nvariants=['dcgan']\nbudget='1kimg'\n[search]\nmode='random'\ntrials=2\n[search.space]\n"
            "lr_d={normal=[0, 1]}\n",
            TINY,
            "unknown distribution 'normal'",
        ),
        ("[sweep]\nvariants=['dcgan']\nbudget='1kimg'\n[settings]\nresolution=32\n", "", "it is set by [data]"),
        ("[sweep]\nvariants=['dcgan']\nbudget='1kimg'\n[settings]\nlr_dd=1\n", "", "Did you mean 'lr_d'?"),
        ("[sweep]\nvariants=['dcgan']\nbudget='1kimg'\n[search.space]\ng_width=[8]\n", TINY, "'g_width' is both fixed"),
        (
            "[sweep]\nvariants=['dcgan']\nbudget='1kimg'\nmax_retries=-1\n",
            TINY,
            "[sweep] max_retries must be 0 or more",
        ),
        (
            "[sweep]\nvariants=['dcgan']\nbudget='1kimg'\nmax_retries=1.5\n",
            TINY,
            "[sweep] max_retries must be an integer",
        ),
    ],
)
def test_sweep_file_errors_name_the_problem(tmp_path, head, body, message):
    with pytest.raises(ConfigError) as e:
        sw.load_sweep(write_sweep(tmp_path, head, body))
    assert message in str(e.value)


def test_bad_values_fail_before_any_trial_starts(tmp_path):
    path = write_sweep(
        tmp_path, "[sweep]\nvariants=['dcgan', 'wgan-gp']\nbudget='1kimg'\n[search.space]\nbeta1=[0.5, 1.5]\n"
    )
    result = cli(path, "--out", tmp_path / "out")
    assert result.exit_code == 2
    assert "'beta1' must be in [0, 1), got 1.5" in result.output
    assert not (tmp_path / "out").exists()


def test_unknown_variant_fails_with_the_valid_names(tmp_path):
    path = write_sweep(tmp_path, "[sweep]\nvariants=['dcgann']\nbudget='1kimg'\n")
    with pytest.raises(ConfigError, match="Did you mean 'dcgan'"):
        sw.plan_sweep(sw.load_sweep(path), tmp_path / "out")


def test_shipped_sweep_files_plan():
    smoke = sw.plan_sweep(sw.load_sweep(SMOKE), Path("/nonexistent"))
    assert len(smoke) == 4 and {t.cfg.variant for t in smoke} == {"dcgan", "wgan-gp"}
    assert sw.load_sweep(SMOKE).executor == "ray"
    suite = sw.load_sweep(CELEBA)
    trials = sw.plan_sweep(suite, Path("/nonexistent"))
    assert len(trials) == 7 * 3  # the seven variants x three seeds, each variant's own recipe
    assert {t.tag for t in trials} == {"recipe"}
    assert {t.cfg.budget for t in trials} == {suite.settings["budget"]}
    assert {t.cfg.dataset for t in trials} == {"celeba"} and {t.cfg.resolution for t in trials} == {64}


# ---------------------------------------------------------------------------------------------------- the plan
def test_grid_is_projected_onto_what_acts_on_each_variant(tmp_path):
    path = write_sweep(
        tmp_path,
        "[sweep]\nvariants=['dcgan', 'wgan-gp', 'vae', 'random']\nseeds=[0, 1]\n"
        "budget='1kimg'\n[search.space]\nlr_d=[1e-4, 2e-4]\nn_critic=[1, 5]\n"
        "penalty_weight=[5.0, 10.0]\n",
    )
    trials = sw.plan_sweep(sw.load_sweep(path), tmp_path / "out")
    per = {}
    for t in trials:
        per.setdefault(t.cfg.variant, set()).add(t.tag)
    assert len(per["dcgan"]) == 4  # lr_d x n_critic; penalty_weight has no effect without a penalty
    assert len(per["wgan-gp"]) == 8  # lr_d x n_critic x penalty_weight
    assert per["vae"] == {"lr_d=1e-4", "lr_d=2e-4"}  # no critic, no penalty
    assert per["random"] == {"recipe"}  # nothing is trained: once per seed
    assert len(trials) == 2 * (4 + 8 + 2 + 1)
    assert "lr_d=1e-4_n_critic=5" in per["dcgan"]
    t = next(t for t in trials if t.cfg.variant == "wgan-gp" and t.tag == "lr_d=2e-4_n_critic=1_penalty_weight=5")
    assert (t.cfg.lr_d, t.cfg.n_critic, t.cfg.penalty_weight, t.cfg.lr_g) == (2e-4, 1, 5.0, 1e-4)  # lr_g: the recipe's
    assert t.run_dir == tmp_path / "out" / "wgan-gp" / t.tag / "seed0"
    random_trial = next(t for t in trials if t.cfg.variant == "random")
    assert random_trial.params == {} and random_trial.ignored == ("lr_d", "n_critic", "penalty_weight")
    # seed-major: every variant gets its first seed before anything gets its second
    assert [t.cfg.seed for t in trials] == sorted(t.cfg.seed for t in trials)


def test_include_recipe_adds_the_recipe_once(tmp_path):
    path = write_sweep(
        tmp_path,
        "[sweep]\nvariants=['dcgan', 'wgan-gp']\nbudget='1kimg'\n"
        "[search]\ninclude_recipe=true\n[search.space]\nlr_d=[1e-4, 4e-4]\n",
    )
    tags = {(t.cfg.variant, t.tag) for t in sw.plan_sweep(sw.load_sweep(path), tmp_path / "out")}
    # wgan-gp's recipe has lr_d = 1e-4 already in the grid; dcgan's (2e-4) is not
    assert tags == {
        ("dcgan", "lr_d=1e-4"),
        ("dcgan", "lr_d=4e-4"),
        ("dcgan", "recipe"),
        ("wgan-gp", "lr_d=1e-4"),
        ("wgan-gp", "lr_d=4e-4"),
    }


def test_random_search_is_reproducible_and_in_range(tmp_path):
    head = (
        "[sweep]\nvariants=['dcgan', 'vae']\nbudget='1kimg'\n[search]\nmode='random'\ntrials=6\nseed=3\n"
        "[search.space]\nlr_d={log_uniform=[1e-5, 1e-3]}\nbeta1={uniform=[0.0, 0.9]}\n"
        "latent_dim={choice=[32, 64]}\nn_critic={int_uniform=[1, 5]}\nlatent_dist=['normal', 'uniform']\n"
    )
    sweep = sw.load_sweep(write_sweep(tmp_path, head))
    first, again = sw.plan_sweep(sweep, tmp_path / "out"), sw.plan_sweep(sweep, tmp_path / "out")
    assert [(t.tag, t.params) for t in first] == [(t.tag, t.params) for t in again]
    dcgan = [t for t in first if t.cfg.variant == "dcgan"]
    assert len(dcgan) == 6
    for t in dcgan:
        assert 1e-5 <= t.cfg.lr_d <= 1e-3 and 0.0 <= t.cfg.beta1 <= 0.9 and t.cfg.latent_dim in (32, 64)
        assert isinstance(t.cfg.n_critic, int) and 1 <= t.cfg.n_critic <= 5
        assert float(f"{t.cfg.lr_d:.3g}") == t.cfg.lr_d  # rounded to 3 significant digits
    vae = [t for t in first if t.cfg.variant == "vae"]
    assert len(vae) == 6 and all(set(t.params) == {"lr_d", "beta1", "latent_dim", "latent_dist"} for t in vae)
    assert all(t.ignored == ("n_critic",) for t in vae)  # no critic in a VAE
    assert sw.search_points(sweep) == sw.search_points(sw.load_sweep(write_sweep(tmp_path, head, name="t.toml")))
    other = sw.load_sweep(write_sweep(tmp_path, head.replace("seed=3", "seed=4"), name="u.toml"))
    assert sw.search_points(other) != sw.search_points(sweep)


def test_trial_tags_are_short_readable_and_stable():
    assert sw.trial_tag({}) == "recipe"
    assert sw.trial_tag({"n_critic": 5, "lr_d": 1e-4}) == "lr_d=1e-4_n_critic=5"
    assert sw.trial_tag({"lr_d": 1e-4, "n_critic": 5}) == sw.trial_tag({"n_critic": 5, "lr_d": 1e-4})
    assert sw.trial_tag({"beta1": 0.5, "latent_dist": "uniform"}) == "beta1=0.5_latent_dist=uniform"
    assert sw.trial_tag({"lr_d": 0.000123}) == "lr_d=1.23e-4"
    long = {k: 0.123456789 for k in ("lr_g", "lr_d", "beta1", "beta2", "leaky_slope")}
    tag = sw.trial_tag(long)
    assert tag.startswith("t-") and len(tag) == 10 and tag == sw.trial_tag(dict(reversed(long.items())))
    assert sw.trial_tag({"lr_d": 2e-4}) != sw.trial_tag({"lr_d": 2.0001e-4})


def test_dry_run_prints_the_plan_and_writes_nothing(tmp_path):
    path = write_sweep(
        tmp_path,
        "[sweep]\nname='dry'\nvariants=['dcgan', 'random']\nseeds=[0, 1]\nbudget='1kimg'\n"
        "[search.space]\nlr_d=[1e-4, 4e-4]\n",
    )
    result = cli(path, "--out", tmp_path / "out", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "dcgan    lr_d=1e-4  0:new 1:new" in result.output
    assert "random   recipe     0:new 1:new" in result.output and "[not applicable: lr_d]" in result.output
    assert "6 trials: 6 to run (6 new, 0 to resume), 0 completed, 0 diverged" in result.output
    assert not (tmp_path / "out").exists()


def test_set_overrides_every_trial_but_not_the_axes(tmp_path):
    path = write_sweep(tmp_path, "[sweep]\nvariants=['dcgan']\nbudget='1kimg'\n[search.space]\nlr_d=[1e-4]\n")
    trials = sw.plan_sweep(sw.load_sweep(path, {"budget": "2kimg", "data": "rel/dir"}), tmp_path / "out")
    assert trials[0].cfg.budget == "2kimg" and trials[0].cfg.data == str(Path.cwd() / "rel/dir")
    assert "not allowed in a sweep" in cli(path, "--set", "seed=3", "--dry-run").output
    assert "both fixed" in cli(path, "--set", "lr_d=3e-4", "--dry-run").output


def test_a_trial_another_process_writes_is_left_alone(tmp_path):
    from ganbench import lock

    path = write_sweep(tmp_path, "[sweep]\nvariants=['random']\nseeds=[0, 1]\nbudget='0.25kimg'\neval=false\n")
    out = tmp_path / "out"
    with lock.run_lock(out / "random/recipe/seed1"):  # held by this (live) process, as by another sweep
        assert "0:new 1:locked" in cli(path, "--out", out, "--dry-run").output
        result = cli(path, "--out", out)
    assert result.exit_code == 0, result.output
    assert "left alone" in result.output
    assert RunDir(out / "random/recipe/seed0").status() == "completed"
    assert not (out / "random/recipe/seed1/summary.json").exists()


def test_ray_missing_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError, as without the extra
    with pytest.raises(ConfigError) as e:
        import_ray()
    assert "pip install 'ganbench[ray]'" in str(e.value) and "uv sync --extra ray" in str(e.value)


def test_max_retries_comes_from_the_file_or_the_command_line(tmp_path):
    from ganbench.execution.executors import MAX_RETRIES

    head = "[sweep]\nvariants=['random']\nbudget='0.25kimg'\neval=false\n"
    assert sw.load_sweep(write_sweep(tmp_path, head)).max_retries == MAX_RETRIES == 3
    assert sw.load_sweep(write_sweep(tmp_path, head + "max_retries=0\n", name="z.toml")).max_retries == 0
    result = cli(write_sweep(tmp_path, head), "--out", tmp_path / "out", "--max-retries", "-1")
    assert result.exit_code == 2
    assert result.output.strip() == (
        "ganbench: error: --max-retries must be 0 or more (how often a trial whose "
        "worker was lost runs again; 0: never), got -1"
    )
    assert not (tmp_path / "out").exists()


def test_retry_policy_runs_a_lost_worker_s_trial_again_and_nothing_else(tmp_path):
    """The executors' shared policy, without processes: a trial whose worker was lost runs again, max_retries
    times at most, each attempt recorded with why it ended; an error that is not a lost worker, and an attempt
    whose run ended by itself, are not retried."""
    from ganbench.execution.execute import _record_attempt
    from ganbench.execution.executors import _Retries
    from ganbench.lock import LOCK_NAME
    from ganbench.rundir import RunDir, Status

    path = write_sweep(
        tmp_path, "[sweep]\nvariants=['dcgan']\nbudget='1kimg'\n[search.space]\nlr_d=[1e-4, 2e-4, 4e-4, 8e-4, 1.6e-3]\n"
    )
    dies, unborn, raises, stopped, finished = sw.plan_sweep(sw.load_sweep(path), tmp_path / "out")
    told = []
    retries = _Retries(ExecOptions(max_retries=2, on_retry=lambda t, n, why: told.append((t.label, n))), "ray")

    def start(trial, attempt: str, pid: int = 4242, host: str = "a-node-that-left") -> None:
        _record_attempt(
            trial, {"id": attempt, "executor": "ray", "host": host, "pid": pid, "status": "running"}, new=True
        )

    crashed = "WorkerCrashedError: The worker died unexpectedly while executing this task."
    outcomes = []
    for i in range(3):  # its worker dies every time: two retries, then failed
        start(dies, f"a{i}")
        lock = dies.run_dir / LOCK_NAME  # held from another host: never broken, unless the executor saw it go
        lock.write_text(json.dumps({"pid": 4242, "host": "a-node-that-left", "started": "then"}))
        outcomes.append(retries.outcome(dies, f"a{i}", crashed, worker_lost=True))
        assert not lock.exists()
    assert outcomes[:2] == [None, None] and outcomes[2]["status"] == "failed"
    assert outcomes[2]["error"] == f"its worker was lost on 3 attempts (max_retries = 2); the last: {crashed}"
    assert RunDir(dies.run_dir).status() == "failed"
    assert [(a["id"], a["status"], a["error"]) for a in attempts(dies.run_dir)] == [
        ("a0", "lost", crashed),
        ("a1", "lost", crashed),
        ("a2", "lost", crashed),
    ]

    assert retries.outcome(unborn, "b0", crashed, worker_lost=True) is None  # died before it recorded its attempt
    assert [a | {"finished": 0, "end_time": 0} for a in attempts(unborn.run_dir)] == [
        {
            "id": "b0",
            "executor": "ray",
            "host": None,
            "pid": None,
            "started": None,
            "start_time": None,
            "finished": 0,
            "end_time": 0,
            "status": "lost",
            "error": crashed,
        }
    ]

    start(raises, "c0")  # an error that says nothing about the worker: failed at once
    summary = retries.outcome(raises, "c0", "RayTaskError(OSError): disk gone", worker_lost=False)
    assert summary["status"] == "failed" and summary["error"] == "RayTaskError(OSError): disk gone"
    assert [(a["status"], a["error"]) for a in attempts(raises.run_dir)] == [
        ("failed", "RayTaskError(OSError): disk gone")
    ]

    start(stopped, "d0")  # SIGTERM to its worker alone: the run ended `interrupted`; runs again
    _record_attempt(stopped, {"status": Status.INTERRUPTED}, new=False)
    other = stopped.run_dir / LOCK_NAME  # another process's lock is never touched
    other.write_text(json.dumps({"pid": 5151, "host": "a-node-that-left", "started": "now"}))
    assert retries.outcome(stopped, "d0", "KeyboardInterrupt: signal 15", worker_lost=False) is None
    assert other.exists()
    assert [(a["status"], a["error"]) for a in attempts(stopped.run_dir)] == [
        ("interrupted", "KeyboardInterrupt: signal 15")
    ]

    start(finished, "e0")  # it completed, then its result was lost with its node: the summary on disk stands
    RunDir(finished.run_dir).write_summary({"variant": "dcgan"}, Status.COMPLETED, kimg=1.0)
    _record_attempt(finished, {"status": Status.COMPLETED, "error": None}, new=False)
    summary = retries.outcome(finished, "e0", "ObjectLostError: lost with its node", worker_lost=True)
    assert summary == {"variant": "dcgan", "status": "completed", "kimg": 1.0}
    assert [(a["status"], a["error"]) for a in attempts(finished.run_dir)] == [("completed", None)]
    assert told == [(dies.label, 1), (dies.label, 2), (unborn.label, 1), (stopped.label, 1)]


def test_which_ray_errors_mean_a_lost_worker():
    pytest.importorskip("ray", reason="the ray extra is not installed (uv sync --extra ray)")
    from ganbench.execution.executors import ray_worker_lost

    ray = import_ray()
    lost, e = ray_worker_lost(ray), ray.exceptions
    for cls in (
        e.WorkerCrashedError,
        e.NodeDiedError,
        e.OutOfMemoryError,
        e.ObjectLostError,
        e.OwnerDiedError,
        e.ObjectReconstructionFailedError,
    ):
        assert issubclass(cls, lost), cls
    for cls in (
        e.RayTaskError,
        e.TaskCancelledError,
        e.TaskUnschedulableError,
        e.RuntimeEnvSetupError,
        e.LocalRayletDiedError,
        e.ObjectStoreFullError,
        e.OutOfDiskError,
        e.RaySystemError,
    ):
        assert not issubclass(cls, lost), cls


# ---------------------------------------------------------------------------------------------------- running
def test_diverged_and_failed_trials_are_recorded_and_the_sweep_goes_on(tmp_path, monkeypatch):
    # lr_d = 1e3 makes the WGAN-GP critic's loss non-finite within a few steps (checked: diverges at ~0.16 kimg)
    path = write_sweep(
        tmp_path,
        "[sweep]\nvariants=['wgan-gp', 'random']\nbudget='0.25kimg'\neval=false\n"
        "executor='local'\n[search.space]\nlr_d=[1e-4, 1e3]\n",
    )
    out = tmp_path / "out"
    result = cli(path, "--out", out)
    assert result.exit_code == 0, result.output  # a divergence is a result, not an error
    status = {str(p.parent.relative_to(out)): read_json(p)["status"] for p in out.rglob("summary.json")}
    assert status == {
        "wgan-gp/lr_d=1e-4/seed0": "completed",
        "wgan-gp/lr_d=1e3/seed0": "diverged",
        "random/recipe/seed0": "completed",
    }
    assert "non-finite" in read_json(out / "wgan-gp/lr_d=1e3/seed0/summary.json")["error"]
    assert attempts(out / "wgan-gp/lr_d=1e3/seed0")[-1]["status"] == "diverged"
    # run again: the diverged trial is final, nothing runs
    again = cli(path, "--out", out, "--dry-run")
    assert "0:diverged" in again.output and "0 to run" in again.output
    assert "0:resumable" in cli(path, "--out", out, "--dry-run", "--rerun-diverged").output

    # a trial whose inputs cannot be built fails; the sweep records it, goes on, and exits 1
    from ganbench import data as data_mod

    def broken(spec):
        raise OSError("disk gone")

    monkeypatch.setattr(data_mod, "load_dataset", broken)
    path2 = write_sweep(tmp_path, "[sweep]\nvariants=['random']\nbudget='0.25kimg'\neval=false\n", name="f.toml")
    failed = cli(path2, "--out", tmp_path / "out2")
    assert failed.exit_code == 1
    summary = read_json(tmp_path / "out2/random/recipe/seed0/summary.json")
    assert summary["status"] == "failed" and "disk gone" in summary["error"]
    # and a changed config is refused up front, never overwritten
    path.write_text(path.read_text().replace("0.25kimg", "0.5kimg"))
    changed = cli(path, "--out", out)
    assert changed.exit_code == 2 and "holds a run with a different config" in changed.output


def test_fid_reaches_the_sweep_table(tmp_path, monkeypatch):
    """The evaluator plumbing, with a stand-in evaluator (real FID on a CPU takes minutes)."""
    import ganbench.metrics

    class FakeEvaluator:
        names = ["fid20"]
        protocol = {"fake": True}
        built = 0

        def __call__(self, sample):
            return {"fid20": float(sample(4).abs().mean()) * 100}

    def build(imageset, n, device, weights="", **options):  # options: metrics=... (the config's names)
        FakeEvaluator.built += 1
        return FakeEvaluator()

    monkeypatch.setattr(ganbench.metrics, "build_evaluator", build)
    path = write_sweep(
        tmp_path,
        "[sweep]\nvariants=['dcgan', 'random']\nbudget='0.125kimg'\neval=true\n"
        "seeds=[0, 1]\n[search.space]\nlr_d=[1e-4, 4e-4]\n",
        TINY + "eval_samples = 20\n",
    )
    result = cli(path, "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert FakeEvaluator.built == 1  # one evaluator for every trial of the process
    table = sweep_table(tmp_path / "out")
    assert table.attrs["metric"] == "fid20" and list(table["variant"]) in (["dcgan", "random"], ["random", "dcgan"])
    row = table.set_index("variant").loc["dcgan"]
    assert row["settings"] == 2 and row["runs"] == 4 and row["best_seeds"] == 2
    assert row["fid_min"] == row["best_fid"] <= row["fid_max"]
    assert "fid20 (best during training)" in result.output


@pytest.mark.slow
def test_local_workers_run_trials_at_the_same_time(tmp_path):
    path = write_sweep(
        tmp_path,
        "[sweep]\nvariants=['dcgan']\nbudget='0.5kimg'\neval=false\nexecutor='local'\n"
        "cpus_per_trial=1\n[search.space]\nlr_d=[1e-4, 4e-4]\n",
    )
    out = tmp_path / "out"
    result = cli(path, "--out", out, "--max-concurrent", "2")
    assert result.exit_code == 0, result.output
    runs = [out / "dcgan/lr_d=1e-4/seed0", out / "dcgan/lr_d=4e-4/seed0"]
    records = [attempts(r)[-1] for r in runs]
    assert all(r["status"] == "completed" and r["threads"] == 1 for r in records)
    assert records[0]["pid"] != records[1]["pid"] != os.getpid()
    assert overlapping([(r["start_time"], r["end_time"]) for r in records])


@pytest.mark.slow
def test_a_killed_sweep_finishes_only_what_was_left(tmp_path):
    """SIGKILL mid-sweep (after one trial completed, while the next holds a checkpoint), then run it again."""
    path = write_sweep(
        tmp_path,
        "[sweep]\nvariants=['dcgan']\nbudget='1.5kimg'\neval=false\nexecutor='local'\n"
        "cpus_per_trial=1\n[search.space]\nlr_d=[1e-4, 2e-4, 4e-4]\n",
    )
    out = tmp_path / "out"
    runs = [out / f"dcgan/lr_d={lr}/seed0" for lr in ("1e-4", "2e-4", "4e-4")]
    cmd = [sys.executable, "-m", "ganbench", "sweep", str(path), "--out", str(out)]

    def completed(r: Path) -> bool:
        return RunDir(r).status() == "completed"

    def midway(r: Path) -> bool:
        return (r / "checkpoints" / "latest.pt").is_file() and not completed(r)

    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=REPO)
    deadline = time.time() + 300
    while not (any(map(completed, runs)) and any(map(midway, runs))):
        assert proc.poll() is None, proc.stdout.read().decode()[-3000:]
        assert time.time() < deadline, "the sweep never reached the point to kill it"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = [r for r in runs if completed(r)]
    resumable = [r for r in runs if midway(r)]
    assert done and resumable, "killed at the wrong moment; make the trials longer"
    stamps = {r: (r / "summary.json").stat().st_mtime_ns for r in done}

    again = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"{len(runs) - len(done)} to run, {len(done)} already done" in again.stderr
    assert all(map(completed, runs))
    for r in done:  # untouched
        assert (r / "summary.json").stat().st_mtime_ns == stamps[r] and len(attempts(r)) == 1
    for r in resumable:  # continued from its checkpoint, not started over
        assert any(rec.get("kind") == "resume" for rec in read_jsonl(r / "metrics.jsonl"))
        assert len(attempts(r)) == 2 and attempts(r)[0]["status"] == "lost"  # the killed attempt never ended
    assert read_json(runs[0] / "summary.json")["kimg"] == 1.504


@pytest.mark.slow
def test_smoke_sweep_through_ray_runs_trials_concurrently(tmp_path):
    """CI's check of the ray executor: the shipped smoke sweep on a real local Ray cluster, two trials at once."""
    pytest.importorskip("ray", reason="the ray extra is not installed (uv sync --extra ray)")
    ray_tmp = tempfile.mkdtemp(prefix="gbray", dir="/tmp")  # short: Ray's unix socket paths have a length limit
    env = os.environ | {"RAY_TMPDIR": ray_tmp, "RAY_DISABLE_USAGE_STATS": "1"}
    out = tmp_path / "smoke"
    try:
        result = subprocess.run(
            [sys.executable, "-m", "ganbench", "sweep", str(SMOKE), "--out", str(out)],
            capture_output=True,
            text=True,
            cwd=REPO,
            env=env,
            timeout=600,
        )
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    trials = sw.plan_sweep(sw.load_sweep(SMOKE), out)
    assert len(trials) == 4 and all(trial_state(t) == "completed" for t in trials)
    records = [attempts(t.run_dir)[-1] for t in trials]
    assert {r["executor"] for r in records} == {"ray"} and {r["threads"] for r in records} == {1}
    assert len({r["pid"] for r in records}) >= 2
    assert overlapping([(r["start_time"], r["end_time"]) for r in records]), records
    assert "dcgan/lr_d=1e-4" in result.stdout and NO_FID in result.stdout
    table = sweep_table(out)
    assert list(table["completed"]) == [2, 2] and table.attrs["note"] == NO_FID
    assert plot_sweep_spread(sweep_runs(out), tmp_path / "spread.png") is None
    assert read_json(out / "sweep.json")["executor"] == "ray"


# Three trials, two at a time, each a few seconds: one is killed, one runs beside it, one raises an error.
KILL_SWEEP = """
[sweep]
name = "kill"
variants = ["dcgan"]
budget = "1.28kimg"
eval = false
cpus_per_trial = 1
max_concurrent = 2

[data]
dataset = "synthetic"
resolution = 16
max_images = 256

[settings]
g_width = 8
d_width = 8
latent_dim = 8
batch_size = 16
tick_kimg = 0.064
checkpoint_ticks = 1
device = "cpu"

[search.space]
lr_d = [1e-4, 2e-4, 4e-4]
"""
WALL_CLOCK = ("seconds", "img_per_s", "peak_mem_mb")


@pytest.fixture(scope="module")
def undisturbed(tmp_path_factory) -> Path:
    """The kill tests' first two trials, run here one after another, undisturbed, with one torch thread each as in
    the workers."""
    import torch

    folder = tmp_path_factory.mktemp("undisturbed")
    path = folder / "s.toml"
    path.write_text(KILL_SWEEP.replace("lr_d = [1e-4, 2e-4, 4e-4]", "lr_d = [1e-4, 2e-4]"))
    threads = torch.get_num_threads()
    try:
        result = cli(path, "--out", folder / "out", "--executor", "local", "--max-concurrent", "1")
    finally:
        torch.set_num_threads(threads)
    assert result.exit_code == 0, result.output
    return folder / "out"


def trained(run_dir: Path) -> dict:
    """What a run learned: every tick's values (the last record per tick: a resume repeats the ticks after its
    checkpoint) but wall-clock ones, the summary's counters, and every tensor of its last checkpoint's nets."""
    import torch

    ticks = {
        r["tick"]: {k: v for k, v in r.items() if k not in WALL_CLOCK}
        for r in read_jsonl(run_dir / "metrics.jsonl")
        if r["kind"] == "tick"
    }
    summary = read_json(run_dir / "summary.json")
    flat: dict = {}

    def walk(key: str, value) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(f"{key}/{k}", v)
        else:  # tensors as bytes: == is then exact, and dict equality compares them
            flat[key] = value.numpy().tobytes() if torch.is_tensor(value) else value

    walk("", torch.load(run_dir / "checkpoints" / "latest.pt", weights_only=False)["nets"])
    return {
        "ticks": ticks,
        "counters": {k: summary[k] for k in ("status", "kimg", "g_steps", "d_steps", "epoch")},
        "nets": flat,
    }


def kill_worker_once_checkpointed(proc: subprocess.Popen, run_dir: Path) -> int:
    """SIGKILL the worker process running `run_dir`'s trial (its pid is in trial.json) once the trial has written
    a checkpoint and before it ends; return that pid."""
    deadline = time.time() + 600  # on two busy shared cores, starting Ray and its workers can take minutes
    while True:
        assert proc.poll() is None, "the sweep ended before the worker could be killed"
        assert time.time() < deadline, "the trial never reached its first checkpoint"
        try:
            attempt, status = attempts(run_dir)[-1], read_json(run_dir / "summary.json")["status"]
        except (OSError, ValueError, KeyError, IndexError):  # not written yet
            attempt, status = {}, None
        if attempt.get("status") == status == "running" and (run_dir / "checkpoints" / "latest.pt").is_file():
            assert attempt["pid"] not in (proc.pid, os.getpid())
            os.kill(attempt["pid"], signal.SIGKILL)
            return attempt["pid"]
        time.sleep(0.05)


@pytest.mark.slow
@pytest.mark.parametrize("executor, lost_as", [("local", "BrokenProcessPool"), ("ray", "WorkerCrashedError")])
def test_a_killed_worker_is_replaced_and_its_trial_ends_as_if_undisturbed(tmp_path, undisturbed, executor, lost_as):
    """One `ganbench sweep` command runs three trials, two at a time, in worker processes (local: one process
    pool per slot; ray: a real local Ray cluster the command starts). The worker of the first trial is SIGKILLed
    once it has a checkpoint: a fresh worker resumes it, and it ends with the ticks, losses and weights of an
    undisturbed run. The trial beside it runs on untouched; the third, whose run raises an error (its checkpoint
    is corrupt), is failed after one attempt, never retried."""
    if executor == "ray":
        pytest.importorskip("ray", reason="the ray extra is not installed (uv sync --extra ray)")
    path = tmp_path / "s.toml"
    path.write_text(KILL_SWEEP)
    out = tmp_path / "out"
    killed, beside, broken = sw.plan_sweep(sw.load_sweep(path), out)
    from ganbench.rundir import RunDir

    RunDir(broken.run_dir).write_meta({"config": broken.cfg.to_dict()})  # an unfinished run of the same config ...
    RunDir(broken.run_dir).checkpoint.parent.mkdir(parents=True)
    RunDir(broken.run_dir).checkpoint.write_bytes(b"not a checkpoint")  # ... whose resume raises CheckpointError

    ray_tmp = tempfile.mkdtemp(prefix="gbray", dir="/tmp")  # short: Ray's unix socket paths have a length limit
    env = os.environ | {
        "RAY_TMPDIR": ray_tmp,
        "RAY_DISABLE_USAGE_STATS": "1",
        "PYTHONPYCACHEPREFIX": str(Path(tempfile.gettempdir()) / "ganbench-test-pycache"),
    }
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # compiled bytecode kept: workers start in seconds, not 20
    log = tmp_path / "sweep.log"
    with open(log, "w") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ganbench", "sweep", str(path), "--out", str(out), "--executor", executor],
            stdout=sink,
            stderr=subprocess.STDOUT,
            cwd=REPO,
            env=env,
        )
        try:
            pid = kill_worker_once_checkpointed(proc, killed.run_dir)
            proc.wait(timeout=600)
        finally:
            if proc.poll() is None:  # a failed check: stop the sweep (and the Ray cluster it started)
                proc.terminate()
                proc.wait(timeout=60)
            shutil.rmtree(ray_tmp, ignore_errors=True)
    text = log.read_text()
    assert proc.returncode == 1, text[-4000:]  # the broken trial, and it alone:
    assert f"1 of 3 trials failed: {broken.label}." in text, text[-4000:]

    first, second = attempts(killed.run_dir)
    assert (first["pid"], first["status"]) == (pid, "lost") and first["error"].startswith(f"{lost_as}: "), first
    assert second["status"] == "completed" and second["pid"] != pid and second["executor"] == executor
    assert [r["kind"] for r in read_jsonl(killed.run_dir / "metrics.jsonl")].count("resume") == 1
    assert trained(killed.run_dir) == trained(undisturbed / "dcgan/lr_d=1e-4/seed0")
    assert (
        "1 trial ran again after its worker was lost or stopped (each attempt is in its trial.json): "
        f"{killed.label} 1x ({lost_as})"
    ) in text

    assert [a["status"] for a in attempts(beside.run_dir)] == ["completed"]  # neither stopped nor counted
    assert "resume" not in [r["kind"] for r in read_jsonl(beside.run_dir / "metrics.jsonl")]
    assert trained(beside.run_dir) == trained(undisturbed / "dcgan/lr_d=2e-4/seed0")

    (failed,) = attempts(broken.run_dir)
    assert failed["status"] == "failed" and "latest.pt cannot be loaded" in failed["error"]
    assert RunDir(broken.run_dir).status() == "failed"


# ---------------------------------------------------------------------------------------------------- the report
def fake_run(
    out: Path,
    variant: str,
    tag: str,
    seed: int,
    params: dict,
    status: str = "completed",
    fid: float | None = None,
    best: float | None = None,
) -> None:
    run_dir = out / variant / tag / f"seed{seed}"
    write_json(
        run_dir / "trial.json",
        {"sweep": "x", "trial": tag, "variant": variant, "seed": seed, "params": params, "attempts": []},
    )
    final = {"fid1000": fid} if fid is not None else {}
    write_json(
        run_dir / "summary.json",
        {
            "variant": variant,
            "seed": seed,
            "status": status,
            "final": final,
            "kimg": 10.0,
            "best": {"metric": "fid1000", "value": best if best is not None else fid, "kimg": 5.0} if fid else None,
        },
    )


def test_sweep_table_ranks_settings_by_mean_fid_over_seeds(tmp_path):
    out = tmp_path / "out"
    for seed, (a, b, c) in enumerate([(50.0, 40.0, 30.0), (60.0, 44.0, 30.0)]):
        fake_run(out, "dcgan", "lr_d=1e-4", seed, {"lr_d": 1e-4}, fid=a)
        fake_run(out, "dcgan", "lr_d=2e-4", seed, {"lr_d": 2e-4}, fid=b + 5, best=b)
        # the lowest FID on seed 0, but seed 1 diverged: never the best setting
        fake_run(
            out,
            "dcgan",
            "lr_d=1",
            seed,
            {"lr_d": 1.0},
            status="diverged" if seed else "completed",
            fid=None if seed else 10.0,
        )
        fake_run(out, "random", "recipe", seed, {}, fid=400.0)
        fake_run(out, "vae", "recipe", seed, {}, fid=c)
    table = sweep_table(out)
    assert list(table["variant"]) == ["vae", "dcgan", "random"]
    dcgan = table.set_index("variant").loc["dcgan"]
    assert dcgan["best_trial"] == "lr_d=2e-4" and dcgan["best_params"] == "lr_d=0.0002"
    assert dcgan["best_fid"] == pytest.approx(42.0) and dcgan["best_fid_std"] == pytest.approx(2**0.5 * 2)
    assert (dcgan["fid_min"], dcgan["fid_median"], dcgan["fid_max"]) == pytest.approx((42.0, 48.5, 55.0))
    assert (dcgan["settings"], dcgan["runs"], dcgan["completed"], dcgan["diverged"], dcgan["incomplete"]) == (
        3,
        6,
        5,
        1,
        1,
    )
    final = sweep_table(out, score="final").set_index("variant").loc["dcgan"]
    assert final["best_fid"] == pytest.approx(47.0)  # the FID at the end of the budget instead
    text = format_sweep_table(table)
    assert "fid1000 (best during training)" in text and "lr_d=2e-4" in text

    runs = sweep_runs(out)
    assert len(runs) == 10 and runs["fid"].isna().sum() == 1
    png = plot_sweep_spread(runs, tmp_path / "plots" / "spread.png")
    assert png is not None and png.stat().st_size > 5000 and png.read_bytes()[:4] == b"\x89PNG"


def test_sweep_table_without_fid_says_so(tmp_path):
    out = tmp_path / "out"
    fake_run(out, "dcgan", "recipe", 0, {})
    fake_run(out, "dcgan", "lr_d=1", 0, {"lr_d": 1.0}, status="diverged")
    table = sweep_table(out)
    assert table.attrs["note"] == NO_FID and table.attrs["metric"] is None
    assert (table.loc[0, "runs"], table.loc[0, "completed"], table.loc[0, "diverged"]) == (2, 1, 1)
    assert NO_FID in format_sweep_table(table)
    assert plot_sweep_spread(sweep_runs(out), tmp_path / "p.png") is None and not (tmp_path / "p.png").exists()
    assert "no sweep trials" in sweep_table(tmp_path / "empty").attrs["note"]


def test_sweep_json_records_the_plan(tmp_path):
    path = write_sweep(
        tmp_path, "[sweep]\nname='rec'\nvariants=['random']\nseeds=[0, 1]\nbudget='0.25kimg'\neval=false\n"
    )
    result = cli(path, "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    doc = json.loads((tmp_path / "out" / "sweep.json").read_text())
    assert doc["sweep"]["name"] == "rec" and doc["executor"] == "local"
    assert [t["run_dir"] for t in doc["trials"]] == ["random/recipe/seed0", "random/recipe/seed1"]


def test_sweep_table_rows_for_the_report(tmp_path):
    out = tmp_path / "out"
    for seed in (0, 1):
        fake_run(out, "dcgan", "lr_d=1e-4", seed, {"lr_d": 1e-4}, fid=40.0 + seed)
        fake_run(out, "random", "recipe", seed, {}, fid=400.0)
    header, rows = sweep_table_rows(sweep_table(out))
    assert header[:6] == ["variant", "settings", "runs", "completed", "diverged", "failed"]
    assert rows[0] == ["dcgan", "1", "2", "2", "0", "0", "lr_d=0.0001", "40.5 ± 0.707 (2 seeds)", "40.5 / 40.5 / 40.5"]
    assert rows[1][-2:] == ["400.0 ± 0 (2 seeds)", "400.0 / 400.0 / 400.0"]
    fake_run(tmp_path / "nofid", "dcgan", "recipe", 0, {})
    header, rows = sweep_table_rows(sweep_table(tmp_path / "nofid"))
    assert len(header) == 6 and rows == [["dcgan", "1", "1", "1", "0", "0"]]


def test_sweep_best_and_final_are_each_at_one_sample_count(tmp_path):
    """Runs with cheap curve points: the best along the way is a fid100, the end also has fid1000. score="best"
    ranks by the fid100 best points, score="final" by fid1000 (before, "best" fell back to fid1000's final value
    while the table called it the best during training)."""
    out = tmp_path / "out"
    for seed, (best, end100, end1000) in enumerate([(330.0, 340.0, 290.0), (345.0, 350.0, 300.0)]):
        run_dir = out / "dcgan" / "recipe" / f"seed{seed}"
        write_json(
            run_dir / "trial.json",
            {"sweep": "x", "trial": "recipe", "variant": "dcgan", "seed": seed, "params": {}, "attempts": []},
        )
        write_json(
            run_dir / "summary.json",
            {
                "variant": "dcgan",
                "seed": seed,
                "status": "completed",
                "kimg": 50.0,
                "final": {"fid1000": end1000, "fid100": end100},
                "best": {"metric": "fid100", "value": best, "kimg": 40.0},
            },
        )
    runs = sweep_runs(out)
    assert runs.attrs["metric"] == "fid100" and runs["fid"].tolist() == [330.0, 345.0]
    assert runs["fid_final"].tolist() == [340.0, 350.0]  # the final of the same metric beside it
    final = sweep_runs(out, score="final")
    assert final.attrs["metric"] == "fid1000" and final["fid"].tolist() == [290.0, 300.0]
    assert "fid100 (best during training)" in format_sweep_table(sweep_table(out))
