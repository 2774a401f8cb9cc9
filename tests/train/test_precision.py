"""precision="auto": bf16 autocast on a CPU with bf16 matrix units (flags injected), float32 without; claims'
quick_fit stays float32; a short bf16 run tracks the float32 run's losses."""

import torch

from archlab.lab.experiment import quick_fit
from archlab.train import precision
from archlab.train.loop import fit
from archlab.train.precision import autocast_dtype, cpu_has_bf16_matmul
from train_toys import make_toy, toy_config

CPU = torch.device("cpu")
SAPPHIRE_RAPIDS = ["fpu", "sse2", "avx2", "avx512f", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8"]
ZEN4 = ["fpu", "avx2", "avx512f", "avx512_bf16"]
AVX2_ONLY = ["fpu", "sse2", "avx", "avx2", "fma"]


def test_detection_from_injected_flags():
    assert cpu_has_bf16_matmul(SAPPHIRE_RAPIDS) and cpu_has_bf16_matmul(ZEN4)
    assert not cpu_has_bf16_matmul(AVX2_ONLY) and not cpu_has_bf16_matmul([])
    assert not cpu_has_bf16_matmul(["amx_tile", "avx512f"])  # tiles without bf16, AVX-512 without bf16


def test_auto_picks_bf16_on_a_cpu_with_bf16_units_only():
    assert autocast_dtype("auto", CPU, cpu_flags=SAPPHIRE_RAPIDS) is torch.bfloat16
    assert autocast_dtype("auto", CPU, cpu_flags=AVX2_ONLY) is None
    assert autocast_dtype("fp32", CPU, cpu_flags=SAPPHIRE_RAPIDS) is None
    assert autocast_dtype("bf16", CPU, cpu_flags=AVX2_ONLY) is torch.bfloat16


READ_FLAGS = precision._cpuinfo_flags  # the real reader; conftest stands a flag-less CPU in for it in tests


def test_cpuinfo_flags_are_read_from_the_flags_line(monkeypatch, tmp_path):
    monkeypatch.setattr(precision, "_cpuinfo_flags", READ_FLAGS)
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nmodel name\t: X\nflags\t\t: fpu avx2 amx_bf16 amx_tile\n\nprocessor\t: 1\n")
    real_path = precision.Path
    monkeypatch.setattr(precision, "Path", lambda p: info if p == "/proc/cpuinfo" else real_path(p))
    precision._cpuinfo_flags.cache_clear()
    try:
        assert precision._cpuinfo_flags() == {"fpu", "avx2", "amx_bf16", "amx_tile"}
        assert cpu_has_bf16_matmul() and autocast_dtype("auto", CPU) is torch.bfloat16
    finally:
        precision._cpuinfo_flags.cache_clear()


def _losses(result):
    return [r["loss"] for r in result.history if "loss" in r]


def _on_a_cpu_with(monkeypatch, flags):
    monkeypatch.setattr(precision, "_cpuinfo_flags", lambda: frozenset(flags))


def test_training_with_auto_follows_the_cpu(monkeypatch):
    fp32 = _losses(fit(make_toy(), toy_config(steps=4, precision="fp32")))
    bf16 = _losses(fit(make_toy(), toy_config(steps=4, precision="bf16")))
    assert fp32 != bf16  # the two precisions are told apart by the losses
    _on_a_cpu_with(monkeypatch, SAPPHIRE_RAPIDS)
    assert _losses(fit(make_toy(), toy_config(steps=4, precision="auto"))) == bf16
    _on_a_cpu_with(monkeypatch, AVX2_ONLY)
    assert _losses(fit(make_toy(), toy_config(steps=4, precision="auto"))) == fp32


def test_quick_fit_of_the_claims_stays_float32_on_a_bf16_cpu(monkeypatch):
    def run(**options):
        fitted = quick_fit(make_toy(), steps=4, lr=1e-2, batch_size=8, seed=0, log_every=1, **options)
        return _losses(fitted)

    fp32 = run()
    _on_a_cpu_with(monkeypatch, SAPPHIRE_RAPIDS)
    assert run() == fp32
    assert run(precision="auto") != fp32  # what the claims would have got from "auto" on such a CPU


def test_bf16_loss_curve_tracks_float32():
    """The mechanism of the issue's 200-step check at toy scale: bf16 autocast's losses within 2% of float32's."""
    fp32 = _losses(fit(make_toy(), toy_config(steps=60, precision="fp32")))
    bf16 = _losses(fit(make_toy(), toy_config(steps=60, precision="bf16")))
    assert len(fp32) == len(bf16) == 60
    window = slice(40, 60)  # the last 20 steps: the curve after warm-up, averaged over batches
    mean32, mean16 = sum(fp32[window]) / 20, sum(bf16[window]) / 20
    assert abs(mean16 - mean32) <= 0.02 * mean32
    assert mean32 < 0.5 * fp32[0]  # the curve falls: the comparison is of a run that learns
