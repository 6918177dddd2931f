"""Number formats shared by the hardware generators, golden models and cost model.

This module is the single definition of every number format the toolkit knows about.
All conversions are exact:

* ``decode`` maps unsigned bit patterns to float64 values.  float64 has a 53-bit
  significand and an exponent range far wider than any format defined here, so every
  representable value (subnormals included) is held exactly.
* ``encode`` maps real values to unsigned bit patterns with round-to-nearest,
  ties-to-even (RNE), computed directly from the float64 input.  There is no
  intermediate float32 step, so there is no double rounding.

Formats
-------
``int2`` .. ``int16``
    Two's complement signed integers.
``uint1`` .. ``uint16``
    Unsigned integers.
``ternary``
    Values {-1, 0, +1} stored in 2 bits as a two's complement int2 with the code
    ``0b10`` reserved (``0b00`` -> 0, ``0b01`` -> +1, ``0b11`` -> -1).
``fp4_e2m1``
    OCP MX FP4: bias 1, no infinity, no NaN, max 6.0.
``fp8_e4m3``
    OCP FP8 E4M3 ("E4M3FN"): bias 7, no infinity, only ``S.1111.111`` is NaN, max 448.
``fp8_e5m2``
    OCP FP8 E5M2: bias 15, IEEE-like infinities and NaNs, max 57344.
``fp16``, ``bf16``, ``fp32``
    IEEE binary16, bfloat16 and IEEE binary32.

Overflow rule of ``encode``: formats with an infinity (``fp8_e5m2``, ``fp16``, ``bf16``,
``fp32``) overflow to +-inf by default, as IEEE 754 does, or to +-max finite when
``saturate=True``.  Formats without an infinity always saturate to +-max finite and
reject ``saturate=False``.

The module also provides bit packing helpers (:func:`pack_fields`,
:func:`unpack_fields`), two's complement helpers (:func:`to_signed`,
:func:`to_unsigned`) and group-wise weight quantization (:func:`quantize_groups`).
"""

from __future__ import annotations

import numbers
import operator
from dataclasses import dataclass
from typing import Literal, TypeAlias

import numpy as np
import numpy.typing as npt

__all__ = [
    "BinaryFormat",
    "FORMATS",
    "FloatFormat",
    "Format",
    "IntFormat",
    "NanStyle",
    "QuantizedWeights",
    "SCALE_FORMAT_NAMES",
    "SPECIAL_FORMATS",
    "SpecialValueFormat",
    "TernaryFormat",
    "get_format",
    "get_weight_format",
    "int_range",
    "signed_bits_for_range",
    "pack_fields",
    "quantize_groups",
    "to_signed",
    "to_unsigned",
    "unpack_fields",
]

NanStyle: TypeAlias = Literal["ieee", "all_ones", "none"]
"""How a float format encodes NaN.

``"ieee"``: exponent all ones with a non-zero mantissa is NaN and with a zero mantissa
is +-inf.  ``"all_ones"``: only the codes with every exponent and mantissa bit set are
NaN (OCP E4M3FN); there is no infinity.  ``"none"``: no NaN and no infinity.
"""

_NAN_STYLES: tuple[str, ...] = ("ieee", "all_ones", "none")

# Formats accepted for quantization scales; narrower formats such as fp8_e5m2 or
# fp4 are deliberately excluded because their 2-3 significant bits make the scale
# itself the dominant error source.
SCALE_FORMAT_NAMES: tuple[str, ...] = ("fp16", "bf16", "fp32", "fp8_e4m3")


# --------------------------------------------------------------------------------------
# Input normalisation helpers
# --------------------------------------------------------------------------------------


def _is_int(value: object) -> bool:
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
    ivalue = operator.index(value)  # type: ignore[arg-type]
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


# --------------------------------------------------------------------------------------
# Two's complement helpers
# --------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------
# Format classes
# --------------------------------------------------------------------------------------


