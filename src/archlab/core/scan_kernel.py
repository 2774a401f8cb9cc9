"""A compiled CPU kernel for the selective scan, built at run time with the system C++ compiler.

The kernel runs the recurrence of :func:`archlab.core.scan.selective_scan_ref` one time step at a time,
as the paper's hardware-aware scan does (Gu and Dao 2023, Sec. 3.3.2): the state ``h`` (N numbers per
channel) stays in registers, the (B, D, L, N) tensors ``exp(delta A)`` and ``delta B u`` are never
written to memory, and the N lanes are vectorised. Channels (batch x dim pairs) run in parallel threads.

The backward pass is the reverse scan. Like mamba_ssm it recomputes states rather than storing all
(B, D, L, N) of them: the forward keeps the state at the start of every chunk of ``CHUNK`` steps, and
the backward re-runs each chunk from its checkpoint into a small per-thread buffer, then walks it
backwards accumulating ``g_t = dL/dh_t = C_t dy_t + exp(delta_{t+1} A) g_{t+1}``:

    du_t      = delta_t <g_t, B_t>              dB_t += delta_t u_t g_t   (summed over channels)
    ddelta_t  = <g_t, B_t> u_t + <g_t * h_{t-1} * exp(delta_t A), A>
    dA       += g_t * h_{t-1} * exp(delta_t A) * delta_t                dC_t += dy_t h_t

The source is compiled once per machine into ``$ARCHLAB_CACHE`` (default ``~/.cache/archlab``) with no
PyTorch headers (about a second), and loaded with ``ctypes``. Fast-math is used for the compile step only,
so that ``exp`` vectorises through glibc's libmvec; the link step leaves it out so that loading the
library does not switch the process to flush-denormals-to-zero. When there is no compiler, or compiling
fails, or ``ARCHLAB_NO_KERNEL=1``, :func:`load` returns None and the caller falls back to PyTorch.

Loading code from a cache is loading code: the library's name carries a key hashed from the source, the
compiler, its flags and the CPU, and a record beside it (``.sha256``) holds the full key and the SHA-256 of the
library as built. A library that does not match its record (another build, a corrupted or replaced file) is
rebuilt, and a cache folder that another user owns or may write to is refused (the PyTorch fallback runs).
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import platform
import subprocess
import tempfile
from functools import lru_cache
from pathlib import Path

import torch
from torch import Tensor

logger = logging.getLogger(__name__)

CHUNK = 64  # time steps between saved states; the backward recomputes one chunk at a time

_SOURCE = r"""
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>
#include <omp.h>

// Layouts (all contiguous): u, delta, z, y, du, ddelta, dz, dy: (B, D, L); A: (D, N); D, bias: (D,);
// Bt, Ct: (B, L, N); ckpt: (B, D, n_chunks, N); last, dlast, dA: (B, D, N); dD: (B, D);
// dBt, dCt: (threads, B, L, N). Optional inputs (D, z, bias, dlast) may be null.

struct Dims { int64_t nb, nd, nl, nn, chunk; int softplus, threads; };

// delta_t for one channel: dt[t] = softplus?(delta[t] + bias); gate[t] = silu(z[t]).
template <typename T>
static void prepare_row(const T* delta, const T* z, T bias, int softplus, int64_t nl, T* dt, T* gate) {
    #pragma omp simd
    for (int64_t t = 0; t < nl; ++t) {
        const T x = delta[t] + bias;
        dt[t] = softplus ? (x > T(20) ? x : std::log1p(std::exp(x))) : x;
    }
    if (z != nullptr) {
        #pragma omp simd
        for (int64_t t = 0; t < nl; ++t) gate[t] = z[t] / (T(1) + std::exp(-z[t]));
    }
}

