"""Combinational IEEE-754-style floating-point building blocks.

All blocks implement round-to-nearest-even with gradual underflow (subnormal inputs and outputs),
overflow to infinity, and a single canonical quiet NaN (sign 0, exponent all ones, top mantissa bit
set: 0x7E00 for FP16, 0x7FC00000 for FP32) whenever the IEEE result is NaN. NaN payloads are not
propagated: hardware that forwards payloads costs muxes for no numerical benefit, and the golden
model (:mod:`sim.golden.fp`) canonicalises in the same way.

The common step is :func:`round_pack`: any exact value ``(-1)^sign * sig * 2^exp`` (``sig`` an
unsigned integer, ``exp`` a signed integer) is rounded once into a target format. Adders and
multipliers produce such exact (or sticky-bit-exact) intermediates and share it.
"""

from dataclasses import dataclass

from amaranth import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from mpgemm.sim.golden.formats import FloatFormat, get_format

__all__ = [
    "FPParams", "FP16", "FP32", "BF16", "unpack", "round_pack", "FPAdd", "FPMul", "IntScaleFP",
    "product_is_exact",
]


@dataclass(frozen=True)
class FPParams:
    """Field widths of an IEEE-like binary format (with infinities, NaN and subnormals)."""

    exp_bits: int
    man_bits: int

    @property
    def bits(self) -> int:
        return 1 + self.exp_bits + self.man_bits

    @property
    def bias(self) -> int:
        return (1 << (self.exp_bits - 1)) - 1

    @property
    def exp_max(self) -> int:
        return (1 << self.exp_bits) - 1

    @property
    def canonical_nan(self) -> int:
        return (self.exp_max << self.man_bits) | (1 << (self.man_bits - 1))


    @classmethod
    def of(cls, name: str) -> "FPParams":
        """Field widths of a format defined in :mod:`sim.golden.formats` (the single source)."""
        fmt = get_format(name)
        if not isinstance(fmt, FloatFormat) or fmt.nan_style != "ieee":
            raise ValueError(f"hw.fp implements IEEE-like formats with inf and NaN; {name!r} "
                             f"is not one")
        params = cls(fmt.exp_bits, fmt.man_bits)
        assert params.bias == fmt.bias and params.canonical_nan == fmt.nan_code
        return params


FP16 = FPParams.of("fp16")
BF16 = FPParams.of("bf16")
FP32 = FPParams.of("fp32")


def _bits_for(n: int) -> int:
    return max(1, int(n).bit_length())


def unpack(m: Module, x, fmt: FPParams, name: str):
    """Split ``x`` into sign, effective exponent field, significand with the hidden bit, and flags.

    Subnormals get exponent field 1 and hidden bit 0, so ``value = sig * 2^(e - bias - man_bits)``
    holds for every finite input.
    """
    sign = x[fmt.bits - 1]
    efield = x[fmt.man_bits:fmt.man_bits + fmt.exp_bits]
    frac = x[:fmt.man_bits]
    is_sub = efield == 0
    e = Signal(fmt.exp_bits, name=f"{name}_e")
    sig = Signal(fmt.man_bits + 1, name=f"{name}_sig")
    m.d.comb += [
        e.eq(Mux(is_sub, 1, efield)),
        sig.eq(Cat(frac, ~is_sub)),
    ]
    # Signals, not expressions: each flag is built once and shared by all its uses.
    is_inf = Signal(name=f"{name}_inf")
    is_nan = Signal(name=f"{name}_nan")
    is_zero = Signal(name=f"{name}_zero")
    is_special = efield == fmt.exp_max
    m.d.comb += [
        is_inf.eq(is_special & (frac == 0)),
        is_nan.eq(is_special & (frac != 0)),
        is_zero.eq(is_sub & (frac == 0)),
    ]
    return sign, e, sig, is_inf, is_nan, is_zero


