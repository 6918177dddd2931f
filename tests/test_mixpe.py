"""MixPE shift-and-add PE: golden model, RTL in amaranth.sim, timing facts, errors, cost model,
and the whole GEMM against the exact product.

The cocotb runs of the preset designs (Icarus and Verilator) are in tests/test_cocotb.py.
"""

from fractions import Fraction

import numpy as np
import pytest

from mpgemm.costmodel import GemmWorkload, evaluate, generated_units, pe_cost
from mpgemm.costmodel.compare import equal_throughput
from mpgemm.hw.flow.generate import RTL_DIR, hierarchy_graph, load_manifest, write_rtl
from mpgemm.hw.flow.synth import synth_design
from mpgemm.pe_designs.mixpe import MixPEConfig
from mpgemm.pe_designs.presets import PRESETS
from mpgemm.pe_designs.registry import config_from_dict
from mpgemm.sim.amaranth_sim import simulate_trace
from mpgemm.sim.bench import w4a16_gemv_errors
from mpgemm.sim.golden.contract import Beat, gemm, run_contract
from mpgemm.sim.golden.fp import f16_value, f32_value
from mpgemm.sim.golden.mixpe import (
    MixPEWeight,
    exact_gemm,
    fp_beat_sums,
    lane_product,
    mixpe_gemm,
    run_mixpe,
    shift_add_terms,
    weight_value,
)
from mpgemm.sim.golden.reference import error_stats, exact_mpgemm
from mpgemm.sim.scoreboard import check_cycles
from mpgemm.sim.stimulus.mixpe import (
    corner_beats,
    group_beats,
    random_beats,
    random_gemm,
    w_reset,
)

DESIGNS_IN_RTL_OUT = {n: e for n, e in load_manifest(RTL_DIR)["designs"].items()
                      if e["config"]["kind"] == MixPEConfig.kind}


PRECISIONS = (2, 3, 4, 8)


def _f16(x: float) -> int:
    return int(np.float16(x).view(np.uint16))


# --- golden model ---------------------------------------------------------------------------

@pytest.mark.parametrize("signed", [False, True])
@pytest.mark.parametrize("bits", range(2, 9))
def test_shift_add_terms_rebuild_every_code(bits, signed):
    c = MixPEConfig(weight_bits=bits, weight_signed=signed)
    for code in range(1 << bits):
        q = weight_value(c, code)
        assert sum(s * (1 << j) for s, j in shift_add_terms(c, code)) == q
        for a in (-128, -1, 0, 1, 127):
            assert lane_product(c, a, code) == a * q
    # Term count = set bits: a signed code's top bit is one subtracted term.
    assert len(shift_add_terms(c, (1 << bits) - 1)) == bits


@pytest.mark.parametrize("act_format", ["int8", "int16"])
@pytest.mark.parametrize("signed", [False, True])
@pytest.mark.parametrize("bits", range(2, 9))
def test_integer_golden_equals_exact_product(bits, signed, act_format, rng):
    c = MixPEConfig(weight_bits=bits, weight_signed=signed, act_format=act_format,
                    group_size=32, scale_format="int16" if signed else "uint8", acc_bits=64)
    lo, hi = (-128, 127) if act_format == "int8" else (-32768, 32767)
    a = rng.integers(lo, hi + 1, (2, 96))
    codes = rng.integers(0, 1 << bits, (96, 3))
    zeros = (np.zeros((3, 3), int) if signed else rng.integers(0, 1 << bits, (3, 3)))
    scales = rng.integers(0, 1 << c.scale_bits, (3, 3))
    got = mixpe_gemm(c, a, codes, zeros, scales)
    want = exact_gemm(c, a, codes, zeros, scales)
    assert all(Fraction(int(g)) == w for g, w in zip(got.flat, want.flat, strict=True))


