"""The new axes wired into the one training loop (issue 12): wgan-gp kept bit for bit as wasserstein + gp, result
directories written before the change still recognised and resumable, and what each axis does to a step."""

import json

import pytest
import torch
from torch.testing import assert_close
from typer.testing import CliRunner

from ganbench import objectives, penalties
from ganbench.commands import app
from ganbench.config import load_recipe, make_config, migrate
from ganbench.execution import Trial
from ganbench.execution.trial import existing_state
from ganbench.families import gan
from ganbench.io import read_jsonl, write_json
from ganbench.metrics import names
from ganbench.sampling import load_sampler
from ganbench.train import build, train

pytestmark = pytest.mark.usefixtures("one_thread")
TINY = dict(
    resolution=16,
    g_width=8,
    d_width=8,
    latent_dim=8,
    batch_size=16,
    max_images=256,
    tick_kimg=0.16,
    device="cpu",
    precision="fp32",
)

# config.json's "config" exactly as main wrote it at c1a6dc5 (before penalties were an axis), for
# `make_config(load_recipe("wgan-gp"), **TINY, budget="480img")`.
MAIN_WGAN_GP = {
    "variant": "wgan-gp",
    "description": "WGAN-GP: Wasserstein critic + gradient penalty 10, n_critic 5, Adam 1e-4 (0, 0.9), layer norm in D",
    "family": "gan",
    "objective": "wgan-gp",
    "lr_g": 0.0001,
    "lr_d": 0.0001,
    "beta1": 0.0,
    "beta2": 0.9,
    "batch_size": 16,
    "n_critic": 5,
    "gp_weight": 10.0,
    "latent_dim": 8,
    "latent_dist": "normal",
    "g_width": 8,
    "d_width": 8,
    "d_norm": "layer",
    "leaky_slope": 0.2,
    "kl_weight": 1.0,
    "dataset": "synthetic",
    "data": "",
    "resolution": 16,
    "channels": 3,
    "crop": 0,
    "max_images": 256,
    "budget": "480img",
    "tick_kimg": 0.16,
    "checkpoint_ticks": 5,
    "eval_every_kimg": 0.0,
    "eval_samples": 500,
    "eval_split": "train",
    "inception_weights": "",
    "seed": 0,
    "device": "cpu",
    "precision": "fp32",
    "fast": True,
    "compile": False,
}
MAIN_DCGAN = MAIN_WGAN_GP | {
    "variant": "dcgan",
    "description": "DCGAN: non-saturating GAN, Adam 2e-4 (0.5, 0.999), BatchNorm in D",
    "objective": "nonsaturating",
    "lr_g": 0.0002,
    "lr_d": 0.0002,
    "beta1": 0.5,
    "beta2": 0.999,
    "n_critic": 1,
    "d_norm": "batch",
}
# The three ticks of that run, produced by main's code (c1a6dc5, CPU, fp32, one thread) before the change, on the
# built-in faces drawing v2 (that commit's faces.py replaced by today's). One thread: two compute other floats
# (1e-5 apart by the third tick), more than the room below.
MAIN_WGAN_GP_TICKS = [
    {
        "loss_d": 0.45563966035842896,
        "loss_g": 0.07800250500440598,
        "penalty": 0.06705790013074875,
        "d_real": 0.16425609588623047,
        "d_fake": -0.05068323016166687,
    },
    {
        "loss_d": 0.15084096789360046,
        "loss_g": 0.12670035660266876,
        "penalty": 0.050408411771059036,
        "d_real": 0.2470816820859909,
        "d_fake": -0.1061614379286766,
    },
    {
        "loss_d": -0.03341584652662277,
        "loss_g": 0.15939757227897644,
        "penalty": 0.04895400255918503,
        "d_real": 0.3788110017776489,
        "d_fake": -0.14414484798908234,
    },
]


def tiny(variant="dcgan", **kw):
    return make_config(load_recipe(variant), **(TINY | kw))


def ticks(run_dir):
    keep = ("loss_d", "loss_g", "penalty", "d_real", "d_fake")
    return [{k: r[k] for k in keep} for r in read_jsonl(run_dir / "metrics.jsonl") if r["kind"] == "tick"]


