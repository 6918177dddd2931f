"""Bit-serial PE family: weight terms, config checks, golden model and RTL (amaranth.sim), the
whole GEMM against the formats' definitions (exact integers, FP error bounds, bad operands)."""

import math
import re
from dataclasses import replace
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mpgemm.costmodel import GemmWorkload, evaluate, generated_units, pe_cost
from mpgemm.hw.flow.generate import RTL_DIR, hierarchy_graph, load_manifest, write_rtl
from mpgemm.hw.flow.synth import synth_design
from mpgemm.pe_designs.bitserial import BitSerialConfig
from mpgemm.pe_designs.presets import PRESETS
from mpgemm.pe_designs.registry import config_from_dict
from mpgemm.sim.amaranth_sim import simulate_trace
from mpgemm.sim.golden.bitmod import quantize_mixed_groups
from mpgemm.sim.golden.bitserial import BitSerialWeight, bitserial_fp_align_sum, run_bitserial
from mpgemm.sim.golden.contract import Beat, QuantizedWeights, gemm, run_contract, wrap_signed
from mpgemm.sim.golden.formats import SPECIAL_FORMATS, get_weight_format
from mpgemm.sim.golden.fp import f16_value, f32_value
from mpgemm.sim.golden.reference import error_stats, exact_mpgemm
from mpgemm.sim.golden.terms import (
    BITSERIAL_WEIGHT_FORMATS,
    booth_digits,
    frac_bits,
    n_terms,
    w_int_range,
    weight_int,
    weight_terms,
)
from mpgemm.sim.scoreboard import check_cycles
from mpgemm.sim.stimulus import corner_beats, count_valid, random_beats, w_reset
from mpgemm.sim.stimulus.bitserial import random_gemm

DESIGNS_IN_RTL_OUT = {n: e for n, e in load_manifest(RTL_DIR)["designs"].items()
                      if e["config"]["kind"] == BitSerialConfig.kind}


def _codes_and_groups(fmt: str):
    """Every (code, zero, special) combination a group of this format can hold."""
    bits = get_weight_format(fmt).bits
    codes = [0, 1, 3] if fmt == "ternary" else range(1 << bits)
    zeros = range(1 << bits) if fmt.startswith("uint") else [0]
    specials = range(4) if fmt in SPECIAL_FORMATS else [0]
    for code in codes:
        for zero in zeros:
            for special in specials:
                yield code, zero, special


@pytest.mark.parametrize("fmt", BITSERIAL_WEIGHT_FORMATS)
@pytest.mark.parametrize("mode", ["booth", "bitplane"])
def test_terms_sum_to_the_exact_weight(fmt, mode):
    fobj = get_weight_format(fmt)
    decoded: dict[int, float] = {}
    integers = set()
    for code, zero, special in _codes_and_groups(fmt):
        w = weight_int(fmt, code, zero=zero, special=special)
        # The integer form is the exact decoded value (minus the zero point) at 2^frac_bits.
        if fmt in SPECIAL_FORMATS:
            exact = fobj.decode([code], special)[0]
        else:
            if code not in decoded:
                decoded[code] = fobj.decode([code])[0]
            exact = decoded[code] - zero
        assert w == exact * 2 ** frac_bits(fmt)
        integers.add(w)
    # The terms depend on the integer alone: a uint8 group's 65,536 (code, zero) pairs give
    # 511 integers, each decomposed once.
    for w in integers:
        terms = weight_terms(fmt, w, mode)
        assert len(terms) == n_terms(fmt, mode)
        assert sum(t.value for t in terms) == w
        assert all(t.man in (0, 1) and t.sign in (0, 1) for t in terms)


def test_terms_per_weight_match_bitmod():
    # BitMoD: radix-4 Booth gives INT8 4 terms and INT6 3; FP4/FP3 need 2.
    assert {f: n_terms(f) for f in ("int8", "int6", "int4", "int2", "ternary", "fp4_e2m1",
                                    "bitmod_fp4", "bitmod_fp3")} == {
        "int8": 4, "int6": 3, "int4": 2, "int2": 1, "ternary": 1, "fp4_e2m1": 2,
        "bitmod_fp4": 2, "bitmod_fp3": 2}
    # Unsigned weights minus a zero point span one more bit: uint4 - z needs 3 Booth digits.
    assert n_terms("uint4") == 3 and w_int_range("uint4") == (-15, 15)
    # Bit-plane mode: one cycle per two's complement bit.
    assert n_terms("int4", "bitplane") == 4 and n_terms("int8", "bitplane") == 8


@given(st.integers(-(1 << 15), (1 << 15) - 1))
def test_booth_digits_reconstruct(value):
    digits = booth_digits(value, 16)
    assert all(d in (-2, -1, 0, 1, 2) for d in digits)
    assert sum(d * 4 ** j for j, d in enumerate(digits)) == value


def test_group_parameters_that_do_not_apply_are_rejected():
    with pytest.raises(ValueError, match="special=2 given for int4 weights; only bitmod_fp4 "
                                         "and bitmod_fp3 have a special value"):
        weight_int("int4", 3, special=2)
    with pytest.raises(ValueError, match="zero=1 given for int4 weights; only unsigned"):
        weight_int("int4", 3, zero=1)
    with pytest.raises(ValueError, match=r"zero point must be in \[0, 15\] for uint4, not 16"):
        weight_int("uint4", 3, zero=16)


