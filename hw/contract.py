"""The processing-element (PE) contract shared by every PE family.

Every PE in :mod:`pe_designs` presents the same port shape, so the array generators (weight- and
output-stationary) instantiate any family without special cases. Each port's fields and widths come
from the config's port description (``config.ports``, pure data in
:mod:`mpgemm.sim.golden.ports`); the *meaning* of each port is fixed here.

Ports
-----
i_a: In(layout_of(config.ports.act))
    Activation operand(s) of one beat, ``lanes`` wide.
i_w: In(layout_of(config.ports.weight))
    Weight operand(s) of one beat. For the baseline MACs this is ``lanes`` weight codes (plus
    the group scale/zero point for the dequantize-then-MAC PE); multi-cycle PEs may define it as
    a weight term or a bit-plane.
i_psum: In(psum_shape)
    Incoming partial sum. It is the starting value of an accumulation (``first``): a
    weight-stationary column feeds the PE above's result here, an output-stationary PE gets zero
    (or a bias).
i_ctl: In(PEControl)
    ``valid``: a beat is presented. ``load_w``: latch ``i_w`` into the weight register (with or
    without ``valid``); a valid beat uses ``i_w`` directly when ``load_w`` is set and the weight
    register otherwise, so weight-stationary arrays preload once and output-stationary arrays stream
    with ``load_w`` high on every beat. ``first``: this beat starts a new accumulation from
    ``i_psum`` instead of the PE's own accumulator. ``last``: this beat ends the accumulation; its
    result appears on ``o_psum`` with ``o_valid`` high exactly ``config.timing(f).latency``
    cycles later, ``f`` being the weight data type of the beat (``config.timing().latency`` is
    the worst case).
    ``group_end``: the beat closes a quantization group (PEs that dequantize per group use it,
    others ignore it).
o_a, o_w, o_ctl: Out
    ``i_a``, ``i_w`` and ``i_ctl`` delayed by one register, for systolic forwarding to the
    neighbour.
o_psum: Out(psum_shape), o_valid: Out(1)
    Result of the accumulation closed by a ``last`` beat, valid for one cycle; ``o_psum`` holds its
    value until the next result.
o_ready: Out(1)
    High when the PE accepts a beat this cycle. Single-cycle PEs tie it high; multi-cycle
    (bit-serial) PEs lower it while they work. ``config.timing(f).cycles`` tells the array's
    scheduler how long a beat of weight data type ``f`` takes (``config.timing().cycles`` is the
    worst case), so an array fed as its family documents never has to watch ``o_ready``; a
    family may add stall cycles only where it documents them (the bit-serial PE waits when a
    group closes before the previous group's dequantization has finished).

The beat-level meaning of this contract is implemented once in pure numpy by
:func:`mpgemm.sim.golden.contract.run_contract`, against which every PE is checked.
"""

from amaranth import Mux, Shape, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from mpgemm.sim.golden.ports import PE_CONTROL, Array, Bits, Field, PEPorts, Struct

__all__ = ["layout_of", "PEControl", "pe_signature", "contract_plumbing",
           "without_weight_register"]


def layout_of(field: Field) -> "Shape | data.Layout":
    """The Amaranth shape of a port description (:mod:`mpgemm.sim.golden.ports`): a signed or
    unsigned shape, an ``ArrayLayout`` or a ``StructLayout``, bit for bit the packing that
    :meth:`~mpgemm.sim.golden.ports.Bits.pack` and friends define."""
    if isinstance(field, Bits):
        return signed(field.width) if field.signed else unsigned(field.width)
    if isinstance(field, Array):
        return data.ArrayLayout(layout_of(field.element), field.length)
    if isinstance(field, Struct):
        return data.StructLayout({name: layout_of(f) for name, f in field.fields})
    raise TypeError(f"field must be a Bits, Array or Struct description, not {field!r}")


#: Per-beat control bits of the PE contract (see the module docstring).
PEControl = layout_of(PE_CONTROL)


def pe_signature(ports: PEPorts) -> wiring.Signature:
    """The signature every PE component declares, from its config's port description."""
    if not isinstance(ports, PEPorts):
        raise TypeError(f"ports must be a PEPorts description, not {ports!r}")
    act, weight, psum = layout_of(ports.act), layout_of(ports.weight), layout_of(ports.psum)
    return wiring.Signature({
        "i_a": In(act),
        "i_w": In(weight),
        "i_psum": In(psum),
        "i_ctl": In(PEControl),
        "o_a": Out(act),
        "o_w": Out(weight),
        "o_psum": Out(psum),
        "o_ctl": Out(PEControl),
        "o_valid": Out(1),
        "o_ready": Out(1),
    })


def without_weight_register(pe):
    """Mark the PE component ``pe`` (before it is elaborated) as one whose ``load_w`` is high on
    every beat, and return it: :func:`contract_plumbing` then builds no weight register and
    every beat uses ``i_w``. An output-stationary array streams its weights so (its tiles tie
    ``load_w`` high), as the dequantize-then-MAC PE does with its inner MAC; the register would
    be logic that no input can reach.
    """
    pe.weight_register = False
    return pe


def contract_plumbing(m, pe):
    """Add the contract's forwarding registers and weight register to ``m``.

    Returns the weight value a valid beat uses: ``i_w`` when ``load_w`` is set, else the stored
    weight register (reset value zero). A PE marked by :func:`without_weight_register` has no
    weight register: the value is ``i_w``.
    """
    m.d.sync += [
        pe.o_a.eq(pe.i_a),
        pe.o_w.eq(pe.i_w),
        pe.o_ctl.eq(pe.i_ctl),
    ]
    if not getattr(pe, "weight_register", True):
        return pe.i_w
    w_reg = Signal(pe.i_w.shape(), name="w_reg")
    with m.If(pe.i_ctl.load_w):
        m.d.sync += w_reg.eq(pe.i_w)
    w_sel = Signal(pe.i_w.shape(), name="w_sel")
    m.d.comb += w_sel.eq(Mux(pe.i_ctl.load_w, pe.i_w, w_reg))
    return w_sel
