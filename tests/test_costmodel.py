"""Tests for the analytical cost model (:mod:`costmodel`).

Small cases are checked against numbers worked out by hand from the cited tables; larger ones
against orderings any hardware designer expects (an FP16 MAC is bigger than an INT8 MAC, ...).
"""

import dataclasses
import json
import math
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import networkx as nx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

import mpgemm.costmodel as costmodel
from mpgemm.costmodel import (
    TECH_28NM,
    TECH_45NM,
    ComponentCost,
    CostReport,
    GemmWorkload,
    Technology,
    evaluate,
    llm_linear_layers,
    pe_cost,
    rollup,
    rollup_area,
)
from mpgemm.costmodel.components import (
    FP16_FIELDS,
    FP32_FIELDS,
    barrel_shifter,
    fp16_exact_multiplier,
    fp_adder,
    fp_multiplier,
    int_adder,
    int_multiplier,
    mux2,
    register,
    sram_access,
)
from mpgemm.costmodel.tech import (
    ALADDIN_40NM_REGISTER_BIT,
    BITMOD_28NM_PE_BLOCKS,
    BITMOD_PNR_ENERGY_FACTOR,
    CACTI_28NM_SRAM,
    DRAM_DDR4_BITMOD,
    DRAM_MIXPE,
    HOROWITZ_45NM,
    MIXPE_PE_ENERGY_PJ_PER_CYCLE,
    area_factor,
    energy_factor,
)
from mpgemm.pe_designs.mac import DequantMacConfig, Fp16MacConfig, IntMacConfig
from mpgemm.pe_designs.presets import PRESETS

# Hypothesis must not write into the shared work tree: no example database, and its constants
# cache (kept under .hypothesis/ in the working directory even without a database) goes to the
# temporary directory instead.
set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "mpgemm-hypothesis")
HYP = settings(database=None, deadline=None, max_examples=60)
ROOT = Path(__file__).resolve().parents[1]
TECHS = [TECH_45NM, TECH_28NM]


def approx(x):
    return pytest.approx(x, rel=1e-12, abs=1e-15)


# --------------------------------------------------------------------------------------------
# Technology tables
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, area_um2, energy_pj", [
    ("int_add_8", 36, 0.03), ("int_add_32", 137, 0.1), ("int_mul_8", 282, 0.2),
    ("int_mul_32", 3495, 3.1), ("fp16_add", 1360, 0.4), ("fp16_mul", 1640, 1.1),
    ("fp32_add", 4184, 0.9), ("fp32_mul", 7700, 3.7),
])
def test_horowitz_45nm_table(name, area_um2, energy_pj):
    assert HOROWITZ_45NM[name] == ComponentCost(area_um2, energy_pj)
    assert getattr(TECH_45NM.logic, name) == ComponentCost(area_um2, energy_pj)
    assert TECH_45NM.node_nm == 45 and TECH_45NM.voltage_v == 0.9


def test_memory_tables_match_cited_figures():
    # Horowitz: 10 / 20 / 100 pJ per 64-bit read at 8 KB / 32 KB / 1 MB.
    reads = {p.capacity_bytes: p.read_pj_per_bit * 64 for p in TECH_45NM.sram}
    assert reads == approx({8192: 10.0, 32768: 20.0, 1 << 20: 100.0})
    assert TECH_45NM.dram.read_pj_per_bit == approx(1300 / 64)
    # CACTI 28 nm banks, BitMoD's DDR4 and MixPE's DRAM.
    assert TECH_28NM.sram == CACTI_28NM_SRAM
    assert (CACTI_28NM_SRAM[0].capacity_bytes, CACTI_28NM_SRAM[0].read_pj_per_bit,
            CACTI_28NM_SRAM[0].write_pj_per_bit) == (128, 0.0092, 0.013)
    assert CACTI_28NM_SRAM[2].capacity_bytes == 8192
    assert CACTI_28NM_SRAM[2].read_pj_per_bit == 0.035
    assert TECH_28NM.dram == DRAM_DDR4_BITMOD
    assert DRAM_DDR4_BITMOD.read_pj_per_bit == 18.75 == 2400 / 128
    assert (DRAM_MIXPE.read_pj_per_bit, DRAM_MIXPE.write_pj_per_bit) == (0.63, 0.77)


