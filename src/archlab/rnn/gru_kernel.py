"""A compiled CPU kernel for the pointwise part of one GRU step, forward and backward (``archlab.rnn.fused_gru``).

Per time step the fused path makes one ``addmm`` for the recurrent terms of the three gates; what follows is
pointwise: three transcendental functions and a few products per hidden unit. As PyTorch ops they are seven or
eight kernel launches over (B, H) tensors a step; here they are one vectorised pass (glibc's libmvec ``exp``
under fast-math, built and cached by ``archlab.core.scan_kernel.build_library``, as ``archlab.rnn.lstm_kernel``),
the batch rows split among ``nt`` OpenMP threads (torch's thread count: the step's matmul uses them all too).
Gate blocks (r, z, n) as torch stores them; ``tanh(x) = 1 - 2 / (exp(2x) + 1)``.

Forward, per unit, from the input terms ``gi`` and the recurrent terms ``gh = W_hh h + b_h``:
``r, z = s(gi_r + gh_r, gi_z + gh_z)``, ``n = tanh(gi_n + r gh_n)`` written over ``gi``, ``gh_n`` kept for the
backward, ``h' = n + z (h - n)``. Backward, per unit, given ``dh`` reaching ``h'`` (the formulas of
``archlab.rnn.fused_gru``): the gradients of the input terms and of the recurrent terms, and the part of the
gradient reaching ``h`` that skips the matmul, ``g_h + dh z`` (``g_h`` the gradient reaching ``h`` from outside).
``load`` returns None without a compiler (or with ``ARCHLAB_NO_KERNEL=1``); the fused path then runs PyTorch ops.
"""

from __future__ import annotations

from archlab.rnn.step_library import POINTWISE_PRELUDE, StepLibrary

_SOURCE = POINTWISE_PRELUDE + r"""
// gates: (B, 3H) rows gs apart, blocks (r, z, n), input terms in, activations out; gh: (B, 3H) contiguous,
// the recurrent terms; h_prev, gh_n, h_next: (B, H) contiguous
template <typename T>
static void step_fwd(T* gates, const T* gh, const T* h_prev, T* gh_n, T* h_next, int64_t nb, int64_t nh,
                     int64_t gs, int nt) {
#pragma omp parallel for num_threads(nt) if (nt > 1)
    for (int64_t b = 0; b < nb; ++b) {
        T* r = gates + b * gs; T* z = r + nh; T* n = z + nh;
        const T* hr = gh + b * 3 * nh; const T* hz = hr + nh; const T* hn = hz + nh;
        const T* hp = h_prev + b * nh; T* ghn = gh_n + b * nh; T* hx = h_next + b * nh;
#pragma omp simd
        for (int64_t k = 0; k < nh; ++k) {
            const T rk = sigm(r[k] + hr[k]), zk = sigm(z[k] + hz[k]);
            const T nk = tanh_(n[k] + rk * hn[k]);
            r[k] = rk; z[k] = zk; n[k] = nk; ghn[k] = hn[k];
            hx[k] = nk + zk * (hp[k] - nk);
        }
    }
}

// grad_gi, grad_gh: (B, 3H) out, rows gs apart; dh: (B, H), the gradient reaching h'; grad_ext: (B, H), the
// gradient reaching h from outside the recurrence; carry: (B, H) out, grad_ext + dh z; gates: activations
// (B, 3H) rows gs apart; gh_n, h_prev: (B, H)
template <typename T>
static void step_bwd(T* grad_gi, T* grad_gh, const T* dh, const T* grad_ext, T* carry, const T* gates,
                     const T* gh_n, const T* h_prev, int64_t nb, int64_t nh, int64_t gs, int nt) {
#pragma omp parallel for num_threads(nt) if (nt > 1)
    for (int64_t b = 0; b < nb; ++b) {
        const T* r = gates + b * gs; const T* z = r + nh; const T* n = z + nh;
        T* gi_r = grad_gi + b * gs; T* gi_z = gi_r + nh; T* gi_n = gi_z + nh;
        T* gh_r = grad_gh + b * gs; T* gh_z = gh_r + nh; T* gh_nb = gh_z + nh;
        const T* d = dh + b * nh; const T* ge = grad_ext + b * nh; T* cy = carry + b * nh;
        const T* ghn = gh_n + b * nh; const T* hp = h_prev + b * nh;
#pragma omp simd
        for (int64_t k = 0; k < nh; ++k) {
            const T rk = r[k], zk = z[k], nk = n[k], dk = d[k];
            const T da_n = dk * (T(1) - zk) * (T(1) - nk * nk);
            const T da_z = dk * (hp[k] - nk) * zk * (T(1) - zk);
            const T da_r = da_n * ghn[k] * rk * (T(1) - rk);
            gi_r[k] = da_r; gi_z[k] = da_z; gi_n[k] = da_n;
            gh_r[k] = da_r; gh_z[k] = da_z; gh_nb[k] = da_n * rk;
            cy[k] = ge[k] + dk * zk;
        }
    }
}

#define GRU_API(T, S)                                                                                          \
    extern "C" void gru_step_fwd_##S(T* gates, const T* gh, const T* h_prev, T* gh_n, T* h_next, int64_t nb,   \
                                     int64_t nh, int64_t gs, int nt) {                                         \
        step_fwd<T>(gates, gh, h_prev, gh_n, h_next, nb, nh, gs, nt);                                          \
    }                                                                                                          \
    extern "C" void gru_step_bwd_##S(T* grad_gi, T* grad_gh, const T* dh, const T* grad_ext, T* carry,         \
                                     const T* gates, const T* gh_n, const T* h_prev, int64_t nb, int64_t nh,   \
                                     int64_t gs, int nt) {                                                     \
        step_bwd<T>(grad_gi, grad_gh, dh, grad_ext, carry, gates, gh_n, h_prev, nb, nh, gs, nt);               \
    }

GRU_API(float, f32)
GRU_API(double, f64)
"""

_LIBRARY = StepLibrary("gru_step", _SOURCE, fwd_pointers=5, bwd_pointers=8)
load = _LIBRARY.load
kernels_for = _LIBRARY.kernels_for