class _FormatBase:
    """Behaviour shared by all formats; subclasses provide ``bits`` and the codecs."""

    bits: int

    @property
    def code_dtype(self) -> np.dtype:
        """Unsigned dtype returned by ``encode`` (uint8, uint16 or uint32)."""
        return _code_dtype(self.bits)

    def _codes(self, codes: npt.ArrayLike) -> np.ndarray:
        """Validate a code array against ``bits`` and return it as int64."""
        arr = _as_int64(codes, "codes")
        _check_code_range(arr, self.bits)
        return arr

    def decode(self, codes: npt.ArrayLike) -> np.ndarray:
        """Decode bit patterns; implemented by subclasses."""
        raise NotImplementedError

    def encode(self, x: npt.ArrayLike, *, saturate: bool | None = None) -> np.ndarray:
        """Encode values; implemented by subclasses."""
        raise NotImplementedError

    def quantize(self, x: npt.ArrayLike, *, saturate: bool | None = None) -> np.ndarray:
        """Round values to the nearest representable value, ``decode(encode(x))``.

        Parameters
        ----------
        x : array_like
            Real values.
        saturate : bool or None
            Overflow rule, as in ``encode``.

        Returns
        -------
        numpy.ndarray
            float64 values of the format.
        """
        return self.decode(self.encode(x, saturate=saturate))


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
    def bits(self) -> int:  # type: ignore[override]
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
    def bits(self) -> int:  # type: ignore[override]
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