def test_calibration_constants_match_cited_figures():
    fp16_mul = BITMOD_28NM_PE_BLOCKS["fp16_multiplier"]
    assert (fp16_mul.area_um2, fp16_mul.power_mw) == (1395.5, 0.49)
    # 0.49 mW at 1 GHz is 0.49 pJ per cycle.
    assert fp16_mul.energy_per_cycle_pj == approx(0.49)
    assert BITMOD_28NM_PE_BLOCKS["fp16_x_int8_mac"].area_um2 == 1318.6
    assert BITMOD_PNR_ENERGY_FACTOR == 1.5
    assert dict(MIXPE_PE_ENERGY_PJ_PER_CYCLE) == {"int8": 0.56, "fp16": 1.68, "w4a16": 1.09}
    assert ALADDIN_40NM_REGISTER_BIT == ComponentCost(5.981433, 8.999495e-03)


def test_stillmaker_baas_factors():
    # The authors' corrected Section 4.2.1 example: 32 nm HP at 0.9 V and 65 nm at 1.3 V.
    assert energy_factor(32, 0.9) == pytest.approx(0.4571, abs=1e-4)
    assert energy_factor(65, 1.3) == pytest.approx(2.604, abs=1e-3)
    assert area_factor(45) == 1.0 and area_factor(32) == 0.46 and area_factor(20) == 0.21
    # 28 nm lies between its tabulated neighbours, geometrically.
    t = math.log(28 / 20) / math.log(32 / 20)
    assert area_factor(28) == pytest.approx(0.21 ** (1 - t) * 0.46 ** t)
    assert area_factor(20) < area_factor(28) < area_factor(32)
    assert energy_factor(20, 0.9) < energy_factor(28, 0.9) < energy_factor(32, 0.9)
    with pytest.raises(ValueError, match=r"node_nm must be in \[7, 90\].*not 3"):
        area_factor(3)


def test_28nm_is_45nm_scaled_and_smaller():
    a = area_factor(28)
    e = energy_factor(28, 0.9) / energy_factor(45, 0.9)
    assert TECH_28NM.logic.int_mul_8.area_um2 == approx(282 * a)
    assert TECH_28NM.logic.int_mul_8.energy_pj == approx(0.2 * e)
    for name, c45 in TECH_45NM.logic._entries().items():
        c28 = getattr(TECH_28NM.logic, name)
        assert c28.area_um2 < c45.area_um2, name
        assert c28.energy_pj < c45.energy_pj, name
    buf28, buf45 = sram_access(8192, TECH_28NM), sram_access(8192, TECH_45NM)
    assert buf28.read_pj_per_bit < buf45.read_pj_per_bit


def test_technology_rejects_bad_tables():
    with pytest.raises(ValueError, match="sorted by capacity"):
        dataclasses.replace(TECH_28NM, sram=tuple(reversed(CACTI_28NM_SRAM)))
    with pytest.raises(ValueError, match="pnr_energy_factor must be >= 1.0"):
        dataclasses.replace(TECH_28NM, pnr_energy_factor=0.5)
    assert hash(dataclasses.replace(TECH_28NM)) == hash(TECH_28NM)


# --------------------------------------------------------------------------------------------
# Component models
# --------------------------------------------------------------------------------------------

