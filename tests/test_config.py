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
    assert set(variant_names()) == {"dcgan", "minimax", "wgan-gp", "lsgan", "hinge", "vae", "random"}
    for name in variant_names():
        cfg = make_config(load_recipe(name))
        assert cfg.variant == name and cfg.description


def test_variant_recipes_match_their_papers():
    dcgan = make_config(load_recipe("dcgan"))
    assert (dcgan.objective, dcgan.lr_g, dcgan.lr_d, dcgan.beta1, dcgan.beta2) == ("nonsaturating", 2e-4, 2e-4, 0.5, 0.999)
    wgan = make_config(load_recipe("wgan-gp"))
    assert (wgan.objective, wgan.lr_g, wgan.beta1, wgan.beta2, wgan.n_critic, wgan.gp_weight) == (
        "wgan-gp", 1e-4, 0.0, 0.9, 5, 10.0)
    assert wgan.d_norm != "batch"  # no BatchNorm in a gradient-penalty critic
    assert make_config(load_recipe("minimax")).objective == "minimax"
    assert make_config(load_recipe("vae")).family == "vae"
    assert make_config(load_recipe("random")).family == "random"


def test_overrides_parse_types():
    assert parse_overrides(["lr_d=5e-5", "n_critic=5", "latent_dist=uniform", "fast=false"]) == {
        "lr_d": 5e-5, "n_critic": 5, "latent_dist": "uniform", "fast": False}


@pytest.mark.parametrize("item,match", [
    ("lr_dd=1", "Did you mean 'lr_d'"),
    ("n_critic=five", "'n_critic' expects an integer"),
    ("lr_g=fast", "'lr_g' expects a number"),
    ("lr_g", "key=value"),
    ("fast=maybe", "true or false"),
])
def test_bad_overrides(item, match):
    with pytest.raises(ConfigError, match=match):
        parse_overrides([item])


@pytest.mark.parametrize("settings,match", [
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
])
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
