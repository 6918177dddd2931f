"""Per-PE area and energy, derived from the same config object the RTL generator builds.

A PE family's cost model is a :class:`PEModel` that the family registers
(``Family.cost`` in :mod:`mpgemm.pe_designs.registry`): a function from ``(config, tech)`` to a
breakdown ``{component name: ComponentCost}`` where each entry's ``area_um2`` is the total
area of that component group and ``energy_pj`` its energy per *beat* (one accepted input, which
takes ``config.timing().cycles`` cycles), summed over its uses in the beat. :func:`pe_cost` adds
the breakdown up and reads timing from the config's own facts (``timing()``,
``macs_per_beat``), so the cost model never re-derives a timing fact.

Configs are read through the family protocol (:class:`mpgemm.sim.golden.contract.PEConfig`);
this package never imports Amaranth.

Activity assumption (as in Accelergy's "energy = sum over actions of count x energy per
action"): every arithmetic unit is used once per beat and every register is clocked every cycle
with fresh data. This is the streaming (output-stationary, ``load_w`` every beat) upper bound.
"""

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Generic, Protocol

from mpgemm.pe_designs.registry import family_of
from mpgemm.sim.golden.contract import ConfigT, PEConfig
from mpgemm.sim.golden.formats import int_range
from mpgemm.sim.golden.ports import PE_CONTROL

from .components import (
    FP16_FIELDS,
    FP32_FIELDS,
    ComponentCost,
    barrel_shifter,
    fp16_exact_multiplier,
    fp_adder,
    int_adder,
    int_multiplier,
    mux2,
    register,
)
from .tech import DEFAULT_TECH, Technology
from .workload import GemmWorkload, format_info

__all__ = [
    "PECost", "PEModel", "pe_cost", "pe_model", "workload_check", "workload_beat_cost",
    "GroupedPEConfig", "check_grouped_workload", "check_typed_grouped_workload",
    "PE_CONTROL_BITS", "dequantizer",
]

#: Width of the contract's per-beat control struct (valid, load_w, first, last, group_end).
PE_CONTROL_BITS = PE_CONTROL.width

#: ``breakdown(config, tech) -> {component name: ComponentCost}``.
Breakdown = Callable[[ConfigT, Technology], Mapping[str, ComponentCost]]
#: ``check_workload(config, workload)``, raising ValueError for a workload that does not fit.
WorkloadCheck = Callable[[ConfigT, GemmWorkload], None]
#: ``beat_cost(config, workload, pe) -> (cycles_per_beat, latency_cycles, energy_per_beat_pj)``
#: for families whose timing depends on the workload's data types.
BeatCost = Callable[[ConfigT, GemmWorkload, "PECost"], tuple[int, int, float]]


@dataclass(frozen=True)
class PEModel(Generic[ConfigT]):
    """A family's cost model (``ConfigT`` is the family's config class).

    Parameters
    ----------
    breakdown : callable
        ``breakdown(config, tech) -> {component name: ComponentCost}`` (energy per beat).
    check_workload : callable, optional
        ``check_workload(config, workload)`` raising ValueError when the workload's formats or
        sizes do not fit the design; :func:`costmodel.evaluate` calls it before costing.
    beat_cost : callable, optional
        ``beat_cost(config, workload, pe) -> (cycles_per_beat, latency, energy_per_beat_pj)``
        for families whose beat depends on the workload's weight data type.
    unit_keys : mapping
        Breakdown entries that the generator builds as separate arithmetic-unit submodules
        (``{entry: unit class name}``, the ``unit`` names of the manifest's ``units``).
        Everything else in a breakdown is glue logic inside the PE's own modules;
        :func:`costmodel.hierarchy.rtl_area_um2` prices the generated units one by one from the
        manifest instead of trusting these entries.
    """

    breakdown: Breakdown[ConfigT]
    check_workload: WorkloadCheck[ConfigT] | None = None
    beat_cost: BeatCost[ConfigT] | None = None
    unit_keys: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self):
        for name in ("breakdown", "check_workload", "beat_cost"):
            fn = getattr(self, name)
            if not (callable(fn) or (fn is None and name != "breakdown")):
                raise TypeError(f"PEModel {name} must be callable, not {fn!r}")
        object.__setattr__(self, "unit_keys", MappingProxyType(dict(self.unit_keys)))



