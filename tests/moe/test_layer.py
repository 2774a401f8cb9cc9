"""Routers, losses, capacity and grouped dispatch of the MoE layer against their formulas and references."""

import pytest
import torch

from archlab.moe.experts import SwiGLUExperts
from archlab.moe.layer import MoELayer, expert_capacity, within_capacity
from archlab.moe.losses import cv_squared, max_violation, router_z_loss, switch_load_balancing_loss
from archlab.moe.routers import BiasBalancedRouter, NoisyTopKRouter

ROUTER_SETUPS = [
    dict(router="topk", top_k=2, capacity_factor=None),
    dict(router="switch", top_k=1, capacity_factor=1.0),
    dict(router="noisy_topk", top_k=2, capacity_factor=1.25, balance_loss="shazeer"),
    dict(router="expert_choice", top_k=1, capacity_factor=1.0, balance_loss="none"),
    dict(router="bias_balanced", top_k=2, capacity_factor=None, balance_loss="none"),
]


def test_switch_loss_equals_alpha_under_uniform_router_probabilities():
    probs = torch.full((64, 8), 1 / 8)
    for expert_index in (torch.zeros(64, dtype=torch.long), torch.randint(0, 8, (128,))):
        loss = switch_load_balancing_loss(probs, expert_index, alpha=0.01)
        assert loss.item() == pytest.approx(0.01, abs=1e-9)
    collapsed = torch.zeros(64, 8)
    collapsed[:, 0] = 1.0
    assert switch_load_balancing_loss(collapsed, torch.zeros(64, dtype=torch.long), alpha=0.01).item() == pytest.approx(0.08)


def test_capacity_formula():
    assert expert_capacity(4096, 8, 1.25) == 640
    assert expert_capacity(4096, 8, 1.0, top_k=2) == 1024
    assert expert_capacity(10, 4, 1.0) == 3  # ceil(2.5)
    with pytest.raises(ValueError, match="capacity_factor"):
        expert_capacity(10, 4, 0.0)
    keep = within_capacity(torch.tensor([0, 1, 0, 0, 1, 0]), 2, capacity=2)
    assert keep.tolist() == [True, True, True, False, True, False]


def test_dropped_tokens_get_zero_output_and_pass_through_the_residual():
    torch.manual_seed(0)
    layer = MoELayer(d_model=8, d_expert=16, n_experts=4, top_k=1, router="switch", capacity_factor=1.0).eval()
    with torch.no_grad():
        layer.router.weight.zero_()
        layer.router.weight[2, 0] = 10.0  # every token with x_0 > 0 prefers expert 2
    x = torch.randn(16, 8).abs()  # all to expert 2; capacity ceil(16 / 4) = 4
    out = layer(x)
    assert out.router_stats.dropped_tokens.item() == 12
    assert out.router_stats.dropped_fraction.item() == pytest.approx(0.75)
    assert torch.equal(out.hidden[4:], torch.zeros(12, 8))  # dropped: nothing added, x + 0 on the residual
    assert out.hidden[:4].abs().min() > 0
    dropless = MoELayer(d_model=8, d_expert=16, n_experts=4, top_k=1, router="switch").eval()
    dropless.load_state_dict(layer.state_dict())
    assert torch.allclose(dropless(x).hidden[:4], out.hidden[:4], atol=1e-6)
    assert dropless(x).router_stats.dropped_tokens.item() == 0


def test_noisy_topk_load_estimator_matches_monte_carlo():
    torch.manual_seed(0)
    router = NoisyTopKRouter(d_model=16, n_experts=6, top_k=2).train()
    with torch.no_grad():
        router.weight.normal_(std=0.3)
        router.noise_weight.normal_(std=0.3)
    x = torch.randn(64, 16)
    clean = torch.nn.functional.linear(x, router.weight)
    std = router.noise_std(x)
    noisy = clean + torch.randn(clean.shape) * std
    estimate = router.load_probability(clean, noisy, std)  # (N, K)
    draws = 20000
    g = torch.Generator().manual_seed(1)
    frequency = torch.zeros_like(estimate)
    for i in range(6):  # redraw expert i's noise only, the others' noisy values fixed
        h = noisy[None].repeat(draws, 1, 1)  # (draws, N, K)
        h[:, :, i] = clean[:, i] + torch.randn(draws, 64, generator=g) * std[:, i]
        chosen = h.topk(2, dim=-1).indices  # (draws, N, 2)
        frequency[:, i] = (chosen == i).any(-1).float().mean(0)
    load, mc = estimate.sum(0), frequency.sum(0)  # (K,)
    assert torch.allclose(load, mc, rtol=0.02)
    assert (estimate - frequency).abs().max() < 0.02


