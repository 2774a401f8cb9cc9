import shutil

import pytest


def pytest_generate_tests(metafunc):
    """Each test of a fused path that takes ``pointwise`` runs once per path of the module its test file names as
    ``POINTWISE_KERNEL``: ``kernel`` (as chosen; for the LSTM in float32 the whole compiled time loop),
    ``step-kernel`` (only the compiled pointwise step: the LSTM's path without MKL; for a module with a compiled
    time loop) and ``torch-ops`` (the PyTorch-ops fallback)."""
    if "pointwise" in metafunc.fixturenames:
        has_loop = hasattr(metafunc.module.POINTWISE_KERNEL, "sequence_for")
        paths = ["kernel", "step-kernel", "torch-ops"] if has_loop else ["kernel", "torch-ops"]
        metafunc.parametrize("pointwise", paths, indirect=True)


@pytest.fixture
def pointwise(request, monkeypatch):
    """The path named by the parameter (``pytest_generate_tests``); the compiled ones are skipped where they
    cannot be built."""
    kernel_module = request.module.POINTWISE_KERNEL
    if request.param != "torch-ops" and (shutil.which("g++") is None or kernel_module.load() is None):
        pytest.skip(f"no compiled {kernel_module.__name__} on this machine")
    if request.param == "step-kernel":
        monkeypatch.setattr(kernel_module, "sequence_for", lambda t: None)
    if request.param == "torch-ops":
        monkeypatch.setattr(kernel_module, "kernels_for", lambda t: None)
    return request.param
