"""Selective scan: the linear recurrence of Mamba's S6 layer (Gu and Dao 2023, "Mamba", Alg. 2).

Layout follows mamba_ssm's ``selective_scan_fn``: ``u``, ``delta``, ``z``: (B, D, L); ``A``: (D, N);
``B``, ``C``: (B, N, L) (input-dependent, shared across channels); output (B, D, L); last state (B, D, N).

    h_t = exp(delta_t * A) * h_{t-1} + delta_t * B_t * u_t     (zero-order hold on A, Euler on B)
    y_t = <C_t, h_t> + D * u_t
    y  *= silu(z)

``delta`` is ``delta + delta_bias`` then ``softplus`` when asked, before everything else.

:func:`selective_scan` picks a fast path by device (``path="auto"``): on CPU the compiled kernel of
:mod:`archlab.core.scan_kernel`; on CUDA, when the ``mamba_ssm`` package is importable, its
``selective_scan_fn``; anywhere else the chunked scan of :mod:`archlab.core.scan_chunked` in plain PyTorch.
"""

from __future__ import annotations

import functools
import importlib
import logging
from typing import Callable, Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from archlab.core import scan_kernel
from archlab.core.scan_chunked import CHUNK_SIZE, chunked_scan

logger = logging.getLogger(__name__)

ScanPath = Literal["auto", "kernel", "mamba_ssm", "chunked", "reference"]
SCAN_PATHS = ("auto", "kernel", "mamba_ssm", "chunked", "reference")
MAMBA_SSM_DTYPES = (torch.float32, torch.float16, torch.bfloat16)  # the input dtypes its CUDA kernel takes


def _prepare_delta(delta: Tensor, delta_bias: Tensor | None, delta_softplus: bool) -> Tensor:
    if delta_bias is not None:
        delta = delta + delta_bias[None, :, None]  # (B, D, L) + (1, D, 1)
    if delta_softplus:
        delta = F.softplus(delta)
    return delta


def _sequential(u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor) -> tuple[Tensor, Tensor]:
    """The recurrence one time step at a time: ``y`` (B, D, L) and the last state (B, D, N)."""
    batch, dim, length = u.shape
    h = u.new_zeros(batch, dim, A.shape[1])  # (B, D, N)
    ys = []
    for t in range(length):
        decay = torch.exp(delta[:, :, t, None] * A)  # (B, D, 1) * (D, N) -> (B, D, N)
        h = decay * h + delta[:, :, t, None] * B[:, None, :, t] * u[:, :, t, None]  # (B, D, N)
        ys.append((h * C[:, None, :, t]).sum(-1))  # (B, D)
    return torch.stack(ys, dim=-1), h  # (B, D, L), (B, D, N)


def _scan_in_torch(
    recurrence: Callable[[Tensor, Tensor, Tensor, Tensor, Tensor], tuple[Tensor, Tensor]],
    u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Tensor | None, z: Tensor | None,
    delta_bias: Tensor | None, delta_softplus: bool, return_last_state: bool,
) -> Tensor | tuple[Tensor, Tensor]:
    """The options around a recurrence ``(u, delta, A, B, C) -> (y, last state)``: delta's bias and
    softplus before it, the skip ``D u`` and the gate ``silu(z)`` after it."""
    y, h = recurrence(u, _prepare_delta(delta, delta_bias, delta_softplus), A, B, C)
    if D is not None:
        y = y + D[None, :, None] * u  # (B, D, L) + (1, D, 1) * (B, D, L)
    if z is not None:
        y = y * F.silu(z)
    return (y, h) if return_last_state else y


def selective_scan_ref(
    u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Tensor | None = None, z: Tensor | None = None,
    delta_bias: Tensor | None = None, delta_softplus: bool = False, return_last_state: bool = False,
) -> Tensor | tuple[Tensor, Tensor]:
    """The plain sequential recurrence, one time step at a time (readable, slow)."""
    return _scan_in_torch(_sequential, u, delta, A, B, C, D, z, delta_bias, delta_softplus, return_last_state)


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


@functools.lru_cache(maxsize=1)
def _mamba_ssm_scan_fn() -> Callable | None:
    """``mamba_ssm``'s ``selective_scan_fn`` (imported on first use), or None when it is not installed."""
    try:
        return importlib.import_module("mamba_ssm.ops.selective_scan_interface").selective_scan_fn
    except ImportError as err:
        logger.debug("mamba_ssm is not importable (%s); CUDA scans use the chunked PyTorch scan", err)
        return None


