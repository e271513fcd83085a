"""Right on hardware this machine does not have (issue 14): checkpoints that move between devices and GPU counts,
sweep workers pinned to the right GPUs, Ray's GPU accounting. Each test emulates what the device differs in
(another device type's RNG state, monkeypatched GPU counts and CUDA_VISIBLE_DEVICES, fake Ray resources)."""

import dataclasses

import pytest
import torch
from tiny import tiny
from torch.testing import assert_close

from ganbench import checkpoint as ck
from ganbench.device import DeviceSettings, resolve
from ganbench.execution import Trial
from ganbench.execution.executors import ray_task, trial_for_ray, worker_gpus
from ganbench.io import read_jsonl
from ganbench.train import build, train

CPU = torch.device("cpu")
CUDA_GEN_STATE = torch.zeros(16, dtype=torch.uint8)  # a CUDA generator's state: seed and offset (16 bytes)


def settings(optimizer: str) -> DeviceSettings:
    return DeviceSettings("cpu", "fp32", "asked for", "contiguous", optimizer, (), 1)


def rewind(path, to_img: int) -> dict:
    """Set a finished run's checkpoint back to an earlier image count, so resuming it trains again."""
    state = torch.load(path, weights_only=False)
    state["counters"] |= {"img": to_img, "g_steps": to_img // 16, "d_steps": to_img // 16, "tick": 1}
    return state


def resumes(tmp_path, images, state: dict) -> dict:
    """Write `state` as the run's checkpoint, resume the run, return its resume record."""
    torch.save(state, tmp_path / "checkpoints" / "latest.pt")
    out = train(tiny(), tmp_path, images)
    assert out["kimg"] == 0.128 and out["g_steps"] == 8
    return [r for r in read_jsonl(tmp_path / "metrics.jsonl") if r["kind"] == "resume"][-1]


# ---------------------------------------------------------------------------------------------------- RNG states
def test_a_checkpoint_written_on_cuda_resumes_on_the_cpu_statistically_and_says_so(tmp_path, images):
    """A CUDA generator's state (16 bytes) cannot be set on a CPU generator (5056 bytes): the batch stream is
    reseeded from (seed, counters), the run goes on, and the resume record says it is not bit-exact."""
    train(tiny(), tmp_path, images)
    state = rewind(tmp_path / "checkpoints" / "latest.pt", 64)
    state["config"]["device"] = "cuda"
    state |= {"gen": CUDA_GEN_STATE, "gen_device": "cuda", "device_rng": {"type": "cuda", "state": CUDA_GEN_STATE}}
    record = resumes(tmp_path, images, state)
    assert record["exact"] is False and record["device"] == "cpu"
    assert "written on cuda, resumed on cpu" in record["why"]


def test_an_old_checkpoint_from_a_four_gpu_host_resumes_on_the_cpu(tmp_path, images):
    """The format before this fix: no gen_device, one CUDA state per visible GPU under 'cuda_rng'."""
    train(tiny(), tmp_path, images)
    state = rewind(tmp_path / "checkpoints" / "latest.pt", 64)
    for key in ("gen_device", "device_rng"):
        state.pop(key)
    state |= {"gen": CUDA_GEN_STATE, "cuda_rng": [CUDA_GEN_STATE] * 4}
    record = resumes(tmp_path, images, state)
    assert record["exact"] is False and "resumed on cpu" in record["why"]


def test_a_cpu_resume_stays_exact_and_reseeding_is_deterministic(tmp_path, images):
    train(tiny(), tmp_path, images)
    state = rewind(tmp_path / "checkpoints" / "latest.pt", 64)
    record = resumes(tmp_path, images, state)
    assert record["exact"] is True and "why" not in record
    c = ck.Counters(img=64, g_steps=4)
    assert ck.resume_seed(0, c) == ck.resume_seed(0, ck.Counters(img=64, g_steps=4))
    assert ck.resume_seed(0, c) != ck.resume_seed(1, c) and ck.resume_seed(0, c) != ck.resume_seed(0, ck.Counters())


class NoCuda:
    """Stands in for torch.cuda on a GPU host: visible, but any call that would initialise it fails the test."""

    def __init__(self, monkeypatch, count=4):
        monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
        monkeypatch.setattr(torch.cuda, "device_count", lambda: count)
        for name in ("get_rng_state", "get_rng_state_all", "init", "set_rng_state", "set_rng_state_all"):
            monkeypatch.setattr(torch.cuda, name, self.fail)

    @staticmethod
    def fail(*a, **k):
        raise AssertionError("a CPU run touched CUDA")


def test_a_cpu_run_on_a_gpu_host_never_touches_cuda_when_checkpointing(tmp_path, images, monkeypatch):
    cfg = tiny()
    torch.manual_seed(0)
    nets = build(cfg, CPU)
    gen = torch.Generator(CPU).manual_seed(0)
    NoCuda(monkeypatch)
    ck.save_checkpoint(tmp_path / "c.pt", cfg, nets, ck.Counters(), gen)
    state = torch.load(tmp_path / "c.pt", weights_only=False)
    assert state["device_rng"] is None and state["gen_device"] == "cpu"
    resumed = ck.load_resume(tmp_path / "c.pt", nets, gen, CPU, cfg)
    assert resumed.exact


def test_cuda_rng_is_restored_for_the_gpu_in_use_whatever_the_visible_count(monkeypatch):
    """A trial started unpinned on 4 GPUs (old format: 4 states) and resumed by a pinned worker that sees one."""
    calls = []
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch.cuda, "set_rng_state", lambda s, d="cuda": calls.append((int(s[0]), str(d))))
    states = [torch.full((16,), i, dtype=torch.uint8) for i in range(4)]
    old = {"cuda_rng": states}
    cuda0 = torch.device("cuda", 0)
    assert ck._restore_device_rng(ck._old_cuda_rng(old, cuda0), cuda0) is True
    assert calls == [(0, "cuda:0")]
    # the new format holds one state, the current device's, and restores on whichever GPU the run now has
    assert ck._restore_device_rng({"type": "cuda", "state": states[2]}, torch.device("cuda")) is True
    assert calls[-1] == (2, "cuda")
    # a state from another device type is not forced onto this one
    assert ck._restore_device_rng({"type": "mps", "state": states[1]}, cuda0) is False
    assert ck._restore_device_rng({"type": "cuda", "state": states[1]}, CPU) is False
    assert ck._old_cuda_rng({"cuda_rng": states[:1]}, torch.device("cuda", 3)) is None  # GPU 3 was not visible
    assert len(calls) == 2


