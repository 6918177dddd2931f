"""The accelerator: buffers, a tiling controller and a stream host port around a mesh.

The host streams the activation and weight words into their buffers (``a_in``, ``w_in``; the
word layouts are :mod:`mpgemm.sim.stimulus.array`'s), sets ``m``, ``n`` and ``k_beats`` (K in
beats of the PE's lanes) and raises ``start``. The controller then runs ``Y = A x W`` tile by
tile, ``cycles`` counting its cycles, and streams the output words out of ``y_out``; ``busy``
is high from ``start`` until the last output word has been taken. The cycle count is the
formula of :func:`mpgemm.costmodel.array.gemm_cycles`, cycle for cycle.

Schedule (``R x C`` array, PE result latency ``L``; slot 0 of the first tile is the cycle
after ``start``). A beat's buffer read takes a cycle and a register another, so a beat issued
in cycle ``t`` reaches PE ``(r, c)`` in cycle ``t + 2 + r * s + c`` (``s``: the row skew, 1 or
``L``).

* Output-stationary: for each block of ``R`` rows of A, each block of ``C`` columns of W and
  each chunk of K (as many beats as the PE's accumulator holds, whole quantization groups),
  a beat issues as soon as every PE can take it: after the previous beat's cycles for the
  slowest column's weight data type (one for single-cycle PEs), and after a group's end also
  once the previous group's dequantization is over (the golden model's schedule). A chunk's
  last beat waits until ``max(R, C + L_max - L_min)`` cycles after the previous chunk's
  (:attr:`AccelConfig.last_beat_spacing`): its ``R`` result rows leave the mesh one per cycle,
  each read the worst-case latency ``L_max`` after its last column's last beat, before the
  PEs of its first column overwrite their results with the next chunk's.
* Unsupported shapes (zero sizes, too large for the buffers) are the host's to reject
  (:meth:`AccelConfig.check_gemm`, :class:`mpgemm.sim.stimulus.array.AccelDriver`); the
  hardware ignores a ``start`` with a zero size (``busy`` stays low) and does not check the
  buffer bounds.
* Weight-stationary: for each block of ``C`` columns and each fold of ``R`` beats of K, the
  fold's weights are read into the shadow registers one array row every ``L`` slots while the
  ``M`` activation rows issue one per slot; the tile takes ``max(M, C, (R - 1) * L + 1)`` slots
  (the shadow registers of a row are free again ``C`` cycles after the fold begins).

The edge writes each finished output row into the output buffer (the first chunk) or adds it to
what is there (later chunks: integers in ``out_bits``, FP32 with one rounding).

Double buffering (``AccelConfig.double_buffer``): each buffer has two banks. The GEMM computes
from (and into) bank ``bank``; the host loads the other one at any time, and a ``start``
(taken when ``start_ready``) makes the loaded banks the GEMM's. ``start_ready`` is high once
the previous GEMM has written its last output and no finished GEMM waits to stream out: the
drain has its own read port and streams a finished GEMM's outputs from their bank while the
next GEMM computes into the other; a GEMM that finishes while the previous one still drains
waits for it (and holds ``start_ready`` low), so the bank the next ``start`` hands to the
edge has always been read out. :func:`mpgemm.costmodel.array.stream_cycles` is the resulting
cycle count of a sequence of GEMMs.
"""

from contextlib import nullcontext

from amaranth import Array, Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from mpgemm.hw.contract import PEControl, layout_of
from mpgemm.hw.fp import FP32, FPAdd

from .config import AccelConfig
from .mesh import Mesh, delayed

__all__ = ["Accelerator", "accel_signature"]

#: Width of the cycle counter.
CYCLE_BITS = 40


def _at_least(value, bound: int):
    return Mux(value < bound, bound, value)


def _words(config: AccelConfig) -> tuple[data.ArrayLayout, data.ArrayLayout, data.ArrayLayout]:
    a = config.array
    p = a.pe.ports
    out = signed(config.out_width) if a.pe.psum_format == "int" else unsigned(32)
    return (data.ArrayLayout(layout_of(p.act), a.rows),
            data.ArrayLayout(layout_of(p.weight), a.cols),
            data.ArrayLayout(out, a.cols))


