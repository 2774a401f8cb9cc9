"""Deterministic pieces of the vision claims: the grid-neighbour similarity of position tables, the digits
subsets, the nets whose depth is compared."""

import torch

from archlab.data.images import digits_dataset
from archlab.vision.data_hunger import digits_cnn, digits_vit, subset
from archlab.vision.depth import plain_net, residual_net
from archlab.vision.positions import grid_neighbours, grid_similarity


def test_grid_neighbours_of_a_3x3_grid():
    near = grid_neighbours(3, 3)
    assert near.sum(1).tolist() == [2, 3, 2, 3, 4, 3, 2, 3, 2]
    assert near[4, 1] and near[4, 3] and not near[4, 0] and not near[0, 0]


def test_a_table_built_from_grid_coordinates_shows_the_structure_and_a_random_one_does_not():
    rows, cols = 4, 4
    r, c = torch.meshgrid(torch.arange(rows), torch.arange(cols), indexing="ij")
    angle_r, angle_c = r.flatten().float() * 0.6, c.flatten().float() * 0.6
    smooth = torch.stack([angle_r.cos(), angle_r.sin(), angle_c.cos(), angle_c.sin()], dim=1)  # (16, 4)
    near, other, cos = grid_similarity(smooth, rows, cols)
    assert cos.shape == (16, 16) and near - other > 0.3
    torch.manual_seed(0)
    near, other, _ = grid_similarity(torch.randn(16, 256), rows, cols)
    assert abs(near - other) < 0.05


def test_subsets_are_seeded_and_keep_the_test_split():
    data = digits_dataset(seed=0)
    a, b = subset(data, 50, 1), subset(data, 50, 1)
    assert torch.equal(a.train_labels, b.train_labels) and a.train_images.shape[0] == 50
    assert not torch.equal(a.train_labels, subset(data, 50, 2).train_labels)
    assert torch.equal(a.test_labels, data.test_labels)


def test_the_compared_models():
    assert sum(p.numel() for p in digits_vit().parameters()) == 136_138
    assert sum(p.numel() for p in digits_cnn().parameters()) == 131_818  # within 30 % of the ViT
    for depth in (5, 11):
        convs = lambda m: sum(isinstance(x, torch.nn.Conv2d) and x.kernel_size == (3, 3) for x in m.modules())  # noqa: E731
        assert convs(plain_net(depth)) == convs(residual_net(depth)) == depth