# ---------------------------------------------------------------------------------------------------- optimiser
@pytest.mark.parametrize(
    "saved, current", [("fused", "plain"), ("plain", "fused"), ("foreach", "fused"), ("fused", "foreach")]
)
def test_the_resumed_run_keeps_its_own_adam_implementation(tmp_path, saved, current):
    cfg = tiny()
    torch.manual_seed(0)
    before = build(cfg, CPU, settings(saved))
    for opt, net in ((before["opt_g"], before["G"]), (before["opt_d"], before["D"])):
        net(torch.randn(2, *((8, 1, 1) if net is before["G"] else (3, 16, 16)))).float().mean().backward()
        opt.step()
    ck.save_checkpoint(tmp_path / "c.pt", cfg, before, ck.Counters(), torch.Generator().manual_seed(0))
    after = build(cfg, CPU, settings(current))
    ck.load_checkpoint(tmp_path / "c.pt", after, torch.Generator(), CPU, cfg)
    want = settings(current).adam_kwargs()
    for name in ("opt_g", "opt_d"):
        opt = after[name]
        for group in opt.param_groups:
            assert bool(group["fused"]) == want.get("fused", False)
            assert bool(group["foreach"]) == want.get("foreach", False)
        steps = [s["step"] for s in opt.state.values()]
        assert steps and all(s.item() == 1.0 and s.dtype == torch.float32 and s.device == CPU for s in steps)
        m_saved = before[name].state_dict()["state"][0]["exp_avg"]
        torch.testing.assert_close(opt.state_dict()["state"][0]["exp_avg"], m_saved, rtol=0, atol=0)
    after["G"](torch.randn(2, 8, 1, 1)).mean().backward()
    after["opt_g"].step()  # the loaded state works with this run's implementation
    assert all(s["step"].item() == 2.0 for s in after["opt_g"].state.values() if s)


