"""Bit-exact golden model of the MixPE shift-and-add PE (MixPE, arXiv 2411.16158).

MixPE makes two choices for mixed-precision GEMM with group-quantized weights:

* **Shift-and-add instead of a multiplier.** A ``B``-bit weight code ``q`` multiplies an
  activation as ``a * q = sum_j q_j * (a << j)``; a two's complement weight's top bit weighs
  ``-2^(B-1)``, so its term is subtracted.
* **Dequantization after the group.** Scale ``s`` and zero point ``z`` are shared by the
  ``G`` weights of a group, so the PE accumulates the group's integer products
  ``P = sum_k a_k q_k`` and activations ``A = sum_k a_k`` and applies them once:
  ``y += s * (P - z * A)``, instead of dequantizing every weight (``(q - z) * s``) before a
  multiplier.

Integer activations (INT8/INT16): everything is exact. ``P``, ``A`` and ``D = P - z * A`` are
integers of the widths the config states (they never wrap); ``y += s * D`` with an integer
scale code (unsigned, or two's complement) wraps at ``acc_bits`` like the register does.

FP16 activations (W4A16), stated exactly (:func:`fp_beat_sums`, :func:`fp_dequant`):

1. *Shift = exponent increment.* ``a * 2^j`` is ``a`` with its exponent raised by ``j``. The
   terms of one lane all carry the activation's significand ``m`` and differ only in exponent,
   so the lane adds them on a common grid, significands ``j`` places apart: the lane's product
   ``m * |q|`` at the activation's exponent ``e`` is exact (``11 + B`` bits). (So the hardware
   has no exponent adder per term: the increment is the term's position in the lane's
   shift-and-add of the significand.)
2. *Exponent match.* ``E`` is the largest exponent among the beat's non-zero activations. Each
   lane's product and its significand (for ``A``), extended by ``g = align_guard_bits`` zero
   bits, are shifted right by ``E - e``; the bits shifted out are dropped (the magnitude is
   truncated toward zero). The signed aligned values are summed exactly and each sum,
   ``S * 2^(E - 25 - g)``, is rounded once to FP32 (round to nearest, ties to even).
3. *Group accumulation.* ``P`` and ``A`` are FP32 accumulators: one RNE addition per beat.
4. *Dequantization* (once per group, FP16 scale, unsigned ``B``-bit zero point):
   ``zA = RNE32(z * A)`` (an exact product rounded once), ``D = RNE32(P - zA)``,
   ``sD = RNE32(s * D)`` (the FP16 x FP32 product is exact before its one rounding), and
   ``y = RNE32(y + sD)``. Two's complement weights have no zero point: ``D = P``.

Plain Python integers and numpy's IEEE float32/float64 (whose exact products and single
roundings are the hardware's); configs are read through the :class:`MixPELike` protocol, which
``MixPEConfig`` implements.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Protocol

import numpy as np

from .contract import (
    Beat,
    GoldenModel,
    PEConfig,
    QuantizedWeights,
    check_group_rules,
    check_operands,
    contract_beats,
    wrap_signed,
)
from .formats import get_float_format
from .fp import f16_value, f32_bits, f32_value, finite_fp_fields, fp32_add

__all__ = [
    "MixPELike", "MixPEWeight", "weight_value", "lane_product", "shift_add_terms", "int_beat_sums",
    "fp_beat_sums", "fp_dequant", "int_dequant", "run_mixpe", "mixpe_gemm",
    "exact_gemm", "MixPEModel", "MIXPE",
]

_FP16 = get_float_format("fp16")


class MixPELike(PEConfig, Protocol):
    """What the MixPE model reads of its config (``MixPEConfig``)."""

    @property
    def lanes(self) -> int:
        """Weights per beat."""
        ...

    @property
    def group_size(self) -> int:
        """Weights per quantization group along K."""
        ...

    @property
    def weight_bits(self) -> int:
        """Weight code width ``B``."""
        ...

    @property
    def weight_signed(self) -> bool:
        """Two's complement codes (else unsigned codes with a zero point)."""
        ...

    @property
    def is_fp(self) -> bool:
        """FP16 activations (else integer ones)."""
        ...

    @property
    def acc_bits(self) -> int:
        """Output accumulator width for integer activations."""
        ...

    @property
    def align_guard_bits(self) -> int:
        """FP16 activations: bits kept below an aligned lane's LSB."""
        ...

    @property
    def scale_name(self) -> str:
        """The scale format in use."""
        ...

    @property
    def scale_bits(self) -> int:
        """Width of an integer scale code."""
        ...

    @property
    def scale_signed(self) -> bool:
        """Two's complement integer scale codes."""
        ...

    @property
    def scale_port_bits(self) -> int:
        """Width of the scale field on ``i_w``."""
        ...


