"""LUT tensor core: table plan and contents, config checks, golden model, RTL (amaranth.sim),
timing facts, FP16 table modes and their error, cost model against Yosys; the whole GEMM
against the formats' definitions (exact integers, FP error bounds, per-column data types, bad
operands)."""

import re
from dataclasses import replace
from fractions import Fraction

import numpy as np
import pytest
from amaranth.back import rtlil
from amaranth.sim import Simulator

from mpgemm.costmodel import GemmWorkload, evaluate, generated_units, pe_cost
from mpgemm.costmodel.compare import equal_throughput
from mpgemm.hw.flow.generate import RTL_DIR, hierarchy_graph, load_manifest, write_rtl
from mpgemm.hw.flow.synth import synth_design
from mpgemm.pe_designs.lut import LutConfig
from mpgemm.pe_designs.lut.rtl import LutPrecompute
from mpgemm.pe_designs.mac import IntMacConfig
from mpgemm.pe_designs.presets import PRESETS
from mpgemm.pe_designs.registry import config_from_dict
from mpgemm.sim.amaranth_sim import simulate_trace
from mpgemm.sim.golden.contract import Beat, QuantizedWeights, gemm, run_contract, wrap_signed
from mpgemm.sim.golden.fp import f16_value, f32_value
from mpgemm.sim.golden.lut import (
    LUT_WEIGHT_FORMATS,
    LutWeight,
    build_table,
    correction,
    is_unsigned,
    lookup,
    lut_gemm,
    n_planes,
    run_lut,
    table_adders,
    weight_value,
)
from mpgemm.sim.golden.reference import error_stats, exact_mpgemm
from mpgemm.sim.scoreboard import check_cycles
from mpgemm.sim.stimulus import corner_beats, count_valid, random_beats, w_reset
from mpgemm.sim.stimulus.lut import FP16_EXTREMES, random_gemm

DESIGNS_IN_RTL_OUT = {n: e for n, e in load_manifest(RTL_DIR)["designs"].items()
                      if e["config"]["kind"] == LutConfig.kind}


ALL = LUT_WEIGHT_FORMATS


def _valid_codes(fmt):
    return [0, 1, 3] if fmt == "ternary" else list(range(1 << n_planes(fmt)))


# --- tables --------------------------------------------------------------------------------

@pytest.mark.parametrize("k", range(2, 7))
@pytest.mark.parametrize("symmetric", [True, False])
def test_table_entries_are_the_defined_partial_sums(k, symmetric, rng):
    config = LutConfig(table_k=k, symmetric=symmetric, group_size=32 * k)
    for _ in range(20):
        a = [int(x) for x in rng.integers(-128, 128, k)]
        table = build_table(config, a).entries
        assert len(table) == config.table_entries == (1 << (k - 1 if symmetric else k))
        for j in range(1 << k):
            bits = [(j >> i) & 1 for i in range(k)]
            # Symmetrized: bits read as -1/+1; plain: 0/1.
            want = sum((2 * b - 1 if symmetric else b) * x for b, x in zip(bits, a, strict=True))
            entry, neg = lookup(config, table, j)
            assert (-entry if neg else entry) == want
    # The adder counts the cost model charges for (the plan's own nodes).
    assert table_adders(k, symmetric) == ((1 << k) - 2 if symmetric else (1 << k) - k - 1)


@pytest.mark.parametrize("k", [2, 4, 6])
@pytest.mark.parametrize("symmetric", [True, False])
def test_rtl_precompute_builds_the_plans_adders(k, symmetric):
    """The generated precompute unit has exactly the plan's adders: what the cost model counts."""
    config = LutConfig(table_k=k, symmetric=symmetric, group_size=32 * k)
    text = rtlil.convert(LutPrecompute(config))
    adders = len(re.findall(r"cell \$(?:add|sub) ", text))
    assert adders == table_adders(k, symmetric) == config.table_adders


@pytest.mark.sim
@pytest.mark.parametrize("act_format, table_format", [("int8", "exact"), ("int16", "exact"),
                                                      ("fp16", "int8"), ("fp16", "fp16")])
@pytest.mark.parametrize("symmetric", [True, False])
def test_rtl_table_contents_are_bit_exact(act_format, table_format, symmetric, rng, seed):
    """LutPrecompute's registered tables equal sim.golden.lut.build_table, entry by entry."""

    config = LutConfig(act_format=act_format, table_format=table_format, symmetric=symmetric,
                       weight_formats=("int4",), group_size=32,
                       acc_bits=48 if act_format == "int16" else 32)
    dut = LutPrecompute(config)
    chunks = []
    for i in range(60):
        if act_format == "fp16":
            pool = list(FP16_EXTREMES) if i % 3 == 0 else None
            chunk = [int(rng.choice(pool)) if pool else
                     int(np.float16(rng.uniform(-4, 4) * 2.0 ** int(rng.integers(-14, 15)))
                         .view(np.uint16)) for _ in range(config.table_k)]
        else:
            lo = -(1 << (config.act_bits - 1))
            chunk = [int(x) for x in rng.choice([lo, -lo - 1, 0, -1], config.table_k)] \
                if i % 3 == 0 else [int(x) for x in rng.integers(lo, -lo, config.table_k)]
        chunks.append(chunk)
    seen = []

    async def bench(ctx):
        for chunk in chunks:
            for i, x in enumerate(chunk):
                ctx.set(dut.a[i], x)
            ctx.set(dut.load, 1)
            await ctx.tick()
            raw = [ctx.get(dut.table[j]) for j in range(config.table_entries)]
            exp = ctx.get(dut.exp) if table_format == "int8" else 0
            seen.append((raw, exp))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    for chunk, (raw, exp) in zip(chunks, seen, strict=True):
        want = build_table(config, chunk)
        assert (tuple(raw), exp) == (want.entries, want.exp), (seed, chunk)


