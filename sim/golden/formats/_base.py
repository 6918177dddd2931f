"""The behaviour every number format class shares (code validation, ``quantize``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from ._checks import _as_int64, _check_code_range, _code_dtype

__all__ = [
    "_FormatBase",
]


class _FormatBase:
    """Behaviour shared by all formats; subclasses provide ``bits`` and the codecs."""

    if TYPE_CHECKING:
        # The total width, read-only. Declared for the type checker only: IntFormat stores it
        # as a dataclass field (a property here would become that field's default), the other
        # formats compute it as a property.
        @property
        def bits(self) -> int: ...

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
