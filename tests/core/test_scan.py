"""The selective scan: fast paths (compiled kernel, chunked torch scan) == sequential reference, values and
gradients; the choice of path by device; the mapping onto mamba_ssm's kernel."""

import functools
import itertools
from types import SimpleNamespace

import pytest
import torch

from archlab.core import scan, scan_kernel
from archlab.core.scan import selective_scan, selective_scan_ref
from archlab.lab.measure import torch_threads

# (batch, dim, state, length): one step, shorter than a checkpoint chunk, across several chunks, ragged; the
# kernel has compiled-in state sizes 8, 16, 32, 64 and a generic path (1, 4, 7)
SHAPES = [(1, 1, 1, 1), (2, 3, 4, 17), (2, 5, 16, 2 * scan_kernel.CHUNK + 3), (3, 2, 7, scan_kernel.CHUNK),
          (2, 2, 8, 9), (1, 3, 32, 5), (1, 2, 64, scan_kernel.CHUNK + 1)]


def make_inputs(batch, dim, state, length, *, dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)

    def randn(*shape):
        return torch.randn(*shape, generator=g, dtype=dtype)

    return {
        "u": randn(batch, dim, length),
        "delta": randn(batch, dim, length) * 0.5,
        "A": -torch.rand(dim, state, generator=g, dtype=dtype) * 3,
        "B": randn(batch, state, length),
        "C": randn(batch, state, length),
        "D": randn(dim),
        "z": randn(batch, dim, length),
        "delta_bias": randn(dim),
    }


def run_both(inputs, *, with_d, with_z, with_bias, softplus, fast=selective_scan):
    """Outputs, last states and gradients of every tensor input, for the fast path and the reference."""
    results = []
    for fn in (fast, selective_scan_ref):
        args = {k: v.clone() for k, v in inputs.items()}
        if not softplus:  # keep delta + delta_bias positive so that the recurrence is stable
            args["delta"], args["delta_bias"] = args["delta"].abs(), args["delta_bias"].abs()
        args = {k: v.requires_grad_(True) for k, v in args.items()}
        kwargs = {"D": args["D"] if with_d else None, "z": args["z"] if with_z else None}
        kwargs["delta_bias"] = args["delta_bias"] if with_bias else None
        y, last = fn(
            args["u"], args["delta"], args["A"], args["B"], args["C"], **kwargs,
            delta_softplus=softplus, return_last_state=True,
        )
        weights = torch.linspace(-1, 1, y.shape[-1], dtype=y.dtype) if y.shape[-1] > 1 else torch.ones(1, dtype=y.dtype)
        loss = (y * weights).sum() + (last**2).sum()  # gradients through both outputs
        used = {k: v for k, v in args.items() if k not in kwargs or kwargs[k] is not None}
        grads = torch.autograd.grad(loss, list(used.values()))
        results.append((y, last, dict(zip(used, grads))))
    return results


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("with_d,with_z,with_bias,softplus", list(itertools.product([False, True], repeat=4))[::3])
def test_fast_equals_reference_float64(shape, with_d, with_z, with_bias, softplus):
    (y, last, grads), (y_ref, last_ref, grads_ref) = run_both(
        make_inputs(*shape), with_d=with_d, with_z=with_z, with_bias=with_bias, softplus=softplus
    )
    torch.testing.assert_close(y, y_ref, rtol=0, atol=1e-10)
    torch.testing.assert_close(last, last_ref, rtol=0, atol=1e-10)
    assert grads.keys() == grads_ref.keys()
    for name in grads:
        torch.testing.assert_close(grads[name], grads_ref[name], rtol=0, atol=1e-8, msg=name)


def test_all_options_and_two_threads():
    """Every option on, with two threads: the per-thread accumulators of dB and dC must add up."""
    with torch_threads(2):
        (y, last, grads), (y_ref, last_ref, grads_ref) = run_both(
            make_inputs(2, 6, 5, 150, seed=1), with_d=True, with_z=True, with_bias=True, softplus=True
        )
    torch.testing.assert_close(y, y_ref, rtol=0, atol=1e-10)
    for name in grads:
        torch.testing.assert_close(grads[name], grads_ref[name], rtol=0, atol=1e-8, msg=name)