def test_step_counters_go_where_this_runs_adam_wants_them():
    """A capturable (or fused) Adam keeps `step` on the parameters' device; a checkpoint written by a plain Adam
    holds it on the CPU. Parameters on the meta device stand in for a GPU's: the loaded step must follow them,
    and the current run's capturable flag must survive the load."""
    params = [torch.nn.Parameter(torch.zeros(3, device="meta"))]
    plain_state = {
        "state": {
            0: {
                "step": torch.tensor(1.0),
                "exp_avg": torch.zeros(3, device="meta"),
                "exp_avg_sq": torch.zeros(3, device="meta"),
            }
        }
    }
    on_device = torch.optim.Adam(params, capturable=True, foreach=False)
    group = dict(on_device.param_groups[0], params=[0], capturable=False, fused=None)
    ck.load_optimizer(on_device, plain_state | {"param_groups": [group]})
    assert on_device.param_groups[0]["capturable"] is True
    step = on_device.state[params[0]]["step"]
    assert step.device.type == "meta" and step.dtype == torch.float32
    plain = torch.optim.Adam(params, foreach=False)
    ck.load_optimizer(plain, plain_state | {"param_groups": [group]})
    assert plain.param_groups[0]["capturable"] is False and plain.state[params[0]]["step"].device == CPU


# ---------------------------------------------------------------------------------------------------- sweep workers
@pytest.mark.parametrize(
    "parent, gpus, slots, want",
    [
        ("2,3", 2, 2, ["2", "3"]),
        ("2,3", 2, 4, ["2", "3", "2", "3"]),
        ("GPU-8f6c1b2e-aaaa, GPU-0d3e5f7a-bbbb", 2, 2, ["GPU-8f6c1b2e-aaaa", "GPU-0d3e5f7a-bbbb"]),
        ("MIG-1,MIG-2,MIG-3", 2, 2, ["MIG-1", "MIG-2"]),  # CUDA stops at the first entry it cannot use
        (None, 2, 3, ["0", "1", "0"]),  # no variable: every GPU is visible, ordinals are the ids
        ("", 0, 2, [None, None]),
        (None, 0, 1, [None]),
    ],
)
def test_local_workers_are_pinned_to_the_parents_gpus(parent, gpus, slots, want):
    assert worker_gpus(slots, gpus, parent) == want


def test_run_local_pins_workers_through_the_parent_environment(monkeypatch):
    """run_local hands each slot's worker one of the parent's ids (the pool is replaced so nothing is spawned: it
    runs the initializer here and records the id a trial of that slot would see)."""
    import concurrent.futures

    from ganbench.execution import executors

    pinned = []

    class Pool:
        def __init__(self, n, mp_context, initializer, initargs):
            initializer(*initargs)

        def submit(self, fn, trial, *a, **k):
            pinned.append((trial, executors.os.environ.get("CUDA_VISIBLE_DEVICES")))
            future = concurrent.futures.Future()
            future.set_result({"status": "completed"})
            return future

        def shutdown(self, **k):
            pass

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3")
    monkeypatch.setattr(executors, "_visible_gpus", lambda: 2)
    monkeypatch.setattr(concurrent.futures, "ProcessPoolExecutor", Pool)
    out = list(executors.run_local(["a", "b"], executors.ExecOptions(max_concurrent=2)))
    assert pinned == [("a", "2"), ("b", "3")]
    assert sorted(trial for trial, _ in out) == ["a", "b"]


# ---------------------------------------------------------------------------------------------------- ray
def test_ray_gpu_trials_get_single_use_workers():
    ray = pytest.importorskip("ray", reason="the ray extra is not installed (uv sync --extra ray)")
    gpu = ray_task(ray, 1.0)
    assert gpu._default_options["num_gpus"] == 1.0 and gpu._default_options["max_calls"] == 1
    half = ray_task(ray, 0.5)
    assert half._default_options["max_calls"] == 1
    cpu = ray_task(ray, 0.0)
    assert not cpu._default_options.get("num_gpus") and cpu._default_options.get("max_calls") is None