@dataclass(frozen=True)
class FloatFormat(_FormatBase):
    """Binary floating point format with sign, biased exponent and mantissa fields.

    Layout from MSB to LSB: 1 sign bit, ``exp_bits`` exponent bits, ``man_bits``
    mantissa bits.  An exponent field of 0 encodes zero and subnormals
    (``f * 2**(1 - bias - man_bits)``); other fields encode normals
    (``(2**man_bits + f) * 2**(e - bias - man_bits)``), except where ``nan_style``
    reserves codes for NaN and infinity.

    Parameters
    ----------
    name : str
        Format name.
    exp_bits : int
        Exponent width, ``1 <= exp_bits <= 8``.
    man_bits : int
        Mantissa (fraction) width, ``0 <= man_bits <= 23``.
    bias : int
        Exponent bias, ``0 <= bias < 2**exp_bits``.
    has_inf : bool
        Whether the format has infinities; requires ``nan_style == "ieee"``.
    nan_style : {"ieee", "all_ones", "none"}
        NaN encoding, see :data:`NanStyle`.  ``"ieee"`` requires ``has_inf``.

    Notes
    -----
    The width limits guarantee every value is exactly representable in float64 and
    every code fits in uint32.
    """

    name: str
    exp_bits: int
    man_bits: int
    bias: int
    has_inf: bool
    nan_style: NanStyle

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise TypeError(f"name must be a non-empty str, got {self.name!r}")
        _check_int_param("exp_bits", self.exp_bits, 1, 8)
        _check_int_param("man_bits", self.man_bits, 0, 23)
        _check_int_param("bias", self.bias, 0, (1 << self.exp_bits) - 1)
        if not isinstance(self.has_inf, (bool, np.bool_)):
            raise TypeError(f"has_inf must be a bool, got {self.has_inf!r}")
        if self.nan_style not in _NAN_STYLES:
            raise ValueError(
                f"nan_style must be one of {list(_NAN_STYLES)}, got {self.nan_style!r}"
            )
        # IEEE-style formats reserve the top exponent for both inf and NaN; keeping the
        # two flags in lock-step avoids half-defined hybrids.
        if bool(self.has_inf) != (self.nan_style == "ieee"):
            raise ValueError(
                f"has_inf={self.has_inf} is inconsistent with nan_style={self.nan_style!r}; "
                f"allowed: has_inf=True with 'ieee', has_inf=False with 'all_ones' or 'none'"
            )
        if self.nan_style == "ieee" and (self.exp_bits < 2 or self.man_bits < 1):
            raise ValueError(
                f"nan_style='ieee' needs exp_bits >= 2 and man_bits >= 1, got "
                f"exp_bits={self.exp_bits}, man_bits={self.man_bits}"
            )
        if self.nan_style == "all_ones" and self.man_bits < 1:
            raise ValueError(
                f"nan_style='all_ones' needs man_bits >= 1, got man_bits={self.man_bits}"
            )
        for field_name in ("exp_bits", "man_bits", "bias"):
            object.__setattr__(self, field_name, int(getattr(self, field_name)))
        object.__setattr__(self, "has_inf", bool(self.has_inf))

    # ---- layout ---------------------------------------------------------------------

    @property
    def bits(self) -> int:  # type: ignore[override]
        """Total width ``1 + exp_bits + man_bits``."""
        return 1 + self.exp_bits + self.man_bits

    @property
    def signed(self) -> bool:
        """Always True (all float formats have a sign bit)."""
        return True

    @property
    def is_float(self) -> bool:
        """Always True."""
        return True

    @property
    def has_nan(self) -> bool:
        """Whether any code decodes to NaN."""
        return self.nan_style != "none"

    @property
    def min_exponent(self) -> int:
        """Unbiased exponent of the smallest normal (also the subnormal exponent)."""
        return 1 - self.bias

    @property
    def _exp_all_ones(self) -> int:
        return (1 << self.exp_bits) - 1

    @property
    def _man_all_ones(self) -> int:
        return (1 << self.man_bits) - 1

    @property
    def max_finite_code(self) -> int:
        """Bit pattern (sign clear) of the largest finite value."""
        if self.nan_style == "ieee":
            return ((self._exp_all_ones - 1) << self.man_bits) | self._man_all_ones
        if self.nan_style == "all_ones":
            return (self._exp_all_ones << self.man_bits) | (self._man_all_ones - 1)
        return (self._exp_all_ones << self.man_bits) | self._man_all_ones

    @property
    def inf_code(self) -> int | None:
        """Bit pattern of +inf, or None when the format has no infinity."""
        return self._exp_all_ones << self.man_bits if self.has_inf else None

    @property
    def nan_code(self) -> int | None:
        """Canonical (quiet, positive) NaN pattern, or None when there is no NaN."""
        if self.nan_style == "ieee":
            return (self._exp_all_ones << self.man_bits) | (1 << (self.man_bits - 1))
        if self.nan_style == "all_ones":
            return (self._exp_all_ones << self.man_bits) | self._man_all_ones
        return None

    @property
    def max_value(self) -> float:
        """Largest finite value."""
        return float(self.decode(self.max_finite_code))

    @property
    def min_value(self) -> float:
        """Most negative finite value, ``-max_value``."""
        return -self.max_value

    @property
    def smallest_normal(self) -> float:
        """Smallest positive normal value, ``2**(1 - bias)``."""
        return float(np.ldexp(1.0, self.min_exponent))

    @property
    def smallest_subnormal(self) -> float:
        """Smallest positive value, ``2**(1 - bias - man_bits)``."""
        return float(np.ldexp(1.0, self.min_exponent - self.man_bits))

    # ---- codecs ---------------------------------------------------------------------

    def decode(self, codes: npt.ArrayLike) -> np.ndarray:
        """Decode bit patterns to exact float64 values.

        Parameters
        ----------
        codes : array_like of int
            Unsigned bit patterns in ``[0, 2**bits)``.

        Returns
        -------
        numpy.ndarray
            float64 values; NaN codes give nan, infinity codes give +-inf, and the
            negative zero code gives -0.0.

        Raises
        ------
        ValueError
            If a code has bits set above ``bits`` or is negative.
        TypeError
            If ``codes`` is not integer-valued.
        """
        arr = self._codes(codes)
        m = self.man_bits
        sign = (arr >> (self.bits - 1)) & 1
        exp = (arr >> m) & self._exp_all_ones
        man = arr & self._man_all_ones
        # ldexp of an integer significand is exact: the significand has <= 24 bits and
        # the exponent stays far inside float64's range.
        subnormal = np.ldexp(man.astype(np.float64), self.min_exponent - m)
        normal = np.ldexp((man + (1 << m)).astype(np.float64), (exp - self.bias - m))
        mag = np.where(exp == 0, subnormal, normal)
        top = exp == self._exp_all_ones
        if self.nan_style == "ieee":
            mag = np.where(top & (man == 0), np.inf, mag)
            mag = np.where(top & (man != 0), np.nan, mag)
        elif self.nan_style == "all_ones":
            mag = np.where(top & (man == self._man_all_ones), np.nan, mag)
        return np.where(sign == 1, -mag, mag)

    def encode(self, x: npt.ArrayLike, *, saturate: bool | None = None) -> np.ndarray:
        """Round to nearest, ties to even, and return bit patterns.

        Parameters
        ----------
        x : array_like
            Real values.
        saturate : bool or None
            Overflow rule.  None selects the format default: overflow to +-inf when
            the format has infinities, otherwise saturate.  True clamps finite
            overflow *and* +-inf inputs to +-max finite (OCP "saturating"
            conversion).  False is only allowed for formats with infinities.

        Returns
        -------
        numpy.ndarray
            Unsigned bit patterns (uint8 for <= 8 bits, uint16 <= 16, else uint32).

        Raises
        ------
        ValueError
            For NaN inputs when the format has no NaN, or ``saturate=False`` on a
            format without infinity.

        Notes
        -----
        Overflow is decided on the rounded value, as IEEE 754 does: an input rounds to
        infinity (or saturates) iff RNE with an unbounded exponent gives a magnitude
        above ``max_value``.  NaN inputs encode to the canonical positive NaN.
        -0.0 keeps its sign bit.
        """
        if self.has_inf:
            _check_saturate(saturate)
            sat = bool(saturate) if saturate is not None else False
        else:
            _reject_non_saturating(self.name, saturate)
            sat = True
        arr = _as_real(x, "x")
        nan = np.isnan(arr)
        if nan.any() and not self.has_nan:
            raise ValueError(f"cannot encode NaN in {self.name}: the format has no NaN")

        m = self.man_bits
        sign = np.signbit(arr).astype(np.int64)
        mag = np.abs(arr)
        finite = np.isfinite(mag)
        nonzero = finite & (mag > 0)
        # Substitute 1.0 for zero/inf/nan so frexp/ldexp below stay warning free; those
        # lanes are overwritten afterwards.
        safe = np.where(nonzero, mag, 1.0)
        _, fexp = np.frexp(safe)  # safe = frac * 2**fexp with frac in [0.5, 1)
        # Exponent of the result's quantum: the input's own binade, but never below the
        # subnormal exponent so tiny inputs share one fixed quantum.
        exp = np.maximum(fexp.astype(np.int64) - 1, self.min_exponent)
        with np.errstate(over="ignore", under="ignore"):
            # Scaling by a power of two is exact in float64, so rint sees the exact
            # quotient and performs a single correctly rounded RNE step.
            sig = np.rint(np.ldexp(safe, m - exp))
            sig = np.where(nonzero, sig, 0.0)
            # Rounding up may carry into the next binade (sig == 2**(m+1)).
            carry = sig >= float(1 << (m + 1))
            sig = np.where(carry, sig / 2.0, sig).astype(np.int64)
            exp = exp + carry
            rounded = np.ldexp(sig.astype(np.float64), exp - m)
        normal = sig >= (1 << m)
        exp_field = np.where(normal, exp + self.bias, 0)
        man_field = np.where(normal, sig - (1 << m), sig)

        overflow = (~finite & ~nan) | (finite & (rounded > self.max_value))
        exp_field = np.where(overflow, 0, exp_field)
        man_field = np.where(overflow, 0, man_field)
        mag_code = (exp_field << m) | man_field
        over_code = self.max_finite_code if sat else self.inf_code
        mag_code = np.where(overflow, over_code, mag_code)
        code = (sign << (self.bits - 1)) | mag_code
        if self.has_nan:
            code = np.where(nan, self.nan_code, code)
        return code.astype(self.code_dtype)

    def values(self) -> np.ndarray:
        """Return every finite representable value, sorted and unique.

        Returns
        -------
        numpy.ndarray
            float64 values; +0.0 and -0.0 are reported once, as +0.0.

        Raises
        ------
        ValueError
            If the format is wider than 16 bits (fp32 would need 4 G entries).
        """
        if self.bits > 16:
            raise ValueError(
                f"values() enumerates formats with at most 16 bits; {self.name} has "
                f"{self.bits} bits"
            )
        vals = self.decode(np.arange(1 << self.bits, dtype=np.int64))
        # Adding 0.0 turns -0.0 into +0.0, so the single zero np.unique keeps is +0.0.
        return np.unique(vals[np.isfinite(vals)]) + 0.0


