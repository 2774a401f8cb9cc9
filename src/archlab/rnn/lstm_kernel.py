"""A compiled CPU kernel for the pointwise part of one LSTM step, forward and backward (``archlab.rnn.fused``).

Per time step the fused path makes one ``addmm`` for the four gates' pre-activations; what follows is pointwise:
five transcendental functions and a few products per hidden unit. As PyTorch ops they are six or seven kernel
launches over (B, H) tensors a step, each reading and writing memory; here they are one pass, vectorised (glibc's
libmvec ``exp`` under fast-math, as in ``archlab.core.scan_kernel``, whose compile-and-cache machinery builds it),
the batch rows split among ``nt`` OpenMP threads (torch's thread count: the step's matmul uses them all too).
Gate order (o, i, f, g) as in ``archlab.rnn.fused``; ``tanh(x) = 1 - 2 / (exp(2x) + 1)``.

Forward, per unit: ``o, i, f = s(a_o, a_i, a_f)``, ``g = tanh(a_g)`` written over the pre-activations,
``c' = f c + i g``, ``tanh(c')`` and ``h' = o tanh(c')``. Backward, per unit, given ``dh`` and ``dc`` (the
formulas of ``archlab.rnn.fused``): the four pre-activation gradients, and ``dc`` replaced by ``dc f``.
``load`` returns None without a compiler (or with ``ARCHLAB_NO_KERNEL=1``); the fused path then runs PyTorch ops.

In float32, where PyTorch carries MKL (``archlab.core.blas``), the forward's whole time loop runs here too
(``sequence_for``): each thread takes a slice of the batch and runs every step on it, the recurrent GEMM through
MKL's packed interface and then the pointwise step, with no Python and no wait between threads inside the loop.
"""

from __future__ import annotations

import ctypes
from functools import cache

import torch

from archlab.core.blas import packed_sgemm
from archlab.rnn.step_library import POINTWISE_PRELUDE, StepLibrary