def test_float32_forward_close_and_dtypes():
    inputs = make_inputs(2, 4, 8, 100, dtype=torch.float32)
    args = [inputs[k] for k in ("u", "delta", "A", "B", "C", "D", "z", "delta_bias")]
    y = selective_scan(*args, delta_softplus=True)
    y_ref = selective_scan_ref(*args, delta_softplus=True)
    assert y.dtype == torch.float32
    torch.testing.assert_close(y, y_ref, rtol=1e-5, atol=1e-5)
    y_bf16 = selective_scan(*[a.bfloat16() for a in args], delta_softplus=True)
    assert y_bf16.dtype == torch.bfloat16
    torch.testing.assert_close(y_bf16.float(), y_ref, rtol=0.05, atol=0.05)


def test_large_delta_is_stable():
    """A decay of exp(-1000) per step underflows to 0 rather than producing inf or nan."""
    inputs = make_inputs(1, 2, 3, 40)
    inputs["delta"] = inputs["delta"].abs() * 1000
    y = selective_scan(inputs["u"], inputs["delta"], inputs["A"], inputs["B"], inputs["C"])
    assert torch.isfinite(y).all()
    torch.testing.assert_close(y, selective_scan_ref(inputs["u"], inputs["delta"], inputs["A"], inputs["B"], inputs["C"]))


def test_fallback_without_kernel_equals_reference(monkeypatch):
    inputs = make_inputs(2, 3, 4, 20)
    args = [inputs[k] for k in ("u", "delta", "A", "B", "C", "D", "z")]
    expected = selective_scan(*args)
    monkeypatch.setattr(scan_kernel, "load", lambda: None)
    torch.testing.assert_close(selective_scan(*args), expected, rtol=0, atol=1e-10)


def test_kernel_builds_here():
    """The machine that runs the tests has a compiler; the fast path must not silently fall back."""
    assert scan_kernel.load() is not None


