"""Faults a long benchmark must survive (issue 7): kills, full disks, corrupt files, locks, bad input, collapse.

Every test here pins one row of the faults table in docs/faults.md. Runs are tiny (16 x 16, widths 8) and the fuzzers
are bounded, so the whole file stays well under a minute on two shared CPU cores.
"""

from __future__ import annotations

import errno
import io
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from tiny import tiny
from typer.testing import CliRunner

from ganbench import lock
from ganbench import models as models_mod
from ganbench import train as train_mod
from ganbench.commands import app
from ganbench.config import FIELDS, ConfigError, load_recipe, make_config, parse_overrides
from ganbench.data import DataError, DataSpec, decode, load_dataset
from ganbench.data import cache as data_cache
from ganbench.execution import Trial, runner
from ganbench.execution.runner import execute
from ganbench.execution.trial import existing_state
from ganbench.io import DiskFull, append_jsonl, atomic_write_bytes, read_json, read_jsonl, write_json
from ganbench.train import COLLAPSE_RATIO, collapse_report, load_checkpoint, train

# The same tiny run on the command line.
TINY_ARGS = [
    "--resolution",
    "16",
    "--max-images",
    "256",
    "--device",
    "cpu",
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
FUZZ = settings(
    max_examples=120,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
cli = CliRunner()
pytestmark = pytest.mark.usefixtures("one_thread")


def one_line_error(res, *needles: str) -> None:
    """A user-facing failure: exit 2, exactly one line on stderr, no traceback, saying what it should."""
    assert res.exit_code == 2, (res.exit_code, res.output)
    err = res.stderr.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, (needle, err)


def same_state(a, b) -> bool:
    """Bit-identical nested state (tensors compared with torch.equal)."""
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same_state(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same_state(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def last_ticks(run_dir: Path) -> dict[int, dict]:
    """Training values of each tick, the last record per tick (a resume repeats the ticks after its checkpoint)."""
    keep = ("kimg", "g_steps", "d_steps", "loss_d", "loss_g", "penalty", "d_real", "d_fake", "d_acc", "diversity")
    return {
        r["tick"]: {k: r.get(k) for k in keep} for r in read_jsonl(run_dir / "metrics.jsonl") if r["kind"] == "tick"
    }


def checkpoint(run_dir: Path) -> dict:
    state = torch.load(run_dir / "checkpoints" / "latest.pt", weights_only=False)
    state["counters"].pop("seconds")  # wall clock: the one thing a resume cannot repeat
    return state


def assert_same_run(a: Path, b: Path) -> None:
    ca, cb = checkpoint(a), checkpoint(b)
    assert same_state(ca["nets"], cb["nets"]), "weights, BatchNorm buffers or optimiser state differ"
    assert ca["counters"] == cb["counters"]
    assert same_state(ca["gen"], cb["gen"]) and same_state(ca["torch_rng"], cb["torch_rng"])
    assert last_ticks(a) == last_ticks(b)


def interrupt_at(monkeypatch, g_steps: int) -> None:
    """Make runner.execute's progress hook raise KeyboardInterrupt (Ctrl-C, SIGTERM) at a given G step."""

    class Stop:
        def update(self, c):
            if c.g_steps == g_steps:
                raise KeyboardInterrupt

        def close(self):
            pass

    monkeypatch.setattr(runner, "_progress_bar", lambda cfg, show, n_images: Stop())


def snapshot(run_dir: Path) -> dict[str, bytes]:
    return {str(p.relative_to(run_dir)): p.read_bytes() for p in sorted(run_dir.rglob("*")) if p.is_file()}


# ---------------------------------------------------------------------------------------------------- 1. atomic writes
def test_atomic_write_keeps_the_old_file_on_a_crash_or_full_disk(tmp_path, monkeypatch):
    target = tmp_path / "summary.json"
    write_json(target, {"status": "completed"})
    real_fsync = os.fsync

    def crash(fd):
        raise KeyboardInterrupt  # a kill between writing and renaming

    monkeypatch.setattr(os, "fsync", crash)
    with pytest.raises(KeyboardInterrupt):
        write_json(target, {"status": "running"})

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(DiskFull, match="no space left.*summary.json.*re-run the same command"):
        atomic_write_bytes(target, b"x" * 1000)
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert read_json(target) == {"status": "completed"}
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]  # no temporary left behind


def test_jsonl_reads_past_a_torn_line_and_appends_after_it(tmp_path):
    path = tmp_path / "metrics.jsonl"
    append_jsonl(path, {"kind": "tick", "tick": 1})
    with open(path, "ab") as f:
        f.write(b'{"kind":"tick","tick":2,"loss')  # killed mid-write
    assert read_jsonl(path) == [{"kind": "tick", "tick": 1}]
    append_jsonl(path, {"kind": "tick", "tick": 3})
    assert read_jsonl(path) == [{"kind": "tick", "tick": 1}, {"kind": "tick", "tick": 3}]


def _fd_path(fd: int) -> str:
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return ""


PROC_FD = pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="tells files apart through /proc/self/fd")


@PROC_FD
def test_jsonl_on_a_full_disk_leaves_the_file_as_it_was(tmp_path, monkeypatch):
    path = tmp_path / "metrics.jsonl"
    append_jsonl(path, {"kind": "tick", "tick": 1})
    before = path.read_bytes()
    real_write = os.write

    def half_then_full(fd, data):  # the kernel takes half of the record, then the disk is full
        if _fd_path(fd).endswith("metrics.jsonl"):
            if len(data) > 4:
                return real_write(fd, bytes(data[: len(data) // 2]))
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", half_then_full)
    with pytest.raises(DiskFull, match="metrics.jsonl"):
        append_jsonl(path, {"kind": "tick", "tick": 2, "loss_d": 0.5})
    assert path.read_bytes() == before


# ---------------------------------------------------------------------------------------------------- 2. resume
# With an EMA of G (half-life 0.2 kimg, ramp-up on), so the resumed average must come back exactly too.
KILL_ARGS = [
    "run",
    "--variants",
    "wgan-gp",
    "--budget",
    "1600img",
    "--seeds",
    "0",
    *TINY_ARGS,
    "--set",
    "checkpoint_ticks=2",
    "--set",
    "ema_half_life_kimg=0.2",
]


def _ganbench(args: list[str], out: Path) -> subprocess.Popen:
    env = os.environ | {
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",  # one thread, as in this process
        # compiled bytecode kept between runs (in a temporary folder): starts in seconds, not 20
        "PYTHONPYCACHEPREFIX": str(Path(tempfile.gettempdir()) / "ganbench-test-pycache"),
    }
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return subprocess.Popen(
        [sys.executable, "-m", "ganbench", *args, "--out", str(out)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_sigkill_mid_run_then_the_same_command_resumes_to_identical_weights_and_losses(tmp_path, images):
    """wgan-gp with an EMA of G: 5 critic steps per G step and a gradient penalty drawing from the global RNG, so
    every random stream, the optimiser state, the EMA (weights and its image count) and the tick schedule have to
    come back exactly."""
    killed = _ganbench(KILL_ARGS, tmp_path / "killed")
    run = tmp_path / "killed" / "wgan-gp" / "seed0"
    deadline = time.time() + 600  # generous: a starved process (a busy machine, nice) is slow, not wrong
    while time.time() < deadline and killed.poll() is None:
        ticks = [r for r in read_jsonl(run / "metrics.jsonl") if r.get("kind") == "tick"]
        if (run / "checkpoints" / "latest.pt").is_file() and len(ticks) >= 3:
            break  # past the first checkpoint, mid-way between two
        time.sleep(0.01)
    assert killed.poll() is None, "the run ended before it could be killed: raise the budget"
    os.kill(killed.pid, signal.SIGKILL)
    killed.wait()
    assert read_json(run / "summary.json")["status"] == "running"  # no chance to write anything else
    assert json.loads((run / ".lock").read_text())["pid"] == killed.pid

    resumed = _ganbench(KILL_ARGS, tmp_path / "killed")  # the same command, in a new process
    straight = cli.invoke(app, [*KILL_ARGS, "--out", str(tmp_path / "straight")])  # meanwhile, uninterrupted
    assert straight.exit_code == 0, straight.output
    _, err = resumed.communicate(timeout=900)
    assert resumed.returncode == 0, err
    assert f"removed a stale lock left by pid {killed.pid}" in err

    assert read_json(run / "summary.json")["status"] == "completed"
    assert_same_run(tmp_path / "straight" / "wgan-gp" / "seed0", run)
    ema = checkpoint(run)["nets"]["G_ema"]  # the EMA is in the checkpoint, compared above, and it moved off G
    assert ema["nimg"] == 1600 and not same_state(ema["G"], checkpoint(run)["nets"]["G"])
    assert len(last_ticks(run)) == 20 and any(r["kind"] == "resume" for r in read_jsonl(run / "metrics.jsonl"))
    assert not (run / ".lock").exists()


class RandomEvaluator:
    """An evaluator that draws from the global RNG (as sub-sampling metrics do) and can be interrupted."""

    names = ["fid10"]
    protocol = {"n": 10}

    def __init__(self, interrupt_at_call: int | None = None):
        self.calls, self.interrupt_at_call = 0, interrupt_at_call

    def __call__(self, sample):
        self.calls += 1
        if self.calls == self.interrupt_at_call:
            raise KeyboardInterrupt
        sample(4)
        return {"fid10": float(torch.rand(()).item())}


def test_interrupted_evaluation_neither_skews_training_nor_adds_a_tick(tmp_path, images, monkeypatch):
    """Killed during an evaluation (the final one too): the resumed run still matches an uninterrupted one. The
    evaluator's random draws never move training's RNG, and a resume with nothing left to train adds no tick."""
    cfg = tiny("wgan-gp", budget="960img", eval_every_kimg=0.16, checkpoint_ticks=2)
    train(cfg, tmp_path / "straight", images, evaluate=RandomEvaluator())
    run = tmp_path / "resumed"
    # evaluations at 160, 320, ..., 800 images and a final one at 960; each attempt counts its calls from 1:
    # killed in the 3rd (480 images: the resume goes back to the checkpoint at 320), then in the final one
    for call in (3, 4):
        with pytest.raises(KeyboardInterrupt):
            train(cfg, run, images, evaluate=RandomEvaluator(interrupt_at_call=call))
    out = train(cfg, run, images, evaluate=RandomEvaluator())
    assert_same_run(tmp_path / "straight", run)
    assert out["g_steps"] == 12 and checkpoint(run)["counters"]["tick"] == len(last_ticks(run)) == 12

    def evals(where):  # every evaluation recorded once it counts: none lost to the interruptions
        return {r["kimg"]: r["fid10"] for r in read_jsonl(where / "metrics.jsonl") if r["kind"] == "eval"}

    assert evals(run) == evals(tmp_path / "straight") and len(evals(run)) == 6
    train(cfg, tmp_path / "no-eval", images)  # and evaluating at all changes nothing that is learned
    assert same_state(checkpoint(tmp_path / "no-eval")["nets"], checkpoint(run)["nets"])


def test_a_changed_config_is_refused_with_the_difference_and_nothing_is_touched(tmp_path, images):
    out = tmp_path / "res"
    first = cli.invoke(app, ["run", "--variants", "dcgan", "--budget", "64img", "--out", str(out), *TINY_ARGS])
    assert first.exit_code == 0, first.output
    run = out / "dcgan" / "seed0"
    before = snapshot(run)
    res = cli.invoke(
        app, ["run", "--variants", "dcgan", "--budget", "64img", "--out", str(out), *TINY_ARGS, "--set", "lr_d=5e-5"]
    )
    one_line_error(res, "different config", "lr_d: 0.0002 (on disk) != 5e-05 (requested)", "another --out")
    assert snapshot(run) == before


def test_no_resume_refuses_to_overwrite_a_checkpoint(tmp_path, images, monkeypatch):
    plan = Trial(tiny(budget="256img", checkpoint_ticks=1), tmp_path / "dcgan" / "seed0")
    interrupt_at(monkeypatch, 9)
    with pytest.raises(KeyboardInterrupt):
        execute(plan, images, {})
    assert read_json(plan.run_dir / "summary.json")["status"] == "interrupted"
    with pytest.raises(ConfigError, match="--no-resume would overwrite it"):
        existing_state(plan, resume=False)
    assert existing_state(plan, resume=True) == "resumable"


# ---------------------------------------------------------------------------------------------------- 3. one writer
def test_a_live_lock_refuses_a_second_writer_naming_its_pid(tmp_path):
    out = tmp_path / "res"
    run = out / "dcgan" / "seed1"
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        run.mkdir(parents=True)
        (run / ".lock").write_text(json.dumps({"pid": holder.pid, "host": socket.gethostname(), "started": "now"}))
        res = cli.invoke(
            app, ["run", "--variants", "dcgan", "--budget", "64img", "--seeds", "0,1", "--out", str(out), *TINY_ARGS]
        )
        one_line_error(res, f"pid {holder.pid}", "being written by another ganbench process")
        assert sorted(p.name for p in run.iterdir()) == [".lock"]  # nothing written beside it
        assert not (out / "dcgan" / "seed0").exists()  # refused up front, before any run started
        with pytest.raises(lock.RunLocked), lock.run_lock(run):  # the lock itself refuses too, not just the CLI
            pass
    finally:
        holder.kill()
        holder.wait()


def test_a_stale_lock_is_recovered_and_the_lock_is_released_on_every_exit(tmp_path, images, monkeypatch, capsys):
    run = tmp_path / "dcgan" / "seed0"
    run.mkdir(parents=True)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    (run / ".lock").write_text(json.dumps({"pid": gone.pid, "host": socket.gethostname(), "started": "then"}))
    (run / "checkpoints").mkdir()
    (run / "checkpoints" / ".latest.pt.k1ll3d.tmp").write_bytes(b"half a checkpoint")  # the dead writer's
    summary = execute(Trial(tiny(), run), images, {}, show_progress=False)
    assert summary["status"] == "completed"
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["latest.pt"]
    assert f"removed a stale lock left by pid {gone.pid}" in capsys.readouterr().err
    assert not (run / ".lock").exists()

    def boom(*a, **k):
        raise RuntimeError("boom")

    monkeypatch.setattr(train_mod, "train", boom)
    assert execute(Trial(tiny(seed=1), tmp_path / "x"), images, {}, show_progress=False)["status"] == "failed"
    assert not (tmp_path / "x" / ".lock").exists()


def test_sigterm_ends_a_run_like_ctrl_c():
    previous = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt), runner._sigterm_as_interrupt():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # not reached: the handler raises as soon as the signal arrives
    assert signal.getsignal(signal.SIGTERM) is previous


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="pid reuse is detected through /proc")
def test_a_lock_whose_pid_was_reused_is_stale(tmp_path):
    (tmp_path / ".lock").write_text(
        json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started": "long ago", "proc_start": "1"})
    )
    lock.check(tmp_path)  # our pid, but a process started at another time: not the holder
    with lock.run_lock(tmp_path) as info:
        assert info["pid"] == os.getpid()
        with pytest.raises(lock.RunLocked, match=f"pid {os.getpid()}"):
            lock.check(tmp_path)


# ---------------------------------------------------------------------------------------------------- 4. collapse
def test_collapse_report_tells_a_constant_generator_from_a_diverse_one(images):
    real = images[:128].float() / 127.5 - 1
    real_div = train_mod.diversity(real).item()
    constant = collapse_report(real[:1].expand(128, -1, -1, -1), real_div)
    assert constant["collapsed"] and constant["ratio"] == pytest.approx(0, abs=1e-3)
    healthy = collapse_report(images[128:].float() / 127.5 - 1, real_div)
    assert not healthy["collapsed"] and healthy["ratio"] == pytest.approx(1, abs=0.1)
    assert healthy["threshold"] == COLLAPSE_RATIO


def test_summary_flags_a_collapsed_generator(tmp_path, images, monkeypatch, capsys):
    original = models_mod.Generator.forward

    def constant(self, z):  # one image for every z; still differentiable so training runs normally
        out = original(self, z)
        return out.mean(0, keepdim=True).expand_as(out)

    monkeypatch.setattr(models_mod.Generator, "forward", constant)
    summary = execute(Trial(tiny(), tmp_path / "collapsed"), images, {}, show_progress=False)
    assert summary["status"] == "completed" and summary["collapse"]["collapsed"]
    assert "samples look collapsed" in capsys.readouterr().err
    monkeypatch.setattr(models_mod.Generator, "forward", original)
    healthy = execute(Trial(tiny("random"), tmp_path / "random"), images, {}, show_progress=False)
    assert healthy["collapse"]["collapsed"] is False and healthy["collapse"]["ratio"] > 0.5
    assert read_json(tmp_path / "collapsed" / "summary.json")["collapse"]["collapsed"] is True
    ticks = [r for r in read_jsonl(tmp_path / "collapsed" / "metrics.jsonl") if r["kind"] == "tick"]
    assert all(r["diversity"] < COLLAPSE_RATIO for r in ticks)


# ---------------------------------------------------------------------------------------------------- 5. bad input
def _recipe(tmp_path: Path, text: str) -> str:
    path = tmp_path / "mine.toml"
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize(
    "args,needles",
    [
        (["--set", "lr_d=fast"], ["'lr_d' expects a number, got 'fast'"]),
        (["--variants", "RECIPE:lr_d = 'fast'"], ["'lr_d' expects a number", "mine.toml"]),
        (["--variants", "RECIPE:n_critic = 2.5"], ["'n_critic' expects an integer", "mine.toml"]),
        (["--variants", "RECIPE:learning_rate = 1e-4"], ["unknown config key 'learning_rate'", "mine.toml"]),
        (["--variants", "RECIPE:lr_d = "], ["not valid TOML", "mine.toml"]),
        (["--set", "n_critc=5"], ["unknown config key 'n_critc'", "Did you mean 'n_critic'"]),
        (["--budget", "-3kimg"], ["budget '-3kimg' is not understood: a budget must be positive"]),
        (["--budget", "0steps"], ["budget '0steps' must be a positive"]),
        (["--budget", "3 fortnights"], ["budget '3 fortnights' is not understood"]),
        (["--resolution", "48"], ["resolution 48 cannot be built", "power of two"]),
        (["--resolution", "2048"], ["resolution 2048 is larger than ganbench supports"]),
        (["--set", "seed=3"], ["seeds are set with --seeds"]),
        (["--set", "tick_kimg=0.0001"], ["'tick_kimg' must be at least 0.001"]),
        (["--set", "variant=../../elsewhere"], ["cannot name a run folder"]),
        (["--dataset", "folder", "--data", "/nonexistent/faces"], ["data folder '/nonexistent/faces' does not exist"]),
    ],
)
def test_cli_bad_input_is_one_line_saying_what_to_do(args, needles, tmp_path):
    args = [f"{_recipe(tmp_path, a[7:])}" if a.startswith("RECIPE:") else a for a in args]
    dry = "--dataset" not in args  # a data folder is only opened by a real run
    res = cli.invoke(app, ["run", *args, "--out", str(tmp_path / "out"), *(["--dry-run"] if dry else TINY_ARGS)])
    one_line_error(res, *needles)
    assert not (tmp_path / "out").exists()


def test_debug_shows_the_traceback():
    res = cli.invoke(app, ["run", "--dry-run", "--set", "lr_d=fast", "--debug"])
    assert res.exit_code != 0 and isinstance(res.exception, ConfigError)


def _png_header(width: int, height: int) -> bytes:
    """A small PNG file whose header declares width x height pixels (the pixel data is a few bytes)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def _good_images(folder: Path, n: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        path = folder / f"good{i}.{'png' if i % 2 else 'jpg'}"
        Image.fromarray(rng.integers(0, 255, (24, 20, 3), dtype=np.uint8)).save(path)
        paths.append(path)
    return paths


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GANBENCH_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_bad_image_files_are_skipped_and_counted(tmp_path, cache, capsys):
    root = tmp_path / "imgs"
    good = _good_images(root, 6)
    (root / "empty.png").write_bytes(b"")
    (root / "notes.jpg").write_text("not an image")
    (root / "truncated.jpg").write_bytes(good[0].read_bytes()[:200])
    (root / "huge.png").write_bytes(_png_header(10_000, 10_000))  # 1e8 pixels: over PIL's limit, under twice it
    (root / "bomb.png").write_bytes(_png_header(100_000, 100_000))  # 1e10 pixels: PIL's own bomb error
    ds = load_dataset(DataSpec("folder", root=str(root), resolution=16, split="all"))
    assert len(ds) == 6 and ds.protocol["skipped"] == 5 and ds.protocol["files"] == 11
    assert "skipped 5 unreadable" in capsys.readouterr().err
    for name, why in [
        ("empty.png", "not a readable image"),
        ("notes.jpg", "not a readable image"),
        ("truncated.jpg", "not a readable image"),
        ("huge.png", r"enormous image \(10000 x 10000"),
        ("bomb.png", "enormous image"),
    ]:
        with pytest.raises(DataError, match=why):
            decode.decode_image(root / name, 0, 16)
    only_huge = tmp_path / "huge"
    only_huge.mkdir()
    for i in range(3):
        (only_huge / f"{i}.png").write_bytes(_png_header(10_000, 10_000 + i))
    with pytest.raises(DataError, match="none of the 3 files.*enormous"):
        load_dataset(DataSpec("folder", root=str(only_huge), resolution=16, split="all"))


def test_a_postscript_file_named_jpg_never_reaches_ghostscript(tmp_path, monkeypatch):
    from PIL import EpsImagePlugin

    opened = []
    monkeypatch.setattr(EpsImagePlugin.EpsImageFile, "_open", lambda self: opened.append(self) or 1 / 0)
    (tmp_path / "x.jpg").write_bytes(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n")
    with pytest.raises(DataError, match="not a readable image"):
        decode.decode_image(tmp_path / "x.jpg", 0, 16)
    assert opened == []  # the PostScript reader (which runs Ghostscript) was never even tried


def test_data_folder_disappearing_after_loading(tmp_path, cache, monkeypatch):
    root = tmp_path / "faces"
    _good_images(root, 8)
    original = train_mod.train

    def vanish_then_train(*a, **k):
        shutil.rmtree(root)  # the folder goes away after decoding, before and during training
        return original(*a, **k)

    monkeypatch.setattr(train_mod, "train", vanish_then_train)
    out = tmp_path / "res"
    args = [
        "run",
        "--variants",
        "dcgan",
        "--dataset",
        "folder",
        "--data",
        str(root),
        "--budget",
        "64img",
        "--out",
        str(out),
        *TINY_ARGS,
    ]
    res = cli.invoke(app, args)
    assert res.exit_code == 0, res.output
    run = out / "dcgan" / "seed0"
    assert read_json(run / "summary.json")["status"] == "completed"
    before = snapshot(run)
    monkeypatch.setattr(train_mod, "train", original)
    again = cli.invoke(app, [*args, "--seeds", "0,1"])  # seed 0 is done, seed 1 needs the data
    assert again.exit_code == 2 and "Traceback" not in again.stderr
    assert again.stderr.splitlines() == [
        f"{run}: already completed, skipped",
        f"ganbench: error: data folder '{root}' does not exist (or is not a folder): check --data",
    ]
    assert snapshot(run) == before


MISSING_SWEEP = """
[sweep]
name = "gone"
variants = ["dcgan"]
budget = "64img"
[data]
dataset = "folder"
resolution = 16
[settings]
device = "cpu"
"""


@pytest.mark.parametrize("given", ["file", "set"])
@pytest.mark.parametrize("command", ["sweep", "study"])
def test_a_missing_data_folder_names_where_its_path_came_from(tmp_path, command, given):
    """The data pre-flight's one line names the option or the file key the path came from: `--data` for `ganbench
    run` (above), the file's `[data] data` for a sweep or study file, `--set data=` when the command line set it."""
    from test_study import FOLDER_STUDY

    gone = tmp_path / "gone"
    text = MISSING_SWEEP if command == "sweep" else FOLDER_STUDY
    if given == "file":
        text = text.replace('dataset = "folder"', f'dataset = "folder"\ndata = "{gone}"')
    file = tmp_path / "s.toml"
    file.write_text(text)
    extra = ["--set", f"data={gone}"] if given == "set" else []
    res = cli.invoke(app, [command, str(file), "--out", str(tmp_path / "out"), *extra])
    assert res.exit_code == 2 and "Traceback" not in res.stderr, res.output
    where = f"[data] data in {file}" if given == "file" else "--set data="
    assert res.stderr.splitlines()[-1] == (
        f"ganbench: error: data folder '{gone}' does not exist (or is not a folder): check {where}"
    )
    assert "check --data" not in res.stderr  # the option `ganbench run` takes, not this command's
    assert not list((tmp_path / "out").rglob("summary.json"))  # no trial started


@pytest.mark.parametrize("command", ["sweep", "study"])
def test_a_dry_run_prints_its_plan_and_the_line_the_real_start_would_stop_with(tmp_path, command):
    from test_study import FOLDER_STUDY

    gone = tmp_path / "gone"
    file = tmp_path / "s.toml"
    file.write_text(MISSING_SWEEP if command == "sweep" else FOLDER_STUDY)
    res = cli.invoke(app, [command, str(file), "--out", str(tmp_path / "out"), "--set", f"data={gone}", "--dry-run"])
    assert res.exit_code == 0, res.output
    line = f"data folder '{gone}' does not exist (or is not a folder): check --set data="
    assert f"note: the real start would stop before its first trial: {line}" in res.output
    assert "dcgan" in res.output and not list((tmp_path / "out").rglob("*.json"))  # the plan; nothing written


def test_files_disappearing_while_listed_or_decoded(tmp_path):
    gone = tmp_path / "gone.jpg"
    with pytest.raises(DataError, match="disappeared while the data set was being listed"):
        decode.files_fingerprint([gone])
    with pytest.raises(DataError, match="disappeared"):
        decode.decode_image(gone, 0, 16)


@PROC_FD
def test_a_full_disk_during_a_checkpoint_fails_the_run_and_keeps_the_last_one(tmp_path, images, monkeypatch, capsys):
    cfg = tiny(budget="256img", checkpoint_ticks=1)
    run = tmp_path / "full" / "seed0"
    real_fsync, writes = os.fsync, {"n": 0}

    def fsync(fd):
        if ".latest.pt." in _fd_path(fd):
            writes["n"] += 1
            if writes["n"] == 3:  # the third checkpoint: the disk is full
                raise OSError(errno.ENOSPC, "No space left on device")
        return real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    summary = execute(Trial(cfg, run), images, {}, show_progress=False)
    assert summary["status"] == "failed"
    assert summary["error"].startswith("no space left on the disk while writing")
    assert "latest.pt" in summary["error"] and "re-run the same command" in summary["error"]
    err = capsys.readouterr().err
    assert len([line for line in err.splitlines() if "failed" in line]) == 1
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["latest.pt"]  # temporary removed
    assert load_checkpoint(run / "checkpoints" / "latest.pt", {}, None, torch.device("cpu")).tick == 2
    assert [r["tick"] for r in read_jsonl(run / "metrics.jsonl") if r["kind"] == "tick"] == [1, 2, 3]
    assert not (run / ".lock").exists()

    monkeypatch.setattr(os, "fsync", real_fsync)  # space freed: the same command resumes and loses nothing
    assert execute(Trial(cfg, run), images, {}, show_progress=False)["status"] == "completed"
    train(cfg, tmp_path / "straight", images)
    assert_same_run(tmp_path / "straight", run)


@PROC_FD
def test_a_full_disk_while_appending_metrics_fails_the_run_and_keeps_them(tmp_path, images, monkeypatch):
    run = tmp_path / "full" / "seed0"
    real_write, appends = os.write, {"n": 0}

    def write(fd, data):
        if _fd_path(fd).endswith("metrics.jsonl"):
            appends["n"] += 1
            if appends["n"] == 3:
                raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", write)
    summary = execute(Trial(tiny(budget="256img", checkpoint_ticks=1), run), images, {}, show_progress=False)
    assert summary["status"] == "failed" and "metrics.jsonl" in summary["error"]
    raw = (run / "metrics.jsonl").read_bytes()
    assert raw.endswith(b"\n") and [json.loads(x)["tick"] for x in raw.splitlines()] == [1, 2]
    assert load_checkpoint(run / "checkpoints" / "latest.pt", {}, None, torch.device("cpu")).tick == 2


def test_a_full_disk_for_the_data_cache_only_costs_the_cache(tmp_path, cache, monkeypatch, capsys):
    _good_images(tmp_path / "imgs", 4)

    def full(path, data):
        raise DiskFull(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(data_cache, "atomic_write_bytes", full)
    ds = load_dataset(DataSpec("folder", root=str(tmp_path / "imgs"), resolution=16, split="all"))
    assert len(ds) == 4 and "could not write the data cache" in capsys.readouterr().err


def test_a_corrupt_checkpoint_fails_the_run_clearly_and_deletes_nothing(tmp_path, images, monkeypatch):
    out = tmp_path / "res"
    args = [
        "run",
        "--variants",
        "dcgan",
        "--budget",
        "256img",
        "--out",
        str(out),
        *TINY_ARGS,
        "--set",
        "checkpoint_ticks=1",
    ]
    interrupt_at(monkeypatch, 10)
    assert cli.invoke(app, args).exit_code == 130  # Ctrl-C: interrupted, as a shell reports SIGINT
    monkeypatch.undo()
    run = out / "dcgan" / "seed0"
    assert read_json(run / "summary.json")["status"] == "interrupted"
    ckpt = run / "checkpoints" / "latest.pt"
    ckpt.write_bytes(ckpt.read_bytes()[:5000])  # a disk error, a bad copy
    before = {k: v for k, v in snapshot(run).items() if k != "summary.json"}
    res = cli.invoke(app, args)
    assert res.exit_code == 1 and "Traceback" not in res.stderr
    line = next(x for x in res.stderr.splitlines() if "dcgan/seed0 failed" in x)
    assert "checkpoint" in line and "latest.pt cannot be loaded" in line and "delete it" in line
    summary = read_json(run / "summary.json")
    assert summary["status"] == "failed" and "another --out" in summary["error"]
    after = snapshot(run)
    assert all(after[k] == v for k, v in before.items())  # nothing deleted or changed
    assert set(after) - set(before) == {"summary.json", "error.log"}


# ---------------------------------------------------------------------------------------------------- fuzzing
_VALUE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True),
    st.text(max_size=12),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
_KEYS = st.one_of(st.sampled_from(sorted(FIELDS)), st.text(max_size=10))


@FUZZ
@given(
    st.lists(
        st.one_of(st.text(max_size=30), st.builds(lambda k, v: f"{k}={v}", _KEYS, st.text(max_size=12))), max_size=4
    )
)
def test_fuzz_overrides_raise_only_config_errors(items):
    try:
        make_config(load_recipe("dcgan"), **parse_overrides(items))
    except ConfigError:
        pass


@FUZZ
@given(st.dictionaries(_KEYS, _VALUE, max_size=5))
def test_fuzz_make_config_raises_only_config_errors(values):
    try:
        cfg = make_config({}, **values)
    except ConfigError:
        return
    assert cfg.resolution >= 16 and cfg.batch_size > 0  # whatever passes is runnable


_TOML_LINE = st.one_of(
    st.builds(
        lambda k, v: f"{k} = {v}",
        _KEYS,
        st.one_of(
            st.sampled_from(
                [
                    "1",
                    "-1",
                    "0",
                    "1.5",
                    "1e400",
                    "nan",
                    "inf",
                    "true",
                    '"x"',
                    "[1, 2]",
                    "{a = 1}",
                    "1979-05-27",
                    '"""',
                    "'",
                    "0x10",
                ]
            ),
            st.text(max_size=8),
        ),
    ),
    st.sampled_from(["[table]", "[[arr]]", "# comment", ""]),
    st.text(max_size=20),
)


@FUZZ
@given(st.lists(_TOML_LINE, max_size=6))
def test_fuzz_recipe_files_raise_only_config_errors(tmp_path, lines):
    path = tmp_path / "fuzz.toml"
    path.write_bytes("\n".join(lines).encode("utf-8", "surrogatepass"))  # lone surrogates: not UTF-8
    try:
        make_config(load_recipe(str(path)))
    except ConfigError:
        pass


def _real_bytes() -> list[bytes]:
    rng = np.random.default_rng(1)
    out = []
    for fmt in ("PNG", "JPEG", "BMP", "WEBP"):
        buf = io.BytesIO()
        Image.fromarray(rng.integers(0, 255, (12, 10, 3), dtype=np.uint8)).save(buf, format=fmt)
        out.append(buf.getvalue())
    return out


REAL = _real_bytes()


@st.composite
def mangled_image(draw):
    """Random bytes, or a real image truncated and with a few bytes changed."""
    if draw(st.booleans()):
        return draw(st.binary(max_size=600))
    raw = bytearray(draw(st.sampled_from(REAL)))
    raw = raw[: draw(st.integers(0, len(raw)))]
    for _ in range(draw(st.integers(0, 4))):
        if raw:
            raw[draw(st.integers(0, len(raw) - 1))] = draw(st.integers(0, 255))
    return bytes(raw)


@FUZZ
@given(mangled_image(), st.sampled_from([".png", ".jpg", ".bmp", ".webp"]))
def test_fuzz_decode_raises_only_data_errors(tmp_path, raw, suffix):
    path = tmp_path / f"fuzz{suffix}"
    path.write_bytes(raw)
    try:
        arr = decode.decode_image(path, 0, 16)
    except DataError:
        return
    assert arr.shape == (16, 16, 3) and arr.dtype == np.uint8


@settings(
    max_examples=25,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(st.lists(mangled_image(), min_size=1, max_size=4), st.integers(0, 2))
def test_fuzz_folder_loads_or_raises_a_data_error(tmp_path, cache, files, good):
    folder = tmp_path / f"f{time.monotonic_ns()}"  # a fresh folder (and cache key) per example
    folder.mkdir()
    for i, raw in enumerate(files):
        (folder / f"{i}.png").write_bytes(raw)
    for i in range(good):
        (folder / f"ok{i}.png").write_bytes(REAL[0])
    try:
        ds = load_dataset(DataSpec("folder", root=str(folder), resolution=16, split="all"))
    except DataError:
        return
    assert ds.images.shape[1:] == (3, 16, 16) and len(ds) >= 1