def test_fp16_beat_sums_by_hand():
    c = MixPEConfig(act_format="fp16", weight_bits=4, align_guard_bits=0, lanes=2,
                    group_size=2)
    # Same exponent: 1.0 * 3 + 1.5 * 5 = 10.5 exactly; A = 2.5.
    p, a = fp_beat_sums(c, (_f16(1.0), _f16(1.5)), MixPEWeight(q=(3, 5)))
    assert f32_value(np.uint32(p)) == 10.5 and f32_value(np.uint32(a)) == 2.5
    # 1024 and 1 + 2^-10 are 10 binades apart: with no guard bits the smaller lane keeps
    # its significand's top bit only (truncation toward zero).
    p, a = fp_beat_sums(c, (_f16(1024.0), _f16(1.0 + 2.0 ** -10)), MixPEWeight(q=(1, 1)))
    assert f32_value(np.uint32(p)) == 1025.0 and f32_value(np.uint32(a)) == 1025.0
    c4 = MixPEConfig(act_format="fp16", weight_bits=4, align_guard_bits=10, lanes=2,
                     group_size=2)
    p, _ = fp_beat_sums(c4, (_f16(1024.0), _f16(1.0 + 2.0 ** -10)), MixPEWeight(q=(1, 1)))
    assert f32_value(np.uint32(p)) == 1025.0 + 2.0 ** -10
    # Signed weights: -8 * -2.0 + 7 * 0.5 = 19.5; truncation toward zero is symmetric.
    cs = MixPEConfig(act_format="fp16", weight_bits=4, weight_signed=True, lanes=2,
                     group_size=2)
    p, _ = fp_beat_sums(cs, (_f16(-2.0), _f16(0.5)), MixPEWeight(q=(8, 7)))
    assert f32_value(np.uint32(p)) == 19.5


def test_fp16_error_against_exact_reference(rng):
    """The FP16 path's only losses are the truncating alignment and the FP32 roundings: on
    normal-distributed activations the error is small, and guard bits reduce it."""

    designs = {g: MixPEConfig(act_format="fp16", align_guard_bits=g, group_size=64)
               for g in (0, 4, 12)}
    errors = w4a16_gemv_errors(designs, seed=int(rng.integers(1 << 31)), k=256, n=16,
                               group_size=64)
    print(f"norm-wise relative error by guard bits: {errors}")
    assert errors[4] < 1e-3
    assert errors[12] < errors[0]
    assert errors[12] < 1e-5


# --- RTL against the golden model (amaranth.sim) ------------------------------------------

def _variants():
    out = {}
    for act in ("int8", "fp16"):
        for bits in PRECISIONS:
            for signed in (False, True):
                name = f"w{bits}{'s' if signed else 'u'}_{act}_g32"
                out[name] = MixPEConfig(weight_bits=bits, weight_signed=signed, act_format=act,
                                        group_size=32,
                                        scale_format=("int8" if signed and act == "int8"
                                                      else None))
        for g in (64, 128):
            out[f"w4u_{act}_g{g}"] = MixPEConfig(act_format=act, group_size=g)
    # INT16 activations; other lane counts (16: the widest trees); unsigned weights with a
    # signed scale.
    out["w4u_int16_l1_g32"] = MixPEConfig(act_format="int16", lanes=1, group_size=32,
                                          scale_format="uint16")
    out["w8s_int16_g64"] = MixPEConfig(act_format="int16", weight_bits=8, weight_signed=True,
                                       group_size=64, scale_format="int16", acc_bits=64)
    out["w2u_int16_l2_g32"] = MixPEConfig(act_format="int16", weight_bits=2, lanes=2,
                                          group_size=32)
    out["w3u_int8_l16_g64_sscale"] = MixPEConfig(weight_bits=3, lanes=16, group_size=64,
                                                 scale_format="int8")
    out["w8u_fp16_l8_g64"] = MixPEConfig(act_format="fp16", weight_bits=8, lanes=8,
                                         group_size=64)
    out["w4s_fp16_l16_g128"] = MixPEConfig(act_format="fp16", weight_signed=True, lanes=16,
                                           group_size=128)
    out["w3s_fp16_l3_g33_guard0"] = MixPEConfig(act_format="fp16", weight_bits=3,
                                                weight_signed=True, lanes=3, group_size=33,
                                                align_guard_bits=0)
    return out


VARIANTS = _variants()


@pytest.mark.sim
@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_mixpe_rtl_matches_golden(name, rng, seed, n_vectors):
    config = VARIANTS[name]
    beats = corner_beats(config) + random_beats(config, rng, min(n_vectors, 300))
    expected = run_contract(config, beats, w_reset=w_reset(config))
    driven, observed = simulate_trace(config, beats)
    errors = check_cycles(config, driven, observed, expected, beats=beats)
    assert not errors, f"seed={seed}: {errors}"
    assert sum(o["o_valid"] for o in observed) == len(expected) > 0


