"""Tests for ``sim.golden.formats``.

Float codecs are checked against independent references: ``ml_dtypes`` (fp4, fp8, bf16,
custom fp6) and numpy (fp16, fp32).  ``ml_dtypes`` converts float64 inputs via float32,
which double-rounds; comparisons against it therefore use float32-exact inputs, and
full-precision float64 inputs are checked against a nearest-value table search instead.
"""

from __future__ import annotations

import importlib
from fractions import Fraction
from typing import Any

import ml_dtypes
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mpgemm.sim.golden.formats as package
from mpgemm.sim.golden.formats import (
    FORMATS,
    SCALE_FORMAT_NAMES,
    FloatFormat,
    IntFormat,
    QuantizedWeights,
    TernaryFormat,
    get_format,
    int_range,
    pack_fields,
    quantize_groups,
    signed_bits_for_range,
    to_signed,
    to_unsigned,
    unpack_fields,
)

# Hypothesis must not write a .hypothesis database into the shared work tree.
HYP = settings(database=None, deadline=None, max_examples=100)

REF_DTYPES: dict[str, Any] = {
    "fp4_e2m1": ml_dtypes.float4_e2m1fn,
    "fp8_e4m3": ml_dtypes.float8_e4m3fn,
    "fp8_e5m2": ml_dtypes.float8_e5m2,
    "fp16": np.float16,
    "bf16": ml_dtypes.bfloat16,
    "fp32": np.float32,
}
FLOAT_NAMES = list(REF_DTYPES)
SMALL_FLOAT_NAMES = [n for n in FLOAT_NAMES if n != "fp32"]
INF_NAMES = ["fp8_e5m2", "fp16", "bf16", "fp32"]
NO_INF_NAMES = ["fp4_e2m1", "fp8_e4m3"]
INT_NAMES = [f"int{b}" for b in range(2, 17)] + [f"uint{b}" for b in range(1, 17)]
CANONICAL_NAN = {
    "fp8_e4m3": 0x7F,
    "fp8_e5m2": 0x7E,
    "fp16": 0x7E00,
    "bf16": 0x7FC0,
    "fp32": 0x7FC00000,
}


def _uint(bits: int) -> type:
    return {8: np.uint8, 16: np.uint16, 32: np.uint32}[max(8, 1 << (bits - 1).bit_length())]


def ref_decode(name: str, codes: np.ndarray) -> np.ndarray:
    """Decode codes with the reference dtype (bit reinterpretation)."""
    fmt = FORMATS[name]
    with np.errstate(invalid="ignore"):  # signalling NaN payloads warn on cast
        return np.asarray(codes).astype(_uint(fmt.bits)).view(REF_DTYPES[name]).astype(np.float64)


def ref_encode(name: str, x: np.ndarray) -> np.ndarray:
    """Encode values with the reference dtype's cast."""
    fmt = FORMATS[name]
    with np.errstate(over="ignore", invalid="ignore"):
        return np.asarray(x).astype(REF_DTYPES[name]).view(_uint(fmt.bits)).astype(np.int64)