def round_pack(m: Module, *, sign, sig, exp, fmt: FPParams, name: str = "rp",
               exact: bool = False, lowest_lead: int = 1, normal_only: bool = False,
               finite: bool = False):
    """Round ``(-1)^sign * sig * 2^exp`` to ``fmt`` (RNE, subnormals, overflow to infinity).

    ``sig`` is an unsigned value, ``exp`` a signed value (the weight of ``sig``'s LSB). A zero
    ``sig`` gives a zero with the given sign. Returns a ``fmt.bits`` wide Signal with the encoding.

    ``exact=True`` is the caller's guarantee that every value it can pass is zero or a normal
    number of ``fmt`` with no bits to round (an FP16 x FP16 product in FP32): only the
    normalisation and the packing are built, no rounding, underflow or overflow logic that
    could never act. ``lowest_lead``: the caller's guarantee that a non-zero ``sig`` never
    leads below that bit (FPAdd: 2), so the leading-one search starts there.
    ``normal_only``: the caller's guarantee that a non-zero result is never below ``fmt``'s
    smallest normal number, so no gradual-underflow shifter is built (rounding and overflow
    are). ``finite``: the caller's guarantee that the rounded result never overflows, so no
    overflow-to-infinity test is built.
    """
    w = len(sig)
    keep = fmt.man_bits + 1
    # Work on at least keep + 2 bits so that guard and sticky positions always exist.
    wn = max(w, keep + 2)
    pw = _bits_for(wn)
    # The sign as a signal: one copy for the zero, infinity and finite results alike.
    sign_s = Signal(name=f"{name}_sign")
    m.d.comb += sign_s.eq(sign)
    sign = sign_s
    msb = Signal(range(wn), name=f"{name}_msb")
    # The highest set bit wins (the last assignment); bit 0 would assign the default 0 again.
    for i in range(max(1, lowest_lead), w):
        with m.If(sig[i]):
            m.d.comb += msb.eq(i)
    # Normalise so the leading one sits at bit wn - 1.
    norm = Signal(wn, name=f"{name}_norm")
    sig_wide = Cat(Const(0, wn - w), sig) if wn > w else sig
    lshift = Signal(range(w), name=f"{name}_ls")
    m.d.comb += [
        lshift.eq(w - 1 - msb),
        norm.eq((sig_wide << lshift)[:wn]),
    ]
    # Biased exponent of the leading one.
    ew = max(len(exp), pw) + fmt.exp_bits + 3
    ebiased = Signal(signed(ew), name=f"{name}_eb")
    m.d.comb += ebiased.eq(exp + msb + fmt.bias)
    if exact:
        out_exact = Signal(fmt.bits, name=f"{name}_out")
        with m.If(sig == 0):
            m.d.comb += out_exact.eq(Cat(Const(0, fmt.bits - 1), sign))
        with m.Else():
            # The bits below the leading one are the fraction; any further ones are zeros.
            m.d.comb += out_exact.eq(Cat(norm[wn - 1 - fmt.man_bits:wn - 1],
                                         ebiased[:fmt.exp_bits], sign))
        return out_exact
    if normal_only:
        shifted, e_eff, sticky_lost = norm, ebiased, Const(0, 1)
    else:
        # Below the normal range the significand is shifted right further (gradual
        # underflow).
        rshift = Signal(range(wn + 1), name=f"{name}_rs")
        with m.If(ebiased < 1):
            with m.If(ebiased < 1 - wn):
                m.d.comb += rshift.eq(wn)
            with m.Else():
                m.d.comb += rshift.eq(1 - ebiased)
        shifted = Signal(wn, name=f"{name}_sh")
        m.d.comb += shifted.eq(norm >> rshift)
        sticky_lost = Signal(name=f"{name}_lost")
        m.d.comb += sticky_lost.eq((shifted << rshift)[:wn] != norm)
        e_eff = ebiased + rshift
    kept = shifted[wn - keep:]
    guard = shifted[wn - keep - 1]
    sticky = (shifted[:wn - keep - 1] != 0) | sticky_lost
    round_up = guard & (sticky | kept[0])
    # (E_eff - 1) * 2^man + kept: a carry out of the rounding increments the exponent, and a
    # subnormal that rounds up to 2^man becomes the smallest normal, with no special case.
    packed = Signal(unsigned(ew + fmt.man_bits + 1), name=f"{name}_packed")
    m.d.comb += packed.eq(((e_eff - 1) << fmt.man_bits) + kept + round_up)
    out = Signal(fmt.bits, name=f"{name}_out")
    with m.If(sig == 0):
        m.d.comb += out.eq(Cat(Const(0, fmt.bits - 1), sign))
    if not finite:
        with m.Elif(packed >= (fmt.exp_max << fmt.man_bits)):
            m.d.comb += out.eq(Cat(Const(0, fmt.man_bits), Const(fmt.exp_max, fmt.exp_bits),
                                   sign))
    with m.Else():
        m.d.comb += out.eq(Cat(packed[:fmt.bits - 1], sign))
    return out


