"""Every PE, in Amaranth's simulator, against the bit-exact golden model of the PE contract.

Presets plus variants that cover every supported signedness, width extreme and lane count.
"""

import pytest
from mpgemm.pe_designs.mac import DequantMacConfig, Fp16MacConfig, IntMacConfig
from mpgemm.pe_designs.presets import PRESETS
from mpgemm.sim.amaranth_sim import simulate_pe, simulate_trace
from mpgemm.sim.golden.contract import Beat, run_contract
from mpgemm.sim.scoreboard import check_cycles
from mpgemm.sim.stimulus import corner_beats, count_valid, random_beats, w_reset

pytestmark = pytest.mark.sim  # amaranth.sim

VARIANTS = {
    "int_u8xu4": IntMacConfig(act_bits=8, act_signed=False, weight_bits=4, weight_signed=False,
                              lanes=3, acc_bits=21, k_max=256),
    "int_s16xs16": IntMacConfig(act_bits=16, weight_bits=16, lanes=2, acc_bits=48),
    "int_u1xs2_narrow_acc": IntMacConfig(act_bits=1, act_signed=False, weight_bits=2, lanes=5,
                                         acc_bits=4, k_max=3),
    "int_s8xu8": IntMacConfig(weight_signed=False, lanes=8, acc_bits=32),
    "fp16_l2": Fp16MacConfig(lanes=2),
    "fp16_l8": Fp16MacConfig(lanes=8),
    "dequant_int2_signed": DequantMacConfig(weight_bits=2, weight_signed=True, group_size=32),
    "dequant_uint8_l2": DequantMacConfig(weight_bits=8, lanes=2, group_size=64),
    "dequant_int8_signed": DequantMacConfig(weight_bits=8, weight_signed=True),
}
# LUT tiles with FP16 tables put FP32 adders in every PE, too slow for amaranth.sim at a preset's
# full stimulus: cocotb runs those presets on both simulators, and tests/test_lut.py runs smaller
# FP16-table tiles in amaranth.sim. MixPE presets are covered by tests/test_mixpe.py's 27
# amaranth.sim variants (every precision, signedness, activation format and group size) and by
# cocotb on both simulators, so they are not simulated a third time here.
DESIGNS = {**{n: c for n, c in PRESETS.items()
              if getattr(c, "table_format", None) != "fp16" and c.kind != "mixpe"},
           **VARIANTS}


@pytest.mark.parametrize("name", sorted(DESIGNS))
def test_pe_matches_golden(name, rng, seed, n_vectors):
    config = DESIGNS[name]
    n = n_vectors if name in PRESETS else n_vectors // 4
    beats = corner_beats(config) + random_beats(config, rng, n)
    expected = run_contract(config, beats, w_reset=w_reset(config))
    driven, observed = simulate_trace(config, beats)
    assert count_valid(beats) >= n
    errors = check_cycles(config, driven, observed, expected, beats=beats)
    assert not errors, f"{name} seed={seed}: " + "; ".join(errors)
    assert sum(o["o_valid"] for o in observed) == len(expected) > 0


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_result_latency_equals_config(name):
    """A single beat's result appears exactly its timing's latency later, then o_valid drops."""
    config = PRESETS[name]
    corner = corner_beats(config)
    # The first accumulation of the corner cases: one beat, or one whole group (bit-serial).
    end = next(t for t, b in enumerate(corner) if b.valid and b.last)
    beats = corner[:end + 1]
    w = w_reset(config)
    for b in beats:   # the weight the closing beat uses (it may reuse the weight register)
        w = b.w if b.load_w else w
    latency = config.timing(config.golden.weight_format(config, w)).latency
    if len(config.weight_formats) == 1:    # otherwise the latency depends on the data type
        assert latency == config.timing().latency
    got = simulate_pe(config, beats, drain=4)
    assert [cycle for cycle, _ in got] == [end + latency]


def test_weight_register_holds_between_loads():
    """Weight-stationary use: beats without load_w reuse the last loaded weights."""
    c = IntMacConfig(lanes=2)
    beats = [
        Beat(a=(0, 0), w=(3, -2), load_w=True),                      # preload only
        Beat(a=(5, 7), w=(100, 100), valid=True, first=True, last=True),  # junk on i_w
        Beat(a=(1, 1), w=(9, 9), valid=True, first=True, last=True, psum=10),
    ]
    got = simulate_pe(c, beats)
    assert got == [(2, 5 * 3 + 7 * -2), (3, 10 + 3 - 2)]


def test_accumulator_wraps_like_a_register():
    c = IntMacConfig(act_bits=8, weight_bits=8, acc_bits=28, k_max=4096)
    top = (1 << 27) - 1
    beats = [Beat(a=(-128,), w=(-128,), psum=top, valid=True, load_w=True, first=True,
                  last=True)]
    got = simulate_pe(c, beats)
    assert got == [(1, top + 16384 - (1 << 28))]
