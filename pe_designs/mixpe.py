"""MixPE: shift-and-add mixed-precision PE with dequantization after the group (arXiv 2411.16158).

A beat brings ``lanes`` activations and ``lanes`` weight codes of one quantization group and is
done in one cycle:

* every lane multiplies by shift-and-add, ``a * q = sum_j q_j * (a << j)``
  (:func:`hw.arith.shift_add`; a two's complement weight subtracts its top term), and an adder
  tree sums the lanes into the group's product accumulator ``P``; a second tree sums the
  activations into ``A`` (only when weights have a zero point);
* FP16 activations: the shift by ``2^j`` is an exponent increment; a lane's terms share the
  activation's significand, so the lane forms ``m * |q|`` exactly by shift-and-add of the
  significand (the increment is each term's position, not an exponent adder), the lanes are
  aligned to the beat's largest exponent (truncating, ``align_guard_bits`` guard bits), summed
  exactly, rounded once to FP32 and added to FP32 accumulators ``P`` and ``A`` (the exact rules
  are in :mod:`sim.golden.mixpe`). Activations must be finite: the alignment datapath has no
  infinity or NaN path, so a non-finite activation gives an unspecified (finite) result, and
  the golden model rejects it.

A ``group_end`` beat hands ``P``, ``A``, the group's zero point and scale to the dequantizer, a
two-stage pipeline that runs once per group while the lanes already work on the next group:

1. ``D = P - z * A`` (integers: ``z * A`` by shift-and-add, exact; FP16 activations:
   ``RNE32(P - RNE32(z * A))``);
2. ``y = base + s * D`` (integers: an integer scale code by shift-and-add, wrapping at
   ``acc_bits``; FP16 activations: ``RNE32(base + RNE32(s * D))`` with an FP16 scale),

(the FP16 dequantizer's ``z * A`` and ``s * D`` are significand multipliers,
:class:`hw.fp.IntScaleFP` and :class:`hw.fp.FPMul`: used once per group, they are the only
multipliers in the PE),

where ``base`` is the group's ``first``-beat ``i_psum`` or the previous group's ``y``.

Fit with the PE contract (:mod:`hw.contract`): one beat per cycle (``o_ready`` is always high,
the dequantizer takes a new group every cycle, so it never stalls the lanes, whatever the group
length); a result appears ``config.latency`` = ``1 + dq_cycles`` cycles after its ``last``
beat. An output closes on a ``last`` beat that is also ``group_end``; ``i_psum`` is taken on the
group's ``first`` beat, which must be the group's first; the zero point and scale are read from
the ``group_end`` beat. A group has at most ``group_size / lanes`` beats (the accumulators are
sized for that; the golden model rejects longer groups); shorter groups are fine.
"""

from dataclasses import dataclass
from typing import ClassVar

from amaranth import Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from mpgemm.hw.arith import adder_tree, shift_add
from mpgemm.hw.contract import contract_plumbing, pe_signature
from mpgemm.hw.fp import FP16, FP32, FPAdd, FPMul, IntScaleFP, round_pack, unpack
from mpgemm.sim.golden.formats import signed_bits_for_range

from .common import check_bool, check_choice, check_int
from .mac import _ConfigMixin

__all__ = ["MixPEConfig", "MixPE", "ACT_FORMATS", "SCALE_FORMATS"]

#: Activation formats and their widths.
ACT_FORMATS = {"int8": 8, "int16": 16, "fp16": 16}
#: Scale formats: integer codes ``(bits, signed)`` for integer activations (the result stays
#: exact), FP16 for FP16 activations (the W4A16 convention of GPTQ/AWQ checkpoints).
SCALE_FORMATS = {"uint8": (8, False), "int8": (8, True), "uint16": (16, False),
                 "int16": (16, True), "fp16": (16, None)}


@dataclass(frozen=True, kw_only=True)
class MixPEConfig(_ConfigMixin):
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
    def latency(self) -> int:
        """Cycles from a ``last`` beat to its result: the group hand-off register, then the
        dequantizer's ``dq_cycles`` stages (the last one is the output register)."""
        return 1 + self.dq_cycles

    # --- ports -------------------------------------------------------------------------------

    @property
    def act_port_bits(self) -> int:
        return self.lanes * self.act_bits

    @property
    def weight_port_bits(self) -> int:
        return (self.lanes * self.weight_bits + (self.weight_bits if self.has_zero else 0)
                + self.scale_port_bits)

    @property
    def psum_bits(self) -> int:
        return 32 if self.is_fp else self.acc_bits

    def build(self) -> "MixPE":
        return MixPE(self)