Format: TypeAlias = IntFormat | TernaryFormat | BinaryFormat | FloatFormat
"""Any number format defined in this module."""


def _build_formats() -> dict[str, Format]:
    """Create the registry of canonical formats."""
    formats: dict[str, Format] = {}
    for bits in range(2, 17):
        fmt = IntFormat(bits, True)
        formats[fmt.name] = fmt
    for bits in range(1, 17):
        fmt = IntFormat(bits, False)
        formats[fmt.name] = fmt
    formats["ternary"] = TernaryFormat()
    formats["binary"] = BinaryFormat()
    for ffmt in (
        FloatFormat("fp4_e2m1", 2, 1, 1, False, "none"),
        FloatFormat("fp8_e4m3", 4, 3, 7, False, "all_ones"),
        FloatFormat("fp8_e5m2", 5, 2, 15, True, "ieee"),
        FloatFormat("fp16", 5, 10, 15, True, "ieee"),
        FloatFormat("bf16", 8, 7, 127, True, "ieee"),
        FloatFormat("fp32", 8, 23, 127, True, "ieee"),
    ):
        formats[ffmt.name] = ffmt
    return formats


FORMATS: dict[str, Format] = _build_formats()
"""All canonical formats by name."""


def get_format(name: str | Format) -> Format:
    """Look up a format by canonical name; format objects are returned unchanged.

    Parameters
    ----------
    name : str or Format
        Canonical name (e.g. ``"int8"``, ``"fp8_e4m3"``) or a format object.

    Returns
    -------
    Format
        The format.

    Raises
    ------
    ValueError
        If the name is unknown; the message lists the allowed names.
    TypeError
        If ``name`` is neither a str nor a format object.
    """
    if isinstance(name, (IntFormat, TernaryFormat, BinaryFormat, FloatFormat)):
        return name
    if not isinstance(name, str):
        raise TypeError(
            f"format must be a str name or a format object, got {name!r} of type "
            f"{type(name).__name__}"
        )
    try:
        return FORMATS[name]
    except KeyError:
        raise ValueError(f"unknown format name {name!r}; allowed: {', '.join(FORMATS)}") from None