def test_loss_free_bias_changes_selection_not_gates():
    torch.manual_seed(0)
    router = BiasBalancedRouter(d_model=8, n_experts=4, top_k=2, gamma=0.0).eval()
    x = torch.randn(32, 8)
    before = router(x)
    router.bias[:] = torch.tensor([5.0, 0.0, 0.0, -5.0])  # forces expert 0 in, expert 3 out
    after = router(x)
    assert (after.expert_index.view(2, 32) == 0).any(0).all() and not (after.expert_index == 3).any()
    scores = torch.sigmoid(after.logits)
    chosen = scores.gather(1, after.expert_index.view(2, 32).t())  # (N, 2) unbiased scores of the chosen
    assert torch.allclose(after.gate.view(2, 32).t(), chosen / chosen.sum(-1, keepdim=True))
    assert torch.equal(before.logits, after.logits)


def test_loss_free_bias_update_follows_load_sign():
    router = BiasBalancedRouter(d_model=4, n_experts=4, top_k=1, gamma=0.1)
    router.update_bias(torch.tensor([3.0, 1.0, 4.0, 0.0]))  # loads; mean 2
    assert torch.allclose(router.bias, torch.tensor([-0.1, 0.1, -0.1, 0.1]))


@pytest.mark.parametrize("setup", ROUTER_SETUPS, ids=[s["router"] for s in ROUTER_SETUPS])
def test_grouped_dispatch_equals_per_token_reference(setup):
    torch.manual_seed(0)
    layer = MoELayer(d_model=12, d_expert=20, n_experts=4, n_shared_experts=1, z_loss_coef=1e-3,
                     **{"balance_loss": "switch", **setup}).eval()
    x = torch.randn(3, 9, 12, requires_grad=True)
    fast, ref = layer(x), layer.forward_ref(x)
    assert fast.hidden.shape == x.shape
    assert torch.allclose(fast.hidden, ref.hidden, atol=1e-6)
    assert torch.equal(fast.aux_loss, ref.aux_loss)
    grads = torch.autograd.grad((fast.hidden.square().sum() + fast.aux_loss), [x, *layer.parameters()])
    grads_ref = torch.autograd.grad((ref.hidden.square().sum() + ref.aux_loss), [x, *layer.parameters()])
    for a, b in zip(grads, grads_ref):
        assert torch.allclose(a, b, atol=1e-5)


def test_grouped_experts_equal_their_reference_with_empty_experts():
    torch.manual_seed(0)
    experts = SwiGLUExperts(d_model=8, d_expert=16, n_experts=5)
    expert_index = torch.tensor([0, 0, 2, 2, 2, 4])  # experts 1 and 3 get nothing
    x = torch.randn(6, 8)
    out = experts(x, torch.bincount(expert_index, minlength=5))
    assert torch.allclose(out, experts.forward_ref(x, expert_index), atol=1e-6)
    assert torch.allclose(out[2], experts.expert(2, x[2]), atol=1e-6)


def test_inference_path_equals_the_grouped_autograd_path():
    torch.manual_seed(0)
    layer = MoELayer(d_model=8, d_expert=16, n_experts=5, top_k=2).eval()
    with torch.no_grad():
        layer.router.weight[3] -= 10.0  # expert 3 gets no tokens (the inputs are positive)
    x = torch.randn(2, 11, 8).abs()
    with_grad = layer(x)  # parameters require grad: the grouped path
    with torch.no_grad():
        inference = layer(x)  # the per-expert in-place path
    assert with_grad.router_stats.load[3] == 0
    assert torch.allclose(inference.hidden, with_grad.hidden, atol=1e-6)
    assert torch.allclose(inference.hidden, layer.forward_ref(x).hidden, atol=1e-6)


def test_router_stats_and_metric_formulas():
    assert cv_squared(torch.tensor([1.0, 1.0, 1.0])).item() == 0.0
    assert cv_squared(torch.tensor([2.0, 0.0])).item() == pytest.approx(1.0)
    assert max_violation(torch.tensor([3.0, 1.0, 2.0, 2.0])) == pytest.approx(0.5)
    assert router_z_loss(torch.zeros(5, 4)).item() == pytest.approx(torch.log(torch.tensor(4.0)).item() ** 2)
    layer = MoELayer(d_model=8, d_expert=8, n_experts=4, top_k=2)
    out = layer(torch.randn(10, 8))
    assert out.router_stats.load.sum().item() == 20
    assert 0 < out.router_stats.entropy.item() <= torch.log(torch.tensor(4.0)).item() + 1e-6


def test_bad_configuration_is_rejected():
    with pytest.raises(ValueError, match="router='nope'"):
        MoELayer(d_model=8, d_expert=8, n_experts=4, router="nope")
    with pytest.raises(ValueError, match="shazeer"):
        MoELayer(d_model=8, d_expert=8, n_experts=4, router="topk", balance_loss="shazeer")
    with pytest.raises(ValueError, match="top_k=5"):
        MoELayer(d_model=8, d_expert=8, n_experts=4, top_k=5)
    with pytest.raises(ValueError, match="d_model=8"):
        MoELayer(d_model=8, d_expert=8, n_experts=4)(torch.randn(2, 7))
