"""Selective scan: the linear recurrence of Mamba's S6 layer (Gu and Dao 2023, "Mamba", Alg. 2).

Layout follows mamba_ssm's ``selective_scan_fn``: ``u``, ``delta``, ``z``: (B, D, L); ``A``: (D, N);
``B``, ``C``: (B, N, L) (input-dependent, shared across channels); output (B, D, L); last state (B, D, N).

    h_t = exp(delta_t * A) * h_{t-1} + delta_t * B_t * u_t     (zero-order hold on A, Euler on B)
    y_t = <C_t, h_t> + D * u_t
    y  *= silu(z)

``delta`` is ``delta + delta_bias`` then ``softplus`` when asked, before everything else.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from archlab.core import scan_kernel


def _prepare_delta(delta: Tensor, delta_bias: Tensor | None, delta_softplus: bool) -> Tensor:
    if delta_bias is not None:
        delta = delta + delta_bias[None, :, None]  # (B, D, L) + (1, D, 1)
    if delta_softplus:
        delta = F.softplus(delta)
    return delta


def selective_scan_ref(
    u: Tensor,
    delta: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    D: Tensor | None = None,
    z: Tensor | None = None,
    delta_bias: Tensor | None = None,
    delta_softplus: bool = False,
    return_last_state: bool = False,
) -> Tensor | tuple[Tensor, Tensor]:
    """The plain sequential recurrence, one time step at a time (readable, slow)."""
    delta = _prepare_delta(delta, delta_bias, delta_softplus)
    batch, dim, length = u.shape
    h = u.new_zeros(batch, dim, A.shape[1])  # (B, D, N)
    ys = []
    for t in range(length):
        decay = torch.exp(delta[:, :, t, None] * A)  # (B, D, 1) * (D, N) -> (B, D, N)
        h = decay * h + delta[:, :, t, None] * B[:, None, :, t] * u[:, :, t, None]  # (B, D, N)
        ys.append((h * C[:, None, :, t]).sum(-1))  # (B, D)
    y = torch.stack(ys, dim=-1)  # (B, D, L)
    if D is not None:
        y = y + D[None, :, None] * u
    if z is not None:
        y = y * F.silu(z)
    return (y, h) if return_last_state else y


class _KernelScan(torch.autograd.Function):
    """The whole scan ``(u, delta, A, Bt, Ct, D, z, delta_bias) -> (y, last state)`` in the compiled kernel."""

    @staticmethod
    def forward(ctx, u, delta, A, Bt, Ct, D, z, delta_bias, softplus):
        # u, delta, z: (B, D, L); A: (D, N); Bt, Ct: (B, L, N); D, delta_bias: (D,) or None
        lib = scan_kernel.load()
        save = any(ctx.needs_input_grad)
        y, last, ckpt = scan_kernel.forward(lib, u, delta, A, Bt, Ct, D, z, delta_bias, softplus=softplus, save=save)
        if save:
            ctx.save_for_backward(u, delta, A, Bt, Ct, D, z, delta_bias, ckpt)
        ctx.softplus = softplus
        return y, last

    @staticmethod
    def backward(ctx, dy, dlast):
        u, delta, A, Bt, Ct, D, z, delta_bias, ckpt = ctx.saved_tensors
        g = scan_kernel.backward(
            scan_kernel.load(), u, delta, A, Bt, Ct, D, z, delta_bias, ckpt, dy.contiguous(),
            None if dlast is None else dlast.contiguous(), softplus=ctx.softplus,
        )
        return (
            g["du"], g["ddelta"], g["dA"], g["dBt"], g["dCt"],
            None if D is None else g["dD"], g["dz"], None if delta_bias is None else g["ddelta_bias"], None,
        )


def _check_shapes(u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Tensor | None, z: Tensor | None) -> None:
    if u.dim() != 3:
        raise ValueError(f"u.shape={tuple(u.shape)} must be (batch, dim, length)")
    batch, dim, length = u.shape
    if A.dim() != 2 or A.shape[0] != dim:
        raise ValueError(f"A.shape={tuple(A.shape)} must be (dim={dim}, state)")
    state = A.shape[1]
    expected = {"delta": (delta, (batch, dim, length)), "B": (B, (batch, state, length)), "C": (C, (batch, state, length))}
    if z is not None:
        expected["z"] = (z, (batch, dim, length))
    if D is not None:
        expected["D"] = (D, (dim,))
    for name, (tensor, shape) in expected.items():
        if tuple(tensor.shape) != shape:
            raise ValueError(f"{name}.shape={tuple(tensor.shape)} must be {shape} to match u and A")


def selective_scan(
    u: Tensor,
    delta: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    D: Tensor | None = None,
    z: Tensor | None = None,
    delta_bias: Tensor | None = None,
    delta_softplus: bool = False,
    return_last_state: bool = False,
) -> Tensor | tuple[Tensor, Tensor]:
    """Fast path of :func:`selective_scan_ref`: same arguments, same results, differentiable.

    On CPU in float32/float64 the recurrence runs in the compiled kernel of
    :mod:`archlab.core.scan_kernel` (other float dtypes are computed in float32 and cast back); elsewhere,
    or when the kernel cannot be built, it falls back to :func:`selective_scan_ref`.
    """
    _check_shapes(u, delta, A, B, C, D, z)
    if u.device.type != "cpu" or not u.is_floating_point() or scan_kernel.load() is None:
        return selective_scan_ref(u, delta, A, B, C, D, z, delta_bias, delta_softplus, return_last_state)
    dtype = u.dtype if u.dtype in (torch.float32, torch.float64) else torch.float32

    def prepared(t: Tensor | None) -> Tensor | None:
        return None if t is None else t.to(dtype).contiguous()

    y, last = _KernelScan.apply(
        prepared(u),
        prepared(delta),
        prepared(A),
        prepared(B.transpose(1, 2)),  # (B, N, L) -> (B, L, N): one time step's state is contiguous
        prepared(C.transpose(1, 2)),  # (B, N, L) -> (B, L, N)
        prepared(D),
        prepared(z),
        prepared(delta_bias),
        delta_softplus,
    )
    y = y.to(u.dtype)
    return (y, last.to(u.dtype)) if return_last_state else y
