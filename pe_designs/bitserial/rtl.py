"""Bit-serial PE family (BitMoD, HPCA 2025; Stripes-style bit-plane mode for comparison).

A beat brings ``lanes`` activations and ``lanes`` weight codes of one quantization group. The PE
turns each weight into bit-serial terms (:mod:`sim.golden.terms`: radix-4 Booth digits for
integers and ternary, non-zero bits for FP4/FP3) and spends one cycle per term: every lane shifts
its activation by the term's ``exp + bsig``, negates it for a negative term, and an adder tree
adds the lanes into the *group accumulator* (exact integer; FP32 for FP16/BF16 activations). When
a beat closes a group (``group_end``), the group sum moves to the *bit-serial dequantization
unit*, which multiplies it by the group's ``scale_bits``-bit scale (unsigned, or two's
complement with ``scale_signed``) one scale bit per cycle (shift-and-add into the output
accumulator) while the datapath already works on the next group. Full groups last at least
``scale_bits`` cycles (checked by the config), so dequantization never stalls the datapath; a
shorter (partial) group that closes while the dequantizer is busy waits in its last term cycle
with ``o_ready`` low until it is free.

Each group picks its data type from ``weight_formats`` (BitMoD's per-group mixture of data
types): the weight beat carries the format index, the zero point (unsigned formats) and the
special-value selector (BitMoD FP4/FP3). Weights of every format are aligned to a common binary
point (``frac_bits``), so groups of different types add up in one output.

Fit with the PE contract (:mod:`hw.contract`): timing depends on the group's data type, so the
config's ``beat_timing(w)`` gives each beat's cycles (``beat_cycles(f)``, one per term) and
result latency (``latency_for(f)``); ``cycles_per_beat`` and ``latency`` are the worst cases over
the formats, which a scheduler that does not track data types can use. ``o_ready`` is low while a
beat's terms are being processed except in the last term cycle, when the next beat can be
accepted. An output closes on a ``last`` beat that is also ``group_end``; ``i_psum`` is taken
on the group's ``first`` beat, which must be the group's first; a group keeps one data type,
zero point and special value, and its scale is read from its ``group_end`` beat. Data-type codes
past the last format behave as the first format.

Turning a code into its integer weight (the data type's table, the zero point, the special
value) is BitMoD's weight encoder: a standalone PE encodes every beat itself; a ``"shared"``
array (:mod:`mpgemm.hw.array.shared`) encodes each column's beats once, at its top
(:class:`BitSerialColumnEncoder`), and its grid PEs (``BitSerialPE(config,
encoded_input=True)``) take the integer weights.
"""

from amaranth import Array, Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from mpgemm.hw.arith import adder_tree
from mpgemm.hw.contract import contract_plumbing, layout_of, pe_signature
from mpgemm.hw.fp import FP32, FPAdd, round_pack, unpack
from mpgemm.sim.golden import terms as T
from mpgemm.sim.golden.formats import get_weight_format

from .config import BitSerialConfig

__all__ = ['BitSerialPE', 'BitSerialColumnEncoder', 'encode_lane']


def _by_dtype(values: list, index):
    """``values[index]`` as a complete case: codes past the last format select the first one.

    A ``dtype`` code with no format behind it is a caller error; giving it a defined meaning
    keeps the generated case statements full (no latches, no X in simulation).
    """
    if len(values) == 1:
        return values[0]
    padded = list(values) + [values[0]] * ((1 << len(index)) - len(values))
    return Array(padded)[index]


def _w_int(m, config: BitSerialConfig, fmt: str, code, w):
    """Integer weight of ``code`` read as ``fmt`` (combinational)."""
    c = config
    out = Signal(signed(c.w_int_bits), name=f"wint_{fmt}")
    fobj = get_weight_format(fmt)
    if fmt.startswith("int") or fmt == "ternary":
        m.d.comb += out.eq(code[:fobj.bits].as_signed())
    elif fmt.startswith("uint"):
        m.d.comb += out.eq(code[:fobj.bits] - w.zero[:fobj.bits])
    else:
        # FP codes: a small table from the single format definition in sim.golden.
        specials = range(4) if fmt.startswith("bitmod") else range(1)
        table = Array(
            Const(T.weight_int(fmt, cd, special=sp), signed(c.w_int_bits))
            for sp in specials for cd in range(1 << fobj.bits))
        index = code[:fobj.bits]
        if fmt.startswith("bitmod"):
            index = Cat(code[:fobj.bits], w.special)
        m.d.comb += out.eq(table[index])
    return out


