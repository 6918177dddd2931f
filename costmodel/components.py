"""Component models: area and energy per operation of datapath parts, by bit width.

Each model is anchored on the technology's :class:`~costmodel.tech.LogicTable` and scales with
bit width by a stated law, so it reproduces the table exactly at the anchor widths and is
monotone in every width in between and beyond:

=========================  ==================================================================
integer adder              linear in bits through the 8- and 32-bit anchors (ripple/carry-
                           lookahead adders grow about linearly)
integer multiplier         power law in ``a_bits * b_bits`` (the partial-product array)
                           through the 8x8 and 32x32 anchors; exponent fitted per technology
register                   per bit (flip-flop), energy per clocked cycle
2:1 mux                    per bit
barrel shifter             ``bits * ceil(log2(shift_range))`` 2:1 mux-bits (log shifter)
FP adder / multiplier      power law in significand width (``man_bits + 1``) through the FP16
                           and FP32 anchors; the exponent path is small next to the significand
                           path and is not modelled separately
FP16 x FP16 -> FP32 exact  11x11 integer multiplier + exponent adder + normalisation shifter
SRAM / DRAM                energy per bit by capacity / a flat interface figure
=========================  ==================================================================

Signedness is ignored: a two's complement (Baugh-Wooley) multiplier or adder costs about the
same as an unsigned one of the same width.
"""

import math

from .cost import ComponentCost
from .tech import AccessEnergy, Technology

__all__ = [
    "ComponentCost",
    "int_adder", "int_multiplier", "register", "mux2", "barrel_shifter",
    "fp_adder", "fp_multiplier", "fp16_exact_multiplier", "fp_scale_multiplier",
    "sram_access", "dram_access",
    "FP16_FIELDS", "FP32_FIELDS",
]

#: (exponent bits, mantissa bits) of IEEE binary16 and binary32.
FP16_FIELDS = (5, 10)
FP32_FIELDS = (8, 23)


def _check_bits(name: str, value: object, lo: int = 1, hi: int = 1024) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an integer, not {value!r}")
    if not lo <= value <= hi:
        raise ValueError(f"{name} must be in [{lo}, {hi}], not {value}")
    return value


def _linear(x: float, x0: float, y0: float, x1: float, y1: float) -> float:
    return y0 + (y1 - y0) * (x - x0) / (x1 - x0)


def _power_law(x: float, x0: float, y0: float, x1: float, y1: float) -> float:
    """``y0 * (x / x0) ** p`` with ``p`` chosen so the curve also passes through ``(x1, y1)``."""
    p = math.log(y1 / y0) / math.log(x1 / x0)
    return y0 * (x / x0) ** p


def int_adder(bits: int, tech: Technology) -> ComponentCost:
    """A ``bits``-wide integer adder (or subtractor).

    Linear through Horowitz's 8- and 32-bit points; at 45 nm this leaves a small positive
    intercept (2.3 um^2, 0.007 pJ), so narrow adders keep a positive cost.
    """
    _check_bits("bits", bits)
    a8, a32 = tech.logic.int_add_8, tech.logic.int_add_32
    return ComponentCost(
        _linear(bits, 8, a8.area_um2, 32, a32.area_um2),
        _linear(bits, 8, a8.energy_pj, 32, a32.energy_pj),
    )


def int_multiplier(a_bits: int, b_bits: int, tech: Technology) -> ComponentCost:
    """An ``a_bits`` x ``b_bits`` integer multiplier.

    A power law in the partial-product count ``a_bits * b_bits`` through the 8x8 (64) and
    32x32 (1024) anchors: exponent 0.91 for area and 0.99 for energy at 45 nm, so the cost is
    close to proportional to ``a * b`` and tends to zero (not to a fixed overhead) for tiny
    multipliers such as 1-bit AND gates.
    """
    _check_bits("a_bits", a_bits)
    _check_bits("b_bits", b_bits)
    m8, m32 = tech.logic.int_mul_8, tech.logic.int_mul_32
    pp = a_bits * b_bits
    return ComponentCost(
        _power_law(pp, 64, m8.area_um2, 1024, m32.area_um2),
        _power_law(pp, 64, m8.energy_pj, 1024, m32.energy_pj),
    )


def register(bits: int, tech: Technology) -> ComponentCost:
    """``bits`` flip-flops; energy per clocked cycle (clock and data activity together)."""
    _check_bits("bits", bits, 0, 1 << 20)
    return tech.logic.register_bit * bits


def mux2(bits: int, tech: Technology) -> ComponentCost:
    """A ``bits``-wide 2:1 multiplexer."""
    _check_bits("bits", bits, 0, 1 << 20)
    return tech.logic.mux2_bit * bits


def barrel_shifter(bits: int, shift_range: int, tech: Technology) -> ComponentCost:
    """A logarithmic shifter of a ``bits``-wide word by 0 .. ``shift_range - 1`` positions.

    ``ceil(log2(shift_range))`` stages of ``bits`` 2:1 muxes each.
    """
    _check_bits("bits", bits)
    _check_bits("shift_range", shift_range, 1, 1 << 16)
    stages = (shift_range - 1).bit_length()
    return tech.logic.mux2_bit * (bits * stages)


