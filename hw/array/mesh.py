"""The mesh: a grid of tiles with the input skew and the output read-out (Gemmini's ``Mesh``).

The mesh takes one aligned vector per cycle on each side and staggers it so that every PE sees
its operands in the same cycle, ``r + c`` (output-stationary) or ``r * L + c``
(weight-stationary, ``L`` the PE's result latency: a partial sum needs ``L`` cycles per row)
cycles after they enter; its results leave aligned again.

Output-stationary: ``i_a`` (one activation beat per row), ``i_w`` (one weight beat per column)
and ``i_ctl`` (one control word for the whole beat) enter together; each column's weight
register, which ``load_w`` loads as in the PE contract, sits at the top edge, and the PEs
receive the weight each beat uses. A finished output row ``r`` leaves on ``o_row`` with
``o_row_valid`` and ``o_row_index = r`` the PE's worst-case result latency after its last
column took the output's last beat, rows one cycle apart.
Weight-stationary: ``i_wrow`` loads the shadow registers of array row ``i_wrow_sel``
(``i_wrow_en``); the next beat with ``load_w`` moves each PE's shadow weight into the PE as it
passes (the double buffer); every beat's column sums leave together on ``o_row``.
"""

import operator
from functools import reduce

from amaranth import Cat, Const, Module, Mux, Signal, Value
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from mpgemm.hw.contract import PEControl, layout_of
from mpgemm.sim.golden.ports import Struct

from .config import ArrayConfig
from .shared import SHARED
from .tile import Tile

__all__ = ["Mesh", "mesh_signature", "delayed"]


def delayed(m: Module, value, cycles: int, name: str):
    """``value`` delayed by ``cycles`` registers (the value itself for 0)."""
    for i in range(cycles):
        reg = Signal.like(value, name=f"{name}_d{i + 1}")
        m.d.sync += reg.eq(value)
        value = reg
    return value


def _or(values):
    """The bitwise OR of ``values``."""
    return reduce(operator.or_, values)


def mesh_signature(config: ArrayConfig) -> wiring.Signature:
    p = config.pe.ports
    act, weight, psum = layout_of(p.act), layout_of(p.weight), layout_of(p.psum)
    arr = data.ArrayLayout
    members = {
        "i_a": In(arr(act, config.rows)), "i_ctl": In(PEControl),
        "o_row": Out(arr(psum, config.cols)), "o_row_valid": Out(1),
    }
    if config.dataflow == "os":
        members |= {"i_w": In(arr(weight, config.cols)), "o_row_index": Out(range(config.rows))}
    else:
        members |= {"i_wrow": In(arr(weight, config.cols)), "i_wrow_en": In(1),
                    "i_wrow_sel": In(range(config.rows))}
    return wiring.Signature(members)