class FPAdd(wiring.Component):
    """Combinational floating-point adder ``s = a + b`` with one RNE rounding.

    Parameters
    ----------
    fmt : FPParams
        Format of both operands and of the sum.

    normal_sums : bool
        The caller's guarantee that every finite operand is a multiple of a power of two at or
        above ``fmt``'s smallest normal number (FP32 sums of products of FP16 numbers: multiples
        of 2^-48), so a non-zero sum is never subnormal and no gradual-underflow logic is built.

    Ports
    -----
    a, b: In(fmt.bits)
    s: Out(fmt.bits)
        Correctly rounded sum; ``x + (-x) = +0``, ``-0 + -0 = -0``, ``inf - inf = NaN``.
    """

    def __init__(self, fmt: FPParams = FP32, *, normal_sums: bool = False):
        self.fmt = fmt
        self.normal_sums = normal_sums
        super().__init__({"a": In(fmt.bits), "b": In(fmt.bits), "s": Out(fmt.bits)})

    def describe(self) -> dict:
        """What this unit is, for the manifest (the cost model prices units by it)."""
        return {"unit": "FPAdd", "exp_bits": self.fmt.exp_bits, "man_bits": self.fmt.man_bits}

    def elaborate(self, platform):
        m = Module()
        f = self.fmt
        mag = f.bits - 1
        # Order the operands by magnitude so only the smaller one is ever shifted. Signals, so
        # that one multiplexer serves every use of each.
        swap = Signal(name="swap")
        x = Signal(f.bits, name="x")
        y = Signal(f.bits, name="y")
        m.d.comb += [
            swap.eq(self.b[:mag] > self.a[:mag]),
            x.eq(Mux(swap, self.b, self.a)),
            y.eq(Mux(swap, self.a, self.b)),
        ]
        xs, xe, xsig, x_inf, x_nan, _ = unpack(m, x, f, "x")
        ys, ye, ysig, y_inf, y_nan, _ = unpack(m, y, f, "y")
        # Three extra bits (guard, round, sticky) make the aligned sum round exactly as the
        # infinitely precise one would.
        ext = f.man_bits + 1 + 3
        d = Signal(f.exp_bits, name="d")
        m.d.comb += d.eq(xe - ye)
        dcl = Signal(range(ext + 1), name="dcl")
        m.d.comb += dcl.eq(Mux(d > ext, ext, d))
        xa = Signal(ext, name="xa")
        ya_full = Signal(ext, name="ya_full")
        ya = Signal(ext, name="ya")
        m.d.comb += [
            xa.eq(xsig << 3),
            ya_full.eq(ysig << 3),
            ya.eq((ya_full >> dcl) | ((ya_full >> dcl << dcl)[:ext] != ya_full)),
        ]
        total = Signal(ext + 1, name="total")
        sub = Signal(name="sub")
        m.d.comb += sub.eq(xs ^ ys)
        m.d.comb += total.eq(Mux(sub, xa - ya, xa + ya))
        exp_lsb = Signal(signed(f.exp_bits + 3), name="exp_lsb")
        m.d.comb += exp_lsb.eq(xe - f.bias - f.man_bits - 3)
        # An exact zero sum is +0 under RNE unless both operands are -0.
        zsign = Mux(total == 0, xs & ys, xs)
        # A non-zero sum is never 1, 2 or 3: with equal exponents it is 8 * (xsig +- ysig); with
        # different ones x is normal (xa >= 2^(man + 3)) and ya < xa / 2 + 1, except for a
        # difference of one, where ya = 4 ysig <= xa - 4 (the bit shifted out is a guard 0).
        rounded = round_pack(m, sign=zsign, sig=total, exp=exp_lsb, fmt=f, name="rp",
                             lowest_lead=2, normal_only=self.normal_sums)
        # |y| <= |x|, so an infinite y (NaN aside) comes with an infinite x: y_inf & sub is
        # inf - inf.
        with m.If(x_nan | y_nan | (y_inf & sub)):
            m.d.comb += self.s.eq(f.canonical_nan)
        with m.Elif(x_inf):
            m.d.comb += self.s.eq(x)
        with m.Else():
            m.d.comb += self.s.eq(rounded)
        return m


