"""The faster Inception (BatchNorm folded, channels_last) is torch-fidelity's network: same features to 1e-5
relative, same FID to 1e-3; and `ganbench fid A B` on two folders gives torch-fidelity's own number."""

import pytest
import torch

from ganbench.metrics import inception
from ganbench.metrics.features import FeatureSet

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def weights() -> inception.InceptionWeights:
    return inception.resolve_weights("")


def _images(n: int, h: int, w: int, seed: int) -> torch.Tensor:
    """Smooth random images (not pure noise: Inception features then vary like those of real pictures)."""
    g = torch.Generator().manual_seed(seed)
    low = torch.rand(n, 3, 6, 6, generator=g)
    up = torch.nn.functional.interpolate(low, size=(h, w), mode="bilinear", align_corners=False)
    return (up * 255 + torch.rand(n, 3, h, w, generator=g) * 40).clamp(0, 255).to(torch.uint8)


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max())


def test_fast_extractor_features_and_fid_equal_torch_fidelitys(weights):
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    from ganbench.metrics.functional import fid_from_statistics

    theirs = FeatureExtractorInceptionV3(
        inception.EXTRACTOR_NAME, [inception.FEATURE_LAYER], feature_extractor_weights_path=str(weights.path)
    ).eval()
    ours = inception.build_extractor(weights, CPU)
    assert ours is not theirs and not any(isinstance(m, torch.nn.BatchNorm2d) for m in ours.modules())
    assert next(m for m in ours.modules() if isinstance(m, torch.nn.Conv2d)).weight.is_contiguous(
        memory_format=torch.channels_last
    )
    a, b = _images(12, 64, 64, 0), _images(12, 64, 64, 1)
    with torch.inference_mode():
        fa, fb = ours(a)[0], ours(b)[0]
        ta, tb = theirs(a)[0], theirs(b)[0]
    assert fa.abs().max() > 0.5 and (fa[0] - fa[1]).abs().max() > 0.05  # real, image-dependent features
    assert _rel(fa, ta) < 1e-5 and _rel(fb, tb) < 1e-5
    assert _rel(fa, ta) > 0  # a different computation (folded BatchNorm), not the same module twice

    def fid(x, y):
        fx, fy = FeatureSet.from_features(x), FeatureSet.from_features(y)
        return fid_from_statistics(fx.mu, fx.sigma, fy.mu, fy.sigma)

    ours_fid, their_fid = fid(fa, fb), fid(ta, tb)
    assert ours_fid > 1 and ours_fid == pytest.approx(their_fid, rel=1e-3)


def test_fid_of_two_folders_is_torch_fidelitys_number(weights, tmp_path):
    """Files compared as they are (40x48 here: no square crop, no resize but Inception's own)."""
    import torch_fidelity
    from PIL import Image

    from ganbench.metrics.compare import compare

    for name, seed in (("a", 2), ("b", 3)):
        (tmp_path / name).mkdir()
        for i, img in enumerate(_images(12, 40, 48, seed)):
            Image.fromarray(img.permute(1, 2, 0).numpy()).save(tmp_path / name / f"{i:03d}.png")
    ours = compare(str(tmp_path / "a"), str(tmp_path / "b"), samples=12, device="cpu", batch_size=12)
    theirs = torch_fidelity.calculate_metrics(
        input1=str(tmp_path / "a"),
        input2=str(tmp_path / "b"),
        fid=True,
        feature_extractor_weights_path=str(weights.path),
        cuda=False,
        batch_size=12,
        verbose=False,
        cache=False,
    )
    assert ours["fid12"] > 1 and ours["fid12"] == pytest.approx(theirs[torch_fidelity.KEY_METRIC_FID], rel=1e-3)
    assert ours["a"]["protocol"]["sizes"] == [(40, 48, 12)] and "as they are" in ours["a"]["protocol"]["resize"]
    # the explicit option still crops and resizes, and says so: a different number
    resized = compare(str(tmp_path / "a"), str(tmp_path / "b"), samples=12, resolution=32, device="cpu", batch_size=12)
    assert resized["a"]["protocol"]["resolution"] == 32 and resized["fid12"] != pytest.approx(ours["fid12"], rel=1e-2)