def same_values(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal including NaN positions and the sign of zeros."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if not np.array_equal(a, b, equal_nan=True):
        return False
    real = ~np.isnan(a)
    return bool(np.array_equal(np.signbit(a[real]), np.signbit(b[real])))


def table_encode(fmt: FloatFormat, x: np.ndarray, saturate: bool) -> np.ndarray:
    """Reference RNE encoder: exact nearest-value search in the table of values.

    Midpoints of adjacent values are exact in float64, so comparing against them
    decides rounding exactly; ties go to the neighbour whose code is even.  Overflow
    follows IEEE: with an unbounded exponent the next value above max is
    ``max + ulp(max)``, so magnitudes >= ``max + ulp/2`` overflow.
    """
    pos = fmt.values()
    pos = pos[pos >= 0]
    pos_codes = ref_encode(fmt.name, pos)
    mag = np.abs(x)
    idx = np.clip(np.searchsorted(pos, mag), 1, len(pos) - 1)
    lo, hi = pos[idx - 1], pos[idx]
    mid = (lo + hi) / 2
    pick_hi = (mag > mid) | ((mag == mid) & (pos_codes[idx] % 2 == 0))
    code = np.where(pick_hi, pos_codes[idx], pos_codes[idx - 1])
    code = np.where(mag == 0, 0, code)
    top = pos[-1]
    threshold = top + (top - pos[-2]) / 2
    code = np.where(mag > top, pos_codes[-1], code)
    if fmt.has_inf and not saturate:
        code = np.where(mag >= threshold, fmt.inf_code, code)
    sign = np.signbit(x).astype(np.int64) << (fmt.bits - 1)
    return code | sign


def random_magnitudes(fmt: FloatFormat, n: int, rng: np.random.Generator) -> np.ndarray:
    """Full-precision float64 magnitudes spanning subnormals to max (log-uniform)."""
    lo = np.log2(fmt.smallest_subnormal) - 2
    hi = np.log2(fmt.max_value)
    return np.exp2(rng.uniform(lo, hi, n)) * rng.uniform(0.5, 1.0, n)


# ---------------------------------------------------------------------------------------
# Registry and properties
# ---------------------------------------------------------------------------------------


def test_registry_has_exactly_the_canonical_names() -> None:
    expected = set(INT_NAMES) | {"ternary", "binary"} | set(FLOAT_NAMES)
    assert set(FORMATS) == expected
    for name, fmt in FORMATS.items():
        assert fmt.name == name
        assert get_format(name) is fmt
        assert get_format(fmt) is fmt


def test_binary_format_is_the_sign_of_a_bit() -> None:
    fmt = FORMATS["binary"]
    assert fmt.bits == 1
    np.testing.assert_array_equal(fmt.decode([0, 1]), [-1.0, 1.0])
    np.testing.assert_array_equal(fmt.encode([-3.0, -0.0, 0.0, 0.2, 7.0]), [0, 1, 1, 1, 1])
    np.testing.assert_array_equal(fmt.quantize([-0.1, 0.1]), [-1.0, 1.0])
    with pytest.raises(ValueError, match="NaN"):
        fmt.encode([np.nan])
    with pytest.raises(ValueError):
        fmt.decode([2])


def test_get_format_errors() -> None:
    with pytest.raises(ValueError, match=r"unknown format name 'fp9'; allowed: int2, .*fp32"):
        get_format("fp9")
    with pytest.raises(TypeError, match=r"format must be a str name or a format object, got 8"):
        get_format(8)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", FLOAT_NAMES)
def test_float_properties_match_reference(name: str) -> None:
    fmt = FORMATS[name]
    dt = REF_DTYPES[name]
    info = np.finfo(dt) if dt in (np.float16, np.float32) else ml_dtypes.finfo(dt)
    assert isinstance(fmt, FloatFormat)
    assert fmt.bits == info.bits
    assert fmt.is_float and fmt.signed
    assert fmt.max_value == float(info.max)
    assert fmt.min_value == -float(info.max)
    assert fmt.smallest_subnormal == float(info.smallest_subnormal)
    assert fmt.smallest_normal == float(info.smallest_normal)
    assert fmt.has_inf == (name in INF_NAMES)


def test_documented_float_maxima() -> None:
    assert FORMATS["fp4_e2m1"].max_value == 6.0
    assert FORMATS["fp8_e4m3"].max_value == 448.0
    assert FORMATS["fp8_e5m2"].max_value == 57344.0
    assert FORMATS["fp16"].max_value == 65504.0


@pytest.mark.parametrize("name", INT_NAMES)
def test_int_properties(name: str) -> None:
    fmt = FORMATS[name]
    assert isinstance(fmt, IntFormat)
    bits = int(name.lstrip("uint"))
    assert fmt.bits == bits and not fmt.is_float
    assert fmt.signed == (not name.startswith("u"))
    if fmt.signed:
        assert (fmt.min_value, fmt.max_value) == (-(2.0 ** (bits - 1)), 2.0 ** (bits - 1) - 1)
    else:
        assert (fmt.min_value, fmt.max_value) == (0.0, 2.0**bits - 1)


def test_code_dtypes() -> None:
    assert FORMATS["uint1"].encode(1).dtype == np.uint8
    assert FORMATS["int8"].encode(-1).dtype == np.uint8
    assert FORMATS["int9"].encode(-1).dtype == np.uint16
    assert FORMATS["ternary"].encode(-1).dtype == np.uint8
    assert FORMATS["fp4_e2m1"].encode(1.0).dtype == np.uint8
    assert FORMATS["bf16"].encode(1.0).dtype == np.uint16
    assert FORMATS["fp32"].encode(1.0).dtype == np.uint32


# ---------------------------------------------------------------------------------------
# Float decode
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", SMALL_FLOAT_NAMES)
def test_decode_all_codes_matches_reference(name: str) -> None:
    codes = np.arange(1 << FORMATS[name].bits)
    assert same_values(FORMATS[name].decode(codes), ref_decode(name, codes))


def test_fp32_decode_sample_and_corners() -> None:
    rng = np.random.default_rng(1)
    corners = [
        0,
        0x80000000,
        1,
        0x80000001,
        0x007FFFFF,
        0x00800000,
        0x3F800000,
        0x7F7FFFFF,
        0xFF7FFFFF,
        0x7F800000,
        0xFF800000,
        0x7F800001,
        0x7FC00000,
        0xFFFFFFFF,
    ]
    codes = np.concatenate([corners, rng.integers(0, 2**32, 200_000)])
    assert same_values(FORMATS["fp32"].decode(codes), ref_decode("fp32", codes))


@pytest.mark.parametrize("name", SMALL_FLOAT_NAMES)
def test_values_are_all_finite_reference_values(name: str) -> None:
    ref = ref_decode(name, np.arange(1 << FORMATS[name].bits))
    expected = np.unique(ref[np.isfinite(ref)]) + 0.0
    got = FORMATS[name].values()
    assert got.dtype == np.float64
    assert np.array_equal(got, expected)
    assert np.all(np.diff(got) > 0)
    assert not np.signbit(got[got == 0]).any()


def test_values_counts() -> None:
    assert len(FORMATS["fp4_e2m1"].values()) == 15  # 16 codes, +-0 merged
    assert len(FORMATS["fp8_e4m3"].values()) == 253  # minus 2 NaNs, +-0 merged
    assert len(FORMATS["fp8_e5m2"].values()) == 247  # minus 6 NaNs and 2 infs
    assert len(FORMATS["ternary"].values()) == 3
    assert len(FORMATS["int4"].values()) == 16


def test_values_rejects_fp32() -> None:
    with pytest.raises(ValueError, match=r"at most 16 bits; fp32 has 32 bits"):
        FORMATS["fp32"].values()


@pytest.mark.parametrize("name", ["fp8_e4m3", "int4", "ternary"])
def test_decode_rejects_bad_codes(name: str) -> None:
    fmt = FORMATS[name]
    with pytest.raises(
        ValueError, match=rf"unsigned {fmt.bits}-bit patterns .* got {1 << fmt.bits}"
    ):
        fmt.decode([0, 1 << fmt.bits])
    with pytest.raises(ValueError, match=r"got -1 at index \(0,\)"):
        fmt.decode(np.array([-1], dtype=np.int8))
    with pytest.raises(TypeError, match=r"codes must be an integer array, got dtype float64"):
        fmt.decode(np.array([1.0]))
    with pytest.raises(TypeError, match=r"codes must be an integer array, got dtype bool"):
        fmt.decode(np.array([True]))


def test_decode_accepts_object_ints_and_preserves_shape() -> None:
    out = FORMATS["fp16"].decode(np.array([[0x3C00, 0xC000]], dtype=object))
    assert out.shape == (1, 2) and out.tolist() == [[1.0, -2.0]]
    assert FORMATS["fp16"].decode([]).shape == (0,)


# ---------------------------------------------------------------------------------------
# Float encode
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", FLOAT_NAMES)
def test_encode_random_in_range_matches_reference(name: str) -> None:
    fmt = FORMATS[name]
    rng = np.random.default_rng(2)
    x = random_magnitudes(fmt, 50_000, rng) * rng.choice([-1.0, 1.0], 50_000)
    if REF_DTYPES[name] not in (np.float16, np.float32):
        # ml_dtypes rounds float64 via float32; float32-exact inputs avoid double rounding.
        x = x.astype(np.float32).astype(np.float64)
    x = x[np.abs(x) <= fmt.max_value]
    assert np.array_equal(fmt.encode(x), ref_encode(name, x))


@pytest.mark.parametrize("name", SMALL_FLOAT_NAMES)
def test_encode_full_precision_matches_table(name: str) -> None:
    fmt = FORMATS[name]
    rng = np.random.default_rng(3)
    x = random_magnitudes(fmt, 50_000, rng) * rng.choice([-1.0, 1.0], 50_000)
    x = np.concatenate([x, x * 1.6, [0.0, -0.0, np.inf, -np.inf]])
    default_saturate = not fmt.has_inf
    assert np.array_equal(fmt.encode(x), table_encode(fmt, x, saturate=default_saturate))
    assert np.array_equal(fmt.encode(x, saturate=True), table_encode(fmt, x, saturate=True))


@HYP
@given(
    name=st.sampled_from(SMALL_FLOAT_NAMES),
    x=st.floats(allow_nan=False, allow_infinity=True, width=64),
    saturate=st.booleans(),
)
def test_encode_any_float64_matches_table(name: str, x: float, saturate: bool) -> None:
    fmt = FORMATS[name]
    assert isinstance(fmt, FloatFormat)
    saturate = saturate or not fmt.has_inf
    arr = np.array([x])
    assert np.array_equal(fmt.encode(arr, saturate=saturate), table_encode(fmt, arr, saturate))


@pytest.mark.parametrize("name", SMALL_FLOAT_NAMES)
def test_encode_exact_ties_round_to_even(name: str) -> None:
    fmt = FORMATS[name]
    vals = fmt.values()
    mids = (vals[:-1] + vals[1:]) / 2  # exact in float64 and in float32
    codes = fmt.encode(mids).astype(np.int64)
    assert np.array_equal(codes, ref_encode(name, mids))
    assert np.all(codes % 2 == 0)  # even mantissa LSB
    above, below = fmt.decode(codes) > mids, fmt.decode(codes) < mids
    assert np.all(above | below)  # a tie never lands on the midpoint itself


def test_fp32_ties_round_to_even() -> None:
    fmt = FORMATS["fp32"]
    rng = np.random.default_rng(4)
    codes = rng.integers(0, 0x7F7FFFFF, 50_000)  # positive finite, next code also finite
    codes = np.concatenate([codes, codes | 0x80000000])
    lo = fmt.decode(codes)
    hi = fmt.decode(codes + 1)
    mids = (lo + hi) / 2
    out = fmt.encode(mids).astype(np.int64)
    assert np.array_equal(out, ref_encode("fp32", mids))
    assert np.all(out % 2 == 0)


def test_no_double_rounding() -> None:
    # A float64 just above a bf16/e4m3 midpoint must round up; rounding via float32
    # first would land exactly on the midpoint and then go to even (down).
    bf16, e4m3 = FORMATS["bf16"], FORMATS["fp8_e4m3"]
    assert int(bf16.encode(1 + 2**-8 + 2**-40)) == 0x3F81
    assert int(bf16.encode(1 + 2**-8)) == 0x3F80
    assert int(bf16.encode(1 + 2**-8 - 2**-40)) == 0x3F80
    assert int(e4m3.encode(1 + 2**-4 + 2**-40)) == 0x39
    assert int(e4m3.encode(1 + 2**-4)) == 0x38


@pytest.mark.parametrize("name", FLOAT_NAMES)
def test_subnormal_rounding(name: str) -> None:
    fmt = FORMATS[name]
    tiny = fmt.smallest_subnormal
    x = np.array([tiny, tiny * 0.5, tiny * 0.50001, tiny * 1.5, tiny * 2.5, tiny * 0.25])
    expected = [1, 0, 1, 2, 2, 0]
    assert fmt.encode(x).tolist() == expected
    sign = 1 << (fmt.bits - 1)
    assert fmt.encode(-x).tolist() == [c | sign for c in expected]
    # The largest subnormal and the smallest normal are adjacent codes.
    top_sub = (1 << fmt.man_bits) - 1
    assert fmt.decode(top_sub + 1) == fmt.smallest_normal
    assert int(fmt.encode(fmt.decode(top_sub))) == top_sub


@pytest.mark.parametrize("name", FLOAT_NAMES)
def test_signed_zero(name: str) -> None:
    fmt = FORMATS[name]
    sign = 1 << (fmt.bits - 1)
    assert int(fmt.encode(0.0)) == 0
    assert int(fmt.encode(-0.0)) == sign
    assert int(fmt.encode(-fmt.smallest_subnormal / 4)) == sign  # underflows to -0
    assert np.signbit(fmt.decode(sign)) and fmt.decode(sign) == 0.0
    assert int(ref_encode(name, np.array([-0.0]))[0]) == sign


@pytest.mark.parametrize("name", INF_NAMES)
def test_overflow_with_infinity(name: str) -> None:
    fmt = FORMATS[name]
    assert isinstance(fmt, FloatFormat) and fmt.inf_code is not None
    top = fmt.max_value
    ulp = top - fmt.decode(fmt.max_finite_code - 1)
    sign = 1 << (fmt.bits - 1)
    inf, maxc = fmt.inf_code, fmt.max_finite_code
    below = np.nextafter(top + ulp / 2, 0.0)
    x = np.array([top, below, top + ulp / 2, top * 4, 1e300, np.inf])
    assert fmt.encode(x).tolist() == [maxc, maxc, inf, inf, inf, inf]
    assert fmt.encode(-x).tolist() == [c | sign for c in [maxc, maxc, inf, inf, inf, inf]]
    assert fmt.encode(x, saturate=True).tolist() == [maxc] * 6
    assert fmt.encode(-x, saturate=True).tolist() == [maxc | sign] * 6
    assert fmt.encode(x, saturate=False).tolist() == fmt.encode(x).tolist()
    # IEEE reference behaviour (default mode) on float32-exact overflow inputs.
    exact = np.array([top + ulp / 2, top * 4, np.inf, -np.inf])
    assert np.array_equal(fmt.encode(exact), ref_encode(name, exact))


def test_overflow_concrete_codes() -> None:
    assert int(FORMATS["fp16"].encode(65519.99)) == 0x7BFF
    assert int(FORMATS["fp16"].encode(65520.0)) == 0x7C00
    assert int(FORMATS["fp16"].encode(65520.0, saturate=True)) == 0x7BFF
    assert int(FORMATS["fp8_e5m2"].encode(61440.0)) == 0x7C
    assert int(FORMATS["fp8_e5m2"].encode(-61440.0, saturate=True)) == 0xFB
    assert int(FORMATS["bf16"].encode(2.0**128 - 2.0**119)) == 0x7F80
    assert int(FORMATS["fp32"].encode(2.0**128 - 2.0**103)) == 0x7F800000


@pytest.mark.parametrize("name", NO_INF_NAMES)
def test_overflow_without_infinity_saturates(name: str) -> None:
    fmt = FORMATS[name]
    assert isinstance(fmt, FloatFormat) and fmt.inf_code is None
    sign = 1 << (fmt.bits - 1)
    maxc = fmt.max_finite_code
    x = np.array([fmt.max_value, fmt.max_value * 1.04, fmt.max_value * 1.5, 1e300, np.inf])
    assert fmt.encode(x).tolist() == [maxc] * 5
    assert fmt.encode(-x).tolist() == [maxc | sign] * 5
    assert fmt.encode(x, saturate=True).tolist() == [maxc] * 5
    with pytest.raises(
        ValueError, match=rf"saturate=False is not allowed for {name}: it has no infinity"
    ):
        fmt.encode(x, saturate=False)


def test_saturate_type_checked() -> None:
    with pytest.raises(TypeError, match=r"saturate must be a bool or None, got 'yes'"):
        FORMATS["fp16"].encode(1.0, saturate="yes")  # type: ignore[arg-type]


@pytest.mark.parametrize("name", list(CANONICAL_NAN))
def test_nan_encodes_to_canonical_nan(name: str) -> None:
    fmt = FORMATS[name]
    x = np.array([np.nan, -np.nan, 1.0])
    assert fmt.encode(x).tolist()[:2] == [CANONICAL_NAN[name]] * 2
    assert fmt.encode(x, saturate=True).tolist()[:2] == [CANONICAL_NAN[name]] * 2
    assert np.isnan(fmt.decode(CANONICAL_NAN[name]))


def test_e4m3_has_only_two_nan_codes() -> None:
    decoded = FORMATS["fp8_e4m3"].decode(np.arange(256))
    assert np.flatnonzero(np.isnan(decoded)).tolist() == [0x7F, 0xFF]
    assert not np.isinf(decoded).any()


@pytest.mark.parametrize("name", ["fp4_e2m1", "int8", "uint4", "ternary"])
def test_nan_rejected_without_nan(name: str) -> None:
    with pytest.raises(ValueError, match=rf"cannot encode NaN in {name}: the format has no NaN"):
        FORMATS[name].encode([1.0, np.nan])


def test_encode_rejects_non_real_input() -> None:
    with pytest.raises(TypeError, match=r"x must be a real numeric array, got dtype complex128"):
        FORMATS["fp16"].encode(np.array([1 + 2j]))
    with pytest.raises(TypeError, match=r"x must be a real numeric array, got dtype <U1"):
        FORMATS["int8"].encode(["a"])


@pytest.mark.parametrize("name", [n for n in FORMATS if FORMATS[n].bits <= 16])
def test_round_trip_every_value(name: str) -> None:
    fmt = FORMATS[name]
    vals = fmt.values()
    assert np.array_equal(fmt.decode(fmt.encode(vals)), vals)
    assert np.array_equal(fmt.quantize(vals), vals)


@pytest.mark.parametrize("name", SMALL_FLOAT_NAMES)
def test_encode_decode_every_non_nan_code(name: str) -> None:
    fmt = FORMATS[name]
    codes = np.arange(1 << fmt.bits)
    decoded = fmt.decode(codes)
    keep = ~np.isnan(decoded)
    # Covers -0.0, both infinities and every subnormal code.
    assert np.array_equal(fmt.encode(decoded[keep]), codes[keep])


@pytest.mark.parametrize(
    ("fmt", "ref"),
    [
        (FloatFormat("fp6_e3m2", 3, 2, 3, False, "none"), ml_dtypes.float6_e3m2fn),
        (FloatFormat("fp6_e2m3", 2, 3, 1, False, "none"), ml_dtypes.float6_e2m3fn),
    ],
)
def test_custom_float_format_matches_reference(fmt: FloatFormat, ref: Any) -> None:
    codes = np.arange(64)
    assert same_values(fmt.decode(codes), codes.astype(np.uint8).view(ref).astype(np.float64))
    vals = fmt.values()
    mids = (vals[:-1] + vals[1:]) / 2
    expected = mids.astype(ref).view(np.uint8)
    assert np.array_equal(fmt.encode(mids), expected)


def test_float_format_validation() -> None:
    with pytest.raises(ValueError, match=r"has_inf=True is inconsistent with nan_style='all_ones'"):
        FloatFormat("x", 4, 3, 7, True, "all_ones")
    with pytest.raises(
        ValueError, match=r"nan_style must be one of \['ieee', 'all_ones', 'none'\]"
    ):
        FloatFormat("x", 4, 3, 7, False, "fn")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"exp_bits out of range: got exp_bits=9; allowed: 1 <= "):
        FloatFormat("x", 9, 3, 7, False, "none")
    with pytest.raises(TypeError, match=r"man_bits must be an int, got 2.0"):
        FloatFormat("x", 4, 2.0, 7, False, "none")  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------
