"""The MLP denoiser: shapes, its loss targets, condition dropout, guidance's formula, save/load."""

import pytest
import torch

from archlab.diffusion.denoiser import MLPDenoiser, MLPDenoiserConfig
from archlab.diffusion.guidance import GuidedDenoiser
from archlab.diffusion.schedules import add_noise, velocity
from archlab.diffusion.training import DiffusionTask


def tiny(**kw):
    torch.manual_seed(0)
    return MLPDenoiser(MLPDenoiserConfig(d_hidden=16, n_layers=2, time_dim=8, **kw))


def test_parameter_count_is_pinned():
    # time MLP 8*16+16 + 16*16+16, input 2*16+16, 2 blocks of 16*32+32 + 32*16+16, output 16*2+2
    assert sum(p.numel() for p in tiny().parameters()) == 144 + 272 + 48 + 2 * 1072 + 34


@pytest.mark.parametrize("kind", ["epsilon", "v", "sample", "flow"])
def test_loss_is_the_mse_to_the_right_target(kind):
    model = tiny(prediction_type=kind)
    batch = model.make_batch(torch.randn(8, 2), None, torch.Generator().manual_seed(0))
    x0, noise, t = batch["x0"], batch["noise"], batch["t"]
    if kind == "flow":
        sigma = t / 1000
        x_t, target = (1 - sigma)[:, None] * x0 + sigma[:, None] * noise, noise - x0
    else:
        a = model.alphas_cumprod[t.long()]
        x_t = add_noise(x0, noise, a)
        target = {"epsilon": noise, "sample": x0, "v": velocity(x0, noise, a)}[kind]
    expected = ((model(x_t, t) - target) ** 2).mean()
    assert torch.allclose(model.loss(batch), expected)


def test_condition_dropout_rate_and_null_class():
    model = tiny(n_classes=8, p_uncond=0.25)
    batch = model.make_batch(torch.randn(4000, 2), torch.zeros(4000, dtype=torch.long),
                             torch.Generator().manual_seed(0))
    dropped = (batch["labels"] == 8).float().mean().item()
    assert abs(dropped - 0.25) < 0.03 and set(batch["labels"].tolist()) == {0, 8}
    x, t = torch.randn(3, 2), torch.tensor([5.0, 50.0, 500.0])
    assert torch.equal(model(x, t, None), model(x, t, torch.full((3,), 8)))
    assert not torch.allclose(model(x, t, torch.zeros(3, dtype=torch.long)), model(x, t, None))


def test_guidance_is_one_plus_w_conditional_minus_w_unconditional():
    model = tiny(n_classes=4)
    x, t, c = torch.randn(5, 2), torch.full((5,), 300.0), torch.tensor([0, 1, 2, 3, 0])
    guided = GuidedDenoiser(model, 2.5)(x, t, c)
    assert torch.allclose(guided, 3.5 * model(x, t, c) - 2.5 * model(x, t, None), atol=1e-6)
    assert torch.equal(GuidedDenoiser(model, 0.0)(x, t, c), model(x, t, c))
    with pytest.raises(ValueError, match="guidance=-1"):
        GuidedDenoiser(model, -1)


def test_save_and_load_round_trip(tmp_path):
    model = tiny(n_classes=2, prediction_type="v")
    model.save_pretrained(tmp_path)
    loaded = MLPDenoiser.from_pretrained(tmp_path)
    x, t = torch.randn(3, 2), torch.tensor([1.0, 10.0, 900.0])
    assert torch.equal(loaded(x, t, torch.tensor([0, 1, 0])), model(x, t, torch.tensor([0, 1, 0])))


def test_task_batches_are_pure_functions_of_seed_and_step():
    model = tiny(n_classes=8)
    a, b = DiffusionTask(model, batch_size=16, seed=3), DiffusionTask(model, batch_size=16, seed=3)
    assert all(torch.equal(a.train_batch(5)[k], b.train_batch(5)[k]) for k in a.train_batch(5))
    assert not torch.equal(a.train_batch(5)["x0"], a.train_batch(6)["x0"])
    with pytest.raises(ValueError, match="n_classes=8"):
        DiffusionTask(model, data="moons", batch_size=4, seed=0)


def test_bad_config_names_the_field():
    with pytest.raises(ValueError, match="prediction_type='v_prediction'"):
        MLPDenoiserConfig(prediction_type="v_prediction")
    with pytest.raises(ValueError, match="p_uncond=1"):
        MLPDenoiserConfig(p_uncond=1)
