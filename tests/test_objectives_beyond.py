"""The objectives beyond the anchors (wasserstein, rpgan, ragan): closed forms, and the properties that tell each
apart from its neighbours (hinge and wgan-gp; nonsaturating; each other)."""

import math

import pytest
import torch
import torch.nn.functional as F
from tiny import tiny
from torch.testing import assert_close

from ganbench import objectives


def t(*v):
    return torch.tensor(v[0] if len(v) == 1 else v, dtype=torch.float64)


def sp(x: float) -> float:
    return math.log1p(math.exp(x))


# ---------------------------------------------------------------------------------------------------- wasserstein
def test_wasserstein_closed_form_and_same_losses_as_wgan_gp_without_its_penalty():
    w, gp = objectives.get("wasserstein"), objectives.get("wgan-gp")
    real, fake = t(3.0, 1.0), t(0.5, -0.5)
    assert_close(w.d_loss(real, fake), t(-2.0))  # mean fake 0 - mean real 2
    assert_close(w.g_loss(fake), t(0.0))
    assert_close(w.g_loss(t(0.5, -1.5)), t(0.5))
    assert_close(w.d_loss(real, fake), gp.d_loss(real, fake))
    assert_close(w.g_loss(fake), gp.g_loss(fake))
    assert w.penalty is None and gp.penalty is not None
    assert w.threshold is None


def test_wasserstein_d_gradient_never_saturates_unlike_hinge():
    def d_grad_real(name: str, logit: float) -> float:
        x = t([logit]).requires_grad_(True)
        objectives.get(name).d_loss(x, t([0.0])).backward()
        return x.grad.item()

    for logit in (-3.0, 0.0, 5.0, 50.0):
        assert d_grad_real("wasserstein", logit) == -1.0
    assert d_grad_real("hinge", 0.0) == -1.0 and d_grad_real("hinge", 5.0) == 0.0  # hinge stops at l >= 1


# ---------------------------------------------------------------------------------------------------- rpgan
def test_rpgan_closed_form_pair_by_pair():
    obj = objectives.get("rpgan")
    real, fake = t(2.0, 0.0), t(0.0, 1.0)
    assert_close(obj.d_loss(real, fake), t((sp(-2.0) + sp(1.0)) / 2))
    assert_close(obj.g_loss(fake, real), t((sp(2.0) + sp(-1.0)) / 2))
    assert_close(obj.d_loss(t(0.0), t(0.0)), t(math.log(2)))


def test_rpgan_depends_on_pairing_and_ragan_does_not():
    real, fake = t(2.0, -1.0, 0.5), t(0.0, 1.5, -2.0)
    swapped = fake[[1, 2, 0]]
    rp, ra = objectives.get("rpgan"), objectives.get("ragan")
    assert abs(rp.d_loss(real, fake).item() - rp.d_loss(real, swapped).item()) > 0.1
    assert abs(rp.g_loss(fake, real).item() - rp.g_loss(swapped, real).item()) > 0.1
    assert_close(ra.d_loss(real, fake), ra.d_loss(real, swapped))
    assert_close(ra.g_loss(fake, real), ra.g_loss(swapped, real))


def test_relativistic_losses_are_shift_invariant_and_nonsaturating_is_not():
    real, fake = t(2.0, -1.0, 0.5), t(0.0, 1.5, -2.0)
    for name in ("rpgan", "ragan"):
        obj = objectives.get(name)
        assert_close(obj.d_loss(real + 7.0, fake + 7.0), obj.d_loss(real, fake))
        assert_close(obj.g_loss(fake + 7.0, real + 7.0), obj.g_loss(fake, real))
        assert obj.needs_real_in_g and obj.threshold is None
    ns = objectives.get("nonsaturating")
    assert abs(ns.d_loss(real + 7.0, fake + 7.0).item() - ns.d_loss(real, fake).item()) > 1.0
    assert not ns.needs_real_in_g


def test_rpgan_refuses_unpaired_batches():
    with pytest.raises(ValueError, match="same batch size"):
        objectives.get("rpgan").d_loss(t(1.0, 2.0), t(0.0, 1.0, 2.0))


def test_rpgan_gradients_closed_form():
    real = t([1.0]).requires_grad_(True)
    fake = t([-2.0]).requires_grad_(True)
    objectives.get("rpgan").g_loss(fake, real).backward()
    s = torch.sigmoid(t(3.0)).item()  # sigmoid(l_real - l_fake)
    assert_close(fake.grad, t([-s]))  # G pushes its fake's output up ...
    assert_close(real.grad, t([s]))  # ... and the real's down: G's loss depends on real outputs
    # Non-saturating G at the same fake output has gradient sigmoid(-2) - 1, which does not see the real at all.
    x = t([-2.0]).requires_grad_(True)
    objectives.get("nonsaturating").g_loss(x).backward()
    assert abs(x.grad.item() - (-s)) > 0.05