# ---------------------------------------------------------------------------------------------------- wgan-gp kept
def test_wgan_gp_is_wasserstein_plus_gp_with_the_losses_main_produced(images, tmp_path, one_thread):
    cfg = tiny("wgan-gp", budget="480img")
    assert (cfg.objective, cfg.penalty, cfg.penalty_weight) == ("wasserstein", "gp", 10.0)
    train(cfg, tmp_path, images)
    got = ticks(tmp_path)
    assert len(got) == 3
    for mine, main in zip(got, MAIN_WGAN_GP_TICKS, strict=True):
        assert_close(mine, main, rtol=1e-5, atol=1e-7)  # equal on this CPU; a little room for other CPUs' kernels
    # and it is not a coincidence of the first steps: without the penalty the losses move off
    train(tiny("wgan-gp", budget="480img", penalty="none"), tmp_path / "nogp", images)
    assert abs(ticks(tmp_path / "nogp")[-1]["loss_d"] - MAIN_WGAN_GP_TICKS[-1]["loss_d"]) > 1e-3


# ---------------------------------------------------------------------------------------------------- old run dirs
def test_main_config_dicts_migrate_to_the_same_config():
    assert migrate(MAIN_WGAN_GP) == tiny("wgan-gp", budget="480img").to_dict()
    assert migrate(MAIN_DCGAN) == tiny("dcgan", budget="480img").to_dict()
    assert migrate(MAIN_DCGAN) != tiny("r1", budget="480img").to_dict()  # two-sided: a different recipe differs


def _old_run_dir(run_dir, config: dict, status: str) -> None:
    run_dir.mkdir(parents=True)
    write_json(
        run_dir / "config.json", {"config": config, "versions": {}, "git_commit": "c1a6dc5", "command": [], "data": {}}
    )
    write_json(run_dir / "summary.json", {"variant": config["variant"], "seed": 0, "status": status})


@pytest.mark.parametrize("old", [MAIN_WGAN_GP, MAIN_DCGAN], ids=["wgan-gp", "dcgan"])
def test_a_completed_run_written_by_main_is_skipped(old, tmp_path):
    run_dir = tmp_path / old["variant"] / "seed0"
    _old_run_dir(run_dir, old, "completed")
    assert existing_state(Trial(tiny(old["variant"], budget="480img"), run_dir)) == "completed"
    with pytest.raises(Exception, match="lr_d"):  # still refused when it really differs
        existing_state(Trial(tiny(old["variant"], budget="480img", lr_d=5e-5), run_dir))


def test_an_interrupted_run_written_by_main_resumes_to_an_uninterrupted_run(images, tmp_path):
    """A checkpoint and config.json in main's format (objective wgan-gp, gp_weight, none of the new fields): the
    new code resumes from it and ends with the weights of a run that was never interrupted."""
    cfg = tiny("wgan-gp", budget="480img", checkpoint_ticks=1)
    train(cfg, tmp_path / "straight", images)
    old_run = tmp_path / "old"
    train(tiny("wgan-gp", budget="320img", checkpoint_ticks=1), old_run, images)  # stops at the 2nd checkpoint
    ckpt = old_run / "checkpoints" / "latest.pt"
    state = torch.load(ckpt, weights_only=False)
    state["config"] = MAIN_WGAN_GP | {"checkpoint_ticks": 1}  # as main wrote it
    torch.save(state, ckpt)
    (old_run / "config.json").write_text(json.dumps({"config": state["config"]}))
    assert existing_state(Trial(cfg, old_run)) == "resumable"
    out = train(cfg, old_run, images)
    assert out["kimg"] == 0.48
    a, b = (
        torch.load(p / "checkpoints" / "latest.pt", weights_only=False)["nets"]
        for p in (tmp_path / "straight", old_run)
    )
    for net in ("G", "D"):
        for k in a[net]:
            assert torch.equal(a[net][k], b[net][k]), (net, k)
    assert load_sampler(old_run)[0] == cfg  # and the old config.json reads as today's config


# ---------------------------------------------------------------------------------------------------- one step
def _nets(cfg):
    torch.manual_seed(0)
    return build(cfg, torch.device("cpu"))


def _step_inputs(cfg):
    gen = torch.Generator().manual_seed(1)
    real = torch.rand(cfg.batch_size, 3, 16, 16, generator=gen) * 2 - 1
    z = torch.randn(cfg.batch_size, cfg.latent_dim, generator=gen)
    return real, z


