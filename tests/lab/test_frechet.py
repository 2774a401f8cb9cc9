"""The Fréchet distance against closed forms, and the digit-Fréchet self-tests: real test digits against the
training digits score near 0, noise far, blurred digits in between."""

import pytest
import torch
import torch.nn.functional as F

from archlab.data.images import digits_dataset
from archlab.lab.frechet import digit_features, digit_frechet, frechet_distance, resize_digits


def test_the_distance_matches_closed_forms():
    torch.manual_seed(0)
    a = torch.randn(4000, 3)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-9)
    shift = torch.tensor([1.0, -2.0, 0.5])
    assert frechet_distance(a, a + shift) == pytest.approx(float(shift.pow(2).sum()), rel=1e-9)
    # Diagonal covariances: the trace term is sum (sqrt(var_a) - sqrt(var_b))^2 per dimension.
    scale = torch.tensor([1.0, 2.0, 3.0])
    var_a, var_b = torch.cov(a.T.double()).diagonal(), torch.cov((a * scale).T.double()).diagonal()
    expected = float((var_a.sqrt() - var_b.sqrt()).pow(2).sum())
    assert frechet_distance(a, a * scale) == pytest.approx(expected, rel=2e-2, abs=2e-2)
    with pytest.raises(ValueError, match="same D"):
        frechet_distance(a, torch.randn(10, 2))


def test_digit_frechet_orders_real_blurred_and_noise_and_caches(tmp_path):
    size = 16
    features = digit_features(size, tmp_path)
    assert (tmp_path / "digit_features_16.safetensors").is_file()
    data = digits_dataset()
    train, test = resize_digits(data.train_images, size), resize_digits(data.test_images, size)
    with torch.no_grad():
        accuracy = (features(test).argmax(1) == data.test_labels).float().mean().item()
    assert accuracy > 0.9  # the features come from a classifier that works
    real = digit_frechet(test, train, features)
    kernel = torch.full((1, 1, 5, 5), 1 / 25)
    blurred = digit_frechet(F.conv2d(test, kernel, padding=2), train, features)
    noise = digit_frechet(torch.rand_like(test), train, features)
    assert real < 0.25 * blurred and blurred < noise
    reloaded = digit_features(size, tmp_path)  # from the cache: the same network
    assert digit_frechet(test, train, reloaded) == pytest.approx(real, rel=1e-9)
