"""transformers' MambaModel and MambaForCausalLM converted to archlab give the same outputs (1e-4)."""

import pytest
import torch

transformers = pytest.importorskip("transformers")

from archlab.interop import from_transformers  # noqa: E402
from archlab.ssm.lm import MambaBackbone, MambaLM  # noqa: E402

CONFIGS = [
    dict(),
    dict(use_bias=True, use_conv_bias=False, tie_word_embeddings=False, expand=3, conv_kernel=3, time_step_rank=3),
]


def hf_config(**kw):
    return transformers.MambaConfig(vocab_size=50, hidden_size=32, state_size=8, num_hidden_layers=2, **kw)


@pytest.mark.parametrize("kw", CONFIGS)
def test_mamba_model_last_hidden_state(kw):
    torch.manual_seed(0)
    hf = transformers.MambaModel(hf_config(**kw)).eval()
    ours = from_transformers(hf)
    assert isinstance(ours, MambaBackbone)
    x = torch.randint(0, 50, (2, 13), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(ours(x).last_hidden_state, hf(x).last_hidden_state, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("kw", CONFIGS)
def test_mamba_for_causal_lm_logits_and_decoding(kw):
    torch.manual_seed(0)
    hf = transformers.MambaForCausalLM(hf_config(**kw)).eval()
    ours = from_transformers(hf)
    assert isinstance(ours, MambaLM) and ours.config.tie_embeddings == hf.config.tie_word_embeddings
    x = torch.randint(0, 50, (2, 13), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ref = hf(x).logits
        torch.testing.assert_close(ours(x).logits, ref, atol=1e-4, rtol=1e-4)
        state = ours.init_state(2)
        steps = torch.stack([ours.step(x[:, t], state)[0] for t in range(13)], dim=1)
    torch.testing.assert_close(steps, ref, atol=1e-4, rtol=1e-4)


def test_non_silu_activation_is_rejected():
    hf = transformers.MambaModel(hf_config(hidden_act="gelu"))
    with pytest.raises(ValueError, match="hidden_act='gelu' is not supported"):
        from_transformers(hf)
