"""Arrays and the accelerator: configs, golden model, cycle formula, and the RTL in amaranth.sim.

The end-to-end runs load operands through the stream ports, run the GEMM, read Y back and
compare it bit-exactly with :func:`array_gemm`, and the cycle counter with
:func:`gemm_cycles`. The cocotb runs of the generated Verilog are in ``test_cocotb.py``.
"""

import gc
import json
import warnings
from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest
from amaranth import Const
from amaranth.back import rtlil
from amaranth.hdl import UnusedElaboratable
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out
from amaranth.sim import Simulator
from source_mutant import source_mutant

from mpgemm.costmodel.array import gemm_cycles, stream_cycles
from mpgemm.hw.array import accel as accel_mod
from mpgemm.hw.array import mesh as mesh_mod
from mpgemm.hw.array.accel import Accelerator
from mpgemm.hw.array.config import AccelConfig, ArrayConfig, accel_from_dict
from mpgemm.hw.array.presets import ARRAY_PRESETS
from mpgemm.hw.array.shared import grid_component
from mpgemm.hw.contract import layout_of
from mpgemm.pe_designs.bitserial import BitSerialConfig
from mpgemm.pe_designs.bitserial import rtl as bitserial_rtl
from mpgemm.pe_designs.lut import rtl as lut_rtl
from mpgemm.pe_designs.mixpe.rtl import MixPEColumnDequant
from mpgemm.pe_designs.presets import PRESETS
from mpgemm.pe_designs.registry import build_component
from mpgemm.sim.golden.array import array_gemm
from mpgemm.sim.golden.contract import QuantizedWeights, gemm
from mpgemm.sim.golden.fp import fp32_add
from mpgemm.sim.stimulus import random_gemm
from mpgemm.sim.stimulus.array import AccelDriver, cancelling_gemm, gemm_shapes, sequence_shapes

#: amaranth.sim runs of several seconds: `make test` runs them, `make test-fast` a lighter
#: case of the same test.
SLOW = pytest.mark.sim

INT8 = PRESETS["int_mac_w8a8"]  # 4 lanes
#: An integer PE whose accumulator holds only 8 products: K splits into chunks at the edge.
SHORT = replace(INT8, lanes=2, k_max=8, acc_bits=20)
#: Dequantize-then-MAC with groups of 8, so that small GEMMs hold several groups.
DQ8 = replace(PRESETS["dequant_mac_w4a16_l4"], group_size=8)


def accel(pe=INT8, rows=3, cols=2, dataflow="os", **kw) -> AccelConfig:
    kw = {"a_depth": 64, "w_depth": 64, "o_depth": 64} | kw
    return AccelConfig(array=ArrayConfig(pe=pe, rows=rows, cols=cols, dataflow=dataflow), **kw)


# --- configs -------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, error, message", [
    ({"rows": 0}, ValueError, "rows must be in [1, 128], not 0"),
    ({"cols": 1.5}, TypeError, "cols must be an integer, not 1.5"),
    ({"dataflow": "is"}, ValueError, "dataflow must be one of 'os', 'ws', not 'is'"),
    ({"rows": 4, "tile_rows": 3}, ValueError, "tile_rows=3 and tile_cols=1 must divide rows=4"),
    ({"pe": "int_mac"}, TypeError, "expected a PE config of a registered family"),
    ({"pe": PRESETS["lut_w2_a8"]}, ValueError, "pe must be a PE (tile_shape (1, 1, k)), not a"),
    ({"pe": PRESETS["bitserial_int4_a8"], "dataflow": "ws"}, ValueError,
     "dataflow='ws' is not built for the bitserial PE (its dataflows: 'os')"),
    ({"pe": PRESETS["mixpe_w4a8"], "dataflow": "ws"}, ValueError,
     "dataflow='ws' is not built for the mixpe PE (its dataflows: 'os')"),
    ({"pe": SHORT, "rows": 5, "dataflow": "ws"}, ValueError,
     "rows=5 x 2 lanes products per fold exceed the PE's k_max=8"),
    ({"organisation": "edge"}, ValueError,
     "organisation must be one of 'standalone', 'shared', not 'edge'"),
    ({"organisation": "shared"}, ValueError,
     "organisation='shared' is not built for the int_mac PE (its organisations: "
     "'standalone')"),
    ({"pe": PRESETS["dequant_mac_w4a16"], "organisation": "shared", "dataflow": "ws"},
     ValueError, "organisation='shared' is built output-stationary only, not with "
     "dataflow='ws'"),
])
def test_array_config_errors(kwargs, error, message):
    with pytest.raises(error) as e:
        ArrayConfig(**({"pe": INT8} | kwargs))
    assert message in str(e.value)


def test_accel_config_errors():
    with pytest.raises(ValueError, match=r"a_depth must be in \[1, 65536\], not 0"):
        accel(a_depth=0)
    with pytest.raises(ValueError, match="out_bits must be in \\[32, 64\\], not 16"):
        accel(out_bits=16)
    with pytest.raises(ValueError, match="out_bits must be None for a PE whose partial sums "
                                         "are fp32, not 40"):
        accel(pe=PRESETS["fp16_mac"], out_bits=40)
    with pytest.raises(TypeError, match="array must be an ArrayConfig"):
        AccelConfig(array=INT8)
    with pytest.raises(TypeError, match="double_buffer must be True or False, not 1"):
        accel(double_buffer=1)


@pytest.mark.parametrize("shape, message", [
    ((0, 4, 8), "M must be in [1, 1073741824], not 0"),
    ((4, 4, 6), "K=6 must be a multiple of 4 (4 products per beat)"),
    ((100, 4, 8), "M=100, N=4, K=8 needs 68 words of the a buffer, more than a_depth=64"),
    ((4, 300, 8), "needs 300 words of the w buffer, more than w_depth=64"),
])
def test_check_gemm_errors(shape, message):
    with pytest.raises(ValueError) as e:
        accel().check_gemm(*shape)
    assert message in str(e.value)


def test_check_gemm_group_and_accumulator_limits():
    with pytest.raises(ValueError, match=r"K=12 must be a multiple of 8 \(4 products per beat "
                                         r"and group_size=8\)"):
        accel(pe=DQ8).check_gemm(2, 2, 12)
    # 8 products per chunk, 20-bit PE accumulators, 22-bit edge: at most 8 * 4 products.
    a = accel(pe=SHORT, out_bits=22)
    a.check_gemm(1, 1, 32)
    with pytest.raises(ValueError, match="K=34 exceeds 32, the longest sum the 22-bit output "
                                         "accumulators hold; raise out_bits"):
        a.check_gemm(1, 1, 34)


