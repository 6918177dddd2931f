"""Technology tables: published per-operation area and energy figures, and node scaling.

Every number below cites its source next to it. The figures are *component-level calibration
data*; whole designs are predicted from them by :mod:`costmodel.components` and
:mod:`costmodel.pe`, which are not fitted to any whole design.

Sources
-------
Horowitz 2014
    M. Horowitz, "Computing's energy problem (and what we can do about it)", ISSCC 2014, the
    45 nm / 0.9 V table of energy per operation and area (8/32-bit
    integer add and multiply, 16/32-bit float add and multiply, SRAM and DRAM accesses).
Aladdin
    Y. S. Shao et al., "Aladdin: a pre-RTL, power-performance accelerator simulator", ISCA 2014;
    its functional-unit library ``utils/power_func.h`` ("normalized to a commercial 40 nm", 1 ns
    cycle). Used only for the two cells Horowitz does not list: a flip-flop and a 2:1 mux.
CACTI 28 nm
    The CACTI sweeps shipped with the BitFusion / MixPE simulators (SRAM pJ/bit by bank size).
BitMoD
    BitMoD (HPCA 2025) and its hardware spreadsheet ``PE_Area_Power.xlsx``: 28 nm PE blocks at
    1 GHz, a place-and-route factor of 1.5 on PE energy and 18.75 pJ/bit for DDR4.
MixPE
    MixPE (arXiv 2411.16158) simulator: DRAM pJ/bit and per-PE energies at 500 MHz.
Stillmaker & Baas 2017
    A. Stillmaker, B. Baas, "Scaling equations for the accurate prediction of CMOS device
    performance from 180 nm to 7 nm", Integration 58 (2017) 74-81. Used to move figures between
    nodes; see :func:`area_factor` and :func:`energy_factor`.
"""

import math
from bisect import bisect_left
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from .cost import ComponentCost

__all__ = [
    "LogicTable", "SramPoint", "AccessEnergy", "Technology", "BlockFigure",
    "area_factor", "energy_factor", "scale_area_um2", "scale_energy_pj",
    "HOROWITZ_45NM", "ALADDIN_40NM_REGISTER_BIT", "ALADDIN_40NM_SHIFTER_32",
    "HOROWITZ_45NM_SRAM", "CACTI_28NM_SRAM",
    "HOROWITZ_45NM_NODE_NM", "HOROWITZ_45NM_VOLTAGE_V", "ALADDIN_40NM_NODE_NM",
    "ALADDIN_40NM_VOLTAGE_V",
    "DRAM_HOROWITZ_64BIT_PJ", "DRAM_HOROWITZ", "DRAM_DDR4_BITMOD", "DRAM_MIXPE",
    "BITMOD_28NM_PE_BLOCKS", "BITMOD_PNR_ENERGY_FACTOR", "MIXPE_PE_ENERGY_PJ_PER_CYCLE",
    "TECH_45NM", "TECH_28NM", "DEFAULT_TECH",
]


# --------------------------------------------------------------------------------------------
# Node scaling: Stillmaker & Baas 2017
# --------------------------------------------------------------------------------------------

# Area of the same design at each node relative to 45 nm: the 45 nm row of the paper's
# node-to-node area scaling table, transcribed from UCLA NanoCAD's `nodeScale` tool (which
# reproduces the paper's tables; the table number was not checked against the paper itself).
# 28 nm and 40 nm are not among the paper's nodes; see _interp_log below.
_SB_AREA_REL_45NM: Mapping[float, float] = MappingProxyType({
    90.0: 2.8, 65.0: 1.5, 45.0: 1.0, 32.0: 0.46, 20.0: 0.21, 16.0: 0.19, 14.0: 0.17,
    10.0: 0.1, 7.0: 0.059,
})

# Energy-per-operation fits E(V) = a*V^2 + b*V + c, in the paper's arbitrary unit: its Table 5,
# the table the authors' corrigendum to the Section 4.2.1 example points to (transcribed from
# `nodeScale`, and checked against that example: 32 nm HP at 0.9 V gives 0.4571, 65 nm at 1.3 V
# gives 2.604). 90 and 65 nm are bulk rows; 45 nm and below the high-performance (HP) rows.
_SB_ENERGY_COEFFS: Mapping[float, tuple[float, float, float]] = MappingProxyType({
    90.0: (4.762, -4.781, 2.092),
    65.0: (3.755, -4.398, 1.975),
    45.0: (1.018, -0.3107, 0.1539),
    32.0: (0.8367, -0.4341, 0.1701),
    20.0: (0.373, -0.1582, 0.04104),
    16.0: (0.2958, -0.1241, 0.03024),
    14.0: (0.2363, -0.09675, 0.02239),
    10.0: (0.2068, -0.09311, 0.02375),
    7.0: (0.1776, -0.09097, 0.02447),
})

