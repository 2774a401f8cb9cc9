"""S4D: the diagonal state space layer, in convolution mode (FFT) and recurrent mode.

Gu, Gupta, Goel and Re 2022, "On the Parameterization and Initialization of Diagonal State Space Models"
(NeurIPS), Sec. 3-4 and the minimal reference layer of the authors' code (``models/s4/s4d.py``).

Per channel h (H of them) the continuous system ``x' = A x + B u``, ``y = 2 Re(C x) + D u`` has diagonal
complex ``A`` (N/2 modes; the conjugate half is implied by taking twice the real part). B is folded into C
(the paper's Sec. 3.1 observation that only ``B * C`` matters), i.e. ``B = 1``.

Discretisation by zero-order hold with step ``dt``:

    Abar = exp(dt A),   Bbar = (exp(dt A) - 1) / A,
    recurrent:    x_t = Abar x_{t-1} + Bbar u_t,   y_t = 2 Re <C, x_t> + D u_t
    convolution:  y = K * u + D u,  K_l = 2 Re sum_n C_n Bbar_n Abar_n^l   (Vandermonde, "two lines")

Initialisations (paper Sec. 4.1; real part -1/2 for both):
    S4D-Lin:  A_n = -1/2 + i pi n
    S4D-Inv:  A_n = -1/2 + i (N / pi) (N / (2n + 1) - 1)        (N = full state size, n < N/2)
``dt`` is log-uniform in [dt_min, dt_max] = [1e-3, 1e-1] and ``C ~ CN(0, 1)`` as in the reference layer.
The reference layer's output activation and GLU are left to the caller: this layer is the SSM alone.

Code names: ``log_dt`` = log dt, ``A_re_log`` = log(-Re A), ``A_im`` = Im A, ``C`` = C (as real pairs), ``D`` = D.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

INITS = ("lin", "inv")


def s4d_imag(n_modes: int, init: str) -> Tensor:
    """Imaginary parts of the S4D-Lin or S4D-Inv eigenvalues for ``n_modes = N / 2`` modes."""
    n = torch.arange(n_modes, dtype=torch.float64)
    if init == "lin":
        return math.pi * n
    if init == "inv":
        N = 2 * n_modes  # full state size
        return (N / math.pi) * (N / (2 * n + 1) - 1)
    raise ValueError(f"init={init!r} must be one of {INITS}")


class S4D(nn.Module):
    """Diagonal SSM over ``(B, L, H)`` sequences, one independent SSM per channel."""

    def __init__(
        self,
        *,
        d_model: int,
        d_state: int = 64,
        init: str = "lin",
        dt_min: float = 1e-3,
        dt_max: float = 1e-1,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        if d_state < 2 or d_state % 2:
            raise ValueError(f"d_state={d_state} must be an even number >= 2 (modes come in conjugate pairs)")
        if not 0 < dt_min <= dt_max:
            raise ValueError(f"dt_min={dt_min}, dt_max={dt_max} must satisfy 0 < dt_min <= dt_max")
        if init not in INITS:
            raise ValueError(f"init={init!r} must be one of {INITS}")
        modes = d_state // 2
        u = torch.rand(d_model, generator=generator)
        self.log_dt = nn.Parameter(u * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min))  # (H,)
        self.A_re_log = nn.Parameter(torch.full((d_model, modes), math.log(0.5)))  # (H, N/2)
        self.A_im = nn.Parameter(s4d_imag(modes, init).float().repeat(d_model, 1))  # (H, N/2)
        # C ~ CN(0, 1): real and imaginary parts each N(0, 1/2)
        self.C = nn.Parameter(torch.randn(d_model, modes, 2, generator=generator) * math.sqrt(0.5))  # (H, N/2, 2)
        self.D = nn.Parameter(torch.randn(d_model, generator=generator))  # (H,)

    def discrete(self) -> tuple[Tensor, Tensor, Tensor]:
        """``(Abar, Bbar, C)``, each complex (H, N/2), by zero-order hold."""
        A = torch.complex(-torch.exp(self.A_re_log), self.A_im)  # (H, N/2)
        dtA = A * torch.exp(self.log_dt)[:, None]  # (H, N/2)
        Abar = torch.exp(dtA)
        return Abar, (Abar - 1) / A, torch.view_as_complex(self.C)

    def kernel(self, length: int) -> Tensor:
        """The convolution kernel ``K`` (H, length)."""
        Abar, Bbar, C = self.discrete()
        powers = torch.exp(torch.log(Abar)[..., None] * torch.arange(length, device=Abar.device))  # (H, N/2, L)
        return 2 * torch.einsum("hn,hnl->hl", C * Bbar, powers).real  # (H, N/2) x (H, N/2, L) -> (H, L)

    def forward(self, x: Tensor) -> Tensor:
        """Convolution mode: ``x`` (B, L, H) -> (B, L, H), through an FFT of length 2L (no wrap-around)."""
        length = x.shape[1]
        k = self.kernel(length)  # (H, L)
        u = x.transpose(1, 2)  # (B, L, H) -> (B, H, L)
        y = torch.fft.irfft(torch.fft.rfft(u, n=2 * length) * torch.fft.rfft(k, n=2 * length), n=2 * length)
        y = y[..., :length] + self.D[:, None] * u  # (B, H, L)
        return y.transpose(1, 2)  # (B, H, L) -> (B, L, H)

    def init_state(self, batch: int) -> Tensor:
        """Zero state for recurrent mode: complex (B, H, N/2)."""
        dtype = torch.complex128 if self.C.dtype == torch.float64 else torch.complex64
        return torch.zeros(batch, *self.A_im.shape, dtype=dtype, device=self.C.device)

    def step(self, x_t: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        """Recurrent mode, one step: ``x_t`` (B, H) -> ``(y_t (B, H), state (B, H, N/2))``."""
        Abar, Bbar, C = self.discrete()
        state = Abar * state + Bbar * x_t[..., None]  # (B, H, N/2)
        y = 2 * (state * C).sum(-1).real + self.D * x_t  # (B, H)
        return y, state

    def forward_recurrent(self, x: Tensor) -> Tensor:
        """Recurrent mode over a whole sequence (B, L, H), step by step; equals :meth:`forward`."""
        state = self.init_state(x.shape[0])
        ys = []
        for t in range(x.shape[1]):
            y, state = self.step(x[:, t], state)
            ys.append(y)
        return torch.stack(ys, dim=1)  # (B, L, H)
