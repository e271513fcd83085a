"""Device settings: every branch that a CPU can run, and the GPU/Mac branches through emulated device answers."""

import dataclasses
import math
import os

import pytest
import torch

from ganbench import device as gd
from ganbench import families
from ganbench.config import load_recipe, make_config
from ganbench.device import DeviceSettings, resolve

CPU = torch.device("cpu")


def cfg(**kw):
    return make_config(load_recipe("dcgan"), **kw)


# ---------------------------------------------------------------------------------------------------- resolve
@pytest.mark.parametrize(
    "flags, expect",
    [
        ({"avx512f", "avx512_bf16"}, "bf16"),
        ({"amx_bf16", "amx_tile"}, "bf16"),
        ({"avx2", "avx512f"}, "fp32"),
        (set(), "fp32"),
    ],
)
def test_auto_precision_is_bf16_only_where_the_cpu_has_native_bf16(monkeypatch, flags, expect):
    monkeypatch.setattr(gd, "cpu_flags", lambda: flags)
    s = resolve(cfg(), CPU)
    assert cfg().precision == "auto"  # the default a user gets
    assert s.precision == expect
    assert ("has native bf16" in s.precision_reason) == (expect == "bf16")
    if not flags:
        assert "unknown" in s.precision_reason
    elif expect == "fp32":
        assert "no native bf16" in s.precision_reason  # said so when missing
    assert s.autocast_dtype == (torch.bfloat16 if expect == "bf16" else None)


@pytest.mark.parametrize("precision", ["fp32", "bf16", "fp16"])
def test_an_explicit_precision_is_kept_whatever_the_cpu(monkeypatch, precision):
    monkeypatch.setattr(gd, "cpu_flags", lambda: {"avx2"})
    s = resolve(cfg(precision=precision), CPU)
    assert (s.precision, s.precision_reason) == (precision, "asked for")
    assert (s.grad_scaler() is not None) == (precision == "fp16")


def test_cuda_auto_precision_follows_the_gpus_bf16(monkeypatch):
    for ok, expect in ((True, "bf16"), (False, "fp32")):
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True, ok=ok: ok)
        assert resolve(cfg(), torch.device("cuda")).precision == expect
    assert resolve(cfg(), torch.device("mps")).precision == "fp32"


def test_fast_means_channels_last_and_fused_adam_on_every_device_with_fused_kernels(monkeypatch):
    for dev in ("cpu", "cuda", "mps"):
        s = resolve(cfg(), torch.device(dev))
        assert (s.memory_format, s.optimizer, s.device) == ("channels_last", "fused", dev)
        off = resolve(cfg(fast=False), torch.device(dev))
        assert (off.memory_format, off.optimizer) == ("contiguous", "plain")
    from torch.utils import _foreach_utils

    monkeypatch.setattr(_foreach_utils, "_get_fused_kernels_supported_devices", lambda: ["cuda"])
    assert resolve(cfg(), CPU).optimizer == "foreach"  # fused Adam missing: one foreach kernel per step instead


def test_settings_build_what_they_say(monkeypatch):
    from ganbench.train import build

    monkeypatch.setattr(gd, "cpu_flags", lambda: {"avx512_bf16"})
    nets = build(cfg(resolution=16, g_width=8, d_width=8, device="cpu"), CPU)
    conv = next(m for m in nets["D"].modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last) and conv.weight.shape[-1] > 1
    assert nets["opt_d"].defaults["fused"] is True
    plain = build(cfg(resolution=16, g_width=8, d_width=8, device="cpu", fast=False), CPU)
    conv = next(m for m in plain["D"].modules() if isinstance(m, torch.nn.Conv2d))
    assert not conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert not plain["opt_d"].defaults["fused"] and plain["opt_d"].defaults["foreach"] is False
    fe = build(
        cfg(resolution=16, g_width=8, d_width=8, device="cpu"),
        CPU,
        dataclasses.replace(resolve(cfg(), CPU), optimizer="foreach"),
    )
    assert fe["opt_d"].defaults["foreach"] is True and not fe["opt_d"].defaults["fused"]


