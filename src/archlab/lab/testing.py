"""Test support: run code against a private, empty claim registry instead of the families' real claims.

    with isolated_registry(families=("demo",)):
        @claim("demo.tiny", statement=..., source=..., rule=...)
        def tiny(scale, seed): ...
        run_atlas(out=tmp_path)      # runs only demo.tiny

Inside the block ``registry.families()`` is the given tuple and no family's ``claims`` module is imported; on exit
the registry is restored exactly as it was.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from archlab.lab import registry


@contextmanager
def isolated_registry(families: tuple[str, ...] = ("demo",)) -> Iterator[None]:
    saved = (dict(registry._REGISTRY), registry.families, registry.load_all)
    registry._REGISTRY.clear()
    registry.families = lambda: list(families)
    registry.load_all = lambda: None
    try:
        yield
    finally:
        registry._REGISTRY.clear()
        registry._REGISTRY.update(saved[0])
        registry.families, registry.load_all = saved[1], saved[2]


DEMO_FAMILIES = ("demo", "extra")


def register_demo_claims() -> None:
    """Register four small claims over ``DEMO_FAMILIES`` (call inside ``isolated_registry(DEMO_FAMILIES)``):

    - ``demo.noise-mean``: seeded random numbers from torch, NumPy and ``random``; holds; draws a figure;
    - ``demo.fails``: does not hold; no figure;
    - ``demo.raises``: opens a figure, then raises ``RuntimeError("boom")``;
    - ``extra.constant``: holds; draws a figure.
    """
    import random

    import matplotlib.pyplot as plt
    import numpy as np
    import torch

    from archlab.lab.claim import Evidence
    from archlab.lab.registry import claim

    @claim(
        "demo.noise-mean",
        statement="The mean of 1000 standard normal samples is within 0.2 of <zero> & stays there.",
        source="Gauss 1809",
        rule="|mean| < 0.2",
    )
    def noise_mean(scale, seed):
        x = torch.randn(1000)
        mean = x.mean()
        fig, ax = plt.subplots(figsize=(3, 2))
        ax.hist(x.numpy(), bins=20)
        metrics = {"abs_mean": mean.abs(), "numpy_draw": np.random.rand(), "python_draw": random.random()}
        return Evidence(metrics=metrics, holds=bool(mean.abs() < 0.2), figure=fig, key_metric="abs_mean")

    @claim("demo.fails", statement="One is greater than two.", source="nobody [i]in particular[/i]",
           rule="value > 2")
    def fails(scale, seed):
        return Evidence(metrics={"value": 1.0, "ratio": float("inf"), "undefined": np.float32("nan")}, holds=False)

    @claim("demo.raises", statement="This experiment crashes.", source="a bug", rule="never evaluated")
    def raises(scale, seed):
        plt.figure()
        raise RuntimeError("boom")

    @claim("extra.constant", statement="Two plus two is four.", source="arithmetic", rule="value == 4")
    def constant(scale, seed):
        fig, ax = plt.subplots(figsize=(2, 2))
        ax.bar(["2+2"], [4])
        return Evidence(metrics={"value": 4, "scale_is_full": scale.value == "full"}, holds=True, figure=fig)
