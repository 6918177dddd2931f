"""LUT tensor core (LUT Tensor Core, ISCA 2025; T-MAC's table lookup).

An *elongated tile* of ``rows x cols`` multiplexer-PEs (the paper's M x N, default M2 N64)
consumes, per beat, a chunk of ``table_k`` activations per row (the paper's K = 4) and
``table_k`` weight codes per column. The **precompute unit** (:class:`LutPrecompute`, one per
row) turns a row's chunk into its table: ``2^(K-1)`` entries with table symmetrization (weight
bits read as -1/+1, ``T[~j] = -T[j]``), ``2^K`` without, built by the addition plan of
:func:`sim.golden.lut.table_plan`. The table is broadcast to the row's ``cols`` PEs. The
weights are processed as bit-planes, one plane per cycle: in cycle ``b`` every PE reads bit
``b`` of its column's ``K`` codes as a table index, looks the entry up (negating the
complement's entry when symmetrized, and the top plane of two's complement formats), shifts it
by ``b`` and adds it to its exact group accumulator. A chunk of ``B``-bit weights therefore takes
``B`` cycles, whatever ``cols`` is: the table is reused ``cols x B`` times.

When a beat closes a quantization group (``group_end``), each PE hands its group sum to its
**dequantizer**, which works bit-serially while the tile continues with the next group: first
the correction ``D = ((acc << p) + c * sum a) >> h`` (:func:`sim.golden.lut.correction`; one
cycle per bit of the per-column constant ``c``, which folds symmetrization's
``(2^B - 1) sum a`` and the zero point's ``-z sum a`` together; ``sum a`` is the row's table
entry for the all-ones pattern, accumulated over the group), then ``out += s * D``, one scale
bit per cycle. A group that closes before the previous group's dequantization has finished waits
in its last plane cycle with ``o_ready`` low (full groups never do: the config checks that a
group lasts at least ``dq_cycles``).

How the tile maps onto the PE contract (:mod:`hw.contract`): it is one PE whose beat is two
dimensional. ``i_a`` carries ``rows`` chunks of ``table_k`` activations; ``i_w`` carries the
``cols x table_k`` weight codes as bit-planes (``planes[b][n]`` is the ``table_k``-bit pattern
of column ``n``'s plane ``b``: the order a weight buffer streams them in, one plane per cycle),
and per column the group's scale and zero point, plus the data type when there are several;
``i_psum``/``o_psum`` carry ``rows x cols`` partial sums (row-major). The differences from a
single-output PE: the weight register holds all planes of a beat, so weight-stationary reuse
keeps them; timing depends on the data type (``beat_timing(w)``), as for the bit-serial PE;
an output closes on a ``last`` beat that is also ``group_end``, ``i_psum`` is taken on the
group's ``first`` beat, and a group keeps one data type and one zero point per column. A later
array replicates this tile along K (chaining ``o_psum`` into the next tile's ``i_psum``).
"""

from amaranth import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from mpgemm.hw.arith import select_valid, shift_add
from mpgemm.hw.contract import contract_plumbing, layout_of, pe_signature
from mpgemm.hw.fp import FP16, FP32, FPAdd, round_pack, unpack
from mpgemm.sim.golden import lut as L

from ..bitserial.rtl import _by_dtype
from .config import LutConfig

__all__ = ['LutPrecompute', 'LutTilePE', 'LutRowTable', 'LutColumnDequant']


def _fp16_to_fp32(m, x, shift, negate, name: str):
    """FP32 bits of ``(-1)^negate * x * 2^shift`` for an FP16 pattern ``x`` and ``shift`` in
    0..15: always exact (FP16 subnormals are FP32 normals and no shift leaves FP32's range), so
    a leading-zero count and an exponent add replace rounding. Infinities keep their (changed)
    sign and NaN becomes FP32's canonical NaN."""
    sign, e, sig, inf, nan, zero = unpack(m, x, FP16, name)
    lz = Signal(range(11), name=f"{name}_lz")
    for i in range(11):                 # the highest set bit wins: the last assignment
        with m.If(sig[i]):
            m.d.comb += lz.eq(10 - i)
    norm = Signal(11, name=f"{name}_norm")
    exp = Signal(8, name=f"{name}_exp")
    # A constant shift or sign folds into the constants: no adder or gate that could never act.
    if isinstance(shift, int):
        exp_of = e + (FP32.bias - FP16.bias + shift) - lz
    else:
        exp_of = e + (FP32.bias - FP16.bias) + shift - lz
    m.d.comb += [norm.eq(sig << lz), exp.eq(exp_of)]
    out = Signal(32, name=f"{name}_f32")
    s = _negated(sign, negate)
    with m.If(nan):
        m.d.comb += out.eq(FP32.canonical_nan)
    with m.Elif(inf):
        m.d.comb += out.eq(Cat(Const(0, 23), Const(0xFF, 8), s))
    with m.Elif(zero):
        m.d.comb += out.eq(Cat(Const(0, 31), s))
    with m.Else():
        m.d.comb += out.eq(Cat(Const(0, 13), norm[:10], exp, s))
    return out


def _negated(sign, negate):
    """``sign ^ negate``; just ``sign`` for a constant 0 ``negate`` (no gate that never acts)."""
    return sign if isinstance(negate, int) and negate == 0 else sign ^ negate