def test_results_are_not_trivially_zero_or_nan(rng):
    """Random outputs are mostly finite and distinct, so matching them checks real bits."""
    for config in (PRESETS["mixpe_w4a8"], PRESETS["mixpe_w4a16"], PRESETS["mixpe_w8a16_int"]):
        out = [v for _, v in run_contract(config, random_beats(config, rng, 4000),
                                          w_reset=w_reset(config))]
        if config.is_fp:
            f = f32_value(np.array(out, np.uint32))
            assert np.isfinite(f).mean() > 0.8 and np.count_nonzero(f) > 0.8 * len(f)
        assert len(set(out)) > 0.8 * len(out)


@pytest.mark.sim
@pytest.mark.parametrize("act_format", ["int8", "fp16"])
def test_maximum_group_size_saturating_sums_and_zeros(act_format):
    """A 4096-weight group of the largest products (every accumulator at its bound), with the
    zero point at both extremes, then an all-zero group, in RTL."""
    c = MixPEConfig(act_format=act_format, weight_bits=8, group_size=4096, k_max=4096)
    amin = 0xFBFF if c.is_fp else -128
    scale = _f16(-0.75) if c.is_fp else 255
    rng = np.random.default_rng(0)
    beats = []
    for zero in (0, 255):
        beats += group_beats(c, rng, first=True, last=True, psum=0, acts=amin, codes=255,
                             zero=zero, scale=scale, idle=0.0)
    beats += group_beats(c, rng, first=True, last=True, psum=0, acts=0, codes=0, zero=0,
                         scale=scale, idle=0.0)
    expected = run_contract(c, beats, w_reset=w_reset(c))
    if c.is_fp:
        # P outgrows FP32's significand after a few beats: each of the 1024 accumulates
        # rounds (relative error up to 2^-24 each).
        first = float(f32_value(np.uint32(expected[0][1])))
        assert first == pytest.approx(-0.75 * 4096 * -65504.0 * 255, rel=1024 * 2.0 ** -24)
        assert first != -0.75 * 4096 * -65504.0 * 255
    else:
        assert expected[0][1] == 255 * 4096 * -128 * 255
        assert c.group_acc_bits == c.corr_bits == (4096 * 128 * 255).bit_length() + 1
    # z = q: every weight is 0. Exact for integers; in FP32, P and z * A were rounded
    # separately, so a residue of their roundings remains (well below their magnitude).
    if c.is_fp:
        residue = abs(float(f32_value(np.uint32(expected[1][1]))))
        assert 0 < residue < 1e-4 * abs(first)
    else:
        assert expected[1][1] == 0
    assert expected[2][1] == 0
    driven, observed = simulate_trace(c, beats)
    assert not check_cycles(c, driven, observed, expected, beats=beats)


# --- timing facts ---------------------------------------------------------------------------

def test_config_timing_facts():
    c = MixPEConfig(lanes=4, group_size=128)
    assert c.timing().cycles == 1 and c.macs_per_beat == 4 and c.cycles_per_mac == 0.25
    assert c.dq_cycles == 2 and c.dq_overlaps_next_group and c.dq_stall_cycles == 0
    assert c.timing().latency == 1 + c.dq_cycles == 3
    assert c.beats_per_group == 32
    assert c.timing() == (1, 3) and c.timing(c.weight_name) == (1, 3)


@pytest.mark.sim
@pytest.mark.parametrize("act_format", ["int8", "fp16"])
@pytest.mark.parametrize("group_size", [4, 32])
def test_measured_cycles_equal_the_config(group_size, act_format, rng):
    """Groups back to back with no idle cycle: a beat every cycle (o_ready never drops: the
    dequantization of a group overlaps the next group's beats), each result latency cycles
    after its group's last beat, even for one-beat groups."""
    c = MixPEConfig(act_format=act_format, group_size=group_size)
    beats = []
    for _ in range(5):
        beats += group_beats(c, rng, first=True, last=True, psum=0, idle=0.0)
    driven, observed = simulate_trace(c, beats)
    assert all(o["o_ready"] for o in observed)
    ends = [t for t, b in enumerate(beats) if b.last]
    assert ends == [(gi + 1) * c.beats_per_group - 1 for gi in range(5)]
    latency = c.timing().latency
    assert [t for t, o in enumerate(observed) if o["o_valid"]] == [t + latency for t in ends]
    # Every cycle carried a beat the PE accepted: the measured cycles per MAC are the config's.
    assert all(b.valid for b in beats)
    assert len(beats) / (5 * group_size) == c.cycles_per_mac
    assert not check_cycles(c, driven, observed, run_contract(c, beats, w_reset=w_reset(c)),
                            beats=beats)


