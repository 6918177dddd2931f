"""Area and energy of a whole accelerator, and accelerators compared at equal throughput or area.

An accelerator's cost is a list of **unit groups**: a name, how many identical units the
hardware has, one unit's :class:`~.cost.ComponentCost` (its area and the energy of one action),
what an action is, and how many actions one GEMM makes all of them perform (a function of a
:class:`GemmActivity`, the counts of one GEMM). Energy is Accelergy's sum over actions of
count x energy per action; area is the sum of count x unit area. Its three memories are
:class:`BufferCost` entries beside the groups.

The units are counted from the RTL of :mod:`mpgemm.hw.array` (``accel.py``, ``mesh.py``,
``tile.py``), with ``R x C`` PEs, ``s`` the row skew (1 output-stationary, the PE's result
latency ``L`` weight-stationary) and the PE's port widths ``act``, ``wgt``, ``psum``:

* ``pes`` (category ``pes``): the ``R C`` PEs, each priced by :func:`~.pe.pe_cost` (without
  the weight register in an output-stationary array, whose weights stream); action: a valid
  beat.
* ``act_skew``, ``ctl_skew`` (``registers``): ``s R(R-1)/2`` stages of ``act`` bits and of the
  5-bit control word (row ``r`` waits ``r s`` cycles); action: a beat moving one stage.
* ``weight_skew`` (output-stationary): ``C(C-1)/2`` stages of ``wgt`` bits; as above.
* ``shadow`` (weight-stationary): ``R C`` weight registers with a load enable; action: a
  weight loaded.
* ``deskew`` (weight-stationary): ``C(C-1)/2`` stages of ``psum`` bits (column ``c`` waits
  ``C - 1 - c`` cycles); action: a result moving one stage. A ``"shared"`` array with foot
  units has only the registers of the columns it reads early
  (:attr:`~mpgemm.hw.array.config.ArrayConfig.foot_read_delays`).
* ``a_pipeline``, ``w_pipeline`` (output-stationary), ``ctl_pipeline``: the register stage
  after the buffer reads (``R`` activation and ``C`` weight registers) and the issued control
  word's two stages; action: a beat issued. ``shadow_select_pipeline`` (weight-stationary): the
  delayed shadow-row enable and select; action: a shadow row loaded.
* ``row_mux`` (``edge``, output-stationary): ``C`` ``R``:1 muxes of ``psum`` bits that pick the
  finished row (of the PEs' results, or of a shared array's foot units' row accumulators);
  ``stage1``: the edge's row register with its address and flags;
  ``edge_adders`` (only when :attr:`AccelConfig.edge_adds`): ``C`` integer adders of
  ``out_width`` bits, or FP32 adders, each with the first-chunk select; action: a row leaving
  the mesh (per column for the muxes and adders).
* ``control_registers`` (``control``): the controller's counters and flags, in bits;
  ``control_adders``: its incrementers and address adders as one unit; action: a cycle.
* ``a_buffer``, ``w_buffer``, ``o_buffer`` (``buffers``, :class:`BufferCost`): a word read or
  written (the edge reads the output buffer only where it adds chunks).

Activity (the assumptions that make this an estimate, stated as Accelergy's estimators state
theirs):

* Every PE of the grid that receives a valid beat is charged a full beat
  (:func:`~.pe.workload_beat_cost` on the PE's first weight data type), including the rows and
  columns of an edge tile past M or N and a weight-stationary fold's rows past K: the valid bit
  travels with the whole word, so those PEs are clocked and compute, on zero operands. This is
  the upper bound the per-PE model takes (every unit used once per beat with fresh data); a
  zero operand switches less, and a data-dependent activity factor is not modelled.
  :attr:`AccelReport.useful_pe_beats` says how many beats carried the GEMM's data.
* A register, mux or adder outside the PEs is charged when data passes through it (a beat, a
  weight row, a result row); the controller every cycle of the computation. Idle slots and the
  pipeline's fill and drain cost nothing else: ideal clock gating and operand isolation (the
  generated RTL reads the activation and weight buffers only for a beat, so their outputs and
  the registers behind them hold still in idle slots).
* A GEMM's buffer traffic: the host's writes of A and W into their buffers, a read of an
  activation word per beat, of a weight word per beat (output-stationary) or per shadow row
  (weight-stationary), the edge's read of the output word for every row leaving the mesh
  (the RTL reads it for the first chunk too) and its write for every row inside M, and the
  drain's read of every output word. Off-chip traffic behind the host port is not part of
  the accelerator. A double-buffered accelerator (``double_buffer``) has twice the words in
  two banks; an access costs a bank's energy, and the controller gains the bank registers,
  the drain's own end and bank, and the bank-offset adders of the seven buffer addresses.
* The technology's place-and-route factor multiplies every logic group's energy (the PE's
  already includes it); the SRAM figures are CACTI's, wires included.

Not modelled (left out rather than guessed):

* **SRAM area**: the technology tables cite no memory area (Horowitz's table and the CACTI
  sweeps give access energy only), so each buffer's ``area_um2`` is None and
  :attr:`AccelCost.area_um2` is the logic area; :attr:`AccelCost.buffer_bits` gives the
  capacity. Comparisons at equal area are therefore at equal logic area. The output buffer's
  read port is transparent to its write port, which needs a bypass the memory model does not
  price either.
* Comparators (the controller's ``<``, ``>=``, ``==`` and the shadow row decoder), the
  controller's muxes, and the row mux's row index and valid OR: small and without a cited
  figure. The controller's adders are counted.
* What synthesis removes or merges. Every PE is priced as :func:`~.pe.pe_cost` prices it on
  its own (an output-stationary array's without the weight register it does not build),
  including the contract's forwarding registers that the array leaves unconnected
  (the last column's ``o_a``/``o_ctl``, the bottom row's ``o_w`` in an output-stationary
  array, every ``o_w`` in a weight-stationary one) and the psum select of a PE whose
  ``i_psum`` is tied to zero (output-stationary). The rows' control skew chains all delay the
  same word, and with a row skew of 1 they equal the PEs' own control forwarding, so Yosys
  merges most of them. An ``out_bits`` wider than the PE's psum sign-extends into stage-1 bits
  that copy one bit. These registers are counted although synthesis drops them: in a
  weight-stationary array about one ``wgt``-bit register per PE, in an output-stationary one
  a row and a column of forwarding registers and the control skew (against the small parts
  above, which are left out). (Checked once by hand with Yosys, ``proc;
  flatten; opt -full; memory -nomap``, on 1x1 and 3x2 INT8 arrays of both dataflows and a 2x3
  FP16 weight-stationary one: every other register bit outside the PEs agrees with this
  count, the controller's bit for bit.)

Extending
---------
An organisation that moves work from the PE to the array edge adds unit groups and nothing
else. A ``"shared"`` MixPE array (:mod:`mpgemm.hw.array.shared`) prices its grid PEs with
:func:`~.mixpe.shared_parts` and adds the column dequantizers (category ``"shared"``, ``cols x
ceil(rows / beats_per_group)`` units, one action per group hand-off), the groups' zero points
and scales captured and delayed to them, and the column results' de-skew instead of the row
mux. A dequantize-then-MAC or bit-serial one prices its grid PEs without the dequantizer or
weight encoder and adds one per column (``column_dequantizers``, ``column_encoders``: an
action per beat issued) and the rows' wait registers (``head_wait``); a ``"shared"`` LUT
array adds its row tables (``count = rows``, an action per beat issued) and the same column
units as MixPE, priced with :func:`~.lut.shared_parts`. The report, the comparison and the
CLI read groups generically.
"""