def encode_lane(m, config: BitSerialConfig, w, dtype, lane: int):
    """The weight encoder of one lane (combinational): the integer weight ``w_in<lane>`` of
    code ``w.code[lane]`` in the beat's data type ``dtype``, with the group's zero point and
    special value from the weight word ``w``. A standalone PE encodes every beat itself; a
    ``"shared"`` array encodes once per column (:class:`BitSerialColumnEncoder`)."""
    cands = [_w_int(m, config, f, w.code[lane], w) for f in config.weight_formats]
    sel = Signal(signed(config.w_int_bits), name=f"w_in{lane}")
    m.d.comb += sel.eq(_by_dtype(cands, dtype))
    return sel


class BitSerialColumnEncoder(wiring.Component):
    """The weight encoder of a ``"shared"`` bit-serial array, one at the top of each
    output-stationary column (BitMoD has one per tile, not per PE): ``o_w`` (the grid PEs'
    weight word, :attr:`BitSerialConfig.shared_ports`) is ``i_w`` with each lane's code, read
    in the group's data type with its zero point and special value, turned into its integer
    weight (:func:`encode_lane`), registered; the scale and data type pass through the same
    register (the grid PEs' dequantizers and term walks use them)."""

    def __init__(self, config: BitSerialConfig):
        if not isinstance(config, BitSerialConfig):
            raise TypeError(f"config must be a BitSerialConfig, not {config!r}")
        self.config = config
        super().__init__({"i_w": In(layout_of(config.ports.weight)),
                          "o_w": Out(layout_of(config.shared_ports.weight))})

    def elaborate(self, platform):
        m = Module()
        c = self.config
        dtype = self.i_w.dtype if c.dtype_bits else Const(0, 1)
        for l in range(c.lanes):
            m.d.sync += self.o_w.w_int[l].eq(encode_lane(m, c, self.i_w, dtype, l))
        m.d.sync += self.o_w.scale.eq(self.i_w.scale)
        if c.dtype_bits:
            m.d.sync += self.o_w.dtype.eq(self.i_w.dtype)
        return m


