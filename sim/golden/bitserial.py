"""Golden model of the bit-serial PE family (:mod:`mpgemm.pe_designs.bitserial`).

Every weight becomes bit-serial terms (:mod:`.terms`), one per cycle. Integer activations: the
group sum is exact; FP16/BF16 activations: each term cycle's lanes are aligned to their largest
exponent, truncated, summed exactly and rounded once to FP32, then accumulated in FP32. A closed
group is dequantized one scale bit per cycle (:func:`bitserial_fp_dequant` in FP32).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .contract import (
    Beat,
    GoldenModel,
    check_group_rules,
    check_operands,
    contract_beats,
    wrap_signed,
)
from .fp import f32_bits, f32_value, finite_fp_fields, fp32_add
from .terms import weight_int, weight_terms

__all__ = [
    "BitSerialWeight", "bitserial_beat_sum", "bitserial_fp_term_sum", "bitserial_fp_dequant",
    "run_bitserial", "BitSerialModel", "BITSERIAL",
]


@dataclass(frozen=True)
class BitSerialWeight:
    """One beat's weight operand of the bit-serial PE (the ``i_w`` struct).

    ``codes`` per lane; ``dtype`` indexes the config's ``weight_formats``; ``zero`` (unsigned
    formats) and ``special`` (BitMoD FP4/FP3) belong to the group; ``scale`` is the group's
    unsigned scale, used from the beat that closes the group.
    """

    codes: tuple[int, ...]
    scale: int = 0
    dtype: int = 0
    zero: int = 0
    special: int = 0


def bitserial_beat_sum(config: Any, a: Sequence[int], w: BitSerialWeight) -> int:
    """Exact ``sum_l a[l] * w_int[l] * 2^extra``: what the beat's terms add to the group sum."""
    fmt = config.weight_formats[w.dtype]
    zero = w.zero if fmt.startswith("uint") else 0
    special = w.special if fmt.startswith("bitmod") else 0
    shift = config.extra_shift(fmt)
    return sum(int(x) * (weight_int(fmt, int(c), zero=zero, special=special) << shift)
               for x, c in zip(a, w.codes, strict=True))


def bitserial_fp_term_sum(config: Any, a: Sequence[int], w: Any, step: int) -> int:
    """FP32 bits of one term cycle's lane sum for FP16/BF16 activations.

    Exponent match: each active lane's product exponent is ``e_a + shift`` (activation exponent
    field plus the term's shift); ``E`` is their maximum. Alignment: every lane's significand,
    extended by ``config.align_guard_bits`` zero bits, is shifted right by ``E - e`` and the
    bits shifted out are dropped (truncation of the magnitude, toward zero). The signed aligned
    values are added exactly, and the sum ``S * 2^(E - bias - man_bits - guard)`` is rounded
    once to FP32 (RNE). The sum has at most ``man_bits + 1 + guard + ceil(log2(lanes)) + 1``
    bits, so for FP16 activations with ``guard + ceil(log2(lanes)) <= 12`` the conversion is
    exact and the FP32 accumulate is the only rounding.
    """
    exp_bits, man_bits = config.act_fields
    bias = (1 << (exp_bits - 1)) - 1
    guard = config.align_guard_bits
    fmt = config.weight_formats[w.dtype]
    zero = w.zero if fmt.startswith("uint") else 0
    special = w.special if fmt.startswith("bitmod") else 0
    lanes = []
    for x, code in zip(a, w.codes, strict=True):
        sa, ea, ma = finite_fp_fields(int(x), exp_bits, man_bits)
        term = weight_terms(fmt, weight_int(fmt, int(code), zero=zero, special=special),
                            config.term_mode)[step]
        if term.man and ma:
            lanes.append((sa ^ term.sign, ea + term.shift + config.extra_shift(fmt), ma))
    if not lanes:
        return 0
    top = max(e for _, e, _ in lanes)
    total = sum((-1) ** s * ((m << guard) >> (top - e)) for s, e, m in lanes)
    value = float(total) * 2.0 ** (top - bias - man_bits - guard)  # exact in float64
    with np.errstate(over="ignore"):  # BF16 sums can exceed FP32's range: infinity, as IEEE
        return int(f32_bits(np.float32(value)))


def bitserial_fp_dequant(config: Any, base: int, group: int, scale: int) -> int:
    """Bit-serial dequantization in FP32: ``out += bit_j ? group * 2^j : +0`` for each scale bit.

    ``group * 2^j`` is exact (an exponent increment; it overflows to infinity like IEEE), and
    each addition rounds to nearest even.
    """
    out = np.uint32(base)
    g = float(f32_value(np.uint32(group)))
    for j in range(config.scale_bits):
        # A signed scale's top bit weighs -2^j: the same magnitude with the sign flipped.
        sign = -1.0 if config.scale_signed and j == config.scale_bits - 1 else 1.0
        with np.errstate(all="ignore"):
            term = np.float32(sign * g * 2.0 ** j) if (scale >> j) & 1 else np.float32(0.0)
        out = fp32_add(out, f32_bits(term))
    return int(out)


