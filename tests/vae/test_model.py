"""The VAE module: shapes of both architectures, the bound ordering ELBO <= IWAE_k <= IWAE_k', beta and free
bits in the loss, sampling and reconstruction, save/load, config validation, and training through the loop."""

import pytest
import torch

from archlab.core.io import load_pretrained
from archlab.data.images import digits_dataset
from archlab.lab.experiment import quick_fit
from archlab.vae.model import VAE, VAEConfig
from archlab.vae.task import VAETask


@pytest.fixture(scope="module")
def digits():
    return digits_dataset()


@pytest.mark.parametrize("architecture", ["mlp", "conv"])
@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_shapes(architecture, likelihood):
    torch.manual_seed(0)
    model = VAE(VAEConfig(architecture=architecture, likelihood=likelihood, latent_dim=3, hidden_dim=16, channels=4))
    x = torch.rand(5, 1, 8, 8)
    mean, logvar = model.encode(x)
    assert mean.shape == logvar.shape == (5, 3)
    out = model.loss(x)
    assert out.loss.shape == () and out.kl_per_dim.shape == (3,) and out.mean.shape == (5, 3)
    assert model.sample(7, generator=torch.Generator().manual_seed(0)).shape == (7, 1, 8, 8)
    assert model.reconstruct(x).shape == (5, 1, 8, 8)
    assert model.iwae_bound(x, 4).shape == (5,)


def test_vector_data_and_the_mlp():
    model = VAE(VAEConfig(data_shape=(2,), likelihood="gaussian", latent_dim=2, hidden_dim=8))
    assert model.loss(torch.randn(6, 2)).loss.isfinite()
    assert model.sample(3).shape == (3, 2)


def test_bernoulli_samples_are_probabilities():
    model = VAE(VAEConfig(latent_dim=2, hidden_dim=8))
    s = model.sample(10)
    assert s.min() >= 0 and s.max() <= 1


def test_iwae_tightens_with_k_and_its_k1_mean_is_the_elbo(digits):
    torch.manual_seed(0)
    model = VAE(VAEConfig(latent_dim=4, hidden_dim=32))
    quick_fit(VAETask(model, digits.train_images, digits.test_images[:64], batch_size=64, seed=0),
              steps=60, lr=3e-3, batch_size=64, seed=0)  # an informative posterior: the bounds differ
    x = digits.test_images[:32]
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        elbo = torch.stack([model.loss(x, generator=g).elbo for _ in range(200)]).mean()
        l1 = torch.stack([model.iwae_bound(x, 1, generator=g).mean() for _ in range(200)]).mean()
        l10 = torch.stack([model.iwae_bound(x, 10, generator=g).mean() for _ in range(20)]).mean()
        l100 = model.iwae_bound(x, 100, generator=g).mean()
    assert abs(l1 - elbo) < 0.1  # same bound, one estimated with the KL in closed form
    assert elbo < l10 < l100


def test_beta_and_free_bits_change_only_the_kl_term():
    torch.manual_seed(0)
    base = VAE(VAEConfig(latent_dim=4, hidden_dim=16))
    x = torch.rand(8, 1, 8, 8)
    outs = {}
    for name, overrides in {"base": {}, "beta": {"beta": 4.0}, "free": {"free_bits": 5.0}}.items():
        model = VAE(VAEConfig(latent_dim=4, hidden_dim=16, **overrides))
        model.load_state_dict(base.state_dict())
        outs[name] = model.loss(x, generator=torch.Generator().manual_seed(3))
    b = outs["base"]
    torch.testing.assert_close(outs["beta"].loss, b.reconstruction + 4.0 * b.kl)
    torch.testing.assert_close(outs["free"].loss, b.reconstruction + 4 * 5.0)  # every dimension under 5 nats
    torch.testing.assert_close(b.loss, -b.elbo)
    annealed = base.loss(x, kl_weight=0.0, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(annealed.loss, b.reconstruction)


def test_save_and_load_round_trip(tmp_path):
    torch.manual_seed(0)
    model = VAE(VAEConfig(architecture="conv", latent_dim=3, channels=4, likelihood="gaussian", beta=2.0))
    model.save_pretrained(tmp_path)
    loaded = load_pretrained(tmp_path)
    assert loaded.config == model.config
    x = torch.rand(2, 1, 8, 8)
    torch.testing.assert_close(loaded.reconstruct(x), model.reconstruct(x))


@pytest.mark.parametrize("bad, message", [
    (dict(architecture="rnn"), "architecture='rnn'"),
    (dict(likelihood="poisson"), "likelihood='poisson'"),
    (dict(architecture="conv", data_shape=(1, 6, 6)), "divisible by 4"),
    (dict(latent_dim=0), "latent_dim=0 must be >= 1"),
    (dict(beta=0.0), "beta=0.0 must be > 0"),
    (dict(free_bits=-1.0), "free_bits=-1.0 must be >= 0"),
])
def test_config_validation_names_the_field(bad, message):
    with pytest.raises(ValueError, match=message):
        VAEConfig(**bad)


def test_the_task_trains_through_the_loop_and_logs_the_elbo_terms(digits):
    torch.manual_seed(0)
    model = VAE(VAEConfig(latent_dim=4, hidden_dim=64, kl_anneal_steps=10))
    task = VAETask(model, digits.train_images, digits.test_images[:128], batch_size=64, seed=0)
    first = task.evaluate(digits.test_images[:128])["val_loss"].item()
    result = quick_fit(task, steps=40, lr=3e-3, batch_size=64, seed=0, log_every=5)
    logged = [r for r in result.history if "kl_weight" in r]
    assert {"reconstruction", "kl", "active_units"} <= set(logged[0])
    assert logged[0]["kl_weight"] < logged[-1]["kl_weight"] == 1.0
    assert result.history[-1]["val_loss"] < first - 5
    torch.testing.assert_close(task.train_batch(3), task.train_batch(3))


def test_interpolation_ends_at_the_reconstructions_and_traversal_moves_one_dimension():
    from archlab.vae.figures import interpolate, interpolation_figure, traverse, traversal_figure

    torch.manual_seed(0)
    model = VAE(VAEConfig(latent_dim=3, hidden_dim=16)).eval()
    x_a, x_b = torch.rand(1, 1, 8, 8), torch.rand(1, 1, 8, 8)
    path = interpolate(model, x_a, x_b, steps=5)
    assert path.shape == (5, 1, 8, 8)
    torch.testing.assert_close(path[0], model.reconstruct(x_a)[0])
    torch.testing.assert_close(path[-1], model.reconstruct(x_b)[0])
    sweep = traverse(model, x_a, 1, [-1.0, 0.0, 1.0])
    z = model.encode(x_a)[0].repeat(3, 1)
    z[:, 1] = torch.tensor([-1.0, 0.0, 1.0])
    torch.testing.assert_close(sweep, torch.sigmoid(model.decode(z)))
    assert interpolation_figure(model, x_a, x_b) is not None and traversal_figure(model, x_a, 0) is not None