def test_accel_round_trip_and_bad_dicts():
    for config in [*ARRAY_PRESETS.values(), accel(pe=SHORT, out_bits=30, dataflow="ws"),
                   accel(double_buffer=True)]:
        assert accel_from_dict(json.loads(json.dumps(config.to_dict()))) == config
    good = accel().to_dict()
    with pytest.raises(ValueError, match="unknown accel parameter\\(s\\) 'depth'"):
        accel_from_dict(good | {"depth": 3})
    with pytest.raises(ValueError, match="array config needs kind='array', not None"):
        accel_from_dict(good | {"array": {"rows": 2}})
    with pytest.raises(TypeError, match="accel config must be a mapping, not list"):
        accel_from_dict([good])


# --- golden model --------------------------------------------------------------------------

@pytest.mark.parametrize("pe", [INT8, PRESETS["fp16_mac_l4"], DQ8], ids=lambda p: p.kind)
def test_one_chunk_is_the_pe_gemm(pe):
    """Output-stationary without a K split, or a single weight-stationary fold: the PE's GEMM."""
    rng = np.random.default_rng(3)
    for dataflow, k in (("os", 48), ("ws", 8)):
        a, w = random_gemm(pe, rng, 5, k, 3)
        cfg = accel(pe=pe, dataflow=dataflow, rows=2 if dataflow == "ws" else 3)
        assert (array_gemm(cfg, a, w) == gemm(pe, a, w)).all()


def test_integer_chunks_add_up_exactly():
    rng = np.random.default_rng(4)
    a = rng.integers(-128, 128, (3, 40))
    w = QuantizedWeights(rng.integers(-128, 128, (40, 5)))
    for dataflow in ("os", "ws"):
        y = array_gemm(accel(pe=SHORT, dataflow=dataflow, out_bits=32), a, w)
        assert (y == a @ w.codes).all()


def test_fp32_folds_are_added_at_the_edge_in_order():
    pe = PRESETS["fp16_mac"]
    rng = np.random.default_rng(5)
    a, w = random_gemm(pe, rng, 4, 7, 3)
    cfg = accel(pe=pe, dataflow="ws", rows=3)
    folds = [gemm(pe, a[:, k:k + 3] if k + 3 <= 7 else np.pad(a[:, k:], ((0, 0), (0, k + 3 - 7))),
                  QuantizedWeights(np.pad(w.codes[k:k + 3], ((0, max(0, k + 3 - 7)), (0, 0)))))
             for k in (0, 3, 6)]
    assert (array_gemm(cfg, a, w) == fp32_add(fp32_add(folds[0], folds[1]), folds[2])).all()


def _as_f64(fp32_bits):
    return np.asarray(fp32_bits, np.uint32).view(np.float32).astype(np.float64)


@pytest.mark.parametrize("name", ["array_fp16_mac_ws_4x4", "array_fp16_mac_os_8x8"])
def test_cancelling_gemm_cancels(name):
    """The FP16-MAC accelerators' cancelling GEMMs: each output is far below its two halves'
    partial sums, by a depth that varies between outputs (the normalisers' leading one lands
    at many positions), output (0, 0) by 24 binades, and the last column's second half adds
    zero; other PEs get none."""
    config = ARRAY_PRESETS[name]
    rng = np.random.default_rng(3)
    depths = set()
    n = config.array.cols
    for column in range(4):
        a, w = cancelling_gemm(config, rng, column)
        deep, zero = column % n, (column - 1) % n
        half = a.shape[1] // 2
        first = gemm(config.pe, a[:, :half], QuantizedWeights(w.codes[:half]))
        y = array_gemm(config, a, w)
        big, small = np.abs(_as_f64(first)), np.abs(_as_f64(y))
        assert (w.codes[half:, zero] == 0).all() and (small[:, zero] == big[:, zero]).all()
        # Output (0, deep) is the deepest cancellation of all: 1 - (1 - 2^-24); its row and
        # column carry its operands.
        assert small[0, deep] == 2.0 ** -24 and big[0, deep] == 1.0
        others = [c for c in range(n) if c not in (deep, zero)]
        with np.errstate(divide="ignore"):
            d = np.log2(big[1:, others] / small[1:, others])
        assert np.median(d) > 6
        depths |= {int(x) for x in d[np.isfinite(d)].ravel()}
    assert len(depths) >= 8, sorted(depths)
    assert cancelling_gemm(ARRAY_PRESETS["array_int_mac_os_4x4"], rng) is None


# --- cycle formula -------------------------------------------------------------------------

def test_cycle_formula_by_hand():
    # 1x1 output-stationary, one beat: issue (cycle 1), read, register, the PE's beat, its
    # result (L = 1), the write: cycle 5.
    assert gemm_cycles(accel(rows=1, cols=1), 1, 1, 4).total == 5
    # 3x2, K of 12 beats, 2x2 output blocks of 12 beats each: 48 slots, then 3 + 2 + 1 + 1.
    c = gemm_cycles(accel(), 6, 4, 48)
    assert (c.total, c.compute_slots, c.idle_slots, c.tiles) == (48 + 7, 48, 0, 4)
    # One-beat blocks wait for the previous block's rows to leave: max(1, 3, 2) = 3 each.
    assert gemm_cycles(accel(), 6, 4, 4).total == 1 + 3 * 3 + 7
    # Weight-stationary: 2 column blocks x 2 folds, P = max(M=5, C=2, (R-1)L+1=3) = 5.
    assert gemm_cycles(accel(dataflow="ws"), 5, 4, 24).total == 3 * 5 + 5 + 3 + 2 + 2


def test_utilization_approaches_one_for_long_k():
    c = gemm_cycles(accel(rows=4, cols=4, a_depth=4096, w_depth=4096, out_bits=48), 4, 4,
                    4 * 4000)
    assert 0.99 < c.utilization <= 1


# --- RTL in amaranth.sim -------------------------------------------------------------------

