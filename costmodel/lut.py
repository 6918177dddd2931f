"""Cost model of the LUT tensor core tile (:mod:`pe_designs.lut`), from its config.

Registered as the family's cost model (``LUT``, ``Family.cost``). Area is the datapath
the generator builds; the table precompute counts the adders of the very plan the RTL and the
golden model use (:func:`sim.golden.lut.table_plan`), and the table storage its registers. A beat
is one chunk of ``table_k`` activations per row, ``cols`` columns of weights: energy per beat
counts

* once per beat: the precompute adders and table registers of every row, the row activation
  sums, the latched weight planes;
* once per plane cycle (``B`` of them; the breakdown is priced at the worst-case format's
  ``config.timing().cycles`` and :func:`_lut_beat_cost` rescales it to the workload's): every
  multiplexer-PE's table read, negate, shift and accumulate;
* once per group, spread over its ``group_size / table_k`` beats: the bit-serial correction and
  dequantization (``dq_cycles`` shift-and-add cycles per PE).
"""

from mpgemm.pe_designs.lut import LutConfig
from mpgemm.sim.golden.lut import n_planes, plane_negative

from .components import (
    FP16_FIELDS,
    FP32_FIELDS,
    ComponentCost,
    barrel_shifter,
    fp_adder,
    int_adder,
    mux2,
    register,
)
from .pe import (
    PE_CONTROL_BITS,
    PECost,
    PEModel,
    _contract_plumbing,
    _shift_add,
    check_typed_grouped_workload,
)
from .tech import Technology
from .workload import GemmWorkload

__all__ = ["LUT", "shared_parts"]

_PER_BEAT = ("table_precompute", "precompute_fp16_adders", "operand_isolation",
             "table_registers", "act_sum",
             "act_sum_fp32_adders", "weight_planes")
_PER_GROUP = ("correction_constants", "dequantizer", "dequant_fp32_adders")


def _fp32_scaler(tech: Technology) -> ComponentCost:
    """An exact FP32 power-of-two scaling (``hw.fp.round_pack`` on a 24-bit significand): a
    leading-one detector and normalising shifter, the exponent adder, the rounding incrementer."""
    return barrel_shifter(26, 26, tech) + int_adder(12, tech) + int_adder(24, tech)


def _fp16_to_fp32(tech: Technology) -> ComponentCost:
    """FP16 -> FP32 with an exponent offset: normalise a subnormal (11-bit shifter), add."""
    return barrel_shifter(11, 11, tech) + int_adder(8, tech)


