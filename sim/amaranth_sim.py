"""Run beat sequences through a PE component in Amaranth's simulator.

The same cycle convention as the cocotb testbench: the inputs of beat ``t`` are applied during
cycle ``t`` and sampled at the clock edge that ends it; outputs read during cycle ``t`` are
recorded as cycle ``t``.
"""

from typing import Any

from amaranth.hdl import Value
from amaranth.sim import Simulator

from .golden.pe import Beat
from .stimulus import decode_psum, encode_beat

__all__ = ["simulate_pe"]


def simulate_pe(config: Any, beats: list[Beat], *, drain: int = 8,
                vcd: str | None = None) -> list[tuple[int, int]]:
    """``(cycle, o_psum)`` for every cycle with ``o_valid`` high, as the component produces them."""
    dut = config.build()
    results: list[tuple[int, int]] = []

    async def testbench(ctx):
        idle = {"i_ctl": 0}
        total = len(beats) + config.latency + drain
        for t in range(total):
            ports = encode_beat(config, beats[t]) if t < len(beats) else idle
            for name, value in ports.items():
                ctx.set(Value.cast(getattr(dut, name)), value)
            if ctx.get(dut.o_valid):
                results.append((t, decode_psum(config, ctx.get(Value.cast(dut.o_psum)))))
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(testbench)
    if vcd:
        with sim.write_vcd(vcd):
            sim.run()
    else:
        sim.run()
    return results