def test_weight_clipping_bounds_every_parameter_of_d_after_its_step():
    cfg = tiny("wgan", lr_d=0.5)  # a large step, so that unclipped weights would leave the box
    for clip, inside in ((0.01, True), (0.0, False)):
        c = make_config(cfg.to_dict() | {"clip": clip})
        nets = _nets(c)
        real, z = _step_inputs(c)
        gan.d_step(
            c,
            nets,
            objectives.get(c.objective),
            penalties.get(c.penalty),
            0.0,
            real,
            z,
            torch.autocast("cpu", enabled=False),
            None,
        )
        bound = max(p.abs().max().item() for p in nets["D"].parameters())
        assert (bound <= 0.01) == inside, (clip, bound)
    assert type(_nets(cfg)["opt_d"]) is torch.optim.RMSprop and type(_nets(cfg)["opt_g"]) is torch.optim.RMSprop


@pytest.mark.parametrize("variant,penalty", [("r1", "r1"), ("dragan", "dragan"), ("rpgan", "r1+r2")])
def test_the_penalty_enters_d_loss_with_its_weight_and_only_when_due(variant, penalty):
    cfg = tiny(variant)
    obj, pen = objectives.get(cfg.objective), penalties.get(cfg.penalty)
    assert pen.name == penalty
    out = {}
    for weight in (0.0, 10.0):
        nets = _nets(cfg)
        real, z = _step_inputs(cfg)
        torch.manual_seed(5)  # dragan's perturbation draws from the global stream
        out[weight] = gan.d_step(cfg, nets, obj, pen, weight, real, z, torch.autocast("cpu", enabled=False), None)
    assert out[0.0]["penalty"].item() == 0.0 and out[10.0]["penalty"].item() > 0
    assert_close(out[10.0]["loss_d"], out[0.0]["loss_d"] + 10.0 * out[10.0]["penalty"])


def test_lazy_regularisation_applies_the_penalty_on_every_kth_d_step(images, tmp_path):
    """penalty_every=4: the penalty is computed on D steps 0, 4, 8, ... only (weighted 4x), so a tick's mean
    penalty is about a quarter of the eager run's."""
    seen = []
    real_fn = penalties.PENALTIES["r1"].fn

    def spy(D, real, fake, generator=None):
        seen.append(True)
        return real_fn(D, real, fake, generator)

    import dataclasses

    penalties.PENALTIES._entries["r1"] = dataclasses.replace(penalties.PENALTIES["r1"], fn=spy)
    try:
        train(tiny("r1", budget="256img", penalty_every=4, tick_kimg=1), tmp_path / "lazy", images)
        lazy_calls = len(seen)
        seen.clear()
        train(tiny("r1", budget="256img", tick_kimg=1), tmp_path / "eager", images)
    finally:
        penalties.PENALTIES._entries["r1"] = dataclasses.replace(penalties.PENALTIES["r1"], fn=real_fn)
    assert (lazy_calls, len(seen)) == (4, 16)  # 16 D steps of 16 images


@pytest.mark.parametrize("name", ["rpgan", "ragan"])
def test_relativistic_g_loss_sees_d_on_a_real_batch(name):
    cfg = tiny("dcgan", objective=name, d_norm="layer")
    nets = _nets(cfg)
    real, z = _step_inputs(cfg)
    obj = objectives.get(name)
    with torch.no_grad():
        expected = obj.g_loss(nets["D"](nets["G"](z)), nets["D"](real))
        as_if_nonrelativistic = objectives.get("nonsaturating").g_loss(nets["D"](nets["G"](z)))
    got = gan.g_step(cfg, nets, obj, z, real, torch.autocast("cpu", enabled=False), None)["loss_g"]
    assert_close(got, expected)
    assert not torch.allclose(got, as_if_nonrelativistic)
    with pytest.raises(ValueError, match="relativistic"):
        gan.g_step(cfg, _nets(cfg), obj, z, None, torch.autocast("cpu", enabled=False), None)


# ---------------------------------------------------------------------------------------------------- EMA
class TwoSampleEvaluator:
    """Stands in for the Inception evaluator: 'fid10' = mean of 10 samples, so G and its EMA give two values."""

    names = ["fid10"]
    protocol = {"n": 10}

    def __call__(self, sample):
        return {"fid10": float(sample(10).mean()), "fid10_lo": 0.0}


