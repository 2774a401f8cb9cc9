"""scikit-learn digits: shapes, ranges, a stratified, seeded, complete split."""

from collections import Counter

import pytest
import torch

from archlab.data import ImageDataset, digits_dataset


@pytest.fixture(scope="module")
def digits():
    return digits_dataset(test_fraction=0.2, seed=0)


def test_shapes_dtypes_and_ranges(digits):
    assert digits.train_images.shape[1:] == digits.test_images.shape[1:] == (1, 8, 8)
    assert digits.image_shape == (1, 8, 8)
    assert digits.train_images.shape[0] + digits.test_images.shape[0] == 1797
    assert digits.train_images.dtype == torch.float32 and digits.train_labels.dtype == torch.long
    images = torch.cat([digits.train_images, digits.test_images])
    assert float(images.min()) == 0.0 and float(images.max()) == 1.0
    assert torch.equal(images * 16, (images * 16).round())  # pixel counts 0..16 divided by 16
    assert digits.num_classes == 10
    assert set(digits.train_labels.tolist()) == set(range(10)) == set(digits.test_labels.tolist())


def test_split_is_stratified(digits):
    train, test = Counter(digits.train_labels.tolist()), Counter(digits.test_labels.tolist())
    for c in range(10):
        assert test[c] == round(0.2 * (train[c] + test[c]))


def test_split_is_a_partition_of_the_digits(digits):
    from sklearn.datasets import load_digits

    reference = load_digits()
    expected = sorted(zip(map(tuple, reference.images.reshape(-1, 64).tolist()), reference.target.tolist()))
    images = torch.cat([digits.train_images, digits.test_images]).reshape(-1, 64) * 16  # (N, 1, 8, 8) -> (N, 64)
    labels = torch.cat([digits.train_labels, digits.test_labels])
    assert sorted(zip(map(tuple, images.tolist()), labels.tolist())) == expected


def test_seed_decides_the_split(digits):
    same = digits_dataset(test_fraction=0.2, seed=0)
    other = digits_dataset(test_fraction=0.2, seed=1)
    assert torch.equal(same.test_images, digits.test_images) and torch.equal(same.test_labels, digits.test_labels)
    assert torch.equal(other.test_labels.bincount(), digits.test_labels.bincount())  # same class counts ...
    assert not torch.equal(other.test_images, digits.test_images)  # ... different images


def test_bad_test_fraction_names_the_field():
    with pytest.raises(ValueError, match="test_fraction=1.0"):
        digits_dataset(test_fraction=1.0)


def test_image_dataset_checks_labels_match_images():
    images = torch.zeros(3, 1, 4, 4)
    with pytest.raises(ValueError, match="train_labels"):
        ImageDataset(images, torch.zeros(2, dtype=torch.long), images, torch.zeros(3, dtype=torch.long), 2)
    with pytest.raises(ValueError, match="num_classes=2"):
        ImageDataset(images, torch.full((3,), 2), images, torch.zeros(3, dtype=torch.long), 2)