_SB_NODES_ASC: tuple[float, ...] = tuple(sorted(_SB_AREA_REL_45NM))


def _check_node(node_nm: float) -> float:
    if isinstance(node_nm, bool) or not isinstance(node_nm, (int, float)):
        raise TypeError(f"node_nm must be a number, not {node_nm!r}")
    lo, hi = _SB_NODES_ASC[0], _SB_NODES_ASC[-1]
    if not lo <= node_nm <= hi:
        raise ValueError(
            f"node_nm must be in [{lo:g}, {hi:g}] (the range of Stillmaker & Baas's tables), "
            f"not {node_nm}"
        )
    return float(node_nm)


def _interp_log(node_nm: float, value_at) -> float:
    """Value at ``node_nm``, geometric interpolation between the two bracketing tabulated nodes.

    The paper tabulates discrete nodes only; between them we interpolate ``log(value)`` linearly
    in ``log(node)``, which reproduces a power law in feature size between neighbours (the form
    classical scaling takes) and is exact at the tabulated nodes.
    """
    i = bisect_left(_SB_NODES_ASC, node_nm)
    if _SB_NODES_ASC[i] == node_nm:
        return value_at(node_nm)
    lo, hi = _SB_NODES_ASC[i - 1], _SB_NODES_ASC[i]
    t = math.log(node_nm / lo) / math.log(hi / lo)
    return math.exp((1 - t) * math.log(value_at(lo)) + t * math.log(value_at(hi)))


def area_factor(node_nm: float) -> float:
    """Area at ``node_nm`` relative to the same design at 45 nm (Stillmaker & Baas 2017)."""
    return _interp_log(_check_node(node_nm), _SB_AREA_REL_45NM.__getitem__)


def energy_factor(node_nm: float, voltage_v: float) -> float:
    """Energy per operation at ``node_nm`` and ``voltage_v``, in the paper's relative unit.

    Only ratios of two factors are meaningful (see :func:`scale_energy_pj`).
    """
    node = _check_node(node_nm)
    if isinstance(voltage_v, bool) or not isinstance(voltage_v, (int, float)):
        raise TypeError(f"voltage_v must be a number, not {voltage_v!r}")
    if not 0.5 <= voltage_v <= 1.5:
        raise ValueError(f"voltage_v must be in [0.5, 1.5] V, not {voltage_v}")

    def fit(n: float) -> float:
        a, b, c = _SB_ENERGY_COEFFS[n]
        return a * voltage_v ** 2 + b * voltage_v + c

    return _interp_log(node, fit)


def scale_area_um2(area_um2: float, from_nm: float, to_nm: float) -> float:
    """Move an area figure from one node to another."""
    return area_um2 * area_factor(to_nm) / area_factor(from_nm)


def scale_energy_pj(
    energy_pj: float, from_nm: float, from_v: float, to_nm: float, to_v: float
) -> float:
    """Move an energy-per-operation figure from one node and supply voltage to another."""
    return energy_pj * energy_factor(to_nm, to_v) / energy_factor(from_nm, from_v)


# --------------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class LogicTable:
    """Area and energy per operation of the logic anchors every component model is built on.

    Each entry is a :class:`~costmodel.cost.ComponentCost`: ``area_um2`` of one unit and
    ``energy_pj`` per operation (for ``register_bit``: per bit per clocked cycle; for
    ``mux2_bit``: per bit per selection).
    """

    int_add_8: ComponentCost
    int_add_32: ComponentCost
    int_mul_8: ComponentCost
    int_mul_32: ComponentCost
    fp16_add: ComponentCost
    fp16_mul: ComponentCost
    fp32_add: ComponentCost
    fp32_mul: ComponentCost
    register_bit: ComponentCost
    mux2_bit: ComponentCost

    def __post_init__(self):
        # The component models interpolate between the 8- and 32-bit (and FP16/FP32) anchors;
        # they are only monotone in bit width if the wider anchor costs more.
        for name, c in self._entries().items():
            if not isinstance(c, ComponentCost):
                raise TypeError(f"LogicTable.{name} must be a ComponentCost, not {c!r}")
        for small, big in (("int_add_8", "int_add_32"), ("int_mul_8", "int_mul_32"),
                           ("fp16_add", "fp32_add"), ("fp16_mul", "fp32_mul")):
            s, b = getattr(self, small), getattr(self, big)
            if not (0 < s.area_um2 < b.area_um2 and 0 < s.energy_pj < b.energy_pj):
                raise ValueError(f"LogicTable.{big} must cost more than {small} (and both > 0)")
        for name in ("register_bit", "mux2_bit"):
            c = getattr(self, name)
            if not (c.area_um2 > 0 and c.energy_pj > 0):
                raise ValueError(f"LogicTable.{name} must have positive area and energy")

    def scaled(self, area_mul: float, energy_mul: float) -> "LogicTable":
        """Every entry with its area and energy multiplied by the given factors."""
        return LogicTable(**{
            name: ComponentCost(c.area_um2 * area_mul, c.energy_pj * energy_mul)
            for name, c in self._entries().items()
        })

    def _entries(self) -> dict[str, ComponentCost]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


