"""Byte-level text corpora: the Python standard library's own source files, and users' own text files.

Every byte is a token (``vocab_size`` 256), so no tokenizer is needed and any file can be read. Corpora
are split into train and validation **by file**: a file goes to validation when a stable hash of its
path relative to the corpus root (BLAKE2b, not Python's salted ``hash``) falls below ``val_fraction``.
The split therefore depends neither on file-system order nor on the interpreter's hash seed, and no
file contributes to both splits. Within each split, files are read in the order of a second stable hash,
so a ``max_bytes`` cap takes a spread-out sample of the corpus rather than its alphabetically first
package. A single file is split by its tail: the last ``val_fraction`` of its bytes are validation.

Files are concatenated as they are, with no separator. Nothing is cached on disk. Reading is bounded: with a
``max_bytes`` cap no more than the cap is read from disk (a huge one-line file costs its first bytes only).
Extensions are matched case-insensitively (``txt`` finds ``NOTES.TXT``).
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import sysconfig
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor

from archlab.data.tokens import TokenDataset
from archlab.errors import UserError

logger = logging.getLogger(__name__)

BYTE_VOCAB_SIZE = 256
DEFAULT_EXTENSIONS: tuple[str, ...] = (".txt", ".py", ".md")

_STDLIB_SKIP_DIRS = frozenset({"site-packages", "dist-packages", "__pycache__"})
_STDLIB_TEST_DIRS = frozenset({"test", "tests", "idle_test"})
_STDLIB_SKIP_PREFIXES = ("_sysconfigdata",)  # generated per build: it holds the build machine's paths


def stdlib_corpus(
    *, max_bytes: int | None = 4_000_000, val_fraction: float = 0.05, include_tests: bool = False
) -> TokenDataset:
    """The ``.py`` files of this interpreter's standard library as a byte-level corpus.

    ``max_bytes`` caps train + validation bytes together (``None`` reads every file, about 12 MB on
    CPython 3.11 without tests); ``include_tests`` adds the ``test``/``tests`` packages.
    """
    _check_options(max_bytes=max_bytes, val_fraction=val_fraction)
    root = Path(sysconfig.get_paths()["stdlib"])
    skip_dirs = _STDLIB_SKIP_DIRS if include_tests else _STDLIB_SKIP_DIRS | _STDLIB_TEST_DIRS
    files = [f for f in _find_files(root, (".py",), skip_dirs) if not Path(f).name.startswith(_STDLIB_SKIP_PREFIXES)]
    if len(files) < 2:
        raise UserError(
            f"found {len(files)} .py files under the standard library at {root}; "
            "this Python ships no readable source, so pass your own text with text_corpus(path)"
        )
    return _corpus_from_files(root, files, max_bytes=max_bytes, val_fraction=val_fraction, name="stdlib")


def text_corpus(
    path: str | os.PathLike[str],
    *,
    extensions: str | Sequence[str] = DEFAULT_EXTENSIONS,
    max_bytes: int | None = None,
    val_fraction: float = 0.05,
) -> TokenDataset:
    """A user's text file, or every file with one of ``extensions`` under a folder, as a byte-level corpus.

    A folder is searched recursively, skipping hidden files and folders (``.git``, ``.venv``) and
    ``__pycache__``, and split by file; a single file (or a folder with one matching file) is split by
    its tail. ``extensions`` is a sequence (``(".txt", "md")``) or a comma-separated string (``"txt,md"``);
    a single file is read whatever its extension. ``max_bytes`` caps train + validation bytes together.
    """
    _check_options(max_bytes=max_bytes, val_fraction=val_fraction)
    suffixes = _normalise_extensions(extensions)
    root = Path(path).expanduser()
    if not root.exists():
        raise UserError(
            f"text path {str(root)!r} does not exist; pass an existing text file, "
            f"or a folder holding {', '.join(suffixes)} files"
        )
    if root.is_dir():
        files = _find_files(root, suffixes, frozenset({"__pycache__"}))
        if not files:
            raise UserError(
                f"folder {str(root)!r} holds no files ending in {', '.join(suffixes)}; "
                "pass a folder that does, or choose other extensions"
            )
        if len(files) >= 2:
            return _corpus_from_files(root, files, max_bytes=max_bytes, val_fraction=val_fraction, name=root.name)
        root = root / files[0]
    return _corpus_from_file(root, max_bytes=max_bytes, val_fraction=val_fraction)


def encode_bytes(text: str) -> Tensor:
    """The UTF-8 bytes of ``text`` as a ``(L,)`` long tensor of byte tokens."""
    return torch.tensor(list(text.encode("utf-8")), dtype=torch.long)


def decode_bytes(tokens: Tensor) -> str:
    """Byte tokens (any integer tensor, values 0..255) back to text; invalid UTF-8 becomes U+FFFD."""
    return bytes(tokens.reshape(-1).to(torch.uint8).tolist()).decode("utf-8", errors="replace")


def _check_options(*, max_bytes: int | None, val_fraction: float) -> None:
    if not 0.0 < val_fraction <= 0.5:
        raise ValueError(f"val_fraction={val_fraction} must lie in (0, 0.5]")
    if max_bytes is not None and max_bytes < 4:
        raise ValueError(f"max_bytes={max_bytes} must be None or at least 4 (2 tokens for each split)")


def _normalise_extensions(extensions: str | Sequence[str]) -> tuple[str, ...]:
    if isinstance(extensions, str):
        extensions = extensions.split(",")
    suffixes = tuple(sorted({"." + e.strip().lstrip(".").lower() for e in extensions if e.strip().lstrip(".")}))
    if not suffixes:
        raise ValueError(f"extensions={extensions!r} must name at least one file extension, e.g. ('.txt',)")
    return suffixes


def _find_files(root: Path, suffixes: tuple[str, ...], skip_dirs: frozenset[str]) -> list[str]:
    """Paths (relative to ``root``, '/'-separated) of the non-hidden files ending in ``suffixes``, sorted."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".") and d not in skip_dirs]
        relative_dir = Path(dirpath).relative_to(root)
        found.extend(
            (relative_dir / f).as_posix() for f in filenames if f.lower().endswith(suffixes) and not f.startswith(".")
        )
    return sorted(found)


