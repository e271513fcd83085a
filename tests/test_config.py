"""Configs and variants: typos, wrong types and impossible values fail with the valid choices listed."""

import pytest

from ganbench.config import (
    Config,
    ConfigError,
    load_recipe,
    make_config,
    parse_budget,
    parse_overrides,
    variant_names,
)


def test_shipped_variants():
    assert set(variant_names()) == {
        "dcgan",
        "minimax",
        "wgan-gp",
        "lsgan",
        "hinge",
        "vae",
        "random",
        "wgan",
        "dragan",
        "r1",
        "rpgan",
        "real",
        "ns-none",
        "ns-r1r2",
        "rpgan-none",
        "rpgan-r1",
    }
    for name in variant_names():
        cfg = make_config(load_recipe(name))
        assert cfg.variant == name and cfg.description


def test_variant_recipes_match_their_papers():
    dcgan = make_config(load_recipe("dcgan"))
    assert (dcgan.objective, dcgan.lr_g, dcgan.lr_d, dcgan.beta1, dcgan.beta2) == (
        "nonsaturating",
        2e-4,
        2e-4,
        0.5,
        0.999,
    )
    wgan = make_config(load_recipe("wgan-gp"))
    assert (wgan.objective, wgan.penalty, wgan.lr_g, wgan.beta1, wgan.beta2, wgan.n_critic, wgan.penalty_weight) == (
        "wasserstein",
        "gp",
        1e-4,
        0.0,
        0.9,
        5,
        10.0,
    )
    assert wgan.d_norm != "batch"  # no BatchNorm in a gradient-penalty critic
    assert make_config(load_recipe("minimax")).objective == "minimax"
    clipped = make_config(load_recipe("wgan"))  # Arjovsky et al. 2017, Algorithm 1
    assert (
        clipped.objective,
        clipped.penalty,
        clipped.clip,
        clipped.optimizer_g,
        clipped.optimizer_d,
        clipped.lr_g,
        clipped.lr_d,
        clipped.n_critic,
    ) == ("wasserstein", "none", 0.01, "rmsprop", "rmsprop", 5e-5, 5e-5, 5)
    dragan = make_config(load_recipe("dragan"))
    assert (dragan.objective, dragan.penalty, dragan.penalty_weight) == ("nonsaturating", "dragan", 10.0)
    r1 = make_config(load_recipe("r1"))
    assert (r1.objective, r1.penalty, r1.penalty_every) == ("nonsaturating", "r1", 1)
    assert make_config(load_recipe("r1"), penalty_every=16).penalty_every == 16  # lazy R1
    rp = make_config(load_recipe("rpgan"))
    assert (rp.objective, rp.penalty) == ("rpgan", "r1+r2")
    for name in ("dcgan", "minimax", "lsgan", "hinge", "vae"):  # the older variants are unchanged by the new axes
        cfg = make_config(load_recipe(name))
        assert (cfg.penalty, cfg.clip, cfg.optimizer_g, cfg.optimizer_d, cfg.ema_half_life_kimg) == (
            "none",
            0.0,
            "adam",
            "adam",
            0.0,
        )
    assert make_config(load_recipe("vae")).family == "vae"
    assert make_config(load_recipe("random")).family == "random"


def test_overrides_parse_types():
    assert parse_overrides(["lr_d=5e-5", "n_critic=5", "latent_dist=uniform", "fast=false"]) == {
        "lr_d": 5e-5,
        "n_critic": 5,
        "latent_dist": "uniform",
        "fast": False,
    }


@pytest.mark.parametrize(
    "item,match",
    [
        ("lr_dd=1", "Did you mean 'lr_d'"),
        ("n_critic=five", "'n_critic' expects an integer"),
        ("lr_g=fast", "'lr_g' expects a number"),
        ("lr_g", "key=value"),
        ("fast=maybe", "true or false"),
    ],
)
def test_bad_overrides(item, match):
    with pytest.raises(ConfigError, match=match):
        parse_overrides([item])