def run_accel(config: AccelConfig, a, w, *, dut=None, stall: int = 3):
    """Load, run and read one GEMM in amaranth.sim; ``(Y, cycles)``. Every ``stall``-th cycle
    the host neither offers nor takes a word (back-pressure on both sides)."""
    m, k = np.asarray(a).shape
    n = w.shape[1]
    driver = AccelDriver(config)
    words = {"a": driver.a_words(a), "w": driver.w_words(w)}
    dut = dut or Accelerator(config)
    out: dict = {}
    # A watchdog, not the check: a hung design fails here after a few times the predicted
    # cycles (the host stalls one cycle in `stall`) rather than after a fixed 100,000.
    limit = 2 * stall * gemm_cycles(config, m, n, k, dtypes=w.dtypes).total + 1000

    async def bench(ctx):
        for name, port in (("a", dut.a_in), ("w", dut.w_in)):
            i = t = 0
            while i < len(words[name]):
                t += 1
                offer = t % stall != 0
                ctx.set(port.valid, offer)
                ctx.set(port.payload.as_value(), words[name][i])
                _, _, ready = await ctx.tick().sample(port.ready)
                i += int(offer and ready)
            ctx.set(port.valid, 0)
        ctx.set(dut.m, m)
        ctx.set(dut.n, n)
        ctx.set(dut.k_beats, k // config.array.lanes)
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        ys, t = [], 0
        while True:
            t += 1
            take = t % stall != 0
            ctx.set(dut.y_out.ready, take)
            _, _, valid, payload, busy = await ctx.tick().sample(
                dut.y_out.valid, dut.y_out.payload.as_value(), dut.busy)
            if take and valid:
                ys.append(payload)
            if not busy:
                break
            assert t < limit, f"the accelerator never finished ({t} cycles)"
        out["y"], out["cycles"] = ys, ctx.get(dut.cycles)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return driver.result(out["y"], m, n), out["cycles"]


def check_gemms(config: AccelConfig, seed: int, n_random: int = 2, dut=None) -> None:
    rng = np.random.default_rng(seed)
    for i, (m, n, k) in enumerate(gemm_shapes(config, rng, n_random)):
        a, w = random_gemm(config.pe, rng, m, k, n, extreme=bool(i % 2))
        y, cycles = run_accel(config, a, w, dut=dut)
        expected = array_gemm(config, a, w)
        assert (y == expected).all(), f"seed={seed} M={m} N={n} K={k}: Y differs"
        predicted = gemm_cycles(config, m, n, k, dtypes=w.dtypes).total
        assert cycles == predicted, f"seed={seed} M={m} N={n} K={k}: {cycles} != {predicted}"


@pytest.mark.parametrize("dataflow", ["os", "ws"])
@pytest.mark.parametrize("pe", [INT8, SHORT], ids=["int8x4", "k_max8"])
def test_integer_accel_end_to_end(pe, dataflow):
    check_gemms(accel(pe=pe, dataflow=dataflow, out_bits=40), seed=11)


@pytest.mark.sim
@pytest.mark.parametrize("dataflow", ["os", "ws"])
@pytest.mark.parametrize("pe", [PRESETS["fp16_mac_l4"], DQ8], ids=["fp16x4", "dequant_g8"])
def test_fp_accel_end_to_end(pe, dataflow):
    check_gemms(accel(pe=pe, dataflow=dataflow, rows=2, cols=3), seed=12, n_random=1)


#: Grouped PEs with small groups (several groups per GEMM, each outlasting its dequantization).
MIXPE = replace(PRESETS["mixpe_w4a8"], group_size=16)
BITSERIAL_MIX = replace(PRESETS["bitserial_mix_a16"], group_size=32)


@pytest.mark.sim  # amaranth.sim of 6 bit-serial PEs: tens of seconds, kept out of test-fast
@pytest.mark.parametrize("pe", [MIXPE, BITSERIAL_MIX], ids=["mixpe_w4a8", "bitserial_mix_a16"])
def test_grouped_accel_end_to_end(pe):
    """Whole quantization groups per output; the bit-serial array steps each beat at its
    slowest column's data type (a random per-group mixture of four), so the cycle count
    depends on the weights, and the cost model, given their data types, predicts it."""
    check_gemms(accel(pe=pe, rows=2, cols=3, a_depth=128, w_depth=128), seed=15, n_random=1)


@pytest.mark.sim
@pytest.mark.parametrize("pe", [replace(PRESETS["mixpe_w4a16"], group_size=16),
                                replace(PRESETS["bitserial_mix_fp16"], group_size=32)],
                         ids=["mixpe_w4a16", "bitserial_mix_fp16"])
def test_grouped_fp_accel_end_to_end(pe):
    check_gemms(accel(pe=pe, rows=2, cols=2, a_depth=128, w_depth=128), seed=16, n_random=0)


def test_bitserial_cycles_follow_the_slowest_column():
    """The cost model's beat length is the slowest column's data type, per group."""
    pe = BITSERIAL_MIX
    cfg = accel(pe=pe, rows=1, cols=2, a_depth=128, w_depth=128)
    terms = [pe.timing(f).cycles for f in pe.weight_formats]  # int8, int6, fp4, fp3
    fast = np.full((2, 2), terms.index(min(terms)))
    mixed = fast.copy()
    mixed[0, 1] = 0  # one group of one column in the slowest format
    groups_beats = pe.group_size // pe.lanes
    base = gemm_cycles(cfg, 1, 2, 64, dtypes=fast).total
    assert gemm_cycles(cfg, 1, 2, 64, dtypes=mixed).total - base == \
        groups_beats * (terms[0] - min(terms))
    # The last group's last beat: its own length overlaps the fixed trip through the array.
    mixed = fast.copy()
    mixed[1, 1] = 0
    assert gemm_cycles(cfg, 1, 2, 64, dtypes=mixed).total - base == \
        (groups_beats - 1) * (terms[0] - min(terms))
    assert gemm_cycles(cfg, 1, 2, 64, dtypes="int8").total == \
        gemm_cycles(cfg, 1, 2, 64, dtypes=np.zeros((2, 2), dtype=int)).total
    with pytest.raises(ValueError, match="dtypes 'int4' is not one of the PE's weight_formats"):
        gemm_cycles(cfg, 1, 2, 64, dtypes="int4")
    with pytest.raises(ValueError, match=r"dtypes must be an integer \[K / group_size, N\] = "
                                         r"\[2, 2\] array"):
        gemm_cycles(cfg, 1, 2, 64, dtypes=np.zeros((3, 2), dtype=int))


@pytest.mark.parametrize("shape", [(1, 1), (1, 3), (4, 1)])
def test_degenerate_grids(shape):
    check_gemms(accel(rows=shape[0], cols=shape[1]), seed=13, n_random=0)
    check_gemms(accel(rows=shape[0], cols=shape[1], dataflow="ws"), seed=13, n_random=0)


# --- shared organisation: MixPE's dequantizers at the foot of the columns ------------------

def shared(pe, rows, cols, **kw) -> AccelConfig:
    kw = {"a_depth": 128, "w_depth": 128, "o_depth": 64} | kw
    return AccelConfig(array=ArrayConfig(pe=pe, rows=rows, cols=cols, organisation="shared"),
                       **kw)


@pytest.mark.parametrize("pe, rows, cols, units", [
    (MIXPE, 2, 3, 1),                                            # 4 beats per group
    pytest.param(replace(MIXPE, group_size=8), 5, 2, 3, marks=SLOW),  # 2 beats: 3 units a column
    pytest.param(replace(MIXPE, group_size=8, weight_signed=True), 3, 2, 2,
                 marks=SLOW),                                    # no zero point
    pytest.param(replace(MIXPE, group_size=4, lanes=4), 2, 2, 2,
                 marks=SLOW),                                    # one-beat groups
    pytest.param(replace(MIXPE, group_size=8), 5, 4, 3, marks=SLOW),  # columns read early
], ids=["one_unit", "three_units", "signed", "one_beat_groups", "wide"])
def test_shared_mixpe_end_to_end(pe, rows, cols, units):
    """The same GEMMs, results and cycle counts as the standalone array (the golden model and
    the cycle formula are the standalone ones), with a column unit per ``beats_per_group``
    rows."""
    config = shared(pe, rows, cols)
    assert config.array.column_units == units
    check_gemms(config, seed=31, n_random=1)


@pytest.mark.sim
def test_shared_mixpe_fp16_end_to_end():
    check_gemms(shared(replace(PRESETS["mixpe_w4a16"], group_size=16), 2, 2), seed=32,
                n_random=0)


@pytest.mark.sim
@pytest.mark.parametrize("pe, rows, cols", [(DQ8, 2, 3), (replace(DQ8, lanes=1), 3, 2)],
                         ids=["four_lanes", "one_lane"])
def test_shared_dequant_mac_end_to_end(pe, rows, cols):
    """Dequantize-then-MAC with one dequantizer per column, at its top: the standalone
    array's results and cycles."""
    config = shared(pe, rows, cols)
    assert config.array.head_cycles == 1 and config.array.column_units == 0
    check_gemms(config, seed=41, n_random=1)


@pytest.mark.sim
def test_shared_dequant_mac_rows_must_wait_for_the_heads(monkeypatch):
    """Rows entering without the extra register: each PE pairs an activation with the
    previous beat's weight, and the check sees it."""
    monkeypatch.setattr(ArrayConfig, "head_cycles", property(lambda self: 0))
    with pytest.raises(AssertionError):
        check_gemms(shared(replace(DQ8, lanes=1), 2, 2), seed=42, n_random=0)


#: 1 x 1 LUT tiles: W2A8 with a zero point (exact tables), a mixture of all formats, FP16
#: activations with INT8 tables.
LUT1 = replace(PRESETS["lut_w2_a8"], rows=1, cols=1)


@pytest.mark.sim
@pytest.mark.parametrize("pe, rows, cols, organisation", [
    (LUT1, 2, 3, "standalone"), (LUT1, 2, 3, "shared"),
    (replace(PRESETS["lut_all_a8"], rows=1, cols=1), 2, 2, "standalone"),
    (replace(PRESETS["lut_all_a8"], rows=1, cols=1), 2, 2, "shared"),
    (replace(PRESETS["lut_w2_fp16"], rows=1, cols=1), 2, 2, "standalone"),
], ids=["w2a8-standalone", "w2a8-shared", "all_formats-standalone", "all_formats-shared",
        "fp16_int8_tables-standalone"])
def test_lut_arrays_end_to_end(pe, rows, cols, organisation):
    """Arrays of 1 x 1 LUT tiles, each with its own table and dequantizer, or with the row's
    table built once at the left edge and the groups dequantized at the columns' feet
    (integer activations): bit-exact, and the cycles of the per-column data types."""
    config = AccelConfig(array=ArrayConfig(pe=pe, rows=rows, cols=cols,
                                           organisation=organisation),
                         a_depth=256, w_depth=256, o_depth=64)
    check_gemms(config, seed=53, n_random=1)


@pytest.mark.sim
def test_lut_row_tables_must_be_combinational(monkeypatch):
    """A row head that registers its table (one cycle late for the grid): caught."""
    real = lut_rtl.LutPrecompute

    def registered(config, *, registered=True):
        return real(config, registered=True)
    monkeypatch.setattr(lut_rtl, "LutPrecompute", registered)
    config = AccelConfig(array=ArrayConfig(pe=LUT1, rows=2, cols=2, organisation="shared"),
                         a_depth=256, w_depth=256, o_depth=64)
    with pytest.raises(AssertionError):
        check_gemms(config, seed=55, n_random=0)


#: Short groups and scales so that a column needs several dequantizers: W2 with zero points
#: (dq_cycles 5, 4 rows per unit), binary weights without a correction (dq_cycles 2, one row
#: per unit; y leaves as computed) and with a 1-bit scale (dq_cycles 1: no stage register).
LUT_W2_G12 = replace(LUT1, group_size=12, scale_bits=2, acc_bits=24)
LUT_BIN_G8 = replace(LUT1, weight_formats=("binary",), group_size=8, scale_bits=2,
                     acc_bits=24)


@pytest.mark.parametrize("pe, rows, cols, units", [
    pytest.param(LUT1, 3, 2, 1, marks=SLOW),                             # 62 rows per unit
    pytest.param(LUT_W2_G12, 5, 2, 2, marks=SLOW),                       # 4 + 1 rows
    pytest.param(replace(LUT_W2_G12, weight_formats=("int2",), scale_signed=True), 3, 2, 1,
                 marks=SLOW),
    pytest.param(replace(LUT_W2_G12, weight_formats=("uint2", "int3"), group_size=16), 3, 2, 1,
                 marks=SLOW),
    (LUT_BIN_G8, 3, 2, 3),
    (replace(LUT_BIN_G8, scale_bits=1), 2, 2, 2),
    pytest.param(LUT_W2_G12, 5, 6, 2, marks=SLOW),                       # columns read early
    pytest.param(replace(LUT_W2_G12, weight_formats=("uint2", "int3"), group_size=16), 3, 5, 1,
                 marks=SLOW),
], ids=["one_unit", "two_units", "signed_scale", "two_formats", "binary_three_units",
        "one_cycle_dequant", "wide", "wide_two_formats"])
def test_shared_lut_end_to_end(pe, rows, cols, units):
    """The standalone array's results and cycles (golden model and cycle formula unchanged)
    with ``column_units`` dequantizers per column at its foot; the shapes include M = 1 and
    edge tiles on every loop."""
    config = shared(pe, rows, cols, a_depth=256, w_depth=256)
    assert config.array.column_units == units
    assert config.array.grid_ports.weight.width < pe.ports.weight.width  # no scale, zero
    check_gemms(config, seed=61, n_random=1)


def _foot_readout_mutant(monkeypatch, mutant: str) -> None:
    """A foot read-out with a deliberate bug: a column read a cycle after its row
    accumulator may be overwritten (``read_late``: a column that reads early reads one cycle
    less early), a cycle before the result is there (``read_early``), or the next row's
    accumulator (``wrong_row``)."""
    if mutant == "wrong_row":
        real = mesh_mod.Mesh._foot_readout

        def rotated(self, m, tiles, accs):
            return real(self, m, tiles, [a[1:] + a[:1] for a in accs])
        monkeypatch.setattr(mesh_mod.Mesh, "_foot_readout", rotated)
        return
    real_delays = ArrayConfig.foot_read_delays.fget
    step = {"read_late": -1, "read_early": 1}[mutant]

    def moved(self):
        return tuple(max(d + step, 0) for d in real_delays(self))
    monkeypatch.setattr(ArrayConfig, "foot_read_delays", property(moved))


@SLOW  # a deliberate bug caught: `make test`'s job, not the inner loop's
@pytest.mark.parametrize("mutant", ["metadata_early", "one_unit_only", "read_late",
                                    "wrong_row"])
def test_broken_shared_lut_arrays_fail(monkeypatch, mutant):
    """The zero point and scale reaching the units a cycle early (the least delay that keeps
    them until a unit's last row hands off), one unit serving rows whose hand-offs coincide,
    a column read once its accumulator may hold the next output's
    first group (the read delays are tight) and the wrong row read: all caught."""
    config = shared(LUT_W2_G12, 5, 6, a_depth=256, w_depth=256)
    assert any(config.array.foot_read_delays)
    if mutant == "metadata_early":
        real = mesh_mod.delayed

        def early(m, value, cycles, name):
            return real(m, value, max(cycles - ("_u" in name), 0), name)
        monkeypatch.setattr(mesh_mod, "delayed", early)
    elif mutant == "one_unit_only":
        # Binary groups of 2 one-cycle beats: rows 0 and 2 hand off together. The zero
        # point and scale delayed to the unit as to row 0 (foot_metadata_delay would refuse).
        config = shared(LUT_BIN_G8, 3, 2, a_depth=256, w_depth=256)
        monkeypatch.setattr(type(LUT_W2_G12), "shared_unit_rows", property(lambda self: 3))
        monkeypatch.setattr(ArrayConfig, "foot_metadata_delay", lambda self, col, unit: col)
    else:
        _foot_readout_mutant(monkeypatch, mutant)
    with pytest.raises(AssertionError):
        check_gemms(config, seed=62, n_random=0)


def test_shared_lut_configs():
    """What the shared LUT array is built for, and the errors naming the parameter."""
    grid = ArrayConfig(pe=LUT1, rows=2, cols=2, organisation="shared").grid_ports
    assert [n for n, _ in grid.weight.fields] == ["planes"]
    assert [n for n, _ in grid.psum.fields] == ["acc", "act_sum", "first", "last"]
    assert LUT1.shared_unit_rows == 31 * 2 and LUT1.shared_unit_waits == (LUT1.dq_cycles - 2,)
    fp16 = replace(PRESETS["lut_w2_fp16"], rows=1, cols=1)
    assert fp16.organisations == ("standalone",) and fp16.shared_unit_rows is None
    with pytest.raises(ValueError) as e:
        ArrayConfig(pe=fp16, organisation="shared")
    assert str(e.value) == (
        "organisation='shared' is not built for the lut PE (its organisations: 'standalone'): "
        "its column dequantizer takes integer activations: act_format must be one of 'int8', "
        "'int16', not 'fp16'")
    one_beat = replace(LUT1, weight_formats=("int8",), symmetric=False, group_size=4,
                       scale_bits=1, acc_bits=40)
    with pytest.raises(ValueError, match="organisation='shared' is not built for the lut PE "
                                         r"\(its organisations: 'standalone'\): group_size=4 "
                                         "leaves no row a column dequantizer can serve: use "
                                         "group_size >= 8"):
        ArrayConfig(pe=one_beat, organisation="shared")
    # Binary (1 plane) and uint8 (8 planes): a binary group's result waits 16 cycles in its
    # row's accumulator, and the row's next hand-off can come a group of binary beats later.
    mixed = replace(LUT1, weight_formats=("binary", "uint8"), group_size=64, scale_bits=2,
                    acc_bits=40)
    assert mixed.shared_unit_waits == (16, 9) and "shared" in mixed.organisations
    # Binary hands a group off 7 cycles before uint8: a zero point and scale delayed to a
    # unit of the last columns cannot be there for 15 rows of both (foot_metadata_delay).
    assert ArrayConfig(pe=mixed, rows=9, cols=64, organisation="shared").column_units == 1
    with pytest.raises(ValueError, match="cannot wait for all 15 rows of a column unit"):
        ArrayConfig(pe=mixed, rows=15, cols=64, organisation="shared")
    assert replace(mixed, group_size=60).shared_unavailable == (
        "group_size=60 is too short for a column dequantizer to keep a result until the "
        "slowest format's latency: use group_size >= 64")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnusedElaboratable)
        with pytest.raises(ValueError, match="rows must be 1 to shared_unit_rows=4"):
            lut_rtl.LutColumnDequant(LUT_W2_G12, 5)
        with pytest.raises(ValueError, match="config has no 'shared' organisation: its column "
                                             "dequantizer takes integer activations"):
            lut_rtl.LutColumnDequant(fp16, 1)
        gc.collect()


