"""Configs of the bitserial family: pure Python (no Amaranth), read by the RTL generator,
the golden model and the cost model alike (see :mod:`mpgemm.pe_designs.bitserial`)."""

from dataclasses import dataclass
from typing import ClassVar

from mpgemm.sim.golden import terms as T
from mpgemm.sim.golden.bitserial import BITSERIAL
from mpgemm.sim.golden.contract import BeatTiming, GoldenModel
from mpgemm.sim.golden.formats import get_weight_format, signed_bits_for_range
from mpgemm.sim.golden.ports import Array, Bits, Field, PEPorts, Struct

from ..common import PEConfigBase, check_bool, check_choice, check_int, check_weight_formats

__all__ = ['ACT_FORMATS', 'BitSerialConfig']


#: Activation formats and their widths: integers (exact datapath) and FP16/BF16 (exponent
#: alignment datapath with an FP32 group accumulator).
ACT_FORMATS = {"int8": 8, "int16": 16, "fp16": 16, "bf16": 16}


_FP_FIELDS = {"fp16": (5, 10), "bf16": (8, 7)}


@dataclass(frozen=True, kw_only=True)
class BitSerialConfig(PEConfigBase):
    """Bit-serial PE (BitMoD-style).

    Parameters
    ----------
    weight_formats : tuple of str
        Data types a group may use (one or more of ``sim.golden.terms.BITSERIAL_WEIGHT_FORMATS``:
        int2-int8, uint2-uint8 with a zero point, ternary, fp4_e2m1, bitmod_fp4, bitmod_fp3).
    act_format : str
        ``"int8"`` or ``"int16"`` (two's complement, exact integer datapath), or ``"fp16"`` /
        ``"bf16"`` (finite values; exponent-alignment datapath, see
        :func:`sim.golden.pe.bitserial_fp_term_sum`: each term cycle aligns the lanes to their
        largest product exponent, truncating, and accumulates in FP32 with RNE; dequantization
        and the output accumulator are FP32 too).
    lanes : int
        Weights per beat (dot-product lanes), 1-16; BitMoD uses 4.
    group_size : int
        Weights per quantization group along K (one scale, zero point, data type), 1-4096; a
        multiple of ``lanes``.
    term_mode : str
        ``"booth"``: BitMoD's unified terms; ``"bitplane"``: one two's complement bit per cycle.
    scale_bits : int
        Width of the group scale, 1-8 (BitMoD: INT8); also the dequantization cycles.
    acc_bits : int
        Output accumulator width, 2-64 (wraps modulo 2**acc_bits); integer activations only
        (FP activations accumulate in FP32).
    k_max : int
        Largest K one output accumulates; ``acc_bits`` must hold it without wrapping.
    align_guard_bits : int
        FP activations: bits kept below an aligned significand's LSB, 0-12; more bits, less
        truncation error, wider adder tree.
    scale_signed : bool
        False: unsigned scale codes (0 .. 2^scale_bits - 1). True: two's complement (BitMoD's
        INT8 scale); the dequantizer's last step, the scale's sign bit, subtracts.
    """

    kind: ClassVar[str] = "bitserial"
    golden: ClassVar[GoldenModel] = BITSERIAL

    weight_formats: tuple[str, ...] = ("int4",)
    act_format: str = "int8"
    lanes: int = 4
    group_size: int = 128
    term_mode: str = "booth"
    scale_bits: int = 8
    acc_bits: int = 48
    k_max: int = 4096
    align_guard_bits: int = 4
    scale_signed: bool = False

    def __post_init__(self):
        check_weight_formats(self, T.BITSERIAL_WEIGHT_FORMATS)
        check_choice("act_format", self.act_format, tuple(ACT_FORMATS))
        check_int("lanes", self.lanes, 1, 16)
        check_int("group_size", self.group_size, 1, 4096)
        check_choice("term_mode", self.term_mode, T.TERM_MODES)
        check_int("scale_bits", self.scale_bits, 1, 8)
        check_int("acc_bits", self.acc_bits, 2, 64)
        check_int("k_max", self.k_max, 1, 1 << 24)
        check_int("align_guard_bits", self.align_guard_bits, 0, 12)
        check_bool("scale_signed", self.scale_signed)
        if self.scale_signed and self.scale_bits < 2:
            raise ValueError(f"scale_bits must be >= 2 for a signed scale, not {self.scale_bits}")
        if self.group_size % self.lanes:
            raise ValueError(f"group_size={self.group_size} must be a multiple of "
                             f"lanes={self.lanes}: a beat never straddles two groups")
        beats = self.group_size // self.lanes
        fastest = min(self.timing(f).cycles for f in self.weight_formats)
        if beats * fastest < self.scale_bits:
            raise ValueError(
                f"group_size={self.group_size} is too small: {beats} beat(s) of "
                f"{fastest} term cycle(s) last {beats * fastest} cycles, fewer than the "
                f"scale_bits={self.scale_bits} cycles of bit-serial dequantization; use "
                f"group_size >= {-(-self.scale_bits // fastest) * self.lanes}")
        need = self.required_acc_bits
        if not self.is_fp and self.acc_bits < need:
            raise ValueError(f"acc_bits={self.acc_bits} is too narrow: k_max={self.k_max} "
                             f"products of {self.act_format} x {'/'.join(self.weight_formats)} "
                             f"with {self.scale_bits}-bit scales need acc_bits >= {need}")

    # --- number representation -------------------------------------------------------------

    @property
    def act_bits(self) -> int:
        return ACT_FORMATS[self.act_format]

    @property
    def is_fp(self) -> bool:
        return self.act_format in _FP_FIELDS

    @property
    def sparse_terms(self) -> bool:
        """Whether the PE walks a weight's remaining magnitude bit by bit (Booth term mode
        with an FP4/FP3 format: a register of the remaining magnitude per lane); bit-plane
        mode reads every format's two's complement bits."""
        return self.term_mode == "booth" and any(T.is_sparse(f) for f in self.weight_formats)

    @property
    def act_fields(self) -> tuple[int, int]:
        """(exponent bits, mantissa bits) of FP activations."""
        return _FP_FIELDS[self.act_format]

    @property
    def frac_bits(self) -> int:
        """Common binary point of all formats' integer weights (1 when FP4 is among them)."""
        return max(T.frac_bits(f) for f in self.weight_formats)

    def extra_shift(self, fmt: str) -> int:
        """Left shift aligning ``fmt``'s integer weights to the common binary point."""
        return self.frac_bits - T.frac_bits(fmt)

    @property
    def code_bits(self) -> int:
        return max(get_weight_format(f).bits for f in self.weight_formats)

    @property
    def w_int_bits(self) -> int:
        """Width of the latched integer weight (before the alignment shift)."""
        return max(T.w_int_width(f) for f in self.weight_formats)

    @property
    def has_zero(self) -> bool:
        return any(f.startswith("uint") for f in self.weight_formats)

    @property
    def has_special(self) -> bool:
        return any(f.startswith("bitmod") for f in self.weight_formats)

    @property
    def dtype_bits(self) -> int:
        return (len(self.weight_formats) - 1).bit_length()

    @property
    def max_weight(self) -> int:
        """Largest weight magnitude in units of 2^-frac_bits."""
        return max(max(map(abs, T.w_int_range(f))) << self.extra_shift(f)
                   for f in self.weight_formats)

    @property
    def max_shift(self) -> int:
        """Largest term shift ``exp + bsig`` (plus alignment) of any format."""
        return max(self.max_weight.bit_length(), 1)

    @property
    def beats_per_group(self) -> int:
        """Beats of one full group (its accumulator is sized for that many)."""
        return self.group_size // self.lanes

    @property
    def group_acc_bits(self) -> int:
        """Exact width of a group sum."""
        amax = 1 << (self.act_bits - 1)
        bound = self.group_size * amax * self.max_weight
        return signed_bits_for_range(-bound, bound)

    @property
    def required_acc_bits(self) -> int:
        amax = 1 << (self.act_bits - 1)
        smax = 1 << (self.scale_bits - 1) if self.scale_signed else (1 << self.scale_bits) - 1
        bound = self.k_max * amax * self.max_weight * smax
        return signed_bits_for_range(-bound, bound)

    # --- timing (the RTL's measured cycles equal these) ---------------------------------------

    def _format_timing(self, fmt: str) -> BeatTiming:
        """One cycle per term of ``fmt``'s weights; the result of a ``last`` beat follows its
        terms, ``scale_bits`` dequantization cycles and one output register."""
        cycles = T.n_terms(fmt, self.term_mode)
        return BeatTiming(cycles=cycles, latency=cycles + self.scale_bits + 1)

    # --- ports -------------------------------------------------------------------------------

    @property
    def dataflows(self) -> tuple[str, ...]:
        # Output-stationary, as BitMoD's tiles are: a beat's length depends on each column's
        # data type, so the array steps at its slowest column; an output's group accumulator
        # and dequantizer stay in its PE (weight-stationary columns would need them per row).
        return ("os",)

    @property
    def organisations(self) -> tuple[str, ...]:
        # "shared": an output-stationary column streams the same weights past every row, so
        # one weight encoder at the top of the column serves all of them (BitMoD: one
        # encoder per tile).
        return ("standalone", "shared")

    @property
    def shared_head_cycles(self) -> int:
        """The column's encoder registers its integer weights: one stage."""
        return 1

    @property
    def shared_latency(self) -> int:
        """The encoder's register comes before a grid PE that still latches the integer
        weights on each beat (it holds them for the beat's terms, its row skewed from the
        others): a ``"shared"`` array's results come one cycle after a standalone one's."""
        return self.timing().latency + self.shared_head_cycles

    @property
    def shared_ports(self) -> PEPorts:
        """The grid PE of a ``"shared"`` array takes ``{w_int: lanes integer weights, scale,
        dtype (several formats)}``: the codes encoded, without the zero point and special
        value that only the encoder reads."""
        weight: dict[str, Field] = {"w_int": Array(Bits(self.w_int_bits, signed=True),
                                                   self.lanes),
                                    "scale": Bits(self.scale_bits)}
        if self.dtype_bits:
            weight["dtype"] = Bits(self.dtype_bits)
        p = self.ports
        return PEPorts(act=p.act, weight=Struct(weight), psum=p.psum)

    @property
    def ports(self) -> PEPorts:
        """``i_w`` is ``{code: lanes codes, scale, zero (unsigned formats), dtype (several
        formats), special (BitMoD formats)}``; FP activations are bit patterns."""
        act = Bits(16) if self.is_fp else Bits(self.act_bits, signed=True)
        weight: dict[str, Field] = {"code": Array(Bits(self.code_bits), self.lanes),
                                    "scale": Bits(self.scale_bits)}
        if self.has_zero:
            weight["zero"] = Bits(self.code_bits)
        if self.dtype_bits:
            weight["dtype"] = Bits(self.dtype_bits)
        if self.has_special:
            weight["special"] = Bits(2)
        return PEPorts(act=Array(act, self.lanes), weight=Struct(weight),
                       psum=Bits(32) if self.is_fp else Bits(self.acc_bits, signed=True))