def auto_path(u: Tensor, wants_last_state_gradient: bool = False) -> str:
    """The fast path for ``u``'s device: on CPU ``kernel`` (``reference`` when it cannot be built); on CUDA
    ``mamba_ssm`` where it applies; else ``chunked``.

    ``mamba_ssm`` does not pass a gradient through the last state, so a differentiable last state takes
    the chunked scan; its kernel also takes no float64.
    """
    if u.device.type == "cpu":
        # Without the kernel the loop over time beats the chunked scan on CPU, whose (Q, Q) pairs cost Q times
        # the loop's arithmetic (ssm-scan configuration, one thread, forward: 1.7 s against 12 s at Q = 16).
        return "kernel" if u.is_floating_point() and scan_kernel.load() is not None else "reference"
    if (
        u.device.type == "cuda"
        and u.dtype in MAMBA_SSM_DTYPES
        and not wants_last_state_gradient
        and _mamba_ssm_scan_fn() is not None
    ):
        return "mamba_ssm"
    return "chunked"


def _kernel_scan(
    u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Tensor | None, z: Tensor | None,
    delta_bias: Tensor | None, delta_softplus: bool,
) -> tuple[Tensor, Tensor]:
    """The compiled CPU kernel in float32/float64 (other float dtypes computed in float32, cast back)."""
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
    return y.to(u.dtype), last.to(u.dtype)


def _mamba_ssm_scan(
    u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Tensor | None, z: Tensor | None,
    delta_bias: Tensor | None, delta_softplus: bool,
) -> tuple[Tensor, Tensor]:
    """``mamba_ssm.ops.selective_scan_interface.selective_scan_fn`` on our arguments.

    Its layout is ours: ``u``, ``delta``, ``z`` (B, D, L); ``B``, ``C`` (B, N, L) (input-dependent, one
    group); ``A`` (D, N); ``D``, ``delta_bias`` (D,); it returns (B, D, L) and a (B, D, N) last state. Its
    kernel wants ``delta``, ``B``, ``C``, ``z`` in ``u``'s dtype and ``A``, ``D``, ``delta_bias`` in float32
    (its weight type); the last state comes back in float32 and is cast to ``u``'s dtype.
    """
    scan_fn = _mamba_ssm_scan_fn()
    same = [None if t is None else t.to(u.dtype) for t in (delta, B, C, z)]
    weights = [None if t is None else t.float() for t in (A, D, delta_bias)]
    y, last = scan_fn(
        u, same[0], weights[0], same[1], same[2], D=weights[1], z=same[3], delta_bias=weights[2],
        delta_softplus=delta_softplus, return_last_state=True,
    )
    return y, last.to(u.dtype)


def selective_scan(
    u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Tensor | None = None, z: Tensor | None = None,
    delta_bias: Tensor | None = None, delta_softplus: bool = False, return_last_state: bool = False,
    *, path: ScanPath = "auto", chunk_size: int = CHUNK_SIZE,
) -> Tensor | tuple[Tensor, Tensor]:
    """Fast path of :func:`selective_scan_ref`: same arguments, same results, differentiable.

    ``path="auto"`` picks by device: on CPU the compiled kernel of :mod:`archlab.core.scan_kernel` (the
    reference loop when no compiler can build it); on CUDA ``mamba_ssm``'s ``selective_scan_fn`` when that
    package is importable (not for float64, nor when the last state is returned with a gradient: its
    kernel passes none through it); otherwise the chunked PyTorch scan of :mod:`archlab.core.scan_chunked`
    with ``chunk_size`` steps per chunk. ``path`` may name one of them (``"kernel"``, ``"mamba_ssm"``,
    ``"chunked"``, ``"reference"``) to force it.
    """
    _check_shapes(u, delta, A, B, C, D, z)
    if path not in SCAN_PATHS:
        raise ValueError(f"path={path!r} must be one of {', '.join(SCAN_PATHS)}")
    if path == "auto":
        differentiable = torch.is_grad_enabled() and any(
            t is not None and t.requires_grad for t in (u, delta, A, B, C, D, z, delta_bias)
        )
        path = auto_path(u, return_last_state and differentiable)
    if path == "kernel" and (u.device.type != "cpu" or not u.is_floating_point() or scan_kernel.load() is None):
        raise ValueError(f"path='kernel' needs float CPU tensors and a built kernel; got {u.dtype} on {u.device}")
    if path == "mamba_ssm" and (u.device.type != "cuda" or _mamba_ssm_scan_fn() is None):
        raise ValueError(f"path='mamba_ssm' needs CUDA tensors and the mamba_ssm package; got {u.device}")
    if path == "kernel":
        y, last = _kernel_scan(u, delta, A, B, C, D, z, delta_bias, delta_softplus)
    elif path == "mamba_ssm":
        y, last = _mamba_ssm_scan(u, delta, A, B, C, D, z, delta_bias, delta_softplus)
    else:
        recurrence = _sequential if path == "reference" else functools.partial(chunked_scan, chunk_size=chunk_size)
        return _scan_in_torch(recurrence, u, delta, A, B, C, D, z, delta_bias, delta_softplus, return_last_state)
    return (y, last) if return_last_state else y
