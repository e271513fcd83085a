"""Executors: where trials run. Each takes the trials to run and yields (trial, summary) as they finish.

A trial whose worker is lost (its process killed or out of memory, its node gone: the executor reports it, the
trial did not fail) runs again, resuming from its last checkpoint, up to `max_retries` times in one command. A
trial that fails by itself (an error in the run, a divergence) returns its summary like any other and is never
retried. The driver resubmits such a trial itself, rather than leaving it to Ray's task retries, because only the
driver learns why an attempt ended: it writes that into the attempt's record in trial.json, frees the lost
worker's lock (held from a node that left, it would never be broken), and counts the retries for the command's
closing summary; the local executor's process pools have no retries of their own.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ganbench.errors import ConfigError
from ganbench.execution.execute import end_attempt, lost, run_trial
from ganbench.execution.trial import Trial
from ganbench.lock import release_lost
from ganbench.registry import Registry
from ganbench.rundir import FINAL, RunDir, Status
from ganbench.spec import EXECUTOR_NAMES, LOCAL, MAX_RETRIES, RAY

OBJECT_STORE_BYTES = 200 * 2**20  # a local Ray cluster only carries trial summaries: keep its shared memory small


@dataclass
class ExecOptions:
    evaluate: bool = True
    max_concurrent: int = 0  # 0: the executor's default
    cpus_per_trial: float | None = None
    gpus_per_trial: float | None = None
    ray_address: str | None = None  # ray: join this cluster ('auto', host:port); None: start a local one
    show_progress: bool = True
    resume: bool = True  # False: a run with --no-resume starts over
    max_retries: int = MAX_RETRIES  # per trial and command: runs again after its worker was lost, at most this often
    on_retry: Callable[[Trial, int, str], None] | None = None  # told (trial, retry number, why) before each retry
    # A batch (a sweep, a study): each trial records its attempts in trial.json and its own failure, and a directory
    # another process writes is left to it. False (`ganbench run`): trials run one by one in this process, and
    # inputs that cannot be built or a directory another process holds end the command (execute.run_trial).
    batch: bool = True
    data_from: str | None = None  # where the data folder was given, named by the data pre-flight (None: --data)


Executor = Callable[[list[Trial], ExecOptions], Iterator[tuple[Trial, dict[str, Any]]]]
EXECUTORS: Registry[Executor] = Registry("executor")


def _attempt_id() -> str:
    return uuid.uuid4().hex[:12]


def _why(error: BaseException) -> str:
    """One line: the error's class and message (for Ray's RayTaskError, its cause's message, not the traceback)."""
    cause = getattr(error, "cause", None)
    text = " ".join(re.sub(r"\x1b\[[0-9;]*m", "", str(cause if isinstance(cause, BaseException) else error)).split())
    return f"{type(error).__name__}: {text}"[:2000] if text else type(error).__name__


class _Retries:
    """The retry policy of one command: how often each trial's worker was lost, and what happens next."""

    def __init__(self, opts: ExecOptions, executor: str) -> None:
        self.limit, self.on_retry, self.executor = opts.max_retries, opts.on_retry, executor
        self.counts: dict[Path, int] = {}

    def outcome(self, trial: Trial, attempt: str, why: str, worker_lost: bool) -> dict[str, Any] | None:
        """The summary of an attempt whose worker returned none (`why`: the executor's error; `worker_lost`: it
        says the worker died), or None: run the trial again. Retried: an attempt that never ended (its worker
        died), or one that ended `interrupted` (SIGTERM or SIGINT sent to its worker alone, as a preemption does).
        Not retried: an attempt that ended by itself (its summary stands) or any other error (`failed`)."""
        record = end_attempt(trial, attempt, self.executor, why, Status.LOST if worker_lost else Status.FAILED)
        ended = record.get("status")  # as its worker left it: `running` if it never ended
        if ended in (*FINAL, Status.FAILED):  # the run had its say before its worker went
            return RunDir(trial.run_dir).read_summary() or lost(trial, why)
        if not (ended == Status.INTERRUPTED or (worker_lost and ended == Status.RUNNING)):
            return lost(trial, why)
        release_lost(trial.run_dir, record.get("pid"), record.get("host"))
        retries = self.counts.get(trial.run_dir, 0)
        if retries >= self.limit:
            return lost(
                trial,
                f"its worker was lost on {retries + 1} attempt{'s' if retries else ''} "
                f"(max_retries = {self.limit}); the last: {why}",
            )
        self.counts[trial.run_dir] = retries + 1
        if self.on_retry:
            self.on_retry(trial, retries + 1, why)
        return None


