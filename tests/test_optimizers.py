"""Optimisers by name: the right torch class with the right settings, told apart by their first steps."""

import pytest
import torch
from torch.testing import assert_close

from ganbench.optimizers import OPTIMIZERS, check_optimizer, make_optimizer


def first_steps(name: str, steps: int = 1, **kw) -> torch.Tensor:
    """Steps on f(p) = <g, p> (constant gradient g) from p = 0; returns p."""
    p = torch.nn.Parameter(torch.zeros(3, dtype=torch.float64))
    g = torch.tensor([2.0, -0.5, 0.25], dtype=torch.float64)
    opt = make_optimizer([p], name, **kw)
    for _ in range(steps):
        opt.zero_grad()
        (p * g).sum().backward()
        opt.step()
    return p.detach()


def test_registry_and_classes():
    assert OPTIMIZERS.names() == ["adam", "rmsprop", "sgd"]
    p = [torch.nn.Parameter(torch.zeros(2))]
    adam = make_optimizer(p, "adam", 1e-3, betas=(0.0, 0.9))
    assert type(adam) is torch.optim.Adam and adam.defaults["betas"] == (0.0, 0.9) and adam.defaults["lr"] == 1e-3
    rms = make_optimizer(p, "rmsprop", 5e-5)
    assert type(rms) is torch.optim.RMSprop and rms.defaults["lr"] == 5e-5 and rms.defaults["momentum"] == 0.0
    sgd = make_optimizer(p, "sgd", 0.1, momentum=0.9)
    assert type(sgd) is torch.optim.SGD and sgd.defaults["momentum"] == 0.9


def test_first_steps_closed_forms_tell_the_optimisers_apart():
    g = torch.tensor([2.0, -0.5, 0.25], dtype=torch.float64)
    assert_close(first_steps("sgd", lr=0.1), -0.1 * g)  # p - lr g
    assert_close(first_steps("adam", lr=0.1), -0.1 * g.sign(), rtol=1e-6, atol=1e-9)  # bias-corrected: lr sign(g)
    # RMSprop (alpha 0.99): v = 0.01 g^2, step lr g / (sqrt(v) + eps) = 10 lr sign(g)
    assert_close(first_steps("rmsprop", lr=0.1), -1.0 * g.sign(), rtol=1e-6, atol=1e-6)
    # momentum: the second SGD step moves lr (1 + m) g
    assert_close(first_steps("sgd", steps=2, lr=0.1, momentum=0.5), -0.1 * g - 0.1 * 1.5 * g)


def test_validation_one_line_messages():
    with pytest.raises(KeyError, match="Did you mean 'rmsprop'"):
        make_optimizer([torch.nn.Parameter(torch.zeros(1))], "rmsprob", 1e-3)
    with pytest.raises(ValueError, match="opt_d: learning rate must be a positive number, got 0"):
        check_optimizer("adam", 0.0, what="opt_d")
    with pytest.raises(ValueError, match="betas"):
        check_optimizer("adam", 1e-3, betas=(0.5, 1.0))
    with pytest.raises(ValueError, match="momentum"):
        check_optimizer("sgd", 1e-3, momentum=-0.1)
    with pytest.raises(ValueError, match="positive"):
        check_optimizer("sgd", float("nan"))
    check_optimizer("rmsprop", 5e-5, betas=(0.0, 0.99), momentum=0.0)  # a valid setting passes
