"""Group-wise weight quantization to integer or ternary codes with per-group scales."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ._checks import _as_int64, _as_real, _check_int_param
from .floating import FloatFormat
from .integer import IntFormat, TernaryFormat
from .registry import FORMATS, SCALE_FORMAT_NAMES, Format, get_float_format, get_format

__all__ = [
    "QuantizedWeights",
    "quantize_groups",
]


def _weight_format(value: str | Format) -> IntFormat | TernaryFormat:
    """Resolve and validate a weight format argument."""
    fmt = get_format(value)
    if not isinstance(fmt, (IntFormat, TernaryFormat)):
        allowed = [n for n, f in FORMATS.items() if not f.is_float]
        raise ValueError(
            f"weight_format must be an integer or ternary format, got {fmt.name!r}; "
            f"allowed: {', '.join(allowed)}"
        )
    return fmt


def _scale_format(value: str | Format) -> FloatFormat:
    """Resolve and validate a scale format argument."""
    fmt = get_format(value)
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
    scale_format: FloatFormat = get_float_format("fp16")

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
