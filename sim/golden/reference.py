"""Exact mpGEMM reference, ``Y = A x dequant(W)`` with no rounding at all.

Every operand the hardware sees is a binary floating-point or integer value, so each is an integer
times a power of two. Scaling each matrix by one power of two turns it into Python integers, and an
integer matrix product is exact. Results are returned as :class:`fractions.Fraction`, and the
error of a hardware-faithful model is measured against them with :func:`error_stats`.
"""

from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["exact_matmul", "exact_mpgemm", "to_float64", "ErrorStats", "error_stats"]


def _as_scaled_ints(x: np.ndarray) -> tuple[np.ndarray, int]:
    """``x == ints * 2**exp`` exactly, with ``ints`` a Python-int object array."""
    if not np.all(np.isfinite(x)):
        raise ValueError("exact reference needs finite operands")
    mant, exp = np.frexp(x)  # x = mant * 2**exp, 0.5 <= |mant| < 1, mant has 53 bits
    lsb = exp.astype(np.int64) - 53
    e0 = int(lsb[x != 0].min()) if np.any(x != 0) else 0
    ints = np.empty(x.shape, dtype=object)
    mant_int = (mant * 2.0**53).astype(np.int64)  # exact: a 53-bit integer
    for idx in np.ndindex(x.shape):
        ints[idx] = int(mant_int[idx]) << int(lsb[idx] - e0) if x[idx] != 0 else 0
    return ints, e0


def exact_matmul(a: ArrayLike, b: ArrayLike) -> np.ndarray:
    """Exact ``a @ b`` of float64-representable matrices, as a Fraction object array."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0]:
        raise ValueError(f"exact_matmul needs [M, K] and [K, N] matrices, got {a.shape} and "
                         f"{b.shape}")
    ia, ea = _as_scaled_ints(a)
    ib, eb = _as_scaled_ints(b)
    prod = ia.dot(ib)
    scale = Fraction(2) ** (ea + eb)
    return np.vectorize(lambda v: Fraction(v) * scale, otypes=[object])(prod)


def exact_mpgemm(a: ArrayLike, w_dequant: ArrayLike) -> np.ndarray:
    """``Y = A x dequant(W)`` exactly; ``w_dequant`` from ``QuantizedWeights.dequantize()``.

    ``dequantize`` is itself exact in float64 ((q - z) needs at most 17 bits and a scale at most
    24 significant bits), so the only arithmetic left is the exact product here.
    """
    return exact_matmul(a, w_dequant)


def to_float64(y: np.ndarray) -> np.ndarray:
    """Fractions -> nearest float64."""
    return np.vectorize(float, otypes=[np.float64])(y)


@dataclass(frozen=True)
class ErrorStats:
    """Error of an approximate result against the exact one."""

    max_abs: float
    mean_abs: float
    max_rel: float
    """Largest error relative to the largest exact magnitude (a norm-wise relative error)."""

    def __str__(self) -> str:
        return f"max_abs={self.max_abs:.3g} mean_abs={self.mean_abs:.3g} max_rel={self.max_rel:.3g}"


def error_stats(approx: ArrayLike, exact: np.ndarray) -> ErrorStats:
    """Error of ``approx`` (floats) against ``exact`` (Fractions), computed exactly then rounded."""
    approx = np.asarray(approx, dtype=np.float64)
    diff = np.vectorize(lambda x, e: float(abs(Fraction(float(x)) - e)), otypes=[np.float64])(
        approx, exact)
    scale = float(max(abs(e) for e in exact.flat)) if exact.size else 0.0
    return ErrorStats(
        max_abs=float(diff.max()),
        mean_abs=float(diff.mean()),
        max_rel=float(diff.max() / scale) if scale else float(diff.max()),
    )
