"""The selective scan: fast path (compiled kernel) == sequential reference, values and gradients."""

import itertools

import pytest
import torch

from archlab.core import scan_kernel
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


def run_both(inputs, *, with_d, with_z, with_bias, softplus):
    """Outputs, last states and gradients of every tensor input, for the fast path and the reference."""
    results = []
    for fn in (selective_scan, selective_scan_ref):
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
        weights = torch.linspace(-1, 1, y.shape[-1], dtype=y.dtype)
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
