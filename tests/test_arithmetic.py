"""One arithmetic per trial (issue 31, items 1 and 3): what training computes in is one recorded string (precision;
TF32 or IEEE fp32 convolutions and matmuls; on a CPU the bf16 path), resolved at a trial's first start and checked
at every resume. Hosts are emulated: the CPU's flags and the GPU's answers are monkeypatched, TF32 is emulated on
the CPU by rounding every convolution's operands while PyTorch's flag says TF32 (tests/emulate.py)."""

import dataclasses

import pytest
import torch
from emulate import EmulatedTF32
from tiny import tiny

from ganbench import device as gd
from ganbench.data import DataSpec, load_dataset
from ganbench.device import resolve
from ganbench.execution import Trial
from ganbench.execution.runner import execute
from ganbench.io import read_json, read_jsonl

CPU, CUDA = torch.device("cpu"), torch.device("cuda")
AVX512_BF16, AMX, NO_BF16 = {"avx512f", "avx512_bf16"}, {"amx_bf16", "amx_tile", "avx512_bf16"}, {"avx2", "avx512f"}


def gpu(monkeypatch, capability: tuple[int, int], bf16: bool) -> None:
    """Answer torch.cuda's questions as a GPU of this compute capability would."""
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: bf16)


@pytest.fixture
def ampere_default():
    """PyTorch's default on an Ampere or later GPU: cuDNN convolutions in TF32 (restored after)."""
    conv = torch.backends.cudnn.conv
    before = conv.fp32_precision
    conv.fp32_precision = "tf32"
    yield
    conv.fp32_precision = before


# ---------------------------------------------------------------------------------------------------- item 3
@pytest.mark.parametrize(
    "where, flags, capability, bf16, precision, expect",
    [
        ("cpu", AVX512_BF16, None, None, "auto", "bf16 autocast cpu avx512_bf16"),
        ("cpu", AMX, None, None, "auto", "bf16 autocast cpu amx"),
        ("cpu", NO_BF16, None, None, "auto", "fp32 ieee"),
        ("cpu", NO_BF16, None, None, "bf16", "bf16 autocast cpu emulated"),
        ("cpu", set(), None, None, "bf16", "bf16 autocast cpu unknown"),
        ("cuda", NO_BF16, (8, 0), True, "auto", "bf16 autocast cuda"),
        ("cuda", NO_BF16, (8, 6), True, "fp32", "fp32 ieee"),  # not TF32, whatever cuDNN's default
        ("cuda", NO_BF16, (8, 6), True, "tf32", "fp32 tf32"),
        ("cuda", NO_BF16, (7, 5), False, "auto", "fp32 ieee"),  # a T4
        ("cuda", NO_BF16, (7, 0), False, "bf16", "bf16 autocast cuda emulated"),  # a V100 asked for bf16
        ("cuda", NO_BF16, (8, 0), True, "fp16", "fp16 autocast cuda"),
    ],
)
def test_the_arithmetic_names_the_precision_tf32_and_the_cpus_bf16_path(
    monkeypatch, where, flags, capability, bf16, precision, expect
):
    monkeypatch.setattr(gd, "cpu_flags", lambda: flags)
    if capability:
        gpu(monkeypatch, capability, bf16)
    s = resolve(tiny(precision=precision), torch.device(where))
    assert s.arithmetic == expect and s.to_dict()["arithmetic"] == expect
    assert gd.arithmetic_text(s.to_dict()) == expect


def test_tf32_is_refused_for_training_where_no_tf32_exists(monkeypatch, tmp_path):
    """precision tf32 on a device without TF32 (a T4, the CPU, MPS) computes IEEE fp32 and says so, so that such a
    run's networks still load there (sampling, evaluation); training in it is refused in one line."""
    from ganbench.rundir import RunDir
    from ganbench.train import trial_settings

    gpu(monkeypatch, (7, 5), False)
    for where in (CPU, CUDA, torch.device("mps")):
        s = resolve(tiny(precision="tf32"), where)
        assert s.arithmetic == "fp32 ieee" and "no TF32" in s.precision_reason
    with pytest.raises(gd.ConfigError, match="precision tf32 needs a CUDA GPU of compute capability 8.0"):
        trial_settings(tiny(precision="tf32"), CPU, RunDir(tmp_path))


