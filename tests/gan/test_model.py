"""The GAN module and its task: shapes of both architectures, packing, each player's loss and logs, the
two-player update through the one loop (n_critic updates, separate optimisers), save/load with spectral norm."""

import pytest
import torch

from archlab.core.io import load_pretrained
from archlab.data.toy2d import ring_of_gaussians
from archlab.gan.model import GAN, GANConfig
from archlab.gan.networks import pack_items
from archlab.gan.task import GANTask
from archlab.lab.experiment import quick_fit
from archlab.train.config import OptimConfig


def ring(n, g):
    return ring_of_gaussians(n, g, radius=1.0, std=0.02)[0]


def _batch(model, n=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    real = torch.rand(n, *model.config.data_shape, generator=g)
    noise = torch.randn(n, model.config.latent_dim, generator=g)
    return {"real": real, "noise": noise, "mix": torch.rand(n, generator=g)}


@pytest.mark.parametrize("architecture, shape", [("mlp", (2,)), ("dcgan", (1, 8, 8))])
@pytest.mark.parametrize("pack", [1, 2])
def test_shapes_and_packing(architecture, shape, pack):
    torch.manual_seed(0)
    model = GAN(GANConfig(architecture=architecture, data_shape=shape, latent_dim=4, hidden_dim=16, channels=4,
                          pack=pack, norm="spectral"))
    assert model.sample(6).shape == (6, *shape)
    assert model.discriminator(torch.rand(6, *shape)).shape == (6 // pack,)


def test_packing_groups_consecutive_items():
    x = torch.arange(12.0).view(6, 2)
    torch.testing.assert_close(pack_items(x, 3)[1], x[3:6])
    with pytest.raises(ValueError, match="packs of 4"):
        pack_items(x, 4)


def test_a_pack_of_one_sample_repeated_is_judged_on_all_its_items():
    torch.manual_seed(0)
    model = GAN(GANConfig(pack=2, hidden_dim=8))
    a, b = torch.tensor([[0.0, 1.0], [0.0, 1.0]]), torch.tensor([[0.0, 1.0], [5.0, -1.0]])
    assert model.discriminator(a).item() != model.discriminator(b).item()


@pytest.mark.parametrize("loss", ["minimax", "non-saturating", "hinge", "wgan-gp"])
def test_each_player_gets_its_loss_and_logs(loss):
    torch.manual_seed(0)
    model = GAN(GANConfig(loss=loss, hidden_dim=16, data_shape=(2,)))
    batch = _batch(model)
    d, g = model.loss(batch, "discriminator"), model.loss(batch, "generator")
    assert d.d_real is not None and g.d_real is None
    assert (d.gradient_penalty is not None) == (loss == "wgan-gp")
    d.loss.backward()
    assert all(p.grad is None for p in model.generator.parameters())  # D's loss never reaches G
    if loss in ("minimax", "non-saturating"):
        assert 0 < d.d_real < 1
    with pytest.raises(ValueError, match="player='critic'"):
        model.loss(batch, "critic")


def test_the_two_player_task_trains_through_the_loop_with_critic_steps():
    torch.manual_seed(0)
    model = GAN(GANConfig(loss="wgan-gp", n_critic=3, hidden_dim=32, latent_dim=2))
    task = GANTask(model, ring, batch_size=64, seed=0,
                   discriminator_optim=OptimConfig(name="adam", lr=1e-3, betas=(0.0, 0.9), warmup_steps=0,
                                                   weight_decay=0.0, schedule="constant"),
                   generator_optim=OptimConfig(name="adam", lr=1e-3, betas=(0.0, 0.9), warmup_steps=0,
                                               weight_decay=0.0, schedule="constant"))
    assert [p.steps_per_step for p in task.players()] == [3, 1]
    first = task.train_batch(0)
    assert not torch.equal(first["real"], task.train_batch(0, substep=1)["real"])
    torch.testing.assert_close(first["noise"], task.train_batch(0)["noise"])
    result = quick_fit(task, steps=20, lr=1e-3, batch_size=64, seed=0, log_every=1)
    logged = result.history[0]
    assert {"d_real_discriminator", "d_fake_discriminator", "gradient_penalty_discriminator",
            "d_fake_generator", "loss_discriminator", "loss_generator"} <= set(logged)
    assert "val_gradient_penalty" in result.history[-1]


def test_split_keeps_packs_whole():
    torch.manual_seed(0)
    model = GAN(GANConfig(pack=4, hidden_dim=8))
    task = GANTask(model, ring, batch_size=24, seed=0)
    pieces = task.split(task.train_batch(0), 4)
    assert [p["real"].shape[0] for p in pieces] == [8, 4, 8, 4]


def test_save_and_load_round_trip_with_spectral_norm(tmp_path):
    torch.manual_seed(0)
    model = GAN(GANConfig(architecture="dcgan", data_shape=(1, 8, 8), channels=4, norm="spectral", pack=2,
                          output="sigmoid"))
    model.save_pretrained(tmp_path)
    loaded = load_pretrained(tmp_path).eval()
    model.eval()
    x = torch.rand(4, 1, 8, 8)
    torch.testing.assert_close(loaded.discriminator(x), model.discriminator(x))
    g = torch.Generator().manual_seed(1)
    torch.testing.assert_close(loaded.sample(3, torch.Generator().manual_seed(1)), model.sample(3, g))


@pytest.mark.parametrize("bad, message", [
    (dict(loss="ls"), "loss='ls'"),
    (dict(architecture="dcgan", data_shape=(2,)), "divisible by 4"),
    (dict(pack=0), "pack=0 must be >= 1"),
    (dict(norm="batch"), "norm='batch'"),
])
def test_config_validation_names_the_field(bad, message):
    with pytest.raises(ValueError, match=message):
        GANConfig(**bad)