def test_autocast_context_runs_the_resolved_dtype():
    lin = torch.nn.Linear(4, 4)
    for precision, dtype in (("bf16", torch.bfloat16), ("fp32", torch.float32)):
        with resolve(cfg(precision=precision), CPU).autocast():
            assert lin(torch.ones(2, 4)).dtype == dtype


def test_settings_are_recorded_in_config_json(tmp_path):
    from ganbench.data import DataSpec, load_dataset
    from ganbench.execution import Trial
    from ganbench.execution.runner import execute
    from ganbench.io import read_json

    c = cfg(
        resolution=16, g_width=8, d_width=8, latent_dim=8, batch_size=16, budget="32img", device="cpu", tick_kimg=0.032
    )
    images = load_dataset(DataSpec("synthetic", resolution=16, max_images=64)).images
    assert execute(Trial(c, tmp_path), images, {"dataset": "synthetic"}, show_progress=False)["status"] == "completed"
    recorded = read_json(tmp_path / "config.json")["device_settings"]
    assert recorded == resolve(c, CPU).to_dict()
    assert recorded["device"] == "cpu" and recorded["precision"] in ("bf16", "fp32") and recorded["threads"] >= 1


# ---------------------------------------------------------------------------------------------------- memory
def test_data_on_cuda_counts_pytorchs_cached_free_blocks_as_free(monkeypatch):
    cuda = torch.device("cuda")
    GiB = 2**30
    # 1 GiB free per the driver, 6 GiB reserved by PyTorch of which 1 GiB holds tensors: 6 GiB usable
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda d=None: (1 * GiB, 80 * GiB))
    monkeypatch.setattr(torch.cuda, "memory_reserved", lambda d=None: 6 * GiB)
    monkeypatch.setattr(torch.cuda, "memory_allocated", lambda d=None: 1 * GiB)
    assert gd.free_bytes(cuda) == 6 * GiB
    assert gd.data_on_device(2 * GiB, cuda)  # mem_get_info alone (1 GiB) would have refused it
    assert not gd.data_on_device(4 * GiB, cuda)  # over half of what is usable
    assert gd.data_on_device(10**12, CPU) and gd.free_bytes(CPU) is None


def test_peak_memory_units_per_platform(monkeypatch):
    import resource
    import sys

    class Usage:
        ru_maxrss = 3 * 2**30  # bytes on macOS, KiB on Linux

    monkeypatch.setattr(resource, "getrusage", lambda who: Usage)
    monkeypatch.setattr(sys, "platform", "darwin")
    assert gd.peak_memory_mb(CPU)[0] == pytest.approx(3 * 1024)  # 3 GiB
    monkeypatch.setattr(sys, "platform", "linux")
    assert gd.peak_memory_mb(CPU)[0] == pytest.approx(3 * 2**20)  # 3 TiB of KiB: the Linux reading


def test_cuda_peak_is_reset_at_the_start_of_each_run(monkeypatch, tmp_path):
    """A second run in one process must not inherit the first one's peak (or the reference Inception pass's)."""
    calls = []
    monkeypatch.setattr(torch.cuda, "reset_peak_memory_stats", lambda d=None: calls.append(d))
    monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda d=None: 5 * 2**20)
    gd.reset_peak_memory(torch.device("cuda"))
    gd.reset_peak_memory(CPU)  # nothing to reset: the process's RSS
    assert len(calls) == 1
    assert gd.peak_memory_mb(torch.device("cuda")) == (5.0, "cuda max_memory_allocated (this run)")
    # and the training loop calls it: a CPU run records its reset request through the same function
    import ganbench.train as gt

    seen = []
    monkeypatch.setattr(gt, "reset_peak_memory", lambda d: seen.append(d.type))
    from ganbench.data import DataSpec, load_dataset

    images = load_dataset(DataSpec("synthetic", resolution=16, max_images=32)).images
    gt.train(
        cfg(
            resolution=16,
            g_width=8,
            d_width=8,
            latent_dim=8,
            batch_size=16,
            budget="16img",
            device="cpu",
            tick_kimg=0.016,
        ),
        tmp_path,
        images,
    )
    assert seen == ["cpu"]


