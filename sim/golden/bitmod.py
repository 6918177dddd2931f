"""BitMoD's fine-grained data-type adaptation: per-group choice of weight data type.

Each group of ``group_size`` weights along K (per output column) is quantized with every candidate
data type (and, for BitMoD's FP4/FP3, every special value); the candidate with the smallest squared
error wins. Scales are two-level, as the bit-serial PE consumes them: an integer group scale
``q_g`` in ``[1, 2^scale_bits - 1]`` (what the PE's bit-serial dequantizer multiplies by) times a
per-column real scale applied outside the PE. All weight formats are symmetric (no zero point), as
in BitMoD.

The result feeds :class:`pe_designs.bitserial.BitSerialConfig` PEs directly: ``codes``,
``dtype`` (index into the candidate tuple), ``special`` and ``scale`` are the ``i_w`` fields, and
the PE's integer output times ``column_scale * 2^-frac_bits`` is exactly
``sum_k a_k * values[k] * scale[k // G]`` times the column scale.
"""

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .formats import SpecialValueFormat, get_weight_format
from .terms import BITSERIAL_WEIGHT_FORMATS, frac_bits

__all__ = ["MixedQuantizedWeights", "quantize_mixed_groups"]


@dataclass(frozen=True, eq=False)
class MixedQuantizedWeights:
    """Weights quantized with a data type chosen per group (shapes: K x N codes, K/G x N groups)."""

    codes: np.ndarray
    dtype: np.ndarray
    special: np.ndarray
    scale: np.ndarray
    column_scale: np.ndarray
    formats: tuple[str, ...]
    group_size: int

    @property
    def frac_bits(self) -> int:
        """The common binary point of the formats' integer weights (as the PE aligns them)."""
        return max(frac_bits(f) for f in self.formats)

    def values(self) -> np.ndarray:
        """Exact weight values in format units (before any scale), K x N."""
        k, n = self.codes.shape
        out = np.zeros((k, n))
        g = self.group_size
        for gi in range(k // g):
            for col in range(n):
                fmt = get_weight_format(self.formats[self.dtype[gi, col]])
                codes = self.codes[gi * g:(gi + 1) * g, col]
                if isinstance(fmt, SpecialValueFormat):
                    out[gi * g:(gi + 1) * g, col] = fmt.decode(codes, int(self.special[gi, col]))
                else:
                    out[gi * g:(gi + 1) * g, col] = fmt.decode(codes)
        return out

    def dequantize(self) -> np.ndarray:
        """Real weights, value x integer group scale x column scale (float64: the last product
        rounds; :meth:`values` and the integer scales are exact)."""
        rows = np.repeat(self.scale, self.group_size, axis=0)
        return self.values() * rows * self.column_scale[None, :]


def _candidates(formats: tuple[str, ...]):
    for index, name in enumerate(formats):
        fmt = get_weight_format(name)
        specials = range(len(fmt.specials)) if isinstance(fmt, SpecialValueFormat) else (0,)
        for special in specials:
            yield index, name, fmt, special


def _max_abs(fmt, special: int) -> float:
    values = fmt.values(special) if isinstance(fmt, SpecialValueFormat) else fmt.values()
    return float(np.max(np.abs(values)))


def _encode(fmt, x: np.ndarray, special: int) -> np.ndarray:
    if isinstance(fmt, SpecialValueFormat):
        return fmt.encode(x, special)
    return fmt.encode(x)


def _decode(fmt, codes: np.ndarray, special: int) -> np.ndarray:
    if isinstance(fmt, SpecialValueFormat):
        return fmt.decode(codes, special)
    return fmt.decode(codes)


def quantize_mixed_groups(w: npt.ArrayLike, group_size: int, *,
                          formats: tuple[str, ...] = ("int4", "bitmod_fp4"),
                          scale_bits: int = 8, scale_signed: bool = False,
                          column_scale: npt.ArrayLike | None = None) -> MixedQuantizedWeights:
    """Quantize ``w`` [K, N] with the best data type of ``formats`` for every group.

    ``scale_signed`` matches a PE with a two's complement scale (positive codes up to
    ``2^(scale_bits - 1) - 1``). ``column_scale`` (N positive reals) fixes the second-level
    scales; by default each column's
    is chosen so that the narrowest-ranged candidate's ideal group scale still fits
    ``scale_bits``. With the column scales fixed, each group's choice minimises its squared
    error, so a mixture is never worse than any single one of its formats.

    Raises ValueError for a non-2-D or non-finite ``w``, a group size that does not divide K,
    unknown or unsigned formats (they need a zero point: use
    :func:`sim.golden.formats.quantize_groups`) and ``scale_bits`` outside 1-8.
    """
    w = np.asarray(w, dtype=np.float64)
    if w.ndim != 2:
        raise ValueError(f"w must be a 2-D [K, N] array, got shape {w.shape}")
    if not np.all(np.isfinite(w)):
        raise ValueError("w must be finite")
    k, n = w.shape
    if isinstance(group_size, bool) or not isinstance(group_size, int) or group_size < 1 \
            or k % group_size:
        raise ValueError(f"group_size must divide K: got group_size={group_size!r} for K={k}")
    if isinstance(scale_bits, bool) or not isinstance(scale_bits, int) or not 1 <= scale_bits <= 8:
        raise ValueError(f"scale_bits must be in [1, 8], not {scale_bits!r}")
    formats = tuple(formats)
    if not formats:
        raise ValueError("formats must name at least one data type")
    for f in formats:
        if f not in BITSERIAL_WEIGHT_FORMATS:
            raise ValueError(f"formats entry must be one of {', '.join(BITSERIAL_WEIGHT_FORMATS)}"
                             f", not {f!r}")
        if f.startswith("uint"):
            raise ValueError(f"formats entry {f!r} needs a zero point; mixed-type groups are "
                             f"symmetric (use quantize_groups for asymmetric weights)")
    cands = list(_candidates(formats))
    groups = k // group_size
    if not isinstance(scale_signed, bool):
        raise TypeError(f"scale_signed must be a bool, not {scale_signed!r}")
    if scale_signed and scale_bits < 2:
        raise ValueError(f"scale_bits must be >= 2 for a signed scale, not {scale_bits}")
    top = (1 << (scale_bits - 1)) - 1 if scale_signed else (1 << scale_bits) - 1
    wg = w.reshape(groups, group_size, n)
    absmax = np.abs(wg).max(axis=1)                      # [groups, N]
    # The column scale leaves room for the narrowest-ranged candidate's ideal group scale (the
    # largest one).
    smallest_max = min(_max_abs(fmt, sp) for _, _, fmt, sp in cands)
    if column_scale is None:
        column = absmax.max(axis=0) / smallest_max / top
        column = np.where(column > 0, column, 1.0)
    else:
        column = np.asarray(column_scale, dtype=np.float64)
        if column.shape != (n,) or not np.all(column > 0) or not np.all(np.isfinite(column)):
            raise ValueError(f"column_scale must be {n} positive finite values, got "
                             f"shape {column.shape}")
    codes = np.zeros((k, n), dtype=np.int64)
    dtype = np.zeros((groups, n), dtype=np.int64)
    special = np.zeros((groups, n), dtype=np.int64)
    scale = np.ones((groups, n), dtype=np.int64)
    for gi in range(groups):
        for col in range(n):
            x = wg[gi, :, col]
            best = None
            for index, _, fmt, sp in cands:
                q = int(np.clip(np.rint(absmax[gi, col] / _max_abs(fmt, sp) / column[col]),
                                1, top))
                step = q * column[col]
                c = _encode(fmt, x / step, sp)
                err = float(np.sum((x - _decode(fmt, c, sp) * step) ** 2))
                if best is None or err < best[0]:
                    best = (err, index, sp, q, c)
            assert best is not None, "formats is not empty, so neither is cands"
            _, dtype[gi, col], special[gi, col], scale[gi, col], c = best
            codes[gi * group_size:(gi + 1) * group_size, col] = c
    return MixedQuantizedWeights(codes, dtype, special, scale, column, formats, group_size)
