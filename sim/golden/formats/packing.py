"""Bit packing: unsigned fields along the last axis to and from wide words."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from ._checks import _as_int64, _check_int_param, _is_int

__all__ = [
    "pack_fields",
    "unpack_fields",
]


def pack_fields(codes: npt.ArrayLike, bits: int) -> np.ndarray:
    """Pack unsigned fields along the last axis into wide words.

    Element ``i`` of the last axis lands at bit offset ``i * bits`` (lane 0 in the
    least significant bits), matching a little-endian lane order on a hardware bus.

    Parameters
    ----------
    codes : array_like of int, shape (..., n)
        Unsigned field values, each in ``[0, 2**bits)``.
    bits : int
        Field width, ``bits >= 1``.

    Returns
    -------
    numpy.ndarray, shape (...)
        dtype object array of Python ints, so words of any width are exact.

    Raises
    ------
    ValueError
        If ``bits < 1``, ``codes`` is 0-d, or a code does not fit in ``bits``.
    TypeError
        If ``codes`` is not integer-valued.
    """
    bits = _check_int_param("bits", bits, 1, None)
    raw = np.asarray(codes)
    if raw.ndim == 0:
        raise ValueError("codes must have at least 1 dimension (the packed axis), got a scalar")
    limit = 1 << bits
    lanes = raw.shape[-1]
    if raw.dtype.kind != "O":
        ints = _as_int64(raw, "codes")
        bad = (ints < 0) | (ints >= limit)
        if bad.any():
            pos = tuple(int(i) for i in np.argwhere(bad)[0])
            raise ValueError(
                f"codes must fit in bits={bits} (range [0, {limit - 1}]): "
                f"got {int(ints[pos])} at index {pos}"
            )
        if bits * lanes <= 63:
            # Everything fits in int64: pack with vectorised numpy shifts.
            shifts = np.arange(lanes, dtype=np.int64) * bits
            packed = np.bitwise_or.reduce(ints << shifts, axis=-1)
            return np.asarray(packed, dtype=np.int64).astype(object)
        obj = ints.astype(object)
    else:
        obj = raw
        # Python-int comparisons keep the range check exact for fields wider than 63 bits.
        for pos, item in np.ndenumerate(obj):
            if not _is_int(item):
                raise TypeError(f"codes must contain integers, got element {item!r}")
            if not 0 <= int(item) < limit:
                raise ValueError(
                    f"codes must fit in bits={bits} (range [0, {limit - 1}]): "
                    f"got {int(item)} at index {pos}"
                )
    words = np.zeros(obj.shape[:-1], dtype=object)
    words[...] = 0
    for lane in range(lanes):
        words = words | (obj[..., lane] << (lane * bits))
    return np.asarray(words, dtype=object)


def unpack_fields(words: npt.ArrayLike, bits: int, count: int) -> np.ndarray:
    """Split words into ``count`` unsigned fields of ``bits`` bits (inverse of packing).

    Parameters
    ----------
    words : array_like of int, shape (...)
        Packed words (Python ints in an object array, or any integer dtype), each in
        ``[0, 2**(bits * count))``.
    bits : int
        Field width, ``1 <= bits <= 63`` (fields are returned as int64).
    count : int
        Number of fields per word, ``count >= 1``.

    Returns
    -------
    numpy.ndarray, shape (..., count)
        int64 fields, lane 0 from the least significant bits.

    Raises
    ------
    ValueError
        If a parameter is out of range or a word has bits set beyond
        ``bits * count``.
    TypeError
        If ``words`` is not integer-valued.
    """
    bits = _check_int_param("bits", bits, 1, 63)
    count = _check_int_param("count", count, 1, None)
    raw = np.asarray(words)
    if raw.size == 0 and raw.dtype.kind == "f":
        # np.asarray([]) is float64; an empty list is a legitimate empty word array.
        raw = raw.astype(np.int64)
    width = bits * count
    mask = (1 << bits) - 1
    if raw.dtype.kind == "O" and width <= 63:
        # Words from pack_fields are Python ints; when they are narrow enough, convert
        # once and take the vectorised path instead of per-element big-int shifts.
        for item in raw.reshape(-1):
            if not _is_int(item):
                raise TypeError(f"words must contain integers, got element {item!r}")
        try:
            raw = raw.astype(np.int64)
        except OverflowError:
            raw = raw.astype(object)
    if raw.dtype.kind in "iu" and width <= 63:
        # Fast path: every valid word fits in int64.  Comparing before the cast keeps
        # huge uint64 words from wrapping to negative int64 values.
        bad = raw >= (1 << width)
        if raw.dtype.kind == "i":
            bad |= raw < 0
        if bad.any():
            pos = tuple(int(i) for i in np.argwhere(bad)[0])
            raise ValueError(
                f"words must fit in bits*count={width} bits: got {int(raw[pos])} at index {pos}"
            )
        ints = raw.astype(np.int64)
        shifts = np.arange(count, dtype=np.int64) * bits
        return (ints[..., None] >> shifts) & mask
    if raw.dtype.kind == "O":
        obj = raw
    elif raw.dtype.kind in "iu":
        obj = raw.astype(object)
    else:
        raise TypeError(f"words must be an integer array, got dtype {raw.dtype}")
    limit = 1 << width
    for pos, item in np.ndenumerate(obj):
        if not _is_int(item):
            raise TypeError(f"words must contain integers, got element {item!r}")
        if not 0 <= int(item) < limit:
            raise ValueError(
                f"words must fit in bits*count={width} bits: got {int(item)} at index {pos}"
            )
    out = np.empty(obj.shape + (count,), dtype=np.int64)
    for lane in range(count):
        lane_vals = (obj >> (lane * bits)) & mask
        out[..., lane] = np.asarray(lane_vals, dtype=object).astype(np.int64)
    return out
