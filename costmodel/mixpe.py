"""Cost model of the MixPE shift-and-add PE (:mod:`pe_designs.mixpe`), from its config.

Registered as the family's cost model (``MIXPE``, ``Family.cost``). Area is the datapath
the generator builds. Energy per beat (one cycle, ``lanes`` MACs) counts

* every beat: the lanes' shift-and-add trees (``weight_bits`` terms each), the lane adder
  tree, the group accumulators ``P`` and ``A`` (FP16 activations: exponent match, alignment,
  the normalisation to FP32 and the FP32 accumulate), and the contract's registers;
* once per group, spread over its ``group_size / lanes`` beats: the two dequantizer stages,
  ``D = P - z A`` and ``y = base + s D``, and the group's ``i_psum`` holding register.

This is MixPE's argument in the cost model's terms: the dequantizer's multiplier-class logic
is paid in area once per PE but in energy once per group, not once per weight.
"""

from mpgemm.pe_designs.mixpe import MixPEConfig

from .components import (
    FP16_FIELDS,
    FP32_FIELDS,
    ComponentCost,
    barrel_shifter,
    fp_adder,
    fp_scale_multiplier,
    int_adder,
    mux2,
    register,
)
from .pe import (
    PE_CONTROL_BITS,
    PEModel,
    _adder_tree,
    _check_int_operand,
    _contract_plumbing,
    _shift_add,
    check_grouped_workload,
    dequantizer,
)
from .tech import Technology
from .workload import GemmWorkload

__all__ = ["MIXPE", "shared_parts"]

#: Breakdown entries by name (the per-beat or the per-group ones).
_Costs = dict[str, ComponentCost]

def _fp32_normaliser(sum_bits: int, tech: Technology) -> ComponentCost:
    """``hw.fp.round_pack`` of a signed ``sum_bits`` lane sum into FP32: the magnitude, a
    leading-one detector (a priority mux chain), the normalising left shift, the right shift
    for gradual underflow and its lost-bits compare, the exponent adder and the rounding
    incrementer."""
    return (int_adder(sum_bits, tech) + mux2(sum_bits, tech)
            + barrel_shifter(sum_bits, sum_bits, tech) * 2 + int_adder(sum_bits, tech)
            + int_adder(10, tech) + int_adder(24, tech))


def _int_datapath(config: MixPEConfig, tech: Technology) -> tuple[_Costs, _Costs]:
    lanes, b, ab = config.lanes, config.weight_bits, config.act_bits
    prod = ab + b + 1
    per_beat = {
        "shift_add_lanes": _shift_add(ab, b, tech, config.weight_signed) * lanes,
        "adder_tree": _adder_tree([prod] * lanes, tech),
        "group_accumulator": (int_adder(config.group_acc_bits, tech)
                              + register(config.group_acc_bits, tech)),
    }
    if config.has_zero:
        per_beat["act_sum"] = (_adder_tree([ab] * lanes, tech)
                               + int_adder(config.act_sum_bits, tech)
                               + register(config.act_sum_bits, tech))
    acc, sb = config.acc_bits, config.scale_bits
    stage1 = register(config.group_acc_bits + config.act_sum_bits * config.has_zero
                      + b * config.has_zero + sb + acc + 3, tech)
    if config.has_zero:
        stage1 += (_shift_add(config.act_sum_bits, b, tech)
                   + int_adder(config.corr_bits, tech))
    per_group = {
        "dequant_stage1": stage1,
        "dequant_stage2": (register(config.corr_bits + sb + acc + 3, tech)
                           + _shift_add(config.corr_bits, sb, tech, config.scale_signed)
                           + int_adder(acc, tech) + mux2(acc, tech) + register(2 * acc, tech)),
    }
    return per_beat, per_group


def _fp_datapath(config: MixPEConfig, tech: Technology) -> tuple[_Costs, _Costs]:
    lanes, b, g = config.lanes, config.weight_bits, config.align_guard_bits
    sig = FP16_FIELDS[1] + 1
    pw = sig + b + g
    zero = config.has_zero
    # Per lane: |q| (signed weights), the significand's shift-and-add, the distance to the
    # beat's largest exponent, truncating alignment shifters (product, and activation for A)
    # and their conditional negates.
    # Per lane also the exponent select of a zero activation and the shift-distance clamp.
    lane = (_shift_add(sig, b, tech) + int_adder(b, tech) * int(config.weight_signed)
            + int_adder(FP16_FIELDS[0] + 1, tech) + mux2(FP16_FIELDS[0] + 5, tech)
            + barrel_shifter(pw, pw + 1, tech) + int_adder(pw + 1, tech))
    if zero:
        lane += barrel_shifter(sig + g, pw + 1, tech) + int_adder(sig + g + 1, tech)
    exp_match = (int_adder(FP16_FIELDS[0], tech) + mux2(FP16_FIELDS[0], tech)) * (lanes - 1)
    sums = _adder_tree([pw + 1] * lanes, tech) + _fp32_normaliser(pw + 1 + lanes.bit_length(),
                                                                   tech)
    if zero:
        sums += (_adder_tree([sig + g + 1] * lanes, tech)
                 + _fp32_normaliser(sig + g + 1 + lanes.bit_length(), tech))
    fp32_add = fp_adder(*FP32_FIELDS, tech)
    per_beat = {
        "shift_add_lanes": lane * lanes,
        "exponent_match": exp_match,
        "lane_sums": sums,
        "group_registers": register(32 * (1 + zero), tech),
        "group_fp32_adders": fp32_add * (1 + zero),
    }
    per_group = {
        "dequant_stage1": register(32 * (1 + zero) + b * zero + 16 + 32 + 3, tech),
        "dequant_stage2": (register(32 + 16 + 32 + 3, tech) + mux2(32, tech)
                           + register(64, tech)),
        "scale_multiplier": fp_scale_multiplier(FP32_FIELDS, FP16_FIELDS, tech),
        "dequant_fp32_adders": fp32_add * (1 + zero),
    }
    if zero:
        per_group["zero_scaler"] = dequantizer(b + 1, tech, FP32_FIELDS)
    return per_beat, per_group