def test_lut_tiles_larger_than_one_pe_have_no_array():
    with pytest.raises(ValueError, match=r"pe must be a PE \(tile_shape \(1, 1, k\)\)"):
        ArrayConfig(pe=PRESETS["lut_w2_a8"])
    assert LUT1.dataflows == ("os",) and "shared" in LUT1.organisations


def test_shared_grid_pes_take_only_the_codes():
    array = ArrayConfig(pe=MIXPE, rows=2, cols=2, organisation="shared")
    assert [n for n, _ in array.grid_ports.weight.fields] == ["q"]
    assert [n for n, _ in array.grid_ports.psum.fields] == ["p", "a", "first", "last"]
    assert ArrayConfig(pe=MIXPE, rows=2, cols=2).grid_ports == MIXPE.ports


@SLOW  # a deliberate bug caught: `make test`'s job, not the inner loop's
@pytest.mark.parametrize("mutant", ["metadata_late", "one_unit_only", "read_early",
                                    "read_late", "wrong_row"])
def test_broken_shared_arrays_fail(monkeypatch, mutant):
    """The zero point and scale reaching the unit a cycle late (the next group's), one unit
    serving rows whose hand-offs coincide, and a foot read-out a cycle early (the row
    accumulator is written when a standalone PE's output would be), a cycle late or of the
    wrong row: all caught."""
    config = shared(replace(MIXPE, group_size=8), 5, 4)
    assert any(config.array.foot_read_delays)
    if mutant == "metadata_late":
        real = mesh_mod.delayed

        def late(m, value, cycles, name):
            return real(m, value, cycles + ("_u" in name), name)
        monkeypatch.setattr(mesh_mod, "delayed", late)
    elif mutant == "one_unit_only":
        # One unit serving all 5 rows, the zero point and scale delayed to it as to the
        # first row (foot_metadata_delay would refuse the unit).
        monkeypatch.setattr(ArrayConfig, "column_units", property(lambda self: 1))
        monkeypatch.setattr(type(MIXPE), "shared_unit_rows", property(lambda self: 5))
        monkeypatch.setattr(ArrayConfig, "foot_metadata_delay", lambda self, col, unit: col)
        monkeypatch.setattr(MixPEColumnDequant, "__init__", _unchecked_unit_init)
    else:
        _foot_readout_mutant(monkeypatch, mutant)
    with pytest.raises(AssertionError):
        check_gemms(config, seed=33, n_random=0)