def test_int8_tables_round_to_nearest_even_and_clamp():
    config = LutConfig(act_format="fp16", table_format="int8", weight_formats=("uint4",),
                       group_size=32)
    assert config.table_shift == 6            # 4 x 11-bit significands in 13 bits -> 7 + sign
    one = 0x3C00                              # 1.0: significand 1024 on its own grid
    t = build_table(config, [one, one, one, one])
    assert t.exp == 15
    # All +1: 4096 / 64 = 64; one -1: 2048 / 64 = 32; ties: 1024 + 32 = 1056 -> 16.5 -> 16.
    assert t.entries[-1] == 64 and t.entries[-2] == 32
    t = build_table(config, [0x3C20, 0, 0, 0])   # 1056 / 64 = 16.5: ties to even
    assert {abs(e) for e in t.entries} == {16}
    t = build_table(config, [0x7BFF] * 4)        # 4 x 2047 / 64 = 127.9: clamped to 127
    assert t.entries[-1] == 127 and min(t.entries) >= -127
    with pytest.raises(ValueError, match="is inf or NaN: INT8 tables hold finite values"):
        build_table(config, [0x7C00, 0, 0, 0])


# --- golden model against the exact product -------------------------------------------------

def _group_beats(config, a_rows, codes, scale, zero, dtype):
    """A whole GEMM row block: K/table_k beats, each padded with its plane cycles."""
    beats = []
    k = len(codes)
    n_beats = k // config.table_k
    per_group = config.beats_per_group
    for j in range(n_beats):
        sl = slice(j * config.table_k, (j + 1) * config.table_k)
        g = j // per_group
        w = LutWeight(codes=tuple(tuple(int(x) for x in codes[sl, n])
                                  for n in range(config.cols)),
                      scale=tuple(int(s) for s in scale[g]), zero=tuple(int(z) for z in zero[g]),
                      dtype=dtype)
        end = j % per_group == per_group - 1
        beats.append(Beat(a=tuple(tuple(int(x) for x in row[sl]) for row in a_rows), w=w,
                          psum=(0,) * (config.rows * config.cols), valid=True, load_w=True,
                          first=j == 0, last=j == n_beats - 1, group_end=end))
        beats += [Beat(a=beats[-1].a, w=w)] * (config.timing(dtype).cycles - 1 + config.dq_cycles)
    return beats