def test_runs_recorded_before_the_arithmetic_fall_back_to_their_precision():
    assert gd.arithmetic_text({"device": "cuda", "precision": "fp32"}) == "fp32 (path not recorded)"
    assert gd.arithmetic_text({"device": "cpu", "precision": "bf16"}) == "bf16 autocast cpu (path not recorded)"
    assert gd.arithmetic_text({}) == gd.arithmetic_text(None) == ""


def test_fp32_training_is_ieee_even_where_cudnn_defaults_to_tf32(ampere_default, tmp_path, images):
    """`precision fp32` trained in TF32 on every Ampere or later GPU (cuDNN's default), its gradient penalty
    included, and recorded fp32. Emulated: while the flag says TF32 every convolution's operands are rounded; a
    run sets the flag to what its arithmetic says, so an fp32 run (dcgan; wgan-gp's penalty) rounds nothing, and
    the flag is PyTorch's default again after the run. TF32 itself (precision tf32) rounds them."""
    for variant in ("dcgan", "wgan-gp"):
        with EmulatedTF32() as tf32:
            execute(Trial(tiny(variant, precision="fp32"), tmp_path / variant), images, {}, show_progress=False)
        assert tf32.calls == {"conv": 0, "matmul": 0}, variant
        assert read_json(tmp_path / variant / "config.json")["device_settings"]["arithmetic"] == "fp32 ieee"
    assert torch.backends.cudnn.conv.fp32_precision == "tf32"
    settings = dataclasses.replace(resolve(tiny(), CPU), precision="tf32", arithmetic="fp32 tf32")
    conv = torch.nn.Conv2d(3, 4, 3)
    with EmulatedTF32() as tf32, gd.fp32_arithmetic(settings):
        conv(torch.randn(2, 3, 8, 8)).sum().backward()
    assert tf32.calls["conv"] == 2  # forward, and the backward's input and weight gradients in one call


# ---------------------------------------------------------------------------------------------------- item 1
def _interrupted(tmp_path, images, cfg, flags, monkeypatch) -> None:
    """A first attempt on a host with these CPU flags, set back to half way (as if it had been lost there)."""
    monkeypatch.setattr(gd, "cpu_flags", lambda: flags)
    assert execute(Trial(cfg, tmp_path), images, {}, show_progress=False)["status"] == "completed"
    state = torch.load(tmp_path / "checkpoints" / "latest.pt", weights_only=False)
    state["counters"] |= {"img": 64, "g_steps": 4, "d_steps": 4, "tick": 1}
    torch.save(state, tmp_path / "checkpoints" / "latest.pt")


def test_a_resume_on_a_host_with_other_arithmetic_is_refused_in_one_line(tmp_path, images, monkeypatch, capsys):
    """A trial that started in bf16 on a CPU with AVX-512 BF16 and is resumed on one without it used to train its
    second half in fp32 (auto resolved again) while config.json said bf16 and the resume record said exact. Now
    the attempt is refused before it trains: status failed, one line saying what was recorded, what this host
    would compute, and how to pin the arithmetic; config.json and the checkpoint are left as they were."""
    cfg = tiny()  # precision auto
    _interrupted(tmp_path, images, cfg, AVX512_BF16, monkeypatch)
    recorded = read_json(tmp_path / "config.json")["device_settings"]
    assert recorded["arithmetic"] == "bf16 autocast cpu avx512_bf16"
    before = (tmp_path / "checkpoints" / "latest.pt").read_bytes()
    monkeypatch.setattr(gd, "cpu_flags", lambda: NO_BF16)  # the retry lands on another host
    summary = execute(Trial(cfg, tmp_path), images, {}, show_progress=False)
    assert summary["status"] == "failed"
    error = summary["error"]
    assert "\n" not in error and "trained in bf16 autocast cpu avx512_bf16" in error
    assert "would continue in bf16 autocast cpu emulated" in error and 'pinned (precision "fp32"' in error
    assert read_json(tmp_path / "config.json")["device_settings"] == recorded
    assert (tmp_path / "checkpoints" / "latest.pt").read_bytes() == before
    assert "failed: this trial trained in" in capsys.readouterr().err