# Integers and ternary
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", INT_NAMES)
def test_int_decode_all_codes(name: str) -> None:
    fmt = FORMATS[name]
    codes = np.arange(1 << fmt.bits, dtype=np.int64)
    if fmt.signed:
        # Sign extension by arithmetic shift: independent of the module's formula.
        expected = (codes << (64 - fmt.bits)) >> (64 - fmt.bits)
    else:
        expected = codes
    assert np.array_equal(fmt.decode(codes), expected.astype(np.float64))
    assert np.array_equal(fmt.encode(expected), codes)


def test_int8_matches_numpy_view() -> None:
    codes = np.arange(256, dtype=np.uint8)
    assert np.array_equal(FORMATS["int8"].decode(codes), codes.view(np.int8).astype(float))
    vals = np.arange(-128, 128)
    assert np.array_equal(FORMATS["int8"].encode(vals), vals.astype(np.int8).view(np.uint8))


def test_int_round_half_even_and_saturation() -> None:
    int4 = FORMATS["int4"]
    x = [
        2.5,
        3.5,
        -2.5,
        0.5,
        -0.5,
        1.5,
        -1.5,
        2.4999,
        6.5,
        7.5,
        100,
        -8.5,
        -9,
        -1e300,
        np.inf,
        -np.inf,
    ]
    assert int4.quantize(x).tolist() == [2, 4, -2, 0, 0, 2, -2, 2, 6, 7, 7, -8, -8, -8, 7, -8]
    assert int(int4.encode(-2)) == 0xE
    uint4 = FORMATS["uint4"]
    assert uint4.quantize([-3, -0.5, 0.5, 1.5, 14.5, 15.5, 20]).tolist() == [0, 0, 0, 2, 14, 15, 15]
    assert FORMATS["uint1"].quantize([-1, 0.5, 1.5, 2]).tolist() == [0, 0, 1, 1]


