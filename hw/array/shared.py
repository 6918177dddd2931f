"""Units an array shares along a row or column, as the families' papers organise their arrays.

An :class:`~.config.ArrayConfig` with ``organisation="shared"`` puts each family's grid PE (the
part of the PE used on every beat) at the grid positions and the family's per-group work in
units at the array's edge. :data:`SHARED` says which components those are; the mesh
(:mod:`.mesh`) wires them.

MixPE (arXiv 2411.16158) dequantizes once per group, after the group's integer products: its
grid PEs (:class:`~mpgemm.pe_designs.mixpe.rtl.MixPEDot`) keep the shift-and-add lanes and the
group sums ``P`` and ``A``; at the foot of each column, :class:`~mpgemm.pe_designs.mixpe.rtl.
MixPEColumnDequant` units turn each hand-off into ``y += s (P - z A)``. In an output-stationary
column the rows close a group one cycle apart and close the next one ``beats_per_group`` cycles
later, so one unit serves ``beats_per_group`` consecutive rows without ever seeing two hand-offs
at once; a column has ``ceil(rows / beats_per_group)`` units (one for every preset: groups of
128 weights are 32 beats of 4 lanes). The group's zero point and scale do not travel through
the grid: the mesh captures them as the group's last beat enters the column and delays them to
each unit (:meth:`.mesh.Mesh._os_shared`).

Dequantize-then-MAC: in an output-stationary column every row sees the same weights, so
:class:`~mpgemm.pe_designs.mac.rtl.DequantColumnHead` dequantizes them once at the top of the
column (the PE's own stage-0 register moves there, and the rows' activations wait one register
more to meet them) and the grid is of FP16 MACs.

Bit-serial (BitMoD): every row of an output-stationary column gets the same weight codes, so
:class:`~mpgemm.pe_designs.bitserial.rtl.BitSerialColumnEncoder` turns them into integer
weights once at the top of the column (BitMoD's weight encoder, one per tile rather than per
PE: the data type's table, the zero point, the special value), registered, and the grid PEs
(``BitSerialPE(config, encoded_input=True)``) keep the term walk, the group accumulator and
the bit-serial dequantizer. Unlike the dequantize-then-MAC head, the encoder's register is
not one the PE had (a grid PE still latches its integer weights for the beat's terms), so the
results come one cycle later (the PE config's ``shared_latency``).

LUT tensor core (arrays of 1 x 1 tiles), integer activations: a row's table is the same for
every column, so :class:`~mpgemm.pe_designs.lut.rtl.LutRowTable` builds it once at the row's
left edge, in the cycle the beat enters the row, and the grid PEs latch it and pass it right
instead of the activations: the paper's table broadcast along N, one register per PE as the
systolic array's price. Dequantization happens outside the tile, as in the paper: the grid PEs
(:class:`~mpgemm.pe_designs.lut.rtl.LutTilePE` with ``shared=True``) keep the look-ups and the
exact plane and activation sums and hand each group off; at the foot of each column
:class:`~mpgemm.pe_designs.lut.rtl.LutColumnDequant` units correct and scale it. The tile's own
dequantizer is bit-serial (``dq_cycles`` per group) and busy a small part of a group; the
column's rows close their groups one cycle apart, so a bit-serial unit could serve only one of
them without delaying results. The column unit instead does a group in one pass and takes a
hand-off every cycle: one unit serves ``(beats_per_group - 1) x`` plane-cycles rows (62 for W2
groups of 128), one per column for every preset. The scale and zero point bypass the grid as
MixPE's do. A 2 x 64 shared array is the paper's M2 N64 K4 tile. FP16 activations round once
per scale bit, which a one-pass unit cannot reproduce cheaply: their arrays are standalone.
"""

from dataclasses import dataclass
from typing import Any

from mpgemm.hw.contract import without_weight_register
from mpgemm.pe_designs.bitserial.config import BitSerialConfig
from mpgemm.pe_designs.bitserial.rtl import BitSerialColumnEncoder, BitSerialPE
from mpgemm.pe_designs.lut.config import LutConfig
from mpgemm.pe_designs.lut.rtl import LutColumnDequant, LutRowTable, LutTilePE
from mpgemm.pe_designs.mac.config import DequantMacConfig
from mpgemm.pe_designs.mac.rtl import DequantColumnHead, Fp16MacPE
from mpgemm.pe_designs.mixpe.rtl import MixPEColumnDequant, MixPEDot
from mpgemm.pe_designs.registry import build_component

from .config import ArrayConfig

__all__ = ["SharedOrganisation", "SHARED", "grid_component"]


@dataclass(frozen=True)
class SharedOrganisation:
    """A family's shared organisation: ``grid(pe_config)`` is the grid PE (with
    ``pe_config.shared_ports``); ``column_unit(pe_config, rows)`` (or None) a unit at the foot
    of a column serving ``rows`` consecutive rows, which takes the weight word's fields that
    the grid PE does not (``i_<field>``) besides the rows' hand-offs and gives the column's
    results; ``column_head(pe_config)`` (or None) a unit at the top of a column turning the
    weight word (``i_w``) into the grid's (``o_w``) in ``shared_head_cycles`` registers;
    ``row_head(pe_config)`` (or None) a unit at the left of a row turning its activation
    chunk (``i_a``, with the beat's ``i_valid``) into what the row's grid PEs take
    (``o_table``), combinationally."""

    grid: Any
    column_unit: Any = None
    column_head: Any = None
    row_head: Any = None


def _fp16_mac_of(pe: DequantMacConfig) -> Fp16MacPE:
    return Fp16MacPE(pe.mac)


def _bitserial_of(pe: BitSerialConfig) -> BitSerialPE:
    return BitSerialPE(pe, encoded_input=True)


def _lut_of(pe: LutConfig) -> LutTilePE:
    return LutTilePE(pe, shared=True)


#: PE kind -> its shared organisation.
SHARED = {
    "mixpe": SharedOrganisation(grid=MixPEDot, column_unit=MixPEColumnDequant),
    # Dequantize-then-MAC, output-stationary: every row of a column gets the same weights, so
    # they are dequantized once, at the top, and the grid is of FP16 MACs.
    "dequant_mac": SharedOrganisation(grid=_fp16_mac_of, column_head=DequantColumnHead),
    # Bit-serial (BitMoD), output-stationary: the weight encoder once per column, at the top.
    "bitserial": SharedOrganisation(grid=_bitserial_of, column_head=BitSerialColumnEncoder),
    # LUT tensor core: each row's table is built once, at the left, and travels along the row;
    # each column's groups are dequantized at its foot.
    "lut": SharedOrganisation(grid=_lut_of, column_unit=LutColumnDequant, row_head=LutRowTable),
}


def grid_component(config: ArrayConfig) -> Any:
    """The Amaranth component at each grid position of ``config``. An output-stationary
    array's tiles tie every PE's ``load_w`` high, so its PEs have no weight register
    (:func:`~mpgemm.hw.contract.without_weight_register`)."""
    if config.organisation == "standalone":
        pe = build_component(config.pe)
    else:
        pe = SHARED[config.pe.kind].grid(config.pe)
    return without_weight_register(pe) if config.dataflow == "os" else pe
