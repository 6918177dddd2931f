"""Cost model of the bit-serial PE family (:mod:`pe_designs.bitserial`), from its config.

Registered as the family's cost model (``BITSERIAL``, ``Family.cost``). Area is the sum of
the datapath the generator builds; energy per beat counts every term cycle of the slowest
configured format (``config.timing().cycles``: the worst case, so a mixture of data types is
not under-costed) plus the bit-serial dequantization of a group, ``scale_bits`` shift-and-add
cycles, spread over the ``group_size / lanes`` beats of the group. The weight encoder (each
lane's code turned into its integer weight) works once per beat.

:func:`shared_parts` prices a ``"shared"`` array's grid PE and column encoder
(:mod:`mpgemm.hw.array.shared`), used by :mod:`.accel`.
"""

from mpgemm.pe_designs.bitserial import BitSerialConfig
from mpgemm.sim.golden.formats import get_weight_format

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

__all__ = ["BITSERIAL", "shared_parts", "beat_energy_pj"]


def _weight_encoder(config: BitSerialConfig, tech: Technology) -> ComponentCost:
    """``pe_designs.bitserial.rtl.encode_lane`` for every lane: per format a slice (signed
    integers, ternary: wiring), the zero point's subtractor (unsigned integers) or a table of
    the format's values (FP4/FP3, and per special value for BitMoD's), priced as the
    multiplexer tree it is written as with its first level folded (a select between two
    constants is a constant, a wire or an inverter: ``entries / 2 - 1`` multiplexers per
    bit; synthesis folds more, so an upper bound), then the data type's select among the
    formats."""
    w = config.w_int_bits
    lane = ComponentCost.zero()
    for fmt in config.weight_formats:
        bits = get_weight_format(fmt).bits
        if fmt.startswith("uint"):
            lane += int_adder(bits + 1, tech)
        elif not (fmt.startswith("int") or fmt == "ternary"):
            entries = (4 if fmt.startswith("bitmod") else 1) << bits
            lane += mux2(w, tech) * (entries // 2 - 1)
    if len(config.weight_formats) > 1:
        lane += mux2(w, tech) * (len(config.weight_formats) - 1)
    return lane * config.lanes


def _bitserial_model(config: BitSerialConfig, tech: Technology) -> dict[str, ComponentCost]:
    lanes = config.lanes
    cycles = config.timing().cycles
    prod_bits = config.act_bits + config.max_shift + 1
    beats_per_group = config.group_size // lanes
    sparse = config.sparse_terms

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
    out["weight_encoder"] = _weight_encoder(config, tech)   # once per beat
    return out


def shared_parts(config: BitSerialConfig, tech: Technology
                 ) -> tuple[dict[str, ComponentCost], dict[str, ComponentCost]]:
    """``(grid_pe, column_encoder)`` of a ``"shared"`` bit-serial array: the breakdown of one
    grid PE (``BitSerialPE(config, encoded_input=True)``, energies as in the standalone
    breakdown) and of one column encoder (``BitSerialColumnEncoder``, energies per beat).

    The grid PE is the standalone PE without its weight encoder and weight register (a
    shared array is output-stationary: its weights stream, ``load_w`` high), its forwarding
    registers holding the grid's weight word (integer weights, scale, data type) instead of
    the codes with their zero point and special value. The encoder is the standalone PE's, with the
    register of the grid's weight word behind it.
    """
    cycles = config.timing().cycles
    act, wgt = config.ports.act.width, config.shared_ports.weight.width
    grid = {k: c for k, c in _bitserial_model(config, tech).items()
            if k not in ("weight_encoder", "weight_register")}
    forwarding = register(act + wgt + PE_CONTROL_BITS, tech)
    grid["forwarding_registers"] = ComponentCost(forwarding.area_um2,
                                                 forwarding.energy_pj * cycles)
    head = {"weight_encoder": _weight_encoder(config, tech),
            "output_register": register(wgt, tech)}
    return grid, head


def beat_energy_pj(config: BitSerialConfig, breakdown: dict[str, ComponentCost],
                   fmt: str) -> float:
    """Energy of one beat of ``fmt`` weights from a breakdown of this module (before the
    place-and-route factor): the per-term-cycle entries scaled from the worst case to the
    format's terms, the per-group and per-beat entries as they are."""
    once = _PER_GROUP + _PER_BEAT
    per_cycle = sum(c.energy_pj for k, c in breakdown.items() if k not in once)
    per_beat = sum(c.energy_pj for k, c in breakdown.items() if k in once)
    return per_cycle * config.timing(fmt).cycles / config.timing().cycles + per_beat


def _check_bitserial(config: BitSerialConfig, workload: GemmWorkload) -> None:
    check_typed_grouped_workload(config, workload, "PE")


#: Breakdown entries spent once per group rather than once per term cycle.
_PER_GROUP = ("dequantizer", "dequant_fp32_adder")
#: ... and once per beat.
_PER_BEAT = ("weight_encoder",)


def _bitserial_beat_cost(config: BitSerialConfig, workload: GemmWorkload,
                         pe: PECost) -> tuple[int, int, float]:
    """Timing and energy of the workload's own data type: its term cycles, not the worst case.

    The breakdown's per-cycle entries were costed at ``config.timing().cycles`` cycles; they
    scale to the format's cycles, the per-group dequantization and per-beat encoding do not.
    """
    fmt = workload.weight_format
    total = sum(c.energy_pj for c in pe.breakdown.values())
    factor = pe.energy_per_beat_pj / total if total else 1.0
    energy = beat_energy_pj(config, dict(pe.breakdown), fmt) * factor
    return config.timing(fmt).cycles, config.timing(fmt).latency, energy


# FP-activation PEs build their two FP32 adders as submodules (integer ones none).
BITSERIAL: PEModel[BitSerialConfig] = PEModel(
    breakdown=_bitserial_model, check_workload=_check_bitserial, beat_cost=_bitserial_beat_cost,
    unit_keys={"group_fp32_adder": "FPAdd", "dequant_fp32_adder": "FPAdd"})