class Mesh(wiring.Component):
    """A ``rows x cols`` array of ``config.pe`` built from tiles (see the module docstring)."""

    def __init__(self, config: ArrayConfig, *, pe_module: str | None = None,
                 rows_apart: bool = False):
        if not isinstance(config, ArrayConfig):
            raise TypeError(f"config must be an ArrayConfig, not {config!r}")
        self.config = config
        self.pe_module = pe_module  # see tile.pe_instance
        # The caller's guarantee that no two output-stationary rows finish in the same cycle
        # (the accelerator's issue spaces output blocks so): the read-out's row select is then
        # the rows' done signals themselves, with no priority between them.
        self.rows_apart = rows_apart
        super().__init__(mesh_signature(config))

    def _row_select(self, m: Module, done: list, name: str):
        """The one-hot row select of the rows' ``done`` signals and whether any is done.
        Should rows finish in the same cycle (never with ``rows_apart``, which builds no
        priority), the highest one wins."""
        sel = Signal(len(done), name=name)
        if self.rows_apart:
            m.d.comb += sel.eq(Cat(*done))
            return sel, sel.any()
        higher = Const(0, 1)  # some row above r is done
        for r in reversed(range(len(done))):
            m.d.comb += sel[r].eq(done[r] & ~higher)
            higher = higher | done[r]
        return sel, higher

    @property
    def row_skew(self) -> int:
        """Cycles between neighbouring rows' operands."""
        return 1 if self.config.dataflow == "os" else self.config.pe_latency

    def elaborate(self, platform):
        m = Module()
        c = self.config
        tr = c.tile_rows
        nr, nc = c.tiles
        os = c.dataflow == "os"
        tiles = [[Tile(c, pe_module=self.pe_module) for _ in range(nc)] for _ in range(nr)]
        for i in range(nr):
            for j in range(nc):
                m.submodules[f"tile_{i}_{j}"] = tiles[i][j]

        row_head = (SHARED[c.pe.kind].row_head if c.organisation == "shared" else None)
        for r in range(c.rows):
            i, rr = divmod(r, tr)
            d = r * self.row_skew + c.head_cycles   # the column heads' registers
            a, ctl = delayed(m, self.i_a[r], d, f"a{r}"), delayed(m, self.i_ctl, d, f"ctl{r}")
            if row_head is not None:
                head = m.submodules[f"row{r}_head"] = row_head(c.pe)
                m.d.comb += [head.i_a.eq(a), head.i_valid.eq(ctl.valid)]
                a = head.o_table
            m.d.comb += [tiles[i][0].i_a[rr].eq(a), tiles[i][0].i_ctl[rr].eq(ctl)]
            for j in range(1, nc):
                m.d.comb += [tiles[i][j].i_a[rr].eq(tiles[i][j - 1].o_a[rr]),
                             tiles[i][j].i_ctl[rr].eq(tiles[i][j - 1].o_ctl[rr])]

        if os and c.organisation == "shared":
            self._os_shared(m, tiles)
        elif os:
            self._os(m, tiles)
        else:
            self._ws(m, tiles)
        return m

    def _os(self, m: Module, tiles) -> None:
        c = self.config
        tc = c.tile_cols
        nr = c.tiles[0]
        weight = layout_of(c.pe.ports.weight)
        for k in range(c.cols):
            j, kk = divmod(k, tc)
            # Every PE of column k sees the column's weight stream and the beats' load_w with
            # the same delay, so each one's weight register would hold the same value, later.
            # The choice between i_w and the held weight is made once here, at the top edge,
            # and the effective weight streams down (its PEs have no weight register): one
            # held weight per column instead of a weight register and a multiplexer per PE.
            held = Signal(weight, name=f"w{k}_held")
            w_eff = Signal(weight, name=f"w{k}_eff")
            m.d.comb += w_eff.eq(Mux(self.i_ctl.load_w, self.i_w[k], held))
            m.d.sync += held.eq(w_eff)
            # `held` (w_eff one cycle ago) doubles as the first register of the column's skew.
            skewed = w_eff if k == 0 else delayed(m, held, k - 1, f"w{k}_held")
            m.d.comb += tiles[0][j].i_w[kk].eq(skewed)
            for i in range(1, nr):
                m.d.comb += tiles[i][j].i_w[kk].eq(tiles[i - 1][j].o_w[kk])
        self._row_readout(m, tiles, c.pe.timing().latency)

    def _os_shared(self, m: Module, tiles) -> None:
        """Output-stationary with units shared along the columns (:mod:`.shared`).

        Column heads (dequantize-then-MAC, bit-serial): column ``k``'s weight word passes its
        skew, then the head's ``head_cycles`` registers into the grid; the rows entered as
        many cycles late (:meth:`elaborate`), so every PE meets its operands as a standalone
        PE would, ``head_cycles`` later, and results leave as from :meth:`_os`, the grid PE's
        latency (``pe_latency - head_cycles``) after the last column's beat.

        Foot units (MixPE, LUT): the grid PEs take only the weight fields they use every beat;
        the rest of the weight word (the zero point and scale) is captured as a group's last
        beat enters and delayed to each unit as little as keeps it there until the unit's last
        row hands off (:meth:`ArrayConfig.foot_metadata_delay`: none, unless the column is
        far to the right or the unit serves rows far down). Each unit keeps a row's output in
        the row's accumulator, which the read-out reads directly (:meth:`_foot_readout`), at
        the standalone array's read-out time.
        """
        c = self.config
        tc = c.tile_cols
        nr = c.tiles[0]
        org = SHARED[c.pe.kind]
        for k in range(c.cols):
            j, kk = divmod(k, tc)
            for i in range(1, nr):
                m.d.comb += tiles[i][j].i_w[kk].eq(tiles[i - 1][j].o_w[kk])
        if org.column_head is not None:
            for k in range(c.cols):
                j, kk = divmod(k, tc)
                head = m.submodules[f"col{k}_head"] = org.column_head(c.pe)
                m.d.comb += [head.i_w.eq(delayed(m, self.i_w[k], k, f"w{k}")),
                             tiles[0][j].i_w[kk].eq(head.o_w)]
        elif org.column_unit is None:
            for k in range(c.cols):
                j, kk = divmod(k, tc)
                m.d.comb += tiles[0][j].i_w[kk].eq(delayed(m, self.i_w[k], k, f"w{k}"))
        if org.column_unit is not None:
            self._foot_units(m, tiles, org.column_unit)
        else:
            self._row_readout(m, tiles, c.pe_latency - c.head_cycles)

    def _row_readout(self, m: Module, tiles, latency: int) -> None:
        """Output-stationary results read row by row from the PEs' ``o_psum``: row ``r`` is
        complete when its last column's result has appeared, ``latency`` (the grid PE's worst
        case) after that column took the output's last beat (a bit-serial PE's latency depends
        on each column's weight data type, so the first column can finish last). The rows of
        one output block finish one cycle apart: one row leaves per cycle."""
        c = self.config
        tr, tc = c.tile_rows, c.tile_cols
        last_j = (c.cols - 1) // tc
        done = []
        for r in range(c.rows):
            i, rr = divmod(r, tr)
            ctl = tiles[i][last_j].o_ctl[rr]  # the last column's beat, one cycle later
            done.append(delayed(m, ctl.valid & ctl.last, latency - 1, f"row{r}_done"))
        # The row select is one-hot and the rows are AND-ORed: on LUT4s cheaper and shallower
        # than a chain of 2:1 multiplexers per output bit.
        sel, any_done = self._row_select(m, done, "row_sel")
        m.d.comb += [
            self.o_row_valid.eq(any_done),
            self.o_row_index.eq(_or(Mux(sel[r], r, 0) for r in range(c.rows))),
        ]
        for k in range(c.cols):
            j, kk = divmod(k, tc)
            rows = []
            for r in range(c.rows):
                i, rr = divmod(r, tr)
                psum = Value.cast(tiles[i][j].o_psum[rr][kk]).as_unsigned()
                rows.append(psum & sel[r].replicate(len(psum)))
            m.d.comb += self.o_row[k].eq(_or(rows))

    def _foot_units(self, m: Module, tiles, unit_of) -> None:
        c = self.config
        tr, tc = c.tile_rows, c.tile_cols
        pe = c.pe
        grid_w, pe_w = c.grid_ports.weight, pe.ports.weight
        assert isinstance(grid_w, Struct) and isinstance(pe_w, Struct)
        grid = [name for name, _ in grid_w.fields]
        meta = [name for name, _ in pe_w.fields if name not in grid]
        serves = pe.shared_unit_rows
        assert serves is not None
        closing = self.i_ctl.valid & self.i_ctl.group_end
        accs: list[list] = [[] for _ in range(c.cols)]
        for k in range(c.cols):
            j, kk = divmod(k, tc)
            for name in grid:
                top = delayed(m, self.i_w[k][name], k, f"w{k}_{name}")
                m.d.comb += tiles[0][j].i_w[kk][name].eq(top)
            held = {}
            for name in meta:
                held[name] = Signal.like(self.i_w[k][name], name=f"w{k}_{name}_held")
                with m.If(closing):
                    m.d.sync += held[name].eq(self.i_w[k][name])
            for u in range(c.column_units):
                first = u * serves
                served = range(first, min(c.rows, first + serves))
                unit = unit_of(pe, len(served), read_out=False)
                m.submodules[f"col{k}_unit{u}"] = unit
                for idx, r in enumerate(served):
                    i, rr = divmod(r, tr)
                    m.d.comb += [unit.i_hand[idx].eq(tiles[i][j].o_psum[rr][kk]),
                                 unit.i_hand_valid[idx].eq(tiles[i][j].o_valid[rr][kk])]
                    accs[k].append(unit.o_acc[idx])
                for name in meta:
                    m.d.comb += getattr(unit, f"i_{name}").eq(
                        delayed(m, held[name], c.foot_metadata_delay(k, u),
                                f"w{k}_{name}_u{u}"))
        self._foot_readout(m, tiles, accs)

    def _foot_readout(self, m: Module, tiles, accs) -> None:
        """The rows of a ``"shared"`` array with foot units, read from the units' row
        accumulators (``accs[k][r]``, column ``k``'s for row ``r``) with the standalone
        read-out's row select, when :meth:`_row_readout` would read them: a column whose
        accumulator could be overwritten by then (:attr:`ArrayConfig.foot_read_delays`) is
        read ``d`` cycles earlier, with a row select ``d`` cycles earlier, and its result
        carried in ``d`` registers."""
        c = self.config
        tr, tc = c.tile_rows, c.tile_cols
        lat = c.pe_latency
        delays = c.foot_read_delays
        # Row r's beat control word as it passes the mesh: tile column j's o_ctl shows the
        # output's last beat at t + r + (its last column) + 1, t the cycle it entered.
        taps = []
        for r in range(c.rows):
            i, rr = divmod(r, tr)
            taps.append({(j + 1) * tc: tiles[i][j].o_ctl[rr].valid & tiles[i][j].o_ctl[rr].last
                         for j in range(c.tiles[1])})

        def done_at(r: int, offset: int):
            """Row r's output finished, seen ``offset`` cycles after t: the nearest earlier
            tap, delayed (chains shared between the columns that read at other times)."""
            have = taps[r]
            if offset not in have:
                assert offset > tc, "a read-out before the row's first tap"
                reg = Signal(name=f"row{r}_done_t{offset}")
                m.d.sync += reg.eq(done_at(r, offset - 1))
                have[offset] = reg
            return have[offset]

        def row_select(d: int, name: str):
            # Read at t + r + C - 1 + L - d; one-hot, as standalone.
            return self._row_select(
                m, [done_at(r, c.cols - 1 + lat - d) for r in range(c.rows)], name)

        sels = {d: row_select(d, "row_sel" if d == 0 else f"row_sel_d{d}")
                for d in sorted(set(delays))}
        sel, any_done = sels[0] if 0 in sels else row_select(0, "row_sel")
        m.d.comb += [
            self.o_row_valid.eq(any_done),
            self.o_row_index.eq(_or(Mux(sel[r], r, 0) for r in range(c.rows))),
        ]
        for k in range(c.cols):
            ksel = sels[delays[k]][0]
            rows = []
            for r in range(c.rows):
                y = Value.cast(accs[k][r]).as_unsigned()
                rows.append(y & ksel[r].replicate(len(y)))
            m.d.comb += self.o_row[k].eq(delayed(m, _or(rows), delays[k], f"y{k}"))

    def _ws(self, m: Module, tiles) -> None:
        c = self.config
        tr, tc = c.tile_rows, c.tile_cols
        nr, nc = c.tiles
        weight = layout_of(c.pe.ports.weight)
        for r in range(c.rows):
            i, rr = divmod(r, tr)
            shadow = Signal(data.ArrayLayout(weight, c.cols), name=f"shadow{r}")
            with m.If(self.i_wrow_en & (self.i_wrow_sel == r)):
                m.d.sync += shadow.eq(self.i_wrow)
            for k in range(c.cols):
                j, kk = divmod(k, tc)
                m.d.comb += tiles[i][j].i_w[rr][kk].eq(shadow[k])
        for k in range(c.cols):
            j, kk = divmod(k, tc)
            # Each output starts from zero at the top (the edge adds the folds).
            for i in range(1, nr):
                m.d.comb += tiles[i][j].i_psum[kk].eq(tiles[i - 1][j].o_psum[kk])
            bottom = tiles[nr - 1][j]
            m.d.comb += self.o_row[k].eq(delayed(m, bottom.o_psum[kk], c.cols - 1 - k, f"y{k}"))
        last_j, last_k = divmod(c.cols - 1, tc)
        m.d.comb += self.o_row_valid.eq(tiles[nr - 1][last_j].o_valid[last_k])
