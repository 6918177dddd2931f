"""Integer-valued formats: two's complement/unsigned integers, ternary and binary."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ._base import _FormatBase
from ._checks import _as_real, _check_int_param, _reject_non_saturating

__all__ = [
    "BinaryFormat",
    "IntFormat",
    "TernaryFormat",
]


@dataclass(frozen=True)
class IntFormat(_FormatBase):
    """Integer format: two's complement when signed, plain binary otherwise.

    Parameters
    ----------
    bits : int
        Total width, ``1 <= bits <= 16``; signed formats need ``bits >= 2``.
    signed : bool
        Two's complement signed if True.

    Notes
    -----
    ``encode`` rounds half to even and then clips into range (integers have no
    infinity, so they always saturate).  NaN cannot be encoded.
    """

    bits: int
    signed: bool

    def __post_init__(self) -> None:
        _check_int_param("bits", self.bits, 1, 16)
        if not isinstance(self.signed, (bool, np.bool_)):
            raise TypeError(f"signed must be a bool, got {self.signed!r}")
        if self.signed and self.bits < 2:
            raise ValueError(
                f"bits out of range for a signed IntFormat: got bits={self.bits}; "
                f"allowed: 2 <= bits <= 16"
            )
        # Normalise numpy scalars so equal formats hash equally.
        object.__setattr__(self, "bits", int(self.bits))
        object.__setattr__(self, "signed", bool(self.signed))

    @property
    def name(self) -> str:
        """Canonical name, ``"int<bits>"`` or ``"uint<bits>"``."""
        return f"{'int' if self.signed else 'uint'}{self.bits}"

    @property
    def is_float(self) -> bool:
        """Always False."""
        return False

    @property
    def min_int(self) -> int:
        """Most negative value as a Python int."""
        return -(1 << (self.bits - 1)) if self.signed else 0

    @property
    def max_int(self) -> int:
        """Largest value as a Python int."""
        return (1 << (self.bits - 1)) - 1 if self.signed else (1 << self.bits) - 1

    @property
    def min_value(self) -> float:
        """Most negative value."""
        return float(self.min_int)

    @property
    def max_value(self) -> float:
        """Largest value."""
        return float(self.max_int)

    def decode(self, codes: npt.ArrayLike) -> np.ndarray:
        """Decode unsigned bit patterns to exact values.

        Parameters
        ----------
        codes : array_like of int
            Bit patterns in ``[0, 2**bits)``.

        Returns
        -------
        numpy.ndarray
            float64 values (two's complement interpretation when signed).

        Raises
        ------
        ValueError
            If a code has bits set above ``bits`` or is negative.
        TypeError
            If ``codes`` is not integer-valued.
        """
        arr = self._codes(codes)
        if self.signed:
            arr = np.where(arr >= (1 << (self.bits - 1)), arr - (1 << self.bits), arr)
        return arr.astype(np.float64)

    def encode(self, x: npt.ArrayLike, *, saturate: bool | None = None) -> np.ndarray:
        """Round half to even, clip into range and return bit patterns.

        Parameters
        ----------
        x : array_like
            Real values (infinities clip to the range ends).
        saturate : bool or None
            None or True; integers always saturate.

        Returns
        -------
        numpy.ndarray
            Unsigned bit patterns (uint8 for <= 8 bits, else uint16).

        Raises
        ------
        ValueError
            For NaN inputs or ``saturate=False``.
        """
        _reject_non_saturating(self.name, saturate)
        arr = _as_real(x, "x")
        if np.isnan(arr).any():
            raise ValueError(f"cannot encode NaN in {self.name}: the format has no NaN")
        vals = np.clip(np.rint(arr), self.min_value, self.max_value).astype(np.int64)
        codes = np.where(vals < 0, vals + (1 << self.bits), vals)
        return codes.astype(self.code_dtype)

    def values(self) -> np.ndarray:
        """Return every representable value, sorted ascending.

        Returns
        -------
        numpy.ndarray
            float64 values ``min_value .. max_value``.
        """
        return np.arange(self.min_int, self.max_int + 1, dtype=np.float64)


@dataclass(frozen=True)
class TernaryFormat(_FormatBase):
    """Ternary weights {-1, 0, +1} in 2 bits.

    The encoding is a two's complement int2 with the code ``0b10`` reserved:
    ``0b00`` -> 0, ``0b01`` -> +1, ``0b11`` -> -1.  Hardware can therefore read the
    two bits as a signed int2 without any translation.  Decoding the reserved code
    ``0b10`` (which would be -2 as an int2) raises ValueError.

    Notes
    -----
    ``encode`` rounds half to even and then clips to [-1, 1], so 0.5 -> 0 and
    1.5 -> +1.  NaN cannot be encoded.
    """

    RESERVED_CODE = 0b10

    @property
    def name(self) -> str:
        """Always ``"ternary"``."""
        return "ternary"

    @property
    def bits(self) -> int:
        """Always 2."""
        return 2

    @property
    def signed(self) -> bool:
        """Always True."""
        return True

    @property
    def is_float(self) -> bool:
        """Always False."""
        return False

    @property
    def min_value(self) -> float:
        """-1.0."""
        return -1.0

    @property
    def max_value(self) -> float:
        """+1.0."""
        return 1.0

    def decode(self, codes: npt.ArrayLike) -> np.ndarray:
        """Decode 2-bit codes to {-1, 0, +1}.

        Parameters
        ----------
        codes : array_like of int
            Codes ``0b00``, ``0b01`` or ``0b11``.

        Returns
        -------
        numpy.ndarray
            float64 values.

        Raises
        ------
        ValueError
            If a code is the reserved ``0b10`` or does not fit in 2 bits.
        """
        arr = self._codes(codes)
        reserved = arr == self.RESERVED_CODE
        if reserved.any():
            idx = tuple(int(i) for i in np.argwhere(reserved)[0])
            raise ValueError(
                f"ternary code 0b10 is reserved (it would be -2 as int2): found at index "
                f"{idx}; allowed codes: 0b00 (0), 0b01 (+1), 0b11 (-1)"
            )
        return np.where(arr == 3, -1, arr).astype(np.float64)

    def encode(self, x: npt.ArrayLike, *, saturate: bool | None = None) -> np.ndarray:
        """Round half to even, clip to [-1, 1] and return 2-bit codes.

        Parameters
        ----------
        x : array_like
            Real values.
        saturate : bool or None
            None or True; ternary always saturates.

        Returns
        -------
        numpy.ndarray
            uint8 codes in {0, 1, 3}.

        Raises
        ------
        ValueError
            For NaN inputs or ``saturate=False``.
        """
        _reject_non_saturating(self.name, saturate)
        arr = _as_real(x, "x")
        if np.isnan(arr).any():
            raise ValueError("cannot encode NaN in ternary: the format has no NaN")
        vals = np.clip(np.rint(arr), -1.0, 1.0).astype(np.int64)
        return np.where(vals < 0, 3, vals).astype(np.uint8)

    def values(self) -> np.ndarray:
        """Return ``[-1.0, 0.0, 1.0]``."""
        return np.array([-1.0, 0.0, 1.0])


@dataclass(frozen=True)
class BinaryFormat(_FormatBase):
    """Binary (sign) weights {-1, +1} in 1 bit, as in BitNet's 1-bit weights.

    Code ``1`` is +1 and code ``0`` is -1: the weight is ``2 * code - 1``, the same +-1 reading
    of a bit that LUT Tensor Core's table symmetrization uses for every weight bit-plane.

    Notes
    -----
    ``encode`` maps ``x >= 0`` to +1 and ``x < 0`` to -1 (the sign, with zero going to +1,
    as there is no zero to round to).  NaN cannot be encoded.
    """

    @property
    def name(self) -> str:
        """Always ``"binary"``."""
        return "binary"

    @property
    def bits(self) -> int:
        """Always 1."""
        return 1

    @property
    def signed(self) -> bool:
        """Always True."""
        return True

    @property
    def is_float(self) -> bool:
        """Always False."""
        return False

    @property
    def min_value(self) -> float:
        """-1.0."""
        return -1.0

    @property
    def max_value(self) -> float:
        """+1.0."""
        return 1.0

    def decode(self, codes: npt.ArrayLike) -> np.ndarray:
        """Decode 1-bit codes: 0 -> -1.0, 1 -> +1.0."""
        return (2 * self._codes(codes) - 1).astype(np.float64)

    def encode(self, x: npt.ArrayLike, *, saturate: bool | None = None) -> np.ndarray:
        """The sign of each value as a code: 1 for ``x >= 0``, 0 for ``x < 0``.

        Raises
        ------
        ValueError
            For NaN inputs or ``saturate=False``.
        """
        _reject_non_saturating(self.name, saturate)
        arr = _as_real(x, "x")
        if np.isnan(arr).any():
            raise ValueError("cannot encode NaN in binary: the format has no NaN")
        return (arr >= 0).astype(np.uint8)

    def values(self) -> np.ndarray:
        """Return ``[-1.0, 1.0]``."""
        return np.array([-1.0, 1.0])