def _mixpe_model(config: MixPEConfig, tech: Technology) -> dict[str, ComponentCost]:
    per_beat, per_group = (_fp_datapath if config.is_fp else _int_datapath)(config, tech)
    # The group's first-beat i_psum and its flag, loaded once per group.
    psum_bits = config.ports.psum.width
    per_group["group_psum"] = register(psum_bits + 1, tech) + mux2(psum_bits, tech)
    out = dict(per_beat)
    share = 1.0 / config.beats_per_group
    out.update({name: ComponentCost(c.area_um2, c.energy_pj * share)
                for name, c in per_group.items()})
    out.update(_contract_plumbing(config, tech))
    return out


def _per_group(c: ComponentCost, share: float) -> ComponentCost:
    """A unit used once per group: its energy per beat is ``share`` of an action's."""
    return ComponentCost(c.area_um2, c.energy_pj * share)


def shared_parts(config: MixPEConfig, served_rows: int, tech: Technology, *,
                 read_out: bool = True) -> tuple[_Costs, _Costs]:
    """``(grid_pe, column_unit)`` of a ``"shared"`` MixPE array (:mod:`mpgemm.hw.array.shared`):
    the breakdown of one grid PE (``MixPEDot``, energies per beat) and of one column
    dequantizer serving ``served_rows`` rows (``MixPEColumnDequant``, energies per group
    hand-off).

    The grid PE keeps the per-beat datapath of the standalone PE, the contract's forwarding
    registers for the codes alone (the zero point and scale bypass the grid) and the hand-off
    register; it has no weight register (a shared array is output-stationary: its weights
    stream, ``load_w`` high). The
    column unit has the standalone dequantizer's arithmetic, a select among the served rows'
    hand-offs instead of the stage-1 register (it works on the PE's hand-off register), a
    stage-2 register with the row index instead of the start value, and one output
    accumulator per served row (with a write enable, read through a select) and an output
    register, where the standalone PE has one of each. ``read_out=False``: without the
    output register (an array reads the row accumulators, ``MixPEColumnDequant(...,
    read_out=False)``).
    """
    per_beat, _ = (_fp_datapath if config.is_fp else _int_datapath)(config, tech)
    p_bits, a_bits = config.handoff_bits
    hand = p_bits + a_bits + 2
    act = config.ports.act.width
    codes = config.lanes * config.weight_bits
    grid = dict(per_beat)
    once = 1.0 / config.beats_per_group   # loaded once per group: energy per beat
    grid.update({
        "handoff_register": _per_group(register(hand + 1, tech), once),   # with o_valid
        "group_first_flag": _per_group(register(1, tech), once),
        "forwarding_registers": register(act + codes + PE_CONTROL_BITS, tech),
    })
    acc = config.ports.psum.width
    b, sb, zero = config.weight_bits, config.scale_port_bits, config.has_zero
    index = max(served_rows - 1, 0).bit_length()
    rows = served_rows
    if config.is_fp:
        fp32_add = fp_adder(*FP32_FIELDS, tech)
        correct = (dequantizer(b + 1, tech, FP32_FIELDS) + fp32_add) if zero \
            else ComponentCost.zero()
        scale = fp_scale_multiplier(FP32_FIELDS, FP16_FIELDS, tech) + fp32_add
        d_bits = 32
    else:
        correct = (_shift_add(config.act_sum_bits, b, tech)
                   + int_adder(config.corr_bits, tech)) if zero else ComponentCost.zero()
        scale = (_shift_add(config.corr_bits, sb, tech, config.scale_signed)
                 + int_adder(acc, tech))
        d_bits = config.corr_bits
    unit = {
        "handoff_select": mux2(hand + index, tech) * max(rows - 1, 0),
        "zero_correction": correct,
        "stage2_register": register(d_bits + sb + index + 3, tech),
        "scale_and_accumulate": scale + mux2(acc, tech),
        "row_accumulators": (register(acc, tech) + mux2(acc, tech)) * rows
                            + mux2(acc, tech) * max(rows - 1, 0),
    }
    if read_out:
        unit["output_register"] = register(acc + index + 1, tech)
    return grid, unit


def _check_mixpe(config: MixPEConfig, workload: GemmWorkload) -> None:
    # Integer weights of the config's width and signedness; FP16 activations accumulate in
    # FP32, so only the exact integer output bounds K.
    _check_int_operand("weight", workload.weight_format, config.weight_bits,
                       config.weight_signed, config.kind)
    check_grouped_workload(config, workload, "PE", check_k=not config.is_fp)


# Over FP16 activations: FP32 accumulators of P (and A), the dequantizer's FP32 adders, its
# FP32 x FP16 scale multiplier and z * A scaler; integer MixPEs none.
MIXPE: PEModel[MixPEConfig] = PEModel(
    breakdown=_mixpe_model, check_workload=_check_mixpe,
    unit_keys={"group_fp32_adders": "FPAdd", "dequant_fp32_adders": "FPAdd",
               "scale_multiplier": "FPMul", "zero_scaler": "IntScaleFP"})
