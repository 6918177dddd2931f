"""Two's complement helpers: integer ranges, widths and signed/unsigned conversion."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from ._checks import _as_int64, _check_code_range, _check_int_param

__all__ = [
    "int_range",
    "signed_bits_for_range",
    "to_signed",
    "to_unsigned",
]


def int_range(bits: int, signed: bool) -> tuple[int, int]:
    """Smallest and largest value of a ``bits``-bit integer (any width, e.g. accumulators)."""
    if signed:
        return -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return 0, (1 << bits) - 1


def signed_bits_for_range(lo: int, hi: int) -> int:
    """Smallest two's complement width holding every integer in ``[lo, hi]``."""
    return max(1, (max(hi, -lo - 1)).bit_length() + 1)


def to_signed(codes: npt.ArrayLike, bits: int) -> np.ndarray:
    """Interpret unsigned ``bits``-bit patterns as two's complement integers.

    Parameters
    ----------
    codes : array_like of int
        Unsigned patterns in ``[0, 2**bits)``.
    bits : int
        Field width, ``1 <= bits <= 63``.

    Returns
    -------
    numpy.ndarray
        int64 values in ``[-2**(bits-1), 2**(bits-1))``.

    Raises
    ------
    ValueError
        If ``bits`` or a code is out of range.
    TypeError
        If ``codes`` is not integer-valued.
    """
    bits = _check_int_param("bits", bits, 1, 63)
    arr = _as_int64(codes, "codes")
    _check_code_range(arr, bits)
    half = 1 << (bits - 1)
    out = arr.copy()
    neg = arr >= half
    # Subtract 2**bits as two halves: 2**63 itself does not fit in int64.
    out[neg] = arr[neg] - half - half
    return out


def to_unsigned(values: npt.ArrayLike, bits: int) -> np.ndarray:
    """Encode signed integers as unsigned ``bits``-bit two's complement patterns.

    Parameters
    ----------
    values : array_like of int
        Signed values in ``[-2**(bits-1), 2**(bits-1))``.
    bits : int
        Field width, ``1 <= bits <= 63``.

    Returns
    -------
    numpy.ndarray
        int64 patterns in ``[0, 2**bits)``.

    Raises
    ------
    ValueError
        If ``bits`` or a value is out of range.
    TypeError
        If ``values`` is not integer-valued.
    """
    bits = _check_int_param("bits", bits, 1, 63)
    arr = _as_int64(values, "values")
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    bad = (arr < lo) | (arr > hi)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(
            f"values must be signed {bits}-bit integers in [{lo}, {hi}]: "
            f"got {int(arr[idx])} at index {idx}"
        )
    half = 1 << (bits - 1)
    out = arr.copy()
    neg = arr < 0
    out[neg] = arr[neg] + half + half  # two halves: 2**63 does not fit in int64
    return out
