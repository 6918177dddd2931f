"""Streaming cocotb testbench for any PE of the contract in :mod:`mpgemm.hw.contract`.

Layered as in cocotb's matrix_multiplier example:

* :class:`BeatDriver` takes a queue of transactions (the stimulus beats; an idle beat is a
  transaction too: it carries junk operands and may load the weight register) and presents one
  per cycle. A *valid* beat is held while ``o_ready`` is low: presented again, unchanged, until a
  cycle with ``o_ready`` high takes it, so a stimulus need not know when the PE is busy. With
  ``MPGEMM_GAPS`` set it also inserts extra idle cycles (``valid`` and ``load_w`` low, random
  operand bits) between transactions.
* :class:`InputMonitor` samples the inputs the PE samples in every cycle and turns them into the
  stream of beats the PE *accepted*: ``valid`` is kept only where ``o_ready`` was high.
  :class:`OutputMonitor` records every cycle's outputs (and which of them read X or Z).
* :class:`Model`, fed by the input monitor, replays the accepted stream through the family's
  golden model (:func:`~mpgemm.sim.golden.contract.run_contract`): the expected results and the
  cycles in which ``o_ready`` must be low.
* :class:`Scoreboard` compares, with the functions of :mod:`mpgemm.sim.scoreboard`, every result
  in order (value and cycle), ``o_psum`` holding between results, ``o_a``/``o_w``/``o_ctl``
  forwarding the previous cycle's inputs, and ``o_ready`` as predicted.

A valid beat offered while ``o_ready`` is low is ignored by the PE, apart from ``load_w``, which
the contract lets load the weight register with or without ``valid``: both multi-cycle families
take a beat only on ``accept = valid & ready`` and gate every state change a beat causes with it
(``pe_designs/bitserial/rtl.py``, ``pe_designs/lut/rtl.py``); the single-cycle families tie
``o_ready`` high. Runs of every preset with ``MPGEMM_STREAM=packed``, which offer each beat for
as long as the PE is busy, match the golden model, and so did a trial driver that offered a
different random valid beat (random ``first``/``last``/``group_end``) in every busy cycle. So
the driver may hold a beat with ``valid`` high (the usual valid/ready handshake), and the input
monitor records the waiting cycles as idle ones (keeping ``load_w``). A PE that took such beats
would need a driver that never raises ``valid`` without ``o_ready``.

Environment (set by :mod:`mpgemm.sim.runner`): ``MPGEMM_CONFIG`` (the design's config, the
manifest's JSON), ``MPGEMM_VECTORS`` (random valid beats), ``MPGEMM_SEED``, ``MPGEMM_STATS``
(where to write a JSON summary), and

* ``MPGEMM_STREAM``: ``spaced`` (default) drives the stimulus as its family generates it, idle
  cycles included, so every beat arrives when the PE is ready; ``packed`` drops the idle beats
  that do not load the weight register, so valid beats come back to back and the driver waits on
  ``o_ready`` (back-pressure);
* ``MPGEMM_GAPS``: the probability (default 0) of an extra idle cycle before each transaction,
  drawn from a random stream seeded by ``MPGEMM_SEED``.

Cycle convention (as in :mod:`mpgemm.sim.amaranth_sim`): the inputs of cycle ``t`` are driven at
the falling edge that opens it and sampled by the PE at the rising edge that closes it; the
outputs read at the falling edge that opens cycle ``t`` belong to cycle ``t``. Outputs are only
read at falling edges, half a cycle from the rising edges where registers change (and
``o_ready`` depends on registers only), so no simulator's ordering of events within an edge
matters; inputs, which only the driver changes (at falling edges), are sampled at rising edges.
"""

import json
import os
import random
import time
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.queue import Queue, QueueEmpty
from cocotb.triggers import ClockCycles, FallingEdge, RisingEdge

