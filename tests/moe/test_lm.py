"""The MoE language model: aux loss in the loss, parameter counts, save/load, training through the loop."""

import pytest
import torch

from archlab.core.io import load_pretrained
from archlab.moe.lm import MoELM, MoELMConfig
from archlab.moe.recipes import moe_recipe


def tiny(**kw):
    return MoELMConfig(vocab_size=64, max_seq_len=16, d_model=32, n_layers=2, n_heads=4, n_kv_heads=2,
                       d_ff=64, n_experts=4, top_k=2, **kw)


def test_loss_is_cross_entropy_plus_aux_loss():
    torch.manual_seed(0)
    model = MoELM(tiny(z_loss_coef=1e-3))
    ids = torch.randint(0, 64, (2, 16))
    out = model(ids, labels=ids)
    assert out.logits.shape == (2, 16, 64)
    ce = torch.nn.functional.cross_entropy(out.logits.flatten(0, 1), ids.flatten())
    assert out.aux_loss.item() > 0
    assert torch.allclose(out.loss, ce + out.aux_loss, atol=1e-6)
    out.loss.backward()
    assert all(layer.router.weight.grad.abs().sum() > 0 for layer in model.moe_layers())


def test_parameter_counts_and_moe_placement():
    model = MoELM(tiny(moe_every=2))
    assert [type(b.feed_forward).__name__ for b in model.blocks] == ["SwiGLU", "MoEFeedForward"]
    per_expert = 3 * 32 * 64
    assert model.num_parameters() - model.num_parameters(active=True) == 2 * per_expert
    dense = MoELM(tiny(moe_every=0))
    assert all(type(b.feed_forward).__name__ == "SwiGLU" for b in dense.blocks)
    assert model.num_parameters() - dense.num_parameters() == 4 * per_expert - per_expert + 4 * 32


def test_save_and_load_round_trip(tmp_path):
    torch.manual_seed(0)
    model = MoELM(tiny()).eval()
    model.save_pretrained(tmp_path)
    loaded = load_pretrained(tmp_path).eval()
    ids = torch.randint(0, 64, (1, 8))
    assert torch.equal(model(ids).logits, loaded(ids).logits)


def test_bad_config_is_rejected():
    with pytest.raises(ValueError, match="top_k=5"):
        MoELMConfig(n_experts=4, top_k=5)
    with pytest.raises(ValueError, match="moe_every=-1"):
        MoELMConfig(moe_every=-1)


def test_recipe_builds_and_trains_one_step():
    from archlab.train.config import RunConfig, TrainConfig, OptimConfig
    from archlab.train.lm_task import TextDataConfig
    from archlab.train.loop import fit

    recipe = moe_recipe()
    base = recipe.default_config()
    config = RunConfig(model=MoELMConfig(vocab_size=256, max_seq_len=32, d_model=32, n_layers=2, n_heads=4,
                                         n_experts=4, top_k=2, moe_every=2),
                       data=TextDataConfig(max_bytes=200_000, context=32), optim=OptimConfig(lr=1e-3, warmup_steps=1),
                       train=TrainConfig(steps=3, batch_size=4, eval_every=0, eval_batches=1,
                                         checkpoint_every=0, progress=False, device="cpu"))
    assert isinstance(base.model, MoELMConfig)
    torch.manual_seed(0)
    result = fit(recipe.build_task(config), config)
    assert result.step == 3
