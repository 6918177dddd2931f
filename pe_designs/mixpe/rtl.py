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
length); a result appears ``config.timing().latency`` = ``1 + dq_cycles`` cycles after its ``last``
beat. An output closes on a ``last`` beat that is also ``group_end``; ``i_psum`` is taken on the
group's ``first`` beat, which must be the group's first; the zero point and scale are read from
the ``group_end`` beat. A group has at most ``group_size / lanes`` beats (the accumulators are
sized for that; the golden model rejects longer groups); shorter groups are fine.
"""

from amaranth import Array, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from mpgemm.hw.arith import adder_tree, select_valid, shift_add
from mpgemm.hw.contract import contract_plumbing, layout_of, pe_signature
from mpgemm.hw.fp import FP16, FP32, FPAdd, FPMul, IntScaleFP, round_pack, unpack

from .config import MixPEConfig

__all__ = ['MixPE', 'MixPEDot', 'MixPEColumnDequant', 'group_sums', 'dequant_correct',
           'dequant_scale']


def closing(m: Module, ctl) -> Signal:
    """``valid & group_end`` as one signal, which every use shares (a beat that closes its
    group)."""
    close = Signal(name="close")
    m.d.comb += close.eq(ctl.valid & ctl.group_end)
    return close


def group_sums(m: Module, c: MixPEConfig, i_a, q, ctl, close):
    """The lanes and the group accumulators of one beat: returns ``(P, A)`` including the
    beat (``A`` None without a zero point); the accumulators restart after a beat that
    ``close``s its group (:func:`closing`)."""
    take = ctl.valid
    if c.is_fp:
        p_next, a_next, p_acc, a_acc = _fp_lanes(m, c, i_a, q)
    else:
        prods = [shift_add(i_a[l], q[l], top_negative=c.weight_signed) for l in range(c.lanes)]
        p_acc = Signal(signed(c.group_acc_bits), name="p_acc")
        p_next = Signal(signed(c.group_acc_bits), name="p_next")
        m.d.comb += p_next.eq(p_acc + adder_tree(prods))
        a_acc = a_next = None
        if c.has_zero:
            a_acc = Signal(signed(c.act_sum_bits), name="a_acc")
            a_next = Signal(signed(c.act_sum_bits), name="a_next")
            m.d.comb += a_next.eq(a_acc + adder_tree(i_a[l] for l in range(c.lanes)))
    # Without a zero point there is no activation sum to keep.
    accs = [(p_acc, p_next)] + ([(a_acc, a_next)] if c.has_zero else [])
    with m.If(close):
        m.d.sync += [acc.eq(0) for acc, _ in accs]
    with m.Elif(take):
        m.d.sync += [acc.eq(nxt) for acc, nxt in accs]
    return p_next, a_next


def dequant_correct(m: Module, c: MixPEConfig, p, a, zero):
    """Dequantizer stage 1 (combinational): ``D = P - z * A`` (``D = P`` without a zero
    point)."""
    d = Signal(32 if c.is_fp else signed(c.corr_bits), name="d")
    if not c.has_zero:
        m.d.comb += d.eq(p)
    elif c.is_fp:
        # A is a sum of FP16 activations (multiples of 2^-24 and their aligned sums): never
        # an FP32 subnormal.
        za = m.submodules.zero_scale = IntScaleFP(c.weight_bits + 1, FP32, normal_scale=True)
        # P and z * A are multiples of 2^-24 (FP16 activations times integers, rounded to
        # FP32, whose grid there is finer): their difference is never an FP32 subnormal.
        sub = m.submodules.zero_sub = FPAdd(FP32, normal_sums=True)
        m.d.comb += [
            za.d.eq(zero), za.s.eq(a),
            sub.a.eq(p), sub.b.eq(za.y ^ (1 << 31)),
            d.eq(sub.s),
        ]
    else:
        m.d.comb += d.eq(p - shift_add(a, zero))
    return d


def dequant_scale(m: Module, c: MixPEConfig, d, scale, base):
    """Dequantizer stage 2 (combinational): ``y = base + s * D``."""
    psum_shape = unsigned(32) if c.is_fp else signed(c.acc_bits)
    y = Signal(psum_shape, name="y")
    if c.is_fp:
        # D is P - z * A: FP32 sums and differences of multiples of 2^-24 (FP16 activations
        # times integers), so a non-zero D is at least 2^-24, never an FP32 subnormal.
        mul = m.submodules.scale_mul = FPMul(FP32, FP32, b_fmt=FP16, normal_a=True)
        add = m.submodules.out_add = FPAdd(FP32)
        m.d.comb += [mul.a.eq(d), mul.b.eq(scale),
                     add.a.eq(base), add.b.eq(mul.p), y.eq(add.s)]
    else:
        m.d.comb += y.eq(base + shift_add(d, scale, top_negative=c.scale_signed))
    return y


class MixPE(wiring.Component):
    """MixPE implementing the PE contract (see the module docstring)."""

    def __init__(self, config: MixPEConfig):
        if not isinstance(config, MixPEConfig):
            raise TypeError(f"config must be a MixPEConfig, not {config!r}")
        self.config = config
        super().__init__(pe_signature(config.ports))

    def elaborate(self, platform):
        m = Module()
        c = self.config
        w = contract_plumbing(m, self)
        ctl = self.i_ctl
        take = ctl.valid
        close = closing(m, ctl)
        psum_shape = unsigned(32) if c.is_fp else signed(c.acc_bits)
        m.d.comb += self.o_ready.eq(1)

        # --- lanes and group accumulators (one beat per cycle) -------------------------------
        p_next, a_next = group_sums(m, c, self.i_a, w.q, ctl, close)

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
        s1_a = s1_zero = None
        if c.has_zero:
            s1_a = Signal.like(a_next, name="s1_a")
            s1_zero = Signal(c.weight_bits, name="s1_zero")
            with m.If(close):
                m.d.sync += [s1_a.eq(a_next), s1_zero.eq(w.zero)]
        d = dequant_correct(m, c, s1_p, s1_a, s1_zero)

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
        y = dequant_scale(m, c, s2_d, s2_scale, Mux(s2_first, s2_psum, out_acc))
        m.d.sync += self.o_valid.eq(s2_valid & s2_last)
        with m.If(s2_valid):
            m.d.sync += out_acc.eq(y)
            with m.If(s2_last):
                m.d.sync += self.o_psum.eq(y)
        return m


class MixPEDot(wiring.Component):
    """The grid PE of a ``"shared"`` MixPE array: MixPE's lanes and group sums without its
    dequantizer (ports: ``config.shared_ports``).

    A ``group_end`` beat hands the group's ``P`` and ``A`` (with ``first``: the group opens
    an output, ``last``: it closes one) to ``o_psum`` with ``o_valid`` high for one cycle, one
    cycle later; the column's :class:`MixPEColumnDequant` does the rest. An output-stationary
    array gives every output a zero start, so ``i_psum`` is unused.
    """

    def __init__(self, config: MixPEConfig):
        if not isinstance(config, MixPEConfig):
            raise TypeError(f"config must be a MixPEConfig, not {config!r}")
        self.config = config
        super().__init__(pe_signature(config.shared_ports))

    def elaborate(self, platform):
        m = Module()
        c = self.config
        w = contract_plumbing(m, self)
        ctl = self.i_ctl
        close = closing(m, ctl)
        m.d.comb += self.o_ready.eq(1)
        p_next, a_next = group_sums(m, c, self.i_a, w.q, ctl, close)
        grp_first = Signal()
        with m.If(close):
            m.d.sync += grp_first.eq(0)
        with m.Elif(ctl.valid & ctl.first):
            m.d.sync += grp_first.eq(1)
        m.d.sync += self.o_valid.eq(close)
        with m.If(close):
            m.d.sync += [self.o_psum.p.eq(p_next), self.o_psum.first.eq(ctl.first | grp_first),
                         self.o_psum.last.eq(ctl.last)]
            if c.has_zero:
                m.d.sync += self.o_psum.a.eq(a_next)
        return m


class MixPEColumnDequant(wiring.Component):
    """The dequantizer a ``"shared"`` MixPE array keeps at the foot of a column, serving
    ``rows`` of its grid PEs (rows whose group hand-offs never coincide: consecutive rows of an
    output-stationary column, at most ``beats_per_group`` of them).

    Ports: ``i_hand[r]``/``i_hand_valid[r]`` the hand-off of served row ``r``
    (:attr:`MixPEConfig.shared_ports`' psum); ``i_zero``/``i_scale`` the group's zero point and
    scale, valid from each served row's hand-off to the next cycle's; ``o_y``/``o_valid`` an
    output closed by a ``last`` group, with ``o_index`` its served row.

    The same two stages as MixPE's own dequantizer: ``D = P - z * A`` on the selected
    hand-off, registered, then ``y = (first ? 0 : Y[r]) + s * D`` into a register per served
    row, so an output appears ``dq_cycles`` cycles after its hand-off, as in the PE.

    ``read_out=False`` (an array's foot, which reads the rows itself): no output register;
    ``o_acc[r]`` is served row ``r``'s accumulator ``Y[r]``, which holds the output from
    ``dq_cycles`` cycles after the hand-off until the row's next output's first group.
    """

    def __init__(self, config: MixPEConfig, rows: int, *, read_out: bool = True):
        if not isinstance(config, MixPEConfig):
            raise TypeError(f"config must be a MixPEConfig, not {config!r}")
        if not isinstance(rows, int) or not 1 <= rows <= config.beats_per_group:
            raise ValueError(f"rows must be 1 to beats_per_group={config.beats_per_group} "
                             f"(hand-offs of more rows could coincide), not {rows!r}")
        self.config, self.rows, self.read_out = config, rows, read_out
        hand = layout_of(config.shared_ports.psum)
        psum = layout_of(config.ports.psum)
        ports = {
            "i_hand": In(data.ArrayLayout(hand, rows)), "i_hand_valid": In(rows),
            "i_zero": In(config.weight_bits), "i_scale": In(config.scale_port_bits),
        }
        if read_out:
            ports |= {"o_y": Out(psum), "o_valid": Out(1), "o_index": Out(range(rows))}
        else:
            ports["o_acc"] = Out(data.ArrayLayout(psum, rows))
        super().__init__(ports)

    def elaborate(self, platform):
        m = Module()
        c, rows = self.config, self.rows
        # At most one served row hands off per cycle: select it.
        hand, index = select_valid(m, [self.i_hand[r] for r in range(rows)], self.i_hand_valid,
                                   name="hand")
        d = dequant_correct(m, c, hand.p, hand.a if c.has_zero else None, self.i_zero)

        s2_valid, s2_first, s2_last = Signal(), Signal(), Signal()
        s2_d = Signal.like(d, name="s2_d")
        s2_scale = Signal(c.scale_port_bits)
        s2_index = Signal(range(rows))
        m.d.sync += s2_valid.eq(self.i_hand_valid.any())
        with m.If(self.i_hand_valid.any()):
            m.d.sync += [s2_d.eq(d), s2_scale.eq(self.i_scale), s2_first.eq(hand.first),
                         s2_last.eq(hand.last), s2_index.eq(index)]
        psum_shape = layout_of(c.ports.psum)
        acc = Array(Signal(psum_shape, name=f"y{r}") for r in range(rows))
        y = dequant_scale(m, c, s2_d, s2_scale, Mux(s2_first, 0, acc[s2_index]))
        with m.If(s2_valid):
            # One write enable per row (an indexed write would give partial case statements).
            for r in range(rows):
                with m.If(s2_index == r):
                    m.d.sync += acc[r].eq(y)
        if not self.read_out:
            m.d.comb += [self.o_acc[r].eq(acc[r]) for r in range(rows)]
            return m
        m.d.sync += self.o_valid.eq(s2_valid & s2_last)
        with m.If(s2_valid & s2_last):
            m.d.sync += [self.o_y.eq(y), self.o_index.eq(s2_index)]
        return m


def _fp_lanes(m, c, i_a, q_codes):
    """FP16 lanes: shift-and-add on the significand, exponent match, truncating alignment,
    exact lane sums rounded once to FP32, FP32 accumulation of ``P`` and ``A``."""
    g = c.align_guard_bits
    pw = 11 + c.weight_bits          # |a| * |q| on the activation's grid
    lanes = []
    for l in range(c.lanes):
        s, e, sig, _, _, _ = unpack(m, i_a[l], FP16, f"a{l}")
        q = q_codes[l]
        qneg = q[-1] if c.weight_signed else Const(0, 1)
        qmag = Signal(c.weight_bits, name=f"qmag{l}")
        # (-q)[:bits]: |q| fits the code's width; a wider negation would leave a bit unread.
        m.d.comb += qmag.eq(Mux(qneg, (-q)[:c.weight_bits], q))
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
        # The exponent's distance below the largest (never negative), one signal for both
        # of the clamp's uses. Beyond the aligned width every bit is dropped: clamp the
        # shifters.
        below = Signal(5, name=f"below{l}")
        m.d.comb += [
            below.eq(top - ex),
            dist.eq(Mux(below > pw + g, pw + g, below)),
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
        # An FP16 activation's grid times integers: far inside FP32's normal range (at least
        # 2^-(24 + g), at most 2^(16 + width)), so neither underflow nor overflow logic.
        sums.append(round_pack(m, sign=tot < 0, sig=mag, exp=exp, fmt=FP32,
                               name=f"{name}_rp", normal_only=True, finite=True))
    p_acc, p_next = Signal(32, name="p_acc"), Signal(32, name="p_next")
    # The group's sums start at zero and add beat sums of FP16 activations times integers:
    # multiples of 2^-24, never FP32 subnormals.
    p_add = m.submodules.p_add = FPAdd(FP32, normal_sums=True)
    m.d.comb += [p_add.a.eq(p_acc), p_add.b.eq(sums[0]), p_next.eq(p_add.s)]
    a_acc = a_next = None
    if c.has_zero:
        a_acc, a_next = Signal(32, name="a_acc"), Signal(32, name="a_next")
        a_add = m.submodules.a_add = FPAdd(FP32, normal_sums=True)
        m.d.comb += [a_add.a.eq(a_acc), a_add.b.eq(sums[1]), a_next.eq(a_add.s)]
    return p_next, a_next, p_acc, a_acc
