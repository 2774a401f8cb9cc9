"""``save_pretrained`` / ``from_pretrained``: a model as ``config.json`` plus ``model.safetensors``, nothing pickled.

``config.json`` holds the model's class path, the archlab version and its config dataclass as a dict.
Tied weights are stored once (``safetensors.torch.save_model`` deduplicates shared tensors).
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import typing
from pathlib import Path
from typing import Any, TypeVar

import torch
from safetensors import SafetensorError
from safetensors.torch import load_model, save_model
from torch import nn

from archlab.errors import UserError

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"

M = TypeVar("M", bound="PretrainedMixin")


def config_to_dict(config: Any) -> dict[str, Any]:
    """A config dataclass (possibly nested) as a JSON-able dict."""
    if not dataclasses.is_dataclass(config):
        raise TypeError(f"config must be a dataclass instance, got {type(config).__name__}")
    return dataclasses.asdict(config)


def config_from_dict(config_class: type, values: dict[str, Any]) -> Any:
    """Build ``config_class`` from ``values``, recursing into nested dataclass fields; unknown keys are errors."""
    fields = {f.name: f for f in dataclasses.fields(config_class)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise UserError(f"{config_class.__name__} has no field(s) {unknown}; valid fields: {sorted(fields)}")
    hints = typing.get_type_hints(config_class)
    kwargs = {}
    for name, value in values.items():
        hint = hints.get(name)
        if isinstance(value, dict) and dataclasses.is_dataclass(hint):
            value = config_from_dict(hint, value)
        elif isinstance(value, list):
            value = tuple(value) if typing.get_origin(hint) is tuple else value
        kwargs[name] = value
    return config_class(**kwargs)


def _class_path(obj: type) -> str:
    return f"{obj.__module__}:{obj.__qualname__}"


def save_pretrained(model: nn.Module, directory: str | Path) -> Path:
    """Write ``model`` (which has a dataclass ``config``) to ``directory``; return the directory."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    from archlab import __version__

    meta = {"archlab_class": _class_path(type(model)), "archlab_version": __version__,
            "config": config_to_dict(model.config)}
    (directory / CONFIG_NAME).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    save_model(model, str(directory / WEIGHTS_NAME))
    return directory


def read_config(directory: str | Path) -> dict[str, Any]:
    """The parsed ``config.json`` of a saved model, with clear errors for a missing or corrupt one."""
    path = Path(directory) / CONFIG_NAME
    if not Path(directory).is_dir():
        raise UserError(f"no saved model at {directory}: the directory does not exist")
    if not path.is_file():
        raise UserError(f"no {CONFIG_NAME} in {directory}: not a save_pretrained directory")
    try:
        meta = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise UserError(f"{path} is corrupt ({err}); re-save the model") from None
    if not isinstance(meta, dict) or "config" not in meta or "archlab_class" not in meta:
        raise UserError(f"{path} lacks 'archlab_class' or 'config'; it was not written by save_pretrained")
    return meta


def load_weights(model: nn.Module, directory: Path, device: torch.device | str | None) -> None:
    path = directory / WEIGHTS_NAME
    if not path.is_file():
        raise UserError(f"no {WEIGHTS_NAME} in {directory}: the save is incomplete")
    try:
        missing, unexpected = load_model(model, str(path), strict=False, device=str(device or "cpu"))
    except (SafetensorError, OSError, RuntimeError) as err:
        raise UserError(f"{path} could not be loaded ({err}); it is corrupt or from another model") from None
    if missing or unexpected:
        raise UserError(f"{path} does not match the model: missing {sorted(missing)}, unexpected {sorted(unexpected)}")


class PretrainedMixin:
    """Adds ``save_pretrained(dir)`` and ``Class.from_pretrained(dir)``; the class sets ``config_class`` and may
    override ``config_from_saved`` to read the configs of saves written by an older archlab."""

    config_class: type

    def save_pretrained(self, directory: str | Path) -> Path:
        return save_pretrained(self, directory)  # type: ignore[arg-type]

    @classmethod
    def config_from_saved(cls, values: dict[str, Any]) -> Any:
        """The ``config_class`` instance of a saved ``config.json``'s ``config`` object."""
        return config_from_dict(cls.config_class, values)

    @classmethod
    def from_config(cls, config: Any) -> Any:
        """A fresh model of ``config`` (the class's constructor; a model built from parts overrides it)."""
        return cls(config)  # type: ignore[call-arg]

    @classmethod
    def from_pretrained(cls: type[M], directory: str | Path, *, device: torch.device | str | None = None) -> M:
        meta = read_config(directory)
        if meta["archlab_class"] != _class_path(cls):
            raise UserError(f"{directory} holds a {meta['archlab_class']}, not a {_class_path(cls)}")
        if not isinstance(meta["config"], dict):
            raise UserError(f"{Path(directory) / CONFIG_NAME}: 'config' must be an object of config fields")
        try:
            config = cls.config_from_saved(meta["config"])
        except (TypeError, ValueError, UserError) as err:
            raise UserError(f"{Path(directory) / CONFIG_NAME} holds an invalid config: {err}") from None
        try:
            model = cls.from_config(config)  # type: ignore[attr-defined]
        except (RuntimeError, TypeError, OverflowError, MemoryError) as err:  # a size no memory can hold
            first = str(err).splitlines()[0] if str(err) else type(err).__name__
            raise UserError(f"{Path(directory) / CONFIG_NAME} asks for a model that cannot be built ({first}); "
                            "the file is corrupt or was edited") from None
        load_weights(model, Path(directory), device)  # type: ignore[arg-type]
        return model.to(device) if device is not None else model  # type: ignore[attr-defined]


def model_class(path: str, *, where: str) -> type:
    """The archlab model class at ``"archlab.<module>:<Class>"``; anything else is a ``UserError`` that starts
    with ``where``."""
    module_name, _, qualname = path.partition(":")
    if not module_name.startswith("archlab.") or not qualname:
        raise UserError(f"{where} {path!r} is not an archlab model")
    try:
        found = getattr(importlib.import_module(module_name), qualname)
    except (ImportError, AttributeError):
        raise UserError(f"{where} {path!r} does not exist in this archlab") from None
    if not (isinstance(found, type) and issubclass(found, PretrainedMixin)):
        raise UserError(f"{where} {path!r} is not a model class with from_pretrained")
    return found


def load_pretrained(directory: str | Path, *, device: torch.device | str | None = None) -> nn.Module:
    """Load whatever archlab model ``directory`` holds, by the class named in its ``config.json``."""
    meta = read_config(directory)
    cls = model_class(meta["archlab_class"], where=f"{directory}: class")
    return cls.from_pretrained(directory, device=device)
