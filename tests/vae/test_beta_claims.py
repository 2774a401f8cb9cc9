"""The high-frequency measure behind ``vae.blur``: the variance of the discrete Laplacian."""

import torch

from archlab.vae.beta_claims import laplacian_energy


def test_laplacian_energy_is_zero_on_affine_images_and_known_on_a_checkerboard():
    rows, cols = torch.meshgrid(torch.arange(8.0), torch.arange(8.0), indexing="ij")
    ramp = (0.1 * rows + 0.05 * cols)[None, None]  # (1, 1, 8, 8): the Laplacian of an affine image is 0
    assert laplacian_energy(ramp).item() < 1e-12
    board = ((rows + cols) % 2)[None, None]  # Laplacian = -4 on ones, +4 on zeros: values +-4, variance 16 * 36/35
    assert torch.isclose(laplacian_energy(board), torch.tensor(16.0 * 36 / 35))


def test_blurring_lowers_laplacian_energy():
    images = torch.rand(16, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    kernel = torch.full((1, 1, 3, 3), 1 / 9)
    blurred = torch.nn.functional.conv2d(images, kernel, padding=1)
    assert laplacian_energy(blurred) < 0.2 * laplacian_energy(images)
