"""The floating-point building blocks of hw.fp against the numpy golden primitives."""

import itertools

import ml_dtypes
import numpy as np
import pytest
from amaranth.back import rtlil
from amaranth.sim import Simulator

from mpgemm.hw.fp import BF16, FP16, FP32, FPAdd, FPMul, FPParams, IntScaleFP, product_is_exact
from mpgemm.sim.golden.fp import FP16_NAN, FP32_NAN, fp16_mul_fp32, fp32_add, int_scale_fp16
from mpgemm.sim.stimulus import FP16_SPECIALS, FP32_SPECIALS

pytestmark = pytest.mark.sim  # amaranth.sim


def _run_comb(dut, inputs: dict[str, np.ndarray], output: str) -> np.ndarray:
    n = len(next(iter(inputs.values())))
    got = np.zeros(n, dtype=np.int64)

    async def tb(ctx):
        for i in range(n):
            for port, values in inputs.items():
                ctx.set(getattr(dut, port), int(values[i]))
            got[i] = ctx.get(getattr(dut, output))

    sim = Simulator(dut)
    sim.add_testbench(tb)
    sim.run()
    return got


def _fp32_operands(rng, n):
    a = rng.integers(0, 1 << 32, n, dtype=np.uint64).astype(np.uint32)
    b = rng.integers(0, 1 << 32, n, dtype=np.uint64).astype(np.uint32)
    q = n // 4
    # Near-cancellation (opposite signs, nearly equal magnitudes) stresses normalisation, equal
    # signs with close exponents stress the carry-out and rounding.
    b[:q] = (a[:q] ^ 0x80000000) + rng.integers(-4096, 4096, q).astype(np.uint32)
    b[q:2 * q] = a[q:2 * q] + rng.integers(-50_000_000, 50_000_000, q).astype(np.uint32)
    a[2 * q:3 * q] = rng.integers(0, 1 << 24, q).astype(np.uint32)  # subnormals and tiny normals
    b[2 * q:3 * q] = rng.integers(0, 1 << 24, q).astype(np.uint32) | (
        rng.integers(0, 2, q).astype(np.uint32) << 31)
    corners = np.array(list(itertools.product(FP32_SPECIALS, repeat=2)), dtype=np.uint32)
    # The deepest cancellations: x a power of two (and its neighbours), y of the next lower
    # exponent a few units below it, opposite sign: the sum's leading one at the lowest bits
    # the adder's normaliser keeps (FPAdd starts its search at bit 2).
    xs = np.array([(e << 23) + j for e in (1, 2, 100, 127, 254) for j in (0, 1, 2)], np.uint32)
    deep = np.array([(x, ((x - d) & 0x7FFFFFFF) | 0x80000000) for x in xs for d in range(1, 9)],
                    dtype=np.uint32)
    return (np.concatenate([a, corners[:, 0], deep[:, 0], deep[:, 1]]),
            np.concatenate([b, corners[:, 1], deep[:, 1], deep[:, 0]]))


def test_fp32_add_matches_ieee(rng):
    a, b = _fp32_operands(rng, 4000)
    got = _run_comb(FPAdd(FP32), {"a": a, "b": b}, "s")
    exp = fp32_add(a, b).astype(np.int64)
    bad = np.flatnonzero(got != exp)
    assert bad.size == 0, [(hex(a[i]), hex(b[i]), hex(got[i]), hex(exp[i])) for i in bad[:5]]


def test_fp32_add_signed_zero_and_nan_rules():
    a = np.array([0x3F800000, 0x80000000, 0x00000000, 0x7F800000, 0x7F800001], np.uint32)
    b = np.array([0xBF800000, 0x80000000, 0x80000000, 0xFF800000, 0x3F800000], np.uint32)
    got = _run_comb(FPAdd(FP32), {"a": a, "b": b}, "s")
    # 1 + -1 = +0, -0 + -0 = -0, +0 + -0 = +0, inf - inf = NaN, NaN + 1 = canonical NaN.
    assert list(got) == [0, 0x80000000, 0, FP32_NAN, FP32_NAN]


