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

from dataclasses import dataclass
from typing import ClassVar

from amaranth import Const, Module, Mux, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from hw.contract import contract_plumbing, pe_signature
from sim.golden import lut as L
from sim.golden.formats import signed_bits_for_range

from .bitserial import _by_dtype
from .common import check_bool, check_choice, check_int
from .mac import _ConfigMixin

__all__ = ["LutConfig", "LutPrecompute", "LutTilePE", "LUT_ACT_FORMATS"]

#: Activation formats of the LUT tile and their widths (exact integer datapath).
LUT_ACT_FORMATS = {"int8": 8, "int16": 16}


@dataclass(frozen=True, kw_only=True)
class LutConfig(_ConfigMixin):
    """LUT tensor core tile.

    Parameters
    ----------
    weight_formats : tuple of str
        Data types a group may use (``sim.golden.lut.LUT_WEIGHT_FORMATS``: uint1-uint8 with a
        zero point, int2-int8, ternary, binary); one per group, chosen by the beat's ``dtype``.
    act_format : str
        ``"int8"`` or ``"int16"``: tables, accumulators and outputs are exact integers.
    rows, cols : int
        Tile size M (activation rows, one table each; 1-8) and N (multiplexer-PEs per row, each
        one output column; 1-64). The paper's tile is M2 N64.
    table_k : int
        Activations per table, 2-6 (the paper's K = 4).
    symmetric : bool
        Table symmetrization: store ``2^(K-1)`` entries and negate on look-up (True), or all
        ``2^K`` entries (False).
    group_size : int
        Weights per quantization group along K (one scale and zero point per column), a
        multiple of ``table_k``, at most 4096.
    scale_bits : int
        Width of the group scale, 1-8; also that many dequantization cycles.
    scale_signed : bool
        Two's complement scale codes (the top scale bit subtracts).
    acc_bits : int
        Output accumulator width, 2-64 (wraps modulo 2**acc_bits).
    k_max : int
        Largest K one output accumulates; ``acc_bits`` must hold it without wrapping.
    """

    kind: ClassVar[str] = "lut"

    weight_formats: tuple[str, ...] = ("uint4",)
    act_format: str = "int8"
    rows: int = 2
    cols: int = 4
    table_k: int = 4
    symmetric: bool = True
    group_size: int = 128
    scale_bits: int = 8
    scale_signed: bool = False
    acc_bits: int = 32
    k_max: int = 4096

    def __post_init__(self):
        formats = self.weight_formats
        if isinstance(formats, str) or not isinstance(formats, (tuple, list)) or not formats:
            raise TypeError(f"weight_formats must be a non-empty tuple of format names, "
                            f"not {formats!r}")
        object.__setattr__(self, "weight_formats", tuple(formats))
        for f in self.weight_formats:
            check_choice("weight_formats entry", f, L.LUT_WEIGHT_FORMATS)
        if len(set(self.weight_formats)) != len(self.weight_formats):
            raise ValueError(f"weight_formats has duplicates: {self.weight_formats!r}")
        check_choice("act_format", self.act_format, tuple(LUT_ACT_FORMATS))
        check_int("rows", self.rows, 1, 8)
        check_int("cols", self.cols, 1, 64)
        check_int("table_k", self.table_k, 2, 6)
        check_bool("symmetric", self.symmetric)
        check_int("group_size", self.group_size, 1, 4096)
        check_int("scale_bits", self.scale_bits, 1, 8)
        check_bool("scale_signed", self.scale_signed)
        check_int("acc_bits", self.acc_bits, 2, 64)
        check_int("k_max", self.k_max, 1, 1 << 24)
        if self.scale_signed and self.scale_bits < 2:
            raise ValueError(f"scale_bits must be >= 2 for a signed scale, not {self.scale_bits}")
        if self.group_size % self.table_k:
            raise ValueError(f"group_size={self.group_size} must be a multiple of "
                             f"table_k={self.table_k}: a table never straddles two groups")
        fastest = min(self.beat_cycles(f) for f in self.weight_formats)
        if self.beats_per_group * fastest < self.dq_cycles:
            need = -(-self.dq_cycles // fastest) * self.table_k
            raise ValueError(
                f"group_size={self.group_size} is too small: {self.beats_per_group} chunk(s) of "
                f"{fastest} plane cycle(s) last {self.beats_per_group * fastest} cycles, fewer "
                f"than the {self.dq_cycles} cycles of group dequantization; use "
                f"group_size >= {need}")
        if self.acc_bits < self.required_acc_bits:
            raise ValueError(f"acc_bits={self.acc_bits} is too narrow: k_max={self.k_max} "
                             f"products of {self.act_format} x {'/'.join(self.weight_formats)} "
                             f"with {self.scale_bits}-bit scales need acc_bits >= "
                             f"{self.required_acc_bits}")

    # --- number representation -------------------------------------------------------------

    @property
    def act_bits(self) -> int:
        return LUT_ACT_FORMATS[self.act_format]

    @property
    def act_max(self) -> int:
        """Largest activation magnitude (of the most negative value)."""
        return 1 << (self.act_bits - 1)

    @property
    def planes_max(self) -> int:
        """Bit-planes of the widest format: the width of a code on ``i_w``."""
        return max(L.n_planes(f) for f in self.weight_formats)

    @property
    def code_bits(self) -> int:
        return self.planes_max

    @property
    def has_zero(self) -> bool:
        return any(L.is_unsigned(f) for f in self.weight_formats)

    @property
    def dtype_bits(self) -> int:
        return (len(self.weight_formats) - 1).bit_length()

    @property
    def table_entries(self) -> int:
        """Entries stored per table (per row)."""
        return 1 << (self.table_k - 1 if self.symmetric else self.table_k)

    @property
    def table_bits(self) -> int:
        """Width of a table entry: any sum of ``table_k`` +-activations."""
        bound = self.table_k * self.act_max
        return signed_bits_for_range(-bound, bound)

    @property
    def table_adders(self) -> int:
        """Adders/subtractors of one row's precompute unit (from the shared plan)."""
        return L.table_adders(self.table_k, self.symmetric)

    @property
    def max_weight(self) -> int:
        """Largest ``|w|`` of any format (``q - z`` for unsigned ones)."""
        def wmax(f):
            return max(abs(L.weight_value(f, c, z)) for c in range(1 << L.n_planes(f))
                       for z in ((0, (1 << L.n_planes(f)) - 1) if L.is_unsigned(f) else (0,))
                       if not (f == "ternary" and c == 2))
        return max(wmax(f) for f in self.weight_formats)

    @property
    def beats_per_group(self) -> int:
        return self.group_size // self.table_k

    @property
    def group_acc_bits(self) -> int:
        """Exact width of a PE's group accumulator (sum of shifted table values)."""
        bound = self.group_size * ((1 << self.planes_max) - 1) * self.act_max
        return signed_bits_for_range(-bound, bound)

    @property
    def act_sum_bits(self) -> int:
        """Width of a row's activation sum over a group."""
        bound = self.group_size * self.act_max
        return signed_bits_for_range(-bound, bound)

    @property
    def corr_bits(self) -> int:
        """Bits of the correction constant ``c``: the dequantizer's correction cycles."""
        return max(L.correction_bits(f, self.symmetric) for f in self.weight_formats)

    @property
    def dq_bits(self) -> int:
        """Width of the dequantizer's ``D`` register, including partial corrections."""
        bound = (2 * self.group_size * ((1 << self.planes_max) - 1) * self.act_max
                 + (1 << self.corr_bits) * self.group_size * self.act_max)
        return signed_bits_for_range(-bound, bound)

    @property
    def required_acc_bits(self) -> int:
        smax = 1 << (self.scale_bits - 1) if self.scale_signed else (1 << self.scale_bits) - 1
        bound = self.k_max * self.act_max * self.max_weight * smax
        return signed_bits_for_range(-bound, bound)

    # --- timing (the RTL's measured cycles equal these) ---------------------------------------

    def _fmt(self, fmt: str | int) -> str:
        if isinstance(fmt, int):
            return self.weight_formats[fmt]
        if fmt not in self.weight_formats:
            raise ValueError(f"format {fmt!r} is not one of this config's weight_formats "
                             f"{self.weight_formats}")
        return fmt

    def beat_cycles(self, fmt: str | int) -> int:
        """Cycles per chunk (tile beat): one per weight bit-plane."""
        return L.n_planes(self._fmt(fmt))

    @property
    def dq_cycles(self) -> int:
        """Cycles of one group's dequantization: correction bits, then scale bits."""
        return self.corr_bits + self.scale_bits

    @property
    def precompute_cycles(self) -> int:
        """Cycles to fill the tables: built in the cycle a beat is accepted, which overlaps the
        previous beat's last plane cycle, so precompute never stalls the tile."""
        return 1

    def table_reuse(self, fmt: str | int) -> int:
        """Look-ups served by one table: ``cols`` PEs x ``B`` planes."""
        return self.cols * self.beat_cycles(fmt)

    def latency_for(self, fmt: str | int) -> int:
        """Cycles from accepting a ``last`` beat to its result: planes, dequantization, output
        register."""
        return self.beat_cycles(fmt) + self.dq_cycles + 1

    @property
    def cycles_per_weight(self) -> dict[str, int]:
        """Cycles per chunk for each format."""
        return {f: self.beat_cycles(f) for f in self.weight_formats}

    @property
    def cycles_per_beat(self) -> int:
        return max(self.cycles_per_weight.values())

    @property
    def latency(self) -> int:
        return max(self.latency_for(f) for f in self.weight_formats)

    def beat_timing(self, w) -> tuple[int, int]:
        return self.beat_cycles(w.dtype), self.latency_for(w.dtype)

    @property
    def macs_per_beat(self) -> int:
        return self.rows * self.cols * self.table_k

    def cycles_per_tile(self, fmt: str | int) -> int:
        """Cycles of one M x N x K tile step for ``B``-bit weights (= ``B``)."""
        return self.beat_cycles(fmt)

    # --- ports -------------------------------------------------------------------------------

    @property
    def act_port_bits(self) -> int:
        return self.rows * self.table_k * self.act_bits

    @property
    def weight_port_bits(self) -> int:
        return (self.planes_max * self.cols * self.table_k + self.cols * self.scale_bits
                + (self.cols * self.code_bits if self.has_zero else 0) + self.dtype_bits)

    @property
    def psum_bits(self) -> int:
        return self.rows * self.cols * self.acc_bits

    def to_dict(self) -> dict:
        d = super().to_dict()
        d["weight_formats"] = list(self.weight_formats)
        return d

    def build(self) -> "LutTilePE":
        return LutTilePE(self)


class LutPrecompute(wiring.Component):
    """Table precompute unit of one activation row.

    Ports
    -----
    a: In(ArrayLayout(signed(act_bits), table_k))
        The row's chunk of activations.
    load: In(1)
        Latch the table built from ``a`` (the tile raises it when it accepts a beat).
    table: Out(ArrayLayout(signed(table_bits), table_entries))
        The stored entries, as :func:`sim.golden.lut.build_table` defines them.
    """

    def __init__(self, config: LutConfig):
        if not isinstance(config, LutConfig):
            raise TypeError(f"config must be a LutConfig, not {config!r}")
        self.config = config
        super().__init__({
            "a": In(data.ArrayLayout(signed(config.act_bits), config.table_k)),
            "load": In(1),
            "table": Out(data.ArrayLayout(signed(config.table_bits), config.table_entries)),
        })

    def elaborate(self, platform):
        m = Module()
        c = self.config
        nodes, entries = L.table_plan(c.table_k, c.symmetric)
        vals = []
        for i, node in enumerate(nodes):
            if node.op == "act":
                vals.append(self.a[node.x])
                continue
            v = Signal(signed(c.table_bits), name=f"node{i}")
            if node.op == "zero":
                m.d.comb += v.eq(0)
            elif node.op == "add":
                m.d.comb += v.eq(vals[node.x] + vals[node.y])
            else:
                m.d.comb += v.eq(vals[node.x] - vals[node.y])
            vals.append(v)
        with m.If(self.load):
            m.d.sync += [self.table[j].eq(vals[e]) for j, e in enumerate(entries)]
        return m


class LutTilePE(wiring.Component):
    """LUT tensor core tile implementing the PE contract (see the module docstring)."""

    def __init__(self, config: LutConfig):
        if not isinstance(config, LutConfig):
            raise TypeError(f"config must be a LutConfig, not {config!r}")
        self.config = config
        c = config
        fields = {"planes": data.ArrayLayout(data.ArrayLayout(c.table_k, c.cols), c.planes_max),
                  "scale": data.ArrayLayout(c.scale_bits, c.cols)}
        if c.has_zero:
            fields["zero"] = data.ArrayLayout(c.code_bits, c.cols)
        if c.dtype_bits:
            fields["dtype"] = c.dtype_bits
        self.weight_layout = data.StructLayout(fields)
        super().__init__(pe_signature(
            act_layout=data.ArrayLayout(data.ArrayLayout(signed(c.act_bits), c.table_k), c.rows),
            weight_layout=self.weight_layout,
            psum_shape=data.ArrayLayout(signed(c.acc_bits), c.rows * c.cols),
        ))

    def _correction(self, m, fmt: str, zero):
        """The correction constant ``c`` of ``fmt`` for one column (``sim.golden.lut``)."""
        cfg = self.config
        cw = max(cfg.corr_bits, 1)
        cval = Signal(signed(cw + 1), name=f"corr_{fmt}")
        _, c0, _ = L.correction(fmt, 0, cfg.symmetric)
        if L.is_unsigned(fmt):
            bits = L.n_planes(fmt)
            z = zero[:bits]
            # c = (2^B - 1) - 2z symmetrized, -z plain: one subtractor per column.
            m.d.comb += cval.eq(c0 - (z << 1) if cfg.symmetric else -z)
        else:
            m.d.comb += cval.eq(c0)
        return cval[:cw]

    def elaborate(self, platform):
        m = Module()
        c = self.config
        rows, cols, k = c.rows, c.cols, c.table_k
        nfmt = len(c.weight_formats)
        w = contract_plumbing(m, self)

        # --- beat acceptance (as the bit-serial PE: accept in the last plane cycle) ---------
        remaining = Signal(range(c.cycles_per_beat + 1))
        step = Signal(range(max(c.cycles_per_beat, 2)))
        ready = Signal()
        stall = Signal()
        dq_left = Signal(range(c.dq_cycles + 1))
        m.d.comb += [ready.eq((remaining <= 1) & ~stall), self.o_ready.eq(ready)]
        accept = Signal()
        m.d.comb += accept.eq(self.i_ctl.valid & ready)

        in_dtype = w.dtype if c.dtype_bits else Const(0, 1)
        dtype = Signal(range(max(nfmt, 2)))
        planes = Signal(w.planes.shape())
        beat_group_end = Signal()
        beat_last = Signal()
        beat_scale = Signal(w.scale.shape())
        beat_zero = Signal(w.zero.shape()) if c.has_zero else None
        cycles_of = [Const(c.beat_cycles(f), remaining.shape()) for f in c.weight_formats]
        with m.If(accept):
            m.d.sync += [
                planes.eq(w.planes),
                dtype.eq(in_dtype),
                remaining.eq(_by_dtype(cycles_of, in_dtype)),
                step.eq(0),
                beat_group_end.eq(self.i_ctl.group_end),
                beat_last.eq(self.i_ctl.last),
                beat_scale.eq(w.scale),
            ]
            if c.has_zero:
                m.d.sync += beat_zero.eq(w.zero)
        with m.Elif((remaining != 0) & ~stall):
            m.d.sync += [remaining.eq(remaining - 1), step.eq(step + 1)]
        active = Signal()
        last_plane = Signal()
        handoff = Signal()
        m.d.comb += [
            active.eq(remaining != 0),
            last_plane.eq((remaining == 1) & ~stall),
            stall.eq((remaining == 1) & beat_group_end & (dq_left > 1)),
            handoff.eq(last_plane & beat_group_end),
        ]

        # --- precompute: one table per row, filled when a beat is accepted --------------------
        tables = []
        for r in range(rows):
            pre = LutPrecompute(c)
            m.submodules[f"precompute{r}"] = pre
            m.d.comb += [pre.a.eq(self.i_a[r]), pre.load.eq(accept)]
            tables.append(pre.table)

        # The top plane of a two's complement format weighs -2^(B-1).
        plane_neg = Signal()
        m.d.comb += plane_neg.eq(_by_dtype(
            [(step == L.n_planes(f) - 1) if L.plane_negative(f, L.n_planes(f) - 1)
             else Const(0, 1) for f in c.weight_formats], dtype))

        # Row activation sums: the all-ones pattern's entry is sum a.
        ones = c.table_entries - 1
        act_acc = [Signal(signed(c.act_sum_bits), name=f"act_sum{r}") for r in range(rows)]
        act_next = []
        for r in range(rows):
            nxt = Signal(signed(c.act_sum_bits), name=f"act_next{r}")
            m.d.comb += nxt.eq(act_acc[r] + tables[r][ones])
            act_next.append(nxt)
            with m.If(handoff):
                m.d.sync += act_acc[r].eq(0)
            with m.Elif(last_plane):
                m.d.sync += act_acc[r].eq(nxt)

        # --- multiplexer-PEs: look up, negate, shift by the plane, accumulate -----------------
        grp = [[Signal(signed(c.group_acc_bits), name=f"grp{r}_{n}") for n in range(cols)]
               for r in range(rows)]
        grp_next = [[None] * cols for _ in range(rows)]
        val_w = c.table_bits + c.planes_max
        for n in range(cols):
            index = planes[step][n]
            if c.symmetric:
                top = index[k - 1]
                low = Signal(k - 1, name=f"low{n}")
                m.d.comb += low.eq(Mux(top, index[:k - 1], ~index[:k - 1]))
                neg = Signal(name=f"neg{n}")
                m.d.comb += neg.eq(~top ^ plane_neg)
            else:
                low, neg = index, plane_neg
            for r in range(rows):
                entry = Signal(signed(c.table_bits), name=f"entry{r}_{n}")
                shifted = Signal(signed(val_w), name=f"shifted{r}_{n}")
                addend = Signal(signed(val_w + 1), name=f"addend{r}_{n}")
                nxt = Signal(signed(c.group_acc_bits), name=f"grp_next{r}_{n}")
                m.d.comb += [
                    entry.eq(tables[r][low]),
                    shifted.eq(entry << step),
                    addend.eq(Mux(active, Mux(neg, -shifted, shifted), 0)),
                    nxt.eq(grp[r][n] + addend),
                ]
                grp_next[r][n] = nxt
                with m.If(handoff):
                    m.d.sync += grp[r][n].eq(0)
                with m.Elif(active & ~stall):
                    m.d.sync += grp[r][n].eq(nxt)

        # --- output base (i_psum of a group's first beat) -------------------------------------
        psum_shape = self.i_psum.shape()
        grp_first = Signal()
        grp_psum = Signal(psum_shape)
        with m.If(handoff):
            m.d.sync += grp_first.eq(0)
        with m.If(accept & self.i_ctl.first):
            m.d.sync += [grp_first.eq(1), grp_psum.eq(self.i_psum)]

        # --- per-group dequantization: D = ((acc << p) + c * sum a) >> h; out += s * D --------
        corr = max(c.corr_bits, 1)
        dq_bit = Signal(range(max(c.dq_cycles, 2)))
        dq_first = Signal()
        dq_last = Signal()
        dq_h = Signal()
        dq_psum = Signal(psum_shape)
        dq_scale = Signal(beat_scale.shape())
        dq_c = [Signal(corr, name=f"dq_c{n}") for n in range(cols)]
        dq_a = [Signal(signed(c.act_sum_bits), name=f"dq_sum_a{r}") for r in range(rows)]
        in_corr = Signal()
        sbit = Signal(range(max(c.scale_bits, 2)))
        m.d.comb += [in_corr.eq(dq_bit < c.corr_bits), sbit.eq(dq_bit - c.corr_bits)]
        out_next = Signal(psum_shape)
        out_acc = Signal(psum_shape)
        for n in range(cols):
            cands = [self._correction(m, f, beat_zero[n] if c.has_zero else None)
                     for f in c.weight_formats]
            cn = Signal(corr, name=f"c{n}")
            m.d.comb += cn.eq(_by_dtype(cands, dtype))
            with m.If(handoff):
                m.d.sync += dq_c[n].eq(cn)
        # The format's halving (h) and doubling (p) flags, latched with the beat: selected from
        # the incoming dtype rather than the dtype register, so that no combinational block
        # depends on registers alone (Icarus does not evaluate such a block at time 0, and its
        # output would stay X until the register first changes).
        flags = [L.correction(f, 0, c.symmetric) for f in c.weight_formats]
        beat_h, beat_p = Signal(), Signal()
        with m.If(accept):
            m.d.sync += [beat_h.eq(_by_dtype([Const(h, 1) for _, _, h in flags], in_dtype)),
                         beat_p.eq(_by_dtype([Const(p, 1) for p, _, _ in flags], in_dtype))]
        with m.If(handoff):
            m.d.sync += dq_h.eq(beat_h)
        for r in range(rows):
            with m.If(handoff):
                m.d.sync += dq_a[r].eq(act_next[r])
        for r in range(rows):
            for n in range(cols):
                i = r * cols + n
                d = Signal(signed(c.dq_bits), name=f"dq_d{r}_{n}")
                # Correction phase: bit j of c adds (sum a) << j; c's top bit subtracts.
                cbit = dq_c[n].bit_select(dq_bit, 1) if c.corr_bits else Const(0, 1)
                cminus = dq_bit == c.corr_bits - 1
                a_sh = Signal(signed(c.dq_bits), name=f"dq_ash{r}_{n}")
                m.d.comb += a_sh.eq(dq_a[r] << dq_bit)
                with m.If((dq_left != 0) & in_corr & cbit):
                    m.d.sync += d.eq(Mux(cminus, d - a_sh, d + a_sh))
                # Scale phase: bit j of s adds (D >> h) << j; a signed scale's top bit subtracts.
                dh = Signal(signed(c.dq_bits), name=f"dq_dh{r}_{n}")
                m.d.comb += dh.eq(Mux(dq_h, d >> 1, d))
                shifted = Signal(signed(c.dq_bits + c.scale_bits), name=f"dq_sh{r}_{n}")
                m.d.comb += shifted.eq(dh << sbit)
                sminus = (sbit == c.scale_bits - 1) if c.scale_signed else Const(0, 1)
                take = ~in_corr & dq_scale[n].bit_select(sbit, 1)
                base = Mux((dq_bit == c.corr_bits) & dq_first, dq_psum[i], out_acc[i])
                m.d.comb += out_next[i].eq(
                    base + Mux(take, Mux(sminus, -shifted, shifted), 0))
                with m.If(handoff):
                    m.d.sync += d.eq(grp_next[r][n] << beat_p)
        m.d.sync += self.o_valid.eq(0)
        with m.If(dq_left != 0):
            m.d.sync += [dq_left.eq(dq_left - 1), dq_bit.eq(dq_bit + 1)]
            with m.If(~in_corr):
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
        return m