def _fp_scaled(m, x, fmt, shift, negate, name: str):
    """FP32 bits of ``(-1)^negate * x * 2^shift`` for an FP16 or FP32 pattern ``x``.

    Exact for the finite values the tile produces (an exponent change; ``round_pack`` would
    round a result below FP32's normal range and overflows to infinity); infinities keep their
    sign change and NaN becomes FP32's canonical NaN.
    """
    sign, e, sig, inf, nan, _ = unpack(m, x, fmt, name)
    exp = Signal(signed(12), name=f"{name}_exp")
    m.d.comb += exp.eq(e - (fmt.bias + fmt.man_bits) + shift)
    rp = round_pack(m, sign=_negated(sign, negate), sig=sig, exp=exp, fmt=FP32,
                    name=f"{name}_rp")
    out = Signal(32, name=f"{name}_f32")
    m.d.comb += out.eq(Mux(nan, FP32.canonical_nan,
                           Mux(inf, Cat(Const(0, 23), Const(0xFF, 8), _negated(sign, negate)),
                               rp)))
    return out


class LutPrecompute(wiring.Component):
    """Table precompute unit of one activation row.

    Ports
    -----
    a: In(ArrayLayout(act, table_k))
        The row's chunk of activations (integers, or FP16 bit patterns).
    load: In(1)
        Latch the table built from ``a`` (the tile raises it when it accepts a beat).
    table: Out(ArrayLayout(entry, table_entries))
        The stored entries, as :func:`sim.golden.lut.build_table` defines them: exact integers,
        INT8 codes, or FP16 bit patterns.
    exp: Out(5)
        INT8 tables only: the chunk's exponent field shared by the entries.
    """

    def __init__(self, config: LutConfig, *, registered: bool = True):
        if not isinstance(config, LutConfig):
            raise TypeError(f"config must be a LutConfig, not {config!r}")
        self.config = config
        #: False: ``table`` and ``exp`` follow ``a`` in the same cycle (no table register);
        #: ``load`` then only gates the adders' operands. The precompute unit at the edge of
        #: a "shared" array, whose grid PEs hold the table.
        self.registered = registered
        c = config
        act = unsigned(16) if c.is_fp else signed(c.act_bits)
        entry = unsigned(16) if c.table_format == "fp16" else signed(c.table_bits)
        ports = {
            "a": In(data.ArrayLayout(act, c.table_k)),
            "load": In(1),
            "table": Out(data.ArrayLayout(entry, c.table_entries)),
        }
        if c.table_format == "int8":
            ports["exp"] = Out(5)
        super().__init__(ports)

    def elaborate(self, platform):
        m = Module()
        c = self.config
        nodes, entries = L.table_plan(c.table_k, c.symmetric)
        # Operand isolation: the adders see zeros except in the cycle that loads a table, so
        # they do not toggle on the bus's idle or plane-cycle traffic.
        a = Signal.like(self.a, name="a_isolated")
        m.d.comb += a.eq(Mux(self.load, self.a, 0))
        if c.table_format == "int8":
            leaves, top = self._align(m, a)
        else:
            leaves = [a[i] for i in range(c.table_k)]
        width = c.align_bits if c.table_format == "int8" else c.table_bits
        vals = []
        for i, node in enumerate(nodes):
            if node.op == "act":
                vals.append(leaves[node.x])
            elif node.op == "zero":
                vals.append(Const(0, 16) if c.table_format == "fp16" else Const(0, signed(2)))
            elif c.table_format == "fp16":
                # One FP16 adder per node; a subtraction adds the negated operand.
                add = FPAdd(FP16)
                m.submodules[f"node{i}"] = add
                y = vals[node.y] ^ (0x8000 if node.op == "sub" else 0)
                m.d.comb += [add.a.eq(vals[node.x]), add.b.eq(y)]
                vals.append(add.s)
            else:
                v = Signal(signed(width), name=f"node{i}")
                x, y = vals[node.x], vals[node.y]
                m.d.comb += v.eq(x + y if node.op == "add" else x - y)
                vals.append(v)
        stored = [vals[e] for e in entries]
        if c.table_format == "int8":
            stored = [self._quantize(m, v, j) for j, v in enumerate(stored)]
        if not self.registered:
            m.d.comb += [self.table[j].eq(v) for j, v in enumerate(stored)]
            if c.table_format == "int8":
                m.d.comb += self.exp.eq(top)
            return m
        with m.If(self.load):
            m.d.sync += [self.table[j].eq(v) for j, v in enumerate(stored)]
            if c.table_format == "int8":
                m.d.sync += self.exp.eq(top)
        return m

    def _align(self, m, a):
        """FP16 activations onto their chunk's grid: ``+-(sig >> (E - e))`` (truncating)."""
        c = self.config
        fields = [unpack(m, a[i], FP16, f"a{i}") for i in range(c.table_k)]
        top = fields[0][1]
        for i, f in enumerate(fields[1:]):
            nxt = Signal(5, name=f"emax{i}")
            m.d.comb += nxt.eq(Mux(f[1] > top, f[1], top))
            top = nxt
        leaves = []
        for i, (sign, e, sig, *_rest) in enumerate(fields):
            dist = Signal(5, name=f"dist{i}")
            mag = Signal(11, name=f"aligned{i}")
            v = Signal(signed(12), name=f"v{i}")
            m.d.comb += [dist.eq(top - e), mag.eq(sig >> dist), v.eq(Mux(sign, -mag, mag))]
            leaves.append(v)
        return leaves, top

    def _quantize(self, m, t, j: int):
        """An exact entry to INT8: ``t / 2^table_shift`` rounded to nearest even, clamped."""
        s = self.config.table_shift
        width = self.config.align_bits
        exact = Signal(signed(width), name=f"exact{j}")
        m.d.comb += exact.eq(t)
        t = exact
        floor = Signal(signed(width - s), name=f"q_floor{j}")
        up = Signal(name=f"q_up{j}")
        r = Signal(signed(width - s + 1), name=f"q_round{j}")
        q = Signal(signed(8), name=f"q{j}")
        rem = t.as_unsigned()[:s]
        half = 1 << (s - 1)
        m.d.comb += [
            floor.eq(t >> s),
            up.eq((rem > half) | ((rem == half) & floor[0])),
            r.eq(floor + up),
            q.eq(Mux(r > 127, 127, Mux(r < -127, -127, r))),
        ]
        return q