def test_int_encode_rejects_non_saturating() -> None:
    with pytest.raises(ValueError, match=r"saturate=False is not allowed for int8"):
        FORMATS["int8"].encode(1.0, saturate=False)
    assert int(FORMATS["int8"].encode(1000.0, saturate=True)) == 127


def test_int_format_validation() -> None:
    with pytest.raises(
        ValueError, match=r"bits out of range: got bits=0; allowed: 1 <= bits <= 16"
    ):
        IntFormat(0, False)
    with pytest.raises(ValueError, match=r"bits out of range: got bits=17"):
        IntFormat(17, True)
    with pytest.raises(ValueError, match=r"signed IntFormat: got bits=1; allowed: 2 <= bits"):
        IntFormat(1, True)
    with pytest.raises(TypeError, match=r"bits must be an int, got 4.0"):
        IntFormat(4.0, True)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"bits must be an int, got True"):
        IntFormat(True, True)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"signed must be a bool, got 1"):
        IntFormat(4, 1)  # type: ignore[arg-type]
    assert IntFormat(np.int64(4), True) == FORMATS["int4"]  # type: ignore[arg-type]


def test_ternary_codes() -> None:
    ter = FORMATS["ternary"]
    assert isinstance(ter, TernaryFormat)
    assert (ter.bits, ter.signed, ter.is_float) == (2, True, False)
    assert (ter.min_value, ter.max_value) == (-1.0, 1.0)
    x = [-1, 0, 1, 0.5, -0.5, 1.5, -1.5, 0.51, -7, 7, -0.0]
    assert ter.encode(x).tolist() == [3, 0, 1, 0, 0, 1, 3, 1, 3, 1, 0]
    assert ter.decode([0, 1, 3]).tolist() == [0.0, 1.0, -1.0]
    # Hardware reads the two bits as a signed int2.
    assert np.array_equal(to_signed([0, 1, 3], 2), ter.decode([0, 1, 3]))
    assert ter.values().tolist() == [-1.0, 0.0, 1.0]


