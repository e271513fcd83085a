"""The training loop and runner: one smoke step for every objective and variant, budgets, divergence, CLI."""

import json
import math

import pytest
import torch
from tiny import tiny
from typer.testing import CliRunner

from ganbench import objectives
from ganbench.commands import app
from ganbench.config import variant_names
from ganbench.execution import Trial
from ganbench.execution.runner import execute
from ganbench.execution.runs import run_in_order
from ganbench.io import read_json, read_jsonl
from ganbench.sampling import load_sampler
from ganbench.train import build, train


@pytest.mark.parametrize("name", objectives.OBJECTIVES.names())
def test_training_step_for_every_objective(name, images, tmp_path):
    cfg = tiny(objective=name, budget="2steps")
    torch.manual_seed(cfg.seed)
    before = {k: v.clone() for k, v in build(cfg, torch.device("cpu"))["G"].state_dict().items()}
    out = train(cfg, tmp_path, images)
    assert out["g_steps"] == 2 and out["d_steps"] == 2
    ticks = [r for r in read_jsonl(tmp_path / "metrics.jsonl") if r["kind"] == "tick"]
    assert all(math.isfinite(r["loss_d"]) and math.isfinite(r["loss_g"]) for r in ticks)
    G = load_sampler(tmp_path)  # the checkpoint holds the trained weights
    after = torch.load(tmp_path / "checkpoints" / "latest.pt", weights_only=False)["nets"]["G"]
    assert any(not torch.equal(before[k], after[k]) for k in before if after[k].is_floating_point())
    assert G[1](4).shape == (4, 3, 16, 16)


@pytest.mark.parametrize("variant", variant_names())
def test_every_variant_completes_a_run(variant, images, tmp_path):
    # the real-vs-real line draws blocks of eval_samples from the 256 training images (its default 500 do not fit)
    cfg = tiny(variant, **({"eval_samples": 64} if variant == "real" else {}))
    summary = execute(Trial(cfg, tmp_path / variant / "seed0"), images, {"dataset": "synthetic"}, show_progress=False)
    assert summary["status"] == "completed", summary.get("error")
    run = tmp_path / variant / "seed0"
    assert (run / "samples" / "final.png").is_file()
    meta = read_json(run / "config.json")
    assert meta["config"]["variant"] == variant and "torch" in meta["versions"] and "git_commit" in meta
    assert read_json(run / "summary.json")["status"] == "completed"
    if variant in ("random", "real"):  # the floor and the real-vs-real line train nothing
        assert summary["kimg"] == 0 and summary["g_steps"] == 0
    else:
        assert summary["kimg"] == pytest.approx(0.128) and summary["img_per_s"] > 0
        assert (run / "checkpoints" / "latest.pt").is_file()


def test_kimg_accounting_identical_for_n_critic_1_and_5(images, tmp_path):
    one = train(tiny(budget="480img", n_critic=1), tmp_path / "a", images)
    five = train(tiny(budget="480img", n_critic=5), tmp_path / "b", images)
    assert one["kimg"] == five["kimg"] == 0.48
    assert one["d_steps"] == five["d_steps"] == 30
    assert one["g_steps"] == 30 and five["g_steps"] == 6


def test_step_and_time_budgets(images, tmp_path):
    assert train(tiny(budget="3steps"), tmp_path / "s", images)["g_steps"] == 3
    out = train(tiny(budget="2s", tick_kimg=100), tmp_path / "t", images)
    assert 2 <= out["seconds"] < 6 and out["g_steps"] > 0


def test_same_seed_same_weights_other_seed_other_weights(images, tmp_path):
    def weights(seed, where):
        train(tiny(seed=seed), tmp_path / where, images)
        return torch.load(tmp_path / where / "checkpoints" / "latest.pt", weights_only=False)["nets"]["G"]

    a, b, c = weights(0, "a"), weights(0, "b"), weights(1, "c")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