# --- errors at the boundaries ------------------------------------------------------------------

@pytest.mark.parametrize(("kwargs", "exc", "message"), [
    ({"weight_bits": 1}, ValueError, "weight_bits must be in [2, 8], not 1"),
    ({"weight_bits": 4.0}, TypeError, "weight_bits must be an integer, not 4.0"),
    ({"weight_signed": 1}, TypeError, "weight_signed must be a bool, not 1"),
    ({"act_format": "bf16"}, ValueError, "act_format must be one of 'int8', 'int16', 'fp16', "
                                         "not 'bf16'"),
    ({"lanes": 0}, ValueError, "lanes must be in [1, 16], not 0"),
    ({"group_size": 30}, ValueError, "group_size=30 must be a multiple of lanes=4: a beat never "
                                     "straddles two groups"),
    ({"group_size": 8192}, ValueError, "group_size must be in [1, 4096], not 8192"),
    ({"scale_format": "fp16"}, ValueError, "scale_format must be one of 'uint8', 'int8', "
                                           "'uint16', 'int16' for act_format='int8', "
                                           "not 'fp16'"),
    ({"act_format": "fp16", "scale_format": "uint8"}, ValueError,
     "scale_format must be one of 'fp16' for act_format='fp16', not 'uint8'"),
    ({"acc_bits": 24}, ValueError, "acc_bits=24 is too narrow: k_max=4096 products of int8 x "
                                   "uint4 with uint8 scales need acc_bits >= 32"),
    ({"align_guard_bits": 17}, ValueError, "align_guard_bits must be in [0, 16], not 17"),
])
def test_config_errors(kwargs, exc, message):
    with pytest.raises(exc) as info:
        MixPEConfig(**kwargs)
    assert str(info.value) == message


def _beat(w, **ctl):
    return Beat(a=(1, 2, 3, 4), w=w, valid=True, load_w=True, **ctl)


@pytest.mark.parametrize(("config", "w", "message"), [
    (MixPEConfig(), MixPEWeight(q=(1, 2, 3)), "3 weight codes for lanes=4"),
    (MixPEConfig(), MixPEWeight(q=(1, 2, 3, 16)), "weight code 16 does not fit weight_bits=4"),
    (MixPEConfig(), MixPEWeight(q=(0,) * 4, zero=16), "zero point 16 does not fit"),
    (MixPEConfig(weight_signed=True), MixPEWeight(q=(0,) * 4, zero=1),
     "zero=1 given for two's complement weights"),
    (MixPEConfig(), MixPEWeight(q=(0,) * 4, scale=256), "scale code 256 does not fit the uint8"),
    (MixPEConfig(), (1, 2, 3, 4), "the weight operand must be a MixPEWeight"),
])
def test_golden_rejects_bad_weight_operands(config, w, message):
    with pytest.raises((ValueError, TypeError), match=message):
        run_mixpe(config, [_beat(w, first=True, last=True, group_end=True)],
                  w_reset=w_reset(config))


def test_fp_golden_rejects_non_finite_activations():
    # The contract's generic group rules are checked for every family in test_families.py.
    w = MixPEWeight(q=(1,) * 4)
    fp = MixPEConfig(act_format="fp16")
    with pytest.raises(ValueError, match="is inf or NaN"):
        run_mixpe(fp, [Beat(a=(0x7C00, 0, 0, 0), w=w, valid=True, load_w=True, first=True,
                            last=True, group_end=True)], w_reset=w_reset(fp))


# --- cost model -------------------------------------------------------------------------------

