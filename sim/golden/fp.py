"""Bit-exact floating-point primitives of the generated hardware, on raw bit patterns.

Arithmetic is done by numpy's IEEE-754 float16/float32 (round to nearest even, gradual
underflow, overflow to infinity), which is exactly what :mod:`hw.fp` implements; the only
hardware-specific rule is that every NaN result is the format's canonical quiet NaN.
"""

import numpy as np
from numpy.typing import ArrayLike

from .formats import get_float_format

__all__ = [
    "FP16_NAN", "FP32_NAN",
    "f16_bits", "f32_bits", "f16_value", "f32_value",
    "fp32_add", "fp16_mul_fp32", "int_scale_fp16", "finite_fp_fields",
]


def _nan_code(name: str) -> int:
    code = get_float_format(name).nan_code
    if code is None:
        raise ValueError(f"{name} has no NaN")
    return code


FP16_NAN = _nan_code("fp16")
FP32_NAN = _nan_code("fp32")


def f16_value(bits: ArrayLike) -> np.ndarray:
    """FP16 bit patterns -> numpy float16 values."""
    return np.asarray(bits, dtype=np.uint16).view(np.float16)


def f32_value(bits: ArrayLike) -> np.ndarray:
    """FP32 bit patterns -> numpy float32 values."""
    return np.asarray(bits, dtype=np.uint32).view(np.float32)


def f16_bits(x: ArrayLike) -> np.ndarray:
    """float16 values -> bit patterns, NaNs canonicalised."""
    x = np.asarray(x, dtype=np.float16)
    return np.where(np.isnan(x), np.uint16(FP16_NAN), x.view(np.uint16)).astype(np.uint16)


def f32_bits(x: ArrayLike) -> np.ndarray:
    """float32 values -> bit patterns, NaNs canonicalised."""
    x = np.asarray(x, dtype=np.float32)
    return np.where(np.isnan(x), np.uint32(FP32_NAN), x.view(np.uint32)).astype(np.uint32)


def fp32_add(a: ArrayLike, b: ArrayLike) -> np.ndarray:
    """FP32 ``a + b`` on bit patterns, one RNE rounding."""
    with np.errstate(all="ignore"):
        return f32_bits(f32_value(a) + f32_value(b))


def fp16_mul_fp32(a: ArrayLike, b: ArrayLike) -> np.ndarray:
    """FP16 x FP16 -> FP32 on bit patterns. Exact: 22 significant bits, exponent within FP32's."""
    with np.errstate(all="ignore"):
        return f32_bits(f16_value(a).astype(np.float32) * f16_value(b).astype(np.float32))


def int_scale_fp16(d: ArrayLike, s: ArrayLike) -> np.ndarray:
    """``RNE_fp16(d * s)`` for integers ``|d| < 2**12`` and FP16 bit patterns ``s``.

    The float32 product is exact (at most 12 + 11 significant bits), so the cast to float16 is the
    only rounding, as in the hardware.
    """
    d = np.asarray(d, dtype=np.int64)
    if np.any(np.abs(d) >= 1 << 12):
        raise ValueError("int_scale_fp16 needs |d| < 4096 for an exact intermediate product")
    with np.errstate(all="ignore"):
        prod = d.astype(np.float32) * f16_value(s).astype(np.float32)
        return f16_bits(prod.astype(np.float16))


def finite_fp_fields(bits: int, exp_bits: int, man_bits: int) -> tuple[int, int, int]:
    """(sign, effective exponent field, significand with hidden bit) of a finite float:
    subnormals get exponent field 1 and no hidden bit, so the value is
    ``(-1)^sign * m * 2^(e - bias - man_bits)``. Inf and NaN are rejected (the alignment
    datapaths of the bit-serial and MixPE PEs take finite values only)."""
    sign = (bits >> (exp_bits + man_bits)) & 1
    efield = (bits >> man_bits) & ((1 << exp_bits) - 1)
    frac = bits & ((1 << man_bits) - 1)
    if efield == (1 << exp_bits) - 1:
        raise ValueError(f"activation {bits:#x} is inf or NaN: the FP alignment datapath "
                         f"takes finite values only")
    if efield == 0:
        return sign, 1, frac
    return sign, efield, frac | (1 << man_bits)
