"""The Mamba block: a selective state space model with a gated, convolved input (Gu and Dao 2023, Sec. 3.4).

For an input ``x`` (B, L, D) the block computes (names as in mamba_ssm, paper symbols in brackets)::

    x_in, z   = in_proj(x).chunk(2)                  # two branches of width E = expand * D
    x_c       = silu(causal depthwise conv1d(x_in))  # kernel d_conv
    dt, B, C  = x_proj(x_c).split(R, N, N)           # input-dependent [Delta (rank R), B, C]: the selection
    delta     = softplus(dt_proj(dt))                # [Delta] = tau_Delta(Parameter + s_Delta(x)), Alg. 2
    A         = -exp(A_log)                          # [A], real and negative (S4D-Real)
    y         = selective_scan(x_c, delta, A, B, C, D) * silu(z)
    out       = out_proj(y)

The scan discretises A by zero-order hold and B by the Euler rule ``delta * B`` (the paper's simplification,
Sec. 3.5.2), and ``D`` is the skip connection. Decoding carries a constant-size ``MambaState``: the last
``d_conv - 1`` inputs of the convolution and the SSM state ``h`` (B, E, N); ``step`` consumes one position.

Initialisation follows the paper and mamba_ssm: ``A_log = log(1..N)`` for every channel (S4D-Real,
Gu et al. 2022); ``dt_proj.weight ~ U(-s, s)`` with ``s = dt_scale * R^-0.5``; ``dt_proj.bias`` the inverse
softplus of ``dt ~ LogUniform[dt_min, dt_max]`` (floored at ``dt_init_floor``), so that ``delta`` starts in
that range; ``D = 1``; the rest PyTorch's default (Kaiming-uniform) init.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from archlab.core.scan import selective_scan, selective_scan_ref
from archlab.core.validation import check_at_least, check_choices, check_optional_at_least


@dataclass
class MambaState:
    """Decoding state of one Mamba block: ``conv`` (B, E, d_conv - 1) past conv inputs, ``ssm`` (B, E, N)."""

    conv: torch.Tensor
    ssm: torch.Tensor


class MambaMixer(nn.Module):
    """The Mamba block as a sequence mixer: (B, L, D) -> (B, L, D)."""

    def __init__(
        self,
        *,
        d_model: int,
        d_state: int = 16,
        d_conv: int = 4,
        expand: int = 2,
        dt_rank: int | None = None,
        dt_min: float = 1e-3,
        dt_max: float = 0.1,
        dt_init_floor: float = 1e-4,
        dt_scale: float = 1.0,
        bias: bool = False,
        conv_bias: bool = True,
        scan: Literal["fast", "ref"] = "fast",
    ) -> None:
        super().__init__()
        check_at_least({"d_model": d_model, "d_state": d_state, "d_conv": d_conv, "expand": expand}, 1)
        check_optional_at_least({"dt_rank": dt_rank}, 1, default="ceil(d_model / 16)")
        if not 0 < dt_min <= dt_max:
            raise ValueError(f"dt_min={dt_min} and dt_max={dt_max} must satisfy 0 < dt_min <= dt_max")
        check_choices({"scan": scan}, {"scan": ("fast", "ref")}, quote=True)
        self.d_model, self.d_state, self.d_conv = d_model, d_state, d_conv
        self.d_inner = expand * d_model
        self.dt_rank = math.ceil(d_model / 16) if dt_rank is None else dt_rank
        self.scan = scan
        e, n, r = self.d_inner, d_state, self.dt_rank
        self.in_proj = nn.Linear(d_model, 2 * e, bias=bias)
        self.conv1d = nn.Conv1d(e, e, kernel_size=d_conv, groups=e, padding=d_conv - 1, bias=conv_bias)
        self.x_proj = nn.Linear(e, r + 2 * n, bias=False)
        self.dt_proj = nn.Linear(r, e, bias=True)
        self.A_log = nn.Parameter(torch.log(torch.arange(1, n + 1, dtype=torch.float32)).repeat(e, 1))  # (E, N)
        self.D = nn.Parameter(torch.ones(e))
        self.out_proj = nn.Linear(e, d_model, bias=bias)
        self._init_dt(dt_min=dt_min, dt_max=dt_max, dt_init_floor=dt_init_floor, dt_scale=dt_scale)

    @torch.no_grad()
    def _init_dt(self, *, dt_min: float, dt_max: float, dt_init_floor: float, dt_scale: float) -> None:
        """Gu and Dao 2023 (mamba_ssm ``Mamba.__init__``): delta starts log-uniform in [dt_min, dt_max]."""
        std = self.dt_rank**-0.5 * dt_scale
        nn.init.uniform_(self.dt_proj.weight, -std, std)
        log_dt = torch.rand(self.d_inner) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min)
        dt = log_dt.exp().clamp(min=dt_init_floor)
        self.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))  # inverse softplus: softplus(bias) = dt

    def init_state(self, batch: int, *, dtype: torch.dtype | None = None,
                   device: torch.device | str | None = None) -> MambaState:
        """The zero state of ``batch`` sequences (nothing consumed yet)."""
        dtype = dtype or self.D.dtype
        device = device or self.D.device
        return MambaState(conv=torch.zeros(batch, self.d_inner, self.d_conv - 1, dtype=dtype, device=device),
                          ssm=torch.zeros(batch, self.d_inner, self.d_state, dtype=dtype, device=device))

    def _selection(self, xc: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """From conv outputs (..., E): delta (..., E) after softplus, B and C (..., N)."""
        dt, b, c = self.x_proj(xc).split((self.dt_rank, self.d_state, self.d_state), dim=-1)
        return F.softplus(self.dt_proj(dt)), b, c

    def forward(self, x: torch.Tensor, *, state: MambaState | None = None) -> torch.Tensor:
        """Mix ``x`` (B, L, D) -> (B, L, D). With ``state`` the sequence continues it and it is updated."""
        if x.dim() != 3 or x.shape[-1] != self.d_model:
            raise ValueError(f"Mamba input must be (batch, length, {self.d_model}), got shape {tuple(x.shape)}")
        length = x.shape[1]
        if length == 0:
            return x.new_zeros(x.shape)  # (B, 0, D): nothing to mix, and a state stays as it was
        x_in, z = self.in_proj(x).transpose(1, 2).chunk(2, dim=1)  # (B, L, 2E) -> (B, 2E, L) -> (B, E, L) x 2
        if state is None:
            xc = self.conv1d(x_in)[..., :length]  # (B, E, L + K - 1) -> (B, E, L): causal
        else:
            window = torch.cat((state.conv, x_in), dim=-1)  # (B, E, K - 1 + L)
            xc = F.conv1d(window, self.conv1d.weight, self.conv1d.bias, groups=self.d_inner)  # (B, E, L)
            state.conv = window[..., window.shape[-1] - (self.d_conv - 1):]  # (B, E, K - 1)
        xc = F.silu(xc)
        delta, b, c = self._selection(xc.transpose(1, 2))  # (B, L, E), (B, L, N), (B, L, N)
        delta, b, c = delta.transpose(1, 2), b.transpose(1, 2), c.transpose(1, 2)  # (B, E, L), (B, N, L) x 2
        A = -torch.exp(self.A_log.float())  # (E, N)
        scan = selective_scan if self.scan == "fast" else selective_scan_ref
        y, h_last = scan(xc, delta, A, b, c, D=self.D.float(), z=z, return_last_state=True)  # (B, E, L), (B, E, N)
        if state is not None:
            y, h_last = self._carry_in(state.ssm, y, h_last, delta, A, c, z)
            state.ssm = h_last
        return self.out_proj(y.transpose(1, 2).to(x.dtype))  # (B, E, L) -> (B, L, E) -> (B, L, D)

    @staticmethod
    def _carry_in(h0: torch.Tensor, y: torch.Tensor, h_last: torch.Tensor, delta: torch.Tensor, A: torch.Tensor,
                  c: torch.Tensor, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Add a non-zero initial state ``h0`` (B, E, N) to a scan run from zero: by linearity its part of
        ``h_t`` is ``exp(A * sum_{s<=t} delta_s) * h0``."""
        decay = torch.exp(delta.cumsum(-1)[..., None] * A[:, None, :])  # (B, E, L, 1) * (E, 1, N) -> (B, E, L, N)
        carried = torch.einsum("beln,ben,bnl->bel", decay, h0, c)  # (B, E, L)
        return y + carried * F.silu(z), h_last + decay[:, :, -1] * h0

    def step(self, x: torch.Tensor, state: MambaState) -> tuple[torch.Tensor, MambaState]:
        """One position: ``x`` (B, D) -> (B, D); ``state`` is updated (constant size) and returned."""
        if x.dim() != 2 or x.shape[-1] != self.d_model:
            raise ValueError(f"Mamba step input must be (batch, {self.d_model}), got shape {tuple(x.shape)}")
        x_in, z = self.in_proj(x).chunk(2, dim=-1)  # (B, E) x 2
        window = torch.cat((state.conv, x_in[..., None]), dim=-1)  # (B, E, K)
        xc = (window * self.conv1d.weight[:, 0]).sum(-1)  # (B, E, K) * (E, K) -> (B, E)
        if self.conv1d.bias is not None:
            xc = xc + self.conv1d.bias
        xc = F.silu(xc)
        delta, b, c = self._selection(xc)  # (B, E), (B, N), (B, N)
        A = -torch.exp(self.A_log.float())  # (E, N)
        h = torch.exp(delta[..., None] * A) * state.ssm + delta[..., None] * b[:, None, :] * xc[..., None]  # (B, E, N)
        y = (h * c[:, None, :]).sum(-1) + self.D * xc  # (B, E)
        y = y * F.silu(z)
        state.conv, state.ssm = window[..., 1:], h
        return self.out_proj(y.to(x.dtype)), state
