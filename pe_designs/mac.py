"""Baseline MAC PEs that the seed papers compare against.

* :class:`IntMacPE` — integer multiply-accumulate, ``lanes`` products per beat, wrap-around
  accumulator of ``acc_bits``.
* :class:`Fp16MacPE` — the GPU tensor-core baseline: FP16 x FP16 products (exact in FP32), summed
  in FP32 with round-to-nearest-even after every addition.
* :class:`DequantMacPE` — how GPUs run W4A16 today: an INT-b weight with its group scale (FP16) and
  zero point is dequantized to FP16, ``w = RNE_fp16((q - z) * s)``, then fed to the FP16 MAC.

Each family has a frozen, validated config (the one object the RTL generator, the golden model in
:mod:`sim.golden.pe` and the cost model read) and a component implementing :mod:`hw.contract`.
"""

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

from amaranth import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from mpgemm.hw.arith import adder_tree
from mpgemm.hw.contract import contract_plumbing, pe_signature
from mpgemm.hw.fp import FP16, FP32, FPAdd, FPMul, IntScaleFP
from mpgemm.sim.golden.formats import int_range, signed_bits_for_range

from .common import check_bool, check_choice, check_int, check_pow2

__all__ = [
    "IntMacConfig", "IntMacPE",
    "Fp16MacConfig", "Fp16MacPE",
    "DequantMacConfig", "DequantMacPE",
]


class _ConfigMixin:
    kind: ClassVar[str]

    def to_dict(self) -> dict:
        """The config as plain data (``kind`` plus every field), as stored in the manifest."""
        return {"kind": self.kind, **dataclasses.asdict(self)}

    @property
    def cycles_per_beat(self) -> int:
        """Initiation interval: cycles between accepted beats (1 for every baseline MAC)."""
        return 1

    @property
    def macs_per_beat(self) -> int:
        return self.lanes

    @property
    def cycles_per_mac(self) -> float:
        """Cycles one PE spends per multiply-accumulate in steady state."""
        return self.cycles_per_beat / self.macs_per_beat

    def beat_timing(self, w) -> tuple[int, int]:
        """``(cycles, latency)`` of a beat with weight operand ``w`` (the PE contract's timing).

        Families whose timing depends on the weight (a bit-serial PE with several data types)
        override this; for the others it is ``(cycles_per_beat, latency)`` for every beat.
        """
        return self.cycles_per_beat, self.latency


class _PerFormatTiming:
    """Timing of PEs whose beat length depends on the weight data type (``weight_formats``).

    The family defines ``beat_cycles(fmt)`` and ``latency_for(fmt)``; the contract's worst-case
    figures and per-beat timing follow from them.
    """

    weight_formats: tuple[str, ...]

    def _check_weight_formats(self, allowed) -> None:
        """Validate ``weight_formats`` (a non-empty tuple of distinct names from ``allowed``);
        config files give lists, the frozen config keeps a (hashable) tuple."""
        formats = self.weight_formats
        if isinstance(formats, str) or not isinstance(formats, (tuple, list)) or not formats:
            raise TypeError(f"weight_formats must be a non-empty tuple of format names, "
                            f"not {formats!r}")
        object.__setattr__(self, "weight_formats", tuple(formats))
        for f in self.weight_formats:
            check_choice("weight_formats entry", f, allowed)
        if len(set(self.weight_formats)) != len(self.weight_formats):
            raise ValueError(f"weight_formats has duplicates: {self.weight_formats!r}")

    def _fmt(self, fmt: str | int) -> str:
        if isinstance(fmt, int):
            return self.weight_formats[fmt]
        if fmt not in self.weight_formats:
            raise ValueError(f"format {fmt!r} is not one of this config's weight_formats "
                             f"{self.weight_formats}")
        return fmt

    @property
    def cycles_per_weight(self) -> dict[str, int]:
        """Cycles per beat for each format."""
        return {f: self.beat_cycles(f) for f in self.weight_formats}

    @property
    def cycles_per_beat(self) -> int:
        """Worst case over the formats (the contract's scheduling bound)."""
        return max(self.cycles_per_weight.values())

    @property
    def latency(self) -> int:
        """Worst-case result latency over the formats (``latency_for`` gives each one's)."""
        return max(self.latency_for(f) for f in self.weight_formats)

    def beat_timing(self, w) -> tuple[int, int]:
        """``(cycles, latency)`` of a beat with weight operand ``w`` (its ``dtype`` decides)."""
        return self.beat_cycles(w.dtype), self.latency_for(w.dtype)