def _visible_gpus() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def run_local(trials: list[Trial], opts: ExecOptions) -> Iterator[tuple[Trial, dict[str, Any]]]:
    """One trial at a time in this process (sharing decoded data and evaluators), or with max_concurrent > 1 (by
    default: one per visible GPU when there are several) that many worker processes, each pinned to one GPU."""
    check_gpus_per_trial(opts.gpus_per_trial)
    gpus = _visible_gpus()
    slots = (opts.max_concurrent or max(1, gpus)) if opts.batch else 1
    cpus = os.cpu_count() or 1
    if slots == 1:
        threads = int(opts.cpus_per_trial) if opts.cpus_per_trial else 0  # 0: torch's default, all cores
        cache: dict = {}
        for trial in trials:
            yield (
                trial,
                run_trial(
                    trial, opts.evaluate, threads, LOCAL, cache, opts.show_progress, opts.resume, batch=opts.batch
                ),
            )
        return

    threads = int(opts.cpus_per_trial) if opts.cpus_per_trial else max(1, cpus // slots)
    yield from _run_workers(trials, opts, threads, worker_gpus(slots, gpus, os.environ.get("CUDA_VISIBLE_DEVICES")))


def _gpu_share(gpu_of: list[str | None], slot: int) -> float:
    """The share of its GPU a slot's trial may count on: 1 / the slots pinned to the same GPU."""
    return 1.0 / gpu_of.count(gpu_of[slot]) if gpu_of[slot] is not None else 1.0


def _run_workers(
    trials: list[Trial], opts: ExecOptions, threads: int, gpu_of: list[str | None]
) -> Iterator[tuple[Trial, dict[str, Any]]]:
    """One worker process per slot, each a single-worker pool pinned to its GPU (gpu_of[slot]). A worker killed
    from outside breaks only its own pool, so it takes down only the trial it ran (the other slots run on, their
    trials neither stopped nor counted); a fresh pool, on the same GPU, takes that slot and the trial resumes."""
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    ctx = multiprocessing.get_context("spawn")  # fresh interpreters: no CUDA state inherited from this one
    retries = _Retries(opts, LOCAL)
    pools: list[ProcessPoolExecutor | None] = [None] * len(gpu_of)
    running: dict = {}  # future -> (slot, trial, attempt id)
    queue = deque(trials)
    try:
        while queue or running:
            busy = {slot for slot, _, _ in running.values()}
            for slot in range(len(pools)):
                if not queue:
                    break
                if slot in busy:
                    continue
                if pools[slot] is None:
                    pools[slot] = ProcessPoolExecutor(
                        1, mp_context=ctx, initializer=_pin_worker, initargs=(gpu_of[slot], _gpu_share(gpu_of, slot))
                    )
                trial, attempt = queue.popleft(), _attempt_id()
                future = pools[slot].submit(run_trial, trial, opts.evaluate, threads, LOCAL, attempt=attempt)
                running[future] = (slot, trial, attempt)
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                slot, trial, attempt = running.pop(future)
                error = future.exception()  # KeyboardInterrupt too: a worker stopped by a signal of its own
                if error is None:
                    yield trial, future.result()
                    continue
                died = isinstance(error, BrokenProcessPool)
                if died:  # its worker is gone: a fresh one takes the slot
                    pools[slot].shutdown(wait=True)
                    pools[slot] = None
                summary = retries.outcome(trial, attempt, _why(error), worker_lost=died)
                if summary is None:
                    queue.appendleft(trial)  # next, so that it resumes from a fresh checkpoint
                else:
                    yield trial, summary
    finally:
        for pool in pools:
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)


