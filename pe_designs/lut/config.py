"""Configs of the lut family: pure Python (no Amaranth), read by the RTL generator,
the golden model and the cost model alike (see :mod:`mpgemm.pe_designs.lut`)."""

from dataclasses import dataclass
from typing import ClassVar

from mpgemm.sim.golden import lut as L
from mpgemm.sim.golden.contract import BeatTiming, GoldenModel
from mpgemm.sim.golden.formats import signed_bits_for_range
from mpgemm.sim.golden.ports import Array, Bits, Field, PEPorts, Struct

from ..common import PEConfigBase, check_bool, check_choice, check_int, check_weight_formats

__all__ = ['LUT_ACT_FORMATS', 'TABLE_FORMATS', 'LutConfig']


#: Activation formats of the LUT tile and their widths.
LUT_ACT_FORMATS = {"int8": 8, "int16": 16, "fp16": 16}


#: Table entry formats each activation format allows: exact integers for integer activations;
#: INT8-quantized (the paper's table quantization) or FP16 entries for FP16 activations.
TABLE_FORMATS = {"int8": ("exact",), "int16": ("exact",), "fp16": ("int8", "fp16")}


@dataclass(frozen=True, kw_only=True)
class LutConfig(PEConfigBase):
    """LUT tensor core tile.

    Parameters
    ----------
    weight_formats : tuple of str
        Data types a group may use (``sim.golden.lut.LUT_WEIGHT_FORMATS``: uint1-uint8 with a
        zero point, int2-int8, ternary, binary); one per group, chosen by the beat's ``dtype``.
    act_format : str
        ``"int8"`` or ``"int16"``: tables, accumulators and outputs are exact integers.
        ``"fp16"``: outputs are FP32, with tables as ``table_format`` says.
    table_format : str
        ``"exact"`` (integer activations: exact integer entries). For FP16 activations
        ``"int8"``: per chunk, activations aligned to their largest exponent (truncating),
        exact sums rounded to INT8 entries (RNE, clamped to +-127) sharing that exponent,
        exact wide-integer accumulation, one FP32 rounding per group; or ``"fp16"``: FP16
        entries (FP16 additions), FP32 accumulation with RNE per plane (see
        :mod:`sim.golden.lut` for both definitions).
    rows, cols : int
        Tile size M (activation rows, one table each; 1-8) and N (multiplexer-PEs per row, each
        one output column; 1-64). The paper's tile is M2 N64.
    table_k : int
        Activations per table, 2-6 (the paper's K = 4).
    symmetric : bool
        Table symmetrization: store ``2^(K-1)`` entries and negate on look-up (True), or all
        ``2^K`` entries (False).
    group_size : int
        Weights per quantization group along K (one scale and zero point per column), a
        multiple of ``table_k``, at most 4096.
    scale_bits : int
        Width of the group scale, 1-8; also that many dequantization cycles.
    scale_signed : bool
        Two's complement scale codes (the top scale bit subtracts).
    acc_bits : int
        Output accumulator width, 2-64 (wraps modulo 2**acc_bits).
    k_max : int
        Largest K one output accumulates; ``acc_bits`` must hold it without wrapping.
    """

    kind: ClassVar[str] = "lut"
    golden: ClassVar[GoldenModel] = L.LUT

    weight_formats: tuple[str, ...] = ("uint4",)
    act_format: str = "int8"
    table_format: str = "exact"
    rows: int = 2
    cols: int = 4
    table_k: int = 4
    symmetric: bool = True
    group_size: int = 128
    scale_bits: int = 8
    scale_signed: bool = False
    acc_bits: int = 32
    k_max: int = 4096

    def __post_init__(self):
        check_weight_formats(self, L.LUT_WEIGHT_FORMATS)
        check_choice("act_format", self.act_format, tuple(LUT_ACT_FORMATS))
        allowed = TABLE_FORMATS[self.act_format]
        if self.table_format not in allowed:
            raise ValueError(f"table_format must be one of {', '.join(map(repr, allowed))} for "
                             f"act_format={self.act_format!r}, not {self.table_format!r}")
        check_int("rows", self.rows, 1, 8)
        check_int("cols", self.cols, 1, 64)
        check_int("table_k", self.table_k, 2, 6)
        check_bool("symmetric", self.symmetric)
        check_int("group_size", self.group_size, 1, 4096)
        check_int("scale_bits", self.scale_bits, 1, 8)
        check_bool("scale_signed", self.scale_signed)
        check_int("acc_bits", self.acc_bits, 2, 64)
        check_int("k_max", self.k_max, 1, 1 << 24)
        if self.scale_signed and self.scale_bits < 2:
            raise ValueError(f"scale_bits must be >= 2 for a signed scale, not {self.scale_bits}")
        if self.group_size % self.table_k:
            raise ValueError(f"group_size={self.group_size} must be a multiple of "
                             f"table_k={self.table_k}: a table never straddles two groups")
        fastest = min(self.timing(f).cycles for f in self.weight_formats)
        if self.beats_per_group * fastest < self.dq_cycles:
            need = -(-self.dq_cycles // fastest) * self.table_k
            raise ValueError(
                f"group_size={self.group_size} is too small: {self.beats_per_group} chunk(s) of "
                f"{fastest} plane cycle(s) last {self.beats_per_group * fastest} cycles, fewer "
                f"than the {self.dq_cycles} cycles of group dequantization; use "
                f"group_size >= {need}")
        if not self.is_fp and self.acc_bits < self.required_acc_bits:
            raise ValueError(f"acc_bits={self.acc_bits} is too narrow: k_max={self.k_max} "
                             f"products of {self.act_format} x {'/'.join(self.weight_formats)} "
                             f"with {self.scale_bits}-bit scales need acc_bits >= "
                             f"{self.required_acc_bits}")

    # --- number representation -------------------------------------------------------------

    @property
    def act_bits(self) -> int:
        return LUT_ACT_FORMATS[self.act_format]

    @property
    def act_max(self) -> int:
        """Largest activation magnitude (of the most negative value); integer activations."""
        return 1 << (self.act_bits - 1)

    @property
    def is_fp(self) -> bool:
        """FP16 activations: FP32 outputs and dequantization."""
        return self.act_format == "fp16"

    @property
    def table_shift(self) -> int:
        """INT8 tables: bits an exact entry on its chunk's grid drops (0 otherwise)."""
        return L.fp16_table_shift(self.table_k) if self.table_format == "int8" else 0

    @property
    def align_bits(self) -> int:
        """INT8 tables: width of an exact entry on the chunk's grid (signed)."""
        bound = self.table_k * ((1 << 11) - 1)
        return signed_bits_for_range(-bound, bound)

    @property
    def entry_max(self) -> int:
        """Largest ``|entry|`` in accumulator units (INT8 entries shifted by up to 29)."""
        if self.table_format == "int8":
            return 127 << 29
        return self.table_k * self.act_max

    @property
    def planes_max(self) -> int:
        """Bit-planes of the widest format: the width of a code on ``i_w``."""
        return max(L.n_planes(f) for f in self.weight_formats)

    @property
    def code_bits(self) -> int:
        return self.planes_max

    @property
    def has_zero(self) -> bool:
        return any(L.is_unsigned(f) for f in self.weight_formats)

    @property
    def dtype_bits(self) -> int:
        return (len(self.weight_formats) - 1).bit_length()

    @property
    def table_entries(self) -> int:
        """Entries stored per table (per row)."""
        return 1 << (self.table_k - 1 if self.symmetric else self.table_k)

    @property
    def table_bits(self) -> int:
        """Width of a stored entry: any sum of ``table_k`` +-activations; INT8; or FP16."""
        if self.table_format == "int8":
            return 8
        if self.table_format == "fp16":
            return 16
        bound = self.table_k * self.act_max
        return signed_bits_for_range(-bound, bound)

    @property
    def table_adders(self) -> int:
        """Adders/subtractors of one row's precompute unit (from the shared plan)."""
        return L.table_adders(self.table_k, self.symmetric)

    @property
    def max_weight(self) -> int:
        """Largest ``|w|`` of any format (``q - z`` for unsigned ones)."""
        def wmax(f):
            return max(abs(L.weight_value(f, c, z)) for c in range(1 << L.n_planes(f))
                       for z in ((0, (1 << L.n_planes(f)) - 1) if L.is_unsigned(f) else (0,))
                       if not (f == "ternary" and c == 2))
        return max(wmax(f) for f in self.weight_formats)

    @property
    def beats_per_group(self) -> int:
        return self.group_size // self.table_k

    @property
    def group_acc_bits(self) -> int:
        """Exact width of a PE's group accumulator (sum of shifted table values); FP32."""
        if self.table_format == "fp16":
            return 32
        bound = self.beats_per_group * ((1 << self.planes_max) - 1) * self.entry_max
        return signed_bits_for_range(-bound, bound)

    @property
    def act_sum_bits(self) -> int:
        """Width of a row's activation sum over a group (its all-ones entries); FP32."""
        if self.table_format == "fp16":
            return 32
        bound = self.beats_per_group * self.entry_max
        return signed_bits_for_range(-bound, bound)

    @property
    def corr_bits(self) -> int:
        """Bits of the correction constant ``c``: the dequantizer's correction cycles."""
        return max(L.correction_bits(f, self.symmetric) for f in self.weight_formats)

    @property
    def dq_bits(self) -> int:
        """Width of the dequantizer's ``D`` register, including partial corrections; FP32."""
        if self.table_format == "fp16":
            return 32
        bound = self.beats_per_group * self.entry_max * (2 * ((1 << self.planes_max) - 1)
                                                         + (1 << self.corr_bits))
        return signed_bits_for_range(-bound, bound)

    @property
    def cell_bits(self) -> int:
        """Width of one output (partial sum): ``acc_bits``, or FP32."""
        return 32 if self.is_fp else self.acc_bits

    @property
    def required_acc_bits(self) -> int:
        smax = 1 << (self.scale_bits - 1) if self.scale_signed else (1 << self.scale_bits) - 1
        bound = self.k_max * self.act_max * self.max_weight * smax
        return signed_bits_for_range(-bound, bound)

    # --- timing (the RTL's measured cycles equal these) ---------------------------------------

    def _format_timing(self, fmt: str) -> BeatTiming:
        """A chunk (tile beat) takes one cycle per weight bit-plane; the result of a ``last``
        beat follows its planes, the group's dequantization and one output register."""
        planes = L.n_planes(fmt)
        return BeatTiming(cycles=planes, latency=planes + self.dq_cycles + 1)

    @property
    def dq_cycles(self) -> int:
        """Cycles of one group's dequantization: correction bits, then scale bits."""
        return self.corr_bits + self.scale_bits

    @property
    def precompute_cycles(self) -> int:
        """Cycles to fill the tables: built in the cycle a beat is accepted, which overlaps the
        previous beat's last plane cycle, so precompute never stalls the tile."""
        return 1

    def table_reuse(self, fmt: str | int) -> int:
        """Look-ups served by one table: ``cols`` PEs x ``B`` planes."""
        return self.cols * self.timing(fmt).cycles

    @property
    def macs_per_beat(self) -> int:
        return self.rows * self.cols * self.table_k

    @property
    def tile_shape(self) -> tuple[int, int, int]:
        """``(M, N, K)`` of one beat: ``rows`` rows of A times ``cols`` columns of W, ``table_k``
        weights along K each; a result holds the ``rows * cols`` outputs, row-major."""
        return self.rows, self.cols, self.table_k

    # --- arrays ------------------------------------------------------------------------------

    @property
    def dataflows(self) -> tuple[str, ...]:
        # A 1 x 1 tile (one table, one multiplexer-PE) is a PE: an output-stationary grid of
        # them is the tile generalised, rows of A down, columns of W across (the array steps
        # each beat at its slowest column's data type, as for the bit-serial PE). A larger
        # tile is already an array of its own.
        return ("os",) if (self.rows, self.cols) == (1, 1) else ()

    @property
    def organisations(self) -> tuple[str, ...]:
        # "shared": each array row's table is precomputed once, at the row's left edge, and
        # travels along the row (the paper's table broadcast along N); the grid PEs hand each
        # group's sums to dequantizers at the foot of the columns ("outside the tile").
        if self.dataflows and self.shared_unavailable is None:
            return ("standalone", "shared")
        return ("standalone",)

    @property
    def shared_unavailable(self) -> str | None:
        if not self.dataflows:
            return None
        if self.is_fp:
            # The column unit dequantizes a group in one pass; FP16 activations round once
            # per scale bit (sim.golden.bitserial.bitserial_fp_dequant), which would take a
            # chain of scale_bits FP32 adders there.
            return (f"its column dequantizer takes integer activations: act_format must be "
                    f"one of {', '.join(repr(f) for f in LUT_ACT_FORMATS if f != 'fp16')}, "
                    f"not {self.act_format!r}")
        if self._unit_rows < 1:
            return (f"group_size={self.group_size} leaves no row a column dequantizer can "
                    f"serve: use group_size >= {2 * self.table_k}")
        # A row's result waits in the unit's accumulator until the slowest format's latency;
        # the row's next hand-off, at least a group of the fastest format later, overwrites it.
        fastest = min(self.timing(f).cycles for f in self.weight_formats)
        need = max(self.shared_unit_waits)
        if self.beats_per_group * fastest < need:
            beats = -(-need // fastest)
            return (f"group_size={self.group_size} is too short for a column dequantizer to "
                    f"keep a result until the slowest format's latency: use group_size >= "
                    f"{beats * self.table_k}")
        return None

    @property
    def shared_unit_stages(self) -> int:
        """The column dequantizer's stages before its row accumulator: ``min(dq_cycles, 2)``."""
        return min(self.dq_cycles, 2)

    @property
    def shared_unit_waits(self) -> tuple[int, ...]:
        """Per weight format, cycles a column dequantizer holds a result after computing it
        (it computes in ``min(dq_cycles, 2)`` cycles and gives it when the tile would, the
        slowest format's latency after the beat; a faster format hands off earlier)."""
        cycles = [self.timing(f).cycles for f in self.weight_formats]
        return tuple(self.dq_cycles - min(self.dq_cycles, 2) + max(cycles) - b for b in cycles)

    @property
    def _unit_rows(self) -> int:
        fastest = min(self.timing(f).cycles for f in self.weight_formats)
        return (self.beats_per_group - 1) * fastest

    @property
    def shared_unit_rows(self) -> int | None:
        """Rows one column dequantizer of a ``"shared"`` array serves: ``(beats_per_group - 1)
        x`` the fastest format's plane cycles.

        A column's rows hand a group off one cycle apart, and a row's next hand-off comes a
        whole group later (at least ``beats_per_group`` beats of that many cycles), so the
        unit, which takes a hand-off per cycle, never sees two at once. One beat less: the
        group's zero point and scale reach the unit as the group's last beat enters the
        column (:meth:`mpgemm.hw.array.mesh.Mesh._foot_units`) and must still be there
        when the last served row hands off, that beat's planes later."""
        if "shared" not in self.organisations:
            return None
        return self._unit_rows

    @property
    def table_port(self) -> Struct:
        """One row's table as a port: ``{table: table_entries entries, exp: the chunk's
        exponent field (INT8 tables only)}``."""
        entry = Bits(16) if self.table_format == "fp16" else Bits(self.table_bits, signed=True)
        fields: dict[str, Field] = {"table": Array(entry, self.table_entries)}
        if self.table_format == "int8":
            fields["exp"] = Bits(5)
        return Struct(fields)

    @property
    def handoff_fields(self) -> dict[str, Field]:
        """What a ``"shared"`` array's grid PE hands its column dequantizer per group: the
        plane sum ``acc``, the row's activation sum ``act_sum`` (when a correction constant
        can be non-zero), the group's ``dtype`` (several formats), ``first`` (the group opens
        an output) and ``last`` (it closes one)."""
        fields: dict[str, Field] = {"acc": Bits(self.group_acc_bits, signed=True)}
        if self.corr_bits:
            fields["act_sum"] = Bits(self.act_sum_bits, signed=True)
        if self.dtype_bits:
            fields["dtype"] = Bits(self.dtype_bits)
        fields["first"] = Bits(1)
        fields["last"] = Bits(1)
        return fields

    @property
    def shared_ports(self) -> PEPorts:
        """The grid PE of a ``"shared"`` array takes a table per row instead of activations
        (and forwards it to its right-hand neighbour) and of the weight word only the planes
        and data type (the scale and zero point go to the column's dequantizer); its
        ``o_psum`` is the group hand-off (:attr:`handoff_fields`), ``o_valid`` one cycle per
        group."""
        weight = self.ports.weight
        assert isinstance(weight, Struct)
        grid = {name: f for name, f in weight.fields if name in ("planes", "dtype")}
        return PEPorts(act=Array(self.table_port, self.rows), weight=Struct(grid),
                       psum=Struct(self.handoff_fields))

    # --- ports -------------------------------------------------------------------------------

    @property
    def ports(self) -> PEPorts:
        """``i_a`` is ``rows`` chunks of ``table_k`` activations; ``i_w`` is ``{planes:
        planes_max x cols bit-planes of table_k bits, scale: per column, zero: per column
        (unsigned formats), dtype (several formats)}``; ``i_psum`` is ``rows * cols`` cells,
        row-major."""
        act = Bits(16) if self.is_fp else Bits(self.act_bits, signed=True)
        weight: dict[str, Field] = {
            "planes": Array(Array(Bits(self.table_k), self.cols), self.planes_max),
            "scale": Array(Bits(self.scale_bits), self.cols)}
        if self.has_zero:
            weight["zero"] = Array(Bits(self.code_bits), self.cols)
        if self.dtype_bits:
            weight["dtype"] = Bits(self.dtype_bits)
        cell = Bits(32) if self.is_fp else Bits(self.acc_bits, signed=True)
        return PEPorts(act=Array(Array(act, self.table_k), self.rows), weight=Struct(weight),
                       psum=Array(cell, self.rows * self.cols))