# --------------------------------------------------------------------------------------
# BitMoD's special-value formats
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SpecialValueFormat:
    """A small sign-magnitude float whose redundant ``-0`` code carries a per-group value.

    BitMoD (HPCA 2025) quantizes each group of weights with a data type chosen per group; its
    FP4 and FP3 variants replace the useless negative zero with a *special value* picked per
    group from a short list, which adds resolution or asymmetry at no storage cost.

    Codes are ``sign << (bits - 1) | magnitude_code``; ``magnitudes[magnitude_code]`` is the
    value of the positive codes. The code ``1 << (bits - 1)`` (sign set, magnitude 0) decodes
    to ``specials[special]``, where ``special`` is the group's 2-bit selector.

    ``bitmod_fp4``: the FP4 E2M1 magnitudes {0, 0.5, 1, 1.5, 2, 3, 4, 6}, specials
    (+5, -5, +8, -8). ``bitmod_fp3``: magnitudes {0, 1, 2, 4} (a 2-bit exponent, no mantissa),
    specials (+3, -3, +6, -6).
    """

    name: str
    bits: int
    magnitudes: tuple[float, ...]
    specials: tuple[float, ...]

    signed = True
    is_float = True

    @property
    def special_code(self) -> int:
        """The code (sign set, magnitude zero) that holds the group's special value."""
        return 1 << (self.bits - 1)

    @property
    def min_value(self) -> float:
        return -max(max(self.magnitudes), *map(abs, self.specials))

    @property
    def max_value(self) -> float:
        return -self.min_value

    def _special(self, special: object) -> float:
        if isinstance(special, bool) or not isinstance(special, numbers.Integral) or not (
                0 <= int(special) < len(self.specials)):
            raise ValueError(f"special must be an integer selector in [0, "
                             f"{len(self.specials) - 1}] for {self.name} (values "
                             f"{self.specials}), not {special!r}")
        return self.specials[int(special)]

    def decode(self, codes: npt.ArrayLike, special: int = 0) -> np.ndarray:
        """Exact values of ``codes`` for a group whose special-value selector is ``special``."""
        c = _as_int64(codes, "codes")
        _check_code_range(c, self.bits)
        mag_code = c & (self.special_code - 1)
        mags = np.asarray(self.magnitudes, dtype=np.float64)[mag_code]
        vals = np.where(c >= self.special_code, -mags, mags)
        return np.where(c == self.special_code, self._special(special), vals) + 0.0

    def values(self, special: int = 0) -> np.ndarray:
        """Every value of a group with selector ``special``, sorted and unique."""
        return np.unique(self.decode(np.arange(1 << self.bits), special))

    def encode(self, x: npt.ArrayLike, special: int = 0) -> np.ndarray:
        """Nearest code for each value (ties to the smaller magnitude code), saturating."""
        xv = _as_real(x, "x")
        codes = np.arange(1 << self.bits)
        vals = self.decode(codes, special)
        # Among equal values (+0 only) keep the lower code; argmin keeps the first minimum.
        idx = np.argmin(np.abs(xv[..., None] - vals), axis=-1)
        return codes[idx].astype(np.uint8)


