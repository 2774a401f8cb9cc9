import shutil

import pytest


@pytest.fixture(params=["kernel", "torch-ops"])
def pointwise(request, monkeypatch):
    """Each test of a fused path runs with the compiled pointwise kernel its module names as ``POINTWISE_KERNEL``
    (skipped where it cannot be built) and with that kernel's PyTorch-ops fallback."""
    kernel_module = request.module.POINTWISE_KERNEL
    if request.param == "kernel":
        if shutil.which("g++") is None or kernel_module.load() is None:
            pytest.skip(f"no compiled {kernel_module.__name__} on this machine")
    else:
        monkeypatch.setattr(kernel_module, "kernels_for", lambda t: None)
    return request.param
