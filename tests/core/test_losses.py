import pytest
import torch

from archlab.core.losses import cross_entropy, cross_entropy_ref


@pytest.mark.parametrize("ignored", [0, 3])
def test_fused_cross_entropy_equals_reference_in_value_and_gradient(ignored):
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(12, 7, generator=gen, dtype=torch.float64) * 3
    targets = torch.randint(0, 7, (12,), generator=gen)
    targets[:ignored] = -100
    a = logits.clone().requires_grad_()
    b = logits.clone().requires_grad_()
    upstream = torch.tensor(1.7, dtype=torch.float64)
    (cross_entropy(a, targets) * upstream).backward()
    (cross_entropy_ref(b, targets) * upstream).backward()
    assert torch.allclose(cross_entropy(logits, targets), cross_entropy_ref(logits, targets), atol=1e-12)
    assert torch.allclose(a.grad, b.grad, atol=1e-12)


def test_cross_entropy_formula_on_a_known_case():
    logits = torch.log(torch.tensor([[0.5, 0.25, 0.25], [0.1, 0.8, 0.1]]))
    loss = cross_entropy(logits, torch.tensor([0, 1]))
    expected = -(torch.log(torch.tensor(0.5)) + torch.log(torch.tensor(0.8))) / 2
    assert loss.item() == pytest.approx(expected.item(), abs=1e-6)


def test_ignored_targets_get_no_gradient():
    logits = torch.randn(4, 5, requires_grad=True)
    cross_entropy(logits, torch.tensor([1, -100, 2, -100])).backward()
    assert logits.grad[[1, 3]].abs().max().item() == 0
    assert logits.grad[[0, 2]].abs().min().item() > 0


def test_backward_runs_once():
    logits = torch.randn(3, 4, requires_grad=True)
    loss = cross_entropy(logits, torch.tensor([0, 1, 2]))
    loss.backward(retain_graph=True)
    with pytest.raises(RuntimeError):
        loss.backward()


def test_cross_entropy_rejects_bad_shapes():
    with pytest.raises(ValueError, match="logits"):
        cross_entropy(torch.randn(2, 3, 4), torch.zeros(2, dtype=torch.long))