def test_pick_device_errors_say_what_to_use(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="use --device auto or cpu"):
        gd.pick_device("cuda")
    assert gd.pick_device("cpu") == CPU
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert gd.pick_device("auto") == torch.device("cuda")


def test_settings_object_is_frozen():
    s = resolve(cfg(), CPU)
    assert isinstance(s, DeviceSettings)
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.precision = "fp16"
    assert math.isfinite(s.threads)


def test_default_evaluation_size_per_device():
    assert gd.default_eval_samples(torch.device("cuda")) == 10_000
    assert gd.default_eval_samples(CPU) == gd.default_eval_samples(torch.device("mps")) == 100


def test_run_defaults_are_sized_per_device_and_a_recipe_keeps_its_own_widths(tmp_path):
    """`ganbench run` without sizes: CPU-sized (32x32, widths 32, 80 kimg, 100-image evaluation with a 50-image curve
    point at 40 kimg) on a CPU, GPU-sized on CUDA; the widths sit under the recipe, so a recipe that sets them keeps
    them."""
    import json

    from typer.testing import CliRunner

    from ganbench.commands import app

    cpu, cuda = gd.run_defaults(CPU), gd.run_defaults(torch.device("cuda"))
    assert (cpu["resolution"], cpu["g_width"], cpu["budget"], cpu["eval_samples"], cpu["eval_samples_during"]) == (
        32,
        32,
        "80kimg",
        100,
        50,
    )
    assert cpu["eval_every_kimg"] == 40.0
    assert (cuda["resolution"], cuda["g_width"], cuda["eval_samples"]) == (64, 64, 10_000)
    assert gd.default_eval_samples(CPU) == 100
    recipe = tmp_path / "wide.toml"
    recipe.write_text('variant = "wide"\nfamily = "gan"\nobjective = "nonsaturating"\ng_width = 48\n')
    res = CliRunner().invoke(app, ["run", "--variants", f"dcgan,{recipe}", "--dry-run", "--device", "cpu"])
    assert res.exit_code == 0, res.output
    dcgan, wide = json.loads(res.stdout)
    assert (dcgan["g_width"], dcgan["d_width"], dcgan["resolution"], dcgan["budget"]) == (32, 32, 32, "80kimg")
    assert (wide["g_width"], wide["d_width"]) == (48, 32)
    assert "device defaults" in res.stderr and dcgan["run_dir"].startswith("results/synthetic-32/")
    given = CliRunner().invoke(
        app,
        [
            "run",
            "--variants",
            "dcgan",
            "--dry-run",
            "--device",
            "cpu",
            "--resolution",
            "16",
            "--budget",
            "2kimg",
            "--eval-samples",
            "40",
            "--eval-every",
            "0",
            "--set",
            "g_width=8",
            "--set",
            "d_width=8",
        ],
    )
    cfg = json.loads(given.stdout)[0]
    assert (cfg["resolution"], cfg["budget"], cfg["eval_samples"], cfg["eval_samples_during"], cfg["g_width"]) == (
        16,
        "2kimg",
        40,
        0,
        8,
    )
    assert "device defaults" not in given.stderr


# ---------------------------------------------------------------------------------------------------- issue 20: Macs
MPS = torch.device("mps")
GiB = 2**30


def test_data_on_mps_must_fit_in_metals_working_set(monkeypatch):
    """MPS used to report no free memory, which meant "fits": CelebA at 128x128 (~8 GB) was copied whole to a Mac
    with 16 GB of unified memory. Now: Metal's recommended working set less what it holds, and nothing copied on
    trust where this torch cannot say."""
    monkeypatch.setattr(torch.mps, "recommended_max_memory", lambda: 16 * GiB)
    monkeypatch.setattr(torch.mps, "driver_allocated_memory", lambda: 4 * GiB)
    assert gd.free_bytes(MPS) == 12 * GiB
    assert not gd.data_on_device(8 * GiB, MPS)  # over half of the 12 GiB left
    assert gd.data_on_device(5 * GiB, MPS)
    monkeypatch.delattr(torch.mps, "recommended_max_memory")
    assert gd.free_bytes(MPS) == 0 and not gd.data_on_device(1, MPS)
    assert gd.data_on_device(10**12, CPU)  # the CPU: the data is already there