def test_ternary_reserved_code() -> None:
    ter = FORMATS["ternary"]
    with pytest.raises(ValueError, match=r"ternary code 0b10 is reserved .* index \(1,\)"):
        ter.decode([0, 2, 1])
    with pytest.raises(ValueError, match=r"unsigned 2-bit patterns"):
        ter.decode([4])
    with pytest.raises(ValueError, match=r"saturate=False is not allowed for ternary"):
        ter.encode([0.0], saturate=False)


# ---------------------------------------------------------------------------------------
# Two's complement helpers and packing
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("bits", [1, 2, 3, 7, 8, 16, 33, 63])
def test_signed_unsigned_round_trip(bits: int) -> None:
    rng = np.random.default_rng(bits)
    codes = np.unique(
        np.concatenate(
            [
                [0, 1, (1 << (bits - 1)) - 1, 1 << (bits - 1), (1 << bits) - 1],
                rng.integers(0, 1 << bits, 1000, dtype=np.int64),
            ]
        )
    )
    signed = to_signed(codes, bits)
    expected = (codes << (64 - bits)) >> (64 - bits)
    assert signed.dtype == np.int64 and np.array_equal(signed, expected)
    assert np.array_equal(to_unsigned(signed, bits), codes)


def test_signed_unsigned_errors() -> None:
    with pytest.raises(
        ValueError, match=r"codes must be unsigned 4-bit patterns in \[0, 15\]: got 16"
    ):
        to_signed([3, 16], 4)
    with pytest.raises(
        ValueError, match=r"values must be signed 4-bit integers in \[-8, 7\]: got 8"
    ):
        to_unsigned([8], 4)
    with pytest.raises(ValueError, match=r"got -9 at index \(0, 1\)"):
        to_unsigned([[0, -9]], 4)
    with pytest.raises(
        ValueError, match=r"bits out of range: got bits=64; allowed: 1 <= bits <= 63"
    ):
        to_signed([0], 64)
    with pytest.raises(TypeError, match=r"values must be an integer array, got dtype float64"):
        to_unsigned([1.5], 4)


