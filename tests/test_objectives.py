"""Objectives pinned by closed-form values and by the gradients that tell confusable objectives apart."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch.testing import assert_close

from ganbench import objectives
from ganbench.objectives import OBJECTIVES, Objective
from ganbench.registry import Registry


def t(*v):
    return torch.tensor(v[0] if len(v) == 1 else v, dtype=torch.float64)


def g_grad(name: str, logit: float) -> float:
    x = t(logit).requires_grad_(True)
    objectives.get(name).g_loss(x).backward()
    return x.grad.item()


def test_registry_has_the_eight_objectives():
    assert set(OBJECTIVES.names()) == {
        "minimax",
        "nonsaturating",
        "wgan-gp",
        "lsgan",
        "hinge",
        "wasserstein",
        "rpgan",
        "ragan",
    }


def test_nonsaturating_g_loss_closed_form():
    assert_close(objectives.get("nonsaturating").g_loss(t(1.0)), t(math.log1p(math.exp(-1))))  # softplus(-1)
    assert abs(objectives.get("nonsaturating").g_loss(t(1.0)).item() - 0.3133) < 1e-4


def test_minimax_g_loss_closed_form():
    assert_close(objectives.get("minimax").g_loss(t(1.0)), t(-math.log1p(math.exp(1))))  # -softplus(1)
    assert abs(objectives.get("minimax").g_loss(t(1.0)).item() + 1.3133) < 1e-4


def test_minimax_is_log_one_minus_d():
    logits = t(-3.0, -0.5, 0.0, 2.0)
    expected = torch.log(1 - torch.sigmoid(logits)).mean()
    assert_close(objectives.get("minimax").g_loss(logits), expected)


def test_g_gradient_at_confidently_rejected_fake_tells_minimax_from_nonsaturating():
    mm, ns = g_grad("minimax", -5.0), g_grad("nonsaturating", -5.0)
    assert abs(mm - (-0.0067)) < 1e-4 and abs(mm + torch.sigmoid(t(-5.0)).item()) < 1e-12  # saturates
    assert abs(ns - (-0.9933)) < 1e-4 and abs(ns - (torch.sigmoid(t(-5.0)).item() - 1)) < 1e-12
    assert abs(ns) > 100 * abs(mm)


def test_gan_d_loss_is_binary_cross_entropy_and_shared():
    real, fake = t(0.3, 2.0), t(-1.0, 0.5)
    bce = F.binary_cross_entropy_with_logits(real, torch.ones_like(real)) + F.binary_cross_entropy_with_logits(
        fake, torch.zeros_like(fake)
    )
    for name in ("minimax", "nonsaturating"):
        assert_close(objectives.get(name).d_loss(real, fake), bce)
    assert_close(objectives.get("minimax").d_loss(t(0.0), t(0.0)), t(2 * math.log(2)))


def test_hinge_values():
    obj = objectives.get("hinge")
    assert_close(obj.d_loss(t(0.5, 2.0), t(-0.2, -3.0)), t((0.5 + 0.0) / 2 + (0.8 + 0.0) / 2))
    assert_close(obj.g_loss(t(0.7, -0.1)), t(-0.3))


def test_lsgan_values_with_zero_one_targets():
    obj = objectives.get("lsgan")
    assert_close(obj.d_loss(t(0.5), t(0.2)), t(0.5 * 0.25 + 0.5 * 0.04))
    assert_close(obj.g_loss(t(0.2)), t(0.5 * 0.64))
    assert_close(obj.d_loss(t(1.0), t(0.0)), t(0.0))  # the optimum of the 0/1 convention


def test_wgan_losses():
    obj = objectives.get("wgan-gp")
    assert_close(obj.d_loss(t(3.0, 1.0), t(0.5, -0.5)), t(0.0 - 2.0))
    assert_close(obj.g_loss(t(0.5, -1.5)), t(0.5))


class Linear(torch.nn.Module):
    def __init__(self, w: torch.Tensor):
        super().__init__()
        self.w = w

    def forward(self, x):
        return (x.flatten(1) * self.w).sum(1)


def test_gradient_penalty_zero_for_exactly_1_lipschitz_linear_critic_and_positive_otherwise():
    torch.manual_seed(0)
    real, fake = torch.randn(16, 3, 4, 4, dtype=torch.float64), torch.randn(16, 3, 4, 4, dtype=torch.float64)
    w = torch.randn(48, dtype=torch.float64)
    gp = objectives.get("wgan-gp").penalty
    assert gp(Linear(w / w.norm()), real, fake).item() < 1e-20
    assert_close(gp(Linear(2 * w / w.norm()), real, fake), t(1.0))  # (2 - 1)^2
    assert gp(Linear(0.5 * w / w.norm()), real, fake).item() == pytest.approx(0.25)


def test_gradient_penalty_is_differentiable_wrt_critic():
    w = torch.randn(48, dtype=torch.float64, requires_grad=True)
    real, fake = torch.randn(4, 3, 4, 4, dtype=torch.float64), torch.randn(4, 3, 4, 4, dtype=torch.float64)
    objectives.get("wgan-gp").penalty(Linear(w), real, fake).backward()
    assert w.grad is not None and w.grad.abs().sum() > 0


def test_only_wgan_gp_has_a_penalty():
    assert [n for n, o in OBJECTIVES.items() if o.penalty is not None] == ["wgan-gp"]


def test_every_objective_documents_formula_and_paper():
    for name, obj in OBJECTIVES.items():
        module = (
            __import__(obj.d_loss.__module__, fromlist=["x"]) if name != "nonsaturating" else objectives.nonsaturating
        )
        assert obj.paper and obj.summary
        assert len(module.__doc__ or "") > 100, name


def test_unknown_objective_lists_valid_names_and_suggests():
    with pytest.raises(KeyError) as e:
        objectives.get("nonsaturatin")
    assert "Did you mean 'nonsaturating'" in str(e.value) and "wgan-gp" in str(e.value)


def test_registry_refuses_duplicates_and_wrong_types():
    r: Registry[int] = Registry("thing")
    r.register("a", 1)
    with pytest.raises(ValueError, match="twice"):
        r.register("a", 2)
    with pytest.raises(TypeError):
        objectives.register("not an objective")  # type: ignore[arg-type]
    assert isinstance(objectives.get("hinge"), Objective)
