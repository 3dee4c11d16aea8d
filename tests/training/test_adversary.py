"""The gradient reversal and schedule of domain-adversarial training."""

import pytest
import torch

from voxgender.training.adversary import adversary_scale, reverse_gradient


def test_reverse_gradient_keeps_the_values_and_reverses_the_scaled_gradient():
    x = torch.tensor([1.0, -2.0, 3.0], requires_grad=True)
    y = reverse_gradient(x, 0.25)
    (y * torch.tensor([1.0, 2.0, 4.0])).sum().backward()
    assert torch.equal(y.detach(), x.detach())
    torch.testing.assert_close(x.grad, torch.tensor([-0.25, -0.5, -1.0]))


def test_adversary_scale_rises_from_zero_to_its_weight():
    scales = [adversary_scale(0.8, p / 10) for p in range(11)]
    assert scales[0] == 0.0
    assert all(a < b for a, b in zip(scales, scales[1:]))
    assert scales[-1] == pytest.approx(0.8, abs=0.001)
    assert scales[1] == pytest.approx(0.8 * 0.462, abs=0.001)  # DANN's 2 / (1 + e^-1) - 1 at a tenth