def test_pack_fields_layout() -> None:
    assert pack_fields([1, 2, 3], 4) == 0x321
    packed = pack_fields([[1, 2], [3, 4]], 40)
    assert packed.dtype == object and packed.shape == (2,)
    assert packed.tolist() == [1 | (2 << 40), 3 | (4 << 40)]
    wide = pack_fields(np.array([[1 << 99, 5]], dtype=object), 100)
    assert wide.tolist() == [(1 << 99) | (5 << 100)]
    assert unpack_fields(0x321, 4, 3).tolist() == [1, 2, 3]


@HYP
@given(
    data=st.data(),
    bits=st.integers(1, 63),
    count=st.integers(1, 9),
    rows=st.integers(0, 4),
)
def test_pack_unpack_round_trip(data: st.DataObject, bits: int, count: int, rows: int) -> None:
    field = st.integers(0, (1 << bits) - 1)
    codes = data.draw(
        st.lists(st.lists(field, min_size=count, max_size=count), min_size=rows, max_size=rows)
    )
    arr = np.array(codes, dtype=np.int64).reshape(rows, count)
    words = pack_fields(arr, bits)
    assert words.shape == (rows,) and words.dtype == object
    for row, word in zip(codes, words.tolist(), strict=True):
        assert word == sum(c << (i * bits) for i, c in enumerate(row))
    out = unpack_fields(words, bits, count)
    assert out.dtype == np.int64 and np.array_equal(out, arr)


def test_unpack_integer_dtypes() -> None:
    words = np.array([0x321, 0xFFF], dtype=np.uint64)
    assert unpack_fields(words, 4, 3).tolist() == [[1, 2, 3], [15, 15, 15]]
    assert unpack_fields(np.array([5], dtype=np.int8), 40, 2).tolist() == [[5, 0]]
    assert unpack_fields(np.array([(7 << 64) | 1], dtype=object), 40, 2).tolist() == [[1, 7 << 24]]


def test_pack_unpack_errors() -> None:
    with pytest.raises(ValueError, match=r"codes must fit in bits=4 \(range \[0, 15\]\): got 16"):
        pack_fields([1, 16], 4)
    with pytest.raises(ValueError, match=r"codes must fit in bits=4 .*got -1 at index \(1, 0\)"):
        pack_fields([[1], [-1]], 4)
    with pytest.raises(ValueError, match=r"codes must fit in bits=100 .*got 1267"):
        pack_fields(np.array([1 << 100], dtype=object), 100)
    with pytest.raises(TypeError, match=r"codes must be an integer array, got dtype float64"):
        pack_fields([1.0], 4)
    with pytest.raises(ValueError, match=r"bits out of range: got bits=0; allowed: bits >= 1"):
        pack_fields([1], 0)
    with pytest.raises(ValueError, match=r"codes must have at least 1 dimension"):
        pack_fields(3, 4)
    with pytest.raises(ValueError, match=r"words must fit in bits\*count=12 bits: got 4096"):
        unpack_fields([4096], 4, 3)
    with pytest.raises(ValueError, match=r"words must fit in bits\*count=12 bits: got -1"):
        unpack_fields(np.array([-1], dtype=object), 4, 3)
    with pytest.raises(ValueError, match=r"count out of range: got count=0; allowed: count >= 1"):
        unpack_fields([1], 4, 0)
    with pytest.raises(ValueError, match=r"bits out of range: got bits=64"):
        unpack_fields([1], 64, 1)
    with pytest.raises(TypeError, match=r"words must be an integer array, got dtype float64"):
        unpack_fields([1.0], 4, 1)


# ---------------------------------------------------------------------------------------
# Group quantization
# ---------------------------------------------------------------------------------------


def _broadcast(q: QuantizedWeights) -> tuple[np.ndarray, np.ndarray]:
    """Per-element scale and zero point, broadcast by plain indexing."""
    rows = np.arange(q.codes.shape[0]) // q.group_size
    return q.scales[rows], q.zeros[rows]


def _check_error_bound(q: QuantizedWeights, w: np.ndarray) -> float:
    """Assert |dequantize - w| <= scale/2 wherever w was not clipped; return in-range share."""
    scale, zero = _broadcast(q)
    unclipped = np.rint(w / scale) + zero
    fmt = q.weight_format
    lo = 0 if not q.symmetric else -fmt.max_value
    in_range = (unclipped >= lo) & (unclipped <= fmt.max_value)
    err = np.abs(q.dequantize() - w)
    # w / scale is itself rounded in float64, so allow a few ulps beyond scale / 2.
    assert np.all(err[in_range] <= scale[in_range] * (0.5 + 2.0**-40))
    return float(in_range.mean())