def worker_gpus(slots: int, gpus: int, parent_visible: str | None) -> list[str | None]:
    """CUDA_VISIBLE_DEVICES for each of `slots` workers, round-robin over this process's `gpus` visible GPUs.
    A child reads the variable as a list of physical ids (or UUIDs), so visible ordinal i is written as the
    parent's i-th entry: a parent with "2,3" gives workers "2" and "3", not "0" and "1"."""
    if not gpus:
        return [None] * slots
    visible = [v.strip() for v in parent_visible.split(",")] if parent_visible else [str(i) for i in range(gpus)]
    return [visible[i % gpus] for i in range(slots)]


def _pin_worker(gpu: str | None, share: float = 1.0) -> None:
    from ganbench.device import GPU_SHARE_ENV

    if gpu is not None:  # before CUDA initialises in this process, so it only ever sees its own GPU
        os.environ["CUDA_VISIBLE_DEVICES"] = gpu
        os.environ[GPU_SHARE_ENV] = f"{share:g}"  # other slots share the GPU: its data-on-device budget


def import_ray():
    """Ray, or a ConfigError saying how to install the optional extra (before anything is planned or written)."""
    os.environ.setdefault("RAY_DISABLE_USAGE_STATS", "1")
    # Under `uv run`, Ray would otherwise start every worker through `uv run` in a copy of the working
    # directory, which builds a second environment (minutes, and without the ray extra). Workers use this
    # interpreter instead; a cluster's nodes need ganbench installed (see benchmarks/README.md).
    os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
    try:
        import ray
    except ImportError:
        raise ConfigError(
            "the ray executor needs Ray, an optional extra: pip install 'ganbench[ray]' "
            "(in a checkout: uv sync --extra ray), or use --executor local"
        ) from None
    return ray


def _ray_trial(
    trial: Trial, evaluate: bool, threads: int, attempt: str | None = None, gpus: float = 0.0
) -> dict[str, Any]:
    from ganbench.device import GPU_SHARE_ENV

    if 0 < gpus < 1:  # packed with other trials on one GPU: its data-on-device budget is its share
        os.environ[GPU_SHARE_ENV] = f"{gpus:g}"
    return run_trial(trial, evaluate, threads, RAY, attempt=attempt)


def check_gpus_per_trial(gpus: float | None) -> None:
    """ConfigError unless gpus_per_trial is unset or in [0, 1]: a trial trains on one device (0.5 packs two trials
    on a GPU); more than one GPU per trial would hold GPUs that no trial uses."""
    if gpus is not None and not 0 <= gpus <= 1:
        raise ConfigError(
            "gpus_per_trial must be between 0 and 1 (a trial trains on one device; 0.5 packs two on a GPU), "
            f"got {gpus:g}"
        )


def trial_gpus(trial: Trial, gpus: float) -> float:
    """The GPUs Ray reserves for `trial`: none for a trial pinned to the CPU (it would hold a GPU it never uses)."""
    return 0.0 if trial.cfg.device == "cpu" else gpus


def ray_worker_lost(ray) -> tuple[type[BaseException], ...]:
    """Ray's errors that mean a trial's worker is gone, not that the trial failed: its process died (killed, a
    segfault, the kernel's OOM killer), its node died, Ray's memory monitor killed it, or its result was lost with
    a node. Not among them: the task raising (RayTaskError: run_trial records a run's own errors and returns),
    a cancellation, a task no node can run (TaskUnschedulableError) or a runtime environment that cannot be set
    up: running again would not change those."""
    e = ray.exceptions
    return (e.WorkerCrashedError, e.NodeDiedError, e.OutOfMemoryError, e.ObjectLostError)


def ray_task(ray, gpus: float):
    """The remote function for trials holding `gpus` GPUs each. num_gpus goes to ray.remote itself: only then does
    Ray make a GPU task's worker single-use (max_calls=1, ray/remote_function.py), so a worker never keeps the
    GPU it initialised for an earlier trial (Ray issue 29624); given through .options() it would not."""
    return ray.remote(num_gpus=gpus)(_ray_trial) if gpus else ray.remote(_ray_trial)


