"""Checkpoints: safetensors and JSON, written atomically, loaded without unpickling anything.

A checkpoint is a folder ``OUT/checkpoints/step-XXXXXXX/`` holding

- ``model.safetensors`` (with ``config.json`` when the model has ``save_pretrained``, so the folder also
  loads with ``from_pretrained``);
- ``optimizer.safetensors``: every optimiser state tensor under ``<player>.<param index>.<name>``; the
  structure (param groups, non-tensor state) lives in ``trainer_state.json``;
- ``task_state.safetensors`` when the task carries state (an RNN's hidden state);
- ``ema.safetensors`` when the run keeps an EMA of the weights (``train.ema_decay > 0``), keyed as the model;
- ``trainer_state.json``: the step, the seed, the data position, the RNG states (Python, NumPy, torch
  CPU and CUDA, as lists of integers), the optimiser structure and the run config;
- ``COMPLETE``: the completeness marker, written last, listing every file with its size and SHA-256.

Writing goes to a temporary sibling folder; every file and the folder are fsynced, then the folder is
renamed into place (atomic on POSIX) and the parent fsynced. A kill at any moment leaves either no
``step-XXXXXXX`` folder or a complete one. Reading verifies every file against the marker (size, then
SHA-256), so a truncated save or a file corrupted later, even at the same size, is refused with a line naming
the file; ``latest_checkpoint`` skips such a folder with a warning and falls back to the newest that verifies.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import re
import shutil
from pathlib import Path
from typing import Any, Callable, Mapping, Optional

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, load_model, save_file
from torch import Tensor, nn

from archlab.data.streams import seed_everything  # noqa: F401 (re-exported: the one seeding of every run)
from archlab.errors import UserError

logger = logging.getLogger(__name__)

FORMAT = "archlab-trainer-state/1"
MARKER = "COMPLETE"
STATE_NAME = "trainer_state.json"
MODEL_NAME = "model.safetensors"
OPTIMIZER_NAME = "optimizer.safetensors"
TASK_STATE_NAME = "task_state.safetensors"
EMA_NAME = "ema.safetensors"
_STEP_DIR = re.compile(r"^step-(\d+)$")


def checkpoint_dir(root: Path, step: int) -> Path:
    return Path(root) / f"step-{step:07d}"


# --- RNG -----------------------------------------------------------------------------------------------


def capture_rng_state() -> dict[str, Any]:
    """Every global RNG state as JSON-able lists."""
    version, internal, gauss = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "python": {"version": version, "internal": list(internal), "gauss_next": gauss},
        "numpy": {"name": name, "keys": keys.tolist(), "pos": int(pos), "has_gauss": int(has_gauss),
                  "cached_gaussian": float(cached)},
        "torch": torch.get_rng_state().tolist(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = [s.tolist() for s in torch.cuda.get_rng_state_all()]
    return state


def restore_rng_state(state: Mapping[str, Any]) -> None:
    py = state["python"]
    random.setstate((py["version"], tuple(py["internal"]), py["gauss_next"]))
    nps = state["numpy"]
    np.random.set_state((nps["name"], np.asarray(nps["keys"], dtype=np.uint32), nps["pos"], nps["has_gauss"],
                         nps["cached_gaussian"]))
    torch.set_rng_state(torch.tensor(state["torch"], dtype=torch.uint8))
    cuda = state.get("cuda")
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all([torch.tensor(s, dtype=torch.uint8) for s in cuda])


# --- optimiser state as flat tensors + JSON structure --------------------------------------------------


def flatten_optimizer(name: str, optimizer: torch.optim.Optimizer) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """``optimizer.state_dict()`` as named tensors plus a JSON-able structure that refers to them."""
    sd = optimizer.state_dict()
    tensors: dict[str, Tensor] = {}
    state: dict[str, dict[str, Any]] = {}
    for index, entries in sd["state"].items():
        state[str(index)] = {}
        for key, value in entries.items():
            if isinstance(value, Tensor):
                tensor_key = f"{name}.{index}.{key}"
                tensors[tensor_key] = value.detach().to("cpu").contiguous()
                state[str(index)][key] = {"tensor": tensor_key}
            else:
                state[str(index)][key] = {"value": value}
    return tensors, {"param_groups": sd["param_groups"], "state": state}


def unflatten_optimizer(structure: Mapping[str, Any], tensors: Mapping[str, Tensor]) -> dict[str, Any]:
    """The ``state_dict`` that ``flatten_optimizer`` took apart."""
    state = {
        int(index): {key: tensors[v["tensor"]] if "tensor" in v else v["value"] for key, v in entries.items()}
        for index, entries in structure["state"].items()
    }
    groups = [{k: tuple(v) if k == "betas" else v for k, v in group.items()} for group in structure["param_groups"]]
    return {"state": state, "param_groups": groups}


# --- writing -------------------------------------------------------------------------------------------


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def save_checkpoint(
    root: Path,
    step: int,
    *,
    write_model: Callable[[Path], None],
    optimizers: Mapping[str, torch.optim.Optimizer],
    task_state: Mapping[str, Tensor],
    extra: Mapping[str, Any],
    ema: Optional[Mapping[str, Tensor]] = None,
) -> Path:
    """Write the checkpoint of ``step`` under ``root`` atomically; return its folder.

    ``write_model(folder)`` writes ``model.safetensors`` (and ``config.json``); ``extra`` is merged into
    ``trainer_state.json`` (seed, data position, run config); ``ema`` is the averaged weights, if kept.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    final = checkpoint_dir(root, step)
    tmp = root / f".tmp-{final.name}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    write_model(tmp)
    optimizer_tensors: dict[str, Tensor] = {}
    structures = {}
    for name, optimizer in optimizers.items():
        tensors, structures[name] = flatten_optimizer(name, optimizer)
        optimizer_tensors.update(tensors)
    save_file(optimizer_tensors, str(tmp / OPTIMIZER_NAME))
    if task_state:
        save_file({k: v.detach().to("cpu").contiguous() for k, v in task_state.items()}, str(tmp / TASK_STATE_NAME))
    if ema is not None:
        save_file({k: v.detach().to("cpu").contiguous() for k, v in ema.items()}, str(tmp / EMA_NAME))
    state = {"format": FORMAT, "step": step, **extra, "rng": capture_rng_state(), "optimizers": structures,
             "has_task_state": bool(task_state), "has_ema": ema is not None}
    (tmp / STATE_NAME).write_text(json.dumps(state) + "\n")
    files = {p.name: {"bytes": p.stat().st_size, "sha256": _sha256(p)} for p in sorted(tmp.iterdir())}
    for name in files:
        _fsync_path(tmp / name)
    (tmp / MARKER).write_text(json.dumps({"step": step, "files": files}, indent=1) + "\n")
    _fsync_path(tmp / MARKER)
    _fsync_path(tmp)
    if final.exists():
        stale = root / f".old-{final.name}-{os.getpid()}"
        os.rename(final, stale)
        shutil.rmtree(stale)
    os.rename(tmp, final)
    _fsync_path(root)
    logger.info("checkpoint written: %s", final)
    return final