def _unit_hash(salt: str, relative_path: str) -> float:
    """A stable number in [0, 1) from ``relative_path``; different salts give independent numbers."""
    digest = hashlib.blake2b(f"{salt}:{relative_path}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") / 2.0**64


def _split_files(files: list[str], val_fraction: float) -> tuple[list[str], list[str]]:
    """Train and validation files (at least one each, ``len(files) >= 2``), each in stable-hash order."""
    score = {f: _unit_hash("split", f) for f in files}
    val = [f for f in files if score[f] < val_fraction] or [min(files, key=score.__getitem__)]
    val_set = set(val)
    train = [f for f in files if f not in val_set]
    if not train:
        train = [max(val, key=score.__getitem__)]
        val.remove(train[0])

    def order(f: str) -> float:
        return _unit_hash("order", f)

    return sorted(train, key=order), sorted(val, key=order)


def _read_head(path: Path, limit: int | None) -> bytes:
    """The first ``limit`` bytes of ``path`` (all of it for None), reading no more than that from disk."""
    with open(path, "rb") as f:
        return f.read(-1 if limit is None else limit)


def _read_files(root: Path, files: list[str], cap: int | None) -> bytes:
    """The bytes of ``files`` concatenated in order, reading no more from disk than ``cap`` needs."""
    chunks: list[bytes] = []
    total = 0
    for f in files:
        if cap is not None and total >= cap:
            break
        chunks.append(_read_head(root / f, None if cap is None else cap - total))
        total += len(chunks[-1])
    return b"".join(chunks)


def _to_tokens(data: bytes) -> Tensor:
    return torch.frombuffer(bytearray(data), dtype=torch.uint8)  # (L,) uint8, owning its copy of data


def _corpus_from_files(
    root: Path, files: list[str], *, max_bytes: int | None, val_fraction: float, name: str
) -> TokenDataset:
    train_files, val_files = _split_files(files, val_fraction)
    val_cap = train_cap = None
    if max_bytes is not None:
        val_cap = max(2, int(max_bytes * val_fraction))
        train_cap = max_bytes - val_cap
    train, val = _read_files(root, train_files, train_cap), _read_files(root, val_files, val_cap)
    for split, data, split_files in (("train", train, train_files), ("val", val, val_files)):
        if len(data) < 2:
            raise UserError(
                f"the {split} files under {str(root)!r} ({', '.join(split_files[:3])}, ...) hold {len(data)} bytes; "
                "pass a folder whose files hold some text"
            )
    logger.info(
        "%s corpus split by file into %d train and %d validation files; read %d train and %d validation bytes",
        name, len(train_files), len(val_files), len(train), len(val),
    )
    return TokenDataset(_to_tokens(train), _to_tokens(val), BYTE_VOCAB_SIZE, name=name)


def _corpus_from_file(path: Path, *, max_bytes: int | None, val_fraction: float) -> TokenDataset:
    data = _read_head(path, max_bytes)
    if len(data) < 4:
        raise UserError(f"text file {str(path)!r} holds {len(data)} bytes; pass a file with at least 4 bytes of text")
    n_val = max(2, math.ceil(len(data) * val_fraction))
    logger.info("%s: %d train bytes, %d validation bytes (tail split)", path.name, len(data) - n_val, n_val)
    return TokenDataset(_to_tokens(data[:-n_val]), _to_tokens(data[-n_val:]), BYTE_VOCAB_SIZE, name=path.stem)