def _lut_model(config: LutConfig, tech: Technology) -> dict[str, ComponentCost]:
    rows, cols, k = config.rows, config.cols, config.table_k
    pes = rows * cols
    cycles = config.timing().cycles
    tb = config.table_bits
    entries = config.table_entries
    tf = config.table_format
    fp32_add = fp_adder(*FP32_FIELDS, tech)

    # --- precompute (per row, once per beat) -------------------------------------------------
    if tf == "fp16":
        plan = fp_adder(*FP16_FIELDS, tech) * config.table_adders
    elif tf == "int8":
        # Exponent match (a max tree), per activation an alignment shifter and a negate, the
        # plan's adders on the grid, and per stored entry a rounding incrementer and clamp.
        align = (int_adder(5, tech) * (k - 1) + mux2(5, tech) * (k - 1)
                 + (barrel_shifter(11, 11, tech) + int_adder(12, tech)) * k)
        rounding = (int_adder(config.align_bits - config.table_shift + 1, tech)
                    + mux2(8, tech) * 2) * entries
        plan = align + int_adder(config.align_bits, tech) * config.table_adders + rounding
    else:
        plan = int_adder(tb, tech) * config.table_adders
    per_beat = {
        # Operand isolation keeps the adders quiet outside the loading cycle.
        ("precompute_fp16_adders" if tf == "fp16" else "table_precompute"): plan * rows,
        "operand_isolation": mux2(k * config.act_bits, tech) * rows,
        "table_registers": register(entries * tb + (5 if tf == "int8" else 0), tech) * rows,
        # The beat's weights held for its planes, read one plane per cycle.
        "weight_planes": (register(k, tech) * (config.planes_max * cols)
                          + mux2(cols * k, tech) * (config.planes_max - 1)),
    }
    # The row activation sums feed only the correction: none without a correction constant
    # (symmetric binary weights, corr_bits 0), as in the RTL.
    if not config.corr_bits:
        per_beat["act_sum"] = ComponentCost.zero()
        if tf == "fp16":
            per_beat["act_sum_fp32_adders"] = ComponentCost.zero()
    elif tf == "fp16":
        per_beat["act_sum_fp32_adders"] = fp32_add * rows
        per_beat["act_sum"] = (_fp16_to_fp32(tech) + register(64, tech)) * rows
    else:
        per_beat["act_sum"] = (int_adder(config.act_sum_bits, tech)
                               + barrel_shifter(config.act_sum_bits, 30, tech) * int(tf == "int8")
                               + register(2 * config.act_sum_bits, tech)) * rows

    # --- multiplexer-PEs (every plane cycle) -------------------------------------------------
    # An entries:1 read mux, then: integer tables shift by the plane (and INT8 tables by their
    # chunk's exponent), negate where a look-up can be negative and accumulate exactly; FP16
    # tables convert the entry to FP32 with the plane in its exponent and add in FP32.
    read = mux2(tb, tech) * (entries - 1)
    negates = config.symmetric or any(plane_negative(f, n_planes(f) - 1)
                                      for f in config.weight_formats)
    if tf == "fp16":
        pe_cycle = read + _fp16_to_fp32(tech) + register(32, tech)
    else:
        extra = 29 if tf == "int8" else 0
        val_bits = tb + config.planes_max + extra
        negate = (int_adder(val_bits, tech) + mux2(val_bits, tech) if negates
                  else ComponentCost.zero())
        pe_cycle = (read + barrel_shifter(val_bits, config.planes_max + extra, tech) + negate
                    + int_adder(config.group_acc_bits, tech)
                    + register(config.group_acc_bits, tech))
    # The symmetrized index (k-1 inverters and a select) is per column, shared by its rows.
    index_logic = mux2(k - 1, tech) * cols if config.symmetric else ComponentCost.zero()
    per_cycle = {"mux_pes": pe_cycle * pes + index_logic}
    if tf == "fp16":
        per_cycle["plane_fp32_adders"] = fp32_add * pes

    # --- dequantizer (per PE, dq_cycles per group) -------------------------------------------
    acc = config.cell_bits
    out_regs = mux2(acc, tech) + register(2 * acc, tech)
    if tf == "fp16":
        # D register, its p-doubling, the scale term's scaler, the operand selects of the
        # shared FP32 adder; one correction scaler per row.
        # Without a correction constant the adder only scales: one operand select, no
        # correction scaler.
        selects = mux2(64 if config.corr_bits else 32, tech)
        dq_pe = register(32, tech) + _fp32_scaler(tech) + selects + out_regs
        dq_row = _fp32_scaler(tech) * rows if config.corr_bits else ComponentCost.zero()
    else:
        # The D register, and with a correction constant its adder and shifter.
        correction = register(config.dq_bits, tech)
        if config.corr_bits:
            correction = (correction + int_adder(config.dq_bits, tech)
                          + barrel_shifter(config.dq_bits, config.corr_bits, tech))
        if tf == "int8":
            # The exact D rounded to FP32 (normalising shifter over D, rounding, exponent).
            scale = (barrel_shifter(config.dq_bits, config.dq_bits, tech)
                     + int_adder(config.dq_bits, tech) + int_adder(24, tech)
                     + int_adder(8, tech))
        else:
            scale = (barrel_shifter(config.dq_bits + config.scale_bits, config.scale_bits, tech)
                     + int_adder(acc, tech))
        dq_pe = correction + scale + out_regs
        dq_row = ComponentCost.zero()
    per_group = {
        "correction_constants": ((int_adder(config.corr_bits + 1, tech) if config.corr_bits
                                  else ComponentCost.zero())
                                 + register(config.corr_bits + 2 * config.scale_bits, tech))
        * cols,
        "dequantizer": dq_pe * pes + dq_row,
    }
    if config.is_fp:
        per_group["dequant_fp32_adders"] = fp32_add * pes
    # Group bookkeeping: the first beat's i_psum and the dequantizer's copy of it.
    holding = {"psum_registers": register(config.cell_bits, tech) * (2 * pes)}
    plumbing = _contract_plumbing(config, tech)

    out = dict(per_beat)
    out.update({name: ComponentCost(c.area_um2, c.energy_pj * cycles)
                for name, c in per_cycle.items()})
    share = config.dq_cycles / config.beats_per_group
    out.update({name: ComponentCost(c.area_um2, c.energy_pj * share)
                for name, c in per_group.items()})
    # psum registers load once per group; the contract's registers clock every cycle.
    out.update({name: ComponentCost(c.area_um2, c.energy_pj / config.beats_per_group)
                for name, c in holding.items()})
    out.update({name: ComponentCost(c.area_um2, c.energy_pj * cycles)
                for name, c in plumbing.items()})
    return out


