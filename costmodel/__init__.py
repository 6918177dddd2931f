"""Analytical area / energy / latency model of mixed-precision GEMM hardware.

Every design point is a generator config (:mod:`pe_designs`); the cost model reads the same
frozen config object duck-typed, through its ``kind`` and fields, and never imports Amaranth.

Typical use::

    from mpgemm.costmodel import GemmWorkload, evaluate, llm_linear_layers
    from mpgemm.pe_designs.presets import PRESETS

    layers = llm_linear_layers(4096, 11008, 32, tokens=1, phase="decode")
    total = sum(evaluate(PRESETS["int_mac_w8a8"], w, n_pe=64) for w in layers)
"""

# Importing a family's model module registers it with pe_cost (see register_pe_model).
from . import bitserial, lut, mixpe
from .components import ComponentCost
from .evaluate import CostReport, evaluate
from .hierarchy import generated_units, rollup, rollup_area, rtl_area_um2
from .pe import PECost, pe_cost, register_pe_model, registered_kinds
from .tech import DEFAULT_TECH, TECH_28NM, TECH_45NM, Technology
from .workload import GemmWorkload, format_info, llm_linear_layers

__all__ = [
    "bitserial", "lut", "mixpe",
    "Technology", "TECH_45NM", "TECH_28NM", "DEFAULT_TECH",
    "ComponentCost", "PECost", "pe_cost", "register_pe_model", "registered_kinds",
    "GemmWorkload", "llm_linear_layers", "format_info",
    "CostReport", "evaluate",
    "rollup", "rollup_area", "rtl_area_um2", "generated_units",
]