from mpgemm.pe_designs.registry import config_from_dict
from mpgemm.sim.golden.contract import Beat, encode_beat, run_contract
from mpgemm.sim.golden.ports import PE_CONTROL
from mpgemm.sim.scoreboard import (
    OUTPUTS,
    check_forwarding,
    check_hold,
    check_ready,
    compare_results,
    first_errors,
    observed_results,
)
from mpgemm.sim.stimulus import corner_beats, count_valid, random_beats, w_reset

STREAMS = ("spaced", "packed")
OPERANDS = ("i_a", "i_w", "i_psum")


def _control_bits() -> dict[str, int]:
    """The mask of each :data:`PE_CONTROL` bit within ``i_ctl``."""
    masks, offset = {}, 0
    for name, field in PE_CONTROL.fields:
        masks[name] = ((1 << field.width) - 1) << offset
        offset += field.width
    return masks


CTL = _control_bits()
#: What the model sees in a cycle without ``valid`` (accepted) or ``load_w``: operands unread.
IDLE = Beat(a=None, w=None)


class Transaction(NamedTuple):
    """One cycle's worth of stimulus: the beat and the integers its ports are driven with."""

    beat: Beat
    pins: dict[str, int]


class BeatCodec:
    """Beats to port integers (:func:`~mpgemm.sim.golden.contract.encode_beat`) and back.

    Port bits do not always determine the golden model's operand form (the LUT tile's weight
    port carries bit-planes, and :mod:`mpgemm.sim.golden` has no inverse of a family's weight
    packing), so :meth:`encode` remembers, for every operand that matters to the PE (a valid
    beat's activations, a ``first`` beat's partial sum, a ``load_w`` beat's weights), which
    value its bits stand for; :meth:`decode` reads that back for the bits a monitor sampled.
    """

    def __init__(self, config: Any):
        self.config = config
        self._known: dict[str, dict[int, Any]] = {port: {} for port in OPERANDS}

    def encode(self, beat: Beat) -> dict[str, int]:
        pins = encode_beat(self.config, beat)
        if beat.valid:
            self._known["i_a"].setdefault(pins["i_a"], beat.a)
            if beat.first:
                self._known["i_psum"].setdefault(pins["i_psum"], beat.psum)
        if beat.load_w:
            self._known["i_w"].setdefault(pins["i_w"], beat.w)
        return pins

    def operand(self, port: str, raw: int, cycle: int) -> Any:
        try:
            return self._known[port][raw]
        except KeyError:
            raise RuntimeError(f"input monitor, cycle {cycle}: {port}={raw:#x} is no operand "
                               f"the stimulus encoded") from None

    def decode(self, ctl: int, accepted: bool, a: int, w: int, psum: Callable[[], int],
               cycle: int) -> Beat:
        """The beat of one cycle from its sampled port bits (``psum`` reads ``i_psum``, only
        needed on an accepted ``first`` beat); ``accepted``: ``valid`` and ``o_ready``."""
        load_w = bool(ctl & CTL["load_w"])
        if not (accepted or load_w):
            return IDLE
        first = bool(ctl & CTL["first"])
        return Beat(
            a=self.operand("i_a", a, cycle) if accepted else None,
            w=self.operand("i_w", w, cycle) if load_w else None,
            psum=self.operand("i_psum", psum(), cycle) if accepted and first else 0,
            valid=accepted, load_w=load_w, first=first,
            last=bool(ctl & CTL["last"]), group_end=bool(ctl & CTL["group_end"]))


