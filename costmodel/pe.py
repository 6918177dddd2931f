"""Per-PE area and energy, derived from the same config object the RTL generator builds.

A PE family plugs in with :func:`register_pe_model`: a function from ``(config, tech)`` to a
breakdown ``{component name: ComponentCost}`` where each entry's ``area_um2`` is the total
area of that component group and ``energy_pj`` its energy per *beat* (one accepted input, which
takes ``config.cycles_per_beat`` cycles), summed over its uses in the beat. :func:`pe_cost` adds
the breakdown up and reads timing from the config's own properties (``latency``,
``cycles_per_beat``, ``macs_per_beat``), so the cost model never re-derives a timing fact.

Configs are read duck-typed through their ``kind`` string and fields: this module never imports
:mod:`pe_designs` (and so never imports Amaranth).

Activity assumption (as in Accelergy's "energy = sum over actions of count x energy per
action"): every arithmetic unit is used once per beat and every register is clocked every cycle
with fresh data. This is the streaming (output-stationary, ``load_w`` every beat) upper bound.
"""

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from mpgemm.sim.golden.formats import int_range

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

__all__ = [
    "PECost", "pe_cost", "register_pe_model", "registered_kinds", "workload_check",
    "check_grouped_workload", "check_typed_grouped_workload",
    "workload_beat_cost",
    "PE_CONTROL_BITS", "UNIT_KEYS", "dequantizer",
]

#: Width of the contract's per-beat control struct (valid, load_w, first, last, group_end).
PE_CONTROL_BITS = 5

PEModel = Callable[[Any, Technology], Mapping[str, ComponentCost]]
WorkloadCheck = Callable[[Any, Any], None]
#: ``beat_cost(config, workload, pe) -> (cycles_per_beat, latency_cycles, energy_per_beat_pj)``
#: for families whose timing depends on the workload's data types.
BeatCost = Callable[[Any, Any, "PECost"], tuple[int, int, float]]


@dataclass(frozen=True)
class _Entry:
    model: PEModel
    check: WorkloadCheck | None
    beat_cost: "BeatCost | None" = None


_REGISTRY: dict[str, _Entry] = {}


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


def register_pe_model(
    kind: str, model: PEModel, *, check_workload: WorkloadCheck | None = None,
    beat_cost: BeatCost | None = None, replace: bool = False,
) -> None:
    """Make :func:`pe_cost` (and :func:`costmodel.evaluate`) handle configs of ``kind``.

    Parameters
    ----------
    kind : str
        The ``kind`` class attribute of the config family.
    model : callable
        ``model(config, tech) -> {component name: ComponentCost}`` (energy per beat).
    check_workload : callable, optional
        ``check_workload(config, workload)`` raising ValueError when the workload's formats or
        sizes do not fit the design; :func:`costmodel.evaluate` calls it before costing.
    replace : bool
        Allow replacing an existing registration (otherwise a duplicate kind is an error, so two
        families cannot silently claim the same name).
    """
    if not isinstance(kind, str) or not kind:
        raise TypeError(f"kind must be a non-empty string, not {kind!r}")
    if not callable(model):
        raise TypeError(f"model must be callable, not {model!r}")
    if check_workload is not None and not callable(check_workload):
        raise TypeError(f"check_workload must be callable or None, not {check_workload!r}")
    if kind in _REGISTRY and not replace:
        raise ValueError(f"a PE model for kind {kind!r} is already registered; "
                         f"pass replace=True to replace it")
    if beat_cost is not None and not callable(beat_cost):
        raise TypeError(f"beat_cost must be callable or None, not {beat_cost!r}")
    _REGISTRY[kind] = _Entry(model, check_workload, beat_cost)
    _pe_cost_cached.cache_clear()


def registered_kinds() -> tuple[str, ...]:
    """The config kinds with a registered PE model, sorted."""
    return tuple(sorted(_REGISTRY))


def _entry_for(config: Any) -> _Entry:
    kind = getattr(config, "kind", None)
    if not isinstance(kind, str):
        raise TypeError(f"config must have a string `kind` attribute, not {config!r}")
    try:
        return _REGISTRY[kind]
    except KeyError:
        raise ValueError(
            f"no PE cost model for config kind {kind!r}; registered kinds: "
            f"{', '.join(registered_kinds())}"
        ) from None


def workload_check(config: Any) -> WorkloadCheck | None:
    """The registered workload check of ``config``'s kind (None if it has none)."""
    return _entry_for(config).check


