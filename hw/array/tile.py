"""A tile: a grid of PEs wired neighbour to neighbour (Gemmini's ``Tile``).

Every PE forwards its activation, weight and control one register onward (the PE contract's
``o_a``, ``o_w``, ``o_ctl``), so a tile adds no registers of its own: activations and control
enter each row at the left and move right one PE per cycle. What moves down a column depends on
the dataflow: the weights (output-stationary) or the partial sums (weight-stationary).
"""

from amaranth import ClockSignal, Instance, Module, ResetSignal, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from mpgemm.hw.contract import PEControl, layout_of, pe_signature

from .config import ArrayConfig
from .shared import grid_component

__all__ = ["Tile", "tile_signature", "pe_instance"]


def tile_signature(config: ArrayConfig) -> wiring.Signature:
    """The ports of a tile of ``config`` (``tile_rows x tile_cols`` PEs).

    Both dataflows: ``i_a``/``i_ctl`` per row at the left, ``o_a``/``o_ctl`` at the right.
    Output-stationary: ``i_w`` per column at the top, ``o_w`` at the bottom, every PE's result
    (``o_psum[r][c]``, ``o_valid[r]`` bit ``c``); ``i_w`` is the weight each beat uses: the
    mesh resolves ``load_w`` once per column, and the PEs have no weight register.
    Weight-stationary: every PE's weight operand ``i_w[r][c]`` (from the shadow registers),
    ``i_psum`` per column at the top, the bottom row's ``o_psum``/``o_valid``.
    """
    rows, cols = config.tile_rows, config.tile_cols
    p = config.grid_ports
    act, weight, psum = layout_of(p.act), layout_of(p.weight), layout_of(p.psum)
    arr = data.ArrayLayout
    members = {
        "i_a": In(arr(act, rows)), "i_ctl": In(arr(PEControl, rows)),
        "o_a": Out(arr(act, rows)), "o_ctl": Out(arr(PEControl, rows)),
    }
    if config.dataflow == "os":
        members |= {
            "i_w": In(arr(weight, cols)), "o_w": Out(arr(weight, cols)),
            "o_psum": Out(arr(arr(psum, cols), rows)), "o_valid": Out(arr(unsigned(cols), rows)),
        }
    else:
        members |= {
            "i_w": In(arr(arr(weight, cols), rows)),
            "i_psum": In(arr(psum, cols)),
            "o_psum": Out(arr(psum, cols)), "o_valid": Out(unsigned(cols)),
        }
    return wiring.Signature(members)


def pe_instance(m: Module, config: ArrayConfig, name: str, pe_module: str | None):
    """A PE of ``config`` added to ``m`` as submodule ``name``; returns an object with its
    ports (``i_a``, ``o_psum`` ...).

    With ``pe_module`` None the PE's Amaranth component is elaborated in place (what
    amaranth.sim runs). With a module name the PE is an instance of that Verilog module, which
    the generator emits once beside the array (:func:`mpgemm.hw.flow.generate.generate_verilog`):
    an array's file then holds one PE module instead of one copy per grid position, which keeps
    rtl_out/ small and lets Verilator and Yosys process the PE once.
    """
    if pe_module is None:
        pe = grid_component(config)
        m.submodules[name] = pe
        return pe
    signature = pe_signature(config.grid_ports)
    ports = signature.create(path=(name,))
    conns = {f"{'i' if member.flow == In else 'o'}_{port}":
             getattr(ports, port).as_value() if hasattr(getattr(ports, port), "as_value")
             else getattr(ports, port)
             for port, member in signature.members.items()}
    m.submodules[name] = Instance(pe_module, i_clk=ClockSignal(), i_rst=ResetSignal(), **conns)
    return ports


class Tile(wiring.Component):
    """``tile_rows x tile_cols`` PEs of ``config.pe`` (see :func:`tile_signature`;
    ``pe_module``: see :func:`pe_instance`)."""

    def __init__(self, config: ArrayConfig, *, pe_module: str | None = None):
        if not isinstance(config, ArrayConfig):
            raise TypeError(f"config must be an ArrayConfig, not {config!r}")
        self.config = config
        self.pe_module = pe_module
        super().__init__(tile_signature(config))

    def elaborate(self, platform):
        m = Module()
        c = self.config
        rows, cols, os = c.tile_rows, c.tile_cols, c.dataflow == "os"
        pe = [[pe_instance(m, c, f"pe_{r}_{k}", self.pe_module) for k in range(cols)]
              for r in range(rows)]
        for r in range(rows):
            for k in range(cols):
                p = pe[r][k]
                left = (self.i_a[r], self.i_ctl[r]) if k == 0 else (pe[r][k - 1].o_a,
                                                                   pe[r][k - 1].o_ctl)
                m.d.comb += [p.i_a.eq(left[0]), p.i_ctl.eq(left[1])]
                if os:
                    # Weights stream down; each PE starts its output from zero. The weights
                    # that stream are the ones the beats use (the mesh applies load_w at its
                    # top edge), so every PE takes i_w, has no weight register
                    # (shared.grid_component) and ignores load_w.
                    up = self.i_w[k] if r == 0 else pe[r - 1][k].o_w
                    m.d.comb += [p.i_w.eq(up),
                                 self.o_psum[r][k].eq(p.o_psum),
                                 self.o_valid[r][k].eq(p.o_valid)]
                else:
                    # Weights come from the shadow registers; partial sums flow down.
                    up = self.i_psum[k] if r == 0 else pe[r - 1][k].o_psum
                    m.d.comb += [p.i_w.eq(self.i_w[r][k]), p.i_psum.eq(up)]
            m.d.comb += [self.o_a[r].eq(pe[r][cols - 1].o_a),
                         self.o_ctl[r].eq(pe[r][cols - 1].o_ctl)]
        for k in range(cols):
            bottom = pe[rows - 1][k]
            if os:
                m.d.comb += self.o_w[k].eq(bottom.o_w)
            else:
                m.d.comb += [self.o_psum[k].eq(bottom.o_psum), self.o_valid[k].eq(bottom.o_valid)]
        return m
