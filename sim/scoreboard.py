"""Cycle-by-cycle checking of a PE's outputs against the contract and the golden model.

Shared by the amaranth.sim harness and the cocotb testbench: both record, for every cycle, the
contract outputs, and :func:`check_cycles` compares them with what the contract promises:
the golden results at the right cycles (``o_valid``), ``o_psum`` holding its value in between,
and ``o_a`` / ``o_w`` / ``o_ctl`` repeating the previous cycle's inputs (systolic forwarding).
"""

from typing import Any

from .golden.contract import Beat, decode_psum, encode_beat, expected_ready

__all__ = ["INPUTS", "FORWARDED", "OUTPUTS", "driven_inputs", "check_cycles"]

INPUTS = ("i_a", "i_w", "i_psum", "i_ctl")
#: output port -> the input port it forwards one cycle later.
FORWARDED = {"o_a": "i_a", "o_w": "i_w", "o_ctl": "i_ctl"}
#: Outputs a monitor records every cycle.
OUTPUTS = (*FORWARDED, "o_psum", "o_valid", "o_ready")


def driven_inputs(config: Any, beats: list[Beat], cycles: int) -> list[dict[str, int]]:
    """The input port values of every cycle as a driver applies them.

    After the last beat the operands keep their last values and ``i_ctl`` goes to zero.
    """
    driven: list[dict[str, int]] = []
    last = {port: 0 for port in INPUTS}
    for t in range(cycles):
        if t < len(beats):
            last = encode_beat(config, beats[t])
        else:
            last = {**last, "i_ctl": 0}
        driven.append(last)
    return driven


def check_cycles(config: Any, driven: list[dict[str, int]], observed: list[dict[str, int]],
                 expected: list[tuple[int, int]], *, beats: list[Beat] | None = None,
                 limit: int = 10) -> list[str]:
    """Differences between ``observed`` outputs and the contract (at most ``limit`` listed).

    ``observed[t]`` holds raw unsigned values of :data:`OUTPUTS` read during cycle ``t``;
    ``expected`` is :func:`mpgemm.sim.golden.contract.run_contract`'s ``(cycle, value)`` list. With
    ``beats`` given, ``o_ready`` is checked against :func:`expected_ready` too.
    """
    errors: list[str] = []
    want = dict(expected)
    if len(want) != len(expected):
        errors.append("golden model produced two results in one cycle")
    hold = decode_psum(config, 0)
    n_valid = 0
    ready = expected_ready(config, beats, len(observed)) if beats is not None else None
    for t, obs in enumerate(observed):
        if ready is not None and obs["o_ready"] != ready[t]:
            errors.append(f"cycle {t}: o_ready={obs['o_ready']}, expected {ready[t]}")
        psum = decode_psum(config, obs["o_psum"])
        if t in want:
            hold = want[t]
            if not obs["o_valid"]:
                errors.append(f"cycle {t}: expected a result {want[t]}, o_valid is low")
            elif psum != want[t]:
                errors.append(f"cycle {t}: expected o_psum {want[t]}, got {psum}")
        elif obs["o_valid"]:
            errors.append(f"cycle {t}: unexpected o_valid with o_psum {psum}")
        elif psum != hold:
            errors.append(f"cycle {t}: o_psum changed to {psum} without o_valid "
                          f"(should hold {hold})")
        n_valid += bool(obs["o_valid"])
        if t >= 1:
            for out, inp in FORWARDED.items():
                if obs[out] != driven[t - 1][inp]:
                    errors.append(f"cycle {t}: {out}={obs[out]:#x} does not forward the "
                                  f"previous cycle's {inp}={driven[t - 1][inp]:#x}")
        if len(errors) >= limit:
            break
    missing = [c for c in want if c >= len(observed)]
    if missing:
        errors.append(f"{len(missing)} expected results fall after the last observed cycle")
    return errors