@pytest.mark.parametrize(
    "device, precision, expect",
    [
        ("mps", "fp16", "foreach"),
        ("mps", "bf16", "fused"),
        ("mps", "fp32", "fused"),
        ("cuda", "fp16", "fused"),
        ("cpu", "fp16", "fused"),
    ],
)
def test_fp16_on_mps_never_takes_the_fused_optimisers(device, precision, expect):
    """With a loss scaler, fused Adam/SGD take grad_scale / found_inf instead of an unscale, which MPS's kernels
    ignored or rejected in torch versions the package allows: fp16 on MPS takes foreach."""
    s = resolve(cfg(precision=precision), torch.device(device))
    assert (s.optimizer, s.precision) == (expect, precision)


def test_the_clock_waits_for_cuda_and_mps(monkeypatch, tmp_path):
    """MPS runs asynchronously as CUDA does: its queued work is waited for before the clock is read, at the end of
    a run and at every step under a wall-clock budget (else images/s counts work not yet done)."""
    calls = []
    monkeypatch.setattr(torch.mps, "synchronize", lambda: calls.append("mps"))
    monkeypatch.setattr(torch.cuda, "synchronize", lambda d=None: calls.append("cuda"))
    for dev in ("mps", "cuda", "cpu"):
        gd.synchronize(torch.device(dev))
    assert calls == ["mps", "cuda"]
    import ganbench.train as gt
    from ganbench.data import DataSpec, load_dataset

    seen = []
    monkeypatch.setattr(gt, "synchronize", lambda d: seen.append(d.type))
    images = load_dataset(DataSpec("synthetic", resolution=16, max_images=32)).images
    small = dict(resolution=16, g_width=8, d_width=8, latent_dim=8, batch_size=16, device="cpu", tick_kimg=1.0)
    out = gt.train(cfg(**small, budget="64img"), tmp_path / "img", images)
    assert seen == ["cpu"]  # once, before the run's seconds
    seen.clear()
    out = gt.train(cfg(**small, budget="0.5s"), tmp_path / "seconds", images)
    assert seen == ["cpu"] * (out["g_steps"] + 1) and out["g_steps"] >= 1  # every step, and the end


def test_mps_peak_memory_is_metals_not_the_process_rss(monkeypatch):
    """RSS does not hold Metal allocations; Metal keeps no peak, so the largest reading since the run's reset."""
    readings = iter([1 * GiB, 3 * GiB, 2 * GiB])
    monkeypatch.setattr(torch.mps, "driver_allocated_memory", lambda: next(readings))
    gd.reset_peak_memory(MPS)  # 1 GiB at the start
    (first, kind), (second, _) = gd.peak_memory_mb(MPS), gd.peak_memory_mb(MPS)  # 3 GiB, then 2 GiB in use
    assert (first, second) == (3072, 3072) and "driver_allocated_memory" in kind


# ---------------------------------------------------------------------------------------------------- issue 20: compile
@pytest.mark.parametrize(
    "variant, expect", [("dcgan", ("G", "D")), ("wgan-gp", ("G",)), ("vae", ("G", "encoder")), ("random", ())]
)
def test_compile_records_the_networks_it_compiles(variant, expect):
    """device_settings.compile names what was compiled: D is not under a gradient penalty (no double backward
    through compiled graphs), the VAE's decoder and encoder are (it used to ignore `compile` and record true)."""
    from ganbench.train import build

    c = make_config(load_recipe(variant), resolution=16, g_width=8, d_width=8, latent_dim=8, device="cpu", compile=True)
    s = families.device_settings(c, CPU)
    assert s.compile == expect and s.to_dict()["compile"] == list(expect)
    nets = build(c, CPU, s)
    modules = {"G": nets.get("G"), "D": nets.get("D"), "encoder": nets["vae"].encoder if "vae" in nets else None}
    compiled = tuple(k for k, m in modules.items() if m is not None and m._compiled_call_impl is not None)
    assert compiled == expect
    off = dataclasses.replace(c, compile=False)
    assert resolve(off, CPU).compile == ()
    assert not any(m._compiled_call_impl for m in build(off, CPU).values() if isinstance(m, torch.nn.Module))