@dataclass(frozen=True)
class AccessEnergy:
    """Energy per bit of a memory read and write."""

    read_pj_per_bit: float
    write_pj_per_bit: float


@dataclass(frozen=True)
class SramPoint:
    """One characterised SRAM bank: its capacity and access energy per bit."""

    capacity_bytes: int
    read_pj_per_bit: float
    write_pj_per_bit: float


@dataclass(frozen=True)
class BlockFigure:
    """A synthesised block: area (registers included) and power at a stated clock."""

    area_um2: float
    power_mw: float
    freq_mhz: float

    @property
    def energy_per_cycle_pj(self) -> float:
        # mW / MHz = nJ per 1e3 cycles = pJ per cycle * 1e3 / 1e3.
        return self.power_mw / self.freq_mhz * 1e3


# Horowitz 2014, 45 nm, 0.9 V (area um^2, energy pJ per operation).
HOROWITZ_45NM_NODE_NM = 45.0
HOROWITZ_45NM_VOLTAGE_V = 0.9
HOROWITZ_45NM: Mapping[str, ComponentCost] = MappingProxyType({
    "int_add_8": ComponentCost(36.0, 0.03),       # Horowitz 2014: 8-bit int add
    "int_add_32": ComponentCost(137.0, 0.1),      # Horowitz 2014: 32-bit int add
    "int_mul_8": ComponentCost(282.0, 0.2),       # Horowitz 2014: 8-bit int mult
    "int_mul_32": ComponentCost(3495.0, 3.1),     # Horowitz 2014: 32-bit int mult
    "fp16_add": ComponentCost(1360.0, 0.4),       # Horowitz 2014: 16-bit float add
    "fp16_mul": ComponentCost(1640.0, 1.1),       # Horowitz 2014: 16-bit float mult
    "fp32_add": ComponentCost(4184.0, 0.9),       # Horowitz 2014: 32-bit float add
    "fp32_mul": ComponentCost(7700.0, 3.7),       # Horowitz 2014: 32-bit float mult
})

# Aladdin utils/power_func.h, 40 nm, 1 ns: REG_1ns_area = 5.981433 um^2 and
# REG_1ns_dynamic_energy = 8.999495e-03 pJ, both per bit (its registers are costed per bit).
ALADDIN_40NM_NODE_NM = 40.0
# Aladdin does not state the supply; 0.9 V is the nominal core supply of 40 nm "G" processes.
ALADDIN_40NM_VOLTAGE_V = 0.9
ALADDIN_40NM_REGISTER_BIT = ComponentCost(5.981433, 8.999495e-03)
# Aladdin utils/power_func.h, 40 nm, 1 ns: SHIFTER_1ns_area = 519.7551 um^2,
# SHIFTER_1ns_dynamic_energy = 0.7968859 pJ for its 32-bit shifter (Shl/LShr/AShr).
ALADDIN_40NM_SHIFTER_32 = ComponentCost(519.7551, 0.7968859)
# A 32-bit logarithmic shifter is log2(32) = 5 stages of 32 2:1 muxes, so one "mux-bit" is
# 1/160 of it; the same unit prices stand-alone 2:1 muxes and every barrel shifter.
_ALADDIN_SHIFTER_MUX_BITS = 32 * 5

# Horowitz 2014, 45 nm: SRAM read of 64 bits costs 10 / 20 / 100 pJ at 8 KB / 32 KB / 1 MB.
# Horowitz gives reads only; writes are taken equal to reads (an assumption).
HOROWITZ_45NM_SRAM: tuple[SramPoint, ...] = (
    SramPoint(8 * 1024, 10.0 / 64, 10.0 / 64),
    SramPoint(32 * 1024, 20.0 / 64, 20.0 / 64),
    SramPoint(1024 * 1024, 100.0 / 64, 100.0 / 64),
)