def product_is_exact(fa: FPParams, fb: FPParams, fo: FPParams) -> bool:
    """Whether every finite product of an ``fa`` and an ``fb`` number is zero or a normal
    ``fo`` number with nothing to round: its significand fits, and it lies between ``fo``'s
    smallest normal and its largest finite value (products of subnormals included). True for
    FP16 x FP16 in FP32."""
    fits = fa.man_bits + fb.man_bits + 2 <= fo.man_bits + 1
    # Smallest product: 2^(1 - bias - man) each; largest: below 2^(bias + 1) each.
    no_underflow = fa.bias + fa.man_bits + fb.bias + fb.man_bits <= fo.bias + 1
    no_overflow = fa.bias + fb.bias + 1 <= fo.bias
    return fits and no_underflow and no_overflow


class FPMul(wiring.Component):
    """Combinational floating-point multiplier ``p = a * b`` rounded once into ``out_fmt``.

    With FP16 inputs and an FP32 output the product is always exact (22-bit significand product,
    exponents from 2^-48 to 2^32), which is how tensor cores feed an FP32 accumulator. ``b_fmt``
    gives ``b`` a format of its own (an FP32 value times an FP16 scale, rounded to FP32).

    ``normal_a=True`` is the caller's guarantee that ``a`` is never subnormal (MixPE's
    zero-corrected group sums in FP32: multiples of FP16's smallest step, far above FP32's
    subnormals): a non-zero product then leads at bit ``in_fmt.man_bits`` or above, and the
    leading-one search starts there.

    Ports
    -----
    a: In(in_fmt.bits)
    b: In(b_fmt.bits)
    p: Out(out_fmt.bits)
    """

    def __init__(self, in_fmt: FPParams = FP16, out_fmt: FPParams = FP32,
                 b_fmt: FPParams | None = None, *, normal_a: bool = False):
        self.in_fmt = in_fmt
        self.b_fmt = in_fmt if b_fmt is None else b_fmt
        self.out_fmt = out_fmt
        self.normal_a = normal_a
        super().__init__({"a": In(in_fmt.bits), "b": In(self.b_fmt.bits),
                          "p": Out(out_fmt.bits)})

    @property
    def exact(self) -> bool:
        """Every finite product is exact in ``out_fmt`` (:func:`product_is_exact`), so no
        rounding logic is built."""
        return product_is_exact(self.in_fmt, self.b_fmt, self.out_fmt)

    def describe(self) -> dict:
        desc = {"unit": "FPMul", "in": [self.in_fmt.exp_bits, self.in_fmt.man_bits],
                "out": [self.out_fmt.exp_bits, self.out_fmt.man_bits]}
        if self.b_fmt != self.in_fmt:
            desc["in_b"] = [self.b_fmt.exp_bits, self.b_fmt.man_bits]
        return desc

    def elaborate(self, platform):
        m = Module()
        fa, fb, fo = self.in_fmt, self.b_fmt, self.out_fmt
        as_, ae, asig, a_inf, a_nan, a_zero = unpack(m, self.a, fa, "a")
        bs, be, bsig, b_inf, b_nan, b_zero = unpack(m, self.b, fb, "b")
        sign = as_ ^ bs
        prod = Signal(fa.man_bits + fb.man_bits + 2, name="prod")
        m.d.comb += prod.eq(asig * bsig)
        exp = Signal(signed(max(fa.exp_bits, fb.exp_bits) + 4), name="exp")
        m.d.comb += exp.eq(ae + be - (fa.bias + fa.man_bits + fb.bias + fb.man_bits))
        rounded = round_pack(m, sign=sign, sig=prod, exp=exp, fmt=fo, name="rp",
                             exact=self.exact,
                             lowest_lead=fa.man_bits if self.normal_a else 1)
        with m.If(a_nan | b_nan | (a_inf & b_zero) | (b_inf & a_zero)):
            m.d.comb += self.p.eq(fo.canonical_nan)
        with m.Elif(a_inf | b_inf):
            m.d.comb += self.p.eq(Cat(Const(0, fo.man_bits), Const(fo.exp_max, fo.exp_bits), sign))
        with m.Else():
            m.d.comb += self.p.eq(rounded)
        return m