class BitSerialPE(wiring.Component):
    """Bit-serial PE implementing the PE contract (see the module docstring).

    ``encoded_input=True``: the grid PE of a ``"shared"`` array (ports
    ``config.shared_ports``), whose weight word carries each lane's integer weight from the
    column's :class:`BitSerialColumnEncoder` instead of the code; the term walk, group
    accumulator and bit-serial dequantizer are the standalone PE's.
    """

    def __init__(self, config: BitSerialConfig, *, encoded_input: bool = False):
        if not isinstance(config, BitSerialConfig):
            raise TypeError(f"config must be a BitSerialConfig, not {config!r}")
        self.config = config
        self.encoded_input = encoded_input
        super().__init__(pe_signature(config.shared_ports if encoded_input else config.ports))

    def elaborate(self, platform):
        m = Module()
        c = self.config
        lanes = c.lanes
        nfmt = len(c.weight_formats)
        w = contract_plumbing(m, self)

        # --- beat acceptance ---------------------------------------------------------------
        remaining = Signal(range(c.timing().cycles + 1))   # term cycles left of this beat
        step = Signal(range(max(c.timing().cycles, 2)))     # index of the current term
        ready = Signal()
        # The last term cycle of a group waits while the dequantizer still works on the
        # previous group (only groups shorter than scale_bits cycles ever see this).
        stall = Signal()
        dq_left = Signal(range(c.scale_bits + 1))
        m.d.comb += [ready.eq((remaining <= 1) & ~stall), self.o_ready.eq(ready)]
        accept = Signal()
        m.d.comb += accept.eq(self.i_ctl.valid & ready)

        # The beat's format, held for its terms; a one-format PE has none to hold.
        dtype = Signal(range(nfmt), name="dtype") if c.dtype_bits else Const(0, 1)
        a_reg = Signal(self.i_a.shape())
        w_int = [Signal(signed(c.w_int_bits), name=f"w_int{l}") for l in range(lanes)]
        # Sparse (FP4/FP3) terms walk the remaining magnitude |w| bit by bit (not in bit-plane
        # mode, which reads every format's two's complement bits).
        sparse = c.sparse_terms
        rest = [Signal(c.w_int_bits, name=f"rest{l}") for l in range(lanes)] if sparse else []
        beat_group_end = Signal()
        beat_last = Signal()
        beat_scale = Signal(c.scale_bits)

        in_dtype = w.dtype if c.dtype_bits else Const(0, 1)
        for l in range(lanes):
            # Encoded input: the column's encoder did this a register earlier.
            sel = w.w_int[l] if self.encoded_input else encode_lane(m, c, w, in_dtype, l)
            with m.If(accept):
                m.d.sync += w_int[l].eq(sel)
                if sparse:
                    m.d.sync += rest[l].eq(Mux(sel < 0, -sel, sel))
        cycles_of = [Const(c.timing(f).cycles, remaining.shape()) for f in c.weight_formats]
        if c.dtype_bits:
            with m.If(accept):
                m.d.sync += dtype.eq(in_dtype)
        with m.If(accept):
            m.d.sync += [
                a_reg.eq(self.i_a),
                remaining.eq(_by_dtype(cycles_of, in_dtype)),
                step.eq(0),
                beat_group_end.eq(self.i_ctl.group_end),
                beat_last.eq(self.i_ctl.last),
                beat_scale.eq(w.scale),
            ]
        with m.Elif((remaining != 0) & ~stall):
            m.d.sync += [remaining.eq(remaining - 1), step.eq(step + 1)]

        # --- one term per lane per cycle ---------------------------------------------------
        active = remaining != 0
        lane_terms = []
        for l in range(lanes):
            negs, mans, shifts = [], [], []
            for fmt in c.weight_formats:
                neg, man, shift = self._term(m, fmt, w_int[l], rest[l] if sparse else None, step, l)
                negs.append(neg)
                mans.append(man)
                shifts.append(shift)
            neg = Signal(name=f"neg{l}")
            man = Signal(name=f"man{l}")
            shift = Signal(range(c.max_shift + 1), name=f"shift{l}")
            m.d.comb += [
                neg.eq(_by_dtype(negs, dtype)),
                man.eq(_by_dtype(mans, dtype)),
                shift.eq(_by_dtype(shifts, dtype)),
            ]
            # Not gated by `active`: the group accumulator only takes a sum while active.
            lane_terms.append((neg, man, shift))
            # Sparse terms consume the highest remaining bit of |w| each cycle.
            if sparse:
                top = Signal(c.w_int_bits, name=f"top{l}")
                for i in range(c.w_int_bits):
                    with m.If(rest[l][i]):
                        m.d.comb += top.eq(1 << i)
                with m.If(active & ~accept & ~stall):
                    m.d.sync += rest[l].eq(rest[l] & ~top)
        # --- group accumulator ---------------------------------------------------------------
        if c.is_fp:
            group_acc = Signal(32)
            group_next = self._fp_group_sum(m, a_reg, lane_terms, group_acc)
        else:
            prod_w = c.act_bits + c.max_shift + 1
            products = []
            for l, (neg, man, shift) in enumerate(lane_terms):
                mag = Signal(signed(prod_w), name=f"mag{l}")
                prod = Signal(signed(prod_w), name=f"prod{l}")
                m.d.comb += [
                    mag.eq(Mux(man, a_reg[l] << shift, 0)),
                    prod.eq(Mux(neg, -mag, mag)),
                ]
                products.append(prod)
            term_sum = Signal(signed(prod_w + lanes.bit_length()))
            m.d.comb += term_sum.eq(adder_tree(products))
            group_acc = Signal(signed(c.group_acc_bits))
            group_next = Signal(signed(c.group_acc_bits))
            m.d.comb += group_next.eq(group_acc + term_sum)
        handoff = Signal()
        m.d.comb += [
            stall.eq((remaining == 1) & beat_group_end & (dq_left > 1)),
            handoff.eq((remaining == 1) & beat_group_end & ~stall),
        ]
        with m.If(handoff):
            m.d.sync += group_acc.eq(0)
        with m.Elif(active & ~stall):
            m.d.sync += group_acc.eq(group_next)

        psum_shape = unsigned(32) if c.is_fp else signed(c.acc_bits)
        grp_first = Signal()
        grp_psum = Signal(psum_shape)
        with m.If(handoff):
            m.d.sync += grp_first.eq(0)
        with m.If(accept & self.i_ctl.first):
            m.d.sync += [grp_first.eq(1), grp_psum.eq(self.i_psum)]

        # --- bit-serial dequantization: out += sum_j scale[j] * (group_sum << j) -------------
        dq_sum = Signal.like(group_acc, name="dq_sum")
        dq_scale = Signal(c.scale_bits)
        dq_first = Signal()
        dq_last = Signal()
        dq_psum = Signal(psum_shape)
        dq_bit = Signal(range(max(c.scale_bits, 2)))
        out_acc = Signal(psum_shape)
        out_next = Signal(psum_shape)
        base = Mux((dq_bit == 0) & dq_first, dq_psum, out_acc)
        take = dq_scale.bit_select(dq_bit, 1)
        # A signed scale's top bit weighs -2^(scale_bits - 1).
        minus = (dq_bit == c.scale_bits - 1) if c.scale_signed else Const(0, 1)
        if c.is_fp:
            # out += bit_j ? group_sum * 2^j : +0, in FP32: the product is an exact exponent
            # increment (round_pack renormalises and overflows to infinity), then one RNE add.
            gs, ge, gsig, g_inf, g_nan, _ = unpack(m, dq_sum, FP32, "gs")
            gexp = Signal(signed(12), name="gs_exp")
            m.d.comb += gexp.eq(ge - FP32.bias - FP32.man_bits + dq_bit)
            times = round_pack(m, sign=gs, sig=gsig, exp=gexp, fmt=FP32, name="gs_rp")
            addend = Signal(32, name="dq_addend")
            m.d.comb += addend.eq(Mux(take, Mux(g_inf | g_nan, dq_sum, times) ^ (minus << 31), 0))
            out_add = m.submodules.out_add = FPAdd(FP32)
            m.d.comb += [out_add.a.eq(base), out_add.b.eq(addend), out_next.eq(out_add.s)]
        else:
            shifted = dq_sum << dq_bit
            addend = Mux(take, Mux(minus, -shifted, shifted), 0)
            m.d.comb += out_next.eq(base + addend)
        m.d.sync += self.o_valid.eq(0)
        with m.If(dq_left != 0):
            m.d.sync += [out_acc.eq(out_next), dq_left.eq(dq_left - 1), dq_bit.eq(dq_bit + 1)]
            with m.If((dq_left == 1) & dq_last):
                m.d.sync += [self.o_psum.eq(out_next), self.o_valid.eq(1)]
        with m.If(handoff):
            m.d.sync += [
                dq_sum.eq(group_next),
                dq_scale.eq(beat_scale),
                dq_first.eq(grp_first),
                dq_psum.eq(grp_psum),
                dq_last.eq(beat_last),
                dq_left.eq(c.scale_bits),
                dq_bit.eq(0),
            ]
        return m

    def _fp_group_sum(self, m, a_reg, lane_terms, group_acc):
        """One term cycle of FP16/BF16 activations: exponent match, truncating alignment,
        exact lane sum, one rounding to FP32, FP32 accumulate (see
        :func:`sim.golden.pe.bitserial_fp_term_sum` for the exact definition)."""
        c = self.config
        exp_bits, man_bits = c.act_fields
        guard = c.align_guard_bits
        sig_bits = man_bits + 1 + guard
        e_bits = exp_bits + c.max_shift.bit_length() + 1
        exps, sigs, signs, lives = [], [], [], []
        for l, (neg, man, shift) in enumerate(lane_terms):
            a = a_reg[l]
            efield = a[man_bits:man_bits + exp_bits]
            ma = Signal(man_bits + 1, name=f"ma{l}")
            e = Signal(e_bits, name=f"e{l}")
            live = Signal(name=f"live{l}")
            m.d.comb += [
                ma.eq(Cat(a[:man_bits], efield != 0)),
                live.eq(man & (ma != 0)),
                e.eq(Mux(live, Mux(efield == 0, 1, efield) + shift, 0)),
            ]
            exps.append(e)
            sigs.append(ma)
            signs.append(a[exp_bits + man_bits] ^ neg)
            lives.append(live)
        # Exponent match: the largest product exponent among live lanes.
        top = exps[0]
        for i, e in enumerate(exps[1:]):
            nxt = Signal(e_bits, name=f"emax{i}")
            m.d.comb += nxt.eq(Mux(e > top, e, top))
            top = nxt
        aligned = []
        for l in range(len(lane_terms)):
            dist = Signal(e_bits, name=f"dist{l}")
            mag = Signal(sig_bits, name=f"aligned{l}")
            val = Signal(signed(sig_bits + 1), name=f"lane{l}")
            m.d.comb += [
                # Beyond the significand's width every bit is dropped: clamp the shifter.
                dist.eq(Mux(top - exps[l] > sig_bits, sig_bits, top - exps[l])),
                # Bits shifted out are dropped: truncation of the magnitude toward zero.
                mag.eq(Mux(lives[l], (sigs[l] << guard) >> dist, 0)),
                val.eq(Mux(signs[l], -mag, mag)),
            ]
            aligned.append(val)
        total = Signal(signed(sig_bits + 1 + len(lane_terms).bit_length()), name="lane_sum")
        m.d.comb += total.eq(adder_tree(aligned))
        mag = Signal(len(total), name="lane_sum_mag")
        exp = Signal(signed(e_bits + 2), name="lane_sum_exp")
        bias = (1 << (exp_bits - 1)) - 1
        m.d.comb += [
            mag.eq(Mux(total < 0, -total, total)),
            exp.eq(top - (bias + man_bits + guard)),
        ]
        conv = round_pack(m, sign=total < 0, sig=mag, exp=exp, fmt=FP32, name="lane_rp")
        add = m.submodules.group_add = FPAdd(FP32)
        group_next = Signal(32, name="group_next")
        m.d.comb += [add.a.eq(group_acc), add.b.eq(conv), group_next.eq(add.s)]
        return group_next

    def _term(self, m, fmt: str, w_int, rest, step, lane: int):
        """``(negative, mantissa bit, shift)`` of term ``step`` of ``w_int`` read as ``fmt``."""
        c = self.config
        extra = c.extra_shift(fmt)
        width = T.w_int_width(fmt)
        neg = Signal(name=f"neg_{fmt}_{lane}")
        man = Signal(name=f"man_{fmt}_{lane}")
        shift = Signal(range(c.max_shift + 1), name=f"shift_{fmt}_{lane}")
        if c.term_mode == "bitplane":
            # Signals, not expressions: each is built once, so one gate serves every use.
            bit = Signal(name=f"bit_{fmt}_{lane}")
            m.d.comb += bit.eq(w_int.as_unsigned().bit_select(step, 1))
            m.d.comb += [
                man.eq(bit),
                neg.eq(bit & (step == width - 1)),
                shift.eq(step + extra),
            ]
        elif T.is_sparse(fmt):
            pos = Signal(range(max(c.w_int_bits, 2)), name=f"pos_{fmt}_{lane}")
            for i in range(1, c.w_int_bits):      # bit 0 would assign the default 0 again
                with m.If(rest[i]):
                    m.d.comb += pos.eq(i)
            m.d.comb += [man.eq(rest != 0), neg.eq(w_int < 0), shift.eq(pos + extra)]
        else:
            # Radix-4 Booth digit `step`: bits (2s+1, 2s, 2s-1) of w_int, b[-1] = 0, selected
            # once into a signal that every use shares.
            ext = Cat(Const(0, 1), w_int, w_int[-1].replicate(2))
            digit = Signal(3, name=f"booth_{fmt}_{lane}")
            m.d.comb += digit.eq(ext.bit_select(2 * step, 3))
            lo, mid, hi = digit[0], digit[1], digit[2]
            m.d.comb += [
                man.eq(~((hi == mid) & (mid == lo))),
                neg.eq(hi & ~(mid & lo)),
                shift.eq(2 * step + ((hi != mid) & (mid == lo)) + extra),
            ]
        return neg, man, shift
