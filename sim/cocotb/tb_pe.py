"""cocotb testbench for any PE of the contract in :mod:`hw.contract`.

Layered as driver -> monitor -> golden model -> scoreboard (:mod:`sim.scoreboard`, which also
checks the forwarding outputs and that ``o_psum`` holds between results). The design under
test's config (the manifest's JSON), the number of random beats and the seed come from the
environment that :mod:`sim.runner` sets: ``MPGEMM_CONFIG``, ``MPGEMM_VECTORS``, ``MPGEMM_SEED``,
and ``MPGEMM_STATS`` (where to write a JSON summary).

Cycle convention (as in :mod:`sim.amaranth_sim`): inputs of cycle ``t`` are driven at the falling
edge that opens it; outputs sampled at that falling edge belong to cycle ``t``.
"""

import json
import os
import time

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, RisingEdge
from mpgemm.pe_designs.registry import config_from_dict
from mpgemm.sim.golden.contract import run_contract
from mpgemm.sim.scoreboard import OUTPUTS, check_cycles, driven_inputs
from mpgemm.sim.stimulus import corner_beats, count_valid, random_beats, w_reset


class PEDriver:
    """Applies each cycle's input values (``sim.scoreboard.driven_inputs``) at its falling edge."""

    def __init__(self, dut, driven):
        self.dut, self.driven = dut, driven

    async def run(self):
        for values in self.driven:
            await FallingEdge(self.dut.clk)
            for port, value in values.items():
                getattr(self.dut, port).value = value


class PEMonitor:
    """Records every cycle's raw contract outputs, sampled at the falling edge."""

    def __init__(self, dut):
        self.dut = dut
        self.observed: list[dict[str, int]] = []
        #: Outputs that read X or Z, as ``cycle: port=value`` lines (at most the first 10).
        self.unresolved: list[str] = []

    async def run(self, cycles: int):
        for t in range(cycles):
            await FallingEdge(self.dut.clk)
            values = {}
            for port in OUTPUTS:
                raw = getattr(self.dut, port).value
                if raw.is_resolvable:
                    values[port] = int(raw)
                else:
                    values[port] = -1
                    if len(self.unresolved) < 10:
                        self.unresolved.append(f"cycle {t}: {port}={raw} is not 0/1")
            self.observed.append(values)


@cocotb.test()
async def test_pe_against_golden(dut):
    """Random and corner-case beats against the family's golden model (run_contract)."""
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

    cycles = len(beats) + config.timing().latency + 8
    driven = driven_inputs(config, beats, cycles)
    driver = PEDriver(dut, driven)
    monitor = PEMonitor(dut)
    t0 = time.perf_counter()
    drive = cocotb.start_soon(driver.run())
    await monitor.run(cycles)
    await drive
    sim_s = time.perf_counter() - t0

    errors = monitor.unresolved or check_cycles(config, driven, monitor.observed, expected,
                                                beats=beats)
    for line in errors:
        dut._log.error(line)
    stats = {
        "kind": config.kind, "seed": seed, "vectors": count_valid(beats),
        "results": len(expected), "cycles": cycles + 2, "errors": len(errors),
        "valid_seen": sum(o["o_valid"] for o in monitor.observed),
        "sim_s": sim_s,
    }
    if os.environ.get("MPGEMM_STATS"):
        with open(os.environ["MPGEMM_STATS"], "w") as f:
            json.dump(stats, f)
    assert not errors, f"{len(errors)} mismatches against the golden model (seed={seed})"