# ---------------------------------------------------------------------------------------------------- ragan
def test_ragan_closed_form():
    obj = objectives.get("ragan")
    real, fake = t(2.0, 0.0), t(0.0, -2.0)  # mean real 1, mean fake -1
    d = (sp(-3.0) + sp(-1.0)) / 2 + (sp(-1.0) + sp(-3.0)) / 2  # softplus(-(r - mf)) and softplus(f - mr)
    assert_close(obj.d_loss(real, fake), t(d))
    g = (sp(1.0) + sp(3.0)) / 2 + (sp(3.0) + sp(1.0)) / 2  # softplus(-(f - mr)) and softplus(r - mf)
    assert_close(obj.g_loss(fake, real), t(g))
    bce = F.binary_cross_entropy_with_logits(
        real - fake.mean(), torch.ones(2, dtype=torch.float64)
    ) + F.binary_cross_entropy_with_logits(fake - real.mean(), torch.zeros(2, dtype=torch.float64))
    assert_close(obj.d_loss(real, fake), bce)


def test_ragan_g_gradient_reaches_every_fake_through_the_mean_unlike_rpgan():
    real = t(1.0, 3.0)
    f_ra = t(0.0, -1.0).requires_grad_(True)
    objectives.get("ragan").g_loss(f_ra, real).backward()
    # d/df_i: -sigmoid(mr - f_i)/2 from the first term, -(1/2) mean_j sigmoid(r_j - mf) from the second
    mr, mf = 2.0, -0.5
    second = -0.5 * (torch.sigmoid(t(1.0 - mf)) + torch.sigmoid(t(3.0 - mf))).item() / 2
    expected = t(-torch.sigmoid(t(mr - 0.0)).item() / 2 + second, -torch.sigmoid(t(mr + 1.0)).item() / 2 + second)
    assert_close(f_ra.grad, expected)
    f_rp = t(0.0, -1.0).requires_grad_(True)
    objectives.get("rpgan").g_loss(f_rp, real).backward()
    assert (f_rp.grad - f_ra.grad).abs().min() > 0.05


def test_generator_loss_passes_real_logits_only_where_needed():
    fake, real = t(0.3, -0.2), t(1.0, 2.0)
    ns, rp = objectives.get("nonsaturating"), objectives.get("rpgan")
    assert_close(ns.generator_loss(fake, real), ns.g_loss(fake))
    assert_close(ns.generator_loss(fake), ns.g_loss(fake))
    assert_close(rp.generator_loss(fake, real), rp.g_loss(fake, real))
    with pytest.raises(ValueError, match="relativistic"):
        rp.generator_loss(fake)


@pytest.mark.parametrize(
    "variant,precision", [("dcgan", "fp32"), ("dcgan", "bf16"), ("wgan-gp", "fp32"), ("rpgan", "fp32")]
)
def test_g_step_with_d_frozen_gives_g_the_same_gradient_and_leaves_d_alone(variant, precision):
    """The G step backpropagates through D with D's parameters frozen (no weight gradients computed for D): G's
    gradient is bit-identical to the one computed with D's parameters requiring gradients, D gets no gradient
    from the step, and D's parameters require gradients again afterwards (so D's own step still trains it)."""
    import copy

    from ganbench import objectives
    from ganbench.device import resolve
    from ganbench.families.gan import g_step
    from ganbench.train import build

    cfg = tiny(variant, precision=precision, fast=False)
    s = resolve(cfg, torch.device("cpu"))
    torch.manual_seed(0)
    nets = build(cfg, torch.device("cpu"), s)
    obj = objectives.get(cfg.objective)
    z, real = (
        torch.randn(8, cfg.latent_dim, generator=torch.Generator().manual_seed(1)),
        torch.rand(8, 3, 16, 16) * 2 - 1,
    )
    real = real if obj.needs_real_in_g else None
    ref = copy.deepcopy(nets)
    with s.autocast():  # the reference: D's parameters require gradients, as before the change
        real_logits = None
        if real is not None:
            with torch.no_grad():
                real_logits = ref["D"](real).float()
        ref_loss = obj.generator_loss(ref["D"](ref["G"](z)).float(), real_logits)
    ref_loss.backward()
    for p in nets["D"].parameters():
        p.grad = None
    out = g_step(cfg, nets, obj, z, real, s.autocast(), None)
    assert torch.equal(out["loss_g"], ref_loss.detach())
    for (name, p), q in zip(nets["G"].named_parameters(), ref["G"].parameters(), strict=True):
        assert torch.equal(p.grad, q.grad), name
    assert all(p.grad is None for p in nets["D"].parameters())  # nothing computed for D ...
    assert any(q.grad is not None and q.grad.abs().sum() > 0 for q in ref["D"].parameters())  # ... unlike before
    assert all(p.requires_grad for p in nets["D"].parameters())