@pytest.mark.slow
def test_compiled_networks_stay_compiled_run_after_run(tmp_path, monkeypatch):
    """Three differently shaped runs in one process (`ganbench run` over recipes, a sweep worker): each run's G
    and D run compiled graphs. Dynamo kept one cache per code object (Generator.forward) for every instance, and
    the third run's G hit recompile_limit and ran eager while its settings said compiled. A counting backend
    stands in for inductor (the same dynamo caches and limits, no code generation)."""
    import functools
    import logging

    from ganbench.data import DataSpec, load_dataset
    from ganbench.train import train

    calls: dict[int, dict[str, int]] = {}
    run = [0]

    def counting(gm, example_inputs):
        net = "G" if any("conv_transpose" in str(n.target) for n in gm.graph.nodes) else "D"

        def forward(*args):
            calls.setdefault(run[0], {}).setdefault(net, 0)
            calls[run[0]][net] += 1
            return gm.forward(*args)

        return forward

    limit_hits = []

    class Hits(logging.Handler):
        def emit(self, record):
            if "recompile_limit" in record.getMessage():
                limit_hits.append(record.getMessage().splitlines()[0])

    handler = Hits()
    logging.getLogger("torch._dynamo").addHandler(handler)
    monkeypatch.setattr(torch, "compile", functools.partial(torch.compile, backend=counting))
    torch.compiler.reset()
    images = load_dataset(DataSpec("synthetic", resolution=16, max_images=64)).images
    try:
        for i, width in enumerate((8, 12, 16)):
            run[0] = i
            c = cfg(
                resolution=16,
                g_width=width,
                d_width=width,
                latent_dim=8,
                batch_size=16,
                budget="64img",
                tick_kimg=0.032,
                device="cpu",
                compile=True,
            )
            train(c, tmp_path / f"w{width}", images)
    finally:
        logging.getLogger("torch._dynamo").removeHandler(handler)
        torch.compiler.reset()
    assert limit_hits == []
    assert all(calls.get(i, {}).get("G", 0) > 0 and calls.get(i, {}).get("D", 0) > 0 for i in range(3)), calls


# ---------------------------------------------------------------------------------------------------- issue 31
def test_trials_packed_on_one_gpu_each_count_on_their_share_of_it(monkeypatch):
    """Item 4. Each trial applied "under half of the free memory" alone: two trials packed on a 16 GiB card
    (Ray's gpus_per_trial 0.5, or the local executor's slots beyond the GPUs) both copied CelebA at 128x128
    (7.45 GiB), leaving ~0.1 GiB; and what one long-lived worker had cached changed the next trial's decision.
    Now the budget is the trial's share of the card (GANBENCH_GPU_SHARE, set by the executors) times its total,
    PyTorch's cache is emptied first, and the decision no longer moves with what others left behind."""
    cuda = torch.device("cuda")
    celeba128 = int(7.45 * GiB)
    free = [16 * GiB]
    emptied = []
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda d=None: (free[0], 16 * GiB))
    monkeypatch.setattr(torch.cuda, "memory_reserved", lambda d=None: 0)
    monkeypatch.setattr(torch.cuda, "memory_allocated", lambda d=None: 0)
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: emptied.append(1))
    monkeypatch.delenv("GANBENCH_GPU_SHARE", raising=False)
    assert gd.data_on_device(celeba128, cuda)  # alone on the card: 7.45 GiB < 8 GiB
    monkeypatch.setenv("GANBENCH_GPU_SHARE", "0.5")  # what the executors set for two trials on one GPU
    assert not gd.data_on_device(celeba128, cuda)  # the first of two packed trials: 7.45 GiB > 4 GiB
    free[0] = 16 * GiB - celeba128  # what the decision would have been had the other copied it
    assert not gd.data_on_device(celeba128, cuda) and gd.data_on_device(3 * GiB, cuda)
    free[0] = 10 * GiB  # another process's leftovers: a 3 GiB set fits the share either way
    assert gd.data_on_device(3 * GiB, cuda) and emptied