@pytest.mark.parametrize(
    "settings,match",
    [
        ({"budget": "-5kimg"}, "not understood"),
        ({"budget": "0kimg"}, "positive"),
        ({"budget": "lots"}, "20kimg"),
        ({"resolution": 48}, "power of two"),
        ({"lr_g": -1.0}, "'lr_g' must be positive"),
        ({"beta1": 1.5}, "beta1"),
        ({"channels": 2}, "1 or 3"),
        ({"objective": "wgan"}, "Did you mean 'wgan-gp'"),
        ({"d_norm": "instance"}, "batch, layer, none, spectral"),
        ({"latent_dist": "gauss"}, "normal, sphere, uniform"),
        ({"precision": "fp8"}, "bf16"),
        ({"batch_size": 0}, "batch_size"),
        ({"penalty": "dragn"}, "unknown penalty 'dragn'. Did you mean 'dragan'"),
        ({"penalty": "r1+r22"}, "Did you mean 'r2'"),
        ({"penalty": "r1+r1"}, "twice"),
        ({"optimizer_d": "adma"}, "Did you mean 'adam'"),
        ({"optimizer_g": "sgd", "momentum": 1.5}, "momentum must be in"),
        ({"penalty_every": 0}, "penalty_every"),
        ({"clip": -0.01}, "'clip' must not be negative"),
        ({"ema_half_life_kimg": -1}, "ema_half_life_kimg"),
        ({"objective": "wgan-gp", "penalty": "r1"}, "use objective=wasserstein with the penalty you want"),
    ],
)
def test_impossible_configs(settings, match):
    with pytest.raises(ConfigError, match=match):
        make_config(load_recipe("dcgan"), **settings)


def test_budget_units():
    assert parse_budget("20kimg").unit == "img" and parse_budget("20kimg").amount == 20000
    assert parse_budget("500steps").unit == "steps" and parse_budget("500steps").amount == 500
    assert parse_budget("10min").amount == 600 and parse_budget("90s").amount == 90
    assert parse_budget("1h").unit == "seconds" and parse_budget("1h").amount == 3600
    assert str(parse_budget("2.5kimg")) == "2.5kimg"


def test_unknown_variant_lists_choices():
    with pytest.raises(ConfigError) as e:
        load_recipe("dcgna")
    assert "Did you mean 'dcgan'" in str(e.value) and "wgan-gp" in str(e.value)


def test_user_recipe_by_path(tmp_path):
    p = tmp_path / "mine.toml"
    p.write_text('family = "gan"\nobjective = "hinge"\nlr_d = 5e-5\n')
    cfg = make_config(load_recipe(str(p)))
    assert (cfg.variant, cfg.objective, cfg.lr_d, cfg.lr_g) == ("mine", "hinge", 5e-5, Config().lr_g)


def test_user_recipe_with_unknown_key_or_bad_toml(tmp_path):
    p = tmp_path / "typo.toml"
    p.write_text('objective = "hinge"\nlearning_rate = 1e-3\n')
    with pytest.raises(ConfigError, match="learning_rate.*typo.toml"):
        load_recipe(str(p))
    p.write_text("objective = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_recipe(str(p))
    with pytest.raises(ConfigError, match="does not exist"):
        load_recipe(str(tmp_path / "missing.toml"))


def test_config_is_frozen():
    with pytest.raises(AttributeError):
        Config().lr_g = 1.0  # type: ignore[misc]


def test_vae_takes_one_optimiser_for_both_networks():
    with pytest.raises(ConfigError, match="optimizer_g and optimizer_d to the same name"):
        make_config(load_recipe("vae"), optimizer_d="sgd")
    assert make_config(load_recipe("vae"), optimizer_g="sgd", optimizer_d="sgd").optimizer_g == "sgd"


def test_old_spellings_mean_the_same_run():
    """A recipe or --set written for the old fields (objective wgan-gp, gp_weight) gives today's config."""
    new = make_config(load_recipe("wgan-gp"), penalty_weight=5.0)
    old = make_config({**load_recipe("wgan-gp"), "objective": "wgan-gp", "penalty": "none"}, gp_weight="5")
    assert old == new and (old.objective, old.penalty, old.penalty_weight) == ("wasserstein", "gp", 5.0)
    # gp_weight never acted without a penalty: it is dropped, not turned into one
    assert make_config(load_recipe("dcgan"), gp_weight=3.0) == make_config(load_recipe("dcgan"))
    assert parse_overrides(["gp_weight=5"]) == {"gp_weight": 5.0}