class BeatDriver:
    """Presents one transaction per cycle from ``queue`` at the falling edge that opens it.

    A valid beat presented while ``o_ready`` is low is held: driven again (its pins unchanged)
    until a cycle with ``o_ready`` high accepts it; an idle beat lasts one cycle. Before taking
    a transaction the driver inserts an idle cycle with probability ``gaps`` (``valid`` and
    ``load_w`` low, random operand bits). When the queue is empty it drives ``i_ctl`` to zero,
    the operands keeping their last values, and :meth:`run` returns; ``cycle`` is then the
    index of that first idle cycle. A beat still waiting after ``max_wait`` cycles ends the run
    with ``error`` set (the PE never became ready).
    """

    def __init__(self, dut, queue: Queue, *, widths: dict[str, int], gaps: float = 0.0,
                 rng: random.Random | None = None, max_wait: int = 1000):
        self.dut, self.queue = dut, queue
        self.gaps, self.rng, self.max_wait = gaps, rng or random.Random(0), max_wait
        self.widths = widths
        self._ports = [(port, getattr(dut, port)) for port in (*OPERANDS, "i_ctl")]
        self._applied: dict[str, int | None] = {port: None for port, _ in self._ports}
        self.cycle = -1
        #: Cycles in which a valid beat waited for ``o_ready``, idle cycles inserted.
        self.held = 0
        self.inserted = 0
        self.error: str | None = None

    def _apply(self, pins: Mapping[str, int | None]) -> None:
        # Only ports whose value changes are written (nothing else drives them); None: a port
        # never driven yet, left at the value the reset sequence gave it.
        applied = self._applied
        for port, handle in self._ports:
            value = pins[port]
            if value is not None and applied[port] != value:
                handle.value = value
                applied[port] = value

    def _ready(self) -> bool:
        return str(self.dut.o_ready.value) == "1"    # X or Z: not ready (reported elsewhere)

    def _gap(self) -> dict[str, int]:
        bits = self.rng.getrandbits
        return {**{port: bits(self.widths[port]) for port in OPERANDS}, "i_ctl": 0}

    async def run(self) -> None:
        edge = FallingEdge(self.dut.clk)
        txn: Transaction | None = None
        waited = 0
        while True:
            await edge
            self.cycle += 1
            if txn is None:
                if self.gaps and self.rng.random() < self.gaps:
                    self._apply(self._gap())
                    self.inserted += 1
                    continue
                try:
                    txn = self.queue.get_nowait()
                except QueueEmpty:
                    self._apply({**self._applied, "i_ctl": 0})
                    return
                self._apply(txn.pins)
            if txn.beat.valid and not self._ready():
                waited += 1
                self.held += 1
                if waited > self.max_wait:
                    self.error = (f"cycle {self.cycle}: o_ready stayed low for {waited} cycles "
                                  f"with a valid beat waiting")
                    self._apply({**self._applied, "i_ctl": 0})
                    return
                continue
            txn, waited = None, 0


class OutputMonitor:
    """Records every cycle's raw contract outputs (:data:`~mpgemm.sim.scoreboard.OUTPUTS`),
    sampled at the falling edge that opens the cycle; X or Z reads as -1 and is listed in
    ``unresolved`` (the first 10)."""

    def __init__(self, dut):
        self.dut = dut
        self._ports = [(port, getattr(dut, port)) for port in OUTPUTS]
        self.observed: list[dict[str, int]] = []
        self.unresolved: list[str] = []

    async def run(self) -> None:
        edge = FallingEdge(self.dut.clk)
        observed = self.observed
        while True:
            await edge
            values = {}
            for port, handle in self._ports:
                raw = handle.value
                try:
                    # Not int(raw), which COCOTB_RESOLVE_X would let turn X into a number.
                    values[port] = int(str(raw), 2)
                except ValueError:
                    values[port] = -1
                    if len(self.unresolved) < 10:
                        self.unresolved.append(f"cycle {len(observed)}: {port}={raw} is not 0/1")
            observed.append(values)


