"""The one check every diffusers converter runs first: each named config setting at a value archlab builds."""

from __future__ import annotations

from typing import Any


def refuse(reference: Any, **allowed: Any) -> None:
    """A ``ValueError`` naming the first config setting of ``reference`` (a diffusers model or scheduler) not at
    its allowed value (a tuple: one of several); settings the config lacks are skipped."""
    config, cls = reference.config, type(reference).__name__
    for name, value in allowed.items():
        if name not in config:
            continue
        ok = config[name] in value if isinstance(value, tuple) else config[name] == value
        if not ok:
            raise ValueError(f"{cls} with {name}={config[name]!r} is not supported by archlab (supported: {value!r})")
