import torch
from torch import nn

from archlab.vision.equivariance import conv_shift_error, shift_image, token_shift_change
from archlab.vision.vit import ViT, ViTConfig


def test_shift_image_moves_content_right_and_down_with_zeros():
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    y = shift_image(x, 1)
    assert y[0, 0, 0].tolist() == [0, 0, 0, 0] and y[0, 0, :, 0].tolist() == [0, 0, 0, 0]
    assert torch.equal(y[0, 0, 1:, 1:], x[0, 0, :3, :3])


def test_conv_shift_error_is_zero_for_a_convolution_and_not_for_a_strided_one():
    torch.manual_seed(0)
    x = torch.zeros(2, 1, 12, 12)
    x[..., 3:9, 3:9] = torch.rand(2, 1, 6, 6)
    conv = nn.Conv2d(1, 4, 3, padding=1)
    assert conv_shift_error(conv, x, 1, margin=2) < 1e-6
    position_dependent = nn.Sequential(conv, nn.Flatten(), nn.Linear(4 * 144, 4 * 144), nn.Unflatten(1, (4, 12, 12)))
    assert conv_shift_error(position_dependent, x, 1, margin=2) > 1e-3


def test_a_whole_patch_shift_commutes_with_a_vit_without_positions():
    torch.manual_seed(0)
    vit = ViT(ViTConfig(image_size=16, patch_size=4, in_channels=1, d_model=16, n_layers=1, n_heads=2, d_ff=32,
                        num_classes=0, pooling="mean")).eval()
    with torch.no_grad():
        vit.pos_embed.zero_()
    x = torch.zeros(2, 1, 16, 16)
    x[..., 4:8, 4:8] = torch.rand(2, 1, 4, 4)
    assert token_shift_change(vit, x, 4) < 1e-5
    assert token_shift_change(vit, x, 1) > 0.1
