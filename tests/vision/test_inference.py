"""The ViT's CPU inference path (vision.inference) against the reference path: core.Block and plain F.linear."""

import pytest
import torch

from archlab.vision import ViT, ViTConfig
from archlab.vision.inference import block_inference, fused_linear, fused_linear_ref, onednn_applies

pytestmark = pytest.mark.skipif(not torch.backends.mkldnn.is_available(), reason="needs oneDNN")


def _vit(**overrides):
    torch.manual_seed(0)
    config = dict(image_size=16, patch_size=4, in_channels=3, d_model=32, n_layers=2, n_heads=4, d_ff=64,
                  num_classes=5)
    model = ViT(ViTConfig(**{**config, **overrides})).eval()
    with torch.no_grad():  # non-zero biases and norms, so that a dropped bias or a misplaced add shows
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return model


@pytest.mark.parametrize("gelu,residual", [(False, False), (True, False), (False, True)])
def test_fused_linear_equals_its_reference(gelu, residual):
    torch.manual_seed(0)
    layer = torch.nn.Linear(24, 40)
    x = torch.randn(3, 7, 24)
    res = torch.randn(3, 7, 40) if residual else None
    with torch.no_grad():
        got = fused_linear(x, layer, gelu=gelu, residual=res)
        want = fused_linear_ref(x, layer, gelu=gelu, residual=res)
    assert got.shape == (3, 7, 40)
    assert (got - want).abs().max() < 1e-5
    if gelu or residual:  # the post-op is applied, not skipped
        assert (got - layer(x)).abs().max() > 1e-2


def test_fused_linear_refuses_gelu_and_residual_together():
    layer = torch.nn.Linear(4, 4)
    with pytest.raises(ValueError, match="either gelu"):
        fused_linear(torch.randn(2, 4), layer, gelu=True, residual=torch.randn(2, 4))


@pytest.mark.parametrize("positions", ["learned", "rope2d"])
@pytest.mark.parametrize("qkv_bias", [True, False])
def test_block_inference_equals_the_core_block(positions, qkv_bias):
    model = _vit(positions=positions, qkv_bias=qkv_bias)
    z = torch.randn(2, 17, 32)
    coords = (torch.arange(4).repeat_interleave(4), torch.arange(4).repeat(4))
    with torch.no_grad():
        for block in model.blocks:
            want = block(z, coords=coords, n_prefix=1)
            got = block_inference(block, z, coords=coords, n_prefix=1)
            assert (got - want).abs().max() < 1e-5
            z = want


@pytest.mark.parametrize("pooling", ["cls", "mean"])
def test_vit_takes_the_fast_path_only_without_gradients_and_both_paths_agree(pooling, monkeypatch):
    model = _vit(pooling=pooling)
    x = torch.randn(2, 3, 16, 16)
    assert not onednn_applies(x, model)  # parameters want gradients and gradients are on
    with torch.no_grad():
        assert onednn_applies(x, model)
        fast = model(x)
    reference = model(x)  # gradients on: the core.Block path
    assert reference.requires_grad and not fast.requires_grad
    assert (fast - reference.detach()).abs().max() < 1e-5
    def refuse(*args, **kwargs):
        raise AssertionError("the inference path ran")

    monkeypatch.setattr("archlab.vision.vit.block_inference", refuse)
    with torch.no_grad():
        model.train()  # training mode never takes the inference path, even without gradients
        assert (model(x) - reference.detach()).abs().max() < 1e-5
        model.eval()
        with pytest.raises(AssertionError, match="inference path ran"):
            model(x)
