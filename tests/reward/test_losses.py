import math

import pytest
import torch

from archlab.reward.calibration import expected_calibration_error, reliability
from archlab.reward.losses import bradley_terry_loss, pairwise_accuracy, preference_probability


def test_bradley_terry_loss_and_gradient_by_hand():
    chosen = torch.tensor([1.0, 0.0, -2.0], requires_grad=True)
    rejected = torch.tensor([0.0, 0.5, -1.0], requires_grad=True)
    loss = bradley_terry_loss(chosen, rejected)
    diffs = [1.0, -0.5, -1.0]
    expected = sum(math.log1p(math.exp(-d)) for d in diffs) / 3  # -log sigmoid(d) = log(1 + e^-d)
    assert loss.item() == pytest.approx(expected, abs=1e-6)
    loss.backward()
    grad = [-(1 - 1 / (1 + math.exp(-d))) / 3 for d in diffs]  # d/dd -log sigmoid(d) = -(1 - sigmoid(d))
    torch.testing.assert_close(chosen.grad, torch.tensor(grad))
    torch.testing.assert_close(rejected.grad, -torch.tensor(grad))


def test_the_margin_is_subtracted_inside_the_sigmoid():
    chosen, rejected = torch.tensor([2.0, 1.0]), torch.tensor([0.0, 0.0])
    margin = torch.tensor([1.5, 0.5])
    expected = -torch.nn.functional.logsigmoid(torch.tensor([0.5, 0.5])).mean()
    torch.testing.assert_close(bradley_terry_loss(chosen, rejected, margin=margin), expected)
    assert bradley_terry_loss(chosen, rejected, margin=1.0) > bradley_terry_loss(chosen, rejected)


def test_swapping_chosen_and_rejected_is_the_loss_of_the_negated_difference():
    chosen, rejected = torch.tensor([3.0, -1.0]), torch.tensor([1.0, 0.0])
    assert pairwise_accuracy(chosen, rejected) == 0.5
    assert pairwise_accuracy(rejected, chosen) == 0.5
    torch.testing.assert_close(preference_probability(chosen, rejected), torch.sigmoid(torch.tensor([2.0, -1.0])))
    assert pairwise_accuracy(torch.tensor([1.0, 1.0]), torch.tensor([1.0, 0.0])) == 0.75  # a tie counts one half


def test_shapes_are_checked():
    with pytest.raises(ValueError, match="must both be"):
        bradley_terry_loss(torch.zeros(3), torch.zeros(2))


def test_ece_of_known_predictions():
    # confidence 0.9 on 10 pairs of which 9 are right: calibrated; confidence 0.6 on 10 pairs all right: off by 0.4
    p = torch.tensor([0.9] * 10 + [0.6] * 10)
    outcome = torch.tensor([1.0] * 9 + [0.0] + [1.0] * 10)
    assert expected_calibration_error(p, outcome) == pytest.approx(0.5 * 0.0 + 0.5 * 0.4, abs=1e-9)
    # a prediction below one half is a confident prediction of the other side
    assert expected_calibration_error(torch.tensor([0.1]), torch.tensor([0.0])) == pytest.approx(0.1)
    result = reliability(p, outcome, n_bins=5)
    assert result.count.tolist() == [0, 10, 0, 10, 0]
    assert result.accuracy[1].item() == pytest.approx(1.0) and result.accuracy[3].item() == pytest.approx(0.9)
    assert torch.isnan(result.accuracy[0])