def test_ema_is_evaluated_beside_g_with_its_own_names_grids_and_sampler(images, tmp_path):
    cfg = tiny("dcgan", budget="320img", ema_half_life_kimg=0.1)
    out = train(cfg, tmp_path, images, evaluate=TwoSampleEvaluator())
    assert set(out["final"]) == {"fid10", "fid10_lo", "fid10_ema", "fid10_ema_lo"}
    assert out["final"]["fid10"] != out["final"]["fid10_ema"]
    assert names.parse("fid10_ema_lo") == names.MetricName("fid", 10, "lo", "ema")
    assert (tmp_path / "samples" / "final-ema.png").is_file() and (tmp_path / "samples" / "final.png").is_file()
    assert len(list((tmp_path / "samples").glob("tick*-ema.png"))) == 2
    _, raw = load_sampler(tmp_path)
    _, ema = load_sampler(tmp_path, ema=True)
    assert not torch.equal(raw(4), ema(4))
    # without an EMA there is none to sample, and the command says so in one line
    train(tiny("dcgan", budget="32img"), tmp_path / "plain", images)
    res = CliRunner().invoke(app, ["sample", str(tmp_path / "plain"), "--ema", "-o", str(tmp_path / "g.png")])
    assert res.exit_code == 2 and "keeps no EMA" in res.stderr and len(res.stderr.strip().splitlines()) == 1
    res = CliRunner().invoke(app, ["sample", str(tmp_path), "--ema", "-n", "4", "-o", str(tmp_path / "e.png")])
    assert res.exit_code == 0 and (tmp_path / "e.png").is_file()


def test_new_variants_complete_a_short_run(images, tmp_path):
    for variant in ("wgan", "dragan", "r1", "rpgan"):
        out = train(tiny(variant, budget="160img"), tmp_path / variant, images)
        assert out["kimg"] == 0.16 and all(v is not None for v in ticks(tmp_path / variant)[-1].values())


# ---------------------------------------------------------------------------------------------------- metrics by name
def test_metrics_are_chosen_by_name_and_carry_their_protocol():
    from ganbench.config import ConfigError
    from ganbench.metrics import evaluator as ev
    from ganbench.metrics.features import FeatureSet

    # the default set is exactly what runs computed before metrics could be chosen
    assert ev.evaluator_keys(500) == (
        "fid",
        "kid",
        "precision",
        "recall",
        "fidinf",
        "fidinf_lo",
        "fidinf_hi",
        "kid_lo",
        "kid_hi",
    )
    assert ev.evaluator_keys(500, ("kid", "c2st")) == (
        "kid",
        "kid_lo",
        "kid_hi",
        "c2st",
        "c2st_lo",
        "c2st_hi",
        "c2st_p",
    )
    g = torch.Generator().manual_seed(0)
    same_a, same_b = (torch.randn(200, 16, generator=g, dtype=torch.float64) for _ in range(2))
    far = torch.randn(200, 16, generator=g, dtype=torch.float64) + 3.0
    settings = ev.MetricSettings(ev.kid_subset_size(200, 200))
    close = ev.compute_metrics(
        FeatureSet.from_features(same_a), FeatureSet.from_features(same_b), settings, ("dc", "c2st")
    )
    apart = ev.compute_metrics(
        FeatureSet.from_features(far), FeatureSet.from_features(same_b), settings, ("dc", "c2st")
    )
    assert set(close) == {"density", "coverage", "c2st", "c2st_lo", "c2st_hi", "c2st_p"}
    assert 0.35 < close["c2st"] < 0.65 and apart["c2st"] > 0.95  # chance for one distribution, ~1 for two
    assert close["coverage"] > 0.7 and apart["coverage"] < 0.1
    assert "held out" in ev.METRICS["c2st"].protocol["split"]
    names_of = [names.name("c2st", 500, "lo"), names.of_ema("c2st500_p")]
    assert names_of == ["c2st500_lo", "c2st500_ema_p"]
    with pytest.raises(KeyError, match="Did you mean 'kid'"):
        ev.parse_metrics("fid,kdi")
    with pytest.raises(ConfigError, match="'metrics'.*Did you mean 'c2st'"):
        make_config(load_recipe("dcgan"), metrics="kid,c2sd")
    res = CliRunner().invoke(
        app,
        [
            "run",
            "--variants",
            "dcgan",
            "--metrics",
            "kid,pr,dc",
            "--dry-run",
            "--device",
            "cpu",
            "--eval-samples",
            "50",
        ],
    )
    assert res.exit_code == 0 and json.loads(res.stdout)[0]["metrics"] == "kid,pr,dc"