def _fp_fields(exp_bits: int, man_bits: int) -> int:
    _check_bits("exp_bits", exp_bits, 1, 16)
    _check_bits("man_bits", man_bits, 0, 112)
    return man_bits + 1


def fp_adder(exp_bits: int, man_bits: int, tech: Technology) -> ComponentCost:
    """A floating-point adder for a format with the given field widths, rounding once.

    Power law in significand width through FP16 (11 bits) and FP32 (24 bits): exponent 1.44
    for area and 1.04 for energy at 45 nm (alignment shifter, adder, normaliser all grow with
    the significand).
    """
    sig = _fp_fields(exp_bits, man_bits)
    a16, a32 = tech.logic.fp16_add, tech.logic.fp32_add
    return ComponentCost(
        _power_law(sig, 11, a16.area_um2, 24, a32.area_um2),
        _power_law(sig, 11, a16.energy_pj, 24, a32.energy_pj),
    )


def fp_multiplier(exp_bits: int, man_bits: int, tech: Technology) -> ComponentCost:
    """A floating-point multiplier for a format with the given field widths, rounding once.

    Power law in significand width through FP16 and FP32: exponent 1.98 for area (the
    significand multiplier array, ~ sig^2) and 1.56 for energy at 45 nm.
    """
    sig = _fp_fields(exp_bits, man_bits)
    m16, m32 = tech.logic.fp16_mul, tech.logic.fp32_mul
    return ComponentCost(
        _power_law(sig, 11, m16.area_um2, 24, m32.area_um2),
        _power_law(sig, 11, m16.energy_pj, 24, m32.energy_pj),
    )


def fp16_exact_multiplier(tech: Technology) -> ComponentCost:
    """FP16 x FP16 -> FP32 multiplier whose product is always exact (no rounding logic).

    Assumption, following the generator's ``FPMul(FP16, FP32)``: an 11x11 significand
    multiplier, a 6-bit exponent adder (two 5-bit exponents) and a normalisation shifter over
    the 22-bit product (a subnormal FP16 input can put the leading one anywhere). The FP32
    product of two FP16 values fits FP32's significand and range, so no rounding incrementer.
    """
    exp_bits, man_bits = FP16_FIELDS
    sig = man_bits + 1
    return (
        int_multiplier(sig, sig, tech)
        + int_adder(exp_bits + 1, tech)
        + barrel_shifter(2 * sig, 2 * sig, tech)
    )


def fp_scale_multiplier(a_fields: tuple[int, int], b_fields: tuple[int, int],
                        tech: Technology) -> ComponentCost:
    """A floating-point multiplier of two formats rounding once into ``a``'s format (MixPE's
    FP32 group value times its FP16 scale, ``hw.fp.FPMul(FP32, FP32, b_fmt=FP16)``).

    The exact significand product (``sig_a x sig_b`` bits), the exponent adder, a normalisation
    shifter over the product and the round-to-nearest-even incrementer on ``sig_a`` bits.
    """
    sa, sb = _fp_fields(*a_fields), _fp_fields(*b_fields)
    return (
        int_multiplier(sa, sb, tech)
        + int_adder(max(a_fields[0], b_fields[0]) + 2, tech)
        + barrel_shifter(sa + sb, sa + sb, tech)
        + int_adder(sa, tech)
    )


def sram_access(capacity_bytes: int, tech: Technology) -> AccessEnergy:
    """Read and write energy per bit of an SRAM bank of ``capacity_bytes``.

    Between characterised banks: ``log(energy)`` linear in ``log(capacity)``. Outside them:
    energy grows as ``sqrt(capacity)`` from the nearest bank (bit-line and word-line length
    grow with the side of the array; Horowitz's 8 KB -> 32 KB -> 1 MB reads follow this law
    to within 15%).
    """
    _check_bits("capacity_bytes", capacity_bytes, 1, 1 << 40)
    pts = tech.sram
    if capacity_bytes <= pts[0].capacity_bytes or capacity_bytes >= pts[-1].capacity_bytes:
        p = pts[0] if capacity_bytes <= pts[0].capacity_bytes else pts[-1]
        f = math.sqrt(capacity_bytes / p.capacity_bytes)
        return AccessEnergy(p.read_pj_per_bit * f, p.write_pj_per_bit * f)
    for lo, hi in zip(pts, pts[1:], strict=False):
        if lo.capacity_bytes <= capacity_bytes <= hi.capacity_bytes:
            t = math.log(capacity_bytes / lo.capacity_bytes) / math.log(
                hi.capacity_bytes / lo.capacity_bytes)
            return AccessEnergy(
                lo.read_pj_per_bit ** (1 - t) * hi.read_pj_per_bit ** t,
                lo.write_pj_per_bit ** (1 - t) * hi.write_pj_per_bit ** t,
            )
    raise AssertionError("unreachable: capacity is inside the characterised range")


def dram_access(tech: Technology) -> AccessEnergy:
    """Off-chip DRAM read and write energy per bit."""
    return tech.dram
