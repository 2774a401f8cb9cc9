"""Every diffusers scheduler pairing, on several configs: the same timesteps after set_timesteps(n), and the
same prev_sample at every step of the usual loop driven by one model function, one noise, one generator seed."""

import dataclasses
import math

import pytest
import torch

from archlab.diffusion import DDIMSampler
from archlab.interop import from_diffusers

diffusers = pytest.importorskip("diffusers")

SHAPE = (3, 2, 4, 4)  # (B, C, H, W): diffusers' thresholding needs a channel axis


def model(x, t):
    """A smooth stand-in denoiser that depends on the sample and the timestep."""
    t = torch.as_tensor(t, dtype=torch.float32)
    return torch.tanh(0.6 * x + 0.002 * t) * 0.8 + 0.15 * x * torch.cos(t / 300)


def run_parity(reference, n, *, ours=None, step_kwargs=None, seed=0):
    """The largest absolute difference of prev_sample over the steps (0.0 on every config here)."""
    ours = ours or from_diffusers(reference)
    reference.set_timesteps(n)
    ours.set_timesteps(n)
    assert torch.equal(ours.timesteps, reference.timesteps), (ours.timesteps, reference.timesteps)
    assert ours.timesteps.dtype == reference.timesteps.dtype
    reference_sigma = getattr(reference, "init_noise_sigma", 1.0)  # flow matching has none: 1
    assert float(ours.init_noise_sigma) == float(reference_sigma)
    noise = torch.randn(SHAPE, generator=torch.Generator().manual_seed(100 + seed))
    x_ref, x = noise * reference_sigma, noise * ours.init_noise_sigma
    g_ref, g = torch.Generator().manual_seed(seed), torch.Generator().manual_seed(seed)
    scale_ref = getattr(reference, "scale_model_input", lambda s, t: s)
    worst = 0.0
    for t_ref, t in zip(reference.timesteps, ours.timesteps):
        out_ref = model(scale_ref(x_ref, t_ref), t_ref)
        out = model(ours.scale_model_input(x, t), t)
        kwargs = dict(step_kwargs or {})
        if "generator" in reference.step.__code__.co_varnames:
            kwargs["generator"] = g_ref
        x_ref = reference.step(out_ref, t_ref, x_ref, **kwargs).prev_sample
        x = ours.step(out, t, x, generator=g).prev_sample
        worst = max(worst, float((x - x_ref).abs().max()))
        assert worst <= 1e-5, (float(t), worst)
    assert torch.isfinite(x).all()
    return worst


DDPM = [dict(), dict(prediction_type="v_prediction", timestep_spacing="trailing", variance_type="fixed_large",
                     clip_sample=False),
        dict(prediction_type="sample", timestep_spacing="linspace", beta_schedule="squaredcos_cap_v2",
             thresholding=True, sample_max_value=1.5),
        dict(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012, steps_offset=1, clip_sample=False)]


@pytest.mark.parametrize("config", DDPM)
@pytest.mark.parametrize("n", [10, 25])
def test_ddpm(config, n):
    run_parity(diffusers.DDPMScheduler(**config), n)


DDIM = [(dict(), 0.0),
        (dict(prediction_type="v_prediction", timestep_spacing="trailing", set_alpha_to_one=False,
              clip_sample=False), 0.5),
        (dict(prediction_type="sample", timestep_spacing="linspace", beta_schedule="squaredcos_cap_v2",
              thresholding=True), 1.0),
        (dict(beta_schedule="scaled_linear", steps_offset=1, clip_sample_range=2.0), 0.0)]


@pytest.mark.parametrize("config,eta", DDIM)
@pytest.mark.parametrize("n", [10, 50])
def test_ddim(config, eta, n):
    reference = diffusers.DDIMScheduler(**config)
    ours = DDIMSampler(dataclasses.replace(from_diffusers(reference).config, eta=eta))
    run_parity(reference, n, ours=ours, step_kwargs=dict(eta=eta))


EULER = [dict(), dict(use_karras_sigmas=True, prediction_type="v_prediction"),
         dict(timestep_spacing="trailing", final_sigmas_type="sigma_min", prediction_type="sample"),
         dict(timestep_spacing="leading", steps_offset=1, beta_schedule="scaled_linear", beta_start=0.00085,
              beta_end=0.012),
         dict(use_karras_sigmas=True, sigma_min=0.05, sigma_max=20.0)]