def test_component_anchors_at_45nm():
    assert int_multiplier(8, 8, TECH_45NM) == ComponentCost(approx(282), approx(0.2))
    assert int_multiplier(32, 32, TECH_45NM) == ComponentCost(approx(3495), approx(3.1))
    assert int_adder(8, TECH_45NM) == ComponentCost(approx(36), approx(0.03))
    assert int_adder(32, TECH_45NM) == ComponentCost(approx(137), approx(0.1))
    assert fp_adder(*FP16_FIELDS, TECH_45NM) == ComponentCost(approx(1360), approx(0.4))
    assert fp_multiplier(*FP32_FIELDS, TECH_45NM) == ComponentCost(approx(7700), approx(3.7))
    # Linear adder: 16 bits is halfway between the anchors.
    assert int_adder(20, TECH_45NM).area_um2 == approx((36 + 137) / 2)
    # A log shifter of 32 bits by up to 31 places is 5 stages of 32 muxes.
    assert barrel_shifter(32, 32, TECH_45NM) == mux2(32 * 5, TECH_45NM)
    assert register(10, TECH_45NM) == TECH_45NM.logic.register_bit * 10


def test_fp16_exact_multiplier_assumption():
    for tech in TECHS:
        exact = fp16_exact_multiplier(tech)
        assert exact == (int_multiplier(11, 11, tech) + int_adder(6, tech)
                         + barrel_shifter(22, 22, tech))
        # No rounding logic, so cheaper than a rounding FP16 multiplier of the same node.
        assert exact.area_um2 < tech.logic.fp16_mul.area_um2


def _increasing(a: ComponentCost, b: ComponentCost, strict: bool = True) -> bool:
    if strict:
        return a.area_um2 < b.area_um2 and a.energy_pj < b.energy_pj
    return a.area_um2 <= b.area_um2 and a.energy_pj <= b.energy_pj


@HYP
@given(bits=st.integers(1, 127), tech=st.sampled_from(TECHS))
def test_int_adder_register_mux_monotone(bits, tech):
    assert _increasing(int_adder(bits, tech), int_adder(bits + 1, tech))
    assert _increasing(register(bits, tech), register(bits + 1, tech))
    assert _increasing(mux2(bits, tech), mux2(bits + 1, tech))
    assert int_adder(bits, tech).area_um2 > 0


@HYP
@given(a=st.integers(1, 63), b=st.integers(1, 63), tech=st.sampled_from(TECHS))
def test_int_multiplier_monotone(a, b, tech):
    m = int_multiplier(a, b, tech)
    assert _increasing(m, int_multiplier(a + 1, b, tech))
    assert _increasing(m, int_multiplier(a, b + 1, tech))
    assert m == int_multiplier(b, a, tech)


@HYP
@given(bits=st.integers(1, 127), rng=st.integers(1, 4096), tech=st.sampled_from(TECHS))
def test_barrel_shifter_monotone(bits, rng, tech):
    s = barrel_shifter(bits, rng, tech)
    assert _increasing(s, barrel_shifter(bits + 1, rng, tech), strict=rng > 1)
    assert _increasing(s, barrel_shifter(bits, rng + 1, tech), strict=False)


@HYP
@given(exp=st.integers(2, 11), man=st.integers(0, 52), tech=st.sampled_from(TECHS))
def test_fp_units_monotone_in_significand(exp, man, tech):
    assert _increasing(fp_adder(exp, man, tech), fp_adder(exp, man + 1, tech))
    assert _increasing(fp_multiplier(exp, man, tech), fp_multiplier(exp, man + 1, tech))


