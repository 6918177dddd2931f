"""cocotb equivalence check: the generated output-stationary mesh against a hand-written one.

The top level (written by :func:`mpgemm.hw.flow.reference.equivalence_top`) instantiates the
generated :class:`~mpgemm.hw.array.mesh.Mesh` (``u_gen``) and the hand-written reference
``sim/reference_rtl/mesh_int8_os_16x16.v`` (``u_ref``) on the same inputs and brings out both
sets of outputs (``gen_*``, ``ref_*``) and ``mismatch``: some output bit of the reference is
X or Z, or differs from a defined bit of the generated mesh (whose ``always @*`` outputs Icarus
leaves X until their inputs first change; ``gen_unknown`` counts those cycles). This bench
checks that both designs have the same ports (:data:`PORTS`, same widths), drives one seeded
random stimulus (:func:`stimulus`) and reads ``mismatch`` in every cycle; at the first few
mismatching cycles it records both designs' outputs.

Neither design is compared with a model: the point is that the two agree cycle for cycle on
every output. So that agreement cannot come from both idling, the bench also counts the
cycles with a result row on the outputs and the rows with non-zero data, and the caller
checks those counts.

Cycle convention (as in :mod:`mpgemm.sim.cocotb.tb_pe`): inputs change at falling edges, the
designs sample them at rising edges, and outputs (which depend on registers only) are read at
falling edges before the next inputs are driven. The clock starts low, so the first rising
edge comes after the first inputs: both designs start from their power-on state, not from a
reset.

Environment (set by :func:`mpgemm.hw.flow.reference.run_equivalence`): ``MPGEMM_EQUIV_ROWS``,
``MPGEMM_EQUIV_COLS``, ``MPGEMM_EQUIV_CYCLES`` (cycles of stimulus; idle cycles follow until
the last result has left), ``MPGEMM_SEED`` and ``MPGEMM_STATS`` (where to write a JSON
summary).
"""

import json
import os
import random
from collections.abc import Iterator
from typing import NamedTuple

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, RisingEdge

__all__ = ["Cycle", "stimulus", "PORTS", "VALID", "LOAD_W", "FIRST", "LAST", "GROUP_END"]

#: Control bits of the PE contract (``PE_CONTROL`` in :mod:`mpgemm.sim.golden.ports`).
VALID, LOAD_W, FIRST, LAST, GROUP_END = (1 << i for i in range(5))

#: Operand bytes that stress the multiplier's signs and the accumulator's carries.
EXTREMES = (0x80, 0x7F, 0xFF, 0x00, 0x01, 0x81)

#: Mismatching cycles whose outputs are kept in the summary.
REPORTED = 5

#: The ports both designs have (Amaranth's names, its flattening of the array ports).
PORTS = ("clk", "rst", "i_ctl", "i_a", "i_w", "o_row_valid", "o_row_index", "o_row")


class Cycle(NamedTuple):
    """The inputs of one cycle: ``rst``, ``i_ctl`` and the packed ``i_a`` and ``i_w``."""

    rst: int
    ctl: int
    a: int
    w: int


def _operands(rng: random.Random, lanes: int, extreme: bool) -> int:
    if not extreme:
        return rng.getrandbits(8 * lanes)
    return sum(rng.choice(EXTREMES) << (8 * i) for i in range(lanes))


def _segment(rng: random.Random, span: int) -> list[int]:
    """The control words of one stretch of work (``span``: ``max(rows, cols)``).

    * ``stream``: an output-stationary tile as the accelerator issues it (``load_w`` on every
      beat, ``first`` on the first, ``last`` on the last), then idle cycles, mostly enough for
      the tile's rows to leave, sometimes fewer so that later results overwrite unread ones;
    * ``preload``: a weight loaded without ``valid``, then beats that reuse it (no ``load_w``),
      with a reload in the middle now and then;
    * ``random``: uniformly random control words (several rows finishing at once, ``last``
      without ``first``, ``first`` without ``valid`` ...).

    One tile in five has no ``first``: it goes on from what the accumulators hold (the
    previous tile's sum, or zero after a reset).
    """
    kind = rng.choices(("stream", "preload", "random"), weights=(5, 3, 2))[0]
    if kind == "random":
        return [rng.getrandbits(5) for _ in range(rng.randint(1, 4 * span))]
    beats = rng.randint(1, 3 * span)
    start = FIRST if rng.random() < 0.8 else 0
    words = []
    if kind == "preload":
        words += [LOAD_W | (rng.getrandbits(1) * GROUP_END)] * rng.randint(1, 2)
    for j in range(beats):
        word = VALID | (start if j == 0 else 0) | (LAST if j == beats - 1 else 0)
        if kind == "stream" or rng.random() < 0.1:
            word |= LOAD_W
        words.append(word | rng.getrandbits(1) * GROUP_END)
    gap = span + rng.randint(0, 4) if rng.random() < 0.8 else rng.randint(0, span)
    return words + [0] * gap