@dataclass(frozen=True)
class MixPEWeight:
    """One beat's weight operand of the MixPE PE (the ``i_w`` struct).

    ``q`` holds the ``lanes`` weight codes (as stored: unsigned ``B``-bit fields; a two's
    complement weight is its ``B``-bit pattern). ``zero`` (unsigned weights) and ``scale`` (an
    integer scale code, or FP16 bits) belong to the group and are read from its ``group_end``
    beat: the group's products never need them before.
    """

    q: tuple[int, ...]
    zero: int = 0
    scale: int = 0


def weight_value(config: MixPELike, code: int) -> int:
    """The integer a ``B``-bit weight code stands for (two's complement when signed)."""
    return wrap_signed(code, config.weight_bits) if config.weight_signed else code


def shift_add_terms(config: MixPELike, code: int) -> list[tuple[int, int]]:
    """``(sign, shift)`` of every term of ``a * q``: one per set bit ``j`` of the code, the top
    bit of a two's complement code with sign -1. Their sum ``sum sign * 2^shift`` is ``q``."""
    b = config.weight_bits
    return [(-1 if config.weight_signed and j == b - 1 else 1, j)
            for j in range(b) if (code >> j) & 1]


def lane_product(config: MixPELike, a: int, code: int) -> int:
    """``a * q`` as the shift-and-add datapath forms it (exact)."""
    return sum(sign * (a << j) for sign, j in shift_add_terms(config, code))


def int_beat_sums(config: MixPELike, a: Sequence[int], w: MixPEWeight) -> tuple[int, int]:
    """``(sum_l a_l q_l, sum_l a_l)`` of one beat with integer activations."""
    p = sum(lane_product(config, int(x), int(c)) for x, c in zip(a, w.q, strict=True))
    return p, sum(int(x) for x in a)


def _to_fp32(total: int, exp: int) -> int:
    """FP32 bits of ``total * 2^exp`` rounded once (RNE); ``+0`` for zero."""
    if total == 0:
        return 0
    # |total| < 2^53 and 2^exp is a normal float64, so the float64 value is exact and the cast
    # to float32 is the one rounding.
    return int(f32_bits(np.float32(float(total) * 2.0 ** exp)))


def fp_beat_sums(config: MixPELike, a: Sequence[int], w: MixPEWeight) -> tuple[int, int]:
    """FP32 bits of one beat's ``(sum_l a_l q_l, sum_l a_l)`` for FP16 activations (steps 1-2
    of the module docstring)."""
    g = config.align_guard_bits
    lanes = []
    for x, code in zip(a, w.q, strict=True):
        s, e, m = finite_fp_fields(int(x), _FP16.exp_bits, _FP16.man_bits)
        if m:
            q = weight_value(config, int(code))
            lanes.append((s, e, m, q))
    if not lanes:
        return 0, 0
    top = max(e for _, e, _, _ in lanes)
    p = sum((-1) ** (s ^ (q < 0)) * (((m * abs(q)) << g) >> (top - e)) for s, e, m, q in lanes)
    act = sum((-1) ** s * ((m << g) >> (top - e)) for s, e, m, _ in lanes)
    exp = top - _FP16.bias - _FP16.man_bits - g
    return _to_fp32(p, exp), _to_fp32(act, exp)


def _neg(x: int) -> int:
    return x ^ 0x80000000


def fp_dequant(config: MixPELike, base: int, p: int, act: int, zero: int, scale: int) -> int:
    """FP32 bits of ``base + s * (P - z * A)``, rounded as in step 4 of the module docstring."""
    with np.errstate(all="ignore"):
        if config.weight_signed:
            d = p
        else:
            za = int(f32_bits(np.float32(np.float64(zero) * np.float64(f32_value(np.uint32(act))))))
            d = int(fp32_add(np.uint32(p), np.uint32(_neg(za))))
        sd = int(f32_bits(np.float32(np.float64(f32_value(np.uint32(d)))
                                     * np.float64(f16_value(np.uint16(scale))))))
    return int(fp32_add(np.uint32(base), np.uint32(sd)))


