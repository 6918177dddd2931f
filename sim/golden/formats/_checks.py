"""Input normalisation and validation helpers shared by the format modules.

The codecs, two's complement converters, bit packers and the quantizer all validate their
arguments here, so type and range errors read the same everywhere.
"""

from __future__ import annotations

import numbers
import operator
from typing import SupportsIndex, TypeGuard

import numpy as np
import numpy.typing as npt

__all__ = [
    "_as_int64",
    "_as_real",
    "_check_code_range",
    "_check_int_param",
    "_check_saturate",
    "_code_dtype",
    "_is_int",
    "_reject_non_saturating",
]


def _is_int(value: object) -> TypeGuard[SupportsIndex]:
    """Return True for Python/numpy integers, excluding bool (a common typo source)."""
    if type(value) is int:  # fast path: ABC checks are slow in per-element loops
        return True
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def _check_int_param(name: str, value: object, lo: int, hi: int | None) -> int:
    """Validate an integer parameter and return it as a Python int.

    Parameters
    ----------
    name : str
        Parameter name used in error messages.
    value : object
        Value to validate.
    lo : int
        Smallest allowed value.
    hi : int or None
        Largest allowed value, or None for no upper bound.

    Returns
    -------
    int
        ``value`` as a Python int.

    Raises
    ------
    TypeError
        If ``value`` is not an integer.
    ValueError
        If ``value`` lies outside ``[lo, hi]``.
    """
    if not _is_int(value):
        raise TypeError(f"{name} must be an int, got {value!r} of type {type(value).__name__}")
    ivalue = operator.index(value)
    if ivalue < lo or (hi is not None and ivalue > hi):
        allowed = f"{lo} <= {name} <= {hi}" if hi is not None else f"{name} >= {lo}"
        raise ValueError(f"{name} out of range: got {name}={ivalue}; allowed: {allowed}")
    return ivalue


def _as_int64(values: npt.ArrayLike, name: str) -> np.ndarray:
    """Convert an integer array-like to an int64 array.

    Object arrays of Python ints (as produced by :func:`pack_fields`) are accepted as
    long as every element fits in int64.

    Parameters
    ----------
    values : array_like
        Integer values.
    name : str
        Parameter name used in error messages.

    Returns
    -------
    numpy.ndarray
        int64 array with the same shape.

    Raises
    ------
    TypeError
        If the input is not integer-valued (floats and bools are rejected so that a
        value array is never silently mistaken for a code array).
    ValueError
        If an element does not fit in int64.
    """
    arr = np.asarray(values)
    if arr.size == 0 and arr.dtype.kind == "f":
        # np.asarray([]) is float64; an empty list is a legitimate empty code array.
        return np.zeros(arr.shape, dtype=np.int64)
    if arr.dtype.kind == "O":
        flat = arr.reshape(-1)
        for item in flat:
            if not _is_int(item):
                raise TypeError(
                    f"{name} must contain integers, got element {item!r} of type "
                    f"{type(item).__name__}"
                )
            if not -(2**63) <= int(item) < 2**63:
                raise ValueError(f"{name} element {int(item)} does not fit in int64")
        return np.array([int(item) for item in flat], dtype=np.int64).reshape(arr.shape)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{name} must be an integer array, got dtype {arr.dtype}")
    if arr.dtype.kind == "u" and arr.dtype.itemsize == 8 and arr.size:
        big = int(arr.max())
        if big >= 2**63:
            raise ValueError(f"{name} element {big} does not fit in int64")
    return arr.astype(np.int64)


def _as_real(values: npt.ArrayLike, name: str) -> np.ndarray:
    """Convert a real array-like to float64, rejecting complex, bool and non-numeric data.

    Parameters
    ----------
    values : array_like
        Real values.
    name : str
        Parameter name used in error messages.

    Returns
    -------
    numpy.ndarray
        float64 array with the same shape.

    Raises
    ------
    TypeError
        If the dtype is not a real number type.
    """
    arr = np.asarray(values)
    if arr.size == 0 and arr.dtype.kind == "f":
        return arr.astype(np.float64)
    if arr.dtype.kind not in "iuf":
        raise TypeError(f"{name} must be a real numeric array, got dtype {arr.dtype}")
    return arr.astype(np.float64)


def _check_code_range(codes: np.ndarray, bits: int, name: str = "codes") -> None:
    """Raise ValueError unless every code is an unsigned ``bits``-bit pattern.

    Parameters
    ----------
    codes : numpy.ndarray
        int64 codes.
    bits : int
        Field width.
    name : str
        Parameter name used in error messages.
    """
    bad = (codes < 0) | (codes >= (1 << bits))
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(
            f"{name} must be unsigned {bits}-bit patterns in [0, {(1 << bits) - 1}]: "
            f"got {int(codes[idx])} at index {idx}"
        )


def _code_dtype(bits: int) -> np.dtype:
    """Smallest unsigned dtype holding a ``bits``-bit pattern (uint8/uint16/uint32)."""
    if bits <= 8:
        return np.dtype(np.uint8)
    if bits <= 16:
        return np.dtype(np.uint16)
    return np.dtype(np.uint32)


def _check_saturate(saturate: object) -> None:
    """Raise TypeError unless ``saturate`` is a bool or None."""
    if saturate is not None and not isinstance(saturate, (bool, np.bool_)):
        raise TypeError(f"saturate must be a bool or None, got {saturate!r}")


def _reject_non_saturating(fmt_name: str, saturate: object) -> None:
    """Raise ValueError if ``saturate=False`` is requested from a format without inf."""
    _check_saturate(saturate)
    if saturate is not None and not saturate:
        raise ValueError(
            f"saturate=False is not allowed for {fmt_name}: it has no infinity, so "
            f"out-of-range values always saturate; allowed: saturate=None or True"
        )