import functools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from mpgemm.hw.array.config import AccelConfig, GemmShape
from mpgemm.pe_designs.bitserial import BitSerialConfig
from mpgemm.pe_designs.lut import LutConfig
from mpgemm.pe_designs.mac import DequantMacConfig
from mpgemm.pe_designs.mixpe import MixPEConfig
from mpgemm.sim.golden.contract import PEConfig

from .array import ArrayCycles, gemm_cycles
from .bitserial import beat_energy_pj as bitserial_beat_energy_pj
from .bitserial import shared_parts as bitserial_shared_parts
from .compare import MAX_TARGET
from .components import FP32_FIELDS, fp_adder, int_adder, mux2, register, sram_access
from .cost import ComponentCost
from .lut import shared_parts as lut_shared_parts
from .mixpe import shared_parts
from .pe import PE_CONTROL_BITS, dequantizer, pe_cost, workload_beat_cost
from .tech import DEFAULT_TECH, AccessEnergy, Technology
from .workload import GemmWorkload

__all__ = [
    "CATEGORIES", "COMPARE_MODES", "CYCLE_COUNTER_BITS",
    "GemmActivity", "UnitGroup", "BufferCost", "AccelCost", "AccelReport", "ArrayRow",
    "gemm_activity", "accel_cost", "gemm_energy", "compare_arrays", "render_rows",
]

#: Unit-group categories, in report order. ``"shared"`` holds units that PEs share along a row,
#: a column or a tile (a ``"shared"`` MixPE array's column dequantizers); ``"buffers"``
#: the memories.
CATEGORIES = ("pes", "shared", "registers", "edge", "control", "buffers")

#: :func:`compare_arrays` modes.
COMPARE_MODES = ("throughput", "area")

#: Width of the accelerator's cycle counter (``hw.array.accel.CYCLE_BITS``; a test checks
#: they agree, since the cost model may not import the Amaranth module).
CYCLE_COUNTER_BITS = 40


def _range_bits(n: int) -> int:
    """Width of a ``Signal(range(n))``: ``ceil(log2(n))`` bits (0 for ``n = 1``)."""
    return (n - 1).bit_length()


def _check_accel(accel: Any) -> AccelConfig:
    if not isinstance(accel, AccelConfig):
        raise TypeError(f"accel must be an AccelConfig, not {type(accel).__name__}")
    return accel


def _check_tech(tech: Any) -> Technology:
    if not isinstance(tech, Technology):
        raise TypeError(f"tech must be a Technology, not {type(tech).__name__}")
    return tech


# --------------------------------------------------------------------------------------------
# What one GEMM makes the hardware do
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class GemmActivity:
    """The counts of one GEMM ``Y[M, N] = A[M, K] x W[K, N]`` on an accelerator, which every
    unit group's actions are a function of.

    Attributes
    ----------
    m, n, k : int
        The GEMM.
    shape : GemmShape
        Its loop counts (:meth:`AccelConfig.shape`).
    cycles : ArrayCycles
        :func:`~.array.gemm_cycles`.
    slots : int
        Beats issued: activation words read, each a beat for every row of the array.
    pe_beats : int
        Valid beats the PEs receive, ``slots x R x C``, padding included.
    useful_pe_beats : int
        Of them, beats that carry the GEMM's data: ``M x N x K / lanes``.
    rows_out : int
        Result rows leaving the mesh for the edge.
    rows_written : int
        Of them, rows inside M, which the edge writes to the output buffer.
    w_reads : int
        Weight words read: one per beat (output-stationary), one per shadow row (weight-
        stationary).
    shadow_loads : int
        Shadow-register rows loaded (weight-stationary; 0 output-stationary).
    a_words, w_words, o_words : int
        Words the host writes into the activation and weight buffers and reads out of the
        output buffer (:meth:`AccelConfig.words`).
    """

    m: int
    n: int
    k: int
    shape: GemmShape
    cycles: ArrayCycles
    slots: int
    pe_beats: int
    useful_pe_beats: int
    rows_out: int
    rows_written: int
    w_reads: int
    shadow_loads: int
    a_words: int
    w_words: int
    o_words: int

    @property
    def macs(self) -> int:
        """Useful multiply-accumulates, ``M x N x K``."""
        return self.m * self.n * self.k


def gemm_activity(accel: AccelConfig, m: int, n: int, k: int) -> GemmActivity:
    """The counts of ``Y[M, N] = A[M, K] x W[K, N]`` on ``accel`` (see :class:`GemmActivity`).

    Raises
    ------
    TypeError
        If ``accel`` is not an AccelConfig or a size is not an integer.
    ValueError
        If the accelerator cannot run the GEMM (:meth:`AccelConfig.check_gemm`).
    """
    _check_accel(accel)
    cycles = gemm_cycles(accel, m, n, k)
    s = accel.shape(m, n, k)
    arr = accel.array
    R, C = arr.rows, arr.cols
    if arr.dataflow == "os":
        # One activation word per beat of every output block. (The schedule's compute_slots
        # are cycles: a multi-cycle beat, bit-serial or bit-plane, counts once here.)
        slots = s.m_tiles * s.n_tiles * s.k_beats
        # Every chunk of every output block sends its R rows to the edge, padding rows too.
        rows_out = s.m_tiles * s.n_tiles * s.chunks * R
        rows_written = m * s.n_tiles * s.chunks
        w_reads, shadow_loads = slots, 0
    else:
        slots = cycles.compute_slots
        # Every activation row of every fold leaves the bottom of the columns once; each fold
        # loads all R shadow rows (a short last fold's extra rows with zeros).
        rows_out = rows_written = cycles.tiles * m
        w_reads = shadow_loads = cycles.tiles * R
    words = accel.words(m, n, k)
    return GemmActivity(
        m=m, n=n, k=k, shape=s, cycles=cycles, slots=slots, pe_beats=slots * R * C,
        useful_pe_beats=m * n * s.k_beats, rows_out=rows_out, rows_written=rows_written,
        w_reads=w_reads, shadow_loads=shadow_loads, a_words=words["a"], w_words=words["w"],
        o_words=words["o"])


# --------------------------------------------------------------------------------------------
# Unit groups and buffers
# --------------------------------------------------------------------------------------------

#: ``per_gemm(activity) -> actions``: how many actions a GEMM makes a group perform (summed
#: over its units).
ActionCount = Callable[[GemmActivity], int]


