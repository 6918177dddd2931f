"""Baseline MAC variants in Amaranth's simulator against the bit-exact golden model.

Configs no preset has: every supported signedness, width extreme and lane count.
"""

import pytest

from mpgemm.pe_designs.mac import DequantMacConfig, Fp16MacConfig, IntMacConfig
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
# The presets are simulated by cocotb on both simulators (tests/test_cocotb.py) and their first
# accumulation in amaranth.sim by the conformance suite (tests/test_families.py); this module
# adds the configs no preset has: every signedness, width extreme and lane count of the MACs.
DESIGNS = VARIANTS


@pytest.mark.parametrize("name", sorted(DESIGNS))
def test_pe_matches_golden(name, rng, seed, n_vectors):
    config = DESIGNS[name]
    n = n_vectors // 4
    beats = corner_beats(config) + random_beats(config, rng, n)
    expected = run_contract(config, beats, w_reset=w_reset(config))
    driven, observed = simulate_trace(config, beats)
    assert count_valid(beats) >= n
    errors = check_cycles(config, driven, observed, expected, beats=beats)
    assert not errors, f"{name} seed={seed}: " + "; ".join(errors)
    assert sum(o["o_valid"] for o in observed) == len(expected) > 0


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
