"""The measures under the HiPPO claim: relative error, ZOH states, the least-squares read-out, LegS's scale
invariance (the claim itself runs in tests/test_claims.py)."""

import pytest
import torch

from archlab.ssm.hippo import band_limited_noise, fitted_readout_error, legs_online, lti_states, relative_mse


def test_relative_mse_known_values():
    target = torch.tensor([[1.0, -1.0, 1.0, -1.0]], dtype=torch.float64)  # variance 1
    assert float(relative_mse(target, target)) == 0
    assert float(relative_mse(torch.zeros_like(target), target)) == pytest.approx(1.0)


def test_lti_states_match_step_by_step_zoh():
    A = torch.tensor([-0.5 + 2j, -3.0 + 0j], dtype=torch.complex128)
    B = torch.tensor([1.0, 2.0], dtype=torch.complex128)
    u = torch.randn(2, 30, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    x = torch.zeros(2, 2, dtype=torch.complex128)
    for t in range(30):
        x = torch.exp(A * 0.1) * x + (torch.exp(A * 0.1) - 1) / A * B * u[:, t, None]
    torch.testing.assert_close(lti_states(u, A, B, dt=0.1), x)


def test_least_squares_readout_recovers_a_linear_code():
    """States that are an invertible linear code of the history give a near-zero held-out error."""
    u = band_limited_noise(40, 50, dt=0.02, cutoff_hz=3.0, generator=torch.Generator().manual_seed(1))
    code = torch.randn(50, 50, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    assert float(fitted_readout_error(u[:30] @ code, u[:30], u[30:] @ code, u[30:])) < 1e-6


def test_legs_is_scale_invariant_when_projection_error_dominates():
    """The same history twice as slow gives the same LegS coefficients at the end (up to discretisation)."""
    u = band_limited_noise(2, 1000, dt=1e-3, cutoff_hz=3.0, generator=torch.Generator().manual_seed(3))
    slow = torch.nn.functional.interpolate(u[:, None], size=2000, mode="linear", align_corners=True)[:, 0]
    torch.testing.assert_close(legs_online(u, 8), legs_online(slow, 8), rtol=0, atol=5e-3)