def _unchecked_unit_init(self, config, rows, *, read_out=True):
    """MixPEColumnDequant.__init__ without its check that the served rows never collide."""
    self.config, self.rows, self.read_out = config, rows, read_out
    psum = layout_of(config.ports.psum)
    ports = {
        "i_hand": In(data.ArrayLayout(layout_of(config.shared_ports.psum), rows)),
        "i_hand_valid": In(rows), "i_zero": In(config.weight_bits),
        "i_scale": In(config.scale_port_bits)}
    if read_out:
        ports |= {"o_y": Out(psum), "o_valid": Out(1), "o_index": Out(range(rows))}
    else:
        ports["o_acc"] = Out(data.ArrayLayout(psum, rows))
    wiring.Component.__init__(self, ports)


def test_column_unit_rejects_rows_that_collide():
    # The rejected component exists (Amaranth creates it before __init__ runs): collect it
    # here, or its UnusedElaboratable warning fails whichever test the collector runs in.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnusedElaboratable)
        with pytest.raises(ValueError, match="rows must be 1 to beats_per_group=4"):
            MixPEColumnDequant(MIXPE, 5)
        gc.collect()


# --- shared organisation: bit-serial weight encoders at the top of the columns -------------

@pytest.mark.parametrize("pe, rows, cols", [
    pytest.param(BITSERIAL_MIX, 2, 3, marks=SLOW),                      # BitMoD's 4 types
    pytest.param(PRESETS["bitserial_all_a8"], 2, 2, marks=SLOW),        # zero points, ternary
    (replace(PRESETS["bitserial_int4_bitplane_a8"], group_size=32), 3, 1),  # bit-plane terms
], ids=["mix_a16_signed_scale", "all_formats_a8", "int4_bitplane"])
def test_shared_bitserial_end_to_end(pe, rows, cols):
    """BitMoD's weight encoder once per column, at its top: the standalone array's results
    (golden model) and cycle formula, whose result latency has the encoder's register."""
    config = shared(pe, rows, cols)
    assert config.array.head_cycles == 1 and config.array.column_units == 0
    assert config.array.pe_latency == pe.timing().latency + 1
    check_gemms(config, seed=61, n_random=1)


