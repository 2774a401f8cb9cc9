"""Parameter groups, the warmup + cosine schedule and gradient clipping."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from archlab.train.config import OptimConfig
from archlab.train.optim import build_optimizer, clip_gradients, lr_factor, param_groups
from archlab.transformer.lm import DecoderLM, gpt2_config, llama_config
from train_toys import ToyModel


def _names(module: nn.Module, group: dict) -> set[str]:
    ids = {id(p) for p in group["params"]}
    return {name for name, p in module.named_parameters() if id(p) in ids}


def test_param_groups_decay_only_matrices():
    model = ToyModel()
    decay, no_decay = param_groups(model, weight_decay=0.1)
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    assert _names(model, decay) == {"hidden.weight", "head.weight"}
    assert _names(model, no_decay) == {"embed.weight", "norm.weight", "norm.bias", "hidden.bias", "head.bias"}


@pytest.mark.parametrize("preset", [gpt2_config, llama_config])
def test_param_groups_of_the_lm(preset):
    model = DecoderLM(preset(d_model=32, n_layers=2, n_heads=4, max_seq_len=16))
    decay, no_decay = param_groups(model, weight_decay=0.1)
    decayed, kept = _names(model, decay), _names(model, no_decay)
    assert not decayed & kept
    assert all(model.get_parameter(n).dim() == 2 for n in decayed)
    assert "tok_emb.weight" in kept  # the (tied, for GPT-2) token embedding is never decayed
    assert all("norm" not in n and not n.endswith("bias") for n in decayed)
    if preset is gpt2_config:
        assert "pos_emb.weight" in kept
    # every parameter tensor lands in exactly one group, tied ones once
    assert sum(len(g["params"]) for g in (decay, no_decay)) == len(list(model.parameters()))


def test_optimizer_uses_the_config():
    opt = build_optimizer(ToyModel(), OptimConfig(lr=2e-3, betas=(0.8, 0.9), eps=1e-6, weight_decay=0.05))
    assert isinstance(opt, torch.optim.AdamW)
    assert [g["weight_decay"] for g in opt.param_groups] == [0.05, 0.0]
    assert all(g["lr"] == 2e-3 and g["betas"] == (0.8, 0.9) and g["eps"] == 1e-6 for g in opt.param_groups)


def test_schedule_warmup_then_cosine_to_min():
    kw = dict(total_steps=110, warmup_steps=10, min_lr_ratio=0.1)
    assert lr_factor(0, **kw) == pytest.approx(0.1)  # (0 + 1) / 10
    assert lr_factor(4, **kw) == pytest.approx(0.5)
    assert lr_factor(9, **kw) == pytest.approx(1.0)  # warmup ends at the peak
    assert lr_factor(10, **kw) == pytest.approx(1.0)  # cosine starts at the peak
    assert lr_factor(59.5, **kw) == pytest.approx(0.55)  # halfway: (1 + min) / 2
    assert lr_factor(109, **kw) == pytest.approx(0.1)  # the last step uses min_lr_ratio * lr
    quarter = 10 + 99 / 4
    assert lr_factor(quarter, **kw) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi / 4)))
    factors = [lr_factor(s, **kw) for s in range(10, 110)]
    assert all(a >= b for a, b in zip(factors, factors[1:]))  # monotone decay after warmup


def test_schedule_without_warmup_and_single_step():
    assert lr_factor(0, total_steps=5, warmup_steps=0, min_lr_ratio=0.0) == pytest.approx(1.0)
    assert lr_factor(4, total_steps=5, warmup_steps=0, min_lr_ratio=0.0) == pytest.approx(0.0)
    assert lr_factor(0, total_steps=1, warmup_steps=0, min_lr_ratio=0.3) == pytest.approx(0.3)


def test_clipping_scales_to_max_norm_and_reports_the_norm_before():
    a, b = nn.Parameter(torch.zeros(3)), nn.Parameter(torch.zeros(4))
    a.grad, b.grad = torch.tensor([3.0, 0.0, 0.0]), torch.tensor([0.0, 4.0, 0.0, 0.0])  # global norm 5
    assert clip_gradients([a, b], max_norm=1.0) == pytest.approx(5.0)
    total = torch.linalg.vector_norm(torch.cat([a.grad, b.grad]))
    assert float(total) == pytest.approx(1.0, rel=1e-5)
    assert torch.allclose(a.grad, torch.tensor([0.6, 0.0, 0.0]), atol=1e-6)
    # below the threshold, or with clipping off, gradients are untouched
    assert clip_gradients([a, b], max_norm=10.0) == pytest.approx(1.0, rel=1e-5)
    a.grad = torch.tensor([30.0, 0.0, 0.0])
    assert clip_gradients([a], max_norm=0.0) == pytest.approx(30.0)
    assert a.grad[0] == 30.0