def stimulus(rows: int, cols: int, seed: int, cycles: int) -> Iterator[Cycle]:
    """``cycles`` cycles of inputs for a ``rows x cols`` mesh, the same for a given seed.

    Control comes in segments (:func:`_segment`); every segment draws its operands either
    uniformly or from :data:`EXTREMES`. In about one cycle in a hundred, anywhere in a
    segment, ``rst`` is high instead (for one or two cycles, with random inputs): the
    segment's remaining beats then find the accumulators and the held weights reset.
    """
    rng = random.Random(f"mpgemm-mesh-equiv-{rows}x{cols}-{seed}")
    span = max(rows, cols)
    t = 0
    while t < cycles:
        extreme = rng.random() < 0.25
        for ctl in _segment(rng, span):
            if rng.random() < 0.01:
                for _ in range(rng.randint(1, 2)):
                    yield Cycle(1, rng.getrandbits(5), rng.getrandbits(8 * rows),
                                rng.getrandbits(8 * cols))
                    t += 1
            yield Cycle(0, ctl, _operands(rng, rows, extreme), _operands(rng, cols, extreme))
            t += 1
            if t >= cycles:
                return


@cocotb.test()
async def test_mesh_equivalence(dut):
    """Every output of both meshes equal in every cycle of one random stimulus."""
    rows = int(os.environ["MPGEMM_EQUIV_ROWS"])
    cols = int(os.environ["MPGEMM_EQUIV_COLS"])
    cycles = int(os.environ["MPGEMM_EQUIV_CYCLES"])
    seed = int(os.environ.get("MPGEMM_SEED", "1"))
    dut._log.info(f"{rows}x{cols} meshes, {cycles} cycles, seed={seed}")
    # Same port names (else the top would not elaborate) and the same widths.
    widths = {p: (len(getattr(dut.u_gen, p)), len(getattr(dut.u_ref, p))) for p in PORTS}
    assert all(g == r for g, r in widths.values()), f"port widths (generated, reference): {widths}"

    # After the stimulus: idle until the last result row has left (rows + cols cycles).
    drain = [Cycle(0, 0, 0, 0)] * (rows + cols + 2)
    inputs = [*stimulus(rows, cols, seed, cycles), *drain]

    # The first inputs are in place before the first rising edge (the clock starts low).
    dut.rst.value, dut.i_ctl.value, dut.i_a.value, dut.i_w.value = inputs[0]
    Clock(dut.clk, 10, unit="ns").start(start_high=False)
    await RisingEdge(dut.clk)
    mismatches = 0
    row_cycles = 0
    nonzero_rows = 0
    gen_unknown = 0
    reported: list[dict[str, object]] = []
    for t in range(1, len(inputs) + 1):
        await FallingEdge(dut.clk)
        # Outputs of cycle t: the designs have taken the inputs of cycles 0 .. t - 1.
        if int(dut.mismatch.value):
            mismatches += 1
            if len(reported) < REPORTED:
                reported.append({"cycle": t, **{
                    f"{side}_{port}": str(getattr(dut, f"{side}_{port}").value)
                    for side in ("gen", "ref") for port in ("o_row_valid", "o_row_index",
                                                            "o_row")}})
        if int(dut.gen_unknown.value):
            gen_unknown += 1
        elif int(dut.gen_o_row_valid.value):
            row_cycles += 1
            nonzero_rows += int(dut.gen_o_row_nonzero.value)
        if t < len(inputs):
            dut.rst.value, dut.i_ctl.value, dut.i_a.value, dut.i_w.value = inputs[t]

    summary = {"rows": rows, "cols": cols, "seed": seed, "cycles": len(inputs),
               "port_widths": {p: g for p, (g, _) in widths.items()},
               "mismatches": mismatches, "row_cycles": row_cycles,
               "nonzero_rows": nonzero_rows, "gen_unknown_cycles": gen_unknown,
               "first_mismatches": reported}
    if os.environ.get("MPGEMM_STATS"):
        with open(os.environ["MPGEMM_STATS"], "w") as f:
            json.dump(summary, f, indent=1)
    for r in reported:
        dut._log.error(f"mismatch: {r}")
    assert not mismatches, (f"{mismatches} of {len(inputs)} cycles differ (seed={seed}), "
                            f"first at cycle {reported[0]['cycle']}")