@dataclass(frozen=True)
class UnitGroup:
    """``count`` identical units of the accelerator and what a GEMM makes them do.

    Parameters
    ----------
    name : str
        The group (``"pes"``, ``"act_skew"`` ...).
    category : str
        One of :data:`CATEGORIES` except ``"buffers"``.
    count : int
        Units in the hardware (0 where the array's shape leaves none, e.g. a one-row array's
        skew).
    unit : ComponentCost
        One unit: its area and the energy of one action.
    action : str
        What one action of one unit is (``"beat"``, ``"stage shift"``, ``"add"`` ...).
    per_gemm : callable
        ``per_gemm(activity) -> int``: actions of all the group's units in one GEMM.
    note : str
        What the units are, in the RTL's terms.
    """

    name: str
    category: str
    count: int
    unit: ComponentCost
    action: str
    per_gemm: ActionCount = field(compare=False, repr=False)
    note: str = ""

    def __post_init__(self):
        if self.category not in CATEGORIES[:-1]:
            raise ValueError(f"category must be one of {', '.join(map(repr, CATEGORIES[:-1]))}, "
                             f"not {self.category!r}")
        if isinstance(self.count, bool) or not isinstance(self.count, int) or self.count < 0:
            raise ValueError(f"count must be a non-negative integer, not {self.count!r}")

    @property
    def total(self) -> ComponentCost:
        """All ``count`` units: their area, and their energy if each acts once."""
        return self.unit * self.count

    @property
    def area_um2(self) -> float:
        return self.unit.area_um2 * self.count

    def energy_pj(self, activity: GemmActivity) -> float:
        """Energy of the group's actions in one GEMM."""
        return self.per_gemm(activity) * self.unit.energy_pj


@dataclass(frozen=True)
class BufferCost:
    """One of the accelerator's memories: its size, its access energy and its traffic.

    Parameters
    ----------
    name : str
        ``"a_buffer"``, ``"w_buffer"`` or ``"o_buffer"``.
    depth, word_bits : int
        Words, and bits per word (what the array takes or gives in a cycle).
    access : AccessEnergy
        Energy per bit read and written (:func:`~.components.sram_access` for the capacity
        of one bank: a double buffer's ``depth`` is two banks').
    reads, writes : callable
        ``f(activity) -> int``: words read and written in one GEMM.
    """

    name: str
    depth: int
    word_bits: int
    access: AccessEnergy
    reads: ActionCount = field(compare=False, repr=False)
    writes: ActionCount = field(compare=False, repr=False)

    @property
    def capacity_bits(self) -> int:
        return self.depth * self.word_bits

    @property
    def area_um2(self) -> float | None:
        """Not modelled (None): no cited SRAM area figure (see the module docstring)."""
        return None

    @property
    def read_pj(self) -> float:
        """Energy of one word read."""
        return self.word_bits * self.access.read_pj_per_bit

    @property
    def write_pj(self) -> float:
        """Energy of one word written."""
        return self.word_bits * self.access.write_pj_per_bit

    def energy_pj(self, activity: GemmActivity) -> float:
        """Energy of the buffer's reads and writes in one GEMM."""
        return self.reads(activity) * self.read_pj + self.writes(activity) * self.write_pj