def test_cost_model_spreads_dequantization_over_the_group():
    """Energy per MAC falls with the group size (the dequantizer runs once per group), area
    does not depend on it beyond the accumulator widths."""
    e = {g: pe_cost(MixPEConfig(act_format="fp16", group_size=g)).energy_per_mac_pj
         for g in (4, 32, 128)}
    assert e[4] > e[32] > e[128]
    # A per-group entry's energy per beat scales with 1 / (beats per group): 1 vs 32 beats.
    small = pe_cost(MixPEConfig(act_format="fp16", group_size=4)).breakdown
    large = pe_cost(MixPEConfig(act_format="fp16", group_size=128)).breakdown
    assert small["scale_multiplier"].energy_pj == pytest.approx(
        32 * large["scale_multiplier"].energy_pj)
    assert small["scale_multiplier"].area_um2 == large["scale_multiplier"].area_um2


def test_cost_model_follows_the_weight_precision_and_signedness():
    area = {b: pe_cost(MixPEConfig(weight_bits=b)).area_um2 for b in PRECISIONS}
    assert area[2] < area[3] < area[4] < area[8]
    # No zero point: no activation sum, no z * A.
    assert (pe_cost(MixPEConfig(weight_signed=True)).area_um2
            < pe_cost(MixPEConfig()).area_um2)


def test_workload_checks_and_evaluation():
    c = PRESETS["mixpe_w4a16"]
    ok = GemmWorkload(M=1, K=4096, N=4096, act_format="fp16", weight_format="uint4",
                      group_size=128)
    report = evaluate(c, ok, n_pe=64)
    assert report.macs == 4096 * 4096 and report.energy_pj > 0
    # One beat per cycle of 4 MACs per PE.
    assert report.latency_cycles >= 4096 * 4096 / (64 * c.macs_per_beat)
    bad = [
        ({"act_format": "int8"}, "act_format='int8' does not fit the mixpe config's"),
        ({"weight_format": "int4"}, "weight_format='int4' does not fit the mixpe config's"),
        ({"group_size": 64}, "group_size=64 does not fit the mixpe config's group_size=128"),
        ({"group_size": None}, "group_size=None does not fit"),
    ]
    for change, message in bad:
        fields = {"M": 1, "K": 4096, "N": 4096, "act_format": "fp16", "weight_format": "uint4",
                      "group_size": 128}
        fields.update(change)
        with pytest.raises(ValueError, match=message.replace("(", r"\(")):
            evaluate(c, GemmWorkload(**fields), n_pe=64)
    # Narrower weights fit the unsigned codes.
    evaluate(c, GemmWorkload(M=1, K=256, N=64, act_format="fp16", weight_format="uint2",
                             group_size=128), n_pe=4)


@pytest.mark.synth
def test_area_trends_match_yosys(tmp_path):
    """Cost model and Yosys agree on the order within the family: more weight bits cost more
    (more shift-and-add terms, wider accumulators), and signed weights (no zero point: no
    activation sum, no z * A) cost less than unsigned ones."""

    designs = {"mixpe_w2": MixPEConfig(weight_bits=2, group_size=32),
               "mixpe_w4": MixPEConfig(group_size=32),
               "mixpe_w8": MixPEConfig(weight_bits=8, group_size=32),
               "mixpe_w4_signed": MixPEConfig(weight_signed=True, group_size=32)}
    write_rtl(tmp_path / "rtl", designs)
    cells, areas = {}, {}
    for name, config in designs.items():
        report = synth_design(tmp_path / "rtl" / f"{name}.v", name, tmp_path / "synth",
                              fpga=False)["generic"]
        cells[name] = report["cells"]
        areas[name] = pe_cost(config).area_um2
    print("Yosys generic cells", cells, "cost-model area um2",
          {k: round(v) for k, v in areas.items()})
    for metric in (cells, areas):
        assert metric["mixpe_w2"] < metric["mixpe_w4"] < metric["mixpe_w8"]
        assert metric["mixpe_w4_signed"] < metric["mixpe_w4"]


def test_against_dequantize_then_mac_at_equal_throughput():
    """The paper's comparison: W4A16 on MixPE and on dequantize-then-MAC, scaled to the same
    MACs per cycle. Both run a 4-lane beat per cycle, so they need the same number of PEs; the
    cost model gives MixPE less energy per MAC (no per-weight dequantization, no FP16
    multipliers), and Yosys cell counts scale with the PE count like the area."""

    designs = {"mixpe": PRESETS["mixpe_w4a16"], "dequant": PRESETS["dequant_mac_w4a16_l4"]}
    rows = {r.design: r for r in equal_throughput(designs, "fp16", ["uint4"],
                                                  target_macs_per_cycle=64,
                                                  yosys_cells={"mixpe": 1000, "dequant": 900})}
    assert set(rows) == {"mixpe", "dequant"}
    assert rows["mixpe"].pes == rows["dequant"].pes == 16
    assert rows["mixpe"].yosys_cells_scaled == 16 * 1000
    assert rows["mixpe"].energy_per_mac_pj < rows["dequant"].energy_per_mac_pj
    assert rows["mixpe"].energy_per_mac_pj == pytest.approx(
        pe_cost(PRESETS["mixpe_w4a16"]).energy_per_mac_pj)