class InputMonitor:
    """Samples the inputs at the rising edge that closes each cycle (where the PE samples them)
    and passes the cycle's accepted beat (:meth:`BeatCodec.decode`) to its subscribers.

    ``valid`` counts only with the cycle's ``o_ready`` high; that is read from ``outputs`` (the
    output monitor samples it at the falling edge that opens the cycle, before this rising
    edge). ``inputs[t]`` keeps the raw ``i_a``, ``i_w`` and ``i_ctl`` of cycle ``t`` for the
    forwarding check.
    """

    def __init__(self, dut, codec: BeatCodec, outputs: OutputMonitor):
        self.dut, self.codec, self.outputs = dut, codec, outputs
        self.inputs: list[dict[str, int]] = []
        self._subscribers: list[Callable[[Beat], None]] = []

    def subscribe(self, callback: Callable[[Beat], None]) -> None:
        self._subscribers.append(callback)

    async def run(self) -> None:
        dut, decode, inputs = self.dut, self.codec.decode, self.inputs
        h_a, h_w, h_ctl, h_psum = dut.i_a, dut.i_w, dut.i_ctl, dut.i_psum
        valid_bit = CTL["valid"]

        def read_psum() -> int:
            return int(h_psum.value)

        edge = RisingEdge(dut.clk)
        while True:
            await edge
            t = len(inputs)
            ctl, a, w = int(h_ctl.value), int(h_a.value), int(h_w.value)
            inputs.append({"i_a": a, "i_w": w, "i_ctl": ctl})
            accepted = bool(ctl & valid_bit) and self.outputs.observed[t]["o_ready"] == 1
            beat = decode(ctl, accepted, a, w, read_psum, t)
            for callback in self._subscribers:
                callback(beat)


class Prediction(NamedTuple):
    """What the golden model expects of the accepted stream (``error``: why it has no answer)."""

    results: list[tuple[int, Any]]
    not_ready: list[int]
    error: str | None = None

    @property
    def last_event(self) -> int:
        """The last cycle with a result or ``o_ready`` low (-1: none)."""
        return max([c for c, _ in self.results] + self.not_ready + [-1])


class Model:
    """The transaction-level model: collects the accepted beats (one per cycle, from reset)
    and replays them through the family's golden model."""

    def __init__(self, config: Any):
        self.config = config
        self.beats: list[Beat] = []

    def observe(self, beat: Beat) -> None:
        self.beats.append(beat)

    def predict(self) -> Prediction:
        """Results and ``o_ready`` of the beats so far (later cycles being idle). A beat the
        golden model rejects (accepted while it has the PE busy, or operands it cannot mean)
        leaves ``error`` set."""
        low: list[int] = []
        try:
            results = run_contract(self.config, list(self.beats),
                                   w_reset=w_reset(self.config), not_ready=low)
        except ValueError as e:
            return Prediction([], [], f"the golden model rejects the accepted stream: {e}")
        return Prediction(results, low)


class Scoreboard:
    """Compares the monitors' records with the model's prediction (at most ``limit`` errors,
    earliest first)."""

    def __init__(self, config: Any, limit: int = 10):
        self.config, self.limit = config, limit

    def check(self, prediction: Prediction, inputs: list[dict[str, int]],
              observed: list[dict[str, int]]) -> list[str]:
        config, limit, cycles = self.config, self.limit, len(observed)
        groups = [check_hold(config, observed, limit=limit),
                  check_forwarding(inputs, observed, limit=limit)]
        if prediction.error:
            groups.append([(0, prediction.error)])
        else:
            ready = [1] * cycles
            for t in prediction.not_ready:
                if t < cycles:
                    ready[t] = 0
            groups += [
                compare_results(prediction.results, observed_results(config, observed),
                                cycles=cycles, limit=limit),
                check_ready(ready, observed, limit=limit),
            ]
        return first_errors(*groups, limit=limit)


def _env_stream() -> tuple[str, float]:
    stream = os.environ.get("MPGEMM_STREAM", "") or "spaced"
    if stream not in STREAMS:
        raise ValueError(f"MPGEMM_STREAM must be one of {', '.join(STREAMS)}, not {stream!r}")
    gaps = float(os.environ.get("MPGEMM_GAPS", "") or 0)
    if not 0 <= gaps < 1:
        raise ValueError(f"MPGEMM_GAPS must be a probability in [0, 1), not {gaps}")
    return stream, gaps