@dataclass(frozen=True, kw_only=True)
class IntMacConfig(_ConfigMixin):
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
    def latency(self) -> int:
        """Cycles from a ``last`` beat to its result on ``o_psum`` (one register stage)."""
        return 1

    @property
    def act_port_bits(self) -> int:
        return self.lanes * self.act_bits

    @property
    def weight_port_bits(self) -> int:
        return self.lanes * self.weight_bits

    @property
    def psum_bits(self) -> int:
        return self.acc_bits

    def build(self) -> "IntMacPE":
        return IntMacPE(self)


class IntMacPE(wiring.Component):
    """Integer MAC implementing the PE contract (see :mod:`hw.contract`).

    A beat computes ``acc = (first ? i_psum : acc) + sum_l i_a[l] * w[l]`` in ``acc_bits``
    two's complement with wrap-around; multiplies, adder tree and accumulate are one cycle.
    """

    def __init__(self, config: IntMacConfig):
        if not isinstance(config, IntMacConfig):
            raise TypeError(f"config must be an IntMacConfig, not {config!r}")
        self.config = config
        c = config
        a_shape = signed(c.act_bits) if c.act_signed else unsigned(c.act_bits)
        w_shape = signed(c.weight_bits) if c.weight_signed else unsigned(c.weight_bits)
        super().__init__(pe_signature(
            act_layout=data.ArrayLayout(a_shape, c.lanes),
            weight_layout=data.ArrayLayout(w_shape, c.lanes),
            psum_shape=signed(c.acc_bits),
        ))

    def elaborate(self, platform):
        m = Module()
        c = self.config
        w = contract_plumbing(m, self)
        dot = adder_tree(self.i_a[l] * w[l] for l in range(c.lanes))
        acc = Signal(signed(c.acc_bits))
        acc_next = Signal(signed(c.acc_bits))
        m.d.comb += [
            acc_next.eq(Mux(self.i_ctl.first, self.i_psum, acc) + dot),
            self.o_ready.eq(1),
        ]
        m.d.sync += self.o_valid.eq(self.i_ctl.valid & self.i_ctl.last)
        with m.If(self.i_ctl.valid):
            m.d.sync += acc.eq(acc_next)
            with m.If(self.i_ctl.last):
                m.d.sync += self.o_psum.eq(acc_next)
        return m


_FP_LANES = (1, 2, 4, 8)


@dataclass(frozen=True, kw_only=True)
class Fp16MacConfig(_ConfigMixin):
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
    def latency(self) -> int:
        """Two register stages: products and tree, then the FP32 accumulate."""
        return 2

    @property
    def act_port_bits(self) -> int:
        return 16 * self.lanes

    @property
    def weight_port_bits(self) -> int:
        return 16 * self.lanes

    @property
    def psum_bits(self) -> int:
        return 32

    @property
    def fp32_adders(self) -> int:
        """FP32 adders in the datapath: ``lanes - 1`` in the tree plus the accumulator's."""
        return self.lanes

    def build(self) -> "Fp16MacPE":
        return Fp16MacPE(self)


