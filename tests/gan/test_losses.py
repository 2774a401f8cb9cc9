"""The adversarial losses at known logits, the saturating gradient, and the gradient penalty of known critics."""

import math

import pytest
import torch

from archlab.gan.losses import discriminator_loss, generator_loss, gradient_penalty


def test_discriminator_losses_at_known_logits():
    real, fake = torch.tensor([2.0, 0.0]), torch.tensor([-1.0, 3.0])
    sig = torch.sigmoid
    expected = -(sig(real).log().mean() + (1 - sig(fake)).log().mean())
    for kind in ("minimax", "non-saturating"):
        torch.testing.assert_close(discriminator_loss(kind, real, fake), expected)
    assert discriminator_loss("hinge", real, fake).item() == pytest.approx((0 + 1) / 2 + (0 + 4) / 2)
    assert discriminator_loss("wgan-gp", real, fake).item() == pytest.approx(1.0 - 1.0)


def test_generator_losses_at_known_logits():
    fake = torch.tensor([-1.0, 3.0])
    d = torch.sigmoid(fake)
    torch.testing.assert_close(generator_loss("minimax", fake), (1 - d).log().mean())
    torch.testing.assert_close(generator_loss("non-saturating", fake), -d.log().mean())
    assert generator_loss("hinge", fake).item() == generator_loss("wgan-gp", fake).item() == pytest.approx(-1.0)
    with pytest.raises(ValueError, match="loss='ls'"):
        generator_loss("ls", fake)


def test_minimax_gradient_vanishes_where_d_rejects_the_fakes():
    logits = torch.tensor([-8.0], requires_grad=True)  # D(G(z)) = sigmoid(-8) ~ 3e-4
    (minimax,) = torch.autograd.grad(generator_loss("minimax", logits), logits)
    (non_saturating,) = torch.autograd.grad(generator_loss("non-saturating", logits), logits)
    # d/dl log(1 - sigmoid(l)) = -sigmoid(l); d/dl -log sigmoid(l) = -(1 - sigmoid(l))
    assert minimax.item() == pytest.approx(-torch.sigmoid(torch.tensor(-8.0)).item())
    assert non_saturating.item() == pytest.approx(-(1 - torch.sigmoid(torch.tensor(-8.0))).item())
    assert abs(non_saturating.item()) > 1000 * abs(minimax.item())


def test_gradient_penalty_of_a_linear_critic_is_its_norm_minus_one_squared():
    w = torch.tensor([3.0, 4.0], requires_grad=True)  # ||grad|| = 5 everywhere
    critic = lambda x: x @ w  # noqa: E731
    g = torch.Generator().manual_seed(0)
    real, fake, mix = torch.randn(6, 2, generator=g), torch.randn(6, 2, generator=g), torch.rand(6, generator=g)
    penalty = gradient_penalty(critic, real, fake, mix)
    assert penalty.item() == pytest.approx((5 - 1) ** 2)
    penalty.backward()  # d/dw (||w|| - 1)^2 = 2 (||w|| - 1) w / ||w||
    torch.testing.assert_close(w.grad, 2 * 4 * torch.tensor([3.0, 4.0]) / 5)


def test_gradient_penalty_is_taken_at_the_interpolates():
    critic = lambda x: 0.5 * x.pow(2).sum(-1)  # noqa: E731  grad = x_hat, so the norm is |x_hat|
    real, fake = torch.tensor([[2.0, 0.0]]), torch.tensor([[0.0, 0.0]])
    assert gradient_penalty(critic, real, fake, torch.tensor([0.25])).item() == pytest.approx((0.5 - 1) ** 2)
    assert gradient_penalty(critic, real, fake, torch.tensor([1.0])).item() == pytest.approx((2 - 1) ** 2)


def test_gradient_penalty_of_a_packed_critic_takes_the_norm_over_the_pack():
    w = torch.tensor([1.0, 0.0, 0.0, 1.0])  # the critic sees a pack of two 2-D points
    critic = lambda x: x.reshape(-1, 4) @ w  # noqa: E731
    penalty = gradient_penalty(critic, torch.ones(4, 2), torch.zeros(4, 2), torch.full((4,), 0.5))
    assert penalty.item() == pytest.approx((math.sqrt(2) - 1) ** 2)
