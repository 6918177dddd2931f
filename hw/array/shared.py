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
"""

from dataclasses import dataclass
from typing import Any

from mpgemm.pe_designs.mixpe.rtl import MixPEColumnDequant, MixPEDot
from mpgemm.pe_designs.registry import build_component

from .config import ArrayConfig

__all__ = ["SharedOrganisation", "SHARED", "grid_component"]


@dataclass(frozen=True)
class SharedOrganisation:
    """A family's shared organisation: ``grid(pe_config)`` is the grid PE (with
    ``pe_config.shared_ports``), ``column_unit(pe_config, rows)`` a unit at the foot of a
    column serving ``rows`` consecutive rows; it takes the weight word's fields that the grid
    PE does not (``i_<field>``) besides the rows' hand-offs."""

    grid: Any
    column_unit: Any


#: PE kind -> its shared organisation.
SHARED = {"mixpe": SharedOrganisation(grid=MixPEDot, column_unit=MixPEColumnDequant)}


def grid_component(config: ArrayConfig) -> Any:
    """The Amaranth component at each grid position of ``config``."""
    if config.organisation == "standalone":
        return build_component(config.pe)
    return SHARED[config.pe.kind].grid(config.pe)