# --- the whole GEMM (gemm) against the exact product ------------------------------------------
# The generic checks of gemm (the contract replay, tiling, shapes) are in test_golden_gemm.py.

def test_integer_gemm_equals_the_exact_product(rng):
    """The default config (INT8 activations, uint4 weights with zero points, uint8 scales) on
    extreme operands: the exact ``sum_g s_g sum_k a_k (q_k - z_g)``."""
    config = MixPEConfig()
    m, n, k = 3, 5, 4 * config.group_size
    a, w = random_gemm(config, rng, m, k, n, extreme=True)
    zeros = np.zeros_like(w.scales) if w.zeros is None else w.zeros
    y = exact_gemm(config, a, w.codes, zeros, w.scales)
    assert all(v.denominator == 1 for v in y.flat)
    want = np.vectorize(int, otypes=[object])(y)
    half = 1 << (config.acc_bits - 1)
    assert all(-half <= v < half for v in want.flat), "the config's acc_bits holds K <= k_max"
    assert np.array_equal(gemm(config, a, w).astype(object), want)


#: name -> largest norm-wise relative error allowed (max |Y - exact| / max |exact|) on one
#: random GEMM of M=4, K=1024, N=8, A ~ N(0, 1) * 2^[-4, 4] (FP16): about 4x the largest value
#: measured over seeds 0-39 (the comment gives that largest value and the median).
FP_ERROR_BOUNDS = {
    # MixPE W4A16 (4 guard bits): measured 6.6e-5 (median 3.5e-5).
    "mixpe_w4a16": 3e-4,
}


def dequantized(config, w):
    """``W`` as the exact values the PE multiplies by: ``(q - z) * s`` (float64, exact)."""
    g = config.group_size
    codes = np.vectorize(lambda c: weight_value(config, int(c)))(w.codes)
    zeros = np.repeat(w.zeros, g, axis=0) if w.zeros is not None else 0
    return (codes - zeros) * np.repeat(f16_value(w.scales).astype(np.float64), g, axis=0)


@pytest.mark.parametrize("name", list(FP_ERROR_BOUNDS))
def test_fp_gemm_error_against_exact(name, rng):
    config = PRESETS[name]
    a, w = random_gemm(config, rng, 4, 1024, 8)
    got = f32_value(gemm(config, a, w)).astype(np.float64)
    stats = error_stats(got, exact_mpgemm(f16_value(a).astype(np.float64),
                                          dequantized(config, w)))
    print(f"{name}: {stats}")
    assert stats.max_rel <= FP_ERROR_BOUNDS[name], stats
    assert stats.max_abs > 0                                  # rounding does happen


@pytest.mark.parametrize("name", sorted(DESIGNS_IN_RTL_OUT))
def test_generated_hierarchy_follows_config(name):
    """FP16 activations: FP32 accumulators of P (and A), the dequantizer's adders, its FP32 x
    FP16 scale multiplier and z * A scaler; integer MixPEs are one module."""
    entry = DESIGNS_IN_RTL_OUT[name]
    config = config_from_dict(entry["config"])
    g = hierarchy_graph(entry)
    units = [m.rsplit(".", 1)[-1] for m in g.nodes if m != name]
    assert sorted(units) == sorted(
        ["p_add", "out_add"] * config.is_fp + ["scale_mul"] * config.fp_multipliers
        + ["a_add", "zero_sub"] * (config.fp32_adders > 2)
        + ["zero_scale"] * config.zero_scalers)
    want = {"FPAdd": config.fp32_adders, "FPMul": config.fp_multipliers,
            "IntScaleFP": config.zero_scalers}
    assert generated_units(g, entry["units"], name) == {k: v for k, v in want.items() if v}
