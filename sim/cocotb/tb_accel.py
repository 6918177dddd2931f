"""cocotb end-to-end test of an accelerator (:mod:`mpgemm.hw.array.accel`).

For each GEMM shape (:func:`~mpgemm.sim.stimulus.array.gemm_shapes`: edge tiles, M = 1, the
longest K the buffers take, random shapes) the test draws operands with the PE family's
generator (every other GEMM with extreme values; an FP16-MAC accelerator also runs four GEMMs
whose two halves of K nearly cancel, :func:`~mpgemm.sim.stimulus.array.cancelling_gemm`), streams
the words into the buffers through ``a_in`` and ``w_in`` (both at once, with random stalls), starts
the GEMM, and reads ``y_out`` with random back-pressure. While the array computes the testbench
only waits for ``y_out`` to become valid, so the simulator runs free. Checked for every GEMM:
``Y`` bit-exactly against :func:`~mpgemm.sim.golden.array.array_gemm`, and the ``cycles``
counter against :func:`~mpgemm.costmodel.array.gemm_cycles`.

Then a sequence of GEMMs runs back to back with a host that never stalls (each GEMM's words
from the cycle after the previous ``start`` was taken, ``start`` as soon as they are in, every
output word taken at once): a GEMM with many output words followed by short ones (which finish
while its words still stream out), then twice the decode shape (M = 1, the longest K).
Checked: every ``Y``, and the sequence's cycles (first word loaded to last word taken) against
:func:`~mpgemm.costmodel.array.stream_cycles`, for one bank or two (``double_buffer``).

Environment (set by :mod:`mpgemm.sim.runner`): ``MPGEMM_CONFIG`` (the accelerator config),
``MPGEMM_VECTORS`` (random shapes, on top of the fixed ones), ``MPGEMM_SEED`` and
``MPGEMM_STATS`` (where to write a JSON summary with every shape's measured and predicted
cycles, and the simulator's speed while the array computes alone: ``compute_cycles`` in
``compute_s`` seconds).
"""

import json
import os
import random
import time
from dataclasses import replace
from typing import Any

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, RisingEdge, SimTimeoutError, with_timeout

from mpgemm.costmodel.array import gemm_cycles, stream_cycles
from mpgemm.hw.array.config import accel_from_dict
from mpgemm.sim.golden.array import array_gemm
from mpgemm.sim.stimulus import random_gemm
from mpgemm.sim.stimulus.array import AccelDriver, cancelling_gemm, gemm_shapes, sequence_shapes

#: Probability that a stream source or sink stalls in a cycle.
STALL = 0.25


async def _load(dut, port: str, words: list[int], rng: random.Random) -> None:
    """Stream ``words`` into ``port`` (valid/ready), idling at random.

    Ports are read and driven at falling edges (``ready`` depends on registers only); a word
    offered while ``ready`` is high is taken at the next rising edge."""
    valid, payload, ready = (getattr(dut, f"{port}__{s}") for s in ("valid", "payload", "ready"))
    i = 0
    while i < len(words):
        await FallingEdge(dut.clk)
        offer = rng.random() >= STALL
        valid.value = int(offer)
        payload.value = words[i] if offer else rng.getrandbits(len(payload))
        if offer and int(ready.value):
            i += 1
    await FallingEdge(dut.clk)
    valid.value = 0


#: Clock period in ns.
PERIOD = 10


async def _read(dut, rng: random.Random, limit: int, patience: int,
                started: list[float]) -> list[int | None]:
    """Every ``y_out`` word until ``busy`` falls, with random back-pressure (read at falling
    edges: ``valid`` and ``payload`` come from registers). Raises SimTimeoutError if no word
    comes within ``patience`` cycles."""
    words: list[int | None] = []
    # The computation is over when the first word is offered; then cycle by cycle.
    await with_timeout(RisingEdge(dut.y_out__valid), patience * PERIOD, "ns")
    started.append(time.perf_counter())
    for _ in range(limit):
        await FallingEdge(dut.clk)
        if not int(dut.busy.value):
            break
        take = rng.random() >= STALL
        dut.y_out__ready.value = int(take)
        if take and int(dut.y_out__valid.value):
            value = dut.y_out__payload.value
            # An output word never written holds X (Icarus) or junk: recorded, not fatal.
            words.append(int(value) if value.is_resolvable else None)
    dut.y_out__ready.value = 0
    return words