def shared_parts(config: LutConfig, served_rows: int, tech: Technology, *,
                 read_out: bool = True) -> tuple[
        dict[str, ComponentCost], dict[str, ComponentCost], dict[str, ComponentCost]]:
    """``(grid_pe, row_head, column_unit)`` of a ``"shared"`` array of 1 x 1 LUT tiles
    (:mod:`mpgemm.hw.array.shared`): one grid PE (energies per beat), one row's table
    precompute (:class:`LutRowTable`, energies per beat) and one column dequantizer serving
    ``served_rows`` rows (:class:`LutColumnDequant`, energies per group hand-off).

    The grid PE is the tile without its table precompute and operand isolation (moved to the
    row head) and without its dequantizer, correction constants and ``i_psum`` copies (moved
    to the column unit); it forwards the table instead of the activations and takes of the
    weight word only the planes and data type (the scale and zero point bypass the grid), with
    no weight register (a shared array is output-stationary: its weights stream, ``load_w``
    high); it adds the hand-off register and the group's first flag. The column unit does a
    group in one pass: a select among its rows' hand-offs, the correction ``(acc << p) + c *
    sum a`` as a shift-and-add over ``c``'s bits and one subtractor for ``c``, the stage
    register, the scale as a shift-and-add over its bits and the output adder, one
    accumulator per served row, and the countdown of the outputs waiting for the tile's
    latency. ``read_out=False``: without the countdown and the output register (an array
    reads the row accumulators, ``LutColumnDequant(..., read_out=False)``).
    """
    whole = _lut_model(config, tech)
    moved = ("precompute_fp16_adders", "table_precompute", "operand_isolation")
    dropped = _PER_GROUP + ("psum_registers", "forwarding_registers", "weight_register")
    head = {name: whole[name] for name in moved if name in whole}
    grid = {name: c for name, c in whole.items() if name not in moved + dropped}
    cycles = config.timing().cycles
    once = 1.0 / config.beats_per_group
    ports = config.shared_ports
    table, wgt, hand = ports.act.width, ports.weight.width, ports.psum.width

    def per(c: ComponentCost, times: float) -> ComponentCost:
        return ComponentCost(c.area_um2, c.energy_pj * times)

    grid.update({
        "forwarding_registers": per(register(table + wgt + PE_CONTROL_BITS, tech), cycles),
        "handoff_register": per(register(hand, tech), once),
        "group_first_flag": per(register(1, tech), once),
    })

    acc, dq, sb = config.acc_bits, config.dq_bits, config.scale_bits
    index = max(served_rows - 1, 0).bit_length()
    rows = served_rows
    wait = max(config.shared_unit_waits)
    if config.corr_bits:
        correction = (_shift_add(config.act_sum_bits, config.corr_bits, tech, True)
                      + int_adder(dq, tech) + mux2(dq, tech))
        constant = int_adder(config.corr_bits + 1, tech) if config.has_zero \
            else ComponentCost.zero()
    else:
        correction = constant = ComponentCost.zero()
    unit = {
        "handoff_select": mux2(hand + index, tech) * max(rows - 1, 0),
        "correction_constant": constant,
        "correction": correction,
        "stage2_register": (register(dq + sb + index + 3 + config.dtype_bits, tech)
                            if config.dq_cycles >= 2 else ComponentCost.zero()),
        "scale_and_accumulate": (_shift_add(dq, sb, tech, config.scale_signed)
                                 + int_adder(acc, tech) + mux2(acc, tech)),
        "row_accumulators": (register(acc, tech) + mux2(acc, tech)) * rows
                            + mux2(acc, tech) * max(rows - 1, 0),
    }
    if read_out:
        unit["output_wait"] = ((register(1 + index, tech) + mux2(index, tech)) * wait
                               + mux2(acc, tech) * rows) if wait else ComponentCost.zero()
        unit["output_register"] = register(acc + index + 1, tech)
    return grid, head, unit


def _check_lut(config: LutConfig, workload: GemmWorkload) -> None:
    check_typed_grouped_workload(config, workload, "tile")


def _lut_beat_cost(config: LutConfig, workload: GemmWorkload,
                   pe: PECost) -> tuple[int, int, float]:
    """The workload's own format: ``B`` plane cycles per beat instead of the worst case."""
    fmt = workload.weight_format
    cycles = config.timing(fmt).cycles
    fixed = _PER_BEAT + _PER_GROUP + ("psum_registers",)
    per_cycle = sum(c.energy_pj for k, c in pe.breakdown.items() if k not in fixed)
    other = sum(c.energy_pj for k, c in pe.breakdown.items() if k in fixed)
    factor = pe.energy_per_beat_pj / (per_cycle + other) if per_cycle + other else 1.0
    energy = (per_cycle * cycles / config.timing().cycles + other) * factor
    return cycles, config.timing(fmt).latency, energy


# FP16 tables build FP16 adders in the precompute units and FP32 adders in every PE (planes,
# dequantization) and row (activation sums); INT8 tables of FP16 activations an FP32
# dequantization adder per PE; integer tiles none.
LUT: PEModel[LutConfig] = PEModel(
    breakdown=_lut_model, check_workload=_check_lut, beat_cost=_lut_beat_cost,
    unit_keys={"precompute_fp16_adders": "FPAdd", "plane_fp32_adders": "FPAdd",
               "act_sum_fp32_adders": "FPAdd", "dequant_fp32_adders": "FPAdd"})