def int_dequant(config: MixPELike, base: int, p: int, act: int, zero: int, scale: int) -> int:
    """``wrap(base + s * (P - z * A), acc_bits)`` with the integer scale code read as the
    config's scale format."""
    d = p if config.weight_signed else p - zero * act
    s = wrap_signed(scale, config.scale_bits) if config.scale_signed else scale
    return wrap_signed(int(base) + s * d, config.acc_bits)


def _check_weight(config: MixPELike, w: Any, t: int) -> None:
    if not isinstance(w, MixPEWeight):
        raise TypeError(f"beat at cycle {t}: the weight operand must be a MixPEWeight, not {w!r}")
    if len(w.q) != config.lanes:
        raise ValueError(f"beat at cycle {t}: {len(w.q)} weight codes for lanes={config.lanes}")
    top = (1 << config.weight_bits) - 1
    for c in w.q:
        if not (isinstance(c, int) and 0 <= c <= top):
            raise ValueError(f"beat at cycle {t}: weight code {c!r} does not fit "
                             f"weight_bits={config.weight_bits} (codes 0..{top})")
    if config.weight_signed and w.zero:
        raise ValueError(f"beat at cycle {t}: zero={w.zero} given for two's complement "
                         f"weights, which have no zero point")
    if not (isinstance(w.zero, int) and 0 <= w.zero <= top):
        raise ValueError(f"beat at cycle {t}: zero point {w.zero!r} does not fit "
                         f"weight_bits={config.weight_bits} (0..{top})")
    if not (isinstance(w.scale, int) and 0 <= w.scale < (1 << config.scale_port_bits)):
        raise ValueError(f"beat at cycle {t}: scale code {w.scale!r} does not fit the "
                         f"{config.scale_name} scale ({config.scale_port_bits} bits)")


def run_mixpe(config: MixPELike, beats: Sequence[Beat], *, w_reset: Any,
              not_ready: list[int] | None = None) -> list[tuple[int, int]]:
    """The MixPE PE's contract behaviour (see :mod:`pe_designs.mixpe`).

    One beat per cycle, ``lanes`` products each. A beat adds its sums to the group's ``P`` and
    ``A``; a ``group_end`` beat hands them, with the beat's zero point and scale, to the
    dequantizer, which never stalls the next group (it takes one group per cycle). The output
    starts from the ``i_psum`` of the group's ``first`` beat, which must be the group's first
    beat; the output closed by a ``last`` beat (which must also be ``group_end``) appears
    ``config.timing().latency`` cycles after it. A group has at most ``group_size / lanes``
    beats (its accumulators are sized for that); shorter groups are fine. ``o_ready`` is always
    high, so ``not_ready`` is left as it is.
    """
    p = act = 0
    grp_first, grp_psum, grp_beats = False, 0, 0
    out = 0
    results: list[tuple[int, int]] = []
    for t, b, w in contract_beats(beats, w_reset):
        _check_weight(config, w, t)
        check_operands(config, t, b, w)
        check_group_rules(config, t, b, grp_beats)
        grp_beats += 1
        if config.is_fp:
            bp, ba = fp_beat_sums(config, b.a, w)
            p = int(fp32_add(np.uint32(p), np.uint32(bp)))
            act = int(fp32_add(np.uint32(act), np.uint32(ba)))
        else:
            bp, ba = int_beat_sums(config, b.a, w)
            p, act = p + bp, act + ba
        if b.first:
            grp_first, grp_psum = True, b.psum
        if b.group_end:
            base = grp_psum if grp_first else out
            dq = fp_dequant if config.is_fp else int_dequant
            out = dq(config, base, p, act, int(w.zero), int(w.scale))
            if b.last:
                results.append((t + config.timing().latency, out))
            p = act = 0
            grp_first, grp_beats = False, 0
    return results


def _groups(config: MixPELike, codes: np.ndarray) -> int:
    k = codes.shape[0]
    if k % config.group_size:
        raise ValueError(f"K={k} is not a multiple of group_size={config.group_size}")
    return k // config.group_size