def remove_partial_checkpoints(root: Path) -> None:
    """Delete the temporary folders that a killed save left behind."""
    for path in Path(root).glob(".tmp-step-*"):
        shutil.rmtree(path, ignore_errors=True)
    for path in Path(root).glob(".old-step-*"):
        shutil.rmtree(path, ignore_errors=True)


# --- finding and reading -------------------------------------------------------------------------------


def checkpoint_problem(folder: Path) -> Optional[str]:
    """What is wrong with the checkpoint in ``folder``, or None when its marker lists every file with the size
    and SHA-256 that the file has."""
    folder = Path(folder)
    try:
        files = json.loads((folder / MARKER).read_text())["files"]
        expected = {name: (entry["bytes"], entry["sha256"]) for name, entry in files.items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return f"its {MARKER} marker is missing or lists no size and SHA-256 per file"
    for name, (size, sha256) in expected.items():
        path = folder / name
        try:
            if path.stat().st_size != size:
                return f"{name} has {path.stat().st_size} bytes, its marker says {size}"
            if _sha256(path) != sha256:
                return f"{name} does not match the SHA-256 in its marker"
        except OSError:
            return f"{name} is missing or unreadable"
    return None


def is_complete(folder: Path) -> bool:
    """Whether ``folder`` holds every file its marker lists, each with the listed size and SHA-256."""
    return checkpoint_problem(folder) is None


def latest_checkpoint(root: Path) -> Optional[Path]:
    """The complete checkpoint with the highest step under ``root`` (None when there is none)."""
    candidates = []
    if Path(root).is_dir():
        for path in Path(root).iterdir():
            match = _STEP_DIR.match(path.name)
            if match and path.is_dir():
                candidates.append((int(match.group(1)), path))
    for step, path in sorted(candidates, reverse=True):
        problem = checkpoint_problem(path)
        if problem is None:
            return path
        logger.warning("skipping checkpoint %s: %s; falling back to an earlier one", path, problem)
    return None


def read_trainer_state(folder: Path) -> dict[str, Any]:
    """``trainer_state.json`` of a checkpoint, with a one-line ``UserError`` when it is missing or corrupt."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"checkpoint {folder} does not exist")
    problem = checkpoint_problem(folder)
    if problem is not None:
        raise UserError(f"checkpoint {folder} is incomplete or corrupt: {problem}")
    try:
        state = json.loads((folder / STATE_NAME).read_text())
    except (OSError, ValueError) as error:
        raise UserError(f"checkpoint {folder} is corrupt: {STATE_NAME} cannot be read ({error})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise UserError(f"checkpoint {folder} is not an archlab trainer checkpoint ({STATE_NAME} has no {FORMAT!r})")
    return state


def load_checkpoint(
    folder: Path, *, model: nn.Module, optimizers: Mapping[str, torch.optim.Optimizer]
) -> tuple[dict[str, Any], dict[str, Tensor]]:
    """Load weights and optimiser states from ``folder`` into ``model`` and ``optimizers``.

    Returns the trainer state (RNG states not yet applied: see ``restore_rng_state``) and the task state.
    Every failure is a one-line ``UserError`` naming the checkpoint.
    """
    folder = Path(folder)
    state = read_trainer_state(folder)
    try:
        missing, unexpected = load_model(model, str(folder / MODEL_NAME), strict=False,
                                         device=str(next(model.parameters()).device))
        if missing or unexpected:
            raise UserError(f"checkpoint {folder} does not match the model: missing {sorted(missing)[:5]}, "
                            f"unexpected {sorted(unexpected)[:5]}; was it trained with another --arch or --set?")
        tensors = load_file(str(folder / OPTIMIZER_NAME))
        if set(state["optimizers"]) != set(optimizers):
            raise UserError(f"checkpoint {folder} has optimisers {sorted(state['optimizers'])}, "
                            f"the task has {sorted(optimizers)}")
        for name, optimizer in optimizers.items():
            optimizer.load_state_dict(unflatten_optimizer(state["optimizers"][name], tensors))
        task_state = load_file(str(folder / TASK_STATE_NAME)) if state.get("has_task_state") else {}
    except UserError:
        raise
    except (SafetensorError, OSError, RuntimeError, ValueError, KeyError, TypeError) as error:
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise UserError(f"checkpoint {folder} is corrupt or from another model: {message}") from None
    return state, task_state


def load_ema(folder: Path) -> Optional[dict[str, Tensor]]:
    """The EMA weights of the checkpoint in ``folder`` (None when it has none)."""
    folder = Path(folder)
    if not read_trainer_state(folder).get("has_ema"):
        return None
    try:
        return load_file(str(folder / EMA_NAME))
    except (SafetensorError, OSError) as error:
        raise UserError(f"checkpoint {folder} is corrupt: {EMA_NAME} cannot be read ({error})") from None