template <typename T, int NN>
static void forward(const T* u, const T* delta, const T* A, const T* Bt, const T* Ct, const T* Dv, const T* z,
                    const T* bias, T* y, T* ckpt, T* last, Dims m) {
    const int64_t nl = m.nl, nn = NN > 0 ? NN : m.nn, nc = (nl + m.chunk - 1) / m.chunk;
    #pragma omp parallel num_threads(m.threads)
    {
        std::vector<T> hv(nn), dtv(nl), gatev(nl);
        #pragma omp for schedule(static)
        for (int64_t bd = 0; bd < m.nb * m.nd; ++bd) {
            const int64_t b = bd / m.nd, d = bd % m.nd;
            const T* ur = u + bd * nl;
            const T* Ar = A + d * nn;
            const T* Bb = Bt + b * nl * nn;
            const T* Cb = Ct + b * nl * nn;
            T* yr = y + bd * nl;
            T* h = hv.data();
            T* dt = dtv.data();
            prepare_row(delta + bd * nl, z ? z + bd * nl : nullptr, bias ? bias[d] : T(0), m.softplus, nl, dt,
                        gatev.data());
            std::fill(hv.begin(), hv.end(), T(0));
            for (int64_t t = 0; t < nl; ++t) {
                if (ckpt != nullptr && t % m.chunk == 0)
                    std::memcpy(ckpt + (bd * nc + t / m.chunk) * nn, h, nn * sizeof(T));
                const T dtt = dt[t], x = dtt * ur[t];
                const T* Bq = Bb + t * nn;
                const T* Cq = Cb + t * nn;
                T acc = 0;
                #pragma omp simd reduction(+:acc)
                for (int64_t n = 0; n < nn; ++n) {
                    h[n] = std::exp(dtt * Ar[n]) * h[n] + x * Bq[n];
                    acc += h[n] * Cq[n];
                }
                yr[t] = acc;
            }
            const T Dd = Dv ? Dv[d] : T(0);
            #pragma omp simd
            for (int64_t t = 0; t < nl; ++t) yr[t] = (yr[t] + Dd * ur[t]) * (z ? gatev[t] : T(1));
            if (last != nullptr) std::memcpy(last + bd * nn, h, nn * sizeof(T));
        }
    }
}

