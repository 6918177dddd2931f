"""Checking a PE's recorded outputs against the contract and the golden model.

Shared by the amaranth.sim harness and the cocotb testbench: both record, for every cycle, the
contract inputs as applied and the contract outputs as read, and these functions compare them
with what the contract promises:

* :func:`compare_results`: the results (the cycles with ``o_valid`` high), in order, against the
  golden model's ``(cycle, value)`` list: every result's value *and* cycle;
* :func:`check_hold`: ``o_psum`` holds the last result between results (zero from reset);
* :func:`check_forwarding`: ``o_a`` / ``o_w`` / ``o_ctl`` repeat the previous cycle's inputs
  (systolic forwarding);
* :func:`check_ready`: ``o_ready`` as the golden model's timing predicts it.

:func:`check_cycles` runs them all on one recorded trace (what the amaranth.sim tests use); the
cocotb testbench's scoreboard (:mod:`mpgemm.sim.cocotb.tb_pe`) calls them one by one.
"""

from collections.abc import Sequence
from typing import Any

from .golden.contract import Beat, decode_psum, encode_beat, expected_ready

__all__ = [
    "INPUTS", "FORWARDED", "OUTPUTS", "driven_inputs", "observed_results", "compare_results",
    "check_hold", "check_forwarding", "check_ready", "first_errors", "check_cycles",
]

INPUTS = ("i_a", "i_w", "i_psum", "i_ctl")
#: output port -> the input port it forwards one cycle later.
FORWARDED = {"o_a": "i_a", "o_w": "i_w", "o_ctl": "i_ctl"}
#: Outputs a monitor records every cycle.
OUTPUTS = (*FORWARDED, "o_psum", "o_valid", "o_ready")

#: An error: the cycle it is about (for ordering) and its message.
Error = tuple[int, str]


def driven_inputs(config: Any, beats: list[Beat], cycles: int) -> list[dict[str, int]]:
    """The input port values of every cycle as a driver applies them.

    After the last beat the operands keep their last values and ``i_ctl`` goes to zero.
    """
    driven: list[dict[str, int]] = []
    last = dict.fromkeys(INPUTS, 0)
    for t in range(cycles):
        if t < len(beats):
            last = encode_beat(config, beats[t])
        else:
            last = {**last, "i_ctl": 0}
        driven.append(last)
    return driven


def observed_results(config: Any, observed: Sequence[dict[str, int]]) -> list[tuple[int, Any]]:
    """``(cycle, o_psum)`` of every cycle with ``o_valid`` high, ``o_psum`` decoded."""
    return [(t, decode_psum(config, o["o_psum"])) for t, o in enumerate(observed)
            if o["o_valid"]]


def compare_results(expected: Sequence[tuple[int, Any]], got: Sequence[tuple[int, Any]], *,
                    cycles: int, limit: int = 10) -> list[Error]:
    """The ``k``-th result against the ``k``-th expected one, in order: value and cycle.

    ``cycles`` is the number of cycles observed (an expected result after them is missing
    because the run ended, not because the PE dropped it).
    """
    errors: list[Error] = []
    if len({c for c, _ in expected}) != len(expected):
        errors.append((0, "golden model produced two results in one cycle"))
    for k, ((ce, ve), (cg, vg)) in enumerate(zip(expected, got, strict=False)):
        if len(errors) >= limit:
            return errors
        if (ce, ve) == (cg, vg):
            continue
        if ce == cg:
            errors.append((cg, f"cycle {cg}: result {k}: expected o_psum {ve}, got {vg}"))
        elif ve == vg:
            errors.append((min(ce, cg), f"cycle {cg}: result {k} ({vg}) is "
                                        f"{'late' if cg > ce else 'early'}: expected at "
                                        f"cycle {ce}"))
        else:
            errors.append((min(ce, cg), f"cycle {cg}: result {k}: expected o_psum {ve} at "
                                        f"cycle {ce}, got {vg} at cycle {cg}"))
    if len(got) > len(expected):
        cg, vg = got[len(expected)]
        errors.append((cg, f"cycle {cg}: unexpected o_valid with o_psum {vg} "
                           f"({len(got)} results, {len(expected)} expected)"))
    elif len(expected) > len(got):
        ce, ve = expected[len(got)]
        if ce >= cycles:
            late = sum(1 for c, _ in expected[len(got):] if c >= cycles)
            errors.append((cycles, f"{late} expected results fall after the last observed "
                                   f"cycle {cycles - 1}"))
        else:
            errors.append((ce, f"cycle {ce}: expected a result {ve}, o_valid is low "
                               f"({len(got)} results, {len(expected)} expected)"))
    return errors[:limit]