@dataclass(frozen=True)
class AccelCost:
    """The accelerator's unit groups and buffers (:func:`accel_cost`).

    Attributes
    ----------
    accel : AccelConfig
    tech : Technology
    groups : tuple of UnitGroup
        The logic, in :data:`CATEGORIES` order.
    buffers : tuple of BufferCost
        The activation, weight and output buffers.
    """

    accel: AccelConfig
    tech: Technology = field(repr=False)
    groups: tuple[UnitGroup, ...]
    buffers: tuple[BufferCost, ...]

    @property
    def area_um2(self) -> float:
        """Area of the logic: every group, without the buffers (whose area is not modelled)."""
        return sum(g.area_um2 for g in self.groups)

    @property
    def buffer_bits(self) -> int:
        """Capacity of the three buffers together."""
        return sum(b.capacity_bits for b in self.buffers)

    @property
    def peak_macs_per_cycle(self) -> float:
        """MACs per cycle with every PE busy every cycle."""
        return self.accel.array.pes * pe_cost(self.accel.pe, self.tech).macs_per_cycle

    def area_by_category_um2(self) -> dict[str, float | None]:
        """Area per category (``"buffers"``: None, not modelled); categories without units are
        left out."""
        out: dict[str, float | None] = {}
        for c in CATEGORIES[:-1]:
            groups = [g for g in self.groups if g.category == c]
            if groups:
                out[c] = sum(g.area_um2 for g in groups)
        out["buffers"] = None
        return out

    def group(self, name: str) -> UnitGroup:
        """The group called ``name`` (KeyError naming the groups there are otherwise)."""
        for g in self.groups:
            if g.name == name:
                return g
        raise KeyError(f"no unit group {name!r}; groups: {', '.join(g.name for g in self.groups)}")

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON output (areas in um^2, energies in pJ per action)."""
        return {
            "area_um2": self.area_um2,
            "area_by_category_um2": self.area_by_category_um2(),
            "groups": [{"name": g.name, "category": g.category, "count": g.count,
                        "unit_area_um2": g.unit.area_um2, "unit_energy_pj": g.unit.energy_pj,
                        "action": g.action, "area_um2": g.area_um2, "note": g.note}
                       for g in self.groups],
            "buffers": [{"name": b.name, "depth": b.depth, "word_bits": b.word_bits,
                         "capacity_bits": b.capacity_bits, "area_um2": b.area_um2,
                         "read_pj_per_word": b.read_pj, "write_pj_per_word": b.write_pj}
                        for b in self.buffers],
        }


# --------------------------------------------------------------------------------------------
# The accelerator's units, counted from the RTL
# --------------------------------------------------------------------------------------------

def _pe_beat_energy_pj(config: PEConfig, tech: Technology, *,
                       weight_register: bool = True) -> float:
    """Energy of one beat of the PE on its first (default) weight data type: the array's
    schedule does not distinguish data types. ``weight_register``: see :func:`~.pe.pe_cost`."""
    pe = pe_cost(config, tech, weight_register=weight_register)
    group = config.group_size
    k = group if group is not None else config.tile_shape[2]
    workload = GemmWorkload(M=1, N=1, K=k, act_format=config.act_format,
                            weight_format=config.weight_formats[0], group_size=group)
    return workload_beat_cost(config, workload, pe)[2]


def _controller(accel: AccelConfig) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
    """``(registers, adders)`` of the tiling controller: ``(name, bits)`` of every state
    register of ``hw.array.accel`` outside the datapath, and of every ``+``/``-`` it computes
    (an incrementer, an address adder or a subtraction, each priced as an adder of its width;
    an expression the RTL uses twice, such as ``kc + length``, counts once, as Yosys merges
    identical cells). Registers that the dataflow leaves constant (the other dataflow's edge
    row counter) are left out, as synthesis removes them."""
    arr = accel.array
    R, C, L = arr.rows, arr.cols, arr.pe_latency
    b = accel.bounds
    mb, nb, kb = b["m"], b["n"], b["k_beats"]
    cb = accel.chunk_beats(kb)
    w = _range_bits
    a_addr, w_addr, o_addr = w(accel.a_depth), w(accel.w_depth), w(accel.o_depth)
    regs = [
        # The shape registers read at start, the run/drain state and the host's flag.
        ("M", w(mb + 1)), ("N", w(nb + 1)), ("KB", w(kb + 1)),
        ("run", 1), ("drain", 1), ("have", 1),
        ("cycles", CYCLE_COUNTER_BITS),
        ("a_load_addr", w(accel.a_depth + 1)), ("w_load_addr", w(accel.w_depth + 1)),
        ("y_end", w(accel.o_depth + 1)), ("raddr", w(accel.o_depth + 1)),
        # The edge's own loop counters (it follows the issue order one output block at a time).
        ("edge_n0", w(nb + C + 1)), ("edge_y_base", w(accel.o_depth * (C + 1) + 1)),
    ]
    adders = [
        ("cycles + 1", CYCLE_COUNTER_BITS),
        ("a_load_addr + 1", w(accel.a_depth + 1)), ("w_load_addr + 1", w(accel.w_depth + 1)),
        ("raddr + 1", w(accel.o_depth + 1)), ("s1_addr + 1", o_addr),
        ("edge_n0 + C", w(nb + C + 1)),
        ("edge_y_base + M", w(accel.o_depth * (C + 1) + 1)),
        ("edge_addr", w(accel.o_depth * (C + 2) + R + 1)),
    ]
    # K's chunks (beats before the current one): counted at the edge and, output-
    # stationary, at the issue; only when a GEMM that fits can have two (edge_adds).
    chunked = accel.edge_adds
    if chunked:
        regs.append(("edge_k", w(kb + max(cb, R) + 1)))
        adders.append(("edge_k + step", w(kb + max(cb, R) + 1)))
    if accel.double_buffer:
        # Banks (hw.array.accel: the computing and loading bank, the drain's own bank, end
        # and address, and a finished GEMM waiting to drain), and the bank offsets added to
        # the seven buffer addresses (a and w: load, read; o: edge read, edge write, drain).
        regs += [("bank", 1), ("load_bank", 1), ("drain_bank", 1), ("drain_pending", 1),
                 ("drain_end", w(accel.o_depth + 1)), ("pending_end", w(accel.o_depth + 1))]
        # (A power-of-two depth puts the bank in the top address bit: no adder.)
        adders += [(name, n * w(2 * depth)) for name, n, depth in (
            ("a bank offset (load, read)", 2, accel.a_depth),
            ("w bank offset (load, read)", 2, accel.w_depth),
            ("o bank offset (edge read, write, drain)", 3, accel.o_depth))
            if depth & (depth - 1)]
    if arr.dataflow == "os":
        # The issue's schedule (hw.array.accel._issue_os): cycles until the next beat and
        # until the dequantizer is free, counted down from the beat's interval and the
        # dequantization's busy cycles; cycles since an output's last beat.
        pe = arr.pe
        cycles = [pe.timing(f).cycles for f in pe.weight_formats]
        spacing = accel.last_beat_spacing
        busy = pe.golden.dequant_busy_cycles(pe)
        top = w(max(max(cycles), spacing) + busy + 1)
        bpg = pe.beats_per_group
        regs += [
            ("edge_m0", w(mb + R + 1)),
            ("os_m0", w(mb + R + 1)), ("os_n0", w(nb + C + 1)), ("os_beat", w(cb + 1)),
            ("os_a_base", w(accel.a_depth + 1)), ("os_w_base", w(accel.w_depth + 1)),
            ("os_since_last", w(spacing + 1)),
        ]
        adders += [
            ("edge_m0 + R", w(mb + R + 1)), ("edge_m0 + row index", w(mb + R + 1)),
            ("os_beat + 1", w(cb + 1)),
            ("os_n0 + C", w(nb + C + 1)), ("os_m0 + R", w(mb + R + 1)),
            ("os_a_base + KB", w(accel.a_depth + 1)), ("os_w_base + KB", w(accel.w_depth + 1)),
            ("+ beat (a address)", a_addr), ("+ beat (w address)", w_addr),
            ("length - 1", w(cb + 1)), ("os_since_last + 1", w(spacing + 1)),
        ]
        # The countdowns exist only for PEs with multi-cycle beats or a dequantizer to wait
        # for (a MAC takes a beat every cycle).
        if accel.issue_waits:
            regs += [("os_gap", top), ("os_dq", top), ("os_prev_issued", 1),
                     ("os_prev_group_end", 1)]
            adders += [("os_gap_now - 1", top), ("os_dq_now - 1", top),
                       ("interval - 1", w(max(cycles) + 1))]
        if busy:
            adders.append(("gap_now + busy", top))
        if bpg is not None:
            regs.append(("os_group_beat", w(bpg + 1)))
            adders.append(("os_group_beat + 1", w(bpg + 1)))
        if chunked:
            regs.append(("os_kc", w(kb + cb + 1)))
            adders += [("os_kc + length", w(kb + cb + 1)), ("KB - os_kc", w(kb + 1)),
                       ("a_base + kc", a_addr), ("w_base + kc", w_addr)]
    else:
        top = max(mb, C, (R - 1) * L + 1)
        regs += [
            ("edge_row", w(mb + 1)),
            ("ws_n0", w(nb + C + 1)), ("ws_kf", w(kb + R + 1)), ("ws_slot", w(top + 1)),
            ("ws_a_base", w(accel.a_depth + 1)), ("ws_w_addr", w(accel.w_depth + 1)),
            ("ws_row", w(R + 1)), ("ws_phase", w(max(L, 2))),
        ]
        adders += [
            ("edge_row + 1", w(mb + 1)),
            ("ws_slot + 1", w(top + 1)), ("ws_phase + 1", w(max(L, 2))),
            ("ws_w_addr + 1", w(accel.w_depth + 1)), ("ws_row + 1", w(R + 1)),
            ("ws_kf + R", w(kb + R + 1)), ("ws_a_base + M", w(accel.a_depth + 1)),
            ("ws_n0 + C", w(nb + C + 1)), ("a_base + slot", a_addr),
            ("period - 1", w(top + 1)),
        ]
    return regs, adders


def _groups(accel: AccelConfig, tech: Technology) -> tuple[UnitGroup, ...]:
    arr = accel.array
    pe = arr.pe
    R, C = arr.rows, arr.cols
    os = arr.dataflow == "os"
    # Rows are skewed by one cycle (output-stationary) or by the PE's result latency (weight-
    # stationary: a partial sum needs L cycles per row of the column).
    s = 1 if os else arr.pe_latency
    act, wgt, psum = pe.ports.act.width, pe.ports.weight.width, pe.ports.psum.width
    out = accel.out_width
    ctl = PE_CONTROL_BITS
    pnr = tech.pnr_energy_factor

    def logic(c: ComponentCost) -> ComponentCost:
        # Wiring and the clock tree after place and route load every logic unit, not only
        # the PEs' (whose pe_cost already carries the factor).
        return ComponentCost(c.area_um2, c.energy_pj * pnr)

    def reg(bits: int) -> ComponentCost:
        return logic(register(bits, tech))

    shared = arr.organisation == "shared"
    if shared and isinstance(pe, DequantMacConfig):
        groups = _column_head_groups(accel, tech, logic, reg)
    elif shared and isinstance(pe, BitSerialConfig):
        groups = _column_encoder_groups(accel, tech, logic, reg)
    elif shared and isinstance(pe, LutConfig):
        groups = _row_head_groups(accel, tech, logic, reg)
        wgt = arr.grid_ports.weight.width   # the skew carries what the grid PEs take
    elif shared:
        groups = _shared_groups(accel, tech, logic, reg)
        wgt = arr.grid_ports.weight.width
    else:
        # An output-stationary array's PEs stream their weights (load_w high): no weight
        # register (hw.array.shared.grid_component).
        pecost = pe_cost(pe, tech, weight_register=not os)
        energy = _pe_beat_energy_pj(pe, tech, weight_register=not os)
        groups = [UnitGroup(
            "pes", "pes", arr.pes, ComponentCost(pecost.area_um2, energy),
            "beat", lambda a: a.pe_beats,
            f"{R} x {C} {pe.kind} PEs ({arr.tiles[0]} x {arr.tiles[1]} tiles; a tile adds no "
            f"registers" + ("; without weight registers, as the weights stream)" if os
                            else ")"))]

    # Input skew: row r's activation beat and control word wait r * s registers each, so a
    # beat issued moves through every stage of the triangle once.
    skew = s * R * (R - 1) // 2
    groups += [
        UnitGroup("act_skew", "registers", skew, reg(act), "stage shift",
                  lambda a: a.slots * skew, f"activation beats ({act} bits), row r delayed "
                  f"r x {s}"),
        UnitGroup("ctl_skew", "registers", skew, reg(ctl), "stage shift",
                  lambda a: a.slots * skew, f"the {ctl}-bit control word, per row"),
    ]
    tri = C * (C - 1) // 2
    if os:
        groups.append(UnitGroup(
            "weight_skew", "registers", tri, reg(wgt), "stage shift", lambda a: a.slots * tri,
            f"weight beats ({wgt} bits), column c delayed c"))
    else:
        groups += [
            # One row of shadow weights per array row, written with an enable (the double
            # buffer of the next fold), priced like the PE's own weight register.
            UnitGroup("shadow", "registers", R * C,
                      logic(register(wgt, tech) + mux2(wgt, tech)), "weight load",
                      lambda a: a.shadow_loads * C,
                      f"the next fold's weights ({wgt} bits) with a load enable"),
            # Column c's sum waits C - 1 - c cycles so that a row's sums leave together.
            UnitGroup("deskew", "registers", tri, reg(psum), "stage shift",
                      lambda a: a.rows_out * tri, f"column sums ({psum} bits), column c "
                      f"delayed C - 1 - c"),
        ]
    # The register stage between the buffers' read data and the mesh, and the issued control
    # word's two stages (one for the read, one for that register).
    groups += [
        UnitGroup("a_pipeline", "registers", R, reg(act), "beat", lambda a: a.slots * R,
                  "the activation word after the buffer read"),
        UnitGroup("ctl_pipeline", "registers", 2, reg(ctl), "beat", lambda a: a.slots * 2,
                  "the issued control word, 2 stages"),
    ]
    if os:
        word = pe.ports.weight.width
        groups.append(UnitGroup("w_pipeline", "registers", C, reg(word), "beat",
                                lambda a: a.slots * C, "the weight word after the buffer read"))
    else:
        groups.append(UnitGroup("shadow_select_pipeline", "registers", 1,
                                reg(1 + _range_bits(R)), "row load", lambda a: a.shadow_loads,
                                "the shadow row's write enable and select, one stage"))

    # The edge: (os) the row of the block that has finished, chosen among R; the stage-1
    # register of the row with its address and flags; the adders of later chunks.
    if os:   # of the PEs' results, or of a shared array's foot units' row accumulators
        groups.append(UnitGroup(
            "row_mux", "edge", C, logic(mux2(psum * (R - 1), tech)), "row select",
            lambda a: a.rows_out * C, f"an {R}:1 mux of {psum}-bit results per column"))
    # Stage 1 holds the row, its address and the write and last flags; the first-chunk flag
    # only feeds the adders' select, and s1_valid is never read (synthesis drops both).
    s1 = C * out + _range_bits(accel.o_depth) + 2 + (1 if accel.edge_adds else 0)
    groups.append(UnitGroup(
        "stage1", "edge", 1, reg(s1), "row", lambda a: a.rows_out,
        f"the row ({C} x {out} bits), its address and its flags"))
    if accel.edge_adds:
        if pe.psum_format == "int":
            adder, what = int_adder(out, tech), f"{out}-bit integer adders"
        else:
            adder, what = fp_adder(*FP32_FIELDS, tech), "FP32 adders"
        groups.append(UnitGroup(
            "edge_adders", "edge", C, logic(adder + mux2(out, tech)), "add",
            lambda a: a.rows_out * C,
            f"{what} and the first-chunk select, one per column (every row leaving is "
            f"added, the first chunk's sum discarded)"))

    regs, adders = _controller(accel)
    reg_bits = sum(bits for _, bits in regs)
    adder_cost = sum((int_adder(bits, tech) for _, bits in adders if bits),
                     ComponentCost.zero())
    groups += [
        UnitGroup("control_registers", "control", reg_bits, reg(1), "bit-cycle",
                  lambda a: a.cycles.total * reg_bits,
                  "counters and flags: " + ", ".join(f"{n} {b}" for n, b in regs)),
        UnitGroup("control_adders", "control", 1, logic(adder_cost), "cycle",
                  lambda a: a.cycles.total,
                  "one unit: " + ", ".join(f"{n} ({b} bits)" for n, b in adders if b)),
    ]
    return tuple(groups)


def _head_wait(arr, reg, act: int, heads: str) -> UnitGroup:
    """The registers each row's activation and control words wait in to meet the column
    heads' output (``head_cycles`` per row)."""
    return UnitGroup("head_wait", "registers", arr.rows * arr.head_cycles,
                     reg(act + PE_CONTROL_BITS), "stage shift",
                     lambda a: a.slots * arr.rows * arr.head_cycles,
                     f"activation and control words waiting for the {heads}")


