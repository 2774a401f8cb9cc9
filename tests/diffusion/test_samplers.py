"""The samplers with an exact denoiser of a point mass land on the point; the loop counts calls; configs validate."""

import pytest
import torch

from archlab.diffusion import (
    DDIMConfig,
    DDIMSampler,
    DDPMConfig,
    DDPMSampler,
    DPMSolverConfig,
    DPMSolverSampler,
    EulerConfig,
    EulerSampler,
    FlowMatchConfig,
    FlowMatchEulerSampler,
    HeunConfig,
    HeunSampler,
)
from archlab.diffusion.sampling import sampling_loop
from archlab.diffusion.schedules import add_noise, convert_prediction

POINT = torch.tensor([1.5, -0.5])


def exact_point_denoiser(sampler, kind="epsilon"):
    """The Bayes-optimal prediction when the data is the single point POINT."""
    a_bar = sampler.alphas_cumprod

    def denoise(x, t, cond=None):
        t_int = t.round().long().clamp(0, len(a_bar) - 1)
        a = a_bar[t_int]
        eps = (x - a.sqrt()[:, None] * POINT) / (1 - a).sqrt()[:, None]
        return convert_prediction(eps, x, a, source="epsilon", target=kind)
    return denoise


@pytest.mark.parametrize("make", [
    lambda k: DDPMSampler(DDPMConfig(prediction_type=k, timestep_spacing="trailing")),
    lambda k: DDIMSampler(DDIMConfig(prediction_type=k, timestep_spacing="trailing")),
    lambda k: DDIMSampler(DDIMConfig(prediction_type=k, eta=1.0)),
    lambda k: DPMSolverSampler(DPMSolverConfig(prediction_type=k)),
])
@pytest.mark.parametrize("kind", ["epsilon", "v", "sample"])
def test_variance_preserving_samplers_land_on_a_point_mass(make, kind):
    sampler = make(kind)
    noise = torch.randn(16, 2, generator=torch.Generator().manual_seed(0))
    out = sampling_loop(exact_point_denoiser(sampler, kind), sampler, noise, 10,
                        generator=torch.Generator().manual_seed(1))
    assert torch.allclose(out.sample, POINT.expand(16, 2), atol=1e-3)
    assert out.nfe == 10


@pytest.mark.parametrize("make,nfe", [(lambda: EulerSampler(EulerConfig()), 10),
                                      (lambda: EulerSampler(EulerConfig(sigma_schedule="karras")), 10),
                                      (lambda: HeunSampler(HeunConfig()), 19)])
def test_sigma_samplers_land_on_a_point_mass(make, nfe):
    # the denoiser sees fractional timesteps: give it x_0 directly through the epsilon at the exact sigma
    sampler = make()

    def denoise(x, t, cond=None):
        sigma = sampler.sigmas[sampler._step_index]
        # x is the scaled input x_ve / sqrt(sigma^2 + 1); the exact eps for the point
        x_ve = x * (sigma**2 + 1) ** 0.5
        return (x_ve - POINT) / sigma

    out = sampling_loop(denoise, sampler, torch.randn(8, 2, generator=torch.Generator().manual_seed(0)), 10,
                        keep_trajectory=True)
    assert torch.allclose(out.sample, POINT.expand(8, 2), atol=1e-4)
    assert out.nfe == nfe and len(out.trajectory) == nfe + 1


@pytest.mark.parametrize("mode", ["ode", "stochastic"])
def test_flow_matching_with_exact_velocity_lands_on_the_point(mode):
    sampler = FlowMatchEulerSampler(FlowMatchConfig(mode=mode, shift=2.0))

    def velocity(x, t, cond=None):
        sigma = t[:, None] / 1000
        return (x - POINT) / sigma

    out = sampling_loop(velocity, sampler, torch.randn(8, 2, generator=torch.Generator().manual_seed(0)), 4,
                        generator=torch.Generator().manual_seed(0))
    assert torch.allclose(out.sample, POINT.expand(8, 2), atol=1e-4)


def test_ddpm_is_stochastic_and_ddim_deterministic_in_the_generator():
    noise = torch.randn(64, 2, generator=torch.Generator().manual_seed(0))

    def blurry(x, t, cond=None):  # not exact: the randomness of the ancestral steps shows
        return 0.5 * x

    runs = {}
    for name, sampler in (("ddpm", DDPMSampler()), ("ddim", DDIMSampler())):
        runs[name] = [sampling_loop(blurry, sampler, noise, 10, generator=torch.Generator().manual_seed(s)).sample
                      for s in (0, 0, 1)]
    assert torch.equal(runs["ddpm"][0], runs["ddpm"][1]) and not torch.equal(runs["ddpm"][0], runs["ddpm"][2])
    assert torch.equal(runs["ddim"][0], runs["ddim"][2])


def test_add_noise_of_the_protocol_matches_the_forward_process():
    sampler = DDPMSampler()
    x0, eps = torch.randn(3, 2), torch.randn(3, 2)
    t = torch.tensor([0, 500, 999])
    assert torch.allclose(sampler.add_noise(x0, eps, t), add_noise(x0, eps, sampler.alphas_cumprod[t]))
    flow = FlowMatchEulerSampler()
    assert torch.allclose(flow.add_noise(x0, eps, torch.tensor([250.0, 500.0, 1000.0])),
                          torch.stack([0.75 * x0[0] + 0.25 * eps[0], 0.5 * x0[1] + 0.5 * eps[1], eps[2]]))


@pytest.mark.parametrize("make,match", [
    (lambda: DDPMConfig(variance_type="learned"), "variance_type='learned'"),
    (lambda: DDIMConfig(eta=-0.1), "eta=-0.1"),
    (lambda: EulerConfig(sigma_schedule="exponential"), "sigma_schedule='exponential'"),
    (lambda: HeunConfig(final_sigma="sigma_min"), "final_sigma='sigma_min'"),
    (lambda: DPMSolverConfig(solver_order=3), "solver_order=3"),
    (lambda: FlowMatchConfig(shift=0), "shift=0"),
    (lambda: DDPMConfig(timestep_spacing="even"), "timestep_spacing='even'"),
    (lambda: DDPMConfig(num_train_timesteps=0), "num_train_timesteps=0"),
])
def test_bad_configs_name_the_field(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_too_many_steps_raise():
    with pytest.raises(ValueError, match="num_inference_steps=2000"):
        DDPMSampler().set_timesteps(2000)
