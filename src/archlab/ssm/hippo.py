"""HiPPO-LegS: the (A, B) that keep an optimal Legendre projection of a signal's whole history.

Gu, Dao, Ermon, Rudra and Re 2020, "HiPPO: Recurrent Memory with Optimal Polynomial Projections"
(NeurIPS), Sec. 3 and App. D.3; normal-plus-low-rank form from Gu, Goel and Re 2022, "Efficiently
Modeling Long Sequences with Structured State Spaces" (S4, ICLR), Sec. 3 and Thm. 1.

Scaled Legendre (LegS) measures the whole history ``[0, t]`` uniformly. The coefficients ``c(t)`` (N) of
the projection of ``u`` on the first N normalised, shifted Legendre polynomials obey

    c'(t) = (1/t) A c(t) + (1/t) B u(t),
    A[n, k] = -sqrt(2n+1) sqrt(2k+1) (n > k),  -(n+1) (n = k),  0 (n < k);   B[n] = sqrt(2n+1),

and the history is read back as ``u(s) ~ sum_n c_n sqrt(2n+1) P_n(2 s / t - 1)`` for s in [0, t].
The 1/t makes the system time-varying and scale-invariant: stretching the signal in time leaves the
coefficients at the matching time unchanged. S4 uses the same (A, B) as a time-invariant system.

Normal plus low rank (S4 Thm. 1): with ``P[n] = sqrt(n + 1/2)``, ``A + P P^T = -I/2 + S`` with S
skew-symmetric, so ``A = V (Lambda - (V^* P)(V^* P)^*) V^*`` with V unitary and ``Lambda = -1/2 + i w``.

Discretisation: the generalised bilinear transform of App. B.3 with step k (the 1/t becomes 1/k), as in
the authors' ``HiPPOScale`` module. ``band_limited_noise`` stands in for nengo's ``WhiteSignal`` used in the
authors' reconstruction experiment (random Fourier coefficients up to a cutoff, scaled to an rms, shifted
to start at 0).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


def legs_matrices(n: int, *, dtype: torch.dtype = torch.float64) -> tuple[Tensor, Tensor]:
    """HiPPO-LegS ``(A (n, n), B (n,))`` (HiPPO Thm. 2)."""
    if n < 1:
        raise ValueError(f"n={n} must be >= 1")
    r = torch.sqrt(2 * torch.arange(n, dtype=dtype) + 1)  # (n,)
    A = -torch.tril(r[:, None] * r[None, :], diagonal=-1) - torch.diag(torch.arange(1, n + 1, dtype=dtype))
    return A, r.clone()


@dataclass
class NormalPlusLowRank:
    """``A = S - I/2 - P P^T`` with S skew-symmetric, and S diagonalised: ``S = V diag(i w) V^*``.

    ``Lambda = -1/2 + i w`` are the eigenvalues of the normal part ``A + P P^T``.
    """

    S: Tensor  # (n, n) real skew-symmetric
    P: Tensor  # (n,) low-rank term
    Lambda: Tensor  # (n,) complex eigenvalues of A + P P^T
    V: Tensor  # (n, n) complex unitary eigenvectors (columns)

    def normal_part(self) -> Tensor:
        """``A + P P^T`` rebuilt from the diagonalisation (complex, n x n)."""
        return self.V @ torch.diag(self.Lambda) @ self.V.mH  # (n, n) @ (n, n) @ (n, n)


def legs_normal_plus_low_rank(n: int, *, dtype: torch.dtype = torch.float64) -> NormalPlusLowRank:
    """The LegS A written as normal plus rank one (S4 Sec. 3.3, ``P[n] = sqrt(n + 1/2)``)."""
    A, _ = legs_matrices(n, dtype=dtype)
    P = torch.sqrt(torch.arange(n, dtype=dtype) + 0.5)
    S = A + P[:, None] * P[None, :] + 0.5 * torch.eye(n, dtype=dtype)  # skew-symmetric
    w, V = torch.linalg.eigh(-1j * S.to(torch.complex128 if dtype == torch.float64 else torch.complex64))
    return NormalPlusLowRank(S=S, P=P, Lambda=-0.5 + 1j * w, V=V)


def legendre(n: int, x: Tensor) -> Tensor:
    """Legendre polynomials ``P_0 .. P_{n-1}`` at ``x`` (in [-1, 1]): shape (n, *x.shape) (Bonnet's recursion)."""
    values = [torch.ones_like(x), x]
    for k in range(1, n - 1):
        values.append(((2 * k + 1) * x * values[k] - k * values[k - 1]) / (k + 1))
    return torch.stack(values[:n])


def legs_online(u: Tensor, n: int, *, block: int = 512) -> Tensor:
    """Run scale-invariant LegS over ``u`` (S, L) and return the coefficients after the last step, (S, n).

    Step k (1-based) applies the bilinear discretisation of ``c' = (A c + B u) / k``:
    ``c_k = M_k c_{k-1} + b_k u_k`` with ``M_k = (I - A/2k)^{-1} (I + A/2k)``, ``b_k = (I - A/2k)^{-1} B / k``.
    The step matrices are built ``block`` steps at a time by one batched triangular solve.
    """
    if u.dim() != 2:
        raise ValueError(f"u.shape={tuple(u.shape)} must be (signals, length)")
    A, B = legs_matrices(n, dtype=u.dtype)
    eye = torch.eye(n, dtype=u.dtype)
    c = u.new_zeros(u.shape[0], n)  # (S, n)
    for start in range(0, u.shape[1], block):
        k = torch.arange(start + 1, min(start + block, u.shape[1]) + 1, dtype=u.dtype)[:, None, None]  # (K, 1, 1)
        half = A / (2 * k)  # (K, n, n)
        rhs = torch.cat([eye + half, B[:, None] / k], dim=-1)  # (K, n, n + 1): [I + A/2k | B/k]
        solved = torch.linalg.solve_triangular(eye - half, rhs, upper=False)  # (K, n, n + 1)
        M_T, b = solved[..., :n].mT.contiguous(), solved[..., n]  # (K, n, n) transposed, (K, n)
        for i in range(k.shape[0]):
            c = torch.addmm(u[:, start + i, None] * b[i], c, M_T[i])  # (S, n) @ (n, n) + (S, n)
    return c


def legs_reconstruct(c: Tensor, length: int) -> Tensor:
    """The history that coefficients ``c`` (S, n) describe, at ``length`` uniform points of [0, t]: (S, length)."""
    n = c.shape[-1]
    s = (torch.arange(length, dtype=c.dtype) + 0.5) / length  # midpoints of [0, 1]
    basis = legendre(n, 2 * s - 1) * torch.sqrt(2 * torch.arange(n, dtype=c.dtype) + 1)[:, None]  # (n, length)
    return c @ basis  # (S, n) @ (n, length) -> (S, length)


def band_limited_noise(
    signals: int, length: int, *, dt: float, cutoff_hz: float, rms: float = 0.5, generator: torch.Generator | None = None
) -> Tensor:
    """White noise low-passed at ``cutoff_hz`` over ``length`` steps of ``dt``: (signals, length), starting at 0."""
    freqs = torch.fft.rfftfreq(length, d=dt)  # (length // 2 + 1,)
    keep = (freqs > 0) & (freqs <= cutoff_hz)
    coeffs = torch.complex(
        torch.randn(signals, freqs.numel(), generator=generator, dtype=torch.float64),
        torch.randn(signals, freqs.numel(), generator=generator, dtype=torch.float64),
    ) * keep
    x = torch.fft.irfft(coeffs, n=length)  # (signals, length)
    x = x * rms / x.pow(2).mean(-1, keepdim=True).sqrt()
    return x - x[:, :1]


def relative_mse(estimate: Tensor, target: Tensor) -> Tensor:
    """``mean((estimate - target)^2) / var(target)`` per signal (last dimension), averaged over signals."""
    return ((estimate - target).pow(2).mean(-1) / target.var(-1, unbiased=False)).mean()


def lti_states(u: Tensor, A: Tensor, B: Tensor, *, dt: float) -> Tensor:
    """Final state of the time-invariant system ``x' = A x + B u`` with diagonal complex A (n,), zero-order hold.

    ``x_L = sum_k exp(A dt (L - 1 - k)) Bbar u_k`` with ``Bbar = (exp(A dt) - 1) / A * B``: (S, n) complex.
    """
    length = u.shape[-1]
    lags = torch.arange(length - 1, -1, -1, dtype=torch.float64)  # (L,)
    kernel = torch.exp(A[:, None] * dt * lags[None, :]) * ((torch.exp(A * dt) - 1) / A * B)[:, None]  # (n, L)
    return u.to(kernel.dtype) @ kernel.T  # (S, L) @ (L, n) -> (S, n)


def fitted_readout_error(train_states: Tensor, train_u: Tensor, test_states: Tensor, test_u: Tensor, *, ridge: float = 1e-8) -> Tensor:
    """Relative MSE of the best linear map from final states to histories, fitted on train, scored on test.

    Complex states enter as their real and imaginary parts; ``ridge`` is relative to the mean feature energy.
    """

    def features(x: Tensor) -> Tensor:
        return torch.cat([x.real, x.imag], dim=-1) if x.is_complex() else x  # (S, n) -> (S, 2n)

    X, Xt = features(train_states), features(test_states)
    gram = X.T @ X  # (F, F)
    lam = ridge * gram.diagonal().mean()
    W = torch.linalg.solve(gram + lam * torch.eye(gram.shape[0], dtype=gram.dtype), X.T @ train_u)  # (F, L)
    return relative_mse(Xt @ W, test_u)


def rel_error_at(n: int, u: Tensor) -> float:
    """Relative MSE of LegS (state size n) reconstructing the whole history of each signal in ``u`` (S, L)."""
    c = legs_online(u, n)  # (S, n): coefficients at the last step
    return float(relative_mse(legs_reconstruct(c, u.shape[-1]), u))


__all__ = [
    "NormalPlusLowRank", "band_limited_noise", "fitted_readout_error", "legendre", "legs_matrices",
    "legs_normal_plus_low_rank", "legs_online", "legs_reconstruct", "lti_states", "rel_error_at", "relative_mse",
]