# CACTI 28 nm sweeps shipped with the BitFusion / MixPE simulators (pJ per bit).
CACTI_28NM_SRAM: tuple[SramPoint, ...] = (
    SramPoint(128, 0.0092, 0.013),          # 128 B bank, 32-bit word: 0.0092 read, 0.013 write
    SramPoint(4 * 1024, 0.033, 0.033),      # 4 KB bank, 512-bit word: ~0.033 (read = write)
    SramPoint(8 * 1024, 0.035, 0.035),      # 8 KB bank: ~0.035 (read = write)
)

# Horowitz 2014: a 64-bit DRAM access costs 1300-2600 pJ; the low end is used (20.3 pJ/bit),
# which sits next to BitMoD's DDR4 figure.
DRAM_HOROWITZ_64BIT_PJ = (1300.0, 2600.0)
DRAM_HOROWITZ = AccessEnergy(1300.0 / 64, 1300.0 / 64)
# BitMoD simulator: DDR4 at 2400 pJ per 128-bit access = 18.75 pJ/bit (reads and writes).
DRAM_DDR4_BITMOD = AccessEnergy(2400.0 / 128, 2400.0 / 128)
# MixPE simulator energy breakdown: 0.63 pJ/bit read, 0.77 pJ/bit write.
DRAM_MIXPE = AccessEnergy(0.63, 0.77)

# BitMoD PE_Area_Power.xlsx, 28 nm, 1 GHz: block area (with registers) and power.
BITMOD_28NM_PE_BLOCKS: Mapping[str, BlockFigure] = MappingProxyType({
    "exponent_match_4lane": BlockFigure(306.9, 0.136, 1000.0),
    "bitserial_multiply_4lane": BlockFigure(748.3, 0.185, 1000.0),
    "group_accumulator": BlockFigure(546.1, 0.195, 1000.0),
    "bitserial_dequantization": BlockFigure(192.4, 0.070, 1000.0),
    "fp16_multiplier": BlockFigure(1395.5, 0.49, 1000.0),
    "fp16_adder": BlockFigure(573.2, 0.28, 1000.0),
    "fp16_x_int8_mac": BlockFigure(1318.6, 0.613, 1000.0),
})
# BitMoD simulator: place-and-route factor applied to PE energy.
BITMOD_PNR_ENERGY_FACTOR = 1.5
# MixPE simulator, per-PE dynamic energy at 500 MHz (pJ per cycle).
MIXPE_PE_ENERGY_PJ_PER_CYCLE: Mapping[str, float] = MappingProxyType({
    "int8": 0.56, "fp16": 1.68, "w4a16": 1.09,
})