class Fp16MacPE(wiring.Component):
    """FP16 MAC with FP32 accumulation implementing the PE contract.

    Stage 1 registers the tree sum of the exact FP32 products, with the control bits and
    ``i_psum``; stage 2 adds it to ``first ? psum : acc``. NaN results are the canonical FP32
    quiet NaN (0x7FC00000); zeros, subnormals and infinities follow IEEE 754 (see :mod:`hw.fp`).
    """

    def __init__(self, config: Fp16MacConfig):
        if not isinstance(config, Fp16MacConfig):
            raise TypeError(f"config must be an Fp16MacConfig, not {config!r}")
        self.config = config
        super().__init__(pe_signature(
            act_layout=data.ArrayLayout(16, config.lanes),
            weight_layout=data.ArrayLayout(16, config.lanes),
            psum_shape=unsigned(32),
        ))

    def elaborate(self, platform):
        m = Module()
        c = self.config
        w = contract_plumbing(m, self)
        sums = []
        for l in range(c.lanes):
            mul = m.submodules[f"mul{l}"] = FPMul(FP16, FP32)
            m.d.comb += [mul.a.eq(self.i_a[l]), mul.b.eq(w[l])]
            sums.append(mul.p)
        level = 0
        while len(sums) > 1:
            nxt = []
            for i in range(0, len(sums), 2):
                add = m.submodules[f"tree{level}_{i // 2}"] = FPAdd(FP32)
                m.d.comb += [add.a.eq(sums[i]), add.b.eq(sums[i + 1])]
                nxt.append(add.s)
            sums, level = nxt, level + 1

        s1_sum = Signal(32)
        s1_psum = Signal(32)
        s1_valid = Signal()
        s1_first = Signal()
        s1_last = Signal()
        m.d.sync += [
            s1_sum.eq(sums[0]),
            s1_psum.eq(self.i_psum),
            s1_valid.eq(self.i_ctl.valid),
            s1_first.eq(self.i_ctl.first),
            s1_last.eq(self.i_ctl.last),
        ]

        acc = Signal(32)
        accadd = m.submodules.acc_add = FPAdd(FP32)
        m.d.comb += [
            accadd.a.eq(Mux(s1_first, s1_psum, acc)),
            accadd.b.eq(s1_sum),
            self.o_ready.eq(1),
        ]
        m.d.sync += self.o_valid.eq(s1_valid & s1_last)
        with m.If(s1_valid):
            m.d.sync += acc.eq(accadd.s)
            with m.If(s1_last):
                m.d.sync += self.o_psum.eq(accadd.s)
        return m


@dataclass(frozen=True, kw_only=True)
class DequantMacConfig(_ConfigMixin):
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
    def latency(self) -> int:
        """One dequantization stage in front of the FP16 MAC's two."""
        return 1 + self.mac.latency

    @property
    def act_port_bits(self) -> int:
        return 16 * self.lanes

    @property
    def weight_port_bits(self) -> int:
        return self.lanes * self.weight_bits + 16 + self.weight_bits

    @property
    def psum_bits(self) -> int:
        return 32

    def build(self) -> "DequantMacPE":
        return DequantMacPE(self)


class DequantMacPE(wiring.Component):
    """Dequantize-then-MAC PE implementing the PE contract.

    ``i_w`` is a struct ``{q: lanes x weight code, scale: FP16, zero: zero point}``. Stage 0
    computes ``RNE_fp16((q - zero) * scale)`` for each lane (exact integer difference, one
    rounding) and registers it with the activations and control; an :class:`Fp16MacPE` does the
    rest, so the result appears ``config.latency`` = 3 cycles after a ``last`` beat.
    """

    def __init__(self, config: DequantMacConfig):
        if not isinstance(config, DequantMacConfig):
            raise TypeError(f"config must be a DequantMacConfig, not {config!r}")
        self.config = config
        c = config
        code = signed(c.weight_bits) if c.weight_signed else unsigned(c.weight_bits)
        self.weight_layout = data.StructLayout({
            "q": data.ArrayLayout(code, c.lanes),
            "scale": unsigned(16),
            "zero": code,
        })
        super().__init__(pe_signature(
            act_layout=data.ArrayLayout(16, c.lanes),
            weight_layout=self.weight_layout,
            psum_shape=unsigned(32),
        ))

    def elaborate(self, platform):
        m = Module()
        c = self.config
        w = contract_plumbing(m, self)
        mac = m.submodules.mac = Fp16MacPE(c.mac)
        for l in range(c.lanes):
            dq = m.submodules[f"dequant{l}"] = IntScaleFP(c.diff_bits, FP16)
            m.d.comb += [dq.d.eq(w.q[l] - w.zero), dq.s.eq(w.scale)]
            m.d.sync += mac.i_w[l].eq(dq.y)
        m.d.sync += [
            mac.i_a.eq(self.i_a),
            mac.i_psum.eq(self.i_psum),
            mac.i_ctl.eq(self.i_ctl),
            # The dequantized weights are registered every cycle, so the MAC always streams them.
            mac.i_ctl.load_w.eq(1),
        ]
        m.d.comb += [
            self.o_psum.eq(mac.o_psum),
            self.o_valid.eq(mac.o_valid),
            self.o_ready.eq(1),
        ]
        return m