SPECIAL_FORMATS: dict[str, SpecialValueFormat] = {
    f.name: f for f in (
        SpecialValueFormat("bitmod_fp4", 4, (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0),
                           (5.0, -5.0, 8.0, -8.0)),
        SpecialValueFormat("bitmod_fp3", 3, (0.0, 1.0, 2.0, 4.0), (3.0, -3.0, 6.0, -6.0)),
    )
}
"""BitMoD's FP4 and FP3 variants with a per-group special value."""


def get_weight_format(name: str) -> Format | SpecialValueFormat:
    """A canonical format (:func:`get_format`) or one of :data:`SPECIAL_FORMATS`."""
    if isinstance(name, str) and name in SPECIAL_FORMATS:
        return SPECIAL_FORMATS[name]
    return get_format(name)


# --------------------------------------------------------------------------------------
# Bit packing
# --------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------
# Group-wise weight quantization
# --------------------------------------------------------------------------------------


def _weight_format(value: object) -> IntFormat | TernaryFormat:
    """Resolve and validate a weight format argument."""
    fmt = get_format(value)  # type: ignore[arg-type]
    if not isinstance(fmt, (IntFormat, TernaryFormat)):
        allowed = [n for n, f in FORMATS.items() if not f.is_float]
        raise ValueError(
            f"weight_format must be an integer or ternary format, got {fmt.name!r}; "
            f"allowed: {', '.join(allowed)}"
        )
    return fmt


def _scale_format(value: object) -> FloatFormat:
    """Resolve and validate a scale format argument."""
    fmt = get_format(value)  # type: ignore[arg-type]
    if fmt.name not in SCALE_FORMAT_NAMES or not isinstance(fmt, FloatFormat):
        raise ValueError(
            f"scale_format must be one of {', '.join(SCALE_FORMAT_NAMES)}, got {fmt.name!r}"
        )
    return fmt


