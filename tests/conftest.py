"""Every test runs with one intra-op thread (the previous count is restored afterwards) and closes the
matplotlib figures it left open (a claim's figure lives in its ``Evidence``). ``fake_families`` writes family
packages that archlab discovers by convention (``archlab.families``) for the length of one test.

Test tensors are tiny: threads gain nothing on them, and on a busy 2-core machine the thread pool's waiting
makes them several times slower. Claims that compare timings set their own thread count inside.

``precision="auto"`` picks bf16 on a CPU with bf16 matrix units (``archlab.train.precision``); tests see a CPU
without them, so a run's numbers do not depend on the machine the suite runs on (the precision tests pass their
own flags).
"""

import sys

import matplotlib

matplotlib.use("Agg")

import archlab  # noqa: E402  (before torch: it sets OpenMP's wait policy, see archlab/__init__.py)
import matplotlib.pyplot as plt  # noqa: E402
import pytest
import torch


@pytest.fixture(autouse=True)
def _single_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def _float32_auto_precision(monkeypatch):
    from archlab.train import precision

    monkeypatch.setattr(precision, "_cpuinfo_flags", lambda: frozenset())


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture
def fake_families(tmp_path, monkeypatch):
    """``make({"alpha": {"recipes": SOURCE, ...}})`` writes packages ``archlab.alpha`` (its modules the given
    sources) under ``tmp_path`` and puts them on archlab's path; on exit they are gone, from sys.modules too."""
    made: list[str] = []

    def make(packages: dict[str, dict[str, str]]) -> None:
        for name, modules in packages.items():
            folder = tmp_path / "families" / name
            folder.mkdir(parents=True)
            (folder / "__init__.py").write_text("")
            for module, source in modules.items():
                (folder / f"{module}.py").write_text(source)
            made.append(name)

    monkeypatch.setattr(archlab, "__path__", [*archlab.__path__, str(tmp_path / "families")])
    yield make
    for name in list(sys.modules):
        if any(name == f"archlab.{m}" or name.startswith(f"archlab.{m}.") for m in made):
            del sys.modules[name]