def _correction(m, cfg: LutConfig, fmt: str, zero):
    """The correction constant ``c`` of ``fmt`` for one column (``sim.golden.lut``), its
    ``max(corr_bits, 1)`` low bits (two's complement)."""
    cw = max(cfg.corr_bits, 1)
    cval = Signal(signed(cw + 1), name=f"corr_{fmt}")
    _, c0, _ = L.correction(fmt, 0, cfg.symmetric)
    if L.is_unsigned(fmt):
        z = zero[:L.n_planes(fmt)]
        # c = (2^B - 1) - 2z symmetrized, -z plain: one subtractor per column.
        m.d.comb += cval.eq(c0 - (z << 1) if cfg.symmetric else -z)
    else:
        m.d.comb += cval.eq(c0)
    return cval[:cw]


class LutTilePE(wiring.Component):
    """LUT tensor core tile implementing the PE contract (see the module docstring).

    ``shared=True``: the grid PE of a ``"shared"`` array of 1 x 1 tiles (ports
    ``config.shared_ports``). ``i_a`` brings each row's table, precomputed at the array's edge,
    instead of its activations; the tile latches it when it accepts a beat, as its own
    precompute unit would, and forwards it on ``o_a``. It has no dequantizer: the beat that
    closes a group hands the group's sums (``config.handoff_fields``) to ``o_psum`` with
    ``o_valid`` high for one cycle, in the cycle after its last plane, and the column's
    :class:`LutColumnDequant` dequantizes them. ``i_w`` is only the planes and data type, and
    ``i_psum`` is unused (an output-stationary array starts every output from zero).
    """

    def __init__(self, config: LutConfig, *, shared: bool = False):
        if not isinstance(config, LutConfig):
            raise TypeError(f"config must be a LutConfig, not {config!r}")
        if shared and "shared" not in config.organisations:
            raise ValueError(f"shared=True needs a config with the 'shared' organisation: "
                             f"{config.shared_unavailable or 'a 1 x 1 tile'}")
        self.config = config
        self.shared = shared
        super().__init__(pe_signature(config.shared_ports if shared else config.ports))

    def _correction(self, m, fmt: str, zero):
        return _correction(m, self.config, fmt, zero)

    def elaborate(self, platform):
        m = Module()
        c = self.config
        rows = c.rows
        nfmt = len(c.weight_formats)
        fp_tables = c.table_format == "fp16"
        int8_tables = c.table_format == "int8"
        w = contract_plumbing(m, self)

        # --- beat acceptance (as the bit-serial PE: accept in the last plane cycle) ---------
        remaining = Signal(range(c.timing().cycles + 1))
        # The plane of the beat's current cycle; a constant 0 when every format has one plane
        # (no counter, plane selection or shifter that could never act).
        step = Signal(range(c.timing().cycles)) if c.planes_max > 1 else Const(0, 1)
        ready = Signal()
        stall = Signal()
        dq_left = None if self.shared else Signal(range(c.dq_cycles + 1))
        idle_or_last = (remaining <= 1) if c.timing().cycles > 1 else Const(1, 1)
        m.d.comb += [ready.eq(idle_or_last & ~stall), self.o_ready.eq(ready)]
        accept = Signal()
        m.d.comb += accept.eq(self.i_ctl.valid & ready)

        in_dtype = w.dtype if c.dtype_bits else Const(0, 1)
        dtype = Signal(range(max(nfmt, 2)))
        planes = Signal(w.planes.shape())
        beat_group_end = Signal()
        beat_last = Signal()
        beat_scale = None if self.shared else Signal(w.scale.shape())
        beat_zero = Signal(w.zero.shape()) if c.has_zero and not self.shared else None
        cycles_of = [Const(c.timing(f).cycles, remaining.shape()) for f in c.weight_formats]
        # The format's doubling (p) and halving (h) flags, latched with the beat: selected from
        # the incoming dtype, so that no combinational block depends on registers alone
        # (Icarus does not evaluate such a block at time 0: its output would stay X).
        flags = [L.correction(f, 0, c.symmetric) for f in c.weight_formats]
        # Constant 0 when no format of the config doubles (halves): no register, shifter or
        # multiplexer that could never act.
        beat_p = Signal() if any(p for p, _, _ in flags) else Const(0, 1)
        beat_h = Signal() if any(h for _, _, h in flags) else Const(0, 1)
        with m.If(accept):
            if c.planes_max > 1:
                m.d.sync += step.eq(0)
            m.d.sync += [
                planes.eq(w.planes),
                dtype.eq(in_dtype),
                remaining.eq(_by_dtype(cycles_of, in_dtype)),
                beat_group_end.eq(self.i_ctl.group_end),
                beat_last.eq(self.i_ctl.last),
            ]
            if beat_scale is not None:   # not self.shared: the dequantizer's
                m.d.sync += beat_scale.eq(w.scale)
                if isinstance(beat_p, Signal):
                    m.d.sync += beat_p.eq(_by_dtype([Const(p, 1) for p, _, _ in flags],
                                                    in_dtype))
                if isinstance(beat_h, Signal):
                    m.d.sync += beat_h.eq(_by_dtype([Const(h, 1) for _, _, h in flags],
                                                    in_dtype))
            if beat_zero is not None:    # c.has_zero
                m.d.sync += beat_zero.eq(w.zero)
        with m.Elif((remaining != 0) & ~stall):
            m.d.sync += remaining.eq(remaining - 1)
            if c.planes_max > 1:
                m.d.sync += step.eq(step + 1)
        active = Signal()
        last_plane = Signal()
        handoff = Signal()
        m.d.comb += [
            active.eq(remaining != 0),
            last_plane.eq((remaining == 1) & ~stall),
            # Only the PE's own dequantizer can be busy (the array's never is: the config
            # checks that a group outlasts it).
            stall.eq((remaining == 1) & beat_group_end & (dq_left > 1) if dq_left is not None
                     else 0),
            handoff.eq(last_plane & beat_group_end),
        ]

        # --- precompute: one table per row, filled when a beat is accepted --------------------
        tables, eshift = [], []
        for r in range(rows):
            if self.shared:
                pre = Signal.like(self.i_a[r], name=f"table{r}")
                with m.If(accept):
                    m.d.sync += pre.eq(self.i_a[r])
            else:
                pre = LutPrecompute(c)
                m.submodules[f"precompute{r}"] = pre
                m.d.comb += [pre.a.eq(self.i_a[r]), pre.load.eq(accept)]
            tables.append(pre.table)
            if int8_tables:
                # INT8 entries of a chunk with exponent field E sit 2^(E - 1) above the grid of
                # the smallest exponent, where the wide accumulators add them exactly.
                es = Signal(5, name=f"eshift{r}")
                m.d.comb += es.eq(pre.exp - 1)
                eshift.append(es)

        # The top plane of a two's complement format weighs -2^(B-1).
        plane_neg = Signal()
        m.d.comb += plane_neg.eq(_by_dtype(
            [(step == L.n_planes(f) - 1) if L.plane_negative(f, L.n_planes(f) - 1)
             else Const(0, 1) for f in c.weight_formats], dtype))

        # --- row activation sums: the all-ones pattern's entry is sum a -----------------------
        ones = c.table_entries - 1
        act_shape = unsigned(32) if fp_tables else signed(c.act_sum_bits)
        act_acc = [Signal(act_shape, name=f"act_sum{r}") for r in range(rows if c.corr_bits else 0)]
        act_next = []
        # Only the correction (c.corr_bits > 0) uses the row sums.
        for r in range(rows if c.corr_bits else 0):
            nxt = Signal(act_shape, name=f"act_next{r}")
            if fp_tables:
                add = FPAdd(FP32)
                m.submodules[f"act_add{r}"] = add
                m.d.comb += [add.a.eq(act_acc[r]),
                             add.b.eq(_fp16_to_fp32(m, tables[r][ones], 0, 0, f"ones{r}")),
                             nxt.eq(add.s)]
            elif int8_tables:
                m.d.comb += nxt.eq(act_acc[r] + (tables[r][ones] << eshift[r]))
            else:
                m.d.comb += nxt.eq(act_acc[r] + tables[r][ones])
            act_next.append(nxt)
            with m.If(handoff):
                m.d.sync += act_acc[r].eq(0)
            with m.Elif(last_plane):
                m.d.sync += act_acc[r].eq(nxt)

        # --- multiplexer-PEs: look up, negate, shift by the plane, accumulate -----------------
        grp_next = self._mux_pes(m, planes=planes, step=step, plane_neg=plane_neg, tables=tables,
                                 eshift=eshift, active=active, stall=stall, handoff=handoff)

        # --- output base (i_psum of a group's first beat) -------------------------------------
        if self.shared:
            self._handoff(m, handoff=handoff, accept=accept, grp_next=grp_next,
                          act_next=act_next, dtype=dtype, beat_last=beat_last)
            return m
        psum_shape = self.i_psum.shape()
        grp_first = Signal()
        grp_psum = Signal(psum_shape)
        with m.If(handoff):
            m.d.sync += grp_first.eq(0)
        with m.If(accept & self.i_ctl.first):
            m.d.sync += [grp_first.eq(1), grp_psum.eq(self.i_psum)]

        self._dequantizer(m, handoff=handoff, dq_left=dq_left, grp_next=grp_next,
                          act_next=act_next, dtype=dtype, beat_zero=beat_zero,
                          beat_scale=beat_scale, beat_p=beat_p, beat_h=beat_h,
                          beat_last=beat_last, grp_first=grp_first, grp_psum=grp_psum)
        return m

    def _mux_pes(self, m, *, planes, step, plane_neg, tables, eshift, active, stall,
                 handoff):
        """Each PE of the tile: look up its entry, negate, shift by the plane, accumulate the
        group; returns the next group sums ``[row][col]``."""
        c = self.config
        rows, cols, k = c.rows, c.cols, c.table_k
        fp_tables = c.table_format == "fp16"
        int8_tables = c.table_format == "int8"
        grp_shape = unsigned(32) if fp_tables else signed(c.group_acc_bits)
        grp = [[Signal(grp_shape, name=f"grp{r}_{n}") for n in range(cols)] for r in range(rows)]
        grp_next = [[None] * cols for _ in range(rows)]
        for n in range(cols):
            index = planes[step][n] if c.planes_max > 1 else planes[0][n]
            if c.symmetric:
                top = index[k - 1]
                low = Signal(k - 1, name=f"low{n}")
                m.d.comb += low.eq(Mux(top, index[:k - 1], ~index[:k - 1]))
                neg = Signal(name=f"neg{n}")
                m.d.comb += neg.eq(~top ^ plane_neg)
            else:
                low, neg = index, plane_neg
            for r in range(rows):
                entry = Signal.like(tables[r][0], name=f"entry{r}_{n}")
                nxt = Signal(grp_shape, name=f"grp_next{r}_{n}")
                m.d.comb += entry.eq(tables[r][low])
                if fp_tables:
                    add = FPAdd(FP32)
                    m.submodules[f"plane_add{r}_{n}"] = add
                    value = _fp16_to_fp32(m, entry, step if c.planes_max > 1 else 0, neg,
                                          f"plane{r}_{n}")
                    m.d.comb += [add.a.eq(grp[r][n]), add.b.eq(value), nxt.eq(add.s)]
                else:
                    extra = 29 if int8_tables else 0
                    val_w = c.table_bits + c.planes_max + extra
                    shift = Signal(range(max(c.planes_max + extra, 2)), name=f"shift{r}_{n}")
                    shifted = Signal(signed(val_w), name=f"shifted{r}_{n}")
                    addend = Signal(signed(val_w + 1), name=f"addend{r}_{n}")
                    if c.planes_max > 1:
                        m.d.comb += shift.eq(step + eshift[r] if int8_tables else step)
                    elif int8_tables:
                        m.d.comb += shift.eq(eshift[r])
                    m.d.comb += [
                        shifted.eq(entry << shift if c.planes_max > 1 or int8_tables
                                   else entry),
                        # Not gated by `active`: the group sum only takes it while active.
                        addend.eq(Mux(neg, -shifted, shifted)),
                        nxt.eq(grp[r][n] + addend),
                    ]
                grp_next[r][n] = nxt
                with m.If(handoff):
                    m.d.sync += grp[r][n].eq(0)
                with m.Elif(active & ~stall):
                    m.d.sync += grp[r][n].eq(nxt)
        return grp_next

    def _handoff(self, m, *, handoff, accept, grp_next, act_next, dtype, beat_last):
        """The grid PE of a ``"shared"`` array: the closing beat's sums to ``o_psum``."""
        c = self.config
        grp_first = Signal()
        with m.If(handoff):
            m.d.sync += grp_first.eq(0)
        with m.If(accept & self.i_ctl.first):
            m.d.sync += grp_first.eq(1)
        hand = self.o_psum
        m.d.sync += self.o_valid.eq(handoff)
        with m.If(handoff):
            m.d.sync += [hand.acc.eq(grp_next[0][0]), hand.first.eq(grp_first),
                         hand.last.eq(beat_last)]
            if c.corr_bits:
                m.d.sync += hand.act_sum.eq(act_next[0])
            if c.dtype_bits:
                m.d.sync += hand.dtype.eq(dtype)

    def _dequantizer(self, m, *, handoff, dq_left, grp_next, act_next, dtype, beat_zero,
                     beat_scale, beat_p, beat_h, beat_last, grp_first, grp_psum):
        """Per PE: ``D = ((acc << p) + c * sum a) >> h`` one bit of ``c`` per cycle, then
        ``out += s * D`` one scale bit per cycle (integers, or FP32 for FP16 activations)."""
        c = self.config
        rows, cols = c.rows, c.cols
        fp_tables = c.table_format == "fp16"
        psum_shape = self.i_psum.shape()
        corr = max(c.corr_bits, 1)
        dq_bit = Signal(range(max(c.dq_cycles, 2)))
        dq_first, dq_last = Signal(), Signal()
        dq_h = Signal() if isinstance(beat_h, Signal) else Const(0, 1)
        dq_psum = Signal(psum_shape)
        dq_scale = Signal(beat_scale.shape())
        # Without a correction constant (c.corr_bits == 0: symmetric binary weights) the
        # dequantizer only scales: no correction cycles, constants, row sums or adders.
        has_corr = c.corr_bits > 0
        dq_c = [Signal(corr, name=f"dq_c{n}") for n in range(cols)]
        dq_a = [Signal.like(nxt, name=f"dq_sum_a{r}") for r, nxt in enumerate(act_next)]
        in_corr = Signal() if has_corr else Const(0, 1)
        sbit = Signal(range(max(c.scale_bits, 2)))
        m.d.comb += sbit.eq(dq_bit - c.corr_bits if has_corr else dq_bit)
        if has_corr:
            m.d.comb += in_corr.eq(dq_bit < c.corr_bits)
        out_next = Signal(psum_shape)
        out_acc = Signal(psum_shape)
        for n in range(cols if has_corr else 0):
            cands = [self._correction(m, f, beat_zero[n] if c.has_zero else None)
                     for f in c.weight_formats]
            cn = Signal(corr, name=f"c{n}")
            m.d.comb += cn.eq(_by_dtype(cands, dtype))
            with m.If(handoff):
                m.d.sync += dq_c[n].eq(cn)
        with m.If(handoff):
            if has_corr:
                m.d.sync += [dq_a[r].eq(act_next[r]) for r in range(rows)]
            if isinstance(dq_h, Signal):
                m.d.sync += dq_h.eq(beat_h)
        has_p = any(L.correction(f, 0, c.symmetric)[0] for f in c.weight_formats)
        cminus = dq_bit == c.corr_bits - 1
        sminus = (sbit == c.scale_bits - 1) if c.scale_signed else Const(0, 1)
        for r in range(rows):
            if fp_tables and has_corr:
                # +-(sum a) * 2^j is the same for the whole row: one scaler per row.
                corr_term = _fp_scaled(m, dq_a[r], FP32, dq_bit, cminus, f"ct{r}")
            for n in range(cols):
                i = r * cols + n
                name = f"{r}_{n}"
                cbit = dq_c[n].bit_select(dq_bit, 1) if has_corr else Const(0, 1)
                take = dq_scale[n].bit_select(sbit, 1)
                if has_corr:
                    take = ~in_corr & take
                base = Mux((dq_bit == c.corr_bits) & dq_first, dq_psum[i], out_acc[i])
                if fp_tables:
                    # One FP32 adder per PE: D += +-(sum a) * 2^j while correcting, then
                    # out += +-D * 2^(j - h) while scaling (+0 for a zero bit).
                    d = Signal(32, name=f"dq_d{name}")
                    shift = Signal(signed(6), name=f"dq_shift{name}")
                    m.d.comb += shift.eq(sbit - dq_h if isinstance(dq_h, Signal) else sbit)
                    scale_term = _fp_scaled(m, d, FP32, shift, sminus, f"st{name}")
                    add = FPAdd(FP32)
                    m.submodules[f"dq_add{name}"] = add
                    if has_corr:
                        m.d.comb += [
                            add.a.eq(Mux(in_corr, d, base)),
                            add.b.eq(Mux(in_corr, Mux(cbit, corr_term, 0),
                                         Mux(take, scale_term, 0))),
                        ]
                        # Between dequantizations nothing reads d before a handoff
                        # overwrites it: in_corr alone enables the correction.
                        with m.If(in_corr):
                            m.d.sync += d.eq(add.s)
                    else:
                        m.d.comb += [add.a.eq(base), add.b.eq(Mux(take, scale_term, 0))]
                    m.d.comb += out_next[i].eq(add.s)
                    with m.If(handoff):
                        # Only plain-table binary weights double the group sum (p = 1).
                        m.d.sync += d.eq(_fp_scaled(m, grp_next[r][n], FP32, beat_p, 0,
                                                    f"dp{name}") if has_p else grp_next[r][n])
                    continue
                d = Signal(signed(c.dq_bits), name=f"dq_d{name}")
                if has_corr:
                    # Correction: bit j of c adds (sum a) << j; c's top bit subtracts.
                    a_sh = Signal(signed(c.dq_bits), name=f"dq_ash{name}")
                    m.d.comb += a_sh.eq(dq_a[r] << dq_bit)
                    with m.If(in_corr & cbit):   # (dq_left != 0 is implied, as above)
                        m.d.sync += d.eq(Mux(cminus, d - a_sh, d + a_sh))
                with m.If(handoff):
                    m.d.sync += d.eq(grp_next[r][n] << beat_p if isinstance(beat_p, Signal)
                                     else grp_next[r][n])
                if c.is_fp:
                    # INT8 tables: the exact D, rounded once to FP32 with its grid's exponent
                    # and the scale bit's 2^j folded in, then one FP32 addition.
                    mag = Signal(c.dq_bits, name=f"dq_mag{name}")
                    exp = Signal(signed(8), name=f"dq_exp{name}")
                    m.d.comb += [mag.eq(Mux(d < 0, -d, d)),
                                 exp.eq(c.table_shift - 24 - dq_h + sbit
                                        if isinstance(dq_h, Signal)
                                        else c.table_shift - 24 + sbit)]
                    term = round_pack(m, sign=(d < 0) ^ sminus, sig=mag, exp=exp, fmt=FP32,
                                      name=f"dq_rp{name}")
                    add = FPAdd(FP32)
                    m.submodules[f"dq_add{name}"] = add
                    m.d.comb += [add.a.eq(base), add.b.eq(Mux(take, term, 0)),
                                 out_next[i].eq(add.s)]
                else:
                    # Scale: bit j of s adds (D >> h) << j; a signed scale's top bit subtracts.
                    dh = Signal(signed(c.dq_bits), name=f"dq_dh{name}")
                    shifted = Signal(signed(c.dq_bits + c.scale_bits), name=f"dq_sh{name}")
                    m.d.comb += [dh.eq(Mux(dq_h, d >> 1, d) if isinstance(dq_h, Signal) else d),
                                 shifted.eq(dh << sbit)]
                    m.d.comb += out_next[i].eq(
                        base + Mux(take, Mux(sminus, -shifted, shifted), 0))
        m.d.sync += self.o_valid.eq(0)
        with m.If(dq_left != 0):
            m.d.sync += [dq_left.eq(dq_left - 1), dq_bit.eq(dq_bit + 1)]
            if has_corr:
                with m.If(~in_corr):
                    m.d.sync += out_acc.eq(out_next)
            else:
                m.d.sync += out_acc.eq(out_next)
            with m.If((dq_left == 1) & dq_last):
                m.d.sync += [self.o_psum.eq(out_next), self.o_valid.eq(1)]
        with m.If(handoff):
            m.d.sync += [
                dq_scale.eq(beat_scale),
                dq_first.eq(grp_first),
                dq_psum.eq(grp_psum),
                dq_last.eq(beat_last),
                dq_left.eq(c.dq_cycles),
                dq_bit.eq(0),
            ]


