"""Configs of the mixpe family: pure Python (no Amaranth), read by the RTL generator,
the golden model and the cost model alike (see :mod:`mpgemm.pe_designs.mixpe`)."""

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from mpgemm.sim.golden.contract import BeatTiming, GoldenModel
from mpgemm.sim.golden.formats import signed_bits_for_range
from mpgemm.sim.golden.mixpe import MIXPE
from mpgemm.sim.golden.ports import Array, Bits, Field, PEPorts, Struct

from ..common import PEConfigBase, check_bool, check_choice, check_int

__all__ = ['ACT_FORMATS', 'SCALE_FORMATS', 'MixPEConfig']


#: Activation formats and their widths.
ACT_FORMATS = {"int8": 8, "int16": 16, "fp16": 16}


#: Scale formats: integer codes ``(bits, signed)`` for integer activations (the result stays
#: exact), FP16 for FP16 activations (the W4A16 convention of GPTQ/AWQ checkpoints).
SCALE_FORMATS = {"uint8": (8, False), "int8": (8, True), "uint16": (16, False),
                 "int16": (16, True), "fp16": (16, None)}


@dataclass(frozen=True, kw_only=True)
class MixPEConfig(PEConfigBase):
    """MixPE shift-and-add PE.

    Parameters
    ----------
    weight_bits : int
        Weight code width, 2-8 (the paper's precisions are 2, 3, 4 and 8); also the number of
        shift-and-add terms per lane.
    weight_signed : bool
        False: unsigned codes with a ``weight_bits`` unsigned zero point per group (asymmetric,
        GPTQ/AWQ style). True: two's complement codes, symmetric (no zero point).
    act_format : str
        ``"int8"`` or ``"int16"`` (two's complement, exact), or ``"fp16"`` (finite values).
    lanes : int
        Weights per beat (dot-product lanes), 1-16.
    group_size : int
        Weights per quantization group along K, 1-4096, a multiple of ``lanes``.
    scale_format : str or None
        ``"uint8"``, ``"int8"``, ``"uint16"`` or ``"int16"`` for integer activations (default
        ``"uint8"``), ``"fp16"`` for FP16 activations (its default and only choice).
    acc_bits : int
        Output accumulator width for integer activations, 2-64 (wraps modulo 2**acc_bits);
        FP16 activations accumulate in FP32.
    k_max : int
        Largest K one output accumulates; ``acc_bits`` must hold it without wrapping.
    align_guard_bits : int
        FP16 activations: bits kept below an aligned lane's LSB, 0-16.
    """

    kind: ClassVar[str] = "mixpe"
    golden: ClassVar[GoldenModel] = MIXPE

    weight_bits: int = 4
    weight_signed: bool = False
    act_format: str = "int8"
    lanes: int = 4
    group_size: int = 128
    scale_format: str | None = None
    acc_bits: int = 48
    k_max: int = 4096
    align_guard_bits: int = 4

    def __post_init__(self):
        check_int("weight_bits", self.weight_bits, 2, 8)
        check_bool("weight_signed", self.weight_signed)
        check_choice("act_format", self.act_format, tuple(ACT_FORMATS))
        check_int("lanes", self.lanes, 1, 16)
        check_int("group_size", self.group_size, 1, 4096)
        check_int("acc_bits", self.acc_bits, 2, 64)
        check_int("k_max", self.k_max, 1, 1 << 24)
        check_int("align_guard_bits", self.align_guard_bits, 0, 16)
        allowed = ("fp16",) if self.is_fp else tuple(f for f in SCALE_FORMATS if f != "fp16")
        if self.scale_format is not None and self.scale_format not in allowed:
            raise ValueError(f"scale_format must be one of {', '.join(map(repr, allowed))} for "
                             f"act_format={self.act_format!r}, not {self.scale_format!r}")
        if self.group_size % self.lanes:
            raise ValueError(f"group_size={self.group_size} must be a multiple of "
                             f"lanes={self.lanes}: a beat never straddles two groups")
        need = self.required_acc_bits
        if not self.is_fp and self.acc_bits < need:
            raise ValueError(f"acc_bits={self.acc_bits} is too narrow: k_max={self.k_max} "
                             f"products of {self.act_format} x {self.weight_name} with "
                             f"{self.scale_name} scales need acc_bits >= {need}")

    # --- number representation -------------------------------------------------------------

    @property
    def is_fp(self) -> bool:
        return self.act_format == "fp16"

    @property
    def act_bits(self) -> int:
        return ACT_FORMATS[self.act_format]

    @property
    def weight_name(self) -> str:
        return f"{'int' if self.weight_signed else 'uint'}{self.weight_bits}"

    @property
    def has_zero(self) -> bool:
        """Unsigned weights carry a zero point, so the PE also sums the activations."""
        return not self.weight_signed

    @property
    def scale_name(self) -> str:
        """The scale format in use: ``scale_format``, or the activation format's default
        (kept out of the field so that a preset derived with ``dataclasses.replace`` that
        changes ``act_format`` gets the new default)."""
        if self.scale_format is not None:
            return self.scale_format
        return "fp16" if self.is_fp else "uint8"

    @property
    def scale_bits(self) -> int:
        return SCALE_FORMATS[self.scale_name][0]

    @property
    def scale_signed(self) -> bool:
        return bool(SCALE_FORMATS[self.scale_name][1])

    @property
    def scale_port_bits(self) -> int:
        return self.scale_bits

    @property
    def max_weight(self) -> int:
        """Largest ``|q - z|`` (or ``|q|``): the weight magnitude the accumulators must hold."""
        return (1 << (self.weight_bits - 1)) if self.weight_signed else (1 << self.weight_bits) - 1

    @property
    def _amax(self) -> int:
        return 1 << (self.act_bits - 1)

    @property
    def group_acc_bits(self) -> int:
        """Exact width of the group's product sum ``P`` (integer activations)."""
        b = self.weight_bits
        qmax = (1 << (b - 1)) if self.weight_signed else (1 << b) - 1
        bound = self.group_size * self._amax * qmax
        return signed_bits_for_range(-bound, bound)

    @property
    def act_sum_bits(self) -> int:
        """Exact width of the group's activation sum ``A`` (integer activations)."""
        return signed_bits_for_range(-self.group_size * self._amax,
                                     self.group_size * (self._amax - 1))

    @property
    def corr_bits(self) -> int:
        """Exact width of ``D = P - z * A`` (integer activations)."""
        bound = self.group_size * self._amax * self.max_weight
        return signed_bits_for_range(-bound, bound)

    @property
    def required_acc_bits(self) -> int:
        smax = 1 << (self.scale_bits - 1) if self.scale_signed else (1 << self.scale_bits) - 1
        bound = self.k_max * self._amax * self.max_weight * smax
        return signed_bits_for_range(-bound, bound)

    # --- generated floating-point units (FP16 activations) -----------------------------------

    @property
    def fp32_adders(self) -> int:
        """FPAdd units: the ``P`` accumulator and the output's; with a zero point also the
        ``A`` accumulator and ``P - zA``."""
        return (2 + 2 * self.has_zero) if self.is_fp else 0

    @property
    def fp_multipliers(self) -> int:
        """FPMul units: the FP32 x FP16 scale multiplication."""
        return int(self.is_fp)

    @property
    def zero_scalers(self) -> int:
        """IntScaleFP units: ``z * A`` rounded to FP32."""
        return int(self.is_fp and self.has_zero)

    # --- timing (the RTL's measured cycles equal these) ---------------------------------------

    @property
    def beats_per_group(self) -> int:
        return self.group_size // self.lanes

    @property
    def dq_cycles(self) -> int:
        """Dequantization cycles per group: ``D = P - z A``, then ``y = base + s D``."""
        return 2

    @property
    def dq_overlaps_next_group(self) -> bool:
        """The dequantizer is a pipeline that takes a group every cycle, so it always runs in
        the shadow of the next group's beats (no stall, even for one-beat groups)."""
        return True

    @property
    def dq_stall_cycles(self) -> int:
        """Cycles the lanes wait for the dequantizer per group (none: see above)."""
        return 0

    @property
    def weight_formats(self) -> tuple[str, ...]:
        return (self.weight_name,)

    def _format_timing(self, fmt: str) -> BeatTiming:
        """A beat per cycle; a ``last`` beat's result follows the group hand-off register and
        the dequantizer's ``dq_cycles`` stages (the last one is the output register)."""
        return BeatTiming(cycles=1, latency=1 + self.dq_cycles)

    # --- ports -------------------------------------------------------------------------------

    @property
    def dataflows(self) -> tuple[str, ...]:
        # Output-stationary, as MixPE's arrays are: each PE accumulates whole groups of an
        # output, then dequantizes once per group.
        return ("os",)

    @property
    def organisations(self) -> tuple[str, ...]:
        # "shared": the array's grid PEs keep the lanes and the group sums (used every beat);
        # the dequantization, once per group, moves to units at the foot of each column.
        return ("standalone", "shared")

    @property
    def shared_unit_rows(self) -> int:
        """A column's rows close a group one cycle apart and the next group
        ``beats_per_group`` cycles later: one dequantizer serves that many rows."""
        return self.beats_per_group

    @property
    def shared_unit_stages(self) -> int:
        """The column dequantizer's stages before its row accumulator: ``min(dq_cycles, 2)``."""
        return min(self.dq_cycles, 2)

    @property
    def shared_unit_waits(self) -> tuple[int, ...]:
        """Cycles a column dequantizer holds a result before the tile would give it: none
        (its row accumulator is written as the PE's output register would be)."""
        return (0,)

    @property
    def handoff_bits(self) -> tuple[int, int]:
        """Widths of the group sums ``P`` and ``A`` a grid PE hands to its column's
        dequantizer (FP32 patterns for FP16 activations; ``A`` is 0 bits without a zero
        point)."""
        if self.is_fp:
            return 32, 32 * self.has_zero
        return self.group_acc_bits, self.act_sum_bits * self.has_zero

    @property
    def shared_ports(self) -> PEPorts:
        """The grid PE of a ``"shared"`` array: ``i_w`` is only the lanes' codes (the zero
        point and scale go to the column's dequantizer), ``o_psum`` the group hand-off
        ``{p, a (with a zero point), first, last}`` with ``o_valid`` one cycle per group."""
        p_bits, a_bits = self.handoff_bits
        hand: dict[str, Field] = {"p": Bits(p_bits, signed=not self.is_fp)}
        if a_bits:
            hand["a"] = Bits(a_bits, signed=not self.is_fp)
        hand["first"] = Bits(1)
        hand["last"] = Bits(1)
        ports = self.ports
        return PEPorts(act=ports.act, weight=Struct({"q": Array(Bits(self.weight_bits),
                                                                self.lanes)}),
                       psum=Struct(hand))

    @property
    def ports(self) -> PEPorts:
        """``i_w`` is ``{q: lanes codes (as stored: B-bit fields), zero (unsigned weights),
        scale}``; FP activations are bit patterns."""
        act = Bits(16) if self.is_fp else Bits(self.act_bits, signed=True)
        weight: dict[str, Field] = {"q": Array(Bits(self.weight_bits), self.lanes)}
        if self.has_zero:
            weight["zero"] = Bits(self.weight_bits)
        weight["scale"] = Bits(self.scale_port_bits)
        return PEPorts(act=Array(act, self.lanes), weight=Struct(weight),
                       psum=Bits(32) if self.is_fp else Bits(self.acc_bits, signed=True))


if TYPE_CHECKING:
    # For the type checker: the config provides what its golden model reads.
    from mpgemm.sim.golden.mixpe import MixPELike

    _MIXPE: type[MixPELike] = MixPEConfig
