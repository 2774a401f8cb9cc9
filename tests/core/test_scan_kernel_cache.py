"""The compiled scan kernel's cache: only the library this source, compiler and flags built is loaded, and a
cache folder that other users may write to is refused."""

from __future__ import annotations

import logging
import os
import shutil

import pytest

from archlab.core import scan_kernel

pytestmark = pytest.mark.skipif(shutil.which("g++") is None, reason="needs a C++ compiler")


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ARCHLAB_CACHE", str(tmp_path))
    monkeypatch.delenv("ARCHLAB_NO_KERNEL", raising=False)
    scan_kernel.load.cache_clear()
    yield tmp_path / "kernels"
    scan_kernel.load.cache_clear()  # later tests load from the usual cache again


def _library(folder):
    (lib,) = folder.glob("selective_scan_*.so")
    return lib


def test_a_library_that_does_not_match_its_record_is_rebuilt(cache):
    assert scan_kernel.load() is not None
    lib = _library(cache)
    built = lib.read_bytes()
    key, digest = lib.with_suffix(".sha256").read_text().split()
    assert len(key) == 64 and lib.name == f"selective_scan_{key[:16]}.so"
    tampered = bytearray(built)
    tampered[len(tampered) // 2] ^= 0xFF  # same size, another library
    swap = lib.with_name("swap")
    swap.write_bytes(bytes(tampered))
    os.replace(swap, lib)  # a new file: the library this process mapped stays intact
    scan_kernel.load.cache_clear()
    assert scan_kernel.load() is not None
    assert lib.read_bytes() != bytes(tampered)
    assert lib.with_suffix(".sha256").read_text().split() == [key, digest]


def test_the_compiler_enters_the_key(cache, monkeypatch):
    assert scan_kernel.load() is not None
    monkeypatch.setenv("CXX", shutil.which("c++") or "c++")
    scan_kernel.load.cache_clear()
    assert scan_kernel.load() is not None
    assert len(list(cache.glob("selective_scan_*.so"))) == 2


def test_a_cache_folder_writable_by_others_is_refused(cache, caplog):
    cache.mkdir(parents=True)
    cache.chmod(0o777)
    with caplog.at_level(logging.WARNING):
        assert scan_kernel.load() is None
    assert "writable by other users" in caplog.text and not list(cache.glob("*.so"))