def test_ray_trials_without_a_gpu_run_on_the_cpu(tmp_path):
    def trial(device):
        return Trial(tiny(device=device), tmp_path, "t", {}, (), "s")

    assert trial_for_ray(trial("auto"), 0.0).cfg.device == "cpu"
    assert trial_for_ray(trial("auto"), 1.0).cfg.device == "auto"
    assert trial_for_ray(trial("cpu"), 0.0).cfg.device == "cpu"
    from ganbench.errors import ConfigError

    with pytest.raises(ConfigError, match="--gpus-per-trial is 0"):
        trial_for_ray(trial("cuda"), 0.0)


# ---------------------------------------------------------------------------------------------------- metrics on a GPU
def test_metrics_turn_tf32_off_on_a_gpu_host_and_restore_it(monkeypatch):
    """exact_fp32 only acts where CUDA is visible: emulated here, the flag it sets is read back inside and after."""
    from ganbench.device import exact_fp32

    conv = torch.backends.cudnn.conv
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    before = conv.fp32_precision
    try:
        conv.fp32_precision = "tf32"  # PyTorch's default for convolutions on an Ampere or later GPU
        with exact_fp32():
            assert conv.fp32_precision == "ieee"
        assert conv.fp32_precision == "tf32"
    finally:
        conv.fp32_precision = before


# ---------------------------------------------------------------------------------------------------- data on the host
def _loop(cfg, data, gen):
    from ganbench.train import Loop

    settings = dataclasses.replace(resolve(cfg, CPU), device="cuda")
    return Loop(cfg, torch.device("cuda"), {}, gen, data, cfg.run_budget.in_images(data.shape[0]), settings, None, None)


def test_batches_from_a_data_set_left_on_the_host_cost_no_host_sync(images):
    """Issue 20: with the data set on the host (CelebA at 128x128 and up on a GPU), each batch's indices were drawn
    on the GPU and read back (a sync), then the batch was copied from pageable memory (a second one). Emulated
    CUDA counts them: none now, on either path, and the host path draws from its own seeded stream."""
    from emulate import CudaGenerator, EmulatedCuda, OnGPU

    cfg = tiny()
    with EmulatedCuda() as gpu:
        gen = CudaGenerator()
        gen.manual_seed(0)
        host = _loop(cfg, images, gen)  # the data set stays in host memory
        batches = [host.real_batch() for _ in range(3)]
        assert gpu.syncs == [], gpu.syncs
        on_gpu = images.to("cuda")  # a data set that fits is copied once (its one pageable copy, at the start)
        gpu.syncs.clear()
        device = _loop(cfg, on_gpu, gen)
        device.real_batch()
        assert gpu.syncs == [] and device.host_gen is None
    assert all(isinstance(b, OnGPU) and b.device.type == "cuda" and b.shape == (16, 3, 16, 16) for b in batches)
    assert host.host_gen is not None
    idx = torch.randint(images.shape[0], (16,), generator=torch.Generator().manual_seed(cfg.seed))
    assert_close(batches[0].as_subclass(torch.Tensor), images[idx].float() / 127.5 - 1, rtol=0, atol=1e-7)


def test_the_host_index_stream_is_checkpointed_and_a_moved_data_set_is_said(tmp_path):
    cfg = tiny()
    torch.manual_seed(0)
    nets = build(cfg, CPU)
    gen, host = torch.Generator().manual_seed(0), torch.Generator().manual_seed(5)
    ck.save_checkpoint(tmp_path / "c.pt", cfg, nets, ck.Counters(img=64), gen, host_gen=host)
    expected = torch.randint(100, (8,), generator=host)
    restored = torch.Generator().manual_seed(99)
    assert ck.load_resume(tmp_path / "c.pt", nets, torch.Generator(), CPU, cfg, host_gen=restored).exact
    assert torch.equal(torch.randint(100, (8,), generator=restored), expected)
    # written with the data set on the host, resumed with it on the device (or the reverse): said, not hidden
    moved = ck.load_resume(tmp_path / "c.pt", nets, torch.Generator(), CPU, cfg)
    assert not moved.exact and "on the host when the checkpoint was written" in moved.why
    ck.save_checkpoint(tmp_path / "d.pt", cfg, nets, ck.Counters(img=64), gen)
    back = ck.load_resume(tmp_path / "d.pt", nets, torch.Generator(), CPU, cfg, host_gen=torch.Generator())
    assert not back.exact and "on the device when the checkpoint was written" in back.why