@pytest.mark.parametrize("config", EULER)
@pytest.mark.parametrize("n", [8, 30])
def test_euler(config, n):
    run_parity(diffusers.EulerDiscreteScheduler(**config), n)


HEUN = [dict(), dict(use_karras_sigmas=True), dict(prediction_type="v_prediction", timestep_spacing="trailing"),
        dict(prediction_type="sample", clip_sample=True, clip_sample_range=1.5, beta_schedule="squaredcos_cap_v2"),
        dict(timestep_spacing="leading", steps_offset=1)]


@pytest.mark.parametrize("config", HEUN)
@pytest.mark.parametrize("n", [6, 20])
def test_heun(config, n):
    run_parity(diffusers.HeunDiscreteScheduler(**config), n)


DPM = [dict(), dict(solver_type="heun", use_karras_sigmas=True),
       dict(prediction_type="v_prediction", timestep_spacing="trailing"), dict(solver_order=1),
       dict(final_sigmas_type="sigma_min", lower_order_final=False, timestep_spacing="leading", steps_offset=1),
       dict(thresholding=True, sample_max_value=1.2, prediction_type="sample"),
       dict(beta_schedule="squaredcos_cap_v2"), dict(beta_schedule="scaled_linear", use_karras_sigmas=True), dict(euler_at_final=True,
                                                                              final_sigmas_type="sigma_min")]


@pytest.mark.parametrize("config", DPM)
@pytest.mark.parametrize("n", [10, 20])
def test_dpm_solver(config, n):
    run_parity(diffusers.DPMSolverMultistepScheduler(**config), n)


FLOW = [dict(), dict(shift=3.0), dict(use_karras_sigmas=True, shift=2.0), dict(shift_terminal=0.1),
        dict(stochastic_sampling=True, shift=1.5)]


@pytest.mark.parametrize("config", FLOW)
@pytest.mark.parametrize("n", [4, 28])
def test_flow_match_euler(config, n):
    run_parity(diffusers.FlowMatchEulerDiscreteScheduler(**config), n)


@pytest.mark.parametrize("cls,config,name", [
    ("DDPMScheduler", dict(variance_type="learned_range"), "variance_type"),
    ("DDPMScheduler", dict(rescale_betas_zero_snr=True), "rescale_betas_zero_snr"),
    ("DDIMScheduler", dict(trained_betas=[0.1, 0.2]), "trained_betas"),
    ("EulerDiscreteScheduler", dict(interpolation_type="log_linear"), "interpolation_type"),
    ("EulerDiscreteScheduler", dict(use_exponential_sigmas=True), "use_exponential_sigmas"),
    ("DPMSolverMultistepScheduler", dict(solver_order=3), "solver_order"),
    ("DPMSolverMultistepScheduler", dict(algorithm_type="sde-dpmsolver++"), "algorithm_type"),
    ("DPMSolverMultistepScheduler", dict(lambda_min_clipped=-5.1), "lambda_min_clipped"),
    ("FlowMatchEulerDiscreteScheduler", dict(invert_sigmas=True), "invert_sigmas"),
    ("FlowMatchEulerDiscreteScheduler", dict(use_dynamic_shifting=True), "use_dynamic_shifting"),
])
def test_unsupported_options_raise_naming_them(cls, config, name):
    with pytest.raises(ValueError, match=name):
        from_diffusers(getattr(diffusers, cls)(**config))


def test_unsupported_scheduler_raises_naming_it():
    with pytest.raises(ValueError, match="PNDMScheduler"):
        from_diffusers(diffusers.PNDMScheduler())


def test_converted_settings():
    ours = from_diffusers(diffusers.DDPMScheduler(beta_schedule="squaredcos_cap_v2", prediction_type="v_prediction",
                                                  clip_sample_range=2.5))
    assert (ours.config.beta_schedule, ours.config.prediction_type, ours.config.x0_clip) == ("cosine", "v", 2.5)
    assert math.isclose(float(ours.alphas_cumprod[-1]), float(diffusers.DDPMScheduler(
        beta_schedule="squaredcos_cap_v2").alphas_cumprod[-1]), rel_tol=0, abs_tol=0)