# --------------------------------------------------------------------------------------------
# Technology
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Technology:
    """A technology node: logic anchors, SRAM banks and DRAM, all at ``node_nm``/``voltage_v``.

    Parameters
    ----------
    name : str
        Label used in reports.
    node_nm, voltage_v : float
        Node and supply the tables hold figures for.
    logic : LogicTable
        Logic anchors (see :class:`LogicTable`).
    sram : tuple of SramPoint
        Characterised banks, sorted by capacity, with non-decreasing energy per bit, so the
        capacity interpolation of :func:`costmodel.components.sram_access` is monotone.
    dram : AccessEnergy
        Off-chip memory energy per bit; an interface figure, so node scaling leaves it alone.
    pnr_energy_factor : float
        Multiplier on PE energy for wiring and clock tree after place and route. 1.0 (the pure
        component sum) by default; BitMoD uses :data:`BITMOD_PNR_ENERGY_FACTOR` = 1.5.
    """

    name: str
    node_nm: float
    voltage_v: float
    logic: LogicTable
    sram: tuple[SramPoint, ...]
    dram: AccessEnergy
    pnr_energy_factor: float = 1.0
    # Cached hash: a Technology keys the pe_cost cache on every evaluate() call, and hashing the
    # nested tables afresh each time would cost more than the evaluation itself.
    _hash: int = field(default=0, init=False, repr=False, compare=False)

    def __post_init__(self):
        if not isinstance(self.name, str):
            raise TypeError(f"name must be a string, not {self.name!r}")
        _check_node(self.node_nm)
        energy_factor(self.node_nm, self.voltage_v)
        if not isinstance(self.logic, LogicTable):
            raise TypeError(f"logic must be a LogicTable, not {self.logic!r}")
        if not isinstance(self.dram, AccessEnergy):
            raise TypeError(f"dram must be an AccessEnergy, not {self.dram!r}")
        sram = tuple(self.sram)
        if not sram or not all(isinstance(p, SramPoint) for p in sram):
            raise ValueError("sram must be a non-empty sequence of SramPoint")
        for a, b in zip(sram, sram[1:], strict=False):
            if not (a.capacity_bytes < b.capacity_bytes
                    and a.read_pj_per_bit <= b.read_pj_per_bit
                    and a.write_pj_per_bit <= b.write_pj_per_bit):
                raise ValueError(
                    "sram points must be sorted by capacity with non-decreasing energy per bit"
                )
        pnr = self.pnr_energy_factor
        if isinstance(pnr, bool) or not (isinstance(pnr, (int, float)) and pnr >= 1.0):
            raise ValueError(f"pnr_energy_factor must be >= 1.0, not {self.pnr_energy_factor!r}")
        object.__setattr__(self, "sram", sram)
        object.__setattr__(self, "_hash", hash((
            self.name, self.node_nm, self.voltage_v, self.logic, sram, self.dram,
            self.pnr_energy_factor,
        )))

    def __hash__(self) -> int:
        return self._hash

    def scaled_to(self, node_nm: float, voltage_v: float, *, name: str | None = None,
                  sram: tuple[SramPoint, ...] | None = None,
                  dram: AccessEnergy | None = None) -> "Technology":
        """This technology moved to another node and supply with Stillmaker & Baas 2017.

        Logic scales by :func:`area_factor` and :func:`energy_factor`. SRAM energies scale by the
        energy factor unless native figures for the target node are given (prefer those: memory
        arrays do not scale like logic). DRAM is kept unless given.
        """
        a = area_factor(node_nm) / area_factor(self.node_nm)
        e = energy_factor(node_nm, voltage_v) / energy_factor(self.node_nm, self.voltage_v)
        if sram is None:
            sram = tuple(
                SramPoint(p.capacity_bytes, p.read_pj_per_bit * e, p.write_pj_per_bit * e)
                for p in self.sram
            )
        return replace(
            self,
            name=name if name is not None else f"{node_nm:g}nm",
            node_nm=float(node_nm),
            voltage_v=float(voltage_v),
            logic=self.logic.scaled(a, e),
            sram=sram,
            dram=self.dram if dram is None else dram,
        )


def _from_aladdin(cost: ComponentCost, to_nm: float, to_v: float) -> ComponentCost:
    return ComponentCost(
        scale_area_um2(cost.area_um2, ALADDIN_40NM_NODE_NM, to_nm),
        scale_energy_pj(cost.energy_pj, ALADDIN_40NM_NODE_NM, ALADDIN_40NM_VOLTAGE_V,
                        to_nm, to_v),
    )


_LOGIC_45NM = LogicTable(
    **HOROWITZ_45NM,
    register_bit=_from_aladdin(
        ALADDIN_40NM_REGISTER_BIT, HOROWITZ_45NM_NODE_NM, HOROWITZ_45NM_VOLTAGE_V),
    mux2_bit=_from_aladdin(
        ALADDIN_40NM_SHIFTER_32 * (1 / _ALADDIN_SHIFTER_MUX_BITS),
        HOROWITZ_45NM_NODE_NM, HOROWITZ_45NM_VOLTAGE_V),
)

#: Horowitz's 45 nm, 0.9 V node, Horowitz SRAM and the low end of his DRAM range.
TECH_45NM = Technology(
    name="45nm",
    node_nm=HOROWITZ_45NM_NODE_NM,
    voltage_v=HOROWITZ_45NM_VOLTAGE_V,
    logic=_LOGIC_45NM,
    sram=HOROWITZ_45NM_SRAM,
    dram=DRAM_HOROWITZ,
)

#: 28 nm at 0.9 V (the nominal core supply of 28 nm high-performance processes; an assumption,
#: the 28 nm sources do not state theirs): logic scaled from 45 nm with Stillmaker & Baas,
#: native CACTI 28 nm SRAM and BitMoD's DDR4 figure.
TECH_28NM = TECH_45NM.scaled_to(
    28.0, 0.9, name="28nm", sram=CACTI_28NM_SRAM, dram=DRAM_DDR4_BITMOD,
)

#: The technology reports use unless told otherwise.
DEFAULT_TECH = TECH_28NM
