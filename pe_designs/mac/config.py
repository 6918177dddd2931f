"""Configs of the mac family: pure Python (no Amaranth), read by the RTL generator,
the golden model and the cost model alike (see :mod:`mpgemm.pe_designs.mac`)."""

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from mpgemm.sim.golden.contract import BeatTiming, GoldenModel
from mpgemm.sim.golden.formats import int_range, signed_bits_for_range
from mpgemm.sim.golden.mac import DEQUANT_MAC, FP16_MAC, INT_MAC
from mpgemm.sim.golden.ports import Array, Bits, Field, PEPorts, Struct

from ..common import PEConfigBase, check_bool, check_choice, check_int, check_pow2

__all__ = ['IntMacConfig', 'Fp16MacConfig', 'DequantMacConfig']


_FP_LANES = (1, 2, 4, 8)


@dataclass(frozen=True, kw_only=True)
class IntMacConfig(PEConfigBase):
    """Integer MAC PE.

    Parameters
    ----------
    act_bits, weight_bits : int
        Operand widths, 1-16 bits (signed operands need at least 2).
    act_signed, weight_signed : bool
        Two's complement (True) or unsigned operands.
    lanes : int
        Products summed per beat (a dot-product unit), 1-64.
    acc_bits : int
        Accumulator and partial-sum width, 2-64; the accumulator wraps modulo 2**acc_bits.
    k_max : int
        Largest number of products one output accumulates; ``acc_bits`` must hold that sum
        without wrapping, so a too-narrow accumulator is rejected here rather than found in silicon.
    """

    kind: ClassVar[str] = "int_mac"
    golden: ClassVar[GoldenModel] = INT_MAC

    act_bits: int = 8
    act_signed: bool = True
    weight_bits: int = 8
    weight_signed: bool = True
    lanes: int = 1
    acc_bits: int = 32
    k_max: int = 4096

    def __post_init__(self):
        check_bool("act_signed", self.act_signed)
        check_bool("weight_signed", self.weight_signed)
        check_int("act_bits", self.act_bits, 2 if self.act_signed else 1, 16)
        check_int("weight_bits", self.weight_bits, 2 if self.weight_signed else 1, 16)
        check_int("lanes", self.lanes, 1, 64)
        check_int("acc_bits", self.acc_bits, 2, 64)
        check_int("k_max", self.k_max, 1, 1 << 24)
        need = self.required_acc_bits
        if self.acc_bits < need:
            raise ValueError(
                f"acc_bits={self.acc_bits} is too narrow: k_max={self.k_max} products of "
                f"{self.act_name} x {self.weight_name} need acc_bits >= {need}"
            )

    @property
    def act_name(self) -> str:
        return f"{'int' if self.act_signed else 'uint'}{self.act_bits}"

    @property
    def weight_name(self) -> str:
        return f"{'int' if self.weight_signed else 'uint'}{self.weight_bits}"

    @property
    def product_range(self) -> tuple[int, int]:
        alo, ahi = int_range(self.act_bits, self.act_signed)
        wlo, whi = int_range(self.weight_bits, self.weight_signed)
        corners = [alo * wlo, alo * whi, ahi * wlo, ahi * whi]
        return min(corners), max(corners)

    @property
    def product_bits(self) -> int:
        return signed_bits_for_range(*self.product_range)

    @property
    def required_acc_bits(self) -> int:
        lo, hi = self.product_range
        return signed_bits_for_range(lo * self.k_max, hi * self.k_max)

    @property
    def act_format(self) -> str:
        return self.act_name

    @property
    def weight_formats(self) -> tuple[str, ...]:
        return (self.weight_name,)

    @property
    def group_size(self) -> None:
        """No quantization groups: the MAC accumulates integers without group scales."""
        return None

    def _format_timing(self, fmt: str) -> BeatTiming:
        # A beat per cycle; the result is one register stage after the last beat.
        return BeatTiming(cycles=1, latency=1)

    @property
    def dataflows(self) -> tuple[str, ...]:
        # A beat per cycle with a fixed result latency: a grid of these streams either way.
        return ("os", "ws")

    @property
    def ports(self) -> PEPorts:
        return PEPorts(
            act=Array(Bits(self.act_bits, self.act_signed), self.lanes),
            weight=Array(Bits(self.weight_bits, self.weight_signed), self.lanes),
            psum=Bits(self.acc_bits, signed=True),
        )



@dataclass(frozen=True, kw_only=True)
class Fp16MacConfig(PEConfigBase):
    """FP16 x FP16 MAC with FP32 accumulation (the tensor-core baseline).

    Parameters
    ----------
    lanes : int
        Products per beat, a power of two in 1-8. The products are summed in a balanced tree of
        FP32 adders (pairs of adjacent lanes first), then added to the accumulator; every addition
        rounds to nearest even. The golden model sums in exactly this order.
    act_format, weight_format : str
        Only ``"fp16"``: an FP16 x FP16 product is exact in FP32, which the datapath relies on.
    acc_format : str
        Only ``"fp32"``.
    """

    kind: ClassVar[str] = "fp16_mac"
    golden: ClassVar[GoldenModel] = FP16_MAC
    fp16_product_psums: ClassVar[bool] = True

    lanes: int = 1
    act_format: str = "fp16"
    weight_format: str = "fp16"
    acc_format: str = "fp32"

    def __post_init__(self):
        check_pow2("lanes", self.lanes, 1, 8)
        check_choice("act_format", self.act_format, ("fp16",))
        check_choice("weight_format", self.weight_format, ("fp16",))
        check_choice("acc_format", self.acc_format, ("fp32",))

    @property
    def weight_formats(self) -> tuple[str, ...]:
        return (self.weight_format,)

    @property
    def group_size(self) -> None:
        """No quantization groups: FP16 weights carry no group scales."""
        return None

    def _format_timing(self, fmt: str) -> BeatTiming:
        # Two register stages: products and tree, then the FP32 accumulate.
        return BeatTiming(cycles=1, latency=2)

    @property
    def dataflows(self) -> tuple[str, ...]:
        # A beat per cycle with a fixed result latency: a grid of these streams either way.
        return ("os", "ws")

    @property
    def ports(self) -> PEPorts:
        return PEPorts(act=Array(Bits(16), self.lanes), weight=Array(Bits(16), self.lanes),
                       psum=Bits(32))

    @property
    def fp32_adders(self) -> int:
        """FP32 adders in the datapath: ``lanes - 1`` in the tree plus the accumulator's."""
        return self.lanes