def test_the_executors_say_each_trials_share_of_its_gpu(monkeypatch):
    """Item 4: four local slots on two GPUs: each worker is told it has half of its GPU; a Ray trial holding 0.5
    GPUs likewise (a whole GPU: nothing said, the default share is 1)."""
    import concurrent.futures

    from ganbench.execution import executors

    seen = []

    class Pool:
        def __init__(self, n, mp_context, initializer, initargs):
            initializer(*initargs)
            seen.append((os.environ.get("CUDA_VISIBLE_DEVICES"), os.environ.get(gd.GPU_SHARE_ENV)))

        def submit(self, fn, trial, *a, **k):
            future = concurrent.futures.Future()
            future.set_result({"status": "completed"})
            return future

        def shutdown(self, **k):
            pass

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3")
    monkeypatch.setenv(gd.GPU_SHARE_ENV, "1")  # restored after: the pool's initializer runs in this process
    monkeypatch.setattr(executors, "_visible_gpus", lambda: 2)
    monkeypatch.setattr(concurrent.futures, "ProcessPoolExecutor", Pool)
    list(executors.run_local(["a", "b", "c", "d"], executors.ExecOptions(max_concurrent=4)))
    assert seen == [("2", "0.5"), ("3", "0.5"), ("2", "0.5"), ("3", "0.5")]
    monkeypatch.setattr(executors, "run_trial", lambda *a, **k: {"gpu_share": os.environ.get(gd.GPU_SHARE_ENV)})
    monkeypatch.delenv(gd.GPU_SHARE_ENV)
    assert executors._ray_trial("t", True, 1, "a", 1.0) == {"gpu_share": None}
    assert executors._ray_trial("t", True, 1, "a", 0.5) == {"gpu_share": "0.5"}


def test_every_family_answers_the_whole_interface():
    """Item 7: `ganbench run --variants real --set compile=true` crashed outside the run's error handling
    (`module 'ganbench.families.real' has no attribute 'compiled'`); every family now implements every function
    the interface lists (families/__init__.py), and resolve works for each with compile on."""
    from ganbench import families

    for name in families.FAMILIES.names():
        impl = families.get(name).impl
        missing = [
            f for f in ("build", "step", "generator", "sampler", "compiled") if not callable(getattr(impl, f, None))
        ]
        assert not missing, (name, missing)
    assert families.device_settings(make_config(load_recipe("real"), compile=True), CPU).compile == ()


def test_the_real_baseline_runs_with_compile(tmp_path):
    """Item 7, through the command the issue names (small sizes, no evaluation)."""
    import json

    from typer.testing import CliRunner

    from ganbench.commands import app

    args = ["run", "--variants", "real", "--set", "compile=true", "--device", "cpu", "--resolution", "16"]
    args += ["--no-eval", "--out", str(tmp_path), "--eval-samples", "20", "--set", "max_images=64"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    summaries = list(tmp_path.rglob("summary.json"))
    assert len(summaries) == 1 and json.loads(summaries[0].read_text())["status"] == "completed"


@pytest.mark.parametrize("variant, asks", [("random", False), ("real", False), ("dcgan", True)])
def test_baselines_never_copy_the_training_set_to_the_device(variant, asks, monkeypatch, tmp_path):
    """Item 8: the random and real baselines draw no batches, yet the whole training set went to the GPU (up to
    half its free memory, during their own 10k float64 evaluation). Only families that train ask now."""
    import ganbench.train as gt
    from ganbench.data import DataSpec, load_dataset

    asked = []
    monkeypatch.setattr(gt, "data_on_device", lambda nbytes, device: asked.append(nbytes) or True)
    images = load_dataset(DataSpec("synthetic", resolution=16, max_images=64)).images
    c = make_config(
        load_recipe(variant),
        resolution=16,
        g_width=8,
        d_width=8,
        latent_dim=8,
        batch_size=16,
        budget="32img",
        tick_kimg=0.032,
        device="cpu",
        eval_samples=20,
        max_images=64,
    )
    gt.train(c, tmp_path, images)
    assert bool(asked) == asks
