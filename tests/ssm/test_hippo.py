"""HiPPO-LegS structure (eigenvalues, normal plus low rank) and online Legendre projection."""

import torch

from archlab.ssm.hippo import (
    band_limited_noise, legendre, legs_matrices, legs_normal_plus_low_rank, legs_online, legs_reconstruct,
    relative_mse,
)


def test_legs_entries_and_eigenvalues():
    A, B = legs_matrices(8)
    assert A[3, 1] == -(7**0.5) * (3**0.5) and A[2, 2] == -3 and A[1, 4] == 0
    torch.testing.assert_close(B, torch.sqrt(2 * torch.arange(8, dtype=torch.float64) + 1))
    eig = torch.linalg.eigvals(legs_matrices(32)[0]).real.sort().values
    torch.testing.assert_close(eig, -torch.arange(32, 0, -1, dtype=torch.float64), rtol=0, atol=1e-6)


def test_normal_plus_low_rank():
    n = 16
    A, _ = legs_matrices(n)
    nplr = legs_normal_plus_low_rank(n)
    S = A + torch.outer(nplr.P, nplr.P) + 0.5 * torch.eye(n, dtype=torch.float64)
    torch.testing.assert_close(S, -S.T, rtol=0, atol=1e-10)  # A + P P^T + I/2 is skew-symmetric
    torch.testing.assert_close(nplr.Lambda.real, torch.full((n,), -0.5, dtype=torch.float64), rtol=0, atol=1e-10)
    rebuilt = nplr.normal_part() - torch.outer(nplr.P, nplr.P).to(torch.complex128)
    torch.testing.assert_close(rebuilt, A.to(torch.complex128), rtol=0, atol=1e-9)


def test_legendre_polynomials():
    x = torch.linspace(-1, 1, 7, dtype=torch.float64)
    P = legendre(4, x)
    torch.testing.assert_close(P[2], (3 * x**2 - 1) / 2)
    torch.testing.assert_close(P[3], (5 * x**3 - 3 * x) / 2)


def test_online_projection_of_a_polynomial_is_recovered():
    """A constant's projection is c = (1, 0, ...); a ramp is reconstructed closely at N = 4."""
    ones = torch.ones(1, 500, dtype=torch.float64)
    c = legs_online(ones, 6)
    # the bilinear start-up transient decays like 1/steps
    torch.testing.assert_close(c[0], torch.tensor([1.0, 0, 0, 0, 0, 0], dtype=torch.float64), rtol=0, atol=5e-3)
    ramp = torch.linspace(0, 1, 2000, dtype=torch.float64)[None]
    assert relative_mse(legs_reconstruct(legs_online(ramp, 4), 2000), ramp) < 1e-5


def test_reconstruction_error_falls_with_state_size():
    u = band_limited_noise(2, 1000, dt=1e-3, cutoff_hz=3.0, generator=torch.Generator().manual_seed(0))
    errors = [float(relative_mse(legs_reconstruct(legs_online(u, n), 1000), u)) for n in (4, 8, 16)]
    assert errors[0] > errors[1] > errors[2]
    assert errors[2] < 0.01


def test_band_limited_noise():
    u = band_limited_noise(3, 1000, dt=1e-3, cutoff_hz=3.0, generator=torch.Generator().manual_seed(0))
    assert u.shape == (3, 1000) and torch.all(u[:, 0] == 0)
    spectrum = torch.fft.rfft(u + u[:, :1]).abs()  # undo the shift by a constant
    freqs = torch.fft.rfftfreq(1000, d=1e-3)
    assert spectrum[:, freqs > 3.0].max() < 1e-9