@dataclass(frozen=True, eq=False)
class QuantizedWeights:
    """Group-wise quantized weight matrix, as consumed by the hardware.

    Attributes
    ----------
    codes : numpy.ndarray
        int64 ``[K, N]``.  Unsigned codes ``0 .. 2**b - 1`` for asymmetric (unsigned
        integer) formats; signed values for symmetric (signed integer, ternary)
        formats.  These are integer values, not bit patterns.
    scales : numpy.ndarray
        float64 ``[K // group_size, N]``, each finite, > 0 and exactly representable
        in ``scale_format``.
    zeros : numpy.ndarray
        int64 ``[K // group_size, N]``; all 0 for symmetric formats, otherwise
        unsigned zero points with the weight format's range.
    group_size : int
        Rows per group; group ``g`` covers rows ``g*G .. g*G + G - 1``.
    weight_format : IntFormat or TernaryFormat
        Format of ``codes`` (a canonical name is accepted and resolved).
    scale_format : FloatFormat
        Format of ``scales`` (a canonical name is accepted and resolved).

    Notes
    -----
    Arrays are copied and made read-only on construction so the object is truly
    immutable.  Equality is identity (``eq=False``) because element-wise array
    comparison has no single truth value.
    """

    codes: np.ndarray
    scales: np.ndarray
    zeros: np.ndarray
    group_size: int
    weight_format: IntFormat | TernaryFormat
    scale_format: FloatFormat = FORMATS["fp16"]  # type: ignore[assignment]

    def __post_init__(self) -> None:
        wfmt = _weight_format(self.weight_format)
        sfmt = _scale_format(self.scale_format)
        codes = _as_int64(self.codes, "codes")
        if codes.ndim != 2:
            raise ValueError(f"codes must be a 2-D [K, N] array, got shape {codes.shape}")
        k, n = codes.shape
        group = _check_int_param("group_size", self.group_size, 1, None)
        if k % group:
            raise ValueError(
                f"group_size must divide K: got group_size={group} for K={k}; "
                f"allowed: divisors of {k}"
            )
        grid = (k // group, n)
        scales = _as_real(self.scales, "scales")
        zeros = _as_int64(self.zeros, "zeros")
        for label, arr in (("scales", scales), ("zeros", zeros)):
            if arr.shape != grid:
                raise ValueError(
                    f"{label} must have shape [K // group_size, N] = {grid}, got {arr.shape}"
                )
        lo, hi = int(wfmt.min_value), int(wfmt.max_value)
        if codes.size and (codes.min() < lo or codes.max() > hi):
            raise ValueError(
                f"codes must lie in [{lo}, {hi}] for {wfmt.name}, got range "
                f"[{codes.min()}, {codes.max()}]"
            )
        if wfmt.signed and np.any(zeros != 0):
            raise ValueError(f"zeros must be all 0 for symmetric format {wfmt.name}")
        if zeros.size and (zeros.min() < lo or zeros.max() > hi):
            raise ValueError(
                f"zeros must lie in [{lo}, {hi}] for {wfmt.name}, got range "
                f"[{zeros.min()}, {zeros.max()}]"
            )
        if not np.all(np.isfinite(scales) & (scales > 0)):
            raise ValueError("scales must all be finite and > 0")
        if not np.array_equal(sfmt.quantize(scales), scales):
            raise ValueError(f"scales must be exactly representable in {sfmt.name}")
        for arr in (codes, scales, zeros):
            arr.setflags(write=False)
        object.__setattr__(self, "codes", codes)
        object.__setattr__(self, "scales", scales)
        object.__setattr__(self, "zeros", zeros)
        object.__setattr__(self, "group_size", group)
        object.__setattr__(self, "weight_format", wfmt)
        object.__setattr__(self, "scale_format", sfmt)

    @property
    def symmetric(self) -> bool:
        """True for signed integer and ternary formats (zero points are all 0)."""
        return self.weight_format.signed

    @property
    def shape(self) -> tuple[int, int]:
        """Matrix shape ``(K, N)``."""
        return (int(self.codes.shape[0]), int(self.codes.shape[1]))

    def dequantize(self) -> np.ndarray:
        """Reconstruct the real matrix, ``(codes - zeros) * scales`` per group.

        Returns
        -------
        numpy.ndarray
            float64 ``[K, N]``.  Exact: the integer difference has at most 17 bits
            and the scale at most 24 significant bits, so the product fits in
            float64's 53-bit significand.
        """
        zeros = np.repeat(self.zeros, self.group_size, axis=0)
        scales = np.repeat(self.scales, self.group_size, axis=0)
        return (self.codes - zeros).astype(np.float64) * scales


def quantize_groups(
    w: npt.ArrayLike,
    group_size: int,
    *,
    weight_format: str | IntFormat | TernaryFormat = "uint4",
    scale_format: str | FloatFormat = "fp16",
) -> QuantizedWeights:
    """Quantize a ``[K, N]`` matrix along K in groups of ``group_size`` rows.

    Each (group, column) pair gets its own scale (and zero point if asymmetric).

    * Unsigned integer ``b``-bit formats are asymmetric:
      ``scale = (max(hi, 0) - min(lo, 0)) / (2**b - 1)`` so 0 is always inside the
      range; ``zero = clip(rne(-min(lo, 0) / scale), 0, 2**b - 1)``;
      ``code = clip(rne(w / scale) + zero, 0, 2**b - 1)``.
    * Signed integer ``b``-bit formats are symmetric:
      ``scale = max|w| / (2**(b-1) - 1)``, zeros are 0 and
      ``code = clip(rne(w / scale), -(2**(b-1) - 1), 2**(b-1) - 1)``; the most
      negative code is left unused to keep the grid symmetric.
    * Ternary is symmetric with BitNet's absmean scale ``scale = mean|w|`` and
      ``code = clip(rne(w / scale), -1, 1)``.

    A group whose raw scale is 0 (all weights zero) gets scale 1.0, which every
    scale format represents, so all its codes equal the zero point.  The raw scale
    is then rounded to ``scale_format`` by RNE with saturation (a scale that would
    overflow becomes the format's max finite value); if it rounds to 0 the format's
    smallest positive (subnormal) value is used, so every scale is finite and > 0.

    Parameters
    ----------
    w : array_like, shape (K, N)
        Finite real weights.
    group_size : int
        Rows per group; must divide K.
    weight_format : str or IntFormat or TernaryFormat, default "uint4"
        Integer or ternary format of the codes.
    scale_format : str or FloatFormat, default "fp16"
        One of ``fp16``, ``bf16``, ``fp32``, ``fp8_e4m3``.

    Returns
    -------
    QuantizedWeights
        Codes, scales and zero points.

    Raises
    ------
    ValueError
        For a non-2-D or empty ``w``, non-finite weights, a ``group_size`` that is
        < 1 or does not divide K, or an unknown/unsupported format.
    TypeError
        For non-real ``w``, a non-int ``group_size``, or a format that is neither a
        name nor a format object.

    Notes
    -----
    Because the scale is rounded to nearest rather than up, ``max / scale`` can
    exceed the top code by a fraction of a step; such extreme weights are clipped.
    Every weight that is not clipped is reconstructed within ``scale / 2``.
    """
    wfmt = _weight_format(weight_format)
    sfmt = _scale_format(scale_format)
    arr = _as_real(w, "w")
    if arr.ndim != 2:
        raise ValueError(f"w must be a 2-D [K, N] array, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"w must be non-empty, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(arr))[0])
        raise ValueError(f"w must be finite: got {arr[bad]} at index {bad}")
    k, n = arr.shape
    group = _check_int_param("group_size", group_size, 1, None)
    if k % group:
        raise ValueError(
            f"group_size must divide K: got group_size={group} for K={k}; allowed: divisors of {k}"
        )
    groups = arr.reshape(k // group, group, n)

    # Asymmetric formats widen the group range to include 0 so an exact 0 weight is
    # reconstructed exactly (it maps to the zero point).
    low = np.minimum(np.min(groups, axis=1), 0.0)
    # Overflow is possible only for absurdly large finite weights (range > 1.8e308);
    # the saturating scale encode below turns the resulting inf into max finite.
    with np.errstate(over="ignore"):
        if isinstance(wfmt, TernaryFormat):
            qmin, qmax = -1, 1
            raw = np.mean(np.abs(groups), axis=1)
        elif wfmt.signed:
            qmin, qmax = -wfmt.max_int, wfmt.max_int
            raw = np.max(np.abs(groups), axis=1) / qmax
        else:
            qmin, qmax = 0, wfmt.max_int
            raw = (np.maximum(np.max(groups, axis=1), 0.0) - low) / qmax
    raw = np.where(raw == 0.0, 1.0, raw)
    scales = sfmt.quantize(raw, saturate=True)
    scales = np.where(scales == 0.0, sfmt.smallest_subnormal, scales)

    if wfmt.signed:
        zeros = np.zeros(scales.shape, dtype=np.int64)
    else:
        zeros = np.clip(np.rint(-low / scales), qmin, qmax).astype(np.int64)
    with np.errstate(over="ignore"):
        scaled = np.rint(groups / scales[:, None, :])
    codes = np.clip(scaled + zeros[:, None, :], qmin, qmax)
    return QuantizedWeights(
        codes=codes.astype(np.int64).reshape(k, n),
        scales=scales,
        zeros=zeros,
        group_size=group,
        weight_format=wfmt,
        scale_format=sfmt,
    )