def _column_head_groups(accel: AccelConfig, tech: Technology, logic, reg) -> list[UnitGroup]:
    """The grid and the column heads of a ``"shared"`` dequantize-then-MAC array: FP16 MAC
    PEs, one dequantizer per column (the PE's ``q - z``, FP16 scaling and stage-0 weight
    register, once per column instead of once per PE) and the register each row's activation
    and control words wait to meet the heads' output."""
    arr = accel.array
    pe = arr.pe
    assert isinstance(pe, DequantMacConfig)
    R, C, lanes = arr.rows, arr.cols, pe.lanes
    mac = pe_cost(pe.mac, tech, weight_register=False)
    head = (int_adder(pe.diff_bits, tech) + dequantizer(pe.diff_bits, tech)) * lanes \
        + register(16 * lanes, tech)
    act = pe.ports.act.width
    return [
        UnitGroup("pes", "pes", arr.pes,
                  ComponentCost(mac.area_um2,
                                _pe_beat_energy_pj(pe.mac, tech, weight_register=False)), "beat",
                  lambda a: a.pe_beats,
                  f"{R} x {C} FP16 MAC PEs, the dequantizers moved to the column tops"),
        UnitGroup("column_dequantizers", "shared", C, logic(head), "beat",
                  lambda a: a.slots * C,
                  f"{lanes} lanes of q - z and FP16 scaling with the output register, one "
                  f"per column"),
        _head_wait(arr, reg, act, "column heads"),
    ]


