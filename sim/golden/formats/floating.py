"""Binary floating point formats (sign, biased exponent, mantissa) with exact RNE codecs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypeAlias

import numpy as np
import numpy.typing as npt

from ._base import _FormatBase
from ._checks import _as_real, _check_int_param, _check_saturate, _reject_non_saturating

__all__ = [
    "FloatFormat",
    "NanStyle",
]

NanStyle: TypeAlias = Literal["ieee", "all_ones", "none"]
"""How a float format encodes NaN.

``"ieee"``: exponent all ones with a non-zero mantissa is NaN and with a zero mantissa
is +-inf.  ``"all_ones"``: only the codes with every exponent and mantissa bit set are
NaN (OCP E4M3FN); there is no infinity.  ``"none"``: no NaN and no infinity.
"""

_NAN_STYLES: tuple[str, ...] = ("ieee", "all_ones", "none")


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
    def bits(self) -> int:
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
        # A format without infinity always saturates (``sat`` is True).
        inf_code = self.inf_code
        over_code = self.max_finite_code if sat or inf_code is None else inf_code
        mag_code = np.where(overflow, over_code, mag_code)
        code = (sign << (self.bits - 1)) | mag_code
        nan_code = self.nan_code  # None exactly when the format has no NaN
        if nan_code is not None:
            code = np.where(nan, nan_code, code)
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
