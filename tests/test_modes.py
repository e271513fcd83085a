"""Stacked MNIST: the data set's mode labels, the mode classifier's accuracy check, and the mode count (`modes`,
`mode_kl`) on generators whose modes are known. Tests on the real MNIST files skip cleanly without them."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ganbench.data import DataError, DataSpec, ImageSet, load_dataset
from ganbench.data.stacked_mnist import MODES, SIZES, mode_label, pad_digits, stack_indices
from ganbench.metrics import mode_classifier, modes, names
from ganbench.metrics.mode_classifier import ModeClassifier, ModeClassifierError, check_accuracy

LEVEL = 25  # the fake classifier's digit d is a channel of constant value d * LEVEL


class ValueClassifier(ModeClassifier):
    """Reads each channel's digit from its mean value (d * LEVEL): a classifier whose answers are known exactly."""

    def __init__(self):
        super().__init__(torch.nn.Identity(), {"weights_sha256": "fake"})

    def digits(self, images: torch.Tensor) -> torch.Tensor:
        return (images.float().mean((2, 3)) / LEVEL).round().long().clamp(0, 9)


def generator_of(mode_list: list[int], res: int = 32):
    """sample(b) cycling through the given modes in order: each image's channels hold its mode's three digits."""
    digits = torch.tensor([[m // 100, m // 10 % 10, m % 10] for m in mode_list], dtype=torch.float32)
    drawn = 0

    def sample(b: int) -> torch.Tensor:
        nonlocal drawn
        d = digits[(drawn + torch.arange(b)) % len(mode_list)]
        drawn += b
        return (d * LEVEL / 127.5 - 1)[:, :, None, None].expand(b, 3, res, res).clone()

    return sample


# ---------------------------------------------------------------------------------------------------- the labels
def test_mode_label_is_100_r_plus_10_g_plus_b():
    assert mode_label(np.array([[1, 2, 3], [0, 0, 0], [9, 9, 9], [0, 9, 0], [7, 0, 4]])).tolist() == [
        123,
        0,
        999,
        90,
        704,
    ]
    assert mode_label(np.zeros((2, 5, 3), dtype=int) + [3, 1, 4]).shape == (2, 5)


def test_stacking_is_seeded_and_prefix_stable():
    a, b = stack_indices("train", 54_000, 2500), stack_indices("train", 54_000, 1200)
    assert a.shape == (2500, 3) and np.array_equal(a[:1200], b) and 0 <= a.min() and a.max() < 54_000
    assert not np.array_equal(stack_indices("test", 54_000, 1200), b)  # each split its own draw


def test_metric_names_carry_the_count():
    m = names.parse("mode_kl26000_lo")
    assert (m.base, m.n, m.part) == ("mode_kl", 26000, "lo")
    assert names.parse("modes26000_ema").g == "ema" and names.of_ema("mode_kl26000") == "mode_kl26000_ema"
    assert names.better("modes26000") == "higher is better" and names.better("mode_kl26000") == "lower is better"
    assert names.name("modes", 26000, "hi") == "modes26000_hi"


# ---------------------------------------------------------------------------------------------------- the count
@pytest.mark.parametrize("k", [1, 10, 37, 1000])
def test_counts_and_kl_of_k_equally_used_modes(k):
    labels = np.repeat(np.arange(0, MODES, MODES // k)[:k], 26)
    out = modes.mode_metrics(labels)
    assert out[("modes", "")] == k
    torch.testing.assert_close(out[("mode_kl", "")], math.log(MODES / k), rtol=0, atol=1e-12)
    assert out[("modes", "lo")] <= k <= out[("modes", "hi")] <= MODES
    assert out[("mode_kl", "lo")] <= out[("mode_kl", "")] <= out[("mode_kl", "hi")]


def test_kl_is_to_the_uniform_histogram_and_the_interval_shrinks_with_n():
    rng = np.random.default_rng(0)
    small, large = rng.integers(0, MODES, 2_000), rng.integers(0, MODES, 26_000)
    a, b = modes.mode_metrics(small), modes.mode_metrics(large)
    # a uniform model: KL is finite-sample noise only, about (K - 1) / 2N; fewer images, fewer modes seen
    assert abs(b[("mode_kl", "")] - 999 / 52_000) < 0.002 and 0.2 < a[("mode_kl", "")] < 0.4  # (K-1)/2N fails at 2/bin
    assert b[("modes", "")] == 1000 and 840 < a[("modes", "")] < 890  # 1000 (1 - e^-2) = 865
    width = {n: v[("mode_kl", "hi")] - v[("mode_kl", "lo")] for n, v in ((2_000, a), (26_000, b))}
    assert width[26_000] < width[2_000]


def test_the_evaluator_counts_exactly_k_modes_of_a_generator_that_emits_k():
    k_modes = [5, 17, 123, 480, 999, 0, 350]
    ev = modes.ModeEvaluator(None, ValueClassifier(), n_modes=700, batch_size=64, protocol={})
    out = ev(generator_of(k_modes))
    assert out["modes700"] == len(k_modes)
    torch.testing.assert_close(out["mode_kl700"], math.log(MODES / len(k_modes)), rtol=0, atol=1e-12)
    assert set(out) == set(ev.names) and ev.names[0] == "modes700"
    nan = ev(lambda b: torch.full((b, 3, 32, 32), float("nan")))
    assert all(math.isnan(v) for v in nan.values())


def test_other_resolutions_are_resized_to_the_classifier_s_32x32():
    ev = modes.ModeEvaluator(None, ValueClassifier(), n_modes=60, batch_size=25, protocol={})
    assert ev(generator_of([111, 222, 333], res=16))["modes60"] == 3


def test_the_inception_metrics_see_exactly_the_first_images_in_the_same_batches():
    class Inner:
        n_samples, names, protocol = 50, ["kid50"], {"metrics": ["kid50"]}

        def __call__(self, sample, n=None, also=()):
            self.calls = (n, also)
            self.seen = torch.cat([sample(b) for b in (20, 20, 10)])
            return {"kid50": 0.5}

    seen_batches = []
    base = generator_of(list(range(0, 1000, 7)))

    def sample(b):
        seen_batches.append(b)
        return base(b)

    inner = Inner()
    ev = modes.ModeEvaluator(inner, ValueClassifier(), n_modes=300, batch_size=20, protocol={})
    out = ev(sample, n=50, also=(30,))
    assert ev.names[0] == "kid50" and list(out)[0] == "kid50" and out["modes300"] == len(range(0, 1000, 7))
    assert inner.calls == (50, (30,)) and set(seen_batches) == {20}  # the Inception evaluator's own batch size
    torch.testing.assert_close(inner.seen, generator_of(list(range(0, 1000, 7)))(50))


def test_modes_are_refused_on_another_data_set():
    with pytest.raises(ValueError, match="use --dataset stacked-mnist"):
        modes.build(ImageSet(torch.zeros(10, 3, 8, 8, dtype=torch.uint8), {"dataset": "synthetic"}), None, 100)


# ---------------------------------------------------------------------------------------------------- the classifier
def test_the_accuracy_check_is_two_sided():
    check_accuracy(0.99, "x")
    check_accuracy(0.9931, "x")
    for bad in (0.9899, 0.5, float("nan")):
        with pytest.raises(ModeClassifierError, match="below the 99%"):
            check_accuracy(bad, "x")


def test_an_undertrained_classifier_is_refused_and_not_cached(mnist_root, tmp_path, monkeypatch):
    monkeypatch.setenv("GANBENCH_CACHE", str(tmp_path))
    monkeypatch.setattr(mode_classifier, "train_classifier", lambda x, y: mode_classifier.network().eval())
    with pytest.raises(ModeClassifierError, match="on MNIST test"):
        mode_classifier.classifier(mnist_root, progress=False)
    assert not list((tmp_path / "mode_classifier").glob("*.pt"))


# ---------------------------------------------------------------------------------------------------- real MNIST
def test_stacked_mnist_images_and_labels_are_the_stacked_digits(mnist_root, tmp_path, monkeypatch):
    import torchvision

    monkeypatch.setenv("GANBENCH_CACHE", str(tmp_path))
    test = load_dataset(DataSpec("stacked-mnist", str(mnist_root), 32, split="test", max_images=3000))
    mnist = torchvision.datasets.MNIST(str(mnist_root), train=False, download=False)
    index = stack_indices("test", 10_000, 3000)
    padded = pad_digits(mnist.data.numpy())
    assert test.images.shape == (3000, 3, 32, 32) and test.images.dtype == torch.uint8
    assert np.array_equal(test.images.numpy(), padded[index])
    labels = mnist.targets.numpy()[index]
    assert np.array_equal(test.labels.numpy(), 100 * labels[:, 0] + 10 * labels[:, 1] + labels[:, 2])
    assert test.protocol["stack_seed"] == 2017 and "zero-padded by 2 px" in test.protocol["resize"]
    assert len(np.unique(test.labels)) > 940  # 3,000 draws of 1,000 modes: about 950 seen
    val = load_dataset(DataSpec("stacked-mnist", str(mnist_root), 32, split="val"))
    assert len(val) == SIZES["val"] and val.protocol["digits"] == {"val": 5996}
    assert load_dataset(
        DataSpec("stacked-mnist", str(mnist_root), 32, split="heldout", max_images=10)
    ).labels.tolist() == (test.labels[:10].tolist())
    with pytest.raises(DataError, match="3 channels"):
        load_dataset(DataSpec("stacked-mnist", str(mnist_root), 32, channels=1))


@pytest.fixture(scope="module")
def trained(mnist_root):
    """The real classifier, trained once in the session's cache (a few CPU minutes; reused when that cache already
    holds it), and the same classifier loaded back from the cache."""
    model = mode_classifier.classifier(mnist_root, progress=False)
    again = mode_classifier.classifier(mnist_root, progress=False)
    return model, again


@pytest.mark.slow
def test_the_trained_classifier_reaches_99_percent_and_is_cached_by_content(trained):
    model, again = trained
    info = model.info
    assert info["test_accuracy"] >= 0.99 and info["recipe"] == mode_classifier.RECIPE
    assert again.info["weights_sha256"] == info["weights_sha256"] == mode_classifier.weights_sha256(again.net)
    assert len(info["train_data_sha256"]) == 64 and info["train_data_sha256"] != info["test_data_sha256"]


@pytest.mark.slow
def test_a_generator_of_k_real_stacked_modes_counts_k(trained, mnist_root, tmp_path, monkeypatch):
    """Real digits the classifier reads correctly, stacked into exactly k modes: the count is k, not about k."""
    model, _ = trained
    x, y = mode_classifier.mnist_official(mnist_root, train=False)
    right = (model.digits(x[:, None])[:, 0] == y).numpy()
    by_digit = {d: x[(y.numpy() == d) & right][:40] for d in range(10)}
    k_modes = [7, 42, 123, 555, 901, 999, 310, 68]
    rng = np.random.default_rng(0)
    images = []
    for i in range(800):
        m = k_modes[i % len(k_modes)]
        images.append(torch.stack([by_digit[d][rng.integers(0, 40)] for d in (m // 100, m // 10 % 10, m % 10)]))
    stacked = torch.stack(images)
    pos = 0

    def sample(b):
        nonlocal pos
        pos += b
        return stacked[pos - b : pos].float() / 127.5 - 1

    out = modes.ModeEvaluator(None, model, n_modes=800, batch_size=100, protocol={})(sample)
    assert out["modes800"] == len(k_modes)
    torch.testing.assert_close(out["mode_kl800"], math.log(MODES / len(k_modes)), rtol=0, atol=1e-12)
    # and on real Stacked MNIST test images the classifier reads nearly every mode right
    monkeypatch.setenv("GANBENCH_CACHE", str(tmp_path))
    real = load_dataset(DataSpec("stacked-mnist", str(mnist_root), 32, split="test", max_images=2000))
    line = modes.real_line(real, model, 2000)
    assert line["mode_accuracy"] > 0.96 and line["images"] == 2000


@pytest.mark.slow
def test_a_stacked_mnist_run_records_modes_beside_kid_on_the_same_images(mnist_root, tmp_path, monkeypatch):
    """End to end through `ganbench run`: the curve points and the final evaluation carry modes<N> and mode_kl<N>,
    the protocol the classifier's record and the real line (the classifier is the fake one: no training here)."""
    from typer.testing import CliRunner

    from ganbench.commands import app
    from ganbench.io import read_json, read_jsonl

    monkeypatch.setenv("GANBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(modes, "classifier", lambda root: ValueClassifier())
    monkeypatch.setattr(modes, "MODE_SAMPLES", 120)
    args = ["run", "--variants", "dcgan", "--dataset", "stacked-mnist", "--data", str(mnist_root)]
    args += ["--resolution", "16", "--max-images", "256", "--budget", "128img", "--tick", "0.064", "--device", "cpu"]
    args += ["--eval-samples", "20", "--eval-every", "0.064", "--metrics", "kid,modes", "--out", str(tmp_path / "r")]
    args += ["--set", "g_width=8", "--set", "d_width=8", "--set", "batch_size=16", "--set", "eval_split=test"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    run = tmp_path / "r" / "dcgan" / "seed0"
    summary = read_json(run / "summary.json")
    evals = [r for r in read_jsonl(run / "metrics.jsonl") if r["kind"] == "eval"]
    assert len(evals) == 2 and all("modes120" in r and "mode_kl120" in r and "kid20" in r for r in evals)
    assert 1 <= evals[-1]["modes120"] <= 120 and evals[-1]["modes120_lo"] <= evals[-1]["modes120"]
    protocol = summary["metric_protocol"]
    assert protocol["metrics"][-6:] == [
        "modes120",
        "modes120_lo",
        "modes120_hi",
        "mode_kl120",
        "mode_kl120_lo",
        "mode_kl120_hi",
    ]
    assert protocol["modes"]["classifier"] == {"weights_sha256": "fake"}
    assert protocol["modes"]["real"]["split"] == "test" and protocol["modes"]["real"]["images"] == 120
    assert protocol["reference"]["dataset"] == "stacked-mnist" and len(protocol["reference_sha256"]) == 64


def test_the_stacked_mnist_study_draft_plans_every_arm_within_its_stated_cost(tmp_path):
    """The draft study: the CelebA study's objectives and the R3GAN cross, 5 seeds each, the two lenses on the same
    runs, every arm its recipe, and the plan its comments quote (0.5 h + 8.3 h of trial time)."""
    from pathlib import Path

    from ganbench.study import cost, load_study
    from ganbench.study import stages as S

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "studies" / "stacked_mnist.toml"
    study = load_study(path, {"data": str(tmp_path)})
    cross = {"ns-none", "r1", "ns-r1r2", "rpgan-none", "rpgan-r1", "rpgan"}
    assert {"dcgan", "minimax", "wgan-gp", "lsgan", "hinge", "vae"} | cross == set(study.variants)
    assert study.baselines == ("random", "real") and len(study.final.seeds) >= 5
    assert "modes" in study.settings["metrics"] and "kid" in study.settings["metrics"]
    assert (study.stages[0].split, study.final.split) == ("val", "test")
    candidates = S.candidates(study)
    assert all([c.params for c in cs] == [{}] for cs in candidates.values())  # every arm is its recipe
    first = S.KINDS[study.stages[0].kind].plan(S.Context(study, 0, tmp_path / "out", candidates, []))
    est = cost.estimate(study, [first], {v: len(c) for v, c in candidates.items()}, {}, {})
    assert tuple(round(s["seconds"] / 3600, 1) for s in est["stages"]) == (0.5, 8.3)
