"""Analytical area / energy / latency model of mixed-precision GEMM hardware.

Every design point is a generator config (:mod:`pe_designs`); the cost model reads the same
frozen config object through the family protocol, finds each family's cost model in the one
family registry (:mod:`mpgemm.pe_designs.registry`), and never imports Amaranth.

Typical use::

    from mpgemm.costmodel import GemmWorkload, evaluate, llm_linear_layers
    from mpgemm.pe_designs.presets import PRESETS

    layers = llm_linear_layers(4096, 11008, 32, tokens=1, phase="decode")
    total = sum(evaluate(PRESETS["int_mac_w8a8"], w, n_pe=64) for w in layers)

Whole accelerators (:mod:`.accel`): ``accel_cost(accel)`` for the area by unit group,
``gemm_energy(accel, m, n, k)`` for one GEMM's cycles and energy, ``compare_arrays`` for
accelerators side by side at equal throughput or area.
"""

from .accel import (
    AccelCost,
    AccelReport,
    ArrayRow,
    BufferCost,
    GemmActivity,
    UnitGroup,
    accel_cost,
    compare_arrays,
    gemm_activity,
    gemm_energy,
    render_rows,
)
from .cost import ComponentCost
from .evaluate import CostReport, evaluate
from .hierarchy import generated_units, rollup, rollup_area, rtl_area_um2
from .pe import PECost, PEModel, pe_cost, pe_model
from .tech import DEFAULT_TECH, TECH_28NM, TECH_45NM, Technology
from .workload import GemmWorkload, format_info, llm_linear_layers

__all__ = [
    "Technology", "TECH_45NM", "TECH_28NM", "DEFAULT_TECH",
    "ComponentCost", "PECost", "PEModel", "pe_cost", "pe_model",
    "GemmWorkload", "llm_linear_layers", "format_info",
    "CostReport", "evaluate",
    "rollup", "rollup_area", "rtl_area_um2", "generated_units",
    "AccelCost", "AccelReport", "ArrayRow", "BufferCost", "GemmActivity", "UnitGroup",
    "accel_cost", "gemm_activity", "gemm_energy", "compare_arrays", "render_rows",
]
