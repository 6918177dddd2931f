"""The accelerator-level cost model (:mod:`mpgemm.costmodel.accel`).

Small accelerators are checked against register bits, muxes and adders counted by hand from
``hw/array/accel.py`` and ``mesh.py``, priced with the cited per-bit and per-adder figures;
larger ones against how each unit group must scale with the array's shape.
"""

import math
from dataclasses import replace

import pytest

from mpgemm.costmodel import (
    TECH_28NM,
    TECH_45NM,
    AccelReport,
    ComponentCost,
    UnitGroup,
    accel_cost,
    compare_arrays,
    gemm_activity,
    gemm_energy,
    pe_cost,
    render_rows,
)
from mpgemm.costmodel.accel import CATEGORIES, CYCLE_COUNTER_BITS
from mpgemm.costmodel.array import gemm_cycles
from mpgemm.costmodel.bitserial import shared_parts as bitserial_shared_parts
from mpgemm.costmodel.components import FP32_FIELDS, fp_adder, int_adder, sram_access
from mpgemm.costmodel.lut import shared_parts as lut_shared_parts
from mpgemm.costmodel.mixpe import shared_parts as mixpe_shared_parts
from mpgemm.hw.array.accel import CYCLE_BITS
from mpgemm.hw.array.config import AccelConfig, ArrayConfig
from mpgemm.hw.array.presets import ARRAY_PRESETS, PAPER_ARRAYS
from mpgemm.pe_designs.presets import PRESETS

INT8 = replace(PRESETS["int_mac_w8a8"], lanes=1)  # 8-bit operands, 32-bit psum, k_max 4096
FP16 = PRESETS["fp16_mac"]                         # 16-bit operands, FP32 psum, L = 2
REG = TECH_28NM.logic.register_bit                 # Aladdin's flip-flop, scaled to 28 nm
MUX = TECH_28NM.logic.mux2_bit
THREE = ("array_int_mac_os_16x16", "array_fp16_mac_os_8x8", "array_dequant_mac_ws_8x8")


def accel(pe=INT8, rows=2, cols=2, dataflow="os", depth=16, **kw) -> AccelConfig:
    kw = {"a_depth": depth, "w_depth": depth, "o_depth": depth} | kw
    return AccelConfig(array=ArrayConfig(pe=pe, rows=rows, cols=cols, dataflow=dataflow), **kw)


def approx(x):
    return pytest.approx(x, rel=1e-12, abs=1e-12)


def test_technology_has_no_place_and_route_factor():
    # The hand sums below leave the factor out; it is 1 for the default technology.
    assert TECH_28NM.pnr_energy_factor == 1.0


def test_cycle_counter_width_matches_the_rtl():
    assert CYCLE_COUNTER_BITS == CYCLE_BITS


# --------------------------------------------------------------------------------------------
# Area by hand
# --------------------------------------------------------------------------------------------

# A 1x1 output-stationary INT8 accelerator with 4-word buffers: bounds M <= 4, N <= 4, 4 beats.
ONE = accel(rows=1, cols=1, depth=4)
# Register bits outside the PE, read off accel.py (range(x) takes ceil(log2 x) bits):
# pipeline: the activation (8) and weight (8) words after the buffer reads, issue delayed 2 x 5;
PIPELINE_BITS = 8 + 8 + 2 * 5
# stage 1: the row (1 x 32), its address (range(4): 2), the write and last flags;
STAGE1_BITS = 32 + 2 + 2
# controller: M, N, KB (range(5): 3 each), run, drain, have, the 40-bit cycle counter, the two
# load addresses, y_end and raddr (3 each); the edge's n0 (range(6)) and y_base (range(9)) and
# m0 (range(6)); the m0, n0 (range(6)), beat (range(5)), a_base, w_base (range(5))
# and since_last (range(2)). K never spans two chunks (4 beats at most), so there is no chunk
# counter at the edge or the issue, and a beat may issue every cycle (no countdowns).
CONTROL_BITS = 3 * 3 + 3 + 40 + 3 * 4 + (3 + 4 + 3) + (3 + 3 + 3 + 3 + 3 + 1)
# The controller's adders by width: the cycle counter, the load/drain address incrementers,
# s1_addr + 1, the edge's n0, y_base and address (range(14)) adders, its m0 + R and m0 + row
# index; the beat, n0, m0, a_base, w_base updates, the a and w addresses (base +
# beat, 2 bits), length - 1 and since_last + 1 (1 bit).
CONTROL_ADDERS = ([40, 3, 3, 3, 2, 3, 4, 4, 3, 3]
                  + [3, 3, 3, 3, 3, 2, 2, 3, 1])


