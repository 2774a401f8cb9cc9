"""archlab vs transformers' Mixtral on tiny random configs: the sparse MoE block within 1e-5, the causal LM's
logits within 1e-4 (float32), over several expert counts, top-k and grouped-query ratios.

Weights are re-drawn at a larger scale than Mixtral's 0.02 initialiser so that outputs are O(1) and routing is
decisive: a wrong mapping (gate and up swapped, k and v swapped, a different renormalisation) shows as a large
difference."""

import pytest
import torch

transformers = pytest.importorskip("transformers")
transformers.logging.set_verbosity_error()

from transformers import MixtralConfig, MixtralForCausalLM  # noqa: E402
from transformers.models.mixtral.modeling_mixtral import MixtralSparseMoeBlock  # noqa: E402

from archlab.interop import from_transformers  # noqa: E402
from archlab.moe.interop import mixtral_lm_config  # noqa: E402
from archlab.moe.layer import MoELayer  # noqa: E402
from archlab.moe.lm import MoELM  # noqa: E402

BLOCK_TOL, LM_TOL = 1e-5, 1e-4
SHAPES = [  # (experts, top-k, heads, kv heads)
    (4, 2, 4, 2),
    (8, 2, 4, 1),
    (6, 3, 4, 4),
    (3, 1, 2, 1),
]


def randomise(model, seed=0, scale=0.3):
    """Every weight ~ N(0, scale^2); norm gains ~ 1 + N(0, 0.1^2); reproducible; tied weights stay tied."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=gen)
            p.copy_(1 + 0.1 * noise if "norm" in name else scale * noise)
    return model.eval()


def mixtral_config(n_experts, top_k, n_heads, n_kv_heads, **kw):
    return MixtralConfig(vocab_size=96, hidden_size=32, intermediate_size=40, num_hidden_layers=2,
                         num_attention_heads=n_heads, num_key_value_heads=n_kv_heads, num_local_experts=n_experts,
                         num_experts_per_tok=top_k, max_position_embeddings=64, **kw)


@pytest.mark.parametrize("shape", SHAPES, ids=[f"K{k}-top{t}-H{h}-kv{kv}" for k, t, h, kv in SHAPES])
@pytest.mark.parametrize("implementation", ["eager", "grouped_mm"])
def test_sparse_moe_block_matches(shape, implementation):
    config = mixtral_config(*shape, router_jitter_noise=0.1)  # jitter is training-only: off in eval
    config._experts_implementation = implementation
    torch.manual_seed(0)
    block = randomise(MixtralSparseMoeBlock(config))
    layer = from_transformers(block)
    assert isinstance(layer, MoELayer) and not layer.training
    x = torch.randn(3, 7, 32, generator=torch.Generator().manual_seed(1))  # (B, L, D)
    with torch.no_grad():
        theirs = block(x.clone())
        theirs = theirs[0] if isinstance(theirs, tuple) else theirs
        ours = layer(x)
    assert ours.hidden.shape == x.shape
    assert (ours.hidden - theirs).abs().max().item() < BLOCK_TOL
    assert theirs.abs().max() > 0.1  # a real signal, not two zeros
    assert ours.router_stats.load.sum().item() == 3 * 7 * shape[1]


@pytest.mark.parametrize("shape", SHAPES, ids=[f"K{k}-top{t}-H{h}-kv{kv}" for k, t, h, kv in SHAPES])
@pytest.mark.parametrize("tied", [False, True], ids=["untied", "tied"])
def test_causal_lm_logits_match(shape, tied):
    torch.manual_seed(0)
    model = randomise(MixtralForCausalLM(mixtral_config(*shape, tie_word_embeddings=tied)))
    ours = from_transformers(model)
    assert isinstance(ours, MoELM) and ours.config.tie_embeddings == tied
    assert ours.num_parameters() == sum(p.numel() for p in model.parameters())
    ids = torch.randint(0, 96, (2, 11), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        theirs, mine = model(ids).logits, ours(ids).logits
    assert (mine - theirs).abs().max().item() < LM_TOL
    assert theirs.std() > 0.5


def test_aux_loss_matches_mixtral_load_balancing_loss():
    torch.manual_seed(0)
    model = randomise(MixtralForCausalLM(mixtral_config(4, 2, 4, 2)), scale=0.05)
    ours = from_transformers(model)
    ids = torch.randint(0, 96, (2, 9), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        theirs = model(ids, output_router_logits=True)
        mine = ours(ids)
    # per layer equal; Mixtral pools f and P over layers before the product, archlab sums the layers' losses
    per_layer = [transformers.models.mixtral.modeling_mixtral.load_balancing_loss_func((logits,), 4, 2)
                 for logits in theirs.router_logits]
    assert mine.aux_loss.item() == pytest.approx(model.config.router_aux_loss_coef * sum(per_layer).item(), rel=1e-5)


def test_unsupported_configs_are_rejected():
    with pytest.raises(ValueError, match="sliding_window=16"):
        mixtral_lm_config(mixtral_config(4, 2, 4, 2, sliding_window=16))
    with pytest.raises(ValueError, match="hidden_act='gelu'"):
        mixtral_lm_config(mixtral_config(4, 2, 4, 2, hidden_act="gelu"))
