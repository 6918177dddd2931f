"""Bit-serial weight terms: BitMoD's unified representation of every weight data type.

A bit-serial PE multiplies an activation by a weight one *term* per cycle. Every weight data type
is turned into the same term shape, ``(-1)^sign * man * 2^(exp + bsig)`` with a 1-bit mantissa
``man``, a small exponent ``exp`` and a bit significance ``bsig``, so one datapath (a shift, a
conditional negate and an adder tree) serves all of them:

* integers (signed, and unsigned minus a zero point) by radix-4 Booth recoding: digit ``j`` of
  ``{-2, -1, 0, 1, 2}`` is a term with ``exp = (|d| == 2)``, ``man = (d != 0)``, ``bsig = 2j``;
  ``ceil(width / 2)`` terms for a ``width``-bit two's complement value (INT8: 4, INT6: 3);
* ternary as one Booth digit;
* FP4 E2M1 and BitMoD's FP4/FP3 variants by their non-zero bits: every value of these formats,
  scaled to an integer, has at most two set bits (e.g. 6 = 4 + 2), so two terms with
  ``exp`` = bit position and ``bsig = 0``;
* the Stripes-style ``bitplane`` mode for comparison: one two's complement bit per cycle, the most
  significant one negative, ``width`` terms.

Weights are handled as integers ``w_int``: the exact weight value is ``w_int * 2^-frac_bits``
(FP4 values are multiples of 0.5, so ``frac_bits = 1``; every other format here has 0).
"""

from dataclasses import dataclass

from .formats import (
    IntFormat,
    SpecialValueFormat,
    TernaryFormat,
    get_weight_format,
    signed_bits_for_range,
)

__all__ = [
    "TERM_MODES", "BITSERIAL_WEIGHT_FORMATS", "SPARSE_FORMATS", "is_sparse", "Term",
    "frac_bits", "w_int_range", "w_int_width",
    "weight_int", "booth_digits", "n_terms", "weight_terms",
]

TERM_MODES = ("booth", "bitplane")

#: Weight data types the bit-serial PE supports.
BITSERIAL_WEIGHT_FORMATS = (
    *(f"int{b}" for b in range(2, 9)),
    *(f"uint{b}" for b in range(2, 9)),
    "ternary", "fp4_e2m1", "bitmod_fp4", "bitmod_fp3",
)


@dataclass(frozen=True)
class Term:
    """One bit-serial term, ``(-1)^sign * man * 2^(exp + bsig)``."""

    sign: int
    exp: int
    man: int
    bsig: int

    @property
    def shift(self) -> int:
        return self.exp + self.bsig

    @property
    def value(self) -> int:
        return (-1) ** self.sign * self.man * (1 << self.shift)


def _check(fmt_name: str) -> None:
    if fmt_name not in BITSERIAL_WEIGHT_FORMATS:
        raise ValueError(f"weight format must be one of {', '.join(BITSERIAL_WEIGHT_FORMATS)}, "
                         f"not {fmt_name!r}")


def frac_bits(fmt_name: str) -> int:
    """Fraction bits of the integer form: value = w_int * 2^-frac_bits."""
    _check(fmt_name)
    return 1 if fmt_name in ("fp4_e2m1", "bitmod_fp4") else 0


def w_int_range(fmt_name: str) -> tuple[int, int]:
    """Smallest and largest ``w_int`` (after zero-point subtraction for unsigned formats)."""
    _check(fmt_name)
    fmt = get_weight_format(fmt_name)
    if isinstance(fmt, IntFormat):
        if fmt.signed:
            return fmt.min_int, fmt.max_int
        return -fmt.max_int, fmt.max_int  # q - z with q, z in [0, 2^b - 1]
    if isinstance(fmt, TernaryFormat):
        return -1, 1
    scale = 1 << frac_bits(fmt_name)
    return int(fmt.min_value * scale), int(fmt.max_value * scale)


def w_int_width(fmt_name: str) -> int:
    """Two's complement width holding every ``w_int`` of the format."""
    return signed_bits_for_range(*w_int_range(fmt_name))