@cocotb.test()
async def test_pe_against_golden(dut):
    """Random and corner-case beats streamed through the PE against the family's golden model."""
    config = config_from_dict(json.loads(os.environ["MPGEMM_CONFIG"]))
    n_random = int(os.environ.get("MPGEMM_VECTORS", "1000"))
    seed = int(os.environ.get("MPGEMM_SEED", "1"))
    stream, gaps = _env_stream()
    dut._log.info(f"{config.kind}: seed={seed} random beats={n_random} stream={stream} "
                  f"gaps={gaps}")
    rng = np.random.default_rng(seed)
    beats = corner_beats(config) + random_beats(config, rng, n_random)
    if stream == "packed":
        beats = [b for b in beats if b.valid or b.load_w]
    codec = BeatCodec(config)
    queue: Queue[Transaction] = Queue()
    for beat in beats:
        queue.put_nowait(Transaction(beat, codec.encode(beat)))

    Clock(dut.clk, 10, unit="ns").start()   # cocotb 2: start() schedules the clock itself
    dut.i_ctl.value = 0
    dut.i_a.value = 0
    dut.i_w.value = 0
    dut.i_psum.value = 0
    dut.rst.value = 1
    for _ in range(2):
        await RisingEdge(dut.clk)
    dut.rst.value = 0

    latency = config.timing().latency
    ports = config.ports
    widths = {"i_a": ports.act.width, "i_w": ports.weight.width, "i_psum": ports.psum.width}
    driver = BeatDriver(dut, queue, widths=widths, gaps=gaps,
                        rng=random.Random(f"mpgemm-gaps-{seed}"), max_wait=4 * latency + 64)
    outputs = OutputMonitor(dut)
    inputs = InputMonitor(dut, codec, outputs)
    model = Model(config)
    inputs.subscribe(model.observe)
    t0 = time.perf_counter()
    monitors = [cocotb.start_soon(outputs.run()), cocotb.start_soon(inputs.run())]
    await cocotb.start_soon(driver.run())
    # The input monitor has sampled every cycle up to the driver's first idle one: the accepted
    # stream is complete (later cycles are idle), and so is the model's prediction.
    t1 = time.perf_counter()
    prediction = model.predict()
    model_s = time.perf_counter() - t1
    last = prediction.last_event if not prediction.error else driver.cycle + 2 * latency
    cycles = max(driver.cycle, last) + 9
    await ClockCycles(dut.clk, cycles - driver.cycle, rising=False)
    for task in monitors:
        task.cancel()
    sim_s = time.perf_counter() - t0 - model_s

    observed = outputs.observed[:cycles]
    errors = outputs.unresolved or Scoreboard(config).check(
        prediction, inputs.inputs[:cycles], observed)
    if driver.error:
        errors = [driver.error, *errors]
    for line in errors:
        dut._log.error(line)
    dut._log.info(f"{cycles} cycles: a valid beat waited for o_ready in {driver.held}, "
                  f"{driver.inserted} idle cycles inserted")
    stats = {
        "kind": config.kind, "seed": seed, "vectors": count_valid(beats),
        "results": len(prediction.results), "cycles": cycles + 2, "errors": len(errors),
        "valid_seen": sum(o["o_valid"] == 1 for o in observed),
        "sim_s": sim_s,
        "stream": stream, "gaps": gaps, "held": driver.held, "inserted": driver.inserted,
    }
    if os.environ.get("MPGEMM_STATS"):
        with open(os.environ["MPGEMM_STATS"], "w") as f:
            json.dump(stats, f)
    assert not errors, f"{len(errors)} mismatches against the golden model (seed={seed})"