@HYP
@given(cap=st.integers(16, 1 << 24), tech=st.sampled_from(TECHS))
def test_sram_energy_monotone_in_capacity(cap, tech):
    lo, hi = sram_access(cap, tech), sram_access(cap + 1 + cap // 7, tech)
    assert 0 < lo.read_pj_per_bit <= hi.read_pj_per_bit
    assert 0 < lo.write_pj_per_bit <= hi.write_pj_per_bit


def test_sram_interpolation_hits_table_points():
    for p in CACTI_28NM_SRAM:
        e = sram_access(p.capacity_bytes, TECH_28NM)
        assert (e.read_pj_per_bit, e.write_pj_per_bit) == approx(
            (p.read_pj_per_bit, p.write_pj_per_bit))
    # Beyond the largest bank: sqrt(capacity) growth, 4x the bytes -> 2x the energy.
    assert sram_access(32768, TECH_28NM).read_pj_per_bit == approx(2 * 0.035)


def test_component_argument_errors():
    with pytest.raises(TypeError, match="bits must be an integer, not 8.0"):
        int_adder(8.0, TECH_28NM)
    with pytest.raises(ValueError, match=r"a_bits must be in \[1, 1024\], not 0"):
        int_multiplier(0, 8, TECH_28NM)


# --------------------------------------------------------------------------------------------
# PE costs
# --------------------------------------------------------------------------------------------

W8A8_L1 = IntMacConfig()
W4A8_L1 = IntMacConfig(weight_bits=4)


@pytest.mark.parametrize("tech", TECHS, ids=["45nm", "28nm"])
def test_pe_area_ordering(tech):
    def area(config):
        return pe_cost(config, tech).area_um2

    assert area(Fp16MacConfig()) > area(W8A8_L1) > area(W4A8_L1)
    for lanes in (1, 2, 4, 8):
        assert area(DequantMacConfig(lanes=lanes)) > area(Fp16MacConfig(lanes=lanes))


@pytest.mark.parametrize("tech", TECHS, ids=["45nm", "28nm"])
def test_pe_energy_per_mac_int8_below_fp16(tech):
    for lanes in (1, 4):
        int8 = pe_cost(IntMacConfig(lanes=lanes), tech).energy_per_mac_pj
        fp16 = pe_cost(Fp16MacConfig(lanes=lanes), tech).energy_per_mac_pj
        assert int8 < fp16


def test_pe_lanes_scale_the_datapath():
    one, four = pe_cost(IntMacConfig(lanes=1)), pe_cost(IntMacConfig(lanes=4))
    mul1, mul4 = one.breakdown["multipliers"], four.breakdown["multipliers"]
    assert mul4.area_um2 == approx(4 * mul1.area_um2)
    # The accumulator and control are shared, so the whole PE grows by less than 4x.
    assert 2 < four.area_um2 / one.area_um2 < 4
    f1, f4 = pe_cost(Fp16MacConfig(lanes=1)), pe_cost(Fp16MacConfig(lanes=4))
    assert f4.breakdown["fp16_multipliers"] == 4 * f1.breakdown["fp16_multipliers"]
    assert f4.breakdown["fp32_tree_adders"] == 3 * f1.breakdown["fp32_accumulate_adder"]
    assert 3 < f4.area_um2 / f1.area_um2 < 4


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_pe_cost_reads_timing_from_config_and_sums_breakdown(name):
    config = PRESETS[name]
    p = pe_cost(config)
    assert p.kind == config.kind
    assert p.latency_cycles == config.timing().latency
    assert p.cycles_per_mac == config.cycles_per_mac
    assert p.macs_per_cycle == config.macs_per_beat / config.timing().cycles
    assert p.area_um2 == approx(sum(c.area_um2 for c in p.breakdown.values()))
    assert p.energy_per_beat_pj == approx(sum(c.energy_pj for c in p.breakdown.values()))
    assert p.energy_per_mac_pj == approx(p.energy_per_beat_pj / config.macs_per_beat)
    assert pe_cost(config, TECH_28NM).area_um2 < pe_cost(config, TECH_45NM).area_um2


def test_int_mac_area_by_hand_at_45nm():
    # int_mac_w8a8_l1: one 8x8 multiplier (Horowitz anchor), a 24-bit accumulate adder
    # (linear between Horowitz's 8- and 32-bit adders), 24-bit psum/acc select mux, flip-flops
    # for acc + o_psum (48), o_a + o_w + o_ctl (8 + 8 + 5), the weight register (8) with its
    # 8-bit bypass mux, and o_valid (1).
    logic = TECH_45NM.logic
    adder24 = 36 + (137 - 36) * (24 - 8) / (32 - 8)
    expected = (282 + adder24 + (24 + 8) * logic.mux2_bit.area_um2
                + (48 + 21 + 8 + 1) * logic.register_bit.area_um2)
    assert pe_cost(PRESETS["int_mac_w8a8_l1"], TECH_45NM).area_um2 == approx(expected)


def test_pnr_factor_scales_energy_only():
    tech = dataclasses.replace(TECH_28NM, pnr_energy_factor=BITMOD_PNR_ENERGY_FACTOR)
    base, pnr = pe_cost(W8A8_L1), pe_cost(W8A8_L1, tech)
    assert pnr.area_um2 == base.area_um2
    assert pnr.energy_per_beat_pj == approx(1.5 * base.energy_per_beat_pj)


def test_pe_cost_is_cached_per_config_and_tech():
    assert pe_cost(IntMacConfig(lanes=2)) is pe_cost(IntMacConfig(lanes=2))
    assert pe_cost(IntMacConfig(lanes=2), TECH_45NM) is not pe_cost(IntMacConfig(lanes=2))


def test_pe_cost_unknown_kind():
    @dataclasses.dataclass(frozen=True)
    class Mystery:
        kind = "mystery"

    with pytest.raises(TypeError, match=r"expected a PE config of a registered family "
                                        r"\(IntMacConfig, Fp16MacConfig, .*\), not Mystery$"):
        pe_cost(Mystery())
    with pytest.raises(TypeError, match="expected a PE config of a registered family"):
        pe_cost(object())
    with pytest.raises(TypeError, match="tech must be a Technology"):
        pe_cost(W8A8_L1, "28nm")


# --------------------------------------------------------------------------------------------
# Workloads
# --------------------------------------------------------------------------------------------

def test_workload_sizes_by_hand():
    w = GemmWorkload(2, 3, 8, act_format="int8", weight_format="uint4", group_size=4)
    assert w.macs == 48
    assert w.a_bytes == 16                  # 2 x 8 int8
    # 8 x 3 uint4 codes = 12 B, plus (8 / 4) x 3 groups x (16-bit scale + 4-bit zero) = 15 B.
    assert w.w_bytes == 27
    assert w.y_bytes == 6                   # 2 x 3 in the activation format
    signed = dataclasses.replace(w, weight_format="int4")
    assert signed.w_bytes == 12 + 6 * 2     # symmetric: scale only
    assert GemmWorkload(1, 1, 3, "int8", "int4").w_bytes == 2   # 12 bits round up


@pytest.mark.parametrize("kwargs, error, message", [
    ({"M": 0}, ValueError, "M must be a positive integer, not 0"),
    ({"N": 2.0}, TypeError, "N must be a positive integer, not 2.0"),
    ({"K": True}, TypeError, "K must be a positive integer, not True"),
    ({"act_format": "int33"}, ValueError, "act_format='int33' is not a known format; allowed: "),
    ({"weight_format": 4}, TypeError, "weight_format must be a format name string, not 4"),
    ({"group_size": 3}, ValueError, "group_size=3 must divide K=8"),
    ({"group_size": 0}, ValueError, "group_size must be a positive integer, not 0"),
    ({"name": None}, TypeError, "name must be a string, not None"),
])
def test_workload_validation(kwargs, error, message):
    args = {"M": 2, "N": 2, "K": 8, **kwargs}
    with pytest.raises(error, match=message.replace("(", r"\(").replace(")", r"\)")):
        GemmWorkload(**args)


def test_llm_layers_llama2_7b():
    prefill = llm_linear_layers(4096, 11008, 32, tokens=512, batch=2)
    assert [w.name for w in prefill] == ["prefill.qkv", "prefill.o", "prefill.up",
                                         "prefill.gate", "prefill.down"]
    assert [(w.M, w.K, w.N) for w in prefill] == [
        (1024, 4096, 12288), (1024, 4096, 4096), (1024, 4096, 11008), (1024, 4096, 11008),
        (1024, 11008, 4096),
    ]
    decode = llm_linear_layers(4096, 11008, 32, tokens=2048, phase="decode", batch=4,
                               act_format="fp16", weight_format="uint4", group_size=128)
    assert {w.M for w in decode} == {4}
    # Per token: 4 h^2 attention projections + 3 h i MLP products (~6.5 G MACs for 7B).
    assert sum(w.macs for w in decode) == 4 * (4 * 4096 ** 2 + 3 * 4096 * 11008)
    gqa = llm_linear_layers(4096, 14336, 32, 8, tokens=1, gated_mlp=False)
    assert gqa[0].N == 4096 + 2 * 1024 and len(gqa) == 4


def test_llm_layers_validation():
    with pytest.raises(ValueError, match="phase must be one of 'prefill', 'decode', not 'train'"):
        llm_linear_layers(4096, 11008, 32, tokens=1, phase="train")
    with pytest.raises(ValueError, match="n_heads=33 must divide hidden=4096"):
        llm_linear_layers(4096, 11008, 33, tokens=1)
    with pytest.raises(ValueError, match="group_size=128 must divide K=4000"):
        llm_linear_layers(4000, 11008, 32, tokens=1, group_size=128)


# --------------------------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------------------------

def test_evaluate_small_case_by_hand():
    config = IntMacConfig(lanes=4)
    w = GemmWorkload(2, 2, 8)
    r = evaluate(config, w, freq_mhz=500.0)
    p = pe_cost(config)
    # 4 outputs x ceil(8 / 4) = 2 beats each, one PE, plus 1 cycle of result latency.
    assert r.latency_cycles == 4 * 2 + 1
    assert r.latency_s == approx(9 / 500e6)
    assert r.macs == 32
    assert r.compute_energy_pj == approx(32 * p.energy_per_mac_pj)
    # 8 KB buffer at 28 nm: 0.035 pJ/bit. 8 beats read 32 + 32 port bits; 4 outputs read and
    # write a 32-bit psum.
    assert r.sram_energy_pj == approx(8 * 64 * 0.035 + 4 * 32 * (0.035 + 0.035))
    # DRAM at 18.75 pJ/bit: A 16 B and W 16 B read, Y 4 B written.
    assert r.dram_energy_pj == approx((16 + 16 + 4) * 8 * 18.75)
    assert r.energy_pj == approx(r.compute_energy_pj + r.sram_energy_pj + r.dram_energy_pj)
    assert r.area_um2 == p.area_um2
    assert r.energy_per_mac_pj == approx(r.energy_pj / 32)
    assert r.tops_per_w == approx(64 / r.energy_pj)


def test_evaluate_splits_outputs_over_pes_and_pays_for_padding():
    config = IntMacConfig(lanes=4)
    one = evaluate(config, GemmWorkload(2, 2, 8))
    three = evaluate(config, GemmWorkload(2, 2, 8), n_pe=3)
    assert three.latency_cycles == 2 * 2 + 1       # busiest PE holds ceil(4 / 3) = 2 outputs
    assert three.area_um2 == approx(3 * one.area_um2)
    assert three.compute_energy_pj == approx(one.compute_energy_pj)
    padded = evaluate(config, GemmWorkload(2, 2, 6))   # still 2 beats per output
    assert padded.compute_energy_pj == approx(one.compute_energy_pj)
    assert padded.macs == 24


def test_reports_add_up():
    config = IntMacConfig(lanes=4)
    a = evaluate(config, GemmWorkload(2, 2, 8))
    b = evaluate(config, GemmWorkload(4, 2, 16), n_pe=2)
    s = a + b
    assert s.latency_cycles == a.latency_cycles + b.latency_cycles
    assert s.energy_pj == approx(a.energy_pj + b.energy_pj)
    assert s.dram_energy_pj == approx(a.dram_energy_pj + b.dram_energy_pj)
    assert s.macs == a.macs + b.macs
    assert s.area_um2 == max(a.area_um2, b.area_um2)
    assert sum([a, b], CostReport.zero()) == s
    assert sum([a, b]) == s
    assert a + CostReport.zero() == a
    assert math.isnan(CostReport.zero().energy_per_mac_pj)


@pytest.mark.parametrize("config, kwargs, message", [
    (IntMacConfig(), {"act_format": "fp16"},
     "workload act_format='fp16' does not fit the int_mac config's act operand int8"),
    (IntMacConfig(), {"weight_format": "uint8"},
     r"workload weight_format='uint8' does not fit the int_mac config's weight operand int8 "
     r"\(weight_bits=8, weight_signed=True\)"),
    (IntMacConfig(weight_bits=4), {"weight_format": "int4", "group_size": 4},
     "workload group_size=4 cannot run on the int_mac config: it accumulates integers "
     "without per-group scales"),
    (IntMacConfig(acc_bits=24, k_max=4), {},
     "workload K=8 exceeds the int_mac config's k_max=4"),
    (Fp16MacConfig(), {"act_format": "bf16", "weight_format": "fp16"},
     "workload act_format='bf16' does not fit the fp16_mac config's act_format='fp16'"),
    (DequantMacConfig(group_size=8), {"act_format": "fp16", "weight_format": "uint4",
                                      "group_size": 4},
     "workload group_size=4 does not fit the dequant_mac config's group_size=8"),
    (DequantMacConfig(), {"act_format": "fp16", "weight_format": "int4", "group_size": 8},
     "workload weight_format='int4' does not fit the dequant_mac config's weight operand uint4"),
])
def test_evaluate_rejects_workloads_that_do_not_fit(config, kwargs, message):
    with pytest.raises(ValueError, match=message):
        evaluate(config, GemmWorkload(2, 2, 8, **kwargs))


def test_evaluate_accepts_narrower_fitting_formats():
    for fmt in ("int4", "uint4", "ternary", "uint7"):
        evaluate(IntMacConfig(), GemmWorkload(2, 2, 8, weight_format=fmt))
    r = evaluate(DequantMacConfig(group_size=64), GemmWorkload(
        1, 8, 256, act_format="fp16", weight_format="uint4", group_size=128))
    assert r.macs == 8 * 256


def test_evaluate_argument_errors():
    w = GemmWorkload(2, 2, 8)
    with pytest.raises(TypeError, match="workload must be a GemmWorkload"):
        evaluate(W8A8_L1, (2, 2, 8))
    with pytest.raises(ValueError, match="n_pe must be a positive integer, not 0"):
        evaluate(W8A8_L1, w, n_pe=0)
    with pytest.raises(ValueError,
                       match=r"freq_mhz must be a finite number in \[0.001, 1e\+06\] MHz, not 0"):
        evaluate(W8A8_L1, w, freq_mhz=0)
    with pytest.raises(TypeError, match="tech must be a Technology"):
        evaluate(W8A8_L1, w, tech=None)


def test_decode_is_dominated_by_weight_traffic():
    layers = llm_linear_layers(4096, 11008, 32, tokens=128, phase="decode",
                               act_format="fp16", weight_format="uint4", group_size=128)
    config = PRESETS["dequant_mac_w4a16_l4"]
    total = sum(evaluate(config, w, n_pe=64) for w in layers)
    assert total.macs == sum(w.macs for w in layers)
    # One token reads every weight once: off-chip traffic dwarfs the arithmetic.
    assert total.dram_energy_pj > 10 * total.compute_energy_pj


def test_costmodel_does_not_import_amaranth():
    # Configs are pure Python: the cost model reads the real config object without Amaranth.
    script = textwrap.dedent("""
        import json, sys
        import mpgemm.costmodel as costmodel
        from mpgemm.pe_designs.presets import PRESETS
        from mpgemm.pe_designs.mac import IntMacConfig

        r = costmodel.evaluate(IntMacConfig(lanes=4), costmodel.GemmWorkload(8, 8, 64), n_pe=4)
        for config in PRESETS.values():
            costmodel.pe_cost(config)
        assert "amaranth" not in sys.modules, "costmodel imported amaranth"
        print(json.dumps([r.energy_pj, r.area_um2, r.latency_cycles]))
    """)
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                         text=True, env={"PATH": "/usr/bin:/bin"}, check=False)
    assert out.returncode == 0, out.stderr
    energy, area, cycles = json.loads(out.stdout)
    real = evaluate(IntMacConfig(lanes=4), GemmWorkload(8, 8, 64), n_pe=4)
    assert (energy, area, cycles) == (approx(real.energy_pj), approx(real.area_um2),
                                      real.latency_cycles)


