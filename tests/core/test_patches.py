import pytest
import torch

from archlab.core.patches import PatchEmbedding, patch_embedding_ref, patch_grid, patchify


@pytest.mark.parametrize("channels,patch,height,width", [(1, 2, 8, 8), (3, 4, 16, 12), (3, 16, 32, 48)])
def test_the_strided_convolution_equals_the_linear_map_on_flattened_patches(channels, patch, height, width):
    torch.manual_seed(0)
    embed = PatchEmbedding(in_channels=channels, d_model=24, patch_size=patch)
    images = torch.randn(2, channels, height, width)
    out = embed(images)
    assert out.shape == (2, (height // patch) * (width // patch), 24)
    ref = patch_embedding_ref(images, embed.proj.weight, embed.proj.bias, patch)
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)


def test_patchify_numbers_patches_row_major_and_flattens_channel_first():
    images = torch.arange(2 * 4 * 6, dtype=torch.float32).reshape(1, 2, 4, 6)  # C=2, H=4, W=6
    patches = patchify(images, 2)  # grid 2 x 3
    assert patches.shape == (1, 6, 8)
    # patch 4 is row 1, column 1: pixels rows 2-3, columns 2-3 of channel 0, then of channel 1
    expected = torch.cat([images[0, c, 2:4, 2:4].flatten() for c in range(2)])
    torch.testing.assert_close(patches[0, 4], expected)


def test_a_side_the_patch_does_not_divide_is_an_error():
    with pytest.raises(ValueError, match="height=10 must be divisible by patch_size=4"):
        patch_grid(10, 8, 4)
    embed = PatchEmbedding(in_channels=3, d_model=8, patch_size=4)
    with pytest.raises(ValueError, match="width=10"):
        embed(torch.zeros(1, 3, 8, 10))
    with pytest.raises(ValueError, match="images must be"):
        embed(torch.zeros(1, 1, 8, 8))
    with pytest.raises(ValueError, match="patch_size=0 must be >= 1"):
        PatchEmbedding(in_channels=3, d_model=8, patch_size=0)
