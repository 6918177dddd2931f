"""Designs side by side at equal throughput: the comparison architects ask for first.

For each design and weight data type, :func:`equal_throughput` reads the PE's throughput on that
data type (``macs_per_beat / cycles_per_beat``; bit-serial and LUT PEs take more cycles for
wider weights) and scales every design to the same number of MACs per cycle: the area of the PEs
needed, their energy per MAC, and, when synthesis reports are given, their Yosys cell count
scaled the same way. A design that cannot run a data type (its workload check rejects it) is
left out of that data type's rows.
"""

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from mpgemm.pe_designs.common import PEConfigBase
from mpgemm.sim.golden.contract import PEConfig

from .pe import pe_cost, workload_beat_cost, workload_check
from .tech import DEFAULT_TECH, Technology
from .workload import GemmWorkload

#: Largest scaling target (MACs per cycle or um^2) the comparisons take.
MAX_TARGET = 1e15


def check_target(name: str, value: object) -> float:
    """``value`` as a float in (0, :data:`MAX_TARGET`], else TypeError or ValueError naming
    ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, not {value!r}")
    if not (math.isfinite(value) and 0 < value <= MAX_TARGET):
        raise ValueError(f"{name} must be a finite number in (0, {MAX_TARGET:g}], not {value!r}")
    return float(value)

__all__ = ["ThroughputRow", "equal_throughput", "check_target", "MAX_TARGET"]


@dataclass(frozen=True)
class ThroughputRow:
    """One design on one weight data type, scaled to ``target_macs_per_cycle``."""

    design: str
    weight_format: str
    cycles_per_beat: int
    macs_per_cycle: float
    pe_area_um2: float
    energy_per_mac_pj: float
    pes: float
    area_um2: float
    yosys_cells: int | None = None
    yosys_cells_scaled: float | None = None


def _supports(config: PEConfig, workload: GemmWorkload) -> bool:
    check = workload_check(config)
    if check is None:
        return True
    try:
        check(config, workload)
    except ValueError:
        return False
    return True


def equal_throughput(designs: Mapping[str, PEConfig], act_format: str,
                     weight_formats: Sequence[str], *, target_macs_per_cycle: float = 64.0,
                     group_size: int = 128, yosys_cells: Mapping[str, int] | None = None,
                     tech: Technology = DEFAULT_TECH) -> list[ThroughputRow]:
    """Rows of ``designs`` (name -> config) on ``act_format`` activations, per weight format.

    Parameters
    ----------
    target_macs_per_cycle : float
        Throughput every design is scaled to (fractional PE counts: area scales linearly).
    group_size : int
        Quantization group of the workload (designs with per-group scales need a multiple of
        theirs; designs without groups run it with ``group_size=None``).
    yosys_cells : mapping, optional
        Generic Yosys cells per design name (``make synth``'s reports), scaled like the area.
    """
    if not isinstance(designs, Mapping):
        raise TypeError(f"designs must be a mapping of name -> PE config, not "
                        f"{type(designs).__name__}")
    for name, config in designs.items():
        if not isinstance(config, PEConfigBase):
            raise TypeError(f"designs[{name!r}] must be a PE config, not "
                            f"{type(config).__name__}")
    if isinstance(weight_formats, str) or not isinstance(weight_formats, Sequence):
        raise TypeError(f"weight_formats must be a sequence of format names, not "
                        f"{weight_formats!r}")
    check_target("target_macs_per_cycle", target_macs_per_cycle)
    rows = []
    for fmt in weight_formats:
        for name, config in designs.items():
            workload = None
            for group in (group_size, None):
                w = GemmWorkload(M=64, N=64, K=4096, act_format=act_format, weight_format=fmt,
                                 group_size=group)
                if _supports(config, w):
                    workload = w
                    break
            if workload is None:
                continue
            pe = pe_cost(config, tech)
            cycles, _, energy_per_beat = workload_beat_cost(config, workload, pe)
            macs_per_cycle = config.macs_per_beat / cycles
            pes = target_macs_per_cycle / macs_per_cycle
            cells = None if yosys_cells is None else yosys_cells.get(name)
            rows.append(ThroughputRow(
                design=name, weight_format=fmt, cycles_per_beat=cycles,
                macs_per_cycle=macs_per_cycle, pe_area_um2=pe.area_um2,
                energy_per_mac_pj=energy_per_beat / config.macs_per_beat, pes=pes,
                area_um2=pes * pe.area_um2, yosys_cells=cells,
                yosys_cells_scaled=None if cells is None else pes * cells))
    return rows