def _check_bitserial_weight(config: Any, w: Any, t: int) -> None:
    """Reject weight operands the bit-serial PE cannot mean (a clear error at the boundary)."""
    n = len(config.weight_formats)
    if not isinstance(w.dtype, int) or not 0 <= w.dtype < n:
        raise ValueError(f"beat at cycle {t}: dtype={w.dtype!r} must index weight_formats "
                         f"(0..{n - 1})")
    fmt = config.weight_formats[w.dtype]
    if len(w.codes) != config.lanes:
        raise ValueError(f"beat at cycle {t}: {len(w.codes)} weight codes for "
                         f"lanes={config.lanes}")
    if not (isinstance(w.scale, int) and 0 <= w.scale < (1 << config.scale_bits)):
        raise ValueError(f"beat at cycle {t}: scale code {w.scale!r} does not fit "
                         f"scale_bits={config.scale_bits} (codes 0..{(1 << config.scale_bits) - 1}"
                         f"{', two' + chr(39) + 's complement' if config.scale_signed else ''})")
    if w.special and not fmt.startswith("bitmod"):
        raise ValueError(f"beat at cycle {t}: special={w.special} given for {fmt} weights; "
                         f"only bitmod_fp4 and bitmod_fp3 have a special value")
    if w.zero and not fmt.startswith("uint"):
        raise ValueError(f"beat at cycle {t}: zero={w.zero} given for {fmt} weights; only "
                         f"unsigned formats have a zero point")


def run_bitserial(config: Any, beats: Sequence[Beat], *, w_reset: Any,
                  not_ready: list[int] | None = None) -> list[tuple[int, int]]:
    """The bit-serial PE's contract behaviour (see :mod:`pe_designs.bitserial`).

    Integer activations: group sums are exact (a register of ``config.group_acc_bits``); each
    closed group adds ``scale * group_sum`` to the output accumulator (wrapping at
    ``acc_bits``). FP16/BF16 activations: every term cycle adds its aligned lane sum
    (:func:`bitserial_fp_term_sum`) to an FP32 group accumulator, and dequantization runs in
    FP32 (:func:`bitserial_fp_dequant`). The output starts from the ``i_psum`` of the group's
    ``first`` beat, which must be the group's first beat; a group keeps one data type, zero
    point and special value, and its scale is the one of its ``group_end`` beat.

    Timing: a beat accepted at cycle ``t`` works on its terms in cycles ``t+1 .. t+n``
    (``n = config.timing(dtype).cycles``). A group closes in its last term cycle ``h``; if the
    dequantizer is still busy with the previous group (it finishes in cycle ``h_prev +
    scale_bits``), the PE stalls in that last term cycle until it is free, so ``h =
    max(t + n, h_prev + scale_bits)``. The output closed by a ``last`` beat appears at
    ``h + scale_bits + 1`` (``t + config.timing(dtype).latency`` without a stall). The cycles in
    which ``o_ready`` is low are appended to ``not_ready`` when it is given. Beats offered
    while the PE is not ready are rejected, not silently modelled.
    """
    group = 0
    grp_first, grp_psum, grp_key, grp_beats = False, 0, None, 0
    out = 0
    results: list[tuple[int, int]] = []
    ready_at = 0           # first cycle a new beat may be accepted
    dq_free = 0            # first cycle a new group may be handed to the dequantizer
    for t, b, w in contract_beats(beats, w_reset):
        if t < ready_at:
            raise ValueError(f"beat at cycle {t} arrives while the PE is busy until {ready_at}")
        _check_bitserial_weight(config, w, t)
        check_operands(config, t, b, w)
        key = (w.dtype, w.zero, w.special)
        if grp_beats and key != grp_key:
            raise ValueError(f"beat at cycle {t} changes the data type, zero point or special "
                             f"value inside a group: {grp_key} -> {key}")
        check_group_rules(config, t, b, grp_beats)
        grp_key, grp_beats = key, grp_beats + 1
        cycles = config.timing(w.dtype).cycles
        if config.is_fp:
            for step in range(cycles):
                group = int(fp32_add(np.uint32(group), np.uint32(
                    bitserial_fp_term_sum(config, b.a, w, step))))
        else:
            group = wrap_signed(group + bitserial_beat_sum(config, b.a, w),
                                config.group_acc_bits)
        if b.first:
            grp_first, grp_psum = True, b.psum
        ready_at = t + cycles
        if b.group_end:
            ready_at = max(t + cycles, dq_free)   # stall in the last term cycle if busy
            dq_free = ready_at + config.scale_bits
            base = grp_psum if grp_first else out
            if config.is_fp:
                out = bitserial_fp_dequant(config, base, group, int(w.scale))
            else:
                scale = (wrap_signed(int(w.scale), config.scale_bits) if config.scale_signed
                         else int(w.scale))
                out = wrap_signed(base + scale * group, config.acc_bits)
            if b.last:
                results.append((ready_at + config.scale_bits + 1, out))
            group, grp_first, grp_beats = 0, False, 0
        if not_ready is not None:
            not_ready.extend(range(t + 1, ready_at))
    return results


class BitSerialModel(GoldenModel):
    """The bit-serial family's golden model (weight operands are :class:`BitSerialWeight`)."""

    def w_reset(self, config: Any) -> BitSerialWeight:
        return BitSerialWeight(codes=(0,) * config.lanes)

    def weight_format(self, config: Any, w: BitSerialWeight) -> str:
        return config.weight_formats[w.dtype]

    def weight_fields(self, config: Any, w: BitSerialWeight) -> dict[str, Any]:
        return {"code": w.codes, "scale": w.scale, "zero": w.zero, "dtype": w.dtype,
                "special": w.special}

    def run(self, config: Any, beats: Sequence[Beat], *, w_reset: Any,
            not_ready: list[int] | None = None) -> list[tuple[int, int]]:
        return run_bitserial(config, beats, w_reset=w_reset, not_ready=not_ready)

    def gemm(self, config: Any, a: np.ndarray, w: Any) -> np.ndarray:
        raise NotImplementedError("the bit-serial golden GEMM is not written yet")


BITSERIAL = BitSerialModel()