@dataclass(frozen=True)
class PECost:
    """Area, energy and timing of one PE.

    Attributes
    ----------
    kind : str
        The config's ``kind``.
    area_um2 : float
        Sum of the breakdown's areas.
    energy_per_beat_pj : float
        Sum of the breakdown's energies times the technology's ``pnr_energy_factor``.
    energy_per_mac_pj : float
        ``energy_per_beat_pj / macs_per_beat``.
    cycles_per_mac : float
        From the config (``cycles_per_beat / macs_per_beat``).
    latency_cycles : int
        From the config: cycles from a ``last`` beat to its result.
    macs_per_cycle : float
        Peak throughput, ``macs_per_beat / cycles_per_beat``.
    breakdown : Mapping[str, ComponentCost]
        Per component group: area and energy per beat (before the place-and-route factor).
    """

    kind: str
    area_um2: float
    energy_per_beat_pj: float
    energy_per_mac_pj: float
    cycles_per_mac: float
    latency_cycles: int
    macs_per_cycle: float
    breakdown: Mapping[str, ComponentCost] = field(compare=False)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON output (the breakdown as ``{name: {area_um2, energy_pj}}``)."""
        out = {f: getattr(self, f) for f in self.__dataclass_fields__ if f != "breakdown"}
        out["breakdown"] = {
            name: {"area_um2": c.area_um2, "energy_pj": c.energy_pj}
            for name, c in self.breakdown.items()
        }
        return out












def pe_model(config: PEConfig) -> PEModel[Any]:
    """The cost model registered for ``config``'s family."""
    model = family_of(config).load("cost")
    if not isinstance(model, PEModel):
        raise TypeError(f"the {config.kind} family's cost model must be a PEModel, "
                        f"not {model!r}")
    return model


def workload_check(config: PEConfig) -> WorkloadCheck[Any] | None:
    """The workload check of ``config``'s family (None if it has none)."""
    return pe_model(config).check_workload


def workload_beat_cost(config: PEConfig, workload: GemmWorkload,
                       pe: PECost) -> tuple[int, int, float]:
    """``(cycles_per_beat, latency_cycles, energy_per_beat_pj)`` of ``config`` on ``workload``.

    The config's own (worst-case) figures unless its family's model has a ``beat_cost`` that
    depends on the workload (a bit-serial PE spends fewer cycles on FP4 groups than on INT8).
    """
    hook = pe_model(config).beat_cost
    if hook is None:
        return config.timing().cycles, pe.latency_cycles, pe.energy_per_beat_pj
    return hook(config, workload, pe)


def pe_cost(config: PEConfig, tech: Technology = DEFAULT_TECH, *,
            weight_register: bool = True) -> PECost:
    """Area, energy and timing of one PE described by ``config``.

    ``weight_register=False``: the PE as an output-stationary array builds it, with ``load_w``
    high on every beat and no weight register (``mpgemm.hw.contract.without_weight_register``);
    its breakdown has no ``"weight_register"`` entry.

    Results are cached per ``(config, tech, weight_register)``; configs are frozen
    dataclasses, so equal configs share one entry.

    Raises
    ------
    TypeError
        If ``config`` is not a config of a registered family (the message lists them) or
        ``tech`` is not a Technology.
    """
    pe_model(config)
    if not isinstance(tech, Technology):
        raise TypeError(f"tech must be a Technology, not {tech!r}")
    if not isinstance(weight_register, bool):
        raise TypeError(f"weight_register must be a bool, not {weight_register!r}")
    return _pe_cost_cached(config, tech, weight_register)


@functools.lru_cache(maxsize=4096)
def _pe_cost_cached(config: PEConfig, tech: Technology, weight_register: bool) -> PECost:
    parts = dict(pe_model(config).breakdown(config, tech))
    if not weight_register:
        parts.pop("weight_register", None)
    breakdown = MappingProxyType(parts)
    total = sum(breakdown.values(), ComponentCost.zero())
    energy_per_beat = total.energy_pj * tech.pnr_energy_factor
    macs_per_beat = config.macs_per_beat
    return PECost(
        kind=config.kind,
        area_um2=total.area_um2,
        energy_per_beat_pj=energy_per_beat,
        energy_per_mac_pj=energy_per_beat / macs_per_beat,
        cycles_per_mac=float(config.cycles_per_mac),
        latency_cycles=config.timing().latency,
        macs_per_cycle=macs_per_beat / config.timing().cycles,
        breakdown=breakdown,
    )


# --------------------------------------------------------------------------------------------
# Shared pieces
# --------------------------------------------------------------------------------------------

def _adder_tree(widths: list[int], tech: Technology) -> ComponentCost:
    """Balanced tree summing operands of the given widths, paired as ``hw.arith.adder_tree``.

    Each sum is one bit wider than its wider operand (exact), so deeper levels use wider adders.
    """
    cost = ComponentCost.zero()
    while len(widths) > 1:
        nxt = []
        for i in range(0, len(widths) - 1, 2):
            w = max(widths[i], widths[i + 1])
            cost += int_adder(w, tech)
            nxt.append(w + 1)
        if len(widths) % 2:
            nxt.append(widths[-1])
        widths = nxt
    return cost


def _shift_add(x_bits: int, n_terms: int, tech: Technology,
               top_negative: bool = False) -> ComponentCost:
    """``hw.arith.shift_add``: ``n_terms`` gated copies of an ``x_bits`` operand, term ``j``
    shifted by ``j``, summed in a balanced tree (each sum one bit wider than its wider
    operand); a two's complement code's top term is negated first."""
    negate = int_adder(x_bits + n_terms, tech) if top_negative else ComponentCost.zero()
    return (mux2(x_bits, tech) * n_terms + negate
            + _adder_tree([x_bits + j for j in range(n_terms)], tech))