@pytest.mark.sim
def test_shared_bitserial_fp16_end_to_end():
    check_gemms(shared(replace(PRESETS["bitserial_mix_fp16"], group_size=32), 2, 2), seed=62,
                n_random=0)


def test_shared_bitserial_grid_takes_integer_weights():
    """The grid PEs' weight word: integer weights, the scale and the data type (the zero point
    and special value stay in the encoder); one cycle more than the standalone array."""
    pe = PRESETS["bitserial_all_a8"]
    array = ArrayConfig(pe=pe, rows=2, cols=2, organisation="shared")
    assert [n for n, _ in array.grid_ports.weight.fields] == ["w_int", "scale", "dtype"]
    assert [n for n, _ in pe.ports.weight.fields] == ["code", "scale", "zero", "dtype",
                                                       "special"]
    alone = accel(pe=BITSERIAL_MIX, rows=2, cols=3, a_depth=128, w_depth=128)
    both = shared(BITSERIAL_MIX, 2, 3)
    d = np.random.default_rng(0).integers(0, 4, (4, 7))
    for m in (1, 5):
        assert (gemm_cycles(both, m, 7, 128, dtypes=d).total
                == gemm_cycles(alone, m, 7, 128, dtypes=d).total + 1)


def _encoder_without_special(real):
    def encode(m, config, w, dtype, lane):
        view = SimpleNamespace(code=w.code, zero=getattr(w, "zero", None), special=Const(0, 2))
        return real(m, config, view, dtype, lane)
    return encode


@SLOW  # a deliberate bug caught: `make test`'s job, not the inner loop's
@pytest.mark.parametrize("mutant", ["rows_do_not_wait", "results_read_early",
                                    "encoder_drops_special"])
def test_broken_shared_bitserial_arrays_fail(monkeypatch, mutant):
    """Rows meeting the previous beat's weights, rows read before the grid PEs' results, an
    encoder that reads every BitMoD special value as the first: all caught."""
    if mutant == "rows_do_not_wait":
        monkeypatch.setattr(ArrayConfig, "head_cycles", property(lambda self: 0))
    elif mutant == "results_read_early":
        monkeypatch.setattr(BitSerialConfig, "shared_latency",
                            property(lambda self: self.timing().latency))
    else:
        monkeypatch.setattr(bitserial_rtl, "encode_lane",
                            _encoder_without_special(bitserial_rtl.encode_lane))
    with pytest.raises(AssertionError):
        check_gemms(shared(BITSERIAL_MIX, 2, 2), seed=63, n_random=0)


