import shutil

import pytest


@pytest.fixture(params=["kernel", "step-kernel", "torch-ops"])
def pointwise(request, monkeypatch):
    """Each test of a fused path runs with the compiled kernels of the module its test file names as
    ``POINTWISE_KERNEL`` (skipped where they cannot be built): ``kernel`` as chosen (for the LSTM in float32 the
    whole compiled time loop), ``step-kernel`` with only the compiled pointwise step (the path without MKL; skipped
    for a module that has no compiled loop), and ``torch-ops``, the PyTorch-ops fallback."""
    kernel_module = request.module.POINTWISE_KERNEL
    if request.param != "torch-ops" and (shutil.which("g++") is None or kernel_module.load() is None):
        pytest.skip(f"no compiled {kernel_module.__name__} on this machine")
    if request.param == "step-kernel":
        if not hasattr(kernel_module, "sequence_for"):
            pytest.skip(f"{kernel_module.__name__} has no compiled time loop")
        monkeypatch.setattr(kernel_module, "sequence_for", lambda t: None)
    if request.param == "torch-ops":
        monkeypatch.setattr(kernel_module, "kernels_for", lambda t: None)
    return request.param