# --------------------------------------------------------------------------------------------
# Hierarchy roll-up
# --------------------------------------------------------------------------------------------

def _tiny_hierarchy() -> nx.DiGraph:
    g = nx.DiGraph()
    g.add_edge("top", "pe", instances=4)
    g.add_edge("top", "ctrl", instances=1)
    g.add_edge("pe", "mul", instances=2)
    g.add_edge("ctrl", "mul", instances=1)       # shared leaf
    return g


def test_rollup_area_by_hand():
    own = {"top": 10.0, "pe": 5.0, "ctrl": 7.0, "mul": 3.0}
    # pe = 5 + 2*3 = 11; ctrl = 7 + 3 = 10; top = 10 + 4*11 + 10 = 64.
    assert rollup_area(_tiny_hierarchy(), own, "top") == 64.0
    assert rollup_area(_tiny_hierarchy(), own, "pe") == 11.0
    # The generic form counts leaf instances: 4 pe x 2 + 1 = 9 multipliers.
    assert rollup(_tiny_hierarchy(), "top", lambda m: m == "mul") == 9


def test_rollup_rejects_bad_hierarchies():
    own = {"top": 10.0, "pe": 5.0, "ctrl": 7.0, "mul": 3.0}
    cyclic = _tiny_hierarchy()
    cyclic.add_edge("mul", "pe", instances=1)
    with pytest.raises(ValueError, match="module hierarchy has a cycle: pe -> mul -> pe"):
        rollup_area(cyclic, own, "top")
    with pytest.raises(ValueError, match="module 'ctrl' \\(below 'top'\\) has no entry"):
        rollup_area(_tiny_hierarchy(), {k: v for k, v in own.items() if k != "ctrl"}, "top")
    with pytest.raises(ValueError, match="top module 'chip' is not in the hierarchy graph"):
        rollup_area(_tiny_hierarchy(), own, "chip")
    bad = _tiny_hierarchy()
    bad.add_edge("top", "mul")
    with pytest.raises(ValueError, match="edge \\('top', 'mul'\\) must have a positive integer "
                                         "'instances' attribute, not None"):
        rollup_area(bad, own, "top")
    with pytest.raises(TypeError, match="graph must be a simple DiGraph"):
        rollup_area(nx.MultiDiGraph(_tiny_hierarchy()), own, "top")
    with pytest.raises(TypeError, match="graph must be a directed graph"):
        rollup_area(nx.Graph(), own, "top")


def test_public_api():
    for name in ("Technology", "TECH_45NM", "TECH_28NM", "pe_cost", "PECost", "GemmWorkload",
                 "llm_linear_layers", "evaluate", "CostReport", "rollup_area",
                 "pe_model", "PEModel"):
        assert name in costmodel.__all__
        assert hasattr(costmodel, name)
    assert isinstance(TECH_28NM, Technology) and costmodel.DEFAULT_TECH is TECH_28NM


def test_reports_serialise_to_plain_data():
    r = evaluate(IntMacConfig(lanes=4), GemmWorkload(2, 2, 8))
    data = json.loads(json.dumps(r.to_dict()))
    assert data["macs"] == 32 and data["energy_pj"] == approx(r.energy_pj)
    assert data["tops_per_w"] == approx(r.tops_per_w)
    p = json.loads(json.dumps(pe_cost(W8A8_L1).to_dict()))
    assert p["breakdown"]["multipliers"]["area_um2"] == approx(
        pe_cost(W8A8_L1).breakdown["multipliers"].area_um2)