class IntScaleFP(wiring.Component):
    """``y = round(d * s)``: a signed integer times a floating-point scale, rounded once (RNE).

    This is the dequantization step of GPU-style W4A16 kernels, ``(q - z) * scale`` in FP16.

    Ports
    -----
    d: In(signed(int_bits))
    s: In(fmt.bits)
    y: Out(fmt.bits)

    ``normal_scale=True`` is the caller's guarantee that ``s`` is never subnormal (MixPE's
    activation sums in FP32: multiples of FP16's smallest step, far above FP32's subnormals):
    a non-zero product then leads at bit ``man_bits`` or above, and the leading-one search
    starts there.
    """

    def __init__(self, int_bits: int, fmt: FPParams = FP16, *, normal_scale: bool = False):
        self.int_bits = int_bits
        self.fmt = fmt
        self.normal_scale = normal_scale
        super().__init__({"d": In(signed(int_bits)), "s": In(fmt.bits), "y": Out(fmt.bits)})

    def describe(self) -> dict:
        return {"unit": "IntScaleFP", "int_bits": self.int_bits,
                "exp_bits": self.fmt.exp_bits, "man_bits": self.fmt.man_bits}

    def elaborate(self, platform):
        m = Module()
        f = self.fmt
        ss, se, ssig, s_inf, s_nan, _ = unpack(m, self.s, f, "s")
        # One signal each, not an expression repeated at every use: the magnitude, the
        # rounding path and the infinity path then agree on d's sign (and a zero's).
        dneg = Signal(name="dneg")
        sign = Signal(name="sign")
        m.d.comb += [dneg.eq(self.d < 0), sign.eq(ss ^ dneg)]
        dmag = Signal(self.int_bits, name="dmag")
        m.d.comb += dmag.eq(Mux(dneg, -self.d, self.d))
        prod = Signal(self.int_bits + f.man_bits + 1, name="prod")
        m.d.comb += prod.eq(dmag * ssig)
        exp = Signal(signed(f.exp_bits + 2), name="exp")
        m.d.comb += exp.eq(se - f.bias - f.man_bits)
        rounded = round_pack(m, sign=sign, sig=prod, exp=exp, fmt=f, name="rp",
                             lowest_lead=f.man_bits if self.normal_scale else 1)
        with m.If(s_nan | (s_inf & (self.d == 0))):
            m.d.comb += self.y.eq(f.canonical_nan)
        with m.Elif(s_inf):
            m.d.comb += self.y.eq(Cat(Const(0, f.man_bits), Const(f.exp_max, f.exp_bits), sign))
        with m.Else():
            m.d.comb += self.y.eq(rounded)
        return m