class LutRowTable(wiring.Component):
    """The table precompute of one row of a ``"shared"`` array of 1 x 1 LUT tiles, at the
    row's left edge: ``o_table`` is the table of ``i_a``'s chunk (combinational; the grid PEs
    latch it), built only while ``i_valid`` (the adders are idle otherwise)."""

    def __init__(self, config: LutConfig):
        if not isinstance(config, LutConfig):
            raise TypeError(f"config must be a LutConfig, not {config!r}")
        self.config = config
        chunk = config.ports.act.element  # type: ignore[union-attr]
        super().__init__({"i_a": In(layout_of(chunk)), "i_valid": In(1),
                          "o_table": Out(layout_of(config.table_port))})

    def elaborate(self, platform):
        m = Module()
        pre = m.submodules.precompute = LutPrecompute(self.config, registered=False)
        m.d.comb += [pre.a.eq(self.i_a), pre.load.eq(self.i_valid),
                     self.o_table.table.eq(pre.table)]
        if self.config.table_format == "int8":
            m.d.comb += self.o_table.exp.eq(pre.exp)
        return m


class LutColumnDequant(wiring.Component):
    """The dequantizer of a ``"shared"`` array of 1 x 1 LUT tiles, at the foot of a column,
    serving ``rows`` consecutive grid PEs of the column (at most ``shared_unit_rows``: rows
    whose hand-offs never coincide).

    Ports: ``i_hand[r]``/``i_hand_valid[r]`` served row ``r``'s group hand-off
    (:attr:`LutConfig.handoff_fields`); ``i_scale`` and ``i_zero`` (unsigned formats) the
    group's scale and zero point, as in the weight word, valid in each hand-off's cycle;
    ``o_y``/``o_valid`` an output closed by a ``last`` group, with ``o_index`` its served row.

    Where the tile's own dequantizer is bit-serial (a correction bit, then a scale bit, per
    cycle: ``dq_cycles`` per group in every PE), this one does a group in one pass, so that it
    can take a hand-off every cycle: ``D = ((acc << p) + c * sum a) >> h`` (``c`` from the
    data type and zero point, by shift-and-add over ``c``'s bits), registered, then ``y = (first
    ? 0 : Y[r]) + s * D`` (shift-and-add over the scale's bits, a signed scale's top bit
    subtracting) into one accumulator per served row. Integer arithmetic, wrapping at
    ``acc_bits``: the same sum the bit-serial dequantizer forms term by term, so the result is
    bit for bit the tile's. ``y`` is ready one or two cycles after the hand-off; the row's
    accumulator holds it (the row's next hand-off is at least a group away, longer than the
    tile's dequantization) and the output is read from it ``dq_cycles`` cycles after the
    hand-off, when the tile's would appear.

    ``read_out=False`` (an array's foot, which reads the rows itself): no output countdown or
    register; ``o_acc[r]`` is served row ``r``'s accumulator, which holds the output from one
    or two cycles after the hand-off until the row's next output's first group.
    """

    def __init__(self, config: LutConfig, rows: int, *, read_out: bool = True):
        if not isinstance(config, LutConfig):
            raise TypeError(f"config must be a LutConfig, not {config!r}")
        serves = config.shared_unit_rows
        if serves is None:
            raise ValueError(f"config has no 'shared' organisation: "
                             f"{config.shared_unavailable or 'a 1 x 1 tile'}")
        if not isinstance(rows, int) or not 1 <= rows <= serves:
            raise ValueError(f"rows must be 1 to shared_unit_rows={serves} (hand-offs of more "
                             f"rows could coincide), not {rows!r}")
        self.config, self.rows, self.read_out = config, rows, read_out
        hand = data.StructLayout({n: layout_of(f) for n, f in config.handoff_fields.items()})
        weight = config.ports.weight
        ports = {"i_hand": In(data.ArrayLayout(hand, rows)), "i_hand_valid": In(rows),
                 "i_scale": In(layout_of(weight["scale"]))}   # type: ignore[index]
        if config.has_zero:
            ports["i_zero"] = In(layout_of(weight["zero"]))   # type: ignore[index]
        if read_out:
            ports |= {"o_y": Out(layout_of(config.ports.psum)), "o_valid": Out(1),
                      "o_index": Out(range(rows))}
        else:
            ports["o_acc"] = Out(data.ArrayLayout(layout_of(config.ports.psum), rows))
        super().__init__(ports)

    def elaborate(self, platform):
        m = Module()
        c, rows = self.config, self.rows
        # At most one served row hands off per cycle: select it.
        hand, index = select_valid(m, [self.i_hand[r] for r in range(rows)], self.i_hand_valid,
                                   name="hand")
        valid = self.i_hand_valid.any()
        dtype = hand.dtype if c.dtype_bits else Const(0, 1)

        # --- D = ((acc << p) + c * sum a) >> h ---------------------------------------------------
        flags = [L.correction(f, 0, c.symmetric) for f in c.weight_formats]
        num = Signal(signed(c.dq_bits), name="num")
        acc = hand.acc
        if any(p for p, _, _ in flags):
            acc = Mux(_by_dtype([Const(p, 1) for p, _, _ in flags], dtype), acc << 1, acc)
        if c.corr_bits:
            zero = self.i_zero[0] if c.has_zero else None
            cn = Signal(c.corr_bits, name="c")
            m.d.comb += cn.eq(_by_dtype([_correction(m, c, f, zero) for f in c.weight_formats],
                                        dtype))
            m.d.comb += num.eq(acc + shift_add(hand.act_sum, cn, top_negative=True))
        else:
            m.d.comb += num.eq(acc)
        d = Signal(signed(c.dq_bits), name="d")
        if any(h for _, _, h in flags):
            # Exact: the golden model checks that the halved sum is even.
            h = _by_dtype([Const(h, 1) for _, _, h in flags], dtype)
            m.d.comb += d.eq(Mux(h, num >> 1, num))
        else:
            m.d.comb += d.eq(num)

        # --- y = base + s * D, registered between the two when there are cycles to spare ------
        scale = self.i_scale[0]
        if c.dq_cycles >= 2:
            s2_valid, s2_first, s2_last = Signal(), Signal(), Signal()
            s2_d = Signal.like(d, name="s2_d")
            s2_scale = Signal.like(scale, name="s2_scale")
            s2_index = Signal(range(rows))
            s2_dtype = Signal.like(dtype, name="s2_dtype")
            m.d.sync += s2_valid.eq(valid)
            with m.If(valid):
                m.d.sync += [s2_d.eq(d), s2_scale.eq(scale), s2_first.eq(hand.first),
                             s2_last.eq(hand.last), s2_index.eq(index), s2_dtype.eq(dtype)]
        else:
            s2_valid, s2_first, s2_last = valid, hand.first, hand.last
            s2_d, s2_scale, s2_index, s2_dtype = d, scale, index, dtype
        acc_shape = signed(c.acc_bits)
        ys = [Signal(acc_shape, name=f"y{r}") for r in range(rows)]
        y = Signal(acc_shape, name="y")
        m.d.comb += y.eq(Mux(s2_first, 0, _pick(m, ys, s2_index, "y_base"))
                         + shift_add(s2_d, s2_scale, top_negative=c.scale_signed))
        with m.If(s2_valid):
            # One write enable per row (an indexed write would give partial case statements).
            for r in range(rows):
                with m.If(s2_index == r):
                    m.d.sync += ys[r].eq(y)
        if not self.read_out:
            m.d.comb += [self.o_acc[r].eq(ys[r]) for r in range(rows)]
            return m

        # --- the output, when the tile's would appear --------------------------------------------
        # An array reads a row at the slowest format's latency: a group of a format with
        # fewer planes hands off earlier and waits longer. Its result is y's own (no wait), or
        # is read from the row's accumulator, which keeps it (:attr:`LutConfig.
        # shared_unavailable` checks that the row's next hand-off comes later).
        waits = c.shared_unit_waits
        done = s2_valid & s2_last
        wait = _by_dtype([Const(w, range(max(waits) + 1)) for w in waits], s2_dtype)
        # A countdown chain: an output in stage j loads o_y in j - 1 cycles. Outputs leave
        # one per cycle (the array never finishes two rows at once), so they never meet.
        chain_done = [Signal(name=f"out{j}_done") for j in range(1, max(waits) + 1)]
        chain_row = [Signal(range(rows), name=f"out{j}_row") for j in range(1, max(waits) + 1)]
        for j in range(1, max(waits) + 1):
            enter = Signal(name=f"out{j}_enter")
            m.d.comb += enter.eq(done & (wait == j))
            later = j < max(waits)
            m.d.sync += [
                chain_done[j - 1].eq(enter | (chain_done[j] if later else 0)),
                chain_row[j - 1].eq(Mux(enter, s2_index, chain_row[j] if later else 0)),
            ]
        now = done & (wait == 0) if min(waits) == 0 else Const(0, 1)
        late = chain_done[0] if chain_done else Const(0, 1)
        m.d.sync += self.o_valid.eq(now | late)
        with m.If(now):
            m.d.sync += [self.o_y.eq(y), self.o_index.eq(s2_index)]
        if chain_done:
            with m.If(late):
                m.d.sync += [self.o_y.eq(_pick(m, ys, chain_row[0], "y_out")),
                             self.o_index.eq(chain_row[0])]
        return m


def _pick(m, values, index, name: str):
    """``values[index]`` as a one-hot AND-OR of continuous assignments: an indexed read is a
    case statement, which Icarus does not evaluate at time 0, so a row accumulator that is
    never written (its results all zero) would read as X."""
    out = Signal.like(values[0], name=name)
    terms = [Mux(index == r, v.as_unsigned(), 0) for r, v in enumerate(values)]
    total = terms[0]
    for t in terms[1:]:
        total = total | t
    m.d.comb += out.eq(total)
    return out