def _column_encoder_groups(accel: AccelConfig, tech: Technology, logic,
                           reg) -> list[UnitGroup]:
    """The grid and the column heads of a ``"shared"`` bit-serial array: grid PEs taking
    integer weights, one weight encoder per column (BitMoD's, which the standalone PE has
    per PE) with its output register, and the register each row's activation and control
    words wait to meet the encoders' output."""
    arr = accel.array
    pe = arr.pe
    assert isinstance(pe, BitSerialConfig)
    R, C = arr.rows, arr.cols
    grid, head = bitserial_shared_parts(pe, tech)
    grid_area = sum(c.area_um2 for c in grid.values())
    grid_energy = bitserial_beat_energy_pj(pe, grid, pe.weight_formats[0])
    act = pe.ports.act.width
    return [
        UnitGroup("pes", "pes", arr.pes,
                  ComponentCost(grid_area, grid_energy * tech.pnr_energy_factor), "beat",
                  lambda a: a.pe_beats,
                  f"{R} x {C} bit-serial grid PEs taking integer weights, the weight "
                  f"encoders moved to the column tops"),
        UnitGroup("column_encoders", "shared", C,
                  logic(sum(head.values(), ComponentCost.zero())), "beat",
                  lambda a: a.slots * C,
                  f"{pe.lanes} lanes of weight encoding ({'/'.join(pe.weight_formats)}) with "
                  f"the output register, one per column"),
        _head_wait(arr, reg, act, "column encoders"),
    ]


def _row_head_groups(accel: AccelConfig, tech: Technology, logic, reg) -> list[UnitGroup]:
    """The grid, the row heads and the column feet of a ``"shared"`` array of 1 x 1 LUT tiles:
    the grid PEs without their table precompute (and forwarding the table) and without their
    dequantizer, one precompute per row, and a dequantizer per ``shared_unit_rows`` rows at
    the foot of each column (:func:`_foot_groups`)."""
    arr = accel.array
    pe = arr.pe
    assert isinstance(pe, LutConfig)
    R, C = arr.rows, arr.cols
    served = _served_rows(accel)
    grid, head, _ = lut_shared_parts(pe, served[0], tech)
    grid_total = sum(grid.values(), ComponentCost.zero())
    head_total = sum(head.values(), ComponentCost.zero())
    return [
        UnitGroup("pes", "pes", arr.pes,
                  ComponentCost(grid_total.area_um2,
                                grid_total.energy_pj * tech.pnr_energy_factor), "beat",
                  lambda a: a.pe_beats,
                  f"{R} x {C} LUT PEs latching their row's table instead of building it, "
                  f"the dequantizer moved to the columns"),
        UnitGroup("row_tables", "shared", R, logic(head_total), "beat",
                  lambda a: a.slots * R,
                  "one table precompute per row, at its left edge, once per beat"),
    ] + _foot_groups(accel, logic, reg,
                     lambda rows: sum(lut_shared_parts(pe, rows, tech,
                                                       read_out=False)[2].values(),
                                      ComponentCost.zero()),
                     "one-pass dequantizers (D = ((acc << p) + c sum a) >> h, y += sD)")