def mixpe_gemm(config: MixPELike, a: np.ndarray, codes: np.ndarray, zeros: np.ndarray,
               scales: np.ndarray) -> np.ndarray:
    """``Y[M, N]`` as one MixPE PE computes each output: ``a[M, K]`` (integers or FP16 bits),
    ``codes[K, N]``, per-group ``zeros[K/G, N]`` and ``scales[K/G, N]`` (integer codes or FP16
    bits). Results: wrapped integers, or FP32 bits."""
    a, codes = np.asarray(a), np.asarray(codes)
    zeros, scales = np.asarray(zeros), np.asarray(scales)
    n_groups = _groups(config, codes)
    lanes, g = config.lanes, config.group_size
    m_, n_ = a.shape[0], codes.shape[1]
    y = np.zeros((m_, n_), dtype=object)
    for i in range(m_):
        for n in range(n_):
            out = 0
            for gi in range(n_groups):
                p = act = 0
                for k0 in range(gi * g, (gi + 1) * g, lanes):
                    w = MixPEWeight(q=tuple(int(c) for c in codes[k0:k0 + lanes, n]))
                    lane_a = tuple(int(x) for x in a[i, k0:k0 + lanes])
                    if config.is_fp:
                        bp, ba = fp_beat_sums(config, lane_a, w)
                        p = int(fp32_add(np.uint32(p), np.uint32(bp)))
                        act = int(fp32_add(np.uint32(act), np.uint32(ba)))
                    else:
                        bp, ba = int_beat_sums(config, lane_a, w)
                        p, act = p + bp, act + ba
                dq = fp_dequant if config.is_fp else int_dequant
                out = dq(config, out, p, act, int(zeros[gi, n]), int(scales[gi, n]))
            y[i, n] = out
    return y


def exact_gemm(config: MixPELike, a: np.ndarray, codes: np.ndarray, zeros: np.ndarray,
               scales: np.ndarray) -> np.ndarray:
    """The exact ``sum_g s_g * sum_k a_k (q_k - z_g)`` as Fractions (FP16 values exact), the
    reference the FP16 datapath's error is measured against."""
    a, codes = np.asarray(a), np.asarray(codes)
    n_groups = _groups(config, codes)
    g = config.group_size
    if config.is_fp:
        av = [[Fraction(float(f16_value(np.uint16(x)))) for x in row] for row in a]
        sv = [[Fraction(float(f16_value(np.uint16(s)))) for s in row] for row in scales]
    else:
        av = [[Fraction(int(x)) for x in row] for row in a]
        sv = [[Fraction(wrap_signed(int(s), config.scale_bits) if config.scale_signed
                        else int(s)) for s in row] for row in scales]
    y = np.zeros((a.shape[0], codes.shape[1]), dtype=object)
    for i in range(a.shape[0]):
        for n in range(codes.shape[1]):
            total = Fraction(0)
            for gi in range(n_groups):
                z = 0 if config.weight_signed else int(zeros[gi][n])
                d = sum(av[i][k] * (weight_value(config, int(codes[k, n])) - z)
                        for k in range(gi * g, (gi + 1) * g))
                total += sv[gi][n] * d
            y[i, n] = total
    return y


class MixPEModel(GoldenModel[MixPELike]):
    """The MixPE family's golden model (weight operands are :class:`MixPEWeight`)."""

    def weight_code_range(self, config: MixPELike, format_name: str) -> tuple[int, int]:
        # Codes are the weight's bits (two's complement for signed weights).
        return 0, (1 << config.weight_bits) - 1

    def w_reset(self, config: MixPELike) -> MixPEWeight:
        return MixPEWeight(q=(0,) * config.lanes)

    def beat_weight(self, config: MixPELike, w: QuantizedWeights, cols: Sequence[int],
                    k: slice) -> MixPEWeight:
        """The codes of rows ``k`` of the column with its group's zero point and scale."""
        (n,) = cols
        return MixPEWeight(q=tuple(int(c) for c in w.codes[k, n]),
                           zero=w.group_value("zeros", k.start, n),
                           scale=w.group_value("scales", k.start, n))

    def run(self, config: MixPELike, beats: Sequence[Beat], *, w_reset: Any,
            not_ready: list[int] | None = None) -> list[tuple[int, int]]:
        return run_mixpe(config, beats, w_reset=w_reset, not_ready=not_ready)

    def gemm(self, config: MixPELike, a: np.ndarray, w: QuantizedWeights) -> np.ndarray:
        g = config.group_size
        scales, zeros = w.group_field("scales", g), w.group_field("zeros", g)
        if scales is None:
            raise ValueError("the mixpe GEMM needs scales")
        if zeros is None:
            zeros = np.zeros_like(scales)
        return mixpe_gemm(config, a, w.codes, zeros, scales)


MIXPE = MixPEModel()