def accel_signature(config: AccelConfig) -> wiring.Signature:
    a_word, w_word, o_word = _words(config)
    b = config.bounds
    return wiring.Signature({
        "a_in": In(stream.Signature(a_word)),
        "w_in": In(stream.Signature(w_word)),
        "y_out": Out(stream.Signature(o_word)),
        "m": In(range(b["m"] + 1)),
        "n": In(range(b["n"] + 1)),
        "k_beats": In(range(b["k_beats"] + 1)),
        "start": In(1),
        "busy": Out(1),
        "cycles": Out(CYCLE_BITS),
        **({"start_ready": Out(1)} if config.double_buffer else {}),
    })


class Accelerator(wiring.Component):
    """A mesh of ``config.array`` with its buffers and controller (see the module docstring).

    Ports
    -----
    a_in, w_in: In(stream.Signature(word))
        Buffer loading, one word per transfer from address 0 (reset by ``start``); taken
        while the accelerator is idle (double buffering: at any time) and the buffer (bank)
        has room.
    m, n, k_beats: In
        The GEMM's shape, read at ``start``.
    start: In(1)
        Starts the GEMM when idle.
    busy: Out(1)
        High from the cycle after ``start`` until the last output word is taken (double
        buffering: until every started GEMM's last output word is taken).
    start_ready: Out(1)
        Double buffering only: a ``start`` is taken in this cycle.
    cycles: Out(CYCLE_BITS)
        Cycles of the last GEMM's computation (from ``start`` to the last output written).
    y_out: Out(stream.Signature(word))
        The output words, in address order, after the computation.
    """

    def __init__(self, config: AccelConfig, *, pe_module: str | None = None):
        if not isinstance(config, AccelConfig):
            raise TypeError(f"config must be an AccelConfig, not {config!r}")
        self.config = config
        self.pe_module = pe_module  # see mpgemm.hw.array.tile.pe_instance
        super().__init__(accel_signature(config))

    def elaborate(self, platform):
        m = Module()
        cfg = self.config
        arr = cfg.array
        a_word, w_word, o_word = _words(cfg)
        db = cfg.double_buffer
        # The issue spaces output blocks by last_beat_spacing: rows finish one at a time.
        mesh = m.submodules.mesh = Mesh(arr, pe_module=self.pe_module, rows_apart=True)
        amem = m.submodules.a_buf = Memory(shape=a_word, depth=cfg.a_depth * cfg.banks, init=[])
        wmem = m.submodules.w_buf = Memory(shape=w_word, depth=cfg.w_depth * cfg.banks, init=[])
        omem = m.submodules.o_buf = Memory(shape=o_word, depth=cfg.o_depth * cfg.banks, init=[])
        a_wr, w_wr, o_wr = amem.write_port(), wmem.write_port(), omem.write_port()
        a_rd, w_rd = amem.read_port(), wmem.read_port()
        # The edge reads what it adds to (edge_adds); a single-buffered drain reads the
        # finished outputs through the same port.
        o_rd = (omem.read_port(transparent_for=(o_wr,)) if cfg.edge_adds or not db
                else None)
        # Double buffering: the GEMM computes in bank `bank` of each buffer (A, W and O) while
        # the host loads bank `load_bank` and the drain reads bank `drain_bank`; one buffer's
        # bank b is the addresses b * depth and up.
        bank = Signal(name="bank") if db else None
        load_bank = Signal(name="load_bank") if db else None

        def at(addr, depth: int, which=bank):
            if not db:
                return addr
            if depth & (depth - 1) == 0:   # a power of two: the bank is the top address bit
                return Cat(addr[:depth.bit_length() - 1], which)
            return addr + Mux(which, depth, 0)

        # --- host side: loading, shape registers, state ------------------------------------
        M = Signal.like(self.m, name="M")
        N = Signal.like(self.n, name="N")
        KB = Signal.like(self.k_beats, name="KB")
        run = Signal()
        drain = Signal()
        if db:
            pending = Signal(name="drain_pending")  # a finished GEMM's outputs wait
            # The host loads the other bank at any time; a start is taken once the previous
            # GEMM has computed and no finished GEMM's outputs still wait to stream out.
            m.d.comb += [self.busy.eq(run | drain | pending),
                         self.start_ready.eq(~run & ~pending)]
            can_start = self.start_ready
        else:
            m.d.comb += self.busy.eq(run | drain)
            can_start = ~self.busy
        load_addrs = []
        for port, mem_wr, depth, name in ((self.a_in, a_wr, cfg.a_depth, "a"),
                                          (self.w_in, w_wr, cfg.w_depth, "w")):
            addr = Signal(range(depth + 1), name=f"{name}_load_addr")
            load_addrs.append(addr)
            m.d.comb += [port.ready.eq((addr < depth) if db else ~self.busy & (addr < depth)),
                         mem_wr.addr.eq(at(addr, depth, load_bank)),
                         mem_wr.data.eq(port.payload), mem_wr.en.eq(port.valid & port.ready)]
            with m.If(port.valid & port.ready):
                m.d.sync += addr.eq(addr + 1)
            if not db:
                with m.If(self.start & ~self.busy):
                    m.d.sync += addr.eq(0)
        # A start with an empty shape is ignored (busy stays low): the host driver and the
        # config reject such GEMMs, and the controller's loops assume at least one beat.
        go = Signal()
        m.d.comb += go.eq(self.start & can_start &
                          (self.m != 0) & (self.n != 0) & (self.k_beats != 0))
        if db:  # the loaded banks become the GEMM's; the host loads the other ones next
            assert bank is not None and load_bank is not None
            with m.If(go):
                m.d.sync += [bank.eq(load_bank), load_bank.eq(~load_bank),
                             *(addr.eq(0) for addr in load_addrs)]
        with m.If(go):
            m.d.sync += [M.eq(self.m), N.eq(self.n), KB.eq(self.k_beats), run.eq(1),
                         self.cycles.eq(0)]
        with m.If(run):
            m.d.sync += self.cycles.eq(self.cycles + 1)

        # --- issue: beats (and weight-stationary shadow loads) -----------------------------
        issue = Signal(PEControl)  # the beat issued this cycle (valid low: an idle slot)
        wrow_en = Signal()
        wrow_sel = Signal(range(arr.rows))
        if arr.dataflow == "os":
            self._issue_os(m, go, run, M, N, KB, issue, a_rd, w_rd, at)
        else:
            self._issue_ws(m, go, run, M, N, KB, issue, a_rd, w_rd, wrow_en, wrow_sel, at)
        # Buffer read (one cycle), then a register stage, then the mesh's skew.
        m.d.sync += mesh.i_a.eq(a_rd.data)
        m.d.comb += mesh.i_ctl.eq(delayed(m, issue, 2, "issue"))
        if arr.dataflow == "os":
            m.d.sync += mesh.i_w.eq(w_rd.data)
        else:
            m.d.comb += [mesh.i_wrow.eq(w_rd.data),
                         mesh.i_wrow_en.eq(delayed(m, wrow_en, 1, "wrow_en")),
                         mesh.i_wrow_sel.eq(delayed(m, wrow_sel, 1, "wrow_sel"))]

        # --- edge: write or add finished rows into the output buffer -----------------------
        y_end = Signal(range(cfg.o_depth + 1))
        last_write = Signal()
        y_next = self._edge(m, go, M, N, KB, mesh, o_rd, o_wr, y_end, last_write, run, at)
        if db:
            self._drain_db(m, run, drain, pending, last_write, y_next, bank, omem)
            return m
        with m.If(run & last_write):
            m.d.sync += [run.eq(0), drain.eq(1)]

        # --- drain: stream the output words out --------------------------------------------
        raddr = Signal(range(cfg.o_depth + 1))
        have = Signal()
        fetch = Signal()
        assert o_rd is not None
        m.d.comb += [self.y_out.payload.eq(o_rd.data), self.y_out.valid.eq(have)]
        with m.If(drain):
            m.d.comb += fetch.eq((~have | self.y_out.ready) & (raddr < y_end))
            with m.If(fetch):
                m.d.sync += [raddr.eq(raddr + 1), have.eq(1)]
            with m.Elif(self.y_out.ready):
                m.d.sync += have.eq(0)
                with m.If(raddr == y_end):
                    m.d.sync += drain.eq(0)
        with m.If(go):
            m.d.sync += [raddr.eq(0), have.eq(0)]
        with m.If(drain):
            m.d.comb += [o_rd.addr.eq(raddr), o_rd.en.eq(fetch)]
        return m

    def _drain_db(self, m, run, drain, pending, last_write, y_next, bank, omem):
        """Double-buffered drain: its own read port streams a finished GEMM's outputs out of
        their bank while the next GEMM computes into the other. A GEMM that finishes while
        the previous one still drains waits (``pending``), and so does the next start."""
        cfg = self.config
        y_rd = omem.read_port()
        raddr = Signal(range(cfg.o_depth + 1), name="drain_addr")
        d_end = Signal.like(y_next, name="drain_end")
        p_end = Signal.like(y_next, name="pending_end")
        d_bank = Signal(name="drain_bank")
        have = Signal(name="drain_have")
        fetch = Signal(name="drain_fetch")
        done = Signal(name="drain_done")
        end = y_next  # the finished GEMM's output words, counting the row written now
        finish = Signal(name="gemm_finish")
        m.d.comb += [finish.eq(run & last_write),
                     self.y_out.payload.eq(y_rd.data), self.y_out.valid.eq(have),
                     y_rd.addr.eq(raddr + Mux(d_bank, cfg.o_depth, 0)), y_rd.en.eq(fetch)]
        with m.If(finish):
            m.d.sync += run.eq(0)
        with m.If(drain):
            m.d.comb += fetch.eq((~have | self.y_out.ready) & (raddr < d_end))
            with m.If(fetch):
                m.d.sync += [raddr.eq(raddr + 1), have.eq(1)]
            with m.Elif(self.y_out.ready):
                m.d.sync += have.eq(0)
                m.d.comb += done.eq(raddr == d_end)

        def begin(end_value):  # start draining the computing bank
            m.d.sync += [drain.eq(1), d_bank.eq(bank), d_end.eq(end_value), raddr.eq(0)]

        with m.If(done):
            with m.If(pending):
                begin(p_end)
                m.d.sync += pending.eq(0)
            with m.Elif(finish):
                begin(end)
            with m.Else():
                m.d.sync += drain.eq(0)
        with m.Elif(finish):
            with m.If(drain):
                m.d.sync += [pending.eq(1), p_end.eq(end)]
            with m.Else():
                begin(end)
                m.d.sync += have.eq(0)

    # -------------------------------------------------------------------------------------
    def _issue_os(self, m, go, run, M, N, KB, issue, a_rd, w_rd, at):
        cfg = self.config
        arr = cfg.array
        pe = arr.pe
        R, C = arr.rows, arr.cols
        cb = cfg.chunk_beats(cfg.k_beats_bound)  # beats per chunk (K may be shorter)
        bpg = pe.beats_per_group  # None: the PE has no group accumulator
        busy = pe.golden.dequant_busy_cycles(pe)
        spacing = cfg.last_beat_spacing
        b = cfg.bounds
        m0 = Signal(range(b["m"] + R + 1), name="os_m0")
        n0 = Signal(range(b["n"] + C + 1), name="os_n0")
        # Beats of K before this chunk: always 0 when no GEMM that fits has two chunks.
        chunked = cfg.edge_adds
        kc = Signal(range(b["k_beats"] + cb + 1), name="os_kc") if chunked else Const(0, 1)
        j = Signal(range(cb + 1), name="os_beat")          # beat within the chunk
        # Beat within the group; none for PEs without a group accumulator (bpg None).
        gb = Signal(range(bpg + 1), name="os_group_beat") if bpg is not None else None
        a_base = Signal(range(cfg.a_depth + 1), name="os_a_base")
        w_base = Signal(range(cfg.w_depth + 1), name="os_w_base")
        length = Signal(range(cb + 1), name="os_len")      # beats of this chunk
        if chunked:
            rest = Signal.like(KB, name="os_rest")
            m.d.comb += [rest.eq(KB - kc), length.eq(Mux(rest < cb, rest, cb))]
        else:
            m.d.comb += length.eq(KB)   # one chunk: the whole K (KB <= cb, as checked)

        # When the next beat may issue: after the previous beat's interval and, for a beat
        # closing a group, the dequantizer (_issue_gap); an output's last beat comes at least
        # `spacing` cycles after the previous output block's (its rows must have left).
        # PEs that take a beat every cycle and have no dequantizer to wait for (the integer
        # and FP16 MACs) need no countdowns: a beat may always issue.
        cycles = [pe.timing(f).cycles for f in pe.weight_formats]
        timed = cfg.issue_waits
        top = max(max(cycles), spacing) + busy + 1
        # Cycles since an output block's last beat issued, saturating at `spacing` (where it
        # starts: the first block waits for none).
        since = Signal(range(spacing + 1), name="os_since_last")
        waited = Signal(name="os_waited")   # `spacing` cycles have passed
        m.d.comb += waited.eq(since >= spacing)
        m.d.sync += since.eq(since + ~waited)
        gap_now = self._issue_gap(m, pe, cycles, top, busy, w_rd, C) if timed else Const(0, 1)
        is_last = Signal(name="os_is_last")
        group_end = Signal(name="os_group_end")
        m.d.comb += [is_last.eq(j == length - 1),
                     group_end.eq(is_last if gb is None or bpg is None else gb == bpg - 1)]
        fire = Signal(name="os_fire")
        m.d.comb += fire.eq(run & (m0 < M) & (gap_now == 0) &
                            (~is_last | waited))
        if timed:
            self._issue_gap_update(m, go, fire, group_end)
        with m.If(go):
            m.d.sync += [m0.eq(0), n0.eq(0), j.eq(0), a_base.eq(0),
                         w_base.eq(0), since.eq(spacing)]
            if gb is not None:
                m.d.sync += gb.eq(0)
            if chunked:
                m.d.sync += kc.eq(0)
        # The buffers are read only for a beat (their outputs, and the registers behind them,
        # hold still in idle cycles; the weight word also stays for the interval above).
        k = a_base + kc + j if chunked else a_base + j
        kw = w_base + kc + j if chunked else w_base + j
        m.d.comb += [a_rd.addr.eq(at(k, cfg.a_depth)),
                     w_rd.addr.eq(at(kw, cfg.w_depth)),
                     a_rd.en.eq(fire), w_rd.en.eq(fire)]
        with m.If(fire):
            m.d.comb += [issue.valid.eq(1), issue.load_w.eq(1), issue.first.eq(j == 0),
                         issue.last.eq(is_last), issue.group_end.eq(group_end)]
            m.d.sync += j.eq(j + 1)
            if gb is not None:
                m.d.sync += gb.eq(Mux(group_end, 0, gb + 1))
            with m.If(is_last):
                m.d.sync += [j.eq(0), since.eq(1)]
                if chunked:
                    m.d.sync += kc.eq(kc + length)
                with m.If(kc + length >= KB) if chunked else nullcontext():
                    if chunked:
                        m.d.sync += kc.eq(0)
                    m.d.sync += [n0.eq(n0 + C), w_base.eq(w_base + KB)]
                    with m.If(n0 + C >= N):
                        m.d.sync += [n0.eq(0), w_base.eq(0), m0.eq(m0 + R),
                                     a_base.eq(a_base + KB)]

    def _issue_gap(self, m, pe, cycles, top, busy, w_rd, C):
        """The cycles until the next beat may issue (``os_gap_now``): a beat's interval is the
        slowest column's cycles for its weight data type (read from the weight word, so known
        the cycle after the beat issued); after a beat that closes a group the PEs also wait
        for the previous group's dequantization (``busy`` cycles; the golden model's
        schedule). :meth:`_issue_gap_update` counts both down."""
        gap = self._gap = Signal(range(top), name="os_gap")   # cycles until a beat may issue
        dq = self._dq = Signal(range(top), name="os_dq")      # ... the dequantizer is free
        prev = self._prev = Signal(name="os_prev_issued")
        prev_ge = self._prev_ge = Signal(name="os_prev_group_end")
        interval = Signal(range(max(cycles) + 1), name="os_interval")
        fields = dict(pe.ports.weight.fields) if hasattr(pe.ports.weight, "fields") else {}
        if "dtype" in fields and len(set(cycles)) > 1:
            table = Array(Const(cycles[i % len(cycles)], interval.shape())
                          for i in range(1 << fields["dtype"].width))
            per_col = [table[w_rd.data[c].dtype] for c in range(C)]
            worst = per_col[0]
            for v in per_col[1:]:
                worst = Mux(v > worst, v, worst)
            m.d.comb += interval.eq(worst)
        else:
            m.d.comb += interval.eq(cycles[0])
        gap_now = Signal.like(gap, name="os_gap_now")
        dq_now = self._dq_now = Signal.like(dq, name="os_dq_now")
        m.d.comb += [gap_now.eq(gap), dq_now.eq(dq)]
        with m.If(prev):
            m.d.comb += gap_now.eq(interval - 1)
            with m.If(prev_ge):
                with m.If(dq > interval - 1):
                    m.d.comb += gap_now.eq(dq)
                m.d.comb += dq_now.eq(gap_now + busy)
        # Count down to 0 and stay there.
        m.d.sync += [gap.eq(gap_now - (gap_now != 0)), dq.eq(dq_now - (dq_now != 0))]
        return gap_now

    def _issue_gap_update(self, m, go, fire, group_end):
        """Whether a beat issued in the last cycle, and (read only then) its ``group_end``."""
        m.d.sync += [self._prev.eq(fire), self._prev_ge.eq(group_end)]
        with m.If(go):
            m.d.sync += [self._gap.eq(0), self._dq.eq(0), self._prev.eq(0)]

    def _issue_ws(self, m, go, run, M, N, KB, issue, a_rd, w_rd, wrow_en, wrow_sel, at):
        cfg = self.config
        arr = cfg.array
        R, C, L = arr.rows, arr.cols, arr.pe_latency
        top = max(cfg.bounds["m"], C, (R - 1) * L + 1)
        b = cfg.bounds
        n0 = Signal(range(b["n"] + C + 1), name="ws_n0")
        kf = Signal(range(b["k_beats"] + R + 1), name="ws_kf")
        slot = Signal(range(top + 1), name="ws_slot")
        period = Signal(range(top + 1), name="ws_period")
        a_base = Signal(range(cfg.a_depth + 1), name="ws_a_base")
        w_addr = Signal(range(cfg.w_depth + 1), name="ws_w_addr")
        row = Signal(range(R + 1), name="ws_row")
        phase = Signal(range(max(L, 2)), name="ws_phase")  # (a zero-width counter for L = 1)
        m.d.comb += period.eq(_at_least(_at_least(M, C), (R - 1) * L + 1))
        with m.If(go):
            m.d.sync += [n0.eq(0), kf.eq(0), slot.eq(0), a_base.eq(0), w_addr.eq(0),
                         row.eq(0), phase.eq(0)]
        with m.If(run & (n0 < N)):
            with m.If(slot < M):
                m.d.comb += [issue.valid.eq(1), issue.load_w.eq(slot == 0), issue.first.eq(1),
                             issue.last.eq(1), issue.group_end.eq(1),
                             a_rd.addr.eq(at(a_base + slot, cfg.a_depth))]
            # One array row's shadow registers every L slots.
            with m.If((row < R) & (phase == 0)):
                m.d.comb += [w_rd.addr.eq(at(w_addr, cfg.w_depth)), wrow_en.eq(1),
                             wrow_sel.eq(row)]
                m.d.sync += [w_addr.eq(w_addr + 1), row.eq(row + 1)]
            m.d.sync += [slot.eq(slot + 1), phase.eq(Mux(phase == L - 1, 0, phase + 1))]
            with m.If(slot == period - 1):
                m.d.sync += [slot.eq(0), phase.eq(0), row.eq(0), kf.eq(kf + R),
                             a_base.eq(a_base + M)]
                with m.If(kf + R >= KB):
                    m.d.sync += [kf.eq(0), a_base.eq(0), n0.eq(n0 + C)]
        # The buffers are read only for a beat or a shadow row.
        m.d.comb += [a_rd.en.eq(issue.valid), w_rd.en.eq(wrow_en)]

    # -------------------------------------------------------------------------------------
    def _edge(self, m, go, M, N, KB, mesh, o_rd, o_wr, y_end, last_write, run, at):
        """Stage 0 (the cycle a row leaves the mesh): its address and the read of what the
        buffer holds there; stage 1: write the row, or add it to the old contents."""
        cfg = self.config
        arr = cfg.array
        R, C = arr.rows, arr.cols
        os = arr.dataflow == "os"
        out = o_wr.data.shape()
        # The writer's own loop counters follow the issue order, one output block at a time.
        cb = cfg.chunk_beats(cfg.k_beats_bound)
        b = cfg.bounds
        wm0 = Signal(range(b["m"] + R + 1), name="edge_m0")     # os: first row of the block
        wn0 = Signal(range(b["n"] + C + 1), name="edge_n0")
        # Beats before this chunk; none when every GEMM that fits is one chunk (then every
        # row is its output's first and last chunk).
        chunked = cfg.edge_adds
        wk = Signal(range(b["k_beats"] + max(cb, R) + 1), name="edge_k") if chunked else None
        wrow = Signal.like(M, name="edge_row") if not os else None   # ws: the activation row
        y_base = Signal(range(cfg.o_depth * (C + 1) + 1), name="edge_y_base")  # n-block * M
        step = R if not os else cb
        with m.If(go):
            m.d.sync += [wm0.eq(0), wn0.eq(0), y_base.eq(0)]
            if wk is not None:
                m.d.sync += wk.eq(0)
            if wrow is not None:
                m.d.sync += wrow.eq(0)

        row_m = Signal(range(b["m"] + R + 1), name="edge_row_m")
        m.d.comb += row_m.eq(wm0 + mesh.o_row_index if os else wrow)
        addr = Signal(range(cfg.o_depth * (C + 2) + R + 1), name="edge_addr")
        m.d.comb += addr.eq(y_base + row_m)
        first_chunk = Signal()
        chunk_done = Signal()
        if wk is not None:
            m.d.comb += [first_chunk.eq(wk == 0), chunk_done.eq(wk + step >= KB)]
        else:
            m.d.comb += [first_chunk.eq(1), chunk_done.eq(1)]
        block_done = Signal()  # this row ends its block of outputs
        if os:
            m.d.comb += block_done.eq(mesh.o_row_index == R - 1)
        else:
            m.d.comb += block_done.eq(wrow == M - 1)

        with m.If(run & mesh.o_row_valid):
            if cfg.edge_adds:   # the old contents are read only to be added to
                m.d.comb += [o_rd.addr.eq(at(addr, cfg.o_depth)), o_rd.en.eq(1)]
            with m.If(block_done):
                if wk is not None:
                    m.d.sync += wk.eq(wk + step)
                if wrow is not None:
                    m.d.sync += wrow.eq(0)
                with m.If(chunk_done) if wk is not None else nullcontext():
                    if wk is not None:
                        m.d.sync += wk.eq(0)
                    m.d.sync += [wn0.eq(wn0 + C), y_base.eq(y_base + M)]
                    if os:
                        with m.If(wn0 + C >= N):
                            m.d.sync += [wn0.eq(0), y_base.eq(0), wm0.eq(wm0 + R)]
            if wrow is not None:
                with m.If(~block_done):
                    m.d.sync += wrow.eq(wrow + 1)

        # Stage 1.
        s1_valid = Signal()
        s1_write = Signal()
        s1_first = Signal()
        s1_addr = Signal.like(o_wr.addr, name="s1_addr")
        s1_row = Signal(data.ArrayLayout(out.elem_shape, C), name="s1_row")
        s1_last = Signal()
        is_last = Signal()
        if os:
            m.d.comb += is_last.eq(block_done & chunk_done & (wn0 + C >= N) & (wm0 + R >= M))
        else:
            m.d.comb += is_last.eq(block_done & chunk_done & (wn0 + C >= N))
        m.d.sync += [s1_valid.eq(run & mesh.o_row_valid),
                     s1_write.eq(run & mesh.o_row_valid & (row_m < M)),
                     s1_first.eq(first_chunk), s1_addr.eq(addr),
                     s1_last.eq(run & mesh.o_row_valid & is_last)]
        for k in range(C):
            m.d.sync += s1_row[k].eq(mesh.o_row[k])  # sign-extends an integer psum
        new = Signal.like(s1_row, name="edge_new")
        for k in range(C):
            if not cfg.edge_adds:
                m.d.comb += new[k].eq(s1_row[k])
            elif arr.pe.psum_format == "int":
                m.d.comb += new[k].eq(Mux(s1_first, s1_row[k], o_rd.data[k] + s1_row[k]))
            else:
                add = m.submodules[f"edge_add{k}"] = FPAdd(
                    FP32, normal_sums=cfg.fp16_product_sums)
                m.d.comb += [add.a.eq(o_rd.data[k]), add.b.eq(s1_row[k]),
                             new[k].eq(Mux(s1_first, s1_row[k], add.s))]
        m.d.comb += [o_wr.addr.eq(at(s1_addr, cfg.o_depth)), o_wr.data.eq(new),
                     o_wr.en.eq(s1_write),
                     last_write.eq(s1_last)]
        with m.If(s1_write & (s1_addr + 1 > y_end)):
            m.d.sync += y_end.eq(s1_addr + 1)
        with m.If(go):
            m.d.sync += y_end.eq(0)
        if not cfg.double_buffer:
            return None
        y_next = Signal.like(y_end, name="y_end_next")  # counting the row written now
        m.d.comb += y_next.eq(Mux(s1_write & (s1_addr + 1 > y_end), s1_addr + 1, y_end))
        return y_next