@pytest.fixture
def exploding(monkeypatch):
    """An objective whose D loss turns NaN after 6 calls (to make a run diverge on purpose)."""
    calls = {"n": 0}
    base = objectives.get("nonsaturating")

    def d_loss(real_logits, fake_logits):
        calls["n"] += 1
        loss = base.d_loss(real_logits, fake_logits)
        return loss * float("nan") if calls["n"] > 6 else loss

    obj = objectives.Objective("exploding", d_loss, base.g_loss)
    monkeypatch.setitem(objectives.OBJECTIVES._entries, "exploding", obj)
    return obj


def test_divergence_ends_that_run_only_and_keeps_last_good_checkpoint(images, tmp_path, exploding):
    bad = tiny(objective="exploding", budget="512img", checkpoint_ticks=1)
    good = tiny()
    trials = [Trial(bad, tmp_path / "bad" / "seed0"), Trial(good, tmp_path / "good" / "seed0")]
    summaries = run_in_order(trials, evaluate=False, show_progress=False)
    assert [s["status"] for s in summaries] == ["diverged", "completed"]
    assert "non-finite loss_d" in summaries[0]["error"]
    ckpt = torch.load(tmp_path / "bad" / "seed0" / "checkpoints" / "latest.pt", weights_only=False)
    assert ckpt["counters"]["img"] == 64  # the tick before the NaN; nothing after it was saved
    assert all(torch.isfinite(v).all() for v in ckpt["nets"]["G"].values() if v.is_floating_point())


def test_evaluation_schedule_and_best_point(images, tmp_path):
    values = iter([5.0, 3.0, 4.0])
    calls = []

    class FakeEval:
        names = ["fid10"]
        protocol = {"n": 10}

        def __call__(self, sample):
            calls.append(sample(3).shape)
            return {"fid10": next(values)}

    summary = execute(
        Trial(tiny(budget="192img", eval_every_kimg=0.064), tmp_path), images, {}, FakeEval(), show_progress=False
    )
    evals = [r for r in read_jsonl(tmp_path / "metrics.jsonl") if r["kind"] == "eval"]
    assert [r["kimg"] for r in evals] == [0.064, 0.128, 0.192] and [r["fid10"] for r in evals] == [5.0, 3.0, 4.0]
    assert summary["final"] == {"fid10": 4.0}
    assert summary["best"]["value"] == 3.0 and summary["best"]["kimg"] == 0.128
    assert summary["metric_protocol"] == {"n": 10} and calls[0] == (3, 3, 16, 16)


cli = CliRunner()


def test_cli_dry_run_shows_resolved_overrides():
    res = cli.invoke(app, ["run", "--variants", "dcgan,wgan-gp", "--dry-run", "--set", "lr_d=5e-5", "--seeds", "0,1"])
    assert res.exit_code == 0, res.output
    cfgs = json.loads(res.stdout)
    assert len(cfgs) == 4 and {c["lr_d"] for c in cfgs} == {5e-5} and {c["seed"] for c in cfgs} == {0, 1}
    assert cfgs[0]["run_dir"].endswith("dcgan/seed0")


@pytest.mark.parametrize(
    "args,message",
    [
        (["--variants", "dcgna"], "Did you mean 'dcgan'"),
        (["--set", "lr=1"], "unknown config key 'lr'"),
        (["--budget", "-3kimg"], "budget"),
        (["--resolution", "48"], "power of two"),
        (["--seeds", "a,b"], "--seeds expects integers"),
    ],
)
def test_cli_bad_input_is_one_line_exit_2(args, message):
    res = cli.invoke(app, ["run", "--dry-run", *args])
    assert res.exit_code == 2
    assert message in res.stderr and "Traceback" not in res.stderr and len(res.stderr.strip().splitlines()) == 1