def trial_for_ray(trial: Trial, gpus: float) -> Trial:
    """A trial holding no GPU runs on the CPU: with --device auto it would otherwise take GPU 0 where Ray does
    not account for it (and share it with every other such trial). --device cuda with no GPU is an error."""
    if gpus or trial.cfg.device == "cpu":
        return trial
    if trial.cfg.device != "auto":
        raise ConfigError(
            f"{trial.label}: --device {trial.cfg.device} needs a GPU, but --gpus-per-trial is 0; "
            "give --gpus-per-trial 1 or use --device auto or cpu"
        )
    return dataclasses.replace(trial, cfg=dataclasses.replace(trial.cfg, device="cpu"))


def run_ray(trials: list[Trial], opts: ExecOptions) -> Iterator[tuple[Trial, dict[str, Any]]]:
    """A Ray task per trial, each holding cpus_per_trial CPUs (default 1) and gpus_per_trial GPUs (default 1 where
    the cluster has GPUs; with 0, trials run on the CPU). Joins the cluster at opts.ray_address, or starts a local
    one sized to this machine (and to at least max_concurrent trials) and stops it at the end."""
    check_gpus_per_trial(opts.gpus_per_trial)
    ray = import_ray()
    cpus = opts.cpus_per_trial or 1.0
    started = False
    if not ray.is_initialized():
        if opts.ray_address:
            ray.init(address=opts.ray_address, log_to_driver=True)
        else:
            # address="local": always a fresh cluster, never one that someone else started on this machine
            size = max(os.cpu_count() or 1, math.ceil(opts.max_concurrent * cpus))
            ray.init(
                address="local",
                num_cpus=size,
                include_dashboard=False,
                log_to_driver=True,
                object_store_memory=OBJECT_STORE_BYTES,
            )
        started = True
    running: dict = {}
    try:
        total = ray.cluster_resources()
        gpus = opts.gpus_per_trial if opts.gpus_per_trial is not None else (1.0 if total.get("GPU", 0) >= 1 else 0.0)
        nodes = [n.get("Resources", {}) for n in ray.nodes() if n.get("Alive")]
        if not any(r.get("CPU", 0) >= cpus and r.get("GPU", 0) >= gpus for r in nodes):
            raise ConfigError(
                f"no node of the Ray cluster has {cpus:g} CPUs and {gpus:g} GPUs for one trial "
                f"(cluster: {total.get('CPU', 0):g} CPUs, {total.get('GPU', 0):g} GPUs); "
                "lower --cpus-per-trial / --gpus-per-trial"
            )
        trials = [trial_for_ray(t, gpus) for t in trials]
        tasks = {g: ray_task(ray, g) for g in {trial_gpus(t, gpus) for t in trials}}
        threads = max(1, int(cpus))
        limit = opts.max_concurrent or len(trials)
        retries, worker_lost = _Retries(opts, RAY), ray_worker_lost(ray)
        queue = deque(trials)
        while queue or running:
            while queue and len(running) < limit:
                trial, attempt = queue.popleft(), _attempt_id()
                g = trial_gpus(trial, gpus)
                # max_retries=0: Ray's own retries are off; a lost worker's trial is resubmitted below
                options = tasks[g].options(num_cpus=cpus, max_retries=0, name=f"ganbench:{trial.label}")
                running[options.remote(trial, opts.evaluate, threads, attempt, g)] = (trial, attempt)
            done, _ = ray.wait(list(running), num_returns=1)
            for ref in done:
                trial, attempt = running.pop(ref)
                try:
                    summary = ray.get(ref)
                except ray.exceptions.RayError as e:  # the worker died, or the task could not run
                    summary = retries.outcome(trial, attempt, _why(e), worker_lost=isinstance(e, worker_lost))
                    if summary is None:
                        queue.appendleft(trial)  # next, so that it resumes from a fresh checkpoint
                        continue
                yield trial, summary
    finally:  # Ctrl-C, an error, or the caller stopped early: stop what still runs (it resumes next time)
        for ref in running:
            ray.cancel(ref, force=True)
        if started:
            ray.shutdown()


EXECUTORS.register(LOCAL, run_local)
EXECUTORS.register(RAY, run_ray)
if tuple(EXECUTORS.names()) != EXECUTOR_NAMES:  # a sweep or study file is checked against the names in ganbench.spec
    raise RuntimeError(f"executors {EXECUTORS.names()} differ from ganbench.spec.EXECUTOR_NAMES")
