"""Run beat sequences through a PE component in Amaranth's simulator.

The same cycle convention as the cocotb testbench: the inputs of beat ``t`` are applied during
cycle ``t`` and sampled at the clock edge that ends it; outputs read during cycle ``t`` are
recorded as cycle ``t``.
"""

from amaranth.hdl import Value
from amaranth.sim import Simulator

from mpgemm.pe_designs.registry import build_component

from .golden.contract import Beat, PEConfig, decode_psum
from .scoreboard import OUTPUTS, driven_inputs

__all__ = ["simulate_trace", "simulate_pe"]



def simulate_trace(config: PEConfig, beats: list[Beat], *, drain: int = 8, vcd: str | None = None
                   ) -> tuple[list[dict[str, int]], list[dict[str, int]]]:
    """Simulate ``beats`` (then ``latency + drain`` idle cycles) from reset.

    Returns ``(driven, observed)``: the input values of every cycle and the raw output values
    read during it, as :func:`sim.scoreboard.check_cycles` takes them.
    """
    dut = build_component(config)
    cycles = len(beats) + config.timing().latency + drain
    driven = driven_inputs(config, beats, cycles)
    observed: list[dict[str, int]] = []

    async def testbench(ctx):
        for t in range(cycles):
            for name, value in driven[t].items():
                ctx.set(Value.cast(getattr(dut, name)), value)
            observed.append({
                name: ctx.get(Value.cast(getattr(dut, name))) & ((1 << len(Value.cast(
                    getattr(dut, name)))) - 1)
                for name in OUTPUTS
            })
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(testbench)
    if vcd:
        with sim.write_vcd(vcd):
            sim.run()
    else:
        sim.run()
    return driven, observed


def simulate_pe(config: PEConfig, beats: list[Beat], *, drain: int = 8,
                vcd: str | None = None) -> list[tuple[int, int]]:
    """``(cycle, o_psum)`` for every cycle with ``o_valid`` high, as the component produces them."""
    _, observed = simulate_trace(config, beats, drain=drain, vcd=vcd)
    return [(t, decode_psum(config, o["o_psum"])) for t, o in enumerate(observed)
            if o["o_valid"]]