def test_one_pe_accelerator_area_by_hand():
    cost = accel_cost(ONE)
    assert CONTROL_BITS == 90
    # A 1-row, 1-column array has no skew, no row mux (a 1:1 mux) and, with K bounded by the
    # buffers to 4 beats, no edge adders.
    assert not ONE.edge_adds
    # The output-stationary array's PE streams its weights: no 8-bit weight register and
    # its load select (the standalone PE has both).
    pe_area = pe_cost(INT8).area_um2 - 8 * (REG.area_um2 + MUX.area_um2)
    expected = (pe_area
                + (PIPELINE_BITS + STAGE1_BITS + CONTROL_BITS) * REG.area_um2
                + sum(int_adder(w, TECH_28NM).area_um2 for w in CONTROL_ADDERS))
    assert cost.area_um2 == approx(expected)
    assert cost.group("control_registers").count == CONTROL_BITS
    assert cost.group("pes").count == 1
    assert cost.group("act_skew").count == cost.group("row_mux").area_um2 == 0
    by = cost.area_by_category_um2()
    assert by["pes"] == approx(pe_area)
    assert by["registers"] == approx(PIPELINE_BITS * REG.area_um2)
    assert by["edge"] == approx(STAGE1_BITS * REG.area_um2)
    assert by["buffers"] is None  # no cited SRAM area: not modelled
    assert sum(v for v in by.values() if v is not None) == approx(cost.area_um2)
    # Buffers: words of R x 8, C x 8 and C x 32 bits, 4 deep.
    assert [(b.name, b.depth, b.word_bits) for b in cost.buffers] == [
        ("a_buffer", 4, 8), ("w_buffer", 4, 8), ("o_buffer", 4, 32)]
    assert cost.buffer_bits == 4 * (8 + 8 + 32)


@pytest.mark.parametrize("dataflow, bits", [
    # 3 x 2 with 16-word buffers. Both: M range(17) 5, N range(33) 6, run/drain/have 3,
    # cycles 40, the two load addresses, y_end and raddr range(17) 4 x 5, the edge's n0
    # range(35) 6 and y_base range(49) 6.
    # os: KB range(17) 5 (K <= the smaller depth) and the edge's m0 range(20) 5 (no chunk
    # counter: K never exceeds the PE's k_max); the m0 5, n0 6, beat range(17) 5,
    # a_base 5, w_base 5 and since_last range(4) 2 (a row spacing of 3; an INT8 MAC takes a
    # beat every cycle: no countdowns).
    # ws: KB range(49) 6 (a_depth x R beats), the edge's k range(48 + 3 + 1) 6 and row 5; the
    # issue's n0 6, kf range(52) 6, slot range(17) 5, a_base 5, w_addr 5, row range(4) 2,
    # phase range(2) 1.
    ("os", 5 + 6 + 5 + 3 + 40 + 20 + 6 + 6 + 5 + (5 + 6 + 5 + 5 + 5 + 2)),
    ("ws", 5 + 6 + 6 + 3 + 40 + 20 + 6 + 6 + 6 + (5 + 6 + 6 + 5 + 5 + 5 + 2 + 1)),
])
def test_controller_register_bits_by_hand(dataflow, bits):
    # Yosys (proc; opt; memory -nomap on the accelerator's module, its flip-flops named by
    # the nets they drive) keeps 124 and 133 controller flip-flops for these.
    assert bits == {"os": 124, "ws": 133}[dataflow]
    cost = accel_cost(accel(rows=3, cols=2, dataflow=dataflow))
    assert cost.group("control_registers").count == bits


