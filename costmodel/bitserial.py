"""Cost model of the bit-serial PE family (:mod:`pe_designs.bitserial`), from its config.

Registered as the family's cost model (``BITSERIAL``, ``Family.cost``). Area is the sum of
the datapath the generator builds; energy per beat counts every term cycle of the slowest
configured format (``config.timing().cycles``: the worst case, so a mixture of data types is
not under-costed) plus the bit-serial dequantization of a group, ``scale_bits`` shift-and-add
cycles, spread over the ``group_size / lanes`` beats of the group.
"""

from mpgemm.pe_designs.bitserial import BitSerialConfig
from mpgemm.sim.golden.terms import is_sparse

from .components import (
    FP32_FIELDS,
    ComponentCost,
    barrel_shifter,
    fp_adder,
    int_adder,
    mux2,
    register,
)
from .pe import PE_CONTROL_BITS, PECost, PEModel, _adder_tree, check_typed_grouped_workload
from .tech import Technology
from .workload import GemmWorkload

__all__ = ["BITSERIAL"]


def _bitserial_model(config: BitSerialConfig, tech: Technology) -> dict[str, ComponentCost]:
    lanes = config.lanes
    cycles = config.timing().cycles
    prod_bits = config.act_bits + config.max_shift + 1
    beats_per_group = config.group_size // lanes
    sparse = any(is_sparse(f) for f in config.weight_formats)

    # Per lane, per term cycle: term decode (a 3-bit Booth window, or a priority encoder over
    # the remaining magnitude for FP formats), the activation shift and the conditional negate.
    decode = mux2(config.w_int_bits, tech) * (2 if sparse else 1)
    if config.is_fp:
        # Exponent match and alignment (BitMoD's "exponent match" and "alignment shift"
        # blocks): exponent + term shift, a max tree, a truncating right shift, a negate; the
        # lane sum is normalised to FP32 and added into an FP32 group accumulator.
        exp_bits, man_bits = config.act_fields
        sig = man_bits + 1 + config.align_guard_bits
        e_bits = exp_bits + config.max_shift.bit_length() + 1
        lane = (decode + int_adder(e_bits, tech) * 2 + barrel_shifter(sig, sig, tech)
                + int_adder(sig + 1, tech))
        tree = _adder_tree([sig + 1] * lanes, tech)
        sum_bits = sig + 1 + lanes.bit_length()
        # Normalising the lane sum to FP32; the FP32 adder itself is its own entry below.
        group = (barrel_shifter(sum_bits, sum_bits, tech) + int_adder(sum_bits, tech)
                 + register(32, tech))
    else:
        lane = (decode + barrel_shifter(prod_bits, config.max_shift + 1, tech)
                + int_adder(prod_bits, tech))
        tree = _adder_tree([prod_bits] * lanes, tech)
        group = int_adder(config.group_acc_bits, tech) + register(config.group_acc_bits, tech)
    # Area once, energy once per term cycle.
    per_cycle = {
        "term_datapath": lane * lanes,
        "adder_tree": tree,
        "group_accumulator": group,
        **({"group_fp32_adder": fp_adder(*FP32_FIELDS, tech)} if config.is_fp else {}),
        # Operands held for the beat's terms: activations, integer weights (and the remaining
        # magnitudes of sparse formats), the term counter.
        "operand_registers": register(
            lanes * (config.act_bits + config.w_int_bits * (2 if sparse else 1)) + 8, tech),
    }
    if config.is_fp:
        # FP32 shift-and-add: an exponent increment (renormalising shifter) and an FP32 adder.
        dequant_unit = (barrel_shifter(24, 24, tech) + int_adder(10, tech)
                        + mux2(32, tech) + register(32 + config.scale_bits + 3 * 32, tech))
    else:
        dequant_unit = (int_adder(config.acc_bits, tech)
                        + barrel_shifter(config.group_acc_bits + config.scale_bits,
                                         config.scale_bits, tech)
                        + mux2(config.acc_bits, tech)
                        + register(config.group_acc_bits + config.scale_bits
                                   + 3 * config.acc_bits, tech))
    act, wgt = config.ports.act.width, config.ports.weight.width
    plumbing = {
        "forwarding_registers": register(act + wgt + PE_CONTROL_BITS, tech),
        "weight_register": register(wgt, tech) + mux2(wgt, tech),
    }
    out = {
        name: ComponentCost(c.area_um2, c.energy_pj * cycles) for name, c in per_cycle.items()
    }
    dequant_share = config.scale_bits / beats_per_group
    out["dequantizer"] = ComponentCost(dequant_unit.area_um2,
                                       dequant_unit.energy_pj * dequant_share)
    if config.is_fp:
        adder = fp_adder(*FP32_FIELDS, tech)
        out["dequant_fp32_adder"] = ComponentCost(adder.area_um2, adder.energy_pj * dequant_share)
    for name, c in plumbing.items():
        out[name] = ComponentCost(c.area_um2, c.energy_pj * cycles)
    return out


def _check_bitserial(config: BitSerialConfig, workload: GemmWorkload) -> None:
    check_typed_grouped_workload(config, workload, "PE")


#: Breakdown entries spent once per group rather than once per term cycle.
_PER_GROUP = ("dequantizer", "dequant_fp32_adder")


def _bitserial_beat_cost(config: BitSerialConfig, workload: GemmWorkload,
                         pe: PECost) -> tuple[int, int, float]:
    """Timing and energy of the workload's own data type: its term cycles, not the worst case.

    The breakdown's per-cycle entries were costed at ``config.timing().cycles`` cycles; they
    scale to the format's cycles, the per-group dequantization does not.
    """
    fmt = workload.weight_format
    cycles = config.timing(fmt).cycles
    per_cycle = sum(c.energy_pj for k, c in pe.breakdown.items() if k not in _PER_GROUP)
    per_group = sum(c.energy_pj for k, c in pe.breakdown.items() if k in _PER_GROUP)
    factor = pe.energy_per_beat_pj / (per_cycle + per_group) if per_cycle + per_group else 1.0
    energy = (per_cycle * cycles / config.timing().cycles + per_group) * factor
    return cycles, config.timing(fmt).latency, energy


# FP-activation PEs build their two FP32 adders as submodules (integer ones none).
BITSERIAL: PEModel[BitSerialConfig] = PEModel(
    breakdown=_bitserial_model, check_workload=_check_bitserial, beat_cost=_bitserial_beat_cost,
    unit_keys={"group_fp32_adder": "FPAdd", "dequant_fp32_adder": "FPAdd"})