template <typename T, int NN>
static void backward(const T* u, const T* delta, const T* A, const T* Bt, const T* Ct, const T* Dv, const T* z,
                     const T* bias, const T* ckpt, const T* dy, const T* dlast, T* du, T* ddelta, T* dA, T* dBt,
                     T* dCt, T* dD, T* dz, Dims m) {
    const int64_t nl = m.nl, nn = NN > 0 ? NN : m.nn, chunk = m.chunk, nc = (nl + chunk - 1) / chunk;
    #pragma omp parallel num_threads(m.threads)
    {
        const int tid = omp_get_thread_num();
        T* dBth = dBt + tid * m.nb * nl * nn;
        T* dCth = dCt + tid * m.nb * nl * nn;
        std::vector<T> hs((chunk + 1) * nn), as(chunk * nn), gv(nn), dtv(nl), gatev(nl);
        #pragma omp for schedule(static)
        for (int64_t bd = 0; bd < m.nb * m.nd; ++bd) {
            const int64_t b = bd / m.nd, d = bd % m.nd;
            const T* ur = u + bd * nl;
            const T* dr = delta + bd * nl;
            const T* zr = z ? z + bd * nl : nullptr;
            const T* dyr = dy + bd * nl;
            const T* Ar = A + d * nn;
            const T* Bb = Bt + b * nl * nn;
            const T* Cb = Ct + b * nl * nn;
            T* dBb = dBth + b * nl * nn;
            T* dCb = dCth + b * nl * nn;
            T* dAr = dA + bd * nn;
            T* g = gv.data();
            T* dt = dtv.data();
            const T biasd = bias ? bias[d] : T(0), Dd = Dv ? Dv[d] : T(0);
            prepare_row(dr, zr, biasd, m.softplus, nl, dt, gatev.data());
            if (dlast != nullptr) std::memcpy(g, dlast + bd * nn, nn * sizeof(T));
            else std::fill(gv.begin(), gv.end(), T(0));
            T dDacc = 0;
            for (int64_t c = nc - 1; c >= 0; --c) {
                const int64_t t0 = c * chunk, t1 = std::min(nl, t0 + chunk);
                // hs[k] = h_{t0 + k - 1}; as[k] = exp(delta_{t0 + k} A)
                std::memcpy(hs.data(), ckpt + (bd * nc + c) * nn, nn * sizeof(T));
                for (int64_t t = t0; t < t1; ++t) {
                    const int64_t k = t - t0;
                    const T dtt = dt[t], x = dtt * ur[t];
                    const T* Bq = Bb + t * nn;
                    T* hp = hs.data() + k * nn;
                    T* hn = hp + nn;
                    T* a = as.data() + k * nn;
                    #pragma omp simd
                    for (int64_t n = 0; n < nn; ++n) {
                        a[n] = std::exp(dtt * Ar[n]);
                        hn[n] = a[n] * hp[n] + x * Bq[n];
                    }
                }
                for (int64_t t = t1 - 1; t >= t0; --t) {
                    const int64_t k = t - t0;
                    const T dtt = dt[t], ut = ur[t];
                    const T* Bq = Bb + t * nn;
                    const T* Cq = Cb + t * nn;
                    T* dBq = dBb + t * nn;
                    T* dCq = dCb + t * nn;
                    const T* hp = hs.data() + k * nn;
                    const T* hn = hp + nn;
                    const T* a = as.data() + k * nn;
                    // y_t = (acc_t + D u_t) * silu(z_t): dyt is the gradient reaching acc_t.
                    T dyt = dyr[t];
                    if (zr != nullptr) {
                        T acc = 0;
                        #pragma omp simd reduction(+:acc)
                        for (int64_t n = 0; n < nn; ++n) acc += hn[n] * Cq[n];
                        const T sig = T(1) / (T(1) + std::exp(-zr[t]));
                        dz[bd * nl + t] = dyt * (acc + Dd * ut) * sig * (T(1) + zr[t] * (T(1) - sig));
                        dyt *= gatev[t];
                    }
                    dDacc += dyt * ut;
                    T gB = 0, gAh = 0;
                    #pragma omp simd reduction(+:gB, gAh)
                    for (int64_t n = 0; n < nn; ++n) {
                        const T gn = g[n] + Cq[n] * dyt;
                        dCq[n] += dyt * hn[n];
                        const T gha = gn * hp[n] * a[n];
                        gB += gn * Bq[n];
                        gAh += gha * Ar[n];
                        dAr[n] += gha * dtt;
                        dBq[n] += gn * dtt * ut;
                        g[n] = gn * a[n];
                    }
                    du[bd * nl + t] = dtt * gB + dyt * Dd;
                    T dd = gB * ut + gAh;
                    if (m.softplus) {
                        const T x = dr[t] + biasd;
                        dd *= x > T(20) ? T(1) : T(1) / (T(1) + std::exp(-x));
                    }
                    ddelta[bd * nl + t] = dd;
                }
            }
            dD[bd] = dDacc;
        }
    }
}

// The state size as a compile-time constant lets the N loops become whole vectors without remainder code.
#define DISPATCH_N(F, T, m, ...)                                                                                \
    switch ((m).nn) {                                                                                           \
        case 8: F<T, 8>(__VA_ARGS__, m); break;                                                                 \
        case 16: F<T, 16>(__VA_ARGS__, m); break;                                                               \
        case 32: F<T, 32>(__VA_ARGS__, m); break;                                                               \
        case 64: F<T, 64>(__VA_ARGS__, m); break;                                                               \
        default: F<T, 0>(__VA_ARGS__, m);                                                                       \
    }

#define SCAN_API(T, S)                                                                                          \
    extern "C" void scan_fwd_##S(const T* u, const T* delta, const T* A, const T* Bt, const T* Ct, const T* Dv,  \
                                 const T* z, const T* bias, T* y, T* ckpt, T* last, int64_t nb, int64_t nd,      \
                                 int64_t nl, int64_t nn, int64_t chunk, int softplus, int threads) {             \
        const Dims m{nb, nd, nl, nn, chunk, softplus, threads};                                                 \
        DISPATCH_N(forward, T, m, u, delta, A, Bt, Ct, Dv, z, bias, y, ckpt, last)                              \
    }                                                                                                           \
    extern "C" void scan_bwd_##S(const T* u, const T* delta, const T* A, const T* Bt, const T* Ct, const T* Dv,  \
                                 const T* z, const T* bias, const T* ckpt, const T* dy, const T* dlast, T* du,   \
                                 T* ddelta, T* dA, T* dBt, T* dCt, T* dD, T* dz, int64_t nb, int64_t nd,         \
                                 int64_t nl, int64_t nn, int64_t chunk, int softplus, int threads) {             \
        const Dims m{nb, nd, nl, nn, chunk, softplus, threads};                                                 \
        DISPATCH_N(backward, T, m, u, delta, A, Bt, Ct, Dv, z, bias, ckpt, dy, dlast, du, ddelta, dA, dBt, dCt, \
                   dD, dz)                                                                                      \
    }