def test_special_value_formats():
    fp4 = SPECIAL_FORMATS["bitmod_fp4"]
    assert list(fp4.values(0)) == [-6, -4, -3, -2, -1.5, -1, -0.5, 0, 0.5, 1, 1.5, 2, 3, 4,
                                   5, 6]
    assert fp4.decode([0b1000], 3)[0] == -8.0
    fp3 = SPECIAL_FORMATS["bitmod_fp3"]
    assert list(fp3.values(1)) == [-4, -3, -2, -1, 0, 1, 2, 4]
    with pytest.raises(ValueError, match=r"special must be an integer selector in \[0, 3\]"):
        fp3.decode([4], 4)


@pytest.mark.parametrize("kwargs, exc, message", [
    ({"weight_formats": ()}, TypeError, "weight_formats must be a non-empty tuple"),
    ({"weight_formats": "int4"}, TypeError, "weight_formats must be a non-empty tuple"),
    ({"weight_formats": ("int9",)}, ValueError, "weight_formats entry must be one of "),
    ({"weight_formats": ("int4", "int4")}, ValueError, "weight_formats has duplicates"),
    ({"act_format": "fp8"}, ValueError,
     "act_format must be one of 'int8', 'int16', 'fp16', 'bf16', not 'fp8'"),
    ({"lanes": 0}, ValueError, "lanes must be in [1, 16], not 0"),
    ({"lanes": 3}, ValueError, "group_size=128 must be a multiple of lanes=3"),
    ({"term_mode": "csd"}, ValueError, "term_mode must be one of 'booth', 'bitplane', not 'csd'"),
    ({"scale_bits": 9}, ValueError, "scale_bits must be in [1, 8], not 9"),
    ({"group_size": 8}, ValueError,
     "group_size=8 is too small: 2 beat(s) of 2 term cycle(s) last 4 cycles, fewer than the "
     "scale_bits=8 cycles of bit-serial dequantization; use group_size >= 16"),
    ({"acc_bits": 24}, ValueError, "acc_bits=24 is too narrow: k_max=4096 products"),
    ({"scale_signed": 1}, TypeError, "scale_signed must be a bool, not 1"),
    ({"scale_signed": True, "scale_bits": 1, "group_size": 128}, ValueError,
     "scale_bits must be >= 2 for a signed scale, not 1"),
    ({"align_guard_bits": 13}, ValueError, "align_guard_bits must be in [0, 12], not 13"),
])
def test_config_errors(kwargs, exc, message):
    with pytest.raises(exc, match=re.escape(message)):
        BitSerialConfig(**kwargs)


def test_config_timing_facts():
    c = BitSerialConfig(weight_formats=("int8", "int6", "bitmod_fp4", "ternary"),
                        group_size=128)
    assert {f: c.timing(f).cycles for f in c.weight_formats} == {
        "int8": 4, "int6": 3, "bitmod_fp4": 2, "ternary": 1}
    assert c.timing("int6").latency == 3 + 8 + 1
    assert c.timing().cycles == 4 and c.timing().latency == 13
    # FP4 among the formats puts every weight on a half-unit grid.
    assert c.frac_bits == 1 and c.extra_shift("int8") == 1 and c.extra_shift("bitmod_fp4") == 0


VARIANTS = {
    "int2_l1_scale4": BitSerialConfig(weight_formats=("int2",), lanes=1, group_size=8,
                                      scale_bits=4, acc_bits=32),
    "uint8_zero_a16": BitSerialConfig(weight_formats=("uint8", "uint3"), act_format="int16",
                                      lanes=2, group_size=16),
    "ternary_fp4_l8": BitSerialConfig(weight_formats=("ternary", "fp4_e2m1"), lanes=8,
                                      group_size=64),
    "all_formats": BitSerialConfig(weight_formats=BITSERIAL_WEIGHT_FORMATS, lanes=4,
                                   group_size=32, acc_bits=64),
    "bitplane_mix": BitSerialConfig(weight_formats=("int8", "bitmod_fp4", "uint2"), lanes=2,
                                    group_size=8, term_mode="bitplane"),
    "signed_scale": BitSerialConfig(weight_formats=("int4", "uint2"), lanes=4, group_size=16,
                                    scale_signed=True),
}


@pytest.mark.sim
@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_bitserial_rtl_matches_golden(name, rng, seed, n_vectors):
    _rtl_matches_golden(VARIANTS[name], name, rng, seed, n_vectors)