@pytest.mark.parametrize("executor", ["local", "ray"])
def test_a_retried_trial_is_refused_through_the_executors_too(tmp_path, images, monkeypatch, executor):
    """A sweep's or study's executor runs a retried trial through run_trial in its worker (the local executor's
    single slot: this process; Ray: `_ray_trial` in a worker). Such an attempt on a host with other arithmetic is
    refused like a resumed run: its summary and its trial.json attempt say failed with the one-line error, and it is
    not retried (a refusal is no lost worker)."""
    from ganbench.execution import executors
    from ganbench.rundir import RunDir

    cfg = tiny()  # precision auto
    _interrupted(tmp_path, images, cfg, AVX512_BF16, monkeypatch)
    monkeypatch.setattr(gd, "cpu_flags", lambda: NO_BF16)  # the retry lands on another host
    trial = Trial(cfg, tmp_path, sweep="s")
    if executor == "local":
        opts = executors.ExecOptions(evaluate=False, max_concurrent=1, show_progress=False)
        ((_, summary),) = list(executors.run_local([trial], opts))
    else:
        summary = executors._ray_trial(trial, False, 0, attempt="a1")
    assert summary["status"] == "failed" and "would continue in bf16 autocast cpu emulated" in summary["error"]
    (attempt,) = read_json(RunDir(tmp_path).trial)["attempts"]
    assert attempt["status"] == "failed" and "trained in bf16 autocast cpu avx512_bf16" in attempt["error"]
    assert read_json(tmp_path / "config.json")["device_settings"]["arithmetic"] == "bf16 autocast cpu avx512_bf16"


def test_a_trial_that_started_in_fp32_stays_fp32_on_a_host_with_bf16(tmp_path, images, monkeypatch):
    """`auto` is resolved once: a trial that started in fp32 (no native bf16) and resumes on a host with bf16 goes
    on in fp32, bit for bit the run it would have been, and its resume record names the arithmetic."""
    cfg = tiny()
    for name, resumed_on in (("stayed", NO_BF16), ("moved", AVX512_BF16)):
        _interrupted(tmp_path / name, images, cfg, NO_BF16, monkeypatch)
        monkeypatch.setattr(gd, "cpu_flags", lambda flags=resumed_on: flags)
        assert execute(Trial(cfg, tmp_path / name), images, {}, show_progress=False)["status"] == "completed"
    record = [r for r in read_jsonl(tmp_path / "moved" / "metrics.jsonl") if r["kind"] == "resume"][-1]
    assert record["arithmetic"] == "fp32 ieee" and record["exact"] is True
    stayed, moved = (
        torch.load(p / "checkpoints" / "latest.pt")["nets"]["G"] for p in (tmp_path / "stayed", tmp_path / "moved")
    )
    assert all(torch.equal(stayed[k], moved[k]) for k in stayed)


def test_an_attempt_that_starts_over_records_its_own_arithmetic(tmp_path, images, monkeypatch):
    """An attempt lost before its first checkpoint trains from the start: it is a first start, and config.json
    records the arithmetic of the host that trains it."""
    cfg = tiny()
    monkeypatch.setattr(gd, "cpu_flags", lambda: AVX512_BF16)
    execute(Trial(cfg, tmp_path), images, {}, show_progress=False)
    (tmp_path / "checkpoints" / "latest.pt").unlink()
    monkeypatch.setattr(gd, "cpu_flags", lambda: NO_BF16)
    assert execute(Trial(cfg, tmp_path), images, {}, show_progress=False)["status"] == "completed"
    assert read_json(tmp_path / "config.json")["device_settings"]["arithmetic"] == "fp32 ieee"


def test_baselines_resume_anywhere(tmp_path, monkeypatch):
    """Nothing trained, no arithmetic to keep: a random baseline's settings are resolved afresh."""
    from ganbench.rundir import RunDir
    from ganbench.train import trial_settings

    monkeypatch.setattr(gd, "cpu_flags", lambda: NO_BF16)
    run = RunDir(tmp_path)
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "latest.pt").write_bytes(b"")
    run.write_meta({"config": {}, "device_settings": {"precision": "bf16", "arithmetic": "bf16 autocast cuda"}})
    assert trial_settings(tiny("random"), CPU, run).arithmetic == "fp32 ieee"
    with pytest.raises(gd.ArithmeticChanged):
        trial_settings(tiny(), CPU, run)


@pytest.fixture(scope="module")
def images():
    return load_dataset(DataSpec("synthetic", resolution=16, max_images=256)).images
