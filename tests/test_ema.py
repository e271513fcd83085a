"""EMA of G: closed-form updates, the warm-up, buffers, and a state round trip."""

import pytest
import torch
from torch.testing import assert_close

from ganbench.ema import EMA


def net(value: float) -> torch.nn.Module:
    m = torch.nn.Sequential(torch.nn.Linear(2, 2, dtype=torch.float64), torch.nn.BatchNorm1d(2, dtype=torch.float64))
    set_to(m, value)
    return m


@torch.no_grad()
def set_to(m: torch.nn.Module, value: float) -> None:
    for p in m.parameters():
        p.fill_(value)


def w(m: torch.nn.Module) -> torch.Tensor:
    return m[0].weight[0, 0].detach().clone()


def test_first_update_copies_then_closed_form_without_rampup():
    G = net(0.0)
    ema = EMA(G, half_life_kimg=0.1, rampup=0.0)  # half-life 100 images
    set_to(G, 1.0)
    ema.update(G, 50)  # beta = 0.5 ** (50/100)
    b1 = 0.5**0.5
    assert_close(w(ema.G), torch.tensor(1 - b1, dtype=torch.float64))
    set_to(G, 3.0)
    ema.update(G, 250)  # beta = 0.5 ** (200/100) = 0.25
    assert_close(w(ema.G), torch.tensor(0.25 * (1 - b1) + 0.75 * 3.0, dtype=torch.float64))
    assert ema.nimg == 250 and not any(p.requires_grad for p in ema.G.parameters())


def test_half_life_means_images_shown_not_steps():
    # Constant G at 1 from an average at 0: after one half-life of images, half the gap is left, however the
    # images are split into G steps (n_critic and batch size change the split).
    for split in ([100], [50, 50], [10] * 10, [64, 36]):
        G = net(0.0)
        ema = EMA(G, half_life_kimg=0.1, rampup=0.0)
        set_to(G, 1.0)
        n = 0
        for k in split:
            n += k
            ema.update(G, n)
        assert_close(w(ema.G), torch.tensor(0.5, dtype=torch.float64))


def test_rampup_warm_up():
    G = net(0.0)
    ema = EMA(G, half_life_kimg=10.0, rampup=0.05)
    set_to(G, 2.0)
    assert ema.beta(64) == 0.0  # nothing shown before: the half-life is 0, the update copies G
    ema.update(G, 64)
    assert_close(w(ema.G), torch.tensor(2.0, dtype=torch.float64))
    # next: half-life = 0.05 * 64 = 3.2 images, step 64 images
    assert ema.beta(128) == pytest.approx(0.5 ** (64 / 3.2))
    ema.nimg = 100_000  # far along: the half-life is capped at 10 kimg (0.05 * 100k = 5 kimg is smaller)
    assert ema.beta(100_064) == pytest.approx(0.5 ** (64 / 5000))
    ema.nimg = 1_000_000  # 0.05 * 1M = 50 kimg > 10 kimg: the cap
    assert ema.beta(1_000_064) == pytest.approx(0.5 ** (64 / 10_000))
    with pytest.raises(ValueError, match="last one"):
        ema.beta(10)


def test_buffers_are_copied_not_averaged():
    G = net(0.5)
    ema = EMA(G, half_life_kimg=1.0, rampup=0.0)
    G.train()
    G(torch.randn(16, 2, dtype=torch.float64) * 3 + 5)  # moves BatchNorm's running stats
    ema.update(G, 10)
    assert_close(ema.G[1].running_mean, G[1].running_mean)
    assert_close(ema.G[1].running_var, G[1].running_var)
    assert ema.G[1].num_batches_tracked.item() == 1
    assert abs(w(ema.G).item() - 0.5) < 1e-12  # G's weights did not move, so the average did not either


def test_state_round_trip_and_mismatch():
    G = net(0.0)
    ema = EMA(G, half_life_kimg=0.2, rampup=0.05)
    for i, n in enumerate((64, 128, 192), start=1):
        set_to(G, float(i))
        ema.update(G, n)
    state = ema.state_dict()
    other = EMA(net(9.0), half_life_kimg=0.2, rampup=0.05)
    other.load_state_dict(state)
    assert other.nimg == 192
    for a, b in zip(other.G.state_dict().values(), ema.G.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    set_to(G, 7.0)  # both continue identically
    ema.update(G, 256)
    other.update(G, 256)
    assert torch.equal(w(ema.G), w(other.G))
    with pytest.raises(ValueError, match="same EMA settings"):
        EMA(net(0.0), half_life_kimg=0.5).load_state_dict(state)


def test_bad_settings():
    with pytest.raises(ValueError, match="positive"):
        EMA(net(0.0), half_life_kimg=0.0)
    with pytest.raises(ValueError, match="ramp-up"):
        EMA(net(0.0), rampup=-1.0)
