"""BitMoD's special-value formats, whose redundant ``-0`` code holds a per-group value."""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ._checks import _as_int64, _as_real, _check_code_range
from .registry import Format, get_format

__all__ = [
    "SPECIAL_FORMATS",
    "SpecialValueFormat",
    "get_weight_format",
]


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
