"""Cost model of the LUT tensor core tile (:mod:`pe_designs.lut`), from its config.

Registered with :func:`costmodel.register_pe_model` under kind ``"lut"``. Area is the datapath
the generator builds; the table precompute counts the adders of the very plan the RTL and the
golden model use (:func:`sim.golden.lut.table_plan`), and the table storage its registers. A beat
is one chunk of ``table_k`` activations per row, ``cols`` columns of weights: energy per beat
counts

* once per beat: the precompute adders and table registers of every row, the row activation
  sums, the latched weight planes;
* once per plane cycle (``B`` of them; the breakdown is priced at the worst-case format's
  ``config.cycles_per_beat`` and :func:`_lut_beat_cost` rescales it to the workload's): every
  multiplexer-PE's table read, negate, shift and accumulate;
* once per group, spread over its ``group_size / table_k`` beats: the bit-serial correction and
  dequantization (``dq_cycles`` shift-and-add cycles per PE).
"""

from typing import Any

from .components import ComponentCost, barrel_shifter, int_adder, mux2, register
from .pe import _contract_plumbing, register_pe_model
from .tech import Technology

__all__: list[str] = []

_PER_BEAT = ("table_precompute", "table_registers", "act_sum", "weight_planes")
_PER_GROUP = ("correction_constants", "dequantizer")


def _lut_model(config: Any, tech: Technology) -> dict[str, ComponentCost]:
    rows, cols, k = config.rows, config.cols, config.table_k
    pes = rows * cols
    cycles = config.cycles_per_beat
    tb = config.table_bits
    entries = config.table_entries
    # Per multiplexer-PE and plane cycle: an entries:1 read mux of table_bits, the plane shift,
    # the conditional negate folded into an add/subtract, and the group accumulator. The
    # symmetrized index needs k-1 inverters (a 2:1 mux each) and the sign logic.
    index_logic = mux2(k - 1, tech) if config.symmetric else ComponentCost.zero()
    pe_cycle = (mux2(tb, tech) * (entries - 1) + index_logic
                + barrel_shifter(tb + config.planes_max, config.planes_max, tech)
                + int_adder(tb + config.planes_max + 1, tech)
                + int_adder(config.group_acc_bits, tech) + register(config.group_acc_bits, tech))
    per_beat = {
        "table_precompute": int_adder(tb, tech) * (config.table_adders * rows),
        "table_registers": register(entries * tb, tech) * rows,
        "act_sum": (int_adder(config.act_sum_bits, tech)
                    + register(2 * config.act_sum_bits, tech)) * rows,
        # The beat's weights held for its planes, read one plane per cycle.
        "weight_planes": (register(config.planes_max * cols * k, tech)
                          + mux2(cols * k, tech) * (config.planes_max - 1)),
    }
    per_cycle = {"mux_pes": pe_cycle * pes}
    # Dequantizer per PE: D register and its correction adder with the (sum a << j) shifter,
    # the (D >> h) << j shifter, the output adder with its base select, out_acc and o_psum.
    acc = config.acc_bits
    dq_pe = (register(config.dq_bits, tech) + int_adder(config.dq_bits, tech)
             + barrel_shifter(config.dq_bits, max(config.corr_bits, 1), tech)
             + barrel_shifter(config.dq_bits + config.scale_bits, config.scale_bits, tech)
             + int_adder(acc, tech) + mux2(acc, tech) + register(2 * acc, tech))
    per_group = {
        "correction_constants": (int_adder(config.corr_bits + 1, tech)
                                 + register(config.corr_bits + 2 * config.scale_bits, tech))
        * cols,
        "dequantizer": dq_pe * pes,
    }
    # Group bookkeeping: the first beat's i_psum and the dequantizer's copy of it.
    holding = {"psum_registers": register(2 * config.psum_bits, tech)}
    plumbing = _contract_plumbing(config, tech)

    out = {name: c for name, c in per_beat.items()}
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


def _check_lut(config: Any, workload: Any) -> None:
    if workload.act_format != config.act_format:
        raise ValueError(f"workload act_format={workload.act_format!r} does not fit the lut "
                         f"config's act_format={config.act_format!r}")
    if workload.weight_format not in config.weight_formats:
        raise ValueError(f"workload weight_format={workload.weight_format!r} is not one of the "
                         f"lut config's weight_formats {list(config.weight_formats)}")
    g = workload.group_size
    if g is None or g % config.group_size:
        raise ValueError(f"workload group_size={g} does not fit the lut config's "
                         f"group_size={config.group_size}: the workload's groups must be a "
                         f"multiple of the tile's")
    if workload.K > config.k_max:
        raise ValueError(f"workload K={workload.K} exceeds the lut config's k_max={config.k_max}")


def _lut_beat_cost(config: Any, workload: Any, pe: Any) -> tuple[int, int, float]:
    """The workload's own format: ``B`` plane cycles per beat instead of the worst case."""
    fmt = workload.weight_format
    cycles = config.beat_cycles(fmt)
    fixed = _PER_BEAT + _PER_GROUP + ("psum_registers",)
    per_cycle = sum(c.energy_pj for k, c in pe.breakdown.items() if k not in fixed)
    other = sum(c.energy_pj for k, c in pe.breakdown.items() if k in fixed)
    factor = pe.energy_per_beat_pj / (per_cycle + other) if per_cycle + other else 1.0
    energy = (per_cycle * cycles / config.cycles_per_beat + other) * factor
    return cycles, config.latency_for(fmt), energy


register_pe_model("lut", _lut_model, check_workload=_check_lut, beat_cost=_lut_beat_cost)