@dataclass(frozen=True, kw_only=True)
class DequantMacConfig(PEConfigBase):
    """Dequantize-then-MAC PE: INT-b weights, FP16 group scale, zero point, FP16 x FP16 MAC.

    Parameters
    ----------
    weight_bits : int
        Weight code width, 2-8.
    weight_signed : bool
        False: unsigned codes with an unsigned ``weight_bits`` zero point (asymmetric, GPTQ/AWQ
        style). True: two's complement codes; the zero point field is then signed too and is 0 for
        symmetric quantization.
    lanes : int
        Weights per beat, a power of two in 1-8; all lanes of a beat share the group's scale and
        zero point, so ``lanes`` must divide ``group_size``.
    group_size : int
        Quantization group size G along K (the weights sharing one scale), 1-4096. The PE takes
        the scale and zero point with every beat (as GPU kernels hand each thread its group's
        scale), so G does not change the generated hardware; it is the design point's contract
        with its workloads (the cost model rejects a workload whose groups are not a multiple of
        G) and with the golden GEMM model, which expands per-group scales to every row.
    scale_format : str
        Only ``"fp16"``.
    """

    kind: ClassVar[str] = "dequant_mac"
    golden: ClassVar[GoldenModel] = DEQUANT_MAC
    fp16_product_psums: ClassVar[bool] = True

    weight_bits: int = 4
    weight_signed: bool = False
    lanes: int = 1
    group_size: int = 128
    scale_format: str = "fp16"

    def __post_init__(self):
        check_int("weight_bits", self.weight_bits, 2, 8)
        check_bool("weight_signed", self.weight_signed)
        check_pow2("lanes", self.lanes, 1, 8)
        check_int("group_size", self.group_size, 1, 4096)
        check_choice("scale_format", self.scale_format, ("fp16",))
        if self.group_size % self.lanes:
            raise ValueError(
                f"group_size={self.group_size} must be a multiple of lanes={self.lanes}: "
                f"the lanes of one beat share a group's scale"
            )

    @property
    def mac(self) -> Fp16MacConfig:
        """The FP16 MAC this PE feeds (a submodule of the generated design)."""
        return Fp16MacConfig(lanes=self.lanes)

    @property
    def weight_name(self) -> str:
        return f"{'int' if self.weight_signed else 'uint'}{self.weight_bits}"

    @property
    def diff_bits(self) -> int:
        """Width of ``q - z``: one more than the code, for both signednesses."""
        return self.weight_bits + 1

    @property
    def act_format(self) -> str:
        return "fp16"

    @property
    def weight_formats(self) -> tuple[str, ...]:
        return (self.weight_name,)

    def _format_timing(self, fmt: str) -> BeatTiming:
        # One dequantization stage in front of the FP16 MAC's two.
        mac = self.mac.timing()
        return BeatTiming(cycles=mac.cycles, latency=1 + mac.latency)

    @property
    def dataflows(self) -> tuple[str, ...]:
        # A beat per cycle with a fixed result latency: a grid of these streams either way.
        return ("os", "ws")

    @property
    def organisations(self) -> tuple[str, ...]:
        # "shared": an output-stationary column streams the same weights past every row, so
        # one dequantizer at the top of the column serves all of them.
        return ("standalone", "shared")

    @property
    def shared_ports(self) -> PEPorts:
        """The grid PE of a ``"shared"`` array is the FP16 MAC (``mac``): it takes the
        dequantized FP16 weights."""
        return self.mac.ports

    @property
    def shared_head_cycles(self) -> int:
        """The column head is the PE's own dequantizer stage (one register)."""
        return 1

    @property
    def ports(self) -> PEPorts:
        """``i_w`` is ``{q: lanes codes, scale: FP16, zero: zero point}``."""
        code = Bits(self.weight_bits, self.weight_signed)
        weight: dict[str, Field] = {"q": Array(code, self.lanes), "scale": Bits(16),
                                    "zero": code}
        return PEPorts(act=Array(Bits(16), self.lanes), weight=Struct(weight), psum=Bits(32))


if TYPE_CHECKING:
    # For the type checker: each config provides what its golden model reads.
    from mpgemm.sim.golden.mac import DequantMacLike, Fp16MacLike, IntMacLike

    _INT_MAC: type[IntMacLike] = IntMacConfig
    _FP16_MAC: type[Fp16MacLike] = Fp16MacConfig
    _DEQUANT_MAC: type[DequantMacLike] = DequantMacConfig
