"""Golden models of the MAC families against the exact reference, and the two golden forms
against each other; their whole GEMMs (exact integers, FP error bounds).

The hardware-faithful models (sim.golden.pe) are bit-exact by construction; these tests measure
how far each rounding mode is from exact arithmetic (sim.golden.reference) and bound it.
"""

import numpy as np
import pytest

from mpgemm.pe_designs.mac import DequantMacConfig, Fp16MacConfig, IntMacConfig
from mpgemm.sim.golden.contract import Beat, QuantizedWeights, gemm, run_contract
from mpgemm.sim.golden.formats import get_format, quantize_groups
from mpgemm.sim.golden.fp import f16_bits, f16_value, f32_value
from mpgemm.sim.golden.mac import DequantWeight, dequant_mac_step
from mpgemm.sim.golden.reference import error_stats, exact_matmul, exact_mpgemm, to_float64
from mpgemm.sim.stimulus import random_gemm

U32 = 2.0 ** -24  # unit roundoff of FP32 (round to nearest)


def _beats_for_gemm(config, a_rows, w_cols):
    """Beats computing every output (m, n) as one accumulation, in row-major order."""
    beats = []
    lanes = config.lanes
    for m in range(len(a_rows)):
        for n in range(len(w_cols)):
            k = len(a_rows[m])
            for j in range(k // lanes):
                sl = slice(j * lanes, (j + 1) * lanes)
                beats.append(Beat(a=tuple(a_rows[m][sl]), w=w_cols[n](sl), valid=True,
                                  load_w=True, first=j == 0, last=j == k // lanes - 1))
    return beats


def test_int_gemm_is_exact_without_wrap(rng):
    c = IntMacConfig(lanes=4)
    a = rng.integers(-128, 128, (6, 64))
    w = rng.integers(-128, 128, (64, 5))
    assert np.array_equal(gemm(c, a, QuantizedWeights(w)), a @ w)
    exact = to_float64(exact_matmul(a, w))
    assert np.array_equal(exact, (a @ w).astype(np.float64))


def test_int_gemm_agrees_with_contract_trace(rng):
    c = IntMacConfig(lanes=2, acc_bits=20, k_max=16)
    a = rng.integers(-128, 128, (3, 16))
    w = rng.integers(-128, 128, (16, 4))
    beats = _beats_for_gemm(c, [list(r) for r in a], [lambda sl, n=n: tuple(w[sl, n])
                                                       for n in range(4)])
    trace = [v for _, v in run_contract(c, beats, w_reset=(0, 0))]
    assert trace == list(gemm(c, a, QuantizedWeights(w)).ravel())


def test_int_gemm_wraps_modulo_acc_bits():
    c = IntMacConfig(acc_bits=17, k_max=2)
    a = np.full((1, 8), -128)
    w = np.full((8, 1), -128)
    # 8 * 16384 = 131072 = 2^17 wraps to 0 in a 17-bit accumulator; 7 products to -65536.
    assert gemm(c, a, QuantizedWeights(w))[0, 0] == 0
    assert gemm(c, a[:, :7], QuantizedWeights(w[:7]))[0, 0] == 7 * 16384 - (1 << 17)


@pytest.mark.parametrize("lanes", [1, 4])
def test_fp16_mac_error_against_exact(lanes, rng):
    c = Fp16MacConfig(lanes=lanes)
    k = 256
    a = f16_bits(rng.standard_normal((4, k)).astype(np.float16))
    w = f16_bits(rng.standard_normal((k, 3)).astype(np.float16))
    got = f32_value(gemm(c, a, QuantizedWeights(w))).astype(np.float64)
    av = a.view(np.float16).astype(np.float64)
    wv = w.view(np.float16).astype(np.float64)
    exact = exact_matmul(av, wv)
    stats = error_stats(got, exact)
    # Standard bound for recursive summation: |err| <= gamma_n * sum |a_k w_k|, n additions.
    n_adds = k // lanes + int(np.log2(lanes))
    bound = n_adds * U32 / (1 - n_adds * U32) * (np.abs(av) @ np.abs(wv))
    err = np.abs(got - to_float64(exact))
    assert np.all(err <= bound), stats
    print(f"fp16 MAC lanes={lanes} K={k}: {stats}")
    # And it is not exact: FP32 accumulation does round (otherwise the test measures nothing).
    assert stats.max_abs > 0


def test_fp16_mac_agrees_with_contract_trace(rng):
    c = Fp16MacConfig(lanes=2)
    a = f16_bits(rng.standard_normal((2, 8)).astype(np.float16))
    w = f16_bits(rng.standard_normal((8, 3)).astype(np.float16))
    beats = _beats_for_gemm(c, [list(r) for r in a], [lambda sl, n=n: tuple(w[sl, n])
                                                       for n in range(3)])
    trace = [v for _, v in run_contract(c, beats, w_reset=(0, 0))]
    assert trace == [int(x) for x in gemm(c, a, QuantizedWeights(w)).ravel()]


@pytest.mark.parametrize("weight_format, signed", [("uint4", False), ("int4", True),
                                                   ("uint2", False), ("uint8", False)])
def test_dequant_mac_error_against_exact_mpgemm(weight_format, signed, rng):
    bits = get_format(weight_format).bits
    c = DequantMacConfig(weight_bits=bits, weight_signed=signed, lanes=2, group_size=32)
    k, n = 128, 4
    w_real = rng.standard_normal((k, n)) * 0.05
    qw = quantize_groups(w_real, c.group_size, weight_format=weight_format)
    a = rng.standard_normal((3, k)).astype(np.float16)
    scale_bits = f16_bits(qw.scales.astype(np.float16))
    w = QuantizedWeights(qw.codes, scales=scale_bits, zeros=qw.zeros)
    got = f32_value(gemm(c, f16_bits(a), w)).astype(np.float64)
    exact = exact_mpgemm(a.astype(np.float64), qw.dequantize())
    stats = error_stats(got, exact)
    print(f"dequant MAC {weight_format}: {stats}")
    # Dequantized weights are rounded to FP16 (relative 2^-11), then accumulated in FP32.
    wd = qw.dequantize()
    bound = (2.0 ** -11 + (k // 2 + 1) * U32 * 1.01) * (np.abs(a.astype(np.float64)) @ np.abs(wd))
    assert np.all(np.abs(got - to_float64(exact)) <= bound + 1e-30), stats


def test_dequant_step_uses_fp16_rounded_weight():
    # (15 - 0) * (1 + 3 * 2^-10) = 15.0439453125 needs 14 significant bits; FP16 keeps 11
    # (ulp 2^-7 at 15), so the weight becomes 1925.625 ulps -> 1926 ulps = 15.046875.

    c = DequantMacConfig()
    one = int(f16_bits(np.float16(1.0)))
    scale = int(f16_bits(np.float16(1.0 + 3 * 2.0 ** -10)))
    out = dequant_mac_step(c, 0, (one,), DequantWeight(q=(15,), scale=scale, zero=0))
    assert float(f32_value(np.uint32(out))) == 15.046875


# --- the whole GEMM (gemm) of the MAC families: exact integers, FP error bounds ----------------
# The generic checks of gemm (the contract replay, tiling, shapes) are in test_golden_gemm.py.

#: Each MAC family's default config.
GEMM_CONFIGS = {f"{c.kind}-default": c
                for c in (IntMacConfig(), Fp16MacConfig(), DequantMacConfig())}


def test_integer_gemm_equals_the_exact_product(rng):
    config = GEMM_CONFIGS["int_mac-default"]
    a, w = random_gemm(config, rng, 3, 4 * 64, 5, extreme=True)
    want = a.astype(object) @ w.codes.astype(object)
    half = 1 << (config.acc_bits - 1)
    assert all(-half <= v < half for v in want.flat), "the config's acc_bits holds K <= k_max"
    assert np.array_equal(gemm(config, a, w).astype(object), want)


#: name -> largest norm-wise relative error allowed (max |Y - exact| / max |exact|) on one
#: random GEMM of M=4, K=1024, N=8, A ~ N(0, 1) * 2^[-4, 4] (FP16): about 4x the largest value
#: measured over seeds 0-39 (the comments give that largest value and the median).
FP_ERROR_BOUNDS = {
    # FP32 accumulation of exact FP16 products: measured 1.2e-6 (median 6.5e-7).
    "fp16_mac-default": 5e-6,
    # Weights rounded to FP16 before the FP16 MAC: measured 4.6e-4 (median 2.2e-4).
    "dequant_mac-default": 2e-3,
}


def test_every_fp_design_has_an_error_bound():
    fp = {name for name, c in GEMM_CONFIGS.items() if c.act_format == "fp16"}
    assert fp <= set(FP_ERROR_BOUNDS)


def dequantized(config, w):
    """``W`` as the exact values the PE multiplies by (float64, exact): FP16 weights, or
    ``(q - z) * s`` before the dequantizer's FP16 rounding."""
    if isinstance(config, Fp16MacConfig):
        return f16_value(w.codes).astype(np.float64)
    g = config.group_size
    zeros = np.repeat(w.zeros, g, axis=0) if w.zeros is not None else 0
    return (w.codes - zeros) * np.repeat(f16_value(w.scales).astype(np.float64), g, axis=0)


@pytest.mark.parametrize("name", list(FP_ERROR_BOUNDS))
def test_fp_gemm_error_against_exact(name, rng):
    config = GEMM_CONFIGS[name]
    a, w = random_gemm(config, rng, 4, 1024, 8)
    got = f32_value(gemm(config, a, w)).astype(np.float64)
    stats = error_stats(got, exact_mpgemm(f16_value(a).astype(np.float64),
                                          dequantized(config, w)))
    print(f"{name}: {stats}")
    assert stats.max_rel <= FP_ERROR_BOUNDS[name], stats
    assert stats.max_abs > 0                                  # rounding does happen