def weight_int(fmt_name: str, code: int, *, zero: int = 0, special: int = 0) -> int:
    """The integer a weight code stands for: ``value * 2^frac_bits``.

    ``zero`` is the group's zero point (unsigned formats only); ``special`` the group's 2-bit
    special-value selector (BitMoD formats only).
    """
    _check(fmt_name)
    fmt = get_weight_format(fmt_name)
    if special and not isinstance(fmt, SpecialValueFormat):
        raise ValueError(f"special={special} given for {fmt_name} weights; only "
                         f"bitmod_fp4 and bitmod_fp3 have a special value")
    if zero and not (isinstance(fmt, IntFormat) and not fmt.signed):
        raise ValueError(f"zero={zero} given for {fmt_name} weights; only unsigned integer "
                         f"formats have a zero point")
    if isinstance(fmt, IntFormat) and not fmt.signed:
        if not 0 <= zero <= fmt.max_int:
            raise ValueError(f"zero point must be in [0, {fmt.max_int}] for {fmt_name}, "
                             f"not {zero}")
        return int(code) - int(zero)
    if isinstance(fmt, SpecialValueFormat):
        value = float(fmt.decode([code], special)[0])
    else:
        value = float(fmt.decode([code])[0])
    return int(value * (1 << frac_bits(fmt_name)))


def booth_digits(value: int, width: int) -> list[int]:
    """Radix-4 Booth digits (least significant first) of a ``width``-bit two's complement value.

    ``value == sum(d * 4**j)``; digit ``j`` is ``-2 b[2j+1] + b[2j] + b[2j-1]`` with ``b[-1] = 0``
    and the value sign-extended to an even width.
    """
    if not -(1 << (width - 1)) <= value < (1 << (width - 1)):
        raise ValueError(f"value {value} does not fit {width} bits")
    bits = [(value >> i) & 1 for i in range(width + 1)]  # Python's >> sign-extends
    digits = []
    for j in range((width + 1) // 2):
        lo = bits[2 * j - 1] if j else 0
        digits.append(-2 * bits[2 * j + 1] + bits[2 * j] + lo)
    return digits


#: Formats decomposed into their non-zero bits (at most two) rather than Booth digits.
SPARSE_FORMATS = ("fp4_e2m1", "bitmod_fp4", "bitmod_fp3")


def is_sparse(fmt_name: str) -> bool:
    return fmt_name in SPARSE_FORMATS


def n_terms(fmt_name: str, mode: str = "booth") -> int:
    """Terms (cycles) per weight: the latency fact of a bit-serial PE for this data type."""
    _check(fmt_name)
    if mode not in TERM_MODES:
        raise ValueError(f"term mode must be one of {', '.join(TERM_MODES)}, not {mode!r}")
    width = w_int_width(fmt_name)
    if mode == "bitplane":
        return width
    if is_sparse(fmt_name):
        return 2
    return (width + 1) // 2


def weight_terms(fmt_name: str, w_int: int, mode: str = "booth") -> list[Term]:
    """The ``n_terms(fmt_name, mode)`` terms of ``w_int`` (zero terms pad short decompositions)."""
    count = n_terms(fmt_name, mode)
    width = w_int_width(fmt_name)
    lo, hi = w_int_range(fmt_name)
    if not lo <= w_int <= hi:
        raise ValueError(f"w_int={w_int} is outside {fmt_name}'s range [{lo}, {hi}]")
    if mode == "bitplane":
        bits = [(w_int >> j) & 1 for j in range(width)]
        return [Term(sign=int(j == width - 1 and b), exp=0, man=b, bsig=j)
                for j, b in enumerate(bits)]
    if is_sparse(fmt_name):
        terms = []
        rest = abs(w_int)
        for _ in range(count):
            if rest:
                p = rest.bit_length() - 1
                terms.append(Term(sign=int(w_int < 0), exp=p, man=1, bsig=0))
                rest -= 1 << p
            else:
                terms.append(Term(sign=0, exp=0, man=0, bsig=0))
        if rest:
            raise AssertionError(f"{fmt_name} value {w_int} needs more than {count} terms")
        return terms
    return [Term(sign=int(d < 0), exp=int(abs(d) == 2), man=int(d != 0), bsig=2 * j)
            for j, d in enumerate(booth_digits(w_int, width))]