def _handoffs(activity: GemmActivity, *, bpg: int, share: float) -> int:
    """Group hand-offs of a GEMM that a share of the grid's PEs make (one per group)."""
    return round(activity.pe_beats // bpg * share)


def _served_rows(accel: AccelConfig) -> list[int]:
    """Rows each of a column's foot units serves (the last one the remainder)."""
    arr = accel.array
    serves = arr.pe.shared_unit_rows
    assert serves is not None
    return [min(serves, arr.rows - u * serves) for u in range(arr.column_units)]


def _foot_groups(accel: AccelConfig, logic, reg, unit_of: Callable[[int], ComponentCost],
                 what: str) -> list[UnitGroup]:
    """The units at the foot of a ``"shared"`` array's columns (:meth:`mpgemm.hw.array.mesh.
    Mesh._foot_units`): ``column_units`` per column, ``unit_of(rows)`` one serving ``rows``
    rows (energy per hand-off), the groups' weight fields the grid does not take (zero
    points and scales) captured per column and delayed to each unit, and the registers of the
    columns whose rows are read early (:attr:`ArrayConfig.foot_read_delays`)."""
    arr = accel.array
    pe = arr.pe
    R, C = arr.rows, arr.cols
    bpg = pe.beats_per_group
    assert bpg is not None
    units = arr.column_units
    served = _served_rows(accel)
    groups = []
    for rows in sorted(set(served), reverse=True):
        n_units = C * served.count(rows)
        # Every grid PE hands off once per group; a unit dequantizes its rows' hand-offs.
        groups.append(UnitGroup(
            f"column_dequantizers_{rows}_rows", "shared", n_units, logic(unit_of(rows)),
            "group", functools.partial(_handoffs, bpg=bpg, share=n_units * rows / (R * C)),
            f"{n_units} {what} serving {rows} rows each, {units} per column"))
    meta = pe.ports.weight.width - arr.grid_ports.weight.width
    delays = sum(arr.foot_metadata_delay(k, u) for k in range(C) for u in range(units))
    bits = meta * (C + delays)
    groups.append(UnitGroup(
        "group_metadata", "shared", bits, reg(1), "bit-cycle", lambda a: a.cycles.total * bits,
        f"each group's zero point and scale ({meta} bits): captured per column, delayed "
        f"to each unit ({delays} stages in all)"))
    # The rows are read from the units' row accumulators by the row mux (_groups); a column
    # whose accumulator could be overwritten by the standalone read-out time is read d
    # cycles early and its result carried in d registers.
    early = sum(arr.foot_read_delays)
    psum = pe.ports.psum.width
    if early:
        groups.append(UnitGroup(
            "deskew", "registers", early, reg(psum), "stage shift",
            lambda a: a.rows_out * early,
            f"column results ({psum} bits) read early, column c carried "
            f"max(0, C - c + X - G) registers"))
    return groups


def _shared_groups(accel: AccelConfig, tech: Technology, logic, reg) -> list[UnitGroup]:
    """The grid PEs and the units a ``"shared"`` MixPE array adds
    (:mod:`mpgemm.hw.array.shared`): a dequantizer per ``beats_per_group`` rows at the foot of
    each column (:func:`_foot_groups`)."""
    arr = accel.array
    pe = arr.pe
    assert isinstance(pe, MixPEConfig)
    R, C = arr.rows, arr.cols
    pnr = tech.pnr_energy_factor
    served = _served_rows(accel)
    grid, _ = shared_parts(pe, served[0], tech)
    grid_total = sum(grid.values(), ComponentCost.zero())
    # As pe_cost prices a PE: energies after place and route.
    return [UnitGroup(
        "pes", "pes", arr.pes, ComponentCost(grid_total.area_um2, grid_total.energy_pj * pnr),
        "beat", lambda a: a.pe_beats,
        f"{R} x {C} {pe.kind} grid PEs: lanes and group sums, the dequantizer moved to the "
        f"columns")] + _foot_groups(
        accel, logic, reg,
        lambda rows: sum(shared_parts(pe, rows, tech, read_out=False)[1].values(),
                         ComponentCost.zero()),
        "dequantizers (D = P - zA, y += sD)")


def _buffers(accel: AccelConfig, tech: Technology) -> tuple[BufferCost, ...]:
    arr = accel.array
    p = arr.pe.ports

    banks = accel.banks

    def buf(name: str, depth: int, word_bits: int, reads: ActionCount,
            writes: ActionCount) -> BufferCost:
        # A double buffer is two banks of `depth` words, each access in one of them.
        bank_bytes = -(-depth * word_bits // 8)
        return BufferCost(name, depth * banks, word_bits, sram_access(bank_bytes, tech), reads,
                          writes)

    return (
        # The host writes A and W once; a beat reads an activation word, and a weight word
        # per beat (os) or per shadow row (ws).
        buf("a_buffer", accel.a_depth, arr.rows * p.act.width, lambda a: a.slots,
            lambda a: a.a_words),
        buf("w_buffer", accel.w_depth, arr.cols * p.weight.width, lambda a: a.w_reads,
            lambda a: a.w_words),
        # The edge reads the old row for every row leaving (only where it adds chunks:
        # edge_adds) and writes the rows inside M; the drain reads every output word once.
        buf("o_buffer", accel.o_depth, arr.cols * accel.out_width,
            (lambda a: a.rows_out + a.o_words) if accel.edge_adds else (lambda a: a.o_words),
            lambda a: a.rows_written),
    )


def accel_cost(accel: AccelConfig, tech: Technology = DEFAULT_TECH) -> AccelCost:
    """The unit groups and buffers of ``accel`` (see the module docstring for what is counted).

    Results are cached per ``(accel, tech)``.

    Raises
    ------
    TypeError
        If ``accel`` is not an AccelConfig or ``tech`` not a Technology.
    """
    return _accel_cost(_check_accel(accel), _check_tech(tech))


@functools.lru_cache(maxsize=1024)
def _accel_cost(accel: AccelConfig, tech: Technology) -> AccelCost:
    return AccelCost(accel=accel, tech=tech, groups=_groups(accel, tech),
                     buffers=_buffers(accel, tech))


# --------------------------------------------------------------------------------------------
# Energy of one GEMM
# --------------------------------------------------------------------------------------------

def _frozen(d: Mapping[str, float]) -> Mapping[str, float]:
    return MappingProxyType(dict(d))


@dataclass(frozen=True)
class AccelReport:
    """Cost of a GEMM on an accelerator (or of several run one after another, when added).

    Attributes
    ----------
    area_um2 : float
        Logic area of the accelerator (buffers not modelled).
    latency_cycles : int
        :func:`~.array.gemm_cycles`: from ``start`` to the last output written.
    macs : int
        Useful multiply-accumulates, ``M x N x K``.
    pe_beats, useful_pe_beats : int
        Valid PE beats, and those that carried the GEMM's data (:class:`GemmActivity`).
    energy_pj : float
        Total energy; the sum of ``energy_by_category_pj`` and of ``energy_by_group_pj``.
    energy_by_category_pj : Mapping[str, float]
        Per :data:`CATEGORIES` entry that the accelerator has.
    energy_by_group_pj : Mapping[str, float]
        Per unit group and buffer.

    Adding reports (``a + b``, ``sum(reports)``) models running them in sequence on the same
    hardware: cycles, MACs, beats and energies add; area is the maximum.
    """

    area_um2: float
    latency_cycles: int
    macs: int
    pe_beats: int
    useful_pe_beats: int
    energy_pj: float
    energy_by_category_pj: Mapping[str, float] = field(hash=False)
    energy_by_group_pj: Mapping[str, float] = field(hash=False)

    @classmethod
    def zero(cls) -> "AccelReport":
        """The neutral element of ``+``."""
        return cls(0.0, 0, 0, 0, 0, 0.0, _frozen({}), _frozen({}))

    def __add__(self, other: "AccelReport") -> "AccelReport":
        if not isinstance(other, AccelReport):
            return NotImplemented

        def merged(x: Mapping[str, float], y: Mapping[str, float]) -> Mapping[str, float]:
            keys = [*x, *(key for key in y if key not in x)]
            return _frozen({key: x.get(key, 0.0) + y.get(key, 0.0) for key in keys})

        return AccelReport(
            area_um2=max(self.area_um2, other.area_um2),
            latency_cycles=self.latency_cycles + other.latency_cycles,
            macs=self.macs + other.macs,
            pe_beats=self.pe_beats + other.pe_beats,
            useful_pe_beats=self.useful_pe_beats + other.useful_pe_beats,
            energy_pj=self.energy_pj + other.energy_pj,
            energy_by_category_pj=merged(self.energy_by_category_pj,
                                         other.energy_by_category_pj),
            energy_by_group_pj=merged(self.energy_by_group_pj, other.energy_by_group_pj),
        )

    def __radd__(self, other: Any) -> "AccelReport":
        # Lets the built-in sum() start from its default 0.
        if isinstance(other, int) and not isinstance(other, bool) and other == 0:
            return self
        return NotImplemented

    @property
    def energy_per_mac_pj(self) -> float:
        """Energy per useful MAC (NaN for an empty report)."""
        return self.energy_pj / self.macs if self.macs else math.nan

    @property
    def macs_per_cycle(self) -> float:
        """Useful MACs per cycle (NaN for an empty report)."""
        return self.macs / self.latency_cycles if self.latency_cycles else math.nan

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON output (None where a ratio has no MACs or cycles)."""
        return {
            "area_um2": self.area_um2, "latency_cycles": self.latency_cycles, "macs": self.macs,
            "pe_beats": self.pe_beats, "useful_pe_beats": self.useful_pe_beats,
            "energy_pj": self.energy_pj,
            "energy_per_mac_pj": self.energy_per_mac_pj if self.macs else None,
            "macs_per_cycle": self.macs_per_cycle if self.latency_cycles else None,
            "energy_by_category_pj": dict(self.energy_by_category_pj),
            "energy_by_group_pj": dict(self.energy_by_group_pj),
        }


def gemm_energy(accel: AccelConfig, m: int, n: int, k: int,
                tech: Technology = DEFAULT_TECH) -> AccelReport:
    """Area, cycles and energy of ``Y[M, N] = A[M, K] x W[K, N]`` on ``accel``.

    Energy is the sum over every unit group and buffer of its actions in this GEMM times the
    energy of one action (the assumptions are in the module docstring).

    Raises
    ------
    TypeError
        If ``accel`` is not an AccelConfig, ``tech`` not a Technology, or a size not an
        integer.
    ValueError
        If the accelerator cannot run the GEMM (the message names the size or buffer).
    """
    cost = accel_cost(accel, tech)
    activity = gemm_activity(accel, m, n, k)
    by_group: dict[str, float] = {}
    by_category: dict[str, float] = {}
    for g in cost.groups:
        e = g.energy_pj(activity)
        by_group[g.name] = e
        by_category[g.category] = by_category.get(g.category, 0.0) + e
    for b in cost.buffers:
        e = b.energy_pj(activity)
        by_group[b.name] = e
        by_category["buffers"] = by_category.get("buffers", 0.0) + e
    order = {c: i for i, c in enumerate(CATEGORIES)}
    by_category = dict(sorted(by_category.items(), key=lambda kv: order[kv[0]]))
    return AccelReport(
        area_um2=cost.area_um2, latency_cycles=activity.cycles.total, macs=activity.macs,
        pe_beats=activity.pe_beats, useful_pe_beats=activity.useful_pe_beats,
        energy_pj=sum(by_group.values()), energy_by_category_pj=_frozen(by_category),
        energy_by_group_pj=_frozen(by_group))


# --------------------------------------------------------------------------------------------
# Accelerators side by side
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ArrayRow:
    """One accelerator on one GEMM, and as many copies of it as reach the comparison's target.

    Scaling replicates the whole accelerator (fractional copies allowed): area and throughput
    grow with the copy count, each copy runs a GEMM of the same shape, so energy per MAC does
    not change. It does not re-shape the array (a larger array would tile the GEMM
    differently); compare differently shaped presets for that.

    Attributes
    ----------
    design, mode : str
        The design's name and ``"throughput"`` or ``"area"``.
    rows, cols : int
    dataflow : str
    latency_cycles : int
        One accelerator's cycles for the GEMM.
    macs_per_cycle : float
        One accelerator's useful MACs per cycle on it.
    utilization : float
        ``macs_per_cycle`` over the peak (every PE busy every cycle).
    area_um2 : float
        One accelerator's logic area.
    buffer_bits : int
        Its buffers' capacity (their area is not modelled).
    energy_per_mac_pj : float
        Energy per useful MAC (:func:`gemm_energy`).
    copies : float
        Accelerators that reach the target.
    scaled_area_um2, scaled_macs_per_cycle : float
        Area and useful MACs per cycle of the copies together.
    scaled_latency_cycles : float
        ``M x N x K / scaled_macs_per_cycle``: the GEMM's cycles with its work spread over the
        copies.
    """

    design: str
    mode: str
    rows: int
    cols: int
    dataflow: str
    latency_cycles: int
    macs_per_cycle: float
    utilization: float
    area_um2: float
    buffer_bits: int
    energy_per_mac_pj: float
    copies: float
    scaled_area_um2: float
    scaled_macs_per_cycle: float
    scaled_latency_cycles: float

    def to_dict(self) -> dict[str, Any]:
        return {f: getattr(self, f) for f in self.__dataclass_fields__}


def _check_target(target: Any, mode: str) -> float | None:
    if target is None:
        return None
    unit = "useful MACs per cycle" if mode == "throughput" else "um^2 of logic"
    if isinstance(target, bool) or not isinstance(target, (int, float)):
        raise TypeError(f"target must be a number ({unit}), not {target!r}")
    if not (math.isfinite(target) and 0 < target <= MAX_TARGET):
        raise ValueError(f"target must be a finite number in (0, {MAX_TARGET:g}] ({unit}), "
                         f"not {target!r}")
    return float(target)


def compare_arrays(designs: Mapping[str, AccelConfig], m: int, n: int, k: int, *,
                   mode: str = "throughput", target: float | None = None,
                   tech: Technology = DEFAULT_TECH) -> list[ArrayRow]:
    """Accelerators side by side on ``Y[M, N] = A[M, K] x W[K, N]``, at equal throughput or area.

    Parameters
    ----------
    designs : mapping
        Name -> AccelConfig; the first is the baseline that sets the default target.
    m, n, k : int
        The GEMM; every design must run it (its buffers hold it, K fits its beats and groups).
    mode : str
        ``"throughput"``: each design is scaled to ``target`` useful MACs per cycle on this GEMM
        (``M N K / gemm_cycles``); compare ``scaled_area_um2`` and ``energy_per_mac_pj``.
        ``"area"``: each is scaled to ``target`` um^2 of logic; compare
        ``scaled_macs_per_cycle`` and ``scaled_latency_cycles``.
    target : float, optional
        Default: the first design's own throughput or area (its ``copies`` is 1).
    tech : Technology

    Returns
    -------
    list of ArrayRow
        One per design, in the order given.

    Raises
    ------
    TypeError
        If ``designs`` is not a mapping of AccelConfigs (the message names the entry),
        ``target`` is not a number or a size is not an integer.
    ValueError
        If ``mode`` is not one of :data:`COMPARE_MODES`, ``target`` is not positive and finite,
        ``designs`` is empty, or a design cannot run the GEMM (the message names it).
    """
    if not isinstance(designs, Mapping):
        raise TypeError(f"designs must be a mapping of name -> AccelConfig, not "
                        f"{type(designs).__name__}")
    if mode not in COMPARE_MODES:
        raise ValueError(f"mode must be one of {', '.join(map(repr, COMPARE_MODES))}, "
                         f"not {mode!r}")
    goal = _check_target(target, mode)
    if not designs:
        raise ValueError("designs must name at least one AccelConfig")
    for name, accel in designs.items():
        if not isinstance(accel, AccelConfig):
            raise TypeError(f"designs[{name!r}] must be an AccelConfig, not "
                            f"{type(accel).__name__}")
    _check_tech(tech)
    measured = []
    for name, accel in designs.items():
        try:
            report = gemm_energy(accel, m, n, k, tech)
        except ValueError as e:
            raise ValueError(f"design {name!r} cannot run this GEMM: {e}") from None
        measured.append((name, accel, report))
    if goal is None:
        first = measured[0][2]
        goal = first.macs_per_cycle if mode == "throughput" else first.area_um2
    rows = []
    for name, accel, r in measured:
        copies = goal / r.macs_per_cycle if mode == "throughput" else goal / r.area_um2
        cost = accel_cost(accel, tech)
        scaled_mpc = copies * r.macs_per_cycle
        rows.append(ArrayRow(
            design=name, mode=mode, rows=accel.array.rows, cols=accel.array.cols,
            dataflow=accel.array.dataflow, latency_cycles=r.latency_cycles,
            macs_per_cycle=r.macs_per_cycle,
            utilization=r.macs_per_cycle / cost.peak_macs_per_cycle, area_um2=r.area_um2,
            buffer_bits=cost.buffer_bits, energy_per_mac_pj=r.energy_per_mac_pj, copies=copies,
            scaled_area_um2=copies * r.area_um2, scaled_macs_per_cycle=scaled_mpc,
            scaled_latency_cycles=r.macs / scaled_mpc))
    return rows


def render_rows(rows: Sequence[ArrayRow]) -> str:
    """``rows`` as a text table, one line per design under a header line."""
    w = max([28, *(len(r.design) for r in rows)])
    head = (f"{'design':{w}s} {'array':>9s} {'cycles':>8s} {'MAC/cyc':>8s} {'util':>5s} "
            f"{'area_um2':>10s} {'pJ/MAC':>7s} {'copies':>7s} {'scaled_um2':>11s} "
            f"{'scaled_MAC/cyc':>14s} {'scaled_cyc':>10s}")
    lines = [head]
    for r in rows:
        array = f"{r.rows}x{r.cols} {r.dataflow}"
        lines.append(
            f"{r.design:{w}s} {array:>9s} {r.latency_cycles:8d} {r.macs_per_cycle:8.2f} "
            f"{r.utilization:5.2f} {r.area_um2:10.0f} {r.energy_per_mac_pj:7.3f} "
            f"{r.copies:7.3f} {r.scaled_area_um2:11.0f} {r.scaled_macs_per_cycle:14.2f} "
            f"{r.scaled_latency_cycles:10.1f}")
    return "\n".join(lines)