def test_cli_run_list_and_sample(tmp_path, images):
    out = tmp_path / "res"
    res = cli.invoke(
        app,
        [
            "run",
            "--variants",
            "dcgan,random",
            "--no-eval",
            "--out",
            str(out),
            "--resolution",
            "16",
            "--budget",
            "64img",
            "--max-images",
            "256",
            "--set",
            "g_width=8",
            "--set",
            "d_width=8",
            "--set",
            "batch_size=16",
            "--set",
            "latent_dim=8",
            "--tick",
            "0.064",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "dcgan" in res.stdout and "completed" in res.stdout
    again = cli.invoke(
        app,
        [
            "run",
            "--variants",
            "dcgan",
            "--no-eval",
            "--out",
            str(out),
            "--resolution",
            "16",
            "--budget",
            "64img",
            "--max-images",
            "256",
            "--set",
            "g_width=8",
            "--set",
            "d_width=8",
            "--set",
            "batch_size=16",
            "--set",
            "latent_dim=8",
            "--tick",
            "0.064",
        ],
    )
    assert again.exit_code == 0 and "already completed" in again.stderr
    res = cli.invoke(app, ["sample", str(out / "dcgan" / "seed0"), "-n", "9", "-o", str(tmp_path / "g.png")])
    assert res.exit_code == 0, res.output
    from PIL import Image

    assert Image.open(tmp_path / "g.png").size == (3 * 16 + 4 * 2, 3 * 16 + 4 * 2)
    listing = cli.invoke(app, ["list"])
    assert all(n in listing.stdout for n in variant_names() + ["nonsaturating", "celeba", "synthetic"])
    missing = cli.invoke(app, ["sample", str(tmp_path / "nowhere")])
    assert missing.exit_code == 2 and "not a ganbench run directory" in missing.stderr


def test_random_baseline_seeds_are_independent_draws_and_gan_noise_is_shared():
    from ganbench.sampling import make_sampler

    r0, r1 = tiny("random", seed=0), tiny("random", seed=1)
    a, b, a2 = (
        make_sampler(r0, None, torch.device("cpu"))(8),
        make_sampler(r1, None, torch.device("cpu"))(8),
        make_sampler(r0, None, torch.device("cpu"))(8),
    )
    assert torch.equal(a, a2) and not torch.equal(a, b)
    assert a.min() >= -1 and a.max() <= 1 and abs(a.mean().item()) < 0.05  # uniform on [-1, 1]
    # trained variants: the evaluation noise is the same whatever the seed (a fair, shared z sequence)
    G = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Identity())
    z0 = make_sampler(tiny(seed=0), G, torch.device("cpu"))(4)
    z1 = make_sampler(tiny(seed=1), G, torch.device("cpu"))(4)
    assert torch.equal(z0, z1)


def test_fast_path_and_the_default_change_nothing_learned_on_cpu(images, tmp_path):
    """`fast` (channels_last + fused Adam) runs different kernels on the CPU too, and the default a user gets
    (precision auto = bf16 autocast where the CPU has it, plus fast) differs more, so neither is bit-identical to
    the plain path (fp32, every switch off); what they learn must still be the same within seed-to-seed noise: the
    final losses of each lie within the spread of three plain runs with different seeds (plus a margin of that size)."""
    from ganbench.device import resolve

    steps = dict(budget="240steps", tick_kimg=0.96)
    arms = {"fast": tiny(fast=True, precision="fp32", **steps), "default": tiny(**steps)}
    for cfg in arms.values():
        s = resolve(cfg, torch.device("cpu"))
        assert (s.memory_format, s.optimizer) == ("channels_last", "fused")  # different code on this CPU
    plain = [
        train(tiny(fast=False, precision="fp32", seed=k, **steps), tmp_path / f"plain{k}", images) for k in range(3)
    ]
    for name, cfg in arms.items():
        train(cfg, tmp_path / name, images)

    def final(run):  # mean of the last two ticks' losses (1.92 kimg of 3.84)
        ticks = [r for r in read_jsonl(tmp_path / run / "metrics.jsonl") if r["kind"] == "tick"][-2:]
        return {k: sum(r[k] for r in ticks) / len(ticks) for k in ("loss_d", "loss_g")}

    runs = [final(f"plain{k}") for k in range(3)]
    for name in arms:
        other = final(name)
        for key in ("loss_d", "loss_g"):
            values = [r[key] for r in runs]
            spread = max(values) - min(values)
            assert abs(other[key] - runs[0][key]) <= 2 * spread + 0.02, (name, key, other[key], values)
            assert spread < 0.5 * abs(sum(values) / 3), (key, values)  # the noise yardstick itself is sane
    assert all(p["kimg"] == pytest.approx(3.84) for p in plain)
    off = torch.load(tmp_path / "plain0" / "checkpoints" / "latest.pt", weights_only=False)["nets"]
    for name in arms:  # each arm really ran other code
        on = torch.load(tmp_path / name / "checkpoints" / "latest.pt", weights_only=False)["nets"]
        assert not all(torch.equal(on["G"][k], off["G"][k]) for k in on["G"]), name


def test_bf16_autocast_trains_to_finite_losses_close_to_fp32(images, tmp_path):
    fp32 = train(tiny(budget="256img", precision="fp32"), tmp_path / "fp32", images)
    bf16 = train(tiny(budget="256img", precision="bf16"), tmp_path / "bf16", images)
    assert fp32["kimg"] == bf16["kimg"]
    last = {
        p: [r for r in read_jsonl(tmp_path / p / "metrics.jsonl") if r["kind"] == "tick"][-1] for p in ("fp32", "bf16")
    }
    for key in ("loss_d", "loss_g"):
        assert math.isfinite(last["bf16"][key])
        assert abs(last["bf16"][key] - last["fp32"][key]) < 0.5 * abs(last["fp32"][key]) + 0.2, key


@pytest.mark.parametrize("shape", [(64, 3, 16, 16), (5, 1, 8, 8), (1, 3, 8, 8), (10, 3, 8, 8)])
def test_sample_grids_are_pixel_identical_to_torchvision_save_image(shape, tmp_path):
    import numpy as np
    from PIL import Image
    from torchvision.utils import save_image

    from ganbench.diagnostics import save_grid as _save_grid

    x = torch.rand(*shape, generator=torch.Generator().manual_seed(0)) * 2.2 - 1.1  # out of range too: clamped
    save_image(x, tmp_path / "tv.png", nrow=8, normalize=True, value_range=(-1, 1))
    _save_grid(x, tmp_path / "ours.png")
    assert np.array_equal(np.asarray(Image.open(tmp_path / "tv.png")), np.asarray(Image.open(tmp_path / "ours.png")))


def test_curve_evaluations_use_eval_samples_during_and_the_final_one_reports_both(images, tmp_path):
    """eval_samples_during: cheap points along the way (n=during); the final evaluation uses eval_samples and
    also reports its first `during` images, so the curve's last point has the same protocol as the others."""
    calls = []

    class FakeEval:
        names = ["fid40", "kid40"]
        protocol = {"n": 40}

        def __call__(self, sample, n=None, also=()):
            calls.append((n, tuple(also)))
            out = {f"fid{n or 40}": float(len(calls))}
            return out | {f"fid{m}": 10.0 - len(calls) for m in also}

    cfg = tiny(budget="192img", eval_every_kimg=0.064, eval_samples=40, eval_samples_during=10)
    summary = execute(Trial(cfg, tmp_path), images, {}, FakeEval(), show_progress=False)
    evals = [r for r in read_jsonl(tmp_path / "metrics.jsonl") if r["kind"] == "eval"]
    assert calls == [(10, ()), (10, ()), (None, (10,))]
    assert [sorted(k for k in r if k.startswith("fid")) for r in evals] == [["fid10"], ["fid10"], ["fid10", "fid40"]]
    assert summary["best"]["metric"] == "fid10" and summary["best"]["value"] == 1.0  # the best point on the curve
    with pytest.raises(Exception, match="eval_samples_during"):
        tiny(eval_samples=40, eval_samples_during=50)
