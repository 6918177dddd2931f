"""The floating-point building blocks of hw.fp against the numpy golden primitives."""

import itertools

import ml_dtypes
import numpy as np
import pytest
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