_SOURCE = POINTWISE_PRELUDE + r"""
// rows [b0, b1) of one step. gates: (B, 4H) rows gs apart, blocks (o, i, f, g), pre-activations in, activations
// out; c_prev, c_next, tanh_c, h_next: (B, H) contiguous
template <typename T>
static inline void rows_fwd(T* gates, const T* c_prev, T* c_next, T* tanh_c, T* h_next, int64_t b0, int64_t b1,
                            int64_t nh, int64_t gs) {
    for (int64_t b = b0; b < b1; ++b) {
        T* o = gates + b * gs; T* i = o + nh; T* f = i + nh; T* g = f + nh;
        const T* cp = c_prev + b * nh; T* cn = c_next + b * nh; T* tc = tanh_c + b * nh; T* hn = h_next + b * nh;
#pragma omp simd
        for (int64_t k = 0; k < nh; ++k) {
            const T ok = sigm(o[k]), ik = sigm(i[k]), fk = sigm(f[k]), gk = tanh_(g[k]);
            o[k] = ok; i[k] = ik; f[k] = fk; g[k] = gk;
            const T c = fk * cp[k] + ik * gk;
            const T t = tanh_(c);
            cn[k] = c; tc[k] = t; hn[k] = ok * t;
        }
    }
}

template <typename T>
static void step_fwd(T* gates, const T* c_prev, T* c_next, T* tanh_c, T* h_next, int64_t nb, int64_t nh, int64_t gs,
                     int nt) {
#pragma omp parallel for num_threads(nt) if (nt > 1)
    for (int64_t b = 0; b < nb; ++b) rows_fwd(gates, c_prev, c_next, tanh_c, h_next, b, b + 1, nh, gs);
}

// MKL's cblas_sgemm_compute (archlab.core.blas), called with a packed A
typedef void (*packed_sgemm_t)(int, int, int, int, int, int, const float*, int, const float*, int, float, float*, int);

// The whole forward recurrence, float32. gates: (B, L, 4H) input terms in, activations out; h, c: (L+1, B, H) with
// h[0], c[0] set; tanh_c: (L, B, H); w_packed: W_hh (4H, H) packed by archlab.core.blas. Each of nt threads owns a
// slice of the batch rows and runs all L steps on it (its own GEMM, then the pointwise step): rows never meet, so
// the threads never wait for each other.
extern "C" void lstm_sequence_fwd_f32(void* gemm, const float* w_packed, float* gates, float* h, float* c,
                                      float* tanh_c, int64_t nb, int64_t nl, int64_t nh, int nt) {
    const packed_sgemm_t compute = (packed_sgemm_t)gemm;
    const int64_t gs = nl * 4 * nh, state = nb * nh;
#pragma omp parallel num_threads(nt)
    {
        const int64_t th = omp_get_thread_num(), n = omp_get_num_threads();
        const int64_t b0 = nb * th / n, b1 = nb * (th + 1) / n;
        if (b1 > b0) {
            for (int64_t t = 0; t < nl; ++t) {
                float* g = gates + t * 4 * nh;
                // column-major: gates_t^T (4H x rows) += W_hh (4H x H) h_t^T (H x rows)
                compute(102, 151, 111, int(4 * nh), int(b1 - b0), int(nh), w_packed, int(nh), h + t * state + b0 * nh,
                        int(nh), 1.0f, g + b0 * gs, int(gs));
                rows_fwd(g, c + t * state, c + (t + 1) * state, tanh_c + t * state, h + (t + 1) * state, b0, b1, nh,
                         gs);
            }
        }
    }
}

// grad_a: (B, 4H) out and gates: activations (B, 4H), both with rows gs apart; dh: (B, H); dc: (B, H) in
// (gradient reaching c_t) and out (reaching c_{t-1}); c_prev, tanh_c: (B, H)
template <typename T>
static void step_bwd(T* grad_a, const T* dh, T* dc, const T* gates, const T* c_prev, const T* tanh_c,
                     int64_t nb, int64_t nh, int64_t gs, int nt) {
#pragma omp parallel for num_threads(nt) if (nt > 1)
    for (int64_t b = 0; b < nb; ++b) {
        const T* o = gates + b * gs; const T* i = o + nh; const T* f = i + nh; const T* g = f + nh;
        T* da_o = grad_a + b * gs; T* da_i = da_o + nh; T* da_f = da_i + nh; T* da_g = da_f + nh;
        const T* dhb = dh + b * nh; T* dcb = dc + b * nh; const T* cp = c_prev + b * nh; const T* tc = tanh_c + b * nh;
#pragma omp simd
        for (int64_t k = 0; k < nh; ++k) {
            const T t = tc[k], ok = o[k], ik = i[k], fk = f[k], gk = g[k];
            const T d = dcb[k] + dhb[k] * ok * (T(1) - t * t);
            da_o[k] = dhb[k] * t * ok * (T(1) - ok);
            da_i[k] = d * gk * ik * (T(1) - ik);
            da_f[k] = d * cp[k] * fk * (T(1) - fk);
            da_g[k] = d * ik * (T(1) - gk * gk);
            dcb[k] = d * fk;
        }
    }
}

#define LSTM_API(T, S)                                                                                         \
    extern "C" void lstm_step_fwd_##S(T* gates, const T* c_prev, T* c_next, T* tanh_c, T* h_next, int64_t nb,  \
                                      int64_t nh, int64_t gs, int nt) {                                        \
        step_fwd<T>(gates, c_prev, c_next, tanh_c, h_next, nb, nh, gs, nt);                                    \
    }                                                                                                          \
    extern "C" void lstm_step_bwd_##S(T* grad_a, const T* dh, T* dc, const T* gates, const T* c_prev,           \
                                      const T* tanh_c, int64_t nb, int64_t nh, int64_t gs, int nt) {           \
        step_bwd<T>(grad_a, dh, dc, gates, c_prev, tanh_c, nb, nh, gs, nt);                                    \
    }

LSTM_API(float, f32)
LSTM_API(double, f64)
"""

_LIBRARY = StepLibrary("lstm_step", _SOURCE, fwd_pointers=5, bwd_pointers=6)
load = _LIBRARY.load
kernels_for = _LIBRARY.kernels_for


def sequence_for(t: torch.Tensor) -> ctypes._CFuncPtr | None:
    """``lstm_sequence_fwd_f32`` for tensors like ``t`` (CPU float32, with MKL's packed GEMM), or None. Arguments:
    the GEMM's address and the packed W_hh (``archlab.core.blas``), then gates, h, c, tanh_c as in ``step_fwd``'s
    sequence form, the sizes B, L, H and the thread count."""
    if t.device.type != "cpu" or t.dtype != torch.float32:
        return None
    return _sequence_function()


@cache
def _sequence_function() -> ctypes._CFuncPtr | None:
    library = _LIBRARY.load()
    if library is None or packed_sgemm() is None:
        return None
    function = library.lstm_sequence_fwd_f32
    function.argtypes = [ctypes.c_void_p] * 6 + [ctypes.c_int64] * 3 + [ctypes.c_int]
    return function