async def _sequence(dut, accel, words: list[tuple[list[int], list[int]]],
                    shapes: list[tuple[int, int, int]], limit: int) -> tuple[list, int]:
    """Run the GEMMs back to back with a host that never stalls; ``(output words per GEMM,
    cycles from the first word loaded to the last word taken)``. Ports are read at falling
    edges (ready, start_ready, valid and payload come from registers) and a transfer happens
    at the next rising edge."""
    db = accel.double_buffer
    out_words = [accel.words(*s)["o"] for s in shapes]
    ys: list[list[int | None]] = [[] for _ in shapes]
    load = started = got = ai = wi = 0
    t = 0
    first = last = None
    dut.y_out__ready.value = 1
    while got < len(shapes):
        await FallingEdge(dut.clk)
        t += 1  # the coming rising edge
        if t > limit:
            break
        a_rdy, w_rdy = int(dut.a_in__ready.value), int(dut.w_in__ready.value)
        can = int(dut.start_ready.value) if db else not int(dut.busy.value)
        valid = int(dut.y_out__valid.value)
        payload = dut.y_out__payload.value
        loading = load < len(shapes) and load == started
        a_w, w_w = words[load] if loading else ([], [])
        dut.a_in__valid.value = int(ai < len(a_w))
        dut.w_in__valid.value = int(wi < len(w_w))
        if ai < len(a_w):
            dut.a_in__payload.value = a_w[ai]
        if wi < len(w_w):
            dut.w_in__payload.value = w_w[wi]
        want = loading and ai == len(a_w) and wi == len(w_w)
        if want:
            m, n, k = shapes[load]
            dut.m.value, dut.n.value, dut.k_beats.value = m, n, k // accel.array.lanes
        dut.start.value = int(want)
        if (ai < len(a_w) and a_rdy) or (wi < len(w_w) and w_rdy):
            first = t if first is None else first
        ai += int(ai < len(a_w) and a_rdy)
        wi += int(wi < len(w_w) and w_rdy)
        if want and can:
            started += 1
            load += 1
            ai = wi = 0
        if valid:
            ys[got].append(int(payload) if payload.is_resolvable else None)
            last = t
            if len(ys[got]) == out_words[got]:
                got += 1
    await FallingEdge(dut.clk)
    for name in ("a_in__valid", "w_in__valid", "start", "y_out__ready"):
        getattr(dut, name).value = 0
    if got < len(shapes) or first is None or last is None:
        return ys, -1
    return ys, last - first + 1


async def _check_sequence(dut, accel, driver, rng, decode) -> tuple[dict, list[str], int]:
    """The back-to-back sequence (:func:`sequence_shapes`): ``(stats, errors, outputs
    checked)``; ``stats["cycles"]`` is -1 if the sequence did not finish."""
    seq = sequence_shapes(accel, decode)
    ops = [random_gemm(accel.pe, rng, m, k, n, extreme=bool(i % 2))
           for i, (m, n, k) in enumerate(seq)]
    dtypes = [w.dtypes for _, w in ops]
    predicted = stream_cycles(accel, seq, dtypes=dtypes).total
    other = stream_cycles(replace(accel, double_buffer=not accel.double_buffer), seq,
                          dtypes=dtypes).total
    got_words, measured = await _sequence(
        dut, accel, [(driver.a_words(a), driver.w_words(w)) for a, w in ops], seq,
        limit=4 * predicted + 1000)
    stats = {"gemms": [list(g) for g in seq], "cycles": measured, "predicted": predicted,
             "banks": accel.banks, "other_banks_predicted": other}
    if measured < 0:
        return stats, [f"sequence {seq}: not done within {4 * predicted + 1000} cycles (the "
                       f"cost model predicts {predicted})"], 0
    errors, outputs = [], 0
    for (m, n, k), (a, w), y_words in zip(seq, ops, got_words, strict=True):
        expected = array_gemm(accel, a, w)
        if any(v is None for v in y_words):
            errors.append(f"sequence M={m} N={n} K={k}: output words hold X or Z")
            continue
        bad = np.argwhere(driver.result(y_words, m, n) != expected)
        outputs += expected.size
        if len(bad):
            errors.append(f"sequence M={m} N={n} K={k}: {len(bad)} of {expected.size} "
                          f"outputs differ")
    if measured != predicted:
        errors.append(f"sequence {seq}: {measured} cycles, the cost model predicts {predicted}")
    dut._log.info(f"sequence {seq}: cycles {measured} (predicted {predicted}; with "
                  f"{3 - accel.banks} bank(s): {other})")
    return stats, errors, outputs