@pytest.mark.parametrize("fmt", [FP16, BF16], ids=["fp16", "bf16"])
def test_small_format_adder_exhaustive_sample(fmt: FPParams, rng):
    # The adder is format-generic; check FP16 and BF16 against float32 arithmetic rounded once
    # (exact: a float32 sum of two FP16/BF16 values is exact before the final rounding).
    n = 3000
    a = rng.integers(0, 1 << 16, n).astype(np.uint16)
    b = rng.integers(0, 1 << 16, n).astype(np.uint16)
    got = _run_comb(FPAdd(fmt), {"a": a, "b": b}, "s")
    if fmt == FP16:
        with np.errstate(all="ignore"):
            s = a.view(np.float16).astype(np.float32) + b.view(np.float16).astype(np.float32)
            ref = s.astype(np.float16)
        exp = np.where(np.isnan(ref), FP16_NAN, ref.view(np.uint16)).astype(np.int64)
    else:

        with np.errstate(all="ignore"):
            fa = (a.astype(np.uint32) << 16).view(np.float32).astype(np.float64)
            fb = (b.astype(np.uint32) << 16).view(np.float32).astype(np.float64)
            # float64 holds any sum of two BF16 values exactly, so one cast rounds once.
            ref = (fa + fb).astype(ml_dtypes.bfloat16)
        exp = np.where(np.isnan(ref.astype(np.float32)), 0x7FC0, ref.view(np.uint16))
        exp = exp.astype(np.int64)
    bad = np.flatnonzero(got != exp)
    assert bad.size == 0, [(hex(a[i]), hex(b[i]), hex(got[i]), hex(exp[i])) for i in bad[:5]]


def test_fp16_product_exact_in_fp32(rng):
    n = 3000
    a = rng.integers(0, 1 << 16, n).astype(np.uint16)
    b = rng.integers(0, 1 << 16, n).astype(np.uint16)
    corners = np.array(list(itertools.product(FP16_SPECIALS, repeat=2)), dtype=np.uint16)
    # Subnormals with the leading one at every bit, times each other and times normals: the
    # product's leading one then takes every position the normaliser has.
    subs = [(1 << k) | int(rng.integers(0, 1 << k)) for k in range(10)]
    subs += [x | 0x8000 for x in subs]
    others = subs + [0x3C00, 0xBBFF, 0x7BFF, 0x0400]
    pairs = np.array(list(itertools.product(subs, others)), dtype=np.uint16)
    a = np.concatenate([a, corners[:, 0], pairs[:, 0], pairs[:, 1]])
    b = np.concatenate([b, corners[:, 1], pairs[:, 1], pairs[:, 0]])
    mul = FPMul(FP16, FP32)
    # FP16 x FP16 always fits FP32 exactly, so no rounding logic is built (round_pack exact).
    assert mul.exact and not product_is_exact(FP16, FP16, FP16)
    assert not product_is_exact(FP16, FP32, FP32) and not product_is_exact(BF16, BF16, FP32)
    got = _run_comb(mul, {"a": a, "b": b}, "p")
    exp = fp16_mul_fp32(a, b).astype(np.int64)
    assert np.array_equal(got, exp)
    # And exactness itself: the FP32 product equals the float64 product where finite.
    fa = a.view(np.float16).astype(np.float64)
    fb = b.view(np.float16).astype(np.float64)
    with np.errstate(all="ignore"):
        exact = fa * fb
    finite = np.isfinite(exact)
    assert np.array_equal(got[finite].astype(np.uint32).view(np.float32), exact[finite])


def test_int_scale_rounds_once(rng):
    n = 3000
    d = rng.integers(-255, 256, n)
    s = rng.integers(0, 1 << 16, n).astype(np.uint16)
    corners = np.array(list(itertools.product([-255, -1, 0, 1, 255], FP16_SPECIALS)))
    d = np.concatenate([d, corners[:, 0]])
    s = np.concatenate([s, corners[:, 1].astype(np.uint16)])
    got = _run_comb(IntScaleFP(9, FP16), {"d": d, "s": s}, "y")
    exp = int_scale_fp16(d, s).astype(np.int64)
    bad = np.flatnonzero(got != exp)
    assert bad.size == 0, [(d[i], hex(s[i]), hex(got[i]), hex(exp[i])) for i in bad[:5]]