def _check_common(q: QuantizedWeights, k: int, n: int, group: int) -> None:
    assert q.codes.shape == (k, n) and q.codes.dtype == np.int64
    assert q.scales.shape == (k // group, n) and q.scales.dtype == np.float64
    assert q.zeros.shape == (k // group, n) and q.zeros.dtype == np.int64
    assert q.group_size == group
    assert np.all(np.isfinite(q.scales)) and np.all(q.scales > 0)
    sfmt = q.scale_format
    assert np.array_equal(sfmt.decode(sfmt.encode(q.scales)), q.scales)
    assert q.dequantize().shape == (k, n)


@pytest.mark.parametrize("wname", ["uint2", "uint4", "uint8"])
@pytest.mark.parametrize("sname", SCALE_FORMAT_NAMES)
def test_quantize_asymmetric(wname: str, sname: str) -> None:
    rng = np.random.default_rng(5)
    w = rng.normal(0.3, 1.0, (256, 24))
    w[::17, ::5] = 0.0  # exact zeros must survive
    q = quantize_groups(w, 64, weight_format=wname, scale_format=sname)
    _check_common(q, 256, 24, 64)
    fmt = FORMATS[wname]
    assert not q.symmetric and q.weight_format is fmt and q.scale_format is FORMATS[sname]
    assert q.codes.min() >= 0 and q.codes.max() <= fmt.max_value
    assert q.zeros.min() >= 0 and q.zeros.max() <= fmt.max_value
    groups = w.reshape(4, 64, 24)
    span = np.maximum(groups.max(1), 0) - np.minimum(groups.min(1), 0)
    assert np.array_equal(q.scales, FORMATS[sname].quantize(span / fmt.max_value))
    assert _check_error_bound(q, w) > 0.97
    if sname != "fp8_e4m3":  # 3-bit scale mantissa may clip the zero point itself
        assert np.all(q.dequantize()[w == 0.0] == 0.0)


@pytest.mark.parametrize("wname", ["int2", "int4", "int8"])
@pytest.mark.parametrize("sname", SCALE_FORMAT_NAMES)
def test_quantize_symmetric(wname: str, sname: str) -> None:
    rng = np.random.default_rng(6)
    w = rng.standard_t(4, (128, 16))
    q = quantize_groups(w, 32, weight_format=wname, scale_format=sname)
    _check_common(q, 128, 16, 32)
    qmax = FORMATS[wname].max_value
    assert q.symmetric and np.all(q.zeros == 0)
    assert q.codes.min() >= -qmax and q.codes.max() <= qmax  # most negative code unused
    amax = np.abs(w.reshape(4, 32, 16)).max(1)
    assert np.array_equal(q.scales, FORMATS[sname].quantize(amax / qmax))
    assert _check_error_bound(q, w) > 0.97
    assert np.all(q.dequantize()[w == 0.0] == 0.0)


def test_quantize_ternary_absmean() -> None:
    rng = np.random.default_rng(7)
    w = rng.normal(size=(64, 8))
    w[:32, 0] = 0.0  # all-zero group
    q = quantize_groups(w, 32, weight_format="ternary")
    _check_common(q, 64, 8, 32)
    assert q.symmetric and np.all(q.zeros == 0)
    assert set(np.unique(q.codes).tolist()) <= {-1, 0, 1}
    absmean = np.abs(w.reshape(2, 32, 8)).mean(1)
    absmean[0, 0] = 1.0
    assert np.array_equal(q.scales, FORMATS["fp16"].quantize(absmean))
    expected = np.clip(np.rint(w / _broadcast(q)[0]), -1, 1)
    assert np.array_equal(q.codes, expected)
    assert np.array_equal(q.dequantize(), q.codes * _broadcast(q)[0])
    assert np.all(q.codes[:32, 0] == 0)


def test_quantize_degenerate_groups() -> None:
    w = np.zeros((8, 5))
    w[:, 1] = 3.0  # all equal, positive
    w[:, 2] = -2.0  # all negative: the zero point sits at the top code
    w[:, 3] = 1e-12  # scale underflows fp16
    w[:, 4] = 1e6  # scale overflows fp16
    q = quantize_groups(w, 8, weight_format="uint4")
    s, z = q.scales[0], q.zeros[0]
    assert s[0] == 1.0 and z[0] == 0 and np.all(q.codes[:, 0] == 0)
    assert s[1] == FORMATS["fp16"].quantize(3.0 / 15) and z[1] == 0
    assert np.all(q.codes[:, 1] == 15) and z[2] == 15 and np.all(q.codes[:, 2] == 0)
    assert s[3] == 2.0**-24
    assert s[4] == 65504.0
    assert np.all(np.isfinite(q.dequantize()))
    assert np.allclose(q.dequantize()[:, 1:3], w[:, 1:3], rtol=0, atol=0.01)


def test_quantize_dequantize_is_exact() -> None:
    rng = np.random.default_rng(8)
    w = rng.normal(size=(16, 3)) * 100
    for wname in ("uint4", "int8", "uint16", "int16"):
        q = quantize_groups(w, 4, weight_format=wname, scale_format="fp32")
        deq = q.dequantize()
        for (i, j), value in np.ndenumerate(deq):
            c, g = int(q.codes[i, j]), i // 4
            exact = (c - int(q.zeros[g, j])) * Fraction(float(q.scales[g, j]))
            assert Fraction(float(value)) == exact


@HYP
@given(
    data=st.data(),
    wname=st.sampled_from(["uint1", "uint3", "uint4", "uint8", "int2", "int4", "int8", "ternary"]),
    sname=st.sampled_from(SCALE_FORMAT_NAMES),
    groups=st.integers(1, 3),
    group=st.integers(1, 8),
    n=st.integers(1, 3),
)
def test_quantize_properties(
    data: st.DataObject, wname: str, sname: str, groups: int, group: int, n: int
) -> None:
    k = groups * group
    elems = st.floats(-1e4, 1e4, allow_nan=False, allow_subnormal=True)
    w = np.array(data.draw(st.lists(elems, min_size=k * n, max_size=k * n))).reshape(k, n)
    q = quantize_groups(w, group, weight_format=wname, scale_format=sname)
    _check_common(q, k, n, group)
    fmt = FORMATS[wname]
    lo = -fmt.max_value if q.symmetric else 0.0
    assert q.codes.min() >= lo and q.codes.max() <= fmt.max_value
    _check_error_bound(q, w)


@pytest.mark.parametrize(
    ("kwargs", "exc", "pattern"),
    [
        ({"w": np.zeros(3)}, ValueError, r"w must be a 2-D \[K, N\] array, got shape \(3,\)"),
        ({"w": np.zeros((2, 2, 2))}, ValueError, r"w must be a 2-D .* got shape \(2, 2, 2\)"),
        ({"w": np.zeros((0, 4))}, ValueError, r"w must be non-empty, got shape \(0, 4\)"),
        ({"w": [[1.0, np.nan]]}, ValueError, r"w must be finite: got nan at index \(0, 1\)"),
        ({"w": [[np.inf]]}, ValueError, r"w must be finite: got inf at index \(0, 0\)"),
        ({"w": [[1j]]}, TypeError, r"w must be a real numeric array, got dtype complex128"),
        ({"w": [["a"]]}, TypeError, r"w must be a real numeric array, got dtype <U1"),
        (
            {"group_size": 48},
            ValueError,
            r"group_size must divide K: got group_size=48 for K=128; allowed: divisors of 128",
        ),
        (
            {"group_size": 0},
            ValueError,
            r"group_size out of range: got group_size=0; allowed: group_size >= 1",
        ),
        ({"group_size": 32.0}, TypeError, r"group_size must be an int, got 32.0"),
        ({"group_size": True}, TypeError, r"group_size must be an int, got True"),
        ({"weight_format": "int17"}, ValueError, r"unknown format name 'int17'; allowed: int2"),
        (
            {"weight_format": "fp16"},
            ValueError,
            r"weight_format must be an integer or ternary format, got 'fp16'; allowed: int2",
        ),
        ({"weight_format": 4}, TypeError, r"format must be a str name or a format object"),
        (
            {"scale_format": "fp8_e5m2"},
            ValueError,
            r"scale_format must be one of fp16, bf16, fp32, fp8_e4m3, got 'fp8_e5m2'",
        ),
        ({"scale_format": "int8"}, ValueError, r"scale_format must be one of .* got 'int8'"),
        ({"scale_format": "half"}, ValueError, r"unknown format name 'half'"),
    ],
)
def test_quantize_errors(kwargs: dict[str, Any], exc: type[Exception], pattern: str) -> None:
    args: dict[str, Any] = {"w": np.ones((128, 4)), "group_size": 32}
    args.update(kwargs)
    with pytest.raises(exc, match=pattern):
        quantize_groups(args.pop("w"), args.pop("group_size"), **args)


def test_quantized_weights_validation() -> None:
    q = quantize_groups(np.arange(8.0).reshape(4, 2), 2, weight_format="int4")
    base = {
        "codes": q.codes,
        "scales": q.scales,
        "zeros": q.zeros,
        "group_size": 2,
        "weight_format": "int4",
        "scale_format": "fp16",
    }
    assert QuantizedWeights(**base).weight_format is FORMATS["int4"]  # names resolve
    with pytest.raises(ValueError, match=r"scales must have shape \[K // group_size, N\]"):
        QuantizedWeights(**{**base, "scales": q.scales[:1]})
    with pytest.raises(ValueError, match=r"scales must be exactly representable in fp16"):
        QuantizedWeights(**{**base, "scales": np.full((2, 2), 0.1)})
    with pytest.raises(ValueError, match=r"scales must all be finite and > 0"):
        QuantizedWeights(**{**base, "scales": np.zeros((2, 2))})
    with pytest.raises(ValueError, match=r"zeros must be all 0 for symmetric format int4"):
        QuantizedWeights(**{**base, "zeros": np.ones((2, 2), dtype=np.int64)})
    with pytest.raises(ValueError, match=r"codes must lie in \[-8, 7\] for int4"):
        QuantizedWeights(**{**base, "codes": q.codes + 100})
    with pytest.raises(ValueError, match=r"group_size must divide K: got group_size=3 for K=4"):
        QuantizedWeights(**{**base, "group_size": 3})
    with pytest.raises(ValueError):
        q.codes[0, 0] = 1  # arrays are read-only


@given(st.integers(-(1 << 70), 0), st.integers(0, 1 << 70))
def test_signed_bits_for_range_is_the_smallest_width(lo: int, hi: int) -> None:

    bits = signed_bits_for_range(lo, hi)
    rlo, rhi = int_range(bits, True)
    assert rlo <= lo and hi <= rhi
    if bits > 1:
        plo, phi = int_range(bits - 1, True)
        assert lo < plo or hi > phi
    assert int_range(8, False) == (0, 255) and int_range(48, True) == (-(1 << 47), (1 << 47) - 1)


def test_concept_modules_import_and_the_package_reexports_every_name() -> None:

    concepts = ("_checks", "twos", "_base", "integer", "floating", "registry", "special",
                "packing", "quantize")
    owners: dict[str, str] = {}
    for concept in concepts:
        module = importlib.import_module(f"mpgemm.sim.golden.formats.{concept}")
        assert module.__doc__, concept
        for name in module.__all__:
            assert hasattr(module, name), (concept, name)
            assert name not in owners, (name, owners.get(name), concept)  # one home per name
            owners[name] = concept
    for name in package.__all__:
        owner = importlib.import_module(f"mpgemm.sim.golden.formats.{owners[name]}")
        assert getattr(package, name) is getattr(owner, name), name
    # Every public name of a concept module is re-exported by the package.
    assert {n for n in owners if not n.startswith("_")} == set(package.__all__)
