"""One writer per run directory: `<run_dir>/.lock`, created atomically (O_CREAT | O_EXCL), holding the writer's
pid, host and start time as JSON.

A second process finds the file and refuses, naming the holder. A lock whose process is gone (not alive on this
host, or its pid now belongs to a younger process) is stale: it is removed with a note on stderr and taken. A lock
held from another host cannot be checked and is never broken; the message says how to remove it by hand.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import socket
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

LOCK_NAME = ".lock"
_CREATING_GRACE_S = 10.0  # an empty or unreadable lock younger than this is a writer still filling it in


class RunLocked(BlockingIOError):
    """Another live process writes this run directory."""

    def __str__(self) -> str:
        return str(self.args[0])


def _proc_start(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux), to tell a reused pid from the original."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) "; comm may hold spaces
    return fields[19] if len(fields) > 19 else None


def _alive(info: dict[str, Any]) -> bool | None:
    """True / False for a process on this host; None when it cannot be told (another host)."""
    if info.get("host") != socket.gethostname():
        return None
    pid = info.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)  # signal 0: existence check only
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    try:
        state = Path(f"/proc/{pid}/stat").read_text()
        if state[state.rindex(")") + 2 :].startswith("Z"):
            return False  # a zombie: dead, not yet reaped by its parent
    except (OSError, ValueError):
        pass
    recorded, now = info.get("proc_start"), _proc_start(pid)
    return not (recorded and now and recorded != now)  # same pid, another (younger) process: stale


def _read(path: Path) -> dict[str, Any] | None:
    try:
        return _read_bytes(path.read_bytes())
    except OSError:
        return None


def _describe(info: dict[str, Any]) -> str:
    return f"pid {info.get('pid')} on {info.get('host')} since {info.get('started')}"


def check(run_dir: Path) -> None:
    """Raise RunLocked if a live process (or one on another host) holds `run_dir`; a stale lock passes."""
    path = Path(run_dir) / LOCK_NAME
    if path.exists():
        _refuse_if_held(path)


def _refuse_if_held(path: Path) -> bytes | None:
    """Raise RunLocked while the lock's holder lives; otherwise return the stale content judged (None: gone)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    info = _read_bytes(raw)
    if info is None:
        if _age(path) < _CREATING_GRACE_S:
            raise RunLocked(
                f"{path.parent} is being taken by another ganbench process ({path} is being written); "
                "wait for it to finish"
            )
        return raw  # empty or unreadable and old: a writer died while creating it
    alive = _alive(info)
    if alive is None:
        raise RunLocked(
            f"{path.parent} is locked by {_describe(info)} (another host: cannot tell whether it still "
            f"runs). If that run has stopped, delete {path} and re-run"
        )
    if alive:
        raise RunLocked(
            f"{path.parent} is being written by another ganbench process ({_describe(info)}); wait for "
            f"it to finish or stop it (kill {info.get('pid')}), then re-run"
        )
    return raw


def _age(path: Path) -> float:
    try:
        return time.time() - path.stat().st_mtime
    except OSError:
        return float("inf")


def _break_stale(path: Path, before: bytes) -> None:
    """Remove `path` if it still holds `before`, the stale lock just judged. A guard lock serialises two processes
    breaking the same stale lock, so neither removes the fresh lock the other has just taken."""
    guard = path.with_name(LOCK_NAME + ".guard")
    with open(guard, "a") as g:
        try:
            import fcntl

            fcntl.flock(g, fcntl.LOCK_EX)
        except ImportError:  # pragma: no cover - not POSIX: no guard
            pass
        try:
            if path.read_bytes() != before:
                return  # someone else broke it and took a fresh lock meanwhile
        except FileNotFoundError:
            return
        path.unlink()
    info = _read_bytes(before)
    who = _describe(info) if info else "an unreadable lock file"
    print(f"ganbench: {path.parent}: removed a stale lock left by {who} (that process is gone)", file=sys.stderr)


def release_lost(run_dir: Path, pid: int | None, host: str | None) -> bool:
    """Remove `run_dir`'s lock if it is held by `pid` on `host`, a worker its executor reported lost (Ray: its
    node left the cluster), unless that process is seen alive on this host. Without this, a lock held from
    another host is never broken, and the trial could not resume elsewhere. True when removed."""
    path = Path(run_dir) / LOCK_NAME
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return False
    info = _read_bytes(raw)
    if not info or pid is None or info.get("pid") != pid or info.get("host") != host or _alive(info):
        return False
    _break_stale(path, raw)
    return True


def _read_bytes(raw: bytes) -> dict[str, Any] | None:
    try:
        info = json.loads(raw)
    except ValueError:
        return None
    return info if isinstance(info, dict) else None


@contextlib.contextmanager
def run_lock(run_dir: Path) -> Iterator[dict[str, Any]]:
    """Hold `<run_dir>/.lock` for the body; raise RunLocked if a live process holds it. Released on any exit."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / LOCK_NAME
    info = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "proc_start": _proc_start(os.getpid()),
        "token": uuid.uuid4().hex,
    }
    for _ in range(5):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            stale = _refuse_if_held(path)  # raises RunLocked while its holder lives
            if stale is not None:
                _break_stale(path, stale)
            continue
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(info))
            f.flush()
            os.fsync(f.fileno())
        break
    else:
        raise RunLocked(f"could not take the lock {path}: other processes keep taking it; re-run later")
    try:
        yield info
    finally:
        if (_read(path) or {}).get("token") == info["token"]:  # never remove a lock that is not ours
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