SCAN_API(float, f32)
SCAN_API(double, f64)
"""

_COMPILE_FLAGS = ("-O3", "-march=native", "-ffast-math", "-fopenmp", "-fPIC", "-std=c++17")
_LINK_FLAGS = ("-shared", "-fopenmp", "-lmvec", "-lm")
_P = ctypes.c_void_p
_I = ctypes.c_int64
_FWD_ARGTYPES = [_P] * 11 + [_I] * 5 + [ctypes.c_int] * 2
_BWD_ARGTYPES = [_P] * 18 + [_I] * 5 + [ctypes.c_int] * 2


def _cache_dir() -> Path:
    return Path(os.environ.get("ARCHLAB_CACHE", Path.home() / ".cache" / "archlab")) / "kernels"


def _machine_key() -> str:
    """Compiled with ``-march=native``: the library belongs to this CPU, so its flags enter the key."""
    flags = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags = line
                break
    except OSError:
        pass
    return f"{platform.machine()}|{platform.system()}|{flags}"


def _file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _untrusted(folder: Path) -> str | None:
    """Why code in ``folder`` must not be loaded (another user owns it or may write to it), or None."""
    info = folder.stat()
    if info.st_uid != os.getuid():
        return f"{folder} belongs to another user (uid {info.st_uid})"
    if info.st_mode & 0o022:
        return f"{folder} is writable by other users (mode {oct(info.st_mode & 0o777)})"
    return None


def _record(target: Path) -> Path:
    return target.with_suffix(".sha256")


def _built_here(target: Path, key: str) -> bool:
    """Whether ``target`` is the library that this source, compiler and flags built, as its record says."""
    try:
        return _record(target).read_text().split() == [key, _file_sha256(target)]
    except OSError:
        return False


def _compile(target: Path, key: str, compiler: str, source: str) -> None:
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        src, obj, lib = Path(tmp) / "kernel.cpp", Path(tmp) / "kernel.o", Path(tmp) / "kernel.so"
        src.write_text(source)
        for cmd in (
            [compiler, *_COMPILE_FLAGS, "-c", str(src), "-o", str(obj)],
            [compiler, str(obj), "-o", str(lib), *_LINK_FLAGS],
        ):
            subprocess.run(cmd, check=True, capture_output=True, timeout=300)
        record = Path(tmp) / "record"
        record.write_text(f"{key} {_file_sha256(lib)}\n")
        os.replace(lib, target)  # atomic: a concurrent loader sees no half-written library
        os.replace(record, _record(target))


def build_library(name: str, source: str) -> ctypes.CDLL | None:
    """The library compiled from C++ ``source`` (no PyTorch headers) into the cache as ``<name>_<key>.so``, built
    on first use, with the checks of the module docstring; None when it cannot or must not be built or loaded."""
    if os.environ.get("ARCHLAB_NO_KERNEL") == "1":
        return None
    compiler = os.environ.get("CXX", "g++")
    key = hashlib.sha256("\0".join((source, compiler, *_COMPILE_FLAGS, *_LINK_FLAGS, _machine_key())).encode()
                         ).hexdigest()
    target = _cache_dir() / f"{name}_{key[:16]}.so"
    try:
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        untrusted = _untrusted(target.parent)
        if untrusted is not None:
            logger.warning("%s kernel refused, using PyTorch fallback: %s; make it private "
                           "(chmod go-w) or set ARCHLAB_CACHE to a folder of your own", name, untrusted)
            return None
        if not _built_here(target, key):
            _compile(target, key, compiler, source)
        return ctypes.CDLL(str(target))
    except (OSError, subprocess.SubprocessError) as err:
        detail = getattr(err, "stderr", b"") or b""
        logger.warning("%s kernel unavailable, using PyTorch fallback: %s %s", name, err, detail[-500:])
        return None


@lru_cache(maxsize=1)
def load() -> ctypes.CDLL | None:
    """The compiled kernel library, building it on first use; None when it cannot be built."""
    lib = build_library("selective_scan", _SOURCE)
    if lib is None:
        return None
    for name in ("scan_fwd_f32", "scan_fwd_f64"):
        getattr(lib, name).argtypes = _FWD_ARGTYPES
    for name in ("scan_bwd_f32", "scan_bwd_f64"):
        getattr(lib, name).argtypes = _BWD_ARGTYPES
    return lib


def _ptr(t: Tensor | None) -> int | None:
    return None if t is None else t.data_ptr()


def _suffix(dtype: torch.dtype) -> str:
    return {torch.float32: "f32", torch.float64: "f64"}[dtype]


def forward(
    lib: ctypes.CDLL, u: Tensor, delta: Tensor, A: Tensor, Bt: Tensor, Ct: Tensor, D: Tensor | None,
    z: Tensor | None, delta_bias: Tensor | None, *, softplus: bool, save: bool,
) -> tuple[Tensor, Tensor, Tensor | None]:
    """``(y (B, D, L), last state (B, D, N), checkpoints (B, D, n_chunks, N) or None)``.

    All tensors contiguous and of one dtype; ``Bt``, ``Ct`` are (B, L, N).
    """
    nb, nd, nl = u.shape
    nn = A.shape[1]
    y = torch.empty_like(u)
    last = u.new_empty(nb, nd, nn)
    ckpt = u.new_empty(nb, nd, -(-nl // CHUNK), nn) if save else None
    getattr(lib, f"scan_fwd_{_suffix(u.dtype)}")(
        _ptr(u), _ptr(delta), _ptr(A), _ptr(Bt), _ptr(Ct), _ptr(D), _ptr(z), _ptr(delta_bias),
        _ptr(y), _ptr(ckpt), _ptr(last), nb, nd, nl, nn, CHUNK, int(softplus), torch.get_num_threads(),
    )
    return y, last, ckpt


def backward(
    lib: ctypes.CDLL, u: Tensor, delta: Tensor, A: Tensor, Bt: Tensor, Ct: Tensor, D: Tensor | None,
    z: Tensor | None, delta_bias: Tensor | None, ckpt: Tensor, dy: Tensor, dlast: Tensor | None, *, softplus: bool,
) -> dict[str, Tensor]:
    """Gradients of every input (``du``, ``ddelta`` (of the raw delta), ``dA``, ``dBt``, ``dCt``, ``dD``,
    ``dz``, ``ddelta_bias``), from ``dy`` (B, D, L) and ``dlast`` (B, D, N) or None."""
    nb, nd, nl = u.shape
    nn = A.shape[1]
    threads = max(1, min(torch.get_num_threads(), nb * nd))
    du, ddelta = torch.empty_like(u), torch.empty_like(u)
    dz = torch.empty_like(u) if z is not None else None
    dA = u.new_zeros(nb, nd, nn)
    dD = u.new_empty(nb, nd)
    dBt = u.new_zeros(threads, nb, nl, nn)  # one accumulator per thread: all channels share B_t and C_t
    dCt = u.new_zeros(threads, nb, nl, nn)
    getattr(lib, f"scan_bwd_{_suffix(u.dtype)}")(
        _ptr(u), _ptr(delta), _ptr(A), _ptr(Bt), _ptr(Ct), _ptr(D), _ptr(z), _ptr(delta_bias), _ptr(ckpt),
        _ptr(dy), _ptr(dlast), _ptr(du), _ptr(ddelta), _ptr(dA), _ptr(dBt), _ptr(dCt), _ptr(dD), _ptr(dz),
        nb, nd, nl, nn, CHUNK, int(softplus), threads,
    )
    return {
        "du": du, "ddelta": ddelta, "dA": dA.sum(0), "dBt": dBt.sum(0), "dCt": dCt.sum(0),
        "dD": dD.sum(0), "dz": dz, "ddelta_bias": ddelta.sum((0, 2)),
    }