def _rtl_matches_golden(config, name, rng, seed, n_vectors):
    """Corner cases and random beats through amaranth.sim, checked every cycle."""
    beats = corner_beats(config) + random_beats(config, rng, n_vectors // 4)
    expected = run_contract(config, beats, w_reset=w_reset(config))
    driven, observed = simulate_trace(config, beats, drain=config.timing().latency + 4)
    errors = check_cycles(config, driven, observed, expected, beats=beats)
    assert not errors, f"{name} seed={seed}: " + "; ".join(errors)
    assert count_valid(beats) >= n_vectors // 4 and len(expected) > 0


def test_golden_is_exact_dot_product_times_scale(rng):
    """One output of two groups equals sum_g scale_g * sum_k a_k w_k, computed independently."""
    c = BitSerialConfig(weight_formats=("uint4", "bitmod_fp4"), lanes=4, group_size=16)
    beats, exact = [], 0
    for g, (dtype, zero, special, scale) in enumerate([(0, 7, 0, 200), (1, 0, 3, 3)]):
        fmt = c.weight_formats[dtype]
        fobj = get_weight_format(fmt)
        acc = 0
        for j in range(4):
            a = [int(x) for x in rng.integers(-128, 128, 4)]
            codes = [int(x) for x in rng.integers(0, 16, 4)]
            vals = (fobj.decode(codes, special) if fmt in SPECIAL_FORMATS
                    else fobj.decode(codes) - zero)
            # Everything on the half-unit grid of FP4 (frac_bits = 1).
            acc += sum(x * int(v * 2) for x, v in zip(a, vals, strict=True))
            beats.append(Beat(a=tuple(a), w=BitSerialWeight(tuple(codes), scale, dtype, zero,
                                                            special),
                              valid=True, load_w=True, first=g == 0 and j == 0,
                              last=g == 1 and j == 3, group_end=j == 3))
            beats += [Beat(a=(0,) * 4, w=w_reset(c))] * (c.timing(dtype).cycles - 1)
        exact += scale * acc
    got = run_contract(c, beats, w_reset=w_reset(c))
    assert [v for _, v in got] == [exact]


def test_golden_rejects_beats_faster_than_the_pe():
    c = BitSerialConfig(weight_formats=("int8",), lanes=1, group_size=8)
    w = BitSerialWeight((1,), 1)
    beats = [Beat(a=(1,), w=w, valid=True, load_w=True, first=True),
             Beat(a=(1,), w=w, valid=True, load_w=True)]
    with pytest.raises(ValueError, match="arrives while the PE is busy"):
        run_contract(c, beats, w_reset=w_reset(c))


def test_cost_model_follows_terms_per_weight():
    booth = BitSerialConfig()
    bitplane = BitSerialConfig(term_mode="bitplane")
    int8 = BitSerialConfig(weight_formats=("int8",))
    assert pe_cost(bitplane).energy_per_mac_pj > pe_cost(booth).energy_per_mac_pj
    assert pe_cost(int8).cycles_per_mac == 2 * pe_cost(booth).cycles_per_mac
    assert pe_cost(BitSerialConfig(lanes=8)).area_um2 > pe_cost(booth).area_um2
    report = evaluate(booth, GemmWorkload(4, 8, 256, act_format="int8", weight_format="int4",
                                          group_size=128))
    # 4 x 8 outputs, each 256 / 4 = 64 beats of the format's term cycles, plus the latency.
    assert report.latency_cycles == (4 * 8 * 64 * booth.timing("int4").cycles
                                     + booth.timing().latency)
    with pytest.raises(ValueError, match="is not one of the bitserial config's weight_formats"):
        evaluate(booth, GemmWorkload(1, 1, 128, act_format="int8", weight_format="int8",
                                     group_size=128))


def test_results_are_not_trivially_zero(rng):
    c = BitSerialConfig(weight_formats=("int4",), lanes=4, group_size=32)
    beats = random_beats(c, rng, 200)
    values = [v for _, v in run_contract(c, beats, w_reset=w_reset(c))]
    assert len(set(values)) > len(values) // 2
    assert np.std(values) > 0


FP_VARIANTS = {
    "fp16_mix": BitSerialConfig(weight_formats=("int8", "uint3", "bitmod_fp4", "ternary"),
                                act_format="fp16", lanes=4, group_size=32),
    "bf16_guard0": BitSerialConfig(weight_formats=("int6", "fp4_e2m1"), act_format="bf16",
                                   lanes=2, group_size=16, align_guard_bits=0),
    "fp16_bitplane_l1": BitSerialConfig(weight_formats=("int4",), act_format="fp16", lanes=1,
                                        group_size=8, term_mode="bitplane", scale_bits=6),
    "fp16_signed_scale": BitSerialConfig(weight_formats=("bitmod_fp3",), act_format="fp16",
                                         lanes=4, group_size=16, scale_signed=True),
}


@pytest.mark.sim
@pytest.mark.parametrize("name", sorted(FP_VARIANTS))
def test_bitserial_fp_rtl_matches_golden(name, rng, seed, n_vectors):
    _rtl_matches_golden(FP_VARIANTS[name], name, rng, seed, n_vectors)


def _fp16_gemv(config, rng, n_outputs: int):
    """Outputs of K = 2 groups each, with their exact values (math.fsum of exact products)."""

    beats, exact = [], []
    per_group = config.group_size // config.lanes
    for _ in range(n_outputs):
        products = []
        for g in range(2):
            scale = int(rng.integers(1, 1 << config.scale_bits))
            for j in range(per_group):
                a = np.float16(rng.standard_normal(config.lanes) * 2.0 ** int(rng.integers(-4, 5)))
                codes = [int(x) for x in rng.integers(0, 16, config.lanes)]
                w = [weight_int("int4", c_) for c_ in codes]
                products += [float(x) * wv * scale for x, wv in zip(a, w, strict=True)]
                beats.append(Beat(a=tuple(int(b) for b in a.view(np.uint16)),
                                  w=BitSerialWeight(tuple(codes), scale), valid=True,
                                  load_w=True, first=g == 0 and j == 0,
                                  last=g == 1 and j == per_group - 1,
                                  group_end=j == per_group - 1))
                beats += [Beat(a=(0,) * config.lanes, w=w_reset(config))] * (
                    config.timing(0).cycles - 1)
        exact.append((math.fsum(products), math.fsum(abs(p) for p in products)))
    got = [float(f32_value(np.uint32(v))) for _, v in
           run_contract(config, beats, w_reset=w_reset(config))]
    return got, exact


def test_fp16_alignment_error_against_exact(rng):
    """Measured error of the truncating alignment, and that guard bits reduce it."""
    errors = {}
    for guard in (0, 4, 10):
        c = BitSerialConfig(weight_formats=("int4",), act_format="fp16", lanes=4, group_size=64,
                            align_guard_bits=guard)
        got, exact = _fp16_gemv(c, np.random.default_rng(1234), 16)
        # Norm-wise relative error: |y - y_exact| / sum |a w s|.
        errors[guard] = max(abs(g - e) / m for g, (e, m) in zip(got, exact, strict=True))
        print(f"FP16 x int4, guard bits {guard}: max norm-wise relative error {errors[guard]:.3g}")
    # Truncation drops at most one aligned LSB per lane and term: relative 2^-(10 + guard)
    # of the largest product, times lanes; FP32 accumulation adds ~2^-24 per step.
    for guard, err in errors.items():
        assert err <= 4 * 2.0 ** -(10 + guard) + 2.0 ** -18
    assert errors[0] > errors[4] > errors[10] > 0


def test_fp_golden_rejects_non_finite_activations():
    c = BitSerialConfig(weight_formats=("int4",), act_format="fp16", lanes=1, group_size=8)
    beats = [Beat(a=(0x7C00,), w=BitSerialWeight((1,), 1), valid=True, load_w=True,
                  first=True)]
    with pytest.raises(ValueError, match="is inf or NaN"):
        run_contract(c, beats, w_reset=w_reset(c))


@pytest.mark.synth
def test_area_trend_across_precisions_matches_yosys(tmp_path):
    """Cost-model area and Yosys cells grow together from INT2 to INT4 to INT8 weights."""

    designs = {f"bs_{f}": BitSerialConfig(weight_formats=(f,)) for f in ("int2", "int4", "int8")}
    write_rtl(tmp_path / "rtl", designs)
    cells, areas = [], []
    for name, config in designs.items():
        report = synth_design(tmp_path / "rtl" / f"{name}.v", name, tmp_path / "synth",
                              fpga=False)
        assert report["ice40"] is None and report["xilinx"] is None and report["ecp5"] is None
        cells.append(report["generic"]["cells"])
        areas.append(pe_cost(config).area_um2)
    print("Yosys generic cells", cells, "cost-model area um2", [round(a) for a in areas])
    assert cells == sorted(cells) and areas == sorted(areas)


@pytest.mark.sim
def test_mixed_type_quantization_end_to_end_through_the_pe(rng):
    """BitMoD flow: per-group data types chosen on real weights, run through the golden PE and
    the RTL; the PE's integer output times the column scale is A x dequant(W) exactly."""

    formats = ("int4", "bitmod_fp4", "bitmod_fp3")
    c = BitSerialConfig(weight_formats=formats, lanes=4, group_size=16, acc_bits=48)
    k, n = 64, 3
    w = rng.standard_normal((k, n)) * np.where(rng.random((k, n)) < 0.05, 8.0, 1.0)
    qw = quantize_mixed_groups(w, c.group_size, formats=formats)
    assert set(np.unique(qw.dtype)) <= {0, 1, 2}
    a = rng.integers(-128, 128, k)
    for col in range(n):
        beats = []
        for gi in range(k // c.group_size):
            for j in range(c.group_size // c.lanes):
                rows = slice(gi * c.group_size + j * c.lanes, gi * c.group_size + (j + 1) * c.lanes)
                wt = BitSerialWeight(tuple(int(x) for x in qw.codes[rows, col]),
                                     scale=int(qw.scale[gi, col]), dtype=int(qw.dtype[gi, col]),
                                     special=int(qw.special[gi, col]))
                last_beat = j == c.group_size // c.lanes - 1
                beats.append(Beat(a=tuple(int(x) for x in a[rows]), w=wt, valid=True,
                                  load_w=True, first=gi == 0 and j == 0,
                                  last=gi == k // c.group_size - 1 and last_beat,
                                  group_end=last_beat))
                beats += [Beat(a=(0,) * 4, w=w_reset(c))] * (c.timing(wt.dtype).cycles - 1)
        golden = run_contract(c, beats, w_reset=w_reset(c))
        # Exact A x dequant(W): format value x integer group scale x column scale.
        group_scale = np.repeat(qw.scale[:, col], c.group_size)
        exact = sum(Fraction(int(x)) * Fraction(float(v)) * int(s)
                    for x, v, s in zip(a, qw.values()[:, col], group_scale, strict=True))
        exact *= Fraction(float(qw.column_scale[col]))
        value = Fraction(golden[0][1]) * Fraction(float(qw.column_scale[col])) / 2 ** qw.frac_bits
        assert value == exact
        if col == 0:
            driven, observed = simulate_trace(c, beats, drain=c.timing().latency + 2)
            assert not check_cycles(c, driven, observed, golden, beats=beats)


def test_mixed_type_quantization_beats_every_single_type(rng):

    w = rng.standard_normal((256, 8)) * np.exp(rng.standard_normal((256, 8)))
    formats = ("int4", "bitmod_fp4", "bitmod_fp3")
    mixed = quantize_mixed_groups(w, 128, formats=formats)
    err_mixed = np.sum((w - mixed.dequantize()) ** 2)
    for f in formats:
        single = quantize_mixed_groups(w, 128, formats=(f,), column_scale=mixed.column_scale)
        assert err_mixed <= np.sum((w - single.dequantize()) ** 2) * (1 + 1e-12)
    with pytest.raises(ValueError, match="needs a zero point"):
        quantize_mixed_groups(w, 128, formats=("uint4",))
    with pytest.raises(ValueError, match="group_size must divide K: got group_size=100"):
        quantize_mixed_groups(w, 100)


@pytest.mark.sim
@pytest.mark.parametrize("act_format", ["int8", "fp16"])
def test_maximum_group_size_extremes_and_zeros(act_format):
    """A 4096-weight group of the largest products, then an all-zero group, in RTL."""
    c = BitSerialConfig(weight_formats=("int8",), act_format=act_format, lanes=4,
                        group_size=4096)
    amin = 0xFBFF if act_format == "fp16" else -128       # -65504 in FP16
    beats = []
    for a, code, scale in [(amin, 0x80, 255), (0, 0, 0)]:
        for j in range(c.group_size // c.lanes):
            last = j == c.group_size // c.lanes - 1
            beats.append(Beat(a=(a,) * 4, w=BitSerialWeight((code,) * 4, scale), valid=True,
                              load_w=True, first=j == 0, last=last, group_end=last))
            beats += [Beat(a=(0,) * 4, w=w_reset(c))] * (c.timing(0).cycles - 1)
    expected = run_contract(c, beats, w_reset=w_reset(c))
    if act_format == "int8":
        assert [v for _, v in expected] == [4096 * 128 * 128 * 255, 0]
    driven, observed = simulate_trace(c, beats, drain=c.timing().latency + 2)
    assert not check_cycles(c, driven, observed, expected, beats=beats)


@pytest.mark.sim
def test_short_group_stalls_until_the_dequantizer_is_free():
    """A group that closes while the previous one is still being dequantized waits; no result
    is lost, and o_ready and the result cycles follow the golden schedule."""
    c = BitSerialConfig(weight_formats=("ternary",), lanes=4, group_size=32)
    w = BitSerialWeight((1, 3, 1, 0), scale=5)
    beats = []
    for j in range(8):                              # a full group: 8 one-cycle beats
        beats.append(Beat(a=(1, 2, 3, 4), w=w, valid=True, load_w=True, first=j == 0,
                          last=j == 7, group_end=j == 7))
    beats.append(Beat(a=(9, 9, 9, 9), w=w, valid=True, load_w=True, first=True, last=True,
                      group_end=True))              # a 1-beat group right behind it
    beats += [Beat(a=(0,) * 4, w=w_reset(c))] * 12
    low: list[int] = []

    expected = run_bitserial(c, beats, w_reset=w_reset(c), not_ready=low)
    assert len(expected) == 2 and low, "the second group must stall"
    assert expected[1][0] - expected[0][0] == c.scale_bits
    driven, observed = simulate_trace(c, beats, drain=c.timing().latency + 4)
    assert not check_cycles(c, driven, observed, expected, beats=beats)


@pytest.mark.parametrize("change, message", [
    ({"scale": 300}, "scale code 300 does not fit scale_bits=8"),
    ({"dtype": 2}, "dtype=2 must index weight_formats (0..1)"),
    ({"special": 1}, "special=1 given for int4 weights"),
    ({"zero": 3}, "zero=3 given for int4 weights"),
    ({"codes": (1, 2)}, "2 weight codes for lanes=4"),
])
def test_golden_rejects_bad_weight_operands(change, message):

    c = BitSerialConfig(weight_formats=("int4", "uint4"), lanes=4, group_size=16)
    w = replace(BitSerialWeight((1, 2, 3, 4), scale=1), **change)
    beats = [Beat(a=(1,) * 4, w=w, valid=True, load_w=True, first=True)]
    with pytest.raises(ValueError, match=re.escape(message)):
        run_contract(c, beats, w_reset=w_reset(c))


def test_golden_rejects_a_group_that_changes_its_data_type():
    # The contract's generic group rules are checked for every family in test_families.py.
    c = BitSerialConfig(weight_formats=("int4", "uint4"), lanes=4, group_size=16)
    w0 = BitSerialWeight((1, 2, 3, 4), scale=1)
    w1 = BitSerialWeight((1, 2, 3, 4), scale=1, dtype=1, zero=2)
    gap = [Beat(a=(0,) * 4, w=w0)] * 4
    with pytest.raises(ValueError, match="changes the data type, zero point or special value"):
        run_contract(c, [Beat(a=(1,) * 4, w=w0, valid=True, load_w=True), *gap,
                         Beat(a=(1,) * 4, w=w1, valid=True, load_w=True)], w_reset=w_reset(c))


def test_cost_model_uses_the_workloads_data_type():
    """On a mixed-type PE, FP4 groups cost their 2 term cycles, INT8 groups their 4."""
    c = BitSerialConfig(weight_formats=("int8", "bitmod_fp4"))
    fp4 = evaluate(c, GemmWorkload(4, 4, 256, act_format="int8", weight_format="bitmod_fp4",
                                   group_size=128))
    int8 = evaluate(c, GemmWorkload(4, 4, 256, act_format="int8", weight_format="int8",
                                    group_size=128))
    for report, fmt in ((fp4, "bitmod_fp4"), (int8, "int8")):
        assert report.latency_cycles == 16 * 64 * c.timing(fmt).cycles + c.timing(fmt).latency
    assert c.timing("bitmod_fp4").cycles < c.timing("int8").cycles
    assert fp4.compute_energy_pj < int8.compute_energy_pj


# --- the whole GEMM (gemm) against the weights' definitions ----------------------------------
# The generic checks of gemm (the contract replay, tiling, shapes) are in test_golden_gemm.py.

#: The default config and presets covering every format over INT8, INT16, FP16 and BF16
#: activations, signed scales and bit-plane terms.
GEMM_CONFIGS = {"bitserial-default": BitSerialConfig(),
                **{name: PRESETS[name] for name in (
                    "bitserial_all_a8", "bitserial_mix_a16", "bitserial_int4_bitplane_a8",
                    "bitserial_bitmod_fp4_a8", "bitserial_mix_fp16", "bitserial_all_fp16",
                    "bitserial_all_bf16")}}


def _scale_value(config, code):
    return wrap_signed(int(code), config.scale_bits) if config.scale_signed else int(code)


def _weight(config, w, k, n):
    """Weight ``(k, n)`` as the integer the PE multiplies by, on the common binary point."""
    fmt = config.weight_formats[w.group_value("dtypes", k, n)]
    return weight_int(fmt, int(w.codes[k, n]), zero=w.group_value("zeros", k, n),
                      special=w.group_value("specials", k, n)) << config.extra_shift(fmt)


def exact_int_gemm(config, a, w):
    """The exact ``Y`` from the weight formats' definitions (Python ints, no wrap-around), in
    the unit of the PE's output (every format aligned to the common binary point,
    ``2^-config.frac_bits``)."""
    g = config.group_size
    k, n = w.shape
    y = np.zeros((a.shape[0], n), object)
    for gi in range(k // g):
        ks = slice(gi * g, (gi + 1) * g)
        for j in range(n):
            fmt = config.weight_formats[w.group_value("dtypes", gi * g, j)]
            vals = [Fraction(weight_int(fmt, int(c), zero=w.group_value("zeros", gi * g, j),
                                        special=w.group_value("specials", gi * g, j)),
                             1 << frac_bits(fmt)) * (1 << config.frac_bits)
                    for c in w.codes[ks, j]]
            y[:, j] += (_scale_value(config, w.scales[gi, j])
                        * (a[:, ks].astype(object) @ np.array(vals, dtype=object)))
    assert all(Fraction(v).denominator == 1 for v in y.flat)
    return np.vectorize(int, otypes=[object])(y)


@pytest.mark.parametrize("name", [n for n, c in GEMM_CONFIGS.items() if not c.is_fp])
def test_integer_gemm_equals_the_exact_product(name, rng):
    config = GEMM_CONFIGS[name]
    m, n, k = 3, 5, 4 * config.group_size
    a, w = random_gemm(config, rng, m, k, n, extreme=True)
    want = exact_int_gemm(config, a, w)
    half = 1 << (config.acc_bits - 1)
    assert all(-half <= v < half for v in want.flat), "the config's acc_bits holds K <= k_max"
    y = gemm(config, a, w)
    assert y.dtype == np.int64
    assert np.array_equal(y.astype(object), want)


def test_integer_gemm_wraps_at_acc_bits(rng):
    """K beyond k_max overflows the accumulator: the output is the exact product wrapped to
    acc_bits two's complement, as the register holds it (and as the replay has it)."""
    config = BitSerialConfig(weight_formats=("int8", "uint4"), group_size=32, k_max=32,
                             acc_bits=BitSerialConfig(group_size=32, k_max=32, weight_formats=(
                                 "int8", "uint4")).required_acc_bits)
    m, n, k = 2, 3, 16 * config.group_size
    a, w = random_gemm(config, rng, m, k, n)
    a[:] = -(1 << (config.act_bits - 1))          # every product as large as it gets
    w = QuantizedWeights(np.where(w.dtypes.repeat(config.group_size, 0) == 0, 0x80, 0),
                         scales=np.full(w.scales.shape, 1 << (config.scale_bits - 1)),
                         zeros=np.where(w.dtypes == 1, 15, 0), dtypes=w.dtypes)
    want = exact_int_gemm(config, a, w)
    assert any(abs(v) >= 1 << (config.acc_bits - 1) for v in want.flat)
    y = gemm(config, a, w)
    assert [int(v) for v in y.flat] == [wrap_signed(v, config.acc_bits) for v in want.flat]
    [(_, value)] = run_contract(config, config.golden.gemm_beats(config, a[:1], w, [0]))
    assert value == int(y[0, 0])


#: name -> largest norm-wise relative error allowed (max |Y - exact| / max |exact|) on one
#: random GEMM of M=4, K=1024, N=8, A ~ N(0, 1) * 2^[-4, 4] (FP16/BF16): about 4x the largest
#: value measured over seeds 0-39 (the comments give that largest value and the median).
FP_ERROR_BOUNDS = {
    # Bit-serial, FP16: per term cycle the lanes are aligned with 4 guard bits (truncation) and
    # summed into FP32: measured 5.6e-5 (int4), 6.2e-5 (BitMoD FP4), 6.8e-5 (mixed types,
    # signed scale), 8.6e-5 (every format); medians 2.6e-5 - 3.0e-5.
    "bitserial_int4_fp16": 3e-4,
    "bitserial_bitmod_fp4_fp16": 3e-4,
    "bitserial_mix_fp16": 3e-4,
    "bitserial_all_fp16": 3e-4,
    # Bit-serial, BF16 (8-bit significands aligned with 4 guard bits): measured 8.0e-4
    # (median 1.9e-4).
    "bitserial_all_bf16": 3e-3,
}


def test_every_fp_design_has_an_error_bound():
    fp = {name for name, c in GEMM_CONFIGS.items() if c.is_fp}
    assert fp <= set(FP_ERROR_BOUNDS)


def _act_values(config, a):
    if config.act_format == "bf16":
        return (a.astype(np.uint32) << 16).view(np.float32).astype(np.float64)
    return f16_value(a).astype(np.float64)


def dequantized(config, w):
    """``W`` as the exact values the PE multiplies by (float64, exact), in its output's unit."""
    k, n = w.shape
    return np.array([[_scale_value(config, w.group_value("scales", kk, j))
                      * _weight(config, w, kk, j) for j in range(n)] for kk in range(k)],
                    dtype=np.float64)


@pytest.mark.parametrize("name", list(FP_ERROR_BOUNDS))
def test_fp_gemm_error_against_exact(name, rng):
    config = PRESETS[name]
    # Non-zero scales keep the exact result away from cancelling to nothing.
    a, w = random_gemm(config, rng, 4, 1024, 8, nonzero_scales=True)
    y = gemm(config, a, w)
    assert y.dtype == np.uint32
    stats = error_stats(f32_value(y).astype(np.float64),
                        exact_mpgemm(_act_values(config, a), dequantized(config, w)))
    print(f"{name}: {stats}")
    assert stats.max_rel <= FP_ERROR_BOUNDS[name], stats
    assert stats.max_abs > 0                                  # rounding does happen


# --- malformed GEMM operands -------------------------------------------------------------

def _qw(w, **changes):
    fields = {f: getattr(w, f) for f in ("codes", "scales", "zeros", "dtypes", "specials")}
    fields.update(changes)
    return QuantizedWeights(**fields)


def _set(arr, idx, value):
    arr = np.array(arr, copy=True)
    arr[idx] = value
    return arr


BS = BitSerialConfig(weight_formats=("int4", "uint4", "ternary", "bitmod_fp3"), group_size=32)
BS_FP = replace(BS, act_format="fp16")

#: (config, change, message): ``change(a, w)`` returns the malformed ``(a, w)``.
BAD_OPERANDS = [
    (BS, lambda a, w: (a[:, :48], _qw(w, codes=w.codes[:48], scales=w.scales[:1],
                                      zeros=w.zeros[:1], dtypes=w.dtypes[:1],
                                      specials=w.specials[:1])),
     "K a positive multiple of group_size=32"),
    (BS, lambda a, w: (a, _qw(w, scales=None)), "needs scales"),
    (BS, lambda a, w: (a, _qw(w, scales=w.scales[:1])), "scales has 1 groups"),
    (BS, lambda a, w: (a, _qw(w, scales=_set(w.scales, (0, 0), 256))),
     r"scales must be scale_bits=8 codes in \[0, 255\]; got 256"),
    (BS, lambda a, w: (a, _qw(w, dtypes=_set(w.dtypes, (1, 1), 4))),
     "dtypes must index weight_formats"),
    (BS, lambda a, w: (a, _qw(w, dtypes=np.zeros_like(w.dtypes), specials=None,
                              zeros=_set(np.zeros_like(w.zeros), (0, 1), 3))),
     r"zeros must be 0 for int4 groups \(only unsigned formats have a zero point\)"),
    (BS, lambda a, w: (a, _qw(w, dtypes=np.ones_like(w.dtypes),
                              zeros=_set(np.zeros_like(w.zeros), (0, 1), 16),
                              specials=np.zeros_like(w.specials))),
     r"zeros must be in \[0, 15\] for uint4 groups; got 16"),
    (BS, lambda a, w: (a, _qw(w, dtypes=np.zeros_like(w.dtypes), zeros=None,
                              specials=_set(np.zeros_like(w.specials), (1, 0), 1))),
     "specials must be 0 for int4 groups"),
    (BS, lambda a, w: (a, _qw(w, dtypes=np.full_like(w.dtypes, 3), zeros=None,
                              specials=_set(np.zeros_like(w.specials), (1, 0), 4))),
     r"specials must be in \[0, 3\] for bitmod_fp3 groups"),
    (BS, lambda a, w: (a, _qw(w, dtypes=np.full_like(w.dtypes, 2), zeros=None, specials=None,
                              codes=_set(np.zeros_like(w.codes), (40, 2), 2))),
     r"codes\[40, 2\] = 2 is not a code of ternary \(group 1, column 2\)"),
    (BS, lambda a, w: (a, _qw(w, dtypes=np.zeros_like(w.dtypes), zeros=None, specials=None,
                              codes=_set(np.zeros_like(w.codes), (3, 0), 16))),
     r"codes\[3, 0\] = 16 is not a code of int4"),
    (BS, lambda a, w: (_set(a, (1, 5), 128), w), r"activations must be int8 values in \[-128, "),
    (BS, lambda a, w: (a.astype(np.float64), w), "activations must be integers"),
    (BS_FP, lambda a, w: (_set(a, (0, 7), 0x7C00), w), "is inf or NaN"),
    (BS_FP, lambda a, w: (_set(a, (0, 7), 0x10000), w), r"bit patterns in \[0, 0xFFFF\]"),
]


@pytest.mark.parametrize("config, change, message", BAD_OPERANDS,
                         ids=[f"{c.kind}-{c.act_format}-{i}"
                              for i, (c, _, _) in enumerate(BAD_OPERANDS)])
def test_bad_gemm_operands_are_rejected(config, change, message, rng):
    a, w = random_gemm(config, rng, 2, 64, 3)
    gemm(config, a, w)                                   # the unchanged operands are fine
    bad_a, bad_w = change(a, w)
    with pytest.raises(ValueError, match=message):
        gemm(config, bad_a, bad_w)


def test_group_size_must_hold_whole_beats(rng):
    """Configs enforce it; a config changed behind the validation is still rejected."""
    a, w = random_gemm(BS, rng, 1, 64, 2)
    odd = replace(BS)
    object.__setattr__(odd, "group_size", 30)
    with pytest.raises(ValueError, match="group_size=30 must be a multiple of lanes=4"):
        gemm(odd, a[:, :60], QuantizedWeights(w.codes[:60], scales=w.scales))


# --- the vectorised alignment adder against its scalar definition ------------------------------

def _aligned_sum_definition(config, lanes):
    """FP32 bits of one term cycle's lane sum, lane by lane with Python integers: the active
    lanes (non-zero significand) aligned to their largest exponent with ``align_guard_bits``
    guard bits, truncated, summed exactly and rounded once."""
    exp_bits, man_bits = config.act_fields
    bias, guard = (1 << (exp_bits - 1)) - 1, config.align_guard_bits
    active = [(s, e, m) for s, e, m in lanes if m]
    if not active:
        return 0
    top = max(e for _, e, _ in active)
    total = sum((-1) ** s * ((m << guard) >> (top - e)) for s, e, m in active)
    with np.errstate(over="ignore"):
        return int(np.float32(float(total) * 2.0 ** (top - bias - man_bits - guard))
                   .view(np.uint32))


@pytest.mark.parametrize("act_format, guard", [("fp16", 0), ("fp16", 4), ("fp16", 12),
                                               ("bf16", 4)])
def test_alignment_adder_arrays_equal_the_definition(act_format, guard, rng):
    config = BitSerialConfig(act_format=act_format, align_guard_bits=guard, lanes=8,
                             weight_formats=("int8", "fp4_e2m1"), group_size=64)
    exp_bits, man_bits = config.act_fields
    shape = (6, 5, config.lanes)
    sign = rng.integers(0, 2, shape)
    exp = rng.integers(1, (1 << exp_bits) - 1, shape) + rng.integers(0, config.max_shift, shape)
    exp[rng.random(shape) < 0.5] = rng.integers(10, 14)         # close exponents: truncation
    sig = rng.integers(1 << man_bits, 1 << (man_bits + 1), shape)
    sig[rng.random(shape) < 0.2] = 0                                # inactive lanes
    sig[rng.random(shape) < 0.1] = rng.integers(1, 1 << man_bits)   # subnormal significands
    sig[0, 0] = 0                                                   # a cycle without any lane
    got = bitserial_fp_align_sum(config, sign, exp, sig)
    assert got.shape == shape[:-1] and got.dtype == np.uint32
    for idx in np.ndindex(*shape[:-1]):
        lanes = list(zip(sign[idx].tolist(), exp[idx].tolist(), sig[idx].tolist(), strict=True))
        assert int(got[idx]) == _aligned_sum_definition(config, lanes), idx


@pytest.mark.parametrize("name", sorted(DESIGNS_IN_RTL_OUT))
def test_generated_hierarchy_follows_config(name):
    """Integer PEs are one module; FP ones add the FP32 group accumulator's and the
    dequantizer's adders."""
    entry = DESIGNS_IN_RTL_OUT[name]
    config = config_from_dict(entry["config"])
    g = hierarchy_graph(entry)
    counts = generated_units(g, entry["units"], name)
    if config.is_fp:
        assert list(g.nodes) == [name, f"{name}.group_add", f"{name}.out_add"]
        assert counts == {"FPAdd": 2}
    else:
        assert list(g.nodes) == [name] and counts == {}