def test_list_shows_every_registered_name_as_text_and_json():
    from ganbench.config import variant_names
    from ganbench.metrics.evaluator import METRICS
    from ganbench.optimizers import OPTIMIZERS

    res = CliRunner().invoke(app, ["list", "--json"])
    cat = json.loads(res.stdout)
    expected = {
        "variants": variant_names(),
        "objectives": objectives.OBJECTIVES.names(),
        "penalties": penalties.PENALTIES.names(),
        "optimizers": OPTIMIZERS.names(),
        "metrics": METRICS.names(),
    }
    for kind, wanted in expected.items():
        assert [e["name"] for e in cat[kind]] == list(wanted), kind
    text = CliRunner().invoke(app, ["list"]).stdout
    for kind in ("penalties:", "optimizers:", "metrics:", "datasets:"):
        assert kind in text
    assert "c2st" in text and "rpgan" in text and "dragan" in text


# ---------------------------------------------------------------------------------------------------- TensorBoard
def test_tensorboard_mirrors_the_records_and_changes_nothing_else(images, tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    train(tiny("dcgan", budget="320img"), tmp_path / "plain", images, evaluate=TwoSampleEvaluator())
    train(tiny("dcgan", budget="320img", tensorboard=True), tmp_path / "tb", images, evaluate=TwoSampleEvaluator())
    assert not (tmp_path / "plain" / "tensorboard").exists()
    acc = EventAccumulator(str(tmp_path / "tb" / "tensorboard"))
    acc.Reload()
    losses = [(e.step, e.value) for e in acc.Scalars("tick/loss_d")]
    jsonl = [
        (round(r["kimg"] * 1000), r["loss_d"])
        for r in read_jsonl(tmp_path / "tb" / "metrics.jsonl")
        if r["kind"] == "tick"
    ]
    assert [s for s, _ in losses] == [s for s, _ in jsonl] == [160, 320]
    assert_close([v for _, v in losses], [v for _, v in jsonl])
    assert [e.step for e in acc.Scalars("eval/fid10")] == [320]
    assert ticks(tmp_path / "tb") == ticks(tmp_path / "plain")  # the mirror changes nothing that is learned
    # tensorboard may be switched on or off when resuming: it changes where records go, not the run
    from ganbench.config import config_difference

    assert config_difference(tiny("dcgan").to_dict(), tiny("dcgan", tensorboard=True).to_dict()) == []


def test_fid_command_keys_and_table_follow_the_chosen_metrics():
    from ganbench.metrics.compare import cli_keys, format_table

    assert cli_keys(("fid", "fidinf", "kid", "pr")) == (
        "fid",
        "fidinf",
        "fidinf_lo",
        "fidinf_hi",
        "kid",
        "kid_std",
        "kid_lo",
        "kid_hi",
        "precision",
        "recall",
    )  # as before
    assert cli_keys(("kid", "c2st")) == ("kid", "kid_std", "kid_lo", "kid_hi", "c2st", "c2st_lo", "c2st_hi", "c2st_p")
    side = {"kind": "run", "run_dir": "x", "variant": "v", "seed": 0, "count": 50}
    result = {
        "kid50": 0.1,
        "kid50_std": 0.01,
        "kid50_lo": 0.05,
        "kid50_hi": 0.15,
        "c2st50": 0.9,
        "c2st50_lo": 0.8,
        "c2st50_hi": 0.95,
        "c2st50_p": 0.001,
        "isc": None,
        "isc_note": "n/a",
        "a": side,
        "b": side,
        "protocol": {
            "n_generated": 50,
            "n_reference": 50,
            "precision_recall": {"k": 3},
            "device": "cpu",
            "weights": {"sha256": "0" * 64, "source": "bundled"},
        },
        "seconds": 1.0,
    }
    rows = {line.split()[0] for line in format_table(result).splitlines()}
    assert {"kid50", "c2st50"} <= rows and not rows & {"fid50", "fidinf50", "precision50", "coverage50"}