def workload_beat_cost(config: Any, workload: Any, pe: "PECost") -> tuple[int, int, float]:
    """``(cycles_per_beat, latency_cycles, energy_per_beat_pj)`` of ``config`` on ``workload``.

    The config's own (worst-case) figures unless its family registered a ``beat_cost`` that
    depends on the workload (a bit-serial PE spends fewer cycles on FP4 groups than on INT8).
    """
    hook = _entry_for(config).beat_cost
    if hook is None:
        return config.cycles_per_beat, pe.latency_cycles, pe.energy_per_beat_pj
    return hook(config, workload, pe)


def pe_cost(config: Any, tech: Technology = DEFAULT_TECH) -> PECost:
    """Area, energy and timing of one PE described by ``config``.

    Results are cached per ``(config, tech)``; configs are frozen dataclasses, so equal configs
    share one entry.

    Raises
    ------
    ValueError
        If no model is registered for ``config.kind`` (the message lists the registered kinds).
    TypeError
        If ``config`` has no string ``kind`` or ``tech`` is not a Technology.
    """
    _entry_for(config)
    if not isinstance(tech, Technology):
        raise TypeError(f"tech must be a Technology, not {tech!r}")
    return _pe_cost_cached(config, tech)


@functools.lru_cache(maxsize=4096)
def _pe_cost_cached(config: Any, tech: Technology) -> PECost:
    entry = _REGISTRY[config.kind]
    breakdown = MappingProxyType(dict(entry.model(config, tech)))
    total = sum(breakdown.values(), ComponentCost.zero())
    energy_per_beat = total.energy_pj * tech.pnr_energy_factor
    macs_per_beat = config.macs_per_beat
    return PECost(
        kind=config.kind,
        area_um2=total.area_um2,
        energy_per_beat_pj=energy_per_beat,
        energy_per_mac_pj=energy_per_beat / macs_per_beat,
        cycles_per_mac=float(config.cycles_per_mac),
        latency_cycles=int(config.latency),
        macs_per_cycle=macs_per_beat / config.cycles_per_beat,
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


def _contract_plumbing(config: Any, tech: Technology) -> dict[str, ComponentCost]:
    """The PE contract's registers, common to every family.

    Forwarding of ``i_a`` / ``i_w`` / ``i_ctl``, the weight register with its bypass mux
    (``hw.contract.contract_plumbing``) and the ``o_valid`` flag.
    """
    act, wgt = config.act_port_bits, config.weight_port_bits
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


# --------------------------------------------------------------------------------------------
# Baseline MAC families (pe_designs.mac)
# --------------------------------------------------------------------------------------------

def _int_mac_model(config: Any, tech: Technology) -> dict[str, ComponentCost]:
    lanes, acc = config.lanes, config.acc_bits
    return {
        "multipliers": int_multiplier(config.act_bits, config.weight_bits, tech) * lanes,
        "adder_tree": _adder_tree([config.product_bits] * lanes, tech),
        # acc_next = (first ? psum : acc) + dot, registered in acc and on o_psum.
        "accumulator": int_adder(acc, tech) + mux2(acc, tech) + register(2 * acc, tech),
        **_contract_plumbing(config, tech),
    }


def _fp16_mac_model(config: Any, tech: Technology) -> dict[str, ComponentCost]:
    return {**_fp16_mac_datapath(config.lanes, tech), **_contract_plumbing(config, tech)}


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


def _dequant_mac_model(config: Any, tech: Technology) -> dict[str, ComponentCost]:
    lanes = config.lanes
    mac = _fp16_mac_datapath(lanes, tech)
    return {
        # q - z, then the FP16 scaling, per lane.
        "zero_point_subtract": int_adder(config.diff_bits, tech) * lanes,
        "dequantizers": dequantizer(config.diff_bits, tech) * lanes,
        # Stage 0 registers the dequantized weights, the activations, psum and control for the
        # inner MAC. The inner MAC's own forwarding and weight registers are left unconnected
        # by DequantMacPE (load_w tied high), so synthesis removes them; they are not counted.
        "dequant_registers": register(16 * lanes + 16 * lanes + 32 + PE_CONTROL_BITS, tech),
        **mac,
        **_contract_plumbing(config, tech),
    }


# --------------------------------------------------------------------------------------------
# Workload checks for the baseline MACs
# --------------------------------------------------------------------------------------------

def _check_int_operand(role: str, fmt_name: str, bits: int, is_signed: bool,
                       kind: str) -> None:
    from .workload import format_info

    info = format_info(fmt_name)
    lo, hi = int_range(bits, is_signed)
    port = f"{'int' if is_signed else 'uint'}{bits}"
    if info.is_float or not (lo <= info.min_int and info.max_int <= hi):
        raise ValueError(
            f"workload {role}_format={fmt_name!r} does not fit the {kind} config's {role} "
            f"operand {port} ({role}_bits={bits}, {role}_signed={is_signed}); the workload's "
            f"values must be integers within [{lo}, {hi}]"
        )


def _check_no_groups(config: Any, workload: Any, why: str) -> None:
    if workload.group_size is not None:
        raise ValueError(
            f"workload group_size={workload.group_size} cannot run on the {config.kind} config: "
            f"{why}; use group_size=None (per-channel or per-tensor scales applied outside the "
            f"PE)"
        )


def check_grouped_workload(config: Any, workload: Any, unit: str, *,
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


def check_typed_grouped_workload(config: Any, workload: Any, unit: str) -> None:
    """:func:`check_grouped_workload` for PEs with a per-group data type (bit-serial, LUT
    tiles), whose weight format must be one of ``weight_formats``."""
    if workload.weight_format not in config.weight_formats:
        raise ValueError(f"workload weight_format={workload.weight_format!r} is not one of the "
                         f"{config.kind} config's weight_formats {list(config.weight_formats)}")
    check_grouped_workload(config, workload, unit)


def _check_int_mac(config: Any, workload: Any) -> None:
    _check_int_operand("act", workload.act_format, config.act_bits, config.act_signed,
                       config.kind)
    _check_int_operand("weight", workload.weight_format, config.weight_bits,
                       config.weight_signed, config.kind)
    _check_no_groups(config, workload, "it accumulates integers without per-group scales")
    if workload.K > config.k_max:
        raise ValueError(
            f"workload K={workload.K} exceeds the {config.kind} config's k_max={config.k_max}: "
            f"its acc_bits={config.acc_bits} accumulator could overflow"
        )


def _check_fp16_mac(config: Any, workload: Any) -> None:
    for role, want in (("act", config.act_format), ("weight", config.weight_format)):
        got = getattr(workload, f"{role}_format")
        if got != want:
            raise ValueError(
                f"workload {role}_format={got!r} does not fit the {config.kind} config's "
                f"{role}_format={want!r}"
            )
    _check_no_groups(config, workload, "its FP16 weights carry no group scales")


def _check_dequant_mac(config: Any, workload: Any) -> None:
    if workload.act_format != "fp16":
        raise ValueError(
            f"workload act_format={workload.act_format!r} does not fit the {config.kind} "
            f"config's FP16 activations; allowed: 'fp16'"
        )
    _check_int_operand("weight", workload.weight_format, config.weight_bits,
                       config.weight_signed, config.kind)
    g = workload.group_size
    if g is None or g % config.group_size:
        raise ValueError(
            f"workload group_size={g} does not fit the {config.kind} config's "
            f"group_size={config.group_size}: the workload's groups must be a multiple of the "
            f"PE's (a larger group resends the same scale)"
        )


#: Breakdown entries that the generator builds as separate arithmetic-unit submodules (the
#: ``unit`` names of the manifest's ``units``), per config kind. Everything else in a breakdown is
#: glue logic inside the PE's own modules. :func:`costmodel.hierarchy.rtl_area_um2` prices the
#: generated units one by one from the manifest instead of trusting these entries.
UNIT_KEYS: dict[str, dict[str, str]] = {
    "int_mac": {},
    # FP-activation bit-serial PEs build their two FP32 adders as submodules (integer ones none).
    "bitserial": {"group_fp32_adder": "FPAdd", "dequant_fp32_adder": "FPAdd"},
    # LUT tiles: FP16 tables build FP16 adders in the precompute units and FP32 adders in every
    # PE (planes, dequantization) and row (activation sums); INT8 tables of FP16 activations an
    # FP32 dequantization adder per PE; integer tiles none.
    "lut": {"precompute_fp16_adders": "FPAdd", "plane_fp32_adders": "FPAdd",
            "act_sum_fp32_adders": "FPAdd", "dequant_fp32_adders": "FPAdd"},
    "fp16_mac": {"fp16_multipliers": "FPMul", "fp32_tree_adders": "FPAdd",
                 "fp32_accumulate_adder": "FPAdd"},
    "dequant_mac": {"fp16_multipliers": "FPMul", "fp32_tree_adders": "FPAdd",
                    "fp32_accumulate_adder": "FPAdd", "dequantizers": "IntScaleFP"},
    # MixPE over FP16 activations: FP32 accumulators of P (and A), the dequantizer's FP32
    # adders, its FP32 x FP16 scale multiplier and z * A scaler; integer MixPEs none.
    "mixpe": {"group_fp32_adders": "FPAdd", "dequant_fp32_adders": "FPAdd",
              "scale_multiplier": "FPMul", "zero_scaler": "IntScaleFP"},
}

register_pe_model("int_mac", _int_mac_model, check_workload=_check_int_mac)
register_pe_model("fp16_mac", _fp16_mac_model, check_workload=_check_fp16_mac)
register_pe_model("dequant_mac", _dequant_mac_model, check_workload=_check_dequant_mac)
