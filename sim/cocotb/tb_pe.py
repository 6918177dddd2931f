"""cocotb testbench for any PE of the contract in :mod:`hw.contract`.

Layered as driver -> monitor -> golden model -> scoreboard. The design under test, its config
(the manifest's JSON), the number of random beats and the seed come from the environment that
:mod:`sim.runner` sets: ``MPGEMM_CONFIG``, ``MPGEMM_VECTORS``, ``MPGEMM_SEED``, and
``MPGEMM_STATS`` (where to write a JSON summary).

Cycle convention (as in :mod:`sim.amaranth_sim`): inputs of beat ``t`` are driven at the falling
edge that opens cycle ``t``; outputs sampled at that falling edge belong to cycle ``t``.
"""

import json
import os
import time

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, RisingEdge

from pe_designs.presets import config_from_dict
from sim.golden.pe import run_contract
from sim.stimulus import corner_beats, count_valid, decode_psum, encode_beat, random_beats, w_reset


class PEDriver:
    """Drives one beat per cycle on the contract inputs, then idles."""

    def __init__(self, dut, config, beats):
        self.dut, self.config, self.beats = dut, config, beats

    async def run(self, cycles: int):
        for t in range(cycles):
            await FallingEdge(self.dut.clk)
            if t < len(self.beats):
                for port, value in encode_beat(self.config, self.beats[t]).items():
                    getattr(self.dut, port).value = value
            else:
                self.dut.i_ctl.value = 0


class PEMonitor:
    """Records ``(cycle, o_psum)`` on every cycle with ``o_valid`` high."""

    def __init__(self, dut, config):
        self.dut, self.config = dut, config
        self.results: list[tuple[int, int]] = []
        self.ready_low = 0

    async def run(self, cycles: int):
        for t in range(cycles):
            await FallingEdge(self.dut.clk)
            if not int(self.dut.o_ready.value):
                self.ready_low += 1
            if int(self.dut.o_valid.value):
                self.results.append((t, decode_psum(self.config, int(self.dut.o_psum.value))))


def scoreboard(expected, got, log) -> list[str]:
    errors = []
    for i, (e, g) in enumerate(zip(expected, got, strict=False)):
        if e != g:
            errors.append(f"result {i}: expected (cycle, value) {e}, got {g}")
    if len(expected) != len(got):
        errors.append(f"expected {len(expected)} results, got {len(got)}")
    for line in errors[:10]:
        log.error(line)
    return errors


@cocotb.test()
async def test_pe_against_golden(dut):
    """Random and corner-case beats against sim.golden.pe.run_contract."""
    config = config_from_dict(json.loads(os.environ["MPGEMM_CONFIG"]))
    n_random = int(os.environ.get("MPGEMM_VECTORS", "1000"))
    seed = int(os.environ.get("MPGEMM_SEED", "1"))
    dut._log.info(f"{config.kind}: seed={seed} random beats={n_random}")
    rng = np.random.default_rng(seed)
    beats = corner_beats(config) + random_beats(config, rng, n_random)
    expected = run_contract(config, beats, w_reset=w_reset(config))

    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.i_ctl.value = 0
    dut.i_a.value = 0
    dut.i_w.value = 0
    dut.i_psum.value = 0
    dut.rst.value = 1
    for _ in range(2):
        await RisingEdge(dut.clk)
    dut.rst.value = 0

    cycles = len(beats) + config.latency + 8
    driver = PEDriver(dut, config, beats)
    monitor = PEMonitor(dut, config)
    t0 = time.perf_counter()
    drive = cocotb.start_soon(driver.run(cycles))
    await monitor.run(cycles)
    await drive
    sim_s = time.perf_counter() - t0

    errors = scoreboard(expected, monitor.results, dut._log)
    stats = {
        "kind": config.kind, "seed": seed, "vectors": count_valid(beats),
        "results": len(expected), "cycles": cycles + 2, "errors": len(errors),
        "sim_s": sim_s,
    }
    if os.environ.get("MPGEMM_STATS"):
        with open(os.environ["MPGEMM_STATS"], "w") as f:
            json.dump(stats, f)
    assert not errors, f"{len(errors)} mismatches against the golden model (seed={seed})"
    # A single-cycle PE must accept a beat every cycle: the array schedules by cycles_per_beat.
    if config.cycles_per_beat == 1:
        assert monitor.ready_low == 0, f"o_ready was low on {monitor.ready_low} cycles"
