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

from amaranth import Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from mpgemm.hw.arith import adder_tree
from mpgemm.hw.contract import (
    contract_plumbing,
    layout_of,
    pe_signature,
    without_weight_register,
)
from mpgemm.hw.fp import FP16, FP32, FPAdd, FPMul, IntScaleFP

from .config import DequantMacConfig, Fp16MacConfig, IntMacConfig

__all__ = ['IntMacPE', 'Fp16MacPE', 'DequantMacPE', 'DequantColumnHead']


class IntMacPE(wiring.Component):
    """Integer MAC implementing the PE contract (see :mod:`hw.contract`).

    A beat computes ``acc = (first ? i_psum : acc) + sum_l i_a[l] * w[l]`` in ``acc_bits``
    two's complement with wrap-around; multiplies, adder tree and accumulate are one cycle.
    """

    def __init__(self, config: IntMacConfig):
        if not isinstance(config, IntMacConfig):
            raise TypeError(f"config must be an IntMacConfig, not {config!r}")
        self.config = config
        super().__init__(pe_signature(config.ports))

    def elaborate(self, platform):
        m = Module()
        c = self.config
        w = contract_plumbing(m, self)
        dot = adder_tree(self.i_a[l] * w[l] for l in range(c.lanes))
        acc = Signal(signed(c.acc_bits))
        acc_next = Signal(signed(c.acc_bits))
        # The accumulate is an unsigned add of the sign-extended dot product: same bits modulo
        # 2**acc_bits. Written as a signed `acc + dot`, Yosys merges the multipliers and the add
        # into one $macc cell and lowers it to an acc_bits-wide adder tree of LUTs; this way it
        # keeps a multiplier and a carry-chain adder (on iCE40 about 160 LUT4 less per 8x8 MAC).
        dot_ext = Signal(signed(c.acc_bits))
        m.d.comb += [
            dot_ext.eq(dot),
            acc_next.eq(Mux(self.i_ctl.first, self.i_psum, acc).as_unsigned()
                        + dot_ext.as_unsigned()),
            self.o_ready.eq(1),
        ]
        m.d.sync += self.o_valid.eq(self.i_ctl.valid & self.i_ctl.last)
        with m.If(self.i_ctl.valid):
            m.d.sync += acc.eq(acc_next)
            with m.If(self.i_ctl.last):
                m.d.sync += self.o_psum.eq(acc_next)
        return m


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
        super().__init__(pe_signature(config.ports))

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
                # Sums of exact FP16 x FP16 products: multiples of 2^-48, never subnormal.
                add = m.submodules[f"tree{level}_{i // 2}"] = FPAdd(FP32, normal_sums=True)
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


class DequantColumnHead(wiring.Component):
    """The dequantizer of a ``"shared"`` dequantize-then-MAC array, one at the top of each
    output-stationary column: ``o_w`` (lanes of FP16, the grid's :class:`Fp16MacPE` weights)
    is ``RNE_fp16((q - zero) * scale)`` of ``i_w``, registered, as stage 0 of
    :class:`DequantMacPE` computes it for itself."""

    def __init__(self, config: DequantMacConfig):
        if not isinstance(config, DequantMacConfig):
            raise TypeError(f"config must be a DequantMacConfig, not {config!r}")
        self.config = config
        super().__init__({"i_w": In(layout_of(config.ports.weight)),
                          "o_w": Out(layout_of(config.shared_ports.weight))})

    def elaborate(self, platform):
        m = Module()
        c = self.config
        for l in range(c.lanes):
            dq = m.submodules[f"dequant{l}"] = IntScaleFP(c.diff_bits, FP16)
            m.d.comb += [dq.d.eq(self.i_w.q[l] - self.i_w.zero), dq.s.eq(self.i_w.scale)]
            m.d.sync += self.o_w[l].eq(dq.y)
        return m


class DequantMacPE(wiring.Component):
    """Dequantize-then-MAC PE implementing the PE contract.

    ``i_w`` is a struct ``{q: lanes x weight code, scale: FP16, zero: zero point}``. Stage 0
    computes ``RNE_fp16((q - zero) * scale)`` for each lane (exact integer difference, one
    rounding) and registers it with the activations and control; an :class:`Fp16MacPE` does the
    rest, so the result appears ``config.timing().latency`` = 3 cycles after a ``last`` beat.
    """

    def __init__(self, config: DequantMacConfig):
        if not isinstance(config, DequantMacConfig):
            raise TypeError(f"config must be a DequantMacConfig, not {config!r}")
        self.config = config
        super().__init__(pe_signature(config.ports))

    def elaborate(self, platform):
        m = Module()
        c = self.config
        w = contract_plumbing(m, self)
        # The MAC streams the registered dequantized weights (load_w high on every beat).
        mac = m.submodules.mac = without_weight_register(Fp16MacPE(c.mac))
        for l in range(c.lanes):
            dq = m.submodules[f"dequant{l}"] = IntScaleFP(c.diff_bits, FP16)
            m.d.comb += [dq.d.eq(w.q[l] - w.zero), dq.s.eq(w.scale)]
            m.d.sync += mac.i_w[l].eq(dq.y)
        m.d.sync += [
            mac.i_a.eq(self.i_a),
            mac.i_psum.eq(self.i_psum),
            mac.i_ctl.eq(self.i_ctl),
            mac.i_ctl.load_w.eq(1),
        ]
        m.d.comb += [
            self.o_psum.eq(mac.o_psum),
            self.o_valid.eq(mac.o_valid),
            self.o_ready.eq(1),
        ]
        return m