def check_hold(config: Any, observed: Sequence[dict[str, int]], *,
               limit: int = 10) -> list[Error]:
    """``o_psum`` keeps the last result's value while ``o_valid`` is low (zero from reset)."""
    errors: list[Error] = []
    hold_raw = 0
    for t, obs in enumerate(observed):
        raw = obs["o_psum"]
        if obs["o_valid"]:
            hold_raw = raw
        elif raw != hold_raw:
            errors.append((t, f"cycle {t}: o_psum changed to {decode_psum(config, raw)} without "
                              f"o_valid (should hold {decode_psum(config, hold_raw)})"))
            if len(errors) >= limit:
                break
            hold_raw = raw      # one message per change, not one per cycle after it
    return errors


def check_forwarding(inputs: Sequence[dict[str, int]], observed: Sequence[dict[str, int]], *,
                     limit: int = 10) -> list[Error]:
    """``o_a`` / ``o_w`` / ``o_ctl`` of cycle ``t`` equal ``i_a`` / ``i_w`` / ``i_ctl`` of
    cycle ``t - 1`` (``inputs[t]`` holds the raw values applied in cycle ``t``)."""
    errors: list[Error] = []
    for t in range(1, min(len(observed), len(inputs) + 1)):
        obs, prev = observed[t], inputs[t - 1]
        for out, inp in FORWARDED.items():
            if obs[out] != prev[inp]:
                errors.append((t, f"cycle {t}: {out}={obs[out]:#x} does not forward the "
                                  f"previous cycle's {inp}={prev[inp]:#x}"))
        if len(errors) >= limit:
            break
    return errors[:limit]


def check_ready(ready: Sequence[int], observed: Sequence[dict[str, int]], *,
                limit: int = 10) -> list[Error]:
    """``o_ready`` of every cycle against ``ready`` (:func:`expected_ready`)."""
    errors: list[Error] = []
    for t, (obs, want) in enumerate(zip(observed, ready, strict=False)):
        if obs["o_ready"] != want:
            errors.append((t, f"cycle {t}: o_ready={obs['o_ready']}, expected {want}"))
            if len(errors) >= limit:
                break
    return errors


def first_errors(*groups: list[Error], limit: int = 10) -> list[str]:
    """The messages of the ``limit`` earliest errors of all ``groups``, in cycle order."""
    merged = sorted((e for g in groups for e in g), key=lambda e: e[0])
    return [msg for _, msg in merged[:limit]]


def check_cycles(config: Any, driven: list[dict[str, int]], observed: list[dict[str, int]],
                 expected: list[tuple[int, int]], *, beats: list[Beat] | None = None,
                 limit: int = 10) -> list[str]:
    """Differences between ``observed`` outputs and the contract (at most ``limit`` listed).

    ``driven[t]`` holds the raw input values applied in cycle ``t`` (:func:`driven_inputs`) and
    ``observed[t]`` the raw unsigned values of :data:`OUTPUTS` read during it; ``expected`` is
    :func:`mpgemm.sim.golden.contract.run_contract`'s ``(cycle, value)`` list. With ``beats``
    given, ``o_ready`` is checked against :func:`expected_ready` too.
    """
    groups = [
        compare_results(expected, observed_results(config, observed), cycles=len(observed),
                        limit=limit),
        check_hold(config, observed, limit=limit),
        check_forwarding(driven, observed, limit=limit),
    ]
    if beats is not None:
        groups.append(check_ready(expected_ready(config, beats, len(observed)), observed,
                                  limit=limit))
    return first_errors(*groups, limit=limit)
