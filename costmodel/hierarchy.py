"""Bottom-up roll-up over a design's module hierarchy.

The RTL generator records each design's hierarchy as a directed graph (a ``networkx.DiGraph``):
nodes are Verilog module names and an edge ``(parent, child)`` carries ``instances``, how many
times ``parent`` instantiates ``child``. The graph is read through its methods only
(``successors``, ``get_edge_data``; :class:`HierarchyGraph`), so this module does not import
networkx.
"""

from collections.abc import Callable, Iterator, Mapping
from typing import Any, Protocol

from mpgemm.sim.golden.contract import PEConfig

from .components import fp16_exact_multiplier, fp_adder, fp_scale_multiplier
from .cost import ComponentCost
from .pe import dequantizer, pe_cost, pe_model
from .tech import DEFAULT_TECH, Technology

__all__ = [
    "HierarchyGraph", "rollup", "rollup_area", "unit_cost", "rtl_area_um2", "generated_units",
]


class HierarchyGraph(Protocol):
    """What this module reads of a module hierarchy graph (a ``networkx.DiGraph``)."""

    def successors(self, n: str, /) -> Iterator[str]:
        """The modules ``n`` instantiates."""
        ...

    def get_edge_data(self, u: str, v: str, /) -> Mapping[str, Any] | None:
        """The attributes of the edge ``(u, v)`` (``instances``), None without one."""
        ...

    def is_directed(self) -> bool:
        ...

    def is_multigraph(self) -> bool:
        ...

    def __contains__(self, n: object, /) -> bool:
        ...


def _instances(graph: HierarchyGraph, parent: str, child: str) -> int:
    data = graph.get_edge_data(parent, child) or {}
    n = data.get("instances")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(
            f"edge ({parent!r}, {child!r}) must have a positive integer 'instances' attribute, "
            f"not {n!r}"
        )
    return n


def rollup(graph: HierarchyGraph, top: str, leaf_fn: Callable[[str], float]) -> float:
    """``value(m) = leaf_fn(m) + sum over children c of instances(m, c) * value(c)``, at ``top``.

    Each module reachable from ``top`` is evaluated once (shared submodules are memoised).

    Parameters
    ----------
    graph : networkx.DiGraph
        Module hierarchy; edges carry an ``instances`` count.
    top : str
        The module to evaluate.
    leaf_fn : callable
        A module's own contribution (excluding its children).

    Raises
    ------
    ValueError
        If ``top`` is not in the graph, the hierarchy below it has a cycle (named in the
        message), or an edge lacks a positive integer ``instances``.
    TypeError
        If ``graph`` is not a directed simple graph.
    """
    if not (callable(getattr(graph, "successors", None)) and graph.is_directed()):
        raise TypeError(f"graph must be a directed graph (networkx.DiGraph), not {graph!r}")
    if graph.is_multigraph():
        raise TypeError("graph must be a simple DiGraph: give repeated instances as one edge "
                        "with an 'instances' count, not as parallel edges")
    if top not in graph:
        raise ValueError(f"top module {top!r} is not in the hierarchy graph")

    values: dict[str, float] = {}
    path: list[str] = []
    on_path: set[str] = set()

    def visit(module: str) -> float:
        if module in values:
            return values[module]
        if module in on_path:
            cycle = path[path.index(module):] + [module]
            raise ValueError(f"module hierarchy has a cycle: {' -> '.join(cycle)}")
        path.append(module)
        on_path.add(module)
        total = float(leaf_fn(module))
        for child in graph.successors(module):
            total += _instances(graph, module, child) * visit(child)
        path.pop()
        on_path.discard(module)
        values[module] = total
        return total

    return visit(top)