def _contract_plumbing(config: PEConfig, tech: Technology) -> dict[str, ComponentCost]:
    """The PE contract's registers, common to every family.

    Forwarding of ``i_a`` / ``i_w`` / ``i_ctl``, the weight register with its bypass mux
    (``hw.contract.contract_plumbing``) and the ``o_valid`` flag.
    """
    act, wgt = config.ports.act.width, config.ports.weight.width
    return {
        "forwarding_registers": register(act + wgt + PE_CONTROL_BITS, tech),
        "weight_register": register(wgt, tech) + mux2(wgt, tech),
        "control": register(1, tech),
    }


def _fp16_mac_datapath(lanes: int, tech: Technology) -> dict[str, ComponentCost]:
    """The FP16 MAC's arithmetic and pipeline (``Fp16MacPE`` without the contract plumbing)."""
    fp32 = fp_adder(*FP32_FIELDS, tech)
    return {
        "fp16_multipliers": fp16_exact_multiplier(tech) * lanes,
        "fp32_tree_adders": fp32 * (lanes - 1),
        "fp32_accumulate_adder": fp32,
        # Stage 1 holds the tree sum, the incoming psum and valid/first/last; then the
        # accumulator, the output register and the first-beat select between psum and acc.
        "pipeline_registers": register(32 + 32 + 3, tech),
        "accumulator": register(32 + 32, tech) + mux2(32, tech),
    }


def dequantizer(diff_bits: int, tech: Technology,
                fields: tuple[int, int] = FP16_FIELDS) -> ComponentCost:
    """``RNE(d * scale)`` for a signed ``diff_bits`` integer (``hw.fp.IntScaleFP``), FP16 unless
    ``fields`` gives another format's (exponent bits, mantissa bits).

    Magnitude of ``d``, a (diff_bits x significand)-bit product, normalisation over the
    product, a round-to-nearest-even incrementer on the significand and the exponent adder.
    """
    exp_bits, man_bits = fields
    sig = man_bits + 1
    prod = diff_bits + sig
    return (
        int_adder(diff_bits, tech)
        + int_multiplier(diff_bits, sig, tech)
        + barrel_shifter(prod, prod, tech)
        + int_adder(sig, tech)
        + int_adder(exp_bits + 2, tech)
    )




# --------------------------------------------------------------------------------------------
# Workload checks shared by the families that dequantize per group
# --------------------------------------------------------------------------------------------

def _check_int_operand(role: str, fmt_name: str, bits: int, is_signed: bool,
                       kind: str) -> None:
    info = format_info(fmt_name)
    lo, hi = int_range(bits, is_signed)
    port = f"{'int' if is_signed else 'uint'}{bits}"
    # min_int and max_int are None exactly for floating-point formats.
    if info.min_int is None or info.max_int is None or \
            not (lo <= info.min_int and info.max_int <= hi):
        raise ValueError(
            f"workload {role}_format={fmt_name!r} does not fit the {kind} config's {role} "
            f"operand {port} ({role}_bits={bits}, {role}_signed={is_signed}); the workload's "
            f"values must be integers within [{lo}, {hi}]"
        )



class GroupedPEConfig(PEConfig, Protocol):
    """A config of a PE that dequantizes per group (bit-serial, LUT tiles, MixPE)."""

    @property
    def group_size(self) -> int:
        """Weights per quantization group along K."""
        ...

    @property
    def k_max(self) -> int:
        """Largest K one output accumulates."""
        ...


def check_grouped_workload(config: GroupedPEConfig, workload: GemmWorkload, unit: str, *,
                           check_k: bool = True) -> None:
    """Checks shared by PEs that dequantize per group (bit-serial, LUT tiles, MixPE): the
    activation format, groups that are a multiple of the PE's, and (``check_k``) K within
    ``k_max``. ``unit`` names the PE in the messages ("PE", "tile")."""
    kind = config.kind
    if workload.act_format != config.act_format:
        raise ValueError(f"workload act_format={workload.act_format!r} does not fit the {kind} "
                         f"config's act_format={config.act_format!r}")
    g = workload.group_size
    if g is None or g % config.group_size:
        raise ValueError(f"workload group_size={g} does not fit the {kind} config's "
                         f"group_size={config.group_size}: the workload's groups must be a "
                         f"multiple of the {unit}'s")
    if check_k and workload.K > config.k_max:
        raise ValueError(f"workload K={workload.K} exceeds the {kind} config's "
                         f"k_max={config.k_max}")


def check_typed_grouped_workload(config: GroupedPEConfig, workload: GemmWorkload,
                                 unit: str) -> None:
    """:func:`check_grouped_workload` for PEs with a per-group data type (bit-serial, LUT
    tiles), whose weight format must be one of ``weight_formats``."""
    if workload.weight_format not in config.weight_formats:
        raise ValueError(f"workload weight_format={workload.weight_format!r} is not one of the "
                         f"{config.kind} config's weight_formats {list(config.weight_formats)}")
    check_grouped_workload(config, workload, unit)
