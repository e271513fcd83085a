"""benchmarks/commit_trials.sh: a long study's finished trials are committed as they finish (result files only),
including the one that finishes just before the study exits."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "commit_trials.sh"
pytestmark = pytest.mark.skipif(
    shutil.which("git") is None or shutil.which("pgrep") is None, reason="needs git and pgrep"
)


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


def _trial(run: Path, status: str) -> None:
    (run / "samples").mkdir(parents=True, exist_ok=True)
    (run / "checkpoints").mkdir(exist_ok=True)
    (run / "config.json").write_text("{}")
    (run / "metrics.jsonl").write_text("")
    (run / "summary.json").write_text(json.dumps({"status": status}))
    (run / "samples" / "final.png").write_bytes(b"png")
    (run / "checkpoints" / "last.pt").write_bytes(b"weights")


def test_the_trial_finished_last_is_committed_and_nothing_else(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    _git(repo, "config", "user.email", "t@example.com")
    _git(repo, "config", "user.name", "t")
    (repo / "README").write_text("x")
    _git(repo, "add", "README")
    _git(repo, "commit", "-q", "-m", "init")
    study = repo / "results" / "fair-x"
    done, last, unfinished = study / "a" / "seed0", study / "b" / "seed0", study / "c" / "seed0"
    _trial(done, "completed")
    _trial(last, "running")
    _trial(unfinished, "running")
    (study / "study.json").write_text("{}")
    # a stand-in study (its command line is what the script looks for). The race, made certain: right after the
    # script's first commit (a git hook), trial b finishes and the study exits, before the script looks again.
    fake = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(120)", "ganbench", "study", "--out", str(study)]
    )
    hook = repo / ".git" / "hooks" / "post-commit"
    hook.write_text(f"""#!/bin/sh
[ -e {tmp_path}/fired ] && exit 0
touch {tmp_path}/fired
echo '{{"status": "completed"}}' > {last / "summary.json"}
kill {fake.pid}
""")
    hook.chmod(0o755)
    try:
        out = subprocess.run(
            ["bash", str(SCRIPT), "results/fair-x", "1"], cwd=repo, capture_output=True, text=True, timeout=120
        )
    finally:
        fake.kill()
        fake.wait(timeout=60)
    assert out.returncode == 0, out.stderr
    assert "study process gone; stopping" in out.stdout
    tracked = set(_git(repo, "ls-files").split())
    for run in (done, last):
        rel = run.relative_to(repo).as_posix()
        assert {
            f"{rel}/config.json",
            f"{rel}/summary.json",
            f"{rel}/metrics.jsonl",
            f"{rel}/samples/final.png",
        } <= tracked
    assert "results/fair-x/study.json" in tracked
    assert not any("/c/" in p for p in tracked)  # an unfinished trial is not committed
    assert not any("checkpoints" in p for p in tracked)  # no checkpoints, ever