# --- the checks fail when the hardware is wrong --------------------------------------------

@SLOW  # a deliberate bug caught: `make test`'s job, not the inner loop's
@pytest.mark.parametrize("mutant", ["no_row_skew", "no_idle_slots", "no_edge_add"])
def test_broken_accelerators_fail(monkeypatch, mutant):
    """Three deliberate bugs, each caught by the end-to-end check: rows entering without
    their skew, output blocks issued back to back (rows leave on top of each other), chunks
    written instead of added."""
    config = accel(pe=SHORT, out_bits=32)
    if mutant == "no_row_skew":
        monkeypatch.setattr(mesh_mod.Mesh, "row_skew", property(lambda self: 0))
    elif mutant == "no_idle_slots":
        monkeypatch.setattr(AccelConfig, "last_beat_spacing", property(lambda self: 1))
    else:
        monkeypatch.setattr(AccelConfig, "edge_adds", property(lambda self: False))
    # A wrong Y, a wrong cycle count, or a wrong number of output words.
    with pytest.raises((AssertionError, ValueError)):
        check_gemms(config, seed=14, n_random=1)


@pytest.mark.parametrize("shape", [(0, 2, 1), (2, 0, 1), (2, 2, 0)])
def test_empty_shape_start_is_ignored(shape):
    """The hardware guard: a start with a zero size leaves the accelerator idle."""
    dut = Accelerator(accel())
    seen: dict = {}

    async def bench(ctx):
        ctx.set(dut.m, shape[0])
        ctx.set(dut.n, shape[1])
        ctx.set(dut.k_beats, shape[2])
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        busy = []
        for _ in range(5):
            busy.append(ctx.get(dut.busy))
            await ctx.tick()
        seen["busy"] = busy

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert seen["busy"] == [0] * 5


def test_host_driver_rejects_bad_shapes():
    driver = AccelDriver(accel())
    with pytest.raises(ValueError, match=r"M must be in \[1, 1073741824\], not 0"):
        driver.a_words(np.zeros((0, 8), dtype=int))
    with pytest.raises(ValueError, match="K=6 must be a multiple of 4"):
        driver.w_words(QuantizedWeights(np.zeros((6, 2), dtype=int)))
    with pytest.raises(ValueError, match="needs 100 words of the w buffer, more than w_depth=64"):
        driver.w_words(QuantizedWeights(np.zeros((400, 1), dtype=int)))
    with pytest.raises(ValueError, match="expected 4 output words for M=2, N=4, got 3"):
        driver.result([0, 0, 0], 2, 4)


# --- double buffering: a sequence of GEMMs -------------------------------------------------