@pytest.mark.parametrize("symmetric", [True, False])
@pytest.mark.parametrize("act_format", ["int8", "int16"])
def test_golden_equals_exact_product_for_every_format(symmetric, act_format, rng):
    config = LutConfig(weight_formats=ALL, act_format=act_format, symmetric=symmetric,
                       rows=2, cols=3, group_size=64, scale_bits=4, acc_bits=64)
    k = 192
    lo = -(1 << (config.act_bits - 1))
    for dtype, fmt in enumerate(ALL):
        top = (1 << n_planes(fmt)) - 1 if is_unsigned(fmt) else 0
        a = rng.integers(lo, -lo, (config.rows, k))
        a[0, :8] = lo                                   # the most negative activations
        codes = rng.choice(_valid_codes(fmt), (k, config.cols))
        scale = rng.integers(0, 16, (k // 64, config.cols))
        zero = rng.choice([0, top, top // 2], (k // 64, config.cols))
        out = run_contract(config, _group_beats(config, a, codes, scale, zero, dtype),
                           w_reset=w_reset(config))
        assert len(out) == 1
        want = lut_gemm(a.tolist(), codes.tolist(), fmt, scale.tolist(), zero.tolist(), 64)
        assert list(out[0][1]) == [x for row in want for x in row], fmt


def test_correction_constants_reconstruct_every_weight():
    """(acc << p) + c * sum a, halved h times, is sum a * w for each single weight value."""
    for symmetric in (True, False):
        for fmt in ALL:
            bits = n_planes(fmt)
            twos_complement = fmt.startswith("int") or fmt == "ternary"
            top = (1 << bits) - 1 if is_unsigned(fmt) else 0
            for code in _valid_codes(fmt):
                for zero in {0, top, top // 2}:
                    # One activation a = 1: plane b reads T = +-1 (symmetrized) or 0/1, and the
                    # top plane of a two's complement code weighs -2^b.
                    acc = 0
                    for b in range(bits):
                        bit = (code >> b) & 1
                        t = 2 * bit - 1 if symmetric else bit
                        acc += (-1 if twos_complement and b == bits - 1 else 1) * (t << b)
                    p, c, h = correction(fmt, zero, symmetric)
                    assert ((acc << p) + c) >> h == weight_value(fmt, code, zero), (fmt, code)


# --- RTL (amaranth.sim) against the golden model ------------------------------------------

#: Data types at the ends of the range (one and eight bits, both signednesses, an odd width)
#: and the two special ones. Each amaranth.sim variant below runs the corner groups of every
#: data type it has (1,100 to 2,000 beats each); all 17 of them run in int8_sym here, in
#: make test's cocotb runs of lut_all_a8, lut_all_a16 and their nosym twins, and in make sim on
#: every lut_all_* preset, so the variants that add an organisation rather than a data type
#: take these.
ENDS = ("uint1", "uint5", "uint8", "int2", "int7", "int8", "ternary", "binary")
VARIANTS = {
    "int8_sym": LutConfig(rows=2, cols=2, weight_formats=ALL, group_size=128, acc_bits=40),
    "int8_plain": LutConfig(rows=1, cols=3, weight_formats=ENDS, group_size=128, acc_bits=40,
                            symmetric=False),
    "int16_signed_scale": LutConfig(rows=1, cols=2, weight_formats=ENDS, group_size=128,
                                    act_format="int16", scale_signed=True, acc_bits=48),
    "k3_int4_binary": LutConfig(rows=2, cols=2, table_k=3, weight_formats=("int4", "binary"),
                                group_size=30),
    "k5_plain": LutConfig(rows=1, cols=2, table_k=5, symmetric=False,
                          weight_formats=("uint2", "int3", "ternary"), group_size=80),
    "k2_w8": LutConfig(rows=1, cols=2, table_k=2, weight_formats=("uint8",), group_size=64,
                       acc_bits=40),
    # Groups of 72 (its dequantizer needs at least 68): the preset lut_all_fp16 (cocotb in
    # make sim) has this organisation with groups of 128, whose corner groups cost amaranth.sim
    # twice the time.
    "fp16_int8_sym": LutConfig(rows=2, cols=2, weight_formats=ENDS, group_size=72,
                               act_format="fp16", table_format="int8"),
    "fp16_int8_plain": LutConfig(rows=1, cols=2, weight_formats=ENDS, group_size=128,
                                 act_format="fp16", table_format="int8", symmetric=False,
                                 scale_signed=True),
}
#: FP16 tables put FP32 adders in every PE: slow in amaranth.sim, so fewer vectors.
FP16_TABLE_VARIANTS = {
    # Groups of 64 (the preset lut_w2_fp16_fp16tab has symmetrized FP16 tables and 128).
    "fp16_fp16_sym": LutConfig(rows=1, cols=2, weight_formats=("uint1", "uint4", "int8",
                                                               "ternary", "binary"),
                               group_size=64, act_format="fp16", table_format="fp16",
                               scale_signed=True),
    "fp16_fp16_plain": LutConfig(rows=1, cols=2, weight_formats=("uint2", "int3", "binary"),
                                 group_size=64, act_format="fp16", table_format="fp16",
                                 symmetric=False),
}


def _rtl_matches_golden(config, rng, seed, n_vectors):
    beats = corner_beats(config) + random_beats(config, rng, n_vectors)
    expected = run_contract(config, beats, w_reset=w_reset(config))
    driven, observed = simulate_trace(config, beats)
    errors = check_cycles(config, driven, observed, expected, beats=beats)
    assert not errors, f"seed={seed}: {errors}"
    assert sum(o["o_valid"] for o in observed) == len(expected) > 0
    return expected


@pytest.mark.sim
@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_lut_rtl_matches_golden(name, rng, seed, n_vectors):
    _rtl_matches_golden(VARIANTS[name], rng, seed, min(n_vectors, 400))


@pytest.mark.sim
@pytest.mark.parametrize("name", sorted(FP16_TABLE_VARIANTS))
def test_lut_fp16_table_rtl_matches_golden(name, rng, seed, n_vectors):
    _rtl_matches_golden(FP16_TABLE_VARIANTS[name], rng, seed, min(n_vectors, 100))


@pytest.mark.parametrize("config", [VARIANTS["int8_sym"], VARIANTS["fp16_int8_sym"],
                                    FP16_TABLE_VARIANTS["fp16_fp16_sym"]],
                         ids=["int8_sym", "fp16_int8_sym", "fp16_fp16_sym"])
def test_results_are_not_trivially_zero_or_nan(config, rng):
    # FP16 tables overflow to infinity on large chunks: the stimulus keeps that rare, or
    # outputs would be NaN on both sides and compare equal whatever the RTL does. Outputs of
    # one extreme group are non-finite together, so the finite share varies: with groups of
    # 128 (~64 outputs) it averaged 0.93 (sd ~0.04) over 40 seeds with FP16 tables, and one CI
    # seed gave 0.78; with this variant's groups of 64 (148 outputs), 0.965 (sd 0.019, least
    # 0.92) over 20 seeds. 0.7 keeps the check (most outputs finite) without failing on a
    # seed.
    out = run_contract(config, random_beats(config, rng, 2000), w_reset=w_reset(config))
    values = [v for _, cell in out for v in cell]
    if config.is_fp:
        f = f32_value(np.array(values, np.uint32))
        assert np.isfinite(f).mean() > 0.7 and np.count_nonzero(f) > 0.8 * len(f)
    else:
        assert len(set(values)) > 0.9 * len(values)


# --- timing facts ---------------------------------------------------------------------------

def test_config_timing_facts():
    c = LutConfig(weight_formats=("binary", "uint2", "uint4", "int8"), cols=64, group_size=128,
                  acc_bits=40)
    assert {f: c.timing(f).cycles for f in c.weight_formats} == {
        "binary": 1, "uint2": 2, "uint4": 4, "int8": 8}
    assert c.timing("uint4").cycles == 4
    assert c.precompute_cycles == 1
    assert c.table_reuse("uint2") == 64 * 2
    # Correction bits: 2^B - 1 - 2z spans B + 1 bits for unsigned weights.
    assert c.corr_bits == 5 and c.dq_cycles == 5 + c.scale_bits
    assert c.timing("uint2").latency == 2 + c.dq_cycles + 1
    assert c.macs_per_beat == 2 * 64 * 4
    assert LutConfig(weight_formats=("int4",)).corr_bits == 1       # c = -1
    assert LutConfig(weight_formats=("binary",)).corr_bits == 0     # nothing to correct
    assert LutConfig(weight_formats=("int4",), symmetric=False).corr_bits == 0
    assert LutConfig().table_entries == 8 and LutConfig(symmetric=False).table_entries == 16


@pytest.mark.sim
@pytest.mark.parametrize("fmt", ["binary", "uint3", "int8"])
def test_measured_cycles_equal_the_config(fmt, rng):
    """Back-to-back beats of one group: one beat every B cycles, the result latency_for(fmt)
    after the last beat; the RTL's o_valid lands there."""
    c = LutConfig(weight_formats=(fmt,), rows=1, cols=2, group_size=64, acc_bits=40)
    b = c.timing(fmt).cycles
    codes = rng.choice(_valid_codes(fmt), (64, 2))
    a = rng.integers(-128, 128, (1, 64))
    beats = _group_beats(c, a, codes, np.ones((1, 2), int), np.zeros((1, 2), int), 0)
    # Drop the padding after each beat beyond its plane cycles: true back-to-back issue.
    dense = []
    for beat in beats:
        if beat.valid:
            dense.append(beat)
            dense += [Beat(a=beat.a, w=beat.w)] * (b - 1)
    driven, observed = simulate_trace(c, dense, drain=c.timing().latency + 2)
    accepted = [t for t, beat in enumerate(dense) if beat.valid]
    assert accepted == [j * b for j in range(c.beats_per_group)]
    assert all(observed[t]["o_ready"] for t in accepted)
    valid_at = [t for t, o in enumerate(observed) if o["o_valid"]]
    assert valid_at == [accepted[-1] + c.timing(fmt).latency]
    assert not check_cycles(c, driven, observed, run_contract(c, dense, w_reset=w_reset(c)),
                            beats=dense)


@pytest.mark.sim
def test_short_group_stalls_until_the_dequantizer_is_free():
    c = LutConfig(weight_formats=("binary",), rows=1, cols=2, group_size=32)
    w = LutWeight(codes=((1, 0, 1, 1), (0, 0, 1, 0)), scale=(3, 200), zero=(0, 0))
    beats = [Beat(a=((1, -2, 3, -4),), w=w, psum=(5, -7), valid=True, load_w=True,
                  first=j == 0, last=j == 7, group_end=j == 7) for j in range(8)]
    beats.append(Beat(a=((9, 9, 9, -9),), w=w, psum=(0, 0), valid=True, load_w=True, first=True,
                      last=True, group_end=True))
    beats += [Beat(a=((0,) * 4,), w=w_reset(c))] * 12
    low: list[int] = []
    expected = run_lut(c, beats, w_reset=w_reset(c), not_ready=low)
    assert len(expected) == 2 and low, "the second group must stall"
    assert expected[1][0] - expected[0][0] == c.dq_cycles
    driven, observed = simulate_trace(c, beats, drain=c.timing().latency + 4)
    assert not check_cycles(c, driven, observed, expected, beats=beats)


@pytest.mark.sim
@pytest.mark.parametrize("act_format", ["int8", "fp16"])
def test_maximum_group_size_extremes_and_zeros(act_format):
    """A 4096-weight group of the largest products, then an all-zero group, in RTL."""
    c = LutConfig(weight_formats=("uint8",), rows=1, cols=1, group_size=4096, acc_bits=40,
                  act_format=act_format, table_format="int8" if act_format == "fp16" else "exact")
    amin = 0xFBFF if act_format == "fp16" else -128
    beats = []
    for a, code, scale in [(amin, 255, 255), (0, 0, 0)]:
        w = LutWeight(codes=((code,) * 4,), scale=(scale,), zero=(0,))
        for j in range(c.beats_per_group):
            last = j == c.beats_per_group - 1
            beats.append(Beat(a=((a,) * 4,), w=w, psum=(0,), valid=True, load_w=True,
                              first=j == 0, last=last, group_end=last))
            beats += [Beat(a=((0,) * 4,), w=w_reset(c))] * (c.timing(0).cycles - 1)
    expected = run_contract(c, beats, w_reset=w_reset(c))
    if act_format == "int8":
        assert [v for _, v in expected] == [(4096 * -128 * 255 * 255,), (0,)]
    else:
        value = float(f32_value(np.uint32(expected[0][1][0])))
        assert value == pytest.approx(4096 * -65504.0 * 255 * 255, rel=1e-2)
    driven, observed = simulate_trace(c, beats, drain=c.timing().latency + 2)
    assert not check_cycles(c, driven, observed, expected, beats=beats)


# --- FP16 activations: error against the exact reference -----------------------------------

def _fp16_gemv_error(config, rng, n_out=16, k=256):
    """Norm-wise relative error of the tile's FP16 GEMV against the exact rational product."""
    fmt = config.weight_formats[0]
    a = (rng.standard_normal((1, k)) * 2.0).astype(np.float16)
    codes = rng.integers(0, 1 << n_planes(fmt), (k, n_out))
    zero = rng.integers(0, 1 << n_planes(fmt), (k // config.group_size, n_out))
    scale = rng.integers(1, 256, (k // config.group_size, n_out))
    errs, norm = 0.0, 0.0
    for n0 in range(0, n_out, config.cols):
        cols = slice(n0, n0 + config.cols)
        beats = _group_beats(config, a.view(np.uint16), codes[:, cols], scale[:, cols],
                             zero[:, cols], 0)
        out = run_contract(config, beats, w_reset=w_reset(config))[0][1]
        for i, n in enumerate(range(n0, n0 + config.cols)):
            exact = sum(Fraction(float(a[0, kk])) * weight_value(fmt, codes[kk, n],
                                                                  zero[kk // config.group_size, n])
                        * int(scale[kk // config.group_size, n]) for kk in range(k))
            got = float(f32_value(np.uint32(out[i])))
            errs += (got - float(exact)) ** 2
            norm += float(exact) ** 2
    return (errs / norm) ** 0.5


def test_fp16_table_modes_error_against_exact(rng):
    base = LutConfig(weight_formats=("uint4",), rows=1, cols=4, group_size=128,
                     act_format="fp16", table_format="int8")
    int8 = _fp16_gemv_error(base, rng)
    fp16 = _fp16_gemv_error(replace(base, table_format="fp16"), rng)
    print(f"FP16 x uint4 GEMV (K=256), relative error: INT8 tables {int8:.2e}, "
          f"FP16 tables {fp16:.2e}")
    # INT8 entries keep at most 7 bits of a chunk's sum (seeds 1-6 measured 0.8-1.6 % on this
    # GEMV, whose zero points make outputs cancel); FP16 entries 11 bits (0.02-0.07 %).
    assert 0 < int8 < 3e-2
    assert 0 <= fp16 < int8 / 4


# --- config and operand checks --------------------------------------------------------------

@pytest.mark.parametrize("kwargs, exc, message", [
    ({"weight_formats": ()}, TypeError, "weight_formats must be a non-empty tuple"),
    ({"weight_formats": ("fp4_e2m1",)}, ValueError, "weight_formats entry must be one of "),
    ({"weight_formats": ("int4", "int4")}, ValueError, "weight_formats has duplicates"),
    ({"act_format": "bf16"}, ValueError,
     "act_format must be one of 'int8', 'int16', 'fp16', not 'bf16'"),
    ({"act_format": "fp16"}, ValueError,
     "table_format must be one of 'int8', 'fp16' for act_format='fp16', not 'exact'"),
    ({"table_format": "int8"}, ValueError,
     "table_format must be one of 'exact' for act_format='int8', not 'int8'"),
    ({"rows": 0}, ValueError, "rows must be in [1, 8], not 0"),
    ({"cols": 65}, ValueError, "cols must be in [1, 64], not 65"),
    ({"table_k": 7}, ValueError, "table_k must be in [2, 6], not 7"),
    ({"symmetric": 1}, TypeError, "symmetric must be a bool, not 1"),
    ({"group_size": 130}, ValueError, "group_size=130 must be a multiple of table_k=4"),
    ({"weight_formats": ("uint1",), "group_size": 16}, ValueError,
     "group_size=16 is too small: 4 chunk(s) of 1 plane cycle(s) last 4 cycles, fewer than "
     "the 10 cycles of group dequantization; use group_size >= 40"),
    ({"acc_bits": 24}, ValueError, "acc_bits=24 is too narrow: k_max=4096 products"),
    ({"scale_signed": True, "scale_bits": 1}, ValueError,
     "scale_bits must be >= 2 for a signed scale, not 1"),
])
def test_config_errors(kwargs, exc, message):
    with pytest.raises(exc, match=re.escape(message)):
        LutConfig(**kwargs)


@pytest.mark.parametrize("change, message", [
    ({"scale": (300, 1)}, "scales (300, 1) must be cols=2 codes of scale_bits=8"),
    ({"dtype": 2}, "dtype=2 must index weight_formats (0..1)"),
    ({"zero": (16, 0)}, "zero points (16, 0) must be cols=2 values in [0, 15] for uint4"),
    ({"codes": ((1, 2, 3, 4),)}, "weight codes must be cols=2 x table_k=4"),
    ({"codes": ((1, 2, 3, 16), (0, 0, 0, 0))}, "code 16 is not a uint4 code"),
])
def test_golden_rejects_bad_weight_operands(change, message):
    c = LutConfig(weight_formats=("uint4", "int4"), rows=1, cols=2, group_size=64)
    w = replace(LutWeight(codes=((1, 2, 3, 4), (0, 0, 0, 0)), scale=(1, 1), zero=(0, 0)),
                **change)
    beats = [Beat(a=((1,) * 4,), w=w, psum=(0, 0), valid=True, load_w=True, first=True)]
    with pytest.raises(ValueError, match=re.escape(message)):
        run_contract(c, beats, w_reset=w_reset(c))


def test_golden_rejects_tile_specific_violations():
    # The contract's generic group rules are checked for every family in test_families.py.
    c = LutConfig(weight_formats=("uint4", "int4"), rows=1, cols=2, group_size=64)
    w0 = LutWeight(codes=((1, 2, 3, 4),) * 2, scale=(1, 1), zero=(2, 0))
    w1 = replace(w0, zero=(3, 0))
    gap = [Beat(a=((0,) * 4,), w=w0)] * 4
    with pytest.raises(ValueError, match="changes the data type or zero points inside a group"):
        run_contract(c, [Beat(a=((1,) * 4,), w=w0, valid=True, load_w=True), *gap,
                         Beat(a=((1,) * 4,), w=w1, valid=True, load_w=True)], w_reset=w_reset(c))
    with pytest.raises(ValueError, match=re.escape("psum must be rows*cols=2 values")):
        run_contract(c, [Beat(a=((1,) * 4,), w=w0, psum=0, valid=True, load_w=True,
                              first=True)], w_reset=w_reset(c))
    with pytest.raises(ValueError, match="arrives while the tile is busy"):
        run_contract(c, [Beat(a=((1,) * 4,), w=w0, valid=True, load_w=True),
                         Beat(a=((1,) * 4,), w=w0, valid=True, load_w=True)], w_reset=w_reset(c))


def test_stimulus_is_schedulable_and_covers_every_format(rng):
    # The shortest group the dequantizer allows (68: 17 chunks for its 17 cycles) leaves the
    # stimulus the least slack between groups.
    c = replace(VARIANTS["int8_plain"], weight_formats=ALL, group_size=68)
    beats = corner_beats(c) + random_beats(c, rng, 300)
    assert count_valid(beats) >= 300
    used = {b.w.dtype for b in beats if b.valid and b.load_w}
    assert used == set(range(len(ALL)))
    run_contract(c, beats, w_reset=w_reset(c))     # raises if a beat comes too early


# --- cost model -----------------------------------------------------------------------------

def test_cost_model_counts_symmetrization_savings():
    sym, plain = LutConfig(), LutConfig(symmetric=False)
    s, p = pe_cost(sym).breakdown, pe_cost(plain).breakdown
    assert s["table_registers"].area_um2 * 2 == pytest.approx(p["table_registers"].area_um2)
    assert s["mux_pes"].area_um2 < p["mux_pes"].area_um2
    assert pe_cost(sym).area_um2 < pe_cost(plain).area_um2


def test_cost_model_uses_the_workloads_precision():
    c = LutConfig(weight_formats=("uint2", "uint4"))
    reports = {f: evaluate(c, GemmWorkload(2, 8, 256, act_format="int8", weight_format=f,
                                           group_size=128)) for f in ("uint2", "uint4")}
    beats = (2 // c.rows) * (8 // c.cols) * (256 // c.table_k)
    for f, r in reports.items():
        assert r.latency_cycles == beats * c.timing(f).cycles + c.timing(f).latency
    assert reports["uint2"].compute_energy_pj < reports["uint4"].compute_energy_pj
    # A tile computes rows x cols outputs per beat; M = 1 pads the second row.
    gemv = evaluate(c, GemmWorkload(1, 8, 256, act_format="int8", weight_format="uint2",
                                    group_size=128))
    assert gemv.latency_cycles == reports["uint2"].latency_cycles
    assert gemv.compute_energy_pj == reports["uint2"].compute_energy_pj
    with pytest.raises(ValueError, match="is not one of the lut config's weight_formats"):
        evaluate(c, GemmWorkload(2, 8, 256, act_format="int8", weight_format="int8",
                                 group_size=128))


@pytest.mark.synth
def test_area_trends_match_yosys(tmp_path):
    """Cost model and Yosys agree on the order: more weight bits cost more area, and
    symmetrization saves table flip-flops and area (same tile, M2 x N4 x K4).

    Yosys measures a small saving from symmetrization (its negate on every look-up costs
    nearly what the halved read mux saves): it shows in the flip-flops and the transistor
    estimate, while the generic cell counts are within a fraction of a percent."""

    designs = {"lut_w1": LutConfig(weight_formats=("binary",)),
               "lut_w4": LutConfig(),
               "lut_w4_plain": LutConfig(symmetric=False)}
    write_rtl(tmp_path / "rtl", designs)
    cells, flops, transistors, areas = {}, {}, {}, {}
    for name, config in designs.items():
        report = synth_design(tmp_path / "rtl" / f"{name}.v", name, tmp_path / "synth",
                              fpga=False)["generic"]
        cells[name], flops[name] = report["cells"], report["flip_flops"]
        transistors[name] = report["transistors"]
        areas[name] = pe_cost(config).area_um2
    print("Yosys generic cells", cells, "flip-flops", flops, "transistors", transistors,
          "cost-model area um2", {k: round(v) for k, v in areas.items()})
    for metric in (cells, transistors, areas):
        assert metric["lut_w1"] < metric["lut_w4"]
    for metric in (flops, transistors, areas):
        assert metric["lut_w4"] < metric["lut_w4_plain"]


def test_equal_throughput_scales_every_design_to_the_target():

    designs = {"lut": LutConfig(weight_formats=("uint2", "uint4")),
               "mac": IntMacConfig(weight_bits=4, lanes=4, acc_bits=32, k_max=4096)}
    rows = equal_throughput(designs, "int8", ["uint2", "uint4"], target_macs_per_cycle=64)
    by = {(r.design, r.weight_format): r for r in rows}
    assert set(by) == {("lut", "uint2"), ("lut", "uint4"), ("mac", "uint2")}
    for r in rows:
        assert r.pes * r.macs_per_cycle == pytest.approx(64)
        assert r.area_um2 == pytest.approx(r.pes * pe_cost(designs[r.design]).area_um2)
    # The tile's throughput halves from 2-bit to 4-bit weights; the MAC's does not depend on it.
    assert by["lut", "uint2"].macs_per_cycle == 2 * by["lut", "uint4"].macs_per_cycle == 16
    with pytest.raises(ValueError,
                       match=r"target_macs_per_cycle must be a finite number in \(0, 1e\+15\]"):
        equal_throughput(designs, "int8", ["uint2"], target_macs_per_cycle=0)


# --- the whole GEMM (gemm) against the weights' definitions ----------------------------------
# The generic checks of gemm (the contract replay, tiling, shapes) are in test_golden_gemm.py.

#: The default tile and presets covering every format with and without symmetrization,
#: binary weights, INT8 and FP16 tables.
GEMM_CONFIGS = {"lut-default": LutConfig(),
                **{name: PRESETS[name] for name in (
                    "lut_all_a8", "lut_all_a16_nosym", "lut_w1_a8", "lut_w2_fp16", "lut_all_fp16",
                    "lut_w2_fp16_fp16tab", "lut_all_fp16_fp16tab_nosym")}}


def _scale_value(config, code):
    return wrap_signed(int(code), config.scale_bits) if config.scale_signed else int(code)


def exact_int_gemm(config, a, w):
    """The exact ``Y`` from the weight formats' definitions (Python ints, no wrap-around)."""
    g = config.group_size
    k, n = w.shape
    y = np.zeros((a.shape[0], n), object)
    for gi in range(k // g):
        ks = slice(gi * g, (gi + 1) * g)
        for j in range(n):
            fmt = config.weight_formats[w.group_value("dtypes", gi * g, j)]
            zero = w.group_value("zeros", gi * g, j)
            col = np.array([weight_value(fmt, int(c), zero) for c in w.codes[ks, j]], object)
            y[:, j] += _scale_value(config, w.scales[gi, j]) * (a[:, ks].astype(object) @ col)
    return y


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
    if len(config.weight_formats) == 1 and not config.scale_signed:
        # The family's own exact reference agrees (one format, unsigned scales).
        ref = lut_gemm(a.tolist(), w.codes.tolist(), config.weight_formats[0],
                       w.scales.tolist(), w.zeros.tolist(), config.group_size)
        assert np.array_equal(np.array(ref, dtype=object), want)


def test_integer_gemm_wraps_at_acc_bits(rng):
    """K beyond k_max overflows the accumulator: the output is the exact product wrapped to
    acc_bits two's complement, as the register holds it (and as the replay has it)."""
    config = LutConfig(weight_formats=("int8", "uint4"), group_size=64, scale_signed=True,
                       k_max=64, acc_bits=LutConfig(weight_formats=("int8", "uint4"),
                                                    group_size=64, scale_signed=True,
                                                    k_max=64).required_acc_bits)
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
    beats = config.golden.gemm_beats(config, a[:config.rows], w, [0] * config.cols)
    [(_, tile)] = run_contract(config, beats)
    assert tile[0] == int(y[0, 0])


@pytest.mark.parametrize("name", ["lut_all_a8", "lut_all_fp16", "lut_all_fp16_fp16tab_nosym"])
def test_columns_of_one_tile_may_differ_in_data_type(name, rng):
    """QuantizedWeights give every column its own data type per group; the tile takes one per
    beat, so such columns are computed in separate passes, and an output does not depend on
    its neighbours: each column equals a tile pass whose columns all are that column."""
    config = PRESETS[name]
    m, k, n = config.rows, 2 * config.group_size, 3
    a, w = random_gemm(config, rng, m, k, n, per_column_dtypes=True)
    y = gemm(config, a, w)
    for nj in range(n):
        [(_, tile)] = run_contract(config, config.golden.gemm_beats(config, a, w,
                                                                    [nj] * config.cols))
        for i in range(m):
            assert {tile[i * config.cols + j] for j in range(config.cols)} == {int(y[i, nj])}


def test_a_tile_pass_takes_one_data_type_per_group(rng):
    """``gemm_beats`` refuses columns whose groups differ in data type (the beat has one)."""
    config = PRESETS["lut_all_a8"]
    a, w = random_gemm(config, rng, config.rows, 2 * config.group_size, 2)
    dtypes = w.dtypes.copy()
    dtypes[1] = [0, 1]
    mixed = QuantizedWeights(w.codes, scales=w.scales, zeros=w.zeros, dtypes=dtypes)
    with pytest.raises(ValueError, match=rf"columns \[0, 1\] have data types \[0, 1\] in the "
                                         rf"group of row {config.group_size}: a tile pass"):
        config.golden.gemm_beats(config, a, mixed, [0, 1])
    config.golden.gemm_beats(config, a, mixed, [1, 1])        # one column, one data type


#: name -> largest norm-wise relative error allowed (max |Y - exact| / max |exact|) on one
#: random GEMM of M=4, K=1024, N=8, A ~ N(0, 1) * 2^[-4, 4] (FP16): about 4x the largest value
#: measured over seeds 0-39 (the comments give that largest value and the median).
FP_ERROR_BOUNDS = {
    # INT8 tables (activations aligned to the chunk's largest exponent, each entry rounded to 7
    # bits + sign; the paper's table quantization): measured 2.2e-2 (uint2, median 1.3e-2)
    # and 3.8e-2 (every format, signed scales, median 1.1e-2).
    "lut_w2_fp16": 0.15,
    "lut_all_fp16": 0.15,
    # FP16 tables (FP16 additions build the entries, FP32 accumulation): measured 6.2e-4
    # (uint2, median 3.3e-4) and 8.7e-4 (every format, plain tables, median 3.9e-4).
    "lut_w2_fp16_fp16tab": 3e-3,
    "lut_all_fp16_fp16tab_nosym": 3e-3,
}


def test_every_fp_design_has_an_error_bound():
    fp = {name for name, c in GEMM_CONFIGS.items() if c.is_fp}
    assert fp <= set(FP_ERROR_BOUNDS)


def dequantized(config, w):
    """``W`` as the exact values the tile multiplies by (float64, exact)."""
    k, n = w.shape
    out = np.zeros((k, n))
    for kk, j in np.ndindex(k, n):
        fmt = config.weight_formats[w.group_value("dtypes", kk, j)]
        out[kk, j] = (_scale_value(config, w.group_value("scales", kk, j))
                      * weight_value(fmt, int(w.codes[kk, j]), w.group_value("zeros", kk, j)))
    return out


@pytest.mark.parametrize("name", list(FP_ERROR_BOUNDS))
def test_fp_gemm_error_against_exact(name, rng):
    config = PRESETS[name]
    # Non-zero scales keep the exact result away from cancelling to nothing.
    a, w = random_gemm(config, rng, 4, 1024, 8, nonzero_scales=True)
    y = gemm(config, a, w)
    assert y.dtype == np.uint32
    stats = error_stats(f32_value(y).astype(np.float64),
                        exact_mpgemm(f16_value(a).astype(np.float64), dequantized(config, w)))
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


LT = LutConfig(weight_formats=("int4", "uint4", "ternary"), group_size=32, acc_bits=40)
LT_FP = replace(LT, act_format="fp16", table_format="int8")

#: (config, change, message): ``change(a, w)`` returns the malformed ``(a, w)``.
BAD_OPERANDS = [
    (LT, lambda a, w: (a[:, :48], _qw(w, codes=w.codes[:48], scales=w.scales[:1],
                                      zeros=w.zeros[:1], dtypes=w.dtypes[:1])),
     "K a positive multiple of group_size=32"),
    (LT, lambda a, w: (a, _qw(w, scales=None)), "needs scales"),
    (LT, lambda a, w: (a, _qw(w, specials=np.ones_like(w.dtypes))), "has no special values"),
    (LT, lambda a, w: (a, _qw(w, dtypes=np.zeros_like(w.dtypes),
                              zeros=_set(np.zeros_like(w.zeros), (0, 1), 3))),
     "zeros must be 0 for int4 groups"),
    (LT, lambda a, w: (a, _qw(w, dtypes=np.ones_like(w.dtypes),
                              zeros=_set(np.zeros_like(w.zeros), (0, 1), 16))),
     r"zeros must be in \[0, 15\] for uint4 groups; got 16"),
    (LT, lambda a, w: (a, _qw(w, dtypes=np.full_like(w.dtypes, 2), zeros=None,
                              codes=_set(np.zeros_like(w.codes), (33, 1), 2))),
     r"codes\[33, 1\] = 2 is not a code of ternary"),
    (LT, lambda a, w: (a, _qw(w, dtypes=_set(w.dtypes, (0, 0), -1))),
     "dtypes must index weight_formats"),
    (LT, lambda a, w: (a, _qw(w, scales=_set(w.scales, (1, 2), -1))),
     r"scales must be scale_bits=8 codes"),
    (LT, lambda a, w: (_set(a, (0, 0), -129), w), r"activations must be int8 values"),
    (LT_FP, lambda a, w: (_set(a, (1, 3), 0x7E00), w), "INT8 tables hold finite values only"),
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
    a, w = random_gemm(LT, rng, 1, 64, 2)
    odd = replace(LT)
    object.__setattr__(odd, "group_size", 30)
    with pytest.raises(ValueError, match="group_size=30 must be a multiple of table_k=4"):
        gemm(odd, a[:, :60], QuantizedWeights(w.codes[:60], scales=w.scales))


@pytest.mark.parametrize("name", sorted(DESIGNS_IN_RTL_OUT))
def test_generated_hierarchy_follows_config(name):
    """A precompute unit per row; FP16 tables: the plan's FP16 adders and an FP32 activation-sum
    adder per row, FP32 plane and dequantization adders per PE; INT8 tables: the dequantization
    adder per PE; exact tables none."""
    entry = DESIGNS_IN_RTL_OUT[name]
    config = config_from_dict(entry["config"])
    g = hierarchy_graph(entry)
    mods = list(g.nodes)
    pre = [m for m in mods if m.rsplit(".", 1)[-1].startswith("precompute")]
    assert len(pre) == config.rows
    fp_adds = [m for m in mods if m.rsplit(".", 1)[-1].startswith(
        ("node", "plane_add", "dq_add", "act_add"))]
    pes = config.rows * config.cols
    want = {"exact": 0, "int8": pes, "fp16": config.rows * (config.table_adders + 1) + 2 * pes}
    assert len(fp_adds) == want[config.table_format]
    counts = generated_units(g, entry["units"], name)
    assert counts == ({"FPAdd": want[config.table_format]} if want[config.table_format] else {})