def test_output_stationary_activity_by_hand():
    # 3 x 2, M = 4, N = 2, K = 4: two row blocks of 4 beats, each sending its 3 rows to the
    # edge; only the 4 rows inside M are written.
    config = accel(rows=3, cols=2)
    a = gemm_activity(config, 4, 2, 4)
    assert (a.slots, a.pe_beats, a.useful_pe_beats) == (8, 8 * 6, 4 * 2 * 4)
    assert (a.rows_out, a.rows_written, a.w_reads, a.shadow_loads) == (6, 4, 8, 0)
    report = gemm_energy(config, 4, 2, 4)
    o = sram_access(16 * 64 // 8, TECH_28NM)  # 16 words of 2 x 32 bits
    # The edge writes 4 rows (K is one chunk: it reads none); the drain reads the 4 output
    # words.
    assert report.energy_by_group_pj["o_buffer"] == approx(
        64 * (4 * o.read_pj_per_bit + 4 * o.write_pj_per_bit))
    # Each row leaving passes a 3:1 mux per column.
    assert report.energy_by_group_pj["row_mux"] == approx(6 * 2 * 2 * 32 * MUX.energy_pj)


def test_weight_stationary_2x2_area_by_hand():
    cost = accel_cost(accel(dataflow="ws"))
    g = {x.name: x for x in cost.groups}
    assert "weight_skew" not in g and "row_mux" not in g and "w_pipeline" not in g
    # Row 1's activation and control wait L = 1 register; column 0's sum waits 1.
    assert g["act_skew"].area_um2 == approx(8 * REG.area_um2)
    assert g["ctl_skew"].area_um2 == approx(5 * REG.area_um2)
    assert g["deskew"].area_um2 == approx(32 * REG.area_um2)
    # 2 x 2 shadow weights of 8 bits, each with its load enable.
    assert g["shadow"].area_um2 == approx(4 * 8 * (REG.area_um2 + MUX.area_um2))
    # The activation word (2 x 8), the control's two stages, the row enable and select (1 + 1).
    assert (g["a_pipeline"].area_um2 + g["ctl_pipeline"].area_um2
            + g["shadow_select_pipeline"].area_um2) == approx((16 + 10 + 2) * REG.area_um2)
    # Stage 1: 2 x 32 bits of row, range(16) address, write/last/first flags.
    assert g["stage1"].area_um2 == approx((64 + 4 + 3) * REG.area_um2)
    # A weight-stationary edge always adds folds: a 32-bit adder and select per column.
    add = int_adder(32, TECH_28NM)
    assert g["edge_adders"].area_um2 == approx(2 * (add.area_um2 + 32 * MUX.area_um2))


def test_fp32_edge_adders_for_fp16_pes():
    g = accel_cost(accel(pe=FP16, cols=3, dataflow="ws")).group("edge_adders")
    fp32 = fp_adder(*FP32_FIELDS, TECH_28NM)
    assert g.count == 3
    assert g.unit.area_um2 == approx(fp32.area_um2 + 32 * MUX.area_um2)


def test_output_stationary_row_mux_by_hand():
    # Each of the 2 columns picks its 32-bit result among 3 rows: two 2:1 muxes per bit.
    g = accel_cost(accel(rows=3)).group("row_mux")
    assert g.count == 2 and g.area_um2 == approx(2 * 2 * 32 * MUX.area_um2)


# --------------------------------------------------------------------------------------------
# How the unit groups scale
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("rows", [1, 2, 3, 5, 8])
def test_skew_registers_grow_as_a_triangle(rows):
    tri = rows * (rows - 1) // 2
    os_cost = accel_cost(accel(rows=rows))
    assert os_cost.group("act_skew").count == os_cost.group("ctl_skew").count == tri
    # Weight-stationary rows are skewed by the PE's result latency (FP16 MAC: 2 cycles).
    ws_cost = accel_cost(accel(pe=FP16, rows=rows, dataflow="ws"))
    assert FP16.timing().latency == 2
    assert ws_cost.group("act_skew").count == 2 * tri
    assert ws_cost.group("act_skew").area_um2 == approx(2 * tri * 16 * REG.area_um2)


@pytest.mark.parametrize("cols", [1, 2, 4, 7])
def test_column_triangles_and_shadow_registers(cols):
    tri = cols * (cols - 1) // 2
    os_cost = accel_cost(accel(rows=3, cols=cols))
    ws_cost = accel_cost(accel(rows=3, cols=cols, dataflow="ws"))
    assert os_cost.group("weight_skew").count == tri
    assert ws_cost.group("deskew").count == tri
    # Shadow registers exist only weight-stationary: one weight per PE.
    assert ws_cost.group("shadow").count == 3 * cols
    assert {"shadow", "deskew"}.isdisjoint(g.name for g in os_cost.groups)
    assert {"weight_skew", "row_mux"}.isdisjoint(g.name for g in ws_cost.groups)
    assert os_cost.group("pes").count == ws_cost.group("pes").count == 3 * cols


def test_edge_adders_only_when_the_edge_adds():
    short = replace(INT8, acc_bits=24, k_max=256)
    # K is bounded by the 256-word buffers to 256 beats: one chunk always, nothing to add.
    no = accel(pe=short, depth=256)
    # With 512 words K can take two chunks of the PE's 256 products.
    yes = accel(pe=short, depth=512, out_bits=32)
    assert (no.edge_adds, yes.edge_adds) == (False, True)
    assert "edge_adders" not in {g.name for g in accel_cost(no).groups}
    g = accel_cost(yes).group("edge_adders")
    assert g.count == 2
    assert g.unit.area_um2 == approx(int_adder(32, TECH_28NM).area_um2 + 32 * MUX.area_um2)


def test_tiling_the_mesh_adds_no_area():
    flat = AccelConfig(array=ArrayConfig(pe=INT8, rows=4, cols=4))
    tiled = AccelConfig(array=ArrayConfig(pe=INT8, rows=4, cols=4, tile_rows=2, tile_cols=2))
    assert accel_cost(tiled).area_um2 == approx(accel_cost(flat).area_um2)


def test_area_grows_with_the_array_and_the_pes_dominate():
    for name, config in ARRAY_PRESETS.items():
        cost = accel_cost(config)
        pes = cost.group("pes").area_um2
        if config.array.organisation == "standalone":
            streams = config.array.dataflow == "os"
            assert pes == approx(config.array.pes * pe_cost(
                config.pe, weight_register=not streams).area_um2)
        # A shared array's row, column and foot units are PE work moved out of the grid.
        pes += cost.area_by_category_um2().get("shared") or 0
        assert pes < cost.area_um2 < 2 * pes, name
    small = accel_cost(accel(rows=4, cols=4)).area_um2
    big = accel_cost(accel(rows=8, cols=8)).area_um2
    assert 4 * small * 0.9 < big  # PEs grow 4x, the edge 2x, the controller by a few bits


# --------------------------------------------------------------------------------------------
# Energy
# --------------------------------------------------------------------------------------------

def test_one_pe_gemm_energy_by_hand():
    # M = N = 1, K = 4: four beats, the last issued in cycle 4, then the buffer read, the
    # register, the PE's result (L = 1) and the write: 8 cycles.
    report = gemm_energy(ONE, 1, 1, 4)
    assert report.latency_cycles == 8 and report.macs == 4
    e = REG.energy_pj
    pe = pe_cost(INT8, weight_register=False).energy_per_beat_pj   # (output-stationary)
    a_mem = sram_access(4, TECH_28NM)   # 4 words x 8 bits = 4 bytes
    o_mem = sram_access(16, TECH_28NM)  # 4 words x 32 bits
    adders = sum(int_adder(w, TECH_28NM).energy_pj for w in CONTROL_ADDERS)
    parts = {
        "pes": 4 * pe,
        # Every beat passes the pipeline registers; the one result row passes stage 1.
        "registers": 4 * PIPELINE_BITS * e,
        "edge": STAGE1_BITS * e,
        # The controller works every cycle.
        "control": 8 * (CONTROL_BITS * e + adders),
        # A and W: 4 words written by the host and read by the beats, 8 bits each; Y: one
        # word written by the edge (which adds no chunks, so reads nothing) and read by the
        # drain.
        "buffers": (2 * 4 * 8 * (a_mem.read_pj_per_bit + a_mem.write_pj_per_bit)
                    + 32 * (o_mem.read_pj_per_bit + o_mem.write_pj_per_bit)),
    }
    assert dict(report.energy_by_category_pj) == approx(parts)
    assert report.energy_pj == approx(sum(parts.values()))
    assert report.energy_per_mac_pj == approx(sum(parts.values()) / 4)
    assert report.area_um2 == approx(accel_cost(ONE).area_um2)


def test_weight_stationary_activity_by_hand():
    config = accel(dataflow="ws")
    # M = 3, N = 2, K = 4: one column block, two folds of 2 beats.
    a = gemm_activity(config, 3, 2, 4)
    assert a.cycles.tiles == 2
    assert a.slots == 2 * 3            # each fold issues the 3 activation rows
    assert a.pe_beats == 6 * 4         # each reaches the 4 PEs
    assert a.useful_pe_beats == 3 * 2 * 4
    assert a.shadow_loads == a.w_reads == 2 * 2  # each fold loads both shadow rows
    assert a.rows_out == a.rows_written == 6
    report = gemm_energy(config, 3, 2, 4)
    shadow = 8 * (REG.energy_pj + MUX.energy_pj)
    assert report.energy_by_group_pj["shadow"] == approx(4 * 2 * shadow)
    assert report.energy_by_group_pj["deskew"] == approx(6 * 32 * REG.energy_pj)
    add = int_adder(32, TECH_28NM).energy_pj + 32 * MUX.energy_pj
    assert report.energy_by_group_pj["edge_adders"] == approx(6 * 2 * add)


def test_padding_beats_are_charged():
    # An 8 x 8 output on a 16 x 16 array: the valid beat reaches all 256 PEs, 64 of them with
    # the GEMM's data.
    config = ARRAY_PRESETS["array_int_mac_os_16x16"]
    report = gemm_energy(config, 8, 8, 16)
    assert report.pe_beats == 16 * 256 == 4 * report.useful_pe_beats
    assert report.energy_by_group_pj["pes"] == approx(
        report.pe_beats * pe_cost(config.pe, weight_register=False).energy_per_beat_pj)


@pytest.mark.parametrize("name", ["array_bitserial_int4_a8_os_4x4", "array_lut_w2_a8_os_4x4",
                                  "array_bitserial_mix_fp16_os_8x8"])
def test_a_multi_cycle_beat_is_charged_once(name):
    # Bit-serial and bit-plane PEs spend several cycles on a beat; the PE model's beat energy
    # covers all of them, so the array charges it once per beat, not once per cycle: on a
    # GEMM that fills the array, the PEs' energy per MAC is the PE model's.
    config = ARRAY_PRESETS[name]
    arr, pe = config.array, config.pe
    step = pe.timing(pe.weight_formats[0]).cycles
    assert step > 1
    m, n, k = 2 * arr.rows, arr.cols, 2 * (pe.group_size or 4 * arr.lanes)
    report = gemm_energy(config, m, n, k)
    assert report.pe_beats == report.useful_pe_beats == m * n * k // arr.lanes
    # (the schedule counts the PEs' busy cycles, the last beat's own after the first)
    slots = report.pe_beats // (arr.rows * arr.cols)
    assert gemm_cycles(config, m, n, k).compute_slots == step * slots - step + 1
    assert report.energy_by_group_pj["pes"] / (m * n * k) == approx(
        pe_cost(pe, weight_register=False).energy_per_mac_pj)


@pytest.mark.parametrize("name", list(ARRAY_PRESETS))
def test_energy_parts_add_up(name):
    config = ARRAY_PRESETS[name]
    report = gemm_energy(config, 8, 8, 128)
    cost = accel_cost(config)
    assert list(report.energy_by_group_pj) == ([g.name for g in cost.groups]
                                               + ["a_buffer", "w_buffer", "o_buffer"])
    assert set(report.energy_by_category_pj) <= set(CATEGORIES)
    assert all(v >= 0 for v in report.energy_by_group_pj.values())
    assert report.energy_pj == approx(sum(report.energy_by_group_pj.values()))
    assert report.energy_pj == approx(sum(report.energy_by_category_pj.values()))
    assert report.latency_cycles == gemm_cycles(config, 8, 8, 128).total
    assert 0 < report.energy_per_mac_pj < 100 and report.pe_beats >= report.useful_pe_beats


def test_reports_add_as_runs_in_sequence():
    small, big = ARRAY_PRESETS["array_int_mac_os_4x4"], ARRAY_PRESETS["array_fp16_mac_os_8x8"]
    r1, r2 = gemm_energy(small, 4, 4, 16), gemm_energy(big, 8, 8, 32)
    total = r1 + r2
    assert total.area_um2 == max(r1.area_um2, r2.area_um2)
    assert total.latency_cycles == r1.latency_cycles + r2.latency_cycles
    assert total.macs == 4 * 4 * 16 + 8 * 8 * 32
    assert total.energy_pj == approx(r1.energy_pj + r2.energy_pj)
    assert total.energy_by_group_pj["pes"] == approx(
        r1.energy_by_group_pj["pes"] + r2.energy_by_group_pj["pes"])
    assert total.energy_pj == approx(sum(total.energy_by_category_pj.values()))
    assert sum([r1, r2]) == total
    assert AccelReport.zero() + r1 == r1
    assert math.isnan(AccelReport.zero().energy_per_mac_pj)
    assert AccelReport.zero().to_dict()["energy_per_mac_pj"] is None


def test_45nm_costs_more_than_28nm():
    config = ARRAY_PRESETS["array_int_mac_ws_8x8"]
    assert accel_cost(config, TECH_45NM).area_um2 > accel_cost(config, TECH_28NM).area_um2
    assert (gemm_energy(config, 8, 8, 64, TECH_45NM).energy_pj
            > gemm_energy(config, 8, 8, 64, TECH_28NM).energy_pj)


# --------------------------------------------------------------------------------------------
# Comparisons
# --------------------------------------------------------------------------------------------

def test_equal_throughput_and_equal_area_agree():
    designs = {n: ARRAY_PRESETS[n] for n in THREE}
    tp = compare_arrays(designs, 16, 16, 128, mode="throughput", target=100.0)
    ar = compare_arrays(designs, 16, 16, 128, mode="area", target=2e5)
    for t, a in zip(tp, ar, strict=True):
        report = gemm_energy(designs[t.design], 16, 16, 128)
        assert t.design == a.design
        assert t.macs_per_cycle == approx(16 * 16 * 128 / report.latency_cycles)
        assert t.energy_per_mac_pj == a.energy_per_mac_pj == approx(report.energy_per_mac_pj)
        assert t.scaled_macs_per_cycle == approx(100.0)
        assert a.scaled_area_um2 == approx(2e5)
        # Area at equal throughput x throughput at equal area = the product of the targets.
        assert t.scaled_area_um2 * a.scaled_macs_per_cycle == approx(100.0 * 2e5)
        assert a.scaled_latency_cycles == approx(16 * 16 * 128 / a.scaled_macs_per_cycle)
        assert 0 < t.utilization <= 1
    # The cheaper design at equal throughput is the faster one at equal area.
    assert (min(tp, key=lambda r: r.scaled_area_um2).design
            == max(ar, key=lambda r: r.scaled_macs_per_cycle).design)


def test_the_first_design_sets_the_default_target():
    designs = {n: ARRAY_PRESETS[n] for n in THREE}
    for mode in ("throughput", "area"):
        rows = compare_arrays(designs, 16, 16, 128, mode=mode)
        assert rows[0].copies == 1.0
        assert [r.design for r in rows] == list(THREE)
    text = render_rows(rows)
    assert len(text.splitlines()) == 4 and all(n in text for n in THREE)


def test_a_ws_array_of_the_same_pes_costs_registers_not_pes():
    os_, ws = accel(rows=8, cols=8, depth=256), accel(rows=8, cols=8, depth=256, dataflow="ws")
    rows = compare_arrays({"os": os_, "ws": ws}, 8, 8, 64, mode="throughput")
    c_os, c_ws = accel_cost(os_), accel_cost(ws)
    # The same PEs, but only the weight-stationary ones keep their 8-bit weight registers
    # (with the load select): the output-stationary ones stream their weights.
    weight_registers = 64 * 8 * (REG.area_um2 + MUX.area_um2)
    assert c_os.group("pes").area_um2 == approx(c_ws.group("pes").area_um2 - weight_registers)
    # The weight-stationary array adds shadow and de-skew registers and edge adders.
    assert c_ws.area_um2 > c_os.area_um2
    assert rows[1].area_um2 == approx(c_ws.area_um2)


def test_pe_without_weight_register():
    for config in (INT8, FP16, PRESETS["mixpe_w4a8"], PRESETS["bitserial_int4_a8"]):
        full, streaming = pe_cost(config), pe_cost(config, weight_register=False)
        assert "weight_register" in full.breakdown
        assert "weight_register" not in streaming.breakdown
        wreg = full.breakdown["weight_register"]
        assert streaming.area_um2 == approx(full.area_um2 - wreg.area_um2)
        assert streaming.energy_per_beat_pj < full.energy_per_beat_pj
    # An output-stationary grid of any organisation prices no weight register.
    for name in ("array_bitserial_int4_a8_os_4x4", "array_lut_w2_a8_os_4x4"):
        pe = ARRAY_PRESETS[name].array.pe
        pes = accel_cost(ARRAY_PRESETS[name]).group("pes")
        assert pes.unit.area_um2 == approx(pe_cost(pe, weight_register=False).area_um2)
    dq = ARRAY_PRESETS["array_dequant_mac_os_4x4_shared"]
    assert accel_cost(dq).group("pes").unit.area_um2 == approx(
        pe_cost(dq.array.pe.mac, weight_register=False).area_um2)
    grids = (mixpe_shared_parts(PRESETS["mixpe_w4a8"], 1, TECH_28NM)[0],
             bitserial_shared_parts(PRESETS["bitserial_int4_a8"], TECH_28NM)[0],
             lut_shared_parts(ARRAY_PRESETS["array_lut_w2_a8_os_4x4_shared"].array.pe, 1,
                              TECH_28NM)[0])
    for grid in grids:
        assert "weight_register" not in grid and "forwarding_registers" in grid
    with pytest.raises(TypeError, match="weight_register must be a bool, not 'no'"):
        pe_cost(INT8, weight_register="no")


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("call, error, message", [
    (lambda: accel_cost(PRESETS["int_mac_w8a8"]), TypeError,
     "accel must be an AccelConfig, not IntMacConfig"),
    (lambda: accel_cost(ONE, "28"), TypeError, "tech must be a Technology, not str"),
    (lambda: gemm_energy(ONE.array, 1, 1, 4), TypeError,
     "accel must be an AccelConfig, not ArrayConfig"),
    (lambda: gemm_energy(ONE, 0, 1, 4), ValueError, "M must be in [1, 1073741824], not 0"),
    (lambda: gemm_energy(ONE, 1, 1, 20), ValueError,
     "M=1, N=1, K=20 needs 20 words of the a buffer, more than a_depth=4"),
    (lambda: compare_arrays([ONE], 1, 1, 4), TypeError,
     "designs must be a mapping of name -> AccelConfig, not list"),
    (lambda: compare_arrays({"pe": INT8}, 1, 1, 4), TypeError,
     "designs['pe'] must be an AccelConfig, not IntMacConfig"),
    (lambda: compare_arrays({}, 1, 1, 4), ValueError,
     "designs must name at least one AccelConfig"),
    (lambda: compare_arrays({"one": ONE}, 1, 1, 4, mode="power"), ValueError,
     "mode must be one of 'throughput', 'area', not 'power'"),
    (lambda: compare_arrays({"one": ONE}, 1, 1, 4, target=0), ValueError,
     "target must be a finite number in (0, 1e+15] (useful MACs per cycle), not 0"),
    (lambda: compare_arrays({"one": ONE}, 1, 1, 4, mode="area", target=math.inf), ValueError,
     "target must be a finite number in (0, 1e+15] (um^2 of logic), not inf"),
    (lambda: compare_arrays({"one": ONE}, 1, 1, 4, target=math.nan), ValueError,
     "target must be a finite number in (0, 1e+15] (useful MACs per cycle), not nan"),
    (lambda: compare_arrays({"one": ONE}, 1, 1, 4, target="10"), TypeError,
     "target must be a number (useful MACs per cycle), not '10'"),
    (lambda: compare_arrays({"one": ONE, "fp": ARRAY_PRESETS["array_fp16_mac_ws_4x4"]},
                            16, 16, 128), ValueError,
     # 16 row blocks x 128 beats of activation words.
     "design 'one' cannot run this GEMM: M=16, N=16, K=128 needs 2048 words of the a buffer, "
     "more than a_depth=4"),
    (lambda: UnitGroup("x", "buffers", 1, ComponentCost.zero(), "read", lambda a: 0),
     ValueError, "category must be one of 'pes', 'shared', 'registers', 'edge', 'control', "
     "not 'buffers'"),
])
def test_errors_name_the_parameter(call, error, message):
    with pytest.raises(error) as e:
        call()
    assert str(e.value) == message


# --------------------------------------------------------------------------------------------
# Shared organisation
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("pe", ["mixpe_w4a8", "mixpe_w4a16"])
def test_shared_dequantizers_pay_off(pe):
    """MixPE's argument at array level: the dequantizer leaves the R x C grid for C column
    units, so the array is smaller for the same throughput and cycles; the moved units appear
    in the "shared" category and the grid PE is the standalone PE minus its dequantizer."""
    alone = AccelConfig(array=ArrayConfig(pe=PRESETS[pe], rows=8, cols=8))
    shared = AccelConfig(array=ArrayConfig(pe=PRESETS[pe], rows=8, cols=8,
                                           organisation="shared"))
    a, s = accel_cost(alone), accel_cost(shared)
    assert s.area_um2 < 0.75 * a.area_um2
    assert "shared" not in a.area_by_category_um2() and s.area_by_category_um2()["shared"] > 0
    assert s.group("pes").area_um2 < a.group("pes").area_um2
    assert s.peak_macs_per_cycle == a.peak_macs_per_cycle
    units = [g for g in s.groups if g.name.startswith("column_dequantizers")]
    assert sum(g.count for g in units) == 8      # 32 beats per group: one unit per column
    ea, es = gemm_energy(alone, 8, 8, 256), gemm_energy(shared, 8, 8, 256)
    assert es.latency_cycles == ea.latency_cycles
    # Each grid PE hands off one group per 32 beats; every hand-off is one unit action.
    acts = gemm_activity(shared, 8, 8, 256)
    assert sum(g.per_gemm(acts) for g in units) == acts.pe_beats // 32
    assert es.energy_by_category_pj["shared"] > 0


def test_shared_units_follow_the_group_length():
    """Groups shorter than the column: one unit per beats_per_group rows, the last serving
    the remainder."""
    pe = replace(PRESETS["mixpe_w4a8"], group_size=8)    # 2 beats per group
    cost = accel_cost(AccelConfig(array=ArrayConfig(pe=pe, rows=5, cols=3,
                                                    organisation="shared")))
    units = {g.name: g.count for g in cost.groups if g.name.startswith("column_dequant")}
    assert units == {"column_dequantizers_2_rows": 6, "column_dequantizers_1_rows": 3}


def test_paper_scale_arrays_are_priced():
    """The papers' own shapes (cost-model configs): buffers within the paper's capacities,
    every one runs a GEMM that fits them, and the shared MixPE array is the smaller one."""
    for name, config in PAPER_ARRAYS.items():
        cost = accel_cost(config)
        assert cost.buffer_bits <= (256 + 128 + 128) * 8192, name
        assert gemm_cycles(config, 64, 64, 512).total > 0
    assert PAPER_ARRAYS["mixpe_w4a8_64x64"].array.pes == 4096
    shared = accel_cost(PAPER_ARRAYS["mixpe_w4a8_64x64"]).area_um2
    alone = accel_cost(PAPER_ARRAYS["mixpe_w4a8_64x64_standalone"]).area_um2
    assert shared < 0.5 * alone


def test_dequantizing_once_per_column():
    """A shared dequantize-then-MAC array: the grid is of FP16 MACs and the dequantizers are
    one per column; the array shrinks by (R - 1) x C dequantizers, plus a wait register per
    row."""
    pe = PRESETS["dequant_mac_w4a16"]
    alone = AccelConfig(array=ArrayConfig(pe=pe, rows=8, cols=8))
    shared = AccelConfig(array=ArrayConfig(pe=pe, rows=8, cols=8, organisation="shared"))
    a, s = accel_cost(alone), accel_cost(shared)
    # (FP16 MACs streaming their weights: no weight register)
    assert s.group("pes").unit.area_um2 == approx(pe_cost(pe.mac, weight_register=False).area_um2)
    assert s.group("column_dequantizers").count == 8
    assert s.area_um2 < a.area_um2
    assert gemm_energy(shared, 8, 8, 256).latency_cycles == gemm_energy(alone, 8, 8,
                                                                        256).latency_cycles


def test_lut_row_tables_and_column_dequantizers():
    """A shared LUT array: one table precompute per row and one dequantizer per column
    instead of one of each per PE. The grid PE is the standalone PE less both; an 8 x 8 array
    shrinks and spends less energy per MAC, in the same cycles."""
    pe = replace(PRESETS["lut_w2_a8"], rows=1, cols=1)
    alone_cfg = AccelConfig(array=ArrayConfig(pe=pe, rows=8, cols=8))
    shared_cfg = AccelConfig(array=ArrayConfig(pe=pe, rows=8, cols=8, organisation="shared"))
    alone, shared = accel_cost(alone_cfg), accel_cost(shared_cfg)
    assert shared.group("row_tables").count == 8
    units = [g for g in shared.groups if g.name.startswith("column_dequantizers")]
    assert [(g.name, g.count) for g in units] == [("column_dequantizers_8_rows", 8)]
    # The grid PE loses the precompute and the dequantizer: what the row and column units
    # add back is less than what the 64 PEs lose.
    pe_saving = alone.group("pes").area_um2 - shared.group("pes").area_um2
    added = shared.group("row_tables").area_um2 + sum(g.area_um2 for g in units)
    assert 0 < added < pe_saving
    assert shared.area_um2 < alone.area_um2
    ea, es = gemm_energy(alone_cfg, 8, 8, 1024), gemm_energy(shared_cfg, 8, 8, 1024)
    assert es.latency_cycles == ea.latency_cycles
    assert es.energy_per_mac_pj < ea.energy_per_mac_pj
    # One unit action per group hand-off of every grid PE (32 beats per group).
    acts = gemm_activity(shared_cfg, 8, 8, 1024)
    assert sum(g.per_gemm(acts) for g in units) == acts.pe_beats // 32


def test_lut_column_units_follow_the_group_length():
    """Short groups: one unit per ``shared_unit_rows`` rows, the last serving the rest; a
    2 x 64 array (the paper's tile shape) has one unit per column serving both rows, and its
    rows are read from the units' accumulators by the row mux: only the first columns, whose
    accumulators the next output's first group (a W2 group: 64 cycles) would overwrite before
    the read-out 63 + L cycles later, are read early and carry their results in registers
    (the unit's wait of dq_cycles - 2 = 9 cycles: 9 + 8 + ... + 1 of them instead of a
    64-column de-skew triangle), and the shared array is smaller than the standalone one."""
    pe = replace(PRESETS["lut_w2_a8"], rows=1, cols=1, group_size=12, scale_bits=2,
                 acc_bits=24)                                    # 4 rows per unit
    cost = accel_cost(AccelConfig(array=ArrayConfig(pe=pe, rows=5, cols=3,
                                                    organisation="shared")))
    units = {g.name: g.count for g in cost.groups if g.name.startswith("column_dequant")}
    assert units == {"column_dequantizers_4_rows": 3, "column_dequantizers_1_rows": 3}
    wide = accel_cost(ARRAY_PRESETS["array_lut_w2_a8_os_2x64_shared"])
    assert wide.group("column_dequantizers_2_rows").count == 64
    arr = ARRAY_PRESETS["array_lut_w2_a8_os_2x64_shared"].array
    assert arr.foot_read_delays == tuple(max(0, 9 - k) for k in range(64))
    assert wide.group("deskew").count == sum(arr.foot_read_delays) == 45
    assert wide.group("row_mux").count == 64
    # The zero points and scales wait in the held register for all but the last columns.
    meta = arr.pe.ports.weight.width - arr.grid_ports.weight.width
    assert wide.group("group_metadata").count == meta * (64 + 1 + 2 + 3)
    alone = accel_cost(replace(ARRAY_PRESETS["array_lut_w2_a8_os_2x64_shared"],
                               array=replace(arr, organisation="standalone")))
    assert wide.area_um2 < alone.area_um2


def test_shared_mixpe_arrays_read_the_row_accumulators():
    """MixPE's groups of 32 beats outlast the read-out of every preset's columns: no column
    is read early, the rows leave through the row mux as the standalone array's do."""
    for name in ("array_mixpe_w4a8_os_8x8_shared", "array_mixpe_w4a16_os_4x4_shared"):
        cost = accel_cost(ARRAY_PRESETS[name])
        assert "deskew" not in {g.name for g in cost.groups}
        assert cost.group("row_mux").count == ARRAY_PRESETS[name].array.cols
    paper = PAPER_ARRAYS["mixpe_w4a8_64x64"].array
    assert not any(paper.foot_read_delays)
    assert "deskew" not in {g.name for g in accel_cost(PAPER_ARRAYS["mixpe_w4a8_64x64"]).groups}


def _bitserial_pair(pe, rows=8, cols=8):
    return (AccelConfig(array=ArrayConfig(pe=pe, rows=rows, cols=cols)),
            AccelConfig(array=ArrayConfig(pe=pe, rows=rows, cols=cols, organisation="shared")))


def test_weight_encoder_once_per_column():
    """BitMoD's weight encoder at the top of each column instead of in every PE: for its
    mixture of INT8, INT6 and FP4/FP3 tables, a grid PE plus its share of a column encoder
    is cheaper than a standalone PE, the array is smaller and spends less energy, and the
    GEMM takes the encoder's register, one cycle, longer."""
    pe = PRESETS["bitserial_mix_a16"]
    alone, shared = _bitserial_pair(pe)
    a, s = accel_cost(alone), accel_cost(shared)
    encoders = s.group("column_encoders")
    assert encoders.count == 8 and encoders.category == "shared"
    assert s.group("head_wait").count == 8
    assert "column_encoders" not in {g.name for g in a.groups}
    grid = s.group("pes").unit.area_um2
    assert grid < pe_cost(pe).area_um2
    assert grid + encoders.unit.area_um2 / 8 < pe_cost(pe).area_um2
    assert s.area_um2 < a.area_um2
    # The encoder a column has is the one each standalone PE has, and a register.
    assert encoders.unit.area_um2 > pe_cost(pe).breakdown["weight_encoder"].area_um2
    ea, es = gemm_energy(alone, 8, 8, 256), gemm_energy(shared, 8, 8, 256)
    assert es.energy_pj < ea.energy_pj
    assert es.latency_cycles == ea.latency_cycles + 1
    acts = gemm_activity(shared, 8, 8, 256)
    assert encoders.per_gemm(acts) == acts.slots * 8


def test_weight_encoder_cost_follows_the_formats():
    """More data types, more tables: the encoder of every format costs more than BitMoD's
    four; INT4 alone is a slice of the code (no logic), so sharing it saves nothing and the
    shared array pays for the encoders' registers and the rows' wait."""
    mix, every = PRESETS["bitserial_mix_a16"], PRESETS["bitserial_all_a8"]
    enc = {p: pe_cost(p).breakdown["weight_encoder"].area_um2 for p in (mix, every)}
    assert 0 < enc[mix] < enc[every]
    int4 = PRESETS["bitserial_int4_a8"]
    assert pe_cost(int4).breakdown["weight_encoder"].area_um2 == 0
    alone, shared = _bitserial_pair(int4)
    assert accel_cost(shared).area_um2 > accel_cost(alone).area_um2


def test_a_double_buffer_doubles_the_words_not_the_access_energy():
    """Two banks: every buffer holds twice the words, an access costs one bank's energy, the
    array's units are unchanged and only the controller grows (bank registers, the drain's
    own end and bank, the bank-offset adders)."""
    one = ARRAY_PRESETS["array_int_mac_os_4x4"]
    two = replace(one, double_buffer=True)
    c1, c2 = accel_cost(one), accel_cost(two)
    assert c2.buffer_bits == 2 * c1.buffer_bits
    for b1, b2 in zip(c1.buffers, c2.buffers, strict=True):
        assert b2.depth == 2 * b1.depth and b2.access == b1.access
    changed = {g1.name for g1, g2 in zip(c1.groups, c2.groups, strict=True) if g1 != g2}
    assert changed and all(name.startswith("control") for name in changed), changed
    assert c2.area_um2 > c1.area_um2