def test_matches_transformers_fallback():
    modeling_mamba = pytest.importorskip("transformers.models.mamba.modeling_mamba")
    inputs = make_inputs(2, 4, 6, 30, dtype=torch.float32)
    args = [inputs[k] for k in ("u", "delta", "A", "B", "C", "D", "z", "delta_bias")]
    y, last = selective_scan(*args, delta_softplus=True, return_last_state=True)
    y_hf, last_hf = modeling_mamba.mamba_selective_scan(*args, delta_softplus=True, return_last_state=True)
    torch.testing.assert_close(y, y_hf, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(last, last_hf, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "name,shape", [("A", (4, 3)), ("B", (2, 5, 10)), ("C", (2, 4, 9)), ("delta", (2, 3, 11)), ("D", (4,))]
)
def test_bad_shapes_raise(name, shape):
    inputs = make_inputs(2, 3, 4, 10)
    inputs[name] = torch.zeros(shape, dtype=torch.float64)
    with pytest.raises(ValueError, match=name):
        selective_scan(inputs["u"], inputs["delta"], inputs["A"], inputs["B"], inputs["C"], D=inputs["D"])


def assert_close_to_scale(actual, expected, tol=1e-5, msg=""):
    """``max |actual - expected| <= tol * max(1, max |expected|)``: float32 rounding grows with the size of the
    sums (a gradient of A sums B * L terms), and the float32 reference itself differs from a float64 run by
    that much, so elementwise relative tolerances would test the reference's rounding, not the scan."""
    assert actual.shape == expected.shape and actual.dtype == expected.dtype, msg
    error, scale = (actual - expected).abs().max().item(), max(1.0, expected.abs().max().item())
    assert error <= tol * scale, f"{msg}: max difference {error:.3g} > {tol} * {scale:.3g}"


def chunked(chunk_size):
    return functools.partial(selective_scan, path="chunked", chunk_size=chunk_size)


# (batch, dim, state, length, chunk size): one step; lengths not divisible by the chunk; a chunk longer than
# the sequence; chunks of one step; several state sizes
CHUNKED_CASES = [(1, 1, 1, 1, 16), (2, 3, 4, 17, 4), (2, 5, 16, 50, 16), (3, 2, 7, 64, 16), (1, 3, 32, 5, 64),
                 (2, 2, 8, 9, 1), (1, 2, 64, 33, 8)]


@pytest.mark.parametrize("case", CHUNKED_CASES)
@pytest.mark.parametrize("with_d,with_z,with_bias,softplus", [(True, True, True, True), (False, False, False, False),
                                                               (True, False, True, False), (False, True, False, True)])
def test_chunked_equals_reference_float32(case, with_d, with_z, with_bias, softplus):
    *shape, chunk_size = case
    (y, last, grads), (y_ref, last_ref, grads_ref) = run_both(
        make_inputs(*shape, dtype=torch.float32), with_d=with_d, with_z=with_z, with_bias=with_bias,
        softplus=softplus, fast=chunked(chunk_size),
    )
    assert_close_to_scale(y, y_ref, msg="y")
    assert_close_to_scale(last, last_ref, msg="last state")
    assert grads.keys() == grads_ref.keys() and len(grads) == 5 + with_d + with_z + with_bias
    for name in grads:
        assert_close_to_scale(grads[name], grads_ref[name], msg=name)


@pytest.mark.parametrize("case", CHUNKED_CASES)
def test_chunked_equals_reference_float64(case):
    *shape, chunk_size = case
    (y, last, grads), (y_ref, last_ref, grads_ref) = run_both(
        make_inputs(*shape), with_d=True, with_z=True, with_bias=True, softplus=True, fast=chunked(chunk_size)
    )
    torch.testing.assert_close(y, y_ref, rtol=0, atol=1e-10)
    torch.testing.assert_close(last, last_ref, rtol=0, atol=1e-10)
    for name in grads:
        torch.testing.assert_close(grads[name], grads_ref[name], rtol=0, atol=1e-8, msg=name)


def test_chunked_large_delta_is_stable():
    """Decays of exp(-1000) per step: the masked differences above the diagonal (exp(+3000) unmasked) never
    reach exp, so values and gradients stay finite and equal the reference."""
    inputs = {k: v.float() for k, v in make_inputs(1, 2, 3, 40).items()}
    inputs["delta"] = inputs["delta"].abs() * 1000
    (y, last, grads), (y_ref, last_ref, grads_ref) = run_both(
        inputs, with_d=False, with_z=False, with_bias=False, softplus=False, fast=chunked(16)
    )
    assert all(torch.isfinite(g).all() for g in grads.values())
    assert_close_to_scale(y, y_ref, msg="y")
    assert_close_to_scale(last, last_ref, msg="last state")
    for name in grads:
        assert_close_to_scale(grads[name], grads_ref[name], msg=name)


def test_chunked_keeps_half_precision_dtype():
    inputs = make_inputs(2, 4, 8, 40, dtype=torch.float32)
    args = [inputs[k] for k in ("u", "delta", "A", "B", "C", "D", "z", "delta_bias")]
    y, last = selective_scan(*[a.bfloat16() for a in args], delta_softplus=True, return_last_state=True, path="chunked")
    y_ref, last_ref = selective_scan_ref(*args, delta_softplus=True, return_last_state=True)
    assert y.dtype == last.dtype == torch.bfloat16
    torch.testing.assert_close(y.float(), y_ref, rtol=0.05, atol=0.05)
    torch.testing.assert_close(last.float(), last_ref, rtol=0.05, atol=0.05)


def fake_tensor(device, dtype=torch.float32):
    """What the path choice reads of a tensor (a CUDA tensor cannot be made on a machine without a GPU)."""
    return SimpleNamespace(device=torch.device(device), dtype=dtype, is_floating_point=lambda: dtype.is_floating_point)


def test_auto_path_by_device(monkeypatch):
    monkeypatch.setattr(scan, "_mamba_ssm_scan_fn", lambda: None)
    assert scan.auto_path(torch.zeros(1), False) == "kernel"
    assert scan.auto_path(fake_tensor("cuda"), False) == "chunked"  # no mamba_ssm
    assert scan.auto_path(fake_tensor("mps"), False) == "chunked"
    monkeypatch.setattr(scan, "_mamba_ssm_scan_fn", lambda: selective_scan_ref)
    assert scan.auto_path(fake_tensor("cuda"), False) == "mamba_ssm"
    assert scan.auto_path(fake_tensor("cuda", torch.bfloat16), False) == "mamba_ssm"
    assert scan.auto_path(fake_tensor("cuda", torch.float64), False) == "chunked"  # its kernel takes no float64
    assert scan.auto_path(fake_tensor("cuda"), True) == "chunked"  # it passes no gradient through the last state
    assert scan.auto_path(fake_tensor("xpu"), False) == "chunked"
    monkeypatch.setattr(scan_kernel, "load", lambda: None)
    assert scan.auto_path(torch.zeros(1), False) == "reference"  # on CPU the loop beats the chunked scan


def test_auto_path_on_meta_device_runs_chunked(monkeypatch):
    """A non-CPU device goes through the chunked scan, not the loop over time."""
    calls = []
    monkeypatch.setattr(scan, "chunked_scan", lambda *a, **k: calls.append(k) or (a[0], a[0][..., 0, None]))
    inputs = {k: v.to("meta") for k, v in make_inputs(2, 3, 4, 10).items()}
    selective_scan(inputs["u"], inputs["delta"], inputs["A"], inputs["B"], inputs["C"], chunk_size=4)
    assert calls == [{"chunk_size": 4}]


def fake_selective_scan_fn(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False,
                           return_last_state=False):
    """mamba_ssm's selective_scan_fn as documented, with its kernel's dtype checks, computed by the reference."""
    assert u.dim() == 3 and B.shape == C.shape == (u.shape[0], A.shape[1], u.shape[2])
    assert delta.dtype == B.dtype == C.dtype == u.dtype and (z is None or z.dtype == u.dtype)
    assert A.dtype == torch.float32 and all(t is None or t.dtype == torch.float32 for t in (D, delta_bias))
    f = [None if t is None else t.float() for t in (u, delta, B, C, z)]
    y, last = selective_scan_ref(f[0], f[1], A, f[2], f[3], D, f[4], delta_bias, delta_softplus, True)
    return (y.to(u.dtype), last) if return_last_state else y.to(u.dtype)  # its last state is float32


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_mamba_ssm_mapping(monkeypatch, dtype):
    monkeypatch.setattr(scan, "_mamba_ssm_scan_fn", lambda: fake_selective_scan_fn)
    inputs = make_inputs(2, 4, 6, 30, dtype=torch.float32)
    args = [inputs[k] for k in ("u", "delta", "A", "B", "C", "D", "z", "delta_bias")]
    mixed = [a.to(dtype) for a in args]  # A, D, delta_bias too: the mapping must hand them over in float32
    y, last = scan._mamba_ssm_scan(*mixed, delta_softplus=True)
    y_ref, last_ref = selective_scan_ref(*[a.float() for a in mixed], delta_softplus=True, return_last_state=True)
    assert y.dtype == last.dtype == dtype  # the float32 last state is cast back to the inputs' dtype
    torch.testing.assert_close(y, y_ref.to(dtype), rtol=0, atol=0)
    torch.testing.assert_close(last, last_ref.to(dtype), rtol=0, atol=0)


@pytest.mark.parametrize("kwargs,match", [({"path": "gpu"}, "path='gpu'"), ({"path": "mamba_ssm"}, "mamba_ssm"),
                                          ({"path": "chunked", "chunk_size": 0}, "chunk_size=0")])
def test_bad_path_or_chunk_size_raises(kwargs, match):
    inputs = make_inputs(1, 2, 3, 5)
    with pytest.raises(ValueError, match=match):
        selective_scan(inputs["u"], inputs["delta"], inputs["A"], inputs["B"], inputs["C"], **kwargs)
