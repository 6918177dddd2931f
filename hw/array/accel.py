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
  each chunk of K (as many beats as the PE's accumulator holds), the chunk's beats issue in
  consecutive cycles, and its last beat comes at least ``max(R, C)`` cycles after the previous
  chunk's (idle slots before its first beat): a chunk's ``R`` result rows leave the mesh one
  per cycle, and a row must be read before the PEs of its first column overwrite their
  results with the next chunk's.
* Weight-stationary: for each block of ``C`` columns and each fold of ``R`` beats of K, the
  fold's weights are read into the shadow registers one array row every ``L`` slots while the
  ``M`` activation rows issue one per slot; the tile takes ``max(M, C, (R - 1) * L + 1)`` slots
  (the shadow registers of a row are free again ``C`` cycles after the fold begins).

The edge writes each finished output row into the output buffer (the first chunk) or adds it to
what is there (later chunks: integers in ``out_bits``, FP32 with one rounding).
"""

from amaranth import Module, Mux, Signal, signed, unsigned
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
    })


class Accelerator(wiring.Component):
    """A mesh of ``config.array`` with its buffers and controller (see the module docstring).

    Ports
    -----
    a_in, w_in: In(stream.Signature(word))
        Buffer loading, one word per transfer from address 0 (reset by ``start``); taken
        while the accelerator is idle and the buffer has room.
    m, n, k_beats: In
        The GEMM's shape, read at ``start``.
    start: In(1)
        Starts the GEMM when idle.
    busy: Out(1)
        High from the cycle after ``start`` until the last output word is taken.
    cycles: Out(CYCLE_BITS)
        Cycles of the last GEMM's computation (from ``start`` to the last output written).
    y_out: Out(stream.Signature(word))
        The output words, in address order, after the computation.
    """

    def __init__(self, config: AccelConfig):
        if not isinstance(config, AccelConfig):
            raise TypeError(f"config must be an AccelConfig, not {config!r}")
        self.config = config
        super().__init__(accel_signature(config))

    def elaborate(self, platform):
        m = Module()
        cfg = self.config
        arr = cfg.array
        a_word, w_word, o_word = _words(cfg)
        mesh = m.submodules.mesh = Mesh(arr)
        amem = m.submodules.a_buf = Memory(shape=a_word, depth=cfg.a_depth, init=[])
        wmem = m.submodules.w_buf = Memory(shape=w_word, depth=cfg.w_depth, init=[])
        omem = m.submodules.o_buf = Memory(shape=o_word, depth=cfg.o_depth, init=[])
        a_wr, w_wr, o_wr = amem.write_port(), wmem.write_port(), omem.write_port()
        a_rd, w_rd = amem.read_port(), wmem.read_port()
        o_rd = omem.read_port(transparent_for=(o_wr,))

        # --- host side: loading, shape registers, state ------------------------------------
        M = Signal.like(self.m, name="M")
        N = Signal.like(self.n, name="N")
        KB = Signal.like(self.k_beats, name="KB")
        run = Signal()
        drain = Signal()
        m.d.comb += self.busy.eq(run | drain)
        for port, mem_wr, depth, name in ((self.a_in, a_wr, cfg.a_depth, "a"),
                                          (self.w_in, w_wr, cfg.w_depth, "w")):
            addr = Signal(range(depth + 1), name=f"{name}_load_addr")
            m.d.comb += [port.ready.eq(~self.busy & (addr < depth)),
                         mem_wr.addr.eq(addr), mem_wr.data.eq(port.payload),
                         mem_wr.en.eq(port.valid & port.ready)]
            with m.If(port.valid & port.ready):
                m.d.sync += addr.eq(addr + 1)
            with m.If(self.start & ~self.busy):
                m.d.sync += addr.eq(0)
        go = Signal()
        m.d.comb += go.eq(self.start & ~self.busy)
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
            self._issue_os(m, go, run, M, N, KB, issue, a_rd, w_rd)
        else:
            self._issue_ws(m, go, run, M, N, KB, issue, a_rd, w_rd, wrow_en, wrow_sel)
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
        self._edge(m, go, M, N, KB, mesh, o_rd, o_wr, y_end, last_write, run)
        with m.If(run & last_write):
            m.d.sync += [run.eq(0), drain.eq(1)]

        # --- drain: stream the output words out --------------------------------------------
        raddr = Signal(range(cfg.o_depth + 1))
        have = Signal()
        fetch = Signal()
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

    # -------------------------------------------------------------------------------------
    def _issue_os(self, m, go, run, M, N, KB, issue, a_rd, w_rd):
        cfg = self.config
        arr = cfg.array
        R, C = arr.rows, arr.cols
        cb = cfg.chunk_beats(cfg.k_beats_bound)  # beats per chunk (K may be shorter)
        b = cfg.bounds
        m0 = Signal(range(b["m"] + R + 1), name="os_m0")
        n0 = Signal(range(b["n"] + C + 1), name="os_n0")
        kc = Signal(range(b["k_beats"] + cb + 1), name="os_kc")
        slot = Signal(range(max(cb, R, C) + 1), name="os_slot")
        a_base = Signal(range(cfg.a_depth + 1), name="os_a_base")
        w_base = Signal(range(cfg.w_depth + 1), name="os_w_base")
        length = Signal(range(cb + 1), name="os_len")  # beats of this chunk
        period = Signal(range(max(cb, R, C) + 1), name="os_period")
        rest = Signal.like(KB, name="os_rest")
        first_tile = Signal(name="os_first_tile")
        m.d.comb += [rest.eq(KB - kc),
                     length.eq(Mux(rest < cb, rest, cb)),
                     period.eq(_at_least(_at_least(length, R), C))]
        with m.If(go):
            m.d.sync += [m0.eq(0), n0.eq(0), kc.eq(0), slot.eq(0), a_base.eq(0), w_base.eq(0),
                         first_tile.eq(1)]
        # The idle slots come first: a tile's results must wait for the previous tile's to
        # leave, which is counted from the previous tile's last beat. The first tile waits
        # for nothing.
        idle = Signal.like(period, name="os_idle")
        m.d.comb += idle.eq(Mux(first_tile, 0, period - length))
        j = Signal.like(slot, name="os_beat")
        m.d.comb += j.eq(slot - idle)
        with m.If(run & (m0 < M)):
            with m.If(slot >= idle):
                m.d.comb += [issue.valid.eq(1), issue.load_w.eq(1),
                             issue.first.eq(j == 0), issue.last.eq(j == length - 1),
                             issue.group_end.eq(j == length - 1),
                             a_rd.addr.eq(a_base + kc + j), w_rd.addr.eq(w_base + kc + j)]
            m.d.sync += slot.eq(slot + 1)
            with m.If(slot == idle + length - 1):
                m.d.sync += [slot.eq(0), kc.eq(kc + length), first_tile.eq(0)]
                with m.If(kc + length >= KB):
                    m.d.sync += [kc.eq(0), n0.eq(n0 + C), w_base.eq(w_base + KB)]
                    with m.If(n0 + C >= N):
                        m.d.sync += [n0.eq(0), w_base.eq(0), m0.eq(m0 + R),
                                     a_base.eq(a_base + KB)]
        m.d.comb += [a_rd.en.eq(1), w_rd.en.eq(1)]

    def _issue_ws(self, m, go, run, M, N, KB, issue, a_rd, w_rd, wrow_en, wrow_sel):
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
                             a_rd.addr.eq(a_base + slot)]
            # One array row's shadow registers every L slots.
            with m.If((row < R) & (phase == 0)):
                m.d.comb += [w_rd.addr.eq(w_addr), wrow_en.eq(1), wrow_sel.eq(row)]
                m.d.sync += [w_addr.eq(w_addr + 1), row.eq(row + 1)]
            m.d.sync += [slot.eq(slot + 1), phase.eq(Mux(phase == L - 1, 0, phase + 1))]
            with m.If(slot == period - 1):
                m.d.sync += [slot.eq(0), phase.eq(0), row.eq(0), kf.eq(kf + R),
                             a_base.eq(a_base + M)]
                with m.If(kf + R >= KB):
                    m.d.sync += [kf.eq(0), a_base.eq(0), n0.eq(n0 + C)]
        m.d.comb += [a_rd.en.eq(1), w_rd.en.eq(1)]

    # -------------------------------------------------------------------------------------
    def _edge(self, m, go, M, N, KB, mesh, o_rd, o_wr, y_end, last_write, run):
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
        wk = Signal(range(b["k_beats"] + max(cb, R) + 1), name="edge_k")  # beats before chunk
        wrow = Signal.like(M, name="edge_row")     # ws: the activation row
        y_base = Signal(range(cfg.o_depth * (C + 1) + 1), name="edge_y_base")  # n-block * M
        step = R if not os else cb
        with m.If(go):
            m.d.sync += [wm0.eq(0), wn0.eq(0), wk.eq(0), wrow.eq(0), y_base.eq(0)]

        row_m = Signal(range(b["m"] + R + 1), name="edge_row_m")
        m.d.comb += row_m.eq(wm0 + mesh.o_row_index if os else wrow)
        addr = Signal(range(cfg.o_depth * (C + 2) + R + 1), name="edge_addr")
        m.d.comb += addr.eq(y_base + row_m)
        first_chunk = Signal()
        m.d.comb += first_chunk.eq(wk == 0)
        chunk_done = Signal()
        m.d.comb += chunk_done.eq(wk + step >= KB)
        block_done = Signal()  # this row ends its block of outputs
        if os:
            m.d.comb += block_done.eq(mesh.o_row_index == R - 1)
        else:
            m.d.comb += block_done.eq(wrow == M - 1)

        with m.If(run & mesh.o_row_valid):
            m.d.comb += [o_rd.addr.eq(addr), o_rd.en.eq(1)]
            with m.If(block_done):
                m.d.sync += wk.eq(wk + step)
                if not os:
                    m.d.sync += wrow.eq(0)
                with m.If(chunk_done):
                    m.d.sync += [wk.eq(0), wn0.eq(wn0 + C), y_base.eq(y_base + M)]
                    if os:
                        with m.If(wn0 + C >= N):
                            m.d.sync += [wn0.eq(0), y_base.eq(0), wm0.eq(wm0 + R)]
            if not os:
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
                add = m.submodules[f"edge_add{k}"] = FPAdd(FP32)
                m.d.comb += [add.a.eq(o_rd.data[k]), add.b.eq(s1_row[k]),
                             new[k].eq(Mux(s1_first, s1_row[k], add.s))]
        m.d.comb += [o_wr.addr.eq(s1_addr), o_wr.data.eq(new), o_wr.en.eq(s1_write),
                     last_write.eq(s1_last)]
        with m.If(s1_write & (s1_addr + 1 > y_end)):
            m.d.sync += y_end.eq(s1_addr + 1)
        with m.If(go):
            m.d.sync += y_end.eq(0)