def rollup_area(graph: HierarchyGraph, own_area_um2: Mapping[str, float], top: str) -> float:
    """Total area of ``top``: its own area plus ``instances`` x the area of every child.

    Parameters
    ----------
    graph : networkx.DiGraph
        Module hierarchy (see :func:`rollup`).
    own_area_um2 : Mapping[str, float]
        Each module's own area, excluding its submodules.
    top : str
        The module whose total is wanted.

    Raises
    ------
    ValueError
        As :func:`rollup`, and if a module below ``top`` has no own area (or a negative one).
    """
    def own(module: str) -> float:
        try:
            area = own_area_um2[module]
        except KeyError:
            raise ValueError(
                f"module {module!r} (below {top!r}) has no entry in own_area_um2"
            ) from None
        if not area >= 0:
            raise ValueError(f"own_area_um2[{module!r}] must be >= 0, not {area!r}")
        return area

    return rollup(graph, top, own)


def unit_cost(desc: Mapping[str, Any], tech: Technology) -> ComponentCost | None:
    """Cost of one generated arithmetic unit from its manifest description, or None.

    ``desc`` is a manifest ``units`` entry (``{"unit": "FPAdd", "exp_bits": 8, ...}``); PE
    components (entries with a ``config``) return None: their glue logic is priced from the
    config's breakdown instead.
    """
    unit = desc.get("unit")
    if "config" in desc:
        return None
    if unit == "FPAdd":
        return fp_adder(desc["exp_bits"], desc["man_bits"], tech)
    if unit == "FPMul":
        a, b, out = list(desc["in"]), list(desc.get("in_b", desc["in"])), list(desc["out"])
        if a == b == [5, 10] and out == [8, 23]:
            return fp16_exact_multiplier(tech)
        if a == out == [8, 23] and b == [5, 10]:
            return fp_scale_multiplier((8, 23), (5, 10), tech)
        raise ValueError(f"no cost model for an FPMul of {a} x {b} -> {out}; modelled: "
                         f"FP16 x FP16 -> FP32 and FP32 x FP16 -> FP32")
    if unit == "IntScaleFP":
        fields = (desc["exp_bits"], desc["man_bits"])
        if fields not in ((5, 10), (8, 23)):
            raise ValueError(f"no cost model for an IntScaleFP to {list(fields)}; modelled: "
                             f"FP16 and FP32")
        return dequantizer(desc["int_bits"], tech, fields)
    raise ValueError(f"no cost model for generated unit {unit!r}")


def generated_units(graph: HierarchyGraph, units: Mapping[str, Mapping[str, Any]], top: str
                    ) -> dict[str, int]:
    """How many of each arithmetic unit the design instantiates, counted through the hierarchy."""
    counts: dict[str, int] = {}
    for kind in sorted({d["unit"] for d in units.values() if "config" not in d}):
        def is_kind(m: str, kind: str = kind) -> float:
            return float(units.get(m, {}).get("unit") == kind and "config" not in units[m])

        counts[kind] = int(rollup(graph, top, is_kind))
    return counts


def rtl_area_um2(config: PEConfig, graph: HierarchyGraph,
                 units: Mapping[str, Mapping[str, Any]], top: str,
                 tech: Technology | None = None) -> float:
    """PE area rolled up from the module hierarchy that was actually generated.

    Every arithmetic-unit module found in the hierarchy is priced from its own description
    (format widths as generated), once per instance; the PE's glue logic (registers, muxes,
    integer datapath: the config breakdown's entries not listed in its family's
    :attr:`costmodel.pe.PEModel.unit_keys`) comes from the config. If the generator built a
    different set of units than the cost model assumes, this differs from
    :func:`costmodel.pe_cost`.
    """
    tech = DEFAULT_TECH if tech is None else tech
    breakdown = pe_cost(config, tech).breakdown
    unit_keys = pe_model(config).unit_keys
    glue = sum(c.area_um2 for k, c in breakdown.items() if k not in unit_keys)

    def own(module: str) -> float:
        desc = units.get(module)
        if desc is None:
            raise ValueError(f"module {module!r} has no entry in the manifest's units")
        cost = unit_cost(desc, tech)
        return 0.0 if cost is None else cost.area_um2

    return glue + rollup(graph, top, own)
