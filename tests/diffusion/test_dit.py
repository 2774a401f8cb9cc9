"""The DiT: shapes and conditioning paths, adaLN-Zero's identity at initialisation, and parity with diffusers'
``DiTTransformer2DModel`` across configs."""

import pytest
import torch

from archlab.core.patches import patchify
from archlab.diffusion.dit import DiT, DiTBlock, DiTConfig, unpatchify
from archlab.interop import from_diffusers

diffusers = pytest.importorskip("diffusers")


def test_unpatchify_inverts_the_patch_layout_a_dit_predicts():
    x = torch.randn(2, 3, 8, 8)
    p = 2
    tokens = patchify(x, p).reshape(2, 16, 3, p, p).permute(0, 1, 3, 4, 2).reshape(2, 16, p * p * 3)  # (C,P,P)->(P,P,C)
    torch.testing.assert_close(unpatchify(tokens, p, 3), x, rtol=0, atol=0)


def test_every_block_starts_as_the_identity_and_the_model_predicts_zero():
    torch.manual_seed(0)
    config = DiTConfig(in_channels=2, sample_size=8, patch_size=2, d_model=32, n_heads=4, n_layers=2, n_classes=3)
    block, model = DiTBlock(config), DiT(config)
    z, c = torch.randn(3, 16, 32), torch.randn(3, 32)
    torch.testing.assert_close(block(z, c), z, rtol=0, atol=0)
    assert torch.count_nonzero(model(torch.randn(3, 2, 8, 8), torch.tensor([1, 500, 999]), torch.tensor([0, 1, 3]))) == 0
    with torch.no_grad():
        block.modulation.bias.normal_()
    assert not torch.allclose(block(z, c), z)  # the identity comes from the zero gates, not from the block's form


def _perturbed(model: DiT) -> DiT:
    """Every zero-initialised weight filled, so the conditioning paths reach the output."""
    torch.manual_seed(1)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.05 * torch.randn_like(parameter))
    return model


def test_class_and_text_conditioning_reach_the_output_and_bad_conditions_are_named():
    classes = _perturbed(DiT(DiTConfig(sample_size=8, d_model=32, n_heads=2, n_layers=1, n_classes=4)))
    x, t = torch.randn(2, 1, 8, 8), torch.tensor([10, 10])
    assert not torch.allclose(classes(x, t, torch.tensor([0, 0])), classes(x, t, torch.tensor([1, 1])))
    torch.testing.assert_close(classes(x, t), classes(x, t, torch.tensor([4, 4])))  # None is the null class
    text = _perturbed(DiT(DiTConfig(sample_size=8, d_model=32, n_heads=2, n_layers=1, text_dim=6)))
    assert not torch.allclose(text(x, t, torch.zeros(2, 6)), text(x, t, torch.ones(2, 6)))
    with pytest.raises(ValueError, match="text_dim=6"):
        text(x, t, torch.zeros(2, 5))
    with pytest.raises(ValueError, match="sample_size=8"):
        classes(torch.randn(2, 1, 16, 16), t)
    with pytest.raises(ValueError, match="unconditional"):
        _perturbed(DiT(DiTConfig(sample_size=8, d_model=32, n_heads=2, n_layers=1)))(x, t, torch.tensor([0, 1]))


CONFIGS = [
    dict(num_attention_heads=2, attention_head_dim=8, in_channels=4, num_layers=2, sample_size=8, patch_size=2,
         num_embeds_ada_norm=10),
    dict(num_attention_heads=4, attention_head_dim=8, in_channels=1, out_channels=2, num_layers=1, sample_size=16,
         patch_size=4, num_embeds_ada_norm=3, activation_fn="gelu", norm_eps=1e-6),
    dict(num_attention_heads=1, attention_head_dim=16, in_channels=3, num_layers=3, sample_size=6, patch_size=3,
         num_embeds_ada_norm=1),
]


def _reference(**config):
    torch.manual_seed(0)
    reference = diffusers.DiTTransformer2DModel(**config).eval()
    with torch.no_grad():
        for parameter in reference.parameters():  # diffusers zero-initialises nothing here, but make it sure
            parameter.add_(0.02 * torch.randn_like(parameter))
        first = reference.transformer_blocks[0].norm1.emb
        for block in reference.transformer_blocks[1:]:  # one shared embedder, as DiT and its checkpoints have
            block.norm1.emb.load_state_dict(first.state_dict())
    return reference


@pytest.mark.parametrize("config", CONFIGS, ids=range(len(CONFIGS)))
def test_the_converted_dit_returns_the_reference_sample(config):
    reference = _reference(**config)
    model = from_diffusers(reference)
    side, n = config["sample_size"], 3
    x = torch.randn(n, config["in_channels"], side, side)
    t = torch.tensor([0, 371, 999])
    labels = torch.tensor([0, config["num_embeds_ada_norm"] - 1, config["num_embeds_ada_norm"]])  # last: the null class
    with torch.no_grad():
        expected = reference(x, timestep=t, class_labels=labels).sample
        got = model(x, t, labels)
    assert got.shape == expected.shape
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-4)


@pytest.mark.parametrize("option,value", [("attention_bias", False), ("norm_elementwise_affine", True),
                                          ("activation_fn", "geglu")])
def test_options_archlab_does_not_build_are_refused_by_name(option, value):
    config = dict(CONFIGS[0], **{option: value})
    with pytest.raises(ValueError, match=option):
        from_diffusers(diffusers.DiTTransformer2DModel(**config))


def test_a_reference_with_differing_block_embedders_is_refused():
    reference = _reference(**CONFIGS[0])
    with torch.no_grad():
        reference.transformer_blocks[1].norm1.emb.timestep_embedder.linear_1.bias.add_(1.0)
    with pytest.raises(ValueError, match="block 1"):
        from_diffusers(reference)