def _no_signal(component, name: str) -> bool:
    return f"\\{name}" not in rtlil.convert(component)


def test_fp32_add_of_fp16_product_sums(rng):
    """FPAdd(normal_sums=True), the adder of FP16 products' sums, builds no gradual-underflow
    shifter and still rounds every such sum correctly: products of FP16 subnormals (the
    smallest values, multiples of 2^-48), near-cancelling pairs and the specials."""
    n = 1500
    h = rng.integers(0, 1 << 16, (4, n)).astype(np.uint16)
    # Every fourth operand a product of two subnormals: the smallest values there are.
    h[:2, ::4] &= 0x83FF
    p = fp16_mul_fp32(h[0], h[1]).astype(np.uint32)
    q = fp16_mul_fp32(h[2], h[3]).astype(np.uint32)
    a = fp32_add(p, q).astype(np.uint32)
    b = fp16_mul_fp32(h[3], h[0]).astype(np.uint32)
    # Opposite signs a few units in the last place apart, where those units are still
    # multiples of 2^-48 (exponent field >= 79 + 23).
    big = (a & 0x7F800000) >= (102 << 23)
    k = np.flatnonzero(big)[: n // 3]
    b[k] = (a[k] ^ 0x80000000) + rng.integers(-64, 64, k.size).astype(np.uint32)
    corners = np.array(list(itertools.product(FP32_SPECIALS, repeat=2)), dtype=np.uint32)
    finite = (corners & 0x7F800000) != 0x7F800000
    allowed = ~finite | ((corners & 0x7FFFFFFF) == 0)
    corners = corners[allowed.all(axis=1)]
    a = np.concatenate([a, corners[:, 0]])
    b = np.concatenate([b, corners[:, 1]])
    add = FPAdd(FP32, normal_sums=True)
    got = _run_comb(add, {"a": a, "b": b}, "s")
    exp = fp32_add(a, b).astype(np.int64)
    bad = np.flatnonzero(got != exp)
    assert bad.size == 0, [(hex(a[i]), hex(b[i]), hex(got[i]), hex(exp[i])) for i in bad[:5]]
    assert _no_signal(FPAdd(FP32, normal_sums=True), "rp_rs")
    assert not _no_signal(FPAdd(FP32), "rp_rs")


def test_fp32_times_fp16_scale_with_normal_a(rng):
    """FPMul(FP32, FP32, b_fmt=FP16, normal_a=True), MixPE's scale multiplier: a normal FP32
    (or zero, or special) times any FP16, rounded once, with the leading-one search starting
    at a's hidden bit."""
    n = 3000
    a = rng.integers(0, 1 << 32, n, dtype=np.uint64).astype(np.uint32)
    a = np.where((a & 0x7F800000) == 0, a | (1 << 23), a).astype(np.uint32)   # no subnormals
    # The smallest normal significand (a power of two) against every FP16 subnormal.
    a[:20] = (rng.integers(1, 255, 20).astype(np.uint32) << 23)
    b = rng.integers(0, 1 << 16, n).astype(np.uint16)
    b[:40] = np.array([1 << i for i in range(10)] * 4, np.uint16)
    corners = np.array(list(itertools.product([0, 0x80000000, 0x00800000, 0x3F800000,
                                               0x7F7FFFFF, 0x7F800000, 0x7FC00000],
                                              FP16_SPECIALS)), dtype=np.uint64)
    a = np.concatenate([a, corners[:, 0].astype(np.uint32)])
    b = np.concatenate([b, corners[:, 1].astype(np.uint16)])
    got = _run_comb(FPMul(FP32, FP32, b_fmt=FP16, normal_a=True), {"a": a, "b": b}, "p")
    with np.errstate(all="ignore"):
        # A float64 product of an FP32 and an FP16 is exact; one cast rounds it (RNE).
        ref = (a.view(np.float32).astype(np.float64)
               * b.view(np.float16).astype(np.float64)).astype(np.float32)
    exp = np.where(np.isnan(ref), FP32_NAN, ref.view(np.uint32)).astype(np.int64)
    bad = np.flatnonzero(got != exp)
    assert bad.size == 0, [(hex(a[i]), hex(b[i]), hex(got[i]), hex(exp[i])) for i in bad[:5]]