def run_stream(config: AccelConfig, operands, *, dut=None) -> tuple[list, int]:
    """Run GEMMs back to back with a host that never stalls (the host of
    :func:`stream_cycles`): it offers the next GEMM's A and W words from the cycle after the
    previous ``start`` was taken, raises ``start`` once they are in, and always takes output
    words. ``([Y per GEMM], cycle of the last word taken)``, the first load being cycle 1."""
    driver = AccelDriver(config)
    words = [(driver.a_words(a), driver.w_words(w)) for a, w in operands]
    sizes = [(np.asarray(a).shape[0], w.shape[1], np.asarray(a).shape[1]) for a, w in operands]
    expect = [config.words(*s)["o"] for s in sizes]
    dut = dut or Accelerator(config)
    out: dict = {}
    dtypes = [w.dtypes for _, w in operands]
    limit = 3 * stream_cycles(config, sizes, dtypes=dtypes).total + 1000  # a watchdog

    async def bench(ctx):
        load = started = 0      # the GEMM being loaded; GEMMs started
        ai = wi = 0
        ys: list[list[int]] = [[] for _ in operands]
        got = 0                 # GEMM whose words are being read
        t = last = 0
        ctx.set(dut.y_out.ready, 1)
        while got < len(operands):
            loading = load < len(operands) and load == started
            a_w, w_w = words[load] if loading else ([], [])
            ctx.set(dut.a_in.valid, ai < len(a_w))
            ctx.set(dut.w_in.valid, wi < len(w_w))
            if ai < len(a_w):
                ctx.set(dut.a_in.payload.as_value(), a_w[ai])
            if wi < len(w_w):
                ctx.set(dut.w_in.payload.as_value(), w_w[wi])
            want = loading and ai == len(a_w) and wi == len(w_w)
            if want:
                m, n, k = sizes[load]
                ctx.set(dut.m, m)
                ctx.set(dut.n, n)
                ctx.set(dut.k_beats, k // config.array.lanes)
            ctx.set(dut.start, want)
            can = dut.start_ready if config.double_buffer else dut.busy
            _, _, a_rdy, w_rdy, can_start, valid, payload = await ctx.tick().sample(
                dut.a_in.ready, dut.w_in.ready, can, dut.y_out.valid,
                dut.y_out.payload.as_value())
            t += 1
            if not config.double_buffer:
                can_start = not can_start
            ai += int(ai < len(a_w) and a_rdy)
            wi += int(wi < len(w_w) and w_rdy)
            if want and can_start:
                started += 1
                load += 1
                ai = wi = 0
            if valid:
                ys[got].append(payload)
                last = t
                if len(ys[got]) == expect[got]:
                    got += 1
            assert t < limit, f"the accelerator never finished ({t} cycles)"
        out["y"] = [driver.result(y, s[0], s[1]) for y, s in zip(ys, sizes, strict=True)]
        out["cycles"] = last

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return out["y"], out["cycles"]


def check_stream(config: AccelConfig, seed: int, n_random: int = 3, *, dut=None) -> None:
    """The GEMMs of :func:`gemm_shapes` run back to back: every Y bit-exact, the sequence's
    cycles equal to :func:`stream_cycles`."""
    rng = np.random.default_rng(seed)
    shapes = gemm_shapes(config, rng, n_random)
    # ... then a GEMM with many output words and two short ones that finish while its words
    # still stream out (with two banks the second waits for the drain), and two decodes.
    shapes += sequence_shapes(config, shapes[1])
    operands = [random_gemm(config.pe, rng, m, k, n, extreme=bool(i % 2))
                for i, (m, n, k) in enumerate(shapes)]
    ys, cycles = run_stream(config, operands, dut=dut)
    for (m, n, k), (a, w), y in zip(shapes, operands, ys, strict=True):
        assert (y == array_gemm(config, a, w)).all(), f"seed={seed} M={m} N={n} K={k}: Y wrong"
    dtypes = [w.dtypes for _, w in operands]
    predicted = stream_cycles(config, shapes, dtypes=dtypes).total
    assert cycles == predicted, f"seed={seed} {shapes}: {cycles} cycles, predicted {predicted}"


@pytest.mark.parametrize("double_buffer", [False, True], ids=["one_bank", "two_banks"])
@pytest.mark.parametrize("dataflow", ["os", "ws"])
def test_gemm_sequences_take_the_stream_cycles(dataflow, double_buffer):
    """Back-to-back GEMMs with a host that never stalls, one bank or two: the sequence's
    cycles are :func:`stream_cycles`' and two banks save cycles; single GEMMs with a stalling
    host still take :func:`gemm_cycles` with two banks."""
    config = accel(pe=SHORT, dataflow=dataflow, out_bits=32, double_buffer=double_buffer)
    check_stream(config, seed=71)
    if double_buffer:
        check_gemms(config, seed=72, n_random=1)


@pytest.mark.parametrize("config", [
    shared(MIXPE, 2, 3, double_buffer=True),
    pytest.param(accel(pe=PRESETS["fp16_mac_l4"], rows=2, cols=3, dataflow="ws",
                       double_buffer=True), marks=SLOW),
    pytest.param(accel(pe=BITSERIAL_MIX, rows=2, cols=2, double_buffer=True), marks=SLOW),
], ids=["mixpe_shared", "fp16_ws", "bitserial_mix"])
def test_double_buffered_sequences_of_other_pes(config):
    """Column units (MixPE), FP32 edge adders (FP16 weight-stationary) and beats of several
    cycles per data type (bit-serial): back-to-back GEMMs leave nothing behind in the PEs."""
    check_stream(config, seed=73, n_random=2)


def test_stream_cycles_by_hand():
    """The formula's terms on one GEMM and on two, from gemm_cycles and the word counts."""
    one, two = accel(), accel(double_buffer=True)
    g = (4, 3, 16)
    c = gemm_cycles(one, *g).total
    words = one.words(*g)  # a: 2 m-tiles x 4 beats, w: 2 n-tiles x 4 beats, o: 4 rows x 2
    assert words == {"a": 8, "w": 8, "o": 8}
    single = 8 + 1 + c + 8 + 1   # load, start, compute, drain (a word a cycle) + last take
    assert stream_cycles(one, [g]).total == stream_cycles(two, [g]).total == single
    # One bank: the second GEMM loads after the first has drained. Two: it loads while the
    # first computes, and starts once the first has finished and begun to drain.
    assert stream_cycles(one, [g, g]).total == 2 * single
    s = stream_cycles(two, [g, g])
    assert s.starts == (9, 9 + c + 1)
    assert s.finishes == (9 + c, 9 + 2 * c + 1)
    assert s.total == 9 + 2 * c + 1 + 8 + 1
    assert s.compute == 2 * c and 0 < s.compute_fraction < 1


def test_stream_cycles_errors():
    with pytest.raises(ValueError, match=r"gemms must be a non-empty list of \(M, N, K\), "
                                         r"not \[\]"):
        stream_cycles(accel(), [])
    with pytest.raises(ValueError, match=r"gemms\[1\] must be \(M, N, K\), not \(4, 4\)"):
        stream_cycles(accel(), [(4, 4, 8), (4, 4)])
    with pytest.raises(ValueError, match=r"dtypes must give one entry per GEMM \(1\), not 2"):
        stream_cycles(accel(), [(4, 4, 8)], dtypes=[None, None])
    with pytest.raises(TypeError, match="accel must be an AccelConfig, not dict"):
        stream_cycles({}, [(4, 4, 8)])


#: One-line breakages of the double buffer (source text of hw/array/accel.py, replaced).
DB_MUTANTS = {
    # A start taken while a finished GEMM still waits to drain: its outputs are overwritten.
    "start while a drain waits": ("self.start_ready.eq(~run & ~pending)",
                                  "self.start_ready.eq(~run)"),
    # The drain reads the bank being computed instead of its own.
    "drain reads the computing bank": ("raddr + Mux(d_bank, cfg.o_depth, 0)",
                                       "raddr + Mux(bank, cfg.o_depth, 0)"),
    # The host's words go into the bank the array computes from.
    "load into the computing bank": ("at(addr, depth, load_bank)", "at(addr, depth)"),
}


@SLOW  # a deliberate bug caught: `make test`'s job, not the inner loop's
@pytest.mark.parametrize("mutant", sorted(DB_MUTANTS))
def test_broken_double_buffers_fail(mutant):
    """Each deliberate bug in the double buffer makes the sequence check fail."""
    config = accel(pe=SHORT, out_bits=32, double_buffer=True)
    with source_mutant(accel_mod, *DB_MUTANTS[mutant]) as broken:
        with pytest.raises((AssertionError, ValueError)):
            check_stream(config, seed=74, dut=broken.Accelerator(config))


@pytest.mark.parametrize("organisation, pe", [("standalone", "int_mac_w8a8"),
                                              ("standalone", "bitserial_int4_a8"),
                                              ("shared", "mixpe_w4a8"),
                                              ("shared", "dequant_mac_w4a16")])
def test_output_stationary_grid_pes_have_no_weight_register(organisation, pe):
    # The tile ties load_w high in an output-stationary array, so a weight register there
    # could never be read; a weight-stationary array's PEs load theirs from the shadow rows.
    config = replace(PRESETS[pe], lanes=1) if pe == "int_mac_w8a8" else PRESETS[pe]
    os_ = ArrayConfig(pe=config, rows=2, cols=2, organisation=organisation)
    assert "w_reg" not in rtlil.convert(grid_component(os_))
    if "ws" in config.dataflows and organisation == "standalone":
        ws = ArrayConfig(pe=config, rows=2, cols=2, dataflow="ws")
        assert "w_reg" in rtlil.convert(grid_component(ws))
    # The standalone PE keeps it (its contract allows load_w low).
    assert "w_reg" in rtlil.convert(build_component(config))