@cocotb.test()
async def test_accel_gemms(dut):
    """End-to-end GEMMs against the golden model, cycles against the cost model."""
    accel = accel_from_dict(json.loads(os.environ["MPGEMM_CONFIG"]))
    n_random = int(os.environ.get("MPGEMM_VECTORS", "4"))
    seed = int(os.environ.get("MPGEMM_SEED", "1"))
    rng = np.random.default_rng(seed)
    stall = random.Random(f"mpgemm-accel-{seed}")
    driver = AccelDriver(accel)
    shapes = gemm_shapes(accel, rng, n_random)
    dut._log.info(f"{accel.array.rows}x{accel.array.cols} {accel.array.dataflow} of "
                  f"{accel.pe.kind}: seed={seed}, shapes={shapes}")

    Clock(dut.clk, PERIOD, unit="ns").start()
    for name in ("a_in__valid", "w_in__valid", "y_out__ready", "start", "m", "n", "k_beats",
                 "a_in__payload", "w_in__payload"):
        getattr(dut, name).value = 0
    dut.rst.value = 1
    for _ in range(2):
        await RisingEdge(dut.clk)
    dut.rst.value = 0

    errors: list[str] = []
    runs = []
    run_s = 0.0  # wall time of the computations alone (no Python in the loop)
    run_cycles = 0
    sim_s = 0.0
    total_cycles = 0
    outputs = 0
    # The shapes' random operands, then (FP16 MACs) a GEMM whose halves of K nearly cancel.
    jobs: list[tuple[int, int, int, Any]] = [(m, n, k, None) for m, n, k in shapes]
    # Four of them: each output's cancellation depth is random, and together they reach the
    # depths each leading-one position of the sums' normalisers needs; the deepest one moves
    # to the next column each time (a weight-stationary edge has an adder per column).
    for column in range(4):
        cancel = cancelling_gemm(accel, rng, column)
        if cancel is not None:
            jobs.append((accel.array.rows, accel.array.cols, cancel[0].shape[1], cancel))
    for i, (m, n, k, ops) in enumerate(jobs):
        a, w = ops if ops is not None else random_gemm(accel.pe, rng, m, k, n,
                                                       extreme=bool(i % 2))
        expected = array_gemm(accel, a, w)
        a_words, w_words = driver.a_words(a), driver.w_words(w)
        predicted = gemm_cycles(accel, m, n, k, dtypes=w.dtypes).total
        t0 = time.perf_counter()
        start = cocotb.start_soon(_load(dut, "a_in", a_words, stall))
        await _load(dut, "w_in", w_words, stall)
        await start
        await FallingEdge(dut.clk)
        dut.m.value, dut.n.value, dut.k_beats.value = m, n, k // accel.array.lanes
        dut.start.value = 1
        await FallingEdge(dut.clk)
        dut.start.value = 0
        t_run = time.perf_counter()
        started: list[float] = []
        try:
            words = await _read(dut, stall, limit=len(expected.ravel()) * 8 + 64,
                                patience=4 * predicted + 1000, started=started)
        except SimTimeoutError:
            errors.append(f"M={m} N={n} K={k}: no output within {4 * predicted + 1000} cycles "
                          f"(the cost model predicts {predicted})")
            break
        sim_s += time.perf_counter() - t0
        measured = int(dut.cycles.value)
        if started:
            run_s += started[0] - t_run
            run_cycles += measured
        total_cycles += measured + len(a_words) + len(w_words) + len(words)
        runs.append({"m": m, "n": n, "k": k, "cycles": measured, "predicted": predicted})
        unknown = sum(w is None for w in words)
        if unknown:
            errors.append(f"M={m} N={n} K={k}: {unknown} output words hold X or Z")
            continue
        try:
            got = driver.result([w for w in words if w is not None], m, n)
        except ValueError as e:
            errors.append(f"M={m} N={n} K={k}: {e}")
            continue
        bad = np.argwhere(got != expected)
        outputs += expected.size
        if len(bad):
            r, c = bad[0]
            errors.append(f"M={m} N={n} K={k}: {len(bad)} of {expected.size} outputs differ, "
                          f"first Y[{r}, {c}] = {got[r, c]}, expected {expected[r, c]}")
        if measured != predicted:
            errors.append(f"M={m} N={n} K={k}: {measured} cycles, the cost model predicts "
                          f"{predicted}")
        dut._log.info(f"M={m} N={n} K={k}: cycles {measured} (predicted {predicted})")
    sequence = None
    if not errors:
        t0 = time.perf_counter()
        sequence, seq_errors, seq_outputs = await _check_sequence(dut, accel, driver, rng,
                                                                  shapes[1])
        sim_s += time.perf_counter() - t0
        errors += seq_errors
        outputs += seq_outputs
        total_cycles += max(0, sequence["cycles"])
    for line in errors:
        dut._log.error(line)
    if os.environ.get("MPGEMM_STATS"):
        with open(os.environ["MPGEMM_STATS"], "w") as f:
            json.dump({"kind": "accel", "seed": seed, "vectors": outputs,
                       "cycles": total_cycles, "errors": len(errors), "sim_s": sim_s,
                       "compute_cycles": run_cycles, "compute_s": run_s,
                       "gemms": runs, "sequence": sequence}, f)
    assert not errors, f"{len(errors)} mismatches (seed={seed}): {errors[0]}"