class MixPE(wiring.Component):
    """MixPE implementing the PE contract (see the module docstring)."""

    def __init__(self, config: MixPEConfig):
        if not isinstance(config, MixPEConfig):
            raise TypeError(f"config must be a MixPEConfig, not {config!r}")
        self.config = config
        c = config
        fields = {"q": data.ArrayLayout(unsigned(c.weight_bits), c.lanes)}
        if c.has_zero:
            fields["zero"] = unsigned(c.weight_bits)
        fields["scale"] = unsigned(c.scale_port_bits)
        self.weight_layout = data.StructLayout(fields)
        act = unsigned(16) if c.is_fp else signed(c.act_bits)
        super().__init__(pe_signature(
            act_layout=data.ArrayLayout(act, c.lanes),
            weight_layout=self.weight_layout,
            psum_shape=unsigned(32) if c.is_fp else signed(c.acc_bits),
        ))

    def elaborate(self, platform):
        m = Module()
        c = self.config
        w = contract_plumbing(m, self)
        ctl = self.i_ctl
        take = ctl.valid
        close = ctl.valid & ctl.group_end
        psum_shape = unsigned(32) if c.is_fp else signed(c.acc_bits)
        m.d.comb += self.o_ready.eq(1)

        # --- lanes and group accumulators (one beat per cycle) -------------------------------
        if c.is_fp:
            p_next, a_next, p_acc, a_acc = self._fp_lanes(m, w)
        else:
            prods = [shift_add(self.i_a[l], w.q[l], top_negative=c.weight_signed)
                     for l in range(c.lanes)]
            p_acc = Signal(signed(c.group_acc_bits), name="p_acc")
            p_next = Signal(signed(c.group_acc_bits), name="p_next")
            m.d.comb += p_next.eq(p_acc + adder_tree(prods))
            a_acc = a_next = None
            if c.has_zero:
                a_acc = Signal(signed(c.act_sum_bits), name="a_acc")
                a_next = Signal(signed(c.act_sum_bits), name="a_next")
                m.d.comb += a_next.eq(a_acc + adder_tree(self.i_a[l] for l in range(c.lanes)))
        # Without a zero point there is no activation sum to keep.
        accs = [(p_acc, p_next)] + ([(a_acc, a_next)] if c.has_zero else [])
        with m.If(close):
            m.d.sync += [acc.eq(0) for acc, _ in accs]
        with m.Elif(take):
            m.d.sync += [acc.eq(nxt) for acc, nxt in accs]

        # The output's starting value, held from the group's `first` beat to its hand-off.
        grp_first = Signal()
        grp_psum = Signal(psum_shape)
        with m.If(close):
            m.d.sync += grp_first.eq(0)
        with m.Elif(take & ctl.first):
            m.d.sync += [grp_first.eq(1), grp_psum.eq(self.i_psum)]

        # --- dequantizer stage 1: D = P - z * A ------------------------------------------------
        s1_valid, s1_first, s1_last = Signal(), Signal(), Signal()
        s1_p = Signal.like(p_next, name="s1_p")
        s1_scale = Signal(c.scale_port_bits)
        s1_psum = Signal(psum_shape)
        m.d.sync += s1_valid.eq(close)
        with m.If(close):
            m.d.sync += [
                s1_p.eq(p_next), s1_scale.eq(w.scale),
                s1_first.eq(ctl.first | grp_first), s1_last.eq(ctl.last),
                s1_psum.eq(Mux(ctl.first, self.i_psum, grp_psum)),
            ]
        if c.has_zero:
            s1_a = Signal.like(a_next, name="s1_a")
            s1_zero = Signal(c.weight_bits, name="s1_zero")
            with m.If(close):
                m.d.sync += [s1_a.eq(a_next), s1_zero.eq(w.zero)]
        d = Signal(32 if c.is_fp else signed(c.corr_bits), name="d")
        if not c.has_zero:
            m.d.comb += d.eq(s1_p)
        elif c.is_fp:
            za = m.submodules.zero_scale = IntScaleFP(c.weight_bits + 1, FP32)
            sub = m.submodules.zero_sub = FPAdd(FP32)
            m.d.comb += [
                za.d.eq(s1_zero), za.s.eq(s1_a),
                sub.a.eq(s1_p), sub.b.eq(za.y ^ (1 << 31)),
                d.eq(sub.s),
            ]
        else:
            m.d.comb += d.eq(s1_p - shift_add(s1_a, s1_zero))

        # --- dequantizer stage 2: y = base + s * D ---------------------------------------------
        s2_valid, s2_first, s2_last = Signal(), Signal(), Signal()
        s2_d = Signal.like(d, name="s2_d")
        s2_scale = Signal(c.scale_port_bits)
        s2_psum = Signal(psum_shape)
        m.d.sync += s2_valid.eq(s1_valid)
        with m.If(s1_valid):
            m.d.sync += [s2_d.eq(d), s2_scale.eq(s1_scale), s2_first.eq(s1_first),
                         s2_last.eq(s1_last), s2_psum.eq(s1_psum)]
        out_acc = Signal(psum_shape)
        y = Signal(psum_shape, name="y")
        base = Mux(s2_first, s2_psum, out_acc)
        if c.is_fp:
            mul = m.submodules.scale_mul = FPMul(FP32, FP32, b_fmt=FP16)
            add = m.submodules.out_add = FPAdd(FP32)
            m.d.comb += [mul.a.eq(s2_d), mul.b.eq(s2_scale),
                         add.a.eq(base), add.b.eq(mul.p), y.eq(add.s)]
        else:
            m.d.comb += y.eq(base + shift_add(s2_d, s2_scale, top_negative=c.scale_signed))
        m.d.sync += self.o_valid.eq(s2_valid & s2_last)
        with m.If(s2_valid):
            m.d.sync += out_acc.eq(y)
            with m.If(s2_last):
                m.d.sync += self.o_psum.eq(y)
        return m

    def _fp_lanes(self, m, w):
        """FP16 lanes: shift-and-add on the significand, exponent match, truncating alignment,
        exact lane sums rounded once to FP32, FP32 accumulation of ``P`` and ``A``."""
        c = self.config
        g = c.align_guard_bits
        pw = 11 + c.weight_bits          # |a| * |q| on the activation's grid
        lanes = []
        for l in range(c.lanes):
            s, e, sig, _, _, _ = unpack(m, self.i_a[l], FP16, f"a{l}")
            q = w.q[l]
            qneg = q[-1] if c.weight_signed else Const(0, 1)
            qmag = Signal(c.weight_bits, name=f"qmag{l}")
            m.d.comb += qmag.eq(Mux(qneg, -q, q))
            prod = Signal(pw, name=f"prod{l}")
            m.d.comb += prod.eq(shift_add(sig, qmag))
            live = Signal(name=f"live{l}")
            ex = Signal(5, name=f"ex{l}")
            m.d.comb += [live.eq(sig != 0), ex.eq(Mux(live, e, 0))]
            lanes.append((s, ex, sig, prod, qneg))
        # Exponent match: the largest exponent among the non-zero activations.
        top = lanes[0][1]
        for i, lane in enumerate(lanes[1:]):
            nxt = Signal(5, name=f"emax{i}")
            m.d.comb += nxt.eq(Mux(lane[1] > top, lane[1], top))
            top = nxt
        pvals, avals = [], []
        for l, (s, ex, sig, prod, qneg) in enumerate(lanes):
            dist = Signal(range(pw + g + 1), name=f"dist{l}")
            pmag = Signal(pw + g, name=f"pal{l}")
            # Beyond the aligned width every bit is dropped: clamp the shifters.
            m.d.comb += [
                dist.eq(Mux(top - ex > pw + g, pw + g, top - ex)),
                pmag.eq((prod << g) >> dist),
            ]
            pvals.append(Mux(s ^ qneg, -pmag, pmag))
            if c.has_zero:
                amag = Signal(11 + g, name=f"aal{l}")
                m.d.comb += amag.eq((sig << g) >> dist)
                avals.append(Mux(s, -amag, amag))
        exp = Signal(signed(8), name="beat_exp")
        m.d.comb += exp.eq(top - (FP16.bias + FP16.man_bits + g))
        sums = []
        for name, vals, width in (("p", pvals, pw + g), ("a", avals, 11 + g))[:1 + c.has_zero]:
            tot = Signal(signed(width + 1 + c.lanes.bit_length()), name=f"{name}_beat")
            m.d.comb += tot.eq(adder_tree(vals))
            mag = Signal(len(tot), name=f"{name}_beat_mag")
            m.d.comb += mag.eq(Mux(tot < 0, -tot, tot))
            sums.append(round_pack(m, sign=tot < 0, sig=mag, exp=exp, fmt=FP32,
                                   name=f"{name}_rp"))
        p_acc, p_next = Signal(32, name="p_acc"), Signal(32, name="p_next")
        p_add = m.submodules.p_add = FPAdd(FP32)
        m.d.comb += [p_add.a.eq(p_acc), p_add.b.eq(sums[0]), p_next.eq(p_add.s)]
        a_acc = a_next = None
        if c.has_zero:
            a_acc, a_next = Signal(32, name="a_acc"), Signal(32, name="a_next")
            a_add = m.submodules.a_add = FPAdd(FP32)
            m.d.comb += [a_add.a.eq(a_acc), a_add.b.eq(sums[1]), a_next.eq(a_add.s)]
        return p_next, a_next, p_acc, a_acc
